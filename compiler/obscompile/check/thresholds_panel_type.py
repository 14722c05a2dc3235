"""thresholds/panel-type: thresholds on a panel type that Grafana does not colour by.

Each red band of a panel's thresholds becomes an alert that fires where the panel
turns red. A heatmap or pie chart never turns a value red by its thresholds, and a
table or bar chart cannot apply per-series thresholds, so their alerts would fire
where the panel shows nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

from obscompile.check.context import PanelContext
from obscompile.check.registry import check
from obscompile.diagnostics import Diagnostic, error
from obscompile.model.panel import PanelType
from obscompile.render.grafana import draws_series_thresholds, draws_thresholds

NAME = "thresholds/panel-type"

_NOT_DRAWN = {
    PanelType.HEATMAP: (
        "thresholds have no effect on a heatmap panel, because Grafana colours "
        "heatmap cells by a colour scheme, and an alert would compare each bucket's "
        "rate or count with the bounds; remove thresholds, and set latency bounds on "
        "a histogram_quantile panel over the same buckets, such as a timeseries of "
        "the p95"
    ),
    PanelType.PIECHART: (
        "thresholds have no effect on a piechart panel, because Grafana's pie chart "
        "colours each slice by series and ignores thresholds, so an alert would fire "
        "while no slice turns red; remove thresholds, or use a stat, gauge or "
        "barchart panel, which colour each value by them"
    ),
}


@check(NAME, "thresholds on a panel type that Grafana does not colour by them")
def threshold_panel_type(context: PanelContext) -> Iterator[Diagnostic]:
    panel = context.panel
    if panel.thresholds is None:
        return
    location = panel.location_of("thresholds")
    if not draws_thresholds(panel.type):
        yield error(location, _NOT_DRAWN[panel.type], NAME)
        return
    if panel.thresholds.series and not draws_series_thresholds(panel.type):
        names = ", ".join(f'"{s.series}"' for s in panel.thresholds.series)
        yield error(
            location,
            f"per-series thresholds have no effect on a {panel.type} panel, because "
            "its query returns a table with a row per series, and Grafana matches "
            f"the overrides for {names} on column names; write one set of bands for "
            "all rows, or use a stat, gauge or timeseries panel",
            NAME,
        )
