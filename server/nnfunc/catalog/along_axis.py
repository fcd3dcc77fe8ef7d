"""Activations along an axis (torch.nn.functional): softmax, log_softmax, softmin, glu.

Each output element depends on a whole slice of the input along ``dim``, so none of
these is elementwise. The softmax family shares one stable core, ``_shifted``: the
max-shift z - max(z) is never positive, so its exponential never overflows.

Edge policy (torch 2.13's, catalog-reference §1.2 and §4), per slice along ``dim``:
an entry of -inf gets probability 0 (log-probability -inf) and the slice is fine; a
slice that is all -inf, or holds +inf or NaN, becomes all NaN; other slices are
untouched. No input makes NumPy warn.

Large float32 calls whose axis is the last one (glu: any axis) take fused numba kernels
(``_kernels``): one task per block of rows, each row read once from memory. Their row
reductions (``_kernels.row_max``, ``row_sum``, ``row_dot``) fold halves pairwise in
float64, so they are at least as accurate as NumPy's pairwise float32 sums.
"""

from __future__ import annotations

import math

import numpy as np

from nnfunc.catalog import _kernels, _ops, _safe
from nnfunc.catalog._kernels import (
    TASK,
    exp_row,
    expf,
    f32,
    prange,
    row_dot,
    row_max,
    row_sum,
    row_tasks,
    sigmoidf,
    task_rows,
)
from nnfunc.catalog.spec import Param, activation
from nnfunc.errors import InvalidArgumentError

_DIM_NOTE = (
    "torch's implicit dim (dim=None) is deprecated: it picks 0 for 0-, 1- and 3-d input "
    "and 1 otherwise, with a warning; nnfunc defaults to dim=-1 (jax's and keras's axis) "
    "and never guesses, so pass dim explicitly to match code that relied on torch's choice."
)
_DTYPE_NOTE = (
    "torch's dtype= argument is not offered: float16 input is already computed in float32 "
    "and returned as float16 (the catalog's dtype policy)."
)
_ROWS_NOTE = (
    "Per slice along dim: a -inf entry gives probability 0 and gradient 0; an all -inf "
    "slice, or one holding +inf or NaN, gives NaN throughout (torch and jax agree)."
)


def _dim_param(what: str) -> Param:
    return Param(
        "dim",
        "int",
        -1,
        f"The axis {what}; negative counts from the end. Default -1 (torch's implicit "
        "choice is deprecated; see notes).",
    )


def _check_dim(params, inputs) -> None:
    _ops.normalize_dim(params["dim"], inputs[0].ndim)


# ---------------------------------------------------------------------------
# The shared core: a max-shift that neither overflows nor warns
# ---------------------------------------------------------------------------


def _as_rows(x: np.ndarray, dim: int) -> tuple[np.ndarray, int]:
    """A 0-d input as a 1-element vector (torch treats it as one slice), and the axis."""
    if x.ndim == 0:
        return x.reshape(1), 0
    return x, _ops.normalize_dim(dim, x.ndim)


# ---------------------------------------------------------------------------
# Row kernels (large float32 calls along the last axis); the row reductions are
# shared with losses_classification.py
# ---------------------------------------------------------------------------


def _rows(a: np.ndarray, axis: int, *others: np.ndarray) -> np.ndarray | None:
    """``a`` as a (rows, n) matrix when the call should take the row kernels: the axis
    is the last one, and ``a`` (like ``others``) is float32, C-contiguous and large."""
    if a.size == 0 or axis < a.ndim - 1 or not _kernels.eligible(a, *others):
        return None
    return a.reshape(-1, a.shape[-1] if a.ndim else 1)


@_kernels.kernel
def _softmax_rows(x, sign, log, out):  # pragma: no cover - compiled
    """Each row of ``out``: softmax(z), or log_softmax(z) with ``log``, for z = sign·x
    (sign −1: softmin), as the NumPy formula: d = z − max(z) (m − x exactly for
    softmin), then e^d·fl32(1/Σ e^d), or d − fl32(log Σ e^d); Σ in float64.
    A row whose max is not finite (NaN, +inf, all −inf) is NaN; a NaN elsewhere makes
    Σ, hence the row, NaN."""
    rows, n = x.shape
    for task in prange(row_tasks(rows, n)):
        buf = np.empty(n, np.float64)
        first, last = task_rows(task, rows, n)
        for i in range(first, last):
            xi, oi = x[i], out[i]
            m = row_max(xi, sign, buf)
            if m - m != 0:  # not finite
                oi[:] = np.nan
                continue
            total = exp_row(xi, sign, m, oi, buf)  # >= 1: the max's own term is e^0
            if log:
                lse = f32(math.log(total))  # one scalar log a row
                for j in range(n):
                    oi[j] = (sign * xi[j] - m) - lse
            else:
                r = f32(1.0 / total)  # ×1/Σ, not ÷Σ (a division a lane costs 4x more)
                for j in range(n):
                    oi[j] *= r


@_kernels.kernel
def _softmax_vjp_rows(g, s, sign, out):  # pragma: no cover - compiled
    """Each row: s ⊙ (g − ⟨g, s⟩), or s ⊙ (⟨g, s⟩ − g) with sign −1 (softmin);
    ⟨g, s⟩ in float64 (exact products), rounded to float32 as NumPy's vecdot."""
    rows, n = s.shape
    for task in prange(row_tasks(rows, n)):
        buf = np.empty(n, np.float64)
        first, last = task_rows(task, rows, n)
        for i in range(first, last):
            gi, si, oi = g[i], s[i], out[i]
            inner = sign * f32(row_dot(gi, si, buf))
            for j in range(n):
                oi[j] = (sign * gi[j] - inner) * si[j]


@_kernels.kernel
def _log_softmax_vjp_rows(g, y, out):  # pragma: no cover - compiled
    """Each row: g − e^y·Σg, Σg in float64."""
    rows, n = y.shape
    for task in prange(row_tasks(rows, n)):
        buf = np.empty(n, np.float64)
        first, last = task_rows(task, rows, n)
        for i in range(first, last):
            gi, yi, oi = g[i], y[i], out[i]
            total = f32(row_sum(gi, buf))
            for j in range(n):
                oi[j] = gi[j] - expf(yi[j]) * total


# ---------------------------------------------------------------------------
# The softmax family's NumPy formulas (and their kernel dispatch)
# ---------------------------------------------------------------------------


def _softmax(x: np.ndarray, dim: int, negate: bool) -> np.ndarray:
    if x.size == 0:
        return np.empty_like(x)
    z, axis = _as_rows(x, dim)
    rows = _rows(z, axis)
    if rows is not None:
        out = np.empty_like(rows)
        _kernels.launch(_softmax_rows, rows, f32(-1 if negate else 1), False, out)
        return out.reshape(x.shape)
    e, bad = _ops.shifted(z, axis, negate)
    np.exp(e, out=e)
    e /= e.sum(axis=axis, keepdims=True)  # the sum is >= 1: the max's own term is e^0
    if bad is not None:
        np.copyto(e, np.nan, where=bad)
    return e.reshape(x.shape)


def _softmax_vjp(g: np.ndarray, s: np.ndarray, dim: int, negate: bool) -> np.ndarray:
    """s ⊙ (g − ⟨g, s⟩) along dim, the Jacobian diag(s) − s sᵀ applied to g; its
    negative s ⊙ (⟨g, s⟩ − g) for softmin (the chain rule through −x)."""
    if s.size == 0:
        return np.zeros_like(s)
    rows = _rows(s, _ops.normalize_dim(dim, s.ndim), g)
    if rows is not None:
        out = np.empty_like(rows)
        sign = f32(-1 if negate else 1)
        _kernels.launch(_softmax_vjp_rows, g.reshape(rows.shape), rows, sign, out)
        return out.reshape(s.shape)
    if s.ndim == 0:
        inner = g * s
    else:  # vecdot: a BLAS dot per slice, without the g*s temporary (2-3x faster)
        axis = _ops.normalize_dim(dim, s.ndim)
        # numpy's stubs omit the axis keyword of gufuncs, which vecdot takes at run time
        inner = np.expand_dims(np.vecdot(g, s, axis=axis), axis)  # type: ignore[call-overload]
    out = np.subtract(inner, g) if negate else np.subtract(g, inner)
    out *= s
    return out


# ---------------------------------------------------------------------------
# Entries
# ---------------------------------------------------------------------------


@activation(
    summary="Turns a vector of scores into probabilities along dim; the output layer of "
    "multi-class classifiers and the weights of attention (prefer cross_entropy on the "
    "raw logits for training).",
    formula="softmax(x)ᵢ = e^(xᵢ − m) / Σⱼ e^(xⱼ − m), m = maxⱼ xⱼ",
    params=(_dim_param("along which the probabilities sum to 1"),),
    output_range="[0, 1]; each slice along dim sums to 1",
    notes=(
        "Jacobian diag(s) − s sᵀ: the VJP is s ⊙ (g − ⟨g, s⟩), from the saved output.",
        "Max-shifted, so huge logits are fine: [1000, 1000] → [0.5, 0.5], [1e4, 0] → [1, 0].",
        _ROWS_NOTE,
        "A 0-d input is one slice of one element: softmax is 1 (dim 0 or -1).",
        _DIM_NOTE,
        _DTYPE_NOTE,
    ),
)
def softmax(input, dim):
    return _softmax(input, dim, negate=False)


softmax.defcheck(_check_dim)


@softmax.defvjp
def _(g, y, input, dim):
    return _softmax_vjp(g, y, dim, negate=False)


@activation(
    summary="The logarithm of softmax along dim, computed directly and stably; feed it "
    "to nll_loss, or use it wherever log-probabilities are needed.",
    formula="log_softmax(x)ᵢ = xᵢ − m − log Σⱼ e^(xⱼ − m), m = maxⱼ xⱼ",
    params=(_dim_param("along which the exponentials sum to 1"),),
    output_range="[-inf, 0]; exp of each slice along dim sums to 1",
    notes=(
        "Computed as x − m − log Σ e^(x − m), never as log(softmax(x)): that would give "
        "-inf (and a NaN gradient) as soon as a probability underflows.",
        "The VJP is g − softmax(x)·Σg along dim, with softmax(x) = e^y from the output.",
        "A -inf entry stays -inf; its gradient is g there (∂yᵢ/∂xᵢ = 1 − sᵢ = 1), "
        "the same as torch's.",
        _ROWS_NOTE,
        "A 0-d input is one slice of one element: log_softmax is 0 (dim 0 or -1).",
        _DIM_NOTE,
        _DTYPE_NOTE,
    ),
)
def log_softmax(input, dim):
    if input.size == 0:
        return np.empty_like(input)
    z, axis = _as_rows(input, dim)
    rows = _rows(z, axis)
    if rows is not None:
        out = np.empty_like(rows)
        _kernels.launch(_softmax_rows, rows, f32(1), True, out)
        return out.reshape(input.shape)
    d, bad = _ops.shifted(z, axis, negate=False)
    # log Σ e^d is in [0, log n]: the max's own term is e^0 = 1.
    d -= np.log(np.exp(d).sum(axis=axis, keepdims=True))
    if bad is not None:
        np.copyto(d, np.nan, where=bad)
    return d.reshape(input.shape)


log_softmax.defcheck(_check_dim)


@log_softmax.defvjp
def _(g, y, input, dim):
    if y.size == 0:
        return np.zeros_like(y)
    rows = _rows(y, _ops.normalize_dim(dim, y.ndim), g)
    if rows is not None:
        out = np.empty_like(rows)
        _kernels.launch(_log_softmax_vjp_rows, g.reshape(rows.shape), rows, out)
        return out.reshape(y.shape)
    axis = _ops.normalize_dim(dim, y.ndim) if y.ndim else None
    out = np.exp(y, out=np.empty_like(y))  # softmax, from the saved output (y <= 0)
    out *= np.sum(g, axis=axis, keepdims=True)
    np.subtract(g, out, out=out)
    return out


@activation(
    summary="Softmax of the negated input along dim: probabilities that favour the "
    "smallest entries (soft arg-min, e.g. over distances or costs).",
    formula="softmin(x)ᵢ = e^(m − xᵢ) / Σⱼ e^(m − xⱼ), m = minⱼ xⱼ (= softmax(−x))",
    params=(_dim_param("along which the probabilities sum to 1"),),
    output_range="[0, 1]; each slice along dim sums to 1",
    notes=(
        "Equal to softmax(−x) (torch 2.13), so the VJP is −s ⊙ (g − ⟨g, s⟩) = s ⊙ (⟨g, s⟩ − g).",
        "Mirror image of softmax's edge policy: a +inf entry gets probability 0; an all "
        "+inf slice, or one holding -inf or NaN, gives NaN throughout.",
        "A 0-d input is one slice of one element: softmin is 1 (dim 0 or -1).",
        _DIM_NOTE,
        _DTYPE_NOTE,
    ),
)
def softmin(input, dim):
    return _softmax(input, dim, negate=True)


softmin.defcheck(_check_dim)


@softmin.defvjp
def _(g, y, input, dim):
    return _softmax_vjp(g, y, dim, negate=True)


@activation(
    summary="Gated linear unit: splits the input in two halves a, b along dim and lets "
    "σ(b) gate a; the gate of GLU layers in convolutional and Transformer language models.",
    formula="glu(x) = a ⊗ σ(b), where a, b = the first and second halves of x along dim",
    params=(
        Param(
            "dim",
            "int",
            -1,
            "The axis that is halved into a and b; its size must be even. Default -1 "
            "(torch's default).",
        ),
    ),
    output_range="(-inf, inf); the input's shape with dim halved",
    source="torch.nn.functional.glu",
    notes=(
        "∂a = g·σ(b); ∂b = g·a·σ(b)(1 − σ(b)) = g·y·(1 − σ(b)), reusing the output.",
        "An odd size along dim is refused (torch: 'Halving dimension must be even'), "
        "and so is a 0-d input (torch: 'glu does not support scalars').",
        "±inf in a meeting a gate of exactly 0 or 1 gives NaN where torch's product "
        "does (inf·0), without a NumPy warning.",
    ),
)
def glu(input, dim):
    a, b = _halves(input, dim)
    x3 = _glu_view(input, dim)
    if x3 is not None:
        y = np.empty((x3.shape[0], x3.shape[2]), input.dtype)
        _kernels.launch(_glu_kernel, x3, y)
        return y.reshape(a.shape)
    gate = _ops.sigmoid(b)
    if _ops.all_finite(a):
        gate *= a
        return gate
    return _safe.product(a, gate)


@glu.defcheck
def _(params, inputs):
    x = inputs[0]
    if x.ndim == 0:
        raise InvalidArgumentError(
            "inputs[0] (input): glu needs at least 1 dimension to halve, got a 0-d tensor",
            field="inputs[0]",
        )
    axis = _ops.normalize_dim(params["dim"], x.ndim)
    if x.shape[axis] % 2:
        raise InvalidArgumentError(
            f"parameters.dim: glu halves dim {params['dim']}, whose size must be even; "
            f"got size {x.shape[axis]} (input shape {list(x.shape)})",
            field="parameters.dim",
        )


@glu.defvjp
def _(g, y, input, dim):
    x3 = _glu_view(input, dim, g, y)
    if x3 is not None:
        dx = np.empty_like(x3)
        halves = (x3.shape[0], x3.shape[2])
        _kernels.launch(_glu_vjp_kernel, g.reshape(halves), x3, y.reshape(halves), dx)
        return dx.reshape(input.shape)
    _a, b = _halves(input, dim)
    axis = _ops.normalize_dim(dim, input.ndim)
    gate = _ops.sigmoid(b)
    out = np.empty_like(input)
    da, db = np.split(out, 2, axis=axis)
    np.multiply(g, gate, out=da)
    np.subtract(1, gate, out=gate)  # 1 − σ(b), in place: σ(b) is no longer needed
    if _ops.all_finite(y):
        np.multiply(y, gate, out=db)
        db *= g
    else:  # y = ±inf where a is: inf·0 (σ(b) = 1, or g = 0) is NaN, as in torch
        db[...] = _safe.product(_safe.product(y, gate), g)
    return out


def _halves(x: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.split(x, 2, axis=_ops.normalize_dim(dim, x.ndim))
    return a, b


def _glu_view(x: np.ndarray, dim: int, *others: np.ndarray) -> np.ndarray | None:
    """x as (P, 2, M) when the call should take the glu kernels (float32, C-contiguous
    like ``others``, large), else None: along any axis, a = x[:, 0] and b = x[:, 1]
    are then P contiguous blocks of M each."""
    if x.size == 0 or not _kernels.eligible(x, *others):
        return None
    return x.reshape(math.prod(x.shape[: _ops.normalize_dim(dim, x.ndim)]), 2, -1)


@_kernels.kernel
def _glu_kernel(x, y):  # pragma: no cover - compiled
    """y = a·σ(b) for a, b = x[:, 0], x[:, 1]; a task per TASK elements of a row, so
    that a few long rows (glu along dim 0) are shared out too."""
    rows, n = y.shape
    per = min(n, TASK)
    parts = (n + per - 1) // per
    for task in prange(rows * parts):
        i, start = task // parts, task % parts * per
        part = slice(start, min(n, start + per))  # views: loops from 0 vectorize
        a, b, yi = x[i, 0, part], x[i, 1, part], y[i, part]
        for k in range(yi.size):
            yi[k] = a[k] * sigmoidf(b[k])


@_kernels.kernel
def _glu_vjp_kernel(g, x, y, dx):  # pragma: no cover - compiled
    """dx[:, 0] = g·σ(b), dx[:, 1] = y·(1 − σ(b))·g, as the NumPy VJP rounds them."""
    rows, n = y.shape
    per = min(n, TASK)
    parts = (n + per - 1) // per
    for task in prange(rows * parts):
        i, start = task // parts, task % parts * per
        part = slice(start, min(n, start + per))
        b, gi, yi = x[i, 1, part], g[i, part], y[i, part]
        da, db = dx[i, 0, part], dx[i, 1, part]
        for k in range(yi.size):
            s = sigmoidf(b[k])
            da[k] = gi[k] * s
            db[k] = yi[k] * (f32(1.0) - s) * gi[k]


# ---------------------------------------------------------------------------
# Second order (check_gradient(order=2))
# ---------------------------------------------------------------------------


def _slice_sum(a: np.ndarray, dim: int) -> np.ndarray:
    """Σ along dim, kept for broadcasting (a 0-d array is its own slice)."""
    return np.sum(a, axis=_ops.normalize_dim(dim, a.ndim) if a.ndim else None, keepdims=True)


def _softmax_vjp_vjp(w, g, s, dim, negate):
    """h = ±s ⊙ (g − ⟨g, s⟩): ∂⟨h, w⟩/∂g = ±s ⊙ (w − ⟨w, s⟩) (J is symmetric), and
    through s, with u = w⊙g − g⟨w, s⟩ − w⟨g, s⟩ = ∂(⟨wg, s⟩ − ⟨g, s⟩⟨w, s⟩)/∂s,
    ∂/∂x = s ⊙ (u − ⟨u, s⟩) for softmax and for softmin (two sign flips)."""
    if s.size == 0:
        return np.zeros_like(s), np.zeros_like(s)
    dg = _softmax_vjp(w, s, dim, negate)
    u = w * g
    u -= g * _slice_sum(w * s, dim)
    u -= w * _slice_sum(g * s, dim)
    return dg, _softmax_vjp(u, s, dim, negate=False)


@softmax.defvjpvjp
def _(w, g, y, input, dim):
    return _softmax_vjp_vjp(w, g, y, dim, negate=False)


@softmin.defvjpvjp
def _(w, g, y, input, dim):
    return _softmax_vjp_vjp(w, g, y, dim, negate=True)


@log_softmax.defvjpvjp
def _(w, g, y, input, dim):
    # h = g − p·Σg (p = e^y): ∂⟨h, w⟩/∂g = w − ⟨w, p⟩, and
    # ∂/∂x = −Σg · ∂⟨w, p⟩/∂x = −Σg · p ⊙ (w − ⟨w, p⟩).
    if y.size == 0:
        return np.zeros_like(y), np.zeros_like(y)
    p = np.exp(y)
    dg = w - _slice_sum(w * p, dim)
    dx = dg * p
    dx *= -_slice_sum(g, dim)
    return dg, dx


@glu.defvjpvjp
def _(w, g, y, input, dim):
    # h = (g·s, g·a·s(1 − s)) with s = σ(b); w = (w_a, w_b) halves like the input.
    a, b = _halves(input, dim)
    wa, wb = _halves(w, dim)
    s = _ops.sigmoid(b)
    ds = s * (1 - s)
    a_ds = _safe.product(a, ds)  # a·s(1 − s): NaN where a = ±inf meets s(1 − s) = 0, as y's
    dg = wa * s + _safe.product(wb, a_ds)
    da = wb * g * ds
    db = wa * g * ds + _safe.product(_safe.product(wb * g, a_ds), 1 - 2 * s)
    return dg, np.concatenate([da, db], axis=_ops.normalize_dim(dim, input.ndim))
