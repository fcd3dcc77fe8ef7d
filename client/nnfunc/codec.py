"""ndarray <-> wire conversion, shared by the SDK and the server.

Tensors travel as raw little-endian C-order bytes (``Tensor.raw_data``): encoding is
one ``tobytes``, decoding one ``np.frombuffer`` (no copy; the array is read-only).
The typed ``double_data``/``int64_data`` fields are accepted for hand-written calls.
Decoding validates the dtype, the shape and the byte count before touching the data,
and raises ``InvalidArgumentError``/``ResourceExhaustedError`` naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from nnfunc.errors import InvalidArgumentError, ResourceExhaustedError
from nnfunc.v1 import function_service_pb2 as pb
from nnfunc.v1 import tensor_pb2

DataType = tensor_pb2.DataType

#: wire dtype <-> little-endian numpy dtype
DTYPES: dict[int, np.dtype] = {
    tensor_pb2.DATA_TYPE_FLOAT16: np.dtype("<f2"),
    tensor_pb2.DATA_TYPE_FLOAT32: np.dtype("<f4"),
    tensor_pb2.DATA_TYPE_FLOAT64: np.dtype("<f8"),
    tensor_pb2.DATA_TYPE_INT64: np.dtype("<i8"),
}
_WIRE: dict[str, int] = {dt.str[1:]: code for code, dt in DTYPES.items()}


def wire_dtype(dtype: np.dtype) -> int:
    """The DataType for a numpy dtype (other integers and bools travel as int64)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iub":
        return tensor_pb2.DATA_TYPE_INT64
    code = _WIRE.get(dtype.str[1:])
    if code is None:
        raise InvalidArgumentError(
            f"tensor dtype {dtype} is not supported (float16, float32, float64, int64)",
            field="dtype",
        )
    return code


def to_tensor(array: Any, out: tensor_pb2.Tensor | None = None) -> tensor_pb2.Tensor:
    """An array (or anything np.asarray takes) as a raw-bytes Tensor."""
    arr = np.asarray(array)
    code = wire_dtype(arr.dtype)
    target = DTYPES[code]
    if arr.dtype != target:
        arr = arr.astype(target)
    tensor = tensor_pb2.Tensor() if out is None else out
    tensor.dtype = code
    tensor.shape.extend(arr.shape)
    tensor.raw_data = arr.tobytes(order="C")
    return tensor


def from_tensor(
    tensor: tensor_pb2.Tensor, field: str = "tensor", max_elements: int | None = None
) -> np.ndarray:
    """A Tensor as an ndarray, validated: the dtype is set, dims are non-negative,
    exactly one content field matches prod(shape) elements."""
    dtype = DTYPES.get(tensor.dtype)
    if dtype is None:
        name = tensor_pb2.DataType.Name(tensor.dtype) if tensor.dtype in _NAMES else tensor.dtype
        raise InvalidArgumentError(
            f"{field}.dtype: expected DATA_TYPE_FLOAT16, _FLOAT32, _FLOAT64 or _INT64, got {name}",
            field=f"{field}.dtype",
        )
    shape = tuple(tensor.shape)
    if any(d < 0 for d in shape):
        raise InvalidArgumentError(
            f"{field}.shape: dimensions must be >= 0, got {list(shape)}", field=f"{field}.shape"
        )
    count = math.prod(shape)
    if max_elements is not None and count > max_elements:
        raise ResourceExhaustedError(
            f"{field}.shape: {list(shape)} holds {count} elements, more than the "
            f"server's limit of {max_elements}",
            field=f"{field}.shape",
        )
    raw = tensor.raw_data  # every read of a bytes field copies it: read once
    used = [
        name
        for name, present in (
            ("raw_data", bool(raw)),
            ("double_data", len(tensor.double_data) > 0),
            ("int64_data", len(tensor.int64_data) > 0),
        )
        if present
    ]
    if len(used) > 1:
        raise InvalidArgumentError(
            f"{field}: set exactly one of raw_data, double_data, int64_data; "
            f"got {' and '.join(used)}",
            field=field,
        )
    source = used[0] if used else "raw_data"
    if source == "raw_data":
        expected = count * dtype.itemsize
        if len(raw) != expected:
            raise InvalidArgumentError(
                f"{field}.raw_data: shape {list(shape)} of {dtype.name} needs {expected} "
                f"bytes, got {len(raw)}",
                field=f"{field}.raw_data",
            )
        arr = np.frombuffer(raw, dtype=dtype)
    else:
        values = tensor.double_data if source == "double_data" else tensor.int64_data
        if source == "int64_data" and dtype.kind != "i":
            raise InvalidArgumentError(
                f"{field}.int64_data: holds integers but dtype is {dtype.name}; use double_data",
                field=f"{field}.int64_data",
            )
        if len(values) != count:
            raise InvalidArgumentError(
                f"{field}.{source}: shape {list(shape)} needs {count} values, got {len(values)}",
                field=f"{field}.{source}",
            )
        if source == "double_data" and dtype.kind == "i":
            doubles = np.asarray(values, dtype=np.float64)
            if not np.all(np.isfinite(doubles) & (doubles == np.round(doubles))):
                raise InvalidArgumentError(
                    f"{field}.double_data: int64 tensors need whole numbers", field=f"{field}"
                )
            arr = doubles.astype(np.int64)
        else:
            arr = np.asarray(values, dtype=np.float64 if source == "double_data" else np.int64)
            arr = arr.astype(dtype, copy=False)
    arr = arr.reshape(shape)
    return arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))


_NAMES = set(tensor_pb2.DataType.values())


def to_parameter(value: Any) -> pb.ParameterValue:
    """A Python value as a ParameterValue (bool, int, float, str, or array-like)."""
    msg = pb.ParameterValue()
    if isinstance(value, bool | np.bool_):
        msg.bool_value = bool(value)
    elif isinstance(value, int | np.integer):
        msg.int64_value = int(value)
    elif isinstance(value, float | np.floating):
        msg.double_value = float(value)
    elif isinstance(value, str):
        msg.string_value = value
    else:
        to_tensor(value, out=msg.tensor_value)
    return msg


def to_parameters(params: Mapping[str, Any], out: Any) -> None:
    """Keyword parameters into a request's ``parameters`` map (None means the default)."""
    for name, value in params.items():
        if value is not None:
            out[name].CopyFrom(to_parameter(value))


def from_parameter(name: str, msg: pb.ParameterValue, max_elements: int | None = None) -> Any:
    """A ParameterValue as a Python value (a Tensor as an ndarray)."""
    kind = msg.WhichOneof("kind")
    if kind is None:
        raise InvalidArgumentError(
            f"parameters.{name}: no value set (set one of double_value, int64_value, "
            "bool_value, string_value, tensor_value)",
            field=f"parameters.{name}",
        )
    if kind == "tensor_value":
        return from_tensor(msg.tensor_value, f"parameters.{name}", max_elements)
    return getattr(msg, kind)


def from_parameters(params: Mapping[str, pb.ParameterValue], max_elements: int | None = None):
    """A request's ``parameters`` map as keyword arguments."""
    return {name: from_parameter(name, msg, max_elements) for name, msg in params.items()}
