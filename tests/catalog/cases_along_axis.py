"""Test entries for the activations along an axis (see cases.py for the schema).

Sources: "by hand" values are closed forms worked on paper (x = log k makes softmax a
ratio of integers); "ref" cites ../shared/catalog-reference.md; "torch run" values
were read from torch 2.13.0+cpu (float64 unless said) by this slice's author, in a
separate venv: the library and these tests never import torch.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from tests.catalog.cases import EXTREME, Case, Grad, Raises, Sample, Value, reals, shapes

inf, nan = np.inf, np.nan
LOG1234 = np.log([1.0, 2.0, 3.0, 4.0])  # softmax(LOG1234) = [.1, .2, .3, .4] exactly
LN3 = np.log(3.0)


def along_axis(dtype, low: float = -10.0, high: float = 10.0, even: bool = False):
    """One input of any shape (0-d and empty included) and a valid ``dim``; with
    ``even``, at least 1-d and an even size along ``dim`` (glu's halves)."""

    @st.composite
    def draw(draw):
        shape = list(draw(shapes(min_dims=1 if even else 0)))
        n = max(len(shape), 1)
        dim = draw(st.integers(-n, n - 1))
        if even:
            shape[dim] = 2 * draw(st.integers(0, 2))
        x = draw(reals(dtype, tuple(shape), low, high))
        return Sample((x,), {"dim": dim})

    return draw()


def _dim_errors() -> list[Raises]:
    return [
        Raises((np.zeros((2, 3)),), "parameters.dim", {"dim": 2}, "axis out of range"),
        Raises((np.zeros((2, 3)),), "parameters.dim", {"dim": -3}, "axis out of range"),
        Raises((np.array(1.0),), "parameters.dim", {"dim": 1}, "a 0-d input takes dim 0 or -1"),
        Raises((np.zeros(3),), "parameters.dim", {"dim": True}, "bool is not an int"),
        Raises((np.zeros(3),), "parameters.dim", {"dim": 0.5}, "not an integer"),
        Raises((np.zeros(3),), "parameters.dim", {"dim": None}, "no implicit dim (see notes)"),
    ]


# Extremes: NaN, ±inf, ±0, huge and tiny values in one slice, along either axis, in
# both dtypes; and float32 values whose max-shift overflows. (float32 copies are
# written out: casting 1e300 to float32 would itself warn.)
_EXTREME32 = np.array(
    [
        nan,
        inf,
        -inf,
        0.0,
        -0.0,
        3e38,
        -3e38,
        1e-45,
        -1e-45,
        88.8,
        -88.8,
        104.0,
        -104.0,
        1.0,
        -1.0,
        3.0,
        -3.0,
        20.0,
    ],
    dtype=np.float32,
)
_EXTREMES = [
    Sample((EXTREME,)),
    Sample((EXTREME.reshape(3, 6),), {"dim": 0}),
    Sample((EXTREME.reshape(3, 6),), {"dim": 1}),
    Sample((_EXTREME32.reshape(6, 3),), {"dim": -1}),
    Sample((np.array([[3e38, -3e38, 0.0], [-3e38, 3e38, -inf]], dtype=np.float32),), {"dim": 1}),
    Sample((np.array([[-inf, -inf], [inf, inf], [nan, nan], [inf, -inf]]),), {"dim": 1}),
    Sample((np.array(nan),)),
    Sample((np.array(-inf),), {"dim": 0}),
    Sample((np.zeros((0, 3)),), {"dim": 1}),
    Sample((np.zeros((2, 0)),), {"dim": 1}),
]
_SPECIAL = [nan, inf, -inf, 0.0, -0.0, 3e38, -3e38, 710.0, -710.0, 20.0, -20.0]
# glu: every (a, b) pair of special values, so ±inf meets gates of exactly 0 and 1.
_PAIRS = np.array([[a, b] for a in _SPECIAL for b in _SPECIAL])
_PAIRS32 = _PAIRS.astype(np.float32)  # 3e38 fits float32

CASES: dict[str, Case] = {
    "softmax": Case(
        sample=lambda dt: along_axis(dt),
        values=[
            Value((LOG1234,), [0.1, 0.2, 0.3, 0.4], "by hand: e^(log k) / Σ = k / 10", rtol=1e-14),
            Value(
                (np.log([[1.0, 2.0], [3.0, 6.0]]),),
                [[1 / 3, 2 / 3], [1 / 3, 2 / 3]],
                "by hand, dim=1 (rows)",
                {"dim": 1},
                rtol=1e-14,
            ),
            Value(
                (np.log([[1.0, 2.0], [3.0, 6.0]]),),
                [[1 / 4, 1 / 4], [3 / 4, 3 / 4]],
                "by hand, dim=0 (columns)",
                {"dim": 0},
                rtol=1e-14,
            ),
            Value(
                (np.log([[[1.0], [4.0]], [[2.0], [2.0]]]),),
                [[[0.2], [0.8]], [[0.5], [0.5]]],
                "by hand, dim=-2 of a 3-d input",
                {"dim": -2},
                rtol=1e-14,
            ),
            Value((np.array([1000.0, 1000.0]),), [0.5, 0.5], "ref §1.2 #26: [1000,1000] → [.5,.5]"),
            Value((np.array([1e4, 0.0]),), [1.0, 0.0], "ref §1.2 #26: [1e4,0] → [1,0]"),
            Value(
                (np.array([1e38, -1e38], dtype=np.float32),),
                np.array([1.0, 0.0], np.float32),
                "ref §4: float32 [1e38,-1e38] → [1,0]",
            ),
            Value(
                (np.array([3e38, -3e38], dtype=np.float32),),
                np.array([1.0, 0.0], np.float32),
                "torch run (float32): the shift overflows to -inf, e^-inf = 0",
            ),
            Value(
                (np.array([10.0, 11.0, 12.0], dtype=np.float16),),
                np.array([0.09002685546875, 0.2447509765625, 0.6650390625], np.float16),
                "torch run (float16), ref §4 (.09003, .24475, .66504)",
                rtol=0,
            ),
            Value(
                (np.array([[0.0, -inf, LN3]]),),
                [[0.25, 0.0, 0.75]],
                "ref §1.2 #26: a -inf entry is fine, probability 0; by hand 1/4, 3/4",
                rtol=1e-14,
            ),
            Value(
                (np.array([[-inf, -inf], [0.0, LN3]]),),
                [[nan, nan], [0.25, 0.75]],
                "ref §1.2 #26: an all -inf row is NaN; other rows untouched",
                rtol=1e-14,
            ),
            Value(
                (np.array([[inf, 0.0], [1.0, 1.0]]),),
                [[nan, nan], [0.5, 0.5]],
                "ref §1.2 #26: any +inf gives NaN (the row)",
            ),
            Value(
                (np.array([[nan, 0.0], [0.0, LN3]]),),
                [[nan, nan], [0.25, 0.75]],
                "ref §1.2 #26: NaN propagates to the whole row",
                rtol=1e-14,
            ),
            Value((np.array(3.0),), 1.0, "torch run: softmax of a 0-d tensor is 1.0", {"dim": 0}),
            Value((np.array(-inf),), nan, "torch run: 0-d -inf is an all -inf slice → NaN"),
            Value((np.zeros((0, 3)),), np.zeros((0, 3)), "empty in, empty out (torch run)"),
        ],
        grads=[
            Grad(
                (LOG1234,),
                ([0.09, -0.02, -0.03, -0.04],),
                "by hand: s ⊙ (g − ⟨g,s⟩), s = [.1,.2,.3,.4], g = e₁",
                grad_output=np.array([1.0, 0.0, 0.0, 0.0]),
                rtol=1e-13,
                atol=1e-16,
            ),
            Grad(
                (LOG1234,),
                ([0.0, 0.0, 0.0, 0.0],),
                "by hand: g = ones gives s ⊙ (1 − Σs) = 0",
                atol=1e-16,
            ),
            Grad(
                (np.log([[1.0, 2.0], [3.0, 6.0]]),),
                ([[-0.1875, 0.375], [0.1875, -0.375]],),
                "by hand, dim=0: both columns have s = (1/4, 3/4); g = (1, 2) gives "
                "⟨g,s⟩ = 7/4, g = (3, 1) gives 3/2",
                {"dim": 0},
                grad_output=np.array([[1.0, 3.0], [2.0, 1.0]]),
                rtol=1e-13,
            ),
            Grad(
                (np.array([[0.0, -inf, LN3]]),),
                ([[-0.375, 0.0, 0.375]],),
                "by hand: ⟨g,s⟩ = 2.5; ref §4 and torch run: gradient 0 at the -inf entry",
                grad_output=np.array([[1.0, 2.0, 3.0]]),
                rtol=1e-13,
            ),
            Grad(
                (np.array([[-inf, -inf], [inf, 0.0]]),),
                ([[nan, nan], [nan, nan]],),
                "ref §1.2 #26: the gradient over an all -inf row is NaN; torch run: +inf too",
            ),
            Grad((np.array(3.0),), (0.0,), "torch run: the 0-d gradient is 0", {"dim": 0}),
        ],
        errors=_dim_errors(),
        extremes=_EXTREMES,
    ),
    "log_softmax": Case(
        sample=lambda dt: along_axis(dt),
        values=[
            Value((LOG1234,), np.log([0.1, 0.2, 0.3, 0.4]), "by hand: log(k / 10)", rtol=1e-14),
            Value(
                (np.log([[1.0, 2.0], [3.0, 6.0]]),),
                np.log([[1 / 4, 1 / 4], [3 / 4, 3 / 4]]),
                "by hand, dim=0",
                {"dim": 0},
                rtol=1e-14,
            ),
            Value(
                (np.array([1000.0, 1000.0], dtype=np.float32),),
                np.array([-0.6931471824645996] * 2, np.float32),
                "torch run (float32), = float32(−ln 2); ref §4: never log(softmax)",
                rtol=0,
            ),
            Value((np.array([1e4, 0.0]),), [0.0, -1e4], "by hand: log(1 + e^-1e4) = 0 in float64"),
            Value(
                (np.array([[0.0, -inf, LN3]]),),
                [[np.log(0.25), -inf, np.log(0.75)]],
                "ref §1.2 #27: a -inf entry stays -inf; by hand log 1/4, log 3/4",
                rtol=1e-14,
            ),
            Value(
                (np.array([[-inf, -inf], [inf, 0.0], [nan, 1.0], [0.0, 0.0]]),),
                [[nan, nan], [nan, nan], [nan, nan], [-np.log(2.0)] * 2],
                "ref §1.2 #27 and §4: all -inf, +inf and NaN rows are NaN",
                rtol=1e-15,
            ),
            Value(
                (np.array([3e38, -3e38], dtype=np.float32),),
                np.array([0.0, -inf], np.float32),
                "torch run (float32): [0, -inf], the shift overflows",
            ),
            Value((np.array(3.0),), 0.0, "torch run: 0-d log_softmax is 0"),
            Value((np.zeros((2, 0)),), np.zeros((2, 0)), "empty in, empty out"),
        ],
        grads=[
            Grad(
                (LOG1234,),
                ([0.9, -0.2, -0.3, -0.4],),
                "by hand: g − s·Σg, g = e₁",
                grad_output=np.array([1.0, 0.0, 0.0, 0.0]),
                rtol=1e-13,
            ),
            Grad((LOG1234,), ([0.6, 0.2, -0.2, -0.6],), "by hand: 1 − 4s", rtol=1e-13, atol=1e-15),
            Grad(
                (np.array([[0.0, -inf, LN3]]),),
                ([[-0.5, 2.0, -1.5]],),
                "by hand: g − s·6; torch run gives g (here 2.0) at the -inf entry, not 0 "
                "(ref §1.2 #27 says 0: that is the gradient of softmax, not log_softmax)",
                grad_output=np.array([[1.0, 2.0, 3.0]]),
                rtol=1e-13,
            ),
            Grad(
                (np.array([[-inf, -inf], [nan, 0.0]]),),
                ([[nan, nan], [nan, nan]],),
                "torch run: NaN rows give NaN gradients",
            ),
            Grad((np.array(3.0),), (0.0,), "torch run: 1 − s = 0 for 0-d"),
        ],
        errors=_dim_errors(),
        extremes=_EXTREMES,
    ),
    "softmin": Case(
        sample=lambda dt: along_axis(dt),
        values=[
            Value(
                (-LOG1234,), [0.1, 0.2, 0.3, 0.4], "by hand: softmax(−x), ref §1.2 #28", rtol=1e-14
            ),
            Value(
                (-np.log([[1.0, 2.0], [3.0, 6.0]]),),
                [[1 / 4, 1 / 4], [3 / 4, 3 / 4]],
                "by hand, dim=0",
                {"dim": 0},
                rtol=1e-14,
            ),
            Value((np.array([[inf, 0.0]]),), [[0.0, 1.0]], "torch run: +inf gets 0"),
            Value(
                (np.array([[0.0, -inf, 1.0], [inf, inf, inf], [nan, 0.0, 0.0]]),),
                [[nan] * 3] * 3,
                "torch run: -inf, all +inf and NaN rows give NaN",
            ),
            Value(
                (np.array([-3e38, 3e38], dtype=np.float32),),
                np.array([1.0, 0.0], np.float32),
                "mirror of softmax's torch run (float32)",
            ),
            Value((np.array(3.0),), 1.0, "torch run: 0-d softmin is 1"),
            Value((np.zeros((0,)),), np.zeros((0,)), "empty in, empty out"),
        ],
        grads=[
            Grad(
                (-LOG1234,),
                ([-0.09, 0.02, 0.03, 0.04],),
                "by hand: −[s ⊙ (g − ⟨g,s⟩)], s = [.1,.2,.3,.4], g = e₁ (ref §1.2 #28)",
                grad_output=np.array([1.0, 0.0, 0.0, 0.0]),
                rtol=1e-13,
                atol=1e-16,
            ),
            Grad((np.array([[inf, 0.0]]),), ([[0.0, 0.0]],), "torch run: -0 and -0"),
            Grad((np.array([[0.0, -inf]]),), ([[nan, nan]],), "torch run: a -inf row is NaN"),
        ],
        errors=_dim_errors(),
        extremes=_EXTREMES,
    ),
    "glu": Case(
        sample=lambda dt: along_axis(dt, even=True),
        values=[
            Value((np.array([2.0, 0.0]),), [1.0], "by hand: 2·σ(0)"),
            Value(
                (np.array([3.0, -1.0, LN3, 0.0]),),
                [2.25, -0.5],
                "by hand: σ(ln 3) = 3/4, σ(0) = 1/2; torch run agrees",
                rtol=1e-14,
            ),
            Value(
                (np.array([[1.0, 2.0], [0.0, LN3]]),),
                [[0.5, 1.5]],
                "by hand, dim=0 halves the rows",
                {"dim": 0},
                rtol=1e-14,
            ),
            Value(
                (np.array([[inf, -inf], [inf, inf], [-inf, 50.0], [nan, 1.0]]),),
                [[nan], [inf], [-inf], [nan]],
                "torch run: inf·σ(-inf) = inf·0 = NaN; NaN propagates",
            ),
            Value((np.zeros((0, 4)),), np.zeros((0, 2)), "empty rows: the last dim is halved"),
            Value(
                (np.zeros((0, 4)),),
                np.zeros((0, 4)),
                "dim=0 of size 0 halves to 0 (torch run)",
                {"dim": 0},
            ),
        ],
        grads=[
            Grad((np.array([2.0, 0.0]),), ([0.5, 0.5],), "by hand: ∂a = σ(0), ∂b = 2·σ(0)σ(0)"),
            Grad(
                (np.array([3.0, -1.0, LN3, 0.0]),),
                ([0.75, 0.5, 0.5625, -0.25],),
                "by hand: ∂a = σ(b), ∂b = a·σ(b)(1 − σ(b)); torch run agrees",
                rtol=1e-14,
            ),
            Grad(
                (np.array([3.0, -1.0, LN3, 0.0]),),
                ([1.5, -0.5, 1.125, 0.25],),
                "by hand: the VJP scales by g = (2, −1)",
                grad_output=np.array([2.0, -1.0]),
                rtol=1e-14,
            ),
            Grad(
                (np.array([[inf, -inf], [inf, inf], [-inf, 50.0], [nan, 1.0]]),),
                ([[0.0, nan], [1.0, nan], [1.0, nan], [1 / (1 + np.exp(-1.0)), nan]],),
                "torch run: (1−σ)·σ·a with a = ±inf and σ ∈ {0, 1} is NaN",
                rtol=1e-15,
            ),
        ],
        errors=[
            Raises(
                (np.zeros(3),),
                "parameters.dim",
                {},
                "odd size along dim (torch: 'Halving dimension must be even')",
            ),
            Raises((np.zeros((3, 4)),), "parameters.dim", {"dim": 0}, "odd size along dim 0"),
            Raises((np.array(1.0),), "inputs[0]", {}, "torch: 'glu does not support scalars'"),
            Raises((np.zeros((2, 4)),), "parameters.dim", {"dim": 2}, "axis out of range"),
            Raises((np.zeros(4),), "parameters.dim", {"dim": "last"}, "not an int"),
        ],
        extremes=[
            Sample((_PAIRS,)),
            Sample((_PAIRS.T.copy(),), {"dim": 0}),
            Sample((_PAIRS32,)),
            Sample((EXTREME,)),
            Sample((np.zeros((3, 0)),)),
        ],
    ),
}
