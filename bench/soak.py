"""Soak: hold a server at a fixed rate of mixed calls for minutes; report errors, p99
drift and RSS growth. A benchmark, not a CI test (docs/soak.md has a run's figures).

    python bench/soak.py --minutes 5 --rate 200                  # starts its own server
    python bench/soak.py --target host:port --server-pid PID     # an existing one
    python bench/soak.py --minutes 30 --json > soak.json

The load is nnfunc.loadtest's open loop (calls at their intended times, latency from
the intended time, so a server falling behind shows), one window after another on the
same channels: each window is a row of the report. The first ``--warmup`` seconds are
warm-up: caches, the allocator's heap and gRPC's buffers settle there, and they are
not judged. Verdicts: zero errors, and the server's RSS at the end within ``--rss-limit``
(5 %) of its RSS after warm-up. p99 drift (the median p99 of the last third of windows
over that of the first third after warm-up, minus 1) is reported, not judged: on a
shared machine neighbours move it. Exit status 0 when both verdicts pass, else 1.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for d in ("client", "server", "proto"):
    if str(ROOT / d) not in sys.path:
        sys.path.insert(0, str(ROOT / d))

from nnfunc.loadtest import Config, Engine, WorkloadSpec, summarize  # noqa: E402

#: The mix: small and mid-size calls of every computing RPC, and a few large ones.
MIX = [
    WorkloadSpec(function="relu", rpc="evaluate", shape=(8,), weight=40),
    WorkloadSpec(function="gelu", rpc="evaluate", shape=(4096,), weight=15),
    WorkloadSpec(function="softmax", rpc="gradient", shape=(64, 100), weight=15),
    WorkloadSpec(function="cross_entropy", rpc="loss", shape=(256, 100), weight=10),
    WorkloadSpec(function="mse_loss", rpc="loss", shape=(65536,), weight=8),
    WorkloadSpec(function="tanh", rpc="check", shape=(16,), dtype="float64", weight=5),
    WorkloadSpec(function="sigmoid", rpc="evaluate", shape=(262144,), weight=3),
    WorkloadSpec(function="silu", rpc="gradient", shape=(1024,), dtype="float64", weight=4),
]


def rss_bytes(pid: int) -> int | None:
    """Resident set size of a local process (Linux), or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(extra: list[str]) -> tuple[subprocess.Popen, str]:
    """``python -m nnfunc.server`` on a free port (its default, tuned allocator)."""
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(str(ROOT / d) for d in ("client", "server", "proto"))
    )
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nnfunc.server", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "WARNING", *extra],
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start: {proc.stderr.read()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"127.0.0.1:{port}"
        time.sleep(0.1)


def soak(target: str, pid: int | None, minutes: float, rate: float, window: float,
         warmup: float, seed: int, progress) -> dict:  # fmt: skip
    config = Config(
        target=target, workloads=MIX, rate=rate, duration=window, warmup=0.0,
        timeout=10.0, seed=seed, verify=0.01,
    )  # fmt: skip
    engine = Engine(config)
    engine.connect(30)
    rows = []
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < minutes * 60:
            res = engine.run_level(None, rate)
            lv = summarize(None, rate, res)
            elapsed = time.monotonic() - t0
            row = {
                "t_s": round(elapsed, 1),
                "warmup": elapsed <= warmup + 1e-9,
                "calls": lv["count"],
                "errors": lv["errors"],
                "mismatches": lv["verify"]["mismatches"],
                "calls_per_s": round(lv["throughput"]["calls_per_s"], 1),
                "p50_ms": lv["latency_ms"]["p50"],
                "p99_ms": lv["latency_ms"]["p99"],
                "max_ms": lv["latency_ms"]["max"],
                "server_rss_mib": (rss_bytes(pid) or 0) / 2**20 if pid else None,
                "client_rss_mib": (rss_bytes(os.getpid()) or 0) / 2**20,
                "status": lv["status"],
            }
            rows.append(row)
            progress(row)
    finally:
        engine.close()
    return verdict(rows, config, minutes, warmup)


def verdict(rows: list[dict], config: Config, minutes: float, warmup: float,
            rss_limit: float = 0.05) -> dict:  # fmt: skip
    judged = [r for r in rows if not r["warmup"]] or rows[-1:]
    third = max(1, len(judged) // 3)
    first = statistics.median(r["p99_ms"] for r in judged[:third] if r["p99_ms"] is not None)
    last = statistics.median(r["p99_ms"] for r in judged[-third:] if r["p99_ms"] is not None)
    errors = sum(r["errors"] for r in rows)
    out = {
        "minutes": minutes,
        "rate": config.rate,
        "window_s": config.duration,
        "warmup_s": warmup,
        "mix": [f"{w.name} (weight {w.weight:g})" for w in config.workloads],
        "calls": sum(r["calls"] for r in rows),
        "errors": errors,
        "mismatches": sum(r["mismatches"] for r in rows),
        "p99_first_ms": first,
        "p99_last_ms": last,
        "p99_drift": last / first - 1 if first else None,
        "p99_max_window_ms": max(r["p99_ms"] or 0 for r in judged),
        "windows": rows,
    }
    if rows[0]["server_rss_mib"] is not None:
        base = judged[0]["server_rss_mib"]
        end = rows[-1]["server_rss_mib"]
        out.update(
            server_rss_after_warmup_mib=base,
            server_rss_end_mib=end,
            server_rss_max_mib=max(r["server_rss_mib"] for r in judged),
            server_rss_growth=end / base - 1 if base else None,
        )
    out["passed"] = errors == 0 and (
        out.get("server_rss_growth") is None or out["server_rss_growth"] <= rss_limit
    )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--rate", type=float, default=200.0, help="calls per second (200)")
    p.add_argument("--window", type=float, default=15.0, help="seconds per report row (15)")
    p.add_argument("--warmup", type=float, default=60.0, help="seconds not judged (60)")
    p.add_argument("--target", help="an existing server (default: start one)")
    p.add_argument("--server-pid", type=int, help="its pid, for RSS (local servers only)")
    p.add_argument("--server-arg", action="append", default=[], help="extra server flag")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    args = p.parse_args(argv)
    proc = None
    if args.target:
        target, pid = args.target, args.server_pid
    else:
        proc, target = start_server(args.server_arg)
        pid = proc.pid
    quiet = args.json

    def progress(row: dict) -> None:
        if not quiet:
            rss = f"{row['server_rss_mib']:.1f}" if row["server_rss_mib"] is not None else "-"
            print(
                f"{row['t_s']:>7.1f}s {'warm-up' if row['warmup'] else '':>7} "
                f"{row['calls']:>6} calls {row['errors']:>3} errors "
                f"p50 {row['p50_ms']:.2f} p99 {row['p99_ms']:.2f} max {row['max_ms']:.1f} ms  "
                f"server RSS {rss} MiB",
                flush=True,
            )

    try:
        rep = soak(target, pid, args.minutes, args.rate, args.window, args.warmup, args.seed,
                   progress)  # fmt: skip
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
    rep["load_average"] = os.getloadavg()
    if args.json:
        print(json.dumps(rep, indent=2))
    else:
        growth = rep.get("server_rss_growth")
        print(
            f"\n{rep['calls']} calls, {rep['errors']} errors, {rep['mismatches']} mismatches; "
            f"p99 {rep['p99_first_ms']:.2f} -> {rep['p99_last_ms']:.2f} ms "
            f"(drift {rep['p99_drift']:+.1%}); server RSS "
            + (
                f"{rep['server_rss_after_warmup_mib']:.1f} -> {rep['server_rss_end_mib']:.1f} "
                f"MiB ({growth:+.2%})"
                if growth is not None
                else "not measured"
            )
            + f"; load average {rep['load_average'][0]:.2f}; "
            + ("PASSED" if rep["passed"] else "FAILED")
        )
    return 0 if rep["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
