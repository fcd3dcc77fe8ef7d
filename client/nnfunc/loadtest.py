"""``nnfunc loadtest``: drive a server (or a balancer) with calls and report what it held.

    nnfunc loadtest --function relu --shape 8 --concurrency 1,8,32,64 --duration 10s
    nnfunc loadtest --rpc loss --function cross_entropy --shape 4096x1000 --requests 200
    nnfunc loadtest --rate 500 --arrivals poisson --duration 30s --fail-if "p99>50ms,errors>0"
    nnfunc loadtest --mix mix.toml --procs 2 --connections 4 --json
    python -m nnfunc.loadtest ...                       # the same, without the CLI

Two loops. Closed (``--concurrency N``, or a sweep ``1,8,32``): N calls always in
flight, each answered call starts the next; latency is answer time - send time. Open
(``--rate R``): calls start at their intended times, evenly spaced or with Poisson
arrivals, whether or not earlier ones were answered, and latency is counted from the
intended time, so a server that falls behind cannot hide its queue (no coordinated
omission). Each level runs ``--warmup`` first (not recorded), then ``--duration`` or
``--requests``; a call belongs to the level when it was (meant to be) sent inside it.

Requests are built once, with seeded data, and serialized once by the SDK (``raw``
encoding: the tensors' bytes; ``typed``: ``double_data``/``int64_data``, the slow path
of hand-written calls); each call sends those bytes and keeps the answer's bytes, so the
client spends its time on gRPC, not on encoding. ``--verify F`` decodes a fraction F of
the answers with the SDK and compares them with the local catalog (mismatches counted).
Several channels (``--connections``, each its own TCP connection) and client processes
(``--procs``) keep the client from being the bottleneck: watch the client CPU column.

The report counts every call by status code, with the most frequent error messages;
throughput in calls/s, elements/s (the inputs' elements) and MB/s (request + response
bytes, 10^6 bytes); latency of the OK calls (min, mean, stddev, p50 ... p99.9, max) and
their histogram; the client's CPU time; one row per sweep level. ``--json``/``--csv``
print it for programs; ``--fail-if`` turns it into an exit status for CI.

Exit status: 0, or 1 when a ``--fail-if`` threshold is crossed at any level, a call
setup fails, or the arguments are wrong.
"""

from __future__ import annotations

import argparse
import collections
import csv
import io
import json
import math
import operator
import os
import re
import resource
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnfunc._channel import DEFAULT_TARGET, SERVICE, configure

# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------

_UNITS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds from "10s", "500ms", "2m", "1.5" (seconds)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?\d+)?)\s*(us|µs|ms|s|m|min|h)?\s*", text)
    if not m:
        raise ValueError(f"expected a duration like 10s, 500ms or 2m, got {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def parse_count(text: str) -> int:
    """An element count: "8", "1K" (1024), "1M" (1048576), "16M"."""
    m = re.fullmatch(r"\s*(\d+)\s*([KkMmGg]?)\s*", str(text))
    if not m:
        raise ValueError(f"expected a count like 1000, 1K or 16M, got {text!r}")
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2).upper()]


def parse_shape(text: str | Sequence[int]) -> tuple[int, ...]:
    """A shape from "8", "1M", "4096x1000", "4096,1000", "" (a 0-d scalar) or a list."""
    if not isinstance(text, str):
        return tuple(int(d) for d in text)
    parts = [p for p in re.split(r"[x,×\s]+", text.strip()) if p]
    return tuple(parse_count(p) for p in parts)


def parse_levels(text: str) -> list[int]:
    """A concurrency sweep: "1,8,32,64" (each >= 1)."""
    levels = [int(p) for p in text.split(",") if p.strip()]
    if not levels or min(levels) < 1:
        raise ValueError(f"expected concurrency levels >= 1 like 1,8,32, got {text!r}")
    return levels


_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
#: --fail-if metrics: latency ones take a unit (ms by default), the others are numbers
LATENCY_METRICS = ("min", "mean", "stddev", "p50", "p90", "p95", "p99", "p99.9", "max")
COUNT_METRICS = ("errors", "error_rate", "mismatches", "calls_per_s", "rps", "count")


@dataclass(frozen=True)
class Threshold:
    """One ``--fail-if`` condition: the level fails when ``metric op value`` holds."""

    text: str
    metric: str
    op: str
    value: float  # seconds for latency metrics, a fraction for error_rate

    def crossed(self, level: dict[str, Any]) -> tuple[bool, float]:
        actual = metric_value(level, self.metric)
        if actual is None or (isinstance(actual, float) and math.isnan(actual)):
            return False, math.nan
        return _OPS[self.op](actual, self.value), actual


def parse_thresholds(text: str) -> list[Threshold]:
    """ "p99>50ms,errors>0,error_rate>1%,calls_per_s<1000" as Thresholds."""
    out = []
    for raw in (p.strip() for p in text.split(",")):
        if not raw:
            continue
        m = re.fullmatch(
            r"([a-z_0-9.]+)\s*(>=|<=|==|!=|>|<)\s*([0-9]*\.?[0-9]+)\s*(%|[a-zµ]*)", raw
        )
        if not m or m.group(1) not in LATENCY_METRICS + COUNT_METRICS:
            raise ValueError(
                f"--fail-if {raw!r}: expected METRIC OP VALUE with METRIC one of "
                f"{', '.join(LATENCY_METRICS + COUNT_METRICS)} (e.g. p99>50ms, errors>0)"
            )
        metric, op, number, unit = m.groups()
        value = float(number)
        if metric in LATENCY_METRICS:
            if unit not in ("", *_UNITS):
                raise ValueError(f"--fail-if {raw!r}: unknown unit {unit!r} (us, ms, s)")
            value *= _UNITS[unit or "ms"]
        elif unit == "%":
            value /= 100
        elif unit:
            raise ValueError(f"--fail-if {raw!r}: {metric} takes no unit")
        out.append(Threshold(raw, metric, op, value))
    return out


def metric_value(level: dict[str, Any], metric: str) -> float | None:
    """A --fail-if metric of one level of the report (latencies in seconds)."""
    if metric in LATENCY_METRICS:
        ms = level["latency_ms"].get(metric)
        return None if ms is None else ms / 1e3
    if metric == "errors":
        return level["errors"]
    if metric == "count":
        return level["count"]
    if metric == "error_rate":
        return level["errors"] / level["count"] if level["count"] else 0.0
    if metric == "mismatches":
        return level["verify"]["mismatches"]
    return level["throughput"]["calls_per_s"]  # calls_per_s, rps


# ---------------------------------------------------------------------------
# Workloads: what to call, with which data
# ---------------------------------------------------------------------------

RPCS = {
    "evaluate": "Evaluate",
    "gradient": "Gradient",
    "loss": "Loss",
    "check": "CheckGradient",
    "checkgradient": "CheckGradient",
}


@dataclass(frozen=True)
class Gen:
    """How to fill one input: ``kind[:a,b][@shape]``.

    normal[:scale], uniform[:low,high], bits ({0, 1}), signs (±1), ones, logprobs
    (rows that are log-probabilities), probs (rows summing to 1), classes[:C] (int64
    class indices in [0, C), C the last dimension by default). The shape is the
    workload's, except for ``classes``: all but the last dimension. ``@rows`` (all but
    the last dimension), ``@last`` (the last alone), ``@full`` (the workload's) or
    ``@64x1000`` say otherwise.
    """

    kind: str
    args: tuple[float, ...] = ()
    shape: str | None = None

    KINDS = ("normal", "uniform", "bits", "signs", "ones", "logprobs", "probs", "classes")

    @classmethod
    def parse(cls, text: str) -> Gen:
        body, _, shape = text.strip().partition("@")
        kind, _, args = body.partition(":")
        kind = kind.strip().lower()
        if kind not in cls.KINDS:
            raise ValueError(f"input {text!r}: kind must be one of {', '.join(cls.KINDS)}")
        try:
            values = tuple(float(a) for a in args.split(",") if a.strip())
        except ValueError:
            raise ValueError(f"input {text!r}: arguments must be numbers") from None
        gen = cls(kind, values, shape.strip() or None)
        gen.resolve_shape((2, 3))  # a bad shape fails here, not in a client process
        return gen

    def resolve_shape(self, base: tuple[int, ...]) -> tuple[int, ...]:
        spec = self.shape or ("rows" if self.kind == "classes" else "full")
        if spec == "full":
            return base
        if spec == "rows":
            return base[:-1]
        if spec == "last":
            return base[-1:]
        return parse_shape(spec)

    def make(self, rng: np.random.Generator, base: tuple[int, ...], dtype: Any) -> np.ndarray:
        """The input for a workload of shape ``base`` (real kinds in ``dtype``)."""
        shape = self.resolve_shape(base)
        a = self.args
        if self.kind == "classes":
            n = int(a[0]) if a else (base[-1] if base else 1)
            return rng.integers(0, max(n, 1), size=shape, dtype=np.int64)
        if self.kind == "normal":
            x = rng.standard_normal(shape) * (a[0] if a else 3.0)
        elif self.kind == "uniform":
            low, high = (*a, 0.0, 1.0)[:2] if a else (0.0, 1.0)
            x = rng.uniform(low, high, size=shape)
        elif self.kind == "bits":
            x = (rng.random(shape) < 0.5).astype(np.float64)
        elif self.kind == "signs":
            x = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
        elif self.kind == "ones":
            x = np.ones(shape)
        else:  # logprobs, probs: normalized along the last axis
            z = rng.standard_normal(shape)
            if z.ndim:
                z = z - z.max(axis=-1, keepdims=True)
                z = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
            else:
                z = np.zeros(shape)
            x = z if self.kind == "logprobs" else np.exp(z)
        return np.asarray(x, dtype=dtype)


#: Inputs of the losses whose target is not "normal, same shape as the input".
DEFAULT_INPUTS: dict[str, tuple[str, ...]] = {
    "binary_cross_entropy": ("uniform:0.01,0.99", "bits"),
    "binary_cross_entropy_with_logits": ("normal", "bits"),
    "multilabel_soft_margin_loss": ("normal", "bits"),
    "soft_margin_loss": ("normal", "signs"),
    "hinge_embedding_loss": ("normal", "signs"),
    "poisson_nll_loss": ("normal:1", "uniform:0,4"),
    "gaussian_nll_loss": ("normal", "normal", "uniform:0.5,2"),
    "kl_div": ("logprobs", "probs"),
    "cross_entropy": ("normal", "classes"),
    "nll_loss": ("logprobs", "classes"),
    "multi_margin_loss": ("normal", "classes"),
    "multilabel_margin_loss": ("normal", "classes@full"),
    "margin_ranking_loss": ("normal", "normal", "signs"),
    "cosine_embedding_loss": ("normal", "normal", "signs@rows"),
    "triplet_margin_loss": ("normal", "normal", "normal"),
    "prelu": ("normal", "uniform:0.2,0.3@last"),
}


@dataclass
class WorkloadSpec:
    """One kind of call of the load: an RPC, a function, its data and parameters."""

    function: str = "relu"
    rpc: str = "evaluate"
    shape: tuple[int, ...] = (8,)
    dtype: str = "float32"
    encoding: str = "raw"
    params: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    weight: float = 1.0
    name: str = ""
    #: a raw method ("/package.Service/Method") and payload size: calls that echo bytes
    #: (the benchmark's floor); the function fields are then unused
    raw_method: str | None = None
    raw_bytes: int = 0

    def __post_init__(self) -> None:
        self.rpc = self.rpc.lower()
        if self.raw_method is None and self.rpc not in RPCS:
            raise ValueError(f"rpc {self.rpc!r}: expected one of evaluate, gradient, loss, check")
        if self.encoding not in ("raw", "typed"):
            raise ValueError(f"encoding {self.encoding!r}: expected raw or typed")
        if self.dtype not in ("float16", "float32", "float64"):
            raise ValueError(f"dtype {self.dtype!r}: expected float16, float32 or float64")
        if not self.weight > 0:
            raise ValueError(f"weight {self.weight!r}: expected a number > 0")
        self.shape = parse_shape(self.shape)
        if not self.name:
            if self.raw_method:
                self.name = f"{self.raw_method} {self.raw_bytes}B"
            else:
                dims = "x".join(map(str, self.shape)) or "scalar"
                self.name = f"{RPCS[self.rpc]} {self.function} {dims} {self.dtype}"
                if self.encoding == "typed":
                    self.name += " typed"

    @classmethod
    def from_mapping(cls, entry: dict[str, Any]) -> WorkloadSpec:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(entry) - known
        if unknown:
            raise ValueError(f"mix entry {entry!r}: unknown keys {sorted(unknown)}")
        entry = dict(entry)
        if "inputs" in entry:
            entry["inputs"] = tuple(entry["inputs"])
        return cls(**entry)


def load_mix(path: str) -> list[WorkloadSpec]:
    """A weighted mix: a TOML file of ``[[call]]`` tables, or a JSON list of objects,
    each with the WorkloadSpec keys (function, rpc, shape, dtype, encoding, params,
    inputs, weight, name)."""
    with open(path, "rb") as f:
        raw = f.read()
    if path.endswith(".toml"):
        import tomllib

        entries = tomllib.loads(raw.decode()).get("call", [])
    else:
        entries = json.loads(raw)
        if isinstance(entries, dict):
            entries = entries.get("call", [])
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: expected a non-empty list of calls ([[call]] tables in TOML)")
    return [WorkloadSpec.from_mapping(e) for e in entries]


@dataclass
class Prepared:
    """A workload ready to send: the method path, the request's bytes, and checks."""

    spec: WorkloadSpec
    method: str
    payload: bytes
    elements: int
    check: Callable[[bytes], bool] | None = None


def build_inputs(
    spec: WorkloadSpec,
    function: str,
    n_inputs: int,
    rng: np.random.Generator,
    index_inputs: Sequence[bool] = (),
) -> list[np.ndarray]:
    """The workload's inputs: its generators, else the function's defaults (the table
    above; otherwise normal data of the workload's shape, and class indices for the
    inputs ``index_inputs`` flags: int64-only, not differentiable)."""
    texts = spec.inputs or DEFAULT_INPUTS.get(function)
    if not texts:
        flags = list(index_inputs) + [False] * max(n_inputs - len(index_inputs), 0)
        texts = tuple("classes" if f else "normal" for f in flags[: max(n_inputs, 1)])
        texts = texts or ("normal",)
    return [Gen.parse(t).make(rng, spec.shape, np.dtype(spec.dtype)) for t in texts]


def _typed_payload(method: str, function: str, arrays: Sequence[np.ndarray], params) -> bytes:
    """The request with every tensor in double_data/int64_data (the slow, typed path)."""
    from nnfunc import _calls, codec

    message = _calls._MESSAGES[method](function=function)
    for a in arrays:
        t = message.inputs.add()
        t.dtype = codec.wire_dtype(a.dtype)
        t.shape.extend(a.shape)
        if a.dtype.kind == "i":
            t.int64_data.extend(a.ravel().tolist())
        else:
            t.double_data.extend(a.astype(np.float64).ravel().tolist())
    _calls._put_params(message.parameters, params)
    return message.SerializeToString()


def prepare(spec: WorkloadSpec, seed: int, describe: Callable[[str], Any] | None) -> Prepared:
    """Build a workload's request once (seeded data) and, when the local catalog is
    importable, the check that ``--verify`` applies to a sampled answer."""
    if spec.raw_method:
        payload = np.random.default_rng(seed).bytes(spec.raw_bytes)
        return Prepared(spec, spec.raw_method, payload, 0, lambda data: data == payload)
    from nnfunc import _calls
    from nnfunc.cli import parse_param

    info = describe(spec.function) if describe is not None else None
    function = info.name if info is not None else spec.function
    n_inputs = len(info.inputs) if info is not None else 1
    params = dict(spec.params)
    for name, value in list(params.items()):
        if isinstance(value, str) and info is not None:  # "0.2" from the command line
            params.update([parse_param(f"{name}={value}", info, spec.dtype)])
        elif isinstance(value, list):
            params[name] = np.asarray(value, dtype=spec.dtype)
    rng = np.random.default_rng(seed)
    index = [
        not i.differentiable and tuple(i.dtypes) == ("int64",)
        for i in (info.inputs if info is not None else ())
    ]
    arrays = build_inputs(spec, function, n_inputs, rng, index)
    method = RPCS[spec.rpc]
    if method == "CheckGradient":
        request = _calls.check_gradient(function, arrays, params)
    else:
        request = getattr(_calls.request, method.lower())(function, *arrays, **params)
    payload = (
        request.wire()
        if spec.encoding == "raw"
        else _typed_payload(method, function, arrays, params)
    )
    elements = int(sum(a.size for a in arrays))
    return Prepared(
        spec, f"/{SERVICE}/{method}", payload, elements, _checker(request, function, arrays, params)
    )


def _checker(request, function: str, arrays, params) -> Callable[[bytes], bool] | None:
    """Compares a decoded answer with the local catalog's (None without a catalog)."""
    try:
        from nnfunc import catalog
    except ImportError:  # the SDK without the server's catalog
        return None
    method = request.method
    try:
        if method == "Evaluate":
            expected: Any = catalog.evaluate(function, *arrays, **params)
        elif method == "Gradient":
            expected = catalog.gradient(function, *arrays, **params)
        elif method == "Loss":
            expected = catalog.value_and_grad(function, *arrays, **params)
        else:
            expected = catalog.check_gradient(function, *arrays, parameters=params).passed
    except Exception:  # the server will say why, call after call
        return None

    def same(a: Any, b: Any) -> bool:
        if isinstance(a, tuple | list):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        rtol = 1e-3 if a.dtype == np.float16 else 1e-5 if a.dtype == np.float32 else 1e-12
        return bool(np.allclose(a, b, rtol=rtol, atol=rtol * 1e-2, equal_nan=True))

    def check(data: bytes) -> bool:
        got = request.read(data)
        if method == "Evaluate":
            return same(got, expected)
        if method == "Gradient":
            return same(got if isinstance(got, tuple) else (got,), expected)
        if method == "Loss":
            return same((got.value, got.grads), expected)
        return got.passed == expected

    return check


# ---------------------------------------------------------------------------
# The engine: one process's calls at one level
# ---------------------------------------------------------------------------


@dataclass
class Config:
    """Everything a client process needs (picklable, for --procs)."""

    target: str | list[str] = DEFAULT_TARGET
    workloads: list[WorkloadSpec] = field(default_factory=lambda: [WorkloadSpec()])
    concurrency: list[int] = field(default_factory=lambda: [1])
    rate: float | None = None
    arrivals: str = "constant"
    duration: float | None = 10.0
    requests: int | None = None
    warmup: float = 1.0
    timeout: float = 10.0
    connections: int = 1
    procs: int = 1
    seed: int = 0
    verify: float = 0.0
    max_in_flight: int = 10000
    root_certificates: str | None = None
    #: the server's metrics endpoint (http://host:port/metrics): each level then
    #: reports the server's time per stage (decode, compute, encode)
    server_metrics: str | None = None

    def levels(self) -> list[tuple[int | None, float | None]]:
        """(concurrency, rate) of each level: the sweep, or one open-loop level."""
        if self.rate is not None:
            return [(None, self.rate)]
        return [(c, None) for c in self.concurrency]


@dataclass
class LevelResult:
    """One process's raw results of one level (merged across processes)."""

    latencies: list[float] = field(default_factory=list)  # seconds, OK calls
    status: collections.Counter = field(default_factory=collections.Counter)
    messages: collections.Counter = field(default_factory=collections.Counter)
    elements: int = 0
    sent: int = 0
    received: int = 0
    verified: int = 0
    mismatches: int = 0
    by_workload: collections.Counter = field(default_factory=collections.Counter)
    wall: float = 0.0
    cpu: float = 0.0
    cpu_user: float = 0.0
    cpu_system: float = 0.0
    #: the server's stage breakdown over the level (from its metrics endpoint)
    server_stages: dict[str, Any] = field(default_factory=dict)

    def merge(self, other: LevelResult) -> None:
        self.latencies += other.latencies
        self.status.update(other.status)
        self.messages.update(other.messages)
        self.by_workload.update(other.by_workload)
        for name in ("elements", "sent", "received", "verified", "mismatches"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.wall = max(self.wall, other.wall)
        self.cpu += other.cpu
        self.cpu_user += other.cpu_user
        self.cpu_system += other.cpu_system


class Engine:
    """Channels, prepared requests and the two loops, in one process."""

    def __init__(self, config: Config, proc: int = 0, progress: Any = None):
        import grpc

        self.grpc = grpc
        self.config = config
        self.progress = progress  # a shared counter (multiprocessing.Value) or None
        target, options = configure(
            config.target, retries=0, load_balancing=None, max_message_bytes=-1
        )
        # Each channel its own connection(s): channels otherwise share subchannels.
        options = [*options, ("grpc.use_local_subchannel_pool", 1)]
        creds = None
        if config.root_certificates:
            with open(config.root_certificates, "rb") as f:
                creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        self.channels = [
            grpc.insecure_channel(target, options=options)
            if creds is None
            else grpc.secure_channel(target, creds, options=options)
            for _ in range(max(1, config.connections))
        ]
        describe = self._describer() if any(not w.raw_method for w in config.workloads) else None
        self.prepared = [
            prepare(w, config.seed + 1000 * k, describe) for k, w in enumerate(config.workloads)
        ]
        self.calls = [
            [
                ch.unary_unary(p.method, request_serializer=None, response_deserializer=None)
                for p in self.prepared
            ]
            for ch in self.channels
        ]
        weights = np.array([w.weight for w in config.workloads], dtype=float)
        rng = np.random.default_rng(config.seed + 7919 * proc)
        self.sequence = rng.choice(len(weights), size=4096, p=weights / weights.sum()).tolist()
        self.rng = rng
        self.proc = proc

    def _describer(self) -> Callable[[str], Any]:
        from nnfunc.client import Client

        def describe(name: str) -> Any:
            with Client(
                self.config.target,
                timeout=self.config.timeout,
                retries=0,
                root_certificates=self.config.root_certificates,
            ) as c:
                return c.describe(name)

        cache: dict[str, Any] = {}
        return lambda name: cache[name] if name in cache else cache.setdefault(name, describe(name))

    def close(self) -> None:
        for ch in self.channels:
            ch.close()

    def connect(self, timeout: float) -> None:
        """Wait until every channel is connected (so the first level does not pay it)."""
        for ch in self.channels:
            self.grpc.channel_ready_future(ch).result(timeout=timeout)

    # -- one level ---------------------------------------------------------------------

    def run_level(self, concurrency: int | None, rate: float | None) -> LevelResult:
        cfg = self.config
        state = _LevelState(self, cfg)
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        state.start(t0)
        if rate is not None:
            state.open_loop(rate / max(cfg.procs, 1), cfg.arrivals)
        else:
            state.closed_loop(concurrency or 1)
        state.finished.wait()
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
        res = state.result
        res.wall = max(state.last_done, state.stop_at if state.stop_at != math.inf else 0) - (
            state.record_from
        )
        if res.wall <= 0:
            res.wall = max(time.perf_counter() - state.record_from, 1e-9)
        # CPU over the whole level, warm-up included, against its whole wall time
        whole = time.perf_counter() - t0
        res.cpu_user = usage1.ru_utime - usage0.ru_utime
        res.cpu_system = usage1.ru_stime - usage0.ru_stime
        res.cpu = (res.cpu_user + res.cpu_system) / whole if whole > 0 else 0.0
        return res


class _LevelState:
    """The shared state of one level's calls. Callbacks run on gRPC's threads; the
    lock guards the counters, and no call is started while holding it (gRPC runs the
    callback of an already finished call at once, on the caller's thread)."""

    def __init__(self, engine: Engine, cfg: Config):
        self.engine = engine
        self.cfg = cfg
        self.lock = threading.Lock()
        self.room = threading.Condition(self.lock)
        self.result = LevelResult()
        self.finished = threading.Event()
        self.closed = True
        self.in_flight = 0
        self.issued_recorded = 0
        self.next_index = 0
        self.ok_count = 0
        self.stopping = False
        self.last_done = 0.0
        self.verify_every = round(1 / cfg.verify) if cfg.verify > 0 else 0

    def start(self, t0: float) -> None:
        self.record_from = t0 + self.cfg.warmup
        self.stop_at = self.record_from + self.cfg.duration if self.cfg.duration else math.inf
        limit = self.cfg.requests
        if limit is not None and self.cfg.procs > 1:  # the count is split over processes
            share, extra = divmod(limit, self.cfg.procs)
            limit = share + (1 if self.engine.proc < extra else 0)
        self.limit = limit

    def _claim(self, when: float) -> tuple[int, int, bool] | None:
        """Under the lock: a call meant for ``when`` as (sequence number, workload,
        recorded), or None when the level takes no more calls."""
        if self.stopping or when >= self.stop_at:
            self.stopping = True
            return None
        recorded = when >= self.record_from
        if recorded:
            if self.limit is not None and self.issued_recorded >= self.limit:
                self.stopping = True
                return None
            self.issued_recorded += 1
        k = self.next_index
        self.next_index += 1
        self.in_flight += 1
        return k, self.engine.sequence[k % len(self.engine.sequence)], recorded

    def _fire(self, claim: tuple[int, int, bool], intended: float) -> None:
        """Outside the lock: start the claimed call."""
        k, w, recorded = claim
        engine = self.engine
        call = engine.calls[k % len(engine.calls)][w]
        future = call.future(engine.prepared[w].payload, timeout=self.cfg.timeout)
        future.add_done_callback(lambda f: self._done(f, intended, recorded, w))

    def _done(self, future, intended: float, recorded: bool, w: int) -> None:
        now = time.perf_counter()
        prepared = self.engine.prepared[w]
        code = future.code()
        name = code.name if code is not None else "UNKNOWN"
        data = future.result() if name == "OK" else None
        check = None
        claim = None
        with self.lock:
            self.in_flight -= 1
            self.last_done = max(self.last_done, now)
            if recorded:
                res = self.result
                res.status[name] += 1
                res.by_workload[prepared.spec.name] += 1
                res.sent += len(prepared.payload)
                if data is not None:
                    res.latencies.append(now - intended)
                    res.received += len(data)
                    res.elements += prepared.elements
                    self.ok_count += 1
                    if self.verify_every and self.ok_count % self.verify_every == 0:
                        check = prepared.check
                else:
                    res.messages[(name, (future.details() or "")[:200])] += 1
            if self.engine.progress is not None:
                self.engine.progress.value += 1
            if self.closed:
                claim = self._claim(now)
            if claim is None and self.stopping and self.in_flight == 0:
                self.finished.set()
            self.room.notify()
        if claim is not None:
            self._fire(claim, now)
        if check is not None and data is not None:
            ok = _safe(check, data)
            with self.lock:
                self.result.verified += 1
                self.result.mismatches += 0 if ok else 1

    # -- the loops ---------------------------------------------------------------------

    def closed_loop(self, concurrency: int) -> None:
        """``concurrency`` calls at once; each answer starts the next call."""
        self.closed = True
        now = time.perf_counter()
        with self.lock:
            claims = [c for c in (self._claim(now) for _ in range(concurrency)) if c]
            if not claims:
                self.stopping = True
                self.finished.set()
        for claim in claims:
            self._fire(claim, now)

    def open_loop(self, rate: float, arrivals: str) -> None:
        self.closed = False
        threading.Thread(target=self._schedule, args=(rate, arrivals), daemon=True).start()

    def _schedule(self, rate: float, arrivals: str) -> None:
        """Calls at their intended times; when behind, every due call goes at once
        (each keeps its intended time, so the delay shows in its latency)."""
        rng = np.random.default_rng(self.cfg.seed + 31 * self.engine.proc)
        poisson = arrivals == "poisson"
        intended = time.perf_counter()
        while True:
            wait = intended - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            with self.lock:
                while self.in_flight >= self.cfg.max_in_flight:
                    self.room.wait(0.1)
                claim = self._claim(intended)
                if claim is None:
                    if self.in_flight == 0:
                        self.finished.set()
                    return
            self._fire(claim, intended)
            intended += rng.exponential(1 / rate) if poisson else 1 / rate


def _safe(check: Callable[[bytes], bool], data: bytes) -> bool:
    try:
        return bool(check(data))
    except Exception:
        return False


# ---------------------------------------------------------------------------
# Several processes
# ---------------------------------------------------------------------------


def _child(config: Config, proc: int, barrier, results, progress) -> None:
    try:
        engine = Engine(config, proc, progress)
        engine.connect(config.timeout)
    except Exception as exc:
        results.put((proc, "error", f"{type(exc).__name__}: {exc}"))
        barrier.abort()
        return
    try:
        for concurrency, rate in config.levels():
            barrier.wait()
            share = None
            if concurrency is not None:
                share, extra = divmod(concurrency, config.procs)
                share += 1 if proc < extra else 0
            if concurrency is not None and share == 0:
                results.put((proc, "level", LevelResult()))
                continue
            results.put((proc, "level", engine.run_level(share, rate)))
    except threading.BrokenBarrierError:
        pass
    finally:
        engine.close()


class _Count:
    """Calls answered so far in this process (the progress bar reads it)."""

    value = 0


def run(config: Config, progress: Progress | None = None) -> list:
    """Every level of ``config``: a list of (concurrency, rate, merged LevelResult)."""
    levels = config.levels()
    if config.procs <= 1:
        counter = _Count()
        if progress is not None:
            progress.counter = lambda: counter.value
        engine = Engine(config, 0, counter)
        try:
            engine.connect(config.timeout)
            out = []
            for i, (c, r) in enumerate(levels):
                if progress is not None:
                    progress.level(i, c, r)
                before = scrape_stages(config.server_metrics)
                res = engine.run_level(c, r)
                res.server_stages = stage_breakdown(before, scrape_stages(config.server_metrics))
                out.append((c, r, res))
            return out
        finally:
            engine.close()
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # never fork a process that holds gRPC
    barrier = ctx.Barrier(config.procs + 1)
    results = ctx.Queue()
    shared = ctx.Value("q", 0, lock=False)  # approximate: for the progress bar only
    if progress is not None:
        progress.counter = lambda: shared.value
    children = [
        ctx.Process(target=_child, args=(config, p, barrier, results, shared), daemon=True)
        for p in range(config.procs)
    ]
    for p in children:
        p.start()
    out = []
    try:
        for i, (c, r) in enumerate(levels):
            try:
                barrier.wait(timeout=120)
            except threading.BrokenBarrierError:
                _, _, message = results.get(timeout=5)
                raise RuntimeError(f"a client process could not start: {message}") from None
            if progress is not None:
                progress.level(i, c, r)
            before = scrape_stages(config.server_metrics)
            merged = LevelResult()
            for _ in children:
                _, kind, payload = results.get()
                if kind == "error":
                    raise RuntimeError(payload)
                merged.merge(payload)
            merged.server_stages = stage_breakdown(before, scrape_stages(config.server_metrics))
            out.append((c, r, merged))
    finally:
        for p in children:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
    return out


# ---------------------------------------------------------------------------
# The server's own view: its stage breakdown, from its metrics endpoint
# ---------------------------------------------------------------------------

_STAGE_LINE = re.compile(
    r"^nnfunc_stage_duration_seconds_(sum|count)\{([^}]*)\}\s+([0-9.eE+-]+|NaN|[+-]Inf)\s*$"
)


def scrape_stages(url: str | None, timeout: float = 5.0) -> dict[tuple[str, str], float] | None:
    """{(stage, "sum"|"count"): value} summed over RPCs, from a Prometheus endpoint of
    an nnfunc server (``--metrics-port``); None without a URL or when it cannot be read
    (the load test goes on without the breakdown)."""
    if not url:
        return None
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            text = r.read().decode()
    except (OSError, ValueError):
        return None
    totals: dict[tuple[str, str], float] = collections.defaultdict(float)
    for line in text.splitlines():
        m = _STAGE_LINE.match(line)
        if m:
            stage = re.search(r'stage="([^"]*)"', m.group(2))
            if stage:
                totals[(stage.group(1), m.group(1))] += float(m.group(3))
    return dict(totals)


def stage_breakdown(before, after) -> dict[str, Any]:
    """Per stage over a level: calls, total seconds and mean ms per call (empty when
    either scrape is missing)."""
    if before is None or after is None:
        return {}
    out = {}
    for stage in sorted({s for s, _ in after}):
        n = after.get((stage, "count"), 0.0) - before.get((stage, "count"), 0.0)
        total = after.get((stage, "sum"), 0.0) - before.get((stage, "sum"), 0.0)
        if n > 0:
            out[stage] = {"calls": int(n), "total_s": total, "mean_ms": total / n * 1e3}
    return out


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------

#: Histogram bucket bounds, ms: 1-2-5 from 10 µs to 100 s.
BUCKETS_MS = [m * 10.0**e for e in range(-2, 5) for m in (1, 2, 5)] + [1e5]


def summarize(concurrency: int | None, rate: float | None, res: LevelResult) -> dict[str, Any]:
    """One level of the report (plain data, JSON-ready)."""
    lat = np.sort(np.asarray(res.latencies, dtype=np.float64)) * 1e3
    count = sum(res.status.values())
    ok = res.status.get("OK", 0)
    wall = res.wall if res.wall > 0 else float("nan")
    latency: dict[str, float | None]
    if lat.size:
        qs = np.percentile(lat, [50, 90, 95, 99, 99.9])
        latency = {
            "min": float(lat[0]),
            "mean": float(lat.mean()),
            "stddev": float(lat.std()),
            "p50": float(qs[0]),
            "p90": float(qs[1]),
            "p95": float(qs[2]),
            "p99": float(qs[3]),
            "p99.9": float(qs[4]),
            "max": float(lat[-1]),
        }
    else:
        latency = dict.fromkeys(LATENCY_METRICS)
    edges = np.searchsorted(lat, BUCKETS_MS, side="right")
    counts = np.diff(np.concatenate([[0], edges]))
    histogram = [{"le_ms": b, "count": int(n)} for b, n in zip(BUCKETS_MS, counts, strict=True)]
    nonzero = [i for i, h in enumerate(histogram) if h["count"]]
    histogram = histogram[nonzero[0] : nonzero[-1] + 1] if nonzero else []
    label = f"rate={rate:g}/s" if rate is not None else f"c={concurrency}"
    return {
        "level": label,
        "concurrency": concurrency,
        "rate": rate,
        "duration_s": res.wall,
        "count": count,
        "ok": ok,
        "errors": count - ok,
        "status": dict(res.status.most_common()),
        "top_errors": [
            {"code": code, "message": msg, "count": n}
            for (code, msg), n in res.messages.most_common(5)
        ],
        "throughput": {
            "calls_per_s": ok / wall,
            "elements_per_s": res.elements / wall,
            "mb_per_s": (res.sent + res.received) / wall / 1e6,
            "mb_sent_per_s": res.sent / wall / 1e6,
            "mb_received_per_s": res.received / wall / 1e6,
        },
        "latency_ms": latency,
        "histogram": histogram,
        "client_cpu": {
            "user_s": res.cpu_user,
            "system_s": res.cpu_system,
            "cores": res.cpu,  # CPU seconds per wall second, all client processes
        },
        "verify": {"checked": res.verified, "mismatches": res.mismatches},
        "workloads": dict(res.by_workload),
        "server_stages": res.server_stages,
    }


def report(config: Config, results, thresholds: Sequence[Threshold]) -> dict[str, Any]:
    levels = [summarize(c, r, res) for c, r, res in results]
    checks = []
    for t in thresholds:
        for lv in levels:
            crossed, actual = t.crossed(lv)
            checks.append(
                {"threshold": t.text, "level": lv["level"], "actual": actual, "failed": crossed}
            )
    return {
        "config": {
            "target": config.target,
            "workloads": [w.name for w in config.workloads],
            "weights": [w.weight for w in config.workloads],
            "mode": "open" if config.rate is not None else "closed",
            "rate": config.rate,
            "arrivals": config.arrivals if config.rate is not None else None,
            "duration_s": config.duration,
            "requests": config.requests,
            "warmup_s": config.warmup,
            "timeout_s": config.timeout,
            "connections": config.connections,
            "procs": config.procs,
            "seed": config.seed,
            "verify": config.verify,
        },
        "levels": levels,
        "thresholds": checks,
        "passed": not any(c["failed"] for c in checks),
    }


def _ms(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}" if x < 1000 else f"{x:.0f}"


def _si(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.2f}{unit}"
    return f"{x:.1f}"


def format_text(rep: dict[str, Any]) -> str:
    cfg = rep["config"]
    out = io.StringIO()
    target = cfg["target"] if isinstance(cfg["target"], str) else ",".join(cfg["target"])
    how = (
        f"open loop, {cfg['arrivals']} arrivals at {cfg['rate']:g}/s"
        if cfg["mode"] == "open"
        else "closed loop"
    )
    span = f"{cfg['requests']} requests" if cfg["requests"] else f"{cfg['duration_s']:g}s"
    print(
        f"target {target}: {how}, {span} per level after {cfg['warmup_s']:g}s warm-up, "
        f"{cfg['connections']} connection(s) x {cfg['procs']} process(es)",
        file=out,
    )
    for name, w in zip(cfg["workloads"], cfg["weights"], strict=True):
        share = f" (weight {w:g})" if len(cfg["workloads"]) > 1 else ""
        print(f"  workload: {name}{share}", file=out)
    print(file=out)
    head = (
        f"{'level':>12} {'count':>8} {'errors':>7} {'calls/s':>9} {'elem/s':>8} {'MB/s':>8} "
        f"{'min':>8} {'mean':>8} {'p50':>8} {'p90':>8} {'p99':>8} {'p99.9':>8} {'max':>8} "
        f"{'cpu':>5}"
    )
    print(head + "   (latency in ms)", file=out)
    for lv in rep["levels"]:
        lat, th = lv["latency_ms"], lv["throughput"]
        print(
            f"{lv['level']:>12} {lv['count']:>8} {lv['errors']:>7} {th['calls_per_s']:>9.1f} "
            f"{_si(th['elements_per_s']):>8} {th['mb_per_s']:>8.2f} "
            + " ".join(
                f"{_ms(lat[k]):>8}" for k in ("min", "mean", "p50", "p90", "p99", "p99.9", "max")
            )
            + f" {lv['client_cpu']['cores']:>5.2f}",
            file=out,
        )
    for lv in rep["levels"]:
        extra = []
        if lv["errors"]:
            extra.append("  status: " + ", ".join(f"{k} {v}" for k, v in lv["status"].items()))
            extra += [f"    {e['count']} x {e['code']}: {e['message']}" for e in lv["top_errors"]]
        if lv.get("server_stages"):
            extra.append(
                "  server time per call (ms, mean): "
                + ", ".join(f"{k} {_ms(v['mean_ms'])}" for k, v in lv["server_stages"].items())
            )
        if lv["verify"]["checked"]:
            v = lv["verify"]
            extra.append(f"  verified {v['checked']} answers: {v['mismatches']} mismatches")
        if len(lv["histogram"]) > 0 and len(rep["levels"]) == 1:
            extra.append(f"  latency histogram (ms), stddev {_ms(lv['latency_ms']['stddev'])}:")
            top = max(h["count"] for h in lv["histogram"])
            for h in lv["histogram"]:
                bar = "#" * max(1 if h["count"] else 0, round(40 * h["count"] / top))
                extra.append(f"    <= {h['le_ms']:>8g}  {h['count']:>8}  {bar}")
        if extra:
            print(f"\n{lv['level']}:", file=out)
            print("\n".join(extra), file=out)
    failed = [c for c in rep["thresholds"] if c["failed"]]
    if rep["thresholds"]:
        print(file=out)
        for c in failed:
            print(f"FAILED {c['threshold']} at {c['level']} (actual {c['actual']:.6g})", file=out)
        if not failed:
            names = sorted({c["threshold"] for c in rep["thresholds"]})
            print(f"passed: {', '.join(names)}", file=out)
    return out.getvalue().rstrip("\n")


CSV_FIELDS = [
    "level",
    "concurrency",
    "rate",
    "duration_s",
    "count",
    "ok",
    "errors",
    "calls_per_s",
    "elements_per_s",
    "mb_per_s",
    "min_ms",
    "mean_ms",
    "stddev_ms",
    "p50_ms",
    "p90_ms",
    "p95_ms",
    "p99_ms",
    "p99.9_ms",
    "max_ms",
    "client_cpu_cores",
    "verified",
    "mismatches",
]


def format_csv(rep: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for lv in rep["levels"]:
        row = {k: lv[k] for k in ("level", "concurrency", "rate", "duration_s", "count", "ok")}
        row["errors"] = lv["errors"]
        row.update({k: lv["throughput"][k] for k in ("calls_per_s", "elements_per_s", "mb_per_s")})
        row.update({f"{k}_ms": v for k, v in lv["latency_ms"].items()})
        row["client_cpu_cores"] = lv["client_cpu"]["cores"]
        row["verified"] = lv["verify"]["checked"]
        row["mismatches"] = lv["verify"]["mismatches"]
        writer.writerow(row)
    return out.getvalue().rstrip("\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer | np.floating):
        return obj.item()
    raise TypeError(type(obj).__name__)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def format_json(rep: dict[str, Any]) -> str:
    return json.dumps(_finite(rep), indent=2, default=_json_default, allow_nan=False)


class Progress:
    """A one-line progress bar on stderr (only on a terminal)."""

    def __init__(self, config: Config, stream=None):
        self.config = config
        self.stream = stream or sys.stderr
        self.count = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.counter: Callable[[], int] = lambda: 0  # set by ``run``

    def level(self, index: int, concurrency: int | None, rate: float | None) -> None:
        self.finish_line()
        label = f"rate={rate:g}/s" if rate is not None else f"c={concurrency}"
        total = self.config.warmup + (self.config.duration or 0)
        start = time.monotonic()
        base = self.counter()
        self._stop.clear()

        def draw() -> None:
            while not self._stop.wait(0.25):
                elapsed = time.monotonic() - start
                done = self.counter() - base
                if self.config.requests:
                    frac, tail = min(done / self.config.requests, 1.0), f"{done} calls"
                else:
                    frac = min(elapsed / total, 1.0) if total else 1.0
                    tail = f"{elapsed:5.1f}/{total:g}s  {done} calls"
                bar = "#" * int(30 * frac) + "." * (30 - int(30 * frac))
                self.stream.write(
                    f"\r[{index + 1}/{len(self.config.levels())}] {label:>12} [{bar}] {tail}  "
                )
                self.stream.flush()

        self._thread = threading.Thread(target=draw, daemon=True)
        self._thread.start()

    def finish_line(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()


# ---------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------


def build_parser(prog: str = "nnfunc loadtest") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Load-test an nnfunc server: closed loop (a concurrency sweep) or open "
        "loop (a rate), with a latency/throughput report.",
        epilog="Exit status: 0, or 1 when a --fail-if threshold is crossed or the run "
        "cannot start.",
    )
    p.add_argument(
        "--target",
        action="append",
        help="host:port (repeat, or comma-separate, to balance round robin over several), "
        "or a gRPC target such as dns:///name:port (round robin over its addresses) "
        f"[env NNFUNC_TARGET, default {DEFAULT_TARGET}]",
    )
    w = p.add_argument_group("workload (one kind of call; --mix for several)")
    w.add_argument("--rpc", default="evaluate", choices=sorted(set(RPCS) - {"checkgradient"}))
    w.add_argument("--function", "-f", default="relu", help="function name or alias (relu)")
    w.add_argument(
        "--param", "-p", action="append", default=[], metavar="NAME=VALUE", help="a parameter"
    )
    w.add_argument("--shape", default="8", help="the main input's shape: 8, 1M, 4096x1000 (8)")
    w.add_argument("--dtype", default="float32", choices=["float16", "float32", "float64"])
    w.add_argument(
        "--encoding",
        default="raw",
        choices=["raw", "typed"],
        help="raw_data bytes (the fast path) or typed double_data (raw)",
    )
    w.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="GEN",
        help="how to fill the next input: normal[:scale], uniform[:lo,hi], bits, signs, ones, "
        "logprobs, probs, classes[:C], with @SHAPE (@rows, @last, @64x1000); the "
        "function's own defaults otherwise",
    )
    w.add_argument(
        "--mix",
        metavar="FILE",
        help="a weighted mix of calls: TOML [[call]] tables or a JSON list, each with "
        "function, rpc, shape, dtype, encoding, params, inputs, weight",
    )
    w.add_argument("--seed", type=int, default=0, help="seed of the data (0)")
    lo = p.add_argument_group("load")
    lo.add_argument(
        "--concurrency",
        "-c",
        default="1",
        help="calls in flight (closed loop); a sweep: 1,8,32,64 (1)",
    )
    lo.add_argument("--rate", type=float, help="calls per second (open loop instead)")
    lo.add_argument("--arrivals", default="constant", choices=["constant", "poisson"])
    lo.add_argument("--duration", "-d", default="10s", help="per level, after warm-up (10s)")
    lo.add_argument("--requests", "-n", type=int, help="per level, instead of --duration")
    lo.add_argument("--warmup", default="1s", help="per level, not recorded (1s; 0 for none)")
    lo.add_argument("--timeout", default="10s", help="deadline of each call (10s)")
    lo.add_argument("--connections", type=int, default=1, help="channels per process (1)")
    lo.add_argument("--procs", type=int, default=1, help="client processes (1)")
    lo.add_argument(
        "--max-in-flight", type=int, default=10000, help="open loop: cap on calls in flight"
    )
    lo.add_argument("--root-certificates", metavar="PEM", help="use TLS, trusting these roots")
    o = p.add_argument_group("report")
    o.add_argument(
        "--verify",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="compare this fraction of the answers with the local catalog (0)",
    )
    o.add_argument(
        "--fail-if",
        default="",
        metavar="CONDITIONS",
        help='exit 1 when any level meets one: "p99>50ms,errors>0,error_rate>1%%"',
    )
    fmt = o.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the report as JSON")
    fmt.add_argument("--csv", action="store_true", help="print one CSV row per level")
    o.add_argument("--no-progress", action="store_true", help="no progress bar")
    o.add_argument(
        "--server-metrics",
        metavar="URL",
        help="the server's metrics endpoint (http://host:9464/metrics, nnfunc serve "
        "--metrics-port): report its time per stage (decode, compute, encode) per level",
    )
    return p


def config_from_args(args: argparse.Namespace) -> Config:
    targets: list[str] = []
    for t in args.target or [os.environ.get("NNFUNC_TARGET") or DEFAULT_TARGET]:
        targets += [s.strip() for s in (t.split(",") if not t.startswith("dns:") else [t])]
    target: str | list[str] = targets[0] if len(targets) == 1 else targets
    if args.mix:
        workloads = load_mix(args.mix)
    else:
        params: dict[str, Any] = {}
        for text in args.param:
            name, sep, value = text.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"--param {text!r}: expected NAME=VALUE")
            params[name.strip()] = value.strip()
        workloads = [
            WorkloadSpec(
                function=args.function,
                rpc=args.rpc,
                shape=parse_shape(args.shape),
                dtype=args.dtype,
                encoding=args.encoding,
                params=params,
                inputs=tuple(args.input),
            )
        ]
    duration = None if args.requests is not None else parse_duration(args.duration)
    verify = float(args.verify)
    if not 0 <= verify <= 1:
        raise ValueError(f"--verify {verify}: expected a fraction in [0, 1]")
    if args.rate is not None and not args.rate > 0:
        raise ValueError(f"--rate {args.rate}: expected calls per second > 0")
    if args.requests is not None and args.requests < 1:
        raise ValueError(f"--requests {args.requests}: expected >= 1")
    if args.connections < 1 or args.procs < 1:
        raise ValueError("--connections and --procs must be >= 1")
    return Config(
        target=target,
        workloads=workloads,
        concurrency=parse_levels(args.concurrency),
        rate=args.rate,
        arrivals=args.arrivals,
        duration=duration,
        requests=args.requests,
        warmup=parse_duration(args.warmup),
        timeout=parse_duration(args.timeout),
        connections=args.connections,
        procs=args.procs,
        seed=args.seed,
        verify=verify,
        max_in_flight=args.max_in_flight,
        root_certificates=args.root_certificates,
        server_metrics=args.server_metrics,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    try:
        config = config_from_args(args)
        thresholds = parse_thresholds(args.fail_if)
    except (ValueError, OSError) as exc:
        print(f"nnfunc loadtest: {exc}", file=sys.stderr)
        return 1
    bar = Progress(config) if not args.no_progress and sys.stderr.isatty() else None
    try:
        results = run(config, bar)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the server unreachable, a bad function name, ...
        from nnfunc.errors import Error

        if bar is not None:
            bar.finish_line()
        text = f"{exc.code}: {exc.message}" if isinstance(exc, Error) else str(exc)
        print(f"nnfunc loadtest: {text or type(exc).__name__}", file=sys.stderr)
        return 1
    if bar is not None:
        bar.finish_line()
    rep = report(config, results, thresholds)
    if args.json:
        print(format_json(rep))
    elif args.csv:
        print(format_csv(rep))
    else:
        print(format_text(rep))
    return 0 if rep["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
