"""Elementwise activations (torch.nn.functional): forward and VJP side by side.

Conventions shared by the entries below:
- No NumPy warning on any input: exponentials only ever see non-positive arguments,
  and a factor that may meet ∞·0 is clipped where the other factor is already exactly 0
  (e.g. x·Φ(x) uses max(x, -100) because Φ(x) is exactly 0 below -40).
- Gradients at kinks and at NaN inputs are torch 2.13's (catalog-reference §1.1, §4).
- Speed: one-sided choices are made with 0/1 masks and exact arithmetic rather than
  np.where, which is several times slower on inputs of mixed sign.
- Large calls take fused numba kernels (``_kernels``), written right below each VJP and
  held to the NumPy formula by tests/catalog/test_kernels.py (test_kernels_prelu.py for
  prelu): bit for bit in float32 and float64 for the ReLU family, within a few ulp in
  float32 for the others.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy import special

from nnfunc.catalog import _kernels, _ops, _safe
from nnfunc.catalog._kernels import expf, expm1f, f32, log1pf, prange, tanhf
from nnfunc.catalog.spec import FLOAT32_MAX, Input, Param, activation, near_points
from nnfunc.errors import InvalidArgumentError

# Bounds for scalar parameters: finite in float32, the narrowest compute dtype, so that
# casting them to the inputs' dtype never overflows.
_F32_TINY = float(np.finfo(np.float32).tiny)

# SELU's fixed constants (Klambauer et al. 2017, arXiv:1706.02515; torch's values).
SELU_SCALE = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717

_SQRT_2PI = math.sqrt(2.0 * math.pi)
_GELU_K = math.sqrt(2.0 / math.pi)  # the tanh approximation's √(2/π)
_GELU_C = 0.044715


def _pick(mask: np.ndarray, if_true, if_false, dtype: np.dtype) -> np.ndarray:
    """``if_true`` where ``mask`` holds, else ``if_false`` (finite scalars or arrays that
    broadcast), in ``dtype``. Exact: one of the two addends is always 0. Several times
    faster than np.where on mixed masks."""
    t = dtype.type(if_true) if np.ndim(if_true) == 0 else if_true
    f = dtype.type(if_false) if np.ndim(if_false) == 0 else if_false
    if np.ndim(t) == 0 and np.ndim(f) == 0:
        # Two non-negative constants: one multiply and one maximum do it (the common case).
        if t >= f >= 0:
            return np.maximum(mask if t == 1 else mask * t, f)
        if f >= t >= 0:
            return np.maximum(~mask if f == 1 else ~mask * f, t)
    return mask * t + ~mask * f


def _times0(a: np.ndarray, b) -> np.ndarray:
    """a·b with 0·∞ taken as 0 (a zero slope or a zero input contributes nothing), and
    without NumPy's 'invalid value' warning. NaN still propagates."""
    shape = np.broadcast_shapes(np.shape(a), np.shape(b))
    out = np.zeros(shape, dtype=np.result_type(a, b))
    np.multiply(a, b, out=out, where=(a != 0) & (np.asarray(b) != 0))
    return out


def _all_finite_nonzero(a) -> bool:
    """True when multiplying by ``a`` (a slope: a scalar or one value per channel) can
    never meet 0·∞; cheap because ``a`` is small."""
    a = np.asarray(a)
    return bool(np.all(np.isfinite(a) & (a != 0)))


def _negative_slope(x: np.ndarray, slope) -> np.ndarray:
    """max(x, 0) + slope·min(x, 0): x for x > 0, slope·x otherwise, exactly (one addend
    is 0); NaN propagates; a zero slope gives 0 at x = -∞ (torch: NaN, from 0·∞)."""
    if np.ndim(slope) == 0 and 0 < slope <= 1:
        return np.maximum(x, x * slope)  # the same values in one pass fewer
    neg = np.minimum(x, 0)
    neg = neg * slope if _all_finite_nonzero(slope) else _times0(neg, slope)
    neg += np.maximum(x, 0)
    return neg


#: The dtypes of the bit-exact kernels (no transcendental: the same IEEE operations).
_EXACT = (np.float32, np.float64)


@_kernels.inline
def _max(v, c):  # pragma: no cover - compiled
    """np.maximum(v, c) on one element: v above c or NaN, else c (NumPy's second
    operand on a tie, so max(-0, 0) = 0)."""
    return v if not v <= c else c


@_kernels.inline
def _min(v, c):  # pragma: no cover - compiled
    """np.minimum(v, c) on one element (NaN stays NaN, c on a tie)."""
    return v if not v >= c else c


@_kernels.inline
def _fmin0(v):  # pragma: no cover - compiled
    """np.fmin(v, 0): NaN gives 0, as does a tie."""
    return v if v < type(v)(0) else type(v)(0)


@_kernels.inline
def _times0_1(a, b):  # pragma: no cover - compiled
    """``_times0`` on one element: a·b, or 0 where a or b is 0."""
    return a * b if (a != type(a)(0) and b != type(b)(0)) else type(a)(0)


@_kernels.inline
def _negative_slope1(v, s, maxform, plain):  # pragma: no cover - compiled
    """``_negative_slope`` on one element with the slope s: its max(x, x·s) form
    (``maxform``, for a scalar slope in (0, 1]), else min(x, 0)·s + max(x, 0), the
    product through ``_times0`` unless every slope is finite and nonzero (``plain``).
    One addend is 0, so the sum is the other with -0 made 0, written without the
    addition, which FMA contraction would round differently (-tiny·s is -0, not 0)."""
    zero = type(v)(0)
    if maxform:
        return _max(v, v * s)
    if not v <= zero:  # x > 0 or NaN: x (plus ±0)
        return v
    p = v * s if plain else _times0_1(v, s)  # min(x, 0) is x here (0 for -0, as ±0·s)
    return p if p != zero else zero


@_kernels.inline
def _sigmoid_of(e, z):  # pragma: no cover - compiled
    """σ(z) from e = e^-|z|, as _kernels.sigmoidf (for kernels that need e too)."""
    r = f32(1.0) / (f32(1.0) + e)
    return r if z >= f32(0.0) else e * r


# ---------------------------------------------------------------------------
# Sigmoid and tanh
# ---------------------------------------------------------------------------


@activation(
    summary="Squashes any real number into (0, 1); the classic gate and the output of "
    "binary classifiers (prefer binary_cross_entropy_with_logits to sigmoid + BCE).",
    formula="σ(x) = 1 / (1 + e^(-x))",
    output_range="(0, 1)",
    aliases=("logistic", "expit"),
    notes=("float32 σ(x) is exactly 1 for x >= 17; the gradient there is 0, never NaN.",),
    elementwise=True,
    parallel_min_size=_ops.TRANSCENDENTAL_MIN_SIZE,
)
def sigmoid(input):
    return _ops.sigmoid(input)


@sigmoid.defvjp
def _(g, y, input):
    d = 1 - y  # σ' = σ(1 - σ), from the saved output
    d *= y
    d *= g
    return d


@sigmoid.defkernels
def _(dtype):
    return (_kernels.sigmoid, _kernels.sigmoid_grad, ()) if dtype == np.float32 else None


@activation(
    summary="Squashes any real number into (-1, 1), zero-centred; the classic recurrent "
    "network activation.",
    formula="tanh(x) = (e^x - e^(-x)) / (e^x + e^(-x))",
    output_range="(-1, 1)",
    notes=("float32 tanh(x) is exactly ±1 for |x| >~ 9; the gradient there is 0.",),
    elementwise=True,
)
def tanh(input):
    return np.tanh(input)  # never overflows (the exp ratio would)


@tanh.defvjp
def _(g, y, input):
    d = 1 - y * y  # tanh' = 1 - tanh², from the saved output
    d *= g
    return d


@_kernels.kernel
def _tanh(x, out):  # pragma: no cover - compiled
    for i in prange(x.size):
        out[i] = tanhf(x[i])


@_kernels.kernel
def _tanh_grad(g, x, out, dx):  # pragma: no cover - compiled
    for i in prange(x.size):
        y = tanhf(x[i])
        out[i] = y
        dx[i] = (f32(1.0) - y * y) * g[i]


@tanh.defkernels
def _(dtype):
    return (_tanh, _tanh_grad, ()) if dtype == np.float32 else None


# ---------------------------------------------------------------------------
# The ReLU family
# ---------------------------------------------------------------------------


@activation(
    summary="Passes positives and zeroes negatives; the default hidden-layer activation.",
    formula="relu(x) = max(0, x)",
    output_range="[0, inf)",
    kinks=("x = 0: gradient 0 (torch's threshold_backward)",),
    notes=("The gradient at a NaN input is 1, as torch's (catalog-reference §4).",),
    elementwise=True,
)
def relu(input):
    return np.maximum(input, 0)  # propagates NaN (np.fmax would drop it)


@relu.defvjp
def _(g, y, input):
    # torch passes the gradient where x > 0 and at NaN inputs: everywhere but x <= 0.
    return g * ~(input <= 0)


@_kernels.kernel
def _relu(x, out):  # pragma: no cover - compiled
    for i in prange(x.size):
        out[i] = _max(x[i], type(x[i])(0))


@_kernels.kernel
def _relu_grad(g, x, out, dx):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = x[i]
        zero = type(v)(0)
        out[i] = _max(v, zero)
        dx[i] = g[i] * (zero if v <= zero else type(v)(1))  # g·~(x <= 0)


@relu.defkernels
def _(dtype):
    return (_relu, _relu_grad, ()) if dtype in _EXACT else None


relu.defkinks(near_points(lambda: (0.0,)))


@activation(
    summary="ReLU with a small fixed slope for negatives, so that negative units keep a gradient.",
    formula="leaky_relu(x) = x if x > 0 else negative_slope·x",
    params=(
        Param(
            "negative_slope",
            "float",
            0.01,
            "Slope for x <= 0 (torch's default 0.01; Keras uses 0.2 or 0.3).",
            minimum=-FLOAT32_MAX,
            maximum=FLOAT32_MAX,
        ),
    ),
    output_range="(-inf, inf)",
    kinks=("x = 0: gradient negative_slope (torch; jax gives 1)",),
    notes=(
        "The gradient at a NaN input is negative_slope, as torch's (catalog-reference §4).",
        "With negative_slope = 0 the value at x = -inf is 0 (torch computes 0·(-inf) = NaN).",
    ),
    elementwise=True,
)
def leaky_relu(input, *, negative_slope):
    return _negative_slope(input, negative_slope)


@leaky_relu.defvjp
def _(g, y, input, *, negative_slope):
    # x > 0 is False at 0 and at NaN: torch gives the slope at both.
    return g * _pick(input > 0, 1.0, negative_slope, input.dtype)


@_kernels.kernel
def _leaky(x, s, maxform, plain, above, below, out):  # pragma: no cover - compiled
    for i in prange(x.size):
        out[i] = _negative_slope1(x[i], s, maxform, plain)


@_kernels.kernel
def _leaky_grad(g, x, s, maxform, plain, above, below, out, dx):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = x[i]
        out[i] = _negative_slope1(v, s, maxform, plain)
        dx[i] = g[i] * (above if v > type(v)(0) else below)


def _slope_kernels(dtype: np.dtype, slope: float):
    """The kernels of leaky_relu and rrelu (a scalar slope) in the float dtypes. The
    gradient's two factors are the ones ``_pick`` gives, so the VJP's product is the same."""
    if dtype not in _EXACT:
        return None
    above, below = _pick(np.array([True, False]), 1.0, slope, dtype)
    flags = (0 < slope <= 1, _all_finite_nonzero(slope))  # the branches of _negative_slope
    return (_leaky, _leaky_grad, (dtype.type(slope), *flags, above, below))


@leaky_relu.defkernels
def _(dtype, negative_slope):
    return _slope_kernels(dtype, negative_slope)


leaky_relu.defkinks(near_points(lambda negative_slope: (0.0,)))


@activation(
    summary="Randomized leaky ReLU in evaluation mode: a leaky ReLU whose slope is the "
    "midpoint of [lower, upper] (use it to evaluate a net trained with RReLU).",
    formula="rrelu(x) = x if x >= 0 else r·x, r = (lower + upper) / 2 (training=False)",
    params=(
        Param(
            "lower",
            "float",
            1 / 8,
            "Lower bound of the slope's range.",
            minimum=-FLOAT32_MAX,
            maximum=FLOAT32_MAX,
        ),
        Param(
            "upper",
            "float",
            1 / 3,
            "Upper bound of the slope's range (>= lower).",
            minimum=-FLOAT32_MAX,
            maximum=FLOAT32_MAX,
        ),
        Param(
            "training",
            "bool",
            False,
            "Must be False: training mode samples a random "
            "slope per element, which this deterministic service does not do.",
        ),
    ),
    output_range="(-inf, inf)",
    kinks=("x = 0: gradient (lower + upper) / 2 (torch: 0.229167 with the defaults)",),
    notes=(
        "Only training=False is implemented (torch's functional default); it is "
        "leaky_relu with negative_slope = (lower + upper) / 2.",
        "The gradient at a NaN input is the slope, as leaky_relu's.",
    ),
    elementwise=True,
)
def rrelu(input, *, lower, upper, training):
    return _negative_slope(input, (lower + upper) / 2)


@rrelu.defvjp
def _(g, y, input, *, lower, upper, training):
    return g * _pick(input > 0, 1.0, (lower + upper) / 2, input.dtype)


@rrelu.defkernels
def _(dtype, lower, upper, training):
    return _slope_kernels(dtype, (lower + upper) / 2)


@rrelu.defcheck
def _(params, inputs):
    if params["training"]:
        raise InvalidArgumentError(
            "parameters.training: expected false; training=True samples a random slope per "
            "element, and only the deterministic evaluation mode (slope (lower+upper)/2) is "
            "supported",
            field="parameters.training",
        )
    if params["lower"] > params["upper"]:
        raise InvalidArgumentError(
            f"parameters.lower: expected lower <= upper, got lower={params['lower']!r} "
            f"> upper={params['upper']!r}",
            field="parameters.lower",
        )


rrelu.defkinks(near_points(lambda lower, upper, training: (0.0,)))


def _prelu_slopes(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The weight shaped to broadcast against x: one slope for all, or one per channel
    along dim 1 (the shapes were validated by the check)."""
    if weight.size == 1:
        return weight.reshape(())
    shape = [1] * x.ndim
    shape[1] = weight.size
    return weight.reshape(shape)


@activation(
    summary="Leaky ReLU whose negative slope is learned: one slope shared by all inputs, "
    "or one per channel (dim 1).",
    formula="prelu(x, a) = max(0, x) + a·min(0, x)",
    inputs=(
        Input("input", doc="Any shape; dim 1 is the channel dim when weight has C slopes."),
        Input(
            "weight",
            doc="The slopes a: 1 element, or C = input.shape[1] elements "
            "(a scalar or a 1-d tensor).",
        ),
    ),
    output_range="(-inf, inf)",
    kinks=("x = 0: ∂/∂x = a and the ∂/∂a contribution is 0 (torch)",),
    notes=(
        "∂/∂a sums g·min(0, x) over every position that shares the slope.",
        "torch's nn.PReLU initialises the slope to 0.25.",
        "A 0-d or 1-d input has no channel dim: weight must then have 1 element.",
        "With a = 0 the value at x = -inf is 0 (torch computes 0·(-inf) = NaN).",
    ),
    elementwise=True,
)
def prelu(input, weight):
    if input.size and _kernels.eligible(input, weight, dtypes=_EXACT):
        return _prelu_forward(input, weight)
    return _negative_slope(input, _prelu_slopes(input, weight))


@prelu.defvjp
def _(g, y, input, weight):
    if input.size and _kernels.eligible(input, weight, g, dtypes=_EXACT):
        return _prelu_vjp(g, input, weight)
    a = _prelu_slopes(input, weight)
    positive = input > 0  # False at 0 and NaN: torch passes a·g there
    if np.all(np.isfinite(a)):
        dx = g * _pick(positive, 1.0, a, input.dtype)
    else:
        dx = _times0(g, np.where(positive, 1, a))
    contrib = _times0(g, np.minimum(input, 0))  # g·min(0, x): exactly 0 at x >= 0
    axes = tuple(k for k in range(input.ndim) if a.ndim == 0 or k != 1)
    da = contrib.sum(axis=axes, dtype=contrib.dtype) if axes else contrib
    return dx, np.reshape(da, weight.shape)


# prelu's kernels: the weight broadcasts, so the registry's same-shape blocks do not
# apply and the forward and VJP call them themselves. They see the flat input as rows
# of L elements: one channel's `inner` elements (the trailing dims) with one slope when
# those are many; else whole periods (C channels of `inner` elements), whose slopes are
# a table of the same length, read along with x.

_PRELU_ROW = 512  # elements, at least, in a row
_PRELU_PERIOD = 1 << 16  # the longest period laid out as a table (but for inner = 1)


def _prelu_inner(x: np.ndarray, weight: np.ndarray) -> int:
    """The elements of one channel for each outer index (1 for a single slope)."""
    return 1 if weight.size == 1 else math.prod(x.shape[2:])


def _prelu_layout(x: np.ndarray, per_channel: np.ndarray) -> tuple[np.ndarray, int, bool]:
    """(table, L, by_row) for a value per channel, or one for all (x is not empty):
    by_row True, L = inner and one entry per channel, row r's being table[r % C];
    False, a table of L entries for the elements of every row."""
    inner = _prelu_inner(x, per_channel)
    period = per_channel.size * inner
    if inner >= _PRELU_ROW or (period > _PRELU_PERIOD and inner > 1):
        return per_channel, inner, True
    table = np.tile(np.repeat(per_channel, inner), -(-_PRELU_ROW // period))
    return table, table.size, False


def _prelu_forward(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    a = _prelu_slopes(x, weight)
    flags = (np.ndim(a) == 0 and 0 < a <= 1, _all_finite_nonzero(a))  # _negative_slope's
    table, size, by_row = _prelu_layout(x, weight.reshape(-1))
    out = np.empty_like(x)
    _kernels.launch(_prelu, x.reshape(-1), table, size, by_row, *flags, out.reshape(-1))
    return out


def _prelu_vjp(g: np.ndarray, x: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = _prelu_slopes(x, weight)
    plain = bool(np.all(np.isfinite(a)))
    # the factor below 0, as the VJP's _pick (plain) or np.where (through _times0) has it
    below = _pick(np.zeros(np.shape(a), bool), 1.0, a, x.dtype) if plain else a
    table, size, by_row = _prelu_layout(x, np.reshape(below, -1))
    dx, da = np.empty_like(x), np.empty(weight.shape, dtype=x.dtype)
    chunks = numba.get_num_threads()  # runs of rows, each summing into its own row
    flat = (g.reshape(-1), x.reshape(-1), table, size, plain, dx.reshape(-1), da.reshape(-1))
    if by_row:
        acc = np.zeros((chunks, min(size, _PRELU_ROW)))
        _kernels.launch(_prelu_grad_rows, *flat, acc, np.zeros((chunks, weight.size)))
    else:
        inner = _prelu_inner(x, weight)
        _kernels.launch(_prelu_grad_table, *flat, inner, np.zeros((chunks, size)))
    return dx, da


@_kernels.inline
def _prelu_dx(g, v, below, plain):  # pragma: no cover - compiled
    """prelu's ∂/∂x on one element: g above 0, g·below at 0, below it and at NaN (the
    product through _times0 unless every slope is finite)."""
    w = type(v)(1) if v > type(v)(0) else below
    return g * w if plain else _times0_1(g, w)


# The loops below index slices from 0 (xs[j], not x[start + j]): numba then knows the
# index is not negative and leaves out its wraparound, which would keep them scalar.


@_kernels.kernel
def _prelu(x, table, size, by_row, maxform, plain, out):  # pragma: no cover - compiled
    n = x.size
    for r in prange((n + size - 1) // size):
        xs, ys = x[r * size : r * size + size], out[r * size : r * size + size]
        if by_row:
            s = table[r % table.size]
            for j in range(xs.size):
                ys[j] = _negative_slope1(xs[j], s, maxform, plain)
        else:
            for j in range(xs.size):
                ys[j] = _negative_slope1(xs[j], table[j], maxform, plain)


@_kernels.kernel
def _prelu_grad_table(g, x, table, size, plain, dx, da, inner, sums):  # pragma: no cover
    """dx and da (rows of `size` elements, by table): the t-th of sums.shape[0] runs of
    rows sums g·min(x, 0) by table entry in sums[t] (float64, zeros), and then the
    entries (periods of C channels of `inner` elements) are summed by channel."""
    n, chunks, c = x.size, sums.shape[0], da.size
    rows = (n + size - 1) // size
    for t in prange(chunks):
        acc = sums[t]
        for r in range(t * rows // chunks, (t + 1) * rows // chunks):
            row = slice(r * size, r * size + size)
            xs, gs, ds = x[row], g[row], dx[row]
            for j in range(xs.size):
                v, gj = xs[j], gs[j]
                ds[j] = _prelu_dx(gj, v, table[j], plain)
                acc[j] += _times0_1(gj, _min(v, type(v)(0)))
    total = np.zeros(c)
    for t in range(chunks):
        for k in range(size):
            total[(k // inner) % c] += sums[t, k]
    for k in range(c):
        da[k] = total[k]  # rounded once to da's dtype (±inf beyond its range)


@_kernels.kernel
def _prelu_grad_rows(g, x, below, size, plain, dx, da, acc, sums):  # pragma: no cover
    """dx and da (rows of `size` elements of one channel): the t-th of sums.shape[0]
    runs of rows sums g·min(x, 0) by channel in sums[t] (float64, zeros), a row in the
    lanes acc[t] (so that the additions vectorize), and then the runs are summed."""
    n, chunks, lanes, c = x.size, sums.shape[0], acc.shape[1], below.size
    rows = (n + size - 1) // size
    for t in prange(chunks):
        lane = acc[t]
        for r in range(t * rows // chunks, (t + 1) * rows // chunks):
            w = below[r % c]
            for i0 in range(r * size, min(r * size + size, n), lanes):
                part = slice(i0, min(i0 + lanes, r * size + size))
                xs, gs, ds = x[part], g[part], dx[part]
                for j in range(xs.size):
                    v, gj = xs[j], gs[j]
                    ds[j] = _prelu_dx(gj, v, w, plain)
                    lane[j] += _times0_1(gj, _min(v, type(v)(0)))
            total = 0.0
            for j in range(lanes):
                total += lane[j]
                lane[j] = 0.0
            sums[t, r % c] += total
    for k in range(c):
        total = 0.0
        for t in range(chunks):
            total += sums[t, k]
        da[k] = total


@prelu.defcheck
def _(params, inputs):
    x, weight = inputs
    if weight.ndim > 1:
        raise InvalidArgumentError(
            f"inputs[1] (weight): expected a scalar or a 1-d tensor of slopes, got shape "
            f"{list(weight.shape)}",
            field="inputs[1]",
        )
    if weight.size == 1:
        return
    if x.ndim < 2:
        raise InvalidArgumentError(
            f"inputs[1] (weight): expected 1 slope (a {x.ndim}-d input has no channel dim), "
            f"got {weight.size}",
            field="inputs[1]",
        )
    if weight.size != x.shape[1]:
        raise InvalidArgumentError(
            f"inputs[1] (weight): expected 1 slope or C = input.shape[1] = {x.shape[1]} "
            f"slopes, got {weight.size}",
            field="inputs[1]",
        )


@prelu.defkinks
def _(eps, input, weight):
    return (np.abs(input) <= eps, np.zeros(np.shape(weight), dtype=bool))


# ---------------------------------------------------------------------------
# Exponential units
# ---------------------------------------------------------------------------


def _elu_gradient(x: np.ndarray, below: float, above: float) -> np.ndarray:
    """below·e^x for x <= 0, ``above`` for x > 0 and at NaN (torch's), without np.where."""
    d = np.exp(np.fmin(x, 0))  # fmin drops NaN: e^0 = 1 there; exp never sees x > 0
    if below != 1 or above != 1:
        d *= _pick(x <= 0, below, above, x.dtype)
    return d


@activation(
    summary="Exponential linear unit: identity for positives, a smooth exponential "
    "saturating at -alpha for negatives, which pushes mean activations towards 0.",
    formula="elu(x) = x if x > 0 else alpha·(e^x - 1)",
    params=(
        Param(
            "alpha",
            "float",
            1.0,
            "The negative saturation value -alpha.",
            minimum=-FLOAT32_MAX,
            maximum=FLOAT32_MAX,
        ),
    ),
    output_range="(-alpha, inf) for alpha >= 0",
    kinks=("x = 0: gradient alpha, the left derivative (torch; a kink only when alpha != 1)",),
    notes=(
        "The gradient at a NaN input is 1, as torch's (catalog-reference §4).",
        "Computed with expm1, exact for tiny negative x.",
    ),
    elementwise=True,
    parallel_min_size=_ops.TRANSCENDENTAL_MIN_SIZE,
)
def elu(input, *, alpha):
    neg = np.expm1(np.minimum(input, 0))  # expm1 only sees x <= 0: no overflow
    neg *= alpha
    neg += np.maximum(input, 0)  # exactly one of the two addends is nonzero
    return neg


@elu.defvjp
def _(g, y, input, *, alpha):
    # α·e^x rather than y + α: the same value without cancellation in the tail.
    d = _elu_gradient(input, alpha, 1.0)
    d *= g
    return d


@_kernels.inline
def _elu1(v, k_neg, k_pos):  # pragma: no cover - compiled
    """expm1(min(x, 0))·k_neg + k_pos·max(x, 0): elu (alpha, 1) and selu (λα, λ)."""
    return expm1f(_min(v, f32(0.0))) * k_neg + k_pos * _max(v, f32(0.0))


@_kernels.kernel
def _elu(x, k_neg, k_pos, below, above, out):  # pragma: no cover - compiled
    for i in prange(x.size):
        out[i] = _elu1(x[i], k_neg, k_pos)


@_kernels.kernel
def _elu_grad(g, x, k_neg, k_pos, below, above, out, dx):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = x[i]
        out[i] = _elu1(v, k_neg, k_pos)
        dx[i] = expf(_fmin0(v)) * (below if v <= f32(0.0) else above) * g[i]  # _elu_gradient


def _elu_kernels(dtype: np.dtype, k_neg: float, k_pos: float):
    """elu's and selu's float32 kernels; the gradient's factors are ``_elu_gradient``'s."""
    if dtype != np.float32:
        return None
    below, above = _pick(np.array([True, False]), k_neg, k_pos, dtype)
    return (_elu, _elu_grad, (f32(k_neg), f32(k_pos), below, above))


@elu.defkernels
def _(dtype, alpha):
    return _elu_kernels(dtype, alpha, 1.0)


elu.defkinks(near_points(lambda alpha: (0.0,) if alpha != 1 else ()))


@activation(
    summary="Scaled ELU with the fixed constants that make deep fully connected nets "
    "self-normalising (use with lecun-normal initialisation and alpha dropout).",
    formula="selu(x) = λ·(x if x > 0 else α·(e^x - 1)), λ ≈ 1.0507, α ≈ 1.6733",
    output_range="(-λα ≈ -1.7581, inf)",
    kinks=("x = 0: gradient λα ≈ 1.7581, the left derivative (torch)",),
    notes=(
        f"λ = {SELU_SCALE!r}, α = {SELU_ALPHA!r} (torch's constants).",
        "The gradient at a NaN input is λ, as torch's (catalog-reference §4).",
    ),
    elementwise=True,
    parallel_min_size=_ops.TRANSCENDENTAL_MIN_SIZE,
)
def selu(input):
    neg = np.expm1(np.minimum(input, 0))
    neg *= SELU_SCALE * SELU_ALPHA
    neg += _safe.product(np.maximum(input, 0), _safe.scalar(SELU_SCALE, input.dtype))  # λ·huge: inf
    return neg


@selu.defvjp
def _(g, y, input):
    d = _elu_gradient(input, SELU_SCALE * SELU_ALPHA, SELU_SCALE)
    d *= g
    return d


@selu.defkernels
def _(dtype):
    return _elu_kernels(dtype, SELU_SCALE * SELU_ALPHA, SELU_SCALE)


selu.defkinks(near_points(lambda: (0.0,)))


def _celu_exponent(x: np.ndarray, alpha: float) -> np.ndarray:
    """min(x, 0)/alpha, clipped at -1000 (where e^t is 0 anyway) so that the division
    never overflows; NaN maps to 0 (the gradient there is 1, torch's)."""
    lo = max(-1000.0 * alpha, -float(np.finfo(x.dtype).max))
    t = np.fmax(np.fmin(x, 0), lo)
    t /= alpha
    return t


@activation(
    summary="Continuously differentiable ELU: like elu, but the negative branch is "
    "rescaled so the slope is 1 at 0 for every alpha.",
    formula="celu(x) = max(0, x) + min(0, alpha·(e^(x/alpha) - 1))",
    params=(
        Param(
            "alpha",
            "float",
            1.0,
            "The negative saturation value -alpha (> 0).",
            minimum=_F32_TINY,
            maximum=FLOAT32_MAX,
        ),
    ),
    output_range="(-alpha, inf)",
    notes=(
        "C¹ at x = 0: gradient 1 for every alpha (torch), so no kink.",
        "alpha = 0 divides by zero and is refused; torch also accepts alpha < 0, where the "
        "negative branch grows like -e^(|x|/|alpha|): nnfunc refuses it.",
        "The gradient at a NaN input is 1.",
    ),
    elementwise=True,
    parallel_min_size=_ops.TRANSCENDENTAL_MIN_SIZE,
)
def celu(input, *, alpha):
    neg = np.expm1(_celu_exponent(input, alpha))
    neg *= alpha
    # Where the input is NaN the exponent was mapped to 0: put NaN back via max(x, 0).
    neg += np.maximum(input, 0)
    return neg


@celu.defvjp
def _(g, y, input, *, alpha):
    d = np.exp(_celu_exponent(input, alpha))  # e^(x/α) for x <= 0, 1 above and at NaN
    d *= g
    return d


@_kernels.inline
def _celu_exponent1(v, lo, alpha):  # pragma: no cover - compiled
    """``_celu_exponent`` on one element."""
    t = _fmin0(v)
    return (t if t > lo else lo) / alpha


@_kernels.kernel
def _celu(x, lo, alpha, out):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = x[i]
        out[i] = expm1f(_celu_exponent1(v, lo, alpha)) * alpha + _max(v, f32(0.0))


@_kernels.kernel
def _celu_grad(g, x, lo, alpha, out, dx):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = x[i]
        t = _celu_exponent1(v, lo, alpha)
        out[i] = expm1f(t) * alpha + _max(v, f32(0.0))
        dx[i] = expf(t) * g[i]


@celu.defkernels
def _(dtype, alpha):
    if dtype != np.float32:
        return None
    lo = max(-1000.0 * alpha, -float(np.finfo(dtype).max))  # as _celu_exponent
    return (_celu, _celu_grad, (f32(lo), f32(alpha)))


# ---------------------------------------------------------------------------
# Smooth gated units
# ---------------------------------------------------------------------------


def _gelu_tanh_inner(xc: np.ndarray) -> np.ndarray:
    return np.tanh(_GELU_K * xc * (1 + _GELU_C * xc * xc))


def _gelu_tanh_gate(xc: np.ndarray) -> np.ndarray:
    """½(1 + tanh u) = σ(2u), u = √(2/π)(x + 0.044715x³): no cancellation where
    tanh u ≈ -1 (x < -3), which would cost all the digits of float32 by x ≈ -5.
    Exactly 0 / 1 beyond x = ∓25 (|2u| > 1100), in float32 and float64. In float64 for
    float32 too: 2u rounded to float32 would cost up to |2u| ulp of σ."""
    x = xc.astype(np.float64) if xc.dtype == np.float32 else xc
    return _ops.sigmoid((2 * _GELU_K) * x * (1 + _GELU_C * x * x))


@activation(
    summary="Gaussian error linear unit: x weighted by the probability that a standard "
    "normal is below it; the transformer (BERT, GPT) activation.",
    formula="gelu(x) = x·Φ(x) = ½x(1 + erf(x/√2)); approximate='tanh': "
    "½x(1 + tanh(√(2/π)(x + 0.044715x³)))",
    params=(
        Param(
            "approximate",
            "str",
            "none",
            "'none': the exact erf form (torch's default); "
            "'tanh': the tanh approximation (jax's default).",
            choices=("none", "tanh"),
        ),
    ),
    output_range="[≈-0.16997 (x ≈ -0.7518), inf); tanh form [≈-0.17004, inf)",
    notes=(
        "gelu'(0) = 0.5 for both forms; they differ by up to 4.7e-4 (near x = -2.70).",
        "gelu(+inf) = inf (torch's float32 kernel returns NaN there; float64 inf).",
        "The gradient at a NaN input is NaN, as torch's.",
    ),
    elementwise=True,
    parallel_min_size=_ops.TRANSCENDENTAL_MIN_SIZE,
)
def gelu(input, *, approximate):
    if approximate == "tanh":
        # x·σ(2u): the gate is exactly 0 / 1 beyond ±25, so clipping changes nothing
        # there and keeps x³ finite; max(x, -25) keeps -inf·0 out.
        s = _gelu_tanh_gate(np.clip(input, -25.0, 25.0)).astype(input.dtype, copy=False)
        s *= np.maximum(input, -25.0)
        return s
    if input.dtype == np.float32:
        return _gelu32(input)
    y = special.ndtr(input)  # Φ(x), accurate in both tails
    y *= np.maximum(input, -100.0)  # Φ is exactly 0 below -40: the clip only keeps -inf·0 out
    return y


# Φ(-a) = e^(-a²/2)·P(a)/Q(a) for a in [0, 15] (P degree 4, Q monic degree 5): a rational
# fit of the scaled Mills ratio ½·erfcx(a/√2), weighted for minimax relative error
# against scipy in float64 (max 6.3e-9; evaluated in float32, ~3 ulp). Fitted for nnfunc.
_NDTR_P = (48.030466211141835, 42.197485382504055, 17.671893475966666, 3.9269628900776694,
           0.39894656176200816)  # fmt: skip
_NDTR_Q = (96.06093181808791, 161.04054798618532, 115.80460214275321, 45.283027960661855,
           9.844023981681449)  # fmt: skip


def _gelu32(x: np.ndarray) -> np.ndarray:
    """float32 gelu in ~30 vectorized passes instead of scipy's scalar ndtr (~25 ns an
    element): gelu(x) = max(x, 0) − a·Φ(−a) with a = |x| (x·Φ(x) = x − x·Φ(−x) for
    x > 0), so only the left tail Φ(−a), which never cancels, is approximated. Within
    a few ulp of float64 scipy (tests/catalog/test_accuracy.py)."""
    if x.ndim == 0:
        return _gelu32(x.reshape(1)).reshape(())
    a = np.abs(x)
    np.minimum(a, 15, out=a)  # Φ(−15) underflows float32; keeps ∞ out of P/Q and ∞·0
    # e^(−a²/2) in float64: in float32, the rounding of a² would cost up to ~50 ulp.
    e = np.square(a, dtype=np.float64)
    e *= -0.5
    np.exp(e, out=e)
    num = a * np.float32(_NDTR_P[4])
    for c in _NDTR_P[3::-1]:
        num += np.float32(c)
        if c != _NDTR_P[0]:
            num *= a
    den = a + np.float32(_NDTR_Q[4])
    for c in _NDTR_Q[3::-1]:
        den *= a
        den += np.float32(c)
    num /= den
    num *= a
    # a·P/Q·e^(−a²/2): one float64 product rounded once (no subnormal float32 step).
    np.multiply(num, e, out=num, casting="same_kind")
    y = np.maximum(x, 0)
    y -= num
    return y


@gelu.defvjp
def _(g, y, input, *, approximate):
    if approximate == "tanh":
        xc = np.clip(input, -25.0, 25.0)  # the derivative is exactly 0 / 1 beyond ±25
        s = _gelu_tanh_gate(xc)
        # s + x·s(1 - s)·2u'(x), s = σ(2u) (= ½(1 + t) + ½x(1 - t²)u', t = tanh u);
        # s(1 - s) from float64 s: in float32, 1 - s would cancel for x > 2
        d = ((1 - s) * s).astype(input.dtype, copy=False)
        s = s.astype(input.dtype, copy=False)
        d *= xc
        d *= (2 * _GELU_K) * (1 + (3 * _GELU_C) * (xc * xc))
        d += s
        d *= g
        return d
    return _gelu_vjp(g, y, input)


def _gelu_vjp(g: np.ndarray, y: np.ndarray, input: np.ndarray) -> np.ndarray:
    """Φ(x) + x·φ(x), with Φ(x) = y/x from the output (a few ulp, like y) rather than a
    second Φ. φ is exactly 0 beyond ±40, so clipping keeps x² and x·φ finite."""
    if input.ndim == 0:  # out= needs arrays
        return _gelu_vjp(*(np.reshape(a, 1) for a in (g, y, input))).reshape(())
    xc = np.clip(input, -100.0, 100.0)
    d = np.square(xc)
    d *= -0.5
    np.exp(d, out=d)
    d *= xc
    d *= 1 / _SQRT_2PI
    if _ordinary(input):
        d += y / input
    else:  # tiny, ±inf or NaN somewhere: Φ = y/x only where x is finite and not tiny
        m = np.abs(input)
        ok = (m >= _TINY) & (m < math.inf)
        phi = np.divide(y, input, out=np.full_like(d, 0.5), where=ok)  # Φ(tiny) = 0.5
        np.copyto(phi, (input > 0).astype(d.dtype), where=np.isinf(input))
        np.copyto(phi, input, where=np.isnan(input))
        d += phi
    d *= g
    return d


# Below this |x|, Φ(x) = 0.5 to float64 precision, and y = x·Φ(x) may be subnormal
# (too few digits for y/x).
_TINY = 1e-30


def _ordinary(x: np.ndarray) -> bool:
    """Every |x| finite and >= _TINY (so NaN fails too): two fast reductions."""
    if x.size == 0:
        return True
    m = np.abs(x)
    return bool(m.min() >= _TINY and m.max() < math.inf)


# gelu's float32 kernels. An exponential whose argument is large (-a²/2, -2|u|) loses
# |argument| ulps when that argument is rounded to float32 (the NumPy forms keep it in
# float64 for this reason), so they take it as a float32 pair hi + lo, reduced in two
# parts as expf reduces its argument; and return 2^64·e^(hi + lo), normal down to
# e^-130, so that a subnormal result is rounded once, by the caller's last product.
_TWO_M64 = f32(2.0**-64)


@_kernels.inline
def _exp_scaled(hi, lo):  # pragma: no cover - compiled
    """2^64·e^(hi + lo) within 1 ulp, for float32 hi + lo in [-130, 0] (|lo| << 1):
    expf's reduction (n = round((hi + lo)/ln 2), hi - n·ln 2 exact) and polynomial."""
    k = _kernels
    n = (hi + lo) * k._LOG2E + k._ROUND - k._ROUND
    r = (hi - n * k._LN2_HI) + (lo - n * k._LN2_LO)
    p = ((((k._E7 * r + k._E6) * r + k._E5) * r + k._E4) * r + k._E3) * r + k._E2
    p = (p * r + f32(1.0)) * r + f32(1.0)
    return p * np.int32((np.int32(n) + 191) << 23).view(np.float32)  # p·2^(n + 64)


# Φ(-a) = e^(-a²/2)·P(a)/Q(a) as _gelu32 has it; -a²/2 = -ah²/2 - al·(a + ah)/2 with ah
# a's leading 12 bits (al the rest), so that ah² is exact.
_GP = tuple(f32(c) for c in _NDTR_P)
_GQ = tuple(f32(c) for c in _NDTR_Q)
_HIGH12 = np.int32(-4096)  # the bits of a float32 but the low 12
_INV_SQRT_2PI32 = f32(1 / _SQRT_2PI)
_TINY32, _INF32 = f32(_TINY), f32(np.inf)


@_kernels.inline
def _gelu_parts(v):  # pragma: no cover - compiled
    """(gelu(x), x·φ(x)) in float32: max(x, 0) - a·Φ(-a) with a = min(|x|, 15), as
    _gelu32, and x·φ(x) from the same e^(-a²/2) (exactly 0 beyond |x| = 15 in float32)."""
    a = min(abs(v), f32(15.0))
    ah = np.int32(np.float32(a).view(np.int32) & _HIGH12).view(np.float32)
    e = _exp_scaled((ah * f32(-0.5)) * ah, ((a - ah) * f32(-0.5)) * (a + ah))
    p0, p1, p2, p3, p4 = _GP
    q0, q1, q2, q3, q4 = _GQ
    num = (((p4 * a + p3) * a + p2) * a + p1) * a + p0
    den = ((((a + q4) * a + q3) * a + q2) * a + q1) * a + q0
    # x (or a) last but one: a subnormal x is then rounded only once, by 2^-64
    y = _max(v, f32(0.0)) - (((num / den) * e) * a) * _TWO_M64
    xphi = ((_INV_SQRT_2PI32 * e) * math.copysign(a, v)) * _TWO_M64
    return y, xphi


@_kernels.kernel
def _gelu(x, out):  # pragma: no cover - compiled
    for i in prange(x.size):
        out[i] = _gelu_parts(x[i])[0]


@_kernels.kernel
def _gelu_grad(g, x, out, dx):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = x[i]
        y, xphi = _gelu_parts(v)
        out[i] = y
        m = abs(v)
        # Φ(x) = y/x, except (as _gelu_vjp) at tiny x (½), ±inf (1, 0) and NaN
        special = f32(0.5) if m < _TINY32 else (f32(v > 0.0) if m == _INF32 else v)
        phi = y / v if (m >= _TINY32 and m < _INF32) else special
        dx[i] = (phi + xphi) * g[i]


@_kernels.inline
def _gelu_tanh_parts(v):  # pragma: no cover - compiled
    """(x clipped to ±25, s = σ(2u) of it, s(1 - s)): ``_gelu_tanh_gate``, with 2u in
    float64; s(1 - s) = e/(1 + e)² with e = e^-|2u| (no cancellation)."""
    xc = _min(_max(v, f32(-25.0)), f32(25.0))
    x = np.float64(xc)
    z = ((2 * _GELU_K) * x) * (1.0 + (_GELU_C * x) * x)
    t = max(-abs(z), -104.0)  # e^-104 rounds to 0 in float32
    hi = np.float32(t)
    e = _exp_scaled(hi, np.float32(t - np.float64(hi))) * _TWO_M64
    r = f32(1.0) / (f32(1.0) + e)
    return xc, (r if z >= 0.0 else e * r), (e * r) * r


@_kernels.kernel
def _gelu_tanh(x, out):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = x[i]
        out[i] = _gelu_tanh_parts(v)[1] * _max(v, f32(-25.0))  # x·σ(2u)


_GELU_2K32, _GELU_3C32 = f32(2 * _GELU_K), f32(3 * _GELU_C)


@_kernels.kernel
def _gelu_tanh_grad(g, x, out, dx):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = x[i]
        xc, s, q = _gelu_tanh_parts(v)
        out[i] = s * _max(v, f32(-25.0))
        d = (q * xc) * (_GELU_2K32 * (f32(1.0) + _GELU_3C32 * (xc * xc)))
        dx[i] = (d + s) * g[i]


@gelu.defkernels
def _(dtype, approximate):
    if dtype != np.float32:
        return None
    if approximate == "tanh":
        return (_gelu_tanh, _gelu_tanh_grad, ())
    return (_gelu, _gelu_grad, ())


@activation(
    summary="Sigmoid-weighted linear unit (swish with β = 1): x·σ(x), a smooth ReLU with "
    "a small negative dip; used in EfficientNet and many LLM MLPs.",
    formula="silu(x) = x·σ(x) = x / (1 + e^(-x))",
    output_range="[≈-0.27846 (x ≈ -1.2785), inf)",
    aliases=("swish",),
    notes=("The gradient at a NaN input is NaN, as torch's.",),
    elementwise=True,
    parallel_min_size=_ops.TRANSCENDENTAL_MIN_SIZE,
)
def silu(input):
    return _ops.logistic_times(input)  # x / (1 + e^(-x)), one division


@silu.defvjp
def _(g, y, input):
    # silu' = σ(1 + x(1 - σ)) = σ + y(1 - σ). 1 - σ is exactly 0 wherever y > 40, so
    # clipping y keeps inf·0 out at x = +inf without changing any value (and skipping
    # the clip when y is finite changes none either).
    s = _ops.sigmoid(input)
    d = np.subtract(1, s)
    d *= y if _finite_max(y) else np.minimum(y, 1000.0)
    d += s
    d *= g
    return d


def _finite_max(a: np.ndarray) -> bool:
    """max(a) < inf (False when a holds NaN or +inf): one fast reduction."""
    return a.size == 0 or bool(a.max() < math.inf)


_E_M32 = f32(math.exp(-32.0))


@_kernels.inline
def _silu_parts(v):  # pragma: no cover - compiled
    """(x·σ(x), σ(x)) as _ops.logistic_times and _ops.sigmoid: x/(1 + e^-x) and
    1/(1 + e^-x) from x = -80; below, x·e^x and e^x, with e^x = e^(x + 32)·e^-32 so
    that x·e^(x + 32) is still normal and a subnormal x·e^x is rounded once."""
    far = v < f32(-80.0)
    e = expf(v + f32(32.0) if far else -v)  # x + 32 is exact there
    d = f32(1.0) + e
    y = (_max(v, f32(-1000.0)) * e) * _E_M32 if far else v / d  # max: -inf·0 is -0
    return y, (e * _E_M32 if far else f32(1.0) / d)


@_kernels.kernel
def _silu(x, out):  # pragma: no cover - compiled
    for i in prange(x.size):
        out[i] = _silu_parts(x[i])[0]


@_kernels.kernel
def _silu_grad(g, x, out, dx):  # pragma: no cover - compiled
    for i in prange(x.size):
        y, s = _silu_parts(x[i])
        out[i] = y
        dx[i] = ((f32(1.0) - s) * _min(y, f32(1000.0)) + s) * g[i]


@silu.defkernels
def _(dtype):
    return (_silu, _silu_grad, ()) if dtype == np.float32 else None


@activation(
    summary="Self-regularised smooth activation x·tanh(softplus(x)); a smooth ReLU "
    "alternative used in YOLOv4.",
    formula="mish(x) = x·tanh(softplus(x)) = x·tanh(ln(1 + e^x))",
    output_range="[≈-0.30884 (x ≈ -1.1924), inf)",
    notes=("mish'(0) = 0.6. The gradient at a NaN input is NaN, as torch's.",),
    elementwise=True,
    parallel_min_size=_ops.TRANSCENDENTAL_MIN_SIZE,
)
def mish(input):
    y = np.tanh(_ops.softplus(input))  # stable softplus: the exponent is never positive
    y *= np.maximum(input, -1000.0)  # tanh(softplus(x)) is exactly 0 below -800
    return y


def _sech2(z: np.ndarray) -> np.ndarray:
    """1/cosh²(z) for z >= 0 (a softplus): 1 - tanh²(z) without the cancellation of
    1 - t·t (20 ulp of mish' near x = 8 in float32). z is clipped at 44, where the
    value, 3e-38, is already negligible next to tanh = 1 (cosh overflows at 89)."""
    r = 1 / np.cosh(np.minimum(z, 44.0))
    return r * r


@mish.defvjp
def _(g, y, input):
    # mish' = t + x·(1 - t²)·σ(x), t = tanh(softplus(x)). σ is exactly 0 below -800,
    # and 1 - t² tiny above, so clipping x keeps ±inf·0 out.
    sp = _ops.softplus(input)
    t = np.tanh(sp)
    d = _sech2(sp)
    d *= np.clip(input, -1000.0, 1000.0)
    d *= _ops.sigmoid(input)
    d += t
    d *= g
    return d


@_kernels.inline
def _mish_parts(v):  # pragma: no cover - compiled
    """(t, 1 - t, σ(x)) for t = tanh(softplus(x)), from one e = e^-|x|: with w = 1 + e^x,
    t = (w² - 1)/(w² + 1) = n/(n + c), where n = e(e + 2), c = 2 for x <= 0 and
    n = 1 + 2e, c = 2e² above: no overflow, and 1 - t = c/(n + c) (as ``_sech2``, no
    cancellation in 1 - t² = (1 - t)(1 + t))."""
    e = expf(-abs(v))
    above = v > f32(0.0)
    c = f32(2.0) * e * e if above else f32(2.0)
    n = f32(1.0) + f32(2.0) * e if above else e * (e + f32(2.0))
    return n / (n + c), c / (n + c), _sigmoid_of(e, v)


@_kernels.kernel
def _mish(x, out):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = x[i]
        out[i] = _mish_parts(v)[0] * _max(v, f32(-1000.0))


@_kernels.kernel
def _mish_grad(g, x, out, dx):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = x[i]
        t, u, s = _mish_parts(v)
        out[i] = t * _max(v, f32(-1000.0))
        xc = _min(_max(v, f32(-1000.0)), f32(1000.0))
        dx[i] = (((u * (f32(1.0) + t)) * xc) * s + t) * g[i]


@mish.defkernels
def _(dtype):
    return (_mish, _mish_grad, ()) if dtype == np.float32 else None


def _softplus_z(x: np.ndarray, beta: float) -> np.ndarray:
    """βx, overflowing quietly to ±inf for huge x (x itself when β = 1)."""
    return x if beta == 1 else _safe.product(x, _safe.scalar(beta, x.dtype))


@activation(
    summary="Smooth approximation of relu, log(1 + e^(βx))/β; reverts to x once βx "
    "exceeds threshold, as torch does.",
    formula="softplus(x) = (1/beta)·log(1 + e^(beta·x)), or x when beta·x > threshold",
    params=(
        Param(
            "beta",
            "float",
            1.0,
            "Sharpness β (nonzero; negative values are accepted, as in torch).",
            minimum=-FLOAT32_MAX,
            maximum=FLOAT32_MAX,
        ),
        Param(
            "threshold",
            "float",
            20.0,
            "Above beta·x > threshold the output is x itself (inf disables the switch).",
        ),
    ),
    output_range="(0, inf) for beta > 0; (-inf, 0) for beta < 0",
    kinks=(
        "x = threshold/beta: a tiny discontinuity (value and gradient jump by about "
        "e^(-threshold)); at beta·x == threshold torch still uses the log branch "
        "(gradient σ(threshold) = 0.9999999979 with the defaults), just above it x and 1",
    ),
    notes=(
        "The log branch is max(z, 0) + log1p(e^(-|z|)), z = beta·x: the exponent is never "
        "positive.",
        "The gradient at a NaN input is NaN, as torch's.",
    ),
    elementwise=True,
    parallel_min_size=_ops.TRANSCENDENTAL_MIN_SIZE,
)
def softplus(input, *, beta, threshold):
    z = _softplus_z(input, beta)
    y = _ops.softplus(z)
    if beta != 1:
        y /= beta
    return np.where(z > threshold, input, y)  # mostly one-sided: np.where is fast here


@softplus.defvjp
def _(g, y, input, *, beta, threshold):
    z = _softplus_z(input, beta)
    d = _ops.sigmoid(z)  # d/dx log(1 + e^(βx))/β = σ(βx)
    d *= g
    return np.where(z > threshold, g, d)


@_kernels.inline
def _softplus_parts(z):  # pragma: no cover - compiled
    """(max(z, 0) + log1p(e^-|z|), σ(z)): _ops.softplus and _ops.sigmoid, one exp."""
    e = expf(-abs(z))
    return _max(z, f32(0.0)) + log1pf(e), _sigmoid_of(e, z)


@_kernels.kernel
def _softplus(x, beta, threshold, out):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = x[i]
        z = v * beta  # exact for β = 1, as the NumPy form's z = x
        out[i] = v if z > threshold else _softplus_parts(z)[0] / beta


@_kernels.kernel
def _softplus_grad(g, x, beta, threshold, out, dx):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = x[i]
        z = v * beta
        sp, s = _softplus_parts(z)
        above = z > threshold
        out[i] = v if above else sp / beta
        dx[i] = g[i] if above else s * g[i]


@softplus.defkernels
def _(dtype, beta, threshold):
    # threshold compared as NumPy compares it with a float32 array: rounded to float32
    return (_softplus, _softplus_grad, (f32(beta), f32(threshold))) if dtype == np.float32 else None


@softplus.defcheck
def _(params, inputs):
    if params["beta"] == 0:
        raise InvalidArgumentError(
            "parameters.beta: expected a nonzero number (softplus divides by beta), got 0.0",
            field="parameters.beta",
        )


@softplus.defkinks
def _(eps, input, *, beta, threshold):
    point = threshold / beta
    if not math.isfinite(point):
        return (np.zeros(np.shape(input), dtype=bool),)
    return (np.abs(input - point) <= eps,)


# ---------------------------------------------------------------------------
# Second order (check_gradient(order=2)): f''(x) for each elementwise entry
# ---------------------------------------------------------------------------


@sigmoid.defsecond
def _(y, input):
    d = 1 - 2 * y  # σ'' = σ(1 − σ)(1 − 2σ)
    d *= y
    d *= 1 - y
    return d


@tanh.defsecond
def _(y, input):
    return -2 * y * (1 - y * y)  # tanh'' = −2 tanh (1 − tanh²)


relu.defsecond(lambda y, input: 0)
leaky_relu.defsecond(lambda y, input, *, negative_slope: 0)
rrelu.defsecond(lambda y, input, *, lower, upper, training: 0)


@prelu.defvjpvjp
def _(w, g, y, input, weight):
    # h = (g·s(x, a), Σ g·min(0, x)) with s = 1 for x > 0, else a.
    wx, wa = w
    a = _prelu_slopes(input, weight)
    wa_b = _prelu_slopes(input, wa)
    negative = input <= 0  # the slope's side (torch: a at 0 and NaN too)
    dg = wx * np.where(negative, a, 1) + _times0(wa_b, np.minimum(input, 0))
    # ∂/∂x: g·w_a where x < 0 (min(0, x)' = 1 there, 0 at the kink x = 0)
    dx = g * wa_b * (input < 0)
    contrib = wx * g * negative
    axes = tuple(k for k in range(input.ndim) if a.ndim == 0 or k != 1)
    da = contrib.sum(axis=axes) if axes else contrib
    return dg, dx, np.reshape(da, weight.shape)


def _exp_below_zero(x: np.ndarray, scale: float) -> np.ndarray:
    """scale·e^x for x <= 0, 0 above and at NaN: the second derivative of elu/selu."""
    d = np.exp(np.fmin(x, 0))
    d *= _pick(x <= 0, scale, 0.0, x.dtype)
    return d


def _kink_at_zero(step, input, /, **params):
    return (np.abs(input) <= step,)


elu.defsecond(lambda y, input, *, alpha: _exp_below_zero(input, alpha))
elu.defkinks2(_kink_at_zero)  # f'' jumps from alpha to 0 (a kink of f' even for alpha = 1)
selu.defsecond(lambda y, input: _exp_below_zero(input, SELU_SCALE * SELU_ALPHA))
selu.defkinks2(_kink_at_zero)


@celu.defsecond
def _(y, input, *, alpha):
    d = np.exp(_celu_exponent(input, alpha))  # e^(x/α)/α for x <= 0, 0 above
    d *= _pick(input <= 0, 1 / alpha, 0.0, input.dtype)
    return d


celu.defkinks2(_kink_at_zero)  # f' is continuous at 0, f'' jumps from 1/alpha to 0


@gelu.defsecond
def _(y, input, *, approximate):
    if approximate == "tanh":
        # f' = ½(1 + t) + ½x(1 − t²)u', t = tanh(u), u = k(x + cx³):
        # f'' = (1 − t²)(u' − x·t·u'² + 3kc·x²)
        xc = np.clip(input, -10.0, 10.0)
        x2 = xc * xc
        t = _gelu_tanh_inner(xc)
        du = _GELU_K * (1 + (3 * _GELU_C) * x2)
        d = du - xc * t * du * du + (3 * _GELU_K * _GELU_C) * x2
        d *= 1 - t * t
        return d
    xc = np.clip(input, -100.0, 100.0)  # φ is exactly 0 beyond ±40
    x2 = xc * xc
    d = np.exp(-0.5 * x2)  # gelu'' = φ(x)(2 − x²)
    d *= (2 - x2) * (1 / _SQRT_2PI)
    return d


@silu.defsecond
def _(y, input):
    s = _ops.sigmoid(input)  # silu'' = σ(1 − σ)(2 + x(1 − 2σ))
    xc = np.clip(input, -1000.0, 1000.0)  # σ(1 − σ) is exactly 0 beyond: no inf·0
    d = 2 + xc * (1 - 2 * s)
    d *= s * (1 - s)
    return d


@mish.defsecond
def _(y, input):
    # mish' = t + x(1 − t²)σ with t' = (1 − t²)σ, σ' = σ(1 − σ):
    # mish'' = (1 − t²)σ·(2 + x((1 − σ) − 2tσ))
    sp = _ops.softplus(input)
    t = np.tanh(sp)
    s = _ops.sigmoid(input)
    xc = np.clip(input, -1000.0, 1000.0)
    d = 2 + xc * ((1 - s) - 2 * t * s)
    d *= _sech2(sp) * s
    return d


@softplus.defsecond
def _(y, input, *, beta, threshold):
    z = _softplus_z(input, beta)
    s = _ops.sigmoid(z)  # β·σ(βx)(1 − σ(βx)) on the log branch, 0 on the linear one
    d = s * (1 - s)
    d *= beta
    return np.where(z > threshold, 0, d)
