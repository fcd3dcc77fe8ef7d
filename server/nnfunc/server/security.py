"""Transport security and bearer tokens: the server's TLS credentials and its one
authentication interceptor.

TLS (``--tls-cert``/``--tls-key``) encrypts the port; with ``--tls-client-ca`` every
client must also present a certificate signed by one of those CAs (mutual TLS: a client
without one fails the handshake, before any call).

Bearer tokens (``--auth-tokens-file``, one per line, and/or ``NNFUNC_AUTH_TOKENS``,
comma-separated) make every call carry ``authorization: Bearer <token>``. The rule:

- no ``authorization`` metadata, or one that is not ``Bearer <token>`` with a token of
  RFC 6750's b64token characters (``A-Z a-z 0-9 - . _ ~ + /``, then ``=`` padding):
  UNAUTHENTICATED (the caller did not authenticate);
- a well-formed token that is not one of the accepted ones: PERMISSION_DENIED (the
  caller presented credentials, and they grant nothing here);
- an accepted token: the call proceeds.

The token is compared with every accepted one by ``hmac.compare_digest`` (constant time
for equal lengths), and every comparison is made, so the time of a refusal says neither
which token nor how much of it matched. Messages never echo the token.

Open without a token: ``grpc.health.v1.Health`` (probes of orchestrators and balancers
carry no credentials). Reflection is NOT open: it describes the whole API, which a
caller without a token has no use for; tools such as grpcurl pass the token with
``-H 'authorization: Bearer ...'``.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Iterable

import grpc

from nnfunc.server.settings import Settings

#: Methods served without a token (prefixes of the full method name).
OPEN_PREFIXES = ("/grpc.health.v1.Health/",)

_BEARER = re.compile(r"(?i:Bearer) +([A-Za-z0-9\-._~+/]+=*)")


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS (or mutual TLS) credentials of the settings; None for a plaintext port."""
    if not settings.tls:
        return None
    client_ca = _read(settings.tls_client_ca) if settings.tls_client_ca else None
    return grpc.ssl_server_credentials(
        [(_read(settings.tls_key), _read(settings.tls_cert))],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


def load_tokens(settings: Settings) -> list[bytes]:
    """The accepted tokens: the file's lines and NNFUNC_AUTH_TOKENS' items (empty: no
    token is required). A token that no client could send is a configuration error."""
    texts: list[str] = []
    if settings.auth_tokens_file:
        for line in _read(settings.auth_tokens_file).decode().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                texts.append(line)
    texts += [t.strip() for t in settings.auth_tokens.split(",") if t.strip()]
    for k, t in enumerate(texts):
        if not _BEARER.fullmatch(f"Bearer {t}"):
            raise ValueError(
                f"auth token #{k + 1}: expected RFC 6750 token characters "
                "(A-Z a-z 0-9 - . _ ~ + /, then = padding)"
            )
    return [t.encode() for t in texts]


def _refusal(handler: grpc.RpcMethodHandler, code: grpc.StatusCode, message: str):
    """A handler of the same streaming kind that fails the call with ``code``. It has
    no deserializer: a refused request is never parsed (a caller without a valid token
    gets no work done, not even the parsing of a large message)."""

    def deny(request_or_iterator, context):
        context.abort(code, message)

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(deny)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(deny)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(deny)
    return grpc.unary_unary_rpc_method_handler(deny)


class TokenAuthInterceptor(grpc.ServerInterceptor):
    """Checks ``authorization: Bearer <token>`` on every call but the open methods."""

    def __init__(self, tokens: Iterable[bytes], open_prefixes: Iterable[str] = OPEN_PREFIXES):
        self._tokens = list(tokens)
        if not self._tokens:
            raise ValueError("TokenAuthInterceptor needs at least one token")
        self._open = tuple(open_prefixes)
        self._refusals: dict[tuple[str, grpc.StatusCode, str], grpc.RpcMethodHandler] = {}

    def verdict(self, metadata: Iterable[tuple[str, str | bytes]]) -> tuple[grpc.StatusCode, str]:
        """(OK, "") or the refusal's code and message, for the call's metadata."""
        values = [v for k, v in metadata if k == "authorization"]
        if not values:
            return (
                grpc.StatusCode.UNAUTHENTICATED,
                "authorization: missing; send 'authorization: Bearer <token>'",
            )
        value = values[0] if isinstance(values[0], str) else values[0].decode("latin-1")
        m = _BEARER.fullmatch(value)
        if len(values) > 1 or m is None:
            return (
                grpc.StatusCode.UNAUTHENTICATED,
                "authorization: malformed; expected one 'Bearer <token>'",
            )
        token = m.group(1).encode()
        accepted = False
        for known in self._tokens:  # every comparison, whatever matched
            accepted |= hmac.compare_digest(token, known)
        if not accepted:
            return grpc.StatusCode.PERMISSION_DENIED, "authorization: token not accepted"
        return grpc.StatusCode.OK, ""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(self._open):
            return handler
        code, message = self.verdict(handler_call_details.invocation_metadata or ())
        if code is grpc.StatusCode.OK:
            return handler
        # One refusal per method and verdict (their messages are fixed): made once.
        key = (handler_call_details.method, code, message)
        refusal = self._refusals.get(key)
        if refusal is None:
            refusal = self._refusals.setdefault(key, _refusal(handler, code, message))
        return refusal
