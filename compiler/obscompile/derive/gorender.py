"""Expand alert templates exactly as Prometheus 2.42 does, for the generated tests.

promtool compares expanded annotations as exact strings, so the generated tests need
the text that Prometheus' template functions produce for a given sample value. The
functions follow `template/template.go` of Prometheus 2.42, and the `text/template`
and `fmt` packages of Go 1.19, which built it (see `gofmt`):

- `humanize`: `%.4g` after scaling by 1000 with the prefixes k M G T P E Z Y or
  m u n p f a z y;
- `humanize1024`: `%.4g` after dividing by 1024 with the prefixes ki Mi Gi Ti Pi Ei Zi
  Yi, for a value above 1 or below -1;
- `humanizeDuration`: seconds as `1d 2h 3m 4s`, or `%.4g` seconds with m u n …
  below one second;
- `humanizePercentage`: `%.4g%` of the value times 100;
- `humanizeTimestamp`: Unix seconds as a UTC time to the millisecond;
- `toTime`: that time as a `*time.Time`, which prints as Go's `Time.String` does,
  and whose methods `Format`, `String`, `Unix`, `UnixMilli`, `UnixMicro`,
  `UnixNano`, `Year`, `Month`, `Day`, `Hour`, `Minute`, `Second`, `Nanosecond`,
  `YearDay`, `Weekday`, `UTC` and `IsZero` a template may call (see `gotime`);
- `toUpper`, `toLower`, `title` (Go's `strings.Title`), `match`, `reReplaceAll`,
  `stripPort`, and Go's `printf`, `print`, `urlquery` and `index`;
- `query`, whose samples the caller gives (see `template_queries`), and `first`,
  `label`, `value` and `sortByLabel`, which read them; `first` and `range` read a
  result of two or more samples only after `sortByLabel` sorts it by distinct values,
  because promtool gives them in no fixed order otherwise;
- Go's `eq`, `ne`, `lt`, `le`, `gt`, `ge`, which compare only operands of one type
  (a float64 such as `$value` with `100.0`, never with the int `100`), and `and`,
  `or`, `not` and `len`;
- `{{ $value }}`, which Go prints with `%v`: the shortest digits that read back as the
  same double, in exponent form when the decimal exponent is below -4 or at least 6.

`render` evaluates text, comments, `if`/`else if`/`else`, `with`, `range` over a map
(with `break` and `continue`) and actions made of pipelines, whose operands are
literals, `$labels`, `$value`, `$externalLabels`, `$externalURL`, `.` and its fields
(`.Value`, `.Labels.job`) and variables, scoped and set by `:=`, `=` and `range` as
in Go 1.19, where reading or setting a variable that no `:=` declared before it ran
fails. It evaluates `define`,
`block` and `template` as Go's `text/template` does: a template named twice is the
one with more than space, and a called template runs with its pipeline's value, or no
value, as `.` and `$`, and no other variable. The other functions raise
`UnsupportedTemplate`, which names the function or syntax. Where Go's execution
fails, as Prometheus' does, `render` raises its subclass `ExpansionError` with Go's
message. promtool runs a test without external labels or an external URL, so both
are empty.
"""

from __future__ import annotations

import functools
import re
import struct
from collections.abc import Callable, Sequence

import attrs

from obscompile.derive.gofmt import go_g, go_value, value_text
from obscompile.derive.gofuncs import (
    ARITY,
    FUNCTIONS,
    NO_VALUE,
    QUERY_FUNCTIONS,
    AlertData,
    CallError,
    Datum,
    ExpansionError,
    GoTime,
    NoValue,
    QueryResult,
    QuerySample,
    UnsupportedTemplate,
    go_type,
    map_text,
    time_method,
    truth,
)
from obscompile.diagnostics import quoted
from obscompile.gotemplate import (
    Kind,
    Token,
    go_quote,
    is_go_space,
    lex,
    string_value,
    template_error,
)

__all__ = [
    "go_g",
    "go_value",
    "render",
    "escape_text",
    "ExpansionError",
    "UnsupportedTemplate",
]


# A function that gives the samples of a PromQL query at the alert's evaluation.
QueryFunction = Callable[[str], list[QuerySample]]

# The prefix of the name that Prometheus gives an alert's own template.
_ALERT_TEMPLATE_PREFIX = "__alert_"
# Go's `maxExecDepth`, the maximum depth of template calls (text/template, Go 1.19).
_GO_MAX_EXEC_DEPTH = 100_000
# The maximum depth of template calls that `render` follows, where no call repeats
# one in progress.
_MAX_CALL_DEPTH = 50
# The maximum stack weight (see _Evaluator) around each call of a template that calls
# itself forever, for which Go reports its maximum depth. promtool 2.42 did so within
# 2 s for one if or with around each call. With two ifs, or one range, it ran for
# minutes, and with ten ifs it exhausted Go's 1 GB stack and ended.
_MAX_STACK_WEIGHT = 1


class _Break(Exception):
    """A `{{ break }}` leaves the innermost range."""


class _Continue(Exception):
    """A `{{ continue }}` starts the next iteration of the innermost range."""


class _Evaluator:
    """Execute the nodes of one template, with Go's stack of variables and its dot."""

    def __init__(
        self,
        labels: dict[str, str],
        value: float,
        templates: dict[str, _Nodes],
        query: QueryFunction | None,
    ) -> None:
        self.templates = templates
        self.query = query
        # The template calls in progress, outermost first: the name, the key of the
        # dot (None where it has none) and the caller's stack weight.
        self.calls: list[tuple[str, object, int]] = []
        # The weight of the control actions open in the current template, for an
        # estimate of Go's stack: 1 for each if or with, and 2 for each range.
        self.stack_weight = 0
        self.data = AlertData(labels, value)
        self.dot: Datum = self.data
        # Prometheus declares these variables before the template's own text.
        self.variables: list[tuple[str, Datum]] = [
            ("$", self.data),
            ("$labels", labels),
            ("$externalLabels", {}),
            ("$externalURL", ""),
            ("$value", value),
        ]

    def walk(self, nodes: tuple[_Node, ...], pieces: list[str]) -> None:
        for node in nodes:
            if isinstance(node, _Text):
                pieces.append(node.text)
            elif isinstance(node, _Action):
                result, declared = self.declared_pipeline(node.tokens, node.offset)
                if not declared:
                    pieces.append(self.output(result, node.offset))
            elif isinstance(node, _Jump):
                raise _Break() if node.keyword == "break" else _Continue()
            elif isinstance(node, _Call):
                self.call(node, pieces)
            elif node.keyword == "range":
                self.range_action(node, pieces)
            else:
                self.if_or_with(node, pieces)

    def if_or_with(self, node: _Control, pieces: list[str]) -> None:
        mark = len(self.variables)
        self.stack_weight += 1
        try:
            result, _ = self.declared_pipeline(node.tokens, node.offset)
            if not truth(result):
                self.walk(node.otherwise, pieces)
            elif node.keyword == "with":
                self.walk_at(result, node.body, pieces)
            else:
                self.walk(node.body, pieces)
        finally:
            self.stack_weight -= 1
            del self.variables[mark:]

    def call(self, node: _Call, pieces: list[str]) -> None:
        """Execute a named template, as Go's `walkTemplate` does.

        The template starts with the pipeline's value as `.` and `$`, and with no
        other variable. Variables that the pipeline declares stay in the caller.
        """
        body = self.templates.get(node.name)
        if body is None:
            raise ExpansionError(
                f"template {go_quote(node.name)} not defined", node.offset
            )
        dot: Datum = NO_VALUE
        if _words(node.tokens):
            dot, _ = self.declared_pipeline(node.tokens, node.offset)
        key = _dot_key(dot)
        self.check_recursion(node, key)
        saved = (self.variables, self.dot, self.stack_weight)
        self.calls.append((node.name, key, self.stack_weight))
        self.variables, self.dot, self.stack_weight = [("$", dot)], dot, 0
        try:
            self.walk(body, pieces)
        finally:
            self.calls.pop()
            self.variables, self.dot, self.stack_weight = saved

    def check_recursion(self, node: _Call, key: object) -> None:
        """Raise Go's error for a call that repeats forever, or give up on deep calls.

        A template runs the same way whenever it gets the same dot, because it reads
        no other variable. So a call that repeats a call in progress repeats forever,
        and Go stops it at its maximum depth. Go may run out of stack first where
        each call adds nested actions, so that case is not evaluated.
        """
        active = [call[:2] for call in self.calls]
        if key is not None and (node.name, key) in active:
            start = active.index((node.name, key))
            # The weight in each template of the cycle where it calls the next one,
            # and in the last where it calls the first again.
            weights = [call[2] for call in self.calls[start + 1 :]]
            weight = max([*weights, self.stack_weight])
            if weight > _MAX_STACK_WEIGHT:
                raise UnsupportedTemplate(
                    f"template {quoted(repr(node.name))} calls itself forever inside "
                    "nested actions, which may exhaust Go's stack before its maximum "
                    "template depth; this is not evaluated",
                    node.offset,
                )
            raise ExpansionError(
                f"exceeded maximum template depth ({_GO_MAX_EXEC_DEPTH})", node.offset
            )
        if len(self.calls) >= _MAX_CALL_DEPTH:
            raise UnsupportedTemplate(
                f"template calls nested more than {_MAX_CALL_DEPTH} deep are not "
                "evaluated",
                node.offset,
            )

    def walk_at(self, dot: Datum, nodes: tuple[_Node, ...], pieces: list[str]) -> None:
        """Walk `nodes` with `dot` as `.`, as `with` and `range` do."""
        saved = self.dot
        self.dot = dot
        try:
            self.walk(nodes, pieces)
        finally:
            self.dot = saved

    def range_action(self, node: _Control, pieces: list[str]) -> None:
        mark = len(self.variables)
        self.stack_weight += 2
        try:
            result, declared = self.declared_pipeline(node.tokens, node.offset)
            items = self.range_items(result, node.offset)
            if not items:
                self.walk(node.otherwise, pieces)
                return
            body = len(self.variables)
            for key, element in items:
                # As Go 1.19 does, set the top variable of the stack to the element
                # and the one below it to the key. After `:=` these are the range's
                # own variables. After `=` they are the variables declared last,
                # whichever those are, while `=` gave the assigned ones the map.
                if declared:
                    self.variables[-1] = (self.variables[-1][0], element)
                if len(declared) > 1:
                    self.variables[-2] = (self.variables[-2][0], key)
                try:
                    self.walk_at(element, node.body, pieces)
                except _Continue:
                    pass
                except _Break:
                    break
                finally:
                    del self.variables[body:]
        finally:
            self.stack_weight -= 2
            del self.variables[mark:]

    def range_items(self, result: Datum, offset: int) -> list[tuple[Datum, Datum]]:
        """Return the keys and elements that `range` visits, in Go's order.

        Go visits a map in the order of its keys, a slice by index from 0, and
        nothing of an invalid value.
        """
        if isinstance(result, NoValue):
            return []
        if isinstance(result, QueryResult):
            return list(enumerate(result.in_order("range")))
        if not isinstance(result, dict):
            printed = self.output(result, offset)
            raise ExpansionError(f"range can't iterate over {printed}", offset)
        return [(key, result[key]) for key in sorted(result)]

    def declared_pipeline(
        self, tokens: tuple[Token, ...], offset: int
    ) -> tuple[Datum, list[str]]:
        """Evaluate a pipeline and its declarations, and return its value and their names."""
        words = [token for token in tokens if token.kind is not Kind.SPACE]
        if not words:
            raise UnsupportedTemplate("an empty action is not evaluated", offset)
        names: list[str] = []
        operator = None
        if len(words) > 1 and words[0].kind is Kind.VARIABLE:
            if words[1].kind in (Kind.DECLARE, Kind.ASSIGN):
                names, operator = [words[0].value], words[1]
            elif (
                len(words) > 3
                and words[1].value == ","
                and words[3].kind in (Kind.DECLARE, Kind.ASSIGN)
            ):
                names, operator = [words[0].value, words[2].value], words[3]
        if operator is not None:
            tokens = tokens[tokens.index(operator) + 1 :]
        result = self.pipeline(_Cursor(tokens))
        for name in names:
            if operator is not None and operator.kind is Kind.ASSIGN:
                self.assign(name, result, operator.offset)
            else:
                self.variables.append((name, result))
        return result, names

    def assign(self, name: str, result: Datum, offset: int) -> None:
        """Set the innermost variable `name`, which Go's parser lets a template set
        even where no `:=` before it runs, such as in another `if` branch."""
        for index in range(len(self.variables) - 1, -1, -1):
            if self.variables[index][0] == name:
                self.variables[index] = (name, result)
                return
        raise ExpansionError(f"undefined variable: {name}", offset)

    def lookup(self, token: Token) -> Datum:
        for name, result in reversed(self.variables):
            if name == token.value:
                return result
        raise ExpansionError(f"undefined variable: {token.value}", token.offset)

    def output(self, result: Datum, offset: int) -> str:
        if isinstance(result, AlertData):
            return result.text()
        if isinstance(result, dict):
            return map_text(result)
        if isinstance(result, NoValue):
            return "<no value>"
        if isinstance(result, QuerySample):
            return result.text()
        if isinstance(result, QueryResult):
            raise UnsupportedTemplate(
                "printing a query result, which Go prints as the addresses of its "
                "samples, is not evaluated",
                offset,
            )
        return value_text(result)

    def pipeline(self, cursor: _Cursor) -> Datum:
        result: Datum | None = None
        while True:
            result = self.command(cursor, result)
            cursor.skip_space()
            if cursor.peek().kind is not Kind.PIPE:
                return result
            cursor.next()

    def command(self, cursor: _Cursor, piped: Datum | None) -> Datum:
        cursor.skip_space()
        first = cursor.peek()
        if first.kind is Kind.IDENTIFIER:
            cursor.next()
            if first.value in ("and", "or"):
                return self.logic(first, cursor, piped)
            return self.call_function(first, cursor, piped)
        receiver, fields = self.chain(cursor)
        if piped is None and not self.operand_follows(cursor):
            for field in fields:
                receiver = self.field(receiver, field)
            return receiver
        # Arguments go to the method that the last field names.
        for field in fields[:-1]:
            receiver = self.field(receiver, field)
        if not fields or not isinstance(receiver, GoTime):
            raise UnsupportedTemplate(
                f"{first.value} is not a function and takes no arguments", first.offset
            )
        return self.method(receiver, fields[-1], cursor, piped)

    def call_function(
        self, function: Token, cursor: _Cursor, piped: Datum | None
    ) -> Datum:
        """Call the function that `function` names, with the operands at `cursor`."""
        name = function.value
        body = FUNCTIONS.get(name) or QUERY_FUNCTIONS.get(name)
        if body is None and name != "query":
            raise UnsupportedTemplate(
                f"function {name} is not evaluated", function.offset
            )
        self.check_arity(function, cursor, piped)
        operands = []
        while self.operand_follows(cursor):
            operands.append(self.operand(cursor))
        if piped is not None:
            operands.append(piped)
        self.check_operands(function, operands)
        try:
            if body is None:
                return self.run_query(operands[0])
            return body(*operands)
        except CallError as exc:
            raise ExpansionError(
                f"error calling {name}: {exc}", function.offset
            ) from None
        except UnsupportedTemplate as exc:
            raise type(exc)(str(exc), function.offset) from None

    def check_operands(self, function: Token, operands: list[Datum]) -> None:
        """Raise UnsupportedTemplate for an operand that `function` is not evaluated on.

        `not` takes any operand, `len` a query result too, and the query functions
        check their own operands.
        """
        name = function.value
        if name in ("not", "query", *QUERY_FUNCTIONS):
            return
        for operand in operands:
            if isinstance(operand, QueryResult) and name == "len":
                continue
            if isinstance(operand, (AlertData, NoValue, QueryResult, QuerySample)):
                raise UnsupportedTemplate(
                    f"{name} of a {go_type(operand)} is not evaluated", function.offset
                )

    def run_query(self, text: Datum) -> QueryResult:
        """Return the result of the PromQL query `text` from the test's own series."""
        if not isinstance(text, str):
            raise UnsupportedTemplate(f"query of a {go_type(text)} is not evaluated")
        if self.query is None:
            raise UnsupportedTemplate("query is evaluated only for a generated test")
        return QueryResult(self.query(text))

    def check_arity(
        self, function: Token, cursor: _Cursor, piped: Datum | None
    ) -> None:
        """Raise Go's error for a wrong number of arguments, before evaluating any.

        Go counts the piped value, but leaves it out of the count that its message
        gives for a function with variadic arguments.
        """
        count = self.count_operands(cursor)
        fixed, variadic = ARITY[function.value]
        argument_count = count + (piped is not None)
        if variadic and argument_count < fixed:
            raise ExpansionError(
                f"wrong number of args for {function.value}: want at least {fixed} "
                f"got {count}",
                function.offset,
            )
        if not variadic and argument_count != fixed:
            raise ExpansionError(
                f"wrong number of args for {function.value}: want {fixed} "
                f"got {argument_count}",
                function.offset,
            )

    def count_operands(self, cursor: _Cursor) -> int:
        """Return the number of operands at `cursor`, without evaluating them."""
        start = cursor.position
        count = 0
        while self.operand_follows(cursor):
            self.skip_operand(cursor)
            count += 1
        cursor.position = start
        return count

    def logic(self, function: Token, cursor: _Cursor, piped: Datum | None) -> Datum:
        """Evaluate `and` or `or`, which stop at the first operand that decides."""
        stop_at = function.value == "or"
        result: Datum | None = None
        while self.operand_follows(cursor):
            result = self.operand(cursor)
            if truth(result) == stop_at:
                while self.operand_follows(cursor):
                    self.skip_operand(cursor)
                return result
        if piped is not None:
            return piped
        if result is None:
            raise ExpansionError(
                f"wrong number of args for {function.value}: want at least 1 got 0",
                function.offset,
            )
        return result

    def operand_follows(self, cursor: _Cursor) -> bool:
        cursor.skip_space()
        return cursor.peek().kind not in (Kind.PIPE, Kind.RIGHT_PAREN, Kind.EOF)

    def skip_operand(self, cursor: _Cursor) -> None:
        """Move past one operand without evaluating it."""
        token = cursor.next()
        depth = 1 if token.kind is Kind.LEFT_PAREN else 0
        while depth:
            token = cursor.next()
            if token.kind is Kind.EOF:
                raise UnsupportedTemplate("a parenthesis is not closed", token.offset)
            if token.kind is Kind.LEFT_PAREN:
                depth += 1
            elif token.kind is Kind.RIGHT_PAREN:
                depth -= 1
        while cursor.peek().kind is Kind.FIELD:
            cursor.next()

    def operand(self, cursor: _Cursor) -> Datum:
        value, fields = self.chain(cursor)
        for field in fields:
            value = self.field(value, field)
        return value

    def chain(self, cursor: _Cursor) -> tuple[Datum, list[Token]]:
        """Evaluate an operand's term, and return it with the fields that follow it.

        A term that is a field, such as `.Labels`, is a field of `.`.
        """
        token = cursor.next()
        value: Datum
        fields = []
        if token.kind is Kind.LEFT_PAREN:
            value = self.pipeline(cursor)
            closing = cursor.next()
            if closing.kind is not Kind.RIGHT_PAREN:
                raise UnsupportedTemplate("a parenthesis is not closed", token.offset)
        elif token.kind is Kind.FIELD:
            value = self.dot
            fields.append(token)
        elif token.kind is Kind.VARIABLE:
            value = self.lookup(token)
        elif token.kind in (Kind.STRING, Kind.RAW_STRING):
            value = string_value(token)
        elif token.kind is Kind.BOOL:
            value = token.value == "true"
        elif token.kind is Kind.NUMBER:
            value = _number_constant(token)
        elif token.keyword() == "dot":
            value = self.dot
        else:
            raise UnsupportedTemplate(
                f"the operand {quoted(repr(token.value))} is not evaluated",
                token.offset,
            )
        while cursor.peek().kind is Kind.FIELD:
            fields.append(cursor.next())
        return value, fields

    def method(
        self,
        receiver: GoTime,
        token: Token,
        cursor: _Cursor | None = None,
        piped: Datum | None = None,
    ) -> Datum:
        """Call the method of a time that the field `token` names.

        Its arguments are the operands at `cursor` and the piped value, whose number
        Go checks before it evaluates them.
        """
        name = token.value[1:]
        try:
            method, expected_count = time_method(receiver, name)
        except UnsupportedTemplate as exc:
            raise UnsupportedTemplate(str(exc), token.offset) from None
        count = self.count_operands(cursor) if cursor is not None else 0
        argument_count = count + (piped is not None)
        if argument_count != expected_count:
            raise ExpansionError(
                f"wrong number of args for {name}: want {expected_count} "
                f"got {argument_count}",
                token.offset,
            )
        arguments = []
        while cursor is not None and self.operand_follows(cursor):
            arguments.append(self.operand(cursor))
        if piped is not None:
            arguments.append(piped)
        for argument in arguments:
            if isinstance(argument, (AlertData, NoValue)):
                raise UnsupportedTemplate(
                    f"{name} of the {go_type(argument)} is not evaluated", token.offset
                )
        try:
            return method(receiver, *arguments)
        except UnsupportedTemplate as exc:
            raise UnsupportedTemplate(str(exc), token.offset) from None

    def field(self, value: Datum, token: Token) -> Datum:
        name = token.value[1:]
        if isinstance(value, GoTime):
            return self.method(value, token)
        if isinstance(value, QuerySample) and name in ("Labels", "Value"):
            return value.labels if name == "Labels" else value.value
        if isinstance(value, NoValue):
            # Go gives no value for a field of no value, unless the template's
            # missingkey option is "error", which Prometheus does not set.
            return value
        if isinstance(value, dict):
            # Prometheus expands templates with missing map keys as empty strings.
            return value.get(name, "")
        if isinstance(value, AlertData) and name in value.fields:
            return value.fields[name]
        raise UnsupportedTemplate(
            f"the field {token.value} of a {go_type(value)} is not evaluated",
            token.offset,
        )


def _number_constant(token: Token) -> int | float:
    """Return a number literal as Go's template gives it to a function: int or float64."""
    text = token.value.replace("_", "")
    try:
        if not text.lower().startswith("0x") and any(c in text for c in ".eE"):
            return float(text)
        if re.fullmatch(r"0[0-7]+", text):
            return int(text, 8)
        return int(text, 0)
    except ValueError:
        raise UnsupportedTemplate(
            f"the number {token.value} is not evaluated", token.offset
        ) from None


class _Cursor:
    """Read the tokens of one action in order."""

    def __init__(self, tokens: Sequence[Token]) -> None:
        self.tokens = tokens
        self.position = 0

    def peek(self) -> Token:
        if self.position < len(self.tokens):
            return self.tokens[self.position]
        end = self.tokens[-1].offset + len(self.tokens[-1].value) if self.tokens else 0
        return Token(Kind.EOF, "", end)

    def next(self) -> Token:
        token = self.peek()
        self.position += 1
        return token

    def skip_space(self) -> None:
        while self.peek().kind is Kind.SPACE:
            self.position += 1


@attrs.frozen
class _Text:
    text: str


@attrs.frozen
class _Action:
    """An action that prints its pipeline's value, unless it declares variables."""

    tokens: tuple[Token, ...]
    offset: int


@attrs.frozen
class _Jump:
    """A `break` or `continue` action."""

    keyword: str


@attrs.frozen
class _Call:
    """A `template` action, or the call of its template that a `block` makes.

    `tokens` is the pipeline, and contains no operand where the action has none.
    """

    name: str
    tokens: tuple[Token, ...]
    offset: int


@attrs.frozen
class _Control:
    """An `if`, `with` or `range` action with its pipeline and its branches.

    `{{ else if x }}` is an `if` alone in `otherwise`, as Go's parser reads it.
    """

    keyword: str
    tokens: tuple[Token, ...]
    offset: int
    body: tuple[_Node, ...]
    otherwise: tuple[_Node, ...]


_Node = _Text | _Action | _Jump | _Call | _Control
_Nodes = tuple[_Node, ...]
# The text between two delimiters, or the tokens of an action without its delimiters.
_Item = str | tuple[Token, ...]


def _items(template: str) -> list[_Item]:
    items: list[_Item] = []
    action: list[Token] | None = None
    for token in lex(template):
        if token.kind is Kind.ERROR:
            raise UnsupportedTemplate(f"invalid template: {token.value}", token.offset)
        if action is None:
            if token.kind is Kind.TEXT:
                items.append(token.value)
            elif token.kind is Kind.LEFT_DELIM:
                action = []
        elif token.kind is Kind.RIGHT_DELIM:
            items.append(tuple(action))
            action = None
        else:
            action.append(token)
    return items


def _words(tokens: tuple[Token, ...]) -> list[Token]:
    return [token for token in tokens if token.kind is not Kind.SPACE]


class _Parser:
    """Build the tree of a template's text and actions, as Go's `parse` package does.

    The template has passed `find_template_error`, so every control action has its
    `end` and every `break` and `continue` is inside a `range`.
    """

    def __init__(self, items: list[_Item]) -> None:
        self.items = items
        self.position = 0
        # The templates that define and block name, by name.
        self.templates: dict[str, _Nodes] = {}

    def nodes(self) -> tuple[tuple[_Node, ...], tuple[Token, ...] | None]:
        """Parse up to an `else` or `end`, and return the nodes and that action's tokens."""
        found: list[_Node] = []
        while self.position < len(self.items):
            item = self.items[self.position]
            self.position += 1
            if isinstance(item, str):
                found.append(_Text(item))
                continue
            words = _words(item)
            keyword = words[0].keyword() if words else None
            if keyword in ("else", "end"):
                return tuple(found), item
            if keyword in ("if", "with", "range"):
                found.append(self.control(item))
            elif keyword == "define":
                body, _ = self.nodes()
                self.add(_template_name(words[1]), body)
            elif keyword in ("block", "template"):
                found.append(self.call(item))
            elif keyword in ("break", "continue"):
                found.append(_Jump(keyword))
            elif keyword not in (None, "dot", "nil"):
                raise UnsupportedTemplate(
                    f"the {words[0].value} action is not evaluated", words[0].offset
                )
            else:
                offset = words[0].offset if words else 0
                found.append(_Action(item, offset))
        return tuple(found), None

    def call(self, item: tuple[Token, ...]) -> _Call:
        """Parse a `template` action, or a `block` action and the template it defines."""
        keyword, name = _words(item)[:2]
        if keyword.keyword() == "block":
            body, _ = self.nodes()
            self.add(_template_name(name), body)
        tokens = item[item.index(name) + 1 :]
        return _Call(_template_name(name), tokens, keyword.offset)

    def add(self, name: str, body: _Nodes) -> None:
        """Name a template as Go's parser does, which keeps the first one with text.

        A template of nothing but space is empty, and a later one replaces it.
        `find_template_error` has rejected two templates of one name with text.
        """
        known = self.templates.get(name)
        if known is None or _is_empty(known):
            self.templates[name] = body

    def control(self, item: tuple[Token, ...]) -> _Control:
        first = _words(item)[0]
        tokens = item[item.index(first) + 1 :]
        body, end = self.nodes()
        otherwise: tuple[_Node, ...] = ()
        if end is not None and _words(end)[0].keyword() == "else":
            rest = _words(end)[1:]
            if rest and rest[0].keyword() == "if":
                # One `end` closes the `if` and its `else if`.
                otherwise = (self.control(end[end.index(rest[0]) :]),)
            else:
                otherwise, _ = self.nodes()
        return _Control(first.value, tokens, first.offset, body, otherwise)


def _template_name(token: Token) -> str:
    """Return the name of a define, block or template action.

    Prometheus names an alert's own template `__alert_` and the alert's name, which
    `render` is not argument_count, so such names are not evaluated.
    """
    name = string_value(token)
    if name.startswith(_ALERT_TEMPLATE_PREFIX):
        raise UnsupportedTemplate(
            f"a template named {quoted(repr(name))} may be the alert's own template, "
            f"whose name is {_ALERT_TEMPLATE_PREFIX} and the alert's name; it is not "
            "evaluated",
            token.offset,
        )
    return name


def _is_empty(nodes: _Nodes) -> bool:
    """Return True for a template of nothing but space, as Go's `IsEmptyTree` does."""
    return all(isinstance(node, _Text) and is_go_space(node.text) for node in nodes)


def _dot_key(dot: Datum) -> object:
    """Return a key that two dots share only if Go's template treats them alike.

    The key tells types apart that Python's equality mixes up, such as 1, 1.0 and
    True, or 0.0 and -0.0. It is None where no key is known.
    """
    if isinstance(dot, float):
        return ("float", struct.pack("<d", dot))
    if isinstance(dot, dict):
        return ("map", tuple(sorted(dot.items())))
    if isinstance(dot, (AlertData, NoValue)):
        # The alert's data object is one object for the whole expansion.
        return (type(dot).__name__, id(dot))
    if isinstance(dot, GoTime):
        return (dot.type_name, dot.milliseconds)
    if isinstance(dot, (bool, int, str)):
        return (go_type(dot), dot)
    return None


@attrs.frozen
class _Tree:
    """A parsed template: its own nodes and the templates that it defines."""

    nodes: _Nodes
    templates: dict[str, _Nodes]


# The deepest template that `render` expands. Each action that an `end` closes, each
# `else if` and each pair of parentheses inside an action adds a level. The parser and
# the evaluator above take up to three Python frames for each level, so a much deeper
# template would pass Python's limit of 1000 frames.
MAX_RENDERED_DEPTH = 100
_BLOCK_KEYWORDS = frozenset({"if", "with", "range", "define", "block"})


def _depth(items: list[_Item]) -> int:
    """Return how many levels deep the actions of a template nest."""
    deepest = level = 0
    # The levels of each open control action: 1, and 1 for each `else if` of it,
    # which its one `end` closes too.
    controls: list[int] = []
    for item in items:
        if isinstance(item, str):
            continue
        words = _words(item)
        keyword = words[0].keyword() if words else None
        if keyword in _BLOCK_KEYWORDS:
            controls.append(1)
            level += 1
        elif keyword == "else" and len(words) > 1 and controls:
            controls[-1] += 1
            level += 1
        elif keyword == "end" and controls:
            level -= controls.pop()
        parens = 0
        for token in item:
            if token.kind is Kind.LEFT_PAREN:
                parens += 1
                deepest = max(deepest, level + parens)
            elif token.kind is Kind.RIGHT_PAREN:
                parens -= 1
        deepest = max(deepest, level)
    return deepest


@functools.lru_cache(maxsize=1024)
def _parse(template: str) -> _Tree:
    problem = template_error(template)
    if problem is not None:
        raise UnsupportedTemplate(f"invalid template: {problem}")
    items = _items(template)
    depth = _depth(items)
    if depth > MAX_RENDERED_DEPTH:
        raise UnsupportedTemplate(
            f"the template nests {depth} levels deep, and the test generator expands "
            f"templates at most {MAX_RENDERED_DEPTH} levels deep"
        )
    parser = _Parser(items)
    nodes, _ = parser.nodes()
    return _Tree(nodes, parser.templates)


def render(
    template: str,
    labels: dict[str, str],
    value: float,
    query: QueryFunction | None = None,
) -> str:
    """Expand a template for one alert; raise UnsupportedTemplate when it cannot.

    `labels` are the labels of the alert's sample, with `__name__` where the alert's
    query keeps it. `query` gives the samples of a PromQL query at the alert's
    evaluation, or raises UnsupportedTemplate; without it, `query` is not evaluated.
    ExpansionError, a subclass, means that Prometheus fails too.
    """
    pieces: list[str] = []
    try:
        tree = _parse(template)
        _Evaluator(labels, value, tree.templates, query).walk(tree.nodes, pieces)
    except (_Break, _Continue):
        raise UnsupportedTemplate("break or continue outside a range") from None
    except RecursionError:
        # Each nested action and template call takes a few Python frames.
        raise UnsupportedTemplate(
            "actions and template calls nested too deeply are not evaluated"
        ) from None
    return "".join(pieces)


def escape_text(text: str) -> str:
    """Make literal text safe inside a Go template: `{{` becomes `{{ "{{" }}`."""
    return text.replace("{{", '{{ "{{" }}')
