"""The Envoy bootstrap App Mesh's Envoy image writes, rendered in Python for tests.

Follows aws/amazon-ecs-service-connect-agent at commit 1ba8235 (2026-06-19, "Read NAMESPACE_NAME
env var into Envoy bootstrap node metadata (#156)"), Go module github.com/aws/aws-app-mesh-agent:
``agent/envoy_bootstrap/envoy_bootstrap.go`` (``bootstrap``: node, admin, dynamic resources,
layered runtime, cluster manager, the ``local_cluster`` of the ``unix://`` variant, SDS cluster,
stats tags, flush interval, DogStatsD sinks), ``agent/config/agent_config.go`` (``unix://``),
``agent/envoy_bootstrap/env/env.go`` (values trimmed, booleans as Go's ``strconv.ParseBool``),
and the metadata collectors under ``agent/envoy_bootstrap/`` (``metric_filter``, ``netinfo``,
``platforminfo``, ``applicationinfo``, ``listenerinfo``, ``servicediscovery``). Keys are
lowerCamelCase as ``protojson.Marshal`` writes them (Envoy reads both casings), int64 channel
args as strings, durations as ``"<n>s"``.

What it does not render (the tests do not set these; :func:`render` refuses them rather than
silently produce something else): tracing (``ENABLE_ENVOY_*_TRACING``), the ``ENVOY_*_CFG_FILE``
/ ``ENVOY_RESOURCES_CONFIG_FILE`` merges, relay mode (``APPNET_ENABLE_RELAY_MODE_FOR_XDS``), ECS
task metadata (``AWS_EXECUTION_ENV``), the endpoint chosen without ``APPMESH_XDS_ENDPOINT`` (an
AWS host name), and the availability-zone lookups against IMDS.

:func:`for_upstream_envoy` makes the two changes upstream Envoy needs (fleet.md §2): the
``envoy.grpc_credentials.aws_iam`` call credential is removed (deleted in Envoy 1.35; the SigV4
it signed is exercised by a gRPC client signing the same way, tests/stream/test_xds_tls.py
``signed_metadata``), and the root CA file (the image's ``/etc/pki/tls/cert.pem``) points at
meshplane's CA, as mounting a bundle over that path does in a pod or task.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
import subprocess
from collections.abc import Mapping
from typing import Any

AGENT_COMMIT = "1ba8235e0ee663918df430e32f4bf3b84a53100e"
ROOT_CERTS = "/etc/pki/tls/cert.pem"
LOCAL_CLUSTER = "local_cluster"

_CHANNEL_ARGS = {  # GRPC_* constants of envoy_bootstrap.go; int64 values, strings in protojson
    "grpc.http2.max_pings_without_data": 0,
    "grpc.keepalive_time_ms": 10000,
    "grpc.keepalive_timeout_ms": 20000,
    "grpc.initial_reconnect_backoff_ms": 10000,
    "grpc.max_connection_age_ms": 2400000,
    "grpc.max_connection_age_grace_ms": 5000,
}
_LISTENER_PROTOCOL = r".*?\.ingress\.((\w+?)\.)[0-9]+?\.(.+?)$"
_LISTENER_PORT = r".*?\.ingress\.\w+?\.(([0-9]+?)\.)(.+?)$"
_RDS_ROUTE_CONFIG = r".*?\.ingress\.\w+?\.[0-9]+?\.rds\.((.*?)\.)(.+?)$"
_TARGET_VIRTUAL_NODE = r"^appmesh(?:\..+?\..+?)*(\.TargetVirtualNode\.(.+?))(?:\..+?\..+?)*\.(?:.+)$"
_TARGET_VIRTUAL_SERVICE = r"^appmesh(?:\..+?\..+?)*(\.TargetVirtualService\.([^MVT]+))(?:\..+?\..+?)*\.(?:.+)$"
_UNSUPPORTED = ("ENABLE_ENVOY_XRAY_TRACING", "ENABLE_ENVOY_DATADOG_TRACING", "ENABLE_ENVOY_JAEGER_TRACING",
                "ENVOY_TRACING_CFG_FILE", "ENVOY_STATS_CONFIG_FILE", "ENVOY_STATS_SINKS_CFG_FILE",
                "ENVOY_RESOURCES_CONFIG_FILE", "APPNET_ENABLE_RELAY_MODE_FOR_XDS", "AWS_EXECUTION_ENV")


class AgentError(ValueError):
    """The agent would fail (the message is the agent's where it has one)."""


def _get(env: Mapping[str, str], key: str) -> str:
    return env.get(key, "").strip()  # env.Get: strings.TrimSpace(os.Getenv(key))


def _truthy(env: Mapping[str, str], key: str, default: bool = False) -> bool:
    value = _get(env, key) or ("true" if default else "false")
    if value in ("1", "t", "T", "TRUE", "true", "True"):  # Go's strconv.ParseBool
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise AgentError(f'{key} environment variable ("{value}") must be a boolean value.')


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    value = _get(env, key)
    if not value:
        return default
    try:
        return int(value, 10)
    except ValueError:
        raise AgentError(f'{key} environment variable ("{value}") must be an integer value.') from None


def _mesh_resource(node_id: str) -> tuple[str, str, str]:
    """getMeshResourceFromNodeId: split on '/', [1] mesh, [2] type, [3] name (an '@owner' stays
    in the mesh part: the agent does not read it)."""
    bits = node_id.split("/")
    if len(bits) < 4:
        raise AgentError(f"Unrecognized resource name format: {node_id}")
    return bits[1], bits[2], bits[3]


def _snake(name: str) -> str:  # strcase.SnakeCase for the two type names
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _runtime_layer0(env: Mapping[str, str]) -> dict[str, Any]:
    layer: dict[str, Any] = {
        "envoy.features.enable_all_deprecated_features": True,
        "re2.max_program_size.error_level": 1000,
        "envoy.reloadable_features.http_set_tracing_decision_in_request_id":
            _truthy(env, "APPMESH_SET_TRACING_DECISION", True),
        "envoy.reloadable_features.no_extension_lookup_by_name": _truthy(env, "ENVOY_NO_EXTENSION_LOOKUP_BY_NAME", True),
        "envoy.reloadable_features.use_http_client_to_fetch_aws_credentials":
            _truthy(env, "ENVOY_USE_HTTP_CLIENT_TO_FETCH_AWS_CREDENTIALS", False),
    }
    per_cycle = _int(env, "MAX_REQUESTS_PER_IO_CYCLE", -1)
    if per_cycle > 0:
        layer["http.max_requests_per_io_cycle"] = per_cycle
    return layer


def _interfaces() -> dict[str, Any]:
    """netinfo.BuildMapWithInterfaceInfo: {ipv4|ipv6: {ifname: [cidr, ...]}} (from `ip -j addr`)."""
    try:
        out = subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True, timeout=5, check=True).stdout
        links = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError):
        return {"ipv4": {"lo": ["127.0.0.1/8"]}}
    mapping: dict[str, dict[str, list[str]]] = {}
    for link in links:
        for info in link.get("addr_info", []):
            cidr = f"{info.get('local')}/{info.get('prefixlen')}"
            try:
                family = "ipv4" if ipaddress.ip_interface(cidr).version == 4 else "ipv6"
            except ValueError:
                continue
            mapping.setdefault(family, {}).setdefault(link["ifname"], []).append(cidr)
    return mapping


def _uname(flag: str) -> str:
    try:
        return subprocess.run(["uname", flag], capture_output=True, text=True, timeout=5).stdout.removesuffix("\n")
    except OSError:
        return ""


def _metadata(env: Mapping[str, str]) -> dict[str, Any]:
    """buildMetadataForNode."""
    metadata: dict[str, Any] = {"aws.appmesh.static_runtime": _runtime_layer0(env),
                                "aws.appmesh.task.interfaces": _interfaces()}
    if (_get(env, "APPMESH_METRIC_EXTENSION_VERSION") or "0") == "1":
        metadata["aws.appmesh.metric_filter"] = {"level": "1"}
    platform: dict[str, Any] = {}
    k8s = [_get(env, k) for k in ("APPMESH_PLATFORM_K8S_VERSION", "APPMESH_PLATFORM_K8S_POD_UID",
                                  "APPMESH_PLATFORM_APP_MESH_CONTROLLER_VERSION")]
    if all(k8s):
        platform["k8sPlatformInfo"] = {"k8sVersion": k8s[0], "podUid": k8s[1], "appMeshControllerVersion": k8s[2]}
        # (The AZ lookups against IMDS fail off EC2; the agent then leaves them out, as here.)
    platform["systemInfo"] = {"systemPlatform": _uname("-p"), "systemKernelVersion": _uname("-r")}
    if _truthy(env, "APPNET_FIPS_MODE_ENABLED"):
        platform["fipsModeEnabled"] = True
    metadata["aws.appmesh.platformInfo"] = platform
    for key, namespace in (("APPNET_CONTAINER_IP_MAPPING", "aws.ecs.serviceconnect.ClusterIPMapping"),
                           ("APPNET_LISTENER_PORT_MAPPING", "aws.ecs.serviceconnect.ListenerPortMapping")):
        if _get(env, key):
            metadata[namespace] = json.loads(_get(env, key))
    discovery = {name: _get(env, key) for key, name in (("NAMESPACE_NAME", "NamespaceName"),
                                                         ("NAMESPACE_ARN", "NamespaceArn")) if _get(env, key)}
    if discovery:
        metadata["aws.ecs.serviceconnect.ServiceDiscovery"] = discovery
    return metadata


def _ads_source(timeout: str) -> dict[str, Any]:
    return {"ads": {}, "initialFetchTimeout": timeout, "resourceApiVersion": "V3"}


def _stats_tags(env: Mapping[str, str], node_id: str) -> list[dict[str, str]]:
    """appendStats (App Mesh ids; Service Connect task-set ids are not rendered)."""
    mesh, kind, name = _mesh_resource(node_id)
    tags: list[dict[str, str]] = []
    if _truthy(env, "ENABLE_ENVOY_STATS_TAGS"):
        tags += [{"tagName": "appmesh.mesh", "fixedValue": mesh},
                 {"tagName": f"appmesh.{_snake(kind)}", "fixedValue": name}]
    if (_get(env, "APPMESH_METRIC_EXTENSION_VERSION") or "0") == "1":
        tags += [{"tagName": "TargetVirtualNode", "regex": _TARGET_VIRTUAL_NODE},
                 {"tagName": "TargetVirtualService", "regex": _TARGET_VIRTUAL_SERVICE},
                 {"tagName": "Mesh", "fixedValue": mesh},
                 {"tagName": kind[0].upper() + kind[1:], "fixedValue": name}]
    tags += [{"tagName": "appmesh.listener_protocol", "regex": _LISTENER_PROTOCOL},
             {"tagName": "appmesh.listener_port", "regex": _LISTENER_PORT},
             {"tagName": "envoy_rds_route_config", "regex": _RDS_ROUTE_CONFIG}]
    return tags


def render(env: Mapping[str, str]) -> dict[str, Any]:
    """The bootstrap the agent writes for the environment ``env`` (the task's or pod's variables).

    :raises AgentError: where the agent fails (no node id, bad numbers or booleans), or ``env``
        asks for something this renderer leaves out (see the module).
    """
    for key in _UNSUPPORTED:
        if not _get(env, key) or (key.startswith("ENABLE_") and not _truthy(env, key)):
            continue
        raise AgentError(f"{key}: not rendered by this fixture")
    node_id = _get(env, "APPMESH_RESOURCE_ARN") or _get(env, "APPMESH_RESOURCE_NAME") or _get(env, "APPMESH_VIRTUAL_NODE_NAME")
    if not node_id:
        raise AgentError("APPMESH_RESOURCE_ARN environment variable must be set.")
    cluster = _get(env, "APPMESH_RESOURCE_CLUSTER") or _get(env, "APPMESH_VIRTUAL_NODE_CLUSTER") or node_id
    endpoint = _get(env, "APPMESH_XDS_ENDPOINT")
    unix = endpoint.startswith("unix://")

    access_log = [{"typedConfig": {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
        "path": _get(env, "ENVOY_ADMIN_ACCESS_LOG_FILE") or "/tmp/envoy_admin_access.log"}}]
    if (_get(env, "ENVOY_ADMIN_MODE") or "tcp").lower() == "uds":
        admin = {"accessLog": access_log, "address": {"pipe": {"path": "/tmp/envoy_admin.sock", "mode": 384}}}
    else:
        ipv6 = _truthy(env, "ENVOY_ADMIN_ACCESS_ENABLE_IPV6")
        address: dict[str, Any] = {"address": "::" if ipv6 else "0.0.0.0",
                                   "portValue": _int(env, "ENVOY_ADMIN_ACCESS_PORT", 9901)}
        if ipv6:
            address["ipv4Compat"] = True
        admin = {"accessLog": access_log, "address": {"socketAddress": address}}

    google_grpc: dict[str, Any] = {"statPrefix": "ads", "targetUri": endpoint}
    if not unix:
        region = _get(env, "AWS_REGION")
        if not region:
            raise AgentError("AWS_REGION must be set (the agent would ask IMDS)")
        if not endpoint:
            raise AgentError("APPMESH_XDS_ENDPOINT must be set (the agent would dial AWS)")
        signing = _get(env, "APPMESH_SIGNING_NAME") or ("appmesh-preview" if _truthy(env, "APPMESH_PREVIEW") else "appmesh")
        google_grpc["channelCredentials"] = {"sslCredentials": {"rootCerts": {"filename": ROOT_CERTS}}}
        google_grpc["credentialsFactoryName"] = "envoy.grpc_credentials.aws_iam"
        google_grpc["callCredentials"] = [{"fromPlugin": {"name": "envoy.grpc_credentials.aws_iam", "typedConfig": {
            "@type": "type.googleapis.com/envoy.config.grpc_credential.v3.AwsIamConfig",
            "serviceName": signing, "region": region}}}]
    google_grpc["channelArgs"] = {"args": {k: {"intValue": str(v)} for k, v in _CHANNEL_ARGS.items()}}
    fetch = f"{_int(env, 'ENVOY_INITIAL_FETCH_TIMEOUT', 0)}s"

    cluster_manager: dict[str, Any] = {"outlierDetection": {
        "eventLogPath": _get(env, "ENVOY_OUTLIER_DETECTION_EVENT_LOG_PATH") or "/dev/stdout"}}
    doc: dict[str, Any] = {
        "node": {"id": node_id, "cluster": cluster, "metadata": _metadata(env)},
        "admin": admin,
        "dynamicResources": {
            "ldsConfig": _ads_source(fetch), "cdsConfig": _ads_source(fetch),
            "adsConfig": {"apiType": "GRPC", "transportApiVersion": "V3", "grpcServices": [{"googleGrpc": google_grpc}]},
        },
        "layeredRuntime": {"layers": [{"name": "static_layer_0", "staticLayer": _runtime_layer0(env)},
                                      {"name": "admin_layer", "adminLayer": {}}]},
        "clusterManager": cluster_manager,
    }
    clusters: list[dict[str, Any]] = []
    if unix:  # isServiceConnect: appendStaticLocalCluster
        cluster_manager["localClusterName"] = LOCAL_CLUSTER
        clusters.append({"name": LOCAL_CLUSTER, "type": "EDS",
                         "edsClusterConfig": {"edsConfig": _ads_source("0.001s")}})
    sds = _get(env, "APPMESH_SDS_SOCKET_PATH")
    if sds:
        clusters.append({"name": "static_cluster_sds_unix_socket", "type": "STATIC", "connectTimeout": "1s",
                         "http2ProtocolOptions": {}, "loadAssignment": {
                             "clusterName": "static_cluster_sds_unix_socket",
                             "endpoints": [{"lbEndpoints": [{"endpoint": {"address": {"pipe": {"path": sds}}}}]}]}})
    if clusters:
        doc["staticResources"] = {"clusters": clusters}
    doc["statsConfig"] = {"statsTags": _stats_tags(env, node_id)}
    if _get(env, "ENVOY_STATS_FLUSH_INTERVAL"):
        doc["statsFlushInterval"] = _get(env, "ENVOY_STATS_FLUSH_INTERVAL")
    if _truthy(env, "ENABLE_ENVOY_DOG_STATSD"):
        if _get(env, "STATSD_SOCKET_PATH"):
            address = {"pipe": {"path": _get(env, "STATSD_SOCKET_PATH")}}
        else:
            address = {"socketAddress": {"protocol": "UDP", "address": _get(env, "STATSD_ADDRESS") or "127.0.0.1",
                                         "portValue": _int(env, "STATSD_PORT", 8125)}}
        doc["statsSinks"] = [{"name": "envoy.stat_sinks.dog_statsd", "typedConfig": {
            "@type": "type.googleapis.com/envoy.config.metrics.v3.DogStatsdSink", "address": address}}]
    return doc


def for_upstream_envoy(doc: Mapping[str, Any], ca_file: str | None = None) -> dict[str, Any]:
    """``doc`` made loadable by upstream Envoy ≥ 1.35: the ``aws_iam`` call credential removed
    (nothing else), and the root CA file replaced by ``ca_file`` (meshplane's CA, as a bundle
    mounted over the image's trust store would be)."""
    out = copy.deepcopy(dict(doc))
    for service in out["dynamicResources"]["adsConfig"]["grpcServices"]:
        google = service["googleGrpc"]
        google.pop("credentialsFactoryName", None)
        google.pop("callCredentials", None)
        if ca_file and "channelCredentials" in google:
            google["channelCredentials"]["sslCredentials"]["rootCerts"]["filename"] = ca_file
    return out


def task_environment(node_id: str, xds_endpoint: str, **extra: str) -> dict[str, str]:
    """A sidecar's environment as an ECS task definition or the k8s injector sets it (admin on a
    port the test gives, since App Mesh's 9901 may be taken)."""
    env = {"APPMESH_RESOURCE_ARN": node_id, "APPMESH_XDS_ENDPOINT": xds_endpoint, "AWS_REGION": "us-east-1",
           "ENVOY_ADMIN_ACCESS_LOG_FILE": "/dev/null", "ENVOY_LOG_LEVEL": "info"}
    env.update(extra)
    return env

