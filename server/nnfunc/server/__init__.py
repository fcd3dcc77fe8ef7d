"""The nnfunc gRPC server: nnfunc.v1.FunctionService, health and reflection.

    python -m nnfunc.server --port 50051        # or: nnfunc serve
    handle = start(Settings(port=0)); handle.port; handle.stop(grace=1.0)

Settings are read once (flags over NNFUNC_* variables over defaults) into a frozen
``Settings`` and passed in; nothing else reads the environment.
"""

from nnfunc.server.app import ServerHandle, configure_logging, main, serve, start
from nnfunc.server.settings import Settings

__all__ = ["ServerHandle", "Settings", "configure_logging", "main", "serve", "start"]
