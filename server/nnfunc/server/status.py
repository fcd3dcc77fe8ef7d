"""The one place mapping nnfunc errors to gRPC statuses.

An ``nnfunc.errors.Error`` keeps its code (NOT_FOUND, INVALID_ARGUMENT, ...) and message;
when it names a field, the status carries a ``google.rpc.BadRequest`` whose single field
violation names it (read it with ``grpc_status.rpc_status.from_call``). Anything else
is unexpected: INTERNAL with a generic message (the traceback goes to the log only).
A MemoryError is RESOURCE_EXHAUSTED. Nothing here ever yields UNKNOWN.

Messages and field names are cut to a bounded length: they may quote the request (an
unknown name, a bad choice), and a status travels in trailing metadata, which gRPC
clients cap (8 KiB by default); an oversized status would reach the client as a
transport error instead of the error it describes.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from nnfunc.errors import Error, InternalError, ResourceExhaustedError

INTERNAL_MESSAGE = "internal error: the server failed unexpectedly (details are in its log)"
MEMORY_MESSAGE = "the server ran out of memory for this request; send smaller tensors"

#: The longest message and field name a status carries, in characters.
MAX_MESSAGE_CHARS = 1024
MAX_FIELD_CHARS = 256

#: gRPC status name -> grpc.StatusCode
CODES: dict[str, grpc.StatusCode] = {c.name: c for c in grpc.StatusCode}


def as_error(exc: BaseException) -> Error:
    """Any exception as an nnfunc Error (unexpected ones become a generic InternalError)."""
    if isinstance(exc, Error):
        return exc
    if isinstance(exc, MemoryError):
        return ResourceExhaustedError(MEMORY_MESSAGE)
    return InternalError(INTERNAL_MESSAGE)


def status_code(error: Error) -> grpc.StatusCode:
    """The gRPC code of an error; an unknown code name is INTERNAL, never UNKNOWN."""
    code = CODES.get(error.code)
    if code is None or code in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.OK):
        return grpc.StatusCode.INTERNAL
    return code


def code_number(error: Error) -> int:
    """The google.rpc.Code number of an error (ItemStatus.code)."""
    return status_code(error).value[0]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 15] + " ...(truncated)"


def public_message(error: Error) -> str:
    """The message the client sees (INTERNAL ones are generic: details stay in the log),
    at most MAX_MESSAGE_CHARS long."""
    if status_code(error) is grpc.StatusCode.INTERNAL:
        return INTERNAL_MESSAGE
    return _cut(str(error.message), MAX_MESSAGE_CHARS)


def public_field(error: Error) -> str:
    """The field at fault ("" when none), at most MAX_FIELD_CHARS long."""
    return _cut(str(error.field or ""), MAX_FIELD_CHARS)


def to_status(error: Error) -> grpc.Status:
    """A grpc.Status for ``context.abort_with_status``, with a BadRequest naming the field."""
    code = status_code(error)
    message = public_message(error)
    rich = status_pb2.Status(code=code.value[0], message=message)
    field = public_field(error)
    if field:
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=field, description=message)
                ]
            )
        )
        rich.details.append(detail)
    return rpc_status.to_status(rich)
