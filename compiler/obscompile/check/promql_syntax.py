"""promql/syntax: a panel query that does not parse."""

from __future__ import annotations

import re
from collections.abc import Iterator

from obscompile.check.context import PanelContext
from obscompile.check.registry import check
from obscompile.diagnostics import Diagnostic, error

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
        return
    message = str(problem)
    text = "invalid PromQL query"
    if message.lower() != _GENERIC:
        text = f"{text}: {message}"
    offset = _offset(context.panel.query, message, problem.offset)
    yield error(context.query_location(offset), text, NAME)
