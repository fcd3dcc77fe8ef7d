"""Behaviour of the activations beyond torch against independent references.

The generic tests (test_catalog.py) run every golden value, gradient check and extreme
of cases_activations_beyond.py; these add checks against independent computations:
bisection for the simplex projections, scipy for logmeanexp and the StarReLU moments,
a literal transcription of keras's relu code path, and float32 accuracy against float64
closed forms.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special

from nnfunc.catalog import evaluate, gradient, value_and_grad

RNG = np.random.default_rng(7)


def _bisect_tau(x: np.ndarray, total) -> float:
    """The τ with total(x, τ) = 1 for a total decreasing in τ, by bisection."""
    lo, hi = float(x.min()) - 2.0, float(x.max())
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if total(x, mid) > 1 else (lo, mid)
    return (lo + hi) / 2


@pytest.mark.parametrize("n", [1, 2, 5, 17])
def test_sparsemax_is_the_simplex_projection(n):
    for _ in range(20):
        x = RNG.normal(scale=2.0, size=n)
        tau = _bisect_tau(x, lambda v, t: np.maximum(v - t, 0).sum())
        np.testing.assert_allclose(evaluate("sparsemax", x), np.maximum(x - tau, 0), atol=1e-12)


def test_sparsemax_along_an_axis_matches_rows():
    x = RNG.normal(size=(3, 4, 5))
    y = evaluate("sparsemax", x, axis=1)
    for i in range(3):
        for k in range(5):
            np.testing.assert_array_equal(y[i, :, k], evaluate("sparsemax", x[i, :, k]))
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-14)


@pytest.mark.parametrize("n", [1, 2, 5, 17])
def test_entmax15_solves_its_threshold_equation(n):
    for _ in range(20):
        x = RNG.normal(scale=3.0, size=n)
        tau = _bisect_tau(x / 2, lambda z, t: (np.maximum(z - t, 0) ** 2).sum())
        expected = np.maximum(x / 2 - tau, 0) ** 2
        np.testing.assert_allclose(evaluate("entmax15", x), expected, atol=1e-12)


def test_entmax15_lies_between_softmax_and_sparsemax_in_sparsity():
    x = np.array([3.0, 1.0, 0.2, -1.0])
    e = evaluate("entmax15", x)
    s = evaluate("sparsemax", x)
    assert (e > 0).sum() >= (s > 0).sum()
    assert (e == 0).any()  # sparse, unlike softmax


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("keepdims", [False, True])
def test_logmeanexp_matches_scipy(axis, keepdims):
    x = RNG.normal(scale=5.0, size=(4, 6))
    n = x.size if axis is None else x.shape[axis]
    expected = special.logsumexp(x, axis=axis, keepdims=keepdims) - math.log(n)
    actual = evaluate("logmeanexp", x, axis=axis, keepdims=keepdims)
    assert actual.shape == np.shape(expected)
    np.testing.assert_allclose(actual, expected, rtol=1e-13)


@pytest.mark.parametrize("algorithm", ["fast", "stable"])
def test_standardize_matches_numpy(algorithm):
    x = RNG.normal(loc=3.0, scale=2.0, size=(5, 7))
    for axis in (0, 1, None):
        m = x.mean(axis=axis, keepdims=True)
        v = x.var(axis=axis, keepdims=True)
        expected = (x - m) / np.sqrt(v + 1e-5)
        actual = evaluate("standardize", x, axis=axis, algorithm=algorithm)
        np.testing.assert_allclose(actual, expected, rtol=1e-10)


def test_standardize_fast_cancels_where_stable_does_not():
    # jax's docstring: E[x²] − E[x]² cancels when |mean| ≫ std. Here var = 2/3 exactly.
    x = np.array([1e8 + 1, 1e8 + 2, 1e8 + 3])  # x² ≈ 1e16, whose ulp is 2
    stable = evaluate("standardize", x, algorithm="stable", epsilon=0.0)
    np.testing.assert_allclose(stable, [-math.sqrt(1.5), 0.0, math.sqrt(1.5)], rtol=1e-12)
    fast = evaluate("standardize", x, algorithm="fast", epsilon=1e-5)
    assert not np.allclose(fast, stable, rtol=1e-2)


def test_star_relu_defaults_standardise_a_normal_input():
    """The paper's s and b make E[f(x)] = 0 and E[f(x)²] = 1 for x ~ N(0, 1)."""

    def f(t):
        return float(evaluate("star_relu", np.array(t)))

    def density(t):
        return math.exp(-t * t / 2) / math.sqrt(2 * math.pi)

    mean = integrate.quad(lambda t: f(t) * density(t), -np.inf, np.inf)[0]
    second = integrate.quad(lambda t: f(t) ** 2 * density(t), -np.inf, np.inf)[0]
    assert abs(mean) < 1e-9 and abs(second - 1) < 1e-9


def test_squareplus_float32_is_accurate_for_negative_inputs():
    x = -np.logspace(0, 18, 50)
    exact = 4 / (2 * (np.sqrt(x * x + 4) - x))  # float64 closed form, no cancellation
    y = evaluate("squareplus", x.astype(np.float32))
    np.testing.assert_allclose(y, exact, rtol=2e-6)


def test_log1mexp_float32_is_accurate_on_both_branches():
    x = np.logspace(-6, 1.3, 200)
    exact = np.array([math.log(-math.expm1(-v)) for v in x.astype(np.float32).astype(float)])
    y = evaluate("log1mexp", x.astype(np.float32))
    np.testing.assert_allclose(y, exact, rtol=3e-6)


def test_maxout_matches_a_reshape_and_splits_ties():
    x = RNG.normal(size=(2, 6, 3))
    y = evaluate("maxout", x, pieces=3, dim=1)
    np.testing.assert_array_equal(y, x.reshape(2, 2, 3, 3).max(axis=2))
    g = gradient("maxout", np.array([5.0, 5.0, 5.0, 1.0]), pieces=4)[0]
    np.testing.assert_allclose(g, [1 / 3, 1 / 3, 1 / 3, 0.0], rtol=1e-15)


def _keras_relu_literal(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """keras.src.activations.ReLU.static_call transcribed to NumPy (values only)."""
    if negative_slope != 0.0:
        if max_value is None and threshold == 0:
            return np.where(x >= 0, x, negative_slope * x)
        negative_part = np.maximum(-x + threshold, 0)
    clip_max = max_value is not None
    if threshold != 0:
        x = x * (x > threshold)
    elif max_value == 6:
        x = np.clip(x, 0, 6)
        clip_max = False
    else:
        x = np.maximum(x, 0)
    if clip_max:
        x = np.clip(x, 0.0, max_value)
    if negative_slope != 0.0:
        x = x - negative_slope * negative_part
    return x


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"negative_slope": 0.3},
        {"max_value": 6.0},
        {"max_value": 2.5},
        {"threshold": 1.5},
        {"threshold": -1.0},
        {"threshold": -1.0, "max_value": 2.0},
        {"negative_slope": 0.1, "max_value": 2.0, "threshold": 0.5},
        {"negative_slope": -0.5, "threshold": 3.0, "max_value": 1.0},
        {"negative_slope": 0.2, "max_value": 6.0},
    ],
)
def test_keras_relu_matches_keras_code_path(params):
    x = np.concatenate([np.linspace(-8, 8, 161), RNG.normal(scale=4, size=100)])
    np.testing.assert_allclose(
        evaluate("keras_relu", x, **params), _keras_relu_literal(x, **params), rtol=1e-15
    )


def test_gated_units_apply_the_activation_to_the_first_half():
    a, b = RNG.normal(size=(3, 4)), RNG.normal(size=(3, 4))
    x = np.concatenate([a, b], axis=1)
    silu = a / (1 + np.exp(-a))
    np.testing.assert_allclose(evaluate("swiglu", x, dim=1), silu * b, rtol=1e-14)
    np.testing.assert_allclose(evaluate("reglu", x, dim=1), np.maximum(a, 0) * b, rtol=1e-15)
    gelu = 0.5 * a * special.erfc(-a / math.sqrt(2))
    np.testing.assert_allclose(evaluate("geglu", x, dim=1), gelu * b, rtol=1e-14)


@pytest.mark.parametrize("name", ["squareplus", "serf", "smish", "isrlu", "snake", "sine"])
def test_large_inputs_take_the_blocked_path_with_the_same_values(name):
    x = RNG.normal(scale=4.0, size=300_000).astype(np.float32)  # above the block threshold
    y, (g,) = value_and_grad(name, x)
    head = slice(0, 1000)
    y_small, (g_small,) = value_and_grad(name, x[head])
    np.testing.assert_array_equal(y[head], y_small)
    np.testing.assert_array_equal(g[head], g_small)
