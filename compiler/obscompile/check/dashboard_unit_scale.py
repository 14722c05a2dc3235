"""dashboard/unit-scale: a panel unit of another kind or scale than the query's values.

A unit of another kind, such as `ms` on a query in bytes, gets a warning only where
the query fixes its unit (see `certain_unit`), because derived units also fall back
on guesses such as `short`. `short`, `none` and the units of other quantities, such
as currencies, set no kind and get no warning of this kind.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import attrs

from obscompile.check.context import PanelContext
from obscompile.check.promql_unknown_metric import unknown_metrics
from obscompile.check.registry import check
from obscompile.derive.units import (
    PERCENT_UNITS,
    TIME_UNITS,
    certain_panel_unit,
    panel_unit,
)
from obscompile.diagnostics import Diagnostic, warning
from obscompile.grafana_units import GRAFANA_UNITS
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


# The values that the units of each kind show, in the words of the message.
_KIND_VALUES = {
    "time": "durations",
    "data": "data sizes",
    "data rate": "data rates",
    "percent": "percentages",
    "count": "counts",
}


def _kind(unit: str) -> str | None:
    """Return the kind of quantity that a written unit shows, or None for no kind.

    Grafana's descriptions of its data units start with `Data:` and those of its
    data rates with `Data rate:`.
    """
    if unit in TIME_UNITS:
        return "time"
    if unit in PERCENT_UNITS:
        return "percent"
    description = GRAFANA_UNITS.get(unit, "")
    if description.startswith("Data: "):
        return "data"
    if description.startswith("Data rate: "):
        return "data rate"
    return None


def _kind_problem(written: str, derived: str) -> str | None:
    """Return why the unit `written` shows values in `derived` as another kind, or None.

    `derived` is a unit that the query fixes, where `short` is a count.
    """
    written_kind = _kind(written)
    derived_kind = "count" if derived == "short" else _kind(derived)
    if written_kind is None or derived_kind is None or written_kind == derived_kind:
        return None
    return (
        f'unit "{written}" shows the values as {_KIND_VALUES[written_kind]}, but '
        f"the query gives {_KIND_VALUES[derived_kind]} (unit {derived}); "
        f"set unit: {derived}"
    )


@check(NAME, "a panel unit of another kind or scale than the query's values")
def unit_scale(context: PanelContext) -> Iterator[Diagnostic]:
    panel = context.panel
    if panel.unit is None or context.query.error is not None:
        return
    if unknown_metrics(context):
        return
    unwritten = attrs.evolve(panel, unit=None)
    problem = _problem(panel.unit, panel_unit(unwritten, context.service))
    if problem is None:
        certain = certain_panel_unit(unwritten, context.service)
        if certain is not None:
            problem = _kind_problem(panel.unit, certain)
    if problem is not None:
        yield warning(panel.location_of("unit"), problem, NAME)
