"""TLS, mutual TLS and bearer tokens, against in-process servers.

Every key and certificate is made here, at test time, with ``cryptography`` (a CA, a
server certificate for localhost/127.0.0.1, a client certificate, and a second,
untrusted CA with its own client): none is committed.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import nnfunc
from nnfunc.codec import to_tensor
from nnfunc.server import Settings, start
from nnfunc.server.security import TokenAuthInterceptor, load_tokens
from nnfunc.v1 import function_service_pb2 as pb
from nnfunc.v1 import function_service_pb2_grpc as pb_grpc

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

RELU = pb.EvaluateRequest(function="relu", inputs=[to_tensor(np.array([-1.0, 2.0]))])
TOKEN = "t0ken-Alpha_1.2~3+4/5=="
OTHER = "second-token"


# ---------------------------------------------------------------------------
# A throwaway PKI
# ---------------------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key, issuer_name, issuer_key, *, ca=False, server=False):
    now = datetime.datetime.now(datetime.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        b = b.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return b.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert, key=None) -> None:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.with_suffix(".key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    for ca_name in ("ca", "rogue-ca"):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _cert(ca_name, ca_key, _name(ca_name), ca_key, ca=True)
        _write(d / ca_name, ca, ca_key)
        prefix = "" if ca_name == "ca" else "rogue-"
        for who, server in (("server", True), ("client", False)):
            key = ec.generate_private_key(ec.SECP256R1())
            _write(d / f"{prefix}{who}", _cert(who, key, ca.subject, ca_key, server=server), key)
    return d


@contextlib.contextmanager
def serving(**settings):
    handle = start(Settings(host="127.0.0.1", port=0, log_level="WARNING", **settings))
    try:
        yield f"127.0.0.1:{handle.port}"
    finally:
        handle.stop(grace=0)


def _code(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code()


def _tls(pki: Path, client: str | None = None) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=(pki / "ca.crt").read_bytes(),
        private_key=(pki / f"{client}.key").read_bytes() if client else None,
        certificate_chain=(pki / f"{client}.crt").read_bytes() if client else None,
    )


# ---------------------------------------------------------------------------
# TLS and mutual TLS
# ---------------------------------------------------------------------------


def test_tls_serves_tls_clients_only(pki):
    with serving(tls_cert=str(pki / "server.crt"), tls_key=str(pki / "server.key")) as address:
        with nnfunc.Client(address, root_certificates=str(pki / "ca.crt"), retries=0) as c:
            np.testing.assert_array_equal(c.evaluate("relu", [-1.0, 2.0]), [0.0, 2.0])
        with grpc.insecure_channel(address) as ch:  # plaintext to a TLS port: no call
            stub = pb_grpc.FunctionServiceStub(ch)
            assert _code(lambda: stub.Evaluate(RELU, timeout=5)) == grpc.StatusCode.UNAVAILABLE
        # A TLS client that does not trust the server's CA refuses it.
        rogue = grpc.ssl_channel_credentials((pki / "rogue-ca.crt").read_bytes())
        with grpc.secure_channel(address, rogue) as ch:
            stub = pb_grpc.FunctionServiceStub(ch)
            assert _code(lambda: stub.Evaluate(RELU, timeout=5)) == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_requires_a_client_certificate_from_the_ca(pki):
    with serving(
        tls_cert=str(pki / "server.crt"),
        tls_key=str(pki / "server.key"),
        tls_client_ca=str(pki / "ca.crt"),
    ) as address:
        with nnfunc.Client(
            address,
            root_certificates=str(pki / "ca.crt"),
            certificate_chain=str(pki / "client.crt"),
            private_key=(pki / "client.key").read_bytes(),
            retries=0,
        ) as c:
            np.testing.assert_array_equal(c.evaluate("relu", [-1.0, 2.0]), [0.0, 2.0])
        for who in (None, "rogue-client"):  # no certificate; one from another CA
            with grpc.secure_channel(address, _tls(pki, who)) as ch:
                stub = pb_grpc.FunctionServiceStub(ch)
                code = _code(lambda stub=stub: stub.Evaluate(RELU, timeout=5))
                assert code == grpc.StatusCode.UNAVAILABLE, who


def test_tls_settings_from_flags_and_validation(pki):
    s = Settings.load(
        [
            "--tls-cert",
            str(pki / "server.crt"),
            "--tls-key",
            str(pki / "server.key"),
            "--tls-client-ca",
            str(pki / "ca.crt"),
        ],
        environ={},
    )
    assert s.tls and s.tls_client_ca.endswith("ca.crt")
    with pytest.raises(ValueError, match="tls_cert and tls_key go together"):
        Settings(tls_cert=str(pki / "server.crt"))
    with pytest.raises(ValueError, match="tls_client_ca"):
        Settings(tls_client_ca=str(pki / "ca.crt"))
    with pytest.raises(ValueError, match="no such file"):
        Settings(tls_cert=str(pki / "missing.crt"), tls_key=str(pki / "server.key"))


# ---------------------------------------------------------------------------
# Bearer tokens
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def token_server(tmp_path_factory):
    d = tmp_path_factory.mktemp("tokens")
    (d / "tokens").write_text(f"# accepted tokens\n\n{TOKEN}\n")
    with serving(auth_tokens_file=str(d / "tokens"), auth_tokens=f" {OTHER} ,") as address:
        yield address


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ((), grpc.StatusCode.UNAUTHENTICATED),  # none
        ((("authorization", TOKEN),), grpc.StatusCode.UNAUTHENTICATED),  # no scheme
        ((("authorization", f"Basic {TOKEN}"),), grpc.StatusCode.UNAUTHENTICATED),
        ((("authorization", "Bearer "),), grpc.StatusCode.UNAUTHENTICATED),
        ((("authorization", "Bearer not a token"),), grpc.StatusCode.UNAUTHENTICATED),
        ((("authorization", "Bearer tok=en"),), grpc.StatusCode.UNAUTHENTICATED),
        ((("authorization", "Bearer wrong-token"),), grpc.StatusCode.PERMISSION_DENIED),
        ((("authorization", f"Bearer x{TOKEN}"),), grpc.StatusCode.PERMISSION_DENIED),
        ((("authorization", f"Bearer {TOKEN}x"),), grpc.StatusCode.UNAUTHENTICATED),  # = ends
        ((("authorization", f"Bearer {TOKEN[:-1]}"),), grpc.StatusCode.PERMISSION_DENIED),
        ((("authorization", f"Bearer {TOKEN}"),), grpc.StatusCode.OK),
        ((("authorization", f"bearer {OTHER}"),), grpc.StatusCode.OK),  # scheme: any case
    ],
)
def test_token_rule(token_server, metadata, expected):
    with grpc.insecure_channel(token_server) as ch:
        stub = pb_grpc.FunctionServiceStub(ch)
        for rpc, request in (
            (stub.Evaluate, RELU),
            (stub.ListFunctions, pb.ListFunctionsRequest()),
        ):
            if expected == grpc.StatusCode.OK:
                rpc(request, metadata=metadata, timeout=5)
                continue
            with pytest.raises(grpc.RpcError) as info:
                rpc(request, metadata=metadata, timeout=5)
            assert info.value.code() == expected
            assert TOKEN not in info.value.details() and "authorization" in info.value.details()


def test_health_is_open_and_reflection_is_not(token_server):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with grpc.insecure_channel(token_server) as ch:
        health = health_pb2_grpc.HealthStub(ch)
        assert (
            health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
            == health_pb2.HealthCheckResponse.SERVING
        )
        watch = health.Watch(health_pb2.HealthCheckRequest(service="nnfunc.v1.FunctionService"))
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        watch.cancel()
        refl = reflection_pb2_grpc.ServerReflectionStub(ch)
        ask = reflection_pb2.ServerReflectionRequest(list_services="")
        with pytest.raises(grpc.RpcError) as info:
            list(refl.ServerReflectionInfo(iter([ask]), timeout=5))
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        auth = (("authorization", f"Bearer {TOKEN}"),)
        (answer,) = refl.ServerReflectionInfo(iter([ask]), metadata=auth, timeout=5)
        names = {s.name for s in answer.list_services_response.service}
        assert "nnfunc.v1.FunctionService" in names


def test_sdk_token_on_a_plaintext_channel(token_server):
    with nnfunc.Client(token_server, token=TOKEN, retries=0) as c:
        np.testing.assert_array_equal(c.evaluate("relu", [-1.0, 2.0]), [0.0, 2.0])
        assert TOKEN not in repr(c)
    with nnfunc.Client(token_server, retries=0) as c, pytest.raises(nnfunc.UnauthenticatedError):
        c.evaluate("relu", [1.0])
    with (
        nnfunc.Client(token_server, token="nope", retries=0) as c,
        pytest.raises(nnfunc.PermissionDeniedError),
    ):
        c.evaluate("relu", [1.0])


async def _aio_evaluate(address, **kw):
    async with nnfunc.AsyncClient(address, retries=0, **kw) as c:
        return await c.evaluate("relu", [-3.0, 3.0])


def test_sdk_token_and_mutual_tls_together(pki):
    import asyncio

    with serving(
        tls_cert=str(pki / "server.crt"),
        tls_key=str(pki / "server.key"),
        tls_client_ca=str(pki / "ca.crt"),
        auth_tokens=TOKEN,
    ) as address:
        creds = {
            "root_certificates": str(pki / "ca.crt"),
            "certificate_chain": str(pki / "client.crt"),
            "private_key": str(pki / "client.key"),
        }
        with nnfunc.Client(address, token=TOKEN, retries=0, **creds) as c:  # call credentials
            np.testing.assert_array_equal(c.evaluate("relu", [-1.0, 2.0]), [0.0, 2.0])
            assert c.metadata == ()  # the token rides on the TLS credentials, not here
        with (
            nnfunc.Client(address, retries=0, **creds) as c,
            pytest.raises(nnfunc.UnauthenticatedError),
        ):
            c.evaluate("relu", [1.0])
        got = asyncio.run(_aio_evaluate(address, token=TOKEN, **creds))
        np.testing.assert_array_equal(got, [0.0, 3.0])


def test_token_loading_and_verdicts(tmp_path):
    (tmp_path / "t").write_text("# comment\n  abc  \n\nxyz==\n")
    s = Settings(auth_tokens_file=str(tmp_path / "t"), auth_tokens="def,")
    assert load_tokens(s) == [b"abc", b"xyz==", b"def"]
    assert "def" not in repr(s)  # environment tokens never show in logs or reprs
    assert load_tokens(Settings()) == []
    with pytest.raises(ValueError, match="token #1"):
        load_tokens(Settings(auth_tokens="has space"))
    with pytest.raises(ValueError):
        TokenAuthInterceptor([])
    auth = TokenAuthInterceptor([b"abc", b"xyz=="])
    ok, denied, unauth = (
        grpc.StatusCode.OK,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
    )
    assert auth.verdict([("authorization", "Bearer xyz==")])[0] == ok
    assert auth.verdict([("authorization", b"Bearer abc")])[0] == ok
    assert auth.verdict([("authorization", "Bearer abd")])[0] == denied
    assert auth.verdict([])[0] == unauth
    two = [("authorization", "Bearer abc"), ("authorization", "Bearer abc")]
    assert auth.verdict(two)[0] == unauth  # one credential, not a choice of several
    env = Settings.load([], environ={"NNFUNC_AUTH_TOKENS": "k1,k2"})
    assert load_tokens(env) == [b"k1", b"k2"]


def test_client_credential_arguments_are_checked(pki):
    with pytest.raises(ValueError, match="go together"):
        nnfunc.Client("127.0.0.1:1", certificate_chain=str(pki / "client.crt"))
    with pytest.raises(ValueError, match="token"):
        nnfunc.Client("127.0.0.1:1", token="two words")
