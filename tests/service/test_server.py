"""The gRPC server through the wire: a real server (conftest), raw generated stubs.

Expected values come from closed forms worked by hand, or, for the sweep over the
catalog, from nnfunc.catalog called locally on the same inputs (the wire must add
nothing and lose nothing: same dtype, same bits).
"""

from __future__ import annotations

import importlib
import math
import os
import pkgutil

import grpc
import hypothesis
import numpy as np
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

import tests.catalog
from nnfunc import catalog
from nnfunc.codec import from_tensor, to_parameters, to_tensor
from nnfunc.server.describe import check_response, function_info
from nnfunc.v1 import function_service_pb2 as pb
from nnfunc.v1 import function_service_pb2_grpc as pb_grpc
from nnfunc.v1 import tensor_pb2

BIG = [("grpc.max_send_message_length", 1 << 30), ("grpc.max_receive_message_length", 1 << 30)]


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def tensor(values, dtype=np.float64) -> tensor_pb2.Tensor:
    return to_tensor(np.asarray(values, dtype=dtype))


def request(cls, function, *inputs, grad_output=None, **params):
    req = cls(function=function, inputs=[to_tensor(np.asarray(x)) for x in inputs])
    to_parameters(params, req.parameters)
    if grad_output is not None:
        req.grad_output.CopyFrom(to_tensor(np.asarray(grad_output)))
    return req


def violation(err: grpc.RpcError) -> str | None:
    """The field named by the status's BadRequest, if any."""
    st = rpc_status.from_call(err)
    if st is None:
        return None
    for detail in st.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            br = error_details_pb2.BadRequest()
            detail.Unpack(br)
            return br.field_violations[0].field
    return None


def call_error(fn, req) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        fn(req)
    return info.value


def all_cases() -> dict:
    """Every CASES dict of tests/catalog/cases_*.py, merged."""
    merged: dict = {}
    for mod in pkgutil.iter_modules(tests.catalog.__path__):
        if mod.name.startswith("cases_"):
            merged.update(
                getattr(importlib.import_module(f"tests.catalog.{mod.name}"), "CASES", {})
            )
    return merged


CASES = all_cases()


def same(wire: np.ndarray, local: np.ndarray) -> None:
    """Same dtype, shape and bits (NaN equal to NaN)."""
    local = np.asarray(local)
    assert wire.dtype == local.dtype
    assert wire.shape == local.shape
    np.testing.assert_array_equal(wire, local)


# ---------------------------------------------------------------------------
# happy paths
# ---------------------------------------------------------------------------


def test_list_functions_is_the_catalog_sorted(stub):
    resp = stub.ListFunctions(pb.ListFunctionsRequest())
    names = [f.name for f in resp.functions]
    assert names == sorted(catalog.REGISTRY)
    activations = stub.ListFunctions(pb.ListFunctionsRequest(kind=pb.FUNCTION_KIND_ACTIVATION))
    losses = stub.ListFunctions(pb.ListFunctionsRequest(kind=pb.FUNCTION_KIND_LOSS))
    assert {f.kind for f in activations.functions} <= {pb.FUNCTION_KIND_ACTIVATION}
    assert {f.kind for f in losses.functions} <= {pb.FUNCTION_KIND_LOSS}
    assert len(activations.functions) + len(losses.functions) == len(names)


def test_describe_function_by_alias(stub):
    resp = stub.DescribeFunction(pb.DescribeFunctionRequest(name="logistic"))
    f = resp.function
    assert f.name == "sigmoid"
    assert "logistic" in f.aliases
    assert f.kind == pb.FUNCTION_KIND_ACTIVATION
    assert f.output_range == "(0, 1)"
    assert f.summary and f.formula
    assert [i.name for i in f.inputs] == ["input"]
    assert f.inputs[0].differentiable
    assert set(f.inputs[0].dtypes) == {
        tensor_pb2.DATA_TYPE_FLOAT16,
        tensor_pb2.DATA_TYPE_FLOAT32,
        tensor_pb2.DATA_TYPE_FLOAT64,
    }
    assert f.source == "torch.nn.functional.sigmoid"


def test_describe_every_function_round_trips_its_parameters(stub):
    for spec in catalog.REGISTRY.values():
        f = stub.DescribeFunction(pb.DescribeFunctionRequest(name=spec.name)).function
        assert f == function_info(spec)
        for p, info in zip(spec.params, f.parameters, strict=True):
            assert info.name == p.name and info.required == p.required
            if p.required or p.default is None:
                assert info.default_value.WhichOneof("kind") is None
            else:
                value = getattr(info.default_value, info.default_value.WhichOneof("kind"))
                assert value == p.default


def test_evaluate_relu_float32(stub):
    x = np.array([-2.0, -0.0, 0.5, 3.0], dtype=np.float32)
    resp = stub.Evaluate(request(pb.EvaluateRequest, "relu", x))
    y = from_tensor(resp.output)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [0.0, 0.0, 0.5, 3.0])  # max(0, x) by hand


def test_gradient_is_ones_weighted_when_grad_output_omitted(stub):
    x = np.array([0.0, 1.0, -3.0])
    resp = stub.Gradient(request(pb.GradientRequest, "sigmoid", x))
    assert list(resp.input_names) == ["input"]
    (dx,) = (from_tensor(t) for t in resp.gradients)
    s = 1 / (1 + np.exp(-x))  # closed form: σ' = σ(1 - σ)
    np.testing.assert_allclose(dx, s * (1 - s), rtol=1e-15)


def test_gradient_scales_by_grad_output(stub):
    x = np.array([-1.0, 2.0], dtype=np.float32)
    g = np.array([5.0, 7.0], dtype=np.float32)
    resp = stub.Gradient(request(pb.GradientRequest, "relu", x, grad_output=g))
    dx = from_tensor(resp.gradients[0])
    assert dx.dtype == np.float32
    np.testing.assert_array_equal(dx, [0.0, 7.0])  # relu' is 0 left, 1 right


def test_float16_is_answered_in_float16(stub):
    x = np.array([-1.0, 0.0, 2.0], dtype=np.float16)
    y = from_tensor(stub.Evaluate(request(pb.EvaluateRequest, "relu", x)).output)
    assert y.dtype == np.float16
    np.testing.assert_array_equal(y, [0.0, 0.0, 2.0])


def test_zero_d_and_empty_tensors(stub):
    y = from_tensor(stub.Evaluate(request(pb.EvaluateRequest, "relu", np.float64(-4.0))).output)
    assert y.shape == () and y == 0.0
    e = from_tensor(stub.Evaluate(request(pb.EvaluateRequest, "relu", np.zeros((2, 0)))).output)
    assert e.shape == (2, 0)


def test_typed_double_data_path(stub):
    # A hand-written call (as grpcurl would send): values as doubles, no raw bytes.
    t = tensor_pb2.Tensor(
        dtype=tensor_pb2.DATA_TYPE_FLOAT32, shape=[2, 2], double_data=[-1.0, 0.25, 3.0, -0.0]
    )
    y = from_tensor(stub.Evaluate(pb.EvaluateRequest(function="relu", inputs=[t])).output)
    assert y.dtype == np.float32 and y.shape == (2, 2)
    np.testing.assert_array_equal(y, [[0.0, 0.25], [3.0, 0.0]])
    g = tensor_pb2.Tensor(
        dtype=tensor_pb2.DATA_TYPE_FLOAT64, shape=[2, 2], double_data=[1.0, 2.0, 3.0, 4.0]
    )
    resp = stub.Gradient(pb.GradientRequest(function="relu", inputs=[t], grad_output=g))
    np.testing.assert_array_equal(from_tensor(resp.gradients[0]), [[0.0, 2.0], [3.0, 0.0]])


def test_loss_mse_closed_form(stub):
    if "mse_loss" not in catalog.REGISTRY:
        pytest.skip("mse_loss is not registered yet")
    x, y = np.array([1.0, 2.0]), np.array([0.0, 0.0])
    resp = stub.Loss(request(pb.LossRequest, "mse_loss", x, y))
    # mean((x - y)²) = (1 + 4) / 2; d/dx = 2 (x - y) / n = [1, 2]   (by hand)
    assert from_tensor(resp.value) == 2.5
    assert list(resp.input_names) == ["input"]
    np.testing.assert_array_equal(from_tensor(resp.gradients[0]), [1.0, 2.0])
    resp = stub.Loss(request(pb.LossRequest, "mse_loss", x, y, reduction="none"))
    np.testing.assert_array_equal(from_tensor(resp.value), [1.0, 4.0])
    np.testing.assert_array_equal(from_tensor(resp.gradients[0]), [2.0, 4.0])


def test_loss_matches_catalog_for_every_loss(stub):
    losses = [n for n, s in catalog.REGISTRY.items() if s.kind == "loss"]
    if not losses:
        pytest.skip("no loss is registered yet")
    for name in losses:
        for v in getattr(CASES.get(name), "values", [])[:3]:
            resp = stub.Loss(request(pb.LossRequest, name, *v.inputs, **v.params))
            value, grads = catalog.value_and_grad(name, *v.inputs, **v.params)
            same(from_tensor(resp.value), value)
            for wire, local in zip(resp.gradients, grads, strict=True):
                same(from_tensor(wire), local)


def test_check_gradient_of_sigmoid(stub):
    x = np.array([-1.5, 0.25, 2.0])
    resp = stub.CheckGradient(request(pb.CheckGradientRequest, "sigmoid", x))
    assert resp.passed and not resp.checked_supplied
    assert [c.input for c in resp.inputs] == ["input"]
    assert resp.inputs[0].passed and resp.inputs[0].checked_elements >= 1
    assert (resp.eps, resp.atol, resp.rtol) == (1e-6, 1e-5, 1e-3)  # the defaults when unset


def test_check_gradient_catches_a_wrong_supplied_gradient(stub):
    x = np.array([-1.5, 0.25, 2.0])
    req = request(pb.CheckGradientRequest, "sigmoid", x)
    req.gradients.append(tensor(np.ones(3)))  # σ' is at most 1/4: ones are wrong
    req.mode = pb.CHECK_MODE_FULL
    resp = stub.CheckGradient(req)
    assert resp.checked_supplied and not resp.passed
    assert resp.mode == pb.CHECK_MODE_FULL


def test_check_gradient_passes_a_function_parameter_named_like_a_checker_option(stub):
    """gaussian_nll_loss has its own eps (the variance floor); the checker's step is
    another field, so both travel and neither shadows the other."""
    x, y, var = np.array([0.5, -1.0]), np.array([0.0, 0.5]), np.array([0.7, 1.3])
    req = request(pb.CheckGradientRequest, "gaussian_nll_loss", x, y, var)
    req.parameters["eps"].double_value = 1e-3
    req.eps = 1e-7
    resp = stub.CheckGradient(req)
    assert resp.passed and resp.eps == 1e-7
    assert [c.input for c in resp.inputs] == ["input", "var"]


def test_check_gradient_honours_zero_tolerances(stub):
    req = request(pb.CheckGradientRequest, "sigmoid", np.array([0.3]))
    req.atol, req.rtol = 0.0, 0.0
    resp = stub.CheckGradient(req)
    assert (resp.atol, resp.rtol) == (0.0, 0.0)


def test_check_response_translation():
    """describe.check_response carries every report field (a hand-built report)."""
    from types import SimpleNamespace as NS

    report = NS(
        function="relu",
        params={},
        mode="full",
        eps=1e-6,
        atol=1e-5,
        rtol=1e-3,
        passed=False,
        checked_supplied=True,
        notes=["1 element within eps of the kink at 0"],
        inputs=[
            NS(
                name="input",
                passed=False,
                max_abs_error=0.5,
                max_rel_error=0.25,
                worst_index=(1, 2),
                analytic=1.0,
                numerical=0.5,
                checked_elements=6,
                kink_elements=1,
                skipped=None,
            )
        ],
    )
    resp = check_response(report)
    assert resp.mode == pb.CHECK_MODE_FULL and not resp.passed and resp.checked_supplied
    assert list(resp.notes) == report.notes
    c = resp.inputs[0]
    assert (c.input, c.passed, list(c.worst_index)) == ("input", False, [1, 2])
    assert (c.max_abs_error, c.max_rel_error, c.analytic, c.numerical) == (0.5, 0.25, 1.0, 0.5)
    assert (c.checked_elements, c.kink_elements, c.skipped) == (6, 1, "")
    fast = check_response(
        NS(
            **{
                **vars(report),
                "mode": "fast",
                "inputs": [NS(**{**vars(report.inputs[0]), "worst_index": None, "analytic": None})],
            }
        )
    )
    assert fast.mode == pb.CHECK_MODE_FAST and list(fast.inputs[0].worst_index) == []
    assert math.isnan(fast.inputs[0].analytic)


def test_batch_each_item_its_own_status(stub):
    x = np.array([-1.0, 2.0])
    items = [
        pb.BatchItem(evaluate=request(pb.EvaluateRequest, "relu", x)),
        pb.BatchItem(evaluate=request(pb.EvaluateRequest, "no_such_function", x)),
        pb.BatchItem(gradient=request(pb.GradientRequest, "relu", x)),
        pb.BatchItem(),  # nothing set
        pb.BatchItem(loss=request(pb.LossRequest, "relu", x)),  # an activation
        pb.BatchItem(evaluate=request(pb.EvaluateRequest, "relu", x, bogus=1.0)),
    ]
    resp = stub.Batch(pb.BatchRequest(items=items))
    r = resp.results
    assert len(r) == len(items)
    ok, invalid, not_found = (
        grpc.StatusCode.OK.value[0],
        grpc.StatusCode.INVALID_ARGUMENT.value[0],
        grpc.StatusCode.NOT_FOUND.value[0],
    )
    assert r[0].status.code == ok and r[0].WhichOneof("response") == "evaluate"
    np.testing.assert_array_equal(from_tensor(r[0].evaluate.output), [0.0, 2.0])
    assert (r[1].status.code, r[1].status.field) == (not_found, "function")
    assert "relu" in r[1].status.message or "did you mean" not in r[1].status.message
    assert r[1].WhichOneof("response") is None
    assert r[2].status.code == ok
    np.testing.assert_array_equal(from_tensor(r[2].gradient.gradients[0]), [0.0, 1.0])
    assert (r[3].status.code, r[3].status.field) == (invalid, "items[3]")
    assert (r[4].status.code, r[4].status.field) == (invalid, "function")
    assert (r[5].status.code, r[5].status.field) == (invalid, "parameters.bogus")
    assert stub.Batch(pb.BatchRequest()).results == []


def test_sixteen_million_float32_round_trip(address):
    n = 16 * 1024 * 1024
    x = np.linspace(-1.0, 1.0, n, dtype=np.float32)
    with grpc.insecure_channel(address, options=BIG) as ch:
        stub = pb_grpc.FunctionServiceStub(ch)
        resp = stub.Evaluate(pb.EvaluateRequest(function="relu", inputs=[to_tensor(x)]))
        y = from_tensor(resp.output)
    assert y.dtype == np.float32 and y.shape == (n,)
    np.testing.assert_array_equal(y, np.maximum(x, 0))  # relu by definition


# ---------------------------------------------------------------------------
# every catalog function through the wire equals the catalog locally
# ---------------------------------------------------------------------------


def _wire_inputs(name: str):
    """(inputs, params, grad_output) triples from the function's goldens."""
    case = CASES.get(name)
    if case is None:
        return []
    out = [(v.inputs, v.params, None) for v in case.values]
    out += [(g.inputs, g.params, g.grad_output) for g in case.grads]
    return out


def _wire_equals_local(stub, name, inputs, params, g) -> None:
    spec = catalog.lookup(name)
    ev = stub.Evaluate(request(pb.EvaluateRequest, name, *inputs, **params))
    same(from_tensor(ev.output), catalog.evaluate(name, *inputs, **params))
    if spec.vjp is None or not spec.differentiable:
        return
    gr = stub.Gradient(request(pb.GradientRequest, name, *inputs, grad_output=g, **params))
    assert list(gr.input_names) == [i.name for i in spec.differentiable]
    local = catalog.gradient(name, *inputs, grad_output=g, **params)
    assert len(gr.gradients) == len(local)
    for wire, loc in zip(gr.gradients, local, strict=True):
        same(from_tensor(wire), loc)


@pytest.mark.parametrize("name", sorted(catalog.REGISTRY))
def test_wire_equals_local_on_goldens(stub, name):
    """Evaluate and Gradient on the inputs of the function's Value/Grad goldens."""
    triples = _wire_inputs(name)
    if not triples:
        pytest.skip(f"{name}: no goldens yet (the sampled test below still covers it)")
    for inputs, params, g in triples:
        _wire_equals_local(stub, name, inputs, params, g)


@pytest.fixture(scope="module")
def wire(address):
    """A module-wide stub (hypothesis tests cannot use function-scoped fixtures)."""
    with grpc.insecure_channel(address, options=BIG) as ch:
        yield pb_grpc.FunctionServiceStub(ch)


@pytest.mark.parametrize("name", sorted(catalog.REGISTRY))
def test_wire_equals_local_on_samples(wire, name):
    """Evaluate and Gradient on float32 samples of the function's own strategy."""
    case = CASES.get(name)
    assert case is not None, f"{name}: no Case in tests/catalog/cases_*.py"

    @hypothesis.settings(max_examples=5)
    @hypothesis.given(sample=case.sample(np.dtype(np.float32)))
    def check(sample):
        _wire_equals_local(wire, name, sample.inputs, sample.params, None)

    check()


def _raises():
    for name, case in sorted(CASES.items()):
        for k, r in enumerate(case.errors):
            if any(v is None for v in r.params.values()):
                continue  # the wire cannot say None: an omitted parameter takes its default
            yield pytest.param(name, r, id=f"{name}-{k}-{r.field}")


@pytest.mark.parametrize(
    ("name", "raises"),
    list(_raises()) or [pytest.param(None, None, marks=pytest.mark.skip("no Raises entries yet"))],
)
def test_catalog_domain_errors_through_the_wire(stub, name, raises):
    err = call_error(
        stub.Evaluate, request(pb.EvaluateRequest, name, *raises.inputs, **raises.params)
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert violation(err) == raises.field
    assert raises.field in err.details()


# ---------------------------------------------------------------------------
# the error table: code and the BadRequest field
# ---------------------------------------------------------------------------


def test_not_found_suggests_close_names(stub):
    err = call_error(stub.Evaluate, request(pb.EvaluateRequest, "sigmoud", [1.0]))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert "'sigmoid'" in err.details()
    assert violation(err) == "function"
    err = call_error(stub.DescribeFunction, pb.DescribeFunctionRequest(name="rleu"))
    assert err.code() == grpc.StatusCode.NOT_FOUND and "'relu'" in err.details()


def _bad_tensor(**fields) -> tensor_pb2.Tensor:
    return tensor_pb2.Tensor(**fields)


F32 = tensor_pb2.DATA_TYPE_FLOAT32

INVALID = [
    # (request, field), each refused with INVALID_ARGUMENT naming the field
    (
        pb.EvaluateRequest(function="relu", inputs=[_bad_tensor(shape=[1], double_data=[1.0])]),
        "inputs[0].dtype",
    ),
    (
        pb.EvaluateRequest(function="relu", inputs=[_bad_tensor(dtype=99, shape=[1])]),
        "inputs[0].dtype",
    ),
    (
        pb.EvaluateRequest(
            function="relu", inputs=[_bad_tensor(dtype=F32, shape=[2], raw_data=b"abc")]
        ),
        "inputs[0].raw_data",
    ),
    (
        pb.EvaluateRequest(function="relu", inputs=[_bad_tensor(dtype=F32, shape=[-1])]),
        "inputs[0].shape",
    ),
    (
        pb.EvaluateRequest(
            function="relu",
            inputs=[_bad_tensor(dtype=F32, shape=[1], raw_data=b"\0\0\0\0", double_data=[1.0])],
        ),
        "inputs[0]",
    ),
    (
        pb.EvaluateRequest(
            function="relu", inputs=[_bad_tensor(dtype=F32, shape=[3], double_data=[1.0])]
        ),
        "inputs[0].double_data",
    ),
    (
        pb.EvaluateRequest(
            function="relu", inputs=[_bad_tensor(dtype=F32, shape=[1], int64_data=[1])]
        ),
        "inputs[0].int64_data",
    ),
    (pb.EvaluateRequest(function="relu"), "inputs"),
    (pb.EvaluateRequest(function="relu", inputs=[tensor([1.0]), tensor([1.0])]), "inputs"),
    (pb.EvaluateRequest(function=""), "function"),
    (request(pb.EvaluateRequest, "relu", [1.0], negative_slope=0.1), "parameters.negative_slope"),
    (
        pb.EvaluateRequest(
            function="relu", inputs=[tensor([1.0])], parameters={"p": pb.ParameterValue()}
        ),
        "parameters.p",
    ),
    (request(pb.GradientRequest, "relu", [1.0, 2.0], grad_output=[1.0]), "grad_output"),
    (
        pb.GradientRequest(
            function="relu", inputs=[tensor([1.0])], grad_output=_bad_tensor(shape=[1])
        ),
        "grad_output.dtype",
    ),
    (request(pb.LossRequest, "sigmoid", [1.0]), "function"),
    (pb.DescribeFunctionRequest(), "name"),
    (pb.ListFunctionsRequest(kind=7), "kind"),
    (pb.CheckGradientRequest(function="relu", inputs=[tensor([1.0])], eps=-1.0), "eps"),
    (pb.CheckGradientRequest(function="relu", inputs=[tensor([1.0])], mode=9), "mode"),
    (
        pb.CheckGradientRequest(
            function="relu", inputs=[tensor([1.0])], gradients=[_bad_tensor(shape=[1])]
        ),
        "gradients[0].dtype",
    ),
]

_METHOD = {
    pb.EvaluateRequest: "Evaluate",
    pb.GradientRequest: "Gradient",
    pb.LossRequest: "Loss",
    pb.DescribeFunctionRequest: "DescribeFunction",
    pb.ListFunctionsRequest: "ListFunctions",
    pb.CheckGradientRequest: "CheckGradient",
}


@pytest.mark.parametrize(
    ("req", "field"), INVALID, ids=[f"{type(r).__name__}-{f}" for r, f in INVALID]
)
def test_invalid_argument_names_the_field(stub, req, field):
    err = call_error(getattr(stub, _METHOD[type(req)]), req)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert violation(err) == field
    assert err.details().startswith(field.split(".")[0].split("[")[0])  # the message names it


def test_index_input_refuses_floats(stub):
    spec = next(
        (s for s in catalog.REGISTRY.values() if any(i.kind == "index" for i in s.inputs)), None
    )
    if spec is None:
        pytest.skip("no function with an index input is registered yet")
    k = next(k for k, i in enumerate(spec.inputs) if i.kind == "index")
    inputs = [tensor(np.zeros((2, 3))) for _ in spec.inputs]
    inputs[k] = tensor([0.5, 1.0])
    err = call_error(stub.Evaluate, pb.EvaluateRequest(function=spec.name, inputs=inputs))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violation(err) == f"inputs[{k}]"


def test_oversized_tensor_is_resource_exhausted(stub, server):
    n = server.settings.max_elements + 1
    req = pb.EvaluateRequest(function="relu", inputs=[_bad_tensor(dtype=F32, shape=[n])])
    err = call_error(stub.Evaluate, req)
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert violation(err) == "inputs[0].shape"
    assert str(server.settings.max_elements) in err.details()


def test_deadline_is_honoured(stub):
    x = np.zeros(1 << 20, dtype=np.float32)
    with pytest.raises(grpc.RpcError) as info:
        stub.Evaluate(request(pb.EvaluateRequest, "sigmoid", x), timeout=1e-6)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_server_stays_up_after_bad_requests(stub):
    for req, _ in INVALID:
        with pytest.raises(grpc.RpcError) as info:
            getattr(stub, _METHOD[type(req)])(req)
        assert info.value.code() not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
    y = from_tensor(stub.Evaluate(request(pb.EvaluateRequest, "relu", [-1.0, 1.0])).output)
    np.testing.assert_array_equal(y, [0.0, 1.0])


# ---------------------------------------------------------------------------
# health and reflection
# ---------------------------------------------------------------------------


def test_health_serving(channel):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "nnfunc.v1.FunctionService"):
        resp = health.Check(health_pb2.HealthCheckRequest(service=service))
        assert resp.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as info:
        health.Check(health_pb2.HealthCheckRequest(service="no.Such"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_the_service(channel):
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )

    db = ProtoReflectionDescriptorDatabase(channel)
    services = set(db.get_services())
    assert {"nnfunc.v1.FunctionService", "grpc.health.v1.Health"} <= services
    desc = db.FindFileContainingSymbol("nnfunc.v1.FunctionService")
    assert desc.package == "nnfunc.v1"


def test_every_answer_names_the_replica_that_gave_it(stub):
    """Behind a balancer, the trailing metadata tells replicas apart (host:pid)."""
    _, call = stub.Evaluate.with_call(request(pb.EvaluateRequest, "relu", np.array([1.0])))
    replica = dict(call.trailing_metadata())["nnfunc-replica"]
    host, pid = replica.rsplit(":", 1)
    assert host and int(pid) == os.getpid()  # the in-process test server
