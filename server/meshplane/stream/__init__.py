"""The xDS streamer: Envoy's Aggregated Discovery Service (state of the world and delta) over gRPC.

Knows xDS and Envoy, nothing of App Mesh. The owner builds ``Snapshot``s, hands them to a
``SnapshotCache`` per node id, and runs an ``XdsServer`` over that cache; stream status flows to a
``StatusSink`` (``MemoryStatusSink`` by default) and Prometheus metrics (``XdsMetrics``).

    cache = SnapshotCache()
    server = XdsServer(cache, MemoryStatusSink(), listen="0.0.0.0:15010")
    port = server.start()
    cache.set_snapshot("mesh/demo/virtualNode/web", Snapshot({CLUSTER: {...}, ...}))
"""

from meshplane.stream.admission import Admit, Refusal, StreamOpening
from meshplane.stream.cache import FirstRequestHook, Published, SnapshotCache, new_epoch, node_metadata
from meshplane.stream.metrics import XdsMetrics
from meshplane.stream.server import AdsServicer, XdsServer
from meshplane.stream.snapshot import Snapshot, SnapshotBuilder, TypeSet
from meshplane.stream.status import MemoryStatusSink, StatusSink, SyncState
from meshplane.stream.types import CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET, SEND_ORDER

__all__ = [
    "Admit", "AdsServicer", "CLUSTER", "ENDPOINT", "FirstRequestHook", "LISTENER", "MemoryStatusSink", "Published",
    "ROUTE", "Refusal", "SECRET", "SEND_ORDER", "Snapshot", "SnapshotBuilder", "SnapshotCache", "StatusSink",
    "StreamOpening", "SyncState", "TypeSet", "XdsMetrics", "XdsServer", "new_epoch", "node_metadata",
]
