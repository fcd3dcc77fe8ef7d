"""Limits and admission control through the raw stubs: the limits a server reports,
RESOURCE_EXHAUSTED beyond the concurrency limit (running + queued calls), deadlines and
max_call_seconds honoured (the work stops: between stages, Batch items, blocks and the
checker's forward calls), the stages reported to the metrics, and `order` on the wire.
"""

from __future__ import annotations

import contextlib
import threading
import time

import grpc
import numpy as np
import pytest

from nnfunc import catalog
from nnfunc._calls import check_gradient as check_request
from nnfunc.catalog.registry import deadline_scope
from nnfunc.codec import to_tensor
from nnfunc.errors import DeadlineExceededError, InvalidArgumentError
from nnfunc.server import Settings, start
from nnfunc.server import servicer as servicer_module
from nnfunc.server import settings as settings_module
from nnfunc.v1 import function_service_pb2 as pb
from nnfunc.v1 import function_service_pb2_grpc as pb_grpc

RELU = pb.EvaluateRequest(function="relu", inputs=[to_tensor(np.array([-1.0, 2.0]))])


@contextlib.contextmanager
def serving(**settings):
    handle = start(Settings(**{"host": "127.0.0.1", "port": 0, "log_level": "ERROR", **settings}))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as ch:
            yield handle, pb_grpc.FunctionServiceStub(ch)
    finally:
        handle.stop(grace=0)


class Gate:
    """Holds every Evaluate at the server until released; counts the calls that entered."""

    def __init__(self, handle, hold: float = 20.0):
        self.service = handle._servicer.service
        self.real = self.service.evaluate
        self.entered = threading.Semaphore(0)
        self.count = 0
        self.release = threading.Event()
        self.hold = hold
        self.service.evaluate = self._blocked

    def _blocked(self, request):
        self.count += 1
        self.entered.release()
        self.release.wait(self.hold)
        return self.real(request)

    def wait_entered(self, n: int = 1) -> None:
        for _ in range(n):
            assert self.entered.acquire(timeout=10), "the call never reached the server"


def in_flight_drops_to_zero(handle, within: float) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if handle._servicer._in_flight == 0:
            return True
        time.sleep(0.01)
    return False


# -- the limits, reported ---------------------------------------------------------------


def test_get_server_info_reports_the_settings():
    custom = dict(
        max_message_bytes=3 << 20, max_elements=12345, max_concurrent_rpcs=7, max_call_seconds=42.5
    )
    with serving(**custom) as (_h, stub):
        info = stub.GetServerInfo(pb.GetServerInfoRequest(), timeout=10)
        limits = info.limits
        assert limits.max_message_bytes == 3 << 20
        assert limits.max_elements == 12345
        assert limits.max_concurrent_rpcs == 7
        assert limits.max_call_seconds == 42.5
        # The checker's cap never exceeds the tensor limit; names have a cap too.
        assert limits.max_check_elements == 12345
        assert limits.max_name_length == servicer_module.MAX_NAME_LENGTH
        assert info.function_count == len(catalog.names())
        described = stub.DescribeFunction(pb.DescribeFunctionRequest(name="relu"), timeout=10)
        assert described.limits == limits


def test_default_limits_on_the_shared_server(stub):
    limits = stub.GetServerInfo(pb.GetServerInfoRequest(), timeout=10).limits
    d = Settings()
    assert (limits.max_elements, limits.max_message_bytes) == (d.max_elements, d.max_message_bytes)
    assert limits.max_check_elements == servicer_module.MAX_CHECK_ELEMENTS
    assert limits.max_call_seconds == d.max_call_seconds == 300.0


def test_check_gradient_beyond_its_element_cap_is_resource_exhausted(stub):
    cap = servicer_module.MAX_CHECK_ELEMENTS
    x = to_tensor(np.zeros(cap + 1, np.float32))
    with pytest.raises(grpc.RpcError) as info:
        stub.CheckGradient(pb.CheckGradientRequest(function="relu", inputs=[x]), timeout=30)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert str(cap) in info.value.details() and "inputs" in info.value.details()


# -- admission control -------------------------------------------------------------------


def test_concurrency_limit_counts_running_and_queued_calls():
    # One thread and room for three: one call runs, two wait in the executor's queue,
    # the fourth is refused at once by gRPC (maximum_concurrent_rpcs).
    with serving(max_concurrent_rpcs=3, threads=1, health=False) as (handle, stub):
        gate = Gate(handle)
        calls = [stub.Evaluate.future(RELU, timeout=30) for _ in range(3)]
        gate.wait_entered(1)
        time.sleep(0.2)  # the other two reach the server and queue
        assert gate.count == 1  # the queue is real: one thread, one running call
        start_t = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            stub.Evaluate(RELU, timeout=10)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert time.monotonic() - start_t < 2  # refused, not queued
        gate.release.set()
        for c in calls:  # every admitted call, queued ones included, is served
            assert list(c.result(10).output.shape) == [2]
        assert gate.count == 3
        assert list(stub.Evaluate(RELU, timeout=10).output.shape) == [2]


def test_health_checks_answer_while_every_compute_thread_is_busy():
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with serving(threads=2) as (handle, stub):
        assert handle.settings.thread_count == 2
        gate = Gate(handle)
        calls = [stub.Evaluate.future(RELU, timeout=30) for _ in range(3)]
        gate.wait_entered(2)
        time.sleep(0.2)
        assert gate.count == 2  # both compute threads held, the third call queued
        with grpc.insecure_channel(handle.address) as ch:
            health = health_pb2_grpc.HealthStub(ch)
            answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        gate.release.set()
        for c in calls:
            assert list(c.result(10).output.shape) == [2]


def test_the_default_compute_threads_follow_the_cores(tmp_path):
    cores = settings_module.usable_cores()
    assert Settings().thread_count == min(64, cores + 2)
    # a container's CPU limit (cgroup v2 cpu.max: quota and period) caps the cores
    for text, expected in (("50000 100000", 1), ("150000 100000", 2), ("max 100000", None)):
        (tmp_path / "cpu.max").write_text(text + "\n")
        found = settings_module.usable_cores(str(tmp_path))
        assert found == (cores if expected is None else min(cores, expected)), text
    assert Settings(max_concurrent_rpcs=2).thread_count == 2
    assert Settings(threads=7).thread_count == 7


# -- deadlines -----------------------------------------------------------------------------


def slow_check_request() -> pb.CheckGradientRequest:
    """A CheckGradient of ~20000 elements one at a time (weighted cross-entropy's mean is
    differenced as called): about 3 s of work on an idle core."""
    rng = np.random.default_rng(0)
    req = pb.CheckGradientRequest(
        function="cross_entropy",
        inputs=[to_tensor(rng.normal(size=(2000, 10))), to_tensor(rng.integers(0, 10, 2000))],
        mode=pb.CHECK_MODE_FULL,
    )
    req.parameters["weight"].tensor_value.CopyFrom(to_tensor(rng.uniform(0.5, 1.0, 10)))
    return req


def test_a_long_check_stops_at_the_callers_deadline():
    with serving() as (handle, stub):
        start_t = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            stub.CheckGradient(slow_check_request(), timeout=0.5)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        # The server stopped computing too: nothing is left in flight soon after.
        assert in_flight_drops_to_zero(handle, within=2.0)
        assert time.monotonic() - start_t < 3


def test_max_call_seconds_caps_calls_without_a_deadline():
    with serving(max_call_seconds=0.3) as (handle, stub):
        start_t = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            stub.CheckGradient(slow_check_request(), timeout=30)  # a later deadline
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "deadline" in info.value.details()
        assert time.monotonic() - start_t < 2.5
        with pytest.raises(grpc.RpcError) as info:
            stub.CheckGradient(slow_check_request())  # no deadline at all
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert in_flight_drops_to_zero(handle, within=2.0)
        assert list(stub.Evaluate(RELU).output.shape) == [2]  # quick calls still pass


def test_batch_stops_between_items_at_the_deadline():
    with serving() as (handle, stub):
        gate = Gate(handle, hold=0.1)  # each Evaluate item takes 0.1 s
        batch = pb.BatchRequest(items=[pb.BatchItem(evaluate=RELU) for _ in range(40)])
        with pytest.raises(grpc.RpcError) as info:
            stub.Batch(batch, timeout=0.5)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert in_flight_drops_to_zero(handle, within=2.0)
        assert gate.count < 12  # ~5 items fit in 0.5 s; the other ~35 were never started


def test_deadline_scope_stops_blocked_work_and_the_checker():
    past = time.monotonic() - 1.0
    x = np.zeros(1 << 21, np.float32)  # large enough for the blocked, threaded path
    with deadline_scope(past), pytest.raises(DeadlineExceededError):
        catalog.evaluate("sigmoid", x)
    with deadline_scope(past), pytest.raises(DeadlineExceededError):
        catalog.value_and_grad("sigmoid", x)
    with pytest.raises(DeadlineExceededError):
        catalog.check_gradient("sigmoid", np.array([0.5]), deadline=past)
    # A later deadline changes nothing.
    with deadline_scope(time.monotonic() + 60):
        assert catalog.evaluate("sigmoid", x)[0] == 0.5
    assert catalog.check_gradient("sigmoid", np.array([0.5]), deadline=time.monotonic() + 60).passed


def test_only_calls_large_enough_to_reach_a_deadline_check_get_a_scope(stub, monkeypatch):
    scopes: list[float | None] = []

    def recording(at):
        scopes.append(at)
        return deadline_scope(at)

    monkeypatch.setattr(servicer_module, "deadline_scope", recording)
    small = np.ones(servicer_module.SCOPE_MIN_ELEMENTS - 1, np.float32)
    stub.Evaluate(pb.EvaluateRequest(function="relu", inputs=[to_tensor(small)]), timeout=10)
    assert scopes == []  # too short to check a deadline: no scope
    large = np.ones(servicer_module.SCOPE_MIN_ELEMENTS, np.float32)
    start_t = time.monotonic()
    for rpc, request in (
        (stub.Evaluate, pb.EvaluateRequest(function="relu", inputs=[to_tensor(large)])),
        (stub.Gradient, pb.GradientRequest(function="relu", inputs=[to_tensor(large)])),
        (stub.Loss, pb.LossRequest(function="mse_loss", inputs=[to_tensor(large)] * 2)),
    ):
        rpc(request, timeout=10)
    assert len(scopes) == 3  # each with the call's own deadline (gRPC rounds it up a little)
    assert all(at is not None and start_t < at < time.monotonic() + 11 for at in scopes)


# -- stages --------------------------------------------------------------------------------


def test_every_call_reports_its_stages(stub, monkeypatch):
    seen: list[tuple[str, float]] = []
    monkeypatch.setattr(servicer_module, "record_stage", lambda s, t: seen.append((s, t)))
    stub.Evaluate(RELU, timeout=10)
    assert [s for s, _ in seen] == ["decode", "compute", "encode"]
    assert all(t >= 0 for _, t in seen)
    seen.clear()
    stub.Loss(
        pb.LossRequest(function="mse_loss", inputs=[to_tensor(np.ones(3)), to_tensor(np.zeros(3))]),
        timeout=10,
    )
    assert [s for s, _ in seen] == ["decode", "compute", "encode"]
    seen.clear()
    stub.Batch(pb.BatchRequest(items=[pb.BatchItem(evaluate=RELU)] * 2), timeout=10)
    assert [s for s, _ in seen] == ["decode", "compute", "encode"] * 2


# -- order on the wire ---------------------------------------------------------------------


def test_max_order_on_the_wire_matches_the_catalog(stub):
    listed = stub.ListFunctions(pb.ListFunctionsRequest(), timeout=10).functions
    orders = {f.name: f.max_order for f in listed}
    assert orders == {n: catalog.lookup(n).max_order for n in catalog.names()}
    assert set(orders.values()) == {1, 2}
    # sigmoid has a second-order VJP (σ'' = σ'(1 - 2σ)); relu's is piecewise zero.
    assert orders["sigmoid"] == 2


def test_check_gradient_order_2_through_the_wire(stub):
    x = to_tensor(np.array([-1.5, 0.25, 2.0]))
    req = pb.CheckGradientRequest(function="sigmoid", inputs=[x], order=2)
    resp = stub.CheckGradient(req, timeout=30)
    assert resp.order == 2 and resp.passed
    # The function checked is the VJP h(g, x): one check for g, one for x.
    assert [c.input for c in resp.inputs] == ["grad_output", "input"]
    unset = stub.CheckGradient(pb.CheckGradientRequest(function="sigmoid", inputs=[x]), timeout=30)
    assert unset.order == 1 and [c.input for c in unset.inputs] == ["input"]


@pytest.mark.parametrize(
    "change, field",
    [
        (dict(order=3), "order"),
        (dict(order=-1), "order"),
        (dict(order=2, function="first-order only"), "order"),
        (dict(order=2, gradients=[to_tensor(np.ones(3))]), "order"),
    ],
)
def test_check_gradient_order_refusals(stub, change, field):
    if change.get("function") == "first-order only":
        change["function"] = next(n for n in catalog.names() if catalog.lookup(n).max_order == 1)
    req = pb.CheckGradientRequest(function="sigmoid", inputs=[to_tensor(np.array([0.1, 0.2, 0.3]))])
    for k, v in change.items():
        if k == "gradients":
            req.gradients.extend(v)
        else:
            setattr(req, k, v)
    with pytest.raises(grpc.RpcError) as info:
        stub.CheckGradient(req, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith(f"{field}:")


def test_the_sdk_request_carries_order():
    assert check_request("sigmoid", [np.zeros(2)], {}).message.order == 1
    assert check_request("sigmoid", [np.zeros(2)], {}, order=2).message.order == 2
    for bad in (0, 3, True, "2"):
        with pytest.raises(InvalidArgumentError) as info:
            check_request("sigmoid", [np.zeros(2)], {}, order=bad)
        assert info.value.field == "order"
