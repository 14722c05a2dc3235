"""promql/rate-counter: rate(), irate() or increase() over something not a counter."""

from __future__ import annotations

from collections.abc import Iterator

import promql_parser as pp

from obscompile import promql
from obscompile.check import catalog
from obscompile.check.context import PanelContext
from obscompile.check.registry import check
from obscompile.diagnostics import Diagnostic, error, warning
from obscompile.model.metric import Metric, MetricType

NAME = "promql/rate-counter"

COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket")


def _reported_as_unknown(context: PanelContext, name: str) -> bool:
    """Return True when promql/unknown-metric already reports `name`."""
    if not context.service.metrics:
        return False
    return not (catalog.is_builtin(name) or catalog.is_recorded(name))


def _counting_series(metric: Metric) -> str:
    """Return the series of `metric` that counts, such as `jobs_total` or `x_count`."""
    names = metric.series_names()
    if metric.type is MetricType.COUNTER:
        return next((n for n in names if n.endswith("_total")), metric.name)
    return f"{metric.name}_count"


def _selector_problem(
    context: PanelContext, function: str, selector: pp.VectorSelector
) -> Diagnostic | None:
    name = catalog.selector_name(selector)
    if name is None or catalog.is_placeholder(name):
        return None
    entry = catalog.selected_metric(context, selector)
    if entry is None:
        if name.endswith(COUNTER_SUFFIXES) or _reported_as_unknown(context, name):
            return None
        return warning(
            context.node_location(selector),
            f'{function}() applied to "{name}", which does not look like a counter '
            "(no _total/_count/_sum/_bucket suffix); use deriv() or delta() for gauges",
            NAME,
        )
    metric = entry.metric
    kind = metric.type
    created = kind in catalog.CREATED_TYPES and name == catalog.created_series(metric)
    if not created and (
        kind is MetricType.COUNTER or name.endswith(COUNTER_SUFFIXES[1:])
    ):
        return None
    if created:
        advice = f"apply {function}() to {_counting_series(metric)} instead"
        declared = (
            f"the creation time of {metric.name}, a time that changes only when the "
            "process starts"
        )
    elif kind is MetricType.GAUGE:
        advice = "use deriv() or delta() for gauges"
        declared = "a gauge"
    elif kind is MetricType.SUMMARY:
        advice = (
            f"apply {function}() to {metric.name}_sum and {metric.name}_count instead"
        )
        declared = "the quantiles of a summary"
    else:
        advice = f"{function}() needs a counter"
        declared = f"an {kind} metric" if kind is MetricType.INFO else f"a {kind}"
    owner = "the catalog"
    if entry.service is not context.service:
        owner = f'the catalog of service "{entry.service.name}"'
    return error(
        context.node_location(selector),
        f'{function}() applied to "{name}", which {owner} declares as '
        f"{declared}; {advice}",
        NAME,
    )


@check(NAME, "rate(), irate() or increase() over a gauge, or over an aggregation")
def rate_counter(context: PanelContext) -> Iterator[Diagnostic]:
    for call in context.query.of_type(pp.Call):
        function = call.func.name
        if function not in promql.COUNTER_FUNCTIONS or not call.args:
            continue
        argument = promql.strip_parens(call.args[0])
        if isinstance(argument, pp.SubqueryExpr):
            inner = promql.strip_parens(argument.expr)
            if isinstance(inner, pp.AggregateExpr):
                yield error(
                    context.node_location(call),
                    f"{function}() over {inner.op}(...) misses counter resets, which "
                    f"{inner.op}() hides; apply {function}() first: "
                    f"{inner.op}({function}(...))",
                    NAME,
                )
                continue
            argument = inner
        if isinstance(argument, pp.MatrixSelector):
            argument = argument.vector_selector
        if isinstance(argument, pp.VectorSelector):
            problem = _selector_problem(context, function, argument)
            if problem is not None:
                yield problem
