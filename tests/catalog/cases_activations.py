"""Test entries for the elementwise activations (see cases.py for the schema).

Golden values come from closed forms evaluated with Python's ``math`` module (never
from nnfunc), or from torch 2.13 as recorded in ../shared/catalog-reference.md
("ref §1.1 #n" is row n of its table of elementwise activations; RUN means the value
was obtained by running torch).
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
SELU_L = 1.0507009873554804934193349852946  # torch's λ (ref §1.1 #9)
SELU_A = 1.6732632423543772848170429916717  # torch's α (ref §1.1 #9)
RRELU_SLOPE = (1 / 8 + 1 / 3) / 2  # 11/48 = 0.2291666…, ref §1.1 #7 (eval mode)


def sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def phi_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def gelu_tanh(x: float) -> float:
    k = math.sqrt(2 / math.pi)
    return 0.5 * x * (1 + math.tanh(k * (x + 0.044715 * x**3)))


def _params_then_x(dt, choices, low, high, kinks):
    """Samples whose parameters come from ``choices`` and whose inputs avoid the kinks
    that ``kinks(params)`` lists for those parameters."""
    return st.sampled_from(choices).flatmap(
        lambda p: elementwise(dt, low, high, exclude=kinks(p), params=st.just(p))
    )


def _prelu_sample(dt):
    """Per-channel slopes (dim 1 exists) or one shared slope (any shape, 0-d and empty
    included); inputs away from the kink at 0."""
    per_channel = shapes(min_dims=2, max_dims=4).flatmap(
        lambda s: st.tuples(reals(dt, s, exclude=(0.0,)), reals(dt, (s[1],), -2, 2))
    )
    shared = st.tuples(
        shapes().flatmap(lambda s: reals(dt, s, exclude=(0.0,))),
        st.sampled_from([(1,), ()]).flatmap(lambda s: reals(dt, s, -2, 2)),
    )
    return st.one_of(per_channel, shared).map(lambda xw: Sample(xw))


_PRELU_W = np.array(  # slopes meeting EXTREME position by position (channel dim of 18)
    [
        NAN,
        INF,
        -INF,
        0.0,
        -0.0,
        1e300,
        0.25,
        1e-300,
        -1e300,
        0.25,
        0.5,
        -2.0,
        3.0,
        0.25,
        0.25,
        0.25,
        2.0,
        0.1,
    ]
)

CASES: dict[str, Case] = {
    "sigmoid": Case(
        sample=lambda dt: elementwise(dt, -20, 20),
        values=[
            Value((0.0,), 0.5, "closed form: 1/(1+e^0)"),
            Value(
                (np.array([1.0, -1.0]),),
                [1 / (1 + np.exp(-1.0)), np.exp(-1.0) / (1 + np.exp(-1.0))],
                "closed form, both branches",
            ),
            Value(
                (np.array([800.0, -800.0]),),
                [1.0, 0.0],
                "catalog-reference §1.1 #1 (torch: 1/0)",
                atol=1e-300,
            ),
            Value(
                (np.float32(17.0),),
                np.float32(1.0),
                "catalog-reference §1.1 #1: float32 σ(17) == 1",
            ),
            Value(
                (np.array([np.nan, np.inf, -np.inf]),), [np.nan, 1.0, 0.0], "NaN propagates; limits"
            ),
        ],
        grads=[
            Grad((0.0,), (0.25,), "σ'(0) = σ(0)(1-σ(0)) = 1/4"),
            Grad(
                (np.array([800.0, -800.0]),),
                ([0.0, 0.0],),
                "catalog-reference §1.1 #1: gradient 0, no NaN",
            ),
            Grad(
                (np.array([NAN]),),
                ([NAN],),
                "catalog-reference §4: torch's sigmoid gradient at NaN is NaN",
            ),
        ],
        extremes=[Sample((EXTREME,))],
    ),
    "tanh": Case(
        sample=lambda dt: elementwise(dt, -10, 10),
        values=[
            Value(
                (np.array([0.0, 1.0, -2.0]),),
                [0.0, math.tanh(1.0), math.tanh(-2.0)],
                "math.tanh; odd function",
            ),
            Value(
                (np.array([NAN, INF, -INF, 800.0]),),
                [NAN, 1.0, -1.0, 1.0],
                "NaN propagates; limits ±1 (ref §1.1 #2: no overflow, unlike the exp ratio)",
            ),
        ],
        grads=[
            Grad(
                (np.array([0.0, 1.0]),),
                ([1.0, 1 - math.tanh(1.0) ** 2],),
                "tanh' = 1 - tanh² by hand",
            ),
            Grad(
                (np.array([INF, -INF, 800.0]),),
                ([0.0, 0.0, 0.0],),
                "limits: the gradient vanishes, no NaN",
            ),
            Grad((np.array([NAN]),), ([NAN],), "NaN propagates (torch: 1 - NaN² = NaN)"),
        ],
        extremes=[Sample((EXTREME,))],
    ),
    "relu": Case(
        sample=lambda dt: elementwise(dt, exclude=(0.0,)),
        values=[
            Value((np.array([-2.0, 0.0, 3.5]),), [0.0, 0.0, 3.5], "max(0, x) by hand"),
            Value((np.array([np.nan, -np.inf, np.inf]),), [np.nan, 0.0, np.inf], "NaN propagates"),
        ],
        grads=[
            Grad(
                (np.array([-2.0, 0.0, 3.5]),),
                ([0.0, 0.0, 1.0],),
                "catalog-reference §1.1 #3: relu'(0) = 0 (torch 2.13)",
            ),
            Grad(
                (np.array([np.nan]),),
                ([1.0],),
                "catalog-reference §4: torch's relu gradient at NaN is 1",
            ),
            Grad(
                (np.array([1.0, -1.0]),),
                ([2.5, 0.0],),
                "VJP scales by grad_output",
                grad_output=np.array([2.5, 7.0]),
            ),
        ],
        extremes=[Sample((EXTREME,))],
    ),
    "leaky_relu": Case(
        sample=lambda dt: elementwise(
            dt,
            exclude=(0.0,),
            params=st.sampled_from(
                [
                    {},
                    {"negative_slope": 0.2},
                    {"negative_slope": -0.5},
                    {"negative_slope": 2.0},
                    {"negative_slope": 0.0},
                ]
            ),
        ),
        values=[
            Value((np.array([-2.0, 0.0, 3.0]),), [-0.02, 0.0, 3.0], "x or 0.01·x by hand"),
            Value(
                (np.array([-2.0, 3.0]),), [-0.4, 3.0], "slope 0.2 by hand", {"negative_slope": 0.2}
            ),
            Value(
                (np.array([-2.0, 3.0]),),
                [1.0, 3.0],
                "negative slope -0.5 by hand",
                {"negative_slope": -0.5},
            ),
            Value(
                (np.array([NAN, INF, -INF]),), [NAN, INF, -INF], "NaN propagates; ±inf stay ±inf"
            ),
            Value(
                (np.array([-INF, -1.0]),),
                [0.0, 0.0],
                "slope 0 is relu: 0 on x <= 0, also at -inf (documented; torch gives NaN there)",
                {"negative_slope": 0.0},
            ),
        ],
        grads=[
            Grad(
                (np.array([-1.0, 0.0, 2.0]),),
                ([0.01, 0.01, 1.0],),
                "ref §1.1 #5 (RUN): torch's gradient at 0 is the slope, 0.01",
            ),
            Grad(
                (np.array([0.0]),),
                ([0.2],),
                "ref §1.1 #5 (RUN): 0.2 at 0 with slope 0.2",
                {"negative_slope": 0.2},
            ),
            Grad(
                (np.array([NAN]),),
                ([0.01],),
                "ref §4: torch's leaky_relu gradient at NaN is the slope",
            ),
            Grad(
                (np.array([-1.0, 1.0]),),
                ([-1.5, 4.0],),
                "slope 0.5 times grad_output by hand",
                {"negative_slope": 0.5},
                grad_output=np.array([-3.0, 4.0]),
            ),
        ],
        errors=[
            Raises(
                (np.zeros(3),),
                "parameters.negative_slope",
                {"negative_slope": "big"},
                "not a number",
            ),
            Raises(
                (np.zeros(3),), "parameters.negative_slope", {"negative_slope": INF}, "not finite"
            ),
            Raises(
                (np.zeros(3),), "parameters.slope", {"slope": 0.1}, "torch's name is negative_slope"
            ),
        ],
        extremes=[
            Sample((EXTREME,)),
            Sample((EXTREME,), {"negative_slope": 0.0}),
            Sample((EXTREME,), {"negative_slope": -0.5}),
        ],
    ),
    "rrelu": Case(
        sample=lambda dt: elementwise(
            dt,
            exclude=(0.0,),
            params=st.sampled_from(
                [{}, {"lower": 0.1, "upper": 0.3}, {"lower": 0.5, "upper": 0.5}]
            ),
        ),
        values=[
            Value(
                (np.array([-1.0, 0.0, 2.0]),),
                [-RRELU_SLOPE, 0.0, 2.0],
                "ref §1.1 #7: eval slope (1/8 + 1/3)/2 = 11/48",
            ),
            Value(
                (np.array([-2.0]),),
                [-0.4],
                "(0.1 + 0.3)/2 = 0.2 by hand",
                {"lower": 0.1, "upper": 0.3},
            ),
            Value((np.array([NAN, -INF]),), [NAN, -INF], "NaN propagates; -inf·slope"),
        ],
        grads=[
            Grad(
                (np.array([0.0, 1.0, -3.0]),),
                ([RRELU_SLOPE, 1.0, RRELU_SLOPE],),
                "ref §1.1 #7 (RUN): eval-mode gradient at 0 is 0.229167 = 11/48",
            ),
            Grad(
                (np.array([NAN]),),
                ([RRELU_SLOPE],),
                "eval mode is leaky_relu: the slope at NaN (ref §4)",
            ),
        ],
        errors=[
            Raises(
                (np.zeros(3),),
                "parameters.training",
                {"training": True},
                "training mode samples random slopes: refused",
            ),
            Raises(
                (np.zeros(3),), "parameters.lower", {"lower": 0.5, "upper": 0.2}, "lower > upper"
            ),
            Raises((np.zeros(3),), "parameters.training", {"training": 1}, "not a bool"),
        ],
        extremes=[Sample((EXTREME,))],
    ),
    "prelu": Case(
        sample=_prelu_sample,
        values=[
            Value(
                (np.array([[-2.0, 3.0], [1.0, -1.0]]), np.array([0.25, 0.5])),
                [[-0.5, 3.0], [1.0, -0.5]],
                "per-channel slopes along dim 1, by hand",
            ),
            Value(
                (np.array([-4.0, 0.0, 2.0]), np.array([0.25])),
                [-1.0, 0.0, 2.0],
                "one shared slope (torch's init 0.25), by hand",
            ),
            Value((np.array(-2.0), np.array(0.5)), -1.0, "0-d input, 0-d weight"),
            Value(
                (np.array([NAN, -INF, INF]), np.array([0.25])), [NAN, -INF, INF], "NaN propagates"
            ),
        ],
        grads=[
            Grad(
                (np.array([0.0]), np.array([0.25])),
                ([0.25], [0.0]),
                "ref §1.1 #6 (RUN): at x = 0, ∂x = a = 0.25 and the ∂a contribution is 0",
            ),
            Grad(
                (np.array([[-2.0, 3.0], [1.0, -1.0], [-4.0, 0.0]]), np.array([0.25, 0.5])),
                ([[0.25, 1.0], [1.0, 0.5], [0.25, 0.5]], [-6.0, -1.0]),
                "by hand: ∂a_c = Σ min(0, x) over channel c's positions",
            ),
            Grad(
                (np.array([-2.0, 3.0]), np.array([0.5])),
                ([1.5, 2.0], [-6.0]),
                "by hand with grad_output: ∂x = [0.5·3, 2], ∂a = 3·(-2)",
                grad_output=np.array([3.0, 2.0]),
            ),
            Grad(
                (np.array([NAN]), np.array([0.25])),
                ([0.25], [NAN]),
                "torch's kernel: x > 0 is False at NaN, so ∂x = a·g and ∂a = x·g = NaN",
            ),
        ],
        errors=[
            Raises((np.zeros((2, 3)), np.zeros(2)), "inputs[1]", why="2 slopes for 3 channels"),
            Raises((np.zeros(5), np.zeros(5)), "inputs[1]", why="a 1-d input has no channel dim"),
            Raises((np.zeros(()), np.zeros(2)), "inputs[1]", why="a 0-d input takes one slope"),
            Raises(
                (np.zeros((2, 3)), np.zeros((1, 3))), "inputs[1]", why="weight must be 0-d or 1-d"
            ),
        ],
        extremes=[
            Sample((EXTREME.reshape(1, 18), np.array([0.25]))),
            Sample((EXTREME.reshape(1, 18), _PRELU_W)),
            Sample((EXTREME, np.array(0.0))),
        ],
    ),
    "elu": Case(
        sample=lambda dt: _params_then_x(
            dt, [{}, {"alpha": 2.0}, {"alpha": 0.5}], -6, 6, lambda p: (0.0,)
        ),
        values=[
            Value(
                (np.array([-1.0, 0.0, 2.0]),),
                [math.expm1(-1.0), 0.0, 2.0],
                "α(e^x - 1) / x by hand",
            ),
            Value((np.array([-1.0]),), [2 * math.expm1(-1.0)], "alpha = 2 by hand", {"alpha": 2.0}),
            Value(
                (np.array([-1e-10]),),
                [math.expm1(-1e-10)],
                "ref §1.1 #8: expm1-exact for tiny negatives (naive e^x - 1 loses digits)",
            ),
            Value(
                (np.array([NAN, -INF, INF]),), [NAN, -1.0, INF], "NaN propagates; saturates at -α"
            ),
        ],
        grads=[
            Grad(
                (np.array([0.0, -1.0, 2.0]),),
                ([1.0, math.exp(-1.0), 1.0],),
                "α·e^x / 1 by hand; α at 0",
            ),
            Grad(
                (np.array([0.0]),),
                ([2.0],),
                "ref §1.1 #8 (RUN): gradient α = 2 at 0, the left derivative",
                {"alpha": 2.0},
            ),
            Grad(
                (np.array([NAN]),),
                ([1.0],),
                "ref §4: torch's elu gradient at NaN is 1",
                {"alpha": 2.0},
            ),
        ],
        extremes=[
            Sample((EXTREME,)),
            Sample((EXTREME,), {"alpha": 2.0}),
            Sample((EXTREME,), {"alpha": 0.0}),
        ],
    ),
    "selu": Case(
        sample=lambda dt: elementwise(dt, -6, 6, exclude=(0.0,)),
        values=[
            Value(
                (np.array([1.0, -1.0]),),
                [SELU_L, SELU_L * SELU_A * math.expm1(-1.0)],
                "λx / λα(e^x - 1)",
            ),
            Value(
                (np.array([-INF]),), [-1.7580993408473766], "ref §1.1 #9 (RUN): selu(-inf) = -λα"
            ),
            Value((np.array([NAN]),), [NAN], "NaN propagates"),
        ],
        grads=[
            Grad(
                (np.array([0.0]),),
                ([1.7580993408473766],),
                "ref §1.1 #9 (RUN): λα = 1.7580993 at 0",
            ),
            Grad((np.array([1e-12]),), ([SELU_L],), "ref §1.1 #9 (RUN): 1.0507 at +1e-12"),
            Grad((np.array([-1.0]),), ([SELU_L * SELU_A * math.exp(-1.0)],), "λα·e^x by hand"),
            Grad((np.array([NAN]),), ([SELU_L],), "ref §4: torch's selu gradient at NaN is λ"),
        ],
        extremes=[Sample((EXTREME,))],
    ),
    "celu": Case(
        sample=lambda dt: _params_then_x(
            dt, [{}, {"alpha": 2.0}, {"alpha": 0.5}], -6, 6, lambda p: ()
        ),
        values=[
            Value(
                (np.array([-1.0, 3.0]),),
                [2 * math.expm1(-0.5), 3.0],
                "α(e^(x/α) - 1) by hand, α = 2",
                {"alpha": 2.0},
            ),
            Value((np.array([-1.0]),), [math.expm1(-1.0)], "alpha = 1 equals elu"),
            Value(
                (np.array([NAN, -INF, INF]),),
                [NAN, -0.5, INF],
                "NaN propagates; saturates at -α",
                {"alpha": 0.5},
            ),
        ],
        grads=[
            Grad(
                (np.array([0.0]),), ([1.0],), "ref §1.1 #10 (RUN): 1 at 0 for any α", {"alpha": 2.0}
            ),
            Grad((np.array([0.0]),), ([1.0],), "ref §1.1 #10: 1 at 0 for any α", {"alpha": 0.3}),
            Grad(
                (np.array([-1.0]),), ([math.exp(-0.5)],), "e^(x/α) by hand, α = 2", {"alpha": 2.0}
            ),
            Grad((np.array([NAN]),), ([1.0],), "elu's kernel: x <= 0 is False at NaN, so 1"),
        ],
        errors=[
            Raises(
                (np.zeros(3),),
                "parameters.alpha",
                {"alpha": 0.0},
                "ref §1.1 #10: α = 0 divides by 0",
            ),
            Raises(
                (np.zeros(3),),
                "parameters.alpha",
                {"alpha": -1.0},
                "negative α refused (documented)",
            ),
        ],
        extremes=[
            Sample((EXTREME,)),
            Sample((EXTREME,), {"alpha": 0.5}),
            Sample((EXTREME,), {"alpha": 1e-30}),
        ],
    ),
    "gelu": Case(
        sample=lambda dt: elementwise(
            dt,
            -8,
            8,
            params=st.sampled_from([{}, {"approximate": "none"}, {"approximate": "tanh"}]),
        ),
        values=[
            Value((np.array([1.0, 0.0]),), [phi_cdf(1.0), 0.0], "x·Φ(x) with Φ from math.erfc"),
            Value(
                (np.array([-3.0]),),
                [-0.0040497],
                "ref §1.1 #12 (RUN): exact gelu(-3) = -0.0040497",
                rtol=1e-4,
            ),
            Value(
                (np.array([-3.0]),),
                [-0.0036374],
                "ref §1.1 #12 (RUN): tanh gelu(-3) = -0.0036374",
                {"approximate": "tanh"},
                rtol=1e-4,
            ),
            Value(
                (np.array([0.5, -1.5, 9.0]),),
                [gelu_tanh(0.5), gelu_tanh(-1.5), gelu_tanh(9.0)],
                "tanh form with math.tanh",
                {"approximate": "tanh"},
            ),
            Value(
                (np.array([-0.7518]),),
                [-0.16997],
                "ref §1.1 #11: minimum ≈ -0.16997 at -0.7518",
                rtol=1e-4,
            ),
            Value(
                (np.array([NAN, INF, -INF]),),
                [NAN, INF, 0.0],
                "ref §4: gelu(+inf) = inf (torch float64), gelu(-inf) = 0",
            ),
            Value(
                (np.array([NAN, INF, -INF]),),
                [NAN, INF, 0.0],
                "same limits for the tanh form",
                {"approximate": "tanh"},
            ),
        ],
        grads=[
            Grad((np.array([0.0]),), ([0.5],), "ref §1.1 #11: gelu'(0) = 0.5"),
            Grad(
                (np.array([0.0]),),
                ([0.5],),
                "ref §1.1 #12: gelu'(0) = 0.5",
                {"approximate": "tanh"},
            ),
            Grad(
                (np.array([1.0]),),
                ([phi_cdf(1.0) + math.exp(-0.5) / math.sqrt(2 * math.pi)],),
                "Φ(x) + xφ(x) by hand",
            ),
            Grad((np.array([INF, -INF]),), ([1.0, 0.0],), "limits of Φ(x) + xφ(x)"),
            Grad(
                (np.array([INF, -INF]),),
                ([1.0, 0.0],),
                "limits, tanh form",
                {"approximate": "tanh"},
            ),
            Grad((np.array([NAN]),), ([NAN],), "ref §4: torch's gelu gradient at NaN is NaN"),
        ],
        errors=[
            Raises(
                (np.zeros(3),), "parameters.approximate", {"approximate": "erf"}, "'none' or 'tanh'"
            ),
            Raises((np.zeros(3),), "parameters.approximate", {"approximate": True}, "not a string"),
        ],
        extremes=[Sample((EXTREME,)), Sample((EXTREME,), {"approximate": "tanh"})],
    ),
    "silu": Case(
        sample=lambda dt: elementwise(dt, -10, 10),
        values=[
            Value((np.array([1.0, -2.0, 0.0]),), [sig(1.0), -2 * sig(-2.0), 0.0], "x·σ(x) by hand"),
            Value(
                (np.array([-1.2785]),),
                [-0.27846],
                "ref §1.1 #13: minimum ≈ -0.27846 at -1.2785",
                rtol=1e-4,
            ),
            Value((np.array([NAN, INF, -INF]),), [NAN, INF, 0.0], "NaN propagates; limits"),
        ],
        grads=[
            Grad((np.array([0.0]),), ([0.5],), "ref §1.1 #13: silu'(0) = 0.5"),
            Grad(
                (np.array([2.0]),),
                ([sig(2.0) * (1 + 2 * (1 - sig(2.0)))],),
                "σ(1 + x(1 - σ)) by hand",
            ),
            Grad((np.array([INF, -INF]),), ([1.0, 0.0],), "limits: 1 and 0, no NaN"),
            Grad((np.array([NAN]),), ([NAN],), "ref §4: torch's silu gradient at NaN is NaN"),
        ],
        extremes=[Sample((EXTREME,))],
    ),
    "mish": Case(
        sample=lambda dt: elementwise(dt, -10, 10),
        values=[
            Value(
                (np.array([1.0, -1.0]),),
                [math.tanh(math.log1p(math.e)), -math.tanh(math.log1p(math.exp(-1)))],
                "x·tanh(log(1 + e^x)) with math",
            ),
            Value(
                (np.array([-1.1924]),),
                [-0.30884],
                "ref §1.1 #14: minimum ≈ -0.30884 at -1.1924",
                rtol=1e-4,
            ),
            Value((np.array([NAN, INF, -INF]),), [NAN, INF, 0.0], "NaN propagates; limits"),
        ],
        grads=[
            Grad((np.array([0.0]),), ([0.6],), "ref §1.1 #14: mish'(0) = 0.6 (tanh(log 2) = 0.6)"),
            Grad((np.array([INF, -INF]),), ([1.0, 0.0],), "limits: 1 and 0, no NaN"),
            Grad((np.array([NAN]),), ([NAN],), "ref §4: torch's mish gradient at NaN is NaN"),
        ],
        extremes=[Sample((EXTREME,))],
    ),
    "softplus": Case(
        sample=lambda dt: _params_then_x(
            dt,
            [
                {},
                {"beta": 2.0},
                {"beta": -1.5},
                {"beta": 0.5, "threshold": 3.0},
                {"threshold": -1.0},
            ],
            -25,
            25,
            lambda p: (p.get("threshold", 20.0) / p.get("beta", 1.0),),
        ),
        values=[
            Value(
                (np.array([0.0, 1.0, -1.0]),),
                [math.log(2), math.log1p(math.e), math.log1p(math.exp(-1))],
                "log(1 + e^x) by hand",
            ),
            Value(
                (np.array([1.0]),),
                [math.log1p(math.exp(2)) / 2],
                "log(1 + e^(βx))/β, β = 2",
                {"beta": 2.0},
            ),
            Value(
                (np.array([1.0]),),
                [-math.log1p(math.exp(-1))],
                "negative β accepted (ref §1.1 #15)",
                {"beta": -1.0},
            ),
            Value(
                (np.array([20.0, 20.5]),),
                [20.000000002061153, 20.5],
                "ref §1.1 #15 (RUN): at βx == 20 the log branch (20.0000000021), above it x",
            ),
            Value(
                (np.array([-1000.0, 1000.0]),),
                [0.0, 1000.0],
                "no overflow in either tail",
                {"threshold": INF},
                atol=1e-300,
            ),
            Value((np.array([NAN, INF, -INF]),), [NAN, INF, 0.0], "NaN propagates; limits"),
        ],
        grads=[
            Grad((np.array([0.0]),), ([0.5],), "σ(0) = 1/2"),
            Grad(
                (np.array([20.0, 20.5]),),
                ([0.9999999979388463, 1.0],),
                "ref §1.1 #15 (RUN): σ(20) = 0.9999999979 at the threshold, 1 above it",
            ),
            Grad((np.array([1.0]),), ([sig(2.0)],), "σ(βx), β = 2", {"beta": 2.0}),
            Grad((np.array([NAN]),), ([NAN],), "ref §4: torch's softplus gradient at NaN is NaN"),
        ],
        errors=[
            Raises((np.zeros(3),), "parameters.beta", {"beta": 0.0}, "softplus divides by β"),
            Raises((np.zeros(3),), "parameters.beta", {"beta": NAN}, "NaN"),
            Raises((np.zeros(3),), "parameters.threshold", {"threshold": "20"}, "not a number"),
        ],
        extremes=[
            Sample((EXTREME,)),
            Sample((EXTREME,), {"beta": -1.5}),
            Sample((EXTREME,), {"beta": 0.5, "threshold": INF}),
        ],
    ),
}
