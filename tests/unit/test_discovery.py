"""The Cloud Map poller (meshplane.discovery) against moto's server over real HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cloud_map import CloudMap, aws_env
from procs import MotoServer

from meshplane.discovery import CloudMapPoller, Instance, Query, cloud_map_client, discover


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def aws(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """The standard AWS variables pointing boto3 at moto (what an operator sets for a local endpoint)."""
    for name, value in aws_env(moto.endpoint).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_DISABLE_HOST_PREFIX_INJECTION", raising=False)
    return moto.endpoint


def test_the_client_follows_the_standard_configuration_and_drops_the_data_host_prefix(aws: str) -> None:
    cloud = CloudMap(aws, "prefix.local")
    cloud.service("web")
    cloud.register("web", "i-1", ipv4="10.0.0.1")
    client = cloud_map_client("eu-west-1")
    assert client.meta.endpoint_url == aws
    assert client.meta.region_name == "us-east-1"  # AWS_DEFAULT_REGION wins over the fallback
    # Without the prefix switched off, botocore would send this to http://data-127.0.0.1:<port>.
    instances, revision = discover(client, Query("prefix.local", "web"), "HEALTHY_OR_ELSE_ALL")
    assert instances == (Instance("i-1", "10.0.0.1", None),)
    assert revision is not None


def test_attributes_filter_and_health_status_select_instances(aws: str) -> None:
    cloud = CloudMap(aws, "filters.local")
    cloud.service("api")
    cloud.register("api", "a", ipv4="10.0.0.1", stage="blue")
    cloud.register("api", "b", ipv4="10.0.0.2", ipv6="fd00::2", stage="green")
    cloud.register("api", "c", ipv4="10.0.0.3", stage="green")
    client = cloud_map_client("us-east-1")

    def ids(query: Query, health: str = "HEALTHY_OR_ELSE_ALL") -> list[str]:
        return [i.instance_id for i in discover(client, query, health)[0]]

    assert ids(Query("filters.local", "api")) == ["a", "b", "c"]
    assert ids(Query("filters.local", "api", (("stage", "green"),))) == ["b", "c"]
    assert ids(Query("filters.local", "api", (("stage", "blue"),))) == ["a"]
    assert discover(client, Query("filters.local", "api", (("stage", "green"),)), "ALL")[0][0] == \
        Instance("b", "10.0.0.2", "fd00::2")
    cloud.set_health("api", "c", "UNHEALTHY")
    green = Query("filters.local", "api", (("stage", "green"),))
    assert ids(green) == ["b"]                      # HEALTHY_OR_ELSE_ALL: the healthy ones
    assert ids(green, "HEALTHY") == ["b"]
    assert ids(green, "UNHEALTHY") == ["c"]
    assert ids(green, "ALL") == ["b", "c"]
    cloud.set_health("api", "b", "UNHEALTHY")
    cloud.set_health("api", "a", "UNHEALTHY")
    assert ids(green) == ["b", "c"]                 # none healthy: all of them
    assert ids(green, "HEALTHY") == []


class Recorder:
    def __init__(self) -> None:
        self.changes: list[tuple[float, set[Query]]] = []
        self.statuses: list[set[Query]] = []
        self.event = threading.Event()

    def change(self, queries: set[Query]) -> None:
        self.changes.append((time.monotonic(), queries))
        self.event.set()

    def status(self, queries: set[Query]) -> None:
        self.statuses.append(queries)
        self.event.set()


def wait(check, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.01)
    raise AssertionError("timed out")


def test_the_poller_reports_register_and_deregister_within_one_interval(aws: str) -> None:
    cloud = CloudMap(aws, "poll.local")
    cloud.service("db")
    query = Query("poll.local", "db")
    seen = Recorder()
    poller = CloudMapPoller(0.5, "HEALTHY_OR_ELSE_ALL", "us-east-1", seen.change, seen.status)
    poller.set_queries([query])
    poller.start()
    try:
        wait(lambda: poller.answers().get(query) == ())
        delays = []
        for step in range(4):
            before = len(seen.changes)
            started = time.monotonic()
            if step % 2 == 0:
                cloud.register("db", f"i-{step}", ipv4=f"10.1.0.{step + 1}")
            else:
                cloud.deregister("db", f"i-{step - 1}")
            wait(lambda: len(seen.changes) > before)
            delays.append(seen.changes[-1][0] - started)
        assert poller.answers()[query] == ()
        assert max(delays) <= 0.5 + 0.2, delays
        status = poller.status(query)
        assert status is not None and status.error is None and status.failures == 0
    finally:
        poller.stop()


def test_an_unreachable_cloud_map_keeps_the_last_answer_and_backs_off(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    moto = MotoServer(tmp_path / "moto.log")
    try:
        for name, value in aws_env(moto.endpoint).items():
            monkeypatch.setenv(name, value)
        cloud = CloudMap(moto.endpoint, "down.local")
        cloud.service("svc")
        cloud.register("svc", "i-1", ipv4="10.2.0.1")
        query = Query("down.local", "svc")
        seen = Recorder()
        poller = CloudMapPoller(0.2, "HEALTHY_OR_ELSE_ALL", "us-east-1", seen.change, seen.status)
        poller.set_queries([query])
        poller.start()
        try:
            wait(lambda: poller.answers().get(query))
            moto.stop()
            status = wait(lambda: (s := poller.status(query)) is not None and s.failures >= 3 and s)
            assert status.instances == (Instance("i-1", "10.2.0.1", None),)  # kept
            assert status.error and "Could not connect" in status.error
            assert status.refreshed_at is not None and time.time() - status.refreshed_at > 0.2
            assert poller.answers()[query] == status.instances
            # Backoff: 2, 4, 8 intervals (x0.8-1.0), capped at 16: far fewer calls than every 0.2 s.
            time.sleep(2.0)
            assert poller.status(query).failures <= 6  # type: ignore[union-attr]
        finally:
            poller.stop()
    finally:
        moto.stop()


def test_the_settings_come_from_flags_or_the_environment_and_bad_values_are_refused() -> None:
    from meshplane.config import Config

    config = Config.from_env({"MESHPLANE_CLOUDMAP_INTERVAL": "0.5", "MESHPLANE_CLOUDMAP_HEALTH_STATUS": "healthy"})
    assert (config.cloudmap_interval, config.cloudmap_health_status) == (0.5, "HEALTHY")
    assert Config.from_env({}).cloudmap_interval == 5.0
    assert Config.from_env({}).cloudmap_health_status == "HEALTHY_OR_ELSE_ALL"
    child = Config.from_env(config.to_env())  # what `meshplane serve` hands the xDS process
    assert (child.cloudmap_interval, child.cloudmap_health_status) == (0.5, "HEALTHY")
    for env, reason in (({"MESHPLANE_CLOUDMAP_INTERVAL": "soon"}, "not a number"),
                        ({"MESHPLANE_CLOUDMAP_INTERVAL": "0"}, "between 0.1 and 3600"),
                        ({"MESHPLANE_CLOUDMAP_HEALTH_STATUS": "GREEN"}, "must be one of")):
        with pytest.raises(ValueError, match=reason):
            Config.from_env(env)
