"""Benchmark: `meshplane import` of a large Terraform state, and `meshplane export` of the result.

    .venv/bin/python bench/import_export.py [--nodes N] [--repeat R] [--keep DIR]

Writes a terraform.tfstate as hashicorp/aws 5.x writes it (lists of one object, "" / 0 / [] for unset
members, tags_all, RFC 3339 dates, uids as ids) with one mesh and, per app i < N (default 2,000): a
virtual node (listener with a health check, two backends, DNS discovery, tags), a virtual service
provided by a virtual router, the router, and one route: 4N + 1 resources. Then, each in a fresh
database, times:

* import: read + validate + compare + write in one transaction (``formats.read`` + ``import_resources``),
  in process, as `meshplane import` runs it (the command adds ~0.3 s of interpreter start-up);
* re-import of the same file (every resource unchanged: nothing written);
* export as JSON (``exporter.resources`` + ``render``) and as Terraform HCL.

Targets (issue 12): import of the 2,000-node state <= 5 s, export <= 2 s. Prints the best of
``--repeat`` runs (default 3), wall and CPU time of this process (everything runs in it: no server),
and the file size. Run alone on a quiet machine; on a busy one the CPU time is the figure to read.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from meshplane.config import Config  # noqa: E402
from meshplane.formats import exporter, read  # noqa: E402
from meshplane.formats.importer import import_resources  # noqa: E402
from meshplane.store import ResourceStore, migrate  # noqa: E402

ACCOUNT, REGION, MESH = "111122223333", "us-east-1", "bench"
DATE = "2026-11-30T10:00:00Z"


def _common(kind: str, name: str, arn_tail: str, tags: dict[str, str] | None) -> dict[str, Any]:
    return {"arn": f"arn:aws:appmesh:{REGION}:{ACCOUNT}:mesh/{MESH}{arn_tail}", "created_date": DATE,
            "id": str(uuid.uuid4()) if kind != "mesh" else MESH, "last_updated_date": DATE,
            "mesh_owner": ACCOUNT, "name": name, "resource_owner": ACCOUNT,
            "tags": tags, "tags_all": {**(tags or {}), "team": "core"}}


def _res(type_name: str, name: str, instances: list[tuple[str, dict[str, Any]]], schema_version: int = 0) -> dict[str, Any]:
    return {"mode": "managed", "type": type_name, "name": name,
            "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
            "instances": [{"index_key": key, "schema_version": schema_version, "attributes": attrs,
                           "sensitive_attributes": [], "private": "bnVsbA=="} for key, attrs in instances]}


def _listener(port: int) -> dict[str, Any]:
    return {"connection_pool": [], "outlier_detection": [], "timeout": [], "tls": [],
            "port_mapping": [{"port": port, "protocol": "http"}],
            "health_check": [{"healthy_threshold": 2, "interval_millis": 5000, "path": "/ping", "port": 0,
                              "protocol": "http", "timeout_millis": 2000, "unhealthy_threshold": 3}]}


def make_state(n: int) -> dict[str, Any]:
    """A hashicorp/aws-shaped state with one mesh and ``n`` apps (node, service, router, route)."""
    mesh = _common("mesh", MESH, "", None)
    mesh["spec"] = [{"egress_filter": [{"type": "DROP_ALL"}], "service_discovery": []}]
    nodes, services, routers, routes = [], [], [], []
    for i in range(n):
        key = f"app-{i}"
        node = _common("vn", key, f"/virtualNode/{key}", {"app": key})
        node["mesh_name"] = MESH
        node["spec"] = [{"backend": [{"virtual_service": [{"client_policy": [],
                                                           "virtual_service_name": f"app-{(i + d) % n}.local"}]}
                                     for d in (1, 2)],
                         "backend_defaults": [], "listener": [_listener(8080)], "logging": [],
                         "service_discovery": [{"aws_cloud_map": [], "dns": [{"hostname": f"{key}.svc",
                                                                              "ip_preference": "", "response_type": ""}]}]}]
        nodes.append((key, node))
        router = _common("vr", f"{key}-router", f"/virtualRouter/{key}-router", None)
        router["mesh_name"] = MESH
        router["spec"] = [{"listener": [{"port_mapping": [{"port": 8080, "protocol": "http"}]}]}]
        routers.append((key, router))
        route = _common("route", f"{key}-route", f"/virtualRouter/{key}-router/route/{key}-route", None)
        route.update(mesh_name=MESH, virtual_router_name=f"{key}-router")
        route["spec"] = [{"grpc_route": [], "http2_route": [], "priority": 0, "tcp_route": [], "http_route": [{
            "action": [{"weighted_target": [{"port": 0, "virtual_node": key, "weight": 100}]}],
            "match": [{"header": [], "method": "", "path": [], "port": 0, "prefix": "/", "query_parameter": [],
                       "scheme": ""}], "retry_policy": [], "timeout": []}]}]
        routes.append((key, route))
        service = _common("vs", f"{key}.local", f"/virtualService/{key}.local", None)
        service["mesh_name"] = MESH
        service["spec"] = [{"provider": [{"virtual_node": [], "virtual_router": [
            {"virtual_router_name": f"{key}-router"}]}]}]
        services.append((key, service))
    return {"version": 4, "terraform_version": "1.11.4", "serial": 1, "lineage": str(uuid.uuid4()), "outputs": {},
            "resources": [_res("aws_appmesh_mesh", "m", [(None, mesh)]),  # type: ignore[list-item]
                          _res("aws_appmesh_route", "r", routes),
                          _res("aws_appmesh_virtual_node", "n", nodes, 1),
                          _res("aws_appmesh_virtual_router", "vr", routers, 1),
                          _res("aws_appmesh_virtual_service", "s", services)],
            "check_results": None}


def _timed(fn: Any) -> tuple[tuple[float, float], Any]:
    """((wall seconds, CPU seconds of this process), result): on a shared machine the CPU time
    shows what the work costs, the wall time what it took with the others running."""
    started, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return (time.perf_counter() - started, time.process_time() - cpu), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", help="write the state file (and databases) here instead of a temporary directory")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="meshplane-bench-ie-"))
    work.mkdir(parents=True, exist_ok=True)
    state_path = work / "terraform.tfstate"
    state_path.write_text(json.dumps(make_state(args.nodes), indent=2))
    text = state_path.read_text()
    print(f"state: {args.nodes} nodes, {4 * args.nodes + 1} resources, {len(text) / 1e6:.1f} MB ({state_path})")
    results: dict[str, list[tuple[float, float]]] = {"import": [], "re-import": [], "export json": [], "export terraform": []}
    for run in range(args.repeat):
        db = work / f"run{run}.db"
        for suffix in ("", "-wal", "-shm", "-writer"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        migrate(str(db))
        store = ResourceStore(Config(db=str(db)))
        try:
            seconds, outcome = _timed(lambda: import_resources(store, read(text, str(state_path))[1]))
            assert outcome.total("created") == 4 * args.nodes + 1, outcome.summary()
            results["import"].append(seconds)
            seconds, outcome = _timed(lambda: import_resources(store, read(text, str(state_path))[1]))
            assert outcome.total("unchanged") == 4 * args.nodes + 1, outcome.summary()
            results["re-import"].append(seconds)
            for fmt in ("json", "terraform"):
                seconds, files = _timed(lambda: exporter.render(fmt, exporter.resources(store), store))
                results[f"export {fmt}"].append(seconds)
        finally:
            store.close()
    for name, values in results.items():
        wall, cpu = min(values)
        runs = ", ".join(f"{w:.2f}/{c:.2f}" for w, c in values)
        print(f"{name:17s} best {wall:.2f} s wall, {cpu:.2f} s CPU  (runs wall/CPU: {runs})")


if __name__ == "__main__":
    main()
