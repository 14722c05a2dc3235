"""Alerts whose `for:` is zero or not a multiple of the evaluation interval."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from obscompile.cli import main
from obscompile.derive.alerts import late_firing
from obscompile.derive.local import LocalOverrides
from obscompile.diagnostics import warning
from obscompile.load.durations import duration_ms, too_long
from obscompile.model.location import Location
from obscompile.pipeline import Project, build
from obscompile.render.prometheus import HandWritten
from obscompile.write.atomic import write_tree
from tests.conftest import write_manifest
from tests.test_prometheus import run_promtool

MANIFEST = """service: payments
scrape: {job: payments, port: 8080, interval: 15s}
metrics:
  queue_depth: {type: gauge, labels: [queue]}
rows:
  - title: Queues
    panels:
      - title: Queue Depth
        query: 'sum by (queue) (queue_depth{job="payments"})'
        thresholds: "<100 Green, 100-500 Yellow, >500 Red"
        alert: {for: FOR}
"""


@pytest.mark.parametrize("for_", ["90s", "0s", "45s", "2m30s"])
def test_generated_tests_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, for_: str
) -> None:
    monkeypatch.chdir(tmp_path)
    write_manifest(tmp_path, "payments.yaml", MANIFEST.replace("FOR", for_))
    result = build(Project.at(tmp_path))
    assert result.ok, [str(d) for d in result.diagnostics]
    write_tree(tmp_path / "out", result.files)
    rules = (tmp_path / "out/prometheus/rules/payments.rules.yml").read_text()
    assert f"for: {for_}" in rules
    outcome = run_promtool(
        "test", "rules", str(tmp_path / "out/prometheus/tests/payments.test.yml")
    )
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr


def test_build_warns_about_untested_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A query shape the test generator cannot synthesize is named with the reason."""
    monkeypatch.chdir(tmp_path)
    write_manifest(
        tmp_path,
        "a.yaml",
        "service: a\nscrape: {job: a, port: 80}\nmetrics: {x: {type: gauge, labels: [k]}}\n"
        "rows:\n  - title: R\n    panels:\n"
        '      - {title: Top, query: \'topk(3, x{job="a"})\', thresholds: "<5 Green, >5 Red"}\n',
    )
    result = build(Project.at(tmp_path))
    assert result.ok
    untested = [str(d) for d in result.diagnostics if d.check == "rules/untested"]
    assert untested == [
        'services/a.yaml:7:29: warning: no promtool test generated for rule "ATopCritical": '
        "the test generator cannot build input series that give "
        '`topk(3, x{job="a"})` a chosen value, because it covers only the query '
        "shapes that docs/recording-rules.md lists under Generated tests. Write a "
        "promtool test in tests/promtool/, which `obscompile test` runs "
        "[rules/untested]"
    ]


# A latency quantile whose buckets the catalog does not list, with one alert per
# series and the recording rule that the alerts read.
NO_BUCKETS = """\
service: a
scrape: {job: a, port: 80}
metrics: {wait_seconds: {type: histogram, labels: [queue]}}
rows:
  - title: R
    panels:
      - title: Wait
        query: 'histogram_quantile(0.95, sum by (le, queue) (rate(wait_seconds_bucket{job="a"}[5m])))'
        legend: '{{queue}}'
        thresholds: "orders <2s, emails <5s"
"""
NO_BUCKETS_REASON = (
    'the catalog of service "a" declares no buckets for wait_seconds_bucket, and '
    "the test generator reads the buckets of the service's own catalog only; list "
    "them as buckets: [...] under the metric wait_seconds. Write a promtool test in "
    "tests/promtool/, which `obscompile test` runs"
)


def test_shared_reason_warns_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The alerts of a panel and their recording rule share one warning."""
    monkeypatch.chdir(tmp_path)
    write_manifest(tmp_path, "a.yaml", NO_BUCKETS)
    result = build(Project.at(tmp_path))
    assert result.ok, [str(d) for d in result.diagnostics]
    untested = [str(d) for d in result.diagnostics if d.check == "rules/untested"]
    assert untested == [
        "services/a.yaml:8:16: warning: no promtool test generated for rules "
        '"AWaitOrdersCritical", "AWaitEmailsCritical" and '
        f'"job_queue:wait_seconds:p95_rate5m": {NO_BUCKETS_REASON} [rules/untested]'
    ]


def test_hand_test_splits_shared_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_manifest(tmp_path, "a.yaml", NO_BUCKETS)
    hand_written = tmp_path / "tests" / "promtool"
    hand_written.mkdir(parents=True)
    (hand_written / "wait.test.yml").write_text(
        HAND_WRITTEN_TEST.replace("ATopCritical", "AWaitOrdersCritical")
    )
    result = build(Project.at(tmp_path))
    untested = [d.message for d in result.diagnostics if d.check == "rules/untested"]
    assert untested == [
        'no promtool test generated for rules "AWaitEmailsCritical" and '
        f'"job_queue:wait_seconds:p95_rate5m": {NO_BUCKETS_REASON}'
    ]


TOP = (
    "service: a\nscrape: {job: a, port: 80}\nmetrics: {x: {type: gauge, labels: [k]}}\n"
    "rows:\n  - title: R\n    panels:\n"
    '      - {title: Top, query: \'topk(3, x{job="a"})\', thresholds: "<5 Green, >5 Red"}\n'
)
HAND_WRITTEN_TEST = """\
rule_files: [../../out/prometheus/rules/a.rules.yml]
tests:
  - interval: 1m
    input_series: [{series: 'x{job="a", k="1"}', values: '1x10'}]
    alert_rule_test: [{eval_time: 5m, alertname: ATopCritical, exp_alerts: []}]
"""


def test_hand_written_test_covers_untested_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rule that a test in tests/promtool/ names is no longer reported untested."""
    monkeypatch.chdir(tmp_path)
    write_manifest(tmp_path, "a.yaml", TOP)
    hand_written = tmp_path / "tests" / "promtool"
    hand_written.mkdir(parents=True)

    def untested(*options: str) -> list[str]:
        result = CliRunner().invoke(main, ["build", *options])
        assert result.exit_code == 0, result.stderr
        return re.findall(r'rule "(\w+)"', result.stderr)

    assert untested() == ["ATopCritical"]
    (hand_written / "top.test.yml").write_text(HAND_WRITTEN_TEST)
    assert untested() == []
    assert untested("--no-cache") == []
    # A test that names another alert, or only reads the metric, leaves it untested.
    other = HAND_WRITTEN_TEST.replace("alertname: ATopCritical", "alertname: ATop")
    (hand_written / "top.test.yml").write_text(other)
    assert untested() == ["ATopCritical"]


MAX_OVER_TIME = (
    "service: SERVICE\nscrape: {job: SERVICE, port: 80}\nmetrics: {x: gauge}\n"
    "rows:\n  - title: R\n    panels:\n"
    "      - title: Peak\n"
    "        query: 'max(max_over_time(x{job=\"SERVICE\"}[15m]))'\n"
    '        thresholds: "<5 Green, >5 Red"\n'
)


def test_hand_written_record_test_covers_one_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test of one service's record leaves the same record of another untested."""
    monkeypatch.chdir(tmp_path)
    for service in ["a", "b"]:
        write_manifest(
            tmp_path, f"{service}.yaml", MAX_OVER_TIME.replace("SERVICE", service)
        )
    hand_written = tmp_path / "tests" / "promtool"
    hand_written.mkdir(parents=True)
    (hand_written / "a.test.yml").write_text(
        "rule_files: [../../out/prometheus/rules/a.rules.yml]\n"
        "tests:\n  - interval: 1m\n"
        "    input_series: [{series: 'x{job=\"a\"}', values: '1x10'}]\n"
        "    promql_expr_test:\n"
        "      - expr: job:x:max_maxovertime15m\n"
        "        eval_time: 5m\n"
        "        exp_samples: [{labels: 'job:x:max_maxovertime15m{job=\"a\"}', value: 1}]\n"
    )
    result = CliRunner().invoke(main, ["build"])
    assert result.exit_code == 0, result.stderr
    untested = re.findall(r'rules? "([\w:]+)"(?: and "([\w:]+)")?', result.stderr)
    assert untested == [
        ("APeakCritical", ""),
        ("BPeakCritical", "job:x:max_maxovertime15m"),
    ]


def test_hand_written_expression_covers_recording_rule(tmp_path: Path) -> None:
    (tmp_path / "r.test.yaml").write_text(
        "rule_files: [../../out/prometheus/rules/a.rules.yml]\n"
        "tests:\n  - promql_expr_test:\n"
        "      - {expr: 'job:x:rate5m{job=\"a\"} > 1', eval_time: 1m, exp_samples: []}\n"
    )
    by_hand = HandWritten.read(tmp_path)
    location = Location("a.yaml", 1, 1)
    for rule, covered in [("job:x:rate5m", True), ("job:x:rate5", False)]:
        message = f'no promtool test generated for rule "{rule}": too hard'
        found = warning(location, message, "rules/untested")
        assert by_hand.tests(found, "prometheus/rules/a.rules.yml") is covered


@pytest.mark.parametrize(
    ("rule_files", "covered"),
    [
        ("[../../out/prometheus/rules/a.rules.yml]", True),
        ("[../../out/prometheus/rules/*.rules.yml]", True),
        ("[../../out/prometheus/rules/b.rules.yml]", False),
        ("[]", False),
    ],
)
def test_hand_written_test_covers_own_rule_file(
    tmp_path: Path, rule_files: str, covered: bool
) -> None:
    """Services record series of one name, so only the loaded rule file counts."""
    (tmp_path / "r.test.yaml").write_text(
        f"rule_files: {rule_files}\n"
        "tests:\n  - promql_expr_test:\n"
        "      - {expr: 'job:x:rate5m', eval_time: 1m, exp_samples: []}\n"
        "    alert_rule_test:\n"
        "      - {alertname: ACritical, eval_time: 1m, exp_alerts: []}\n"
    )
    by_hand = HandWritten.read(tmp_path)
    location = Location("a.yaml", 1, 1)
    for rule in ["job:x:rate5m", "ACritical"]:
        message = f'no promtool test generated for rule "{rule}": too hard'
        found = warning(location, message, "rules/untested")
        assert by_hand.tests(found, "prometheus/rules/a.rules.yml") is covered


def test_long_for_is_left_untested(tmp_path: Path) -> None:
    write_manifest(tmp_path, "payments.yaml", MANIFEST.replace("FOR", "30d"))
    result = build(Project.at(tmp_path))
    assert result.ok
    untested = [d.message for d in result.diagnostics if d.check == "rules/untested"]
    assert untested
    assert all("for: 30d spans 43200 rule evaluations" in m for m in untested)


def test_huge_threshold_is_left_untested(tmp_path: Path) -> None:
    """A rate bound near the largest double overflows the test values, not the build."""
    write_manifest(
        tmp_path,
        "payments.yaml",
        "service: payments\nscrape: {job: payments, port: 8080}\n"
        "metrics: {jobs_total: counter}\nrows:\n  - title: R\n    panels:\n"
        "      - title: Jobs\n"
        "        query: 'sum(rate(jobs_total{job=\"payments\"}[5m]))'\n"
        "        thresholds: {steps: [green, {value: 1e308, color: red}]}\n",
    )
    result = build(Project.at(tmp_path))
    assert result.ok, [str(d) for d in result.diagnostics]
    untested = [d.message for d in result.diagnostics if d.check == "rules/untested"]
    assert untested == [
        'no promtool test generated for rule "PaymentsJobsCritical": its '
        "thresholds are too large to compute test values for. Write a promtool "
        "test in tests/promtool/, which `obscompile test` runs"
    ]
    rules = result.files["prometheus/rules/payments.rules.yml"]
    assert ">= 1e+308" in rules


@pytest.mark.parametrize(
    "duration", ["106751d23h47m16s854ms", "106751d23h47m16s855ms", "292y", "293y"]
)
def test_duration_limit_matches_promtool(tmp_path: Path, duration: str) -> None:
    """The longest `for:` the loader accepts is the longest promtool accepts."""
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n"
        f"        for: {duration}\n",
        encoding="utf-8",
    )
    outcome = run_promtool("check", "rules", str(rules))
    assert (outcome.returncode == 0) == (not too_long(duration))
    if too_long(duration):
        assert "duration out of range" in outcome.stdout + outcome.stderr


def test_long_offset_is_left_untested(tmp_path: Path) -> None:
    """A test over a year-long offset would replay half a million evaluations."""
    text = MANIFEST.replace(
        'sum by (queue) (queue_depth{job="payments"})',
        'sum by (queue) (queue_depth{job="payments"} offset 1y)',
    )
    write_manifest(tmp_path, "payments.yaml", text.replace("FOR", "5m"))
    result = build(Project.at(tmp_path))
    assert result.ok, [str(d) for d in result.diagnostics]
    untested = [d.message for d in result.diagnostics if d.check == "rules/untested"]
    assert untested
    assert all("rule evaluations to cover the query's offset" in m for m in untested)


def _late_warnings(result) -> list[tuple[int, int, str]]:
    return [
        (d.location.line, d.location.column, d.message)
        for d in result.diagnostics
        if d.check == "alerts/for-interval"
    ]


@pytest.mark.parametrize("for_", ["90s", "45s", "2m30s"])
def test_panel_for_off_interval_warns_once(tmp_path: Path, for_: str) -> None:
    write_manifest(tmp_path, "payments.yaml", MANIFEST.replace("FOR", for_))
    result = build(Project.at(tmp_path))
    warnings = _late_warnings(result)
    # The panel's red and yellow alerts share one written `for:`.
    assert len(warnings) == 1
    line, column, message = warnings[0]
    assert (line, column) == (11, 22)
    assert message.startswith(
        f"for: {for_} is no multiple of the evaluation interval 1m"
    )


@pytest.mark.parametrize(
    ("for_", "delay"),
    [
        # Shorter than the interval: pending 0 to 1m after the value turns red,
        # then firing at the next evaluation.
        ("2s", "between 1m and 2m after its value turns red, as with for: 1m"),
        ("59s", "between 1m and 2m after its value turns red, as with for: 1m"),
        # Longer than the interval, and no multiple of it.
        ("61s", "between 2m and 3m after its value turns red, as with for: 2m"),
        ("90s", "between 2m and 3m after its value turns red, as with for: 2m"),
        ("2m30s", "between 3m and 4m after its value turns red, as with for: 3m"),
    ],
)
def test_late_alert_names_when_it_fires(tmp_path: Path, for_: str, delay: str) -> None:
    write_manifest(tmp_path, "payments.yaml", MANIFEST.replace("FOR", for_))
    ((_, _, message),) = _late_warnings(build(Project.at(tmp_path)))
    assert f"so the alert fires {delay}; write a multiple of 1m" in message


def test_for_equal_to_interval_is_silent(tmp_path: Path) -> None:
    # Fires 1m to 2m after the value turns red, as any alert with for: 1m does.
    write_manifest(tmp_path, "payments.yaml", MANIFEST.replace("FOR", "1m"))
    assert _late_warnings(build(Project.at(tmp_path))) == []


LATE_RULES = """groups:
  - name: late
    rules:
      - alert: Red
        expr: x > 0
        for: FOR
"""


@pytest.mark.parametrize("for_", ["2s", "59s", "90s", "2m30s"])
def test_late_firing_matches_promtool(tmp_path: Path, for_: str) -> None:
    """Run promtool on an alert whose value turns red at an evaluation or 1s after.

    The value turns red at 10m. Red at an evaluation, the alert fires exactly the
    earliest delay of `late_firing` later; red 1s after, it fires 1s before the
    latest delay ends, and not at the evaluation before.
    """
    late = late_firing(for_, "1m")
    assert late is not None
    earliest = duration_ms(late.rounded) // 1000
    latest = duration_ms(late.latest) // 1000
    (tmp_path / "rules.yml").write_text(LATE_RULES.replace("FOR", for_))
    tests = []
    for red_from, silent_until, fires_at in [
        (600, 600 + earliest - 60, 600 + earliest),
        (601, 600 + latest - 60, 600 + latest),
    ]:
        tests.append(
            {
                "interval": "1s",
                "input_series": [
                    {"series": "x", "values": f"0x{red_from - 1} 1x{latest + 120}"}
                ],
                "alert_rule_test": [
                    {"eval_time": f"{silent_until}s", "alertname": "Red"},
                    {
                        "eval_time": f"{fires_at}s",
                        "alertname": "Red",
                        "exp_alerts": [{"exp_labels": {}}],
                    },
                ],
            }
        )
    test_file = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": tests,
    }
    (tmp_path / "late.test.yml").write_text(json.dumps(test_file))
    result = run_promtool("test", "rules", "late.test.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("for_", ["0s", "2m", "1h"])
def test_for_multiple_of_interval_is_silent(tmp_path: Path, for_: str) -> None:
    write_manifest(tmp_path, "payments.yaml", MANIFEST.replace("FOR", for_))
    assert _late_warnings(build(Project.at(tmp_path))) == []


def test_service_for_off_interval_warns_at_it(tmp_path: Path) -> None:
    text = MANIFEST.replace("        alert: {for: FOR}\n", "").replace(
        "rows:", "alerts:\n  for: 150s\nrows:"
    )
    write_manifest(tmp_path, "payments.yaml", text)
    result = build(Project.at(tmp_path))
    assert result.ok
    assert _late_warnings(result) == [
        (
            6,
            8,
            "for: 150s is no multiple of the evaluation interval 1m, so the alert "
            "fires between 3m and 4m after its value turns red, as with for: 3m; "
            "write a multiple of 1m",
        )
    ]


def test_late_alert_follows_project_interval(tmp_path: Path) -> None:
    write_manifest(tmp_path, "payments.yaml", MANIFEST.replace("FOR", "90s"))
    (tmp_path / "obscompile.yaml").write_text("evaluation_interval: 30s\n")
    assert _late_warnings(build(Project.at(tmp_path))) == []
    (tmp_path / "obscompile.yaml").write_text("evaluation_interval: 20s\n")
    ((_, _, message),) = _late_warnings(build(Project.at(tmp_path)))
    assert (
        "evaluation interval 20s, so the alert fires between 1m40s and 2m after its "
        "value turns red, as with for: 1m40s" in message
    )


DEFAULT_FOR = MANIFEST.replace("        alert: {for: FOR}\n", "")


@pytest.mark.parametrize(
    ("config", "where", "written", "interval", "fires"),
    [
        ("alert_for: 90s\n", (1, 12), "90s", "1m", ("2m", "3m")),
        ("evaluation_interval: 2m\n", (1, 22), "5m", "2m", ("6m", "8m")),
        (
            "evaluation_interval: 2m\nalert_for: 3m\n",
            (2, 12),
            "3m",
            "2m",
            ("4m", "6m"),
        ),
    ],
)
def test_default_for_off_interval_warns_in_config(
    tmp_path: Path,
    config: str,
    where: tuple[int, int],
    written: str,
    interval: str,
    fires: tuple[str, str],
) -> None:
    write_manifest(tmp_path, "payments.yaml", DEFAULT_FOR)
    (tmp_path / "obscompile.yaml").write_text(config)
    result = build(Project.at(tmp_path))
    assert result.ok
    found = [d for d in result.diagnostics if d.check == "alerts/for-interval"]
    assert len(found) == 1
    assert Path(found[0].location.file).name == "obscompile.yaml"
    assert (found[0].location.line, found[0].location.column) == where
    assert found[0].message == (
        f"the default for: {written} is no multiple of the evaluation interval "
        f"{interval}, so an alert without a for: of its own fires between "
        f"{fires[0]} and {fires[1]} after its value turns red, as with for: "
        f"{fires[0]}; set alert_for to a multiple of {interval}"
    )


@pytest.mark.parametrize(
    "config", ["", "alert_for: 2m\n", "evaluation_interval: 30s\nalert_for: 90s\n"]
)
def test_default_for_multiple_of_interval_is_silent(
    tmp_path: Path, config: str
) -> None:
    write_manifest(tmp_path, "payments.yaml", DEFAULT_FOR)
    (tmp_path / "obscompile.yaml").write_text(config)
    assert _late_warnings(build(Project.at(tmp_path))) == []


def test_default_for_warns_not_at_overridden_interval(tmp_path: Path) -> None:
    """--evaluation-interval replaces the file's interval, so the file is not blamed."""
    write_manifest(tmp_path, "payments.yaml", DEFAULT_FOR)
    (tmp_path / "obscompile.yaml").write_text("evaluation_interval: 1m\n")
    local = LocalOverrides(evaluation_interval="2m")
    result = build(Project.at(tmp_path), local=local)
    assert result.ok
    assert _late_warnings(result) == []
    (tmp_path / "obscompile.yaml").write_text("alert_for: 3m\n")
    ((line, column, message),) = _late_warnings(
        build(Project.at(tmp_path), local=local)
    )
    assert (line, column) == (1, 12)
    assert (
        "evaluation interval 2m, so an alert without a for: of its own fires between 4m and 6m"
        in (message)
    )
