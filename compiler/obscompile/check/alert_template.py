"""alert/template and alert/label: alert annotations and labels that cannot work.

alert/template reports annotations that are not Go templates, and templated labels.
alert/label reports label names that Prometheus rejects, and labels whose value would
be replaced: Prometheus sets `alertname`, and obscompile sets `severity` and `service`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator

from obscompile import promql
from obscompile.check.context import ServiceContext
from obscompile.check.registry import Scope, check
from obscompile.diagnostics import Diagnostic, error
from obscompile.gotemplate import (
    GO_FUNCTIONS,
    PROMETHEUS_FUNCTIONS,
    PROMETHEUS_VARIABLES,
    find_template_error,
)
from obscompile.model.location import Location

NAME = "alert/template"
LABEL = "alert/label"
# Labels that every derived alert gets, and where their value comes from.
_DERIVED_LABELS = {
    "severity": "the colour of the band (critical for red, warning for yellow)",
    "service": "the service key",
}


_UNDEFINED_FUNCTION = re.compile(r'^function "(.+)" not defined$')
_UNDEFINED_VARIABLE = re.compile(r'^undefined variable "(.+)"$')


def _name_hint(message: str) -> str:
    """Return `; did you mean "x"?` for an undefined function or variable, if any.

    Variables are compared with those that Prometheus defines in an alert template,
    as a variable that the template defines itself is out of scope where it failed.
    """
    undefined = _UNDEFINED_FUNCTION.match(message)
    names = sorted(GO_FUNCTIONS | PROMETHEUS_FUNCTIONS)
    if undefined is None:
        undefined = _UNDEFINED_VARIABLE.match(message)
        names = list(PROMETHEUS_VARIABLES)
    if undefined is None:
        return ""
    close = difflib.get_close_matches(undefined.group(1), names, n=1, cutoff=0.6)
    return f'; did you mean "{close[0]}"?' if close else ""


def _label_problems(
    labels: tuple[tuple[str, str], ...], where: Location
) -> Iterator[Diagnostic]:
    for name, value in labels:
        if "{{" in value:
            yield error(
                where,
                f'alert label "{name}" is a template ("{value}"), but the labels of '
                "an alert must stay the same between evaluations; move the text to "
                "the summary or description",
                NAME,
            )


@check(
    NAME,
    "alert annotations that are not valid Go templates, and templated alert labels",
    scope=Scope.SERVICE,
)
def alert_template(context: ServiceContext) -> Iterator[Diagnostic]:
    service = context.service
    yield from _label_problems(
        service.alerts.labels, service.locations.get("alerts", service.location)
    )
    for _row, panel in context.panels():
        alert = panel.alert
        for key in ("summary", "description"):
            text = getattr(alert, key)
            if text is None:
                continue
            found = find_template_error(text)
            if found is None:
                continue
            value_at = alert.locations.get(key, alert.location)
            yield error(
                context.locate(value_at, text, found.offset),
                f"alert {key} is not a valid Go template: {found.message}"
                f"{_name_hint(found.message)}",
                NAME,
            )
        yield from _label_problems(
            alert.labels, alert.locations.get("labels", alert.location)
        )


def _name_problems(
    labels: tuple[tuple[str, str], ...],
    where: Location,
    locations: dict[str, Location] | None = None,
) -> Iterator[Diagnostic]:
    for name, value in labels:
        where_label = (locations or {}).get(f"label:{name}", where)
        yield from _name_problem(name, value, where_label)


def _name_problem(name: str, value: str, where: Location) -> Iterator[Diagnostic]:
    if not promql.is_label_name(name) or name.startswith("__"):
        yield error(
            where,
            f'alert label name "{name}" is invalid: Prometheus accepts names of ASCII '
            'letters, digits and "_" that do not start with a digit or "__"',
            LABEL,
        )
    elif name == "alertname":
        yield error(
            where,
            'alert label "alertname" is replaced by Prometheus with the name of '
            "the alert; remove it",
            LABEL,
        )
    elif name in _DERIVED_LABELS:
        yield error(
            where,
            f'alert label "{name}" is set from {_DERIVED_LABELS[name]}, so this '
            'value would be lost; route on another label, such as "priority"',
            LABEL,
        )
    elif value == "":
        yield error(
            where,
            f'alert label "{name}" is empty, and Prometheus drops empty labels; '
            "give it a value or remove it",
            LABEL,
        )


@check(
    LABEL,
    "alert label names that Prometheus rejects or replaces",
    scope=Scope.SERVICE,
)
def alert_label(context: ServiceContext) -> Iterator[Diagnostic]:
    service = context.service
    alerts = service.alerts
    yield from _name_problems(
        alerts.labels,
        alerts.locations.get(
            "labels", service.locations.get("alerts", service.location)
        ),
        alerts.locations,
    )
    for _row, panel in context.panels():
        alert = panel.alert
        yield from _name_problems(
            alert.labels, alert.locations.get("labels", alert.location), alert.locations
        )
