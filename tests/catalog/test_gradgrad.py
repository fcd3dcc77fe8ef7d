"""The second-order check (check_gradient(order=2), torch's gradgradcheck) and the
catalog's second-order VJPs.

Truth here is independent of the code under test: the checker's central differences of
the analytic VJP (float64), second derivatives worked by hand in closed form (below, each
with its derivation), and deliberately wrong second-order VJPs that must be caught.
torch's behaviour at kinks is catalog-reference §3.1 (gradgradcheck of relu at 0 fails:
a finite difference of a step function).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nnfunc.catalog import check_gradient
from nnfunc.catalog.gradcheck import second_order_spec
from nnfunc.catalog.registry import bind_params, lookup, value_and_grad
from nnfunc.catalog.spec import REGISTRY
from nnfunc.errors import InvalidArgumentError

# Every function with a second-order VJP (the report lists them; a new one must be added
# here and to a test below).
SUPPORTED = {
    # activations.py
    "sigmoid", "tanh", "relu", "leaky_relu", "rrelu", "prelu", "elu", "selu", "celu",
    "gelu", "silu", "mish", "softplus",
    # activations_piecewise.py
    "relu6", "hardtanh", "hardsigmoid", "hardswish", "softsign", "logsigmoid",
    "tanhshrink", "softshrink", "hardshrink", "threshold",
    # along_axis.py
    "softmax", "log_softmax", "softmin", "glu",
    # losses_elementwise.py
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
    "binary_cross_entropy_with_logits", "soft_margin_loss", "poisson_nll_loss",
    # losses_classification.py
    "cross_entropy", "nll_loss",
}  # fmt: skip

# (name, params) for the elementwise activations of one input; several parameter sets
# where the second derivative depends on them.
ELEMENTWISE = [
    ("sigmoid", {}),
    ("tanh", {}),
    ("softplus", {}),
    ("softplus", {"beta": 2.0, "threshold": 5.0}),
    ("softplus", {"beta": -0.5}),
    ("elu", {}),
    ("elu", {"alpha": 0.3}),
    ("selu", {}),
    ("celu", {}),
    ("celu", {"alpha": 2.5}),
    ("gelu", {}),
    ("gelu", {"approximate": "tanh"}),
    ("silu", {}),
    ("mish", {}),
    ("logsigmoid", {}),
    ("softsign", {}),
    ("tanhshrink", {}),
    ("relu", {}),
    ("leaky_relu", {"negative_slope": 0.2}),
    ("rrelu", {}),
    ("relu6", {}),
    ("hardtanh", {"min_val": -2.0, "max_val": 1.5}),
    ("hardsigmoid", {}),
    ("hardswish", {}),
    ("softshrink", {"lambd": 0.7}),
    ("hardshrink", {"lambd": 0.7}),
    ("threshold", {"threshold": 0.5, "value": -2.0}),
]

finite = st.floats(-6.0, 6.0, allow_nan=False, allow_infinity=False)
vectors = hnp.arrays(np.float64, st.integers(1, 8), elements=finite)
MARGIN = 1e-3  # samples this close to a kink (of f or of f') are left out


def near_kink(spec, *inputs, **params) -> bool:
    """Whether any differentiable element lies within MARGIN of a kink of f or f'."""
    bound = bind_params(spec, params)
    for mask in (spec.kink_mask, spec.kink_mask2):
        if mask is not None and any(np.any(m) for m in mask(MARGIN, *inputs, **bound)):
            return True
    return False


def assert_all_checked(report, *sizes):
    assert report.passed and report.order == 2, str(report)
    assert [r.checked_elements for r in report.inputs] == list(sizes), str(report)


def test_supported_functions_declare_order_2():
    declared = {name for name, spec in REGISTRY.items() if spec.max_order == 2}
    assert declared == SUPPORTED
    assert lookup("hinge").max_order == 1 and lookup("sigmoid").max_order == 2


# ---------------------------------------------------------------------------
# Every supported function passes order 2 away from kinks (float64)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "params"), ELEMENTWISE, ids=lambda v: str(v))
@given(x=vectors)
def test_elementwise_activations_pass_order_2(name, params, x):
    spec = lookup(name)
    assume(not near_kink(spec, x, **params))
    report = check_gradient(name, x, order=2, **params)
    # grad_output is g (the output's shape), then the input
    assert [r.name for r in report.inputs] == ["grad_output", "input"]
    assert_all_checked(report, x.size, x.size)


@given(
    x=hnp.arrays(np.float64, (2, 3), elements=finite), a=st.lists(finite, min_size=3, max_size=3)
)
def test_prelu_passes_order_2_for_both_inputs(x, a):
    weight = np.array(a)
    assume(not near_kink(lookup("prelu"), x, weight))
    report = check_gradient("prelu", x, weight, order=2)
    assert [r.name for r in report.inputs] == ["grad_output", "input", "weight"]
    assert_all_checked(report, 6, 6, 3)


shapes = st.sampled_from([(5,), (3, 4), (2, 3, 2), ()])


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmin"])
@given(data=st.data(), shape=shapes)
def test_softmax_family_passes_order_2(name, data, shape):
    x = data.draw(hnp.arrays(np.float64, shape, elements=finite))
    dim = data.draw(st.integers(-max(len(shape), 1), max(len(shape), 1) - 1))
    report = check_gradient(name, x, order=2, dim=dim)
    assert_all_checked(report, x.size, x.size)


@given(data=st.data(), shape=st.sampled_from([(4,), (2, 4), (2, 2, 3)]))
def test_glu_passes_order_2(data, shape):
    x = data.draw(hnp.arrays(np.float64, shape, elements=finite))
    dim = data.draw(st.sampled_from([d for d in range(len(shape)) if shape[d] % 2 == 0]))
    report = check_gradient("glu", x, order=2, dim=dim)
    assert_all_checked(report, x.size // 2, x.size)


REDUCTIONS = st.sampled_from(["mean", "sum", "none"])
pairs = hnp.arrays(np.float64, (2, 3), elements=finite)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("mse_loss", {}),
        ("l1_loss", {}),
        ("smooth_l1_loss", {"beta": 0.5}),
        ("huber_loss", {"delta": 0.8}),
        ("soft_margin_loss", {}),
    ],
    ids=lambda v: str(v),
)
@given(x=pairs, t=pairs, reduction=REDUCTIONS)
def test_regression_losses_pass_order_2(name, params, x, t, reduction):
    if name == "soft_margin_loss":
        t = np.where(t >= 0, 1.0, -1.0)
    spec = lookup(name)
    assume(not near_kink(spec, x, t, reduction=reduction, **params))
    report = check_gradient(name, x, t, order=2, reduction=reduction, **params)
    assert_all_checked(report, 1 if reduction != "none" else 6, 6)


probabilities = hnp.arrays(np.float64, (2, 3), elements=st.floats(0.0, 1.0))
positive = st.lists(st.floats(0.25, 4.0), min_size=3, max_size=3).map(np.array)


@given(
    x=pairs,
    t=probabilities,
    reduction=REDUCTIONS,
    weight=st.none() | positive,
    pos_weight=st.none() | positive,
)
def test_bce_with_logits_passes_order_2(x, t, reduction, weight, pos_weight):
    report = check_gradient(
        "binary_cross_entropy_with_logits",
        x,
        t,
        order=2,
        reduction=reduction,
        weight=weight,
        pos_weight=pos_weight,
    )
    assert_all_checked(report, 1 if reduction != "none" else 6, 6)


@given(x=pairs, t=hnp.arrays(np.float64, (2, 3), elements=st.floats(0.0, 5.0)),
       reduction=REDUCTIONS, full=st.booleans())  # fmt: skip
def test_poisson_nll_passes_order_2(x, t, reduction, full):
    expected = 1 if reduction != "none" else 6
    report = check_gradient("poisson_nll_loss", x, t, order=2, reduction=reduction, full=full)
    assert_all_checked(report, expected, 6)
    rate = np.abs(x) + 0.5  # log_input=False: a positive rate
    report = check_gradient(
        "poisson_nll_loss", rate, t, order=2, reduction=reduction, full=full, log_input=False
    )
    assert_all_checked(report, expected, 6)


@given(
    data=st.data(),
    shape=st.sampled_from([(4,), (3, 4), (2, 4, 2)]),
    reduction=REDUCTIONS,
    smoothing=st.sampled_from([0.0, 0.2]),
    weighted=st.booleans(),
    ignore=st.booleans(),
)
def test_cross_entropy_index_targets_pass_order_2(
    data, shape, reduction, smoothing, weighted, ignore
):
    x = data.draw(hnp.arrays(np.float64, shape, elements=finite))
    t_shape = () if len(shape) == 1 else (shape[0], *shape[2:])
    t = data.draw(hnp.arrays(np.int64, t_shape, elements=st.integers(0, 3)))
    params = {"reduction": reduction, "label_smoothing": smoothing}
    if weighted:
        params["weight"] = data.draw(
            st.lists(st.floats(0.25, 4.0), min_size=4, max_size=4).map(np.array)
        )
    if ignore and t.size > 1:
        params["ignore_index"] = int(t.flat[0])
        assume(not np.all(t == t.flat[0]))  # 'mean' over no targets is NaN
    report = check_gradient("cross_entropy", x, t, order=2, **params)
    g_size = t.size if reduction == "none" else 1
    assert_all_checked(report, g_size, x.size)


@given(x=hnp.arrays(np.float64, (3, 4), elements=finite),
       t=hnp.arrays(np.float64, (3, 4), elements=st.floats(0.0, 1.0)),
       reduction=REDUCTIONS, smoothing=st.sampled_from([0.0, 0.1]))  # fmt: skip
def test_cross_entropy_probability_targets_pass_order_2(x, t, reduction, smoothing):
    report = check_gradient(
        "cross_entropy", x, t, order=2, reduction=reduction, label_smoothing=smoothing
    )
    assert_all_checked(report, 3 if reduction == "none" else 1, 12)


@given(x=hnp.arrays(np.float64, (3, 4), elements=finite),
       t=hnp.arrays(np.int64, (3,), elements=st.integers(0, 3)), reduction=REDUCTIONS)  # fmt: skip
def test_nll_loss_passes_order_2(x, t, reduction):
    report = check_gradient("nll_loss", x, t, order=2, reduction=reduction)
    assert_all_checked(report, 3 if reduction == "none" else 1, 12)


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_fast_and_full_modes_both_check_order_2(mode):
    x = np.linspace(-2.0, 2.0, 12).reshape(3, 4)
    report = check_gradient("log_softmax", x, order=2, mode=mode, dim=1)
    assert report.passed and report.mode == mode, str(report)


def test_float32_inputs_pass_with_float32_tolerances():
    # catalog-reference §3.5: float32 needs tolerances ~1e-2 (the analytic side is float32)
    x = np.linspace(-3.0, 3.0, 9, dtype=np.float32)
    report = check_gradient("silu", x, order=2, atol=1e-4, rtol=1e-2)
    assert report.passed, str(report)


# ---------------------------------------------------------------------------
# Closed forms worked by hand
# ---------------------------------------------------------------------------


def second_order(name, g, *inputs, w, **params):
    """(∂/∂g, ∂/∂x...) of ⟨VJP(g), w⟩ from the catalog's analytic second order."""
    return value_and_grad(second_order_spec(name), g, *inputs, grad_output=w, **params)[1]


def test_tanh_second_order_matches_the_closed_form():
    # tanh'' = −2 tanh (1 − tanh²); ∂/∂g = w·tanh' = w·(1 − tanh²).
    x, g, w = np.array([-1.5, 0.25, 2.0]), np.array([0.5, -2.0, 1.5]), np.array([1.0, 3.0, -0.5])
    t = np.array([math.tanh(v) for v in x])
    dg, dx = second_order("tanh", g, x, w=w)
    np.testing.assert_allclose(dg, w * (1 - t**2), rtol=1e-14)
    np.testing.assert_allclose(dx, w * g * (-2 * t * (1 - t**2)), rtol=1e-14)


def test_gelu_second_order_matches_the_closed_form():
    # gelu = xΦ(x): gelu' = Φ + xφ, gelu'' = 2φ + x·(−xφ) = φ(x)(2 − x²); at x = 1:
    # φ(1) = e^(−1/2)/√(2π) = 0.24197072451914337, so gelu''(1) = 0.24197072451914337.
    (_, dx) = second_order("gelu", np.array([1.0]), np.array([1.0]), w=np.array([1.0]))
    np.testing.assert_allclose(dx, [math.exp(-0.5) / math.sqrt(2 * math.pi)], rtol=1e-14)


def test_softmax_second_order_matches_the_closed_form():
    # x = [0, ln 3]: s = [1/4, 3/4]; g = w = [1, 0]: ⟨h, w⟩ = s₁(1 − s₁), so
    # ∂/∂x = (1 − 2s₁)·∂s₁/∂x = ½·[s₁s₂, −s₁s₂] = [3/32, −3/32]; ∂/∂g = s ⊙ (w − ⟨w, s⟩)
    # = [¼·¾, ¾·(−¼)] = [3/16, −3/16].
    x = np.array([0.0, math.log(3.0)])
    dg, dx = second_order("softmax", np.array([1.0, 0.0]), x, w=np.array([1.0, 0.0]), dim=0)
    np.testing.assert_allclose(dg, [3 / 16, -3 / 16], atol=1e-15)
    np.testing.assert_allclose(dx, [3 / 32, -3 / 32], atol=1e-15)


def test_cross_entropy_second_order_matches_the_closed_form():
    # One sample, C = 2, x = [0, ln 3], target 0, 'sum', g = 2: the VJP is g·(q − e₀),
    # q = [1/4, 3/4]; with w = [1, 0]: ⟨h, w⟩ = g(q₀ − 1), so ∂/∂g = q₀ − 1 = −3/4 and
    # ∂/∂x = g·∂q₀/∂x = 2·[q₀q₁, −q₀q₁] = [3/8, −3/8].
    x, t = np.array([[0.0, math.log(3.0)]]), np.array([0])
    dg, dx = second_order(
        "cross_entropy", np.array(2.0), x, t, w=np.array([[1.0, 0.0]]), reduction="sum"
    )
    np.testing.assert_allclose(dg, -0.75, atol=1e-15)
    np.testing.assert_allclose(dx, [[0.375, -0.375]], atol=1e-15)


def test_mse_second_order_matches_the_closed_form():
    # mean of (x − y)² over n = 4: h = g·2(x − y)/4; ∂/∂g = Σ w·2(x − y)/4, ∂/∂x = w·g/2.
    x, t, w = np.array([1.0, 2.0, -1.0, 0.5]), np.zeros(4), np.array([1.0, -1.0, 2.0, 0.0])
    dg, dx = second_order("mse_loss", np.array(3.0), x, t, w=w)
    np.testing.assert_allclose(dg, (2 - 4 - 4 + 0) / 4)
    np.testing.assert_allclose(dx, w * 3.0 / 2)


# ---------------------------------------------------------------------------
# Wrong second-order VJPs are caught
# ---------------------------------------------------------------------------


def with_vjp_vjp(name, wrong):
    """An unregistered copy of a catalog entry whose second-order VJP is ``wrong``."""
    return dataclasses.replace(lookup(name), vjp_vjp=wrong)


def test_a_wrong_second_derivative_is_caught():
    right = lookup("sigmoid").vjp_vjp

    def off(w, g, y, x):  # ∂/∂x 10 % too large
        dg, dx = right(w, g, y, x)
        return dg, dx * 1.1

    x = np.linspace(-2.0, 2.0, 6)
    report = check_gradient(with_vjp_vjp("sigmoid", off), x, order=2)
    assert not report.passed
    assert [r.passed for r in report.inputs] == [True, False], str(report)


def test_a_wrong_jvp_part_is_caught():
    right = lookup("softmax").vjp_vjp

    def transposed(w, g, y, x, dim):  # Jᵀw in place of J·w: right only for symmetric J
        dg, dx = right(w, g, y, x, dim)
        return dg + 0.01, dx

    x = np.array([[0.5, -1.0, 2.0], [0.0, 0.3, -0.2]])
    report = check_gradient(with_vjp_vjp("softmax", transposed), x, order=2, dim=1)
    assert [r.passed for r in report.inputs] == [False, True], str(report)


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_a_missing_term_in_cross_entropy_is_caught(mode):
    def first_order_only(w, g, y, x, t, **params):  # drops ∂/∂x: as if the VJP were linear
        dg, dx = lookup("cross_entropy").vjp_vjp(w, g, y, x, t, **params)
        return dg, np.zeros_like(dx)

    x = np.array([[0.5, -1.0, 2.0], [0.0, 0.3, -0.2]])
    report = check_gradient(
        with_vjp_vjp("cross_entropy", first_order_only), x, np.array([0, 2]), order=2, mode=mode
    )
    assert [r.passed for r in report.inputs] == [True, False], str(report)


# ---------------------------------------------------------------------------
# Kinks at order 2
# ---------------------------------------------------------------------------


def test_relu_at_its_kink_is_left_out_not_failed():
    # catalog-reference §3.1: torch's gradgradcheck(relu) at 0 fails (a step function
    # differenced); the kink mask leaves that element out and says so.
    report = check_gradient("relu", np.array([-1.0, 0.0, 2.0]), order=2)
    assert report.passed, str(report)
    assert report.inputs[1].kink_elements == 1 and report.inputs[1].checked_elements == 2
    assert report.inputs[0].kink_elements == 0  # h is linear in g: no kinks there


@pytest.mark.parametrize(("name", "params"), [("elu", {}), ("celu", {}), ("softsign", {})])
def test_kinks_of_the_first_derivative_are_left_out(name, params):
    # elu (alpha = 1), celu and softsign are C¹ at 0 but f'' jumps there (elu: 1 → 0,
    # celu: 1/alpha → 0, softsign: 2 → −2), so a difference of f' across 0 is not f''
    # (at 0 itself softsign's symmetric difference happens to give sign(0)·2 = 0).
    x = np.array([-1.0, 5e-7, 1.5])
    report = check_gradient(name, x, order=2, **params)
    assert report.passed and report.inputs[1].kink_elements == 1, str(report)
    without = dataclasses.replace(lookup(name), kink_mask2=None)
    assert not check_gradient(without, x, order=2, **params).passed


# ---------------------------------------------------------------------------
# Arguments and the report
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("order", [0, 3, -1, 2.0, "2", True, None])
def test_orders_other_than_1_and_2_are_refused(order):
    with pytest.raises(InvalidArgumentError) as err:
        check_gradient("sigmoid", np.ones(2), order=order)
    assert err.value.field == "order" and "order" in err.value.message


def test_a_function_without_a_second_order_vjp_is_refused_naming_order():
    with pytest.raises(InvalidArgumentError) as err:
        check_gradient("hinge", np.ones(3), np.ones(3), order=2)
    assert err.value.field == "order" and "hinge" in err.value.message


def test_supplied_gradients_are_order_1_only():
    with pytest.raises(InvalidArgumentError) as err:
        check_gradient("sigmoid", np.ones(2), grads=[np.ones(2)], order=2)
    assert err.value.field == "order"


def test_input_errors_name_the_functions_own_fields():
    with pytest.raises(InvalidArgumentError) as err:
        check_gradient("prelu", np.ones((2, 3)), np.ones(2), order=2)
    assert err.value.field == "inputs[1]"
    with pytest.raises(InvalidArgumentError) as err:
        check_gradient("sigmoid", np.ones(2), grad_output=np.ones(3), order=2)
    assert err.value.field == "grad_output"


def test_the_report_says_the_order_and_uses_the_given_grad_output():
    x = np.array([-1.0, 0.5, 2.0])
    first = check_gradient("tanh", x)
    assert first.order == 1 and "order=" not in str(first).splitlines()[0]
    report = check_gradient("tanh", x, order=2, grad_output=np.array([1.0, -2.0, 0.5]))
    assert report.order == 2 and report.function == "tanh" and report.passed
    assert "order=2" in str(report).splitlines()[0]
    assert any("inputs[0] is grad_output" in n for n in report.notes)


def test_zero_grad_output_still_checks_the_input():
    # g = 0: h(g, x) = 0 for every x, so ∂/∂x is 0 and must match; ∂/∂g is still J·w.
    report = check_gradient("sigmoid", np.array([0.3, -1.2]), order=2, grad_output=np.zeros(2))
    assert report.passed, str(report)


def test_the_default_grad_output_is_seeded():
    x = np.linspace(-1.0, 1.0, 5)
    a = check_gradient("mish", x, order=2, seed=7)
    b = check_gradient("mish", x, order=2, seed=7)
    c = check_gradient("mish", x, order=2, seed=8)
    assert a.inputs == b.inputs and a.inputs != c.inputs


# ---------------------------------------------------------------------------
# No NumPy warning on any input (pyproject turns RuntimeWarning into errors)
# ---------------------------------------------------------------------------

EXTREME = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e300, -1e300, 1e-310, 3.0, -50.0])


def _extreme_inputs(name, dtype):
    spec = lookup(name)
    x = EXTREME.astype(dtype) if dtype == np.float64 else np.float32(EXTREME.clip(-3e38, 3e38))
    if name == "prelu":
        return [x, np.array([0.25], dtype)], {}
    if name == "threshold":
        return [x], {"threshold": 0.5, "value": -1.0}
    if name in ("cross_entropy", "nll_loss"):
        return [x.reshape(2, 5), np.array([1, 4])], {}
    if spec.kind == "loss":
        t = (
            np.abs(EXTREME[::-1]).astype(dtype)
            if dtype == np.float64
            else np.float32(np.abs(EXTREME[::-1]).clip(0, 3e38))
        )
        return [x, t], {}
    if name == "glu":
        return [x], {}
    return [x], {}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(SUPPORTED))
def test_second_order_vjps_never_warn(name, dtype):
    inputs, params = _extreme_inputs(name, dtype)
    spec = lookup(name)
    derived = second_order_spec(spec)
    for reduction in ("mean", "none") if spec.kind == "loss" else (None,):
        p = dict(params) if reduction is None else {**params, "reduction": reduction}
        y = value_and_grad(spec, *inputs, **p)[0]
        g = np.linspace(-1.0, -0.5, y.size)  # no 0 (the first-order glu VJP warns at g·inf = 0·inf)
        g = g.reshape(y.shape).astype(dtype)
        h = value_and_grad(derived, g, *inputs, **p)[0]
        w = np.linspace(1.0, -0.5, h.size).reshape(h.shape).astype(dtype)
        grads = value_and_grad(derived, g, *inputs, grad_output=w, **p)[1]
        assert grads[0].shape == g.shape
