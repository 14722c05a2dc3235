"""Metric catalog entries."""

from __future__ import annotations

import enum

import attrs

from obscompile.model.location import UNKNOWN, Location


class MetricType(enum.StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"
    SUMMARY = "summary"
    INFO = "info"


@attrs.frozen
class Metric:
    """One metric that a service exports, as its client library declares it."""

    name: str
    type: MetricType
    help: str = ""
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    location: Location = attrs.field(default=UNKNOWN, eq=False)
    # Where each key, label and bound was written: "type", "labels.0", "buckets.2".
    locations: dict[str, Location] = attrs.field(factory=dict, eq=False)

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        # Positional arguments unpickle faster than attrs' state (see Location).
        fields = (self.name, self.type, self.help, self.labels, self.buckets)
        return (Metric, (*fields, self.location, self.locations))

    def location_of(self, key: str) -> Location:
        """Return where `key` was written, or the metric's own location."""
        return self.locations.get(key, self.location)

    def series_names(self) -> tuple[str, ...]:
        """Return the names of the series the metric produces in the exposition format."""
        if self.type is MetricType.HISTOGRAM:
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        if self.type is MetricType.SUMMARY:
            return (self.name, f"{self.name}_sum", f"{self.name}_count")
        if self.type is MetricType.INFO:
            return (f"{self.name}_info",)
        if self.type is MetricType.COUNTER and not self.name.endswith("_total"):
            return (f"{self.name}_total",)
        return (self.name,)
