"""The processes a test runs inside a network namespace (tests/e2e/netns.py), as a script.

    python netns_peers.py tls-server PORT CERT KEY   TLS on 127.0.0.1:PORT; answers "tls-server <SNI>\\n"
    python netns_peers.py http-server PORT NAME      HTTP on 127.0.0.1:PORT; answers NAME to any GET
    python netns_peers.py tls HOST PORT SNI [UID]    a TLS handshake asking for SNI; prints a JSON result
    python netns_peers.py http HOST PORT HOST_HEADER [UID]   one GET; prints a JSON result
    python netns_peers.py get URL                    prints the body (Envoy's admin, from inside)

The servers print ``ready`` once listening and run until stopped. The clients switch to UID
(when given) after every import and before connecting, so the namespace's iptables rules see
the app's user, as App Mesh's rules see everything but Envoy's.
"""

from __future__ import annotations

import encodings.idna  # noqa: F401 - loaded before the switch of user (host names are idna-encoded)
import http.client
import http.server
import json
import os
import socket
import ssl
import sys
import threading
import time
import urllib.request


def _drop_to(uid: str | None) -> None:
    if uid is not None:
        os.setgid(int(uid))
        os.setuid(int(uid))


def tls_server(port: str, cert: str, key: str) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    asked: dict[int, str] = {}

    def remember(sock: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        asked[id(sock)] = name or ""

    context.sni_callback = remember  # type: ignore[assignment]
    listener = socket.create_server(("127.0.0.1", int(port)))

    def serve(conn: socket.socket) -> None:
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(f"tls-server {asked.pop(id(tls), '')}\n".encode())
        except (OSError, ssl.SSLError):
            pass

    print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        conn.settimeout(5)
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def http_server(port: str, name: str) -> None:
    body = name.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), Handler)
    print("ready", flush=True)
    server.serve_forever()


def tls_client(host: str, port: str, sni: str, uid: str | None = None) -> dict[str, object]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the answer proves who was reached, not the certificate
    _drop_to(uid)  # before the socket exists: iptables' owner match reads the socket's user
    sock = socket.socket()
    sock.settimeout(5)
    started = time.monotonic()
    try:
        sock.connect((host, int(port)))
        with context.wrap_socket(sock, server_hostname=sni) as tls:
            answer = tls.recv(200).decode()
        return {"ok": True, "answer": answer.strip(), "seconds": time.monotonic() - started}
    except (OSError, ssl.SSLError) as error:
        return {"ok": False, "error": f"{type(error).__name__}: {error}", "seconds": time.monotonic() - started}


def http_client(host: str, port: str, host_header: str, uid: str | None = None) -> dict[str, object]:
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    _drop_to(uid)
    started = time.monotonic()
    try:
        connection.request("GET", "/", headers={"Host": host_header})
        response = connection.getresponse()
        return {"status": response.status, "body": response.read().decode(), "seconds": time.monotonic() - started}
    except OSError as error:
        return {"status": None, "error": f"{type(error).__name__}: {error}", "seconds": time.monotonic() - started}
    finally:
        connection.close()


def main(argv: list[str]) -> None:
    command, args = argv[0], argv[1:]
    if command == "tls-server":
        tls_server(*args)
    elif command == "http-server":
        http_server(*args)
    elif command == "tls":
        print(json.dumps(tls_client(*args)))
    elif command == "http":
        print(json.dumps(http_client(*args)))
    elif command == "get":
        with urllib.request.urlopen(args[0], timeout=5) as response:
            sys.stdout.write(response.read().decode())
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
