"""Serve the provider the way Terraform starts plugins (go-plugin handshake over a unix socket).

``python -m meshplane.terraform`` prints ``1|6|unix|<socket>|grpc|<cert>`` on stdout (nothing
else may go there: it is the handshake channel) and serves until Terraform says stop.
``--dev`` serves without TLS and prints a ``TF_REATTACH_PROVIDERS`` value instead, so one
long-lived provider process can serve many Terraform commands (benchmarks, debugging).
"""

from __future__ import annotations

import base64
import json
import os
import sys
import tempfile
import threading
from concurrent import futures

import grpc
from tf.gen import grpc_controller_pb2 as controller_pb
from tf.gen import grpc_controller_pb2_grpc as controller_rpc
from tf.gen import grpc_stdio_pb2_grpc as stdio_rpc
from tf.gen import tfplugin_pb2_grpc as rpc

from meshplane.terraform import cert
from meshplane.terraform import spec as provider_spec
from meshplane.terraform.servicer import ProviderServicer

WORKERS = 10  # Terraform's default -parallelism


class _Controller(controller_rpc.GRPCControllerServicer):
    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop

    def Shutdown(self, request: controller_pb.Empty, context: grpc.ServicerContext) -> controller_pb.Empty:
        self.stop.set()
        return controller_pb.Empty()


class _Stdio(stdio_rpc.GRPCStdioServicer):
    def StreamStdio(self, request, context):  # type: ignore[no-untyped-def]
        return iter(())


def serve(argv: list[str]) -> None:
    """Start the gRPC server, announce it, and block until Terraform stops it."""
    spec = provider_spec.load()
    stop = threading.Event()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=WORKERS))
    rpc.add_ProviderServicer_to_server(ProviderServicer(spec), server)
    dev = "--dev" in argv
    # go-plugin ends a managed plugin with GRPCController.Shutdown; a --dev server outlives commands.
    controller_rpc.add_GRPCControllerServicer_to_server(_Controller(threading.Event() if dev else stop), server)
    stdio_rpc.add_GRPCStdioServicer_to_server(_Stdio(), server)
    with tempfile.TemporaryDirectory(prefix="meshplane-tf-") as tmp:
        socket = os.path.join(tmp, "provider.sock")
        if dev:
            server.add_insecure_port(f"unix://{socket}")
            server.start()
            reattach = {spec.source: {"Protocol": "grpc", "ProtocolVersion": 6, "Pid": os.getpid(), "Test": True,
                                      "Addr": {"Network": "unix", "String": socket}}}
            print(f"TF_REATTACH_PROVIDERS='{json.dumps(reattach)}'", flush=True)
        else:
            chain, credentials = cert.server_credentials()
            server.add_secure_port(f"unix://{socket}", credentials)
            server.start()
            encoded = base64.b64encode(chain).decode().rstrip("=")
            print(f"1|6|unix|{socket}|grpc|{encoded}", flush=True)
        try:
            while not stop.wait(0.05):
                pass
        except KeyboardInterrupt:
            pass
        server.stop(grace=0.5)


def main() -> None:
    serve(sys.argv[1:])
