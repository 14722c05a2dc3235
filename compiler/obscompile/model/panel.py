"""Dashboard rows and panels."""

from __future__ import annotations

import enum

import attrs

from obscompile.model.location import UNKNOWN, Location
from obscompile.model.threshold import Quantity, SeriesThreshold, Thresholds
from obscompile.numbers import number_text


class PanelType(enum.StrEnum):
    STAT = "stat"
    GAUGE = "gauge"
    TIMESERIES = "timeseries"
    TABLE = "table"
    BARCHART = "barchart"
    PIECHART = "piechart"
    HEATMAP = "heatmap"


@attrs.frozen
class PanelAlert:
    """Per-panel alert settings; None fields fall back to the service's settings."""

    name: str | None = None
    for_: str | None = None
    summary: str | None = None
    description: str | None = None
    warning: bool = False
    enabled: bool = True
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    location: Location = attrs.field(default=UNKNOWN, eq=False)
    locations: dict[str, Location] = attrs.field(factory=dict, eq=False)


@attrs.frozen
class Panel:
    """One dashboard panel with a single PromQL query.

    `unit` and `legend` are None when the manifest leaves them to be derived from
    the query. `width` and `height` are None for the panel type's default size.
    `rejected_thresholds` are the bounds of a threshold text whose bands the build
    rejected (see `read_rejected_text`), where `thresholds` is None.
    """

    title: str
    query: str
    type: PanelType = PanelType.TIMESERIES
    description: str = ""
    unit: str | None = None
    legend: str | None = None
    thresholds: Thresholds | None = None
    rejected_thresholds: Thresholds | None = None
    capacity: float | None = None
    stack: bool = False
    color_mode: str | None = None
    decimals: int | None = None
    min: float | None = None
    max: float | None = None
    width: int | None = None
    height: int | None = None
    instant: bool | None = None
    record: bool | None = None
    alert: PanelAlert = attrs.field(factory=PanelAlert)
    location: Location = attrs.field(default=UNKNOWN, eq=False)
    locations: dict[str, Location] = attrs.field(factory=dict, eq=False)
    # The text arguments of the block uses that built the panel, each with where it
    # is written, and number arguments as their text. A finding at a string of the
    # query, or at a threshold bound, with that text is placed there.
    arguments: dict[str, Location] = attrs.field(factory=dict, eq=False)

    def location_of(self, key: str) -> Location:
        """Return where `key` was written, or the panel's own location."""
        return self.locations.get(key, self.location)

    def bound_location(self, bound: Quantity) -> Location:
        """Return where the thresholds write `bound`, at its number where a text does."""
        return self._threshold_location(
            bound.offset, bound.written or number_text(bound.number)
        )

    def series_location(self, series: SeriesThreshold) -> Location:
        """Return where the thresholds write the name of `series`."""
        return self._threshold_location(series.offset, series.series)

    def _threshold_location(self, offset: int | None, written: str) -> Location:
        """Return where the thresholds write the token that `offset` keys.

        The token is a quantity or series name of a threshold text, or the value of
        a structured step (see `Quantity.offset`). A token without a recorded
        position that a block built from one of its parameters, such as
        scrape_health's `duration_red`, is placed at that parameter's value, and
        any other at the thresholds as a whole.
        """
        thresholds = self.thresholds or self.rejected_thresholds
        if thresholds is not None and offset is not None:
            found = thresholds.quantity_locations.get(offset)
            if found is not None:
                return found
        return self.arguments.get(written) or self.location_of("thresholds")


@attrs.frozen
class Row:
    """A dashboard row; `collapsed` rows own their panels in Grafana's JSON."""

    title: str
    panels: tuple[Panel, ...] = ()
    collapsed: bool = False
    location: Location = attrs.field(default=UNKNOWN, eq=False)
