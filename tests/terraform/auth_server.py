"""A meshplane server with authentication (``meshplane serve --auth sigv4``) for client tests.

Keys are made the way an operator makes them, with ``meshplane keys create`` on the database
(it prints ``{"AccessKeyId", "SecretAccessKey", "Name"}`` once); the server writes one JSON audit
line per write and per refused request to ``audit.log``, which tells how many requests a client
really sent (a refusal must be sent once, never retried). ``SignedRest`` reads the server
independently of the client under test, signed with the admin key.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tf_workspace import Rest

from meshplane.terraform.client import ApiError, Client, Credentials
from procs import BIN, MeshplaneServer, env_with_venv

ACCOUNT = "111122223333"
REGION = "us-east-1"


def keys(db: Path, *args: str) -> str:
    """Run ``meshplane keys ARGS --db DB``; its standard output."""
    proc = subprocess.run([str(BIN / "meshplane"), "keys", *args, "--db", str(db)], capture_output=True, text=True,
                          timeout=60, env=env_with_venv())
    assert proc.returncode == 0, f"meshplane keys {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def create_key(db: Path, name: str, *, admin: bool = False, policy: dict[str, Any] | None = None,
               expires: str | None = None) -> Credentials:
    """A new key (admin, or allowed by ``policy``; ``expires`` as ``--expires`` takes it) as the
    credentials a client signs with."""
    args = ["create", "--name", name]
    if admin:
        args.append("--admin")
    if expires is not None:
        args += ["--expires", expires]
    if policy is not None:
        path = db.parent / f"{name}.policy.json"
        path.write_text(json.dumps(policy))
        args += ["--policy", str(path)]
    printed = json.loads(keys(db, *args))
    return Credentials(printed["AccessKeyId"], printed["SecretAccessKey"])


def mesh_policy(*meshes: str) -> dict[str, Any]:
    """Everything App Mesh on ``meshes`` and their children, nothing else (not even ListMeshes)."""
    resources = []
    for mesh in meshes:
        resources += [f"arn:aws:appmesh:{REGION}:{ACCOUNT}:mesh/{mesh}", f"arn:aws:appmesh:{REGION}:{ACCOUNT}:mesh/{mesh}/*"]
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "appmesh:*", "Resource": resources}]}


def key_env(key: Credentials | None, *, aws: bool = False) -> dict[str, str]:
    """The environment a client takes ``key`` from: MESHPLANE_* (or AWS_* with ``aws``); the other unset."""
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if aws else (
        "MESHPLANE_ACCESS_KEY_ID", "MESHPLANE_SECRET_ACCESS_KEY")
    if key is None:
        return {}
    return {names[0]: key.access_key_id, names[1]: key.secret_access_key}


CREDENTIAL_VARIABLES = ("MESHPLANE_ACCESS_KEY_ID", "MESHPLANE_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID",
                        "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION",
                        "AWS_DEFAULT_REGION", "MESHPLANE_CA_FILE", "AWS_CA_BUNDLE")


def use_key(env: dict[str, str], key: Credentials | None, *, aws: bool = False) -> None:
    """Make ``key`` (None: no key at all) the only credentials in ``env``, a workspace's environment."""
    for name in CREDENTIAL_VARIABLES[:6]:
        env.pop(name, None)
    env.update(key_env(key, aws=aws))


@dataclass
class AuthServer:
    """``meshplane serve --auth sigv4`` on 127.0.0.1:0 with an admin key; stop() by PID."""

    process: MeshplaneServer
    db: Path
    admin: Credentials
    audit_path: Path
    ca_file: Path | None = None

    @property
    def endpoint(self) -> str:
        return self.process.endpoint

    def audit(self) -> list[dict[str, Any]]:
        """Every audit line written so far."""
        if not self.audit_path.exists():
            return []
        return [json.loads(line) for line in self.audit_path.read_text().splitlines() if line.strip()]

    def refusals(self, key_id: str | None = None) -> list[dict[str, Any]]:
        """Audit lines of refused requests (of key ``key_id`` when given)."""
        return [line for line in self.audit() if line.get("outcome") != "allowed"
                and (key_id is None or line.get("key_id") == key_id)]

    def wait_refusals(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The refusals once there are at least ``count`` (or whatever there is after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while len(lines := self.refusals()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return lines

    def rest(self) -> SignedRest:
        return SignedRest(self.endpoint, self.admin, str(self.ca_file) if self.ca_file else None)

    def stop(self) -> None:
        self.process.stop()


def start_auth_server(directory: Path, *extra: str, name: str = "server") -> AuthServer:
    """A fresh database with an admin key ``admin``, served with ``--auth sigv4`` and an audit log."""
    directory.mkdir(parents=True, exist_ok=True)
    db = directory / "meshplane.db"
    admin = create_key(db, "admin", admin=True)
    audit = directory / "audit.log"
    process = MeshplaneServer(db, directory / f"{name}.log", "--auth", "sigv4", "--audit-log", str(audit), *extra)
    return AuthServer(process, db, admin, audit)


class SignedRest(Rest):
    """tf_workspace.Rest (what the server holds, read independently of Terraform), signed with a key."""

    def __init__(self, endpoint: str, key: Credentials, ca_file: str | None = None) -> None:
        super().__init__(endpoint)
        self.client = Client(endpoint, key, REGION, ca_file)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None, **params: str) -> Any:
        target, _, query = path.partition("?")
        merged = dict(pair.split("=", 1) for pair in query.split("&") if pair) | params
        return self.client.call(method, "/v20190125" + target, merged, body)

    def get(self, path: str) -> dict[str, Any] | None:
        try:
            return self._call("GET", path)  # type: ignore[no-any-return]
        except ApiError as err:
            if err.not_found:
                return None
            raise

    def put(self, path: str, body: dict[str, Any], **params: str) -> dict[str, Any]:
        return self._call("PUT", path, body, **params)  # type: ignore[no-any-return]

    def delete(self, path: str) -> None:
        self._call("DELETE", path)

    def tags(self, arn: str) -> dict[str, str]:
        return {t["key"]: t["value"] for t in self._call("GET", "/tags", resourceArn=arn)["tags"]}

    def mesh_names(self) -> list[str]:
        return sorted(m["meshName"] for m in self._call("GET", "/meshes")["meshes"])
