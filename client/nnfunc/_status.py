"""A failed call as an nnfunc error: the one place the SDK reads a gRPC status.

The server attaches a ``google.rpc.Status`` to its errors (trailing metadata
``grpc-status-details-bin``, as grpcio-status writes it); a ``google.rpc.BadRequest``
in it names the offending request field. The status code picks the class through
``nnfunc.errors.from_code``, so every ``grpc.StatusCode`` maps (codes without a class
of their own give ``nnfunc.Error`` with that ``code``).
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status.rpc_status import GRPC_DETAILS_METADATA_KEY

from nnfunc.errors import Error, from_code

#: google.rpc.Code value -> status name ("NOT_FOUND"), for Batch item statuses
CODE_NAMES: dict[int, str] = {code.value[0]: code.name for code in grpc.StatusCode}

_DETAIL_TYPES = {
    f"google.rpc.{name}": getattr(error_details_pb2, name)
    for name in error_details_pb2.DESCRIPTOR.message_types_by_name
}


def _unpack(detail: any_pb2.Any) -> Any:
    """A google.rpc detail message (BadRequest, ErrorInfo, ...), or the Any when unknown."""
    cls = _DETAIL_TYPES.get(detail.TypeName())
    if cls is None:
        return detail
    message = cls()
    detail.Unpack(message)
    return message


def _field(details: tuple[Any, ...]) -> str | None:
    for detail in details:
        if isinstance(detail, error_details_pb2.BadRequest) and detail.field_violations:
            return detail.field_violations[0].field or None
    return None


def from_rpc_error(exc: grpc.RpcError) -> Error:
    """The nnfunc error for a failed call (sync or grpc.aio).

    ``message`` is the status message, ``field`` the first BadRequest field violation,
    ``details`` the decoded google.rpc detail messages (a tuple, empty when none).
    """
    code = exc.code() if callable(getattr(exc, "code", None)) else None
    name = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
    message = (exc.details() if callable(getattr(exc, "details", None)) else None) or name
    details: tuple[Any, ...] = ()
    trailing = (
        exc.trailing_metadata() if callable(getattr(exc, "trailing_metadata", None)) else None
    )
    for key, value in trailing or ():
        if key == GRPC_DETAILS_METADATA_KEY:
            try:
                status = status_pb2.Status.FromString(value)
            except Exception:  # a malformed status must not hide the error itself
                break
            details = tuple(_unpack(d) for d in status.details)
            break
    return from_code(name, message, field=_field(details), details=details)


def from_item_status(code: int, message: str, field: str) -> Error:
    """The nnfunc error for a failed Batch item (``ItemStatus``)."""
    name = CODE_NAMES.get(code, "UNKNOWN")
    return from_code(name, message or name, field=field or None, details=())
