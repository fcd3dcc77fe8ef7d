"""nnfunc: activation and loss functions, their exact gradients and gradient checks.

    import nnfunc
    with nnfunc.Client("localhost:50051") as c:
        y = c.evaluate("leaky_relu", x, negative_slope=0.2)

The SDK (Client, AsyncClient, their result types) is imported on first use, so
``import nnfunc.catalog`` stays free of gRPC.
"""

import importlib
import pkgutil
from typing import TYPE_CHECKING, Any

# One import name over three source roots (client/, server/, proto/): in a wheel they
# are one folder; in a checkout or an editable install each root adds its portion.
__path__ = pkgutil.extend_path(__path__, __name__)

from nnfunc.errors import (
    CancelledError,
    DeadlineExceededError,
    Error,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
)

__version__ = "0.1.0"

# name -> the module defining it; loaded by __getattr__ on first use
_LAZY = {
    "Client": "nnfunc.client",
    "AsyncClient": "nnfunc.aio",
    "Request": "nnfunc._calls",
    "request": "nnfunc._calls",
    "CheckReport": "nnfunc._types",
    "FunctionInfo": "nnfunc._types",
    "InputCheck": "nnfunc._types",
    "InputInfo": "nnfunc._types",
    "LossResult": "nnfunc._types",
    "ParameterInfo": "nnfunc._types",
}

if TYPE_CHECKING:
    from nnfunc._calls import Request, request
    from nnfunc._types import (
        CheckReport,
        FunctionInfo,
        InputCheck,
        InputInfo,
        LossResult,
        ParameterInfo,
    )
    from nnfunc.aio import AsyncClient
    from nnfunc.client import Client


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nnfunc' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "AsyncClient",
    "CancelledError",
    "CheckReport",
    "Client",
    "DeadlineExceededError",
    "Error",
    "FunctionInfo",
    "InputCheck",
    "InputInfo",
    "InternalError",
    "InvalidArgumentError",
    "LossResult",
    "NotFoundError",
    "ParameterInfo",
    "PermissionDeniedError",
    "Request",
    "ResourceExhaustedError",
    "UnauthenticatedError",
    "UnavailableError",
    "__version__",
    "request",
]
