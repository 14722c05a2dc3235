"""promql/syntax: a panel query that does not parse, or that Prometheus rejects."""

from __future__ import annotations

import math
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
# String literals of PromQL, and a number after an `@` modifier.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_AT_NUMBER = re.compile(
    r"@\s*([-+]?(?:0[xX][0-9a-fA-F]+|[iI][nN][fF]|[nN][aA][nN]"
    r"|(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?))"
)
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
        yield from _timestamps_out_of_range(context)
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


def _timestamps(text: str) -> Iterator[tuple[int, float]]:
    """Yield the offset and value of each number that follows an `@` in a query.

    The parser keeps an `@` timestamp as an unsigned count of milliseconds, so it
    reads -1 as 0, and the timestamp is read from the text instead. String literals
    are blanked first, so an `@` inside a label value is not read.
    """
    blanked = _STRING.sub(lambda found: " " * len(found.group()), text)
    for found in _AT_NUMBER.finditer(blanked):
        written = found.group(1).replace("_", "")
        sign = -1.0 if written.startswith("-") else 1.0
        digits = written.lstrip("+-")
        if digits[:2].lower() == "0x":
            yield found.start(), sign * int(digits, 16)
        else:
            yield found.start(), sign * float(digits)


def _timestamps_out_of_range(context: PanelContext) -> Iterator[Diagnostic]:
    """Report each `@` timestamp whose milliseconds do not fit Prometheus' int64."""
    for offset, seconds in _timestamps(context.panel.query):
        if math.isfinite(seconds) and abs(seconds * 1000) < 2**63:
            continue
        yield error(
            context.query_location(offset),
            f"invalid PromQL query: the @ timestamp {seconds:g} is out of the range "
            "Prometheus accepts, about ±9.2e15 seconds (292 million years) from 1970",
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
