"""Checks of the parameters that the shipped blocks take, and the bands they build.

Each check raises `dsl.ParameterError`, which a manifest reports at the parameter's
value under `with:` and a Python module at the argument of the block call.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction

from obscompile import dsl, promql
from obscompile.diagnostics import shorten
from obscompile.load.thresholds import (
    NumberError,
    ThresholdError,
    comparable,
    parse_shorthand,
)
from obscompile.load.validate import integer_problem
from obscompile.numbers import number_text


def describe(value: object) -> str:
    """Name the type of a parameter value for a message, with the value of a number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"the number {value!r}"
    if value is None:
        return "null"
    kinds = {bool: "a boolean", list: "a list", dict: "a mapping", str: "a string"}
    return kinds.get(type(value), f"a {type(value).__name__} value")


def check_text(name: str, value: object) -> None:
    """Raise ParameterError unless `value` is a non-empty string."""
    if not isinstance(value, str):
        raise dsl.ParameterError(name, f"must be a string, not {describe(value)}")
    if not value.strip():
        raise dsl.ParameterError(name, "must not be empty")


def check_job(value: object) -> str:
    """Return a job name that a PromQL matcher can hold, or raise ParameterError."""
    check_text("job", value)
    assert isinstance(value, str)
    if '"' in value or "\\" in value or "\n" in value:
        raise dsl.ParameterError(
            "job",
            f"is {shorten(repr(value))}; a job name has no quotes, backslashes or "
            "line breaks",
        )
    return value


# HTTP status codes are three digits from 100 to 599, the values of a status label.
_STATUS_CODES = tuple(str(code) for code in range(100, 600))


def check_status_regex(name: str, value: object) -> str:
    """Return a regex of HTTP status codes, or raise ParameterError.

    The regex is read as Prometheus reads a matcher's, with Go's syntax and anchored
    at both ends. It must match some status codes from 100 to 599, but not all.
    """
    check_text(name, value)
    assert isinstance(value, str)
    example = 'write a regex of status codes such as "5.." or "4..|5.."'
    try:
        pattern = promql.compile_regex(value)
    except re.error as exc:
        raise dsl.ParameterError(
            name, f'is "{shorten(value)}", an invalid regex: {exc}; {example}'
        ) from None
    matched = [code for code in _STATUS_CODES if pattern.fullmatch(code)]
    if not matched:
        raise dsl.ParameterError(
            name,
            f'is "{shorten(value)}", which matches no HTTP status code from 100 to '
            f"599; {example}",
        )
    if len(matched) == len(_STATUS_CODES):
        raise dsl.ParameterError(
            name,
            f'is "{shorten(value)}", which matches every HTTP status code from 100 '
            f"to 599, so every request would count as an error; {example}",
        )
    return value


def _plain(bound: str | float) -> str:
    """Return a bound as threshold shorthand reads it (`0.5`, `1e300`).

    A float gets the shortest text that reads back as the same double, in exponent
    notation only when very large or very small.
    """
    if isinstance(bound, float):
        return number_text(bound)
    return str(bound)


# The name and an example of each kind of bound.
_KINDS = {
    "percentage": ("a percentage", '"5%"'),
    "duration": ("a duration", '"500ms"'),
    "count": ("a number", "100"),
}


def _bound(name: str, value: object, kind: str) -> tuple[str, Fraction | float] | None:
    """Return a bound as threshold shorthand and as a comparable number.

    A percentage is a number with or without `%`. A duration is a number of seconds
    or one with a time unit, and a count is a plain number. The panel's values are
    never below 0, so each bound is above 0. Raises ParameterError for any other
    value.
    """
    if value is None:
        return None
    noun, example = _KINDS[kind]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise dsl.ParameterError(
            name, f"must be {noun} such as {example}, not {describe(value)}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise dsl.ParameterError(name, f"is {value}, which is not a finite number")
    if isinstance(value, int):
        problem = integer_problem(value)
        if problem is not None:
            raise dsl.ParameterError(name, problem)
    text = _plain(value)
    try:
        quantity = parse_shorthand(f">{text} Red").bands[-1].lower
    except NumberError as exc:
        # The text is a number written in a form that is not read; the error gives
        # the form to write.
        raise dsl.ParameterError(name, f'is "{shorten(text)}"; {exc}') from None
    except ThresholdError:
        quantity = None
    if quantity is None or not _fits(kind, quantity.unit):
        raise dsl.ParameterError(
            name,
            f'is "{shorten(text)}", which is not {noun}; write {noun} such as '
            f"{example}",
        )
    if kind == "percentage" and quantity.number > 100:
        raise dsl.ParameterError(
            name,
            f"is {shorten(text)}, above 100%, which no part of the requests can reach",
        )
    if not quantity.number > 0:
        colour = "yellow" if name.endswith("_yellow") else "red"
        raise dsl.ParameterError(
            name,
            f"is {shorten(text)}, which would colour every value {colour}; write a "
            "bound above 0",
        )
    return text, comparable(quantity, 0.0)


def _fits(kind: str, unit: str | None) -> bool:
    if kind == "percentage":
        return unit in (None, "%")
    if kind == "duration":
        return unit != "%"
    return unit is None


# The check name of the warning about a bare percentage below 1. thresholds/unit
# warns about the same mistake the other way round: a bare 70 on a panel of 0 to 1.
FRACTION_CHECK = "thresholds/unit"


def _as_percent(kind: str, bound: tuple[str, Fraction | float]) -> str | None:
    """Return a bare percentage below 1 in percent if it is meant as a fraction.

    A bare 0.05 is 0.05%, where the fraction 0.05, 5%, is the likely intent, so this
    returns "5". Returns None for a bound with `%`, and for one of 1 or more.
    """
    text, number = bound
    if kind != "percentage" or text.endswith("%") or not 0 < number < 1:
        return None
    return number_text(float(Decimal(text) * 100))


def _fraction_hint(kind: str, name: str, bound: tuple[str, Fraction | float]) -> str:
    """Return a sentence on a bare percentage below 1, which may be meant as a fraction.

    Returns "" for any other bound.
    """
    percent = _as_percent(kind, bound)
    if percent is None:
        return ""
    text = bound[0]
    return (
        f". A bare number is a percentage, so {name} {text} is {text}%; write "
        f"{percent}% if {text} is meant as a fraction"
    )


def _warn_fraction(kind: str, name: str, bound: tuple[str, Fraction | float]) -> None:
    """Warn that a bare percentage below 1 is read as a percentage, not a fraction."""
    percent = _as_percent(kind, bound)
    if percent is None:
        return
    text = bound[0]
    dsl.warn_parameter(
        name,
        f"is {text}, which is read as {text}%, not as the fraction {text} "
        f"({percent}%), because a bare number is a percentage; write {percent}% if "
        f"the fraction is meant, or {text}% to keep {text}%",
        FRACTION_CHECK,
    )


def rising_bands(
    kind: str,
    yellow: tuple[str, object],
    red: tuple[str, object],
    default_yellow: str | None = None,
) -> str | None:
    """Return rising shorthand: green below yellow, yellow up to red, red from red.

    `kind` is "percentage", "duration" or "count". `yellow` and `red` are each a
    parameter's name and value. A yellow value of None takes `default_yellow`, and a
    problem with that default is reported at the red bound, which the caller wrote.
    Returns None when the red value is None.
    """
    yellow_name, yellow_value = yellow
    red_name, red_value = red
    yellow_given = yellow_value is not None
    low = _bound(yellow_name, yellow_value if yellow_given else default_yellow, kind)
    high = _bound(red_name, red_value, kind)
    if high is None:
        if yellow_given:
            raise dsl.ParameterError(
                yellow_name, f"needs {red_name}, the bound where the panel turns red"
            )
        return None
    if low is None:
        _warn_fraction(kind, red_name, high)
        return f"<{high[0]} Green, >{high[0]} Red"
    if low[1] >= high[1]:
        hint = _fraction_hint(kind, red_name, high)
        if not yellow_given:
            raise dsl.ParameterError(
                red_name,
                f"is {high[0]}, which must be above {yellow_name} ({low[0]} by "
                f"default); set {yellow_name} below it{hint}",
            )
        raise dsl.ParameterError(
            yellow_name,
            f"is {low[0]}, which must be below {red_name} ({high[0]}){hint}",
        )
    if yellow_given:
        _warn_fraction(kind, yellow_name, low)
    _warn_fraction(kind, red_name, high)
    return f"<{low[0]} Green, {low[0]}-{high[0]} Yellow, >{high[0]} Red"
