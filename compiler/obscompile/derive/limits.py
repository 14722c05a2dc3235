"""The lower limit of a query's values, where its functions and metrics fix one.

A counter's rate or increase, a count and `up` are never below 0, and neither is the
quantile of a histogram of durations. A ratio of the minimum of a part of some counter
rates to the minimum of all of them is never below 1 (see `part_of_whole`). A red band
that starts at or below such a limit colours every value that the query gives, so its
alert always fires. The test generator probes no value below the limit, because no
input gives one.
"""

from __future__ import annotations

import math
from typing import Literal

import promql_parser as pp

from obscompile import promql, trampoline
from obscompile.derive.expressions import is_guarded, is_non_negative
from obscompile.derive.units import TIME_UNITS, derive_unit
from obscompile.model.metric import MetricType
from obscompile.model.service import Service
from obscompile.trampoline import Recursive

# Prometheus gives `up` the value 1 for a successful scrape and 0 for a failed one.
_UP = "up"
# Aggregations whose result is at or above the least value they aggregate.
_SELECTING = frozenset({"min", "max", "avg", "topk", "bottomk"})
# Functions that pass the values of their first argument on unchanged.
_LABEL_FUNCTIONS = frozenset({"label_replace", "label_join"})
# Units of histograms whose bucket bounds are never negative: durations and sizes.
_SIZE_UNITS = frozenset({"bytes", "decbytes", "bits", "decbits"})


def lower_limit(node: pp.Expr, service: Service | None = None) -> float | None:
    """Return a value that every result of `node` is at or above, or None.

    None means that the query's functions and metrics fix no such value. A query
    that gives a series only in some states, such as `x > 5` or `absent(x)`, gets
    None too: a band over all its values alerts in those states, which is what such
    a query is for. So does a query whose numbers make the limit infinite or NaN,
    as `rate(x[5m]) * Inf` does, which is NaN where the rate is 0.
    """
    limit = trampoline.run(_lower_limit(node, service))
    return limit if limit is None or math.isfinite(limit) else None


def _lower_limit(node: pp.Expr, service: Service | None) -> Recursive[float | None]:
    node = promql.strip_parens(node)
    if is_non_negative(node):
        return 0.0
    if isinstance(node, pp.NumberLiteral):
        return float(node.val)
    if isinstance(node, pp.VectorSelector):
        return _selector_limit(node, service)
    if isinstance(node, pp.AggregateExpr):
        return (yield _aggregation_limit(node, service))
    if isinstance(node, pp.Call):
        return (yield _call_limit(node, service))
    if isinstance(node, pp.BinaryExpr):
        return (yield _binary_limit(node, service))
    return None


def _selector_limit(node: pp.VectorSelector, service: Service | None) -> float | None:
    """Return 0 for `up` and for the series of a catalog metric that only count."""
    name = promql.metric_name(node)
    if name == _UP:
        return 0.0
    metric = service.metric(name) if service and name else None
    if metric is None or name is None:
        return None
    if metric.type is MetricType.COUNTER:
        return 0.0
    if metric.type is MetricType.HISTOGRAM and name.endswith(("_bucket", "_count")):
        return 0.0
    if metric.type is MetricType.SUMMARY and name.endswith("_count"):
        return 0.0
    return None


def _aggregation_limit(
    node: pp.AggregateExpr, service: Service | None
) -> Recursive[float | None]:
    operator = str(node.op)
    inner = yield _lower_limit(node.expr, service)
    if inner is None:
        return None
    if operator in _SELECTING:
        return inner
    if operator == "sum" and inner >= 0:
        # A sum of values at or above 0 is at or above each of them.
        return inner
    return None


def _call_limit(node: pp.Call, service: Service | None) -> Recursive[float | None]:
    name = node.func.name
    if name in _LABEL_FUNCTIONS and node.args:
        return (yield _lower_limit(node.args[0], service))
    if name == "vector" and node.args:
        return promql.number_value(node.args[0])
    if name == "histogram_quantile" and len(node.args) == 2:
        return _quantile_limit(node, service)
    return None


def _quantile_limit(node: pp.Call, service: Service | None) -> float | None:
    """Return 0 for a quantile of a histogram whose bucket bounds are never negative.

    Prometheus interpolates inside the first bucket from 0 when its upper bound is
    positive, so every quantile from 0 to 1 then lies at or above 0. The bounds are
    the catalog's, or, where it lists none, those of a histogram of durations or
    sizes.
    """
    quantile = promql.number_value(node.args[0])
    if quantile is None or not 0 <= quantile <= 1:
        return None
    names = promql.metric_names(node.args[1])
    metric = service.metric(names[0]) if service and len(names) == 1 else None
    if metric is not None and metric.buckets:
        finite = [bound for bound in metric.buckets if math.isfinite(bound)]
        return 0.0 if finite and min(finite) >= 0 else None
    unit = derive_unit(node, service)
    return 0.0 if unit in TIME_UNITS or unit in _SIZE_UNITS else None


def _binary_limit(
    node: pp.BinaryExpr, service: Service | None
) -> Recursive[float | None]:
    operator = str(node.op)
    modifier = node.modifier
    if operator in promql.COMPARISON_OPERATORS:
        # `x > bool 5` gives 0 or 1, and `x > 5` drops the series it compares.
        return 0.0 if modifier is not None and modifier.return_bool else None
    left = yield _lower_limit(node.lhs, service)
    right = yield _lower_limit(node.rhs, service)
    # `x and y` and `x unless y` drop series of x, as a comparison does.
    if left is None or right is None or operator in ("and", "unless"):
        return None
    if operator == "or":
        return min(left, right)
    if operator == "+":
        return left + right
    if operator == "-":
        # The minimum of `x - y` needs the maximum of y, which only a number has.
        subtracted = promql.number_value(node.rhs)
        return None if subtracted is None else left - subtracted
    if operator in ("*", "/") and left >= 0 and right >= 0:
        return _scaled_limit(node, operator, left, right)
    return None


def _scaled_limit(
    node: pp.BinaryExpr, operator: str, left: float, right: float
) -> float:
    """Return the limit of a product or quotient of two sides at or above 0."""
    if operator == "/" and part_of_whole(node) == "at least":
        # The minimum of a part of some counter rates is at or above the minimum of
        # all of them, so the ratio is at least 1, or +Inf where the whole's is 0.
        return numerator_factor(node)
    if operator == "/":
        # A divisor's value has no upper limit here, so the quotient may be 0.
        divisor = promql.number_value(node.rhs)
        return left / divisor if divisor else 0.0
    return left * right


# Aggregations that give a part of a group of values that are never negative at
# most what they give the whole group.
_AT_MOST_WHOLE = frozenset({"sum", "max", "count"})


def part_of_whole(ratio: pp.BinaryExpr) -> Literal["at most", "at least"] | None:
    """Return "at most" or "at least" where `ratio` is at most or at least 1.

    That needs a numerator that counts a part of its denominator. Both sides then
    apply the same functions and aggregations to one metric, and each selector of
    the numerator has every matcher of the denominator's and maybe more, as in
    `sum(rate(x{code="500"}[5m])) / sum(rate(x[5m]))`. Such a ratio of counters, or
    of gauges that are never negative, is at most 1 where every aggregation is
    `sum`, `max` or `count`, and at least 1 where every one is `min`. Returns None
    under `avg`, where the part may average more than the whole, under a mix of
    `min` and the others, and for a ratio that is not a part of its whole.
    """
    numerator = promql.strip_parens(ratio.lhs)
    if isinstance(numerator, pp.BinaryExpr) and str(numerator.op) == "*":
        # `100 * a / b` parses as `(100 * a) / b`.
        factor_first = promql.number_value(numerator.lhs) is not None
        numerator = numerator.rhs if factor_first else numerator.lhs
    denominator = promql.strip_parens(ratio.rhs)
    if isinstance(denominator, pp.BinaryExpr) and is_guarded(denominator):
        denominator = denominator.lhs
    if _shape(numerator) != _shape(denominator):
        return None
    pairs = zip(promql.selectors(numerator), promql.selectors(denominator), strict=True)
    if not all(_matchers(bottom) <= _matchers(top) for top, bottom in pairs):
        return None
    operations = {
        str(part.op)
        for part in promql.walk(denominator)
        if isinstance(part, pp.AggregateExpr)
    }
    if operations <= _AT_MOST_WHOLE:
        return "at most"
    if operations == {"min"}:
        return "at least"
    return None


def _shape(node: pp.Expr) -> list[tuple[str, str]]:
    """Return the node types, functions, aggregations, ranges and metrics of `node`.

    Label matchers are left out, so the sides of a part of a whole compare equal.
    """
    shape = []
    for part in promql.walk(node):
        if isinstance(part, pp.ParenExpr):
            continue
        detail = ""
        if isinstance(part, pp.Call):
            detail = part.func.name
        elif isinstance(part, pp.AggregateExpr):
            modifier = part.modifier
            labels = tuple(modifier.labels) if modifier is not None else ()
            detail = f"{part.op} {modifier.type if modifier else ''} {labels}"
        elif isinstance(part, pp.MatrixSelector):
            detail = str(part.range)
        elif isinstance(part, pp.VectorSelector):
            detail = f"{part.name} {part.offset}"
        elif isinstance(part, pp.BinaryExpr):
            detail = f"{part.op} {part.modifier}"
        elif isinstance(part, pp.NumberLiteral):
            detail = repr(float(part.val))
        shape.append((type(part).__name__, detail))
    return shape


def _matchers(selector: pp.VectorSelector) -> set[tuple[str, str, str]]:
    return {
        (matcher.name, promql.match_operator(matcher), matcher.value)
        for matcher in selector.matchers.matchers
    }


def numerator_factor(node: pp.Expr) -> float:
    """Return k for `(k * a) / b`, the form `100 * a / b` parses as, and 1 otherwise."""
    if not isinstance(node, pp.BinaryExpr):
        return 1.0
    numerator = promql.strip_parens(node.lhs)
    if isinstance(numerator, pp.BinaryExpr) and str(numerator.op) == "*":
        for side in (numerator.lhs, numerator.rhs):
            factor = promql.number_value(side)
            if factor is not None:
                return factor
    return 1.0
