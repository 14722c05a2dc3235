"""Generated tests for the age of a timestamp, the time left until one, and ratios.

`time() - max(last_success_timestamp)` is tested with a timestamp that rises with the
clock, so its age stays at the probed value. A ratio of gauges such as active over
maximum connections is tested with constant gauges, and a counter rate over a gauge
with a counter and a gauge. A ratio of one metric's series gets one series that both
sides select and one that only the side with the larger value selects. Each generated file must pass
promtool 2.42, and must fail once the alert's boundary moves.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from obscompile.derive.synthesis import InputSeries
from obscompile.pipeline import BuildResult
from tests.moved_boundaries import alert_expr as rule_alert_expr
from tests.moved_boundaries import (
    assert_moved_boundaries_fail,
    assert_untested_with,
    build_stat_panel,
    untested,
)
from tests.test_prometheus import assert_promtool, write_files

HEADER = """\
service: backup
scrape: {job: backup, port: 9100, interval: 1m}
metrics:
  backup_last_success_timestamp_seconds: {type: gauge, labels: [pipeline]}
  pg_stat_activity_count: {type: gauge, labels: [state]}
  pg_settings_max_connections: {type: gauge}
  node_filesystem_avail_bytes: {type: gauge, labels: [mountpoint]}
  node_filesystem_size_bytes: {type: gauge, labels: [mountpoint]}
  jobs_total: {type: counter}
  requests_total: {type: counter, labels: [code]}
  probe_ssl_earliest_cert_expiry: {type: gauge}
rows:
  - title: Health
    panels:
"""
AGE = 'time() - max(backup_last_success_timestamp_seconds{job="backup"})'
AGE_BY_JOB = (
    'time() - max by (job) (backup_last_success_timestamp_seconds{job="backup"})'
)
AGE_HOURS = '(time() - min(backup_last_success_timestamp_seconds{job="backup"})) / 3600'
# The time left until a timestamp, as blackbox_exporter's certificate expiry gives it.
TIME_LEFT = 'min(probe_ssl_earliest_cert_expiry{job="backup"} - time())'
TIME_LEFT_DAYS = '(min(probe_ssl_earliest_cert_expiry{job="backup"}) - time()) / 86400'
CONNECTIONS = (
    'sum(pg_stat_activity_count{job="backup"}) '
    '/ sum(pg_settings_max_connections{job="backup"}) * 100'
)
ACTIVE_SHARE = (
    'sum(pg_stat_activity_count{job="backup",state="active"}) '
    '/ sum(pg_stat_activity_count{job="backup"})'
)
ACTIVE_PER_IDLE = (
    'sum(pg_stat_activity_count{job="backup",state="active"}) '
    '/ sum(pg_stat_activity_count{job="backup",state="idle"})'
)
WHOLE_PER_PART = (
    'sum(pg_stat_activity_count{job="backup"}) '
    '/ sum(pg_stat_activity_count{job="backup",state="active"})'
)
REQUESTS_PER_ERROR = (
    'sum(rate(requests_total{job="backup"}[5m])) '
    '/ sum(rate(requests_total{job="backup",code="500"}[5m]))'
)
ERRORS_PER_SUCCESS = (
    'sum(rate(requests_total{job="backup",code="500"}[5m])) '
    '/ sum(rate(requests_total{job="backup",code="200"}[5m]))'
)
JOBS_PER_CONNECTION = (
    'sum(rate(jobs_total{job="backup"}[5m])) '
    '/ sum(pg_settings_max_connections{job="backup"})'
)
JOBS_PER_CONNECTION_HOURLY = (
    '100 * sum(increase(jobs_total{job="backup"}[1h])) '
    '/ max(pg_settings_max_connections{job="backup"})'
)
CONNECTIONS_PER_JOB = (
    'sum(pg_settings_max_connections{job="backup"}) '
    '/ (sum(rate(jobs_total{job="backup"}[5m])) > 0)'
)
CONNECTIONS_PER_JOB_UNGUARDED = (
    'sum(pg_settings_max_connections{job="backup"}) '
    '/ sum(rate(jobs_total{job="backup"}[5m]))'
)
DISK_FREE = (
    'node_filesystem_avail_bytes{job="backup"} '
    '/ node_filesystem_size_bytes{job="backup"} * 100'
)
DISK_USED = f"100 - {DISK_FREE}"
DISK_FREE_IGNORING = (
    'node_filesystem_avail_bytes{job="backup"} '
    '/ ignoring (mountpoint) node_filesystem_size_bytes{job="backup"} * 100'
)

# Query, unit, thresholds, the alert's comparison, and comparisons with the boundary
# moved: past the boundary by the smallest step that matters, and past the nearest
# value that a test group probes on the other side.
CASES = {
    "age": (
        AGE,
        "s",
        "<3600 Green, 3600-7200 Yellow, >7200 Red",
        ">= 7200",
        ["> 7200", ">= 7201", ">= 6000"],
    ),
    "age-by-job": (
        AGE_BY_JOB,
        "s",
        "<3600 Green, 3600-7200 Yellow, >7200 Red",
        ">= 7200",
        ["> 7200", ">= 6000"],
    ),
    "age-in-hours": (
        AGE_HOURS,
        "h",
        "<1.5 Green, 1.5-2 Yellow, >2 Red",
        ">= 2",
        ["> 2", ">= 0.5"],
    ),
    "time-left": (
        TIME_LEFT,
        "s",
        "<7d Red, 7d-30d Yellow, >30d Green",
        "< 604800",
        ["<= 604800", "< 604860"],
    ),
    "time-left-in-days": (
        TIME_LEFT_DAYS,
        "d",
        "<=7d Red, 7d-30d Yellow, >30d Green",
        "<= 7",
        ["< 7", "<= 8"],
    ),
    "connections": (
        CONNECTIONS,
        "percent",
        "<80% Green, 80-90% Yellow, >90% Red",
        ">= 90",
        ["> 90", ">= 75"],
    ),
    "part-of-whole": (
        ACTIVE_SHARE,
        "percentunit",
        "<0.7 Green, 0.7-0.85 Yellow, >0.85 Red",
        ">= 0.85",
        ["> 0.85", ">= 0.7"],
    ),
    "disjoint-parts": (
        ACTIVE_PER_IDLE,
        "short",
        "<0.5 Green, 0.5-0.8 Yellow, >0.8 Red",
        ">= 0.8",
        ["> 0.8", ">= 0.7"],
    ),
    "whole-per-part": (
        WHOLE_PER_PART,
        "short",
        "<2 Green, 2-4 Yellow, >4 Red",
        ">= 4",
        ["> 4", ">= 2.5"],
    ),
    "counter-whole-per-part": (
        REQUESTS_PER_ERROR,
        "short",
        "<20 Green, >20 Red",
        ">= 20",
        ["> 20", ">= 9"],
    ),
    "counter-disjoint-parts": (
        ERRORS_PER_SUCCESS,
        "percentunit",
        "<0.05 Green, >0.05 Red",
        ">= 0.05",
        ["> 0.05", ">= 0.035"],
    ),
    "rate-per-gauge": (
        JOBS_PER_CONNECTION,
        "short",
        "<0.5 Green, >0.5 Red",
        ">= 0.5",
        ["> 0.5", ">= 0.35"],
    ),
    "increase-per-gauge": (
        JOBS_PER_CONNECTION_HOURLY,
        "percent",
        "<50% Green, >50% Red",
        ">= 50",
        ["> 50", ">= 35"],
    ),
    "gauge-per-guarded-rate": (
        CONNECTIONS_PER_JOB,
        "short",
        "<20 Green, >20 Red",
        ">= 20",
        ["> 20", ">= 9"],
    ),
    "gauge-per-rate": (
        CONNECTIONS_PER_JOB_UNGUARDED,
        "short",
        "<20 Green, >20 Red",
        ">= 20",
        ["> 20", ">= 9"],
    ),
    "disk-free": (
        DISK_FREE,
        "percent",
        ">20% Green, 10-20% Yellow, <10% Red",
        "< 10",
        ["<= 10", "< 12"],
    ),
    "disk-free-ignoring": (
        DISK_FREE_IGNORING,
        "percent",
        ">20% Green, 10-20% Yellow, <10% Red",
        "< 10",
        ["<= 10", "< 12"],
    ),
    "disk-used": (
        DISK_USED,
        "percent",
        "<80% Green, 80-90% Yellow, >90% Red",
        ">= 90",
        ["> 90", ">= 75"],
    ),
}


def _build(
    project: Path, query: str, unit: str, thresholds: str, alert_for: str = "5m"
) -> BuildResult:
    return build_stat_panel(
        project, ("backup.yaml", HEADER), (query, unit, thresholds), alert_for
    )


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_shape_gets_tests_that_pass(project: Path, case: tuple) -> None:
    query, unit, thresholds, _, _ = case
    result = _build(project, query, unit, thresholds)
    assert untested(result) == []
    test_file = yaml.safe_load(result.files["prometheus/tests/backup.test.yml"])
    names = [group["name"] for group in test_file["tests"]]
    assert any(name.endswith(" fires") for name in names)
    assert any(name.endswith(" stays silent") for name in names)
    out = write_files(project / "out", result.files)
    assert_promtool("test", "rules", str(out / "prometheus/tests/backup.test.yml"))


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_moved_boundary_fails_promtool(project: Path, case: tuple) -> None:
    query, unit, thresholds, comparison, moved_comparisons = case
    result = _build(project, query, unit, thresholds)
    assert_moved_boundaries_fail(
        project, result, "backup", comparison, moved_comparisons
    )


def test_age_input_rises_with_the_clock(project: Path) -> None:
    result = _build(project, AGE, "s", "<3600 Green, 3600-7200 Yellow, >7200 Red")
    test_file = yaml.safe_load(result.files["prometheus/tests/backup.test.yml"])
    (group,) = [g for g in test_file["tests"] if "2h (red) fires" in g["name"]]
    (series,) = group["input_series"]
    # At every minute t the timestamp is t - 7200 seconds, so the age stays 7200.
    assert series["values"].startswith("-7200+60x")


def test_time_left_input_rises_with_the_clock(project: Path) -> None:
    result = _build(project, TIME_LEFT, "s", "<7d Red, >=7d Green")
    test_file = yaml.safe_load(result.files["prometheus/tests/backup.test.yml"])
    (group,) = [g for g in test_file["tests"] if "7d (green)" in g["name"]]
    (series,) = group["input_series"]
    # At every minute t the expiry is t + 604800 seconds, so 7 days stay left.
    assert series["values"].startswith("604800+60x")


# A time difference under a constant records its timestamp, and the alert computes
# the difference and applies the constant.
SCALED_CLOCKS = {
    "age-in-hours": (
        AGE_HOURS,
        "h",
        "<1.5 Green, 1.5-2 Yellow, >2 Red",
        "job:backup_last_success_timestamp_seconds:min",
        "(time() - job:backup_last_success_timestamp_seconds:min"
        '{job="backup"}) / 3600 >= 2',
    ),
    "time-left-in-days": (
        TIME_LEFT_DAYS,
        "d",
        "<=7d Red, 7d-30d Yellow, >30d Green",
        "job:probe_ssl_earliest_cert_expiry:min",
        '(job:probe_ssl_earliest_cert_expiry:min{job="backup"} - time()) / 86400 <= 7',
    ),
    "age-in-minutes": (
        '100 * (time() - max(backup_last_success_timestamp_seconds{job="backup"}))',
        "short",
        "<7200 Green, >7200 Red",
        "job:backup_last_success_timestamp_seconds:max",
        "100 * (time() - job:backup_last_success_timestamp_seconds:max"
        '{job="backup"}) >= 7200',
    ),
    "time-left-plain": (
        'min(probe_ssl_earliest_cert_expiry{job="backup"}) - time()',
        "s",
        "<7d Red, >=7d Green",
        "job:probe_ssl_earliest_cert_expiry:min",
        'job:probe_ssl_earliest_cert_expiry:min{job="backup"} - time() < 604800',
    ),
}


@pytest.mark.parametrize("case", SCALED_CLOCKS.values(), ids=SCALED_CLOCKS.keys())
def test_scaled_clock_records_timestamp(project: Path, case: tuple) -> None:
    query, unit, thresholds, record, alert_expr = case
    result = _build(project, query, unit, thresholds)
    assert [d.message for d in result.diagnostics] == []
    groups = yaml.safe_load(result.files["prometheus/rules/backup.rules.yml"])
    (recording,) = [g for g in groups["groups"] if g["name"] == "backup.recording"]
    assert [rule["record"] for rule in recording["rules"]] == [record]
    assert rule_alert_expr(result, "backup") == alert_expr
    test_file = yaml.safe_load(result.files["prometheus/tests/backup.test.yml"])
    checked = [
        check["expr"]
        for group in test_file["tests"]
        for check in group.get("promql_expr_test", [])
    ]
    assert record in checked
    out = write_files(project / "out", result.files)
    assert_promtool("test", "rules", str(out / "prometheus/tests/backup.test.yml"))


def test_fractional_age_reason_in_words(project: Path) -> None:
    result = _build(project, AGE, "s", "<123.456 Green, >123.456 Red", "30m")
    (message,) = untested(result)
    assert "has no exact binary form" in message
    assert "Thresholds in whole seconds avoid this" in message


def test_half_second_age_passes_promtool(project: Path) -> None:
    result = _build(project, AGE, "s", "<7200.5 Green, >7200.5 Red", "30m")
    assert untested(result) == []
    out = write_files(project / "out", result.files)
    assert_promtool("test", "rules", str(out / "prometheus/tests/backup.test.yml"))


def test_one_second_age_passes_promtool(project: Path) -> None:
    # 0.9 and 1.1 seconds have no exact binary form, so 0 and 2 seconds take their
    # place next to the boundary.
    result = _build(project, AGE, "s", "<1 Green, >1 Red")
    assert untested(result) == []
    test_file = yaml.safe_load(result.files["prometheus/tests/backup.test.yml"])
    names = [group["name"] for group in test_file["tests"]]
    assert "BackupPanelCritical: 0s (green) stays silent" in names
    assert "BackupPanelCritical: 2s (red) fires" in names
    out = write_files(project / "out", result.files)
    assert_promtool("test", "rules", str(out / "prometheus/tests/backup.test.yml"))


def test_series_values_match_promtool(tmp_path: Path) -> None:
    # promtool expands `-123.456+60x40` by adding 60 once per sample, which differs
    # in the last bit from -123.456 + 60 * i from the 20th sample on.
    series = InputSeries((("__name__", "ts"),), 60.0, True, start=-123.456)
    values = series.values(40)
    checks = [
        {
            "expr": "ts",
            "eval_time": f"{minute}m",
            "exp_samples": [{"labels": "ts", "value": values[minute]}],
        }
        for minute in (0, 19, 20, 40)
    ]
    test = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": series.series_text(), "values": series.values_text(40)}
                ],
                "promql_expr_test": checks,
            }
        ],
    }
    path = tmp_path / "values.test.yml"
    path.write_text(yaml.safe_dump(test), encoding="utf-8")
    assert_promtool("test", "rules", str(path))


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (
            'sum(rate(jobs_total{job="backup"}[5m])) '
            '/ sum(pg_stat_activity_count{job="backup"} > 2)',
            "the query divides a counter rate by "
            '`sum(pg_stat_activity_count{job="backup"} > 2)`',
        ),
        (
            'quantile(0.9, pg_settings_max_connections{job="backup"})',
            "cannot build input series that give "
            '`quantile(0.9, pg_settings_max_connections{job="backup"})` a chosen value',
        ),
        (
            'time() - backup_last_success_timestamp_seconds{job="backup"} offset 1h',
            "a timestamp read with an offset",
        ),
        (
            'sum(pg_stat_activity_count{job="backup",state="active",state=~"idle.*"})',
            'no value of label state matches all of state="active", state=~"idle.*"',
        ),
        (
            # A raw string, whose backslash a double-quoted string writes as \\.
            'quantile(0.9, pg_settings_max_connections{job="backup",instance=~`b\\.1`})',
            "cannot build input series that give `quantile(0.9, "
            'pg_settings_max_connections{job="backup",instance=~"b\\\\.1"})` '
            "a chosen value",
        ),
        (
            # The sides keep other labels, so the division matches no series.
            'sum by (state) (pg_stat_activity_count{job="backup"}) '
            '/ sum(pg_settings_max_connections{job="backup"})',
            "gives no series for any synthesized input, because no series of the "
            'left side, such as {state="state-1"}, matches a series of the right '
            "side, such as {}, on all labels",
        ),
        (
            'node_filesystem_avail_bytes{job="backup",mountpoint="/"} / on (mountpoint) '
            'node_filesystem_size_bytes{job="backup",mountpoint="/data"}',
            'such as {instance="backup:9100",job="backup",mountpoint="/"}, matches a '
            'series of the right side, such as {instance="backup:9100",job="backup",'
            'mountpoint="/data"}, on the labels of on (mountpoint)',
        ),
    ],
)
def test_untested_shape_reason_in_words(project: Path, query: str, reason: str) -> None:
    result = _build(project, query, "none", "<10 Green, >10 Red")
    for message in assert_untested_with(result, reason):
        assert "expected a counter rate" not in message
