"""Known failure modes of generated Prometheus rules, each with its right output.

Each test builds a small manifest, then checks the generated rule, scrape or test file
against the value that promtool 2.42 gives or accepts.
"""

from __future__ import annotations

import json
import math
import re
import textwrap
from datetime import timedelta
from pathlib import Path

import attrs
import promql_parser as pp
import pytest
import yaml

from obscompile import promql
from obscompile.config import Config
from obscompile.derive import gofuncs, gorender
from obscompile.derive.alerts import derive_rules
from obscompile.derive.evaluate import Evaluator, Storage, make_labels
from obscompile.derive.promtests import generate_tests
from obscompile.load.project import load_project
from obscompile.model.scrape import ScrapeJob
from obscompile.model.service import Service
from obscompile.pipeline import BuildResult, Project, build
from obscompile.render.prometheus import RenderError, rule_diagnostics, scrape_document
from tests.conftest import write_manifest
from tests.test_dashboards import NODE_EXPORTER
from tests.test_prometheus import (
    assert_promtool,
    obscompile_test,
    run_promtool,
    write_files,
)

HEADER = """\
service: {service}
dashboard:
  uid: {service}-overview
scrape:
  job: {job}
  port: 8080
  interval: 1m
metrics:
  http_requests_total:
    type: counter
    labels: [code]
  http_request_duration_seconds:
    type: histogram
    buckets: [0.1, 0.3, 0.5, 1, 2.5]
  link_status:
    type: gauge
    labels: [state]
rows:
  - title: Health
    panels:
"""


def _manifest(panels: str, service: str = "payments") -> str:
    header = HEADER.format(service=service, job=service.replace("-", "_"))
    return header + textwrap.indent(textwrap.dedent(panels), "      ")


def _build(project: Path, panels: str, service: str = "payments") -> BuildResult:
    write_manifest(project, f"{service}.yaml", _manifest(panels, service))
    result = build(Project.at(project))
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    return result


def _rules(result: BuildResult, service: str = "payments") -> list[dict]:
    return yaml.safe_load(result.files[f"prometheus/rules/{service}.rules.yml"])[
        "groups"
    ]


def _service(project: Path, name: str = "payments") -> Service:
    (service,) = [
        s for s in load_project(project / "services").services if s.name == name
    ]
    return service


def _promtool_all(
    project: Path, result: BuildResult, service: str = "payments"
) -> None:
    out = write_files(project / "out", result.files)
    assert_promtool("check", "config", str(out / "prometheus" / "prometheus.yml"))
    assert_promtool(
        "test", "rules", str(out / "prometheus" / "tests" / f"{service}.test.yml")
    )


# Rule YAML: quotes and `: ` inside values --------------------------------------------

LINK_STATE = """\
- title: Link state
  type: stat
  query: 'max without (state) (link_status{job="payments",state=~".*LINK: up.*"} == bool 1)'
  thresholds: "1=Green, 0=Red"
  alert:
    description: '{{ printf "%.1f" $value }} links down'
"""


def test_colon_in_expr_is_block_scalar(project: Path) -> None:
    result = _build(project, LINK_STATE)
    text = result.files["prometheus/rules/payments.rules.yml"]
    assert (
        "        expr: |-\n"
        '          max without (state) (link_status{job="payments",state=~".*LINK: up.*"} == bool 1) == 0\n'
    ) in text
    assert "          description: '{{ printf \"%.1f\" $value }} links down'\n" in text
    alert = _rules(result)[1]["rules"][0]
    assert (
        alert["expr"]
        == 'max without (state) (link_status{job="payments",state=~".*LINK: up.*"} == bool 1) == 0'
    )
    assert (
        alert["annotations"]["description"] == '{{ printf "%.1f" $value }} links down'
    )
    out = write_files(project / "out", result.files)
    assert_promtool(
        "check", "rules", str(out / "prometheus" / "rules" / "payments.rules.yml")
    )


def _fired_summaries(result: BuildResult) -> list[str]:
    """Return the summaries that the generated tests expect of firing alerts."""
    tests = yaml.safe_load(result.files["prometheus/tests/payments.test.yml"])["tests"]
    return [
        alert["exp_annotations"]["summary"]
        for test in tests
        for check in test.get("alert_rule_test", [])
        for alert in check["exp_alerts"]
    ]


# An error ratio per instance, whose alert has the summary SUMMARY.
ERROR_RATIO = """\
- title: Error ratio
  type: stat
  query: 'sum by (instance) (rate(http_requests_total{job="payments",code=~"5.."}[5m])) / sum by (instance) (rate(http_requests_total{job="payments"}[5m]))'
  thresholds: "<1% Green, 1-5% Yellow, >5% Red"
  alert:
    summary: 'SUMMARY'
"""


def test_go_template_kept_verbatim(project: Path) -> None:
    summary = (
        "High error ratio on {{ $labels.instance }}: {{ $value | humanizePercentage }}"
    )
    result = _build(project, ERROR_RATIO.replace("SUMMARY", summary))
    text = result.files["prometheus/rules/payments.rules.yml"]
    assert (
        "summary: 'High error ratio on {{ $labels.instance }}: {{ $value | humanizePercentage }}'\n"
        in text
    )
    fired = _fired_summaries(result)
    assert "High error ratio on payments:8080: 5%" in fired
    _promtool_all(project, result)


def test_data_fields_expanded_in_tests(project: Path) -> None:
    """`.Value` and `.Labels.x` read what `$value` and `$labels.x` read."""
    summary = (
        "{{ .Value | humanizePercentage }} on {{ .Labels.instance }} "
        '({{ index .Labels "instance" }})'
    )
    result = _build(project, ERROR_RATIO.replace("SUMMARY", summary))
    assert [d for d in result.diagnostics if d.check == "rules/untested"] == []
    fired = _fired_summaries(result)
    assert "5% on payments:8080 (payments:8080)" in fired
    _promtool_all(project, result)


def test_control_actions_expanded_in_tests(project: Path) -> None:
    """`$labels` contains the metric name that the alert's query keeps, as in Prometheus."""
    summary = (
        "{{ if gt $value 0.5 }}most{{ else if ge $value 0.05 }}many{{ else }}few"
        "{{ end }} errors{{ with $labels.instance }} on {{ . }}{{ end }} "
        "({{ len $labels }} labels:{{ range $k, $v := $labels }} {{ $k }}={{ $v }}"
        "{{ end }})"
    )
    result = _build(project, ERROR_RATIO.replace("SUMMARY", summary))
    assert [d for d in result.diagnostics if d.check == "rules/untested"] == []
    (alert,) = _rules(result)[1]["rules"][:1]
    name = alert["expr"].split("{")[0]
    assert (
        f"many errors on payments:8080 (3 labels: __name__={name} "
        "instance=payments:8080 job=payments)" in _fired_summaries(result)
    )
    _promtool_all(project, result)


# Summaries of the error ratio's alert, and the pattern of the texts that they give
# where the alert fires, at 5% and 6%.
EXPANDED_FORMS = [
    (
        '{{ define "where" }}on {{ .instance }}{{ end }}'
        '{{ block "what" $value }}{{ . | humanizePercentage }}{{ end }} errors '
        '{{ template "where" $labels }}',
        r"[56]% errors on payments:8080",
    ),
    (
        '{{ with $value | toTime }}{{ .Format "15:04:05.000" }} on {{ .Weekday }}'
        "{{ end }}",
        r"00:00:00\.0[56]0 on Thursday",
    ),
    # A template's query runs over the test's own input series, as promtool's does.
    (
        '{{ with query `sum(rate(http_requests_total{job="payments"}[5m]))` }}'
        "{{ . | first | value | humanize }} requests/s{{ end }}",
        r"[0-9.]+ requests/s",
    ),
]


@pytest.mark.parametrize(("summary", "pattern"), EXPANDED_FORMS)
def test_template_forms_expanded_in_tests(
    summary: str, pattern: str, project: Path
) -> None:
    result = _build(project, ERROR_RATIO.replace("SUMMARY", summary))
    assert [d for d in result.diagnostics if d.check == "rules/untested"] == []
    fired = _fired_summaries(result)
    assert fired
    for text in fired:
        assert re.fullmatch(pattern, text), text
    _promtool_all(project, result)


# Summaries of the error ratio's alert that leave it untested, and the reason.
UNTESTED_SUMMARIES = [
    (
        "{{ if gt $value 0 }}errors{{ end }}",
        "Prometheus fails to expand the summary for the value 0.05 (error calling "
        "gt: incompatible types for comparison)",
    ),
    (
        "{{ query `http_requests_total` | first | value }}",
        "first of 2 query samples, whose order promtool does not fix",
    ),
]


@pytest.mark.parametrize(("summary", "reason"), UNTESTED_SUMMARIES)
def test_untested_summary_reported(summary: str, reason: str, project: Path) -> None:
    result = _build(project, ERROR_RATIO.replace("SUMMARY", summary))
    untested = [d.message for d in result.diagnostics if d.check == "rules/untested"]
    assert untested
    for message in untested:
        assert reason in message


def test_unexpanded_template_reported_at_text(project: Path) -> None:
    result = _build(
        project,
        """\
        - title: Errors
          query: 'sum(rate(http_requests_total{job="payments",code=~"5.."}[5m]))'
          thresholds: "<1 Green, >1 Red"
          alert:
            description: 'seen {{ "x" | safeHtml }}'
        """,
    )
    untested = [str(d) for d in result.diagnostics if d.check == "rules/untested"]
    assert untested == [
        "services/payments.yaml:25:24: warning: no promtool test generated for rule "
        '"PaymentsErrorsCritical": the test generator cannot expand the description '
        "(function safeHtml is not evaluated); it expands if, with, range, define, "
        "block, template, the functions that format values and labels, and query "
        "where the test's own series give a certain result. Write a promtool test in "
        "tests/promtool/, which `obscompile test` runs [rules/untested]"
    ]


def test_invalid_go_template_is_reported(project: Path) -> None:
    write_manifest(
        project,
        "payments.yaml",
        _manifest(
            """\
            - title: Error ratio
              query: 'sum(rate(http_requests_total{job="payments",code=~"5.."}[5m])) / sum(rate(http_requests_total{job="payments"}[5m]))'
              thresholds: "<1% Green, 1-5% Yellow, >5% Red"
              alert:
                summary: '{{ $labels.instance } down'
            """
        ),
    )
    messages = [d.message for d in rule_diagnostics((_service(project),), Config())]
    assert (
        'alert summary is not a valid Go template: unexpected "}" in operand'
        in messages
    )
    assert derive_rules(_service(project)).alerts == ()


# histogram_quantile keeps `le` --------------------------------------------------------


def test_quantile_alert_and_record(project: Path) -> None:
    result = _build(
        project,
        """\
        - title: p99 latency
          type: timeseries
          query: histogram_quantile(0.99, sum by (job, le) (rate(http_request_duration_seconds_bucket{job="payments"}[5m])))
          thresholds: "<0.3s Green, 0.3-1s Yellow, >1s Red"
        """,
    )
    recording, alerts = _rules(result)
    assert recording["rules"] == [
        {
            "record": "job:http_request_duration_seconds:p99_rate5m",
            "expr": 'histogram_quantile(0.99, sum by (job, le) (rate(http_request_duration_seconds_bucket{job="payments"}[5m])))',
        }
    ]
    assert (
        alerts["rules"][0]["expr"]
        == 'job:http_request_duration_seconds:p99_rate5m{job="payments"} >= 1'
    )
    _promtool_all(project, result)


@pytest.mark.parametrize(
    ("thresholds", "value"),
    [
        ("<2.5s Green, 2.5-8s Yellow, >8s Red", "8"),
        # 1e20, not a number of 21 digits.
        ("<2e-3s Green, 2e-3s-1e20s Yellow, >1e20s Red", "1e20"),
    ],
)
def test_quantile_above_buckets_is_explained(
    project: Path, thresholds: str, value: str
) -> None:
    """The rules of a red band above the buckets state why they have no test.

    Such an alert never fires, so the build stops at the thresholds/histogram-range
    error before it writes rules, and the rules are derived here directly.
    """
    panel = f"""\
        - title: p90 latency
          query: histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket{{job="payments"}}[5m])))
          thresholds: "{thresholds}"
        """
    write_manifest(project, "payments.yaml", _manifest(panel))
    result = build(Project.at(project))
    errors = [d.check for d in result.diagnostics if d.severity == "error"]
    assert errors == ["thresholds/histogram-range"]
    diagnostics = rule_diagnostics((_service(project),))
    untested = [d.message for d in diagnostics if d.check == "rules/untested"]
    assert untested
    for message in untested:
        assert (
            "no bucket counts of http_request_duration_seconds_bucket give "
            f"histogram_quantile(0.9, ...) the value {value}, which is above the "
            "largest finite bucket bound, 2.5" in message
        )


def _bucket_storage() -> Storage:
    storage = Storage()
    for bound, step in (("0.1", 50), ("0.5", 90), ("+Inf", 100)):
        labels = make_labels({"__name__": "b_bucket", "job": "payments", "le": bound})
        for minute in range(11):
            storage.add(labels, minute * 60_000, float(step * minute))
    return storage


def test_quantile_without_le_is_empty() -> None:
    """The values promtool gives for buckets growing by 50/90/100 a minute, at 10m."""
    import promql_parser as pp

    evaluator = Evaluator(_bucket_storage())
    with_le = evaluator.vector(
        pp.parse("histogram_quantile(0.9, sum by (job, le) (rate(b_bucket[5m])))"),
        600_000,
    )
    without_le = evaluator.vector(
        pp.parse("histogram_quantile(0.9, sum by (job) (rate(b_bucket[5m])))"), 600_000
    )
    assert [(dict(s.labels), s.value) for s in with_le] == [({"job": "payments"}, 0.5)]
    assert without_le == []


# rate() over a gauge, and a short window ----------------------------------------------


def _gauge_storage() -> Storage:
    storage = Storage()
    labels = make_labels({"__name__": "queue_depth", "job": "payments"})
    for minute, value in enumerate((100, 90, 80, 70, 60, 50)):
        storage.add(labels, minute * 60_000, float(value))
    return storage


def test_rate_over_falling_gauge() -> None:
    import promql_parser as pp

    evaluator = Evaluator(_gauge_storage())
    rate = evaluator.vector(pp.parse("rate(queue_depth[5m])"), 300_000)
    delta = evaluator.vector(pp.parse("delta(queue_depth[5m])"), 300_000)
    assert [s.value for s in rate] == [1.1666666666666667]
    assert [s.value for s in delta] == [-50.0]


def test_rate_window_of_one_sample() -> None:
    import promql_parser as pp

    evaluator = Evaluator(_gauge_storage())
    node = pp.parse("rate(queue_depth[1m])")
    assert len(evaluator.vector(node, 300_000)) == 1
    assert evaluator.vector(node, 330_000) == []


# Division by zero ----------------------------------------------------------------------

AVAILABILITY = """\
- title: Availability
  type: stat
  unit: percentunit
  query: 'sum by (job) (rate(http_requests_total{job="payments",code!~"5.."}[5m])) / sum by (job) (rate(http_requests_total{job="payments"}[5m]))'
  thresholds: ">99% Green, 95-99% Yellow, <95% Red"
  record: true
"""


def test_ratio_denominator_is_guarded(project: Path) -> None:
    result = _build(project, AVAILABILITY)
    recording, alerts = _rules(result)
    assert recording["rules"] == [
        {
            "record": "job:http_requests_not_5xx_per_http_requests:ratio_rate5m",
            "expr": 'sum by (job) (rate(http_requests_total{job="payments",code!~"5.."}[5m]))\n'
            "/\n"
            '(sum by (job) (rate(http_requests_total{job="payments"}[5m])) > 0)',
        }
    ]
    assert (
        alerts["rules"][0]["expr"]
        == 'job:http_requests_not_5xx_per_http_requests:ratio_rate5m{job="payments"} < 0.95'
    )
    assert alerts["rules"][0]["annotations"]["summary"] == (
        "payments: Availability is {{ $value | humanizePercentage }}"
    )


PER_WORKER = """\
- title: Requests per worker
  type: stat
  unit: short
  query: 'sum(rate(http_requests_total{job="payments"}[5m])) / 4'
  thresholds: "<1 Green, >1 Red"
"""


def test_divisor_stays_outside_rule(project: Path) -> None:
    result = _build(project, PER_WORKER)
    assert [d.message for d in result.diagnostics] == []
    recording, alerts = _rules(result)
    assert recording["rules"] == [
        {
            "record": "job:http_requests:rate5m",
            "expr": 'sum by (job) (rate(http_requests_total{job="payments"}[5m]))',
        }
    ]
    expr = alerts["rules"][0]["expr"]
    assert expr == 'job:http_requests:rate5m{job="payments"} / 4 >= 1'
    _promtool_all(project, result)
    rules_name = "prometheus/rules/payments.rules.yml"
    files = dict(result.files)
    files[rules_name] = files[rules_name].replace(" / 4 >= 1", " / 4 > 1")
    out = write_files(project / "out", files)
    moved = run_promtool(
        "test", "rules", str(out / "prometheus/tests/payments.test.yml")
    )
    assert moved.returncode == 1, moved.stdout


def test_zero_traffic_case_is_generated(project: Path) -> None:
    result = _build(project, AVAILABILITY)
    tests = yaml.safe_load(result.files["prometheus/tests/payments.test.yml"])["tests"]
    (silent,) = [t for t in tests if "no traffic" in t["name"]]
    assert all(series["values"].startswith("0+0x") for series in silent["input_series"])
    assert silent["alert_rule_test"][0]["exp_alerts"] == []
    record, nan_check = silent["promql_expr_test"]
    assert record["exp_samples"] == []
    assert nan_check["expr"].startswith("count((")
    assert nan_check["exp_samples"] == [{"labels": "{}", "value": 1.0}]
    _promtool_all(project, result)


def test_outage_fires(project: Path, tmp_path: Path) -> None:
    """10% errors: availability 0.9 is red and fires; the unguarded query agrees."""
    result = _build(project, AVAILABILITY)
    out = write_files(project / "out", result.files)
    test = {
        "rule_files": ["../prometheus/rules/payments.rules.yml"],
        "evaluation_interval": "1m",
        "group_eval_order": ["payments.recording", "payments.alerts"],
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'http_requests_total{job="payments",code="200"}',
                        "values": "0+540x12",
                    },
                    {
                        "series": 'http_requests_total{job="payments",code="500"}',
                        "values": "0+60x12",
                    },
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "5m",
                        "alertname": "PaymentsAvailabilityCritical",
                        "exp_alerts": [],
                    },
                    {
                        "eval_time": "6m",
                        "alertname": "PaymentsAvailabilityCritical",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "job": "payments",
                                    "service": "payments",
                                    "severity": "critical",
                                },
                                "exp_annotations": _annotations(result, "90%"),
                            }
                        ],
                    },
                ],
            }
        ],
    }
    path = out / "cases" / "outage.test.yml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(test), encoding="utf-8")
    assert_promtool("test", "rules", str(path))


def _annotations(result: BuildResult, value: str) -> dict[str, str]:
    (alert,) = _rules(result)[1]["rules"]
    return {
        key: text.replace("{{ $value | humanizePercentage }}", value)
        for key, text in alert["annotations"].items()
    }


# Recording-rule names --------------------------------------------------------------------


def test_names_for_hyphenated_service(project: Path) -> None:
    result = _build(
        project,
        """\
        - title: RPS
          query: 'sum by (job) (rate(http_requests_total{job="payments_api"}[5m]))'
          record: true
        - title: Error ratio
          query: 'sum by (job) (rate(http_requests_total{job="payments_api",code=~"5.."}[5m])) / sum by (job) (rate(http_requests_total{job="payments_api"}[5m]))'
          record: true
        """,
        service="payments-api",
    )
    recording, alerts = _rules(result, "payments-api")
    assert recording["name"] == "payments-api.recording"
    assert alerts["name"] == "payments-api.alerts"
    assert [r["record"] for r in recording["rules"]] == [
        "job:http_requests:rate5m",
        "job:http_requests_5xx_per_http_requests:ratio_rate5m",
    ]
    out = write_files(project / "out", result.files)
    assert_promtool(
        "check", "rules", str(out / "prometheus" / "rules" / "payments-api.rules.yml")
    )
    _promtool_all(project, result, "payments-api")


@pytest.mark.parametrize(
    ("query", "record"),
    [
        # Sides that read alike give the numerator's operations.
        (
            'sum by (code) (rate(http_requests_total{job="payments",code="500"}[5m])) / sum by (code) (rate(http_requests_total{job="payments"}[5m]))',
            "job_code:http_requests_500_per_http_requests:ratio_rate5m",
        ),
        (
            'sum(link_status{job="payments",state="up"}) / sum(link_status{job="payments"})',
            "job:link_status_up_per_link_status:ratio",
        ),
        # Sides that differ give each side's, joined by per.
        (
            'sum(link_status{job="payments"}) / sum(rate(http_requests_total{job="payments"}[5m]))',
            "job:link_status_per_http_requests:ratio_per_rate5m",
        ),
        (
            'max(link_status{job="payments"}) / sum(rate(http_requests_total{job="payments"}[5m]))',
            "job:link_status_per_http_requests:ratio_max_per_rate5m",
        ),
        (
            'sum(rate(http_requests_total{job="payments"}[5m])) / max(link_status{job="payments"})',
            "job:http_requests_per_link_status:ratio_rate5m_per_max",
        ),
        (
            'sum(rate(http_requests_total{job="payments"}[5m])) / sum(link_status{job="payments"})',
            "job:http_requests_per_link_status:ratio_rate5m",
        ),
        (
            'sum(increase(http_requests_total{job="payments"}[1h])) / sum(rate(http_requests_total{job="payments"}[5m]))',
            "job:http_requests_per_http_requests:ratio_increase1h_per_rate5m",
        ),
        (
            'sum(link_status{job="payments"} offset 1h) / sum(rate(http_requests_total{job="payments"}[5m] offset 1h))',
            "job:link_status_per_http_requests:ratio_offset1h_per_rate5m_offset1h",
        ),
    ],
    ids=[
        "rates",
        "gauges",
        "gauge-over-rate",
        "max-over-rate",
        "rate-over-max",
        "rate-over-gauge",
        "increase-over-rate",
        "offsets",
    ],
)
def test_ratio_record_names(project: Path, query: str, record: str) -> None:
    result = _build(
        project,
        f"""\
        - title: Ratio
          query: '{query}'
          record: true
        """,
    )
    recording, _ = _rules(result)
    assert [rule["record"] for rule in recording["rules"]] == [record]
    out = write_files(project / "out", result.files)
    assert_promtool(
        "check", "rules", str(out / "prometheus" / "rules" / "payments.rules.yml")
    )


def test_hyphen_in_record_name_is_rejected(tmp_path: Path) -> None:
    """Why the service stays out of the name: promtool rejects a hyphen there."""
    path = tmp_path / "bad.rules.yml"
    path.write_text(
        "groups:\n  - name: g\n    rules:\n      - record: payments-api:http_requests:rate5m\n"
        "        expr: sum(rate(http_requests_total[5m]))\n",
        encoding="utf-8",
    )
    result = run_promtool("check", "rules", str(path))
    assert result.returncode == 1
    assert (
        "invalid recording rule name: payments-api:http_requests:rate5m"
        in result.stdout + result.stderr
    )


# for: timing against eval_time -----------------------------------------------------------


def test_rate_alert_pending_then_firing(project: Path) -> None:
    result = _build(
        project,
        """\
        - title: Error ratio
          query: 'sum by (job) (rate(http_requests_total{job="payments",code=~"5.."}[5m])) / (sum by (job) (rate(http_requests_total{job="payments"}[5m])) > 0)'
          thresholds: "<1% Green, 1-5% Yellow, >5% Red"
          alert:
            for: 5m
            summary: 'Error rate {{ $value | humanizePercentage }} for {{ $labels.job }}'
        """,
    )
    recording, alerts = _rules(result)
    assert recording["rules"][0]["expr"].count("> 0") == 1
    out = write_files(project / "out", result.files)
    test = {
        "rule_files": ["../prometheus/rules/payments.rules.yml"],
        "evaluation_interval": "1m",
        "group_eval_order": ["payments.recording", "payments.alerts"],
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'http_requests_total{job="payments",code="200"}',
                        "values": "0+540x12",
                    },
                    {
                        "series": 'http_requests_total{job="payments",code="500"}',
                        "values": "0+60x12",
                    },
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "5m",
                        "alertname": alerts["rules"][0]["alert"],
                        "exp_alerts": [],
                    },
                    {
                        "eval_time": "6m",
                        "alertname": alerts["rules"][0]["alert"],
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "job": "payments",
                                    "service": "payments",
                                    "severity": "critical",
                                },
                                "exp_annotations": {
                                    **alerts["rules"][0]["annotations"],
                                    "summary": "Error rate 10% for payments",
                                    "description": alerts["rules"][0]["annotations"][
                                        "description"
                                    ].replace(
                                        "{{ $value | humanizePercentage }}", "10%"
                                    ),
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    }
    path = out / "cases" / "timing.test.yml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(test), encoding="utf-8")
    assert_promtool("test", "rules", str(path))


def test_gauge_alert_fires_at_for(project: Path) -> None:
    """A gauge that is red from t=0 is pending at 4m and firing at 5m with `for: 5m`."""
    write_manifest(
        project,
        "payments.yaml",
        _manifest(
            """\
            - title: Up
              type: stat
              query: 'up{job="payments"}'
              unit: none
              thresholds: "1=Green, 0=Red"
            """
        ),
    )
    suite = generate_tests(derive_rules(_service(project)))
    (group,) = [g for g in suite.groups if "fires" in g.name]
    assert [(c.eval_time, bool(c.alerts)) for c in group.alert_checks] == [
        ("4m", False),
        ("5m", True),
        ("6m", True),
    ]


def test_eval_times_are_multiples_of_interval(project: Path) -> None:
    result = _build(project, AVAILABILITY)
    tests = yaml.safe_load(result.files["prometheus/tests/payments.test.yml"])["tests"]
    for test in tests:
        for check in test.get("alert_rule_test", []) + test.get("promql_expr_test", []):
            assert check["eval_time"].endswith("m"), check["eval_time"]


# Group names and scrape jobs ---------------------------------------------------------------


def test_group_names_are_distinct(project: Path) -> None:
    result = _build(project, AVAILABILITY)
    assert [g["name"] for g in _rules(result)] == [
        "payments.recording",
        "payments.alerts",
    ]


def test_repeated_group_name_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "dup.rules.yml"
    path.write_text(
        "groups:\n  - name: payments\n    rules: []\n  - name: payments\n    rules: []\n"
    )
    result = run_promtool("check", "rules", str(path))
    assert (
        'groupname: "payments" is repeated in the same file'
        in result.stdout + result.stderr
    )


def _service_with(*jobs: ScrapeJob) -> Service:
    return Service(name="payments", title="payments", dashboard=None, scrape_jobs=jobs)


def test_duplicate_scrape_job_is_not_rendered() -> None:
    services = (
        _service_with(ScrapeJob("payments", ("payments:8080",))),
        _service_with(ScrapeJob("payments", ("payments:9090",))),
    )
    with pytest.raises(RenderError, match='scrape job "payments" is defined twice'):
        scrape_document(services, Config(), [])


def test_timeout_longer_than_interval_is_not_rendered() -> None:
    services = (
        _service_with(
            ScrapeJob("payments", ("payments:8080",), interval="15s", timeout="30s")
        ),
    )
    with pytest.raises(RenderError, match="timeout 30s is longer than interval 15s"):
        scrape_document(services, Config(), [])


def test_promtool_rejects_what_renderer_refuses(tmp_path: Path) -> None:
    path = tmp_path / "prometheus.yml"
    path.write_text(
        "scrape_configs:\n"
        "  - job_name: payments\n    static_configs: [{targets: ['payments:8080']}]\n"
        "  - job_name: payments\n    static_configs: [{targets: ['payments:9090']}]\n"
    )
    result = run_promtool("check", "config", str(path))
    assert (
        'found multiple scrape configs with job name "payments"'
        in result.stdout + result.stderr
    )


# Units in annotations ----------------------------------------------------------------------


def test_percentage_formats() -> None:
    ratio = 50 / 950
    assert gofuncs.humanize_percentage(ratio) == "5.263%"
    assert gorender.go_value(ratio) == "0.05263157894736842"
    assert gorender.render('{{ printf "%.2f" $value }}%', {}, ratio * 100) == "5.26%"
    assert math.isclose(ratio * 100, 5.263157894736842)


# Alert settings ------------------------------------------------------------------------------

SETTINGS = """\
- title: Error ratio
  query: 'sum(rate(http_requests_total{job="payments",code=~"5.."}[5m])) / sum(rate(http_requests_total{job="payments"}[5m]))'
  thresholds: "<1% Green, 1-5% Yellow, >5% Red"
  alert:
    warning: true
    for: 10m
    labels: {team: checkout}
- title: Errors quiet
  query: 'sum(rate(http_requests_total{job="payments",code=~"4.."}[5m])) / sum(rate(http_requests_total{job="payments"}[5m]))'
  thresholds: "<1% Green, 1-5% Yellow, >5% Red"
  alert: false
- title: Latency
  query: histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket{job="payments"}[5m])))
  thresholds: "<300ms Green, 300ms-1s Yellow, >1s Red"
  alert:
    name: PaymentsSlow
"""


def _settings_rules(project: Path) -> dict[str, dict]:
    text = _manifest(SETTINGS).replace(
        "rows:\n", "alerts:\n  for: 2m\n  labels: {tier: gold}\nrows:\n"
    )
    write_manifest(project, "payments.yaml", text)
    (project / "obscompile.yaml").write_text(
        "grafana_url: https://grafana.example.org/\n"
    )
    result = build(Project.at(project))
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    _promtool_all(project, result)
    return {rule["alert"]: rule for rule in _rules(result)[1]["rules"]}


def test_warning_band_between_two_steps(project: Path) -> None:
    alerts = _settings_rules(project)
    warning = alerts["PaymentsErrorRatioWarning"]
    assert warning["expr"] == (
        'job:http_requests_5xx_per_http_requests:ratio_rate5m{job="payments"} >= 0.01 '
        'and job:http_requests_5xx_per_http_requests:ratio_rate5m{job="payments"} < 0.05'
    )
    assert warning["labels"]["severity"] == "warning"
    assert (
        alerts["PaymentsErrorRatioCritical"]["expr"]
        == 'job:http_requests_5xx_per_http_requests:ratio_rate5m{job="payments"} >= 0.05'
    )


def test_untested_service_gets_no_test_file(project: Path) -> None:
    """A service whose rules all lack a generated test gets no `tests: []` file.

    promtool 2.42 passes such a file without running a test, so `obscompile test`
    would count a file that tests nothing as a passing one.
    """
    result = _build(
        project,
        """\
        - title: Requests per link
          query: 'link_status{job="payments"} / on (instance) group_right (state) sum by (instance) (rate(http_requests_total{job="payments"}[5m]))'
          thresholds: ">30 Red"
        """,
    )
    (warning,) = [d for d in result.diagnostics if d.check == "rules/untested"]
    assert '"PaymentsRequestsPerLinkCritical"' in warning.message
    assert "prometheus/rules/payments.rules.yml" in result.files
    assert "prometheus/tests/payments.test.yml" not in result.files
    write_files(project / "out", result.files)
    tested = obscompile_test("--project", str(project))
    assert tested.returncode == 0, tested.stderr
    assert "1 rule file, 0 test files: 0 generated" in tested.stderr
    assert "[rules/untested]" in tested.stderr


def test_alert_false_keeps_thresholds(project: Path) -> None:
    """`alert: false` keeps a panel's colours and derives no rule, test or warning."""
    result = _build(
        project,
        """\
        - title: Error ratio
          query: 'sum(rate(http_requests_total{job="payments",code=~"5.."}[5m])) / sum(rate(http_requests_total{job="payments"}[5m]))'
          thresholds: "<1% Green, 1-5% Yellow, >5% Red"
          alert: false
        - title: Requests
          query: 'sum(rate(http_requests_total{job="payments"}[5m]))'
          thresholds: "Red"
          alert: false
        """,
    )
    assert list(result.diagnostics) == []
    assert "prometheus/rules/payments.rules.yml" not in result.files
    assert "prometheus/tests/payments.test.yml" not in result.files
    dashboard = json.loads(result.files["grafana/dashboards/payments-overview.json"])
    steps = {
        panel["title"]: panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        for panel in dashboard["panels"]
        if panel["type"] != "row"
    }
    assert steps["Error ratio"] == [
        {"color": "green", "value": None},
        {"color": "yellow", "value": 0.01},
        {"color": "red", "value": 0.05},
    ]
    assert steps["Requests"] == [{"color": "red", "value": None}]


NOT_DRAWN = """\
- title: Latency heatmap
  type: heatmap
  query: 'sum by (le) (rate(http_request_duration_seconds_bucket{job="payments"}[5m]))'
  thresholds: "<300ms Green, 300ms-1s Yellow, >1s Red"
- title: Codes pie
  type: piechart
  query: 'sum by (code) (rate(http_requests_total{job="payments"}[5m]))'
  thresholds: "<50 Green, >=50 Red"
- title: Codes table
  type: table
  legend: '{{code}}'
  query: 'sum by (code) (rate(http_requests_total{job="payments"}[5m]))'
  thresholds: "200 <50, 500 <5"
- title: Codes bars
  type: barchart
  legend: '{{code}}'
  query: 'sum by (code) (rate(http_requests_total{job="payments"}[5m]))'
  thresholds: "200 <50, 500 <5"
- title: Codes
  type: stat
  legend: '{{code}}'
  query: 'sum by (code) (rate(http_requests_total{job="payments"}[5m]))'
  thresholds: "200 <50, 500 <5"
"""


def test_thresholds_not_drawn_give_no_alert(project: Path) -> None:
    """Thresholds that the panel type does not colour by give no alert.

    The heatmap and pie chart colour nothing by thresholds, and the table and bar
    chart show no per-series thresholds, so only the stat's series alert. The build
    reports each of the other four as an error and writes nothing.
    """
    write_manifest(project, "payments.yaml", _manifest(NOT_DRAWN))
    rules = derive_rules(_service(project))
    assert [alert.name for alert in rules.alerts] == [
        "PaymentsCodes200Critical",
        "PaymentsCodes500Critical",
    ]
    result = build(Project.at(project))
    assert result.files == {}
    errors = [d for d in result.diagnostics if d.severity == "error"]
    assert [d.check for d in errors] == ["thresholds/panel-type"] * 4
    assert [d.location.line for d in errors] == [24, 28, 33, 38]


OVERRIDDEN_CODE = """\
- title: Codes
  type: timeseries
  legend: '{{code}}'
  query: 'sum by (code) (rate(http_requests_total{job="payments"}[5m]))'
  thresholds:
    text: "<10 Green, >10 Red"
    series: {"500": "<20 Green, >20 Red"}
"""

# Requests of code 200 and 500 at 15 per second each. The panel's steps colour 200
# red, and the override of series 500 colours it green.
OVERRIDDEN_CODE_TEST = """\
rule_files: [../rules/payments.rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'http_requests_total{job="payments",code="200"}'
        values: '0+900x20'
      - series: 'http_requests_total{job="payments",code="500"}'
        values: '0+900x20'
    promql_expr_test:
      - eval_time: 15m
        expr: 'ALERTS{alertstate="firing"}'
        exp_samples:
          - labels: 'ALERTS{alertname="PaymentsCodesCritical",alertstate="firing",code="200",job="payments",service="payments",severity="critical"}'
            value: 1
"""


def test_series_override_leaves_panel_alert(project: Path) -> None:
    """The panel's band alerts for no series that per-series thresholds name.

    Grafana colours such a series by its override's steps alone, so series 500 at 15
    is green and only series 200 alerts.
    """
    result = _build(project, OVERRIDDEN_CODE)
    alerts = {
        rule["alert"]: rule["expr"]
        for group in _rules(result)
        for rule in group["rules"]
        if "alert" in rule
    }
    assert alerts["PaymentsCodesCritical"].endswith(
        ' unless job_code:http_requests:rate5m{job="payments",code="500"}'
    )
    _promtool_all(project, result)
    out = project / "out" / "prometheus" / "tests"
    (out / "override.test.yml").write_text(OVERRIDDEN_CODE_TEST, encoding="utf-8")
    assert_promtool("test", "rules", str(out / "override.test.yml"))


def test_alert_false_disables(project: Path) -> None:
    assert not [name for name in _settings_rules(project) if "Quiet" in name]


def test_alert_name_override(project: Path) -> None:
    assert list(_settings_rules(project)) == [
        "PaymentsErrorRatioCritical",
        "PaymentsErrorRatioWarning",
        "PaymentsSlowCritical",
    ]


def test_for_and_labels_layers(project: Path) -> None:
    alerts = _settings_rules(project)
    assert alerts["PaymentsErrorRatioCritical"]["for"] == "10m"
    assert alerts["PaymentsSlowCritical"]["for"] == "2m"
    assert alerts["PaymentsErrorRatioCritical"]["labels"] == {
        "severity": "critical",
        "service": "payments",
        "team": "checkout",
        "tier": "gold",
    }
    assert alerts["PaymentsSlowCritical"]["labels"] == {
        "severity": "critical",
        "service": "payments",
        "tier": "gold",
    }


def test_dashboard_link(project: Path) -> None:
    annotations = _settings_rules(project)["PaymentsSlowCritical"]["annotations"]
    assert annotations["dashboard_uid"] == "payments-overview"
    assert annotations["panel_id"] == "4"
    assert (
        annotations["dashboard_url"]
        == "https://grafana.example.org/d/payments-overview?viewPanel=4"
    )


# Alert labels that the series also carry ------------------------------------------

BACKLOG = """\
service: payments
dashboard:
  uid: payments-overview
scrape:
  job: payments
  port: 8080
  interval: 1m
alerts:
  for: 1m
  labels: {team: checkout}
metrics:
  queue_backlog:
    type: gauge
    labels: [queue, severity, service, team]
rows:
  - title: Backlog
    panels:
      - title: Backlog by severity
        type: stat
        query: 'sum by (severity) (queue_backlog{job="payments"})'
        thresholds: "<10 Green, >10 Red"
        alert:
          summary: '{{ $labels.severity }} backlog is {{ $value }}'
          description: 'Backlog of {{ index $labels "severity" }} items'
      - title: Backlog by service
        type: stat
        query: 'sum by (service) (queue_backlog{job="payments"})'
        thresholds: "<10 Green, >10 Red"
        alert:
          summary: '{{ $labels.service }} backlog is {{ $value }}'
          description: Backlog per service
      - title: Backlog by team
        type: stat
        query: 'max by (team, queue) (queue_backlog{job="payments"})'
        thresholds: "<10 Green, >10 Red"
      - title: Backlog of each queue
        type: stat
        query: 'queue_backlog{job="payments"}'
        thresholds: "<10 Green, >10 Red"
"""


def _backlog(project: Path) -> BuildResult:
    write_manifest(project, "payments.yaml", BACKLOG)
    result = build(Project.at(project))
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    return result


def _firing(series: dict[str, str], summary: str, description: str, panel: int) -> dict:
    return {
        "exp_labels": {
            "job": "payments",
            "severity": "critical",
            "service": "payments",
            "team": "checkout",
            **series,
        },
        "exp_annotations": {
            "summary": summary,
            "description": description,
            "dashboard_uid": "payments-overview",
            "panel_id": str(panel),
            "dashboard_url": f"http://localhost:3000/d/payments-overview?viewPanel={panel}",
        },
    }


def test_colliding_series_fire_apart(project: Path) -> None:
    """Two series that differ only in `severity` (or `service`) give two alerts."""
    out = write_files(project / "out", _backlog(project).files)
    series = [
        ('queue_backlog{job="payments",queue="q",severity="high",service="api"}', 12),
        ('queue_backlog{job="payments",queue="q",severity="low",service="api"}', 12),
        ('queue_backlog{job="payments",queue="r",severity="info",service="api"}', 1),
        ('queue_backlog{job="payments",queue="r",severity="info",service="web"}', 1),
    ]
    by_severity = [
        _firing(
            {"series_severity": value},
            f"{value} backlog is 12",
            f"Backlog of {value} items",
            2,
        )
        for value in ("high", "low")
    ]
    by_service = [
        _firing(
            {"series_service": value},
            f"{value} backlog is 12",
            "Backlog per service",
            3,
        )
        for value in ("api", "web")
    ]
    test = {
        "rule_files": ["../prometheus/rules/payments.rules.yml"],
        "evaluation_interval": "1m",
        "group_eval_order": ["payments.recording", "payments.alerts"],
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": text, "values": f"{value}x3"}
                    for text, value in series[:2]
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "2m",
                        "alertname": "PaymentsBacklogBySeverityCritical",
                        "exp_alerts": by_severity,
                    }
                ],
            },
            {
                "interval": "1m",
                "input_series": [
                    {"series": text, "values": f"{value * 12}x3"}
                    for text, value in series[2:]
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "2m",
                        "alertname": "PaymentsBacklogByServiceCritical",
                        "exp_alerts": by_service,
                    }
                ],
            },
        ],
    }
    path = out / "cases" / "alert_labels.test.yml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(test, sort_keys=False), encoding="utf-8")
    assert_promtool("test", "rules", str(path))


def test_colliding_labels_move_aside(project: Path) -> None:
    result = _backlog(project)
    alerts = {rule["alert"]: rule for rule in _rules(result)[1]["rules"]}
    record = "job_severity:queue_backlog:sum"
    assert alerts["PaymentsBacklogBySeverityCritical"]["expr"] == (
        f'label_replace(label_replace({record}{{job="payments"}} >= 10, '
        '"series_severity", "$1", "severity", "(.*)"), "severity", "", "", "")'
    )
    assert alerts["PaymentsBacklogBySeverityCritical"]["annotations"]["summary"] == (
        "{{ $labels.series_severity }} backlog is {{ $value }}"
    )
    assert alerts["PaymentsBacklogBySeverityCritical"]["annotations"][
        "description"
    ] == ('Backlog of {{ index $labels "series_severity" }} items')
    team = alerts["PaymentsBacklogByTeamCritical"]
    assert '"series_team", "$1", "team"' in team["expr"]
    assert "severity" not in team["expr"]
    assert team["annotations"]["summary"].endswith(
        "for queue {{ $labels.queue }}, team {{ $labels.series_team }}"
    )
    # A raw selector keeps every catalog label, so all three move.
    raw = alerts["PaymentsBacklogOfEachQueueCritical"]["expr"]
    for label in ("severity", "service", "team"):
        assert f'"series_{label}", "$1", "{label}", "(.*)"' in raw
    assert "label_replace" not in str(_rules(result)[0])


def test_generated_tests_prove_colliding_labels(project: Path) -> None:
    """The generated tests feed a second series that differs in the moved label."""
    result = _backlog(project)
    tests = yaml.safe_load(result.files["prometheus/tests/payments.test.yml"])["tests"]
    (group,) = [
        test
        for test in tests
        if test["name"] == "PaymentsBacklogBySeverityCritical: 10 (red) fires"
    ]
    assert [s["series"] for s in group["input_series"]] == [
        'queue_backlog{instance="payments:8080",job="payments",severity="severity-1"}',
        'queue_backlog{instance="payments:8080",job="payments",severity="severity-2"}',
    ]
    fired = group["alert_rule_test"][-1]["exp_alerts"]
    assert [a["exp_labels"]["series_severity"] for a in fired] == [
        "severity-1",
        "severity-2",
    ]
    assert {a["exp_labels"]["severity"] for a in fired} == {"critical"}
    assert [d for d in result.diagnostics if d.check == "rules/untested"] == []
    _promtool_all(project, result)


# Labels of absent() ------------------------------------------------------------------

ABSENT_QUERIES = {
    "selector": 'absent(node_load1{job="node"})',
    "two-equal-matchers": 'absent(node_load1{job="node",mode="idle",mode="user"})',
    "regex-and-equal": 'absent(node_load1{job="node",mode=~"id.*",mode="idle"})',
    "not-equal-and-equal": 'absent(node_load1{job="node",mode!="user",mode="idle"})',
    "empty-value": 'absent(node_load1{job="node",mode=""})',
    "over-time": 'absent_over_time((node_load1{job="node",cpu="0"}[5m]))',
    "aggregation": 'absent(sum by (job) (node_load1{job="node"}))',
}


@pytest.mark.parametrize("query", ABSENT_QUERIES.values(), ids=ABSENT_QUERIES.keys())
def test_absent_labels_match_promtool(tmp_path: Path, query: str) -> None:
    """The labels that output_labels() gives absent() are those promtool returns."""
    names = promql.output_labels(promql.parse(query)).names
    (selector,) = promql.selectors(promql.parse(query))
    values = {
        m.name: m.value for m in selector.matchers.matchers if m.op == pp.MatchOp.Equal
    }
    labels = ",".join(f'{name}="{values[name]}"' for name in names)
    rules = {"groups": [{"name": "absent", "rules": [{"record": "r", "expr": query}]}]}
    test = {
        "rule_files": ["absent.rules.yml"],
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": 'up{job="node"}', "values": "1x5"}],
                "promql_expr_test": [
                    {
                        "expr": "r",
                        "eval_time": "2m",
                        "exp_samples": [{"labels": f"r{{{labels}}}", "value": 1}],
                    }
                ],
            }
        ],
    }
    write_files(
        tmp_path,
        {
            "absent.rules.yml": yaml.safe_dump(rules),
            "absent.test.yml": yaml.safe_dump(test),
        },
    )
    assert_promtool("test", "rules", "absent.test.yml", cwd=tmp_path)


# Alerts per host ---------------------------------------------------------------------

HOST_PANELS = """\
- title: CPU busy
  type: timeseries
  query: 'sum by (instance) (rate(node_cpu_seconds_total{job="node",mode!="idle"}[5m]))'
  unit: percentunit
  thresholds: "<0.8 Green, 0.8-0.9 Yellow, >0.9 Red"
- title: Load
  type: timeseries
  query: 'node_load1{job="node"}'
  thresholds: "<4 Green, 4-8 Yellow, >8 Red"
- title: CPU average
  type: timeseries
  query: 'avg by (instance) (rate(node_cpu_seconds_total{job="node",mode!="idle"}[5m])) * 100'
  unit: percent
  thresholds: "<80% Green, 80-90% Yellow, >90% Red"
- title: Load average
  type: timeseries
  query: 'avg by (instance) (node_load1{job="node"})'
  thresholds: "<4 Green, 4-8 Yellow, >8 Red"
"""


def _node_hosts(project: Path, panels: str = HOST_PANELS) -> BuildResult:
    """Build the node exporter manifest, whose job "node" has two targets."""
    manifest = NODE_EXPORTER + textwrap.indent(panels, "      ")
    write_manifest(project, "node.yaml", manifest)
    result = build(Project.at(project))
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    return result


def test_alert_summary_names_instance(project: Path) -> None:
    result = _node_hosts(project)
    alerts = {rule["alert"]: rule for rule in _rules(result, "node")[1]["rules"]}
    assert alerts["NodeCPUBusyCritical"]["annotations"]["summary"] == (
        "node: CPU busy is {{ $value | humanizePercentage }} "
        "for instance {{ $labels.instance }}"
    )
    assert alerts["NodeLoadCritical"]["annotations"]["summary"] == (
        "node: Load is {{ $value | humanize }} for instance {{ $labels.instance }}"
    )


LABEL_ORDER_PANELS = """\
- title: Errors by code
  query: 'sum by (code, instance) (rate(http_requests_total{job="payments"}[5m]))'
  thresholds: "<1 Green, >=1 Red"
- title: Errors by instance
  query: 'sum by (instance, code) (rate(http_requests_total{job="payments"}[5m]))'
  thresholds: "<2 Green, >=2 Red"
"""


def test_alert_summary_label_order(project: Path) -> None:
    """Summaries name the same labels in one order, whatever order a query lists."""
    result = _build(project, LABEL_ORDER_PANELS)
    alerts = _rules(result)[1]["rules"]
    summaries = [alert["annotations"]["summary"] for alert in alerts]
    assert summaries == [
        "payments: Errors by code is {{ $value | humanize }} "
        "for code {{ $labels.code }}, instance {{ $labels.instance }}",
        "payments: Errors by instance is {{ $value | humanize }} "
        "for code {{ $labels.code }}, instance {{ $labels.instance }}",
    ]
    _promtool_all(project, result)


TIME_UNIT_PANELS = """\
- title: Since start
  type: stat
  query: 'time() - max(link_status{job="payments"})'
  unit: dtdurations
  thresholds: "<=10m Red, >10m Green"
- title: Days left
  type: stat
  query: '(max(link_status{job="payments"}) - time()) / 86400'
  unit: d
  thresholds: "<=7d Red, >7d Green"
"""


def test_alert_values_in_time_units(project: Path) -> None:
    """Values and bounds in a duration format or in days name their unit."""
    result = _build(project, TIME_UNIT_PANELS)
    alerts = {rule["alert"]: rule for rule in _rules(result)[1]["rules"]}
    since = alerts["PaymentsSinceStartCritical"]["annotations"]
    assert since["summary"] == (
        "payments: Since start is {{ $value | humanizeDuration }}"
    )
    assert "(at or below 10m)" in since["description"]
    left = alerts["PaymentsDaysLeftCritical"]["annotations"]
    assert left["summary"] == 'payments: Days left is {{ printf "%.2f" $value }}d'
    assert "(at or below 7d)" in left["description"]
    _promtool_all(project, result)


BYTE_UNIT_PANELS = """\
- title: Memory
  type: stat
  query: 'max(link_status{job="payments"})'
  unit: bytes
  thresholds: "<1073741824 Green, >=1073741824 Red"
- title: Disk
  type: stat
  query: 'min(link_status{job="payments"})'
  unit: decbytes
  thresholds: "<1000000000 Green, >=1000000000 Red"
- title: Heap
  type: stat
  query: 'sum(link_status{job="payments"})'
  unit: gbytes
  thresholds: "<2 Green, >=2 Red"
- title: Upload
  type: stat
  query: 'avg(link_status{job="payments"})'
  unit: MiBs
  thresholds: "<1.5 Green, >=1.5 Red"
"""


def test_alert_values_in_byte_units(project: Path) -> None:
    """Values in data units read as the panel shows them: 1GiB, 1GB, 2.00 GiB."""
    result = _build(project, BYTE_UNIT_PANELS)
    alerts = {rule["alert"]: rule for rule in _rules(result)[1]["rules"]}
    memory = alerts["PaymentsMemoryCritical"]["annotations"]["summary"]
    assert memory == "payments: Memory is {{ $value | humanize1024 }}B"
    disk = alerts["PaymentsDiskCritical"]["annotations"]["summary"]
    assert disk == "payments: Disk is {{ $value | humanize }}B"

    tests = yaml.safe_load(result.files["prometheus/tests/payments.test.yml"])["tests"]
    summaries = {
        alert["exp_annotations"]["summary"]
        for test in tests
        for check in test.get("alert_rule_test", [])
        for alert in check["exp_alerts"]
    }
    heap = alerts["PaymentsHeapCritical"]["annotations"]["summary"]
    assert heap == 'payments: Heap is {{ printf "%.2f" $value }} GiB'
    assert "payments: Memory is 1GiB" in summaries
    assert "payments: Disk is 1GB" in summaries
    assert "payments: Heap is 2.00 GiB" in summaries
    upload = alerts["PaymentsUploadCritical"]["annotations"]["summary"]
    assert upload == 'payments: Upload is {{ printf "%.2f" $value }} MiB/s'
    assert "payments: Upload is 1.50 MiB/s" in summaries
    _promtool_all(project, result)


def test_generated_host_alert_tests_pass(project: Path) -> None:
    """Generated tests name the instance in each summary and pass promtool.

    The averages over each host's CPUs and load get tests too.
    """
    result = _node_hosts(project)
    assert [d for d in result.diagnostics if d.check == "rules/untested"] == []
    tests = yaml.safe_load(result.files["prometheus/tests/node.test.yml"])["tests"]
    names = {test["name"] for test in tests}
    for name in (
        "NodeCPUAverageCritical: 90% (red) fires",
        "NodeCPUAverageCritical: 80% (yellow) stays silent",
        "NodeLoadAverageCritical: 8 (red) fires",
    ):
        assert name in names
    fired = [
        alert
        for test in tests
        for check in test.get("alert_rule_test", [])
        if check["alertname"] == "NodeCPUBusyCritical"
        for alert in check["exp_alerts"]
    ]
    assert fired
    for alert in fired:
        instance = alert["exp_labels"]["instance"]
        summary = alert["exp_annotations"]["summary"]
        assert summary.endswith(f" for instance {instance}")
    _promtool_all(project, result, "node")


BUSY_PANELS = """\
- title: CPU busy
  type: timeseries
  query: 'avg by (instance) (rate(node_cpu_seconds_total{job="node",mode!="idle"}[5m]))'
  thresholds: "<80% Green, 80-90% Yellow, >90% Red"
- title: CPU busy percent
  type: timeseries
  query: 'avg by (instance) (rate(node_cpu_seconds_total{job="node",mode!="idle"}[5m])) * 100'
  thresholds: "<80% Green, 80-90% Yellow, >90% Red"
"""


def test_cpu_busy_thresholds_without_unit(project: Path) -> None:
    """A rate of a seconds counter is a fraction of time, so `%` needs no `unit:`."""
    result = _node_hosts(project, BUSY_PANELS)
    (dashboard,) = [
        json.loads(text)
        for name, text in result.files.items()
        if name.startswith("grafana/dashboards/")
    ]
    fraction, percent = [panel for panel in dashboard["panels"] if "targets" in panel]
    assert fraction["fieldConfig"]["defaults"]["unit"] == "percentunit"
    assert percent["fieldConfig"]["defaults"]["unit"] == "percent"
    alerts = {rule["alert"]: rule for rule in _rules(result, "node")[1]["rules"]}
    assert alerts["NodeCPUBusyCritical"]["expr"].endswith(" >= 0.9")
    assert alerts["NodeCPUBusyPercentCritical"]["expr"].endswith(" * 100 >= 90")
    summary = alerts["NodeCPUBusyCritical"]["annotations"]["summary"]
    assert "{{ $value | humanizePercentage }}" in summary
    assert [d for d in result.diagnostics if d.check == "rules/untested"] == []
    _promtool_all(project, result, "node")


# Values next to a boundary ----------------------------------------------------------

FRACTION_BOUNDS = """\
- title: Error ratio
  query: 'sum(rate(http_requests_total{job="payments",code=~"5.."}[5m])) / sum(rate(http_requests_total{job="payments"}[5m]))'
  thresholds: "<1% Green, 1-10% Yellow, >10% Red"
  alert: {warning: true}
"""


def test_fraction_bounds_probed_nearby(project: Path) -> None:
    """Bounds of 0.1 and 0.01 are probed one step of their leading digit away.

    A probe of 0 below 0.1 would let an alert at 0.01 pass the test of 0.1.
    """
    result = _build(project, FRACTION_BOUNDS)
    tests = yaml.safe_load(result.files["prometheus/tests/payments.test.yml"])["tests"]
    names = {test["name"] for test in tests}
    for name in (
        "PaymentsErrorRatioCritical: 9% (yellow) stays silent",
        "PaymentsErrorRatioCritical: 10% (red) fires",
        "PaymentsErrorRatioCritical: 11% (red) fires",
        "PaymentsErrorRatioWarning: 0.9% (green) stays silent",
        "PaymentsErrorRatioWarning: 1% (yellow) fires",
        "PaymentsErrorRatioWarning: 1.1% (yellow) fires",
    ):
        assert name in names
    assert "PaymentsErrorRatioCritical: 0% (green) stays silent" not in names
    _promtool_all(project, result)


SLOW_RATE = """\
- title: Request rate
  query: 'sum(rate(http_requests_total{job="payments"}[5m]))'
  unit: reqps
  thresholds: "<0.1 Green, >=0.1 Red"
"""


def test_slow_rate_neighbours_probed_exactly(project: Path) -> None:
    """A rate of 0.1/s is probed with exactly 0.09 and 0.11/s.

    At one sample a minute, 0.09/s and 0.11/s need counters that grow by 5.4 and 6.6
    per sample, which the generated input series give.
    """
    result = _build(project, SLOW_RATE)
    assert [d for d in result.diagnostics if d.check == "rules/untested"] == []
    tests = yaml.safe_load(result.files["prometheus/tests/payments.test.yml"])["tests"]
    names = {test["name"] for test in tests}
    assert names == {
        "PaymentsRequestRateCritical: 0.09 (green) stays silent",
        "PaymentsRequestRateCritical: 0.1 (red) fires",
        "PaymentsRequestRateCritical: 0.11 (red) fires",
    }
    _promtool_all(project, result)


# Red steps and red value mappings together -----------------------------------------

MAPPED_STEPS = """\
- title: Queue depth
  type: stat
  query: 'max(link_status{job="payments"})'
  thresholds:
    steps: [green, {value: 50, color: red}]
    mappings:
      - {value: 0, text: Stalled, color: red}
      - {value: 70, text: Overflow, color: red}
      - {value: 99, text: Draining, color: blue}
"""


def test_red_steps_and_mappings_alert(project: Path) -> None:
    """The red band, each red mapping: one alert each, never two for one value."""
    result = _build(project, MAPPED_STEPS)
    recording, alerts = _rules(result)
    record = 'job:link_status:max{job="payments"}'
    assert {rule["alert"]: rule["expr"] for rule in alerts["rules"]} == {
        "PaymentsQueueDepthHighCritical": (
            f"{record} >= 50 and {record} != 70 and {record} != 99"
        ),
        "PaymentsQueueDepthIs0Critical": f"{record} == 0",
        "PaymentsQueueDepthIs70Critical": f"{record} == 70",
    }
    assert recording["rules"][0]["record"] == "job:link_status:max"
    (band,) = [r for r in alerts["rules"] if r["alert"].endswith("HighCritical")]
    assert "(at or above 50, except 70, 99)" in band["annotations"]["description"]
    tests = yaml.safe_load(result.files["prometheus/tests/payments.test.yml"])["tests"]
    names = [test["name"] for test in tests]
    for name in (
        "PaymentsQueueDepthHighCritical: 40 (green) stays silent",
        "PaymentsQueueDepthHighCritical: 50 (red) fires",
        "PaymentsQueueDepthHighCritical: 70 (red) stays silent",
        "PaymentsQueueDepthHighCritical: 99 (blue) stays silent",
        "PaymentsQueueDepthIs0Critical: 0 (red) fires",
        "PaymentsQueueDepthIs70Critical: 70 (red) fires",
        "PaymentsQueueDepthIs70Critical: 71 (red) stays silent",
    ):
        assert name in names
    assert [d for d in result.diagnostics if d.check == "rules/untested"] == []
    _promtool_all(project, result)


HEX_STEPS = """\
- title: Queue depth
  type: stat
  query: 'max(link_status{job="payments"})'
  thresholds:
    steps: [green, {value: 50, color: "#F2495C"}]
    mappings:
      - {value: 0, text: Stalled, color: dark-red}
      - {value: 60, text: Full, color: "#FF0000"}
      - {value: 70, text: Draining, color: "#5794F2"}
"""


def test_hex_red_step_and_mappings_alert(project: Path) -> None:
    """Grafana's red as hex, a pure red and a red shade alert as red does."""
    result = _build(project, HEX_STEPS)
    _, alerts = _rules(result)
    record = 'job:link_status:max{job="payments"}'
    assert {rule["alert"]: rule["expr"] for rule in alerts["rules"]} == {
        "PaymentsQueueDepthHighCritical": (
            f"{record} >= 50 and {record} != 60 and {record} != 70"
        ),
        "PaymentsQueueDepthIs0Critical": f"{record} == 0",
        "PaymentsQueueDepthIs60Critical": f"{record} == 60",
    }

    tests = yaml.safe_load(result.files["prometheus/tests/payments.test.yml"])["tests"]
    names = [test["name"] for test in tests]
    for name in (
        "PaymentsQueueDepthHighCritical: 50 (#f2495c) fires",
        "PaymentsQueueDepthHighCritical: 60 (#ff0000) stays silent",
        "PaymentsQueueDepthHighCritical: 70 (#5794f2) stays silent",
        "PaymentsQueueDepthIs0Critical: 0 (dark-red) fires",
        "PaymentsQueueDepthIs60Critical: 60 (#ff0000) fires",
    ):
        assert name in names
    assert [d for d in result.diagnostics if d.check == "rules/untested"] == []
    assert [d for d in result.diagnostics if d.check == "thresholds/colour"] == []

    dashboard = json.loads(result.files["grafana/dashboards/payments-overview.json"])
    defaults = dashboard["panels"][1]["fieldConfig"]["defaults"]
    assert [step["color"] for step in defaults["thresholds"]["steps"]] == [
        "green",
        "#f2495c",
    ]
    mapped = defaults["mappings"][0]["options"]
    assert [mapped[key]["color"] for key in ("0", "60", "70")] == [
        "dark-red",
        "#ff0000",
        "#5794f2",
    ]

    _promtool_all(project, result)


def test_inclusive_upper_bound_is_one_alert(project: Path) -> None:
    """`<=0.3 Red` is one band to its bound, inclusive, which promtool proves."""
    result = _build(
        project,
        """\
        - title: Hit ratio
          type: stat
          query: 'min(link_status{job="payments"})'
          thresholds: "<=0.3 Red, >0.3 Green"
        """,
    )
    (alert,) = _rules(result)[1]["rules"]
    assert alert["expr"] == 'job:link_status:min{job="payments"} <= 0.3'
    assert "(at or below 0.3)" in alert["annotations"]["description"]
    tests = yaml.safe_load(result.files["prometheus/tests/payments.test.yml"])["tests"]
    names = [test["name"] for test in tests]
    for name in (
        "PaymentsHitRatioCritical: 0.2 (red) fires",
        "PaymentsHitRatioCritical: 0.3 (red) fires",
        "PaymentsHitRatioCritical: 0.4 (green) stays silent",
    ):
        assert name in names
    _promtool_all(project, result)


def test_named_mapping_at_bound_alerts_apart(project: Path) -> None:
    """A mapping with a text is a state of its own, even where a red band ends."""
    result = _build(
        project,
        """\
        - title: Depth
          type: stat
          query: 'max(link_status{job="payments"})'
          thresholds:
            steps: [red, {value: 50, color: green}]
            mappings:
              - {value: 50, text: Limit, color: red}
        """,
    )
    record = 'job:link_status:max{job="payments"}'
    assert {rule["alert"]: rule["expr"] for rule in _rules(result)[1]["rules"]} == {
        "PaymentsDepthLowCritical": f"{record} < 50",
        "PaymentsDepthIs50Critical": f"{record} == 50",
    }


def test_mapping_text_alerts_on_mapped_values(project: Path) -> None:
    """Steps that a text of mappings implies colour the values between them only."""
    result = _build(
        project,
        """\
        - title: Link up
          type: stat
          query: 'max(link_status{job="payments"})'
          thresholds: "1=Green, 0=Red"
        """,
    )
    (alert,) = _rules(result)[1]["rules"]
    assert alert["expr"] == 'job:link_status:max{job="payments"} == 0'


def test_label_replace_query_is_tested(project: Path) -> None:
    """Synthesis feeds the source label of a `label_replace` that a query groups by."""
    text = BACKLOG.split("rows:\n")[0] + textwrap.dedent(
        """\
        rows:
          - title: Backlog
            panels:
              - title: Backlog by lane
                type: stat
                query: 'label_replace(sum by (queue) (queue_backlog{job="payments"}), "lane", "$1", "queue", "(.*)")'
                thresholds: "<10 Green, >10 Red"
        """
    )
    write_manifest(project, "payments.yaml", text)
    result = build(Project.at(project))
    assert [d for d in result.diagnostics if d.check == "rules/untested"] == []
    tests = yaml.safe_load(result.files["prometheus/tests/payments.test.yml"])["tests"]
    (group,) = [t for t in tests if t["name"].endswith(": 10 (red) fires")]
    assert [s["series"] for s in group["input_series"]] == [
        'queue_backlog{instance="payments:8080",job="payments",queue="queue-1"}'
    ]
    labels = group["alert_rule_test"][-1]["exp_alerts"][0]["exp_labels"]
    assert (labels["lane"], labels["queue"]) == ("queue-1", "queue-1")
    _promtool_all(project, result)


def test_taken_alert_name_warns(project: Path) -> None:
    result = _build(
        project,
        """\
        - title: Up
          query: 'max(link_status{job="payments"})'
          thresholds: "<5 Green, >5 Red"
          alert: {name: Same}
        - title: Down
          query: 'min(link_status{job="payments"})'
          thresholds: "<5 Green, >5 Red"
          alert: {name: Same}
        """,
    )
    names = [rule["alert"] for rule in _rules(result)[1]["rules"]]
    assert names == ["SameCritical", "Same2Critical"]
    warnings = [d.message for d in result.diagnostics if d.check == "alerts/name"]
    assert warnings == [
        'alert name "Same" is taken by another alert of this service, so this one is '
        'named "Same2Critical"; give it a name of its own'
    ]


def _records(project: Path, first: str, second: str) -> dict[str, str]:
    panels = "".join(
        f"- title: State {state}\n"
        f'  query: \'max(link_status{{job="payments",state="{state}"}})\'\n'
        '  thresholds: "<5 Green, >5 Red"\n'
        for state in (first, second)
    )
    result = _build(project, panels)
    return {rule["record"]: rule["expr"] for rule in _rules(result)[0]["rules"]}


def test_record_name_leaves_out_ignored_label(project: Path) -> None:
    """One-to-one `ignoring (state)` takes `state` from the series and the name."""
    result = _build(
        project,
        """\
        - title: Down per up
          query: 'link_status{job="payments",state="down"} / ignoring (state) link_status{job="payments",state="up"}'
          thresholds: "<1 Green, >1 Red"
        """,
    )
    (rule,) = _rules(result)[0]["rules"]
    assert rule["record"].split(":")[0] == "job_instance"
    _promtool_all(project, result)


@pytest.mark.parametrize(
    "matcher",
    [
        # A raw string: the regex is 5\d\d as written.
        "code=~`5\\d\\d`",
        # A double-quoted string, in which \\ is one backslash.
        'code=~"5\\\\d\\\\d"',
    ],
)
def test_backslash_in_regex_builds(project: Path, matcher: str) -> None:
    """A regex with a backslash is read, recorded and tested as Prometheus reads it."""
    result = _build(
        project,
        f"""\
        - title: Server errors
          query: 'sum(rate(http_requests_total{{job="payments",{matcher}}}[5m]))'
          thresholds: "<1 Green, >1 Red"
        """,
    )
    (rule,) = _rules(result)[0]["rules"]
    assert rule["expr"] == (
        'sum by (job) (rate(http_requests_total{job="payments",code=~"5\\\\d\\\\d"}[5m]))'
    )
    assert [d for d in result.diagnostics if d.check == "rules/untested"] == []
    _promtool_all(project, result)


@pytest.mark.parametrize(
    "query",
    [
        'sum(rate(http_requests_total{job="payments"}[5m] @ 1700000000)) * 60',
        'time() - max(link_status{job="payments"} @ end())',
    ],
)
def test_at_modifier_in_recordable_part(project: Path, query: str) -> None:
    """A query whose recordable part has an @ modifier builds, with no rule from it."""
    result = _build(
        project,
        f"""\
        - title: Fixed time
          query: '{query}'
          thresholds: "<1 Green, >1 Red"
        """,
    )
    assert "prometheus/rules/payments.rules.yml" not in result.files
    (warned,) = [d for d in result.diagnostics if d.check == "alerts/query"]
    assert "the @ modifier" in warned.message


def test_duration_format_unit_in_alert_text(project: Path) -> None:
    """Grafana's duration format of seconds reads as seconds in the alert's text."""
    result = _build(
        project,
        """\
        - title: Since last success
          query: 'time() - max(link_status{job="payments"})'
          unit: dtdurations
          thresholds: "<1h Green, >=1h Red"
        """,
    )
    (alert,) = _rules(result)[1]["rules"]
    annotations = alert["annotations"]
    assert "{{ $value | humanizeDuration }}" in annotations["summary"]
    assert "(at or above 1h)" in annotations["description"]
    _promtool_all(project, result)


def test_clashing_record_names_ignore_panel_order(tmp_path: Path) -> None:
    forward = _records(tmp_path / "forward", "pr-od", "pr_od")
    backward = _records(tmp_path / "backward", "pr_od", "pr-od")
    assert forward == backward
    assert len(forward) == 2


# Spellings of one expression -----------------------------------------------------------

LATENCY = 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{job="payments"}[5m])))'
ERRORS = 'sum(rate(http_requests_total{job="payments",code="500"}[5m]))'


@pytest.mark.parametrize(
    ("query", "spelling"),
    [
        (LATENCY, f"({LATENCY})"),
        (LATENCY, f"(({LATENCY}))"),
        (
            LATENCY,
            'histogram_quantile(0.95, (sum by (le) (rate(http_request_duration_seconds_bucket{job="payments"}[5m]))))',
        ),
        (
            LATENCY,
            'histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket{job="payments"}[5m])) by (le))',
        ),
        (
            LATENCY,
            'histogram_quantile( 0.95,sum  by(le)(rate( http_request_duration_seconds_bucket{ job = "payments" } [5m] )))',
        ),
        (ERRORS, 'sum(rate(http_requests_total{code="500",job="payments"}[5m]))'),
        (ERRORS, 'sum((rate((http_requests_total{job="payments",code="500"}[5m]))))'),
        (
            ERRORS,
            'sum(rate({code="500",__name__="http_requests_total",job="payments"}[5m]))',
        ),
        (f"{ERRORS} * 100", f"({ERRORS}) * 100"),
        (
            'sum by (code, instance) (rate(http_requests_total{job="payments"}[5m]))',
            'sum by (instance, code) (rate(http_requests_total{job="payments"}[5m]))',
        ),
        (
            'sum without (instance, code) (rate(http_requests_total{job="payments"}[5m]))',
            'sum without (code, instance) (rate(http_requests_total{job="payments"}[5m]))',
        ),
        (
            f"sum by (instance, code) ({ERRORS[4:-1]}) / on (instance, code) "
            f"sum by (instance, code) ({ERRORS[4:-1]})",
            f"sum by (code, instance) ({ERRORS[4:-1]}) / on (code, instance) "
            f"sum by (instance, code) ({ERRORS[4:-1]})",
        ),
    ],
)
def test_spellings_share_recording_rule(
    project: Path, query: str, spelling: str
) -> None:
    result = _build(
        project,
        f"""\
        - title: Alerting
          query: '{query}'
          thresholds: "<1 Green, >1 Red"
        - title: Other spelling
          query: '{spelling}'
          record: true
        """,
    )
    recording, alerts = _rules(result)
    records = [rule["record"] for rule in recording["rules"]]
    assert len(records) == 1
    assert "_2:" not in records[0]
    assert alerts["rules"][0]["expr"].startswith(records[0] + "{")
    unread = [d for d in result.diagnostics if "is not read by" in d.message]
    assert unread == []


RATIO_PARTS = (
    'sum by (instance) (rate(http_requests_total{job="payments",code="500"}[5m]))',
    'sum by (instance) (rate(http_requests_total{job="payments"}[5m]))',
)


@pytest.mark.parametrize("matching", ["on (instance)", "ignoring (job)"])
def test_matched_ratio_record_keeps_job(project: Path, matching: str) -> None:
    """The recorded ratio keeps the job that its name and its alert's selector read."""
    numerator, denominator = RATIO_PARTS
    result = _build(
        project,
        f"""\
        - title: Error ratio
          query: '{numerator} / {matching} {denominator}'
          thresholds: "<0.1 Green, >0.1 Red"
        """,
    )
    recording, alerts = _rules(result)
    (record,) = [rule["record"] for rule in recording["rules"]]
    assert record.startswith("job_instance:")
    (alert,) = alerts["rules"]

    # A promtool test of the rule file as built: the recorded series keeps its job,
    # and the alert that selects that job fires.
    out = write_files(project / "out", result.files)
    check = {
        "rule_files": [str(out / "prometheus/rules/payments.rules.yml")],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'http_requests_total{job="payments",'
                        'instance="a",code="500"}',
                        "values": "0+60x15",
                    },
                    {
                        "series": 'http_requests_total{job="payments",'
                        'instance="a",code="200"}',
                        "values": "0+60x15",
                    },
                ],
                "promql_expr_test": [
                    {
                        "expr": record,
                        "eval_time": "10m",
                        "exp_samples": [
                            {
                                "labels": f'{record}{{job="payments",instance="a"}}',
                                "value": 0.5,
                            }
                        ],
                    }
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "10m",
                        "alertname": alert["alert"],
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    **alert["labels"],
                                    "job": "payments",
                                    "instance": "a",
                                },
                                "exp_annotations": {
                                    **alert["annotations"],
                                    "summary": "payments: Error ratio is 50% "
                                    "for instance a",
                                    "description": "The value 50% is in the red "
                                    'band (at or above 10%) of panel "Error ratio" '
                                    'on dashboard "payments".',
                                },
                            }
                        ],
                    }
                ],
            }
        ],
    }

    test_file = project / "ratio.test.yml"
    test_file.write_text(yaml.safe_dump(check))
    assert_promtool("test", "rules", str(test_file))


# The printed form and the value that Prometheus gives it.
PRECEDENCE = [
    ("vector(2) - (vector(3) - vector(4))", "vector(2) - (vector(3) - vector(4))", 3),
    ("(vector(2) - vector(3)) - vector(4)", "vector(2) - vector(3) - vector(4)", -5),
    ("vector(2) + (vector(3) * vector(4))", "vector(2) + vector(3) * vector(4)", 14),
    ("(vector(2) + vector(3)) * vector(4)", "(vector(2) + vector(3)) * vector(4)", 20),
    ("vector(2) ^ (vector(3) ^ vector(2))", "vector(2) ^ vector(3) ^ vector(2)", 512),
    ("(vector(2) ^ vector(3)) ^ vector(2)", "(vector(2) ^ vector(3)) ^ vector(2)", 64),
    ("(-vector(2)) ^ 2", "(-vector(2)) ^ 2", 4),
    ("-(vector(2) ^ 2)", "-(vector(2) ^ 2)", -4),
    ("-(vector(2) + vector(3))", "-(vector(2) + vector(3))", -5),
    ("vector(2) * (-vector(3))", "vector(2) * -vector(3)", -6),
    ("(((vector(2))))", "vector(2)", 2),
    (
        "vector(2) > bool (vector(1) + vector(3))",
        "vector(2) > bool vector(1) + vector(3)",
        0,
    ),
    (
        "max_over_time((vector(2) + vector(1))[5m:1m])",
        "max_over_time((vector(2) + vector(1))[5m:1m])",
        3,
    ),
    ("max_over_time((vector(2))[5m:1m])", "max_over_time(vector(2)[5m:1m])", 2),
    # A chain of negations prints without brackets, unless it ends in a number,
    # which Prometheus would fold the signs into.
    ("-(-(-vector(2)))", "- - -vector(2)", -2),
    ("- - - vector(2)", "- - -vector(2)", -2),
    ("vector(1) - -(-vector(2))", "vector(1) - - -vector(2)", -1),
    ("-(-vector(2)) * vector(3)", "- -vector(2) * vector(3)", 6),
    ("(-(-vector(2))) ^ 3", "(- -vector(2)) ^ 3", 8),
    ("- -(vector(2) + vector(1))", "- -(vector(2) + vector(1))", 3),
    ("-(-(2)) + vector(1)", "- -(2) + vector(1)", 3),
    ("-(-(-2)) + vector(1)", "- -(-2) + vector(1)", -1),
]


@pytest.mark.parametrize(("query", "printed", "value"), PRECEDENCE)
def test_printer_drops_redundant_parentheses(
    query: str, printed: str, value: float
) -> None:
    from obscompile import promql
    from obscompile.derive.expressions import render

    assert render(promql.parse(query)) == printed
    assert render(promql.parse(printed)) == printed


def test_printed_precedence_matches_promtool(tmp_path: Path) -> None:
    """promtool reads each query and its printed form, and gives both one value."""
    rules = tmp_path / "rules.yml"
    records = [
        {"record": f"form:{number}:{form}", "expr": expr}
        for number, entry in enumerate(PRECEDENCE)
        for form, expr in enumerate(entry[:2])
    ]
    rules.write_text(
        yaml.safe_dump({"groups": [{"name": "forms", "rules": records}]}),
        encoding="utf-8",
    )
    assert_promtool("check", "rules", str(rules))
    checks = [
        {
            "expr": expr,
            "eval_time": "0m",
            "exp_samples": [{"labels": "{}", "value": value}],
        }
        for query, printed, value in PRECEDENCE
        for expr in (query, printed)
    ]
    suite = {
        "rule_files": [str(rules)],
        "tests": [{"interval": "1m", "input_series": [], "promql_expr_test": checks}],
    }
    path = tmp_path / "precedence.test.yml"
    path.write_text(yaml.safe_dump(suite), encoding="utf-8")
    assert_promtool("test", "rules", str(path))


# Where untested rules are reported -------------------------------------------------------


def test_untested_rules_point_at_own_panel(project: Path) -> None:
    """Panels with one query share a recording rule, but each alert is its own."""
    from obscompile.derive.testfile import Untested
    from obscompile.render.prometheus import _rule_diagnostics, service_outputs

    panels = "".join(
        f"- title: {title}\n"
        "  query: 'sum(rate(http_requests_total{job=\"payments\"}[5m]))'\n"
        '  thresholds: "<5 Green, >5 Red"\n'
        f"  alert: {{name: {title}}}\n"
        for title in ("One", "Two", "Three")
    )
    _build(project, panels)
    service = _service(project)
    rules, suite = service_outputs(service, Config())
    (record,) = [rule.record for rule in rules.recording]
    alerts = [alert.name for alert in rules.alerts]
    assert alerts == ["OneCritical", "TwoCritical", "ThreeCritical"]
    untested = tuple(Untested(name, "a reason") for name in [record, *alerts])
    found = {
        d.message.split('"')[1]: d.location
        for d in _rule_diagnostics(
            service, rules, attrs.evolve(suite, untested=untested)
        )
        if d.check == "rules/untested"
    }
    one, two, three = (p.location_of("query") for p in service.panels)
    assert len({one, two, three}) == 3
    assert found[record] == one
    assert found["OneCritical"] == one
    assert found["TwoCritical"] == two
    assert found["ThreeCritical"] == three


def test_untested_rule_message_reads_plainly(project: Path) -> None:
    """The reason shows the number as written and requests a hand-written test."""
    panel = """\
- title: Errors
  query: 'sum(rate(http_requests_total{job="payments",code=~"5.."}[5m])) / sum(rate(http_requests_total{job="payments"}[5m])) * 100'
  thresholds: "<14 Green, >=14 Red"
"""
    result = _build(project, panel)
    (untested,) = [d for d in result.diagnostics if d.check == "rules/untested"]
    assert "never gives exactly 14%, " in untested.message
    assert "14.0" not in untested.message
    assert "Write a promtool test in tests/promtool/" in untested.message


# Selectors that name their metric with __name__ ------------------------------------------

NAMED_BY_MATCHER = """\
- title: Requests
  type: stat
  query: 'sum(rate({__name__="http_requests_total",job="payments"}[5m]))'
  thresholds: "<10 Green, 10-20 Yellow, >=20 Red"
  alert: {warning: true}
"""


def test_name_matcher_query_gets_tests(project: Path) -> None:
    """`{__name__="x"}` gets the same input series and tests as the plain name `x`."""
    result = _build(project, NAMED_BY_MATCHER)
    untested = [d.message for d in result.diagnostics if d.check == "rules/untested"]
    assert untested == []
    tests = yaml.safe_load(result.files["prometheus/tests/payments.test.yml"])["tests"]
    series = {s["series"] for test in tests for s in test["input_series"]}
    assert series == {'http_requests_total{instance="payments:8080",job="payments"}'}
    tested = {check["alertname"] for t in tests for check in t["alert_rule_test"]}
    assert tested == {"PaymentsRequestsCritical", "PaymentsRequestsWarning"}
    _promtool_all(project, result)


def test_name_matcher_query_gets_recording_rule(project: Path) -> None:
    result = _build(project, NAMED_BY_MATCHER)
    assert "rules/recording-name" not in {d.check for d in result.diagnostics}
    recording, _ = _rules(result)
    (rule,) = recording["rules"]
    assert rule["record"] == "job:http_requests:rate5m"
    assert 'rate({__name__="http_requests_total",job="payments"}[5m])' in rule["expr"]


def test_name_regex_untested_reason(project: Path) -> None:
    """A metric name matched by a regex leaves the rules untested with that reason."""
    panel = NAMED_BY_MATCHER.replace('__name__="', '__name__=~"')
    result = _build(project, panel)
    (untested,) = [d for d in result.diagnostics if d.check == "rules/untested"]
    assert (
        '`{__name__=~"http_requests_total",job="payments"}` matches __name__ with =~'
        in untested.message
    )
    assert "gives exactly" not in untested.message


# Offsets and @ -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "record"),
    [
        (
            'sum(rate(http_requests_total{job="payments"}[5m] offset 1y))',
            "job:http_requests:rate5m_offset1y",
        ),
        (
            'rate(http_requests_total{job="payments"}[5m] offset 90s)',
            "job_instance_code:http_requests:rate5m_offset90s",
        ),
        (
            'max(link_status{job="payments"} offset 1h)',
            "job:link_status:max_offset1h",
        ),
        (
            'sum(link_status{job="payments"} offset 2w)',
            "job:link_status:sum_offset2w",
        ),
        (
            'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{job="payments"}[5m] offset 1d)))',
            "job:http_request_duration_seconds:p95_rate5m_offset1d",
        ),
        (
            'sum(rate(http_requests_total{job="payments",code="500"}[5m] offset 1h)) / sum(rate(http_requests_total{job="payments"}[5m] offset 1h))',
            "job:http_requests_500_per_http_requests:ratio_rate5m_offset1h",
        ),
    ],
)
def test_offset_in_record_name(project: Path, query: str, record: str) -> None:
    plain = query.replace(f" offset {record.rsplit('offset', 1)[1]}", "")
    result = _build(
        project,
        f"""\
        - title: Now
          query: '{plain}'
          record: true
        - title: Earlier
          query: '{query}'
          thresholds: "<0.5 Green, >0.5 Red"
        """,
    )
    recording, alerts = _rules(result)
    records = [rule["record"] for rule in recording["rules"]]
    assert record in records
    assert len(records) == 2
    assert all("_2:" not in name for name in records)
    assert alerts["rules"][0]["expr"].startswith(record + "{")


def test_different_offsets_per_side_unrecorded(project: Path) -> None:
    """A name has one place for an offset, so a ratio of two times gets no rule."""
    query = (
        'sum(rate(http_requests_total{job="payments"}[5m])) / '
        'sum(rate(http_requests_total{job="payments"}[5m] offset 1w))'
    )
    result = _build(
        project,
        f"""\
        - title: Week over week
          query: '{query}'
          thresholds: "<5 Green, >5 Red"
        """,
    )
    recording, alerts = _rules(result)
    assert recording["rules"] == []
    assert "offset 1w" in alerts["rules"][0]["expr"]
    (warned,) = [d for d in result.diagnostics if d.check == "rules/recording-name"]
    assert "different offsets" in warned.message
    # A ratio of one counter at two times is no part of a whole.
    untested = [d.message for d in result.diagnostics if d.check == "rules/untested"]
    assert untested
    assert all("read their series at different times" in m for m in untested)


def test_unnamed_query_kind_in_words(project: Path) -> None:
    query = (
        'sum(rate(http_requests_total{job="payments"}[5m] offset 1h)) - '
        'sum(rate(http_requests_total{job="payments"}[5m] offset 2h))'
    )
    result = _build(
        project,
        f"""\
        - title: Hour over hour
          query: '{query}'
          thresholds: "<5 Green, >5 Red"
        """,
    )
    (warned,) = [d for d in result.diagnostics if d.check == "rules/recording-name"]
    assert "a subtraction is not part of the naming rule" in warned.message


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (
            'sum(rate(http_requests_total{job="payments"}[5m])) * vector(1)',
            "the vector() in it leaves the recorded series without a job label",
        ),
        # The default of `or` gives the job's own sample no other labels.
        (
            'sum(rate(http_requests_total{job="payments"}[5m])) or vector(0)',
            "an or is not part of the naming rule",
        ),
        (
            'time() - max(link_status{job="payments"}) - 60',
            "a subtraction is not part of the naming rule",
        ),
    ],
)
def test_unnamed_query_without_job_label(
    project: Path, query: str, reason: str
) -> None:
    result = _build(
        project,
        f"""\
        - title: Since last success
          query: '{query}'
          unit: s
          thresholds: "<1h Green, >=1h Red"
        """,
    )
    (warned,) = [d for d in result.diagnostics if d.check == "rules/recording-name"]
    assert reason in warned.message
    assert "filter on one job" not in warned.message


@pytest.mark.parametrize(
    ("query", "record"),
    [
        (
            'time() - max(link_status{job="payments"})',
            "job:link_status:max",
        ),
        (
            'time() - max by (job) (link_status{job="payments"})',
            "job:link_status:max",
        ),
        (
            '(time() - max by (state) (link_status{job="payments"}))',
            "job_state:link_status:max",
        ),
    ],
)
def test_age_records_its_timestamp(project: Path, query: str, record: str) -> None:
    """`time() - x` records x, and the alert subtracts the recording from time()."""
    result = _build(
        project,
        f"""\
        - title: Since last success
          query: '{query}'
          unit: s
          thresholds: "<1h Green, >=1h Red"
        """,
    )
    assert [d for d in result.diagnostics if d.check.startswith("rules/")] == []
    recording, alerts = _rules(result)
    assert [rule["record"] for rule in recording["rules"]] == [record]
    (alert,) = alerts["rules"]
    assert alert["expr"] == f'time() - {record}{{job="payments"}} >= 3600'
    _promtool_all(project, result)


def test_success_share_records_error_share(project: Path) -> None:
    """`(1 - errors / requests) * 100` records the error share for the alert."""
    errors = 'sum(rate(http_requests_total{job="payments",code=~"5.."}[5m]))'
    requests = 'sum(rate(http_requests_total{job="payments"}[5m]))'
    result = _build(
        project,
        f"""\
        - title: Success
          query: '(1 - {errors} / {requests}) * 100'
          unit: percent
          thresholds: ">95% Green, <95% Red"
        """,
    )
    assert [d for d in result.diagnostics if d.check.startswith("rules/")] == []
    recording, alerts = _rules(result)
    record = "job:http_requests_5xx_per_http_requests:ratio_rate5m"
    assert [rule["record"] for rule in recording["rules"]] == [record]
    (alert,) = alerts["rules"]
    assert alert["expr"] == f'(1 - {record}{{job="payments"}}) * 100 < 95'
    _promtool_all(project, result)


@pytest.mark.parametrize(
    ("query", "marker", "reason"),
    [
        (
            'sum(rate(http_requests_total{job="payments"}[5m] offset -5m))',
            "offset -5m",
            "offset -5m reads samples from 5m after the rule's evaluation time",
        ),
        (
            'max(link_status{job="payments"} offset -30s)',
            "offset -30s",
            "offset -30s reads samples from 30s after the rule's evaluation time",
        ),
        (
            'max_over_time(max(link_status{job="payments"})[10m:1m] OFFSET -1m)',
            "OFFSET -1m",
            "offset -1m reads samples from 1m after",
        ),
        (
            'sum(rate(http_requests_total{job="payments"}[5m] @ 100))',
            "@ 100",
            "the @ modifier evaluates the query at a fixed time",
        ),
        (
            'sum(rate(http_requests_total{job="payments",code="$code"}[5m]))',
            "$code",
            "$code is a variable that Grafana sets when the dashboard is viewed",
        ),
        (
            'sum(increase(http_requests_total{job="payments"}[$__range]))',
            "$__range",
            "$__range is the time range of the dashboard, which a rule does not have",
        ),
        (
            'sum(increase(http_requests_total{job="payments"}[${__rate_interval}]))',
            "${__rate_interval}",
            "the window ${__rate_interval} is one that Grafana picks from the "
            "dashboard's zoom, and the function counts over it",
        ),
        (
            'sum(rate(http_requests_total{job="payments"}[5m] offset $__interval))',
            "$__interval",
            "the offset $__interval is one that Grafana picks from the dashboard's "
            "zoom",
        ),
        (
            'scalar(sum(rate(http_requests_total{job="payments"}[5m])))',
            "scalar",
            "the query returns a scalar, and the rules of a panel read series; write "
            "vector(...) around it",
        ),
    ],
)
def test_query_no_rule_can_evaluate_gets_no_rule(
    project: Path, query: str, marker: str, reason: str
) -> None:
    result = _build(
        project,
        f"""\
        - title: Shifted
          query: '{query}'
          thresholds: "<5 Green, >5 Red"
        """,
    )
    assert "prometheus/rules/payments.rules.yml" not in result.files
    (warned,) = [d for d in result.diagnostics if d.check == "alerts/query"]
    assert reason in warned.message
    assert warned.message.startswith('panel "Shifted": no alert or recording rule: ')
    line = _manifest("").count("\n") + 2
    column = len("        query: '") + query.index(marker) + 1
    assert (warned.location.line, warned.location.column) == (line, column)
    others = [d for d in result.diagnostics if d.check == "rules/recording-name"]
    assert others == []


def test_rate_interval_reads_as_rule_window(project: Path) -> None:
    """A thresholded panel over $__rate_interval gets rules and tests over 5m."""
    result = _build(
        project,
        """\
        - title: Errors
          query: 'sum(rate(http_requests_total{job="payments",code=~"5.."}[$__rate_interval]))'
          thresholds: "<1 Green, >1 Red"
        - title: Latency
          query: 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{job="payments"}[$__rate_interval])))'
          thresholds: "<500ms Green, 500ms-1s Yellow, >1s Red"
        """,
    )
    expressions = [rule["expr"] for group in _rules(result) for rule in group["rules"]]
    assert expressions[:2] == [
        'sum by (job) (rate(http_requests_total{job="payments",code=~"5.."}[5m]))',
        "histogram_quantile(0.95, sum by (job, le) "
        '(rate(http_request_duration_seconds_bucket{job="payments"}[5m])))',
    ]
    assert not [d for d in result.diagnostics if d.check == "rules/untested"]
    _promtool_all(project, result)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(minutes=5), "5m"),
        (timedelta(hours=24), "1d"),
        (timedelta(days=7), "1w"),
        (timedelta(days=8), "8d"),
        (timedelta(days=365), "1y"),
        (timedelta(seconds=90), "90s"),
        (timedelta(milliseconds=1500), "1500ms"),
        (timedelta(minutes=-5), "-5m"),
        (timedelta(), "0s"),
    ],
)
def test_duration_text_units(value: timedelta, text: str) -> None:
    from obscompile.promql import duration_text

    assert duration_text(value) == text
