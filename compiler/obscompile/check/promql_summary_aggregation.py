"""promql/summary-aggregation: sum() or avg() over the quantiles of a summary.

A client library computes a summary's quantiles in each process, over the
observations of that process. The sum or the average of such quantiles is no
quantile of the observations of all processes, so the panel shows a number with no
meaning. max() and min() are kept, because they bound the quantile of all
observations from above and below. count(), group(), topk(), bottomk() and the other
aggregations select or count series without combining quantiles, and stddev(),
stdvar() and quantile() describe how the processes differ, so they are kept too.
"""

from __future__ import annotations

from collections.abc import Iterator

import promql_parser as pp

from obscompile import promql
from obscompile.check import catalog
from obscompile.check.context import PanelContext
from obscompile.check.registry import check
from obscompile.diagnostics import Diagnostic, warning
from obscompile.model.metric import MetricType

NAME = "promql/summary-aggregation"

# The aggregations that combine quantiles, and the verb of the message for each.
_COMBINING_AGGREGATIONS = {"sum": "added", "avg": "averaged"}

# Aggregations and functions whose result is still a quantile of one process, or a
# bound or a label change of one. An aggregation over them combines quantiles too.
_KEEPING_AGGREGATIONS = frozenset(
    {"max", "min", "topk", "bottomk", "limitk", "limit_ratio"}
)
_KEEPING_FUNCTIONS = frozenset(
    {
        "label_replace", "label_join", "sort", "sort_desc", "clamp", "clamp_min",
        "clamp_max", "avg_over_time", "min_over_time", "max_over_time",
        "last_over_time", "quantile_over_time",
    }
)  # fmt: skip


def _quantile_selector(
    context: PanelContext, node: pp.Expr
) -> pp.VectorSelector | None:
    """Return a selector of summary quantiles whose values `node` passes on, if any.

    The values pass through parentheses, a sign, arithmetic with a scalar such as
    `* 1000`, and the aggregations and functions above.
    """
    part: pp.Expr | None = node
    while part is not None:
        part = promql.strip_parens(part)
        if isinstance(part, pp.MatrixSelector):
            part = part.vector_selector
        if isinstance(part, pp.VectorSelector):
            return part if _selects_quantiles(context, part) else None
        part = _passed_on(part)
    return None


def _passed_on(node: pp.Expr) -> pp.Expr | None:
    """Return the part of `node` whose values `node` passes on, or None."""
    if isinstance(node, pp.UnaryExpr):
        return node.expr
    if isinstance(node, pp.BinaryExpr):
        if promql.value_type(node.lhs) == "scalar":
            return node.rhs
        if promql.value_type(node.rhs) == "scalar":
            return node.lhs
        return None
    if isinstance(node, pp.AggregateExpr) and str(node.op) in _KEEPING_AGGREGATIONS:
        return node.expr
    if isinstance(node, pp.Call) and node.func.name in _KEEPING_FUNCTIONS:
        vectors = catalog.vector_arguments(node)
        return vectors[0] if vectors else None
    return None


def _selects_quantiles(context: PanelContext, selector: pp.VectorSelector) -> bool:
    name = catalog.selector_name(selector)
    if name is None or catalog.is_placeholder(name):
        return False
    entry = catalog.selected_metric(context, selector)
    if entry is None or entry.metric.type is not MetricType.SUMMARY:
        return False
    # The summary's _sum and _count series are counters, which may be added.
    return name == entry.metric.name


def _message(context: PanelContext, operator: str, selector: pp.VectorSelector) -> str:
    name = catalog.selector_name(selector)
    quantiles = catalog.equal_values(selector, "quantile")
    quantile = f"{quantiles[0]} " if quantiles else ""
    quantile_of_all = f"the {quantile}quantile" if quantiles else "a quantile"
    return (
        f'panel "{context.panel.title}": {operator}() of the {quantile}quantiles of '
        f'summary "{name}" is not {quantile_of_all} of all its observations, because each '
        f"process computes its own quantiles, and quantiles cannot be "
        f"{_COMBINING_AGGREGATIONS[operator]}; chart the series of each process, or their max() "
        "as an upper bound, or declare a histogram and use histogram_quantile()"
    )


def _keeps_each_series(
    context: PanelContext,
    aggregation: pp.AggregateExpr,
    selector: pp.VectorSelector,
) -> bool:
    """Return True when no two series of the aggregation's input share a group.

    A label that every selector sets to one value with `=` cannot tell series apart.
    Neither can the target labels of a scrape job (`labels:`) once `job` is kept or
    set, because all the targets of a job share them.
    """
    labels = catalog.available_labels(context, aggregation.expr)
    if labels is None:
        return False
    modifier = aggregation.modifier
    grouping = set(modifier.labels) if modifier is not None else set()
    # The labels that the grouping keeps apart, or that have one value for every series.
    if modifier is None or modifier.type == pp.AggModifierType.By:
        accounted = labels & grouping
    else:
        accounted = labels - grouping
    accounted |= _pinned_labels(aggregation.expr)
    if "job" in accounted:
        entry = catalog.selected_metric(context, selector)
        if entry is not None:
            accounted |= {
                name for job in entry.service.scrape_jobs for name, _ in job.labels
            }
    return labels <= accounted


def _pinned_labels(node: pp.Expr) -> set[str]:
    """Return the labels that every selector of `node` sets to one value with `=`.

    A label that label_replace() or label_join() writes is left out, because those
    give it a value of their own.
    """
    found = promql.selectors(node)
    if not found:
        return set()
    pinned = set.intersection(
        *(
            {m.name for m in s.matchers.matchers if m.op == pp.MatchOp.Equal}
            for s in found
        )
    )
    for call in promql.walk(node):
        if isinstance(call, pp.Call) and call.func.name in (
            "label_replace",
            "label_join",
        ):
            arguments = promql.string_arguments(call)
            if arguments is None:
                return set()
            pinned.discard(arguments[0])
    pinned.discard("__name__")
    return pinned


@check(NAME, "sum() or avg() over the quantiles of a summary")
def summary_aggregation(context: PanelContext) -> Iterator[Diagnostic]:
    for aggregation in context.query.of_type(pp.AggregateExpr):
        operator = str(aggregation.op)
        if operator not in _COMBINING_AGGREGATIONS:
            continue
        selector = _quantile_selector(context, aggregation.expr)
        if selector is None or _keeps_each_series(context, aggregation, selector):
            continue
        yield warning(
            context.node_location(aggregation),
            _message(context, operator, selector),
            NAME,
        )
