"""``nnfunc plot``: pictures of functions and their derivatives, as the service computes them.

    nnfunc plot gelu silu mish --derivative -o smooth.png
    nnfunc plot leaky_relu --param negative_slope=0.2 --range -3 3 -o leaky.svg
    python -m nnfunc.plot softmax --derivative -o softmax.png --target localhost:50051

Every value drawn is the service's own: the function through Evaluate and its derivative
through Gradient, both on one grid of x values. Kinks are found with the catalog's kink
masks (the service runs the same catalog) and refined to the point; the grid includes
each kink, so the dot drawn there is the value and the gradient the service returns AT
the kink (the defining framework's convention, torch's for torch's functions), and the
lines break there.

An elementwise function is drawn as it is. The others get a one-dimensional view, which
the picture's title states: a softmax of [x, 0] (its first entry), a loss as a function
of the prediction for a fixed target, a gated unit with its linear half fixed at 1, a
whole-tensor loss (dice) of a one-element input. The derivative is d/dx along that view.

matplotlib is an optional extra: ``pip install 'nnfunc[plot]'``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnfunc.errors import Error, InvalidArgumentError

MISSING_MATPLOTLIB = "nnfunc plot needs matplotlib, the 'plot' extra: pip install 'nnfunc[plot]'"

#: samples on the grid (the kinks are added to them)
DEFAULT_POINTS = 801
DEFAULT_RANGE = (-6.0, 6.0)
DEFAULT_DPI = 100

# ---------------------------------------------------------------------------
# One-dimensional views
# ---------------------------------------------------------------------------

Entry = tuple[float, float]  # a·x + b
X: Entry = (1.0, 0.0)


def _entry(e: Entry | float) -> Entry:
    return e if isinstance(e, tuple) else (0.0, float(e))


@dataclass(frozen=True)
class Arg:
    """One input of a view: a row of entries a·x + b for each sample.

    ``flat``: one element per sample (an (n,) array, for elementwise inputs);
    ``index``: constant int64 class indices; ``shared``: one fixed array for all
    samples (prelu's weight), not one row per sample.
    """

    entries: tuple[Entry, ...]
    flat: bool = False
    index: bool = False
    shared: bool = False

    @property
    def tangent(self) -> np.ndarray:
        """d(row)/dx."""
        return np.array([a for a, _ in self.entries], dtype=np.float64)

    @property
    def varies(self) -> bool:
        return not self.shared and bool(np.any(self.tangent != 0))

    def build(self, x: np.ndarray) -> np.ndarray:
        a = self.tangent
        b = np.array([b for _, b in self.entries], dtype=np.float64)
        if self.shared:
            return b.astype(np.int64) if self.index else b
        rows = np.multiply.outer(x, a) + b if self.varies else np.broadcast_to(b, (x.size, b.size))
        rows = rows.astype(np.int64 if self.index else np.float64)  # a copy, writable
        return rows[:, 0] if self.flat else rows


def row(*entries: Entry | float) -> Arg:
    """An (n, len(entries)) input: ``row(X, 0)`` is [x, 0] on every sample."""
    return Arg(tuple(_entry(e) for e in entries))


def flat(e: Entry | float) -> Arg:
    """An (n,) input: ``flat(X)`` is x itself, ``flat(1)`` a constant target."""
    return Arg((_entry(e),), flat=True)


def labels(*values: int, flat: bool = False) -> Arg:
    """Constant class indices: (n,) with ``flat``, else (n, len(values))."""
    return Arg(tuple((0.0, float(v)) for v in values), flat=flat, index=True)


ONE_MINUS_X: Entry = (-1.0, 1.0)
XF = flat(X)


@dataclass(frozen=True)
class View:
    """How a function becomes a curve y(x).

    ``args`` build the inputs (one per function input) from the x grid; ``pick`` is the
    output entry drawn (per sample); ``params`` are the view's own parameters (the
    caller's --param override them); ``per_sample`` calls the function once per x, for
    functions that reduce a whole tensor to one number.
    """

    args: tuple[Arg, ...]
    shows: str
    params: Mapping[str, Any] = field(default_factory=dict)
    pick: int = 0
    x_range: tuple[float, float] = DEFAULT_RANGE
    per_sample: bool = False

    def inputs(self, x: np.ndarray) -> list[tuple[np.ndarray, ...]]:
        """The function's inputs for the grid: one call, or one per sample."""
        full = tuple(a.build(x) for a in self.args)
        if not self.per_sample:
            return [full]
        return [
            tuple(v if a.shared else v[i : i + 1] for a, v in zip(self.args, full, strict=True))
            for i in range(x.size)
        ]


_PROBS = (0.01, 0.99)

# Elementwise functions are drawn as they are (with a target for a loss, below); every
# other function has its view here, keyed by canonical name.
VIEWS: dict[str, View] = {
    # -- activations ------------------------------------------------------------------
    "prelu": View((XF, Arg(((0.0, 0.25),), shared=True)), "prelu(x) with weight [0.25]"),
    "threshold": View(
        (XF,), "threshold(x), threshold=1, value=0", params={"threshold": 1.0, "value": 0.0}
    ),
    "sine": View((XF,), "sine(x)", x_range=(-0.3, 0.3)),
    "log1mexp": View((XF,), "log1mexp(x) (defined for x > 0)", x_range=(0.02, 6.0)),
    "softmax": View((row(X, 0),), "softmax([x, 0])[0] = σ(x)"),
    "log_softmax": View((row(X, 0),), "log_softmax([x, 0])[0]"),
    "softmin": View((row(X, 0),), "softmin([x, 0])[0] = σ(−x)"),
    "sparsemax": View((row(X, 0),), "sparsemax([x, 0])[0]", x_range=(-3.0, 3.0)),
    "entmax15": View((row(X, 0),), "entmax15([x, 0])[0]", x_range=(-3.0, 3.0)),
    "logmeanexp": View(
        (row(X, 0),), "logmeanexp([x, 0]) = log((eˣ + 1)/2), axis=-1", params={"axis": -1}
    ),
    "standardize": View((row(X, -1, 1),), "standardize([x, −1, 1])[0]"),
    "maxout": View((row(X, 0),), "maxout([x, 0]), pieces=2 = max(x, 0)", params={"pieces": 2}),
    "glu": View((row(1, X),), "glu([1, x]) = σ(x): the value half 1, the gate x"),
    "swiglu": View((row(X, 1),), "swiglu([x, 1]) = x·σ(βx): the gate x, the value half 1"),
    "geglu": View((row(X, 1),), "geglu([x, 1]) = gelu(x): the gate x, the value half 1"),
    "reglu": View((row(X, 1),), "reglu([x, 1]) = max(0, x): the gate x, the value half 1"),
    # -- losses, as a function of the prediction x for a fixed target ------------------
    "log_cosh": View((XF, flat(0)), "log_cosh(x, target 0)"),
    "mean_absolute_percentage_error": View(
        (row(X), row(1)), "mean_absolute_percentage_error([x], [1])"
    ),
    "mean_squared_logarithmic_error": View(
        (row(X), row(1)), "mean_squared_logarithmic_error([x], [1])", x_range=(-2.0, 6.0)
    ),
    "hinge": View((row(X), row(1)), "hinge([x], [1]) = max(0, 1 − x)"),
    "squared_hinge": View((row(X), row(1)), "squared_hinge([x], [1]) = max(0, 1 − x)²"),
    # [x, −1]: Keras's max over (1 − y)·x includes the true class's 0, which would tie
    # with a wrong-class score of 0 all along the view.
    "categorical_hinge": View(
        (row(X, -1), row(1, 0)), "categorical_hinge([x, −1], one-hot [1, 0]) = max(0, 1 − x)"
    ),
    "multiclass_hinge_loss": View(
        (row(X, 0), labels(0, flat=True)), "multiclass_hinge_loss(scores [x, 0], class 0)"
    ),
    "perceptron_loss": View((XF, flat(1)), "perceptron_loss(x, label 1) = max(0, −x)"),
    "multiclass_perceptron_loss": View(
        (row(X, 0), labels(0, flat=True)), "multiclass_perceptron_loss(scores [x, 0], class 0)"
    ),
    "sigmoid_focal_loss": View((XF, flat(1)), "sigmoid_focal_loss(logit x, target 1)"),
    "categorical_focal_crossentropy": View(
        (row(X, ONE_MINUS_X), row(1, 0)),
        "categorical_focal_crossentropy(probabilities [x, 1 − x], one-hot [1, 0])",
        x_range=_PROBS,
    ),
    "poly_loss_cross_entropy": View(
        (row(X, 0), row(1, 0)), "poly_loss_cross_entropy(logits [x, 0], one-hot [1, 0])"
    ),
    "categorical_generalized_cross_entropy": View(
        (row(X, ONE_MINUS_X), labels(0, flat=True)),
        "categorical_generalized_cross_entropy(probabilities [x, 1 − x], class 0)",
        x_range=_PROBS,
    ),
    "cosine_similarity_loss": View(
        (row(X, 1), row(1, 0)), "cosine_similarity_loss([x, 1], [1, 0]) = −x/√(x² + 1)"
    ),
    "cosine_distance": View(
        (row(X, 1), row(1, 0)), "cosine_distance([x, 1], [1, 0]) = 1 − x/√(x² + 1)"
    ),
    "dice": View(
        (row(X), row(1)), "dice([x], [1]), one element", x_range=(0.0, 1.0), per_sample=True
    ),
    "tversky": View(
        (row(X), row(1)), "tversky([x], [1]), one element", x_range=(0.0, 1.0), per_sample=True
    ),
    "generalized_dice_loss": View(
        (row(X, 0), row(1, 0)),
        "generalized_dice_loss(logits [[x, 0]], one-hot [[1, 0]])",
        per_sample=True,
    ),
    "multiclass_sparsemax_loss": View(
        (row(X, 0), labels(0, flat=True)), "multiclass_sparsemax_loss(scores [x, 0], class 0)"
    ),
    "ranking_softmax_loss": View(
        (row(X, 0), row(1, 0)), "ranking_softmax_loss(scores [x, 0], relevance [1, 0])"
    ),
    "generalized_kl_divergence": View(
        (row(X), row(1)),
        "generalized_kl_divergence(log p = [x], [1]) = eˣ − x − 1",
        x_range=(-4.0, 3.0),
    ),
    "cross_entropy": View(
        (row(X, 0), labels(0, flat=True)), "cross_entropy(logits [x, 0], class 0)"
    ),
    "nll_loss": View(
        (row(X, 0), labels(0, flat=True)), "nll_loss(log-probabilities [x, 0], class 0) = −x"
    ),
    "multi_margin_loss": View(
        (row(X, 0), labels(0, flat=True)), "multi_margin_loss(scores [x, 0], class 0)"
    ),
    "multilabel_margin_loss": View(
        (row(X, 0), labels(0, -1)), "multilabel_margin_loss(scores [x, 0], targets [0, −1])"
    ),
    "margin_ranking_loss": View(
        (XF, flat(0), flat(1)), "margin_ranking_loss(x, 0, target 1) = max(0, −x)"
    ),
    "cosine_embedding_loss": View(
        (row(X, 1), row(1, 0), flat(1)), "cosine_embedding_loss([x, 1], [1, 0], target 1)"
    ),
    "triplet_margin_loss": View(
        (row(X), row(0), row(2)),
        "triplet_margin_loss(anchor [x], positive [0], negative [2])",
        x_range=(-2.0, 4.0),
    ),
    "mse_loss": View((XF, flat(0)), "mse_loss(x, target 0)", x_range=(-3.0, 3.0)),
    "l1_loss": View((XF, flat(0)), "l1_loss(x, target 0)", x_range=(-3.0, 3.0)),
    "smooth_l1_loss": View((XF, flat(0)), "smooth_l1_loss(x, target 0)", x_range=(-3.0, 3.0)),
    "huber_loss": View((XF, flat(0)), "huber_loss(x, target 0)", x_range=(-3.0, 3.0)),
    "binary_cross_entropy": View(
        (XF, flat(1)), "binary_cross_entropy(probability x, target 1)", x_range=_PROBS
    ),
    "binary_cross_entropy_with_logits": View(
        (XF, flat(1)), "binary_cross_entropy_with_logits(logit x, target 1)"
    ),
    "soft_margin_loss": View((XF, flat(1)), "soft_margin_loss(x, target 1)"),
    "multilabel_soft_margin_loss": View((row(X), row(1)), "multilabel_soft_margin_loss([x], [1])"),
    "hinge_embedding_loss": View(
        (XF, flat(-1)), "hinge_embedding_loss(x, target −1) = max(0, 1 − x)"
    ),
    "poisson_nll_loss": View(
        (XF, flat(1)), "poisson_nll_loss(log-rate x, target 1) = eˣ − x", x_range=(-4.0, 3.0)
    ),
    "gaussian_nll_loss": View(
        (XF, flat(0), flat(1)), "gaussian_nll_loss(mean x, target 0, var 1)", x_range=(-3.0, 3.0)
    ),
    "kl_div": View(
        (XF, flat(0.5)), "kl_div(log q = x, p = 0.5) = 0.5·(log 0.5 − x)", x_range=(-6.0, 0.0)
    ),
}


@dataclass(frozen=True)
class FunctionFacts:
    """What the plot needs to know of a function, from DescribeFunction or the catalog."""

    name: str
    kind: str
    input_names: tuple[str, ...]
    differentiable: tuple[bool, ...]
    param_kinds: Mapping[str, str]


def view_for(facts: FunctionFacts) -> View:
    """The function's view: its own entry, or the elementwise default."""
    view = VIEWS.get(facts.name)
    if view is None:
        n = len(facts.input_names)
        if facts.kind == "loss" and n >= 2:
            view = View((XF, *[flat(0)] * (n - 1)), f"{facts.name}(x, target 0)")
        else:
            view = View((XF, *[flat(1)] * (n - 1)), f"{facts.name}(x)")
    if len(view.args) != len(facts.input_names):
        raise InvalidArgumentError(
            f"function: {facts.name} takes {len(facts.input_names)} inputs; this version of "
            "nnfunc plot has no view for it",
            field="function",
        )
    return view


# ---------------------------------------------------------------------------
# Where the numbers come from: the service, or the catalog in-process
# ---------------------------------------------------------------------------


class Source:
    """Evaluate and Gradient, for many calls at once."""

    def facts(self, name: str) -> FunctionFacts:
        raise NotImplementedError

    def evaluate(
        self, name: str, calls: Sequence[tuple[np.ndarray, ...]], params: Mapping[str, Any]
    ) -> list[np.ndarray]:
        raise NotImplementedError

    def gradient(
        self,
        name: str,
        calls: Sequence[tuple[np.ndarray, ...]],
        grad_outputs: Sequence[np.ndarray],
        params: Mapping[str, Any],
    ) -> list[tuple[np.ndarray, ...]]:
        raise NotImplementedError


class ServiceSource(Source):
    """Through an ``nnfunc.Client``: many calls travel in one Batch."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def facts(self, name: str) -> FunctionFacts:
        info = self.client.describe(name)
        return FunctionFacts(
            name=info.name,
            kind=info.kind,
            input_names=tuple(i.name for i in info.inputs),
            differentiable=tuple(i.differentiable for i in info.inputs),
            param_kinds={p.name: p.type for p in info.params},
        )

    def evaluate(self, name, calls, params):
        if len(calls) == 1:
            return [self.client.evaluate(name, *calls[0], **params)]
        req = self.client.request  # one Batch call for many
        return [
            _raise_or(v)
            for v in self.client.batch([req.evaluate(name, *c, **params) for c in calls])
        ]

    def gradient(self, name, calls, grad_outputs, params):
        if len(calls) == 1:
            g = self.client.gradient(name, *calls[0], grad_output=grad_outputs[0], **params)
            return [_as_tuple(g)]
        req = self.client.request
        requests = [
            req.gradient(name, *c, grad_output=g, **params)
            for c, g in zip(calls, grad_outputs, strict=True)
        ]
        return [_as_tuple(_raise_or(v)) for v in self.client.batch(requests)]


class CatalogSource(Source):
    """The catalog in-process (the page generator's source: the same numbers, no server)."""

    def facts(self, name: str) -> FunctionFacts:
        from nnfunc.catalog import lookup

        spec = lookup(name)
        return FunctionFacts(
            name=spec.name,
            kind=spec.kind,
            input_names=tuple(i.name for i in spec.inputs),
            differentiable=tuple(i.differentiable for i in spec.inputs),
            param_kinds={p.name: p.kind for p in spec.params},
        )

    def evaluate(self, name, calls, params):
        from nnfunc.catalog import evaluate

        return [np.asarray(evaluate(name, *c, **params)) for c in calls]

    def gradient(self, name, calls, grad_outputs, params):
        from nnfunc.catalog import gradient

        return [
            gradient(name, *c, grad_output=g, **params)
            for c, g in zip(calls, grad_outputs, strict=True)
        ]


def _raise_or(value: Any) -> Any:
    if isinstance(value, Exception):
        raise value
    return value


def _as_tuple(value: Any) -> tuple[np.ndarray, ...]:
    return tuple(value) if isinstance(value, tuple) else (value,)


# ---------------------------------------------------------------------------
# Curves
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Kink:
    """A kink on the view, with the service's value and derivative exactly there."""

    x: float
    y: float
    dy: float


@dataclass(frozen=True)
class Curve:
    """One function sampled along its view; ``x`` includes the kinks."""

    name: str
    shows: str
    params: Mapping[str, Any]
    x: np.ndarray
    y: np.ndarray
    dy: np.ndarray
    kinks: tuple[Kink, ...]

    @property
    def label(self) -> str:
        """The view, and the parameters given on the command line."""
        if not self.params:
            return self.shows
        given = ", ".join(f"{k}={_value_text(v)}" for k, v in self.params.items())
        return f"{self.shows}; {given}"


def _value_text(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, np.ndarray):
        return np.array2string(v, separator=", ")
    return str(v)


def parse_param(text: str, kinds: Mapping[str, str]) -> tuple[str, Any]:
    """NAME=VALUE typed by the parameter's kind (float, int, bool, str, tensor)."""
    name, sep, raw = text.partition("=")
    name, raw = name.strip(), raw.strip()
    where = f"parameters.{name}"
    if not sep or not name:
        raise InvalidArgumentError(f"--param {text!r}: expected NAME=VALUE", field="parameters")
    kind = kinds.get(name)
    if kind == "str":
        return name, raw
    if raw.lower() in ("none", "null"):
        return name, None
    try:
        if kind == "bool":
            if raw.lower() not in ("true", "false"):
                raise ValueError(raw)
            return name, raw.lower() == "true"
        if kind == "int":
            return name, int(raw)
        if kind == "tensor":
            return name, np.array(json.loads(raw if raw.startswith("[") else f"[{raw}]"), float)
        return name, float(raw)
    except ValueError:
        raise InvalidArgumentError(
            f"{where}: expected {kind or 'a number'}, got {raw!r}", field=where
        ) from None


def _catalog_spec(name: str) -> Any:
    """The local catalog's spec (for its kink mask), or None without one."""
    try:
        from nnfunc.catalog import REGISTRY
    except ImportError:  # a client-only install: no kinks marked
        return None
    return REGISTRY.get(name)


def _near_kink(spec: Any, view: View, facts: FunctionFacts, params: Mapping[str, Any]):
    """A function (x grid, step) -> which samples lie within step of a kink of the view,
    from the catalog's kink mask on the differentiable inputs that vary with x."""
    from nnfunc.catalog.registry import prepare

    def near(x: np.ndarray, step: float) -> np.ndarray:
        flags = []
        for call in view.inputs(x):
            arrays, bound, _ = prepare(spec, call, params)
            masks = iter(spec.kink_mask(step, *arrays, **bound))
            n = call[0].shape[0] if call[0].ndim else 1
            flag = np.zeros(n, dtype=bool)
            for arg, arr, diff in zip(view.args, arrays, facts.differentiable, strict=True):
                if not diff:
                    continue
                mask = next(masks)
                if not arg.varies:
                    continue
                m = np.broadcast_to(mask, arr.shape).reshape(n, -1)
                flag |= m[:, arg.tangent != 0].any(axis=1)
            flags.append(flag)
        return np.concatenate(flags)

    return near


def find_kinks(
    spec: Any, view: View, facts: FunctionFacts, params: Mapping[str, Any], x: np.ndarray
) -> list[float]:
    """The kinks on the grid ``x``, each refined to float precision by zooming in on it.

    A run of flagged samples longer than 4 % of the grid is a region, not a point (e.g.
    an input that always sits at a tie): nothing is marked for it. (Masks are generous:
    a mask may flag a few steps either side of its kink.)
    """
    if spec is None or spec.kink_mask is None:
        return []
    try:
        near = _near_kink(spec, view, facts, params)
        flagged = near(x, (x[1] - x[0]) / 2)
    except Error:  # a domain error: the service's call reports it
        return []
    found = []
    for start, stop in _runs(flagged):
        if stop - start > max(8, x.size // 25):
            continue
        lo, hi = x[max(start - 1, 0)], x[min(stop, x.size - 1)]
        found.append(_refine(near, lo, hi))
    return sorted(k for k in found if k is not None)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _refine(near: Callable[[np.ndarray, float], np.ndarray], lo: float, hi: float) -> float | None:
    """Zoom in on the one kink within [lo, hi]: each round keeps the flagged samples of a
    65-point grid (and one either side), until the window is a few ulps wide."""
    for _ in range(80):
        if hi - lo <= 1e-14 * max(1.0, abs(lo), abs(hi)):
            break
        grid = np.linspace(lo, hi, 65)
        hits = np.flatnonzero(near(grid, (grid[1] - grid[0]) / 2))
        if hits.size == 0:
            return None
        first, last = hits[0], hits[-1]
        if last - first > 48:  # still a region at this scale: not a point
            return None
        lo, hi = grid[max(first - 1, 0)], grid[min(last + 1, grid.size - 1)]
    centre = (lo + hi) / 2
    # Snap to the shortest decimal that is exactly on the kink (kinks sit at 0, ±1, λ...).
    for digits in range(0, 16):
        candidate = round(centre, digits)
        if (
            abs(candidate - centre) <= 4 * (hi - lo) + 1e-15
            and near(np.array([candidate, candidate]), 0.0)[0]
        ):
            return float(candidate) + 0.0  # no -0.0
    return float(centre)


def trace(
    name: str,
    source: Source,
    *,
    params: Mapping[str, Any] | None = None,
    x_range: tuple[float, float] | None = None,
    points: int = DEFAULT_POINTS,
) -> Curve:
    """The function and its derivative along its view, as ``source`` computes them.

    ``params`` (the caller's) override the view's; ``x_range`` defaults to the view's.
    """
    facts = source.facts(name)
    view = view_for(facts)
    given = dict(params or {})
    unknown = sorted(set(given) - set(facts.param_kinds))
    if unknown:
        raise InvalidArgumentError(
            f"parameters.{unknown[0]}: {facts.name} has no parameter {unknown[0]!r} "
            f"(its parameters: {', '.join(facts.param_kinds) or 'none'})",
            field=f"parameters.{unknown[0]}",
        )
    call_params = dict(view.params)
    if "reduction" in facts.param_kinds:
        call_params["reduction"] = "none"  # one loss per sample
    call_params.update(given)
    lo, hi = x_range or view.x_range
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise InvalidArgumentError(
            f"range: expected two finite numbers LO < HI, got {lo} {hi}", field="range"
        )
    if points < 2:
        raise InvalidArgumentError(f"points: expected at least 2, got {points}", field="points")
    grid = np.linspace(lo, hi, points)
    kinks = find_kinks(_catalog_spec(facts.name), view, facts, call_params, grid)
    x = np.union1d(grid, np.asarray(kinks, dtype=np.float64))
    y, dy = _values_and_slopes(facts, view, source, x, call_params)
    at = np.searchsorted(x, kinks)
    return Curve(
        name=facts.name,
        shows=view.shows,
        params=given,
        x=x,
        y=y,
        dy=dy,
        kinks=tuple(Kink(float(x[i]), float(y[i]), float(dy[i])) for i in at),
    )


def _values_and_slopes(
    facts: FunctionFacts, view: View, source: Source, x: np.ndarray, params: Mapping[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """The drawn entry of each sample's output (Evaluate) and its derivative along the
    view (Gradient, seeded with 1 on that entry)."""
    calls = view.inputs(x)
    outs = source.evaluate(facts.name, calls, params)
    per_call = 1 if view.per_sample else x.size
    values, seeds = [], []
    for out in outs:
        out = np.asarray(out, dtype=np.float64)
        if out.size % per_call or out.size // per_call <= view.pick:
            raise InvalidArgumentError(
                f"parameters: {facts.name} returned shape {list(out.shape)}, not one value per "
                f"sample ({per_call}): is a reduction other than 'none' given?",
                field="parameters",
            )
        values.append(out.reshape(per_call, -1)[:, view.pick])
        seed = np.zeros((per_call, out.size // per_call))
        seed[:, view.pick] = 1.0  # d(the drawn entry)
        seeds.append(seed.reshape(out.shape))
    grads = source.gradient(facts.name, calls, seeds, params)
    differentiable = [a for a, d in zip(view.args, facts.differentiable, strict=True) if d]
    slopes = []
    for g in grads:
        slope = np.zeros(per_call)
        for arg, grad in zip(differentiable, g, strict=True):
            if arg.varies:  # the chain rule along the view: Σ ∂f/∂input · d input/dx
                slope += np.asarray(grad, dtype=np.float64).reshape(per_call, -1) @ arg.tangent
        slopes.append(slope)
    return np.concatenate(values), np.concatenate(slopes)


# ---------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ImportError(MISSING_MATPLOTLIB) from None
    return matplotlib


def _limits(*arrays: np.ndarray) -> tuple[float, float] | None:
    """y limits that show the curve's shape: everything, unless a few values (a pole,
    an exponential's tail) would flatten the rest, then the central 96 % with margins."""
    v = np.concatenate([a[np.isfinite(a)] for a in arrays])
    if v.size == 0:
        return None
    lo, hi = float(v.min()), float(v.max())
    qlo, qhi = (float(q) for q in np.percentile(v, [2, 98]))
    if hi - lo > 4 * (qhi - qlo) and qhi > qlo:
        lo, hi = qlo, qhi
        pad = 0.25 * (hi - lo)
    else:
        pad = 0.06 * (hi - lo)
    if pad == 0:
        pad = max(abs(lo) * 0.1, 0.5)
    return lo - pad, hi + pad


def _broken(curve: Curve, values: np.ndarray) -> np.ndarray:
    """The values with NaN at each kink, so that the line breaks there (the dot shows
    the value at the kink itself)."""
    out = values.copy()
    out[np.isin(curve.x, [k.x for k in curve.kinks])] = np.nan
    return out


def figure_size(derivative: bool, size: tuple[float, float] | None = None) -> tuple[float, float]:
    """Inches: the caller's, or 6.4 × 4 for one panel, 11 × 4 for two."""
    return size or ((11.0, 4.0) if derivative else (6.4, 4.0))


def draw(
    curves: Sequence[Curve],
    path: str | os.PathLike[str],
    *,
    derivative: bool = False,
    size: tuple[float, float] | None = None,
    dpi: float = DEFAULT_DPI,
    title: str | None = None,
    font_size: float = 9.0,
    compact: bool = False,
) -> tuple[int, int]:
    """Save the curves to ``path`` (.png or .svg, by its suffix); the size in pixels.

    Deterministic: matplotlib's default style whatever the user's matplotlibrc, no
    dates or software tags in the file, a fixed SVG id salt. ``compact`` quantizes a PNG
    to a small palette (the catalog page's pictures).
    """
    suffix = Path(path).suffix.lower()
    if suffix not in (".png", ".svg"):
        raise InvalidArgumentError(
            f"output: expected a .png or .svg file name, got {os.fspath(path)!r}", field="output"
        )
    mpl = _matplotlib()
    from matplotlib import style as mpl_style
    from matplotlib.figure import Figure

    width, height = figure_size(derivative, size)
    style = {
        "font.size": font_size,
        "svg.hashsalt": "nnfunc",
        "svg.fonttype": "none",
        "axes.titlesize": font_size,
        "legend.fontsize": font_size - 1,
    }
    with mpl_style.context("default"), mpl.rc_context(style):
        fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
        axes = fig.subplots(1, 2 if derivative else 1, squeeze=False)[0]
        panels = [(axes[0], "y", "f(x)")]
        if derivative:
            panels.append((axes[1], "dy", "d/dx"))
        colors = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
        for ax, which, what in panels:
            series = []
            for k, c in enumerate(curves):
                color = colors[k % len(colors)]
                values = getattr(c, which)
                series.append(values)
                ax.plot(c.x, _broken(c, values), color=color, lw=1.6, label=c.label)
                for kink in c.kinks:
                    ax.axvline(kink.x, color="0.8", lw=0.8, ls=":", zorder=0)
                    ax.plot(
                        [kink.x],
                        [getattr(kink, which)],
                        "o",
                        ms=4.5,
                        mfc=color,
                        mec="black",
                        mew=0.7,
                        zorder=3,
                    )
            ax.axhline(0, color="0.6", lw=0.6, zorder=0)
            ax.axvline(0, color="0.6", lw=0.6, zorder=0)
            ax.grid(True, color="0.92", lw=0.6)
            ax.set_xlim(min(float(c.x[0]) for c in curves), max(float(c.x[-1]) for c in curves))
            limits = _limits(*series)
            if limits:
                ax.set_ylim(*limits)
            ax.set_xlabel("x")
            ax.set_title(what, loc="left", color="0.35")
        if len(curves) == 1:
            head = title or curves[0].label
        else:
            head = title or ", ".join(c.name for c in curves)
            axes[0].legend(loc="best", frameon=False)
        if any(c.kinks for c in curves):
            head += ("  " if head else "") + "(● kink: the service's value there)"
        if head:
            fig.suptitle(head, fontsize=font_size + 1)
        meta = {"Date": None} if suffix == ".svg" else {"Software": None}
        if compact and suffix == ".png":
            _save_compact_png(fig, path)
        else:
            fig.savefig(path, format=suffix[1:], metadata=meta)
    return round(width * dpi), round(height * dpi)


def _save_compact_png(fig: Any, path: str | os.PathLike[str]) -> None:
    """A PNG quantized to 64 colours (the pictures are lines on white: no visible loss,
    a fraction of the bytes)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    buf.seek(0)
    with Image.open(buf) as img:
        small = img.convert("RGB").quantize(
            colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
        small.save(path, format="PNG", optimize=True)


# ---------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------

_EPILOG = """\
Each function is drawn along a one-dimensional view (the title says which): elementwise
functions as they are; softmax and friends as the first entry of f([x, 0]); gated units
with their linear half fixed at 1; a loss as a function of the prediction x for a fixed
target (per-sample, reduction='none'). --param applies to every named function that has
the parameter. Kinks (from the catalog's kink masks) are marked with the value and the
gradient the service returns there.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The plot's own arguments (the connection options come from the caller's parser)."""
    parser.description = "Plot functions (and their derivatives) as the service computes them."
    parser.epilog = _EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("names", nargs="+", metavar="NAME", help="function names or aliases")
    parser.add_argument(
        "--output", "-o", required=True, metavar="FILE", help="the picture: FILE.png or FILE.svg"
    )
    parser.add_argument(
        "--derivative", "-d", action="store_true", help="add a panel with the derivative"
    )
    parser.add_argument(
        "--range",
        nargs=2,
        type=float,
        metavar=("LO", "HI"),
        help="the x range (default: the view's own, -6 6 for most; with several "
        "functions, the range they share)",
    )
    parser.add_argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter (repeatable)",
    )
    parser.add_argument(
        "--points", type=int, default=DEFAULT_POINTS, help=f"grid points ({DEFAULT_POINTS})"
    )
    parser.add_argument(
        "--size",
        nargs=2,
        type=float,
        metavar=("W", "H"),
        help="figure size in inches (6.4 4; 11 4 with --derivative)",
    )
    parser.add_argument(
        "--dpi", type=float, default=DEFAULT_DPI, help=f"PNG resolution ({DEFAULT_DPI})"
    )
    parser.add_argument("--title", help="the picture's title (default: the view)")


def _shared_range(source: Source, names: Sequence[str]) -> tuple[float, float]:
    ranges = [view_for(source.facts(n)).x_range for n in names]
    lo, hi = max(r[0] for r in ranges), min(r[1] for r in ranges)
    if lo >= hi:
        raise InvalidArgumentError(
            "range: these functions' default ranges do not overlap; give --range LO HI",
            field="range",
        )
    return lo, hi


def plot(
    names: Sequence[str],
    source: Source,
    output: str | os.PathLike[str],
    *,
    params: Sequence[str] = (),
    derivative: bool = False,
    x_range: tuple[float, float] | None = None,
    points: int = DEFAULT_POINTS,
    size: tuple[float, float] | None = None,
    dpi: float = DEFAULT_DPI,
    title: str | None = None,
) -> tuple[list[Curve], tuple[int, int]]:
    """Trace every function and draw them in one picture; (curves, size in pixels).

    ``params`` are NAME=VALUE texts; each applies to every function that has it.
    """
    _matplotlib()  # fail before any call when the extra is missing
    facts = [source.facts(n) for n in names]
    per_function: list[dict[str, Any]] = [{} for _ in facts]
    for text in params:
        used = False
        for f, bound in zip(facts, per_function, strict=True):
            key = text.partition("=")[0].strip()
            if key in f.param_kinds:
                k, v = parse_param(text, f.param_kinds)
                bound[k] = v
                used = True
        if not used:
            key = text.partition("=")[0].strip()
            raise InvalidArgumentError(
                f"parameters.{key}: none of {', '.join(f.name for f in facts)} has a "
                f"parameter {key!r}",
                field=f"parameters.{key}",
            )
    if x_range is None and len(names) > 1:
        x_range = _shared_range(source, [f.name for f in facts])
    curves = [
        trace(f.name, source, params=p, x_range=x_range, points=points)
        for f, p in zip(facts, per_function, strict=True)
    ]
    pixels = draw(curves, output, derivative=derivative, size=size, dpi=dpi, title=title)
    return curves, pixels


def run(args: argparse.Namespace, client_factory: Callable[[argparse.Namespace], Any]) -> int:
    """``nnfunc plot``: 0 when the picture was written. Errors of the call are raised
    (nnfunc.Error); a missing matplotlib is reported here, with the extra to install."""
    try:
        _matplotlib()
    except ImportError as exc:
        print(f"nnfunc plot: {exc}", file=sys.stderr)
        return 1
    with client_factory(args) as client:
        curves, (w, h) = plot(
            args.names,
            ServiceSource(client),
            args.output,
            params=args.param,
            derivative=args.derivative,
            x_range=tuple(args.range) if args.range else None,
            points=args.points,
            size=tuple(args.size) if args.size else None,
            dpi=args.dpi,
            title=args.title,
        )
    if getattr(args, "json", False):
        print(
            json.dumps(
                {
                    "output": os.fspath(args.output),
                    "pixels": [w, h],
                    "functions": [
                        {
                            "name": c.name,
                            "shows": c.shows,
                            "kinks": [[k.x, k.y, k.dy] for k in c.kinks],
                        }
                        for c in curves
                    ],
                }
            )
        )
    else:
        print(f"wrote {args.output} ({w}×{h} px): {', '.join(c.name for c in curves)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m nnfunc.plot``: the same command, with its own connection options."""
    from nnfunc._channel import DEFAULT_TARGET

    parser = argparse.ArgumentParser(prog="python -m nnfunc.plot")
    add_arguments(parser)
    parser.add_argument(
        "--target",
        default=os.environ.get("NNFUNC_TARGET") or DEFAULT_TARGET,
        help=f"the server, host:port (env NNFUNC_TARGET, default {DEFAULT_TARGET})",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="deadline in seconds (30)")
    parser.add_argument("--root-certificates", metavar="PEM", help="use TLS with these roots")
    argv = list(sys.argv[1:] if argv is None else argv)
    # "-6" after --range is a value, not an option (argparse guesses so only sometimes)
    args = parser.parse_args([f" {a}" if _negative_number(a) else a for a in argv])

    def client(a: argparse.Namespace) -> Any:
        from nnfunc.client import Client

        return Client(a.target, timeout=a.timeout, root_certificates=a.root_certificates)

    try:
        return run(args, client)
    except Error as exc:
        print(f"nnfunc plot: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:
        print(f"nnfunc plot: {exc}", file=sys.stderr)
        return 1


def _negative_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return token.startswith("-")


if __name__ == "__main__":
    sys.exit(main())
