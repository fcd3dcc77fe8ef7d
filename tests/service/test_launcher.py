"""``nnfunc serve`` tunes glibc's allocator before serving (server/nnfunc/server/app.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nnfunc.server import Settings
from nnfunc.server.app import ALLOCATOR_ENV, _glibc, allocator_environment

ROOT = Path(__file__).resolve().parents[2]
glibc_only = pytest.mark.skipif(not _glibc(), reason="the tuning is glibc's")


def test_the_setting_reads_its_flag_and_its_variable():
    assert Settings().malloc_tuning is True
    assert Settings.load(["--no-malloc-tuning"], environ={}).malloc_tuning is False
    assert Settings.load([], environ={"NNFUNC_MALLOC_TUNING": "false"}).malloc_tuning is False


@glibc_only
def test_the_environment_adds_only_what_the_caller_did_not_set():
    env = allocator_environment({"PATH": "/bin", "MALLOC_ARENA_MAX": "4"})
    assert env is not None
    assert env["MALLOC_ARENA_MAX"] == "4"  # the caller's value wins
    assert env["MALLOC_MMAP_THRESHOLD_"] == ALLOCATOR_ENV["MALLOC_MMAP_THRESHOLD_"]
    assert env["MALLOC_TRIM_THRESHOLD_"] == ALLOCATOR_ENV["MALLOC_TRIM_THRESHOLD_"]
    assert env["NNFUNC_MALLOC_TUNED"] == "1" and env["PATH"] == "/bin"
    import nnfunc

    roots = env["PYTHONPATH"].split(os.pathsep)
    assert all(os.path.dirname(p) in roots for p in nnfunc.__path__)
    assert allocator_environment({**env}) is None  # never twice
    assert allocator_environment(dict(ALLOCATOR_ENV)) is None  # nothing to add


def _serving_entry(*flags: str) -> tuple[int, dict, dict[str, str]]:
    """Start ``python -m nnfunc.server``, return (pid, its 'serving' log entry, the
    environment of the process that serves), then stop it."""
    env = dict(os.environ)
    for k in (*ALLOCATOR_ENV, "NNFUNC_MALLOC_TUNED"):
        env.pop(k, None)
    env["PYTHONPATH"] = os.pathsep.join(str(ROOT / d) for d in ("client", "server", "proto"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "nnfunc.server", "--host", "127.0.0.1", "--port", "0", *flags],
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            entry = json.loads(line)
            if entry["msg"] == "serving":
                environ = Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")
                found = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
                return proc.pid, entry, found
        pytest.fail(f"the server exited ({proc.wait()}) without serving")
    finally:
        proc.terminate()
        proc.wait(10)


@glibc_only
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_serve_reexecutes_itself_with_the_tuned_allocator():
    pid, entry, environ = _serving_entry()
    assert entry["pid"] == pid  # the same process, re-executed
    for k, v in ALLOCATOR_ENV.items():
        assert environ[k] == v
    assert entry["allocator"] == ALLOCATOR_ENV


@glibc_only
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_no_malloc_tuning_leaves_the_allocator_alone():
    _, entry, environ = _serving_entry("--no-malloc-tuning")
    assert not set(ALLOCATOR_ENV) & set(environ)
    assert entry["allocator"] == "glibc defaults"
