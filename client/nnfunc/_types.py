"""The SDK's result types: plain frozen dataclasses, no gRPC or protobuf in them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np


@dataclass(frozen=True)
class InputInfo:
    """A positional input of a function."""

    name: str
    differentiable: bool
    #: accepted dtypes, as numpy names ("float16", "float32", "float64", "int64")
    dtypes: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class ParameterInfo:
    """A keyword parameter of a function, with torch's name and default."""

    name: str
    #: "float", "int", "bool", "str" or "tensor" (the catalog's kinds)
    type: str
    required: bool
    #: the default (None when required, or when torch's default is None)
    default: Any
    description: str = ""
    #: the allowed values in one line, e.g. "[0, inf)" or "'none' | 'mean' | 'sum'"
    allowed: str = ""
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class FunctionInfo:
    """Everything the server knows about one function."""

    name: str
    kind: Literal["activation", "loss", "unspecified"]
    summary: str
    formula: str
    inputs: tuple[InputInfo, ...]
    params: tuple[ParameterInfo, ...]
    output_range: str
    kinks: tuple[str, ...]
    aliases: tuple[str, ...]
    source: str
    notes: tuple[str, ...]
    #: the highest derivative order check_gradient verifies: 2 with a second-order VJP
    max_order: int = 1

    def param(self, name: str) -> ParameterInfo:
        """The parameter called ``name`` (KeyError when there is none)."""
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def differentiable(self) -> tuple[str, ...]:
        """The names of the inputs that get a gradient, in order."""
        return tuple(i.name for i in self.inputs if i.differentiable)


@dataclass(frozen=True)
class LossResult:
    """A loss value and the gradient of every differentiable input."""

    value: np.ndarray
    grads: tuple[np.ndarray, ...]
    #: the names of the inputs the gradients belong to, in order
    input_names: tuple[str, ...]

    @property
    def grad(self) -> np.ndarray:
        """The gradient of the first differentiable input (``input`` for every loss)."""
        return self.grads[0]


@dataclass(frozen=True)
class InputCheck:
    """The gradient check of one differentiable input."""

    name: str
    passed: bool
    max_abs_error: float
    max_rel_error: float
    #: the worst element's index (full mode), None in fast mode
    worst_index: tuple[int, ...] | None
    #: the analytic value at the worst element (or <Jᵀv, u> in fast mode)
    analytic: float
    #: the numerical value at the worst element (or <v, J u> in fast mode)
    numerical: float
    checked_elements: int
    kink_elements: int
    #: why the input could not be checked, None when it was
    skipped: str | None


@dataclass(frozen=True)
class CheckReport:
    """The result of ``check_gradient``: a verdict per differentiable input."""

    function: str
    passed: bool
    inputs: tuple[InputCheck, ...]
    mode: Literal["full", "fast", "auto"]
    eps: float
    atol: float
    rtol: float
    #: whether the caller's gradients (rather than the catalog's VJP) were checked
    checked_supplied: bool
    notes: tuple[str, ...]
    #: the derivative order checked: 1, or 2 (then inputs[0] is grad_output's check and
    #: inputs[k + 1] the function's inputs[k]: the function checked is its VJP)
    order: int = 1
