"""Accuracy of the vectorized float32 formulas that replaced scipy's scalar ones.

Each is compared, over a dense grid of float32 inputs, with scipy's float64 value (the
truth here, independent of the code under test), in float32 ulps of the true value.
The pinned bounds are the measured maxima rounded up (measured: sigmoid 3.7, silu 3.5,
gelu 7.0 ulp; scipy's own float32 expit: 2.4 ulp on normal results).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import special

from nnfunc import catalog

F32 = np.float32


def _grid(lo: float, hi: float, n: int = 400_001) -> np.ndarray:
    """A uniform grid plus log-spaced magnitudes of both signs (tiny to 2^4), in float32."""
    mags = np.logspace(-30, 1.2, 50_001)
    return np.concatenate([np.linspace(lo, hi, n), mags, -mags]).astype(F32)


def _max_ulps(got: np.ndarray, truth: np.ndarray) -> float:
    """max |got - truth| in float32 ulps of the truth, over results that are normal floats
    (a subnormal result has fewer digits to be accurate to)."""
    ulp = np.spacing(np.abs(truth).astype(F32)).astype(np.float64)
    normal = np.abs(truth) >= np.finfo(F32).tiny
    return float((np.abs(got.astype(np.float64) - truth) / ulp)[normal].max())


@pytest.mark.parametrize(
    ("name", "truth", "lo", "hi", "bound"),
    [
        ("sigmoid", special.expit, -110.0, 30.0, 4.0),
        ("silu", lambda x: x * special.expit(x), -110.0, 30.0, 4.0),
        ("gelu", lambda x: x * special.ndtr(x), -16.0, 16.0, 8.0),
    ],
)
def test_float32_forward_is_within_a_few_ulp_of_float64(name, truth, lo, hi, bound):
    x = _grid(lo, hi)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = catalog.evaluate(name, x)
    assert got.dtype == F32
    assert _max_ulps(got, truth(x.astype(np.float64))) <= bound


def test_float32_gelu_tails_and_specials():
    x = np.array([-np.inf, -20.0, -14.0, -0.0, 0.0, 1e-40, np.inf, np.nan], dtype=F32)
    y = catalog.evaluate("gelu", x)
    # gelu(-14) = -14·Φ(-14) ≈ -1.1e-43 (scipy float64), a float32 subnormal.
    tail = np.array([-20.0, -14.0])
    expected = tail * special.ndtr(tail)
    np.testing.assert_allclose(y[1:3], expected, rtol=0.1, atol=1.5e-45)
    np.testing.assert_array_equal(y[[0, 3, 4, 6, 7]], [0.0, 0.0, 0.0, np.inf, np.nan])
    assert y[5] == F32(0.5e-40)  # x·Φ(x) with Φ(tiny) = ½


def test_gelu_gradient_matches_the_float64_formula():
    # gelu'(x) = Φ(x) + x·φ(x), here from scipy in float64; the VJP reads Φ from y/x.
    x = _grid(-12.0, 12.0, 100_001)
    x64 = x.astype(np.float64)
    (d,) = catalog.gradient("gelu", x)
    truth = special.ndtr(x64) + x64 * np.exp(-0.5 * x64 * x64) / np.sqrt(2 * np.pi)
    # The terms cancel near x = -0.75 (the minimum), so compare with the larger term.
    scale = np.maximum(special.ndtr(x64), np.abs(x64) * np.exp(-0.5 * x64 * x64))
    normal = scale > 1e-30  # beyond, the float32 result is subnormal or 0
    err = (np.abs(d - truth) / scale)[normal]
    assert err.max() < 1e-5  # float32 e^(-x²/2) costs ~x²·6e-8, as torch's does


@pytest.mark.parametrize("name", ["sigmoid", "silu", "gelu"])
def test_float64_stays_accurate(name):
    x = np.linspace(-40, 40, 20_001)
    truth = {
        "sigmoid": special.expit(x),
        "silu": x * special.expit(x),
        "gelu": x * special.ndtr(x),
    }[name]
    np.testing.assert_allclose(catalog.evaluate(name, x), truth, rtol=2e-15, atol=1e-300)
