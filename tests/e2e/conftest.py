"""Fixtures for the end-to-end tests: `meshplane serve` with xDS, backend apps, real Envoys.

Everything runs on loopback with ports the OS picks; every process is stopped by PID in teardown.
Each scenario runs over both ADS protocols (the ``xds_mode`` fixture: ``sotw`` and ``delta``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from backend_apps import BackendApp
from demo_meshes import appmesh_client
from procs import EnvoyProcess, MeshplaneServer, free_port
from proxy_sync import proxy_types, wait_for

from meshplane.bootstrap import envoy_bootstrap

BIND_ERRORS = ("address already in use", "cannot bind")


@pytest.fixture(params=["sotw", "delta"])
def xds_mode(request: pytest.FixtureRequest) -> str:
    """The ADS protocol the test's Envoys speak: state of the world or delta."""
    return str(request.param)


@pytest.fixture(scope="module")
def meshplane_xds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshplaneServer]:
    """One `meshplane serve` with the xDS streamer (both on port 0) for the test module."""
    tmp = tmp_path_factory.mktemp("meshplane")
    server = MeshplaneServer(tmp / "meshplane.db", tmp / "meshplane.log", xds=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api(meshplane_xds: MeshplaneServer) -> Any:
    """A boto3 App Mesh client for the module's server."""
    return appmesh_client(meshplane_xds.endpoint)


class Apps:
    """Starts backend apps by name; all are stopped at teardown."""

    def __init__(self) -> None:
        self.started: dict[str, BackendApp] = {}

    def start(self, *names: str) -> list[BackendApp]:
        for name in names:
            self.started[name] = BackendApp(name)
        return [self.started[name] for name in names]

    def __getitem__(self, name: str) -> BackendApp:
        return self.started[name]

    def stop_all(self) -> None:
        for app in self.started.values():
            app.stop()


@pytest.fixture
def apps() -> Iterator[Apps]:
    started = Apps()
    try:
        yield started
    finally:
        started.stop_all()


class Proxy:
    """A running Envoy for one node id, with the local ports it was given."""

    def __init__(self, node_id: str, process: EnvoyProcess, ingress_port: int | None, egress_port: int | None) -> None:
        self.node_id = node_id
        self.process = process
        self.ingress_port = ingress_port
        self.egress_port = egress_port

    @property
    def pid(self) -> int:
        return self.process.pid


class Envoys:
    """Starts real Envoys against a meshplane server and waits until they are configured.

    The one unavoidable race is a listener port that was free when picked and taken before Envoy
    binds it: Envoy then NACKs the listener with "Address already in use" and we retry with new
    ports (at most ``attempts`` times).
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.running: list[EnvoyProcess] = []
        self._count = 0

    def start(self, bootstrap: dict[str, Any], name: str, wrapper: Sequence[str] = ()) -> EnvoyProcess:
        """Start one Envoy from ``bootstrap`` (no waiting beyond its admin address); ``wrapper``
        prefixes its command (`EnvoyProcess`)."""
        self._count += 1
        process = EnvoyProcess(bootstrap, self.workdir, f"{self._count:02d}-{name}", wrapper=wrapper)
        self.running.append(process)
        return process

    def stop(self, process: EnvoyProcess) -> None:
        process.stop()
        if process in self.running:
            self.running.remove(process)

    def sidecar(self, server: MeshplaneServer, node_id: str, mode: str, ingress: bool = True,
                egress: bool = True, attempts: int = 3, timeout: float = 30.0) -> Proxy:
        """An Envoy for a virtual node in one-host mode (ingress/egress port overrides, app on
        127.0.0.1), started and waited for until every type is SYNCED."""
        last_error = ""
        for _ in range(attempts):
            ingress_port = free_port() if ingress else None
            egress_port = free_port() if egress else None
            bootstrap = envoy_bootstrap(node_id, str(server.xds_address), admin_port=0, ingress_port=ingress_port,
                                        egress_port=egress_port, app_address="127.0.0.1", delta=mode == "delta")
            process = self.start(bootstrap, node_id.rsplit("/", 1)[-1])
            outcome, _ = wait_configured(server.endpoint, node_id, process, timeout)
            if outcome == "ok":
                return Proxy(node_id, process, ingress_port, egress_port)
            last_error = outcome
            self.stop(process)
        raise AssertionError(f"{node_id} never bound its listeners: {last_error}")

    def gateway(self, server: MeshplaneServer, node_id: str, mode: str,
                rebind: Callable[[], None], attempts: int = 3, timeout: float = 30.0) -> Proxy:
        """An Envoy for a virtual gateway (listener ports from its spec), waited for until SYNCED.
        ``rebind`` moves the gateway's listener to a new free port if the old one was taken."""
        bootstrap = envoy_bootstrap(node_id, str(server.xds_address), admin_port=0, delta=mode == "delta")
        process = self.start(bootstrap, node_id.rsplit("/", 1)[-1])
        failed: str | None = None
        for _ in range(attempts):
            outcome, failed = wait_configured(server.endpoint, node_id, process, timeout, failed)
            if outcome == "ok":
                return Proxy(node_id, process, None, None)
            rebind()
        raise AssertionError(f"{node_id} never bound its listeners: {outcome}")

    def stop_all(self) -> None:
        for process in list(self.running):
            self.stop(process)


def wait_configured(endpoint: str, node_id: str, process: EnvoyProcess, timeout: float,
                    failed_version: str | None = None) -> tuple[str, str | None]:
    """(``ok``, None) once every type of the node's stream is SYNCED; else (Envoy's listener bind
    error, the LDS version it rejected). A rejection of ``failed_version`` (already handled) is ignored."""
    started = time.monotonic()
    last: list[Any] = [None]

    def check() -> tuple[str, str | None] | None:
        if not process.alive():
            raise AssertionError(f"envoy for {node_id} exited:\n{process.all_logs()}")
        types = last[0] = proxy_types(endpoint, node_id)
        if types is None:
            return None
        lds = types.get("LDS", {})
        error = lds.get("error") or ""
        if any(marker in error.lower() for marker in BIND_ERRORS) and lds.get("versionSent") != failed_version:
            return error, lds.get("versionSent")
        if all(types.get(t, {}).get("state") == "SYNCED" for t in ("CDS", "EDS", "LDS", "RDS")):
            return "ok", None
        return None

    result = wait_for(check, timeout, lambda: f"{node_id} to be SYNCED (last status: {last[0]})\n{process.all_logs()}")
    if result[0] == "ok":
        print(f"{node_id}: SYNCED {time.monotonic() - started:.2f}s after Envoy wrote its admin address")
    return result


@pytest.fixture
def envoys(tmp_path: Path) -> Iterator[Envoys]:
    started = Envoys(tmp_path / "envoy")
    try:
        yield started
    finally:
        started.stop_all()
