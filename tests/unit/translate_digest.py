"""Digest of everything translate/ builds for a corpus of meshes, to compare two builds of it.

Run as a script (``python tests/unit/translate_digest.py``) it prints one JSON object: the
status of `meshplane.accel` (compiled or plain Python) and, per case, a SHA-256 over every
proxy's resources (deterministic serialization) and diagnostics. test_accel.py runs it with
the compiled translate and with ``MESHPLANE_ACCEL=0`` and compares.

The corpus: every golden state, each proxy in both layouts (iptables and one-host overrides),
plus seeded mutations of those states' specs (keys and items dropped or repeated, values and
references swapped for others of the same JSON type), so the compiled code is checked on the defensive
paths too, plus a built-in 200-node mesh built in one pass.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import sys
from pathlib import Path
from typing import Any

GOLDEN_IN = Path(__file__).parent / "testdata" / "in"
MUTATIONS_PER_STATE = 30
STRINGS = ("", "x", "/", "/api", "ENDPOINTS", "LOADBALANCER", "DISABLED", "IPv6_PREFERRED", "http2", "tcp", "ms", "s")
INTS = (0, 1, 3, 80, 100, 8080, 65535, 70000)


def _mutate(value: Any, rng: random.Random, names: list[str]) -> Any:
    """A copy of a spec with a few random changes that keep its JSON shape: keys and list items
    dropped or repeated, strings, numbers and booleans swapped for others (references for
    other resources' names, or names of none)."""
    if isinstance(value, dict):
        return {key: _mutate(item, rng, names) for key, item in value.items() if rng.random() > 0.04}
    if isinstance(value, list):
        items = [_mutate(item, rng, names) for item in value if rng.random() > 0.05]
        if items and rng.random() < 0.1:
            items.append(copy.deepcopy(rng.choice(items)))
        return items
    if rng.random() > 0.12:
        return value
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return rng.choice(INTS)
    if isinstance(value, str):
        return rng.choice(names) if rng.random() < 0.5 else rng.choice(STRINGS)
    return value


def _mutate_state(state: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """``state`` with every spec mutated (the structure around the specs kept)."""
    names = sorted({name for key in ("virtual_nodes", "virtual_services", "virtual_routers", "virtual_gateways")
                    for name in state.get(key, {})}) + ["missing"]
    out = dict(state, mesh_spec=_mutate(state.get("mesh_spec", {}), rng, names))
    for key in ("virtual_nodes", "virtual_services", "virtual_routers", "virtual_gateways"):
        out[key] = {name: _mutate(spec, rng, names) for name, spec in state.get(key, {}).items()}
    for key in ("routes", "gateway_routes"):
        out[key] = {parent: {name: _mutate(spec, rng, names) for name, spec in children.items()}
                    for parent, children in state.get(key, {}).items()}
    return out


def _states() -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for path in sorted(GOLDEN_IN.glob("*.json")):
        state = json.loads(path.read_text())["state"]
        cases.append((path.stem, state))
        rng = random.Random(path.stem)
        for index in range(MUTATIONS_PER_STATE):
            cases.append((f"{path.stem}~{index}", _mutate_state(state, rng)))
    return cases


def _render(config: Any) -> bytes:
    parts = []
    for url in sorted(config.resources):
        for name, message in sorted(config.resources[url].items()):
            parts.append(f"{url} {name} ".encode() + message.SerializeToString(deterministic=True))
    parts.append("\n".join(config.diagnostics).encode())
    return b"\0".join(parts)


def digests() -> dict[str, Any]:
    """Status and per-case digests (see the module docstring)."""
    from meshplane import accel
    from meshplane.translate import LocalOverrides
    from meshplane.translate import MeshState
    from meshplane.translate import ProxyRef
    from meshplane.translate import build_all

    one_host = LocalOverrides(ingress_port=20000, egress_port=20001, app_address="127.0.0.2")
    result: dict[str, str] = {}
    errors = 0
    for case, data in _states():
        h = hashlib.sha256()
        try:
            state = MeshState.from_dict(data)
            mesh = state.mesh_name
            proxies = [ProxyRef(mesh, "virtualNode", name) for name in state.virtual_nodes]
            proxies += [ProxyRef(mesh, "virtualGateway", name) for name in state.virtual_gateways]
            proxies.append(ProxyRef(mesh, "virtualNode", "missing"))
            for overrides in (LocalOverrides(), one_host):
                configs = build_all(state, {proxy: overrides for proxy in proxies})
                for proxy in proxies:
                    h.update(f"{proxy}\n".encode() + _render(configs[proxy]))
            result[case] = h.hexdigest()
        except Exception as error:  # noqa: BLE001  (a crash must be the same crash in both builds)
            errors += 1
            result[case] = f"error {type(error).__name__}"
    sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
    from translate import bench_mesh

    state = bench_mesh(200)
    configs = build_all(state, [ProxyRef("bench", "virtualNode", f"node-{i}") for i in range(200)])
    result["bench-200"] = hashlib.sha256(b"".join(_render(config) for config in configs.values())).hexdigest()
    return {"status": accel.STATUS.get("meshplane.translate"), "errors": errors, "cases": result}


if __name__ == "__main__":
    json.dump(digests(), sys.stdout)
