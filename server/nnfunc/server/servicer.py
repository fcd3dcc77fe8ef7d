"""nnfunc.v1.FunctionService: every method decodes and validates, calls the catalog,
encodes. No math here, and no environment reads: limits come from Settings.

``Service`` holds the three-step methods (request -> response, raising nnfunc errors);
``FunctionServicer`` is the gRPC face: it times and logs each call and turns errors into
statuses through ``status.py``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from nnfunc import catalog
from nnfunc.codec import from_parameters, from_tensor, to_tensor
from nnfunc.errors import (
    CancelledError,
    DeadlineExceededError,
    Error,
    InvalidArgumentError,
    UnavailableError,
)
from nnfunc.server import status
from nnfunc.server.describe import KIND_NAMES, MODES, check_response, function_info
from nnfunc.server.settings import Settings
from nnfunc.v1 import function_service_pb2 as pb
from nnfunc.v1 import function_service_pb2_grpc as pb_grpc

log = logging.getLogger("nnfunc.server.calls")


def _function_name(request: Any) -> str:
    if not request.function:
        raise InvalidArgumentError(
            "function: required (a canonical name or an alias, see ListFunctions)",
            field="function",
        )
    return request.function


class Service:
    """The RPCs as plain methods: request in, response out, nnfunc errors raised."""

    def __init__(self, settings: Settings):
        self.max_elements = settings.max_elements

    # --- decoding -------------------------------------------------------------
    def _inputs(self, request: Any) -> list:
        return [
            from_tensor(t, f"inputs[{k}]", self.max_elements) for k, t in enumerate(request.inputs)
        ]

    def _params(self, request: Any) -> dict[str, Any]:
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
        resp = pb.ListFunctionsResponse()
        for name in catalog.names():
            spec = catalog.lookup(name)
            if kind is None or spec.kind == kind:
                function_info(spec, resp.functions.add())
        return resp

    def describe_function(self, request: pb.DescribeFunctionRequest) -> pb.DescribeFunctionResponse:
        if not request.name:
            raise InvalidArgumentError(
                "name: required (a canonical name or an alias)", field="name"
            )
        resp = pb.DescribeFunctionResponse()
        function_info(catalog.lookup(request.name), resp.function)
        return resp

    def evaluate(self, request: pb.EvaluateRequest) -> pb.EvaluateResponse:
        spec = catalog.lookup(_function_name(request))
        inputs, params = self._inputs(request), self._params(request)
        y = catalog.evaluate(spec, *inputs, **params)
        resp = pb.EvaluateResponse()
        to_tensor(y, out=resp.output)
        return resp

    def gradient(self, request: pb.GradientRequest) -> pb.GradientResponse:
        spec = catalog.lookup(_function_name(request))
        inputs, params = self._inputs(request), self._params(request)
        g = self._optional(request, "grad_output")
        grads = catalog.gradient(spec, *inputs, grad_output=g, **params)
        resp = pb.GradientResponse(input_names=[i.name for i in spec.differentiable])
        for grad in grads:
            to_tensor(grad, out=resp.gradients.add())
        return resp

    def loss(self, request: pb.LossRequest) -> pb.LossResponse:
        spec = catalog.lookup(_function_name(request))
        if spec.kind != "loss":
            raise InvalidArgumentError(
                f"function: {spec.name} is an {spec.kind}, not a loss (use Evaluate and "
                "Gradient, or ListFunctions with FUNCTION_KIND_LOSS)",
                field="function",
            )
        inputs, params = self._inputs(request), self._params(request)
        value, grads = catalog.value_and_grad(spec, *inputs, **params)
        resp = pb.LossResponse(input_names=[i.name for i in spec.differentiable])
        to_tensor(value, out=resp.value)
        for grad in grads:
            to_tensor(grad, out=resp.gradients.add())
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
            **options,
        )
        return check_response(report)


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
        # Which process answered, in each OK answer's trailing metadata: behind a
        # balancer, clients and tests tell replicas (and --workers processes) apart.
        # Trailing, because it rides in the final batch for free, where initial
        # metadata costs gRPC a batch of its own (~33 µs a call) and, once sent,
        # stops the client from retrying the call elsewhere. Made after any fork.
        self.replica = (("nnfunc-replica", f"{socket.gethostname()}:{os.getpid()}"),)
        self.draining = threading.Event()
        self._in_flight = 0
        self._idle = threading.Condition()

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
        with self._idle:
            self._in_flight += 1
        try:
            if self.draining.is_set():
                raise UnavailableError("the server is shutting down; retry on another replica")
            if not context.is_active():
                raise _inactive(context)
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
            with self._idle:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self._idle.notify_all()
        context.abort_with_status(status.to_status(error))  # raises; outside the try

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

    def _batch(self, request: pb.BatchRequest, context) -> pb.BatchResponse:
        """Each item answered on its own: one bad item fails only itself."""
        resp = pb.BatchResponse()
        for k, item in enumerate(request.items):
            if not context.is_active():  # deadline passed or client gone: stop working
                raise _inactive(context)
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
                result.status.code = status.code_number(error)
                result.status.message = status.public_message(error)
                result.status.field = error.field or ""
            else:
                getattr(result, which).CopyFrom(answer)
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
