"""The schema of the catalog's test entries, and strategies shared by them.

Every registered function has one ``Case`` (in one of the ``cases_*.py`` modules, each
exporting ``CASES: dict[str, Case]``). The generic tests in ``test_catalog.py`` range
over them: the completeness test fails when a registered function has no case.

A ``Case`` holds:
- ``sample(dtype)``: a hypothesis strategy of ``Sample``s: valid inputs (in ``dtype``
  for real inputs) and parameters, away from domain boundaries, covering 0-d and empty
  shapes where torch accepts them. The generic tests run the gradient checker on them
  (elements near kinks are reported apart by the checker) and check dtype preservation.
- ``values``: forward golden values, each saying where it came from (a closed form
  worked by hand, the torch 2.13 value in ../shared/catalog-reference.md, ...); NaN and
  inf behaviour belongs here too.
- ``grads``: gradient golden values (the VJP for ``grad_output``, ones when None),
  including torch's value at every kink.
- ``errors``: inputs or parameters that must raise InvalidArgumentError naming ``field``.
- ``extremes``: samples holding NaN, ±inf, ±0 and huge values; the generic test asserts
  that forward and VJP run without any NumPy warning and keep shapes and dtypes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


@dataclass
class Sample:
    inputs: tuple[Any, ...]
    params: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # hypothesis prints failing examples with this
        shapes = [np.shape(a) for a in self.inputs]
        return f"Sample(shapes={shapes}, params={self.params}, inputs={self.inputs!r})"


@dataclass
class Value:
    """``evaluate(name, *inputs, **params)`` must equal ``expected`` (NaN equal to NaN)."""

    inputs: tuple[Any, ...]
    expected: Any
    source: str
    params: dict[str, Any] = field(default_factory=dict)
    rtol: float = 1e-12
    atol: float = 0.0


@dataclass
class Grad:
    """``gradient(name, *inputs, grad_output=..., **params)`` must equal ``expected``,
    one array per differentiable input."""

    inputs: tuple[Any, ...]
    expected: tuple[Any, ...]
    source: str
    params: dict[str, Any] = field(default_factory=dict)
    grad_output: Any = None
    rtol: float = 1e-12
    atol: float = 0.0


@dataclass
class Raises:
    """The call must raise InvalidArgumentError whose ``field`` is ``field``."""

    inputs: tuple[Any, ...]
    field: str
    params: dict[str, Any] = field(default_factory=dict)
    why: str = ""


@dataclass
class Case:
    sample: Callable[[np.dtype], st.SearchStrategy[Sample]]
    values: list[Value] = field(default_factory=list)
    grads: list[Grad] = field(default_factory=list)
    errors: list[Raises] = field(default_factory=list)
    extremes: list[Sample] = field(default_factory=list)
    # Tolerances for the gradient check of float32 samples (the numeric side is
    # always float64; the analytic side is the float32 VJP under test).
    float32_tolerance: tuple[float, float] = (1e-4, 1e-3)  # (atol, rtol)


# ---------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------

#: NaN, ±inf, ±0, huge, tiny and ordinary values, for ``extremes``.
EXTREME = np.array(
    [
        np.nan,
        np.inf,
        -np.inf,
        0.0,
        -0.0,
        1e300,
        -1e300,
        1e-300,
        -1e-300,
        88.8,
        -88.8,
        710.0,
        -710.0,
        1.0,
        -1.0,
        3.0,
        -3.0,
        20.0,
    ]
)


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 0, max_side: int = 4):
    """Array shapes, 0-d and empty ones included by default."""
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def reals(
    dtype: np.dtype,
    shape: Any,
    low: float = -5.0,
    high: float = 5.0,
    exclude: tuple[float, ...] = (),
    margin: float = 1e-3,
):
    """Arrays of finite values in [low, high] in ``dtype``, at least ``margin`` from
    each point of ``exclude`` (kinks, discontinuities, domain edges)."""
    elements = st.floats(low, high, allow_nan=False, allow_infinity=False, width=64)
    if exclude:
        elements = elements.filter(lambda v: all(abs(v - p) > margin for p in exclude))
    return hnp.arrays(np.float64, shape, elements=elements).map(lambda a: a.astype(dtype))


def elementwise(
    dtype: np.dtype,
    low: float = -5.0,
    high: float = 5.0,
    exclude: tuple[float, ...] = (),
    params: st.SearchStrategy[dict[str, Any]] | None = None,
):
    """Samples for a one-input function of any shape."""
    params = params if params is not None else st.just({})
    return st.builds(
        lambda x, p: Sample((x,), p),
        shapes().flatmap(lambda s: reals(dtype, s, low, high, exclude)),
        params,
    )
