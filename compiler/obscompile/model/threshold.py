"""Thresholds as written in a manifest, before conversion to the panel's unit.

A band starts at its lower bound, inclusive, which is how Grafana colours a value:
the active step is the last one whose value is at or below the value. Bands are kept
in ascending order; the first band has no lower bound (Grafana's base step).
"""

from __future__ import annotations

import attrs

from obscompile.model.location import UNKNOWN, Location


@attrs.frozen
class Quantity:
    """A number with the unit it was written in: `%`, `ms`, `s`, or None for bare."""

    number: float
    unit: str | None = None

    def __str__(self) -> str:
        text = f"{self.number:g}"
        return f"{text}{self.unit}" if self.unit else text


@attrs.frozen
class Band:
    """One coloured band: from `lower` (inclusive) up to the next band's lower bound."""

    color: str
    lower: Quantity | None = None


@attrs.frozen
class ValueMapping:
    """A value that the panel shows as text in a colour (`1=Green` shows "Up")."""

    value: float
    color: str
    text: str


@attrs.frozen
class SeriesThreshold:
    """Bands that apply to one series, matched on its display name."""

    series: str
    bands: tuple[Band, ...]


@attrs.frozen
class Thresholds:
    """Everything a panel's thresholds say, in the units they were written in.

    `capacity_of` names the quantity a percentage refers to ("pool" in
    "<80% pool Green"); such percentages resolve against the panel's `capacity`.
    `steps_from_mappings` is True when the bands were not written but follow from the
    mappings (`1=Green, 0=Red` gives red below 1 and green from 1), so that values
    between the mapped ones take the colour of the mapping below them.
    """

    text: str
    bands: tuple[Band, ...] = ()
    series: tuple[SeriesThreshold, ...] = ()
    mappings: tuple[ValueMapping, ...] = ()
    capacity_of: str | None = None
    steps_from_mappings: bool = False
    location: Location = attrs.field(default=UNKNOWN, eq=False)

    @property
    def is_empty(self) -> bool:
        return not (self.bands or self.series or self.mappings)
