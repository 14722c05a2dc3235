"""Tests evaluated after every input series has ended are reported at eval_time.

Each case runs in promtool 2.42 too: a test that gets an error fails there, and a
test that gets a warning or nothing passes there.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from obscompile.cli import _hand_written_test
from obscompile.load.promtool_eval_time import check_eval_times
from obscompile.load.yaml_source import parse_yaml
from obscompile.pipeline import BuildResult
from tests.test_prometheus import obscompile_test, write_hand_written
from tests.test_promtool_test_file import (
    _built_project,
    _promtool_results,
)

RULES = """\
groups:
  - name: x
    rules:
      - record: x:sum
        expr: sum(x)
      - alert: High
        expr: x > 0
      - alert: HighFor
        expr: x > 0
        for: 2m
      - alert: Kept
        expr: x > 0
        keep_firing_for: 10m
      - alert: Gone
        expr: absent(x)
      - alert: SumHigh
        expr: x:sum > 0
"""
CHECK = "promtool/eval-after-input"
LOOKBACK = (
    "the 5m lookback of promtool 2.42 for each selector, plus ranges, offsets and "
    "the recording rules that it reads, whose series end at most one evaluation "
    "after them"
)


@attrs.frozen
class Case:
    """One test of a test group whose only input series is `x`."""

    values: str
    # The test, as the YAML of one item of promql_expr_test or alert_rule_test.
    test: str
    # The message of the finding, after "LINE:COLUMN: ", or None.
    expected: str | None = None
    interval: str = "1m"

    @property
    def kind(self) -> str:
        return (
            "alert_rule_test"
            if self.test.startswith("{alertname")
            else "promql_expr_test"
        )


def _after(written: str, outcome: str, last: str, subject: str, look_back: str) -> str:
    return (
        f"eval_time {written} is after every input series of this test group has "
        f"ended, so {outcome}. The last sample is at {last}, and {subject} reads "
        f"samples at most {look_back} old: {LOOKBACK}"
    )


def _use(horizon: str) -> str:
    return (
        f". Use an eval_time of at most {horizon}, where the input series decide the "
        f"result, or add samples to values [{CHECK}]"
    )


NO_SAMPLES = (
    "expr selects nothing and this test, which expects no samples, passes whatever "
    "the rules compute"
)
FAILS = "expr selects nothing and this test, which expects samples, fails"
NO_ALERT = (
    "the alert is neither pending nor firing and this test, which expects no "
    "alert, passes whatever the rule computes"
)
ALERT_FAILS = (
    "the alert is neither pending nor firing and this test, which expects alerts, fails"
)

CASES = {
    "lookback-end": Case(
        "1x3", "{expr: x, eval_time: 8m, exp_samples: [{labels: x, value: 1}]}"
    ),
    "after-lookback": Case(
        "1x3",
        "{expr: x, eval_time: 8m1s, exp_samples: [{labels: x, value: 1}]}",
        "error: " + _after("8m1s", FAILS, "3m", "expr", "5m") + _use("8m"),
    ),
    "expects-nothing": Case(
        "1x3",
        "{expr: x, eval_time: 8m1s, exp_samples: []}",
        "warning: " + _after("8m1s", NO_SAMPLES, "3m", "expr", "5m") + _use("8m"),
    ),
    "range-end": Case(
        "1x3",
        "{expr: 'max_over_time(x[1h])', eval_time: 63m, exp_samples: [{value: 1}]}",
    ),
    "after-range": Case(
        "1x3",
        "{expr: 'max_over_time(x[1h])', eval_time: 63m1s}",
        "warning: " + _after("63m1s", NO_SAMPLES, "3m", "expr", "1h") + _use("63m"),
    ),
    "offset-end": Case(
        "1x3",
        "{expr: x offset 10m, eval_time: 18m, exp_samples: [{labels: x, value: 1}]}",
    ),
    "after-offset": Case(
        "1x3",
        "{expr: x offset 10m, eval_time: 19m, exp_samples: [{labels: x, value: 1}]}",
        "error: " + _after("19m", FAILS, "3m", "expr", "15m") + _use("18m"),
    ),
    "subquery-end": Case(
        "1x3",
        "{expr: 'max_over_time(x[10m:1m] offset 1m)', eval_time: 19m, "
        "exp_samples: [{value: 1}]}",
    ),
    "after-subquery": Case(
        "1x3",
        "{expr: 'max_over_time(x[10m:1m] offset 1m)', eval_time: 19m1s}",
        "warning: " + _after("19m1s", NO_SAMPLES, "3m", "expr", "16m") + _use("19m"),
    ),
    "missing-and-stale": Case(
        "1 _ _ stale _x3",
        "{expr: x, eval_time: 5m1s, exp_samples: []}",
        "warning: " + _after("5m1s", NO_SAMPLES, "0s", "expr", "5m") + _use("5m"),
    ),
    "single-value": Case(
        "5",
        "{expr: x, eval_time: 6m, exp_samples: []}",
        "warning: " + _after("6m", NO_SAMPLES, "0s", "expr", "5m") + _use("5m"),
    ),
    "missing-first": Case(
        "_x3 1", "{expr: x, eval_time: 8m, exp_samples: [{labels: x, value: 1}]}"
    ),
    "short-interval": Case(
        "1x2",
        "{expr: x, eval_time: 6m1s, exp_samples: [{labels: x, value: 1}]}",
        "error: " + _after("6m1s", FAILS, "1m", "expr", "5m") + _use("6m"),
        interval="30s",
    ),
    "or-vector": Case(
        "1x3", "{expr: count(x) or vector(0), eval_time: 1h, exp_samples: [{value: 0}]}"
    ),
    "at-modifier": Case(
        "1x3",
        "{expr: 'x @ 60', eval_time: 1h, exp_samples: [{labels: x, value: 1}]}",
    ),
    "recorded": Case(
        "1x3",
        "{expr: 'x:sum', eval_time: 14m}",
        "warning: " + _after("14m", NO_SAMPLES, "3m", "expr", "6m") + _use("8m"),
    ),
    # The recording rule last writes x:sum at 8m and marks it stale at 9m.
    "recorded-until-stale": Case(
        "1x3",
        "{expr: 'x:sum', eval_time: 8m30s, exp_samples: [{labels: 'x:sum', value: 1}]}",
    ),
    "recorded-after-stale": Case(
        "1x3",
        "{expr: 'x:sum', eval_time: 10m, exp_samples: [{labels: 'x:sum', value: 1}]}",
        "error: " + _after("10m", FAILS, "3m", "expr", "6m") + _use("8m"),
    ),
    "recorded-range": Case(
        "1x3",
        "{expr: 'max_over_time(x:sum[10m])', eval_time: 18m, exp_samples: [{value: 1}]}",
    ),
    "alert-evaluated-before": Case(
        "1x3", "{alertname: High, eval_time: 8m59s, exp_alerts: [{}]}"
    ),
    "alert-after": Case(
        "1x3",
        "{alertname: High, eval_time: 9m, exp_alerts: [{}]}",
        "error: " + _after("9m", ALERT_FAILS, "3m", "alert High", "5m") + _use("8m"),
    ),
    "alert-expects-none": Case(
        "1x3",
        "{alertname: High, eval_time: 9m}",
        "warning: " + _after("9m", NO_ALERT, "3m", "alert High", "5m") + _use("8m"),
    ),
    "alert-for": Case(
        "1x3",
        "{alertname: HighFor, eval_time: 9m, exp_alerts: [{}]}",
        "error: " + _after("9m", ALERT_FAILS, "3m", "alert HighFor", "5m") + _use("8m"),
    ),
    "keep-firing-end": Case(
        "1x3", "{alertname: Kept, eval_time: 18m, exp_alerts: [{}]}"
    ),
    "after-keep-firing": Case(
        "1x3",
        "{alertname: Kept, eval_time: 19m, exp_alerts: []}",
        "warning: "
        + _after("19m", NO_ALERT, "3m", "alert Kept, keep_firing_for included,", "15m")
        + _use("18m"),
    ),
    "absent-alert": Case("1x3", "{alertname: Gone, eval_time: 1h, exp_alerts: [{}]}"),
    "recorded-alert": Case(
        "1x3",
        "{alertname: SumHigh, eval_time: 14m, exp_alerts: [{}]}",
        "error: "
        + _after("14m", ALERT_FAILS, "3m", "alert SumHigh", "6m")
        + _use("8m"),
    ),
    "alerts-series": Case(
        "1x3",
        "{expr: ALERTS, eval_time: 1h, exp_samples: "
        '[{labels: \'ALERTS{alertname="Gone",alertstate="firing"}\', value: 1}]}',
    ),
}


def _text(case: Case) -> str:
    return (
        "rule_files: [x.rules.yml]\n"
        "tests:\n"
        f"  - interval: {case.interval}\n"
        f"    input_series: [{{series: x, values: '{case.values}'}}]\n"
        f"    {case.kind}:\n"
        f"      - {case.test}\n"
    )


def test_eval_time_cases_match_promtool(tmp_path: Path) -> None:
    """Each finding is at eval_time, and promtool fails exactly the errors."""
    (tmp_path / "x.rules.yml").write_text(RULES)
    names = {}
    for number, (name, case) in enumerate(CASES.items()):
        file_name = f"{number:02d}.test.yml"
        (tmp_path / file_name).write_text(_text(case))
        names[name] = file_name
    outputs = _promtool_results(tmp_path, sorted(names.values()))
    for name, case in CASES.items():
        path = tmp_path / names[name]
        is_test, problems = _hand_written_test(path, path.name)
        assert is_test
        found = [str(problem) for problem in problems]
        if case.expected is None:
            assert found == [], name
        else:
            column = 9 + case.test.index("eval_time: ") + len("eval_time: ")
            assert found == [f"{path.name}:6:{column}: {case.expected}"], name
        failed = "FAILED" in outputs[path.name]
        expects_error = case.expected is not None and "error:" in case.expected
        assert failed == expects_error, (name, outputs[path.name])


def test_unknown_rules_bound_only_inputs() -> None:
    """Without the rules, only a selector of an input series is bounded."""
    text = (
        "tests:\n  - interval: 1m\n    input_series: [{series: x, values: '1'}]\n"
        "    promql_expr_test:\n"
        "      - {expr: x, eval_time: 1h}\n"
        "      - {expr: 'y:sum', eval_time: 1h}\n"
    )
    source, _ = parse_yaml(text, "t.yml")
    assert source is not None
    found = [(str(p.location), p.check) for p in check_eval_times(source, None)]
    assert found == [("t.yml:5:30", CHECK)]


def test_cli_test_runs_after_warning(tmp_path: Path, real_build: BuildResult) -> None:
    """A warning is printed, and the tests still run."""
    project = _built_project(tmp_path, real_build)
    rules = "../../out/prometheus/rules/auth_server.rules.yml"
    path = write_hand_written(
        project,
        "late.test.yml",
        f"rule_files: [{rules}]\n"
        "tests:\n  - interval: 1m\n    input_series: [{series: x, values: '1'}]\n"
        "    promql_expr_test: [{expr: x, eval_time: 1h}]\n",
    )
    result = obscompile_test("--project", str(project))
    assert result.returncode == 0, result.stderr
    assert f"{path}:5:45: warning: eval_time 1h is after" in result.stderr
    assert "no test was run" not in result.stderr
    assert "promtool passed" in result.stderr


def test_every_problem_in_one_run(tmp_path: Path) -> None:
    """Shape errors, an unknown alert and a late eval_time come in one run."""
    (tmp_path / "x.rules.yml").write_text(RULES)
    path = tmp_path / "four.test.yml"
    path.write_text(
        "rule_files: [x.rules.yml]\n"
        "tests:\n"
        "  - interval: 1m\n"
        "    input_series: [{series: y, values: '1x100000000'}]\n"
        "    promql_expr_test:\n"
        "      - {expr: y, eval_time: 1m, exp_samples: [{labels: y, value: '1'}]}\n"
        "  - interval: 1m\n"
        "    input_series: [{series: x, values: '1x3'}]\n"
        "    alert_rule_test:\n"
        "      - {alertname: Hgh, eval_time: 1m}\n"
        "      - {alertname: High, eval_time: 2h, exp_alerts: [{}]}\n"
    )
    is_test, problems = _hand_written_test(path, path.name)
    assert is_test
    found = sorted((str(p.location), p.check) for p in problems)
    assert found == [
        ("four.test.yml:10:21", "promtool/rule-files"),
        ("four.test.yml:11:38", CHECK),
        ("four.test.yml:4:43", "promtool/too-many-samples"),
        ("four.test.yml:6:67", "promtool/test-file"),
    ]


def test_missing_rule_file_stops_eval_time_check(tmp_path: Path) -> None:
    """A series that a missing rule file records could look unwritten."""
    path = tmp_path / "late.test.yml"
    path.write_text(
        "rule_files: [gone.rules.yml]\n"
        "tests:\n"
        "  - interval: 1m\n"
        "    input_series: [{series: x, values: '1'}]\n"
        "    promql_expr_test: [{expr: 'x:sum', eval_time: 1h}]\n"
    )
    _, problems = _hand_written_test(path, path.name)
    assert [p.check for p in problems] == ["promtool/rule-files"]
