"""prelu's fused kernels against its NumPy formula.

prelu's weight broadcasts over the channel dim, so the registry's same-shape blocks do
not apply: its forward and VJP call their kernels themselves (``_kernels.eligible``,
from _ops.KERNEL_MIN_SIZE elements), with the input seen as rows that read the slopes
from a table (short periods of C channels × the trailing dims) or one slope a row (long
ones). Each path is compared with the NumPy formula (KERNEL_MIN_SIZE huge) on large
inputs holding NaN, ±inf, ±0 and subnormals, for several channel layouts and for a
single slope: the value and ∂/∂x bit for bit in float32 and float64; ∂/∂a, a sum per
channel that the kernel accumulates in float64 in its own order, against the float64
sum of the same terms. prelu's goldens and extremes are then run through the kernels.
"""

from __future__ import annotations

import numpy as np
import pytest

from nnfunc.catalog import _ops, activations, registry

DTYPES = (np.float32, np.float64)

#: (input shape, weight shape). Rows reading a table: channels last (one channel a
#: column, C up to 70 000), short periods of C channels × trailing dims, one slope.
#: One slope a row: long trailing dims, and long periods of short ones.
LAYOUTS = [
    ((700, 300), (300,)),
    ((3, 70_000), (70_000,)),
    ((64, 3, 20, 20), (3,)),
    ((50, 7, 3, 11), (7,)),
    ((200_000,), (1,)),
    ((30, 40, 50), (1,)),
    ((100, 1000), ()),
    ((2, 3, 30_000), (3,)),
    ((3, 2000, 50), (2000,)),
]

#: Slopes for the weight: ordinary ones, then every special (0·inf, NaN, signed zeros).
SLOPE_KINDS = ("normal", "special")
SCALARS = (0.25, 1.0, 2.0, -0.5, 0.0, -0.0, np.inf, -np.inf, np.nan)


def _same(got: np.ndarray, want: np.ndarray, what: str) -> None:
    """Bit for bit, signed zeros too (a NaN is any NaN)."""
    assert got.dtype == want.dtype and got.shape == want.shape, what
    nan = np.isnan(got) & np.isnan(want)
    same = nan | ((got == want) & (np.signbit(got) == np.signbit(want)))
    bad = np.flatnonzero(~same)
    assert bad.size == 0, f"{what}: differs at {bad.size} elements, first {bad[:5]}"


def _inputs(shape, wshape, dtype, kind, rng):
    """x (3·normal with 1% specials), g (normal with 1% zeros), the weight (its first
    entries the SCALARS for the kind 'special')."""
    x = 3 * rng.standard_normal(shape)
    tiny = float(np.finfo(dtype).smallest_subnormal)
    specials = [np.nan, np.inf, -np.inf, 0.0, -0.0, tiny, -tiny, 1e30, -1e30]
    flat = x.reshape(-1)
    flat[rng.integers(0, flat.size, flat.size // 100)] = rng.choice(specials, flat.size // 100)
    g = rng.standard_normal(shape)
    g.reshape(-1)[rng.integers(0, g.size, g.size // 100)] = rng.choice([0.0, -0.0], g.size // 100)
    w = rng.standard_normal(wshape)
    if kind == "special":
        w.reshape(-1)[: len(SCALARS)] = SCALARS[: w.size]
    return x.astype(dtype), g.astype(dtype), np.asarray(w, dtype=dtype)


def _run(monkeypatch, kernels: bool, x, w, g):
    monkeypatch.setattr(_ops, "KERNEL_MIN_SIZE", 0 if kernels else 1 << 62)
    if kernels:
        return registry.value_and_grad("prelu", x, w, grad_output=g)
    with np.errstate(all="ignore"):  # the formula's own inf - inf in ∂/∂a: not the kernel's
        return registry.value_and_grad("prelu", x, w, grad_output=g)


def _channel_terms(x, g, w) -> np.ndarray:
    """The terms g·min(0, x) of ∂/∂a in float64 (0 where either factor is 0), one row
    per channel."""
    m = np.minimum(x, 0)
    with np.errstate(all="ignore"):  # 0·inf is left out below
        terms = np.where((g != 0) & (m != 0), g * m, 0).astype(np.float64)
    if w.size == 1:
        return terms.reshape(1, -1)
    return np.moveaxis(terms, 1, 0).reshape(w.size, -1)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kind", SLOPE_KINDS)
@pytest.mark.parametrize(("shape", "wshape"), LAYOUTS, ids=str)
def test_kernel_matches_the_numpy_formula(shape, wshape, kind, dtype, monkeypatch):
    x, g, w = _inputs(shape, wshape, dtype, kind, np.random.default_rng(sum(shape)))
    # a single slope takes each special value in turn
    for slope in SCALARS if kind == "special" and w.size == 1 else (None,):
        if slope is not None:
            w = np.full(wshape, slope, dtype=dtype)
        what = f"prelu({dtype.__name__}, {shape}, weight {wshape} {kind} {slope})"
        _check(monkeypatch, x, g, w, what)


def _check(monkeypatch, x, g, w, what):
    want_y, (want_dx, want_dw) = _run(monkeypatch, False, x, w, g)
    y, (dx, dw) = _run(monkeypatch, True, x, w, g)
    _same(registry.evaluate("prelu", x, w), want_y, f"forward of {what}")
    _same(y, want_y, f"value of {what}")
    _same(dx, want_dx, f"∂/∂x of {what}")
    assert dw.shape == want_dw.shape == w.shape and dw.dtype == want_dw.dtype == x.dtype
    terms = _channel_terms(x, g, w)
    with np.errstate(invalid="ignore"):  # inf - inf: NaN, as the kernel's
        exact = terms.sum(axis=1)
    got = dw.reshape(-1)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(exact), err_msg=what)
    finite = np.isfinite(exact)
    np.testing.assert_array_equal(got[~finite], exact[~finite], err_msg=what)
    # Any order of summation (NumPy's float32 sum, the kernel's float64 one, with or
    # without the terms' own rounding) is within eps·Σ|terms| of the float64 sum.
    size = np.abs(terms[finite]).sum(axis=1)
    eps = np.finfo(x.dtype).eps + 1e-12
    tol = np.spacing(np.abs(exact[finite]).astype(x.dtype)) + eps * size
    err = np.abs(got[finite] - exact[finite])
    assert np.all(err <= tol), f"∂/∂a of {what}: {err.max()!r}"


def test_the_layouts_take_both_paths():
    by_row = set()
    for shape, wshape in LAYOUTS:
        x, w = np.zeros(shape, np.float32), np.zeros(wshape, np.float32)
        by_row.add(activations._prelu_layout(x, w.reshape(-1))[2])
    assert by_row == {True, False}


def test_nonfinite_upstream_gradients(monkeypatch):
    rng = np.random.default_rng(3)
    x, g, w = _inputs((200, 500), (500,), np.float32, "special", rng)
    g.reshape(-1)[rng.integers(0, g.size, 500)] = rng.choice([np.inf, -np.inf, np.nan], 500)
    want = _run(monkeypatch, False, x, w, g)
    got = _run(monkeypatch, True, x, w, g)
    _same(got[0], want[0], "value")
    _same(got[1][0], want[1][0], "∂/∂x")
    np.testing.assert_array_equal(np.isnan(got[1][1]), np.isnan(want[1][1]))


def test_large_contiguous_calls_take_the_kernels(monkeypatch):
    calls = []

    def spy(name):
        real = getattr(activations, name)
        monkeypatch.setattr(activations, name, lambda *a: (calls.append(name), real(*a))[1])

    spy("_prelu_forward")
    spy("_prelu_vjp")
    x = np.ones((_ops.KERNEL_MIN_SIZE // 4, 4), dtype=np.float32)
    w = np.full(4, 0.25, dtype=np.float32)
    registry.value_and_grad("prelu", x, w)
    assert calls == ["_prelu_forward", "_prelu_vjp"]
    calls.clear()
    registry.value_and_grad("prelu", x[1:], w)  # smaller
    registry.value_and_grad("prelu", np.asfortranarray(x), w)  # not C-contiguous
    registry.value_and_grad("prelu", np.zeros((0, 4), dtype=np.float32), w)  # empty
    assert calls == []
