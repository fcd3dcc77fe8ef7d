"""Warning-free IEEE arithmetic and torch's reductions, shared by the losses.

Why: the catalog promises that no input, finite or not (NaN, ±inf, ±0, 1e300), makes
NumPy warn, and it keeps that promise without np.errstate blankets or warning filters
(they would also hide the warnings of real mistakes). Stable formulas remove most
hazards, but a loss still multiplies, adds and sums its inputs: one huge or infinite
element can overflow a product or a sum, or meet inf − inf or 0·inf. torch answers
those with the IEEE 754 result (±inf, NaN), and so must nnfunc, silently.

How: each loss first asks a cheap question, ``is_tame(limit, *arrays)``: is every
element finite and at most ``limit`` in magnitude? Two reductions per array (min and
max) answer it. ``bound(dtype, n, degree)`` gives a limit under which any product of
``degree`` such factors, summed over ``n`` elements (with 16× headroom), stays finite.
When the inputs are tame, ``arith`` hands back ``PLAIN``: NumPy's ufuncs themselves,
at full speed. Otherwise it hands back ``QUIET``: the same operations (add, sub, mul,
div, exp, sum) computing exactly the IEEE results without raising a floating-point
flag. Each computes the ufunc only where it cannot fail (``where=``) and fills the
rest by rule: overflow gives ±inf; 0·inf, inf − inf, inf/inf and 0/0 give NaN; x/0
gives ±inf. The overflow tests are exact, not margins: a product or quotient is
decided on its mantissas and exponents (frexp), a sum on its halves (a/2 + b/2 never
overflows and is fl(a + b)/2). A loss is written once against either namespace
(``op.mul(a, b)``); the quiet one costs several passes, so only extreme inputs pay it.

``blockwise_reduce`` fuses the check with the work for the common 'mean' and 'sum':
it runs a plain loss kernel block by block (cache-sized), checking each block before
it is computed, so the temporaries stay in cache and memory is read about once.

``reduce`` and ``reduce_vjp`` are torch's reductions with the same guarantee: the
mean of nothing is NaN and the sum of nothing 0, +inf with −inf gives NaN, and a
mean or sum overflows to ±inf only when the result itself is out of range (the sum is
scaled by a power of two first, so [1e308, 1e308, −1e308] sums to 1e308).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

__all__ = [
    "PLAIN",
    "QUIET",
    "arith",
    "blockwise_reduce",
    "bound",
    "is_tame",
    "quotient",
    "reduce",
    "reduce_vjp",
    "scalar",
]


@functools.cache
def _edges(dtype: np.dtype) -> tuple[float, float, int]:
    """(largest finite, smallest magnitude that rounds to inf, maxexp) of ``dtype``
    (np.finfo costs microseconds a call; small losses feel it)."""
    finfo = np.finfo(dtype)
    top = float(finfo.max)
    # max + half an ulp at the top rounds (to even) to inf
    return top, top + math.ldexp(1.0, int(finfo.maxexp) - 2 - int(finfo.nmant)), int(finfo.maxexp)


def bound(dtype: np.dtype, n: int = 1, degree: int = 1) -> float:
    """A magnitude under which products of ``degree`` factors, summed over ``n`` terms
    (16 times over), cannot overflow ``dtype``: (max / 16n)^(1/degree)."""
    share = _edges(np.dtype(dtype))[0] / (16 * max(n, 1))
    return share if degree == 1 else share ** (1.0 / degree)


def is_tame(limit: float, *arrays: Any) -> bool:
    """Every element of every array (None skipped) finite and within ±limit (NaN is not)."""
    for a in arrays:
        if a is None:
            continue
        a = np.asarray(a)
        if a.size == 0:
            continue
        # float(): Python comparisons never warn, whatever the dtype; NaN fails both
        if not (-limit <= float(a.min()) and float(a.max()) <= limit):
            return False
    return True


def scalar(value: float, dtype: np.dtype) -> np.ndarray:
    """A Python number rounded to a 0-d array of ``dtype``, quietly: magnitudes that
    round beyond the largest finite value become ±inf (NumPy's cast would warn)."""
    value = float(value)
    if math.isfinite(value) and abs(value) >= _edges(np.dtype(dtype))[1]:
        value = math.copysign(math.inf, value)
    return np.asarray(value, dtype=dtype)


def quotient(num: float, den: float) -> float:
    """num / den in IEEE arithmetic on Python floats (Python raises where IEEE gives
    ±inf or NaN): x/0 is ±inf, 0/0 and inf/inf NaN, overflow inf."""
    num, den = float(num), float(den)
    if den == 0:
        if num == 0 or math.isnan(num):
            return math.nan
        return math.copysign(math.inf, num) * math.copysign(1.0, den)
    return num / den  # Python float division gives inf on overflow and NaN for inf/inf


# ---------------------------------------------------------------------------
# The two arithmetics
# ---------------------------------------------------------------------------


class _Plain:
    """NumPy's ufuncs, for tame inputs."""

    add = staticmethod(np.add)
    sub = staticmethod(np.subtract)
    mul = staticmethod(np.multiply)
    div = staticmethod(np.divide)
    exp = staticmethod(np.exp)

    @staticmethod
    def sum(a: np.ndarray, axis: int | None = None, keepdims: bool = False) -> np.ndarray:
        a = np.asarray(a)
        return np.sum(a, axis=axis, keepdims=keepdims, dtype=a.dtype)


def _pair(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """a and b as broadcast arrays of their result dtype (Python numbers rounded quietly)."""
    dt = np.result_type(a, b)
    a = a.astype(dt, copy=False) if isinstance(a, np.ndarray) else scalar(a, dt)
    b = b.astype(dt, copy=False) if isinstance(b, np.ndarray) else scalar(b, dt)
    a, b = np.broadcast_arrays(a, b)
    return a, b


def _exp_limit(dtype: np.dtype) -> float:
    """The largest x of ``dtype`` whose exp is finite."""
    t = dtype.type(np.log(np.finfo(dtype).max))
    while math.exp(float(t)) > float(np.finfo(dtype).max):  # float64 checks float32's edge
        t = np.nextafter(t, dtype.type(0))
    return float(t)


_EXP_LIMIT = {np.dtype(d): _exp_limit(np.dtype(d)) for d in (np.float32, np.float64)}


class _Quiet:
    """Exact IEEE results, computed only where they cannot raise a flag."""

    @staticmethod
    def add(a: Any, b: Any) -> np.ndarray:
        a, b = _pair(a, b)
        fin = np.isfinite(a) & np.isfinite(b)
        half = np.zeros(a.shape, a.dtype)
        np.add(a * 0.5, b * 0.5, out=half, where=fin)  # = fl(a + b)/2; halves cannot overflow
        over = np.abs(half) > np.finfo(a.dtype).max * 0.5
        clash = np.isinf(a) & np.isinf(b) & (a != b)  # inf + (−inf)
        out = np.full(a.shape, np.nan, a.dtype)
        np.add(a, b, out=out, where=~(over | clash))  # NaN operands give NaN quietly
        np.copyto(out, np.copysign(np.inf, half), where=over)
        return out

    @staticmethod
    def sub(a: Any, b: Any) -> np.ndarray:
        a, b = _pair(a, b)
        return _Quiet.add(a, np.negative(b))

    @staticmethod
    def mul(a: Any, b: Any) -> np.ndarray:
        a, b = _pair(a, b)
        fin = np.isfinite(a) & np.isfinite(b)
        ma, ea = np.frexp(a)
        mb, eb = np.frexp(b)
        mm = np.zeros(a.shape, a.dtype)
        np.multiply(ma, mb, out=mm, where=fin)  # mantissas in [0.5, 1): no overflow
        # a·b = fl(ma·mb)·2^(ea+eb) exactly, so its exponent says exactly when it overflows
        over = fin & (mm != 0) & (np.frexp(mm)[1] + ea + eb > np.finfo(a.dtype).maxexp)
        invalid = (np.isinf(a) & (b == 0)) | (np.isinf(b) & (a == 0))  # 0·inf
        out = np.full(a.shape, np.nan, a.dtype)
        np.multiply(a, b, out=out, where=~(over | invalid))
        np.copyto(out, np.copysign(np.inf, mm), where=over)
        return out

    @staticmethod
    def div(a: Any, b: Any) -> np.ndarray:
        a, b = _pair(a, b)
        fin = np.isfinite(a) & np.isfinite(b) & (b != 0)
        ma, ea = np.frexp(a)
        mb, eb = np.frexp(b)
        md = np.zeros(a.shape, a.dtype)
        np.divide(ma, mb, out=md, where=fin)  # in (0.5, 2): no overflow, no 0/0
        over = fin & (md != 0) & (np.frexp(md)[1] + ea - eb > np.finfo(a.dtype).maxexp)
        invalid = ((a == 0) & (b == 0)) | (np.isinf(a) & np.isinf(b))  # 0/0, inf/inf
        by_zero = (b == 0) & (a != 0) & ~np.isnan(a)
        out = np.full(a.shape, np.nan, a.dtype)
        np.divide(a, b, out=out, where=~(over | invalid | by_zero))
        np.copyto(out, np.copysign(np.inf, a) * np.copysign(1.0, b), where=over | by_zero)
        return out

    @staticmethod
    def exp(x: Any) -> np.ndarray:
        x = np.asarray(x)
        out = np.full(x.shape, np.inf, x.dtype)
        return np.exp(x, out=out, where=~(x > _EXP_LIMIT[x.dtype]))  # NaN stays NaN

    @staticmethod
    def sum(t: Any, axis: int | None = None, keepdims: bool = False) -> np.ndarray:
        scaled, shift = _scaled_sum(np.asarray(t), axis)
        out = _scale_back(scaled, shift)
        if keepdims:
            return out
        return out.reshape(()) if axis is None else out.squeeze(axis)


PLAIN = _Plain()
QUIET = _Quiet()


def arith(limit: float, *arrays: Any) -> _Plain | _Quiet:
    """PLAIN when ``arrays`` are tame under ``limit``, else QUIET."""
    return PLAIN if is_tame(limit, *arrays) else QUIET


def product(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """u·v as IEEE gives it (±inf on overflow, NaN for 0·inf), without NumPy's warning:
    the plain product when both factors are within √max, else QUIET.mul."""
    root = math.sqrt(_edges(np.result_type(u, v))[0])
    return np.multiply(u, v) if is_tame(root, u, v) else QUIET.mul(u, v)


# ---------------------------------------------------------------------------
# Quiet sums: scaled by a power of two so that no partial sum can overflow
# ---------------------------------------------------------------------------


def _scaled_sum(t: np.ndarray, axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(s, k), kept dims: the sum over ``axis`` is s·2^k, with s computed without
    overflow (k = 0 unless a slice needs it, so ordinary slices lose nothing).
    Slices holding NaN, or +inf and −inf, give s = NaN; with one infinity, s = ±inf."""
    dtype = t.dtype
    if t.size == 0:
        s = np.sum(t, axis=axis, keepdims=True, dtype=dtype)
        return s, np.zeros(s.shape, np.int64)
    n = t.size if axis is None else t.shape[axis]
    maxexp = int(np.finfo(dtype).maxexp)
    finite = np.isfinite(t)
    tf = np.where(finite, t, 0)
    top = np.frexp(tf)[1].max(axis=axis, keepdims=True).astype(np.int64)
    shift = np.maximum(top + n.bit_length() + 1 - maxexp, 0)
    s = np.array(np.sum(np.ldexp(tf, -shift), axis=axis, keepdims=True, dtype=dtype))
    pos = (t == np.inf).any(axis=axis, keepdims=True)
    neg = (t == -np.inf).any(axis=axis, keepdims=True)
    s[pos] = np.inf
    s[neg] = -np.inf
    s[np.isnan(t).any(axis=axis, keepdims=True) | (pos & neg)] = np.nan
    return s, shift


def _scale_back(s: np.ndarray, k: np.ndarray) -> np.ndarray:
    """s·2^k, overflowing quietly to ±inf."""
    m, e = np.frexp(s)  # ±inf and NaN come back as themselves with e = 0
    total = e + k
    over = total > np.finfo(s.dtype).maxexp
    out = np.asarray(np.ldexp(m, np.where(over, 0, total)))
    np.copyto(out, np.copysign(np.inf, m), where=over)
    return out


# ---------------------------------------------------------------------------
# torch's reductions
# ---------------------------------------------------------------------------


def reduce(
    loss: np.ndarray, reduction: str, *, tame: bool = False, divisor: float | None = None
) -> np.ndarray:
    """torch's reduction: 'none' as is, 'sum', or 'mean' (the sum ÷ ``divisor``, by
    default the number of elements: NaN when there are none).

    ``tame=True`` says the caller knows the sum cannot overflow (its inputs were tame),
    which skips the check (two passes); otherwise extreme losses take the quiet sum.
    """
    if reduction == "none":
        return loss
    loss = np.asarray(loss)
    dtype = loss.dtype
    if tame or is_tame(bound(dtype, loss.size), loss):
        scaled, shift = loss.sum(dtype=dtype), 0
    else:
        s, k = _scaled_sum(loss, None)
        scaled, shift = s.reshape(()), int(k.reshape(()))
    if reduction == "mean":
        # torch divides by numel cast to the loss's dtype (float32: rounded above 2^24)
        den = float(dtype.type(loss.size)) if divisor is None else divisor
        scaled = quotient(scaled, den)
    elif not shift:
        return np.asarray(scaled, dtype=dtype)
    value = float(scaled)
    if shift and math.isfinite(value) and value != 0:
        e = math.frexp(value)[1]
        value = math.copysign(math.inf, value) if e + shift > 1024 else math.ldexp(value, shift)
    return scalar(value, dtype)


def reduce_vjp(
    g: np.ndarray, shape: tuple[int, ...], reduction: str, *, divisor: float | None = None
) -> np.ndarray:
    """The upstream gradient of ``reduce`` spread over the unreduced loss's shape
    (a read-only broadcast for 'sum' and 'mean'; g ÷ divisor for 'mean')."""
    g = np.asarray(g)
    if reduction == "none":
        return g
    if reduction == "mean":
        n = math.prod(shape) if divisor is None else divisor
        if n != 0 or divisor is not None:
            den = float(g.dtype.type(n)) if divisor is None else n
            g = scalar(quotient(float(g), den), g.dtype)  # g is 0-d for 'mean'
    return np.broadcast_to(g, shape)


_BLOCK_BYTES = 1 << 18  # a block's scratch arrays (and the inputs' blocks) stay in L2


def blockwise_reduce(
    kernel: Any, limit: float, reduction: str, *arrays: np.ndarray, scratch: int = 1
) -> np.ndarray | None:
    """torch's 'sum' or 'mean' of a loss computed block by block; None when the
    inputs are not tame under ``limit``, and the caller takes its quiet path.

    ``kernel(*buffers, *blocks)`` computes the loss of one block of the same-shape
    ``arrays`` with plain ufuncs into its first buffer and returns it; ``scratch``
    buffers of the block's length are lent to it. Each block is checked (``is_tame``)
    before the kernel sees it, so the check reads from cache too. ``limit`` must keep
    the whole sum finite, as for ``reduce(..., tame=True)``.
    """
    flat = [np.ravel(a) for a in arrays]
    n, dtype = flat[0].size, flat[0].dtype
    step = max(_BLOCK_BYTES // dtype.itemsize, 1)
    buffers = [np.empty(min(step, n), dtype) for _ in range(scratch)]
    partial = np.zeros(-(-n // step), dtype)
    for k, start in enumerate(range(0, n, step)):
        blocks = [f[start : start + step] for f in flat]
        if not is_tame(limit, *blocks):
            return None
        m = blocks[0].size
        partial[k] = kernel(*(b[:m] for b in buffers), *blocks).sum(dtype=dtype)
    total = partial.sum(dtype=dtype)
    if reduction == "sum":
        return np.asarray(total)
    return scalar(quotient(total, float(dtype.type(n))), dtype)
