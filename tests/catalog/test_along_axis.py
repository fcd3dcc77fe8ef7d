"""softmax, log_softmax, softmin and glu: golden values, edge policy, gradients, metadata.

The generic tests (test_catalog.py) run the Cases of cases_along_axis.py; these add
what they cannot express. Independent truths: scipy.special.softmax/log_softmax and
expit on finite inputs, and central differences in float64 with a random upstream
gradient (ones would make softmax's VJP vanish). pyproject turns every RuntimeWarning
into an error, so each call below also asserts "no NumPy warning".
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from scipy import special

from nnfunc import catalog
from tests.catalog.cases_along_axis import CASES, along_axis

NAMES = sorted(CASES)
SOFTMAXES = ["softmax", "log_softmax", "softmin"]


def _close(actual, expected, rtol, atol, dtype=None):
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    if dtype is not None:
        assert actual.dtype == dtype, (actual.dtype, dtype)
    np.testing.assert_allclose(
        actual.astype(np.float64),
        expected.astype(np.float64),
        rtol=rtol,
        atol=atol,
        equal_nan=True,
    )


# ---------------------------------------------------------------------------
# The Case entries (values, grads, errors, extremes) run in test_catalog.py; here only
# what it does not check: the in-place ops never write into the caller's input.
# ---------------------------------------------------------------------------


def _entries(kind):
    return [
        pytest.param(name, k, id=f"{name}-{kind}{k}")
        for name in NAMES
        for k in range(len(getattr(CASES[name], kind)))
    ]


@pytest.mark.parametrize(("name", "k"), _entries("extremes"))
def test_inputs_are_never_written(name, k):
    s = CASES[name].extremes[k]
    x = np.asarray(s.inputs[0])
    before = x.copy()
    catalog.value_and_grad(name, x, **s.params)
    np.testing.assert_array_equal(x, before)


# ---------------------------------------------------------------------------
# Properties on hypothesis samples
# ---------------------------------------------------------------------------


def _scipy_reference(name, x, dim):
    """scipy's softmax family (finite inputs only), as an independent implementation."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 0:
        return {"log_softmax": 0.0}.get(name, 1.0)
    if name == "softmax":
        return special.softmax(x, axis=dim)
    if name == "log_softmax":
        return special.log_softmax(x, axis=dim)
    return special.softmax(-x, axis=dim)


@pytest.mark.parametrize("name", SOFTMAXES)
@given(data=along_axis(np.float64, -30, 30))
def test_softmax_family_matches_scipy(name, data):
    (x,), dim = data.inputs, data.params["dim"]
    y = catalog.evaluate(name, x, dim=dim)
    assert y.shape == x.shape and y.dtype == np.float64
    if x.size:
        _close(y, _scipy_reference(name, x, dim), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ["softmax", "softmin"])
@given(data=along_axis(np.float32, -50, 50))
def test_probabilities_sum_to_one_float32(name, data):
    (x,), dim = data.inputs, data.params["dim"]
    y = catalog.evaluate(name, x, dim=dim)
    assert y.dtype == np.float32
    assert np.all((y >= 0) & (y <= 1))
    if x.size:
        total = y.sum(axis=dim if x.ndim else None, dtype=np.float64)
        np.testing.assert_allclose(total, 1.0, rtol=1e-5)
        _close(y, _scipy_reference(name, x, dim), rtol=1e-5, atol=1e-6)


@given(data=along_axis(np.float64, -30, 30))
def test_shift_invariance_and_log_consistency(data):
    (x,), dim = data.inputs, data.params["dim"]
    s = catalog.evaluate("softmax", x, dim=dim)
    _close(catalog.evaluate("softmax", x + 123.25, dim=dim), s, rtol=1e-12, atol=1e-15)
    _close(np.exp(catalog.evaluate("log_softmax", x, dim=dim)), s, rtol=1e-12, atol=1e-15)
    _close(catalog.evaluate("softmin", -x, dim=dim), s, rtol=1e-12, atol=1e-15)


@given(data=along_axis(np.float64, even=True))
def test_glu_matches_halves(data):
    (x,), dim = data.inputs, data.params["dim"]
    a, b = np.split(x, 2, axis=dim)
    _close(catalog.evaluate("glu", x, dim=dim), a * special.expit(b), rtol=1e-14, atol=0)


def _numeric_vjp(name, x, g, params, eps=1e-6):
    """gᵀJ by central differences in float64, one input element at a time."""
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros_like(x)
    for i in range(x.size):
        hi, lo = x.copy(), x.copy()
        hi.flat[i] += eps
        lo.flat[i] -= eps
        diff = catalog.evaluate(name, hi, **params) - catalog.evaluate(name, lo, **params)
        out.flat[i] = np.sum(g * diff) / (2 * eps)
    return out


def _random_g(name, x, dim, seed):
    rng = np.random.default_rng(seed)
    shape = catalog.evaluate(name, x, dim=dim).shape
    return rng.uniform(-2, 2, size=shape)


@pytest.mark.parametrize("name", NAMES)
@given(data=along_axis(np.float64, -8, 8))
def test_vjp_matches_central_differences_float64(name, data):
    (x,), dim = data.inputs, data.params["dim"]
    if name == "glu" and (x.ndim == 0 or x.shape[dim] % 2):
        return
    g = _random_g(name, x, dim, seed=x.size)
    (dx,) = catalog.gradient(name, x, grad_output=g, dim=dim)
    _close(dx, _numeric_vjp(name, x, g, {"dim": dim}), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_float16_is_computed_in_float32_and_returned_as_float16(name):
    x = np.array([[0.5, -1.0, 2.0, 4.0]], dtype=np.float16)
    y, (dx,) = catalog.value_and_grad(name, x)
    assert y.dtype == np.float16 and dx.dtype == np.float16
    y32 = catalog.evaluate(name, x.astype(np.float32))
    np.testing.assert_array_equal(y, y32.astype(np.float16))


@pytest.mark.parametrize("name", NAMES)
def test_middle_axis_and_strided_input(name):
    """A middle dim of a non-contiguous 3-d input equals the last dim after moveaxis."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4, 6, 5))[:, ::-1, :].transpose(2, 1, 0)  # (5, 6, 4), strided
    y = catalog.evaluate(name, x, dim=1)
    y_last = catalog.evaluate(name, np.ascontiguousarray(np.moveaxis(x, 1, -1)), dim=-1)
    _close(np.moveaxis(y, 1, -1), y_last, rtol=1e-14, atol=1e-16)
    g = rng.normal(size=y.shape)
    (dx,) = catalog.gradient(name, x, grad_output=g, dim=1)
    (dx_last,) = catalog.gradient(
        name,
        np.ascontiguousarray(np.moveaxis(x, 1, -1)),
        grad_output=np.moveaxis(g, 1, -1),
        dim=-1,
    )
    _close(np.moveaxis(dx, 1, -1), dx_last, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", SOFTMAXES)
def test_float64_extreme_range_without_overflow_warning(name):
    big = np.finfo(np.float64).max
    sign = -1.0 if name == "softmin" else 1.0  # softmin's mirror image
    x = sign * np.array([[big, -big, 0.0], [-big, -big, -big], [big, big, -np.inf]])
    y, (dx,) = catalog.value_and_grad(name, x)
    assert not np.isnan(y).any()  # every row has a finite max (min for softmin)
    assert np.isfinite(dx).all()
    expected = [[1.0, 0.0, 0.0], [1 / 3] * 3, [0.5, 0.5, 0.0]]
    if name == "log_softmax":
        # -2·big rounds to -inf; e^-big underflows to 0, so that entry is -big
        logs = [[0.0, -np.inf, -big], [-np.log(3.0)] * 3, [-np.log(2.0)] * 2 + [-np.inf]]
        _close(y, logs, rtol=1e-15, atol=0)
    else:
        _close(y, expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize("name", SOFTMAXES)
@pytest.mark.parametrize("transpose", [False, True])
def test_bad_slices_become_nan_and_do_not_leak(name, transpose):
    """NaN, +inf and all -inf slices are NaN (mirrored for softmin); the finite slice
    is untouched, along either axis."""
    sign = -1.0 if name == "softmin" else 1.0
    x = sign * np.array([[np.nan, 0.0], [np.inf, 1.0], [-np.inf, -np.inf], [0.0, np.log(3.0)]])
    x, dim = (x.T.copy(), 0) if transpose else (x, -1)
    y, (dx,) = catalog.value_and_grad(name, x, dim=dim)
    for out in (y, dx):
        rows = out.T if transpose else out
        assert np.isnan(rows[:3]).all()
        assert np.isfinite(rows[3]).all()


# ---------------------------------------------------------------------------
# Metadata
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_metadata(name):
    spec = catalog.lookup(name)
    assert spec.kind == "activation"
    assert not spec.elementwise  # each output depends on a whole slice
    assert spec.summary.endswith(".") and spec.formula and spec.output_range
    assert [p.name for p in spec.params] == ["dim"]
    assert spec.param("dim").default == -1 and spec.param("dim").kind == "int"
    assert spec.vjp is not None and spec.kink_mask is None and not spec.kinks  # smooth
    if name != "glu":
        assert any("deprecated" in n and "dim=-1" in n for n in spec.notes)


def test_glu_vjp_with_a_zero_upstream_where_the_output_is_infinite():
    """x = [inf, 1, 0, 0]: y = [inf·σ(0), 1·σ(0)]; g = [0, 1] meets the infinite output
    with 0, so ∂b₀ = 0·inf·σ'(0) is NaN (IEEE, as torch), with no warning; the rest by
    hand: ∂a = g·σ(0) = [0, 1/2], ∂b₁ = 1·1·σ(0)(1 − σ(0)) = 1/4."""
    (grad,) = catalog.gradient("glu", np.array([np.inf, 1.0, 0.0, 0.0]), grad_output=[0.0, 1.0])
    np.testing.assert_array_equal(grad, [0.0, 0.5, np.nan, 0.25])
