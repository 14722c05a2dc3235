"""Find the first token of a PromQL query that the grammar cannot accept.

promql-parser 0.12 reports many syntax errors only as "invalid promql query", without
a position. This recognizer follows the grammar of Prometheus 2.42 over the tokens of
`query_text.tokenize` and stops at the first token that cannot continue the query.
It accepts some queries that Prometheus rejects (it does not check argument counts,
durations or where a range may follow), so it is asked only about a query that the
parser rejected. Where it accepts the whole query, it names no token.
"""

from __future__ import annotations

from typing import NoReturn

import attrs

from obscompile import trampoline
from obscompile.check.query_text import AGGREGATION_OPERATORS, Token, tokenize
from obscompile.trampoline import Recursive

_BINARY_OPERATORS = frozenset(
    {"+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<="}
)
_BINARY_KEYWORDS = frozenset({"and", "or", "unless", "atan2"})
_MATCH_OPERATORS = frozenset({"=", "!=", "=~", "!~"})
# The words that Prometheus' lexer reads as keywords, in any case, outside braces.
_KEYWORDS = _BINARY_KEYWORDS | {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
}  # fmt: skip
_SELECTOR_MODIFIERS = (
    "an instant vector selector, a range vector selector or a subquery"
)


@attrs.frozen
class GrammarError:
    """The first token that the grammar cannot accept, and why."""

    offset: int
    message: str


class _Unexpected(Exception):
    """Stops the recognizer; its one argument is the GrammarError."""


def _describe(token: Token | None) -> str:
    """Describe a token as promtool does, such as `identifier "x"` or `"("`."""
    if token is None:
        return "end of input"
    if token.kind == "identifier":
        word = token.text.lower()
        kind = "keyword" if word in _KEYWORDS or word in AGGREGATION_OPERATORS else ""
        return f'{kind or "identifier"} "{token.text}"'
    if token.kind in ("number", "string"):
        return f"{token.kind} {token.text}"
    return f'"{token.text}"'


class _Recognizer:
    def __init__(self, query: str) -> None:
        self.tokens = tokenize(query)
        self.end = len(query)
        self.index = 0

    def peek(self, ahead: int = 0) -> Token | None:
        index = self.index + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def word(self, ahead: int = 0) -> str:
        """Return the next token's text, in lower case for a keyword."""
        token = self.peek(ahead)
        if token is None:
            return ""
        return token.text.lower() if token.kind == "identifier" else token.text

    def offset(self) -> int:
        """Return the offset of the next token, or the end of the query."""
        token = self.peek()
        return token.offset if token is not None else self.end

    def fail(self, context: str = "") -> NoReturn:
        offset = self.offset()
        message = f"unexpected {_describe(self.peek())}"
        raise _Unexpected(GrammarError(offset, f"{message} {context}".rstrip()))

    def expect(self, text: str, context: str) -> None:
        if self.word() != text:
            self.fail(context)
        self.index += 1

    def query(self) -> None:
        # The parts of the grammar that nest call each other through `trampoline`,
        # so that a query nested thousands of levels deep is read.
        trampoline.run(self.expression())
        if self.peek() is not None:
            self.fail()

    def expression(self) -> Recursive[None]:
        yield self.unary()
        while self.word() in _BINARY_OPERATORS or self.word() in _BINARY_KEYWORDS:
            self.index += 1
            if self.word() == "bool":
                self.index += 1
            if self.word() in ("on", "ignoring"):
                self.index += 1
                self.labels("in vector matching")
            if self.word() in ("group_left", "group_right"):
                self.index += 1
                if self.word() == "(":
                    self.labels("in grouping")
            yield self.unary()

    def unary(self) -> Recursive[None]:
        while self.word() in ("+", "-"):
            self.index += 1
        selector = yield self.primary()
        self.postfix(selector)

    def postfix(self, selector: bool) -> None:
        """Read the ranges, offsets and @ modifiers after a primary expression.

        `selector` is True after a vector selector. An offset or @ modifier is
        accepted only after a selector or a subquery, and each at most once there,
        as Prometheus requires.
        """
        written: set[str] = set()
        while True:
            token = self.peek()
            word = self.word()
            if token is not None and token.kind == "range":
                self.index += 1
                if ":" in token.text:
                    selector, written = True, set()
                continue
            if word not in ("offset", "@"):
                return
            if not selector:
                problem = f"{word} modifier must be preceded by {_SELECTOR_MODIFIERS}"
                raise _Unexpected(GrammarError(self.offset(), problem))
            if word in written:
                name = "offset" if word == "offset" else "@ <timestamp>"
                problem = f"{name} may not be set multiple times"
                raise _Unexpected(GrammarError(self.offset(), problem))
            written.add(word)
            self.index += 1
            if word == "offset":
                self.offset_duration()
            else:
                self.timestamp()

    def offset_duration(self) -> None:
        if self.word() in ("+", "-"):
            self.index += 1
        token = self.peek()
        if token is None or token.kind not in ("number", "variable"):
            self.fail("in offset, expected duration")
        self.index += 1

    def timestamp(self) -> None:
        if self.word() in ("+", "-"):
            self.index += 1
        token = self.peek()
        if token is not None and token.kind in ("number", "variable"):
            self.index += 1
            return
        if self.word() in ("start", "end") and self.word(1) == "(":
            self.index += 2
            self.expect(")", 'in @, expected ")"')
            return
        self.fail("in @, expected timestamp")

    def primary(self) -> Recursive[bool]:
        """Read one operand and return True when it is a vector selector."""
        token = self.peek()
        word = self.word()
        if token is None:
            self.fail()
        if token.kind in ("number", "string") or word in ("inf", "nan"):
            self.index += 1
            return False
        if word == "(":
            self.index += 1
            yield self.expression()
            self.expect(")", 'in parentheses, expected ")"')
            return False
        if word == "{" or token.kind == "variable":
            self.selector()
            return True
        if token.kind != "identifier" or word in _KEYWORDS:
            self.fail()
        if word in AGGREGATION_OPERATORS and self.word(1) in ("(", "by", "without"):
            yield self.aggregation()
            return False
        if self.word(1) == "(":
            self.index += 2
            yield self.arguments()
            return False
        self.selector()
        return True

    def aggregation(self) -> Recursive[None]:
        self.index += 1
        grouped = self.word() in ("by", "without")
        if grouped:
            self.index += 1
            self.labels("in grouping opts")
        self.expect("(", 'in aggregation, expected "("')
        yield self.arguments()
        if self.word() in ("by", "without"):
            if grouped:
                self.fail()
            self.index += 1
            self.labels("in grouping opts")

    def arguments(self) -> Recursive[None]:
        """Read the arguments after an opening parenthesis, and the closing one."""
        if self.word() != ")":
            yield self.expression()
            while self.word() == ",":
                self.index += 1
                yield self.expression()
        self.expect(")", 'in function call, expected "," or ")"')

    def labels(self, context: str) -> None:
        """Read a parenthesised list of label names."""
        self.expect("(", f'{context}, expected "("')
        while self.word() != ")":
            token = self.peek()
            if token is None or token.kind not in ("identifier", "string"):
                self.fail(f"{context}, expected label")
            self.index += 1
            if self.word() == ",":
                self.index += 1
            elif self.word() != ")":
                self.fail(f'{context}, expected "," or ")"')
        self.index += 1

    def selector(self) -> None:
        if self.word() != "{":
            self.index += 1
        if self.word() != "{":
            return
        self.index += 1
        while self.word() != "}":
            self.matcher()
            if self.word() == ",":
                self.index += 1
            elif self.word() != "}":
                self.fail('in label matching, expected "," or "}"')
        self.index += 1

    def matcher(self) -> None:
        token = self.peek()
        if token is None or token.kind not in ("identifier", "string"):
            self.fail("in label matching, expected label")
        self.index += 1
        if token is not None and token.kind == "string" and self.word() in (",", "}"):
            # A quoted metric name, which Prometheus 3.0 added.
            return
        if self.word() not in _MATCH_OPERATORS:
            self.fail("in label matching, expected label matching operator")
        self.index += 1
        value = self.peek()
        if value is None or value.kind not in ("string", "variable"):
            self.fail("in label matching, expected string")
        self.index += 1


def first_unexpected(query: str) -> GrammarError | None:
    """Return the first token of `query` that PromQL's grammar cannot accept, if any."""
    try:
        _Recognizer(query).query()
    except _Unexpected as stopped:
        found: GrammarError = stopped.args[0]
        return found
    return None
