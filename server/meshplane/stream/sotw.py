"""State-of-the-world ADS (StreamAggregatedResources).

Every response carries the whole target set of its type with one version, ``<epoch>-<hash>``.
LDS/CDS are full state (a listener or cluster left out is deleted); EDS/RDS carry the subscribed
names that exist. Requests are classified by their nonce:

* empty nonce: a (re)subscription, answered even when nothing changed (a proxy that reconnects
  gets everything: it may have lost state);
* the last nonce sent for the type: an ACK, or a NACK when ``error_detail`` is set;
* any other nonce: stale (the proxy had not seen our newer response yet); ignored entirely.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from envoy.service.discovery.v3 import discovery_pb2

from meshplane.stream.cache import Published
from meshplane.stream.session import Session, Target, TypeState, legacy_wildcard
from meshplane.stream.snapshot import Entry, Snapshot, sotw_body
from meshplane.stream.types import CLUSTER


class SotwSession(Session):
    """One StreamAggregatedResources stream."""

    protocol = "sotw"

    def on_request(self, request: discovery_pb2.DiscoveryRequest) -> None:
        type_url = request.type_url
        if not type_url:
            return
        state = self.state(type_url)
        nonce = request.response_nonce
        if nonce:
            if nonce != state.nonce:
                return  # stale: superseded by a response the proxy has not answered yet
            if state.inflight == nonce:
                if request.HasField("error_detail"):
                    self.nacked(state, request.error_detail.message)
                else:
                    self.acked(state)
        else:
            state.requested = True
            state.first = True
            state.inflight = None  # whatever was in flight before is answered by the new response
        self._subscribe(state, request.resource_names)

    def _subscribe(self, state: TypeState, resource_names: Any) -> None:
        names = set(resource_names)
        if not names and legacy_wildcard(state.type_url) and not state.ever_named:
            wildcard = True
        else:
            wildcard = "*" in names
            names.discard("*")
            state.ever_named = state.ever_named or bool(names)
        if wildcard != state.wildcard or names != state.names or state.first:
            state.wildcard, state.names = wildcard, names
            self.subscription_changed(state)

    def client_has(self, state: TypeState) -> Mapping[str, str]:
        return _Versions(state.sent)

    def plan(self, state: TypeState, snapshot: Snapshot) -> Target | None:
        if not state.wildcard and not state.names:
            return None  # unsubscribed from everything: Envoy would not even ACK a response
        target = self.target(state.type_url, snapshot)
        if not target.entries and not target.retained and not state.wildcard and not state.first:
            # SotW cannot delete an EDS/RDS resource, and the usual reason for the empty set is
            # that Envoy is about to unsubscribe (its listener or cluster went away); an answer
            # then crosses that request and Envoy, with no watch left, never ACKs it.
            return None
        forced = any(name in target.entries for name in state.force)
        if state.first or forced:
            return target
        if target.version in (state.sent_version, state.nacked_version):
            return None  # nothing new, or exactly what the proxy just rejected
        return target

    def commit(self, state: TypeState, plan: Target, published: Published) -> bytes:
        snapshot = published.snapshot
        type_url = state.type_url
        sent: Mapping[str, Entry]
        if plan.whole:
            version, body = snapshot.sotw_body(type_url, self.cache.epoch)  # shared by all streams
            sent = plan.entries
        else:
            version = plan.version
            merged = {**plan.entries, **{name: state.sent[name] for name in plan.retained}}
            sent = dict(sorted(merged.items()))
            body = sotw_body(type_url, version, sent.values())
        if type_url == CLUSTER:
            previous = state.sent
            self.force_endpoints(
                (name for name, entry in plan.entries.items()
                 if name not in previous or previous[name].version != entry.version),
                snapshot,
            )
        state.sent = sent
        nonce = self.next_nonce()
        self.sent(state, version, nonce, published)
        return body + discovery_pb2.DiscoveryResponse(nonce=nonce).SerializeToString()


class _Versions(Mapping[str, str]):
    """name -> version view of a name -> Entry mapping (no copy: it runs on every pass)."""

    __slots__ = ("_entries",)

    def __init__(self, entries: Mapping[str, Entry]) -> None:
        self._entries = entries

    def __getitem__(self, name: str) -> str:
        return self._entries[name].version

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
