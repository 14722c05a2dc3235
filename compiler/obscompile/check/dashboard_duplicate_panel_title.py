"""dashboard/duplicate-panel-title: two panels of one row with the same title."""

from __future__ import annotations

from collections.abc import Iterator

from obscompile.check.context import ServiceContext
from obscompile.check.registry import Scope, check
from obscompile.diagnostics import Diagnostic, error
from obscompile.model.panel import Panel

NAME = "dashboard/duplicate-panel-title"


@check(NAME, "two panels in one row have the same title", scope=Scope.SERVICE)
def duplicate_panel_title(context: ServiceContext) -> Iterator[Diagnostic]:
    for row in context.service.rows:
        first: dict[str, Panel] = {}
        for panel in row.panels:
            earlier = first.setdefault(panel.title, panel)
            if earlier is panel:
                continue
            yield error(
                panel.location_of("title"),
                f'panel "{panel.title}" is already defined in row "{row.title}" at '
                f"{earlier.location_of('title')}",
                NAME,
            )
