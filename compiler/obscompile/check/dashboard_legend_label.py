"""dashboard/legend-label: a legend names a label that the query's series lack.

Grafana renders `{{name}}` in a legend as the series' value of the label `name`,
and as nothing when the series have no such label, so a misspelt label leaves
every series without its name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from obscompile.check import catalog
from obscompile.check.context import PanelContext
from obscompile.check.positions import text_location
from obscompile.check.registry import check
from obscompile.diagnostics import Diagnostic, shorten, warning

NAME = "dashboard/legend-label"

# A label reference in a Grafana legend, `{{code}}` or `{{ code }}`.
_LEGEND_LABEL = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@check(NAME, "a legend that names a label the query's series lack")
def legend_label(context: PanelContext) -> Iterator[Diagnostic]:
    panel = context.panel
    expr = context.query.expr
    if panel.legend is None or expr is None:
        return
    labels = catalog.available_labels(context, expr)
    if labels is None:
        return
    for found in _LEGEND_LABEL.finditer(panel.legend):
        label = found.group(1)
        if label in labels or label == "__name__":
            continue
        hint = catalog.missing_label_hint(label, labels)
        yield warning(
            text_location(
                panel.location_of("legend"),
                panel.legend,
                found.start(),
                context.sources,
            ),
            f'legend names the label "{shorten(label)}", which the series of the query '
            f"do not have, so Grafana shows it as empty{hint}",
            NAME,
        )
