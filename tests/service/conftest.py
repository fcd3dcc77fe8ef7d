"""A real server, in-process on an ephemeral port, shared by the service tests."""

from __future__ import annotations

import grpc
import pytest

from nnfunc.v1 import function_service_pb2_grpc


@pytest.fixture(scope="session")
def server():
    from nnfunc.server import Settings, start

    handle = start(Settings(host="127.0.0.1", port=0, log_level="WARNING"))
    yield handle
    handle.stop(grace=1.0)


@pytest.fixture(scope="session")
def address(server) -> str:
    return f"127.0.0.1:{server.port}"


@pytest.fixture
def channel(address):
    with grpc.insecure_channel(address) as ch:
        yield ch


@pytest.fixture
def stub(channel):
    return function_service_pb2_grpc.FunctionServiceStub(channel)
