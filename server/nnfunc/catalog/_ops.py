"""Numerical building blocks shared by the catalog's entries.

Each one is written so that no input, finite or not, makes NumPy warn: the stable
identity is the code, with a comment saying why.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from nnfunc.catalog.spec import FunctionSpec
from nnfunc.errors import InvalidArgumentError

#: Below this x, σ(x) = e^x exactly in float32 and float64 (1 + e^x rounds to 1), and
#: e^{-x} is still far from overflowing (float32 overflows at 88.7).
_SIGMOID_TAIL = -80.0


def sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1 / (1 + e^{-x}), vectorized (scipy's expit is scalar code, ~4x slower).

    Within 2 ulp of the float64 value in float32 (tests/catalog/test_accuracy.py). For
    x < -80 (checked with one cheap reduction) e^{-x} is kept from overflowing and the
    value is e^x there; each element's result is the same whichever path its
    neighbours send it down.
    """
    return _logistic(x, None)


def logistic_times(x: np.ndarray) -> np.ndarray:
    """x·σ(x) = x / (1 + e^{-x}) (silu), with the same tail care as ``sigmoid``:
    x·e^x below -80, 0 at -inf, NaN at NaN."""
    return _logistic(x, x)


def _logistic(x: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 0:  # ufuncs return scalars for 0-d arrays, which out= cannot take
        return _logistic(x.reshape(1), None if scale is None else x.reshape(1)).reshape(())
    low = x.min(initial=0.0)  # NaN when x holds NaN
    tail = not low >= _SIGMOID_TAIL
    t = np.negative(x) if not tail else np.negative(np.maximum(x, _SIGMOID_TAIL))
    np.exp(t, out=t)
    t += 1
    if scale is None:
        np.reciprocal(t, out=t)
    else:
        np.divide(scale, t, out=t)
    if tail:  # rare: computed in float64, where e^x (x >= -708) is not yet subnormal
        far = x < _SIGMOID_TAIL  # False at NaN, which already gave NaN above
        x64 = np.minimum(x, 0, dtype=np.float64)
        e = np.exp(x64)
        if scale is not None:
            e *= np.maximum(x64, -1000.0)  # e^x is exactly 0 below -746: keeps -inf·0 out
        np.copyto(t, e, where=far, casting="same_kind")
    return t


def log_sigmoid(x: np.ndarray) -> np.ndarray:
    """log σ(x) = min(x, 0) - log1p(e^{-|x|}): exact for large |x| (-1000 -> -1000),
    and 10x faster than scipy's log_expit at 1M float32."""
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + e^x) = max(x, 0) + log1p(e^{-|x|}); the exponent is never positive."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def shifted(x: np.ndarray, axis: int, negate: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """(d, bad): d = z - max(z) along ``axis`` for z = -x if ``negate`` else x.

    Every d is <= 0 (or -inf), so exp(d) never overflows. ``bad`` marks (keepdims shape)
    the slices whose max is not finite (NaN, +inf, or all -inf): their d is a
    placeholder 0 and the caller turns them into NaN; None when every slice is fine.
    """
    m = x.min(axis=axis, keepdims=True) if negate else x.max(axis=axis, keepdims=True)
    bad = ~np.isfinite(m)
    if bad.any():
        # A placeholder shift of 0 on placeholder zeros: no inf - inf, no exp(+inf).
        m = np.where(bad, 0, m)
        x = np.where(bad, 0, x)
    else:
        bad = None
    # z - max(z) can only overflow (to -inf, its rounded value) when the shift and the
    # entry are both huge and of opposite signs; two cheap reductions rule that out.
    big = float(np.finfo(x.dtype).max)
    if negate:  # d = min(x) - x
        low = float(m.min())
        if low >= 0 or float(x.max()) <= low + big:
            return np.subtract(m, x), bad
        far = x > np.minimum(m, 0) + big
        out = np.full(x.shape, -np.inf, dtype=x.dtype)
        return np.subtract(m, x, out=out, where=~far), bad
    high = float(m.max())
    if high <= 0 or float(x.min()) >= high - big:
        return np.subtract(x, m), bad
    far = x < np.maximum(m, 0) - big  # includes -inf entries, whose d is -inf anyway
    out = np.full(x.shape, -np.inf, dtype=x.dtype)
    return np.subtract(x, m, out=out, where=~far), bad


def all_finite(a: np.ndarray) -> bool:
    """No NaN or ±inf in ``a``: two fast reductions (NaN propagates through both)."""
    return a.size == 0 or bool(np.isfinite(a.min()) and np.isfinite(a.max()))


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched to reach its shape."""
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape) if axes else grad.reshape(shape)


def same_shape(spec: FunctionSpec, *arrays: np.ndarray) -> None:
    """Refuse inputs whose shapes differ (torch's losses that do not broadcast)."""
    first = arrays[0].shape
    for k, a in enumerate(arrays[1:], start=1):
        if a.shape != first:
            name = spec.inputs[k].name
            raise InvalidArgumentError(
                f"inputs[{k}] ({name}): expected shape {list(first)} "
                f"(the shape of {spec.inputs[0].name}), got {list(a.shape)}",
                field=f"inputs[{k}]",
            )


def normalize_dim(dim: int, ndim: int, field: str = "parameters.dim") -> int:
    """A possibly negative axis made positive; 0-d tensors take dim 0 or -1 as torch does."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise InvalidArgumentError(
            f"{field}: expected an axis in [{-n}, {n - 1}] for a {ndim}-d input, got {dim}",
            field=field,
        )
    return dim % n


# ---------------------------------------------------------------------------
# Blocked, multi-threaded evaluation of large inputs
# ---------------------------------------------------------------------------

#: Inputs with at least this many elements are worked on in blocks spread over threads
#: (the registry's elementwise path), unless a spec sets its own ``parallel_min_size``.
#: At 1M float32 on 2 cores (quiet machine), blocks cost one-pass kernels 0.2-0.6 ms
#: (relu 0.30 -> 0.55 ms, hardtanh 0.33 -> 0.92 ms) but halve transcendental ones
#: (gelu 9.1 -> 5.0 ms, mish 4.0 -> 1.8 ms): those set TRANSCENDENTAL_MIN_SIZE.
#: At 16M blocks win 1.5-4x (no page-faulted full-size temporaries).
PARALLEL_MIN_SIZE = 1 << 20
TRANSCENDENTAL_MIN_SIZE = 1 << 18

#: Elements per block: small enough that a kernel's handful of temporaries stay in a
#: core's L2 cache (and are recycled by the allocator instead of page-faulted in), large
#: enough that NumPy's per-call overhead (~1 µs a ufunc) stays small.
BLOCK = 1 << 15


#: Elements from which an elementwise activation with fused kernels (``_kernels``) runs
#: them instead of its NumPy formula: below, NumPy's few passes cost little and no
#: kernel needs compiling.
KERNEL_MIN_SIZE = 1 << 16


#: Elements per launch of a fused kernel (which splits them over every core itself):
#: large, since a kernel has no temporaries to keep in cache; the call's deadline is
#: checked between launches.
KERNEL_BLOCK = 1 << 22


def _cpus() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


THREADS = _cpus()
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _helpers() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max(1, THREADS - 1), thread_name_prefix="nnfunc-block")
        return _pool


def run_blocks(n: int, work: Callable[[int, int], None], block: int | None = None) -> None:
    """Call ``work(start, stop)`` once for each block [start, stop) of ``range(n)``
    (``block`` elements each, BLOCK by default).

    Blocks are handed out one at a time from a shared counter, to the caller's thread
    and to up to THREADS - 1 helper threads (NumPy and scipy ufuncs release the GIL), so
    a core slowed by other work simply takes fewer blocks. The caller works too, so the
    call progresses even when every helper is busy with another request. ``work`` must
    write disjoint outputs; the first exception raised stops the handing out of blocks
    and is re-raised here once every thread has stopped.
    """
    block = block or BLOCK
    count = -(-n // block)
    counter = itertools.count()  # next() on it is atomic under the GIL
    failed = threading.Event()

    def loop() -> None:
        for i in counter:
            if i >= count or failed.is_set():
                return
            try:
                work(i * block, min((i + 1) * block, n))
            except BaseException:
                failed.set()
                raise

    helpers = min(THREADS, count) - 1
    futures = [_helpers().submit(loop) for _ in range(helpers)] if helpers > 0 else []
    try:
        loop()
    finally:
        errors = [f.exception() for f in futures]  # waits for each helper
    for error in errors:
        if error is not None:
            raise error
