"""promql/syntax: a panel query that does not parse, or that Prometheus rejects."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import promql_parser as pp

from obscompile.check.context import PanelContext
from obscompile.check.registry import check
from obscompile.diagnostics import Diagnostic, error
from obscompile.load.durations import MAX_DURATION_MS, TOO_LONG

NAME = "promql/syntax"

# The message the parser returns when it names no specific cause.
_GENERIC = "invalid promql query"
# Messages that end with the bad text: "bad number or duration syntax: 5mm".
_TRAILING_TOKEN = re.compile(r"syntax: (\S+)$")


def _offset(query: str, message: str, offset: int) -> int:
    """Improve the parser's position guess for messages that name the bad token."""
    if offset == 0:
        trailing = _TRAILING_TOKEN.search(message)
        if trailing and (found := query.find(trailing.group(1))) >= 0:
            return found
    return offset


@check(NAME, "the query is not valid PromQL")
def promql_syntax(context: PanelContext) -> Iterator[Diagnostic]:
    problem = context.query.error
    if problem is None:
        yield from _long_durations(context)
        yield from _unreadable_timestamps(context)
        return
    message = str(problem)
    text = "invalid PromQL query"
    if message.lower() != _GENERIC:
        text = f"{text}: {message}"
    offset = _offset(context.panel.query, message, problem.offset)
    yield error(context.query_location(offset), text, NAME)


def _durations(context: PanelContext) -> Iterator[tuple[pp.Expr, timedelta]]:
    """Yield each node of the query with a range, offset or step, and that duration."""
    for node in context.query.nodes:
        if isinstance(node, pp.MatrixSelector):
            yield node, node.range
        elif isinstance(node, pp.VectorSelector) and node.offset:
            yield node, abs(node.offset)
        elif isinstance(node, pp.SubqueryExpr):
            if node.range:
                yield node, node.range
            if node.step:
                yield node, node.step
            if node.offset:
                yield node, abs(node.offset)


def _unreadable_timestamps(context: PanelContext) -> Iterator[Diagnostic]:
    """Report each `@` timestamp that the PromQL parser cannot turn into a date."""
    for node in context.query.nodes:
        modifier = getattr(node, "at", None)
        if modifier is None or modifier.type != pp.AtModifierType.At:
            continue
        try:
            modifier.at  # noqa: B018 - the parser converts the timestamp on access
        except (ValueError, OverflowError):
            yield error(
                context.node_location(node),
                "invalid PromQL query: the @ timestamp is outside the years 1 to "
                "9999; Prometheus rejects one from about the year 292 million on",
                NAME,
            )


def _long_durations(context: PanelContext) -> Iterator[Diagnostic]:
    """Report each range, offset or step longer than Prometheus accepts."""
    for node, duration in _durations(context):
        if duration // timedelta(milliseconds=1) > MAX_DURATION_MS:
            yield error(
                context.node_location(node),
                f"invalid PromQL query: {pp.display_duration(duration)} is {TOO_LONG}",
                NAME,
            )
