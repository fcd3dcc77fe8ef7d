"""The row kernels (along_axis.py, losses_classification.py) against the NumPy formulas
they speed up.

Those functions call their kernels themselves, for large float32 calls (float64 too for
the exact ones: ``_kernels.eligible``). Here KERNEL_MIN_SIZE is set to 0 for the kernel
path and out of reach for the NumPy one, and both must agree on large random inputs, on
rows holding NaN, ±inf, ±0, huge and tiny values, and on the goldens' and extremes'
inputs in float32: bit for bit, or within the ulps pinned in ULPS. A kernel's row sums
are float64 where NumPy's are float32 (pairwise), so the bound of a quantity built on a
sum is counted in ulps of that sum's natural scale (SCALES), not of the result alone. The
goldens and extremes of these functions are also run again with the kernels forced.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from nnfunc.catalog import _kernels, _ops, registry
from tests.catalog.test_catalog import CASES

#: Max difference between the kernel and the NumPy path, in ulps of the larger of the
#: two results' magnitude and the scale SCALES gives (elementwise). 0: bit for bit.
#: The comments give the largest measured here, for the value and the gradient(s).
ULPS = {
    "softmax": 10,  # 8, 8 (16M rows; vs float64: the kernel 18 ulp, NumPy 23)
    "softmin": 10,  # 8, 8
    "log_softmax": 8,  # 3, 6 (ulps of max(|y|, 1))
    "glu": 8,  # 6, 6 (σ's kernel vs NumPy's)
    "cross_entropy": 4,  # 2, 4
    "nll_loss": 0,
    "margin_ranking_loss": 0,
    # NumPy's float32 dot products (einsum, vecdot) add in order: its gradient is up to
    # 14 ulp from float64's on 4000 rows, the kernel's (float64 sums) 5.5
    "cosine_embedding_loss": 20,  # 2.5, 16
    "triplet_margin_loss": 20,  # 1, 16
}
#: The kernel each function's forward (and VJP) must launch on eligible input.
LAUNCHES = {
    "softmax": ("_softmax_rows", "_softmax_vjp_rows"),
    "softmin": ("_softmax_rows", "_softmax_vjp_rows"),
    "log_softmax": ("_softmax_rows", "_log_softmax_vjp_rows"),
    "glu": ("_glu_kernel", "_glu_vjp_kernel"),
    "cross_entropy": ("_ce_rows", "_ce_vjp_rows"),
    "nll_loss": ("_nll_rows", "_nll_vjp_rows"),
    "margin_ranking_loss": ("_ranking_loss", "_ranking_vjp"),
    "cosine_embedding_loss": ("_cosine_rows", "_cosine_vjp_rows"),
    "triplet_margin_loss": ("_triplet_rows", "_triplet_vjp_rows"),
}
#: The bit-for-bit kernels: float64 calls take them too.
EXACT = {"nll_loss", "margin_ranking_loss"}
NAMES = sorted(ULPS)
F32 = np.float32
HUGE = 1 << 62

Scales = tuple[np.ndarray | None, tuple[np.ndarray | None, ...]]


# ---------------------------------------------------------------------------
# Error scales: where a result is a difference of rounded sums, the error of the sum
# (in float32, NumPy's) sets the scale of the result's error.
# ---------------------------------------------------------------------------


def _abs(a) -> np.ndarray:
    """|a| in float64, 0 for a non-finite value (where the results must agree exactly)."""
    a = np.asarray(a, np.float64)
    return np.abs(np.where(np.isfinite(a), a, 0))


def _row_max(a: np.ndarray, dim: int) -> np.ndarray:
    """max |a| along dim (finite values), kept for broadcasting."""
    a = _abs(a)
    return a if a.ndim == 0 else np.max(a, axis=dim, keepdims=True, initial=0.0)


def _softmax_scales(inputs, params, g, y, grads) -> Scales:
    # s ⊙ (g − ⟨g, s⟩): ⟨g, s⟩ is known to ulps of max |g|
    return None, (_abs(y) * _row_max(g, params.get("dim", -1)),)


def _log_softmax_scales(inputs, params, g, y, grads) -> Scales:
    # d − log Σ: log Σ >= 0 is known to ulps of 1, so y to ulps of max(|y|, 1);
    # g − e^y·Σg: e^y to ulps of e^y·max(|y|, 1), Σg to ulps of Σ|g|
    dim = params.get("dim", -1)
    ag = _abs(g)
    total = ag if ag.ndim == 0 else ag.sum(axis=dim, keepdims=True)
    y_scale = np.maximum(_abs(y), 1.0)
    p = np.exp(np.minimum(y.astype(np.float64), 0))
    return y_scale, (p * total * y_scale,)


def _glu_scales(inputs, params, g, y, grads) -> Scales:
    # a·σ(b) and g·σ(b): a subnormal σ is known to an ulp of 2^-149 (so a·σ to |a|·2^-149);
    # ∂b = y·(1 − σ(b))·g: 1 − σ to ulps of 1, y as above
    axis = _ops.normalize_dim(params.get("dim", -1), y.ndim)
    a = np.split(_abs(inputs[0]), 2, axis=axis)[0]
    tiny = 2.0**-126  # the float32 ulp of tiny·v is 2^-149·v
    y_scale = np.maximum(_abs(y), a * tiny)
    da = _abs(g) * tiny
    db = y_scale * _abs(g)
    return y_scale, (np.concatenate([da, db], axis=axis),)


def _class_terms(inputs, params):
    """(N, C) float64 logits, |w_y| per sample, and Σ|w_y| (the mean's divisor)."""
    x, t = inputs
    x = np.atleast_2d(x).astype(np.float64)
    t = np.atleast_1d(t)
    w = params.get("weight")
    ign = params.get("ignore_index", -100)
    kept = t != ign
    w_y = np.where(kept, 1.0 if w is None else np.abs(np.asarray(w, np.float64))[t * kept], 0)
    return x, w_y


def _ce_scales(inputs, params, g, y, grads) -> Scales:
    # per = (log Σ + m) − x_y: Σ known to ulps of 1, the sum with m to ulps of |m| + log C;
    # ∂ = e^(x − m)·(a / Σ) − a at y: to ulps of |a| = |G·w_y|
    if np.ndim(inputs[0]) > 2 or inputs[1].dtype.kind == "f":
        return None, (None,)  # the kernels take (N, C) and class indices only
    x, w_y = _class_terms(inputs, params)
    reduction = params.get("reduction", "mean")
    per = (_abs(x).max(axis=1) + math.log(x.shape[1]) + 1) * w_y
    div = (w_y.sum() or 1.0) if reduction == "mean" else 1.0
    a = _abs(g).reshape(-1) * w_y / div
    grad = np.broadcast_to(a[:, None], x.shape).reshape(np.shape(grads[0]))
    if reduction == "none":
        return per.reshape(np.shape(y)), (grad,)
    return np.asarray(per.sum() / div), (grad,)


def _reduced(per: np.ndarray, params) -> np.ndarray:
    """A per-row scale carried through the reduction (NumPy's in both paths)."""
    reduction = params.get("reduction", "mean")
    if reduction == "none":
        return per
    return np.asarray(per.sum() / (per.size or 1 if reduction == "mean" else 1))


def _upstream_rows(g, n: int, params) -> np.ndarray:
    """|the upstream gradient of each row's loss|."""
    reduction = params.get("reduction", "mean")
    g = _abs(g).reshape(-1)
    return np.broadcast_to(g / n if reduction == "mean" else g, (n,))


def _cosine_scales(inputs, params, g, y, grads) -> Scales:
    # cos = Σab / √(Σa² Σb²): known to ulps of 1; ∂x1 = G/denom·x2 − G·cos/‖x1‖²·x1:
    # to ulps of |G|·(|x2|/denom + |x1|/‖x1‖²)
    a, b = _abs(inputs[0]), _abs(inputs[1])
    if a.ndim != 2:
        return None, (None, None)
    ms1, ms2 = (a * a).sum(axis=1) + 1e-12, (b * b).sum(axis=1) + 1e-12
    G = _upstream_rows(g, len(a), params)[:, None]
    denom = np.sqrt(ms1 * ms2)[:, None]
    d1 = G * (b / denom + a / ms1[:, None])
    d2 = G * (a / denom + b / ms2[:, None])
    return _reduced(np.ones(len(a)), params), (d1, d2)


def _triplet_scales(inputs, params, g, y, grads) -> Scales:
    # d = √Σw²: known to ulps of d; z = margin + d_p − d_n to ulps of the three;
    # ∂ = w·(G/d): to ulps of |w|·|G|/d
    a, pos, neg = (_abs(x) for x in inputs)  # |a − p| <= |a| + |p|
    if a.ndim != 2:
        return None, (None, None, None)
    eps = params.get("eps", 1e-6)
    wp, wn = a + pos + eps, a + neg + eps
    dp, dn = np.sqrt((wp * wp).sum(axis=1)), np.sqrt((wn * wn).sum(axis=1))
    G = _upstream_rows(g, len(a), params)
    sp, sn = wp * (G / dp)[:, None], wn * (G / dn)[:, None]  # d >= eps > 0
    per = dp + dn + abs(params.get("margin", 1.0))
    return _reduced(per, params), (sp + sn, sp, sn)


def _no_scales(inputs, params, g, y, grads) -> Scales:
    return None, tuple(None for _ in grads)


SCALES: dict[str, Callable[..., Scales]] = {
    "softmax": _softmax_scales,
    "softmin": _softmax_scales,
    "log_softmax": _log_softmax_scales,
    "glu": _glu_scales,
    "cross_entropy": _ce_scales,
    "nll_loss": _no_scales,
    "margin_ranking_loss": _no_scales,
    "cosine_embedding_loss": _cosine_scales,
    "triplet_margin_loss": _triplet_scales,
}


# ---------------------------------------------------------------------------
# The comparison
# ---------------------------------------------------------------------------


@pytest.fixture
def launched(monkeypatch):
    """The names of the kernels launched, in order."""
    names: list[str] = []
    launch = _kernels.launch

    def spy(kernel, *args):
        names.append(kernel.py_func.__name__)
        return launch(kernel, *args)

    monkeypatch.setattr(_kernels, "launch", spy)
    return names


def _both(monkeypatch, call):
    """call() with the kernels forced, and with the NumPy formulas only."""
    monkeypatch.setattr(_ops, "KERNEL_MIN_SIZE", 0)
    kernel = call()
    monkeypatch.setattr(_ops, "KERNEL_MIN_SIZE", HUGE)
    return kernel, call()


def _assert_close(name: str, got, want, scale, what: str) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, what
    finite = np.isfinite(want)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    np.testing.assert_array_equal(same[~finite], True, err_msg=f"non-finite: {what}")
    ulps = ULPS[name]
    if ulps == 0:
        same &= (np.signbit(got) == np.signbit(want)) | np.isnan(want)  # a NaN's sign: any
        bad = np.flatnonzero(~same)
        assert bad.size == 0, f"{what}: differs at {bad.size} elements, first {bad[:5]}"
        return
    assert np.isfinite(got[finite]).all(), f"{what}: non-finite where NumPy's is finite"
    size = np.maximum(np.abs(want), np.abs(got)).astype(np.float64)
    if scale is not None:
        size = np.maximum(size, np.broadcast_to(scale, size.shape))
    size = size[finite]
    err = np.abs(got[finite].astype(np.float64) - want[finite])
    ulp = np.maximum(np.spacing(size) * 2.0**29, 2.0**-149)  # float32's, at any size
    worst = np.argmax(err / ulp) if err.size else 0
    assert err.size == 0 or err[worst] <= ulps * ulp[worst], (
        f"{what}: {got[finite][worst]!r} vs {want[finite][worst]!r}, "
        f"{err[worst] / ulp[worst]:.1f} ulp of {size[worst]:.3g}"
    )


def _compare(monkeypatch, name, inputs, params, g, what) -> None:
    """value_and_grad (upstream gradient g) and evaluate, kernels against NumPy."""

    def call():
        y, grads = registry.value_and_grad(name, *inputs, grad_output=g, **params)
        return registry.evaluate(name, *inputs, **params), y, grads

    (yk0, yk, gk), (yn0, yn, gn) = _both(monkeypatch, call)
    value_scale, grad_scales = SCALES[name](inputs, params, g, yn, gn)
    _assert_close(name, yk0, yn0, value_scale, f"forward of {what}")
    _assert_close(name, yk, yn, value_scale, f"value of {what}")
    for k, (a, b, s) in enumerate(zip(gk, gn, grad_scales, strict=True)):
        _assert_close(name, a, b, s, f"gradient {k} of {what}")


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------

SPECIAL_ROWS = [
    [np.nan],
    [np.inf],
    [-np.inf],
    [-np.inf] * 9,  # the whole row
    [3e38, -3e38],  # the max-shift overflows to -inf
    [-3e38, -3e38, 3e38],
    [0.0, -0.0],
    [-0.0] * 9,
    [1e-45, -1e-45, 1e-40],
    [88.7, -88.7, 104.0, -104.0],
    [np.inf, np.nan],
    [-np.inf, 0.0],
    [1e30, -1e30],
]


def _rows(rng, n_rows: int, n: int) -> np.ndarray:
    """Random rows (scales from 1e-3 to 300) with the special rows' values planted."""
    scale = 10.0 ** rng.uniform(-3, 2.5, size=(n_rows, 1))
    x = (rng.standard_normal((n_rows, n)) * scale).astype(F32)
    for i, row in enumerate(SPECIAL_ROWS[:n_rows]):
        cols = rng.permutation(n)[: len(row)] if len(row) <= n else np.arange(n)
        x[i, cols] = np.array(row, F32)[: len(cols)]
    return x


SHAPES = [(64, 1000), (300, 7), (40, 1), (33, 2), (2, 3, 64), (4097,), ()]


def _upstream(rng, shape, special: bool | None) -> np.ndarray:
    """Random, with ±inf, NaN and 0 planted when ``special``, or ones (None)."""
    if special is None:
        return np.ones(shape, F32)
    g = rng.standard_normal(shape).astype(F32)
    if special and g.size > 20:
        flat = g.reshape(-1)
        flat[rng.permutation(flat.size)[:4]] = [np.inf, -np.inf, np.nan, 0.0]
    return g


def _input(rng, shape) -> np.ndarray:
    n = shape[-1] if shape else 1
    rows = math.prod(shape[:-1]) if shape else 1
    return _rows(rng, rows, n).reshape(shape)


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------

ROW_FUNCTIONS = ["softmax", "softmin", "log_softmax"]


@pytest.mark.parametrize("special_g", [False, True, None], ids=["g", "g-special", "ones"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", ROW_FUNCTIONS)
def test_row_functions(name, shape, special_g, monkeypatch):
    rng = np.random.default_rng(1)
    x = _input(rng, shape)
    g = _upstream(rng, shape, special_g)
    _compare(monkeypatch, name, (x,), {"dim": -1}, g, f"{name}{shape}")


MANY = [*ROW_FUNCTIONS, "glu", "cross_entropy", "cosine_embedding_loss", "triplet_margin_loss"]


@pytest.mark.parametrize("name", MANY)
def test_many_rows(name, monkeypatch):
    """The benchmark's inputs at 16M elements (16000 rows of 1000 normal values, scale
    3; a quarter of the rows for the pair losses): the rare worst cases of the sums."""
    rng = np.random.default_rng(9)
    rows = 4000 if name in MANY[-2:] else 16_000
    x = (rng.standard_normal((rows, 1000)) * 3).astype(F32)
    g = np.asarray(1.0, F32)
    if name == "cross_entropy":
        inputs: tuple = (x, rng.integers(0, 1000, size=rows))
    elif name == "cosine_embedding_loss":
        inputs = (x, (x * 0.5 + rng.standard_normal(x.shape)).astype(F32), np.sign(x[:, 0]))
    elif name == "triplet_margin_loss":
        near = [(x + rng.standard_normal(x.shape) * s).astype(F32) for s in (1.0, 1.02)]
        inputs = (x, *near)  # z = 1 + d(a, p) − d(a, n) around 0
    else:
        inputs = (x,)
        g = np.ones((rows, 500 if name == "glu" else 1000), F32)  # Σg = 1000: the worst
    _compare(monkeypatch, name, inputs, {}, g, f"{rows} rows")


@pytest.mark.parametrize("dim", [-1, 0, 1])
@pytest.mark.parametrize("special_g", [False, True, None], ids=["g", "g-special", "ones"])
def test_glu(dim, special_g, monkeypatch):
    rng = np.random.default_rng(2)
    for shape in [(64, 1000), (6, 8, 10), (2, 4, 6)]:
        x = _input(rng, shape)
        half = list(shape)
        half[dim] //= 2
        g = _upstream(rng, tuple(half), special_g)
        _compare(monkeypatch, "glu", (x,), {"dim": dim}, g, f"glu{shape}, dim {dim}")


def _targets(rng, n_rows: int, n: int, ignore: int) -> np.ndarray:
    t = rng.integers(0, n, size=n_rows)
    t[:: max(1, n_rows // 5)] = ignore
    # the specials' targets: on the special value itself, where there is one
    for i, row in enumerate(SPECIAL_ROWS[: min(n_rows, len(SPECIAL_ROWS))]):
        if i % 2 and row:
            t[i] = 0
    return t


CLASS_PARAMS = [
    {},
    {"reduction": "sum"},
    {"reduction": "none"},
    {"ignore_index": 3},
    {"weight": "random"},
    {"weight": "random", "reduction": "none"},
    {"weight": "random", "ignore_index": 0, "reduction": "sum"},
    {"label_smoothing": 0.1},  # NumPy either way
]


@pytest.mark.parametrize("tame", [True, False], ids=["tame", "specials"])
@pytest.mark.parametrize("params", CLASS_PARAMS, ids=repr)
@pytest.mark.parametrize("shape", [(500, 1000), (300, 7), (40, 1), (1000,)], ids=str)
@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_class_losses(name, shape, params, tame, monkeypatch):
    if name == "nll_loss" and "label_smoothing" in params:
        pytest.skip("nll_loss has no label_smoothing")
    rng = np.random.default_rng(3)
    rows, n = (1, shape[0]) if len(shape) == 1 else shape
    x = (rng.standard_normal((rows, n)) * 3).astype(F32) if tame else _rows(rng, rows, n)
    t = _targets(rng, rows, n, params.get("ignore_index", -100))
    if len(shape) == 1:  # (C) logits, a 0-d target
        x, t = x[0], np.asarray(rng.integers(0, n))
    params = dict(params)
    if params.get("weight") == "random":
        params["weight"] = rng.uniform(0, 2, size=n).astype(F32)
    none = params.get("reduction") == "none"
    g = _upstream(rng, t.shape, not tame) if none else np.asarray(rng.standard_normal(), F32)
    _compare(monkeypatch, name, (x, t), params, g, f"{name}{shape}, {params}")


RANKING_TARGETS = {
    "signs": lambda rng, n: np.where(rng.random(n) < 0.5, -1.0, 1.0),
    "with 0": lambda rng, n: rng.integers(-1, 2, size=n).astype(float),
    "odd": lambda rng, n: rng.choice([-1.0, 1.0, 0.5, 2.0], size=n),  # NumPy: not ±1, 0
}


@pytest.mark.parametrize("dtype", [F32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("targets", RANKING_TARGETS)
@pytest.mark.parametrize("margin", [0.0, 0.5, -1.0, math.inf])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_margin_ranking_loss(reduction, margin, targets, dtype, monkeypatch):
    rng = np.random.default_rng(6)
    for shape in [(5000,), (40, 25), ()]:
        x1, x2 = (_input(rng, shape).astype(dtype) for _ in range(2))
        x2.reshape(-1)[::3] = x1.reshape(-1)[::3]  # z = margin: the kink
        t = RANKING_TARGETS[targets](rng, math.prod(shape)).reshape(shape).astype(dtype)
        g = _upstream(rng, shape, True) if reduction == "none" else np.asarray(1.5, F32)
        params = {"margin": margin, "reduction": reduction}
        _compare(monkeypatch, "margin_ranking_loss", (x1, x2, t), params, g, f"{shape}")


def _pairs(rng, rows: int, n: int, tame: bool) -> tuple[np.ndarray, np.ndarray]:
    if tame:
        x1 = rng.standard_normal((rows, n)).astype(F32)
        return x1, (x1 * 0.5 + rng.standard_normal((rows, n))).astype(F32)
    return _rows(rng, rows, n), _rows(rng, rows, n)[::-1].copy()


@pytest.mark.parametrize("tame", [True, False], ids=["tame", "specials"])
@pytest.mark.parametrize("margin", [0.0, 0.5, -0.5])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(500, 1000), (300, 7), (40, 1)], ids=str)
def test_cosine_embedding_loss(shape, reduction, margin, tame, monkeypatch):
    rng = np.random.default_rng(7)
    x1, x2 = _pairs(rng, *shape, tame)
    t = rng.choice([1.0, -1.0, -1.0, 0.0], size=shape[0]).astype(F32)
    g = _upstream(rng, t.shape, False) if reduction == "none" else np.asarray(0.7, F32)
    params = {"margin": margin, "reduction": reduction}
    _compare(monkeypatch, "cosine_embedding_loss", (x1, x2, t), params, g, f"{shape}")


TRIPLET_PARAMS = [{}, {"margin": 0.5, "eps": 1e-3}, {"p": 1.0}, {"swap": True}]  # NumPy: p 1, swap


@pytest.mark.parametrize("tame", [True, False], ids=["tame", "specials"])
@pytest.mark.parametrize("params", TRIPLET_PARAMS, ids=repr)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(500, 1000), (300, 7), (40, 1)], ids=str)
def test_triplet_margin_loss(shape, reduction, params, tame, monkeypatch):
    rng = np.random.default_rng(8)
    a, pos = _pairs(rng, *shape, tame)
    neg = (a + rng.standard_normal(shape) * 1.2).astype(F32)
    g = _upstream(rng, shape[:1], False) if reduction == "none" else np.asarray(0.7, F32)
    params = {**params, "reduction": reduction}
    _compare(monkeypatch, "triplet_margin_loss", (a, pos, neg), params, g, f"{shape}")


@pytest.mark.parametrize("name", NAMES)
def test_large_float32_calls_launch_the_kernels(name, launched):
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((256, 256)) * 3).astype(F32)  # 2^16 = KERNEL_MIN_SIZE
    inputs: tuple = (x,)
    params: dict = {"dim": -1} if name in [*ROW_FUNCTIONS, "glu"] else {}
    if name in ("cross_entropy", "nll_loss"):
        inputs = (x, rng.integers(0, 256, size=256))
    elif name == "margin_ranking_loss":
        inputs = (x, x[::-1].copy(), np.sign(x))
    elif name == "cosine_embedding_loss":
        inputs = (x, x[::-1].copy(), np.sign(x[:, 0]))
    elif name == "triplet_margin_loss":
        inputs = (x, x[::-1].copy(), x[:, ::-1].copy())
    registry.value_and_grad(name, *inputs, **params)
    assert tuple(launched) == LAUNCHES[name]
    launched.clear()
    registry.value_and_grad(name, *(a[:-1] for a in inputs), **params)
    assert launched == [], "below KERNEL_MIN_SIZE: NumPy"
    wide = tuple(a.astype(np.float64) if a.dtype == F32 else a for a in inputs)
    registry.value_and_grad(name, *wide, **params)
    assert tuple(launched) == (LAUNCHES[name] if name in EXACT else ()), "float64"


# --- the goldens' and extremes' inputs, in float32, through both paths ---------------


def _golden_inputs(name: str):
    case = CASES[name]
    for kind in ("values", "grads", "extremes"):
        for i, entry in enumerate(getattr(case, kind)):
            yield pytest.param(name, entry, id=f"{name}-{kind}{i}")


def _f32(x):
    a = np.asarray(x)
    if a.dtype.kind != "f":
        return a
    big = np.abs(a) > np.finfo(F32).max
    return np.where(big, np.copysign(np.inf, a), a).astype(F32)


@pytest.mark.parametrize(("name", "entry"), [p for n in NAMES for p in _golden_inputs(n)])
def test_golden_inputs_in_float32(name, entry, monkeypatch):
    inputs = tuple(_f32(x) for x in entry.inputs)
    params = {k: _f32(v) if isinstance(v, np.ndarray) else v for k, v in entry.params.items()}
    y = registry.evaluate(name, *inputs, **params)
    g = np.random.default_rng(5).standard_normal(np.shape(y)).astype(F32)
    _compare(monkeypatch, name, inputs, params, g, f"{name}{entry.params}")
