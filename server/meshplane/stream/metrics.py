"""Prometheus metrics of the xDS server, in a registry of their own (one per server, so tests can
run several servers in one process). Expose with ``prometheus_client.generate_latest(registry)``.

* ``meshplane_xds_pushes_total{type}``         responses written (type = CDS/EDS/LDS/RDS/...)
* ``meshplane_xds_nacks_total{type}``          responses the proxies rejected
* ``meshplane_xds_connected_proxies``          open ADS streams that identified their node
* ``meshplane_xds_refused_streams_total{code}`` streams the admission hook refused (code =
  UNAUTHENTICATED, PERMISSION_DENIED ...)
* ``meshplane_xds_convergence_seconds{type}``  from the snapshot being set (or the type being
  requested, if later) until the proxy ACKed the response built from it
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

CONVERGENCE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class XdsMetrics:
    """The streamer's metrics, registered in ``registry`` (a new CollectorRegistry by default)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.pushes = Counter("meshplane_xds_pushes", "xDS responses sent, by type.", ["type"],
                              registry=self.registry)
        self.nacks = Counter("meshplane_xds_nacks", "xDS responses rejected (NACKed) by proxies, by type.",
                             ["type"], registry=self.registry)
        self.connected = Gauge("meshplane_xds_connected_proxies", "Open ADS streams.",
                               registry=self.registry)
        self.refusals = Counter("meshplane_xds_refused_streams", "ADS streams refused at admission, by gRPC code.",
                                ["code"], registry=self.registry)
        self.convergence = Histogram(
            "meshplane_xds_convergence_seconds",
            "Seconds from a snapshot being set (or requested) until the proxy ACKed it, by type.",
            ["type"], buckets=CONVERGENCE_BUCKETS, registry=self.registry,
        )
        # labels() costs a lock and a tuple build per call; streams call these per message.
        self._children: dict[tuple[str, str], Any] = {}

    def pushed(self, type_label: str) -> None:
        self._child(self.pushes, "pushes", type_label).inc()

    def nacked(self, type_label: str) -> None:
        self._child(self.nacks, "nacks", type_label).inc()

    def refused(self, code: str) -> None:
        self._child(self.refusals, "refusals", code).inc()

    def converged(self, type_label: str, seconds: float) -> None:
        self._child(self.convergence, "convergence", type_label).observe(seconds)

    def _child(self, metric: Any, key: str, type_label: str) -> Any:
        child = self._children.get((key, type_label))
        if child is None:
            child = self._children[(key, type_label)] = metric.labels(type_label)
        return child


def merge_exposition(texts: list[str]) -> str:
    """Several processes' Prometheus text expositions of the same metrics, as one.

    Samples with the same name and labels are added up (counters, gauges, histogram buckets, sums
    and counts); ``*_created`` timestamps keep the earliest. One text is returned unchanged.
    """
    if len(texts) <= 1:
        return texts[0] if texts else ""
    families: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            if family.name not in families:
                families[family.name] = Metric(family.name, family.documentation, family.type)
                values[family.name] = {}
            merged = values[family.name]
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if key not in merged:
                    merged[key] = sample.value
                elif sample.name.endswith("_created"):
                    merged[key] = min(merged[key], sample.value)
                else:
                    merged[key] += sample.value
    for name, family in families.items():
        for (sample_name, labels), value in values[name].items():
            family.add_sample(sample_name, dict(labels), value)

    class _Merged:
        def collect(self) -> list[Metric]:
            return list(families.values())

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged())  # type: ignore[arg-type]
    return generate_latest(registry).decode()
