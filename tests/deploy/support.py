"""Helpers of the deployment tests: a Client that counts which replica answered, the
compose tool of this machine, a free loopback port."""

from __future__ import annotations

import collections
import shutil
import socket
import subprocess
import threading

import grpc

import nnfunc

REPLICA_KEY = "nnfunc-replica"


class _Recorder(grpc.UnaryUnaryClientInterceptor):
    """Reads ``nnfunc-replica: <host>:<pid>`` from each answer's trailing metadata."""

    def __init__(self) -> None:
        self.answers: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def intercept_unary_unary(self, continuation, client_call_details, request):
        call = continuation(client_call_details, request)
        if call.exception() is None:
            replica = dict(call.trailing_metadata() or ()).get(REPLICA_KEY, "?")
            with self._lock:
                self.answers[replica] += 1
        return call

    def take(self) -> collections.Counter[str]:
        """The answers counted so far, per replica; the count starts again."""
        with self._lock:
            answers, self.answers = self.answers, collections.Counter()
        return answers


class RecordingClient(nnfunc.Client):
    """nnfunc.Client whose ``answers()`` says how many calls each replica answered
    (the calls themselves go through the SDK unchanged)."""

    def _open_channel(self) -> grpc.Channel:
        self._recorder = _Recorder()
        return grpc.intercept_channel(super()._open_channel(), self._recorder)

    def answers(self) -> collections.Counter[str]:
        return self._recorder.take()


def compose_command() -> list[str] | None:
    """The command line prefix of Compose v2 (`docker compose`) or v1.29, or None."""
    docker = shutil.which("docker")
    if docker:
        v2 = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
        if v2.returncode == 0:
            return [docker, "compose"]
    v1 = shutil.which("docker-compose")
    return [v1] if v1 else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
