"""alert/template and alert/label: alert annotations and labels that cannot work.

alert/template reports annotations that are not Go templates, those that read a
field that Prometheus's alert data lacks, and templated labels.
alert/label reports label and annotation names that Prometheus rejects, and those
whose value would be replaced: Prometheus sets the label `alertname`, and obscompile
sets the labels `severity` and `service` and the annotations of DERIVED_ANNOTATIONS.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator

from obscompile.check.context import ServiceContext
from obscompile.check.registry import Scope, check
from obscompile.diagnostics import Diagnostic, error, shorten_quotes
from obscompile.gotemplate import (
    GO_FUNCTIONS,
    PROMETHEUS_FIELDS,
    PROMETHEUS_FUNCTIONS,
    PROMETHEUS_VARIABLES,
    find_template_error,
    template_references,
)
from obscompile.load.schema import (
    DERIVED_ALERT_LABELS,
    DERIVED_ANNOTATIONS,
    LABEL_NAME_PATTERN,
)
from obscompile.load.validate import schema_validated
from obscompile.model.location import Location

NAME = "alert/template"
LABEL = "alert/label"
_LABEL_NAME = re.compile(LABEL_NAME_PATTERN)


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
    yield from _annotation_problems(
        context,
        service.alerts.annotations,
        service.alerts.locations,
        service.locations.get("alerts", service.location),
    )
    for _row, panel in context.panels():
        alert = panel.alert
        for key in ("summary", "description"):
            text = getattr(alert, key)
            if text is None:
                continue
            yield from _template_problem(
                context, f"alert {key}", text, alert.locations.get(key, alert.location)
            )
        yield from _label_problems(
            alert.labels, alert.locations.get("labels", alert.location)
        )
        yield from _annotation_problems(
            context, alert.annotations, alert.locations, alert.location
        )


def _template_problem(
    context: ServiceContext, what: str, text: str, value_at: Location
) -> Iterator[Diagnostic]:
    found = find_template_error(text)
    if found is None:
        yield from _field_problems(context, what, text, value_at)
        return
    yield error(
        context.locate(value_at, text, found.offset),
        f"{what} is not a valid Go template: {shorten_quotes(found.message)}"
        f"{_name_hint(found.message)}",
        NAME,
    )


def _field_problems(
    context: ServiceContext, what: str, text: str, value_at: Location
) -> Iterator[Diagnostic]:
    """Report each field of `.` that the data of a Prometheus alert template lacks.

    Go checks fields only when it executes a template, so Prometheus loads the rule
    and writes an error text in place of the annotation whenever the alert fires.
    """
    if "{{" not in text:
        return
    for reference in template_references(text):
        if reference.kind != "field":
            continue
        fields = ", ".join(f".{field}" for field in PROMETHEUS_FIELDS[:-1])
        yield error(
            context.locate(value_at, text, reference.offset),
            f"{what} reads .{reference.name}, but the data of a Prometheus alert "
            f"template has only the fields {fields} and .{PROMETHEUS_FIELDS[-1]}, "
            "so Prometheus writes an error in place of the text; write $value for "
            "the value and $labels.name for a label",
            NAME,
        )


def _annotation_problems(
    context: ServiceContext,
    annotations: tuple[tuple[str, str], ...],
    locations: dict[str, Location],
    where: Location,
) -> Iterator[Diagnostic]:
    for name, text in annotations:
        value_at = locations.get(f"annotation-value:{name}", where)
        yield from _template_problem(
            context, f'alert annotation "{name}"', text, value_at
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
    if schema_validated(where):
        # The manifest schema has reported each of these rules.
        return
    if not _LABEL_NAME.match(name):
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
    elif name in DERIVED_ALERT_LABELS:
        yield error(
            where,
            f'alert label "{name}" is set from {DERIVED_ALERT_LABELS[name]}, so this '
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


def _annotation_name_problems(
    annotations: tuple[tuple[str, str], ...],
    where: Location,
    locations: dict[str, Location],
) -> Iterator[Diagnostic]:
    for name, _ in annotations:
        where_name = locations.get(f"annotation:{name}", where)
        if schema_validated(where_name):
            # The manifest schema has reported each of these rules.
            continue
        if not _LABEL_NAME.match(name):
            yield error(
                where_name,
                f'alert annotation name "{name}" is invalid: Prometheus accepts names '
                'of ASCII letters, digits and "_" that do not start with a digit or '
                '"__"',
                LABEL,
            )
        elif name in ("summary", "description"):
            yield error(
                where_name,
                f'alert annotation "{name}" is set from the {name}: key of the panel\'s '
                f"alert, so this value would be lost; write it as {name}: under the "
                "panel's alert:",
                LABEL,
            )
        elif name in DERIVED_ANNOTATIONS:
            yield error(
                where_name,
                f'alert annotation "{name}" is set from {DERIVED_ANNOTATIONS[name]}, '
                "so this value would be lost; use another name",
                LABEL,
            )


@check(
    LABEL,
    "alert label and annotation names that Prometheus rejects or replaces",
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
    yield from _annotation_name_problems(
        alerts.annotations,
        alerts.locations.get(
            "annotations", service.locations.get("alerts", service.location)
        ),
        alerts.locations,
    )
    for _row, panel in context.panels():
        alert = panel.alert
        yield from _name_problems(
            alert.labels, alert.locations.get("labels", alert.location), alert.locations
        )
        yield from _annotation_name_problems(
            alert.annotations,
            alert.locations.get("annotations", alert.location),
            alert.locations,
        )
