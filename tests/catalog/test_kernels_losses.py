"""The fused kernels of the elementwise losses (losses_elementwise.py) against their
NumPy path.

A loss calls its kernels itself, from its forward and VJP, for large C-contiguous calls
(from _ops.KERNEL_MIN_SIZE elements); the NumPy path stays the definition. Here each
kernelized loss runs both ways (KERNEL_MIN_SIZE 0, then huge) on random inputs (tame:
the plain NumPy forms), at its kinks, and on grids of NaN, ±inf, ±0, subnormal and
huge values (the quiet forms), with every reduction and the parameters that change its
arithmetic. Element losses and gradients must agree bit for bit, or within the ulps
pinned in ULPS for the kernels built on expf/logf/log1pf/sigmoidf; 'mean' and 'sum'
within REDUCED_ULPS of the same reduction of |loss| (float32 kernels add in float64,
NumPy pairwise in float32). The goldens, kink values and extremes of these losses are
run again through the kernels.
"""

from __future__ import annotations

import numpy as np
import pytest

from nnfunc.catalog import _kernels, _ops, registry

#: (loss, gradient): max difference from the NumPy path's, in ulps of the larger of
#: the two results and the magnitude _scales gives (the terms the formula adds: an error
#: in e^x shows in e^x − y·x at e^x's size; times the upstream seed for a gradient).
#: Losses not listed: bit for bit (signed zeros and NaN positions too).
ULPS = {
    # log1pf(expf) for np.log1p(np.exp); sigmoidf for _ops.sigmoid
    "soft_margin_loss": (4, 5),
    "binary_cross_entropy_with_logits": (3, 3),
    "multilabel_soft_margin_loss": (3, 3),  # and each row's sum in float64, not pairwise
    # expf, logf for np.exp, np.log and scipy's xlogy
    "poisson_nll_loss": (2, 4),
    # logf for np.log; the gradient has no transcendental
    "gaussian_nll_loss": (2, 0),
    "binary_cross_entropy": (2, 0),
    "kl_div": (5, 3),  # expf and logf; expf for log_target's gradient
}

#: Max difference of a 'mean' or 'sum' from the NumPy path's, in ulps of the same
#: reduction of |loss| (so that cancelling terms do not make it look worse).
REDUCED_ULPS = {
    "mse_loss": 1,
    "l1_loss": 1,
    "smooth_l1_loss": 1,
    "huber_loss": 1,
    "soft_margin_loss": 1,
    "poisson_nll_loss": 2,
    "hinge_embedding_loss": 2,
    "gaussian_nll_loss": 1,
    "binary_cross_entropy_with_logits": 2,
    "multilabel_soft_margin_loss": 1,
    "binary_cross_entropy": 2,
    "kl_div": 1,
}

KERNELIZED = sorted(REDUCED_ULPS)

#: Weights given as markers, made for each input: "same" (the input's shape), "class"
#: (one per class: the last dimension), "scalar" (0-d; NumPy's path).
PARAMS: dict[str, list[dict]] = {
    "mse_loss": [{}],
    "l1_loss": [{}],
    # β, δ: 1, below, above; subnormal in float32; 0 in float32; tiny; huge; inf
    "smooth_l1_loss": [
        {"beta": b} for b in (1.0, 0.5, 2.0, 0.0, 3e-39, 1e-50, 1e-30, 1e30, np.inf)
    ],
    "huber_loss": [{"delta": d} for d in (1.0, 0.5, 2.0, 3e-39, 1e-50, 1e-30, 1e30, np.inf)],
    "soft_margin_loss": [{}],
    "poisson_nll_loss": [
        {"log_input": li, "full": full, "eps": eps}
        for li in (True, False)
        for full in (False, True)
        for eps in (1e-8, 0.0, 1.0)
        if li or full or eps != 1.0
    ],
    # 1.00000009 rounds up to the float32 after 1: comparisons see the rounded margin
    "hinge_embedding_loss": [{"margin": m} for m in (1.0, 0.0, -2.0, 1.00000009, 1e30, np.inf)],
    "gaussian_nll_loss": [
        {"full": full, "eps": eps} for full in (False, True) for eps in (1e-6, 1e-50, 0.5)
    ],
    "binary_cross_entropy_with_logits": [
        {"weight": w, "pos_weight": p}
        for w in (None, "same", "class")
        for p in (None, "same", "scalar")
        if w != "class" or p is None
    ],
    "multilabel_soft_margin_loss": [{"weight": w} for w in (None, "same", "class", "scalar")],
    "binary_cross_entropy": [{"weight": w} for w in (None, "same", "class")],
    "kl_div": [{"log_target": False}, {"log_target": True}],
}

#: Tensor parameters, given as markers above.
TENSORS = (
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "multilabel_soft_margin_loss",
)

#: Classes per row of the 2-d inputs (multilabel_soft_margin_loss needs rows).
ROW = 13


def _tensor(marker, shape, dtype, rng, extreme=False):
    if marker is None:
        return None
    shape = {"same": shape, "class": shape[-1:], "scalar": ()}[marker]
    w = rng.uniform(0, 3, shape)
    if extreme and w.size >= 5:
        w.flat[np.linspace(0, w.size - 1, 5).astype(int)] = [0.0, np.inf, np.nan, 1e30, 1e-40]
    return w.astype(dtype)


def _params(name, params, shape, dtype, rng, extreme=False):
    if name not in TENSORS:
        return params
    return {k: _tensor(v, shape, dtype, rng, extreme) for k, v in params.items()}


def _shaped(name, arrays):
    """Inputs shaped as the loss takes them: rows of ROW classes for multilabel."""
    if name != "multilabel_soft_margin_loss":
        return arrays
    n = arrays[0].size // ROW * ROW
    return tuple(a[:n].reshape(-1, ROW) for a in arrays)


# ---------------------------------------------------------------------------
# Error measures
# ---------------------------------------------------------------------------


def _scales(name, inputs, params):
    """(loss scale, gradient scale before the seed): the magnitudes of the terms the
    formula adds, for the losses pinned in ULPS (zeros: a relative bound)."""
    x = inputs[0].astype(np.float64)
    y = inputs[1].astype(np.float64)
    with np.errstate(all="ignore"):
        if name == "poisson_nll_loss":
            if params["log_input"]:
                terms = [np.exp(x), y * x, y]
            else:
                z = x + np.float64(inputs[0].dtype.type(params["eps"]))
                terms = [x, y * np.log(z), y / z, np.ones_like(x)]
            terms.append(y * np.log(np.maximum(y, 1)))
            scale = np.maximum.reduce([np.abs(t) for t in terms])
            return scale, scale
        if name == "gaussian_nll_loss":
            v = np.maximum(inputs[2].astype(np.float64), params["eps"])
            return np.abs(np.log(v)) + (x - y) ** 2 / v, np.zeros_like(x)
        if name == "kl_div":
            if params["log_target"]:
                return np.exp(y) * (np.abs(y) + np.abs(x)), np.exp(y)
            return np.abs(y * np.log(np.abs(y))) + np.abs(y * x), np.zeros_like(x)
        if name == "binary_cross_entropy":
            w = params.get("weight")
            w = 1.0 if w is None else np.abs(w.astype(np.float64))
            logs = np.abs(np.maximum(np.log(x), -100)) + np.abs(np.maximum(np.log(1 - x), -100))
            return logs * (1 + np.abs(y)) * w, np.zeros_like(x)
        if name in TENSORS:
            w, p = params.get("weight"), params.get("pos_weight")
            w = 1.0 if w is None else np.abs(w.astype(np.float64))
            p = 1.0 if p is None else np.abs(p.astype(np.float64))
            grad = (1 + np.abs(y) + p * np.abs(y)) * w
            loss = grad * (np.abs(x) + 1)
            if name == "multilabel_soft_margin_loss":
                loss = np.broadcast_to(loss, x.shape).mean(axis=-1)
            return loss, grad
    zeros = np.zeros(x.shape)
    return zeros, zeros


def _assert_close(got, want, scale, ulps, what):
    assert got.dtype == want.dtype and got.shape == want.shape, what
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"NaN at: {what}")
    if ulps == 0:
        same = (got == want) | (np.isnan(got) & np.isnan(want))
        same &= (np.signbit(got) == np.signbit(want)) | np.isnan(want)  # a NaN's sign: any
        bad = np.flatnonzero(~same)
        assert bad.size == 0, (
            f"{what}: differs at {bad.size} elements, first {bad[:3]}: "
            f"{got.ravel()[bad[:3]]} vs {want.ravel()[bad[:3]]}"
        )
        return
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite], want[~finite], err_msg=f"non-finite: {what}")
    scale = np.nan_to_num(np.broadcast_to(scale, got.shape)[finite], nan=0.0)
    size = np.maximum(np.maximum(np.abs(want[finite]), np.abs(got[finite])), scale)
    size = np.minimum(size, float(np.finfo(got.dtype).max))
    with np.errstate(over="ignore"):  # the spacing at the largest finite value: inf
        unit = np.spacing(size.astype(got.dtype)).astype(np.float64)
    err = np.abs(got[finite].astype(np.float64) - want[finite]) / unit
    worst = int(np.argmax(err)) if err.size else 0
    assert err.size == 0 or err[worst] <= ulps, (
        f"{what}: {got[finite][worst]!r} vs {want[finite][worst]!r}, {err[worst]:.1f} ulp"
    )


def _assert_reduced(name, got, want, magnitude, what):
    """A 'mean' or 'sum' within REDUCED_ULPS of ``magnitude`` (the reduction of |ℓ|)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape == (), what
    if not np.isfinite(want) or not np.isfinite(got):
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    with np.errstate(over="ignore"):  # the spacing at the largest finite value: inf
        unit = float(np.spacing(np.asarray(magnitude, dtype=got.dtype)))
    err = abs(float(got) - float(want)) / unit
    assert err <= REDUCED_ULPS[name], f"{what}: {got!r} vs {want!r}, {err:.1f} ulp"


# ---------------------------------------------------------------------------
# Both paths
# ---------------------------------------------------------------------------


def _both(name, inputs, params, g):
    """((value, grads) by the kernels, (value, grads) by NumPy), through the registry."""
    out = []
    with pytest.MonkeyPatch.context() as mp:
        for size in (0, 1 << 62):
            mp.setattr(_ops, "KERNEL_MIN_SIZE", size)
            value = registry.evaluate(name, *inputs, **params)
            y, grads = registry.value_and_grad(name, *inputs, grad_output=g, **params)
            np.testing.assert_array_equal(y, value, err_msg=f"{name}: forward vs value_and_grad")
            out.append((value, grads))
    return out


def _check(name, inputs, params, rng, what):
    """Both paths on ``inputs`` with every reduction: losses, gradients, reductions."""
    dtype = inputs[0].dtype
    loss_scale, grad_scale = _scales(name, inputs, params)
    per_row = name == "multilabel_soft_margin_loss"
    loss_ulps, grad_ulps = ULPS.get(name, (0, 0))
    loss_none = None
    reductions = (
        ("none", "mean", "sum", "batchmean") if name == "kl_div" else ("none", "mean", "sum")
    )
    for reduction in reductions:
        p = {**params, "reduction": reduction}
        if reduction == "none":
            g = rng.standard_normal(inputs[0].shape[: -1 if per_row else None]).astype(dtype)
        else:
            g = np.asarray(rng.choice([1.0, -0.75, 3e-3]), dtype=dtype)
        (v_k, g_k), (v_n, g_n) = _both(name, inputs, p, g)
        label = f"{name}({dtype.name}, {p}) on {what}"
        if reduction == "none":
            _assert_close(v_k, v_n, loss_scale, loss_ulps, f"loss of {label}")
            loss_none = v_n
        else:
            with np.errstate(over="ignore", invalid="ignore"):  # of the reference sum
                mag = np.abs(loss_none.astype(np.float64)).sum()
                divisor = {"mean": loss_none.size, "batchmean": inputs[0].shape[0]}
                mag = np.float64(mag / divisor.get(reduction, 1))
            _assert_reduced(name, v_k, v_n, mag.astype(dtype), f"{reduction} of {label}")
        seed = np.abs(g.astype(np.float64))
        seed = seed / {"mean": loss_none.size, "batchmean": inputs[0].shape[0]}.get(reduction, 1)
        seed = seed[..., None] / inputs[0].shape[-1] if per_row else seed
        with np.errstate(over="ignore", invalid="ignore"):  # inf·0: no scale
            scale = grad_scale * seed
        for a, b in zip(g_k, g_n, strict=True):
            _assert_close(a, b, scale, grad_ulps, f"gradient of {label}")


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------


def _tame(name, dtype, rng, n=(1 << 16) + 7):
    """Inputs as a loss usually sees them (all within the plain forms' limits)."""
    x = rng.standard_normal(n) * 3
    y = rng.standard_normal(n) * 3
    if name in ("soft_margin_loss",):
        y = rng.choice([-1.0, 1.0], n)
    elif name == "hinge_embedding_loss":  # some targets outside {1, −1}: both terms
        y = rng.choice([-1.0, 1.0, 1.0, -1.0, 0.0, 0.5], n)
    elif name == "poisson_nll_loss":
        y = rng.poisson(2.0, n).astype(np.float64)
    elif name in TENSORS:  # probabilities, and some targets exactly 0 or 1
        y = np.where(rng.random(n) < 0.5, rng.random(n), rng.integers(0, 2, n))
        if name == "binary_cross_entropy":
            x = np.where(rng.random(n) < 0.99, rng.random(n), rng.integers(0, 2, n))
    elif name == "kl_div":  # log-probabilities, and probabilities (some 0: xlogy's form)
        x = -np.abs(x)
        y = rng.random(n) * (rng.random(n) < 0.999)
    arrays = (x, y)
    if name == "gaussian_nll_loss":
        var = rng.uniform(0.1, 3.0, n)
        var[::97] = 0.0  # clamped to eps
        arrays = (x, y, var)
    return _shaped(name, tuple(a.astype(dtype) for a in arrays))


def _grid(dtype) -> np.ndarray:
    """NaN, ±inf, ±0, ±1, ±max, magnitudes from the smallest subnormal up, [-100, 100]."""
    finfo = np.finfo(dtype)
    top = np.log10(float(finfo.max)) - 1e-3
    mags = np.logspace(np.log10(float(finfo.smallest_subnormal)), top, 1501)
    specials = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, float(finfo.max)]
    return np.concatenate([mags, -mags, specials, np.linspace(-100, 100, 2001)]).astype(dtype)


def _extremes(name, dtype, rng):
    """(what, inputs): the grid against shuffled, zero, equal, negated and ±1 targets
    (a var of the grid's magnitudes); and one huge element among tame ones, which
    sends the whole call to the quiet forms."""
    grid = _grid(dtype)
    if name == "binary_cross_entropy":  # probabilities only: 0, 1, subnormal, 1 − tiny
        grid = np.abs(grid[np.isfinite(grid)])
        grid = grid[grid <= 1]
        p = np.concatenate([grid, 1 - grid, np.nextafter(grid, 1)]).astype(dtype)
        for what, y in {"shuffled": rng.permutation(p), "zero": 0 * p, "one": 0 * p + 1}.items():
            yield f"extremes, target {what}", (p, y)
        yield "extremes, target 1 − x", (p, 1 - p)
        return
    targets = {
        "shuffled": rng.permutation(grid),
        "zero": np.zeros_like(grid),
        "equal": grid,
        "negated": -grid,
        "signs": rng.choice(np.array([-1.0, 1.0], dtype=dtype), grid.size),
    }
    for what, y in targets.items():
        arrays = (grid, y)
        if name == "gaussian_nll_loss":
            arrays = (grid, y, np.abs(rng.permutation(grid)))
        yield f"extremes, target {what}", _shaped(name, arrays)
    arrays = [a.reshape(-1).copy() for a in _tame(name, dtype, rng, 4099)]
    arrays[0][17] = np.finfo(dtype).max / 2
    yield "one huge element", _shaped(name, tuple(arrays))


def _kinks(name, params, dtype):
    """x at ±t, its float neighbours and 0, against 0 and against 2 (x + 2), for every
    float parameter t and 1."""
    t = [float(v) for v in params.values() if isinstance(v, float) and np.isfinite(v)]
    t = np.array([*t, 1.0], dtype=dtype)
    xs = np.concatenate([t, np.nextafter(t, dtype(np.inf)), np.nextafter(t, dtype(0))])
    xs = np.concatenate([xs, -xs, np.zeros(3, dtype)])
    if name in ("multilabel_soft_margin_loss", "binary_cross_entropy"):  # no kinks in x
        return
    for what, (x, y) in {"kinks": (xs, 0 * xs), "kinks + 2": (xs + 2, 0 * xs + 2)}.items():
        arrays = (x, y)
        if name == "gaussian_nll_loss":
            arrays = (x, y, np.abs(xs))  # var at eps and its neighbours
        yield what, _shaped(name, tuple(np.asarray(a, dtype) for a in arrays))


DTYPES = (np.float32, np.float64)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", KERNELIZED)
def test_kernels_match_numpy_on_random_inputs_and_kinks(name, dtype):
    rng = np.random.default_rng(11)
    for params in PARAMS[name]:
        inputs = _tame(name, dtype, rng)
        if name == "poisson_nll_loss" and not params["log_input"]:
            inputs = (np.abs(inputs[0]), inputs[1])  # rates
        p = _params(name, params, inputs[0].shape, dtype, rng)
        _check(name, inputs, p, rng, "random inputs")
        for what, inputs in _kinks(name, params, dtype):
            p = _params(name, params, inputs[0].shape, dtype, rng)
            _check(name, inputs, p, rng, what)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", KERNELIZED)
def test_kernels_match_numpy_on_extremes(name, dtype):
    rng = np.random.default_rng(12)
    for params in PARAMS[name]:
        for what, inputs in _extremes(name, dtype, rng):
            p = _params(name, params, inputs[0].shape, dtype, rng, extreme=True)
            _check(name, inputs, p, rng, what)


@pytest.mark.parametrize("name", KERNELIZED)
def test_large_float32_calls_take_the_kernels(name, monkeypatch):
    calls = []
    launch = _kernels.launch
    monkeypatch.setattr(_kernels, "launch", lambda k, *a: calls.append(k) or launch(k, *a))
    rng = np.random.default_rng(0)
    inputs = _tame(name, np.float32, rng, _ops.KERNEL_MIN_SIZE + ROW)
    registry.value_and_grad(name, *inputs)
    assert len(calls) >= 2, "the forward and the VJP each launch a kernel"
    calls.clear()
    registry.value_and_grad(name, *(a[:1] for a in inputs))
    assert not calls, "a call below KERNEL_MIN_SIZE takes NumPy"
