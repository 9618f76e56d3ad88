"""`meshplane keys` and a signed server over a PostgreSQL database: the key file beside the process,
the URL (and its password) never on a command line, never in output."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from clients import make_client
from procs import BIN, MeshplaneServer, env_with_venv


def test_keys_made_with_the_cli_sign_requests_to_a_postgresql_server(tmp_path: Path, pg_url: str) -> None:
    key_file = tmp_path / "shared.key"
    env = env_with_venv({"MESHPLANE_DB": pg_url, "MESHPLANE_KEY_FILE": str(key_file)})
    made = subprocess.run([str(BIN / "meshplane"), "keys", "create", "--name", "ops", "--admin"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)
    listed = subprocess.run([str(BIN / "meshplane"), "keys", "list"], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=60)
    assert listed.returncode == 0 and "ops" in listed.stdout
    password = pg_url.split(":")[2].split("@")[0]
    server = MeshplaneServer(pg_url, tmp_path / "s.log", "--auth", "sigv4", env=env)
    try:
        signed = make_client(server.endpoint, aws_access_key_id=key["AccessKeyId"],
                             aws_secret_access_key=key["SecretAccessKey"])
        signed.create_mesh(meshName="keys-on-pg")
        assert [m["meshName"] for m in signed.list_meshes()["meshes"]] == ["keys-on-pg"]
        cmdlines = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in _family(server.pid)]
        assert cmdlines and not any(password.encode() in c for c in cmdlines)
        assert password not in server.log()
        # With a key in the database, the first start made no admin key of its own.
        assert not (tmp_path / "meshplane.admin-key.json").exists()
    finally:
        server.stop()
    assert password not in made.stdout + made.stderr + listed.stdout + listed.stderr


def _family(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        try:
            todo += [int(c) for c in Path(f"/proc/{current}/task/{current}/children").read_text().split()]
        except OSError:
            pass
    return out
