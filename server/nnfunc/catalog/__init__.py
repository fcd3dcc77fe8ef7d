"""The catalog: every activation and loss, its forward, its VJP and its metadata.

NumPy/SciPy formulas, with fused numba kernels for large calls (``_kernels``); no
gRPC. Call by name::

    from nnfunc import catalog
    y = catalog.evaluate("leaky_relu", x, negative_slope=0.2)
    y, (dx,) = catalog.value_and_grad("sigmoid", x, grad_output=g)
    report = catalog.check_gradient("gelu", x, approximate="tanh")
"""

from nnfunc.catalog import (  # noqa: F401  (importing registers the entries)
    activations,
    activations_beyond,
    activations_piecewise,
    along_axis,
    losses_beyond,
    losses_classification,
    losses_elementwise,
)
from nnfunc.catalog.gradcheck import GradcheckReport, InputReport, check_gradient
from nnfunc.catalog.registry import evaluate, gradient, lookup, names, value_and_grad
from nnfunc.catalog.spec import ALIASES, REGISTRY, REQUIRED, FunctionSpec, Input, Param

__all__ = [
    "ALIASES",
    "REGISTRY",
    "REQUIRED",
    "FunctionSpec",
    "GradcheckReport",
    "Input",
    "InputReport",
    "Param",
    "check_gradient",
    "evaluate",
    "gradient",
    "lookup",
    "names",
    "value_and_grad",
]
