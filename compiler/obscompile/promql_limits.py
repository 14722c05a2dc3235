"""Limits on the depth and durations of a query, which keep promql-parser from crashing.

promql-parser 0.12 recurses on the native stack for each level of a query's syntax
tree, and reads some durations longer than Prometheus accepts into values that fail
later or make it panic. `promql.parse` rejects such queries with these scans before
the parser reads them, and parses deep ones on a thread with a stack of known size.
"""

from __future__ import annotations

import math
import re
import threading
from datetime import timedelta

import promql_parser as pp

from obscompile.diagnostics import shorten
from obscompile.load.durations import (
    DURATION_PATTERN,
    MAX_DURATION_MS,
    TOO_LONG,
    duration_ms,
    too_long,
)

# The deepest query that obscompile reads. Along the deepest path, the depth counts one
# level for each pair of parentheses or square brackets. It counts one more for each
# operator written directly inside the same brackets, or at the top level. So `a + b +
# c` is 2 levels deep, `((a{job="x"}))` 2 and `sum(rate(x[5m])) / 2` 4. This gives at
# least the depth of the syntax tree, in which a chain of N operators is N levels
# deep, and at most about twice it.
#
# Prometheus 2.42 reads far deeper queries: `promtool check rules` accepts 100,000
# nested parentheses and chains of 10,000 operators. promql-parser 0.12 recurses on
# the native stack for each level of the tree, and its memory grows with the square
# of the depth. It was measured with one `pp.parse` in each child process, on x86-64
# Linux with CPython 3.11 and an 8 MiB main-thread stack. The deepest shape, nested
# `rate(...[1m:])`, crashed with SIGSEGV from 2,750 levels, about 3 KiB of stack a
# level. Chains of `or` crashed from 5,000 operators. 1,000 levels of that shape took
# 0.4 s and a peak of 355 MB, and a chain of 1,000 operators 0.7 s and 250 MB.
MAX_QUERY_DEPTH = 1000
# A query deeper than this parses on a thread of its own with _PARSER_STACK_BYTES of
# stack, where 3,000 levels of the deepest shape parsed. So the stack of the calling
# thread, which `ulimit -s` or the thread's creator sets, does not decide whether the
# parser crashes. 64 levels take about 200 KiB.
_SHALLOW_DEPTH = 64
_PARSER_STACK_BYTES = 64 << 20

# A string in any of PromQL's quotes, or a comment. A string that is not closed runs
# to the end of the query, so that the brackets in it are not read as syntax.
_STRING_OR_COMMENT = r""""(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?|`[^`]*`?|\#[^\n]*"""
# The tokens that the depth scan reads. Strings, comments and numbers are matched whole
# so that the brackets and signs inside them are not counted.
_DEPTH_TOKENS = re.compile(
    _STRING_OR_COMMENT + r"|[0-9.](?:[0-9A-Za-z_.]|(?<=[eE])[-+])*"
    r"|(?P<word>[A-Za-z_:][A-Za-z0-9_:]*)"
    r"|(?P<match>=~|!~|=(?!=))"
    r"|(?P<operator>==|!=|<=|>=|[-+*/%^<>])"
    r"|(?P<open>[(\[{])|(?P<close>[)\]}])"
)
_WORD_OPERATORS = frozenset({"and", "or", "unless", "atan2"})


def depth_bound(query: str) -> int:
    """Return a number that `query_depth(query)` is never above, found quickly.

    Each level of the depth needs a bracket or an operator, and this counts every
    character that can start one, and every `and`, `or`, `unless` and `atan2` in
    any word, so most queries need no full scan.
    """
    lowered = query.lower()
    characters = sum(query.count(character) for character in "([-+*/%^<>=!")
    return characters + sum(lowered.count(word) for word in _WORD_OPERATORS)


def query_depth(query: str) -> tuple[int, int | None]:
    """Return the depth of `query` as MAX_QUERY_DEPTH counts it, and where it passes it.

    The offset is that of the first bracket or operator at which the depth passes
    MAX_QUERY_DEPTH, or None for a query within the limit. The scan takes time in
    proportion to the length of the query and reads no syntax beyond its tokens, so
    brackets that do not pair up count as far as they go.
    """
    # Each open pair of brackets, outermost first: the levels up to and including
    # its own operators, the depth of its deepest closed inner pair, and whether it
    # is a selector's braces. Braces hold matchers, whose `!=` is no operator, and
    # add no level.
    frames: list[list[int]] = [[0, 0, 0]]
    depth, passed = 0, None
    for token in _DEPTH_TOKENS.finditer(query):
        kind = token.lastgroup
        top = frames[-1]
        if kind == "open":
            braces = token.group() == "{"
            level = top[0] + (0 if braces else 1)
            frames.append([level, 0, braces])
        elif kind == "close":
            if len(frames) > 1:
                levels, deepest, _ = frames.pop()
                parent = frames[-1]
                parent[1] = max(parent[1], levels - parent[0] + deepest)
            continue
        elif top[2] or not (
            kind == "operator"
            or (kind == "word" and token.group().lower() in _WORD_OPERATORS)
        ):
            continue
        else:
            top[0] += 1
            level = top[0] + top[1]
        depth = max(depth, level)
        if passed is None and level > MAX_QUERY_DEPTH:
            passed = token.start()
    return depth, passed


def too_deep(query: str) -> tuple[int, int] | None:
    """Return the depth of a query deeper than MAX_QUERY_DEPTH and where it passes it.

    Returns None for a query within the limit.
    """
    # Each level takes a character, and the bound takes less time than the scan.
    if len(query) <= MAX_QUERY_DEPTH or depth_bound(query) <= MAX_QUERY_DEPTH:
        return None
    depth, passed = query_depth(query)
    return None if passed is None else (depth, passed)


_DURATION = re.compile(DURATION_PATTERN)
# A number as the parser reads it where a duration goes: it counts seconds. The
# digits before and after a point are matched apart, so that a long run of digits that
# ends in a unit, such as 999...9s, fails in time that grows with its length.
_DURATION_NUMBER = re.compile(
    r"[-+]?(?:0[xX][0-9a-fA-F]+|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
    r"|[iI][nN][fF]|[nN][aA][nN])"
)
# The durations of a query: a range, a subquery's range and step, and an offset.
_WRITTEN_DURATION = re.compile(
    r"\[\s*(?P<range>[^\]:\s]*)\s*(?::\s*(?P<step>[^\]\s]*)\s*)?\]"
    r"|\boffset\s*[-+]?\s*(?P<offset>[0-9A-Za-z_.]+(?:(?<=[eE])[-+][0-9]+)?)",
    re.IGNORECASE,
)
_BLANKED = re.compile(_STRING_OR_COMMENT)
_COUNTS = re.compile(r"[0-9]+")


def _duration_error(text: str) -> str | None:
    """Return why the written duration `text` must not reach the parser, or None.

    promql-parser 0.12 reads a duration longer than Prometheus accepts in ways that
    fail later: one longer than Python's timedelta fails when the tree is read, and
    one past 2**64 milliseconds wraps, which it then reports as 0. A number without a
    unit, which it reads as seconds, makes it panic when the number is too large.
    """
    # A 0 alone is a duration for Prometheus' configuration, but a number in a query.
    if not _DURATION_NUMBER.fullmatch(text):
        if not _DURATION.match(text):
            return None  # the parser reports what it cannot read
        if too_long(text):
            return f"{shorten(text)} is {TOO_LONG}"
        if any(int(count) >= 2**32 for count in _COUNTS.findall(text)):
            # Prometheus reads it, but the parser rejects it as "must be greater than 0".
            as_units = pp.display_duration(timedelta(milliseconds=duration_ms(text)))
            return (
                f"obscompile's PromQL parser does not read a count of 2**32 or more, "
                f"as in {text}; write it as {as_units}"
            )
        return None
    number = text.lstrip("+-")
    # A hexadecimal number of hundreds of digits is an int too large for a float, and
    # NaN and the infinities fail the comparison.
    seconds = int(number, 16) if number[:2].lower() == "0x" else abs(float(number))
    if 1 <= seconds * 1000 <= MAX_DURATION_MS:
        return None  # the promql/syntax check reports the missing unit
    # The parser keeps a number below 1 ms, such as 0 or 1e-400, as a duration of
    # 0, which no rule can be printed with.
    return (
        f"Prometheus 2.42 does not read the duration {shorten(text)}; write whole "
        "numbers with units from the largest, such as 1h30m"
    )


def duration_problem(query: str) -> tuple[str, int] | None:
    """Return why the parser cannot keep the first such duration in `query`, and where.

    The offset is that of the duration. Returns None when every duration is one that
    the parser keeps.
    """
    if "[" not in query and "offset" not in query.lower():
        return None
    blanked = _BLANKED.sub(lambda found: " " * len(found.group()), query)
    for found in _WRITTEN_DURATION.finditer(blanked):
        for group in ("range", "step", "offset"):
            text = found.group(group)
            problem = _duration_error(text) if text else None
            if problem is not None:
                return problem, found.start(group)
    return None


# A decimal number literal as Prometheus' lexer reads it, outside strings and comments.
# Identifiers are matched whole, so that the digits in `x1e400` are not read as a
# number. So are the digits and letters after a number, such as the `5m` of a range
# or the `0x` of a hexadecimal number.
_NUMBER_LITERALS = re.compile(
    _STRING_OR_COMMENT + r"|[A-Za-z_:][A-Za-z0-9_:]*"
    r"|(?P<number>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)[A-Za-z0-9_]*"
)


def number_problem(query: str) -> tuple[str, int] | None:
    """Return why Prometheus rejects the first out-of-range number in `query`, and where.

    Prometheus 2.42 reads a number literal with Go's strconv.ParseFloat and rejects
    one that rounds beyond the largest double, about 1.8e308, such as `1e400`, as
    "value out of range". promql-parser reads such a number as +Inf. A number that
    rounds to 0, such as `1e-400`, is accepted by both. The offset is that of the
    number. Returns None when every number is in range.
    """
    for found in _NUMBER_LITERALS.finditer(query):
        text = found.group("number")
        # A letter or digit right after the digits makes them no number literal.
        if text is None or found.end() != found.end("number"):
            continue
        if math.isinf(float(text)):
            return (
                f"the number {shorten(text)} is beyond the largest double, about "
                "1.8e308, and Prometheus 2.42 rejects it as out of range; write Inf "
                "for an infinite value",
                found.start("number"),
            )
    return None


# threading.stack_size sets the stack of every thread started after it, process-wide.
_STACK_SIZE_LOCK = threading.Lock()


def parse_text(text: str) -> pp.Expr:
    """Return `pp.parse(text)` for a text that neither `too_deep` nor
    `duration_problem` rejects.

    A text deeper than _SHALLOW_DEPTH is parsed on a thread of its own.
    """
    if depth_bound(text) <= _SHALLOW_DEPTH or query_depth(text)[0] <= _SHALLOW_DEPTH:
        return pp.parse(text)
    outcome: list[pp.Expr | BaseException] = []

    def parse_on_thread() -> None:
        try:
            outcome.append(pp.parse(text))
        except BaseException as exc:  # noqa: BLE001 - raised again by the caller
            outcome.append(exc)

    with _STACK_SIZE_LOCK:
        previous = threading.stack_size(_PARSER_STACK_BYTES)
        try:
            # A daemon thread, so that an interrupted build does not wait for it.
            thread = threading.Thread(
                target=parse_on_thread, name="promql-parser", daemon=True
            )
            thread.start()
        finally:
            threading.stack_size(previous)
    thread.join()
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result
