"""Fixtures for the import/export tests: servers over databases the test knows the path of."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from format_helpers import Server


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Server]]:
    """Two servers over two fresh databases (source and destination)."""
    started: list[Server] = []
    try:
        for name in ("source", "target"):
            started.append(Server(tmp_path, name))
        yield started
    finally:
        for server in started:
            server.process.stop()
