"""The Prometheus endpoint: a scrape after known calls shows exactly those calls.

Metrics are per process and this process runs other servers, so every assertion is
on the difference between a scrape before and a scrape after the calls.
"""

from __future__ import annotations

import contextlib
import socket
import urllib.request

import grpc
import numpy as np
import pytest

import nnfunc
from nnfunc.server import Settings, start
from nnfunc.server import metrics as server_metrics

parser = pytest.importorskip("prometheus_client.parser")

TOKEN = "metrics-test-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    """Every sample of the exposition text: (name, sorted labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain")
        text = r.read().decode()
    out = {}
    for family in parser.text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def delta(before, after, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


@contextlib.contextmanager
def serving(**settings):
    handle = start(
        Settings(
            host="127.0.0.1",
            port=0,
            log_level="WARNING",
            metrics_host="127.0.0.1",
            metrics_port=_free_port(),
            **settings,
        )
    )
    try:
        yield handle
    finally:
        handle.stop(grace=0)


def test_off_by_default():
    assert Settings().metrics_port == 0 and Settings.load([], environ={}).metrics_port == 0
    handle = start(Settings(host="127.0.0.1", port=0, log_level="WARNING"))
    try:
        assert handle.metrics_port is None
    finally:
        handle.stop(grace=0)
    s = Settings.load(["--metrics-port", "9464"], environ={"NNFUNC_METRICS_HOST": "127.0.0.1"})
    assert (s.metrics_port, s.metrics_host) == (9464, "127.0.0.1")
    with pytest.raises(ValueError, match="metrics_port"):
        Settings(metrics_port=70000)


def test_scrape_counts_the_calls():
    x = np.linspace(-1, 1, 8, dtype=np.float32)
    with serving() as handle, nnfunc.Client(handle.address, retries=0) as c:
        port = handle.metrics_port
        c.evaluate("relu", x)  # the series exist before the first scrape
        before = scrape(port)
        for _ in range(3):
            c.evaluate("relu", x)
        r = c.loss("mse", x, np.zeros(8, np.float32))  # an alias: counted under mse_loss
        assert r.grad.shape == (8,)
        with pytest.raises(nnfunc.NotFoundError):
            c.evaluate("no_such_function", x)
        with pytest.raises(nnfunc.InvalidArgumentError):
            c.evaluate("relu", x, no_such_param=1.0)
        assert len(c.list_functions()) > 40
        zeros = np.zeros(8, np.float32)
        c.batch([c.request.evaluate("relu", x), c.request.loss("mse", x, zeros)])
        after = scrape(port)

    def d(name, **labels):
        return delta(before, after, name, **labels)

    assert d("nnfunc_requests_total", rpc="Evaluate", function="relu", code="OK") == 3
    assert d("nnfunc_requests_total", rpc="Evaluate", function="relu", code="INVALID_ARGUMENT") == 1
    assert d("nnfunc_requests_total", rpc="Loss", function="mse_loss", code="OK") == 1
    # A name the catalog does not know is "unknown": labels stay bounded.
    assert d("nnfunc_requests_total", rpc="Evaluate", function="unknown", code="NOT_FOUND") == 1
    assert d("nnfunc_requests_total", rpc="ListFunctions", function="", code="OK") == 1
    assert not any(k[0] == "nnfunc_requests_total" and ("function", "no_such_function") in k[1]
                   for k in after)  # fmt: skip
    # Latency histogram: every relu call, OK or not, in the count and in +Inf.
    assert d("nnfunc_request_duration_seconds_count", rpc="Evaluate", function="relu") == 4
    assert (
        d("nnfunc_request_duration_seconds_bucket", rpc="Evaluate", function="relu", le="+Inf") == 4
    )
    assert d("nnfunc_request_duration_seconds_sum", rpc="Evaluate", function="relu") > 0
    # Elements: 8 in and 8 out per OK relu call, 8 more in for the refused one;
    # the loss: 16 in (input, target), 1 value + 8 gradient out.
    assert d("nnfunc_request_elements_total", rpc="Evaluate", function="relu", direction="in") == 32
    assert (
        d("nnfunc_request_elements_total", rpc="Evaluate", function="relu", direction="out") == 24
    )
    assert d("nnfunc_request_elements_total", rpc="Loss", function="mse_loss", direction="in") == 16
    assert d("nnfunc_request_elements_total", rpc="Loss", function="mse_loss", direction="out") == 9
    # A Batch counts its items: relu (8 in, 8 out) and mse (16 in, 1 + 8 out).
    assert d("nnfunc_request_elements_total", rpc="Batch", function="", direction="in") == 24
    assert d("nnfunc_request_elements_total", rpc="Batch", function="", direction="out") == 17
    # Bytes: at least the float32 payload each way.
    assert d("nnfunc_request_bytes_total", rpc="Evaluate", direction="in") >= 5 * 32
    assert d("nnfunc_request_bytes_total", rpc="Evaluate", direction="out") >= 3 * 32
    assert after[("nnfunc_in_flight_requests", (("rpc", "Evaluate"),))] == 0
    # Stages, reported by the servicer through record_stage: each OK call had all three.
    for stage in ("decode", "compute", "encode"):
        assert d("nnfunc_stage_duration_seconds_count", rpc="Evaluate", stage=stage) >= 3, stage
        assert d("nnfunc_stage_duration_seconds_count", rpc="Loss", stage=stage) >= 1, stage


def test_refused_calls_are_counted_with_their_code():
    with serving(auth_tokens=TOKEN) as handle:
        before = scrape(handle.metrics_port)
        with (
            nnfunc.Client(handle.address, retries=0) as c,
            pytest.raises(nnfunc.UnauthenticatedError),
        ):
            c.evaluate("relu", [1.0])
        with (
            nnfunc.Client(handle.address, retries=0, token="wrong") as c,
            pytest.raises(nnfunc.PermissionDeniedError),
        ):
            c.evaluate("relu", [1.0])
        with nnfunc.Client(handle.address, retries=0, token=TOKEN) as c:
            c.evaluate("relu", [1.0])
        after = scrape(handle.metrics_port)
    # A refused request is never parsed (an unauthenticated caller gets no work done
    # for it), so its function is unknown to the metrics: "".
    for code, function in (("UNAUTHENTICATED", ""), ("PERMISSION_DENIED", ""), ("OK", "relu")):
        n = delta(
            before, after, "nnfunc_requests_total", rpc="Evaluate", function=function, code=code
        )
        assert n == 1, code


def test_health_checks_are_counted_apart():
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with serving() as handle, grpc.insecure_channel(handle.address) as ch:
        before = scrape(handle.metrics_port)
        health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
        after = scrape(handle.metrics_port)
    assert (
        delta(before, after, "nnfunc_requests_total", rpc="Health/Check", function="", code="OK")
        == 1
    )


def test_record_stage_outside_a_measured_call_records_nothing():
    m = server_metrics.metrics()
    before = m.exposition()
    server_metrics.record_stage("compute", 0.5)  # no call on this thread
    assert m.exposition() == before


def test_labels():
    assert server_metrics.rpc_label("/nnfunc.v1.FunctionService/Evaluate") == "Evaluate"
    assert server_metrics.rpc_label("/grpc.health.v1.Health/Check") == "Health/Check"

    class R:
        function = "mse"

    assert server_metrics.function_label(R()) == "mse_loss"
    R.function = "x" * 1000
    assert server_metrics.function_label(R()) == "unknown"


def test_loadtest_reads_the_server_stage_breakdown():
    from nnfunc import loadtest

    with serving() as handle:
        config = loadtest.Config(
            target=handle.address,
            requests=20,
            duration=None,
            warmup=0.0,
            server_metrics=f"http://127.0.0.1:{handle.metrics_port}/metrics",
        )
        rep = loadtest.report(config, loadtest.run(config), [])
    (level,) = rep["levels"]
    stages = level["server_stages"]
    assert set(stages) == {"decode", "compute", "encode"}
    assert all(s["calls"] == 20 and s["mean_ms"] > 0 for s in stages.values()), stages
    assert "server time per call" in loadtest.format_text(rep)
    # Without an endpoint (or an unreachable one) the report simply has no breakdown.
    assert loadtest.scrape_stages(None) is None
    assert loadtest.scrape_stages(f"http://127.0.0.1:{_free_port()}/metrics") is None
