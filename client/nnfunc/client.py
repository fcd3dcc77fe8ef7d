"""The synchronous SDK: ``nnfunc.Client``.

    import nnfunc
    with nnfunc.Client("localhost:50051", timeout=10.0) as c:
        y = c.evaluate("leaky_relu", x, negative_slope=0.2)
        dx = c.gradient("softmax", x, grad_output=g, dim=-1)
        r = c.loss("cross_entropy", logits, labels, label_smoothing=0.1)   # r.value, r.grad
        rep = c.check_gradient("gelu", x, approximate="tanh")              # rep.passed

Inputs are positional, function parameters keywords; arrays are ndarrays (lists and
scalars are taken through ``np.asarray``). Results keep the inputs' dtype and are
read-only views of the response bytes (``.copy()`` one to modify it). Two keywords are
the SDK's own on every call: ``timeout`` (seconds; the client's default when None) and
``metadata`` (extra call metadata). A failed call raises an ``nnfunc.Error`` subclass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import grpc
import numpy as np

from nnfunc import _calls, _channel
from nnfunc._calls import Mode, Request
from nnfunc._status import from_rpc_error
from nnfunc._types import CheckReport, FunctionInfo, LossResult

Metadata = Sequence[tuple[str, str | bytes]]


class _Base:
    """Configuration shared by Client and AsyncClient (see Client for the arguments)."""

    #: builds requests for ``batch``: ``c.request.evaluate("relu", x)``
    request = _calls.request

    def __init__(
        self,
        target: _channel.Target = _channel.DEFAULT_TARGET,
        *,
        timeout: float | None = 10.0,
        credentials: grpc.ChannelCredentials | None = None,
        root_certificates: bytes | str | None = None,
        certificate_chain: bytes | str | None = None,
        private_key: bytes | str | None = None,
        token: str | None = None,
        metadata: Metadata = (),
        retries: int = _channel.MAX_RETRIES,
        load_balancing: str | None = None,
        max_message_bytes: int = -1,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        self.target = target
        self.timeout = timeout
        self._target, self._options = _channel.configure(
            target,
            retries=retries,
            load_balancing=load_balancing,
            max_message_bytes=max_message_bytes,
            options=options,
        )
        self._credentials = _channel.channel_credentials(
            credentials, root_certificates, certificate_chain, private_key, token
        )
        self.metadata = _channel.token_metadata(token, self._credentials is not None) + tuple(
            metadata
        )
        self._channel = self._open_channel()
        # One callable per method: requests serialize themselves (``Request.wire``) and
        # responses arrive as bytes for ``Request.read``, so large tensors skip
        # protobuf's copies both ways (the bytes on the wire are protobuf's).
        self._methods = {
            name: self._channel.unary_unary(
                f"/{_channel.SERVICE}/{name}",
                request_serializer=_calls.serialize,
                response_deserializer=None,
                _registered_method=True,
            )
            for name in _calls.METHODS
        }

    def _open_channel(self) -> Any:
        raise NotImplementedError

    def _call_options(self, timeout: float | None, metadata: Metadata | None) -> dict[str, Any]:
        extra = tuple(metadata) if metadata else ()
        return {
            "timeout": self.timeout if timeout is None else timeout,
            "metadata": (self.metadata + extra) or None,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.target!r}, timeout={self.timeout!r})"


class Client(_Base):
    """A blocking client of the nnfunc service; a context manager that closes its channel.

    ``target``: "host:port", a gRPC target ("dns:///name:port" balances round robin over
    every address of the name), or a list of "host:port" (resolved once, balanced round
    robin). ``timeout``: the default deadline of every call, in seconds (None: none).
    ``credentials`` (grpc.ChannelCredentials) or ``root_certificates`` (PEM bytes or a
    file path) make a TLS channel; ``certificate_chain`` and ``private_key`` (PEM bytes
    or paths) add the client's certificate (mutual TLS). ``token``: a bearer token sent
    on every call (as call credentials over TLS; as ``authorization`` metadata on a
    plaintext channel, where anyone on the path can read it). ``metadata``: call
    metadata sent on every call.
    ``retries``: how many times gRPC retries a call that failed UNAVAILABLE (0 to 4).
    ``load_balancing``: a gRPC policy name, overriding the choice above.
    ``max_message_bytes``: the channel's message size limit (-1: none; the server
    keeps its own). ``options``: raw gRPC channel arguments, overriding ours.
    """

    def _open_channel(self) -> grpc.Channel:
        if self._credentials is None:
            return grpc.insecure_channel(self._target, options=self._options)
        return grpc.secure_channel(self._target, self._credentials, options=self._options)

    def _send(self, req: Request, timeout: float | None, metadata: Metadata | None) -> Any:
        try:
            response = self._methods[req.method](req, **self._call_options(timeout, metadata))
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None
        return req.read(response)

    def close(self) -> None:
        """Close the channel (calls in flight are cancelled)."""
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- catalog ------------------------------------------------------------------------

    def list_functions(
        self,
        kind: str | None = None,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> list[FunctionInfo]:
        """Every function, sorted by name; ``kind`` "activation" or "loss" filters."""
        return self._send(_calls.list_functions(kind), timeout, metadata)

    def describe(
        self, name: str, *, timeout: float | None = None, metadata: Metadata | None = None
    ) -> FunctionInfo:
        """One function, by canonical name or alias (NotFoundError suggests close names)."""
        return self._send(_calls.describe(name), timeout, metadata)

    # -- computing ----------------------------------------------------------------------

    def evaluate(
        self,
        function: str,
        *inputs: Any,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        **params: Any,
    ) -> np.ndarray:
        """The function's value, in the inputs' dtype."""
        return self._send(_calls.request.evaluate(function, *inputs, **params), timeout, metadata)

    def gradient(
        self,
        function: str,
        *inputs: Any,
        grad_output: Any = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        **params: Any,
    ) -> np.ndarray | tuple[np.ndarray, ...]:
        """The VJP for ``grad_output`` (ones when omitted): an ndarray, or a tuple of
        them, in input order, when the function has several differentiable inputs."""
        req = _calls.request.gradient(function, *inputs, grad_output=grad_output, **params)
        return self._send(req, timeout, metadata)

    def loss(
        self,
        function: str,
        *inputs: Any,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        **params: Any,
    ) -> LossResult:
        """A loss's value and gradients in one call: ``r.value``, ``r.grad`` (of
        ``input``), ``r.grads`` (every differentiable input, in order)."""
        return self._send(_calls.request.loss(function, *inputs, **params), timeout, metadata)

    def check_gradient(
        self,
        function: str,
        *inputs: Any,
        grad: Any = None,
        grad_output: Any = None,
        eps: float | None = None,
        atol: float | None = None,
        rtol: float | None = None,
        mode: Mode = "auto",
        seed: int = 0,
        order: int = 1,
        parameters: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        **params: Any,
    ) -> CheckReport:
        """Checks a gradient against central differences.

        Checks the catalog's own VJP, or ``grad``: the caller's gradient for
        ``grad_output`` (one array, or a tuple with one per differentiable input).
        ``eps``/``atol``/``rtol`` default on the server (1e-6, 1e-5, 1e-3); ``mode`` is
        "full" (the whole Jacobian), "fast" (random directions, seeded by ``seed``) or
        "auto" (by size). ``order=2`` checks the VJP's own VJP (``FunctionInfo.max_order``
        says which functions have one). The function's parameters come as keywords, or in
        ``parameters`` for names the checker uses itself (gaussian_nll_loss's ``eps``).
        """
        req = _calls.check_gradient(
            function,
            inputs,
            {**(parameters or {}), **params},
            grad=grad,
            grad_output=grad_output,
            eps=eps,
            atol=atol,
            rtol=rtol,
            mode=mode,
            seed=seed,
            order=order,
        )
        return self._send(req, timeout, metadata)

    def batch(
        self,
        requests: Sequence[Request],
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> list[Any]:
        """Many Evaluate, Gradient and Loss requests in one call, answered in order.

        Build them with ``c.request.evaluate(...)``, ``.gradient(...)``, ``.loss(...)``.
        Each result is what the single method returns, or, for an item that failed,
        its ``nnfunc.Error`` (returned, not raised; the other items are unaffected).
        """
        return self._send(_calls.batch(requests), timeout, metadata)
