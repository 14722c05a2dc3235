"""Ratios whose numerator can be non-zero while the denominator is 0.

`sum(queue_depth) / sum(rate(processed_total[5m]))`, the time to drain a queue, is
+Inf in the panel when items wait and none are processed, and so in the red band of
`"<60 Green, 60-300 Yellow, >300 Red"`. The recording rule and the alert must give
+Inf there too, -Inf for a negative numerator, and no sample for 0/0. A part of a
counter's traffic over the whole is 0/0 whenever the whole is 0, so it keeps the plain
guard `a / (b > 0)`. Each rule and generated test is run with promtool 2.42.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from obscompile import promql
from obscompile.derive.expressions import render_rule_expr
from obscompile.pipeline import BuildResult
from tests.moved_boundaries import build_stat_panels
from tests.test_prometheus import assert_promtool, run_promtool, write_files

WORKER = """\
service: worker
runtime: python
scrape: {job: worker, port: 8000, interval: 1m}
metrics:
  queue_depth: {type: gauge, labels: [queue]}
  processed: {type: counter, labels: [queue]}
  requests: {type: counter, labels: [code]}
rows:
  - title: Queue
    panels:
"""
DRAIN = 'sum(queue_depth{job="worker"}) / sum(rate(processed_total{job="worker"}[5m]))'
DRAIN_BY_QUEUE = (
    'sum by (queue) (queue_depth{job="worker"}) '
    '/ sum by (queue) (rate(processed_total{job="worker"}[5m]))'
)
ERRORS_PER_SUCCESS = (
    'sum(rate(requests_total{job="worker",code="500"}[5m])) '
    '/ sum(rate(requests_total{job="worker",code="200"}[5m]))'
)
ERROR_SHARE = (
    'sum(rate(requests_total{job="worker",code="500"}[5m])) '
    '/ sum(rate(requests_total{job="worker"}[5m]))'
)
RULES = "prometheus/rules/worker.rules.yml"
TESTS = "prometheus/tests/worker.test.yml"


def _build(project: Path, *panels: tuple[str, str, str, str]) -> BuildResult:
    """Build the worker service with one stat panel per (title, query, unit, thresholds)."""
    return build_stat_panels(project, ("worker.yaml", WORKER), panels)


def _recording(result: BuildResult) -> dict[str, str]:
    groups = yaml.safe_load(result.files[RULES])["groups"]
    (recording,) = [g for g in groups if g["name"] == "worker.recording"]
    return {rule["record"]: rule["expr"] for rule in recording["rules"]}


def _alert(result: BuildResult, name: str) -> dict:
    groups = yaml.safe_load(result.files[RULES])["groups"]
    (alerts,) = [g for g in groups if g["name"] == "worker.alerts"]
    (alert,) = [rule for rule in alerts["rules"] if rule["alert"] == name]
    return alert


def _generated_names(result: BuildResult) -> list[str]:
    return [group["name"] for group in yaml.safe_load(result.files[TESTS])["tests"]]


def test_drain_time_rule_keeps_infinity(project: Path) -> None:
    result = _build(
        project, ("Time to Drain", DRAIN, "s", "<60 Green, 60-300 Yellow, >300 Red")
    )
    assert _recording(result) == {
        "job:queue_depth_per_processed:ratio_per_rate5m": (
            'sum by (job) (queue_depth{job="worker"}) / '
            '(sum by (job) (rate(processed_total{job="worker"}[5m])) > 0)\n'
            "or\n"
            '(sum by (job) (queue_depth{job="worker"}) != 0) / '
            'sum by (job) (rate(processed_total{job="worker"}[5m]))'
        )
    }
    alert = _alert(result, "WorkerTimeToDrainCritical")
    assert (
        alert["expr"]
        == 'job:queue_depth_per_processed:ratio_per_rate5m{job="worker"} >= 300'
    )


# Query, and whether its numerator can be non-zero while its denominator is 0.
GUARD_FORMS = {
    "part-of-whole": (ERROR_SHARE, False),
    "part-of-whole-scaled": (
        '100 * sum(rate(x{code="500"}[5m])) / sum(rate(x[5m]))',
        False,
    ),
    "value-in-regex": (
        'sum(rate(x{status="completed"}[1h])) '
        '/ sum(rate(x{status=~"completed|failed"}[1h]))',
        False,
    ),
    "part-of-whole-max": (
        'max by (route) (increase(x{code="500"}[1h])) '
        "/ max by (route) (increase(x[1h]))",
        False,
    ),
    "part-of-whole-avg": ('avg(irate(x{code="500"}[5m])) / avg(irate(x[5m]))', False),
    "count": ("sum(queue_depth) / count(up)", False),
    "count-over-time": ("sum(x) / sum(count_over_time(y[5m]))", False),
    "disjoint-parts": (ERRORS_PER_SUCCESS, True),
    "whole-per-part": ('sum(rate(x[5m])) / sum(rate(x{code="500"}[5m]))', True),
    "gauge-per-rate": (DRAIN, True),
    "two-counters": (
        "sum(rate(bytes_total[5m])) / sum(rate(requests_total[5m]))",
        True,
    ),
    # The minimum of a part can be above the minimum of the whole, which can be 0.
    "part-of-whole-min": ('min(rate(x{code="500"}[5m])) / min(rate(x[5m]))', True),
    "other-window": ('sum(rate(x{code="500"}[1m])) / sum(rate(x[5m]))', True),
    "other-function": ('sum(irate(x{code="500"}[5m])) / sum(rate(x[5m]))', True),
    "other-grouping": (
        'sum by (code) (rate(x{code="500"}[5m])) / on () group_left sum(rate(x[5m]))',
        True,
    ),
    # The plain guard is kept only where a proof covers the query.
    "regex-in-regex": (
        'sum(rate(x{code=~"5.."}[5m])) / sum(rate(x{code=~"4..|5.."}[5m]))',
        True,
    ),
    "matched-on": (
        'sum by (job) (rate(x{code="500"}[5m])) / on (job) sum by (job) (rate(x[5m]))',
        True,
    ),
}


@pytest.mark.parametrize("case", GUARD_FORMS.values(), ids=GUARD_FORMS.keys())
def test_guard_form_by_numerator(case: tuple[str, bool]) -> None:
    query, keeps_infinity = case
    text = render_rule_expr(promql.parse(query), guard=True)
    assert "> 0)" in text
    assert ("or" in text.split()) == keeps_infinity


# Drains of queue a (5 waiting, none processed), b (empty and idle), c (-3, idle)
# and d (600 waiting, 1 per second) with other vector matching: the query, whether
# its rule adds `job` to the aggregations, and the samples that the rule records.
MATCHED_DRAINS = {
    "sum-by": (
        'sum by (job, queue) (queue_depth{job="w"}) '
        '/ sum by (job, queue) (rate(processed_total{job="w"}[5m]))',
        False,
        [
            ('drain{job="w",queue="a"}', float("inf")),
            ('drain{job="w",queue="c"}', float("-inf")),
            ('drain{job="w",queue="d"}', 600.0),
        ],
    ),
    "group-left": (
        'queue_depth{job="w"} / on (queue) group_left (team) '
        'sum by (queue, team) (rate(processed_total{job="w"}[5m]))',
        False,
        [
            ('drain{instance="i1",job="w",queue="a",team="t"}', float("inf")),
            ('drain{instance="i1",job="w",queue="c",team="t"}', float("-inf")),
            ('drain{instance="i1",job="w",queue="d",team="t"}', 600.0),
        ],
    ),
    "group-right": (
        'sum by (queue) (queue_depth{job="w"}) / on (queue) group_right '
        'rate(processed_total{job="w"}[5m])',
        False,
        [
            ('drain{instance="i1",job="w",queue="a",team="t"}', float("inf")),
            ('drain{instance="i1",job="w",queue="c",team="t"}', float("-inf")),
            ('drain{instance="i1",job="w",queue="d",team="t"}', 600.0),
        ],
    ),
    "ignoring": (
        'queue_depth{job="w"} / ignoring (instance, team) '
        'sum without (instance) (rate(processed_total{job="w"}[5m]))',
        False,
        [
            ('drain{job="w",queue="a"}', float("inf")),
            ('drain{job="w",queue="c"}', float("-inf")),
            ('drain{job="w",queue="d"}', 600.0),
        ],
    ),
    # 5 + 0 - 3 + 600 waiting over 1 per second.
    "job-grouping": (
        'sum(queue_depth{job="w"}) / sum(rate(processed_total{job="w"}[5m]))',
        True,
        [('drain{job="w"}', 602.0)],
    ),
}
QUEUE_SERIES = {
    'queue_depth{job="w",queue="a",instance="i1"}': "5x20",
    'processed_total{job="w",queue="a",instance="i1",team="t"}': "0x20",
    'queue_depth{job="w",queue="b",instance="i1"}': "0x20",
    'processed_total{job="w",queue="b",instance="i1",team="t"}': "7x20",
    'queue_depth{job="w",queue="c",instance="i1"}': "-3x20",
    'processed_total{job="w",queue="c",instance="i1",team="t"}': "9x20",
    'queue_depth{job="w",queue="d",instance="i1"}': "600x20",
    'processed_total{job="w",queue="d",instance="i1",team="t"}': "0+60x20",
}


@pytest.mark.parametrize("case", MATCHED_DRAINS.values(), ids=MATCHED_DRAINS.keys())
def test_matched_drain_rules_pass_promtool(tmp_path: Path, case: tuple) -> None:
    query, job_grouping, expected = case
    rule = render_rule_expr(promql.parse(query), job_grouping=job_grouping, guard=True)
    assert "or" in rule.split()
    rules = {"groups": [{"name": "r", "rules": [{"record": "drain", "expr": rule}]}]}
    check = {
        "expr": "drain",
        "eval_time": "10m",
        "exp_samples": [
            {"labels": labels, "value": value} for labels, value in expected
        ],
    }
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": series, "values": values}
                    for series, values in QUEUE_SERIES.items()
                ],
                "promql_expr_test": [check],
            }
        ],
    }
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test), encoding="utf-8")
    assert_promtool("test", "rules", str(tmp_path / "test.yml"))


def _annotations(alert: dict, value: str) -> dict[str, str]:
    return {
        key: text.replace("{{ $value | humanizeDuration }}", value).replace(
            "{{ $value | humanize }}", value
        )
        for key, text in alert["annotations"].items()
    }


def _firing(alert: dict, value: str) -> list[dict]:
    return [
        {
            "exp_labels": {
                "job": "worker",
                "service": "worker",
                "severity": "critical",
            },
            "exp_annotations": _annotations(alert, value),
        }
    ]


def test_stuck_queue_fires_at_infinity(project: Path) -> None:
    """Items wait and none are processed: red at +Inf; an empty idle queue is silent."""
    result = _build(
        project,
        ("Time to Drain", DRAIN, "s", "<60 Green, 60-300 Yellow, >300 Red"),
        ("Drain Margin", DRAIN, "short", "<5 Red, >=5 Green"),
    )
    high = _alert(result, "WorkerTimeToDrainCritical")
    low = _alert(result, "WorkerDrainMarginCritical")
    out = write_files(project / "out", result.files)

    def group(depth: str, checks: list[tuple[str, list[dict]]], record: list) -> dict:
        return {
            "interval": "1m",
            "input_series": [
                {
                    "series": 'queue_depth{job="worker",instance="worker:8000"}',
                    "values": f"{depth}x12",
                },
                {
                    "series": 'processed_total{job="worker",instance="worker:8000"}',
                    "values": "40x12",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "6m", "alertname": name, "exp_alerts": alerts}
                for name, alerts in checks
            ],
            "promql_expr_test": [
                {
                    "expr": "job:queue_depth_per_processed:ratio_per_rate5m",
                    "eval_time": "6m",
                    "exp_samples": record,
                }
            ],
        }

    recorded = 'job:queue_depth_per_processed:ratio_per_rate5m{job="worker"}'
    test = {
        "rule_files": ["../prometheus/rules/worker.rules.yml"],
        "evaluation_interval": "1m",
        "group_eval_order": ["worker.recording", "worker.alerts"],
        "tests": [
            group(
                "5",
                [
                    ("WorkerTimeToDrainCritical", _firing(high, "+Inf")),
                    ("WorkerDrainMarginCritical", []),
                ],
                [{"labels": recorded, "value": float("inf")}],
            ),
            group(
                "-3",
                [
                    ("WorkerTimeToDrainCritical", []),
                    ("WorkerDrainMarginCritical", _firing(low, "-Inf")),
                ],
                [{"labels": recorded, "value": float("-inf")}],
            ),
            group(
                "0",
                [("WorkerTimeToDrainCritical", []), ("WorkerDrainMarginCritical", [])],
                [],
            ),
        ],
    }
    path = out / "cases" / "stuck.test.yml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(test), encoding="utf-8")
    assert_promtool("test", "rules", str(path))


def test_generated_tests_cover_infinity(project: Path) -> None:
    result = _build(
        project,
        ("Time to Drain", DRAIN_BY_QUEUE, "s", "<60 Green, 60-300 Yellow, >300 Red"),
        ("Drain Margin", DRAIN, "short", "<5 Red, >=5 Green"),
    )
    assert [d.message for d in result.diagnostics if d.check == "rules/untested"] == []
    names = _generated_names(result)
    for name in [
        "WorkerTimeToDrainCritical: no traffic stays silent",
        "WorkerTimeToDrainCritical: no traffic in the denominator, +Inf (red) fires",
        "WorkerDrainMarginCritical: no traffic stays silent",
        "WorkerDrainMarginCritical: no traffic in the denominator, +Inf (green) "
        "stays silent",
        "WorkerDrainMarginCritical: no traffic in the denominator, -Inf (red) fires",
    ]:
        assert name in names
    out = write_files(project / "out", result.files)
    assert_promtool("test", "rules", str(out / TESTS))


def test_generated_tests_reject_plain_guard(project: Path) -> None:
    """The generated tests fail a rule that records no sample where the panel is +Inf."""
    result = _build(
        project, ("Time to Drain", DRAIN, "s", "<60 Green, 60-300 Yellow, >300 Red")
    )
    (expr,) = _recording(result).values()
    plain, branch = expr.split("\nor\n")
    files = dict(result.files)
    files[RULES] = files[RULES].replace(f"\n          or\n          {branch}", "")
    assert files[RULES] != result.files[RULES]
    assert plain in files[RULES]
    out = write_files(project / "out", files)
    checked = run_promtool("test", "rules", str(out / TESTS))
    assert checked.returncode == 1, checked.stdout
    assert "+Inf (red) fires" in checked.stdout + checked.stderr


def test_unrelated_counters_fire_at_infinity(project: Path) -> None:
    result = _build(
        project,
        ("Errors per Success", ERRORS_PER_SUCCESS, "percentunit", "<5% Green, >5% Red"),
        ("Error Share", ERROR_SHARE, "percentunit", "<5% Green, >5% Red"),
    )
    names = _generated_names(result)
    assert (
        "WorkerErrorsPerSuccessCritical: no traffic in the denominator, +Inf (red) fires"
        in names
    )
    # Without traffic in the whole, the part has none either.
    share = [name for name in names if name.startswith("WorkerErrorShareCritical")]
    assert "WorkerErrorShareCritical: no traffic stays silent" in share
    assert not [name for name in share if "Inf" in name]
    out = write_files(project / "out", result.files)
    assert_promtool("test", "rules", str(out / TESTS))
