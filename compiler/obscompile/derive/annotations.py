"""Alert bands, and the text of alert annotations: value formats and default wording."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import attrs

from obscompile.derive.gorender import escape_text
from obscompile.derive.thresholds import Step
from obscompile.derive.units import TIME_UNITS
from obscompile.model.threshold import colour_hue
from obscompile.numbers import number_text

# The format of `{{ $value }}` for each panel unit. Other units use `humanize`, and
# data units use `data_value_template`.
VALUE_FORMATS = {
    "s": "{{ $value | humanizeDuration }}",
    "percent": '{{ printf "%.2f" $value }}%',
    "percentunit": "{{ $value | humanizePercentage }}",
}


def _data_units() -> dict[str, tuple[str, int, int]]:
    """Return Grafana's data units and data rates, each with its symbol and scale.

    The scale is the base of the unit's prefixes and the power of the base that one
    unit of the query is: kbytes counts KiB, so it is 1024 to the power 1.
    """
    units = {
        "bytes": ("B", 1024, 0),
        "decbytes": ("B", 1000, 0),
        "bits": ("b", 1024, 0),
        "decbits": ("b", 1000, 0),
        "binBps": ("B/s", 1024, 0),
        "Bps": ("B/s", 1000, 0),
        "binbps": ("b/s", 1024, 0),
        "bps": ("b/s", 1000, 0),
    }
    for power, letter in enumerate("KMGTP", 1):
        units[f"{letter.lower()}bytes"] = ("B", 1024, power)
        units[f"dec{letter.lower()}bytes"] = ("B", 1000, power)
        units[f"{letter}iBs"] = ("B/s", 1024, power)
        units[f"{letter}ibits"] = ("b/s", 1024, power)
        units[f"{letter}Bs"] = ("B/s", 1000, power)
        units[f"{letter}bits"] = ("b/s", 1000, power)
    return units


DATA_UNITS = _data_units()
# The prefixes of each base, as Grafana's binaryPrefix and SIPrefix write a value
# (packages/grafana-data/src/valueFormats/symbolFormatters.ts): a space, the prefix
# and the symbol, such as `1 GiB`, `500 MB` or `2 Mib/s`.
DATA_PREFIXES = {
    1024: ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"),
    1000: ("", "k", "M", "G", "T", "P", "E", "Z", "Y"),
}
DEFAULT_VALUE_FORMAT = "{{ $value | humanize }}"
# Grafana's units of minutes, hours and days, which a value shows with its unit
# because humanizeDuration reads seconds.
LONG_TIME_UNITS = frozenset({"m", "h", "d"})


def value_template(unit: str) -> str:
    """Return the format of `{{ $value }}` for `unit`, which formats of seconds share."""
    if unit not in VALUE_FORMATS and TIME_UNITS.get(unit) == 1:
        return VALUE_FORMATS["s"]
    if unit in LONG_TIME_UNITS:
        return f'{{{{ printf "%.2f" $value }}}}{unit}'
    if unit in DATA_UNITS:
        return data_value_template(unit)
    return VALUE_FORMATS.get(unit, DEFAULT_VALUE_FORMAT)


def data_value_template(unit: str) -> str:
    """Return the format of `{{ $value }}` in one of Grafana's data units.

    A value in bytes or bits takes a prefix as Grafana gives it one: humanize1024
    divides by 1024 as Grafana's IEC units do, and humanize by 1000 as its SI
    units do. Each writes the prefix right after the number, so the symbol follows
    it (`1GiB`, `1GB`, `512B`). Both read the value as a count of the unit without
    a prefix, so a value of a larger unit such as `gbytes` or `MiBs` is written
    with two decimals and that unit's symbol (`2.00 GiB`, `1.50 MiB/s`).
    """
    symbol, base, power = DATA_UNITS[unit]
    if power:
        return f'{{{{ printf "%.2f" $value }}}} {DATA_PREFIXES[base][power]}{symbol}'
    humanize = "humanize1024" if base == 1024 else "humanize"
    return f"{{{{ $value | {humanize} }}}}{symbol}"


def decimal_text(value: float) -> str:
    """Return the shortest decimal text of a double, without exponent (`0.05`).

    This is for input data, such as a series value of a test, which must be exact
    whatever reads it. A message or an annotation uses `numbers.number_text`.
    """
    text = format(Decimal(repr(value)).normalize(), "f")
    return text


def bound_text(value: float, unit: str) -> str:
    """Return a threshold in the panel's unit as a reader writes it (`5%`, `0.5s`).

    The number is the shortest that reads back as the same double, in exponent
    notation only when very large or very small (`1e300s`).
    """
    if unit == "percent":
        return number_text(value) + "%"
    if unit == "percentunit":
        return number_text(float(Decimal(repr(value)) * 100)) + "%"
    if unit in LONG_TIME_UNITS:
        return number_text(value) + unit
    # Grafana's duration and clock formats read seconds or milliseconds too.
    scale = TIME_UNITS.get(unit)
    if scale == 1:
        return duration_text(value)
    if scale == Fraction(1, 1000):
        if 1000 <= abs(value) < 10**14 and value % 1 == 0:
            # A whole number of milliseconds has at most three decimals in
            # seconds, so the text is exact: 1500 is `1.5s` and 60000 `1m`.
            return duration_text(value / 1000)
        return number_text(value) + "ms"
    if unit in DATA_UNITS:
        return data_text(value, unit)
    return number_text(value)


# The units of a duration in a threshold text above the second, largest first.
_DURATION_UNITS = (("d", 86400), ("h", 3600), ("m", 60))


def duration_text(seconds: float) -> str:
    """Return a bound in seconds as a threshold text writes it: `7d`, `26h`, `15m`.

    The largest unit that counts the bound in whole units writes it, so 5400 seconds
    is `90m` and 90 seconds `90s`. A bound from 1 ms to 1 s is written in
    milliseconds where that reads back as the bound (`200ms`), and any other bound
    in seconds (`1.5s`, `1e300s`).
    """
    if math.isfinite(seconds) and seconds != 0:
        exact = Fraction(seconds)
        for symbol, size in _DURATION_UNITS:
            count = exact / size
            if 1 <= abs(count) < 10**15 and count.denominator == 1:
                return f"{count.numerator}{symbol}"
        if 0.001 <= abs(seconds) < 1:
            millis = number_text(float(Decimal(repr(seconds)) * 1000))
            if float(Decimal(millis) / 1000) == seconds:
                return millis + "ms"
    return number_text(seconds) + "s"


def threshold_text(value: float, unit: str) -> str:
    """Return a bound as a threshold text writes it, which takes no data units."""
    if unit in DATA_UNITS:
        return number_text(value)
    return bound_text(value, unit)


def data_text(value: float, unit: str) -> str:
    """Return a bound in one of Grafana's data units, as a reader writes it.

    The prefix is the one at or above the unit's own whose number has the fewest
    significant digits, or the larger of two with as many. So 1073741824 bytes is
    `1 GiB`, 1610612736 bytes `1.5 GiB` and 500000000 decbytes `500 MB`. The number
    times the prefix reads back as the bound, as a number of `number_text` does.
    A bound that no larger prefix writes in fewer digits keeps the unit's own:
    1000000000 bytes is `1000000000 B`, where Grafana shows a rounded 954 MiB.
    """
    symbol, base, power = DATA_UNITS[unit]
    prefixes = DATA_PREFIXES[base]
    best, best_power = number_text(value), power
    if not math.isfinite(value):
        return f"{best} {prefixes[power]}{symbol}"
    fewest = _significant_digits(best)
    for larger in range(power + 1, len(prefixes)):
        factor = base ** (larger - power)
        scaled = value / factor
        if abs(scaled) < 1:
            break
        text = number_text(scaled)
        digits = _significant_digits(text)
        # A quotient that the division rounded does not read back as the bound.
        if digits <= fewest and _reads_back(text, factor, value):
            best, best_power, fewest = text, larger, digits
    return f"{best} {prefixes[best_power]}{symbol}"


def _significant_digits(text: str) -> int:
    return len(Decimal(text).normalize().as_tuple().digits)


def _reads_back(text: str, factor: int, value: float) -> bool:
    """Return True when the number `text` times `factor` is the double `value`."""
    try:
        return float(Fraction(text) * factor) == value
    except OverflowError:
        # The product is beyond the largest double, so it is not `value`.
        return False


@attrs.frozen
class Band:
    """A range of values that a panel shows in one hue, in the query's unit.

    `color` is the hue (red, yellow), whichever shade or hex value the panel uses.

    `lower` is inclusive and `upper` exclusive, as Grafana colours a value; `equals`
    is set instead for a value mapping, which matches one value exactly. `excluded`
    are values inside the range that a value mapping colours instead, since a mapping
    takes precedence over the threshold steps for the value it matches.
    `upper_included` is True where a value mapping gives the upper bound the band's
    own hue (`<=0.3 Red`), so the band ends at that value, inclusive.
    """

    color: str
    lower: float | None = None
    upper: float | None = None
    equals: float | None = None
    excluded: tuple[float, ...] = ()
    upper_included: bool = False

    def contains(self, value: float) -> bool:
        if self.equals is not None:
            return value == self.equals
        if value in self.excluded:
            return False
        if self.lower is not None and not value >= self.lower:
            return False
        if self.upper is None:
            return True
        return value <= self.upper if self.upper_included else value < self.upper

    def condition(self, expr: str) -> str:
        """Return the PromQL filter that keeps exactly the values inside the band."""
        from obscompile.derive.expressions import number_text

        if self.equals is not None:
            return f"{expr} == {number_text(self.equals)}"
        parts = []
        if self.lower is not None:
            operator = ">" if self._lower_excluded else ">="
            parts.append(f"{expr} {operator} {number_text(self.lower)}")
        if self.upper is not None:
            operator = "<=" if self.upper_included else "<"
            parts.append(f"{expr} {operator} {number_text(self.upper)}")
        parts += [f"{expr} != {number_text(value)}" for value in self._inner_excluded]
        return " and ".join(parts)

    def words(self, unit: str) -> str:
        """Describe the band in words: `at or above 5%`, `below 95%`, `equal to 0`."""
        if self.equals is not None:
            return f"equal to {bound_text(self.equals, unit)}"
        others = ", ".join(bound_text(value, unit) for value in self._inner_excluded)
        if self.lower is None and self.upper is None:
            return f"other than {others}"
        parts = []
        if self.lower is not None:
            above = "above" if self._lower_excluded else "at or above"
            parts.append(f"{above} {bound_text(self.lower, unit)}")
        if self.upper is not None:
            below = "at or below" if self.upper_included else "below"
            parts.append(f"{below} {bound_text(self.upper, unit)}")
        text = " and ".join(parts)
        if others:
            text += f", except {others}"
        return text

    @property
    def _lower_excluded(self) -> bool:
        """Return True when a mapping takes the band's lower bound (`0 Green, >0 Red`)."""
        return self.lower is not None and self.lower in self.excluded

    @property
    def _inner_excluded(self) -> tuple[float, ...]:
        """Return the excluded values other than the lower bound."""
        return tuple(
            value
            for value in self.excluded
            if not (self._lower_excluded and value == self.lower)
        )

    @property
    def bounds(self) -> tuple[float, ...]:
        """Return the boundaries where the colour changes.

        A band over every value but the mapped ones changes colour at each of those.
        """
        if self.equals is not None:
            return (self.equals,)
        if self.lower is None and self.upper is None:
            return self.excluded
        return tuple(b for b in (self.lower, self.upper) if b is not None)


def bands_from_steps(
    steps: tuple[Step, ...], color: str, mapped_otherwise: bool = False
) -> list[Band]:
    """Return the bands of the hue `color`: from each such step up to the next step.

    A step belongs to the hue that `colour_hue` gives its colour, so `dark-red` and
    `#f2495c` steps are red bands. A single step of the hue is a band only where
    `mapped_otherwise` says that value mappings show some values in another hue.
    """
    bands = []
    for index, step in enumerate(steps):
        if colour_hue(step.color) != color:
            continue
        upper = steps[index + 1].value if index + 1 < len(steps) else None
        lower = None if step.value is None else float(step.value)
        if lower is None and upper is None and not mapped_otherwise:
            # A panel whose only colour is this one does not colour by value.
            continue
        bands.append(Band(color, lower, None if upper is None else float(upper)))
    return bands


def summary_text(
    service_title: str, panel_title: str, unit: str, labels: tuple[str, ...]
) -> str:
    """Return the default summary template of an alert.

    The labels are listed by name, so that two panels that group by the same labels
    in another order, or a raw selector and a `by (...)`, name them alike.
    """
    value = value_template(unit)
    text = f"{escape_text(service_title)}: {escape_text(panel_title)} is {value}"
    if labels:
        text += " for " + ", ".join(
            f"{label} {{{{ $labels.{label} }}}}" for label in sorted(labels)
        )
    return text


def description_text(
    panel_description: str,
    panel_title: str,
    dashboard_title: str,
    band: Band,
    unit: str,
    colour: str,
) -> str:
    """Return the default description template of an alert."""
    lead = panel_description.strip()
    if lead and not lead.endswith((".", "!", "?")):
        lead += "."
    text = (
        f"The value {value_template(unit)} is in the {colour} band "
        f"({band.words(unit)}) "
        f'of panel "{escape_text(panel_title)}" '
        f'on dashboard "{escape_text(dashboard_title)}".'
    )
    return f"{escape_text(lead)} {text}" if lead else text
