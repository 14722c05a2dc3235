"""Build the thresholds/unit message for a threshold in % or a time unit that the
panel's unit cannot express.

Where the manifest or the query fixes the unit (`known_panel_unit`), the message
names what the values are and how to write the bound in their unit, because setting
`unit:` to fit the threshold would mislabel the panel. Only where the unit is
unknown does it suggest setting `unit:`.
"""

from __future__ import annotations

from obscompile.derive.units import (
    PERCENT_UNITS,
    TIME_UNITS,
    UnitMismatch,
    certain_panel_unit,
    known_panel_unit,
)
from obscompile.diagnostics import shorten
from obscompile.grafana_units import data_kind
from obscompile.model.panel import Panel
from obscompile.model.service import Service
from obscompile.model.threshold import Quantity
from obscompile.numbers import number_text

# The values of a panel in each unit, in the words of the message.
_VALUES = {
    "ns": "durations in nanoseconds",
    "µs": "durations in microseconds",
    "us": "durations in microseconds",
    "ms": "durations in milliseconds",
    "s": "durations in seconds",
    "m": "durations in minutes",
    "h": "durations in hours",
    "d": "durations in days",
    "percent": "percentages from 0 to 100",
    "percentunit": "ratios from 0 to 1",
    "bytes": "data sizes in bytes",
    "decbytes": "data sizes in bytes",
    "Bps": "data rates in bytes per second",
    "ops": "rates per second",
    "reqps": "requests per second",
    "opm": "rates per minute",
    "reqpm": "requests per minute",
    # A unit that the query fixes as `short` is a count of series, changes or samples.
    "short": "counts",
}

# How to write a bound in each unit. Thresholds take no byte units, so a data size
# is a number of bytes.
_BOUNDS = {
    "bytes": "a number of bytes, such as 1073741824 for 1 GiB, because thresholds "
    "take no byte units",
    "decbytes": "a number of bytes, such as 1000000000 for 1 GB, because thresholds "
    "take no byte units",
    "Bps": "a number of bytes per second, such as 1048576 for 1 MiB/s, because "
    "thresholds take no byte units",
    "ops": "a number per second, such as 5",
    "reqps": "a number of requests per second, such as 5",
    "opm": "a number per minute, such as 5",
    "reqpm": "a number of requests per minute, such as 5",
    "short": "a count, such as 5",
}


def mismatch_message(exc: UnitMismatch, panel: Panel, service: Service | None) -> str:
    """Return the message of `exc`, with the fix that fits what the unit is."""
    quantity, unit = exc.quantity, exc.unit
    assert quantity is not None
    start = f"threshold {quantity} is {exc.kind}, but"
    certain = certain_panel_unit(panel, service)
    if panel.unit is not None and certain is not None and _expresses(certain, quantity):
        return (
            f"{start} the panel's unit is {_unit_text(unit)}, while the query gives "
            f"{_values(certain)} (unit {certain}); set unit: {certain}"
        )
    known = known_panel_unit(panel, service)
    if known is None:
        if panel.unit is not None:
            subject = f"the panel's unit is {shorten(unit)}"
        elif unit in ("short", "none"):
            subject = f"the query's unit is unknown (unit {unit})"
        else:
            subject = f"the query's unit is uncertain (the panel shows it in {unit})"
        return f"{start} {subject}; {_set_unit(quantity)}"
    if panel.unit is not None:
        subject = f"the panel's unit is {_unit_text(known)}"
    else:
        subject = f"the query gives {_values(known)} (unit {known})"
    return f"{start} {subject}; write the bound as {_bound(quantity, known)}"


def _expresses(unit: str, quantity: Quantity) -> bool:
    """Return True where a panel in `unit` takes the quantity's unit."""
    if quantity.unit == "%":
        return unit in PERCENT_UNITS
    return unit in TIME_UNITS


def _values(unit: str) -> str:
    """Return what the values of a panel in `unit` are, such as `durations in seconds`."""
    if unit in _VALUES:
        return _VALUES[unit]
    if unit in TIME_UNITS:
        return "durations"
    kind = data_kind(unit)
    if kind == "data":
        return "data sizes"
    if kind == "data rate":
        return "data rates"
    return f"values in {shorten(unit)}"


def _unit_text(unit: str) -> str:
    """Return a written unit with what its values are: `bytes (data sizes in bytes)`.

    A written `short` or `none` gives no kind of value, so it gets no description.
    """
    values = _values(unit)
    if unit in ("short", "none") or values.startswith("values in "):
        return shorten(unit)
    return f"{shorten(unit)} ({values})"


def _bound(quantity: Quantity, unit: str) -> str:
    """Return how to write the bound `quantity` meant for a panel in `unit`."""
    # The written number makes the example where it can be a percentage.
    number = quantity.number if 0 < quantity.number <= 100 else 99
    if unit == "percent":
        return f"a percentage, such as {number_text(number)}%, or as a number from 0 to 100"
    if unit == "percentunit":
        return (
            f"a percentage, such as {number_text(number)}%, or as a ratio from 0 to 1, "
            f"such as {number_text(number / 100)}"
        )
    if unit in TIME_UNITS:
        return f"a duration, such as 500ms or 2s, which the build converts to {unit}"
    if unit in _BOUNDS:
        return _BOUNDS[unit]
    return f"a number in {shorten(unit)}"


def _set_unit(quantity: Quantity) -> str:
    """Return the advice to set `unit:` for a query whose unit is unknown."""
    if quantity.unit == "%":
        return (
            "set unit: percent if the query gives percentages from 0 to 100, or "
            "percentunit if it gives ratios from 0 to 1"
        )
    return "set unit: to the time unit of the query, such as s or ms, if it gives durations"
