"""Numbers as messages, annotations and dashboards print them.

Every form here is the shortest decimal text that reads back as the same double, as
Python's `repr` and Go's `strconv.FormatFloat(v, 'g', -1, 64)` choose it: 0.1 is
`0.1`, not 0.1000000000000000055511151231257827, and 1e300 is `1e300`, not a 301-digit
number. The forms differ only in where they switch to exponent notation.
"""

from __future__ import annotations

import math
from decimal import Decimal


def _digits(value: float) -> tuple[str, int]:
    """Return the shortest digits of `abs(value)` and its decimal exponent.

    The value is `0.DIGITS * 10**exponent`: 1500.0 gives ("15", 4), 0.05 ("5", -1).
    """
    _, digits, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    return text, exponent + len(text)


def _written(value: float, positional: range, exponent_sign: str) -> str:
    """Return `value` in positional notation when its exponent is in `positional`."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0"
    digits, exponent = _digits(value)
    # The exponent of scientific notation, d.ddd * 10**power.
    power = exponent - 1
    if power in positional:
        if exponent >= len(digits):
            return sign + digits + "0" * (exponent - len(digits))
        if exponent > 0:
            return sign + digits[:exponent] + "." + digits[exponent:]
        return sign + "0." + "0" * -exponent + digits
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    plus = exponent_sign if power >= 0 else ""
    return f"{sign}{mantissa}e{plus}{power}"


def number_text(value: float) -> str:
    """Return the shortest text of a number for a reader: `0.5`, `1500`, `1e300`.

    Exponent notation starts where Python's `repr` starts it, from 1e16 up and below
    0.0001. It has neither a plus sign nor leading zeros (`5e-324`, `2.5e-7`), and a
    threshold text or a YAML manifest reads the text back as the same number.
    Infinities and NaN are written as Prometheus writes them: `+Inf`, `-Inf`, `NaN`.
    """
    return _written(float(value), range(-4, 16), "")


def javascript_text(value: float) -> str:
    """Return the text of JavaScript's `String(value)`: `1234567`, `1e+21`, `5e-324`.

    Grafana finds the value mapping of a value by this text, so a mapping's key must
    be it exactly.
    """
    if value == 0:
        return "0"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return _written(float(value), range(-6, 21), "+")
