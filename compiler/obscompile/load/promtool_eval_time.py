"""Check that each test of a promtool test file evaluates while its input series exist.

promtool 2.42 loads each input series at time 0, `interval`, 2 × `interval` and so
on. A selector finds a series up to 5m after its last sample (the lookback delta,
which `promtool test rules` 2.42 has no flag or key to change), and a range selector
or offset looks back further. So at an `eval_time` later than the last sample of
every input series plus the longest look back of the expression, the expression
selects nothing. A test that expects samples or alerts there fails with a diff that
does not say why, and one that expects none passes whatever the rules compute.

The look back of an expression is the largest sum, over the paths from its root to a
selector, of the offsets and subquery ranges on the way, plus the selector's range,
or 5m for an instant selector. A selector of a recorded series adds the look back of
the recording rule's expression. The rule marks its series stale at the first
evaluation that gives it no sample, so an instant selector of a recorded series finds
it for at most one evaluation interval after that look back, not 5m. An alert adds
its `keep_firing_for`. `for` adds
nothing, because an alert whose expression is empty is neither pending nor firing.
An expression that can give samples without any input series, such as `absent(x)`,
`vector(1)` or `time()`, or one with an `@` modifier, has no such bound and is not
checked.
"""

from __future__ import annotations

import glob
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import promql_parser as pp

from obscompile import promql
from obscompile.diagnostics import Diagnostic, error, warning
from obscompile.load.durations import duration_ms, duration_problem
from obscompile.load.series_notation import values_items, values_problem
from obscompile.load.yaml_source import JsonPath, Source

# The check of a test whose eval_time is after every input series has ended.
EVAL_AFTER_INPUT = "promtool/eval-after-input"
# promtool 2.42 evaluates every query and rule with Prometheus' default lookback
# delta of 5m.
LOOKBACK_MS = 5 * 60_000
# promtool's evaluation_interval when the file sets none.
_DEFAULT_EVALUATION_INTERVAL_MS = 60_000
# Functions that give samples whatever the input series are, besides those of
# promql.CLOCK_FUNCTIONS called without an argument, which read the evaluation time.
_WITHOUT_INPUT = frozenset({"absent", "absent_over_time", "pi", "scalar", "vector"})
# The series that Prometheus writes for alerting rules.
_ALERT_SERIES = frozenset({"ALERTS", "ALERTS_FOR_STATE"})


@attrs.frozen
class Rules:
    """The expressions of the rule files that a test file loads, by rule name."""

    # The expression and keep_firing_for in ms of each alerting rule. None stands
    # for an expression or duration that cannot be read.
    alerts: dict[str, list[tuple[str | None, int | None]]]
    records: dict[str, list[str | None]]


class _Unbounded(Exception):
    """An expression can give samples however long ago the input series ended."""


def read_rules(test_file: Path, entries: list[str]) -> Rules | None:
    """Read the rules of the files that `rule_files` names, or return None.

    None stands for a rule file that cannot be read or is not a rule file, which
    other checks or promtool report.
    """
    from obscompile.load.input_file import RULE_FILE, InputFileError, read_input_text
    from obscompile.load.yaml_source import parse_yaml

    alerts: dict[str, list[tuple[str | None, int | None]]] = {}
    records: dict[str, list[str | None]] = {}
    for entry in entries:
        for rule_file in glob.glob(os.path.join(test_file.parent, entry)):
            try:
                text = read_input_text(rule_file, RULE_FILE)
            except (InputFileError, UnicodeDecodeError):
                return None
            parsed, _ = parse_yaml(text, rule_file)
            data = parsed.data if parsed is not None else None
            if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
                return None
            for group in data["groups"]:
                rules = group.get("rules") if isinstance(group, dict) else None
                for rule in rules if isinstance(rules, list) else ():
                    if not isinstance(rule, dict):
                        continue
                    expr = rule.get("expr")
                    text_expr = expr if isinstance(expr, str) else None
                    if isinstance(rule.get("alert"), str):
                        keep = _duration_or_none(rule.get("keep_firing_for", "0s"))
                        alerts.setdefault(rule["alert"], []).append((text_expr, keep))
                    elif isinstance(rule.get("record"), str):
                        records.setdefault(rule["record"], []).append(text_expr)
    return Rules(alerts, records)


def check_eval_times(source: Source, rules: Rules | None) -> list[Diagnostic]:
    """Report each test whose eval_time is after the input series of its group end.

    `source` is a test file, whose values of the wrong shape are skipped, and `rules`
    the rules it loads, or None when they are unknown. A test that expects samples or alerts there gets an
    error, and one that expects none a warning.
    """
    data = source.data
    evaluation_interval = _duration_or_none(data.get("evaluation_interval") or "1m")
    if not evaluation_interval:
        evaluation_interval = _DEFAULT_EVALUATION_INTERVAL_MS
    problems: list[Diagnostic] = []
    tests = data.get("tests")
    for index, group in enumerate(tests if isinstance(tests, list) else ()):
        if not isinstance(group, dict):
            continue
        last = _last_sample_ms(group)
        if last is None:
            continue
        names = _input_names(group)
        # The look back that decides whether to report, and the one that gives an
        # eval_time to suggest, which a recorded series' stale marker may shorten.
        reach = _Reach(rules, names, min(LOOKBACK_MS, evaluation_interval))
        safe = _Reach(rules, names, 0)
        checker = _GroupChecker(source, ("tests", index), last, problems)
        cases = group.get("promql_expr_test")
        for number, case in enumerate(cases if isinstance(cases, list) else ()):
            if isinstance(case, dict) and isinstance(case.get("expr"), str):
                checker.expression_test(case, number, reach, safe)
        cases = group.get("alert_rule_test")
        for number, case in enumerate(cases if isinstance(cases, list) else ()):
            if isinstance(case, dict) and rules is not None:
                checker.alert_test(
                    case, number, (reach, safe), rules, evaluation_interval
                )
    return problems


@attrs.define
class _GroupChecker:
    source: Source
    group: JsonPath
    # The time of the last sample of any input series of the group, in ms.
    last: int
    problems: list[Diagnostic]

    def expression_test(
        self, case: dict[str, Any], number: int, reach: _Reach, safe: _Reach
    ) -> None:
        try:
            look_back = reach.expression(case["expr"])
            safe_look_back = safe.expression(case["expr"])
        except _Unbounded:
            return
        path = (*self.group, "promql_expr_test", number, "eval_time")
        eval_time = _duration_or_none(case.get("eval_time") or "0s")
        if eval_time is None or eval_time <= self.last + look_back:
            return
        expects = bool(case.get("exp_samples"))
        outcome = (
            "expr selects nothing and this test, which expects samples, fails"
            if expects
            else "expr selects nothing and this test, which expects no samples, "
            "passes whatever the rules compute"
        )
        self.report(
            path, _written(case), (look_back, safe_look_back), "expr", outcome, expects
        )

    def alert_test(
        self,
        case: dict[str, Any],
        number: int,
        reaches: tuple[_Reach, _Reach],
        rules: Rules,
        evaluation_interval: int,
    ) -> None:
        name = case.get("alertname")
        found = rules.alerts.get(name) if isinstance(name, str) else None
        if not found:
            return

        reach, safe = reaches
        look_back = safe_look_back = 0
        keeps_firing = False
        try:
            for expr, keep_firing_for in found:
                if expr is None or keep_firing_for is None:
                    return
                look_back = max(look_back, reach.expression(expr) + keep_firing_for)
                safe_look_back = max(
                    safe_look_back, safe.expression(expr) + keep_firing_for
                )
                keeps_firing = keeps_firing or keep_firing_for > 0
        except _Unbounded:
            return

        path = (*self.group, "alert_rule_test", number, "eval_time")
        eval_time = _duration_or_none(case.get("eval_time") or "0s")
        if eval_time is None:
            return
        # promtool 2.42 compares the alerts of the last rule evaluation at or before
        # eval_time, on a multiple of evaluation_interval.
        evaluated = eval_time - eval_time % evaluation_interval
        if evaluated <= self.last + look_back:
            return

        expects = bool(case.get("exp_alerts"))
        outcome = (
            "the alert is neither pending nor firing and this test, which expects "
            "alerts, fails"
            if expects
            else "the alert is neither pending nor firing and this test, which "
            "expects no alert, passes whatever the rule computes"
        )
        subject = f"alert {name}"
        if keeps_firing:
            subject += ", keep_firing_for included,"
        self.report(
            path, _written(case), (look_back, safe_look_back), subject, outcome, expects
        )

    def report(
        self,
        path: JsonPath,
        written: str,
        look_backs: tuple[int, int],
        subject: str,
        outcome: str,
        expects: bool,
    ) -> None:
        """Report a test at `path`, an error if it `expects` samples or alerts.

        `look_backs` are the look back that decided to report, and the one that the
        suggested eval_time takes, which is shorter where a stale marker may end a
        recorded series.
        """
        look_back, safe_look_back = look_backs
        horizon = self.last + safe_look_back
        message = (
            f"eval_time {written} is after every input series of this test group has "
            f"ended, so {outcome}. The last sample is at {_shown(self.last)}, and "
            f"{subject} reads samples at most {_shown(look_back)} old: the 5m lookback "
            "of promtool 2.42 for each selector, plus ranges, offsets and the recording "
            "rules that it reads, whose series end at most one evaluation after them"
        )
        if horizon >= 0:
            message += (
                f". Use an eval_time of at most {_shown(horizon)}, where the input "
                "series decide the result, or add samples to values"
            )
        else:
            message += ". Add samples to values"
        where = self.source.location(path)
        if expects:
            self.problems.append(error(where, message, EVAL_AFTER_INPUT))
        else:
            self.problems.append(warning(where, message, EVAL_AFTER_INPUT))


class _Reach:
    """Compute how far before its evaluation time an expression reads samples, in ms."""

    def __init__(
        self, rules: Rules | None, inputs: set[str] | None, recorded_window: int
    ) -> None:
        self.rules = rules
        # The metric names of the input series, or None when one has no known name.
        self.inputs = inputs
        # How long after its rule's look back an instant selector finds a recorded
        # series, which the rule marks stale at its next evaluation.
        self.recorded_window = recorded_window
        self.records: dict[str, int] = {}
        # The recorded series whose look back is being computed, to stop a cycle.
        self.open: set[str] = set()

    def expression(self, text: str) -> int:
        """Return the look back of the PromQL expression `text`, or raise _Unbounded."""
        try:
            node = promql.parse(text)
        except promql.QueryError:
            raise _Unbounded from None
        found = self.node(node)
        if found is None:
            raise _Unbounded  # an expression that reads no series
        return found

    def node(self, node: pp.Expr) -> int | None:
        """Return the look back of `node`, or None for a node that reads no series."""
        if isinstance(node, pp.VectorSelector):
            return self.selector(node, None)
        if isinstance(node, pp.MatrixSelector):
            return self.selector(node.vector_selector, _ms(node.range))
        if isinstance(node, pp.SubqueryExpr):
            if node.at is not None:
                raise _Unbounded
            inner = self.node(node.expr)
            if inner is None:
                return None
            return inner + _ms(node.range) + _ms(node.offset)
        if isinstance(node, pp.Call):
            name = node.func.name
            if name in _WITHOUT_INPUT or (
                name in promql.CLOCK_FUNCTIONS and not node.args
            ):
                raise _Unbounded
        found = [self.node(child) for child in promql.children(node)]
        reached = [value for value in found if value is not None]
        return max(reached) if reached else None

    def selector(self, selector: pp.VectorSelector, window: int | None) -> int:
        """Return the look back of a selector with the range `window`, None if instant."""
        if selector.at is not None:
            raise _Unbounded
        own = _ms(selector.offset) + (LOOKBACK_MS if window is None else window)
        name = promql.metric_name(selector)
        if name in _ALERT_SERIES:
            raise _Unbounded
        if self.rules is None:
            # Without the rules, only a selector of an input series ends with it.
            if self.inputs is None or name not in self.inputs:
                raise _Unbounded
            return own
        if name is None:
            if self.rules.records:
                raise _Unbounded  # it may select a recorded series
            return own
        if name not in self.rules.records:
            return own
        # A range selector keeps the samples before the stale marker.
        found_for = self.recorded_window if window is None else window
        recorded = _ms(selector.offset) + found_for + self.record(name)
        if self.inputs is not None and name not in self.inputs:
            return recorded
        # A name that is both an input series and recorded reads both.
        return max(own, recorded)

    def record(self, name: str) -> int:
        """Return the look back of the recording rules that write `name`."""
        if name in self.records:
            return self.records[name]
        if name in self.open:
            raise _Unbounded
        assert self.rules is not None
        self.open.add(name)
        try:
            look_back = 0
            for expr in self.rules.records[name]:
                if expr is None:
                    raise _Unbounded
                look_back = max(look_back, self.expression(expr))
        finally:
            self.open.discard(name)
        self.records[name] = look_back
        return look_back


def _last_sample_ms(group: dict[str, Any]) -> int | None:
    """Return the time of the last sample of any input series of `group`, or None.

    A selector returns neither `_` nor `stale`, so neither counts. None stands for a
    group without samples.
    """
    interval = _duration_or_none(group.get("interval"))
    series_list = group.get("input_series")
    if not interval or not isinstance(series_list, list):
        return None
    last: int | None = None
    for series in series_list:
        values = series.get("values") if isinstance(series, dict) else None
        if isinstance(values, bool) or not isinstance(values, str | int | float):
            continue  # null loads no sample, and the others are errors
        text = values if isinstance(values, str) else "1"
        if values_problem(text) is not None:
            return None
        position = 0
        for item in values_items(text):
            if item.kind == "value":
                index = position + item.samples - 1
                last = index if last is None else max(last, index)
            position += item.samples
    return None if last is None else last * interval


def _input_names(group: dict[str, Any]) -> set[str] | None:
    """Return the metric names of the input series, or None if one has none."""
    names: set[str] = set()
    series_list = group.get("input_series")
    for series in series_list if isinstance(series_list, list) else ():
        text = series.get("series") if isinstance(series, dict) else None
        try:
            node = promql.parse(text) if isinstance(text, str) else None
        except promql.QueryError:
            return None
        name = promql.metric_name(node) if isinstance(node, pp.VectorSelector) else None
        if name is None:
            return None
        names.add(name)
    return names


def _duration_or_none(value: Any) -> int | None:
    """Return a duration that promtool reads in ms, or None for another value."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value)
    if duration_problem(text) is not None:
        return None
    return duration_ms(text)


def _written(case: dict[str, Any]) -> str:
    """Return the eval_time of a test as written, or 0s when it has none."""
    value = case.get("eval_time")
    return "0s" if value is None else str(value)


def _ms(value: timedelta | None) -> int:
    return 0 if value is None else round(value.total_seconds() * 1000)


def _shown(milliseconds: int) -> str:
    text = promql.duration_text(timedelta(milliseconds=abs(milliseconds)))
    return f"-{text}" if milliseconds < 0 else text
