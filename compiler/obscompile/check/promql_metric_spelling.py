"""promql/metric-spelling: one metric read by both of its names in one service.

A service without a runtime may expose a counter `x` as `x` or as `x_total`, and an
info metric `x` as `x` or `x_info`, depending on its client library, so the checks
accept either name. An exporter exposes one of them, though, so where one service's
panels read the metric by both names, the panels of one name stay empty, and their
alerts stay silent.
"""

from __future__ import annotations

from collections.abc import Iterator

import promql_parser as pp

from obscompile.check.context import ServiceContext
from obscompile.check.registry import Scope, check
from obscompile.diagnostics import Diagnostic, warning
from obscompile.model.metric import Metric, SeriesNaming

NAME = "promql/metric-spelling"


def _spelled_two_ways(metrics: tuple[Metric, ...]) -> dict[str, Metric]:
    """Return each series name of a metric that has two, mapped to the metric."""
    found = {}
    for metric in metrics:
        names = metric.series_names()
        if metric.naming is SeriesNaming.DECLARED_OR_SUFFIXED and len(names) == 2:
            found.update(dict.fromkeys(names, metric))
    return found


@check(
    NAME,
    "a counter or info metric that one service reads by both of its names",
    scope=Scope.SERVICE,
)
def metric_spelling(context: ServiceContext) -> Iterator[Diagnostic]:
    names = _spelled_two_ways(context.service.metrics)
    if not names:
        return
    # The first name each metric is read by, and the title of the panel that reads it.
    first: dict[str, tuple[str, str]] = {}
    for row, panel in context.panels():
        panel_context = context.for_panel(row, panel)
        query = panel_context.query
        for selector in query.of_type(pp.VectorSelector):
            metric = names.get(selector.name or "")
            if metric is None:
                continue
            seen = first.setdefault(metric.name, (selector.name, panel.title))
            if seen[0] == selector.name:
                continue
            yield warning(
                panel_context.query_location(query.offset_of(selector)),
                f'metric "{metric.name}" is read as {selector.name} here and as '
                f'{seen[0]} in panel "{seen[1]}"; an exporter exposes one of these '
                "names, so the panels of the other stay empty and their alerts "
                "silent; use the name that the exporter exposes in every panel",
                NAME,
            )
