"""Timestamps between App Mesh (epoch seconds) and text (RFC 3339, as Terraform and `aws` show them)."""

from __future__ import annotations

from datetime import datetime, timezone


def parse_time(text: str) -> float:
    """``2026-12-01T20:09:20Z`` / ``2026-12-01T20:09:20.123000+00:00`` -> epoch seconds.

    :raises ValueError: not an ISO-8601 date-time with a zone (a zone-less value is taken as UTC).
    """
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return round(value.timestamp(), 3)


def rfc3339(epoch: float) -> str:
    """Epoch seconds as hashicorp/aws shows them (Go ``time.RFC3339``: whole seconds, UTC)."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
