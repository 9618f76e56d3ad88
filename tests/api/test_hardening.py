"""HTTP hardening (issue 14, item 9), against a real `meshplane serve` over real sockets.

* An answer given before the request body was read (unknown path, bad query parameter, body over
  1 MiB) leaves the keep-alive connection usable, and a client still sending its body reads the 400.
* A path with an empty segment (``//``) gets an App Mesh error, never a redirect.
* Ctrl-C (SIGINT to the whole process group) stops every process within 3 s; so does SIGTERM to
  `meshplane serve` alone.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from procs import BIN, MeshplaneServer, Process, env_with_venv

STOP_BUDGET_S = 3.0


# -- a raw HTTP/1.1 keep-alive connection ---------------------------------------------------------

class RawConnection:
    """One TCP connection speaking HTTP/1.1 by hand, so that nothing (urllib3's reconnects, its
    checks of idle connections) hides a connection the server dropped."""

    def __init__(self, endpoint: str) -> None:
        url = urlsplit(endpoint)
        self.sock = socket.create_connection((url.hostname, url.port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def head(self, method: str, path: str, length: int | None, *, chunked: bool = False) -> None:
        lines = [f"{method} {path} HTTP/1.1", "Host: meshplane", "Content-Type: application/json"]
        lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {length or 0}")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode())

    def response(self) -> tuple[int, dict[str, str], bytes]:
        status = self.reader.readline()
        if not status:
            raise ConnectionError("the server closed the connection instead of answering")
        headers: dict[str, str] = {}
        while (line := self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        body = self.reader.read(int(headers.get("content-length", "0")))
        return int(status.split()[1]), headers, body

    def healthz(self) -> None:
        """The next request on this connection must be answered."""
        self.send(b"GET /healthz HTTP/1.1\r\nHost: meshplane\r\n\r\n")
        status, headers, _ = self.response()
        assert status == 200
        assert headers.get("connection") != "close"

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hardening")
    server = MeshplaneServer(tmp / "h.db", tmp / "h.log")
    yield server
    server.stop()


def _error_type(headers: dict[str, str], body: bytes) -> str:
    assert json.loads(body)["__type"] == headers["x-amzn-errortype"]
    return headers["x-amzn-errortype"]


# -- 1. answers given before the body is read -----------------------------------------------------

#: Requests the API answers without reading their body: (method, path, expected error type).
EARLY_ERRORS = [
    ("PUT", "/v20190125/nothing-here", "NotFoundException"),
    ("POST", "/v20190125/meshes", "NotFoundException"),  # no such method on the collection
    ("PUT", "/v20190125/meshes/m/virtualNodes?meshOwner=x", "BadRequestException"),
    ("PUT", "/v20190125/meshes/m/virtualNodes?meshOwner=1234567890123", "BadRequestException"),
]


def test_an_error_before_the_body_is_read_keeps_the_connection(server):
    """600 malformed requests on keep-alive connections, each followed by a request on the same
    connection: every one answered. Small bodies sent right after their headers (the answer may be
    ready before the body arrived: this used to drop about one connection in three) and bodies
    larger than Granian's read buffer (~30 KB: always dropped)."""
    started = time.monotonic()
    failures: list[str] = []
    for size in (100, 40_000):
        body = b"{" + b" " * (size - 2) + b"}"
        conn = RawConnection(server.endpoint)
        for round_ in range(300):
            method, path, error_type = EARLY_ERRORS[round_ % len(EARLY_ERRORS)]
            try:
                conn.head(method, path, len(body))
                conn.send(body)
                status, headers, answer = conn.response()
                assert status in (400, 404) and _error_type(headers, answer) == error_type
                conn.healthz()
            except (OSError, ConnectionError, AssertionError) as error:
                failures.append(f"{method} {path} ({size} bytes): {type(error).__name__}: {error}")
                conn.close()
                conn = RawConnection(server.endpoint)
        conn.close()
    assert failures == [], f"{len(failures)} of 600 requests failed, e.g. {failures[:3]}"
    assert time.monotonic() - started < 30


def test_early_errors_keep_an_http_client_connection(server):
    """The same through http.client: the 4xx arrives and the one socket serves every request."""
    url = urlsplit(server.endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.connect()
        sock = conn.sock
        for round_ in range(100):
            method, path, error_type = EARLY_ERRORS[round_ % len(EARLY_ERRORS)]
            conn.request(method, path, body=b"{" + b" " * 50_000 + b"}", headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            assert response.getheader("x-amzn-ErrorType") == error_type
            assert conn.sock is sock, "the connection was closed after an error"
    finally:
        conn.close()


def test_a_client_still_sending_an_oversized_body_reads_the_400(server):
    """2 MiB (the limit is 1 MiB) sent in pieces: the client never gets a broken pipe or a reset;
    it reads the 400 and its connection still works."""
    size = 2 * 1024 * 1024
    piece = b" " * (64 * 1024)
    for attempt in range(4):
        conn = RawConnection(server.endpoint)
        try:
            conn.head("PUT", "/v20190125/meshes", size)
            for _ in range(size // len(piece)):
                conn.send(piece)
                time.sleep(0.002)  # still sending when the server has decided
            status, headers, answer = conn.response()
            assert status == 400 and _error_type(headers, answer) == "BadRequestException"
            assert "1 MiB" in json.loads(answer)["message"]
            conn.healthz()
        finally:
            conn.close()


def test_an_oversized_chunked_body_gets_the_400(server):
    conn = RawConnection(server.endpoint)
    try:
        conn.head("PUT", "/v20190125/meshes", None, chunked=True)
        piece = b" " * (64 * 1024)
        for _ in range(32):  # 2 MiB
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.send(b"0\r\n\r\n")
        status, headers, answer = conn.response()
        assert status == 400 and _error_type(headers, answer) == "BadRequestException"
        conn.healthz()
    finally:
        conn.close()


def test_requests_gets_the_400_for_an_oversized_body(server):
    with requests.Session() as session:
        for _ in range(10):
            response = session.put(server.endpoint + "/v20190125/meshes", data=b" " * (2 * 1024 * 1024 + 7),
                                   headers={"Content-Type": "application/json"}, timeout=10)
            assert response.status_code == 400
            assert response.headers["x-amzn-ErrorType"] == "BadRequestException"
            assert session.get(server.endpoint + "/healthz", timeout=10).status_code == 200


def test_a_well_formed_request_still_works_after_errors(server):
    """The drained bytes are the erroneous request's only: a create on the same connection works."""
    conn = RawConnection(server.endpoint)
    try:
        conn.head("PUT", "/v20190125/nothing-here", 50_000)
        conn.send(b" " * 50_000)
        assert conn.response()[0] == 404
        body = json.dumps({"meshName": "after-errors"}).encode()
        conn.head("PUT", "/v20190125/meshes", len(body))
        conn.send(body)
        status, _, answer = conn.response()
        assert status == 200 and json.loads(answer)["meshName"] == "after-errors"
    finally:
        conn.close()


# -- 2. empty path segments -----------------------------------------------------------------------

EMPTY_SEGMENT_PATHS = [
    "/v20190125//meshes",
    "/v20190125/meshes//virtualNodes",
    "/v20190125/meshes/m//virtualNodes",
    "/v20190125/meshes/m/virtualNodes//",
    "/v20190125/meshes/m/virtualRouter//routes",
    "/v20190125/meshes/m/virtualGateway/g/gatewayRoutes//x",
    "/v20190125//tags?resourceArn=arn:aws:appmesh:us-east-1:111122223333:mesh/m",
    "/meshplane/v1//proxies",
    "//healthz",
    "//v20190125/meshes",
]


@pytest.mark.parametrize("path", EMPTY_SEGMENT_PATHS)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_an_empty_path_segment_gets_an_app_mesh_error_not_a_redirect(server, method, path):
    conn = RawConnection(server.endpoint)
    try:
        conn.head(method, path, 2)
        conn.send(b"{}")
        status, headers, body = conn.response()
    finally:
        conn.close()
    assert status in (400, 404), f"{method} {path}: {status} {headers.get('location')}"
    assert "location" not in headers
    assert _error_type(headers, body) in ("BadRequestException", "NotFoundException")
    assert json.loads(body)["message"]


def test_an_empty_segment_where_a_name_belongs_is_a_bad_request(server):
    """Not a 404: clients (hashicorp/aws, our provider) read a 404 as "the resource is gone"."""
    response = requests.get(server.endpoint + "/v20190125/meshes//virtualNodes/n", timeout=10,
                            allow_redirects=False)
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"] == "BadRequestException"
    assert "empty path segment" in response.json()["message"]


# -- 3. stopping: Ctrl-C and SIGTERM --------------------------------------------------------------

def _group(pgid: int) -> list[int]:
    """The live (not zombie) processes of process group ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def _gone_within(pgid: int, budget: float) -> tuple[float, list[int]]:
    started = time.monotonic()
    while (left := _group(pgid)) and time.monotonic() - started < budget:
        time.sleep(0.02)
    return time.monotonic() - started, left


def _argv(tmp_path: Path) -> list[str]:
    return [str(BIN / "meshplane"), "serve", "--db", str(tmp_path / "s.db"), "--api-listen", "127.0.0.1:0",
            "--xds-listen", "127.0.0.1:0"]


_XDS_WORKERS = {"MESHPLANE_XDS_WORKERS": "2"}  # the supervisor and its workers, on any machine
_FAMILY = 1 + 2 + 1 + 2 + 1  # serve, its two API workers, the xDS supervisor, its two workers,
# the replica runner


@pytest.mark.parametrize("attempt", [1, 2])  # each process used to miss the stop about one time in three
def test_ctrl_c_stops_every_process_within_3_s(tmp_path, attempt):
    """SIGINT to the whole group, as the terminal sends it on Ctrl-C: the master and its API
    workers, the xDS process and its workers. Each process gets SIGINT and, a moment later, its
    parent's SIGTERM; an API worker used to miss both (another thread took them) and was killed
    after Granian's 10 s kill timeout."""
    server = MeshplaneServer(tmp_path / "s.db", tmp_path / "s.log", "--workers", "3", xds=True,
                             env=env_with_venv(_XDS_WORKERS))
    try:
        with requests.Session() as session:  # an idle keep-alive connection stays open meanwhile
            assert session.get(server.endpoint + "/healthz", timeout=10).status_code == 200
            assert len(_group(server.pid)) == _FAMILY + 1
            server.signal(signal.SIGINT)
            took, left = _gone_within(server.pid, STOP_BUDGET_S)
        assert left == [], f"still running {took:.1f} s after Ctrl-C: {left}\n{server.log()}"
        assert server.popen.wait(timeout=1) == 0
        assert "refused to gracefully stop" not in server.log()
        assert "Traceback" not in server.log()
    finally:
        server.stop()


def test_ctrl_c_while_starting_stops_every_process_within_3_s(tmp_path):
    """Ctrl-C while the API workers still build the app (before Granian installed their signal
    handlers, the master's, copied by fork, used to swallow the stop)."""
    server = Process(_argv(tmp_path), tmp_path / "s.log", env=env_with_venv(_XDS_WORKERS))
    try:
        server.wait_for_line(r"Spawning worker-2")
        server.signal(signal.SIGINT)
        took, left = _gone_within(server.pid, STOP_BUDGET_S)
        assert left == [], f"still running {took:.1f} s after Ctrl-C: {left}\n{server.log()}"
        assert "refused to gracefully stop" not in server.log()
    finally:
        server.stop()


def test_sigterm_to_serve_alone_stops_every_process_within_3_s(tmp_path):
    server = MeshplaneServer(tmp_path / "s.db", tmp_path / "s.log", xds=True, env=env_with_venv(_XDS_WORKERS))
    try:
        assert len(_group(server.pid)) == _FAMILY
        os.kill(server.pid, signal.SIGTERM)
        took, left = _gone_within(server.pid, STOP_BUDGET_S)
        assert left == [], f"still running {took:.1f} s after SIGTERM: {left}\n{server.log()}"
        assert server.popen.wait(timeout=1) == 0
        assert "refused to gracefully stop" not in server.log()
    finally:
        server.stop()


_SLEEPER = textwrap.dedent("""
    import os, select, signal, sys, threading, time
    from meshplane.children import wake_main_thread_on_signals

    done = threading.Event()
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, lambda signum, frame: done.set())
    for _ in range(3):  # threads that may take a signal meant for the process
        threading.Thread(target=lambda: time.sleep(3600), daemon=True).start()
    threading.Thread(target=lambda: select.epoll().poll(), daemon=True).start()
    wake_main_thread_on_signals()
    print("ready", flush=True)
    done.wait()  # untimed, as in a Granian worker
    os._exit(0)  # as meshplane's processes leave (the handlers stay installed until the end)
""")


def test_two_stop_signals_at_once_still_reach_the_handler():
    """The root cause of the slow Ctrl-C, alone: SIGINT and SIGTERM arriving together, one of them
    taken by a thread other than the main one (without wake_main_thread_on_signals, about one
    process in three never ran its handler)."""
    for _ in range(12):
        proc = subprocess.Popen([sys.executable, "-c", _SLEEPER], stdout=subprocess.PIPE, env=env_with_venv())
        try:
            assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
            proc.send_signal(signal.SIGINT)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=STOP_BUDGET_S) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
