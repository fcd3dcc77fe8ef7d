"""ndarray <-> wire conversion, shared by the SDK and the server.

Tensors travel as raw little-endian C-order bytes (``Tensor.raw_data``): encoding is
one ``tobytes``, decoding one ``np.frombuffer`` (no copy; the array is read-only).
The typed ``double_data``/``int64_data`` fields are accepted for hand-written calls.
Decoding validates the dtype, the shape and the byte count before touching the data,
and raises ``InvalidArgumentError``/``ResourceExhaustedError`` naming the field.

The fast path (see the end of this module) skips protobuf's own copies both ways, in
the SDK and in the server: ``tensor_field`` gives a Tensor field's wire bytes as small
headers plus a view of the array's buffer, joined once (the SDK's requests, the
server's responses, ``encode_message``); ``read_message`` reads a message's large
tensors as ``WireTensor`` views of the received bytes (the server's requests, the SDK's
responses). Large tensors' data is placed 8-byte aligned in the message, so that those
views need no aligning copy: the bytes are then not protobuf's to the byte (padding,
see ``_tensor_head``), but protobuf parses them as the same message; small messages
are protobuf's bytes exactly (tests/service/test_codec_wire.py).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
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


#: The wire dtypes themselves (and their native spellings), which need no converting.
_AS_IS: dict[np.dtype, int] = {dt: code for code, dt in DTYPES.items()}


def wire_array(array: Any) -> tuple[int, np.ndarray]:
    """(DataType, the array as it travels: C-contiguous, little-endian, a wire dtype);
    a copy only when ``array`` is not already that."""
    arr = np.asarray(array)
    code = _AS_IS.get(arr.dtype)
    if code is None:
        code = wire_dtype(arr.dtype)
    return code, np.asarray(arr, DTYPES[code], order="C")


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
    shape = tuple(tensor.shape[:])  # a slice first: protobuf's containers iterate slowly
    if len(shape) > MAX_NDIM:
        raise InvalidArgumentError(
            f"{field}.shape: at most {MAX_NDIM} dimensions, got {len(shape)}",
            field=f"{field}.shape",
        )
    if shape and min(shape) < 0:
        raise InvalidArgumentError(
            f"{field}.shape: dimensions must be >= 0, got {list(shape)}",
            field=f"{field}.shape",
        )
    # A dimension beyond the element limit is refused even when another is 0 (an empty
    # array, but NumPy refuses shapes whose nominal byte count overflows); with no 0,
    # every dimension is at most the count.
    limit = _MAX_DIM if max_elements is None else max_elements
    count = math.prod(shape)
    if count > limit or (not count and shape and max(shape) > limit):
        raise ResourceExhaustedError(
            f"{field}.shape: {list(shape)} holds {count} elements (largest dimension "
            f"{max(shape, default=0)}), more than the limit of {limit}",
            field=f"{field}.shape",
        )
    raw = tensor.raw_data  # every read of a bytes field copies it: read once
    if len(tensor.double_data) or len(tensor.int64_data):
        arr = _typed(tensor, bool(raw), dtype, shape, count, field)
    else:
        expected = count * dtype.itemsize
        if len(raw) != expected:
            raise InvalidArgumentError(
                f"{field}.raw_data: shape {list(shape)} of {dtype.name} needs {expected} "
                f"bytes, got {len(raw)}",
                field=f"{field}.raw_data",
            )
        arr = np.frombuffer(raw, dtype)
        # a view into a larger message (WireTensor) may be unaligned; bytes never are
        if type(raw) is not bytes and not arr.flags.aligned:
            arr = arr.copy()
            arr.flags.writeable = False  # read-only, like every other decoded array
    if len(shape) != 1:
        arr = arr.reshape(shape)
    return arr if dtype.isnative else arr.astype(dtype.newbyteorder("="))


def _typed(
    tensor: tensor_pb2.Tensor | WireTensor,
    has_raw: bool,
    dtype: np.dtype,
    shape: tuple[int, ...],
    count: int,
    field: str,
) -> np.ndarray:
    """The values of the typed fields (double_data or int64_data), validated, as a
    flat array of ``dtype``."""
    used = [
        name
        for name, present in (
            ("raw_data", has_raw),
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
    source = used[0]
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
        return doubles.astype(np.int64)
    arr = np.asarray(values, dtype=np.float64 if source == "double_data" else np.int64)
    return arr.astype(dtype, copy=False)


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
_ONE_BYTE = tuple(bytes((n,)) for n in range(0x80))  # the varints of 0 to 127


def varint(n: int) -> bytes:
    """``n`` (>= 0, or a negative int64 as its two's complement) as a protobuf varint."""
    if 0 <= n < 0x80:
        return _ONE_BYTE[n]
    n &= (1 << 64) - 1
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


#: A large tensor's data (FAST_PATH_BYTES and up) starts at a multiple of ALIGN bytes
#: from the start of the message the codec writes, so that a reader whose buffer
#: starts aligned (CPython's bytes objects do) views it in place, where an unaligned
#: one must be copied into an aligned array (``from_tensor``).
ALIGN = 8
_PAD = b"\x22\x00"  # an empty packed Tensor.double_data: 2 bytes, no values


def tensor_field(field: int, array: Any, at: int = 0) -> tuple[list[bytes | memoryview], int]:
    """A Tensor field of a message (its key, its length, the Tensor) as parts to join,
    and their total length: small headers, then a view of the array's own buffer (no
    copy unless ``wire_array`` must convert; small arrays as bytes, which is cheaper).
    ``at`` is where the field starts in its message: a large array's data is placed at
    a multiple of ALIGN from the message's start (see ``_tensor_head``)."""
    code, arr = wire_array(array)
    nbytes, shape = arr.nbytes, arr.shape
    key = varint(field << 3 | _LEN)
    head = _tensor_head(code, shape, nbytes, None)
    if nbytes < FAST_PATH_BYTES:
        body: bytes | memoryview = arr.tobytes()
    else:
        body = memoryview(arr.reshape(-1).view(np.uint8))  # type: ignore[arg-type]
        # The padding depends on where the Tensor starts, after the field's length,
        # whose size depends on the padding: two rounds settle it (one almost always).
        canonical = head
        for _ in range(2):
            size_bytes = len(varint(len(head) + nbytes))
            head = _tensor_head(code, shape, nbytes, (at + len(key) + size_bytes) % ALIGN)
            if len(varint(len(head) + nbytes)) == size_bytes:
                break
        else:
            head = canonical  # unaligned, still the same message
    size = len(head) + nbytes
    prefix = key + varint(size)
    return [prefix, head, body], len(prefix) + size


@functools.lru_cache(maxsize=1024)
def _tensor_head(code: int, shape: tuple[int, ...], nbytes: int, at: int | None) -> bytes:
    """A Tensor's bytes before its data (dtype, shape, raw_data's key and length): the
    same for every array of one dtype and shape, so made once for each.

    ``at`` None: protobuf's own bytes. Else the head starts ``at`` bytes past a
    multiple of ALIGN and is padded to end at one: with empty packed double_data
    fields (2 bytes each) and, to change the parity, the first dimension written as an
    unpacked element. Every protobuf parser reads these as the same message (an empty
    repeated field; a repeated field in pieces, packed or not, fields in any order);
    ``read_tensor`` takes them as they are."""
    dims = [varint(d) for d in shape]
    dtype = b"\x08" + varint(code)
    raw = b"\x1a" + varint(nbytes) if nbytes else b""
    packed = _packed_shape(dims)
    if at is not None and dims:
        for shape_bytes in (packed, b"\x10" + dims[0] + _packed_shape(dims[1:])):
            gap = -(at + len(dtype) + len(shape_bytes) + len(raw)) % ALIGN
            if gap % 2 == 0:
                return dtype + shape_bytes + _PAD * (gap // 2) + raw
    return dtype + packed + raw


def _packed_shape(dims: list[bytes]) -> bytes:
    """Tensor.shape as one packed field, from its dimensions' varints."""
    if not dims:
        return b""
    packed = b"".join(dims)
    return b"\x12" + varint(len(packed)) + packed


def encode_message(fields: Iterable[tuple[int, Any]]) -> bytes:
    """A message's wire bytes from (field number, value) pairs, given in field-number
    order (protobuf's): an array (anything ``wire_array`` takes) is a Tensor field, a
    str an element of a repeated string field. Each array is copied once, into the
    result, where protobuf copies it three times. Protobuf parses the result as the
    message it would write itself (for small arrays, the very same bytes)."""
    parts: list[bytes | memoryview] = []
    at = 0
    for number, value in fields:
        if isinstance(value, str):
            value = value.encode()
            head = varint(number << 3 | _LEN) + varint(len(value))
            parts += (head, value)
            at += len(head) + len(value)
        else:
            tensor, size = tensor_field(number, value, at)
            parts += tensor
            at += size
    return b"".join(parts)


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


def _read_field(buf: memoryview, pos: int, end: int) -> tuple[int, int, Any, int]:
    """The field starting at ``pos``: (field number, wire type, value, where the next
    field starts); the value as ``read_fields`` gives it."""
    key, after = _read_varint(buf, pos, end)
    if key < 8 or key > 0xFFFFFFFF or after - pos > 5:
        raise NotFast("a field key protobuf refuses")  # field 0, too large, or overlong
    field, wire_type, pos = key >> 3, key & 7, after
    if wire_type == 0:
        value, pos = _read_varint(buf, pos, end)
        return field, wire_type, value, pos
    if wire_type == _LEN:
        size, pos = _read_varint(buf, pos, end)
        if pos + size > end:
            raise NotFast("truncated field")
        return field, wire_type, (pos, pos + size), pos + size
    if wire_type in (1, 5):
        pos += 8 if wire_type == 1 else 4
        if pos > end:
            raise NotFast("truncated field")
        return field, wire_type, None, pos
    raise NotFast(f"wire type {wire_type}")


def read_fields(buf: memoryview, pos: int, end: int):
    """Yields (field number, wire type, value) of a message's bytes ``buf[pos:end]``:
    an int for varints, (start, stop) offsets for length-delimited fields, None for
    fixed-size ones (skipped)."""
    while pos < end:
        field, wire_type, value, pos = _read_field(buf, pos, end)
        yield field, wire_type, value


def _signed(n: int) -> int:
    return n - (1 << 64) if n >> 63 else n


def _int32(n: int) -> int:
    """A varint as protobuf reads it into an int32 field (an enum): its low 32 bits."""
    n &= 0xFFFFFFFF
    return n - (1 << 32) if n >> 31 else n


def read_tensor(buf: memoryview, start: int, stop: int) -> WireTensor:
    """The Tensor in ``buf[start:stop]``, its raw_data a view (NotFast for typed data
    or a field given twice)."""
    dtype, shape, raw = 0, [], None
    seen = set()
    for field, wire_type, value in read_fields(buf, start, stop):
        if field == 1 and wire_type == 0 and field not in seen:
            dtype = _int32(value)
        elif field == 2 and wire_type == _LEN:
            s, e = value
            while s < e:
                dim, s = _read_varint(buf, s, e)
                shape.append(_signed(dim))
        elif field == 2 and wire_type == 0:
            shape.append(_signed(value))
        elif field == 3 and wire_type == _LEN and field not in seen:
            raw = buf[value[0] : value[1]]
        elif field in (4, 5) and wire_type == _LEN and value[0] == value[1]:
            pass  # an empty packed double_data or int64_data: padding (_tensor_head)
        elif field in (1, 2, 3, 4, 5):
            raise NotFast(f"Tensor field {field} in a form the fast path leaves to protobuf")
        seen.add(field)
    return WireTensor(dtype, tuple(shape), raw if raw is not None else buf[0:0])


_TENSOR = tensor_pb2.Tensor.DESCRIPTOR.full_name


@functools.cache
def _tensor_fields(message_type: Any) -> dict[int, tuple[str, bool]]:
    """The Tensor fields of a message type: number -> (name, repeated)."""
    return {
        f.number: (f.name, f.is_repeated)
        for f in message_type.DESCRIPTOR.fields
        if f.message_type is not None and f.message_type.full_name == _TENSOR
    }


class WireMessage:
    """A message read by ``read_message``: its Tensor fields are WireTensors (a list
    for a repeated field), every other field is read from the protobuf message parsed
    from the rest of the bytes. It reads like that message: attributes and HasField."""

    __slots__ = ("_message", "_tensors")

    def __init__(self, message: Any, tensors: dict[str, Any]):
        self._message = message
        self._tensors = tensors

    def __getattr__(self, name: str) -> Any:
        tensors = self._tensors
        return tensors[name] if name in tensors else getattr(self._message, name)

    def HasField(self, name: str) -> bool:  # protobuf's name
        return name in self._tensors or self._message.HasField(name)


def read_message(data: bytes, message_type: Any) -> Any:
    """``data`` as a ``message_type`` message. From FAST_PATH_BYTES on, its Tensor
    fields are read as views of ``data`` (a ``WireMessage``, no copy) and only the rest
    by protobuf; smaller messages, and encodings the fast reader leaves alone (typed
    data, a singular field given twice), entirely by protobuf."""
    if len(data) >= FAST_PATH_BYTES and (fields := _tensor_fields(message_type)):
        try:
            return _read_wire_message(memoryview(data), message_type, fields)
        except NotFast:
            pass
    return message_type.FromString(data)


def _read_wire_message(
    buf: memoryview, message_type: Any, fields: dict[int, tuple[str, bool]]
) -> WireMessage:
    tensors: dict[str, Any] = {name: [] for name, repeated in fields.values() if repeated}
    rest: list[memoryview] = []  # every other field, key included, for protobuf
    pos, end = 0, len(buf)
    while pos < end:
        start = pos
        field, wire_type, value, pos = _read_field(buf, pos, end)
        if field in fields and wire_type == _LEN:
            name, repeated = fields[field]
            tensor = read_tensor(buf, *value)
            if repeated:
                tensors[name].append(tensor)
            elif name in tensors:
                raise NotFast(f"{name} given twice: protobuf merges the two")
            else:
                tensors[name] = tensor
        else:
            rest.append(buf[start:pos])
    return WireMessage(message_type.FromString(b"".join(rest)), tensors)
