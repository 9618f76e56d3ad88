"""A network namespace with App Mesh's traffic capture, for tests of the iptables layout.

App Mesh's sidecar saw every outbound TCP connection of the app: iptables in the task's network
namespace redirected it to Envoy's egress listener on 15001 (``REDIRECT``, so the listener's
``original_dst`` filter recovers where the app was going), every process but Envoy's user
being captured. `Namespace` rebuilds that on this machine: a fresh namespace (its own loopback,
its own ports 443 and 15001), rules that leave the proxy's user (root here, like the servers
the test starts there) alone and redirect everyone else's TCP, and processes started inside
it with ``ip netns exec``. The test's app runs as ``APP_UID``.

Needs root, iproute2 and iptables (tests/ensure_iptables.sh installs Debian's package);
`unavailable` says why not otherwise.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from procs import Process

APP_UID = 65534  # nobody: the app's user, captured by the rules
PEERS = Path(__file__).with_name("netns_peers.py")
_names = itertools.count(1)


@functools.cache
def unavailable() -> str | None:
    """Why namespaces with iptables rules cannot be made here, or None when they can (tried once)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"no {tool} command (iproute2, iptables: tests/ensure_iptables.sh)"
    try:
        Namespace().delete()
    except (OSError, RuntimeError, subprocess.SubprocessError) as error:
        return f"cannot make a network namespace with iptables rules here: {error}"
    return None


class Namespace:
    """A network namespace of our own (``mp-<pid>-<n>``), deleted by `delete`."""

    def __init__(self, egress_port: int = 15001) -> None:
        self.name = f"mp-{os.getpid()}-{next(_names)}"
        added = subprocess.run(["ip", "netns", "add", self.name], capture_output=True, text=True, timeout=10)
        if added.returncode != 0:
            raise RuntimeError(f"ip netns add {self.name}: {added.stderr.strip()}")
        try:
            self._run(["ip", "link", "set", "lo", "up"])
            # App Mesh's egress capture (its APPMESH_EGRESS chain): the proxy's own user goes
            # out as is, any other user's TCP goes to the egress listener.
            self._run(["iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-m", "owner", "--uid-owner", "0", "-j", "RETURN"])
            self._run(["iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-j", "REDIRECT", "--to-ports", str(egress_port)])
        except BaseException:
            self.delete()
            raise

    def argv(self, command: Sequence[str]) -> list[str]:
        """``command`` run inside the namespace (``ip netns exec`` execs it: same pid)."""
        return ["ip", "netns", "exec", self.name, *command]

    def _run(self, command: Sequence[str], timeout: float = 10) -> str:
        done = subprocess.run(self.argv(command), capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} in {self.name}: exit {done.returncode}\n{done.stdout}{done.stderr}")
        return done.stdout

    def peer(self, *args: str, uid: int | None = None) -> Any:
        """Run one client command of netns_peers.py inside the namespace (as ``uid`` when
        given: the app) and return its JSON result."""
        extra = [str(uid)] if uid is not None else []
        return json.loads(self._run([sys.executable, str(PEERS), *args, *extra]))

    def get(self, url: str) -> str:
        """GET ``url`` from inside the namespace, as root (not captured): Envoy's admin."""
        return self._run([sys.executable, str(PEERS), "get", url])

    def server(self, log_path: Path, *args: str) -> Process:
        """Start a netns_peers.py server inside the namespace and wait until it listens."""
        process = Process(self.argv([sys.executable, str(PEERS), *args]), log_path)
        try:
            process.wait_for_line(r"ready", timeout=15)
        except BaseException:
            process.stop()
            raise
        return process

    def delete(self) -> None:
        """Remove the namespace (stop the processes inside it first)."""
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True, timeout=10)
