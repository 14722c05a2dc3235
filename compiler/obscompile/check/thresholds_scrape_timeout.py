"""thresholds/scrape-timeout: a scrape duration bound that only a failed scrape reaches.

Prometheus ends a scrape that takes longer than the job's scrape_timeout and counts it
as failed: `up` is 0 and `scrape_duration_seconds` is about the timeout. A red or
yellow band of a `scrape_duration_seconds` panel that starts at or above the timeout
therefore colours only targets that are down, which `up` already shows, and never
warns of a slow target before it fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import promql_parser as pp

from obscompile import promql
from obscompile.check import catalog
from obscompile.check.context import PanelContext
from obscompile.check.registry import check
from obscompile.check.scrape_job import interval_of
from obscompile.derive.units import UnitError, convert, panel_unit
from obscompile.diagnostics import Diagnostic, warning
from obscompile.load.durations import positive_duration
from obscompile.model.scrape import ScrapeJob
from obscompile.model.threshold import Quantity, Thresholds, colour_hue
from obscompile.promql import duration_text

NAME = "thresholds/scrape-timeout"

METRIC = "scrape_duration_seconds"
# Aggregations whose result is one of the durations they aggregate, or lies between
# them, so none of them is above the longest duration.
_KEEPING_AGGREGATIONS = frozenset({"max", "min", "avg"})


@check(NAME, "a scrape duration bound at or above the job's scrape timeout")
def scrape_timeout(context: PanelContext) -> Iterator[Diagnostic]:
    panel = context.panel
    if panel.thresholds is None or context.query.expr is None:
        return
    selector = _duration_selector(context.query.expr)
    if selector is None or panel_unit(panel, context.service) != "s":
        return
    names = catalog.equal_values(selector, "job")
    jobs = catalog.jobs_named(context, names)
    if len(names) != 1 or len(jobs) != 1:
        return

    (job,) = jobs
    timeout, origin = timeout_of(job, context)
    timeout_text = duration_text(timeout)
    for hue, bound in _bounds_from(panel.thresholds, timeout):
        # A bare number is in seconds, the panel's unit.
        written = f"{bound}s" if bound.unit is None else str(bound)
        yield warning(
            panel.bound_location(bound),
            f'the {hue} band of panel "{panel.title}" starts at {written}, at or '
            f'above the scrape timeout of job "{job.job}", {timeout_text} ({origin}). '
            "Prometheus fails a scrape that takes that long and reports the target "
            "down, so the band colours only targets that are down; write a bound "
            f"below {timeout_text}",
            NAME,
        )


def _bounds_from(
    thresholds: Thresholds, timeout: timedelta
) -> Iterator[tuple[str, Quantity]]:
    """Yield the hue and lower bound of each red or yellow band from `timeout` up."""
    for band in thresholds.bands:
        hue = colour_hue(band.color)
        if band.lower is None or hue not in ("red", "yellow"):
            continue
        try:
            seconds = convert(band.lower, "s")
        except UnitError:
            continue
        if seconds >= timeout.total_seconds():
            yield hue, band.lower


def timeout_of(job: ScrapeJob, context: PanelContext) -> tuple[timedelta, str]:
    """Return the scrape timeout of `job`, and what sets it.

    A job without its own timeout gets the global one, shortened to the job's
    interval when that is shorter, as Prometheus 2.42 does when it loads its
    configuration.
    """
    own = positive_duration(job.timeout) if job.timeout else None
    if own is not None:
        return own, f"the job's timeout{_written_at(job, 'timeout')}"
    interval = interval_of(job, context.scrape_interval)
    if job.interval is not None and interval < context.scrape_timeout:
        global_timeout = duration_text(context.scrape_timeout)
        return interval, (
            f"the job's interval{_written_at(job, 'interval')}, to which Prometheus "
            f"shortens the global scrape_timeout of {global_timeout}"
        )
    return context.scrape_timeout, context.scrape_timeout_origin


def _written_at(job: ScrapeJob, key: str) -> str:
    """Return ", set at FILE:LINE:COL" for a key of `job` whose position is known."""
    location = job.locations.get(key)
    return "" if location is None else f", set at {location}"


def _duration_selector(node: pp.Expr) -> pp.VectorSelector | None:
    """Return the selector of a query that is `scrape_duration_seconds{...}`.

    The selector may be inside parentheses or a `max`, `min` or `avg` aggregation.
    """
    node = promql.strip_parens(node)
    if isinstance(node, pp.AggregateExpr) and str(node.op) in _KEEPING_AGGREGATIONS:
        node = promql.strip_parens(node.expr)
    if not isinstance(node, pp.VectorSelector):
        return None
    return node if catalog.selector_name(node) == METRIC else None
