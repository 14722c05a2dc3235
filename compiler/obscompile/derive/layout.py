"""Place rows and panels on Grafana's 24-column grid."""

from __future__ import annotations

import attrs

from obscompile.model.panel import Panel, PanelType

GRID_COLUMNS = 24
ROW_HEIGHT = 1

# Default panel sizes in grid units: four stats or gauges fit one line, two charts.
DEFAULT_SIZES: dict[PanelType, tuple[int, int]] = {
    PanelType.STAT: (6, 6),
    PanelType.GAUGE: (6, 6),
    PanelType.TIMESERIES: (12, 8),
    PanelType.TABLE: (12, 8),
    PanelType.BARCHART: (12, 8),
    PanelType.PIECHART: (6, 8),
    PanelType.HEATMAP: (12, 8),
}


@attrs.frozen
class GridPos:
    x: int
    y: int
    w: int
    h: int

    def as_dict(self) -> dict[str, int]:
        return {"h": self.h, "w": self.w, "x": self.x, "y": self.y}


def panel_size(panel: Panel) -> tuple[int, int]:
    width, height = DEFAULT_SIZES[panel.type]
    return panel.width or width, panel.height or height


class Flow:
    """Lay panels left to right, starting a new line when a panel would not fit."""

    def __init__(self) -> None:
        self.y = 0
        self.x = 0
        self.line_height = 0

    def row(self) -> GridPos:
        """Place a row header below everything placed so far."""
        self.newline()
        position = GridPos(0, self.y, GRID_COLUMNS, ROW_HEIGHT)
        self.y += ROW_HEIGHT
        return position

    def newline(self) -> None:
        self.y += self.line_height
        self.x = 0
        self.line_height = 0

    def panel(self, width: int, height: int) -> GridPos:
        if self.x + width > GRID_COLUMNS:
            self.newline()
        position = GridPos(self.x, self.y, width, height)
        self.x += width
        self.line_height = max(self.line_height, height)
        return position
