"""promql/summary-quantile: a quantile matcher that no series of a summary matches.

A Node.js service's summaries come from the generated prom-client instrumentation,
which exposes the quantiles of PROM_CLIENT_PERCENTILES and no others. So a matcher
such as `quantile="0.75"` or `quantile="0.990"` selects nothing. A Python service's
summaries have no quantile series at all, which promql/unknown-metric reports.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import promql_parser as pp

from obscompile import promql
from obscompile.check import catalog, client_library
from obscompile.check.context import PanelContext
from obscompile.check.registry import check
from obscompile.diagnostics import Diagnostic, error
from obscompile.model.metric import MetricType, SeriesNaming
from obscompile.numbers import number_text

NAME = "promql/summary-quantile"


def _matches_any(pattern: str) -> bool | None:
    """Return whether the regex matches a whole quantile, or None if it cannot tell."""
    try:
        compiled = promql.compile_regex(pattern)
    except re.error:
        return None  # NOTE: RE2 syntax that Python's re lacks is not checked.
    return any(compiled.fullmatch(q) for q in client_library.PROM_CLIENT_QUANTILES)


def _equal_fix(name: str, value: str) -> str:
    """Return the advice for a `quantile="value"` matcher that matches no series."""
    number = client_library.quantile_number(value)
    for quantile in client_library.PROM_CLIENT_QUANTILES:
        if number is not None and float(quantile) == number:
            return f'write quantile="{quantile}", the text that prom-client exposes'
    advice = client_library.histogram_advice(
        name,
        number_text(number) if number is not None else client_library.DEFAULT_QUANTILE,
    )
    return f"use one of them, or {advice}"


def _problem(name: str, matcher: pp.Matcher) -> str | None:
    """Return the message for a `quantile` matcher that matches no quantile."""
    value = matcher.value
    if catalog.is_placeholder(value):
        return None
    exposed = ", ".join(client_library.PROM_CLIENT_QUANTILES)
    because = (
        f"because prom-client (runtime nodejs) exposes only the quantiles {exposed}"
    )
    if matcher.op == pp.MatchOp.Equal:
        if value in client_library.PROM_CLIENT_QUANTILES:
            return None
        fix = _equal_fix(name, value)
        return f'summary "{name}" has no quantile "{value}", {because}; {fix}'
    if matcher.op == pp.MatchOp.Re:
        if _matches_any(value) is not False:
            return None
        advice = client_library.histogram_advice(name)
        return (
            f'summary "{name}" has no quantile that the regex "{value}" matches, '
            f"{because}; match one of them, or {advice}"
        )
    return None


@check(NAME, "a quantile matcher that no quantile of a prom-client summary matches")
def summary_quantile(context: PanelContext) -> Iterator[Diagnostic]:
    for selector in context.query.of_type(pp.VectorSelector):
        name = catalog.selector_name(selector)
        if name is None or catalog.is_placeholder(name):
            continue
        matchers = [m for m in selector.matchers.matchers if m.name == "quantile"]
        if not matchers:
            continue
        entry = catalog.selected_metric(context, selector)
        if entry is None:
            continue
        metric = entry.metric
        if (
            metric.type is not MetricType.SUMMARY
            or metric.naming is not SeriesNaming.PROM_CLIENT
            or name != metric.name
        ):
            continue
        for occurrence, matcher in enumerate(matchers):
            message = _problem(name, matcher)
            if message is None:
                continue
            location = context.matcher_value_location(selector, "quantile", occurrence)
            yield error(location, message, NAME)
