"""The service benchmark: nnfunc measured against the floors it stands on, in one run.

    python bench/service.py                       # a few minutes; prints the tables
    python bench/service.py --write docs/performance.md
    python bench/service.py --quick               # shorter runs, for a smoke test

Everything runs on this machine, client and servers alike, in one run, so every
figure is a ratio against a floor measured minutes apart under the same load:

(a) the floor: bench/echo_server.py, a grpcio server that only moves bytes (no
    protobuf), with nnfunc's server settings (threads, admission limit, message limits
    and allocator environment); small calls (the same bytes as Evaluate relu on 8
    float32) and large ones (the same request and response sizes as each service call);
(b) the in-process catalog, the same work without any RPC;
(c) the service through the SDK (``nnfunc.Client``): Evaluate (sigmoid), Gradient
    (sigmoid) and Loss (mse_loss) at 8, 1K, 1M and 16M elements (2^10, 2^20, 2^24),
    float32 and float64; cross_entropy on (4096, 1000) float32 logits; and the
    concurrency sweep of small calls with the load generator (nnfunc.loadtest) against
    the echo floor's sweep by the same generator;
(d) what the server's allocator tuning and ``--workers 2`` change.

The targets (issue 4): small calls, best throughput >= 0.9x the floor's and p50 with
one caller <= 1.15x; large calls and the loss, round trip <= 1.3x (floor for the same
bytes + in-process compute). Servers run as subprocesses (``python -m nnfunc.server``,
as deployed); the client is this process, with glibc's default allocator unless the
caller sets MALLOC_* variables (the header says which).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import queue
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
try:  # an installed nnfunc, else the checkout's three source roots
    import nnfunc.catalog
except ImportError:
    for root in ("client", "server", "proto"):
        sys.path.insert(0, str(ROOT / root))

import grpc  # noqa: E402

import nnfunc  # noqa: E402
from nnfunc import _calls, catalog, loadtest  # noqa: E402
from nnfunc.client import Client  # noqa: E402
from nnfunc.server.app import ALLOCATOR_ENV  # noqa: E402
from nnfunc.server.settings import Settings  # noqa: E402

SIZES = {"8": 8, "1K": 1 << 10, "1M": 1 << 20, "16M": 1 << 24}
#: The pid of the server (one process) behind each address, for its CPU time.
PIDS: dict[str, int] = {}
TARGET_SMALL_THROUGHPUT, TARGET_SMALL_P50, TARGET_LARGE = 0.9, 1.15, 1.3
#: The small-call sweep: rounds per level (the median one is kept) and seconds each.
SMALL_ROUNDS, SMALL_SECONDS = 3, 2.0


# ---------------------------------------------------------------------------
# Servers in subprocesses
# ---------------------------------------------------------------------------


def _pythonpath() -> str:
    roots = [str(ROOT / r) for r in ("client", "server", "proto")]
    if os.environ.get("PYTHONPATH"):
        roots.append(os.environ["PYTHONPATH"])
    return os.pathsep.join(roots)


@contextlib.contextmanager
def echo_server(tuned: bool = True) -> Iterator[str]:
    """The floor, with nnfunc's allocator environment unless ``tuned`` is False."""
    env = dict(os.environ, PYTHONPATH=_pythonpath())
    for k in ALLOCATOR_ENV:
        env.pop(k, None)
    if tuned:
        env.update(ALLOCATOR_ENV)
    threads = str(Settings().thread_count)  # nnfunc's default compute threads
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "echo_server.py"), "--threads", threads],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        port = int(proc.stdout.readline())  # type: ignore[union-attr]
        PIDS[f"127.0.0.1:{port}"] = proc.pid
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def nnfunc_server(*flags: str) -> Iterator[str]:
    """``python -m nnfunc.server`` on a free port (its launcher tunes the allocator
    unless ``--no-malloc-tuning``); yields its address once every process serves."""
    env = dict(os.environ, PYTHONPATH=_pythonpath())
    for k in (*ALLOCATOR_ENV, "NNFUNC_MALLOC_TUNED"):
        env.pop(k, None)
    workers = int(flags[flags.index("--workers") + 1]) if "--workers" in flags else 1
    cmd = [sys.executable, "-m", "nnfunc.server", "--host", "127.0.0.1", "--port", "0", *flags]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, env=env, text=True)
    lines: queue.Queue[str] = queue.Queue()
    # one thread reads the log for the whole life of the server (a full pipe blocks it)
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr], daemon=True).start()  # type: ignore[union-attr]
    address, serving, deadline = None, 0, time.monotonic() + 60
    while serving < workers:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            proc.kill()
            raise RuntimeError(f"{' '.join(cmd)} did not start within 60 s") from None
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if entry.get("msg") == "serving":
                serving += 1
                address = entry["address"]
    if workers == 1 and address:
        PIDS[address] = proc.pid  # the launcher re-executes itself: the same pid serves
    try:
        yield address
    finally:
        proc.terminate()
        proc.wait(30)


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------


def reps_for(n: int, quick: bool) -> int:
    reps = 400 if n <= 1 << 10 else 20 if n <= 1 << 20 else 4
    return max(2, reps // 4) if quick else reps


def median_time(fn: Callable[[], Any], reps: int) -> float:
    """Median seconds of ``reps`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


class Floor:
    """Blocking calls to the echo server: ``request`` bytes in, ``reply`` bytes out."""

    def __init__(self, address: str):
        self.channel = grpc.insecure_channel(
            address,
            options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)],
        )
        self.reply = self.channel.unary_unary("/bench.Echo/Reply", _registered_method=True)
        self.echo = self.channel.unary_unary("/bench.Echo/Echo", _registered_method=True)
        self._payloads: dict[int, bytes] = {}

    def call(self, request_bytes: int, reply_bytes: int) -> Callable[[], Any]:
        payload = self._payloads.get(request_bytes)
        if payload is None:
            payload = reply_bytes.to_bytes(8, "little") + bytes(max(request_bytes - 8, 0))
        else:
            payload = reply_bytes.to_bytes(8, "little") + payload[8:]
        self._payloads = {request_bytes: payload}  # keep one: 16M float64 is 128 MB
        return lambda: self.reply(payload, timeout=60)

    def close(self) -> None:
        self.channel.close()


# ---------------------------------------------------------------------------
# The measurements
# ---------------------------------------------------------------------------


def workload(rpc: str, n: int, dtype: str, rng: np.random.Generator):
    """(function, inputs) of one table row."""
    x = (rng.standard_normal(n) * 3).astype(dtype)
    if rpc == "Loss":
        return "mse_loss", (x, (rng.standard_normal(n) * 3).astype(dtype))
    return "sigmoid", (x,)


def in_process(rpc: str, function: str, inputs) -> Callable[[], Any]:
    if rpc == "Evaluate":
        return lambda: catalog.evaluate(function, *inputs)
    if rpc == "Gradient":
        return lambda: catalog.gradient(function, *inputs)
    return lambda: catalog.value_and_grad(function, *inputs)


def sdk_call(client: Client, rpc: str, function: str, inputs) -> Callable[[], Any]:
    method = getattr(client, rpc.lower())
    return lambda: method(function, *inputs)


def wire_sizes(client: Client, rpc: str, function: str, inputs) -> tuple[int, int]:
    """(request bytes, response bytes) of the call, as they travel."""
    req = getattr(_calls.request, rpc.lower())(function, *inputs)
    payload = req.wire()
    data = client._methods[rpc](req, timeout=120)
    return len(payload), len(data)


def large_rows(svc: str, floor: Floor, quick: bool, sizes: list[str], log) -> list[dict]:
    rows = []
    rng = np.random.default_rng(0)
    with Client(svc, timeout=300, retries=0) as client:
        for rpc in ("Evaluate", "Gradient", "Loss"):
            for dtype in ("float32", "float64"):
                for label in sizes:
                    n = SIZES[label]
                    function, inputs = workload(rpc, n, dtype, rng)
                    reps = reps_for(n, quick)
                    req_b, resp_b = wire_sizes(client, rpc, function, inputs)
                    t_floor = median_time(floor.call(req_b, resp_b), reps)
                    t_cat = median_time(in_process(rpc, function, inputs), reps)
                    t_svc = median_time(sdk_call(client, rpc, function, inputs), reps)
                    row = {
                        "rpc": rpc,
                        "function": function,
                        "dtype": dtype,
                        "size": label,
                        "elements": n,
                        "request_bytes": req_b,
                        "response_bytes": resp_b,
                        "floor_ms": t_floor * 1e3,
                        "catalog_ms": t_cat * 1e3,
                        "service_ms": t_svc * 1e3,
                        "ratio": t_svc / (t_floor + t_cat),
                        "reps": reps,
                    }
                    rows.append(row)
                    log(
                        f"  {rpc:<8} {function:<9} {dtype:<7} {label:>3}: service "
                        f"{row['service_ms']:9.3f} ms  floor {row['floor_ms']:9.3f}  catalog "
                        f"{row['catalog_ms']:9.3f}  ratio {row['ratio']:.2f}"
                    )
    return rows


def loss_row(svc: str, floor: Floor, quick: bool, log) -> dict:
    """cross_entropy on (4096, 1000) float32 logits: value and gradient in one call."""
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((4096, 1000)).astype(np.float32)
    target = rng.integers(0, 1000, size=4096, dtype=np.int64)
    inputs = (logits, target)
    reps = 3 if quick else 10
    with Client(svc, timeout=300, retries=0) as client:
        req_b, resp_b = wire_sizes(client, "Loss", "cross_entropy", inputs)
        t_floor = median_time(floor.call(req_b, resp_b), reps)
        t_cat = median_time(in_process("Loss", "cross_entropy", inputs), reps)
        t_svc = median_time(sdk_call(client, "Loss", "cross_entropy", inputs), reps)
    row = {
        "request_bytes": req_b,
        "response_bytes": resp_b,
        "floor_ms": t_floor * 1e3,
        "catalog_ms": t_cat * 1e3,
        "service_ms": t_svc * 1e3,
        "ratio": t_svc / (t_floor + t_cat),
    }
    log(
        f"  Loss cross_entropy (4096, 1000) f32: service {row['service_ms']:.2f} ms, floor "
        f"{row['floor_ms']:.2f}, catalog {row['catalog_ms']:.2f}, ratio {row['ratio']:.2f}"
    )
    return row


def one_caller_p50(svc: str, echo: str, quick: bool) -> dict:
    """p50 of blocking calls, one caller: SDK Evaluate relu 8 f32 vs echo, same bytes."""
    reps = 500 if quick else 3000
    x = np.linspace(-2, 2, 8, dtype=np.float32)
    floor = Floor(echo)
    with Client(svc, timeout=10, retries=0) as client:
        req_b, resp_b = wire_sizes(client, "Evaluate", "relu", (x,))
        call = floor.call(req_b, resp_b)
        sdk = lambda: client.evaluate("relu", x)  # noqa: E731
        # interleaved blocks, so a load change hits both alike
        t_sdk, t_floor = [], []
        for _ in range(10):
            t_floor.append(median_time(call, reps // 10))
            t_sdk.append(median_time(sdk, reps // 10))
    floor.close()
    return {
        "sdk_p50_ms": statistics.median(t_sdk) * 1e3,
        "floor_p50_ms": statistics.median(t_floor) * 1e3,
        "ratio": statistics.median(t_sdk) / statistics.median(t_floor),
        "request_bytes": req_b,
        "response_bytes": resp_b,
    }


def server_cpu_seconds(address: str) -> float:
    """CPU time (user + system) of the server process behind ``address`` so far; NaN
    where /proc cannot tell."""
    try:
        with open(f"/proc/{PIDS[address]}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (KeyError, OSError, ValueError, IndexError):
        return float("nan")


def sweep(
    address: str,
    spec: loadtest.WorkloadSpec,
    levels,
    quick: bool,
    duration: float = 4.0,
    **kw,
) -> list[dict]:
    """The load generator's levels; a one-level sweep also gets ``server_cpu_us``: the
    server's CPU time per answered call (the whole run, warm-up included), a figure
    that other load on the machine moves much less than throughput or latency."""
    cfg = loadtest.Config(
        target=address,
        workloads=[spec],
        concurrency=levels,
        duration=1.5 if quick else duration,
        warmup=0.5,
        timeout=10.0,
        **kw,
    )
    cpu, start = server_cpu_seconds(address), time.monotonic()
    out = [loadtest.summarize(c, r, res) for c, r, res in loadtest.run(cfg)]
    if len(out) == 1:
        cores = (server_cpu_seconds(address) - cpu) / (time.monotonic() - start)
        out[0]["server_cpu_us"] = cores / max(out[0]["throughput"]["calls_per_s"], 1e-9) * 1e6
    return out


def small_calls(svc: str, echo: str, quick: bool, levels: list[int], log) -> dict:
    x_request = _calls.request.evaluate("relu", np.zeros(8, np.float32)).wire()
    svc_spec = loadtest.WorkloadSpec(function="relu", shape=(8,), dtype="float32")
    echo_spec = loadtest.WorkloadSpec(raw_method="/bench.Echo/Echo", raw_bytes=len(x_request))
    md_spec = loadtest.WorkloadSpec(raw_method="/bench.Echo/EchoMetadata", raw_bytes=len(x_request))
    rounds = 1 if quick else SMALL_ROUNDS
    out: dict[str, Any] = {"levels": levels, "rounds": rounds}
    targets = {"floor": (echo, echo_spec), "metadata": (echo, md_spec), "service": (svc, svc_spec)}
    for key in targets:
        out[key] = []
    # floor, floor with trailing metadata and service in turn, level by level and round
    # by round, so that a change of load hits all three alike; each level keeps its
    # round of median throughput
    for c in levels:
        runs: dict[str, list[dict]] = {key: [] for key in targets}
        for _ in range(rounds):
            for key, (address, spec) in targets.items():
                runs[key] += sweep(address, spec, [c], quick, duration=SMALL_SECONDS)
        for key, levels_run in runs.items():
            levels_run.sort(key=lambda lv: lv["throughput"]["calls_per_s"])
            out[key].append(levels_run[len(levels_run) // 2])
        f, m, s = out["floor"][-1], out["metadata"][-1], out["service"][-1]
        log(
            f"  c={c:<3} floor {f['throughput']['calls_per_s']:7.0f}/s p50 "
            f"{f['latency_ms']['p50']:.3f} ms ({f['errors']} errors) | floor+metadata "
            f"{m['throughput']['calls_per_s']:7.0f}/s p50 {m['latency_ms']['p50']:.3f} ms | "
            f"service {s['throughput']['calls_per_s']:7.0f}/s p50 "
            f"{s['latency_ms']['p50']:.3f} ms ({s['errors']} errors)  "
            f"client cpu {s['client_cpu']['cores']:.2f}  server cpu/call "
            f"{f['server_cpu_us']:.0f} / {s['server_cpu_us']:.0f} us"
        )
    best_f = max(lv["throughput"]["calls_per_s"] for lv in out["floor"])
    best_s = max(lv["throughput"]["calls_per_s"] for lv in out["service"])
    out["best_floor"], out["best_service"] = best_f, best_s
    out["throughput_ratio"] = best_s / best_f
    out["p50_c1_ratio"] = (
        out["service"][0]["latency_ms"]["p50"] / out["floor"][0]["latency_ms"]["p50"]
    )
    return out


def allocator_rows(quick: bool, log) -> list[dict]:
    """Evaluate sigmoid 1M and 16M float32 through servers with and without the tuning."""
    rows = []
    rng = np.random.default_rng(2)
    cases = [
        (label, (rng.standard_normal(SIZES[label]) * 3).astype(np.float32))
        for label in ("1M", "16M")
    ]
    for name, flags, tuned in (
        ("nnfunc, tuned (default)", (), True),
        ("nnfunc --no-malloc-tuning", ("--no-malloc-tuning",), False),
    ):
        with nnfunc_server(*flags) as svc, echo_server(tuned) as echo:
            floor = Floor(echo)
            with Client(svc, timeout=300, retries=0) as client:
                for label, x in cases:
                    reps = reps_for(x.size, quick)
                    req_b, resp_b = wire_sizes(client, "Evaluate", "sigmoid", (x,))
                    t_svc = median_time(lambda x=x: client.evaluate("sigmoid", x), reps)
                    t_floor = median_time(floor.call(req_b, resp_b), reps)
                    rows.append(
                        {
                            "server": name,
                            "size": label,
                            "service_ms": t_svc * 1e3,
                            "floor_ms": t_floor * 1e3,
                        }
                    )
                    log(
                        f"  {name:<28} {label:>3}: service {t_svc * 1e3:8.2f} ms, "
                        f"echo floor (same allocator) {t_floor * 1e3:8.2f} ms"
                    )
            floor.close()
    return rows


def workers_rows(quick: bool, log) -> list[dict]:
    """Small calls at 32 in flight over 4 connections: one process with its default
    compute threads, with one thread per admissible call (64), and --workers 2."""
    spec = loadtest.WorkloadSpec(function="relu", shape=(8,), dtype="float32")
    rows = []
    threads = f"1 process, {Settings().thread_count} threads (default)"
    for name, flags in (
        (threads, ()),
        ("1 process, --threads 64", ("--threads", "64")),
        ("--workers 2", ("--workers", "2")),
    ):
        with nnfunc_server(*flags) as svc:
            lv = sweep(svc, spec, [32], quick, connections=4)[0]
            lv_procs = sweep(svc, spec, [32], quick, connections=4, procs=2)[0]
        for label, level in (("1 client process", lv), ("2 client processes", lv_procs)):
            rows.append(
                {
                    "server": name,
                    "client": label,
                    "calls_per_s": level["throughput"]["calls_per_s"],
                    "p50_ms": level["latency_ms"]["p50"],
                    "p99_ms": level["latency_ms"]["p99"],
                    "errors": level["errors"],
                }
            )
            log(
                f"  {name:<34} {label:<19}: {level['throughput']['calls_per_s']:7.0f} calls/s, "
                f"p50 {level['latency_ms']['p50']:.2f} ms, p99 {level['latency_ms']['p99']:.2f} ms"
            )
    return rows


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import google.protobuf
    import scipy

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "libc": " ".join(platform.libc_ver()),
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "protobuf": google.protobuf.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "nnfunc": nnfunc.__version__,
        "client_allocator": {k: os.environ[k] for k in ALLOCATOR_ENV if k in os.environ}
        or "glibc defaults",
    }


def load() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def markdown(res: dict[str, Any]) -> str:
    m = res["machine"]
    small = res["small"]
    one = res["one_caller"]
    s_thr, s_p50 = small["throughput_ratio"], small["p50_c1_ratio"]
    c1_s, c1_f = small["service"][0]["latency_ms"]["p50"], small["floor"][0]["latency_ms"]["p50"]
    lines = [
        "# Performance",
        "",
        "Generated by `bench/service.py` (do not edit by hand; rerun it). Every ratio",
        "compares figures taken in the same run on the same machine; client and servers",
        "share its cores, so absolute figures move with the load, ratios much less.",
        "",
        f"- command: `{res['command']}`",
        f"- date: {res['date']}, took {res['seconds']:.0f} s",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['os']}, {m['libc']}",
        f"- versions: Python {m['python']}, grpcio {m['grpcio']}, protobuf {m['protobuf']}, "
        f"NumPy {m['numpy']}, SciPy {m['scipy']}, nnfunc {m['nnfunc']}",
        f"- load average (1, 5, 15 min): {res['load_start']} at the start, "
        f"{res['load_end']} at the end",
        f"- client allocator: {m['client_allocator']}; servers: `nnfunc serve` defaults "
        "(allocator tuned, see below), the echo floor with the same environment",
        "",
        "## Targets",
        "",
        "| target | figure | goal | |",
        "|---|---|---|---|",
        f"| small calls: best throughput vs the echo floor's | {small['best_service']:.0f} / "
        f"{small['best_floor']:.0f} calls/s = {s_thr:.3f}x | >= "
        f"{TARGET_SMALL_THROUGHPUT}x | {verdict(s_thr >= TARGET_SMALL_THROUGHPUT)} |",
        f"| small calls: p50 with one caller (load generator) | {c1_s:.3f} / "
        f"{c1_f:.3f} ms = {s_p50:.3f}x | <= {TARGET_SMALL_P50}x | "
        f"{verdict(s_p50 <= TARGET_SMALL_P50)} |",
        f"| small calls: p50 with one caller (SDK, blocking) | {one['sdk_p50_ms']:.3f} / "
        f"{one['floor_p50_ms']:.3f} ms = {one['ratio']:.3f}x | <= {TARGET_SMALL_P50}x | "
        f"{verdict(one['ratio'] <= TARGET_SMALL_P50)} |",
    ]
    for r in res["large"]:
        if r["rpc"] == "Evaluate" and r["dtype"] == "float32" and r["size"] in ("1M", "16M"):
            lines.append(
                f"| Evaluate sigmoid {r['size']} float32 round trip | {r['service_ms']:.1f} ms / "
                f"({r['floor_ms']:.1f} + {r['catalog_ms']:.1f}) = {r['ratio']:.3f}x | <= "
                f"{TARGET_LARGE}x | {verdict(r['ratio'] <= TARGET_LARGE)} |"
            )
    lr = res["loss"]
    lines += [
        f"| Loss cross_entropy (4096, 1000) float32 | {lr['service_ms']:.1f} ms / "
        f"({lr['floor_ms']:.1f} + {lr['catalog_ms']:.1f}) = {lr['ratio']:.3f}x | <= "
        f"{TARGET_LARGE}x | {verdict(lr['ratio'] <= TARGET_LARGE)} |",
        "",
        "Large-call ratio = service round trip / (echo floor for the same request and response",
        "bytes + in-process catalog time).",
        "",
        "## Small calls: the concurrency sweep",
        "",
        f"Evaluate relu on 8 float32 ({one['request_bytes']} request bytes) against the echo",
        "floor with the same request size, both driven by `nnfunc loadtest`'s engine (closed",
        "loop, one connection, one client process). Each level alternates floor and service",
        f"for {small['rounds']} round(s) and shows each one's round of median throughput.",
        "",
        "| in flight | floor calls/s | floor + metadata calls/s | service calls/s | ratio | "
        "floor p50 ms | floor + metadata p50 ms | service p50 ms | floor p99 ms | "
        "service p99 ms | errors (floor/service) | client CPU (cores) | "
        "server CPU per call, µs (floor / service) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f, m, s in zip(small["floor"], small["metadata"], small["service"], strict=True):
        lines.append(
            f"| {s['concurrency']} | {f['throughput']['calls_per_s']:.0f} | "
            f"{m['throughput']['calls_per_s']:.0f} | {s['throughput']['calls_per_s']:.0f} | "
            f"{s['throughput']['calls_per_s'] / f['throughput']['calls_per_s']:.2f} | "
            f"{f['latency_ms']['p50']:.3f} | {m['latency_ms']['p50']:.3f} | "
            f"{s['latency_ms']['p50']:.3f} | {f['latency_ms']['p99']:.3f} | "
            f"{s['latency_ms']['p99']:.3f} | {f['errors']}/{s['errors']} | "
            f"{s['client_cpu']['cores']:.2f} | "
            f"{f.get('server_cpu_us', float('nan')):.0f} / "
            f"{s.get('server_cpu_us', float('nan')):.0f} |"
        )
    lines += [
        "",
        "floor + metadata: the echo adding trailing metadata to its answer, as nnfunc's",
        "servicer does (`nnfunc-replica`). Server CPU per call: the server process's CPU",
        "time over the level divided by its answered calls; client and servers share the",
        "cores, so at saturation throughput follows it, and other load moves it less.",
        "Errors at 64 in flight are RESOURCE_EXHAUSTED from gRPC's admission limit",
        "(`--max-concurrent-rpcs`, 64 by default, the floor's too): a call in its last",
        "moments still counts, so 64 callers occasionally see 65.",
        "",
        "Where small calls lose to the floor: the floor runs almost no Python per call;",
        "nnfunc runs the servicer (parse, validate, look up, compute, encode), about 13 µs",
        "in a hot loop but three to four times that in the server, where it runs once per",
        "round trip from cold caches, and it holds the GIL meanwhile, which the gRPC",
        "poller thread needs. A server answering a constant after protobuf's parse keeps",
        "up with the floor; the servicer's own Python is the gap. `--threads` (compute",
        "threads, default usable cores + 2) keeps GIL contention down: one thread per",
        "admitted call (64) gave about 20% fewer calls/s. `--workers` scales past one GIL.",
        "",
        "## Evaluate, Gradient and Loss through the SDK",
        "",
        "Median round trip of `nnfunc.Client` calls (blocking, one caller) against the echo",
        "floor for the same request and response sizes and the in-process catalog. Evaluate",
        "and Gradient: sigmoid (Gradient with the default upstream gradient of ones); Loss:",
        "mse_loss (value and gradient). Sizes 8, 2^10, 2^20, 2^24 elements.",
        "",
        "| RPC | dtype | elements | request / response bytes | service ms | floor ms | "
        "catalog ms | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in res["large"]:
        lines.append(
            f"| {r['rpc']} {r['function']} | {r['dtype']} | {r['size']} | "
            f"{r['request_bytes']:,} / {r['response_bytes']:,} | {r['service_ms']:.3f} | "
            f"{r['floor_ms']:.3f} | {r['catalog_ms']:.3f} | {r['ratio']:.2f} |"
        )
    lines += [
        "",
        "## The allocator",
        "",
        "`nnfunc serve` starts the server with MALLOC_MMAP_THRESHOLD_=1GiB,",
        "MALLOC_TRIM_THRESHOLD_=1GiB and MALLOC_ARENA_MAX=1 (each only when unset;",
        "`--no-malloc-tuning` or NNFUNC_MALLOC_TUNING=false leaves glibc's defaults). By",
        "default glibc gives every buffer above its (dynamic, at most 32 MiB) mmap threshold a",
        "fresh mapping and each thread arena caps its heap at 64 MiB, so every large message",
        "and NumPy result page-faults its whole size in again on every call. Tuned, freed",
        "buffers stay in one heap for the next call; the price is that a server keeps the",
        "memory of its largest recent calls (up to 1 GiB above its live data). Evaluate sigmoid,",
        "float32, through the SDK, each server next to an echo floor with the same allocator:",
        "",
        "| server | elements | service ms | echo floor ms |",
        "|---|---|---|---|",
    ]
    for r in res["allocator"]:
        lines.append(
            f"| {r['server']} | {r['size']} | {r['service_ms']:.2f} | {r['floor_ms']:.2f} |"
        )
    lines += [
        "",
        "## Compute threads and --workers",
        "",
        "Evaluate relu on 8 float32, 32 calls in flight over 4 connections (the kernel spreads",
        "connections over the workers' SO_REUSEPORT sockets). Client and server share the",
        "machine's cores, so a second server process competes with the client for them.",
        "`--threads 64` is one compute thread per admissible call, the default before the",
        "default became usable cores + 2.",
        "",
        "| server | client | calls/s | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|",
    ]
    for r in res["workers"]:
        lines.append(
            f"| {r['server']} | {r['client']} | {r['calls_per_s']:.0f} | {r['p50_ms']:.2f} | "
            f"{r['p99_ms']:.2f} | {r['errors']} |"
        )
    lines += [
        "",
        "## Reproduce, and load-test a deployment",
        "",
        "```bash",
        "python bench/service.py --write docs/performance.md   # this page, a few minutes",
        "python bench/service.py --quick                       # a smoke test, under a minute",
        "nnfunc serve --port 50051 &",
        "nnfunc loadtest --target localhost:50051 --function relu --shape 8 \\",
        "    --concurrency 1,8,32,64 --duration 10s",
        "nnfunc loadtest --target dns:///nnfunc:50051 --rpc loss --function cross_entropy \\",
        "    --shape 4096x1000 --rate 20 --arrivals poisson --duration 60s --verify 0.05 \\",
        '    --fail-if "p99>500ms,errors>0"',
        "```",
        "",
        "`nnfunc loadtest --help` lists every option (open loop, weighted mixes from a TOML",
        "file, several connections and client processes, JSON/CSV output).",
    ]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke test)")
    parser.add_argument("--write", metavar="PATH", help="write the markdown report there")
    parser.add_argument("--json", metavar="PATH", help="write the raw results as JSON")
    parser.add_argument("--sizes", default="8,1K,1M,16M", help="of the SDK table (8,1K,1M,16M)")
    parser.add_argument("--levels", default="1,8,32,64", help="the concurrency sweep")
    parser.add_argument(
        "--skip", default="", help="parts to skip: allocator, workers (comma-separated)"
    )
    args = parser.parse_args(argv)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    levels = [int(c) for c in args.levels.split(",")]
    skip = set(filter(None, args.skip.split(",")))
    log = lambda text: print(text, flush=True)  # noqa: E731
    started = time.time()
    res: dict[str, Any] = {
        "command": "python bench/service.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "machine": machine(),
        "load_start": load(),
    }
    log(f"load average {res['load_start']}; client allocator {res['machine']['client_allocator']}")
    with nnfunc_server() as svc, echo_server() as echo:
        log(f"small calls (nnfunc {svc}, echo floor {echo}):")
        res["small"] = small_calls(svc, echo, args.quick, levels, log)
        res["one_caller"] = one_caller_p50(svc, echo, args.quick)
        o = res["one_caller"]
        log(
            f"  one caller, blocking: SDK p50 {o['sdk_p50_ms']:.3f} ms, floor "
            f"{o['floor_p50_ms']:.3f} ms, ratio {o['ratio']:.2f}"
        )
        floor = Floor(echo)
        log("SDK calls:")
        res["large"] = large_rows(svc, floor, args.quick, sizes, log)
        res["loss"] = loss_row(svc, floor, args.quick, log)
        floor.close()
    res["allocator"] = (
        [] if "allocator" in skip else (log("allocator:"), allocator_rows(args.quick, log))[1]
    )
    res["workers"] = (
        [] if "workers" in skip else (log("workers:"), workers_rows(args.quick, log))[1]
    )
    res["load_end"] = load()
    res["seconds"] = time.time() - started
    log(f"done in {res['seconds']:.0f} s; load average {res['load_end']}")
    text = markdown(res)
    if args.write:
        Path(args.write).write_text(text)
        log(f"wrote {args.write}")
    else:
        print()
        print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
