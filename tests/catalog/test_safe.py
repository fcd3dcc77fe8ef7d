"""The warning-free arithmetic of the losses (nnfunc.catalog._safe), checked against
Python floats and ``math``, which follow IEEE 754 (double) without raising NumPy's
flags. Every call runs with warnings as errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from nnfunc.catalog import _safe
from nnfunc.catalog._safe import PLAIN, QUIET

F32_MAX = float(np.finfo(np.float32).max)
# the smallest magnitude that rounds to inf in float32: max + half an ulp at the top
F32_OVERFLOW = F32_MAX + 2.0**103

SPECIAL64 = [0.0, -0.0, 1.0, -2.5, 1e308, -1e308, 1e-310, math.inf, -math.inf, math.nan, 3e300]
SPECIAL32 = [0.0, -0.0, 1.0, -2.5, 3e38, -3e38, 1e-40, math.inf, -math.inf, math.nan, 2e19, 0.75]


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _ieee_div(a: float, b: float) -> float:
    """a / b as IEEE 754 has it (Python raises ZeroDivisionError instead)."""
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _to32(v: float) -> float:
    """A double rounded to float32 (exact products, sums and quotients of float32 values
    rounded once more to float32 are the float32 results: double rounding is innocuous
    for these at 53 ≥ 2·24 + 2 bits)."""
    if math.isfinite(v) and abs(v) >= F32_OVERFLOW:
        return math.copysign(math.inf, v)
    return float(np.float32(v))


OPS = [
    ("add", lambda a, b: a + b),
    ("sub", lambda a, b: a - b),
    ("mul", lambda a, b: a * b),
    ("div", _ieee_div),
]


def _grid(values, dtype):
    a = np.array([x for x in values for _ in values], dtype)
    b = np.array([y for _ in values for y in values], dtype)
    return a, b


@pytest.mark.parametrize(("name", "op"), OPS)
def test_quiet_ops_are_ieee_and_silent_float64(name, op):
    a, b = _grid(SPECIAL64, np.float64)
    got = getattr(QUIET, name)(a, b)
    expected = [op(float(p), float(q)) for p, q in zip(a, b, strict=True)]
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(("name", "op"), OPS)
def test_quiet_ops_are_ieee_and_silent_float32(name, op):
    a, b = _grid(SPECIAL32, np.float32)
    got = getattr(QUIET, name)(a, b)
    expected = [_to32(op(float(p), float(q))) for p, q in zip(a, b, strict=True)]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(("name", "op"), OPS)
def test_quiet_ops_decide_overflow_exactly_at_the_edge(name, op):
    # operands whose exact result lies within an ulp or two of float32's overflow
    # threshold: the quiet result must round exactly as IEEE does, not by a margin
    rng = np.random.default_rng(0)
    edge = np.float32(F32_MAX)
    near = np.array([np.nextafter(edge, np.float32(0)) for _ in range(1)] + [edge], np.float32)
    factors = np.array([1.0, 1.0000001, 0.9999999, 2.0, 0.5, 1.00000006, 0.99999994], np.float32)
    if name in ("add", "sub"):
        a = np.concatenate([near, near, rng.uniform(1.6e38, 1.8e38, 50).astype(np.float32)])
        b = np.concatenate([np.float32(2.0**103) * factors[:2], rng.uniform(1.6e38, 1.8e38, 52)])
        b = b.astype(np.float32)
        if name == "sub":
            b = -b
    else:
        a = np.repeat(near, factors.size)
        b = np.tile(factors, near.size)
        if name == "div":
            b = np.float32(1) / b
    got = getattr(QUIET, name)(a, b)
    expected = [_to32(op(float(p), float(q))) for p, q in zip(a, b, strict=True)]
    np.testing.assert_array_equal(got, expected)


def test_quiet_ops_broadcast_and_take_python_numbers():
    x = np.array([[1.0, 2.0]], np.float32)
    assert QUIET.add(x, 1.5).dtype == np.float32
    np.testing.assert_array_equal(
        QUIET.mul(x, np.array([[3.0], [4.0]], np.float32)), [[3, 6], [4, 8]]
    )
    # a Python number out of float32's range is ±inf there, quietly (NumPy's cast warns)
    np.testing.assert_array_equal(QUIET.mul(x, 1e39), [[math.inf, math.inf]])
    np.testing.assert_array_equal(
        QUIET.div(1.0, np.array([0.0, -0.0, 4.0])), [math.inf, -math.inf, 0.25]
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_quiet_exp_overflows_to_inf_silently(dtype):
    limit = _safe._EXP_LIMIT[np.dtype(dtype)]
    top = float(np.finfo(dtype).max)
    x = np.array([-math.inf, -1000.0, 0.0, 1.0, 50.0, limit, math.nan, 1000.0, math.inf], dtype)
    got = QUIET.exp(x)
    for v, e in zip(x.tolist(), got.tolist(), strict=True):
        try:
            want = math.exp(v)
        except OverflowError:
            want = math.inf
        if math.isfinite(want) and want > top:
            want = math.inf
        if math.isnan(want):
            assert math.isnan(e)
        else:
            assert e == pytest.approx(want, rel=1e-6 if dtype == np.float32 else 1e-15, abs=0)
    # the limit is the last finite one: its next float overflows
    assert math.isfinite(float(got[5]))
    assert QUIET.exp(np.nextafter(dtype(limit), dtype(math.inf))).item() == math.inf


def test_quiet_sum_is_ieee_and_silent():
    rows = np.array(
        [
            [1e308, 1e308, -1e308],
            [1e308, 1e308, 0.0],
            [math.inf, -math.inf, 0.0],
            [math.inf, 1.0, 2.0],
            [math.nan, 1.0, 0.0],
            [1.0, 2.0, 3.5],
        ]
    )
    got = QUIET.sum(rows, axis=1)
    # by hand: IEEE sums (the first row's exact sum 1e308 is representable)
    np.testing.assert_array_equal(got, [1e308, math.inf, math.nan, math.inf, math.nan, 6.5])
    assert QUIET.sum(rows[5:], axis=1, keepdims=True).shape == (1, 1)
    assert QUIET.sum(np.array(2.5)) == 2.5  # 0-d
    assert QUIET.sum(rows[-1]) == math.fsum(rows[-1])


def test_plain_has_the_same_members():
    for name in ("add", "sub", "mul", "div", "exp", "sum"):
        assert callable(getattr(PLAIN, name)) and callable(getattr(QUIET, name))
    x = np.array([[1.0, 2.0], [3.0, 4.5]], np.float32)
    np.testing.assert_array_equal(PLAIN.sum(x, axis=1), QUIET.sum(x, axis=1))
    assert PLAIN.sum(x).dtype == np.float32


# --- the tame check -------------------------------------------------------------------


def test_is_tame_wants_finite_values_within_the_limit():
    assert _safe.is_tame(10.0, np.array([-10.0, 3.0]), None, 4.0, np.zeros(0))
    assert not _safe.is_tame(10.0, np.array([-10.5, 3.0]))
    assert not _safe.is_tame(10.0, np.array([1.0, math.nan]))
    assert not _safe.is_tame(1e300, np.array([math.inf]))
    assert not _safe.is_tame(10.0, 11.0)
    assert _safe.is_tame(10.0, np.array([1, 2], np.int64))
    assert _safe.arith(10.0, np.array([1.0])) is PLAIN
    assert _safe.arith(10.0, np.array([-math.inf])) is QUIET


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("degree", [1, 2, 4])
def test_bound_keeps_products_and_sums_finite(dtype, degree):
    n = 1000
    lim = _safe.bound(dtype, n, degree)
    top = float(np.finfo(dtype).max)
    # n products of `degree` factors at the limit, summed, with room for 16 of them
    assert n * lim**degree * 16 <= top * (1 + 1e-9)
    assert lim < top


# --- scalars --------------------------------------------------------------------------


def test_scalar_rounds_like_a_cast_without_warning():
    assert _safe.scalar(F32_MAX, np.float32).item() == F32_MAX
    assert _safe.scalar(F32_MAX + 2.0**102, np.float32).item() == F32_MAX  # below half an ulp
    assert _safe.scalar(F32_OVERFLOW, np.float32).item() == math.inf  # a tie rounds to even
    assert _safe.scalar(-1e39, np.float32).item() == -math.inf
    assert math.isnan(_safe.scalar(math.nan, np.float32).item())
    assert _safe.scalar(1e39, np.float64).item() == 1e39


def test_quotient_is_ieee_division():
    for a in SPECIAL64:
        for b in SPECIAL64:
            got, want = _safe.quotient(a, b), _ieee_div(a, b)
            assert got == want or (math.isnan(got) and math.isnan(want)), (a, b)


# --- torch's reductions ---------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tame", [False, True])
def test_reduce_of_ordinary_losses(dtype, tame):
    loss = np.array([[0.5, 1.25], [2.0, 4.0]], dtype)
    assert _safe.reduce(loss, "none", tame=tame) is loss
    total = _safe.reduce(loss, "sum", tame=tame)
    mean = _safe.reduce(loss, "mean", tame=tame)
    assert total.shape == () and total.dtype == dtype and total == 7.75  # by hand
    assert mean.shape == () and mean.dtype == dtype and mean == 7.75 / 4
    assert _safe.reduce(loss, "mean", tame=tame, divisor=2.5) == 7.75 / 2.5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reduce_of_nothing(dtype):
    # torch: the mean of nothing is NaN (0/0), the sum of nothing 0
    empty = np.zeros((0, 3), dtype)
    assert math.isnan(_safe.reduce(empty, "mean"))
    assert _safe.reduce(empty, "sum") == 0
    assert _safe.reduce(empty, "mean").dtype == dtype


@pytest.mark.parametrize(
    ("loss", "total", "mean"),
    [
        ([math.inf, -math.inf, 1.0], math.nan, math.nan),  # inf − inf
        ([math.inf, 1.0, 2.0], math.inf, math.inf),
        ([-math.inf, 1.0], -math.inf, -math.inf),
        ([math.nan, 1.0], math.nan, math.nan),
        ([1e308, 1e308, 1e308, 1e308], math.inf, 1e308),  # the sum overflows, the mean not
        ([1e308, 1e308, -1e308], 1e308, 1e308 / 3),  # no intermediate overflow
        ([-1e308, -1e308], -math.inf, -1e308),
    ],
)
def test_reduce_of_extremes(loss, total, mean):
    loss = np.array(loss)
    got_total, got_mean = _safe.reduce(loss, "sum"), _safe.reduce(loss, "mean")
    for got, want in ((got_total, total), (got_mean, mean)):
        if math.isnan(want):
            assert math.isnan(got)
        else:
            assert got == pytest.approx(want, rel=1e-15)


def test_reduce_float32_overflow_and_divisors():
    big = np.full(4, 3e38, np.float32)
    assert _safe.reduce(big, "sum") == math.inf
    assert _safe.reduce(big, "mean") == np.float32(3e38)
    # a divisor of 0: 0/0 is NaN, x/0 ±inf (torch's weighted mean with zero total weight)
    assert math.isnan(_safe.reduce(np.zeros(2), "mean", divisor=0.0))
    assert _safe.reduce(np.ones(2), "mean", divisor=0.0) == math.inf
    assert _safe.reduce(np.ones(2, np.float32), "mean", divisor=1e-45) == math.inf


def test_reduce_vjp_spreads_the_upstream_gradient():
    g = np.array(6.0, np.float32)
    assert _safe.reduce_vjp(g, (2, 3), "none") is not None
    np.testing.assert_array_equal(_safe.reduce_vjp(g, (2, 3), "sum"), np.full((2, 3), 6.0))
    mean = _safe.reduce_vjp(g, (2, 3), "mean")
    assert mean.dtype == np.float32 and mean.shape == (2, 3)
    np.testing.assert_array_equal(mean, np.full((2, 3), 1.0))
    assert _safe.reduce_vjp(g, (0, 3), "mean").shape == (0, 3)  # no elements: nothing to spread
    np.testing.assert_array_equal(_safe.reduce_vjp(g, (2,), "mean", divisor=4.0), [1.5, 1.5])
    # a huge g divided quietly; g/0 is inf
    assert _safe.reduce_vjp(np.array(3e38, np.float32), (2,), "mean")[0] == np.float32(1.5e38)
    assert _safe.reduce_vjp(g, (1,), "mean", divisor=0.0)[0] == math.inf
    none = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(_safe.reduce_vjp(none, (2, 3), "none"), none)


# --- blockwise reductions -------------------------------------------------------------


def _abs_diff(out, x, y):
    np.subtract(x, y, out=out)
    return np.abs(out, out=out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blockwise_reduce_spans_blocks_like_a_plain_sum(dtype):
    rng = np.random.default_rng(5)
    n = 3 * (_safe._BLOCK_BYTES // np.dtype(dtype).itemsize) + 17  # four blocks, one short
    x, y = rng.normal(size=n).astype(dtype), rng.normal(size=n).astype(dtype)
    exact = math.fsum(abs(float(a) - float(b)) for a, b in zip(x, y, strict=True))
    total = _safe.blockwise_reduce(_abs_diff, 1e6, "sum", x, y)
    mean = _safe.blockwise_reduce(_abs_diff, 1e6, "mean", x, y)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert total.dtype == dtype and mean.dtype == dtype
    assert float(total) == pytest.approx(exact, rel=rtol)
    assert float(mean) == pytest.approx(exact / n, rel=rtol)


def test_blockwise_reduce_gives_up_on_any_block_that_is_not_tame():
    n = 2 * (_safe._BLOCK_BYTES // 8) + 5
    x, y = np.zeros(n), np.ones(n)
    assert _safe.blockwise_reduce(_abs_diff, 10.0, "sum", x, y) == n
    for bad in (math.nan, math.inf, 11.0):
        x[-1] = bad  # in the last block: the first blocks were fine
        assert _safe.blockwise_reduce(_abs_diff, 10.0, "sum", x, y) is None


def test_blockwise_reduce_of_nothing():
    empty = np.zeros((0, 4))
    assert _safe.blockwise_reduce(_abs_diff, 1.0, "sum", empty, empty) == 0
    assert math.isnan(_safe.blockwise_reduce(_abs_diff, 1.0, "mean", empty, empty))
    # a 0-d pair is one element
    assert _safe.blockwise_reduce(_abs_diff, 9.0, "mean", np.array(2.0), np.array(-1.0)) == 3
