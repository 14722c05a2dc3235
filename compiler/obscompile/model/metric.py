"""Metric catalog entries."""

from __future__ import annotations

import enum
from collections.abc import Mapping

import attrs

from obscompile.model.location import UNKNOWN, Location, PackedLocations


class MetricType(enum.StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"
    SUMMARY = "summary"
    INFO = "info"


class SeriesNaming(enum.StrEnum):
    """The series names that a catalog expects of its metrics, by client library.

    prometheus_client (Python) and prom-client (Node.js), the libraries of the
    instrumentation that obscompile generates, expose a counter `x` as `x_total`
    and an info metric `x` as `x_info`. They differ in the series of a summary and
    in the `_created` series (see `catalog.exported_series`).
    """

    # A library that adds those suffixes, but not known which one. A summary `x` is
    # read as `x`, `x_sum` and `x_count`. It is the default of a Metric built in code.
    SUFFIXED = "suffixed"
    # prometheus_client, the library of `runtime: python`. Its Summary computes no
    # quantiles, so a summary `x` is read as `x_sum` and `x_count` alone.
    PROMETHEUS_CLIENT = "prometheus_client"
    # prom-client, the library of `runtime: nodejs`. A summary `x` is read as `x`,
    # `x_sum` and `x_count`, and `x` has the quantiles of PROM_CLIENT_PERCENTILES.
    PROM_CLIENT = "prom-client"
    # A service that obscompile does not instrument may use any library. Go's
    # client_golang, which postgres_exporter uses, exposes a counter under the name
    # it is given (pg_stat_database_xact_commit), so either name is expected.
    DECLARED_OR_SUFFIXED = "declared-or-suffixed"


# The quantiles of a summary in the generated prom-client instrumentation, which
# metrics.ts sets as the summary's `percentiles`. They are the defaults of prom-client
# 15.1 (lib/summary.js).
PROM_CLIENT_PERCENTILES = (0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999)


@attrs.frozen
class Metric:
    """One metric that a service exports, as its client library declares it."""

    name: str
    type: MetricType
    help: str = ""
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    naming: SeriesNaming = SeriesNaming.SUFFIXED
    location: Location = attrs.field(default=UNKNOWN, eq=False)
    # Where each key, label and bound was written: "type", "labels.0", "buckets.2".
    locations: Mapping[str, Location] = attrs.field(factory=dict, eq=False)

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        # Positional arguments unpickle faster than attrs' state (see Location).
        fields = (
            self.name,
            self.type,
            self.help,
            self.labels,
            self.buckets,
            self.naming,
        )
        locations = PackedLocations.of(self.locations)
        return (Metric, (*fields, self.location, locations))

    def location_of(self, key: str) -> Location:
        """Return where `key` was written, or the metric's own location."""
        return self.locations.get(key, self.location)

    def family(self) -> tuple[str, str]:
        """Return what identifies the metric across catalogs: its name and type.

        Counters `x` and `x_total` are one family. So are info metrics `x` and
        `x_info` of a catalog that expects either name (see `SeriesNaming`), because
        both export `x_info`.
        """
        if self.type is MetricType.COUNTER:
            return (self.name.removesuffix("_total"), str(self.type))
        if (
            self.type is MetricType.INFO
            and self.naming is SeriesNaming.DECLARED_OR_SUFFIXED
        ):
            return (self.name.removesuffix("_info"), str(self.type))
        return (self.name, str(self.type))

    def series_names(self) -> tuple[str, ...]:
        """Return the names of the series the metric produces in the exposition format.

        With `SeriesNaming.DECLARED_OR_SUFFIXED`, a counter or info metric whose name
        lacks the suffix gives its declared name first, then the suffixed name.
        """
        if self.type is MetricType.HISTOGRAM:
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        if self.type is MetricType.SUMMARY:
            if self.naming is SeriesNaming.PROMETHEUS_CLIENT:
                return (f"{self.name}_sum", f"{self.name}_count")
            return (self.name, f"{self.name}_sum", f"{self.name}_count")
        if self.type is MetricType.INFO:
            return self._suffixed("_info")
        if self.type is MetricType.COUNTER and not self.name.endswith("_total"):
            return self._suffixed("_total")
        return (self.name,)

    def _suffixed(self, suffix: str) -> tuple[str, ...]:
        if self.naming is not SeriesNaming.DECLARED_OR_SUFFIXED:
            return (f"{self.name}{suffix}",)
        if self.name.endswith(suffix):
            return (self.name,)
        return (self.name, f"{self.name}{suffix}")
