"""One exception family for the whole project.

The catalog raises these, the server maps ``code`` to a gRPC status in one place,
and the SDK raises the same classes from a failed call, so a script sees the same
error whether it computed locally or over the wire. No gRPC import here.
"""

from __future__ import annotations


class Error(Exception):
    """An nnfunc error. ``code`` is a gRPC status name, ``field`` the offending field."""

    code = "UNKNOWN"

    def __init__(self, message: str, *, field: str | None = None, details: object = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # keep keyword arguments through pickling (process pools)
        return (_rebuild, (type(self), self.message, self.field, self.details))


def _rebuild(cls: type[Error], message: str, field: str | None, details: object) -> Error:
    return cls(message, field=field, details=details)


class NotFoundError(Error, KeyError):
    """An unknown function name (the message suggests the closest ones)."""

    code = "NOT_FOUND"


class InvalidArgumentError(Error, ValueError):
    """A bad tensor, shape, dtype or parameter, or an input outside the function's domain."""

    code = "INVALID_ARGUMENT"


class ResourceExhaustedError(Error):
    """A request too large, or a server over its concurrency limit."""

    code = "RESOURCE_EXHAUSTED"


class UnavailableError(Error):
    """The server is shutting down or cannot be reached."""

    code = "UNAVAILABLE"


class DeadlineExceededError(Error, TimeoutError):
    """The call's deadline passed."""

    code = "DEADLINE_EXCEEDED"


class CancelledError(Error):
    """The call was cancelled."""

    code = "CANCELLED"


class UnauthenticatedError(Error):
    """The call lacked valid credentials."""

    code = "UNAUTHENTICATED"


class PermissionDeniedError(Error):
    """The credentials do not allow this call."""

    code = "PERMISSION_DENIED"


class InternalError(Error):
    """An unexpected failure inside the server (details are in its log)."""

    code = "INTERNAL"


BY_CODE: dict[str, type[Error]] = {
    cls.code: cls
    for cls in (
        NotFoundError,
        InvalidArgumentError,
        ResourceExhaustedError,
        UnavailableError,
        DeadlineExceededError,
        CancelledError,
        UnauthenticatedError,
        PermissionDeniedError,
        InternalError,
    )
}


def from_code(
    code: str, message: str, *, field: str | None = None, details: object = None
) -> Error:
    """The exception class for a gRPC status name (``Error`` itself for any other)."""
    cls = BY_CODE.get(code)
    if cls is None:
        err = Error(message, field=field, details=details)
        err.code = code
        return err
    return cls(message, field=field, details=details)
