"""Helpers of the import/export tests (a module of its own: every test folder has a conftest.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from procs import BIN, MeshplaneServer


def make_client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config as BotoConfig

    return boto3.client("appmesh", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE",
                        aws_secret_access_key="secret", config=BotoConfig(retries={"max_attempts": 1}))


class Server:
    """A running meshplane server, its database path and a boto3 client for it."""

    def __init__(self, tmp: Path, name: str) -> None:
        self.db = tmp / f"{name}.db"
        self.process = MeshplaneServer(self.db, tmp / f"{name}.log")
        self.endpoint = self.process.endpoint
        self.appmesh: Any = make_client(self.endpoint)


def meshplane(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `meshplane` command; returns the completed process (never raises on exit codes)."""
    return subprocess.run([str(BIN / "meshplane"), *args], input=stdin, capture_output=True, text=True, timeout=120)
