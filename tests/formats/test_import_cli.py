"""`meshplane import` / `meshplane export` as commands (click's runner, in process): messages and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from backends import BACKENDS
from click.testing import CliRunner
from test_formats import COLOR_APP_CFN, STATE

from meshplane.cli import main


def run(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)


@pytest.mark.parametrize("backend", BACKENDS)
def test_import_cloudformation_with_set_then_export_each_format(tmp_path: Path, make_db, backend) -> None:
    db = make_db(backend, "m")
    (tmp_path / "color.yaml").write_text(COLOR_APP_CFN)
    missing = run("import", str(tmp_path / "color.yaml"), "--db", db)
    assert missing.exit_code == 1 and "--set ColorTellerBlackVirtualNode=" in missing.output
    bad = run("import", str(tmp_path / "color.yaml"), "--db", db, "--set", "oops")
    assert bad.exit_code == 2 and "expected LogicalId=name" in bad.output
    done = run("import", str(tmp_path / "color.yaml"), "--db", db, "--set", "ColorTellerBlackVirtualNode=black")
    assert done.exit_code == 0, done.output
    assert "VirtualNode: 2 created" in done.output and "6 created, 0 unchanged" in done.output
    for fmt, name in (("json", "meshplane-export.json"), ("terraform", "main.tf"),
                      ("cloudformation", "meshplane.yaml"), ("k8s", "meshplane-k8s.yaml")):
        out = run("export", "--db", db, "--format", fmt, "--out", str(tmp_path / fmt))
        assert out.exit_code == 0, out.output
        assert (tmp_path / fmt / name).read_text()
    printed = run("export", "--db", db, "--mesh", "ColorApp")
    assert json.loads(printed.stdout)["resources"][0]["meshName"] == "ColorApp"
    unknown = run("export", "--db", db, "--mesh", "nope")
    assert unknown.exit_code == 1 and "no such mesh: nope" in unknown.output


@pytest.mark.parametrize("backend", BACKENDS)
def test_import_errors_exit_1_and_change_nothing(tmp_path: Path, make_db, backend) -> None:
    db = make_db(backend, "m")
    absent = run("import", str(tmp_path / "absent.tfstate"), "--db", db)
    assert absent.exit_code == 1 and "cannot read" in absent.output
    state = json.loads(json.dumps(STATE))
    state["resources"][1]["instances"][0]["attributes"]["spec"][0]["listener"][0]["port_mapping"][0]["port"] = 0
    state["resources"][1]["instances"][0]["attributes"]["spec"][0]["listener"][0]["port_mapping"][0]["protocol"] = "udp"
    out = run("import", "-", "--db", db, stdin=json.dumps(state))
    assert out.exit_code == 1
    assert ('<stdin>: module.app.aws_appmesh_virtual_node.vn["a"]: VirtualNode demo/svc-a: ' in out.output
            and "spec.listeners[0].portMapping" in out.output), out.output
    assert json.loads(run("export", "--db", db).stdout)["resources"] == []
