"""Test entries for the activations beyond torch (see cases.py for the schema).

Golden values are closed forms evaluated with Python's ``math`` module (never with
nnfunc), worked examples from the defining paper or framework documentation, or the
values recorded in ../shared/catalog-reference.md ("ref §1.3 #n" is row n of its table
of framework activations; RUN means the value was obtained by running that framework).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from tests.catalog.cases import (
    EXTREME,
    Case,
    Grad,
    Raises,
    Sample,
    Value,
    elementwise,
    reals,
    shapes,
)

NAN, INF = math.nan, math.inf
SQRT5 = math.sqrt(5.0)


def sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def phi_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def phi_pdf(x: float) -> float:
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def _choose(dt, choices, low, high, kinks=lambda p: ()):
    """Elementwise samples whose parameters come from ``choices``, inputs away from the
    points ``kinks(params)`` lists."""
    return st.sampled_from(choices).flatmap(
        lambda p: elementwise(dt, low, high, exclude=kinks(p), params=st.just(p))
    )


_NO_EXTRA = st.just({})


def _along(dt, name="axis", low=-5.0, high=5.0, nullable=False, extra=_NO_EXTRA):
    """One input of any shape (0-d and empty included) and a valid axis parameter."""

    @st.composite
    def draw(draw):
        shape = draw(shapes())
        n = max(len(shape), 1)
        axes = st.integers(-n, n - 1)
        axis = draw(st.one_of(st.none(), axes) if nullable else axes)
        x = draw(reals(dt, shape, low, high))
        return Sample((x,), {name: axis, **draw(extra)})

    return draw()


def _halved(dt, extra=_NO_EXTRA, exclude=()):
    """At least 1-d, an even size along dim (glu's halves), any dim."""

    @st.composite
    def draw(draw):
        shape = list(draw(shapes(min_dims=1)))
        dim = draw(st.integers(-len(shape), len(shape) - 1))
        shape[dim] = 2 * draw(st.integers(0, 2))
        x = draw(reals(dt, tuple(shape), exclude=exclude))
        return Sample((x,), {"dim": dim, **draw(extra)})

    return draw()


def _grouped(dt):
    """maxout: at least 1-d, the size along dim a multiple of pieces."""

    @st.composite
    def draw(draw):
        shape = list(draw(shapes(min_dims=1)))
        dim = draw(st.integers(-len(shape), len(shape) - 1))
        pieces = draw(st.integers(1, 3))
        shape[dim] = pieces * draw(st.integers(0, 2))
        x = draw(reals(dt, tuple(shape)))
        return Sample((x,), {"pieces": pieces, "dim": dim})

    return draw()


def _halves_errors() -> list[Raises]:
    return [
        Raises((np.zeros(3),), "parameters.dim", {}, "odd size along dim"),
        Raises((np.zeros((2, 3)),), "parameters.dim", {"dim": 1}, "odd size along dim 1"),
        Raises((np.array(1.0),), "inputs[0]", {}, "a 0-d input has nothing to halve"),
        Raises((np.zeros((2, 2)),), "parameters.dim", {"dim": 2}, "axis out of range"),
    ]


def _axis_errors(name: str) -> list[Raises]:
    return [
        Raises((np.zeros((2, 3)),), f"parameters.{name}", {name: 2}, "axis out of range"),
        Raises((np.zeros((2, 3)),), f"parameters.{name}", {name: -3}, "axis out of range"),
        Raises((np.zeros(3),), f"parameters.{name}", {name: 0.5}, "not an integer"),
        Raises((np.zeros(3),), f"parameters.{name}", {name: True}, "bool is not an int"),
    ]


_AXIS_EXTREMES = [
    Sample((EXTREME.reshape(3, 6),)),
    Sample((EXTREME.reshape(3, 6).T.copy(),)),
    Sample((np.array([[-INF, -INF], [INF, INF], [NAN, NAN], [INF, -INF], [1e300, -1e300]]),)),
    Sample((np.array([[3e38, -3e38, 0.0], [1e-45, -1e-45, 0.0]]),)),
]

# entmax-1.5 of [1, 0] (z = x/2 = [1/2, 0]) by hand: both in the support, so
# (1/2 − τ)² + τ² = 1, i.e. 2τ² − τ − 3/4 = 0, τ = (1 − √7)/4.
_TAU = (1 - math.sqrt(7)) / 4
_E15 = [(0.5 - _TAU) ** 2, _TAU**2]
_S15 = [0.5 - _TAU, -_TAU]  # √y

# standardize([1, 2, 3]) with epsilon 0: mean 2, variance 2/3, r = √1.5.
_R = math.sqrt(1.5)

CASES: dict[str, Case] = {
    # -----------------------------------------------------------------------------
    # From jax and keras, elementwise
    # -----------------------------------------------------------------------------
    "squareplus": Case(
        sample=lambda dt: _choose(dt, [{}, {"b": 1.0}, {"b": 0.5}, {"b": 10.0}], -10, 10),
        values=[
            Value((0.0,), 1.0, "closed form: √b/2 with b = 4"),
            Value(
                (np.array([1.0, -1.0]),),
                [(1 + SQRT5) / 2, (SQRT5 - 1) / 2],
                "closed form (x + √(x² + 4))/2: the golden ratio and its inverse",
                rtol=1e-15,
            ),
            Value((0.0,), 0.5, "closed form: √b/2 with b = 1", {"b": 1.0}),
            Value(
                (np.array(-1e4, dtype=np.float32),),
                np.float32(4 / (2 * (math.sqrt(1e8 + 4) + 1e4))),
                "ref §1.3 #32: float32 squareplus(-1e4) is 1e-4 (jax's naive form gives 0); "
                "closed form b/(2(√(x² + b) − x))",
                rtol=1e-6,
            ),
            Value(
                (np.array([INF, -INF, NAN, 1e300, -1e300]),),
                [INF, 0.0, NAN, 1e300, 4 / (4e300)],
                "limits; huge x without overflow (x² + b would be inf)",
            ),
        ],
        grads=[
            Grad((0.0,), (0.5,), "½(1 + x/√(x² + b)) at 0"),
            Grad((1.0,), (0.5 * (1 + 1 / SQRT5),), "½(1 + 1/√5) by hand", rtol=1e-15),
            Grad(
                (-1e4,),
                (4 / (2 * math.sqrt(1e8 + 4) * (math.sqrt(1e8 + 4) + 1e4)),),
                "½(1 + x/h) = b/(2h(h − x)) for x < 0, h = √(x² + b): no cancellation",
                rtol=1e-14,
            ),
            Grad((np.array([INF, -INF]),), ([1.0, 0.0],), "limits of the gradient"),
        ],
        errors=[
            Raises((np.zeros(2),), "parameters.b", {"b": 0.0}, "b = 0 is relu: refused"),
            Raises((np.zeros(2),), "parameters.b", {"b": -1.0}, "negative b: NaN region"),
        ],
        extremes=[Sample((EXTREME,)), Sample((EXTREME,), {"b": 3e38})],
    ),
    "sparse_plus": Case(
        sample=lambda dt: elementwise(dt, -3, 3),
        values=[
            Value(
                (np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]),),
                [0.0, 0.0, 0.0625, 0.25, 0.5625, 1.0, 2.0],
                "jax's definition by hand: 0, (x + 1)²/4, x",
            ),
            Value((np.array([NAN, INF, -INF]),), [NAN, INF, 0.0], "NaN propagates; limits"),
        ],
        grads=[
            Grad(
                (np.array([-2.0, -1.0, 0.0, 1.0, 3.0]),),
                ([0.0, 0.0, 0.5, 1.0, 1.0],),
                "ref §1.3 #33: jax gives 0 at -1 and 1 at 1 (RUN); (x + 1)/2 inside",
            ),
            Grad((np.array([NAN]),), ([NAN],), "jax's (x + 1)/2 branch at NaN"),
        ],
        extremes=[Sample((EXTREME,))],
    ),
    "sparse_sigmoid": Case(
        sample=lambda dt: elementwise(dt, -3, 3, exclude=(-1.0, 1.0)),
        values=[
            Value(
                (np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]),),
                [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0],
                "½·clip(x + 1, 0, 2) by hand",
            ),
            Value((np.array([NAN, INF, -INF]),), [NAN, 1.0, 0.0], "NaN propagates; limits"),
        ],
        grads=[
            Grad(
                (np.array([-1.0, 1.0]),),
                ([0.25, 0.25],),
                "ref §0.3 and §1.3 #34: jax gives 0.25 at ±1 (clip splits ties, RUN)",
            ),
            Grad((np.array([-2.0, 0.0, 2.0]),), ([0.0, 0.5, 0.0],), "slope ½ inside, 0 outside"),
            Grad((np.array([NAN]),), ([0.0],), "jax: clip's tie tests fail on NaN, so 0"),
        ],
        extremes=[Sample((EXTREME,))],
    ),
    "log1mexp": Case(
        sample=lambda dt: elementwise(dt, 0.05, 20),
        values=[
            Value((math.log(2),), -math.log(2), "log(1 − e^(-log 2)) = log ½", rtol=1e-15),
            Value(
                (np.array([1e-10, 1.0, 40.0]),),
                [
                    math.log(-math.expm1(-1e-10)),
                    math.log(-math.expm1(-1.0)),
                    math.log1p(-math.exp(-40.0)),
                ],
                "math module, Mächler's two forms (each exact in its range)",
                rtol=1e-15,
            ),
            Value(
                (np.array([0.0, -1.0, INF, NAN, -INF]),),
                [-INF, NAN, 0.0, NAN, NAN],
                "log 0 = -inf; jax: NaN for x < 0 (undefined); limit 0 at inf",
            ),
        ],
        grads=[
            Grad((math.log(2),), (1.0,), "jax's custom_jvp 1/expm1(x) = 1/(2 − 1)", rtol=1e-15),
            Grad((3.0,), (1 / math.expm1(3.0),), "1/expm1(x), math module", rtol=1e-15),
            Grad(
                (np.array([0.0, -0.0, INF, -INF, -1.0]),),
                ([INF, -INF, 0.0, -1.0, 1 / math.expm1(-1.0)],),
                "jax's custom_jvp 1/expm1(x) everywhere, outside the domain too",
                rtol=1e-15,
            ),
        ],
        extremes=[Sample((EXTREME,))],
    ),
    "exponential": Case(
        sample=lambda dt: elementwise(dt, -5, 5),
        values=[
            Value((np.array([0.0, 1.0, -1.0]),), [1.0, math.e, 1 / math.e], "e^x", rtol=1e-15),
            Value(
                (np.array([88.8, 88.7], dtype=np.float32),),
                np.array([INF, math.exp(np.float32(88.7))], dtype=np.float32),
                "ref §1.3 #39 and §4: float32 e^x overflows at 88.72",
                rtol=1e-6,
            ),
            Value((np.array([710.0, -INF, NAN]),), [INF, 0.0, NAN], "float64 overflows at 709.78"),
        ],
        grads=[
            Grad((np.array([0.0, 2.0]),), ([1.0, math.exp(2.0)],), "(e^x)' = e^x", rtol=1e-15),
            Grad(
                (np.array([710.0, 1.0]),),
                ([NAN, 0.0],),
                "0·inf is NaN (IEEE), quietly",
                grad_output=np.array([0.0, 0.0]),
            ),
        ],
        extremes=[Sample((EXTREME,))],
    ),
    "keras_relu": Case(
        sample=lambda dt: _choose(
            dt,
            [
                {},
                {"negative_slope": 0.1},
                {"negative_slope": 0.1, "max_value": 2.0, "threshold": 0.5},
                {"max_value": 6.0},
                {"max_value": 3.0},
                {"threshold": 1.0},
                {"threshold": -1.0, "max_value": 2.0},
                {"negative_slope": -0.5, "threshold": -2.0},
            ],
            -5,
            5,
            kinks=lambda p: (
                p.get("threshold", 0.0),
                0.0,
                *([p["max_value"]] if "max_value" in p else []),
            ),
        ),
        values=[
            Value(
                (np.array([-10.0, -5.0, 0.0, 5.0, 10.0]),),
                [0.0, 0.0, 0.0, 5.0, 10.0],
                "keras.activations.relu docstring example (defaults)",
            ),
            Value(
                (np.array([-10.0, -5.0, 0.0, 5.0, 10.0]),),
                [-5.0, -2.5, 0.0, 5.0, 10.0],
                "keras.activations.relu docstring example, negative_slope=0.5",
                {"negative_slope": 0.5},
            ),
            Value(
                (np.array([-10.0, -5.0, 0.0, 5.0, 10.0]),),
                [0.0, 0.0, 0.0, 5.0, 5.0],
                "keras.activations.relu docstring example, max_value=5",
                {"max_value": 5.0},
            ),
            Value(
                (np.array([-10.0, -5.0, 0.0, 5.0, 10.0]),),
                [0.0, 0.0, 0.0, 0.0, 10.0],
                "keras.activations.relu docstring example, threshold=5 (x = 5 gives 0)",
                {"threshold": 5.0},
            ),
            Value(
                (np.array([-4.0]),),
                [-0.45],
                "ref §1.3 #40: relu(x, 0.1, 2, 0.5) at -4 is -0.45 (RUN)",
                {"negative_slope": 0.1, "max_value": 2.0, "threshold": 0.5},
                rtol=1e-15,
            ),
            Value(
                (np.array([-INF, INF, NAN]),),
                [-INF, 2.0, NAN],
                "limits (keras's x·[x > t] would be NaN at -inf; see notes)",
                {"negative_slope": 0.1, "max_value": 2.0, "threshold": 0.5},
            ),
        ],
        grads=[
            Grad(
                (np.array([-1.0, 0.0, 1.0]),),
                ([0.0, 0.0, 1.0],),
                "ref §0.3: jax relu'(0) = 0",
            ),
            Grad(
                (np.array([-1.0, 0.0, 1.0]),),
                ([0.1, 1.0, 1.0],),
                "keras calls jax's leaky_relu: gradient 1 at 0 (ref §0.3, RUN)",
                {"negative_slope": 0.1},
            ),
            Grad(
                (np.array([0.0, 3.0, 6.0, 7.0]),),
                ([0.0, 1.0, 0.0, 0.0],),
                "max_value=6: keras uses jax's relu6, gradient 0 at 0 and 6 (ref §0.3)",
                {"max_value": 6.0},
            ),
            Grad(
                (np.array([0.0, 3.0, 5.0, 7.0]),),
                ([0.0, 1.0, 0.5, 0.0],),
                "max_value=5: jnp.clip splits the tie at 5, 0.5 (ref §0.3)",
                {"max_value": 5.0},
            ),
            Grad(
                (np.array([-4.0, 0.5, 1.0, 2.0, 3.0]),),
                ([0.1, 0.0, 1.0, 0.5, 0.0],),
                "threshold 0.5: 0 at the threshold (mask x > t and relu'(0) = 0), "
                "0.1 below, 0.5 at the cap",
                {"negative_slope": 0.1, "max_value": 2.0, "threshold": 0.5},
            ),
            Grad(
                (np.array([-1.5, -0.5, 0.0, 1.0]),),
                ([0.0, 0.0, 0.5, 1.0],),
                "threshold -1, max_value 2: x in (-1, 0) is clipped to 0; 0.5 at the tie x = 0",
                {"threshold": -1.0, "max_value": 2.0},
            ),
        ],
        errors=[
            Raises((np.zeros(2),), "parameters.max_value", {"max_value": -1.0}, "negative cap"),
            Raises((np.zeros(2),), "parameters.threshold", {"threshold": "a"}, "not a number"),
        ],
        extremes=[
            Sample((EXTREME,)),
            Sample((EXTREME,), {"negative_slope": 0.1}),
            Sample((EXTREME,), {"negative_slope": 3e38, "max_value": 2.0, "threshold": 3e38}),
            Sample((EXTREME,), {"negative_slope": -2.0, "threshold": -3e38}),
            Sample((EXTREME,), {"max_value": 6.0}),
        ],
    ),
    # -----------------------------------------------------------------------------
    # From jax and keras, along an axis
    # -----------------------------------------------------------------------------
    "sparsemax": Case(
        sample=lambda dt: _along(dt),
        values=[
            Value((np.array([1.0, 2.0, 3.0]),), [0.0, 0.0, 1.0], "ref §1.3 #35: keras (RUN)"),
            Value(
                (np.array([1.0, 1.5]),),
                [0.25, 0.75],
                "by hand: τ = (1.5 + 1 − 1)/2 = 0.75",
            ),
            Value((np.zeros(4),), [0.25] * 4, "by hand: a tie spreads evenly"),
            Value(
                (np.array([[0.0, 0.5], [1.0, 0.0]]),),
                [[0.0, 0.75], [1.0, 0.25]],
                "by hand along axis 0: columns [0, 1] → [0, 1]; [0.5, 0] → [0.75, 0.25]",
                {"axis": 0},
            ),
            Value(
                (np.array([[1e300, -1e300, 1e300], [-INF, 0.0, NAN], [-INF, -INF, -INF]]),),
                [[0.5, 0.0, 0.5], [NAN, NAN, NAN], [NAN, NAN, NAN]],
                "shift-invariant: huge values are fine; NaN and all -inf slices are NaN",
            ),
            Value((np.array(3.0),), 1.0, "a 0-d input is one slice of one element"),
        ],
        grads=[
            Grad(
                (np.array([1.0, 1.5]),),
                ([0.5, -0.5],),
                "the paper's Jacobian diag(s) − ssᵀ/|S| applied to g = [1, 0] by hand",
                grad_output=np.array([1.0, 0.0]),
            ),
            Grad(
                (np.array([1.0, 2.0, 3.0]),),
                ([0.0, 0.0, 0.0],),
                "support of one element: the Jacobian is 0",
                grad_output=np.array([1.0, 2.0, 3.0]),
            ),
            Grad(
                (np.array([0.0, 1.0]),),
                ([0.0, 0.0],),
                "kink: x₀ = τ = 0 sits on the support's edge; support {y > 0} = {1}",
                grad_output=np.array([1.0, 0.0]),
            ),
        ],
        errors=_axis_errors("axis"),
        extremes=_AXIS_EXTREMES,
    ),
    "logmeanexp": Case(
        sample=lambda dt: _along(
            dt, nullable=True, extra=st.fixed_dictionaries({"keepdims": st.booleans()})
        ),
        values=[
            Value(
                (np.array([0.0, math.log(3)]),),
                math.log(2),
                "by hand: log((1 + 3)/2); axis=None reduces everything",
                rtol=1e-15,
            ),
            Value(
                (np.log([[1.0, 3.0], [2.0, 6.0]]),),
                [math.log(2), math.log(4)],
                "by hand along axis 1: log((1+3)/2), log((2+6)/2)",
                {"axis": 1},
                rtol=1e-15,
            ),
            Value(
                (np.log([[1.0, 3.0], [2.0, 6.0]]),),
                [[math.log(1.5), math.log(4.5)]],
                "by hand along axis 0 with keepdims",
                {"axis": 0, "keepdims": True},
                rtol=1e-15,
            ),
            Value(
                (np.array([1000.0, 1000.0]),),
                1000.0,
                "max-shifted: no overflow (naive e^1000 is inf)",
            ),
            Value(
                (np.array([[-INF, -INF], [INF, 0.0], [NAN, 0.0]]),),
                [-INF, INF, NAN],
                "all -inf → -inf and +inf → inf (logsumexp's limits); NaN propagates",
                {"axis": 1},
            ),
            Value((np.zeros((2, 0)),), [NAN, NAN], "log of the mean of nothing", {"axis": 1}),
        ],
        grads=[
            Grad(
                (np.array([0.0, math.log(3)]),),
                ([0.5, 1.5],),
                "softmax weights [1/4, 3/4] times g = 2",
                grad_output=np.array(2.0),
                rtol=1e-15,
            ),
            Grad(
                (np.array([[-INF, -INF], [0.0, 0.0]]),),
                ([[NAN, NAN], [0.5, 0.5]],),
                "all -inf slice: NaN gradient (as logsumexp); others untouched",
                {"axis": 1},
            ),
        ],
        errors=[
            *_axis_errors("axis"),
            Raises((np.zeros(3),), "parameters.keepdims", {"keepdims": 1}, "not a bool"),
        ],
        extremes=[*_AXIS_EXTREMES, Sample((EXTREME,), {"axis": 0, "keepdims": True})],
    ),
    "standardize": Case(
        sample=lambda dt: _along(
            dt,
            nullable=True,
            extra=st.fixed_dictionaries(
                {
                    "epsilon": st.sampled_from([1e-5, 1e-2]),
                    # float32 'fast' really is inaccurate for close values (see notes)
                    "algorithm": st.sampled_from(
                        ["stable"] if dt != np.float64 else ["fast", "stable"]
                    ),
                }
            ),
        ),
        values=[
            Value(
                (np.array([1.0, 2.0, 3.0]),),
                [-_R, 0.0, _R],
                "by hand: mean 2, variance 2/3, epsilon 0",
                {"epsilon": 0.0},
                rtol=1e-15,
            ),
            Value(
                (np.array([1.0, 2.0, 3.0]),),
                [-1 / math.sqrt(2 / 3 + 1e-5), 0.0, 1 / math.sqrt(2 / 3 + 1e-5)],
                "by hand with jax's epsilon 1e-5",
                rtol=1e-15,
            ),
            Value(
                (np.array([1e8 + 1, 1e8 + 2, 1e8 + 3]),),
                [-_R, 0.0, _R],
                "two-pass variance: exact where E[x²] − E[x]² cancels",
                {"epsilon": 0.0, "algorithm": "stable"},
                rtol=1e-12,
            ),
            Value(
                (np.array([[1.0, 5.0], [3.0, 5.0]]),),
                [[-1.0, 0.0], [1.0, 0.0]],
                "by hand along axis 0; a constant column gives 0 with epsilon > 0",
                {"axis": 0, "epsilon": 0.0 + 1e-300},
            ),
            Value(
                (np.array([5.0, 5.0]),),
                [NAN, NAN],
                "epsilon 0 on a constant slice: 0/0 (jax: 0·rsqrt(0))",
                {"epsilon": 0.0},
            ),
            Value(
                (np.array([[1e300, -1e300], [1.0, NAN]]),),
                [[1.0, -1.0], [NAN, NAN]],
                "huge values without overflow (scaled by a power of 2); NaN slice",
                {"epsilon": 0.0},
            ),
        ],
        grads=[
            Grad(
                (np.array([1.0, 2.0, 3.0]),),
                ([_R / 6, -_R / 3, _R / 6],),
                "by hand: r(g − mean g − y·mean(g·y)) with g = [1, 0, 0], epsilon 0",
                {"epsilon": 0.0},
                grad_output=np.array([1.0, 0.0, 0.0]),
                rtol=1e-14,
            ),
            Grad(
                (np.array([1.0, 2.0, 3.0]),),
                ([0.0, 0.0, 0.0],),
                "g = 1 everywhere: a shift of the input does not change the output",
                {"epsilon": 0.0},
                atol=1e-15,
            ),
        ],
        errors=[
            *_axis_errors("axis"),
            Raises((np.zeros(3),), "parameters.epsilon", {"epsilon": -1.0}, "negative"),
            Raises((np.zeros(3),), "parameters.algorithm", {"algorithm": "welford"}, "unknown"),
        ],
        extremes=[*_AXIS_EXTREMES, Sample((EXTREME,), {"axis": None, "algorithm": "stable"})],
        float32_tolerance=(1e-3, 1e-3),
    ),
    # -----------------------------------------------------------------------------
    # From papers, elementwise
    # -----------------------------------------------------------------------------
    "swish_beta": Case(
        sample=lambda dt: _choose(
            dt, [{}, {"beta": 2.0}, {"beta": 0.5}, {"beta": -1.0}, {"beta": 0.0}], -8, 8
        ),
        values=[
            Value((1.0,), sig(1.0), "x·σ(x): silu at β = 1", rtol=1e-15),
            Value((1.0,), sig(2.0), "x·σ(2x) by hand", {"beta": 2.0}, rtol=1e-15),
            Value((3.0,), 1.5, "β = 0: x/2", {"beta": 0.0}),
            Value(
                (np.array([INF, -INF, NAN]),),
                [INF, 0.0, NAN],
                "limits; -inf·σ(-inf) taken as its limit 0",
            ),
            Value(
                (np.array([INF, -INF]),),
                [0.0, -INF],
                "β < 0 mirrors the gate",
                {"beta": -1.0},
            ),
        ],
        grads=[
            Grad((0.0,), (0.5,), "σ(0)(1 + 0) = ½", {"beta": 2.0}),
            Grad(
                (1.0,),
                (sig(2.0) * (1 + 2.0 * (1 - sig(2.0))),),
                "σ(βx)(1 + βx(1 − σ(βx))) by hand",
                {"beta": 2.0},
                rtol=1e-15,
            ),
            Grad((np.array([INF, -INF]),), ([1.0, 0.0],), "limits of the gradient"),
        ],
        extremes=[
            Sample((EXTREME,)),
            Sample((EXTREME,), {"beta": -3e38}),
            Sample((EXTREME,), {"beta": 1e-300}),
        ],
    ),
    "squared_relu": Case(
        sample=lambda dt: elementwise(dt, -5, 5),
        values=[
            Value((np.array([-2.0, 0.0, 3.0]),), [0.0, 0.0, 9.0], "max(0, x)² by hand"),
            Value(
                (np.array([1e20], dtype=np.float32),),
                np.array([INF], dtype=np.float32),
                "float32 overflow: 1e40 > 3.4e38, quietly",
            ),
            Value((np.array([NAN, INF, -INF]),), [NAN, INF, 0.0], "NaN propagates; limits"),
        ],
        grads=[
            Grad((np.array([-2.0, 0.0, 3.0]),), ([0.0, 0.0, 6.0],), "2·max(0, x): C¹ at 0"),
        ],
        extremes=[Sample((EXTREME,))],
    ),
    "star_relu": Case(
        sample=lambda dt: _choose(dt, [{}, {"scale": 1.0, "bias": 0.0}, {"scale": -2.0}], -5, 5),
        values=[
            Value(
                (np.array([-1.0, 0.0, 1.0]),),
                [-1 / SQRT5, -1 / SQRT5, 1 / SQRT5],
                "the paper's s = 2/√5, b = -1/√5 by hand",
                rtol=1e-15,
            ),
            Value(
                (np.array([3.0]),),
                [9.0],
                "scale 1, bias 0 is squared_relu",
                {"bias": 0.0, "scale": 1.0},
            ),
        ],
        grads=[
            Grad(
                (np.array([-1.0, 0.0, 1.0]),),
                ([0.0, 0.0, 4 / SQRT5],),
                "2·s·max(0, x) with s = 2/√5",
                rtol=1e-15,
            ),
        ],
        extremes=[Sample((EXTREME,)), Sample((EXTREME,), {"scale": 0.0, "bias": 3e38})],
    ),
    "snake": Case(
        sample=lambda dt: _choose(dt, [{}, {"a": 0.5}, {"a": 3.0}], -5, 5),
        values=[
            Value((math.pi / 2,), math.pi / 2 + 1, "x + sin²(x) at π/2", rtol=1e-15),
            Value(
                (math.pi / 4,),
                math.pi / 4 + 0.5,
                "x + sin²(2x)/2 at π/4 with a = 2",
                {"a": 2.0},
                rtol=1e-15,
            ),
            Value((np.array([INF, -INF, NAN]),), [INF, -INF, NAN], "±inf plus a bounded bump"),
        ],
        grads=[
            Grad(
                (np.array([math.pi / 4, 3 * math.pi / 4]),),
                ([2.0, 0.0],),
                "1 + sin(2x): 1 + 1 and 1 − 1",
                atol=1e-15,
            ),
            Grad((np.array([INF, NAN]),), ([NAN, NAN],), "no limit at ±inf"),
        ],
        errors=[
            Raises((np.zeros(2),), "parameters.a", {"a": 0.0}, "divides by a"),
            Raises((np.zeros(2),), "parameters.a", {"a": -1.0}, "a > 0"),
        ],
        extremes=[
            Sample((EXTREME,)),
            Sample((EXTREME,), {"a": 3e38}),
            Sample((EXTREME,), {"a": 1e-12}),
        ],
    ),
    "sine": Case(
        sample=lambda dt: _choose(dt, [{}, {"w0": 1.0}, {"w0": -3.0}], -1, 1),
        values=[
            Value((math.pi / 60,), 1.0, "sin(30·π/60) = sin(π/2)", rtol=1e-15),
            Value((math.pi / 6,), 0.5, "sin(π/6) with w0 = 1", {"w0": 1.0}, rtol=1e-14),
            Value((np.array([INF, NAN]),), [NAN, NAN], "sin(inf) is NaN, as torch.sin"),
        ],
        grads=[
            Grad((0.0,), (30.0,), "w0·cos(0)"),
            Grad((math.pi / 3,), (0.5,), "cos(π/3) with w0 = 1", {"w0": 1.0}, rtol=1e-14),
        ],
        extremes=[Sample((EXTREME,)), Sample((EXTREME,), {"w0": 3e38})],
    ),
    "isrlu": Case(
        sample=lambda dt: _choose(dt, [{}, {"alpha": 3.0}, {"alpha": 0.0}], -5, 5),
        values=[
            Value(
                (np.array([-1.0, 0.0, 3.0]),),
                [-1 / math.sqrt(2), 0.0, 3.0],
                "x/√(1 + x²) below 0, x above",
                rtol=1e-15,
            ),
            Value((-1.0,), -0.5, "-1/√(1 + 3)", {"alpha": 3.0}, rtol=1e-15),
            Value(
                (np.array([-INF, -1e300, NAN]),),
                [-0.5, -0.5, NAN],
                "saturates at -1/√alpha without overflow",
                {"alpha": 4.0},
                rtol=1e-15,
            ),
        ],
        grads=[
            Grad(
                (np.array([-1.0, 0.0, 2.0]),),
                ([2**-1.5, 1.0, 1.0],),
                "(1 + αx²)^(-3/2) below 0; 1 at and above 0 (C¹)",
                rtol=1e-15,
            ),
        ],
        errors=[Raises((np.zeros(2),), "parameters.alpha", {"alpha": -1.0}, "alpha >= 0")],
        extremes=[Sample((EXTREME,)), Sample((EXTREME,), {"alpha": 3e38})],
    ),
    "serf": Case(
        sample=lambda dt: elementwise(dt, -8, 8),
        values=[
            Value(
                (np.array([0.0, 1.0, -1.0]),),
                [
                    0.0,
                    math.erf(math.log1p(math.e)),
                    -math.erf(math.log1p(math.exp(-1.0))),
                ],
                "x·erf(ln(1 + e^x)), math module",
                rtol=1e-14,
            ),
            Value((np.array([INF, -INF, NAN]),), [INF, 0.0, NAN], "limits; NaN propagates"),
        ],
        grads=[
            Grad(
                (0.0,), (math.erf(math.log(2)),), "at 0 only erf(softplus(0)) remains", rtol=1e-14
            ),
            Grad((np.array([INF, -INF]),), ([1.0, 0.0],), "limits of the gradient"),
        ],
        extremes=[Sample((EXTREME,))],
    ),
    "smish": Case(
        sample=lambda dt: elementwise(dt, -8, 8),
        values=[
            Value(
                (np.array([0.0, 1.0]),),
                [0.0, math.tanh(math.log1p(sig(1.0)))],
                "x·tanh(ln(1 + σ(x))), math module",
                rtol=1e-15,
            ),
            Value((np.array([INF, -INF, NAN]),), [INF, 0.0, NAN], "limits; NaN propagates"),
        ],
        grads=[
            Grad((0.0,), (5 / 13,), "tanh(ln 1.5) = (1.5² − 1)/(1.5² + 1) = 5/13", rtol=1e-15),
            Grad(
                (np.array([INF, -INF]),),
                ([math.tanh(math.log(2)), 0.0],),
                "limits: tanh(ln 2) = 3/5 and 0",
                rtol=1e-15,
            ),
        ],
        extremes=[Sample((EXTREME,))],
    ),
    # -----------------------------------------------------------------------------
    # From papers: GLU variants
    # -----------------------------------------------------------------------------
    "swiglu": Case(
        sample=lambda dt: _halved(
            dt, extra=st.fixed_dictionaries({"beta": st.sampled_from([1.0, 2.0])})
        ),
        values=[
            Value((np.array([1.0, 2.0]),), [2 * sig(1.0)], "silu(1)·2 by hand", rtol=1e-15),
            Value(
                (np.array([[1.0, -1.0], [3.0, 0.5]]),),
                [[3 * sig(1.0), 0.5 * -sig(-1.0)]],
                "halves along dim 0: a = [1, -1], b = [3, 0.5]",
                {"dim": 0},
                rtol=1e-15,
            ),
            Value(
                (np.array([INF, -INF, 0.0, 2.0]),),
                [NAN, 0.0],
                "inf·0 is NaN (IEEE); swish(-inf) = 0",
            ),
        ],
        grads=[
            Grad(
                (np.array([1.0, 2.0]),),
                ([2 * sig(1.0) * (2 - sig(1.0)), sig(1.0)],),
                "∂a = b·σ(a)(1 + a(1 − σ(a))), ∂b = silu(a), by hand",
                rtol=1e-15,
            ),
        ],
        errors=_halves_errors(),
        extremes=[
            Sample((EXTREME,)),
            Sample((EXTREME.reshape(2, 9),), {"dim": 0}),
            Sample((np.array([[a, b] for a in EXTREME for b in EXTREME]),)),
        ],
    ),
    "geglu": Case(
        sample=lambda dt: _halved(
            dt, extra=st.fixed_dictionaries({"approximate": st.sampled_from(["none", "tanh"])})
        ),
        values=[
            Value((np.array([1.0, 2.0]),), [2 * phi_cdf(1.0)], "gelu(1)·2 = 2Φ(1)", rtol=1e-14),
            Value(
                (np.array([1.0, 2.0]),),
                [2 * 0.5 * (1 + math.tanh(math.sqrt(2 / math.pi) * 1.044715))],
                "tanh gelu(1)·2 by hand",
                {"approximate": "tanh"},
                rtol=1e-14,
            ),
        ],
        grads=[
            Grad(
                (np.array([1.0, 2.0]),),
                ([2 * (phi_cdf(1.0) + phi_pdf(1.0)), phi_cdf(1.0)],),
                "∂a = b·(Φ(a) + aφ(a)), ∂b = gelu(a)",
                rtol=1e-14,
            ),
        ],
        errors=_halves_errors(),
        extremes=[
            Sample((EXTREME,)),
            Sample(
                (np.array([[a, b] for a in EXTREME for b in EXTREME]),), {"approximate": "tanh"}
            ),
        ],
    ),
    "reglu": Case(
        sample=lambda dt: _halved(dt, exclude=(0.0,)),
        values=[
            Value((np.array([2.0, 5.0]),), [10.0], "relu(2)·5"),
            Value((np.array([-1.0, 0.0, 2.0, 3.0]),), [0.0, 0.0], "relu of a = [-1, 0]"),
        ],
        grads=[
            Grad((np.array([2.0, 5.0]),), ([5.0, 2.0],), "∂a = b·[a > 0], ∂b = relu(a)"),
            Grad(
                (np.array([-1.0, 0.0, 2.0, 3.0]),),
                ([0.0, 0.0, 0.0, 0.0],),
                "kink a = 0: torch's relu'(0) = 0, so ∂a = 0; ∂b = relu(0) = 0",
            ),
        ],
        errors=_halves_errors(),
        extremes=[
            Sample((EXTREME,)),
            Sample((np.array([[a, b] for a in EXTREME for b in EXTREME]),)),
        ],
    ),
    # -----------------------------------------------------------------------------
    # From papers: along an axis
    # -----------------------------------------------------------------------------
    "maxout": Case(
        sample=_grouped,
        values=[
            Value(
                (np.array([1.0, 3.0, 2.0, 0.0]),),
                [3.0, 2.0],
                "max of [1, 3] and [2, 0]",
                {"pieces": 2},
            ),
            Value(
                (np.array([[1.0, 5.0], [4.0, 0.0], [2.0, 1.0]]),),
                [[4.0, 5.0]],
                "three pieces along dim 0",
                {"pieces": 3, "dim": 0},
            ),
            Value(
                (np.array([NAN, 1.0, -INF, -INF]),),
                [NAN, -INF],
                "NaN propagates; all -inf",
                {"pieces": 2},
            ),
        ],
        grads=[
            Grad(
                (np.array([1.0, 3.0, 2.0, 0.0]),),
                ([0.0, 1.0, 2.0, 0.0],),
                "one-hot at each group's argmax",
                {"pieces": 2},
                grad_output=np.array([1.0, 2.0]),
            ),
            Grad(
                (np.array([2.0, 2.0, 1.0]),),
                ([0.5, 0.5, 0.0],),
                "a tie splits the gradient evenly (minimum-norm subgradient)",
                {"pieces": 3},
            ),
            Grad((np.array([NAN, 1.0]),), ([1.0, 0.0],), "the NaN element takes it", {"pieces": 2}),
        ],
        errors=[
            Raises((np.zeros(4),), "parameters.pieces", {"pieces": 3}, "4 is not a multiple"),
            Raises((np.zeros(4),), "parameters.pieces", {"pieces": 0}, "pieces >= 1"),
            Raises((np.zeros(4),), "parameters.pieces", {}, "pieces is required"),
            Raises((np.array(1.0),), "inputs[0]", {"pieces": 1}, "0-d input"),
            Raises((np.zeros(4),), "parameters.dim", {"pieces": 2, "dim": 1}, "axis out of range"),
        ],
        extremes=[
            Sample((EXTREME,), {"pieces": 2}),
            Sample((EXTREME,), {"pieces": 3}),
            Sample((EXTREME.reshape(6, 3),), {"pieces": 3, "dim": 0}),
        ],
    ),
    "entmax15": Case(
        sample=lambda dt: _along(dt, name="dim"),
        values=[
            Value((np.array([1.0, 0.0]),), _E15, "by hand: τ = (1 − √7)/4", rtol=1e-14),
            Value((np.zeros(2),), [0.5, 0.5], "a tie: τ = -1/√2, (1/√2)² each", rtol=1e-15),
            Value((np.array([2.0, 0.0]),), [1.0, 0.0], "z gap 1 = the support's edge"),
            Value(
                (np.array([[1e300, -1e300, NAN], [0.0, -INF, 1.0]]),),
                [[NAN, NAN, NAN], [_E15[1], 0.0, _E15[0]]],
                "NaN slice; a -inf entry gets 0",
                rtol=1e-14,
            ),
        ],
        grads=[
            Grad(
                (np.array([1.0, 0.0]),),
                (
                    [
                        _S15[0] - _S15[0] * _S15[0] / sum(_S15),
                        -_S15[1] * _S15[0] / sum(_S15),
                    ],
                ),
                "the paper's VJP s ⊙ g − s⟨s, g⟩/Σs, s = √y, g = [1, 0], by hand",
                grad_output=np.array([1.0, 0.0]),
                rtol=1e-14,
            ),
            Grad(
                (np.array([3.0, 0.0]),),
                ([0.0, 0.0],),
                "support of one element: the Jacobian is 0",
                grad_output=np.array([1.0, -1.0]),
            ),
        ],
        errors=_axis_errors("dim"),
        extremes=[Sample((x,), {"dim": -1}) for x in (s.inputs[0] for s in _AXIS_EXTREMES)],
    ),
}
