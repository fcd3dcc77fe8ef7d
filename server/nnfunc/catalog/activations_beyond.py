"""Activations beyond torch: from jax, keras and the papers (issue 7, part 3).

Each entry follows the framework that defines it (its parameter names, defaults and the
gradient its autodiff returns at kinks) and names it in ``source``; entries from papers
name the paper. Conventions shared with the rest of the catalog:
- No NumPy warning on any input: every product that may meet ∞·0, every square or
  exponential that may overflow, goes through a guarded path (a cheap range check picks
  the plain path for ordinary inputs).
- Functions along an axis follow along_axis.py's edge policy per slice: a -inf entry is
  fine; a slice holding NaN or +inf, or only -inf, gives NaN (logmeanexp: its limit).

Not added, on purpose: jax's gelu (default approximate=True) is torch's gelu with
approximate='tanh', and jax's and keras's celu equal torch's celu at every point,
kink included (gradient 1 at 0), so neither is a distinct function.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import special

from nnfunc.catalog import _ops, _safe
from nnfunc.catalog.activations import gelu as _gelu_spec
from nnfunc.catalog.activations import relu as _relu_spec
from nnfunc.catalog.spec import FLOAT32_MAX, REQUIRED, Param, activation, near_points
from nnfunc.errors import InvalidArgumentError

_LOG2 = math.log(2.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_TINY = {np.dtype(t): float(np.finfo(t).smallest_subnormal) for t in (np.float32, np.float64)}


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _flat(fn):
    """Run an elementwise kernel on 1-d views (so that 0-d inputs may be written in
    place and indexed) and give the result the input's shape."""

    @functools.wraps(fn)
    def run(*arrays, **params):
        shape = np.shape(arrays[-1])
        out = fn(*(np.reshape(a, -1) for a in arrays), **params)
        return np.reshape(out, shape)

    return run


def _big(dtype: np.dtype) -> float:
    return float(np.finfo(dtype).max)


def _within(a: np.ndarray, lo: float, hi: float) -> bool:
    """Every element in [lo, hi] (NaN is not): two reductions, compared as Python floats."""
    return a.size == 0 or (lo <= float(a.min()) and float(a.max()) <= hi)


def _scale(a: np.ndarray, c: float) -> np.ndarray:
    """c·a for a scalar c, as IEEE gives it (±inf on overflow, NaN for 0·inf), quietly."""
    c = float(c)
    if c == 0:
        out = np.zeros_like(a)
        out[~np.isfinite(a)] = np.nan  # 0·inf and 0·NaN
        return out
    limit = _big(a.dtype) / abs(c) if abs(c) > 1 else math.inf
    if limit == math.inf or _within(a, -limit, limit):
        return a * c
    out = np.copysign(np.inf, a) * math.copysign(1.0, c)
    np.multiply(a, c, out=out, where=~(np.abs(a) > limit))  # NaN stays in the product
    return out


def _square(a: np.ndarray) -> np.ndarray:
    """a², +inf where it overflows, quietly."""
    root = math.sqrt(_big(a.dtype))
    if _within(a, -root, root):
        return a * a
    out = np.full(a.shape, np.inf, dtype=a.dtype)
    np.square(a, out=out, where=~(np.abs(a) > root))  # NaN squares to NaN
    return out


def _axis(axis: int | None, ndim: int, field: str = "parameters.axis") -> int | None:
    return None if axis is None else _ops.normalize_dim(axis, ndim, field)


def _as_rows(x: np.ndarray, axis: int | None) -> tuple[np.ndarray, int]:
    """(z, ax): the input as an array whose slices along ax are the function's slices
    (flattened for axis=None; a 0-d input is one slice of one element)."""
    if axis is None or x.ndim == 0:
        return x.reshape(-1), 0
    return x, axis % x.ndim


def _check_axis(name: str):
    def check(params, inputs) -> None:
        if params[name] is not None:
            _ops.normalize_dim(params[name], inputs[0].ndim, f"parameters.{name}")

    return check


# ---------------------------------------------------------------------------
# From jax and keras: elementwise
# ---------------------------------------------------------------------------


def _squareplus_root(x: np.ndarray, b: float) -> np.ndarray:
    """√(x² + b) without overflow: the plain form when x² + b fits, else hypot."""
    limit = math.sqrt(max(_big(x.dtype) - b, 0.0) / 2)
    if _within(x, -limit, limit):
        h = x * x
        h += b
        return np.sqrt(h, out=h)
    return np.hypot(np.clip(x, -_big(x.dtype) / 4, _big(x.dtype) / 4), math.sqrt(b))


@activation(
    summary="A smooth ReLU built from a square root instead of exponentials, cheap on "
    "any hardware: (x + √(x² + b))/2.",
    formula="squareplus(x) = (x + √(x² + b)) / 2",
    params=(
        Param(
            "b",
            "float",
            4.0,
            "Smoothness: the curvature near 0 (> 0; b = 0 would be relu).",
            minimum=0.0,
            exclusive_minimum=True,
            maximum=FLOAT32_MAX,
        ),
    ),
    output_range="(0, inf); squareplus(0) = √b/2",
    source="jax.nn.squareplus",
    notes=(
        "Gradient ½(1 + x/√(x² + b)) = squareplus(x)/√(x² + b), computed from the output.",
        "For x < 0 it is evaluated as b/(2(√(x² + b) − x)): jax's (x + √(x² + b))/2 "
        "cancels (float32 squareplus(-1e4) is 0 in jax, 1e-4 here; catalog-reference §1.3).",
        "keras.activations.squareplus (same b=4) calls jax's on the JAX backend.",
        "arXiv:2112.11687 (Barron, 2021).",
    ),
    elementwise=True,
)
@_flat
def squareplus(input, *, b):
    x = input
    h = _squareplus_root(x, b)
    d = np.abs(x)
    d *= 0.5
    d += 0.5 * h  # D = (√(x² + b) + |x|)/2 >= √b/2 > 0, with no cancellation
    return np.where(x >= 0, d, (0.25 * b) / d)  # x < 0: b/(2(h − x)) = (b/4)/D


@squareplus.defvjp
@_flat
def _(g, y, input, *, b):
    # f' = ½(1 + x/h) = f/h; f <= h always, and min(f, h) keeps inf/inf out at x = +inf.
    h = _squareplus_root(input, b)
    d = np.minimum(y, h)
    d /= h
    d *= g
    return d


@activation(
    summary="A piecewise-quadratic softplus that is exactly 0 below -1 and exactly x "
    "above 1: a sparse, C¹ smooth ReLU.",
    formula="sparse_plus(x) = 0 (x <= -1); (x + 1)²/4 (-1 < x < 1); x (x >= 1)",
    output_range="[0, inf)",
    source="jax.nn.sparse_plus",
    notes=(
        "C¹: the gradient (0, (x + 1)/2, 1) is continuous, so there is no kink; jax gives "
        "0 at -1 and 1 at 1 (catalog-reference §1.3 #33). Its derivative is sparse_sigmoid.",
        "keras.activations.sparse_plus calls jax's on the JAX backend.",
        "The gradient at a NaN input is NaN, as jax's.",
    ),
    elementwise=True,
)
@_flat
def sparse_plus(input):
    u = np.clip(input + 1.0, 0.0, 2.0)
    u *= 0.5  # sparse_sigmoid(x): 0, (x + 1)/2, 1
    u *= u
    return np.where(input >= 1.0, input, u)


@sparse_plus.defvjp
@_flat
def _(g, y, input):
    d = np.clip(input + 1.0, 0.0, 2.0)  # 2·sparse_sigmoid(x): 0 at -1, 2 at 1 (jax's)
    d *= 0.5
    d *= g
    return d


@activation(
    summary="A hard sigmoid reaching exactly 0 and 1: ½·clip(x + 1, 0, 2); the "
    "derivative of sparse_plus, used in Fenchel-Young (sparse) losses.",
    formula="sparse_sigmoid(x) = ½·clip(x + 1, 0, 2)",
    output_range="[0, 1]",
    source="jax.nn.sparse_sigmoid",
    kinks=("x = ±1: gradient 0.25 (jax: jnp.clip splits the gradient 0.5/0.5 at a tie)",),
    notes=(
        "torch has no sparse_sigmoid; its hardtanh-style kernels would give 0 at the kinks.",
        "keras.activations.sparse_sigmoid calls jax's on the JAX backend.",
        "The gradient at a NaN input is 0, as jax's (clip's tie test fails on NaN).",
    ),
    elementwise=True,
)
@_flat
def sparse_sigmoid(input):
    y = np.clip(input + 1.0, 0.0, 2.0)
    y *= 0.5
    return y


@sparse_sigmoid.defvjp
@_flat
def _(g, y, input):
    t = input + 1.0  # compared as jax compares it: the clip acts on x + 1
    d = ((t >= 0) & (t <= 2)).astype(input.dtype)  # 1 inside, at the ties too
    d += (t > 0) & (t < 2)  # 2 strictly inside, 1 at a tie
    d *= 0.25
    d *= g
    return d


sparse_sigmoid.defkinks(near_points(lambda: (-1.0, 1.0)))


@activation(
    summary="log(1 − e^(−x)) for x > 0, accurate everywhere: the log-probability of "
    "the complement of an event whose log-probability is −x.",
    formula="log1mexp(x) = log(1 − e^(−x)), x > 0",
    output_range="(-inf, 0); -inf at x = 0, NaN for x < 0",
    source="jax.nn.log1mexp",
    notes=(
        "Mächler's branch at log 2: log(−expm1(−x)) below it, log1p(−e^(−x)) above it.",
        "Domain: jax documents x < 0 as undefined and returns NaN there; nnfunc does the "
        "same (elementwise: one bad element does not refuse the whole tensor).",
        "The VJP is jax's custom_jvp, g/expm1(x), everywhere: +inf at x = +0 (-inf at -0), "
        "-1 at x = -inf, and a finite value for x < 0 although the value there is NaN.",
    ),
    elementwise=True,
)
@_flat
def log1mexp(input):
    x = input
    # Both branches on clipped arguments (no log of 0 or of a negative), then one select.
    far = np.log1p(-np.exp(-np.maximum(x, _LOG2)))  # right for x >= log 2; NaN stays NaN
    near = np.log(-np.expm1(-np.clip(x, _TINY[x.dtype], _LOG2)))  # -expm1 in (0, ½]
    y = np.where(x < _LOG2, near, far)
    if x.size and not float(x.min()) > 0:  # zeros or negatives (or NaN, already NaN)
        y[x == 0] = -np.inf
        y[x < 0] = np.nan
    return y


@log1mexp.defvjp
@_flat
def _(g, y, input):
    x = input
    # 1/expm1(x) without overflow: with u = e^(-|x|) and v = 1 − u = -expm1(-|x|),
    # it is u/v for x > 0 and -1/v for x < 0.
    v = -np.expm1(-np.abs(x))
    num = np.where(x > 0, np.exp(-np.abs(x)), -1.0)
    zero = v == 0  # x = ±0: 1/(±0)
    if zero.any():
        v[zero] = 1.0
        num[zero] = np.copysign(np.inf, x[zero])
    num /= v
    return _safe.product(g, num)


def _exp_limit(dtype: np.dtype) -> float:
    """The largest x of ``dtype`` whose e^x is finite in it (with one ulp of margin)."""
    v = dtype.type(math.log(_big(dtype)))
    while True:
        try:
            if math.exp(float(v)) <= _big(dtype):
                return float(np.nextafter(v, dtype.type(0)))
        except OverflowError:
            pass
        v = np.nextafter(v, dtype.type(0))


_EXP_LIMIT = {np.dtype(t): _exp_limit(np.dtype(t)) for t in (np.float32, np.float64)}


def _exp(x: np.ndarray) -> np.ndarray:
    """e^x, +inf where it overflows, quietly."""
    limit = _EXP_LIMIT[x.dtype]
    if _within(x, -math.inf, limit):
        return np.exp(x)
    y = np.exp(np.minimum(x, limit))
    np.copyto(y, np.inf, where=x > limit)
    return y


@activation(
    summary="The exponential e^x as an activation: positive outputs, e.g. rates or "
    "scales predicted by a network.",
    formula="exponential(x) = e^x",
    output_range="(0, inf); overflows to inf above ≈ 88.72 (float32) or 709.78 (float64)",
    source="keras.activations.exponential",
    notes=("The gradient is the output itself (g·e^x); 0·inf gives NaN, quietly.",),
    elementwise=True,
)
@_flat
def exponential(input):
    return _exp(input)


@exponential.defvjp
@_flat
def _(g, y, input):
    return _safe.product(g, y)


def _keras_relu_points(negative_slope, max_value, threshold):
    points = {threshold}
    if max_value is not None:
        points |= {max_value, 0.0}
    return tuple(points)


@activation(
    summary="Keras's generalized ReLU: a leaky slope below a threshold, the identity "
    "above it, and an optional cap (relu, leaky_relu, relu6 and thresholded ReLU in one).",
    formula="keras_relu(x) = negative_slope·(x − threshold) if x < threshold; "
    "0 if x = threshold; else min(x, max_value), clipped at 0 when max_value is given",
    params=(
        Param(
            "negative_slope",
            "float",
            0.0,
            "Slope below the threshold (keras's default 0).",
            minimum=-FLOAT32_MAX,
            maximum=FLOAT32_MAX,
        ),
        Param(
            "max_value",
            "float",
            None,
            "Cap on the output (None: no cap; >= 0).",
            minimum=0.0,
            nullable=True,
        ),
        Param(
            "threshold",
            "float",
            0.0,
            "Below it the leaky branch applies.",
            minimum=-FLOAT32_MAX,
            maximum=FLOAT32_MAX,
        ),
    ),
    output_range="(-inf, inf); [0, max_value] when negative_slope = 0 and max_value is set",
    source="keras.activations.relu (JAX backend)",
    kinks=(
        "x = threshold: gradient 0 (jax's relu'(0) = 0 and keras's x > threshold mask); "
        "but with negative_slope != 0, max_value None and threshold 0 keras calls "
        "leaky_relu, whose gradient at 0 is 1 (jax)",
        "x = threshold != 0: the output jumps (from 0 to threshold): keras keeps x only "
        "where x > threshold",
        "output = max_value: gradient 0.5 (jnp.clip splits ties), except max_value = 6 "
        "with threshold 0, which keras computes with relu6 (gradient 0 at 0 and at 6)",
        "x = 0 when threshold < 0 and max_value is set: gradient 0.5 (the clip's lower tie)",
    ),
    notes=(
        "keras relu(x, 0.1, 2, 0.5) at -4 gives -0.45 (catalog-reference §1.3 #40).",
        "At x = -inf with threshold != 0 keras computes (-inf)·0 = NaN for the kept "
        "part; nnfunc returns the limit (negative_slope·(-inf), or 0).",
        "The gradient at a NaN input is 0 (jax's masks are false there), or "
        "negative_slope in the leaky_relu case (jax's where(x >= 0, x, slope·x)).",
        "Named keras_relu because torch's relu is already in the catalog.",
    ),
    elementwise=True,
)
@_flat
def keras_relu(input, *, negative_slope, max_value, threshold):
    x, s, m, t = input, negative_slope, max_value, threshold
    if s != 0 and m is None and t == 0:  # keras calls leaky_relu: where(x >= 0, x, s·x)
        return np.where(x >= 0, x, _scale(x, s))
    if t != 0:
        kept = np.where(x <= t, 0.0, x).astype(x.dtype, copy=False)
    elif m == 6:
        kept = np.clip(x, 0.0, 6.0)  # relu6; keras then skips its own clip
    else:
        kept = np.maximum(x, 0)
    if m is not None and not (t == 0 and m == 6):
        kept = np.clip(kept, 0.0, m)
    if s == 0:
        return kept
    return np.where(x < t, _scale(_below(x, t), s), kept)


def _below(x: np.ndarray, t: float) -> np.ndarray:
    """min(x − t, 0), with -inf where x − t overflows (float32: -3e38 − 1e38), quietly."""
    if t == 0:
        return np.minimum(x, 0)
    lo = -_big(x.dtype) + max(t, 0.0)  # x below it: x − t < -max
    if _within(x, lo, math.inf):
        return np.minimum(x - t, 0)
    out = np.full(x.shape, -np.inf, dtype=x.dtype)
    np.subtract(x, t, out=out, where=~(x < lo))  # NaN subtracts to NaN
    return np.minimum(out, 0, out=out)


@keras_relu.defvjp
@_flat
def _(g, y, input, *, negative_slope, max_value, threshold):
    x, s, m, t = input, negative_slope, max_value, threshold
    if s != 0 and m is None and t == 0:
        d = np.where(x >= 0, 1.0, s).astype(x.dtype, copy=False)
        d *= g
        return d
    if t != 0:
        kept = np.where(x <= t, 0.0, x).astype(x.dtype, copy=False)
        d = (x > t).astype(x.dtype)
    elif m == 6:
        kept, d = np.clip(x, 0.0, 6.0), ((x > 0) & (x < 6)).astype(x.dtype)
    else:
        kept, d = np.maximum(x, 0), (x > 0).astype(x.dtype)
    if m is not None and not (t == 0 and m == 6):
        # d/dA clip(A, 0, m) in jax: 1 strictly inside, 0.5 at either tie, 0 outside
        d *= 0.5 * (((kept >= 0) & (kept <= m)).astype(x.dtype) + ((kept > 0) & (kept < m)))
    if s != 0:
        d += s * (x < t)  # d/dx of -s·relu(t − x): s below the threshold, 0 at it
    d *= g
    return d


keras_relu.defkinks(near_points(_keras_relu_points))


# ---------------------------------------------------------------------------
# From jax and keras: along an axis
# ---------------------------------------------------------------------------


def _move_last(x: np.ndarray, ax: int) -> np.ndarray:
    return np.moveaxis(x, ax, -1)


def _sparsemax_rows(d: np.ndarray) -> np.ndarray:
    """Projection of each row (last axis) of d onto the simplex; d <= 0, max 0."""
    n = d.shape[-1]
    z = -np.sort(-d, axis=-1)  # descending
    cs = np.cumsum(z, axis=-1)
    k = np.arange(1, n + 1, dtype=d.dtype)
    support = 1 + k * z > cs  # a prefix of the sorted row (Martins & Astudillo, eq. 2)
    size = support.sum(axis=-1, keepdims=True)  # >= 1: the max satisfies 1 > 0
    tau = np.take_along_axis(cs, size - 1, axis=-1)
    tau -= 1
    tau /= size.astype(d.dtype)
    return np.maximum(d - tau, 0)


def _shift_rows(x: np.ndarray, ax: int, floor: float):
    """(d, bad): x − max(x) along ax (never overflowing), clipped below at ``floor``
    (entries that far below the max are outside any support), and the bad slices."""
    d, bad = _ops.shifted(x, ax, negate=False)
    np.maximum(d, floor, out=d)
    return d, bad


@activation(
    summary="Euclidean projection onto the probability simplex: like softmax, but "
    "it returns exact zeros (sparse attention, multi-label outputs).",
    formula="sparsemax(x) = argmin over the simplex of ‖p − x‖² = max(x − τ, 0), "
    "τ such that the outputs sum to 1",
    params=(
        Param(
            "axis",
            "int",
            -1,
            "The axis along which the outputs sum to 1 (keras's default -1).",
        ),
    ),
    output_range="[0, 1]; each slice along axis sums to 1, with exact zeros",
    source="keras.activations.sparsemax",
    kinks=(
        "an element at the support's edge (x_i = τ): the VJP uses the support {y > 0}, "
        "the paper's Jacobian diag(s) − s sᵀ/|S|, which gives that element 0",
    ),
    notes=(
        "Sort-based exact algorithm (Martins & Astudillo 2016, arXiv:1602.02068): "
        "τ = (Σ_{j<=k} z_(j) − 1)/k for the largest k with 1 + k·z_(k) > Σ_{j<=k} z_(j).",
        "VJP: s ⊙ (g − Σ_S g/|S|) with s the support indicator.",
        "keras sparsemax([1, 2, 3]) = [0, 0, 1] (catalog-reference §1.3 #35). The keras "
        "JAX-backend source read for this entry computes τ from the sum of all the "
        "support's cumulative sums, which agrees only for a support of one element "
        "(not run here); nnfunc computes the exact projection.",
        "Shift-invariant: computed on x − max(x), so huge inputs are fine. Per slice: a "
        "-inf entry gets 0; NaN, +inf or all -inf gives NaN (softmax's policy).",
        "optax offers the same map as optax.projections.projection_simplex.",
    ),
)
def sparsemax(input, axis):
    if input.size == 0:
        return np.empty_like(input)
    z, ax = _as_rows(input, axis)
    d, bad = _shift_rows(z, ax, -2.0)  # τ >= max − 1, so entries below max − 2 stay out
    y = np.moveaxis(_sparsemax_rows(_move_last(d, ax)), -1, ax)
    if bad is not None:
        np.copyto(y, np.nan, where=bad)
    return y.reshape(input.shape)


sparsemax.defcheck(_check_axis("axis"))


def _support_vjp(g: np.ndarray, y: np.ndarray, s: np.ndarray, axis: int | None) -> np.ndarray:
    """s ⊙ g − s·⟨s, g⟩/Σs along axis: the VJP of sparsemax (s the support indicator)
    and of entmax15 (s = √y)."""
    if y.size == 0:
        return np.zeros_like(y)
    gz, ax = _as_rows(g, axis)
    sz, _ = _as_rows(s, axis)
    total = sz.sum(axis=ax, keepdims=True)
    inner = np.sum(gz * sz, axis=ax, keepdims=True)
    np.divide(inner, total, out=inner, where=total > 0)  # bad slices: NaN already
    out = gz - inner
    out *= sz
    return out.reshape(y.shape)


@sparsemax.defvjp
def _(g, y, input, axis):
    s = (y > 0).astype(y.dtype)
    out = _support_vjp(g, y, s, axis)
    if not _ops.all_finite(y):
        np.copyto(out, np.nan, where=np.isnan(y))
    return out


def _slice_any(mask: np.ndarray, x: np.ndarray, axis: int | None) -> np.ndarray:
    """mask widened to whole slices along axis (any element marks its slice)."""
    z, ax = _as_rows(mask, axis)
    return np.broadcast_to(z.any(axis=ax, keepdims=True), z.shape).reshape(x.shape)


@sparsemax.defkinks
def _(eps, input, axis):
    if input.size == 0:
        return (np.zeros(input.shape, dtype=bool),)
    z, ax = _as_rows(input, axis)
    d, _ = _ops.shifted(z, ax, negate=False)
    y = np.moveaxis(_sparsemax_rows(_move_last(np.maximum(d, -2.0), ax)), -1, ax)
    tau = np.max(d - y, axis=ax, keepdims=True)  # = d − y on the support
    near = np.abs(d - tau) <= 2 * eps  # moving any element by eps moves τ by <= eps
    return (_slice_any(near.reshape(input.shape), input, axis),)


def _keep_shape(x: np.ndarray, axis: int | None, keepdims: bool) -> tuple:
    if axis is None or x.ndim == 0:
        return tuple(1 for _ in x.shape) if keepdims else ()
    ax = axis % x.ndim
    shape = list(x.shape)
    if keepdims:
        shape[ax] = 1
    else:
        del shape[ax]
    return tuple(shape)


@activation(
    summary="The log of the mean of exponentials along an axis, computed stably: a "
    "smooth maximum that is the log of an average of likelihoods (IWAE bounds, ensembles).",
    formula="logmeanexp(x) = log((1/n)·Σᵢ e^(xᵢ)) = logsumexp(x) − log n",
    params=(
        Param(
            "axis",
            "int",
            None,
            "The axis reduced; None (jax's default) reduces every axis.",
            nullable=True,
        ),
        Param("keepdims", "bool", False, "Keep the reduced axis with size 1 (jax's keepdims)."),
    ),
    output_range="[min(x), max(x)]; the input's shape without the reduced axis",
    source="jax.nn.logmeanexp",
    notes=(
        "Max-shifted: m + log(Σ e^(x − m)/n) with m = max(x), so [1000, 1000] gives 1000.",
        "The VJP spreads g with the softmax weights of the slice.",
        "Per slice: all -inf gives -inf and +inf gives +inf (the limits, as "
        "logsumexp), NaN gives NaN; the gradient of such a slice is NaN. An empty slice "
        "is NaN (the log of a mean of nothing).",
        "jax's where= mask and tuple axes are not offered.",
    ),
)
def logmeanexp(input, axis, keepdims):
    x = input
    shape = _keep_shape(x, axis, keepdims)
    z, ax = _as_rows(x, axis)
    n = z.shape[ax]
    if n == 0 or z.size == 0:
        return np.full(shape, np.nan if n == 0 else 0.0, dtype=x.dtype)
    d, _bad = _ops.shifted(z, ax, negate=False)
    s = np.exp(d, out=d).sum(axis=ax, keepdims=True)  # >= 1: the max's own term is e^0
    y = np.log(s)
    y -= math.log(n)  # in [-log n, 0]
    y += z.max(axis=ax, keepdims=True)  # NaN, ±inf slices: log(n) − log(n) + their max
    return y.reshape(shape)


logmeanexp.defcheck(_check_axis("axis"))


@logmeanexp.defvjp
def _(g, y, input, axis, keepdims):
    x = input
    if x.size == 0:
        return np.zeros_like(x)
    z, ax = _as_rows(x, axis)
    e, bad = _ops.shifted(z, ax, negate=False)
    np.exp(e, out=e)
    e /= e.sum(axis=ax, keepdims=True)
    e *= np.reshape(g, _keep_shape(z, ax, True))
    if bad is not None:
        np.copyto(e, np.nan, where=bad)
    return e.reshape(x.shape)


def _standardize_parts(z: np.ndarray, ax: int, epsilon: float, algorithm: str):
    """(c, den, unscale, bad) with standardize = c/den and 1/√(var + eps) = unscale/den.

    Ordinary slices are computed as they are. When a square or a sum could overflow,
    each slice is first scaled by a power of two 2^-e that brings it into [-1, 1] (exact),
    and eps by 2^-2e: the quotient is unchanged. Slices with NaN or ±inf are bad (NaN).
    """
    n = z.shape[ax]
    limit = math.sqrt(_big(z.dtype) / (4 * n))
    unscale: float | np.ndarray = 1.0
    bad: np.ndarray | None = None
    eps = epsilon
    if not _within(z, -limit, limit):
        top = np.max(np.abs(z), axis=ax, keepdims=True)
        bad = ~np.isfinite(top)
        if not bad.any():
            bad = None
        _, e = np.frexp(np.where(np.isfinite(top), top, 1.0))
        np.maximum(e, 0, out=e)  # only scale down: 2^-e of a tiny slice could overflow
        z = np.ldexp(np.where(np.isfinite(top), z, 0.0), -e).astype(z.dtype, copy=False)
        eps = np.ldexp(np.full(e.shape, epsilon, dtype=z.dtype), -2 * e)
        unscale = np.ldexp(np.ones(e.shape, dtype=z.dtype), -e)
    m = z.mean(axis=ax, keepdims=True)
    c = z - m
    if algorithm == "stable":
        var = np.mean(c * c, axis=ax, keepdims=True)
    else:  # jax's "fast": E[x²] − E[x]², clipped at 0
        var = np.mean(z * z, axis=ax, keepdims=True)
        var -= m * m
        np.maximum(var, 0, out=var)
    var += eps
    den = np.sqrt(var, out=var)
    return c, den, unscale, bad


def _reciprocal(num, den: np.ndarray) -> np.ndarray:
    """num/den on the reduced (per-slice) shape, NaN where den is 0 (jax's 0·rsqrt(0) is
    NaN there): one division per slice, then a multiply per element."""
    out = np.full(den.shape, np.nan, dtype=den.dtype)
    return np.divide(num, den, out=out, where=den > 0)


@activation(
    summary="Subtracts the mean and divides by the standard deviation along an axis: "
    "layer normalisation without the learned scale and shift.",
    formula="standardize(x) = (x − mean(x)) / √(var(x) + epsilon)",
    params=(
        Param(
            "axis",
            "int",
            -1,
            "The axis normalised; None normalises over every axis (jax's default -1).",
            nullable=True,
        ),
        Param(
            "epsilon",
            "float",
            1e-5,
            "Added to the variance (jax's default 1e-5; >= 0).",
            minimum=0.0,
            maximum=FLOAT32_MAX,
        ),
        Param(
            "algorithm",
            "str",
            "fast",
            "Variance: 'fast' = E[x²] − E[x]² clipped at 0 (jax's default, can cancel), "
            "'stable' = E[(x − E[x])²] (two passes).",
            choices=("fast", "stable"),
        ),
    ),
    output_range="(-inf, inf); each slice has mean 0 and variance var/(var + epsilon)",
    source="jax.nn.standardize",
    notes=(
        "VJP (layer norm's): r·(g − mean(g) − y·mean(g·y)) with r = 1/√(var + epsilon), "
        "the same for both algorithms (they are one function in exact arithmetic).",
        "Prefer algorithm='stable' when |mean| ≫ std: 'fast' loses the variance to "
        "cancellation (jax's docstring says so).",
        "Huge inputs are scaled by a power of two per slice first, so nothing overflows; "
        "a slice holding NaN or ±inf gives NaN; epsilon = 0 on a constant slice gives "
        "NaN (0/0), as jax's 0·rsqrt(0).",
        "jax's mean=, variance= and where= arguments and tuple axes are not offered.",
    ),
)
def standardize(input, axis, epsilon, algorithm):
    if input.size == 0:
        return np.empty_like(input)
    z, ax = _as_rows(input, axis)
    c, den, _unscale, bad = _standardize_parts(z, ax, epsilon, algorithm)
    y = c
    y *= _reciprocal(1.0, den)
    if bad is not None:
        np.copyto(y, np.nan, where=bad)
    return y.reshape(input.shape)


standardize.defcheck(_check_axis("axis"))


@standardize.defvjp
def _(g, y, input, axis, epsilon, algorithm):
    if input.size == 0:
        return np.zeros_like(input)
    z, ax = _as_rows(input, axis)
    gz = g.reshape(z.shape)
    yz = y.reshape(z.shape)
    _c, den, unscale, bad = _standardize_parts(z, ax, epsilon, algorithm)
    # |y| <= √n, so y·anything finite never meets inf·0; NaN slices stay NaN quietly.
    out = gz - gz.mean(axis=ax, keepdims=True)
    out -= yz * np.mean(gz * yz, axis=ax, keepdims=True)
    out *= _reciprocal(unscale, den)
    if bad is not None:
        np.copyto(out, np.nan, where=bad)
    return out.reshape(input.shape)


# ---------------------------------------------------------------------------
# From papers: elementwise
# ---------------------------------------------------------------------------


def _swish_parts(x: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """(z, σ(z)) with z = β·x, x clipped at ±800/|β| where σ is exactly 0 or 1 anyway,
    so that β·x never overflows."""
    if beta == 0:
        return np.zeros_like(x), np.full(x.shape, 0.5, dtype=x.dtype)
    c = 800.0 / abs(beta) if abs(beta) >= 800.0 / _big(x.dtype) else _big(x.dtype)
    z = np.clip(x, -c, c)
    z *= beta
    return z, _ops.sigmoid(z)


def _swish(x: np.ndarray, beta: float) -> np.ndarray:
    if beta == 0:
        return 0.5 * x
    _, s = _swish_parts(x, beta)
    c = 800.0 / abs(beta) if abs(beta) >= 800.0 / _big(x.dtype) else _big(x.dtype)
    # σ(βx) is exactly 0 beyond 800/|β| on one side: clip x there (keeps ∞·0 out).
    s *= np.maximum(x, -c) if beta > 0 else np.minimum(x, c)
    return s


def _swish_grad(x: np.ndarray, beta: float) -> np.ndarray:
    """σ(βx)(1 + βx(1 − σ(βx)))."""
    if beta == 0:
        return np.full(x.shape, 0.5, dtype=x.dtype)
    z, s = _swish_parts(x, beta)
    d = 1 - s
    d *= z
    d += 1
    d *= s
    return d


@activation(
    summary="Swish with a slope parameter: x·σ(βx); β = 1 is silu, β → ∞ tends to "
    "relu, β ≈ 1.702 approximates gelu.",
    formula="swish_beta(x) = x·σ(βx)",
    params=(
        Param(
            "beta",
            "float",
            1.0,
            "The slope β of the sigmoid gate (learnable in the paper; any real).",
            minimum=-FLOAT32_MAX,
            maximum=FLOAT32_MAX,
        ),
    ),
    output_range="[≈ -0.2785/β, inf) for β > 0",
    source="paper: Ramachandran, Zoph & Le 2017, arXiv:1710.05941 (Swish)",
    notes=(
        "Gradient σ(βx)(1 + βx(1 − σ(βx))); ∂/∂β = x²σ(βx)(1 − σ(βx)) is not returned "
        "(β is a parameter here, not an input).",
        "Not jax.nn.swish or keras's swish: those are silu (β = 1), registered as silu's "
        "alias 'swish'.",
        "The gradient at a NaN input is NaN.",
    ),
    elementwise=True,
)
@_flat
def swish_beta(input, *, beta):
    return _swish(input, beta)


@swish_beta.defvjp
@_flat
def _(g, y, input, *, beta):
    d = _swish_grad(input, beta)
    d *= g
    return d


@activation(
    summary="The square of relu, relu(x)²: the Primer feed-forward activation, a "
    "C¹ ReLU with a quadratic positive branch.",
    formula="squared_relu(x) = max(0, x)²",
    output_range="[0, inf)",
    source="paper: So et al. 2021, arXiv:2109.08668 (Primer)",
    notes=(
        "C¹: the gradient 2·max(0, x) is continuous (0 at x = 0), so there is no kink.",
        "The gradient at a NaN input is NaN.",
    ),
    elementwise=True,
)
@_flat
def squared_relu(input):
    return _square(np.maximum(input, 0))


@squared_relu.defvjp
@_flat
def _(g, y, input):
    return _safe.product(g, _scale(np.maximum(input, 0), 2.0))


_STAR_S = 2 / math.sqrt(5)  # 1/std of relu(x)² for x ~ N(0, 1): Var = 3/2 − 1/4 = 5/4
_STAR_B = -1 / math.sqrt(5)  # -s·E[relu(x)²] = -s/2


@activation(
    summary="Scaled and shifted squared ReLU, s·relu(x)² + b, whose output has mean 0 and "
    "variance 1 for standard normal input (MetaFormer baselines).",
    formula="star_relu(x) = scale·max(0, x)² + bias",
    params=(
        Param(
            "scale",
            "float",
            _STAR_S,
            "s; the paper's fixed value 2/√5 ≈ 0.8944 (learnable in its code, initialised to 1).",
            minimum=-FLOAT32_MAX,
            maximum=FLOAT32_MAX,
        ),
        Param(
            "bias",
            "float",
            _STAR_B,
            "b; the paper's fixed value -1/√5 ≈ -0.4472 (learnable in its code, initialised to 0).",
            minimum=-FLOAT32_MAX,
            maximum=FLOAT32_MAX,
        ),
    ),
    output_range="[bias, inf) for scale > 0",
    source="paper: Yu et al. 2022, arXiv:2210.13452 (MetaFormer baselines, StarReLU)",
    notes=(
        "The defaults make the output standard for x ~ N(0, 1): E[relu(x)²] = 1/2 and "
        "Var[relu(x)²] = 5/4, so scale = 1/√(5/4) = 2/√5 and bias = -scale/2 = -1/√5.",
        "C¹: the gradient 2·scale·max(0, x) is 0 at x = 0, so there is no kink.",
    ),
    elementwise=True,
)
@_flat
def star_relu(input, *, scale, bias):
    y = _scale(_square(np.maximum(input, 0)), scale)
    y += bias
    return y


@star_relu.defvjp
@_flat
def _(g, y, input, *, scale, bias):
    return _safe.product(g, _scale(np.maximum(input, 0), 2.0 * scale))


def _trig_arg(x: np.ndarray, w: float) -> np.ndarray:
    """w·x with x clipped so that |w·x| <= max/2 (±inf becomes finite, its sine defined;
    beyond that a float's ulp exceeds 2π anyway)."""
    big = _big(x.dtype) / 2
    c = big / abs(w) if abs(w) > 1 else big
    t = np.clip(x, -c, c)
    t *= w
    return t


@activation(
    summary="x + sin²(ax)/a: a monotone activation with a periodic bump, which lets a "
    "network extrapolate periodic signals (audio, time series).",
    formula="snake(x) = x + sin²(a·x)/a",
    params=(
        Param(
            "a",
            "float",
            1.0,
            "The frequency a (> 0, learnable per channel in the paper).",
            minimum=1e-12,
            maximum=FLOAT32_MAX,
        ),
    ),
    output_range="(-inf, inf)",
    source="paper: Liu Ziyin, Hartwig & Ueda 2020, arXiv:2006.08195 (Snake)",
    notes=(
        "Gradient 1 + sin(2ax), in [0, 2]: monotone, with flat points where sin(2ax) = -1.",
        "snake(±inf) = ±inf; the gradient there has no limit and is NaN.",
        "a below 1e-12 is refused: sin²(ax)/a ≈ a·x² is then invisible next to x.",
    ),
    elementwise=True,
)
@_flat
def snake(input, *, a):
    s = np.sin(_trig_arg(input, a))
    s *= s
    s /= a
    s += input
    return s


@snake.defvjp
@_flat
def _(g, y, input, *, a):
    t = _trig_arg(input, a)
    d = np.sin(t)
    d *= np.cos(t)
    d *= 2
    d += 1  # 1 + sin(2ax), as 1 + 2·sin(ax)·cos(ax): 2a·x may not fit
    if not _within(input, -math.inf, math.inf) and input.size:  # ±inf (NaN is NaN)
        d[np.isinf(input)] = np.nan
    d *= g
    return d


@activation(
    summary="sin(ω₀x): the periodic activation of SIREN networks, which fit images, "
    "audio and signed distance fields together with their derivatives.",
    formula="sine(x) = sin(w0·x)",
    params=(
        Param(
            "w0",
            "float",
            30.0,
            "The frequency ω₀ (the paper's 30 for the first layer).",
            minimum=-FLOAT32_MAX,
            maximum=FLOAT32_MAX,
        ),
    ),
    output_range="[-1, 1]",
    source="paper: Sitzmann et al. 2020, arXiv:2006.09661 (SIREN)",
    notes=(
        "Gradient w0·cos(w0·x).",
        "sine(±inf) is NaN, as torch.sin(inf), and so is its gradient.",
    ),
    elementwise=True,
)
@_flat
def sine(input, *, w0):
    y = np.sin(_trig_arg(input, w0))
    if not _within(input, -math.inf, math.inf) and input.size:
        y[np.isinf(input)] = np.nan
    return y


@sine.defvjp
@_flat
def _(g, y, input, *, w0):
    d = np.cos(_trig_arg(input, w0))
    d *= w0
    if not _within(input, -math.inf, math.inf) and input.size:
        d[np.isinf(input)] = np.nan
    d *= g
    return d


def _isrlu_factor(x: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(xn, u): xn = min(x, 0) clipped where u = 1/√(1 + α·xn²) no longer changes the
    product xn·u, and u itself (1 for x >= 0)."""
    big = _big(x.dtype)
    root = math.sqrt(alpha)
    limit = math.sqrt(big / 2 / max(alpha, 1.0))
    xn = np.minimum(x, 0)
    if _within(xn, -limit, 0.0):
        u = xn * xn
        u *= alpha
        u += 1
        return xn, 1 / np.sqrt(u, out=u)
    c = big / root / 4 if root > 1 else big / 4
    np.maximum(xn, -c, out=xn)  # xn·u has converged to -1/√α long before -c
    return xn, 1 / np.hypot(1.0, root * xn)


@activation(
    summary="Inverse square root linear unit: the identity for x >= 0 and "
    "x/√(1 + αx²) below, an ELU-like curve without exponentials.",
    formula="isrlu(x) = x (x >= 0); x/√(1 + alpha·x²) (x < 0)",
    params=(
        Param(
            "alpha",
            "float",
            1.0,
            "alpha >= 0: the negative branch saturates at -1/√alpha.",
            minimum=0.0,
            maximum=FLOAT32_MAX,
        ),
    ),
    output_range="(-1/√alpha, inf)",
    source="paper: Carlile et al. 2017, arXiv:1710.09967 (ISRLU)",
    notes=(
        "C¹ at 0 (the gradient (1 + αx²)^(-3/2) tends to 1), so there is no kink.",
        "alpha = 0 is the identity.",
        "The gradient at a NaN input is NaN.",
    ),
    elementwise=True,
)
@_flat
def isrlu(input, *, alpha):
    if alpha == 0:
        return input.copy()
    xn, u = _isrlu_factor(input, alpha)
    u *= xn  # x/√(1 + αx²) below 0, exactly 0 above
    u += np.maximum(input, 0)
    return u


@isrlu.defvjp
@_flat
def _(g, y, input, *, alpha):
    if alpha == 0:
        return g.copy()
    _, u = _isrlu_factor(input, alpha)
    d = u * u
    d *= u  # u³ = (1 + αx²)^(-3/2), and 1 for x >= 0 (NaN at NaN)
    d *= g
    return d


@activation(
    summary="x·erf(ln(1 + e^x)): a smooth, self-regularised ReLU-like activation in the "
    "mish family (log-Softplus ERror Function).",
    formula="serf(x) = x·erf(ln(1 + e^x))",
    output_range="[≈-0.3, inf)",
    source="paper: Nag & Bhattacharyya 2021, arXiv:2108.09598 (SERF; id not re-checked)",
    notes=(
        "Gradient erf(sp) + x·(2/√π)·e^(-sp²)·σ(x), sp = softplus(x).",
        "The gradient at a NaN input is NaN.",
    ),
    elementwise=True,
)
@_flat
def serf(input):
    y = special.erf(_ops.softplus(input))
    y *= np.maximum(input, -800.0)  # erf(softplus(x)) is exactly 0 below -746
    return y


@serf.defvjp
@_flat
def _(g, y, input):
    xc = np.clip(input, -1000.0, 1000.0)  # beyond, the derivative is exactly 0 / 1
    sp = _ops.softplus(xc)
    d = np.exp(-(sp * sp))
    d *= _TWO_OVER_SQRT_PI
    d *= xc
    d *= _ops.sigmoid(xc)
    d += special.erf(sp)  # erf(softplus) is already exactly 0 / 1 at ±1000
    d *= g
    return d


@activation(
    summary="x·tanh(ln(1 + σ(x))): a smooth, non-monotone mish-like activation that is "
    "cheap to bound (Smish).",
    formula="smish(x) = x·tanh(ln(1 + σ(x)))",
    output_range="[≈-0.25, inf)",
    source="paper: Wang, Ren & Wang 2022, Electronics 11(4):540 (Smish; not re-checked)",
    notes=(
        "The paper's general form α·x·tanh(ln(1 + σ(βx))) is used with α = β = 1.",
        "Gradient t + x·(1 − t²)·σ(1 − σ)/(1 + σ), t = tanh(ln(1 + σ(x))).",
        "The gradient at a NaN input is NaN.",
    ),
    elementwise=True,
)
@_flat
def smish(input):
    y = np.tanh(np.log1p(_ops.sigmoid(input)))
    y *= np.maximum(input, -800.0)  # σ(x) is exactly 0 below -746: keeps -inf·0 out
    return y


@smish.defvjp
@_flat
def _(g, y, input):
    xc = np.clip(input, -1000.0, 1000.0)  # σ(1 − σ) is exactly 0 beyond
    s = _ops.sigmoid(xc)
    t = np.tanh(np.log1p(s))
    d = 1 - s
    d *= s
    d /= 1 + s
    d *= 1 - t * t
    d *= xc
    d += t
    d *= g
    return d


# ---------------------------------------------------------------------------
# From papers: gated linear units (GLU variants)
# ---------------------------------------------------------------------------


def _check_halves(params, inputs) -> None:
    x = inputs[0]
    if x.ndim == 0:
        raise InvalidArgumentError(
            "inputs[0] (input): needs at least 1 dimension to halve, got a 0-d tensor",
            field="inputs[0]",
        )
    axis = _ops.normalize_dim(params["dim"], x.ndim)
    if x.shape[axis] % 2:
        raise InvalidArgumentError(
            f"parameters.dim: dim {params['dim']} is halved into a and b, so its size must "
            f"be even; got size {x.shape[axis]} (input shape {list(x.shape)})",
            field="parameters.dim",
        )


def _halves(x: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray, int]:
    ax = _ops.normalize_dim(dim, x.ndim)
    a, b = np.split(x, 2, axis=ax)
    return a, b, ax


def _gated_forward(act, input, dim, **params):
    a, b, _ = _halves(input, dim)
    return _safe.product(np.asarray(act.forward(a, **params)), b)


def _gated_vjp(act, g, input, dim, **params):
    """∂a = g·b·act'(a) (the activation's own VJP with upstream g·b), ∂b = g·act(a)."""
    a, b, ax = _halves(input, dim)
    h = np.asarray(act.forward(a, **params))
    out = np.empty_like(input)
    da, db = np.split(out, 2, axis=ax)
    gb = _safe.product(g, b)
    if _ops.all_finite(gb):
        da[...] = act.vjp(gb, h, a, **params)
    else:  # ±inf upstream meeting a zero slope: NaN, quietly
        da[...] = _safe.product(gb, np.asarray(act.vjp(np.ones_like(a), h, a, **params)))
    db[...] = _safe.product(g, h)
    return out


_DIM = Param(
    "dim",
    "int",
    -1,
    "The axis halved into a (first half) and b (second half); its size must be even.",
)
_HALVES_NOTE = (
    "a is the first half along dim and carries the activation; b, the second half, is "
    "linear. torch's glu gates the other way (a·σ(b)); implementations of the paper "
    "differ on the order, so swap the halves if yours activates the second one."
)


@activation(
    summary="Swish-gated linear unit: splits the input into halves a, b and returns "
    "swish(a)·b; the feed-forward block of LLaMA, PaLM and most recent LLMs.",
    formula="swiglu(x) = a·σ(βa) ⊗ b, where a, b = the two halves of x along dim",
    params=(
        _DIM,
        Param(
            "beta",
            "float",
            1.0,
            "The swish slope β (the paper's Swish_β; 1 is silu).",
            minimum=-FLOAT32_MAX,
            maximum=FLOAT32_MAX,
        ),
    ),
    output_range="(-inf, inf); the input's shape with dim halved",
    source="paper: Shazeer 2020, arXiv:2002.05202 (GLU variants)",
    notes=(
        _HALVES_NOTE,
        "∂a = g·b·swish_β'(a), ∂b = g·swish_β(a).",
        "An odd size along dim, or a 0-d input, is refused.",
    ),
)
def swiglu(input, dim, beta):
    return _gated_forward(swish_beta, input, dim, beta=beta)


swiglu.defcheck(_check_halves)


@swiglu.defvjp
def _(g, y, input, dim, beta):
    return _gated_vjp(swish_beta, g, input, dim, beta=beta)


@activation(
    summary="GELU-gated linear unit: gelu(a)·b over the two halves of the input; the "
    "feed-forward block of T5 v1.1 and Gemma.",
    formula="geglu(x) = gelu(a) ⊗ b, where a, b = the two halves of x along dim",
    params=(
        _DIM,
        Param(
            "approximate",
            "str",
            "none",
            "gelu's form: 'none' (exact erf) or 'tanh' (torch's names).",
            choices=("none", "tanh"),
        ),
    ),
    output_range="(-inf, inf); the input's shape with dim halved",
    source="paper: Shazeer 2020, arXiv:2002.05202 (GLU variants)",
    notes=(
        _HALVES_NOTE,
        "∂a = g·b·gelu'(a), ∂b = g·gelu(a), with nnfunc's gelu.",
        "An odd size along dim, or a 0-d input, is refused.",
    ),
)
def geglu(input, dim, approximate):
    return _gated_forward(_gelu_spec, input, dim, approximate=approximate)


geglu.defcheck(_check_halves)


@geglu.defvjp
def _(g, y, input, dim, approximate):
    return _gated_vjp(_gelu_spec, g, input, dim, approximate=approximate)


@activation(
    summary="ReLU-gated linear unit: relu(a)·b over the two halves of the input.",
    formula="reglu(x) = max(0, a) ⊗ b, where a, b = the two halves of x along dim",
    params=(_DIM,),
    output_range="(-inf, inf); the input's shape with dim halved",
    source="paper: Shazeer 2020, arXiv:2002.05202 (GLU variants)",
    kinks=("a = 0: ∂a = 0 (torch's relu'(0) = 0) and ∂b = relu(0) = 0",),
    notes=(
        _HALVES_NOTE,
        "∂a = g·b·[a > 0], ∂b = g·max(0, a).",
        "An odd size along dim, or a 0-d input, is refused.",
    ),
)
def reglu(input, dim):
    return _gated_forward(_relu_spec, input, dim)


reglu.defcheck(_check_halves)


@reglu.defvjp
def _(g, y, input, dim):
    return _gated_vjp(_relu_spec, g, input, dim)


@reglu.defkinks
def _(eps, input, dim):
    ax = _ops.normalize_dim(dim, input.ndim)
    a, _b = np.split(input, 2, axis=ax)
    near = np.abs(a) <= eps
    return (np.concatenate([near, np.zeros_like(near)], axis=ax),)


# ---------------------------------------------------------------------------
# From papers: along an axis
# ---------------------------------------------------------------------------


def _groups(x: np.ndarray, dim: int, pieces: int) -> tuple[np.ndarray, int]:
    """x with dim moved last and split into (units, pieces); and the axis."""
    ax = _ops.normalize_dim(dim, x.ndim)
    xm = _move_last(x, ax)
    return xm.reshape((*xm.shape[:-1], xm.shape[-1] // pieces, pieces)), ax


@activation(
    summary="Maxout: the maximum over each group of `pieces` consecutive features along "
    "dim, a learned piecewise-linear convex activation (pair it with a wider layer).",
    formula="maxout(x)ⱼ = max(x[j·k], …, x[j·k + k − 1]) along dim, k = pieces",
    params=(
        Param(
            "pieces",
            "int",
            REQUIRED,
            "k, the number of pieces per output unit; the size along dim must be a multiple of it.",
            minimum=1,
        ),
        Param("dim", "int", -1, "The axis grouped (and shrunk by the factor pieces)."),
    ),
    output_range="(-inf, inf); the input's shape with dim divided by pieces",
    source="paper: Goodfellow et al. 2013, arXiv:1302.4389 (Maxout networks)",
    kinks=(
        "ties within a group: the gradient is split evenly among the tied maxima (the "
        "minimum-norm subgradient, as jnp.max and torch.amax do)",
    ),
    notes=(
        "Groups are consecutive: unit j takes elements j·k … j·k + k − 1, the grouping "
        "of tensorflow-addons' Maxout(num_units = size/pieces).",
        "A NaN in a group gives NaN, and its gradient goes to the NaN element(s).",
    ),
)
def maxout(input, pieces, dim):
    xg, ax = _groups(input, dim, pieces)
    return np.moveaxis(_group_max(xg), -1, ax)


def _group_max(xg: np.ndarray) -> np.ndarray:
    """max over the last (pieces) axis as k - 1 elementwise maxima, several times faster
    than a reduction over a short inner axis; np.maximum propagates NaN."""
    m = xg[..., 0].copy()
    for j in range(1, xg.shape[-1]):
        np.maximum(m, xg[..., j], out=m)
    return m


@maxout.defcheck
def _(params, inputs):
    x = inputs[0]
    if x.ndim == 0:
        raise InvalidArgumentError(
            "inputs[0] (input): maxout groups along dim and needs at least 1 dimension, "
            "got a 0-d tensor",
            field="inputs[0]",
        )
    ax = _ops.normalize_dim(params["dim"], x.ndim)
    if x.shape[ax] % params["pieces"]:
        raise InvalidArgumentError(
            f"parameters.pieces: the size along dim ({x.shape[ax]}) must be a multiple of "
            f"pieces, got {params['pieces']}",
            field="parameters.pieces",
        )


@maxout.defvjp
def _(g, y, input, pieces, dim):
    xg, ax = _groups(input, dim, pieces)
    m = _move_last(y, ax)
    grad = np.empty(xg.shape, dtype=input.dtype)
    count = np.zeros(m.shape, dtype=input.dtype)
    for j in range(pieces):  # the tied maxima; in a NaN group, the NaN elements
        tie = (xg[..., j] == m) | np.isnan(xg[..., j])
        grad[..., j] = tie
        count += tie
    share = _move_last(g, ax) / count  # count >= 1: every group holds its maximum
    grad *= share[..., None]
    return np.moveaxis(grad.reshape(_move_last(input, ax).shape), -1, ax)


@maxout.defkinks
def _(eps, input, pieces, dim):
    xg, ax = _groups(input, dim, pieces)
    if pieces == 1 or input.size == 0:
        return (np.zeros(input.shape, dtype=bool),)
    top = np.sort(xg, axis=-1)[..., -2:]  # the two largest (NaN sorts last)
    finite = np.isfinite(top).all(axis=-1, keepdims=True)
    gap = np.full(finite.shape, np.inf)
    np.subtract(top[..., 1:] / 2, top[..., :1] / 2, out=gap, where=finite)  # halves: no overflow
    near = np.broadcast_to(gap <= eps, xg.shape)
    return (np.moveaxis(near.reshape(_move_last(input, ax).shape), -1, ax),)


def _entmax15_rows(d: np.ndarray) -> np.ndarray:
    """1.5-entmax of each row (last axis) of d = (x − max x)/2, clipped at -2."""
    n = d.shape[-1]
    z = -np.sort(-d, axis=-1)  # descending
    k = np.arange(1, n + 1, dtype=d.dtype)
    mean = np.cumsum(z, axis=-1) / k
    mean_sq = np.cumsum(z * z, axis=-1) / k
    ss = k * (mean_sq - mean * mean)
    delta = (1 - ss) / k
    np.maximum(delta, 0, out=delta)
    tau = mean - np.sqrt(delta)
    size = (tau <= z).sum(axis=-1, keepdims=True)
    tau_star = np.take_along_axis(tau, size - 1, axis=-1)
    y = np.maximum(d - tau_star, 0)
    y *= y
    return y


@activation(
    summary="1.5-entmax: a sparse softmax between softmax (α = 1) and sparsemax (α = 2); "
    "probabilities with exact zeros but a smoother, C¹ map (sparse attention).",
    formula="entmax15(x)ᵢ = max(xᵢ/2 − τ, 0)², τ such that the outputs sum to 1",
    params=(Param("dim", "int", -1, "The axis along which the outputs sum to 1 (entmax's -1)."),),
    output_range="[0, 1]; each slice along dim sums to 1, with exact zeros",
    source="entmax.entmax15 (Peters, Niculae & Martins 2019, arXiv:1905.05702)",
    notes=(
        "Exact sort-based algorithm: for the sorted z = x/2, τ_k = μ_k − √max(0, "
        "(1 − k(E_k[z²] − μ_k²))/k) with μ_k the mean of the top k; the support is the "
        "number of k with τ_k <= z_(k).",
        "VJP (the paper's): s ⊙ g − s·⟨s, g⟩/Σs with s = √y; continuous, so the support "
        "edges are not kinks.",
        "Shift-invariant: computed on x − max(x). Per slice: a -inf entry gets 0; NaN, "
        "+inf or all -inf gives NaN (softmax's policy).",
    ),
)
def entmax15(input, dim):
    if input.size == 0:
        return np.empty_like(input)
    z, ax = _as_rows(input, dim)
    d, bad = _ops.shifted(z, ax, negate=False)
    d *= 0.5
    np.maximum(d, -2.0, out=d)  # τ >= -1 after the shift: entries below -2 stay out
    y = np.moveaxis(_entmax15_rows(_move_last(d, ax)), -1, ax)
    if bad is not None:
        np.copyto(y, np.nan, where=bad)
    return y.reshape(input.shape)


entmax15.defcheck(_check_axis("dim"))


@entmax15.defvjp
def _(g, y, input, dim):
    return _support_vjp(g, y, np.sqrt(y), dim)
