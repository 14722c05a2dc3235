"""promql/result-type: panel queries that return a range vector or a string."""

from __future__ import annotations

from collections.abc import Iterator

from obscompile import promql
from obscompile.check.context import PanelContext
from obscompile.check.registry import check
from obscompile.diagnostics import Diagnostic, error

NAME = "promql/result-type"

_ADVICE = {
    "matrix": (
        "a range vector, which Grafana cannot chart and a rule cannot compare; "
        "wrap it in a function of the range, such as rate(...) or max_over_time(...)"
    ),
    "string": "a string, which Grafana cannot chart and a rule cannot compare",
}


@check(NAME, "panel queries that return a range vector or a string")
def result_type(context: PanelContext) -> Iterator[Diagnostic]:
    expr = context.query.expr
    if expr is None:
        return
    kind = promql.value_type(expr)
    if kind in _ADVICE:
        yield error(
            context.query_location(),
            f'panel "{context.panel.title}": the query returns {_ADVICE[kind]}',
            NAME,
        )
