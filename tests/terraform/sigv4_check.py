"""Test helpers for the client-side signing: an independent SigV4 check and a recording HTTP(S) server.

``expected_signature`` recomputes a signature from a request *as the server received it*
(raw request target, header lines, body) with the standard library only, as AWS documents it
(path percent-encoded a second time, raw query pairs sorted, the headers SignedHeaders names,
the body's SHA-256), so it is independent of botocore, which the client signs with. ``RecordingServer`` is a real HTTP server on 127.0.0.1:0
(optionally TLS) that records every request and answers from a queue of canned responses.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import http.server
import ipaddress
import json
import re
import ssl
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
AUTH_RE = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                     r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$")


@dataclass
class Received:
    method: str
    target: str  # raw request target, still percent-encoded
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ",".join(values) if values else None


def expected_signature(request: Received, secret: str) -> tuple[str, str]:
    """(signature the server would compute, the Authorization header's signature)."""
    auth = request.header("authorization") or ""
    match = AUTH_RE.match(auth)
    assert match, f"malformed Authorization header: {auth!r}"
    _key_id, day, region, service, signed, given = match.groups()
    raw_path, _, raw_query = request.target.partition("?")
    path = urllib.parse.quote(raw_path, safe="/~") or "/"  # encode the (already encoded) path again
    pairs = sorted(tuple(p.partition("=")[::2]) for p in raw_query.split("&") if p) if raw_query else []
    query = "&".join(f"{k}={v}" for k, v in pairs)
    lines = []
    for name in signed.split(";"):
        value = request.header(name)
        assert value is not None, f"signed header {name} was not sent"
        lines.append(f"{name}:{' '.join(value.split())}\n")
    payload = request.header("x-amz-content-sha256") or hashlib.sha256(request.body).hexdigest()
    canonical = "\n".join([request.method, path, query, "".join(lines), signed, payload])
    stamp = request.header("x-amz-date") or ""
    assert stamp.startswith(day)
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), given


@dataclass
class Answer:
    status: int = 200
    body: dict[str, Any] = field(default_factory=dict)
    error_type: str | None = None


class RecordingServer:
    """A real HTTP(S) server on 127.0.0.1:0; answers ``answers`` in order (then 200 ``{}``)."""

    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        self.requests: list[Received] = []
        self.answers: list[Answer] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append(Received(self.command, self.path, list(self.headers.items()), body))
                answer = outer.answers.pop(0) if outer.answers else Answer()
                raw = json.dumps(answer.body).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                if answer.error_type:
                    self.send_header("x-amzn-ErrorType", answer.error_type)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_PUT = do_POST = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.endpoint = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def write_test_ca(directory: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key): a throw-away CA and a certificate for 127.0.0.1 it signed."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "meshplane test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = (directory / "ca.pem", directory / "server.pem", directory / "server.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths
