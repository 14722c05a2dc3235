"""Expand alert templates exactly as Prometheus 2.42 does, for the generated tests.

promtool compares expanded annotations as exact strings, so the generated tests need
the text that Prometheus' template functions produce for a given sample value. The
functions follow `template/template.go` of Prometheus 2.42 and Go's `fmt`:

- `humanize`: `%.4g` after scaling by 1000 with the prefixes k M G T P E Z Y or
  m u n p f a z y;
- `humanize1024`: `%.4g` after dividing by 1024 with the prefixes ki Mi Gi Ti Pi Ei Zi
  Yi, for a value above 1 or below -1;
- `humanizeDuration`: seconds as `1d 2h 3m 4s`, or `%.4g` seconds with m u n …
  below one second;
- `humanizePercentage`: `%.4g%` of the value times 100;
- `printf` with `%.Nf`, `%.Ng`, `%d`, `%s`, `%v` and `%%`;
- `{{ $value }}`, which Go prints with `%v`: the shortest digits that read back as the
  same double, in exponent form when the decimal exponent is below -4 or at least 6.

`render` supports the pipelines obscompile writes and the common hand-written ones:
`$value` or `$labels.name` or a quoted string, piped through the functions above, and
`printf "FORMAT" $value`. `.Value` and `.Labels.name` read the same data as `$value`
and `$labels.name`. Anything else raises `UnsupportedTemplate`.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

_SMALL_PREFIXES = ("m", "u", "n", "p", "f", "a", "z", "y")
_LARGE_PREFIXES = ("k", "M", "G", "T", "P", "E", "Z", "Y")
_BINARY_PREFIXES = ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi")


class UnsupportedTemplate(ValueError):
    """The template uses Go template syntax that `render` does not evaluate."""


def go_g(value: float, precision: int) -> str:
    """Format like Go's `%.{precision}g`, which agrees with C's and Python's `%g`."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"%.{precision}g" % value


def go_value(value: float) -> str:
    """Format like Go's `%v` for a float64 (`strconv.FormatFloat(v, 'g', -1, 64)`)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(str(d) for d in digits)
    point = len(text) + int(exponent)  # digits before the decimal point
    decimal_exponent = point - 1
    prefix = "-" if sign else ""
    if decimal_exponent < -4 or decimal_exponent >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        exponent_sign = "-" if decimal_exponent < 0 else "+"
        return f"{prefix}{mantissa}e{exponent_sign}{abs(decimal_exponent):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{text}"
    if point >= len(text):
        return f"{prefix}{text}{'0' * (point - len(text))}"
    return f"{prefix}{text[:point]}.{text[point:]}"


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


FUNCTIONS = {
    "humanize": humanize,
    "humanize1024": humanize1024,
    "humanizeDuration": humanize_duration,
    "humanizePercentage": humanize_percentage,
}

_VERB = re.compile(
    r"%(?P<flags>[-+ 0#]*)(?P<width>\d*)(?:\.(?P<precision>\d+))?(?P<verb>[a-zA-Z%])"
)


def go_printf(template: str, value: float | str) -> str:
    """Apply one Go `printf` format with a single operand."""
    used = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal used
        verb = match.group("verb")
        if verb == "%":
            return "%"
        if used or match.group("flags") or match.group("width"):
            raise UnsupportedTemplate(
                f"printf format {match.group(0)!r} is not evaluated"
            )
        used = True
        precision = match.group("precision")
        if isinstance(value, str):
            if verb in ("s", "v"):
                # Go's precision cuts a string to that many characters.
                return value if precision is None else value[: int(precision)]
            raise UnsupportedTemplate(
                f"printf {match.group(0)!r} of a string is not evaluated"
            )
        if verb == "f" and not (math.isnan(value) or math.isinf(value)):
            return f"%.{6 if precision is None else int(precision)}f" % value
        if verb == "g" and precision is not None:
            return go_g(value, int(precision))
        if verb == "v" or (verb == "g" and precision is None):
            return go_value(value)
        raise UnsupportedTemplate(f"printf format {match.group(0)!r} is not evaluated")

    result = _VERB.sub(substitute, template)
    if not used:
        raise UnsupportedTemplate(f"printf format {template!r} takes no operand")
    return result


_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_STRING = re.compile(r'^"((?:[^"\\]|\\.)*)"$')
_LABEL = re.compile(r"^(?:\$labels|\.Labels)\.([a-zA-Z_][a-zA-Z0-9_]*)$")
_INDEX = re.compile(r'^index\s+(?:\$labels|\.Labels)\s+"([a-zA-Z_][a-zA-Z0-9_]*)"$')
_PRINTF = re.compile(r'^printf\s+"((?:[^"\\]|\\.)*)"\s+(\S+)$')


def _unquote(text: str) -> str:
    return bytes(text, "utf-8").decode("unicode_escape") if "\\" in text else text


def _operand(text: str, labels: dict[str, str], value: float) -> float | str:
    text = text.strip()
    if text in ("$value", ".Value"):
        return value
    for pattern in (_LABEL, _INDEX):
        match = pattern.match(text)
        if match:
            return labels.get(match.group(1), "")
    match = _STRING.match(text)
    if match:
        return _unquote(match.group(1))
    raise UnsupportedTemplate(f"operand {text!r} is not evaluated")


def _pipeline(text: str, labels: dict[str, str], value: float) -> str:
    commands = [part.strip() for part in text.split("|")]
    first = commands[0]
    match = _PRINTF.match(first)
    if match:
        result: float | str = go_printf(
            _unquote(match.group(1)), _operand(match.group(2), labels, value)
        )
    else:
        result = _operand(first, labels, value)
    for command in commands[1:]:
        function = FUNCTIONS.get(command)
        if function is None:
            raise UnsupportedTemplate(f"function {command!r} is not evaluated")
        if isinstance(result, str):
            raise UnsupportedTemplate(f"{command} of a string is not evaluated")
        result = function(result)
    if isinstance(result, float):
        return go_value(result)
    return result


def render(template: str, labels: dict[str, str], value: float) -> str:
    """Expand a template for one alert; raise UnsupportedTemplate when it cannot."""
    pieces = []
    position = 0
    for match in _ACTION.finditer(template):
        before = template[position : match.start()]
        if match.group(1):
            before = before.rstrip(" \t\r\n")
        pieces.append(before)
        body = match.group(2)
        if body.startswith("/*"):
            raise UnsupportedTemplate("template comments are not evaluated")
        pieces.append(_pipeline(body, labels, value))
        position = match.end()
        if match.group(3):
            rest = template[position:]
            position += len(rest) - len(rest.lstrip(" \t\r\n"))
    pieces.append(template[position:])
    text = "".join(pieces)
    if "{{" in "".join(p for p in pieces[::2]):
        raise UnsupportedTemplate("an action is not closed")
    return text


def escape_text(text: str) -> str:
    """Make literal text safe inside a Go template: `{{` becomes `{{ "{{" }}`."""
    return text.replace("{{", '{{ "{{" }}')
