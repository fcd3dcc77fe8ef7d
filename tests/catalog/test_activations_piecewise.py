"""Piecewise activations: behaviour the generic catalog tests cannot express.

Golden values come from closed forms (Python's math/decimal) or the catalog reference
(/work/shared/catalog-reference.md, "§"), never from the code under test.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from nnfunc import catalog
from nnfunc.catalog.registry import bind_params
from nnfunc.errors import InvalidArgumentError
from tests.catalog.cases_activations_piecewise import _tanhshrink_exact

MASKED = {  # function -> (params, an x where torch's backward selects 0)
    "relu6": ({}, -1.0),
    "hardtanh": ({}, 2.0),
    "hardsigmoid": ({}, 4.0),
    "hardswish": ({}, -4.0),
    "softshrink": ({}, 0.25),
    "hardshrink": ({}, 0.25),
    "threshold": ({"threshold": 0.0, "value": 1.0}, -1.0),
}


@pytest.mark.parametrize("name", sorted(MASKED))
def test_masked_gradient_is_zero_even_for_non_finite_grad_output(name):
    # torch's backward kernels are selects (cond ? 0 : g), so the upstream value is
    # dropped, not multiplied by 0: inf or NaN there still gives exactly 0.
    params, x = MASKED[name]
    inputs = np.array([x, x, x])
    upstream = np.array([np.inf, -np.inf, np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (grad,) = catalog.gradient(name, inputs, grad_output=upstream, **params)
    np.testing.assert_array_equal(grad, [0.0, 0.0, 0.0])


def test_parameters_are_cast_to_the_input_dtype_like_torch():
    # torch casts Scalar parameters to the input's dtype: float32(0.1) is then exactly on
    # the bound (gradient 0) and on the threshold (output value).
    x = np.float32(0.1)
    (g,) = catalog.gradient("hardtanh", x, min_val=0.1, max_val=1.0)
    assert g == 0.0
    assert catalog.evaluate("threshold", x, threshold=0.1, value=-1.0) == np.float32(-1.0)
    assert catalog.evaluate("hardshrink", x, lambd=0.1) == 0.0


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [
        ("hardtanh", {"min_val": -1e300, "max_val": 1e300}, [-3.0, 0.5, 3.0]),
        ("hardshrink", {"lambd": 1e300}, [0.0, 0.0, 0.0]),
        ("softshrink", {"lambd": 1e300}, [0.0, 0.0, 0.0]),
        ("threshold", {"threshold": -1e300, "value": 0.0}, [-3.0, 0.5, 3.0]),
        ("threshold", {"threshold": 1.0, "value": 1e300}, [np.inf, np.inf, 3.0]),
    ],
)
def test_float32_parameters_beyond_range_saturate_without_warning(name, params, expected):
    x = np.array([-3.0, 0.5, 3.0], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y, _ = catalog.value_and_grad(name, x, **params)
        catalog.value_and_grad(name, np.array([np.inf, -np.inf, np.nan], np.float32), **params)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, expected)


def test_hardtanh_refuses_crossed_bounds_naming_min_val():
    with pytest.raises(InvalidArgumentError) as err:
        catalog.evaluate("hardtanh", np.zeros(2), min_val=1.0, max_val=-1.0)
    assert err.value.field == "parameters.min_val"
    assert "min_val" in str(err.value) and "max_val" in str(err.value)


def test_softshrink_error_names_the_allowed_range():
    with pytest.raises(InvalidArgumentError) as err:
        catalog.evaluate("softshrink", np.zeros(2), lambd=-1.0)
    assert err.value.field == "parameters.lambd"
    assert "[0, inf)" in str(err.value)


@pytest.mark.parametrize(("dtype", "rtol"), [(np.float32, 1e-6), (np.float64, 2e-14)])
def test_tanhshrink_is_accurate_across_the_series_cutoff(dtype, rtol):
    # §1.1 #21: x - tanh(x) cancels near 0 (float32 at 1e-3 is ~5 % off); the catalog
    # switches to a series there. Sweep both sides of both cut-offs (0.2 and 0.6).
    rng = np.random.default_rng(7)
    x = np.concatenate([10.0 ** rng.uniform(-6, 0.5, 300), np.linspace(0.15, 0.65, 101)]).astype(
        dtype
    )
    x[::2] *= -1
    y = catalog.evaluate("tanhshrink", x)
    exact = np.array([_tanhshrink_exact(float(v)) for v in x])
    np.testing.assert_allclose(y, exact, rtol=rtol, atol=0)


def test_tanhshrink_handles_non_contiguous_and_0d_inputs():
    base = np.array([[1e-3, 2.0], [-0.1, 0.3]])
    x = base.T  # Fortran-ordered view
    expected = [[_tanhshrink_exact(float(v)) for v in row] for row in x]
    np.testing.assert_allclose(catalog.evaluate("tanhshrink", x), expected, rtol=1e-14)
    np.testing.assert_allclose(
        catalog.evaluate("tanhshrink", np.asarray(1e-3)), _tanhshrink_exact(1e-3), rtol=1e-14
    )


def test_float16_inputs_computed_in_float32_and_returned_as_float16():
    x = np.array([-4.0, -1.5, 0.5, 4.0], dtype=np.float16)
    y, (g,) = catalog.value_and_grad("hardswish", x)
    assert y.dtype == g.dtype == np.float16
    np.testing.assert_allclose(y, [0.0, -0.375, 0.5 * 3.5 / 6, 4.0], rtol=1e-3)
    np.testing.assert_allclose(g, [0.0, 0.0, 2 / 3, 1.0], rtol=1e-3)


@pytest.mark.parametrize(
    ("name", "params", "x", "near"),
    [
        ("relu6", {}, [0.0, 3.0, 6.0], [True, False, True]),
        (
            "hardtanh",
            {"min_val": -np.inf, "max_val": 2.0},
            [-1e300, 0.0, 2.0],
            [False, False, True],
        ),
        ("hardsigmoid", {}, [-3.0, 0.0, 3.0], [True, False, True]),
        ("hardswish", {}, [-3.0, 0.0, 3.0], [True, False, True]),
        ("softshrink", {"lambd": 1.0}, [-1.0, 0.0, 1.0], [True, False, True]),
        ("hardshrink", {"lambd": -1.0}, [-1.0, 0.0, 1.0], [False, False, False]),
        ("threshold", {"threshold": 0.5, "value": 0.0}, [0.5, 0.0, 1.0], [True, False, False]),
    ],
)
def test_kink_masks_flag_exactly_the_kinks(name, params, x, near):
    spec = catalog.lookup(name)
    (mask,) = spec.kink_mask(1e-6, np.array(x), **bind_params(spec, params))
    np.testing.assert_array_equal(mask, near)


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("hard_tanh", "hardtanh"),
        ("hard_sigmoid", "hardsigmoid"),
        ("hard_swish", "hardswish"),
        ("hard_silu", "hardswish"),
        ("soft_sign", "softsign"),
        ("log_sigmoid", "logsigmoid"),
        ("tanh_shrink", "tanhshrink"),
        ("soft_shrink", "softshrink"),
        ("hard_shrink", "hardshrink"),
    ],
)
def test_aliases_resolve(alias, name):
    assert catalog.lookup(alias) is catalog.lookup(name)


@pytest.mark.parametrize(
    "name",
    ["relu6", "hardtanh", "hardsigmoid", "hardswish", "softshrink", "hardshrink", "threshold"],
)
def test_functions_with_kinks_document_them_and_have_a_mask(name):
    spec = catalog.lookup(name)
    assert spec.kinks and spec.kink_mask is not None
    assert all("gradient" in k for k in spec.kinks)


def test_logsigmoid_gradient_keeps_relative_accuracy_in_the_tail():
    # σ(-x) for x = 20..35 with Python's math; 1 - σ(x) would round to 0 from x ≈ 37.
    x = np.arange(20.0, 36.0)
    expected = [math.exp(-v) / (1 + math.exp(-v)) for v in x]
    (g,) = catalog.gradient("logsigmoid", x)
    np.testing.assert_allclose(g, expected, rtol=1e-13)
