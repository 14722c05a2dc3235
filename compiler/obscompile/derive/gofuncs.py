"""The template functions of Prometheus 2.42 alerts and Go 1.19's `text/template`.

`gorender` calls them by name from `FUNCTIONS`, and describes what each returns. A
function raises `UnsupportedTemplate` for an operand it does not evaluate, and
`CallError` for an error that the Go function returns, so that the caller can prefix
it with the call as Go does.
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
    Int64,
    NamedInt,
    Stringer,
    UnsupportedFormat,
    go_g,
    go_value,
    sprint,
    sprintf,
    type_name,
)
from obscompile.derive.gotime import MONTHS, WEEKDAYS, GoTime
from obscompile.diagnostics import quoted

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


class ExpansionError(UnsupportedTemplate):
    """Prometheus fails to expand the template, with this error of Go's execution.

    Prometheus then gives the annotation or label `<error expanding template: ...>`
    in place of the text.
    """


class CallError(ExpansionError):
    """The error that a template function returns, which Go prefixes with the call."""


def humanize(value: float) -> str:
    if value == 0 or math.isnan(value) or math.isinf(value):
        return go_g(value, 4)
    if abs(value) >= 1:
        return _divided(value, 1000, _LARGE_PREFIXES)
    return _multiplied(value)


def humanize1024(value: float) -> str:
    if abs(value) <= 1 or math.isnan(value) or math.isinf(value):
        return go_g(value, 4)
    return _divided(value, 1024, _BINARY_PREFIXES)


def _multiplied(value: float) -> str:
    """Multiply `value`, below 1, by 1000 until it reaches 1, taking the next prefix
    each time, and return it with four significant digits and the last prefix."""
    prefix = ""
    for candidate in _SMALL_PREFIXES:
        if abs(value) >= 1:
            break
        prefix = candidate
        value *= 1000
    return go_g(value, 4) + prefix


def _divided(value: float, base: int, prefixes: tuple[str, ...]) -> str:
    """Divide `value` by `base` while it is that large, taking the next prefix each
    time, and return it with four significant digits and the last prefix taken."""
    prefix = ""
    for candidate in prefixes:
        if abs(value) < base:
            break
        prefix = candidate
        value /= base
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
    return _multiplied(value) + "s"


def humanize_percentage(value: float) -> str:
    return go_g(value * 100, 4) + "%"


def to_time(value: float) -> GoTime:
    """Convert Unix seconds to a UTC time, as Prometheus 2.42's `toTime` does.

    Prometheus truncates the nanoseconds to milliseconds (`model.Time`), and fails
    for NaN, an infinity, or a time beyond the int64 range of nanoseconds.
    """
    if math.isnan(value) or math.isinf(value):
        raise CallError("value is NaN or Inf")
    nanoseconds = value * 1e9
    if nanoseconds > 2.0**63 or nanoseconds < -(2.0**63):
        raise CallError(
            f"{go_value(value)} cannot be represented as a nanoseconds timestamp "
            "since it overflows int64"
        )
    return GoTime(_go_div(_go_int64(nanoseconds), 1_000_000))


def humanize_timestamp(value: float) -> str:
    """Format Unix seconds as Go prints the UTC time that `toTime` gives."""
    if math.isnan(value) or math.isinf(value):
        return go_g(value, 4)
    return to_time(value).text()


# Template values: gofmt's scalars, and maps of labels (Go's map[string]string).
Value = GoValue | dict[str, str]


class AlertData:
    """The data object of an alert template, which `.` names in Prometheus 2.42.

    Its external labels and URL are empty, as promtool runs a test without them.
    """

    def __init__(self, labels: dict[str, str], value: float) -> None:
        self.labels = labels
        self.value = value
        self.fields: dict[str, Value] = {
            "Labels": labels,
            "ExternalLabels": {},
            "ExternalURL": "",
            "Value": value,
        }

    def text(self) -> str:
        """Format the data as Go's `%v` formats its struct: each field, in order."""
        return f"{{{map_text(self.labels)} map[]  {go_value(self.value)}}}"


class NoValue:
    """Go's invalid `reflect.Value`: the dot of a `template` action without a pipeline.

    Go prints it as `<no value>`, takes it as false, and gives it again for any of its
    fields.
    """

    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE = NoValue()


class QuerySample:
    """One sample of a `query` result, Prometheus' `*sample`: its labels and value."""

    def __init__(self, labels: dict[str, str], value: float) -> None:
        self.labels = labels
        self.value = value

    def text(self) -> str:
        """Format the sample as a template prints it: Go's `%v` of the struct."""
        return f"{{{map_text(self.labels)} {go_value(self.value)}}}"


class QueryResult:
    """The samples that `query` returns, Prometheus' `queryResult`.

    `ordered` is True where promtool gives the samples in this order. It loads a
    test's input series in no fixed order, which decides the order of two or more
    samples until `sortByLabel` sorts them by distinct values. `sortByLabel` sorts
    the samples in place, as Prometheus does.
    """

    def __init__(self, samples: list[QuerySample]) -> None:
        self.samples = samples
        self.ordered = len(samples) < 2

    def in_order(self, function: str) -> list[QuerySample]:
        """Return the samples for `function`, which reads their order."""
        if not self.ordered:
            raise UnsupportedTemplate(
                f"{function} of {len(self.samples)} query samples, whose order "
                "promtool does not fix, is not evaluated; sort them with sortByLabel "
                "by a label whose values differ"
            )
        return self.samples


# Everything that a pipeline can give.
Datum = Value | AlertData | NoValue | QueryResult | QuerySample


def _number(value: Value, function: str) -> float:
    """Convert an operand to float64 as Prometheus' `convertToFloat` does."""
    if isinstance(value, (bool, dict)):
        raise UnsupportedTemplate(f"{function} of a {go_type(value)} is not evaluated")
    if isinstance(value, (Stringer, NamedInt)):
        # convertToFloat takes only float64, string, int, uint, int64 and uint64.
        raise CallError(f"can't convert {type_name(value)} to float")
    if isinstance(value, str):
        # strconv.ParseFloat without hexadecimal floats or underscores, which Python's
        # float() reads otherwise.
        if not re.fullmatch(
            r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)",
            value,
            re.IGNORECASE,
        ):
            raise UnsupportedTemplate(
                f"{function} of {quoted(repr(value))} is not evaluated"
            )
        return float(value)
    return float(value)


def _string(value: Value, function: str) -> str:
    if not isinstance(value, str):
        raise UnsupportedTemplate(f"{function} of a {go_type(value)} is not evaluated")
    return value


def go_type(value: Datum) -> str:
    if isinstance(value, dict):
        return "map[string]string"
    if isinstance(value, AlertData):
        return "data object"
    if isinstance(value, NoValue):
        return "missing value"
    if isinstance(value, QueryResult):
        return "query result"
    if isinstance(value, QuerySample):
        return "query sample"
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
        raise UnsupportedTemplate(f"title of {quoted(repr(text))} is not evaluated")
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
        raise UnsupportedTemplate(
            f"{function} of the invalid regex {quoted(repr(pattern))}"
        )
    return re.compile(goregexp.python_pattern(pattern))


def re_replace_all(pattern: str, replacement: str, text: str) -> str:
    """Replace every match as Go's `Regexp.ReplaceAllString` does."""
    if goregexp.regexp_problem(pattern) is None and goregexp.matches_empty(pattern):
        # Go and Python place the matches of an empty pattern differently.
        raise UnsupportedTemplate(
            f"reReplaceAll with {quoted(repr(pattern))}, which matches the empty "
            "string, is not evaluated"
        )
    compiled = _python_regex(pattern, "reReplaceAll")
    return compiled.sub(lambda found: expand_replacement(replacement, found), text)


def _index(item: Value, *keys: Value) -> Value:
    if not isinstance(item, dict) or len(keys) != 1 or not isinstance(keys[0], str):
        raise UnsupportedTemplate("index is evaluated only for labels and one name")
    return item.get(keys[0], "")


def truth(value: Datum) -> bool:
    """Return whether `if` takes `value` as true, by Go's rules.

    A non-zero number (NaN too), a non-empty string or map, `true` and the data
    object are true. A missing value is false. A query result is true where it has
    samples, and each sample is true.
    """
    if isinstance(value, (AlertData, QuerySample)):
        return True
    if isinstance(value, NoValue):
        return False
    if isinstance(value, QueryResult):
        return len(value.samples) > 0
    if isinstance(value, (str, dict)):
        return len(value) > 0
    return value != 0


def map_text(labels: dict[str, str]) -> str:
    """Format a map as Go's `%v` does, with its keys in order."""
    return "map[" + " ".join(f"{k}:{v}" for k, v in sorted(labels.items())) + "]"


def _comparable_kind(value: Value) -> str | None:
    """Return the kind that Go's comparison functions compare, or None for a map.

    Go compares integers of any type with each other, such as an int64 with an int.
    """
    if isinstance(value, GoTime):
        # Go compares the addresses of two *time.Time.
        raise UnsupportedTemplate("comparing a time is not evaluated")
    if isinstance(value, dict):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return "int"
    return type_name(value)


def _equal(*operands: Value) -> bool:
    """Compare as Go's `eq`: true at the first operand equal to the first one."""
    if not operands:
        raise ExpansionError("wrong number of args for eq: want at least 1 got 0")
    first, others = operands[0], operands[1:]
    if not others:
        raise CallError("missing argument for comparison")
    kind = _comparable_kind(first)
    for other in others:
        if _comparable_kind(other) != kind:
            raise CallError("incompatible types for comparison")
        if isinstance(other, dict):
            # Go's map type has no ==, and its message prints the map.
            raise CallError(f"non-comparable type {map_text(other)}: {go_type(other)}")
        if first == other:
            return True
    return False


def _less(first: Value, second: Value) -> bool:
    """Compare as Go's `lt`, which orders numbers and strings of one type."""
    kinds = (_comparable_kind(first), _comparable_kind(second))
    if None in kinds:
        raise CallError("invalid type for comparison")
    if kinds[0] != kinds[1]:
        raise CallError("incompatible types for comparison")
    if kinds[0] == "bool":
        raise CallError("invalid type for comparison")
    return first < second  # type: ignore[operator]


def _comparison(function: str, body: Callable[[Value, Value], bool]) -> Callable:
    def call(*operands: Value) -> bool:
        if len(operands) != 2:
            raise ExpansionError(
                f"wrong number of args for {function}: want 2 got {len(operands)}"
            )
        return body(*operands)

    return call


def _negation(*operands: Value | AlertData) -> bool:
    if len(operands) != 1:
        raise ExpansionError(
            f"wrong number of args for not: want 1 got {len(operands)}"
        )
    return not truth(operands[0])


def _length(*operands: Value) -> int:
    if len(operands) != 1:
        raise ExpansionError(
            f"wrong number of args for len: want 1 got {len(operands)}"
        )
    item = operands[0]
    if isinstance(item, str):
        return len(item.encode("utf-8"))
    if isinstance(item, dict):
        return len(item)
    if isinstance(item, QueryResult):
        return len(item.samples)
    if isinstance(item, GoTime):
        raise UnsupportedTemplate("len of a time is not evaluated")
    raise CallError(f"len of type {go_type(item)}")


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


# The arguments that each function of FUNCTIONS takes, as Go checks their number
# before it evaluates them: how many, and whether more may follow (Go 1.19's
# `text/template` builtins, Prometheus 2.42's functions).
ARITY: dict[str, tuple[int, bool]] = {
    "humanize": (1, False),
    "humanize1024": (1, False),
    "humanizeDuration": (1, False),
    "humanizePercentage": (1, False),
    "humanizeTimestamp": (1, False),
    "toTime": (1, False),
    "toUpper": (1, False),
    "toLower": (1, False),
    "title": (1, False),
    "stripPort": (1, False),
    "match": (2, False),
    "reReplaceAll": (3, False),
    "index": (1, True),
    "eq": (1, True),
    "ne": (2, False),
    "lt": (2, False),
    "le": (2, False),
    "gt": (2, False),
    "ge": (2, False),
    "len": (1, False),
    "not": (1, False),
    "printf": (1, True),
    "print": (0, True),
    "urlquery": (0, True),
    "query": (1, False),
    "first": (1, False),
    "label": (2, False),
    "value": (1, False),
    "sortByLabel": (2, False),
}


FUNCTIONS: dict[str, Callable[..., Value]] = {
    "humanize": _unary("humanize", humanize, _number),
    "humanize1024": _unary("humanize1024", humanize1024, _number),
    "humanizeDuration": _unary("humanizeDuration", humanize_duration, _number),
    "humanizePercentage": _unary("humanizePercentage", humanize_percentage, _number),
    "humanizeTimestamp": _unary("humanizeTimestamp", humanize_timestamp, _number),
    "toTime": _unary("toTime", to_time, _number),
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
    "eq": _equal,
    "ne": _comparison("ne", lambda a, b: not _equal(a, b)),
    "lt": _comparison("lt", _less),
    # As in Go, `le` is `lt` or `eq`, `gt` is not `le` and `ge` is not `lt`, so NaN
    # is greater than every number.
    "le": _comparison("le", lambda a, b: _less(a, b) or _equal(a, b)),
    "gt": _comparison("gt", lambda a, b: not (_less(a, b) or _equal(a, b))),
    "ge": _comparison("ge", lambda a, b: not _less(a, b)),
    "len": _length,
    "not": _negation,
    # `and` and `or` are evaluated by _Evaluator.logic, because they stop at the
    # operand that decides.
    "printf": _printf,
    "print": lambda *operands: sprint([_scalar(v, "print") for v in operands]),
    "urlquery": lambda *operands: urllib.parse.quote_plus(
        _urlquery_text(operands), safe=""
    ),
}


def _format(time: GoTime, layout: Value) -> str:
    if not isinstance(layout, str):
        raise UnsupportedTemplate(f"Format of a {go_type(layout)} is not evaluated")
    return time.format(layout)


# The methods of Go's `time.Time` that are evaluated, each with the number of its
# arguments. Each returns what Go's method returns for a UTC time, which is never
# Go's zero time, January 1 of year 1.
_TIME_METHODS: dict[str, tuple[Callable[..., Value], int]] = {
    "Format": (_format, 1),
    "String": (GoTime.text, 0),
    "Unix": (lambda time: Int64(time.milliseconds // 1000), 0),
    "UnixMilli": (lambda time: Int64(time.milliseconds), 0),
    "UnixMicro": (lambda time: Int64(time.milliseconds * 1000), 0),
    "UnixNano": (lambda time: Int64(time.milliseconds * 1_000_000), 0),
    "Year": (lambda time: time.moment.year, 0),
    "Month": (
        lambda time: NamedInt(
            time.moment.month, "time.Month", MONTHS[time.moment.month - 1]
        ),
        0,
    ),
    "Day": (lambda time: time.moment.day, 0),
    "Hour": (lambda time: time.moment.hour, 0),
    "Minute": (lambda time: time.moment.minute, 0),
    "Second": (lambda time: time.moment.second, 0),
    "Nanosecond": (lambda time: time.nanosecond, 0),
    "YearDay": (lambda time: time.moment.timetuple().tm_yday, 0),
    "Weekday": (
        lambda time: NamedInt(time.weekday, "time.Weekday", WEEKDAYS[time.weekday]),
        0,
    ),
    "UTC": (lambda time: GoTime(time.milliseconds, pointer=False), 0),
    "IsZero": (lambda time: False, 0),
}


def time_method(receiver: GoTime, name: str) -> tuple[Callable[..., Value], int]:
    """Return the method `name` of a time and the number of its arguments."""
    found = _TIME_METHODS.get(name)
    if found is None:
        raise UnsupportedTemplate(
            f"the method {name} of a {receiver.type_name} is not evaluated"
        )
    return found


def _first(result: Datum) -> QuerySample:
    if not isinstance(result, QueryResult):
        raise UnsupportedTemplate(f"first of a {go_type(result)} is not evaluated")
    if not result.samples:
        raise CallError("first() called on vector with no elements")
    return result.in_order("first")[0]


def _label(name: Datum, sample: Datum) -> str:
    if not isinstance(name, str) or not isinstance(sample, QuerySample):
        raise UnsupportedTemplate(
            f"label of a {go_type(name)} and a {go_type(sample)} is not evaluated"
        )
    return sample.labels.get(name, "")


def _value(sample: Datum) -> float:
    if not isinstance(sample, QuerySample):
        raise UnsupportedTemplate(f"value of a {go_type(sample)} is not evaluated")
    return sample.value


def _sort_by_label(name: Datum, result: Datum) -> QueryResult:
    """Sort the samples in place by a label, keeping the order of equal values."""
    if not isinstance(name, str) or not isinstance(result, QueryResult):
        raise UnsupportedTemplate(
            f"sortByLabel of a {go_type(name)} and a {go_type(result)} is not evaluated"
        )
    keys = [sample.labels.get(name, "") for sample in result.samples]
    # Go compares strings by their UTF-8 bytes, whose order is that of code points.
    result.samples.sort(key=lambda sample: sample.labels.get(name, ""))
    result.ordered = result.ordered or len(set(keys)) == len(keys)
    return result


# The functions of Prometheus 2.42 that read `query` results. `query` itself is
# evaluated by gorender, which the test generator gives the query's result.
QUERY_FUNCTIONS: dict[str, Callable[..., Datum]] = {
    "first": _first,
    "label": _label,
    "value": _value,
    "sortByLabel": _sort_by_label,
}


def _urlquery_text(operands: tuple[Value, ...]) -> str:
    # Go's urlquery quotes a single string as it is, and fmt.Sprint of the operands
    # otherwise.
    if len(operands) == 1 and isinstance(operands[0], str):
        return operands[0]
    return sprint([_scalar(value, "urlquery") for value in operands])
