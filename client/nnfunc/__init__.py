"""nnfunc: activation and loss functions, their exact gradients and gradient checks.

    import nnfunc
    with nnfunc.Client("localhost:50051") as c:
        y = c.evaluate("leaky_relu", x, negative_slope=0.2)
"""

import pkgutil

# One import name over three source roots (client/, server/, proto/): in a wheel they
# are one folder; in a checkout or an editable install each root adds its portion.
__path__ = pkgutil.extend_path(__path__, __name__)

from nnfunc.errors import (  # noqa: E402
    CancelledError,
    DeadlineExceededError,
    Error,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    ResourceExhaustedError,
    UnavailableError,
)

__version__ = "0.1.0"

__all__ = [
    "CancelledError",
    "DeadlineExceededError",
    "Error",
    "InternalError",
    "InvalidArgumentError",
    "NotFoundError",
    "ResourceExhaustedError",
    "UnavailableError",
    "__version__",
]
