"""End to end in containers: build the images, run the replicas behind the nginx gRPC
balancer with docker-compose, call through 127.0.0.1, stop a replica, take it all down.

Needs a Docker engine and docker compose (v2) or docker-compose (v1.29). Without them
the tests skip, saying why; with NNFUNC_REQUIRE_DOCKER=1 (CI) they fail instead.
scripts/provision-docker.sh prepares a bare Debian machine (engine, compose, and a
base image built with debootstrap when python:3.11-slim cannot be pulled).

The base image: $BASE_IMAGE when set, else python:3.11-slim when present, else the
local localhost/pybase:bookworm when present, else python:3.11-slim (pulled). Wheels
come from deploy/wheelhouse, filled on the host first, so the build needs no index.
Images are kept afterwards (a second run builds from the cache); containers and the
network are removed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from nnfunc import loadtest, probe
from tests.deploy.support import RecordingClient, compose_command, free_port

ROOT = Path(__file__).resolve().parents[2]
REQUIRE_DOCKER = os.environ.get("NNFUNC_REQUIRE_DOCKER") == "1"
DEFAULT_BASE = "python:3.11-slim"
LOCAL_BASE = "localhost/pybase:bookworm"
REPLICAS = 3
CALLS = 60

# Building from a cold cache takes about a minute on two cores; the first test pays it.
pytestmark = pytest.mark.timeout(900)


def _run(*cmd: str, timeout: float = 600, check: bool = True, env=None):
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)
    if check and result.returncode != 0:
        out = (result.stdout + result.stderr)[-4000:]
        raise AssertionError(f"{' '.join(cmd)} exited {result.returncode}:\n{out}")
    return result


def _why_no_docker() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return "the docker command is not installed"
    info = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=60)
    if info.returncode != 0:
        return f"no Docker engine answers `docker info`: {info.stderr.strip()[-300:]}"
    if compose_command() is None:
        return "neither `docker compose` nor `docker-compose` is installed"
    return None


def _image_exists(name: str) -> bool:
    return _run("docker", "image", "inspect", name, check=False, timeout=60).returncode == 0


def _base_image() -> str:
    if os.environ.get("BASE_IMAGE"):
        return os.environ["BASE_IMAGE"]
    for name in (DEFAULT_BASE, LOCAL_BASE):
        if _image_exists(name):
            return name
    return DEFAULT_BASE


class Stack:
    """One compose project: its command line, its containers, its balancer's port."""

    def __init__(self, compose: list[str], base: str, port: int):
        self.project = f"nnfunc-e2e-{uuid.uuid4().hex[:8]}"
        self.port = port
        self.target = f"127.0.0.1:{port}"
        self.env = {
            **os.environ,
            "BASE_IMAGE": base,
            "NNFUNC_LB_PORT": str(port),
            "NNFUNC_REPLICAS": str(REPLICAS),
        }
        self.compose = [*compose, "-p", self.project, "-f", str(ROOT / "docker-compose.yml")]

    def __call__(self, *args: str, timeout: float = 600):
        return _run(*self.compose, *args, timeout=timeout, env=self.env)

    def containers(self, service: str, *, all_states: bool = False) -> list[str]:
        args = ["docker", "ps", "-q", "--no-trunc"] + (["-a"] if all_states else [])
        args += ["--filter", f"label=com.docker.compose.project={self.project}"]
        args += ["--filter", f"label=com.docker.compose.service={service}"]
        return _run(*args, timeout=60).stdout.split()

    def inspect(self, container: str) -> dict:
        return json.loads(_run("docker", "inspect", container, timeout=60).stdout)[0]


@pytest.fixture(scope="module")
def stack():
    reason = _why_no_docker()
    if reason:
        if REQUIRE_DOCKER:
            pytest.fail(f"{reason} (NNFUNC_REQUIRE_DOCKER=1: scripts/provision-docker.sh)")
        pytest.skip(reason)
    compose = compose_command()
    assert compose is not None
    _run(sys.executable, str(ROOT / "scripts" / "wheelhouse.py"))
    s = Stack(compose, _base_image(), free_port())
    try:
        s("build")
        s("up", "-d")
        _wait_until_serving(s.target)
        yield s
    finally:
        s("down", "--remove-orphans", "--volumes", "--timeout", "10")


def _wait_until_serving(target: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        serving, seen = probe.check(target, timeout=2.0)
        if serving:
            return
        time.sleep(0.5)
    raise AssertionError(f"the balancer at {target} never served: {seen}")


def _hostnames(s: Stack, containers: list[str]) -> set[str]:
    return {s.inspect(c)["Config"]["Hostname"] for c in containers}


def _call(client: RecordingClient, n: int) -> None:
    """n calls, every one checked against a closed form: relu(x) = max(x, 0)."""
    x = np.linspace(-4.0, 4.0, 9, dtype=np.float32)
    for _ in range(n):
        np.testing.assert_array_equal(client.evaluate("relu", x), np.maximum(x, 0))


def test_replicas_run_healthy_as_a_non_root_user(stack):
    replicas = stack.containers("nnfunc")
    assert len(replicas) == REPLICAS
    for c in replicas:
        info = stack.inspect(c)
        assert info["State"]["Health"]["Status"] == "healthy"  # nnfunc-health said SERVING
        assert info["Config"]["User"] == "10001:10001"
        assert info["HostConfig"]["Memory"] > 0 and info["HostConfig"]["NanoCpus"] > 0


def test_every_replica_answers_through_the_balancer(stack):
    with RecordingClient(stack.target, timeout=30.0) as client:
        _call(client, CALLS)
        # A 4 MiB request, larger than nginx's default body limit; σ(0) = 1/2,
        # σ(x) + σ(-x) = 1 (closed forms).
        x = np.linspace(-8.0, 8.0, 1 << 20, dtype=np.float32)
        y = client.evaluate("sigmoid", x)
        assert y.dtype == np.float32 and y.shape == x.shape
        np.testing.assert_allclose(y + y[::-1], 1.0, atol=1e-6)
        np.testing.assert_allclose(client.evaluate("sigmoid", np.float32(0)), 0.5)
        answers = client.answers()
    hosts = {r.rsplit(":", 1)[0] for r in answers}
    assert hosts == _hostnames(stack, stack.containers("nnfunc")), answers
    # nginx sends each call to the next replica: a near-even split.
    assert min(answers.values()) >= (CALLS + 2) // (2 * REPLICAS), answers
    print(f"\ncalls per replica through the balancer: {dict(answers)}")


def test_the_load_test_runs_through_the_balancer(stack, tmp_path, capsys):
    """`nnfunc loadtest` as an operator runs it against the deployment: a bounded mixed
    run whose counts add up, with a sample of answers checked against NumPy."""
    mix = tmp_path / "mix.json"
    mix.write_text(
        json.dumps(
            [
                {"function": "relu", "shape": "64", "weight": 3},
                {"rpc": "loss", "function": "cross_entropy", "shape": "32x10", "weight": 1},
            ]
        )
    )
    status = loadtest.main([
        "--target", stack.target, "--mix", str(mix), "--concurrency", "1,8",
        "--requests", "200", "--warmup", "0", "--connections", "2", "--verify", "0.1",
        "--fail-if", "errors>0", "--json", "--no-progress",
    ])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert status == 0 and report["passed"]
    assert [lv["concurrency"] for lv in report["levels"]] == [1, 8]
    for level in report["levels"]:
        assert level["count"] == level["ok"] == sum(level["workloads"].values()) == 200
        assert level["status"] == {"OK": 200} and level["errors"] == 0
        assert level["verify"] == {"checked": 20, "mismatches": 0}
        assert sum(h["count"] for h in level["histogram"]) == 200
    rates = [round(lv["throughput"]["calls_per_s"]) for lv in report["levels"]]
    print(f"\nloadtest through the balancer, calls/s at 1 and 8 in flight: {rates}")


def test_calls_keep_succeeding_with_one_replica_stopped(stack):
    victim, *rest = stack.containers("nnfunc")
    stopped = time.monotonic()
    _run("docker", "stop", victim, timeout=60)
    print(f"\ndocker stop took {time.monotonic() - stopped:.2f} s")
    state = stack.inspect(victim)["State"]
    # SIGTERM reached the server, which drained and exited by itself (not SIGKILL's 137).
    assert (state["Running"], state["ExitCode"]) == (False, 0), state
    with RecordingClient(stack.target, timeout=30.0) as client:
        _call(client, CALLS)
        answers = client.answers()
    assert sum(answers.values()) == CALLS
    hosts = {r.rsplit(":", 1)[0] for r in answers}
    assert hosts == _hostnames(stack, rest), answers
    print(f"calls per replica with one stopped: {dict(answers)}")


def test_down_removes_every_container(stack):
    stack("down", "--remove-orphans", "--volumes", "--timeout", "10")
    for service in ("nnfunc", "lb"):
        assert stack.containers(service, all_states=True) == []
