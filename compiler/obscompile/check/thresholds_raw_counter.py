"""thresholds/raw-counter: thresholds that compare the raw value of a counter.

A counter's value is the count since its process started, and it starts again at 0
when the process restarts. A bound on it is crossed once, early in the life of each
process: `<1 Red` fires after every restart, and `>=100 Red` fires once the count
reaches 100 and then never stops, whatever the current traffic. `rate()` or
`increase()` over a window is what a threshold can watch.

The check follows the counter's value from the selector to the query's result.
Functions that count over a window (`rate`, `increase`, `delta`, `changes`, ...),
a comparison with `bool`, `count` and `timestamp()` turn it into another value, and
arithmetic with a number, `sum`, `max_over_time`, `label_replace` and the like keep
it. A recorded series of the service's own recording rules is followed into the
rule's expression.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import attrs
import promql_parser as pp

from obscompile import promql, trampoline
from obscompile.check import catalog
from obscompile.check.context import PanelContext
from obscompile.check.registry import check
from obscompile.diagnostics import Diagnostic, warning
from obscompile.memo import by_identity
from obscompile.model.metric import MetricType
from obscompile.model.panel import Panel
from obscompile.model.service import Service
from obscompile.model.threshold import Thresholds, colour_hue
from obscompile.render.grafana import draws_thresholds
from obscompile.trampoline import Recursive

NAME = "thresholds/raw-counter"

# Aggregations whose result is one of the values they aggregate, or their sum or
# mean, so a count stays a count. `count`, `group`, `count_values`, `stddev` and
# `stdvar` give another kind of value.
_KEEPING_AGGREGATIONS = frozenset(
    {"sum", "min", "max", "avg", "quantile", "topk", "bottomk", "limitk", "limit_ratio"}
)
# Functions whose value grows with the counter sample by sample, or is one of the
# counter's values in a window, or its mean or sum there. Every other function,
# such as rate(), changes(), timestamp() or absent(), gives another kind of value.
_KEEPING_FUNCTIONS = frozenset(
    {
        "abs",
        "avg_over_time",
        "ceil",
        "clamp",
        "clamp_max",
        "clamp_min",
        "exp",
        "floor",
        "label_join",
        "label_replace",
        "last_over_time",
        "ln",
        "log10",
        "log2",
        "max_over_time",
        "min_over_time",
        "predict_linear",
        "quantile_over_time",
        "round",
        "scalar",
        "sort",
        "sort_desc",
        "sqrt",
        "sum_over_time",
        "vector",
    }
)
_ARITHMETIC = frozenset({"+", "-", "*", "/", "%", "^"})
_COMPARISONS = frozenset({"==", "!=", ">", "<", ">=", "<="})


@attrs.frozen
class RawCounter:
    """A counter series whose value reaches a query's result unchanged in kind.

    `selector` is where the query reads it: the counter itself, or a recorded series
    named `recorded` whose rule reads it. `earlier` is set for a counter minus its own
    value that long ago (`x_total - x_total offset 1h`).
    """

    series: str
    selector: pp.VectorSelector = attrs.field(eq=False)
    recorded: str | None = None
    earlier: timedelta | None = None


@by_identity(64)
def _recorded_expressions(service: Service) -> dict[str, str]:
    """Return the expression of each recording rule that the service's panels derive."""
    # derive.alerts imports the check package, which imports this module.
    from obscompile.derive.alerts import recording_rules

    return {rule.record: rule.expr for rule in recording_rules(service)}


def _counter_series(context: PanelContext, selector: pp.VectorSelector) -> str | None:
    """Return the series name that `selector` reads when the catalog makes it a counter.

    Counters are the series of a metric declared `counter`, the `_count`, `_sum` and
    `_bucket` series of a histogram and the `_count` and `_sum` series of a summary.
    A name that no catalog declares, such as `process_cpu_seconds_total`, is left
    unchecked, because `_total` alone does not make a counter: prom-client's
    `nodejs_active_handles_total` is a gauge.
    """
    name = catalog.selector_name(selector)
    if name is None or catalog.is_placeholder(name):
        return None
    entry = catalog.selected_metric(context, selector)
    if entry is None or name not in entry.metric.series_names():
        # A `_created` series is the creation time of its metric, not a count.
        return None
    kind = entry.metric.type
    if kind is MetricType.COUNTER:
        return name
    if kind is MetricType.HISTOGRAM and name.endswith(("_bucket", "_sum", "_count")):
        return name
    if kind is MetricType.SUMMARY and name.endswith(("_sum", "_count")):
        return name
    return None


def raw_counter(context: PanelContext, node: pp.Expr) -> RawCounter | None:
    """Return the counter whose raw value `node` evaluates to, or None."""
    return trampoline.run(_raw_counter(context, node, frozenset()))


def _raw_counter(
    context: PanelContext, node: pp.Expr, followed: frozenset[str]
) -> Recursive[RawCounter | None]:
    node = promql.strip_parens(node)
    if isinstance(node, pp.VectorSelector):
        return (yield _selector_counter(context, node, followed))
    if isinstance(node, pp.MatrixSelector):
        return (yield _selector_counter(context, node.vector_selector, followed))
    if isinstance(node, pp.SubqueryExpr | pp.UnaryExpr):
        return (yield _raw_counter(context, node.expr, followed))
    if isinstance(node, pp.AggregateExpr):
        if str(node.op) not in _KEEPING_AGGREGATIONS:
            return None
        return (yield _raw_counter(context, node.expr, followed))
    if isinstance(node, pp.Call):
        name = node.func.name
        if name not in _KEEPING_FUNCTIONS or not node.args:
            return None
        # quantile_over_time(q, x[5m]) takes the counter last, the others first.
        argument = node.args[-1] if name == "quantile_over_time" else node.args[0]
        return (yield _raw_counter(context, argument, followed))
    if isinstance(node, pp.BinaryExpr):
        return (yield _binary_counter(context, node, followed))
    return None


def _selector_counter(
    context: PanelContext, selector: pp.VectorSelector, followed: frozenset[str]
) -> Recursive[RawCounter | None]:
    series = _counter_series(context, selector)
    if series is not None:
        return RawCounter(series, selector)
    name = catalog.selector_name(selector)
    if name is None or not catalog.is_recorded(name) or name in followed:
        return None
    expression = _recorded_expressions(context.service).get(name)
    if expression is None:
        return None
    try:
        recorded = promql.parse(expression)
    except promql.QueryError:
        return None
    inner = yield _raw_counter(context, recorded, followed | {name})
    if inner is None:
        return None
    # The finding is placed where the panel's query reads the recorded series.
    return attrs.evolve(inner, selector=selector, recorded=inner.recorded or name)


def _binary_counter(
    context: PanelContext, node: pp.BinaryExpr, followed: frozenset[str]
) -> Recursive[RawCounter | None]:
    operator = str(node.op)
    modifier = node.modifier
    if operator in _COMPARISONS and modifier is not None and modifier.return_bool:
        # `x_total > bool 0` is 1 or 0.
        return None

    left = yield _raw_counter(context, node.lhs, followed)
    if operator in ("and", "unless"):
        # The result keeps the left side's samples.
        return left
    right = yield _raw_counter(context, node.rhs, followed)
    if operator == "or":
        return left or right
    if operator in _COMPARISONS:
        # Without `bool`, a comparison filters: the result keeps the values of the
        # left side, or of the vector side against a scalar.
        if promql.value_type(node.lhs) == "scalar":
            return right
        return left

    if operator not in _ARITHMETIC:
        return None
    scalar_left = promql.value_type(node.lhs) == "scalar"
    scalar_right = promql.value_type(node.rhs) == "scalar"
    if scalar_left or scalar_right:
        # Arithmetic with a number, such as `x_total / 60`, scales the count.
        return left or right

    if left is None or right is None:
        return (yield _joined_counter(context, node, left, right))
    if operator == "+":
        return left
    if operator == "-" and left.series == right.series:
        return _difference(left, right)
    # A ratio or product of two counters, or the difference of two different ones,
    # such as started minus finished requests, is no count since a process started.
    return None


def _joined_counter(
    context: PanelContext,
    node: pp.BinaryExpr,
    left: RawCounter | None,
    right: RawCounter | None,
) -> Recursive[RawCounter | None]:
    """Return the counter of `x_total * on (...) group_left (...) x_info`, or None.

    An info metric's value is 1, so multiplying by it adds labels and keeps the
    count. Any other vector on the other side makes a value of another kind.
    """
    if str(node.op) != "*":
        return None
    counter, other = (left, node.rhs) if left is not None else (right, node.lhs)
    if counter is None or not (yield _is_info(context, other)):
        return None
    return counter


def _is_info(context: PanelContext, node: pp.Expr) -> Recursive[bool]:
    node = promql.strip_parens(node)
    if isinstance(node, pp.AggregateExpr) and str(node.op) in ("max", "min", "group"):
        return (yield _is_info(context, node.expr))
    if not isinstance(node, pp.VectorSelector):
        return False
    entry = catalog.selected_metric(context, node)
    return entry is not None and entry.metric.type is MetricType.INFO


def _difference(left: RawCounter, right: RawCounter) -> RawCounter | None:
    """Return the finding for a counter minus the same series, or None.

    `x_total - x_total offset 1h` is the increase over the last hour only while no
    restart falls in that hour: after one it is less than the increase, and often
    below 0, for an hour. The same series at one time minus a part of it, such as
    all requests minus the failed ones, is still a count since the process started.
    A counter minus a later value of itself (`x_total offset 1h - x_total`) is not
    reported.
    """
    if left.recorded is not None or right.recorded is not None:
        return left
    now = left.selector.offset or timedelta()
    then = right.selector.offset or timedelta()
    if then <= now:
        return left if then == now else None
    return attrs.evolve(left, earlier=then - now)


def _compares_values(thresholds: Thresholds) -> bool:
    """Return True when the thresholds compare the query's value with a bound.

    A text of one colour alone, such as `Green`, colours every value alike.
    """
    if thresholds.mappings or thresholds.exact_values:
        return True
    bands = [*thresholds.bands]
    for series in thresholds.series:
        bands.extend(series.bands)
    return any(band.lower is not None for band in bands)


def derives_alerts(panel: Panel) -> bool:
    """Return True when a colour of the panel's thresholds becomes an alert.

    Red does, and yellow with `alert: {warning: true}`, unless `alert: false`.
    """
    thresholds = panel.thresholds
    if thresholds is None or not panel.alert.enabled:
        return False
    alerted = {"red", "yellow"} if panel.alert.warning else {"red"}
    colours = [band.color for band in thresholds.bands]
    colours += [band.color for series in thresholds.series for band in series.bands]
    colours += [mapping.color for mapping in thresholds.mappings]
    colours += [exact.color for exact in thresholds.exact_values]
    return any(colour_hue(colour) in alerted for colour in colours)


def _suggested_selector(found: RawCounter) -> str:
    """Return the selector to put inside rate() or increase() in the message.

    It keeps the matchers of the query's selector. A recorded series or a selector
    with an offset or `@` gives the counter's name alone, because the matchers
    belong to another series or the modifier to another place.
    """
    selector = found.selector
    if found.recorded is not None or selector.offset or selector.at is not None:
        return found.series
    # promql-parser prints a selector without matchers as `name{}`.
    return str(selector).removesuffix("{}")


def _message(title: str, found: RawCounter, alerting: bool) -> str:
    series = found.series
    written = _suggested_selector(found)
    if found.earlier is not None:
        window = promql.duration_text(found.earlier)
        return (
            f'the thresholds of panel "{title}" compare "{series}" minus its value '
            f"{window} earlier, which is less than the increase, and often below 0, "
            f"for {window} after each restart of its process. Write "
            f"increase({written}[{window}]) instead, which counts across restarts"
        )
    value = f'the raw value of counter "{series}"'
    if found.recorded is not None:
        value += f' through recording rule "{found.recorded}"'
    if alerting:
        effect = (
            "So the alert fires after each restart, or never stops once the count "
            "passes its bound."
        )
    else:
        effect = "So the panel's colour follows restarts instead of traffic."
    return (
        f'the thresholds of panel "{title}" compare {value}, a count that starts '
        f"again at 0 each time its process restarts. {effect} Write "
        f"rate({written}[5m]) or increase({written}[1h]) instead"
    )


@check(NAME, "thresholds that compare the raw value of a counter")
def raw_counter_thresholds(context: PanelContext) -> Iterator[Diagnostic]:
    panel = context.panel
    thresholds = panel.thresholds
    if thresholds is None or not draws_thresholds(panel.type):
        return
    if context.query.expr is None or not _compares_values(thresholds):
        return
    found = raw_counter(context, context.query.expr)
    if found is None:
        return
    yield warning(
        context.node_location(found.selector),
        _message(panel.title, found, derives_alerts(panel)),
        NAME,
    )
