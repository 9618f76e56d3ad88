"""Snapshot: an immutable set of xDS resources for one proxy, packed and versioned once.

A snapshot is built by the owner (translation side) and handed to ``SnapshotCache.set_snapshot``.
Everything a stream needs per resource is computed here, once, so that sending one snapshot to
thousands of streams costs a byte join and a nonce per stream, not a protobuf build:

* each resource is packed into ``Any`` once (deterministic serialization, so identical protos give
  identical bytes);
* its version is ``sha256(Any.value)[:16]`` in hex: content-defined, so it never means two
  different contents, even across restarts;
* a per-type hash over the sorted ``name:version`` pairs; the wire version of a type is
  ``<epoch>-<hash>``, where the epoch belongs to the cache (chosen when the server process
  starts), so SotW versions are never reused across restarts yet stay stable across no-op
  rebuilds within one run;
* ready-made protobuf *fragments*: a ``DiscoveryResponse`` / ``DeltaDiscoveryResponse`` holding
  just that one resource. Concatenated protobuf messages merge (repeated fields append, scalars:
  last wins), so a response body is ``b"".join(fragments) + header`` and a stream only appends
  its nonce. The whole SotW body of a type is memoized per epoch.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.service.discovery.v3 import discovery_pb2
from envoy.service.status.v3 import csds_pb2
from google.protobuf import any_pb2
from google.protobuf.message import Message

from meshplane.stream.types import CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET, TYPE_PREFIX

HCM_TYPE = TYPE_PREFIX + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"


class Entry:
    """One packed resource: its name, content version, ``Any`` and pre-serialized fragments, plus
    ``refs``: the EDS name of an EDS cluster, the RDS names of a listener (empty otherwise)."""

    __slots__ = ("name", "version", "any", "refs", "sotw_fragment", "_delta_fragment", "_csds_fragment")

    def __init__(self, name: str, packed: any_pb2.Any, refs: tuple[str, ...] = ()) -> None:
        self.name = name
        self.any = packed
        self.refs = refs
        self.version = hashlib.sha256(packed.value).hexdigest()[:16]
        self.sotw_fragment = discovery_pb2.DiscoveryResponse(resources=[packed]).SerializeToString()
        self._delta_fragment: bytes | None = None
        self._csds_fragment: bytes | None = None

    @property
    def delta_fragment(self) -> bytes:
        """A DeltaDiscoveryResponse holding this one Resource; built on first use (only delta
        streams need it; two threads racing here build the same bytes)."""
        if self._delta_fragment is None:
            self._delta_fragment = discovery_pb2.DeltaDiscoveryResponse(
                resources=[discovery_pb2.Resource(name=self.name, version=self.version, resource=self.any)]
            ).SerializeToString()
        return self._delta_fragment

    @property
    def csds_fragment(self) -> bytes:
        """A CSDS ``ClientConfig`` holding this one resource as a ``GenericXdsConfig`` (for config
        dumps: see :meth:`Snapshot.client_config`); built on first use."""
        if self._csds_fragment is None:
            shown = _redacted(self.any) if self.any.type_url == SECRET else self.any
            self._csds_fragment = csds_pb2.ClientConfig(generic_xds_configs=[
                csds_pb2.ClientConfig.GenericXdsConfig(
                    type_url=self.any.type_url, name=self.name, version_info=self.version, xds_config=shown
                )
            ]).SerializeToString()
        return self._csds_fragment

    def __repr__(self) -> str:
        return f"Entry({self.name!r}, {self.version})"


def _redacted(packed: any_pb2.Any) -> any_pb2.Any:
    """A Secret with its private key (and any session ticket keys or generic secret) replaced by
    ``[redacted]``, as Envoy's own config dump shows it: config dumps are stored and served."""
    from envoy.extensions.transport_sockets.tls.v3 import secret_pb2

    secret = secret_pb2.Secret()
    packed.Unpack(secret)
    if secret.HasField("tls_certificate") and secret.tls_certificate.HasField("private_key"):
        secret.tls_certificate.private_key.Clear()
        secret.tls_certificate.private_key.inline_string = "[redacted]"
    if secret.HasField("session_ticket_keys"):
        secret.ClearField("session_ticket_keys")
    if secret.HasField("generic_secret"):
        secret.generic_secret.secret.Clear()
        secret.generic_secret.secret.inline_string = "[redacted]"
    result = any_pb2.Any()
    result.Pack(secret)
    return result


def type_hash(pairs: Iterable[tuple[str, str]]) -> str:
    """The hash part of a per-type version: sha256 over the sorted ``name:version`` lines, 16 hex."""
    text = "\n".join(f"{name}:{version}" for name, version in sorted(pairs))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def type_version(epoch: str, pairs: Iterable[tuple[str, str]]) -> str:
    """The wire version of a set of resources: ``<epoch>-<type_hash(pairs)>``."""
    return f"{epoch}-{type_hash(pairs)}"


EMPTY_HASH = type_hash(())


def sotw_body(type_url: str, version: str, entries: Iterable[Entry]) -> bytes:
    """A serialized DiscoveryResponse without nonce: the entries (in the given order) + header."""
    header = discovery_pb2.DiscoveryResponse(version_info=version, type_url=type_url).SerializeToString()
    return b"".join(entry.sotw_fragment for entry in entries) + header


def pack(type_url: str, name: str, message: Message) -> any_pb2.Any:
    """``message`` as an ``Any`` of ``type_url``; checks the type and the resource's own name."""
    if isinstance(message, any_pb2.Any):
        if message.type_url != type_url:
            raise ValueError(f"resource {name!r} is a {message.type_url}, filed under {type_url}")
        return message
    actual = TYPE_PREFIX + message.DESCRIPTOR.full_name
    if actual != type_url:
        raise ValueError(f"resource {name!r} is a {actual}, filed under {type_url}")
    own = _own_name(message)
    if own is not None and own != name:
        # Envoy keys SotW resources by their own name; a mismatch would silently misroute.
        raise ValueError(f"resource filed as {name!r} names itself {own!r}")
    return any_pb2.Any(type_url=type_url, value=message.SerializeToString(deterministic=True))


def make_entry(type_url: str, name: str, resource: Message | Entry) -> Entry:
    """The packed, versioned form of one resource. Owners that put the same resource into many
    nodes' snapshots can make its Entry once and pass it instead of the message (packing and
    hashing then happen once, not once per node)."""
    if isinstance(resource, Entry):
        if resource.name != name or resource.any.type_url != type_url:
            raise ValueError(f"entry {resource.name!r} ({resource.any.type_url}) filed as {name!r} under {type_url}")
        return resource
    packed = pack(type_url, name, resource)
    message = packed if isinstance(resource, any_pb2.Any) else resource
    if type_url == CLUSTER:
        refs = _eds_refs(name, message)
    elif type_url == LISTENER:
        refs = _rds_refs(message)
    else:
        refs = ()
    return Entry(name, packed, refs)


def _own_name(message: Message) -> str | None:
    # A ClusterLoadAssignment names itself by cluster_name; the other xDS resources by name.
    descriptor = message.DESCRIPTOR
    field = "cluster_name" if descriptor.full_name == "envoy.config.endpoint.v3.ClusterLoadAssignment" else "name"
    if field in descriptor.fields_by_name:
        return str(getattr(message, field))
    return None


class Snapshot:
    """Immutable resources per type URL: ``Mapping[type_url, Mapping[name, Message]]``.

    A value may also be a ``google.protobuf.Any``, or an ``Entry`` from ``make_entry`` to share
    one packed resource between many snapshots. Raises ``ValueError`` when a message's type does
    not match its type URL or its own name differs from its key. Safe to share between nodes
    and threads; nothing changes after construction except memoized response bodies and config dump.
    """

    def __init__(self, resources: Mapping[str, Mapping[str, Message | Entry]]) -> None:
        entries = {
            type_url: {name: make_entry(type_url, name, by_name[name]) for name in sorted(by_name)}
            for type_url, by_name in resources.items()
        }
        self._init(entries, {type_url: type_hash((n, e.version) for n, e in by_type.items())
                             for type_url, by_type in entries.items()})

    @classmethod
    def _from_entries(cls, entries: dict[str, dict[str, Entry]], hashes: dict[str, str]) -> Snapshot:
        """A snapshot of already packed entries (sorted by name within each type) and their type
        hashes (`SnapshotBuilder` has both at hand)."""
        snapshot = cls.__new__(cls)
        snapshot._init(entries, hashes)
        return snapshot

    def _init(self, entries: dict[str, dict[str, Entry]], hashes: dict[str, str]) -> None:
        """Set up from entries sorted by name within each type and their type hashes."""
        self._entries = entries
        self._hashes = hashes
        self._eds_names: dict[str, str] = {}
        self._route_refs: dict[str, tuple[str, ...]] = {}
        for name, entry in entries.get(CLUSTER, {}).items():
            if entry.refs:
                self._eds_names[name] = entry.refs[0]
        for name, entry in entries.get(LISTENER, {}).items():
            if entry.refs:
                self._route_refs[name] = entry.refs
        self._bodies: dict[tuple[str, str], bytes] = {}
        self._client_config: bytes | None = None
        self._lock = threading.Lock()

    def replaced(self, type_url: str, entries: Mapping[str, Entry]) -> Snapshot:
        """A new snapshot: this one with ``entries`` (name -> Entry of ``type_url``) put in place
        of, or next to, the type's entries of the same names; every other type is shared as is.
        For owners that renew one resource (a secret) without rebuilding the rest."""
        merged = {**self._entries.get(type_url, {}), **entries}
        by_type = {name: merged[name] for name in sorted(merged)}
        all_entries = {**self._entries, type_url: by_type}
        hashes = {**self._hashes, type_url: type_hash((n, e.version) for n, e in by_type.items())}
        return Snapshot._from_entries(all_entries, hashes)

    # -- reading ---------------------------------------------------------------------------------
    @property
    def type_urls(self) -> tuple[str, ...]:
        """The type URLs this snapshot has resources (possibly none) for."""
        return tuple(self._entries)

    def entries(self, type_url: str) -> Mapping[str, Entry]:
        """Name -> Entry for one type (empty when the type is absent), sorted by name."""
        return self._entries.get(type_url, {})

    def resource(self, type_url: str, name: str) -> any_pb2.Any | None:
        """The packed resource, or None."""
        entry = self._entries.get(type_url, {}).get(name)
        return entry.any if entry else None

    def resource_version(self, type_url: str, name: str) -> str | None:
        """The content version (16 hex digits) of one resource, or None when absent."""
        entry = self._entries.get(type_url, {}).get(name)
        return entry.version if entry else None

    def type_hash(self, type_url: str) -> str:
        """The epoch-free part of a type's version (a hash of the sorted name:version pairs)."""
        return self._hashes.get(type_url, EMPTY_HASH)

    def version(self, type_url: str, epoch: str) -> str:
        """The wire version of the whole type: ``<epoch>-<type_hash>``."""
        return f"{epoch}-{self.type_hash(type_url)}"

    def eds_name(self, cluster_name: str) -> str | None:
        """The ClusterLoadAssignment name an EDS cluster subscribes to (None for other clusters)."""
        return self._eds_names.get(cluster_name)

    def sotw_body(self, type_url: str, epoch: str) -> tuple[str, bytes]:
        """``(version, body)`` of the SotW response carrying every resource of the type.

        The body is a serialized DiscoveryResponse without a nonce, built once per epoch and
        shared by every stream that is sent this snapshot.
        """
        version = self.version(type_url, epoch)
        key = (type_url, version)
        body = self._bodies.get(key)
        if body is None:
            body = sotw_body(type_url, version, self.entries(type_url).values())
            with self._lock:
                self._bodies[key] = body
        return version, body

    def client_config(self) -> bytes:
        """Every resource of this snapshot as one serialized CSDS ``ClientConfig``.

        One ``GenericXdsConfig`` per resource (type URL, name, content version, the packed
        resource), by type URL then name; a type present without resources is kept as a
        ``GenericXdsConfig`` with only its type URL. It is a byte join of per-resource fragments
        memoized on the shared entries, so dumping thousands of similar snapshots is cheap;
        :func:`meshplane.stream.dump.render_client_config` turns it into JSON on demand.
        """
        if self._client_config is None:  # two threads racing here build the same bytes
            parts: list[bytes] = []
            for type_url in sorted(self._entries):
                entries = self._entries[type_url]
                if not entries:
                    parts.append(_empty_type_fragment(type_url))
                parts.extend(entry.csds_fragment for entry in entries.values())
            self._client_config = b"".join(parts)
        return self._client_config

    def check_consistent(self) -> list[str]:
        """Problems that would leave Envoy waiting: EDS clusters without a ClusterLoadAssignment,
        listeners whose HttpConnectionManager names a missing RouteConfiguration. Empty when fine.
        """
        problems = []
        endpoints, routes = self.entries(ENDPOINT), self.entries(ROUTE)
        for cluster, eds_name in sorted(self._eds_names.items()):
            if eds_name not in endpoints:
                problems.append(f"cluster {cluster!r} uses EDS {eds_name!r}, which is not in the snapshot")
        for listener, names in sorted(self._route_refs.items()):
            for name in names:
                if name not in routes:
                    problems.append(f"listener {listener!r} uses RDS {name!r}, which is not in the snapshot")
        return problems

    def __repr__(self) -> str:
        counts = ", ".join(f"{t.rsplit('.', 1)[-1]}={len(e)}" for t, e in self._entries.items())
        return f"Snapshot({counts})"


class SnapshotBuilder:
    """Builds many snapshots out of largely the same message objects (a fleet translated in one
    pass, where proxies share clusters, endpoints and route configs): each distinct message is
    packed and hashed once, each distinct set of entries of a type gets its type hash once.

    Same snapshots as ``Snapshot(resources)``. Messages are recognised by identity, so use one
    builder for one pass and then drop it: it keeps every message it saw alive until then (an
    id cannot be reused meanwhile). Not thread-safe.
    """

    def __init__(self) -> None:
        self._entries: dict[int, tuple[object, Entry]] = {}
        self._hashes: dict[tuple[object, ...], str] = {}
        self._snapshots: dict[tuple[object, ...], Snapshot] = {}

    def entry(self, type_url: str, name: str, resource: Message | Entry) -> Entry:
        """``make_entry(type_url, name, resource)``, made once per distinct ``resource``."""
        hit = self._entries.get(id(resource))
        if hit is None or hit[1].name != name or hit[1].any.type_url != type_url:
            hit = (resource, make_entry(type_url, name, resource))
            self._entries[id(resource)] = hit
        return hit[1]

    def build(self, resources: Mapping[str, Mapping[str, Message | Entry]]) -> Snapshot:
        """The Snapshot of ``resources`` (as ``Snapshot(resources)`` would make it).

        Resources that come out as the same entries as an earlier call's (every type, every
        name) get that call's Snapshot object: a fleet of alike proxies then shares one, and
        with it every memoized response body and config dump.
        """
        entry, hashes_memo = self.entry, self._hashes
        entries: dict[str, dict[str, Entry]] = {}
        hashes: dict[str, str] = {}
        keys = []
        for type_url, by_name in resources.items():
            by_type = {name: entry(type_url, name, by_name[name]) for name in sorted(by_name)}
            # Entries are kept alive by self._entries, so their ids name them for the pass
            # (and an entry's id stands for its name too).
            key = (type_url, *map(id, by_type.values()))
            found = hashes_memo.get(key)
            if found is None:
                found = hashes_memo[key] = type_hash((n, e.version) for n, e in by_type.items())
            entries[type_url], hashes[type_url] = by_type, found
            keys.append(key)
        whole = tuple(keys)
        snapshot = self._snapshots.get(whole)
        if snapshot is None:
            snapshot = self._snapshots[whole] = Snapshot._from_entries(entries, hashes)
        return snapshot


def _empty_type_fragment(type_url: str) -> bytes:
    return csds_pb2.ClientConfig(
        generic_xds_configs=[csds_pb2.ClientConfig.GenericXdsConfig(type_url=type_url)]
    ).SerializeToString()


def _eds_refs(name: str, message: Message) -> tuple[str, ...]:
    cluster = _as(message, cluster_pb2.Cluster)
    is_eds = cluster.HasField("eds_cluster_config") or (
        cluster.WhichOneof("cluster_discovery_type") == "type" and cluster.type == cluster_pb2.Cluster.EDS
    )
    return (cluster.eds_cluster_config.service_name or name,) if is_eds else ()


def _rds_refs(message: Message) -> tuple[str, ...]:
    from envoy.extensions.filters.network.http_connection_manager.v3 import (
        http_connection_manager_pb2 as hcm_pb2,
    )

    listener = _as(message, listener_pb2.Listener)
    chains = list(listener.filter_chains)
    if listener.HasField("default_filter_chain"):
        chains.append(listener.default_filter_chain)
    names = []
    for chain in chains:
        for network_filter in chain.filters:
            if network_filter.typed_config.type_url == HCM_TYPE:
                hcm = hcm_pb2.HttpConnectionManager()
                network_filter.typed_config.Unpack(hcm)
                if hcm.HasField("rds"):
                    names.append(hcm.rds.route_config_name)
    return tuple(names)


def _as(message: Message, cls: type[Message]) -> Any:
    if isinstance(message, cls):
        return message
    target = cls()
    if isinstance(message, any_pb2.Any):
        message.Unpack(target)
    return target
