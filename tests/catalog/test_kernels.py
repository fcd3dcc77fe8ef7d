"""The fused kernels (``_kernels``, ``FunctionSpec.defkernels``) against the NumPy
formulas they speed up.

The NumPy formula is each function's definition (its own tests prove it against closed
forms, goldens and the gradient checker). Here every kernel must give the same values
on a dense grid, on NaN, ±inf, ±0, huge and tiny inputs and at its kinks: bit for bit,
or within the few ulp pinned in ULPS for kernels built on a transcendental (their exp
is not NumPy's). The goldens, kink values and extremes of every kernelized function are
also run again through the kernel path.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

from nnfunc.catalog import REGISTRY, _kernels, _ops, registry
from tests.catalog import test_catalog, test_kernels_losses, test_kernels_rows
from tests.catalog.test_catalog import CASES

#: Max difference from the NumPy formula, in ulps of the larger of the two results'
#: magnitude and the upstream gradient's (a derivative formula such as σ(1 - σ)
#: inherits the absolute error of σ near 1). Functions not listed: bit for bit.
ULPS = {
    "sigmoid": 6,
    # activations.py (0 until measured)
    "tanh": 2,
    "elu": 2,
    "selu": 2,
    "celu": 3,
    "gelu": 7,
    "silu": 5,
    "mish": 6,
    "softplus": 4,
    # activations_piecewise.py (0 until measured)
    "logsigmoid": 5,
    "tanhshrink": 16,
}

KERNELIZED = sorted(name for name, spec in REGISTRY.items() if spec.kernels is not None)
DTYPES = (np.float32, np.float64)


#: The float32 primitives against NumPy's float64 functions: (reference, max ulp over
#: normal results; measured maxima 1.18, 1.96, 1.05, 2.31, 1.18).
PRIMITIVES = {
    "expf": (np.exp, 1.5),
    "expm1f": (np.expm1, 2.5),
    "logf": (np.log, 1.5),
    "log1pf": (np.log1p, 3.0),
    "tanhf": (np.tanh, 1.5),
}


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_float32_primitive_is_within_its_ulp_bound(name):
    reference, bound = PRIMITIVES[name]
    primitive = getattr(_kernels, name)

    @numba.njit(error_model="numpy")
    def apply(x, out):
        for i in range(x.size):
            out[i] = primitive(x[i])

    mags = np.logspace(-45, 38.5, 200_001)
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, -104.0, 88.8]
    x = np.concatenate([np.linspace(-110, 110, 400_001), mags, -mags, specials]).astype(np.float32)
    got = np.empty_like(x)
    apply(x, got)
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):  # the reference's own log(-1), exp(1000): not ours
        truth = reference(x64)
    f32 = np.finfo(np.float32)
    normal = (np.abs(truth) >= f32.tiny) & (np.abs(truth) <= f32.max)
    ulp = np.spacing(np.abs(truth[normal]).astype(np.float32)).astype(np.float64)
    err = np.abs(got[normal] - truth[normal]) / ulp
    assert err.max() <= bound, f"{name}: {err.max():.2f} ulp at x = {x[normal][err.argmax()]!r}"
    subnormal = np.abs(truth) < f32.tiny
    assert np.abs(got[subnormal] - truth[subnormal]).max(initial=0) <= f32.smallest_subnormal
    over = ~np.isfinite(truth) | (np.abs(truth) > f32.max)
    expected = np.where(np.isnan(truth), np.nan, np.copysign(np.inf, truth))[over]
    np.testing.assert_array_equal(got[over], expected.astype(np.float32))
    zero = np.flatnonzero(x == 0)  # +0 and -0: the reference's signed result
    np.testing.assert_array_equal(np.signbit(got[zero]), np.signbit(truth[zero]))


@pytest.fixture
def kernels_always(monkeypatch):
    """Every kernelized call of any size takes its kernel."""
    monkeypatch.setattr(_ops, "KERNEL_MIN_SIZE", 0)


def _grid(dtype, points) -> np.ndarray:
    """A dense grid over [-40, 40], magnitudes from tiny to huge of both signs, the
    specials, and each point with its float neighbours."""
    finfo = np.finfo(dtype)
    mags = np.logspace(np.log10(float(finfo.tiny)) - 2, np.log10(float(finfo.max)) - 1e-3, 4001)
    specials = [np.nan, np.inf, -np.inf, 0.0, -0.0, float(finfo.max), -float(finfo.max)]
    base = np.concatenate([np.linspace(-40, 40, 40_001), mags, -mags, specials]).astype(dtype)
    near = np.array([p for p in points if abs(p) <= float(finfo.max)], dtype=dtype)
    around = [near, np.nextafter(near, dtype(np.inf)), np.nextafter(near, dtype(-np.inf))]
    return np.concatenate([base, *around])


def _param_sets(name: str) -> list[dict]:
    """The defaults, and every parameter set the function's goldens and extremes use."""
    case = CASES[name]
    required = any(p.required for p in REGISTRY[name].params)
    seen, out = set(), ([] if required else [{}])
    for entry in (*case.values, *case.grads, *case.extremes):
        key = repr(sorted(entry.params.items()))
        if entry.params and key not in seen:
            seen.add(key)
            out.append(dict(entry.params))
    return out


def _points(params: dict) -> list[float]:
    """Candidate kink points: the usual ones and every float parameter, with negations."""
    values = [0.0, 1.0, 3.0, 6.0, 0.5, 20.0, 80.0, 88.7, 104.0]
    values += [float(v) for v in params.values() if isinstance(v, int | float)]
    return values + [-v for v in values]


def _assert_close(
    name: str, got: np.ndarray, want: np.ndarray, scale: np.ndarray | None, what: str
):
    assert got.dtype == want.dtype and got.shape == want.shape, what
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"NaN at: {what}")
    ulps = ULPS.get(name, 0)
    if ulps == 0:
        same = (got == want) | (np.isnan(got) & np.isnan(want))
        same &= np.signbit(got) == np.signbit(want)
        bad = np.flatnonzero(~same)
        assert bad.size == 0, f"{what}: differs at {bad.size} elements, first x index {bad[:5]}"
        return
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite], want[~finite], err_msg=f"non-finite: {what}")
    size = np.maximum(np.abs(want[finite]), np.abs(got[finite]))
    if scale is not None:
        size = np.maximum(size, np.abs(scale[finite]))
    top = np.nextafter(np.finfo(got.dtype).max, 0)  # the same ulp as max, a finite spacing
    tolerance = ulps * np.spacing(np.minimum(size, top).astype(got.dtype))
    err = np.abs(got[finite].astype(np.float64) - want[finite])
    worst = int(np.argmax(err - tolerance))
    assert err[worst] <= tolerance[worst], (
        f"{what}: {got[finite][worst]!r} vs {want[finite][worst]!r}, "
        f"{err[worst] / (tolerance[worst] / ulps):.1f} ulp"
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", KERNELIZED)
def test_kernel_matches_the_numpy_formula(name, dtype, kernels_always):
    spec = REGISTRY[name]
    rng = np.random.default_rng(7)
    covered = 0
    for params in _param_sets(name):
        x = _grid(dtype, _points(params))
        arrays, bound, _ = registry.prepare(spec, (x,), params)
        if spec.kernels(np.dtype(dtype), **bound) is None:
            continue
        covered += 1
        what = f"{name}({dtype.__name__}, {params})"
        want = np.asarray(spec.forward(*arrays, **bound))
        _assert_close(name, registry.evaluate(name, x, **params), want, None, f"forward of {what}")
        g = rng.standard_normal(x.shape).astype(dtype)
        y, grads = registry.value_and_grad(name, x, grad_output=g, **params)
        _assert_close(name, y, want, None, f"value of {what}")
        want_grads = spec.vjp(g, want, *arrays, **bound)
        want_grads = want_grads if isinstance(want_grads, tuple) else (want_grads,)
        for got, expected in zip(grads, want_grads, strict=True):
            expected = np.broadcast_to(expected, got.shape)
            _assert_close(name, got, expected, g, f"gradient of {what}")
    if dtype == np.float32:
        assert covered, f"{name}: no kernel for float32 with any parameter set"


@pytest.mark.parametrize("name", KERNELIZED)
def test_large_float32_calls_take_the_kernel(name):
    spec = REGISTRY[name]
    x = np.zeros(_ops.KERNEL_MIN_SIZE, dtype=np.float32)
    params = _param_sets(name)[0]
    arrays, bound, _ = registry.prepare(spec, (x,), params)
    assert registry._blocked(spec, arrays, bound) == spec.kernels(x.dtype, **bound) != ()
    small = registry.prepare(spec, (x[:-1],), params)
    assert registry._blocked(spec, *small[:2]) is None


# ---------------------------------------------------------------------------
# Every function with a kernel: its Cases (goldens, kink values, extremes) again, with
# the kernels taking calls of any size
# ---------------------------------------------------------------------------

#: The elementwise activations above, prelu, and the losses and row functions that
#: call their kernels themselves (test_kernels_losses, test_kernels_rows).
WITH_KERNELS = {*KERNELIZED, "prelu", *test_kernels_losses.KERNELIZED, *test_kernels_rows.ULPS}


def _with_kernels(entries: list) -> list:
    return [e for e in entries if e.values[0] in WITH_KERNELS]


@pytest.mark.parametrize(("name", "i", "value"), _with_kernels(test_catalog._entries("values")))
def test_value_through_kernels(name, i, value, kernels_always):
    test_catalog.test_value(name, i, value)


@pytest.mark.parametrize(("name", "i", "grad"), _with_kernels(test_catalog._entries("grads")))
def test_grad_through_kernels(name, i, grad, kernels_always):
    test_catalog.test_grad(name, i, grad)


@pytest.mark.parametrize("dtype", test_catalog.DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize(("name", "i", "sample"), _with_kernels(test_catalog._entries("extremes")))
def test_extremes_through_kernels(name, i, sample, dtype, kernels_always):
    test_catalog.test_extremes_do_not_warn(name, i, sample, dtype)


def test_every_function_with_kernels_is_registered():
    assert set(REGISTRY) >= WITH_KERNELS
