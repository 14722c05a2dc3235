"""Thresholds as written in a manifest, before conversion to the panel's unit.

A band starts at its lower bound, inclusive, which is how Grafana colours a value:
the active step is the last one whose value is at or below the value. Bands are kept
in ascending order; the first band has no lower bound (Grafana's base step).
"""

from __future__ import annotations

import colorsys
import re
from fractions import Fraction

import attrs

from obscompile.model.location import UNKNOWN, Location
from obscompile.numbers import javascript_text, number_text

# Grafana's named colours, as `getDarkHues`, `getLightHues` and `getColorByName` in
# Grafana's packages/grafana-data/src/themes/createVisualizationColors.ts define them:
# six hues, each in five shades, and a few special names.
HUES = ("red", "orange", "yellow", "green", "blue", "purple")
SHADE_PREFIXES = ("super-light-", "light-", "semi-dark-", "dark-")
# `gray` is a CSS colour name, which Grafana resolves too. `grey` is read as `gray`.
SPECIAL_COLOURS = ("transparent", "text", "panel-bg", "gray")
COLOUR_ALIASES = {"grey": "gray"}

# The hex value of every shade, in the dark and the light theme, by hue. The themes map
# a name to different values (red is #F2495C in the dark theme and #E02F44 in the
# light one), but each value belongs to one hue only.
PALETTE = {
    "red": ("FFA6B0", "FF7383", "F2495C", "E02F44", "C4162A", "AD0317"),
    "orange": ("FFCB7D", "FFB357", "FF9830", "FF780A", "FA6400", "E55400"),
    "yellow": ("FFF899", "FFEE52", "FADE2A", "F2CC0C", "E0B400", "CC9D00"),
    "green": ("C8F2C2", "96D98D", "73BF69", "56A64B", "37872D", "19730E"),
    "blue": ("C0D8FF", "8AB8FF", "5794F2", "3274D9", "1F60C4", "1250B0"),
    "purple": ("DEB6F2", "CA95E5", "B877D9", "A352CC", "8F3BB8", "7C2EA3"),
}
_PALETTE_HUES = {value: hue for hue, values in PALETTE.items() for value in values}

# A hex or rgb() colour that is not a palette value needs alpha, HSL saturation and
# HSL lightness within these limits to count as red or yellow. Its hue then decides,
# in degrees with the bounds included. Orange hues (22 to 36 degrees in the palette)
# lie between the red and the yellow range.
RED_HUES = ((0.0, 15.0), (345.0, 360.0))
YELLOW_HUES = ((40.0, 65.0),)
MIN_ALPHA = 0.5
MIN_SATURATION = 0.5
LIGHTNESS_RANGE = (0.25, 0.85)

_HEX = re.compile(r"#(?:[0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})")
_NUMBER = r"\s*(\d+(?:\.\d*)?|\.\d+)\s*"
_RGB = re.compile(rf"rgb\({_NUMBER},{_NUMBER},{_NUMBER}\)")
_RGBA = re.compile(rf"rgba\({_NUMBER},{_NUMBER},{_NUMBER},{_NUMBER}\)")


def named_colours() -> list[str]:
    """Return the colour names that thresholds accept, every shade included."""
    shades = [prefix + hue for hue in HUES for prefix in ("", *SHADE_PREFIXES)]
    return shades + list(SPECIAL_COLOURS)


def base_hue(name: str) -> str | None:
    """Return the hue of a named shade (`red` for `semi-dark-red`), or None."""
    for prefix in ("", *SHADE_PREFIXES):
        if name.startswith(prefix) and name[len(prefix) :] in HUES:
            return name[len(prefix) :]
    return None


def colour_rgba(colour: str) -> tuple[float, float, float, float] | None:
    """Return red, green, blue and alpha (0 to 1) of a hex or rgb() colour, or None.

    The forms are `#rgb`, `#rgba`, `#rrggbb`, `#rrggbbaa`, `rgb(r, g, b)` and
    `rgba(r, g, b, a)` with r, g and b from 0 to 255 and a from 0 to 1.
    """
    text = colour.lower()
    if _HEX.fullmatch(text):
        digits = text[1:]
        if len(digits) in (3, 4):
            digits = "".join(digit * 2 for digit in digits)
        channels = [int(digits[i : i + 2], 16) / 255 for i in range(0, len(digits), 2)]
        alpha = channels[3] if len(channels) == 4 else 1.0
        return channels[0], channels[1], channels[2], alpha
    found = _RGB.fullmatch(text) or _RGBA.fullmatch(text)
    if found is None:
        return None
    numbers = [float(group) for group in found.groups()]
    red, green, blue = numbers[:3]
    alpha = numbers[3] if len(numbers) == 4 else 1.0
    if max(red, green, blue) > 255 or alpha > 1:
        return None
    return red / 255, green / 255, blue / 255, alpha


def _in_ranges(hue: float, ranges: tuple[tuple[float, float], ...]) -> bool:
    return any(low <= hue <= high for low, high in ranges)


def colour_hue(colour: str) -> str | None:
    """Return the hue that a panel shows `colour` in, for alerting.

    A named shade gives its hue (`dark-red` is red), and a special name gives itself
    (`transparent`). A hex or rgb() colour gives the hue of the palette shade with its
    value, else red or yellow by `RED_HUES` and `YELLOW_HUES`, else None: the
    colour is then neither clearly red nor clearly yellow.
    """
    if colour in SPECIAL_COLOURS:
        return colour
    named = base_hue(colour)
    if named is not None:
        return named
    rgba = colour_rgba(colour)
    if rgba is None:
        return None
    red, green, blue, alpha = rgba
    if alpha < MIN_ALPHA:
        return None
    hex_value = "".join(f"{round(channel * 255):02X}" for channel in (red, green, blue))
    if hex_value in _PALETTE_HUES:
        return _PALETTE_HUES[hex_value]
    hue, lightness, saturation = colorsys.rgb_to_hls(red, green, blue)
    low, high = LIGHTNESS_RANGE
    if saturation < MIN_SATURATION or not low <= lightness <= high:
        return None
    degrees = hue * 360
    if _in_ranges(degrees, RED_HUES):
        return "red"
    if _in_ranges(degrees, YELLOW_HUES):
        return "yellow"
    return None


# Seconds per time unit of a threshold: Prometheus' duration units, from y (365
# days, as Prometheus counts a year) down to ms, and ns and us (also written µs).
TIME_SECONDS: dict[str, Fraction] = {
    "y": Fraction(365 * 86400),
    "w": Fraction(7 * 86400),
    "d": Fraction(86400),
    "h": Fraction(3600),
    "m": Fraction(60),
    "s": Fraction(1),
    "ms": Fraction(1, 10**3),
    "us": Fraction(1, 10**6),
    "µs": Fraction(1, 10**6),
    "ns": Fraction(1, 10**9),
}


@attrs.frozen
class Quantity:
    """A number with the unit it was written in: `%`, a time unit, or None for bare.

    `written` is the quantity as the text spells it, unit included (`1e6`, `0.50%`,
    `1m30s`), so that messages quote it as written. It is empty for a quantity that
    no text spells, such as a step value that YAML reads as a number. A duration of
    several units (`1m30s`) is held in ms, and `last_unit` is its last unit, the one
    that a bare number continuing it takes (`s`). `offset` keys the quantity's
    position in `Thresholds.quantity_locations`. It is where the threshold text
    writes the quantity, `step_offset(index)` for the value of a structured step,
    and None for a quantity that code builds.
    """

    number: float
    unit: str | None = None
    written: str = attrs.field(default="", eq=False)
    last_unit: str | None = attrs.field(default=None, eq=False)
    offset: int | None = attrs.field(default=None, eq=False)

    @property
    def carried_unit(self) -> str | None:
        """Return the unit that a bare number continuing this quantity takes."""
        return self.last_unit or self.unit

    def __str__(self) -> str:
        if self.written:
            return self.written
        text = number_text(self.number)
        return f"{text}{self.unit}" if self.unit else text


def step_offset(index: int) -> int:
    """Return the `Quantity.offset` of the value of step `index` of a structured value.

    The offsets of a threshold text start at 0, so a step's offset is negative and
    never keys the position of a character of a text in the same thresholds.
    """
    return -1 - index


@attrs.frozen
class Band:
    """One coloured band: from `lower` (inclusive) up to the next band's lower bound."""

    color: str
    lower: Quantity | None = None


@attrs.frozen
class ExactValue:
    """A value that a band contains alone or as its upper bound, in its written unit.

    The 0 of `0 Green, >0 Red` and of `<=0 Green` is one: Grafana's steps start at
    their value, so the next band's step would take 0. The panel colours it with a
    value mapping instead.
    """

    value: Quantity
    color: str


@attrs.frozen
class ValueMapping:
    """A value that the panel shows as text in a colour (`1=Green` shows "Up")."""

    value: float
    color: str
    text: str

    @property
    def key(self) -> str:
        """Return the value as Grafana's value mappings match it: JavaScript's text.

        Grafana looks a value up by `String(value)`, so the key of 1234567 is
        `1234567`, and that of 1e21 is `1e+21`.
        """
        return javascript_text(self.value)


@attrs.frozen
class SeriesThreshold:
    """Bands that apply to one series, matched on its display name.

    `offset` is where the threshold text writes the name, and None for a name that
    no text writes, such as a key of the structured form.
    """

    series: str
    bands: tuple[Band, ...]
    offset: int | None = attrs.field(default=None, eq=False)


@attrs.frozen
class Thresholds:
    """Everything a panel's thresholds say, in the units they were written in.

    `capacity_of` names the quantity a percentage refers to ("pool" in
    "<80% pool Green"); such percentages resolve against the panel's `capacity`.
    `steps_from_mappings` is True when the bands were not written but follow from the
    mappings (see `obscompile.load.thresholds.mapping_steps`). `exact_values` are the
    values that a band contains alone or as its upper bound (`<=0 Green`), which the
    panel colours with value mappings. `bounds` are the bounds that a threshold text
    writes, in the order of the text, upper bounds included: `<70` bounds the base
    band, which has no step. `quantity_locations` gives where each quantity and
    each series name of a threshold text, and each step value of the structured
    form, is written, by its `offset`.
    """

    text: str
    bands: tuple[Band, ...] = ()
    series: tuple[SeriesThreshold, ...] = ()
    mappings: tuple[ValueMapping, ...] = ()
    capacity_of: str | None = None
    steps_from_mappings: bool = False
    exact_values: tuple[ExactValue, ...] = ()
    bounds: tuple[Quantity, ...] = ()
    location: Location = attrs.field(default=UNKNOWN, eq=False)
    quantity_locations: dict[int, Location] = attrs.field(factory=dict, eq=False)

    @property
    def is_empty(self) -> bool:
        return not (self.bands or self.series or self.mappings)
