"""The SDK's large-tensor fast path is wire-compatible with protobuf, both ways.

Requests with large tensors are written by hand around the arrays' buffers
(codec.tensor_wire, _calls._compute_request); large responses are read as views of
the received bytes (codec.read_tensor, Request.read). The truth here is protobuf
itself: the generated classes serialize and parse the same messages.
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


@pytest.mark.parametrize(
    "shape, dtype",
    [
        ((BIG,), np.float32),
        ((3, BIG), np.float64),
        ((BIG, 1, 2), np.float16),
        ((0, BIG), np.float32),
    ],
)
def test_a_large_request_is_byte_for_byte_what_protobuf_writes(shape, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    req = _calls.request.gradient("leaky_relu", x, grad_output=g, negative_slope=0.25)
    expected = _protobuf_request("Gradient", "leaky_relu", [x], {"negative_slope": 0.25}, g)
    if x.nbytes + g.nbytes >= FAST_PATH_BYTES:
        assert req._parts is not None and req._message is None  # the fast path was taken
    assert req.wire() == expected.SerializeToString()
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
    assert pb.LossRequest.FromString(req.wire()) == expected
    assert req.wire() == expected.SerializeToString()


def test_arrays_that_need_converting_are_converted_like_to_tensor():
    base = np.arange(2 * BIG, dtype=np.float64).reshape(2, BIG)
    for x in (base.T, base[:, ::2], base.astype(">f8"), base.astype(np.int32)):
        req = _calls.request.evaluate("relu", x)
        expected = _protobuf_request("Evaluate", "relu", [x])
        assert req.wire() == expected.SerializeToString()


def test_small_requests_stay_protobuf_messages():
    req = _calls.request.evaluate("relu", np.ones(8, np.float32))
    assert req._parts is None and isinstance(req.message, pb.EvaluateRequest)
    assert req.wire() == req.message.SerializeToString()


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
    fast = _calls._FAST_READERS["Evaluate"](memoryview(data))
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
    with pytest.raises(NotFast):
        _calls._FAST_READERS["Evaluate"](memoryview(data))
    np.testing.assert_array_equal(req.read(data), x)
    # a sub-message given twice merges in protobuf: the fast reader leaves it alone
    half = pb.EvaluateResponse(output=tensor_pb2.Tensor(dtype=t.dtype)).SerializeToString()
    twice = half + pb.EvaluateResponse(output=t).SerializeToString()
    with pytest.raises(NotFast):
        _calls._FAST_READERS["Evaluate"](memoryview(twice))
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


async def _aio_round_trip(address, x):
    async with nnfunc.AsyncClient(address, timeout=30) as c:
        return await c.evaluate("relu", x)


def test_the_async_client_takes_the_fast_path_too(address):
    import asyncio

    x = np.linspace(-3, 3, BIG, dtype=np.float64)
    np.testing.assert_array_equal(asyncio.run(_aio_round_trip(address, x)), np.maximum(x, 0))
