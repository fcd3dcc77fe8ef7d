"""Fused single-pass kernels for large calls, compiled by numba.

A NumPy formula makes one pass over memory per ufunc and one temporary per pass, on one
core; at 1M float32 elements that is 2-8x the time of torch's fused loops on every core
(bench/catalog.py). Each kernel here is that one loop over 1-d contiguous arrays,
compiled to SIMD code and split over every core by numba's ``prange``, without the GIL.
The NumPy formula stays the function's definition: it serves small calls, and
tests/catalog/test_kernels.py holds every kernel to it (bit for bit where no
transcendental is involved, within a few ulp where one is).

Conventions (``FunctionSpec.defkernels`` returns the pair for a dtype and parameters):

    forward(*inputs, *scalars, out)                      -> writes out
    value_and_grad(g, *inputs, *scalars, out, *grads)    -> writes out and the grads

Scalars arrive already cast to the inputs' dtype (as NumPy casts a Python float in the
reference formula), so the arithmetic is the same in both. Loops write through ``out``
and read nothing they wrote, so a block of any size gives the same values.

Call kernels through ``launch``: numba's fallback threading layer (workqueue, used when
no OpenMP or TBB runtime is installed) aborts the process when two threads start
parallel loops at once, so launches take turns (they use every core anyway).

numba compiles a kernel on its first call for each dtype (about 1 s) and caches the
machine code next to this file, or under $NUMBA_CACHE_DIR, when that is writable.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from nnfunc.catalog import _ops

f32 = np.float32
prange = numba.prange

_LAUNCH = threading.Lock()


def launch(kernel: Callable[..., Any], *args: Any) -> Any:
    """Run a kernel, one at a time (see the module docstring); its result."""
    with _LAUNCH:
        return kernel(*args)


def eligible(*arrays: np.ndarray, dtypes: tuple[type, ...] = (np.float32,)) -> bool:
    """Whether a call on these arrays should take its kernels (for code that calls
    them itself, as losses do): one dtype among ``dtypes``, all C-contiguous, and at
    least _ops.KERNEL_MIN_SIZE elements (read at call time, so tests can lower it)."""
    first = arrays[0]
    return (
        first.dtype.type in dtypes
        and first.size >= _ops.KERNEL_MIN_SIZE
        and all(a.dtype == first.dtype and a.flags.c_contiguous for a in arrays)
    )


def jit(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """Decorator compiling with nnfunc's numba options (``options`` added or replacing
    them); ``kernel``, ``serial`` and ``inline`` are the usual ones."""

    def decorate(fn: Callable[..., Any]) -> Any:
        # error_model numpy: IEEE results (x/0 is inf), never a ZeroDivisionError.
        # contract: a·b + c may become one FMA (rounded once), never reassociated.
        flags = {"nogil": True, "error_model": "numpy", "fastmath": {"contract"}, **options}
        try:
            return numba.njit(cache=True, **flags)(fn)
        except RuntimeError:  # no writable cache directory (a read-only install)
            return numba.njit(**flags)(fn)

    return decorate


kernel = jit(parallel=True)
"""Decorator for a kernel (called through ``launch``; loops over ``prange``)."""

serial = jit()
"""Decorator for a kernel on one thread, for work too small to share out."""

inline = jit(inline="always")
"""Decorator for a scalar helper, inlined into the kernels that call it."""


# ---------------------------------------------------------------------------
# float32 primitives, written so that LLVM vectorizes them (no libm calls)
# ---------------------------------------------------------------------------

_LOG2E = f32(1.4426950408889634)
_LN2_HI = f32(0.693145751953125)  # ln 2 in 16 bits: n·_LN2_HI is exact for |n| <= 256
_LN2_LO = f32(1.4286068203094173e-06)
_ROUND = f32(12582912.0)  # 1.5·2^23: adding and subtracting it rounds to an integer
# e^r on |r| <= ln2/2 by its Taylor polynomial to r^7 (truncation < 2^-30 relative)
_E2, _E3, _E4, _E5, _E6, _E7 = (f32(1 / math.factorial(k)) for k in range(2, 8))


@inline
def expf(v):  # pragma: no cover - compiled
    """e^v in float32 within 1 ulp (NaN stays NaN, -inf -> 0, overflow -> inf):
    e^v = 2^n·e^r with n = round(v/ln 2), r = v - n·ln 2 in two parts, and 2^n applied
    as two factors so that a subnormal result is rounded once."""
    c = min(max(v, f32(-104.0)), f32(88.8))  # beyond: 0 and inf, reached through n
    n = c * _LOG2E + _ROUND - _ROUND
    r = c - n * _LN2_HI - n * _LN2_LO
    p = ((((_E7 * r + _E6) * r + _E5) * r + _E4) * r + _E3) * r + _E2
    p = (p * r + f32(1.0)) * r + f32(1.0)
    k = np.int32(n)
    h = k >> 1
    s1 = np.int32((h + 127) << 23).view(np.float32)
    s2 = np.int32((k - h + 127) << 23).view(np.float32)
    e = p * s1 * s2
    return e if v == v else v


# ---------------------------------------------------------------------------
# sigmoid: the template for the others
# ---------------------------------------------------------------------------


@inline
def sigmoidf(v):  # pragma: no cover - compiled
    """σ(v) = 1/(1 + e^-|v|) for v >= 0, e^-|v|/(1 + e^-|v|) below: no overflow."""
    e = expf(-abs(v))
    r = f32(1.0) / (f32(1.0) + e)
    return r if v >= f32(0.0) else e * r


@kernel
def sigmoid(x, out):  # pragma: no cover - compiled
    for i in prange(x.size):
        out[i] = sigmoidf(x[i])


@kernel
def sigmoid_grad(g, x, out, dx):  # pragma: no cover - compiled
    for i in prange(x.size):
        y = sigmoidf(x[i])
        out[i] = y
        dx[i] = g[i] * ((f32(1.0) - y) * y)


# ---------------------------------------------------------------------------
# More float32 primitives: expm1, log, log1p, tanh (vectorizable, as expf)
# ---------------------------------------------------------------------------


@inline
def expm1f(v):  # pragma: no cover - compiled
    """e^v - 1 in float32 within 2 ulp: with e^v = 2^n·e^r as in expf,
    e^v - 1 = 2^n·(e^r - 1) + (2^n - 1), and e^r - 1 from the polynomial without the
    leading 1, so small |v| (n = 0) loses nothing; -0 stays -0."""
    c = min(max(v, f32(-104.0)), f32(88.8))
    n = c * _LOG2E + _ROUND - _ROUND
    r = c - n * _LN2_HI - n * _LN2_LO
    p = ((((_E7 * r + _E6) * r + _E5) * r + _E4) * r + _E3) * r + _E2
    q = (p * r + f32(1.0)) * r  # e^r - 1
    k = np.int32(n)
    h = k >> 1
    s1 = np.int32((h + 127) << 23).view(np.float32)
    s2 = np.int32((k - h + 127) << 23).view(np.float32)
    s = s1 * s2  # inf for n = 128, where e^v - 1 is e^v: the other form
    e = s * q + (s - f32(1.0)) if k < 64 else (q + f32(1.0)) * s1 * s2
    return e if (v == v and v != f32(0.0)) else v


_SQRT_HALF_BITS = np.int32(0x3F3504F3)  # the bits of √½
# log(m) for m in [√½, √2): with f = m - 1, s = f/(2 + f), z = s², log m = f - f²/2 +
# s·(f²/2 + z·P(z)); P fits (log m - 2s)/s - … by the atanh series 2/3, 2/5, 2/7, 2/9.
_L1, _L2, _L3, _L4 = f32(2 / 3), f32(2 / 5), f32(2 / 7), f32(2 / 9)
_TWO23 = f32(8388608.0)
_INF, _NEG_INF, _NAN = f32(np.inf), f32(-np.inf), f32(np.nan)


@inline
def logf(v):  # pragma: no cover - compiled
    """log(v) in float32 within 1 ulp: v = 2^k·m with m in [√½, √2) read off the bits
    (subnormals scaled by 2^23 first), then log m by the atanh series of
    s = (m - 1)/(m + 1). log 0 = -inf, log of a negative is NaN, log inf = inf."""
    tiny = v < f32(1.1754944e-38)
    u = v * (_TWO23 if tiny else f32(1.0))  # one definition: numba's view needs it
    bits = np.float32(u).view(np.int32)
    k = np.int32(np.int32(bits - _SQRT_HALF_BITS) >> 23)  # int32 throughout: vectorizes
    m = np.int32(bits - np.int32(k << 23)).view(np.float32)
    kf = np.float32(k) - (f32(23.0) if tiny else f32(0.0))
    f = m - f32(1.0)
    s = f / (f32(2.0) + f)
    z = s * s
    big_r = z * (_L1 + z * (_L2 + z * (_L3 + z * _L4)))
    hfsq = f32(0.5) * f * f
    lg = kf * _LN2_HI + ((f - hfsq + s * (hfsq + big_r)) + kf * _LN2_LO)
    special = _NEG_INF if v == f32(0.0) else (v if v == _INF else _NAN)
    return lg if (v > f32(0.0) and v < _INF) else special


@inline
def log1pf(v):  # pragma: no cover - compiled
    """log(1 + v) in float32 within 2 ulp: log(u)·v/(u - 1) with u = 1 + v rounded,
    which cancels u's rounding error (Goldberg 1991); v where u rounds to 1."""
    u = f32(1.0) + v
    w = logf(u) * (v / (u - f32(1.0)))
    return v if (u == f32(1.0) or v == _INF) else w


# tanh(a) = a + a·z·P(z), z = a², on |a| < 0.625: a least-squares fit of the relative
# error (fitted for nnfunc; < 0.9 ulp evaluated in float32).
_T0, _T1, _T2, _T3, _T4 = (
    f32(-0.33333285218236786),
    f32(0.13331512625666864),
    f32(-0.05374465438587279),
    f32(0.020653112384751333),
    f32(-0.005718948339989494),
)


@inline
def tanhf(v):  # pragma: no cover - compiled
    """tanh(v) in float32 within 3 ulp: the odd polynomial below |v| = 0.625,
    1 - 2/(e^{2|v|} + 1) above (exactly 1 from |v| ≈ 9, never overflowing)."""
    a = abs(v)
    z = a * a
    small = a + a * z * ((((_T4 * z + _T3) * z + _T2) * z + _T1) * z + _T0)
    large = f32(1.0) - f32(2.0) / (expf(f32(2.0) * a) + f32(1.0))
    t = small if a < f32(0.625) else large
    return math.copysign(t, v) if v == v else v


# ---------------------------------------------------------------------------
# Row reductions, for the kernels over rows (along_axis, losses_classification)
# ---------------------------------------------------------------------------
# Each folds the row's upper half onto its lower half until one value is left: every
# fold is one SIMD loop, where a running max or sum would be one long dependency chain
# (numba's kernels do not reassociate). Sums are float64.


TASK = 1 << 13  # elements a row kernel's task takes at least: short rows share a task


@inline
def row_tasks(rows, n):  # pragma: no cover - compiled
    """How many tasks a row kernel splits ``rows`` rows of ``n`` elements into."""
    per = max(1, TASK // n)
    return (rows + per - 1) // per


@inline
def task_rows(task, rows, n):  # pragma: no cover - compiled
    """The rows [first, last) of ``task`` (see ``row_tasks``)."""
    per = max(1, TASK // n)
    first = task * per
    return first, min(rows, first + per)


@inline
def max_nan(a, b):  # pragma: no cover - compiled
    """max(a, b), NaN if either is (NumPy's maximum)."""
    return a if (a >= b or a != a) else b


@inline
def fold_max(buf, n):  # pragma: no cover - compiled
    """max(buf[:n]) for n >= 1, NaN if any is NaN; overwrites buf. Each step folds the
    top half onto the bottom one (one SIMD loop over two slices) and keeps the middle
    of an odd n."""
    while n > 1:
        h = n // 2
        top = n - h
        lo, hi = buf[:h], buf[top:n]
        for j in range(h):
            lo[j] = max_nan(lo[j], hi[j])
        n = top
    return buf[0]


@inline
def fold_sum(buf, n):  # pragma: no cover - compiled
    """Σ buf[:n] for n >= 1, pairwise, folded as in ``fold_max``; overwrites buf."""
    while n > 1:
        h = n // 2
        top = n - h
        lo, hi = buf[:h], buf[top:n]
        for j in range(h):
            lo[j] += hi[j]
        n = top
    return buf[0]


@inline
def row_max(xi, sign, buf):  # pragma: no cover - compiled
    """max(sign·xi) of a float32 row, NaN if it holds one; its first fold goes from xi
    straight into buf (float64 scratch of the row's size, used as float32: 8 lanes)."""
    n = xi.size
    h = n // 2
    top = n - h
    lo, hi, acc = xi[:h], xi[top:], buf.view(np.float32)
    for j in range(h):
        acc[j] = max_nan(sign * lo[j], sign * hi[j])
    if top > h:
        acc[h] = sign * xi[h]
    return fold_max(acc, top)


@inline
def row_sum(xi, buf):  # pragma: no cover - compiled
    """Σ xi of a float32 row in float64, pairwise (first fold into buf, as ``row_max``)."""
    n = xi.size
    h = n // 2
    top = n - h
    lo, hi = xi[:h], xi[top:]
    for j in range(h):
        buf[j] = np.float64(lo[j]) + np.float64(hi[j])
    if top > h:
        buf[h] = xi[h]
    return fold_sum(buf, top)


@inline
def row_dot(u, v, buf):  # pragma: no cover - compiled
    """⟨u, v⟩ of two float32 rows in float64 (exact products), pairwise, as ``row_sum``."""
    n = u.size
    h = n // 2
    top = n - h
    ul, uh, vl, vh = u[:h], u[top:], v[:h], v[top:]
    for j in range(h):
        buf[j] = np.float64(ul[j]) * np.float64(vl[j]) + np.float64(uh[j]) * np.float64(vh[j])
    if top > h:
        buf[h] = np.float64(u[h]) * np.float64(v[h])
    return fold_sum(buf, top)


@inline
def exp_row(xi, sign, m, e, buf):  # pragma: no cover - compiled
    """e = e^(sign·xi − m) (m: the max of sign·xi, so no term overflows); returns Σ e
    in float64."""
    for j in range(xi.size):
        e[j] = expf(sign * xi[j] - m)
    return row_sum(e, buf)
