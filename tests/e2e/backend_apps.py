"""Tiny backend apps for the end-to-end tests: threaded HTTP servers on 127.0.0.1:0 answering their name."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class BackendApp:
    """An HTTP/1.1 keep-alive server on 127.0.0.1:0 (or ``host``:``port``) whose every GET answers
    200 with ``name``.

    ``hits`` counts the requests it served (Envoy's health of the path, seen from the app's side).
    """

    def __init__(self, name: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.name = name
        self.hits = 0
        body = name.encode()
        app = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: Envoy pools its upstream connections
            # Without TCP_NODELAY the body's separate small write waits for Envoy's delayed ACK
            # (~40 ms per request), which would make a 2,000-request loop take a minute.
            disable_nagle_algorithm = True

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                app.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        # A short poll interval makes shutdown() quick (teardown stops many apps).
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name=f"app-{name}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self._server.shutdown()
        self._server.server_close()
