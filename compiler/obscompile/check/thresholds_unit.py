"""thresholds/unit: thresholds that the panel's unit cannot express."""

from __future__ import annotations

from collections.abc import Iterator

from obscompile.check.context import PanelContext
from obscompile.check.promql_unknown_metric import unknown_metrics
from obscompile.check.registry import check
from obscompile.check.unit_advice import mismatch_message
from obscompile.derive.thresholds import convert_bounds, resolve
from obscompile.derive.units import (
    UnitError,
    UnitMismatch,
    certain_panel_unit,
    panel_unit,
)
from obscompile.diagnostics import Diagnostic, error, warning
from obscompile.model.threshold import Thresholds
from obscompile.numbers import number_text

NAME = "thresholds/unit"


@check(NAME, "thresholds in % or a time unit that the panel's unit cannot express")
def threshold_unit(context: PanelContext) -> Iterator[Diagnostic]:
    panel = context.panel
    # A text whose bands are invalid, such as bands with a gap, still has bounds to
    # check, so that its problems are reported at once.
    thresholds = panel.thresholds or panel.rejected_thresholds
    if thresholds is None:
        return
    # A unit derived from a query that does not parse, or that reads a metric no
    # catalog declares, means nothing. promql/syntax or promql/unknown-metric
    # reports such a query instead.
    if panel.unit is None and (
        context.query.error is not None or unknown_metrics(context)
    ):
        return
    unit = panel_unit(panel, context.service)
    try:
        if panel.thresholds is None:
            convert_bounds(thresholds, unit, panel.capacity)
        else:
            resolve(thresholds, unit, panel.capacity)
    except UnitError as exc:
        location = (
            panel.location_of("thresholds")
            if exc.quantity is None
            else panel.bound_location(exc.quantity)
        )
        message = str(exc)
        if isinstance(exc, UnitMismatch):
            message = mismatch_message(exc, panel, context.service)
        yield error(location, message, NAME)
        return
    if unit == "percentunit" and thresholds.capacity_of is None:
        # A query that fixes its unit gives 0 to 1, so `unit: percent` would
        # mislabel it. One that does not may give 0 to 100.
        fixed = panel.unit is None and certain_panel_unit(panel, context.service)
        yield from _bare_numbers_above_one(context, thresholds, bool(fixed))


def _bare_numbers_above_one(
    context: PanelContext, thresholds: Thresholds, fixed: bool
) -> Iterator[Diagnostic]:
    """Warn of each bare bound above 1 on a panel whose values are 0 to 1.

    `<70 Green` on a percentunit panel turns red at 7000%, so the text most likely
    means 70%. Every bound counts, upper bounds too: `<70 Green, 70%-90% Yellow`
    colours as intended but writes 70 where it means 70%. Each number is warned of
    once, where the text first writes it. A structured thresholds value has no
    text, so its step values are not warned of. `fixed` is True where the query
    fixes its unit as percentunit, so the warning suggests no other unit.
    """
    warned: set[float] = set()
    for quantity in thresholds.bounds:
        if (
            quantity.unit is not None
            or quantity.offset is None
            or quantity.number in warned
            or not quantity.number > 1
        ):
            continue
        warned.add(quantity.number)
        written = quantity.written or number_text(quantity.number)
        percent = number_text(quantity.number * 100)
        if fixed:
            message = (
                f"threshold {written} is {percent}%, because the query gives ratios "
                f"from 0 to 1 (unit percentunit); write {written}% for {written} "
                "percent"
            )
        else:
            message = (
                f"threshold {written} is {percent}%, because the panel's unit is "
                f"percentunit (values from 0 to 1); write {written}% for {written} "
                "percent, or set unit: percent if the query gives 0 to 100"
            )
        yield warning(context.panel.bound_location(quantity), message, NAME)
