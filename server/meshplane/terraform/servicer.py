"""The tfplugin6 ``Provider`` gRPC service: decode requests, call the generic resource, encode answers.

tf 1.2.0 supplies the generated stubs and the msgpack codec (with Unknown); the schema and the
planning are ours (tf's own servicer cannot plan on create, emit list blocks or nested replace).
Methods run on grpc's worker threads: the only shared values are the immutable schema trees and
the provider configuration, which ConfigureProvider sets once under a lock (then the one Client,
immutable, is built from it on first use).
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from tf.gen import tfplugin_pb2 as pb
from tf.gen import tfplugin_pb2_grpc as rpc
from tf.utils import read_dynamic_value, to_dynamic_value

from meshplane.terraform.client import Client, resolve_ca_file, resolve_credentials, resolve_region
from meshplane.terraform.diagnostics import Diagnostic
from meshplane.terraform.resources import DataSource, NotConfigured, Resource
from meshplane.terraform.schema import Attribute, Block
from meshplane.terraform.spec import ProviderSpec

SCHEMA_VERSION = 0
PROVIDER_SCHEMA = Block(name="", wire="", attributes=(
    Attribute("endpoint", "string", optional=True,
              description="Base URL of the meshplane API, e.g. http://127.0.0.1:8080. "
                          "Defaults to the MESHPLANE_ENDPOINT environment variable."),
    Attribute("access_key", "string", optional=True,
              description="Access key id to sign requests with (SigV4, service appmesh), e.g. one from "
                          "`meshplane keys create`. Defaults to MESHPLANE_ACCESS_KEY_ID, then AWS_ACCESS_KEY_ID. "
                          "Without any key, requests go unsigned (fine for a server without authentication)."),
    Attribute("secret_key", "string", optional=True, sensitive=True,
              description="Secret access key of access_key. Defaults to MESHPLANE_SECRET_ACCESS_KEY, then "
                          "AWS_SECRET_ACCESS_KEY (with AWS_SESSION_TOKEN, if set). Set both keys or neither, "
                          "in any one place."),
    Attribute("region", "string", optional=True,
              description="Region of the signature's credential scope: one the server serves (its --region). "
                          "Defaults to AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1."),
    Attribute("ca_file", "string", optional=True,
              description="PEM file of the CA(s) an https endpoint's certificate is verified against "
                          "(e.g. the ca.pem of `meshplane tls dev-ca`). Defaults to MESHPLANE_CA_FILE, then "
                          "AWS_CA_BUNDLE, then the system's trust store."),
))

R = TypeVar("R")


def _diags(diags: list[Diagnostic]) -> list[pb.Diagnostic]:
    return [d.to_pb() for d in diags]


def _guarded(response: Callable[..., R]) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Turn an unexpected exception into an error diagnostic instead of a dead RPC."""

    def wrap(method: Callable[..., R]) -> Callable[..., R]:
        def run(self: Any, request: Any, context: grpc.ServicerContext) -> R:
            try:
                return method(self, request, context)
            except Exception as exc:  # noqa: BLE001 - reported to Terraform, with the traceback on stderr
                traceback.print_exc(file=sys.stderr)
                return response(diagnostics=_diags([Diagnostic(f"meshplane provider error: {exc!r}",
                                                               traceback.format_exc())]))

        run.__name__ = method.__name__
        return run

    return wrap


class ProviderServicer(rpc.ProviderServicer):
    """Every RPC Terraform 1.11+ calls, for the resources and data sources in ``spec``."""

    def __init__(self, spec: ProviderSpec) -> None:
        self.spec = spec
        self._lock = threading.Lock()
        self._config: dict[str, str] = {}
        self._client: Client | None = None
        self.resources = {name: Resource(res, spec, self.client) for name, res in spec.resources.items()}
        self.data_sources = {name: DataSource(res) for name, res in self.resources.items()}
        self._schema = self._build_schema()

    # ------------------------------------------------------------ shared
    def client(self) -> Client:
        """The Client for the configured endpoint, credentials, region and CA file (built once)."""
        with self._lock:
            if self._client is None:
                config = self._config
                endpoint = config.get("endpoint") or os.environ.get(self.spec.endpoint_env)
                if not endpoint:
                    raise NotConfigured(f"set endpoint in the provider block or the {self.spec.endpoint_env} variable")
                ca_file = resolve_ca_file(config.get("ca_file"))
                try:
                    self._client = Client(endpoint, resolve_credentials(config.get("access_key"),
                                                                        config.get("secret_key")),
                                          resolve_region(config.get("region")), ca_file)
                except ValueError as exc:  # a half key pair in the environment
                    raise NotConfigured(str(exc), "Incomplete meshplane credentials") from None
                except (OSError, ssl.SSLError) as exc:  # the CA file: missing, unreadable or not PEM
                    raise NotConfigured(f"cannot load ca_file {ca_file!r}: {exc}", "Invalid meshplane ca_file") from None
            return self._client

    def _build_schema(self) -> pb.GetProviderSchema.Response:
        def schema(block: Block) -> pb.Schema:
            return pb.Schema(version=SCHEMA_VERSION, block=block.block_pb())

        return pb.GetProviderSchema.Response(
            provider=schema(PROVIDER_SCHEMA),
            provider_meta=pb.Schema(version=0, block=pb.Schema.Block()),
            resource_schemas={name: schema(r.root) for name, r in self.resources.items()},
            data_source_schemas={name: schema(d.root) for name, d in self.data_sources.items()},
            server_capabilities=pb.ServerCapabilities(plan_destroy=True, move_resource_state=True),
        )

    # ------------------------------------------------------------ provider
    def GetMetadata(self, request: pb.GetMetadata.Request, context: grpc.ServicerContext) -> pb.GetMetadata.Response:
        return pb.GetMetadata.Response(
            server_capabilities=pb.ServerCapabilities(plan_destroy=True, move_resource_state=True),
            resources=[pb.GetMetadata.ResourceMetadata(type_name=n) for n in self.resources],
            data_sources=[pb.GetMetadata.DataSourceMetadata(type_name=n) for n in self.data_sources],
        )

    def GetProviderSchema(self, request: pb.GetProviderSchema.Request,
                          context: grpc.ServicerContext) -> pb.GetProviderSchema.Response:
        return self._schema

    def GetFunctions(self, request: pb.GetFunctions.Request, context: grpc.ServicerContext) -> pb.GetFunctions.Response:
        return pb.GetFunctions.Response()

    @_guarded(pb.ValidateProviderConfig.Response)
    def ValidateProviderConfig(self, request: pb.ValidateProviderConfig.Request,
                               context: grpc.ServicerContext) -> pb.ValidateProviderConfig.Response:
        config = read_dynamic_value(request.config) or {}
        endpoint = config.get("endpoint")
        diags = []
        if isinstance(endpoint, str) and not endpoint.startswith(("http://", "https://")):
            diags.append(Diagnostic("Invalid value for endpoint", f"expected an http(s) URL, got {endpoint!r}",
                                    ("endpoint",)))
        ca_file = config.get("ca_file")
        if isinstance(ca_file, str) and not os.path.isfile(ca_file):
            diags.append(Diagnostic("Invalid value for ca_file", f"no such file: {ca_file!r}", ("ca_file",)))
        return pb.ValidateProviderConfig.Response(diagnostics=_diags(diags))

    @_guarded(pb.ConfigureProvider.Response)
    def ConfigureProvider(self, request: pb.ConfigureProvider.Request,
                          context: grpc.ServicerContext) -> pb.ConfigureProvider.Response:
        """Keep the provider block's values (an empty string counts as unset, as in hashicorp/aws) and
        check now that the credentials resolve: half a key pair is an error before any request."""
        raw = read_dynamic_value(request.config) or {}
        config = {k: v for k, v in raw.items() if isinstance(v, str) and v}
        try:
            resolve_credentials(config.get("access_key"), config.get("secret_key"))
        except ValueError as exc:
            diag = Diagnostic("Incomplete meshplane credentials", str(exc))
            return pb.ConfigureProvider.Response(diagnostics=_diags([diag]))
        with self._lock:
            self._config = config
            self._client = None
        return pb.ConfigureProvider.Response()

    # ------------------------------------------------------------ validation
    @_guarded(pb.ValidateResourceConfig.Response)
    def ValidateResourceConfig(self, request: pb.ValidateResourceConfig.Request,
                               context: grpc.ServicerContext) -> pb.ValidateResourceConfig.Response:
        diags = self.resources[request.type_name].validate(read_dynamic_value(request.config))
        return pb.ValidateResourceConfig.Response(diagnostics=_diags(diags))

    @_guarded(pb.ValidateDataResourceConfig.Response)
    def ValidateDataResourceConfig(self, request: pb.ValidateDataResourceConfig.Request,
                                   context: grpc.ServicerContext) -> pb.ValidateDataResourceConfig.Response:
        diags = self.data_sources[request.type_name].validate(read_dynamic_value(request.config))
        return pb.ValidateDataResourceConfig.Response(diagnostics=_diags(diags))

    @_guarded(pb.UpgradeResourceState.Response)
    def UpgradeResourceState(self, request: pb.UpgradeResourceState.Request,
                             context: grpc.ServicerContext) -> pb.UpgradeResourceState.Response:
        if request.raw_state.flatmap:
            diag = Diagnostic("Unsupported state", "flatmap state (Terraform < 0.12) cannot be upgraded")
            return pb.UpgradeResourceState.Response(diagnostics=_diags([diag]))
        raw = json.loads(request.raw_state.json) if request.raw_state.json else None
        state = self.resources[request.type_name].upgrade(raw) if raw is not None else None
        return pb.UpgradeResourceState.Response(upgraded_state=to_dynamic_value(state))

    # ------------------------------------------------------------ resources
    @_guarded(pb.ReadResource.Response)
    def ReadResource(self, request: pb.ReadResource.Request, context: grpc.ServicerContext) -> pb.ReadResource.Response:
        current = read_dynamic_value(request.current_state)
        if current is None:
            return pb.ReadResource.Response()
        state, diags = self.resources[request.type_name].read(current)
        return pb.ReadResource.Response(new_state=to_dynamic_value(state), diagnostics=_diags(diags),
                                        private=request.private)

    @_guarded(pb.PlanResourceChange.Response)
    def PlanResourceChange(self, request: pb.PlanResourceChange.Request,
                           context: grpc.ServicerContext) -> pb.PlanResourceChange.Response:
        resource = self.resources[request.type_name]
        planned, replace, diags = resource.plan(read_dynamic_value(request.prior_state),
                                                read_dynamic_value(request.proposed_new_state))
        return pb.PlanResourceChange.Response(
            planned_state=to_dynamic_value(planned),
            requires_replace=[pb.AttributePath(steps=[pb.AttributePath.Step(attribute_name=n)]) for n in replace],
            planned_private=request.prior_private,
            diagnostics=_diags(diags),
        )

    @_guarded(pb.ApplyResourceChange.Response)
    def ApplyResourceChange(self, request: pb.ApplyResourceChange.Request,
                            context: grpc.ServicerContext) -> pb.ApplyResourceChange.Response:
        resource = self.resources[request.type_name]
        state, diags = resource.apply(read_dynamic_value(request.prior_state),
                                      read_dynamic_value(request.planned_state))
        return pb.ApplyResourceChange.Response(new_state=to_dynamic_value(state), diagnostics=_diags(diags))

    @_guarded(pb.ImportResourceState.Response)
    def ImportResourceState(self, request: pb.ImportResourceState.Request,
                            context: grpc.ServicerContext) -> pb.ImportResourceState.Response:
        state, diags = self.resources[request.type_name].import_(request.id)
        imported = [pb.ImportResourceState.ImportedResource(type_name=request.type_name,
                                                            state=to_dynamic_value(state))] if state else []
        return pb.ImportResourceState.Response(imported_resources=imported, diagnostics=_diags(diags))

    @_guarded(pb.MoveResourceState.Response)
    def MoveResourceState(self, request: pb.MoveResourceState.Request,
                          context: grpc.ServicerContext) -> pb.MoveResourceState.Response:
        """``moved { from = aws_appmesh_x.a  to = meshplane_x.a }``: adopt hashicorp/aws state as is.

        The HCL (and so the state) of aws_appmesh_* and meshplane_* is the same, so the source
        state only needs conforming to our schema; the refresh that follows reads the server.
        """
        target = request.target_type_name
        allowed = {target, "aws_appmesh_" + target.removeprefix(self.spec.type + "_")}
        if request.source_type_name not in allowed or target not in self.resources:
            diag = Diagnostic(f"Cannot move {request.source_type_name} to {target}",
                              f"meshplane can adopt {' or '.join(sorted(allowed))} only")
            return pb.MoveResourceState.Response(diagnostics=_diags([diag]))
        raw = json.loads(request.source_state.json or b"{}")
        state = self.resources[target].upgrade(raw)
        return pb.MoveResourceState.Response(target_state=to_dynamic_value(state))

    @_guarded(pb.ReadDataSource.Response)
    def ReadDataSource(self, request: pb.ReadDataSource.Request,
                       context: grpc.ServicerContext) -> pb.ReadDataSource.Response:
        state, diags = self.data_sources[request.type_name].read(read_dynamic_value(request.config))
        return pb.ReadDataSource.Response(state=to_dynamic_value(state), diagnostics=_diags(diags))

    def StopProvider(self, request: pb.StopProvider.Request, context: grpc.ServicerContext) -> pb.StopProvider.Response:
        return pb.StopProvider.Response()
