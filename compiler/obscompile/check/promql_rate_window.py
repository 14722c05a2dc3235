"""promql/rate-window: a range too short to hold two samples at the scrape interval."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import promql_parser as pp

from obscompile import promql
from obscompile.check import catalog
from obscompile.check.context import PanelContext
from obscompile.check.registry import check
from obscompile.check.scrape_job import interval_of
from obscompile.diagnostics import Diagnostic, error
from obscompile.model.panel import Panel

NAME = "promql/rate-window"

# Functions that return nothing for a window holding fewer than two samples.
TWO_SAMPLE_FUNCTIONS = frozenset(
    {"rate", "irate", "increase", "delta", "idelta", "deriv"}
)


def scrape_interval(
    context: PanelContext, selector: pp.VectorSelector
) -> timedelta | None:
    """Return the scrape interval of the jobs `selector` reads (the longest of them).

    Returns None for a job that only a manifest that failed to load may declare.
    """
    named = sorted(set(catalog.equal_values(selector, "job")))
    chosen = catalog.jobs_named(context, named)
    if named and not chosen and not catalog.complete(context):
        return None
    chosen = chosen or list(context.service.scrape_jobs)
    default = context.scrape_interval
    return max((interval_of(job, default) for job in chosen), default=default)


def feeds_alert(panel: Panel) -> bool:
    """Return True when the panel's thresholds may become an alerting rule."""
    return (
        panel.alert.enabled
        and panel.thresholds is not None
        and not panel.thresholds.is_empty
    )


@check(NAME, "a rate window shorter than twice the scrape interval")
def rate_window(context: PanelContext) -> Iterator[Diagnostic]:
    for call in context.query.of_type(pp.Call):
        function = call.func.name
        if function not in TWO_SAMPLE_FUNCTIONS or not call.args:
            continue
        matrix = promql.strip_parens(call.args[0])
        if not isinstance(matrix, pp.MatrixSelector):
            continue
        written = context.query.range_of(matrix)
        if written is not None and promql.has_grafana_variable(written[0]):
            continue  # Grafana picks the window, as with [$__rate_interval].
        if written is not None and written[0].isdigit():
            continue  # promql/syntax reports the missing unit instead.
        interval = scrape_interval(context, matrix.vector_selector)
        if interval is None or matrix.range >= 2 * interval:
            continue
        text = written[0] if written else promql.duration_text(matrix.range)
        offset = written[1] if written else context.query.offset_of(matrix)
        minimum = promql.duration_text(2 * interval)
        recommended = promql.duration_text(4 * interval)
        message = (
            f"{function} window [{text}] is shorter than 2 × scrape interval "
            f"({promql.duration_text(interval)}); use at least [{minimum}] "
            f"(4 × interval, [{recommended}], recommended)"
        )
        if not feeds_alert(context.panel):
            message += ", or [$__rate_interval] on a dashboard"
        yield error(context.query_location(offset), message, NAME)
