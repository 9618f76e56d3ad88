"""Polling meshplane's view of its proxies (/meshplane/v1/proxies) with deadlines."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import requests

from polling import wait_for  # noqa: F401 - re-exported: the tests import it from here

CORE_TYPES: tuple[str, ...] = ("CDS", "EDS", "LDS", "RDS")


def proxy_streams(endpoint: str, node_id: str, connected_only: bool = True) -> list[dict[str, Any]]:
    """The stored streams of ``node_id`` as /meshplane/v1/proxies?mesh=... answers them."""
    mesh = node_id.split("/")[1]
    response = requests.get(f"{endpoint}/meshplane/v1/proxies", params={"mesh": mesh}, timeout=5)
    response.raise_for_status()
    return [p for p in response.json()["proxies"]
            if p["nodeId"] == node_id and (p["connected"] or not connected_only)]


def proxy_types(endpoint: str, node_id: str) -> dict[str, dict[str, Any]] | None:
    """The per-type status of the node's one connected stream, or None while it has none."""
    streams = proxy_streams(endpoint, node_id)
    return streams[0]["types"] if len(streams) == 1 else None


def published_config(endpoint: str, node_id: str) -> dict[str, Any]:
    """The resources meshplane last published to ``node_id`` (/meshplane/v1/proxies/<id>/config)."""
    response = requests.get(f"{endpoint}/meshplane/v1/proxies/{node_id}/config", timeout=5)
    response.raise_for_status()
    return response.json()["resources"]


def synced(types: Mapping[str, Mapping[str, Any]] | None, wanted: Iterable[str] = CORE_TYPES,
           not_acked: Mapping[str, str | None] | None = None) -> bool:
    """Every wanted type is SYNCED, and for each type in ``not_acked`` a version other than the
    one given there was acknowledged (so a *new* config arrived, not just the old one)."""
    if types is None:
        return False
    for name in wanted:
        if types.get(name, {}).get("state") != "SYNCED":
            return False
    for name, old in (not_acked or {}).items():
        if types.get(name, {}).get("versionAcked") in (None, old):
            return False
    return True


def wait_synced(endpoint: str, node_id: str, timeout: float = 20.0, wanted: Iterable[str] = CORE_TYPES,
                not_acked: Mapping[str, str | None] | None = None,
                also: Callable[[dict[str, dict[str, Any]]], bool] | None = None) -> dict[str, dict[str, Any]]:
    """Poll until the node's connected stream is SYNCED (see :func:`synced`); returns its types."""
    wanted = tuple(wanted)
    last: list[Any] = [None]

    def check() -> dict[str, dict[str, Any]] | None:
        types = last[0] = proxy_types(endpoint, node_id)
        if synced(types, wanted, not_acked) and (also is None or also(types)):  # type: ignore[arg-type]
            return types
        return None

    return wait_for(check, timeout, lambda: f"{node_id} to be SYNCED on {wanted} (last: {last[0]})")


def wait_state(endpoint: str, node_id: str, type_name: str, state: str,
               timeout: float = 20.0) -> dict[str, dict[str, Any]]:
    """Poll until ``type_name`` of the node's connected stream is in ``state``; returns its types."""
    last: list[Any] = [None]

    def check() -> dict[str, dict[str, Any]] | None:
        types = last[0] = proxy_types(endpoint, node_id)
        return types if types and types.get(type_name, {}).get("state") == state else None

    return wait_for(check, timeout, lambda: f"{node_id} {type_name} to be {state} (last: {last[0]})")


def acked_versions(types: Mapping[str, Mapping[str, Any]]) -> dict[str, str | None]:
    """type -> acknowledged version, to wait for the next one."""
    return {name: status.get("versionAcked") for name, status in types.items()}
