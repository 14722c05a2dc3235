"""Generate the promtool unit tests that prove each derived rule.

For every alert, one test group per value around each boundary of its band: just
outside, exactly at the boundary, and just inside. Where the query's constant scale
never gives the boundary exactly (no double r gives `r * 100 == 7`), the nearest
values that it gives on each side take the boundary's place. A counter rate that no
whole increment per sample gives exactly, such as 1000 per second over 5m, comes from a
counter sampled between the evaluations, or one that restarts once per window (see
`counters`). Each group checks the alert pending
(not yet listed) one evaluation before `for` has passed, firing when it has, with its
exact labels and expanded annotations, or silent when the value is outside the band.
Ratios over rates, and a `min`, `max`, `sum` or `avg` over one, also get groups
without traffic in some series (see `idle`). Without any traffic, the rule records
nothing, or NaN under a `sum` or `avg`, and the alert stays silent. Where the query
is +Inf or -Inf, the group checks that the rule records that too. Where the alert
moves a series label out of the way of an alert label, every group also has a second
series that differs only in that label, and both fire where the value is in the band.
Every
recording rule gets a `promql_expr_test` that the recorded series and the raw query
give the same value, which is computed here by repeating the engine's arithmetic (see
`evaluate`). A rule that cannot be tested is listed with the reason. Rules that differ
only in the service's names get their tests from one run of the generator (see
`renaming`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator

import attrs
import promql_parser as pp

from obscompile import promql
from obscompile.config import Config
from obscompile.derive import gorender
from obscompile.derive.alerts import AlertRule, ServiceRules
from obscompile.derive.annotations import bound_text
from obscompile.derive.counters import OutOfReach, sampling_choices
from obscompile.derive.evaluate import (
    Labels,
    OrderDependent,
    Sample,
    UnsupportedExpression,
    compile_expr,
    drop_name,
)
from obscompile.derive.expressions import (
    is_guarded,
    is_non_negative,
    is_vector,
    pinned_job,
    printed_text,
)
from obscompile.derive.idle import (
    Idle,
    denominator_cases,
    idle_series_case,
    no_traffic,
)
from obscompile.derive.limits import lower_limit
from obscompile.derive.probes import Probe, colour_of, probe_values
from obscompile.derive.recording import RecordingRule, level_labels, split_constant
from obscompile.derive.renaming import (
    IDENTITY,
    Renaming,
    contains_placeholder,
    query_keeps_meaning,
    template_keeps_meaning,
)
from obscompile.derive.simulate import Run, last_read_ms, simulate
from obscompile.derive.synthesis import (
    CannotSynthesize,
    Context,
    InputSeries,
    invented_value,
    synthesize,
)
from obscompile.derive.template_queries import template_query
from obscompile.derive.testfile import (
    AlertCheck,
    ExprCheck,
    TestGroup,
    TestSuite,
    Untested,
    duration_label,
    labels_text,
    series_texts,
)
from obscompile.diagnostics import quoted
from obscompile.load.durations import MAX_DURATION_MS, duration_ms
from obscompile.model.metric import Metric
from obscompile.model.scrape import ScrapeJob
from obscompile.model.service import Service
from obscompile.numbers import number_text

# Traffic scales to try in turn. Ratios and quantiles do not change with the scale,
# but the rounding of each rate does, and a boundary test needs the boundary exactly.
_MULTIPLIERS = (1, 2, 3, 4, 5, 7, 8, 16)


# The maximum pending period, in evaluations, that a generated test replays: one week
# at the default evaluation interval of 1m.
MAX_EVALUATIONS = 10_080
# The maximum length of a whole generated test run, in evaluations: the pending
# period, the query's offset and range, and a few evaluations more. promtool evaluates
# every rule of the file at each of them, though the generator skips those before the
# query's offset (see `simulate`).
MAX_RUN_EVALUATIONS = 2 * MAX_EVALUATIONS


# The label values of the series that a pinned alert must ignore: the first that
# differs from the pinned value.
_DECOYS = ("other", "another")


class _Mismatch(ValueError):
    """The synthesized input does not give the value the test needs."""


class _Unreached(_Mismatch):
    """No synthesized input gives the query the value of a group without traffic."""


class _NotExpanded(ValueError):
    """The generator cannot expand the template of an alert's label or annotation.

    `text` is the name of the label or annotation.
    """

    def __init__(self, message: str, text: str) -> None:
        super().__init__(message)
        self.text = text


def _expanded(
    kind: str,
    name: str,
    template: str,
    labels: dict[str, str],
    value: float,
    query: gorender.QueryFunction,
) -> str:
    """Return the alert's label or annotation `name` as Prometheus expands it."""
    subject = name if name in ("summary", "description") else f'{kind} "{name}"'
    try:
        return gorender.render(template, labels, value, query)
    except gorender.ExpansionError as exc:
        raise _NotExpanded(
            f"Prometheus fails to expand the {subject} for the value "
            f'{number_text(value)} ({exc}) and writes "<error expanding template: '
            '...>" in its place',
            name,
        ) from None
    except gorender.UnsupportedTemplate as exc:
        raise _NotExpanded(
            f"the test generator cannot expand the {subject} ({exc}); it expands "
            "if, with, range, define, block, template, the functions that format "
            "values and labels, and query where the test's own series give a "
            "certain result",
            name,
        ) from None


# The aggregations over a ratio whose groups without traffic the generator builds.
# `min` and `max` leave out a series that is 0/0, and `sum` and `avg` give NaN for
# its group.
_IDLE_AGGREGATIONS = frozenset({"min", "max", "sum", "avg"})

# The failures that leave a rule without a generated test, listed with the reason.
# OverflowError comes from Python's float() of a huge fraction or integer, where Go
# gives +Inf.
_UNTESTABLE = (CannotSynthesize, UnsupportedExpression, _Mismatch, OverflowError)


def _ratio_over_rates(
    node: pp.Expr,
) -> tuple[pp.BinaryExpr | None, pp.AggregateExpr | None]:
    """Return the query's ratio with a rate below it, and the aggregation over it.

    Only such a ratio, whose denominator the panel or the rule guards, has groups
    without traffic. A ratio of gauges has none. The aggregation is a `min`, `max`,
    `sum` or `avg` over the ratio, or None.
    """
    aggregation = None
    if (
        isinstance(node, pp.AggregateExpr)
        and str(node.op) in _IDLE_AGGREGATIONS
        and node.param is None
    ):
        aggregation = node
        node = promql.strip_parens(node.expr)
    if (
        isinstance(node, pp.BinaryExpr)
        and str(node.op) == "/"
        and (is_guarded(node.rhs) or is_non_negative(node.rhs))
    ):
        return node, aggregation
    return None, None


def _offset_ms(node: pp.Expr) -> int:
    """Return the largest offset of the query's selectors."""
    offsets = [0]
    for found in promql.walk(node):
        if isinstance(found, pp.VectorSelector) and found.offset:
            offsets.append(int(found.offset.total_seconds() * 1000))
    return max(offsets)


def _window_ms(node: pp.Expr) -> int:
    """Return how far back from an evaluation the query reads: window plus offset."""
    windows = [0]
    for found in promql.walk(node):
        if isinstance(found, pp.MatrixSelector):
            selector = found.vector_selector
            offset = selector.offset.total_seconds() if selector.offset else 0
            windows.append(int((found.range.total_seconds() + offset) * 1000))
        elif isinstance(found, pp.VectorSelector) and found.offset:
            windows.append(int(found.offset.total_seconds() * 1000))
    return max(windows)


class _Generator:
    def __init__(self, service: Service, evaluation_ms: int) -> None:
        self.service = service
        self.evaluation_ms = evaluation_ms
        self.interval_ms = self.evaluation_ms
        self.groups: list[TestGroup] = []
        self.untested: list[Untested] = []
        self.tested_records: set[str] = set()

    def _first_target(self, node: pp.Expr) -> str | None:
        """Return the first target of the scrape job that the query pins, if any."""
        job = pinned_job(node)
        instance = None
        for scrape in self.service.scrape_jobs:
            if scrape.job == job and scrape.targets:
                instance = scrape.targets[0]
        return instance

    def context(self, node: pp.Expr, group: dict[str, str]) -> Context:
        return Context(
            self.service,
            self.interval_ms // 1000,
            tuple(sorted(group.items())),
            self._first_target(node),
        )

    def _group_labels(self, node: pp.Expr, grouping, pins) -> dict[str, str]:
        """Return a value for each pin and each grouping label no matcher constrains.

        A query grouped by `instance` gets a target of its job, as a scrape would.
        """
        constrained = {
            m.name for s in promql.selectors(node) for m in s.matchers.matchers
        }
        target = self._first_target(node)
        group = dict(pins)
        for label in grouping:
            if label in group or label in constrained:
                continue
            if label == "instance" and target is not None:
                group[label] = target
            else:
                group[label] = f"{label}-1"
        return group

    # Alerts --------------------------------------------------------------------

    def alert_groups(self, alert: AlertRule) -> None:
        evaluations = duration_ms(alert.for_) // self.evaluation_ms
        if evaluations > MAX_EVALUATIONS:
            # Each test replays every evaluation of the pending period in Python.
            self.untested.append(
                Untested(
                    alert.name,
                    f"for: {alert.for_} spans {evaluations} rule evaluations, and the "
                    f"test generator replays at most {MAX_EVALUATIONS}; write a "
                    "promtool test for it in tests/promtool/",
                )
            )
            return
        node = promql.parse(alert.query)
        grouping = alert.grouping
        # An alert with one untestable value gets no group at all, and its recording
        # rule's test is not counted as written, so the rule gets its own group.
        groups: list[TestGroup] = []
        tested_records = set(self.tested_records)
        try:
            group = self._group_labels(node, grouping, alert.pins)
            context = self.context(node, group)
            probes = probe_values(alert, node, context)
            probed = {probe.value for probe in probes}
            for probe in probes:
                test_group = self._probe_group(alert, node, context, probe, probed)
                if test_group is not None:
                    groups.append(test_group)
            if not any(check.alerts for g in groups for check in g.alert_checks):
                raise _Mismatch(
                    "no value that the tests give the query lies in the band "
                    f"({alert.band.words(alert.unit)}), so no test shows the "
                    "alert firing"
                )
            inner, _, _, _ = split_constant(node)
            ratio, aggregation = _ratio_over_rates(promql.strip_parens(inner))
            if ratio is not None:
                groups += self.idle_groups(
                    alert, node, context, ratio, probes, aggregation
                )
        except (*_UNTESTABLE, _NotExpanded) as exc:
            self.tested_records = tested_records
            text = exc.text if isinstance(exc, _NotExpanded) else None
            self.untested.append(Untested(alert.name, _reason(exc), text))
            return
        self.groups.extend(groups)
        if alert.record is not None:
            self.tested_records.add(alert.record.record)

    def idle_groups(
        self,
        alert: AlertRule,
        node: pp.Expr,
        context: Context,
        ratio: pp.BinaryExpr,
        probes: list[Probe],
        aggregation: pp.AggregateExpr | None = None,
    ) -> list[TestGroup]:
        """Return the groups without traffic in some series of `ratio`.

        Without any traffic and with gauges at 0, the query is 0/0, so the rule
        records no sample, or NaN under a `sum` or `avg`, and the alert stays
        silent. Where `aggregation` is over the ratio, a group adds a series that is
        0/0 beside the inputs of a value in the band. A `min` or `max` leaves it out,
        and so does a guard in the query's ratio, so the alert fires. Otherwise a
        `sum` or `avg` gives NaN, so the alert stays silent even though the other
        series are in the band. The groups with flat counters in the denominator
        take the inputs of the largest probed value. The query is then
        +Inf where the numerator is above 0 and -Inf where it is below, which the
        rule must record and the alert compare as the panel does. The group for
        -Inf is tried where the band reaches -Inf and the numerator can be below 0.
        A ratio of minimums of a part and its whole gets other groups here (see
        `denominator_cases`). A group whose value no input gives, as +Inf for a part
        of the denominator's own traffic under `sum`, is left out.
        """
        groups = [
            self.alert_group(
                alert,
                node,
                context,
                Probe(alert.band.bounds[0]),
                Idle(math.nan, no_traffic, "no traffic", checked=False),
            )
        ]
        cases: list[tuple[Probe, Idle]] = []
        firing = [
            probe.value
            for probe in probes
            if probe.replaces is None and alert.band.contains(probe.value)
        ]
        if aggregation is not None and firing:
            beside = idle_series_case(aggregation, ratio, firing[0])
            if beside is not None:
                cases.append((Probe(firing[0], exact=True), beside))
        above = max((probe.value for probe in probes), default=0.0)
        if not is_guarded(ratio.rhs) and above > 0:
            least = lower_limit(ratio.lhs, self.service)
            negative = alert.band.contains(-math.inf) and (least is None or least < 0)
            cases += [
                (Probe(above), idle) for idle in denominator_cases(ratio, negative)
            ]
        for probe, idle in cases:
            try:
                groups.append(self.alert_group(alert, node, context, probe, idle))
            except (CannotSynthesize, _Unreached):
                continue
        return groups

    def _probe_group(
        self,
        alert: AlertRule,
        node: pp.Expr,
        context: Context,
        probe: Probe,
        probed: set[float],
    ) -> TestGroup | None:
        """Return the group for `probe`, or for its fallback where no input gives it.

        A fallback that another probe of the alert already tests gets no group.
        """
        try:
            return self.alert_group(alert, node, context, probe)
        except (CannotSynthesize, _Mismatch):
            if probe.fallback is None:
                raise
            if probe.fallback in probed:
                return None
        probed.add(probe.fallback)
        return self.alert_group(alert, node, context, Probe(probe.fallback))

    def _inputs(
        self, alert: AlertRule, node: pp.Expr, context: Context, value: float
    ) -> list[InputSeries]:
        series = synthesize(node, value, context)
        twin = _twin_group(alert, context.group)
        if twin is not None:
            others = synthesize(node, value, attrs.evolve(context, group=twin))
            if not {s.labels for s in others} & {s.labels for s in series}:
                series += others
        if alert.pins:
            decoy = dict(context.group)
            for label, pinned in alert.pins:
                decoy[label] = _DECOYS[0] if pinned != _DECOYS[0] else _DECOYS[1]
            series += synthesize(
                node, value, attrs.evolve(context, group=tuple(sorted(decoy.items())))
            )
        return series

    def _run(
        self,
        alert: AlertRule,
        node,
        context: Context,
        probe: Probe,
        idle: Idle | None,
    ):
        """Return inputs, their run, its end and input interval, with the first that fits.

        The short run ends `for` after the first evaluation that can see a value, and
        is enough where the value is exact while the rate window fills. Otherwise the
        run lasts until the window is full. Inputs that give the value at every
        evaluation of the last `for` come first, because only they fail a rule whose
        boundary moves to the value. A probe that needs no exact value may
        get a value on the same side of every boundary instead. A group without
        traffic in some series takes the first inputs of either run length that
        give the query its NaN or infinity, whether the alert agrees or not. One
        whose query keeps the probe's value takes inputs as the probe does. Either
        raises _Unreached where no input fits.
        """
        value = probe.value
        records = [alert.record] if alert.record else []
        queries = [alert.query] + ([alert.record.query] if alert.record else [])
        for_ms = duration_ms(alert.for_)
        fallback = None
        # Inputs that give the value at the end of the run but not throughout `for`.
        unsteady = None
        # Why the query gave no series for any input, where an operation explains it.
        unmatched: str | None = None
        # Why promtool may give other values than the evaluator for some inputs.
        unordered: OrderDependent | None = None
        sampled = False
        for end in self._ends(node, for_ms):
            candidates = self._candidate_inputs(alert, node, context, probe, end)
            for series, interval_ms in candidates:
                if idle is not None:
                    series = idle.inputs(series)
                try:
                    run = simulate(
                        series,
                        records,
                        alert.expr,
                        end,
                        self.evaluation_ms,
                        interval_ms,
                        queries,
                    )
                    if idle is not None and not idle.checked:
                        return series, run, end, interval_ms
                    samples = run.vector(alert.query, end)
                except OrderDependent as exc:
                    unordered = exc
                    continue
                if idle is not None and not math.isfinite(idle.value):
                    # A ratio without traffic is the same at every traffic scale.
                    key = _pinned_sample(samples, alert.pins)
                    if key is not None and _same_value(key.value, idle.value):
                        return series, run, end, interval_ms
                    break
                sampled = sampled or bool(samples)
                if not sampled and unmatched is None:
                    unmatched = _unmatched_operation(node, run, end)
                key = _pinned_sample(samples, alert.pins)
                fires = alert.band.contains(value)
                if bool(run.at(end).firing(for_ms)) != fires:
                    continue
                if key is not None and key.value == value:
                    found = (series, run, end, interval_ms)
                    if self._steady(alert, run, value, end):
                        return found
                    unsteady = unsteady or found
                    continue
                if (
                    fallback is None
                    and key is not None
                    and _same_side(alert, key.value, value)
                ):
                    fallback = (series, run, end, interval_ms)
        if idle is not None:
            raise _Unreached(f"no synthesized input gives {number_text(idle.value)}")
        if unsteady is not None:
            return unsteady
        if fallback is None or probe.exact:
            if not sampled and unmatched is not None:
                raise _Mismatch(unmatched)
            if not sampled and unordered is not None:
                raise _Mismatch(str(unordered))
            raise _Mismatch(f"no synthesized input gives exactly {number_text(value)}")
        return fallback

    def _steady(self, alert: AlertRule, run: Run, value: float, end: int) -> bool:
        """Return True where the query gives `value` at each evaluation of the last `for`.

        A rule whose comparison moves to the value is then active for all of `for`,
        or for none of it, and so fires where the group expects silence, or the
        reverse.
        """
        for time_ms in run.evaluation_times(end - duration_ms(alert.for_)):
            key = _pinned_sample(run.vector(alert.query, time_ms), alert.pins)
            if key is None or key.value != value:
                return False
        return True

    def _candidate_inputs(
        self,
        alert: AlertRule,
        node: pp.Expr,
        context: Context,
        probe: Probe,
        end: int,
    ) -> Iterator[tuple[list[InputSeries], int]]:
        """Yield input series for the probe and their input interval, best first.

        First come inputs with a sample at every evaluation, at each traffic scale.
        A probe in place of an unreachable boundary first gets the inputs
        that give the boundary in exact arithmetic, such as 7 errors in 100
        requests for 7%. Rounding in the rates and the division lands them on one
        side or the other, depending on the scale. Then it gets the inputs computed
        for its own value, which a gauge, for one, gives exactly.

        Then come counters whose rate is exact by construction, sampled at every
        evaluation or between them (see `counters`), for each target in the same
        order, unless the run would read more of their samples than it has
        evaluations at most. Raises CannotSynthesize when the query gets no input
        series at all.
        """
        targets = (
            (probe.value,) if probe.replaces is None else (probe.replaces, probe.value)
        )
        # NOTE: neither kind of input always reaches both sides. For a ratio of one
        # metric, `5xx / all`, 7 in 50 requests gives 14.000000000000002% at every
        # traffic scale tried and never the value below 14%, so such a rule stays
        # untested.
        failures: list[CannotSynthesize] = []
        seen: set[tuple[InputSeries, ...]] = set()
        for target in targets:
            try:
                scaled = self._scaled_inputs(
                    alert, node, context, target, probe.replaces is not None
                )
                for series in scaled:
                    # Traffic scales that give the same inputs give the same run.
                    if tuple(series) not in seen:
                        seen.add(tuple(series))
                        yield series, self.interval_ms
            except CannotSynthesize as exc:
                failures.append(exc)
        exact_found = False
        out_of_reach: list[OutOfReach] = []
        reads_counter = any(
            isinstance(part, pp.Call) and part.func.name in promql.COUNTER_FUNCTIONS
            for part in promql.walk(node)
        )
        read_ms = last_read_ms(alert.query, end)
        for target in targets if reads_counter else ():
            for sampling in sampling_choices(self.evaluation_ms):
                if read_ms // sampling.spacing_ms > MAX_RUN_EVALUATIONS:
                    continue
                exact_context = attrs.evolve(context, sampling=sampling)
                try:
                    series = self._inputs(alert, node, exact_context, target)
                except OutOfReach as exc:
                    out_of_reach.append(exc)
                    continue
                except CannotSynthesize:
                    continue
                exact_found = True
                yield series, sampling.grid_ms
        if len(failures) == len(targets) and not exact_found:
            # A rate that no sampling reaches explains more than a missed whole step.
            raise out_of_reach[-1] if out_of_reach else failures[-1]

    def _scaled_inputs(
        self,
        alert: AlertRule,
        node: pp.Expr,
        context: Context,
        target: float,
        all_first: bool,
    ) -> Iterator[list[InputSeries]]:
        """Yield the inputs for `target` at each traffic scale.

        With `all_first`, every scale gets its inputs before the first is yielded,
        so that a scale without inputs leaves the target without any.
        """
        found: Iterator[list[InputSeries]] = (
            self._inputs(alert, node, attrs.evolve(context, multiplier=m), target)
            for m in _MULTIPLIERS
        )
        if all_first:
            found = iter(list(found))
        yield from found

    def alert_group(
        self,
        alert: AlertRule,
        node,
        context: Context,
        probe: Probe,
        idle: Idle | None = None,
    ) -> TestGroup:
        for_ms = duration_ms(alert.for_)
        value = probe.value if idle is None else idle.value
        try:
            series, run, end, interval_ms = self._run(alert, node, context, probe, idle)
        except (CannotSynthesize, _Mismatch) as exc:
            if probe.replaces is None:
                raise
            raise _Mismatch(
                f"{_nearest_value_reason(probe, alert.unit)}, but {_reason(exc)}"
            ) from None
        fires = not math.isnan(value) and alert.band.contains(value)
        times = [end]
        if fires:
            moved = dict(alert.relabels)
            active = [
                since
                for labels, since in run.at(end).active.items()
                if all(dict(labels).get(moved.get(k, k)) == v for k, v in alert.pins)
            ]
            if not active:
                raise _Mismatch(
                    f"the alert is not active for the value {number_text(value)}"
                )
            since = min(active)
            # The alert fires at the first evaluation at least `for` after it became
            # active; `for` need not be a multiple of the evaluation interval.
            evaluations = -(-for_ms // self.evaluation_ms)
            first_firing = since + evaluations * self.evaluation_ms
            times = sorted({first_firing - self.evaluation_ms, first_firing, end})
            times = [t for t in times if t >= since or t == end]
        checks = tuple(self.alert_check(alert, run, t, for_ms) for t in times)
        firing_at_end = bool(run.at(end).firing(for_ms))
        if firing_at_end != fires:
            raise _Mismatch(
                f"the alert {'fires' if firing_at_end else 'stays silent'} "
                f"for {number_text(value)}"
            )
        expr_checks = self.record_checks(alert.record, run, end) if alert.record else ()
        if probe.replaces is not None:
            # The query's own value shows how close to the boundary the group gets.
            samples = run.vector(alert.query, end)
            expr_checks += (
                ExprCheck(
                    alert.query,
                    duration_label(end),
                    tuple(sorted((labels_text(s.labels), s.value) for s in samples)),
                ),
            )
        colour = colour_of(alert.steps, value, alert.mappings)
        if idle is None:
            what = f"{bound_text(value, alert.unit)} ({colour})"
        elif math.isnan(value):
            what = idle.name
        elif math.isinf(value):
            what = f"{idle.name}, {number_text(value)} ({colour})"
        else:
            what = f"{idle.name}, {bound_text(value, alert.unit)} ({colour})"
        outcome = "fires" if fires else "stays silent"
        name = f"{alert.name}: {what} {outcome}"
        if probe.replaces is not None:
            name += f", {_nearest_value_note(probe, alert.unit)}"
        return TestGroup(
            name=name,
            interval=duration_label(interval_ms),
            series=series_texts(series, run.last_index),
            alert_checks=checks,
            expr_checks=expr_checks,
        )

    def alert_check(
        self, alert: AlertRule, run: Run, time_ms: int, for_ms: int
    ) -> AlertCheck:
        found = []
        moment = run.at(time_ms)
        query = template_query(run, time_ms)
        for labels, value in sorted(moment.firing(for_ms).items()):
            sample_labels = dict(moment.sample_labels[labels])
            expected = dict(labels)
            expected.update(
                {
                    k: _expanded("label", k, v, sample_labels, value, query)
                    for k, v in alert.labels
                }
            )
            annotations = tuple(
                (k, _expanded("annotation", k, v, sample_labels, value, query))
                for k, v in alert.annotations
            )
            found.append((tuple(sorted(expected.items())), annotations))
        return AlertCheck(duration_label(time_ms), alert.name, tuple(sorted(found)))

    # Recording rules -------------------------------------------------------------

    def record_checks(
        self, rule: RecordingRule, run: Run, time_ms: int
    ) -> tuple[ExprCheck, ...]:
        """Return the checks that the recorded series give what the query gives.

        Where the query gives NaN, the rule records NaN or, behind its guard, no
        sample. promtool compares values with ==, which never holds for NaN, so the
        checks count or mark the NaN samples apart from the others.
        """
        raw = run.vector(rule.query, time_ms)
        recorded = run.vector(rule.expr, time_ms)
        by_labels = {s.labels: s for s in raw}
        named = []
        unmatched = {s.labels for s in raw if not math.isnan(s.value)}
        for sample in recorded:
            match = _raw_for(sample, by_labels)
            if match is None or not _same_value(match.value, sample.value):
                query_value = "no sample" if match is None else number_text(match.value)
                raise _Mismatch(
                    f"{rule.record} gives {number_text(sample.value)} where the query "
                    f"gives {query_value}"
                )
            unmatched.discard(match.labels)
            labels = (*sample.labels, ("__name__", rule.record))
            named.append(Sample(labels, match.value))
        if unmatched or len(recorded) > len(raw):
            raise _Mismatch(
                f"{rule.record} gives {len(recorded)} series where the query "
                f"gives {len(raw)}"
            )
        if any(not math.isnan(s.value) for s in raw):
            self.tested_records.add(rule.record)
        when = duration_label(time_ms)
        return _recorded_checks(rule.record, named, when) + _query_checks(
            rule.query, raw, when
        )

    def record_group(self, rule: RecordingRule) -> None:
        node = promql.parse(rule.query)
        try:
            labels = [
                name
                for name in level_labels(node, self.service)
                if name not in ("job", "instance")
            ]
            context = self.context(node, self._group_labels(node, labels, ()))
            series = self._representative_inputs(node, context)
            end = self._ends(node, 0)[0]
            run = simulate(
                series,
                [rule],
                None,
                end,
                self.evaluation_ms,
                self.interval_ms,
                [rule.query],
            )
            checks = self.record_checks(rule, run, end)
        except _UNTESTABLE as exc:
            self.untested.append(Untested(rule.record, _reason(exc)))
            return
        self.groups.append(
            TestGroup(
                name=f"{rule.record} equals its query",
                interval=duration_label(self.interval_ms),
                series=series_texts(series, run.last_index),
                expr_checks=checks,
            )
        )

    def _ends(self, node: pp.Expr, for_ms: int) -> list[int]:
        """Return the short and the full end of a test run, in milliseconds.

        Raises _Mismatch when the run would be longer than the generator writes tests
        for or than promtool accepts, as a long offset or range makes it.
        """
        reach = _window_ms(node)
        # A range needs two samples, the second one input interval after the first.
        reads_range = any(
            isinstance(part, pp.MatrixSelector) for part in promql.walk(node)
        )
        first = _offset_ms(node) + (self.interval_ms if reads_range else 0)
        ends = [
            _align(first + for_ms + self.evaluation_ms, self.evaluation_ms),
            _align(reach + for_ms + self.evaluation_ms, self.evaluation_ms),
        ]
        longest = max(ends)
        evaluations = longest // self.evaluation_ms
        if evaluations > MAX_RUN_EVALUATIONS:
            raise _Mismatch(
                f"a test would run for {evaluations} rule evaluations to cover the "
                f"query's offset and range, and the test generator writes tests of at "
                f"most {MAX_RUN_EVALUATIONS}, because promtool evaluates every rule at "
                "each of them; write a promtool test for it in tests/promtool/"
            )
        if longest > MAX_DURATION_MS:
            raise _Mismatch(
                f"a test would run for {duration_label(longest)}, longer than "
                "promtool accepts; write a promtool test for it in tests/promtool/"
            )
        return list(dict.fromkeys(ends))

    @staticmethod
    def _representative_inputs(node: pp.Expr, context: Context) -> list[InputSeries]:
        """Return the inputs of a recording rule's own test, which any value serves.

        A ratio gets 0.25, or 4 where no input gives 0.25, as for a minimum of a
        part of the traffic over the minimum of the whole, which is never below 1.
        """
        node = promql.strip_parens(node)
        if isinstance(node, pp.Call) and node.func.name == "histogram_quantile":
            from obscompile.derive.buckets import catalog_buckets
            from obscompile.derive.synthesis import _counter_selector

            bounds = catalog_buckets(_counter_selector(node.args[1])[0], context)
            return synthesize(node, bounds[len(bounds) // 2], context)
        if isinstance(node, pp.BinaryExpr) and str(node.op) == "/":
            try:
                return synthesize(node, 0.25, context)
            except CannotSynthesize:
                return synthesize(node, 4.0, context)
        return synthesize(node, 1.0, context)


def _twin_group(
    alert: AlertRule, group: tuple[tuple[str, str], ...]
) -> tuple[tuple[str, str], ...] | None:
    """Return the group labels of a second series that differs in the moved labels.

    Only labels that the test chooses freely are changed: not the pinned ones, and
    not those that a matcher of the query fixes.
    """
    labels = dict(group)
    pinned = {label for label, _ in alert.pins}
    changed = False
    for label, _ in alert.relabels:
        if label in labels and label not in pinned:
            other = f"{label}-2"
            labels[label] = other if labels[label] != other else f"{label}-3"
            changed = True
    return tuple(sorted(labels.items())) if changed else None


def _nearest_value_note(probe: Probe, unit: str) -> str:
    """Return why a test group probes a value next to the boundary, not at it."""
    assert probe.replaces is not None
    side = "below" if probe.value < probe.replaces else "above"
    bound = bound_text(probe.replaces, unit)
    return (
        f"the nearest value {side} {bound}, because the query's float arithmetic "
        f"never gives exactly {bound}"
    )


def _nearest_value_reason(probe: Probe, unit: str) -> str:
    """Return the start of the reason why no test covers a probe in place of a boundary."""
    assert probe.replaces is not None
    side = "below" if probe.value < probe.replaces else "above"
    return (
        f"the query's float arithmetic never gives exactly "
        f"{bound_text(probe.replaces, unit)}, so the test needs "
        f"{bound_text(probe.value, unit)}, the nearest value {side} it"
    )


def _unmatched_operation(node: pp.Expr, run: Run, time_ms: int) -> str | None:
    """Return why an arithmetic operation of `node` gives no series, if one does.

    Where both sides give series but no two of them match, as in `sum by (route)
    (x) / sum(y)`, no input of the generator gives the query a value.
    """
    for part in promql.walk(node):
        if not (
            isinstance(part, pp.BinaryExpr)
            and str(part.op) in promql.ARITHMETIC_OPERATORS
            and is_vector(part.lhs)
            and is_vector(part.rhs)
        ):
            continue
        evaluator = run.evaluator
        left = evaluator.samples(compile_expr(part.lhs), time_ms)
        right = evaluator.samples(compile_expr(part.rhs), time_ms)
        if not left or not right or evaluator.samples(compile_expr(part), time_ms):
            continue
        matching = part.modifier.matching if part.modifier is not None else None
        if matching is None:
            compared = "all labels"
        elif matching.type == pp.LabelModifierType.Include:
            compared = f"the labels of on ({', '.join(matching.labels)})"
        else:
            compared = (
                f"all labels but those of ignoring ({', '.join(matching.labels)})"
            )
        return (
            f"`{quoted(printed_text(part))}` gives no series for any synthesized "
            "input, because no series of the left side, such as "
            f"{labels_text(drop_name(left[0].labels))}, matches a series of the right "
            f"side, such as {labels_text(drop_name(right[0].labels))}, on {compared}. "
            "Group both sides by the same labels, or match them on labels they share"
        )
    return None


def _reason(exc: Exception) -> str:
    """Return why a rule has no test, for the list of untested rules."""
    if isinstance(exc, OverflowError):
        return "its thresholds are too large to compute test values for"
    return str(exc)


def _align(value: int, step: int) -> int:
    return -(-value // step) * step


def _same_side(alert: AlertRule, got: float, expected: float) -> bool:
    return alert.band.contains(got) == alert.band.contains(expected) and colour_of(
        alert.steps, got, alert.mappings
    ) == colour_of(alert.steps, expected, alert.mappings)


def _same_value(found: float, expected: float) -> bool:
    """Return True for equal values, and for NaN where NaN is expected."""
    return found == expected or (math.isnan(found) and math.isnan(expected))


def _samples_text(samples: list[Sample]) -> tuple[tuple[str, float], ...]:
    return tuple(sorted((labels_text(s.labels), s.value) for s in samples))


def _recorded_checks(
    record: str, samples: list[Sample], when: str
) -> tuple[ExprCheck, ...]:
    """Return the checks of a recorded series, where `!= bool` gives 1 for NaN."""
    if not any(math.isnan(s.value) for s in samples):
        return (ExprCheck(record, when, _samples_text(samples)),)
    marked = [
        Sample(drop_name(s.labels), 1.0 if math.isnan(s.value) else 0.0)
        for s in samples
    ]
    checks = [ExprCheck(f"{record} != bool {record}", when, _samples_text(marked))]
    numbers = [s for s in samples if not math.isnan(s.value)]
    if numbers:
        checks.append(ExprCheck(f"{record} == {record}", when, _samples_text(numbers)))
    return tuple(checks)


def _query_checks(
    query: str, samples: list[Sample], when: str
) -> tuple[ExprCheck, ...]:
    """Return the checks of a raw query: its NaN samples counted, the others listed."""
    nan_count = sum(1 for s in samples if math.isnan(s.value))
    if not nan_count:
        return (ExprCheck(query, when, _samples_text(samples)),)
    counted = (("{}", float(nan_count)),)
    checks = [ExprCheck(f"count(({query}) != ({query}))", when, counted)]
    numbers = [s for s in samples if not math.isnan(s.value)]
    if numbers:
        checks.append(
            ExprCheck(f"({query}) == ({query})", when, _samples_text(numbers))
        )
    return tuple(checks)


def _pinned_sample(samples: list[Sample], pins) -> Sample | None:
    for sample in samples:
        labels = dict(sample.labels)
        if all(labels.get(k) == v for k, v in pins):
            return sample
    return None


def _raw_for(sample: Sample, by_labels: dict[Labels, Sample]) -> Sample | None:
    """Return the raw query's sample for a recorded sample, which may add `job`."""
    if sample.labels in by_labels:
        return by_labels[sample.labels]
    reduced = tuple(p for p in sample.labels if p[0] != "job")
    return by_labels.get(reduced)


def generate_tests(rules: ServiceRules, config: Config | None = None) -> TestSuite:
    """Return the promtool test groups for one service's rules."""
    service = rules.service
    evaluation_ms = duration_ms((config or Config()).evaluation_interval)
    groups: list[TestGroup] = []
    untested: list[Untested] = []
    tested: set[str] = set()
    for alert in rules.alerts:
        result = _shared_tests(alert, service, evaluation_ms)
        groups += result.groups
        untested += result.untested
        tested |= result.tested_records
    for rule in rules.recording:
        if rule.record not in tested:
            result = _shared_tests(rule, service, evaluation_ms)
            groups += result.groups
            untested += result.untested
    return TestSuite(
        service=service.name,
        evaluation_interval=duration_label(evaluation_ms),
        groups=tuple(groups),
        untested=tuple(untested),
    )


@attrs.frozen
class _Tests:
    """The test groups of one rule, the reason it has none, and the records they test."""

    groups: tuple[TestGroup, ...]
    untested: tuple[Untested, ...]
    tested_records: frozenset[str]


# Tests of renamed rules, by renamed rule, catalog and evaluation interval. Services of
# one shape share them. The dictionary is emptied when it grows past the limit.
_SHARED: dict[tuple, _Tests] = {}
_SHARED_LIMIT = 4096
# Joins the texts of a test group while their names are put back. No name contains it,
# because names must be printable.
_SEPARATOR = "\x00"


def _shared_tests(
    rule: AlertRule | RecordingRule, service: Service, evaluation_ms: int
) -> _Tests:
    """Return the tests of one rule, generated once for every rule of its shape."""
    view = _catalog_view(rule, service)
    dashboard = service.dashboard
    renaming, renamed_rule, renamed_view = _renamed(
        rule, view, (dashboard.uid, dashboard.title) if dashboard else ()
    )
    key = (renamed_rule, renamed_view, evaluation_ms)
    tests = _SHARED.get(key)
    if tests is None:
        generator = _Generator(renamed_view, evaluation_ms)
        if isinstance(renamed_rule, AlertRule):
            generator.alert_groups(renamed_rule)
        else:
            generator.record_group(renamed_rule)
        tests = _Tests(
            tuple(generator.groups),
            tuple(generator.untested),
            frozenset(generator.tested_records),
        )
        if len(_SHARED) >= _SHARED_LIMIT:
            _SHARED.clear()
        _SHARED[key] = tests
    if renaming.identity:
        return tests
    return _Tests(
        tuple(_restored_group(renaming, group) for group in tests.groups),
        renaming.restore(tests.untested),
        renaming.restore(tests.tested_records),
    )


def _restored_group(renaming: Renaming, group: TestGroup) -> TestGroup:
    """Return a renamed test group with its names back, its checks sorted again.

    The texts that can contain names are joined into one, so that the names are put
    back in one pass over one text.
    """
    texts = [group.name, *(series for series, _ in group.series)]
    for alert_check in group.alert_checks:
        texts.append(alert_check.alertname)
        for labels, texts_of_alert in alert_check.alerts:
            texts += [value for _, value in labels]
            texts += [value for _, value in texts_of_alert]
    for expr_check in group.expr_checks:
        texts.append(expr_check.expr)
        texts += [labels_text for labels_text, _ in expr_check.samples]
    joined = _SEPARATOR.join(texts)
    if joined.count(_SEPARATOR) == len(texts) - 1:
        restored = iter(renaming.restore_text(joined).split(_SEPARATOR))
    else:
        # A text contains the separator itself.
        restored = iter([renaming.restore_text(text) for text in texts])
    name = next(restored)
    series = tuple((next(restored), values) for _, values in group.series)
    alert_checks = []
    for alert_check in group.alert_checks:
        alertname = next(restored)
        alerts = [
            (
                tuple((key, next(restored)) for key, _ in labels),
                tuple((key, next(restored)) for key, _ in texts_of_alert),
            )
            for labels, texts_of_alert in alert_check.alerts
        ]
        alert_checks.append(
            AlertCheck(alert_check.eval_time, alertname, tuple(sorted(alerts)))
        )
    expr_checks = []
    for expr_check in group.expr_checks:
        expr = next(restored)
        samples = [(next(restored), value) for _, value in expr_check.samples]
        expr_checks.append(
            ExprCheck(expr, expr_check.eval_time, tuple(sorted(samples)))
        )
    return TestGroup(
        name=name,
        interval=group.interval,
        series=series,
        alert_checks=tuple(alert_checks),
        expr_checks=tuple(expr_checks),
    )


def _rule_queries(rule: AlertRule | RecordingRule) -> list[str]:
    if isinstance(rule, RecordingRule):
        return [rule.expr, rule.query]
    queries = [rule.expr, rule.value_expr, rule.query]
    if rule.record is not None:
        queries += [rule.record.expr, rule.record.query]
    return queries


def _catalog_view(rule: AlertRule | RecordingRule, service: Service) -> Service:
    """Return the part of `service` that the tests of `rule` read.

    That is its name, the job and targets of its scrape jobs, and the catalog entries
    of the metrics that the rule's queries select, in catalog order.
    """
    names: set[str] = set()
    for query in _rule_queries(rule):
        names.update(_selected_metrics(query))
    metrics = tuple(
        Metric(
            metric.name,
            metric.type,
            labels=metric.labels,
            buckets=metric.buckets,
            naming=metric.naming,
        )
        for metric in service.metrics
        if metric.name in names or not names.isdisjoint(metric.series_names())
    )
    jobs = tuple(ScrapeJob(job.job, job.targets) for job in service.scrape_jobs)
    return Service(service.name, "", None, scrape_jobs=jobs, metrics=metrics)


@functools.lru_cache(maxsize=4096)
def _selected_metrics(query: str) -> frozenset[str]:
    """Return the metric names that the selectors of `query` name."""
    return frozenset(promql.metric_names(promql.parse(query)))


def _renamed(
    rule: AlertRule | RecordingRule, view: Service, dashboard: tuple[str, ...]
) -> tuple[Renaming, AlertRule | RecordingRule, Service]:
    """Return the renaming of the service's names in `rule`, and both renamed.

    The names are those of the service, its jobs and targets, its dashboard (uid and
    title in `dashboard`) and the alert. Where a placeholder would change a result
    (see the module `renaming`), the identity and the rule as it is are returned.
    """
    names = [view.name, *dashboard]
    for job in view.scrape_jobs:
        names += [job.job, *job.targets]
    if isinstance(rule, AlertRule):
        names.append(rule.name)
    renaming = Renaming(names)
    unchanged = (IDENTITY, rule, view)
    if renaming.identity:
        return unchanged
    renamed_rule = renaming.apply(rule)
    renamed_view = renaming.apply(view)
    if renaming.clashed or not _keeps_catalog(renaming, view, renamed_view):
        return unchanged
    label_names: list[str] = [label for m in renamed_view.metrics for label in m.labels]
    named: set[str] = set()
    if isinstance(renamed_rule, AlertRule):
        assert isinstance(rule, AlertRule)
        alert = renamed_rule
        # The generator parses `for` and compares the unit with the units it formats.
        if (alert.for_, alert.unit) != (rule.for_, rule.unit):
            return unchanged
        label_names += [k for k, _ in (*alert.labels, *alert.annotations, *alert.pins)]
        label_names += [label for pair in alert.relabels for label in pair]
        label_names += alert.grouping
        named = {k for k, v in alert.pins if contains_placeholder([v])}
        renamed_pins = zip(rule.pins, alert.pins, strict=True)
        if any(
            pin != renamed_pin and _invented(*pin) for pin, renamed_pin in renamed_pins
        ):
            return unchanged
        pairs = zip(
            [v for _, v in (*rule.labels, *rule.annotations)],
            [v for _, v in (*alert.labels, *alert.annotations)],
            strict=True,
        )
        if not all(template_keeps_meaning(text, renamed) for text, renamed in pairs):
            return unchanged
    if contains_placeholder(label_names):
        return unchanged
    pairs = zip(_rule_queries(rule), _rule_queries(renamed_rule), strict=True)
    if not all(
        query_keeps_meaning(query, renamed, renaming, named, _invented)
        for query, renamed in pairs
    ):
        return unchanged
    return renaming, renamed_rule, renamed_view


def _keeps_catalog(renaming: Renaming, view: Service, renamed_view: Service) -> bool:
    """Return True when each renamed metric has the renamed series names.

    A name that covers a suffix, such as `bucket` in `latency_bucket`, leaves the
    renamed series name without a metric in the catalog.
    """
    return all(
        renamed.series_names() == tuple(map(renaming.text, metric.series_names()))
        for metric, renamed in zip(view.metrics, renamed_view.metrics, strict=True)
    )


def _invented(label: str, value: str) -> bool:
    """Return True when the test generator may make up `value` for `label`."""
    return value in _DECOYS or invented_value(label, value)
