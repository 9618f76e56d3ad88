"""meshplane's mesh certificate authority: what issues proxy certificates in place of ACM.

Two sources (docs/security.md, "Mesh certificates"):

* an intermediate CA the operator provides (``--mesh-ca-cert`` / ``--mesh-ca-key``, PEM files):
  the certificate file holds the CA certificate first, then the certificates up to its root;
  every certificate in it goes into the trust bundle, and all but self-signed roots are sent
  after each leaf;
* otherwise a CA meshplane creates on first start (EC P-256, ten years, path length 0) and stores
  in the database (table ``mesh_ca``), its private key encrypted with AES-GCM under the same key
  file that encrypts access key secrets (``<db>.key`` or ``--key-file``, mode 0600): a copy of
  the database alone reveals no key. Two xDS processes starting at once end up with one CA.

The private key never reaches a log line or an error message.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from meshplane.config import Config

log = logging.getLogger("meshplane.pki")

#: Associated data of the stored key's encryption (binds the blob to its use).
_AAD = b"meshplane mesh CA key"


@dataclass(frozen=True)
class MeshAuthority:
    """A loaded mesh CA.

    :param cert: the CA certificate that signs proxy certificates.
    :param key: its private key (EC or RSA); never logged, never in ``repr``.
    :param chain: certificates sent after each leaf (an operator's intermediates; empty for
        meshplane's own CA, whose certificate is the trust anchor itself).
    :param bundle_pem: the trust bundle proxies validate peers against (PEM).
    :param source: ``generated`` or the certificate file's path.
    """

    cert: x509.Certificate
    key: Any = field(repr=False)
    chain: tuple[x509.Certificate, ...]
    bundle_pem: bytes = field(repr=False)
    source: str


def load_mesh_ca(config: Config) -> MeshAuthority:
    """The mesh CA ``config`` names: the operator's files, else the stored one (created on first use).

    :raises ValueError: the operator's files do not load as a CA certificate and its key, or the
        stored key does not decrypt with the key file (the message names the files, never the key).
    """
    if config.mesh_ca_cert:
        return _from_files(config.mesh_ca_cert, config.mesh_ca_key)
    return _stored(config)


def _from_files(cert_path: str, key_path: str) -> MeshAuthority:
    try:
        certs = x509.load_pem_x509_certificates(Path(cert_path).read_bytes())
    except (OSError, ValueError) as exc:
        raise ValueError(f"--mesh-ca-cert {cert_path}: no PEM certificate ({exc.__class__.__name__})") from None
    try:
        key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"--mesh-ca-key {key_path}: no unencrypted PEM private key ({exc.__class__.__name__})") from None
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise ValueError(f"--mesh-ca-key {key_path}: an EC or RSA key is needed")
    ca = certs[0]
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if ca.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        raise ValueError(f"--mesh-ca-key {key_path} is not the key of the first certificate in {cert_path}")
    try:
        constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise ValueError(f"--mesh-ca-cert {cert_path}: the first certificate is not a CA (basicConstraints CA:TRUE)")
    chain = tuple(c for c in certs if c.subject != c.issuer)  # roots are the peer's to hold, not to send
    bundle = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
    return MeshAuthority(ca, key, chain, bundle, cert_path)


def _stored(config: Config) -> MeshAuthority:
    from meshplane.auth.keys import key_file_path, load_or_create_key_file
    from meshplane.pki.ca import create_ca
    from meshplane.store.database import open_pool
    from meshplane.store.mesh_ca import MeshCaRow, MeshCaRows

    path = key_file_path(config)
    cipher = AESGCM(load_or_create_key_file(path))
    pool = open_pool(config.db, synchronous=config.synchronous, busy_timeout_ms=config.busy_timeout_ms)
    try:
        rows = MeshCaRows(pool)
        row = rows.get()
        if row is None:
            created = create_ca("meshplane mesh CA")
            nonce = os.urandom(12)
            blob = nonce + cipher.encrypt(nonce, created.key_pem(), _AAD)
            row = rows.insert_if_absent(MeshCaRow(created.cert_pem().decode(), blob, time.time()))
            log.info("created the mesh CA (it issues proxy certificates for ACM references; its key is "
                     "encrypted with %s: back it up with the database)", path)
    finally:
        pool.close()
    try:
        pem = cipher.decrypt(row.key[:12], row.key[12:], _AAD)
    except (InvalidTag, ValueError):
        raise ValueError(f"the stored mesh CA key does not decrypt with the key file {path} "
                         "(was the key file replaced?)") from None
    key = serialization.load_pem_private_key(pem, password=None)
    cert = x509.load_pem_x509_certificate(row.cert.encode())
    return MeshAuthority(cert, key, (), cert.public_bytes(serialization.Encoding.PEM), "generated")
