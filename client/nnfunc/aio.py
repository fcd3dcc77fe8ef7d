"""The asyncio SDK: ``nnfunc.AsyncClient``, the same methods as ``nnfunc.Client`` awaited.

    async with nnfunc.AsyncClient("localhost:50051") as c:
        y = await c.evaluate("relu", x)
        ys = await asyncio.gather(*(c.evaluate("tanh", x) for x in xs))

Create it inside the running event loop (grpc.aio binds the channel to it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import grpc
import numpy as np
from grpc import aio as grpc_aio

from nnfunc import _calls
from nnfunc._calls import Mode, Request
from nnfunc._status import from_rpc_error
from nnfunc._types import CheckReport, FunctionInfo, LossResult
from nnfunc.client import Metadata, _Base


class AsyncClient(_Base):
    """An asyncio client of the nnfunc service; ``async with`` closes its channel.

    The arguments are Client's (target, timeout, credentials, root_certificates,
    certificate_chain, private_key, token, metadata, retries, load_balancing,
    max_message_bytes, options).
    """

    def _open_channel(self) -> grpc_aio.Channel:
        if self._credentials is None:
            return grpc_aio.insecure_channel(self._target, options=self._options)
        return grpc_aio.secure_channel(self._target, self._credentials, options=self._options)

    async def _send(self, req: Request, timeout: float | None, metadata: Metadata | None) -> Any:
        try:
            response = await self._methods[req.method](req, **self._call_options(timeout, metadata))
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None
        return req.read(response)

    async def close(self) -> None:
        """Close the channel (calls in flight are cancelled)."""
        await self._channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def list_functions(
        self,
        kind: str | None = None,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> list[FunctionInfo]:
        """Every function, sorted by name; ``kind`` "activation" or "loss" filters."""
        return await self._send(_calls.list_functions(kind), timeout, metadata)

    async def describe(
        self, name: str, *, timeout: float | None = None, metadata: Metadata | None = None
    ) -> FunctionInfo:
        """One function, by canonical name or alias."""
        return await self._send(_calls.describe(name), timeout, metadata)

    async def evaluate(
        self,
        function: str,
        *inputs: Any,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        **params: Any,
    ) -> np.ndarray:
        """The function's value, in the inputs' dtype."""
        req = _calls.request.evaluate(function, *inputs, **params)
        return await self._send(req, timeout, metadata)

    async def gradient(
        self,
        function: str,
        *inputs: Any,
        grad_output: Any = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        **params: Any,
    ) -> np.ndarray | tuple[np.ndarray, ...]:
        """The VJP for ``grad_output`` (ones when omitted); a tuple for several inputs."""
        req = _calls.request.gradient(function, *inputs, grad_output=grad_output, **params)
        return await self._send(req, timeout, metadata)

    async def loss(
        self,
        function: str,
        *inputs: Any,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        **params: Any,
    ) -> LossResult:
        """A loss's value and gradients in one call."""
        req = _calls.request.loss(function, *inputs, **params)
        return await self._send(req, timeout, metadata)

    async def check_gradient(
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
        """Checks the catalog's VJP, or ``grad`` (the caller's), by central differences."""
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
        return await self._send(req, timeout, metadata)

    async def batch(
        self,
        requests: Sequence[Request],
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> list[Any]:
        """Many Evaluate, Gradient and Loss requests in one call; failed items are
        returned as their nnfunc.Error."""
        return await self._send(_calls.batch(requests), timeout, metadata)
