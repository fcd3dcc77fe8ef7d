"""The floor: a grpcio server that only moves bytes, with nnfunc's server settings.

    python bench/echo_server.py [--port 0]     # prints the port, serves until killed

Three methods, all bytes in and bytes out with no protobuf at all:
``/bench.Echo/Echo`` answers the request itself; ``/bench.Echo/EchoMetadata`` does too,
with trailing metadata as nnfunc's servicer adds (its ``nnfunc-replica`` identity);
``/bench.Echo/Reply`` reads a little-endian uint64 M from the request's first 8 bytes
and answers M bytes (a cached buffer, so the answer costs gRPC's own work only). Same
request threads, admission limit, message limits and, when started by bench/service.py, the
same allocator environment as ``nnfunc serve``: whatever nnfunc adds on top of this is
nnfunc's cost.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor

import grpc

MAX_MESSAGE = 1 << 30
_replies: dict[int, bytes] = {}


def echo(request: bytes, context) -> bytes:
    return request


_REPLICA = (("nnfunc-replica", "echo:0"),)


def echo_metadata(request: bytes, context) -> bytes:
    context.set_trailing_metadata(_REPLICA)
    return request


def reply(request: bytes, context) -> bytes:
    size = int.from_bytes(request[:8], "little")
    answer = _replies.get(size)
    if answer is None:
        answer = _replies.setdefault(size, bytes(size))
    return answer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--max-concurrent-rpcs", type=int, default=64)
    args = parser.parse_args()
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo",
        {
            "Echo": grpc.unary_unary_rpc_method_handler(echo),
            "EchoMetadata": grpc.unary_unary_rpc_method_handler(echo_metadata),
            "Reply": grpc.unary_unary_rpc_method_handler(reply),
        },
    )
    server = grpc.server(
        ThreadPoolExecutor(args.threads),
        options=[
            ("grpc.max_send_message_length", MAX_MESSAGE),
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.so_reuseport", 0),
        ],
        maximum_concurrent_rpcs=args.max_concurrent_rpcs,
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    print(port, flush=True)
    server.wait_for_termination()
    return 0


if __name__ == "__main__":
    sys.exit(main())
