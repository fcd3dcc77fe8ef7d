"""Prometheus metrics of the server, on their own port (``--metrics-port``; off by default).

Off, nothing here runs but ``record_stage``'s first line: no interceptor is installed
and no ``prometheus_client`` import happens. On (``start_endpoint``), one server
interceptor measures every unary call, and the servicer reports the time of each stage
of a call with ``record_stage`` (the interceptor tells it which RPC is running, through a
thread-local: the synchronous server runs a call's deserializer, method and serializer
on one pool thread). Per process: with ``--workers`` each worker has its own endpoint.

Series (``rpc`` is the method name, e.g. Evaluate, or ``Health/Check`` for other
services; ``function`` the canonical name of the function asked for, ``unknown`` for a
name the catalog does not know, empty for calls without one, such as ListFunctions and
Batch: labels stay bounded whatever clients send):

- ``nnfunc_requests_total{rpc, function, code}``: calls by status code;
- ``nnfunc_request_duration_seconds{rpc, function}``: histogram of the time in the
  server, from the request parsed to the response built;
- ``nnfunc_request_elements_total{rpc, function, direction}``: tensor elements in (the
  inputs) and out (outputs, gradients, values);
- ``nnfunc_request_bytes_total{rpc, direction}``: message bytes in and out;
- ``nnfunc_in_flight_requests{rpc}``: calls being served now;
- ``nnfunc_stage_duration_seconds{rpc, stage}``: histogram of decode, compute and encode.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc

#: Latency buckets, seconds: 50 µs to 60 s.
BUCKETS = (
    5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
STAGES = ("decode", "compute", "encode")
_FUNCTION_SERVICE = "/nnfunc.v1.FunctionService/"

_local = threading.local()
_metrics: Metrics | None = None
_lock = threading.Lock()


def record_stage(stage: str, seconds: float) -> None:
    """Seconds the current call spent in ``stage`` ("decode", "compute" or "encode")."""
    m = _metrics
    if m is None:
        return
    call = getattr(_local, "call", None)
    if call is not None:
        m.stage(call[0], stage).observe(seconds)


class Metrics:
    """The process's series, in their own registry."""

    def __init__(self) -> None:
        import prometheus_client as pc

        self.registry = pc.CollectorRegistry()
        r = self.registry
        self.requests = pc.Counter(
            "nnfunc_requests", "Calls answered, by RPC, function and status code.",
            ["rpc", "function", "code"], registry=r,
        )  # fmt: skip
        self.duration = pc.Histogram(
            "nnfunc_request_duration_seconds",
            "Time in the server per call, request parsed to response built.",
            ["rpc", "function"], buckets=BUCKETS, registry=r,
        )  # fmt: skip
        self.elements = pc.Counter(
            "nnfunc_request_elements", "Tensor elements received (in) and answered (out).",
            ["rpc", "function", "direction"], registry=r,
        )  # fmt: skip
        self.bytes = pc.Counter(
            "nnfunc_request_bytes", "Message bytes received (in) and sent (out).",
            ["rpc", "direction"], registry=r,
        )  # fmt: skip
        self.in_flight = pc.Gauge(
            "nnfunc_in_flight_requests", "Calls being served now.", ["rpc"], registry=r
        )
        self.stages = pc.Histogram(
            "nnfunc_stage_duration_seconds", "Time per stage of a call: decode, compute, encode.",
            ["rpc", "stage"], buckets=BUCKETS, registry=r,
        )  # fmt: skip
        self._children: dict[tuple, Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        # prometheus_client's labels() takes a lock and builds a key on every call;
        # the children are cached here (a dict read under the GIL).
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children.setdefault(key, metric.labels(*labels))
        return child

    def stage(self, rpc: str, stage: str) -> Any:
        return self._child(self.stages, rpc, stage)

    def exposition(self) -> bytes:
        """The text format, as the endpoint serves it."""
        import prometheus_client as pc

        return pc.generate_latest(self.registry)


def metrics() -> Metrics:
    """The process's metrics, created on first use."""
    global _metrics
    with _lock:
        if _metrics is None:
            _metrics = Metrics()
        return _metrics


class Endpoint:
    """The HTTP endpoint serving /metrics; ``close`` stops it."""

    def __init__(self, host: str, port: int, m: Metrics):
        import prometheus_client as pc

        try:
            self._server, self._thread = pc.start_http_server(port, host, registry=m.registry)
        except OSError as e:
            raise OSError(f"metrics: cannot listen on {host}:{port}: {e}") from None
        self.port = self._server.server_port

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def start_endpoint(host: str, port: int) -> tuple[Endpoint, MetricsInterceptor]:
    """Turn metrics on in this process and serve them; the interceptor measures calls."""
    m = metrics()
    return Endpoint(host, port, m), MetricsInterceptor(m)


# ---------------------------------------------------------------------------
# What a call is: its labels and sizes
# ---------------------------------------------------------------------------

_known: dict[str, str] = {}


def function_label(request: Any) -> str:
    """The canonical name of the function a request names ("unknown" when none is)."""
    name = getattr(request, "function", None)
    if name is None:
        name = getattr(request, "name", None)
    if not name or not isinstance(name, str):
        return ""
    if not _known:
        from nnfunc.catalog.spec import ALIASES, REGISTRY

        _known.update({n: n for n in REGISTRY})
        _known.update({a: REGISTRY[c].name for a, c in ALIASES.items() if c in REGISTRY})
    return _known.get(name, "unknown")


def _count(tensors: Any) -> int:
    return sum(math.prod(t.shape) for t in tensors)


def elements_in(request: Any) -> int:
    try:
        inputs = getattr(request, "inputs", None)
        if inputs is not None:
            return _count(inputs)
        items = getattr(request, "items", None)
        if items is not None:
            return sum(elements_in(getattr(i, w)) for i in items if (w := i.WhichOneof("request")))
    except (AttributeError, TypeError, ValueError):
        pass
    return 0


def elements_out(response: Any) -> int:
    counted = getattr(response, "elements", None)  # a response the servicer encoded itself
    if isinstance(counted, int):
        return counted
    try:
        n = 0
        for name in ("output", "value"):
            if hasattr(response, name) and response.HasField(name):
                n += math.prod(getattr(response, name).shape)
        if hasattr(response, "gradients"):
            n += _count(response.gradients)
        if hasattr(response, "results"):
            for r in response.results:
                which = r.WhichOneof("response")  # None for a failed item
                if which:
                    n += elements_out(getattr(r, which))
        return n
    except (AttributeError, TypeError, ValueError):
        return 0


def rpc_label(method: str) -> str:
    if method.startswith(_FUNCTION_SERVICE):
        return method[len(_FUNCTION_SERVICE) :]
    service, _, name = method.lstrip("/").rpartition("/")
    return f"{service.rsplit('.', 1)[-1]}/{name}"


# ---------------------------------------------------------------------------
# The interceptor
# ---------------------------------------------------------------------------


class MetricsInterceptor(grpc.ServerInterceptor):
    """Measures every unary-unary call (streams, such as health Watch and reflection,
    pass through unmeasured)."""

    def __init__(self, m: Metrics):
        self.m = m
        self._handlers: dict[tuple[str, Any], grpc.RpcMethodHandler] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.request_streaming or handler.response_streaming:
            return handler
        # The servicer's handlers (and the auth interceptor's refusals) are made once:
        # so are their wrappers. The key holds the behavior itself, never its id.
        key = (handler_call_details.method, handler.unary_unary)
        wrapped = self._handlers.get(key)
        if wrapped is None:
            wrapped = self._wrap(rpc_label(handler_call_details.method), handler)
            if len(self._handlers) < 4096:
                self._handlers[key] = wrapped
        return wrapped

    def _wrap(self, rpc: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        m = self.m
        child = m._child
        behavior = handler.unary_unary
        deserialize = handler.request_deserializer
        serialize = handler.response_serializer
        in_flight = child(m.in_flight, rpc)
        bytes_in = child(m.bytes, rpc, "in")
        bytes_out = child(m.bytes, rpc, "out")

        def request_deserializer(data: bytes) -> Any:
            bytes_in.inc(len(data))
            return deserialize(data) if deserialize is not None else data

        def unary_unary(request: Any, context: grpc.ServicerContext) -> Any:
            function = function_label(request)
            _local.call = (rpc, function)
            in_flight.inc()
            start = time.perf_counter()
            code = "OK"
            try:
                return behavior(request, context)
            except BaseException:
                c = context.code()
                code = c.name if isinstance(c, grpc.StatusCode) else "UNKNOWN"
                _local.call = None
                raise
            finally:
                seconds = time.perf_counter() - start
                in_flight.dec()
                child(m.requests, rpc, function, code).inc()
                child(m.duration, rpc, function).observe(seconds)
                n = elements_in(request)
                if n:
                    child(m.elements, rpc, function, "in").inc(n)

        def response_serializer(response: Any) -> bytes:
            call = getattr(_local, "call", None)
            _local.call = None
            if call is not None:
                n = elements_out(response)
                if n:
                    child(m.elements, call[0], call[1], "out").inc(n)
            data = serialize(response) if serialize is not None else response
            bytes_out.inc(len(data))
            return data

        return grpc.unary_unary_rpc_method_handler(
            unary_unary,
            request_deserializer=request_deserializer,
            response_serializer=response_serializer,
        )
