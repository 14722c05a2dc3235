"""The numbers that PromQL's quantile and k-largest functions take.

promql/quantile: a quantile outside 0 to 1, such as histogram_quantile(95, ...).
promql/topk: a count of topk() or bottomk() that Prometheus cannot evaluate.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal

import promql_parser as pp

from obscompile import promql
from obscompile.check.context import PanelContext
from obscompile.check.registry import check
from obscompile.derive.expressions import number_text
from obscompile.diagnostics import Diagnostic, error

NAME = "promql/quantile"
TOPK = "promql/topk"
# The largest and smallest counts that Prometheus 2.42 evaluates topk() and bottomk()
# with, its `convertibleToInt64` bounds: the largest double below 2**63, and -2**63.
_MAX_COUNT = 9223372036854774784.0
_MIN_COUNT = -9223372036854775808.0

_FUNCTIONS = frozenset({"histogram_quantile", "quantile_over_time"})
# The aggregations whose parameter these checks read.
_AGGREGATIONS = frozenset({"quantile", "topk", "bottomk"})


def _quantile(node: pp.Expr) -> float | None:
    """Return the number that `node` writes, with its sign, if it is one."""
    node = promql.strip_parens(node)
    sign = 1.0
    while isinstance(node, pp.UnaryExpr):
        sign = -sign
        node = promql.strip_parens(node.expr)
    value = promql.number_value(node)
    return None if value is None else sign * value


def _argument_offset(context: PanelContext, node: pp.Expr) -> int | None:
    """Return where the first argument of a call or parameter of an aggregation is."""
    start = context.query.offset_of(node)
    if start is None:
        return None
    text = context.panel.query
    opening = text.find("(", start)
    if opening < 0 or text[start:opening].strip() not in _FUNCTIONS | _AGGREGATIONS:
        return start  # `quantile by (x) (...)`: the parameter follows the grouping.
    found = opening + 1
    while found < len(text) and text[found].isspace():
        found += 1
    return found


def _numbers(context: PanelContext) -> Iterator[tuple[pp.Expr, str, float]]:
    """Yield each call and aggregation that these checks read, its name and number.

    The number is the first argument of a function, or the parameter of an
    aggregation, where the query writes it as a number.
    """
    expr = context.query.expr
    if expr is None:
        return
    for node in promql.walk(expr):
        if isinstance(node, pp.Call) and node.func.name in _FUNCTIONS and node.args:
            name, value = node.func.name, _quantile(node.args[0])
        elif (
            isinstance(node, pp.AggregateExpr)
            and str(node.op) in _AGGREGATIONS
            and node.param is not None
        ):
            name, value = str(node.op), _quantile(node.param)
        else:
            continue
        if value is not None:
            yield node, name, value


@check(NAME, "quantiles outside 0 to 1, for which Prometheus returns +Inf or -Inf")
def quantile_range(context: PanelContext) -> Iterator[Diagnostic]:
    for node, name, value in _numbers(context):
        if name in ("topk", "bottomk") or 0 <= value <= 1:
            continue
        result = "+Inf" if value > 1 else "-Inf"
        if math.isnan(value):
            # Prometheus 2.42 gives NaN for a NaN quantile, before it compares it.
            result = "NaN"
        message = (
            f'panel "{context.panel.title}": {name}() takes a quantile from 0 to 1, '
            f"and gives {result} for {number_text(value)}"
        )
        if 10 <= value <= 100:
            percent = Decimal(repr(value)) / 100
            message += f"; for the {number_text(value)}th percentile write {percent.normalize()}"
        yield error(
            context.query_location(_argument_offset(context, node)), message, NAME
        )


@check(TOPK, "counts of topk() and bottomk() that Prometheus fails to evaluate")
def topk_count(context: PanelContext) -> Iterator[Diagnostic]:
    for node, name, count in _numbers(context):
        if name not in ("topk", "bottomk") or _MIN_COUNT <= count <= _MAX_COUNT:
            continue
        yield error(
            context.query_location(_argument_offset(context, node)),
            f'panel "{context.panel.title}": {name}() keeps a whole number of '
            f"series, and Prometheus 2.42 fails every evaluation of the query for "
            f"{number_text(count)}, which is no 64-bit integer; write a count "
            "such as 5",
            TOPK,
        )
