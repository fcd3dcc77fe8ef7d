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
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from nnfunc.catalog import _ops, _safe
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
    total = _blockwise(_squared_diff, 2, reduction, input, target)
    if total is not None:
        return total
    op = _arith(2, input, input, target)
    d = np.asarray(op.sub(input, target))  # 0-d arithmetic gives scalars; out= needs arrays
    loss = np.multiply(d, d, out=d) if op is PLAIN else op.mul(d, d)
    return _safe.reduce(loss, reduction, tame=op is PLAIN)


@mse_loss.defvjp
def _(g, y, input, target, reduction):
    op = _arith(2, input, input, target, g, scale=2.0)
    d = np.asarray(op.sub(input, target))
    d = np.add(d, d, out=d) if op is PLAIN else op.mul(d, 2.0)  # 2(x − y)
    return _seeded(d, g, reduction, op)


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
    total = _blockwise(_abs_diff, 1, reduction, input, target)
    if total is not None:
        return total
    op = _arith(1, input, input, target)
    d = np.asarray(op.sub(input, target))
    return _safe.reduce(np.abs(d, out=d), reduction, tame=op is PLAIN)


@l1_loss.defvjp
def _(g, y, input, target, reduction):
    op = _arith(1, input, input, target, g)
    d = np.asarray(op.sub(input, target))
    # sign(0) = 0, as torch's sgn; a fresh output (np.sign in place is 10x slower)
    return _seeded(np.sign(d), g, reduction, op)


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
    return QUIET.mul(QUIET.div(c, t), a - 0.5 * c)


def _clip_seeded(d: np.ndarray, t: float, g, reduction: str, op, divide: bool) -> np.ndarray:
    """clip(d, −t, t) (÷ t when ``divide``) times the upstream gradient; in place."""
    if op is not PLAIN:
        slope = np.clip(d, -t, t)
        return _seeded(QUIET.div(slope, t) if divide else slope, g, reduction, op)
    np.clip(d, -t, t, out=d)
    if reduction != "none" and d.size:
        # one pass: d·(g/n)/t; |clip(d)|·|g|/t ≤ |g| cannot overflow; taken when the
        # factor is a normal number (else clip, divide, multiply below)
        factor = float(g)
        if reduction == "mean":
            factor = _safe.quotient(factor, float(d.dtype.type(d.size)))
        if divide:
            factor = _safe.quotient(factor, t)
        f = _safe.scalar(factor, d.dtype)
        if factor == 0 or np.finfo(d.dtype).tiny <= abs(f) < math.inf:
            d *= f
            return d
    if divide:  # clip then divide (not d/t then clip): d/t would overflow for a tiny t
        d /= d.dtype.type(t)
    return _seeded(d, g, reduction, op)


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
    grad = (input - target) / np.maximum(input * (1 - input), _BCE_EPS)  # |·| ≤ 1/_BCE_EPS
    op = _arith(2, input, weight, g, scale=1 / _BCE_EPS)
    return _weighted(_seeded(grad, g, reduction, op), weight, op)


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
    if weight is None and pos_weight is None:
        total = _blockwise(_logit_kernel, 2, reduction, input, target, scratch=2)
        if total is not None:
            return total
    loss, op = _logit_terms(input, target, pos_weight, weight)
    return _safe.reduce(_weighted(loss, weight, op), reduction, tame=op is PLAIN)


@binary_cross_entropy_with_logits.defvjp
def _(g, y, input, target, weight, reduction, pos_weight):
    op = _logit_vjp_op(input, target, pos_weight, weight, g)
    grad = _seeded(_logit_grad(input, target, pos_weight, op), g, reduction, op)
    return _weighted(grad, weight, op)


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
    total = _blockwise(_soft_margin_kernel, 2, reduction, input, target, scratch=2)
    if total is not None:
        return total
    op = _arith(2, input, input, target)
    z = op.mul(np.negative(target), input)
    return _safe.reduce(_ops.softplus(z), reduction, tame=op is PLAIN)


@soft_margin_loss.defvjp
def _(g, y, input, target, reduction):
    op = _arith(2, input, input, target, g)
    s = np.asarray(_ops.sigmoid(op.mul(np.negative(target), input)))  # σ(−y·x)
    s = np.multiply(s, target, out=s) if op is PLAIN else op.mul(s, target)
    return _seeded(np.negative(s, out=s), g, reduction, op)


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
    op = _logit_vjp_op(input, target, None, weight, g)
    grad = _logit_grad(input, target, None, op)
    seed = _safe.reduce_vjp(g, input.shape[:-1], reduction)
    seed = seed[..., None] / input.dtype.type(max(input.shape[-1], 1))  # ÷ C ≥ 1: no overflow
    grad = np.multiply(grad, seed, out=grad) if op is PLAIN else op.mul(grad, seed)
    return _weighted(grad, weight, op)


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
    op = _arith(1, input, input, margin)
    hinge = np.maximum(op.sub(margin, input), 0)  # NaN propagates, as clamp_min
    loss = op.add(np.where(target != 1, hinge, 0), np.where(target != -1, input, 0))
    return _safe.reduce(loss, reduction, tame=op is PLAIN)


@hinge_embedding_loss.defvjp
def _(g, y, input, target, margin, reduction):
    grad = (target != -1).astype(input.dtype)
    grad -= (target != 1) & (input <= margin)  # ≤: the gradient passes at x = margin
    return _seeded(grad, g, reduction, _arith(1, input, g))  # |grad| ≤ 1


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
    term = op.add(op.sub(op.mul(ys, log_ys), ys), 0.5 * np.log(2 * math.pi * ys))
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


poisson_nll_loss.defcheck(_check_same_shape(poisson_nll_loss))


def _var_view(var: np.ndarray, input: np.ndarray) -> np.ndarray:
    """var shaped to broadcast against input (one fewer dim gains a trailing 1)."""
    return var[..., None] if var.ndim == input.ndim - 1 else var


def _gaussian_parts(input, target, var, eps, g=None):
    v = np.maximum(_var_view(var, input), eps)  # torch clamps under no_grad; NaN stays
    # |d| ≤ 2L and v ≥ e = min(eps, 1): d²/v ≤ 4L²/e, and the VJP's g·d²/v² ≤ 4L³/e²
    # (|g| ≤ L), both kept within the sum's share of the float range
    share, e = _safe.bound(input.dtype, input.size), min(eps, 1.0)
    limit = math.sqrt(share * e) if g is None else (share * e * e) ** (1 / 3) / 2
    tame = _safe.is_tame(limit, input, target, g) and _safe.is_tame(share, v)
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
    _, v, q, op = _gaussian_parts(input, target, var, eps)
    loss = op.add(np.log(v), q)
    loss *= 0.5
    if full:
        loss += 0.5 * math.log(2 * math.pi)
    return _safe.reduce(loss, reduction, tame=op is PLAIN)


@gaussian_nll_loss.defvjp
def _(g, y, input, target, var, full, eps, reduction):
    d, v, q, op = _gaussian_parts(input, target, var, eps, g)
    seed = _safe.reduce_vjp(g, input.shape, reduction)
    dx = op.mul(op.div(d, v), seed)
    dv = op.mul(op.div(op.sub(1, q), v), op.mul(0.5, seed))  # ½(1/v − d²/v²)
    dv = _ops.unbroadcast(dv, _var_view(var, input).shape).reshape(var.shape)
    return dx, dv


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
    op = _kl_op(input, target, log_target, g)
    weight = op.exp(target) if log_target else target
    if reduction == "batchmean":
        batch = input.shape[0] if input.ndim else 1
        seed = _safe.reduce_vjp(g, input.shape, "mean", divisor=batch)
    else:
        seed = _safe.reduce_vjp(g, input.shape, reduction)
    return op.mul(np.negative(weight), seed)


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
