"""promql/rate-window: a range too short to hold two samples at the scrape interval.

A window of Grafana's `$__interval`, the step between the points of the panel, is
short at short time ranges, so it gets a warning that suggests `$__rate_interval`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import promql_parser as pp

from obscompile import promql
from obscompile.check import catalog
from obscompile.check.context import PanelContext
from obscompile.check.registry import check
from obscompile.check.scrape_job import interval_of
from obscompile.diagnostics import Diagnostic, error, warning
from obscompile.model.panel import Panel

NAME = "promql/rate-window"

# Functions that return nothing for a window holding fewer than two samples.
TWO_SAMPLE_FUNCTIONS = frozenset(
    {"rate", "irate", "increase", "delta", "idelta", "deriv"}
)
# Grafana's step between the points of a panel, as a range: `$__interval` or
# `${__interval}`.
_STEP_WINDOW = re.compile(r"\$__interval|\$\{__interval\}")


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
        if written is not None and _STEP_WINDOW.fullmatch(written[0]):
            yield _step_window(context, function, matrix, *written)
            continue
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


def _step_window(
    context: PanelContext,
    function: str,
    matrix: pp.MatrixSelector,
    text: str,
    offset: int,
) -> Diagnostic:
    """Warn of a window of `$__interval`, which may hold fewer than two samples.

    Grafana computes `$__interval` as about the time range divided by the panel's
    width in pixels (the global variables page of Grafana's documentation).
    `$__rate_interval`, added in Grafana 7.2, is the larger of `$__interval` plus
    the data source's scrape interval and four times that scrape interval.
    """
    interval = scrape_interval(context, matrix.vector_selector)
    needs = "two samples in it"
    if interval is not None:
        needs += f", so at least 2 × scrape interval ({promql.duration_text(interval)})"
    return warning(
        context.query_location(offset),
        f"{function} window [{text}] is the step that Grafana picks from the time "
        "range and the panel's width, such as 20s for 6h on a panel 1000 pixels "
        f"wide, and less for a shorter range, but {function} needs {needs}; use "
        "[$__rate_interval], which Grafana keeps at least 4 × the scrape interval "
        "of the data source",
        NAME,
    )
