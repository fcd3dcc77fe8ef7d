"""Test entries for the losses beyond torch (keras, optax, torchvision; schema: cases.py).

"ref §2.2 #k" cites /work/shared/catalog-reference.md, whose RUN values come from keras
3.15.1 (JAX backend), optax 0.2.8 and torch 2.13; "keras doc" quotes the example in the
Keras docstring. "by hand" values are closed forms worked from the framework's formula,
written out below with math (never with the catalog).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from tests.catalog.cases import EXTREME, Case, Grad, Raises, Sample, Value, reals, shapes

NAN, INF = math.nan, math.inf
LN2 = math.log(2.0)
EPS = 1e-7  # keras.backend.epsilon()
REDUCTIONS = st.sampled_from(["none", "mean", "sum"])


def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def _softmax(v):
    m = max(v)
    e = [math.exp(a - m) for a in v]
    s = sum(e)
    return [a / s for a in e]


def _a(*rows):
    return np.array(rows, dtype=np.float64)


# ---------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------


def _labels(draw, lead, c):
    n = int(np.prod(lead))
    return np.asarray(
        draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)), np.int64
    ).reshape(lead)


def pairs(dtype, x=(-5.0, 5.0), y=(-5.0, 5.0), min_dims=1, params=None, reduction=True):
    """(input, target) of one shape; ``params`` a strategy of dicts."""
    params = params if params is not None else st.just({})

    def build(shape):
        return st.builds(
            lambda a, b, p, r: Sample((a, b), {**p, **({"reduction": r} if reduction else {})}),
            reals(dtype, shape, *x),
            reals(dtype, shape, *y),
            params,
            REDUCTIONS,
        )

    return shapes(min_dims=min_dims).flatmap(build)


@st.composite
def signed_labels(draw, dtype, binary=False, squared=False):
    shape = draw(shapes(min_dims=1))
    x = draw(reals(dtype, shape, -3, 3))
    values = [0.0, 1.0] if binary else [-1.0, 1.0]
    n = int(np.prod(shape))
    y = np.asarray(draw(st.lists(st.sampled_from(values), min_size=n, max_size=n)))
    return Sample((x, y.reshape(shape).astype(dtype)), {"reduction": draw(REDUCTIONS)})


@st.composite
def scores_and_labels(draw, dtype, low=-4.0, high=4.0, reduction=True, extra=None):
    lead = draw(st.sampled_from([(), (0,), (2,), (3,), (2, 2)]))
    c = draw(st.integers(1, 4))
    x = draw(reals(dtype, (*lead, c), low, high))
    params = {"reduction": draw(REDUCTIONS)} if reduction else {}
    if extra is not None:
        params.update(draw(extra))
    return Sample((x, _labels(draw, lead, c)), params)


@st.composite
def one_hot_pairs(draw, dtype, low=-4.0, high=4.0):
    lead = draw(st.sampled_from([(), (0,), (2,), (3,), (2, 2)]))
    c = draw(st.integers(1, 4))
    x = draw(reals(dtype, (*lead, c), low, high))
    y = np.eye(c)[_labels(draw, lead, c)]
    return Sample((x, y.astype(dtype)), {"reduction": draw(REDUCTIONS)})


@st.composite
def focal_samples(draw, dtype):
    shape = draw(shapes())
    params = {
        "alpha": draw(st.sampled_from([0.25, -1.0, 0.5])),
        "gamma": draw(st.sampled_from([2.0, 0.0, 0.5, 1.5])),
        "reduction": draw(REDUCTIONS),
    }
    return Sample((draw(reals(dtype, shape, -6, 6)), draw(reals(dtype, shape, 0, 1))), params)


@st.composite
def categorical_focal_samples(draw, dtype):
    lead = draw(st.sampled_from([(), (0,), (2,), (2, 2)]))
    c = draw(st.integers(1, 4))
    logits = draw(st.booleans())
    x = draw(reals(dtype, (*lead, c), -4, 4) if logits else reals(dtype, (*lead, c), 0.05, 1))
    y = draw(reals(dtype, (*lead, c), 0, 1))
    params = {
        "alpha": draw(st.sampled_from([0.25, 1.0])),
        "gamma": draw(st.sampled_from([2.0, 0.0, 0.5])),
        "from_logits": logits,
        "label_smoothing": draw(st.sampled_from([0.0, 0.1])),
        "reduction": draw(REDUCTIONS),
    }
    return Sample((x, y), params)


@st.composite
def vector_pairs(draw, dtype, params=None):
    shape = draw(shapes(min_dims=1, min_side=1))
    x = draw(reals(dtype, shape, -3, 3))
    y = draw(reals(dtype, shape, -3, 3))
    x = x.copy()
    y = y.copy()
    x[..., 0] += dtype.type(5)  # norms of at least 2: away from the clamps
    y[..., 0] -= dtype.type(5)
    p = {"reduction": draw(REDUCTIONS)}
    if params is not None:
        p.update(draw(params))
    return Sample((x, y), p)


@st.composite
def gdice_samples(draw, dtype):
    layout = draw(st.sampled_from([(3,), (2, 3), (2, 2, 3), (1, 2, 2, 2), (2, 2, 1)]))
    c = layout[-1]
    apply = draw(st.booleans())
    if apply:
        x = draw(reals(dtype, layout, -3, 3))
    else:  # probabilities in eighths: exact in every dtype, so they sum to exactly 1
        n = int(np.prod(layout[:-1]))
        rows = []
        for _ in range(n):
            cuts = sorted(draw(st.lists(st.integers(0, 8), min_size=c - 1, max_size=c - 1)))
            rows.append(np.diff([0, *cuts, 8]) / 8.0)
        x = np.asarray(rows, dtype=np.float64).reshape(layout).astype(dtype)
    lead = layout[:-1]
    y = np.eye(c)[_labels(draw, lead, c)]
    params = {
        "smooth": draw(st.sampled_from([1.0, 0.5])),
        "apply_softmax": apply,
        "ignore_background": draw(st.booleans()),
    }
    return Sample((x, y.astype(dtype)), params)


@st.composite
def ranking_samples(draw, dtype):
    lead = draw(st.sampled_from([(), (0,), (2,), (2, 2)]))
    n = draw(st.integers(0, 4))
    x = draw(reals(dtype, (*lead, n), -4, 4))
    y = draw(reals(dtype, (*lead, n), 0, 3))
    weights = None
    if draw(st.booleans()):
        weights = np.asarray(draw(st.lists(st.floats(0.1, 2), min_size=n, max_size=n)))
    return Sample((x, y), {"weights": weights, "reduction": draw(REDUCTIONS)})


# ---------------------------------------------------------------------------
# Extremes: every pair of EXTREME values, as one row and as rows of two
# ---------------------------------------------------------------------------

_X, _Y = (a.ravel() for a in np.meshgrid(EXTREME, EXTREME))
_PM = np.where(np.arange(_X.size) % 2, 1.0, -1.0)
_UNIT = np.clip(np.nan_to_num(np.abs(_Y), nan=0.5), 0.0, 1.0)
_ROWS = _X.reshape(-1, 4)  # 81 rows of 4 scores
_LABELS = np.arange(_ROWS.shape[0]) % 4
_ONEHOT = np.eye(4)[_LABELS]
_YROWS = _Y.reshape(-1, 4)


def _each(inputs, extra=("none", "mean", "sum"), **params):
    return [Sample(inputs, {**params, "reduction": r}) for r in extra]


def _pairwise():
    return [*_each((_X.reshape(-1, 2), _Y.reshape(-1, 2))), Sample((_X, _Y), {"reduction": "none"})]


# ---------------------------------------------------------------------------
# Hand values used below
# ---------------------------------------------------------------------------

_Q123 = _softmax([1.0, 2.0, 3.0])
_POLY = -math.log(_Q123[2]) + 2.0 * (1 - _Q123[2])  # ref §2.2 #33: 1.07712 (RUN)

# Keras doc example of categorical_focal_crossentropy (rows sum to 1: no renormalising)
_CF_X = _a([0.05, 0.9, 0.05], [0.1, 0.85, 0.05])
_CF_Y = _a([0, 1, 0], [0, 0, 1])
_CF = [0.25 * 0.1**2 * -math.log(0.9), 0.25 * 0.95**2 * -math.log(0.05)]
# its gradient for the first row: u₁ = α[γ(1 − c)^(γ−1)·log c − (1 − c)^γ/c] at c = 0.9,
# then through o = p/S (S = 1): v_j = u_j − u₁·o₁
_U1 = 0.25 * (2 * 0.1 * math.log(0.9) - 0.1**2 / 0.9)
_CF_G = [-0.9 * _U1, _U1 - 0.9 * _U1, -0.9 * _U1]

# sparsemax([1, 0.5, −1]) = [0.75, 0.25, 0]: support 2, τ = (1.5 − 1)/2 = 0.25
_SP = [0.75, 0.25, 0.0]
_SP_HALF = 0.5 * (1 - 0.75**2 - 0.25**2)

# generalized dice, probabilities (1, 2, 2): classes' (I, P, T) = (.8, 1.2, 1), (.6, .8, 1),
# frequencies [1, 1] so both weights are 1
_GD0 = 1 - (0.8 + 1) / (0.8 + 0.5 * 0.4 + 0.5 * 0.2 + 1)
_GD1 = 1 - (0.6 + 1) / (0.6 + 0.5 * 0.2 + 0.5 * 0.4 + 1)

# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------

CASES: dict[str, Case] = {
    "log_cosh": Case(
        sample=lambda dt: pairs(dt, min_dims=0),
        values=[
            Value(
                (_a(0.0, 1.0, -2.0, 1000.0), _a(0, 0, 0, 0)),
                [0.0, math.log(math.cosh(1.0)), math.log(math.cosh(2.0)), 1000.0 - LN2],
                "by hand: log cosh d; log cosh 1000 = 1000 − log 2 (cosh itself overflows)",
                {"reduction": "none"},
            ),
            Value(
                (np.float32(100.0), np.float32(0.0)),
                np.float32(100.0 - LN2),
                "ref §2.2 #23: no overflow in float32 at |d| = 100 (cosh overflows at ≈ 89)",
                rtol=1e-6,
            ),
            Value(
                (np.array(1e-8), np.array(0.0)),
                0.5e-16,
                "by hand: log cosh d ≈ d²/2 for tiny d (accurate, no cancellation)",
                rtol=1e-7,
            ),
            Value(
                (_a(1.0, 2.0), _a(0.0, 0.0)),
                math.log(math.cosh(1)) + math.log(math.cosh(2)),
                "by hand: 'sum'",
                {"reduction": "sum"},
            ),
            Value((np.inf, np.inf), NAN, "by hand: d = inf − inf is NaN"),
        ],
        grads=[
            Grad(
                (_a(0.5, -3.0), _a(0.0, -1.0)),
                ([math.tanh(0.5), math.tanh(-2.0)],),
                "by hand: (log cosh d)' = tanh d",
                {"reduction": "none"},
            ),
            Grad(
                (_a(0.5, -3.0), _a(0.0, -1.0)),
                ([math.tanh(0.5) / 2, math.tanh(-2.0) / 2],),
                "by hand: tanh d / n for 'mean'",
                {"reduction": "mean"},
            ),
        ],
        errors=[Raises((_a(1.0, 2.0), _a(1.0)), "inputs[1]", why="shapes differ")],
        extremes=[*_each((_X, _Y)), Sample((np.float64(1e300), np.float64(-1e300)), {})],
    ),
    "mean_absolute_percentage_error": Case(
        sample=lambda dt: pairs(dt, y=(0.5, 5.0)),
        values=[
            Value(
                (_a([1.0, -5.0]), _a([2.0, -4.0])),
                37.5,
                "by hand: 100·mean(|2 − 1|/2, |−4 + 5|/4) = 100·(0.5 + 0.25)/2",
            ),
            Value(
                (_a([1.0, 1.0]), _a([0.0, 1.0])),
                5e8,
                "ref §2.2 #24 (RUN 5e8): y = 0 divides by ε = 1e−7, 100·mean(1e7, 0)",
                rtol=1e-9,
            ),
            Value(
                (_a([1.0, 1.0], [3.0, 3.0]), _a([2.0, 2.0], [3.0, 6.0])),
                [50.0, 25.0],
                "by hand: one loss per row (Keras's mean over the last axis)",
                {"reduction": "none"},
            ),
            Value(
                (np.zeros((0, 3)), np.zeros((0, 3))),
                0.0,
                "ref §0.5: Keras's mean of no samples is 0 (divide_no_nan)",
            ),
        ],
        grads=[
            Grad(
                (_a([1.0, -5.0]), _a([2.0, -4.0])),
                ([[-25.0, -12.5]],),
                "by hand: −100·sign(y − x)/(max(|y|, ε)·n) with n = 2",
                {"reduction": "sum"},
            ),
            Grad(
                (_a([3.0]), _a([3.0])),
                ([[-100.0 / 3.0]],),
                "kink x = y: jax's abs'(0) = +1 (x >= 0 branch), so −100/(|y|·n)",
                {"reduction": "sum"},
            ),
        ],
        errors=[
            Raises((np.float64(1.0), np.float64(1.0)), "inputs[0]", why="0-d: no last axis"),
            Raises((_a([1.0, 2.0]), _a([1.0])), "inputs[1]", why="shapes differ"),
            Raises((_a([1.0]), _a([1.0])), "parameters.reduction", {"reduction": "avg"}),
        ],
        extremes=_pairwise(),
    ),
    "mean_squared_logarithmic_error": Case(
        sample=lambda dt: pairs(dt, x=(0.01, 5.0), y=(0.0, 5.0)),
        values=[
            Value(
                (_a([3.0, 1.0]), _a([1.0, 3.0])),
                LN2**2,
                "by hand: (log 4 − log 2)² and (log 2 − log 4)², averaged",
            ),
            Value(
                (_a([-3.0]), _a([1.0])),
                (math.log1p(EPS) - LN2) ** 2,
                "by hand: a negative prediction counts as ε = 1e−7",
                rtol=1e-10,
            ),
        ],
        grads=[
            Grad(
                (_a([3.0, 1.0]), _a([1.0, 3.0])),
                ([[LN2 / 4, -LN2 / 2]],),
                "by hand: 2Δ/((x + 1)·n): 2·log2/(4·2) and −2·log2/(2·2)",
                {"reduction": "sum"},
            ),
            Grad(
                (_a([EPS]), _a([1.0])),
                ([[(math.log1p(EPS) - LN2) / (1 + EPS)]],),
                "kink x = ε: jnp.maximum's tie gives half of 2Δ/(ε + 1)",
                {"reduction": "sum"},
                rtol=1e-9,
            ),
            Grad(
                (_a([-2.0]), _a([1.0])),
                ([[0.0]],),
                "by hand: below ε the gradient is 0",
                {"reduction": "sum"},
            ),
        ],
        errors=[Raises((np.float64(1.0), np.float64(1.0)), "inputs[0]", why="0-d")],
        extremes=_pairwise(),
    ),
    "hinge": Case(
        sample=lambda dt: st.one_of(signed_labels(dt), signed_labels(dt, binary=True)),
        values=[
            Value(
                (_a([0.3, 0.4]), _a([0.0, 1.0])),
                0.95,
                "ref §2.2 #26 (RUN 0.95): labels 0/1 become −1/1; mean(1.3, 0.6)",
            ),
            Value(
                (_a([0.3, 0.4]), _a([-1.0, 0.5])),
                1.05,
                "by hand: labels not all 0/1 are kept: mean(1 + 0.3, 1 − 0.2)",
            ),
            Value(
                (_a([0.3, 0.4], [2.0, -2.0]), _a([0.0, 1.0], [1.0, 0.0])),
                [0.95, 0.0],
                "by hand: the conversion looks at the whole target",
                {"reduction": "none"},
            ),
        ],
        grads=[
            Grad(
                (_a([0.3, 0.4]), _a([0.0, 1.0])),
                ([[0.5, -0.5]],),
                "by hand: −y/n on active hinges, y = [−1, 1] after conversion",
                {"reduction": "sum"},
            ),
            Grad(
                (_a([1.0]), _a([1.0])),
                ([[-0.5]],),
                "kink y·x = 1: jnp.maximum splits the tie, −y/2",
                {"reduction": "sum"},
            ),
        ],
        errors=[Raises((np.float64(1.0), np.float64(1.0)), "inputs[0]", why="0-d")],
        extremes=[*_pairwise(), *_each((_X.reshape(-1, 2), _PM.reshape(-1, 2)))],
    ),
    "squared_hinge": Case(
        sample=lambda dt: st.one_of(signed_labels(dt), signed_labels(dt, binary=True)),
        values=[
            Value(
                (_a([0.3, 0.4]), _a([0.0, 1.0])),
                (1.3**2 + 0.6**2) / 2,
                "by hand: labels converted to −1/1; mean(1.3², 0.6²)",
            ),
        ],
        grads=[
            Grad(
                (_a([0.3, 0.4]), _a([0.0, 1.0])),
                ([[1.3, -0.6]],),
                "by hand: −2y·max(0, 1 − y·x)/n",
                {"reduction": "sum"},
            ),
        ],
        errors=[Raises((np.float64(1.0), np.float64(1.0)), "inputs[0]", why="0-d")],
        extremes=[*_pairwise(), *_each((_X.reshape(-1, 2), _PM.reshape(-1, 2)))],
    ),
    "categorical_hinge": Case(
        sample=lambda dt: one_hot_pairs(dt),
        values=[
            Value(
                (_a(-5.0, -1.0, -3.0), _a(0.0, 1.0, 0.0)),
                2.0,
                "ref §2.2 #28 (RUN): Keras gives 2.0, the true class entering the max as 0",
            ),
            Value((_a(1.0, 2.0, 0.5), _a(0.0, 0.0, 1.0)), 2.5, "by hand: 1 + 2 − 0.5"),
        ],
        grads=[
            Grad(
                (_a(-5.0, -1.0, -3.0), _a(0.0, 1.0, 0.0)),
                ([0.0, -1.0, 0.0],),
                "by hand: the max is the true class's 0 entry, which has no slope; −y",
            ),
            Grad((_a(1.0, 2.0, 0.5), _a(0.0, 0.0, 1.0)), ([0.0, 1.0, -1.0],), "by hand"),
            Grad(
                (_a(2.0, 2.0, 0.0), _a(0.0, 0.0, 1.0)),
                ([0.5, 0.5, -1.0],),
                "tie in the max: jnp.max shares the gradient evenly",
            ),
            Grad(
                (_a(-1.0, 1.0), _a(0.0, 1.0)),
                ([0.0, -0.5],),
                "hinge at 0 (1 + 0 − 1): jnp.maximum's tie halves −y",
            ),
        ],
        errors=[Raises((np.float64(1.0), np.float64(1.0)), "inputs[0]", why="0-d")],
        extremes=_each((_ROWS, _ONEHOT)),
    ),
    "multiclass_hinge_loss": Case(
        sample=lambda dt: scores_and_labels(dt),
        values=[
            Value(
                (_a(-5.0, -1.0, -3.0), np.array(1)),
                0.0,
                "ref §2.2 #28 (RUN): optax gives 0 where Keras's categorical_hinge gives 2",
            ),
            Value((_a(1.0, 2.0, 0.5), np.array(2)), 2.5, "by hand: max(2, 3, 0.5) − 0.5"),
            Value(
                (_a([1.0, 2.0, 0.5], [-5.0, -1.0, -3.0]), np.array([2, 1])),
                1.25,
                "by hand: mean(2.5, 0)",
                {"reduction": "mean"},
            ),
        ],
        grads=[
            Grad((_a(1.0, 2.0, 0.5), np.array(2)), ([0.0, 1.0, -1.0],), "by hand"),
            Grad((_a(-5.0, -1.0, -3.0), np.array(1)), ([0.0, 0.0, 0.0],), "by hand: argmax is y"),
            Grad((_a(1.0, 1.0, 0.0), np.array(2)), ([0.5, 0.5, -1.0],), "tie: shared evenly"),
        ],
        errors=[
            Raises((_a(1.0, 2.0), np.array(2)), "inputs[1]", why="index out of range"),
            Raises((_a(1.0, 2.0), np.array([0])), "inputs[1]", why="target shape"),
            Raises((np.float64(1.0), np.array(0)), "inputs[0]", why="0-d scores"),
            Raises((_a(1.0, 2.0), np.array(0.5)), "inputs[1]", why="float indices"),
        ],
        extremes=_each((_ROWS, _LABELS)),
    ),
    "perceptron_loss": Case(
        sample=lambda dt: pairs(dt, min_dims=0).map(
            lambda s: Sample((s.inputs[0], np.sign(s.inputs[1]) + (s.inputs[1] == 0)), s.params)
        ),
        values=[
            Value(
                (_a(2.0, -1.0, 0.5), _a(1.0, 1.0, -1.0)),
                [0.0, 1.0, 0.5],
                "by hand: max(0, −x·y)",
                {"reduction": "none"},
            ),
        ],
        grads=[
            Grad(
                (_a(2.0, -1.0, 0.5, 0.0), _a(1.0, 1.0, -1.0, 1.0)),
                ([0.0, -1.0, 1.0, -0.5],),
                "by hand: −y where −x·y > 0; at x = 0 jnp.maximum's tie gives −y/2",
                {"reduction": "none"},
            ),
        ],
        errors=[Raises((_a(1.0), _a(1.0, 1.0)), "inputs[1]", why="shapes differ")],
        extremes=[*_each((_X, _Y)), *_each((_X, _PM))],
    ),
    "multiclass_perceptron_loss": Case(
        sample=lambda dt: scores_and_labels(dt),
        values=[
            Value((_a(1.0, 3.0, 2.0), np.array(0)), 2.0, "by hand: 3 − 1"),
            Value((_a(1.0, 3.0, 2.0), np.array(1)), 0.0, "by hand: the true class wins"),
        ],
        grads=[
            Grad((_a(1.0, 3.0, 2.0), np.array(0)), ([-1.0, 1.0, 0.0],), "by hand"),
            Grad((_a(3.0, 3.0, 1.0), np.array(2)), ([0.5, 0.5, -1.0],), "tie: shared evenly"),
        ],
        errors=[Raises((_a(1.0, 2.0), np.array(-1)), "inputs[1]", why="negative index")],
        extremes=_each((_ROWS, _LABELS)),
    ),
    "sigmoid_focal_loss": Case(
        sample=focal_samples,
        values=[
            Value(
                (np.float64(0.0), np.float64(1.0)),
                LN2 / 16,
                "by hand: α_t = 0.25, (1 − p_t)² = 0.25, BCE = log 2",
            ),
            Value(
                (np.float64(2.0), np.float64(0.0)),
                0.75 * _sig(2.0) ** 2 * _softplus(2.0),
                "by hand: y = 0: α_t = 0.75, 1 − p_t = σ(2), BCE = softplus(2)",
            ),
            Value(
                (np.float64(0.0), np.float64(1.0)),
                LN2 / 4,
                "by hand: alpha < 0 disables α_t",
                {"alpha": -1.0},
            ),
            Value(
                (np.float64(-1000.0), np.float64(1.0)),
                0.25 * 1000.0,
                "by hand: saturated wrong logit: (1 − p_t)^γ = 1, BCE = 1000, no overflow",
            ),
        ],
        grads=[
            Grad(
                (np.float64(0.0), np.float64(1.0)),
                (0.25 * (-0.25 * LN2 - 0.125),),
                "by hand: d/dx of α(1 − σ)²·softplus(−x) at 0",
            ),
            Grad(
                (np.float64(800.0), np.float64(1.0)),
                (0.0,),
                "by hand: saturated right logit, gamma = 0.5: the limit 0 (torch's literal "
                "formula gives NaN)",
                {"gamma": 0.5},
            ),
        ],
        errors=[
            Raises((_a(0.0), _a(2.0)), "inputs[1]", why="target outside [0, 1]"),
            Raises((_a(0.0), _a(NAN)), "inputs[1]", why="NaN target"),
            Raises((_a(0.0), _a(1.0)), "parameters.gamma", {"gamma": -1.0}),
            Raises((_a(0.0), _a(1.0)), "parameters.alpha", {"alpha": 2.0}),
        ],
        extremes=[
            *_each((_X, _UNIT)),
            Sample((_X, _UNIT), {"gamma": 0.5, "reduction": "none"}),
            Sample((_X, _UNIT), {"gamma": 0.0, "alpha": -1.0, "reduction": "sum"}),
        ],
    ),
    "categorical_focal_crossentropy": Case(
        sample=categorical_focal_samples,
        values=[
            Value(
                (_CF_X, _CF_Y),
                _CF,
                "keras doc example ([2.634e−4, 0.6759]), worked by hand: −α(1 − p)²·log p",
                {"reduction": "none"},
            ),
            Value((_CF_X, _CF_Y), sum(_CF) / 2, "by hand: Keras's mean over samples"),
            Value(
                (_a(0.1, 0.9), _a(0.0, 1.0)),
                -0.25 * 0.1**2 * math.log(0.9),
                "by hand: −α(1 − 0.9)²·log 0.9 (probabilities already summing to 1)",
                {"from_logits": False},
            ),
            Value(
                (np.log(_a(0.1, 0.9)), _a(0.0, 1.0)),
                -0.25 * 0.1**2 * math.log(0.9),
                "by hand: from_logits applies softmax: [0.1, 0.9]",
                {"from_logits": True},
                rtol=1e-10,
            ),
            Value(
                (_a(2.0, 2.0), _a(1.0, 0.0)),
                -0.25 * 0.5**2 * math.log(0.5),
                "by hand: [2, 2] is renormalised to [0.5, 0.5] (Keras)",
            ),
        ],
        grads=[
            Grad(
                (_CF_X[:1], _CF_Y[:1]),
                ([_CF_G],),
                "by hand: u₁ = α[γ(1 − c)·log c − (1 − c)²/c], then u − Σu·o through p/Σp",
                {"reduction": "sum"},
            ),
        ],
        errors=[Raises((np.float64(1.0), np.float64(1.0)), "inputs[0]", why="0-d")],
        extremes=[
            *_each((_ROWS, _YROWS)),
            *_each((_ROWS, np.abs(np.nan_to_num(_YROWS))), from_logits=True),
        ],
    ),
    "poly_loss_cross_entropy": Case(
        sample=lambda dt: pairs(
            dt,
            x=(-4, 4),
            y=(0, 1),
            params=st.fixed_dictionaries({"epsilon": st.sampled_from([2.0, -1.0, 0.5])}),
        ),
        values=[
            Value(
                (_a(1.0, 2.0, 3.0), _a(0.0, 0.0, 1.0)),
                _POLY,
                "ref §2.2 #33: 1.07712 (RUN); by hand −log q₃ + 2(1 − q₃)",
            ),
            Value(
                (_a(1.0, 2.0, 3.0), _a(0.0, 0.0, 1.0)),
                1.07712,
                "ref §2.2 #33: the RUN value to its printed digits",
                rtol=1e-5,
            ),
            Value(
                (_a(0.0, 0.0), _a(1.0, 1.0)),
                2 * LN2 + 2.0 * 1.0,
                "by hand: targets summing to 2: optax's Σy(1 − q) = 1, not 1 − Σyq = 0",
            ),
        ],
        grads=[
            Grad(
                (_a(1.0, 2.0, 3.0), _a(0.0, 0.0, 1.0)),
                (
                    [
                        _Q123[0] * (1 + 2 * _Q123[2]),
                        _Q123[1] * (1 + 2 * _Q123[2]),
                        _Q123[2] * (1 + 2 * _Q123[2] - 2) - 1,
                    ],
                ),
                "ref §2.2 #33: (q − y) − ε(y⊙q − p_t·q), worked by hand",
            ),
        ],
        errors=[Raises((np.float64(1.0), np.float64(1.0)), "inputs[0]", why="0-d")],
        extremes=_each((_ROWS, _YROWS)),
    ),
    "categorical_generalized_cross_entropy": Case(
        sample=lambda dt: scores_and_labels(
            dt, 0.05, 1.0, extra=st.fixed_dictionaries({"q": st.sampled_from([0.5, 0.1, 0.9])})
        ),
        values=[
            Value(
                (_a([0.7, 0.3], [0.2, 0.8]), np.array([0, 1])),
                ((1 - math.sqrt(0.7)) / 0.5 + (1 - math.sqrt(0.8)) / 0.5) / 2,
                "by hand: (1 − p_y^q)/q with q = 0.5, averaged",
            ),
            Value(
                (_a([0.7, 0.3]), np.array([0])),
                [(1 - 0.7**0.1) / 0.1],
                "by hand: q = 0.1",
                {"q": 0.1, "reduction": "none"},
            ),
            Value((np.zeros((0, 2)), np.zeros(0, np.int64)), 0.0, "ref §0.5: Keras mean of none"),
        ],
        grads=[
            Grad(
                (_a([0.7, 0.3], [0.2, 0.8]), np.array([0, 1])),
                ([[-(0.7**-0.5) / 2, 0.0], [0.0, -(0.8**-0.5) / 2]],),
                "by hand: −p_y^(q−1) at the true class, ÷ 2 for the mean",
            ),
            Grad(
                (_a([0.0, 1.0]), np.array([0])),
                ([[-INF, 0.0]],),
                "by hand: p_y = 0 gives −inf",
                {"reduction": "sum"},
            ),
        ],
        errors=[
            Raises((_a([0.5, 0.5]), np.array([0])), "parameters.q", {"q": 1.0}),
            Raises((_a([0.5, 0.5]), np.array([0])), "parameters.q", {"q": 0.0}),
            Raises((_a([0.5, 0.5]), np.array([2])), "inputs[1]", why="index out of range"),
        ],
        extremes=_each((_ROWS, _LABELS)),
    ),
    "cosine_similarity_loss": Case(
        sample=lambda dt: vector_pairs(dt),
        values=[
            Value(
                (_a([1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]), _a([0.0, 1.0], [1.0, 1.0], [1.0, 1.0])),
                [0.0, -1.0, 1.0],
                "keras doc example [−0, −1, 1]; ref §2.2 #35: identical vectors give −1 (RUN)",
                {"reduction": "none"},
            ),
            Value(
                (_a([0.0, 0.0]), _a([1.0, 2.0])),
                [0.0],
                "keras docstring: a zero vector gives 0 (the norm is clamped at 1e−7)",
                {"reduction": "none"},
            ),
            Value((np.zeros((0, 2)), np.zeros((0, 2))), 0.0, "ref §0.5: Keras mean of none"),
        ],
        grads=[
            Grad(
                (_a([1.0, 0.0]), _a([0.0, 1.0])),
                ([[0.0, -1.0]],),
                "by hand: −(ŷ − cos·x̂)/‖x‖ with cos = 0",
                {"reduction": "sum"},
            ),
            Grad(
                (_a([3.0, 4.0]), _a([3.0, 4.0])),
                ([[0.0, 0.0]],),
                "by hand: identical directions: the minimum, gradient 0",
                {"reduction": "sum"},
                atol=1e-16,
            ),
            Grad(
                (_a([0.0, 0.0]), _a([0.0, 2.0])),
                ([[0.0, -1e7]],),
                "by hand: below the clamp x̂ = 1e7·x, so −1e7·ŷ",
                {"reduction": "sum"},
            ),
        ],
        errors=[Raises((np.float64(1.0), np.float64(1.0)), "inputs[0]", why="0-d")],
        extremes=_each((_ROWS, _YROWS)),
    ),
    "cosine_distance": Case(
        sample=lambda dt: vector_pairs(
            dt, st.fixed_dictionaries({"epsilon": st.sampled_from([0.0, 1e-3])})
        ),
        values=[
            Value(
                (_a([1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]), _a([0.0, 1.0], [1.0, 1.0], [1.0, 1.0])),
                [1.0, 0.0, 2.0],
                "by hand: 1 − cos",
                atol=1e-15,
            ),
            Value(
                (_a([0.0, 0.0]), _a([1.0, 2.0])),
                [NAN],
                "ref §2.2 #35 (RUN): optax gives NaN for a zero vector with epsilon = 0",
            ),
            Value(
                (_a([0.0, 0.0]), _a([1.0, 2.0])),
                [1.0],
                "by hand: epsilon = 1 floors the squared norm: x̂ = 0, 1 − 0",
                {"epsilon": 1.0},
            ),
        ],
        grads=[
            Grad(
                (_a([1.0, 0.0]), _a([0.0, 1.0])),
                ([[0.0, -1.0]],),
                "by hand: −(ŷ − cos·x̂)/‖x‖ with cos = 0",
            ),
            Grad(
                (_a([0.0, 0.5]), _a([0.0, 1.0])),
                ([[0.0, -1.0]],),
                "by hand: under the floor epsilon = 1 the norm is 1: −ŷ",
                {"epsilon": 1.0},
            ),
        ],
        errors=[
            Raises((np.float64(1.0), np.float64(1.0)), "inputs[0]", why="0-d"),
            Raises((_a([1.0]), _a([1.0])), "parameters.epsilon", {"epsilon": -1.0}),
        ],
        extremes=[*_each((_ROWS, _YROWS)), *_each((_ROWS, _YROWS), epsilon=1e-6)],
    ),
    # dice and tversky: values in [0.1, 1] keep the sums away from 0, where the curvature
    # (a denominator of about ε = 1e−7) defeats the checker's step of 1e−6
    "dice": Case(
        sample=lambda dt: pairs(dt, x=(0.1, 1), y=(0.1, 1), min_dims=0, reduction=False),
        values=[
            Value(
                (_a(0.8, 0.1, 0.6), _a(1.0, 0.0, 1.0)),
                1 - 2.8 / (3.5 + EPS),
                "ref §2.2 #36 (RUN 0.2): 1 − 2·1.4/(2 + 1.5 + ε)",
            ),
            Value((_a(0.8, 0.1, 0.6), _a(1.0, 0.0, 1.0)), 0.2, "ref §2.2 #36 RUN", rtol=1e-6),
            Value(
                (_a([0.0, 1.0], [0.0, 1.0]), _a([1.0, 1.0], [0.0, 0.0])),
                1 - 2.0 / (2 + 2 + EPS),
                "by hand: axis=None sums over the batch too",
            ),
            Value((np.zeros(0), np.zeros(0)), 1.0, "by hand: 1 − 0/ε"),
        ],
        grads=[
            Grad(
                (_a(0.8, 0.1, 0.6), _a(1.0, 0.0, 1.0)),
                ([-(2 * y - 2.8 / (3.5 + EPS)) / (3.5 + EPS) for y in (1.0, 0.0, 1.0)],),
                "by hand: −(2y − D)/S, D = 2I/S",
            ),
        ],
        errors=[Raises((_a(1.0), _a(1.0, 1.0)), "inputs[1]", why="shapes differ")],
        extremes=[Sample((_X, _Y)), Sample((_X.reshape(-1, 2), _UNIT.reshape(-1, 2)))],
    ),
    "tversky": Case(
        sample=lambda dt: pairs(
            dt,
            x=(0.1, 1),
            y=(0.1, 1),
            min_dims=0,
            reduction=False,
            params=st.fixed_dictionaries(
                {"alpha": st.sampled_from([0.5, 1.0, 0.3]), "beta": st.sampled_from([0.5, 0.0])}
            ),
        ),
        values=[
            Value(
                (_a(0.8, 0.1, 0.6), _a(1.0, 0.0, 1.0)),
                1 - 1.4 / (1.4 + 0.6 + EPS),
                "ref §2.2 #37 (RUN 0.30): alpha weighs Σy(1 − x) = 0.6, the false negatives",
                {"alpha": 1.0, "beta": 0.0},
            ),
            Value(
                (_a(0.8, 0.1, 0.6), _a(1.0, 0.0, 1.0)),
                1 - 1.4 / (1.4 + 0.1 + EPS),
                "ref §2.2 #37: beta weighs Σx(1 − y) = 0.1 (0.067)",
                {"alpha": 0.0, "beta": 1.0},
            ),
            Value(
                (_a(0.8, 0.1, 0.6), _a(1.0, 0.0, 1.0)),
                1 - 1.4 / (1.4 + 0.3 + 0.05 + EPS),
                "by hand: alpha = beta = 0.5 is dice (0.2)",
            ),
        ],
        grads=[
            Grad(
                (_a(0.8, 0.1, 0.6), _a(1.0, 0.0, 1.0)),
                (
                    [
                        -(y - (1.4 / (2.0 + EPS)) * y * (1 - 1.0)) / (2.0 + EPS)
                        for y in (1.0, 0.0, 1.0)
                    ],
                ),
                "by hand: −(y − T·∂den)/den, ∂den = y(1 − α) + β(1 − y), α = 1, β = 0",
                {"alpha": 1.0, "beta": 0.0},
            ),
        ],
        errors=[Raises((_a(1.0), _a(1.0, 1.0)), "inputs[1]", why="shapes differ")],
        extremes=[
            Sample((_X, _Y)),
            Sample((_X, _UNIT), {"alpha": 0.7, "beta": 0.3}),
        ],
    ),
    "generalized_dice_loss": Case(
        sample=gdice_samples,
        values=[
            Value(
                (_a([[0.8, 0.2], [0.4, 0.6]]), _a([[1.0, 0.0], [0.0, 1.0]])),
                (_GD0 + _GD1) / 2,
                "by hand: per-class soft dice (smooth 1), weights 1, averaged",
                {"apply_softmax": False},
            ),
            Value(
                (_a([[0.8, 0.2], [0.4, 0.6]]), _a([[1.0, 0.0], [0.0, 1.0]])),
                _GD1,
                "by hand: ignore_background drops class 0",
                {"apply_softmax": False, "ignore_background": True},
            ),
            Value(
                (np.log(_a([[0.8, 0.2], [0.4, 0.6]])), _a([[1.0, 0.0], [0.0, 1.0]])),
                (_GD0 + _GD1) / 2,
                "by hand: softmax of the logs gives the same probabilities",
                rtol=1e-12,
            ),
        ],
        errors=[
            Raises(
                (_a([0.5, 0.6]), _a([1.0, 0.0])),
                "inputs[0]",
                {"apply_softmax": False},
                why="probabilities must sum to 1",
            ),
            Raises((_a([0.5, 0.5]), _a([1.0])), "inputs[1]", why="shapes differ"),
        ],
        extremes=[
            Sample((_ROWS, _ONEHOT)),
            Sample((_ROWS.reshape(-1, 3, 4)[:27], _ONEHOT.reshape(-1, 3, 4)[:27])),
            Sample((_X.reshape(-1, 1), _UNIT.reshape(-1, 1)), {"ignore_background": True}),
        ],
    ),
    "multiclass_sparsemax_loss": Case(
        sample=lambda dt: scores_and_labels(dt),
        values=[
            Value(
                (_a(1.0, 0.5, -1.0), np.array(0)),
                0.25 * -0.5 + _SP_HALF,
                "by hand: p = [0.75, 0.25, 0], Σp(s − s_y) + ½(1 − ‖p‖²) = −0.125 + 0.1875",
            ),
            Value(
                (_a(1.0, 0.5, -1.0), np.array(2)),
                0.75 * 2.0 + 0.25 * 1.5 + _SP_HALF,
                "by hand: the same p against class 2",
            ),
            Value(
                (_a(3.0, 0.0, 0.0), np.array(0)),
                0.0,
                "ref §2.2 #39: zero when sparsemax equals the label",
            ),
            Value((_a(1.0, NAN, 0.0), np.array(0)), NAN, "by hand: a NaN score gives NaN"),
        ],
        grads=[
            Grad(
                (_a(1.0, 0.5, -1.0), np.array(0)),
                ([_SP[0] - 1, _SP[1], _SP[2]],),
                "ref §2.2 #39: sparsemax(s) − onehot(y)",
            ),
        ],
        errors=[Raises((_a(1.0, 2.0), np.array(5)), "inputs[1]", why="index out of range")],
        extremes=_each((_ROWS, _LABELS)),
    ),
    "ranking_softmax_loss": Case(
        sample=ranking_samples,
        values=[
            Value(
                (_a(1.0, 2.0, 3.0), _a(0.0, 1.0, 1.0)),
                -(math.log(_Q123[1]) + math.log(_Q123[2])),
                "by hand: −Σ y·log softmax(s)",
            ),
            Value(
                (_a([1.0, 2.0, 3.0], [0.0, 0.0, 0.0]), _a([0.0, 1.0, 1.0], [1.0, 0.0, 0.0])),
                (-(math.log(_Q123[1]) + math.log(_Q123[2])) + math.log(3.0)) / 2,
                "by hand: optax's default reduce_fn = mean over lists",
            ),
            Value(
                (_a(1.0, 2.0, 3.0), _a(0.0, 1.0, 1.0)),
                -(0.5 * math.log(_Q123[1]) + 2.0 * math.log(_Q123[2])),
                "by hand: weights multiply the labels",
                {"weights": _a(1.0, 0.5, 2.0)},
            ),
        ],
        grads=[
            Grad(
                (_a(1.0, 2.0, 3.0), _a(0.0, 1.0, 1.0)),
                ([2 * _Q123[0], 2 * _Q123[1] - 1, 2 * _Q123[2] - 1],),
                "ref §2.2 #43: softmax(s)·Σy − y",
            ),
        ],
        errors=[
            Raises(
                (_a(1.0, 2.0), _a(1.0, 0.0)),
                "parameters.weights",
                {"weights": _a(1.0, 2.0, 3.0)},
                why="weights do not broadcast",
            ),
            Raises((np.float64(1.0), np.float64(1.0)), "inputs[0]", why="0-d"),
        ],
        extremes=_each((_ROWS, _YROWS)),
    ),
    "generalized_kl_divergence": Case(
        sample=lambda dt: pairs(dt, x=(-3.0, 1.0), y=(0.0, 2.0)),
        values=[
            Value(
                (np.log(_a(0.5, 0.25)), _a(0.4, 0.6)),
                0.4 * math.log(0.8) + 0.6 * math.log(2.4) + (0.75 - 1.0),
                "by hand: Σ y(log y − log p) + Σ(p − y)",
                rtol=1e-12,
            ),
            Value(
                (np.log(_a(0.5, 0.5)), _a(0.0, 1.0)),
                math.log(2.0) + 0.0,
                "by hand: y = 0 contributes only p; Σp = Σy so the mass term is 0",
            ),
            Value((_a(-INF), _a(0.0)), NAN, "by hand: 0·(0 − (−inf)) is NaN, as optax"),
        ],
        grads=[
            Grad(
                (np.log(_a(0.5, 0.25)), _a(0.4, 0.6)),
                ([0.5 - 0.4, 0.25 - 0.6],),
                "ref §2.2 #44: e^x − y",
            ),
        ],
        errors=[Raises((np.float64(1.0), np.float64(1.0)), "inputs[0]", why="0-d")],
        extremes=_pairwise(),
    ),
}
