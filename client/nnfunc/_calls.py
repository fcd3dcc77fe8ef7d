"""Request building and response decoding, shared by Client and AsyncClient.

Each SDK method is one ``Request``: the RPC's name, its request message and the
function that turns the response into the SDK's result. The two clients only differ
in how they send it (a blocking call or an ``await``), so they share everything here.
Every array goes through ``nnfunc.codec``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from nnfunc import _status
from nnfunc._types import (
    CheckReport,
    FunctionInfo,
    InputCheck,
    InputInfo,
    LossResult,
    ParameterInfo,
)
from nnfunc.codec import (
    DTYPES,
    from_parameter,
    from_tensor,
    read_message,
    tensor_field,
    to_parameters,
    to_tensor,
    wire_array,
)
from nnfunc.errors import Error, InvalidArgumentError
from nnfunc.v1 import function_service_pb2 as pb
from nnfunc.v1 import tensor_pb2

Mode = Literal["auto", "full", "fast"]

_KINDS = {
    pb.FUNCTION_KIND_ACTIVATION: "activation",
    pb.FUNCTION_KIND_LOSS: "loss",
}
_KIND_CODES = {"activation": pb.FUNCTION_KIND_ACTIVATION, "loss": pb.FUNCTION_KIND_LOSS}
_PARAM_TYPES = {
    pb.PARAMETER_TYPE_DOUBLE: "float",
    pb.PARAMETER_TYPE_INT64: "int",
    pb.PARAMETER_TYPE_BOOL: "bool",
    pb.PARAMETER_TYPE_STRING: "str",
    pb.PARAMETER_TYPE_TENSOR: "tensor",
}
_MODES = {"auto": pb.CHECK_MODE_UNSPECIFIED, "full": pb.CHECK_MODE_FULL, "fast": pb.CHECK_MODE_FAST}
_MODE_NAMES = {code: name for name, code in _MODES.items()}


class Request:
    """One prepared call: the RPC name, its request message, and the response decoder.

    ``nnfunc.request.evaluate(...)``, ``.gradient(...)`` and ``.loss(...)`` build the
    ones ``Client.batch`` accepts. Those keep their wire bytes as parts (headers and
    views of the arrays, see ``codec.tensor_field``) and build ``message`` only when
    asked for it (``batch`` does).
    """

    __slots__ = ("_message", "_parts", "decode", "method")

    def __init__(
        self,
        method: str,
        message: Any,
        decode: Callable[[Any], Any],
        parts: list[bytes | memoryview] | None = None,
    ) -> None:
        self.method = method
        self.decode = decode
        self._message = message
        self._parts = parts

    @property
    def message(self) -> Any:
        """The request as a protobuf message."""
        if self._message is None:
            self._message = _MESSAGES[self.method].FromString(self.wire())
        return self._message

    def wire(self) -> bytes:
        """The request's wire bytes: the parts joined (one copy of each array), or the
        message serialized."""
        if self._parts is not None:
            return b"".join(self._parts)
        return self._message.SerializeToString()

    def read(self, data: bytes) -> Any:
        """The SDK's result from the response's wire bytes: large tensors are read as
        views of ``data`` (no copy, ``codec.read_message``), everything else through
        protobuf."""
        return self.decode(read_message(data, _RESPONSES[self.method]))

    def __repr__(self) -> str:
        # a request in parts starts with its function alone: no need to parse the rest
        message = self._message
        if message is None and self._parts is not None:
            message = _MESSAGES[self.method].FromString(self._parts[0])
        function = getattr(message, "function", "") or getattr(message, "name", "")
        return f"<nnfunc.Request {self.method} {function!r}>"


def serialize(request: Request) -> bytes:
    """The request serializer of the SDK's channels."""
    return request.wire()


# -- encoding ---------------------------------------------------------------------------


def _wire_array(value: Any, field: str) -> np.ndarray:
    """``value`` as the array that travels, or the SDK's error naming ``field``."""
    try:
        return wire_array(value)[1]
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(f"{field}: {exc.message}", field=field) from None
    except (TypeError, ValueError) as exc:  # ragged lists, objects numpy cannot hold
        raise InvalidArgumentError(
            f"{field}: expected an array of numbers ({exc})", field=field
        ) from None


def _put_tensor(out: tensor_pb2.Tensor, value: Any, field: str) -> None:
    try:
        to_tensor(value, out=out)
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(f"{field}: {exc.message}", field=field) from None
    except (TypeError, ValueError) as exc:  # ragged lists, objects numpy cannot hold
        raise InvalidArgumentError(
            f"{field}: expected an array of numbers ({exc})", field=field
        ) from None


def _put_params(out: Any, params: Mapping[str, Any]) -> None:
    for name, value in params.items():
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()  # a 0-d array is a number, not a tensor
        field = f"parameters.{name}"
        try:
            to_parameters({name: value}, out)
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"{field}: {exc.message}", field=field) from None
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"{field}: expected a number, a bool, a string or an array ({exc})", field=field
            ) from None


def _fill(message: Any, function: str, inputs: Sequence[Any], params: Mapping[str, Any]) -> Any:
    if not isinstance(function, str):
        raise InvalidArgumentError(
            f"function: expected a function name, got {type(function).__name__}", field="function"
        )
    message.function = function
    for k, value in enumerate(inputs):
        _put_tensor(message.inputs.add(), value, f"inputs[{k}]")
    _put_params(message.parameters, params)
    return message


def _compute_request(
    method: str,
    decode: Callable[[Any], Any],
    function: str,
    inputs: Sequence[Any],
    params: Mapping[str, Any],
    grad_output: Any = None,
) -> Request:
    """An Evaluate, Gradient or Loss request. Its wire bytes are written around the
    arrays' buffers (large ones are joined once, when the request is sent), in
    protobuf's field order (function, inputs, parameters, grad_output): protobuf's own
    bytes, but for the alignment of large tensors (``codec.tensor_field``). This costs
    less than a protobuf message at any size."""
    if not isinstance(function, str):
        raise InvalidArgumentError(
            f"function: expected a function name, got {type(function).__name__}", field="function"
        )
    arrays = [_wire_array(v, f"inputs[{k}]") for k, v in enumerate(inputs)]
    g = None if grad_output is None else _wire_array(grad_output, "grad_output")
    pb_class = _MESSAGES[method]
    parts: list[bytes | memoryview] = [pb_class(function=function).SerializeToString()]
    at = len(parts[0])  # where the next field starts
    for a in arrays:
        field, size = tensor_field(2, a, at)
        parts += field
        at += size
    if params:
        with_params = pb_class()
        _put_params(with_params.parameters, params)
        parts.append(with_params.SerializeToString())
        at += len(parts[-1])
    if g is not None:
        parts += tensor_field(4, g, at)[0]
    return Request(method, None, decode, parts)


# -- decoding ---------------------------------------------------------------------------


def _arrays(tensors: Sequence[tensor_pb2.Tensor], field: str) -> tuple[np.ndarray, ...]:
    return tuple(from_tensor(t, f"{field}[{i}]") for i, t in enumerate(tensors))


def _one_or_tuple(grads: tuple[np.ndarray, ...]) -> np.ndarray | tuple[np.ndarray, ...]:
    return grads[0] if len(grads) == 1 else grads


def decode_evaluate(response: pb.EvaluateResponse) -> np.ndarray:
    return from_tensor(response.output, "output")


def decode_gradient(response: pb.GradientResponse) -> np.ndarray | tuple[np.ndarray, ...]:
    return _one_or_tuple(_arrays(response.gradients, "gradients"))


def decode_loss(response: pb.LossResponse) -> LossResult:
    return LossResult(
        value=from_tensor(response.value, "value"),
        grads=_arrays(response.gradients, "gradients"),
        input_names=tuple(response.input_names),
    )


def function_info(msg: pb.FunctionInfo) -> FunctionInfo:
    """A FunctionInfo message as the SDK's dataclass."""
    return FunctionInfo(
        name=msg.name,
        kind=_KINDS.get(msg.kind, "unspecified"),  # type: ignore[arg-type]
        summary=msg.summary,
        formula=msg.formula,
        inputs=tuple(
            InputInfo(
                name=i.name,
                differentiable=i.differentiable,
                dtypes=tuple(DTYPES[d].name for d in i.dtypes if d in DTYPES),
                description=i.description,
            )
            for i in msg.inputs
        ),
        params=tuple(
            ParameterInfo(
                name=p.name,
                type=_PARAM_TYPES.get(p.type, "unspecified"),
                required=p.required,
                default=(
                    from_parameter(p.name, p.default_value)
                    if p.HasField("default_value") and p.default_value.WhichOneof("kind")
                    else None
                ),
                description=p.description,
                allowed=p.allowed,
                choices=tuple(p.choices),
            )
            for p in msg.parameters
        ),
        output_range=msg.output_range,
        kinks=tuple(msg.kinks),
        aliases=tuple(msg.aliases),
        source=msg.source,
        notes=tuple(msg.notes),
        max_order=msg.max_order or 1,
    )


def _check_report(function: str) -> Callable[[pb.CheckGradientResponse], CheckReport]:
    def decode(response: pb.CheckGradientResponse) -> CheckReport:
        return CheckReport(
            function=function,
            passed=response.passed,
            inputs=tuple(
                InputCheck(
                    name=i.input,
                    passed=i.passed,
                    max_abs_error=i.max_abs_error,
                    max_rel_error=i.max_rel_error,
                    worst_index=tuple(i.worst_index) if len(i.worst_index) else None,
                    analytic=i.analytic,
                    numerical=i.numerical,
                    checked_elements=i.checked_elements,
                    kink_elements=i.kink_elements,
                    skipped=i.skipped or None,
                )
                for i in response.inputs
            ),
            mode=_MODE_NAMES.get(response.mode, "auto"),  # type: ignore[arg-type]
            eps=response.eps,
            atol=response.atol,
            rtol=response.rtol,
            checked_supplied=response.checked_supplied,
            notes=tuple(response.notes),
            order=response.order or 1,
        )

    return decode


# -- the requests -----------------------------------------------------------------------


def list_functions(kind: str | None = None) -> Request:
    if kind is not None and kind not in _KIND_CODES:
        raise InvalidArgumentError(
            f"kind: expected 'activation', 'loss' or None, got {kind!r}", field="kind"
        )
    code = pb.FUNCTION_KIND_UNSPECIFIED if kind is None else _KIND_CODES[kind]
    message = pb.ListFunctionsRequest(kind=code)
    return Request("ListFunctions", message, lambda r: [function_info(f) for f in r.functions])


def describe(name: str) -> Request:
    if not isinstance(name, str):
        raise InvalidArgumentError(
            f"name: expected a function name, got {type(name).__name__}", field="name"
        )
    return Request(
        "DescribeFunction",
        pb.DescribeFunctionRequest(name=name),
        lambda r: function_info(r.function),
    )


class Requests:
    """Builds the Evaluate, Gradient and Loss requests that ``Client.batch`` sends together.

    reqs = [nnfunc.request.evaluate("relu", x), nnfunc.request.loss("mse_loss", a, b)]
    results = client.batch(reqs)
    """

    def evaluate(self, function: str, *inputs: Any, **params: Any) -> Request:
        """A request for the forward value (decodes to an ndarray)."""
        return _compute_request("Evaluate", decode_evaluate, function, inputs, params)

    def gradient(
        self, function: str, *inputs: Any, grad_output: Any = None, **params: Any
    ) -> Request:
        """A request for the VJP (decodes to an ndarray, or a tuple for several inputs)."""
        return _compute_request("Gradient", decode_gradient, function, inputs, params, grad_output)

    def loss(self, function: str, *inputs: Any, **params: Any) -> Request:
        """A request for a loss and its gradients (decodes to a LossResult)."""
        return _compute_request("Loss", decode_loss, function, inputs, params)


request = Requests()


def check_gradient(
    function: str,
    inputs: Sequence[Any],
    params: Mapping[str, Any],
    *,
    grad: Any = None,
    grad_output: Any = None,
    eps: float | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    mode: Mode = "auto",
    seed: int = 0,
    order: int = 1,
) -> Request:
    message = _fill(pb.CheckGradientRequest(), function, inputs, params)
    if grad_output is not None:
        _put_tensor(message.grad_output, grad_output, "grad_output")
    if grad is not None:
        # a tuple holds one gradient per differentiable input; anything else is one array
        grads = grad if isinstance(grad, tuple) else (grad,)
        for k, g in enumerate(grads):
            _put_tensor(message.gradients.add(), g, f"gradients[{k}]")
    if mode not in _MODES:
        raise InvalidArgumentError(
            f"mode: expected 'auto', 'full' or 'fast', got {mode!r}", field="mode"
        )
    message.mode = _MODES[mode]
    # Unset options take the server's defaults; set ones are validated there.
    for name, value in (("eps", eps), ("atol", atol), ("rtol", rtol)):
        if value is not None:
            setattr(message, name, value)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise InvalidArgumentError(f"seed: expected an int, got {seed!r}", field="seed")
    message.seed = int(seed)
    if isinstance(order, bool) or order not in (1, 2):
        raise InvalidArgumentError(f"order: expected 1 or 2, got {order!r}", field="order")
    message.order = int(order)
    return Request("CheckGradient", message, _check_report(function))


_BATCHABLE = {"Evaluate": "evaluate", "Gradient": "gradient", "Loss": "loss"}
_DECODERS: dict[str, Callable[[Any], Any]] = {
    "evaluate": decode_evaluate,
    "gradient": decode_gradient,
    "loss": decode_loss,
}


def batch(requests: Sequence[Request]) -> Request:
    message = pb.BatchRequest()
    for k, req in enumerate(requests):
        slot = _BATCHABLE.get(getattr(req, "method", ""))
        if slot is None:
            raise InvalidArgumentError(
                f"items[{k}]: expected a request from nnfunc.request.evaluate, .gradient or "
                f".loss, got {req!r}",
                field=f"items[{k}]",
            )
        getattr(message.items.add(), slot).CopyFrom(req.message)
    return Request("Batch", message, decode_batch)


def decode_batch(response: pb.BatchResponse) -> list[Any]:
    """Each result decoded, or the nnfunc error of its item (returned, not raised)."""
    results: list[Any] = []
    for item in response.results:
        if item.status.code != 0:
            err: Error = _status.from_item_status(
                item.status.code, item.status.message, item.status.field
            )
            results.append(err)
            continue
        kind = item.WhichOneof("response")
        results.append(_DECODERS[kind](getattr(item, kind)) if kind else None)
    return results


_MESSAGES: dict[str, Any] = {
    "ListFunctions": pb.ListFunctionsRequest,
    "DescribeFunction": pb.DescribeFunctionRequest,
    "Evaluate": pb.EvaluateRequest,
    "Gradient": pb.GradientRequest,
    "Loss": pb.LossRequest,
    "CheckGradient": pb.CheckGradientRequest,
    "Batch": pb.BatchRequest,
}
#: The service's methods, as the SDK calls them.
METHODS = tuple(_MESSAGES)
_RESPONSES: dict[str, Any] = {
    "ListFunctions": pb.ListFunctionsResponse,
    "DescribeFunction": pb.DescribeFunctionResponse,
    "Evaluate": pb.EvaluateResponse,
    "Gradient": pb.GradientResponse,
    "Loss": pb.LossResponse,
    "CheckGradient": pb.CheckGradientResponse,
    "Batch": pb.BatchResponse,
}
