"""Rendering proxy status as a terminal table (`meshplane proxy-status`)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

TYPES = ("CDS", "EDS", "LDS", "RDS")


def _cell(types: Mapping[str, Any], short: str) -> str:
    status = types.get(short)
    if not status:
        return "NOT_SENT"
    state = str(status.get("state", "NOT_SENT"))
    version = status.get("versionAcked") or status.get("versionSent") or ""
    return f"{state} ({version[-8:]})" if version else state


def format_table(proxies: Sequence[Mapping[str, Any]], now: float | None = None) -> str:
    """One line per proxy stream: node id, mesh, the four xDS types' states, protocol, age, problems."""
    now = time.time() if now is None else now
    header = ("NAME", "MESH", *TYPES, "PROTOCOL", "CONNECTED", "NOTES")
    rows = [header]
    for p in proxies:
        age = int(now - float(p["connectedSince"]))
        notes = []
        for short in TYPES:
            error = (p["types"].get(short) or {}).get("error")
            if error:
                notes.append(f"{short} NACK: {error.splitlines()[0][:80]}")
        notes += list(p.get("diagnostics", []))[:2]
        rows.append((
            p["nodeId"], p.get("meshName") or "-", *(_cell(p["types"], t) for t in TYPES), p["protocol"],
            f"{age}s" if p["connected"] else "disconnected", "; ".join(notes),
        ))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header) - 1)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r[:-1], widths)) + ("  " + r[-1] if r[-1] else "") for r in rows]
    return "\n".join(line.rstrip() for line in lines) + "\n"
