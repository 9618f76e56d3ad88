"""A Terraform workspace for hashicorp/aws: terraform in its own process group, killed whole on timeout."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from tf_workspace import Result, Workspace


class GroupWorkspace(Workspace):
    """A Workspace whose terraform runs in its own process group, killed whole on timeout.

    hashicorp/aws needs ~10 s of CPU per command (more on a busy machine), hence the long default
    timeout; killing only terraform would orphan the provider processes it started.
    """

    def run(self, *args: str, expect: int | tuple[int, ...] | None = 0, timeout: float = 600) -> Result:
        started = time.monotonic()
        proc = subprocess.Popen([self.terraform, *args, "-no-color"], cwd=self.dir, env=self.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            raise AssertionError(f"terraform {' '.join(args)} timed out after {timeout}s:\n{out}") from None
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        result = Result(proc.returncode, out, time.monotonic() - started)
        self.timings.append((args[0], result.seconds))
        allowed = (expect,) if isinstance(expect, int) else expect
        if allowed is not None and result.rc not in allowed:
            raise AssertionError(f"terraform {' '.join(args)} -> {result}")
        return result
