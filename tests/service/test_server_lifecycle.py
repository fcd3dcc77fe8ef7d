"""Settings, life cycle, admission control and failure handling of the server.

Each test that needs special settings or a blocked call starts its own in-process
server; the CLI tests run ``python -m nnfunc.server`` in a subprocess.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from nnfunc.codec import from_tensor, to_tensor
from nnfunc.server import Settings, start
from nnfunc.server.app import JsonFormatter
from nnfunc.server.settings import GiB, parse_size
from nnfunc.v1 import function_service_pb2 as pb
from nnfunc.v1 import function_service_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parents[2]
RELU = pb.EvaluateRequest(function="relu", inputs=[to_tensor(np.array([-1.0, 2.0]))])


# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------


def test_defaults():
    s = Settings.load([], environ={})
    assert (s.host, s.port, s.workers) == ("0.0.0.0", 50051, 1)
    # 64M float32 elements (256 MiB) fit, several per message, both directions.
    assert s.max_elements == 64 * 1024 * 1024
    assert s.max_message_bytes == GiB >= 3 * s.max_elements * 4
    assert s.health and s.reflection
    assert s.log_level == "INFO"


def test_flags_over_environment_over_defaults():
    env = {
        "NNFUNC_PORT": "6000",
        "NNFUNC_HOST": "127.0.0.1",
        "NNFUNC_MAX_MESSAGE_BYTES": "512MiB",
        "NNFUNC_MAX_ELEMENTS": "16M",
        "NNFUNC_LOG_LEVEL": "debug",
        "NNFUNC_REFLECTION": "false",
        "NNFUNC_GRACE": "2.5",
        "NNFUNC_MAX_CONCURRENT_RPCS": "8",
        "NNFUNC_WORKERS": "3",
    }
    s = Settings.load(["--port", "7000", "--no-health"], environ=env)
    assert s.port == 7000  # the flag wins
    assert s.host == "127.0.0.1" and s.grace == 2.5 and s.workers == 3
    assert s.max_message_bytes == 512 * 1024 * 1024 and s.max_elements == 16 * 1024 * 1024
    assert s.log_level == "DEBUG" and not s.reflection and not s.health
    assert s.max_concurrent_rpcs == 8


def test_settings_are_frozen_and_validated():
    s = Settings()
    with pytest.raises(AttributeError):
        s.port = 1  # type: ignore[misc]
    for bad in (
        {"port": 70000},
        {"workers": 0},
        {"max_concurrent_rpcs": 0},
        {"grace": -1.0},
        {"log_level": "LOUD"},
        {"max_message_bytes": 3 * GiB},
        {"max_elements": 0},
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            Settings(**bad)
    with pytest.raises(ValueError, match="NNFUNC_PORT"):
        Settings.load([], environ={"NNFUNC_PORT": "many"})
    assert parse_size("1GiB") == GiB and parse_size("4096") == 4096 and parse_size("2K") == 2048


def test_main_rejects_bad_environment(capsys):
    from nnfunc.server import main

    with _env(NNFUNC_WORKERS="-2"):
        assert main([]) == 2
    assert "workers" in capsys.readouterr().err


@contextlib.contextmanager
def _env(**values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ---------------------------------------------------------------------------
# In-process servers with special settings
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def serving(**settings):
    handle = start(Settings(**{"host": "127.0.0.1", "port": 0, "log_level": "WARNING", **settings}))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as ch:
            yield handle, ch, pb_grpc.FunctionServiceStub(ch)
    finally:
        handle.stop(grace=0)
        logging.getLogger("nnfunc").setLevel(logging.WARNING)


class Gate:
    """Replaces the server's Evaluate work with one that waits to be released."""

    def __init__(self, handle):
        self.service = handle._servicer.service
        self.real = self.service.evaluate
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()
        self.service.evaluate = self._blocked

    def _blocked(self, request):
        self.entered.release()
        self.release.wait(20)
        return self.real(request)

    def wait_entered(self, n: int = 1) -> None:
        for _ in range(n):
            assert self.entered.acquire(timeout=10), "the call never reached the server"


def test_graceful_shutdown_with_a_call_in_flight():
    with serving(grace=10.0) as (handle, ch, stub):
        health = health_pb2_grpc.HealthStub(ch)
        watch = health.Watch(health_pb2.HealthCheckRequest(service="nnfunc.v1.FunctionService"))
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        gate = Gate(handle)
        in_flight = stub.Evaluate.future(RELU)
        gate.wait_entered()
        stopper = threading.Thread(target=handle.stop, kwargs={"grace": 10.0})
        stopper.start()
        # First the health service says NOT_SERVING ...
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        assert handle._servicer.draining.wait(5)
        # ... new calls are refused ...
        with pytest.raises(grpc.RpcError) as info:
            stub.Evaluate(RELU, timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        # ... and the call in flight still finishes within the grace period.
        assert not in_flight.done()
        gate.release.set()
        np.testing.assert_array_equal(from_tensor(in_flight.result(10).output), [0.0, 2.0])
        stopper.join(10)
        assert not stopper.is_alive() and handle.wait(0)


def test_grace_expiry_cancels_the_stragglers():
    with serving() as (handle, _ch, stub):
        gate = Gate(handle)
        call = stub.Evaluate.future(RELU)
        gate.wait_entered()
        start_t = time.monotonic()
        handle.stop(grace=0.3)
        assert time.monotonic() - start_t < 5
        with pytest.raises(grpc.RpcError) as info:
            call.result(10)
        assert info.value.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
        gate.release.set()


def test_over_the_concurrency_limit_is_resource_exhausted():
    with serving(max_concurrent_rpcs=2, health=False) as (handle, _ch, stub):
        gate = Gate(handle)
        calls = [stub.Evaluate.future(RELU) for _ in range(2)]
        gate.wait_entered(2)
        with pytest.raises(grpc.RpcError) as info:
            stub.Evaluate(RELU, timeout=5)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        gate.release.set()
        for c in calls:
            assert c.result(10).output.shape == [2]
        assert stub.Evaluate(RELU, timeout=5).output.shape == [2]  # admitted again


def test_deadline_exceeded_while_working():
    with serving() as (handle, _ch, stub):
        gate = Gate(handle)
        with pytest.raises(grpc.RpcError) as info:
            stub.Evaluate(RELU, timeout=0.2)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        gate.release.set()
        gate.service.evaluate = gate.real
        assert stub.Evaluate(RELU, timeout=5).output.shape == [2]


def test_message_and_tensor_limits():
    with serving(max_message_bytes=64 * 1024, max_elements=1000) as (_h, _ch, stub):
        big = pb.EvaluateRequest(function="relu", inputs=[to_tensor(np.zeros(2000, np.float32))])
        with pytest.raises(grpc.RpcError) as info:
            stub.Evaluate(big)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "1000" in info.value.details()
        huge = pb.EvaluateRequest(function="relu", inputs=[to_tensor(np.zeros(20000))])
        with pytest.raises(grpc.RpcError) as info:
            stub.Evaluate(huge)  # 160 kB > 64 KiB: refused by gRPC before decoding
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert stub.Evaluate(RELU).output.shape == [2]


def test_unexpected_errors_are_internal_with_a_generic_message(caplog):
    with serving() as (handle, _ch, stub):
        service = handle._servicer.service

        def broken(request):
            raise ZeroDivisionError("secret internals")

        service.evaluate = broken
        with (
            caplog.at_level(logging.WARNING, logger="nnfunc"),
            pytest.raises(grpc.RpcError) as info,
        ):
            stub.Evaluate(RELU)
        assert info.value.code() == grpc.StatusCode.INTERNAL
        assert "secret" not in info.value.details()
        assert "log" in info.value.details()
        record = next(r for r in caplog.records if r.name == "nnfunc.server.calls")
        assert record.exc_info and record.exc_info[0] is ZeroDivisionError  # traceback: log only
        assert record.fields["function"] == "relu" and record.fields["shapes"] == [[2]]

        def hungry(request):
            raise MemoryError

        service.evaluate = hungry
        with pytest.raises(grpc.RpcError) as info:
            stub.Evaluate(RELU)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # A Batch item fails alone, with the same generic message.
        service.evaluate = broken
        resp = stub.Batch(
            pb.BatchRequest(
                items=[
                    pb.BatchItem(evaluate=RELU),
                    pb.BatchItem(gradient=pb.GradientRequest(function="relu", inputs=RELU.inputs)),
                ]
            )
        )
        assert resp.results[0].status.code == grpc.StatusCode.INTERNAL.value[0]
        assert "secret" not in resp.results[0].status.message
        assert resp.results[1].status.code == 0


def test_one_debug_line_per_call(caplog):
    with serving(log_level="DEBUG") as (_h, _ch, stub), caplog.at_level(logging.DEBUG, "nnfunc"):
        stub.Evaluate(RELU)
        with pytest.raises(grpc.RpcError):
            stub.Evaluate(pb.EvaluateRequest(function="nope", inputs=RELU.inputs))
    calls = [r for r in caplog.records if r.name == "nnfunc.server.calls"]
    assert [(r.levelname, r.fields["method"], r.fields["code"]) for r in calls] == [
        ("DEBUG", "Evaluate", "OK"),
        ("WARNING", "Evaluate", "NOT_FOUND"),
    ]
    assert calls[1].fields["function"] == "nope" and calls[1].fields["shapes"] == [[2]]
    line = json.loads(JsonFormatter().format(calls[1]))
    assert (
        line["level"] == "WARNING" and line["code"] == "NOT_FOUND" and line["field"] == "function"
    )


def test_port_in_use_is_an_error():
    with serving() as (handle, _ch, _stub), pytest.raises(OSError):
        start(Settings(host="127.0.0.1", port=handle.port, log_level="WARNING"))


# ---------------------------------------------------------------------------
# The command line: python -m nnfunc.server
# ---------------------------------------------------------------------------


def _launch(*args: str) -> tuple[subprocess.Popen, list[dict]]:
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(str(ROOT / d) for d in ("client", "server", "proto"))
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "nnfunc.server", "--host", "127.0.0.1", "--port", "0", *args],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    return proc, []


def _read_until(proc, lines: list[dict], msg: str, count: int = 1, timeout: float = 30) -> list:
    deadline = time.monotonic() + timeout
    while sum(1 for e in lines if e["msg"] == msg) < count:
        assert time.monotonic() < deadline, f"no {msg!r} log line; got {lines}"
        raw = proc.stderr.readline()
        assert raw, f"server exited ({proc.poll()}) before logging {msg!r}: {lines}"
        lines.append(json.loads(raw))
    return [e for e in lines if e["msg"] == msg]


def _stop(proc, lines) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines.extend(json.loads(raw) for raw in proc.stderr.read().splitlines() if raw.strip())
    return code


def test_python_m_serves_and_drains_on_sigterm():
    proc, lines = _launch("--grace", "5")
    try:
        (serving_line,) = _read_until(proc, lines, "serving")
        port = int(serving_line["address"].rsplit(":", 1)[1])
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            resp = pb_grpc.FunctionServiceStub(ch).Evaluate(RELU, timeout=10)
            np.testing.assert_array_equal(from_tensor(resp.output), [0.0, 2.0])
            status = health_pb2_grpc.HealthStub(ch).Check(
                health_pb2.HealthCheckRequest(), timeout=10
            )
            assert status.status == health_pb2.HealthCheckResponse.SERVING
        assert _stop(proc, lines) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert [e["msg"] for e in lines if e["msg"] in ("draining", "stopped")] == [
        "draining",
        "stopped",
    ]


def test_workers_share_the_port():
    proc, lines = _launch("--workers", "2", "--grace", "5")
    try:
        (started,) = _read_until(proc, lines, "workers started")
        served = _read_until(proc, lines, "serving", count=2)
        assert len({e["pid"] for e in served}) == 2
        port = int(started["address"].rsplit(":", 1)[1])
        assert {e["address"] for e in served} == {f"127.0.0.1:{port}"}
        for _ in range(4):  # each channel is a new connection, spread by the kernel
            with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
                resp = pb_grpc.FunctionServiceStub(ch).Evaluate(RELU, timeout=10)
                assert resp.output.shape == [2]
        assert _stop(proc, lines) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert sum(1 for e in lines if e["msg"] == "stopped") == 2
    for pid in started["pids"]:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def _states_over(age: float) -> list[grpc.ChannelConnectivity]:
    """The channel's connectivity states around one call, a pause, and another call."""
    handle = start(Settings(host="127.0.0.1", port=0, max_connection_age=age, grace=1.0))
    states: list[grpc.ChannelConnectivity] = []
    try:
        with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
            stub = pb_grpc.FunctionServiceStub(channel)
            channel.subscribe(states.append)
            assert stub.ListFunctions(pb.ListFunctionsRequest(), timeout=5).functions
            time.sleep(1.0)
            assert stub.ListFunctions(pb.ListFunctionsRequest(), timeout=5).functions
            channel.unsubscribe(states.append)
    finally:
        handle.stop(grace=1.0)
    return states


def test_max_connection_age_closes_connections_and_clients_reconnect():
    """Past max_connection_age the server sends GOAWAY: the channel leaves READY (to
    re-resolve and reconnect) and the next call still succeeds. Without the setting
    the connection stays READY throughout."""
    aged = _states_over(0.3)
    ready = aged.index(grpc.ChannelConnectivity.READY)
    assert grpc.ChannelConnectivity.IDLE in aged[ready:], aged
    assert grpc.ChannelConnectivity.IDLE not in _states_over(0.0)[1:]


def test_connection_and_call_limits_are_settings():
    s = Settings.load(["--max-call-seconds", "2.5", "--max-connection-age", "60"], environ={})
    assert (s.max_call_seconds, s.max_connection_age) == (2.5, 60.0)
    with pytest.raises(ValueError, match="max_connection_age"):
        Settings(max_connection_age=-1)
