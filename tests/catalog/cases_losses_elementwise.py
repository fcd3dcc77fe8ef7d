"""Test entries for the elementwise and per-sample losses (see cases.py for the schema).

"ref §x" cites /work/shared/catalog-reference.md (torch 2.13 values marked RUN there);
"by hand" values are closed forms worked from the formula, written out below.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from tests.catalog.cases import EXTREME, Case, Grad, Raises, Sample, Value, reals, shapes

LN2 = math.log(2.0)
REDUCTIONS = st.sampled_from(["none", "mean", "sum"])
F32_EPS = float(np.float32(1e-12))  # torch's BCE denominator floor (ref §2.1 #5)


def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# ---------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------


def pairs(dtype, x=(-5.0, 5.0), y=(-5.0, 5.0), params=None, min_dims=0, y_elements=None):
    """(input, target) of one shape; ``params`` a strategy of dicts (reduction added)."""
    params = params if params is not None else st.just({})

    def build(shape):
        target = (
            reals(dtype, shape, *y)
            if y_elements is None
            else st.lists(
                st.sampled_from(y_elements),
                min_size=int(np.prod(shape)),
                max_size=int(np.prod(shape)),
            ).map(lambda v: np.array(v, dtype=np.float64).reshape(shape).astype(dtype))
        )
        return st.builds(
            lambda a, b, p, r: Sample((a, b), {**p, "reduction": r}),
            reals(dtype, shape, *x),
            target,
            params,
            REDUCTIONS,
        )

    return shapes(min_dims=min_dims).flatmap(build)


def _weights(dtype, shape, low=0.0, high=3.0):
    """None, a scalar weight, or one per last-dim class."""
    options = [st.none(), reals(dtype, (), low, high)]
    if shape:
        options.append(reals(dtype, shape[-1:], low, high))
    return st.one_of(*options)


def bce_logits_samples(dtype):
    def build(shape):
        return st.builds(
            lambda x, y, w, p, r: Sample((x, y), {"weight": w, "pos_weight": p, "reduction": r}),
            reals(dtype, shape, -10, 10),
            reals(dtype, shape, 0, 1),
            _weights(dtype, shape),
            _weights(dtype, shape),
            REDUCTIONS,
        )

    return shapes().flatmap(build)


def bce_samples(dtype):
    def build(shape):
        return st.builds(
            lambda x, y, w, r: Sample((x, y), {"weight": w, "reduction": r}),
            reals(dtype, shape, 0.05, 0.95),
            reals(dtype, shape, 0, 1),
            _weights(dtype, shape),
            REDUCTIONS,
        )

    return shapes().flatmap(build)


def multilabel_samples(dtype):
    def build(shape):
        return st.builds(
            lambda x, y, w, r: Sample((x, y), {"weight": w, "reduction": r}),
            reals(dtype, shape, -8, 8),
            reals(dtype, shape, 0, 1),
            _weights(dtype, shape),
            REDUCTIONS,
        )

    return shapes(min_dims=1).flatmap(build)


def gaussian_samples(dtype):
    def build(shape, form, full, eps):
        if form == "last1" and shape:
            vshape = (*shape[:-1], 1)
        elif form == "fewer" and shape:
            vshape = shape[:-1]
        else:
            vshape = shape
        return st.builds(
            lambda x, y, v, r: Sample((x, y, v), {"full": full, "eps": eps, "reduction": r}),
            reals(dtype, shape),
            reals(dtype, shape),
            reals(dtype, vshape, 0.1, 4.0),
            REDUCTIONS,
        )

    return st.tuples(
        shapes(),
        st.sampled_from(["same", "last1", "fewer"]),
        st.booleans(),
        st.sampled_from([1e-6, 1e-3]),
    ).flatmap(lambda t: build(*t))


def poisson_samples(dtype):
    def build(log_input):
        x = (-3.0, 3.0) if log_input else (0.1, 5.0)
        params = st.fixed_dictionaries(
            {
                "log_input": st.just(log_input),
                "full": st.booleans(),
                "eps": st.sampled_from([1e-8, 1e-3]),
            }
        )
        return pairs(dtype, x=x, y=(0.0, 6.0), params=params)

    return st.booleans().flatmap(build)


def kl_samples(dtype):
    def build(log_target):
        y = (-6.0, 0.0) if log_target else (0.0, 1.0)
        params = st.fixed_dictionaries(
            {
                "log_target": st.just(log_target),
                "reduction": st.sampled_from(["none", "mean", "sum", "batchmean"]),
            }
        )
        return shapes().flatmap(
            lambda s: st.builds(
                lambda a, b, p: Sample((a, b), p),
                reals(dtype, s, -6.0, 0.0),
                reals(dtype, s, *y),
                params,
            )
        )

    return st.booleans().flatmap(build)


# ---------------------------------------------------------------------------
# Extreme samples: every pair of EXTREME values, and valid targets for the rest
# ---------------------------------------------------------------------------

_X, _Y = (a.ravel() for a in np.meshgrid(EXTREME, EXTREME))
_PM = np.where(np.arange(_X.size) % 2, 1.0, -1.0)  # ±1 targets
_UNIT = np.clip(np.nan_to_num(np.abs(_Y), nan=0.5), 0.0, 1.0)  # targets in [0, 1]
_COUNTS = np.abs(np.nan_to_num(_Y, nan=2.0, posinf=5.0, neginf=0.0)) % 7  # Poisson counts
_P = np.linspace(0.0, 1.0, 7)
_PX, _PY = (a.ravel() for a in np.meshgrid(_P, _P))


def _each_reduction(inputs, extra=(), **params):
    return [Sample(inputs, {**params, "reduction": r}) for r in ("none", "mean", "sum", *extra)]


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------

_X3 = np.array([1.0, 2.0, 3.0])
_Y3 = np.array([0.0, 0.0, 5.0])  # d = [1, 2, −2]

CASES: dict[str, Case] = {
    "mse_loss": Case(
        sample=lambda dt: pairs(dt),
        values=[
            Value((_X3, _Y3), 3.0, "by hand: d = [1, 2, −2], mean of d² = 9/3"),
            Value((_X3, _Y3), 9.0, "by hand: sum of d²", {"reduction": "sum"}),
            Value((_X3, _Y3), [1.0, 4.0, 4.0], "by hand: d²", {"reduction": "none"}),
            Value((np.inf, np.inf), np.nan, "ref §4: MSE(inf, inf) = NaN (inf − inf)"),
            Value(
                (np.array([1e300, -np.inf]), np.array([0.0, 0.0])),
                [np.inf, np.inf],
                "(1e300)² overflows to inf, as torch's float64",
                {"reduction": "none"},
            ),
            Value((np.zeros(0), np.zeros(0)), np.nan, "ref §0.5: 'mean' of nothing is NaN"),
            Value(
                (np.zeros(0), np.zeros(0)),
                0.0,
                "ref §0.5: 'sum' of nothing is 0",
                {"reduction": "sum"},
            ),
        ],
        grads=[
            Grad((_X3, _Y3), ([2 / 3, 4 / 3, -4 / 3],), "by hand: 2d / numel"),
            Grad(
                (_X3, _Y3),
                ([1.0, 0.0, -4.0],),
                "by hand: 2d · grad_output",
                {"reduction": "none"},
                grad_output=np.array([0.5, 0.0, 1.0]),
            ),
        ],
        errors=[
            Raises(
                (np.ones(3), np.ones((3, 1))),
                "inputs[1]",
                why="torch broadcasts (3) vs (3, 1) with a warning (ref §2.1 #2); refused",
            ),
            Raises((np.ones(3), np.ones(3)), "parameters.reduction", {"reduction": "avg"}),
        ],
        extremes=_each_reduction((_X, _Y)),
    ),
    "l1_loss": Case(
        sample=lambda dt: pairs(dt),
        values=[
            Value((_X3, np.array([0.0, 2.0, 5.0])), 1.0, "by hand: |d| = [1, 0, 2], mean 1"),
            Value((np.inf, np.inf), np.nan, "ref §4: L1(inf, inf) = NaN"),
            Value(
                (np.array([1e300]), np.array([-1e300])),
                [2e300],
                "|1e300 + 1e300| by hand",
                {"reduction": "none"},
            ),
        ],
        grads=[
            Grad(
                (_X3, np.array([0.0, 2.0, 5.0])),
                ([1.0, 0.0, -1.0],),
                "ref §2.1 #1: sign(d), 0 at d = 0 (torch's sgn)",
                {"reduction": "sum"},
            ),
        ],
        errors=[Raises((np.ones(2), np.ones(3)), "inputs[1]", why="shapes differ")],
        extremes=_each_reduction((_X, _Y)),
    ),
    "smooth_l1_loss": Case(
        sample=lambda dt: pairs(
            dt, params=st.fixed_dictionaries({"beta": st.sampled_from([1.0, 0.5, 2.0])})
        ),
        values=[
            Value(
                (np.array([0.5, 1.0, -3.0]), np.zeros(3)),
                [0.125, 0.5, 2.5],
                "by hand, β = 1: ½·0.25, ½·1 (= 1 − ½ at the switch), 3 − ½",
                {"reduction": "none"},
            ),
            Value(
                (np.array([1.0, 3.0]), np.zeros(2)),
                [0.25, 2.0],
                "by hand, β = 2: ½·1/2, 3 − 1",
                {"reduction": "none", "beta": 2.0},
            ),
            Value(
                (np.array([0.5, -3.0]), np.zeros(2)),
                [0.5, 3.0],
                "ref §2.1 #3: β = 0 is l1_loss",
                {"reduction": "none", "beta": 0.0},
            ),
        ],
        grads=[
            Grad(
                (np.array([0.5, 1.0, -1.0, -3.0]), np.zeros(4)),
                ([0.5, 1.0, -1.0, -1.0],),
                "ref §2.1 #3: d/β inside, ±1 at |d| = β from both sides, sign(d) outside",
                {"reduction": "sum"},
            ),
            Grad(
                (np.array([0.0, 2.0, -0.5]), np.zeros(3)),
                ([0.0, 1.0, -1.0],),
                "ref §2.1 #3: β = 0 gives sign(d), 0 at d = 0 (torch RUN)",
                {"reduction": "sum", "beta": 0.0},
            ),
        ],
        errors=[
            Raises(
                (np.ones(2), np.ones(2)),
                "parameters.beta",
                {"beta": -1.0},
                why="ref §2.1 #3: β < 0 raises",
            ),
            Raises((np.ones(2), np.ones(1)), "inputs[1]", why="shapes differ"),
        ],
        extremes=[
            *_each_reduction((_X, _Y)),
            *_each_reduction((_X, _Y), beta=0.0),
            *_each_reduction((_X, _Y), beta=1e-300),
        ],
    ),
    "huber_loss": Case(
        sample=lambda dt: pairs(
            dt, params=st.fixed_dictionaries({"delta": st.sampled_from([1.0, 0.5, 2.0])})
        ),
        values=[
            Value(
                (np.array([0.5, 1.0, -3.0]), np.zeros(3)),
                [0.125, 0.5, 2.5],
                "by hand, δ = 1: ½·0.25, ½·1, 1·(3 − ½)",
                {"reduction": "none"},
            ),
            Value(
                (np.array([1.0, 3.0, -2.0]), np.zeros(3)),
                [0.5, 4.0, 2.0],
                "by hand, δ = 2: ½·1, 2·(3 − 1), 2·(2 − 1) at the switch",
                {"reduction": "none", "delta": 2.0},
            ),
        ],
        grads=[
            Grad(
                (np.array([1.0, 3.0, -2.0, 2.0]), np.zeros(4)),
                ([1.0, 2.0, -2.0, 2.0],),
                "ref §2.1 #4: d inside, δ·sign(d) outside, ±δ at |d| = δ",
                {"reduction": "sum", "delta": 2.0},
            ),
        ],
        errors=[
            Raises(
                (np.ones(2), np.ones(2)),
                "parameters.delta",
                {"delta": 0.0},
                why="ref §2.1 #4: δ ≤ 0 raises",
            ),
            Raises((np.ones(2), np.ones(1)), "inputs[1]", why="shapes differ"),
        ],
        extremes=[*_each_reduction((_X, _Y)), *_each_reduction((_X, _Y), delta=3.0)],
    ),
    "binary_cross_entropy": Case(
        sample=bce_samples,
        values=[
            Value((0.5, 1.0), LN2, "by hand: −log ½"),
            Value(
                (0.2, 0.3),
                -(0.3 * math.log(0.2) + 0.7 * math.log(0.8)),
                "by hand: −(y log x + (1 − y) log(1 − x))",
            ),
            Value((0.0, 1.0), 100.0, "ref §4/§6 #6: log 0 clamped at −100, loss 100"),
            Value(
                (np.array([1.0, 0.0, 1.0]), np.array([0.0, 0.0, 1.0])),
                [100.0, 0.0, 0.0],
                "ref §2.1 #5: 100 at the clamp; x = y ∈ {0, 1} gives 0",
                {"reduction": "none"},
            ),
            Value(
                (np.array([0.5, 0.5]), np.array([1.0, 0.0])),
                1.25 * LN2,
                "ref §6 #4: weight does not change the divisor: (2 + 0.5)·log 2 / 2",
                {"weight": np.array([2.0, 0.5])},
            ),
            Value(
                (np.float32(0.999999), np.float32(1.0)),
                -math.log(float(np.float32(0.999999))),
                "by hand: −log x of the float32 input (no cancellation against log(1 − x))",
                rtol=1e-5,
            ),
        ],
        grads=[
            Grad((0.5, 1.0), (-2.0,), "by hand: (x − y)/(x(1 − x)) = −0.5/0.25"),
            Grad((0.2, 0.3), (-0.625,), "by hand: −0.1/0.16"),
            Grad(
                (np.array([0.0, 1.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0, 1.0])),
                ([-1 / F32_EPS, 1 / F32_EPS, 0.0, 0.0],),
                "ref §2.1 #5: ±1/float32(1e−12) = ±1.000000004e12; 0 where x = y ∈ {0, 1}",
                {"reduction": "sum"},
            ),
            Grad(
                (np.array([0.5, 0.5]), np.array([1.0, 0.0])),
                ([-2.0, 0.5],),
                "by hand: w(x − y)/(x(1 − x)) / numel, w = [2, 0.5]",
                {"weight": np.array([2.0, 0.5])},
            ),
        ],
        errors=[
            Raises((1.5, 0.0), "inputs[0]", why="ref §2.1 #5: input outside [0, 1] raises"),
            Raises((np.nan, 0.0), "inputs[0]", why="ref §2.1 #5: NaN input raises"),
            Raises((0.5, -0.1), "inputs[1]", why="ref §2.1 #5: target outside [0, 1] raises"),
            Raises((np.full(3, 0.5), np.full(2, 0.5)), "inputs[1]", why="shapes differ"),
            Raises(
                (np.full((2, 3), 0.5), np.full((2, 3), 0.5)),
                "parameters.weight",
                {"weight": np.ones(2)},
                why="weight (2) does not broadcast to (2, 3)",
            ),
        ],
        extremes=[*_each_reduction((_PX, _PY)), *_each_reduction((_PX, _PY), weight=np.array(3.0))],
    ),
    "binary_cross_entropy_with_logits": Case(
        sample=bce_logits_samples,
        values=[
            Value(
                (np.array([-1000.0, 1000.0]), np.array([1.0, 0.0])),
                [1000.0, 1000.0],
                "ref §2.1 #6: no overflow, loss 1000",
                {"reduction": "none"},
            ),
            Value((0.0, 0.3), LN2, "by hand: (1 − y)·0 + softplus(0) = log 2"),
            Value(
                (0.0, 1.0),
                3 * LN2,
                "by hand: p·y·softplus(0) with p = 3",
                {"pos_weight": np.array(3.0)},
            ),
            Value(
                (np.float32(17.0), np.float32(0.0)),
                np.float32(17.0),
                "ref §4: float32 BCEWithLogits(17, 0) = 17.0 (exact, no saturation)",
            ),
            Value(
                (np.array([2.0, -1.0]), np.array([1.0, 0.0])),
                (2 * math.log1p(math.exp(-2.0)) + 0.5 * math.log1p(math.exp(-1.0))) / 2,
                "by hand: w·softplus(∓x), mean over 2 (weight does not change the divisor)",
                {"weight": np.array([2.0, 0.5])},
            ),
        ],
        grads=[
            Grad(
                (np.array([-1000.0, 1000.0]), np.array([1.0, 0.0])),
                ([-1.0, 1.0],),
                "ref §2.1 #6: gradients −1 and +1",
                {"reduction": "sum"},
            ),
            Grad(
                (np.array([0.0, 2.0]), np.array([0.25, 1.0])),
                ([0.25, _sig(2.0) - 1.0],),
                "by hand: σ(x) − y",
                {"reduction": "sum"},
            ),
            Grad(
                (0.0, 1.0),
                (-1.5,),
                "by hand: (p·y + 1 − y)σ(0) − p·y = 3·½ − 3",
                {"pos_weight": np.array(3.0)},
            ),
            Grad(
                (np.zeros((2, 2)), np.ones((2, 2))),
                ([[-0.125, -0.375], [-0.125, -0.375]],),
                "by hand: pos_weight [1, 3] along the last dim: (p·½ − p)/4",
                {"pos_weight": np.array([1.0, 3.0])},
            ),
        ],
        errors=[
            Raises((np.zeros(3), np.zeros(2)), "inputs[1]", why="torch raises on a size mismatch"),
            Raises(
                (np.zeros((2, 3)), np.zeros((2, 3))),
                "parameters.pos_weight",
                {"pos_weight": np.ones(2)},
                why="pos_weight broadcasts along the last dim",
            ),
            Raises(
                (np.zeros((2, 3)), np.zeros((2, 3))),
                "parameters.weight",
                {"weight": np.ones((4, 3))},
                why="weight must broadcast to the input's shape",
            ),
        ],
        extremes=[
            *_each_reduction((_X, _UNIT)),
            *_each_reduction(
                (_X.reshape(18, 18), _UNIT.reshape(18, 18)),
                pos_weight=np.linspace(0, 3, 18),
                weight=np.linspace(0, 2, 18),
            ),
        ],
    ),
    "soft_margin_loss": Case(
        sample=lambda dt: pairs(dt, x=(-20.0, 20.0), y_elements=(-1.0, 1.0)),
        values=[
            Value((0.0, 1.0), LN2, "by hand: log(1 + e⁰)"),
            Value(
                (np.array([-800.0, 2.0]), np.array([1.0, -1.0])),
                [800.0, 2.0 + math.log1p(math.exp(-2.0))],
                "ref §2.1 #17: softplus(800) = 800 (torch's literal form gives inf); "
                "softplus(2) by hand",
                {"reduction": "none"},
            ),
        ],
        grads=[
            Grad(
                (np.array([0.0, -800.0, 2.0]), np.array([1.0, 1.0, -1.0])),
                ([-0.5, -1.0, _sig(2.0)],),
                "by hand: −y·σ(−y·x)",
                {"reduction": "sum"},
            ),
        ],
        errors=[Raises((np.zeros(2), np.ones(3)), "inputs[1]", why="shapes differ")],
        extremes=_each_reduction((_X, _PM)),
    ),
    "multilabel_soft_margin_loss": Case(
        sample=multilabel_samples,
        values=[
            Value(
                (np.zeros((1, 2)), np.array([[1.0, 0.0]])), LN2, "by hand: (log 2 + log 2)/C, C = 2"
            ),
            Value(
                (np.zeros((1, 2)), np.array([[1.0, 0.0]])),
                2 * LN2,
                "by hand: (1·log 2 + 3·log 2)/2",
                {"weight": np.array([1.0, 3.0])},
            ),
            Value(
                (np.array([[800.0, -800.0], [-800.0, 0.0]]), np.array([[1.0, 0.0], [1.0, 1.0]])),
                [0.0, (800.0 + LN2) / 2],
                "ref §2.1 #16: stable at ±800; by hand",
                {"reduction": "none"},
                atol=1e-300,
            ),
            Value(
                (np.zeros((2, 0)), np.zeros((2, 0))),
                [np.nan, np.nan],
                "0/0: torch's mean over no classes is NaN",
                {"reduction": "none"},
            ),
        ],
        grads=[
            Grad(
                (np.zeros((1, 2)), np.array([[1.0, 0.0]])),
                ([[-0.25, 0.25]],),
                "by hand: (σ(x) − y)/C",
            ),
            Grad(
                (np.zeros((2, 2)), np.array([[1.0, 0.0], [0.0, 0.0]])),
                ([[-0.125, 0.375], [0.125, 0.375]],),
                "by hand: w(σ − y)/C/N with w = [1, 3], N = 2",
                {"weight": np.array([1.0, 3.0])},
            ),
        ],
        errors=[
            Raises((0.0, 1.0), "inputs[0]", why="torch needs a class dimension"),
            Raises((np.zeros((2, 3)), np.zeros((2, 2))), "inputs[1]", why="shapes differ"),
            Raises(
                (np.zeros((2, 3)), np.zeros((2, 3))),
                "parameters.weight",
                {"weight": np.ones(2)},
                why="weight (2) does not broadcast to (2, 3)",
            ),
        ],
        extremes=_each_reduction((_X.reshape(18, 18), _UNIT.reshape(18, 18))),
    ),
    "hinge_embedding_loss": Case(
        sample=lambda dt: pairs(dt, y_elements=(-1.0, 1.0)).filter(
            lambda s: bool(np.all(np.abs(s.inputs[0] - 1.0) > 1e-3))
        ),
        values=[
            Value(
                (np.array([0.3, 0.3, 2.0, 0.3]), np.array([1.0, -1.0, -1.0, 0.0])),
                [0.3, 0.7, 0.0, 1.0],
                "by hand: x; 1 − x; max(0, −1); ref §2.1 #12: y = 0 gets both terms → 1.0",
                {"reduction": "none"},
            ),
            Value(
                (np.array([0.3]), np.array([-1.0])),
                1.7,
                "by hand: margin 2: 2 − 0.3",
                {"margin": 2.0},
            ),
        ],
        grads=[
            Grad(
                (np.array([0.3, 0.3, 2.0, 0.5, 1.0]), np.array([1.0, -1.0, -1.0, 0.0, -1.0])),
                ([1.0, -1.0, 0.0, 0.0, -1.0],),
                "by hand: 1 | −1 | 0 | −1 + 1; ref §2.1 #12: −1 passes at x = margin",
                {"reduction": "sum"},
            ),
        ],
        errors=[Raises((np.zeros(2), np.ones(3)), "inputs[1]", why="shapes differ")],
        extremes=[
            *_each_reduction((_X, _PM)),
            *_each_reduction((_X, np.where(np.arange(_X.size) % 3 == 0, 0.0, _PM))),
        ],
    ),
    "poisson_nll_loss": Case(
        sample=poisson_samples,
        values=[
            Value(
                (np.array([0.0, 1.0]), np.array([2.0, 2.0])),
                [1.0, math.e - 2.0],
                "by hand: eˣ − y·x",
                {"reduction": "none"},
            ),
            Value(
                (0.0, 2.0),
                16 * math.log(10.0),
                "ref §2.1 #10: log_input=false, x=0, y=2: −2·log(1e−8) = 36.84",
                {"log_input": False},
            ),
            Value(
                (np.array([0.0, 0.0]), np.array([3.0, 1.0])),
                [1.0 + 3 * math.log(3.0) - 3.0 + 0.5 * math.log(6 * math.pi), 1.0],
                "by hand, ref §2.1 #10: Stirling term only where y > 1",
                {"reduction": "none", "full": True},
            ),
        ],
        grads=[
            Grad(
                (np.array([0.0, 1.0]), np.array([2.0, 2.0])),
                ([-1.0, math.e - 2.0],),
                "by hand: eˣ − y",
                {"reduction": "sum"},
            ),
            Grad(
                (0.0, 2.0),
                (1.0 - 2.0 / 1e-8,),
                "ref §2.1 #10: 1 − y/(x + eps) = −2e8",
                {"log_input": False},
            ),
            Grad(
                (np.array([0.0]), np.array([3.0])),
                ([-2.0],),
                "ref §2.1 #10: the Stirling term has no x-gradient",
                {"full": True},
            ),
        ],
        errors=[
            Raises((np.zeros(2), np.ones(3)), "inputs[1]", why="shapes differ"),
            Raises((0.0, 1.0), "parameters.eps", {"eps": -1.0}, why="eps ≥ 0"),
        ],
        extremes=[
            *[
                s
                for li in (True, False)
                for full in (True, False)
                for s in _each_reduction((_X, _COUNTS), log_input=li, full=full)
            ],
            *_each_reduction((_X, _Y), full=True),
            *_each_reduction((_X, _Y), log_input=False),
        ],
    ),
    "gaussian_nll_loss": Case(
        sample=gaussian_samples,
        values=[
            Value((1.0, 0.0, 2.0), 0.5 * (math.log(2.0) + 0.5), "by hand: ½(log v + d²/v)"),
            Value(
                (1.0, 0.0, 2.0),
                0.5 * (math.log(2.0) + 0.5 + math.log(2 * math.pi)),
                "by hand: + ½·log 2π",
                {"full": True},
            ),
            Value(
                (1.0, 0.0, 0.0),
                0.5 * (math.log(1e-6) + 1e6),
                "ref §2.1 #11: var = 0 clamped to eps: loss ≈ 5e5",
            ),
            Value(
                (np.ones((2, 3)), np.zeros((2, 3)), np.array([2.0, 4.0])),
                (3 * (math.log(2.0) + 0.5) + 3 * (math.log(4.0) + 0.25)) / 12,
                "by hand: var of one fewer dim applies per row; mean over 6",
            ),
        ],
        grads=[
            Grad((1.0, 0.0, 2.0), (0.5, 0.125), "by hand: d/v and ½(1/v − d²/v²)"),
            Grad(
                (1.0, 0.0, 0.0),
                (1e6, 0.5 * (1e6 - 1e12)),
                "ref §2.1 #11: at the clamped v = eps (straight-through): ∂var ≈ −5e11",
            ),
            Grad(
                (np.ones((2, 3)), np.zeros((2, 3)), np.array([[2.0], [4.0]])),
                (np.array([[0.5] * 3, [0.25] * 3]), np.array([[3 * 0.125], [3 * 0.09375]])),
                "by hand: var (N, 1) gathers its row's three ½(1/v − 1/v²)",
                {"reduction": "sum"},
            ),
        ],
        errors=[
            Raises((1.0, 0.0, -0.5), "inputs[2]", why="ref §2.1 #11: negative var raises"),
            Raises(
                (np.ones((2, 3)), np.ones((2, 3)), np.ones(3)),
                "inputs[2]",
                why="var (3) is none of torch's allowed shapes for input (2, 3)",
            ),
            Raises((np.ones(2), np.ones(3), np.ones(2)), "inputs[1]", why="shapes differ"),
            Raises((1.0, 0.0, 1.0), "parameters.eps", {"eps": 0.0}, why="eps > 0"),
        ],
        extremes=[
            *_each_reduction((_X, _Y, np.abs(_X[::-1]))),
            *_each_reduction((_X, _Y, np.abs(np.nan_to_num(_X[::-1], nan=0.5))), full=True),
        ],
    ),
    "kl_div": Case(
        sample=kl_samples,
        values=[
            Value(
                (np.log([[0.25, 0.75]]), np.array([[0.5, 0.5]])),
                0.5 * math.log(4 / 3),
                "by hand: Σ y(log y − x); ref §2.1 #9: batchmean ÷ size(0) = 1",
                {"reduction": "batchmean"},
            ),
            Value(
                (np.log([[0.25, 0.75]]), np.array([[0.5, 0.5]])),
                0.25 * math.log(4 / 3),
                "by hand: 'mean' divides by numel = 2 (not the KL)",
            ),
            Value(
                (np.log([0.25, 0.75]), np.array([0.5, 0.5])),
                0.25 * math.log(4 / 3),
                "ref §2.1 #9: batchmean of a 1-d input divides by size(0) = 2",
                {"reduction": "batchmean"},
            ),
            Value(
                (np.array([-5.0, -np.inf, 0.0]), np.array([0.0, 0.0, -1.0])),
                [0.0, np.nan, np.nan],
                "ref §2.1 #9: 0 where y = 0; y = 0 at x = −inf and y < 0 give NaN",
                {"reduction": "none"},
            ),
            Value(
                (np.array([-1.0, 0.0]), np.array([math.log(0.5), -np.inf])),
                [0.5 * (math.log(0.5) + 1.0), np.nan],
                "by hand e^y(y − x); ref §2.1 #9: log_target with y = −inf gives NaN",
                {"reduction": "none", "log_target": True},
            ),
        ],
        grads=[
            Grad(
                (np.zeros((2, 2)), np.array([[0.5, 0.5], [0.0, 1.0]])),
                ([[-0.25, -0.25], [0.0, -0.5]],),
                "by hand: −y / size(0)",
                {"reduction": "batchmean"},
            ),
            Grad(
                (np.zeros(2), np.array([math.log(0.5), 0.0])),
                ([-0.5, -1.0],),
                "by hand: −e^y",
                {"reduction": "sum", "log_target": True},
            ),
        ],
        errors=[
            Raises((np.zeros(2), np.zeros(3)), "inputs[1]", why="shapes differ"),
            Raises((np.zeros(2), np.zeros(2)), "parameters.reduction", {"reduction": "batch"}),
        ],
        extremes=[
            *_each_reduction((_X, np.abs(_Y)), extra=("batchmean",)),
            *_each_reduction((_X, _Y), extra=("batchmean",)),
            *_each_reduction((_X, _Y), extra=("batchmean",), log_target=True),
        ],
    ),
}
