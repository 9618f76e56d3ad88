"""Zero-diff migration with the meshplane provider: the four meshplane_* examples applied in one root
(as modules), the database discarded, terraform.tfstate imported into an empty running server, and
`terraform plan -detailed-exitcode` returns 0. (hashicorp/aws: tests/terraform_aws/test_import_state_aws.py.)
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from procs import BIN, MeshplaneServer
from tf_workspace import Workspace

pytestmark = pytest.mark.terraform

EXAMPLES = Path(__file__).resolve().parents[2] / "terraform-examples"
NAMES = ("dj-app-canary", "color-app-ingress", "bookinfo", "service-b-canary")


def test_state_import_keeps_meshplane_plan_at_no_changes(example_workspace: Workspace, tmp_path: Path) -> None:
    ws = example_workspace
    ws.dir.mkdir(parents=True, exist_ok=True)
    root = []
    for name in NAMES:
        module = ws.dir / "modules" / name
        module.mkdir(parents=True)
        for tf in ("main.tf", "variables.tf"):
            (module / tf).write_text((EXAMPLES / name / tf).read_text())
        root.append(f'module "{name.replace("-", "_")}" {{\n  source = "./modules/{name}"\n}}\n')
    ws.write("\n".join(root))

    first = MeshplaneServer(tmp_path / "first.db", tmp_path / "first.log")
    try:
        ws.env["MESHPLANE_ENDPOINT"] = first.endpoint
        ws.init()
        ws.apply()
    finally:
        first.stop()
    state = ws.dir / "terraform.tfstate"
    count = sum(len(r["instances"]) for r in json.loads(state.read_text())["resources"] if r["mode"] == "managed")

    second = MeshplaneServer(tmp_path / "second.db", tmp_path / "second.log")
    try:
        done = subprocess.run([str(BIN / "meshplane"), "import", str(state), "--db", str(tmp_path / "second.db")],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[-1] == f"{count} created, 0 unchanged, 0 replaced, 0 skipped", done.stdout
        ws.env["MESHPLANE_ENDPOINT"] = second.endpoint
        ws.plan()  # -detailed-exitcode: 0 = no changes
    finally:
        state.unlink(missing_ok=True)  # the databases are throw-away: nothing to destroy
        second.stop()
