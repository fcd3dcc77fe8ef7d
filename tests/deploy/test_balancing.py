"""Client-side scale-out: nnfunc.Client over several replicas balances round robin and
keeps working when one replica stops (gRPC retries UNAVAILABLE on another).

Two real servers run in this process on ephemeral ports. Their replica identity
(``host:pid``) would be the same, so each is started with a different host name.
"""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

from tests.deploy.support import RecordingClient

CALLS = 40


def _start(name: str, monkeypatch):
    from nnfunc.server import Settings, start

    with monkeypatch.context() as m:  # the servicer reads the host name when built
        m.setattr(socket, "gethostname", lambda: name)
        return start(Settings(host="127.0.0.1", port=0, log_level="WARNING"))


@pytest.fixture
def replicas(monkeypatch):
    handles = {name: _start(name, monkeypatch) for name in ("replica-a", "replica-b")}
    yield handles
    for handle in handles.values():
        handle.stop(grace=0.5)


def _names(answers) -> set[str]:
    return {replica.rsplit(":", 1)[0] for replica in answers}


def test_calls_spread_over_every_replica_and_survive_one_stopped(replicas):
    targets = [h.address for h in replicas.values()]
    x = np.array([-2.0, 0.0, 3.0], dtype=np.float32)
    with RecordingClient(targets, timeout=10.0) as client:
        for _ in range(CALLS):
            np.testing.assert_array_equal(client.evaluate("relu", x), [0.0, 0.0, 3.0])
        spread = client.answers()
        assert _names(spread) == {"replica-a", "replica-b"}, spread
        assert sum(spread.values()) == CALLS
        # Round robin over two ready replicas: an even split once both are connected.
        assert min(spread.values()) >= CALLS // 4, spread

        replicas["replica-b"].stop(grace=0.5)
        for _ in range(CALLS):
            np.testing.assert_array_equal(client.evaluate("relu", x), [0.0, 0.0, 3.0])
        after = client.answers()
        assert _names(after) == {"replica-a"}, after
        assert sum(after.values()) == CALLS


def test_no_call_fails_while_a_replica_drains_under_load(replicas):
    """Four callers keep calling while one replica stops: the drain refuses new calls
    with UNAVAILABLE, which the client's retry policy sends to the other replica."""
    targets = [h.address for h in replicas.values()]
    x = np.linspace(-1.0, 1.0, 1024)
    expected = np.maximum(x, 0.0)
    done = threading.Event()
    failures: list[BaseException] = []
    counts = [0] * 4

    def caller(k: int, client: RecordingClient) -> None:
        while not done.is_set():
            try:
                np.testing.assert_array_equal(client.evaluate("relu", x), expected)
            except BaseException as exc:  # collected, reported below
                failures.append(exc)
                return
            counts[k] += 1

    with RecordingClient(targets, timeout=10.0) as client:
        threads = [threading.Thread(target=caller, args=(k, client)) for k in range(4)]
        for t in threads:
            t.start()
        _wait_for(lambda: sum(counts) >= 100 or bool(failures))
        replicas["replica-b"].stop(grace=2.0)
        stopped_at = sum(counts)
        _wait_for(lambda: sum(counts) >= stopped_at + 100 or bool(failures))
        done.set()
        for t in threads:
            t.join(30)
        answers = client.answers()
    assert not failures, failures[:3]
    assert _names(answers) == {"replica-a", "replica-b"}
    assert sum(answers.values()) == sum(counts)


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.01)
