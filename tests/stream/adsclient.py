"""A small ADS protocol client for tests: connect, request, expect a response, ACK, NACK.

Each ``AdsClient`` is one proxy: its own gRPC channel (local subchannel pool, so its own TCP
connection) and one ADS stream, SotW or delta. Responses are collected by a reader thread;
``expect`` waits for the next one with a deadline, so a missing response fails fast.
``Xds`` bundles a running server with the clients a test opened (the ``xds`` fixture).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import struct_pb2
from google.rpc import status_pb2

from meshplane.stream import CLUSTER, ENDPOINT, LISTENER, ROUTE, MemoryStatusSink, SnapshotCache, XdsServer

SERVICE = "/envoy.service.discovery.v3.AggregatedDiscoveryService/"
MESSAGE_CLASSES: dict[str, Any] = {
    CLUSTER: cluster_pb2.Cluster,
    ENDPOINT: endpoint_pb2.ClusterLoadAssignment,
    LISTENER: listener_pb2.Listener,
    ROUTE: route_pb2.RouteConfiguration,
}
Response = Any  # discovery_pb2.DiscoveryResponse | discovery_pb2.DeltaDiscoveryResponse


def unpack(response: discovery_pb2.DiscoveryResponse) -> dict[str, Any]:
    """The resources of a SotW response, unpacked, by their own name."""
    result = {}
    for packed in response.resources:
        message = MESSAGE_CLASSES[packed.type_url]()
        packed.Unpack(message)
        name = message.cluster_name if packed.type_url == ENDPOINT else message.name
        result[name] = message
    return result


def names(response: Response) -> list[str]:
    """Resource names in a response, in order (SotW or delta)."""
    if isinstance(response, discovery_pb2.DeltaDiscoveryResponse):
        return [resource.name for resource in response.resources]
    return list(unpack(response))


class AdsClient:
    """One ADS stream to ``127.0.0.1:port`` as node ``node_id``; ``delta`` picks the protocol."""

    def __init__(self, port: int, node_id: str = "node-1", delta: bool = False,
                 metadata: Mapping[str, str] | None = None) -> None:
        self.delta = delta
        self.node = base_pb2.Node(id=node_id, cluster="test")
        if metadata:
            self.node.metadata.CopyFrom(struct_pb2.Struct(fields={
                k: struct_pb2.Value(string_value=v) for k, v in metadata.items()}))
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)])
        request_type = discovery_pb2.DeltaDiscoveryRequest if delta else discovery_pb2.DiscoveryRequest
        response_type = discovery_pb2.DeltaDiscoveryResponse if delta else discovery_pb2.DiscoveryResponse
        method = SERVICE + ("DeltaAggregatedResources" if delta else "StreamAggregatedResources")
        stub = self.channel.stream_stream(method, request_serializer=request_type.SerializeToString,
                                          response_deserializer=response_type.FromString)
        self._requests: queue.Queue[Any] = queue.Queue()
        self.responses: queue.Queue[Any] = queue.Queue()
        self._call = stub(iter(self._requests.get, None))
        self._names: dict[str, list[str]] = {}  # SotW: the names last requested per type
        self._node_sent = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for response in self._call:
                self.responses.put(response)
        except grpc.RpcError as error:
            self.responses.put(error)

    # -- sending ---------------------------------------------------------------------------------
    def send(self, request: Any) -> None:
        """Send a raw request; the node goes on the first one only (as Envoy does)."""
        if not self._node_sent:
            request.node.CopyFrom(self.node)
            self._node_sent = True
        self._requests.put(request)

    def request(self, type_url: str, resource_names: Iterable[str] = (), version: str = "", nonce: str = "",
                error: str | None = None) -> None:
        """SotW: a DiscoveryRequest (an ACK when ``nonce`` is set, a NACK when ``error`` is too)."""
        request = discovery_pb2.DiscoveryRequest(type_url=type_url, resource_names=list(resource_names),
                                                 version_info=version, response_nonce=nonce)
        if error is not None:
            request.error_detail.CopyFrom(status_pb2.Status(code=3, message=error))
        self._names[type_url] = list(resource_names)
        self.send(request)

    def subscribe(self, type_url: str, subscribe: Iterable[str] = (), unsubscribe: Iterable[str] = (),
                  initial_versions: Mapping[str, str] | None = None, nonce: str = "",
                  error: str | None = None) -> None:
        """Delta: a DeltaDiscoveryRequest."""
        request = discovery_pb2.DeltaDiscoveryRequest(
            type_url=type_url, resource_names_subscribe=list(subscribe),
            resource_names_unsubscribe=list(unsubscribe), initial_resource_versions=dict(initial_versions or {}),
            response_nonce=nonce)
        if error is not None:
            request.error_detail.CopyFrom(status_pb2.Status(code=3, message=error))
        self.send(request)

    def ack(self, response: Response, resource_names: Iterable[str] | None = None) -> None:
        """Accept ``response`` (SotW: keeping the last requested names unless given)."""
        if self.delta:
            self.subscribe(response.type_url, subscribe=resource_names or (), nonce=response.nonce)
        else:
            keep = self._names.get(response.type_url, []) if resource_names is None else resource_names
            self.request(response.type_url, keep, version=response.version_info, nonce=response.nonce)

    def nack(self, response: Response, message: str, last_good_version: str = "") -> None:
        """Reject ``response`` with ``message`` as error_detail."""
        if self.delta:
            self.subscribe(response.type_url, nonce=response.nonce, error=message)
        else:
            self.request(response.type_url, self._names.get(response.type_url, []), version=last_good_version,
                         nonce=response.nonce, error=message)

    # -- receiving -------------------------------------------------------------------------------
    def expect(self, type_url: str | None = None, timeout: float = 5.0) -> Response:
        """The next response; fails if none arrives in time or it is of another type."""
        try:
            response = self.responses.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no response within {timeout}s (expected {type_url})") from None
        if isinstance(response, grpc.RpcError):
            raise AssertionError(f"stream failed: {response}")
        if type_url is not None:
            assert response.type_url == type_url, f"expected {type_url}, got {response.type_url}"
        return response

    def expect_nothing(self, timeout: float = 0.3) -> None:
        """No response arrives within ``timeout``."""
        try:
            response = self.responses.get(timeout=timeout)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected response: {response}")

    def expect_error(self, timeout: float = 5.0) -> grpc.RpcError:
        """The stream ends with an error; returns it."""
        response = self.responses.get(timeout=timeout)
        assert isinstance(response, grpc.RpcError), f"expected the stream to fail, got {response}"
        return response

    def sync(self, *type_urls: str, resource_names: Mapping[str, list[str]] | None = None) -> dict[str, Response]:
        """Request each type (in order), expect and ACK its response; returns the responses by type."""
        result = {}
        for type_url in type_urls:
            wanted = (resource_names or {}).get(type_url, [])
            if self.delta:
                self.subscribe(type_url, subscribe=wanted)
            else:
                self.request(type_url, wanted)
            result[type_url] = response = self.expect(type_url)
            self.ack(response)
        return result

    def close(self) -> None:
        """Half-close the stream and the channel."""
        self._requests.put(None)
        self._call.cancel()
        self.channel.close()
        self._reader.join(timeout=5)


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, message: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except (AssertionError, KeyError, IndexError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(0.01)


@dataclass
class Xds:
    """A running server and what tests poke at."""

    cache: SnapshotCache
    sink: MemoryStatusSink
    server: XdsServer
    port: int
    clients: list[AdsClient] = field(default_factory=list)

    def connect(self, node_id: str = "node-1", delta: bool = False, **kwargs: Any) -> AdsClient:
        client = AdsClient(self.port, node_id, delta=delta, **kwargs)
        self.clients.append(client)
        return client

    def status(self, node_id: str = "node-1") -> dict[str, Any]:
        """The status dict of the node's only stream."""
        streams = self.sink.node(node_id)
        assert len(streams) == 1, streams
        return streams[0]

    def type_status(self, type_url: str, node_id: str = "node-1") -> dict[str, Any]:
        return self.status(node_id)["types"][type_url]

    def metric(self, name: str, **labels: str) -> float:
        value = self.server.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value
