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

A snapshot is a set of ``TypeSet``s, one per type URL: the entries of that type with their type
hash, memoized SotW body and config dump part. Type sets are shared, not only whole snapshots:
proxies that differ in one type (each its own certificate: SDS) share every other type's set, and
with it the work a change to that type costs (``SnapshotBuilder``; ``Snapshot.replaced``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from types import MappingProxyType
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


def make_entry(type_url: str, name: str, resource: Message | Entry, like: Entry | None = None) -> Entry:
    """The packed, versioned form of one resource. Owners that put the same resource into many
    nodes' snapshots can make its Entry once and pass it instead of the message (packing and
    hashing then happen once, not once per node).

    :param like: an earlier Entry of this name (the node's previous snapshot): returned as is
        when the message packs to the same bytes, so an unchanged resource rebuilt as a new
        message keeps its Entry (no hashing, fragments, references again; shared memos stay valid).
    """
    if isinstance(resource, Entry):
        if resource.name != name or resource.any.type_url != type_url:
            raise ValueError(f"entry {resource.name!r} ({resource.any.type_url}) filed as {name!r} under {type_url}")
        return resource
    packed = pack(type_url, name, resource)
    if like is not None and like.name == name and like.any.type_url == type_url and like.any.value == packed.value:
        return like
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


_NO_ENTRIES: Mapping[str, Entry] = MappingProxyType({})


class TypeSet:
    """The resources of one type in a snapshot: entries sorted by name, their type hash, and what
    is derived from them once: EDS/RDS references (``refs``: name -> ``Entry.refs``, for clusters
    and listeners), the SotW body and the config dump part. Immutable, so one set serves every
    snapshot holding the same entries of the type (``SnapshotBuilder`` hands it out)."""

    __slots__ = ("type_url", "entries", "hash", "refs", "key", "_body", "_csds")

    def __init__(self, type_url: str, entries: dict[str, Entry]) -> None:
        """``entries``: name -> Entry of ``type_url``, sorted by name (kept, not copied)."""
        self.type_url = type_url
        self.entries = entries
        self.hash = type_hash((n, e.version) for n, e in entries.items())
        self.refs: dict[str, tuple[str, ...]] = (
            {name: entry.refs for name, entry in entries.items() if entry.refs}
            if type_url in (CLUSTER, LISTENER) else {}
        )
        # What the set is made of: its type URL and the ids of its entries (which it keeps
        # alive, so they name them). Two sets with equal keys hold the very same entries.
        self.key: tuple[object, ...] = (type_url, *map(id, entries.values()))
        self._body: tuple[str, bytes] | None = None
        self._csds: bytes | None = None

    def sotw_body(self, version: str) -> bytes:
        """The SotW response body (no nonce) of every entry, under ``version``; memoized (one
        version at a time: a process has one epoch). Two threads racing build the same bytes."""
        memo = self._body
        if memo is None or memo[0] != version:
            memo = self._body = (version, sotw_body(self.type_url, version, self.entries.values()))
        return memo[1]

    def csds(self) -> bytes:
        """This type's part of a CSDS ``ClientConfig`` (see ``Snapshot.client_config``); memoized,
        so a set shared by many snapshots joins its fragments once."""
        if self._csds is None:
            entries = self.entries
            self._csds = (b"".join(entry.csds_fragment for entry in entries.values()) if entries
                          else _empty_type_fragment(self.type_url))
        return self._csds

    def __repr__(self) -> str:
        return f"TypeSet({self.type_url.rsplit('.', 1)[-1]}, {len(self.entries)}, {self.hash})"


class Snapshot:
    """Immutable resources per type URL: ``Mapping[type_url, Mapping[name, Message]]``.

    A value may also be a ``google.protobuf.Any``, or an ``Entry`` from ``make_entry`` to share
    one packed resource between many snapshots. Raises ``ValueError`` when a message's type does
    not match its type URL or its own name differs from its key. Safe to share between nodes
    and threads; nothing changes after construction except memoized response bodies and dump parts.
    Each type's resources are a ``TypeSet``, which other snapshots may share (see the module).
    """

    def __init__(self, resources: Mapping[str, Mapping[str, Message | Entry]]) -> None:
        self._init({
            type_url: TypeSet(type_url, {name: make_entry(type_url, name, by_name[name]) for name in sorted(by_name)})
            for type_url, by_name in resources.items()
        })

    @classmethod
    def of(cls, types: Mapping[str, TypeSet]) -> Snapshot:
        """A snapshot made of these type sets (shared, not copied)."""
        snapshot = cls.__new__(cls)
        snapshot._init(dict(types))
        return snapshot

    def _init(self, types: dict[str, TypeSet]) -> None:
        self._types = types

    def replaced(self, type_url: str, entries: Mapping[str, Entry]) -> Snapshot:
        """A new snapshot: this one with ``entries`` (name -> Entry of ``type_url``) put in place
        of, or next to, the type's entries of the same names; every other type's set is shared
        as is. For owners that renew one resource (a secret) without rebuilding the rest."""
        merged = {**self.entries(type_url), **entries}
        by_type = {name: merged[name] for name in sorted(merged)}
        return Snapshot.of({**self._types, type_url: TypeSet(type_url, by_type)})

    # -- reading ---------------------------------------------------------------------------------
    @property
    def type_urls(self) -> tuple[str, ...]:
        """The type URLs this snapshot has resources (possibly none) for."""
        return tuple(self._types)

    def type_set(self, type_url: str) -> TypeSet | None:
        """The type's resources as a (possibly shared) ``TypeSet``, or None when the type is absent."""
        return self._types.get(type_url)

    def entries(self, type_url: str) -> Mapping[str, Entry]:
        """Name -> Entry for one type (empty when the type is absent), sorted by name."""
        found = self._types.get(type_url)
        return found.entries if found is not None else _NO_ENTRIES

    def resource(self, type_url: str, name: str) -> any_pb2.Any | None:
        """The packed resource, or None."""
        entry = self.entries(type_url).get(name)
        return entry.any if entry else None

    def resource_version(self, type_url: str, name: str) -> str | None:
        """The content version (16 hex digits) of one resource, or None when absent."""
        entry = self.entries(type_url).get(name)
        return entry.version if entry else None

    def type_hash(self, type_url: str) -> str:
        """The epoch-free part of a type's version (a hash of the sorted name:version pairs)."""
        found = self._types.get(type_url)
        return found.hash if found is not None else EMPTY_HASH

    def version(self, type_url: str, epoch: str) -> str:
        """The wire version of the whole type: ``<epoch>-<type_hash>``."""
        return f"{epoch}-{self.type_hash(type_url)}"

    def eds_name(self, cluster_name: str) -> str | None:
        """The ClusterLoadAssignment name an EDS cluster subscribes to (None for other clusters)."""
        clusters = self._types.get(CLUSTER)
        refs = clusters.refs.get(cluster_name) if clusters is not None else None
        return refs[0] if refs else None

    def sotw_body(self, type_url: str, epoch: str) -> tuple[str, bytes]:
        """``(version, body)`` of the SotW response carrying every resource of the type.

        The body is a serialized DiscoveryResponse without a nonce, built once per epoch and
        type set: shared by every stream sent a snapshot holding that set.
        """
        version = self.version(type_url, epoch)
        found = self._types.get(type_url)
        if found is None:
            return version, sotw_body(type_url, version, ())
        return version, found.sotw_body(version)

    def client_config(self) -> bytes:
        """Every resource of this snapshot as one serialized CSDS ``ClientConfig``.

        One ``GenericXdsConfig`` per resource (type URL, name, content version, the packed
        resource), by type URL then name; a type present without resources is kept as a
        ``GenericXdsConfig`` with only its type URL. It is a byte join of the type sets' parts
        (memoized there, themselves joins of per-resource fragments memoized on the shared
        entries), so dumping thousands of similar snapshots is cheap; it is not kept here: a
        dump is stored once per publication, and a snapshot of its own would hold a copy of its
        proxy's whole config for nothing. :func:`meshplane.stream.dump.render_client_config`
        turns it into JSON on demand.
        """
        types = self._types
        return b"".join(types[type_url].csds() for type_url in sorted(types))

    def client_config_parts(self) -> list[tuple[str, str, bytes]]:
        """:meth:`client_config` by type: ``(type URL, type hash, that type's part)``, by type URL.
        The parts joined are the dump; the hash tells a writer whether a part changed since it
        last stored it (a route change leaves a proxy's other types, its certificate included, as
        they were)."""
        types = self._types
        return [(type_url, types[type_url].hash, types[type_url].csds()) for type_url in sorted(types)]

    def check_consistent(self) -> list[str]:
        """Problems that would leave Envoy waiting: EDS clusters without a ClusterLoadAssignment,
        listeners whose HttpConnectionManager names a missing RouteConfiguration. Empty when fine.
        """
        problems = []
        endpoints, routes = self.entries(ENDPOINT), self.entries(ROUTE)
        clusters, listeners = self._types.get(CLUSTER), self._types.get(LISTENER)
        for cluster, refs in sorted(clusters.refs.items() if clusters is not None else ()):
            if refs[0] not in endpoints:
                problems.append(f"cluster {cluster!r} uses EDS {refs[0]!r}, which is not in the snapshot")
        for listener, names in sorted(listeners.refs.items() if listeners is not None else ()):
            for name in names:
                if name not in routes:
                    problems.append(f"listener {listener!r} uses RDS {name!r}, which is not in the snapshot")
        return problems

    def __repr__(self) -> str:
        counts = ", ".join(f"{t.rsplit('.', 1)[-1]}={len(s.entries)}" for t, s in self._types.items())
        return f"Snapshot({counts})"


class SnapshotBuilder:
    """Builds many snapshots out of largely the same message objects (a fleet translated in one
    pass, where proxies share clusters, endpoints and route configs): each distinct message is
    packed and hashed once, each distinct set of entries of a type becomes one shared ``TypeSet``
    (its type hash, SotW body and config dump part made once), and proxies whose type sets all
    come out the same share one ``Snapshot``.

    Same snapshots as ``Snapshot(resources)``. Messages are recognised by identity, so use one
    builder for one pass and then drop it: it keeps every message it saw alive until then (an
    id cannot be reused meanwhile). Not thread-safe.
    """

    def __init__(self) -> None:
        self._entries: dict[int, tuple[object, Entry, str]] = {}  # id -> (message, entry, type URL)
        self._sets: dict[tuple[object, ...], TypeSet] = {}
        self._snapshots: dict[tuple[int, ...], Snapshot] = {}

    def entry(self, type_url: str, name: str, resource: Message | Entry, like: Entry | None = None) -> Entry:
        """``make_entry(type_url, name, resource, like)``, made once per distinct ``resource``."""
        hit = self._entries.get(id(resource))
        if hit is None or hit[1].name != name or hit[2] != type_url:
            hit = (resource, make_entry(type_url, name, resource, like), type_url)
            self._entries[id(resource)] = hit
        return hit[1]

    def build(self, resources: Mapping[str, Mapping[str, Message | Entry]],
              previous: Snapshot | None = None) -> Snapshot:
        """The Snapshot of ``resources`` (as ``Snapshot(resources)`` would make it).

        Each type whose entries come out as an earlier call's gets that call's ``TypeSet``, and
        resources whose every type does get that call's Snapshot object: a fleet of alike proxies
        then shares one, and with it every memoized response body and config dump; proxies that
        differ in one type (their own certificate) still share the other types' sets.

        :param previous: the node's current snapshot, if any. A message that packs to the bytes
            of its entry there keeps that Entry, a type whose entries all stay the same keeps its
            TypeSet, and when every type does the result is ``previous`` itself: resources made
            for one node alone (rebuilt as new messages at every pass) then cost a serialization,
            not a new entry, type hash, body and config dump.
        """
        memo, sets = self._entries, self._sets
        before = previous._types if previous is not None else {}
        types: dict[str, TypeSet] = {}
        for type_url, by_name in resources.items():
            was = before.get(type_url)
            old = was.entries if was is not None else _NO_ENTRIES
            by_type: dict[str, Entry] = {}
            for name in sorted(by_name):
                resource = by_name[name]
                hit = memo.get(id(resource))  # self.entry, inlined: it runs for every resource of every proxy
                if hit is None or hit[2] != type_url or hit[1].name != name:
                    hit = memo[id(resource)] = (resource, make_entry(type_url, name, resource, old.get(name)), type_url)
                by_type[name] = hit[1]
            # Entries are kept alive by self._entries (or by the type set they came from, kept
            # alive by self._sets), so their ids name them for the pass (and an entry's id
            # stands for its name too).
            key = (type_url, *map(id, by_type.values()))
            found = sets.get(key)
            if found is None:
                found = was if was is not None and was.key == key else TypeSet(type_url, by_type)
                sets[key] = found
            types[type_url] = found
        # Type sets are kept alive by self._sets, and each knows its type URL.
        whole = tuple(map(id, types.values()))
        snapshot = self._snapshots.get(whole)
        if snapshot is None:
            if previous is not None and len(before) == len(types) and all(
                    before.get(type_url) is found for type_url, found in types.items()):
                snapshot = previous
            else:
                snapshot = Snapshot.of(types)
            self._snapshots[whole] = snapshot
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
