"""The provider's self-signed TLS certificate for go-plugin's AutoMTLS, cached between starts.

Terraform starts the provider several times per command, so the certificate is made once and kept
in ``$XDG_CACHE_HOME/meshplane`` (``~/.cache/meshplane``); a cache hit avoids importing
cryptography at all. The client trusts exactly the certificate sent in the handshake line, so
self-signed is the protocol, not a shortcut. An unwritable cache only costs a new certificate.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import time
from pathlib import Path

import grpc

VALID_SECONDS = 30 * 24 * 3600
RENEW_BEFORE_SECONDS = 24 * 3600


def cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "meshplane" / "terraform-provider-cert.json"


def server_credentials() -> tuple[bytes, grpc.ServerCredentials]:
    """(DER certificate for the handshake line, gRPC server credentials)."""
    cached = _read_cache()
    if cached is None:
        cached = _generate()
        _write_cache(cached)
    credentials = grpc.ssl_server_credentials([(cached["key_pem"].encode(), cached["cert_pem"].encode())])
    return base64.b64decode(cached["der"]), credentials


def _read_cache() -> dict[str, str] | None:
    try:
        data = json.loads(cache_path().read_text())
        if float(data["not_after"]) - time.time() > RENEW_BEFORE_SECONDS:
            return {k: str(v) for k, v in data.items()}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _write_cache(data: dict[str, str]) -> None:
    path = cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".cert-")
        with os.fdopen(fd, "w") as out:
            json.dump(data, out)
        os.replace(tmp, path)  # atomic: concurrent provider starts never read half a file
    except OSError:
        pass


def _generate() -> dict[str, str]:
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(timezone.utc)
    not_after = now + timedelta(seconds=VALID_SECONDS)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=True, key_cert_sign=True, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return {
        "key_pem": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode(),
        "cert_pem": cert.public_bytes(serialization.Encoding.PEM).decode(),
        "der": base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode(),
        "not_after": str(not_after.timestamp()),
    }
