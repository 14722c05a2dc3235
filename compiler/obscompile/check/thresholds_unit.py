"""thresholds/unit: thresholds that the panel's unit cannot express."""

from __future__ import annotations

from collections.abc import Iterator

from obscompile.check.context import PanelContext
from obscompile.check.promql_unknown_metric import unknown_metrics
from obscompile.check.registry import check
from obscompile.derive.thresholds import resolve
from obscompile.derive.units import UnitError, panel_unit
from obscompile.diagnostics import Diagnostic, error

NAME = "thresholds/unit"


@check(NAME, "thresholds in % or a time unit that the panel's unit cannot express")
def threshold_unit(context: PanelContext) -> Iterator[Diagnostic]:
    panel = context.panel
    if panel.thresholds is None:
        return
    # A unit derived from a query that does not parse, or that reads a metric no
    # catalog declares, means nothing. promql/syntax or promql/unknown-metric
    # reports such a query instead.
    if panel.unit is None and (
        context.query.error is not None or unknown_metrics(context)
    ):
        return
    try:
        resolve(panel.thresholds, panel_unit(panel, context.service), panel.capacity)
    except UnitError as exc:
        location = panel.location_of("thresholds")
        offset = None if exc.quantity is None else exc.quantity.offset
        if offset is not None:
            location = panel.thresholds.quantity_locations.get(offset, location)
        yield error(location, str(exc), NAME)
