"""The gradient checker: a function's VJP, or the caller's gradients, against central
differences in float64. It serves both the CheckGradient RPC and the test suite.

    check_gradient(function, *inputs, grad_output=None, grads=None, eps=1e-6, atol=1e-5,
                   rtol=1e-3, mode="auto", seed=0, parameters=None, order=1,
                   deadline=None, **params)
        -> GradcheckReport

(``parameters`` carries function parameters whose names the checker uses itself, such
as gaussian_nll_loss's ``eps``; the CheckGradient RPC passes its parameter map there.)

For every differentiable input x_k and the upstream gradient v (``grad_output``, ones
when None) it compares
    analytic   a = VJP(v) for x_k, computed in the inputs' own dtype (what a user gets),
                   or the caller's gradient for x_k;
    numerical  n = vᵀ (f(x + eps·e) − f(x − eps·e)) / 2eps, with the inputs cast to
                   float64 and the forward run in float64 (an absolute step, as torch's).
Pass rule (torch's allclose, relative to the numerical value): |a − n| <= atol + rtol·|n|.

Modes
-----
full: n for every element of x_k, built with as few forward calls as the function's
    structure allows, tried in this order:
    1. All at once (``spec.elementwise`` and x_k has the output's shape): x_k ± eps
       everywhere, two forward calls, n = v ⊙ (f₊ − f₋) / 2eps. An input smaller than the
       output (prelu's weight) takes step 2 or 3: which output elements share one of its
       elements depends on the function (prelu aligns its weight with dim 1, not with
       NumPy's trailing axes), so the checker does not guess.
    2. Stacked: copies of the inputs, each with one element of x_k moved by +eps or −eps,
       either stacked along a new leading axis (a ``dim`` >= 0 shifted by one) or
       concatenated along axis 0 (the batch axis of per-sample losses); one forward call
       per chunk of copies (about 4M values each). A layout is trusted only once verified
       on each chunk: the unperturbed copy must reproduce f(x), and one more copy, moved
       by a random amount everywhere, its own forward call (softmax over the stack axis,
       a loss reducing over it, or cross-entropy reading (N, C) copies as (N, C, d) all
       fail this, even on symmetric data). Otherwise:
    3. One element at a time: two forward calls per element.
    A loss whose reduction is 'sum', 'mean' or 'batchmean' is differenced with
    reduction='none' and the upstream c·v (c = 1, 1/numel, 1/batch), after checking that
    the reduced value at x is that weighted sum (weighted cross-entropy's mean is not, and
    is then differenced as called, one element at a time).
fast: torch's fast gradcheck with the given v: per input one random direction u
    (uniform [0, 1), unit norm, from ``numpy.random.default_rng(seed)`` drawn in input
    order), n = ⟨v, (f(x + eps·u) − f(x − eps·u)) / 2eps⟩ against a = ⟨VJP(v), u⟩, two
    forward calls per input. atol is scaled by Σ|u|·Σ|v|, torch's ``_adjusted_atol``
    (the bound on |vᵀEu| for an error matrix E whose entries are at most atol).
auto: full when the differentiable inputs hold at most AUTO_FULL_ELEMENTS elements, or
    for an elementwise function whose differentiable inputs all have the output's shape
    (step 1 is two calls per input) up to AUTO_FULL_ELEMENTWISE; fast otherwise.

Diagnostics
-----------
- Kinks: ``spec.kink_mask(eps, *inputs_float64, **params)`` marks elements within eps of
  a kink; full mode leaves them out, fast mode zeroes u there. Counted in kink_elements.
- Domain: when a perturbed forward raises InvalidArgumentError (BCE at 0 ± eps), the
  input is marked skipped (and not passed) with the reason.
- Unresolvable steps: elements where x is not finite, or so large that x ± eps rounds
  (|x| >~ 4e7·eps), are left out like kinks, and noted.
- Non-finite values in f(x ± h) or in the analytic gradient: full mode leaves those
  elements out; fast mode zeroes u where the gradient is not finite and skips the input
  when f(x ± eps·u) is not. Each is noted. Equal infinities on both sides count as no
  change (jax's safe_sub), so an output that stays at inf does not spoil the check.
Order 2 (torch's gradgradcheck)
-------------------------------
``order=2`` checks the second-order VJP (``spec.vjp_vjp``) the same way: the function
checked is the VJP itself, h(g, x) = J(x)ᵀg, a function of the upstream gradient g and
the inputs (``second_order_spec``: its inputs are grad_output followed by the function's
inputs; its output is the VJP, the VJPs of several differentiable inputs flattened and
concatenated; its VJP is the analytic second order). g is ``grad_output``, uniform in
[-1, 1) when None (torch's gradgradcheck draws it the same way, unseeded); the upstream
w of h's output is uniform in [-1, 1) too (ones would hide errors: softmax's VJP of
ones is 0 for every x). Both come from ``numpy.random.default_rng([seed, 2])``. The
kinks left out are the function's and those of its first derivative
(``spec.kink_mask2``); h is linear in g, so g has none. Supplied gradients
(``grads``) are checked at order 1 only.

Deadline
--------
``deadline`` (a ``time.monotonic()`` value) makes the check stop with
DeadlineExceededError once it passes: it is checked before every forward call and
between inputs (one element at a time, a full check makes two calls per element). The
server passes each call's deadline; without one, the enclosing
``registry.deadline_scope`` (if any) applies.

No input makes the checker itself warn: differences are taken on finite values only and
magnitudes are bounded (numerical values beyond 1e100 count as non-finite).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from nnfunc.catalog.registry import (
    check_deadline,
    deadline_scope,
    lookup,
    prepare,
    value_and_grad,
)
from nnfunc.catalog.spec import FunctionSpec, Input
from nnfunc.errors import InvalidArgumentError

MODES = ("auto", "full", "fast")
ORDERS = (1, 2)
AUTO_FULL_ELEMENTS = 4096
AUTO_FULL_ELEMENTWISE = 1 << 20
_BATCH_VALUES = 1 << 22  # values per stacked forward call (32 MB of float64)
_LIMIT = 1e100  # bound on |numerical| and |grad_output|: products and sums stay finite
_TINY = float(np.finfo(np.float64).tiny)
_REDUCTION_WEIGHT = {
    "sum": lambda shape: 1.0,
    "mean": lambda shape: 1.0 / math.prod(shape),
    "batchmean": lambda shape: 1.0 / shape[0] if shape else 1.0,
}


@dataclass(frozen=True)
class InputReport:
    """The check of one differentiable input (the proto's InputCheck)."""

    name: str
    passed: bool
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0  # |a − n| / max(|a| + |n|, tiny)
    worst_index: tuple[int, ...] = ()  # empty in fast mode
    analytic: float = 0.0  # at the worst element, or ⟨VJP(v), u⟩ in fast mode
    numerical: float = 0.0  # at the worst element, or ⟨v, J u⟩ in fast mode
    checked_elements: int = 0
    kink_elements: int = 0
    skipped: str = ""  # why the input could not be checked


@dataclass(frozen=True)
class GradcheckReport:
    """The verdict for every differentiable input (the proto's CheckGradientResponse)."""

    function: str
    params: Mapping[str, Any]
    mode: str  # the mode used: "full" or "fast"
    eps: float
    atol: float
    rtol: float
    passed: bool
    inputs: tuple[InputReport, ...]
    checked_supplied: bool = False
    notes: tuple[str, ...] = field(default=())
    order: int = 1  # 2: the second-order VJP was checked (inputs[0] is grad_output)

    def __str__(self) -> str:
        order = f" order={self.order}" if self.order != 1 else ""
        lines = [
            f"gradcheck {self.function}{order} {dict(self.params)} mode={self.mode} "
            f"eps={self.eps:g} "
            f"atol={self.atol:g} rtol={self.rtol:g}: {'passed' if self.passed else 'FAILED'}"
        ]
        for r in self.inputs:
            verdict = (
                "passed" if r.passed else f"FAILED{' (' + r.skipped + ')' if r.skipped else ''}"
            )
            lines.append(
                f"  {r.name}: {verdict}; max |a-n| {r.max_abs_error:.3g}, max rel "
                f"{r.max_rel_error:.3g}, worst {r.worst_index}: analytic {r.analytic!r} vs "
                f"numerical {r.numerical!r}; {r.checked_elements} checked, "
                f"{r.kink_elements} at kinks"
            )
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


class _Domain(Exception):
    """A perturbed forward refused its input (InvalidArgumentError's message)."""


def check_gradient(
    function: str | FunctionSpec,
    *inputs: Any,
    grad_output: Any = None,
    grads: Sequence[Any] | np.ndarray | None = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    mode: str = "auto",
    seed: int = 0,
    parameters: Mapping[str, Any] | None = None,
    order: int = 1,
    deadline: float | None = None,
    **params: Any,
) -> GradcheckReport:
    """Check the VJP of every differentiable input (see the module docstring), or with
    ``order=2`` the second-order VJP (module docstring, "Order 2").

    The function's parameters come as keywords, or in ``parameters`` for names the
    checker itself uses (gaussian_nll_loss's and poisson_nll_loss's ``eps``).
    ``deadline``: a ``time.monotonic()`` value; past it the check stops with
    DeadlineExceededError (module docstring, "Deadline").
    """
    if deadline is not None:
        with deadline_scope(deadline):
            return check_gradient(
                function,
                *inputs,
                grad_output=grad_output,
                grads=grads,
                eps=eps,
                atol=atol,
                rtol=rtol,
                mode=mode,
                seed=seed,
                parameters=parameters,
                order=order,
                **params,
            )
    spec = lookup(function)
    params = {**(parameters or {}), **params}
    if isinstance(order, bool) or not isinstance(order, int | np.integer) or order not in ORDERS:
        raise InvalidArgumentError(f"order: expected 1 or 2, got {order!r}", field="order")
    if order == 2:
        return _check_order2(spec, inputs, grad_output, grads, eps, atol, rtol, mode, seed, params)
    # Bounded so that x ± eps and atol + rtol·|n| never overflow.
    eps = _setting("eps", eps, 1.0, positive=True)
    atol = _setting("atol", atol, 1e10)
    rtol = _setting("rtol", rtol, 1e10)
    if not isinstance(mode, str) or mode not in MODES:
        raise InvalidArgumentError(
            f"mode: expected one of {', '.join(map(repr, MODES))}, got {mode!r}", field="mode"
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidArgumentError(f"seed: expected a non-negative int, got {seed!r}", field="seed")

    user_arrays, user_params, _ = prepare(spec, inputs, params)  # raises for bad inputs
    xs, bound, _ = prepare(spec, _as_float64(spec, inputs), params)
    y = np.asarray(spec.forward(*xs, **bound), dtype=np.float64)
    v = _upstream(grad_output, y.shape)
    diff = [k for k, inp in enumerate(spec.inputs) if inp.differentiable]

    if grads is None:
        _, analytic = value_and_grad(spec, *inputs, grad_output=grad_output, **params)
    else:
        analytic = _supplied(spec, grads, [user_arrays[k].shape for k in diff])
    analytic = tuple(np.asarray(a, dtype=np.float64) for a in analytic)

    kinks = _kink_masks(spec, eps, xs, bound, diff)
    notes: list[str] = []
    if any(np.asarray(a).dtype == np.float16 for a in inputs):
        notes.append(
            "float16 inputs: the analytic side is the VJP computed in float32 and rounded "
            "to float16 (the catalog's dtype policy)"
        )
    problem = _Problem(spec, xs, bound, y, v, eps)
    used = _resolve_mode(mode, spec, [xs[k] for k in diff], y.shape)
    rng = np.random.default_rng(int(seed))
    reports = []
    for j, k in enumerate(diff):
        check_deadline()
        label = f"inputs[{k}] ({spec.inputs[k].name})"
        try:
            if used == "full":
                report = _check_full(problem, k, analytic[j], kinks[j], atol, rtol, label, notes)
            else:
                report = _check_fast(
                    problem, k, analytic[j], kinks[j], atol, rtol, rng, label, notes
                )
        except _Domain as exc:
            reason = f"a perturbed input left the function's domain: {exc}"
            notes.append(f"{label}: not checked: {reason}")
            report = InputReport(
                spec.inputs[k].name, False, kink_elements=int(kinks[j].sum()), skipped=reason
            )
        reports.append(report)
    return GradcheckReport(
        function=spec.name,
        params=user_params,
        mode=used,
        eps=eps,
        atol=atol,
        rtol=rtol,
        passed=all(r.passed for r in reports),
        inputs=tuple(reports),
        checked_supplied=grads is not None,
        notes=tuple(notes),
    )


# ---------------------------------------------------------------------------
# Order 2: the VJP as a function, checked like any other
# ---------------------------------------------------------------------------


def second_order_spec(function: str | FunctionSpec) -> FunctionSpec:
    """The unregistered spec of a function's VJP h(grad_output, *inputs) = J(x)ᵀg.

    Its inputs are grad_output (shaped like the function's output) then the function's
    inputs; its parameters and cross-parameter check are the function's; its output is
    the VJP (for several differentiable inputs, their VJPs flattened and concatenated);
    its VJP is the function's second-order VJP; its kinks are those of the function and
    of its first derivative. InvalidArgumentError naming "order" when the function has
    no second-order VJP.
    """
    spec = lookup(function)
    if spec.vjp is None or spec.vjp_vjp is None:
        raise InvalidArgumentError(
            f"order: {spec.name} has no second-order VJP, so only order=1 can be checked",
            field="order",
        )
    diff = [k for k, inp in enumerate(spec.inputs) if inp.differentiable]

    def shapes(xs):
        return [np.shape(xs[k]) for k in diff]

    def forward(g, *xs, **params):
        out = spec.vjp(g, spec.forward(*xs, **params), *xs, **params)
        return _joined(out if isinstance(out, tuple) else (out,), shapes(xs))

    def vjp(w, h, g, *xs, **params):
        ws = _split(w, shapes(xs))
        out = spec.vjp_vjp(ws[0] if len(ws) == 1 else ws, g, spec.forward(*xs, **params),
                           *xs, **params)  # fmt: skip
        return tuple(out)

    def check(params, inputs):
        if spec.check is not None:
            spec.check(params, tuple(inputs[1:]))

    def kink_mask(step, g, /, *xs, **params):
        masks = [np.zeros(np.shape(g), dtype=bool)]
        for j, k in enumerate(diff):
            near = np.zeros(np.shape(xs[k]), dtype=bool)
            for source in (spec.kink_mask, spec.kink_mask2):
                if source is not None:
                    near = near | np.asarray(source(step, *xs, **params)[j], dtype=bool)
            masks.append(near)
        return tuple(masks)

    return FunctionSpec(
        name=f"{spec.name}_vjp",
        kind=spec.kind,
        forward=forward,
        summary=f"The VJP of {spec.name} as a function of (grad_output, inputs).",
        formula="h(g, x) = J(x)ᵀg",
        inputs=(Input("grad_output"), *spec.inputs),
        params=spec.params,
        source=spec.source,
        elementwise=spec.elementwise and len(diff) == 1 and spec.kind == "activation",
        vjp=vjp,
        kink_mask=kink_mask,
        check=check,
    )


def _joined(grads: Sequence[np.ndarray], shapes: list[tuple[int, ...]]) -> np.ndarray:
    """One gradient as its input's shape; several flattened and concatenated."""
    full = [np.broadcast_to(np.asarray(a), s) for a, s in zip(grads, shapes, strict=True)]
    return np.array(full[0]) if len(full) == 1 else np.concatenate([a.ravel() for a in full])


def _split(w: np.ndarray, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """The inverse of _joined for the upstream w."""
    if len(shapes) == 1:
        return [np.asarray(w).reshape(shapes[0])]
    ends = np.cumsum([math.prod(s) for s in shapes])[:-1]
    return [part.reshape(s) for part, s in zip(np.split(w, ends), shapes, strict=True)]


def _check_order2(spec, inputs, grad_output, grads, eps, atol, rtol, mode, seed, params):
    derived = second_order_spec(spec)
    if grads is not None:
        raise InvalidArgumentError(
            "order: supplied gradients are checked at order 1 only; leave them out to "
            "check the second-order VJP",
            field="order",
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidArgumentError(f"seed: expected a non-negative int, got {seed!r}", field="seed")
    _, user_params, result = prepare(spec, inputs, params)  # errors name the user's fields
    xs, bound, _ = prepare(spec, _as_float64(spec, inputs), params)
    y = np.asarray(spec.forward(*xs, **bound))
    rng = np.random.default_rng([int(seed), 2])
    if grad_output is None:
        g = rng.uniform(-1.0, 1.0, y.shape)
    else:
        g = _upstream(grad_output, y.shape)
        if g.size and np.abs(g).max() > float(np.finfo(result).max):
            raise InvalidArgumentError(
                f"grad_output: expected magnitudes within the {result} range of the inputs",
                field="grad_output",
            )
    g = g.astype(result)
    diff = [k for k, inp in enumerate(spec.inputs) if inp.differentiable]
    sizes = [xs[k].shape for k in diff]
    w = rng.uniform(-1.0, 1.0, sizes[0] if len(sizes) == 1 else (sum(map(math.prod, sizes)),))
    report = check_gradient(
        derived,
        g,
        *inputs,
        grad_output=w,
        eps=eps,
        atol=atol,
        rtol=rtol,
        mode=mode,
        seed=seed,
        parameters=params,
    )
    note = (
        "order 2: the function checked is the VJP h(grad_output, inputs) = J(x)ᵀg; its "
        "inputs[0] is grad_output and its inputs[k + 1] the function's inputs[k]"
    )
    return replace(
        report, function=spec.name, params=user_params, order=2, notes=(note, *report.notes)
    )


# ---------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------


def _setting(name: str, value: Any, high: float, positive: bool = False) -> float:
    """A number in [0, high], or (0, high] when ``positive``."""
    ok = not isinstance(value, bool) and isinstance(value, int | float | np.integer | np.floating)
    number = float(value) if ok else math.nan
    if not ((number > 0 if positive else number >= 0) and number <= high):  # NaN fails
        raise InvalidArgumentError(
            f"{name}: expected a number in {'(' if positive else '['}0, {high:g}], got {value!r}",
            field=name,
        )
    return number


def _as_float64(spec: FunctionSpec, inputs: Sequence[Any]) -> list[Any]:
    """Real inputs cast to float64 (index inputs kept) for the numerical side."""
    out = []
    for value, inp in zip(inputs, spec.inputs, strict=False):
        arr = np.asarray(value)
        if arr.dtype.kind == "f" or (inp.kind == "float" and arr.dtype.kind in "iub"):
            arr = arr.astype(np.float64)
        out.append(arr)
    return out


def _upstream(grad_output: Any, shape: tuple[int, ...]) -> np.ndarray:
    """v in float64: ones by default; finite and bounded so that vᵀ·J stays finite."""
    if grad_output is None:
        return np.ones(shape)
    g = np.asarray(grad_output)
    if g.dtype.kind not in "fiub":
        raise InvalidArgumentError(
            f"grad_output: expected a real tensor, got dtype {g.dtype}", field="grad_output"
        )
    if g.shape != shape:
        raise InvalidArgumentError(
            f"grad_output: expected shape {list(shape)} (the output's), got {list(g.shape)}",
            field="grad_output",
        )
    g = g.astype(np.float64)
    if not np.all(np.isfinite(g)) or (g.size and np.abs(g).max() > _LIMIT):
        raise InvalidArgumentError(
            f"grad_output: expected finite values of magnitude <= {_LIMIT:g} "
            "(the checker compares finite numbers)",
            field="grad_output",
        )
    return g


def _supplied(
    spec: FunctionSpec, grads: Sequence[Any] | np.ndarray, shapes: list[tuple[int, ...]]
) -> tuple[np.ndarray, ...]:
    """The caller's gradients, one per differentiable input, each of that input's shape."""
    given = (grads,) if isinstance(grads, np.ndarray) else tuple(grads)
    names = ", ".join(i.name for i in spec.differentiable)
    if len(given) != len(shapes):
        k = min(len(given), len(shapes))
        raise InvalidArgumentError(
            f"gradients[{k}]: expected {len(shapes)} gradient(s), one per differentiable "
            f"input ({names}), got {len(given)}",
            field=f"gradients[{k}]",
        )
    out = []
    for k, (g, shape) in enumerate(zip(given, shapes, strict=True)):
        arr = np.asarray(g)
        if arr.dtype.kind not in "fiub":
            raise InvalidArgumentError(
                f"gradients[{k}]: expected a real tensor, got dtype {arr.dtype}",
                field=f"gradients[{k}]",
            )
        if arr.shape != shape:
            raise InvalidArgumentError(
                f"gradients[{k}]: expected shape {list(shape)} (the shape of "
                f"{spec.differentiable[k].name}), got {list(arr.shape)}",
                field=f"gradients[{k}]",
            )
        out.append(arr)
    return tuple(out)


def _kink_masks(
    spec: FunctionSpec, eps: float, xs: tuple[np.ndarray, ...], bound: dict, diff: list[int]
) -> list[np.ndarray]:
    masks = spec.kink_mask(eps, *xs, **bound) if spec.kink_mask is not None else None
    if masks is None:
        return [np.zeros(xs[k].shape, dtype=bool) for k in diff]
    return [
        np.broadcast_to(np.asarray(m, dtype=bool), xs[k].shape)
        for m, k in zip(masks, diff, strict=True)
    ]


def _resolve_mode(
    mode: str, spec: FunctionSpec, xs: list[np.ndarray], out_shape: tuple[int, ...]
) -> str:
    if mode != "auto":
        return mode
    total = sum(x.size for x in xs)
    if total <= AUTO_FULL_ELEMENTS:
        return "full"
    cheap = spec.elementwise and all(x.shape == out_shape for x in xs)
    return "full" if cheap and total <= AUTO_FULL_ELEMENTWISE else "fast"


# ---------------------------------------------------------------------------
# The float64 function being differenced
# ---------------------------------------------------------------------------


class _Problem:
    """The float64 inputs, the function as called (y, v) and the function differenced in
    full mode (``params``, ``base``, upstream ``w``): the unreduced loss when the
    reduction is a verified uniform weighted sum, else the function as called."""

    def __init__(self, spec, xs, bound, y, v, eps):
        self.spec, self.xs, self.bound, self.y, self.v, self.eps = spec, xs, bound, y, v, eps
        self.params, self.base, self.w = bound, y, v
        reduction = bound.get("reduction")
        if reduction not in _REDUCTION_WEIGHT or "none" not in spec.param("reduction").choices:
            return
        params = {**bound, "reduction": "none"}
        try:
            loss = self.forward(xs, params)
        except Exception:  # not a plain unreduced loss: difference the function as called
            return
        if y.ndim != 0 or loss.ndim == 0 or loss.size == 0 or not np.isfinite(y):
            return
        if not np.isfinite(loss).all() or np.abs(loss).max() > _LIMIT:
            return
        c = _REDUCTION_WEIGHT[reduction](loss.shape)
        if _sums_to(y, loss, c) and self._sums_at_a_probe(params, c):
            self.params, self.base = params, loss
            self.w = np.full(loss.shape, c * float(v))

    def _sums_at_a_probe(self, params: dict, c: float) -> bool:
        """Whether the reduction is c·sum at a random point near the inputs too: at
        symmetric data (zero logits) a weighted mean can equal c·sum by chance."""
        moved = [
            x + _probe_step(x, 1).reshape(x.shape)
            if inp.differentiable and x.dtype.kind == "f"
            else x
            for x, inp in zip(self.xs, self.spec.inputs, strict=True)
        ]
        try:
            loss = self.forward(moved, params)
            y = self.forward(moved, self.bound)
        except Exception:  # out of the domain there: difference the function as called
            return False
        return bool(np.isfinite(loss).all()) and _sums_to(y, loss, c)

    def forward(self, xs: Sequence[np.ndarray], params: dict) -> np.ndarray:
        """One forward call in float64, the spec's cross-parameter check included."""
        check_deadline()
        if self.spec.check is not None:
            self.spec.check(params, tuple(xs))
        return np.asarray(self.spec.forward(*xs, **params), dtype=np.float64)

    def call(self, k: int, xk: np.ndarray, params: dict | None = None) -> np.ndarray:
        """f with input k replaced by xk; a domain refusal becomes _Domain."""
        xs = list(self.xs)
        xs[k] = xk
        try:
            return self.forward(xs, self.params if params is None else params)
        except InvalidArgumentError as exc:
            raise _Domain(exc.message) from None


def _sums_to(y: np.ndarray, loss: np.ndarray, c: float) -> bool:
    """y = c·sum(loss), to float64 rounding."""
    return abs(float(y) - c * float(loss.sum())) <= 1e-9 * c * float(np.abs(loss).sum()) + _TINY


def _derivative(fp: np.ndarray, fm: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """((f₊ − f₋)/2eps, ok), taken on finite values only and halves first (no overflow).

    Equal infinities count as no change (jax's safe_sub: inf − inf = 0 there); ok is
    False where a side is NaN, the sides are unequal and not both finite, or the quotient
    exceeds _LIMIT.
    """
    finite = np.isfinite(fp) & np.isfinite(fm)
    half = np.where(finite, fp, 0.0) * 0.5 - np.where(finite, fm, 0.0) * 0.5
    ok = (finite & (np.abs(half) <= eps * _LIMIT)) | (~finite & (fp == fm))
    return np.where(ok, half, 0.0) / eps, ok


def _agree(a: np.ndarray, b: np.ndarray) -> bool:
    """a and b equal up to rounding (NaN equal to NaN), without overflow or warnings."""
    if a.shape != b.shape:
        return False
    finite = np.isfinite(a) & np.isfinite(b)
    a0, b0 = np.where(finite, a, 0.0) * 0.5, np.where(finite, b, 0.0) * 0.5
    scale = float(np.abs(b0).max()) if b0.size else 0.0
    close = np.abs(a0 - b0) <= 1e-9 * (np.abs(a0) + np.abs(b0)) + 1e-12 * scale
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    return bool(np.all(same | (finite & close)))


def _coarse(x: np.ndarray, eps: float) -> np.ndarray:
    """Elements central differences cannot resolve: x not finite, or so large that the
    step (x + eps) − (x − eps) rounds more than 1 % away from 2·eps (|x| >~ 4e7·eps)."""
    finite = np.isfinite(x)
    x0 = np.where(finite, x, 0.0)
    step = (x0 + eps) - (x0 - eps)
    return ~finite | (np.abs(step - 2 * eps) > 0.02 * eps)


def _note_excluded(label, kink, coarse, a_bad, notes, what) -> None:
    if kink.any():
        notes.append(
            f"{label}: {int(kink.sum())} element(s) within eps of a kink {what} (the "
            "function's kinks say which gradient torch returns there)"
        )
    if coarse.any():
        notes.append(
            f"{label}: {int(coarse.sum())} element(s) {what}: x is not finite, or so large "
            "that x ± eps rounds (the step is lost)"
        )
    if a_bad.any():
        notes.append(
            f"{label}: {int(a_bad.sum())} element(s) {what}: the analytic gradient is not "
            "finite there"
        )


# ---------------------------------------------------------------------------
# Full mode: the numerical VJP of every element
# ---------------------------------------------------------------------------


def _numerical_vjp(p: _Problem, k: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(n, bad, how): the numerical VJP of input k, the elements where f(x ± eps) was not
    finite (or too large) at an output with nonzero upstream, and the method used."""
    x = p.xs[k]
    if x.size == 0:
        return np.zeros(x.shape), np.zeros(x.shape, dtype=bool), "empty"
    if p.spec.elementwise and x.shape == p.base.shape:
        d, ok = _derivative(p.call(k, x + p.eps), p.call(k, x - p.eps), p.eps)
        return p.w * d, ~ok & (p.w != 0), "all elements at once"
    for layout in ("stack", "concat"):
        found = _stacked(p, k, layout)
        if found is not None:
            return (*found, f"stacked copies ({layout})")
    return (*_one_by_one(p, k), "one element at a time")


def _stacked(p: _Problem, k: int, layout: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Step 2 of full mode; None when the layout does not reproduce the function."""
    x, base = p.xs[k], p.base
    params = dict(p.params)
    if layout == "stack":
        dim = params.get("dim")
        if isinstance(dim, int) and not isinstance(dim, bool) and dim >= 0:
            params["dim"] = dim + 1
    elif base.ndim == 0 or any(a.ndim == 0 for a in p.xs):
        return None
    values = sum(a.size for a in p.xs) + base.size
    per_chunk = max(1, (_BATCH_VALUES // max(values, 1) - 1) // 2)
    n = np.zeros(x.size)
    bad = np.zeros(x.size, dtype=bool)
    w = p.w.reshape(1, -1)
    for start in range(0, x.size, per_chunk):
        idx = np.arange(start, min(start + per_chunk, x.size))
        # Copy 0 is x itself, then x + eps·e_j and x − eps·e_j for each j, and last a
        # probe: x moved by a random amount everywhere. Symmetric data (zero logits, equal
        # targets) can make a wrong layout reproduce x and x ± eps·e_j; it cannot make it
        # reproduce a random point.
        copies = 2 * idx.size + 2
        moved = np.repeat(x.reshape(1, -1), copies, axis=0)
        rows = np.arange(idx.size)
        moved[1 + 2 * rows, idx] += p.eps
        moved[2 + 2 * rows, idx] -= p.eps
        moved[-1] += _probe_step(x, start)
        moved = moved.reshape((copies, *x.shape))
        batch = [
            moved if i == k else np.broadcast_to(a, (copies, *a.shape)) for i, a in enumerate(p.xs)
        ]
        if layout == "concat":
            batch = [a.reshape((copies * a.shape[1], *a.shape[2:])) for a in batch]
        try:
            out = p.forward(batch, params)
            if layout == "concat":
                out = out.reshape((copies, *base.shape))
        except Exception:  # a shape or semantics this layout does not fit
            return None
        if out.shape != (copies, *base.shape) or not _agree(out[0], base):
            return None
        try:
            alone = p.call(k, moved[-1])
        except _Domain:
            return None  # step 3 reports the domain error element by element
        if not _agree(out[-1], alone):
            return None
        d, ok = _derivative(out[1:-1:2], out[2:-1:2], p.eps)
        d, ok = d.reshape(idx.size, -1), ok.reshape(idx.size, -1)
        n[idx] = (d * w).sum(axis=1)
        bad[idx] = (~ok & (w != 0)).any(axis=1)
    return n.reshape(x.shape), bad.reshape(x.shape)


def _probe_step(x: np.ndarray, seed: int) -> np.ndarray:
    """A random move of every element of flat x, small enough to stay near x's domain
    (1e-3 relative), large enough to break any symmetry of the data."""
    flat = np.where(np.isfinite(x.reshape(-1)), x.reshape(-1), 0.0)
    u = np.random.default_rng(seed).uniform(-1.0, 1.0, flat.size)
    step = 1e-3 * u * (1.0 + np.abs(flat))
    huge = np.abs(flat) > 1e300  # move those towards 0, so x + step cannot overflow
    step[huge] = -1e-3 * np.abs(u[huge]) * flat[huge]
    return step


def _one_by_one(p: _Problem, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Step 3 of full mode: two forward calls per element."""
    x = p.xs[k]
    n = np.zeros(x.size)
    bad = np.zeros(x.size, dtype=bool)
    for j in range(x.size):
        # Fresh copies: a forward may return its input itself (identity).
        plus, minus = x.copy(), x.copy()
        plus.flat[j] += p.eps
        minus.flat[j] -= p.eps
        d, ok = _derivative(p.call(k, plus), p.call(k, minus), p.eps)
        n[j] = (d * p.w).sum()
        bad[j] = bool((~ok & (p.w != 0)).any())
    return n.reshape(x.shape), bad.reshape(x.shape)


def _check_full(
    p: _Problem,
    k: int,
    a: np.ndarray,
    kink: np.ndarray,
    atol: float,
    rtol: float,
    label: str,
    notes: list[str],
) -> InputReport:
    n, bad, how = _numerical_vjp(p, k)
    coarse = _coarse(p.xs[k], p.eps) & ~kink
    apart = kink | coarse
    a_bad = ~np.isfinite(a) & ~apart
    bad &= ~apart
    checked = ~(apart | bad | a_bad)
    _note_excluded(label, kink, coarse, a_bad, notes, "were not compared")
    if bad.any():
        notes.append(
            f"{label}: {int(bad.sum())} element(s) were not compared: f(x ± eps) is not finite"
        )
    if how not in ("all elements at once", "empty"):
        notes.append(f"{label}: numerical VJP by {how}")
    count = int(checked.sum())
    name = p.spec.inputs[k].name
    if count == 0:
        return InputReport(name, True, checked_elements=0, kink_elements=int(kink.sum()))
    a0, n0 = np.where(checked, a, 0.0), np.where(checked, n, 0.0)
    err = np.abs(a0 - n0)
    excess = np.where(checked, err - (atol + rtol * np.abs(n0)), -np.inf)
    worst = np.unravel_index(int(np.argmax(excess)), a.shape)
    rel = err / np.maximum(np.abs(a0) + np.abs(n0), _TINY)
    return InputReport(
        name,
        passed=bool(excess.max() <= 0),
        max_abs_error=float(err.max()),
        max_rel_error=float(rel.max()),
        worst_index=tuple(int(i) for i in worst),
        analytic=float(a[worst]),
        numerical=float(n[worst]),
        checked_elements=count,
        kink_elements=int(kink.sum()),
    )


# ---------------------------------------------------------------------------
# Fast mode: one random direction per input
# ---------------------------------------------------------------------------


def _check_fast(
    p: _Problem,
    k: int,
    a: np.ndarray,
    kink: np.ndarray,
    atol: float,
    rtol: float,
    rng: np.random.Generator,
    label: str,
    notes: list[str],
) -> InputReport:
    x, name = p.xs[k], p.spec.inputs[k].name
    u = rng.random(x.shape)
    coarse = _coarse(x, p.eps) & ~kink
    a_bad = ~np.isfinite(a) & ~(kink | coarse)
    u[kink | coarse | a_bad] = 0.0
    _note_excluded(label, kink, coarse, a_bad, notes, "were left out of the random direction")
    norm = float(np.sqrt(np.square(u).sum()))
    if norm == 0.0:
        return InputReport(name, True, checked_elements=0, kink_elements=int(kink.sum()))
    u /= norm
    step = p.eps * u
    fp, fm = p.call(k, x + step, p.bound), p.call(k, x - step, p.bound)
    d, ok = _derivative(fp, fm, p.eps)
    if (~ok & (p.v != 0)).any():
        reason = "f(x ± eps·u) is not finite (or too large); mode='full' locates the elements"
        notes.append(f"{label}: not checked: {reason}")
        return InputReport(name, False, kink_elements=int(kink.sum()), skipped=reason)
    numerical = float((d * p.v).sum())
    analytic = float((np.where(u > 0, a, 0.0) * u).sum())
    err = abs(analytic - numerical)
    tol = atol * float(u.sum()) * float(np.abs(p.v).sum()) + rtol * abs(numerical)
    return InputReport(
        name,
        passed=err <= tol,
        max_abs_error=err,
        max_rel_error=err / max(abs(analytic) + abs(numerical), _TINY),
        worst_index=(),
        analytic=analytic,
        numerical=numerical,
        checked_elements=int((u > 0).sum()),
        kink_elements=int(kink.sum()),
    )
