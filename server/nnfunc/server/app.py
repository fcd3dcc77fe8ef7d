"""The server's life cycle: build, start, serve until a signal, drain, stop.

``start(settings)`` serves in this process and returns a handle once the port is bound
and serving (tests and embedders). ``serve(settings)`` blocks until SIGTERM/SIGINT,
then shuts down in three steps:

1. health goes NOT_SERVING at once, and for ``settings.drain_seconds`` (2 s by default)
   calls are still served as usual: balancers and clients that watch health (the SDK's
   round_robin channels do) move away meanwhile, so nothing they send is refused;
2. then new calls are refused with UNAVAILABLE (which clients retry on another
   replica) and the calls in flight get ``settings.grace`` seconds to finish;
3. then the port closes and the stragglers are cancelled.

Stopping without step 1 loses calls under load: gRPC cancels the calls that arrived but
were not yet picked up when ``server.stop`` runs, and clients keep sending to a replica
until they learn it is going. A second signal stops at once. ``ServerHandle.stop``
(embedders, tests) skips the drain window unless given ``drain=``.

Security (security.py): TLS or mutual TLS on the port, bearer tokens checked by one
interceptor. Metrics (metrics.py): a Prometheus endpoint on its own port, when
``metrics_port`` is set. With ``workers > 1`` the parent forks that many server
processes before any gRPC object exists; they share the port with SO_REUSEPORT, and the
kernel spreads connections over them.

Why the synchronous server (grpc.server + a thread pool) rather than grpc.aio: the work
is NumPy, which releases the GIL inside its kernels, so threads overlap on the CPU; aio
would have to push that work to a thread pool anyway (never run it on the event loop),
adding a hop per call. Measured on a shared 2-core machine, server in its own process:
Evaluate relu on 8 float32, p50 0.46-0.51 ms sync vs 0.55-0.59 ms aio+executor, and
with 16 calls in flight 5100/s sync vs 2100-3800/s aio; a 1M float32 sigmoid round trip
took 27-40 ms either way (transport-bound). Admission control is gRPC's own
``maximum_concurrent_rpcs``: beyond it a call gets RESOURCE_EXHAUSTED at once.

The allocator (``main``, the ``nnfunc serve`` entry, unless ``--no-malloc-tuning``):
by default glibc serves every buffer above 128 KiB-32 MiB with a fresh mmap and unmaps
it on free, and each thread's arena caps its heap at 64 MiB, so every large message
(and every large NumPy result) page-faults its whole size in again on every call: a
4 MiB message costs ~1000 faults, 64 MiB ~16000, per copy. ``main`` therefore sets
MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ to 1 GiB (large buffers come from the
heap and freed ones stay there for the next call) and MALLOC_ARENA_MAX=1 (one heap for
every thread, so the gRPC threads reuse those buffers too), each only when the variable
is not already set. glibc reads them once, at process start, so ``main`` re-executes
itself (same pid, same arguments) with them before anything is served. The cost: the
process keeps the memory of its largest recent calls (up to 1 GiB above the live data)
instead of returning it. ``start`` (in-process, for tests and embedders) never touches
the allocator of its host process. docs/performance.md has the measurements.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from nnfunc.server.settings import GiB, Settings

log = logging.getLogger("nnfunc.server")

SERVICE_NAME = "nnfunc.v1.FunctionService"

#: Threads for health checks and reflection (each open reflection stream holds one).
CONTROL_THREADS = 8

#: Seconds the streams still open after a drain get before they are cancelled.
_STREAM_GRACE = 0.5


class ServerHandle:
    """A running server: ``port``, ``address``, ``stop(grace)``, ``wait()``."""

    def __init__(
        self, server, servicer, health, port: int, settings: Settings, metrics_endpoint=None
    ):
        self._server = server
        self._metrics_endpoint = metrics_endpoint
        #: the metrics endpoint's port (None when metrics are off)
        self.metrics_port = metrics_endpoint.port if metrics_endpoint is not None else None
        self._servicer = servicer
        self._health = health
        self.port = port
        self.settings = settings
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._announced = False
        self._cut_drain = threading.Event()

    @property
    def address(self) -> str:
        host = self.settings.host
        return f"{'127.0.0.1' if host in ('0.0.0.0', '[::]', '::') else host}:{self.port}"

    def stop(self, grace: float | None = None, drain: float = 0.0) -> None:
        """Shut down: NOT_SERVING; keep serving ``drain`` seconds (0 by default; the
        signal path gives ``settings.drain_seconds``); refuse new calls and give those
        in flight ``grace`` seconds (default: the settings' grace); cancel the rest.
        Safe to call twice (a second call skips the drain window)."""
        grace = self.settings.grace if grace is None else grace
        with self._lock:
            first = not self._announced
            self._announced = True
            if first:
                log.info(
                    "draining",
                    extra={"fields": {"drain_s": drain, "grace_s": grace, "port": self.port}},
                )
                if self._health is not None:
                    self._health.enter_graceful_shutdown()  # NOT_SERVING, before anything else
        if first and drain > 0:
            # Still serving: whoever watches health moves away; whoever does not yet
            # know is answered. A concurrent stop(0) (second signal) cuts it short.
            self._cut_drain.wait(drain)
        else:
            self._cut_drain.set()
        deadline = time.monotonic() + grace
        # Drain while still accepting connections, so that a new call gets a clear
        # UNAVAILABLE from the servicer rather than a connection-level CANCELLED. Once
        # the unary calls are done, only streams remain (health Watch, reflection): they
        # must not hold the exit for the whole grace period, so they get a short moment
        # (enough for a call caught between admission and the draining check).
        drained = self._servicer.drain(grace)
        left = max(0.0, deadline - time.monotonic())
        done = self._server.stop(min(left, _STREAM_GRACE) if drained else 0.0)
        done.wait()
        if self._metrics_endpoint is not None:
            self._metrics_endpoint.close()
            self._metrics_endpoint = None
        if first:
            log.info("stopped", extra={"fields": {"port": self.port}})
        self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until stopped (True) or ``timeout`` passes (False)."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start(settings: Settings | None = None) -> ServerHandle:
    """Serve in this process (on background threads) and return once serving."""
    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection

    from nnfunc.server import security
    from nnfunc.server.servicer import FunctionServicer, add_to_server
    from nnfunc.v1 import function_service_pb2 as pb

    settings = settings or Settings()
    logging.getLogger("nnfunc").setLevel(settings.level)
    # Imported here, not at module level: importing the catalog registers every entry.
    import nnfunc.catalog  # noqa: F401

    options = [
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        # Share the port only when asked to (workers): otherwise a port already in use
        # by another server must be an error, not a silent split of its traffic.
        ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
    ]
    if settings.max_connection_age > 0:
        # Clients reconnect (and re-resolve) after the age; calls then running get the
        # shutdown grace to finish.
        options += [
            ("grpc.max_connection_age_ms", int(settings.max_connection_age * 1000)),
            ("grpc.max_connection_age_grace_ms", int(max(settings.grace, 1.0) * 1000)),
        ]
    # Interceptors, outermost first: metrics see every call, refused ones included.
    interceptors: list = []
    tokens = security.load_tokens(settings)
    credentials = security.server_credentials(settings)
    endpoint = None
    if settings.metrics_port:
        from nnfunc.server import metrics

        endpoint, measure = metrics.start_endpoint(settings.metrics_host, settings.metrics_port)
        interceptors.append(measure)
    if tokens:
        interceptors.append(security.TokenAuthInterceptor(tokens))
    # Two pools: the catalog's calls get few threads (more would only contend for the
    # GIL, see Settings.threads); health checks and reflection get their own, so that
    # a probe is answered even while every compute thread is busy.
    compute = ThreadPoolExecutor(settings.thread_count, thread_name_prefix="nnfunc-compute")
    server = grpc.server(
        ThreadPoolExecutor(CONTROL_THREADS, thread_name_prefix="nnfunc-control"),
        options=options,
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
        interceptors=interceptors,
    )
    servicer = FunctionServicer(settings)
    add_to_server(servicer, server, compute)  # bad bytes: INVALID_ARGUMENT, not INTERNAL
    names = [SERVICE_NAME]
    health_servicer = None
    if settings.health:
        # Non-blocking Watch: a watcher holds no request thread.
        health_servicer = health.HealthServicer(
            experimental_non_blocking=True,
            experimental_thread_pool=ThreadPoolExecutor(1, thread_name_prefix="nnfunc-health"),
        )
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        names.append(health.SERVICE_NAME)
    if settings.reflection:
        names.append(reflection.SERVICE_NAME)
        reflection.enable_server_reflection(
            [pb.DESCRIPTOR.services_by_name["FunctionService"].full_name, *names[1:]], server
        )
    try:
        if credentials is None:
            port = server.add_insecure_port(settings.address)
        else:
            port = server.add_secure_port(settings.address, credentials)
    except RuntimeError as e:  # grpc raises RuntimeError when it cannot bind
        if endpoint is not None:
            endpoint.close()
        raise OSError(f"cannot listen on {settings.address}: {e}") from None
    server.start()
    if health_servicer is not None:
        for name in ("", SERVICE_NAME):
            health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info(
        "serving",
        extra={
            "fields": {
                "address": f"{settings.host}:{port}",
                "threads": settings.thread_count,
                "max_concurrent_rpcs": settings.max_concurrent_rpcs,
                "max_message_bytes": settings.max_message_bytes,
                "max_elements": settings.max_elements,
                "tls": "mutual" if settings.tls_client_ca else settings.tls,
                "tokens": len(tokens),
                "metrics_port": endpoint.port if endpoint is not None else None,
                "drain_s": settings.drain_seconds,
                "grace_s": settings.grace,
                "allocator": _allocator_fields() or "glibc defaults",
            }
        },
    )
    return ServerHandle(server, servicer, health_servicer, port, settings, endpoint)


# ---------------------------------------------------------------------------
# Serving until a signal (one process, or a parent and its forked workers)
# ---------------------------------------------------------------------------


def serve(settings: Settings) -> int:
    """Serve until SIGTERM/SIGINT, then drain; returns the exit status."""
    if settings.workers > 1:
        return _serve_workers(settings)
    handle = start(settings)
    _wait_for_signal(handle, signal.SIGTERM, signal.SIGINT)
    return 0


def _wait_for_signal(handle: ServerHandle, *signals: int) -> None:
    """Block until one of ``signals``; drain on the first, stop at once on a second."""
    got = threading.Event()

    def on_signal(signum, frame):
        if got.is_set():
            log.warning("second signal: stopping now", extra={"fields": {"signal": signum}})
            threading.Thread(target=handle.stop, args=(0,), daemon=True).start()
            return
        log.info("signal received", extra={"fields": {"signal": signal.Signals(signum).name}})
        got.set()

    for s in signals:
        signal.signal(s, on_signal)
    while not got.wait(0.5):  # a timed wait keeps the main thread responsive to signals
        pass
    handle.stop(drain=handle.settings.drain_seconds)


@contextlib.contextmanager
def _reserve_port(host: str, port: int) -> Iterator[int]:
    """Hold ``host:port`` (SO_REUSEPORT, never listening) so port 0 resolves to one
    free port that every worker then binds."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host.strip("[]"), port))
        yield sock.getsockname()[1]
    finally:
        sock.close()


def _worker(settings: Settings) -> None:
    """A forked worker: SIGINT is the parent's business (it forwards SIGTERM)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        handle = start(settings)
        _wait_for_signal(handle, signal.SIGTERM)
    except Exception:
        log.exception("worker failed")
        os._exit(1)
    os._exit(0)


def _serve_workers(settings: Settings) -> int:
    import multiprocessing

    ctx = multiprocessing.get_context("fork")  # forked before any gRPC object exists
    with _reserve_port(settings.host, settings.port) as port:
        procs = [
            ctx.Process(
                target=_worker,
                # worker i serves its own metrics on metrics_port + i
                args=(
                    settings.replace(
                        port=port,
                        metrics_port=settings.metrics_port + i if settings.metrics_port else 0,
                    ),
                ),
                name=f"nnfunc-worker-{i}",
            )
            for i in range(settings.workers)
        ]
        for p in procs:
            p.start()
        log.info(
            "workers started",
            extra={
                "fields": {"address": f"{settings.host}:{port}", "pids": [p.pid for p in procs]}
            },
        )
        signals = {"count": 0}

        def forward(signum, frame):
            signals["count"] += 1
            for p in procs:
                if p.is_alive() and p.pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(p.pid, signal.SIGTERM)

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        status = 0
        while any(p.is_alive() for p in procs):
            for p in procs:
                p.join(0.2)
                if p.exitcode not in (None, 0) and signals["count"] == 0:
                    log.error(
                        "worker died; stopping the others",
                        extra={"fields": {"pid": p.pid, "exitcode": p.exitcode}},
                    )
                    status = 1
                    forward(signal.SIGTERM, None)
        return status


# ---------------------------------------------------------------------------
# Structured logs
# ---------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, pid, message and the call's fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(settings: Settings, stream=None) -> None:
    """JSON lines on stderr for the ``nnfunc`` loggers, at the settings' level."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("nnfunc")
    logger.handlers[:] = [handler]
    logger.setLevel(settings.level)
    logger.propagate = False


# ---------------------------------------------------------------------------
# The allocator (see the module's docstring)
# ---------------------------------------------------------------------------

#: What ``main`` sets, each only when not already set, before the server starts.
ALLOCATOR_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(GiB),
    "MALLOC_TRIM_THRESHOLD_": str(GiB),
    "MALLOC_ARENA_MAX": "1",
}
#: Set in the re-executed process: never re-execute twice.
_TUNED = "NNFUNC_MALLOC_TUNED"


def _glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (ValueError, OSError, AttributeError):
        return False


def allocator_environment(environ: dict[str, str] | None = None) -> dict[str, str] | None:
    """The environment to re-execute with, or None when there is nothing to change
    (not glibc, already re-executed, or every variable already set by the caller)."""
    environ = dict(os.environ if environ is None else environ)
    if environ.get(_TUNED) or not _glibc():
        return None
    missing = {k: v for k, v in ALLOCATOR_ENV.items() if k not in environ}
    if not missing:
        return None
    environ.update(missing)
    environ[_TUNED] = "1"
    # The new process must find this very nnfunc, however this one found it.
    import nnfunc

    roots = [os.path.dirname(p) for p in nnfunc.__path__]
    if environ.get("PYTHONPATH"):
        roots.append(environ["PYTHONPATH"])
    environ["PYTHONPATH"] = os.pathsep.join(roots)
    return environ


def _reexec_with_tuned_allocator(argv: Sequence[str]) -> None:
    env = allocator_environment()
    if env is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, [sys.executable, "-m", "nnfunc.server", *argv], env)
    except OSError as e:  # serve anyway, untuned
        log.warning("cannot re-execute with a tuned allocator: %s", e)


def _allocator_fields() -> dict[str, str]:
    return {k: os.environ[k] for k in ALLOCATOR_ENV if k in os.environ}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m nnfunc.server`` and ``nnfunc serve``: flags over NNFUNC_* over defaults."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        settings = Settings.load(argv)
    except ValueError as e:
        print(f"nnfunc serve: {e}", file=sys.stderr)
        return 2
    if settings.malloc_tuning:
        _reexec_with_tuned_allocator(argv)  # returns only when nothing is to change
    configure_logging(settings)
    try:
        return serve(settings)
    except (OSError, ValueError) as e:  # a port in use, an unreadable key, a bad token
        log.error("cannot serve: %s", e)
        return 1
