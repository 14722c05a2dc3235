"""Catalogs of different services that give one series name two meanings."""

from __future__ import annotations

from collections.abc import Iterator

from obscompile.check.catalog import exported_series
from obscompile.check.context import ProjectContext
from obscompile.check.registry import Scope, check
from obscompile.diagnostics import Diagnostic, warning
from obscompile.model.metric import Metric
from obscompile.model.service import Service

NAME = "project/metric-type-conflict"


# The suffixes that client libraries append to a metric's name in its series names.
_SUFFIXES = frozenset({"total", "created", "bucket", "sum", "count", "info"})


def _kind(metric: Metric) -> str:
    return f'{metric.type} "{metric.name}"'


def _sharing(services: tuple[Service, ...]) -> list[tuple[Service, Metric]]:
    """Return the metrics that may export a series that another family exports too.

    Every series of a metric, less one suffix of `_SUFFIXES`, is the metric's name or
    its name less such a suffix. So metrics that share a series share one of those
    keys, and a metric whose keys no metric of another family has shares nothing.
    """
    catalogs = [(service, service.metric_families()) for service in services]
    by_key: dict[str, tuple[str, str] | None] = {}
    for _, families in catalogs:
        for name, family in families:
            if by_key.setdefault(name, family) != family:
                by_key[name] = None
            head, _, tail = name.rpartition("_")
            if tail in _SUFFIXES and by_key.setdefault(head, family) != family:
                by_key[head] = None
    shared = {key for key, family in by_key.items() if family is None}
    if not shared:
        return []

    def sharing(name: str) -> bool:
        head, _, tail = name.rpartition("_")
        return name in shared or (head in shared and tail in _SUFFIXES)

    found: list[tuple[Service, Metric]] = []
    for service, families in catalogs:
        # Only the catalogs with such a metric are read in full.
        if any(sharing(name) for name, _ in families):
            found.extend(
                (service, metric) for metric in service.metrics if sharing(metric.name)
            )
    return found


@check(
    NAME,
    "two services declare metrics of different types that export one series name",
    scope=Scope.PROJECT,
)
def metric_type_conflict(context: ProjectContext) -> Iterator[Diagnostic]:
    # Series name -> the first service whose catalog exports it, in the order in
    # which the catalog lookups of other services' queries find them.
    first: dict[str, tuple[Service, Metric]] = {}
    # (Family, exported series) -> the series that it shares with an earlier metric
    # of another family. A metric with the same key shares the same series with the
    # same first declarations. The key contains the series because one family exports
    # other series under another naming, such as counter `x` with and without runtime.
    families: dict[
        tuple[tuple[str, str], tuple[str, ...]], list[tuple[str, Service, Metric]]
    ] = {}
    for service, metric in _sharing(context.services):
        family = metric.family()
        exported = exported_series(metric)
        shared = families.get((family, exported))
        if shared is None:
            shared = []
            for series in exported:
                found = first.setdefault(series, (service, metric))
                if found[1].family() != family:
                    shared.append((series, *found))
            families[(family, exported)] = shared
        reported: set[int] = set()
        for series, other_service, other in shared:
            if other_service is service or id(other) in reported:
                continue
            reported.add(id(other))
            # Neither declaration is the original to the user, so each is reported,
            # naming the other, and each file gets an annotation.
            for reported_metric, named_service, named in (
                (metric, other_service, other),
                (other, service, metric),
            ):
                yield _conflict(
                    reported_metric, named_service, named, series, other, service
                )


def _conflict(
    metric: Metric,
    other_service: Service,
    other: Metric,
    series: str,
    first: Metric,
    later: Service,
) -> Diagnostic:
    """Return the warning at `metric` for the series that `other` exports too.

    `first` is the declaration that the catalog lookups of other services' queries
    find first. `later` is the service of the other declaration, which those lookups
    find only where a query's job matcher names one of its jobs.
    """
    return warning(
        metric.location,
        f'{_kind(metric)} exports the series "{series}", which '
        f'{_kind(other)} of service "{other_service.name}" exports too '
        f"({other.location}); Prometheus keeps both under that one name, "
        "and the queries of services that declare neither are checked "
        f"against the {first.type} unless their job matcher names a job of "
        f'service "{later.name}"',
        NAME,
    )
