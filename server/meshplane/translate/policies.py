"""App Mesh listener and client policies -> IR: TLS, connection pools, logging, health, outliers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from typing import Literal

from . import ir
from . import specs


def listener_tls(listener: specs.Spec, where: str, diagnostics: list[str]) -> ir.DownstreamTls | None | Literal[False]:
    """A listener's TLS termination.

    Returns the IR, None for plaintext (no TLS or mode DISABLED), or False when STRICT TLS has no
    certificate: the caller then serves nothing on that port (fail closed). An ACM certificate
    becomes a certificate meshplane's mesh CA issues for the proxy (``mesh_certificate``: the
    certificate ARN itself is not used).
    """
    tls = specs.sub(listener, "tls")
    mode = tls.get("mode")
    if not tls or mode not in ("STRICT", "PERMISSIVE"):
        return None
    certificate = specs.sub(tls, "certificate")
    file = specs.sub(certificate, "file")
    sds = specs.sub(certificate, "sds").get("secret_name")
    chain, key = file.get("certificate_chain"), file.get("private_key")
    acm = isinstance(specs.sub(certificate, "acm").get("certificate_arn"), str)
    if not (isinstance(chain, str) and isinstance(key, str)) and not isinstance(sds, str) and not acm:
        diagnostics.append(f"{where}: TLS certificate missing")
        return False if mode == "STRICT" else None
    trust = specs.sub(tls, "validation", "trust")
    return ir.DownstreamTls(
        mode=mode,
        certificate_chain=chain if isinstance(chain, str) else None,
        private_key=key if isinstance(key, str) else None,
        certificate_sds=sds if isinstance(sds, str) else None,
        trust_file=_str(specs.sub(trust, "file").get("certificate_chain")),
        trust_sds=_str(specs.sub(trust, "sds").get("secret_name")),
        subject_alt_names=_sans(specs.sub(tls, "validation")),
        mesh_certificate=acm and not isinstance(chain, str) and not isinstance(sds, str),
    )


def client_tls(policy: specs.Spec, port: int, sni: str | None, where: str, diagnostics: list[str]) -> ir.UpstreamTls | None | Literal[False]:
    """TLS origination from a client policy for a backend on ``port``.

    None when TLS does not apply (no policy, ``enforce: false``, or ``port`` not listed). An ACM
    trust becomes meshplane's mesh CA trust bundle (``mesh_trust``: the CA ARNs are not used).
    The False of the return type is kept for callers that fail closed on an unservable policy.
    """
    tls = specs.sub(policy, "tls")
    if not tls or tls.get("enforce") is False:
        return None
    ports = tls.get("ports")
    if ports and port not in ports:
        return None
    trust = specs.sub(tls, "validation", "trust")
    certificate = specs.sub(tls, "certificate")
    file = specs.sub(certificate, "file")
    return ir.UpstreamTls(
        sni=sni,
        certificate_chain=_str(file.get("certificate_chain")),
        private_key=_str(file.get("private_key")),
        certificate_sds=_str(specs.sub(certificate, "sds").get("secret_name")),
        trust_file=_str(specs.sub(trust, "file").get("certificate_chain")),
        trust_sds=_str(specs.sub(trust, "sds").get("secret_name")),
        subject_alt_names=_sans(specs.sub(tls, "validation")),
        mesh_trust="acm" in trust,
    )


def connection_limits(listener: specs.Spec, protocol: str) -> ir.Limits:
    """A listener's connectionPool as circuit breakers (everything else stays unlimited)."""
    pool = specs.sub(listener, "connection_pool", protocol)
    if not pool:
        return ir.NO_LIMITS
    values: dict[str, int] = {}
    for key in ("max_connections", "max_pending_requests", "max_requests"):
        value = pool.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            values[key] = value
    return ir.Limits(**values) if values else ir.NO_LIMITS


def access_log(spec: specs.Spec) -> ir.AccessLog | None:
    """``logging.access_log.file``: path plus text or json format."""
    file = specs.sub(spec, "logging", "access_log", "file")
    path = file.get("path")
    if not isinstance(path, str):
        return None
    fmt = specs.sub(file, "format")
    if isinstance(fmt.get("text"), str):
        return ir.AccessLog(path, text=fmt["text"])
    entries = fmt.get("json")
    if isinstance(entries, list):
        pairs = tuple(
            (entry["key"], entry["value"])
            for entry in entries
            if isinstance(entry, Mapping) and isinstance(entry.get("key"), str) and isinstance(entry.get("value"), str)
        )
        return ir.AccessLog(path, json=pairs)
    return ir.AccessLog(path)


def health_check(listener: specs.Spec) -> ir.HealthCheck | None:
    """A node listener's healthCheck; App Mesh runs it from the clients' egress clusters."""
    check = specs.sub(listener, "health_check")
    required = ("interval_millis", "timeout_millis", "healthy_threshold", "unhealthy_threshold")
    if not check or not all(isinstance(check.get(key), int) for key in required):
        return None
    protocol = check.get("protocol")
    if not isinstance(protocol, str):
        protocol = "tcp"
    path = check.get("path")
    if not isinstance(path, str):
        path = "/"
    return ir.HealthCheck(
        protocol=protocol,
        interval_ms=check["interval_millis"],
        timeout_ms=check["timeout_millis"],
        healthy_threshold=check["healthy_threshold"],
        unhealthy_threshold=check["unhealthy_threshold"],
        path=path,
    )


def outlier(listener: specs.Spec) -> ir.Outlier | None:
    """A node listener's outlierDetection; App Mesh applies it in the clients' egress clusters."""
    detection = specs.sub(listener, "outlier_detection")
    interval = specs.duration_ms(detection.get("interval"))
    base = specs.duration_ms(detection.get("base_ejection_duration"))
    percent, errors = detection.get("max_ejection_percent"), detection.get("max_server_errors")
    if interval is None or base is None or not isinstance(percent, int) or not isinstance(errors, int):
        return None
    return ir.Outlier(interval_ms=interval, base_ejection_ms=base, max_ejection_percent=percent, max_server_errors=errors)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _sans(validation: specs.Spec) -> tuple[str, ...]:
    names = specs.sub(validation, "subject_alternative_names", "match").get("exact")
    return tuple(name for name in names or () if isinstance(name, str))
