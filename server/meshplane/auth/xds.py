"""Who may subscribe to xDS as which node: the admission hook of the xDS server (stream.admission).

A stream is admitted by one of three credentials (docs/security.md, "xDS identities"):

1. **Mutual TLS**: the proxy's client certificate (signed by ``--xds-client-ca``) names nodes in
   its URI SANs, as the node ARN or ``spiffe://<trust-domain>/mesh/<m>/<virtualNode|virtualGateway>/<n>``.
   The stream's node must be one of them (else PERMISSION_DENIED). The certificate is the grant:
   no key policy applies.
2. **SigV4**, as App Mesh's Envoy (``envoy.grpc_credentials.aws_iam``) signs each call: a synthetic
   ``POST`` of the method path with the empty payload's hash, the host the proxy dialled (``:443``
   dropped; gRPC keeps ``:authority`` from the server, so the accepted names come from
   ``--xds-sign-hosts``), credential scope ``<date>/<region>/appmesh/aws4_request``.
3. **The bootstrap credential** ``meshplane envoy-bootstrap`` writes into the gRPC
   ``initial_metadata`` of upstream Envoy (which cannot sign since 1.35):
   ``x-meshplane-credential: MESHPLANE-XDS-HMAC-SHA256 Credential=<key id>, Signature=<hex>``,
   the signature being ``HMAC-SHA256(HMAC-SHA256("MESHPLANE" + secret, "xds-bootstrap"), node id)``.
   The secret never appears in the bootstrap, and the credential is good for that one node only.

A key-based stream (2, 3) must then be allowed ``appmesh:StreamAggregatedResources`` on the ARN
of its first request's node id. Refusals end the stream with UNAUTHENTICATED (missing, malformed
or wrong credentials, unknown or expired key) or PERMISSION_DENIED (policy, certificate naming
another node), and are audit-logged. Verification runs once per stream; the results that can be
reused (parsed certificates, verified signatures for a moment, the host name proxies sign) are.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import lru_cache
from urllib.parse import unquote
from typing import TYPE_CHECKING

import grpc
from cryptography import x509

from meshplane.pki.ca import parse_spiffe, uri_sans
from meshplane.auth import audit, authorize
from meshplane.auth.arns import foreign_node, node_arn, parse_node_id
from meshplane.auth.sigv4 import verify
from meshplane.config import Config, is_unix, split_listen
from meshplane.errors import (
    AppMeshError,
    ExpiredTokenException,
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from meshplane.stream.admission import Refusal, StreamOpening

if TYPE_CHECKING:
    from meshplane.auth.keys import Key

log = logging.getLogger("meshplane.auth")

ACTION = "appmesh:StreamAggregatedResources"
SERVICE = "appmesh"
#: The gRPC method paths Envoy signs (``{service}/{method}``), per ADS protocol.
METHOD_PATHS = {
    "sotw": "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources",
    "delta": "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources",
}
TOKEN_HEADER = "x-meshplane-credential"
TOKEN_SCHEME = "MESHPLANE-XDS-HMAC-SHA256"
#: How long a verified signature or token is reused for another stream carrying the same one
#: (Envoy builds with minute-resolution dates send the same signature all minute). Short, so a
#: key disabled with `meshplane keys disable` is refused within the key store's own delay.
VERIFIED_TTL_S = 2.0

Lookup = Callable[[str], "Key | None"]


def bootstrap_token(access_key_id: str, secret: str, node_id: str) -> str:
    """The bootstrap credential for ``node_id`` (see the module): the value of ``x-meshplane-credential``."""
    return f"{TOKEN_SCHEME} Credential={access_key_id}, Signature={_token_signature(secret, node_id)}"


def _token_signature(secret: str, node_id: str) -> str:
    # A key derived for this one purpose: a token can never be replayed as a SigV4 signature.
    derived = hmac.new(f"MESHPLANE{secret}".encode(), b"xds-bootstrap", hashlib.sha256).digest()
    return hmac.new(derived, node_id.encode(), hashlib.sha256).hexdigest()


def sign_hosts(config: Config, port: int) -> list[str]:
    """The ``host`` values accepted in xDS signatures: ``--xds-sign-hosts``, or by default the
    listen address and the local host names, each with ``:port`` (without it for 443, which
    gRPC drops before signing)."""
    if config.xds_sign_hosts.strip():
        return [h.strip().lower() for h in config.xds_sign_hosts.split(",") if h.strip()]
    # A unix socket has no host name to sign: the agent's unix:// variant sends no credentials.
    host = "localhost" if is_unix(config.xds_listen) else split_listen(config.xds_listen)[0]
    names = [host, "localhost", "127.0.0.1", "::1"]
    if host in ("0.0.0.0", "::", ""):
        names += [socket.gethostname(), socket.getfqdn()]
    hosts: list[str] = []
    for name in names:
        shown = f"[{name}]" if ":" in name else name
        value = (shown if port == 443 else f"{shown}:{port}").lower()
        if value not in hosts:
            hosts.append(value)
    return hosts


@lru_cache(maxsize=4096)
def certificate_uris(pem: bytes) -> tuple[str, ...]:
    """The URI SANs of a PEM certificate (parsed once per distinct certificate)."""
    try:
        return tuple(uri_sans(x509.load_pem_x509_certificate(pem)))
    except ValueError:
        return ()


def _source_ip(peer: str) -> str:
    """``ipv4:127.0.0.1:5000`` / ``ipv6:[::1]:5000`` -> the address ("" when not an IP peer)."""
    kind, _, rest = unquote(peer).partition(":")  # gRPC may send ipv6:%5B::1%5D:5000
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    if kind == "ipv6":
        return rest.rpartition(":")[0].strip("[]")
    return ""


class XdsAdmission:
    """The admission hook (callable with a ``StreamOpening``) for ``config``.

    :param lookup: access key id -> Key (``KeyStore.get``); None when auth is not ``sigv4``
        (then only client certificates admit streams).
    :param port: the bound xDS port (for the default signing host names).
    """

    def __init__(self, config: Config, lookup: Lookup | None, port: int) -> None:
        self.config = config
        self.lookup = lookup
        self.hosts = sign_hosts(config, port)
        self.regions = (config.region,)
        self.trust_domain = config.xds_trust_domain
        self._verified: dict[tuple[str, ...], tuple[float, Key]] = {}
        self._lock = threading.Lock()
        audit.configure(config)  # refusals go to this process's audit destination

    def listening_on(self, port: int) -> None:
        """The port the server bound (``--xds-listen`` asked for port 0): the default signing
        host names carry it."""
        self.hosts = sign_hosts(self.config, port)

    # -- the hook ------------------------------------------------------------------------------
    def __call__(self, opening: StreamOpening) -> Refusal | None:
        node_id = opening.node.id
        source = _source_ip(opening.peer)
        try:
            arn = self.node_arn(node_id)
        except ValueError as exc:
            return self._refuse(grpc.StatusCode.PERMISSION_DENIED, str(exc), None, source, "")
        foreign = foreign_node(parse_node_id(node_id), self.config.account_id, self.config.region)
        if foreign is not None:  # before any credential: no key or certificate makes it ours
            return self._refuse(grpc.StatusCode.PERMISSION_DENIED, foreign, None, source, arn)
        pem = opening.auth_context.get("x509_pem_cert")
        named = self._certificate_arns(pem[0]) if pem else frozenset()
        if named:  # the certificate is the grant (a certificate naming no node grants nothing)
            if arn in named:
                return None
            listed = ", ".join(sorted(named))
            return self._refuse(grpc.StatusCode.PERMISSION_DENIED,
                                f"the client certificate names {listed}, not {arn}", None, source, arn,
                                key_name=f"certificate {listed}")
        if self.lookup is None:
            return self._refuse(grpc.StatusCode.PERMISSION_DENIED,
                                "the client certificate names no App Mesh node", None, source, arn)
        headers = _Metadata(opening.metadata)
        try:
            if headers.get(TOKEN_HEADER) is not None:
                key = self._by_token(headers[TOKEN_HEADER], node_id)
            else:
                key = self._by_signature(headers, opening.protocol)
        except AppMeshError as exc:
            return self._refuse(grpc.StatusCode.UNAUTHENTICATED, f"{type(exc).__name__}: {exc.message}",
                                None, source, arn)
        try:
            authorize(key, ACTION, [arn], {"aws:SourceIp": source} if source else {})
        except AppMeshError as exc:
            return self._refuse(grpc.StatusCode.PERMISSION_DENIED, exc.message, key, source, arn)
        return None

    def node_arn(self, node_id: str) -> str:
        """The ARN of a node id (full ARN, or ``mesh/<m>[@owner]/<kind>/<name>``)."""
        return node_arn(node_id, self.config.account_id, self.config.region)

    # -- credentials -----------------------------------------------------------------------------
    def _certificate_arns(self, pem: bytes) -> frozenset[str]:
        """The node ARNs a client certificate names (URI SANs: ARNs, SPIFFE ids of the trust domain)."""
        arns = set()
        for uri in certificate_uris(pem):
            if uri.startswith("arn:"):
                try:
                    arns.add(self.node_arn(uri))
                except ValueError:
                    continue
                continue
            parsed = parse_spiffe(uri)
            if parsed is None or (self.trust_domain and parsed[0] != self.trust_domain):
                continue
            _, mesh, kind, name = parsed
            try:
                arns.add(self.node_arn(f"mesh/{mesh}/{kind}/{name}"))
            except ValueError:
                continue
        return frozenset(arns)

    def _by_token(self, token: str, node_id: str) -> Key:
        """The key whose bootstrap credential for ``node_id`` this is (see the module)."""
        scheme, _, rest = token.strip().partition(" ")
        fields = dict(part.strip().partition("=")[::2] for part in rest.split(","))
        key_id, signature = fields.get("Credential", ""), fields.get("Signature", "")
        if scheme != TOKEN_SCHEME or not key_id or not signature:
            raise IncompleteSignatureException(
                f"{TOKEN_HEADER} must read '{TOKEN_SCHEME} Credential=<key id>, Signature=<hex>'")
        cache_key = ("token", token, node_id)
        cached = self._cached(cache_key)
        if cached is not None:
            return cached
        key = self.lookup(key_id) if self.lookup else None
        now = time.time()
        if key is None or not key.enabled:
            raise UnrecognizedClientException("The security token included in the request is invalid.")
        if key.expires_at is not None and key.expires_at <= now:
            raise ExpiredTokenException("The security token included in the request is expired")
        if not hmac.compare_digest(_token_signature(key.secret, node_id), signature):
            raise InvalidSignatureException(
                f"The {TOKEN_HEADER} signature does not match this key and node id {node_id!r}")
        self._remember(cache_key, key)
        return key

    def _by_signature(self, headers: _Metadata, protocol: str) -> Key:
        """The key whose SigV4 signature the metadata carries, tried against each accepted host."""
        authorization = headers.get("authorization")
        if authorization is None:
            raise MissingAuthenticationTokenException(
                "Missing Authentication Token (sign the stream with SigV4, or use a client certificate "
                f"or the {TOKEN_HEADER} of `meshplane envoy-bootstrap`)")
        cache_key = ("sigv4", protocol, authorization, headers.get("x-amz-date") or "",
                     headers.get("x-amz-security-token") or "")
        cached = self._cached(cache_key)
        if cached is not None:
            return cached
        path = METHOD_PATHS.get(protocol, METHOD_PATHS["sotw"])
        error: InvalidSignatureException | None = None
        assert self.lookup is not None
        for index, host in enumerate(list(self.hosts)):
            try:
                key = verify("POST", path, "", headers, None, lookup=self.lookup, service=SERVICE,
                             regions=self.regions, host=host)
            except InvalidSignatureException as exc:
                if not exc.message.startswith("The request signature we calculated"):
                    raise  # scope or time: the same for every host
                error = exc
                continue
            if index:  # proxies mostly dial one name: try it first from now on
                with self._lock:
                    if host in self.hosts:
                        self.hosts.remove(host)
                        self.hosts.insert(0, host)
            self._remember(cache_key, key)
            return key
        if error is None:
            raise InvalidSignatureException("no xDS signing host names are configured (--xds-sign-hosts)")
        # Host names are not listed: an unauthenticated client learns nothing about the server.
        raise InvalidSignatureException(f"{error.message} (Or the proxy signed for a host:port that is not "
                                        "among the server's --xds-sign-hosts.)")

    # -- helpers ---------------------------------------------------------------------------------
    def _cached(self, cache_key: tuple[str, ...]) -> Key | None:
        entry = self._verified.get(cache_key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def _remember(self, cache_key: tuple[str, ...], key: Key) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._verified) > 10_000:
                self._verified = {k: v for k, v in self._verified.items() if v[0] >= now}
            self._verified[cache_key] = (now + VERIFIED_TTL_S, key)

    def _refuse(self, code: grpc.StatusCode, message: str, key: Key | None, source: str, arn: str,
                key_name: str | None = None) -> Refusal:
        try:
            audit.record(
                key_id=getattr(key, "access_key_id", None), key_name=key_name or getattr(key, "name", None),
                source=source, action=ACTION, arn=arn, outcome="denied", reason=f"{code.name}: {message}",
                protocol="xds")
        except Exception:  # the audit log must never turn a refusal into an admission or a crash
            log.exception("could not audit-log a refused xDS stream")
        return Refusal(code, message)


class _Metadata(Mapping[str, str]):
    """gRPC metadata as a case-insensitive mapping of text values (``-bin`` values left out)."""

    def __init__(self, pairs: Iterable[tuple[str, str | bytes]]) -> None:
        self._values: dict[str, str] = {}
        for name, value in pairs:
            if isinstance(value, str):
                lowered = name.lower()
                self._values[lowered] = f"{self._values[lowered]},{value}" if lowered in self._values else value

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()]

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return self._values.get(name.lower(), default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


class HomeAdmission:
    """The admission hook without authentication: every stream is admitted but one whose node id
    names another account or region than the server's (``auth.arns.foreign_node``). It is refused
    with PERMISSION_DENIED and the reason, which the proxy status shows (``refused: ...``), rather
    than served an empty configuration that would look SYNCED. Other ids, malformed ones
    included, are admitted as before (the proxy status then carries the translator's diagnostic).
    """

    def __init__(self, config: Config) -> None:
        self.account = config.account_id
        self.region = config.region

    def __call__(self, opening: StreamOpening) -> Refusal | None:
        try:
            parsed = parse_node_id(opening.node.id)
        except ValueError:
            return None
        foreign = foreign_node(parsed, self.account, self.region)
        return None if foreign is None else Refusal(grpc.StatusCode.PERMISSION_DENIED, foreign)

    def listening_on(self, port: int) -> None:
        """Nothing depends on the port (the same interface as XdsAdmission)."""


def admission_for(config: Config, port: int) -> XdsAdmission | HomeAdmission:
    """The hook the xDS server should use under ``config``: with ``--auth sigv4`` or a client CA
    (mutual TLS) an :class:`XdsAdmission`, else a :class:`HomeAdmission` (every stream admitted
    but those naming another account or region, as without authentication)."""
    sigv4 = config.auth == "sigv4"
    if not sigv4 and not config.xds_client_ca:
        return HomeAdmission(config)
    lookup: Lookup | None = None
    if sigv4:
        from meshplane.auth.keys import KeyStore

        lookup = KeyStore(config).get
    return XdsAdmission(config, lookup, port)


