"""dashboard/unit-scale: a panel unit of another kind or scale than the query's values.

A unit of another kind, such as `ms` on a query in bytes, gets a warning only where
the query fixes its unit (see `certain_unit`), because derived units also fall back
on guesses such as `short`. `short`, `none` and the units of other quantities, such
as currencies, set no kind and get no warning of this kind.

A bare threshold is a number in the panel's unit, and the alert derived from it
compares that number with the query's values. So where the query fixes its unit,
each alert of the panel is an error at its threshold instead: `>2% Red` with
`unit: percent` on a ratio from 0 to 1 alerts at 200%.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import attrs

from obscompile.check.context import PanelContext
from obscompile.check.promql_unknown_metric import unknown_metrics
from obscompile.check.registry import check

# The module, not its names: derive.alerts imports the check package, which imports
# this module while derive.alerts is still loading.
from obscompile.derive import alerts
from obscompile.derive.annotations import Band, threshold_text
from obscompile.derive.thresholds import written_steps
from obscompile.derive.units import (
    PERCENT_UNITS,
    TIME_UNITS,
    certain_panel_unit,
    panel_unit,
)
from obscompile.diagnostics import Diagnostic, error, warning
from obscompile.grafana_units import data_kind
from obscompile.model.threshold import Quantity, colour_hue
from obscompile.numbers import number_text
from obscompile.render.grafana import PanelView

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


@attrs.frozen
class _Problem:
    """The reason that a written unit misreads the query's values, and the fitting unit.

    `scaling` is the other fix, a factor on the query, where one exists. `rescaled`
    is True where the written unit is of the query's kind but another scale. A bare
    threshold then keeps its meaning under the fitting unit once it is written with
    the written unit's symbol, such as `750ms`.
    """

    reason: str
    fitting: str
    scaling: str | None = None
    rescaled: bool = False

    def fixes(self, write: str = "") -> str:
        """Return the fixes; `write` is advice on the thresholds for the unit, or empty."""
        text = f"set unit: {self.fitting}{write}"
        return f"{text}, or {self.scaling}" if self.scaling else text

    def message(self) -> str:
        return f"{self.reason}; {self.fixes()}"


def _problem(written: str, derived: str) -> _Problem | None:
    """Return why the unit `written` misreads values in `derived`, or None."""
    if written in TIME_UNITS and derived in TIME_UNITS:
        factor = TIME_UNITS[derived] / TIME_UNITS[written]
        if factor == 1:
            return None
        example = 3600 if factor < 1 else 2
        reading = _FORMAT_READINGS.get(written, written)
        return _Problem(
            f'unit "{written}" reads the values as {reading}, but the query gives '
            f"{derived}, so Grafana shows {example} {derived} as {example} {reading}",
            _FORMAT_FOR_UNIT.get((written, derived), derived),
            _scaling(factor),
            rescaled=True,
        )
    if written in PERCENT_UNITS and derived in PERCENT_UNITS and written != derived:
        factor = PERCENT_UNITS[written] / PERCENT_UNITS[derived]
        return _Problem(
            f'unit "{written}" reads the values as {_PERCENT_READINGS[written]}, but '
            f"the query gives {_PERCENT_READINGS[derived]}",
            derived,
            _scaling(factor),
            rescaled=True,
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
    """Return the kind of quantity that a written unit shows, or None for no kind."""
    if unit in TIME_UNITS:
        return "time"
    if unit in PERCENT_UNITS:
        return "percent"
    return data_kind(unit)


def _kind_problem(written: str, derived: str) -> _Problem | None:
    """Return why the unit `written` shows values in `derived` as another kind, or None.

    `derived` is a unit that the query fixes, where `short` is a count.
    """
    written_kind = _kind(written)
    derived_kind = "count" if derived == "short" else _kind(derived)
    if written_kind is None or derived_kind is None or written_kind == derived_kind:
        return None
    return _Problem(
        f'unit "{written}" shows the values as {_KIND_VALUES[written_kind]}, but '
        f"the query gives {_KIND_VALUES[derived_kind]} (unit {derived})",
        derived,
    )


def _bound_at(view: PanelView, series: str | None, band: Band) -> Quantity | None:
    """Return the written threshold at the lower bound of `band`, else at its upper."""
    thresholds = view.panel.thresholds
    if thresholds is None:
        return None
    steps = [
        (step, bound)
        for owner, step, bound in written_steps(thresholds, view.thresholds)
        if owner == series and step.value is not None and bound is not None
    ]
    for step, bound in steps:
        if step.value == band.lower and colour_hue(step.color) == band.color:
            return bound
    for step, bound in steps:
        if band.upper is not None and step.value == band.upper:
            return bound
    return None


def _alert_errors(
    context: PanelContext, derived: str, problem: _Problem
) -> Iterator[Diagnostic]:
    """Yield an error for each alert of the panel, at its threshold.

    The thresholds are numbers in the written unit, and the alert compares them with
    the query's values in `derived`, so it fires at values of another scale or kind.
    """
    panel = context.panel
    written = panel.unit
    assert written is not None
    for name, named in alerts.panel_named_alerts(context.service, panel):
        band = named.band
        quantity = _bound_at(named.view, named.series, band)
        write = ""
        if problem.rescaled and quantity is not None and quantity.unit is None:
            meant = threshold_text(quantity.number, written)
            if meant != number_text(quantity.number):
                write = f" and write the threshold as {meant}"
        threshold = "" if quantity is None else f"threshold {quantity} ({band.color}): "
        yield error(
            panel.location_of("thresholds")
            if quantity is None
            else panel.bound_location(quantity),
            f"{threshold}alert {name} fires for values {band.words(derived)}, not "
            f"{band.words(written)} as the panel shows, because {problem.reason}; "
            f"{problem.fixes(write)}",
            NAME,
        )


@check(NAME, "a panel unit of another kind or scale than the query's values")
def unit_scale(context: PanelContext) -> Iterator[Diagnostic]:
    panel = context.panel
    if panel.unit is None or context.query.error is not None:
        return
    if unknown_metrics(context):
        return
    unwritten = attrs.evolve(panel, unit=None)
    derived = panel_unit(unwritten, context.service)
    certain = certain_panel_unit(unwritten, context.service)
    problem = _problem(panel.unit, derived)
    if problem is None and certain is not None:
        problem = _kind_problem(panel.unit, certain)
        derived = certain
    if problem is None:
        return
    # An alert compares the query's values with the thresholds in the written unit.
    # Where the query fixes its unit, the alert fires at values of another scale or
    # kind than the panel shows.
    if certain == derived:
        errors = list(_alert_errors(context, derived, problem))
        if errors:
            yield from errors
            return
    yield warning(panel.location_of("unit"), problem.message(), NAME)
