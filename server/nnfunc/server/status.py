"""The one place mapping nnfunc errors to gRPC statuses.

An ``nnfunc.errors.Error`` keeps its code (NOT_FOUND, INVALID_ARGUMENT, ...) and message;
when it names a field, the status carries a ``google.rpc.BadRequest`` whose single field
violation names it (read it with ``grpc_status.rpc_status.from_call``). Anything else
is unexpected: INTERNAL with a generic message (the traceback goes to the log only).
A MemoryError is RESOURCE_EXHAUSTED. Nothing here ever yields UNKNOWN.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from nnfunc.errors import Error, InternalError, ResourceExhaustedError

INTERNAL_MESSAGE = "internal error: the server failed unexpectedly (details are in its log)"
MEMORY_MESSAGE = "the server ran out of memory for this request; send smaller tensors"

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


def public_message(error: Error) -> str:
    """The message the client sees (INTERNAL ones are generic: details stay in the log)."""
    return INTERNAL_MESSAGE if status_code(error) is grpc.StatusCode.INTERNAL else error.message


def to_status(error: Error) -> grpc.Status:
    """A grpc.Status for ``context.abort_with_status``, with a BadRequest naming the field."""
    code = status_code(error)
    message = public_message(error)
    rich = status_pb2.Status(code=code.value[0], message=message)
    if error.field:
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=error.field, description=message
                    )
                ]
            )
        )
        rich.details.append(detail)
    return rpc_status.to_status(rich)
