"""Starting and stopping the real processes tests use (meshplane, Envoy), by PID, on port 0."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

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
        if self.popen.poll() is None:
            os.killpg(self.pid, sig)

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


class MeshplaneServer(Process):
    """`meshplane serve` on 127.0.0.1:0 over ``db``; ``endpoint`` is its base URL once started."""

    def __init__(self, db: Path, log_path: Path, *args: str, xds: bool = False,
                 env: dict[str, str] | None = None) -> None:
        argv = [str(BIN / "meshplane"), "serve", "--db", str(db), "--api-listen", "127.0.0.1:0"]
        if not xds:
            argv += ["--xds-listen", "off"]
        super().__init__([*argv, *args], log_path, env=env)
        try:
            match = self.wait_for_line(r"meshplane API listening on (http://\S+)")
        except BaseException:
            self.stop()
            raise
        self.endpoint = match.group(1)
