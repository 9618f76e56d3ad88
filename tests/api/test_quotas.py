"""Quotas answer LimitExceededException and are configurable."""

from __future__ import annotations

import pytest

from clients import make_client
from procs import MeshplaneServer, env_with_venv


@pytest.fixture(scope="module")
def small_quota_client(tmp_path_factory, backend, request):
    tmp = tmp_path_factory.mktemp("quota")
    db = tmp / "q.db" if backend == "sqlite" else request.getfixturevalue("postgres").create_database("quota")
    server = MeshplaneServer(db, tmp / "q.log",
                             env=env_with_venv({"MESHPLANE_QUOTA_VIRTUALNODES": "2", "MESHPLANE_QUOTA_BACKENDS": "1",
                                                "MESHPLANE_QUOTA_MESHES": "3"}))
    try:
        yield make_client(server.endpoint)
    finally:
        server.stop()


def test_quota_on_nodes_per_mesh(small_quota_client):
    c = small_quota_client
    c.create_mesh(meshName="q")
    c.create_virtual_node(meshName="q", virtualNodeName="a", spec={})
    c.create_virtual_node(meshName="q", virtualNodeName="b", spec={})
    with pytest.raises(c.exceptions.LimitExceededException) as err:
        c.create_virtual_node(meshName="q", virtualNodeName="c", spec={})
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert len(c.list_virtual_nodes(meshName="q")["virtualNodes"]) == 2


def test_quota_on_backends_per_node(small_quota_client):
    c = small_quota_client
    c.create_mesh(meshName="q2")
    backends = [{"virtualService": {"virtualServiceName": f"s{i}.local"}} for i in range(2)]
    with pytest.raises(c.exceptions.LimitExceededException):
        c.create_virtual_node(meshName="q2", virtualNodeName="a", spec={"backends": backends})
