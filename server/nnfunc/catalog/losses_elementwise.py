"""Elementwise and per-sample losses (torch.nn.functional): forward and VJP side by side.

Every loss takes ``reduction`` and divides its ``'mean'`` as torch does: by the number
of elements of the unreduced loss (per element here, per sample for
multilabel_soft_margin_loss). Input and target must have the same shape: torch
broadcasts a mismatch with only a warning, nnfunc refuses it.

No input makes NumPy warn. Each forward first checks, with two cheap reductions per
input, that its inputs are finite and small enough for the plain formula (no overflow,
no inf - inf, no 0 * inf, and a sum that cannot overflow); only when they are not does
it take the quiet arithmetic below, which gives the same IEEE results without warnings.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
from scipy import special

from nnfunc.catalog import _ops
from nnfunc.catalog.spec import REDUCTION, Input, Param, loss
from nnfunc.errors import InvalidArgumentError

# ---------------------------------------------------------------------------
# Quiet arithmetic: IEEE results (0·inf, inf − inf, inf/inf, 0/0 → NaN; overflow →
# ±inf) with no NumPy warning. Several passes each, so only taken for extreme inputs.
# ---------------------------------------------------------------------------


def _big(dtype: np.dtype) -> float:
    return float(np.finfo(dtype).max)


def _dtype(*xs) -> np.dtype:
    return np.result_type(*xs)


def _shape(*xs) -> tuple[int, ...]:
    return np.broadcast_shapes(*(np.shape(x) for x in xs))


def _signed_inf(a, b):
    """±inf with the sign of a·b (copysign keeps it clear of 0·inf)."""
    return np.copysign(np.inf, a) * np.copysign(1.0, b)


def _qmul(a, b):
    dtype = _dtype(a, b)
    m = _big(dtype) * (1 - 4 * np.finfo(dtype).eps)  # margin: the product's own rounding
    invalid = ((a == 0) & np.isinf(b)) | (np.isinf(a) & (b == 0))
    # |a·b| > m can only happen with |b| > 1, where m/|b| cannot overflow
    absb = np.abs(b)
    over = np.isfinite(a) & np.isfinite(b) & (absb > 1) & (np.abs(a) > m / np.maximum(absb, 1))
    out = np.empty(_shape(a, b), dtype)
    np.multiply(a, b, out=out, where=~(invalid | over))
    np.copyto(out, np.nan, where=invalid)
    np.copyto(out, _signed_inf(a, b), where=over)
    return out


def _qadd(a, b):
    dtype = _dtype(a, b)
    half_max = _big(dtype) / 2
    invalid = np.isinf(a) & (a == -b)
    # a/2 + b/2 never overflows and equals fl(a + b)/2, so it says exactly when a + b does
    h = np.add(
        np.multiply(a, 0.5), np.multiply(b, 0.5), out=np.zeros(_shape(a, b), dtype), where=~invalid
    )
    over = np.isfinite(a) & np.isfinite(b) & (np.abs(h) > half_max)
    out = np.empty(h.shape, dtype)
    np.add(a, b, out=out, where=~(invalid | over))
    np.copyto(out, np.nan, where=invalid)
    np.copyto(out, np.copysign(np.inf, h), where=over)
    return out


def _qsub(a, b):
    return _qadd(a, np.negative(b))


def _qdiv(a, b):
    dtype = _dtype(a, b)
    m = _big(dtype) * (1 - 4 * np.finfo(dtype).eps)
    invalid = ((a == 0) & (b == 0)) | (np.isinf(a) & np.isinf(b))
    by_zero = (b == 0) & (a != 0) & ~np.isnan(a)
    absb = np.abs(b)
    # |a/b| > m can only happen with |b| < 1, where m·|b| cannot overflow
    over = np.isfinite(a) & (b != 0) & (absb < 1) & (np.abs(a) > m * np.minimum(absb, 1))
    out = np.empty(_shape(a, b), dtype)
    np.divide(a, b, out=out, where=~(invalid | by_zero | over))
    np.copyto(out, np.nan, where=invalid)
    np.copyto(out, _signed_inf(a, b), where=by_zero | over)
    return out


def _exp_limit(dtype: np.dtype) -> float:
    """The largest x of ``dtype`` whose exp is finite."""
    t = np.log(np.finfo(dtype).max)
    while math.exp(float(t)) > _big(dtype):  # float64 exp checks float32's bound
        t = np.nextafter(t, dtype.type(0))
    return float(t)


_EXP_LIMIT = {np.dtype(d): _exp_limit(np.dtype(d)) for d in (np.float32, np.float64)}


def _qexp(x):
    out = np.full(np.shape(x), np.inf, _dtype(x))
    return np.exp(x, out=out, where=~(x > _EXP_LIMIT[out.dtype]))  # NaN stays NaN


_PLAIN = SimpleNamespace(mul=np.multiply, add=np.add, sub=np.subtract, div=np.divide, exp=np.exp)
_QUIET = SimpleNamespace(mul=_qmul, add=_qadd, sub=_qsub, div=_qdiv, exp=_qexp)


def _tame(bound: float, *arrays: np.ndarray) -> bool:
    """Every element finite and within ±bound (NaN is not)."""
    return all(a.size == 0 or (-bound <= a.min() and a.max() <= bound) for a in arrays)


def _arith(n: int, dtype: np.dtype, root: bool, *arrays: np.ndarray) -> SimpleNamespace:
    """The plain ufuncs when ``arrays`` are finite and small enough that the loss
    (quadratic in them when ``root``, else linear) and its sum over ``n`` elements cannot
    overflow; the quiet ones otherwise."""
    share = _big(dtype) / (16 * max(n, 1))
    bound = math.sqrt(share) if root else share
    return _PLAIN if _tame(bound, *arrays) else _QUIET


def _quiet_sum(loss: np.ndarray, divisor: int) -> np.ndarray:
    """sum(loss)/divisor without a warning: +inf and -inf together give NaN, an overflow ±inf."""
    dtype = loss.dtype
    if loss.size == 0:
        return np.asarray(dtype.type(0) if divisor == 1 else dtype.type(np.nan))
    hi, lo = loss.max(), loss.min()  # NaN propagates through both
    if np.isnan(hi) or (hi == np.inf and lo == -np.inf):
        return np.asarray(dtype.type(np.nan))
    if np.isinf(hi) or np.isinf(lo):
        return np.asarray(hi if np.isinf(hi) else lo)
    k = math.ceil(math.log2(loss.size)) + 1  # scaled by 2^-k the sum cannot overflow
    s = (loss * 2.0**-k).sum(dtype=dtype)
    return np.asarray(_qmul(s, 2.0**k / divisor), dtype=dtype)


def _reduce(loss: np.ndarray, reduction: str, op: SimpleNamespace) -> np.ndarray:
    """torch's reduction; the plain one when the inputs were tame (their sum cannot fail)."""
    if reduction == "none" or op is _PLAIN:
        return _ops.reduce(loss, reduction)
    return _quiet_sum(loss, loss.size if reduction == "mean" else 1)


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


def _weighted(loss: np.ndarray, weight, op: SimpleNamespace) -> np.ndarray:
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
    op = _arith(input.size, input.dtype, True, input, target)
    d = np.asarray(op.sub(input, target))  # 0-d arithmetic gives scalars; out= needs arrays
    loss = np.multiply(d, d, out=d) if op is _PLAIN else op.mul(d, d)
    return _reduce(loss, reduction, op)


@mse_loss.defvjp
def _(g, y, input, target, reduction):
    op = _arith(input.size, input.dtype, True, input, target)
    d = np.asarray(op.sub(input, target))
    seed = _ops.reduce_vjp(2 * g, input.shape, reduction)  # 2·g before it is spread out
    return np.multiply(d, seed, out=d) if op is _PLAIN else op.mul(d, seed)


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
    op = _arith(input.size, input.dtype, False, input, target)
    return _reduce(np.abs(op.sub(input, target)), reduction, op)


@l1_loss.defvjp
def _(g, y, input, target, reduction):
    op = _arith(input.size, input.dtype, False, input, target)
    return np.sign(op.sub(input, target)) * _ops.reduce_vjp(g, input.shape, reduction)


l1_loss.defcheck(_check_same_shape(l1_loss))


@l1_loss.defkinks
def _(h, input, target, **params):
    return (np.abs(_qsub(input, target)) <= h,)


def _is_zero(t: float, dtype: np.dtype) -> bool:
    """t rounds to 0 in ``dtype`` (β = 1e−300 in float32 is l1_loss, as β = 0)."""
    return np.asarray(t, dtype) == 0  # underflow is silent


def _smooth(d: np.ndarray, t: float) -> np.ndarray:
    """(c/t)(|d| − c/2) with c = min(|d|, t): ½d²/t inside |d| < t, |d| − ½t outside.

    One expression for both branches, and c/t ≤ 1, so it cannot overflow for any t."""
    a = np.abs(d)
    c = np.minimum(a, t)
    return (c / t) * (a - 0.5 * c)


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
    op = _arith(input.size, input.dtype, False, input, target)
    d = op.sub(input, target)
    # computed as (c/β)(|d| − c/2): c/β ≤ 1, so nothing overflows for any β
    loss = np.abs(d) if _is_zero(beta, input.dtype) else _smooth(d, beta)
    return _reduce(loss, reduction, op)


@smooth_l1_loss.defvjp
def _(g, y, input, target, reduction, beta):
    op = _arith(input.size, input.dtype, False, input, target)
    d = op.sub(input, target)
    # clip then divide (not d/β then clip): d/β would overflow for a tiny β
    slope = np.sign(d) if _is_zero(beta, input.dtype) else np.clip(d, -beta, beta) / beta
    return slope * _ops.reduce_vjp(g, input.shape, reduction)


smooth_l1_loss.defcheck(_check_same_shape(smooth_l1_loss))


@smooth_l1_loss.defkinks
def _(h, input, target, beta, **params):
    a = np.abs(_qsub(input, target))
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
    op = _arith(input.size, input.dtype, False, input, target)
    d = op.sub(input, target)
    if op is _PLAIN:
        a = np.abs(d)
        c = np.minimum(a, delta)
        loss = c * (a - 0.5 * c)  # ½d² inside, δ(|d| − ½δ) outside
    else:  # δ·smooth_l1(β=δ): the product may overflow for a huge |d|
        loss = _qmul(_smooth(d, delta), delta)
    return _reduce(loss, reduction, op)


@huber_loss.defvjp
def _(g, y, input, target, reduction, delta):
    op = _arith(input.size, input.dtype, False, input, target)
    d = op.sub(input, target)
    return np.clip(d, -delta, delta) * _ops.reduce_vjp(g, input.shape, reduction)


huber_loss.defcheck(_check_same_shape(huber_loss))


@huber_loss.defkinks
def _(h, input, target, delta, **params):
    return (np.abs(np.abs(_qsub(input, target)) - delta) <= h,)


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
    loss = np.negative(log_x, out=log_x)
    return _ops.reduce(_weighted(loss, weight, _PLAIN), reduction)


@binary_cross_entropy.defvjp
def _(g, y, input, target, weight, reduction):
    grad = (input - target) / np.maximum(input * (1 - input), _BCE_EPS)
    grad *= _ops.reduce_vjp(g, input.shape, reduction)
    return _weighted(grad, weight, _PLAIN)


binary_cross_entropy.defcheck(_probabilities(binary_cross_entropy))


def _mul0(a, b):
    """a·b with 0·anything = 0 (the limit of y·log σ as the coefficient y → 0)."""
    out = _qmul(a, b)
    np.copyto(out, 0, where=(a == 0))
    return out


def _logit_terms(x, y, pos_weight):
    """Unweighted (1 − y)·softplus(x) + p·y·softplus(−x), and the arithmetic used."""
    n = x.size
    op = _arith(n, x.dtype, True, x, y, *(() if pos_weight is None else (pos_weight,)))
    if op is _PLAIN:
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
    py = y if pos_weight is None else _qmul(pos_weight, y)
    return _qadd(_mul0(1 - y, _ops.softplus(x)), _mul0(py, _ops.softplus(-x))), op


def _logit_grad(x, y, pos_weight):
    """∂/∂x of the terms above: σ(x) − y, or (p·y + 1 − y)σ(x) − p·y."""
    s = _ops.sigmoid(x)
    if pos_weight is None:
        s -= y
        return s
    py = pos_weight * y
    return (py + 1 - y) * s - py


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
    loss, op = _logit_terms(input, target, pos_weight)
    return _reduce(_weighted(loss, weight, op), reduction, op)


@binary_cross_entropy_with_logits.defvjp
def _(g, y, input, target, weight, reduction, pos_weight):
    grad = _logit_grad(input, target, pos_weight)
    grad *= _ops.reduce_vjp(g, input.shape, reduction)
    return _weighted(grad, weight, _PLAIN)


@binary_cross_entropy_with_logits.defcheck
def _(params, inputs):
    _ops.same_shape(binary_cross_entropy_with_logits, *inputs)
    _check_weight("weight", params["weight"], inputs[0])
    _check_weight("pos_weight", params["pos_weight"], inputs[0])


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
    op = _arith(input.size, input.dtype, True, input, target)
    z = op.mul(np.negative(target), input)
    return _reduce(_ops.softplus(z), reduction, op)


@soft_margin_loss.defvjp
def _(g, y, input, target, reduction):
    op = _arith(input.size, input.dtype, True, input, target)
    s = np.asarray(_ops.sigmoid(op.mul(np.negative(target), input)))  # σ(−y·x)
    s *= target
    np.negative(s, out=s)
    s *= _ops.reduce_vjp(g, input.shape, reduction)
    return s


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
    terms, op = _logit_terms(input, target, None)
    terms = _weighted(terms, weight, op)
    c = input.shape[-1]
    if c == 0:  # 0/0: torch's per-sample mean over no classes is NaN
        per_sample = np.full(input.shape[:-1], np.nan, dtype=input.dtype)
    elif op is _PLAIN:
        per_sample = terms.sum(axis=-1, dtype=input.dtype) / input.dtype.type(c)
    else:  # scaled by 2^-k the sum over classes cannot overflow
        k = math.ceil(math.log2(c)) + 1
        per_sample = _qmul((terms * 2.0**-k).sum(axis=-1, dtype=input.dtype), 2.0**k / c)
    return _reduce(per_sample, reduction, op)


@multilabel_soft_margin_loss.defvjp
def _(g, y, input, target, weight, reduction):
    grad = _logit_grad(input, target, None)
    seed = _ops.reduce_vjp(g, input.shape[:-1], reduction)
    grad *= seed[..., None] / input.dtype.type(max(input.shape[-1], 1))
    return _weighted(grad, weight, _PLAIN)


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
    op = _arith(input.size, input.dtype, False, input) if math.isfinite(margin) else _QUIET
    hinge = np.maximum(op.sub(margin, input), 0)  # NaN propagates, as clamp_min
    loss = op.add(np.where(target != 1, hinge, 0), np.where(target != -1, input, 0))
    return _reduce(loss, reduction, op)


@hinge_embedding_loss.defvjp
def _(g, y, input, target, margin, reduction):
    grad = (target != -1).astype(input.dtype)
    grad -= (target != 1) & (input <= margin)  # ≤: the gradient passes at x = margin
    grad *= _ops.reduce_vjp(g, input.shape, reduction)
    return grad


hinge_embedding_loss.defcheck(_check_same_shape(hinge_embedding_loss))


@hinge_embedding_loss.defkinks
def _(h, input, target, margin, **params):
    return ((np.abs(input - margin) <= h) & (target != 1),)


# ---------------------------------------------------------------------------
# Likelihood and divergence losses
# ---------------------------------------------------------------------------


def _poisson_op(input, target, log_input):
    n, dtype = input.size, input.dtype
    op = _arith(n, dtype, True, input, target)
    # e^x must stay within the sum's share of the float range
    if op is _PLAIN and log_input and n and not input.max() <= math.log(_big(dtype) / (16 * n)):
        op = _QUIET
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
    if log_input:
        loss = op.sub(op.exp(input), op.mul(target, input))
    else:
        loss = op.sub(input, special.xlogy(target, op.add(input, eps)))
    if full:
        loss = op.add(loss, _stirling(target, op))
    return _reduce(loss, reduction, op)


@poisson_nll_loss.defvjp
def _(g, y, input, target, log_input, full, eps, reduction):
    op = _poisson_op(input, target, log_input)
    if log_input:
        grad = op.sub(op.exp(input), target)
    else:
        grad = op.sub(1, op.div(target, op.add(input, eps)))
    return op.mul(grad, _ops.reduce_vjp(g, input.shape, reduction))


poisson_nll_loss.defcheck(_check_same_shape(poisson_nll_loss))


def _var_view(var: np.ndarray, input: np.ndarray) -> np.ndarray:
    """var shaped to broadcast against input (one fewer dim gains a trailing 1)."""
    return var[..., None] if var.ndim == input.ndim - 1 else var


def _gaussian_parts(input, target, var, eps):
    v = np.maximum(_var_view(var, input), eps)  # torch clamps under no_grad; NaN stays
    n = input.size
    share = _big(input.dtype) * min(eps, 1.0) / (16 * max(n, 1))
    op = _PLAIN if _tame(math.sqrt(share), input, target) and _tame(share, v) else _QUIET
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
    return _reduce(loss, reduction, op)


@gaussian_nll_loss.defvjp
def _(g, y, input, target, var, full, eps, reduction):
    d, v, q, op = _gaussian_parts(input, target, var, eps)
    seed = _ops.reduce_vjp(g, input.shape, reduction)
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


def _kl_op(input, target, log_target):
    op = _arith(input.size, input.dtype, True, input, target)
    limit = math.log(_big(input.dtype) / (16 * max(input.size, 1)))  # e^y stays in range
    if op is _PLAIN and log_target and target.size and not target.max() <= limit:
        op = _QUIET
    return op


def _kl_seed(g, input, reduction):
    if reduction != "batchmean":
        return _ops.reduce_vjp(g, input.shape, reduction)
    batch = input.shape[0] if input.ndim else 1
    return np.broadcast_to(g / g.dtype.type(batch) if batch else g, input.shape)


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
    if log_target:
        loss = op.mul(op.exp(target), op.sub(target, input))
    else:  # xlogy: 0·log 0 = 0
        loss = op.sub(special.xlogy(target, target), op.mul(target, input))
    if reduction != "batchmean":
        return _reduce(loss, reduction, op)
    total = _reduce(loss, "sum", op)
    batch = input.shape[0] if input.ndim else 1
    return total / total.dtype.type(batch) if batch else np.full((), np.nan, total.dtype)


@kl_div.defvjp
def _(g, y, input, target, reduction, log_target):
    op = _kl_op(input, target, log_target)
    weight = op.exp(target) if log_target else target
    return op.mul(np.negative(weight), _kl_seed(g, input, reduction))


kl_div.defcheck(_check_same_shape(kl_div))
