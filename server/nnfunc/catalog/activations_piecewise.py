"""Piecewise and saturating elementwise activations (torch.nn.functional).

Forward and VJP side by side. The value chosen at each kink and at NaN inputs is
torch 2.13's (catalog-reference §1.1 rows 4, 16-24 and §4). Masked gradients go through
``_keep`` rather than ``np.where``: on a random mask (any real batch) a multiply by the
mask is several times faster than ``np.where``.

Large calls take fused kernels (``_kernels``), written next to each function: the same
operations in the same order on one element (``_clamp`` is np.clip, ``_kept`` is
``_keep``), so they give the NumPy formula's bits, in float32 and float64; except
logsigmoid and tanhshrink, float32 only and within the ulps pinned in
tests/catalog/test_kernels.py (their exp, log1p and tanh are not NumPy's).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from nnfunc.catalog import _kernels, _ops
from nnfunc.catalog.spec import Param, activation, near_points
from nnfunc.errors import InvalidArgumentError

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _arrays(fn):
    """Run a kernel on 1-element views of 0-d arrays, so that it may write in place.

    NumPy returns scalars, not arrays, from ufuncs on 0-d arrays, and a scalar cannot be
    an ``out=``. Every array argument of these elementwise kernels has the input's shape.
    """

    @functools.wraps(fn)
    def run(*arrays, **params):
        if arrays[-1].ndim:
            return fn(*arrays, **params)
        return fn(*(a.reshape(1) for a in arrays), **params).reshape(())

    return run


def _const(value: float, dtype: np.dtype) -> np.floating:
    """A float parameter in the compute dtype, as torch casts it (Scalar.to<scalar_t>).

    Beyond the dtype's range it saturates to ±inf, as the cast would, but without NumPy's
    overflow warning (float32 and 1e300).
    """
    if abs(value) > float(np.finfo(dtype).max):  # compared as Python floats
        return dtype.type(math.copysign(math.inf, value))
    return dtype.type(value)


def _keep(v: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``v`` where ``keep``, else 0 (torch's ``cond ? v : 0`` kernels).

    The multiply is exact while ``v`` is finite; inf·0 would be NaN (and warn), so any
    non-finite value takes the np.where path, which writes the zero the multiply would
    have written (0 with v's sign): each element's result never depends on its
    neighbours, so a call on a block of the input gives the same bits as on the whole.
    """
    if np.isfinite(v).all():
        return v * keep
    return np.where(keep, v, np.copysign(0, v))


def _passes(x: np.ndarray, lo, hi) -> np.ndarray:
    """Where torch's hardtanh_backward passes the gradient: not (x <= lo or x >= hi).

    True on the open interval (lo, hi) and at NaN (every comparison with NaN is false).
    """
    stop = x <= lo
    stop |= x >= hi
    return np.logical_not(stop, out=stop)


def _finite(*points: float) -> tuple[float, ...]:
    """The finite kink locations (an infinite bound is never approached)."""
    return tuple(p for p in points if math.isfinite(p))


#: The dtypes of the bit-exact kernels (no transcendental: the same IEEE operations).
_EXACT = (np.float32, np.float64)
f32 = _kernels.f32
prange = _kernels.prange


@_kernels.inline
def _clamp(v, lo, hi):  # pragma: no cover - compiled
    """np.clip(v, lo, hi) on one element, bit for bit (signed zeros too): lo below lo,
    hi above hi, else v; NaN stays NaN."""
    t = lo if v < lo else v
    return hi if t > hi else t


@_kernels.inline
def _kept(v, keep):  # pragma: no cover - compiled
    """``_keep`` on one element: v if keep, else 0 with v's sign."""
    return v if keep else math.copysign(type(v)(0), v)


# ---------------------------------------------------------------------------
# Clamps: relu6, hardtanh, hardsigmoid, hardswish
# ---------------------------------------------------------------------------


@activation(
    summary="ReLU capped at 6; keeps activations in a fixed range for low-precision "
    "(mobile, quantized) networks.",
    formula="relu6(x) = min(max(0, x), 6)",
    output_range="[0, 6]",
    kinks=(
        "x = 0: gradient 0 (torch 2.13)",
        "x = 6: gradient 0 (torch 2.13)",
    ),
    notes=(
        "ATen defines relu6 as hardtanh(x, 0, 6), so the boundary gradients are hardtanh's "
        "(0), not torch.clamp's (1).",
        "NaN input: output NaN, gradient 1 (torch 2.13).",
    ),
    elementwise=True,
)
@_arrays
def relu6(input):
    return np.clip(input, 0, 6)  # np.clip propagates NaN, like torch


@relu6.defvjp
@_arrays
def _(g, y, input):
    return _keep(g, _passes(input, 0, 6))


@relu6.defkernels
def _(dtype):
    # relu6 is hardtanh(x, 0, 6) (defined below), value and gradient
    return (_hardtanh, _hardtanh_grad, (dtype.type(0), dtype.type(6))) if dtype in _EXACT else None


relu6.defkinks(near_points(lambda: (0.0, 6.0)))


@activation(
    summary="Clamps x to [min_val, max_val] with slope 1 in between; a cheap saturating "
    "activation (tanh's piecewise-linear stand-in).",
    formula="hardtanh(x) = min(max(x, min_val), max_val)",
    params=(
        Param("min_val", "float", -1.0, "Lower end of the linear region (<= max_val)."),
        Param("max_val", "float", 1.0, "Upper end of the linear region (>= min_val)."),
    ),
    output_range="[min_val, max_val]",
    kinks=(
        "x = min_val: gradient 0 (torch 2.13; torch.clamp would pass 1, jax's hard_tanh 1)",
        "x = max_val: gradient 0 (torch 2.13)",
    ),
    aliases=("hard_tanh",),
    notes=(
        "min_val == max_val is allowed (a constant, gradient 0 everywhere); min_val > max_val "
        "is refused, as torch.nn.functional.hardtanh does.",
        "NaN input: output NaN, gradient 1 (torch 2.13).",
    ),
    elementwise=True,
)
@_arrays
def hardtanh(input, min_val, max_val):
    dt = input.dtype
    return np.clip(input, _const(min_val, dt), _const(max_val, dt))


@hardtanh.defvjp
@_arrays
def _(g, y, input, min_val, max_val):
    dt = input.dtype
    return _keep(g, _passes(input, _const(min_val, dt), _const(max_val, dt)))


@_kernels.kernel
def _hardtanh(x, lo, hi, out):  # pragma: no cover - compiled
    for i in prange(x.size):
        out[i] = _clamp(x[i], lo, hi)


@_kernels.kernel
def _hardtanh_grad(g, x, lo, hi, out, dx):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = x[i]
        out[i] = _clamp(v, lo, hi)
        dx[i] = _kept(g[i], not (v <= lo or v >= hi))  # _passes: (lo, hi) and NaN


@hardtanh.defkernels
def _(dtype, min_val, max_val):
    scalars = (_const(min_val, dtype), _const(max_val, dtype))
    return (_hardtanh, _hardtanh_grad, scalars) if dtype in _EXACT else None


@hardtanh.defcheck
def _(params, inputs):
    if params["min_val"] > params["max_val"]:
        raise InvalidArgumentError(
            f"parameters.min_val: expected min_val <= max_val ({params['max_val']!r}), "
            f"got {params['min_val']!r}",
            field="parameters.min_val",
        )


hardtanh.defkinks(near_points(lambda min_val, max_val: _finite(min_val, max_val)))


@activation(
    summary="Piecewise-linear approximation of the sigmoid; a cheap gate (MobileNetV3's "
    "squeeze-and-excitation).",
    formula="hardsigmoid(x) = relu6(x + 3) / 6 = min(max(x/6 + 1/2, 0), 1)",
    output_range="[0, 1]",
    kinks=("x = -3 and x = 3: gradient 0 (torch 2.13)",),
    aliases=("hard_sigmoid",),
    notes=(
        "Keras 3 uses the same definition (hard_sigmoid(-1) = 1/3); Chainer's "
        "hard_sigmoid is clip(0.2x + 0.5, 0, 1), a different function.",
        "NaN input: output NaN, gradient 0 (torch 2.13, unlike hardtanh's 1).",
    ),
    elementwise=True,
)
@_arrays
def hardsigmoid(input):
    y = input + 3  # torch's order of operations: min(max(x + 3, 0), 6) / 6
    np.clip(y, 0, 6, out=y)
    y /= 6
    return y


@hardsigmoid.defvjp
@_arrays
def _(g, y, input):
    inside = input > -3  # torch: (-3 < x < 3) ? g/6 : 0, so NaN gets 0
    inside &= input < 3
    d = _keep(g, inside)
    d *= 1 / 6
    return d


@_kernels.inline
def _hardsigmoid1(v):  # pragma: no cover - compiled
    """min(max(v + 3, 0), 6) / 6 on one element, in torch's order (as the formula)."""
    c = type(v)
    return _clamp(v + c(3), c(0), c(6)) / c(6)


@_kernels.kernel
def _hardsigmoid(x, out):  # pragma: no cover - compiled
    for i in prange(x.size):
        out[i] = _hardsigmoid1(x[i])


@_kernels.kernel
def _hardsigmoid_grad(g, x, out, dx):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = x[i]
        c = type(v)
        out[i] = _hardsigmoid1(v)
        dx[i] = _kept(g[i], (v > c(-3)) & (v < c(3))) * c(1 / 6)


@hardsigmoid.defkernels
def _(dtype):
    return (_hardsigmoid, _hardsigmoid_grad, ()) if dtype in _EXACT else None


hardsigmoid.defkinks(near_points(lambda: (-3.0, 3.0)))


@activation(
    summary="x times hardsigmoid(x): a piecewise-polynomial SiLU/Swish for mobile "
    "networks (MobileNetV3).",
    formula="hardswish(x) = x · relu6(x + 3) / 6",
    output_range="[-0.375, inf)",
    kinks=(
        "x = -3: gradient 0 (torch 2.13; torch 2.6 gave -0.5)",
        "x = 3: gradient 1 (torch 2.13; torch 2.6 gave 1.5)",
    ),
    aliases=("hard_swish", "hard_silu"),
    notes=(
        "The derivative jumps at ±3 (from 0 to -1/2 and from 3/2 to 1); torch changed its "
        "values there between 2.6 and 2.13 (pytorch issue #147801, PR #148049).",
        "Minimum -0.375 at x = -1.5.",
        "x = -inf gives 0, the limit (a literal x·relu6(x+3)/6 would be -inf·0 = NaN).",
        "NaN input: output NaN, gradient 1 (torch 2.13).",
    ),
    elementwise=True,
)
@_arrays
def hardswish(input):
    # The output is 0 for x <= -3, so clamp x there first: -inf never meets the 0 factor.
    xc = np.clip(input, -3, float(np.finfo(input.dtype).max) / 8)
    y = xc + 3  # >= 0 already: relu6(x + 3) = min(x + 3, 6)
    np.minimum(y, 6, out=y)
    y *= xc  # torch's order: x · relu6(x + 3) / 6
    y /= 6
    # Above max/6, x·6 would overflow (torch returns inf there): the value is x itself.
    big = float(np.finfo(input.dtype).max) / 8
    if not input.max(initial=-np.inf) <= big:  # rare (or NaN): NaN stays NaN, huge x gives x
        huge = input > big
        np.copyto(y, input, where=huge)
    return y


@hardswish.defvjp
@_arrays
def _(g, y, input):
    # torch 2.13: x <= -3 -> 0; -3 < x < 3 -> g·(x/3 + 1/2); x >= 3 (and NaN) -> g.
    below3 = input < 3
    middle = input > -3
    middle &= below3
    slope = np.clip(input, -3, 3)  # bounded, so g·slope never meets inf
    slope /= 3
    slope += 0.5
    slope *= g
    d = _keep(slope, middle)
    d += _keep(g, np.logical_not(below3, out=below3))
    return d


@_kernels.inline
def _hardswish1(v, big):  # pragma: no cover - compiled
    """x·min(x + 3, 6)/6 on one element with x clamped to [-3, big] first, and v itself
    above big (= max/8), as the formula."""
    c = type(v)
    xc = _clamp(v, c(-3), big)
    y = _clamp(xc + c(3), c(0), c(6))  # >= 0 already: the min with 6
    y = y * xc / c(6)
    return v if v > big else y


@_kernels.kernel
def _hardswish(x, big, out):  # pragma: no cover - compiled
    for i in prange(x.size):
        out[i] = _hardswish1(x[i], big)


@_kernels.kernel
def _hardswish_grad(g, x, big, out, dx):  # pragma: no cover - compiled
    for i in prange(x.size):
        v, gi = x[i], g[i]
        c = type(v)
        out[i] = _hardswish1(v, big)
        below3 = v < c(3)
        slope = (_clamp(v, c(-3), c(3)) / c(3) + c(0.5)) * gi
        dx[i] = _kept(slope, (v > c(-3)) & below3) + _kept(gi, not below3)


@hardswish.defkernels
def _(dtype):
    if dtype not in _EXACT:
        return None
    return (_hardswish, _hardswish_grad, (dtype.type(float(np.finfo(dtype).max) / 8),))


hardswish.defkinks(near_points(lambda: (-3.0, 3.0)))


# ---------------------------------------------------------------------------
# Smooth saturating: softsign, logsigmoid, tanhshrink
# ---------------------------------------------------------------------------


@activation(
    summary="x / (1 + |x|): a tanh-like squashing into (-1, 1) with polynomial (not "
    "exponential) tails.",
    formula="softsign(x) = x / (1 + |x|)",
    output_range="(-1, 1)",
    aliases=("soft_sign",),
    notes=(
        "f'(x) = 1 / (1 + |x|)^2 (note |x|: 1/(1 + x)^2 is wrong for x < 0).",
        "±inf give ±1, the limits (the literal ratio is inf/inf = NaN).",
        "NaN input: gradient NaN (torch 2.13).",
    ),
    elementwise=True,
)
@_arrays
def softsign(input):
    # ±inf -> ±max first, so the ratio is max/max = ±1 rather than inf/inf.
    big = np.finfo(input.dtype).max
    x = np.clip(input, -big, big)
    d = np.abs(x)
    d += 1
    return np.divide(x, d, out=d)


@softsign.defvjp
@_arrays
def _(g, y, input):
    # 1/(1+|x|)^2 from x, not (1-|y|)^2: 1-|y| loses digits once |y| is near 1.
    d = np.abs(input)
    d += 1
    np.reciprocal(d, out=d)  # 0 at ±inf, and never overflows when squared
    np.square(d, out=d)
    d *= g
    return d


@_kernels.kernel
def _softsign(x, big, out):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = _clamp(x[i], -big, big)
        out[i] = v / (abs(v) + type(v)(1))


@_kernels.kernel
def _softsign_grad(g, x, big, out, dx):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = x[i]
        one = type(v)(1)
        c = _clamp(v, -big, big)
        out[i] = c / (abs(c) + one)
        r = one / (abs(v) + one)
        dx[i] = r * r * g[i]


@softsign.defkernels
def _(dtype):
    return (_softsign, _softsign_grad, (np.finfo(dtype).max,)) if dtype in _EXACT else None


@activation(
    summary="log σ(x), computed without overflow; the log-probability of the positive "
    "class of a logistic model.",
    formula="logsigmoid(x) = log(1 / (1 + e^(-x))) = -softplus(-x)",
    output_range="(-inf, 0)",
    aliases=("log_sigmoid",),
    notes=(
        "Computed as min(x, 0) - log1p(e^(-|x|)) (the exponent is never positive), so "
        "logsigmoid(-800) = -800 with gradient 1 (torch 2.13); log(sigmoid(x)) gives -inf "
        "in float32 for x below about -104.",
        "f'(x) = σ(-x) = 1 - e^y, computed as -expm1(y) from the output.",
        "NaN input: gradient NaN (torch 2.13).",
    ),
    elementwise=True,
    parallel_min_size=_ops.TRANSCENDENTAL_MIN_SIZE,
)
@_arrays
def logsigmoid(input):
    t = np.abs(input)
    np.negative(t, out=t)
    np.exp(t, out=t)
    np.log1p(t, out=t)
    y = np.minimum(input, 0)
    y -= t
    return y


@logsigmoid.defvjp
@_arrays
def _(g, y, input):
    # σ(-x) = 1 - σ(x) = 1 - e^y; expm1 keeps it accurate when y ≈ 0 (large x).
    d = np.expm1(y)
    np.negative(d, out=d)
    d *= g
    return d


@_kernels.inline
def _logsigmoidf(v):  # pragma: no cover - compiled
    """(logsigmoid(v), σ(-v)) in float32, sharing e = e^-|v|: σ(-v), the VJP's
    -expm1(y) without a second exp, is e/(1 + e) for v >= 0 and 1/(1 + e) below; at
    y = +0 (e^-|v| underflows) it is -expm1(+0) = -0, as in the formula."""
    e = _kernels.expf(-abs(v))
    y = (f32(0.0) if v > f32(0.0) else v) - _kernels.log1pf(e)  # np.minimum keeps NaN
    r = f32(1.0) / (f32(1.0) + e)
    d = e * r if v >= f32(0.0) else r
    return y, (d if y != f32(0.0) else -y)


@_kernels.kernel
def _logsigmoid(x, out):  # pragma: no cover - compiled
    for i in prange(x.size):
        out[i] = _logsigmoidf(x[i])[0]


@_kernels.kernel
def _logsigmoid_grad(g, x, out, dx):  # pragma: no cover - compiled
    for i in prange(x.size):
        y, d = _logsigmoidf(x[i])
        out[i] = y
        dx[i] = d * g[i]


@logsigmoid.defkernels
def _(dtype):
    return (_logsigmoid, _logsigmoid_grad, ()) if dtype == np.float32 else None


# Taylor coefficients of x - tanh(x) = Σ c_k x^(2k+1), k = 1..8 (from the Bernoulli
# numbers: c_k = -2^(2k+2) (2^(2k+2) - 1) B_(2k+2) / (2k+2)!).
_TANHSHRINK_SERIES = (
    1 / 3,
    -2 / 15,
    17 / 315,
    -62 / 2835,
    1382 / 155925,
    -21844 / 6081075,
    929569 / 638512875,
    -6404582 / 10854718875,
)
# Below these |x| the series (truncation < 1 ulp) beats x - tanh(x), which loses about
# log2(3/x²) bits to cancellation. Max relative error: ~5e-7 (float32), ~1e-14 (float64).
_TANHSHRINK_CUTOFF = {np.dtype(np.float32): 0.6, np.dtype(np.float64): 0.2}
# The float32 kernel's copies, highest order first (c8, c7, ..., c1), and its cutoff.
_TANHSHRINK_F32 = tuple(f32(c) for c in reversed(_TANHSHRINK_SERIES))
_TANHSHRINK_CUTOFF_F32 = f32(_TANHSHRINK_CUTOFF[np.dtype(np.float32)])


@activation(
    summary="x - tanh(x): zero near 0 and linear far away; used in some sparse-coding and "
    "denoising models.",
    formula="tanhshrink(x) = x - tanh(x)",
    output_range="(-inf, inf)",
    aliases=("tanh_shrink",),
    notes=(
        "Near 0 the subtraction cancels (float32 x - tanh(x) at 1e-3 is about 5 % off); "
        "below |x| = 0.6 (float32) or 0.2 (float64) the series x³/3 - 2x⁵/15 + … "
        "(8 terms) is used instead.",
        "f'(x) = tanh²(x). NaN input: gradient NaN (torch 2.13).",
    ),
    elementwise=True,
    parallel_min_size=_ops.TRANSCENDENTAL_MIN_SIZE,
)
@_arrays
def tanhshrink(input):
    x = np.ascontiguousarray(input)  # flat indexing below
    y = np.tanh(x)
    np.subtract(x, y, out=y)
    # Patch only the small elements (gathering them is cheaper than a full-size series).
    small = np.flatnonzero(np.abs(x) < _TANHSHRINK_CUTOFF[x.dtype])
    if small.size:
        xs = x.ravel().take(small)
        x2 = xs * xs
        acc = x2 * _TANHSHRINK_SERIES[-1]
        for c in _TANHSHRINK_SERIES[-2:0:-1]:
            acc += c
            acc *= x2
        acc += _TANHSHRINK_SERIES[0]
        acc *= x2
        acc *= xs
        y.ravel()[small] = acc
    return y


@tanhshrink.defvjp
@_arrays
def _(g, y, input):
    # tanh² from x: recovering tanh as x - y would cancel for large |x| (and inf - inf).
    d = np.tanh(input)
    np.square(d, out=d)
    d *= g
    return d


@_kernels.inline
def _tanhshrinkf(v, t):  # pragma: no cover - compiled
    """tanhshrink(v) in float32 given t = tanh(v): the series below the cutoff, in the
    NumPy formula's Horner order, else v - t."""
    x2 = v * v
    acc = x2 * _TANHSHRINK_F32[0]
    for c in _TANHSHRINK_F32[1:]:
        acc = (acc + c) * x2
    return acc * v if abs(v) < _TANHSHRINK_CUTOFF_F32 else v - t


@_kernels.kernel
def _tanhshrink(x, out):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = x[i]
        out[i] = _tanhshrinkf(v, _kernels.tanhf(v))


@_kernels.kernel
def _tanhshrink_grad(g, x, out, dx):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = x[i]
        t = _kernels.tanhf(v)
        out[i] = _tanhshrinkf(v, t)
        dx[i] = t * t * g[i]


@tanhshrink.defkernels
def _(dtype):
    return (_tanhshrink, _tanhshrink_grad, ()) if dtype == np.float32 else None


# ---------------------------------------------------------------------------
# Shrinkage and threshold
# ---------------------------------------------------------------------------


@activation(
    summary="Soft thresholding: moves x toward 0 by lambd and zeroes [-lambd, lambd]; the "
    "proximal operator of lambd·|x| (L1 / sparse coding, ISTA).",
    formula="softshrink(x) = x - lambd if x > lambd; x + lambd if x < -lambd; else 0",
    params=(
        Param(
            "lambd",
            "float",
            0.5,
            "Half-width of the zeroed band [-lambd, lambd] (finite, >= 0).",
            minimum=0.0,
            maximum=math.inf,
            exclusive_maximum=True,
        ),
    ),
    output_range="(-inf, inf)",
    kinks=("x = ±lambd: gradient 0 (torch 2.13)",),
    aliases=("soft_shrink",),
    notes=(
        "Continuous; the derivative jumps from 0 to 1 at ±lambd.",
        "torch refuses lambd < 0; infinite lambd is refused here too.",
        "NaN input: output NaN, gradient 1 (torch 2.13).",
    ),
    elementwise=True,
)
@_arrays
def softshrink(input, lambd):
    # λ capped at the dtype's max (1e300 in float32), so inf - λ below is never inf - inf.
    lam = _const(min(lambd, float(np.finfo(input.dtype).max)), input.dtype)
    # x - clip(x, -λ, λ) is x ∓ λ outside the band and exactly 0 inside it.
    y = np.clip(input, -lam, lam)
    np.subtract(input, y, out=y)
    return y


@softshrink.defvjp
@_arrays
def _(g, y, input, lambd):
    # torch: (-λ <= x <= λ) ? 0 : g. Since x - c == 0 exactly iff x == c (IEEE), the
    # output is 0 exactly on that band; NaN outputs (NaN inputs) pass g, as in torch.
    return _keep(g, y != 0)


@_kernels.kernel
def _softshrink(x, lam, out):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = x[i]
        out[i] = v - _clamp(v, -lam, lam)


@_kernels.kernel
def _softshrink_grad(g, x, lam, out, dx):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = x[i]
        y = v - _clamp(v, -lam, lam)
        out[i] = y
        dx[i] = _kept(g[i], y != type(v)(0))


@softshrink.defkernels
def _(dtype, lambd):
    if dtype not in _EXACT:
        return None
    return (_softshrink, _softshrink_grad, (_const(min(lambd, float(np.finfo(dtype).max)), dtype),))


softshrink.defkinks(near_points(lambda lambd: (-lambd, lambd)))


@activation(
    summary="Hard thresholding: zeroes [-lambd, lambd] and keeps x elsewhere; the "
    "proximal operator of an L0 penalty.",
    formula="hardshrink(x) = x if |x| > lambd, else 0",
    params=(
        Param(
            "lambd",
            "float",
            0.5,
            "Half-width of the zeroed band [-lambd, lambd]; negative gives the identity.",
        ),
    ),
    output_range="{0} ∪ (-inf, -lambd) ∪ (lambd, inf)",
    kinks=(
        "x = ±lambd: discontinuous (jumps by lambd); output 0 and gradient 0 there (torch 2.13)",
    ),
    aliases=("hard_shrink",),
    notes=(
        "A finite-difference check fails at ±lambd for any step (a jump, not a kink).",
        "torch puts no bound on lambd (ATen has no check, unlike softshrink); a negative "
        "lambd makes the band empty, so the function is the identity.",
        "NaN input: output NaN, gradient 1 (torch 2.13).",
    ),
    elementwise=True,
)
@_arrays
def hardshrink(input, lambd):
    # torch: (-λ <= x <= λ) ? 0 : x; NaN fails the test and passes through.
    band = np.abs(input) <= _const(lambd, input.dtype)
    return _keep(input, np.logical_not(band, out=band))


@hardshrink.defvjp
@_arrays
def _(g, y, input, lambd):
    band = np.abs(input) <= _const(lambd, input.dtype)
    return _keep(g, np.logical_not(band, out=band))


@_kernels.kernel
def _hardshrink(x, lam, out):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = x[i]
        out[i] = _kept(v, not abs(v) <= lam)


@_kernels.kernel
def _hardshrink_grad(g, x, lam, out, dx):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = x[i]
        passes = not abs(v) <= lam
        out[i] = _kept(v, passes)
        dx[i] = _kept(g[i], passes)


@hardshrink.defkernels
def _(dtype, lambd):
    return (_hardshrink, _hardshrink_grad, (_const(lambd, dtype),)) if dtype in _EXACT else None


hardshrink.defkinks(near_points(lambda lambd: _finite(-lambd, lambd) if lambd >= 0 else ()))


@activation(
    summary="x where x > threshold, else a constant value; a step-like gate "
    "(threshold(x, 0, 0) is relu).",
    formula="threshold(x) = x if x > threshold, else value",
    params=(
        Param("threshold", "float", doc="The value x must exceed to pass through (required)."),
        Param("value", "float", doc="The output where x <= threshold (required)."),
    ),
    output_range="{value} ∪ (threshold, inf)",
    kinks=(
        "x = threshold: discontinuous unless value == threshold; output value and "
        "gradient 0 there (torch 2.13)",
    ),
    notes=(
        "torch's kernel is x <= threshold ? value : x, so NaN passes through with "
        "gradient 1 (torch 2.13).",
        "Both parameters are required, as in torch.",
    ),
    elementwise=True,
)
@_arrays
def threshold(input, threshold, value):
    dt = input.dtype
    v = _const(value, dt)
    stop = input <= _const(threshold, dt)  # torch: x <= threshold ? value : x
    if not np.isfinite(v):
        return np.where(stop, v, input)
    y = _keep(input, ~stop)
    y += v * stop  # exact, and faster than np.where: each element is x + 0 or 0 + value
    return y


@threshold.defvjp
@_arrays
def _(g, y, input, threshold, value):
    stop = input <= _const(threshold, input.dtype)
    return _keep(g, np.logical_not(stop, out=stop))


@_kernels.inline
def _threshold1(v, th, val, zero):  # pragma: no cover - compiled
    """``_keep(x, x > th) + val·(x <= th)`` on one element; ``zero`` is val·0, what the
    second term adds where x passes (-0 for an infinite val: np.where's x itself)."""
    return _kept(v, False) + val if v <= th else v + zero


@_kernels.kernel
def _threshold(x, th, val, zero, out):  # pragma: no cover - compiled
    for i in prange(x.size):
        out[i] = _threshold1(x[i], th, val, zero)


@_kernels.kernel
def _threshold_grad(g, x, th, val, zero, out, dx):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = x[i]
        out[i] = _threshold1(v, th, val, zero)
        dx[i] = _kept(g[i], not v <= th)


@threshold.defkernels
def _(dtype, threshold, value):
    if dtype not in _EXACT:
        return None
    val = _const(value, dtype)
    zero = np.copysign(dtype.type(0), val) if np.isfinite(val) else dtype.type(-0.0)
    return (_threshold, _threshold_grad, (_const(threshold, dtype), val, zero))


threshold.defkinks(near_points(lambda threshold, value: _finite(threshold)))


# ---------------------------------------------------------------------------
# Second order (check_gradient(order=2)): f''(x) for each entry
# ---------------------------------------------------------------------------

# Piecewise linear: f'' = 0 away from the kinks.
relu6.defsecond(lambda y, input: 0)
hardtanh.defsecond(lambda y, input, min_val, max_val: 0)
hardsigmoid.defsecond(lambda y, input: 0)
softshrink.defsecond(lambda y, input, lambd: 0)
hardshrink.defsecond(lambda y, input, lambd: 0)
threshold.defsecond(lambda y, input, threshold, value: 0)


@hardswish.defsecond
def _(y, input):
    inside = (input > -3) & (input < 3)  # (x/3 + 1/2)' = 1/3 between the kinks
    return inside * input.dtype.type(1 / 3)


@softsign.defsecond
def _(y, input):
    d = np.abs(input)  # softsign'' = −2 sign(x) / (1 + |x|)³, cubed from the reciprocal
    d += 1
    d = np.reciprocal(d)
    d = d * d * d
    d *= -2 * np.sign(input)
    return d


# softsign' = 1/(1 + |x|)² has a kink at 0 (f'' jumps from 2 to −2).
softsign.defkinks2(lambda step, input, /: (np.abs(input) <= step,))


@logsigmoid.defsecond
def _(y, input):
    d = np.expm1(y)  # −σ(x)σ(−x) = e^y·(e^y − 1), from the output
    d *= np.exp(y)
    return d


@tanhshrink.defsecond
def _(y, input):
    t = np.tanh(input)  # (tanh²)' = 2 tanh (1 − tanh²)
    return 2 * t * (1 - t * t)
