"""`tracegate serve --tls-cert --tls-key [--tls-client-ca]`: HTTPS, and client certificates for devices."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.wire import pb
from tests.reliability.gateway_process import PROTOBUF, GatewayProcess

pytestmark = [pytest.mark.clickhouse, pytest.mark.slow]


def _certificate(
    path: Path,
    name: str,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        names = x509.SubjectAlternativeName([x509.DNSName("localhost")])
        builder = builder.add_extension(names, critical=False)
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert, key


def _tls_gateway(tmp_path: Path, *, client_ca: bool) -> GatewayProcess:
    ca = _certificate(tmp_path / "ca", "tracegate test CA", None, ca=True)
    _certificate(tmp_path / "server", "localhost", ca)
    _certificate(tmp_path / "register", "KKM-TLS-1", ca)
    args = ["--tls-cert", str(tmp_path / "server.crt"), "--tls-key", str(tmp_path / "server.key")]
    if client_ca:
        args += ["--tls-client-ca", str(tmp_path / "ca.crt")]
    context = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    return GatewayProcess(tmp_path / "data", serve_args=tuple(args), ssl_context=context, host="localhost")


def test_serves_https_only_to_clients_that_trust_its_certificate(tmp_path: Path) -> None:
    gateway = _tls_gateway(tmp_path, client_ca=False)
    gateway.start()
    try:
        status, _, body = gateway.request("GET", "/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        with pytest.raises(urllib.error.URLError):  # a client that does not trust the certificate
            urllib.request.urlopen(gateway.url + "/healthz", timeout=5, context=ssl.create_default_context())
        plain = f"http://localhost:{gateway.port}/healthz"
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(plain, timeout=5)
    finally:
        gateway.stop()


def test_device_endpoints_require_a_client_certificate_when_a_client_ca_is_set(tmp_path: Path) -> None:
    gateway = _tls_gateway(tmp_path, client_ca=True)
    gateway.start()
    try:
        body = pb.IngestBatch(envelopes=[pb.Envelope(device_id="KKM-TLS-1", seq=1)]).SerializeToString()
        status, _, answer = gateway.request("POST", "/v1/batches", body, PROTOBUF)
        assert status in (401, 403) and json.loads(answer)["error"] == "client_cert_required"

        assert gateway.ssl_context is not None
        gateway.ssl_context.load_cert_chain(str(tmp_path / "register.crt"), str(tmp_path / "register.key"))
        status, _, answer = gateway.request("POST", "/v1/batches", body, PROTOBUF)
        assert status == 200  # past TLS: the gateway judges the envelope itself
        assert pb.IngestAck.FromString(answer).acks[0].status == pb.REJECTED
        status, _, _ = gateway.request("GET", "/healthz")
        assert status == 200
    finally:
        gateway.stop()
