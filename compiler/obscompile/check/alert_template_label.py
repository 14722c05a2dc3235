"""alert/template-label: an alert text names a label that the alert's series lack.

Prometheus expands `{{ $labels.name }}` in an alert's summary, description and
annotations to the value of the label `name` of the series that fires. A series
without that label gives an empty text, so a misspelt label leaves a page that reads
"on ". The labels are those of the series of the expression that the alert
evaluates: the recording rule that the rule derivation makes for the panel, which
adds `job` where every selector pins one job, or else the panel's query itself.
"""

from __future__ import annotations

from collections.abc import Iterator

from obscompile.check import catalog
from obscompile.check.context import PanelContext, ServiceContext
from obscompile.check.promql_rate_window import feeds_alert
from obscompile.check.registry import Scope, check

# The module, not its names: derive.alerts imports the check package, which imports
# this module while derive.alerts is still loading.
from obscompile.derive import alerts as derived_alerts
from obscompile.diagnostics import Diagnostic, shorten, warning
from obscompile.gotemplate import find_template_error, template_references
from obscompile.model.location import Location

NAME = "alert/template-label"
# The labels that every derived alert gets. Where the series carry one of them, the
# alert moves the series label to `series_<name>` (see derive.alerts).
_ALERT_LABELS = ("severity", "service", "alertname")
_MOVED_PREFIX = "series_"


def alert_series_labels(context: PanelContext) -> frozenset[str] | None:
    """Return the labels of the series that the panel's alerts fire for, if known."""
    if context.query.expr is None:
        return None
    evaluated = derived_alerts.alerted_expression(context.panel, context.service)
    expr = context.parse(evaluated).expr
    if expr is None:
        return None
    labels = catalog.available_labels(context, expr)
    if labels is None:
        return None
    found = set(labels)
    alert_labels = {
        *_ALERT_LABELS,
        *(name for name, _ in context.service.alerts.labels),
        *(name for name, _ in context.panel.alert.labels),
    }
    found |= {_MOVED_PREFIX + name for name in alert_labels & found}
    return frozenset(found)


@check(
    NAME,
    "an alert summary, description or annotation that names a label the alert's "
    "series lack",
    scope=Scope.SERVICE,
)
def template_label(context: ServiceContext) -> Iterator[Diagnostic]:
    service = context.service
    # (annotation, label, offset) of the service's annotations: the titles of the
    # panels whose alerts lack the label, and the labels those alerts have.
    lacking: dict[tuple[str, str, int], list[tuple[str, frozenset[str]]]] = {}
    for row, panel in context.panels():
        if not feeds_alert(panel):
            continue
        alert = panel.alert
        texts = [
            (f"alert {key}", getattr(alert, key), alert.locations.get(key))
            for key in ("summary", "description")
        ]
        texts += [
            (
                f'alert annotation "{name}"',
                text,
                alert.locations.get(f"annotation-value:{name}"),
            )
            for name, text in alert.annotations
        ]
        replaced = {name for name, _ in alert.annotations}
        inherited = [
            (name, text)
            for name, text in service.alerts.annotations
            if name not in replaced
        ]
        # Working out the alert's series takes the rule derivation's plan, so a
        # panel whose texts have no template action skips it.
        if not any(
            text is not None and "{{" in text
            for text in [*(text for _, text, _ in texts), *(t for _, t in inherited)]
        ):
            continue
        panel_context = context.for_panel(row, panel)
        labels = alert_series_labels(panel_context)
        if labels is None:
            continue
        for subject, text, value_at in texts:
            if text is None:
                continue
            for label, offset in _missing(text, labels):
                yield warning(
                    context.locate(value_at or alert.location, text, offset),
                    f'{subject} names the label "{shorten(label)}", which the series '
                    "of the alert do not have, so the text shows it as empty"
                    f"{catalog.missing_label_hint(label, labels)}",
                    NAME,
                )
        for name, text in inherited:
            for label, offset in _missing(text, labels):
                lacking.setdefault((name, label, offset), []).append(
                    (panel.title, labels)
                )
    yield from _service_annotation_warnings(context, lacking)


def _service_annotation_warnings(
    context: ServiceContext,
    lacking: dict[tuple[str, str, int], list[tuple[str, frozenset[str]]]],
) -> Iterator[Diagnostic]:
    """Warn once per label of a service annotation, naming the panels that lack it."""
    alerts = context.service.alerts
    texts = dict(alerts.annotations)
    where = context.service.locations.get("alerts", context.service.location)
    for (name, label, offset), panels in lacking.items():
        text = texts[name]
        value_at: Location = alerts.locations.get(f"annotation-value:{name}", where)
        titles = [f'"{title}"' for title, _ in panels]
        if len(panels) == 1:
            owner = f"panel {titles[0]}"
            hint = catalog.missing_label_hint(label, panels[0][1])
        else:
            owner = "panels " + ", ".join(titles[:-1]) + f" and {titles[-1]}"
            hint = ""
        yield warning(
            context.locate(value_at, text, offset),
            f'alert annotation "{shorten(name)}" names the label "{shorten(label)}", '
            f"which the series of the alerts of {owner} do not have, so the text "
            f"shows it as empty{hint}",
            NAME,
        )


def _missing(text: str, labels: frozenset[str]) -> list[tuple[str, int]]:
    """Return each label that `text` reads and `labels` lack, with its offset.

    A text that is no valid template gets alert/template's error instead.
    """
    if "{{" not in text or find_template_error(text) is not None:
        return []
    return [
        (reference.name, reference.offset)
        for reference in template_references(text)
        if reference.kind == "label"
        and reference.name not in labels
        and reference.name != "__name__"
    ]
