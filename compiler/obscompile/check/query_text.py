"""The positions of the parts of a PromQL query in its text.

promql-parser returns no positions, so diagnostics find the offending token in the
query text with a small regex tokenizer. The tokenizer records, in source order, each
selector (metric name or `{`, its matchers and its range), each function call and each
aggregation with its `by`/`without` labels. `promql.walk` visits sub-expressions in
source order, so the k-th selector node it yields is the k-th selector in the text.
The same holds for calls and aggregations.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

import attrs
import promql_parser as pp

from obscompile import promql

AGGREGATION_OPERATORS = frozenset(
    {
        "avg", "bottomk", "count", "count_values", "group", "limit_ratio", "limitk",
        "max", "min", "quantile", "stddev", "stdvar", "sum", "topk",
    }
)  # fmt: skip
_GROUPING = frozenset({"by", "without"})
_MATCHING = frozenset({"on", "ignoring", "group_left", "group_right"})
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"})

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<variable>\$\{[^}]*\}|\$[A-Za-z0-9_]+|\[\[[A-Za-z_][A-Za-z0-9_]*(?::[a-z]+)?\]\])
  | (?P<range>\[(?:\[\[[A-Za-z_][A-Za-z0-9_]*(?::[a-z]+)?\]\]|[^\]])*\])
  | (?P<number>(?:[0-9]*\.)?[0-9]+(?:[eE][-+]?[0-9]+)?[A-Za-z0-9_]*)
  | (?P<identifier>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<operator>=~|!~|!=|==|<=|>=|[-+*/%^<>=,(){}@])
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


@attrs.frozen
class Token:
    kind: str
    text: str
    offset: int


@attrs.frozen
class Matcher:
    """One label matcher: the offsets of the label and of the value's opening quote."""

    label: str
    label_offset: int
    value_offset: int


@attrs.frozen
class SelectorText:
    """A selector in the query text; `offset` is its metric name or its `{`."""

    offset: int
    name: str | None
    matchers: tuple[Matcher, ...] = ()
    range_text: str | None = None
    range_offset: int | None = None


@attrs.frozen
class CallText:
    name: str
    offset: int


@attrs.frozen
class AggregationText:
    """An aggregation in the query text and the offset of each `by`/`without` label."""

    operator: str
    offset: int
    labels: tuple[tuple[str, int], ...] = ()


@attrs.frozen
class QueryText:
    selectors: tuple[SelectorText, ...]
    calls: tuple[CallText, ...]
    aggregations: tuple[AggregationText, ...]


@functools.lru_cache(maxsize=4096)
def tokenize(query: str) -> tuple[Token, ...]:
    """Split `query` into tokens, dropping spaces and comments.

    Several checks read the tokens of each query, so they are kept for the build.
    """
    tokens = []
    for match in _TOKEN.finditer(query):
        kind = match.lastgroup or "other"
        if kind not in ("space", "comment"):
            tokens.append(Token(kind, match.group(), match.start()))
    return tuple(tokens)


class _Scanner:
    def __init__(self, tokens: tuple[Token, ...]) -> None:
        self.tokens = tokens
        self.index = 0
        self.selectors: list[SelectorText] = []
        self.calls: list[CallText] = []
        self.aggregations: list[dict] = []
        # For each open parenthesis, the aggregation it belongs to (or None).
        self.parens: list[int | None] = []
        self.last_closed: int | None = None

    def peek(self, ahead: int = 0) -> Token | None:
        index = self.index + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def peek_is(self, text: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token is not None and token.text == text

    def scan(self) -> QueryText:
        while self.index < len(self.tokens):
            self.step()
        return QueryText(
            tuple(self.selectors),
            tuple(self.calls),
            tuple(
                AggregationText(a["operator"], a["offset"], tuple(a["labels"]))
                for a in self.aggregations
            ),
        )

    def step(self) -> None:
        token = self.tokens[self.index]
        previous = self.tokens[self.index - 1] if self.index else None
        self.index += 1
        if token.kind == "identifier":
            self.identifier(token, previous)
        elif token.kind == "variable" and not (previous and previous.text == "@"):
            # A Grafana variable in place of a metric name still makes a selector.
            if not self.peek_is("("):
                self.selector(token, None)
        elif token.text == "{":
            self.index -= 1
            self.selector(token, None)
        elif token.text == "(":
            self.parens.append(None)
        elif token.text == ")":
            self.last_closed = self.parens.pop() if self.parens else None

    def identifier(self, token: Token, previous: Token | None) -> None:
        word = token.text
        if word in _GROUPING and self.peek_is("("):
            target = None
            if previous is not None and previous.text in AGGREGATION_OPERATORS:
                target = len(self.aggregations) - 1
            elif previous is not None and previous.text == ")":
                target = self.last_closed
            labels = self.label_list()
            if target is not None and self.aggregations:
                self.aggregations[target]["labels"].extend(labels)
            return
        if word in _MATCHING and self.peek_is("("):
            self.label_list()
            return
        following = self.peek()
        if word in AGGREGATION_OPERATORS and (
            self.peek_is("(") or (following is not None and following.text in _GROUPING)
        ):
            self.aggregations.append(
                {"operator": word, "offset": token.offset, "labels": []}
            )
            if self.peek_is("("):
                self.index += 1
                self.parens.append(len(self.aggregations) - 1)
            return
        if self.peek_is("("):
            if not (previous is not None and previous.text == "@"):
                self.calls.append(CallText(word, token.offset))
            return
        if word.lower() in _KEYWORDS or word in _GROUPING or word in _MATCHING:
            return
        self.selector(token, word)

    def label_list(self) -> list[tuple[str, int]]:
        """Consume `( label, ... )` and return each label with its offset."""
        labels = []
        self.index += 1
        while self.index < len(self.tokens) and not self.peek_is(")"):
            token = self.tokens[self.index]
            if token.kind in ("identifier", "string"):
                labels.append((token.text.strip("\"'`"), token.offset))
            self.index += 1
        self.index += 1
        return labels

    def selector(self, start: Token, name: str | None) -> None:
        matchers: list[Matcher] = []
        if self.peek_is("{"):
            self.index += 1
            matchers = self.matchers()
        range_text = range_offset = None
        following = self.peek()
        if (
            following is not None
            and following.kind == "range"
            and ":" not in following.text
        ):
            range_text, range_offset = following.text[1:-1].strip(), following.offset
            self.index += 1
        self.selectors.append(
            SelectorText(start.offset, name, tuple(matchers), range_text, range_offset)
        )

    def matchers(self) -> list[Matcher]:
        matchers = []
        while self.index < len(self.tokens) and not self.peek_is("}"):
            label, operator, value = self.peek(), self.peek(1), self.peek(2)
            if (
                label is not None
                and operator is not None
                and value is not None
                and label.kind in ("identifier", "string")
                and operator.text in ("=", "!=", "=~", "!~")
            ):
                matchers.append(
                    Matcher(label.text.strip("\"'`"), label.offset, value.offset)
                )
                self.index += 3
            else:
                self.index += 1
        self.index += 1
        return matchers


def query_text(query: str) -> QueryText:
    """Find the selectors, calls and aggregations in `query`, in source order."""
    return _Scanner(tokenize(query)).scan()


_ARITHMETIC_TOKENS = frozenset(
    {"+", "-", "*", "/", "%", "^", "==", "!=", "<=", ">=", "<", ">"}
)
_WORD_OPERATORS = frozenset({"and", "or", "unless", "atan2"})


def binary_operator_offsets(query: str) -> list[tuple[str, int]]:
    """Return each binary operator of `query` with its offset, in source order.

    Matchers inside `{...}` and the labels of `by`, `on` and the like are skipped,
    and so are unary signs: a `+` or `-` where an operand is expected, such as
    after `(`, `,`, another operator or `offset`.
    """
    tokens = tokenize(query)
    found = []
    expects_operand = True
    depth = 0
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        word = token.text.lower() if token.kind == "identifier" else None
        following = tokens[index] if index < len(tokens) else None
        if token.text == "{":
            depth += 1
        elif token.text == "}":
            depth = max(depth - 1, 0)
            expects_operand = False
        elif depth:
            continue
        elif word in _GROUPING or word in _MATCHING:
            if following is not None and following.text == "(":
                while index < len(tokens) and tokens[index].text != ")":
                    index += 1
                index += 1
            # After `on (...)` an operand follows, after `sum (...) by (...)` none.
            expects_operand = word in _MATCHING
        elif word in _WORD_OPERATORS:
            found.append((word, token.offset))
            expects_operand = True
        elif word in ("bool", "offset") or token.text in ("(", ",", "@"):
            expects_operand = True
        elif token.kind == "operator" and token.text in _ARITHMETIC_TOKENS:
            if not (expects_operand and token.text in ("+", "-")):
                found.append((token.text, token.offset))
            expects_operand = True
        else:
            expects_operand = False
    return found


def operator_offset(query: str, root: pp.Expr, operation: pp.BinaryExpr) -> int | None:
    """Return the offset of the operator of `operation`, a node of `query`'s tree.

    The operators of the text and the binary operations of the tree, in source
    order, must pair up, or the result is None.
    """
    operations = list(_operations_in_source_order(root))
    written = binary_operator_offsets(query)
    if [str(found.op) for found in operations] != [text for text, _ in written]:
        return None
    for found, (_, offset) in zip(operations, written, strict=True):
        if found is operation:
            return offset
    return None


def _operations_in_source_order(node: pp.Expr) -> Iterator[pp.BinaryExpr]:
    """Yield the binary operations of `node` in the order of their operators."""
    # Each entry is a part still to read, or in a tuple an operation whose left side
    # is read.
    pending: list[pp.Expr | tuple[pp.BinaryExpr]] = [node]
    while pending:
        part = pending.pop()
        if isinstance(part, tuple):
            yield part[0]
        elif isinstance(part, pp.BinaryExpr):
            pending += [part.rhs, (part,), part.lhs]
        else:
            pending += reversed(promql.children(part))
