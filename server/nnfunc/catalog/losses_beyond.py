"""Losses beyond torch, from keras, optax and torchvision: forward and VJP side by side.

Each entry follows its defining framework (named in ``source``): its formula, defaults
and edge behaviour. What nnfunc changes is said in the entry's notes:
- Argument order: inputs are always (prediction, target, ...), as torch. Keras's own order
  is (y_true, y_pred); optax's is (predictions or logits, targets).
- Reduction: every loss offers torch's three choices. Keras losses first average over the
  last axis (one loss per sample), then default to 'mean' over samples (Keras's
  'sum_over_batch_size', whose mean of nothing is 0, not NaN). optax losses are
  unreduced, so their default is 'none'. Keras's dice and tversky and optax's generalized
  dice return one number and take no reduction.
- Classes (and vectors) lie along the last axis, as in keras and optax; class-index
  targets are the input's shape without it and must be in range (jax's one_hot would
  silently turn an out-of-range index into an all-zero row).
- Gradients at kinks are the framework's autodiff values with the JAX backend
  (catalog-reference §0.3): jnp.maximum, jnp.minimum and jnp.clip split a tie 0.5/0.5,
  jnp.max splits the gradient evenly among tied maxima, and jax's abs'(0) is +1.

No input makes NumPy warn: each loss asks ``_safe.is_tame`` whether its inputs are
finite and small enough for the plain formula, and otherwise computes the same
expressions with ``_safe.QUIET``, which returns the IEEE results (±inf, NaN) silently.
"""

from __future__ import annotations

import math

import numpy as np

from nnfunc.catalog import _ops, _safe
from nnfunc.catalog.spec import FLOAT32_MAX, Input, Param, loss
from nnfunc.errors import InvalidArgumentError

KERAS_EPSILON = 1e-7  # keras.backend.epsilon()

_KERAS_NOTE = (
    "Keras averages over the last axis (one loss per sample, 'none' returns those); 'mean' "
    "is Keras's default 'sum_over_batch_size', and the mean of no samples is 0 (Keras's "
    "divide_no_nan), not NaN."
)
_OPTAX_NOTE = (
    "optax returns unreduced losses, so the default reduction is 'none'; 'mean' and 'sum' "
    "reduce as torch does (the mean of nothing is NaN)."
)


def _reduction(default: str, doc: str) -> Param:
    return Param("reduction", "str", default, doc, choices=("none", "mean", "sum"))


KERAS_REDUCTION = _reduction(
    "mean",
    "'none': one loss per sample; 'mean' (Keras's 'sum_over_batch_size'): their mean, 0 when "
    "there are none; 'sum': their sum.",
)
OPTAX_REDUCTION = _reduction(
    "none",
    "'none' (optax's unreduced output): the per-element or per-row losses; 'mean': their "
    "mean; 'sum': their sum.",
)
MEAN_REDUCTION = _reduction(
    "mean",
    "'none': the per-list losses; 'mean' (optax's reduce_fn=jnp.mean): their mean; 'sum': "
    "their sum.",
)


# ---------------------------------------------------------------------------
# Shared pieces
# ---------------------------------------------------------------------------


def _arith(degree: int, *arrays: np.ndarray, scale: float = 1.0):
    """PLAIN when products of ``degree`` input factors (times ``scale``), summed over the
    inputs' elements, cannot overflow; QUIET otherwise."""
    a = arrays[0]
    return _safe.arith(_safe.bound(a.dtype, a.size, degree) / scale, *arrays)


def _reduce(per: np.ndarray, reduction: str, keras: bool) -> np.ndarray:
    per = np.asarray(per)
    if keras and reduction == "mean" and per.size == 0:
        return np.zeros((), per.dtype)  # Keras's divide_no_nan: the mean of nothing is 0
    return _safe.reduce(per, reduction)


def _seed(g: np.ndarray, shape: tuple[int, ...], reduction: str) -> np.ndarray:
    """The upstream gradient of each unreduced loss (an empty shape needs none)."""
    return np.asarray(_safe.reduce_vjp(np.asarray(g), shape, reduction))


def _mean_last(t: np.ndarray, op) -> np.ndarray:
    """The mean over the last axis (Keras's per-sample mean); NaN over no elements."""
    n = t.shape[-1]
    if n == 0:
        return np.full(t.shape[:-1], np.nan, t.dtype)
    return np.asarray(op.sum(t, axis=-1)) / t.dtype.type(n)  # ÷ n ≥ 1 cannot overflow


def _tie_weight(z: np.ndarray, at: float = 0.0) -> np.ndarray:
    """jnp.maximum(z, at)'s derivative in z: 1 above, ½ at the tie, 0 below (and at NaN)."""
    return (z > at) + 0.5 * (z == at)


def _pair_check(spec, min_ndim: int = 0, what: str = ""):
    """Same shapes, and at least ``min_ndim`` dimensions."""

    def check(params, inputs):
        x = inputs[0]
        if x.ndim < min_ndim:
            raise InvalidArgumentError(
                f"inputs[0] ({spec.inputs[0].name}): expected at least {min_ndim} "
                f"dimension(s){what}, got a {x.ndim}-d tensor",
                field="inputs[0]",
            )
        _ops.same_shape(spec, *inputs[:2])

    return check


def _label_check(spec):
    """Scores (..., C) with C ≥ 1 and class indices of shape (...) in [0, C)."""

    def check(params, inputs):
        x, t = inputs[:2]
        if x.ndim < 1 or x.shape[-1] == 0:
            raise InvalidArgumentError(
                f"inputs[0] ({spec.inputs[0].name}): expected (..., C) with C >= 1 classes "
                f"along the last axis, got shape {list(x.shape)}",
                field="inputs[0]",
            )
        if t.shape != x.shape[:-1]:
            raise InvalidArgumentError(
                f"inputs[1] (target): expected class indices of shape {list(x.shape[:-1])} "
                f"(the input's without its last axis), got {list(t.shape)}",
                field="inputs[1]",
            )
        c = x.shape[-1]
        if t.size and (t.min() < 0 or t.max() >= c):
            raise InvalidArgumentError(
                f"inputs[1] (target): expected class indices in [0, {c}), got "
                f"{int(t.min()) if t.min() < 0 else int(t.max())}",
                field="inputs[1]",
            )

    return check


def _onehot(t: np.ndarray, c: int, dtype: np.dtype) -> np.ndarray:
    out = np.zeros((*t.shape, c), dtype)
    np.put_along_axis(out, t[..., None], 1, axis=-1)
    return out


def _pick(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """x[..., t] for class indices t of shape x.shape[:-1]."""
    return np.take_along_axis(x, t[..., None], axis=-1)[..., 0]


def _argmax_share(v: np.ndarray, m: np.ndarray) -> np.ndarray:
    """jnp.max's gradient: 1/k on each of the k entries equal to the row max (kept dims);
    NaN on a row whose max is NaN (jax's 0/0)."""
    hit = v == m
    count = hit.sum(axis=-1, keepdims=True)
    share = np.zeros(v.shape, v.dtype)
    np.divide(hit, count, out=share, where=count > 0)
    np.copyto(share, np.nan, where=np.isnan(m))
    return share


def _near_tie(v: np.ndarray, tol) -> np.ndarray:
    """Rows (kept dims) whose two largest entries are within ``tol`` of each other."""
    if v.shape[-1] < 2:
        return np.zeros((*v.shape[:-1], 1), bool)
    top = -np.partition(-v, 1, axis=-1)[..., :2]
    return np.abs(top[..., :1] - top[..., 1:2]) <= tol


def _log_softmax(x: np.ndarray) -> np.ndarray:
    """log softmax over the last axis; NaN rows for NaN, +inf or all −inf (jax's)."""
    if x.size == 0:
        return np.empty_like(x)
    d, bad = _ops.shifted(x, -1, False)
    d -= np.log(np.exp(d).sum(axis=-1, keepdims=True, dtype=d.dtype))  # the sum is ≥ 1
    if bad is not None:
        np.copyto(d, np.nan, where=bad)
    return d


def _softmax_vjp(v: np.ndarray, q: np.ndarray) -> np.ndarray:
    """q ⊙ (v − ⟨v, q⟩) over the last axis."""
    out = v - np.sum(v * q, axis=-1, keepdims=True, dtype=v.dtype)
    out *= q
    return out


# ---------------------------------------------------------------------------
# Regression losses
# ---------------------------------------------------------------------------


@loss(
    summary="Log of the hyperbolic cosine of the error: quadratic near zero and linear far "
    "away, a twice-differentiable Huber; for regression robust to outliers.",
    formula="ℓ = log cosh(x − y) = |d| + log1p(expm1(−2|d|)/2), d = x − y",
    output_range="[0, inf)",
    params=(OPTAX_REDUCTION,),
    aliases=("logcosh",),
    source="optax.losses.log_cosh",
    elementwise=True,
    notes=(
        "optax.losses.log_cosh(predictions, targets): elementwise, unreduced. "
        "keras.losses.log_cosh(y_true, y_pred) is the same loss averaged over the last axis.",
        "Computed as |d| + log1p(expm1(−2|d|)/2): never overflows (cosh does at |d| ≈ 89 in "
        "float32) and stays accurate for tiny d, where optax's logaddexp(d, −d) − log 2 "
        "cancels.",
        _OPTAX_NOTE,
        "Input and target must have one shape (optax broadcasts).",
    ),
)
def log_cosh(input, target, reduction):
    op = _arith(1, input, target)
    a = np.abs(np.asarray(op.sub(input, target)))
    loss = np.asarray(np.expm1(-2 * a))  # in (−1, 0]: its half keeps log1p in range
    loss *= 0.5
    np.log1p(loss, out=loss)
    loss += a
    return _reduce(loss, reduction, False)


@log_cosh.defvjp
def _(g, y, input, target, reduction):
    op = _arith(1, input, target)
    d = np.tanh(op.sub(input, target))  # (log cosh)' = tanh
    d *= _seed(g, input.shape, reduction)
    return d


log_cosh.defcheck(_pair_check(log_cosh))


@loss(
    summary="Mean absolute percentage error (Keras): the error relative to the target, in "
    "percent; for forecasting where relative errors matter.",
    formula="ℓₙ = 100·mean_last(|y − x| / max(|y|, ε)), ε = 1e−7",
    output_range="[0, inf)",
    params=(KERAS_REDUCTION,),
    aliases=("mape",),
    source="keras.losses.mean_absolute_percentage_error",
    kinks=(
        "x = y: gradient −100/(max(|y|, ε)·n), jax's abs'(0) = +1 (its JVP rule takes "
        "the x >= 0 branch)",
    ),
    notes=(
        "Keras order: (y_true, y_pred); here (input = y_pred, target = y_true).",
        "A zero target divides by ε = 1e−7: about 1e9 per element (ref §2.2 #24).",
        _KERAS_NOTE,
    ),
)
def mean_absolute_percentage_error(input, target, reduction):
    op = _arith(1, input, target, scale=1e9)
    den = np.maximum(np.abs(target), input.dtype.type(KERAS_EPSILON))
    term = np.abs(np.asarray(op.div(op.sub(target, input), den)))
    return _reduce(np.asarray(op.mul(_mean_last(term, op), 100.0)), reduction, True)


@mean_absolute_percentage_error.defvjp
def _(g, y, input, target, reduction):
    op = _arith(1, input, target, scale=1e9)
    den = np.maximum(np.abs(target), input.dtype.type(KERAS_EPSILON))
    n = max(input.shape[-1], 1)
    sign = np.where(np.asarray(op.sub(target, input)) >= 0, -100.0 / n, 100.0 / n)
    grad = np.asarray(sign / den, dtype=input.dtype)  # |.| ≤ 1e9: no overflow
    return op.mul(grad, _seed(g, input.shape[:-1], reduction)[..., None])


mean_absolute_percentage_error.defcheck(
    _pair_check(mean_absolute_percentage_error, 1, " (Keras averages over the last axis)")
)


@mean_absolute_percentage_error.defkinks
def _(h, input, target, **params):
    return (np.abs(_safe.QUIET.sub(input, target)) <= h,)


@loss(
    summary="Mean squared logarithmic error (Keras): squared error between log(1 + x) and "
    "log(1 + y); for positive targets spanning orders of magnitude.",
    formula="ℓₙ = mean_last((log(max(x, ε) + 1) − log(max(y, ε) + 1))²), ε = 1e−7",
    output_range="[0, inf)",
    params=(KERAS_REDUCTION,),
    aliases=("msle",),
    source="keras.losses.mean_squared_logarithmic_error",
    kinks=(
        "x = ε = 1e−7: gradient ½ of the value just above (jnp.maximum splits the tie); 0 below ε",
    ),
    notes=(
        "Keras order: (y_true, y_pred); here (input = y_pred, target = y_true).",
        "Values below ε (including negatives) count as ε, so their gradient is 0.",
        _KERAS_NOTE,
    ),
)
def mean_squared_logarithmic_error(input, target, reduction):
    eps = input.dtype.type(KERAS_EPSILON)
    first = np.log1p(np.maximum(input, eps))
    op = _arith(2, first, np.log1p(np.maximum(target, eps)))
    d = np.asarray(op.sub(first, np.log1p(np.maximum(target, eps))))
    return _reduce(_mean_last(np.asarray(op.mul(d, d)), op), reduction, True)


@mean_squared_logarithmic_error.defvjp
def _(g, y, input, target, reduction):
    eps = input.dtype.type(KERAS_EPSILON)
    m = np.maximum(input, eps)
    first = np.log1p(m)
    second = np.log1p(np.maximum(target, eps))
    op = _arith(2, first, second)
    d = op.sub(first, second)
    # 2Δ/((max(x, ε) + 1)·n), times jnp.maximum's 1, ½ or 0
    slope = op.div(d, np.asarray(m + 1))
    w = _tie_weight(input, eps) * (2.0 / max(input.shape[-1], 1))
    return op.mul(
        op.mul(slope, w.astype(input.dtype)), _seed(g, input.shape[:-1], reduction)[..., None]
    )


mean_squared_logarithmic_error.defcheck(
    _pair_check(mean_squared_logarithmic_error, 1, " (Keras averages over the last axis)")
)


@mean_squared_logarithmic_error.defkinks
def _(h, input, target, **params):
    return (np.abs(input - KERAS_EPSILON) <= h,)


# ---------------------------------------------------------------------------
# Margin losses
# ---------------------------------------------------------------------------


def _hinge_labels(target: np.ndarray) -> np.ndarray:
    """Keras's convert_binary_labels_to_hinge: when every label is 0 or 1, 2y − 1."""
    if np.all((target == 0) | (target == 1)):
        return 2 * target - 1
    return target


def _hinge_z(input, target):
    t = _hinge_labels(target)
    op = _arith(2, input, t)
    return op.sub(1, op.mul(t, input)), t, op


_HINGE_LABELS = (
    "Labels should be −1 or 1; when every label of the target is 0 or 1 they are "
    "converted to 2y − 1 first (Keras's convert_binary_labels_to_hinge; ref §2.2 #26)."
)


@loss(
    summary="Hinge loss (Keras): max(0, 1 − y·x) averaged over the last axis, labels ±1 "
    "(or 0/1, converted); the linear SVM's loss.",
    formula="ℓₙ = mean_last(max(0, 1 − y·x)), y ← 2y − 1 if every y ∈ {0, 1}",
    output_range="[0, inf)",
    params=(KERAS_REDUCTION,),
    source="keras.losses.hinge",
    kinks=("y·x = 1: gradient −y/(2n), half of the active side's (jnp.maximum splits the tie)",),
    notes=(
        "Keras order: (y_true, y_pred); here (input = y_pred, target = y_true).",
        _HINGE_LABELS,
        "optax.losses.hinge_loss is the same hinge elementwise, without the conversion.",
        _KERAS_NOTE,
    ),
)
def hinge(input, target, reduction):
    z, _t, op = _hinge_z(input, target)
    return _reduce(_mean_last(np.maximum(z, 0), op), reduction, True)


@hinge.defvjp
def _(g, y, input, target, reduction):
    z, t, op = _hinge_z(input, target)
    w = _tie_weight(z).astype(input.dtype) * input.dtype.type(-1.0 / max(input.shape[-1], 1))
    return op.mul(op.mul(t, w), _seed(g, input.shape[:-1], reduction)[..., None])


hinge.defcheck(_pair_check(hinge, 1, " (Keras averages over the last axis)"))


@hinge.defkinks
def _(h, input, target, **params):
    t = _hinge_labels(target)
    return (np.abs(_safe.QUIET.sub(1, _safe.QUIET.mul(t, input))) <= 2 * h * np.abs(t),)


@loss(
    summary="Squared hinge loss (Keras): max(0, 1 − y·x)² averaged over the last axis, labels "
    "±1 (or 0/1, converted); a smooth SVM loss.",
    formula="ℓₙ = mean_last(max(0, 1 − y·x)²), y ← 2y − 1 if every y ∈ {0, 1}",
    output_range="[0, inf)",
    params=(KERAS_REDUCTION,),
    source="keras.losses.squared_hinge",
    notes=(
        "Keras order: (y_true, y_pred); here (input = y_pred, target = y_true).",
        _HINGE_LABELS,
        "Differentiable everywhere: the gradient −2y·max(0, 1 − y·x)/n is 0 at the hinge.",
        _KERAS_NOTE,
    ),
)
def squared_hinge(input, target, reduction):
    z, _t, op = _hinge_z(input, target)
    h = np.maximum(z, 0)
    return _reduce(_mean_last(np.asarray(op.mul(h, h)), op), reduction, True)


@squared_hinge.defvjp
def _(g, y, input, target, reduction):
    z, t, op = _hinge_z(input, target)
    h = np.maximum(z, 0) * input.dtype.type(-2.0 / max(input.shape[-1], 1))
    return op.mul(op.mul(t, h), _seed(g, input.shape[:-1], reduction)[..., None])


squared_hinge.defcheck(_pair_check(squared_hinge, 1, " (Keras averages over the last axis)"))


def _cat_hinge_parts(input, target):
    op = _arith(2, input, target)
    v = np.asarray(op.mul(1 - target, input))  # (1 − y)·x: the true class contributes 0
    neg = v.max(axis=-1, keepdims=True)
    pos = np.asarray(op.sum(op.mul(target, input), axis=-1, keepdims=True))
    z = np.asarray(op.add(op.sub(neg, pos), 1))
    return v, neg, z, op


@loss(
    summary="Categorical hinge loss (Keras): the best wrong-class score minus the true-class "
    "score plus 1, floored at 0, for one-hot targets; a multi-class SVM loss.",
    formula="ℓₙ = max(0, 1 + max_c((1 − y_c)·x_c) − Σ_c y_c·x_c)",
    output_range="[0, inf)",
    params=(KERAS_REDUCTION,),
    source="keras.losses.categorical_hinge",
    kinks=(
        "1 + neg − pos = 0: half the gradient (jnp.maximum splits the tie)",
        "ties in max_c((1 − y_c)·x_c): the gradient is shared evenly among them (jnp.max)",
    ),
    notes=(
        "Keras order: (y_true, y_pred); here (input = scores, target = one-hot y_true).",
        "Keras quirk (ref §2.2 #28, RUN): the true class enters the max as 0, so when every "
        "score is negative it differs from the Crammer–Singer hinge: scores [−5, −1, −3] with "
        "class 1 give 2.0 here and 0 in optax.losses.multiclass_hinge_loss.",
        _KERAS_NOTE,
    ),
)
def categorical_hinge(input, target, reduction):
    _v, _neg, z, _op = _cat_hinge_parts(input, target)
    return _reduce(np.maximum(z[..., 0], 0), reduction, True)


@categorical_hinge.defvjp
def _(g, y, input, target, reduction):
    v, neg, z, op = _cat_hinge_parts(input, target)
    a = _tie_weight(z).astype(input.dtype)
    a *= _seed(g, input.shape[:-1], reduction)[..., None]
    grad = op.sub(op.mul(1 - target, _argmax_share(v, neg)), target)
    return op.mul(grad, a)


@categorical_hinge.defcheck
def _(params, inputs):
    _pair_check(categorical_hinge, 1, " (classes along the last axis)")(params, inputs)
    if inputs[0].shape[-1] == 0:  # Keras's max over no class raises too (jnp.max)
        raise InvalidArgumentError(
            f"inputs[0] (input): categorical_hinge needs at least one class along the last "
            f"axis, got shape {list(inputs[0].shape)}",
            field="inputs[0]",
        )


@categorical_hinge.defkinks
def _(h, input, target, **params):
    v, _neg, z, _op = _cat_hinge_parts(input, target)
    scale = 1 + np.abs(target).max(axis=-1, keepdims=True, initial=0)
    near = (np.abs(z) <= 2 * h * input.shape[-1] * scale) | _near_tie(v, 2 * h * scale)
    return (np.broadcast_to(near, input.shape),)


@loss(
    summary="Multi-class (Crammer–Singer) hinge loss (optax): how far the best wrong class, "
    "given a margin of 1, beats the true class; a multi-class SVM loss on scores.",
    formula="ℓ = max_j(s_j + [j ≠ y]) − s_y",
    inputs=(
        Input("input", doc="scores (..., C)"),
        Input("target", differentiable=False, kind="index", doc="class indices (...)"),
    ),
    output_range="[0, inf)",
    params=(OPTAX_REDUCTION,),
    source="optax.losses.multiclass_hinge_loss",
    kinks=("ties in max_j(s_j + [j ≠ y]): the gradient is shared evenly (jnp.max)",),
    notes=(
        "optax order: (scores, labels), as here.",
        "Gradient onehot(argmax_j(s_j + [j ≠ y])) − onehot(y): 0 when the argmax is y.",
        "Scores [−5, −1, −3] with class 1 give 0 (ref §2.2 #28, RUN), where Keras's "
        "categorical_hinge gives 2.0.",
        _OPTAX_NOTE,
    ),
)
def multiclass_hinge_loss(input, target, reduction):
    op = _arith(1, input)
    v = np.asarray(op.add(input, 1 - _onehot(target, input.shape[-1], input.dtype)))
    return _reduce(op.sub(v.max(axis=-1), _pick(input, target)), reduction, False)


@multiclass_hinge_loss.defvjp
def _(g, y, input, target, reduction):
    one = _onehot(target, input.shape[-1], input.dtype)
    v = np.asarray(_arith(1, input).add(input, 1 - one))
    grad = _argmax_share(v, v.max(axis=-1, keepdims=True))
    grad -= one
    grad *= _seed(g, target.shape, reduction)[..., None]
    return grad


multiclass_hinge_loss.defcheck(_label_check(multiclass_hinge_loss))


@multiclass_hinge_loss.defkinks
def _(h, input, target, **params):
    v = input + 1 - _onehot(target, input.shape[-1], input.dtype)
    return (np.broadcast_to(_near_tie(v, 2 * h), input.shape),)


@loss(
    summary="Binary perceptron loss (optax): max(0, −x·y) for labels ±1; zero once the "
    "prediction has the right sign, the perceptron's update rule as a loss.",
    formula="ℓ = max(0, −x·y)",
    output_range="[0, inf)",
    params=(OPTAX_REDUCTION,),
    source="optax.losses.perceptron_loss",
    elementwise=True,
    kinks=("x·y = 0: gradient −y/2 (jnp.maximum splits the tie)",),
    notes=(
        "optax order: (predictor_outputs, targets), as here; targets should be −1 or 1.",
        _OPTAX_NOTE,
    ),
)
def perceptron_loss(input, target, reduction):
    op = _arith(2, input, target)
    return _reduce(np.maximum(np.asarray(op.mul(np.negative(input), target)), 0), reduction, False)


@perceptron_loss.defvjp
def _(g, y, input, target, reduction):
    op = _arith(2, input, target)
    w = _tie_weight(np.asarray(op.mul(np.negative(input), target))).astype(input.dtype)
    return op.mul(op.mul(np.negative(target), w), _seed(g, input.shape, reduction))


perceptron_loss.defcheck(_pair_check(perceptron_loss))


@perceptron_loss.defkinks
def _(h, input, target, **params):
    return ((np.abs(input) <= h) & (target != 0),)


@loss(
    summary="Multi-class perceptron loss (optax): the best score minus the true class's "
    "score; zero once the true class wins.",
    formula="ℓ = max_j s_j − s_y",
    inputs=(
        Input("input", doc="scores (..., C)"),
        Input("target", differentiable=False, kind="index", doc="class indices (...)"),
    ),
    output_range="[0, inf)",
    params=(OPTAX_REDUCTION,),
    source="optax.losses.multiclass_perceptron_loss",
    kinks=("ties in max_j s_j: the gradient is shared evenly (jnp.max)",),
    notes=(
        "optax order: (scores, labels), as here.",
        "Gradient onehot(argmax s) − onehot(y).",
        _OPTAX_NOTE,
    ),
)
def multiclass_perceptron_loss(input, target, reduction):
    op = _arith(1, input)
    return _reduce(op.sub(input.max(axis=-1), _pick(input, target)), reduction, False)


@multiclass_perceptron_loss.defvjp
def _(g, y, input, target, reduction):
    grad = _argmax_share(input, input.max(axis=-1, keepdims=True))
    grad -= _onehot(target, input.shape[-1], input.dtype)
    grad *= _seed(g, target.shape, reduction)[..., None]
    return grad


multiclass_perceptron_loss.defcheck(_label_check(multiclass_perceptron_loss))


@multiclass_perceptron_loss.defkinks
def _(h, input, target, **params):
    return (np.broadcast_to(_near_tie(input, 2 * h), input.shape),)


# ---------------------------------------------------------------------------
# Focal and cross-entropy variants
# ---------------------------------------------------------------------------


def _focal_parts(x, y, gamma):
    """(σ(x), σ(−x), m = 1 − p_t, BCE-with-logits, ops); every piece is warning-free."""
    op = _arith(1, x, scale=16 * max(gamma, 1.0))
    s, r = _ops.sigmoid(x), _ops.sigmoid(-x)  # σ(−x), not 1 − σ(x): no cancellation
    m = s * (1 - y) + r * y  # 1 − p_t ∈ [0, 1] for y ∈ [0, 1]
    # −[y·log σ(x) + (1 − y)·log σ(−x)]: two non-negative softplus terms, no inf − inf
    ce = op.add(op.mul(1 - y, _ops.softplus(x)), op.mul(y, _ops.softplus(-x)))
    return s, r, m, np.asarray(ce), op


def _alpha_t(y, alpha):
    return alpha * y + (1 - alpha) * (1 - y)


@loss(
    summary="Sigmoid focal loss (torchvision, RetinaNet): binary cross-entropy on logits "
    "scaled by (1 − p_t)^γ to down-weight easy examples; for dense detection with extreme "
    "class imbalance.",
    formula="ℓ = α_t·(1 − p_t)^γ·BCEWithLogits(x, y), p_t = σ(x)·y + (1 − σ(x))·(1 − y), "
    "α_t = α·y + (1 − α)·(1 − y) (α < 0: α_t = 1)",
    inputs=(
        Input("input", doc="logits, any shape"),
        Input("target", differentiable=False, doc="labels in [0, 1], the input's shape"),
    ),
    output_range="[0, inf)",
    params=(
        Param(
            "alpha",
            "float",
            0.25,
            "Weight of the positive class (1 − alpha for the negative); < 0 disables it.",
            maximum=1.0,
        ),
        Param(
            "gamma",
            "float",
            2.0,
            "Focusing exponent of (1 − p_t); 0 gives (weighted) BCE.",
            minimum=0.0,
            maximum=FLOAT32_MAX,
        ),
        _reduction(
            "none",
            "'none' (torchvision's default): per-element losses; 'mean': their mean; "
            "'sum': their sum.",
        ),
    ),
    source="torchvision.ops.sigmoid_focal_loss",
    elementwise=True,
    notes=(
        "torchvision order: (inputs, targets), as here; defaults alpha=0.25, gamma=2, "
        "reduction='none'. optax.losses.sigmoid_focal_loss has no alpha by default; "
        "keras.losses.binary_focal_crossentropy applies alpha only with "
        "apply_class_balancing=True (ref §2.2 #31).",
        "Computed stably: 1 − p_t = σ(x)(1 − y) + σ(−x)·y and the BCE as softplus terms.",
        "Where 1 − p_t is exactly 0 (saturated logits) the gradient is its limit, 0; torch's "
        "autograd of the literal formula gives NaN there for gamma < 1.",
        "Targets outside [0, 1] (or NaN) are refused (torchvision does not check them; "
        "(1 − p_t)^γ is then not defined).",
    ),
)
def sigmoid_focal_loss(input, target, alpha, gamma, reduction):
    _s, _r, m, ce, op = _focal_parts(input, target, gamma)
    loss = op.mul(ce, np.power(m, gamma))
    if alpha >= 0:
        loss = op.mul(loss, _alpha_t(target, alpha))
    return _reduce(loss, reduction, False)


@sigmoid_focal_loss.defvjp
def _(g, y, input, target, alpha, gamma, reduction):
    s, r, m, ce, op = _focal_parts(input, target, gamma)
    mg = np.power(m, gamma)
    grad = (s - target) * mg  # ∂ce/∂x·m^γ
    if gamma != 0:
        # ce·γ·m^(γ−1)·∂m/∂x with ∂m/∂x = σ(x)σ(−x)(1 − 2y), written as m^γ·(σσ'/m)·…:
        # σ(x)σ(−x) ≤ m, so the ratio is ≤ 1 and m^(γ−1) (huge for tiny m) is never formed
        ratio = np.zeros_like(m)
        np.divide(s * r, m, out=ratio, where=m > 0)
        ratio *= mg
        ratio *= gamma * (1 - 2 * target)
        grad = op.add(grad, op.mul(ce, ratio))
    if alpha >= 0:
        grad = op.mul(grad, _alpha_t(target, alpha))
    return op.mul(grad, _seed(g, input.shape, reduction))


@sigmoid_focal_loss.defcheck
def _(params, inputs):
    _ops.same_shape(sigmoid_focal_loss, *inputs)
    t = inputs[1]
    if t.size and not (t.min() >= 0 and t.max() <= 1):  # NaN fails both
        raise InvalidArgumentError(
            "inputs[1] (target): expected labels in [0, 1] (no NaN)", field="inputs[1]"
        )


def _cfocal_parts(input, target, alpha, gamma, from_logits, label_smoothing):
    """Smoothed y, probabilities p, their sum S, o = p/S, c = clip(o, ε, 1 − ε), ops."""
    dtype = input.dtype
    c_count = input.shape[-1]
    y = target
    if label_smoothing:
        y = target * (1 - label_smoothing) + label_smoothing / max(c_count, 1)
    p = np.exp(_log_softmax(input)) if from_logits else input
    op = _arith(2, input, y, scale=1e9 * (1 + abs(alpha)) * (1 + gamma))
    s = np.asarray(op.sum(p, axis=-1, keepdims=True))
    if op is _safe.PLAIN and s.size and not (s != 0).all():
        op = _safe.QUIET  # p/S with S = 0: 0/0 or ±inf, quietly
    o = np.asarray(op.div(p, s))
    eps = dtype.type(KERAS_EPSILON)
    c = np.clip(o, eps, 1 - eps)
    return y, p, s, o, c, op


@loss(
    summary="Categorical focal cross-entropy (Keras): cross-entropy on class probabilities "
    "with each class's term scaled by α·(1 − p_c)^γ; multi-class classification with hard, "
    "rare classes.",
    formula="ℓₙ = −Σ_c α·(1 − p_c)^γ·y_c·log p_c, p = clip(ŷ / Σŷ, ε, 1 − ε), ε = 1e−7",
    inputs=(
        Input("input", doc="class probabilities (or logits with from_logits) (..., C)"),
        Input("target", differentiable=False, doc="one-hot or soft targets (..., C)"),
    ),
    output_range="[0, inf) for targets ≥ 0",
    params=(
        Param(
            "alpha",
            "float",
            0.25,
            "Weight of every class term (Keras: a scalar).",
            minimum=-FLOAT32_MAX,
            maximum=FLOAT32_MAX,
        ),
        Param(
            "gamma",
            "float",
            2.0,
            "Focusing exponent; 0 gives α·cross-entropy.",
            minimum=0.0,
            maximum=1e3,
        ),
        Param("from_logits", "bool", False, "The input holds logits (softmax applied first)."),
        Param(
            "label_smoothing",
            "float",
            0.0,
            "ε_ls: targets become y·(1 − ε_ls) + ε_ls/C.",
            minimum=0.0,
            maximum=1.0,
        ),
        KERAS_REDUCTION,
    ),
    source="keras.losses.categorical_focal_crossentropy",
    kinks=(
        "p_c = ε or 1 − ε (the clip's ends): half the gradient there (jnp.clip splits the "
        "tie), 0 outside",
    ),
    notes=(
        "Keras order: (y_true, y_pred); here (input = y_pred, target = y_true). The class "
        "axis is the last (Keras's axis=-1); alpha is a scalar (Keras also takes a list).",
        "The predictions are renormalised to sum to 1 before the clip (Keras).",
        _KERAS_NOTE,
    ),
)
def categorical_focal_crossentropy(
    input, target, alpha, gamma, from_logits, label_smoothing, reduction
):
    y, _p, _s, _o, c, op = _cfocal_parts(input, target, alpha, gamma, from_logits, label_smoothing)
    term = np.power(1 - c, gamma)  # in (0, 1]
    term *= np.log(c)
    term *= -alpha
    return _reduce(np.asarray(op.sum(op.mul(term, y), axis=-1)), reduction, True)


@categorical_focal_crossentropy.defvjp
def _(g, y_out, input, target, alpha, gamma, from_logits, label_smoothing, reduction):
    y, p, s, o, c, op = _cfocal_parts(input, target, alpha, gamma, from_logits, label_smoothing)
    eps = input.dtype.type(KERAS_EPSILON)
    one_m = 1 - c  # ≥ ε
    # ∂/∂c of −α(1 − c)^γ·log c, then jnp.clip's slope (1 inside, ½ at an end, 0 outside)
    du = gamma * np.power(one_m, gamma - 1) * np.log(c) - np.power(one_m, gamma) / c
    du *= alpha * _tie_weight(o, eps) * _tie_weight(-o, -(1 - eps))
    u = np.asarray(op.mul(du, y))
    # through o = p/S: ∂/∂p_j = (u_j − Σ_i u_i o_i)/S
    v = op.div(op.sub(u, op.sum(op.mul(u, o), axis=-1, keepdims=True)), s)
    v = np.asarray(op.mul(v, _seed(g, input.shape[:-1], reduction)[..., None]))
    if from_logits:
        v = np.asarray(op.mul(p, op.sub(v, op.sum(op.mul(v, p), axis=-1, keepdims=True))))
    return v


categorical_focal_crossentropy.defcheck(
    _pair_check(categorical_focal_crossentropy, 1, " (classes along the last axis)")
)


@categorical_focal_crossentropy.defkinks
def _(h, input, target, alpha, gamma, from_logits, label_smoothing, reduction):
    _y, _p, s, o, _c, _op = _cfocal_parts(input, target, alpha, gamma, from_logits, label_smoothing)
    with_s = np.abs(np.nan_to_num(np.asarray(s, np.float64), nan=1.0))
    tol = 4 * h * (1.0 if from_logits else input.shape[-1] / np.maximum(with_s, 1e-300))
    near = (np.abs(o - KERAS_EPSILON) <= tol) | (np.abs(o - (1 - KERAS_EPSILON)) <= tol)
    return (np.broadcast_to(near.any(axis=-1, keepdims=True), input.shape),)


@loss(
    summary="Poly-1 cross-entropy (optax, PolyLoss): softmax cross-entropy plus ε·(1 − p_t), "
    "a tunable first polynomial term; a drop-in replacement for classification CE.",
    formula="ℓ = −Σ_c y_c·log q_c + ε·Σ_c y_c·(1 − q_c), q = softmax(x)",
    inputs=(
        Input("input", doc="logits (..., C)"),
        Input("target", differentiable=False, doc="class probabilities (..., C)"),
    ),
    output_range="[0, inf) for ε ≥ −1 and probability targets",
    params=(
        Param(
            "epsilon",
            "float",
            2.0,
            "Coefficient of the first polynomial term (paper: 2 for ImageNet, −1 for detection).",
            minimum=-FLOAT32_MAX,
            maximum=FLOAT32_MAX,
        ),
        OPTAX_REDUCTION,
    ),
    source="optax.losses.poly_loss_cross_entropy",
    notes=(
        "optax order: (logits, labels), as here; the class axis is the last (optax's axis=-1).",
        "optax's 1 − p_t is Σ_c y_c(1 − q_c): equal to 1 − Σ y_c q_c only when the targets "
        "sum to 1; nnfunc computes optax's.",
        "Gradient q·(Σy + ε·p_t) − y − ε·q⊙y, p_t = Σ y_c q_c.",
        "A −inf logit with a 0 label gives NaN (0·−inf), as optax's softmax_cross_entropy.",
        _OPTAX_NOTE,
    ),
)
def poly_loss_cross_entropy(input, target, epsilon, reduction):
    op = _arith(2, input, target, scale=1 + abs(epsilon))
    logq = _log_softmax(input)
    ce = op.sum(op.mul(target, logq), axis=-1)
    pt1 = op.sum(op.mul(target, 1 - np.exp(logq)), axis=-1)
    return _reduce(op.sub(op.mul(pt1, epsilon), ce), reduction, False)


@poly_loss_cross_entropy.defvjp
def _(g, y, input, target, epsilon, reduction):
    op = _arith(2, input, target, scale=1 + abs(epsilon))
    q = np.exp(_log_softmax(input))
    big_y = op.sum(target, axis=-1, keepdims=True)
    pt = op.sum(op.mul(target, q), axis=-1, keepdims=True)
    coef = op.sub(op.add(big_y, op.mul(pt, epsilon)), op.mul(target, epsilon))
    grad = op.sub(op.mul(q, coef), target)
    return op.mul(grad, _seed(g, input.shape[:-1], reduction)[..., None])


poly_loss_cross_entropy.defcheck(
    _pair_check(poly_loss_cross_entropy, 1, " (classes along the last axis)")
)


def _gce_power(p: np.ndarray, e: float) -> np.ndarray:
    """p^e for p ≥ 0 (0^e: 0 for e > 0, inf for e < 0), NaN for p < 0 or NaN, quietly."""
    out = np.full(p.shape, np.nan, p.dtype)
    np.power(p, e, out=out, where=p > 0)
    np.copyto(out, np.inf if e < 0 else 0.0, where=p == 0)
    return out


@loss(
    summary="Generalized cross-entropy (Keras, Zhang & Sabuncu 2018): (1 − p_y^q)/q on the "
    "true class's probability; noise-robust, between cross-entropy (q → 0) and MAE (q = 1).",
    formula="ℓₙ = (1 − p_{n,y_n}^q) / q",
    inputs=(
        Input("input", doc="class probabilities (..., C)"),
        Input("target", differentiable=False, kind="index", doc="class indices (...)"),
    ),
    output_range="[0, 1/q] for probabilities",
    params=(
        Param(
            "q",
            "float",
            0.5,
            "In (0, 1): towards 0 it behaves like cross-entropy, towards 1 like MAE.",
            minimum=0.0,
            maximum=1.0,
            exclusive_minimum=True,
            exclusive_maximum=True,
        ),
        KERAS_REDUCTION,
    ),
    aliases=("gce",),
    source="keras.losses.CategoricalGeneralizedCrossEntropy",
    notes=(
        "Keras order: (y_true, y_pred); here (input = y_pred, target = y_true indices).",
        "q defaults to 0.5 as the Keras class (the function keras.losses."
        "categorical_generalized_cross_entropy requires it).",
        "∂/∂p_y = −p_y^(q−1): −inf at p_y = 0; a negative probability gives NaN.",
        "Keras's per-sample losses are reduced over samples; 'mean' of none is 0.",
    ),
)
def categorical_generalized_cross_entropy(input, target, q, reduction):
    p = _pick(input, target)
    loss = 1 - _gce_power(p, q)
    loss /= input.dtype.type(q)
    return _reduce(loss, reduction, True)


@categorical_generalized_cross_entropy.defvjp
def _(g, y, input, target, q, reduction):
    col = np.negative(_gce_power(_pick(input, target), q - 1))
    col = _safe.QUIET.mul(col, _seed(g, target.shape, reduction))  # −inf·0 is NaN, quietly
    grad = np.zeros(input.shape, input.dtype)
    np.put_along_axis(grad, target[..., None], col[..., None], axis=-1)
    return grad


categorical_generalized_cross_entropy.defcheck(_label_check(categorical_generalized_cross_entropy))


# ---------------------------------------------------------------------------
# Similarity and overlap losses
# ---------------------------------------------------------------------------


def _cos_parts(x, y, inverse):
    """c = Σ x̂·ŷ over the last axis with x̂ = x·inv(‖x‖²); inv and its tie weight for x;
    and the ops. ``inverse(n2) -> (inv, w)`` is the framework's clamped 1/‖v‖."""
    op = _arith(2, x, y)
    nx2 = np.asarray(op.sum(op.mul(x, x), axis=-1, keepdims=True))
    ny2 = np.asarray(op.sum(op.mul(y, y), axis=-1, keepdims=True))
    ix, w = inverse(nx2)
    iy, _ = inverse(ny2)
    if not (np.isfinite(ix).all() and np.isfinite(iy).all()):
        op = _safe.QUIET  # 0·inf for a zero vector without a floor: NaN, quietly
    xn = np.asarray(op.mul(x, ix))
    yn = np.asarray(op.mul(y, iy))
    c = np.asarray(op.sum(op.mul(xn, yn), axis=-1, keepdims=True))
    return c, xn, yn, ix, w, nx2, op


def _cos_grad(g, c, xn, yn, ix, w, op, reduction):
    """∂c/∂x = inv·(ŷ − w·c·x̂), times the upstream gradient of −c (or 1 − c)."""
    grad = op.mul(ix, op.sub(yn, op.mul(op.mul(c, w), xn)))
    return op.mul(grad, np.negative(_seed(g, c.shape[:-1], reduction))[..., None])


def _rsqrt(n2: np.ndarray) -> np.ndarray:
    root = np.sqrt(n2)
    inv = np.full(n2.shape, np.inf, n2.dtype)
    np.divide(1, root, out=inv, where=root != 0)  # NaN stays NaN
    return inv


def _keras_inverse(n2):
    """keras.ops.normalize: min(rsqrt(‖v‖²), 1/ε)."""
    raw = _rsqrt(n2)
    cap = n2.dtype.type(1 / KERAS_EPSILON)
    return np.minimum(raw, cap), ((raw < cap) + 0.5 * (raw == cap)).astype(n2.dtype)


def _optax_inverse(epsilon):
    def inverse(n2):
        """optax: 1/√max(‖v‖², ε), and jnp.clip's slope in ‖v‖²."""
        return _rsqrt(np.maximum(n2, epsilon)), _tie_weight(n2, epsilon).astype(n2.dtype)

    return inverse


def _cos_kinks(h, x, radius):
    xc = np.clip(np.asarray(x, np.float64), -1e100, 1e100)  # only small norms matter here
    r = np.sqrt(np.sum(xc * xc, axis=-1, keepdims=True))
    near = np.abs(r - radius) <= 2 * h * math.sqrt(max(x.shape[-1], 1))
    return (np.broadcast_to(near, x.shape),)


@loss(
    summary="Negative cosine similarity (Keras): −cos of the angle between prediction and "
    "target vectors, −1 when they point the same way; for matching directions, not lengths.",
    formula="ℓₙ = −Σ_i x̂_i·ŷ_i, v̂ = v·min(1/‖v‖, 1/ε), ε = 1e−7",
    output_range="[-1, 1]",
    params=(KERAS_REDUCTION,),
    source="keras.losses.cosine_similarity",
    kinks=("‖x‖ = ε = 1e−7: the norm's clamp; half its gradient term there (jnp.minimum)",),
    notes=(
        "Keras order: (y_true, y_pred); here (input = y_pred, target = y_true); vectors "
        "along the last axis (Keras's axis=-1).",
        "The sign is Keras's: identical vectors give −1 (ref §2.2 #35, RUN). A zero vector "
        "gives 0 (its normalisation is clamped at 1/ε).",
        "Named cosine_similarity_loss: torch's F.cosine_similarity returns +cos and is not a loss.",
        "Keras's per-sample losses are reduced over samples; 'mean' of none is 0.",
    ),
)
def cosine_similarity_loss(input, target, reduction):
    c = _cos_parts(input, target, _keras_inverse)[0]
    return _reduce(np.negative(c[..., 0]), reduction, True)


@cosine_similarity_loss.defvjp
def _(g, y, input, target, reduction):
    c, xn, yn, ix, w, _n2, op = _cos_parts(input, target, _keras_inverse)
    return _cos_grad(g, c, xn, yn, ix, w, op, reduction)


cosine_similarity_loss.defcheck(
    _pair_check(cosine_similarity_loss, 1, " (vectors along the last axis)")
)


@cosine_similarity_loss.defkinks
def _(h, input, target, **params):
    return _cos_kinks(h, input, KERAS_EPSILON)


@loss(
    summary="Cosine distance (optax): 1 − cos of the angle between prediction and target "
    "vectors, in [0, 2]; for matching directions, not lengths.",
    formula="ℓ = 1 − Σ_i (x_i/‖x‖_ε)·(y_i/‖y‖_ε), ‖v‖_ε = √max(‖v‖², ε)",
    output_range="[0, 2]",
    params=(
        Param(
            "epsilon",
            "float",
            0.0,
            "Floor of the squared norms (optax: so a zero vector's norm is √ε).",
            minimum=0.0,
            maximum=FLOAT32_MAX,
        ),
        OPTAX_REDUCTION,
    ),
    source="optax.losses.cosine_distance",
    kinks=("‖x‖² = ε: the floor; half its gradient term there (jnp.clip splits the tie)",),
    notes=(
        "optax order: (predictions, targets), as here; vectors along the last axis.",
        "With the default epsilon = 0 a zero vector gives NaN (0/0; ref §2.2 #35, RUN).",
        "optax.losses.cosine_similarity is 1 minus this loss.",
        _OPTAX_NOTE,
    ),
)
def cosine_distance(input, target, epsilon, reduction):
    c, *_rest, op = _cos_parts(input, target, _optax_inverse(epsilon))
    return _reduce(op.sub(1, c[..., 0]), reduction, False)


@cosine_distance.defvjp
def _(g, y, input, target, epsilon, reduction):
    c, xn, yn, ix, w, _n2, op = _cos_parts(input, target, _optax_inverse(epsilon))
    return _cos_grad(g, c, xn, yn, ix, w, op, reduction)


cosine_distance.defcheck(_pair_check(cosine_distance, 1, " (vectors along the last axis)"))


@cosine_distance.defkinks
def _(h, input, target, epsilon, **params):
    return _cos_kinks(h, input, math.sqrt(epsilon))


def _overlap_sums(x, y):
    op = _arith(2, x, y)
    return np.asarray(op.sum(op.mul(y, x))), op


@loss(
    summary="Soft Dice loss (Keras): 1 − 2·|X∩Y|/(|X| + |Y|) over the whole tensor; for "
    "segmentation with small foreground regions.",
    formula="ℓ = 1 − 2·Σ y·x / (Σ y + Σ x + ε), ε = 1e−7, sums over every element",
    output_range="(-inf, 1]; [0, 1] for x, y in [0, 1]",
    source="keras.losses.dice",
    notes=(
        "Keras order: (y_true, y_pred); here (input = y_pred, target = y_true).",
        "Keras's default axis=None sums over everything, the batch included, so the result "
        "is one number and there is no reduction; Keras's axis tuple is not offered.",
        "y = [1, 0, 1], x = [.8, .1, .6] gives 0.2 (ref §2.2 #36, RUN).",
    ),
)
def dice(input, target):
    i, op = _overlap_sums(input, target)
    den = op.add(op.add(op.sum(target), op.sum(input)), KERAS_EPSILON)
    return np.asarray(op.sub(1, op.div(op.mul(2, i), den)), dtype=input.dtype)


@dice.defvjp
def _(g, y, input, target):
    i, op = _overlap_sums(input, target)
    den = op.add(op.add(op.sum(target), op.sum(input)), KERAS_EPSILON)
    d = op.div(op.mul(2, i), den)
    # ∂(2I/S)/∂x = (2y − D)/S
    return op.mul(op.div(op.sub(op.mul(2, target), d), den), np.negative(g))


dice.defcheck(_pair_check(dice))


@loss(
    summary="Tversky loss (Keras): 1 − TP/(TP + α·Σy(1−x) + β·Σx(1−y)), a Dice loss with "
    "separate weights for the two kinds of error; for imbalanced segmentation.",
    formula="ℓ = 1 − I/(I + α·Σ y(1 − x) + β·Σ x(1 − y) + ε), I = Σ y·x, ε = 1e−7",
    output_range="(-inf, 1]; [0, 1] for x, y in [0, 1] and α, β ≥ 0",
    params=(
        Param(
            "alpha",
            "float",
            0.5,
            "Weight of Σ y(1 − x), the false negatives (Keras calls it the false-positive "
            "weight; see the notes).",
            minimum=-FLOAT32_MAX,
            maximum=FLOAT32_MAX,
        ),
        Param(
            "beta",
            "float",
            0.5,
            "Weight of Σ x(1 − y), the false positives.",
            minimum=-FLOAT32_MAX,
            maximum=FLOAT32_MAX,
        ),
    ),
    source="keras.losses.Tversky",
    notes=(
        "Keras order: (y_true, y_pred); here (input = y_pred, target = y_true).",
        "Keras 3.15 quirk, followed here: alpha multiplies Σ y(1 − x), the false negatives, "
        "although its docstring calls alpha the false-positive weight. y = [1, 0, 1], "
        "x = [.8, .1, .6] with alpha=1, beta=0 gives 0.30 (ref §2.2 #37, RUN).",
        "alpha = beta = 0.5 is Keras's dice. Sums over every element (Keras's axis=None), "
        "so the result is one number and there is no reduction.",
    ),
)
def tversky(input, target, alpha, beta):
    t, _den, _dden, op = _tversky_parts(input, target, alpha, beta)
    return np.asarray(op.sub(1, t), dtype=input.dtype)


def _tversky_parts(x, y, alpha, beta):
    i, op = _overlap_sums(x, y)
    fn = op.sum(op.mul(1 - x, y))  # Keras's "fp"
    fp = op.sum(op.mul(x, 1 - y))  # Keras's "fn"
    den = op.add(op.add(op.add(i, op.mul(fn, alpha)), op.mul(fp, beta)), KERAS_EPSILON)
    dden = op.add(op.mul(y, 1 - alpha), op.mul(1 - y, beta))  # ∂den/∂x
    return op.div(i, den), den, dden, op


@tversky.defvjp
def _(g, y, input, target, alpha, beta):
    t, den, dden, op = _tversky_parts(input, target, alpha, beta)
    # ∂(I/den)/∂x = (y − T·∂den)/den
    return op.mul(op.div(op.sub(target, op.mul(t, dden)), den), np.negative(g))


tversky.defcheck(_pair_check(tversky))


def _gdice_parts(input, target, smooth, apply_softmax, ignore_background):
    x, t = input, target
    c = x.shape[-1]
    p = x
    if apply_softmax:  # optax: sigmoid for one channel, softmax otherwise
        p = _ops.sigmoid(x) if c == 1 else np.exp(_log_softmax(x))
    freq = t.reshape(-1, c).sum(axis=0, dtype=t.dtype)
    op = _arith(2, x, t, scale=1e7 * (1 + abs(smooth)))
    w = np.asarray(op.div(1, op.add(op.mul(freq, freq), 1e-7)))  # 1/(f² + 1e−7)
    w = np.asarray(op.mul(op.div(w, op.sum(w)), c))  # normalised to mean 1
    batch = x.shape[0] if x.ndim >= 2 else 1
    p3 = p.reshape(batch, -1, c)
    t3 = t.reshape(batch, -1, c)
    inter = np.asarray(op.sum(op.mul(p3, t3), axis=1))
    ps = np.asarray(op.sum(p3, axis=1))
    ts = np.asarray(op.sum(t3, axis=1))
    num = op.add(inter, smooth)
    den = op.add(
        op.add(op.add(inter, op.mul(op.sub(ps, inter), 0.5)), op.mul(op.sub(ts, inter), 0.5)),
        smooth,
    )
    if op is _safe.PLAIN and not (np.asarray(den) != 0).all():
        op = _safe.QUIET
    coeff = np.asarray(op.div(num, den))
    keep = np.ones(c, bool)
    if ignore_background and c > 1:
        keep[0] = False
    return p, p3, t3, w, num, den, coeff, keep, op


@loss(
    summary="Generalized Dice loss (optax, Sudre et al. 2017): per-class soft Dice weighted "
    "by the inverse squared class frequency, averaged; multi-class segmentation with "
    "rare classes.",
    formula="ℓ = mean_{b,c}(w_c·(1 − (I_bc + s)/(½P_bc + ½T_bc + s))), w_c ∝ 1/(f_c² + 1e−7) "
    "with mean 1, sums over the axes between the first and the last",
    inputs=(
        Input("input", doc="logits (or probabilities) (..., C); (N, H, ..., C) for images"),
        Input("target", differentiable=False, doc="one-hot targets, the input's shape"),
    ),
    output_range="(-inf, inf); [0, C) for probabilities and one-hot targets",
    params=(
        Param(
            "smooth",
            "float",
            1.0,
            "Added to the numerator and denominator.",
            minimum=-FLOAT32_MAX,
            maximum=FLOAT32_MAX,
        ),
        Param(
            "apply_softmax",
            "bool",
            True,
            "The input holds logits: softmax over the classes (sigmoid when C = 1).",
        ),
        Param(
            "ignore_background",
            "bool",
            False,
            "Leave class 0 out of the mean (when C > 1).",
        ),
    ),
    source="optax.losses.multiclass_generalized_dice_loss",
    notes=(
        "optax order: (predictions, targets), as here. f_c = Σ of targets of class c over all "
        "but the last axis; the class weights get no gradient.",
        "optax's dice_loss sums over axes 1 … ndim−2 (height, width, …): for (N, C) input "
        "every element is its own Dice term.",
        "apply_softmax=false requires probabilities that sum to 1 over the classes "
        "(rtol 1e−5), as optax checks.",
        "One number (optax takes the mean over batch and classes): no reduction.",
    ),
)
def generalized_dice_loss(input, target, smooth, apply_softmax, ignore_background):
    *_, w, _num, _den, coeff, keep, op = _gdice_parts(
        input, target, smooth, apply_softmax, ignore_background
    )
    terms = np.asarray(op.mul(op.sub(1, coeff), w))[:, keep]
    if terms.size == 0:
        return np.full((), np.nan, input.dtype)  # jnp.mean of nothing
    return np.asarray(op.sum(terms) / input.dtype.type(terms.size), dtype=input.dtype)


@generalized_dice_loss.defvjp
def _(g, y, input, target, smooth, apply_softmax, ignore_background):
    p, _p3, t3, w, num, den, coeff, keep, op = _gdice_parts(
        input, target, smooth, apply_softmax, ignore_background
    )
    m = coeff[:, keep].size
    if m == 0:
        return np.zeros(input.shape, input.dtype)
    dcoeff = np.where(keep, -w, 0).astype(input.dtype) * (g / input.dtype.type(m))
    # ∂coeff/∂p = (t·den − num·(½ + 0·t))/den² with α = β = ½ (∂den/∂p = α + t(1 − α − β))
    part = op.div(
        op.sub(op.mul(t3, den[:, None]), op.mul(num[:, None], 0.5)), op.mul(den, den)[:, None]
    )
    gp = np.asarray(op.mul(part, dcoeff)).reshape(input.shape)
    if not apply_softmax:
        return gp
    if input.shape[-1] == 1:
        return np.asarray(op.mul(gp, p * (1 - p)))
    return np.asarray(op.mul(p, op.sub(gp, op.sum(op.mul(gp, p), axis=-1, keepdims=True))))


@generalized_dice_loss.defcheck
def _(params, inputs):
    _pair_check(generalized_dice_loss, 1, " (classes along the last axis)")(params, inputs)
    x = inputs[0]
    if x.shape[-1] == 0:
        raise InvalidArgumentError(
            "inputs[0] (input): expected at least one class along the last axis",
            field="inputs[0]",
        )
    if not params["apply_softmax"] and x.size:
        s = x.sum(axis=-1, dtype=np.float64)
        if not np.all(np.abs(s - 1) <= 1e-8 + 1e-5):  # jnp.allclose(s, 1, rtol=1e-5)
            raise InvalidArgumentError(
                "inputs[0] (input): with apply_softmax=false, expected probabilities summing "
                f"to 1 over the classes, got sums in [{s.min():.6g}, {s.max():.6g}]",
                field="inputs[0]",
            )


# ---------------------------------------------------------------------------
# Sparsemax, ranking and divergence losses
# ---------------------------------------------------------------------------


def _sparsemax_parts(input):
    """(p = sparsemax over the last axis, z = x − max clipped at −2, row max, bad rows).

    Sparsemax is shift-invariant and its threshold τ is ≥ max − 1, so entries below
    max − 2 never enter the support: clipping them there changes nothing and keeps the
    cumulative sums small. Rows with NaN or +inf, or only −inf, are bad (NaN out).
    """
    x = input
    m = x.max(axis=-1, keepdims=True)
    bad = ~np.isfinite(m)
    if bad.any():
        x = np.where(bad, 0, x)
        m = np.where(bad, 0, m)
    z = np.full(x.shape, -2.0, x.dtype)
    np.subtract(x, m, out=z, where=x > m - 2)  # x > m − 2: no overflow, −inf excluded
    zs = -np.sort(-z, axis=-1)
    cs = np.cumsum(zs, axis=-1, dtype=z.dtype)
    k = np.arange(1, z.shape[-1] + 1, dtype=z.dtype)
    support = (1 + k * zs > cs).sum(axis=-1, keepdims=True)  # ≥ 1: the max always is
    tau = (np.take_along_axis(cs, support - 1, axis=-1) - 1) / support.astype(z.dtype)
    p = np.maximum(z - tau, 0)
    return p, z, m, bad


@loss(
    summary="Multi-class sparsemax loss (optax, Martins & Astudillo 2016): the Fenchel–Young "
    "loss whose prediction is sparsemax; zero exactly when sparsemax(s) puts all mass on y.",
    formula="ℓ = Σ_j p_j·(s_j − s_y) + ½(1 − ‖p‖²), p = sparsemax(s)",
    inputs=(
        Input("input", doc="scores (..., C)"),
        Input("target", differentiable=False, kind="index", doc="class indices (...)"),
    ),
    output_range="[0, inf)",
    params=(OPTAX_REDUCTION,),
    source="optax.losses.multiclass_sparsemax_loss",
    notes=(
        "optax order: (scores, labels), as here. optax vmaps over the first axis of (N, C) "
        "scores; nnfunc takes any (..., C).",
        "Gradient sparsemax(s) − onehot(y): continuous, so the loss has no kinks (its second "
        "derivative jumps where the support changes).",
        "optax's binary sparsemax_loss (sparse_plus of ±logit) is not this function.",
        "A row holding NaN or +inf, or only −inf, gives NaN; −inf at the true class gives inf.",
        _OPTAX_NOTE,
    ),
)
def multiclass_sparsemax_loss(input, target, reduction):
    p, z, m, bad = _sparsemax_parts(input)
    op = _arith(1, input)
    gap = np.asarray(op.sub(m[..., 0], _pick(np.where(bad, 0, input), target)))  # s_max − s_y
    mass = p.sum(axis=-1, dtype=p.dtype)
    # ⟨p, s − s_y⟩ = ⟨p, z⟩ + (s_max − s_y)·Σp, z = s − s_max on the support
    loss = np.sum(p * z, axis=-1, dtype=p.dtype) + 0.5 * (1 - np.sum(p * p, axis=-1, dtype=p.dtype))
    loss = np.asarray(op.add(loss, op.mul(gap, mass)))
    np.copyto(loss, np.nan, where=bad[..., 0])
    return _reduce(loss, reduction, False)


@multiclass_sparsemax_loss.defvjp
def _(g, y, input, target, reduction):
    p, _z, _m, bad = _sparsemax_parts(input)
    p -= _onehot(target, input.shape[-1], input.dtype)
    np.copyto(p, np.nan, where=bad)
    p *= _seed(g, target.shape, reduction)[..., None]
    return p


multiclass_sparsemax_loss.defcheck(_label_check(multiclass_sparsemax_loss))


@loss(
    summary="Ranking softmax loss (optax, listwise): cross-entropy between the softmax of "
    "the items' scores and their relevance labels; for learning to rank.",
    formula="ℓ = −Σ_i y_i·log softmax(s)_i over each list (the last axis), y ← y·weights",
    inputs=(
        Input("input", doc="scores (..., list_size)"),
        Input("target", differentiable=False, doc="relevance labels (..., list_size)"),
    ),
    output_range="[0, inf) for labels ≥ 0",
    params=(
        Param(
            "weights",
            "tensor",
            None,
            "Per-item weights multiplying the labels, broadcast to their shape (None: 1).",
            nullable=True,
        ),
        MEAN_REDUCTION,
    ),
    source="optax.losses.ranking_softmax_loss",
    notes=(
        "optax order: (logits, labels), as here; the default reduction is optax's "
        "reduce_fn=jnp.mean over lists. optax's where= mask is not offered.",
        "Labels are not normalised: the gradient is softmax(s)·Σy − y.",
        "A −inf score with a 0 label gives NaN (0·−inf), as optax.",
    ),
)
def ranking_softmax_loss(input, target, weights, reduction):
    y = target if weights is None else target * weights
    op = _arith(2, input, y)
    per = np.asarray(op.sum(op.mul(y, _log_softmax(input)), axis=-1))
    return _reduce(np.negative(per), reduction, False)


@ranking_softmax_loss.defvjp
def _(g, y_out, input, target, weights, reduction):
    y = target if weights is None else target * weights
    op = _arith(2, input, y)
    q = np.exp(_log_softmax(input))
    grad = op.sub(op.mul(q, op.sum(y, axis=-1, keepdims=True)), y)
    return op.mul(grad, _seed(g, input.shape[:-1], reduction)[..., None])


@ranking_softmax_loss.defcheck
def _(params, inputs):
    _pair_check(ranking_softmax_loss, 1, " (lists along the last axis)")(params, inputs)
    w = params["weights"]
    if w is not None:
        try:
            ok = np.broadcast_shapes(w.shape, inputs[1].shape) == inputs[1].shape
        except ValueError:
            ok = False
        if not ok:
            raise InvalidArgumentError(
                f"parameters.weights: expected a shape that broadcasts to the labels' "
                f"{list(inputs[1].shape)}, got {list(w.shape)}",
                field="parameters.weights",
            )


def _gkl_op(input, target):
    op = _arith(2, input, target)
    n = max(input.size, 1)
    limit = math.log(_safe.bound(input.dtype, n))  # e^x stays within the sum's share
    if op is _safe.PLAIN and input.size and not float(input.max()) <= limit:
        op = _safe.QUIET
    return op


@loss(
    summary="Generalized KL divergence (optax): KL(y‖p) + Σ(p − y) for unnormalised "
    "non-negative measures, the Bregman divergence of x·log x − x; p given as log p.",
    formula="ℓ = Σ_last [y·(log y − x) + e^x − y], x = log p, y·log y = 0 at y = 0",
    inputs=(
        Input("input", doc="log-predictions (..., d)"),
        Input("target", differentiable=False, doc="non-negative targets (..., d)"),
    ),
    output_range="[0, inf) for targets ≥ 0",
    params=(OPTAX_REDUCTION,),
    aliases=("convex_kl_divergence",),
    source="optax.losses.generalized_kl_divergence",
    notes=(
        "optax order: (log_predictions, targets), as here and torch's kl_div; sums over the "
        "last axis. convex_kl_divergence is optax's deprecated alias.",
        "Gradient e^x − y. A negative target gives NaN; a 0 target with x = ±inf gives NaN "
        "(0·inf), as optax.",
        _OPTAX_NOTE,
    ),
)
def generalized_kl_divergence(input, target, reduction):
    op = _gkl_op(input, target)
    logy = np.full(target.shape, np.nan, target.dtype)
    np.log(target, out=logy, where=target > 0)
    np.copyto(logy, 0, where=target == 0)  # optax: where(y == 0, 0, log y)
    terms = op.add(op.mul(target, op.sub(logy, input)), op.sub(op.exp(input), target))
    return _reduce(np.asarray(op.sum(terms, axis=-1)), reduction, False)


@generalized_kl_divergence.defvjp
def _(g, y, input, target, reduction):
    op = _gkl_op(input, target)
    return op.mul(op.sub(op.exp(input), target), _seed(g, input.shape[:-1], reduction)[..., None])


generalized_kl_divergence.defcheck(
    _pair_check(generalized_kl_divergence, 1, " (summed over the last axis)")
)
