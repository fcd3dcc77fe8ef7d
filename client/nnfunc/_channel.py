"""Channel settings shared by Client and AsyncClient: target, service config, credentials.

Every method of the service is a pure function of its request, so every call may be
retried: gRPC's own retry policy (in the service config) retries UNAVAILABLE with
exponential backoff, within the call's deadline. (gRPC buffers a request for its
retries up to ``grpc.per_rpc_retry_buffer_size``, 256 KiB by default: a larger request
is sent once; raise that channel option to retry big tensors too.)
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Sequence
from typing import Any

import grpc

SERVICE = "nnfunc.v1.FunctionService"
DEFAULT_TARGET = "localhost:50051"
#: gRPC refuses a retry policy with more than 5 attempts
MAX_RETRIES = 4

Target = str | Sequence[str]


def service_config(retries: int, load_balancing: str | None) -> str:
    """The JSON service config: a retry policy for UNAVAILABLE and the balancing policy.

    With round_robin, gRPC also watches each replica's health (grpc.health.v1 Watch,
    client-side health checking) and sends nothing to one that says NOT_SERVING: a
    replica draining for shutdown is left before it refuses anything. A server without
    the health service is taken as healthy.
    """
    config: dict[str, Any] = {}
    if retries > 0:
        config["methodConfig"] = [
            {
                "name": [{"service": SERVICE}],
                "retryPolicy": {
                    "maxAttempts": retries + 1,
                    "initialBackoff": "0.1s",
                    "maxBackoff": "2s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    if load_balancing:
        config["loadBalancingConfig"] = [{load_balancing: {}}]
    if load_balancing == "round_robin":
        config["healthCheckConfig"] = {"serviceName": SERVICE}
    return json.dumps(config)


def _split(address: str) -> tuple[str, str]:
    """("host", "port") of "host:port" or "[v6]:port"."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"target {address!r}: expected host:port")
    return host.strip("[]"), port


def _addresses(address: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    host, port = _split(address)
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
    found = []
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if ip not in found:
            found.append(ip)
    return found


def static_target(targets: Sequence[str]) -> str:
    """Several "host:port" targets as one gRPC target of the static "ipv4:"/"ipv6:" kind.

    Names are resolved once, here. IPv4 addresses are used when there are any (a name
    like "localhost" resolves to both families); a list with IPv6 addresses only
    becomes an "ipv6:" target.
    """
    v4: list[str] = []
    v6: list[str] = []
    for address in targets:
        _, port = _split(address)
        for ip in _addresses(address):
            (v4 if ip.version == 4 else v6).append(
                f"{ip}:{port}" if ip.version == 4 else f"[{ip}]:{port}"
            )
    if v4:
        return "ipv4:" + ",".join(v4)
    return "ipv6:" + ",".join(v6)


def configure(
    target: Target,
    *,
    retries: int,
    load_balancing: str | None,
    max_message_bytes: int,
    options: Sequence[tuple[str, Any]] = (),
) -> tuple[str, list[tuple[str, Any]]]:
    """(gRPC target, channel options) for a target or a list of targets.

    A list, or a "dns:" target, balances calls round robin unless ``load_balancing``
    says otherwise. ``options`` (raw gRPC channel arguments) override ours.
    """
    if not 0 <= retries <= MAX_RETRIES:
        raise ValueError(f"retries: expected 0 to {MAX_RETRIES}, got {retries}")
    authority = None
    if isinstance(target, str):
        resolved = target
        several = target.startswith("dns:") or (
            target.startswith(("ipv4:", "ipv6:")) and "," in target
        )
    else:
        targets = list(target)
        if not targets:
            raise ValueError("target: expected at least one host:port")
        several = len(targets) > 1
        resolved = static_target(targets) if several else targets[0]
        if several:  # TLS checks the name the caller wrote, not the resolved address
            authority = targets[0]
    policy = load_balancing if load_balancing is not None else ("round_robin" if several else None)
    merged: dict[str, Any] = {
        "grpc.service_config": service_config(retries, policy),
        "grpc.enable_retries": 1 if retries > 0 else 0,
        "grpc.max_send_message_length": max_message_bytes,
        "grpc.max_receive_message_length": max_message_bytes,
    }
    if authority is not None:
        merged["grpc.default_authority"] = authority
    merged.update(dict(options))
    return resolved, list(merged.items())


def _pem(value: bytes | str | None) -> bytes | None:
    """PEM bytes as given, or read from a file path."""
    if value is None or isinstance(value, bytes):
        return value
    with open(value, "rb") as f:
        return f.read()


def channel_credentials(
    credentials: grpc.ChannelCredentials | None,
    root_certificates: bytes | str | None,
    certificate_chain: bytes | str | None = None,
    private_key: bytes | str | None = None,
    token: str | None = None,
) -> grpc.ChannelCredentials | None:
    """TLS credentials: given ones, or ones trusting ``root_certificates`` (PEM bytes, or
    the path of a PEM file; the system's roots when only a client certificate is given)
    and presenting ``certificate_chain``/``private_key`` (mutual TLS). ``token`` rides
    on them as call credentials (``authorization: Bearer <token>`` on every call).
    None for a plaintext channel."""
    if credentials is not None and root_certificates is not None:
        raise ValueError("give credentials or root_certificates, not both")
    if (certificate_chain is None) != (private_key is None):
        raise ValueError("certificate_chain and private_key go together (mutual TLS)")
    if credentials is not None and certificate_chain is not None:
        raise ValueError("give credentials or certificate_chain/private_key, not both")
    if root_certificates is not None or certificate_chain is not None:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=_pem(root_certificates),
            private_key=_pem(private_key),
            certificate_chain=_pem(certificate_chain),
        )
    if credentials is not None and token is not None:
        credentials = grpc.composite_channel_credentials(
            credentials, grpc.access_token_call_credentials(token)
        )
    return credentials


def token_metadata(token: str | None, secure: bool) -> tuple[tuple[str, str], ...]:
    """The bearer token as call metadata, for a plaintext channel (gRPC sends call
    credentials over TLS only). On a TLS channel the credentials carry it."""
    if token is None or secure:
        return ()
    if not token or any(c.isspace() for c in token):
        raise ValueError("token: expected a non-empty bearer token without spaces")
    return (("authorization", f"Bearer {token}"),)
