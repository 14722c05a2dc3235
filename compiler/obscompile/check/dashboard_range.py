"""dashboard/range: a panel whose min is not below its max."""

from __future__ import annotations

from collections.abc import Iterator

from obscompile.check.context import PanelContext
from obscompile.check.registry import check
from obscompile.diagnostics import Diagnostic, error
from obscompile.numbers import number_text

NAME = "dashboard/range"


def _number(value: float) -> str:
    return number_text(value)


@check(NAME, "a panel min that is not below its max")
def panel_range(context: PanelContext) -> Iterator[Diagnostic]:
    panel = context.panel
    if panel.min is None or panel.max is None or panel.min < panel.max:
        return
    yield error(
        panel.location_of("max"),
        f"max {_number(panel.max)} is not above min {_number(panel.min)}, so Grafana "
        "has no range to draw; swap them or remove one",
        NAME,
    )
