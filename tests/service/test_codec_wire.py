"""The large-tensor fast path is wire-compatible with protobuf, both ways, in the SDK
and in the server.

Messages with large tensors are written by hand around the arrays' buffers
(codec.tensor_wire: the SDK's requests, _calls._compute_request; the server's
responses, codec.encode_message) and read as views of the received bytes
(codec.read_message: the SDK's responses, Request.read; the server's requests). The
truth here is protobuf itself: the generated classes serialize and parse the same
messages.
"""

from __future__ import annotations

import numpy as np
import pytest

import nnfunc
from nnfunc import _calls, codec
from nnfunc.codec import FAST_PATH_BYTES, NotFast, from_tensor, to_tensor
from nnfunc.v1 import function_service_pb2 as pb
from nnfunc.v1 import tensor_pb2

BIG = FAST_PATH_BYTES // 4 + 7  # float32 elements: over the threshold, an odd count


def _protobuf_request(method: str, function: str, inputs, params=None, grad_output=None):
    """The same request built the ordinary way, through protobuf."""
    message = _calls._MESSAGES[method](function=function)
    for a in inputs:
        to_tensor(a, out=message.inputs.add())
    codec.to_parameters(params or {}, message.parameters)
    if grad_output is not None:
        to_tensor(grad_output, out=message.grad_output)
    return message


def _data_offsets(data: bytes, message_type) -> list[int]:
    """Where the data of each large tensor of ``data`` starts, as the fast reader finds it."""
    message = codec.read_message(data, message_type)
    assert isinstance(message, codec.WireMessage)  # the fast path was taken
    base = np.frombuffer(data, np.uint8).ctypes.data
    found = []
    for name in ("inputs", "gradients", "output", "value", "grad_output"):
        if name not in message._tensors:
            continue
        tensors = message._tensors[name]
        for t in tensors if isinstance(tensors, list) else [tensors]:
            if len(t.raw_data) >= FAST_PATH_BYTES:
                found.append(np.frombuffer(t.raw_data, np.uint8).ctypes.data - base)
    return found


def _is_protobufs_message(data: bytes, expected) -> None:
    """``data`` parses to ``expected``, which protobuf writes back as its own bytes (no
    unknown field was kept), and its large tensors' data is ALIGN-aligned."""
    got = type(expected).FromString(data)
    assert got == expected
    assert got.SerializeToString(deterministic=True) == expected.SerializeToString(
        deterministic=True
    )
    assert all(offset % codec.ALIGN == 0 for offset in _data_offsets(data, type(expected)))


@pytest.mark.parametrize(
    "shape, dtype",
    [
        ((BIG,), np.float32),
        ((3, BIG), np.float64),
        ((BIG, 1, 2), np.float16),
        ((0, BIG), np.float32),
    ],
)
def test_a_large_request_is_the_message_protobuf_writes(shape, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    req = _calls.request.gradient("leaky_relu", x, grad_output=g, negative_slope=0.25)
    expected = _protobuf_request("Gradient", "leaky_relu", [x], {"negative_slope": 0.25}, g)
    assert req._parts is not None and req._message is None  # written by hand
    if x.nbytes + g.nbytes >= FAST_PATH_BYTES:
        _is_protobufs_message(req.wire(), expected)
    assert pb.GradientRequest.FromString(req.wire()) == expected
    assert req.message == expected  # built lazily, from the same bytes


def test_large_requests_with_several_inputs_and_a_tensor_parameter_match_protobuf():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((64, 300)).astype(np.float32)
    target = rng.integers(0, 300, size=64)  # int32/int64 -> travels as int64
    weight = rng.uniform(0.5, 2, size=300).astype(np.float32)
    req = _calls.request.loss("cross_entropy", logits, target, weight=weight, ignore_index=-100)
    expected = _protobuf_request(
        "Loss", "cross_entropy", [logits, target], {"weight": weight, "ignore_index": -100}
    )
    assert req._parts is not None
    _is_protobufs_message(req.wire(), expected)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_large_tensors_are_aligned_wherever_they_start(ndim):
    shape = (2 * BIG,) + (1,) * (ndim - 1)
    for dtype in (np.float16, np.float32, np.float64):
        x = np.ones(shape, dtype)
        for n in range(1, 17):  # names of every length move the tensors
            req = _calls.request.gradient("f" * n, x, grad_output=x)
            _is_protobufs_message(req.wire(), _protobuf_request("Gradient", "f" * n, [x], {}, x))
            names = ["a" * k for k in range(n)]
            data = codec.encode_message([(2, np.float64(n)), (2, x), *((3, a) for a in names)])
            expected = pb.LossResponse(
                gradients=[to_tensor(np.float64(n)), to_tensor(x)], input_names=names
            )
            _is_protobufs_message(data, expected)
            assert len(_data_offsets(data, pb.LossResponse)) == 1


def test_aligned_tensors_are_read_as_views_both_ways():
    x = np.arange(BIG, dtype=np.float64).reshape(1, -1)
    data = codec.encode_message([(1, x)])  # a response the server writes
    y = _calls.request.evaluate("relu", x).read(data)
    np.testing.assert_array_equal(y, x)
    assert np.shares_memory(y, np.frombuffer(data, np.uint8))  # no aligning copy
    data = _calls.request.evaluate("relu", x).wire()  # a request the SDK writes
    (t,) = codec.read_message(data, pb.EvaluateRequest).inputs
    assert np.shares_memory(from_tensor(t), np.frombuffer(data, np.uint8))


def test_arrays_that_need_converting_are_converted_like_to_tensor():
    base = np.arange(2 * BIG, dtype=np.float64).reshape(2, BIG)
    for x in (base.T, base[:, ::2], base.astype(">f8"), base.astype(np.int32)):
        req = _calls.request.evaluate("relu", x)
        _is_protobufs_message(req.wire(), _protobuf_request("Evaluate", "relu", [x]))


def test_small_requests_are_protobufs_bytes_too():
    x = np.ones(8, np.float32)
    for req, expected in (
        (_calls.request.evaluate("relu", x), _protobuf_request("Evaluate", "relu", [x])),
        (
            _calls.request.gradient("elu", x, grad_output=x, alpha=0.5),
            _protobuf_request("Gradient", "elu", [x], {"alpha": 0.5}, x),
        ),
        (_calls.request.loss("", x, x), _protobuf_request("Loss", "", [x, x])),
    ):
        assert req.wire() == expected.SerializeToString()
        assert req.message == expected


def test_bad_inputs_fail_the_same_way_on_both_paths():
    for n in (8, BIG):
        with pytest.raises(nnfunc.InvalidArgumentError) as e:
            _calls.request.evaluate("relu", np.ones(n, np.float32), np.array(["a"]))
        assert e.value.field == "inputs[1]"
        with pytest.raises(nnfunc.InvalidArgumentError) as e:
            _calls.request.evaluate("relu", np.ones(n, np.float32), alpha=object())
        assert e.value.field == "parameters.alpha"


def test_repr_does_not_need_the_whole_message():
    req = _calls.request.evaluate("relu", np.ones(BIG, np.float32))
    assert repr(req) == "<nnfunc.Request Evaluate 'relu'>" and req._message is None


# -- reading ----------------------------------------------------------------------------


def _response_bytes(arrays, kind="Gradient", names=("input",)):
    if kind == "Evaluate":
        return pb.EvaluateResponse(output=to_tensor(arrays[0])).SerializeToString()
    if kind == "Loss":
        msg = pb.LossResponse(value=to_tensor(arrays[0]), input_names=list(names))
        for a in arrays[1:]:
            to_tensor(a, out=msg.gradients.add())
        return msg.SerializeToString()
    msg = pb.GradientResponse(input_names=list(names))
    for a in arrays:
        to_tensor(a, out=msg.gradients.add())
    return msg.SerializeToString()


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int64])
@pytest.mark.parametrize("shape", [(BIG,), (4, BIG // 4 + 1), (BIG, 1)])
def test_responses_read_by_the_fast_path_equal_protobufs_reading(shape, dtype):
    x = (np.random.default_rng(2).standard_normal(shape) * 100).astype(dtype)
    data = _response_bytes([x], "Evaluate")
    req = _calls.request.evaluate("relu", x)
    message = codec.read_message(data, pb.EvaluateResponse)
    # the fast path is taken from FAST_PATH_BYTES on
    assert isinstance(message, codec.WireMessage) == (len(data) >= FAST_PATH_BYTES)
    fast = _calls.decode_evaluate(message)
    slow = _calls.decode_evaluate(pb.EvaluateResponse.FromString(data))
    got = req.read(data)
    for y in (fast, got):
        assert y.dtype == slow.dtype and y.shape == slow.shape
        np.testing.assert_array_equal(y, slow)
        assert y.flags.aligned and y.dtype.isnative


def test_an_aligned_tensor_is_a_view_and_a_misaligned_one_an_aligned_copy():
    x = np.arange(BIG, dtype=np.float64)
    for offset in (0, 8, 3, 5):
        buf = bytearray(offset) + bytearray(x.tobytes())
        raw = memoryview(bytes(buf))[offset:]
        t = codec.WireTensor(tensor_pb2.DATA_TYPE_FLOAT64, (BIG,), raw)
        y = from_tensor(t, "output")
        np.testing.assert_array_equal(y, x)
        assert y.flags.aligned and not y.flags.writeable
        base_aligned = np.frombuffer(raw, np.uint8).ctypes.data % 8 == 0
        assert np.shares_memory(y, np.frombuffer(raw, np.uint8)) == base_aligned


def test_loss_and_gradient_responses_read_alike_both_ways():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, BIG)).astype(np.float32)
    value = np.float32(1.5)
    data = _response_bytes([value, a, b], "Loss", names=("input1", "input2"))
    req = _calls.request.loss("margin_ranking_loss", a, b, np.ones(BIG, np.float32))
    got = req.read(data)
    slow = _calls.decode_loss(pb.LossResponse.FromString(data))
    assert got.input_names == slow.input_names == ("input1", "input2")
    np.testing.assert_array_equal(got.value, slow.value)
    for x, y in zip(got.grads, slow.grads, strict=True):
        np.testing.assert_array_equal(x, y)
    grads = _calls.request.gradient("prelu", a, b).read(
        _response_bytes([a, b], names=("input", "weight"))
    )
    assert isinstance(grads, tuple) and len(grads) == 2
    np.testing.assert_array_equal(grads[1], b)


def test_unusual_encodings_fall_back_to_protobuf():
    x = np.arange(BIG, dtype=np.float32)
    t = to_tensor(x)
    req = _calls.request.evaluate("relu", x)
    # typed data: protobuf's path (the fast reader refuses it)
    typed = tensor_pb2.Tensor(dtype=t.dtype, shape=t.shape, double_data=x.astype(float).tolist())
    data = pb.EvaluateResponse(output=typed).SerializeToString()
    ((_, _, output),) = codec.read_fields(memoryview(data), 0, len(data))
    with pytest.raises(NotFast):
        codec.read_tensor(memoryview(data), *output)
    assert isinstance(codec.read_message(data, pb.EvaluateResponse), pb.EvaluateResponse)
    np.testing.assert_array_equal(req.read(data), x)
    # a sub-message given twice merges in protobuf: the fast reader leaves it alone
    half = pb.EvaluateResponse(output=tensor_pb2.Tensor(dtype=t.dtype)).SerializeToString()
    twice = half + pb.EvaluateResponse(output=t).SerializeToString()
    assert isinstance(codec.read_message(twice, pb.EvaluateResponse), pb.EvaluateResponse)
    np.testing.assert_array_equal(req.read(twice), x)
    # unpacked shape and an unknown field are fine for both
    unpacked = bytearray(b"\x08\x02\x10") + codec.varint(BIG)
    unpacked += b"\x1a" + codec.varint(x.nbytes) + x.tobytes() + b"\xf8\x01\x05"
    data = b"\x0a" + codec.varint(len(unpacked)) + bytes(unpacked)
    assert pb.EvaluateResponse.FromString(data).output.shape == [BIG]
    np.testing.assert_array_equal(req.read(data), x)


def test_a_response_that_disagrees_with_its_shape_is_refused_like_before():
    x = np.arange(BIG, dtype=np.float32)
    t = to_tensor(x)
    t.shape[:] = [BIG + 1]
    data = pb.EvaluateResponse(output=t).SerializeToString()
    with pytest.raises(nnfunc.InvalidArgumentError, match=r"output\.raw_data"):
        _calls.request.evaluate("relu", x).read(data)


def test_varint_matches_protobufs_encoding():
    from google.protobuf.internal import encoder

    for n in (0, 1, 127, 128, 300, 2**31, 2**63 - 1):
        assert codec.varint(n) == encoder._VarintBytes(n)
    assert codec.varint(-1) == encoder._VarintBytes((1 << 64) - 1)


# -- the server's side: requests read as views, responses written around the arrays -----


@pytest.mark.parametrize(
    "arrays",
    [
        [np.float32(1.5)],  # 0-d
        [np.zeros((0, 3))],  # empty
        [np.arange(5, dtype=np.float16)],
        [np.arange(BIG, dtype=np.float32).reshape(1, -1)],  # large
        [np.arange(12, dtype=np.int64).reshape(3, 4), np.ones(3, np.int32)],  # int32 -> int64
    ],
)
def test_encoded_responses_are_protobufs_messages(arrays):
    """Small ones byte for byte; large ones with their data aligned."""

    def check(fields, expected):
        data = codec.encode_message(fields)
        if sum(np.asarray(a).nbytes for a in arrays) < FAST_PATH_BYTES:
            assert data == expected.SerializeToString()
        else:
            _is_protobufs_message(data, expected)

    check([(1, arrays[0])], pb.EvaluateResponse(output=to_tensor(arrays[0])))
    names = [f"input{k}" for k in range(len(arrays))]
    check(
        [*((1, a) for a in arrays), *((2, n) for n in names)],
        pb.GradientResponse(gradients=[to_tensor(a) for a in arrays], input_names=names),
    )
    check(
        [(1, np.float64(0.25)), *((2, a) for a in arrays), (3, "")],
        pb.LossResponse(
            value=to_tensor(np.float64(0.25)),
            gradients=[to_tensor(a) for a in arrays],
            input_names=[""],
        ),
    )


def _same_request(got, expected) -> None:
    assert got.function == expected.function
    assert dict(got.parameters) == dict(expected.parameters)
    assert len(got.inputs) == len(expected.inputs)
    for a, b in zip(got.inputs, expected.inputs, strict=True):
        np.testing.assert_array_equal(from_tensor(a), from_tensor(b))
        assert from_tensor(a).dtype == from_tensor(b).dtype
    if hasattr(expected, "grad_output"):
        assert got.HasField("grad_output") == expected.HasField("grad_output")
        np.testing.assert_array_equal(
            from_tensor(got.grad_output) if got.HasField("grad_output") else 0,
            from_tensor(expected.grad_output) if expected.HasField("grad_output") else 0,
        )


def test_large_requests_are_read_as_views_like_protobuf_reads_them():
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((64, 300)).astype(np.float32)
    target = rng.integers(0, 300, size=64)
    weight = rng.uniform(0.5, 2, size=300)
    req = _calls.request.loss("cross_entropy", logits, target, weight=weight, label_smoothing=0.1)
    data = req.wire()
    got = codec.read_message(data, pb.LossRequest)
    assert isinstance(got, codec.WireMessage)
    assert all(t.raw_data.obj is data for t in got.inputs)  # views of the bytes received
    _same_request(got, pb.LossRequest.FromString(data))
    x = rng.standard_normal(BIG).astype(np.float32)
    for g in (None, np.ones_like(x)):
        data = _calls.request.gradient("leaky_relu", x, grad_output=g, negative_slope=0.5).wire()
        got = codec.read_message(data, pb.GradientRequest)
        assert isinstance(got, codec.WireMessage)
        _same_request(got, pb.GradientRequest.FromString(data))
    # small requests are protobuf's
    small = _calls.request.evaluate("relu", x[:8]).wire()
    assert isinstance(codec.read_message(small, pb.EvaluateRequest), pb.EvaluateRequest)


def test_requests_the_fast_reader_leaves_alone_are_protobufs():
    x = np.arange(BIG, dtype=np.float32)
    t = to_tensor(x)
    twice = (
        pb.GradientRequest(function="relu", inputs=[t], grad_output=t).SerializeToString()
        + pb.GradientRequest(grad_output=tensor_pb2.Tensor(shape=[1])).SerializeToString()
    )
    got = codec.read_message(twice, pb.GradientRequest)  # grad_output merged by protobuf
    assert isinstance(got, pb.GradientRequest) and list(got.grad_output.shape) == [BIG, 1]
    typed = tensor_pb2.Tensor(dtype=t.dtype, shape=t.shape, double_data=x.tolist())
    data = pb.EvaluateRequest(function="relu", inputs=[typed]).SerializeToString()
    assert isinstance(codec.read_message(data, pb.EvaluateRequest), pb.EvaluateRequest)
    # keys protobuf refuses (field 0, an overlong tag) are refused the same way
    from google.protobuf.message import DecodeError

    body = t.SerializeToString()
    for bad in (
        b"\x12" + codec.varint(len(body) + 2) + b"\x00\x01" + body,
        b"\x92\x80\x80\x80\x80\x00" + codec.varint(len(body)) + body,
    ):
        with pytest.raises(DecodeError):
            pb.EvaluateRequest.FromString(bad)
        with pytest.raises(DecodeError):
            codec.read_message(bad, pb.EvaluateRequest)
    # an enum beyond int32 is read as protobuf reads it: its low 32 bits
    huge = bytearray(b"\x08") + codec.varint((1 << 32) + 2)
    huge += b"\x12\x03" + codec.varint(BIG) + b"\x1a" + codec.varint(x.nbytes) + x.tobytes()
    data = b"\x12" + codec.varint(len(huge)) + bytes(huge)
    fast = codec.read_message(data, pb.EvaluateRequest)
    assert isinstance(fast, codec.WireMessage)
    assert fast.inputs[0].dtype == pb.EvaluateRequest.FromString(data).inputs[0].dtype == 2


# -- end to end --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(address):
    with nnfunc.Client(address, timeout=30) as c:
        yield c


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_calls_round_trip_through_the_server(client, dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, BIG)).astype(dtype)
    y = client.evaluate("sigmoid", x)
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-x.astype(np.float64))), rtol=1e-6)
    g = client.gradient("tanh", x, grad_output=np.ones_like(x))
    np.testing.assert_allclose(g, 1 - np.tanh(x.astype(np.float64)) ** 2, rtol=1e-5, atol=1e-7)
    r = client.loss("mse_loss", x, np.zeros_like(x))
    np.testing.assert_allclose(r.value, np.mean(x.astype(np.float64) ** 2), rtol=1e-5)
    np.testing.assert_allclose(r.grad, 2 * x / x.size, rtol=1e-5)


def test_large_requests_go_into_a_batch(client):
    x = np.linspace(-3, 3, BIG, dtype=np.float32)
    small = np.array([-1.0, 2.0], np.float32)
    out = client.batch([client.request.evaluate("relu", x), client.request.evaluate("relu", small)])
    np.testing.assert_array_equal(out[0], np.maximum(x, 0))
    np.testing.assert_array_equal(out[1], [0, 2])


def test_the_server_reads_large_requests_protobuf_would_merge_or_type(address):
    import grpc

    from nnfunc.v1.function_service_pb2_grpc import FunctionServiceStub

    x = np.linspace(-3, 3, BIG)
    t = to_tensor(x)
    typed = tensor_pb2.Tensor(dtype=t.dtype, shape=t.shape, double_data=x.tolist())
    column = to_tensor(x.reshape(-1, 1))
    twice = (  # grad_output given twice: protobuf merges the two, shape [BIG] + [1]
        pb.GradientRequest(function="relu", inputs=[column], grad_output=t).SerializeToString()
        + pb.GradientRequest(grad_output=tensor_pb2.Tensor(shape=[1])).SerializeToString()
    )
    with grpc.insecure_channel(address) as ch:
        stub = FunctionServiceStub(ch)
        out = stub.Evaluate(pb.EvaluateRequest(function="relu", inputs=[typed]), timeout=30)
        np.testing.assert_array_equal(from_tensor(out.output), np.maximum(x, 0))
        gradient = ch.unary_unary(
            "/nnfunc.v1.FunctionService/Gradient",
            response_deserializer=pb.GradientResponse.FromString,
        )
        (g,) = gradient(twice, timeout=30).gradients
        np.testing.assert_array_equal(from_tensor(g).ravel(), np.where(x > 0, x, 0.0))


async def _aio_round_trip(address, x):
    async with nnfunc.AsyncClient(address, timeout=30) as c:
        return await c.evaluate("relu", x)


def test_the_async_client_takes_the_fast_path_too(address):
    import asyncio

    x = np.linspace(-3, 3, BIG, dtype=np.float64)
    np.testing.assert_array_equal(asyncio.run(_aio_round_trip(address, x)), np.maximum(x, 0))
