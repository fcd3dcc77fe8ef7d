"""Test entries for the elementwise activations (see cases.py for the schema)."""

from __future__ import annotations

import numpy as np

from tests.catalog.cases import EXTREME, Case, Grad, Sample, Value, elementwise

CASES: dict[str, Case] = {
    "sigmoid": Case(
        sample=lambda dt: elementwise(dt, -20, 20),
        values=[
            Value((0.0,), 0.5, "closed form: 1/(1+e^0)"),
            Value((np.array([1.0, -1.0]),), [1 / (1 + np.exp(-1.0)), np.exp(-1.0) / (1 + np.exp(-1.0))],
                  "closed form, both branches"),
            Value((np.array([800.0, -800.0]),), [1.0, 0.0], "catalog-reference §1.1 #1 (torch: 1/0)",
                  atol=1e-300),
            Value((np.float32(17.0),), np.float32(1.0), "catalog-reference §1.1 #1: float32 σ(17) == 1"),
            Value((np.array([np.nan, np.inf, -np.inf]),), [np.nan, 1.0, 0.0], "NaN propagates; limits"),
        ],
        grads=[
            Grad((0.0,), (0.25,), "σ'(0) = σ(0)(1-σ(0)) = 1/4"),
            Grad((np.array([800.0, -800.0]),), ([0.0, 0.0],), "catalog-reference §1.1 #1: gradient 0, no NaN"),
        ],
        extremes=[Sample((EXTREME,))],
    ),
    "relu": Case(
        sample=lambda dt: elementwise(dt, exclude=(0.0,)),
        values=[
            Value((np.array([-2.0, 0.0, 3.5]),), [0.0, 0.0, 3.5], "max(0, x) by hand"),
            Value((np.array([np.nan, -np.inf, np.inf]),), [np.nan, 0.0, np.inf], "NaN propagates"),
        ],
        grads=[
            Grad((np.array([-2.0, 0.0, 3.5]),), ([0.0, 0.0, 1.0],),
                 "catalog-reference §1.1 #3: relu'(0) = 0 (torch 2.13)"),
            Grad((np.array([np.nan]),), ([1.0],), "catalog-reference §4: torch's relu gradient at NaN is 1"),
            Grad((np.array([1.0, -1.0]),), ([2.5, 0.0],), "VJP scales by grad_output",
                 grad_output=np.array([2.5, 7.0])),
        ],
        extremes=[Sample((EXTREME,))],
    ),
}
