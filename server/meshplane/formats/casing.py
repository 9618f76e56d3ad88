"""Key casing between the App Mesh wire (camelCase) and CloudFormation (PascalCase with acronyms)."""

from __future__ import annotations

from typing import Any

#: CloudFormation's acronym keys (VirtualNode and VirtualGateway specs; import.md §5) -> wire keys.
ACRONYMS = {"TLS": "tls", "SDS": "sds", "ACM": "acm", "GRPC": "grpc", "HTTP": "http", "HTTP2": "http2",
            "TCP": "tcp", "AWSCloudMap": "awsCloudMap", "DNS": "dns"}
_TO_ACRONYM = {v: k for k, v in ACRONYMS.items()}

#: Wire members whose value CloudFormation may write as a string ("8080", "true"); CFN coerces them.
NUMBERS = frozenset({"port", "ports", "weight", "value", "priority", "maxRetries", "healthyThreshold",
                     "unhealthyThreshold", "timeoutMillis", "intervalMillis", "maxConnections",
                     "maxPendingRequests", "maxRequests", "maxServerErrors", "maxEjectionPercent", "start", "end"})
BOOLEANS = frozenset({"enforce", "invert"})


def to_wire(value: Any, parent_key: str = "") -> Any:
    """A CloudFormation Spec tree as the wire spec: keys camelCase (acronyms mapped), numeric strings
    of numeric members as numbers, ``"true"``/``"false"`` of boolean members as booleans."""
    if isinstance(value, dict):
        out = {}
        for key, sub in value.items():
            wire_key = ACRONYMS.get(key) or (key[:1].lower() + key[1:])
            out[wire_key] = to_wire(sub, wire_key)
        return out
    if isinstance(value, list):
        return [to_wire(v, parent_key) for v in value]
    if isinstance(value, str):
        if parent_key in NUMBERS and value.strip().lstrip("-").isdigit():
            return int(value)
        if parent_key in BOOLEANS and value.lower() in ("true", "false"):
            return value.lower() == "true"
    return value


def from_wire(value: Any, acronyms: bool) -> Any:
    """The wire spec as CloudFormation writes it (``acronyms``: VirtualNode/VirtualGateway keys)."""
    if isinstance(value, dict):
        out = {}
        for key, sub in value.items():
            cfn_key = (_TO_ACRONYM.get(key) if acronyms else None) or (key[:1].upper() + key[1:])
            out[cfn_key] = from_wire(sub, acronyms)
        return out
    if isinstance(value, list):
        return [from_wire(v, acronyms) for v in value]
    return value
