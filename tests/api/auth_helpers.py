"""Helpers for tests against `meshplane serve --auth sigv4`: the server, its keys, signed clients."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from procs import BIN, MeshplaneServer, env_with_venv

AUTH_ACCOUNT = "111122223333"
AUTH_REGION = "us-east-1"


@dataclass
class AuthServer:
    """A running server with auth on: its database (for `meshplane keys`), audit log and admin key."""

    server: MeshplaneServer
    db: Path
    audit_log: Path
    admin: dict[str, str]

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    def keys(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``meshplane keys ARGS --db DB`` (as an operator would, while the server runs)."""
        proc = subprocess.run([str(BIN / "meshplane"), "keys", *args, "--db", str(self.db)], capture_output=True,
                              text=True, timeout=60, env=env_with_venv())
        if check:
            assert proc.returncode == 0, f"meshplane keys {' '.join(args)}: {proc.stdout}{proc.stderr}"
        return proc

    def create_key(self, name: str, *, admin: bool = False, policy: dict[str, Any] | None = None,
                   expires: str | None = None) -> dict[str, str]:
        """A new key as `meshplane keys create` prints it ({"AccessKeyId", "SecretAccessKey", "Name"})."""
        args = ["create", "--name", name]
        if admin:
            args.append("--admin")
        if policy is not None:
            path = self.db.parent / f"{name}.policy.json"
            path.write_text(json.dumps(policy))
            args += ["--policy", str(path)]
        if expires:
            args += ["--expires", expires]
        return json.loads(self.keys(*args).stdout)

    def audit_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.audit_log.read_text().splitlines() if line.strip()]


def appmesh_client(endpoint: str, key: dict[str, str] | None, region: str = AUTH_REGION):  # type: ignore[no-untyped-def]
    """A boto3 App Mesh client signing with ``key`` (None: unsigned), one attempt per call."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config as BotoConfig

    config = BotoConfig(retries={"max_attempts": 1}, signature_version=UNSIGNED if key is None else None)
    return boto3.client(
        "appmesh", endpoint_url=endpoint, region_name=region, config=config,
        aws_access_key_id=key["AccessKeyId"] if key else "unused",
        aws_secret_access_key=key["SecretAccessKey"] if key else "unused",
    )
