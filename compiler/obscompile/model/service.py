"""A service: the unit a manifest describes."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

import attrs

from obscompile.model.location import UNKNOWN, Location, packed_reduction
from obscompile.model.metric import Metric, SeriesNaming
from obscompile.model.panel import Row
from obscompile.model.scrape import ScrapeJob


class Runtime(enum.StrEnum):
    """The client library a service uses, which picks the instrumentation to emit."""

    PYTHON = "python"
    NODEJS = "nodejs"


# The series naming of the client library that each runtime's instrumentation uses.
_RUNTIME_NAMING = {
    Runtime.PYTHON: SeriesNaming.PROMETHEUS_CLIENT,
    Runtime.NODEJS: SeriesNaming.PROM_CLIENT,
}


def with_runtime_naming(
    metrics: Iterable[Metric], runtime: Runtime | None
) -> tuple[Metric, ...]:
    """Return `metrics` with the series naming of a service with `runtime`.

    obscompile generates the instrumentation of a service with a runtime, so the
    library that names its series is known. A service without one may use any.
    """
    if runtime is None:
        naming = SeriesNaming.DECLARED_OR_SUFFIXED
    else:
        naming = _RUNTIME_NAMING[Runtime(runtime)]
    return tuple(
        metric if metric.naming is naming else attrs.evolve(metric, naming=naming)
        for metric in metrics
    )


@attrs.frozen
class Dashboard:
    """Dashboard-level settings; `uid` is always explicit and stable."""

    uid: str
    title: str
    description: str = ""
    tags: tuple[str, ...] = ()
    folder: str = "General"
    refresh: str = "1m"
    time_from: str = "now-6h"
    timezone: str = "browser"
    location: Location = attrs.field(default=UNKNOWN, eq=False)
    locations: dict[str, Location] = attrs.field(factory=dict, eq=False)

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return packed_reduction(self)


@attrs.frozen
class AlertSettings:
    """Service-wide alert defaults; `for_` None means the project's default.

    `locations` maps `for`, `labels`, `label:<name>`, `annotations` and
    `annotation:<name>` to where they are written.
    """

    for_: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    locations: dict[str, Location] = attrs.field(factory=dict, eq=False)


@attrs.frozen
class Service:
    """Everything one manifest declares about a service.

    A service with no rows is scrape-only: it contributes scrape jobs and no dashboard.
    `name` is the service's ASCII key, which names its files and rule groups, and
    `declared_name` the name as the manifest writes it.
    """

    name: str
    title: str
    dashboard: Dashboard | None
    scrape_jobs: tuple[ScrapeJob, ...] = ()
    metrics: tuple[Metric, ...] = ()
    rows: tuple[Row, ...] = ()
    runtime: Runtime | None = None
    alerts: AlertSettings = attrs.field(factory=AlertSettings)
    location: Location = attrs.field(default=UNKNOWN, eq=False)
    locations: dict[str, Location] = attrs.field(factory=dict, eq=False)
    declared_name: str = attrs.field(
        default=attrs.Factory(lambda service: service.name, takes_self=True)
    )

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return packed_reduction(self)

    def metric_families(self) -> tuple[tuple[str, tuple[str, str]], ...]:
        """Return the name and family (see `Metric.family`) of each catalog metric.

        A catalog read from the build cache stores them, so its metrics stay pickled.
        """
        known = getattr(self.metrics, "families", None)
        if known is not None:
            return known
        return tuple((metric.name, metric.family()) for metric in self.metrics)

    def metric(self, name: str) -> Metric | None:
        """Return the catalog entry that produces series `name`, if any."""
        for metric in self.metrics:
            if name == metric.name or name in metric.series_names():
                return metric
        return None

    @property
    def panels(self) -> tuple:
        return tuple(panel for row in self.rows for panel in row.panels)
