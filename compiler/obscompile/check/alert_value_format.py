"""alert/value-format: an alert template that formats $value for another unit.

Prometheus' humanizeDuration reads seconds, humanizePercentage a ratio from 0 to 1,
and humanize1024 a count of bytes or bits. A summary, description or annotation that
passes `$value` to one of them on a panel whose values are in another unit prints a
wrong value: 500 ms reads as `8m 20s`, and 5 % as `500%`. The build's own summaries
pick the format from the panel's unit (`derive.annotations.value_template`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from obscompile.check.context import ServiceContext
from obscompile.check.registry import Scope, check
from obscompile.check.thresholds_raw_counter import derives_alerts
from obscompile.derive.annotations import DATA_UNITS, value_template
from obscompile.derive.gofuncs import humanize_duration, humanize_percentage
from obscompile.derive.units import TIME_UNITS, panel_unit
from obscompile.diagnostics import Diagnostic, warning
from obscompile.model.location import Location
from obscompile.model.panel import Panel

NAME = "alert/value-format"

_FORMATTERS = "humanizeDuration|humanizePercentage|humanize1024"
# `$value | f`, `.Value | f`, `f $value` and `f .Value`; group 1 or 2 is the function.
_FORMATTED_VALUE = re.compile(
    rf"(?:\$value|\$?\.Value)\s*\|\s*({_FORMATTERS})\b"
    rf"|\b({_FORMATTERS})\s+(?:\$value|\$?\.Value)\b"
)
_READS = {
    "humanizeDuration": "seconds",
    "humanizePercentage": "a ratio from 0 to 1",
    "humanize1024": "a count of bytes or bits",
}
# A value in each unit that the message shows misread, with the unit's symbol.
_EXAMPLES = {
    "ms": (500, "ms"),
    "us": (500, "µs"),
    "µs": (500, "µs"),
    "ns": (500, "ns"),
    "m": (90, "m"),
    "h": (36, "h"),
    "d": (3, "d"),
    "dtdurationms": (500, "ms"),
    "clockms": (500, "ms"),
    "percent": (5, "%"),
}


def _misreads(function: str, unit: str) -> bool:
    """Tell whether `function` misreads values in `unit`.

    A unit without a scale, such as `short`, is left alone.
    """
    in_seconds = TIME_UNITS.get(unit) == 1
    other_time = unit in TIME_UNITS and not in_seconds
    percentages = unit in ("percent", "percentunit")
    if function == "humanizeDuration":
        return other_time or percentages or unit in DATA_UNITS
    if function == "humanizePercentage":
        return unit in TIME_UNITS or unit == "percent" or unit in DATA_UNITS
    # humanize1024 adds a prefix to a count of the unit without one.
    return unit in TIME_UNITS or percentages or DATA_UNITS.get(unit, ("", 0, 0))[2] > 0


def _misread_example(function: str, unit: str) -> str:
    """Return how `function` prints a value of `unit`, such as `500ms reads as 8m 20s`."""
    if unit not in _EXAMPLES or function == "humanize1024":
        return ""
    value, symbol = _EXAMPLES[unit]
    printed = (
        humanize_duration(value)
        if function == "humanizeDuration"
        else humanize_percentage(value)
    )
    return f", so {value}{symbol} reads as {printed}"


def _suggestion(unit: str) -> str:
    """Return a format of `$value` that shows values of `unit` as they are."""
    if unit in TIME_UNITS and unit in _EXAMPLES:
        return f'{{{{ printf "%.2f" $value }}}}{_EXAMPLES[unit][1]}'
    return value_template(unit)


def _problems(
    context: ServiceContext,
    subject: str,
    text: str,
    value_at: Location,
    panel: Panel,
    unit: str,
) -> Iterator[Diagnostic]:
    """Yield a warning for each function of `text` that misreads values in `unit`."""
    if "{{" not in text:
        return
    for found in _FORMATTED_VALUE.finditer(text):
        function = found.group(1) or found.group(2)
        if not _misreads(function, unit):
            continue
        offset = found.start(1) if found.group(1) else found.start(2)
        yield warning(
            context.locate(value_at, text, offset),
            f'{subject} of panel "{panel.title}" passes $value to {function}, which '
            f"reads {_READS[function]}, but the panel's values are in {unit}"
            f"{_misread_example(function, unit)}; write {_suggestion(unit)} instead",
            NAME,
        )


@check(
    NAME,
    "alert templates that format $value for a unit other than the panel's",
    scope=Scope.SERVICE,
)
def alert_value_format(context: ServiceContext) -> Iterator[Diagnostic]:
    service = context.service
    shared = service.alerts.annotations
    shared_at = service.locations.get("alerts", service.location)
    reported: set[str] = set()
    for _row, panel in context.panels():
        if not derives_alerts(panel):
            continue
        alert = panel.alert
        unit = panel_unit(panel, service)
        for key in ("summary", "description"):
            text = getattr(alert, key)
            if text is not None:
                where = alert.locations.get(key, alert.location)
                subject = f"the alert {key}"
                yield from _problems(context, subject, text, where, panel, unit)
        own = dict(alert.annotations)
        for name, text in own.items():
            where = alert.locations.get(f"annotation-value:{name}", alert.location)
            subject = f'alert annotation "{name}"'
            yield from _problems(context, subject, text, where, panel, unit)
        # An annotation of the whole service is reported once, at the first panel
        # whose unit it misreads.
        for name, text in shared:
            if name in reported or name in own:
                continue
            where = service.alerts.locations.get(f"annotation-value:{name}", shared_at)
            subject = f'alert annotation "{name}"'
            found = list(_problems(context, subject, text, where, panel, unit))
            if found:
                reported.add(name)
                yield from found
