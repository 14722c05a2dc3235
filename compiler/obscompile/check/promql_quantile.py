"""promql/quantile: a quantile outside 0 to 1, such as histogram_quantile(95, ...)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import promql_parser as pp

from obscompile import promql
from obscompile.check.context import PanelContext
from obscompile.check.registry import check
from obscompile.derive.expressions import number_text
from obscompile.diagnostics import Diagnostic, error

NAME = "promql/quantile"

_FUNCTIONS = frozenset({"histogram_quantile", "quantile_over_time"})


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
    if opening < 0 or text[start:opening].strip() not in _FUNCTIONS | {"quantile"}:
        return start  # `quantile by (x) (...)`: the parameter follows the grouping.
    found = opening + 1
    while found < len(text) and text[found].isspace():
        found += 1
    return found


@check(NAME, "quantiles outside 0 to 1, for which Prometheus returns +Inf or -Inf")
def quantile_range(context: PanelContext) -> Iterator[Diagnostic]:
    expr = context.query.expr
    if expr is None:
        return
    for node in promql.walk(expr):
        if isinstance(node, pp.Call) and node.func.name in _FUNCTIONS and node.args:
            name, value = node.func.name, _quantile(node.args[0])
        elif (
            isinstance(node, pp.AggregateExpr)
            and str(node.op) == "quantile"
            and node.param is not None
        ):
            name, value = "quantile", _quantile(node.param)
        else:
            continue
        if value is None or 0 <= value <= 1:
            continue
        message = (
            f'panel "{context.panel.title}": {name}() takes a quantile from 0 to 1, '
            f"and gives {'+Inf' if value > 1 else '-Inf'} for {number_text(value)}"
        )
        if 10 <= value <= 100:
            percent = Decimal(repr(value)) / 100
            message += f"; for the {number_text(value)}th percentile write {percent.normalize()}"
        yield error(
            context.query_location(_argument_offset(context, node)), message, NAME
        )
