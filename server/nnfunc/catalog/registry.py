"""Calling catalog functions by name: lookup, validation, dtype policy, forward and VJP.

dtype policy (torch's): float32 and float64 compute in their own dtype; float16 is
computed in float32 and returned as float16; integer or bool data given for a real
input is promoted to float64. When several real inputs are given, they are promoted
to one compute dtype (numpy's result_type). Each gradient comes back in the dtype of
the input it belongs to. Index inputs (class indices) must hold integers. A float
parameter beyond the compute dtype's range becomes ±inf, as torch's scalar cast does.

Deadlines are cooperative: inside ``with deadline_scope(at)`` (``at`` a
``time.monotonic()`` value), the long loops (the blocks of a large elementwise call,
the gradient checker's forward calls) call ``check_deadline()`` and stop with
DeadlineExceededError once ``at`` has passed. The server sets it for each call.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from nnfunc.catalog import _kernels, _ops
from nnfunc.catalog.spec import ALIASES, REGISTRY, FunctionSpec
from nnfunc.errors import DeadlineExceededError, InvalidArgumentError, NotFoundError

Params = Mapping[str, Any]

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "nnfunc_deadline", default=None
)


@contextlib.contextmanager
def deadline_scope(at: float | None) -> Iterator[None]:
    """Work done inside stops (DeadlineExceededError) once ``time.monotonic()`` reaches
    ``at``; None adds no limit. Nested scopes keep the earlier deadline."""
    outer = _DEADLINE.get()
    if at is None or (outer is not None and outer <= at):
        yield
        return
    token = _DEADLINE.set(at)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def current_deadline() -> float | None:
    """The deadline of the enclosing ``deadline_scope`` (None: none)."""
    return _DEADLINE.get()


def check_deadline(at: float | None = None) -> None:
    """DeadlineExceededError when ``at`` (default: the current scope's deadline) has passed."""
    at = _DEADLINE.get() if at is None else at
    if at is not None and time.monotonic() >= at:
        raise DeadlineExceededError("the call's deadline passed while it was computing")


def lookup(name: str | FunctionSpec) -> FunctionSpec:
    """The spec for a canonical name or an alias; NotFoundError suggests close names."""
    if isinstance(name, FunctionSpec):
        return name
    spec = REGISTRY.get(name) or REGISTRY.get(ALIASES.get(name, ""))
    if spec is not None:
        return spec
    known = sorted([*REGISTRY, *ALIASES])
    close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise NotFoundError(
        f"function: unknown function {name!r}{hint} ({len(REGISTRY)} functions are listed "
        "by ListFunctions)",
        field="function",
        details=close,
    )


def names() -> list[str]:
    """Canonical names, sorted."""
    return sorted(REGISTRY)


def bind_params(spec: FunctionSpec, params: Params) -> dict[str, Any]:
    """Every parameter validated and coerced, with defaults filled in."""
    if params:
        known = {p.name for p in spec.params}
        unknown = sorted(name for name in params if name not in known)
        if unknown:
            expected = ", ".join(p.name for p in spec.params) or "none"
            raise InvalidArgumentError(
                f"parameters.{unknown[0]}: {spec.name} has no parameter {unknown[0]!r} "
                f"(its parameters: {expected})",
                field=f"parameters.{unknown[0]}",
            )
    bound: dict[str, Any] = {}
    for p in spec.params:
        if p.name in params:
            bound[p.name] = p.validate(params[p.name])
        elif p.required:
            raise InvalidArgumentError(
                f"parameters.{p.name}: {spec.name} requires parameter {p.name!r} ({p.doc})",
                field=f"parameters.{p.name}",
            )
        else:
            bound[p.name] = p.default
    return bound


def _compute_dtype(spec: FunctionSpec, arrays: Sequence[np.ndarray]) -> tuple[np.dtype, np.dtype]:
    """(compute dtype, result dtype) from the real inputs."""
    real = []
    for a in arrays:
        if a.dtype.kind == "f":
            real.append(a.dtype)
    # one native dtype (the common case) is its own result type, without result_type's cost
    if len(real) == 1 and real[0].isnative:
        result = real[0]
    else:
        result = np.result_type(*real) if real else np.dtype(np.float64)
    compute = np.dtype(np.float32) if result.itemsize == 2 else result  # float16
    return compute, result


def prepare(
    spec: FunctionSpec, inputs: Sequence[Any], params: Params
) -> tuple[tuple[np.ndarray, ...], dict[str, Any], np.dtype]:
    """Inputs checked and cast to the compute dtype, parameters bound; and the result dtype."""
    if len(inputs) != len(spec.inputs):
        wanted = ", ".join(i.name for i in spec.inputs)
        raise InvalidArgumentError(
            f"inputs: {spec.name} takes {len(spec.inputs)} input(s) ({wanted}), got {len(inputs)}",
            field="inputs",
        )
    arrays: list[np.ndarray] = []
    for value, inp in zip(inputs, spec.inputs):  # noqa: B905 (the lengths are equal)
        arr = np.asarray(value)
        kind = arr.dtype.kind
        if kind not in "fiub":
            k = len(arrays)
            raise InvalidArgumentError(
                f"inputs[{k}] ({inp.name}): expected a real tensor, got dtype {arr.dtype}",
                field=f"inputs[{k}]",
            )
        if inp.kind == "index" and kind not in "iu":
            k = len(arrays)
            raise InvalidArgumentError(
                f"inputs[{k}] ({inp.name}): expected int64 class indices, got {arr.dtype}",
                field=f"inputs[{k}]",
            )
        if inp.kind == "float" and kind != "f":
            arr = arr.astype(np.float64)
        elif kind in "iu":
            arr = arr.astype(np.int64, copy=False)
        arrays.append(arr)
    compute, result = _compute_dtype(spec, arrays)
    for k, a in enumerate(arrays):
        if a.dtype.kind == "f" and a.dtype != compute:
            arrays[k] = a.astype(compute)
    bound = bind_params(spec, params)
    largest = None
    for p in spec.params:
        value = bound[p.name]
        if value is None or p.kind not in ("tensor", "float"):
            continue
        if p.kind == "tensor":
            bound[p.name] = value.astype(compute, copy=False)
        elif abs(value) < math.inf:
            if largest is None:
                largest = float(np.finfo(compute).max)
            if abs(value) > largest:
                # torch casts a scalar to the compute dtype, saturating to ±inf; giving
                # the function that ±inf spares it NumPy's overflow-in-cast warning.
                bound[p.name] = math.copysign(math.inf, value)
    cast = tuple(arrays)
    if spec.check is not None:
        spec.check(bound, cast)
    return cast, bound, result


def _as_result(y: Any, dtype: np.dtype) -> np.ndarray:
    """``y`` in the result dtype; narrowing to float16 rounds overflow to ±inf, as a
    cast should, without NumPy's warning."""
    y = np.asarray(y)
    if y.dtype == dtype or y.dtype.kind != "f":
        return y
    if dtype.itemsize < y.dtype.itemsize:
        # The smallest magnitude that rounds to inf: max + half an ulp at the top.
        finfo = np.finfo(dtype)
        limit = float(finfo.max) + math.ldexp(1.0, finfo.maxexp - 2 - finfo.nmant)
        big = np.abs(y) >= limit
        if big.any():
            y = np.where(big, np.copysign(np.inf, y), y)
    return y.astype(dtype)


# ---------------------------------------------------------------------------
# Large elementwise calls: in cache-sized blocks, over all cores
# ---------------------------------------------------------------------------


def _blocked(spec: FunctionSpec, arrays: Sequence[np.ndarray], bound: dict) -> tuple | None:
    """How a large call runs block by block: the spec's fused kernels (from
    KERNEL_MIN_SIZE elements), ``()`` for its NumPy formula over every core (from its
    parallel_min_size), or None for one ordinary call. Only elementwise activations
    whose inputs all have one C-contiguous shape qualify: every block of the output
    then depends only on the same block of each input, seen as plain 1-d slices."""
    n = arrays[0].size
    if n < _ops.KERNEL_MIN_SIZE and n < (spec.parallel_min_size or _ops.PARALLEL_MIN_SIZE):
        return None  # small: the common case, decided first
    if not (
        spec.elementwise
        and spec.kind == "activation"
        and all(a.shape == arrays[0].shape and a.flags.c_contiguous for a in arrays)
    ):
        return None
    if spec.kernels is not None and n >= _ops.KERNEL_MIN_SIZE:
        chosen = spec.kernels(arrays[0].dtype, **bound)
        if chosen is not None:
            return chosen
    return () if n >= (spec.parallel_min_size or _ops.PARALLEL_MIN_SIZE) else None


def _vjp(
    spec: FunctionSpec,
    g: np.ndarray,
    y: np.ndarray,
    xs: Sequence[np.ndarray],
    bound: dict,
    *,
    given: bool,
) -> tuple[np.ndarray, ...]:
    """spec.vjp as a tuple. A non-finite upstream gradient (only a ``given`` one can be)
    times a zero Jacobian entry is NaN (IEEE, and torch): that product is the answer,
    not an instability, so its warning is silenced for such calls only."""
    vjp = spec.vjp
    assert vjp is not None, f"{spec.name} has no VJP"
    if given and not np.isfinite(g).all():
        with np.errstate(invalid="ignore", over="ignore"):
            out = vjp(g, y, *xs, **bound)
    else:
        out = vjp(g, y, *xs, **bound)
    return out if isinstance(out, tuple) else (out,)


def _forward_blocks(
    spec: FunctionSpec, arrays: Sequence[np.ndarray], bound: dict, kernels: tuple
) -> np.ndarray:
    """The forward over blocks of the flattened inputs, by the kernel or the NumPy
    formula: the same values as one call (each element's arithmetic is the same),
    computed with every core and without full-size temporaries."""
    flat = [a.reshape(-1) for a in arrays]
    n = flat[0].size
    y = np.empty(n, dtype=arrays[0].dtype)
    at = _DEADLINE.get()  # read here: the helper threads do not see the caller's context

    def work(start: int, stop: int) -> None:
        check_deadline(at)
        xs = [f[start:stop] for f in flat]
        if kernels:
            forward, _, scalars = kernels
            _kernels.launch(forward, *xs, *scalars, y[start:stop])
        else:
            y[start:stop] = spec.forward(*xs, **bound)

    _run(n, work, kernels)
    return y.reshape(arrays[0].shape)


def _run(n: int, work: Callable[[int, int], None], kernels: tuple) -> None:
    """``work`` over blocks: large ones in turn for a kernel (it uses every core
    itself), small ones over every core for the NumPy formula."""
    if kernels:
        for start in range(0, n, _ops.KERNEL_BLOCK):
            work(start, min(start + _ops.KERNEL_BLOCK, n))
    else:
        _ops.run_blocks(n, work)


def _value_and_grad_blocks(
    spec: FunctionSpec,
    arrays: Sequence[np.ndarray],
    bound: dict,
    g: np.ndarray | None,
    kernels: tuple,
) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Forward and VJP fused block by block (in one kernel, or with the VJP reading
    its block of y while it is still in cache); ``g`` None means ones. Same values as
    the one-call path."""
    shape, dtype = arrays[0].shape, arrays[0].dtype
    flat = [a.reshape(-1) for a in arrays]
    n = flat[0].size
    block = _ops.KERNEL_BLOCK if kernels else _ops.BLOCK
    y = np.empty(n, dtype=dtype)
    grads = [np.empty(n, dtype=dtype) for _ in spec.differentiable]
    # g None: one block's worth of ones, made once
    g_flat = np.ones(min(n, block), dtype=dtype) if g is None else g.reshape(-1)
    at = _DEADLINE.get()  # read here: the helper threads do not see the caller's context

    def work(start: int, stop: int) -> None:
        check_deadline(at)
        xs = [f[start:stop] for f in flat]
        gb = g_flat[: stop - start] if g is None else g_flat[start:stop].astype(dtype, copy=False)
        if kernels:
            _, value_and_grad, scalars = kernels
            _kernels.launch(
                value_and_grad,
                np.ascontiguousarray(gb),
                *xs,
                *scalars,
                y[start:stop],
                *(d[start:stop] for d in grads),
            )
            return
        yb = spec.forward(*xs, **bound)
        y[start:stop] = yb
        out = _vjp(spec, gb, yb, xs, bound, given=g is not None)
        for dst, grad in zip(grads, out, strict=True):
            dst[start:stop] = grad  # a scalar gradient broadcasts over its block

    _run(n, work, kernels)
    return y.reshape(shape), tuple(d.reshape(shape) for d in grads)


def evaluate(name: str | FunctionSpec, *inputs: Any, **params: Any) -> np.ndarray:
    """The forward value, in the inputs' dtype."""
    spec = lookup(name)
    arrays, bound, result = prepare(spec, inputs, params)
    plan = _blocked(spec, arrays, bound)
    if plan is not None:
        return _as_result(_forward_blocks(spec, arrays, bound, plan), result)
    return _as_result(spec.forward(*arrays, **bound), result)


def value_and_grad(
    name: str | FunctionSpec,
    *inputs: Any,
    grad_output: Any = None,
    **params: Any,
) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """(forward value, VJP for every differentiable input); ``grad_output`` defaults to ones."""
    spec = lookup(name)
    arrays, bound, result = prepare(spec, inputs, params)
    grads: tuple[np.ndarray, ...]
    plan = _blocked(spec, arrays, bound)
    if plan is not None:
        g = None if grad_output is None else _upstream(grad_output, arrays[0].shape)
        y, grads = _value_and_grad_blocks(spec, arrays, bound, g, plan)
    else:
        y = np.asarray(spec.forward(*arrays, **bound))
        if grad_output is None:
            g = np.ones(y.shape, dtype=y.dtype)
        else:
            g = _upstream(grad_output, y.shape).astype(y.dtype, copy=False)
        grads = _vjp(spec, g, y, arrays, bound, given=grad_output is not None)
    originals = [np.asarray(v) for v in inputs]
    out = []
    for inp, grad in zip(spec.differentiable, grads, strict=True):
        k = spec.inputs.index(inp)
        dtype = originals[k].dtype if originals[k].dtype.kind == "f" else result
        grad = np.asarray(grad)
        if grad.shape != arrays[k].shape:  # a VJP may return a broadcastable scalar
            grad = np.broadcast_to(grad, arrays[k].shape).copy()
        out.append(_as_result(grad, dtype))
    return _as_result(y, result), tuple(out)


def _upstream(grad_output: Any, shape: tuple[int, ...]) -> np.ndarray:
    """grad_output as an array of the output's shape (not yet cast)."""
    g = np.asarray(grad_output)
    if g.dtype.kind not in "fiub":
        raise InvalidArgumentError(
            f"grad_output: expected a real tensor, got dtype {g.dtype}", field="grad_output"
        )
    if g.shape != tuple(shape):
        raise InvalidArgumentError(
            f"grad_output: expected shape {list(shape)} (the output's), got {list(g.shape)}",
            field="grad_output",
        )
    return g


def gradient(
    name: str | FunctionSpec, *inputs: Any, grad_output: Any = None, **params: Any
) -> tuple[np.ndarray, ...]:
    """The VJP for every differentiable input, in input order."""
    return value_and_grad(name, *inputs, grad_output=grad_output, **params)[1]
