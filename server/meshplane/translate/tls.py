"""IR -> TLS transport socket contexts (App Mesh listener TLS and client policies).

File certificates become inline file names; SDS secret names are fetched over gRPC from the
SDS agent behind the bootstrap's ``static_cluster_sds_unix_socket`` (App Mesh's own layout).
ACM certificates and ACM trust become meshplane's own secrets (``names.MESH_CERTIFICATE_SECRET``,
``names.MESH_TRUST_SECRET``) fetched over the ADS stream itself: only the references are made
here; the secrets are issued and added to the proxy's snapshot outside translate.
"""

from __future__ import annotations

from envoy.config.core.v3 import config_source_pb2
from envoy.config.core.v3 import grpc_service_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2

from . import ir
from . import names


def _sds(secret: str) -> secret_pb2.SdsSecretConfig:
    source = config_source_pb2.ConfigSource(resource_api_version=config_source_pb2.V3)
    api = source.api_config_source
    api.api_type = config_source_pb2.ApiConfigSource.GRPC
    api.transport_api_version = config_source_pb2.V3
    api.grpc_services.append(
        grpc_service_pb2.GrpcService(envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(cluster_name=names.SDS_CLUSTER))
    )
    return secret_pb2.SdsSecretConfig(name=secret, sds_config=source)


def _ads_sds(secret: str) -> secret_pb2.SdsSecretConfig:
    """A secret served by meshplane on the ADS stream (``sds_config: {ads: {}}``)."""
    source = config_source_pb2.ConfigSource(resource_api_version=config_source_pb2.V3)
    source.ads.SetInParent()
    return secret_pb2.SdsSecretConfig(name=secret, sds_config=source)


def _san_matcher(name: str) -> common_pb2.SubjectAltNameMatcher:
    # App Mesh SANs are plain strings; SPIFFE-style ones are URIs, everything else a DNS name.
    san_type = common_pb2.SubjectAltNameMatcher.URI if "://" in name else common_pb2.SubjectAltNameMatcher.DNS
    matcher = common_pb2.SubjectAltNameMatcher(san_type=san_type)
    matcher.matcher.exact = name
    return matcher


def _common(
    context: tls_pb2.CommonTlsContext,
    chain: str | None,
    key: str | None,
    certificate_sds: str | None,
    trust_file: str | None,
    trust_sds: str | None,
    sans: tuple[str, ...],
    mesh_certificate: bool,
    mesh_trust: bool,
) -> None:
    if chain is not None and key is not None:
        certificate = context.tls_certificates.add()
        certificate.certificate_chain.filename = chain
        certificate.private_key.filename = key
    if certificate_sds is not None:
        context.tls_certificate_sds_secret_configs.append(_sds(certificate_sds))
    elif mesh_certificate:
        context.tls_certificate_sds_secret_configs.append(_ads_sds(names.MESH_CERTIFICATE_SECRET))
    matchers = [_san_matcher(name) for name in sans]
    if trust_sds is not None or mesh_trust:
        combined = context.combined_validation_context
        trust_source = _ads_sds(names.MESH_TRUST_SECRET) if mesh_trust else _sds(trust_sds or "")
        combined.validation_context_sds_secret_config.CopyFrom(trust_source)
        # Envoy requires the default context even when it adds nothing (no SAN checks).
        combined.default_validation_context.SetInParent()
        combined.default_validation_context.match_typed_subject_alt_names.extend(matchers)
    elif trust_file is not None:
        validation = context.validation_context
        validation.trusted_ca.filename = trust_file
        validation.match_typed_subject_alt_names.extend(matchers)


def upstream_context(policy: ir.UpstreamTls) -> tls_pb2.UpstreamTlsContext:
    """TLS origination: client certificate (mTLS), trust bundle, SAN checks, SNI."""
    result = tls_pb2.UpstreamTlsContext()
    if policy.sni:
        result.sni = policy.sni
    _common(
        result.common_tls_context,
        policy.certificate_chain,
        policy.private_key,
        policy.certificate_sds,
        policy.trust_file,
        policy.trust_sds,
        policy.subject_alt_names,
        False,
        policy.mesh_trust,
    )
    return result


def downstream_context(policy: ir.DownstreamTls) -> tls_pb2.DownstreamTlsContext:
    """TLS termination; a validation trust makes client certificates mandatory (mTLS)."""
    result = tls_pb2.DownstreamTlsContext()
    _common(
        result.common_tls_context,
        policy.certificate_chain,
        policy.private_key,
        policy.certificate_sds,
        policy.trust_file,
        policy.trust_sds,
        policy.subject_alt_names,
        policy.mesh_certificate,
        False,
    )
    if policy.trust_file is not None or policy.trust_sds is not None:
        result.require_client_certificate.value = True
    return result
