"""Benchmark workloads: for each catalog function, inputs and parameters at a given size.

A workload builds float32 inputs holding about ``n`` elements in its main input (the
activation's input, the loss's prediction) and the parameters to pass, with torch's
names, to both nnfunc and ``torch.nn.functional``. Shapes are what the function is used
with: row-wise functions and per-sample losses take (N, 1000) (cross_entropy: N samples
of 1000 logits), elementwise ones the same (N, 1000) block.

``torch_calls`` returns the same work in torch (forward, and forward + backward for the
inputs nnfunc differentiates) when torch is importable. Nothing here imports nnfunc.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

F32 = np.float32
ROW = 1000  # the row length of (N, 1000) workloads

Built = tuple[tuple[np.ndarray, ...], dict[str, Any]]


@dataclass(frozen=True)
class Workload:
    """How to benchmark one function.

    ``build(n, rng)`` returns (inputs, params); ``grad_inputs`` are the indices of the
    differentiable inputs (nnfunc's and torch's); ``shape`` describes the main input;
    ``torch_name`` is the torch.nn.functional (or torch) callable when it is spelled
    differently from the catalog name.
    """

    build: Callable[[int, np.random.Generator], Built]
    shape: str = f"(N, {ROW})"
    grad_inputs: tuple[int, ...] = (0,)
    torch_name: str | None = None
    variants: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def rows(n: int, width: int = ROW) -> tuple[int, int]:
    return (max(n // width, 1), width)


def normal(rng: np.random.Generator, shape, scale: float = 3.0) -> np.ndarray:
    return (rng.standard_normal(shape, dtype=F32) * F32(scale)).astype(F32, copy=False)


def signs(rng: np.random.Generator, shape) -> np.ndarray:
    return np.where(rng.random(shape, dtype=F32) < 0.5, F32(-1), F32(1))


def bits(rng: np.random.Generator, shape) -> np.ndarray:
    return (rng.random(shape, dtype=F32) < 0.5).astype(F32)


def log_probs(rng: np.random.Generator, shape) -> np.ndarray:
    z = normal(rng, shape, 1.0)
    z -= z.max(axis=-1, keepdims=True)
    z -= np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return z


def classes(rng: np.random.Generator, n_rows: int, width: int = ROW) -> np.ndarray:
    return rng.integers(0, width, size=n_rows, dtype=np.int64)


# ---------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------


def _one(scale: float = 3.0, **params: Any) -> Callable[[int, np.random.Generator], Built]:
    """One (N, 1000) normal input; ``params`` passed as they are."""

    def build(n: int, rng: np.random.Generator) -> Built:
        return (normal(rng, rows(n), scale),), dict(params)

    return build


def _pair(target: str = "normal", **params: Any) -> Callable[[int, np.random.Generator], Built]:
    """input (N, 1000) and a target of the same shape: normal, ±1 signs or {0, 1} bits."""

    def build(n: int, rng: np.random.Generator) -> Built:
        shape = rows(n)
        x = normal(rng, shape)
        y = {"normal": normal, "signs": signs, "bits": bits}[target](rng, shape)
        return (x, y), dict(params)

    return build


def _prelu(n: int, rng: np.random.Generator) -> Built:
    shape = rows(n)
    weight = np.full(shape[1], 0.25, dtype=F32)  # one slope per channel (dim 1)
    return (normal(rng, shape), weight), {}


def _bce(n: int, rng: np.random.Generator) -> Built:
    shape = rows(n)
    p = rng.uniform(0.01, 0.99, size=shape).astype(F32)
    return (p, bits(rng, shape)), {}


def _poisson(n: int, rng: np.random.Generator) -> Built:
    shape = rows(n)
    return (normal(rng, shape, 1.0), rng.poisson(2.0, size=shape).astype(F32)), {}


def _gaussian(n: int, rng: np.random.Generator) -> Built:
    shape = rows(n)
    var = rng.uniform(0.5, 2.0, size=shape).astype(F32)
    return (normal(rng, shape), normal(rng, shape), var), {}


def _kl_div(n: int, rng: np.random.Generator) -> Built:
    shape = rows(n)
    return (log_probs(rng, shape), np.exp(log_probs(rng, shape))), {"reduction": "batchmean"}


def _class_logits(log: bool) -> Callable[[int, np.random.Generator], Built]:
    def build(n: int, rng: np.random.Generator) -> Built:
        shape = rows(n)
        x = log_probs(rng, shape) if log else normal(rng, shape)
        return (x, classes(rng, shape[0])), {}

    return build


def _multilabel_margin(n: int, rng: np.random.Generator) -> Built:
    shape = rows(n)
    target = np.full(shape, -1, dtype=np.int64)  # 4 labels per row, then -1
    for k in range(4):
        target[:, k] = classes(rng, shape[0])
    return (normal(rng, shape), target), {}


def _margin_ranking(n: int, rng: np.random.Generator) -> Built:
    return (normal(rng, n), normal(rng, n), signs(rng, n)), {}


def _cosine_embedding(n: int, rng: np.random.Generator) -> Built:
    shape = rows(n)
    return (normal(rng, shape), normal(rng, shape), signs(rng, shape[0])), {}


def _triplet(n: int, rng: np.random.Generator) -> Built:
    shape = rows(n)
    return (normal(rng, shape), normal(rng, shape), normal(rng, shape)), {}


WORKLOADS: dict[str, Workload] = {
    # elementwise activations
    "sigmoid": Workload(_one(), torch_name="torch.sigmoid"),
    "tanh": Workload(_one(), torch_name="torch.tanh"),
    "relu": Workload(_one()),
    "relu6": Workload(_one(4.0)),
    "leaky_relu": Workload(_one()),
    "prelu": Workload(_prelu, grad_inputs=(0, 1)),
    "rrelu": Workload(_one()),
    "elu": Workload(_one()),
    "selu": Workload(_one()),
    "celu": Workload(_one()),
    "gelu": Workload(_one(), variants=({"approximate": "tanh"},)),
    "silu": Workload(_one()),
    "mish": Workload(_one()),
    "softplus": Workload(_one(10.0)),
    "softsign": Workload(_one()),
    "hardtanh": Workload(_one()),
    "hardsigmoid": Workload(_one()),
    "hardswish": Workload(_one()),
    "logsigmoid": Workload(_one()),
    "tanhshrink": Workload(_one()),
    "softshrink": Workload(_one()),
    "hardshrink": Workload(_one()),
    "threshold": Workload(_one(threshold=0.1, value=20.0)),
    # along an axis
    "softmax": Workload(_one(dim=-1)),
    "log_softmax": Workload(_one(dim=-1)),
    "softmin": Workload(_one(dim=-1)),
    "glu": Workload(_one(dim=-1)),
    # elementwise losses (reduction 'mean', torch's default)
    "mse_loss": Workload(_pair()),
    "l1_loss": Workload(_pair()),
    "smooth_l1_loss": Workload(_pair()),
    "huber_loss": Workload(_pair()),
    "binary_cross_entropy": Workload(_bce),
    "binary_cross_entropy_with_logits": Workload(_pair("bits")),
    "poisson_nll_loss": Workload(_poisson),
    "gaussian_nll_loss": Workload(_gaussian, grad_inputs=(0, 2)),
    "kl_div": Workload(_kl_div),
    "soft_margin_loss": Workload(_pair("signs")),
    "multilabel_soft_margin_loss": Workload(_pair("bits")),
    "hinge_embedding_loss": Workload(_pair("signs")),
    # classification, margin and embedding losses
    "cross_entropy": Workload(_class_logits(log=False), shape=f"(N, {ROW}) logits, (N,) int64"),
    "nll_loss": Workload(_class_logits(log=True), shape=f"(N, {ROW}) log-probs, (N,) int64"),
    "multi_margin_loss": Workload(_class_logits(log=False), shape=f"(N, {ROW}), (N,) int64"),
    "multilabel_margin_loss": Workload(_multilabel_margin, shape=f"(N, {ROW}), 4 labels per row"),
    "margin_ranking_loss": Workload(_margin_ranking, shape="(n,) ×2, ±1", grad_inputs=(0, 1)),
    "cosine_embedding_loss": Workload(
        _cosine_embedding, shape=f"(N, {ROW}) ×2, (N,) ±1", grad_inputs=(0, 1)
    ),
    "triplet_margin_loss": Workload(_triplet, shape=f"(N, {ROW}) ×3", grad_inputs=(0, 1, 2)),
}


def build(name: str, n: int, seed: int = 0) -> Built:
    """Inputs and params of ``name``'s workload at ``n`` elements (deterministic)."""
    return WORKLOADS[name].build(n, np.random.default_rng(seed))


# ---------------------------------------------------------------------------
# The same work in torch
# ---------------------------------------------------------------------------


def torch_calls(
    name: str, inputs: tuple[np.ndarray, ...], params: dict[str, Any]
) -> tuple[Callable[[], Any], Callable[[], Any]] | None:
    """(forward, forward + backward) closures running ``name`` in torch on the same data,
    or None when torch is not importable. The backward gets a precomputed upstream
    gradient of ones, as the nnfunc side does."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None
    work = WORKLOADS[name]
    if work.torch_name:
        module, attr = work.torch_name.rsplit(".", 1)
        fn = getattr(torch if module == "torch" else F, attr)
    else:
        fn = getattr(F, name)
    plain = [torch.from_numpy(np.ascontiguousarray(a)) for a in inputs]
    leaves = [
        t.detach().clone().requires_grad_() if k in work.grad_inputs else t
        for k, t in enumerate(plain)
    ]
    wrt = [leaves[k] for k in work.grad_inputs]
    with torch.no_grad():
        g = torch.ones_like(fn(*plain, **params))

    def forward():
        with torch.no_grad():
            return fn(*plain, **params)

    def forward_backward():
        y = fn(*leaves, **params)
        return torch.autograd.grad(y, wrt, g)

    return forward, forward_backward
