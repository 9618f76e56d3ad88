"""The certificate authority itself (see the package docstring): EC P-256 keys, a CA, server
certificates (DNS/IP SANs) and proxy client certificates (URI SANs naming the node), on ``cryptography``.

For trying TLS out and for tests (``meshplane tls dev-ca``); production deployments bring their
own PKI (cert-manager, SPIRE, a corporate CA) and give meshplane the files. Private keys are
written mode 0600 and never printed.

    ca = create_ca()
    server = issue_server(ca, ["localhost", "127.0.0.1"])
    proxy = issue_client(ca, [spiffe_id("meshplane.local", "demo", "virtualNode", "web")], "web")
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Node kinds a proxy certificate may name (App Mesh's two proxy resource types).
PROXY_KINDS = ("virtualNode", "virtualGateway")


@dataclass(frozen=True)
class Issued:
    """A private key and its certificate."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def key_pem(self) -> bytes:
        """The private key, PKCS#8 PEM, unencrypted (write it with ``private=True``)."""
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def __repr__(self) -> str:  # never show the key
        return f"Issued(subject={self.cert.subject.rfc4514_string()!r})"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _builder(subject: str, issuer: x509.Name | None, public_key: ec.EllipticCurvePublicKey,
             days: int) -> x509.CertificateBuilder:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    start = _now() - datetime.timedelta(minutes=5)  # tolerate small clock differences
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def create_ca(common_name: str = "meshplane dev CA", days: int = 3650) -> Issued:
    """A self-signed CA (may sign leaf certificates only: path length 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(common_name, None, key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, encipher_only=False,
                                     decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Issued(key, cert)


def _leaf(ca: Issued, common_name: str, sans: list[x509.GeneralName], usage: x509.ObjectIdentifier,
          days: int) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        _builder(common_name, ca.cert.subject, key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, encipher_only=False,
                                     decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return Issued(key, cert)


def issue_server(ca: Issued, hosts: Sequence[str], days: int = 365) -> Issued:
    """A server certificate for ``hosts`` (IP addresses become IP SANs, the rest DNS SANs).

    :raises ValueError: no host given.
    """
    if not hosts:
        raise ValueError("a server certificate needs at least one host name or address")
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host.strip("[]"))))
        except ValueError:
            sans.append(x509.DNSName(host))
    return _leaf(ca, hosts[0], sans, ExtendedKeyUsageOID.SERVER_AUTH, days)


def issue_client(ca: Issued, uris: Sequence[str], common_name: str, days: int = 365) -> Issued:
    """A client certificate whose URI SANs are ``uris`` (a proxy's: node ARN and SPIFFE id)."""
    if not uris:
        raise ValueError("a proxy certificate needs at least one URI")
    return _leaf(ca, common_name[:64], [x509.UniformResourceIdentifier(u) for u in uris],
                 ExtendedKeyUsageOID.CLIENT_AUTH, days)


def spiffe_id(trust_domain: str, mesh: str, kind: str, name: str) -> str:
    """``spiffe://<trust_domain>/mesh/<mesh>/<kind>/<name>`` (kind virtualNode or virtualGateway)."""
    if kind not in PROXY_KINDS:
        raise ValueError(f"kind {kind!r} must be one of {', '.join(PROXY_KINDS)}")
    return f"spiffe://{trust_domain}/mesh/{mesh}/{kind}/{name}"


def parse_spiffe(uri: str) -> tuple[str, str, str, str] | None:
    """``(trust_domain, mesh, kind, name)`` of a proxy SPIFFE id, or None for any other URI."""
    if not uri.startswith("spiffe://"):
        return None
    trust_domain, _, path = uri[len("spiffe://"):].partition("/")
    parts = path.split("/")
    if len(parts) != 4 or parts[0] != "mesh" or parts[2] not in PROXY_KINDS or not parts[1] or not parts[3]:
        return None
    return trust_domain, parts[1], parts[2], parts[3]


def uri_sans(cert: x509.Certificate) -> list[str]:
    """The URI subject alternative names of ``cert`` (empty when it has none)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return san.get_values_for_type(x509.UniformResourceIdentifier)


def write_pem(path: str | Path, data: bytes, *, private: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (a reader never sees half a file: servers reload
    certificates when they change); ``private`` files are created mode 0600."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(cert_path: str | Path, key_path: str | Path) -> Issued:
    """A certificate and its key from PEM files."""
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_path}: not an EC private key")
    return Issued(key, cert)
