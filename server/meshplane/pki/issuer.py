"""Proxy certificates from the mesh CA, as SDS ``Secret`` resources, and their rotation.

The xDS process (propagate.py) asks :meth:`MeshIssuer.secrets` for the secrets a proxy's config
references (``ProxyConfig.secrets``) and adds them to the proxy's snapshot:

* ``meshplane-mesh-trust``: the mesh CA's trust bundle (a ``validation_context``), one packed
  resource shared by every proxy;
* ``meshplane-mesh-certificate``: a certificate and key issued for the node (shared by the
  replicas of one node id connected to this process). Names (the SAN scheme, docs/translation.md):
  DNS names from ``translate.identity.node_dns_names`` (the virtual services the node provides,
  its service discovery name), URI names ``<node ARN>`` and
  ``spiffe://<trust domain>/mesh/<mesh>/<virtualNode|virtualGateway>/<name>``. Key usage: server
  and client authentication.

Certificates live ``ttl_s`` (default 24 h) and are renewed at 2/3 of their lifetime by a
background thread (:meth:`MeshIssuer.start`), never on the stream loop; so is a certificate whose
names changed (the old one is served until its successor is ready). A renewal calls
``on_rotated({node_id: secret entry})``; the owner swaps the secret into the node's snapshot and
Envoy replaces it in place (open connections stay up). Only the first certificate of a node is
issued by the caller's thread (its listener cannot serve without it): ~0.4 ms of CPU each.

Replicas: every xDS process issues for the proxies connected to it (a later, leader-elected
replica set may move issuing to one process; nothing here assumes it).
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2

from meshplane.pki.ca import spiffe_id
from meshplane.pki.mesh_ca import MeshAuthority
from meshplane.stream.snapshot import Entry, make_entry
from meshplane.stream.types import SECRET
from meshplane.translate.names import MESH_CERTIFICATE_SECRET, MESH_TRUST_SECRET
from meshplane.translate.state import ProxyRef

log = logging.getLogger("meshplane.pki")

#: Default certificate lifetime (seconds).
DEFAULT_TTL_S = 24 * 3600
#: A certificate is renewed once this fraction of its lifetime has passed.
RENEW_AT = 2 / 3
#: Tolerated clock difference between meshplane and the proxies (not_before is set back by it,
#: capped at the lifetime so short test lifetimes stay short).
CLOCK_SKEW_S = 60

Rotated = Callable[[dict[str, Entry]], None]


@dataclass
class NodeCertificate:
    """One node's current certificate: its names, validity and packed Secret."""

    ref: ProxyRef
    dns_names: tuple[str, ...]
    uris: tuple[str, ...]
    entry: Entry
    not_after: float
    renew_at: float
    serial: int

    def __repr__(self) -> str:  # the entry holds the key
        return f"NodeCertificate({self.ref.node_id!r}, serial={self.serial:x}, not_after={self.not_after:.0f})"


class MeshIssuer:
    """Issues, caches and renews proxy certificates (see the module).

    :param authority: the mesh CA.
    :param ttl_s: certificate lifetime in seconds.
    :param trust_domain: SPIFFE trust domain of the URI names.
    :param account_id / region: for the node ARN URI name.
    :param on_rotated: called from the renewal thread with the renewed nodes' secret entries.
    """

    def __init__(self, authority: MeshAuthority, *, ttl_s: int = DEFAULT_TTL_S, trust_domain: str = "meshplane.local",
                 account_id: str = "111122223333", region: str = "us-east-1", on_rotated: Rotated | None = None) -> None:
        if ttl_s < 2:
            raise ValueError(f"mesh certificate lifetime {ttl_s}s is too short (at least 2 s)")
        self.authority = authority
        self.ttl_s = ttl_s
        self.trust_domain = trust_domain
        self.account_id = account_id
        self.region = region
        self.on_rotated = on_rotated
        self.issued = 0  # certificates issued so far (for logs and tests)
        self._chain_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in authority.chain)
        self._ca_ski = _ski(authority)
        bundle = secret_pb2.Secret(name=MESH_TRUST_SECRET)
        bundle.validation_context.trusted_ca.inline_bytes = authority.bundle_pem
        self.trust_entry = make_entry(SECRET, MESH_TRUST_SECRET, bundle)
        self._certs: dict[str, NodeCertificate] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()

    # -- the caller's side (the propagation thread) -----------------------------------------------

    def secrets(self, node_id: str, ref: ProxyRef, dns_names: tuple[str, ...],
                wanted: tuple[str, ...]) -> dict[str, Entry]:
        """The secret entries named in ``wanted`` for this proxy (name -> Entry).

        A node's first certificate is issued now; a valid one is reused, and one whose DNS names
        differ from ``dns_names`` is renewed in the background (served until then). A node that
        wants no certificate any more is forgotten (no more renewals).
        """
        found: dict[str, Entry] = {}
        if MESH_TRUST_SECRET in wanted:
            found[MESH_TRUST_SECRET] = self.trust_entry
        if MESH_CERTIFICATE_SECRET not in wanted:
            with self._lock:
                self._certs.pop(node_id, None)
            return found
        now = time.time()
        with self._lock:
            current = self._certs.get(node_id)
        if current is None or current.ref != ref or current.not_after <= now + 1:
            current = self.issue(ref, dns_names)
            with self._lock:
                self._certs[node_id] = current
        elif current.dns_names != dns_names:
            with self._lock:
                current.dns_names = dns_names  # the successor gets these
                current.renew_at = 0.0
            self._wake.set()
        found[MESH_CERTIFICATE_SECRET] = current.entry
        return found

    def forget(self, node_id: str) -> None:
        """Stop renewing ``node_id``'s certificate."""
        with self._lock:
            self._certs.pop(node_id, None)

    def certificate(self, node_id: str) -> NodeCertificate | None:
        """The node's current certificate record, or None."""
        with self._lock:
            return self._certs.get(node_id)

    # -- issuing ---------------------------------------------------------------------------------

    def uris(self, ref: ProxyRef) -> tuple[str, ...]:
        """The URI names of ``ref``'s certificate: its ARN and SPIFFE id."""
        arn = f"arn:aws:appmesh:{self.region}:{self.account_id}:mesh/{ref.mesh}/{ref.kind}/{ref.name}"
        return arn, spiffe_id(self.trust_domain, ref.mesh, ref.kind, ref.name)

    def issue(self, ref: ProxyRef, dns_names: tuple[str, ...]) -> NodeCertificate:
        """A new certificate for ``ref`` (EC P-256 key, ``ttl_s`` lifetime) as a packed Secret."""
        uris = self.uris(ref)
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        skew = datetime.timedelta(seconds=min(CLOCK_SKEW_S, self.ttl_s))
        not_after = now + datetime.timedelta(seconds=self.ttl_s)
        sans: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
        sans += [x509.UniformResourceIdentifier(uri) for uri in uris]
        authority = self.authority
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ref.name[:64])]))
            .issuer_name(authority.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - skew)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        )
        if self._ca_ski is not None:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(self._ca_ski), critical=False)
        algorithm = hashes.SHA256() if isinstance(authority.key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)) else None
        cert = builder.sign(authority.key, algorithm)
        secret = secret_pb2.Secret(name=MESH_CERTIFICATE_SECRET)
        tls = secret.tls_certificate
        tls.certificate_chain.inline_bytes = cert.public_bytes(serialization.Encoding.PEM) + self._chain_pem
        tls.private_key.inline_bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption())
        issued_at = time.time()
        self.issued += 1
        return NodeCertificate(
            ref=ref, dns_names=dns_names, uris=uris, entry=make_entry(SECRET, MESH_CERTIFICATE_SECRET, secret),
            not_after=not_after.timestamp(), renew_at=issued_at + self.ttl_s * RENEW_AT, serial=cert.serial_number,
        )

    # -- renewal (a thread of its own) -----------------------------------------------------------

    def renew_due(self, now: float | None = None) -> dict[str, Entry]:
        """Renew every certificate that is due (2/3 of its life, or names changed); returns
        node id -> new secret entry. Runs on the renewal thread (or a test's)."""
        now = time.time() if now is None else now
        with self._lock:
            due = [(node_id, cert) for node_id, cert in self._certs.items() if cert.renew_at <= now]
        renewed: dict[str, Entry] = {}
        for node_id, old in due:
            fresh = self.issue(old.ref, old.dns_names)
            with self._lock:
                if self._certs.get(node_id) is old:  # not forgotten or replaced meanwhile
                    self._certs[node_id] = fresh
                    renewed[node_id] = fresh.entry
        if renewed:
            log.info("renewed %d mesh certificate(s)", len(renewed))
        return renewed

    def poll_s(self) -> float:
        """How often the renewal thread looks for due certificates."""
        return max(0.25, min(30.0, self.ttl_s / 20))

    def run(self, stop: threading.Event) -> None:
        """Renew due certificates until ``stop`` is set, handing each batch to ``on_rotated``."""
        while not stop.is_set():
            self._wake.wait(self.poll_s())
            self._wake.clear()
            if stop.is_set():
                return
            try:
                renewed = self.renew_due()
                if renewed and self.on_rotated is not None:
                    self.on_rotated(renewed)
            except Exception:  # the thread must survive: the current certificates stay served
                log.exception("mesh certificate renewal failed")

    def start(self, stop: threading.Event) -> threading.Thread:
        """Run :meth:`run` on a daemon thread."""
        thread = threading.Thread(target=self.run, args=(stop,), name="mesh-certs", daemon=True)
        thread.start()
        return thread

    def wake(self) -> None:
        """Make the renewal thread look now (tests; and after ``stop`` is set, to end it)."""
        self._wake.set()


def _ski(authority: MeshAuthority) -> x509.SubjectKeyIdentifier | None:
    try:
        return authority.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return None


def dns_names_of(names_by_node: Mapping[str, tuple[str, ...]], ref: ProxyRef) -> tuple[str, ...]:
    """``ref``'s DNS names from ``translate.identity.node_dns_names`` output (gateways: none)."""
    return names_by_node.get(ref.name, ()) if ref.kind == "virtualNode" else ()
