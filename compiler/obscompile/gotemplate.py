"""A parse-only checker for Go's text/template language, as Prometheus alerts use it.

Prometheus parses every alert annotation and label as a Go template, and rejects a rule
file whose templates do not parse. This module follows the grammar and the error texts
of Go's `text/template/parse` package, so that a manifest gets the message that
`promtool check rules` (version 2.42) prints, without its `template: NAME:LINE: `
prefix. tests/test_gotemplate.py compares the two on thousands of templates.

It checks the structure of actions (`{{ ... }}`, trim markers, comments), pipelines,
operands, literals, declared variables, known function names, the balance of
`if`/`range`/`with`/`define`/`block` with `end`, and repeated template names. It
never evaluates a template. Where Go writes "in action started at NAME:LINE", the
message here has "line LINE", because the template's name is Prometheus's choice.
"""

from __future__ import annotations

import ast
import enum
import functools
import math
import re
import unicodedata
from collections.abc import Collection

import attrs

from obscompile import trampoline
from obscompile.trampoline import Recursive

# Functions every Go template has (text/template's builtins).
GO_FUNCTIONS = frozenset(
    {
        "and", "call", "eq", "ge", "gt", "html", "index", "js", "le", "len", "lt",
        "ne", "not", "or", "print", "printf", "println", "slice", "urlquery",
    }
)  # fmt: skip

# Functions Prometheus adds for alert templates, as promtool 2.42 accepts them (checked
# by running `promtool check rules`, version 2.42.0); later releases add more.
PROMETHEUS_FUNCTIONS = frozenset(
    {
        "args", "externalURL", "first", "graphLink", "humanize", "humanize1024",
        "humanizeDuration", "humanizePercentage", "humanizeTimestamp", "label",
        "match", "parseDuration", "pathPrefix", "query", "reReplaceAll", "safeHtml",
        "sortByLabel", "stripDomain", "stripPort", "strvalue", "tableLink", "title",
        "toLower", "toTime", "toUpper", "value",
    }
)  # fmt: skip

# Prometheus prefixes each alert template with declarations of these variables.
PROMETHEUS_VARIABLES = ("$labels", "$externalLabels", "$externalURL", "$value")

_SPACE = " \t\r\n"
# The characters of Go's `unicode.IsSpace`, which `bytes.TrimSpace` removes. Python's
# `str.isspace` also counts U+001C to U+001F, which Go does not.
_GO_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
    + "".join(chr(code) for code in range(0x2000, 0x200B))
)
_SPACE_CHARACTERS = frozenset(_SPACE)
_KEYWORDS = {
    ".": "dot",
    "block": "block",
    "break": "break",
    "continue": "continue",
    "define": "define",
    "else": "else",
    "end": "end",
    "if": "if",
    "nil": "nil",
    "range": "range",
    "template": "template",
    "with": "with",
}


class Kind(enum.Enum):
    """The kinds of token that Go's template lexer emits."""

    ERROR = "error"
    EOF = "EOF"
    TEXT = "text"
    LEFT_DELIM = "{{"
    RIGHT_DELIM = "}}"
    SPACE = "space"
    IDENTIFIER = "identifier"
    FIELD = "field"
    VARIABLE = "variable"
    STRING = "string"
    RAW_STRING = "raw string"
    CHAR_CONSTANT = "character constant"
    NUMBER = "number"
    COMPLEX = "complex"
    BOOL = "bool"
    PIPE = "|"
    LEFT_PAREN = "("
    RIGHT_PAREN = ")"
    CHAR = "char"
    DECLARE = ":="
    ASSIGN = "="
    KEYWORD = "keyword"


@attrs.frozen
class Token:
    kind: Kind
    value: str
    offset: int

    def keyword(self) -> str | None:
        return _KEYWORDS[self.value] if self.kind is Kind.KEYWORD else None

    def __str__(self) -> str:
        """Render the token as Go's parser quotes it in "unexpected ..." messages."""
        if self.kind is Kind.EOF:
            return "EOF"
        if self.kind is Kind.ERROR:
            return self.value
        if self.kind is Kind.KEYWORD:
            return f"<{self.value}>"
        if len(self.value.encode()) > 10:  # Go compares bytes, then cuts 10 runes.
            return go_quote(self.value[:10]) + "..."
        return go_quote(self.value)


@attrs.frozen
class TemplateError:
    """A parse error: its message and the character offset of the token at fault."""

    message: str
    offset: int


class _ParseError(Exception):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


def _unquoted(token: Token) -> str:
    """Return the text of a string literal token, for naming a template."""
    if token.kind is Kind.RAW_STRING:
        return token.value[1:-1]
    try:
        return str(ast.literal_eval(token.value))
    except (ValueError, SyntaxError):
        return token.value[1:-1]


# Printable ASCII other than `"` and `\`, which `%q` leaves as they are.
_PLAIN_ASCII = re.compile(r"[ !#-\[\]-~]*")


def go_quote(text: str) -> str:
    """Quote `text` as Go's `%q` verb does for the characters templates contain."""
    if _PLAIN_ASCII.fullmatch(text):
        return '"' + text + '"'
    escapes = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    parts = []
    for char in text:
        if char in escapes:
            parts.append(escapes[char])
        elif unicodedata.category(char).startswith("C"):
            parts.append(
                f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
            )
        else:
            parts.append(char)
    return '"' + "".join(parts) + '"'


def _rune(char: str) -> str:
    """Format a character as Go's `%#U` verb does: U+007D '}'."""
    code = f"U+{ord(char):04X}"
    return f"{code} '{char}'" if char.isprintable() else code


def _is_alphanumeric(char: str) -> bool:
    return char == "_" or char.isalpha() or unicodedata.category(char) == "Nd"


class _Lexer:
    """Split a template into tokens; a lexical error ends the list as an ERROR token."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.start = 0
        self.paren_depth = 0
        self.tokens: list[Token] = []

    def peek(self, ahead: int = 0) -> str:
        index = self.pos + ahead
        return self.text[index] if index < len(self.text) else ""

    def emit(self, kind: Kind) -> None:
        self.tokens.append(Token(kind, self.text[self.start : self.pos], self.start))
        self.start = self.pos

    def fail(self, message: str) -> None:
        self.tokens.append(Token(Kind.ERROR, message, self.start))

    def run(self) -> list[Token]:
        inside = False
        while True:
            step = self.inside_action() if inside else self.outside_action()
            if step is None:
                return self.tokens
            inside = step

    def has_left_trim(self, index: int) -> bool:
        """Return True if a trim marker, "-" and a space, starts at `index`."""
        marker = self.text[index : index + 2]
        return len(marker) == 2 and marker[0] == "-" and marker[1] in _SPACE

    def at_right_delim(self) -> tuple[bool, bool]:
        """Return (at a right delimiter, with a trim marker before it)."""
        text, pos = self.text, self.pos
        if text[pos : pos + 1] in _SPACE_CHARACTERS and text.startswith("-}}", pos + 1):
            return True, True
        return text.startswith("}}", pos), False

    def after_spaces(self, index: int) -> int:
        """Return the index of the first character from `index` on that is no space."""
        # The lexer reads the text by index, because a copy of the rest of the text at
        # each step would take time in proportion to the square of its length.
        text = self.text
        while index < len(text) and text[index] in _SPACE:
            index += 1
        return index

    def outside_action(self) -> bool | None:
        found = self.text.find("{{", self.pos)
        if found < 0:
            self.pos = len(self.text)
            if self.pos > self.start:
                self.emit(Kind.TEXT)
            self.emit(Kind.EOF)
            return None
        end = found
        if self.has_left_trim(found + 2):
            while end > self.start and self.text[end - 1] in _SPACE:
                end -= 1
        if end > self.start:
            self.pos = end
            self.emit(Kind.TEXT)
        self.pos = self.start = found
        return self.left_delim()

    def left_delim(self) -> bool | None:
        self.pos += 2
        after_marker = 2 if self.has_left_trim(self.pos) else 0
        if self.text.startswith("/*", self.pos + after_marker):
            self.pos += after_marker
            self.start = self.pos
            return self.comment()
        self.emit(Kind.LEFT_DELIM)
        self.pos += after_marker
        self.start = self.pos
        self.paren_depth = 0
        return True

    def comment(self) -> bool | None:
        close = self.text.find("*/", self.pos + 2)
        if close < 0:
            self.fail("unclosed comment")
            return None
        self.pos = close + 2
        delim, trim = self.at_right_delim()
        if not delim:
            self.fail("comment ends before closing delimiter")
            return None
        self.pos += 4 if trim else 2
        if trim:
            self.pos = self.after_spaces(self.pos)
        self.start = self.pos
        return False

    def right_delim(self, trim: bool) -> bool:
        if trim:
            self.pos += 2
            self.start = self.pos
        self.pos += 2
        self.emit(Kind.RIGHT_DELIM)
        if trim:
            self.pos = self.after_spaces(self.pos)
            self.start = self.pos
        return False

    def inside_action(self) -> bool | None:
        delim, trim = self.at_right_delim()
        if delim:
            if self.paren_depth == 0:
                return self.right_delim(trim)
            self.fail("unclosed left paren")
            return None
        char = self.peek()
        if not char:
            self.fail("unclosed action")
            return None
        if char in _SPACE:
            return self.space()
        self.pos += 1
        simple = {"=": Kind.ASSIGN, "|": Kind.PIPE}
        if char in simple:
            self.emit(simple[char])
        elif char == ":":
            if self.peek() != "=":
                self.fail("expected :=")
                return None
            self.pos += 1
            self.emit(Kind.DECLARE)
        elif char == '"':
            return self.quoted()
        elif char == "`":
            return self.raw_quoted()
        elif char == "$":
            return self.field_or_variable(Kind.VARIABLE)
        elif char == "'":
            return self.char_constant()
        elif char == "." and self.peek() and not "0" <= self.peek() <= "9":
            return self.field_or_variable(Kind.FIELD)
        elif char in "+-." or char.isdigit() and char.isascii():
            self.pos -= 1
            return self.number()
        elif _is_alphanumeric(char):
            return self.identifier()
        elif char == "(":
            self.paren_depth += 1
            self.emit(Kind.LEFT_PAREN)
        elif char == ")":
            self.emit(Kind.RIGHT_PAREN)
            self.paren_depth -= 1
            if self.paren_depth < 0:
                self.fail(f"unexpected right paren {_rune(char)}")
                return None
        elif char.isascii() and char.isprintable():
            self.emit(Kind.CHAR)
        else:
            self.fail(f"unrecognized character in action: {_rune(char)}")
            return None
        return True

    def space(self) -> bool:
        count = 0
        while self.peek() and self.peek() in _SPACE:
            self.pos += 1
            count += 1
        # The last space may start a trim-marked right delimiter, " -}}".
        if self.text.startswith("-}}", self.pos):
            self.pos -= 1
            if count == 1:
                return True
        self.emit(Kind.SPACE)
        return True

    def at_terminator(self) -> bool:
        """Return True if the next character may end an identifier, as "." in "$x.y"."""
        char = self.peek()
        if not char or char in _SPACE or char in ".,|:)(":
            return True
        return self.text.startswith("}}", self.pos)

    def field_or_variable(self, kind: Kind) -> bool | None:
        if self.at_terminator():
            self.emit(Kind.VARIABLE if kind is Kind.VARIABLE else Kind.KEYWORD)
            return True
        while self.peek() and _is_alphanumeric(self.peek()):
            self.pos += 1
        if not self.at_terminator():
            self.fail(f"bad character {_rune(self.peek())}")
            return None
        self.emit(kind)
        return True

    def identifier(self) -> bool | None:
        while self.peek() and _is_alphanumeric(self.peek()):
            self.pos += 1
        if not self.at_terminator():
            self.fail(f"bad character {_rune(self.peek())}")
            return None
        word = self.text[self.start : self.pos]
        if word in _KEYWORDS:
            self.emit(Kind.KEYWORD)
        elif word in ("true", "false"):
            self.emit(Kind.BOOL)
        else:
            self.emit(Kind.IDENTIFIER)
        return True

    def quoted(self) -> bool | None:
        while True:
            char = self.peek()
            self.pos += 1
            if char == "\\":
                char = self.peek()
                self.pos += 1
                if char and char != "\n":
                    continue
            if not char or char == "\n":
                self.fail("unterminated quoted string")
                return None
            if char == '"':
                self.emit(Kind.STRING)
                return True

    def raw_quoted(self) -> bool | None:
        close = self.text.find("`", self.pos)
        if close < 0:
            self.fail("unterminated raw quoted string")
            return None
        self.pos = close + 1
        self.emit(Kind.RAW_STRING)
        return True

    def char_constant(self) -> bool | None:
        while True:
            char = self.peek()
            self.pos += 1
            if char == "\\":
                char = self.peek()
                self.pos += 1
                if char and char != "\n":
                    continue
            if not char or char == "\n":
                self.fail("unterminated character constant")
                return None
            if char == "'":
                self.emit(Kind.CHAR_CONSTANT)
                return True

    def accept(self, valid: str) -> bool:
        if self.peek() and self.peek() in valid:
            self.pos += 1
            return True
        return False

    def accept_run(self, valid: str) -> None:
        while self.accept(valid):
            pass

    def scan_number(self) -> bool:
        self.accept("+-")
        digits = "0123456789_"
        if self.accept("0"):
            if self.accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self.accept("oO"):
                digits = "01234567_"
            elif self.accept("bB"):
                digits = "01_"
        self.accept_run(digits)
        if self.accept("."):
            self.accept_run(digits)
        if len(digits) == 11 and self.accept("eE"):
            self.accept("+-")
            self.accept_run("0123456789_")
        if len(digits) == 23 and self.accept("pP"):
            self.accept("+-")
            self.accept_run("0123456789_")
        self.accept("i")
        if self.peek() and _is_alphanumeric(self.peek()):
            self.pos += 1
            return False
        return True

    def number(self) -> bool | None:
        if not self.scan_number():
            self.fail(
                f"bad number syntax: {go_quote(self.text[self.start : self.pos])}"
            )
            return None
        if self.peek() in ("+", "-"):
            if not self.scan_number() or self.text[self.pos - 1] != "i":
                bad = self.text[self.start : self.pos]
                self.fail(f"bad number syntax: {go_quote(bad)}")
                return None
            self.emit(Kind.COMPLEX)
        else:
            self.emit(Kind.NUMBER)
        return True


_GO_ESCAPES = {"a", "b", "f", "n", "r", "t", "v", "\\"}
_HEX = "0123456789abcdefABCDEF"


def _unquote_error(token: Token) -> str | None:
    """Return Go's strconv error for an invalid string or character literal, if any."""
    text = token.value
    if token.kind is Kind.RAW_STRING:
        return None
    quote, body = text[0], text[1:-1]
    count = 0
    index = 0
    while index < len(body):
        char = body[index]
        count += 1
        if char != "\\":
            if char == quote and quote == "'":
                return "invalid syntax"
            index += 1
            continue
        escape = body[index + 1 : index + 2]
        if escape in _GO_ESCAPES or escape == quote:
            index += 2
        elif escape in ("x", "u", "U"):
            size = {"x": 2, "u": 4, "U": 8}[escape]
            digits = body[index + 2 : index + 2 + size]
            if len(digits) != size or any(d not in _HEX for d in digits):
                return "invalid syntax"
            code = int(digits, 16)
            if escape != "x" and (code > 0x10FFFF or 0xD800 <= code < 0xE000):
                return "invalid syntax"
            index += 2 + size
        elif escape in "01234567" and escape:
            digits = body[index + 1 : index + 4]
            octal = len(digits) == 3 and all(d in "01234567" for d in digits)
            if not octal or int(digits, 8) > 255:
                return "invalid syntax"
            index += 4
        else:
            return "invalid syntax"
    if quote == "'" and count == 0:
        return "invalid syntax"
    if quote == "'" and count > 1:
        return f"malformed character constant: {text}"
    return None


# strconv.ParseInt and ParseUint accept this range of integers.
_INTEGERS = range(-(2**63), 2**64)


def _parse_int(text: str) -> int | None:
    """Read `text` as Go's strconv does with base 0 (0x, 0o, 0b and a leading 0)."""
    if re.fullmatch(r"[+-]?0[0-7_]*", text):
        return int(text.replace("_", ""), 8)  # Python's int() rejects a leading 0.
    try:
        return int(text, 0)
    except ValueError:
        return None


def _is_float(text: str) -> bool:
    """Return True if strconv.ParseFloat reads `text` as a finite number."""
    try:
        if text.lstrip("+-").lower().startswith("0x"):
            # Go's hex floats need a p exponent; Python's fromhex does not.
            value = (
                float.fromhex(text.replace("_", "")) if "p" in text.lower() else None
            )
        else:
            value = float(text)
    except (ValueError, OverflowError):
        return False
    return value is not None and math.isfinite(value)


def _number_error(token: Token) -> str | None:
    """Return Go's error for a number literal that strconv rejects, if any."""
    if token.kind is Kind.CHAR_CONSTANT:
        return _unquote_error(token)
    if token.kind is Kind.COMPLEX:
        return None  # NOTE: complex literals such as 1+2i are not checked further.
    text = token.value
    if text.endswith("i") and _is_float(text[:-1]):
        return None
    value = _parse_int(text)
    if value is not None and value in _INTEGERS:
        return None
    if not _is_float(text):
        return f"illegal number syntax: {go_quote(text)}"
    if not any(char in text for char in ".eEpP"):
        # strconv reads "089" or a huge integer only as a float, and Go's parser
        # rejects a float written without a fraction or exponent.
        return f"integer overflow: {go_quote(text)}"
    return None


_OPERAND_START = {
    Kind.BOOL,
    Kind.CHAR_CONSTANT,
    Kind.COMPLEX,
    Kind.FIELD,
    Kind.IDENTIFIER,
    Kind.NUMBER,
    Kind.RAW_STRING,
    Kind.STRING,
    Kind.VARIABLE,
    Kind.LEFT_PAREN,
}
_LITERALS = {"bool", "dot", "nil", "number", "string"}


class _Parser:
    """Follow Go's template grammar; raise _ParseError at the first error."""

    def __init__(
        self,
        source: str,
        functions: Collection[str],
        variables: tuple[str, ...],
    ) -> None:
        self.source = source
        self.tokens = _Lexer(source).run()
        self.index = 0
        self.functions = functions
        self.variables = ["$", *variables]
        self.range_depth = 0
        # The left delimiter of the action being parsed, or None between actions.
        # Its line is counted only for a message, because counting it for every
        # action would take time in proportion to the square of the template's length.
        self.action_start: Token | None = None
        # Named templates (define and block), and whether each has more than spaces.
        self.templates: dict[str, bool] = {}

    # Token stream.

    def next(self) -> Token:
        token = self.tokens[min(self.index, len(self.tokens) - 1)]
        self.index += 1
        return token

    def backup(self) -> None:
        self.index -= 1

    def peek(self) -> Token:
        return self.tokens[min(self.index, len(self.tokens) - 1)]

    def next_non_space(self) -> Token:
        token = self.next()
        while token.kind is Kind.SPACE:
            token = self.next()
        return token

    def peek_non_space(self) -> Token:
        token = self.next_non_space()
        self.backup()
        return token

    def fail(self, message: str, token: Token | None = None) -> _ParseError:
        where = token or self.tokens[max(min(self.index, len(self.tokens)) - 1, 0)]
        return _ParseError(message, where.offset)

    def line_of(self, token: Token) -> int:
        return 1 + self.source.count("\n", 0, token.offset)

    def unexpected(self, token: Token, context: str) -> _ParseError:
        if token.kind is Kind.ERROR:
            extra = ""
            start = self.action_start
            if start is not None and self.line_of(start) != self.line_of(token):
                # Go names the action's line, and avoids saying "action in action".
                extra = f" in action started at line {self.line_of(start)}"
                if token.value.endswith(" action"):
                    extra = extra.removeprefix(" in action")
            return self.fail(token.value + extra, token)
        return self.fail(f"unexpected {token} in {context}", token)

    def expect(self, kind: Kind, context: str, keyword: str | None = None) -> Token:
        token = self.next_non_space()
        if token.kind is not kind or (keyword and token.keyword() != keyword):
            raise self.unexpected(token, context)
        return token

    # Grammar.

    # The parts of the grammar that nest are generators that `trampoline.run` runs,
    # and each yields the parts that it contains, so that the depth of a template has
    # no Python limit. promtool 2.42 accepts 100,000 nested parentheses and 50,000
    # nested `if` actions.

    def parse(self) -> Recursive[None]:
        while self.peek().kind is not Kind.EOF:
            if self.peek().kind is Kind.LEFT_DELIM:
                start = self.index
                self.next()
                if self.next_non_space().keyword() == "define":
                    yield self.definition()
                    continue
                self.index = start
            node = yield self.text_or_action()
            if node in ("end", "else"):
                raise self.fail(f"unexpected {{{{{node}}}}}")

    def nested(self, name: Token, context: str) -> Recursive[None]:
        """Parse the body of a define or block, where only the variable `$` exists."""
        saved_variables, saved_depth = self.variables, self.range_depth
        self.variables, self.range_depth = ["$"], 0
        try:
            end, filled = yield self.item_list()
        finally:
            self.variables, self.range_depth = saved_variables, saved_depth
        if end != "end":
            raise self.fail(f"unexpected {{{{{end}}}}} in {context}")
        self.add(name, filled)

    def add(self, name: Token, filled: bool) -> None:
        """Record a named template; Go rejects a second one unless either is empty."""
        key = _unquoted(name)
        if self.templates.get(key) and filled:
            message = f"template: multiple definition of template {go_quote(key)}"
            raise self.fail(message, name)
        if not self.templates.get(key):
            self.templates[key] = filled

    def definition(self) -> Recursive[None]:
        context = "define clause"
        name = self.next_non_space()
        if name.kind not in (Kind.STRING, Kind.RAW_STRING):
            raise self.unexpected(name, context)
        self.check_literal(name)
        self.expect(Kind.RIGHT_DELIM, context)
        yield self.nested(name, context)

    def item_list(self) -> Recursive[tuple[str, bool]]:
        """Parse nodes up to an {{end}} or {{else}}.

        Return which one ended the list, and whether the list contains more than spaces.
        """
        filled = False
        while self.peek_non_space().kind is not Kind.EOF:
            node = yield self.text_or_action()
            if node in ("end", "else"):
                return node, filled
            filled = filled or node != "space"
        raise self.fail("unexpected EOF")

    def text_or_action(self) -> Recursive[str]:
        token = self.next_non_space()
        if token.kind is Kind.TEXT:
            return "space" if is_go_space(token.value) else "text"
        if token.kind is Kind.LEFT_DELIM:
            self.action_start = token
            try:
                return (yield self.action())
            finally:
                self.action_start = None
        raise self.unexpected(token, "input")

    def action(self) -> Recursive[str]:
        token = self.next_non_space()
        keyword = token.keyword()
        if keyword in ("break", "continue"):
            after = self.next_non_space()
            if after.kind is not Kind.RIGHT_DELIM:
                raise self.unexpected(after, f"{{{{{keyword}}}}}")
            if self.range_depth == 0:
                raise self.fail(f"{{{{{keyword}}}}} outside {{{{range}}}}", token)
            return keyword
        if keyword == "else":
            if self.peek_non_space().keyword() == "if":
                return "else"
            self.expect(Kind.RIGHT_DELIM, "else")
            return "else"
        if keyword == "end":
            self.expect(Kind.RIGHT_DELIM, "end")
            return "end"
        if keyword in ("if", "range", "with"):
            yield self.control(keyword)
            return keyword
        if keyword == "block":
            yield self.block()
            return keyword
        if keyword == "template":
            yield self.template()
            return keyword
        self.backup()
        yield self.pipeline("command", Kind.RIGHT_DELIM)
        return "action"

    def control(self, context: str) -> Recursive[None]:
        saved = len(self.variables)
        yield self.pipeline(context, Kind.RIGHT_DELIM)
        if context == "range":
            self.range_depth += 1
        end, _ = yield self.item_list()
        if context == "range":
            self.range_depth -= 1
        if end == "else":
            if context == "if" and self.peek().keyword() == "if":
                # {{else if x}} reads as {{else}}{{if x}}, and one {{end}} ends both.
                self.next()
                yield self.control("if")
            else:
                end, _ = yield self.item_list()
                if end != "end":
                    raise self.fail(f"expected end; found {{{{{end}}}}}")
        del self.variables[saved:]

    def template_name(self, context: str) -> Token:
        token = self.next_non_space()
        if token.kind not in (Kind.STRING, Kind.RAW_STRING):
            raise self.unexpected(token, context)
        self.check_literal(token)
        return token

    def block(self) -> Recursive[None]:
        context = "block clause"
        name = self.template_name(context)
        yield self.pipeline(context, Kind.RIGHT_DELIM)
        yield self.nested(name, context)

    def template(self) -> Recursive[None]:
        context = "template clause"
        self.template_name(context)
        if self.next_non_space().kind is not Kind.RIGHT_DELIM:
            self.backup()
            yield self.pipeline(context, Kind.RIGHT_DELIM)

    def declarations(self, context: str) -> None:
        """Consume a leading `$x :=`, `$x =` or, in a range, `$i, $x :=`."""
        declared = 0
        while self.peek_non_space().kind is Kind.VARIABLE:
            start = self.index
            variable = self.next_non_space()
            after = self.peek_non_space()
            if after.kind in (Kind.DECLARE, Kind.ASSIGN):
                self.next_non_space()
                self.variables.append(variable.value)
                return
            if after.kind is Kind.CHAR and after.value == ",":
                self.next_non_space()
                self.variables.append(variable.value)
                declared += 1
                if context == "range" and declared < 2:
                    if self.peek_non_space().kind in (
                        Kind.VARIABLE,
                        Kind.RIGHT_DELIM,
                        Kind.RIGHT_PAREN,
                    ):
                        continue
                    raise self.fail("range can only initialize variables")
                raise self.fail(f"too many declarations in {context}")
            self.index = start
            return

    def pipeline(self, context: str, end: Kind) -> Recursive[None]:
        self.declarations(context)
        # The kind of each command's first operand, and the token that starts it.
        commands: list[tuple[str, Token]] = []
        while True:
            token = self.next_non_space()
            if token.kind is end:
                break
            if token.kind in _OPERAND_START or token.keyword() in ("dot", "nil"):
                self.backup()
                commands.append(((yield self.command()), token))
                continue
            raise self.unexpected(token, context)
        if not commands:
            raise self.fail(f"missing value for {context}", token)
        for stage, (first, start) in enumerate(commands[1:], start=2):
            if first in _LITERALS:
                message = f"non executable command in pipeline stage {stage}"
                raise self.fail(message, start)

    def command(self) -> Recursive[str]:
        """Parse space-separated operands; return the kind of the first one."""
        kinds: list[str] = []
        while True:
            self.peek_non_space()
            kind = yield self.operand()
            if kind is not None:
                kinds.append(kind)
            token = self.next()
            if token.kind is Kind.SPACE:
                continue
            if token.kind in (Kind.RIGHT_DELIM, Kind.RIGHT_PAREN):
                self.backup()
            elif token.kind is not Kind.PIPE:
                raise self.unexpected(token, "operand")
            break
        if not kinds:
            raise self.fail("empty command")
        return kinds[0]

    def operand(self) -> Recursive[str | None]:
        """Parse a term and its `.Field` chain; return the operand's kind, or None."""
        term = yield self.term()
        if term is None:
            return None
        kind, token = term
        if self.peek().kind is Kind.FIELD:
            while self.peek().kind is Kind.FIELD:
                self.next()
            if kind in _LITERALS:
                message = f"unexpected . after term {go_quote(token.value)}"
                raise self.fail(message, token)
            kind = kind if kind in ("field", "variable") else "chain"
        return kind

    def term(self) -> Recursive[tuple[str, Token] | None]:
        """Parse one term; return its kind and token, or None if no term starts here."""
        token = self.next_non_space()
        keyword = token.keyword()
        if token.kind is Kind.IDENTIFIER:
            if token.value not in self.functions:
                raise self.fail(f"function {go_quote(token.value)} not defined", token)
            return "identifier", token

        if keyword in ("dot", "nil"):
            return keyword, token
        if token.kind is Kind.VARIABLE:
            if token.value not in self.variables:
                raise self.fail(f"undefined variable {go_quote(token.value)}", token)
            return "variable", token
        if token.kind is Kind.FIELD:
            return "field", token
        if token.kind is Kind.BOOL:
            return "bool", token

        if token.kind in (Kind.CHAR_CONSTANT, Kind.COMPLEX, Kind.NUMBER):
            problem = _number_error(token)
            if problem:
                raise self.fail(problem, token)
            return "number", token

        if token.kind is Kind.LEFT_PAREN:
            yield self.pipeline("parenthesized pipeline", Kind.RIGHT_PAREN)
            return "pipe", token
        if token.kind in (Kind.STRING, Kind.RAW_STRING):
            self.check_literal(token)
            return "string", token

        self.backup()
        return None

    def check_literal(self, token: Token) -> None:
        problem = _unquote_error(token)
        if problem:
            raise self.fail(problem, token)


def is_go_space(text: str) -> bool:
    """Return True if Go's `bytes.TrimSpace` leaves nothing of `text`.

    Go's parser counts a named template whose text is all such space as empty.
    """
    return all(char in _GO_SPACE for char in text)


def lex(text: str) -> list[Token]:
    """Split a template into Go's tokens, with comments dropped and trim markers applied.

    A lexical error ends the list with an ERROR token.
    """
    return _Lexer(text).run()


def string_value(token: Token) -> str:
    """Return the text of a string literal token."""
    return _unquoted(token)


def find_template_error(
    text: str,
    functions: Collection[str] = GO_FUNCTIONS | PROMETHEUS_FUNCTIONS,
    variables: tuple[str, ...] = PROMETHEUS_VARIABLES,
) -> TemplateError | None:
    """Parse `text` as a Go template; return its first error and offset, or None."""
    parser = _Parser(text, functions, variables)
    try:
        trampoline.run(parser.parse())
    except _ParseError as exc:
        return TemplateError(exc.message, min(exc.offset, len(text)))
    return None


def template_error(text: str) -> str | None:
    """Return why `text` is not a valid Prometheus alert template, or None if it is."""
    start = text.find("{{")
    if start < 0:
        # Go's lexer reads everything before the first left delimiter as text.
        return None
    # The text before the first action counts only through its lines, which the
    # messages name, so alerts that differ there share one parse.
    return _action_error("\n" * text.count("\n", 0, start) + text[start:])


@functools.lru_cache(maxsize=4096)
def _action_error(text: str) -> str | None:
    found = find_template_error(text)
    return found.message if found else None


# The fields of the data that Prometheus executes an alert template on, as
# template.AlertTemplateData of Prometheus 2.42 sets them. `$labels` is `.Labels`
# and `$value` is `.Value`.
PROMETHEUS_FIELDS = ("Labels", "ExternalLabels", "ExternalURL", "Value")
# The actions after which `.` is no longer the alert's data, until their `end`.
_DOT_CHANGING = frozenset({"range", "with", "define", "block"})


@attrs.frozen
class Reference:
    """A label or a data field that an alert template reads, and where.

    `kind` is "label" for `$labels.x`, `.Labels.x` and `index $labels "x"`, whose
    `name` is x, and "field" for any other field of the alert's data, `.x`.
    `offset` is where the name starts in the template.
    """

    kind: str
    name: str
    offset: int


def template_references(text: str) -> list[Reference]:
    """Return the labels and data fields that the actions of a valid template read.

    A field read where `range`, `with`, `define` or `block` has changed `.` is not
    the alert's data, so it is left out.
    """
    tokens = [token for token in _Lexer(text).run() if token.kind is not Kind.SPACE]
    found: list[Reference] = []
    # One entry per open control action: True where it changes `.`.
    controls: list[bool] = []
    # How many of them change `.`, counted as they open and close, because a scan
    # of the list at each token would take time in proportion to the square of the
    # depth.
    changing = 0
    for index, token in enumerate(tokens):
        previous = tokens[index - 1] if index else None
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        word = token.keyword()
        if word is not None and previous is not None:
            changing += _track_control(controls, word, previous)
            continue
        at_data = changing == 0
        if token.kind is Kind.IDENTIFIER and token.value == "index":
            found.extend(_indexed_label(tokens[index + 1 : index + 3], at_data))
        elif token.kind is Kind.VARIABLE and token.value == "$labels":
            found.extend(_label_after(token, following))
        elif token.kind is Kind.FIELD and at_data and not _continues(previous, token):
            if token.value == ".Labels":
                found.extend(_label_after(token, following))
            elif token.value[1:] not in PROMETHEUS_FIELDS:
                found.append(Reference("field", token.value[1:], token.offset + 1))
    return found


def _track_control(controls: list[bool], word: str, previous: Token) -> int:
    """Open or close a control action for its keyword `word`.

    Returns how much the number of open actions that change `.` changed.
    """
    if word == "end" and controls:
        return -1 if controls.pop() else 0
    if word in ("if", *_DOT_CHANGING) and previous.kind is Kind.LEFT_DELIM:
        controls.append(word in _DOT_CHANGING)
        return 1 if controls[-1] else 0
    if word == "with" and previous.keyword() == "else" and controls:
        # `{{ else with x }}` changes `.` until the `end` of the `if` or `with`.
        opened = not controls[-1]
        controls[-1] = True
        return 1 if opened else 0
    return 0


def _continues(previous: Token | None, field: Token) -> bool:
    """Return True where `field` reads a field of the operand just before it."""
    return (
        previous is not None
        and previous.kind in (Kind.FIELD, Kind.VARIABLE, Kind.RIGHT_PAREN)
        and previous.offset + len(previous.value) == field.offset
    )


def _indexed_label(arguments: list[Token], at_data: bool) -> list[Reference]:
    """Return the label that `index $labels "x"` or `index .Labels "x"` reads."""
    if len(arguments) != 2:
        return []
    labels, name = arguments
    if not (
        (labels.kind is Kind.VARIABLE and labels.value == "$labels")
        or (labels.kind is Kind.FIELD and labels.value == ".Labels" and at_data)
    ):
        return []
    if name.kind not in (Kind.STRING, Kind.RAW_STRING):
        return []
    return [Reference("label", _unquoted(name), name.offset + 1)]


def _label_after(labels: Token, following: Token | None) -> list[Reference]:
    """Return the label that `$labels.x` or `.Labels.x` reads, if `following` is x."""
    if following is None or following.kind is not Kind.FIELD:
        return []
    if following.offset != labels.offset + len(labels.value):
        return []
    return [Reference("label", following.value[1:], following.offset + 1)]
