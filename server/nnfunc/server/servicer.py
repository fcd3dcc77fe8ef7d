"""nnfunc.v1.FunctionService: every method decodes and validates, calls the catalog,
encodes. No math here, and no environment reads: limits come from Settings.

``Service`` holds the three-step methods (request -> response, raising nnfunc errors);
``FunctionServicer`` is the gRPC face: it times and logs each call and turns errors into
statuses through ``status.py``.

Large tensors skip protobuf's copies: requests are read by ``codec.read_message`` (a
large tensor's data is a view of the received bytes), and the Evaluate, Gradient and
Loss responses are written by ``codec.encode_message`` around the arrays (``Encoded``,
passed on to gRPC as they are). Small calls take the shortest path the profile showed:
protobuf's C parser, no deadline scope around a compute too short to check it.

Hardening (what a hostile request meets, in order):
- Bytes that are not a valid message of the method's request type: INVALID_ARGUMENT
  (``add_to_server`` registers lenient deserializers; gRPC's own would answer INTERNAL).
- Messages above ``max_message_bytes``: RESOURCE_EXHAUSTED from gRPC before any parsing.
- Names (function, parameters) longer than MAX_NAME_LENGTH: INVALID_ARGUMENT.
- Tensors: dtype, rank, dims and the element count are checked in Python integers
  before anything is allocated (``codec.from_tensor``); beyond ``max_elements``
  RESOURCE_EXHAUSTED. CheckGradient also caps its inputs at ``max_check_elements``.
- Time: each call has a deadline, the caller's or ``max_call_seconds`` from now,
  whichever comes first. It is checked after decoding and after computing, between
  Batch items, between the blocks of a large elementwise call and before every forward
  call of the gradient checker; once passed the call ends with DEADLINE_EXCEEDED.
- Concurrency: gRPC's ``maximum_concurrent_rpcs`` (app.py) counts the calls running
  and those queued for a thread; beyond it a call gets RESOURCE_EXHAUSTED at once.
- Every stage's time goes to ``metrics.record_stage`` ("decode", "compute", "encode").
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import numpy as np
from google.protobuf.message import DecodeError

from nnfunc import catalog
from nnfunc.catalog.registry import deadline_scope
from nnfunc.codec import encode_message, from_parameters, from_tensor, read_message
from nnfunc.errors import (
    CancelledError,
    DeadlineExceededError,
    Error,
    InvalidArgumentError,
    ResourceExhaustedError,
    UnavailableError,
)
from nnfunc.server import status
from nnfunc.server.describe import (
    KIND_NAMES,
    MODES,
    check_response,
    function_info,
    server_limits,
)
from nnfunc.server.metrics import record_stage
from nnfunc.server.settings import Settings
from nnfunc.v1 import function_service_pb2 as pb
from nnfunc.v1 import function_service_pb2_grpc as pb_grpc

log = logging.getLogger("nnfunc.server.calls")

#: The longest function or parameter name accepted (the longest real one has 30).
MAX_NAME_LENGTH = 256
#: The most elements (over all inputs) CheckGradient differences: its float64 work
#: holds several copies of them (about 10 × 8 bytes each at the peak).
MAX_CHECK_ELEMENTS = 1 << 22


def _name(value: str, field: str, what: str) -> str:
    """A required name, refused when empty or longer than MAX_NAME_LENGTH."""
    if not value:
        raise InvalidArgumentError(f"{field}: required ({what})", field=field)
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidArgumentError(
            f"{field}: at most {MAX_NAME_LENGTH} characters, got {len(value)}", field=field
        )
    return value


def _function_name(request: Any) -> str:
    return _name(request.function, "function", "a canonical name or an alias, see ListFunctions")


# ---------------------------------------------------------------------------
# Stages and deadlines of the call being served
# ---------------------------------------------------------------------------


class _Clock:
    """The deadline of one call and the end of its last stage (see ``_stage``)."""

    __slots__ = ("deadline", "mark")

    def __init__(self, deadline: float):
        self.deadline = deadline  # time.monotonic(); inf for none
        self.mark = time.perf_counter()

    def check(self, stage: str) -> None:
        if time.monotonic() >= self.deadline:
            raise _deadline_passed(stage)


def _deadline_passed(stage: str) -> DeadlineExceededError:
    return DeadlineExceededError(f"the call's deadline passed (after {stage})")


_CLOCK: contextvars.ContextVar[_Clock | None] = contextvars.ContextVar(
    "nnfunc_call_clock", default=None
)


def _stage(stage: str) -> None:
    """End ``stage`` of the current call (nothing outside a call): report the time since
    the previous stage to the metrics and, after decode and compute, check the deadline."""
    clock = _CLOCK.get()
    if clock is not None:
        now = time.perf_counter()
        record_stage(stage, now - clock.mark)
        clock.mark = now
        if stage != "encode" and time.monotonic() >= clock.deadline:
            raise _deadline_passed(stage)


#: Catalog calls on fewer elements than this run outside the catalog's deadline scope:
#: its checks sit between the blocks of large elementwise calls (2^16 elements and
#: more) and the gradient checker's forward calls, so a small call never reaches one,
#: and entering a scope would cost more than its whole compute. The servicer still
#: checks the deadline after computing.
SCOPE_MIN_ELEMENTS = 1 << 12
_UNSCOPED = contextlib.nullcontext()


def _deadline() -> float | None:
    """The current call's deadline (a time.monotonic() value), None when it has none."""
    clock = _CLOCK.get()
    return None if clock is None or clock.deadline == math.inf else clock.deadline


def _computing(arrays: list[np.ndarray]) -> contextlib.AbstractContextManager:
    """The deadline scope of a catalog call on ``arrays`` (see SCOPE_MIN_ELEMENTS)."""
    elements = 0
    for a in arrays:
        elements += a.size
    if elements < SCOPE_MIN_ELEMENTS:
        return _UNSCOPED
    return deadline_scope(_deadline())


# ---------------------------------------------------------------------------
# Responses the servicer serializes itself
# ---------------------------------------------------------------------------


class Encoded:
    """A response serialized by the servicer itself: its wire bytes, written by
    ``codec.encode_message`` around the arrays' buffers (one copy of each, where
    protobuf makes three), and the number of elements its tensors hold (the metrics
    count them). The response serializer passes ``data`` on as it is."""

    __slots__ = ("data", "elements")

    def __init__(self, fields: list[tuple[int, Any]]):
        self.data = encode_message(fields)
        self.elements = 0
        for _, value in fields:
            if not isinstance(value, str):
                self.elements += value.size


class Service:
    """The RPCs as plain methods: request in, response out, nnfunc errors raised."""

    def __init__(self, settings: Settings):
        self.max_elements = settings.max_elements
        self.max_check_elements = min(settings.max_elements, MAX_CHECK_ELEMENTS)
        self.limits = server_limits(
            settings,
            max_check_elements=self.max_check_elements,
            max_name_length=MAX_NAME_LENGTH,
        )

    # --- decoding -------------------------------------------------------------
    def _inputs(self, request: Any) -> list:
        # a slice first: iterating protobuf's container costs more
        tensors = request.inputs[:]
        return [from_tensor(t, f"inputs[{k}]", self.max_elements) for k, t in enumerate(tensors)]

    def _params(self, request: Any) -> dict[str, Any]:
        if not request.parameters:
            return {}
        for name in request.parameters:
            if len(name) > MAX_NAME_LENGTH:
                raise InvalidArgumentError(
                    f"parameters: a parameter name of {len(name)} characters (at most "
                    f"{MAX_NAME_LENGTH}); the function's parameters are in DescribeFunction",
                    field="parameters",
                )
        return from_parameters(request.parameters, self.max_elements)

    def _optional(self, request: Any, name: str):
        if not request.HasField(name):
            return None
        return from_tensor(getattr(request, name), name, self.max_elements)

    # --- the RPCs -------------------------------------------------------------
    def list_functions(self, request: pb.ListFunctionsRequest) -> pb.ListFunctionsResponse:
        if request.kind not in (pb.FUNCTION_KIND_UNSPECIFIED, *KIND_NAMES):
            raise InvalidArgumentError(
                "kind: expected FUNCTION_KIND_UNSPECIFIED, _ACTIVATION or _LOSS, "
                f"got {request.kind}",
                field="kind",
            )
        kind = KIND_NAMES.get(request.kind)
        _stage("decode")
        resp = pb.ListFunctionsResponse()
        for name in catalog.names():
            spec = catalog.lookup(name)
            if kind is None or spec.kind == kind:
                function_info(spec, resp.functions.add())
        _stage("encode")
        return resp

    def describe_function(self, request: pb.DescribeFunctionRequest) -> pb.DescribeFunctionResponse:
        spec = catalog.lookup(_name(request.name, "name", "a canonical name or an alias"))
        _stage("decode")
        resp = pb.DescribeFunctionResponse(limits=self.limits)
        function_info(spec, resp.function)
        _stage("encode")
        return resp

    def get_server_info(self, request: pb.GetServerInfoRequest) -> pb.GetServerInfoResponse:
        _stage("decode")
        resp = pb.GetServerInfoResponse(limits=self.limits, function_count=len(catalog.names()))
        _stage("encode")
        return resp

    def evaluate(self, request: pb.EvaluateRequest) -> Encoded:
        spec = catalog.lookup(_function_name(request))
        inputs, params = self._inputs(request), self._params(request)
        _stage("decode")
        with _computing(inputs):
            y = catalog.evaluate(spec, *inputs, **params)
        _stage("compute")
        resp = Encoded([(1, y)])  # EvaluateResponse: output
        _stage("encode")
        return resp

    def gradient(self, request: pb.GradientRequest) -> Encoded:
        spec = catalog.lookup(_function_name(request))
        inputs, params = self._inputs(request), self._params(request)
        g = self._optional(request, "grad_output")
        _stage("decode")
        with _computing(inputs):
            grads = catalog.gradient(spec, *inputs, grad_output=g, **params)
        _stage("compute")
        # GradientResponse: gradients, input_names
        resp = Encoded([*((1, d) for d in grads), *((2, i.name) for i in spec.differentiable)])
        _stage("encode")
        return resp

    def loss(self, request: pb.LossRequest) -> Encoded:
        spec = catalog.lookup(_function_name(request))
        if spec.kind != "loss":
            raise InvalidArgumentError(
                f"function: {spec.name} is an {spec.kind}, not a loss (use Evaluate and "
                "Gradient, or ListFunctions with FUNCTION_KIND_LOSS)",
                field="function",
            )
        inputs, params = self._inputs(request), self._params(request)
        _stage("decode")
        with _computing(inputs):
            value, grads = catalog.value_and_grad(spec, *inputs, **params)
        _stage("compute")
        # LossResponse: value, gradients, input_names
        resp = Encoded(
            [(1, value), *((2, d) for d in grads), *((3, i.name) for i in spec.differentiable)]
        )
        _stage("encode")
        return resp

    def check_gradient(self, request: pb.CheckGradientRequest) -> pb.CheckGradientResponse:
        spec = catalog.lookup(_function_name(request))
        inputs, params = self._inputs(request), self._params(request)
        g = self._optional(request, "grad_output")
        supplied = [
            from_tensor(t, f"gradients[{k}]", self.max_elements)
            for k, t in enumerate(request.gradients)
        ]
        if request.mode not in MODES:
            raise InvalidArgumentError(
                f"mode: expected CHECK_MODE_UNSPECIFIED, _FULL or _FAST, got {request.mode}",
                field="mode",
            )
        order = request.order or 1
        if order not in (1, 2):
            raise InvalidArgumentError(
                f"order: expected 1 or 2 (0 means 1), got {request.order}", field="order"
            )
        total = sum(a.size for a in inputs)
        if total > self.max_check_elements:
            raise ResourceExhaustedError(
                f"inputs: CheckGradient differences at most {self.max_check_elements} "
                f"elements over all inputs, got {total} (check a slice of the data)",
                field="inputs",
            )
        _stage("decode")
        # Unset options take the checker's defaults (torch's gradcheck ones); set ones,
        # zero included, are validated by the checker and named in its errors.
        options = {n: getattr(request, n) for n in ("eps", "atol", "rtol") if request.HasField(n)}
        report = catalog.check_gradient(
            spec.name,
            *inputs,
            grad_output=g,
            grads=supplied or None,
            mode=MODES[request.mode],
            seed=request.seed,
            parameters=params,
            order=order,
            deadline=_deadline(),
            **options,
        )
        _stage("compute")
        resp = check_response(report)
        _stage("encode")
        return resp


# ---------------------------------------------------------------------------
# The gRPC face
# ---------------------------------------------------------------------------


def describe_call(request: Any) -> dict[str, Any]:
    """What the log says about a request: function and input shapes (never the data)."""
    out: dict[str, Any] = {}
    function = getattr(request, "function", None) or getattr(request, "name", None)
    if function:
        out["function"] = function[:100]
    inputs = getattr(request, "inputs", None)
    if inputs is not None:
        out["shapes"] = [list(t.shape) for t in list(inputs)[:8]]
    items = getattr(request, "items", None)
    if items is not None:
        out["items"] = len(items)
    return out


class FunctionServicer(pb_grpc.FunctionServiceServicer):
    """Logs each call (debug; errors at warning, unexpected ones with their traceback)
    and turns nnfunc errors into gRPC statuses. Refuses calls once draining."""

    def __init__(self, settings: Settings):
        self.service = Service(settings)
        self.max_call_seconds = settings.max_call_seconds or math.inf
        # Which process answered, in each OK answer's trailing metadata: behind a
        # balancer, clients and tests tell replicas (and --workers processes) apart.
        # Trailing, because it rides in the final batch for free, where initial
        # metadata costs gRPC a batch of its own (~33 µs a call) and, once sent,
        # stops the client from retrying the call elsewhere. Made after any fork.
        self.replica = (("nnfunc-replica", f"{socket.gethostname()}:{os.getpid()}"),)
        self.draining = threading.Event()
        self._in_flight = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified once draining

    def drain(self, timeout: float) -> bool:
        """Refuse new calls (UNAVAILABLE) and wait up to ``timeout`` seconds for the
        calls in flight; True when none is left."""
        self.draining.set()
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    # One wrapper serves every unary method.
    def _call(self, method: str, fn: Callable[[Any], Any], request: Any, context) -> Any:
        start = time.perf_counter()
        error: Error | None = None
        with self._lock:
            self._in_flight += 1
        token = None
        try:
            if self.draining.is_set():
                raise UnavailableError("the server is shutting down; retry on another replica")
            if not context.is_active():
                raise _inactive(context)
            if type(request) is Malformed:
                raise InvalidArgumentError(
                    f"request: not a valid {request.type_name} message ({request.reason})",
                    field="request",
                )
            token = _CLOCK.set(_Clock(time.monotonic() + self._time_allowed(context)))
            response = fn(request)
            context.set_trailing_metadata(self.replica)
        except Exception as exc:  # every failure leaves as a status: the server stays up
            error = status.as_error(exc)
            _log_failure(method, request, exc, error, start)
        else:
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "call",
                    extra={
                        "fields": {
                            "method": method,
                            "code": "OK",
                            **describe_call(request),
                            "ms": round((time.perf_counter() - start) * 1e3, 3),
                        }
                    },
                )
            return response
        finally:
            if token is not None:
                _CLOCK.reset(token)
            with self._lock:
                self._in_flight -= 1
                if self._in_flight == 0 and self.draining.is_set():
                    self._idle.notify_all()
        context.abort_with_status(status.to_status(error))  # raises; outside the try

    def _time_allowed(self, context) -> float:
        """Seconds this call may take: the caller's deadline or max_call_seconds."""
        remaining = context.time_remaining()
        if remaining is None or remaining >= self.max_call_seconds:
            return self.max_call_seconds
        return remaining if remaining > 0 else 0.0

    def ListFunctions(self, request, context):
        return self._call("ListFunctions", self.service.list_functions, request, context)

    def DescribeFunction(self, request, context):
        return self._call("DescribeFunction", self.service.describe_function, request, context)

    def Evaluate(self, request, context):
        return self._call("Evaluate", self.service.evaluate, request, context)

    def Gradient(self, request, context):
        return self._call("Gradient", self.service.gradient, request, context)

    def Loss(self, request, context):
        return self._call("Loss", self.service.loss, request, context)

    def CheckGradient(self, request, context):
        return self._call("CheckGradient", self.service.check_gradient, request, context)

    def Batch(self, request, context):
        return self._call("Batch", lambda r: self._batch(r, context), request, context)

    def GetServerInfo(self, request, context):
        return self._call("GetServerInfo", self.service.get_server_info, request, context)

    def _batch(self, request: pb.BatchRequest, context) -> pb.BatchResponse:
        """Each item answered on its own: one bad item fails only itself."""
        resp = pb.BatchResponse()
        clock = _CLOCK.get()
        for k, item in enumerate(request.items):
            if not context.is_active():  # deadline passed or client gone: stop working
                raise _inactive(context)
            if clock is not None:
                clock.check(f"items[{k - 1}]" if k else "decode")
            result = resp.results.add()
            which = item.WhichOneof("request")
            start = time.perf_counter()
            try:
                if which is None:
                    raise InvalidArgumentError(
                        f"items[{k}]: set one of evaluate, gradient, loss", field=f"items[{k}]"
                    )
                sub = getattr(item, which)
                answer = getattr(self.service, which)(sub)
            except Exception as exc:
                error = status.as_error(exc)
                _log_failure(
                    f"Batch.items[{k}].{which}",
                    getattr(item, which or "evaluate"),
                    exc,
                    error,
                    start,
                )
                if isinstance(error, DeadlineExceededError):
                    raise  # the call's deadline, not this item's fault: stop the batch
                result.status.code = status.code_number(error)
                result.status.message = status.public_message(error)
                result.status.field = status.public_field(error)
            else:
                getattr(result, which).MergeFromString(answer.data)
        return resp


def _inactive(context) -> Error:
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        return DeadlineExceededError("the call's deadline passed before it was served")
    return CancelledError("the call was cancelled by the client")


def _log_failure(method: str, request: Any, exc: BaseException, error: Error, start: float):
    fields = {
        "method": method,
        "code": status.status_code(error).name,
        **describe_call(request),
        "ms": round((time.perf_counter() - start) * 1e3, 3),
    }
    if isinstance(exc, Error):
        fields["field"] = exc.field
        log.warning("call failed: %s", exc.message, extra={"fields": fields})
    else:
        log.error("call failed unexpectedly", exc_info=exc, extra={"fields": fields})


# ---------------------------------------------------------------------------
# Registration with lenient request parsing
# ---------------------------------------------------------------------------


class Malformed:
    """A request whose bytes did not parse: the servicer answers INVALID_ARGUMENT.
    (gRPC answers INTERNAL when a deserializer raises.)"""

    __slots__ = ("reason", "type_name")

    def __init__(self, type_name: str, reason: str):
        self.type_name = type_name
        self.reason = reason


def _lenient(message_type: Any) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            # large tensors are read as views of ``data``, without protobuf's copies
            return read_message(data, message_type)
        except (DecodeError, RecursionError, ValueError) as exc:
            return Malformed(message_type.DESCRIPTOR.full_name, str(exc)[:200] or "undecodable")

    return parse


def _serialize(response: Any) -> bytes:
    """An ``Encoded`` response is its bytes; a protobuf message is serialized."""
    return response.data if type(response) is Encoded else response.SerializeToString()


def method_handlers(
    servicer: FunctionServicer, pool: ThreadPoolExecutor | None = None
) -> dict[str, grpc.RpcMethodHandler]:
    """The unary handlers of every FunctionService method, with lenient deserializers;
    run by ``pool`` when given, else by the server's own thread pool."""
    service = pb.DESCRIPTOR.services_by_name["FunctionService"]
    handlers = {}
    for method in service.methods:
        request = getattr(pb, method.input_type.name)
        behavior = getattr(servicer, method.name)
        if pool is not None:
            # gRPC runs a behavior carrying ``experimental_thread_pool`` in that pool
            # (grpcio's own health service uses it for Watch); a partial can carry it.
            behavior = functools.partial(behavior)
            behavior.experimental_thread_pool = pool  # type: ignore[attr-defined]
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            behavior,
            request_deserializer=_lenient(request),
            response_serializer=_serialize,
        )
    return handlers


def add_to_server(
    servicer: FunctionServicer, server: Any, pool: ThreadPoolExecutor | None = None
) -> None:
    """Register ``servicer`` like ``add_FunctionServiceServicer_to_server``, except that
    undecodable request bytes get INVALID_ARGUMENT instead of gRPC's INTERNAL, and
    that ``pool``, when given, runs its calls."""
    name = pb.DESCRIPTOR.services_by_name["FunctionService"].full_name
    handlers = method_handlers(servicer, pool)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(name, handlers),))
    server.add_registered_method_handlers(name, handlers)
