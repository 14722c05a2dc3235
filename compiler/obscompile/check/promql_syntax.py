"""promql/syntax: a panel query that does not parse, or that Prometheus rejects."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence

import promql_parser as pp

from obscompile import promql
from obscompile.check.context import PanelContext, ParsedQuery
from obscompile.check.query_grammar import first_unexpected
from obscompile.check.query_text import Token, tokenize
from obscompile.check.registry import check
from obscompile.diagnostics import Diagnostic, error, shorten, shorten_quotes
from obscompile.load.validate import suggest

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

# The Prometheus version whose PromQL the queries must follow, because its promtool
# checks the generated rules and tests. promql-parser also reads later additions.
PROMETHEUS = "Prometheus 2.42"
# The functions and aggregation operators of Prometheus 2.42.
FUNCTIONS = frozenset(
    {
        "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan",
        "atanh", "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min",
        "cos", "cosh", "count_over_time", "day_of_month", "day_of_week",
        "day_of_year", "days_in_month", "deg", "delta", "deriv", "exp", "floor",
        "histogram_count", "histogram_fraction", "histogram_quantile",
        "histogram_sum", "holt_winters", "hour", "idelta", "increase", "irate",
        "label_join", "label_replace", "last_over_time", "ln", "log10", "log2",
        "max_over_time", "min_over_time", "minute", "month", "pi", "predict_linear",
        "present_over_time", "quantile_over_time", "rad", "rate", "resets", "round",
        "scalar", "sgn", "sin", "sinh", "sort", "sort_desc", "sqrt",
        "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan", "tanh",
        "time", "timestamp", "vector", "year",
    }
)  # fmt: skip
AGGREGATIONS = frozenset(
    {
        "avg", "bottomk", "count", "count_values", "group", "max", "min", "quantile",
        "stddev", "stdvar", "sum", "topk",
    }
)  # fmt: skip
# Every name that a call may have in Prometheus 2.42.
_CALLABLE = sorted(FUNCTIONS | AGGREGATIONS)
# The minimum similarity of an unknown function's name to a known one that is suggested.
# Above difflib's 0.6, because names of three or four letters share a letter or two by
# chance: `foo` is 0.75 like `floor`, but `rat` is 0.86 like `rate`.
_FUNCTION_CUTOFF = 0.8
# promql-parser's message for a call of a name that is no function, such as `rat(x)`.
_UNKNOWN_FUNCTION = re.compile(r"unknown function with name '([^']*)'")
# A duration as Prometheus 2.42 reads it: whole numbers with units, largest first.
_DURATION = re.compile(
    r"(?:\d+y)?(?:\d+w)?(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?(?:\d+ms)?"
)


# A duration with units, which promql-parser also reads as a number of seconds.
_DURATION_NUMBER = re.compile(r"(?:[0-9]+(?:ms|[smhdwy]))+")


def _offset(query: str, message: str, offset: int) -> int:
    """Improve the parser's position guess for messages that name the bad token."""
    if offset == 0:
        trailing = _TRAILING_TOKEN.search(message)
        if trailing and (found := query.find(trailing.group(1))) >= 0:
            return found
    return offset


def _cause(query: str, message: str, offset: int) -> tuple[str, int]:
    """Return the parser's message and position, completed where the parser lacks them.

    promql-parser often names no cause ("invalid promql query"), and it places a
    misplaced or repeated offset or @ modifier at the start of the query. There, the
    first token that the grammar cannot accept gives the cause and its position.
    """
    misplaced = offset == 0 and message.startswith(("@", "offset"))
    if message.lower() == _GENERIC or misplaced:
        unexpected = first_unexpected(query)
        if unexpected is not None:
            return _grouping_after_name(query, unexpected.message, unexpected.offset)
    unknown = _UNKNOWN_FUNCTION.fullmatch(message)
    if unknown is not None:
        return _unknown_function(query, message, unknown.group(1))
    return message, _offset(query, message, offset)


def _grouping_after_name(query: str, message: str, offset: int) -> tuple[str, int]:
    """Suggest the aggregation that a name before an unexpected `by` or `without` is close to.

    `summ by (job) (x)` reads as the metric `summ` followed by a keyword, so the
    error is at `by` and names the aggregation, at the name.
    """
    tokens = tokenize(query)
    for before, token in zip(tokens, tokens[1:], strict=False):
        if token.offset != offset:
            continue
        if (
            token.text.lower() in ("by", "without")
            and before.kind == "identifier"
            and before.text not in AGGREGATIONS
        ):
            hint = suggest(before.text.lower(), sorted(AGGREGATIONS), _FUNCTION_CUTOFF)
            if hint:
                text = f'{message} after "{shorten(before.text)}", which is not an aggregation'
                return text + hint, before.offset
        break
    return message, offset


def _unknown_function(query: str, message: str, name: str) -> tuple[str, int]:
    """Return `message` with the function that `name` is close to, at the call of `name`.

    The parser places the error at the first `name` in the query, which may be a
    metric or label of that name before the call. Function names are
    case-sensitive, so `Rate` gets `rate` too.
    """
    tokens = tokenize(query)
    calls = [
        token.offset
        for token, following in zip(tokens, tokens[1:], strict=False)
        if token.kind == "identifier" and token.text == name and following.text == "("
    ]
    offset = calls[0] if calls else max(query.find(name), 0)
    return message + suggest(name.lower(), _CALLABLE, _FUNCTION_CUTOFF), offset


@check(NAME, "the query is not valid PromQL")
def promql_syntax(context: PanelContext) -> Iterator[Diagnostic]:
    problem = context.query.error
    if problem is None:
        yield from _timestamps_out_of_range(context)
        for offset, message in later_syntax(context.query):
            yield error(context.query_location(offset), message, NAME)
        return
    message, offset = _cause(context.panel.query, str(problem), problem.offset)
    text = "invalid PromQL query"
    if isinstance(problem, promql.QueryTooDeep):
        # Prometheus reads such a query, so it is not called invalid.
        text = message
    elif message.lower() != _GENERIC:
        # promql-parser's message may quote a whole token of the query.
        text = f"{text}: {shorten_quotes(message)}"
    yield error(context.query_location(offset), text + _comment_hint(context), NAME)


def _comment_hint(context: PanelContext) -> str:
    """Return advice to quote a plain query that YAML cut at a ` #`.

    YAML reads ` #` after a plain value as the start of a comment, so a query such
    as `up{path=~".* #x"}` written without quotes ends before it.
    """
    where = context.panel.location_of("query")
    source = context.sources.get(where.file)
    if source is None or "\n" in context.panel.query:
        return ""
    lines = source.splitlines()
    if not 0 < where.line <= len(lines):
        return ""
    line = lines[where.line - 1]
    start = where.column - 1
    if line[start : start + 1] in ("'", '"', "|", ">"):
        return ""
    rest = line[start + len(context.panel.query) :]
    if not rest.lstrip(" \t").startswith("#"):
        return ""
    return (
        "; YAML reads ' #' as the start of a comment, so the query ends before it: "
        "quote the query"
    )


def _timestamps(text: str) -> Iterator[tuple[int, str, float]]:
    """Yield the offset, text and value of each number that follows an `@` in a query.

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
            yield found.start(), found.group(1), sign * int(digits, 16)
        else:
            yield found.start(), found.group(1), sign * float(digits)


def _timestamps_out_of_range(context: PanelContext) -> Iterator[Diagnostic]:
    """Report each `@` timestamp whose milliseconds do not fit Prometheus' int64."""
    for offset, written, seconds in _timestamps(context.panel.query):
        if math.isfinite(seconds) and abs(seconds * 1000) < 2**63:
            continue
        yield error(
            context.query_location(offset),
            f"invalid PromQL query: the @ timestamp {shorten(written)} is out of the "
            "range Prometheus accepts, about ±9.2e15 seconds (292 million years) "
            "from 1970",
            NAME,
        )


def _unit_problem(text: str) -> str | None:
    """Return why Prometheus 2.42 rejects the duration `text`, or None."""
    if text and _DURATION.fullmatch(text):
        return None
    if text.isdigit():
        return (
            f"the duration {shorten(text)} has no unit, which {PROMETHEUS} requires; "
            f"write {shorten(text + 's')}"
        )
    return (
        f"{PROMETHEUS} does not read the duration {shorten(text)}; write whole "
        "numbers with units from the largest, such as 1h30m"
    )


def _written_durations(tokens: Sequence[Token]) -> Iterator[tuple[str, int]]:
    """Yield each range, subquery step and offset duration as written, with its offset.

    Parts with a Grafana variable are left out: Grafana puts a duration there.
    """
    for index, token in enumerate(tokens):
        if token.kind == "range":
            start = token.offset + 1
            for part in token.text[1:-1].split(":"):
                stripped = part.strip()
                if stripped and not promql.has_grafana_variable(stripped):
                    yield stripped, start + part.index(stripped)
                start += len(part) + 1
        elif token.kind == "identifier" and token.text.lower() == "offset":
            following = tokens[index + 1 : index + 3]
            if following and following[0].text in ("-", "+"):
                following = following[1:]
            if following and following[0].kind == "number":
                yield following[0].text, following[0].offset


# The words whose parenthesised list contains label names: `by (a, b)`, `on (a)`.
_LABEL_LISTS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right"}
)


def _quoted_names(tokens: Sequence[Token]) -> Iterator[int]:
    """Yield the offset of each quoted metric or label name.

    Such names are strings in the name position of a selector's braces, or in the
    label list of a grouping or a vector matching.
    """
    inside = False
    in_list = False
    previous = ""
    for token in tokens:
        if token.text in ("{", "}"):
            inside = token.text == "{"
        elif token.text == "(" and previous.lower() in _LABEL_LISTS:
            in_list = True
        elif token.text == ")":
            in_list = False
        # A string after a comma outside braces is a function's argument.
        elif token.kind == "string" and (
            (inside and previous in ("{", ",")) or in_list
        ):
            yield token.offset
        previous = token.text


def query_problem(text: str) -> tuple[int, str] | None:
    """Return the offset and message of the first part of `text` that 2.42 rejects.

    This is the syntax check of a panel query for PromQL outside a manifest, such as
    the expressions of a promtool test file.
    """
    query = ParsedQuery.parse(text)
    if query.error is not None:
        message, offset = _cause(text, str(query.error), query.error.offset)
        return offset, f"invalid PromQL query: {shorten_quotes(message)}"
    for later_offset, later_message in later_syntax(query):
        return later_offset or 0, later_message
    return None


def _durations_as_numbers(tokens: Sequence[Token]) -> Iterator[Token]:
    """Yield each duration in the place of a number, outside offset and @."""
    for index, token in enumerate(tokens):
        if token.kind != "number" or not _DURATION_NUMBER.fullmatch(token.text):
            continue
        before = [t.text.lower() for t in tokens[max(index - 2, 0) : index]]
        if before[-1:] in (["offset"], ["@"]) or (
            before[-1:] in (["-"], ["+"]) and before[:1] in (["offset"], ["@"])
        ):
            continue
        yield token


def later_syntax(query: ParsedQuery) -> Iterator[tuple[int | None, str]]:
    """Yield the offset and message of each part of `query` that Prometheus 2.42 rejects.

    These are the parts that promql-parser reads because a later version added them.
    """
    tokens = tokenize(query.text)
    for token in _durations_as_numbers(tokens):
        yield (
            token.offset,
            f"invalid PromQL query: {PROMETHEUS} reads the duration "
            f"{shorten(token.text)} only in a range, a subquery or after offset, not "
            "as a number; write the number of seconds",
        )
    for text, offset in _written_durations(tokens):
        problem = _unit_problem(text)
        if problem is not None:
            yield offset, f"invalid PromQL query: {problem}"
    for offset in _quoted_names(tokens):
        yield (
            offset,
            f"invalid PromQL query: {PROMETHEUS} reads no quoted metric or label names "
            "(Prometheus 3.0 added them); write the name without quotes, with only "
            "ASCII letters, digits, _ and :",
        )
    for node in query.nodes:
        if isinstance(node, pp.Call) and node.func.name not in FUNCTIONS:
            kind, name = "function", node.func.name
        elif isinstance(node, pp.AggregateExpr) and str(node.op) not in AGGREGATIONS:
            kind, name = "aggregation", str(node.op)
        else:
            continue
        yield (
            query.offset_of(node),
            f"invalid PromQL query: {PROMETHEUS} has no {kind} {name}, which a later "
            "version added",
        )
