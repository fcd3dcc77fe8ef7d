"""Test entries for the classification, margin and embedding losses (schema: cases.py).

Golden values are closed forms worked by hand (written out below with math/NumPy, never
with the catalog) or the torch doc examples quoted in ../shared/catalog-reference.md.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from tests.catalog.cases import EXTREME, Case, Grad, Raises, Sample, Value, reals

NAN, INF = math.nan, math.inf
REDUCTIONS = st.sampled_from(["none", "mean", "sum"])


def _lse(v):
    m = max(v)
    return m + math.log(sum(math.exp(a - m) for a in v))


def _nlq(v):
    """−log softmax(v), by hand."""
    s = _lse(v)
    return [s - a for a in v]


def _softmax(v):
    s = _lse(v)
    return [math.exp(a - s) for a in v]


X3 = [1.0, 2.0, 3.0]
X3B = [0.5, -1.0, 2.0]
Q3 = _softmax(X3)  # [0.0900306, 0.2447285, 0.6652410]


# ---------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------


@st.composite
def _class_sample(draw, dtype, prob_allowed=True, smoothing=True):
    c = draw(st.integers(1, 4))
    layout = draw(st.sampled_from(["C", "NC", "NCd"]))
    n = draw(st.integers(0, 3))
    shape = {"C": (c,), "NC": (n, c), "NCd": (n, c, draw(st.integers(1, 2)))}[layout]
    x = draw(reals(dtype, shape, -6, 6))
    params = {"reduction": draw(REDUCTIONS)}
    if draw(st.booleans()):
        params["weight"] = np.asarray(draw(st.lists(st.floats(0.1, 3), min_size=c, max_size=c)))
    if smoothing and draw(st.booleans()):
        params["label_smoothing"] = draw(st.sampled_from([0.05, 0.3, 1.0]))
    if prob_allowed and draw(st.booleans()):
        raw = draw(reals(np.float64, shape, 0.0, 1.0))
        return Sample((x, raw.astype(dtype)), params)
    tshape = () if layout == "C" else (shape[0], *shape[2:])
    t = draw(
        st.lists(
            st.integers(-1, c - 1), min_size=int(np.prod(tshape)), max_size=int(np.prod(tshape))
        )
    )
    t = np.asarray(t, dtype=np.int64).reshape(tshape)
    params["ignore_index"] = -1
    return Sample((x, t), params)


@st.composite
def _multi_margin_sample(draw, dtype):
    c = draw(st.integers(1, 4))
    layout = draw(st.sampled_from(["0", "C", "NC"]))
    n = draw(st.integers(0, 3))
    shape = {"0": (), "C": (c,), "NC": (n, c)}[layout]
    c = 1 if layout == "0" else c
    x = draw(reals(dtype, shape, -3, 3))
    rows = n if layout == "NC" else 1
    t = np.asarray(
        draw(st.lists(st.integers(0, c - 1), min_size=rows, max_size=rows)), dtype=np.int64
    )
    t = t.reshape(() if layout != "NC" else (rows,))
    params = {
        "p": draw(st.sampled_from([1, 2])),
        "margin": draw(st.sampled_from([1.0, 0.5])),
        "reduction": draw(REDUCTIONS),
    }
    if draw(st.booleans()):
        params["weight"] = np.asarray(draw(st.lists(st.floats(0.1, 3), min_size=c, max_size=c)))
    return Sample((x, t), params)


@st.composite
def _multilabel_sample(draw, dtype):
    c = draw(st.integers(1, 4))
    layout = draw(st.sampled_from(["C", "NC"]))
    n = draw(st.integers(0, 3))
    shape = (c,) if layout == "C" else (n, c)
    x = draw(reals(dtype, shape, -3, 3))
    rows = []
    for _ in range(1 if layout == "C" else n):
        k = draw(st.integers(0, c))
        labels = draw(st.permutations(range(c)))[:k]
        pad = [draw(st.integers(-1, c - 1)) for _ in range(c - k)]
        if pad:
            pad[0] = -1
        rows.append(list(labels) + pad)
    t = np.asarray(rows, dtype=np.int64).reshape(shape)
    return Sample((x, t), {"reduction": draw(REDUCTIONS)})


@st.composite
def _ranking_sample(draw, dtype):
    shape = draw(st.sampled_from([(), (0,), (3,), (2, 2)]))
    x1 = draw(reals(dtype, shape, -3, 3))
    x2 = draw(reals(dtype, shape, -3, 3))
    y = (
        np.asarray(
            draw(
                st.lists(
                    st.sampled_from([-1.0, 1.0]),
                    min_size=int(np.prod(shape)),
                    max_size=int(np.prod(shape)),
                )
            )
        )
        .reshape(shape)
        .astype(dtype)
    )
    return Sample(
        (x1, x2, y), {"margin": draw(st.sampled_from([0.0, 0.5])), "reduction": draw(REDUCTIONS)}
    )


@st.composite
def _cosine_sample(draw, dtype):
    d = draw(st.integers(1, 4))
    batched = draw(st.booleans())
    n = draw(st.integers(0, 3))
    shape = (n, d) if batched else (d,)
    x1 = draw(reals(dtype, shape, -3, 3).filter(lambda a: (np.abs(a).sum(-1) > 0.1).all()))
    x2 = draw(reals(dtype, shape, -3, 3).filter(lambda a: (np.abs(a).sum(-1) > 0.1).all()))
    y = np.asarray(
        draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=n, max_size=n))
        if batched
        else draw(st.sampled_from([-1.0, 1.0]))
    ).astype(dtype)
    return Sample(
        (x1, x2, y),
        {"margin": draw(st.sampled_from([0.0, 0.3, -0.5])), "reduction": draw(REDUCTIONS)},
    )


@st.composite
def _triplet_sample(draw, dtype):
    shape = draw(st.sampled_from([(), (3,), (0, 2), (2, 3)]))
    xs = [draw(reals(dtype, shape, -2, 2)) for _ in range(3)]
    return Sample(
        tuple(xs),
        {
            "margin": draw(st.sampled_from([1.0, 0.3])),
            "p": draw(st.sampled_from([2.0, 1.0, 3.0])),
            "swap": draw(st.booleans()),
            "reduction": draw(REDUCTIONS),
        },
    )


# ---------------------------------------------------------------------------
# golden values
# ---------------------------------------------------------------------------

_W = [2.0, 1.0, 0.5]
_CE_WMEAN = (_W[2] * _nlq(X3)[2] + _W[0] * _nlq(X3B)[0]) / (_W[2] + _W[0])
_SMOOTH = 0.9 * _nlq(X3)[2] + 0.1 / 3 * sum(_nlq(X3))
_PROB = [0.2, 0.3, 0.5]
_CE_PROB = sum(p * v for p, v in zip(_PROB, _nlq(X3), strict=True))


def _unit(v):
    n = math.sqrt(sum(a * a for a in v))
    return [a / n for a in v]


_EPS6 = 1e-6
_WP = [0 - 3 + _EPS6, 0 - 4 + _EPS6]  # anchor − positive + eps
_WN = [0 - 0 + _EPS6, 0 - 1 + _EPS6]  # anchor − negative + eps
_DP, _DN = math.hypot(*_WP), math.hypot(*_WN)

CASES: dict[str, Case] = {
    "cross_entropy": Case(
        sample=lambda dt: _class_sample(dt),
        values=[
            Value(
                (np.array(X3), np.array(2)),
                _nlq(X3)[2],
                "closed form: log(1 + e^-1 + e^-2) = 0.4076, (C) input with a 0-d target",
            ),
            Value(
                (np.array([X3, X3B]), np.array([2, 0])),
                [_nlq(X3)[2], _nlq(X3B)[0]],
                "closed form: lse(x_n) − x_{n,y_n} per sample",
                {"reduction": "none"},
            ),
            Value(
                (np.array([X3, X3B]), np.array([2, 0])),
                _CE_WMEAN,
                "catalog-reference §2.0: weighted 'mean' divides by Σ w[y_n]",
                {"weight": np.array(_W)},
            ),
            Value(
                (np.array([X3, X3B]), np.array([2, -100])),
                _nlq(X3)[2],
                "catalog-reference §2.1 #7: an ignored target drops out of the divisor",
            ),
            Value(
                (np.array([X3, X3B]), np.array([-100, -100])),
                NAN,
                "catalog-reference §2.0: every target ignored gives NaN for 'mean'",
            ),
            Value(
                (np.array([X3, X3B]), np.array([-100, -100])),
                0.0,
                "catalog-reference §2.0: every target ignored gives 0 for 'sum'",
                {"reduction": "sum"},
            ),
            Value(
                (np.array(X3), np.array(2)),
                _SMOOTH,
                "catalog-reference §2.1 #7: (1−ε)·nll + ε/C·Σ_c −log q_c, ε = 0.1",
                {"label_smoothing": 0.1},
            ),
            Value(
                (np.array([X3]), np.array([_PROB])),
                _CE_PROB,
                "closed form: −Σ y_c log q_c for a probability target",
            ),
            Value(
                (np.array([X3, X3]), np.array([_PROB, _PROB])),
                sum(w * p * v for w, p, v in zip(_W, _PROB, _nlq(X3), strict=True)),
                "catalog-reference §2.0: probability targets divide by N, never Σw",
                {"weight": np.array(_W)},
            ),
            Value(
                (np.zeros((2, 3, 2)), np.zeros((2, 2), np.int64)),
                math.log(3),
                "closed form: uniform logits give log C, (N, C, d) input",
            ),
            Value(
                (np.array([-INF, 0.0, 0.0]), np.array(1)),
                math.log(2),
                "catalog-reference §4: a −inf logit off the target has probability 0",
            ),
            Value(
                (np.array([-INF, 0.0, 0.0]), np.array(0)),
                INF,
                "catalog-reference §2.1 #7: −inf at the target gives inf",
            ),
            Value(
                (np.array([-INF, 0.0, 0.0]), np.array(1)),
                INF,
                "catalog-reference §6 #5: any −inf logit with label smoothing gives inf",
                {"label_smoothing": 0.1},
            ),
            Value(
                (np.array([[-INF, 0.0]]), np.array([[0.0, 1.0]])),
                NAN,
                "catalog-reference §6 #5: a 0 probability on a −inf logit gives NaN",
            ),
            Value(
                (np.array([[NAN, 0.0], [INF, 0.0], [-INF, -INF]]), np.array([1, 1, 0])),
                [NAN, NAN, NAN],
                "catalog-reference §1.2 #27: NaN, +inf or an all −inf row makes the row NaN",
                {"reduction": "none"},
            ),
            Value(
                (np.array([1000.0, 1000.0]), np.array(0)),
                math.log(2),
                "catalog-reference §4: the max-shift keeps [1000, 1000] finite",
            ),
            Value(
                (np.zeros((0, 3)), np.zeros((0,), np.int64)),
                NAN,
                "catalog-reference §0.5: 'mean' of nothing is NaN",
            ),
            Value(
                (np.array(X3, np.float32), np.array(2)),
                np.float32(_nlq(X3)[2]),
                "closed form, float32 in and out",
                rtol=1e-6,
            ),
        ],
        grads=[
            Grad(
                (np.array(X3), np.array(2)),
                ([Q3[0], Q3[1], Q3[2] - 1],),
                "closed form: q − onehot(y)",
            ),
            Grad(
                (np.array([X3, X3B]), np.array([2, 0])),
                (
                    [
                        [_W[2] * q / 2.5 for q in Q3[:2]] + [_W[2] * (Q3[2] - 1) / 2.5],
                        [_W[0] * (q - (i == 0)) / 2.5 for i, q in enumerate(_softmax(X3B))],
                    ],
                ),
                "catalog-reference §2.1 #7: w_y(q − onehot)/Σw_y for the weighted mean",
                {"weight": np.array(_W)},
            ),
            Grad(
                (np.array(X3), np.array(2)),
                ([q * (0.9 + 0.1) - 0.1 / 3 - 0.9 * (i == 2) for i, q in enumerate(Q3)],),
                "closed form: q·Σb − b with b = 0.9·onehot + 0.1/3",
                {"label_smoothing": 0.1},
            ),
            Grad(
                (np.array([X3]), np.array([_PROB])),
                ([[q - p for q, p in zip(Q3, _PROB, strict=True)]],),
                "catalog-reference §2.1 #7: q − y for probabilities summing to 1",
            ),
            Grad(
                (np.array([X3, X3B]), np.array([-100, 0])),
                ([[0.0, 0.0, 0.0], [q - (i == 0) for i, q in enumerate(_softmax(X3B))]],),
                "catalog-reference §2.1 #7: ignored targets have gradient 0",
            ),
            Grad(
                (np.array([X3, X3B]), np.array([-100, -100])),
                (np.zeros((2, 3)),),
                "all ignored: no sample contributes a gradient",
            ),
            Grad(
                (np.array([-INF, 0.0, 0.0]), np.array(1)),
                ([0.0, -0.5, 0.5],),
                "catalog-reference §1.2 #27: a −inf entry gets gradient 0",
            ),
        ],
        errors=[
            Raises((np.array(X3), np.array(3)), "inputs[1]", why="class index out of range"),
            Raises((np.array([X3]), np.array([-5])), "inputs[1]", why="negative class index"),
            Raises((np.array(1.0), np.array(0)), "inputs[0]", why="0-d input"),
            Raises((np.array([X3]), np.array([0, 1])), "inputs[1]", why="target shape"),
            Raises(
                (np.array([X3]), np.array([[0, 1, 2]])),
                "inputs[1]",
                why="integer target of the input's shape",
            ),
            Raises(
                (np.array([X3]), np.array([0.5, 0.5])),
                "inputs[1]",
                why="float target not of the input's shape",
            ),
            Raises(
                (np.array([X3]), np.array([_PROB])),
                "parameters.ignore_index",
                {"ignore_index": 0},
                why="torch refuses ignore_index >= 0 with probabilities",
            ),
            Raises(
                (np.array([X3]), np.array([2])),
                "parameters.weight",
                {"weight": np.ones(2)},
                why="one weight per class",
            ),
            Raises(
                (np.array([X3]), np.array([2])),
                "parameters.label_smoothing",
                {"label_smoothing": 1.5},
            ),
            Raises(
                (np.array([X3]), np.array([[NAN, 0.5, 0.5]])),
                "inputs[1]",
                why="probabilities must be finite",
            ),
        ],
        extremes=[
            Sample((EXTREME.reshape(2, 9), np.array([0, 8]))),
            Sample(
                (EXTREME.reshape(2, 9), np.array([3, 8])),
                {"label_smoothing": 0.2, "weight": np.linspace(0, 2, 9)},
            ),
            Sample((EXTREME.reshape(2, 9), np.full((2, 9), 1 / 9)), {"weight": np.ones(9)}),
            Sample(
                (np.array([[1e308, -1e308, 0.0]]), np.array([1])),
                {"label_smoothing": 0.5, "reduction": "sum"},
            ),
        ],
    ),
    "nll_loss": Case(
        sample=lambda dt: _class_sample(dt, prob_allowed=False, smoothing=False),
        values=[
            Value((np.array([[-1.0, -2.0, -3.0]]), np.array([1])), 2.0, "−x_{n,y_n} by hand"),
            Value(
                (np.array([5.0, 3.0]), np.array(0)),
                -5.0,
                "catalog-reference §2.1 #8: the input is not validated, nll([5, 3], 0) = −5",
            ),
            Value(
                (np.array([[-1.0, -2.0], [-3.0, -4.0]]), np.array([0, 1])),
                13 / 4,
                "(1·1 + 3·4) / (1 + 3): weighted mean divides by Σ w[y_n]",
                {"weight": np.array([1.0, 3.0])},
            ),
            Value(
                (np.array([[-1.0, -2.0]]), np.array([-100])),
                NAN,
                "catalog-reference §2.0: all ignored gives NaN",
            ),
            Value((np.array([[-INF, 0.0]]), np.array([0])), INF, "−(−inf) = inf"),
        ],
        grads=[
            Grad(
                (np.array([[-1.0, -2.0], [-3.0, -4.0]]), np.array([0, 1])),
                ([[-0.25, 0.0], [0.0, -0.75]],),
                "catalog-reference §2.1 #8: −w_y at y, divided by Σw_y",
                {"weight": np.array([1.0, 3.0])},
            ),
            Grad(
                (np.array([[-1.0, -2.0], [-3.0, -4.0]]), np.array([0, -100])),
                ([[-2.0, 0.0], [0.0, 0.0]],),
                "sum: −1 at the target, 0 when ignored",
                {"reduction": "sum"},
                grad_output=np.array(2.0),
            ),
        ],
        errors=[
            Raises((np.array([[-1.0, -2.0]]), np.array([2])), "inputs[1]", why="out of range"),
            Raises(
                (np.array([[-1.0, -2.0]]), np.array([0.0])), "inputs[1]", why="float class indices"
            ),
            Raises((np.array(-1.0), np.array(0)), "inputs[0]", why="0-d input"),
        ],
        extremes=[
            Sample(
                (EXTREME.reshape(6, 3), np.array([0, 1, 2, 0, 1, 2])),
                {"weight": np.array([0.0, 1.0, 2.0])},
            )
        ],
    ),
    "multi_margin_loss": Case(
        sample=lambda dt: _multi_margin_sample(dt),
        values=[
            Value(
                (np.array([[0.1, 0.2, 0.4, 0.8]]), np.array([3])),
                0.325,
                "catalog-reference §2.1 #14: the torch doc example gives 0.3250",
            ),
            Value(
                (np.array([0.1, 0.2, 0.4, 0.8]), np.array(3)),
                (0.09 + 0.16 + 0.36) / 4,
                "closed form, p = 2: Σ z_i² / C with z = [.3, .4, .6]",
                {"p": 2},
            ),
            Value(
                (np.array([[0.1, 0.2, 0.4, 0.8]]), np.array([3])),
                0.65,
                "the doc example scaled by w[y] = 2",
                {"weight": np.array([1, 1, 1, 2.0])},
            ),
            Value(
                (np.array([[0.0, 1.0], [3.0, 0.0]]), np.array([1, 0])),
                [0.0, 0.0],
                "hinge inactive: z = 0 and z = −2",
                {"reduction": "none"},
            ),
            Value((np.array(0.5), np.array(0)), 0.0, "0-d input: one class, nothing to beat"),
        ],
        grads=[
            Grad(
                (np.array([[0.1, 0.2, 0.4, 0.8]]), np.array([3])),
                ([[0.25, 0.25, 0.25, -0.75]],),
                "closed form: +1/C per active hinge, −Σ at the target",
                {"reduction": "sum"},
            ),
            Grad(
                (np.array([0.1, 0.2, 0.4, 0.8]), np.array(3)),
                ([0.15, 0.2, 0.3, -0.65],),
                "closed form, p = 2: 2z/C",
                {"p": 2},
            ),
            Grad(
                (np.array([[0.0, 1.0]]), np.array([1])),
                ([[0.0, 0.0]],),
                "catalog-reference §0.1: MultiMargin gives 0 at z = 0 (torch 2.13)",
            ),
        ],
        errors=[
            Raises((np.array([[0.1, 0.2]]), np.array([0])), "parameters.p", {"p": 3}),
            Raises((np.array([[0.1, 0.2]]), np.array([2])), "inputs[1]", why="out of range"),
            Raises((np.zeros((2, 2, 2)), np.array([0, 0])), "inputs[0]", why="3-d input"),
            Raises((np.zeros((2, 0)), np.array([0, 0])), "inputs[0]", why="no classes"),
            Raises((np.zeros((2, 3)), np.array([0, 0, 0])), "inputs[1]", why="target size"),
            Raises(
                (np.zeros((2, 3)), np.array([0, 0])), "parameters.weight", {"weight": np.ones(2)}
            ),
        ],
        extremes=[Sample((EXTREME.reshape(3, 6), np.array([0, 3, 5])), {"p": p}) for p in (1, 2)],
    ),
    "multilabel_margin_loss": Case(
        sample=lambda dt: _multilabel_sample(dt),
        values=[
            Value(
                (np.array([[0.1, 0.2, 0.4, 0.8]]), np.array([[3, 0, -1, 1]])),
                0.85,
                "catalog-reference §2.1 #15: the torch doc example gives 0.85",
            ),
            Value(
                (np.array([0.1, 0.2, 0.4, 0.8]), np.array([3, -1, 0, 1])),
                0.325,
                "catalog-reference §2.1 #15: [3, −1, 0, 1] ≡ [3]; (.3 + .4 + .6)/4",
            ),
            Value(
                (np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([[1, -1], [-1, 0]])),
                [0.0, 0.0],
                "z = 0 counts nothing; an empty list costs nothing",
                {"reduction": "none"},
            ),
        ],
        grads=[
            Grad(
                (np.array([[0.1, 0.2, 0.4, 0.8]]), np.array([[3, 0, -1, 1]])),
                ([[-0.5, 0.5, 0.5, -0.5]],),
                "closed form: four active pairs, ±1/C each",
            ),
            Grad(
                (np.array([[0.0, 1.0]]), np.array([[1, -1]])),
                ([[0.0, 0.0]],),
                "catalog-reference §0.1: MultiLabelMargin gives 0 at z = 0 (torch 2.13)",
            ),
        ],
        errors=[
            Raises((np.zeros((1, 3)), np.array([[0, -2, 1]])), "inputs[1]", why="below −1"),
            Raises((np.zeros((1, 3)), np.array([[3, -1, 1]])), "inputs[1]", why="out of range"),
            Raises((np.zeros((1, 3)), np.array([0, -1, 1])), "inputs[1]", why="shape"),
        ],
        extremes=[
            Sample(
                (
                    EXTREME.reshape(3, 6),
                    np.array([[0, 1, -1, 0, 0, 0], [5, -1, 0, 0, 0, 0], [2, 3, 4, -1, 0, 0]]),
                )
            )
        ],
    ),
    "margin_ranking_loss": Case(
        sample=lambda dt: _ranking_sample(dt),
        values=[
            Value(
                (np.array([1.0, 2.0]), np.array([2.0, 2.0]), np.array([1.0, -1.0])),
                [1.0, 0.0],
                "max(0, −y(x1 − x2)) by hand",
                {"reduction": "none"},
            ),
            Value(
                (np.array([1.0, 2.0]), np.array([2.0, 2.0]), np.array([1.0, -1.0])),
                1.0,
                "(1.5 + 0.5)/2 with margin 0.5",
                {"margin": 0.5},
            ),
        ],
        grads=[
            Grad(
                (np.array([1.0, 2.0]), np.array([2.0, 2.0]), np.array([1.0, -1.0])),
                ([-1.0, 1.0], [1.0, -1.0]),
                "catalog-reference §0.1: MarginRanking passes the full gradient at z = 0",
                {"reduction": "sum"},
            ),
            Grad(
                (np.array([3.0]), np.array([1.0]), np.array([1.0])),
                ([0.0], [0.0]),
                "z = −2 < 0: no gradient",
            ),
        ],
        errors=[
            Raises((np.zeros(3), np.zeros(2), np.zeros(3)), "inputs[1]", why="shapes differ"),
            Raises(
                (np.zeros(3), np.zeros(3), np.zeros((1, 3))), "inputs[2]", why="no broadcasting"
            ),
        ],
        extremes=[
            Sample((EXTREME, EXTREME[::-1].copy(), np.where(np.arange(18) % 2, 1.0, -1.0))),
            Sample((EXTREME, EXTREME.copy(), np.ones(18)), {"reduction": "sum"}),
        ],
    ),
    "cosine_embedding_loss": Case(
        sample=lambda dt: _cosine_sample(dt),
        values=[
            Value(
                (np.array([[1.0, 0.0]]), np.array([[1.0, 1.0]]), np.array([1.0])),
                1 - 1 / math.sqrt((1 + 1e-12) * (2 + 1e-12)),
                "closed form: 1 − cos with the 1e−12 inside the square root",
            ),
            Value(
                (np.array([1.0, 0.0]), np.array([1.0, 1.0]), np.array(-1.0)),
                1 / math.sqrt(2) - 0.5,
                "max(0, cos − margin), margin 0.5",
                {"margin": 0.5},
                rtol=1e-11,
            ),
            Value(
                (np.array([[0.0, 0.0]]), np.array([[1.0, 1.0]]), np.array([1.0])),
                1.0,
                "catalog-reference §2.1 #18: a zero vector has cos 0, loss 1",
            ),
            Value(
                (np.array([[1.0, 0.0]]), np.array([[1.0, 1.0]]), np.array([0.0])),
                0.0,
                "a target other than ±1 gives 0",
            ),
            Value(
                (np.array([[1e300, 0.0]]), np.array([[1e300, 1e300]]), np.array([1.0])),
                1 - 1 / math.sqrt(2),
                "cos is scale-free: large rows do not overflow",
                rtol=1e-11,
            ),
        ],
        grads=[
            Grad(
                (np.array([[0.0, 0.0]]), np.array([[1.0, 1.0]]), np.array([1.0])),
                ([[-1 / math.sqrt(1e-12 * (2 + 1e-12))] * 2], [[0.0, 0.0]]),
                "catalog-reference §2.1 #18: the zero vector's gradient is about 7e5",
                rtol=1e-9,
            ),
            Grad(
                (np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array(-1.0)),
                ([0.0, 1 / (1 + 1e-12)], [1 / (1 + 1e-12), 0.0]),
                "catalog-reference §0.1: y = −1 passes the gradient at cos = margin (0)",
            ),
        ],
        errors=[
            Raises(
                (np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 1))),
                "inputs[2]",
                why="2-d target",
            ),
            Raises(
                (np.zeros(3), np.zeros(3), np.zeros(2)),
                "inputs[0]",
                why="1-d target needs 2-d inputs",
            ),
            Raises(
                (np.zeros((2, 3)), np.zeros((2, 4)), np.zeros(2)), "inputs[1]", why="no broadcast"
            ),
            Raises(
                (np.zeros((2, 3)), np.zeros((2, 3)), np.zeros(3)),
                "inputs[2]",
                why="one target per pair",
            ),
        ],
        extremes=[
            Sample(
                (
                    EXTREME.reshape(6, 3),
                    EXTREME[::-1].reshape(6, 3).copy(),
                    np.array([1.0, -1, 1, -1, 1, -1]),
                )
            )
        ],
    ),
    "triplet_margin_loss": Case(
        sample=lambda dt: _triplet_sample(dt),
        values=[
            Value(
                (np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]]), np.array([[0.0, 1.0]])),
                _DP - _DN + 1,
                "closed form: ‖a − p + eps‖ − ‖a − n + eps‖ + 1 ≈ 5",
            ),
            Value(
                (np.zeros(3), np.zeros(3), np.zeros(3)),
                1.0,
                "catalog-reference §2.1 #19: d(x, x) = √D·eps on both sides, loss = margin",
            ),
            Value(
                (np.array([0.0]), np.array([3.0]), np.array([1.0])),
                3.0,
                "swap: min(d(a,n)=1, d(p,n)=2) = 1, so 3 − 1 + 1",
                {"swap": True, "eps": 0.0},
            ),
            Value(
                (np.array([[0.0, 0.0]]), np.array([[1.0, 1.0]]), np.array([[3.0, 0.0]])),
                max(2 - 3 + 1, 0),
                "p = 1 distances by hand",
                {"p": 1.0, "eps": 0.0},
            ),
        ],
        grads=[
            Grad(
                (np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]]), np.array([[0.0, 1.0]])),
                (
                    [[a / _DP - b / _DN for a, b in zip(_WP, _WN, strict=True)]],
                    [[-a / _DP for a in _WP]],
                    [[b / _DN for b in _WN]],
                ),
                "closed form: ∂d/∂u = (u − v + eps)/d",
                rtol=1e-10,
            ),
            Grad(
                (np.array([0.0]), np.array([1.0]), np.array([2.0])),
                ([0.0], [1.0], [-1.0]),
                "catalog-reference §0.1: Triplet passes the full gradient at z = 0",
                {"eps": 0.0},
            ),
            Grad(
                (np.array([0.0]), np.array([3.0]), np.array([1.5])),
                ([-0.5], [0.5], [0.0]),
                "swap tie d(a,n) = d(p,n): torch.minimum splits the gradient in half",
                {"swap": True, "eps": 0.0},
            ),
        ],
        errors=[
            Raises(
                (np.zeros((2, 3)), np.zeros(3), np.zeros((2, 3))),
                "inputs[1]",
                why="different numbers of dimensions",
            ),
            Raises(
                (np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((2, 3))),
                "inputs[1]",
                why="shapes do not broadcast",
            ),
            Raises((np.zeros(3), np.zeros(3), np.zeros(3)), "parameters.p", {"p": 0.5}),
        ],
        extremes=[
            Sample(
                (EXTREME.reshape(6, 3), EXTREME[::-1].reshape(6, 3).copy(), np.zeros((6, 3))),
                {"swap": True, "p": p},
            )
            for p in (2.0, 1.0, 3.0)
        ],
    ),
}
