"""The server's settings: one typed, frozen object, read once from flags and NNFUNC_*.

Precedence: a command-line flag, then its ``NNFUNC_*`` environment variable, then the
default. Nothing else in the server reads the environment; the object is passed in.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

MiB = 1 << 20
GiB = 1 << 30

#: 64M elements per tensor: a 256 MiB float32 tensor, a 512 MiB float64 one.
DEFAULT_MAX_ELEMENTS = 1 << 26

#: 1 GiB each way. A 64M-element float32 tensor is 256 MiB, and the largest common
#: request carries two or three of them (Gradient: input and grad_output; Loss: input
#: and target; gaussian_nll_loss: input, target and var = 768 MiB), answered by a value
#: and a gradient of the same size. 512 MiB would refuse every two-tensor request at
#: 64M elements; 1 GiB admits three float32 tensors or one float64 pair less a little,
#: and stays well below protobuf's 2 GiB hard limit. It is a cap, not an allocation.
DEFAULT_MAX_MESSAGE_BYTES = 1 * GiB

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class Settings:
    """Everything the server can be told. Build it with ``Settings.load`` or directly."""

    #: Interface to listen on ("0.0.0.0" for all IPv4, "[::]" for all interfaces).
    host: str = "0.0.0.0"
    #: TCP port; 0 picks a free one (the handle reports it).
    port: int = 50051
    #: Server processes sharing the port with SO_REUSEPORT (1: serve in this process).
    workers: int = 1
    #: Threads per process computing FunctionService calls (0: the usable cores + 2,
    #: at most max_concurrent_rpcs; a container's CPU limit counts, see usable_cores).
    #: More only contend for Python's GIL (the compute itself releases it, and large
    #: kernels use every core); admitted calls beyond them wait in a queue. Health
    #: checks and reflection have threads of their own.
    threads: int = 0
    #: Largest request or response, in bytes, each direction.
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    #: RPCs served at once per process; more are refused with RESOURCE_EXHAUSTED.
    max_concurrent_rpcs: int = 64
    #: Seconds in-flight calls get to finish after SIGTERM/SIGINT (or ``stop``).
    grace: float = 10.0
    #: Logging level of the ``nnfunc`` loggers.
    log_level: str = "INFO"
    #: Largest number of elements in any one tensor of a request.
    max_elements: int = DEFAULT_MAX_ELEMENTS
    #: Longest time one call may take, in seconds: a deadline for calls that set none
    #: or a later one (0: no limit beyond the caller's own deadline).
    max_call_seconds: float = 300.0
    #: Close each client connection after this many seconds (0: never), so clients
    #: re-resolve a dns:/// name and spread over replicas that came since.
    max_connection_age: float = 0.0
    #: Serve grpc.health.v1.Health.
    health: bool = True
    #: Serve gRPC server reflection.
    reflection: bool = True
    #: Let ``nnfunc serve`` tune glibc's allocator for large messages (see app.py):
    #: freed buffers are kept for reuse instead of going back to the kernel.
    malloc_tuning: bool = True
    #: Seconds between the shutdown signal and the refusal of new calls: health says
    #: NOT_SERVING at once, calls are still served normally meanwhile, so balancers and
    #: clients watching health move away before anything is refused (0: refuse at once).
    drain_seconds: float = 2.0
    #: TLS: the server's certificate chain and private key (PEM files; both or neither).
    tls_cert: str = ""
    tls_key: str = ""
    #: Mutual TLS: clients must present a certificate signed by these CAs (PEM file).
    tls_client_ca: str = ""
    #: Bearer tokens: a file with one accepted token per line (# comments, blank lines).
    auth_tokens_file: str = ""
    #: Bearer tokens, comma-separated (environment only, NNFUNC_AUTH_TOKENS: a token on
    #: a command line is visible to every user of the machine). Never logged or printed.
    auth_tokens: str = dataclasses.field(default="", repr=False)
    #: Prometheus metrics on http://metrics_host:metrics_port/metrics (0: off). With
    #: ``workers`` > 1, worker k listens on metrics_port + k.
    metrics_port: int = 0
    #: Interface of the metrics endpoint.
    metrics_host: str = "0.0.0.0"

    def __post_init__(self) -> None:
        level = str(self.log_level).upper()
        object.__setattr__(self, "log_level", level)
        problems = []
        if not self.host:
            problems.append("host must not be empty")
        if not 0 <= self.port <= 65535:
            problems.append(f"port must be in [0, 65535], got {self.port}")
        if self.workers < 1:
            problems.append(f"workers must be >= 1, got {self.workers}")
        if self.threads < 0:
            problems.append(f"threads must be >= 0, got {self.threads}")
        if not 1024 <= self.max_message_bytes <= 2 * GiB - 1:
            problems.append(
                f"max_message_bytes must be in [1024, 2 GiB - 1], got {self.max_message_bytes}"
            )
        if self.max_concurrent_rpcs < 1:
            problems.append(f"max_concurrent_rpcs must be >= 1, got {self.max_concurrent_rpcs}")
        if not self.grace >= 0:
            problems.append(f"grace must be >= 0 seconds, got {self.grace}")
        if level not in LOG_LEVELS:
            problems.append(f"log_level must be one of {', '.join(LOG_LEVELS)}, got {level}")
        if self.max_elements < 1:
            problems.append(f"max_elements must be >= 1, got {self.max_elements}")
        if not self.max_call_seconds >= 0:
            problems.append(f"max_call_seconds must be >= 0, got {self.max_call_seconds}")
        if not self.max_connection_age >= 0:
            problems.append(f"max_connection_age must be >= 0, got {self.max_connection_age}")
        if not self.drain_seconds >= 0:
            problems.append(f"drain_seconds must be >= 0, got {self.drain_seconds}")
        if bool(self.tls_cert) != bool(self.tls_key):
            problems.append("tls_cert and tls_key go together: give both or neither")
        if self.tls_client_ca and not self.tls_cert:
            problems.append("tls_client_ca (mutual TLS) needs tls_cert and tls_key")
        for name in ("tls_cert", "tls_key", "tls_client_ca", "auth_tokens_file"):
            path = getattr(self, name)
            if path and not os.path.isfile(path):
                problems.append(f"{name}: no such file {path!r}")
        if not 0 <= self.metrics_port <= 65535:
            problems.append(f"metrics_port must be in [0, 65535], got {self.metrics_port}")
        if problems:
            raise ValueError("invalid settings: " + "; ".join(problems))

    @property
    def address(self) -> str:
        """host:port as gRPC wants it."""
        return f"{self.host}:{self.port}"

    @property
    def thread_count(self) -> int:
        """Threads computing FunctionService calls (see ``threads``)."""
        return self.threads or min(self.max_concurrent_rpcs, usable_cores() + 2)

    @property
    def tls(self) -> bool:
        """Whether the server listens with TLS."""
        return bool(self.tls_cert)

    @property
    def level(self) -> int:
        return logging.getLevelName(self.log_level)

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def load(
        cls, argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Settings from flags (``argv``, without the program name) over ``NNFUNC_*``
        variables (``environ``, default os.environ) over the defaults."""
        environ = os.environ if environ is None else environ
        args = parser().parse_args(list(argv) if argv is not None else None)
        values: dict[str, object] = {}
        for f in dataclasses.fields(cls):
            flag = getattr(args, f.name, None)
            env = environ.get(ENV_PREFIX + f.name.upper())
            try:
                if flag is not None:
                    values[f.name] = flag
                elif env is not None and env != "":
                    values[f.name] = _PARSE[f.name](env)
            except ValueError as e:
                raise ValueError(f"{ENV_PREFIX}{f.name.upper()}={env!r}: {e}") from None
        return cls(**values)  # type: ignore[arg-type]


ENV_PREFIX = "NNFUNC_"


def usable_cores(cgroup: str = "/sys/fs/cgroup") -> int:
    """The cores this process may use: its affinity mask (where the OS tells), capped
    by a cgroup v2 CPU quota ("cpus" of a container limit) rounded up."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        with open(os.path.join(cgroup, "cpu.max")) as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return cores


def parse_size(text: str) -> int:
    """Bytes from "1073741824", "512MiB", "1GiB", "64M" (binary units)."""
    m = re.fullmatch(r"\s*(\d+)\s*([KMG]?)(?:i?B)?\s*", str(text), flags=re.IGNORECASE)
    if not m:
        raise ValueError(f"expected a size like 1073741824, 512MiB or 1GiB, got {text!r}")
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2).upper()]


def parse_bool(text: str) -> bool:
    t = str(text).strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def parse_count(text: str) -> int:
    """An integer, with an optional binary suffix for element counts ("64M")."""
    t = str(text).strip()
    return int(t) if re.fullmatch(r"[+-]?\d+", t) else parse_size(t)


_PARSE: dict[str, Callable[[str], object]] = {
    "host": str,
    "port": int,
    "workers": int,
    "threads": int,
    "max_message_bytes": parse_size,
    "max_concurrent_rpcs": int,
    "grace": float,
    "log_level": str,
    "max_elements": parse_count,
    "max_call_seconds": float,
    "max_connection_age": float,
    "health": parse_bool,
    "reflection": parse_bool,
    "malloc_tuning": parse_bool,
    "drain_seconds": float,
    "tls_cert": str,
    "tls_key": str,
    "tls_client_ca": str,
    "auth_tokens_file": str,
    "auth_tokens": str,
    "metrics_port": int,
    "metrics_host": str,
}


def parser(prog: str = "nnfunc serve") -> argparse.ArgumentParser:
    """The command-line flags; each defaults to None so the environment can fill it."""
    d = Settings()
    p = argparse.ArgumentParser(
        prog=prog,
        description="Serve nnfunc.v1.FunctionService over gRPC. Every flag also reads "
        "an NNFUNC_* environment variable (NNFUNC_PORT for --port, ...); a flag wins.",
    )

    def add(flag: str, name: str, type_, help_: str, **kw):
        env = ENV_PREFIX + name.upper()
        default = getattr(d, name)
        p.add_argument(
            flag,
            dest=name,
            type=type_,
            default=None,
            help=f"{help_} [{env}; default {default}]",
            **kw,
        )

    add("--host", "host", str, "interface to listen on")
    add("--port", "port", int, "TCP port (0: any free port)")
    add("--workers", "workers", int, "server processes sharing the port (SO_REUSEPORT)")
    add("--threads", "threads", int, "compute threads per process (0: usable cores + 2)")
    add(
        "--max-message-bytes",
        "max_message_bytes",
        parse_size,
        "largest message each way, bytes or 512MiB/1GiB",
    )
    add(
        "--max-concurrent-rpcs",
        "max_concurrent_rpcs",
        int,
        "RPCs at once per process; beyond it RESOURCE_EXHAUSTED",
    )
    add("--grace", "grace", float, "seconds in-flight calls get to finish on shutdown")
    add("--log-level", "log_level", str.upper, "log level", choices=LOG_LEVELS)
    add("--max-elements", "max_elements", parse_count, "largest tensor, in elements (or 64M)")
    add(
        "--max-call-seconds",
        "max_call_seconds",
        float,
        "longest time one call may take; a deadline for calls without one (0: none)",
    )
    add(
        "--max-connection-age",
        "max_connection_age",
        float,
        "seconds before a client connection is closed so clients re-resolve (0: never)",
    )
    add(
        "--drain-seconds",
        "drain_seconds",
        float,
        "on shutdown, seconds of NOT_SERVING health while still serving, before new "
        "calls are refused and in-flight ones get --grace",
    )
    add("--tls-cert", "tls_cert", str, "TLS: the server's certificate chain (PEM file)")
    add("--tls-key", "tls_key", str, "TLS: the server's private key (PEM file)")
    add(
        "--tls-client-ca",
        "tls_client_ca",
        str,
        "mutual TLS: require client certificates signed by these CAs (PEM file)",
    )
    add(
        "--auth-tokens-file",
        "auth_tokens_file",
        str,
        "require a bearer token from this file (one per line); NNFUNC_AUTH_TOKENS "
        "(comma-separated, environment only) adds more",
    )
    add("--metrics-port", "metrics_port", int, "serve Prometheus metrics on this port (0: off)")
    add("--metrics-host", "metrics_host", str, "interface of the metrics endpoint")
    p.add_argument(
        "--no-health",
        dest="health",
        action="store_const",
        const=False,
        default=None,
        help="do not serve grpc.health.v1 [NNFUNC_HEALTH]",
    )
    p.add_argument(
        "--no-reflection",
        dest="reflection",
        action="store_const",
        const=False,
        default=None,
        help="do not serve reflection [NNFUNC_REFLECTION]",
    )
    p.add_argument(
        "--no-malloc-tuning",
        dest="malloc_tuning",
        action="store_const",
        const=False,
        default=None,
        help="leave glibc's allocator at its defaults (large messages then page-fault "
        "on every call) [NNFUNC_MALLOC_TUNING]",
    )
    return p
