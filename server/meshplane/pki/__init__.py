"""A small certificate authority for meshplane's TLS, and certificate-file reloading.

For trying TLS out and for tests (``meshplane tls dev-ca``); production deployments bring their
own PKI (cert-manager, SPIRE, a corporate CA) and give meshplane the files. Private keys are
written mode 0600 and never printed.

    ca = create_ca()
    server = issue_server(ca, ["localhost", "127.0.0.1"])
    proxy = issue_client(ca, [spiffe_id("meshplane.local", "demo", "virtualNode", "web")], "web")

* :mod:`meshplane.pki.ca` - the CA (these names are re-exported here, imported on first use:
  ``cryptography`` costs a plain start nothing).
* :mod:`meshplane.pki.reload` - noticing replaced certificate files (API and xDS).
* :mod:`meshplane.pki.credentials` - the xDS listener's gRPC credentials, re-read on change.
* :mod:`meshplane.pki.cli` - ``meshplane tls dev-ca`` and the servers' TLS flags.
"""

from __future__ import annotations

from typing import Any

_CA_NAMES = ("PROXY_KINDS", "Issued", "create_ca", "issue_client", "issue_server", "load", "parse_spiffe",
             "spiffe_id", "uri_sans", "write_pem")

__all__ = list(_CA_NAMES)


def __getattr__(name: str) -> Any:
    if name in _CA_NAMES:
        from meshplane.pki import ca

        return getattr(ca, name)
    raise AttributeError(f"module 'meshplane.pki' has no attribute {name!r}")
