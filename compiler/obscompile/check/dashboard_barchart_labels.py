"""dashboard/barchart-labels: a bar chart whose series differ in more than one label.

A bar chart names each bar by one field of its query's table, its x field, which is
the first label in which the series differ. Series that differ in another label as
well get bars of the same name: `sum by (topic, partition) (...)` draws one bar per
partition, each named by its topic alone.
"""

from __future__ import annotations

from collections.abc import Iterator

from obscompile.check.context import PanelContext
from obscompile.check.registry import check
from obscompile.derive.legend import result_labels
from obscompile.diagnostics import Diagnostic, warning
from obscompile.model.panel import PanelType

NAME = "dashboard/barchart-labels"


@check(NAME, "a bar chart whose bars share names, because its series differ in labels")
def barchart_labels(context: PanelContext) -> Iterator[Diagnostic]:
    panel = context.panel
    if panel.type is not PanelType.BARCHART or context.query.expr is None:
        return
    labels = result_labels(panel, context.service)
    if len(labels) < 2:
        return
    first, others = labels[0], ", ".join(labels[1:])
    yield warning(
        context.query_location(),
        f'bar chart "{panel.title}" names each bar by the label {first} alone, but '
        f"its series also differ in {others}, so several bars share one name; "
        f"aggregate to one label, such as sum by ({first}) (...), or make the panel "
        "type: table",
        NAME,
    )
