"""Classification, margin and embedding losses (torch.nn.functional): forward and VJP.

Reductions follow torch (catalog-reference §2.0): 'mean' divides by the number of
per-sample losses, except cross_entropy/nll_loss with class indices, which divide by
Σ w[y_n] over the targets that are not ignored.

No input makes NumPy warn (see _safe). Each function first asks ``_tame``: are the inputs
finite and small enough that no product or sum can overflow? If so it runs plain NumPy
(the fast path); otherwise it runs the same formulas with ``_safe.QUIET``, an IEEE
arithmetic (overflow gives ±inf, 0·inf and inf − inf give NaN, as torch's kernels do)
that never raises a floating-point flag.

Large calls (``_kernels.eligible``) of cross_entropy and nll_loss with class indices on
(N, C) input, margin_ranking_loss, and cosine_embedding_loss and triplet_margin_loss
(p = 2, no swap) on (N, D) rows take fused numba kernels, one task per block of rows
(their row reductions: along_axis.py). A kernel computes the plain formula and reports
whether its inputs were ones it covers (tame; targets ±1 or 0); if not, the call takes
the NumPy code, so extreme inputs keep their exact semantics. nll_loss's and
margin_ranking_loss's kernels are bit for bit and take float64 too; the others (an
exp, or sums in another order) take float32 only and are within a few ulp.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nnfunc.catalog import _kernels, _ops, _safe
from nnfunc.catalog._kernels import (
    exp_row,
    f32,
    fold_max,
    fold_sum,
    max_nan,
    prange,
    row_dot,
    row_tasks,
    task_rows,
)
from nnfunc.catalog._safe import PLAIN, QUIET
from nnfunc.catalog.spec import REDUCTION, Input, Param, loss
from nnfunc.errors import InvalidArgumentError


def _limit(dtype: np.dtype, n: int) -> float:
    """Magnitudes up to this can be multiplied four at a time and summed n times
    without overflow."""
    return _safe.bound(dtype, n, 4)


def _size(*arrays: Any) -> int:
    return max((np.size(a) for a in arrays if a is not None), default=1)


def _tame(dtype: np.dtype, *arrays: Any) -> bool:
    """Every value finite and within ``_limit`` (for the largest of ``arrays``)."""
    return _safe.is_tame(_limit(dtype, _size(*arrays)), *arrays)


def _ops_for(dtype: np.dtype, *arrays: Any) -> Any:
    """PLAIN when ``arrays`` are tame, else QUIET."""
    return PLAIN if _tame(dtype, *arrays) else QUIET


def _ratio(num: Any, den: float, dtype: np.dtype) -> np.ndarray:
    """num / den for a 0-d num, quietly (x/0 is ±inf, 0/0 NaN)."""
    return _safe.scalar(_safe.quotient(num, den), dtype)


def _weight(weight: np.ndarray | None, n_classes: int, dtype: np.dtype) -> np.ndarray | None:
    if weight is None:
        return None
    w = np.asarray(weight, dtype=dtype)
    if w.shape != (n_classes,):
        raise InvalidArgumentError(
            f"parameters.weight: expected one weight per class, shape [{n_classes}], "
            f"got {list(w.shape)}",
            field="parameters.weight",
        )
    if not np.isfinite(w).all():
        raise InvalidArgumentError(
            "parameters.weight: expected finite class weights", field="parameters.weight"
        )
    return w


def _check_indices(
    t: np.ndarray, low: int, high: int, k: int, allowed: str, ignore: int | None = None
) -> None:
    """Refuse a class index outside [low, high), other than ``ignore``."""
    if t.size == 0 or (low <= t.min() and t.max() < high):  # two reductions, usually
        return
    kept = t if ignore is None else t[t != ignore]
    bad = (kept < low) | (kept >= high)
    if bad.any():
        raise InvalidArgumentError(
            f"inputs[{k}] (target): expected class indices {allowed}, got {int(kept[bad].flat[0])}",
            field=f"inputs[{k}]",
        )


WEIGHT = Param(
    "weight",
    "tensor",
    None,
    "A rescaling weight per class (shape [C]); None weighs all 1.",
    nullable=True,
)
IGNORE_INDEX = Param(
    "ignore_index",
    "int",
    -100,
    "A class-index target value that adds nothing to the loss, its gradient or the mean's divisor.",
)


# ---------------------------------------------------------------------------
# cross_entropy and nll_loss
# ---------------------------------------------------------------------------


def _class_views(x: np.ndarray, t: np.ndarray, prob: bool) -> tuple[np.ndarray, np.ndarray]:
    """(N, C, d...) input and (N, d...) index or (N, C, d...) probability target."""
    if x.ndim == 1:
        return x[None], (t[None] if prob else t.reshape(1))
    return x, t


def _check_class_input(name: str, x: np.ndarray, t: np.ndarray, prob: bool) -> None:
    if x.ndim == 0:
        raise InvalidArgumentError(
            f"inputs[0] (input): {name} expects (C), (N, C) or (N, C, d1, ...) scores, got a 0-d "
            "tensor",
            field="inputs[0]",
        )
    if prob:
        return
    want = () if x.ndim == 1 else (x.shape[0], *x.shape[2:])
    if t.shape != want:
        raise InvalidArgumentError(
            f"inputs[1] (target): expected class indices of shape {list(want)} for input of "
            f"shape {list(x.shape)}, got {list(t.shape)}",
            field="inputs[1]",
        )


def _tame_row_max(x: np.ndarray, *others: Any) -> np.ndarray | None:
    """x's max over the class axis (kept) when x and ``others`` are tame, else None.

    The fast paths need the row max anyway, so the tame test costs one x.min() more.
    """
    if x.size == 0 or not _safe.is_tame(_limit(x.dtype, x.size), *others):
        return None
    m = x.max(axis=1, keepdims=True)
    return m if _tame_extremes(x, m, x) else None


def _tame_extremes(x: np.ndarray, top: np.ndarray, low: np.ndarray) -> bool:
    """Whether x, whose maxima are ``top`` and minima ``low`` (rows or all), is tame."""
    hi, lo = float(top.max()), float(low.min())  # NaN (from a NaN in x) fails both tests
    return math.isfinite(hi) and math.isfinite(lo) and max(hi, -lo) <= _limit(x.dtype, x.size)


def _rows_eligible(x: np.ndarray, *tame: Any, exact: bool = False) -> bool:
    """Whether a class-index call on the (N, C, d...) view ``x`` should take the row
    kernels: (N, C), large, float32 (or float64 for ``exact`` ones: no exp), and the
    arrays ``tame`` tame (for x itself the kernels report the extremes)."""
    dtypes = (np.float32, np.float64) if exact else (np.float32,)
    return (
        x.ndim == 2
        and x.size > 0
        and _kernels.eligible(x, dtypes=dtypes)
        and _safe.is_tame(_limit(x.dtype, x.size), *tame)
    )


def _ce_vjp_rows_call(
    x: np.ndarray, safe: np.ndarray, a: np.ndarray, logits: bool
) -> np.ndarray | None:
    """The gradient by the row kernels, with a = G·w_y: ``_ce_vjp_rows`` for logits
    (None when x is not tame), ``_nll_vjp_rows`` for log-probabilities."""
    dx = np.empty_like(x)
    if not logits:
        _kernels.launch(_nll_vjp_rows, safe, a, dx)
        return dx
    top, low = np.empty(len(x), x.dtype), np.empty(len(x), x.dtype)
    _kernels.launch(_ce_vjp_rows, x, safe, a, dx, top, low)
    return dx if _tame_extremes(x, top, low) else None


def _ce_rows_call(x: np.ndarray, safe: np.ndarray, w_y: np.ndarray) -> np.ndarray | None:
    """The fast path's per-sample losses by ``_ce_rows``, or None when x is not tame."""
    per, top, low = (np.empty(len(x), x.dtype) for _ in range(3))
    _kernels.launch(_ce_rows, x, safe, w_y, per, top, low)
    return per if _tame_extremes(x, top, low) else None


@_kernels.inline
def _row_extremes(xi, buf):  # pragma: no cover - compiled
    """(max, min) of a float32 row, NaN if it holds one: ``row_max``'s folds of xi and
    −xi, the first ones in one pass (into the two halves of buf, as float32)."""
    n = xi.size
    h = n // 2
    top = n - h
    lo, hi, acc = xi[:h], xi[top:], buf.view(np.float32)
    up, down = acc[:top], acc[n : n + top]
    for j in range(h):
        up[j] = max_nan(lo[j], hi[j])
        down[j] = max_nan(-lo[j], -hi[j])
    if top > h:
        up[h] = xi[h]
        down[h] = -xi[h]
    return fold_max(up, top), -fold_max(down, top)


@_kernels.kernel
def _ce_rows(x, safe, w_y, per, top, low):  # pragma: no cover - compiled
    """The fast path's per-sample loss for each row of (N, C) logits, as it rounds it:
    (fl32(log Σ e^(x − m)) + m − x_y)·w_y, Σ in float64; and the rows' max and min,
    for the tame test (on a row that fails it, ``per`` is meaningless)."""
    rows, n = x.shape
    for task in prange(row_tasks(rows, n)):
        buf = np.empty(n, np.float64)
        e = np.empty(n, np.float32)
        first, last = task_rows(task, rows, n)
        for i in range(first, last):
            xi = x[i]
            m, lo = _row_extremes(xi, buf)
            lse = f32(math.log(exp_row(xi, f32(1.0), m, e, buf)))  # one scalar log a row
            per[i] = (lse + m - xi[safe[i]]) * w_y[i]
            top[i] = m
            low[i] = lo


@_kernels.kernel
def _ce_vjp_rows(x, safe, a, dx, top, low):  # pragma: no cover - compiled
    """The fast path's gradient for each row of (N, C) logits: e^(x − m)·(a / Σ e^(x − m)),
    then a subtracted at the target; and the rows' max and min (see ``_ce_rows``)."""
    rows, n = x.shape
    for task in prange(row_tasks(rows, n)):
        buf = np.empty(n, np.float64)
        first, last = task_rows(task, rows, n)
        for i in range(first, last):
            xi, di = x[i], dx[i]
            m, lo = _row_extremes(xi, buf)
            scale = a[i] / f32(exp_row(xi, f32(1.0), m, di, buf))
            for j in range(n):
                di[j] *= scale
            di[safe[i]] -= a[i]
            top[i] = m
            low[i] = lo


@_kernels.serial  # nll_loss reads N elements, too few to share out
def _nll_rows(x, t, ignore_index, w, per, w_y):  # pragma: no cover - compiled
    """nll_loss of (N, C) log-probabilities: w_y = w[t_n] (1 when w is empty) and
    per = −x[n, t_n]·w_y, both 0 where t_n is ignore_index (targets checked in range);
    returns max |per| (NaN if one is NaN)."""
    top = type(x[0, 0])(0.0)
    for i in range(t.size):
        c = t[i]
        if c == ignore_index:
            w_y[i] = per[i] = 0
        else:
            w_y[i] = w[c] if w.size else 1
            per[i] = -(x[i, c] * w_y[i])
            top = max_nan(top, abs(per[i]))
    return top


@_kernels.kernel
def _nll_vjp_rows(safe, a, dx):  # pragma: no cover - compiled
    """nll_loss's gradient on (N, C): 0, and 0 − a_n at the target, row by row."""
    for i in prange(dx.shape[0]):
        di = dx[i]
        di[:] = 0
        di[safe[i]] = type(a[i])(0.0) - a[i]


def _gather(a: np.ndarray, t: np.ndarray) -> np.ndarray:
    """a[n, t[n, ...], ...] for a (N, C, d...) array and (N, d...) class indices."""
    return np.take_along_axis(a, t[:, None], axis=1)[:, 0]


def _log_softmax(x: np.ndarray, o: Any) -> np.ndarray:
    """log softmax over axis 1, stable: x − m − log Σ e^{x−m} with m the row max.

    A row holding NaN or +inf, or only −inf, is NaN (torch); −inf entries stay −inf.
    """
    m = x.max(axis=1, keepdims=True)
    m[~np.isfinite(m)] = np.nan  # those rows are NaN, quietly
    z = o.add(x, -m)  # ≤ 0 (or −inf, NaN): e^z cannot overflow
    lse = np.log(np.exp(z).sum(axis=1, keepdims=True, dtype=z.dtype))  # sum ≥ 1
    z -= lse
    return z


def _target_weights(t, ignored, w, dtype):
    """(safe indices, w[y_n] with 0 where ignored, Σ of those as a Python float)."""
    safe = np.where(ignored, 0, t)
    w_y = (~ignored).astype(dtype) if w is None else np.where(ignored, 0, w[safe])
    total = float(_ops_for(dtype, w_y).sum(w_y))  # the weighted mean's divisor
    return safe, w_y, total


def _ce_forward(x, t, *, prob, weight, ignore_index, reduction, label_smoothing, logits):
    """Shared by cross_entropy (logits=True) and nll_loss (input already log-probabilities)."""
    dtype = x.dtype
    squeeze = x.ndim == 1
    x, t = _class_views(x, t, prob)
    n_classes = x.shape[1]
    w = _weight(weight, n_classes, dtype)
    eps = label_smoothing
    if prob:
        o = _ops_for(dtype, x, t)
        logp = _log_softmax(x, o) if logits else x
        y = t
        if eps > 0:
            y = o.add(o.mul(t, 1.0 - eps), eps / n_classes)
        coef = y if w is None else o.mul(y, w.reshape((-1,) + (1,) * (x.ndim - 2)))
        per = -o.sum(o.mul(logp, coef), axis=1)
        if squeeze:
            per = per[0]
        if reduction == "mean" and x.size == 0:
            return np.full((), np.nan, dtype)
        return _safe.reduce(per, reduction, tame=o is PLAIN)

    if not logits and _rows_eligible(x, exact=True):
        # nll_loss on (N, C): picks, weights and ignored targets in one pass over N
        per, w_y = np.empty(len(x), dtype), np.empty(len(x), dtype)
        no_w = np.empty(0, dtype)
        top = _kernels.launch(_nll_rows, x, t, ignore_index, no_w if w is None else w, per, w_y)
        # as _target_weights sums, but w_y in {0, 1} needs no check
        w_total = float(w_y.sum(dtype=dtype) if w is None else _ops_for(dtype, w_y).sum(w_y))
        tame = top <= _safe.bound(dtype, per.size)  # reduce's own test, done by the kernel
        return _safe.reduce(per[0] if squeeze else per, reduction, tame=tame, divisor=w_total)
    ignored = t == ignore_index
    safe, w_y, w_total = _target_weights(t, ignored, w, dtype)
    cw = None if w is None else w.reshape((-1,) + (1,) * (x.ndim - 2))
    fast = logits and eps == 0
    per = _ce_rows_call(x, safe, w_y) if fast and _rows_eligible(x, w) else None
    m = _tame_row_max(x, w) if fast and per is None else None
    if per is not None:  # the fast path below, fused
        o: Any = PLAIN
    elif not logits and eps == 0 and n_classes:
        # nll_loss: only the N picked log-probabilities matter (and only they are checked)
        picked = _gather(x, safe)
        o = _ops_for(dtype, picked, w_y)
        per = np.negative(o.mul(picked, w_y))
        per[ignored] = 0  # w_y is 0 there, but an inf pick would make it NaN
    elif m is not None:
        # Fast path: −log q_y = m + log Σ e^{x−m} − x_y; the full log-softmax is never built.
        o = PLAIN
        e = np.subtract(x, m)
        np.exp(e, out=e)
        per = np.log(e.sum(axis=1, dtype=dtype))
        per += m[:, 0]
        per -= _gather(x, safe)
        per *= w_y  # also zeroes the ignored targets
    else:
        o = _ops_for(dtype, x, w)
        if n_classes == 0:  # every target is ignored (checked): nothing to add
            logp = x
            per = np.zeros(t.shape, dtype)
        else:
            logp = _log_softmax(x, o) if logits else x
            per = -o.mul(_gather(logp, safe), w_y)
            per[ignored] = 0
        if eps > 0:
            smooth = -o.sum(logp if cw is None else o.mul(logp, cw), axis=1)
            smooth[ignored] = 0
            per = o.add(o.mul(per, 1.0 - eps), o.mul(smooth, eps / n_classes))
    if squeeze:
        per = per[0]
    return _safe.reduce(per, reduction, tame=o is PLAIN, divisor=w_total)


def _ce_vjp(g, x, t, *, prob, weight, ignore_index, reduction, label_smoothing, logits):
    """∂/∂x of the per-sample loss −Σ_c b_c log q_c: G·(q·Σb − b) (logits), −G·b (log-probs)."""
    dtype = x.dtype
    shape = x.shape
    x, t = _class_views(x, t, prob)
    n_classes = x.shape[1]
    w = _weight(weight, n_classes, dtype)
    eps = label_smoothing
    cshape = (-1,) + (1,) * (x.ndim - 2)
    out_shape = x.shape[:1] + x.shape[2:]
    g = np.asarray(g)
    if prob:
        o = _ops_for(dtype, x, t, g)
        G = _safe.reduce_vjp(
            g.reshape(out_shape) if reduction == "none" else g, out_shape, reduction
        )
        if reduction == "mean" and x.size == 0:
            G = np.zeros(out_shape, dtype)
        b = t if eps == 0 else o.add(o.mul(t, 1.0 - eps), eps / n_classes)
        if w is not None:
            b = o.mul(b, w.reshape(cshape))
        gb = o.mul(b, G[:, None])
        if not logits:
            return (-gb).reshape(shape)
        q = np.exp(_log_softmax(x, o))
        dx = o.add(o.mul(q, o.sum(gb, axis=1, keepdims=True)), -gb)
        return dx.reshape(shape)

    ignored = t == ignore_index
    safe, w_y, w_total = _target_weights(t, ignored, w, dtype)
    if n_classes == 0:
        return np.zeros(shape, dtype)
    if reduction == "none":
        G = g.reshape(out_shape)
    elif reduction == "sum":
        G = np.broadcast_to(g, out_shape)
    elif w_total == 0:  # every target ignored: no gradient; weights summing to 0: NaN
        G = np.full(out_shape, 0.0 if ignored.all() else np.nan, dtype)
    else:
        G = np.broadcast_to(_ratio(g, w_total, dtype), out_shape)
    if eps == 0 and _rows_eligible(x, *((w, g) if logits else ()), exact=not logits):
        # (N, C): the paths below fused; a = G·w_y as they round it, never warning
        dx = _ce_vjp_rows_call(x, safe, _safe.product(G, w_y), logits)
        if dx is not None:
            return dx.reshape(shape)
    m = _tame_row_max(x, w, g) if logits else None
    # nll_loss's gradient −G·w_y never looks at x
    o = PLAIN if m is not None or (not logits and _tame(dtype, w, g)) else QUIET
    # Per-row coefficients: b = a·onehot(y) + s·w, a = (1 − ε)·G·w_y, s = (ε/C)·G·[kept].
    a = o.mul(G, w_y)
    if eps > 0:
        a = o.mul(a, 1.0 - eps)
        s = o.mul(np.where(ignored, 0, G).astype(dtype), eps / n_classes)
        cw = np.ones(n_classes, dtype) if w is None else w
    if not logits:  # ∂/∂x = −b
        dx = np.zeros(x.shape, dtype)
    else:  # ∂/∂x = q·Σb − b, q = softmax(x)
        total = a if eps == 0 else o.add(a, o.mul(s, float(o.sum(cw))))
        if m is not None:  # e^{x−m}·(Σb / Σ e^{x−m}): softmax and its scale in one pass
            dx = np.subtract(x, m)
            np.exp(dx, out=dx)
            dx *= total[:, None] / dx.sum(axis=1, keepdims=True, dtype=dtype)
        else:
            dx = o.mul(np.exp(_log_softmax(x, o)), total[:, None])
    if eps > 0:
        dx = o.add(dx, -o.mul(s[:, None], cw.reshape((-1,) + (1,) * (x.ndim - 2))))
    picked = o.add(_gather(dx, safe), -a)
    np.put_along_axis(dx, safe[:, None], picked[:, None], axis=1)
    return dx.reshape(shape)


def _check_ce(name: str, params: dict[str, Any], inputs: tuple[np.ndarray, ...]) -> None:
    x, t = inputs
    prob = t.dtype.kind == "f"
    if t.dtype.kind == "b":
        raise InvalidArgumentError(
            "inputs[1] (target): expected int64 class indices or float class probabilities, "
            "got bool",
            field="inputs[1]",
        )
    if x.ndim > 0 and t.shape == x.shape and not prob:
        raise InvalidArgumentError(
            "inputs[1] (target): a target of the input's shape holds class probabilities and "
            f"must be float, got {t.dtype}",
            field="inputs[1]",
        )
    if prob and t.shape != x.shape:
        raise InvalidArgumentError(
            f"inputs[1] (target): float class probabilities must have the input's shape "
            f"{list(x.shape)}, got {list(t.shape)} (class indices must be int64)",
            field="inputs[1]",
        )
    _check_class_input(name, x, t, prob)
    n_classes = x.shape[0] if x.ndim == 1 else x.shape[1]
    if n_classes == 0 and x.ndim > 0:  # no class to normalise over (N may be 0)
        raise InvalidArgumentError(
            f"inputs[0] (input): {name} needs at least one class, got shape {list(x.shape)}",
            field="inputs[0]",
        )
    _weight(params["weight"], n_classes, x.dtype)
    if prob:
        if params.get("ignore_index", -100) >= 0:
            raise InvalidArgumentError(
                "parameters.ignore_index: not supported with class-probability targets "
                f"(expected a negative value, got {params['ignore_index']})",
                field="parameters.ignore_index",
            )
        if not np.isfinite(t).all():
            raise InvalidArgumentError(
                "inputs[1] (target): expected finite class probabilities", field="inputs[1]"
            )
        return
    ign = params["ignore_index"]
    _check_indices(t, 0, n_classes, 1, f"in [0, {n_classes}) or ignore_index={ign}", ign)


@loss(
    summary="Softmax cross-entropy between logits and class indices or class probabilities; "
    "the standard loss for single-label classification.",
    formula="ℓ_n = −Σ_c w_c·ỹ_nc·log softmax(x_n)_c, ỹ = one-hot(y_n) (or y) smoothed "
    "to (1−ε)ỹ + ε/C; index targets: 'mean' = Σ ℓ_n / Σ_n w[y_n] over non-ignored n",
    inputs=(
        Input("input", doc="logits: (C), (N, C) or (N, C, d1, ...)"),
        Input(
            "target",
            differentiable=False,
            kind="index_or_float",
            doc="int64 class indices (input's shape without C) or float probabilities "
            "(input's shape)",
        ),
    ),
    params=(
        WEIGHT,
        IGNORE_INDEX,
        REDUCTION,
        Param(
            "label_smoothing",
            "float",
            0.0,
            "ε: mixes the target with the uniform distribution, (1−ε)·y + ε/C.",
            minimum=0.0,
            maximum=1.0,
        ),
    ),
    output_range="[0, inf) for probability targets summing to 1 and non-negative weights",
    aliases=("ce", "softmax_cross_entropy"),
    notes=(
        "Index targets with weights: 'mean' divides by Σ w[y_n] over non-ignored targets, "
        "the label-smoothing term too; every target ignored gives NaN ('sum' gives 0).",
        "Probability targets: 'mean' divides by N·d1·…, never Σw; they are not checked to sum "
        "to 1, must be finite, and a non-negative ignore_index is refused (as torch).",
        "A −inf logit off the target costs nothing; −inf at the target gives inf; any −inf "
        "with label_smoothing > 0 gives inf; a 0 probability on a −inf logit gives NaN.",
        "A row holding NaN or +inf, or only −inf, gives NaN.",
        "Class weights must be finite (torch accepts any).",
    ),
)
def cross_entropy(input, target, *, weight, ignore_index, reduction, label_smoothing):
    return _ce_forward(
        input,
        target,
        prob=target.dtype.kind == "f",
        weight=weight,
        ignore_index=ignore_index,
        reduction=reduction,
        label_smoothing=label_smoothing,
        logits=True,
    )


@cross_entropy.defvjp
def _(g, y, input, target, *, weight, ignore_index, reduction, label_smoothing):
    return _ce_vjp(
        g,
        input,
        target,
        prob=target.dtype.kind == "f",
        weight=weight,
        ignore_index=ignore_index,
        reduction=reduction,
        label_smoothing=label_smoothing,
        logits=True,
    )


@cross_entropy.defcheck
def _(params, inputs):
    _check_ce("cross_entropy", params, inputs)


@loss(
    summary="Negative log-likelihood of class indices given log-probabilities; pair it with "
    "log_softmax (cross_entropy does both in one stable step).",
    formula="ℓ_n = −w[y_n]·x_{n, y_n}; 'mean' = Σ ℓ_n / Σ_n w[y_n] over non-ignored n",
    inputs=(
        Input("input", doc="log-probabilities: (C), (N, C) or (N, C, d1, ...)"),
        Input(
            "target",
            differentiable=False,
            kind="index",
            doc="int64 class indices: the input's shape without C",
        ),
    ),
    params=(WEIGHT, IGNORE_INDEX, REDUCTION),
    output_range="(-inf, inf); [0, inf) for log-probabilities and non-negative weights",
    notes=(
        "The input is not checked to be log-probabilities: nll_loss([5, 3], 0) = −5.",
        "Every target ignored gives NaN for 'mean' and 0 for 'sum'.",
    ),
)
def nll_loss(input, target, *, weight, ignore_index, reduction):
    return _ce_forward(
        input,
        target,
        prob=False,
        weight=weight,
        ignore_index=ignore_index,
        reduction=reduction,
        label_smoothing=0.0,
        logits=False,
    )


@nll_loss.defvjp
def _(g, y, input, target, *, weight, ignore_index, reduction):
    return _ce_vjp(
        g,
        input,
        target,
        prob=False,
        weight=weight,
        ignore_index=ignore_index,
        reduction=reduction,
        label_smoothing=0.0,
        logits=False,
    )


@nll_loss.defcheck
def _(params, inputs):
    x, t = inputs
    _check_class_input("nll_loss", x, t, False)
    n_classes = x.shape[0] if x.ndim == 1 else x.shape[1]
    _weight(params["weight"], n_classes, x.dtype)
    ign = params["ignore_index"]
    _check_indices(t, 0, n_classes, 1, f"in [0, {n_classes}) or ignore_index={ign}", ign)


# ---------------------------------------------------------------------------
# multi_margin_loss and multilabel_margin_loss
# ---------------------------------------------------------------------------


def _frames(name: str, x: np.ndarray) -> tuple[int, int]:
    """(N, C) of a multi-class margin input: (N, C), (C) or 0-d (one class), C > 0."""
    if x.ndim > 2 or (x.ndim >= 1 and x.shape[-1] == 0):
        raise InvalidArgumentError(
            f"inputs[0] (input): {name} expects a non-empty (C) vector or (N, C) matrix "
            f"(N may be 0), got shape {list(x.shape)}",
            field="inputs[0]",
        )
    return (x.shape[0] if x.ndim == 2 else 1), (x.shape[-1] if x.ndim else 1)


def _multi_margin_parts(x, t, p, margin, weight):
    """z_ni = margin − x_{n,y_n} + x_ni, the hinge mask z > 0 (i ≠ y_n), and the ops."""
    n, c = _frames("multi_margin_loss", x)
    dtype = x.dtype
    x2 = x.reshape(n, c)
    t2 = t.reshape(n)
    w = _weight(weight, c, dtype)
    o = _ops_for(dtype, x2, w, margin)
    xy = x2[np.arange(n), t2][:, None]
    z = o.add(o.add(_safe.scalar(margin, dtype), -xy), x2)
    active = z > 0  # torch: 0 at z = 0; NaN never counts
    active[np.arange(n), t2] = False
    return x2, t2, w, z, active, o


@loss(
    summary="Multi-class hinge loss on raw scores (Weston–Watkins): every wrong class should "
    "score at least `margin` below the right one.",
    formula="ℓ_n = Σ_{i≠y_n} w[y_n]·max(0, margin − x_{n,y_n} + x_{n,i})^p / C",
    inputs=(
        Input("input", doc="scores: (N, C), (C) or 0-d"),
        Input(
            "target",
            differentiable=False,
            kind="index",
            doc="int64 class indices: (N) (or () when N = 1), () for (C) input",
        ),
    ),
    params=(
        Param("p", "int", 1, "The hinge's exponent: 1 or 2.", minimum=1, maximum=2),
        Param("margin", "float", 1.0, "The score gap the right class should keep."),
        WEIGHT,
        REDUCTION,
    ),
    output_range="[0, inf)",
    kinks=(
        "z = margin − x_y + x_i = 0 (i ≠ y): gradient 0 (torch tests z > 0); "
        "with p = 2 the loss is C¹ there",
    ),
    notes=(
        "'mean' divides by N (one loss per sample); the weight of the target class w[y_n] "
        "scales the whole sample.",
        "A NaN score adds nothing (torch's z > 0 test is false for NaN).",
    ),
)
def multi_margin_loss(input, target, *, p, margin, weight, reduction):
    x2, t2, w, z, active, o = _multi_margin_parts(input, target, p, margin, weight)
    h = z if p == 1 else o.mul(z, z)
    h = np.where(active, h, 0)
    if w is not None:
        h = o.mul(h, w[t2][:, None])
    per = o.sum(h, axis=1) / x2.dtype.type(x2.shape[1])  # dividing by C ≥ 1 cannot overflow
    if reduction == "none" and target.ndim == 0:
        per = per.reshape(())
    return _safe.reduce(per, reduction, tame=o is PLAIN)


@multi_margin_loss.defvjp
def _(g, y, input, target, *, p, margin, weight, reduction):
    x2, t2, w, z, active, o = _multi_margin_parts(input, target, p, margin, weight)
    n, c = x2.shape
    G = _safe.reduce_vjp(np.asarray(g).reshape(-1) if reduction == "none" else g, (n,), reduction)
    coef = o.mul(G, x2.dtype.type(1.0 / c))
    if w is not None:
        coef = o.mul(coef, w[t2])
    slope = np.where(active, 1 if p == 1 else o.mul(z, 2.0), 0).astype(x2.dtype)
    gx = o.mul(slope, coef[:, None])
    gx[~active] = 0
    gx[np.arange(n), t2] = -o.sum(gx, axis=1)
    return gx.reshape(input.shape)


@multi_margin_loss.defkinks
def _(eps, input, target, *, p, margin, weight, reduction):
    x2, t2, _w, z, _active, _o = _multi_margin_parts(input, target, p, margin, weight)
    near = np.abs(z) <= 2 * eps
    near[np.arange(x2.shape[0]), t2] = False
    near[np.arange(x2.shape[0]), t2] = near.any(axis=1)
    return (near.reshape(input.shape),)


@multi_margin_loss.defcheck
def _(params, inputs):
    x, t = inputs
    n, c = _frames("multi_margin_loss", x)
    if t.ndim > 1 or t.size != n:
        raise InvalidArgumentError(
            f"inputs[1] (target): expected {n} class index(es) of shape [{n}] or [] for input "
            f"of shape {list(x.shape)}, got {list(t.shape)}",
            field="inputs[1]",
        )
    _check_indices(t, 0, c, 1, f"in [0, {c})")
    _weight(params["weight"], c, x.dtype)


def _multilabel_parts(x, t):
    """(x as (N, C), per-position validity of the target lists, target mask, targets)."""
    n, c = _frames("multilabel_margin_loss", x)
    x2 = x.reshape(n, c)
    t2 = t.reshape(n, c)
    listed = np.logical_and.accumulate(t2 >= 0, axis=1)  # positions before the first −1
    is_target = np.zeros((n, c), bool)
    rows = np.nonzero(listed)[0]
    is_target[rows, t2[listed]] = True
    return x2, t2, listed, is_target, _ops_for(x.dtype, x2)


def _multilabel_hinges(x2, t2, listed, is_target, o):
    """For each list position j: (rows using it, its target, z = 1 − x_{y_j} + x_i, mask)."""
    one = x2.dtype.type(1.0)
    for j in range(int(listed.sum(axis=1).max(initial=0))):
        rows = listed[:, j]
        yj = t2[rows, j]
        xr = x2[rows]
        z = o.add(o.add(one, -xr[np.arange(len(yj)), yj][:, None]), xr)
        yield rows, yj, z, (z > 0) & ~is_target[rows]  # torch: 0 at z = 0


@loss(
    summary="Multi-label hinge loss: every listed target class should score at least 1 above "
    "every class not listed.",
    formula="ℓ_n = Σ_{j∈T_n} Σ_{i∉T_n} max(0, 1 − (x_{n,y_j} − x_{n,i})) / C, "
    "T_n = the target indices before the first −1",
    inputs=(
        Input("input", doc="scores: (N, C), (C) or 0-d"),
        Input(
            "target",
            differentiable=False,
            kind="index",
            doc="int64, the input's shape: class indices padded with −1 after the last",
        ),
    ),
    params=(REDUCTION,),
    output_range="[0, inf)",
    kinks=("1 − (x_{y_j} − x_i) = 0: gradient 0 (torch tests z > 0)",),
    notes=(
        "[3, −1, 0, 1] means the targets {3}: everything after the first −1 is ignored.",
        "With 'none' a (C) input gives a 0-d loss; 'mean' divides by N.",
    ),
)
def multilabel_margin_loss(input, target, *, reduction):
    x2, t2, listed, is_target, o = _multilabel_parts(input, target)
    n, c = x2.shape
    per = np.zeros(n, x2.dtype)
    for rows, _, z, active in _multilabel_hinges(x2, t2, listed, is_target, o):
        per[rows] = o.add(per[rows], o.sum(np.where(active, z, 0), axis=1))
    per /= x2.dtype.type(c)
    if reduction == "none" and target.ndim <= 1:
        per = per.reshape(())
    return _safe.reduce(per, reduction, tame=o is PLAIN)


@multilabel_margin_loss.defvjp
def _(g, y, input, target, *, reduction):
    x2, t2, listed, is_target, o = _multilabel_parts(input, target)
    n, c = x2.shape
    G = _safe.reduce_vjp(np.asarray(g).reshape(-1) if reduction == "none" else g, (n,), reduction)
    G = o.mul(G, x2.dtype.type(1.0 / c))
    gx = np.zeros((n, c), x2.dtype)
    for rows, yj, _z, active in _multilabel_hinges(x2, t2, listed, is_target, o):
        part = np.where(active, G[rows][:, None], 0).astype(x2.dtype)
        gx[rows] = o.add(gx[rows], part)
        idx = np.nonzero(rows)[0]
        gx[idx, yj] = o.add(gx[idx, yj], -o.sum(part, axis=1))
    return gx.reshape(input.shape)


@multilabel_margin_loss.defkinks
def _(eps, input, target, *, reduction):
    x2, t2, listed, is_target, o = _multilabel_parts(input, target)
    near = np.zeros(x2.shape, bool)
    for rows, yj, z, _ in _multilabel_hinges(x2, t2, listed, is_target, o):
        close = (np.abs(z) <= 2 * eps) & ~is_target[rows]
        near[rows] |= close
        idx = np.nonzero(rows)[0]
        near[idx, yj] |= close.any(axis=1)
    return (near.reshape(input.shape),)


@multilabel_margin_loss.defcheck
def _(params, inputs):
    x, t = inputs
    _frames("multilabel_margin_loss", x)
    if t.shape != x.shape:
        raise InvalidArgumentError(
            f"inputs[1] (target): expected the input's shape {list(x.shape)} (class indices "
            f"padded with -1), got {list(t.shape)}",
            field="inputs[1]",
        )
    c = x.shape[-1] if x.ndim else 1
    _check_indices(t, -1, c, 1, f"in [0, {c}) or -1 (end of list)")


# ---------------------------------------------------------------------------
# margin_ranking_loss
# ---------------------------------------------------------------------------


def _ranking_z(x1, x2, t, margin):
    o = _ops_for(x1.dtype, x1, x2, t, margin)
    return o.add(o.mul(-t, o.add(x1, -x2)), _safe.scalar(margin, x1.dtype)), o


@loss(
    summary="Pairwise ranking hinge: input1 should beat input2 by `margin` where target is 1, "
    "and lose where it is −1.",
    formula="ℓ = max(0, −y·(x1 − x2) + margin)",
    inputs=(
        Input("input1"),
        Input("input2"),
        Input("target", differentiable=False, doc="±1, the shape of input1"),
    ),
    params=(Param("margin", "float", 0.0, "The gap the better input should keep."), REDUCTION),
    output_range="[0, inf)",
    kinks=(
        "z = −y·(x1 − x2) + margin = 0: full gradient, ∂x1 = −y, ∂x2 = y "
        "(torch's clamp_min passes it)",
    ),
    notes=("input1, input2 and target must have identical shapes (no broadcasting).",),
)
def margin_ranking_loss(input1, input2, target, *, margin, reduction):
    flat = _flat_if_eligible(input1, input2, target)
    if flat is not None:
        per = np.empty_like(input1)
        m = _safe.scalar(margin, input1.dtype)[()]
        limit = _safe.bound(input1.dtype, per.size)  # reduce's tame test, done by the kernel
        odd, wild = _kernels.launch(_ranking_loss, *flat, m, limit, per.reshape(-1))
        if not odd:
            return _safe.reduce(per, reduction, tame=not wild)
    z, o = _ranking_z(input1, input2, target, margin)
    # np.maximum keeps NaN, as clamp_min
    return _safe.reduce(np.maximum(z, 0), reduction, tame=o is PLAIN)


@margin_ranking_loss.defvjp
def _(g, y, input1, input2, target, *, margin, reduction):
    flat = _flat_if_eligible(input1, input2, target)
    if flat is not None:
        d1, d2 = np.empty_like(input1), np.empty_like(input1)
        gk = _per_sample(g, input1.shape, reduction).astype(d1.dtype, copy=False)
        m = _safe.scalar(margin, input1.dtype)[()]
        if not _kernels.launch(_ranking_vjp, gk, *flat, m, d1.reshape(-1), d2.reshape(-1)):
            return d1, d2
    z, o = _ranking_z(input1, input2, target, margin)
    G = np.where(z >= 0, _safe.reduce_vjp(g, z.shape, reduction), 0).astype(z.dtype)
    d1 = o.mul(G, -target)
    return d1, -d1


def _per_sample(g: np.ndarray, shape: tuple[int, ...], reduction: str) -> np.ndarray:
    """For a kernel, the upstream gradient of the per-sample losses (of ``shape``) as
    ``_safe.reduce_vjp`` spreads it, flat: one value each ('none'), or one for all."""
    G = _safe.reduce_vjp(g, shape, reduction)
    return np.ravel(G) if reduction == "none" else G[(0,) * G.ndim].reshape(1)


def _flat_if_eligible(*arrays: np.ndarray) -> list[np.ndarray] | None:
    """The arrays flattened when an elementwise loss call should take its kernels
    (float32 or float64: they are exact, large, C-contiguous); else None."""
    if arrays[0].size == 0 or not _kernels.eligible(*arrays, dtypes=(np.float32, np.float64)):
        return None
    return [a.reshape(-1) for a in arrays]


@_kernels.inline
def _ranking_kernel_z(x1, x2, t, margin):  # pragma: no cover - compiled
    """(z, odd) = (−t·(x1 − x2) + margin, 1 if t is not ±1 or 0). For those t, −t·(x1 − x2)
    is exact, so that a fused multiply-add rounds z as the NumPy formula does."""
    return -t * (x1 - x2) + margin, 0 if (t == 1 or t == -1 or t == 0) else 1


@_kernels.kernel
def _ranking_loss(x1, x2, t, margin, limit, per):  # pragma: no cover - compiled
    """per = max(z, 0) (NaN kept; +0 at z = −0, as np.maximum); returns the number of
    odd targets (for which the caller takes NumPy) and of losses NaN or beyond
    ``limit`` (not tame)."""
    odd = wild = 0
    for i in prange(x1.size):
        z, bad = _ranking_kernel_z(x1[i], x2[i], t[i], margin)
        v = z if (z > 0 or z != z) else type(z)(0.0)
        per[i] = v
        odd += bad
        wild += 0 if v <= limit else 1
    return odd, wild


@_kernels.kernel
def _ranking_vjp(g, x1, x2, t, margin, d1, d2):  # pragma: no cover - compiled
    """d1 = G·(−t), G = g where z >= 0 and 0 elsewhere (g: one value per element, or
    one for all), d2 = −d1; returns the number of odd targets (see ``_ranking_loss``)."""
    one = g.size == 1
    odd = 0
    for i in prange(x1.size):
        ti = t[i]
        z, bad = _ranking_kernel_z(x1[i], x2[i], ti, margin)
        G = (g[0] if one else g[i]) if z >= 0 else type(z)(0.0)
        v = G * -ti
        d1[i] = v
        d2[i] = -v
        odd += bad
    return odd


@margin_ranking_loss.defkinks
def _(eps, input1, input2, target, *, margin, reduction):
    z, _o = _ranking_z(input1, input2, target, margin)
    near = np.abs(z) <= 2 * eps * np.maximum(np.abs(target), 1)
    return near, near.copy()


@margin_ranking_loss.defcheck
def _(params, inputs):
    _ops.same_shape(margin_ranking_loss, *inputs)


# ---------------------------------------------------------------------------
# cosine_embedding_loss
# ---------------------------------------------------------------------------

_COS_EPS = 1e-12  # torch's EPSILON inside the square root


def _cos_parts(x1, x2):
    """cos and the pieces of its gradient, rows along the last axis (broadcast inputs).

    Finite rows too large to square are scaled by a power of two first: cos does not
    change (1e-12 is negligible beside their squared norms) and the gradient scales back.
    Rows holding NaN or ±inf give NaN, as torch's inf/inf.
    """
    dtype = x1.dtype
    a, b = np.broadcast_arrays(x1, x2)
    if _tame(dtype, a, b):
        sa = sb = np.zeros((*a.shape[:-1], 1), np.int64)
        bad = None
    else:
        bad = ~(np.isfinite(a).all(axis=-1) & np.isfinite(b).all(axis=-1))
        a = np.where(bad[..., None], 0, a)
        b = np.where(bad[..., None], 0, b)
        keep = np.finfo(dtype).maxexp // 4

        def scale(v):
            top = np.frexp(v)[1].max(axis=-1, keepdims=True, initial=0).astype(np.int64)
            return np.maximum(top - keep, 0)

        sa, sb = scale(a), scale(b)
        a, b = np.ldexp(a, -sa), np.ldexp(b, -sb)
    prod = np.einsum("...i,...i->...", a, b)
    ms1 = np.einsum("...i,...i->...", a, a) + dtype.type(_COS_EPS)
    ms2 = np.einsum("...i,...i->...", b, b) + dtype.type(_COS_EPS)
    denom = np.sqrt(ms1) * np.sqrt(ms2)  # not √(ms1·ms2): the product could overflow
    cos = prod / denom
    if bad is not None:
        cos[bad] = np.nan
    return cos, a, b, ms1, ms2, denom, sa, sb, bad


def _cos_dloss(cos, target, margin):
    """∂ℓ/∂cos: −1 where y = 1, 1[cos ≥ margin] where y = −1 (clamp_min passes at 0), else 0."""
    return np.where(target == 1, -1, np.where((target == -1) & (cos >= margin), 1, 0))


@loss(
    summary="Embedding similarity loss: pulls pairs with target 1 to cosine 1 and pushes pairs "
    "with target −1 below cosine `margin`.",
    formula="ℓ = 1 − cos(x1, x2) if y = 1; max(0, cos(x1, x2) − margin) if y = −1; "
    "cos = x1·x2 / √((‖x1‖² + 1e−12)(‖x2‖² + 1e−12))",
    inputs=(
        Input("input1", doc="(N, D) or (D)"),
        Input("input2", doc="(N, D) or (D)"),
        Input("target", differentiable=False, doc="±1: (N), or () for (D) inputs"),
    ),
    params=(
        Param(
            "margin",
            "float",
            0.0,
            "The cosine below which a negative pair costs nothing (−1 to 1; 0 to 0.5 is typical).",
        ),
        REDUCTION,
    ),
    output_range="[0, 2]",
    kinks=("y = −1 and cos = margin: full gradient ∂cos (torch's clamp_min passes it)",),
    notes=(
        "A zero vector gives cos = 0 and, through the 1e−12, a gradient of about 1e6.",
        "A target other than ±1 gives loss 0.",
        "Rows holding NaN or ±inf give NaN (as torch).",
    ),
)
def cosine_embedding_loss(input1, input2, target, *, margin, reduction):
    if _pairs_eligible((input1, input2), target):
        per = np.empty_like(target)
        m, limit = _safe.scalar(margin, per.dtype)[()], _limit(per.dtype, input1.size)
        if not _kernels.launch(_cosine_rows, input1, input2, target, m, limit, per):
            return _safe.reduce(per, reduction)
    cos = _cos_parts(input1, input2)[0]
    o = _ops_for(cos.dtype, cos, margin)
    neg = np.maximum(o.add(cos, _safe.scalar(-margin, cos.dtype)), 0)
    per = np.where(target == 1, 1 - cos, np.where(target == -1, neg, 0)).astype(cos.dtype)
    return _safe.reduce(per, reduction, tame=o is PLAIN)


@cosine_embedding_loss.defvjp
def _(g, y, input1, input2, target, *, margin, reduction):
    if _pairs_eligible((input1, input2), target):
        d1, d2 = np.empty_like(input1), np.empty_like(input2)
        gk = _per_sample(g, target.shape, reduction)
        m, limit = _safe.scalar(margin, d1.dtype)[()], _limit(d1.dtype, input1.size)
        if not _kernels.launch(_cosine_vjp_rows, gk, input1, input2, target, m, limit, d1, d2):
            return d1, d2
    cos, a, b, ms1, ms2, denom, sa, sb, bad = _cos_parts(input1, input2)
    dl = _cos_dloss(cos, target, margin).astype(cos.dtype)
    G = np.where(dl != 0, _safe.reduce_vjp(g, cos.shape, reduction) * dl, 0).astype(cos.dtype)
    if bad is not None:
        G = np.where(bad & (dl != 0), np.nan, G)  # a NaN/inf row's gradient is NaN
    Gd = G / denom
    Gc = G * cos
    # ∂cos/∂x1 = x2/denom − cos·x1/‖x1‖² (with the eps), on the scaled rows.
    d1 = Gd[..., None] * b
    d1 -= (Gc / ms1)[..., None] * a
    d2 = Gd[..., None] * a
    d2 -= (Gc / ms2)[..., None] * b
    if bad is not None:  # the rows were scaled by 2^-s: scale their gradients back
        d1, d2 = np.ldexp(d1, -sa), np.ldexp(d2, -sb)
    return _ops.unbroadcast(d1, input1.shape), _ops.unbroadcast(d2, input2.shape)


@cosine_embedding_loss.defkinks
def _(eps, input1, input2, target, *, margin, reduction):
    cos, a, b, ms1, ms2, denom, sa, sb, _bad = _cos_parts(input1, input2)
    # How far one eps step in every coordinate can move cos: ‖∂cos/∂x1‖₁ + ‖∂cos/∂x2‖₁.
    g1 = np.abs(np.ldexp(b / denom[..., None] - (cos / ms1)[..., None] * a, -sa)).sum(-1)
    g2 = np.abs(np.ldexp(a / denom[..., None] - (cos / ms2)[..., None] * b, -sb)).sum(-1)
    row = (target == -1) & (np.abs(cos - margin) <= 2 * eps * (g1 + g2))
    full = np.broadcast_to(row[..., None], np.broadcast_shapes(input1.shape, input2.shape))
    return _any_to(full, input1.shape), _any_to(full, input2.shape)


@cosine_embedding_loss.defcheck
def _(params, inputs):
    x1, x2, t = inputs
    if t.ndim not in (0, 1):
        raise InvalidArgumentError(
            f"inputs[2] (target): expected a 0-d or 1-d target, got shape {list(t.shape)}",
            field="inputs[2]",
        )
    want = t.ndim + 1
    for k, x in enumerate((x1, x2)):
        if x.ndim != want:
            raise InvalidArgumentError(
                f"inputs[{k}] ({('input1', 'input2')[k]}): a {t.ndim}-d target expects "
                f"{want}-d inputs, got shape {list(x.shape)}",
                field=f"inputs[{k}]",
            )
    try:
        shape = np.broadcast_shapes(x1.shape, x2.shape)
    except ValueError:
        raise InvalidArgumentError(
            f"inputs[1] (input2): shape {list(x2.shape)} does not broadcast with input1's "
            f"{list(x1.shape)}",
            field="inputs[1]",
        ) from None
    if t.shape != shape[:-1]:
        raise InvalidArgumentError(
            f"inputs[2] (target): expected shape {list(shape[:-1])} (one per pair), "
            f"got {list(t.shape)}",
            field="inputs[2]",
        )


def _pairs_eligible(rows: tuple[np.ndarray, ...], target: np.ndarray | None = None) -> bool:
    """Whether an embedding loss call on (N, D) ``rows`` (and an (N) target) should
    take the row kernels: float32, large, C-contiguous, D > 0, no broadcasting."""
    x = rows[0]
    return (
        x.ndim == 2
        and x.size > 0
        and all(a.shape == x.shape for a in rows)
        and (target is None or target.shape == x.shape[:1])
        and _kernels.eligible(*rows, *(() if target is None else (target,)))
    )


@_kernels.inline
def _cos_row(a, b, limit, buf):  # pragma: no cover - compiled
    """(cos, ‖a‖² + eps, ‖b‖² + eps, denom, wild) of one pair of rows, rounded as
    ``_cos_parts`` rounds its tame rows (the three sums in float64); ``wild`` counts
    the entries beyond ``limit`` or not finite (then the caller takes NumPy)."""
    wild = 0
    for j in range(a.size):
        wild += 0 if (abs(a[j]) <= limit and abs(b[j]) <= limit) else 1
    prod = f32(row_dot(a, b, buf))
    ms1 = f32(row_dot(a, a, buf)) + f32(_COS_EPS)
    ms2 = f32(row_dot(b, b, buf)) + f32(_COS_EPS)
    denom = math.sqrt(ms1) * math.sqrt(ms2)
    return prod / denom, ms1, ms2, denom, wild


@_kernels.kernel
def _cosine_rows(x1, x2, t, margin, limit, per):  # pragma: no cover - compiled
    """Each row's loss: 1 − cos (t = 1), max(cos − margin, 0) (t = −1), else 0;
    returns the number of entries beyond ``limit`` (not tame)."""
    rows, n = x1.shape
    wild = 0
    for task in prange(row_tasks(rows, n)):
        buf = np.empty(n, np.float64)
        first, last = task_rows(task, rows, n)
        for i in range(first, last):
            cos, _ms1, _ms2, _denom, bad = _cos_row(x1[i], x2[i], limit, buf)
            wild += bad
            neg = cos - margin
            neg = neg if (neg > 0 or neg != neg) else f32(0.0)  # np.maximum(neg, 0)
            per[i] = f32(1.0) - cos if t[i] == 1 else (neg if t[i] == -1 else f32(0.0))
    return wild


@_kernels.kernel
def _cosine_vjp_rows(g, x1, x2, t, margin, limit, d1, d2):  # pragma: no cover - compiled
    """G = ∂ℓ/∂cos·g (g: one value per row, or one for all), then d1 = G/denom·x2 −
    G·cos/‖x1‖²·x1 and d2 likewise, rounded as the NumPy VJP; returns the number of
    entries beyond ``limit`` (see ``_cosine_rows``)."""
    rows, n = x1.shape
    one = g.size == 1
    wild = 0
    for task in prange(row_tasks(rows, n)):
        buf = np.empty(n, np.float64)
        first, last = task_rows(task, rows, n)
        for i in range(first, last):
            a, b, da, db = x1[i], x2[i], d1[i], d2[i]
            cos, ms1, ms2, denom, bad = _cos_row(a, b, limit, buf)
            wild += bad
            gi = g[0] if one else g[i]
            if t[i] == 1:
                G = -gi
            elif t[i] == -1 and cos >= margin:
                G = gi
            else:
                G = f32(0.0)
            gd, c1, c2 = G / denom, G * cos / ms1, G * cos / ms2
            for j in range(n):
                da[j] = gd * b[j] - c1 * a[j]
                db[j] = gd * a[j] - c2 * b[j]
    return wild


def _any_to(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A broadcast boolean mask folded back onto ``shape`` with logical or."""
    extra = mask.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and mask.shape[extra + i] != 1
    )
    return np.any(mask, axis=axes, keepdims=True).reshape(shape) if axes else mask.copy()


# ---------------------------------------------------------------------------
# triplet_margin_loss
# ---------------------------------------------------------------------------


def _pdist(u, v, p, eps, o):
    """d = ‖w‖_p over the last axis, w = u − v + eps, both quiet under QUIET.

    The p-norm is computed as s·(Σ (|w|/s)^p)^(1/p) with s = max |w| (so nothing
    overflows) unless the rows are tame (PLAIN) and p is 1 or 2. Rows holding NaN give
    NaN, rows holding ±inf (and no NaN) inf.
    """
    dtype = u.dtype
    if o is PLAIN:
        w = np.asarray(np.subtract(u, v))
        w += dtype.type(eps)
    else:
        w = o.add(o.add(u, -v), _safe.scalar(eps, dtype))
    if w.ndim == 0:
        w = w[None]
    if o is PLAIN and p == 2:
        d = np.sqrt(np.vecdot(w, w))  # one pass, no w² temporary
    elif o is PLAIN and p == 1:
        d = np.abs(w).sum(axis=-1, dtype=dtype)
    else:
        finite = np.isfinite(w)
        rowfin = finite.all(axis=-1)
        absw = np.abs(np.where(finite, w, 0))
        s = absw.max(axis=-1, keepdims=True, initial=0)
        ratio = np.divide(absw, s, out=np.zeros_like(absw), where=s > 0)
        d = QUIET.mul(s[..., 0], np.power(np.power(ratio, p).sum(axis=-1, dtype=dtype), 1 / p))
        d = np.where(rowfin, d, np.where(np.isnan(w).any(axis=-1), np.nan, np.inf))
    return d.astype(dtype, copy=False), w


def _pgrad(d, w, p):
    """r = ∂d/∂w = sign(w)·(|w|/d)^(p−1): 0 where d = 0 (torch's norm backward), NaN for
    rows whose d is not finite."""
    with_rows = np.isfinite(d)[..., None] & (d[..., None] > 0)
    if p == 1:
        r = np.sign(w)
    else:
        ratio = np.divide(np.abs(w), d[..., None], out=np.zeros_like(w), where=with_rows)
        r = np.sign(w) * (ratio if p == 2 else np.power(ratio, p - 1))
    return np.where(np.isfinite(d)[..., None], r, np.nan).astype(w.dtype, copy=False)


def _pgrad_times(d, w, p, G, o):
    """r·G for per-row G (shape of d): for tame p = 2 rows, w·(G/d) in one pass when
    every G/d is finite (then |w·G/d| ≤ |G|); else through r = ∂d/∂w."""
    if o is PLAIN and p == 2:
        coef = QUIET.div(G, d)
        coef[d == 0] = 0
        if np.isfinite(coef).all():
            return w * coef[..., None]
    return o.mul(_pgrad(d, w, p), G[..., None])


def _triplet_parts(a, pos, neg, margin, p, eps, swap):
    o = _ops_for(a.dtype, a, pos, neg, eps)
    dp, wp = _pdist(a, pos, p, eps, o)
    dn, wn = _pdist(a, neg, p, eps, o)
    share_n = share_s = None
    ds = ws = None
    if swap:
        ds, ws = _pdist(pos, neg, p, eps, o)
        # torch.minimum: the smaller side takes the gradient, a tie splits it in half.
        share_n = np.where(dn < ds, 1.0, np.where(dn == ds, 0.5, 0.0))
        share_s = 1.0 - share_n
        dn_eff = np.minimum(dn, ds)
    else:
        dn_eff = dn
    oz = _ops_for(dp.dtype, dp, dn_eff, margin)
    z = oz.add(oz.add(_safe.scalar(margin, dp.dtype), dp), -dn_eff)
    return z, oz, o, (dp, wp), (dn, wn), (ds, ws), share_n, share_s


@loss(
    summary="Triplet loss for metric learning: the anchor should be nearer the positive than "
    "the negative by at least `margin`.",
    formula="ℓ = max(d(a, p) − d(a, n) + margin, 0), d(u, v) = ‖u − v + eps‖_p; with swap, "
    "d(a, n) ← min(d(a, n), d(p, n))",
    inputs=(Input("anchor", doc="(N, D) or (D)"), Input("positive"), Input("negative")),
    params=(
        Param("margin", "float", 1.0, "The distance gap to keep."),
        Param(
            "p",
            "float",
            2.0,
            "The norm degree of the pairwise distance.",
            minimum=1.0,
            maximum=math.inf,
            exclusive_maximum=True,
        ),
        Param("eps", "float", 1e-6, "Added to u − v inside the norm (keeps d(x, x) > 0)."),
        Param(
            "swap",
            "bool",
            False,
            "Use d(p, n) for the negative distance when it is smaller (Balntas et al.).",
        ),
        REDUCTION,
    ),
    output_range="[0, inf)",
    kinks=(
        "d(a, p) − d(a, n) + margin = 0: full gradient (torch's clamp_min passes it)",
        "swap and d(a, n) = d(p, n): the gradient splits in half (torch.minimum)",
        "p = 1 and a coordinate of u − v + eps = 0: gradient 0 there (sign(0))",
    ),
    notes=(
        "d(x, x) = D^(1/p)·eps, not 0, so the gradient stays finite when a = n.",
        "The three inputs must have the same number of dimensions and broadcast together; "
        "distances run over the last axis.",
        "p is limited to [1, inf) here (torch also takes other p).",
    ),
)
def triplet_margin_loss(anchor, positive, negative, *, margin, p, eps, swap, reduction):
    limit = _triplet_kernel_limit(anchor, positive, negative, p, eps, swap)
    if limit is not None:
        per = np.empty(len(anchor), anchor.dtype)
        m, e = (_safe.scalar(v, per.dtype)[()] for v in (margin, eps))
        if not _kernels.launch(_triplet_rows, anchor, positive, negative, m, e, limit, per):
            return _safe.reduce(per, reduction)
    z, oz, *_ = _triplet_parts(anchor, positive, negative, margin, p, eps, swap)
    per = np.maximum(z, 0)  # keeps NaN, as clamp_min
    if anchor.ndim == 0:
        per = per.reshape(())
    return _safe.reduce(per, reduction, tame=oz is PLAIN)


@triplet_margin_loss.defvjp
def _(g, y, anchor, positive, negative, *, margin, p, eps, swap, reduction):
    limit = _triplet_kernel_limit(anchor, positive, negative, p, eps, swap)
    gk = None if limit is None else _per_sample(g, anchor.shape[:1], reduction)
    if gk is not None and _safe.is_tame(_limit(gk.dtype, len(anchor)), gk):  # G's test below
        grads = tuple(np.empty_like(x) for x in (anchor, positive, negative))
        m, e = (_safe.scalar(v, anchor.dtype)[()] for v in (margin, eps))
        inputs = (anchor, positive, negative)
        if not _kernels.launch(_triplet_vjp_rows, gk, *inputs, m, e, limit, *grads):
            return grads
    z, _oz, o, (dp, wp), (dn, wn), (ds, ws), share_n, share_s = _triplet_parts(
        anchor, positive, negative, margin, p, eps, swap
    )
    g = np.asarray(g).reshape(z.shape) if reduction == "none" else g
    G = np.where(z >= 0, _safe.reduce_vjp(g, z.shape, reduction), 0).astype(z.dtype)
    o = o if _tame(z.dtype, G) else QUIET
    Gn = G if share_n is None else G * share_n.astype(z.dtype)
    grad_pos = _pgrad_times(dp, wp, p, G, o)
    grad_neg = _pgrad_times(dn, wn, p, Gn, o)
    da = o.add(grad_pos, -grad_neg)
    dpos = np.negative(grad_pos, out=grad_pos)
    dneg = grad_neg
    if swap:
        grad_swap = _pgrad_times(ds, ws, p, G * share_s.astype(z.dtype), o)
        dpos = o.add(dpos, -grad_swap)
        dneg = o.add(dneg, grad_swap)
    return tuple(
        _ops.unbroadcast(d.reshape(d.shape if x.ndim else ()), x.shape)
        for d, x in ((da, anchor), (dpos, positive), (dneg, negative))
    )


def _triplet_kernel_limit(a, pos, neg, p, eps, swap) -> float | None:
    """The tame limit of the inputs when a call should take the row kernels (p = 2, no
    swap, (N, D) float32, large, eps tame), else None."""
    if p != 2 or swap or not _pairs_eligible((a, pos, neg)):
        return None
    limit = _limit(a.dtype, a.size)
    return limit if abs(eps) <= limit else None


@_kernels.inline
def _triplet_row(a, pos, neg, margin, eps, limit, buf):  # pragma: no cover - compiled
    """(z, d(a, p), d(a, n), wild) of one triplet of rows, rounded as ``_pdist``'s tame
    p = 2 path (Σ w² in float64); ``wild`` counts the entries beyond ``limit``."""
    n = a.size
    wild = 0
    for j in range(n):
        w = a[j] - pos[j] + eps
        buf[j] = np.float64(w) * np.float64(w)
        wild += 0 if (abs(a[j]) <= limit and abs(pos[j]) <= limit and abs(neg[j]) <= limit) else 1
    dp = math.sqrt(f32(fold_sum(buf, n)))
    for j in range(n):
        w = a[j] - neg[j] + eps
        buf[j] = np.float64(w) * np.float64(w)
    dn = math.sqrt(f32(fold_sum(buf, n)))
    return margin + dp - dn, dp, dn, wild


@_kernels.kernel
def _triplet_rows(a, pos, neg, margin, eps, limit, per):  # pragma: no cover - compiled
    """Each row's loss max(d(a, p) − d(a, n) + margin, 0) (NaN kept); returns the
    number of entries beyond ``limit`` (not tame: the caller takes NumPy)."""
    rows, n = a.shape
    wild = 0
    for task in prange(row_tasks(rows, n)):
        buf = np.empty(n, np.float64)
        first, last = task_rows(task, rows, n)
        for i in range(first, last):
            z, _dp, _dn, bad = _triplet_row(a[i], pos[i], neg[i], margin, eps, limit, buf)
            wild += bad
            per[i] = z if (z > 0 or z != z) else f32(0.0)
    return wild


@_kernels.kernel
def _triplet_vjp_rows(g, a, pos, neg, margin, eps, limit, da, dpos, dneg):  # pragma: no cover
    """With G = g where z >= 0, else 0 (g: one value per row, or one for all), and
    w = u − v + eps: dpos = −w_p·(G/d_p), dneg = w_n·(G/d_n), da = −dpos − dneg, rounded
    as ``_pgrad_times``; returns the number of entries beyond ``limit`` and of rows with
    a G/d that is not finite (for which the NumPy VJP takes another formula)."""
    rows, n = a.shape
    one = g.size == 1
    odd = 0
    for task in prange(row_tasks(rows, n)):
        buf = np.empty(n, np.float64)
        first, last = task_rows(task, rows, n)
        for i in range(first, last):
            ai, pi, ni = a[i], pos[i], neg[i]
            z, dp, dn, bad = _triplet_row(ai, pi, ni, margin, eps, limit, buf)
            G = (g[0] if one else g[i]) if z >= 0 else f32(0.0)
            cp = G / dp if dp != 0 else f32(0.0)
            cn = G / dn if dn != 0 else f32(0.0)
            odd += bad + (0 if (cp - cp == 0 and cn - cn == 0) else 1)
            dai, dpi, dni = da[i], dpos[i], dneg[i]
            for j in range(n):  # few arrays a loop: more would not vectorize
                dpi[j] = -((ai[j] - pi[j] + eps) * cp)
                dni[j] = (ai[j] - ni[j] + eps) * cn
            for j in range(n):
                dai[j] = -dpi[j] - dni[j]
    return odd


@triplet_margin_loss.defkinks
def _triplet_kinks(step, anchor, positive, negative, *, margin, p, eps, swap, reduction):
    z, _oz, _o, (dp, wp), (dn, wn), (ds, ws), _share_n, _share_s = _triplet_parts(
        anchor, positive, negative, margin, p, eps, swap
    )
    rp, rn = _pgrad(dp, wp, p), _pgrad(dn, wn, p)
    reach = 2 * (np.abs(rp).sum(-1) + np.abs(rn).sum(-1))
    row = np.abs(z) <= step * reach
    pairs = [(dp, wp), (dn, wn)]
    if swap:
        rs = _pgrad(ds, ws, p)
        row |= np.abs(dn - ds) <= step * 2 * (np.abs(rn).sum(-1) + np.abs(rs).sum(-1))
        pairs.append((ds, ws))
    for _d, w in pairs:  # the norm's own kinks: w = 0 (any coordinate for p = 1)
        near0 = np.abs(w) <= 2 * step
        row |= near0.any(-1) if p == 1 else near0.all(-1)
    shape = np.broadcast_shapes(anchor.shape, positive.shape, negative.shape)
    full = np.broadcast_to(
        row.reshape(row.shape if len(shape) else ())[..., None] if len(shape) else row.reshape(()),
        shape,
    )
    return tuple(_any_to(full, x.shape) for x in (anchor, positive, negative))


@triplet_margin_loss.defcheck
def _(params, inputs):
    dims = [x.ndim for x in inputs]
    if len(set(dims)) != 1:
        k = next(i for i, d in enumerate(dims) if d != dims[0])
        raise InvalidArgumentError(
            f"inputs[{k}] ({triplet_margin_loss.inputs[k].name}): anchor, positive and "
            f"negative must have the same number of dimensions, got {dims}",
            field=f"inputs[{k}]",
        )
    try:
        np.broadcast_shapes(*(x.shape for x in inputs))
    except ValueError:
        raise InvalidArgumentError(
            "inputs[1] (positive): shapes "
            f"{[list(x.shape) for x in inputs]} do not broadcast together",
            field="inputs[1]",
        ) from None


# ---------------------------------------------------------------------------
# Second order (check_gradient(order=2))
# ---------------------------------------------------------------------------


def _ce_row_totals(g, x, t, *, prob, weight, ignore_index, reduction, label_smoothing):
    """T_n = G_n·Σ_c b_nc per row (N, d...): the seeded total weight of the row's
    −Σ_c b_c log q_c, which scales its Hessian diag(q) − q qᵀ."""
    dtype = x.dtype
    x, t = _class_views(x, t, prob)
    n_classes = x.shape[1]
    w = _weight(weight, n_classes, dtype)
    eps = label_smoothing
    out_shape = x.shape[:1] + x.shape[2:]
    g = np.asarray(g)
    if prob:
        G = _safe.reduce_vjp(
            g.reshape(out_shape) if reduction == "none" else g, out_shape, reduction
        )
        b = t if eps == 0 else QUIET.add(QUIET.mul(t, 1.0 - eps), eps / n_classes)
        if w is not None:
            b = QUIET.mul(b, w.reshape((-1,) + (1,) * (x.ndim - 2)))
        return QUIET.mul(G, QUIET.sum(b, axis=1))
    ignored = t == ignore_index
    _, w_y, w_total = _target_weights(t, ignored, w, dtype)
    if reduction == "none":
        G = g.reshape(out_shape)
    elif reduction == "sum":
        G = np.broadcast_to(g, out_shape)
    elif w_total == 0:
        G = np.full(out_shape, 0.0 if ignored.all() else np.nan, dtype)
    else:
        G = np.broadcast_to(_ratio(g, w_total, dtype), out_shape)
    total = QUIET.mul(w_y, 1.0 - eps)
    if eps > 0:
        cw = float(n_classes) if w is None else float(QUIET.sum(w))
        total = QUIET.add(total, np.where(ignored, 0.0, eps / n_classes * cw).astype(dtype))
    return QUIET.mul(G, total)


def _ce_vjp_vjp(w, g, x, t, *, logits, **kw):
    """h = Σ_n G_n·(q_n·Σb_n − b_n) is linear in g: ∂⟨h, w⟩/∂g is w contracted with the
    VJP of ones over the class axis (over everything for a scalar g); and
    ∂/∂x = T_n·q ⊙ (w − ⟨w, q⟩) (zero for nll_loss, which is linear in x)."""
    first = _ce_vjp(np.ones(np.shape(g), x.dtype), x, t, logits=logits, **kw)
    prod = QUIET.mul(w, first)
    g = np.asarray(g)
    dg = QUIET.sum(prod) if g.ndim == 0 else QUIET.sum(prod, axis=1)
    if not logits or x.size == 0:
        return dg, np.zeros(x.shape, x.dtype)
    totals = _ce_row_totals(g, x, t, **kw)
    xv, _ = _class_views(x, t, kw["prob"])
    wv = w.reshape(xv.shape)
    q = np.exp(_log_softmax(xv, QUIET))
    inner = QUIET.sum(QUIET.mul(wv, q), axis=1, keepdims=True)
    dx = QUIET.mul(QUIET.mul(q, QUIET.sub(wv, inner)), totals[:, None])
    return dg, dx.reshape(x.shape)


@cross_entropy.defvjpvjp
def _(w, g, y, input, target, *, weight, ignore_index, reduction, label_smoothing):
    return _ce_vjp_vjp(
        w,
        g,
        input,
        target,
        prob=target.dtype.kind == "f",
        weight=weight,
        ignore_index=ignore_index,
        reduction=reduction,
        label_smoothing=label_smoothing,
        logits=True,
    )


@nll_loss.defvjpvjp
def _(w, g, y, input, target, *, weight, ignore_index, reduction):
    return _ce_vjp_vjp(
        w,
        g,
        input,
        target,
        prob=False,
        weight=weight,
        ignore_index=ignore_index,
        reduction=reduction,
        label_smoothing=0.0,
        logits=False,
    )
