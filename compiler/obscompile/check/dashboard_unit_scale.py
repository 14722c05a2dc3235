"""dashboard/unit-scale: a panel unit on another scale than the query's values."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import attrs

from obscompile.check.context import PanelContext
from obscompile.check.promql_unknown_metric import unknown_metrics
from obscompile.check.registry import check
from obscompile.derive.units import PERCENT_UNITS, TIME_UNITS, panel_unit
from obscompile.diagnostics import Diagnostic, warning
from obscompile.numbers import number_text

NAME = "dashboard/unit-scale"

# The values that each percent unit expects, in the words of the message.
_PERCENT_READINGS = {
    "percent": "percentages from 0 to 100",
    "percentunit": "ratios from 0 to 1",
}

# The unit in which each of Grafana's duration and clock formats reads values.
_FORMAT_READINGS = {
    "dtdurationms": "ms",
    "dtdurations": "s",
    "dthms": "s",
    "dtdhms": "s",
    "clockms": "ms",
    "clocks": "s",
    "timeticks": "hundredths of a second",
}
# The format that shows the same text as the written one for values in another unit.
_FORMAT_FOR_UNIT = {
    ("dtdurationms", "s"): "dtdurations",
    ("dtdurations", "ms"): "dtdurationms",
    ("clockms", "s"): "clocks",
    ("clocks", "ms"): "clockms",
}


def _scaling(factor: Fraction) -> str:
    """Return the advice to scale a query by `factor`, as multiplication or division."""
    if factor >= 1:
        return f"multiply the query by {number_text(float(factor))}"
    return f"divide the query by {number_text(float(1 / factor))}"


def _problem(written: str, derived: str) -> str | None:
    """Return why the unit `written` misreads values in `derived`, or None."""
    if written in TIME_UNITS and derived in TIME_UNITS:
        factor = TIME_UNITS[derived] / TIME_UNITS[written]
        if factor == 1:
            return None
        example = 3600 if factor < 1 else 2
        reading = _FORMAT_READINGS.get(written, written)
        fitting = _FORMAT_FOR_UNIT.get((written, derived), derived)
        return (
            f'unit "{written}" reads the values as {reading}, but the query gives '
            f"{derived}, so Grafana shows {example} {derived} as {example} {reading}; "
            f"set unit: {fitting}, or {_scaling(factor)}"
        )
    if written in PERCENT_UNITS and derived in PERCENT_UNITS and written != derived:
        factor = PERCENT_UNITS[written] / PERCENT_UNITS[derived]
        return (
            f'unit "{written}" reads the values as {_PERCENT_READINGS[written]}, but '
            f"the query gives {_PERCENT_READINGS[derived]}; set unit: {derived}, or "
            f"{_scaling(factor)}"
        )
    return None


@check(NAME, "a panel unit on another time or percent scale than the query's values")
def unit_scale(context: PanelContext) -> Iterator[Diagnostic]:
    panel = context.panel
    if panel.unit is None or context.query.error is not None:
        return
    if unknown_metrics(context):
        return
    derived = panel_unit(attrs.evolve(panel, unit=None), context.service)
    problem = _problem(panel.unit, derived)
    if problem is not None:
        yield warning(panel.location_of("unit"), problem, NAME)
