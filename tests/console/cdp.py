"""A tiny Chrome DevTools Protocol client: headless Chromium driven over one websocket.

Just what the console tests need (navigate, evaluate, wait for a condition, screenshot); the
websocket is websocket-client's, the browser is Debian's ``chromium`` package, started by PID with
a fresh profile and stopped with its whole process group.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import time
from pathlib import Path
from typing import Any

import websocket
from procs import Process

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-default-apps",
    "--mute-audio", "--hide-scrollbars", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
)
ENSURE_SCRIPT = "tests/console/ensure_chromium.sh"


def chromium_binary() -> str | None:
    """Debian's chromium (or a chromium-browser / google-chrome on PATH), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class BrowserError(AssertionError):
    pass


class Browser:
    """One headless Chromium with one page, driven over CDP.

    :param workdir: holds the fresh profile (``--user-data-dir``) and Chromium's log.
    :param size: the window size in CSS pixels (screenshots have this size).
    """

    def __init__(self, workdir: Path, size: tuple[int, int] = (1440, 900), timeout: float = 30.0) -> None:
        binary = chromium_binary()
        if binary is None:
            raise BrowserError(f"no chromium on PATH: run {ENSURE_SCRIPT} (installs Debian's chromium package)")
        profile = workdir / "profile"
        profile.mkdir(parents=True, exist_ok=True)
        self.process = Process([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                                f"--window-size={size[0]},{size[1]}", "about:blank"], workdir / "chromium.log")
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        try:
            port_file = profile / "DevToolsActivePort"
            deadline = time.monotonic() + timeout
            while not (port_file.exists() and port_file.read_text().strip()):
                if self.process.popen.poll() is not None or time.monotonic() > deadline:
                    raise BrowserError(f"chromium did not open its DevTools port:\n{self.process.log()[-3000:]}")
                time.sleep(0.05)
            port = int(port_file.read_text().split()[0])
            self.ws = self._connect_page(port, deadline)
            self.send("Page.enable")
            self.send("Runtime.enable")
            self.send("Emulation.setDeviceMetricsOverride", width=size[0], height=size[1], deviceScaleFactor=1,
                      mobile=False)
        except BaseException:
            self.process.stop()
            raise

    def _connect_page(self, port: int, deadline: float) -> websocket.WebSocket:
        import requests

        while True:
            try:
                targets = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
                pages = [t for t in targets if t.get("type") == "page"]
                if pages:
                    # No Origin header: Chromium accepts DevTools websockets without one.
                    return websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=30,
                                                       suppress_origin=True)
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise BrowserError(f"no page target on DevTools port {port}")
            time.sleep(0.05)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a CDP method and return its result (events that arrive meanwhile are kept)."""
        ident = next(self._ids)
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            if "method" in message:
                self.events.append(message)
                del self.events[:-500]

    def navigate(self, url: str) -> None:
        self.send("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises awaited); page exceptions raise."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:200]}: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def wait(self, expression: str, timeout: float = 10.0, interval: float = 0.05) -> Any:
        """Poll ``expression`` until it is truthy (returned) or fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            try:
                last = self.evaluate(expression)
            except BrowserError as exc:
                last = exc
            else:
                if last:
                    return last
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out after {timeout}s waiting for {expression!r} (last: {last!r}; "
                                   f"page errors: {self.console_errors()})")
            time.sleep(interval)

    def console_errors(self) -> list[str]:
        """Exceptions thrown in the page so far."""
        return [str(e["params"].get("exceptionDetails", {}).get("exception", {}).get("description", e["params"]))
                for e in self.events if e.get("method") == "Runtime.exceptionThrown"]

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        """Ask Chromium to quit (quicker than a signal: it skips its shutdown tasks), then make
        sure its whole process group is gone."""
        try:
            self.ws.send(json.dumps({"id": next(self._ids), "method": "Browser.close", "params": {}}))
            self.process.popen.wait(timeout=5)
        except Exception:  # noqa: BLE001 - the browser is stopped by PID next anyway
            pass
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001
            pass
        self.process.stop(timeout=5)
