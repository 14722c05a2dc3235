"""Build the view of a dashboard that the Grafana templates render."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import jinja2

from obscompile.derive.layout import Flow, GridPos, panel_size
from obscompile.derive.legend import panel_legend, result_labels
from obscompile.derive.thresholds import ResolvedThresholds, compact_number, resolve
from obscompile.derive.units import UnitError, panel_unit
from obscompile.load.durations import duration_ms
from obscompile.memo import by_identity
from obscompile.model.panel import Panel, PanelType, Row
from obscompile.model.service import Service
from obscompile.model.threshold import colour_hue
from obscompile.render.environment import render_json

DEFAULT_SCHEMA_VERSION = 42
# The Grafana version whose panel option shapes the templates write, for every
# schema_version. Grafana passes a panel's pluginVersion to the panel plugin's
# migration handler, which rewrites options older than the version thresholds it
# tests. docs/configuration.md lists them and why one value suits every
# schema_version. Grafana 12.3 writes schemaVersion 42.
# NOTE: the newer gauge in Grafana's source (gauge/v2) migrates gauges whose
# pluginVersion is below 13 and whose options have no `shape`.
PLUGIN_VERSION = "12.3.3"

# The refresh picker's intervals when a dashboard sets no `timepicker.refresh_intervals`.
# Grafana's dashboard page starts no refresh timer for a refresh that is not one of
# them, text for text (SceneRefreshPicker of @grafana/scenes), so `60s` is not `1m`.
PICKER_INTERVALS = ("5s", "10s", "30s", "1m", "5m", "15m", "30m", "1h", "2h", "1d")
# A refresh of one whole number and one unit, the only kind that Grafana's page reads
# in full; the dashboard/refresh check rejects the others.
_SINGLE_UNIT_REFRESH = re.compile(r"[0-9]+(?:ms|[wdhms])")

# Panels that show one reduced value per series query an instant, not a range.
_INSTANT_TYPES = {PanelType.TABLE, PanelType.BARCHART, PanelType.PIECHART}

# Panels whose target has format "table": Grafana returns one frame with a column per
# label and one value column, so each series is a row, not a field of its own.
_TABLE_FORMAT_TYPES = {PanelType.TABLE, PanelType.BARCHART}

# Grafana 12 colours no value of these by threshold steps. A heatmap colours its cells
# by the colour scheme of `options.color`, and the pie chart plugin disables the
# thresholds field option, so Grafana drops `thresholds` from its field config and
# colours each slice by series.
_NO_THRESHOLD_TYPES = {PanelType.HEATMAP, PanelType.PIECHART}


def draws_thresholds(panel_type: PanelType) -> bool:
    """Return True when Grafana colours a panel of this type by its thresholds."""
    return panel_type not in _NO_THRESHOLD_TYPES


def draws_series_thresholds(panel_type: PanelType) -> bool:
    """Return True when per-series thresholds can reach the series of this type.

    A per-series threshold is an override matched on a field's display name. In a
    table-format frame the series names are values in the label columns, so no
    override matches them.
    """
    return draws_thresholds(panel_type) and panel_type not in _TABLE_FORMAT_TYPES


@attrs.frozen
class PanelView:
    """Everything a panel template needs, already derived."""

    id: int
    panel: Panel
    grid: GridPos
    unit: str
    legend: str
    thresholds: ResolvedThresholds
    labels: tuple[str, ...]

    @property
    def type(self) -> str:
        return str(self.panel.type)

    @property
    def neutral_no_value(self) -> bool:
        """Return True where no data and NaN need a mapping to the text colour.

        Grafana shows a value that is no number, such as NaN or no data at all, in
        the colour of the base step. Where that step is red or yellow, as for an
        error budget whose low values are red, the panel would show no traffic in an
        alerting colour while no alert fires. The base band's alert compares with
        the next step, and NaN never passes that comparison. A base step without a
        next one gives an alert of `!=` mapped values, which NaN does pass, so it
        keeps its colour.
        """
        step_lists = [self.thresholds.steps]
        step_lists += [series.steps for series in self.thresholds.series]
        return any(
            len(steps) > 1 and colour_hue(steps[0].color) in ("red", "yellow")
            for steps in step_lists
        )

    @property
    def instant(self) -> bool:
        if self.panel.instant is not None:
            return self.panel.instant
        return self.panel.type in _INSTANT_TYPES

    @property
    def target_format(self) -> str:
        if self.panel.type is PanelType.HEATMAP:
            return "heatmap"
        if self.panel.type in _TABLE_FORMAT_TYPES:
            return "table"
        return "time_series"

    @property
    def gauge_range(self) -> tuple[float | int | None, float | int | None] | None:
        """Return the gauge's min and max, from its unit, capacity or top step.

        Without a max, Grafana scales a gauge to the data itself, so a single
        latency value would always fill the whole dial. A capacity is the value a
        full dial shows, unless a step lies above it.
        """
        bounds = self._scale()
        if bounds is None:
            return None
        low, high = bounds
        # A bound the manifest sets wins, and a derived one that would cross it is
        # left to Grafana, so the dial never runs backwards.
        written_min, written_max = self.panel.min, self.panel.max
        if written_min is not None and high is not None and high <= written_min:
            high = None
        if written_max is not None and low is not None and low >= written_max:
            low = None
        return (low, high)

    def _scale(self) -> tuple[float | int | None, float | int | None] | None:
        """Return the gauge's min and max from its unit, capacity or top step."""
        if self.unit == "percent":
            return (0, 100)
        if self.unit == "percentunit":
            return (0, 1)
        values = [s.value for s in self.thresholds.steps if s.value is not None]
        capacity = self.panel.capacity
        if capacity is not None and all(value <= capacity for value in values):
            return (0, compact_number(capacity))
        if values and max(values) > 0:
            return (0, compact_number(2 * max(values)))
        return None


@attrs.frozen
class RowView:
    id: int
    title: str
    collapsed: bool
    grid: GridPos
    panels: tuple[PanelView, ...]


def panel_thresholds(panel: Panel, unit: str) -> ResolvedThresholds:
    """Resolve a panel's thresholds, raising UnitError when they cannot be expressed."""
    return resolve(panel.thresholds, unit, panel.capacity)


# The dashboard, the rule derivation and the artifact facts of a service each read
# its rows.
def panel_ids(service: Service) -> Iterator[tuple[int, Panel]]:
    """Yield the id of each panel of `service` with the panel, as `dashboard_rows`
    numbers them, without laying anything out."""
    next_id = 1
    for row in service.rows:
        next_id += 1  # the row's own id
        for panel in row.panels:
            yield next_id, panel
            next_id += 1


def panel_view(
    panel: Panel, service: Service, panel_id: int, grid: GridPos
) -> PanelView:
    """Derive the unit, legend, thresholds and result labels of one placed panel."""
    unit = panel_unit(panel, service)
    try:
        thresholds = panel_thresholds(panel, unit)
    except UnitError:
        thresholds = resolve(None, unit)
    return PanelView(
        id=panel_id,
        panel=panel,
        grid=grid,
        unit=unit,
        legend=panel_legend(panel, service),
        thresholds=thresholds,
        labels=result_labels(panel, service),
    )


# A row's id, the row, its grid position, and the id, panel and grid position of
# each of its panels.
_PlacedRow = tuple[int, Row, GridPos, list[tuple[int, Panel, GridPos]]]


def _placed_rows(service: Service) -> Iterator[_PlacedRow]:
    """Number and place every row and panel; ids follow document order from 1."""
    flow = Flow()
    next_id = 1
    for row in service.rows:
        row_id = next_id
        next_id += 1
        row_grid = flow.row()
        layout = Flow() if row.collapsed else flow
        if row.collapsed:
            layout.y = row_grid.y + row_grid.h
        placed = []
        for panel in row.panels:
            width, height = panel_size(panel)
            placed.append((next_id, panel, layout.panel(width, height)))
            next_id += 1
        if not row.collapsed:
            flow.newline()
        yield row_id, row, row_grid, placed


@by_identity(16)
def dashboard_rows(service: Service) -> tuple[RowView, ...]:
    """Number, place and derive every row and panel; ids follow document order from 1."""
    return tuple(
        RowView(
            row_id,
            row.title,
            row.collapsed,
            row_grid,
            tuple(
                panel_view(panel, service, panel_id, grid)
                for panel_id, panel, grid in placed
            ),
        )
        for row_id, row, row_grid, placed in _placed_rows(service)
    )


def panel_views(service: Service, selected: Callable[[Panel], bool]) -> list[PanelView]:
    """Return the views of the panels that `selected` accepts, as `dashboard_rows`
    derives them, in document order. The other panels are only placed."""
    return [
        panel_view(panel, service, panel_id, grid)
        for _, _, _, placed in _placed_rows(service)
        for panel_id, panel, grid in placed
        if selected(panel)
    ]


def dashboard_context(service: Service, schema_version: int) -> dict[str, Any]:
    assert service.dashboard is not None
    return {
        "service": service,
        "dashboard": service.dashboard,
        "rows": dashboard_rows(service),
        "schema_version": schema_version,
        "plugin_version": PLUGIN_VERSION,
        "refresh_intervals": refresh_intervals(service.dashboard.refresh),
    }


def refresh_intervals(refresh: str) -> list[str] | None:
    """Return the refresh picker's intervals with `refresh` among them, shortest first.

    Returns None when the picker's own intervals contain it, or for no refresh
    and `auto`, which need no interval.
    """
    if refresh in PICKER_INTERVALS or not _SINGLE_UNIT_REFRESH.fullmatch(refresh):
        return None
    # sorted() keeps a default interval before a refresh of the same length.
    return sorted((*PICKER_INTERVALS, refresh), key=duration_ms)


def render_dashboard(
    env: jinja2.Environment,
    service: Service,
    schema_version: int = DEFAULT_SCHEMA_VERSION,
) -> str:
    """Render one service's dashboard as Grafana JSON text."""
    return render_json(
        env,
        "grafana/dashboard.json.j2",
        shape=dashboard_shape,
        subject=f'service "{service.name}"',
        **dashboard_context(service, schema_version),
    )


def dashboard_shape(document: Any) -> str | None:
    """Return what a dashboard lacks that the build reads from it, or None.

    The checks across artifacts read the dashboard's `uid` and the `id` of every
    panel, including the panels inside collapsed rows.
    """
    if not isinstance(document, dict):
        return "a dashboard object"
    if not isinstance(document.get("uid"), str):
        return "a dashboard with a string uid"
    panels = document.get("panels", [])
    if not isinstance(panels, list):
        return "a dashboard whose panels are a list"
    for panel in panels:
        children = panel.get("panels", []) if isinstance(panel, dict) else None
        if not isinstance(children, list):
            return "a dashboard whose panels are objects"
        for item in (panel, *children):
            if not isinstance(item, dict) or (
                item.get("type") != "row" and not isinstance(item.get("id"), int)
            ):
                return "a dashboard whose panels are objects with an integer id"
    return None
