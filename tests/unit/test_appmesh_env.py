"""`meshplane envoy-bootstrap --appmesh-env` (the stock image's environment) and `--stats-tags`."""

from __future__ import annotations

import json

import yaml
from click.testing import CliRunner

from meshplane.bootstrap import appmesh_stats_tags
from meshplane.cli import main

NODE = "mesh/dj-app/virtualNode/dj"


def run(*args: str) -> str:
    result = CliRunner().invoke(main, ["envoy-bootstrap", "--node-id", NODE, *args], env={"MESHPLANE_REGION": "eu-west-1"})
    assert result.exit_code == 0, result.output
    return result.output


def test_env_lines_for_a_task_definition() -> None:
    out = run("--xds", "xds.example.com:443", "--appmesh-env", "--stats-tags")
    assert out.splitlines() == [f"APPMESH_RESOURCE_ARN={NODE}", "APPMESH_XDS_ENDPOINT=xds.example.com:443",
                                "AWS_REGION=eu-west-1", "ENABLE_ENVOY_STATS_TAGS=1"]


def test_ecs_environment_json_and_the_secret_never_printed() -> None:
    out = run("--xds", "xds.example.com:443", "--appmesh-env", "--format", "ecs", "--access-key-id", "MPAKEXAMPLE",
              "--secret-access-key", "do-not-print-me")
    assert "do-not-print-me" not in out
    body = json.loads(out[out.index("["):out.rindex("]") + 1])
    assert {"name": "AWS_ACCESS_KEY_ID", "value": "MPAKEXAMPLE"} in body
    assert {"name": "APPMESH_XDS_ENDPOINT", "value": "xds.example.com:443"} in body


def test_k8s_annotation_leaves_the_controller_s_variables_out() -> None:
    out = run("--xds", "xds.example.com:443", "--appmesh-env", "--format", "k8s", "--region", "us-west-2")
    assert out.strip() == 'appmesh.k8s.aws/sidecarEnv: "APPMESH_XDS_ENDPOINT=xds.example.com:443"'


def test_bad_node_id_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["envoy-bootstrap", "--node-id", "nope", "--appmesh-env"])
    assert result.exit_code == 2 and "expected mesh/<mesh>/virtualNode/<name>" in result.output


def test_stats_tags_as_the_agent_writes_them() -> None:
    doc = yaml.safe_load(run("--stats-tags"))
    tags = doc["stats_config"]["stats_tags"]
    assert tags[:2] == [{"tag_name": "appmesh.mesh", "fixed_value": "dj-app"},
                        {"tag_name": "appmesh.virtual_node", "fixed_value": "dj"}]
    assert [t["tag_name"] for t in tags[2:]] == ["appmesh.listener_protocol", "appmesh.listener_port",
                                                 "envoy_rds_route_config"]
    assert "stats_config" not in yaml.safe_load(run())
    assert appmesh_stats_tags("mesh/m@111122223333/virtualGateway/g")[:2] == [
        {"tag_name": "appmesh.mesh", "fixed_value": "m@111122223333"},
        {"tag_name": "appmesh.virtual_gateway", "fixed_value": "g"}]
