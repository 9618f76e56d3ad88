"""hashicorp/aws retries a create whose answer was lost, and meshplane replays it by clientToken.

The provider block we recommend (terraform-examples/aws-provider, docs/migration.md, `meshplane export
--provider aws`) keeps a few retries: aws-sdk-go-v2 retries a connection dropped while an answer is read
(seen in CI as ``StatusCode: 200 ... use of closed network connection``). That is only safe because
the retried create carries the first attempt's clientToken and meshplane answers it with the resource
already made. Here a proxy in front of the server forwards the first CreateMesh, then sends its
answer's head and half its body and resets the connection: the apply still succeeds, the server saw
the same clientToken twice, and the mesh exists once, at version 1.
"""

from __future__ import annotations

import http.client
import http.server
import json
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_workspace import GroupWorkspace
from tf_workspace import Rest

pytestmark = pytest.mark.terraform

EXAMPLE = Path(__file__).resolve().parents[2] / "terraform-examples" / "aws-provider" / "main.tf"

# Only the example's provider block (its retries are what is tested) and one mesh.
HCL = '''
terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}

%(provider)s

resource "aws_appmesh_mesh" "lost_answer" {
  name = "%(mesh)s"
}
'''


CREATE_MESH = "/v20190125/meshes"  # PUT: CreateMesh
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


def example_provider_block() -> str:
    """The ``provider "aws"`` block of terraform-examples/aws-provider/main.tf, as users copy it."""
    text = EXAMPLE.read_text()
    start = text.index('provider "aws" {')
    end = text.index("\n}\n", start) + 2
    return text[start:end]


class LossyProxy:
    """An HTTP/1.1 proxy on a free loopback port that loses the answer to the first ``PUT /v20190125/meshes``.

    Every request is forwarded to ``upstream`` and recorded as (method, path, clientToken). The first
    CreateMesh's answer is cut: status line, headers and half the body, then a TCP reset.
    """

    def __init__(self, upstream: str) -> None:
        host_port = upstream.split("://", 1)[1]
        self.upstream_host, port = host_port.rsplit(":", 1)
        self.upstream_port = int(port)
        self.seen: list[tuple[str, str, str | None]] = []
        self.lost = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))  # the SDK always sends it
                token = json.loads(body).get("clientToken") if body.startswith(b"{") else None
                with proxy._lock:
                    proxy.seen.append((self.command, self.path, token))
                    lose = (self.command, self.path) == ("PUT", CREATE_MESH) and proxy.lost == 0
                    proxy.lost += lose
                upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    payload = answer.read()
                    # The whole length is declared, also when only half of it is sent.
                    head = [f"HTTP/1.1 {answer.status} {answer.reason}", f"Content-Length: {len(payload)}"]
                    head += [f"{k}: {v}" for k, v in answer.getheaders() if k.lower() not in HOP_BY_HOP]
                finally:
                    upstream.close()
                if lose:
                    self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload[: len(payload) // 2])
                    self.wfile.flush()
                    # SO_LINGER 0: close() sends RST at once, as a connection lost mid-answer does.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    return
                self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _forward

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def shutdown_request(self, request: Any) -> None:
                # Without the half-close socketserver does first: the reset above must be the first
                # thing the client sees after the cut answer.
                self.close_request(request)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LossyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture
def proxy(endpoint: str) -> Iterator[LossyProxy]:
    with LossyProxy(endpoint) as running:
        yield running


def test_a_create_whose_answer_is_lost_is_retried_and_replayed(tmp_path: Path, terraform_bin: str,
                                                               aws_cli_config: Path, proxy: LossyProxy,
                                                               rest: Rest, mesh_name: str) -> None:
    ws = GroupWorkspace(tmp_path / "ws", terraform_bin, aws_cli_config, proxy.endpoint)
    ws.dir.mkdir(parents=True, exist_ok=True)
    ws.env.update(TF_VAR_endpoint=proxy.endpoint, AWS_ACCESS_KEY_ID="meshplane", AWS_SECRET_ACCESS_KEY="meshplane")
    ws.write(HCL % {"provider": example_provider_block(), "mesh": mesh_name}
             + 'variable "endpoint" {\n  type = string\n}\n')
    try:
        ws.init()
        out = ws.apply().out
        assert "Resources: 1 added, 0 changed, 0 destroyed." in out, out
        made = rest.get(f"/meshes/{mesh_name}")
    finally:
        if rest.get(f"/meshes/{mesh_name}") is not None:
            rest.delete(f"/meshes/{mesh_name}")

    creates = [token for method, path, token in proxy.seen if (method, path) == ("PUT", CREATE_MESH)]
    assert proxy.lost == 1
    assert len(creates) == 2 and creates[0] and creates[0] == creates[1], proxy.seen
    # One mesh, written once: the retry was answered from the first attempt's write (without the
    # replay it would have met ConflictException, the name being taken, and the apply failed).
    assert made is not None and made["metadata"]["version"] == 1, made
    state = json.loads((ws.dir / "terraform.tfstate").read_text())
    (mesh,) = [r for r in state["resources"] if r["type"] == "aws_appmesh_mesh"]
    assert mesh["instances"][0]["attributes"]["arn"] == made["metadata"]["arn"]
