"""The gradient checker against independent truth.

The functions under test are either catalog entries whose derivatives are worked by hand
here (sigmoid, relu) or unregistered FunctionSpecs written in this file, each with a
closed-form VJP, some deliberately wrong (off by a factor), so the checker must tell them
apart. Expected numbers come from closed forms, or from catalog-reference §3.1 (torch 2.13
gradcheck behaviour: relu at 0 gives numerical 0.5 against analytical 0).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nnfunc.catalog import check_gradient
from nnfunc.catalog.gradcheck import GradcheckReport
from nnfunc.catalog.spec import REDUCTION, FunctionSpec, Input, Param
from nnfunc.errors import InvalidArgumentError, NotFoundError

RNG = np.random.default_rng(1234)
X = np.linspace(-2.5, 2.5, 10)  # step 5/9: avoids 0, the kink of relu


def make(name, forward, vjp, **meta) -> FunctionSpec:
    """An unregistered spec: the checker accepts a FunctionSpec wherever it takes a name."""
    meta.setdefault("summary", "test function")
    meta.setdefault("formula", "see the test")
    return FunctionSpec(
        name=name, kind=meta.pop("kind", "activation"), forward=forward, vjp=vjp, **meta
    )


def sigmoid_prime(x):
    """σ'(x) = e^{-x} / (1 + e^{-x})², by hand (not the catalog's y(1 - y))."""
    e = np.exp(-x)
    return e / (1 + e) ** 2


# --- elementwise: f(x) = x³, f' = 3x² ----------------------------------------------
CUBE = make("cube", lambda x: x**3, lambda g, y, x: g * 3 * x**2, elementwise=True)
CUBE_WRONG = make("cube_wrong", lambda x: x**3, lambda g, y, x: g * 3.3 * x**2, elementwise=True)

# --- coupled, no dim, nothing batches: f(x) = x·Σx, VJP = g·Σx + Σ(g·x) --------------
COUPLED = make("coupled", lambda x: x * x.sum(), lambda g, y, x: g * x.sum() + (g * x).sum())
COUPLED_WRONG = make("coupled_wrong", lambda x: x * x.sum(), lambda g, y, x: g * x.sum())


# --- along an axis: softmax written here, VJP s ⊙ (g − ⟨g, s⟩) ----------------------
def _softmax(x, dim):
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


DIM = Param("dim", "int", -1, "the axis")
SOFTMAX = make(
    "softmax_t",
    _softmax,
    lambda g, s, x, dim: s * (g - (g * s).sum(axis=dim, keepdims=True)),
    params=(DIM,),
)
SOFTMAX_WRONG = make("softmax_t_wrong", _softmax, lambda g, s, x, dim: s * g, params=(DIM,))


# --- a loss with a reduction: (x − t)², not marked elementwise ---------------------
def _reduce(loss, reduction):
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]


def _sq_vjp(factor):
    def vjp(g, y, x, t, reduction):
        scale = g if reduction == "none" else g / (x.size if reduction == "mean" else 1)
        return factor * 2 * (x - t) * scale

    return vjp


LOSS_INPUTS = (Input("input"), Input("target", differentiable=False))
SQ = make(
    "sq",
    lambda x, t, reduction: _reduce((x - t) ** 2, reduction),
    _sq_vjp(1.0),
    kind="loss",
    inputs=LOSS_INPUTS,
    params=(REDUCTION,),
)
SQ_WRONG = make(
    "sq_wrong",
    lambda x, t, reduction: _reduce((x - t) ** 2, reduction),
    _sq_vjp(1.05),
    kind="loss",
    inputs=LOSS_INPUTS,
    params=(REDUCTION,),
)


# --- a weighted mean (the divisor is Σw, not numel) ---------------------------------
def _wsq(x, t, weight, reduction):
    loss = weight * (x - t) ** 2
    return (
        loss if reduction == "none" else loss.sum() / (weight.sum() if reduction == "mean" else 1)
    )


def _wsq_vjp(g, y, x, t, weight, reduction):
    scale = g if reduction == "none" else g / (weight.sum() if reduction == "mean" else 1)
    return 2 * weight * (x - t) * scale


WSQ = make(
    "wsq",
    _wsq,
    _wsq_vjp,
    kind="loss",
    inputs=LOSS_INPUTS,
    params=(Param("weight", "tensor", None, "weights", nullable=True), REDUCTION),
)


# --- cross-entropy on 2-d input only (so only the concatenated layout batches) -----
def _ce(x, t, reduction):
    if x.ndim != 2:
        raise InvalidArgumentError("inputs[0]: expected 2-d", field="inputs[0]")
    m = x.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]
    return _reduce(lse - np.take_along_axis(x, t[:, None], axis=1)[:, 0], reduction)


def _ce_vjp(g, y, x, t, reduction):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    grad = e / e.sum(axis=1, keepdims=True)
    grad[np.arange(len(t)), t] -= 1
    g = g if reduction == "none" else np.full(len(t), g / (len(t) if reduction == "mean" else 1))
    return grad * g[:, None]


CE = make(
    "ce2d",
    _ce,
    _ce_vjp,
    kind="loss",
    inputs=(Input("input"), Input("target", differentiable=False, kind="index")),
    params=(REDUCTION,),
)


# --- three inputs, two differentiable: f(a, b, c) = a·b² + c ------------------------
def _abc_vjp(wrong_b):
    def vjp(g, y, a, b, c):
        return g * b**2, g * (2.2 if wrong_b else 2) * a * b

    return vjp


ABC_INPUTS = (Input("a"), Input("b"), Input("c", differentiable=False))
ABC = make(
    "abc", lambda a, b, c: a * b**2 + c, _abc_vjp(False), inputs=ABC_INPUTS, elementwise=True
)
ABC_WRONG_B = make(
    "abc_wrong_b", lambda a, b, c: a * b**2 + c, _abc_vjp(True), inputs=ABC_INPUTS, elementwise=True
)


# --- prelu-like: a per-channel weight aligned with dim 1 of (N, C, L) ----------------
def _prelu(x, w):
    return np.where(x > 0, x, w[:, None] * x)


def _prelu_vjp(factor):
    def vjp(g, y, x, w):
        dx = np.where(x > 0, g, g * w[:, None])
        dw = (g * np.minimum(x, 0)).sum(axis=(0, 2))
        return dx, factor * dw

    return vjp


PRELU_INPUTS = (Input("input"), Input("weight"))
PRELU = make("prelu_t", _prelu, _prelu_vjp(1.0), inputs=PRELU_INPUTS, elementwise=True)
PRELU_WRONG_W = make(
    "prelu_t_wrong", _prelu, _prelu_vjp(0.9), inputs=PRELU_INPUTS, elementwise=True
)


def _away_from_zero(shape, margin=0.1):
    x = RNG.uniform(-2, 2, shape)
    return np.where(np.abs(x) < margin, margin + 0.5, x)


# ---------------------------------------------------------------------------------
# Right VJPs pass, wrong ones fail: full and fast modes
# ---------------------------------------------------------------------------------

CORRECT = [
    (CUBE, (X,), {}),
    (COUPLED, (RNG.normal(size=(3, 4)),), {}),
    (SOFTMAX, (RNG.normal(size=(3, 5)),), {"dim": 0}),
    (SOFTMAX, (RNG.normal(size=(2, 3, 4)),), {"dim": -1}),
    (SQ, (RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))), {"reduction": "mean"}),
    (SQ, (RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))), {"reduction": "sum"}),
    (SQ, (RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))), {"reduction": "none"}),
    (
        WSQ,
        (RNG.normal(size=5), RNG.normal(size=5)),
        {"weight": RNG.uniform(0.5, 2, 5), "reduction": "mean"},
    ),
    (CE, (RNG.normal(size=(4, 3)), np.array([0, 2, 1, 2])), {"reduction": "mean"}),
    (ABC, (RNG.normal(size=(2, 3)), RNG.normal(size=(2, 3)), RNG.normal(size=(2, 3))), {}),
    (PRELU, (_away_from_zero((2, 3, 4)), RNG.uniform(0.1, 0.5, 3)), {}),
    ("sigmoid", (RNG.normal(size=(3, 4)) * 4,), {}),
    ("relu", (_away_from_zero((5, 2)),), {}),
]
WRONG = [
    (CUBE_WRONG, (X,), {}, ["input"]),
    (COUPLED_WRONG, (RNG.normal(size=(3, 4)) + 1,), {}, ["input"]),
    (SOFTMAX_WRONG, (RNG.normal(size=(3, 5)),), {"dim": 1}, ["input"]),
    (
        SQ_WRONG,
        (RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))),
        {"reduction": "mean"},
        ["input"],
    ),
    (
        ABC_WRONG_B,
        (RNG.uniform(1, 2, (2, 3)), RNG.uniform(1, 2, (2, 3)), np.zeros((2, 3))),
        {},
        ["b"],
    ),
    (PRELU_WRONG_W, (_away_from_zero((2, 3, 4)) - 3, RNG.uniform(0.1, 0.5, 3)), {}, ["weight"]),
]


def _id(case):
    spec = case[0]
    return spec if isinstance(spec, str) else spec.name


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("case", CORRECT, ids=[_id(c) for c in CORRECT])
def test_a_correct_vjp_passes(case, mode):
    fn, inputs, params = case
    report = check_gradient(fn, *inputs, mode=mode, **params)
    assert report.passed, str(report)
    assert report.mode == mode
    assert not report.checked_supplied
    assert all(r.checked_elements > 0 and not r.skipped for r in report.inputs)


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("case", WRONG, ids=[_id(c) for c in WRONG])
def test_a_wrong_vjp_fails(case, mode):
    fn, inputs, params, failing = case
    report = check_gradient(fn, *inputs, mode=mode, **params)
    assert not report.passed, str(report)
    assert [r.name for r in report.inputs if not r.passed] == failing, str(report)


def test_full_mode_reports_the_worst_element():
    # cube_wrong: a = 3.3x², n = 3x² (central differences of x³ are exact up to eps²),
    # so the worst element is the largest |x|: x = ±2.5 at index 0 or 9 (ties: first).
    report = check_gradient(CUBE_WRONG, X, mode="full")
    (r,) = report.inputs
    assert r.worst_index == (0,)
    assert r.analytic == pytest.approx(3.3 * 6.25)
    assert r.numerical == pytest.approx(3 * 6.25, rel=1e-9)
    assert r.max_abs_error == pytest.approx(0.3 * 6.25, rel=1e-8)
    assert r.max_rel_error == pytest.approx(0.3 / 6.3, rel=1e-8)  # |a−n| / (|a|+|n|)
    assert r.checked_elements == 10


def test_the_pass_rule_is_torchs_relative_to_the_numerical_value():
    # f = x³ at x = 1: n = 3 (+ eps² = 1e-12); the bound is atol + rtol·|n| = 1e-5 + 3e-3.
    x = np.array([1.0])
    inside, outside = 3 + 0.9 * (1e-5 + 3e-3), 3 + 1.1 * (1e-5 + 3e-3)
    assert check_gradient(CUBE, x, grads=(np.array([inside]),)).passed
    assert not check_gradient(CUBE, x, grads=(np.array([outside]),)).passed


def test_the_methods_full_mode_uses():
    notes = lambda fn, *xs, **p: " ".join(check_gradient(fn, *xs, mode="full", **p).notes)  # noqa: E731
    assert "numerical VJP" not in notes(CUBE, X)  # all elements at once
    assert "stacked copies (stack)" in notes(SOFTMAX, RNG.normal(size=(3, 4)), dim=0)
    assert "stacked copies (stack)" in notes(SQ, np.ones((2, 3)), np.zeros((2, 3)))
    assert "stacked copies (concat)" in notes(CE, RNG.normal(size=(3, 4)), np.array([0, 1, 3]))
    assert "one element at a time" in notes(COUPLED, RNG.normal(size=(2, 3)))
    assert "one element at a time" in notes(
        WSQ, np.ones(3), np.zeros(3), weight=np.array([1.0, 2.0, 3.0])
    )


def test_large_inputs_batch_in_chunks():
    x = RNG.normal(size=(40, 100))  # 4000 elements: several chunks of stacked copies
    report = check_gradient(SOFTMAX, x, mode="full", dim=1)
    assert report.passed and report.inputs[0].checked_elements == 4000, str(report)


def test_auto_mode():
    assert check_gradient(CUBE, X).mode == "full"
    big = RNG.normal(size=10_000)
    assert check_gradient(CUBE, big).mode == "full"  # elementwise: two calls per input
    assert check_gradient(SOFTMAX, big).mode == "fast"
    assert check_gradient(SOFTMAX, big).passed


# ---------------------------------------------------------------------------------
# Kinks, domain edges, non-finite values
# ---------------------------------------------------------------------------------


def test_relu_at_zero_is_a_kink_not_a_failure():
    for mode in ("full", "fast"):
        report = check_gradient("relu", np.array([-1.0, 0.0, 2.0]), mode=mode)
        (r,) = report.inputs
        assert report.passed, str(report)
        assert r.kink_elements == 1 and r.checked_elements == 2
        assert any("kink" in n for n in report.notes)


def test_without_a_kink_mask_relu_at_zero_fails_as_in_torch():
    # catalog-reference §3.1: torch's gradcheck of relu at 0 fails, numerical 0.5 vs 0.
    relu = make(
        "relu_no_mask",
        lambda x: np.maximum(x, 0),
        lambda g, y, x: np.where(y > 0, g, 0),
        elementwise=True,
    )
    (r,) = check_gradient(relu, np.array([-1.0, 0.0, 2.0]), mode="full").inputs
    assert not r.passed
    assert r.worst_index == (1,) and r.analytic == 0.0
    assert r.numerical == pytest.approx(0.5)


def test_a_kink_within_eps_counts():
    # relu at 1e-7 is within eps = 1e-6 of its kink (catalog-reference §3.1: torch fails).
    report = check_gradient("relu", np.array([1e-7, 1e-5]))
    assert report.passed and report.inputs[0].kink_elements == 1


def test_a_perturbation_leaving_the_domain_skips_the_input():
    def log(x):
        if np.any(x <= 0):
            raise InvalidArgumentError("inputs[0] (input): expected x > 0", field="inputs[0]")
        return np.log(x)

    spec = make("log_t", log, lambda g, y, x: g / x, elementwise=True)
    assert check_gradient(spec, np.array([0.5, 2.0])).passed
    report = check_gradient(spec, np.array([1e-7, 2.0]))  # 1e-7 - eps < 0
    (r,) = report.inputs
    assert not report.passed and "domain" in r.skipped and "x > 0" in r.skipped
    assert any("domain" in n for n in report.notes)
    fast = check_gradient(spec, np.array([1e-7, 2.0]), mode="fast")
    assert not fast.passed and fast.inputs[0].skipped


def test_non_finite_values_are_left_out_and_noted():
    # f = x below 5, NaN from 5 on: f(6 ± eps) is NaN, so 6 is left out; elsewhere f' = 1.
    spec = make(
        "nan_from_5",
        lambda x: np.where(x < 5, x, np.nan),
        lambda g, y, x: g + 0 * x,
        elementwise=True,
    )
    report = check_gradient(spec, np.array([1.0, 2.0, 6.0]), mode="full")
    assert report.passed and report.inputs[0].checked_elements == 2, str(report)
    assert any("not finite" in n for n in report.notes)
    fast = check_gradient(spec, np.array([1.0, 2.0, 6.0]), mode="fast")
    assert not fast.passed and "not finite" in fast.inputs[0].skipped


def test_equal_infinities_are_no_change():
    # f = x below 5, +inf from 5 on: f(6 ± eps) = inf on both sides, a difference of 0
    # (jax's safe_sub), which the analytic 0 there matches.
    spec = make(
        "inf_from_5",
        lambda x: np.where(x < 5, x, np.inf),
        lambda g, y, x: np.where(x < 5, g, 0.0),
        elementwise=True,
    )
    for mode in ("full", "fast"):
        report = check_gradient(spec, np.array([1.0, 2.0, 6.0]), mode=mode)
        assert report.passed and report.inputs[0].checked_elements == 3, str(report)


def test_a_non_finite_analytic_gradient_is_left_out_and_noted():
    spec = make(
        "nan_grad_at_2",
        lambda x: 2 * x,
        lambda g, y, x: np.where(x == 2, np.nan, 2 * g),
        elementwise=True,
    )
    for mode in ("full", "fast"):
        report = check_gradient(spec, np.array([1.0, 2.0, 3.0]), mode=mode)
        assert report.passed and report.inputs[0].checked_elements == 2, str(report)
        assert any("analytic gradient is not finite" in n for n in report.notes)


def test_extreme_inputs_do_not_warn():
    # pyproject turns RuntimeWarning into errors: any NumPy warning fails this test.
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e308, -1e308, 1e-300, 3.0])
    for fn in ("relu", "sigmoid"):
        for mode in ("full", "fast"):
            check_gradient(fn, x, mode=mode)


def test_a_step_lost_to_rounding_is_noted_not_failed():
    # 1e300 ± 1e-6 == 1e300: differences say 0 where relu' = 1; inf has no difference.
    for mode in ("full", "fast"):
        report = check_gradient("relu", np.array([1e300, np.inf, 2.0]), mode=mode)
        assert report.passed and report.inputs[0].checked_elements == 1, str(report)
        assert any("step is lost" in n for n in report.notes)


def test_all_elements_at_kinks():
    report = check_gradient("relu", np.zeros(3))
    assert report.passed and report.inputs[0].checked_elements == 0
    assert report.inputs[0].kink_elements == 3


def test_empty_and_zero_d_inputs():
    assert check_gradient(CUBE, np.zeros((0, 3))).passed
    r = check_gradient(CUBE, np.float64(1.5)).inputs[0]
    assert r.passed and r.worst_index == () and r.numerical == pytest.approx(6.75)


# ---------------------------------------------------------------------------------
# The caller's gradients, upstream gradients, float32, multi-input
# ---------------------------------------------------------------------------------


def test_supplied_gradients():
    x = RNG.normal(size=(2, 3)) * 3
    right = sigmoid_prime(x)
    report = check_gradient("sigmoid", x, grads=(right,))
    assert report.passed and report.checked_supplied
    assert not check_gradient("sigmoid", x, grads=(right * 1.01 + 1e-3,)).passed
    assert not check_gradient("sigmoid", x, grads=[right * 1.01 + 1e-3], mode="fast").passed
    assert check_gradient("sigmoid", x, grads=right).passed  # a bare array for one input


def test_supplied_gradients_for_a_multi_input_function():
    a, b, c = RNG.normal(size=3), RNG.normal(size=3), RNG.normal(size=3)
    report = check_gradient(ABC, a, b, c, grads=(b**2, 2 * a * b))
    assert report.passed and [r.name for r in report.inputs] == ["a", "b"]
    wrong = check_gradient(ABC, a + 2, b + 2, c, grads=((b + 2) ** 2, (a + 2) * (b + 2)))
    assert [r.passed for r in wrong.inputs] == [True, False]


def test_grad_output_is_the_upstream_gradient():
    x, v = RNG.normal(size=4), RNG.normal(size=4)
    assert check_gradient("sigmoid", x, grad_output=v).passed
    assert check_gradient("sigmoid", x, grad_output=v, grads=(v * sigmoid_prime(x),)).passed
    assert not check_gradient("sigmoid", x, grad_output=v, grads=(sigmoid_prime(x),)).passed
    t = RNG.normal(size=(2, 3))
    # A reduced loss: v is a scalar; the VJP of mean((x−t)²) is 2v(x−t)/6.
    x2 = RNG.normal(size=(2, 3))
    assert check_gradient(
        SQ, x2, t, grad_output=np.float64(2.5), grads=(2 * 2.5 * (x2 - t) / 6,)
    ).passed


def test_float32_inputs():
    x = (RNG.normal(size=(3, 4)) * 3).astype(np.float32)
    report = check_gradient("sigmoid", x)
    assert report.passed, str(report)
    assert not check_gradient(CUBE_WRONG, x.astype(np.float32)).passed
    # The analytic side is float32: its rounding shows against the float64 reference.
    assert 0 < report.inputs[0].max_abs_error < 1e-6


def test_float16_inputs_are_noted():
    report = check_gradient(
        "sigmoid", np.array([0.5, -1.0], dtype=np.float16), atol=1e-3, rtol=1e-2
    )
    assert report.passed and any("float16" in n for n in report.notes)


def test_fast_mode_is_seeded():
    x = RNG.normal(size=20)
    a = check_gradient(SOFTMAX, x, mode="fast", seed=7).inputs[0]
    b = check_gradient(SOFTMAX, x, mode="fast", seed=7).inputs[0]
    c = check_gradient(SOFTMAX, x, mode="fast", seed=8).inputs[0]
    assert a == b and a.numerical != c.numerical and a.worst_index == ()


def test_fast_mode_scales_atol_as_torch():
    # f = 0·x: n = 0 exactly. A supplied gradient c everywhere gives a = c·Σu, and torch's
    # bound atol·Σu·Σv (v = ones(50)) passes it iff c <= 50·atol = 5e-4, whatever u is.
    zero = make("zero", lambda x: 0 * x, lambda g, y, x: 0 * g, elementwise=True)
    x = np.linspace(1, 2, 50)
    assert check_gradient(zero, x, grads=(np.full(50, 4e-4),), mode="fast").passed
    assert not check_gradient(zero, x, grads=(np.full(50, 6e-4),), mode="fast").passed
    assert not check_gradient(zero, x, grads=(np.full(50, 4e-4),), mode="full").passed


def test_params_named_like_the_checkers_settings():
    spec = make(
        "scaled",
        lambda x, eps: eps * x,
        lambda g, y, x, eps: eps * g,
        params=(Param("eps", "float", 1.0, "a scale"),),
        elementwise=True,
    )
    report = check_gradient(spec, X, parameters={"eps": 3.0}, eps=1e-6)
    assert report.passed and report.params == {"eps": 3.0} and report.eps == 1e-6


def test_the_report_is_frozen():
    report = check_gradient("sigmoid", X)
    assert isinstance(report, GradcheckReport) and report.function == "sigmoid"
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.passed = False  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.inputs[0].passed = False  # type: ignore[misc]


def test_aliases_resolve():
    assert check_gradient("logistic", X).function == "sigmoid"


# ---------------------------------------------------------------------------------
# Bad arguments
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"grads": ()}, "gradients[0]"),
        ({"grads": (X, X)}, "gradients[1]"),
        ({"grads": (X[:3],)}, "gradients[0]"),
        ({"grads": (np.array(["a"] * 10),)}, "gradients[0]"),
        ({"eps": 0.0}, "eps"),
        ({"eps": float("nan")}, "eps"),
        ({"eps": 2.0}, "eps"),
        ({"atol": True}, "atol"),
        ({"atol": -1.0}, "atol"),
        ({"rtol": float("inf")}, "rtol"),
        ({"mode": "slow"}, "mode"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"grad_output": np.ones(3)}, "grad_output"),
        ({"grad_output": np.full(10, np.nan)}, "grad_output"),
        ({"negative_slope": 0.1}, "parameters.negative_slope"),
    ],
)
def test_bad_arguments_raise(kwargs, field):
    with pytest.raises(InvalidArgumentError) as exc:
        check_gradient("sigmoid", X, **kwargs)
    assert exc.value.field == field


def test_bad_grads_for_a_multi_input_function():
    a = np.ones(3)
    with pytest.raises(InvalidArgumentError) as exc:
        check_gradient(ABC, a, a, a, grads=(a,))
    assert exc.value.field == "gradients[1]"
    with pytest.raises(InvalidArgumentError) as exc:
        check_gradient(ABC, a, a, a, grads=(a, np.ones(4)))
    assert exc.value.field == "gradients[1]"


def test_unknown_functions_and_bad_inputs():
    with pytest.raises(NotFoundError):
        check_gradient("sigmoidd", X)
    with pytest.raises(InvalidArgumentError) as exc:
        check_gradient("sigmoid", X, X)
    assert exc.value.field == "inputs"


def test_symmetric_data_cannot_fool_the_batched_layouts():
    """Zero logits with equal targets: (copies, N, C) stacked copies read as cross-entropy
    over (N, C, d) reproduce x and x ± eps·e_j alike; the random probe copy does not.
    The true gradient of the mean CE at zero logits is (q - onehot(y)) / N, by hand:
    q = [1/2, 1/2], y = 0 -> [[-1/4, 1/4], [-1/4, 1/4]]."""
    x = np.zeros((2, 2))
    report = check_gradient("cross_entropy", x, np.array([0, 0]), mode="full")
    assert report.passed, report
    bad = check_gradient(
        "cross_entropy", x, np.array([0, 0]), mode="full", grads=(np.full((2, 2), 0.25),)
    )
    assert not bad.passed and bad.inputs[0].max_abs_error == pytest.approx(0.5, rel=1e-6)
