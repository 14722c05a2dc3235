"""Run the PromQL queries of alert templates over a generated test's own series.

Prometheus runs a template's `query` when it evaluates the alert, against the test's
storage. That storage contains the input series that the generator writes, and the
series that the rules of the service write. So the generator gives a query's result
where the result is certain, and rejects a query where it may not be:

- the query must pass the checks that panel queries pass for Prometheus 2.42 (see
  `check.promql_syntax`), and be written without `$`, `[[`, backslashes or numbers
  other than plain decimals, which promql-parser and Prometheus could read apart;
- each selector must name its metric, without a colon, which every recording rule's
  name has, and other than `ALERTS` and `ALERTS_FOR_STATE`, which alerting rules
  write. So it reads only input series;
- no selector may read later samples, with a negative offset: promtool loads each
  sample only when its evaluation comes;
- `evaluate` must evaluate the query, which it does only where promtool's order of
  the series cannot change the result.

The order of the samples of a result is promtool's to choose. `gofuncs.QueryResult`
keeps track of whether it is known.
"""

from __future__ import annotations

import re

import promql_parser as pp

from obscompile import promql
from obscompile.check.context import ParsedQuery
from obscompile.check.promql_syntax import later_syntax
from obscompile.check.query_text import Token, tokenize
from obscompile.derive.evaluate import compile_expr
from obscompile.derive.gofuncs import QuerySample, UnsupportedTemplate
from obscompile.derive.gorender import QueryFunction
from obscompile.derive.simulate import Run
from obscompile.diagnostics import quoted, shorten_quotes
from obscompile.load.durations import MAX_DURATION_MS

# The series that Prometheus' alerting rules write.
_ALERT_SERIES = frozenset({"ALERTS", "ALERTS_FOR_STATE"})
# Numbers as Prometheus 2.42 and promql-parser read them alike: decimals, and the
# durations that `later_syntax` checks.
_PLAIN_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|(?:[0-9]+[a-z]+)+")


def template_query(run: Run, time_ms: int) -> QueryFunction:
    """Return the `query` function of the alert's templates at an evaluation of `run`."""

    def query(text: str) -> list[QuerySample]:
        node = accepted_query(text)
        try:
            value = compile_expr(node)(run.storage, time_ms)
        except (ValueError, OverflowError, re.error) as exc:
            raise UnsupportedTemplate(
                f"the query {quoted(repr(text))} is not evaluated: {exc}"
            ) from None
        if isinstance(value, float):
            # Prometheus gives a scalar as one sample without labels.
            return [QuerySample({}, value)]
        return [QuerySample(dict(labels), sample) for labels, sample in value]

    return query


def accepted_query(text: str) -> pp.Expr:
    """Parse a template's query; raise UnsupportedTemplate where its result is uncertain."""
    if "$" in text or "[[" in text:
        raise UnsupportedTemplate(
            f"the query {quoted(repr(text))} contains $ or [[, which the test "
            "generator reads as Grafana variables; it is not evaluated"
        )
    for token in tokenize(text):
        problem = _token_problem(token)
        if problem is not None:
            raise UnsupportedTemplate(
                f"the query {quoted(repr(text))} {problem}; it is not evaluated"
            )
    # NOTE: promql-parser reads Prometheus 3's PromQL. A query that it reads unlike
    # Prometheus 2.42 in a way that these checks miss gives a failing generated test.
    parsed = ParsedQuery.parse(text)
    if parsed.expr is None:
        raise UnsupportedTemplate(
            f"the query {quoted(repr(text))} does not parse "
            f"({shorten_quotes(str(parsed.error), quoted)}); it is not evaluated"
        )
    for _, message in later_syntax(parsed):
        raise UnsupportedTemplate(
            f"the query {quoted(repr(text))} is not evaluated: {message}"
        )
    for node in parsed.nodes:
        problem = _node_problem(node)
        if problem is not None:
            raise UnsupportedTemplate(
                f"the query {quoted(repr(text))} {problem}; it is not evaluated"
            )
    return parsed.expr


def _token_problem(token: Token) -> str | None:
    if token.kind == "number" and not _PLAIN_NUMBER.fullmatch(token.text):
        return f"has the number {quoted(token.text)}, which is not a plain decimal"
    if token.kind == "string" and "\\" in token.text:
        return f"has the escape sequences of {quoted(token.text)}"
    if token.kind == "other":
        return f"has the character {token.text!r}"
    return None


def _node_problem(node: pp.Expr) -> str | None:
    """Return why a part of the query may read other series than the input, or None."""
    if isinstance(node, pp.MatrixSelector):
        if node.range.total_seconds() * 1000 > MAX_DURATION_MS:
            return "has a range longer than Prometheus reads"
        return None
    if not isinstance(node, pp.VectorSelector):
        return None
    name = node.name
    for matcher in node.matchers.matchers:
        if matcher.name == "__name__" and str(matcher.op) == "MatchOp.Equal":
            name = matcher.value
        regex = str(matcher.op) in ("MatchOp.Re", "MatchOp.NotRe")
        if regex and not _compiles(matcher.value):
            return (
                f"has the regex {quoted(repr(matcher.value))}, which is not evaluated"
            )
    if name is None:
        return "selects series without naming their metric"
    if ":" in name:
        return (
            f"selects {quoted(name)}, whose colon marks a recording rule's series, "
            "which the test generator does not write"
        )
    if name in _ALERT_SERIES:
        return f"selects {name}, which the alerting rules write"
    offset = node.offset.total_seconds() if node.offset else 0.0
    if offset < 0 or node.at is not None:
        return "reads samples later than its evaluation"
    if abs(offset) * 1000 > MAX_DURATION_MS:
        return "has an offset longer than Prometheus reads"
    return None


def _compiles(pattern: str) -> bool:
    try:
        promql.compile_regex(pattern)
    except re.error:
        return False
    return True
