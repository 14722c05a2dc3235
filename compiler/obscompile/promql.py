"""PromQL analysis on top of promql-parser: parsing with Grafana variables, and the
facts about a query that the compiler derives units, legends and rules from."""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Iterator
from datetime import timedelta

import attrs
import promql_parser as pp

from obscompile import goregexp, promql_limits, trampoline
from obscompile.trampoline import Recursive

# Grafana replaces these before a query reaches Prometheus; the parser needs a value.
# Grafana reads a variable as `$name`, `${name}`, `${name:format}` or in its older
# syntax `[[name]]` and `[[name:format]]`.
_GRAFANA_RANGES = re.compile(
    r"\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}"
    r"|\[\[__(rate_interval|interval|range)\]\]"
)
_GRAFANA_VARIABLE = re.compile(
    r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::[a-z]+)?\}|\$[A-Za-z_][A-Za-z0-9_]*"
    r"|\[\[[A-Za-z_][A-Za-z0-9_]*(?::[a-z]+)?\]\]"
)

_DURATION_VARIABLE = re.compile(
    r"(\[\s*|:\s*|\boffset\s+)(?:" + _GRAFANA_VARIABLE.pattern + ")", re.IGNORECASE
)

RANGE_FUNCTIONS = frozenset(
    {"rate", "irate", "increase", "delta", "idelta", "deriv", "resets", "changes"}
)
COUNTER_FUNCTIONS = frozenset({"rate", "irate", "increase"})
ALWAYS_LABELS = frozenset({"job", "instance"})


class QueryError(ValueError):
    """A query does not parse; `offset` is a best guess at the position in the query."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.offset = offset


class QueryTooDeep(QueryError):
    """A query that Prometheus may accept nests deeper than obscompile reads.

    `depth` is the query's depth, as `query_depth` counts it, and `offset` that of
    the bracket or operator that passes MAX_QUERY_DEPTH.
    """

    def __init__(self, message: str, depth: int, offset: int) -> None:
        super().__init__(message, offset)
        self.depth = depth


MAX_QUERY_DEPTH = promql_limits.MAX_QUERY_DEPTH


def depth_problem(query: str) -> QueryTooDeep | None:
    """Return the error for a query deeper than MAX_QUERY_DEPTH, or None.

    `promql_limits.MAX_QUERY_DEPTH` describes how the depth is counted, and why.
    """
    found = promql_limits.too_deep(query)
    if found is None:
        return None
    depth, passed = found
    return QueryTooDeep(
        f"the query nests {depth} levels deep, and obscompile reads at most "
        f"{MAX_QUERY_DEPTH}: each pair of brackets counts as a level, and so does "
        "each operator inside the same brackets. Group a long chain of operators in "
        "parentheses, as in (a or b) or (c or d), or split the query",
        depth,
        passed,
    )


def _unreadable(query: str) -> QueryError | None:
    """Return the error for a query that promql-parser must not read, or None."""
    too_deep = depth_problem(query)
    if too_deep is not None:
        return too_deep
    problem = promql_limits.duration_problem(query) or promql_limits.number_problem(
        query
    )
    return None if problem is None else QueryError(*problem)


_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def compile_regex(pattern: str) -> re.Pattern[str]:
    """Compile the regex of a label matcher or of label_replace() with Python's `re`.

    The regex is read with Go's syntax, as Prometheus reads it, and compiled to the
    Python pattern of the same meaning (see `goregexp`). Raises re.error for a regex
    that Prometheus rejects or that Python cannot evaluate.
    """
    try:
        return re.compile(goregexp.python_pattern(pattern))
    except (goregexp.RegexpError, goregexp.UnevaluatedClass) as exc:
        raise re.error(str(exc)) from None
    except RecursionError:
        # Python's compiler recurses once for each group, and Go allows 1000 levels.
        raise re.error("the regex nests too deeply for Python's re") from None


def is_label_name(name: str) -> bool:
    """Return True when `name` matches Prometheus' label-name rule, [a-zA-Z_][a-zA-Z0-9_]*."""
    return _LABEL_NAME.fullmatch(name) is not None


def substitute_grafana_variables(query: str) -> str:
    """Replace Grafana's `$__rate_interval` and template variables with parseable values.

    Range variables become `5m`; other variables become `grafana_variable`, in and
    out of quotes, so that the query's shape survives.
    """
    if "$" not in query and "[[" not in query:
        # Every Grafana variable starts with a dollar sign or two brackets.
        return query
    query = _GRAFANA_RANGES.sub("5m", query)
    # A template variable where a duration goes, as in [$window] or offset $shift.
    query = _DURATION_VARIABLE.sub(r"\g<1>5m", query)
    return _GRAFANA_VARIABLE.sub("grafana_variable", query)


# Functions whose value grows with the length of their range: over a window that
# Grafana picks from the zoom, the panel's values change with the zoom.
WINDOW_COUNTING_FUNCTIONS = frozenset(
    {"increase", "delta", "changes", "resets", "sum_over_time", "count_over_time"}
)
# Grafana's range variables as an offset, which a rule would read as 5m.
_OFFSET_VARIABLE = re.compile(
    r"\boffset\s+(" + _GRAFANA_RANGES.pattern + ")", re.IGNORECASE
)
# A window that replaces Grafana's range variables, to find where they went.
_VARIABLE_WINDOW = "3141592ms"


def grafana_variable_problem(query: str) -> tuple[str, int] | None:
    """Return why no rule can evaluate `query` as a dashboard does, and where.

    Grafana sets its variables when a dashboard is viewed, and Prometheus evaluates a
    rule with none. A rule reads `$__rate_interval` and `$__interval` as 5m, which
    keeps a per-second rate. The other variables have no value that a rule could
    take, and neither do those windows as an offset or inside a function that counts
    over its range.
    The offset is that of the variable in `query`.
    """
    for found in _GRAFANA_VARIABLE.finditer(query):
        if _GRAFANA_RANGES.fullmatch(found.group()):
            continue
        return (
            f"{found.group()} is a variable that Grafana sets when the dashboard is "
            "viewed, and a rule has no value for it",
            found.start(),
        )
    shifted = _OFFSET_VARIABLE.search(query)
    if shifted is not None:
        return (
            f"the offset {shifted.group(1)} is one that Grafana picks from the "
            "dashboard's zoom, so the panel's values change with the zoom",
            shifted.start(1),
        )
    windows = list(_GRAFANA_RANGES.finditer(query))
    for found in windows:
        if "range" in found.group():
            return (
                f"{found.group()} is the time range of the dashboard, which a rule "
                "does not have",
                found.start(),
            )
    if not windows:
        return None
    marked_query = _GRAFANA_RANGES.sub(_VARIABLE_WINDOW, query)
    if _unreadable(marked_query) is not None:
        return None
    try:
        node = promql_limits.parse_text(marked_query)
    except ValueError:
        return None
    marked = timedelta(milliseconds=int(_VARIABLE_WINDOW[:-2]))
    index = 0
    for part in walk(node):
        if not isinstance(part, pp.MatrixSelector | pp.SubqueryExpr):
            continue
        if part.range != marked:
            continue
        if index >= len(windows):
            break
        window = windows[index]
        index += 1
        if isinstance(part, pp.MatrixSelector) and _counting_call(node, part):
            return (
                f"the window {window.group()} is one that Grafana picks from the "
                "dashboard's zoom, and the function counts over it, so the "
                "panel's values change with the zoom",
                window.start(),
            )
    return None


def _counting_call(node: pp.Expr, matrix: pp.MatrixSelector) -> bool:
    """Return True if `matrix` is the argument of a window-counting function."""
    for part in walk(node):
        if (
            isinstance(part, pp.Call)
            and part.func.name in WINDOW_COUNTING_FUNCTIONS
            and any(argument is matrix for argument in part.args)
        ):
            return True
    return False


# A duration of zero after `[`, `:` or `offset`, such as [0s] or offset 0m.
_ZERO_DURATION = re.compile(r"(?:\[|:|\boffset\s+)\s*(0+(?:ms|s|m|h|d|w|y)?)(?![\w.])")
# A lexer error that ends with the character it could not read, such as
# "unexpected character inside brackets: ')'" or "unexpected right parenthesis ')'",
# or that names it before the brackets it is in: "unexpected left brace '[' inside
# brackets".
_UNEXPECTED_CHARACTER = re.compile(
    r"^unexpected\b.*'([^']+)'(?: inside (?:brackets|braces))?$"
)
# An escape of Rust's debug form of a character, in which the lexer quotes a space
# other than ' ', a control character or a backslash, such as \u{a0} or \\.
_RUST_ESCAPE = re.compile(r"\\(?:u\{([0-9a-fA-F]{1,6})\}|(.))")
_RUST_ESCAPED = {"t": "\t", "n": "\n", "r": "\r", "0": "\0"}


def _unescape_rust(text: str) -> str:
    """Return `text`, a character in Rust's debug form, as the character itself."""

    def replace(match: re.Match[str]) -> str:
        code, escaped = match.groups()
        if code is not None:
            point = int(code, 16)
            # Six hex digits can exceed sys.maxunicode, and such a text stays as it is.
            return chr(point) if point <= sys.maxunicode else match.group()
        return _RUST_ESCAPED.get(escaped, escaped)

    return _RUST_ESCAPE.sub(replace, text)


# A string in any of PromQL's three quotes, or a comment, which may contain quotes.
_STRING_OR_COMMENT = re.compile(
    r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`|\#[^\n]*"""
)


def _double_quoted(match: re.Match[str]) -> str:
    """Return a backtick string as the double-quoted string of the same value."""
    text = match.group()
    if not text.startswith("`"):
        return text
    value = text[1:-1]
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _parseable(query: str) -> str:
    """Return `query` as promql-parser reads it, with the value of each string kept.

    Grafana's variables get parseable values. A backtick string is a raw string in
    Prometheus, where `\\.` is a backslash and a dot, but promql-parser reads escape
    sequences in it and rejects `\\.`, so it is passed as a double-quoted string.
    """
    text = substitute_grafana_variables(query)
    if "`" in text:
        text = _STRING_OR_COMMENT.sub(_double_quoted, text)
    return text


def _fails_with(query: str, message: str) -> bool:
    """Return True when parsing `query` fails with exactly `message`."""
    text = _parseable(query)
    if _unreadable(text) is not None:
        return False
    try:
        promql_limits.parse_text(text)
    except ValueError as exc:
        return str(exc) == message
    except BaseException as exc:  # the Rust extension raises PanicException
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
    return False


def _unexpected_offset(query: str, message: str, token: str) -> int | None:
    """Return the offset of `token`, which the lexer rejected with `message`.

    The lexer reads left to right and stops at the first character it cannot read,
    so a prefix of the query fails with the same message exactly when it ends at or
    after that character. A binary search over prefix lengths finds the shortest
    such prefix, which ends with the token. Returns None when it does not.
    """
    low, high = 0, len(query)
    while low < high:
        middle = (low + high) // 2
        if _fails_with(query[:middle], message):
            high = middle
        else:
            low = middle + 1
    if high and query[:high].endswith(token):
        return high - len(token)
    return None


def _error_offset(query: str, message: str) -> int:
    if "unclosed left parenthesis" in message:
        depth_stack = []
        for index, char in enumerate(query):
            if char == "(":
                depth_stack.append(index)
            elif char == ")" and depth_stack:
                depth_stack.pop()
        return depth_stack[0] if depth_stack else 0
    if (
        "unclosed left brace" in message
        or "unexpected end of input inside braces" in message
    ):
        return max(query.rfind("{"), 0)
    if (
        "unclosed left bracket" in message
        or "unexpected end of input inside brackets" in message
    ):
        return max(query.rfind("["), 0)
    if "duration must be greater than 0" in message:
        zero = _ZERO_DURATION.search(query)
        if zero:
            return zero.start(1)
    unexpected = _UNEXPECTED_CHARACTER.match(message)
    if unexpected:
        token = _unescape_rust(unexpected.group(1))
        found = _unexpected_offset(query, message, token)
        if found is not None:
            return found
    quoted = re.search(r"'([^']+)'|\"([^\"]+)\"|`([^`]+)`", message)
    if quoted:
        token = next(group for group in quoted.groups() if group)
        found = query.find(token)
        if found >= 0:
            return found
    return 0


# A string in double or single quotes, a comment, or a regex match operator. The
# backtick strings of a query are double-quoted by `_parseable` before it is read.
_REGEX_TOKENS = re.compile(
    r"""(?P<operator>=~|!~)|(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)"""
    r"|(?P<comment>\#[^\n]*)"
)
_COMMENT = re.compile(r"\#[^\n]*")
# The text that stands for a regex that promql-parser rejects and Prometheus accepts
# while the query is parsed. The regex itself is put back into the syntax tree.
_PLACEHOLDER = "obscompile_regex_{index}"


def _regex_strings(text: str) -> list[tuple[int, int]]:
    """Return the start and end of each string after `=~` or `!~` in a query."""
    found = []
    operator_end = None
    for match in _REGEX_TOKENS.finditer(text):
        if match.lastgroup == "comment":
            continue
        if match.lastgroup == "operator":
            operator_end = match.end()
            continue
        if operator_end is not None:
            between = _COMMENT.sub("", text[operator_end : match.start()])
            if not between.strip():
                found.append(match.span())
        operator_end = None
    return found


def _quoted(value: str) -> str:
    """Return `value` as a double-quoted PromQL string."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


@functools.lru_cache(maxsize=4096)
def _string_value(token: str) -> str | None:
    """Return the value of a PromQL string as written, or None if it does not parse."""
    try:
        selector = pp.parse(f'{{x={token},y="y"}}')
    except BaseException as exc:  # the Rust extension raises PanicException
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        return None
    if not isinstance(selector, pp.VectorSelector):
        return None
    return str(selector.matchers.matchers[0].value)


@functools.lru_cache(maxsize=4096)
def _parser_accepts(regex: str) -> bool:
    """Return False when promql-parser rejects a regex, which Rust's regex reads."""
    try:
        pp.parse(f'{{x=~{_quoted(regex)},y="y"}}')
    except BaseException as exc:  # the Rust extension raises PanicException
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        return not str(exc).startswith("illegal regex")
    return True


def _checked_regexes(query: str, text: str) -> tuple[str, dict[str, str]]:
    """Check each matcher regex of `query` by Prometheus's rules; raise QueryError.

    `text` is the query as `_parseable` returns it. Returns `text` with a placeholder
    in place of each regex that promql-parser rejects, and each placeholder with its
    regex. A placeholder matches the empty string exactly when its regex does, so
    the parser still checks that a selector has a matcher that is not empty.
    """
    if "=~" not in text and "!~" not in text:
        return text, {}
    spans = _regex_strings(text)
    written = _regex_strings(query)
    replaced: dict[str, str] = {}
    pieces: list[str] = []
    last = 0
    for index, (start, end) in enumerate(spans):
        value = _string_value(text[start:end])
        if value is None:
            continue  # the parser reports the string
        problem = goregexp.regexp_problem(value)
        if problem is not None:
            at = written[index][0] if len(written) == len(spans) else 0
            raise QueryError(f"invalid regex {_quoted(value)}: {problem}", at + 1)
        if _parser_accepts(value):
            continue
        placeholder = _PLACEHOLDER.format(index=index)
        if goregexp.matches_empty(value):
            placeholder = f"(?:{placeholder})?"
        replaced[placeholder] = value
        pieces.extend((text[last:start], f'"{placeholder}"'))
        last = end
    return "".join(pieces) + text[last:], replaced


def _restore_regexes(expr: pp.Expr, replaced: dict[str, str]) -> None:
    """Put each regex back in place of its placeholder in the syntax tree."""
    for selector in selectors(expr):
        matchers = selector.matchers
        items = matchers.matchers
        for matcher in items:
            if matcher.value in replaced:
                matcher.value = replaced[matcher.value]
        matchers.matchers = items
        selector.matchers = matchers


@functools.lru_cache(maxsize=4096)
def parse(query: str) -> pp.Expr:
    """Parse a panel or rule query; raise QueryError with a position on failure.

    The checks, the rule derivation and the test generator each parse every query
    of a service, so a parsed query is kept. Callers only read the syntax tree.
    Matcher regexes follow Go's syntax, as in Prometheus, and not promql-parser's.
    """
    unreadable = _unreadable(query)
    if unreadable is not None:
        raise unreadable
    text, replaced = _checked_regexes(query, _parseable(query))
    try:
        expr = promql_limits.parse_text(text)
        if replaced:
            _restore_regexes(expr, replaced)
        return expr
    except ValueError as exc:
        message = str(exc)
        offset = _error_offset(query, message)
        if "unknown function with name 'holt_winters'" in message:
            message = (
                "obscompile cannot read holt_winters: its PromQL parser follows "
                "Prometheus 3, which renamed it double_exponential_smoothing, a name "
                "that Prometheus 2.42 does not have"
            )
        raise QueryError(message, offset) from None
    except (
        BaseException
    ) as exc:  # the Rust extension raises PanicException on odd input
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise QueryError(f"cannot parse query: {exc}") from None


# PromQL's binary operators that compute a value, and those that compare. Both match
# their sides one to one unless `group_left` or `group_right` says otherwise.
ARITHMETIC_OPERATORS = frozenset({"+", "-", "*", "/", "%", "^", "atan2"})
COMPARISON_OPERATORS = frozenset({"==", "!=", ">", "<", ">=", "<="})


# Functions whose result changes with the evaluation time while no new sample is read.
CLOCK_FUNCTIONS = frozenset(
    {
        "time",
        "day_of_month",
        "day_of_week",
        "day_of_year",
        "days_in_month",
        "hour",
        "minute",
        "month",
        "year",
    }
)


def is_time_call(node: pp.Expr) -> bool:
    """Return True for `time()`, the evaluation time in seconds."""
    node = strip_parens(node)
    return isinstance(node, pp.Call) and node.func.name == "time" and not node.args


def value_type(node: pp.Expr) -> str:
    """Return the type of what `node` evaluates to: vector, scalar, matrix or string."""
    while isinstance(node, pp.ParenExpr | pp.UnaryExpr):
        node = node.expr
    if not isinstance(node, pp.BinaryExpr):
        return _operand_type(node)
    # An operation gives a scalar only where every operand of its operations does.
    # The right side is looked at first: in a chain such as `a + b + c`, which nests
    # to the left, it is an operand, so a vector is found at once.
    pending: list[pp.Expr] = [node]
    while pending:
        part = pending.pop()
        while isinstance(part, pp.ParenExpr | pp.UnaryExpr):
            part = part.expr
        if isinstance(part, pp.BinaryExpr):
            pending += (part.lhs, part.rhs)
        elif _operand_type(part) != "scalar":
            return "vector"
    return "scalar"


def _operand_type(node: pp.Expr) -> str:
    """Return the type of `node`, which is no operation, parenthesis or negation."""
    if isinstance(node, pp.MatrixSelector | pp.SubqueryExpr):
        return "matrix"
    if isinstance(node, pp.StringLiteral):
        return "string"
    if isinstance(node, pp.NumberLiteral):
        return "scalar"
    if isinstance(node, pp.Call):
        return str(node.func.return_type).rpartition(".")[2].lower()
    return "vector"


GRAFANA_GLOBALS = frozenset(
    {
        "__interval",
        "__interval_ms",
        "__rate_interval",
        "__rate_interval_ms",
        "__range",
        "__range_s",
        "__range_ms",
        "__from",
        "__to",
        "__dashboard",
        "__org",
        "__user",
    }
)


def has_grafana_variable(text: str) -> bool:
    """Return True when `text` contains a Grafana variable, such as `$job` or `[[job]]`."""
    return _GRAFANA_VARIABLE.search(text) is not None


def grafana_variables(query: str) -> list[tuple[str, str, int]]:
    """Return each Grafana variable of `query`: its name, its text and its offset.

    Grafana's own variables, such as `$__rate_interval`, are left out.
    """
    found = []
    for match in _GRAFANA_VARIABLE.finditer(query):
        text = match.group()
        name = text.strip("${}[]").split(":")[0]
        if name not in GRAFANA_GLOBALS:
            found.append((name, text, match.start()))
    return found


def children(node: pp.Expr) -> list[pp.Expr]:
    """Return the direct sub-expressions of `node`."""
    if isinstance(node, pp.AggregateExpr):
        return [n for n in (node.param, node.expr) if n is not None]
    if isinstance(node, pp.BinaryExpr):
        return [node.lhs, node.rhs]
    if isinstance(node, pp.Call):
        return list(node.args)
    if isinstance(node, pp.MatrixSelector):
        return [node.vector_selector]
    if isinstance(node, pp.ParenExpr | pp.UnaryExpr | pp.SubqueryExpr):
        return [node.expr]
    return []


# The nodes without sub-expressions that most often end a branch of a tree.
_LEAVES = (pp.VectorSelector, pp.NumberLiteral, pp.StringLiteral)


def walk(node: pp.Expr) -> Iterator[pp.Expr]:
    """Yield `node` and every sub-expression, depth first, in source order."""
    pending = [node]
    while pending:
        current = pending.pop()
        yield current
        if isinstance(current, _LEAVES):
            continue
        inner = children(current)
        if len(inner) == 1:
            pending.append(inner[0])
        else:
            pending += reversed(inner)


def selectors(node: pp.Expr) -> list[pp.VectorSelector]:
    return [n for n in walk(node) if isinstance(n, pp.VectorSelector)]


def strip_parens(node: pp.Expr) -> pp.Expr:
    while isinstance(node, pp.ParenExpr):
        node = node.expr
    return node


def number_value(node: pp.Expr) -> float | None:
    node = strip_parens(node)
    if isinstance(node, pp.NumberLiteral):
        return float(node.val)
    return None


_MATCH_OPERATORS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}


def match_operator(matcher: pp.Matcher) -> str:
    """Return a matcher's operator as PromQL writes it (`=`, `!=`, `=~`, `!~`)."""
    name = str(matcher.op).split(".")[-1].split("(")[0]
    return _MATCH_OPERATORS.get(name, name)


def matcher_values(selector: pp.VectorSelector, label: str) -> list[tuple[str, str]]:
    """Return `(operator, value)` for each matcher on `label`."""
    return [
        (match_operator(m), m.value)
        for m in selector.matchers.matchers
        if m.name == label
    ]


_DURATION_UNITS = (
    ("y", 365 * 86_400_000),
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
)


def duration_text(value: timedelta) -> str:
    """Render a timedelta as a Prometheus duration in its largest whole unit.

    `5m`, `1h`, `90s`, `1y` for 365 days and `1500ms`, as Prometheus counts a year
    as 365 days and a week as 7 days. A count of 2**32 or more, which promql-parser
    does not read, is written in several units instead: `49d17h2m47s296ms`.
    """
    milliseconds = round(value.total_seconds() * 1000)
    if not milliseconds:
        return "0s"
    for unit, size in (*_DURATION_UNITS, ("ms", 1)):
        if milliseconds % size == 0:
            if milliseconds // size < 2**32:
                return f"{milliseconds // size}{unit}"
            break
    parts = []
    for unit, size in (*_DURATION_UNITS, ("ms", 1)):
        count, milliseconds = divmod(milliseconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


@attrs.frozen
class OutputLabels:
    """The labels a query's result series carry.

    `names` are known labels; `open` is True when the series also keep the labels
    of a raw selector (whose full set depends on the metric). `selector` is that
    selector, and `dropped` lists the labels that the query removes from its series.
    """

    names: tuple[str, ...] = ()
    open: bool = False
    selector_metric: str | None = None
    selector: pp.VectorSelector | None = attrs.field(default=None, eq=False)
    dropped: tuple[str, ...] = ()

    def without(self, *labels: str) -> OutputLabels:
        names = tuple(n for n in self.names if n not in labels)
        if not self.open:
            return attrs.evolve(self, names=names)
        dropped = self.dropped + tuple(n for n in labels if n not in self.dropped)
        return attrs.evolve(self, names=names, dropped=dropped)


def output_labels(node: pp.Expr) -> OutputLabels:
    """Return the labels of the query's result series."""
    found = _output_labels(node)
    return found if isinstance(found, OutputLabels) else trampoline.run(found)


def _output_labels(node: pp.Expr) -> OutputLabels | Recursive[OutputLabels]:
    """Return the labels of a selector, or the generator that finds those of `node`."""
    node = strip_parens(node)
    if isinstance(node, pp.VectorSelector):
        return OutputLabels(open=True, selector_metric=node.name, selector=node)
    return _composite_labels(node)


def _composite_labels(node: pp.Expr) -> Recursive[OutputLabels]:
    """Return the labels of `node`, which is no selector or parenthesis."""
    if isinstance(node, pp.MatrixSelector):
        return (yield _output_labels(node.vector_selector))
    if isinstance(node, pp.AggregateExpr):
        inner = yield _output_labels(node.expr)
        modifier = node.modifier
        if str(node.op) in ("topk", "bottomk", "limitk", "limit_ratio"):
            return inner
        if modifier is None:
            names: tuple[str, ...] = ()
            if str(node.op) == "count_values" and isinstance(
                node.param, pp.StringLiteral
            ):
                names = (node.param.val,)
            return OutputLabels(names=names)
        if modifier.type == pp.AggModifierType.By:
            return OutputLabels(names=tuple(modifier.labels))
        return attrs.evolve(inner.without(*modifier.labels))
    if isinstance(node, pp.Call):
        name = node.func.name
        vectors = [
            a
            for a in node.args
            if not isinstance(strip_parens(a), pp.NumberLiteral | pp.StringLiteral)
        ]
        if name == "histogram_quantile" and vectors:
            inner = yield _output_labels(vectors[-1])
            return inner.without("le")
        if name in ("vector", "time", "scalar"):
            return OutputLabels()
        if name in ("absent", "absent_over_time") and node.args:
            return OutputLabels(names=absent_labels(node.args[0]))
        if name in ("label_replace", "label_join") and vectors:
            inner = yield _output_labels(vectors[0])
            target = strip_parens(node.args[1])
            strings = string_arguments(node)
            if name == "label_replace" and strings is not None and _removes(strings):
                return inner.without(strings[0])
            if isinstance(target, pp.StringLiteral) and target.val not in inner.names:
                return attrs.evolve(inner, names=(*inner.names, target.val))
            return inner
        return (yield _output_labels(vectors[0])) if vectors else OutputLabels()
    if isinstance(node, pp.BinaryExpr):
        # A scalar side, such as 100 or time(), keeps the labels of the vector side.
        lhs_scalar = value_type(node.lhs) == "scalar"
        rhs_scalar = value_type(node.rhs) == "scalar"
        if lhs_scalar and not rhs_scalar:
            return (yield _output_labels(node.rhs))
        side = yield _output_labels(node.lhs)
        bin_modifier = node.modifier
        matching = bin_modifier.matching if bin_modifier is not None else None
        card = str(bin_modifier.card) if bin_modifier is not None else ""
        if matching is not None and "OneToMany" in card:
            side = yield _output_labels(node.rhs)
        if matching is not None and "OneToOne" in card:
            # One-to-one matching keeps only the labels of `on`, or drops those of
            # `ignoring`, for a comparison too (checked with promtool 2.42).
            if matching.type == pp.LabelModifierType.Exclude:
                return side.without(*matching.labels)
            if side.open:
                return OutputLabels(names=tuple(matching.labels))
            return OutputLabels(
                names=tuple(n for n in side.names if n in matching.labels)
            )
        if str(node.op) == "or":
            # The result contains the series of both sides, each with its own labels.
            other = yield _output_labels(node.rhs)
            names = (*side.names, *(n for n in other.names if n not in side.names))
            return attrs.evolve(
                other if other.open and not side.open else side, names=names
            )
        return side
    if isinstance(node, pp.SubqueryExpr | pp.UnaryExpr):
        return (yield _output_labels(node.expr))
    return OutputLabels()


def absent_labels(argument: pp.Expr) -> tuple[str, ...]:
    """Return the labels of the series that absent() or absent_over_time() returns.

    As promtool 2.42 evaluates it, the series has a label for each `=` matcher of
    the selector with a value other than "", unless the label has a second `=` or
    an `=~` matcher too. An argument that is not a selector gives no label.
    """
    argument = strip_parens(argument)
    if isinstance(argument, pp.MatrixSelector):
        argument = argument.vector_selector
    if not isinstance(argument, pp.VectorSelector):
        return ()
    matchers = [m for m in argument.matchers.matchers if m.name != "__name__"]
    names = []
    for matcher in matchers:
        if matcher.op != pp.MatchOp.Equal or not matcher.value:
            continue
        others = [
            m
            for m in matchers
            if m.name == matcher.name and m.op in (pp.MatchOp.Equal, pp.MatchOp.Re)
        ]
        if len(others) == 1:
            names.append(matcher.name)
    return tuple(names)


def string_arguments(node: pp.Call) -> list[str] | None:
    """Return the values of the string literals after the first argument, or None.

    None means that one of those arguments is not a string literal.
    """
    values = []
    for argument in node.args[1:]:
        argument = strip_parens(argument)
        if not isinstance(argument, pp.StringLiteral):
            return None
        values.append(str(argument.val))
    return values


def _removes(label_replace_strings: list[str]) -> bool:
    """Return True for the arguments of `label_replace(v, "x", "", "", "")`.

    Those remove `x`: the missing source label is empty, the expression matches the
    empty string, and an empty replacement deletes the destination label.
    """
    if len(label_replace_strings) != 4:
        return False
    _, replacement, src, regex = label_replace_strings
    return replacement == "" and src == "" and regex in ("", ".*", "(.*)")


def metric_name(selector: pp.VectorSelector) -> str | None:
    """Return the metric name that a selector matches exactly, or None.

    `{__name__="x", job="a"}` selects the same series as `x{job="a"}`, so the value
    of a `__name__="..."` matcher is the name of a selector written without one.
    """
    if selector.name:
        return selector.name
    for matcher in selector.matchers.matchers:
        if matcher.name == "__name__" and matcher.op == pp.MatchOp.Equal:
            return matcher.value or None
    return None


def metric_names(node: pp.Expr) -> list[str]:
    """Return the metric names the query selects, in source order, without repeats."""
    names: list[str] = []
    for selector in selectors(node):
        name = metric_name(selector)
        if name and name not in names:
            names.append(name)
    return names


def same_metrics(numerator: pp.Expr, denominator: pp.Expr) -> bool:
    """Return True when both sides of a division select the same metrics."""
    left, right = metric_names(numerator), metric_names(denominator)
    return bool(left) and left == right


def scaled_by(node: pp.Expr) -> tuple[float, pp.Expr] | None:
    """Return `(factor, inner)` for `inner * factor` or `factor * inner` at the top level."""
    node = strip_parens(node)
    if isinstance(node, pp.BinaryExpr) and str(node.op) == "*":
        right, left = number_value(node.rhs), number_value(node.lhs)
        if right is not None and left is None:
            return right, node.lhs
        if left is not None and right is None:
            return left, node.rhs
    return None


def top_function(node: pp.Expr) -> str | None:
    """Return the outermost function name, looking through aggregations and parentheses."""
    node = strip_parens(node)
    while isinstance(node, pp.AggregateExpr):
        node = strip_parens(node.expr)
    if isinstance(node, pp.Call):
        return node.func.name
    return None
