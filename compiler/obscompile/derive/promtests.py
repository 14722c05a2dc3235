"""Generate the promtool unit tests that prove each derived rule.

For every alert, one test group per value around each boundary of its band: just
outside, exactly at the boundary, and just inside. Each group checks the alert pending
(not yet listed) one evaluation before `for` has passed, firing when it has, with its
exact labels and expanded annotations, or silent when the value is outside the band.
Ratios also get a group without traffic, where the rule records nothing and the alert
stays silent. Every recording rule gets a `promql_expr_test` that the recorded series
and the raw query give the same value, which is computed here by repeating the engine's
arithmetic (see `evaluate`). A rule that cannot be tested is listed with the reason.
"""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal

import attrs
import promql_parser as pp

from obscompile import promql
from obscompile.config import Config
from obscompile.derive import gorender
from obscompile.derive.alerts import AlertRule, ServiceRules
from obscompile.derive.annotations import bound_text
from obscompile.derive.buckets import neighbour_bounds
from obscompile.derive.evaluate import Sample, UnsupportedExpression
from obscompile.derive.expressions import pinned_job
from obscompile.derive.recording import RecordingRule, level_labels, split_scale
from obscompile.derive.simulate import Run, simulate
from obscompile.derive.synthesis import CannotSynthesize, Context, InputSeries, silent_copy, synthesize
from obscompile.gotemplate import go_quote


@attrs.frozen
class AlertCheck:
    eval_time: str
    alertname: str
    alerts: tuple[tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]], ...]


@attrs.frozen
class ExprCheck:
    expr: str
    eval_time: str
    samples: tuple[tuple[str, float], ...]


@attrs.frozen
class TestGroup:
    name: str
    interval: str
    series: tuple[tuple[str, str], ...]
    alert_checks: tuple[AlertCheck, ...] = ()
    expr_checks: tuple[ExprCheck, ...] = ()


@attrs.frozen
class Untested:
    """A rule without a generated test, and why."""

    rule: str
    reason: str


@attrs.frozen
class TestSuite:
    service: str
    evaluation_interval: str
    groups: tuple[TestGroup, ...]
    untested: tuple[Untested, ...]


# Traffic scales tried in turn; ratios and quantiles do not change with the scale, but
# the rounding of each rate does, and a boundary test needs the boundary exactly.
_MULTIPLIERS = (1, 2, 3, 4, 5, 7, 8, 16)


class _Mismatch(ValueError):
    """The synthesized input does not give the value the test needs."""


def duration_ms(text: str) -> int:
    return int(pp.parse_duration(text).total_seconds() * 1000)


def duration_label(ms: int) -> str:
    """Return a Prometheus duration such as `6m` or `1h5m`."""
    return pp.display_duration(timedelta(milliseconds=ms)) if ms else "0s"


def labels_text(labels: tuple[tuple[str, str], ...]) -> str:
    mapping = dict(labels)
    name = mapping.pop("__name__", "")
    return name + "{" + ",".join(f"{k}={go_quote(v)}" for k, v in sorted(mapping.items())) + "}"


def _window_ms(node: pp.Expr) -> int:
    windows = [
        int(n.range.total_seconds() * 1000) for n in promql.walk(node) if isinstance(n, pp.MatrixSelector)
    ]
    return max(windows, default=0)


def colour_of(steps, value: float) -> str:
    """Return the colour Grafana gives `value`: the last step at or below it."""
    colour = steps[0].color if steps else "green"
    for step in steps[1:]:
        if step.value is not None and value >= step.value:
            colour = step.color
    return colour


def _nice_neighbours(bound: float, low: float | None, high: float | None) -> list[tuple[float, float]]:
    exact = Decimal(repr(bound))
    magnitude = Decimal(10) ** (exact.copy_abs().adjusted() if bound else 0)
    if bound and str(exact.copy_abs().normalize())[0] == "1":
        # 10000 is better probed with 9000 and 11000 than with 0 and 20000.
        magnitude /= 10
    pairs = []
    for shift in range(4):
        step = magnitude / (Decimal(10) ** shift)
        below, above = float(exact - step), float(exact + step)
        if (low is None or below >= low) and (high is None or above <= high):
            pairs.append((below, above))
    return pairs


class _Generator:
    def __init__(self, rules: ServiceRules, config: Config) -> None:
        self.rules = rules
        self.service = rules.service
        self.evaluation_ms = duration_ms(config.evaluation_interval)
        self.interval_ms = self.evaluation_ms
        self.groups: list[TestGroup] = []
        self.untested: list[Untested] = []
        self.tested_records: set[str] = set()

    def context(self, node: pp.Expr, group: dict[str, str]) -> Context:
        job = pinned_job(node)
        instance = None
        for scrape in self.service.scrape_jobs:
            if scrape.job == job and scrape.targets:
                instance = scrape.targets[0]
        return Context(self.service, self.interval_ms // 1000, tuple(sorted(group.items())), instance)

    def _group_labels(self, node: pp.Expr, grouping, pins) -> dict[str, str]:
        constrained = {
            m.name for s in promql.selectors(node) for m in s.matchers.matchers
        }
        group = dict(pins)
        for label in grouping:
            if label not in group and label not in constrained:
                group[label] = f"{label}-1"
        return group

    # Alerts --------------------------------------------------------------------

    def values(self, alert: AlertRule, node: pp.Expr, context: Context) -> list[float]:
        band = alert.band
        if band.equals is not None:
            others = [band.equals + 1] + ([band.equals - 1] if band.equals >= 1 else [])
            return [band.equals, *others]
        inner, scale, _ = split_scale(node)
        inner = promql.strip_parens(inner)
        is_ratio = isinstance(inner, pp.BinaryExpr) and str(inner.op) == "/"
        high = (scale or 1.0) if is_ratio else None
        low = 0.0 if is_ratio or promql.top_function(inner) in promql.COUNTER_FUNCTIONS else None
        values: list[float] = []
        for bound in band.bounds:
            if isinstance(inner, pp.Call) and inner.func.name == "histogram_quantile" and scale is None:
                below, above = neighbour_bounds(inner, context, bound)
                values += [v for v in (below, bound, above) if v is not None]
                continue
            neighbours = _nice_neighbours(bound, low, high)
            if not neighbours:
                values.append(bound)
                continue
            below, above = neighbours[0]
            values += [below, bound, above]
        return list(dict.fromkeys(values))

    def alert_groups(self, alert: AlertRule) -> None:
        node = promql.parse(alert.query)
        grouping = alert.grouping
        try:
            group = self._group_labels(node, grouping, alert.pins)
            context = self.context(node, group)
            values = self.values(alert, node, context)
            for value in values:
                self.groups.append(self.alert_group(alert, node, context, value))
            inner, _, _ = split_scale(node)
            inner = promql.strip_parens(inner)
            if isinstance(inner, pp.BinaryExpr) and str(inner.op) == "/":
                self.groups.append(self.alert_group(alert, node, context, alert.band.bounds[0], silent=True))
        except (CannotSynthesize, UnsupportedExpression, gorender.UnsupportedTemplate, _Mismatch) as exc:
            self.untested.append(Untested(alert.name, str(exc)))
            return
        if alert.record is not None:
            self.tested_records.add(alert.record.record)

    def _inputs(self, alert: AlertRule, node: pp.Expr, context: Context, value: float) -> list[InputSeries]:
        series = synthesize(node, value, context)
        if alert.pins:
            decoy = dict(context.group)
            for label, pinned in alert.pins:
                decoy[label] = "other" if pinned != "other" else "another"
            series += synthesize(node, value, attrs.evolve(context, group=tuple(sorted(decoy.items()))))
        return series

    def _run(self, alert: AlertRule, node, context: Context, value: float, silent: bool, end: int):
        """Return inputs and their run, trying traffic scales until the value is exact."""
        records = [alert.record] if alert.record else []
        fallback = None
        for multiplier in _MULTIPLIERS:
            series = self._inputs(alert, node, attrs.evolve(context, multiplier=multiplier), value)
            if silent:
                series = silent_copy(series)
            run = simulate(series, records, alert.expr, end, self.evaluation_ms, self.interval_ms)
            if silent:
                return series, run
            key = _pinned_sample(run.vector(alert.query, end), alert.pins)
            if key is not None and key.value == value:
                return series, run
            if fallback is None and key is not None and _same_side(alert, key.value, value):
                fallback = (series, run)
        if fallback is None or value in alert.band.bounds:
            raise _Mismatch(f"no synthesized input gives exactly {value!r}")
        return fallback

    def alert_group(self, alert: AlertRule, node, context: Context, value: float, silent: bool = False) -> TestGroup:
        for_ms = duration_ms(alert.for_)
        end = _align(_window_ms(node) + for_ms + self.evaluation_ms, self.evaluation_ms)
        series, run = self._run(alert, node, context, value, silent, end)
        fires = not silent and alert.band.contains(value)
        times = [end]
        if fires:
            active = [
                since
                for labels, since in run.at(end).active.items()
                if all(dict(labels).get(k) == v for k, v in alert.pins)
            ]
            if not active:
                raise _Mismatch(f"the alert is not active for the value {value!r}")
            since = min(active)
            times = sorted({since + for_ms - self.evaluation_ms, since + for_ms, end})
            times = [t for t in times if t >= since or t == end]
        checks = tuple(self.alert_check(alert, run, t, for_ms) for t in times)
        firing_at_end = bool(run.at(end).firing(for_ms))
        if firing_at_end != fires:
            raise _Mismatch(f"the alert {'fires' if firing_at_end else 'stays silent'} for {value!r}")
        expr_checks = self.record_checks(alert.record, run, end) if alert.record else ()
        colour = colour_of(alert.steps, value)
        what = "no traffic" if silent else f"{bound_text(value, alert.unit)} ({colour})"
        outcome = "fires" if fires else "stays silent"
        return TestGroup(
            name=f"{alert.name}: {what} {outcome}",
            interval=duration_label(self.interval_ms),
            series=_series_texts(series, end // self.interval_ms),
            alert_checks=checks,
            expr_checks=expr_checks,
        )

    def alert_check(self, alert: AlertRule, run: Run, time_ms: int, for_ms: int) -> AlertCheck:
        found = []
        for labels, value in sorted(run.at(time_ms).firing(for_ms).items()):
            series_labels = dict(labels)
            expected = dict(series_labels)
            expected.update({k: gorender.render(v, series_labels, value) for k, v in alert.labels})
            annotations = tuple(
                (k, gorender.render(v, series_labels, value)) for k, v in alert.annotations
            )
            found.append((tuple(sorted(expected.items())), annotations))
        return AlertCheck(duration_label(time_ms), alert.name, tuple(found))

    # Recording rules -------------------------------------------------------------

    def record_checks(self, rule: RecordingRule, run: Run, time_ms: int) -> tuple[ExprCheck, ...]:
        raw = run.vector(rule.query, time_ms)
        recorded = run.vector(rule.expr, time_ms)
        when = duration_label(time_ms)
        if any(math.isnan(s.value) for s in raw):
            nan_check = ExprCheck(f"count(({rule.query}) != ({rule.query}))", when, (("{}", float(len(raw))),))
            return (ExprCheck(rule.record, when, ()), nan_check)
        by_labels = {s.labels: s.value for s in raw}
        expected_record = []
        for sample in recorded:
            match = _raw_for(sample, by_labels)
            if match is None or match != sample.value:
                raise _Mismatch(f"{rule.record} gives {sample.value!r} where the query gives {match!r}")
            expected_record.append((labels_text((*sample.labels, ("__name__", rule.record))), match))
        if len(recorded) != len(raw):
            raise _Mismatch(f"{rule.record} gives {len(recorded)} series where the query gives {len(raw)}")
        self.tested_records.add(rule.record)
        return (
            ExprCheck(rule.record, when, tuple(sorted(expected_record))),
            ExprCheck(rule.query, when, tuple(sorted((labels_text(s.labels), s.value) for s in raw))),
        )

    def record_group(self, rule: RecordingRule) -> None:
        node = promql.parse(rule.query)
        try:
            labels = [name for name in level_labels(node, self.service) if name not in ("job", "instance")]
            context = self.context(node, self._group_labels(node, labels, ()))
            target = self._representative(node, context)
            series = synthesize(node, target, context)
            end = _align(_window_ms(node) + self.evaluation_ms, self.evaluation_ms)
            run = simulate(series, [rule], None, end, self.evaluation_ms, self.interval_ms)
            checks = self.record_checks(rule, run, end)
        except (CannotSynthesize, UnsupportedExpression, _Mismatch) as exc:
            self.untested.append(Untested(rule.record, str(exc)))
            return
        self.groups.append(
            TestGroup(
                name=f"{rule.record} equals its query",
                interval=duration_label(self.interval_ms),
                series=_series_texts(series, end // self.interval_ms),
                expr_checks=checks,
            )
        )

    @staticmethod
    def _representative(node: pp.Expr, context: Context) -> float:
        node = promql.strip_parens(node)
        if isinstance(node, pp.Call) and node.func.name == "histogram_quantile":
            from obscompile.derive.buckets import catalog_buckets
            from obscompile.derive.synthesis import _counter_selector

            bounds = catalog_buckets(_counter_selector(node.args[1])[0], context)
            return bounds[len(bounds) // 2]
        if isinstance(node, pp.BinaryExpr) and str(node.op) == "/":
            return 0.25
        return 1.0

    def generate(self) -> TestSuite:
        for alert in self.rules.alerts:
            self.alert_groups(alert)
        for rule in self.rules.recording:
            if rule.record not in self.tested_records:
                self.record_group(rule)
        return TestSuite(
            service=self.service.name,
            evaluation_interval=duration_label(self.evaluation_ms),
            groups=tuple(self.groups),
            untested=tuple(self.untested),
        )


def _align(value: int, step: int) -> int:
    return -(-value // step) * step


def _same_side(alert: AlertRule, got: float, wanted: float) -> bool:
    return alert.band.contains(got) == alert.band.contains(wanted) and colour_of(alert.steps, got) == colour_of(
        alert.steps, wanted
    )


def _pinned_sample(samples: list[Sample], pins) -> Sample | None:
    for sample in samples:
        labels = dict(sample.labels)
        if all(labels.get(k) == v for k, v in pins):
            return sample
    return None


def _raw_for(sample: Sample, by_labels: dict) -> float | None:
    """Return the raw query's value for a recorded sample, which may carry `job` in addition."""
    if sample.labels in by_labels:
        return by_labels[sample.labels]
    reduced = tuple(p for p in sample.labels if p[0] != "job")
    return by_labels.get(reduced)


def _series_texts(series: list[InputSeries], samples: int) -> tuple[tuple[str, str], ...]:
    return tuple((s.series_text(), s.values_text(samples)) for s in series)


def generate_tests(rules: ServiceRules, config: Config | None = None) -> TestSuite:
    """Return the promtool test groups for one service's rules."""
    return _Generator(rules, config or Config()).generate()
