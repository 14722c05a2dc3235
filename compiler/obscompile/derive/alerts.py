"""Alerting and recording rules of a service, derived from its panels.

Each red band of a panel becomes one alert that fires for exactly the values the panel
colours red (yellow bands too, with severity `warning`, where the panel sets
`alert: {warning: true}`). Per-series thresholds become one alert per series, pinned by
the label that the panel's legend renders as the series name. Alerts read the panel
query through its recording rule when it has one.
"""

from __future__ import annotations

import re

import attrs
import promql_parser as pp

from obscompile import promql
from obscompile.config import Config
from obscompile.derive.annotations import (
    Band,
    bands_from_steps,
    description_text,
    summary_text,
)
from obscompile.derive.expressions import UnsupportedQuery, pinned_job, render
from obscompile.derive.recording import (
    PlainSelector,
    RecordedQuery,
    RecordingRule,
    UnnamedQuery,
    deduplicate,
    plan_query,
    uses_histogram_quantile,
)
from obscompile.diagnostics import Diagnostic, error, warning
from obscompile.gotemplate import go_quote, template_error
from obscompile.model.panel import Panel
from obscompile.model.service import Service
from obscompile.render.grafana import PanelView, dashboard_rows

SEVERITIES = {"red": "critical", "yellow": "warning"}
_PLACEHOLDER = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")


@attrs.frozen
class AlertRule:
    """One `alert:` rule, with what the test generator needs to prove it.

    `value_expr` is the expression whose value the condition compares; `query` is the
    panel query it stands for; `pins` are the matchers that select one series.
    """

    name: str
    expr: str
    for_: str
    labels: tuple[tuple[str, str], ...]
    annotations: tuple[tuple[str, str], ...]
    band: Band
    severity: str
    value_expr: str
    query: str
    unit: str
    pins: tuple[tuple[str, str], ...] = ()
    series: str | None = None
    record: RecordingRule | None = None
    grouping: tuple[str, ...] = ()
    steps: tuple = ()


@attrs.frozen
class ServiceRules:
    """Every rule derived for one service, and the problems found on the way."""

    service: Service
    recording: tuple[RecordingRule, ...]
    alerts: tuple[AlertRule, ...]
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.recording or self.alerts)


def camel_case(text: str) -> str:
    """Join the words of `text`, each with a capital: `Error Rate (4xx/5xx)` gives
    `ErrorRate4xx5xx`, and `auth_server` gives `AuthServer`."""
    return "".join(
        word[0].upper() + word[1:] for word in re.findall(r"[A-Za-z0-9]+", str(text))
    )


def legend_pins(legend: str, series: str) -> tuple[tuple[str, str], ...] | None:
    """Return the label values that make `legend` render exactly `series`, or None."""
    labels = _PLACEHOLDER.findall(legend)
    if not labels:
        return None
    pattern = ""
    position = 0
    for match in _PLACEHOLDER.finditer(legend):
        pattern += (
            re.escape(legend[position : match.start()]) + f"(?P<{match.group(1)}>.+?)"
        )
        position = match.end()
    pattern += re.escape(legend[position:])
    try:
        found = re.fullmatch(pattern, series)
    except re.error:
        return None
    if found is None:
        return None
    return tuple((label, found.group(label)) for label in dict.fromkeys(labels))


def _wants_alerts(panel: Panel) -> bool:
    return panel.alert.enabled and panel.thresholds is not None


def _colours(panel: Panel) -> list[str]:
    return ["red", "yellow"] if panel.alert.warning else ["red"]


def _panel_bands(view: PanelView) -> list[tuple[str | None, tuple, list[Band]]]:
    """Return `(series, steps, bands)` for the panel as a whole and for each series."""
    resolved = view.thresholds
    result: list[tuple[str | None, tuple, list[Band]]] = []
    colours = _colours(view.panel)
    if resolved.mappings:
        bands = [
            Band(m.color, equals=float(m.value))
            for m in resolved.mappings
            if m.color in colours
        ]
        result.append((None, resolved.steps, bands))
    else:
        bands = [
            b for colour in colours for b in bands_from_steps(resolved.steps, colour)
        ]
        result.append((None, resolved.steps, bands))
    for series in resolved.series:
        bands = [
            b for colour in colours for b in bands_from_steps(series.steps, colour)
        ]
        result.append((series.series, series.steps, bands))
    return [entry for entry in result if entry[2]]


def _needs_parentheses(expr: str) -> bool:
    try:
        node = promql.strip_parens(pp.parse(expr))
    except ValueError:
        return True
    if isinstance(node, pp.BinaryExpr):
        return str(node.op) in ("==", "!=", ">", "<", ">=", "<=", "and", "or", "unless")
    return False


class _Deriver:
    def __init__(self, service: Service, config: Config) -> None:
        self.service = service
        self.config = config
        self.diagnostics: list[Diagnostic] = []
        self.views = [view for row in dashboard_rows(service) for view in row.panels]

    def plans(self) -> dict[int, RecordedQuery]:
        plans: dict[int, RecordedQuery] = {}
        for view in self.views:
            panel = view.panel
            if panel.record is False:
                continue
            alerting = _wants_alerts(panel) and bool(_panel_bands(view))
            if not (panel.record or alerting or uses_histogram_quantile(panel.query)):
                continue
            try:
                plans[view.id] = plan_query(panel.query, self.service)
            except PlainSelector:
                continue
            except UnnamedQuery as exc:
                if panel.record or alerting:
                    self.diagnostics.append(
                        warning(
                            panel.location_of("query"),
                            f'panel "{panel.title}": no recording rule for this query: '
                            f"{exc}; "
                            "its alerts read the query itself",
                            "rules/recording-name",
                        )
                    )
        return plans

    def derive(self) -> ServiceRules:
        plans = self.plans()
        rules, renamed = deduplicate([plan.rule for plan in plans.values()])
        by_record = {rule.record: rule for rule in rules}
        for view_id, plan in plans.items():
            final = by_record[renamed[plan.rule.expr]]
            plans[view_id] = attrs.evolve(plan, rule=final)
        alerts: list[AlertRule] = []
        names: set[str] = set()
        for view in self.views:
            if _wants_alerts(view.panel):
                alerts.extend(self.panel_alerts(view, plans.get(view.id), names))
        return ServiceRules(
            self.service, tuple(rules), tuple(alerts), tuple(self.diagnostics)
        )

    def _value_expr(self, view: PanelView, plan: RecordedQuery | None, pins) -> str:
        if plan is not None:
            # Other services may record the same name for their own job, and every
            # rule file shares one Prometheus, so the alert selects its job.
            job = pinned_job(promql.parse(plan.rule.query))
            selected = ([("job", job)] if job is not None else []) + list(pins)
            matchers = ",".join(f"{name}={go_quote(value)}" for name, value in selected)
            selector = plan.rule.record + (f"{{{matchers}}}" if matchers else "")
            return plan.reader(selector)
        node = promql.parse(view.panel.query)
        return render(node, guard=True, extra_matchers=tuple(pins))

    def _check_template(self, panel: Panel, key: str, text: str | None) -> bool:
        if text is None:
            return True
        problem = template_error(text)
        if problem is None:
            return True
        self.diagnostics.append(
            error(
                panel.alert.locations.get(key, panel.alert.location),
                f"alert {key} is not a valid Go template: {problem}",
                "alerts/template",
            )
        )
        return False

    def panel_alerts(
        self, view: PanelView, plan: RecordedQuery | None, names: set[str]
    ) -> list[AlertRule]:
        panel = view.panel
        valid = self._check_template(panel, "summary", panel.alert.summary)
        valid = (
            self._check_template(panel, "description", panel.alert.description)
            and valid
        )
        for _, value in panel.alert.labels:
            valid = self._check_template(panel, "labels", value) and valid
        if not valid:
            return []
        out = []
        for series, steps, bands in _panel_bands(view):
            pins: tuple[tuple[str, str], ...] = ()
            if series is not None:
                found = legend_pins(view.legend, series)
                if found is None:
                    self.diagnostics.append(
                        warning(
                            panel.location_of("thresholds"),
                            f'panel "{panel.title}": legend "{view.legend}" cannot '
                            f'render the series name "{series}", so its alert cannot '
                            "select that series",
                            "alerts/series",
                        )
                    )
                    continue
                pins = found
            try:
                value_expr = self._value_expr(view, plan, pins)
            except (UnsupportedQuery, promql.QueryError) as exc:
                self.diagnostics.append(
                    warning(
                        panel.location_of("query"),
                        f'panel "{panel.title}": no alert: {exc}',
                        "alerts/query",
                    )
                )
                continue
            for band in bands:
                same = [b for b in bands if b.color == band.color]
                rule = self.alert(
                    view, plan, band, value_expr, pins, series, steps, same, names
                )
                if rule is not None:
                    out.append(rule)
        return out

    def alert_name(
        self, view: PanelView, band: Band, series, same, names: set[str]
    ) -> str:
        """Return a name unique in the service: service, title, series, severity."""
        panel = view.panel
        severity = SEVERITIES.get(band.color, "critical").capitalize()
        base = panel.alert.name or (
            camel_case(self.service.name) + camel_case(panel.title)
        )
        if series is not None:
            base += camel_case(series)
        if len(same) > 1:
            base += _band_suffix(band, same)
        name = base + severity
        number = 2
        while name in names:
            name = f"{base}{number}{severity}"
            number += 1
        names.add(name)
        return name

    def alert_labels(self, panel: Panel, severity: str) -> tuple[tuple[str, str], ...]:
        labels = dict(self.service.alerts.labels)
        labels.update(dict(panel.alert.labels))
        ordered = [("severity", severity), ("service", self.service.name)]
        ordered += sorted(
            (k, v) for k, v in labels.items() if k not in ("severity", "service")
        )
        return tuple(ordered)

    def alert_annotations(
        self, view: PanelView, band: Band, severity: str
    ) -> tuple[tuple[str, str], ...]:
        panel = view.panel
        assert self.service.dashboard is not None
        dashboard = self.service.dashboard
        colour = "red" if severity == "critical" else band.color
        summary = panel.alert.summary or summary_text(
            self.service.title, panel.title, view.unit, tuple(view.labels)
        )
        description = panel.alert.description or description_text(
            panel.description, panel.title, dashboard.title, band, view.unit, colour
        )
        base_url = self.config.grafana_url.rstrip("/")
        return (
            ("summary", summary),
            ("description", description),
            ("dashboard_uid", dashboard.uid),
            ("panel_id", str(view.id)),
            ("dashboard_url", f"{base_url}/d/{dashboard.uid}?viewPanel={view.id}"),
        )

    def alert(
        self, view, plan, band, value_expr, pins, series, steps, same, names
    ) -> AlertRule | None:
        """Return the alert for one band, or None when a template does not parse."""
        panel = view.panel
        severity = SEVERITIES.get(band.color, "critical")
        name = self.alert_name(view, band, series, same, names)
        labels = self.alert_labels(panel, severity)
        annotations = self.alert_annotations(view, band, severity)
        for key, text in (*labels, *annotations):
            problem = template_error(text)
            if problem is not None:
                self.diagnostics.append(
                    error(
                        panel.alert.location,
                        f'alert {name}: {key} "{text}" is not a valid Go template: '
                        f"{problem}",
                        "alerts/template",
                    )
                )
                return None
        condition_input = (
            f"({value_expr})" if _needs_parentheses(value_expr) else value_expr
        )
        # NOTE: the manifest loader sets a service's alerts.for to 5m when the manifest
        # has none, so Config.alert_for applies only to services built another way.
        return AlertRule(
            name=name,
            expr=band.condition(condition_input),
            for_=panel.alert.for_ or self.service.alerts.for_ or self.config.alert_for,
            labels=labels,
            annotations=annotations,
            band=band,
            severity=severity,
            value_expr=value_expr,
            query=panel.query,
            unit=view.unit,
            pins=pins,
            series=series,
            record=plan.rule if plan is not None else None,
            grouping=tuple(view.labels),
            steps=steps,
        )


def _band_suffix(band: Band, same: list[Band]) -> str:
    if band.equals is not None:
        return "Is" + camel_case(str(band.equals).replace(".", "_"))
    if band.lower is None:
        return "Low"
    if band.upper is None:
        return "High"
    return f"Band{same.index(band) + 1}"


def derive_rules(service: Service, config: Config | None = None) -> ServiceRules:
    """Derive the recording and alerting rules of one service."""
    if service.dashboard is None or not service.rows:
        return ServiceRules(service, (), ())
    return _Deriver(service, config or Config()).derive()
