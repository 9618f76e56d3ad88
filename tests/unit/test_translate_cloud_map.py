"""Translation of virtual nodes with awsCloudMap discovery: the discovered instances (passed in as
data) become the EDS endpoints of their clients' clusters (docs/translation.md, "Cloud Map")."""

from __future__ import annotations

from typing import Any

import pytest
from test_translate import DJ, dj_state

from meshplane.translate import CLUSTER_TYPE, ENDPOINT_TYPE, CloudMapInstance, LocalOverrides, MeshState, Translator
from meshplane.translate import check_consistent
from meshplane.translate import build_proxy_config, cloud_map_key
from meshplane.translate.cloudmap import addresses

CLUSTER = "cds_egress_dj-app_jazz-v2_http_9080"
KEY = ("prod", "jazz", (("stage", "canary"), ("version", "2")))


def cloud_map_state(**discovery: Any) -> MeshState:
    data = dj_state(mesh_spec=discovery.pop("mesh_spec", None))
    data["virtual_nodes"]["jazz-v2"]["service_discovery"] = {"aws_cloud_map": {
        "namespace_name": "prod", "service_name": "jazz",
        "attributes": [{"key": "version", "value": "2"}, {"key": "stage", "value": "canary"}], **discovery}}
    return MeshState.from_dict(data)


def endpoints(config: Any) -> list[str]:
    assignment = config.resources[ENDPOINT_TYPE][CLUSTER]
    return [f"{e.endpoint.address.socket_address.address}:{e.endpoint.address.socket_address.port_value}"
            for locality in assignment.endpoints for e in locality.lb_endpoints]


def test_the_key_is_namespace_service_and_sorted_attributes() -> None:
    state = cloud_map_state()
    assert cloud_map_key(state.virtual_nodes["jazz-v2"]["service_discovery"]) == KEY
    assert cloud_map_key({"dns": {"hostname": "x"}}) is None
    assert cloud_map_key({"aws_cloud_map": {"namespace_name": "ns"}}) is None


def test_discovered_instances_become_the_clients_eds_endpoints_on_the_listener_port() -> None:
    found = {KEY: (CloudMapInstance("10.0.0.2", None), CloudMapInstance("10.0.0.1", "fd00::1"),
                   CloudMapInstance("10.0.0.1", None))}
    config = build_proxy_config(cloud_map_state(), DJ, cloud_map=found)
    check_consistent(config)
    assert config.diagnostics == ()
    assert endpoints(config) == ["10.0.0.1:9080", "10.0.0.2:9080"]  # sorted, no repeats
    assert config.resources[CLUSTER_TYPE][CLUSTER].type == config.resources[CLUSTER_TYPE][CLUSTER].EDS


def test_not_yet_discovered_gives_an_empty_assignment_and_the_cluster_never_changes() -> None:
    state = cloud_map_state()
    empty = build_proxy_config(state, DJ)
    check_consistent(empty)
    assert endpoints(empty) == []
    full = build_proxy_config(state, DJ, cloud_map={KEY: (CloudMapInstance("10.0.0.1", None),)})
    # Only the assignment differs: a Cloud Map change sends EDS alone.
    for kind in empty.resources:
        if kind != ENDPOINT_TYPE:
            assert empty.resources[kind] == full.resources[kind], kind
    assert empty.resources[ENDPOINT_TYPE] != full.resources[ENDPOINT_TYPE]


@pytest.mark.parametrize(("preference", "where", "expected"), [
    (None, "none", ["10.0.0.1", "10.0.0.2"]),
    ("IPv4_PREFERRED", "node", ["10.0.0.1", "10.0.0.2"]),
    ("IPv6_PREFERRED", "node", ["10.0.0.1", "fd00::2"]),
    ("IPv4_ONLY", "node", ["10.0.0.1", "10.0.0.2"]),
    ("IPv6_ONLY", "node", ["fd00::2"]),
    ("IPv6_ONLY", "mesh", ["fd00::2"]),
])
def test_ip_preference_picks_the_address(preference: str | None, where: str, expected: list[str]) -> None:
    instances = (CloudMapInstance("10.0.0.1", None), CloudMapInstance("10.0.0.2", "fd00::2"))
    kwargs: dict[str, Any] = {}
    if where == "node":
        kwargs["ip_preference"] = preference
    elif where == "mesh":
        kwargs["mesh_spec"] = {"service_discovery": {"ip_preference": preference}}
    config = build_proxy_config(cloud_map_state(**kwargs), DJ, cloud_map={KEY: instances})
    assert [e.rsplit(":", 1)[0] for e in endpoints(config)] == expected


def test_the_node_preference_overrides_the_mesh_and_bad_addresses_are_skipped() -> None:
    assert addresses((CloudMapInstance("10.0.0.1", "fd00::1"),), "IPv6_PREFERRED") == ("fd00::1",)
    assert addresses((CloudMapInstance("not-an-ip", None), CloudMapInstance(None, None)), None) == ()
    state = cloud_map_state(ip_preference="IPv4_ONLY",
                            mesh_spec={"service_discovery": {"ip_preference": "IPv6_ONLY"}})
    config = build_proxy_config(state, DJ, cloud_map={KEY: (CloudMapInstance("10.0.0.1", "fd00::1"),)})
    assert endpoints(config) == ["10.0.0.1:9080"]


def test_a_fleet_build_gives_the_same_assignment_as_one_proxy() -> None:
    state = cloud_map_state()
    found = {KEY: (CloudMapInstance("10.0.0.1", None),)}
    (config,) = Translator(state, found).build_each([(DJ, LocalOverrides())])
    assert config.resources[ENDPOINT_TYPE][CLUSTER] == build_proxy_config(state, DJ, cloud_map=found).resources[
        ENDPOINT_TYPE][CLUSTER]
