"""Elementwise activations (torch.nn.functional): forward and VJP side by side."""

from __future__ import annotations

import numpy as np

from nnfunc.catalog import _ops
from nnfunc.catalog.spec import activation, near_points


@activation(
    summary="Squashes any real number into (0, 1); the classic gate and the output of "
    "binary classifiers (prefer binary_cross_entropy_with_logits to sigmoid + BCE).",
    formula="σ(x) = 1 / (1 + e^(-x))",
    output_range="(0, 1)",
    aliases=("logistic", "expit"),
    elementwise=True,
)
def sigmoid(input):
    return _ops.sigmoid(input)


@sigmoid.defvjp
def _(g, y, input):
    return g * y * (1 - y)  # σ' = σ(1 - σ), from the saved output


@activation(
    summary="Passes positives and zeroes negatives; the default hidden-layer activation.",
    formula="relu(x) = max(0, x)",
    output_range="[0, inf)",
    kinks=("x = 0: gradient 0 (torch's threshold_backward)",),
    elementwise=True,
)
def relu(input):
    return np.maximum(input, 0)  # propagates NaN (np.fmax would drop it)


@relu.defvjp
def _(g, y, input):
    # torch: grad where the result > 0, and at NaN inputs (NaN > 0 is False there,
    # but torch's threshold_backward passes the gradient): 1 at NaN.
    return np.where((y > 0) | np.isnan(input), g, 0)


relu.defkinks(near_points(lambda: (0.0,)))
