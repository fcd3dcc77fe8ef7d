"""nnfunc-health, the image's HEALTHCHECK: exit 0 only when Health/Check says SERVING."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from nnfunc import probe
from tests.deploy.support import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server():
    from nnfunc.server import Settings, start

    handle = start(Settings(host="127.0.0.1", port=0, log_level="WARNING"))
    yield handle
    handle.stop(grace=0.5)


def test_serving_server_is_healthy(server, capsys):
    assert probe.main(["--target", server.address]) == 0
    assert "SERVING" in capsys.readouterr().out


def test_the_function_service_itself_can_be_asked_for(server, capsys):
    args = ["--target", server.address, "--service", "nnfunc.v1.FunctionService"]
    assert probe.main(args) == 0
    assert "nnfunc.v1.FunctionService: SERVING" in capsys.readouterr().out


def test_unknown_service_is_unhealthy(server, capsys):
    assert probe.main(["--target", server.address, "--service", "no.such.Service"]) == 1
    assert "NOT_FOUND" in capsys.readouterr().out


def test_nothing_listening_is_unhealthy(capsys):
    assert probe.main(["--target", f"127.0.0.1:{free_port()}", "--timeout", "1"]) == 1
    assert "UNAVAILABLE" in capsys.readouterr().out


def test_a_draining_server_is_unhealthy():
    """Health goes NOT_SERVING first thing in a drain; a stopped server does not answer."""
    from nnfunc.server import Settings, start

    handle = start(Settings(host="127.0.0.1", port=0, log_level="WARNING"))
    assert probe.check(handle.address) == (True, "SERVING")
    handle.stop(grace=0.5)
    serving, seen = probe.check(handle.address, timeout=1.0)
    assert not serving and seen.startswith("UNAVAILABLE"), seen


def test_default_target_is_the_servers_own_port():
    assert probe.default_target({"NNFUNC_PORT": "6000"}) == "127.0.0.1:6000"
    assert probe.default_target({}) == "127.0.0.1:50051"


def test_installed_as_the_nnfunc_health_console_script():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["nnfunc-health"] == "nnfunc.probe:main"
