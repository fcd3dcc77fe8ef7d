"""ndarray <-> wire conversion, shared by the SDK and the server.

Tensors travel as raw little-endian C-order bytes (``Tensor.raw_data``): encoding is
one ``tobytes``, decoding one ``np.frombuffer`` (no copy; the array is read-only).
The typed ``double_data``/``int64_data`` fields are accepted for hand-written calls.
Decoding validates the dtype, the shape and the byte count before touching the data,
and raises ``InvalidArgumentError``/``ResourceExhaustedError`` naming the field.

The large-tensor fast path (the SDK's, see the end of this module) skips protobuf's own
copies: ``tensor_wire`` gives a Tensor's wire bytes as a small header plus a view of
the array's buffer, which the request serializer joins once; ``read_message`` and
``WireTensor`` read a response's tensors as views of the received bytes. The bytes
are exactly what protobuf writes and reads (tests/service/test_codec_wire.py).
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

#: The most dimensions a tensor may have (NumPy's own limit).
MAX_NDIM = 64
#: The largest dimension when no element limit is given (NumPy refuses sizes whose
#: byte count overflows, even for an empty array with a huge dimension).
_MAX_DIM = 1 << 40
#: Whole numbers a double may carry into an int64 tensor: [-2^63, 2^63).
_INT64_BOUND = float(1 << 63)


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


def wire_array(array: Any) -> tuple[int, np.ndarray]:
    """(DataType, the array as it travels: C-contiguous, little-endian, a wire dtype);
    a copy only when ``array`` is not already that."""
    arr = np.asarray(array)
    code = wire_dtype(arr.dtype)
    target = DTYPES[code]
    if arr.dtype != target:
        arr = arr.astype(target)
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")
    return code, arr


def to_tensor(array: Any, out: tensor_pb2.Tensor | None = None) -> tensor_pb2.Tensor:
    """An array (or anything np.asarray takes) as a raw-bytes Tensor."""
    code, arr = wire_array(array)
    tensor = tensor_pb2.Tensor() if out is None else out
    tensor.dtype = code  # type: ignore[assignment]  # an int of the DataType enum
    tensor.shape.extend(arr.shape)
    tensor.raw_data = arr.tobytes(order="C")
    return tensor


def from_tensor(
    tensor: tensor_pb2.Tensor | WireTensor, field: str = "tensor", max_elements: int | None = None
) -> np.ndarray:
    """A Tensor as an ndarray, validated: the dtype is set, dims are non-negative,
    exactly one content field matches prod(shape) elements."""
    dtype = DTYPES.get(tensor.dtype)
    if dtype is None:
        code = tensor.dtype
        name = tensor_pb2.DataType.Name(code) if code in _NAMES else code  # type: ignore[arg-type]
        raise InvalidArgumentError(
            f"{field}.dtype: expected DATA_TYPE_FLOAT16, _FLOAT32, _FLOAT64 or _INT64, got {name}",
            field=f"{field}.dtype",
        )
    # Sizes first, in Python integers (no int64 overflow), before anything is allocated.
    shape = tuple(tensor.shape)
    if len(shape) > MAX_NDIM:
        raise InvalidArgumentError(
            f"{field}.shape: at most {MAX_NDIM} dimensions, got {len(shape)}",
            field=f"{field}.shape",
        )
    if any(d < 0 for d in shape):
        raise InvalidArgumentError(
            f"{field}.shape: dimensions must be >= 0, got {list(shape)}", field=f"{field}.shape"
        )
    # A dimension beyond the element limit is refused even when another is 0 (an empty
    # array, but NumPy refuses shapes whose nominal byte count overflows).
    limit = _MAX_DIM if max_elements is None else max_elements
    count = math.prod(shape)
    if count > limit or any(d > limit for d in shape):
        raise ResourceExhaustedError(
            f"{field}.shape: {list(shape)} holds {count} elements (largest dimension "
            f"{max(shape)}), more than the limit of {limit}",
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
        if not arr.flags.aligned:  # a view into a larger message (WireTensor)
            arr = arr.copy()
            arr.flags.writeable = False  # read-only, like every other decoded array
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
            whole = np.isfinite(doubles) & (doubles == np.round(doubles))
            if not np.all(whole & (doubles >= -_INT64_BOUND) & (doubles < _INT64_BOUND)):
                raise InvalidArgumentError(
                    f"{field}.double_data: int64 tensors need whole numbers in [-2^63, 2^63)",
                    field=f"{field}.double_data",
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


# ---------------------------------------------------------------------------
# The large-tensor fast path: wire bytes written from, and read into, array buffers
# ---------------------------------------------------------------------------

#: Messages whose tensors hold at least this many bytes take the fast path; below it
#: protobuf's C code is as fast and the copies cost nothing worth saving.
FAST_PATH_BYTES = 1 << 16

_LEN = 2  # the wire type of bytes, strings, sub-messages and packed repeated fields


def varint(n: int) -> bytes:
    """``n`` (>= 0, or a negative int64 as its two's complement) as a protobuf varint."""
    n &= (1 << 64) - 1
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def tensor_wire(array: Any) -> tuple[list[bytes | memoryview], int]:
    """A Tensor's wire bytes (without its own key and length) as parts to join, and
    their total length: a small header, then a view of the array's own buffer (no copy
    unless ``wire_array`` must convert). Field order and encoding are protobuf's."""
    code, arr = wire_array(array)
    head = bytearray(b"\x08" + varint(code))
    if arr.ndim:
        packed = b"".join(varint(d) for d in arr.shape)
        head += b"\x12" + varint(len(packed)) + packed
    if not arr.nbytes:
        return [bytes(head)], len(head)
    head += b"\x1a" + varint(arr.nbytes)
    body = memoryview(arr.reshape(-1).view(np.uint8))  # type: ignore[arg-type]
    return [bytes(head), body], len(head) + arr.nbytes


def length_delimited(field: int, parts: list[bytes | memoryview], size: int) -> list:
    """``parts`` (``size`` bytes in all) as one length-delimited field of a message."""
    return [varint(field << 3 | _LEN) + varint(size), *parts]


class WireTensor:
    """A Tensor read from a message's bytes by ``read_tensor``: ``raw_data`` is a
    memoryview of those bytes, so ``from_tensor`` makes an array without copying."""

    __slots__ = ("dtype", "raw_data", "shape")
    double_data = int64_data = ()

    def __init__(self, dtype: int, shape: tuple[int, ...], raw_data: memoryview):
        self.dtype = dtype
        self.shape = shape
        self.raw_data = raw_data


class NotFast(Exception):
    """The message uses an encoding the fast reader leaves to protobuf (typed data,
    a repeated singular field, groups): the caller parses it with protobuf instead."""


def _read_varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise NotFast("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def read_fields(buf: memoryview, pos: int, end: int):
    """Yields (field number, wire type, value) of a message's bytes ``buf[pos:end]``:
    an int for varints, (start, stop) offsets for length-delimited fields, None for
    fixed-size ones (skipped)."""
    while pos < end:
        key, pos = _read_varint(buf, pos, end)
        field, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _read_varint(buf, pos, end)
            yield field, wire_type, value
        elif wire_type == _LEN:
            size, pos = _read_varint(buf, pos, end)
            if pos + size > end:
                raise NotFast("truncated field")
            yield field, wire_type, (pos, pos + size)
            pos += size
        elif wire_type in (1, 5):
            pos += 8 if wire_type == 1 else 4
            if pos > end:
                raise NotFast("truncated field")
            yield field, wire_type, None
        else:
            raise NotFast(f"wire type {wire_type}")


def _signed(n: int) -> int:
    return n - (1 << 64) if n >> 63 else n


def read_tensor(buf: memoryview, start: int, stop: int) -> WireTensor:
    """The Tensor in ``buf[start:stop]``, its raw_data a view (NotFast for typed data
    or a field given twice)."""
    dtype, shape, raw = 0, [], None
    seen = set()
    for field, wire_type, value in read_fields(buf, start, stop):
        if field == 1 and wire_type == 0 and field not in seen:
            dtype = value
        elif field == 2 and wire_type == _LEN:
            s, e = value
            while s < e:
                dim, s = _read_varint(buf, s, e)
                shape.append(_signed(dim))
        elif field == 2 and wire_type == 0:
            shape.append(_signed(value))
        elif field == 3 and wire_type == _LEN and field not in seen:
            raw = buf[value[0] : value[1]]
        elif field in (1, 2, 3, 4, 5):
            raise NotFast(f"Tensor field {field} in a form the fast path leaves to protobuf")
        seen.add(field)
    return WireTensor(dtype, tuple(shape), raw if raw is not None else buf[0:0])
