"""Go's `fmt` formatting of the values that alert templates print (Go 1.19).

`go_value` and `go_g` format a float64 as `%v` and `%.Ng` do. `sprintf` follows
`fmt.Sprintf` for the verbs and flags below, and `sprint` follows `fmt.Sprint`.
A template value is a Python `float` (Go's float64), `int`, `str` or `bool`.

`sprintf` formats `%v %d %s %t %f %F %e %E %g %G %x %X %%` with the flags `-+ 0` and a
width and a precision, and writes Go's `%!d(float64=1.5)`, `%!d(MISSING)` and
`%!(EXTRA int=2)` for a wrong verb, a missing operand and an unused one. Anything
else raises `UnsupportedFormat`: the flag `#`, `*` widths, argument indexes, and the
verbs `%b %c %o %O %q %U`.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

GoValue = float | int | str | bool


class UnsupportedFormat(ValueError):
    """The format uses a part of Go's `fmt` that `sprintf` does not follow."""


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


def type_name(value: GoValue) -> str:
    """Return the Go type of a template value, as `%!verb(TYPE=...)` names it."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    return "string"


def value_text(value: GoValue) -> str:
    """Format a value as Go's `%v` does."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_value(value)
    return str(value)


def sprint(values: list[GoValue]) -> str:
    """Join values as `fmt.Sprint` does: a space goes between two non-strings."""
    pieces = []
    for index, value in enumerate(values):
        if (
            index
            and not isinstance(value, str)
            and not isinstance(values[index - 1], str)
        ):
            pieces.append(" ")
        pieces.append(value_text(value))
    return "".join(pieces)


_DIRECTIVE = re.compile(
    r"%(?P<flags>[-+# 0]*)(?P<width>\d*)(?:(?P<dot>\.)(?P<precision>\d*))?"
    r"(?P<verb>.?)",
    re.DOTALL,
)


class _Spec:
    """One `%` directive: its flags, width, precision and verb."""

    def __init__(self, found: re.Match[str]) -> None:
        flags = found.group("flags")
        if "#" in flags:
            raise UnsupportedFormat(
                f"the # flag of {found.group(0)!r} is not evaluated"
            )
        self.text = found.group(0)
        self.minus = "-" in flags
        # Go pads with zeros on the left only.
        self.zero = "0" in flags and not self.minus
        self.plus = "+" in flags
        self.space = " " in flags and not self.plus
        self.width = int(found.group("width")) if found.group("width") else None
        if found.group("dot"):
            self.precision: int | None = int(found.group("precision") or 0)
        else:
            self.precision = None
        self.verb = found.group("verb")

    def pad(self, text: str, zeros: bool = False) -> str:
        if self.width is None or len(text) >= self.width:
            return text
        fill = self.width - len(text)
        if self.minus:
            return text + " " * fill
        return ("0" if zeros else " ") * fill + text

    def sign(self, negative: bool) -> str:
        """Return the sign that a number gets: `-`, or `+` or a space as flags request."""
        if negative:
            return "-"
        if self.plus:
            return "+"
        return " " if self.space else ""

    def signed(self, negative: bool, digits: str) -> str:
        """Pad a number's digits after its sign, as Go's `fmtFloat` does."""
        sign = self.sign(negative)
        if self.zero and self.width is not None and sign:
            return sign + digits.rjust(self.width - 1, "0")
        return self.pad(sign + digits, zeros=self.zero)


def _hex_float(value: float) -> str:
    """Format a finite, non-negative float as Go's `%x` does without a precision."""
    if value == 0:
        return "0x0p+00"
    mantissa, _, exponent = value.hex().partition("p")
    if not mantissa.startswith("0x1"):
        raise UnsupportedFormat("%x of a subnormal float is not evaluated")
    mantissa = mantissa.rstrip("0").rstrip(".")
    power = int(exponent)
    return f"{mantissa}p{'-' if power < 0 else '+'}{abs(power):02d}"


def _format_float(spec: _Spec, value: float) -> str:
    verb = spec.verb
    if math.isnan(value) or math.isinf(value):
        text = "NaN" if math.isnan(value) else "Inf"
        sign = spec.sign(value < 0)
        if math.isinf(value) and not sign:
            sign = "+"
        return spec.pad(sign + text)
    negative = math.copysign(1, value) < 0
    magnitude = abs(value)
    if verb in "xX":
        if spec.precision is not None:
            raise UnsupportedFormat(f"{spec.text!r} of a float is not evaluated")
        digits = _hex_float(magnitude)
    elif verb in "vgG" and spec.precision is None:
        digits = go_value(magnitude)
    else:
        precision = 6 if spec.precision is None else spec.precision
        digits = f"%.{precision}{verb.lower() if verb == 'F' else verb}" % magnitude
    if verb in "XEG":
        digits = digits.upper()
    return spec.signed(negative, digits)


def _format_int(spec: _Spec, value: int) -> str:
    digits = format(abs(value), "x" if spec.verb in "xX" else "d")
    if spec.verb == "X":
        digits = digits.upper()
    sign = spec.sign(value < 0)
    if spec.precision is not None:
        # Go ignores the 0 flag when a precision is given.
        digits = "" if spec.precision == 0 and value == 0 else digits
        return spec.pad(sign + digits.rjust(spec.precision, "0"))
    if spec.zero and spec.width is not None:
        digits = digits.rjust(spec.width - len(sign), "0")
    return spec.pad(sign + digits)


def _format_string(spec: _Spec, value: str) -> str:
    if spec.verb in "xX":
        if spec.space:
            raise UnsupportedFormat(f"{spec.text!r} of a string is not evaluated")
        data = value.encode("utf-8")
        if spec.precision is not None:
            data = data[: spec.precision]
        text = data.hex()
        return spec.pad(text.upper() if spec.verb == "X" else text, zeros=spec.zero)
    if spec.precision is not None:
        value = value[: spec.precision]
    return spec.pad(value, zeros=spec.zero)


# The verbs that each type formats. Any other verb prints `%!verb(type=value)`.
_VERBS = {
    "float64": "vgGeEfFxX",
    "int": "vdxX",
    "string": "vsxX",
    "bool": "vt",
}
_UNSUPPORTED_VERBS = "bcoOqU"


def _format_one(spec: _Spec, value: GoValue) -> str:
    kind = type_name(value)
    if spec.verb not in _VERBS[kind]:
        if spec.verb in _UNSUPPORTED_VERBS or spec.width is not None or spec.precision:
            raise UnsupportedFormat(f"{spec.text!r} of a {kind} is not evaluated")
        return f"%!{spec.verb}({kind}={value_text(value)})"
    if isinstance(value, bool):
        return spec.pad(value_text(value), zeros=spec.zero)
    if isinstance(value, int):
        return _format_int(spec, value)
    if isinstance(value, float):
        return _format_float(spec, value)
    assert isinstance(value, str)
    return _format_string(spec, value)


def sprintf(template: str, operands: list[GoValue]) -> str:
    """Format operands as Go's `fmt.Sprintf` does; see the module's list of verbs."""
    pieces = []
    used = 0
    position = 0
    while True:
        start = template.find("%", position)
        if start < 0:
            pieces.append(template[position:])
            break
        pieces.append(template[position:start])
        found = _DIRECTIVE.match(template, start)
        assert found is not None
        position = found.end()
        if found.group("verb") in ("", "*", "["):
            raise UnsupportedFormat(
                f"printf format {found.group(0)!r} is not evaluated"
            )
        spec = _Spec(found)
        if spec.verb == "%":
            pieces.append("%")
            continue
        if used == len(operands):
            pieces.append(f"%!{spec.verb}(MISSING)")
            continue
        pieces.append(_format_one(spec, operands[used]))
        used += 1
    if used < len(operands):
        extra = ", ".join(
            f"{type_name(value)}={value_text(value)}" for value in operands[used:]
        )
        pieces.append(f"%!(EXTRA {extra})")
    return "".join(pieces)
