"""dashboard/unit: a panel unit that Grafana does not know."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator

from obscompile.check.context import PanelContext
from obscompile.check.registry import check
from obscompile.diagnostics import Diagnostic, error, shorten
from obscompile.grafana_units import GRAFANA_UNITS, is_known_unit

NAME = "dashboard/unit"


def _described_as(unit: str) -> str | None:
    """Return the id whose description names `unit`, as "seconds" names "s".

    A description that starts with the word ("Time: seconds (s)") wins over one that
    only contains it ("Angle: Arc Seconds").
    """
    word = unit.lower()
    containing = None
    for unit_id, description in GRAFANA_UNITS.items():
        name = description.lower().split(": ", 1)[-1]
        words = re.findall(r"[^\s:()/,]+", name)
        if words[:1] == [word]:
            return unit_id
        if containing is None and word in words:
            containing = unit_id
    return containing


def suggest_unit(unit: str) -> str | None:
    """Return the Grafana unit id closest to `unit`, if one is close."""
    # Grafana writes micro as the micro sign; "us" and the Greek mu mean the same.
    for micro in ("u", "\u03bc"):
        if unit.startswith(micro) and "\u00b5" + unit[1:] in GRAFANA_UNITS:
            return "\u00b5" + unit[1:]
    by_case = {unit_id.lower(): unit_id for unit_id in GRAFANA_UNITS}
    if unit.lower() in by_case:
        return by_case[unit.lower()]
    described = _described_as(unit)
    if described is not None:
        return described
    close = difflib.get_close_matches(unit, list(GRAFANA_UNITS), n=1, cutoff=0.75)
    return close[0] if close else None


@check(NAME, "a panel unit that is not a Grafana unit id")
def unit(context: PanelContext) -> Iterator[Diagnostic]:
    written = context.panel.unit
    if written is None or is_known_unit(written):
        return
    message = f'unit "{shorten(written)}" is not a Grafana unit id'
    suggested = suggest_unit(written)
    if suggested is not None:
        message += f'; did you mean "{suggested}" ({GRAFANA_UNITS[suggested]})?'
    else:
        message += (
            '; use an id such as "s", "percentunit" or "reqps", or a custom unit '
            'such as "suffix: jobs"'
        )
    yield error(context.panel.location_of("unit"), message, NAME)
