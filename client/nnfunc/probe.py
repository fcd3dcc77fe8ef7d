"""``nnfunc-health``: ask a server's grpc.health.v1.Health/Check; exit 0 when SERVING.

    nnfunc-health                                  # 127.0.0.1:$NNFUNC_PORT (or :50051)
    nnfunc-health --target 10.0.0.7:50051 --service nnfunc.v1.FunctionService

A container's HEALTHCHECK (and any probe that runs a command) needs no extra binary:
the image already has grpcio. The exit status follows Docker's convention: 0 healthy,
1 unhealthy (NOT_SERVING, SERVICE_UNKNOWN, no answer within ``--timeout``, refused).
One line on stdout says which, so ``docker inspect`` shows why a replica is unhealthy.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

HEALTHY, UNHEALTHY = 0, 1


def default_target(environ: Mapping[str, str] | None = None) -> str:
    """The server next to this probe: loopback, on the port the server reads
    (NNFUNC_PORT, as in the container's environment), 50051 by default."""
    environ = os.environ if environ is None else environ
    return f"127.0.0.1:{environ.get('NNFUNC_PORT') or 50051}"


def check(target: str, service: str = "", timeout: float = 2.0) -> tuple[bool, str]:
    """(serving, what was seen) for one Health/Check call."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    request = health_pb2.HealthCheckRequest(service=service)
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(request, timeout=timeout, wait_for_ready=False)
        except grpc.RpcError as exc:
            code = exc.code()
            return False, f"{code.name if code else 'UNKNOWN'}: {exc.details()}"
    name = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    return response.status == health_pb2.HealthCheckResponse.SERVING, name


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="nnfunc-health",
        description="Exit 0 when the server answers grpc.health.v1.Health/Check with "
        "SERVING, 1 otherwise.",
    )
    p.add_argument(
        "--target",
        default=None,
        help="host:port of the server (default 127.0.0.1:$NNFUNC_PORT, or :50051)",
    )
    p.add_argument(
        "--service",
        default="",
        help='the service to ask about ("" is the whole server; or nnfunc.v1.FunctionService)',
    )
    p.add_argument("--timeout", type=float, default=2.0, help="seconds to wait (default 2)")
    args = p.parse_args(argv)
    target = args.target or default_target()
    serving, seen = check(target, args.service, args.timeout)
    print(f"{target} {args.service or '(server)'}: {seen}")
    return HEALTHY if serving else UNHEALTHY


if __name__ == "__main__":
    sys.exit(main())
