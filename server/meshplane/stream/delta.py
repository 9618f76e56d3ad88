"""Incremental ("delta") ADS (DeltaAggregatedResources).

The stream keeps, per type, the name -> version map of what the proxy holds (seeded from
``initial_resource_versions`` when it reconnects) and sends only the difference: new or changed
resources in ``resources``, vanished ones in ``removed_resources``. Per-resource versions are
content hashes, so a proxy that reconnects, even to a restarted server, is not sent what it has.

* The first request of a type is always answered (possibly with nothing), so the proxy finishes
  initializing; an empty first subscription means wildcard for LDS/CDS (Envoy's legacy form),
  ``*`` means wildcard anywhere.
* ``resource_names_subscribe``/``unsubscribe`` are honoured even with a stale nonce (xDS spec); a
  name subscribed again is sent again ("the client may have forgotten it").
* Explicitly subscribed names that do not exist are answered in ``removed_resources`` at once,
  so the proxy need not wait for its initial fetch timeout.
* ACK/NACK is matched on the nonce of the last response. Resources of a NACKed response are not
  sent again on their own; they ride along with the next response of the type (which a new
  snapshot triggers), so the status stays ERROR while Envoy still rejects them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from envoy.service.discovery.v3 import discovery_pb2

from meshplane.stream.cache import Published
from meshplane.stream.session import Session, Target, TypeState, legacy_wildcard
from meshplane.stream.snapshot import Entry, Snapshot
from meshplane.stream.types import CLUSTER


class DeltaPlan:
    """One delta response to be: resources to send, names removed, names that never existed."""

    __slots__ = ("target", "send", "removed", "absent")

    def __init__(self, target: Target, send: list[Entry], removed: list[str], absent: list[str]) -> None:
        self.target = target
        self.send = send
        self.removed = removed
        self.absent = absent


class DeltaSession(Session):
    """One DeltaAggregatedResources stream."""

    protocol = "delta"

    def on_request(self, request: discovery_pb2.DeltaDiscoveryRequest) -> None:
        type_url = request.type_url
        if not type_url:
            return
        state = self.state(type_url)
        first = not state.requested
        if first:
            state.requested = state.first = True
            if not request.resource_names_subscribe and legacy_wildcard(type_url):
                state.wildcard = True
            self.subscription_changed(state)
        self._subscribe(state, request.resource_names_subscribe, request.resource_names_unsubscribe, first)
        if first:
            state.have = {name: version for name, version in request.initial_resource_versions.items()
                          if state.subscribed(name)}
        nonce = request.response_nonce
        if nonce and nonce == state.nonce and state.inflight == nonce:
            if request.HasField("error_detail"):
                state.rejected.update(state.last_names)
                self.nacked(state, request.error_detail.message)
            else:
                state.rejected.clear()
                self.acked(state)

    def _subscribe(self, state: TypeState, subscribe: Sequence[str], unsubscribe: Sequence[str],
                   first: bool) -> None:
        for name in subscribe:
            if name == "*":
                state.wildcard = True
                continue
            state.names.add(name)
            state.absent_sent.discard(name)
            if not first:
                state.have.pop(name, None)  # subscribed again: send it again even if unchanged
        for name in unsubscribe:
            if name == "*":
                state.wildcard = False
                state.have = {n: v for n, v in state.have.items() if n in state.names}
                continue
            state.names.discard(name)
            state.absent_sent.discard(name)
            if not state.wildcard:
                state.have.pop(name, None)
        if (subscribe or unsubscribe) and not first:
            self.subscription_changed(state)

    def client_has(self, state: TypeState) -> Mapping[str, str]:
        return state.have

    def plan(self, state: TypeState, snapshot: Snapshot) -> DeltaPlan | None:
        target = self.target(state.type_url, snapshot)
        have, force = state.have, state.force
        send = [entry for name, entry in target.entries.items()
                if have.get(name) != entry.version or name in force]
        removed = [name for name in have if name not in target.entries and name not in target.retained]
        everything = snapshot.entries(state.type_url)
        absent = [name for name in sorted(state.names)
                  if name not in everything and name not in have and name not in state.absent_sent]
        if not (send or removed or absent or state.first):
            return None
        if state.rejected:
            sending = {entry.name for entry in send}
            send += [target.entries[name] for name in state.rejected
                     if name in target.entries and name not in sending]
            send.sort(key=lambda entry: entry.name)
        return DeltaPlan(target, send, removed, absent)

    def commit(self, state: TypeState, plan: DeltaPlan, published: Published) -> bytes:
        for entry in plan.send:
            state.have[entry.name] = entry.version
            state.absent_sent.discard(entry.name)
        for name in plan.removed:
            state.have.pop(name, None)
        state.absent_sent.update(plan.absent)
        state.last_names = tuple(entry.name for entry in plan.send)
        if state.type_url == CLUSTER:
            self.force_endpoints(state.last_names, published.snapshot)
        nonce = self.next_nonce()
        self.sent(state, plan.target.version, nonce, published)
        header = discovery_pb2.DeltaDiscoveryResponse(
            system_version_info=plan.target.version,
            type_url=state.type_url,
            removed_resources=plan.removed + plan.absent,
            nonce=nonce,
        ).SerializeToString()
        return b"".join(entry.delta_fragment for entry in plan.send) + header
