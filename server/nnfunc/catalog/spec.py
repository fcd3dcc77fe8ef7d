"""The catalog's record type: one ``FunctionSpec`` per function.

A spec holds the forward, its vector-Jacobian product and the metadata side by side.
Every forward and every VJP follows one calling convention:

    forward(*inputs, **params) -> output
    vjp(g, output, *inputs, **params) -> one gradient per differentiable input

``inputs`` are ndarrays already converted to the compute dtype, ``params`` are all of
the function's parameters with defaults filled in and validated, ``g`` is the upstream
gradient (the output's shape) and ``output`` is the forward's result, so the VJP can
reuse it (sigmoid' = y(1 - y)). A VJP for one differentiable input may return the bare
array. Functions are written with a decorator and ``defvjp``:

    @activation(summary=..., formula=..., output_range="(0, 1)")
    def sigmoid(input):
        return expit(input)

    @sigmoid.defvjp
    def _(g, y, input):
        return g * y * (1 - y)

A VJP is itself a function of (g, *inputs), h(g, x) = J(x)ᵀg, and may have its own VJP,
the second order (``defvjpvjp``; ``defsecond`` builds it for an elementwise function
from f''), which the gradient checker verifies with ``order=2``:

    vjp_vjp(w, g, output, *inputs, **params) -> (∂/∂g, one array per differentiable input)

``w`` is the upstream gradient of h's outputs: an array shaped like the one
differentiable input, or a tuple with one array per differentiable input. ∂/∂g = J(x)·w
(shaped like g) and ∂/∂xₖ = ∂⟨J(x)ᵀg, w⟩/∂xₖ (shaped like xₖ). w and g are finite.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from nnfunc.errors import InvalidArgumentError

ParamKind = Literal["float", "int", "bool", "str", "tensor"]
InputKind = Literal["float", "index", "index_or_float"]
FunctionKind = Literal["activation", "loss"]


class _Required:
    """Marker default for a parameter the caller must give (torch's ``threshold``)."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Input:
    """A positional input.

    ``kind``: ``float`` (real values), ``index`` (int64 class indices) or
    ``index_or_float`` (cross_entropy's target: indices or probabilities).
    """

    name: str
    differentiable: bool = True
    kind: InputKind = "float"
    doc: str = ""


@dataclass(frozen=True)
class Param:
    """A keyword parameter with torch's name and default.

    ``minimum``/``maximum`` bound numbers (``exclusive_*`` makes a bound strict),
    ``choices`` lists the allowed strings, ``nullable`` allows ``None``
    (a tensor parameter's default).
    """

    name: str
    kind: ParamKind
    default: Any = REQUIRED
    doc: str = ""
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    nullable: bool = False

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def allowed(self) -> str:
        """The allowed values in one line, for metadata and error messages."""
        if self.choices:
            return " | ".join(repr(c) for c in self.choices)
        if self.minimum is None and self.maximum is None:
            return {"tensor": "a float tensor", "bool": "true | false"}.get(self.kind, "any")
        lo = "(" if self.exclusive_minimum else "["
        hi = ")" if self.exclusive_maximum else "]"
        a = "-inf" if self.minimum is None else f"{self.minimum:g}"
        b = "inf" if self.maximum is None else f"{self.maximum:g}"
        return f"{lo}{a}, {b}{hi}"

    def validate(self, value: Any) -> Any:
        """The value coerced to this parameter's type, or InvalidArgumentError naming it."""
        where = f"parameters.{self.name}"
        if value is None:
            if self.nullable:
                return None
            raise InvalidArgumentError(f"{where}: expected {self.kind}, got None", field=where)
        if self.kind == "tensor":
            arr = np.asarray(value)
            if arr.dtype.kind not in "fiub":
                raise InvalidArgumentError(
                    f"{where}: expected a real tensor, got dtype {arr.dtype}", field=where
                )
            return arr
        if self.kind == "bool":
            if not isinstance(value, bool | np.bool_):
                raise InvalidArgumentError(
                    f"{where}: expected a bool, got {type(value).__name__}", field=where
                )
            return bool(value)
        if self.kind == "str":
            if not isinstance(value, str):
                raise InvalidArgumentError(
                    f"{where}: expected one of {self.allowed}, got {type(value).__name__}",
                    field=where,
                )
            if self.choices and value not in self.choices:
                raise InvalidArgumentError(
                    f"{where}: expected one of {self.allowed}, got {value!r}", field=where
                )
            return value
        # Numbers: bool is an int in Python, but never a number here.
        if isinstance(value, bool | np.bool_) or not isinstance(
            value, int | float | np.integer | np.floating
        ):
            raise InvalidArgumentError(
                f"{where}: expected {'an int' if self.kind == 'int' else 'a number'}, "
                f"got {type(value).__name__}",
                field=where,
            )
        if self.kind == "int":
            if isinstance(value, float | np.floating) and not float(value).is_integer():
                raise InvalidArgumentError(f"{where}: expected an int, got {value!r}", field=where)
            value = int(value)
        else:
            value = float(value)
            if math.isnan(value):
                raise InvalidArgumentError(f"{where}: expected a number, got NaN", field=where)
        if not self._in_range(value):
            raise InvalidArgumentError(
                f"{where}: expected a value in {self.allowed}, got {value!r}", field=where
            )
        return value

    def _in_range(self, v: float) -> bool:
        if self.minimum is not None and (
            v < self.minimum or (self.exclusive_minimum and v == self.minimum)
        ):
            return False
        return not (
            self.maximum is not None
            and (v > self.maximum or (self.exclusive_maximum and v == self.maximum))
        )


Forward = Callable[..., np.ndarray]
Vjp = Callable[..., "np.ndarray | tuple[np.ndarray, ...]"]
VjpVjp = Callable[..., "tuple[np.ndarray, ...]"]
KinkMask = Callable[..., "tuple[np.ndarray, ...]"]
ParamCheck = Callable[[dict[str, Any], tuple[np.ndarray, ...]], None]
#: kernels(dtype, **params) -> (forward, value_and_grad, scalars), or None (see _kernels)
KernelChoice = Callable[..., "tuple[Callable[..., None], Callable[..., None], tuple] | None"]


@dataclass(eq=False)
class FunctionSpec:
    """One catalog entry: forward, VJP and metadata in one place.

    ``kinks`` describes where the function is not differentiable and what gradient
    torch returns there; ``kink_mask(step, *inputs, **params)`` (step and inputs
    positional-only, since a function may have its own ``eps``) returns, for each
    differentiable input, a boolean array marking elements within ``eps`` of a kink
    (the gradient checker reports those apart). ``check`` validates parameters
    against each other and the inputs (hardtanh's min_val <= max_val), raising
    InvalidArgumentError; ``notes`` are further facts worth a line each.
    ``elementwise`` says that each output element depends only on the matching
    (broadcast-aligned) element of each input, so the checker can perturb all
    elements at once.
    """

    name: str
    kind: FunctionKind
    forward: Forward
    summary: str
    formula: str
    inputs: tuple[Input, ...] = (Input("input"),)
    params: tuple[Param, ...] = ()
    output_range: str = ""
    kinks: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    source: str = ""
    notes: tuple[str, ...] = ()
    elementwise: bool = False
    #: Elements from which an elementwise call runs in blocks over every core (None:
    #: _ops.PARALLEL_MIN_SIZE, 2^20). Kernels built on exp/log/erf gain already at 2^18;
    #: one-pass ones (relu, hardtanh) lose below 2^20 (bench/catalog.py at 1M float32).
    parallel_min_size: int | None = None
    vjp: Vjp | None = None
    kink_mask: KinkMask | None = None
    check: ParamCheck | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    vjp_vjp: VjpVjp | None = None
    kink_mask2: KinkMask | None = None
    #: For an elementwise activation: fused kernels for large calls (``_kernels``),
    #: chosen by ``kernels(dtype, **params)``; None for a dtype or parameters they
    #: do not cover, which then take the NumPy formula.
    kernels: KernelChoice | None = None

    def defvjp(self, fn: Vjp) -> Vjp:
        """Decorator: attach the VJP written right below the forward."""
        self.vjp = fn
        return fn

    def defkinks(self, fn: KinkMask) -> KinkMask:
        """Decorator: attach the kink mask (see the class docstring)."""
        self.kink_mask = fn
        return fn

    def defcheck(self, fn: ParamCheck) -> ParamCheck:
        """Decorator: attach a cross-parameter check."""
        self.check = fn
        return fn

    def defvjpvjp(self, fn: VjpVjp) -> VjpVjp:
        """Decorator: attach the second-order VJP (see the module docstring)."""
        self.vjp_vjp = fn
        return fn

    def defkernels(self, fn: KernelChoice) -> KernelChoice:
        """Decorator: attach the kernel choice (see the ``kernels`` field)."""
        self.kernels = fn
        return fn

    def defkinks2(self, fn: KinkMask) -> KinkMask:
        """Decorator: attach the kinks of the first derivative (see the class docstring)."""
        self.kink_mask2 = fn
        return fn

    def defsecond(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator for an elementwise function of one input: attach the second-order
        VJP built from ``fn(output, input, **params) -> f''(x)`` (an array, or the scalar
        0 for a piecewise-linear function). J is diagonal, so ∂/∂g = J·w is the VJP
        applied to w, and ∂/∂x = w·g·f''(x)."""

        def vjp_vjp(w, g, y, input, /, **params):
            dg = self.vjp(w, y, input, **params)
            second = fn(y, input, **params)
            if np.ndim(second) == 0 and second == 0:
                return dg, np.zeros(np.shape(input), dtype=input.dtype)
            dx = np.multiply(w, g, dtype=input.dtype)
            dx *= second
            return dg, dx

        self.vjp_vjp = vjp_vjp
        return fn

    @property
    def max_order(self) -> int:
        """The highest derivative order the gradient checker verifies: 2 with a
        second-order VJP, else 1."""
        return 2 if self.vjp_vjp is not None else 1

    @property
    def differentiable(self) -> tuple[Input, ...]:
        return tuple(i for i in self.inputs if i.differentiable)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def __call__(self, *inputs: Any, **params: Any) -> np.ndarray:
        from nnfunc.catalog.registry import evaluate

        return evaluate(self, *inputs, **params)


REGISTRY: dict[str, FunctionSpec] = {}
ALIASES: dict[str, str] = {}


def register(spec: FunctionSpec) -> FunctionSpec:
    """Add a spec (and its aliases) to the registry; names must be unique."""
    for name in (spec.name, *spec.aliases):
        if name in REGISTRY or name in ALIASES:
            raise ValueError(f"catalog name registered twice: {name}")
    REGISTRY[spec.name] = spec
    for alias in spec.aliases:
        ALIASES[alias] = spec.name
    return spec


def _define(kind: FunctionKind, default_inputs: tuple[Input, ...]):
    def decorator_factory(
        *,
        summary: str,
        formula: str,
        inputs: Sequence[Input] = default_inputs,
        params: Sequence[Param] = (),
        name: str | None = None,
        **meta: Any,
    ) -> Callable[[Forward], FunctionSpec]:
        def decorate(forward: Forward) -> FunctionSpec:
            spec_name = name or forward.__name__
            meta.setdefault("source", f"torch.nn.functional.{spec_name}")
            return register(
                FunctionSpec(
                    name=spec_name,
                    kind=kind,
                    forward=forward,
                    summary=summary,
                    formula=formula,
                    inputs=tuple(inputs),
                    params=tuple(params),
                    **meta,
                )
            )

        return decorate

    return decorator_factory


activation = _define("activation", (Input("input"),))
"""Decorator for an activation; pass ``elementwise=True`` for pointwise ones."""
loss = _define("loss", (Input("input"), Input("target", differentiable=False)))


def near_points(points: Callable[..., Sequence[float]]) -> KinkMask:
    """A kink mask for an elementwise function whose kinks sit at fixed x values.

    ``points(**params)`` lists the x values; an element is near a kink when a central
    difference of step eps around it would straddle one.
    """

    def mask(step: float, x: np.ndarray, /, *rest: np.ndarray, **params: Any) -> tuple[np.ndarray]:
        x64 = np.asarray(x, dtype=np.float64)  # float32 - a huge point would overflow
        near = np.zeros(x64.shape, dtype=bool)
        for p in points(**params):
            if math.isfinite(p):  # inf - inf is no distance
                near |= np.abs(x64 - p) <= step
        return (near,)

    return mask


#: The largest float32: the bound of parameters that must stay finite in every dtype.
FLOAT32_MAX = float(np.finfo(np.float32).max)

REDUCTION = Param(
    "reduction",
    "str",
    "mean",
    "'none': per-element losses; 'mean': their mean; 'sum': their sum.",
    choices=("none", "mean", "sum"),
)
