"""gRPC server credentials for the xDS listener, re-reading the certificate files on change.

``grpc.dynamic_ssl_server_credentials`` asks a fetcher for the certificate configuration at every
TLS handshake; ours answers None (keep the current one) unless the files changed and load as a
pair, so a renewed certificate (or client CA bundle) is served to the next connection without a
restart, and open streams are never disturbed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import grpc

from meshplane.pki.reload import FileWatch, usable_pair

log = logging.getLogger("meshplane.tls")


def _config(cert: str, key: str, client_ca: str | None) -> grpc.ServerCertificateConfiguration:
    return grpc.ssl_server_certificate_configuration(
        [(Path(key).read_bytes(), Path(cert).read_bytes())],
        root_certificates=Path(client_ca).read_bytes() if client_ca else None,
    )


def xds_server_credentials(cert: str, key: str, client_ca: str | None = None) -> grpc.ServerCredentials:
    """TLS credentials from PEM files; with ``client_ca``, mutual TLS: a client certificate signed
    by that CA bundle is required. The files are re-read when they change (see the module).

    :raises ValueError: the files do not load as a certificate and its key.
    """
    if not usable_pair(cert, key, client_ca):
        raise ValueError(f"xDS TLS: {cert} and {key} do not load as a certificate and its key"
                         + (f" (or {client_ca} holds no CA certificate)" if client_ca else ""))
    files = FileWatch([p for p in (cert, key, client_ca) if p])
    pending = [False]

    def fetch() -> grpc.ServerCertificateConfiguration | None:
        # Runs at each handshake: a stat per file when nothing changed.
        if not (files.changed() or pending[0]):
            return None
        if not usable_pair(cert, key, client_ca):
            pending[0] = True  # half-written: try again at the next handshake
            return None
        pending[0] = False
        log.info("xDS TLS certificate files changed (%s); new connections get the new ones", cert)
        return _config(cert, key, client_ca)

    return grpc.dynamic_ssl_server_credentials(
        _config(cert, key, client_ca), fetch, require_client_authentication=bool(client_ca))
