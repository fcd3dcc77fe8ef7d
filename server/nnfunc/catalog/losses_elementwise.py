"""Elementwise and per-sample losses (torch.nn.functional): forward and VJP side by side.

Every loss takes ``reduction`` and divides its ``'mean'`` as torch does: by the number
of elements of the unreduced loss (per element here, per sample for
multilabel_soft_margin_loss). Input and target must have the same shape: torch
broadcasts a mismatch with only a warning, nnfunc refuses it.

No input makes NumPy warn (see _safe): each forward first checks, with two cheap
reductions per input, that its inputs are finite and small enough for the plain
formula (no overflow, no inf − inf, no 0·inf, and a sum that cannot overflow); only
when they are not does it take the quiet arithmetic, which gives the same IEEE results
without warnings. The VJPs check the upstream gradient too.

Large calls (from _ops.KERNEL_MIN_SIZE elements, one C-contiguous shape) take fused
numba kernels (_kernels), written next to each loss's forward and VJP: one pass over
memory on every core, with 'mean' and 'sum' summed in the same pass. They make the
NumPy path's operations, in its form for the inputs at hand (plain or quiet), so they
give its bits, or within a few ulp where expf, logf, log1pf or sigmoidf stand in for
NumPy's (tests/catalog/test_kernels_losses.py); see "Fused kernels" below.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba.extending import overload
from scipy import special

from nnfunc.catalog import _kernels, _ops, _safe
from nnfunc.catalog._safe import PLAIN, QUIET
from nnfunc.catalog.spec import REDUCTION, Input, Param, loss
from nnfunc.errors import InvalidArgumentError


def _limit(degree: int, input: np.ndarray, scale: float = 1.0) -> float:
    """How large tame values may be: a product of ``degree`` of them, times ``scale``,
    summed over the input's elements cannot overflow."""
    share = _safe.bound(input.dtype, input.size) / max(scale, 1.0)
    return share ** (1.0 / degree)


def _arith(degree: int, input: np.ndarray, *arrays, scale: float = 1.0):
    """PLAIN when ``arrays`` (None skipped) are tame under ``_limit``; QUIET otherwise.
    ``input`` gives the dtype and the element count."""
    return _safe.arith(_limit(degree, input, scale), *arrays)


def _blockwise(kernel, degree, reduction, input, target, scale=1.0, scratch=1):
    """'mean' or 'sum' of ``kernel`` over (input, target) block by block (see
    _safe.blockwise_reduce); None for 'none' or inputs that are not tame."""
    if reduction == "none":
        return None
    limit = _limit(degree, input, scale)
    return _safe.blockwise_reduce(kernel, limit, reduction, input, target, scratch=scratch)


def _squared_diff(out, x, y):
    np.subtract(x, y, out=out)
    return np.multiply(out, out, out=out)


def _abs_diff(out, x, y):
    np.subtract(x, y, out=out)
    return np.abs(out, out=out)


def _seeded(grad: np.ndarray, g, reduction: str, op) -> np.ndarray:
    """grad times the upstream gradient of each element (g, or g/numel for 'mean'),
    in place on the plain path."""
    seed = _safe.reduce_vjp(g, grad.shape, reduction)
    if op is PLAIN:
        grad *= seed
        return grad
    return op.mul(grad, seed)


# ---------------------------------------------------------------------------
# Shared checks
# ---------------------------------------------------------------------------


def _check_same_shape(spec):
    def check(params, inputs):
        _ops.same_shape(spec, *inputs[:2])

    return check


def _check_weight(name: str, weight, input: np.ndarray) -> None:
    if weight is None:
        return
    try:
        ok = np.broadcast_shapes(weight.shape, input.shape) == input.shape
    except ValueError:
        ok = False
    if not ok:
        raise InvalidArgumentError(
            f"parameters.{name}: expected a shape that broadcasts to the input's "
            f"{list(input.shape)}, got {list(weight.shape)}",
            field=f"parameters.{name}",
        )


def _weighted(loss: np.ndarray, weight, op) -> np.ndarray:
    return loss if weight is None else op.mul(loss, weight)


WEIGHT = Param(
    "weight",
    "tensor",
    None,
    "Per-element rescaling weights, broadcast to the input's shape (None: all ones).",
    nullable=True,
)


# ---------------------------------------------------------------------------
# Fused kernels (_kernels): what every loss's kernels share
# ---------------------------------------------------------------------------
# The registry's elementwise path is for activations: a loss calls its kernels itself,
# from its forward and VJP, when _fast says so (one dtype, one shape, C-contiguous,
# from _ops.KERNEL_MIN_SIZE elements). Per element a kernel makes the NumPy formula's
# operations in the same order: the same bits, or within a few ulp where expf, logf,
# log1pf or sigmoidf stand in for NumPy's (those kernels are float32 only).
#
# A forward kernel works through chunks of _CHUNK elements: it writes each chunk's
# losses to its part of ``out``, or, given out=None (a float32 'mean' or 'sum', fused
# into the same pass), to a scratch chunk that it sums in float64 (_sum64) and returns
# the total, rounded once by _reduced. A float64 'mean' or 'sum' is NumPy's sum of the
# kernel's losses (a float64 sum in float64 would lose its pairwise accuracy, and
# could overflow). A VJP kernel takes the seed (_seed: g, or g/n for 'mean') and
# applies it in the same pass.

#: The dtypes of the kernels without a transcendental (the same IEEE operations).
_EXACT = (np.float32, np.float64)
f32 = _kernels.f32
prange = _kernels.prange


def _fast(*arrays, exact: bool = True) -> bool:
    """Whether a call on ``arrays`` (None skipped) takes its kernels: all of one shape,
    not empty, and _kernels.eligible (float32, or float64 too when ``exact``)."""
    given = [a for a in arrays if a is not None]
    return (
        given[0].size > 0
        and all(a.shape == given[0].shape for a in given)
        and _kernels.eligible(*given, dtypes=_EXACT if exact else (np.float32,))
    )


def _flat(*arrays):
    return tuple(a.reshape(-1) for a in arrays)


def _reduced(
    total: float, n: int, reduction: str, dtype: np.dtype, divisor: int | None = None
) -> np.ndarray:
    """'sum' or 'mean' (÷ numel in the dtype, or ÷ ``divisor``, as _safe.reduce) of
    float32 losses from a kernel's float64 total (which cannot overflow), rounded once,
    quietly."""
    if reduction != "sum":
        total = _safe.quotient(total, float(dtype.type(n)) if divisor is None else divisor)
    return _safe.scalar(total, dtype)


def _fused(reduction: str, input: np.ndarray) -> bool:
    """Whether a kernel sums the losses in its pass (a float32 'mean' or 'sum')."""
    return reduction != "none" and input.dtype == np.float32


def _forward(kernel, reduction, arrays, *scalars) -> np.ndarray:
    """A loss by its ``kernel(*arrays, *scalars, out)`` (see above)."""
    input = arrays[0]
    if _fused(reduction, input):
        total = _kernels.launch(kernel, *_flat(*arrays), *scalars, None)
        return _reduced(total, input.size, reduction, input.dtype)
    out = np.empty(input.shape, input.dtype)
    _kernels.launch(kernel, *_flat(*arrays), *scalars, out.reshape(-1))
    return _safe.reduce(out, reduction)


def _seed(g, input: np.ndarray, reduction: str, shape=None, divisor=None):
    """The upstream gradient of each element as a VJP kernel takes it: g flattened
    ('none'), or the one scalar _safe.reduce_vjp spreads (g, or g/n for 'mean'), for
    an unreduced loss of ``shape`` (the input's by default)."""
    if reduction == "none":
        return g.reshape(-1)
    shape = input.shape if shape is None else shape
    seed = _safe.reduce_vjp(g, shape, reduction, divisor=divisor)
    return input.dtype.type(seed.flat[0])


def _in_form(kernel, args, out, plain: bool) -> float:
    """The total from ``kernel(plain)(*args, out)``, which returns (total, the count of
    elements beyond the plain form's limit): the plain form's when ``plain`` and it
    counts none, else the quiet form's (made again); ``out`` holds the losses of the
    form taken."""
    if plain:
        total, bad = _kernels.launch(kernel(True), *args, out)
        if not bad:
            return total
    return _kernels.launch(kernel(False), *args, out)[0]


def _gradient(kernel, g, reduction, arrays, *scalars) -> np.ndarray:
    """A VJP by its kernel: ``kernel(seed, *arrays, *scalars, dx)`` (see _seed)."""
    input = arrays[0]
    dx = np.empty(input.shape, input.dtype)
    _kernels.launch(kernel, _seed(g, input, reduction), *_flat(*arrays), *scalars, dx.reshape(-1))
    return dx


def _vjp_fast(g, reduction: str, *arrays, exact: bool = True) -> bool:
    """_fast for a VJP: g counts when it is one per element ('none')."""
    return _fast(*arrays, g if reduction == "none" else None, exact=exact)


def _at(s, i):
    """s[i] for an array, s itself for a scalar: a VJP kernel's seed (_seed)."""
    return s[i] if isinstance(s, np.ndarray) else s


@overload(_at, inline="always")
def _(s, i):  # pragma: no cover - compiled
    if isinstance(s, numba.types.Array):
        return lambda s, i: s[i]
    return lambda s, i: s


#: Elements per chunk of a forward kernel (a scratch chunk stays in L1). Its loops
#: index the chunk's slices from 0: numba then knows the index is not negative and
#: LLVM vectorizes the loop (with x[lo + i] it does not).
_CHUNK = 4096


@_kernels.inline
def _chunks(n):  # pragma: no cover - compiled
    return -(-n // _CHUNK)


@_kernels.inline
def _span(c, n):  # pragma: no cover - compiled
    """The bounds [lo, hi) of chunk c of n elements."""
    return c * _CHUNK, min((c + 1) * _CHUNK, n)


def _part(out, x, lo, hi):
    """out[lo:hi], or a scratch chunk of x's dtype where out is None."""
    return np.empty(hi - lo, x.dtype) if out is None else out[lo:hi]


@overload(_part, inline="always")
def _(out, x, lo, hi):  # pragma: no cover - compiled
    if isinstance(out, numba.types.NoneType):
        return lambda out, x, lo, hi: np.empty(hi - lo, x.dtype)
    return lambda out, x, lo, hi: out[lo:hi]


@_kernels.jit(fastmath={"reassoc"})
def _sum64(part):  # pragma: no cover - compiled
    """The float64 sum of a chunk of losses. The one function allowed to reassociate
    (the order of a float64 sum of float32 terms does not show once it is rounded):
    LLVM then vectorizes it, where a running sum in order takes a cycle or more per
    element, and keeps the loop that computes the losses scalar if it is fused in."""
    s = 0.0
    for i in range(part.size):
        s += part[i]
    return s


def _floor(limit: float, dtype: np.dtype):
    """The largest ``dtype`` value not above ``limit``: |v| <= it exactly where
    _safe.is_tame(limit, v) holds, for a kernel to test each element."""
    b = dtype.type(limit)
    return np.nextafter(b, dtype.type(0)) if float(b) > limit else b


@_kernels.inline
def _beyond(x, y, limit):  # pragma: no cover - compiled
    """1 where x or y is not tame (beyond ±limit, or NaN), else 0."""
    return 0 if (abs(x) <= limit and abs(y) <= limit) else 1


@_kernels.inline
def _untame(xs, ys, limit):  # pragma: no cover - compiled
    """How many elements of a chunk (xs, ys) are beyond ±limit or NaN: counted in a
    loop of its own (counted in the loop of the losses, it halves that loop's speed)."""
    n = 0
    for i in range(xs.size):
        n += _beyond(xs[i], ys[i], limit)
    return n


@_kernels.inline
def _clamp(v, lo, hi):  # pragma: no cover - compiled
    """np.clip(v, lo, hi) on one element (its signed zero kept, NaN kept)."""
    t = lo if v < lo else v
    return hi if t > hi else t


@_kernels.inline
def _product(a, b):  # pragma: no cover - compiled
    """a·b rounded on its own, as NumPy's, when a sum takes it: + 0 keeps LLVM from
    contracting the two into one FMA (rounded once, and never overflowing in between).
    It turns a −0 product into +0, which shows only in a sum with another −0."""
    return a * b + type(a)(0.0)


# ---------------------------------------------------------------------------
# Regression losses
# ---------------------------------------------------------------------------


@loss(
    summary="Mean squared error between prediction and target; the default regression loss, "
    "sensitive to outliers.",
    formula="ℓ = (x − y)²",
    output_range="[0, inf)",
    params=(REDUCTION,),
    aliases=("mse",),
    notes=("MSE(inf, inf) is NaN (inf − inf), as in torch.",),
)
def mse_loss(input, target, reduction):
    if _fast(input, target):
        return _forward(_mse, reduction, (input, target))
    total = _blockwise(_squared_diff, 2, reduction, input, target)
    if total is not None:
        return total
    op = _arith(2, input, input, target)
    d = np.asarray(op.sub(input, target))  # 0-d arithmetic gives scalars; out= needs arrays
    loss = np.multiply(d, d, out=d) if op is PLAIN else op.mul(d, d)
    return _safe.reduce(loss, reduction, tame=op is PLAIN)


@mse_loss.defvjp
def _(g, y, input, target, reduction):
    if _vjp_fast(g, reduction, input, target):
        return _gradient(_mse_vjp, g, reduction, (input, target))
    op = _arith(2, input, input, target, g, scale=2.0)
    d = np.asarray(op.sub(input, target))
    d = np.add(d, d, out=d) if op is PLAIN else op.mul(d, 2.0)  # 2(x − y)
    return _seeded(d, g, reduction, op)


@_kernels.kernel
def _mse(x, y, out):  # pragma: no cover - compiled
    """(x − y)²."""
    total = 0.0
    for c in prange(_chunks(x.size)):
        lo, hi = _span(c, x.size)
        xs, ys, part = x[lo:hi], y[lo:hi], _part(out, x, lo, hi)
        for i in range(part.size):
            d = xs[i] - ys[i]
            part[i] = d * d
        if out is None:
            total += _sum64(part)
    return total


@_kernels.kernel
def _mse_vjp(s, x, y, dx):  # pragma: no cover - compiled
    """2(x − y)·s."""
    for i in prange(x.size):
        d = x[i] - y[i]
        dx[i] = (d + d) * _at(s, i)


mse_loss.defcheck(_check_same_shape(mse_loss))


@loss(
    summary="Mean absolute error between prediction and target; robust to outliers, "
    "its gradient has constant magnitude.",
    formula="ℓ = |x − y|",
    output_range="[0, inf)",
    params=(REDUCTION,),
    aliases=("mae",),
    kinks=("x = y: gradient 0 (torch's sgn)",),
)
def l1_loss(input, target, reduction):
    if _fast(input, target):
        return _forward(_l1, reduction, (input, target))
    total = _blockwise(_abs_diff, 1, reduction, input, target)
    if total is not None:
        return total
    op = _arith(1, input, input, target)
    d = np.asarray(op.sub(input, target))
    return _safe.reduce(np.abs(d, out=d), reduction, tame=op is PLAIN)


@l1_loss.defvjp
def _(g, y, input, target, reduction):
    if _vjp_fast(g, reduction, input, target):
        return _gradient(_l1_vjp, g, reduction, (input, target))
    op = _arith(1, input, input, target, g)
    d = np.asarray(op.sub(input, target))
    # sign(0) = 0, as torch's sgn; a fresh output (np.sign in place is 10x slower)
    return _seeded(np.sign(d), g, reduction, op)


@_kernels.kernel
def _l1(x, y, out):  # pragma: no cover - compiled
    """|x − y|."""
    total = 0.0
    for c in prange(_chunks(x.size)):
        lo, hi = _span(c, x.size)
        xs, ys, part = x[lo:hi], y[lo:hi], _part(out, x, lo, hi)
        for i in range(part.size):
            part[i] = abs(xs[i] - ys[i])
        if out is None:
            total += _sum64(part)
    return total


@_kernels.inline
def _sign(d):  # pragma: no cover - compiled
    """np.sign: ±1, +0 at ±0 (torch's sgn), NaN at NaN."""
    one = type(d)(1.0)
    return one if d > 0 else (-one if d < 0 else (type(d)(0.0) if d == 0 else d))


@_kernels.kernel
def _l1_vjp(s, x, y, dx):  # pragma: no cover - compiled
    """sign(x − y)·s."""
    for i in prange(x.size):
        dx[i] = _sign(x[i] - y[i]) * _at(s, i)


l1_loss.defcheck(_check_same_shape(l1_loss))


@l1_loss.defkinks
def _(h, input, target, **params):
    return (np.abs(QUIET.sub(input, target)) <= h,)


def _is_zero(t: float, dtype: np.dtype) -> bool:
    """t rounds to 0 in ``dtype`` (β = 1e−300 in float32 is l1_loss, as β = 0)."""
    return np.asarray(t, dtype) == 0  # underflow is silent


def _huber_half(d: np.ndarray, t: float, h: np.ndarray | None = None) -> np.ndarray:
    """h·(|d| − h) with h = min(|d|, t)/2, in d's own buffer: ½·huber(d, δ = t), i.e.
    ¼d² inside |d| < t and ½t(|d| − ½t) outside. Plain arithmetic: for tame d only."""
    a = np.abs(d, out=d)
    h = np.minimum(a, t, out=h)
    h *= 0.5
    a -= h
    a *= h
    return a


def _huber_half_kernel(t: float):
    def kernel(out, h, x, y):
        return _huber_half(np.subtract(x, y, out=out), t, h)

    return kernel


def _smooth_kernel(t: float):
    """(c/t)(|d| − c/2), c = min(|d|, t), into the first buffer (plain, tame d)."""

    def kernel(out, c, half, x, y):
        a = np.abs(np.subtract(x, y, out=out), out=out)
        np.minimum(a, t, out=c)
        a -= np.multiply(c, 0.5, out=half)
        c /= c.dtype.type(t)
        a *= c
        return a

    return kernel


def _smooth(d: np.ndarray, t: float, op) -> np.ndarray:
    """(c/t)(|d| − c/2) with c = min(|d|, t): ½d²/t inside |d| < t, |d| − ½t outside.

    One expression for both branches, and c/t ≤ 1, so it cannot overflow for any t
    (QUIET: any d, and t = inf, where inf/inf is NaN)."""
    if op is PLAIN:
        a = np.abs(d, out=d)
        c = np.minimum(a, t)
        a -= np.multiply(c, 0.5)
        c /= c.dtype.type(t)
        a *= c
        return a
    a = np.abs(d)
    c = np.minimum(a, t)
    return QUIET.mul(QUIET.div(c, t), QUIET.sub(a, 0.5 * c))  # inf − inf at t = inf


def _clip_factor(g, d: np.ndarray, t: float, reduction: str, divide: bool):
    """The one factor (g/n)/t (÷ n for 'mean', ÷ t when ``divide``) by which the plain
    path multiplies clip(d, −t, t) in one pass; |clip(d)|·|g|/t ≤ |g| cannot overflow.
    None for 'none', and where the factor is not a normal number (or 0): then clip,
    divide, multiply."""
    if reduction == "none" or not d.size:
        return None
    factor = float(g)
    if reduction == "mean":
        factor = _safe.quotient(factor, float(d.dtype.type(d.size)))
    if divide:
        factor = _safe.quotient(factor, t)
    f = _safe.scalar(factor, d.dtype)
    return f if factor == 0 or np.finfo(d.dtype).tiny <= abs(f) < math.inf else None


def _clip_seeded(d: np.ndarray, t: float, g, reduction: str, op, divide: bool) -> np.ndarray:
    """clip(d, −t, t) (÷ t when ``divide``) times the upstream gradient; in place."""
    if op is not PLAIN:
        slope = np.clip(d, -t, t)
        return _seeded(QUIET.div(slope, t) if divide else slope, g, reduction, op)
    np.clip(d, -t, t, out=d)
    f = _clip_factor(g, d, t, reduction, divide)
    if f is not None:
        d *= f
        return d
    if divide:  # clip then divide (not d/t then clip): d/t would overflow for a tiny t
        d /= d.dtype.type(t)
    return _seeded(d, g, reduction, op)


# The kernels of smooth_l1_loss and huber_loss, which take the NumPy path's forms: for
# tame inputs (all within ±limit) the ½-huber form h(|d| − h) (_huber_half), else the
# smooth form (c/t)(|d| − c/2) (_smooth). A kernel also counts the elements beyond
# ±limit, and a call whose count is not 0 is made again with the other form.


@_kernels.inline
def _half_form(d, t):  # pragma: no cover - compiled
    """_huber_half on one element: h·(|d| − h), h = min(|d|, t)/2."""
    a = abs(d)
    h = _product(t if a >= t else a, type(d)(0.5))  # np.minimum: NaN stays; h ≥ 0
    return (a - h) * h


@_kernels.inline
def _smooth_form(d, t):  # pragma: no cover - compiled
    """_smooth on one element: (c/t)(|d| − c/2), c = min(|d|, t)."""
    a = abs(d)
    c = t if a >= t else a
    return (a - _product(c, type(d)(0.5))) * (c / t)  # c/2 is inexact for a subnormal c


@_kernels.kernel
def _huberish(x, y, t, w, half, limit, out):  # pragma: no cover - compiled
    """Losses w·(_half_form if half else _smooth_form); and the count beyond ±limit."""
    total = 0.0
    bad = 0
    for c in prange(_chunks(x.size)):
        lo, hi = _span(c, x.size)
        xs, ys, part = x[lo:hi], y[lo:hi], _part(out, x, lo, hi)
        for i in range(part.size):
            d = xs[i] - ys[i]
            part[i] = (_half_form(d, t) if half else _smooth_form(d, t)) * w
        bad += _untame(xs, ys, limit)
        if out is None:
            total += _sum64(part)
    return total, bad


def _huberish_loss(input, target, reduction, t, limit, half_weight, half_scale, smooth_weight):
    """smooth_l1_loss or huber_loss by the kernels: when the inputs are tame under
    ``limit`` (None: never taken), the ½-huber form times half_weight, or its 'mean' or
    'sum' times half_scale; else the smooth form times smooth_weight."""
    dtype, n = input.dtype, input.size
    x, y = _flat(input, target)
    t, lim = dtype.type(t), (dtype.type(0) if limit is None else _floor(limit, dtype))
    fused = _fused(reduction, input)
    out = None if fused else np.empty(input.shape, dtype)
    if limit is not None:
        w = dtype.type(half_weight if reduction == "none" else 1)
        if fused:
            total, bad = _kernels.launch(_huberish, x, y, t, w, True, lim, None)
            if not bad:
                return _reduced(half_scale * total, n, reduction, dtype)
        elif not _kernels.launch(_huberish, x, y, t, w, True, lim, out.reshape(-1))[1]:
            if reduction == "none":
                return out
            half = _safe.reduce(out, reduction, tame=True)
            return _safe.scalar(half_scale * float(half), dtype)
    smooth = (dtype.type(smooth_weight), False, lim)
    if fused:
        return _reduced(_kernels.launch(_huberish, x, y, t, *smooth, None)[0], n, reduction, dtype)
    _kernels.launch(_huberish, x, y, t, *smooth, out.reshape(-1))
    return _safe.reduce(out, reduction)


@_kernels.kernel
def _clipped(s, x, y, t, u, limit, dx):  # pragma: no cover - compiled
    """dx = clip(d, −t, t)/u·s (s: _seed); the count beyond ±limit."""
    bad = 0
    for i in prange(x.size):
        dx[i] = _clamp(x[i] - y[i], -t, t) / u * _at(s, i)
        bad += _beyond(x[i], y[i], limit)
    return bad


def _clipped_vjp(g, input, target, reduction, t: float, divide: bool) -> np.ndarray:
    """_clip_seeded by the kernel: clip(d)·f with the plain path's one factor
    (_clip_factor) when the inputs and g are tame, else clip(d) (÷ t) times the seed."""
    dtype = input.dtype
    dx = np.empty(input.shape, dtype)
    args = (*_flat(input, target), dtype.type(t))
    flat, one = dx.reshape(-1), dtype.type(1)
    limit = _limit(1, input)
    lim = _floor(limit, dtype)
    f = _clip_factor(g, input, t, reduction, divide) if divide else None
    if f is not None and _safe.is_tame(limit, g):
        bad = _kernels.launch(_clipped, f[()], *args, one, lim, flat)
        if not bad:  # else: made again below, in the other form
            return dx
    u = dtype.type(t) if divide else one
    _kernels.launch(_clipped, _seed(g, input, reduction), *args, u, lim, flat)
    return dx


@loss(
    summary="Quadratic for small errors and linear for large ones (Huber divided by beta); "
    "the Fast R-CNN box-regression loss.",
    formula="ℓ = ½(x − y)²/β if |x − y| < β, else |x − y| − ½β  (β = 0: |x − y|)",
    output_range="[0, inf)",
    params=(
        REDUCTION,
        Param(
            "beta",
            "float",
            1.0,
            "Where the loss turns quadratic to linear; 0 is l1_loss.",
            minimum=0.0,
        ),
    ),
    kinks=(
        "|x − y| = β: C¹ switch, gradient ±1 from both sides (torch)",
        "x = y when β = 0: gradient 0 (torch dispatches to l1_loss)",
    ),
    notes=("β < 0 is refused (torch raises).",),
)
def smooth_l1_loss(input, target, reduction, beta):
    if _is_zero(beta, input.dtype):
        return l1_loss.forward(input, target, reduction)
    if _fast(input, target):
        limit = _limit(1, input, beta) if beta >= 1 else None
        return _huberish_loss(input, target, reduction, beta, limit, 2.0 / beta, 2.0 / beta, 1.0)
    if beta >= 1:  # 2·h(|d| − h)/β, h = min(|d|, β)/2, scaled once after the sum
        half = _blockwise(_huber_half_kernel(beta), 1, reduction, input, target, beta, 2)
        if half is not None:
            return _safe.scalar(2.0 * float(half) / beta, input.dtype)
    else:
        total = _blockwise(_smooth_kernel(beta), 1, reduction, input, target, beta, 3)
        if total is not None:
            return total
    op = _arith(1, input, input, target, scale=beta)
    d = np.asarray(op.sub(input, target))
    if op is not PLAIN or beta < 1:
        # (c/β)(|d| − c/2): c/β ≤ 1, so nothing overflows or underflows early for any β
        return _safe.reduce(_smooth(d, beta, op), reduction, tame=op is PLAIN)
    # β ≥ 1: 2·h(|d| − h)/β, h = min(|d|, β)/2, scaled once after the sum
    half = _huber_half(d, beta)
    if reduction == "none":
        half *= 2.0 / beta
        return half
    return _safe.scalar(2.0 * float(_safe.reduce(half, reduction, tame=True)) / beta, d.dtype)


@smooth_l1_loss.defvjp
def _(g, y, input, target, reduction, beta):
    if _is_zero(beta, input.dtype):
        return l1_loss.vjp(g, y, input, target, reduction)
    if _vjp_fast(g, reduction, input, target):
        return _clipped_vjp(g, input, target, reduction, beta, divide=True)
    op = _arith(1, input, input, target, g)
    d = np.asarray(op.sub(input, target))
    return _clip_seeded(d, beta, g, reduction, op, divide=True)  # clip(d, −β, β)/β


smooth_l1_loss.defcheck(_check_same_shape(smooth_l1_loss))


@smooth_l1_loss.defkinks
def _(h, input, target, beta, **params):
    a = np.abs(QUIET.sub(input, target))
    near = np.abs(a - beta) <= h
    return (near | (a <= h) if beta == 0 else near,)


@loss(
    summary="Huber loss: quadratic for errors below delta and linear beyond; a robust "
    "regression loss whose gradient is capped at delta.",
    formula="ℓ = ½(x − y)² if |x − y| < δ, else δ(|x − y| − ½δ)",
    output_range="[0, inf)",
    params=(
        REDUCTION,
        Param(
            "delta",
            "float",
            1.0,
            "Where the loss turns from quadratic to linear (> 0).",
            minimum=0.0,
            exclusive_minimum=True,
        ),
    ),
    kinks=("|x − y| = δ: C¹ switch, gradient ±δ from both sides (torch)",),
    notes=("huber_loss = δ · smooth_l1_loss with β = δ (torch, RUN).",),
)
def huber_loss(input, target, reduction, delta):
    if _fast(input, target):
        limit = _limit(1, input, delta)
        return _huberish_loss(input, target, reduction, delta, limit, 2.0, 2.0, delta)
    half = _blockwise(_huber_half_kernel(delta), 1, reduction, input, target, delta, 2)
    if half is not None:  # ½d² inside, δ(|d| − ½δ) outside, halved
        return _safe.scalar(2.0 * float(half), input.dtype)
    op = _arith(1, input, input, target, scale=delta)
    d = np.asarray(op.sub(input, target))
    if op is not PLAIN:  # δ·smooth_l1(β=δ): the product may overflow for a huge |d|
        return _safe.reduce(QUIET.mul(_smooth(d, delta, op), delta), reduction)
    half = _huber_half(d, delta)  # ½d² inside, δ(|d| − ½δ) outside, halved
    if reduction == "none":
        half += half
        return half
    return _safe.scalar(2.0 * float(_safe.reduce(half, reduction, tame=True)), d.dtype)


@huber_loss.defvjp
def _(g, y, input, target, reduction, delta):
    if _vjp_fast(g, reduction, input, target):
        return _clipped_vjp(g, input, target, reduction, delta, divide=False)
    op = _arith(1, input, input, target, g, scale=delta)
    d = np.asarray(op.sub(input, target))
    return _clip_seeded(d, delta, g, reduction, op, divide=False)  # clip(d, −δ, δ)


huber_loss.defcheck(_check_same_shape(huber_loss))


@huber_loss.defkinks
def _(h, input, target, delta, **params):
    return (np.abs(np.abs(QUIET.sub(input, target)) - delta) <= h,)


# ---------------------------------------------------------------------------
# Binary classification losses
# ---------------------------------------------------------------------------

_LOG_CLAMP = -100.0  # torch clamps each log of BCE at −100, so the loss never is inf
# log(max(p, 1e−45)) never meets log(0); 1e−45 lies below e^−100 in float32 (where it
# rounds to the smallest subnormal) and in float64, so the clamp still decides
_LOG_FLOOR = 1e-45
_BCE_EPS = float(np.float32(1e-12))  # torch's denominator floor, a float32 constant


def _probabilities(spec):
    def check(params, inputs):
        _ops.same_shape(spec, *inputs)
        for k, a in enumerate(inputs):
            if a.size and not (a.min() >= 0 and a.max() <= 1):  # NaN fails both
                raise InvalidArgumentError(
                    f"inputs[{k}] ({spec.inputs[k].name}): expected every element in [0, 1] "
                    "(probabilities, no NaN)",
                    field=f"inputs[{k}]",
                )
        _check_weight("weight", params["weight"], inputs[0])

    return check


@loss(
    summary="Binary cross-entropy between predicted probabilities and targets in [0, 1]; "
    "prefer binary_cross_entropy_with_logits, which is exact where sigmoid saturates.",
    formula="ℓ = −w·[y·max(log x, −100) + (1 − y)·max(log(1 − x), −100)]",
    output_range="[0, 100·w]",
    params=(WEIGHT, REDUCTION),
    aliases=("bce",),
    notes=(
        "Each log is clamped at −100 (torch), so BCE(x=0, y=1) = 100, never inf.",
        "Gradient w(x − y)/max(x(1 − x), 1e−12): ±1.000000004e12 at x ∈ {0, 1} (torch).",
        "Input or target outside [0, 1] (or NaN) is refused, as torch raises.",
        "weight does not change the mean's divisor (numel).",
    ),
)
def binary_cross_entropy(input, target, weight, reduction):
    if _fast(input, target, weight, exact=False):
        return _forward(
            _bce_kernel(weight is not None), reduction, (input, target, _or(weight, input))
        )
    log_x = np.asarray(np.maximum(np.log(np.maximum(input, _LOG_FLOOR)), _LOG_CLAMP))
    log_1mx = np.maximum(np.log(np.maximum(1 - input, _LOG_FLOOR)), _LOG_CLAMP)
    # −[y·log x + (1 − y)·log(1 − x)]; not log(1−x) + y(log x − log(1−x)), which cancels
    log_x *= target
    log_x += (1 - target) * log_1mx
    loss = np.negative(log_x, out=log_x)  # in [0, 100]
    op = _arith(1, input, weight, scale=-_LOG_CLAMP)
    return _safe.reduce(_weighted(loss, weight, op), reduction, tame=op is PLAIN)


@binary_cross_entropy.defvjp
def _(g, y, input, target, weight, reduction):
    if _vjp_fast(g, reduction, input, target, weight):
        kernel = _bce_vjp_kernel(weight is not None)
        return _gradient(kernel, g, reduction, (input, target, _or(weight, input)))
    grad = (input - target) / np.maximum(input * (1 - input), _BCE_EPS)  # |·| ≤ 1/_BCE_EPS
    op = _arith(2, input, weight, g, scale=1 / _BCE_EPS)
    return _weighted(_seeded(grad, g, reduction, op), weight, op)


@_kernels.inline
def _clamped_log(v):  # pragma: no cover - compiled
    """max(log(max(v, _LOG_FLOOR)), −100) on one float32 element of [0, 1]."""
    lg = _kernels.logf(f32(_LOG_FLOOR) if v <= f32(_LOG_FLOOR) else v)
    return f32(_LOG_CLAMP) if lg <= f32(_LOG_CLAMP) else lg


@functools.cache
def _bce_kernel(weighted: bool):
    """The forward kernel of binary_cross_entropy (float32; w: the weight, read when
    ``weighted``): −(y·log x + (1 − y)·log(1 − x)) with each log clamped, times w."""

    @_kernels.kernel
    def bce(x, y, w, out):  # pragma: no cover - compiled
        total = 0.0
        for c in prange(_chunks(x.size)):
            lo, hi = _span(c, x.size)
            xs, ys, ws, part = x[lo:hi], y[lo:hi], w[lo:hi], _part(out, x, lo, hi)
            for i in range(part.size):
                u, v = xs[i], ys[i]
                one = f32(1.0)
                s = _product(_clamped_log(u), v) + _product(one - v, _clamped_log(one - u))
                part[i] = -s * ws[i] if weighted else -s
            if out is None:
                total += _sum64(part)
        return total

    return bce


@functools.cache
def _bce_vjp_kernel(weighted: bool):
    """((x − y)/max(x(1 − x), _BCE_EPS)·s)·w: float32 and float64."""

    @_kernels.kernel
    def bce_vjp(s, x, y, w, dx):  # pragma: no cover - compiled
        for i in prange(x.size):
            u = x[i]
            floor = type(u)(_BCE_EPS)
            d = u * (type(u)(1.0) - u)
            grad = (u - y[i]) / (floor if d <= floor else d) * _at(s, i)
            dx[i] = grad * w[i] if weighted else grad

    return bce_vjp


binary_cross_entropy.defcheck(_probabilities(binary_cross_entropy))


def _mul0(a, b):
    """a·b with 0·anything = 0 (the limit of y·log σ as the coefficient y → 0)."""
    out = QUIET.mul(a, b)
    np.copyto(out, 0, where=(a == 0))
    return out


def _logit_terms(x, y, pos_weight, weight):
    """Unweighted (1 − y)·softplus(x) + p·y·softplus(−x), and the arithmetic used
    (PLAIN also promises that weighting and summing the terms cannot overflow)."""
    op = _arith(4, x, x, y, pos_weight, weight)  # p·y·softplus(±x)·w
    if op is PLAIN:
        # softplus(−x) = max(−x, 0) + log1p(e^−|x|): the exponent is never positive
        sp = np.asarray(np.abs(x))
        np.negative(sp, out=sp)
        np.exp(sp, out=sp)
        np.log1p(sp, out=sp)
        if pos_weight is None:  # (1 − y)x + softplus(−x) = max(x, 0) − y·x + log1p(e^−|x|)
            sp += np.maximum(x, 0)
            sp -= y * x
            return sp, op
        sp += np.maximum(-x, 0)
        return (1 - y) * x + (1 + (pos_weight - 1) * y) * sp, op
    # extreme logits: the two-softplus form has only ≥ 0 terms, so no inf − inf
    py = y if pos_weight is None else QUIET.mul(pos_weight, y)
    return QUIET.add(_mul0(QUIET.sub(1, y), _ops.softplus(x)), _mul0(py, _ops.softplus(-x))), op


def _logit_kernel(out, tmp, x, y):
    """(1 − y)x + softplus(−x) = max(x, 0) − y·x + log1p(e^−|x|) of one block (plain)."""
    sp = np.abs(x, out=out)
    np.negative(sp, out=sp)
    np.exp(sp, out=sp)
    np.log1p(sp, out=sp)
    sp += np.maximum(x, 0, out=tmp)
    sp -= np.multiply(y, x, out=tmp)
    return sp


def _logit_grad(x, y, pos_weight, op):
    """∂/∂x of the terms above: σ(x) − y, or (p·y + 1 − y)σ(x) − p·y."""
    s = np.asarray(_ops.sigmoid(x))
    if op is PLAIN and pos_weight is None:
        s -= y
        return s
    if pos_weight is None:
        return op.sub(s, y)
    py = op.mul(pos_weight, y)
    return op.sub(op.mul(op.sub(op.add(py, 1), y), s), py)


def _logit_vjp_op(x, y, pos_weight, weight, g):
    """The arithmetic of the logit VJPs: σ(x) ∈ [0, 1], so x need not be tame."""
    return _arith(4, x, y, pos_weight, weight, g)  # p·y·g·w


@loss(
    summary="Binary cross-entropy on logits (sigmoid folded in, computed stably); the loss for "
    "binary and multi-label classification.",
    formula="ℓ = −w·[p·y·log σ(x) + (1 − y)·log(1 − σ(x))] "
    "= w·[(1 − y)·x + (1 + (p − 1)·y)·softplus(−x)]",
    output_range="[0, inf)",
    params=(
        WEIGHT,
        REDUCTION,
        Param(
            "pos_weight",
            "tensor",
            None,
            "Weight of the positive term, broadcast along the last (class) dimension.",
            nullable=True,
        ),
    ),
    aliases=("bce_with_logits",),
    notes=(
        "x = −1000, y = 1 gives 1000 with gradient −1; no overflow (torch, RUN).",
        "Soft targets are allowed; the loss is minimal at x = logit(y).",
        "weight does not change the mean's divisor (numel).",
    ),
)
def binary_cross_entropy_with_logits(input, target, weight, reduction, pos_weight):
    if _fast(input, target, weight, pos_weight, exact=False):
        return _logits_loss(input, target, weight, reduction, pos_weight)
    if weight is None and pos_weight is None:
        total = _blockwise(_logit_kernel, 2, reduction, input, target, scratch=2)
        if total is not None:
            return total
    loss, op = _logit_terms(input, target, pos_weight, weight)
    return _safe.reduce(_weighted(loss, weight, op), reduction, tame=op is PLAIN)


@binary_cross_entropy_with_logits.defvjp
def _(g, y, input, target, weight, reduction, pos_weight):
    if _vjp_fast(g, reduction, input, target, weight, pos_weight, exact=False):
        kernel = _logits_vjp_kernel(pos_weight is not None, weight is not None)
        given = (input, target, _or(pos_weight, input), _or(weight, input))
        return _gradient(kernel, g, reduction, given)
    op = _logit_vjp_op(input, target, pos_weight, weight, g)
    grad = _seeded(_logit_grad(input, target, pos_weight, op), g, reduction, op)
    return _weighted(grad, weight, op)


@_kernels.inline
def _relu(v):  # pragma: no cover - compiled
    """np.maximum(v, 0) on one element: NaN stays, +0 at ±0."""
    return type(v)(0.0) if v <= type(v)(0.0) else v


@_kernels.inline
def _logit_term(x, y, p, plain, pos):  # pragma: no cover - compiled
    """_logit_terms on one float32 element (p: pos_weight, read when ``pos``): the
    plain forms for tame inputs, else the two-softplus form with 0·anything = 0."""
    e = _kernels.log1pf(_kernels.expf(-abs(x)))
    one = f32(1.0)
    if plain and pos:  # (1 − y)·x + (1 + (p − 1)·y)·softplus(−x)
        return _product(one - y, x) + _product(one + _product(p - one, y), e + _relu(-x))
    if plain:  # max(x, 0) − y·x + log1p(e^−|x|)
        return (e + _relu(x)) - _product(y, x)
    a = one - y
    py = _product(p, y) if pos else y
    left = f32(0.0) if a == f32(0.0) else _product(a, _relu(x) + e)
    right = f32(0.0) if py == f32(0.0) else _product(py, _relu(-x) + e)
    return left + right


@functools.cache
def _logits_kernel(plain: bool, pos: bool, weighted: bool):
    """The forward kernel of binary_cross_entropy_with_logits for one form and choice
    of weights, compiled in (see _poisson_kernel). It takes pos_weight p and weight w
    as arrays (any array when not given) and returns the total and the count of
    elements of x, y beyond ±limit."""

    @_kernels.kernel
    def logits(x, y, p, w, limit, out):  # pragma: no cover - compiled
        total = 0.0
        bad = 0
        for c in prange(_chunks(x.size)):
            lo, hi = _span(c, x.size)
            xs, ys, ps, ws = x[lo:hi], y[lo:hi], p[lo:hi], w[lo:hi]
            part = _part(out, x, lo, hi)
            for i in range(part.size):
                loss = _logit_term(xs[i], ys[i], ps[i], plain, pos)
                part[i] = loss * ws[i] if weighted else loss
            bad += _untame(xs, ys, limit)
            if out is None:
                total += _sum64(part)
        return total, bad

    return logits


def _or(a: np.ndarray | None, default: np.ndarray) -> np.ndarray:
    return default if a is None else a


def _flat_or_none(out: np.ndarray | None) -> np.ndarray | None:
    return None if out is None else out.reshape(-1)


def _logits_loss(input, target, weight, reduction, pos_weight):
    """binary_cross_entropy_with_logits by the kernels, in the NumPy path's form: plain
    when input, target and weights are tame (under the limit for degree 2 without
    weights when reduced, else 4), else the two-softplus form."""
    plain_degree = 2 if weight is None and pos_weight is None and reduction != "none" else 4
    limit = _limit(plain_degree, input)
    arrays = (input, target, _or(pos_weight, input), _or(weight, input))
    args = (*_flat(*arrays), _floor(limit, input.dtype))
    flags = (pos_weight is not None, weight is not None)
    out = None if _fused(reduction, input) else np.empty(input.shape, input.dtype)
    plain = _safe.is_tame(limit, pos_weight, weight)
    total = _in_form(lambda p: _logits_kernel(p, *flags), args, _flat_or_none(out), plain)
    if out is None:
        return _reduced(total, input.size, reduction, input.dtype)
    return _safe.reduce(out, reduction)


@functools.cache
def _logits_vjp_kernel(pos: bool, weighted: bool):
    """The VJP kernel of binary_cross_entropy_with_logits (see _logits_kernel):
    ((σ(x) − y)·s)·w, or (((p·y + 1) − y)·σ(x) − p·y)·s·w with pos_weight p."""

    @_kernels.kernel
    def logits_vjp(s, x, y, p, w, dx):  # pragma: no cover - compiled
        for i in prange(x.size):
            v = y[i]
            sig = _kernels.sigmoidf(x[i])
            if pos:
                py = _product(p[i], v)
                grad = _product((py + f32(1.0)) - v, sig) - py
            else:
                grad = sig - v
            grad = grad * _at(s, i)
            dx[i] = grad * w[i] if weighted else grad

    return logits_vjp


@binary_cross_entropy_with_logits.defcheck
def _(params, inputs):
    _ops.same_shape(binary_cross_entropy_with_logits, *inputs)
    _check_weight("weight", params["weight"], inputs[0])
    _check_weight("pos_weight", params["pos_weight"], inputs[0])


def _soft_margin_kernel(out, tmp, x, y):
    """softplus(−y·x) = max(z, 0) + log1p(e^−|z|), z = −y·x, of one block (plain)."""
    z = np.multiply(x, y, out=out)
    np.negative(z, out=z)
    e = np.abs(z, out=tmp)
    np.negative(e, out=e)
    np.exp(e, out=e)
    np.log1p(e, out=e)
    np.maximum(z, 0, out=z)
    z += e
    return z


@loss(
    summary="Logistic loss for targets ±1 (two-class classification with labels ±1), "
    "computed stably.",
    formula="ℓ = log(1 + e^(−y·x)) = softplus(−y·x)",
    output_range="[0, inf)",
    params=(REDUCTION,),
    notes=(
        "Computed as softplus(−y·x): finite for any finite input, where torch's literal "
        "log(1 + exp(−y·x)) overflows to inf (gradient NaN) at −y·x ≳ 89 (float32) or 710 "
        "(float64).",
    ),
)
def soft_margin_loss(input, target, reduction):
    if _fast(input, target, exact=False):
        return _forward(_soft_margin, reduction, (input, target))
    total = _blockwise(_soft_margin_kernel, 2, reduction, input, target, scratch=2)
    if total is not None:
        return total
    op = _arith(2, input, input, target)
    z = op.mul(np.negative(target), input)
    return _safe.reduce(_ops.softplus(z), reduction, tame=op is PLAIN)


@soft_margin_loss.defvjp
def _(g, y, input, target, reduction):
    if _vjp_fast(g, reduction, input, target, exact=False):
        return _gradient(_soft_margin_vjp, g, reduction, (input, target))
    op = _arith(2, input, input, target, g)
    s = np.asarray(_ops.sigmoid(op.mul(np.negative(target), input)))  # σ(−y·x)
    s = np.multiply(s, target, out=s) if op is PLAIN else op.mul(s, target)
    return _seeded(np.negative(s, out=s), g, reduction, op)


@_kernels.inline
def _softplus(z):  # pragma: no cover - compiled
    """_ops.softplus on one float32 element: max(z, 0) + log1p(e^−|z|)."""
    return (f32(0.0) if z <= f32(0.0) else z) + _kernels.log1pf(_kernels.expf(-abs(z)))


@_kernels.kernel
def _soft_margin(x, y, out):  # pragma: no cover - compiled
    total = 0.0
    for c in prange(_chunks(x.size)):
        lo, hi = _span(c, x.size)
        xs, ys, part = x[lo:hi], y[lo:hi], _part(out, x, lo, hi)
        for i in range(part.size):
            part[i] = _softplus(-(xs[i] * ys[i]))
        if out is None:
            total += _sum64(part)
    return total


@_kernels.kernel
def _soft_margin_vjp(s, x, y, dx):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = y[i]
        dx[i] = -(_kernels.sigmoidf(-(x[i] * v)) * v) * _at(s, i)  # −y·σ(−y·x)


soft_margin_loss.defcheck(_check_same_shape(soft_margin_loss))


@loss(
    summary="Multi-label one-versus-all logistic loss: per sample the mean over the C classes of "
    "binary cross-entropy on logits, then reduced over samples.",
    formula="ℓₙ = −(1/C)·Σ_c w_c·[y_c·log σ(x_c) + (1 − y_c)·log σ(−x_c)]",
    output_range="[0, inf)",
    params=(WEIGHT, REDUCTION),
    notes=(
        "Input (N, C) or (C) (any ≥ 1-d shape, classes last); 'none' gives one loss per sample "
        "and 'mean' divides by the number of samples.",
        "Stable at ±800 (torch too).",
    ),
)
def multilabel_soft_margin_loss(input, target, weight, reduction):
    if _rows_fast(input, target, weight):
        return _multilabel_loss(input, target, weight, reduction)
    terms, op = _logit_terms(input, target, None, weight)
    terms = _weighted(terms, weight, op)
    c = input.shape[-1]
    if c == 0:  # 0/0: torch's per-sample mean over no classes is NaN
        per_sample = np.full(input.shape[:-1], np.nan, dtype=input.dtype)
    elif op is PLAIN:
        per_sample = terms.sum(axis=-1, dtype=input.dtype) / input.dtype.type(c)
    else:  # the quiet sum over classes, then ÷ C (≥ 1: cannot overflow)
        per_sample = QUIET.sum(terms, axis=-1) / input.dtype.type(c)
    return _safe.reduce(per_sample, reduction, tame=op is PLAIN)


@multilabel_soft_margin_loss.defvjp
def _(g, y, input, target, weight, reduction):
    if _rows_fast(input, target, weight, g if reduction == "none" else None):
        c = input.shape[-1]
        seed = _seed(g, input, reduction, input.shape[:-1])
        dx = np.empty(input.shape, input.dtype)
        args = (*_flat(input, target, _or(weight, input)), c, input.dtype.type(c))
        _kernels.launch(_multilabel_vjp_kernel(weight is not None), seed, *args, dx.reshape(-1))
        return dx
    op = _logit_vjp_op(input, target, None, weight, g)
    grad = _logit_grad(input, target, None, op)
    seed = _safe.reduce_vjp(g, input.shape[:-1], reduction)
    seed = seed[..., None] / input.dtype.type(max(input.shape[-1], 1))  # ÷ C ≥ 1: no overflow
    grad = np.multiply(grad, seed, out=grad) if op is PLAIN else op.mul(grad, seed)
    return _weighted(grad, weight, op)


def _rows_fast(input, target, weight, g=None) -> bool:
    """Whether multilabel_soft_margin_loss takes its kernels: _fast for input and
    target, a weight (if any) of the input's shape or one per class, and g (if given:
    'none') one per sample, all of one dtype and C-contiguous."""
    if input.ndim == 0 or input.shape[-1] == 0 or not _fast(input, target, exact=False):
        return False
    ok = weight is None or weight.shape in (input.shape, input.shape[-1:])
    ok = ok and (g is None or g.shape == input.shape[:-1])
    rest = [a for a in (weight, g) if a is not None]
    return ok and all(a.dtype == input.dtype and a.flags.c_contiguous for a in rest)


@functools.cache
def _multilabel_kernel(plain: bool, *, weighted: bool):
    """The forward kernel of multilabel_soft_margin_loss (see _logits_kernel): rows of
    c classes, w one weight per class or per element; each row's terms summed in
    float64, rounded, ÷ c (cf: c in the dtype), into out (one per row) or the total."""

    @_kernels.kernel
    def multilabel(x, y, w, c, cf, limit, out):  # pragma: no cover - compiled
        rows = x.size // c
        per = max(1, _CHUNK // c)  # rows per task
        total = 0.0
        bad = 0
        for b in prange(-(-rows // per)):
            part = np.empty(c, x.dtype)
            for r in range(b * per, min((b + 1) * per, rows)):
                xs, ys = x[r * c : (r + 1) * c], y[r * c : (r + 1) * c]
                ws = w if w.size == c else w[r * c : (r + 1) * c]
                for j in range(c):
                    loss = _logit_term(xs[j], ys[j], xs[j], plain, False)
                    part[j] = loss * ws[j] if weighted else loss
                bad += _untame(xs, ys, limit)
                mean = type(cf)(_sum64(part)) / cf
                if out is not None:
                    out[r] = mean
                total += mean
        return total, bad

    return multilabel


def _multilabel_loss(input, target, weight, reduction):
    """multilabel_soft_margin_loss by the kernels, in the NumPy path's form (plain for
    tame input, target and weight under the limit for degree 4, else quiet)."""
    dtype, c = input.dtype, input.shape[-1]
    limit = _limit(4, input)
    out = None if _fused(reduction, input) else np.empty(input.shape[:-1], dtype)
    args = (*_flat(input, target, _or(weight, input)), c, dtype.type(c), _floor(limit, dtype))
    kernel = functools.partial(_multilabel_kernel, weighted=weight is not None)
    total = _in_form(kernel, args, _flat_or_none(out), _safe.is_tame(limit, weight))
    if out is None:
        return _reduced(total, input.size // c, reduction, dtype)
    return _safe.reduce(out, reduction)


@functools.cache
def _multilabel_vjp_kernel(weighted: bool):
    """((σ(x) − y)·(s/c))·w, by rows (s: one seed per row or a scalar)."""

    @_kernels.kernel
    def multilabel_vjp(s, x, y, w, c, cf, dx):  # pragma: no cover - compiled
        for r in prange(x.size // c):
            seed = _at(s, r) / cf
            xs, ys, ds = x[r * c : (r + 1) * c], y[r * c : (r + 1) * c], dx[r * c : (r + 1) * c]
            ws = w if w.size == c else w[r * c : (r + 1) * c]
            for j in range(c):
                grad = (_kernels.sigmoidf(xs[j]) - ys[j]) * seed
                ds[j] = grad * ws[j] if weighted else grad

    return multilabel_vjp


@multilabel_soft_margin_loss.defcheck
def _(params, inputs):
    if inputs[0].ndim == 0:
        raise InvalidArgumentError(
            "inputs[0] (input): expected at least 1 dimension (classes last), got a 0-d tensor",
            field="inputs[0]",
        )
    _ops.same_shape(multilabel_soft_margin_loss, *inputs)
    _check_weight("weight", params["weight"], inputs[0])


@loss(
    summary="Hinge loss for learning embeddings from pairwise distances x with labels ±1: "
    "similar pairs (y = 1) pay x, dissimilar ones pay max(0, margin − x).",
    formula="ℓ = [y ≠ 1]·max(0, margin − x) + [y ≠ −1]·x",
    output_range="(−inf, inf)",
    params=(
        Param("margin", "float", 1.0, "Distance below which a dissimilar pair (y = −1) pays."),
        REDUCTION,
    ),
    kinks=("x = margin (y ≠ 1): gradient −1 passes (torch's clamp_min), not 0",),
    notes=("As torch, a target outside {1, −1} gets both terms (y = 0, x = 0.3 gives 1.0).",),
)
def hinge_embedding_loss(input, target, margin, reduction):
    if _fast(input, target):
        return _forward(_hinge, reduction, (input, target), input.dtype.type(margin))
    op = _arith(1, input, input, margin)
    hinge = np.maximum(op.sub(margin, input), 0)  # NaN propagates, as clamp_min
    loss = op.add(np.where(target != 1, hinge, 0), np.where(target != -1, input, 0))
    return _safe.reduce(loss, reduction, tame=op is PLAIN)


@hinge_embedding_loss.defvjp
def _(g, y, input, target, margin, reduction):
    if _vjp_fast(g, reduction, input, target):
        return _gradient(_hinge_vjp, g, reduction, (input, target), input.dtype.type(margin))
    grad = (target != -1).astype(input.dtype)
    grad -= (target != 1) & (input <= margin)  # ≤: the gradient passes at x = margin
    return _seeded(grad, g, reduction, _arith(1, input, g))  # |grad| ≤ 1


@_kernels.kernel
def _hinge(x, y, m, out):  # pragma: no cover - compiled
    total = 0.0
    for c in prange(_chunks(x.size)):
        lo, hi = _span(c, x.size)
        xs, ys, part = x[lo:hi], y[lo:hi], _part(out, x, lo, hi)
        zero = type(m)(0.0)
        for i in range(part.size):
            u, v = xs[i], ys[i]
            h = m - u
            h = zero if h <= zero else h  # np.maximum(h, 0): NaN stays, 0 at ±0
            part[i] = (h if v != 1 else zero) + (u if v != -1 else zero)
        if out is None:
            total += _sum64(part)
    return total


@_kernels.kernel
def _hinge_vjp(s, x, y, m, dx):  # pragma: no cover - compiled
    one, zero = type(m)(1.0), type(m)(0.0)
    for i in prange(x.size):
        v = y[i]
        grad = (one if v != -1 else zero) - (one if (v != 1 and x[i] <= m) else zero)
        dx[i] = grad * _at(s, i)


hinge_embedding_loss.defcheck(_check_same_shape(hinge_embedding_loss))


@hinge_embedding_loss.defkinks
def _(h, input, target, margin, **params):
    return ((np.abs(input - margin) <= h) & (target != 1),)


# ---------------------------------------------------------------------------
# Likelihood and divergence losses
# ---------------------------------------------------------------------------


def _poisson_op(input, target, log_input, g=None):
    op = _arith(2, input, input, target, g)
    # e^x must stay within the sum's share of the float range (its root: times g)
    cap = _safe.bound(input.dtype, input.size, 1 if g is None else 2)
    if op is PLAIN and log_input and input.size and not float(input.max()) <= math.log(cap):
        op = QUIET
    return op


def _stirling(y, op):
    """y·log y − y + ½·log(2πy) where y > 1, else 0 (torch's `full` term)."""
    ys = np.maximum(y, 1)  # log never sees y ≤ 0; those elements are zeroed below
    log_ys = np.log(ys)
    term = op.add(op.sub(op.mul(ys, log_ys), ys), 0.5 * np.log(op.mul(2 * math.pi, ys)))
    return np.where(y > 1, term, 0)


@loss(
    summary="Negative log-likelihood of a Poisson target given its predicted rate (or log-rate); "
    "the loss for count data.",
    formula="ℓ = e^x − y·x (log_input) or x − y·log(x + eps), "
    "+ [y > 1]·(y·log y − y + ½·log(2πy)) if full",
    output_range="(−inf, inf)",
    params=(
        Param("log_input", "bool", True, "The input is the log of the rate (else the rate)."),
        Param("full", "bool", False, "Add Stirling's approximation of log(y!) where y > 1."),
        Param(
            "eps",
            "float",
            1e-8,
            "Added to the rate inside the log when log_input is false.",
            minimum=0.0,
        ),
        REDUCTION,
    ),
    notes=(
        "The Stirling term has no gradient with respect to the input.",
        "log_input=false with x = 0, y = 2: loss 36.84, gradient −2e8 (torch, RUN).",
        "log_input=false computes y·log(x + eps) as xlogy: y = 0 adds 0 even at x + eps = 0.",
    ),
)
def poisson_nll_loss(input, target, log_input, full, eps, reduction):
    if _fast(input, target, exact=False):
        kernel = _poisson_kernel(log_input, full)
        return _forward(kernel, reduction, (input, target), input.dtype.type(eps))
    op = _poisson_op(input, target, log_input)
    if log_input and op is PLAIN:
        loss = np.asarray(np.exp(input))
        loss -= target * input
    elif log_input:
        loss = op.sub(op.exp(input), op.mul(target, input))
    else:
        loss = op.sub(input, special.xlogy(target, op.add(input, eps)))
    if full:
        loss = op.add(loss, _stirling(target, op))
    return _safe.reduce(loss, reduction, tame=op is PLAIN)


@poisson_nll_loss.defvjp
def _(g, y, input, target, log_input, full, eps, reduction):
    if _vjp_fast(g, reduction, input, target, exact=False):
        scalars = (log_input, input.dtype.type(eps))
        return _gradient(_poisson_vjp, g, reduction, (input, target), *scalars)
    op = _poisson_op(input, target, log_input, g)
    if log_input and op is PLAIN:
        grad = np.asarray(np.exp(input))
        grad -= target
    elif log_input:
        grad = op.sub(op.exp(input), target)
    else:  # y/(x + eps) may divide by (nearly) 0 for any x: always quiet
        grad = QUIET.sub(1, QUIET.div(target, QUIET.add(input, eps)))
        op = QUIET
    return _seeded(grad, g, reduction, op)


_TWO_PI = f32(2 * math.pi)


@_kernels.inline
def _poisson_term(x, y, log_input, full, eps):  # pragma: no cover - compiled
    """The loss of one float32 element: e^x − y·x, or x − xlogy(y, x + eps); plus
    _stirling's term where y > 1 if full."""
    if log_input:
        v = _kernels.expf(x) - _product(y, x)  # e^x ≥ +0
    else:
        z = x + eps
        v = x - (f32(0.0) if (y == f32(0.0) and z == z) else _product(y, _kernels.logf(z)))
    if full:
        st = (_product(y, _kernels.logf(y)) - y) + f32(0.5) * _kernels.logf(_TWO_PI * y)
        v = v + (st if y > f32(1.0) else f32(0.0))
    return v


@functools.cache
def _poisson_kernel(log_input: bool, full: bool):
    """The forward kernel for one log_input and full, compiled in as the closure's
    constants: tested in the loop, they keep LLVM from vectorizing it (4x slower)."""

    @_kernels.kernel
    def poisson(x, y, eps, out):  # pragma: no cover - compiled
        total = 0.0
        for c in prange(_chunks(x.size)):
            lo, hi = _span(c, x.size)
            xs, ys, part = x[lo:hi], y[lo:hi], _part(out, x, lo, hi)
            for i in range(part.size):
                part[i] = _poisson_term(xs[i], ys[i], log_input, full, eps)
            if out is None:
                total += _sum64(part)
        return total

    return poisson


@_kernels.kernel
def _poisson_vjp(s, x, y, log_input, eps, dx):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = x[i]
        grad = _kernels.expf(v) - y[i] if log_input else f32(1.0) - y[i] / (v + eps)
        dx[i] = grad * _at(s, i)


poisson_nll_loss.defcheck(_check_same_shape(poisson_nll_loss))


def _var_view(var: np.ndarray, input: np.ndarray) -> np.ndarray:
    """var shaped to broadcast against input (one fewer dim gains a trailing 1)."""
    return var[..., None] if var.ndim == input.ndim - 1 else var


def _gaussian_parts(input, target, var, eps, g=None):
    v = np.maximum(_var_view(var, input), eps)  # torch clamps under no_grad; NaN stays
    # |d| ≤ 2L and v ≥ e = min(eps, 1): d²/v ≤ 4L²/e, and the VJP's g·d²/v² ≤ 4L³/e²
    # (|g| ≤ L), both kept within the sum's share of the float range; an eps that
    # rounds to 0 in the dtype (1e−50 in float32) leaves v = 0 possible: quiet
    share, e = _safe.bound(input.dtype, input.size), min(float(input.dtype.type(eps)), 1.0)
    limit = math.sqrt(share * e) if g is None else (share * e * e) ** (1 / 3) / 2
    tame = e > 0 and _safe.is_tame(limit, input, target, g) and _safe.is_tame(share, v)
    op = PLAIN if tame else QUIET
    d = op.sub(input, target)
    return d, v, op.div(op.mul(d, d), v), op  # d, clamped v, d²/v


@loss(
    summary="Negative log-likelihood of a Gaussian target with predicted mean and variance; "
    "for regression that also predicts its own uncertainty.",
    formula="ℓ = ½·(log v + (x − y)²/v) [+ ½·log 2π if full], v = max(var, eps)",
    output_range="(−inf, inf)",
    inputs=(
        Input("input", doc="Predicted mean."),
        Input("target", differentiable=False, doc="Observed value (the input's shape)."),
        Input(
            "var",
            doc="Predicted variance (≥ 0): the input's shape, a last dimension of 1, "
            "or one fewer dimension.",
        ),
    ),
    params=(
        Param("full", "bool", False, "Add the constant ½·log(2π)."),
        Param(
            "eps", "float", 1e-6, "Lower clamp of var (> 0).", minimum=0.0, exclusive_minimum=True
        ),
        REDUCTION,
    ),
    kinks=(
        "var ≤ eps: var is clamped straight-through, so torch's gradient is taken at v = eps "
        "(not the clamp's 0)",
    ),
    notes=(
        "The clamp is straight-through (torch clamps under no_grad): var = 0 gives loss ≈ 5e5 and "
        "∂var ≈ −5e11 with the default eps (torch, RUN).",
        "A negative var is refused, as torch raises.",
        "torch's docstring says eps is added to var; the code clamps, and so does nnfunc.",
    ),
)
def gaussian_nll_loss(input, target, var, full, eps, reduction):
    if _fast(input, target, var, exact=False):
        arrays = (input, target, var)
        return _forward(_gaussian, reduction, arrays, input.dtype.type(eps), full)
    _, v, q, op = _gaussian_parts(input, target, var, eps)
    log_v = np.full(v.shape, -np.inf, v.dtype)  # log 0 = −inf (v = 0: see above), quietly
    loss = op.add(np.log(v, out=log_v, where=v != 0), q)
    loss *= 0.5
    if full:
        loss += 0.5 * math.log(2 * math.pi)
    return _safe.reduce(loss, reduction, tame=op is PLAIN)


@gaussian_nll_loss.defvjp
def _(g, y, input, target, var, full, eps, reduction):
    if _vjp_fast(g, reduction, input, target, var):
        dx, dv = np.empty(input.shape, input.dtype), np.empty(var.shape, var.dtype)
        seed = _seed(g, input, reduction)
        arrays = _flat(input, target, var)
        _kernels.launch(_gaussian_vjp, seed, *arrays, input.dtype.type(eps), *_flat(dx, dv))
        return dx, dv
    d, v, q, op = _gaussian_parts(input, target, var, eps, g)
    seed = _safe.reduce_vjp(g, input.shape, reduction)
    dx = op.mul(op.div(d, v), seed)
    dv = op.mul(op.div(op.sub(1, q), v), op.mul(0.5, seed))  # ½(1/v − d²/v²)
    dv = _ops.unbroadcast(dv, _var_view(var, input).shape).reshape(var.shape)
    return dx, dv


_HALF_LOG_2PI = f32(0.5 * math.log(2 * math.pi))


@_kernels.kernel
def _gaussian(x, y, var, eps, full, out):  # pragma: no cover - compiled
    """½·(log v + (x − y)²/v) (+ ½·log 2π), v = max(var, eps): float32."""
    total = 0.0
    for c in prange(_chunks(x.size)):
        lo, hi = _span(c, x.size)
        xs, ys, ws, part = x[lo:hi], y[lo:hi], var[lo:hi], _part(out, x, lo, hi)
        for i in range(part.size):
            w = ws[i]
            v = eps if w <= eps else w  # np.maximum: NaN stays
            d = xs[i] - ys[i]
            loss = _product(_kernels.logf(v) + d * d / v, f32(0.5))
            part[i] = loss + _HALF_LOG_2PI if full else loss
        if out is None:
            total += _sum64(part)
    return total


@_kernels.kernel
def _gaussian_vjp(s, x, y, var, eps, dx, dv):  # pragma: no cover - compiled
    """dx = (d/v)·s, dv = ((1 − d²/v)/v)·(½·s): float32 and float64."""
    half = type(eps)(0.5)
    for i in prange(x.size):
        w = var[i]
        v = eps if w <= eps else w
        d = x[i] - y[i]
        seed = _at(s, i)
        dx[i] = d / v * seed
        dv[i] = (type(eps)(1.0) - d * d / v) / v * (half * seed)


@gaussian_nll_loss.defcheck
def _(params, inputs):
    input, target, var = inputs
    _ops.same_shape(gaussian_nll_loss, input, target)
    s, v = input.shape, var.shape
    if not (
        v == s
        or (v == s[:-1] and input.ndim > 0)
        or (v[:-1] == s[:-1] and v[-1:] == (1,) and var.ndim == input.ndim)
    ):
        raise InvalidArgumentError(
            f"inputs[2] (var): expected the input's shape {list(s)}, that shape with a last "
            f"dimension of 1, or one fewer dimension; got {list(v)}",
            field="inputs[2]",
        )
    if var.size and var.min() < 0:  # NaN passes, as torch's any(var < 0)
        raise InvalidArgumentError(
            "inputs[2] (var): expected non-negative variances, got a negative entry",
            field="inputs[2]",
        )


@gaussian_nll_loss.defkinks
def _(h, input, target, var, *, eps, **params):
    # (the step is h: this function's own parameter is named eps)
    return (np.zeros(input.shape, dtype=bool), var <= eps + h)


def _kl_op(input, target, log_target, g=None):
    op = _arith(2, input, input, target, g)
    # e^y must stay within the sum's share of the float range (its root: times g)
    cap = _safe.bound(input.dtype, input.size, 1 if g is None else 2)
    if op is PLAIN and log_target and target.size and not float(target.max()) <= math.log(cap):
        op = QUIET
    return op


def _kl_reduce(loss, input, reduction, tame):
    if reduction != "batchmean":
        return _safe.reduce(loss, reduction, tame=tame)
    batch = input.shape[0] if input.ndim else 1  # torch divides only when input.dim() != 0
    return _safe.reduce(loss, "mean", tame=tame, divisor=batch)


@loss(
    summary="Kullback–Leibler divergence KL(target ‖ input) with the input given as "
    "log-probabilities; use reduction='batchmean' for the true KL per sample.",
    formula="ℓ = y·(log y − x) (0 where y = 0), or e^y·(y − x) if log_target",
    output_range="(−inf, inf)",
    params=(
        Param(
            "reduction",
            "str",
            "mean",
            "'none', 'sum', 'mean' (÷ numel, not the KL) or 'batchmean' (÷ input.shape[0]: "
            "the KL).",
            choices=("none", "mean", "sum", "batchmean"),
        ),
        Param("log_target", "bool", False, "The target is given as log-probabilities too."),
    ),
    notes=(
        "'batchmean' divides the sum by input.shape[0] (a 0-d input: by 1), also for 1-d input.",
        "A negative target, target 0 with input −inf, and log_target with target −inf give NaN "
        "(torch, RUN).",
    ),
)
def kl_div(input, target, reduction, log_target):
    if _fast(input, target, exact=False):
        return _kl_loss(input, target, reduction, log_target)
    op = _kl_op(input, target, log_target)
    if op is PLAIN and log_target:
        loss = np.asarray(np.exp(target))
        loss *= target - input
    elif log_target:
        loss = op.mul(op.exp(target), op.sub(target, input))
    elif op is PLAIN and target.size and float(target.min()) > 0:
        # every y > 0 (the usual case): y·(log y − x), without xlogy's slower 0·log 0 care
        loss = np.asarray(np.log(target))
        loss -= input
        loss *= target
    else:  # xlogy: 0·log 0 = 0
        loss = op.sub(special.xlogy(target, target), op.mul(target, input))
    return _kl_reduce(loss, input, reduction, op is PLAIN)


@kl_div.defvjp
def _(g, y, input, target, reduction, log_target):
    if _vjp_fast(g, reduction, input, target, exact=not log_target):
        batch = (input.shape[0] if input.ndim else 1) if reduction == "batchmean" else None
        seed = _seed(g, input, "mean" if batch else reduction, divisor=batch)
        dx = np.empty(input.shape, input.dtype)
        _kernels.launch(_kl_vjp_kernel(log_target), seed, *_flat(target), dx.reshape(-1))
        return dx
    op = _kl_op(input, target, log_target, g)
    weight = op.exp(target) if log_target else target
    if reduction == "batchmean":
        batch = input.shape[0] if input.ndim else 1
        seed = _safe.reduce_vjp(g, input.shape, "mean", divisor=batch)
    else:
        seed = _safe.reduce_vjp(g, input.shape, reduction)
    return op.mul(np.negative(weight), seed)


@functools.cache
def _kl_kernel(plain: bool, *, log_target: bool):
    """The forward kernel of kl_div (float32): e^y·(y − x) (log_target); else for tame
    x, y with every y > 0 (plain) (log y − x)·y, else xlogy(y, y) − y·x. It returns
    the total and the count of elements that are not tame or have y ≤ 0 (or NaN)."""

    @_kernels.kernel
    def kl(x, y, limit, out):  # pragma: no cover - compiled
        total = 0.0
        bad = 0
        for c in prange(_chunks(x.size)):
            lo, hi = _span(c, x.size)
            xs, ys, part = x[lo:hi], y[lo:hi], _part(out, x, lo, hi)
            for i in range(part.size):
                u, v = xs[i], ys[i]
                if log_target:
                    part[i] = _kernels.expf(v) * (v - u)
                elif plain:
                    part[i] = (_kernels.logf(v) - u) * v
                else:  # xlogy(y, y): 0 at y = 0
                    ylogy = f32(0.0) if v == f32(0.0) else _product(v, _kernels.logf(v))
                    part[i] = ylogy - _product(v, u)
            if plain and not log_target:  # (log y − x)·y wants every y > 0 (not NaN)
                bad += _untame(xs, ys, limit)
                for i in range(ys.size):
                    bad += 0 if ys[i] > f32(0.0) else 1
            if out is None:
                total += _sum64(part)
        return total, bad

    return kl


def _kl_loss(input, target, reduction, log_target):
    """kl_div by the kernels, in the NumPy path's form (see _kl_kernel)."""
    limit = _limit(2, input)
    out = None if _fused(reduction, input) else np.empty(input.shape, input.dtype)
    args = (*_flat(input, target), _floor(limit, input.dtype))
    kernel = functools.partial(_kl_kernel, log_target=log_target)
    total = _in_form(kernel, args, _flat_or_none(out), not log_target)
    if out is not None:
        return _kl_reduce(out, input, reduction, False)
    batch = (input.shape[0] if input.ndim else 1) if reduction == "batchmean" else None
    return _reduced(total, input.size, reduction, input.dtype, batch)


@functools.cache
def _kl_vjp_kernel(log_target: bool):
    """dx = −w·s, w = e^y (log_target: float32) or y (float32 and float64)."""

    @_kernels.kernel
    def kl_vjp(s, y, dx):  # pragma: no cover - compiled
        for i in prange(y.size):
            v = y[i]
            dx[i] = -(_kernels.expf(v) if log_target else v) * _at(s, i)

    return kl_vjp


kl_div.defcheck(_check_same_shape(kl_div))


# ---------------------------------------------------------------------------
# Second order (check_gradient(order=2))
# ---------------------------------------------------------------------------


def _second(spec):
    """Decorator for a per-element loss ℓ(x, y) reduced by ``reduction``: attach the
    second-order VJP built from ``fn(input, target, **params) -> ℓ''`` (weights
    included; the scalar 0 when ℓ is piecewise linear in x). With h = seed(g)·ℓ'
    (seed: g, or g/n for 'mean'), ∂⟨h, w⟩/∂g = reduce(w·ℓ') and ∂/∂x = w·seed(g)·ℓ''."""

    def attach(fn):
        def vjp_vjp(w, g, y, input, target, **params):
            reduction = params["reduction"]
            ones = np.ones(input.shape, input.dtype)
            first = spec.vjp(ones, None, input, target, **{**params, "reduction": "none"})
            dg = _safe.reduce(QUIET.mul(w, first), reduction)
            second = fn(input, target, **params)
            if np.ndim(second) == 0 and second == 0:
                return dg, np.zeros(input.shape, input.dtype)
            seed = _safe.reduce_vjp(g, input.shape, reduction)
            return dg, QUIET.mul(QUIET.mul(w, seed), second)

        spec.defvjpvjp(vjp_vjp)
        return fn

    return attach


_second(mse_loss)(lambda input, target, reduction: 2.0)
_second(l1_loss)(lambda input, target, reduction: 0)


@_second(smooth_l1_loss)
def _(input, target, reduction, beta):
    if _is_zero(beta, input.dtype):
        return 0
    inside = np.abs(QUIET.sub(input, target)) < beta  # (d²/2β)'' = 1/β inside
    return inside / input.dtype.type(beta)


@_second(huber_loss)
def _(input, target, reduction, delta):
    return (np.abs(QUIET.sub(input, target)) < delta).astype(input.dtype)  # 1 inside


@_second(binary_cross_entropy_with_logits)
def _(input, target, weight, reduction, pos_weight):
    # ℓ'' = w·(p·y + 1 − y)·σ(x)σ(−x)
    s = np.asarray(_ops.sigmoid(input))
    d = s * (1 - s)
    py = target if pos_weight is None else QUIET.mul(pos_weight, target)
    d = QUIET.mul(d, QUIET.add(QUIET.sub(py, target), 1.0))
    return d if weight is None else QUIET.mul(d, weight)


@_second(soft_margin_loss)
def _(input, target, reduction):
    s = np.asarray(_ops.sigmoid(QUIET.mul(np.negative(target), input)))  # σ(−yx)
    return QUIET.mul(s * (1 - s), QUIET.mul(target, target))  # y²σ(−yx)σ(yx)


@_second(poisson_nll_loss)
def _(input, target, log_input, full, eps, reduction):
    if log_input:
        return QUIET.exp(input)  # (e^x − y·x)'' = e^x
    z = QUIET.add(input, eps)  # (x − y·log(x + eps))'' = y/(x + eps)²
    return QUIET.div(target, QUIET.mul(z, z))
