"""Alerting and recording rules of a service, derived from its panels.

Each red band of a panel becomes one alert that fires for exactly the values the panel
colours red (yellow bands too, with severity `warning`, where the panel sets
`alert: {warning: true}`). Per-series thresholds become one alert per series, pinned by
the label that the panel's legend renders as the series name. Alerts read the panel
query through its recording rule when it has one.

A value mapping takes precedence over the threshold steps for the value it matches, as
in Grafana. So each red mapping gets an `== value` alert, and a red step band leaves
out the mapped values inside it.

An alert label (`severity`, `service` or one the manifest sets) may have the name of a
label of the alert's series. Prometheus would overwrite that series label, and series
that differ only in it would collide, so the alert expression copies such a label to
`series_<name>` and removes the original.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence

import attrs
import promql_parser as pp

from obscompile import promql
from obscompile.check.positions import text_location
from obscompile.check.query_text import operator_offset, tokenize
from obscompile.config import Config
from obscompile.derive.alert_names import (
    AlertOrigin,
    NameClash,
    NamedAlert,
    PackedOrigins,
    clash_warnings,
    severity_suffix_warning,
)
from obscompile.derive.annotations import (
    Band,
    bands_from_steps,
    bound_text,
    description_text,
    summary_text,
    threshold_text,
)
from obscompile.derive.expressions import (
    UnsupportedQuery,
    number_text,
    pinned_job,
    render,
    rule_text,
    time_modifier_problem,
)
from obscompile.derive.limits import lower_limit
from obscompile.derive.matching import never_matching
from obscompile.derive.recording import (
    PlainSelector,
    RecordedQuery,
    RecordingRule,
    UnnamedQuery,
    deduplicate,
    level_labels,
    plan_query,
    uses_histogram_quantile,
)
from obscompile.derive.testfile import duration_label
from obscompile.derive.thresholds import written_steps
from obscompile.diagnostics import Diagnostic, error, shorten, shorten_quotes, warning
from obscompile.gotemplate import go_quote, template_error
from obscompile.load.durations import duration_ms
from obscompile.load.schema import DERIVED_ANNOTATIONS
from obscompile.load.thresholds import is_shorthand_series
from obscompile.memo import by_identity
from obscompile.model.location import Location
from obscompile.model.panel import Panel
from obscompile.model.service import Service
from obscompile.model.threshold import SeriesThreshold, ValueMapping, colour_hue
from obscompile.render.grafana import (
    PanelView,
    dashboard_rows,
    draws_series_thresholds,
    draws_thresholds,
    panel_views,
)

SEVERITIES = {"red": "critical", "yellow": "warning"}
SERIES_PREFIX = "series_"
_PLACEHOLDER = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
_ACTION = re.compile(r"\{\{.*?\}\}", re.DOTALL)
# `$labels.x` or `.Labels.x`, and `index $labels "x"` or `index .Labels "x"`.
_LABELS = r"(\$labels|(?<![\w$.)])\.Labels)"
_LABEL_FIELD = re.compile(_LABELS + r"\.([A-Za-z_][A-Za-z0-9_]*)")
_LABEL_INDEX = re.compile(r"index\s+" + _LABELS + r'\s+"([A-Za-z_][A-Za-z0-9_]*)"')


@attrs.frozen
class AlertRule:
    """One `alert:` rule, with what the test generator needs to prove it.

    `value_expr` is the expression whose value the condition compares; `query` is the
    panel query it stands for; `pins` are the matchers that select one series.
    `relabels` pairs each series label that an alert label would overwrite with the
    label the expression copies it to. `mappings` are the panel's value mappings,
    which colour the values they match before the steps do. `location` is the
    panel's query, and `text_locations` give where the manifest writes each label
    and annotation that it sets, by name.
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
    relabels: tuple[tuple[str, str], ...] = ()
    mappings: tuple[ValueMapping, ...] = ()
    location: Location | None = attrs.field(default=None, eq=False)
    text_locations: tuple[tuple[str, Location], ...] = attrs.field(default=(), eq=False)


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


# An apostrophe, ASCII or typographic (U+2019), between two letters or digits.
_INNER_APOSTROPHE = re.compile(r"(?<=[A-Za-z0-9])['\u2019](?=[A-Za-z0-9])")


def camel_case(text: str) -> str:
    """Join the words of `text`, each with a capital: `Error Rate (4xx/5xx)` gives
    `ErrorRate4xx5xx`, and `auth_server` gives `AuthServer`.

    An apostrophe inside a word belongs to it, so `Set's Size` gives `SetsSize`.
    """
    joined = _INNER_APOSTROPHE.sub("", str(text))
    return "".join(
        word[0].upper() + word[1:] for word in re.findall(r"[A-Za-z0-9]+", joined)
    )


def legend_pins(legend: str, series: str) -> tuple[tuple[str, str], ...] | None:
    """Return the label values that make `legend` render exactly `series`, or None."""
    return _legend_match(legend, series, ".+?")


def legend_readings(
    legend: str, series: str
) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] | None:
    """Return two different sets of label values that render `series`, or None.

    Grafana renders a label that a series lacks as empty text, so a value may be empty
    here. The shortest and the longest first values differ exactly where more than one
    set of values renders `series`, as in `{{queue}}-{{env}}` for `a-b-c`.
    """
    shortest = _legend_match(legend, series, ".*?")
    longest = _legend_match(legend, series, ".*")
    if shortest is None or longest is None or shortest == longest:
        return None
    return shortest, longest


def _legend_match(
    legend: str, series: str, value_pattern: str
) -> tuple[tuple[str, str], ...] | None:
    """Match `series` against `legend`, each label value read by `value_pattern`."""
    labels = _PLACEHOLDER.findall(legend)
    if not labels:
        return None
    pattern = ""
    position = 0
    for match in _PLACEHOLDER.finditer(legend):
        pattern += (
            re.escape(legend[position : match.start()])
            + f"(?P<{match.group(1)}>{value_pattern})"
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


def legend_hint(legend: str, series: SeriesThreshold) -> str:
    """Suggest the series name a one-label legend renders for the label value `series`.

    A name that a threshold text cannot hold, such as `ingress=api`, is suggested as a
    key of the structured form.
    """
    labels = _PLACEHOLDER.findall(legend)
    if len(set(labels)) != 1:
        return ""
    rendered = _PLACEHOLDER.sub(lambda _: series.series, legend)
    if is_shorthand_series(rendered):
        return (
            f'; write the name as the legend renders it, such as "{shorten(rendered)}"'
        )
    bounds = [str(band.lower) for band in series.bands if band.lower is not None]
    good = f"<{bounds[0]} Green" if len(bounds) == 1 else "<1 Green"
    return (
        f'; the legend renders names such as "{shorten(rendered)}", which a threshold '
        f"text cannot hold, so write them as keys of the structured form: thresholds: "
        f"{{series: {{{shorten(_yaml_string(rendered))}: {_yaml_string(good)}}}}}"
    )


def _yaml_string(text: str) -> str:
    """Return `text` as a double-quoted YAML string, which JSON's escapes also are."""
    return json.dumps(text, ensure_ascii=False)


def _wants_alerts(panel: Panel) -> bool:
    """Return True when alerts are enabled and the thresholds colour the panel."""
    return (
        panel.alert.enabled
        and panel.thresholds is not None
        and draws_thresholds(panel.type)
    )


def recording_plan(
    panel: Panel, service: Service, alerting: bool
) -> RecordedQuery | None:
    """Return the recording rule that replaces the panel's query, or None.

    A query is recorded where the panel sets `record: true`, where it alerts
    (`alerting`), or where it calls histogram_quantile, unless the panel sets
    `record: false` or the query is a plain selector. Raise UnnamedQuery where
    `record: true` or an alert requires a rule that the naming rule cannot name.
    """
    if panel.record is False:
        return None
    if not (panel.record or alerting or uses_histogram_quantile(panel.query)):
        return None
    try:
        return plan_query(panel.query, service)
    except PlainSelector:
        return None
    except UnnamedQuery:
        if panel.record or alerting:
            raise
        return None


def alerted_expression(panel: Panel, service: Service) -> str:
    """Return the expression whose series the alerts of an alerting panel compare.

    It is the expression of the recording rule that `recording_plan` makes for the
    panel, which groups by `job` where every selector pins one job, and the panel's
    query where no rule records it. A constant factor or a `time()` difference that
    the rule leaves outside changes no label, so it is left out.
    """
    try:
        plan = recording_plan(panel, service, alerting=True)
    except UnnamedQuery:
        return panel.query
    return panel.query if plan is None else plan.rule.expr


def _colours(panel: Panel) -> list[str]:
    return ["red", "yellow"] if panel.alert.warning else ["red"]


def _step_bands(
    steps: tuple, colours: list[str], mappings: tuple[ValueMapping, ...]
) -> list[Band]:
    """Return the bands of `colours` in `steps`, less the values mappings colour."""
    mapped = [float(m.value) for m in mappings]
    bands = []
    for colour in colours:
        # `0 Green` alone is red except at 0, so its red step is a band.
        otherwise = any(colour_hue(m.color) != colour for m in mappings)
        for band in bands_from_steps(steps, colour, otherwise):
            inside = tuple(value for value in mapped if band.contains(value))
            bands.append(attrs.evolve(band, excluded=inside))
    return bands


def _panel_bands(view: PanelView) -> list[tuple[str | None, tuple, list[Band]]]:
    """Return `(series, steps, bands)` for the panel as a whole and for each series.

    Every red band of the steps and every red mapping is a band, whatever shade or
    hex value of red it has (`colour_hue`). Steps that only carry the mappings'
    colours to the values between them give no bands of their own.
    """
    resolved = view.thresholds
    result: list[tuple[str | None, tuple, list[Band]]] = []
    colours = _colours(view.panel)
    bands = []
    if not resolved.steps_from_mappings:
        bands = _step_bands(resolved.steps, colours, resolved.mappings)
    for mapping in resolved.mappings:
        hue = colour_hue(mapping.color)
        if hue not in colours:
            continue
        value = float(mapping.value)
        # A mapping without a text at the upper bound of a band of its hue
        # (`<=0.3 Red`) colours the one value that the band's steps cannot, so
        # the band and the mapping are one alert. A text names a state of its own.
        ending = [b for b in bands if b.color == hue and b.upper == value]
        if not mapping.text and ending:
            bands[bands.index(ending[0])] = attrs.evolve(ending[0], upper_included=True)
        else:
            bands.append(Band(hue, equals=value))
    result.append((None, resolved.steps, bands))
    # A table or bar chart shows no per-series thresholds (thresholds/panel-type).
    drawn_series = resolved.series if draws_series_thresholds(view.panel.type) else ()
    for series in drawn_series:
        bands = _step_bands(series.steps, colours, resolved.mappings)
        result.append((series.series, series.steps, bands))
    return [entry for entry in result if entry[2]]


def _single_alerted_colour(view: PanelView) -> str | None:
    """Return the hue of thresholds that colour every value red (or yellow), if so.

    A panel in one colour does not colour by value, so such thresholds give no alert.
    """
    resolved = view.thresholds
    if len(resolved.steps) != 1 or resolved.mappings or resolved.series:
        return None
    hue = colour_hue(resolved.steps[0].color)
    return hue if hue in _colours(view.panel) else None


def _colours_shown(view: PanelView) -> list[str]:
    """Return the colours of the panel's steps, value mappings and per-series steps."""
    resolved = view.thresholds
    colours = [step.color for step in resolved.steps]
    colours += [mapping.color for mapping in resolved.mappings]
    colours += [step.color for series in resolved.series for step in series.steps]
    return colours


def _no_alert_warning(view: PanelView) -> Diagnostic | None:
    """Warn where a panel sets `alert:` and its thresholds give no band to alert on.

    Thresholds in one colour get the alerts/unbounded warning instead, and those that
    the panel type does not draw the thresholds/panel-type error.
    """
    panel = view.panel
    if "alert" not in panel.locations or not panel.alert.enabled:
        return None
    where = panel.locations.get("alert_key", panel.location_of("alert"))
    colours = " or yellow" if panel.alert.warning else ""
    if panel.thresholds is None:
        return warning(
            where,
            f'panel "{panel.title}": no alert is derived, because the panel has no '
            f"thresholds, and an alert fires only where they colour a value "
            f'red{colours}; add thresholds, such as "<5 Green, >=5 Red", or remove '
            "alert",
            "alerts/no-thresholds",
        )
    if not draws_thresholds(panel.type) or _single_alerted_colour(view) is not None:
        return None
    if panel.thresholds.series and not draws_series_thresholds(panel.type):
        return None
    if _panel_bands(view):
        return None
    if "yellow" in map(colour_hue, _colours_shown(view)):
        action = (
            "set alert: {warning: true} to alert on its yellow band with severity "
            "warning, or colour a band red"
        )
    else:
        action = 'colour the band to alert on red, such as ">=5 Red", or remove alert'
    return warning(
        where,
        f'panel "{panel.title}": no alert is derived, because no band of its '
        f"thresholds is red{colours}; {action}",
        "alerts/no-red-band",
    )


def series_label_names(
    node: pp.Expr, service: Service, recorded: bool
) -> frozenset[str]:
    """Return the names of the labels that the result series of `node` carry.

    A recorded query carries the level labels of its rule. A query that keeps the
    labels of raw series carries `job`, `instance`, the metric's catalog labels and
    the target labels of the service's scrape jobs.
    """
    labels = promql.output_labels(node)
    names = set(labels.names)
    if recorded or labels.open:
        try:
            names = set(level_labels(node, service))
        except UnnamedQuery:
            if labels.open:
                names |= {"job", "instance"}
    if labels.open:
        names |= {name for job in service.scrape_jobs for name, _ in job.labels}
    return frozenset(names)


def relabelled_expr(expr: str, relabels: tuple[tuple[str, str], ...]) -> str:
    """Return `expr` with each series label moved to its new name.

    `label_replace(v, "series_x", "$1", "x", "(.*)")` copies `x`, and
    `label_replace(v, "x", "", "", "")` removes it, so the alert label `x` applies
    without making two series equal.
    """
    for label, target in relabels:
        copied = (
            f"label_replace({expr}, {go_quote(target)}, "
            f'"$1", {go_quote(label)}, "(.*)")'
        )
        expr = f'label_replace({copied}, {go_quote(label)}, "", "", "")'
    return expr


def relabelled_template(text: str, relabels: tuple[tuple[str, str], ...]) -> str:
    """Return a Go template whose `$labels.x` reads the label that `x` moved to.

    `.Labels.x` and `index $labels "x"` move the same way.
    """
    if not relabels:
        return text
    moved = dict(relabels)

    def field(match: re.Match[str]) -> str:
        name = match.group(2)
        return f"{match.group(1)}.{moved.get(name, name)}"

    def indexed(match: re.Match[str]) -> str:
        name = match.group(2)
        return f"index {match.group(1)} {go_quote(moved.get(name, name))}"

    def action(match: re.Match[str]) -> str:
        body = re.sub(_LABEL_FIELD, field, match.group(0))
        return re.sub(_LABEL_INDEX, indexed, body)

    return _ACTION.sub(action, text)


def _needs_parentheses(expr: str) -> bool:
    try:
        node = promql.strip_parens(promql.parse(expr))
    except promql.QueryError:
        return True
    if isinstance(node, pp.BinaryExpr):
        return str(node.op) in ("==", "!=", ">", "<", ">=", "<=", "and", "or", "unless")
    return False


class _Deriver:
    def __init__(self, service: Service, config: Config) -> None:
        self.service = service
        self.config = config
        self.diagnostics: list[Diagnostic] = []
        # The written `for:` values already reported as late.
        self.late_alerts_reported: set[Location] = set()
        # The alerts whose derived name another alert took first.
        self.name_clashes: list[NameClash] = []
        # Each name given so far, and its alert.
        self.names: dict[str, NamedAlert] = {}
        self.views = self._views()

    def _views(self) -> list[PanelView]:
        return [view for row in dashboard_rows(self.service) for view in row.panels]

    def without_rules(self) -> set[int]:
        """Warn of each panel whose query no rule can read, and return their ids."""
        found = set()
        for view in self.views:
            panel = view.panel
            try:
                node = promql.parse(panel.query)
            except promql.QueryError:
                continue
            problem = time_modifier_problem(node)
            if promql.value_type(node) == "scalar":
                problem = (
                    "the query returns a scalar, and the rules of a panel read "
                    "series; write vector(...) around it to get the same value as a "
                    "series"
                )
            location = None
            unmatched = never_matching(node, pinned_job(node))
            if unmatched is not None:
                problem = unmatched.message
                offset = operator_offset(panel.query, node, unmatched.operation)
                location = _query_location(panel, offset)
            variable = promql.grafana_variable_problem(panel.query)
            if variable is not None:
                problem, offset = variable
                location = _query_location(panel, offset)
            if problem is None:
                continue
            found.add(view.id)
            alerting = _wants_alerts(panel) and bool(_panel_bands(view))
            if panel.record or alerting:
                self.diagnostics.append(
                    warning(
                        location or _modifier_location(panel),
                        f'panel "{panel.title}": no alert or recording rule: {problem}',
                        "alerts/query",
                    )
                )
        return found

    def plans(self, skipped: set[int]) -> dict[int, RecordedQuery]:
        plans: dict[int, RecordedQuery] = {}
        for view in self.views:
            panel = view.panel
            if view.id in skipped:
                continue
            alerting = _wants_alerts(panel) and bool(_panel_bands(view))
            try:
                plan = recording_plan(panel, self.service, alerting)
            except UnnamedQuery as exc:
                self.diagnostics.append(
                    warning(
                        panel.location_of("query"),
                        f'panel "{panel.title}": no recording rule for this query: '
                        f"{exc}; "
                        "its alerts read the query itself",
                        "rules/recording-name",
                    )
                )
                continue
            if plan is None:
                continue
            rule = attrs.evolve(plan.rule, location=panel.location_of("query"))
            plans[view.id] = attrs.evolve(plan, rule=rule)
        return plans

    def recording(
        self, skipped: set[int]
    ) -> tuple[list[RecordingRule], dict[int, RecordedQuery]]:
        """Return the service's recording rules, and each panel's plan by panel id.

        Each plan names its rule as the rule file does, after `deduplicate`.
        """
        plans = self.plans(skipped)
        rules = self._recorded(plans)
        return rules, plans

    def derive(self) -> ServiceRules:
        skipped = self.without_rules()
        rules, plans = self.recording(skipped)
        alerts: list[AlertRule] = []
        for view in self.views:
            if _wants_alerts(view.panel) and view.id not in skipped:
                alerts.extend(self.panel_alerts(view, plans.get(view.id), self.names))
            silent = _no_alert_warning(view)
            if silent is not None:
                self.diagnostics.append(silent)
        self.diagnostics.extend(clash_warnings(self.name_clashes))
        return ServiceRules(
            self.service, tuple(rules), tuple(alerts), tuple(self.diagnostics)
        )

    def _recorded(self, plans: dict[int, RecordedQuery]) -> list[RecordingRule]:
        """Record each planned expression once, and point each plan at its rule."""
        rules, renamed = deduplicate([plan.rule for plan in plans.values()])
        by_record = {rule.record: rule for rule in rules}
        for view_id, plan in plans.items():
            final = by_record[renamed[plan.rule.expr]]
            plans[view_id] = attrs.evolve(plan, rule=final)
        return rules

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
        return rule_text(render(node, guard=True, extra_matchers=tuple(pins)))

    def _series_labels(
        self, view: PanelView, plan: RecordedQuery | None
    ) -> frozenset[str]:
        """Return the labels of the series that the panel's alerts compare."""
        query = plan.rule.query if plan is not None else view.panel.query
        try:
            node = promql.parse(query)
        except promql.QueryError:
            return frozenset()
        return series_label_names(node, self.service, recorded=plan is not None)

    def _check_template(self, panel: Panel, key: str, text: str | None) -> bool:
        if text is None:
            return True
        problem = template_error(text)
        if problem is None:
            return True
        self.diagnostics.append(
            error(
                panel.alert.locations.get(key, panel.alert.location),
                f"alert {key} is not a valid Go template: {shorten_quotes(problem)}",
                "alerts/template",
            )
        )
        return False

    def panel_alerts(
        self,
        view: PanelView,
        plan: RecordedQuery | None,
        names: dict[str, NamedAlert],
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
        hue = _single_alerted_colour(view)
        if hue is not None:
            self.diagnostics.append(
                warning(
                    panel.location_of("thresholds"),
                    f'panel "{panel.title}": the thresholds colour every value {hue}, '
                    f'so no alert is derived; give the band a bound, such as ">5 Red"',
                    "alerts/unbounded",
                )
            )
        # A panel without any band to alert on gets the warning of _no_alert_warning.
        if (
            panel.alert.warning
            and "yellow" not in map(colour_hue, _colours_shown(view))
            and _panel_bands(view)
        ):
            self.diagnostics.append(
                warning(
                    panel.location_of("alert"),
                    f'panel "{panel.title}": alert.warning is set, but no band is '
                    "yellow, so no warning alert is derived",
                    "alerts/no-warning-band",
                )
            )
        outputs = self._series_labels(view, plan)
        limit = self._lower_limit(panel)
        written = {
            found.series: found
            for found in (panel.thresholds.series if panel.thresholds else ())
        }
        out = []
        overridden = self._overridden_series(view, plan)
        for series, steps, bands in _panel_bands(view):
            unknown = SeriesThreshold(series or "", ())
            pins: tuple[tuple[str, str], ...] = ()
            if series is not None:
                found = legend_pins(view.legend, series)
                if found is None:
                    # The panel's override would match no series either, so the
                    # threshold would have no effect at all.
                    self.diagnostics.append(
                        error(
                            panel.series_location(written.get(series, unknown)),
                            f'panel "{panel.title}": legend "{view.legend}" cannot '
                            f'render the series name "{series}", so neither the '
                            "panel's colours nor an alert apply to it"
                            f"{legend_hint(view.legend, written.get(series, unknown))}",
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
                if limit is not None and _contains_every_value(band, limit):
                    self._warn_always_firing(view, band, series, limit)
                same = [b for b in bands if b.color == band.color]
                rule = self.alert(
                    view,
                    plan,
                    band,
                    value_expr,
                    pins,
                    series,
                    steps,
                    same,
                    names,
                    outputs,
                    # The override of a named series replaces the panel's steps but
                    # not its value mappings, so only a band of the steps leaves out
                    # the named series.
                    () if series is not None or band.equals is not None else overridden,
                )
                if rule is not None:
                    out.append(rule)
        suffixed = severity_suffix_warning(panel, [rule.name for rule in out])
        if suffixed is not None:
            self.diagnostics.append(suffixed)
        return out

    def _overridden_series(
        self, view: PanelView, plan: RecordedQuery | None
    ) -> tuple[str, ...]:
        """Return the value expressions of the series that per-series thresholds name.

        Grafana colours such a series by its own steps alone, so the alerts of the
        panel's steps leave it out.
        """
        resolved = view.thresholds
        if not draws_series_thresholds(view.panel.type):
            return ()
        found = []
        for series in resolved.series:
            pins = legend_pins(view.legend, series.series)
            if pins is None:
                continue
            try:
                found.append(self._value_expr(view, plan, pins))
            except (UnsupportedQuery, promql.QueryError):
                continue
        return tuple(found)

    def _lower_limit(self, panel: Panel) -> float | None:
        """Return the value that the panel's query is never below, if one is known.

        A quantile of buckets that the catalog lists gets None, because
        thresholds/histogram-range reports a bound below its first bucket.
        """
        try:
            node = promql.parse(panel.query)
        except promql.QueryError:
            return None
        if _quantile_of_listed_buckets(node, self.service):
            return None
        return lower_limit(node, self.service)

    def _warn_always_firing(
        self, view: PanelView, band: Band, series: str | None, limit: float
    ) -> None:
        panel = view.panel
        band_name = f"{band.color} band"
        if series is not None:
            band_name += f' of series "{series}"'
        least = bound_text(limit, view.unit)
        start = "0" if limit == 0 else threshold_text(limit, view.unit)
        suggested = f'"{start} Green, >{start} {band.color.capitalize()}"'
        self.diagnostics.append(
            warning(
                _lower_bound_location(view, band, series),
                f'panel "{panel.title}": the {band_name} ({band.words(view.unit)}) '
                f"contains every value of the query, which is never below {least}, "
                f"so its alert always fires; write {suggested} to alert on values "
                f"above {least}",
                "alerts/unbounded",
            )
        )

    def _check_for_interval(self, panel: Panel) -> None:
        """Warn once where a written `for:` is no multiple of the evaluation interval."""
        if panel.alert.for_ is not None:
            written = panel.alert.for_
            where = panel.alert.locations.get("for", panel.alert.location)
        elif self.service.alerts.for_ is not None:
            written = self.service.alerts.for_
            where = self.service.alerts.locations.get("for", self.service.location)
        else:
            return
        if where in self.late_alerts_reported:
            return
        every = self.config.evaluation_interval
        fires = late_firing(written, every)
        if fires is not None:
            self.late_alerts_reported.add(where)
            message = (
                f"for: {written} is no multiple of the evaluation interval {every}, "
                f"so the alert fires {fires.delay()} after its value turns red, as "
                f"with for: {fires.rounded}; write a multiple of {every}"
            )
            self.diagnostics.append(warning(where, message, "alerts/for-interval"))

    def alert_name(
        self, view: PanelView, band: Band, series, same, names: dict[str, NamedAlert]
    ) -> str:
        """Return a name unique in the service: service, title, series, severity.

        A name that an earlier alert has gets a number. `names` maps each name given
        so far to its alert.
        """
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
        named = NamedAlert(view, series, band, name)
        number = 2
        while name in names:
            name = f"{base}{number}{severity}"
            number += 1
        holder = names.get(named.derived)
        # The series and bands of one panel share its written name, so another
        # written name would not tell them apart.
        if holder is not None and panel.alert.name and holder.view.id != view.id:
            self.diagnostics.append(
                warning(
                    panel.alert.locations.get("name", panel.alert.location),
                    f'alert name "{panel.alert.name}" is taken by another alert of '
                    f'this service, so this one is named "{name}"; give it a name of '
                    "its own",
                    "alerts/name",
                )
            )
        elif holder is not None:
            self.name_clashes.append(NameClash(named, holder, named.derived, name))
        names[name] = named
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
        extra = dict(self.service.alerts.annotations)
        extra.update(dict(panel.alert.annotations))
        return (
            ("summary", summary),
            ("description", description),
            ("dashboard_uid", dashboard.uid),
            ("panel_id", str(view.id)),
            ("dashboard_url", f"{base_url}/d/{dashboard.uid}?viewPanel={view.id}"),
            *sorted((k, v) for k, v in extra.items() if k not in DERIVED_ANNOTATIONS),
        )

    def alert(
        self,
        view,
        plan,
        band,
        value_expr,
        pins,
        series,
        steps,
        same,
        names,
        outputs,
        excluded: tuple[str, ...] = (),
    ) -> AlertRule | None:
        """Return the alert for one band, or None when a template does not parse.

        The alert leaves out the series of each expression in `excluded`.
        """
        panel = view.panel
        severity = SEVERITIES.get(band.color, "critical")
        name = self.alert_name(view, band, series, same, names)
        labels = self.alert_labels(panel, severity)
        relabels = _relabels(labels, outputs)
        labels = tuple((k, relabelled_template(v, relabels)) for k, v in labels)
        annotations = tuple(
            (k, relabelled_template(v, relabels))
            for k, v in self.alert_annotations(view, band, severity)
        )
        for key, text in (*labels, *annotations):
            problem = template_error(text)
            if problem is not None:
                self.diagnostics.append(
                    error(
                        panel.alert.location,
                        f'alert {name}: {key} "{shorten(text)}" is not a valid Go '
                        f"template: {shorten_quotes(problem)}",
                        "alerts/template",
                    )
                )
                return None
        self._check_for_interval(panel)
        condition_input = (
            f"({value_expr})" if _needs_parentheses(value_expr) else value_expr
        )
        # NOTE: the manifest loader sets a service's alerts.for to 5m when the manifest
        # has none, so Config.alert_for applies only to services built another way.
        condition = band.condition(condition_input)
        for other in excluded:
            other_input = f"({other})" if _needs_parentheses(other) else other
            condition = f"{condition} unless {other_input}"
        return AlertRule(
            name=name,
            expr=relabelled_expr(condition, relabels),
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
            relabels=relabels,
            mappings=view.thresholds.mappings,
            location=panel.location_of("query"),
            text_locations=self.text_locations(panel),
        )

    def text_locations(self, panel: Panel) -> tuple[tuple[str, Location], ...]:
        """Return where the manifest writes each label and annotation of an alert.

        A panel's own label or annotation replaces the service's of the same name.
        """
        service_at = self.service.alerts.locations
        panel_at = panel.alert.locations
        found: dict[str, Location] = {}
        for name, _ in self.service.alerts.labels:
            found[name] = service_at.get(f"label:{name}", self.service.location)
        for name, _ in self.service.alerts.annotations:
            found[name] = service_at.get(
                f"annotation-value:{name}", self.service.location
            )
        for name, _ in panel.alert.labels:
            found[name] = panel_at.get(f"label:{name}", panel.alert.location)
        for name, _ in panel.alert.annotations:
            found[name] = panel_at.get(f"annotation-value:{name}", panel.alert.location)
        for name in ("summary", "description"):
            if getattr(panel.alert, name) is not None:
                found[name] = panel_at.get(name, panel.alert.location)
        return tuple(found.items())


@attrs.frozen
class LateFiring:
    """The firing delay of an alert whose `for:` is no multiple of the interval.

    `rounded` is the multiple of the interval that the `for:` acts as, and the alert
    fires from `rounded` to `latest` after its value turns red.
    """

    rounded: str
    latest: str

    def delay(self) -> str:
        """Return the delay as a message writes it: `between 1m and 2m`."""
        return f"between {self.rounded} and {self.latest}"


def late_firing(written: str, evaluation_interval: str) -> LateFiring | None:
    """Return when an alert with `for: written` fires, or None for a multiple.

    Prometheus checks `for` only when it evaluates the rule. The alert becomes pending
    at the first evaluation that finds its value red, 0 to one interval after the
    value turns red, and fires at the first evaluation at least `for` after that. So
    a `for` of 2s at 1m acts as 1m, and the alert fires between 1m and 2m after its
    value turns red. tests/test_alert_for.py checks this with promtool 2.42.
    """
    every = duration_ms(evaluation_interval)
    pending = duration_ms(written)
    if not every or pending % every == 0:
        return None
    rounded = -(-pending // every) * every
    return LateFiring(duration_label(rounded), duration_label(rounded + every))


def late_default_alerts(
    config: Config, overridden: Collection[str]
) -> list[Diagnostic]:
    """Warn where obscompile.yaml makes the default `for:` fire late.

    The warning sits at `alert_for` when the file sets it, else at
    `evaluation_interval`. `overridden` names the keys that command-line options
    set in place of the file's. A key that an option sets is not the file's to blame,
    and `--alert-for` prints a warning of its own.
    """
    if "alert_for" in overridden:
        return []
    where = config.locations.get("alert_for")
    if where is None and "evaluation_interval" not in overridden:
        where = config.locations.get("evaluation_interval")
    if where is None:
        return []
    every = config.evaluation_interval
    fires = late_firing(config.alert_for, every)
    if fires is None:
        return []
    message = (
        f"the default for: {config.alert_for} is no multiple of the evaluation "
        f"interval {every}, so an alert without a for: of its own fires "
        f"{fires.delay()} after its value turns red, as with for: {fires.rounded}; "
        f"set alert_for to a multiple of {every}"
    )
    return [warning(where, message, "alerts/for-interval")]


def _modifier_location(panel: Panel) -> Location:
    """Return where the query's first `@` or negative offset is, or where it starts."""
    tokens = tokenize(panel.query)
    offset = None
    for token, following in zip(tokens, [*tokens[1:], None], strict=True):
        if token.text == "@" or (
            token.text.lower() == "offset"
            and following is not None
            and following.text == "-"
        ):
            offset = token.offset
            break
    return _query_location(panel, offset)


def _query_location(panel: Panel, offset: int | None) -> Location:
    """Return where `offset` of the panel's query is, or where the query starts."""
    value_at = panel.location_of("query")
    start = panel.locations.get("query_quote", value_at)
    # NOTE: without the manifest text, a position inside a block scalar falls back
    # to the start of the query.
    return text_location(value_at, panel.query, offset, text_start=start)


def _relabels(
    labels: tuple[tuple[str, str], ...], outputs: frozenset[str]
) -> tuple[tuple[str, str], ...]:
    """Return `(series label, new name)` for each alert label the series also carry.

    Prometheus also sets `alertname`, so a series label of that name moves too.
    """
    static = [name for name, _ in labels] + ["alertname"]
    used = set(outputs) | set(static)
    moved = []
    for name in static:
        if name not in outputs:
            continue
        target = SERIES_PREFIX + name
        while target in used:
            target = SERIES_PREFIX + target
        used.add(target)
        moved.append((name, target))
    return tuple(moved)


def _lower_bound_location(view: PanelView, band: Band, series: str | None) -> Location:
    """Return where the thresholds write the lower bound of `band` of `series`."""
    panel = view.panel
    if panel.thresholds is not None and band.lower is not None:
        for owner, step, bound in written_steps(panel.thresholds, view.thresholds):
            if (
                owner == series
                and bound is not None
                and step.value == band.lower
                and colour_hue(step.color) == band.color
            ):
                return panel.bound_location(bound)
    return panel.location_of("thresholds")


def _contains_every_value(band: Band, limit: float) -> bool:
    """Return True when `band` contains every value at or above `limit`."""
    if band.equals is not None or band.upper is not None:
        return False
    if band.lower is not None and band.lower > limit:
        return False
    return all(value < limit for value in band.excluded)


def _quantile_of_listed_buckets(node: pp.Expr, service: Service) -> bool:
    """Return True for a histogram quantile of buckets that the catalog lists.

    Only such a quantile of buckets above 0 has a smallest value above 0, q times
    the first bucket.
    """
    node = promql.strip_parens(node)
    if not (isinstance(node, pp.Call) and node.func.name == "histogram_quantile"):
        return False
    names = promql.metric_names(node)
    metric = service.metric(names[0]) if len(names) == 1 else None
    return metric is not None and bool(metric.buckets) and min(metric.buckets) > 0


def _band_suffix(band: Band, same: list[Band]) -> str:
    if band.equals is not None:
        return "Is" + camel_case(number_text(band.equals).replace(".", "_"))
    if band.lower is None and band.upper is None:
        return "Other"
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


def recording_rules(service: Service) -> tuple[RecordingRule, ...]:
    """Derive the recording rules of one service as `derive_rules` does, without alerts.

    Each rule's `location` is the query of the first panel that it records. No
    configuration changes these rules.
    """
    if service.dashboard is None or not service.rows:
        return ()
    deriver = _Deriver(service, Config())
    rules, _ = deriver.recording(deriver.without_rules())
    return tuple(rules)


class _AlertNamer(_Deriver):
    """A `_Deriver` that gives each alert the name `derive` gives it, and no rule.

    The steps that decide whether a band gets an alert, and so its number, run as in
    `derive`, on the panels that may alert. The rest of each alert is skipped, and
    so are the series labels and the lower limit of a query, which only the rule and
    its warnings read. Other panels give no alert, so they are not derived.
    """

    def _views(self) -> list[PanelView]:
        return panel_views(self.service, _wants_alerts)

    def _recorded(self, plans: dict[int, RecordedQuery]) -> list[RecordingRule]:
        # Of a plan, the names need only whether `_value_expr` fails, which parses
        # the query of the plan's rule. Recording each expression once may swap
        # that rule for one whose query has the matchers or labels in another
        # order, which parses alike.
        return []

    def _series_labels(
        self, view: PanelView, plan: RecordedQuery | None
    ) -> frozenset[str]:
        return frozenset()

    def _lower_limit(self, panel: Panel) -> float | None:
        return None

    def alert(
        self,
        view,
        plan,
        band,
        value_expr,
        pins,
        series,
        steps,
        same,
        names,
        outputs,
        excluded: tuple[str, ...] = (),
    ) -> AlertRule | None:
        self.alert_name(view, band, series, same, names)
        return None

    def _overridden_series(
        self, view: PanelView, plan: RecordedQuery | None
    ) -> tuple[str, ...]:
        return ()


@by_identity(16)
def named_alerts(service: Service) -> Mapping[str, NamedAlert]:
    """Derive the alerts of `service`: each final name, with its panel and band.

    The names and bands are those of `derive_rules`, which no configuration changes.
    An alert whose label or annotation is no valid Go template is included, though
    `derive_rules` gives that alert an error instead of a rule.
    """
    if service.dashboard is None or not service.rows:
        return {}
    namer = _AlertNamer(service, Config())
    namer.derive()
    return namer.names


def panel_named_alerts(service: Service, panel: Panel) -> list[tuple[str, NamedAlert]]:
    """Return the name and origin of each alert that `panel` of `service` derives."""
    return [
        (name, named)
        for name, named in named_alerts(service).items()
        if named.view.panel is panel
    ]


def alert_origins(service: Service) -> Sequence[AlertOrigin]:
    """Derive the name of each alert of `service`, and where its manifest gives it."""
    return PackedOrigins.of(
        tuple(
            AlertOrigin(name, service.name, named.panel_text(), named.location())
            for name, named in named_alerts(service).items()
        )
    )
