"""Whole-database summaries for the console (meshplane/console/): cheap reads, no writes.

Counts come from ``resource_counts`` (kept by triggers, migration m003), so summarising every mesh is
one indexed scan whatever the mesh sizes.
"""

from __future__ import annotations

from meshplane.store.database import Pool


def resource_counts(pool: Pool) -> dict[str, dict[str, int]]:
    """Resources per mesh and kind (routes and gateway routes summed over their parents):
    ``{mesh: {kind: n}}``; a mesh appears once it exists (its own row counts as ``mesh: 1``)."""
    rows = pool.get().execute(
        "SELECT mesh, kind, sum(n) FROM resource_counts GROUP BY mesh, kind ORDER BY mesh"
    ).fetchall()
    out: dict[str, dict[str, int]] = {}
    for mesh, kind, n in rows:
        out.setdefault(str(mesh), {})[str(kind)] = int(n)
    return out

