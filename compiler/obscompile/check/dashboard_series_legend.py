"""dashboard/series-legend: per-series thresholds whose series the legend cannot name.

Grafana matches a per-series override on the series' display name, which comes from
the legend. A legend without a `{{label}}` gives every series the same name, and a
name the legend cannot render matches no series, so the override has no effect. A
name that the legend renders from more than one set of label values, such as `a-b-c`
of `{{queue}}-{{env}}`, colours every such series, while its alert selects one.
"""

from __future__ import annotations

from collections.abc import Iterator

from obscompile.check.context import PanelContext
from obscompile.check.registry import check

# The module, not its names: derive.alerts imports the check package, which imports
# this module while derive.alerts is still loading.
from obscompile.derive import alerts
from obscompile.derive.legend import panel_legend, result_labels
from obscompile.diagnostics import Diagnostic, error, shorten
from obscompile.render.grafana import draws_series_thresholds

NAME = "dashboard/series-legend"


@check(NAME, "per-series thresholds with a legend that cannot render the series name")
def series_legend(context: PanelContext) -> Iterator[Diagnostic]:
    panel = context.panel
    if panel.thresholds is None or not panel.thresholds.series:
        return
    # No legend makes such a panel show per-series thresholds, and
    # thresholds/panel-type reports it.
    if not draws_series_thresholds(panel.type):
        return
    legend = panel_legend(panel, context.service)
    if "{{" in legend:
        for series in panel.thresholds.series:
            if alerts.legend_pins(legend, series.series) is None:
                yield error(
                    panel.series_location(series),
                    f'legend "{shorten(legend)}" cannot render the series name '
                    f'"{shorten(series.series)}", so its threshold matches no series'
                    f"{alerts.legend_hint(legend, series)}",
                    NAME,
                )
                continue
            readings = alerts.legend_readings(legend, series.series)
            if readings is not None and panel.alert.enabled:
                # The override colours every series of that name, but the alert can
                # select the series of one set of label values only.
                first, second = (_matchers(pins) for pins in readings)
                yield error(
                    panel.series_location(series),
                    f'legend "{shorten(legend)}" renders the series name '
                    f'"{shorten(series.series)}" from more than one set of label '
                    f"values, such as {first} and {second}, so its alert cannot "
                    "select the series that the panel colours; write a legend whose "
                    "text between labels the label values do not contain",
                    NAME,
                )
        return
    labels = result_labels(panel, context.service)
    example = "{{" + (labels[0] if labels else "label") + "}}"
    yield error(
        panel.location_of("thresholds"),
        f"per-series thresholds need legend to render the series name (e.g. '{example}')",
        NAME,
    )


def _matchers(pins: tuple[tuple[str, str], ...]) -> str:
    """Return label values as PromQL matchers, such as `{queue="a", env="b-c"}`."""
    return "{" + ", ".join(f'{label}="{shorten(value)}"' for label, value in pins) + "}"
