"""Expand alert templates exactly as Prometheus 2.42 does, for the generated tests.

promtool compares expanded annotations as exact strings, so the generated tests need
the text that Prometheus' template functions produce for a given sample value. The
functions follow `template/template.go` of Prometheus 2.42, and Go's `text/template`
and `fmt` (see `gofmt`):

- `humanize`: `%.4g` after scaling by 1000 with the prefixes k M G T P E Z Y or
  m u n p f a z y;
- `humanize1024`: `%.4g` after dividing by 1024 with the prefixes ki Mi Gi Ti Pi Ei Zi
  Yi, for a value above 1 or below -1;
- `humanizeDuration`: seconds as `1d 2h 3m 4s`, or `%.4g` seconds with m u n …
  below one second;
- `humanizePercentage`: `%.4g%` of the value times 100;
- `toUpper`, `toLower`, `title` (Go's `strings.Title`), `match`, `reReplaceAll`,
  `stripPort`, and Go's `printf`, `print`, `urlquery` and `index`;
- `{{ $value }}`, which Go prints with `%v`: the shortest digits that read back as the
  same double, in exponent form when the decimal exponent is below -4 or at least 6.

`render` evaluates text, comments and actions made of pipelines, whose operands are
literals, `$labels`, `$value`, `$externalLabels`, `$externalURL`, the data object's
fields (`.Value`, `.Labels.job`) and variables that an earlier action declares with
`:=` or sets with `=`. The control actions (`if`, `range`, `with`, `template`, …) and
the other functions raise `UnsupportedTemplate`, which names the function or syntax.
promtool runs a test without external labels or an external URL, so both are empty.
"""

from __future__ import annotations

import math
import re
import urllib.parse
from collections.abc import Callable

from obscompile import goregexp
from obscompile.derive.evaluate import expand_replacement
from obscompile.derive.gofmt import (
    GoValue,
    UnsupportedFormat,
    go_g,
    go_value,
    sprint,
    sprintf,
    type_name,
    value_text,
)
from obscompile.gotemplate import Kind, Token, lex, string_value

__all__ = ["go_g", "go_value", "render", "escape_text", "UnsupportedTemplate"]

_SMALL_PREFIXES = ("m", "u", "n", "p", "f", "a", "z", "y")
_LARGE_PREFIXES = ("k", "M", "G", "T", "P", "E", "Z", "Y")
_BINARY_PREFIXES = ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi")


class UnsupportedTemplate(ValueError):
    """The template uses Go template syntax that `render` does not evaluate.

    `offset` is the character of the template where the unevaluated part starts.
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


def humanize(value: float) -> str:
    if value == 0 or math.isnan(value) or math.isinf(value):
        return go_g(value, 4)
    prefix = ""
    if abs(value) >= 1:
        for candidate in _LARGE_PREFIXES:
            if abs(value) < 1000:
                break
            prefix = candidate
            value /= 1000
        return go_g(value, 4) + prefix
    for candidate in _SMALL_PREFIXES:
        if abs(value) >= 1:
            break
        prefix = candidate
        value *= 1000
    return go_g(value, 4) + prefix


def humanize1024(value: float) -> str:
    if abs(value) <= 1 or math.isnan(value) or math.isinf(value):
        return go_g(value, 4)
    prefix = ""
    for candidate in _BINARY_PREFIXES:
        if abs(value) < 1024:
            break
        prefix = candidate
        value /= 1024
    return go_g(value, 4) + prefix


def _go_int64(value: float) -> int:
    # Go on amd64 converts a float beyond the int64 range to the minimum int64.
    return int(value) if abs(value) < 2**63 else -(2**63)


def _go_div(a: int, b: int) -> int:
    """Divide like Go, rounding toward zero."""
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b >= 0) else -quotient


def _go_mod(a: int, b: int) -> int:
    return a - _go_div(a, b) * b


def humanize_duration(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return go_g(value, 4)
    if value == 0:
        return go_g(value, 4) + "s"
    if abs(value) >= 1:
        sign = "-" if value < 0 else ""
        value = abs(value)
        duration = _go_int64(value)
        seconds = _go_mod(duration, 60)
        minutes = _go_mod(_go_div(duration, 60), 60)
        hours = _go_mod(_go_div(duration, 3600), 24)
        days = _go_div(duration, 86400)
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{go_g(value, 4)}s"
    prefix = ""
    for candidate in _SMALL_PREFIXES:
        if abs(value) >= 1:
            break
        prefix = candidate
        value *= 1000
    return f"{go_g(value, 4)}{prefix}s"


def humanize_percentage(value: float) -> str:
    return go_g(value * 100, 4) + "%"


# Template values: gofmt's scalars, and maps of labels (Go's map[string]string).
Value = GoValue | dict[str, str]


class _AlertData:
    """The data object of an alert template, which `.` names in Prometheus 2.42."""

    def __init__(self, labels: dict[str, str], value: float) -> None:
        self.fields: dict[str, Value] = {
            "Labels": labels,
            "ExternalLabels": {},
            "ExternalURL": "",
            "Value": value,
        }


def _number(value: Value, function: str) -> float:
    """Convert an operand to float64 as Prometheus' `convertToFloat` does."""
    if isinstance(value, (bool, dict)):
        raise UnsupportedTemplate(f"{function} of a {_type(value)} is not evaluated")
    if isinstance(value, str):
        # strconv.ParseFloat without hexadecimal floats or underscores, which Python's
        # float() reads otherwise.
        if not re.fullmatch(
            r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)",
            value,
            re.IGNORECASE,
        ):
            raise UnsupportedTemplate(f"{function} of {value!r} is not evaluated")
        return float(value)
    return float(value)


def _string(value: Value, function: str) -> str:
    if not isinstance(value, str):
        raise UnsupportedTemplate(f"{function} of a {_type(value)} is not evaluated")
    return value


def _type(value: Value | _AlertData) -> str:
    if isinstance(value, dict):
        return "map[string]string"
    if isinstance(value, _AlertData):
        return "data object"
    return type_name(value)


def _simple_case(text: str, change: Callable[[str], str], function: str) -> str:
    """Map each character to one character, as Go's `unicode.To*` tables do.

    Python's full case mapping turns some characters into two (ß into SS), which Go
    leaves alone. Such text is not evaluated.
    """
    pieces = []
    for char in text:
        changed = change(char)
        if len(changed) != 1:
            raise UnsupportedTemplate(f"{function} of {char!r} is not evaluated")
        pieces.append(changed)
    return "".join(pieces)


def _is_separator(char: str) -> bool:
    """Return True where Go's `strings.Title` starts a new word after `char`."""
    if char <= "\x7f":
        return not (char.isascii() and (char.isalnum() or char == "_"))
    if char.isalpha() or char.isdecimal():
        return False
    return char.isspace()


def title(text: str) -> str:
    """Upper-case the first letter of each word, as Go's `strings.Title` does."""
    pieces = []
    previous = " "
    for char in text:
        pieces.append(char.title() if _is_separator(previous) else char)
        previous = char
    result = "".join(pieces)
    if len(result) != len(text):
        raise UnsupportedTemplate(f"title of {text!r} is not evaluated")
    return result


def split_host_port(address: str) -> tuple[str, str] | None:
    """Split `host:port` as Go's `net.SplitHostPort` does; None where Go fails."""
    colon = address.rfind(":")
    if colon < 0:
        return None
    start, end = 0, 0
    if address.startswith("["):
        close = address.find("]")
        if close < 0 or close + 1 != colon:
            return None
        host = address[1:close]
        start, end = 1, close + 1
    else:
        host = address[:colon]
        if ":" in host:
            return None
    if "[" in address[start:] or "]" in address[end:]:
        return None
    return host, address[colon + 1 :]


def strip_port(address: str) -> str:
    found = split_host_port(address)
    return address if found is None else found[0]


def _python_regex(pattern: str, function: str) -> re.Pattern[str]:
    problem = goregexp.regexp_problem(pattern)
    if problem is not None:
        raise UnsupportedTemplate(f"{function} of the invalid regex {pattern!r}")
    return re.compile(goregexp.python_pattern(pattern))


def re_replace_all(pattern: str, replacement: str, text: str) -> str:
    """Replace every match as Go's `Regexp.ReplaceAllString` does."""
    if goregexp.regexp_problem(pattern) is None and goregexp.matches_empty(pattern):
        # Go and Python place the matches of an empty pattern differently.
        raise UnsupportedTemplate(
            f"reReplaceAll with {pattern!r}, which matches the empty string, "
            "is not evaluated"
        )
    compiled = _python_regex(pattern, "reReplaceAll")
    return compiled.sub(lambda found: expand_replacement(replacement, found), text)


def _index(item: Value, *keys: Value) -> Value:
    if not isinstance(item, dict) or len(keys) != 1 or not isinstance(keys[0], str):
        raise UnsupportedTemplate("index is evaluated only for labels and one name")
    return item.get(keys[0], "")


def _printf(*operands: Value) -> str:
    if not operands or not isinstance(operands[0], str):
        raise UnsupportedTemplate("printf without a format string is not evaluated")
    values = [_scalar(value, "printf") for value in operands[1:]]
    try:
        return sprintf(operands[0], values)
    except UnsupportedFormat as exc:
        raise UnsupportedTemplate(str(exc)) from None


def _scalar(value: Value, function: str) -> GoValue:
    if isinstance(value, dict):
        raise UnsupportedTemplate(f"{function} of a map is not evaluated")
    return value


def _unary(function: str, body: Callable[..., Value], kind: Callable) -> Callable:
    def call(*operands: Value) -> Value:
        if len(operands) != 1:
            raise UnsupportedTemplate(
                f"{function} takes 1 argument, not {len(operands)}"
            )
        return body(kind(operands[0], function))

    return call


def _strings(function: str, body: Callable[..., Value], count: int) -> Callable:
    def call(*operands: Value) -> Value:
        if len(operands) != count:
            raise UnsupportedTemplate(
                f"{function} takes {count} arguments, not {len(operands)}"
            )
        return body(*(_string(value, function) for value in operands))

    return call


FUNCTIONS: dict[str, Callable[..., Value]] = {
    "humanize": _unary("humanize", humanize, _number),
    "humanize1024": _unary("humanize1024", humanize1024, _number),
    "humanizeDuration": _unary("humanizeDuration", humanize_duration, _number),
    "humanizePercentage": _unary("humanizePercentage", humanize_percentage, _number),
    "toUpper": _unary(
        "toUpper", lambda text: _simple_case(text, str.upper, "toUpper"), _string
    ),
    "toLower": _unary(
        "toLower", lambda text: _simple_case(text, str.lower, "toLower"), _string
    ),
    "title": _unary("title", title, _string),
    "stripPort": _unary("stripPort", strip_port, _string),
    "match": _strings(
        "match",
        lambda pattern, text: _python_regex(pattern, "match").search(text) is not None,
        2,
    ),
    "reReplaceAll": _strings("reReplaceAll", re_replace_all, 3),
    "index": _index,
    "printf": _printf,
    "print": lambda *operands: sprint([_scalar(v, "print") for v in operands]),
    "urlquery": lambda *operands: urllib.parse.quote_plus(
        _urlquery_text(operands), safe=""
    ),
}


def _urlquery_text(operands: tuple[Value, ...]) -> str:
    # Go's urlquery quotes a single string as it is, and fmt.Sprint of the operands
    # otherwise.
    if len(operands) == 1 and isinstance(operands[0], str):
        return operands[0]
    return sprint([_scalar(value, "urlquery") for value in operands])


class _Evaluator:
    """Evaluate the actions of one template, in order, with its variables."""

    def __init__(self, labels: dict[str, str], value: float) -> None:
        self.data = _AlertData(labels, value)
        self.variables: dict[str, Value | _AlertData] = {
            "$": self.data,
            "$labels": labels,
            "$externalLabels": {},
            "$externalURL": "",
            "$value": value,
        }

    def action(self, tokens: list[Token]) -> str:
        """Evaluate one action's tokens, without its delimiters; return its output."""
        words = [token for token in tokens if token.kind is not Kind.SPACE]
        if not words:
            raise UnsupportedTemplate("an empty action is not evaluated")
        keyword = words[0].keyword()
        if keyword is not None and keyword not in ("dot", "nil"):
            raise UnsupportedTemplate(
                f"the {words[0].value} action is not evaluated", words[0].offset
            )
        assign = None
        if (
            len(words) > 1
            and words[0].kind is Kind.VARIABLE
            and words[1].kind in (Kind.DECLARE, Kind.ASSIGN)
        ):
            assign = words[0].value
            tokens = tokens[tokens.index(words[1]) + 1 :]
        result = self.pipeline(_Cursor(tokens))
        if assign is not None:
            self.variables[assign] = result
            return ""
        return self.output(result, words[0].offset)

    def output(self, result: Value | _AlertData, offset: int) -> str:
        if isinstance(result, _AlertData):
            raise UnsupportedTemplate(
                "printing the data object is not evaluated", offset
            )
        if isinstance(result, dict):
            return (
                "map[" + " ".join(f"{k}:{v}" for k, v in sorted(result.items())) + "]"
            )
        return value_text(result)

    def pipeline(self, cursor: _Cursor) -> Value | _AlertData:
        result: Value | _AlertData | None = None
        while True:
            result = self.command(cursor, result)
            cursor.skip_space()
            if cursor.peek().kind is not Kind.PIPE:
                return result
            cursor.next()

    def command(
        self, cursor: _Cursor, piped: Value | _AlertData | None
    ) -> Value | _AlertData:
        cursor.skip_space()
        first = cursor.peek()
        if first.kind is Kind.IDENTIFIER:
            cursor.next()
            function = FUNCTIONS.get(first.value)
            if function is None:
                raise UnsupportedTemplate(
                    f"function {first.value} is not evaluated", first.offset
                )
            operands = []
            while self.operand_follows(cursor):
                operands.append(self.operand(cursor))
            if piped is not None:
                operands.append(piped)
            for operand in operands:
                if isinstance(operand, _AlertData):
                    raise UnsupportedTemplate(
                        f"{first.value} of the data object is not evaluated",
                        first.offset,
                    )
            try:
                return function(*operands)
            except UnsupportedTemplate as exc:
                raise UnsupportedTemplate(str(exc), first.offset) from None
        value = self.operand(cursor)
        if piped is not None or self.operand_follows(cursor):
            raise UnsupportedTemplate(
                f"{first.value} is not a function and takes no arguments", first.offset
            )
        return value

    def operand_follows(self, cursor: _Cursor) -> bool:
        cursor.skip_space()
        return cursor.peek().kind not in (Kind.PIPE, Kind.RIGHT_PAREN, Kind.EOF)

    def operand(self, cursor: _Cursor) -> Value | _AlertData:
        token = cursor.next()
        value: Value | _AlertData
        if token.kind is Kind.LEFT_PAREN:
            value = self.pipeline(cursor)
            closing = cursor.next()
            if closing.kind is not Kind.RIGHT_PAREN:
                raise UnsupportedTemplate("a parenthesis is not closed", token.offset)
        elif token.kind is Kind.FIELD:
            value = self.field(self.data, token)
        elif token.kind is Kind.VARIABLE:
            if token.value not in self.variables:
                raise UnsupportedTemplate(
                    f"the variable {token.value} is not evaluated", token.offset
                )
            value = self.variables[token.value]
        elif token.kind in (Kind.STRING, Kind.RAW_STRING):
            value = string_value(token)
        elif token.kind is Kind.BOOL:
            value = token.value == "true"
        elif token.kind is Kind.NUMBER:
            value = _number_constant(token)
        elif token.keyword() == "dot":
            value = self.data
        else:
            raise UnsupportedTemplate(
                f"the operand {token.value!r} is not evaluated", token.offset
            )
        while cursor.peek().kind is Kind.FIELD:
            value = self.field(value, cursor.next())
        return value

    def field(self, value: Value | _AlertData, token: Token) -> Value | _AlertData:
        name = token.value[1:]
        if isinstance(value, dict):
            # Prometheus expands templates with missing map keys as empty strings.
            return value.get(name, "")
        if isinstance(value, _AlertData) and name in value.fields:
            return value.fields[name]
        raise UnsupportedTemplate(
            f"the field {token.value} of a {_type(value)} is not evaluated",
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

    def __init__(self, tokens: list[Token]) -> None:
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


def render(template: str, labels: dict[str, str], value: float) -> str:
    """Expand a template for one alert; raise UnsupportedTemplate when it cannot."""
    evaluator = _Evaluator(labels, value)
    pieces = []
    action: list[Token] | None = None
    for token in lex(template):
        if token.kind is Kind.ERROR:
            raise UnsupportedTemplate(f"invalid template: {token.value}", token.offset)
        if action is None:
            if token.kind is Kind.TEXT:
                pieces.append(token.value)
            elif token.kind is Kind.LEFT_DELIM:
                action = []
        elif token.kind is Kind.RIGHT_DELIM:
            pieces.append(evaluator.action(action))
            action = None
        else:
            action.append(token)
    return "".join(pieces)


def escape_text(text: str) -> str:
    """Make literal text safe inside a Go template: `{{` becomes `{{ "{{" }}`."""
    return text.replace("{{", '{{ "{{" }}')
