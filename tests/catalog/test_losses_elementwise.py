"""What the generic catalog tests cannot say about the elementwise and per-sample losses:
identities between entries, reduction divisors, shape rules and the quiet arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nnfunc import catalog
from tests.catalog.cases import reals, shapes

LOSSES = [
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "soft_margin_loss",
    "hinge_embedding_loss",
    "poisson_nll_loss",
    "kl_div",
]


def _pair(shape, low=-4.0, high=4.0):
    return st.tuples(reals(np.float64, shape, low, high), reals(np.float64, shape, low, high))


@given(shapes(min_side=1).flatmap(_pair), st.sampled_from([0.25, 1.0, 3.0]))
def test_huber_is_delta_times_smooth_l1(xy, delta):
    # ref §2.1 #4: Huber = δ·SmoothL1(β = δ) (torch, RUN), values and gradients
    x, y = xy
    h, (gh,) = catalog.value_and_grad("huber_loss", x, y, delta=delta, reduction="none")
    s, (gs,) = catalog.value_and_grad("smooth_l1_loss", x, y, beta=delta, reduction="none")
    np.testing.assert_allclose(h, delta * s, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gh, delta * gs, rtol=1e-12, atol=1e-15)


@given(shapes().flatmap(_pair))
def test_smooth_l1_with_beta_zero_is_l1(xy):
    # ref §2.1 #3: β = 0 dispatches to l1_loss
    x, y = xy
    s, (gs,) = catalog.value_and_grad("smooth_l1_loss", x, y, beta=0.0, reduction="none")
    a, (ga,) = catalog.value_and_grad("l1_loss", x, y, reduction="none")
    np.testing.assert_array_equal(s, a)
    np.testing.assert_array_equal(gs, ga)


@given(
    shapes().flatmap(lambda s: st.tuples(reals(np.float64, s, -8, 8), reals(np.float64, s, 0, 1)))
)
def test_bce_with_logits_matches_bce_of_sigmoid(xy):
    # away from saturation (|x| ≤ 8 in float64) the two forms agree
    x, y = xy
    p = 1 / (1 + np.exp(-x))
    a = catalog.evaluate("binary_cross_entropy_with_logits", x, y, reduction="none")
    b = catalog.evaluate("binary_cross_entropy", p, y, reduction="none")
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    # chain rule: ∂/∂x BCE(σ(x)) = ∂BCE/∂p · σ'(x)
    (ga,) = catalog.gradient("binary_cross_entropy_with_logits", x, y, reduction="none")
    (gb,) = catalog.gradient("binary_cross_entropy", p, y, reduction="none")
    np.testing.assert_allclose(ga, gb * p * (1 - p), rtol=1e-7, atol=1e-12)


def test_multilabel_soft_margin_is_class_mean_of_bce_with_logits():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(4, 5)) * 3, rng.uniform(size=(4, 5))
    w = rng.uniform(0.5, 2, size=5)
    per = catalog.evaluate("binary_cross_entropy_with_logits", x, y, weight=w, reduction="none")
    got = catalog.evaluate("multilabel_soft_margin_loss", x, y, weight=w, reduction="none")
    np.testing.assert_allclose(got, per.mean(axis=-1), rtol=1e-12)
    # 'mean' divides by the number of samples N (ref §2.0), not by N·C
    mean = catalog.evaluate("multilabel_soft_margin_loss", x, y, weight=w)
    np.testing.assert_allclose(mean, per.mean(axis=-1).mean(), rtol=1e-12)


@pytest.mark.parametrize("name", LOSSES)
def test_mean_is_sum_over_numel_and_empty_reductions(name):
    # ref §2.0: 'mean' divides by numel of the unreduced loss; §0.5: empty mean NaN, sum 0
    x = np.array([[0.2, 0.4, 0.6], [0.7, 0.9, 0.1]])
    y = np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 0.25]])
    if name in ("soft_margin_loss", "hinge_embedding_loss"):
        y = np.sign(y - 0.4)
    total = catalog.evaluate(name, x, y, reduction="sum")
    np.testing.assert_allclose(catalog.evaluate(name, x, y), total / 6, rtol=1e-12)
    empty = np.zeros((0, 3))
    assert np.isnan(catalog.evaluate(name, empty, empty))
    assert catalog.evaluate(name, empty, empty, reduction="sum") == 0
    assert catalog.evaluate(name, empty, empty, reduction="none").shape == (0, 3)
    (g,) = catalog.gradient(name, empty, empty)
    assert g.shape == (0, 3)


def test_bce_weight_does_not_change_the_divisor():
    # ref §6 #4: BCE and BCEWithLogits 'mean' divide by numel, not Σw
    x, y, w = np.array([0.3, 0.6]), np.array([1.0, 0.0]), np.array([4.0, 0.0])
    for name in ("binary_cross_entropy", "binary_cross_entropy_with_logits"):
        unweighted = catalog.evaluate(name, x, y, reduction="none")
        np.testing.assert_allclose(
            catalog.evaluate(name, x, y, weight=w), 4 * unweighted[0] / 2, rtol=1e-12
        )


def test_kl_batchmean_divides_by_the_first_dimension():
    rng = np.random.default_rng(2)
    x, y = np.log(rng.dirichlet(np.ones(4), size=3)), rng.dirichlet(np.ones(4), size=3)
    total = catalog.evaluate("kl_div", x, y, reduction="sum")
    np.testing.assert_allclose(catalog.evaluate("kl_div", x, y, reduction="batchmean"), total / 3)
    np.testing.assert_allclose(catalog.evaluate("kl_div", x, y), total / 12)
    # a 0-d input: batchmean is the sum (torch divides only when input.dim() != 0)
    assert catalog.evaluate("kl_div", -1.0, 0.5, reduction="batchmean") == pytest.approx(
        0.5 * (math.log(0.5) + 1.0)
    )
    assert np.isnan(
        catalog.evaluate("kl_div", np.zeros((0, 2)), np.zeros((0, 2)), reduction="batchmean")
    )


@pytest.mark.parametrize("vshape", [(3, 4), (3, 1), (3,)])
def test_gaussian_var_shapes_match_the_expanded_var(vshape):
    # ref §2.1 #11: var of the input's shape, a last dim of 1, or one fewer dim
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    var = rng.uniform(0.5, 2.0, size=vshape)
    full = np.broadcast_to(var.reshape(3, -1), (3, 4)).copy()
    assert catalog.evaluate("gaussian_nll_loss", x, y, var) == pytest.approx(
        catalog.evaluate("gaussian_nll_loss", x, y, full), rel=1e-12
    )
    gx, gv = catalog.gradient("gaussian_nll_loss", x, y, var, reduction="sum")
    fx, fv = catalog.gradient("gaussian_nll_loss", x, y, full, reduction="sum")
    np.testing.assert_allclose(gx, fx, rtol=1e-12)
    assert gv.shape == vshape
    np.testing.assert_allclose(
        gv, fv.sum(axis=-1).reshape(vshape) if vshape != (3, 4) else fv, rtol=1e-12
    )


def test_gaussian_var_clamp_is_straight_through():
    # below eps the loss is flat in var, but torch's gradient is taken at v = eps (ref §2.1 #11)
    _, (_, gv) = catalog.value_and_grad("gaussian_nll_loss", 1.0, 0.0, 1e-7, eps=1e-3)
    assert gv == pytest.approx(0.5 * (1 / 1e-3 - 1 / 1e-6), rel=1e-12)


def test_poisson_full_adds_stirling_only_where_target_exceeds_one():
    x, y = np.array([0.5, 0.5, 0.5]), np.array([0.0, 1.0, 4.0])
    plain = catalog.evaluate("poisson_nll_loss", x, y, reduction="none")
    full = catalog.evaluate("poisson_nll_loss", x, y, full=True, reduction="none")
    stirling = 4 * math.log(4) - 4 + 0.5 * math.log(8 * math.pi)
    np.testing.assert_allclose(full - plain, [0.0, 0.0, stirling], rtol=1e-12, atol=0)


def test_hinge_embedding_target_zero_gets_both_terms():
    # ref §2.1 #12: where(y ≠ 1, clamp_min(m − x, 0)) + where(y ≠ −1, x)
    x = np.array([0.3, 1.5, -2.0])
    got = catalog.evaluate("hinge_embedding_loss", x, np.zeros(3), reduction="none")
    np.testing.assert_allclose(got, np.maximum(1 - x, 0) + x, rtol=1e-15)


@pytest.mark.parametrize(
    "name",
    [
        "mse_loss",
        "l1_loss",
        "smooth_l1_loss",
        "huber_loss",
        "binary_cross_entropy_with_logits",
        "kl_div",
        "poisson_nll_loss",
        "soft_margin_loss",
    ],
)
def test_an_extreme_element_does_not_change_the_others(name):
    # the quiet path (taken when any element is extreme) agrees with the plain one
    rng = np.random.default_rng(4)
    x, y = rng.uniform(-3, 3, size=8), rng.uniform(0, 1, size=8)
    if name == "soft_margin_loss":
        y = np.sign(y - 0.5)
    plain, (gp,) = catalog.value_and_grad(name, x, y, reduction="none")
    for bad in (np.nan, np.inf, -np.inf, 1e300):
        xe, ye = np.append(x, bad), np.append(y, y[0])
        quiet, (gq,) = catalog.value_and_grad(name, xe, ye, reduction="none")
        np.testing.assert_allclose(quiet[:-1], plain, rtol=1e-14)
        np.testing.assert_allclose(gq[:-1], gp, rtol=1e-14)


def test_sums_of_extremes_are_nan_or_inf_without_warnings():
    # +inf and −inf losses sum to NaN; a finite overflow to inf (no RuntimeWarning: pyproject
    # turns them into errors)
    x, y = np.array([np.inf, -np.inf]), np.ones(2)
    assert np.isnan(catalog.evaluate("hinge_embedding_loss", x, y, reduction="sum"))
    big = np.full(4, 1e308)
    assert catalog.evaluate("l1_loss", big, -big, reduction="sum") == np.inf
    assert catalog.evaluate("l1_loss", big, -big) == np.inf  # 2e308 overflows, as torch
    assert catalog.evaluate("l1_loss", big, np.zeros(4)) == 1e308  # the mean is finite


def _softplus(v: float) -> float:
    return max(v, 0.0) + math.log1p(math.exp(-abs(v)))


_BY_HAND = {
    # the per-element loss of each formula, worked in Python floats
    "mse_loss": lambda a, b: (a - b) ** 2,
    "l1_loss": lambda a, b: abs(a - b),
    "smooth_l1_loss": lambda a, b: 0.5 * (a - b) ** 2 if abs(a - b) < 1 else abs(a - b) - 0.5,
    "huber_loss": lambda a, b: 0.5 * (a - b) ** 2 if abs(a - b) < 1 else abs(a - b) - 0.5,
    "soft_margin_loss": lambda a, b: _softplus(-a * b),
    "binary_cross_entropy_with_logits": lambda a, b: (1 - b) * a + _softplus(-a),
}


@pytest.mark.parametrize("name", sorted(_BY_HAND))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_reductions_match_the_formula(name, dtype):
    # 100k elements span several blocks of the blockwise sum; a late NaN sends the same
    # call down the quiet path, whose per-element losses must agree too
    rng = np.random.default_rng(6)
    x = rng.normal(scale=2.0, size=100_003).astype(dtype)
    y = rng.uniform(size=x.size).astype(dtype)
    if name == "soft_margin_loss":
        y = np.sign(y - 0.5).astype(dtype)
    f = _BY_HAND[name]
    exact = math.fsum(f(float(a), float(b)) for a, b in zip(x, y, strict=True))
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert float(catalog.evaluate(name, x, y, reduction="sum")) == pytest.approx(exact, rel=rtol)
    assert float(catalog.evaluate(name, x, y)) == pytest.approx(exact / x.size, rel=rtol)
    x[-1] = np.nan
    assert np.isnan(catalog.evaluate(name, x, y))
    per = catalog.evaluate(name, x, y, reduction="none")
    head = math.fsum(f(float(a), float(b)) for a, b in zip(x[:-1], y[:-1], strict=True))
    assert math.fsum(per[:-1].astype(np.float64)) == pytest.approx(head, rel=rtol)
