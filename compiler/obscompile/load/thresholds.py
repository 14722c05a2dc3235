"""Parse threshold shorthand ("<1% Green, 1-5% Yellow, >5% Red") and the structured form.

The shorthand is a comma-separated list of items:

- `<X Color`, `>X Color`, `A-B Color`: a band below X, from X, or from A to B;
- `<=X Color` (or `≤X`): a band below X that also contains X, so the next band
  starts just above X; `>=X` (or `≥X`) is `>X` written to contain X;
- `X Color`: a band that contains the value X and extends up to the next band, or
  only X where the next band starts at X (`0 Green, >0 Red`); `X-X Color` is X alone;
- `X=Color`: a value mapping (`1=Green, 0=Red`);
- `Color`: a single band that colours every value;
- `name <X`: a per-series good band below X, red from X (`AngelOne <2s, News <5s`);
- `<X% word Color`: a percentage of a capacity named `word` (`<80% pool Green`), also
  in a range (`80-90% pool Yellow`).

A colour is one of Grafana's colour names, shades such as `dark-red` included, or a hex
value (`#F2495C`); the structured form also takes `rgb()` and `rgba()`.

Numbers are decimals, with an exponent or without (`1500`, `0.25`, `1e6`, `2.5E-3`),
and take a unit (`%`, `ns`, `us`, `ms`, `s`, `m`, `h`, `d`, `w`, `y`) or none. A
duration may also be written as Prometheus writes one, in several units from the
largest down, each once and each a whole number (`1m30s`, `1h30m`, `1s500ms`). A bare
number in a range takes the unit of the boundary it continues, then of the other end of
its range: in `"<500ms Green, 500-1s Yellow"` the 500 is in ms, and after `1m30s` a
bare number is in s. Bands may be listed in ascending or descending order; they are
stored ascending, and gaps, overlaps and unsorted lists are errors. Bounds compare by
value, so `90s` and `1m30s` are the same bound.

A boundary value belongs to the band above it, as in Grafana, unless the band below
contains it (`<=X`, a single value X). The panel then colours X with a value mapping,
which Grafana applies before the steps, and the alert of the band above leaves X out.
A written value mapping (`X=Color`) takes no unit, because it matches one value
exactly in the panel's unit. A single value or `<=X` may have one (`<=1m30s Green`):
the build converts X to the panel's unit before it makes the value mapping.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

import attrs

from obscompile.diagnostics import Diagnostic, error, shorten, warning
from obscompile.load.validate import integer_problem, suggest
from obscompile.model.location import Location
from obscompile.model.threshold import (
    COLOUR_ALIASES,
    TIME_SECONDS,
    Band,
    ExactValue,
    Quantity,
    SeriesThreshold,
    Thresholds,
    ValueMapping,
    colour_hue,
    colour_rgba,
    named_colours,
    step_offset,
)
from obscompile.numbers import number_text

CHECK = "thresholds/syntax"
COLOUR_CHECK = "thresholds/colour"

# A position inside a structured thresholds value: ("mappings", 1, "color").
ValuePath = tuple[str | int, ...]

NAMED_COLOURS = {name: name for name in named_colours()} | COLOUR_ALIASES

# A decimal, with an exponent or without: 1500, 0.25, .5, 1e6, 2.5E-3.
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_UNIT = r"(?:%|ns|us|µs|ms|s|m|h|d|w|y)"
_TIME_UNIT = r"(?:ns|us|µs|ms|s|m|h|d|w|y)"
# A duration of two parts or more, such as 1m30s. Parts that Prometheus does not
# write, such as 30s1m, 1.5m30s or 1s500us, are read too, so that the error can give
# the form to write.
_DURATION_PART = re.compile(rf"(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)({_TIME_UNIT})")
_DURATION = rf"(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?{_TIME_UNIT}){{2,}}"
_QUANTITY = (
    rf"(?P<{{name}}>(?P<{{name}}_duration>{_DURATION})"
    rf"|(?P<{{name}}_number>{_NUMBER})(?P<{{name}}_unit>{_UNIT})?)"
)
# Prometheus' duration units, from the largest down.
PROMETHEUS_UNITS = ("y", "w", "d", "h", "m", "s", "ms")
# A whole count of more digits than this is beyond the largest double, about 1.8e308,
# in every time unit down to ns.
_MAX_COUNT_DIGITS = 330
# The maximum number of digits of a byte count that a message writes out in full.
_MAX_WHOLE_DIGITS = 20
_HEX = r"#[0-9a-fA-F]+"
_COLOR = rf"(?P<color>{_HEX}|[A-Za-z][A-Za-z-]*)"
_WRITTEN_COLOR = re.compile(_COLOR)
# Digits on both sides of a comma, such as 1,000, 1,000.5 or 0,5. No item ends with
# a digit, so such a comma belongs to a number: a thousands separator or a decimal
# comma.
_COMMA_NUMBER = re.compile(r"(?<![\d.])\d+(?:,\d+)+(?:\.\d+)?")
_GROUPED = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")


def _quantity(name: str) -> str:
    return _QUANTITY.replace("{name}", name)


_ITEM_PATTERNS = [
    (
        "below",
        re.compile(
            rf"^(?P<op><=?|≤)\s*{_quantity('a')}\s+(?:(?P<capacity>[a-z_]+)\s+)?{_COLOR}$"
        ),
    ),
    (
        "from",
        re.compile(
            rf"^(?P<op>>=?|≥)\s*{_quantity('a')}\s+(?:(?P<capacity>[a-z_]+)\s+)?{_COLOR}$"
        ),
    ),
    (
        "range",
        re.compile(
            rf"^{_quantity('a')}\s*-\s*{_quantity('b')}\s+"
            rf"(?:(?P<capacity>[a-z_]+)\s+)?{_COLOR}$"
        ),
    ),
    ("mapping", re.compile(rf"^{_quantity('a')}\s*=\s*{_COLOR}$")),
    ("point", re.compile(rf"^{_quantity('a')}\s+{_COLOR}$")),
    ("series", re.compile(rf"^(?P<series>[^<>=\s][^<>=]*?)\s*<\s*{_quantity('a')}$")),
    ("color", re.compile(rf"^{_COLOR}$")),
]


# Words for time units that a threshold text may not use, with the unit to write.
_UNIT_WORDS = {
    **dict.fromkeys(("msec", "msecs", "millisecond", "milliseconds"), "ms"),
    **dict.fromkeys(("sec", "secs", "second", "seconds"), "s"),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), "m"),
    **dict.fromkeys(("hr", "hrs", "hour", "hours"), "h"),
    **dict.fromkeys(("day", "days"), "d"),
    **dict.fromkeys(("week", "weeks"), "w"),
    **dict.fromkeys(("year", "years"), "y"),
}
# Byte units that a threshold text may not use, with the bytes in each. Grafana shows
# `bytes` in powers of 1024 and `decbytes` in powers of 1000 (as grafanalib 0.7's
# formatunits lists them), so a text gives the bytes, which both read alike.
_BYTE_UNITS = {
    **{f"{prefix}b": 1000**power for power, prefix in enumerate("kmgtp", 1)},
    **{f"{prefix}ib": 1024**power for power, prefix in enumerate("kmgtp", 1)},
}
# Scale suffixes that a threshold text may not use, with the factor of each. They are
# the SI prefixes from k up, the words of Grafana's `short` unit (1 Mil is 1000000) and
# the binary prefixes of Kubernetes quantities (1Ki is 1024). A lowercase m is minutes.
_SCALE_SUFFIXES = {
    **dict.fromkeys(("k", "K"), 1000),
    **{prefix: 1000**power for power, prefix in enumerate("MGTP", 2)},
    **{word: 1000**power for power, word in enumerate(("Mil", "Bil", "Tri"), 2)},
    **{f"{prefix}i": 1024**power for power, prefix in enumerate("KMGTP", 1)},
}
_NUMBER_AND_WORD = re.compile(
    r"(?<![\w.])(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)(?P<gap>\s*)"
    r"(?P<word>[A-Za-z]+)"
)
# A series name, an operator and a bound that starts with a number, such as
# `last 24 hours <5 sec`. The name may contain numbers and words.
_SERIES_AND_BOUND = re.compile(
    r"^[^<>=≤≥\s][^<>=≤≥]*?\s*(?:>=|<=|>|<|≥|≤|=)\s*(?P<bound>[-+]?\.?\d.*)$"
)

# A series name and a bound with an operator other than `<`, such as `fast >10`.
_OTHER_SERIES_BOUND = re.compile(
    r"^(?P<series>[^<>=≤≥\s][^<>=≤≥]*?)\s*(?P<op>>=|<=|>|≥|≤|=)\s*"
    rf"{_quantity('a')}$"
)
_HEX_COLOUR = re.compile(_HEX)


class ThresholdError(ValueError):
    """Thresholds are invalid.

    `offset` is the character of a threshold text where the problem starts, and `path`
    the position of the invalid value inside a structured thresholds value.
    """

    def __init__(
        self,
        message: str,
        offset: int = 0,
        path: ValuePath = (),
        others: tuple[ThresholdError, ...] = (),
    ) -> None:
        super().__init__(message)
        self.offset = offset
        self.path = path
        # Further problems of the same text, found before the parse stopped.
        self.others = others


class NumberError(ThresholdError):
    """A number of a threshold text means no number that a double holds, as written.

    A duration in another form than Prometheus writes (`30s1m`), or a number beyond
    the range of a double (`1e400`, `1e-400`).
    """


@attrs.frozen
class _Item:
    kind: str
    offset: int
    color: str | None = None
    color_offset: int = 0
    a: Quantity | None = None
    b: Quantity | None = None
    series: str | None = None
    capacity: str | None = None
    # True for `<=X` and `>=X`, whose bound belongs to the band as written.
    inclusive: bool = False


_INCLUSIVE_OPERATORS = ("<=", "≤", ">=", "≥")

# The hues that alerts can fire for: red always, yellow where a panel sets
# alert.warning.
_ALERT_HUES = ("red", "yellow")


def _color(name: str, offset: int = 0, path: ValuePath = ()) -> str:
    """Return the colour as the dashboard gets it; raise ThresholdError if invalid.

    Names are lowercased because Grafana's lookup of colour names is case-sensitive,
    and hex and rgb() colours are lowercased too.
    """
    lowered = name.lower()
    if lowered in NAMED_COLOURS:
        return NAMED_COLOURS[lowered]
    if colour_rgba(lowered) is not None:
        return lowered
    hint = suggest(lowered, list(NAMED_COLOURS))
    if hint:
        # A close name is the likely fix, and the list of every name would bury it.
        raise ThresholdError(f'unknown colour "{shorten(name)}"{hint}', offset, path)
    raise ThresholdError(
        f'unknown colour "{shorten(name)}"; write a '
        "Grafana colour name such as red or dark-red, or a hex colour such as #f00, "
        "#ff0000 or #ff000080; the structured form also takes rgb() and rgba(). "
        "Grafana's names are the hues red, orange, yellow, green, blue and purple, "
        "each also with the prefix super-light-, light-, semi-dark- or dark-, and "
        "transparent, text, panel-bg and gray",
        offset,
        path,
    )


def _number(
    match: re.Match[str], name: str, offset: int = 0, path: ValuePath = ()
) -> Quantity:
    """Return the number `name` of `match`, which starts `offset` characters before it."""
    start = offset + match.start(name)
    duration = match.group(f"{name}_duration")
    if duration:
        return _duration(duration, start, path)
    written = match.group(f"{name}_number")
    unit = match.group(f"{name}_unit")
    number = _finite(float(written), start, path, written)
    return Quantity(
        number,
        "us" if unit == "µs" else unit,
        written=written + (unit or ""),
        offset=start,
    )


def _finite(
    number: float, offset: int = 0, path: ValuePath = (), written: str = ""
) -> float:
    """Return `number`; raise ThresholdError when a double cannot hold it.

    That is when it is infinite or not a number, or when `written`, the text it was
    read from, is not zero but the number is: 1e-400 is below the smallest double.
    """
    if not math.isfinite(number) and written:
        raise NumberError(
            f"number too large: {shorten(written)} is beyond about 1.8e308, the "
            "largest number Prometheus and Grafana hold; write a smaller number",
            offset,
            path,
        )
    if not math.isfinite(number):
        raise NumberError(
            "number too large: a threshold must be below about 1.8e308, the largest "
            "number Prometheus and Grafana hold",
            offset,
            path,
        )
    if number == 0 and re.search(r"[1-9]", re.split("[eE]", written)[0]):
        raise NumberError(
            f"number too small: {shorten(written)} is closer to 0 than 5e-324, the "
            "smallest number above 0 that Prometheus and Grafana hold, so both read "
            "it as 0; write 0, or a larger number",
            offset,
            path,
        )
    return number


def duration_text(ms: int) -> str:
    """Return a count of milliseconds as Prometheus writes a duration (`1m30s`)."""
    if ms == 0:
        return "0s"
    parts = []
    for unit in PROMETHEUS_UNITS:
        size = int(TIME_SECONDS[unit] * 1000)
        count, ms = divmod(ms, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _duration(text: str, offset: int, path: ValuePath = ()) -> Quantity:
    """Return a duration of several units, such as 1m30s, as a quantity in ms.

    Its parts must be what Prometheus reads: whole numbers in its units, from the
    largest unit down, each once. Raises ThresholdError, with how to write the same
    duration, at `offset` for any other text.
    """
    parts: list[tuple[str, str]] = _DURATION_PART.findall(text)
    fix = _duration_fix(parts)
    problem = None
    units = [unit for _, unit in parts]
    fractional = next((n + u for n, u in parts if not n.isdigit()), None)
    if fractional is not None:
        problem = f"its part {fractional} is not written as a whole number"
    elif any(unit not in PROMETHEUS_UNITS for unit in units):
        other = next(unit for unit in units if unit not in PROMETHEUS_UNITS)
        problem = f"Prometheus durations have no unit {other}"
    elif len(set(units)) < len(units):
        repeated = next(unit for unit in units if units.count(unit) > 1)
        problem = f"it repeats the unit {repeated}"
    elif units != sorted(units, key=PROMETHEUS_UNITS.index):
        problem = "its units are out of order"
    if problem is not None:
        raise NumberError(
            f"write the duration {shorten(text)} as "
            f"{shorten(fix) if fix else 'a number with one unit'}: "
            f"{problem}, and Prometheus writes "
            "a duration in whole numbers of the units y, w, d, h, m, s and ms, from "
            "the largest unit down, each once",
            offset,
            path,
        )
    if any(len(number.lstrip("0")) > _MAX_COUNT_DIGITS for number, _ in parts):
        # Reading so many digits exactly takes time that grows with their square.
        number = math.inf
    else:
        ms = sum(
            (
                Fraction(int(number)) * TIME_SECONDS[unit] * 1000
                for number, unit in parts
            ),
            Fraction(0),
        )
        try:
            number = float(ms)
        except OverflowError:
            number = math.inf
    number = _finite(number, offset, path, text)
    return Quantity(number, "ms", written=text, last_unit=units[-1], offset=offset)


def _duration_fix(parts: list[tuple[str, str]]) -> str | None:
    """Return how Prometheus writes the duration of `parts`, or one number in s.

    Returns None when a part's exponent is so large that the duration is no use.
    """
    try:
        numbers = [Decimal(number) for number, _ in parts]
    except InvalidOperation:
        return None  # an exponent beyond the largest that Decimal can represent
    if any(abs(number.adjusted()) > 30 for number in numbers if number):
        return None
    seconds = sum(
        (
            Fraction(number) * TIME_SECONDS[unit]
            for number, (_, unit) in zip(numbers, parts, strict=True)
        ),
        Fraction(0),
    )
    ms = seconds * 1000
    if ms.denominator == 1:
        return duration_text(int(ms))
    return format(Decimal(seconds.numerator) / seconds.denominator, "f") + "s"


def _colour_as_written(text: str, item: _Item) -> str:
    """Return the colour of `item` as `text` spells it, such as Red for red."""
    match = _WRITTEN_COLOR.match(text, item.color_offset) if item.color else None
    return match.group() if match else item.color or ""


def _split(text: str) -> list[tuple[str, int]]:
    items = []
    offset = 0
    for part in text.split(","):
        stripped = part.strip()
        items.append((stripped, offset + (len(part) - len(part.lstrip()))))
        offset += len(part) + 1
    return items


def _parse_item(
    text: str, offset: int, colour_problems: list[ThresholdError] | None = None
) -> _Item:
    """Return the item of `text`; raise ThresholdError if it cannot be read.

    With `colour_problems`, an unknown colour is appended to it instead of raised,
    and the item keeps the colour as written, so that the bands can still be checked.
    """
    if not text:
        raise ThresholdError("empty threshold item", offset)
    for kind, pattern in _ITEM_PATTERNS:
        match = pattern.match(text)
        if not match:
            continue
        groups = match.groupdict()
        color_offset = offset + match.start("color") if groups.get("color") else offset
        color = None
        if groups.get("color"):
            try:
                color = _color(groups["color"], color_offset)
            except ThresholdError as exc:
                if colour_problems is None:
                    raise
                colour_problems.append(exc)
                color = groups["color"]
        if kind == "series" and groups["series"].lower() in NAMED_COLOURS:
            continue
        capacity = groups.get("capacity")
        if capacity in TIME_SECONDS:
            raise ThresholdError(
                f'write the unit of "{shorten(text.strip())}" without a space, such as '
                f'"{groups["a"]}{capacity}"; a word after the number names a capacity',
                offset + match.start("capacity"),
            )
        if capacity is not None and "%" not in (groups["a_unit"], groups.get("b_unit")):
            unit_word = _unit_word_error(text, offset)
            if unit_word is not None:
                raise unit_word
            colour = groups["color"]
            if kind == "range":
                number = f"{groups['a']}-{groups['b']}"
                values = f"the values {groups['a']} to {groups['b']}"
                percent, plain = f"{number}% {capacity} {colour}", f"{number} {colour}"
            else:
                number = groups["a"]
                values = f"the value {number}"
                percent = f"{groups['op']}{number}% {capacity} {colour}"
                plain = f"{groups['op']}{number} {colour}"
            raise ThresholdError(
                f'"{capacity}" after {number} names a capacity, which takes a '
                f'percentage: write "{percent}" for {number}% of the panel\'s '
                f'capacity, or "{plain}" for {values}',
                offset + match.start("capacity"),
            )
        if kind == "mapping" and (groups["a_unit"] or groups["a_duration"]):
            raise ThresholdError(
                f"a value mapping takes no unit, since it matches one value exactly as "
                f"the query returns it: write {groups['a']} as a number in the "
                f'panel\'s unit, such as "0={groups["color"]}"',
                offset + match.start("a"),
            )
        return _Item(
            kind=kind,
            offset=offset,
            color=color,
            color_offset=color_offset,
            a=_number(match, "a", offset) if groups.get("a") else None,
            b=_number(match, "b", offset) if groups.get("b") else None,
            series=groups.get("series"),
            capacity=groups.get("capacity"),
            inclusive=groups.get("op") in _INCLUSIVE_OPERATORS,
        )
    unit_word = _unit_word_error(text, offset)
    if unit_word is not None:
        raise unit_word
    other_bound = _OTHER_SERIES_BOUND.match(text)
    if other_bound is not None and not _is_colour_word(other_bound["series"]):
        series, value = other_bound["series"], other_bound["a"]
        raise ThresholdError(
            f'a series bound is written with "<": "{series} <{value}" keeps {series} '
            f"green below {value} and red from {value} on",
            offset + other_bound.start("op"),
        )
    colon = _colon_error(text, offset)
    if colon is not None:
        raise colon
    raise ThresholdError(
        f'cannot read threshold "{shorten(text)}"; write bands such as "<1% Green", '
        '"1-5% Yellow", ">5% Red", a mapping such as "0=Red", or a series bound such '
        'as "primary <2s"',
        offset,
    )


def _colon_error(text: str, offset: int) -> ThresholdError | None:
    """Return the error for a ":" between a bound and its colour, as in ">=10: Red"."""
    colon = text.find(":")
    if colon <= 0:
        return None
    without = f"{text[:colon].rstrip()} {text[colon + 1 :].lstrip()}".strip()
    kind = next(
        (kind for kind, pattern in _ITEM_PATTERNS if pattern.match(without)), None
    )
    if kind is None or kind == "color":
        return None
    written, fixed = shorten(text), shorten(without)
    if kind == "point":
        value = text[:colon].strip()
        mapping = shorten(f"{value}={text[colon + 1 :].strip()}")
        return ThresholdError(
            f'write "{written}" as "{fixed}" for a band that starts at {value}, or as '
            f'"{mapping}" to map the value {value}: a threshold item takes no ":"',
            offset + colon,
        )
    return ThresholdError(
        f'write "{written}" as "{fixed}": a threshold item takes no ":"',
        offset + colon,
    )


def _unit_word_error(text: str, offset: int) -> ThresholdError | None:
    """Return the error for a time unit written as a word, such as 5sec or 1 hour,
    for a byte unit, such as 1GB, or for a scale suffix, such as 10k.

    Of a series bound, only the bound is searched, not the series name.
    """
    series_bound = _SERIES_AND_BOUND.match(text)
    start = series_bound.start("bound") if series_bound else 0
    for found in _NUMBER_AND_WORD.finditer(text, start):
        word, number = found["word"].lower(), found["number"]
        written = shorten(found.group())
        if word in _UNIT_WORDS:
            message = (
                f"write {written} as {shorten(number + _UNIT_WORDS[word])}: the time "
                "units of thresholds are ns, us (or µs), ms, s, m, h, d, w and y"
            )
        elif word in _BYTE_UNITS and found["word"].endswith("B"):
            count = _scaled_number(number, _BYTE_UNITS[word])
            if count is None:
                continue
            message = (
                f"write {written} as {count}: "
                "thresholds take no byte units, so write the number of bytes"
            )
        elif found["word"] in _SCALE_SUFFIXES and not found.group("gap"):
            count = _scaled_number(number, _SCALE_SUFFIXES[found["word"]])
            if count is None:
                continue
            if found["word"] == "M":
                count += f", or as {shorten(number)}m for {shorten(number)} minutes"
            message = (
                f"write {written} as {count}: thresholds take no scale suffix such "
                "as k, M or G, so write the number in full"
            )
        elif word in _BYTE_UNITS:
            # A lowercase b is a bit: 1Gb is 1000000000 bits, 125000000 bytes.
            bits = _scaled_number(number, _BYTE_UNITS[word])
            octets = _scaled_number(number, Fraction(_BYTE_UNITS[word], 8))
            if bits is None or octets is None:
                continue
            message = (
                f"write {written} as {bits} if the query counts bits, or as "
                f"{octets} if it counts bytes: thresholds take no bit or byte units"
            )
        else:
            continue
        return ThresholdError(message, offset + found.start("word"))
    return None


def _scaled_number(number: str, factor: int | Fraction) -> str | None:
    """Return `number` times `factor` as a whole number where it is one.

    A count beyond the range of a double keeps its exponent, as in 1e+409. Returns
    None for a number whose exponent is beyond the largest that Decimal can
    represent.
    """
    try:
        count = Decimal(number) * factor.numerator / factor.denominator
    except InvalidOperation:
        return None
    if count == count.to_integral_value() and count.adjusted() < _MAX_WHOLE_DIGITS:
        return str(int(count))
    as_float = float(count)
    if math.isinf(as_float) or (as_float == 0 and count != 0):
        return format(count.normalize(), "e")
    return number_text(as_float)


def _is_colour_word(text: str) -> bool:
    """Return True for a colour name or hex value, which starts a band, not a series."""
    return text.lower() in NAMED_COLOURS or _HEX_COLOUR.fullmatch(text) is not None


def _with_unit(quantity: Quantity, unit: str | None) -> Quantity:
    """Return a bare quantity in `unit`, written with it (`500` becomes `500ms`)."""
    if unit is None:
        return quantity
    written = quantity.written + unit if quantity.written else ""
    return Quantity(quantity.number, unit, written=written, offset=quantity.offset)


def _fill_units(items: list[_Item]) -> list[_Item]:
    """Give bare numbers the unit of the boundary they continue, then of their range.

    The unit of a duration of several units is its last one: s for 1m30s.
    """
    filled = []
    previous_unit: str | None = None
    for item in items:
        a, b = item.a, item.b
        if item.kind == "range" and a and b:
            if a.unit is None:
                a = _with_unit(a, previous_unit or b.carried_unit)
            if b.unit is None and a.unit is not None:
                b = _with_unit(b, a.carried_unit)
        elif (
            a
            and a.unit is None
            and previous_unit is not None
            and item.kind != "mapping"
        ):
            a = _with_unit(a, previous_unit)
        last = b or a
        if last and last.unit:
            previous_unit = last.carried_unit
        filled.append(attrs.evolve(item, a=a, b=b))
    return filled


def comparable(quantity: Quantity | None, default: float) -> Fraction | float:
    """Return the exact number that orders quantities of compatible units.

    A duration counts in seconds, and any other quantity is its number.
    """
    if quantity is None:
        return default
    return Fraction(repr(quantity.number)) * TIME_SECONDS.get(quantity.unit or "", 1)


def _written(quantity: Quantity | None) -> str:
    """Return a bound with the unit it was written in, such as `2%`."""
    return "" if quantity is None else str(quantity)


def _band_text(item: _Item, lower: Quantity | None, upper: Quantity | None) -> str:
    """Return a band as shorthand writes it, without its colour."""
    if item.kind == "below":
        return f"<={upper}" if item.inclusive else f"<{upper}"
    if item.kind == "from":
        return f">={lower}" if item.inclusive else f">{lower}"
    if item.kind == "range":
        return f"{lower}-{upper}"
    return str(lower)


def _overlap(lower: Quantity | None, upper: Quantity | None) -> str:
    """Say where a band that starts at `lower` overlaps one that ends at `upper`."""
    if lower is None:
        return f"below {upper}"
    if upper is None:
        return f"from {lower} up"
    return f"between {lower} and {upper}"


@attrs.frozen
class _Span:
    """The values that one band of a text covers.

    `claims_lower` is True where the text puts the lower bound in this band on
    purpose (`>=5`, a single value), and `upper_included` where the band contains its
    upper bound (`<=5`, `0-0`, a single value that the next band follows at once).
    A bound that neither side claims belongs to the band above, as in Grafana.
    """

    item: _Item
    lower: Quantity | None
    upper: Quantity | None
    claims_lower: bool = False
    upper_included: bool = False

    @property
    def is_single_value(self) -> bool:
        return self.item.kind == "point" or (
            self.item.kind == "range" and self.claims_lower
        )


def _span(item: _Item) -> _Span:
    """Return the values `item` covers, a single value only itself until `_order`."""
    if item.kind == "below":
        return _Span(item, None, item.a, upper_included=item.inclusive)
    if item.kind == "from":
        return _Span(item, item.a, None, claims_lower=item.inclusive)
    if item.kind == "range":
        lower, upper = item.a, item.b
        if comparable(upper, math.inf) < comparable(lower, -math.inf):
            raise ThresholdError(
                f"threshold range {lower}-{upper} runs backwards; write {upper}-{lower}",
                item.offset,
            )
        # `0-0` is the value 0 alone.
        alone = comparable(upper, math.inf) == comparable(lower, -math.inf)
        return _Span(item, lower, upper, claims_lower=alone, upper_included=alone)
    if item.kind == "point":
        return _Span(item, item.a, item.a, claims_lower=True, upper_included=True)
    return _Span(item, None, None)


def _order(spans: list[_Span]) -> list[_Span]:
    """Return `spans` from low to high; raise ThresholdError if in mixed order.

    A single value sorts before a band that starts at it, so `>0 Red, 0 Green` is
    the text `0 Green, >0 Red` listed from high to low. The error points at the
    first band out of order.
    """
    keys = [
        (comparable(span.lower, -math.inf), 0 if span.is_single_value else 1)
        for span in spans
    ]
    in_order, rising = _longest_ordered_run(keys)
    if len(in_order) < len(spans):
        stray = next(index for index in range(len(spans)) if index not in in_order)
        raise ThresholdError(
            _out_of_order(spans, keys, stray, rising), spans[stray].item.offset
        )
    # Bands with equal keys keep their order in the text, read in its direction.
    ascending = sorted(range(len(keys)), key=lambda i: (keys[i], i if rising else -i))
    ordered = [spans[i] for i in ascending]
    # A single value extends up to the next band unless that band starts at it.
    for index, span in enumerate(ordered):
        if span.item.kind != "point":
            continue
        following = ordered[index + 1] if index + 1 < len(ordered) else None
        if following is None:
            ordered[index] = attrs.evolve(span, upper=None, upper_included=False)
        elif comparable(following.lower, -math.inf) > comparable(span.lower, 0):
            ordered[index] = attrs.evolve(
                span, upper=following.lower, upper_included=False
            )
    return ordered


# A band's place in the order: its lower bound, then 0 for a single value, 1 otherwise.
_BandKey = tuple[Fraction | float, int]
# A run of bands in order: its length, how many of the lowest and the highest band it
# keeps, and the indices of its bands.
_Run = tuple[int, int, tuple[int, ...]]


def _longest_ordered_run(keys: list[_BandKey]) -> tuple[frozenset[int], bool]:
    """Return the indices of the bands in order, and True if they run from low to high.

    They are the longest run of bands, not necessarily adjacent, that the text lists
    in one direction. Of runs equally long, the one that keeps more of the lowest and
    the highest band wins, because those end the list in either direction, then the
    one that keeps the earlier bands. So in `1-5, <1, >5` the band 1-5 is out of
    order, and in `<1, 5-10, 1-5, >10` the band 1-5.
    """
    lowest, highest = min(keys), max(keys)

    def ends(index: int) -> int:
        return (keys[index] == lowest) + (keys[index] == highest)

    def longest(rising: bool) -> _Run:
        # For each band, the best run that ends with it.
        best: list[_Run] = []
        for index, key in enumerate(keys):
            run: _Run = (1, ends(index), (index,))
            for before in range(index):
                fits = keys[before] <= key if rising else keys[before] >= key
                if not fits:
                    continue
                length, kept_ends, indices = best[before]
                longer = (length + 1, kept_ends + ends(index), (*indices, index))
                if _run_order(longer) > _run_order(run):
                    run = longer
            best.append(run)
        return max(best, key=_run_order)

    up, down = longest(True), longest(False)
    if up[:2] == down[:2]:
        # Both directions keep as many bands, so the first two bands decide.
        rising = len(keys) < 2 or keys[0] <= keys[1]
    else:
        rising = up[:2] > down[:2]
    return frozenset((up if rising else down)[2]), rising


def _run_order(run: _Run) -> _Run:
    """Return a key that sorts the better of two runs of bands last."""
    length, kept_ends, indices = run
    return length, kept_ends, tuple(-index for index in indices)


def _out_of_order(
    spans: list[_Span], keys: list[_BandKey], stray: int, rising: bool
) -> str:
    """Return the message for the band `stray`, which is out of order."""
    span = spans[stray]
    band = _band_text(span.item, span.lower, span.upper)
    # Every band in order, so that the stray band's neighbour shows where it goes.
    ordered = sorted(range(len(keys)), key=lambda i: keys[i], reverse=not rising)
    position = ordered.index(stray)
    direction = "from low to high" if rising else "from high to low"
    if position == 0:
        follower = spans[ordered[1]]
        place = f"before {_band_text(follower.item, follower.lower, follower.upper)}"
    else:
        leader = spans[ordered[position - 1]]
        place = f"after {_band_text(leader.item, leader.lower, leader.upper)}"
    return (
        f"threshold band {band} is out of order: the other bands run {direction}, "
        f"so list it {place}"
    )


def _check_shared_bound(previous: _Span, span: _Span, text: str) -> None:
    """Raise ThresholdError when two adjacent bands both claim the bound between them."""
    if not (previous.upper_included and span.claims_lower):
        return
    bound = span.lower
    fixes = []
    # Each fix keeps its band's own spelling of the bound (`<=1m30s` and `>=90s`).
    if previous.item.kind == "below":
        fixes.append(f'"<{previous.upper} {_colour_as_written(text, previous.item)}"')
    if span.item.kind == "from":
        fixes.append(f'">{bound} {_colour_as_written(text, span.item)}"')
    first = _band_text(previous.item, previous.lower, previous.upper)
    second = _band_text(span.item, span.lower, span.upper)
    fix = (
        f"write {' or '.join(fixes)} so that {bound} has one colour"
        if fixes
        else "remove one of them"
    )
    raise ThresholdError(
        f"threshold bands {first} and {second} both contain {bound}; {fix}",
        span.item.offset,
    )


def _check_neighbours(previous: _Span, span: _Span, text: str) -> None:
    """Raise ThresholdError when two adjacent bands leave a gap or overlap."""
    previous_end = comparable(previous.upper, math.inf)
    start = comparable(span.lower, -math.inf)
    if start > previous_end:
        upper, lower = _written(previous.upper), _written(span.lower)
        raise ThresholdError(
            f"threshold bands leave a gap between {upper} and {lower}; colour it with "
            f"a band such as {upper}-{lower} Yellow, or start the next band at {upper}",
            span.item.offset,
        )
    if start < previous_end:
        raise ThresholdError(
            f"threshold bands overlap {_overlap(span.lower, previous.upper)}",
            span.item.offset,
        )
    _check_shared_bound(previous, span, text)


def _bands(
    items: list[_Item], text: str
) -> tuple[tuple[Band, ...], tuple[ExactValue, ...]]:
    """Return the steps and exact values of band items; raise ThresholdError if invalid.

    The items may be listed from high to low, and must leave no gap or overlap.
    """
    spans = [_span(item) for item in items]

    unbounded = next((item for item in items if item.kind == "color"), None)
    if unbounded is not None and len(items) > 1:
        raise ThresholdError(
            f"a band without a bound ({unbounded.color}) covers every value, so it "
            "must be the only band of the text",
            unbounded.offset,
        )
    seen: set[tuple[str, bool, Fraction | float, Fraction | float]] = set()
    for span in spans:
        item = span.item
        key = (
            item.kind,
            item.inclusive,
            comparable(span.lower, -math.inf),
            comparable(span.upper, math.inf),
        )
        if key in seen:
            raise ThresholdError(
                f"threshold band {_band_text(item, span.lower, span.upper)} is listed twice",
                item.offset,
            )
        seen.add(key)

    ordered = _order(spans)
    first, last = ordered[0], ordered[-1]
    if first.lower is not None and first.item.kind != "point":
        raise ThresholdError(
            f"threshold bands leave values below {first.lower} without a colour; "
            f'start with a band such as "<{first.lower} Green"',
            first.item.offset,
        )
    for previous, span in zip(ordered, ordered[1:], strict=False):
        _check_neighbours(previous, span, text)
    if last.upper is not None:
        uncoloured = (
            f"above {last.upper}" if last.upper_included else f"from {last.upper} up"
        )
        raise ThresholdError(
            f"threshold bands leave values {uncoloured} without a colour; "
            f'end with a band such as ">{last.upper} Red"',
            last.item.offset,
        )

    bands = []
    exact = []
    for index, span in enumerate(ordered):
        color = span.item.color or "green"
        if index == 0:
            bands.append(Band(color))
        elif not (span.is_single_value and span.upper_included):
            # A band of one value gets no step: the next band's step starts at it.
            bands.append(Band(color, lower=span.lower))
        if span.upper_included and span.upper is not None:
            exact.append(ExactValue(span.upper, color))
    return tuple(bands), tuple(exact)


def _comma_problem(found: re.Match[str]) -> ThresholdError:
    """Return the error of a number written with a comma, which separates bands."""
    written = found.group()
    if _GROUPED.fullmatch(written):
        fix, reason = written.replace(",", ""), "numbers take no thousands separator"
    elif written.count(",") == 1:
        fix, reason = written.replace(",", "."), "decimals take a point"
    else:
        return ThresholdError(
            f"cannot read the number {shorten(written)}: a comma separates bands",
            found.start(),
        )
    return ThresholdError(
        f"write {shorten(written)} as {shorten(fix)}: a comma separates bands, so "
        f"{reason}",
        found.start(),
    )


def parse_shorthand(text: str) -> Thresholds:
    """Parse threshold shorthand; raise ThresholdError with the offset of the problem.

    Every problem found is reported, in the order of the text: the first as the error,
    the others in its `others`. Items that cannot be read stop the parse, while
    unknown colours do not, so that a gap between the bands of the same text is
    reported with them.
    """
    commas = [_comma_problem(found) for found in _COMMA_NUMBER.finditer(text)]
    if commas:
        raise _combined(commas)
    raw_items = []
    problems: list[ThresholdError] = []
    colour_problems: list[ThresholdError] = []
    for part, offset in _split(text):
        try:
            raw_items.append(_parse_item(part, offset, colour_problems))
        except ThresholdError as exc:
            problems.append(exc)
    if not problems and colour_problems:
        try:
            _parse_items(text, raw_items)
        except ThresholdError as exc:
            problems.append(exc)
    problems = sorted([*problems, *colour_problems], key=lambda p: p.offset)
    if problems:
        raise _combined(problems)
    return _parse_items(text, raw_items)


def is_shorthand_series(name: str) -> bool:
    """Return True when a threshold text can name the series `name`, as in `name <1`.

    A name with `<`, `>`, `=` or a comma cannot be written there, nor a colour name
    or one that starts or ends with a space. `thresholds: {series: {name: ...}}`
    takes any name.
    """
    try:
        parsed = parse_shorthand(f"{name} <1")
    except ThresholdError:
        return False
    return [series.series for series in parsed.series] == [name]


# Services built from one block, or copied from one another, write the same threshold
# texts. The parse is kept by text; a text that fails is parsed again at each use.
_kept_shorthand = functools.lru_cache(maxsize=4096)(parse_shorthand)


def _check_unit_kinds(items: list[_Item]) -> None:
    """Raise ThresholdError when bounds in % and bounds in a time unit are mixed."""
    first: dict[str, tuple[str, int]] = {}
    for item in items:
        for quantity in (item.a, item.b):
            if quantity is None or quantity.unit is None:
                continue
            kind = "percent" if quantity.unit == "%" else "time"
            first.setdefault(kind, (str(quantity), item.offset))
            if len(first) == 2:
                percent, time = first["percent"], first["time"]
                raise ThresholdError(
                    f"threshold text mixes a percentage ({percent[0]}) with a "
                    f"duration ({time[0]}); a panel's values are one or the other, "
                    "so write every bound in the same kind of unit",
                    item.offset,
                )


def mapping_steps(mappings: list[ValueMapping]) -> tuple[Band, ...]:
    """Return the steps of a panel whose thresholds are value mappings alone.

    A value between mapped ones takes the colour of the mapping below it, and a value
    below the lowest that of the lowest, so `1=Green, 0=Red` is red below 1. A red
    or yellow mapping above every other colour colours its own value only, because
    its alert fires only there (`== 5` for `5=Red`) and carrying its colour would
    colour every larger value. Without any other mapping, the base step is green.
    """
    carried = list(mappings)
    while carried and colour_hue(carried[-1].color) in _ALERT_HUES:
        carried.pop()
    if not carried:
        return (Band("green"),)
    steps = [Band(carried[0].color)]
    steps += [Band(m.color, lower=Quantity(m.value)) for m in carried[1:]]
    return tuple(steps)


def _parse_items(text: str, raw_items: list[_Item]) -> Thresholds:
    """Return the thresholds of the items of `text`; raise ThresholdError if invalid."""
    items = _fill_units(raw_items)
    _check_unit_kinds(items)
    thresholds = _items_thresholds(text, items)
    # A value mapping matches one value and bounds no band.
    bounds = [
        quantity
        for item in items
        if item.kind != "mapping"
        for quantity in (item.a, item.b)
        if quantity is not None
    ]
    return attrs.evolve(thresholds, bounds=tuple(bounds))


def _items_thresholds(text: str, items: list[_Item]) -> Thresholds:
    """Return the thresholds of the items of `text`, whose units are filled in."""
    kinds = {item.kind for item in items}

    if kinds == {"series"}:
        series = []
        seen: set[str] = set()
        for item in items:
            assert item.series is not None and item.a is not None
            if item.series in seen:
                raise ThresholdError(
                    f'series "{item.series}" is listed twice', item.offset
                )
            seen.add(item.series)
            good_and_red = (Band("green"), Band("red", lower=item.a))
            series.append(
                SeriesThreshold(item.series, good_and_red, offset=item.offset)
            )
        return Thresholds(text=text, bands=(Band("green"),), series=tuple(series))

    if kinds == {"mapping"}:
        mappings = []
        seen_values: set[float] = set()
        for item in items:
            assert item.a is not None and item.color is not None
            if item.a.number in seen_values:
                raise ThresholdError(f"value {item.a} is mapped twice", item.offset)
            seen_values.add(item.a.number)
            mappings.append(ValueMapping(item.a.number, item.color, ""))
        ordered = sorted(mappings, key=lambda m: m.value)
        return Thresholds(
            text=text,
            bands=mapping_steps(ordered),
            mappings=tuple(ordered),
            steps_from_mappings=True,
        )

    if "series" in kinds or "mapping" in kinds:
        bad = next(item for item in items if item.kind in ("series", "mapping"))
        raise ThresholdError(
            "cannot mix per-series bounds or value mappings with bands in one threshold text",
            bad.offset,
        )

    if len(items) == 1 and _is_single_value(items[0]):
        return _single_value(text, items[0])
    if len(items) == 1 and items[0].kind in ("below", "from"):
        return _single_band(text, items[0])

    capacities = {item.capacity for item in items if item.capacity}
    bands, exact_values = _bands(items, text)
    return Thresholds(
        text=text,
        bands=bands,
        capacity_of=next(iter(capacities)) if capacities else None,
        exact_values=exact_values,
    )


# A text that names only the good band implies red beyond it, and one that names only
# a red, orange or yellow band implies green beyond it. Any other colour does not say
# which side is good.
_IMPLIED_BEYOND = {
    "green": "red",
    "red": "green",
    "orange": "green",
    "yellow": "green",
}


def _is_single_value(item: _Item) -> bool:
    """Return True for `X Color` and `X-X Color`."""
    if item.kind == "point":
        return True
    return item.kind == "range" and comparable(item.a, 0) == comparable(item.b, 0)


def _single_value(text: str, item: _Item) -> Thresholds:
    """Return the thresholds of a text of one value, such as `0 Green` or `0-0 Yellow`.

    The value takes the colour, and every other value the colour implied beyond it.
    A lone `5 Red` is an error, because it may mean 5 alone or every value from 5 up,
    and reading it as 5 alone would leave the values above 5 without an alert.
    """
    assert item.a is not None
    colour = item.color or "green"
    hue = colour_hue(colour)
    written = _colour_as_written(text, item)
    if item.kind == "point" and hue != "green":
        bands = f'write bands such as "<{item.a} Green, >={item.a} {written}"'
        # A value mapping takes no unit, so it is no fix for a value with one.
        mapping = (
            f', or a value mapping such as "{item.a}={written}"'
            if item.a.unit is None
            else ""
        )
        raise ThresholdError(
            f'"{shorten(text.strip())}" colours one value and leaves the others '
            f"without a colour; {bands}{mapping}",
            item.offset,
        )
    # An unknown colour has an error of its own, and a hex colour of no clear hue a
    # warning.
    if hue is not None and hue not in _IMPLIED_BEYOND:
        raise ThresholdError(
            f"a single {written} value does not say the colour of the values other "
            f'than {item.a}; write every band, such as "<{item.a} Green, '
            f'{item.a}-{item.a} {written}, >{item.a} Green"',
            item.offset,
        )
    others = _IMPLIED_BEYOND.get(hue or "green", "red")
    return Thresholds(
        text=text,
        bands=(Band(others),),
        exact_values=(ExactValue(item.a, colour),),
    )


def _single_band(text: str, item: _Item) -> Thresholds:
    """Return the thresholds of a text of one band with a bound, such as `>5 Red`."""
    assert item.a is not None
    colour = item.color or "green"
    hue = colour_hue(colour)
    # An unknown colour has an error of its own, and a hex colour of no clear hue a
    # warning.
    if hue is not None and hue not in _IMPLIED_BEYOND:
        written = _colour_as_written(text, item)
        if item.kind == "below" and item.inclusive:
            both = f"<={item.a} {written}, >{item.a} Red"
        elif item.kind == "below":
            both = f"<{item.a} {written}, >={item.a} Red"
        else:
            both = f"<{item.a} Green, >={item.a} {written}"
        raise ThresholdError(
            f"a single {written} band does not say the colour of the values "
            f'beyond {item.a}; write both bands, such as "{both}"',
            item.offset,
        )
    beyond = _IMPLIED_BEYOND.get(hue or "green", "red")
    if item.kind == "from":
        bands = (Band(beyond), Band(colour, lower=item.a))
        return Thresholds(text=text, bands=bands, capacity_of=item.capacity)
    bands = (Band(colour), Band(beyond, lower=item.a))
    # `<=5 Green` contains 5, which the step of the band beyond it starts at.
    exact = (ExactValue(item.a, colour),) if item.inclusive else ()
    return Thresholds(
        text=text, bands=bands, capacity_of=item.capacity, exact_values=exact
    )


def _step_quantity(value: Any, unit: str | None, path: ValuePath) -> Quantity:
    if isinstance(value, bool):
        raise ThresholdError("a step value must be a number", path=path)
    if isinstance(value, int | float):
        return Quantity(_written_number(value, path), unit)
    match = re.fullmatch(_quantity("a"), str(value).strip())
    if not match:
        raise ThresholdError(
            f'cannot read step value "{value}"; write a number such as 0.5 or 500ms',
            path=path,
        )
    quantity = _number(match, "a", path=path)
    return quantity if quantity.unit else _with_unit(quantity, unit)


def _written_number(value: int | float, path: ValuePath) -> float:
    """Return a number of a structured value; raise ThresholdError if out of range."""
    if isinstance(value, int):
        problem = integer_problem(value)
        if problem is not None:
            raise ThresholdError(f"the value {problem}", path=path)
    return _finite(float(value), path=path)


def _nested_shorthand(text: str, path: ValuePath) -> Thresholds:
    """Parse the shorthand at `path` of a structured value; errors point at `path`."""
    try:
        return parse_shorthand(text)
    except ThresholdError as exc:
        moved = [
            ThresholdError(str(problem), problem.offset, path)
            for problem in (exc, *exc.others)
        ]
        raise _combined(moved) from None


def _combined(problems: list[ThresholdError]) -> ThresholdError:
    """Return the first of `problems`, with the others and their own in its `others`."""
    first, *others = [
        each for problem in problems for each in (problem, *problem.others)
    ]
    first.others = tuple(others)
    return first


def _step_color(step: Any, index: int) -> tuple[Any, ValuePath]:
    """Return the colour of a step, written as a bare colour or as `{color: ...}`."""
    if isinstance(step, str):
        return step, ("steps", index)
    return step["color"], ("steps", index, "color")


def _structured_steps(data: dict[str, Any], unit: str | None) -> list[Band]:
    """Return the bands of the `steps` of `data`; raise every problem of them at once."""
    bands = []
    problems: list[ThresholdError] = []
    previous: Fraction | float = -math.inf
    for index, step in enumerate(data["steps"]):
        written, color_path = _step_color(step, index)
        try:
            color = _color(written, path=color_path)
        except ThresholdError as exc:
            # The steps' values are still checked, with the colour as written.
            problems.append(exc)
            color = written
        value = None if isinstance(step, str) else step.get("value")
        if index == 0:
            if value is not None:
                problems.append(
                    ThresholdError(
                        "the first step is the base and takes no value",
                        path=("steps", 0, "value"),
                    )
                )
            bands.append(Band(color))
            continue
        if value is None:
            problems.append(
                ThresholdError(f"step {index + 1} needs a value", path=("steps", index))
            )
            continue
        try:
            lower = _step_quantity(value, unit, ("steps", index, "value"))
        except ThresholdError as exc:
            problems.append(exc)
            continue
        lower = attrs.evolve(lower, offset=step_offset(index))
        if comparable(lower, 0) <= previous:
            problems.append(
                ThresholdError(
                    "steps must be in strictly ascending order of value",
                    path=("steps", index, "value"),
                )
            )
        previous = max(previous, comparable(lower, 0))
        bands.append(Band(color, lower=lower))
    if problems:
        raise _combined(problems)
    return bands


def parse_structured(data: dict[str, Any]) -> Thresholds:
    """Build thresholds from the mapping form (`steps`, `series`, `mappings`, `unit`).

    A ThresholdError carries the path of the invalid value inside `data`, and every
    other problem of `data` in its `others`.
    """
    problems: list[ThresholdError] = []
    parsed = Thresholds(text="")
    if "text" in data:
        try:
            parsed = _nested_shorthand(data["text"], ("text",))
        except ThresholdError as exc:
            problems.append(exc)
    unit = data.get("unit")
    bands = list(parsed.bands)
    if "steps" in data:
        try:
            bands = _structured_steps(data, unit)
        except ThresholdError as exc:
            problems.append(exc)
    series = list(parsed.series)
    for name, text in (data.get("series") or {}).items():
        try:
            inner = _nested_shorthand(text, ("series", name))
        except ThresholdError as exc:
            problems.append(exc)
            continue
        series.append(SeriesThreshold(name, inner.bands))
    mappings = list(parsed.mappings)
    # Grafana's value mappings contain one entry per value, so a second mapping of a
    # value would replace the first on the dashboard but still get its own alert.
    mapped = {mapping.value for mapping in mappings}
    for index, mapping in enumerate(data.get("mappings") or []):
        path = ("mappings", index, "value")
        try:
            value = _written_number(mapping["value"], path)
            colour = _color(mapping["color"], path=("mappings", index, "color"))
        except ThresholdError as exc:
            problems.append(exc)
            continue
        if value in mapped:
            problems.append(
                ThresholdError(
                    f"value {mapping['value']} is mapped twice, so remove one "
                    "of its mappings",
                    path=path,
                )
            )
            continue
        mapped.add(value)
        mappings.append(ValueMapping(value, colour, mapping.get("text", "")))
    if problems:
        raise _combined(problems)
    steps_from_mappings = parsed.steps_from_mappings and "steps" not in data
    # The exact values of a text belong to its bands, which `steps` replace.
    exact_values = () if "steps" in data else parsed.exact_values
    if mappings and "steps" not in data and not parsed.bands:
        bands = list(mapping_steps(sorted(mappings, key=lambda m: m.value)))
        steps_from_mappings = True
    if series and not bands:
        bands = [Band("green")]
    return Thresholds(
        text=parsed.text,
        bands=tuple(bands),
        series=tuple(series),
        mappings=tuple(sorted(mappings, key=lambda m: m.value)),
        capacity_of=parsed.capacity_of,
        steps_from_mappings=steps_from_mappings,
        exact_values=exact_values,
    )


def _text_colours(text: str, path: ValuePath) -> list[tuple[str, ValuePath, int]]:
    """Return `(colour, path, offset)` for each colour written in a threshold text."""
    return [(colour, path, offset) for colour, offset in _colours_of(text)]


@functools.lru_cache(maxsize=4096)
def _colours_of(text: str) -> tuple[tuple[str, int], ...]:
    """Return `(colour, offset)` for each colour of a valid threshold text, kept by text."""
    items = [_parse_item(part, offset) for part, offset in _split(text)]
    return tuple((item.color, item.color_offset) for item in items if item.color)


def _written_colours(value: Any) -> list[tuple[str, ValuePath, int]]:
    """Return `(colour, path, offset)` for each colour of a valid thresholds value.

    `path` is where the colour is inside a structured value, and `offset` is where
    it starts inside a threshold text.
    """
    if isinstance(value, str):
        return _text_colours(value, ())
    found = _text_colours(value["text"], ("text",)) if "text" in value else []
    for index, step in enumerate(value.get("steps") or []):
        written, path = _step_color(step, index)
        found.append((_color(written), path, 0))
    for name, text in (value.get("series") or {}).items():
        found += _text_colours(text, ("series", name))
    for index, mapping in enumerate(value.get("mappings") or []):
        found.append((_color(mapping["color"]), ("mappings", index, "color"), 0))
    return found


def read_thresholds(
    value: Any,
    location: Location,
    locate: Callable[[ValuePath], Location] | None = None,
    locate_text: Callable[[ValuePath, str, int], Location] | None = None,
) -> tuple[Thresholds | None, list[Diagnostic]]:
    """Parse a manifest's `thresholds` value; report problems at their position.

    `locate` returns where the value at a path inside a structured `value` starts.
    Without it, problems in a structured value are reported at `location`. Inside a
    threshold text that is part of a structured value, a problem is reported where the
    text starts. `locate_text(path, text, offset)` returns where character `offset`
    of the text at `path` is written, which quotes, escapes and block scalars move.
    The path of `value` itself is (). Without it, problems in a threshold text are
    reported at `location` shifted by their offset.

    The result records where each quantity of a threshold text, and each step value
    of a structured value, is written (see `Thresholds.quantity_locations`).
    """

    def position(path: ValuePath, offset: int) -> Location:
        if isinstance(value, str) and locate_text is not None:
            return locate_text((), value, offset)
        if isinstance(value, str):
            return location.shifted(offset)
        if locate is None or not path:
            return location
        return locate(path)

    try:
        if isinstance(value, str):
            parsed = _kept_shorthand(value)
        else:
            parsed = parse_structured(value)
    except ThresholdError as exc:
        return None, [
            error(position(problem.path, problem.offset), str(problem), CHECK)
            for problem in (exc, *exc.others)
        ]
    diagnostics = colour_warnings(value, position)
    quantity_locations = {}
    if isinstance(value, str):
        quantity_locations = {
            offset: position((), offset) for offset in _quantity_offsets(parsed)
        }
    elif locate is not None:
        quantity_locations = _step_locations(value, locate, locate_text)
    parsed = attrs.evolve(
        parsed, location=location, quantity_locations=quantity_locations
    )
    return parsed, diagnostics


def read_rejected_text(
    value: Any,
    location: Location,
    locate_text: Callable[[ValuePath, str, int], Location] | None = None,
) -> Thresholds | None:
    """Return the bounds of a threshold text that `read_thresholds` rejected, or None.

    A text whose items all read but whose bands are invalid, such as bands with a
    gap, still writes bounds. thresholds/unit checks them against the query's unit,
    so that the build reports both problems at once. The result has no bands, only
    `bounds`, `capacity_of` and where each bound is written. It is None for a
    structured value, and for a text with a comma in a number or with an item that
    cannot be read, because the bare numbers after it take units from it.
    """
    if not isinstance(value, str) or _COMMA_NUMBER.search(value):
        return None
    items = []
    for part, offset in _split(value):
        try:
            items.append(_parse_item(part, offset, []))
        except ThresholdError:
            return None
    bounds = tuple(
        quantity
        for item in _fill_units(items)
        if item.kind != "mapping"
        for quantity in (item.a, item.b)
        if quantity is not None
    )
    if not bounds:
        return None
    capacities = [item.capacity for item in items if item.capacity]
    quantity_locations = {}
    for bound in bounds:
        if bound.offset is None:
            continue
        if locate_text is not None:
            quantity_locations[bound.offset] = locate_text((), value, bound.offset)
        else:
            quantity_locations[bound.offset] = location.shifted(bound.offset)
    return Thresholds(
        text=value,
        capacity_of=capacities[0] if capacities else None,
        bounds=bounds,
        location=location,
        quantity_locations=quantity_locations,
    )


def _quantity_offsets(thresholds: Thresholds) -> set[int]:
    """Return the offsets of the quantities and series names that the text writes."""
    bands = [*thresholds.bands]
    for series in thresholds.series:
        bands.extend(series.bands)
    quantities = [band.lower for band in bands]
    quantities.extend(exact.value for exact in thresholds.exact_values)
    quantities.extend(thresholds.bounds)
    offsets = {
        quantity.offset
        for quantity in quantities
        if quantity is not None and quantity.offset is not None
    }
    offsets.update(s.offset for s in thresholds.series if s.offset is not None)
    return offsets


def _step_locations(
    value: dict[str, Any],
    locate: Callable[[ValuePath], Location],
    locate_text: Callable[[ValuePath, str, int], Location] | None,
) -> dict[int, Location]:
    """Return where each step of a valid structured `value` writes its value.

    The result is keyed by `step_offset`. A step value written as a string
    (`"500ms"`) is placed at its first character after any spaces, inside the quotes.
    """
    found: dict[int, Location] = {}
    for index, step in enumerate(value.get("steps") or []):
        written = step.get("value") if isinstance(step, dict) else None
        if written is None:
            continue
        path: ValuePath = ("steps", index, "value")
        if isinstance(written, str) and locate_text is not None:
            start = len(written) - len(written.lstrip())
            found[step_offset(index)] = locate_text(path, written, start)
        else:
            found[step_offset(index)] = locate(path)
    return found


def colour_warnings(
    value: Any, position: Callable[[ValuePath, int], Location]
) -> list[Diagnostic]:
    """Warn of each colour of a valid thresholds value that is neither red nor yellow.

    `position(path, offset)` gives where the colour at `path` and `offset` starts.
    """
    return [
        warning(
            position(path, offset),
            f'colour "{colour}" is neither clearly red nor clearly yellow, so no '
            "alert fires for the values shown in it; write a Grafana colour name "
            "(red, dark-red, yellow, green, blue, ...) instead",
            COLOUR_CHECK,
        )
        for colour, path, offset in _written_colours(value)
        if colour_hue(colour) is None
    ]
