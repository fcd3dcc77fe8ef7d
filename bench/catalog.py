"""Benchmark the catalog against PyTorch CPU (a benchmark, not a timed test).

For each registered function with a workload (bench/workloads.py), at each size, it
times nnfunc's forward (catalog.evaluate) and forward + VJP (catalog.value_and_grad),
and, when torch is importable, torch doing the same work in the same run (forward
under no_grad; forward + autograd.grad for the same inputs). Times are the best (or,
with --stat median, the median) of ``--repeat`` runs after one warm-up, with
time.perf_counter.

    python bench/catalog.py [--sizes 1M,16M] [--repeat N] [--only NAME,...] [--markdown]

Goal (the issue): median ratio nnfunc/torch over the catalog <= 1.5x, none above 3x.
torch runs at its default thread count (stated in the header); NumPy's ufuncs run on
one thread, nnfunc's fused kernels (calls of 2^16 elements and more) on numba's threads.
The warm-up run compiles (or loads) the kernels. torch is never imported by the library
or its tests, only here.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# torch's bundled OpenMP and numba's omp layer (the system's libgomp) both spin after a
# parallel region; on 2 cores each then stalls the other for a whole 4 ms timeslice,
# in both columns. numba's own workqueue layer leaves torch's defaults untouched.
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

try:  # an installed nnfunc, else the checkout's three source roots
    import nnfunc.catalog  # noqa: F401
except ImportError:
    for root in ("client", "server", "proto"):
        sys.path.insert(0, str(HERE.parent / root))

from workloads import WORKLOADS, build, torch_calls  # noqa: E402

from nnfunc import catalog  # noqa: E402

GOAL_MEDIAN, GOAL_WORST = 1.5, 3.0


def parse_size(text: str) -> int:
    """'1M' -> 1_000_000, '16M' -> 16_000_000, '500K' -> 500_000, '4096' -> 4096."""
    text = text.strip().upper()
    scale = {"K": 10**3, "M": 10**6, "G": 10**9}.get(text[-1:], 1)
    digits = text[:-1] if scale != 1 else text
    return int(float(digits) * scale)


def size_label(n: int) -> str:
    for unit, scale in (("M", 10**6), ("K", 10**3)):
        if n >= scale and n % scale == 0:
            return f"{n // scale}{unit}"
    return str(n)


def measure(
    fns: dict[str, Callable[[], Any]], repeat: int, stat: str, min_time: float = 0.0
) -> dict[str, float]:
    """Milliseconds per closure: the best (or median) of its timed runs, at least
    ``repeat`` of them and more (up to 50 × repeat) until ``min_time`` seconds have
    passed, each closure's runs back to back after its own warm-up. (Interleaving nnfunc
    and torch was tried: torch's thread pool then falls asleep between its calls and
    pays the wake-up each time, which is not what a user running torch sees.)"""
    out = {}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for key, fn in fns.items():
            fn()
            times: list[float] = []
            start = time.perf_counter()
            while len(times) < repeat or (
                time.perf_counter() - start < min_time and len(times) < 50 * repeat
            ):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            out[key] = 1e3 * (min(times) if stat == "best" else statistics.median(times))
    finally:
        if gc_was_enabled:
            gc.enable()
    return out


def _numba_line() -> str:
    """numba's version, threads and threading layer (known once a kernel has run)."""
    import numba

    catalog.evaluate("sigmoid", np.zeros(1 << 16, dtype=np.float32))  # one kernel launch
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = "none launched"
    return f"numba {numba.__version__}: {numba.config.NUMBA_NUM_THREADS} threads, {layer} layer"


def header() -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import scipy

    blas = "?"
    with contextlib.suppress(Exception):  # the config layout is not a stable API
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    lines = [
        f"machine: {cpu}; {os.cpu_count()} logical CPUs; load average {load}; "
        f"{platform.platform()}",
        f"python {platform.python_version()}; numpy {np.__version__} (BLAS: {blas}; "
        f"ufuncs single-threaded); scipy {scipy.__version__}",
        _numba_line(),
    ]
    try:
        import torch

        lines.append(
            f"torch {torch.__version__}: {torch.get_num_threads()} intra-op threads, "
            f"{torch.get_num_interop_threads()} inter-op (defaults)"
        )
    except ImportError:
        lines.append("torch: not installed (torch columns empty)")
    env = {
        k: os.environ[k]
        for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE")
        if k in os.environ
    }
    lines.append("env: " + (", ".join(f"{k}={v}" for k, v in env.items()) or "no thread vars"))
    return lines


def run_one(
    name: str, params_extra: dict, n: int, repeat: int, stat: str, min_time: float
) -> dict[str, Any]:
    inputs, params = build(name, n)
    params = {**params, **params_extra}
    row: dict[str, Any] = {"shape": "x".join(map(str, inputs[0].shape))}
    try:
        y = catalog.evaluate(name, *inputs, **params)
        g = np.ones(np.shape(y), dtype=np.asarray(y).dtype)
        row.update(
            measure(
                {
                    "np_fwd": lambda: catalog.evaluate(name, *inputs, **params),
                    "np_both": lambda: catalog.value_and_grad(
                        name, *inputs, grad_output=g, **params
                    ),
                },
                repeat,
                stat,
                min_time,
            )
        )
    except Exception as exc:  # report and go on: others may still be writing the entry
        row["error"] = f"nnfunc: {type(exc).__name__}: {str(exc)[:80]}"
        return row
    try:
        calls = torch_calls(name, inputs, params)
        if calls is not None:
            torch_fns = dict(zip(("t_fwd", "t_both"), calls, strict=True))
            row.update(measure(torch_fns, repeat, stat, min_time))
    except Exception as exc:
        row["error"] = f"torch: {type(exc).__name__}: {str(exc)[:80]}"
    return row


def warm_up_torch(seconds: float = 0.5) -> None:
    """Start torch's thread pool before the first measurement."""
    try:
        import torch
    except ImportError:
        return
    x = torch.randn(1_000_000)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        torch.sigmoid(x)


def fmt(v: float | None, ratio: bool = False) -> str:
    if v is None:
        return "—"
    return (
        f"{v:.2f}x" if ratio else (f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:.0f}")
    )


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


HEAD = (
    "function",
    "shape",
    "np fwd ms",
    "torch fwd ms",
    "ratio",
    "np fwd+vjp ms",
    "torch fwd+bwd ms",
    "ratio",
)


def table(rows: list[tuple[str, dict[str, Any]]], markdown: bool) -> list[str]:
    """The timing table; rows that failed show "error" and the errors follow it."""
    body, errors = [], []
    for label, r in rows:
        cells = [label, r.get("shape", "")]
        cells += [fmt(r.get("np_fwd")), fmt(r.get("t_fwd"))]
        cells += [fmt(ratio(r.get("np_fwd"), r.get("t_fwd")), True)]
        cells += [fmt(r.get("np_both")), fmt(r.get("t_both"))]
        cells += [fmt(ratio(r.get("np_both"), r.get("t_both")), True)]
        if "error" in r:
            cells[2 if "np_fwd" not in r else 3] = "error"
            errors.append(f"error in {label}: {r['error']}")
        body.append(cells)
    if markdown:
        out = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
        out += ["| " + " | ".join(b) + " |" for b in body]
        return out + ([""] if errors else []) + [f"- {e}" for e in errors]
    widths = [max(len(x[i]) for x in [HEAD, *body]) for i in range(len(HEAD))]

    def line(cells):
        return "  ".join(
            c.rjust(w) if i >= 2 else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return [line(HEAD), line(["-" * w for w in widths]), *map(line, body), *errors]


def summary(rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
    out = []
    for key, what in (("fwd", "forward"), ("both", "forward+VJP")):
        rs = [
            (ratio(r.get(f"np_{key}"), r.get(f"t_{key}")), label)
            for label, r in rows
            if ratio(r.get(f"np_{key}"), r.get(f"t_{key}")) is not None
        ]
        if not rs:
            continue
        med = statistics.median(v for v, _ in rs)
        worst, who = max(rs)
        over = sorted((label for v, label in rs if v > GOAL_WORST))
        met = "met" if med <= GOAL_MEDIAN and not over else "NOT met"
        out.append(
            f"{what}: median ratio {med:.2f}x over {len(rs)} functions; worst {worst:.2f}x "
            f"({who}); above {GOAL_WORST:g}x: {len(over)}"
            + (f" ({', '.join(over)})" if over else "")
            + f"; goal (median <= {GOAL_MEDIAN}x, none above {GOAL_WORST:g}x) {met}"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1M,16M", help="element counts, e.g. 1M,16M or 500K")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per measurement")
    ap.add_argument(
        "--stat",
        choices=("best", "median"),
        default="best",
        help="best-of (default: robust on a shared machine) or median",
    )
    ap.add_argument(
        "--min-time",
        type=float,
        default=0.25,
        help="keep repeating a measurement until this many seconds have passed (best-of "
        "then skips the runs a busy machine spoiled); 0 for exactly --repeat runs",
    )
    ap.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        help="torch.set_num_threads(N) before timing; 0 (default) keeps torch's default",
    )
    ap.add_argument("--only", default="", help="comma-separated function names")
    ap.add_argument("--markdown", action="store_true", help="print Markdown tables")
    args = ap.parse_args(argv)

    registered = set(catalog.names())
    wanted = [s.strip() for s in args.only.split(",") if s.strip()] or sorted(WORKLOADS)
    unknown = [w for w in wanted if w not in WORKLOADS and w not in registered]
    if unknown:
        ap.error(f"no such function: {', '.join(unknown)}")
    skipped = [w for w in wanted if w in WORKLOADS and w not in registered]
    no_workload = sorted(registered - set(WORKLOADS))
    if args.only:
        no_workload = [w for w in no_workload if w in wanted]
    names = [w for w in wanted if w in WORKLOADS and w in registered]

    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    prefix = "" if not args.markdown else "    "
    print(*(prefix + h for h in header()), sep="\n")
    if args.torch_threads:
        print(f"{prefix}torch.set_num_threads({args.torch_threads}) was called (--torch-threads)")
    print(
        f"{prefix}timing: {args.stat} of >= {args.repeat} runs (repeated for "
        f">= {args.min_time:g} s) after 1 warm-up (perf_counter); "
        "inputs float32, reduction 'mean' for losses; the VJP gets a precomputed "
        "grad_output of ones on both sides"
    )
    if skipped:
        print(f"{prefix}skipped (not registered yet): {', '.join(skipped)}")
    if no_workload:
        print(f"{prefix}registered without a workload (not timed): {', '.join(no_workload)}")

    warm_up_torch()
    for size in (parse_size(s) for s in args.sizes.split(",") if s.strip()):
        rows = []
        for name in names:
            for extra in ({}, *WORKLOADS[name].variants):
                label = name + "".join(f"[{k}={v}]" for k, v in extra.items())
                rows.append(
                    (label, run_one(name, extra, size, args.repeat, args.stat, args.min_time))
                )
                gc.collect()
        print()
        print(("### " if args.markdown else "== ") + f"{size_label(size)} elements ({size:,})")
        print()
        print(*table(rows, args.markdown), sep="\n")
        print()
        print(*(("- " if args.markdown else "") + s for s in summary(rows)), sep="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
