"""Test entries for the piecewise and saturating activations (see cases.py for the schema).

"§" refers to /work/shared/catalog-reference.md; its kink and NaN values were run on
torch 2.13. Closed forms are worked by hand or evaluated with Python's math/decimal
modules, never with the code under test.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np
from hypothesis import strategies as st

from tests.catalog.cases import EXTREME, Case, Grad, Raises, Sample, Value, elementwise

nan, inf = math.nan, math.inf
f32 = np.float32


def _arr(*values: float, dtype=np.float64) -> np.ndarray:
    return np.array(values, dtype=dtype)


def _tanhshrink_exact(x: float) -> float:
    """x - tanh(x) in 60-digit decimal arithmetic (tanh = (e^2x - 1) / (e^2x + 1))."""
    with localcontext() as ctx:
        ctx.prec = 60
        d = Decimal(x)
        e = (2 * d).exp()
        return float(d - (e - 1) / (e + 1))


def _logsigmoid_exact(x: float) -> float:
    """log σ(x) = -log1p(e^-x) (x >= 0) or x - log1p(e^x) (x < 0), with Python's math."""
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def _with_params(dtype, params, kinks, low=-5.0, high=5.0):
    """Samples whose parameters come from ``params`` and whose x avoid ``kinks(**p)``."""
    return params.flatmap(
        lambda p: elementwise(dtype, low, high, exclude=kinks(**p), params=st.just(p))
    )


_bounds = st.one_of(
    st.just({}),
    st.tuples(st.floats(-4, 4), st.floats(0, 4)).map(
        lambda t: {"min_val": t[0], "max_val": t[0] + t[1]}
    ),
)
_lambd = st.one_of(st.just({}), st.floats(0, 3).map(lambda v: {"lambd": v}))
_lambd_any = st.one_of(st.just({}), st.floats(-1, 3).map(lambda v: {"lambd": v}))
_thresholds = st.tuples(st.floats(-3, 3), st.floats(-4, 4)).map(
    lambda t: {"threshold": t[0], "value": t[1]}
)

X = _arr(-2.0, -1.0, 0.0, 0.25, 1.0, 3.0)  # shared points: both sides of several kinks
# tanhshrink: both sides of the float64 (0.2) and float32 (0.6) series cut-offs.
_TS64 = _arr(1e-8, 0.05, 0.1, 0.19, 0.21, 0.5, 0.59, 0.61, 1.0, -0.3, 3.0)
_TS32 = _TS64.astype(np.float32)

CASES: dict[str, Case] = {
    "relu6": Case(
        sample=lambda dt: elementwise(dt, -8, 8, exclude=(0.0, 6.0)),
        values=[
            Value(
                (_arr(-2.0, 0.0, 3.0, 6.0, 7.5),),
                [0.0, 0.0, 3.0, 6.0, 6.0],
                "min(max(0, x), 6) by hand",
            ),
            Value((_arr(nan, inf, -inf),), [nan, 6.0, 0.0], "§4: NaN propagates; limits"),
            Value((f32(6.5),), f32(6.0), "float32 in, float32 out (by hand)"),
        ],
        grads=[
            Grad(
                (_arr(-2.0, 0.0, 3.0, 6.0, 7.5),),
                ([0.0, 0.0, 1.0, 0.0, 0.0],),
                "§1.1 #4: relu6' is 0 at x = 0 and at x = 6 (torch 2.13 RUN)",
            ),
            Grad((_arr(nan),), ([1.0],), "§4: torch's relu6 gradient at NaN is 1"),
            Grad(
                (_arr(1.0, 5.0),),
                ([2.5, -3.0],),
                "VJP scales grad_output on (0, 6)",
                grad_output=_arr(2.5, -3.0),
            ),
        ],
        extremes=[Sample((EXTREME,))],
    ),
    "hardtanh": Case(
        sample=lambda dt: _with_params(
            dt, _bounds, lambda min_val=-1.0, max_val=1.0: (min_val, max_val)
        ),
        values=[
            Value((X,), [-1.0, -1.0, 0.0, 0.25, 1.0, 1.0], "clamp to [-1, 1] by hand"),
            Value(
                (X,),
                [-0.5, -0.5, 0.0, 0.25, 1.0, 2.0],
                "clamp to [-0.5, 2] by hand",
                params={"min_val": -0.5, "max_val": 2.0},
            ),
            Value(
                (X,),
                [0.3] * 6,
                "min_val == max_val: the constant (allowed by torch)",
                params={"min_val": 0.3, "max_val": 0.3},
            ),
            Value((_arr(nan, inf, -inf),), [nan, 1.0, -1.0], "§4: NaN propagates; limits"),
            Value(
                (_arr(-5.0, 5.0),),
                [-5.0, 2.0],
                "an infinite bound never clamps",
                params={"min_val": -inf, "max_val": 2.0},
            ),
        ],
        grads=[
            Grad(
                (X,),
                ([0.0, 0.0, 1.0, 1.0, 0.0, 0.0],),
                "§1.1 #17: torch 2.13 gives 0 at ±1 (not torch.clamp's 1, §0.2)",
            ),
            Grad(
                (_arr(0.0, 3.0, 6.0),),
                ([0.0, 1.0, 0.0],),
                "§1.1 #4 / AA: relu6 = hardtanh(x, 0, 6), 0 at both bounds",
                params={"min_val": 0.0, "max_val": 6.0},
            ),
            Grad((_arr(nan),), ([1.0],), "§4: torch's hardtanh gradient at NaN is 1"),
            Grad(
                (_arr(0.0, 0.3, 1.0),),
                ([0.0, 0.0, 0.0],),
                "min_val == max_val: every x is at or beyond a bound, gradient 0",
                params={"min_val": 0.3, "max_val": 0.3},
            ),
        ],
        errors=[
            Raises(
                (X,),
                "parameters.min_val",
                {"min_val": 2.0, "max_val": 1.0},
                "torch: min_val cannot be greater than max_val",
            ),
            Raises((X,), "parameters.min_val", {"min_val": "low"}, "not a number"),
            Raises((X,), "parameters.max_val", {"max_val": nan}, "NaN bound"),
            Raises((X,), "parameters.lambd", {"lambd": 1.0}, "no such parameter"),
        ],
        extremes=[
            Sample((EXTREME,)),
            Sample((EXTREME,), {"min_val": -inf, "max_val": inf}),
            Sample((EXTREME,), {"min_val": -1e300, "max_val": 1e300}),
        ],
    ),
    "hardsigmoid": Case(
        sample=lambda dt: elementwise(dt, -6, 6, exclude=(-3.0, 3.0)),
        values=[
            Value(
                (_arr(-4.0, -3.0, 0.0, 1.5, 3.0, 4.0),),
                [0.0, 0.0, 0.5, 0.75, 1.0, 1.0],
                "relu6(x + 3) / 6 by hand",
            ),
            Value(
                (-1.0,), 1 / 3, "§1.1 #18: hard_sigmoid(-1) = 1/3 (Keras 3 = torch's definition)"
            ),
            Value((_arr(nan, inf, -inf),), [nan, 1.0, 0.0], "§4: NaN propagates; limits"),
        ],
        grads=[
            Grad(
                (_arr(-4.0, -3.0, 0.0, 2.0, 3.0, 4.0),),
                ([0.0, 0.0, 1 / 6, 1 / 6, 0.0, 0.0],),
                "§1.1 #18: 1/6 on (-3, 3), 0 at ±3 (torch 2.13 RUN)",
            ),
            Grad((_arr(nan),), ([0.0],), "§4: torch's hardsigmoid gradient at NaN is 0"),
        ],
        extremes=[Sample((EXTREME,))],
    ),
    "hardswish": Case(
        sample=lambda dt: elementwise(dt, -6, 6, exclude=(-3.0, 3.0)),
        values=[
            Value(
                (_arr(-4.0, -3.0, -1.5, 0.0, 1.0, 3.0, 4.0),),
                [0.0, 0.0, -0.375, 0.0, 2 / 3, 3.0, 4.0],
                "x·relu6(x + 3)/6 by hand; §1.1 #19: minimum -0.375 at -1.5",
            ),
            Value(
                (_arr(nan, inf, -inf),),
                [nan, inf, 0.0],
                "NaN propagates; +inf: inf; -inf: the limit 0 (catalog choice, §4: "
                "return the mathematically right value)",
            ),
        ],
        grads=[
            Grad(
                (_arr(-4.0, -3.0, -1.5, 0.0, 1.0, 3.0, 4.0),),
                ([0.0, 0.0, 0.0, 0.5, 5 / 6, 1.0, 1.0],),
                "§1.1 #19: (2x + 3)/6 on (-3, 3); torch 2.13 gives 0 at -3 and 1 at 3 (RUN)",
            ),
            Grad((_arr(nan),), ([1.0],), "§4: torch's hardswish gradient at NaN is 1"),
            Grad(
                (_arr(0.0, 4.0, -4.0),),
                ([1.0, 3.0, 0.0],),
                "VJP scales grad_output",
                grad_output=_arr(2.0, 3.0, 5.0),
            ),
        ],
        extremes=[Sample((EXTREME,))],
    ),
    "softsign": Case(
        sample=lambda dt: elementwise(dt, -10, 10),
        values=[
            Value(
                (_arr(0.0, 1.0, -1.0, 3.0, -3.0),),
                [0.0, 0.5, -0.5, 0.75, -0.75],
                "x / (1 + |x|) by hand",
            ),
            Value(
                (_arr(inf, -inf, nan),),
                [1.0, -1.0, nan],
                "limits ±1 (catalog choice, §4: the mathematically right value); NaN",
            ),
            Value((f32(1e30),), f32(1.0), "float32: 1e30/(1 + 1e30) rounds to 1"),
        ],
        grads=[
            Grad(
                (_arr(0.0, 1.0, -1.0, 3.0, -3.0),),
                ([1.0, 0.25, 0.25, 1 / 16, 1 / 16],),
                "§1.1 #16: 1/(1 + |x|)², f'(0) = 1, even in x",
            ),
            Grad(
                (_arr(inf, -inf, nan),),
                ([0.0, 0.0, nan],),
                "limit 0 at ±inf; §4: torch's softsign gradient at NaN is NaN",
            ),
            Grad((f32(1e4),), (1 / 10001**2,), "float32 at 1e4: 1/10001² by hand", rtol=1e-6),
        ],
        extremes=[Sample((EXTREME,))],
    ),
    "logsigmoid": Case(
        sample=lambda dt: elementwise(dt, -30, 30),
        values=[
            Value((0.0,), -math.log(2.0), "log σ(0) = -log 2"),
            Value(
                (_arr(1.0, -1.0, 30.0, -30.0),),
                [_logsigmoid_exact(v) for v in (1.0, -1.0, 30.0, -30.0)],
                "-log1p(e^-x) / x - log1p(e^x) with Python's math",
                rtol=1e-14,
            ),
            Value(
                (_arr(-800.0, 800.0),),
                [-800.0, 0.0],
                "§1.1 #20: logsigmoid(-800) = -800 (torch 2.13 RUN)",
                atol=1e-300,
            ),
            Value(
                (f32(-1000.0),),
                f32(-1000.0),
                "§1.1 #20: float32 -1000 is exact (naive log σ gives -inf)",
            ),
            Value((_arr(nan, inf, -inf),), [nan, 0.0, -inf], "NaN propagates; limits"),
        ],
        grads=[
            Grad(
                (_arr(0.0, 2.0, -2.0),),
                ([0.5, 1 / (1 + math.exp(2.0)), 1 / (1 + math.exp(-2.0))],),
                "σ(-x) with Python's math",
                rtol=1e-14,
            ),
            Grad(
                (30.0,),
                (math.exp(-30.0) / (1 + math.exp(-30.0)),),
                "σ(-30) ≈ e^-30: relative accuracy in the far tail",
                rtol=1e-13,
            ),
            Grad((_arr(-800.0),), ([1.0],), "§1.1 #20: gradient 1 at -800 (torch 2.13 RUN)"),
            Grad((_arr(nan),), ([nan],), "§4: torch's logsigmoid gradient at NaN is NaN"),
        ],
        extremes=[Sample((EXTREME,))],
    ),
    "tanhshrink": Case(
        sample=lambda dt: elementwise(dt, -5, 5),
        values=[
            Value(
                (f32(1e-3),),
                1e-9 / 3 - 2e-15 / 15,
                "§1.1 #21: float32 at 1e-3 must be the true 3.333e-10 (torch's direct "
                "float32 gives 3.49e-10); series x³/3 - 2x⁵/15",
                rtol=1e-6,
            ),
            Value(
                (1e-3,),
                1e-9 / 3 - 2e-15 / 15 + 17e-21 / 315,
                "series x³/3 - 2x⁵/15 + 17x⁷/315 by hand",
                rtol=1e-14,
            ),
            Value(
                (_TS64,),
                [_tanhshrink_exact(float(v)) for v in _TS64],
                "x - tanh x in 60-digit decimal",
                rtol=2e-14,
            ),
            Value(
                (_TS32,),
                [_tanhshrink_exact(float(v)) for v in _TS32],
                "x - tanh x in 60-digit decimal at the float32 inputs",
                rtol=2e-6,
            ),
            Value((_arr(nan, inf, -inf),), [nan, inf, -inf], "NaN propagates; x - 1 → ±inf"),
        ],
        grads=[
            Grad(
                (_arr(0.0, 1.0, -1.0),),
                ([0.0, math.tanh(1.0) ** 2, math.tanh(1.0) ** 2],),
                "§1.1 #21: tanh²x with Python's math; f'(0) = 0",
                rtol=1e-14,
            ),
            Grad(
                (_arr(inf, nan),),
                ([1.0, nan],),
                "limit tanh²(inf) = 1; §4: torch's tanhshrink gradient at NaN is NaN",
            ),
        ],
        extremes=[Sample((EXTREME,))],
    ),
    "softshrink": Case(
        sample=lambda dt: _with_params(dt, _lambd, lambda lambd=0.5: (-lambd, lambd)),
        values=[
            Value(
                (_arr(-2.0, -0.5, -0.2, 0.0, 0.5, 0.75, 2.0),),
                [-1.5, 0.0, 0.0, 0.0, 0.0, 0.25, 1.5],
                "x ∓ 0.5 outside [-0.5, 0.5] by hand",
            ),
            Value(
                (X,), [-1.0, 0.0, 0.0, 0.0, 0.0, 2.0], "lambd = 1 by hand", params={"lambd": 1.0}
            ),
            Value((X,), X.tolist(), "lambd = 0 is the identity", params={"lambd": 0.0}),
            Value((_arr(nan, inf, -inf),), [nan, inf, -inf], "NaN propagates; limits"),
        ],
        grads=[
            Grad(
                (_arr(-2.0, -0.5, -0.2, 0.0, 0.5, 2.0),),
                ([1.0, 0.0, 0.0, 0.0, 0.0, 1.0],),
                "§1.1 #22: 1[|x| > λ], 0 at ±λ (torch 2.13 RUN)",
            ),
            Grad((_arr(nan),), ([1.0],), "§4: torch's softshrink gradient at NaN is 1"),
            Grad(
                (_arr(0.0, 1e-300),),
                ([0.0, 1.0],),
                "lambd = 0: 0 exactly at x = 0",
                params={"lambd": 0.0},
            ),
        ],
        errors=[
            Raises((X,), "parameters.lambd", {"lambd": -0.1}, "torch: lambda must be >= 0"),
            Raises((X,), "parameters.lambd", {"lambd": inf}, "infinite lambd refused"),
        ],
        extremes=[
            Sample((EXTREME,)),
            Sample((EXTREME,), {"lambd": 0.0}),
            Sample((EXTREME,), {"lambd": 1e300}),
        ],
    ),
    "hardshrink": Case(
        sample=lambda dt: _with_params(dt, _lambd_any, lambda lambd=0.5: (-lambd, lambd)),
        values=[
            Value(
                (_arr(-2.0, -0.5, -0.2, 0.0, 0.5, 0.75, 2.0),),
                [-2.0, 0.0, 0.0, 0.0, 0.0, 0.75, 2.0],
                "§1.1 #23: x if |x| > λ else 0, f(±λ) = 0 (torch 2.13 RUN)",
            ),
            Value(
                (X,),
                X.tolist(),
                "TD:Hardshrink's formula (x if x > λ, x if x < -λ): the identity for λ < 0",
                params={"lambd": -1.0},
            ),
            Value((_arr(nan, inf, -inf),), [nan, inf, -inf], "NaN propagates"),
        ],
        grads=[
            Grad(
                (_arr(-2.0, -0.5, -0.2, 0.0, 0.5, 2.0),),
                ([1.0, 0.0, 0.0, 0.0, 0.0, 1.0],),
                "§1.1 #23: gradient 0 at ±λ (torch 2.13 RUN)",
            ),
            Grad((_arr(nan),), ([1.0],), "§4: torch's hardshrink gradient at NaN is 1"),
            Grad((X,), ([1.0] * 6,), "λ < 0: identity, gradient 1", params={"lambd": -1.0}),
        ],
        errors=[Raises((X,), "parameters.lambd", {"lambd": nan}, "NaN lambd")],
        extremes=[
            Sample((EXTREME,)),
            Sample((EXTREME,), {"lambd": inf}),
            Sample((EXTREME,), {"lambd": -inf}),
        ],
    ),
    "threshold": Case(
        sample=lambda dt: _with_params(dt, _thresholds, lambda threshold, value: (threshold,)),
        values=[
            Value(
                (_arr(-1.0, 0.5, 0.6, 2.0),),
                [-2.0, -2.0, 0.6, 2.0],
                "§1.1 #24: x if x > threshold else value; value at x == threshold",
                params={"threshold": 0.5, "value": -2.0},
            ),
            Value(
                (_arr(-1.0, 0.0, 3.0),),
                [0.0, 0.0, 3.0],
                "threshold(x, 0, 0) is relu",
                params={"threshold": 0.0, "value": 0.0},
            ),
            Value(
                (_arr(nan),),
                [nan],
                "§1.1 #24: threshold(NaN) = NaN (torch 2.13 RUN)",
                params={"threshold": 0.5, "value": -2.0},
            ),
        ],
        grads=[
            Grad(
                (_arr(-1.0, 0.5, 0.6, 2.0),),
                ([0.0, 0.0, 1.0, 1.0],),
                "§1.1 #24: 1[x > threshold], 0 at x == threshold (torch 2.13 RUN)",
                params={"threshold": 0.5, "value": -2.0},
            ),
            Grad(
                (_arr(nan),),
                ([1.0],),
                "§1.1 #24: gradient 1 at NaN (torch 2.13 RUN)",
                params={"threshold": 0.5, "value": -2.0},
            ),
        ],
        errors=[
            Raises((X,), "parameters.threshold", {"value": 0.0}, "threshold is required"),
            Raises((X,), "parameters.value", {"threshold": 0.0}, "value is required"),
            Raises((X,), "parameters.threshold", {"threshold": nan, "value": 0.0}, "NaN"),
        ],
        extremes=[
            Sample((EXTREME,), {"threshold": 0.0, "value": -1.0}),
            Sample((EXTREME,), {"threshold": inf, "value": 1e300}),
            Sample((EXTREME,), {"threshold": -inf, "value": -inf}),
        ],
    ),
}
