"""The synchronous SDK (nnfunc.Client) against the real in-process server.

Golden values are closed forms worked by hand (σ(0) = 1/2, σ'(0) = 1/4, softmax of
[0, ln 3] = [1/4, 3/4], ...) or facts of /work/shared/catalog-reference.md (cited by
section). Functions still being written by other helpers are tested when registered
and skipped otherwise.
"""

from __future__ import annotations

import json
import math
import pickle
import socket

import grpc
import numpy as np
import pytest
from google.rpc import error_details_pb2

import nnfunc
from nnfunc import _calls, _channel
from nnfunc.codec import to_tensor
from nnfunc.v1 import function_service_pb2 as pb


@pytest.fixture(scope="module")
def client(address):
    with nnfunc.Client(address, timeout=60.0) as c:
        yield c


@pytest.fixture(scope="module")
def catalog(client) -> dict[str, nnfunc.FunctionInfo]:
    return {info.name: info for info in client.list_functions()}


def need(catalog, name: str) -> nnfunc.FunctionInfo:
    if name not in catalog:
        pytest.skip(f"{name} is not registered yet")
    return catalog[name]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the catalog ------------------------------------------------------------------------


def test_list_functions_returns_sorted_function_infos(client, catalog):
    infos = client.list_functions()
    assert infos and all(isinstance(i, nnfunc.FunctionInfo) for i in infos)
    names = [i.name for i in infos]
    assert names == sorted(names)
    assert {"relu", "sigmoid", "softmax"} <= set(names)
    assert {i.kind for i in infos} <= {"activation", "loss"}


@pytest.mark.parametrize("kind", ["activation", "loss"])
def test_list_functions_filters_by_kind(client, catalog, kind):
    infos = client.list_functions(kind)
    assert all(i.kind == kind for i in infos)
    assert {i.name for i in infos} == {n for n, i in catalog.items() if i.kind == kind}


def test_list_functions_refuses_an_unknown_kind_before_calling(client):
    with pytest.raises(nnfunc.InvalidArgumentError) as err:
        client.list_functions("layer")
    assert err.value.field == "kind"


def test_describe_gives_the_metadata(client):
    info = client.describe("relu")
    assert info.name == "relu" and info.kind == "activation"
    assert info.summary and info.formula and info.output_range
    assert [i.name for i in info.inputs] == ["input"]
    assert info.inputs[0].differentiable
    assert {"float16", "float32", "float64"} <= set(info.inputs[0].dtypes)
    assert info.differentiable == ("input",)
    # catalog-reference §1.1 row 3: torch's relu'(0) = 0, and the entry says where
    assert info.kinks and "0" in info.kinks[0]
    assert info.source.endswith("relu")


def test_describe_gives_typed_parameters_with_defaults(client):
    info = client.describe("softmax")
    dim = info.param("dim")
    assert dim.type == "int" and not dim.required and dim.default == -1
    with pytest.raises(KeyError):
        info.param("no_such_parameter")


def test_describe_resolves_an_alias(client, catalog):
    aliased = [i for i in catalog.values() if i.aliases]
    if not aliased:
        pytest.skip("no registered function has an alias yet")
    info = aliased[0]
    assert client.describe(info.aliases[0]).name == info.name


def test_describe_an_unknown_name_raises_not_found_with_suggestions(client):
    with pytest.raises(nnfunc.NotFoundError) as err:
        client.describe("relux")
    e = err.value
    assert isinstance(e, KeyError) and isinstance(e, nnfunc.Error)
    assert e.code == "NOT_FOUND" and e.field == "function"
    assert "'relu'" in e.message and str(e) == e.message
    assert any(isinstance(d, error_details_pb2.BadRequest) for d in e.details)


# -- evaluate ---------------------------------------------------------------------------


def test_evaluate_relu(client):
    # relu(x) = max(0, x), worked by hand
    y = client.evaluate("relu", np.array([1.5, -2.0, 0.0, 3.0]))
    np.testing.assert_array_equal(y, [1.5, 0.0, 0.0, 3.0])


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_evaluate_keeps_the_dtype_and_shape(client, dtype):
    x = np.array([[0.0, 1.0, -1.0], [2.0, -3.0, 0.5]], dtype=dtype)
    y = client.evaluate("sigmoid", x)
    assert y.dtype == np.dtype(dtype) and y.shape == (2, 3)
    assert y[0, 0] == 0.5  # σ(0) = 1/2 exactly, in every dtype


def test_evaluate_takes_lists_and_scalars(client):
    # integer data given for a real input is promoted to float64 (the registry's policy)
    y = client.evaluate("relu", [1, -2, 3])
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, [1.0, 0.0, 3.0])
    s = client.evaluate("sigmoid", 0.0)
    assert s.shape == () and s == 0.5


def test_evaluate_handles_empty_and_non_finite_input(client):
    assert client.evaluate("relu", np.zeros((0, 3), np.float32)).shape == (0, 3)
    # σ(-inf) = 0, σ(inf) = 1, σ(nan) = nan (catalog-reference §4: NaN propagates)
    y = client.evaluate("sigmoid", np.array([-np.inf, np.inf, np.nan]))
    assert y[0] == 0.0 and y[1] == 1.0 and math.isnan(y[2])


def test_evaluate_passes_parameters_as_keywords(client):
    x = np.array([[0.0, math.log(3.0)], [5.0, 5.0]])
    # softmax of [0, ln 3] is [1, 3] / 4; of equal entries, halves
    np.testing.assert_allclose(client.evaluate("softmax", x, dim=1), [[0.25, 0.75], [0.5, 0.5]])
    # along dim 0 each column of two sums to 1
    np.testing.assert_allclose(client.evaluate("softmax", x, dim=0).sum(axis=0), [1.0, 1.0])
    # a 0-d integer array is a number, like the int it holds
    np.testing.assert_allclose(
        client.evaluate("softmax", x, dim=np.array(1)), [[0.25, 0.75], [0.5, 0.5]]
    )


def test_evaluate_leaky_relu_with_a_slope(client, catalog):
    need(catalog, "leaky_relu")
    # catalog-reference §1.1 row 5: x for x > 0, s·x otherwise
    y = client.evaluate("leaky_relu", np.array([2.0, -3.0], np.float32), negative_slope=0.2)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, [2.0, -0.6], rtol=1e-6)


def test_results_are_read_only_views(client):
    y = client.evaluate("relu", np.array([1.0]))
    assert not y.flags.writeable
    z = y.copy()
    z += 1
    assert z[0] == 2.0


# -- gradient ---------------------------------------------------------------------------


def test_gradient_with_and_without_grad_output(client):
    x = np.array([0.0, 0.0], np.float32)
    # σ'(0) = σ(0)(1 - σ(0)) = 1/4; times the upstream gradient
    dx = client.gradient("sigmoid", x)
    assert isinstance(dx, np.ndarray) and dx.dtype == np.float32
    np.testing.assert_array_equal(dx, [0.25, 0.25])
    np.testing.assert_array_equal(
        client.gradient("sigmoid", x, grad_output=np.array([2.0, -4.0], np.float32)), [0.5, -1.0]
    )


def test_gradient_of_relu_at_its_kink_is_zero(client):
    # catalog-reference §1.1 row 3 (RUN): torch's relu'(0) = 0
    np.testing.assert_array_equal(client.gradient("relu", np.array([-1.0, 0.0, 2.0])), [0, 0, 1])


def test_gradient_of_softmax_with_parameters(client):
    x = np.array([[0.0, math.log(3.0)]])
    # the VJP is s ⊙ (g − ⟨g, s⟩); s = [1/4, 3/4], g = [1, 0]: ⟨g, s⟩ = 1/4,
    # so [1/4 · 3/4, 3/4 · (−1/4)] = [3/16, −3/16]
    dx = client.gradient("softmax", x, grad_output=np.array([[1.0, 0.0]]), dim=-1)
    np.testing.assert_allclose(dx, [[3 / 16, -3 / 16]], rtol=1e-12)


@pytest.mark.parametrize(
    ("name", "inputs", "expected"),
    [
        # catalog-reference §1.1 row 6: ∂x = 1 for x > 0 else a (a at x = 0, RUN);
        # ∂a = Σ g·min(0, x) = −2
        ("prelu", ([1.0, -2.0, 0.0], [0.25]), ([1.0, 0.25, 0.25], [-2.0])),
        # mean(max(0, −y (x1 − x2))) over two: only the first term is active (−(1 − 2) = 1),
        # so ∂x1 = [−1/2, 0], ∂x2 = [1/2, 0]; the target gets no gradient
        ("margin_ranking_loss", ([1.0, 2.0], [2.0, 0.0], [1.0, 1.0]), ([-0.5, 0.0], [0.5, 0.0])),
    ],
)
def test_gradient_returns_a_tuple_for_several_differentiable_inputs(
    client, catalog, name, inputs, expected
):
    need(catalog, name)
    grads = client.gradient(name, *(np.array(v) for v in inputs))
    assert isinstance(grads, tuple) and len(grads) == len(expected)
    for got, want in zip(grads, expected, strict=True):
        np.testing.assert_allclose(got, want)


def test_gradient_decoding_gives_a_tuple_for_several_tensors():
    # decoding alone: one gradient is a bare array, several are a tuple in order
    one = pb.GradientResponse(input_names=["input"])
    one.gradients.add().CopyFrom(to_tensor(np.array([1.0])))
    assert isinstance(_calls.decode_gradient(one), np.ndarray)
    two = pb.GradientResponse(input_names=["input", "weight"])
    two.gradients.add().CopyFrom(to_tensor(np.array([1.0, 2.0])))
    two.gradients.add().CopyFrom(to_tensor(np.array([3.0], np.float32)))
    dx, dw = _calls.decode_gradient(two)
    np.testing.assert_array_equal(dx, [1.0, 2.0])
    assert dw.dtype == np.float32 and dw[0] == 3.0


# -- loss -------------------------------------------------------------------------------


def test_loss_value_and_gradient(client, catalog):
    need(catalog, "mse_loss")
    x = np.array([1.0, 2.0, 3.0])
    t = np.array([0.0, 2.0, 5.0])
    r = client.loss("mse_loss", x, t)
    assert isinstance(r, nnfunc.LossResult)
    # mean((x − t)²) = (1 + 0 + 4) / 3; ∂/∂x = 2 (x − t) / 3
    assert r.value.shape == () and r.value == pytest.approx(5 / 3)
    np.testing.assert_allclose(r.grad, [2 / 3, 0.0, -4 / 3])
    assert r.grads[0] is r.grad and r.input_names[0] == "input"
    none = client.loss("mse_loss", x, t, reduction="none")
    np.testing.assert_allclose(none.value, [1.0, 0.0, 4.0])


def test_loss_keeps_float32(client, catalog):
    need(catalog, "mse_loss")
    r = client.loss("mse_loss", np.ones(4, np.float32), np.zeros(4, np.float32))
    assert r.value.dtype == np.float32 and r.grad.dtype == np.float32


def test_loss_refuses_an_activation(client):
    with pytest.raises(nnfunc.InvalidArgumentError) as err:
        client.loss("relu", np.array([1.0]), np.array([1.0]))
    assert err.value.field == "function"


# -- check_gradient ---------------------------------------------------------------------


def test_check_gradient_of_the_catalog_passes(client):
    rep = client.check_gradient("sigmoid", np.array([0.5, -1.0, 2.0]))
    assert isinstance(rep, nnfunc.CheckReport)
    assert rep.passed and rep.function == "sigmoid" and not rep.checked_supplied
    (inp,) = rep.inputs
    assert inp.name == "input" and inp.passed and inp.checked_elements == 3
    assert inp.max_abs_error < 1e-6 and inp.skipped is None


def test_check_gradient_of_a_wrong_gradient_fails(client):
    x = np.array([0.0, 1.0])
    rep = client.check_gradient("sigmoid", x, grad=np.zeros(2), mode="full")
    assert not rep.passed and rep.checked_supplied and rep.mode == "full"
    # the worst element is x = 0, where the true gradient σ'(0) = 1/4 is the largest
    inp = rep.inputs[0]
    assert inp.worst_index == (0,)
    assert inp.analytic == 0.0 and inp.numerical == pytest.approx(0.25, rel=1e-6)


def test_check_gradient_of_a_right_supplied_gradient_passes(client):
    x = np.array([0.0, 0.0])
    g = np.array([2.0, 1.0])
    # g ⊙ σ'(0) = g / 4, worked by hand
    rep = client.check_gradient("sigmoid", x, grad=(g / 4,), grad_output=g, eps=1e-5, atol=1e-6)
    assert rep.passed and rep.checked_supplied
    assert rep.eps == 1e-5 and rep.atol == 1e-6


def test_check_gradient_takes_a_zero_tolerance(client):
    # atol = rtol = 0 are honoured, not read as "the defaults": the server echoes
    # the tolerances it used
    rep = client.check_gradient("sigmoid", np.array([0.3, -1.7]), atol=0.0, rtol=0.0)
    assert rep.atol == 0.0 and rep.rtol == 0.0


def test_check_gradient_fast_mode_has_no_worst_index(client):
    rep = client.check_gradient("sigmoid", np.linspace(-2, 2, 10), mode="fast", seed=3)
    assert rep.passed and rep.mode == "fast"
    assert rep.inputs[0].worst_index is None


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"mode": "quick"}, "mode"),
        ({"eps": 0.0}, "eps"),
        ({"atol": -1.0}, "atol"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_check_gradient_options_are_checked_before_calling(client, options, field):
    with pytest.raises(nnfunc.InvalidArgumentError) as err:
        client.check_gradient("sigmoid", np.array([1.0]), **options)
    assert err.value.field == field


# -- batch ------------------------------------------------------------------------------


def test_batch_answers_in_order_with_errors_in_place(client):
    req = client.request
    x = np.array([0.0, -1.0], np.float32)
    results = client.batch(
        [
            req.evaluate("relu", x),
            req.gradient("sigmoid", x[:1], grad_output=np.array([4.0], np.float32)),
            req.evaluate("relux", x),
            req.evaluate("softmax", x, dim=5),
            req.loss("relu", x, x),
        ]
    )
    assert len(results) == 5
    np.testing.assert_array_equal(results[0], [0.0, 0.0])
    assert results[0].dtype == np.float32
    np.testing.assert_array_equal(results[1], [1.0])  # 4 · σ'(0) = 1
    assert isinstance(results[2], nnfunc.NotFoundError) and results[2].field == "function"
    assert isinstance(results[3], nnfunc.InvalidArgumentError)
    assert results[3].field == "parameters.dim"
    assert isinstance(results[4], nnfunc.InvalidArgumentError) and results[4].field == "function"


def test_batch_of_losses(client, catalog):
    need(catalog, "mse_loss")
    (r,) = client.batch([nnfunc.request.loss("mse_loss", [1.0, 3.0], [1.0, 1.0], reduction="sum")])
    # Σ (x − t)² = 4; ∂/∂x = 2 (x − t) = [0, 4]
    assert r.value == 4.0
    np.testing.assert_array_equal(r.grad, [0.0, 4.0])


def test_batch_takes_only_evaluate_gradient_and_loss_requests(client):
    assert client.batch([]) == []
    with pytest.raises(nnfunc.InvalidArgumentError) as err:
        client.batch([client.request.evaluate("relu", [1.0]), _calls.describe("relu")])
    assert err.value.field == "items[1]"
    with pytest.raises(nnfunc.InvalidArgumentError):
        client.batch([("relu", [1.0])])


# -- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.evaluate("softmax", [1.0, 2.0], dim="last"), "parameters.dim"),
        (lambda c: c.evaluate("relu", [1.0], slope=2.0), "parameters.slope"),
        (lambda c: c.evaluate("relu", [1.0], [2.0]), "inputs"),
        (lambda c: c.gradient("relu", [1.0, 2.0], grad_output=[1.0]), "grad_output"),
    ],
)
def test_server_side_invalid_arguments_name_the_field(client, call, field):
    with pytest.raises(nnfunc.InvalidArgumentError) as err:
        call(client)
    e = err.value
    assert isinstance(e, ValueError) and e.code == "INVALID_ARGUMENT" and e.field == field
    assert field.split(".")[-1] in e.message
    (bad,) = [d for d in e.details if isinstance(d, error_details_pb2.BadRequest)]
    assert bad.field_violations[0].field == field


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.evaluate("relu", np.array([1j])), "inputs[0]"),
        (lambda c: c.evaluate("relu", [[1.0], [2.0, 3.0]]), "inputs[0]"),
        (lambda c: c.evaluate("relu", [1.0], weight=object()), "parameters.weight"),
        (lambda c: c.evaluate(len, [1.0]), "function"),
    ],
)
def test_client_side_encoding_errors_name_the_field(client, call, field):
    with pytest.raises(nnfunc.InvalidArgumentError) as err:
        call(client)
    assert err.value.field == field


def test_errors_survive_pickling(client):
    with pytest.raises(nnfunc.NotFoundError) as err:
        client.evaluate("relux", [1.0])
    back = pickle.loads(pickle.dumps(err.value))
    assert type(back) is nnfunc.NotFoundError and back.field == "function"


def test_a_passed_deadline_raises_deadline_exceeded(client):
    x = np.zeros(1_000_000, np.float32)
    with pytest.raises(nnfunc.DeadlineExceededError) as err:
        client.evaluate("sigmoid", x, timeout=1e-6)
    assert isinstance(err.value, TimeoutError) and err.value.code == "DEADLINE_EXCEEDED"


def test_an_unreachable_server_raises_unavailable():
    unreachable = nnfunc.Client(f"127.0.0.1:{free_port()}", timeout=20.0, retries=0)
    with unreachable as c, pytest.raises(nnfunc.UnavailableError) as err:
        c.list_functions()
    assert err.value.code == "UNAVAILABLE"


def test_every_status_code_maps_to_the_family():
    class Failed(grpc.RpcError):
        def __init__(self, code):
            self._code = code

        def code(self):
            return self._code

        def details(self):
            return "why"

        def trailing_metadata(self):
            return ()

    from nnfunc._status import from_rpc_error

    for code in grpc.StatusCode:
        if code is grpc.StatusCode.OK:
            continue
        err = from_rpc_error(Failed(code))
        assert isinstance(err, nnfunc.Error) and err.code == code.name and err.message == "why"
    assert isinstance(from_rpc_error(Failed(grpc.StatusCode.CANCELLED)), nnfunc.CancelledError)
    assert isinstance(
        from_rpc_error(Failed(grpc.StatusCode.RESOURCE_EXHAUSTED)), nnfunc.ResourceExhaustedError
    )
    assert isinstance(
        from_rpc_error(Failed(grpc.StatusCode.UNAUTHENTICATED)), nnfunc.UnauthenticatedError
    )


# -- the channel ------------------------------------------------------------------------


def test_call_metadata_passes_through(address):
    with nnfunc.Client(address, metadata=[("x-team", "ml")]) as c:
        assert c.evaluate("relu", [1.0], metadata=[("x-request-id", "42")])[0] == 1.0


def test_several_targets_balance_round_robin(address):
    with nnfunc.Client([address, address], timeout=30.0) as c:
        for _ in range(4):
            assert c.evaluate("relu", [-1.0])[0] == 0.0
    assert c._target.startswith("ipv4:127.0.0.1:")  # resolved once, statically
    options = dict(c._options)
    assert json.loads(options["grpc.service_config"])["loadBalancingConfig"] == [
        {"round_robin": {}}
    ]


def test_static_target_resolves_names_and_prefers_ipv4():
    assert _channel.static_target(["127.0.0.1:1", "localhost:2"]).startswith("ipv4:127.0.0.1:1,")
    assert _channel.static_target(["[::1]:5", "[::1]:6"]) == "ipv6:[::1]:5,[::1]:6"
    with pytest.raises(ValueError):
        _channel.static_target(["no-port"])


def test_service_config_retries_unavailable_only():
    target, options = _channel.configure(
        "dns:///svc.example:50051", retries=3, load_balancing=None, max_message_bytes=-1
    )
    assert target == "dns:///svc.example:50051"
    config = json.loads(dict(options)["grpc.service_config"])
    (method,) = config["methodConfig"]
    assert method["name"] == [{"service": "nnfunc.v1.FunctionService"}]
    assert method["retryPolicy"]["maxAttempts"] == 4
    assert method["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    _, plain = _channel.configure("h:1", retries=0, load_balancing=None, max_message_bytes=-1)
    assert json.loads(dict(plain)["grpc.service_config"]) == {}
    _, mine = _channel.configure(
        "h:1",
        retries=1,
        load_balancing=None,
        max_message_bytes=-1,
        options=[("grpc.max_receive_message_length", 1024)],
    )
    assert dict(mine)["grpc.max_receive_message_length"] == 1024
    with pytest.raises(ValueError):
        _channel.configure("h:1", retries=9, load_balancing=None, max_message_bytes=-1)


def test_tls_credentials_pass_through(tmp_path):
    pem = b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"
    path = tmp_path / "ca.pem"
    path.write_bytes(pem)
    assert isinstance(_channel.channel_credentials(None, str(path)), grpc.ChannelCredentials)
    creds = grpc.ssl_channel_credentials()
    assert _channel.channel_credentials(creds, None) is creds
    assert _channel.channel_credentials(None, None) is None
    with pytest.raises(ValueError):
        _channel.channel_credentials(creds, pem)
    nnfunc.Client("localhost:1", credentials=creds).close()  # a secure channel builds


def test_the_context_manager_closes_the_channel(address):
    with nnfunc.Client(address) as c:
        c.evaluate("relu", [1.0])
    with pytest.raises(ValueError):  # grpc refuses calls on a closed channel
        c.evaluate("relu", [1.0])


def test_check_gradient_second_order(client):
    """order=2 checks sigmoid's VJP's own VJP; a first-order-only function is refused
    naming `order`; FunctionInfo says which is which."""
    rep = client.check_gradient("sigmoid", np.array([-1.0, 0.5, 2.0]), order=2)
    assert rep.passed and rep.order == 2
    assert client.describe("sigmoid").max_order == 2
    assert client.describe("triplet_margin_loss").max_order == 1
    with pytest.raises(nnfunc.InvalidArgumentError) as err:
        client.check_gradient(
            "triplet_margin_loss", np.ones((2, 3)), np.zeros((2, 3)), np.ones((2, 3)), order=2
        )
    assert err.value.field == "order"


def test_check_gradient_takes_a_function_parameter_named_like_a_checker_option(client):
    """gaussian_nll_loss's own eps (its variance floor) travels in parameters=, the
    checker's step in eps=: neither shadows the other."""
    x, y, var = np.array([0.5, -1.0]), np.array([0.0, 0.5]), np.array([0.7, 1.3])
    rep = client.check_gradient("gaussian_nll_loss", x, y, var, eps=1e-7, parameters={"eps": 1e-3})
    assert rep.passed and rep.eps == 1e-7
