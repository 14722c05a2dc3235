"""Generated Prometheus files: snapshots, and promtool 2.42 on every one of them.

The promtool tests run the real binary. Where it is missing they fail with the
command that installs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from ruamel.yaml import YAML
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from obscompile.check import promql_syntax
from obscompile.check.context import ParsedQuery
from obscompile.config import Config
from obscompile.load.project import load_project
from obscompile.pipeline import BuildResult
from obscompile.render.prometheus import rule_diagnostics
from obscompile.write.atomic import write_tree
from tests.conftest import REPO, SERVICES, write_manifest
from tests.test_dashboards import ROW_PANELS

SERVICES_WITH_RULES = [
    "alphacopilot_server",
    "auth_server",
    "notification_server",
    "portfolio_server",
]
JOBS = [
    "alphacopilot_server",
    "auth_server",
    "celery_exporter",
    "celery_workers",
    "notification_server",
    "portfolio_server",
]
HAND_WRITTEN = REPO / "tests" / "promtool"


def promtool_binary() -> str:
    """Return the promtool executable, or fail the test with how to install it."""
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool is not installed; install it with `apt-get install prometheus`"
        )
    return found


def run_promtool(
    *arguments: str, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [promtool_binary(), *arguments],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


def assert_promtool(*arguments: str, cwd: Path | None = None) -> str:
    result = run_promtool(*arguments, cwd=cwd)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def write_files(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


class YamlSnapshot(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT
    file_extension = "yml"


@pytest.fixture
def yaml_snapshot(snapshot):
    return snapshot.use_extension(YamlSnapshot)


@pytest.fixture(scope="session")
def built_out(
    tmp_path_factory: pytest.TempPathFactory, real_build: BuildResult
) -> Path:
    """The repository's build, written into a fresh folder as `obscompile build` does."""
    out = tmp_path_factory.mktemp("built") / "out"
    write_tree(out, real_build.files)
    return out


def _prometheus_files(real_build: BuildResult) -> dict[str, str]:
    return {k: v for k, v in real_build.files.items() if k.startswith("prometheus/")}


# Snapshots -----------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES_WITH_RULES)
def test_rules_snapshot(service: str, real_build: BuildResult, yaml_snapshot) -> None:
    assert real_build.files[f"prometheus/rules/{service}.rules.yml"] == yaml_snapshot


@pytest.mark.parametrize("service", SERVICES_WITH_RULES)
def test_tests_snapshot(service: str, real_build: BuildResult, yaml_snapshot) -> None:
    assert real_build.files[f"prometheus/tests/{service}.test.yml"] == yaml_snapshot


def test_scrape_config_snapshot(real_build: BuildResult, yaml_snapshot) -> None:
    assert real_build.files["prometheus/prometheus.yml"] == yaml_snapshot


def test_output_layout(real_build: BuildResult) -> None:
    expected = {"prometheus/prometheus.yml"}
    for service in SERVICES_WITH_RULES:
        expected.add(f"prometheus/rules/{service}.rules.yml")
        expected.add(f"prometheus/tests/{service}.test.yml")
    assert set(_prometheus_files(real_build)) == expected


# promtool on the generated files ---------------------------------------------------


def test_promtool_check_config(built_out: Path) -> None:
    output = assert_promtool(
        "check", "config", str(built_out / "prometheus" / "prometheus.yml")
    )
    assert "SUCCESS: 4 rule files found" in output


def test_promtool_check_rules(built_out: Path) -> None:
    rules = sorted(str(p) for p in (built_out / "prometheus" / "rules").glob("*.yml"))
    output = assert_promtool("check", "rules", "--lint=all", "--lint-fatal", *rules)
    assert output.count("SUCCESS") == 4


def test_promtool_test_generated(built_out: Path) -> None:
    tests = sorted(str(p) for p in (built_out / "prometheus" / "tests").glob("*.yml"))
    output = assert_promtool("test", "rules", *tests)
    assert output.count("SUCCESS") == 4


# postgres_exporter exposes its counters without `_total`, and node_exporter names its
# info metric `node_uname_info`. Without a runtime, the catalog takes those names.
EXPORTER = """\
service: postgres
scrape: {job: postgres, port: 9187}
metrics:
  pg_stat_database_xact_commit: {type: counter, labels: [datname]}
  pg_stat_database_xact_rollback: {type: counter, labels: [datname]}
  pg_static: {type: info, labels: [short_version]}
  node_uname_info: {type: info, labels: [release]}
rows:
  - title: Transactions
    panels:
      - title: Commits
        query: 'sum by (datname) (rate(pg_stat_database_xact_commit{job="postgres"}[5m]))'
        thresholds: "<1000 Green, 1000-5000 Yellow, >5000 Red"
      - title: Rollback ratio
        query: 'sum(rate(pg_stat_database_xact_rollback{job="postgres"}[5m])) / sum(rate(pg_stat_database_xact_commit{job="postgres"}[5m])) * 100'
        unit: percent
        thresholds: "<1% Green, 1-5% Yellow, >5% Red"
      - title: Versions
        query: 'sum(pg_static{job="postgres"})'
        thresholds: "<2 Green, >=2 Red"
      - title: Kernels
        query: 'sum(node_uname_info{job="postgres"})'
        thresholds: "<2 Green, >=2 Red"
"""


def run_obscompile(project: Path, *arguments: str) -> subprocess.CompletedProcess:
    """Run `python -m obscompile` with `arguments` in `project`."""
    return subprocess.run(
        [sys.executable, "-m", "obscompile", *arguments],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )


def test_exporter_catalog_passes_promtool(tmp_path: Path) -> None:
    """An exporter's counters and info metrics are read by their declared names."""
    promtool_binary()
    project = write_manifest(tmp_path, "postgres.yaml", EXPORTER)
    built = run_obscompile(project, "build")
    assert built.returncode == 0, built.stderr
    assert "error" not in built.stderr
    assert "warning" not in built.stderr
    tested = run_obscompile(project, "test")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "1 generated" in tested.stderr
    suite = YAML(typ="safe").load(project / "out/prometheus/tests/postgres.test.yml")
    read = {
        item["series"].partition("{")[0]
        for test in suite["tests"]
        for item in test["input_series"]
    }
    assert read == {
        "pg_stat_database_xact_commit",
        "pg_stat_database_xact_rollback",
        "pg_static",
        "node_uname_info",
    }


def build_and_test(tmp_path: Path, name: str, manifest: str) -> Path:
    """Build one manifest without a warning, run `obscompile test`; return the project."""
    promtool_binary()
    project = write_manifest(tmp_path, name, manifest)
    built = run_obscompile(project, "build")
    assert built.returncode == 0, built.stderr
    assert "warning" not in built.stderr
    tested = run_obscompile(project, "test")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    return project


SCRAPE_HEALTH = """\
service: payments
scrape: {job: payments, targets: ["pay-1:8080", "pay-2:8080"]}
rows:
  - use: scrape_health
    with: {job: payments, down_for: 3m, duration_red: 5s}
"""


def test_scrape_health_alerts_pass_promtool(tmp_path: Path) -> None:
    """The scrape health row alerts on a target that is down and on slow scrapes."""
    project = build_and_test(tmp_path, "payments.yaml", SCRAPE_HEALTH)
    rules = YAML(typ="safe").load(project / "out/prometheus/rules/payments.rules.yml")
    alerts = {rule["alert"]: rule for rule in rules["groups"][1]["rules"]}
    down = alerts["PaymentsTargetsUpCritical"]
    assert (down["expr"], down["for"]) == ('up{job="payments"} == 0', "3m")
    assert down["annotations"]["summary"] == (
        "Target {{ $labels.instance }} of job {{ $labels.job }} is down"
    )
    slow = alerts["PaymentsScrapeDurationCritical"]
    assert (slow["expr"], slow["for"]) == (
        'scrape_duration_seconds{job="payments"} >= 5',
        "5m",
    )
    suite = YAML(typ="safe").load(project / "out/prometheus/tests/payments.test.yml")
    fired = [
        alert["exp_annotations"]["summary"]
        for test in suite["tests"]
        for check in test.get("alert_rule_test", [])
        for alert in check["exp_alerts"]
        if check["alertname"] == "PaymentsTargetsUpCritical"
    ]
    assert fired and set(fired) == {"Target pay-1:8080 of job payments is down"}


SCRAPE_HEALTH_TWO_JOBS = """\
service: payments
dashboard: {uid: payments}
scrape:
  - {job: payments, port: 8080}
  - {job: payments-worker, port: 9100}
rows:
  - use: scrape_health
    with: {job: payments, duration_red: 5s}
  - use: scrape_health
    with: {job: payments-worker, duration_red: 5s}
"""


def test_scrape_health_per_job(tmp_path: Path) -> None:
    """Each job's scrape health row has panels and alerts named after the job."""
    project = build_and_test(tmp_path, "payments.yaml", SCRAPE_HEALTH_TWO_JOBS)
    dashboard = json.loads(
        (project / "out/grafana/dashboards/payments.json").read_text(encoding="utf-8")
    )
    titles = [panel["title"] for panel in dashboard["panels"] if panel["type"] != "row"]
    assert titles == [
        "Targets Up (payments)",
        "Scrape Duration (payments)",
        "Targets Up (payments-worker)",
        "Scrape Duration (payments-worker)",
    ]
    rules = YAML(typ="safe").load(project / "out/prometheus/rules/payments.rules.yml")
    alerts = {rule["alert"]: rule["expr"] for rule in rules["groups"][1]["rules"]}
    assert alerts == {
        "PaymentsTargetsUpCritical": 'up{job="payments"} == 0',
        "PaymentsScrapeDurationCritical": (
            'scrape_duration_seconds{job="payments"} >= 5'
        ),
        "PaymentsWorkerTargetsUpCritical": 'up{job="payments-worker"} == 0',
        "PaymentsWorkerScrapeDurationCritical": (
            'scrape_duration_seconds{job="payments-worker"} >= 5'
        ),
    }


PROBES = """\
service: probes
scrape:
  job: blackbox
  probe: {exporter: "blackbox:9115", module: http_2xx}
  targets: ["https://a.example/health", "https://b.example/health"]
rows:
  - title: Probes
    panels:
      - title: Probe Success
        query: probe_success{job="blackbox"}
        thresholds: "1=Green, 0=Red"
"""


def test_probe_job_passes_promtool(tmp_path: Path) -> None:
    """A probe job sends each target to the exporter and names it as instance."""
    project = build_and_test(tmp_path, "probes.yaml", PROBES)
    config = YAML(typ="safe").load(project / "out/prometheus/prometheus.yml")
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/probe"
    assert job["params"] == {"module": ["http_2xx"]}
    assert job["static_configs"] == [
        {"targets": ["https://a.example/health", "https://b.example/health"]}
    ]
    assert job["relabel_configs"] == [
        {"source_labels": ["__address__"], "target_label": "__param_target"},
        {"source_labels": ["__param_target"], "target_label": "instance"},
        {"target_label": "__address__", "replacement": "blackbox:9115"},
    ]
    suite = YAML(typ="safe").load(project / "out/prometheus/tests/probes.test.yml")
    series = {
        item["series"] for test in suite["tests"] for item in test["input_series"]
    }
    assert 'probe_success{instance="https://a.example/health",job="blackbox"}' in series


ANNOTATED = """\
service: payments
scrape: {job: payments, port: 8080}
alerts:
  annotations:
    runbook_url: "https://runbooks.example.com/{{ $labels.job }}"
rows:
  - title: Queues
    panels:
      - title: Depth
        query: sum(payments_queue_depth{job="payments"})
        thresholds: "<100 Green, >=100 Red"
      - title: Queue
        query: sum by (queue) (payments_queue_depth{job="payments"})
        thresholds: "<100 Green, >=100 Red"
        alert:
          annotations:
            runbook_url: https://runbooks.example.com/queues
            channel: "#payments: {{ $labels.queue }} at {{ $value | humanize }}"
"""


def test_alert_annotations_pass_promtool(tmp_path: Path) -> None:
    """Service and panel annotations reach the rules, and the tests expand them."""
    project = build_and_test(tmp_path, "payments.yaml", ANNOTATED)

    rules = YAML(typ="safe").load(project / "out/prometheus/rules/payments.rules.yml")
    annotations = {
        rule["alert"]: rule["annotations"] for rule in rules["groups"][1]["rules"]
    }
    depth = annotations["PaymentsDepthCritical"]
    assert depth["runbook_url"] == "https://runbooks.example.com/{{ $labels.job }}"
    assert "channel" not in depth
    queue = annotations["PaymentsQueueCritical"]
    assert queue["runbook_url"] == "https://runbooks.example.com/queues"
    assert list(queue)[-2:] == ["channel", "runbook_url"]

    suite = YAML(typ="safe").load(project / "out/prometheus/tests/payments.test.yml")
    expanded = {
        (check["alertname"], key, value)
        for test in suite["tests"]
        for check in test.get("alert_rule_test", [])
        for alert in check["exp_alerts"]
        for key, value in alert["exp_annotations"].items()
        if key in ("runbook_url", "channel")
    }
    channels = {value for _, key, value in expanded if key == "channel"}
    assert channels == {"#payments: queue-1 at 100", "#payments: queue-1 at 110"}
    runbooks = {(name, value) for name, key, value in expanded if key != "channel"}
    assert runbooks == {
        ("PaymentsDepthCritical", "https://runbooks.example.com/payments"),
        ("PaymentsQueueCritical", "https://runbooks.example.com/queues"),
    }


# One panel of each shape that the rule derivation distinguishes. The recording rules
# add `job` where every selector pins one job; an alert without a rule reads the query,
# whose series lack `job` once an aggregation drops it.
PROBE_RUNBOOKS = """\
service: platform
scrape:
  - job: blackbox
    targets: ["https://a.example/health"]
    probe: {exporter: "blackbox:9115", module: http_2xx}
alerts:
  annotations:
    runbook_url: "https://runbooks.example.com/platform/{{ $labels.job }}"
rows:
  - title: Probes
    panels:
      - title: Expiry in query
        query: min by (instance) (probe_ssl_earliest_cert_expiry{job="blackbox"} - time())
        thresholds: "<7d Red, 7d-21d Yellow, >21d Green"
        unit: s
      - title: Expiry recorded
        query: min by (instance) (probe_ssl_earliest_cert_expiry{job="blackbox"}) - time()
        thresholds: "<7d Red, 7d-21d Yellow, >21d Green"
        unit: s
      - title: Expiry not recorded
        query: min by (instance) (probe_ssl_earliest_cert_expiry{job="blackbox"}) - time()
        thresholds: "<7d Red, 7d-21d Yellow, >21d Green"
        unit: s
        record: false
      - title: Success
        query: avg by (instance) (probe_success{job="blackbox"}) * 100
        thresholds: "<99 Red, >=99 Green"
        unit: percent
      - title: Compression
        query: sum by (instance) (probe_http_content_length{job="blackbox"}) / sum by (instance) (probe_http_uncompressed_body_length{job="blackbox"})
        thresholds: "<0.9 Green, >=0.9 Red"
        unit: percentunit
      - title: Success of any job
        query: avg by (instance) (probe_success) * 100
        thresholds: "<99 Red, >=99 Green"
        unit: percent
      - title: Success by job
        query: avg by (job, instance) (probe_success) * 100
        thresholds: "<99 Red, >=99 Green"
        unit: percent
"""


def test_runbook_job_of_each_rule_shape(tmp_path: Path) -> None:
    """An alert whose series lack job expands `$labels.job` to nothing in promtool,
    and alert/template-label names exactly the panels of those alerts."""
    promtool_binary()
    project = write_manifest(tmp_path, "platform.yaml", PROBE_RUNBOOKS)
    built = run_obscompile(project, "build")
    assert built.returncode == 0, built.stderr
    found = [line for line in built.stderr.splitlines() if ": warning: " in line]
    assert found == [
        'services/platform.yaml:8:68: warning: alert annotation "runbook_url" names '
        'the label "job", which the series of the alerts of panels "Expiry in '
        'query", "Expiry not recorded" and "Success of any job" do not have, so '
        "the text shows it as empty [alert/template-label]",
        'services/platform.yaml:13:16: warning: panel "Expiry in query": no '
        "recording rule for this query: a subtraction is not part of the naming "
        "rule; its alerts read the query itself [rules/recording-name]",
    ]
    tested = run_obscompile(project, "test")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "1 generated" in tested.stderr

    suite = YAML(typ="safe").load(project / "out/prometheus/tests/platform.test.yml")
    runbooks: dict[str, set[str]] = {}
    for test in suite["tests"]:
        for check in test.get("alert_rule_test", []):
            for alert in check["exp_alerts"]:
                runbook = alert["exp_annotations"]["runbook_url"]
                runbooks.setdefault(check["alertname"], set()).add(runbook)
    base = "https://runbooks.example.com/platform/"
    assert runbooks == {
        "PlatformExpiryInQueryCritical": {base},
        "PlatformExpiryRecordedCritical": {base + "blackbox"},
        "PlatformExpiryNotRecordedCritical": {base},
        "PlatformSuccessCritical": {base + "blackbox"},
        "PlatformCompressionCritical": {base + "blackbox"},
        "PlatformSuccessOfAnyJobCritical": {base},
        "PlatformSuccessByJobCritical": {base + "job-1"},
    }


def test_table_and_barchart_alerts_pass_promtool(tmp_path: Path) -> None:
    """Each row of a table or bar chart alerts where its cell or bar turns red."""
    project = build_and_test(tmp_path, "payments.yaml", ROW_PANELS)
    rules = YAML(typ="safe").load(project / "out/prometheus/rules/payments.rules.yml")
    alerts = {rule["alert"]: rule["expr"] for rule in rules["groups"][1]["rules"]}
    assert alerts == {
        "PaymentsCodesTableCritical": 'job_code:http_requests:rate5m{job="payments"} >= 200',
        "PaymentsCodesBarsCritical": 'job_code:http_requests:rate5m{job="payments"} >= 50',
    }
    suite = YAML(typ="safe").load(project / "out/prometheus/tests/payments.test.yml")
    tested = {
        check["alertname"]
        for test in suite["tests"]
        for check in test.get("alert_rule_test", [])
        if check["exp_alerts"]
    }
    assert tested == set(alerts)


PUSHGATEWAY = """\
service: batch
scrape: {job: pushgateway, port: 9091, honor_labels: true}
rows:
  - title: Jobs
    panels:
      - title: Since success
        query: time() - max by (job) (batch_success_timestamp_seconds{job="etl"})
        thresholds: "<26h Green, >=26h Red"
"""


def test_pushed_job_names_pass_promtool(tmp_path: Path) -> None:
    """A job that honours labels may be queried by the job names pushed to it."""
    project = build_and_test(tmp_path, "batch.yaml", PUSHGATEWAY)
    config = YAML(typ="safe").load(project / "out/prometheus/prometheus.yml")
    (job,) = config["scrape_configs"]
    assert job["honor_labels"] is True
    rules = YAML(typ="safe").load(project / "out/prometheus/rules/batch.rules.yml")
    (alert,) = rules["groups"][1]["rules"]
    assert 'job="etl"' in alert["expr"]


def test_promtool_test_hand_written(real_build: BuildResult, tmp_path: Path) -> None:
    """The hand-written tests read ../../out/prometheus/rules, so they run in a copy."""
    write_files(tmp_path / "out", real_build.files)
    shutil.copytree(HAND_WRITTEN, tmp_path / "tests" / "promtool")
    tests = sorted(str(p) for p in (tmp_path / "tests" / "promtool").glob("*.yml"))
    assert len(tests) == 4
    output = assert_promtool("test", "rules", *tests)
    assert output.count("SUCCESS") == 4


def test_committed_out_is_current(real_build: BuildResult) -> None:
    committed = REPO / "out"
    for name, text in _prometheus_files(real_build).items():
        path = committed / name
        assert path.is_file(), f"{path} is missing; run obscompile build"
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} is stale; run obscompile build"
        )


# What the generated files contain --------------------------------------------------


def _yaml(text: str):
    return YAML(typ="safe").load(text)


def test_every_scrape_job(real_build: BuildResult) -> None:
    config = _yaml(real_build.files["prometheus/prometheus.yml"])
    assert [job["job_name"] for job in config["scrape_configs"]] == JOBS
    assert config["global"] == {
        "scrape_interval": "15s",
        "scrape_timeout": "10s",
        "evaluation_interval": "1m",
    }
    assert config["rule_files"] == [f"rules/{s}.rules.yml" for s in SERVICES_WITH_RULES]
    workers = config["scrape_configs"][3]
    assert workers["static_configs"][0]["targets"] == [
        f"celery-worker-{n}:910{n}" for n in range(1, 5)
    ]
    assert workers["metrics_path"] == "/metrics"


def test_every_rule_has_generated_test() -> None:
    services = load_project(SERVICES).services
    untested = [
        d for d in rule_diagnostics(services, Config()) if d.check == "rules/untested"
    ]
    assert untested == []


def test_no_rule_diagnostics() -> None:
    services = load_project(SERVICES).services
    assert [str(d) for d in rule_diagnostics(services, Config())] == []


RECORD_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


@pytest.mark.parametrize("service", SERVICES_WITH_RULES)
def test_record_names(service: str, real_build: BuildResult) -> None:
    groups = _yaml(real_build.files[f"prometheus/rules/{service}.rules.yml"])["groups"]
    assert [g["name"] for g in groups] == [f"{service}.recording", f"{service}.alerts"]
    for rule in groups[0]["rules"]:
        assert RECORD_NAME.match(rule["record"])
        parts = rule["record"].split(":")
        assert len(parts) == 3, rule["record"]
        assert all(parts), rule["record"]


@pytest.mark.parametrize("service", SERVICES_WITH_RULES)
def test_alerts_read_records(service: str, real_build: BuildResult) -> None:
    groups = _yaml(real_build.files[f"prometheus/rules/{service}.rules.yml"])["groups"]
    records = {rule["record"] for rule in groups[0]["rules"]}
    for alert in groups[1]["rules"]:
        metric = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", alert["expr"]).group(0)
        assert metric in records or ":" not in metric, alert["alert"]
        assert alert["labels"]["severity"] == "critical"
        assert alert["labels"]["service"] == service
        assert alert["annotations"]["dashboard_url"].endswith(
            f"?viewPanel={alert['annotations']['panel_id']}"
        )


@pytest.mark.parametrize("service", SERVICES_WITH_RULES)
def test_alerts_select_their_job(service: str, real_build: BuildResult) -> None:
    """Services record the same names for their own jobs, so alerts select the job."""
    groups = _yaml(real_build.files[f"prometheus/rules/{service}.rules.yml"])["groups"]
    for alert in groups[1]["rules"]:
        assert f'job="{service}"' in alert["expr"], alert["alert"]


def test_alert_count_matches_red_bands(real_build: BuildResult) -> None:
    """Every red band of the four dashboards has exactly one alert."""
    counts = {}
    for service in SERVICES_WITH_RULES:
        groups = _yaml(real_build.files[f"prometheus/rules/{service}.rules.yml"])[
            "groups"
        ]
        counts[service] = len(groups[1]["rules"])
    assert counts == {
        "alphacopilot_server": 6,
        "auth_server": 6,
        "notification_server": 4,
        "portfolio_server": 13,
    }


def test_build_is_deterministic(tmp_path: Path) -> None:
    """Two builds under different hash seeds give byte-identical Prometheus files.

    Without the cache, the second build derives every file anew.
    """
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / seed
        subprocess.run(
            ["obscompile", "build", "--project", str(REPO), "--out", str(out)]
            + ["--no-cache"],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        outputs.append(
            {
                p.relative_to(out): p.read_bytes()
                for p in (out / "prometheus").rglob("*.yml")
            }
        )
    assert outputs[0] == outputs[1]


def obscompile_test(*arguments: str) -> subprocess.CompletedProcess:
    """Run `obscompile test` with `arguments` and return the finished process."""
    return subprocess.run(
        ["obscompile", "test", *arguments], capture_output=True, text=True, check=False
    )


def test_cli_test_command(built_out: Path) -> None:
    """The command reads the hand-written tests of the repository, next to its out/."""
    promtool_binary()
    result = obscompile_test("--project", str(REPO), "--out", str(built_out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "promtool passed: 1 config, 4 rule files, 8 test files: "
        "4 generated, 4 hand-written\n"
    ) in result.stderr
    # The hand-written tests name ../../out, not the --out folder.
    assert "read the rule files that their rule_files name" in result.stderr


def built_project(tmp_path: Path, built_out: Path) -> Path:
    """Copy the repository's services and its built out/ into a new project folder."""
    project = tmp_path / "project"
    shutil.copytree(REPO / "services", project / "services")
    shutil.copy(REPO / "obscompile.yaml", project / "obscompile.yaml")
    shutil.copytree(built_out, project / "out")
    return project


# A hand-written test that expects no alert: it passes whatever rules it loads.
# A test that passes: without input series, the alert does not fire.
QUIET_TEST = (
    "tests:\n"
    "  - interval: 1m\n"
    "    input_series: []\n"
    "    alert_rule_test:\n"
    "      - {eval_time: 1m, alertname: AuthServerErrorRate4xx5xxCritical, "
    "exp_alerts: []}\n"
)


def write_hand_written(project: Path, name: str, text: str) -> Path:
    """Write `text` as the hand-written test `name` of `project`; return its path."""
    folder = project / "tests" / "promtool"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_cli_test_reads_subfolders(tmp_path: Path, built_out: Path) -> None:
    promtool_binary()
    project = built_project(tmp_path, built_out)
    nested = project / "tests" / "promtool" / "auth"
    shutil.copytree(REPO / "tests" / "promtool", nested)
    for test in nested.glob("*.yml"):
        # One folder deeper, the rule files are one more step up.
        text = test.read_text(encoding="utf-8")
        test.write_text(text.replace("../../out/", "../../../out/"), encoding="utf-8")
    # A rule file beside the tests, for them to name, is not run as a test.
    (nested / "fixture.rules.yml").write_text(
        "groups:\n  - name: fixture\n    rules:\n      - record: a:b\n        expr: up\n",
        encoding="utf-8",
    )
    result = obscompile_test("--project", str(project))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8 test files: 4 generated, 4 hand-written\n" in result.stderr


def test_cli_test_names_missing_folder(tmp_path: Path, built_out: Path) -> None:
    promtool_binary()
    project = built_project(tmp_path, built_out)
    result = obscompile_test("--project", str(project))
    assert result.returncode == 0, result.stdout + result.stderr
    folder = project / "tests" / "promtool"
    assert (
        f"4 test files: 4 generated, 0 hand-written (none in {folder})\n"
    ) in result.stderr


@pytest.mark.parametrize(
    ("config", "advice"),
    [
        ("", "run obscompile build first"),
        (
            "targets: [grafana, instrumentation]\n",
            "the targets of obscompile.yaml leave out prometheus, so no build writes "
            "it; add prometheus to targets to test the rules",
        ),
    ],
)
def test_cli_test_without_rules_says_why(
    tmp_path: Path, config: str, advice: str
) -> None:
    promtool_binary()
    (tmp_path / "services").mkdir()
    (tmp_path / "obscompile.yaml").write_text(config)
    result = obscompile_test("--project", str(tmp_path))
    assert result.returncode == 2
    config_file = tmp_path / "out" / "prometheus" / "prometheus.yml"
    assert result.stderr == f"obscompile: error: {config_file} not found; {advice}\n"


def test_cli_test_reports_failure(tmp_path: Path, real_build: BuildResult) -> None:
    promtool_binary()
    files = dict(real_build.files)
    path = "prometheus/tests/auth_server.test.yml"
    files[path] = files[path].replace("severity: critical", "severity: page", 1)
    out = write_files(tmp_path / "out", files)
    result = obscompile_test("--project", str(REPO), "--out", str(out))
    assert result.returncode == 1
    assert "FAILED" in result.stdout + result.stderr
    assert "promtool test rules failed" in result.stderr


def test_cli_test_runs_yaml_suffix(tmp_path: Path, built_out: Path) -> None:
    promtool_binary()
    project = built_project(tmp_path, built_out)
    # A test that cannot pass: it expects an alert of a rule that does not exist.
    write_hand_written(
        project,
        "failing.test.yaml",
        "rule_files: [../../out/prometheus/rules/auth_server.rules.yml]\n"
        "evaluation_interval: 1m\n"
        "tests:\n"
        "  - interval: 1m\n"
        "    input_series: []\n"
        "    alert_rule_test:\n"
        "      - {eval_time: 1m, alertname: Missing, exp_alerts: [{exp_labels: {a: b}}]}\n",
    )
    result = obscompile_test("--project", str(project))
    assert result.returncode == 1, result.stderr
    assert "failing.test.yaml" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("rule_files", "expected"),
    [
        ("", "1:1: error: this test file loads no rule file"),
        ("rule_files: []\n", "1:13: error: this test file loads no rule file"),
        ("rule_files: [null]\n", "1:14: error: a rule_files entry must name a file"),
    ],
)
def test_cli_test_rejects_test_without_rules(
    tmp_path: Path, built_out: Path, rule_files: str, expected: str
) -> None:
    """Alert tests of a file that loads no rules pass whatever the rules contain."""
    promtool_binary()
    project = built_project(tmp_path, built_out)
    path = write_hand_written(project, "empty.test.yml", rule_files + QUIET_TEST)
    result = obscompile_test("--project", str(project))
    assert result.returncode == 1, result.stderr
    assert f"{path}:{expected}" in result.stderr
    assert "promtool passed" not in result.stderr


def test_cli_test_warns_of_stale_out(tmp_path: Path, built_out: Path) -> None:
    """Tests of an out/ that the manifests no longer give pass with a warning."""
    promtool_binary()
    project = built_project(tmp_path, built_out)
    result = obscompile_test("--project", str(project))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is stale" not in result.stderr
    manifest = project / "services" / "auth_server.yaml"
    text = manifest.read_text(encoding="utf-8")
    edited = text.replace(
        "300-800ms Yellow, >800ms Red", "300-900ms Yellow, >900ms Red"
    )
    assert edited != text
    manifest.write_text(edited, encoding="utf-8")
    result = obscompile_test("--project", str(project))
    assert result.returncode == 0, result.stdout + result.stderr
    out = project / "out"
    assert f"warning: {out} is stale: 5 files differ from a build" in result.stderr
    assert result.stderr.endswith(
        f"hand-written (none in {project}/tests/promtool), on a stale {out}\n"
    )


def test_cli_test_rejects_missing_rule_file(tmp_path: Path, built_out: Path) -> None:
    """A test that names no existing rule file would pass without testing it."""
    promtool_binary()
    project = built_project(tmp_path, built_out)
    # promtool passes this test: it expects no alert of rules it never loaded.
    rule_files = (
        "rule_files:\n"
        "  - ../../out/prometheus/rules/*.rules.yml\n"
        "  - ../../out/prometheus/rules/renamed.rules.yml\n"
    )
    path = write_hand_written(project, "quiet.test.yml", rule_files + QUIET_TEST)
    result = obscompile_test("--project", str(project))
    assert result.returncode == 1, result.stderr
    assert (
        f"{path}:3:5: error: rule file "
        "../../out/prometheus/rules/renamed.rules.yml matches no file"
    ) in result.stderr
    assert "removed when its service is deleted or renamed" in result.stderr
    assert "1 error in the hand-written tests; no test was run" in result.stderr
    assert "promtool passed" not in result.stderr

    # Without the entry that names no file, the same test runs and passes.
    path.write_text(
        "rule_files: [../../out/prometheus/rules/*.rules.yml]\n" + QUIET_TEST
    )
    result = obscompile_test("--project", str(project))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 generated, 1 hand-written" in result.stderr


def test_cli_test_rejects_unknown_alertname(tmp_path: Path, built_out: Path) -> None:
    """A test of a misspelt alert would pass without testing any rule."""
    promtool_binary()
    project = built_project(tmp_path, built_out)
    misspelt = QUIET_TEST.replace("ErrorRate4xx5xx", "ErrorRate4xx5x")
    path = write_hand_written(
        project,
        "misspelt.test.yml",
        "rule_files: [../../out/prometheus/rules/*.rules.yml]\n" + misspelt,
    )
    result = obscompile_test("--project", str(project))
    assert result.returncode == 1, result.stderr
    assert (
        f'{path}:6:36: error: alert "AuthServerErrorRate4xx5xCritical" is defined in '
        "no rule file that this test loads, so the test checks no rule and passes "
        'when it expects no alert; did you mean "AuthServerErrorRate4xx5xxCritical"? '
        "[promtool/rule-files]"
    ) in result.stderr
    assert "1 error in the hand-written tests; no test was run" in result.stderr


def test_cli_test_rejects_unknown_eval_group(tmp_path: Path, built_out: Path) -> None:
    """promtool ignores a misspelt group_eval_order name, so the order may vary."""
    promtool_binary()
    project = built_project(tmp_path, built_out)
    header = (
        "rule_files: [../../out/prometheus/rules/auth_server.rules.yml]\n"
        "group_eval_order: [auth_server.recording, auth_server.alert]\n"
    )
    path = write_hand_written(project, "order.test.yml", header + QUIET_TEST)
    result = obscompile_test("--project", str(project))
    assert result.returncode == 1, result.stderr
    assert (
        f'{path}:2:43: error: rule group "auth_server.alert" in group_eval_order is '
        "defined in no rule file that this test loads, so promtool ignores it, and "
        "the groups that the list leaves out may run before or after its first "
        'group; did you mean "auth_server.alerts"? [promtool/rule-files]'
    ) in result.stderr
    assert "1 error in the hand-written tests; no test was run" in result.stderr

    # With the group spelt as the rule file names it, the same test runs and passes.
    path.write_text(header.replace(".alert]", ".alerts]") + QUIET_TEST)
    result = obscompile_test("--project", str(project))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 generated, 1 hand-written" in result.stderr


def test_cli_test_rejects_alertname_in_expected_labels(
    tmp_path: Path, built_out: Path
) -> None:
    """promtool sets alertname itself, so one in exp_labels is never compared."""
    promtool_binary()
    project = built_project(tmp_path, built_out)

    written = (REPO / "tests" / "promtool" / "auth_server.test.yml").read_text()
    marker = "          - exp_labels:\n              job: auth_server\n"
    assert marker in written
    edited = written.replace(
        marker,
        "          - exp_labels:\n              alertname: Other\n"
        "              job: auth_server\n",
        1,
    )
    path = write_hand_written(project, "auth_server.test.yml", edited)

    # promtool itself passes the test.
    plain = subprocess.run(
        ["promtool", "test", "rules", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=path.parent,
    )
    assert plain.returncode == 0, plain.stdout + plain.stderr

    result = obscompile_test("--project", str(project))
    assert result.returncode == 1, result.stderr
    line = edited[: edited.index("alertname: Other")].count("\n") + 1
    assert (
        f'{path}:{line}:26: error: exp_labels sets alertname "Other", which promtool '
        'replaces with the alertname of the test, "AuthServerErrorRate4xx5xxCritical", '
        'so the label is never compared; remove it, or test alert "Other" in an '
        "alert_rule_test of its own [promtool/rule-files]"
    ) in result.stderr


EXPRESSION_TEST = (
    "rule_files: [../../out/prometheus/rules/*.rules.yml]\n"
    "tests:\n"
    "  - interval: 1m\n"
    "    input_series:\n"
    "      - {series: 'http_requests_total{job=\"auth_server\"}', values: '0+0x5'}\n"
    "    promql_expr_test:\n"
    "      - {eval_time: 5m, expr: 'SERIES > 1', exp_samples: []}\n"
)


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        # A misspelt record: the test would pass whatever the rule computes.
        (
            "job:http_requests_4xx_5xx_per_http_request:ratio_rate5m",
            'error: series "job:http_requests_4xx_5xx_per_http_request:ratio_rate5m" '
            "is recorded by no rule file that this test loads and is in no input "
            "series, so the expression selects nothing and the test, which expects no "
            "samples, passes whatever the rules compute; did you mean "
            '"job:http_requests_4xx_5xx_per_http_requests:ratio_rate5m"? '
            "[promtool/rule-files]",
        ),
        ("job:http_requests_4xx_5xx_per_http_requests:ratio_rate5m", None),
        ("http_requests_total", None),
    ],
    ids=["misspelt-record", "record", "input-series"],
)
def test_cli_test_rejects_expression_of_nothing(
    tmp_path: Path, built_out: Path, series: str, expected: str | None
) -> None:
    promtool_binary()
    project = built_project(tmp_path, built_out)
    text = EXPRESSION_TEST.replace("SERIES", series)
    path = write_hand_written(project, "expr.test.yml", text)
    result = obscompile_test("--project", str(project))
    if expected is None:
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == 1, result.stderr
    assert f"{path}:7:32: {expected}" in result.stderr


SILENT_TEST = (
    "rule_files: [../../out/prometheus/rules/auth_server.rules.yml]\n"
    "tests:\n"
    "  - interval: 1m\n"
    "    input_series:\n"
    "      - {series: 'SERIES{job=\"auth_server\"}', values: '0+600x10'}\n"
    "    alert_rule_test:\n"
    "      - {eval_time: 10m, alertname: AuthServerErrorRate4xx5xxCritical, "
    "exp_alerts: []}\n"
)


def test_cli_test_warns_of_unread_series(tmp_path: Path, built_out: Path) -> None:
    """A misspelt input series feeds no rule, so a test of silence passes anyway."""
    promtool_binary()
    project = built_project(tmp_path, built_out)
    text = SILENT_TEST.replace("SERIES", "http_request_total")
    path = write_hand_written(project, "silent.test.yml", text)
    result = obscompile_test("--project", str(project))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        f'{path}:5:19: warning: input series "http_request_total" is read by no rule '
        "of the rule files that this test loads and by no expression of its test "
        'group, so its samples change no result; did you mean "http_requests_total"? '
        "[promtool/unread-series]"
    ) in result.stderr

    # The metric that the rules read gets no warning.
    path.write_text(SILENT_TEST.replace("SERIES", "http_requests_total"))
    result = obscompile_test("--project", str(project))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "unread-series" not in result.stderr


def test_cli_test_reads_series_named_by_label(tmp_path: Path, built_out: Path) -> None:
    """An input series written as {__name__="..."} gives the series its name."""
    promtool_binary()
    project = built_project(tmp_path, built_out)
    text = EXPRESSION_TEST.replace("SERIES", "http_requests_total").replace(
        'http_requests_total{job="auth_server"}',
        '{__name__="http_requests_total", job="auth_server"}',
    )
    assert "__name__" in text
    write_hand_written(project, "expr.test.yml", text)
    result = obscompile_test("--project", str(project))
    assert result.returncode == 0, result.stderr


def test_cli_test_reports_every_broken_test_file(
    tmp_path: Path, built_out: Path
) -> None:
    """Invalid YAML in one test file is located beside another file's problem."""
    promtool_binary()
    project = built_project(tmp_path, built_out)
    missing = write_hand_written(
        project,
        "a.test.yml",
        "rule_files: [../../out/prometheus/rules/renamed.rules.yml]\n" + QUIET_TEST,
    )
    broken = write_hand_written(project, "b.test.yml", "tests:\n  - name: [x\n")
    result = obscompile_test("--project", str(project))
    assert result.returncode == 1, result.stderr
    assert f"{missing}:1:14: error: rule file" in result.stderr
    assert f"{broken}:2:13: error: invalid YAML: did not find expected" in result.stderr
    assert "2 errors in the hand-written tests; no test was run" in result.stderr


def test_cli_test_reads_past_byte_order_mark(tmp_path: Path, built_out: Path) -> None:
    """A byte order mark moves no position of an error in a hand-written test."""
    promtool_binary()
    project = built_project(tmp_path, built_out)
    broken = write_hand_written(
        project, "b.test.yml", '\ufefftests:\n  - name: "a"b"\n'
    )
    result = obscompile_test("--project", str(project))
    assert result.returncode == 1, result.stderr
    assert (
        f'{broken}:2:13: error: invalid YAML: this " closes the text' in result.stderr
    )


# A call of each function of Prometheus 2.42, which promql/syntax lets through.
FUNCTION_CALLS = {
    "abs": "abs(x)", "absent": "absent(x)",
    "absent_over_time": "absent_over_time(x[5m])", "acos": "acos(x)",
    "acosh": "acosh(x)", "asin": "asin(x)", "asinh": "asinh(x)", "atan": "atan(x)",
    "atanh": "atanh(x)", "avg_over_time": "avg_over_time(x[5m])", "ceil": "ceil(x)",
    "changes": "changes(x[5m])", "clamp": "clamp(x, 0, 1)",
    "clamp_max": "clamp_max(x, 1)", "clamp_min": "clamp_min(x, 1)", "cos": "cos(x)",
    "cosh": "cosh(x)", "count_over_time": "count_over_time(x[5m])",
    "day_of_month": "day_of_month()", "day_of_week": "day_of_week()",
    "day_of_year": "day_of_year()", "days_in_month": "days_in_month()",
    "deg": "deg(x)", "delta": "delta(x[5m])", "deriv": "deriv(x[5m])",
    "exp": "exp(x)", "floor": "floor(x)", "histogram_count": "histogram_count(x)",
    "histogram_fraction": "histogram_fraction(0, 1, x)",
    "histogram_quantile": "histogram_quantile(0.5, x)",
    "histogram_sum": "histogram_sum(x)",
    "holt_winters": "holt_winters(x[5m], 0.5, 0.5)", "hour": "hour()",
    "idelta": "idelta(x[5m])", "increase": "increase(x[5m])",
    "irate": "irate(x[5m])", "label_join": 'label_join(x, "a", ",", "b")',
    "label_replace": 'label_replace(x, "a", "$1", "b", "(.*)")',
    "last_over_time": "last_over_time(x[5m])", "ln": "ln(x)", "log10": "log10(x)",
    "log2": "log2(x)", "max_over_time": "max_over_time(x[5m])",
    "min_over_time": "min_over_time(x[5m])", "minute": "minute()",
    "month": "month()", "pi": "pi()", "predict_linear": "predict_linear(x[5m], 60)",
    "present_over_time": "present_over_time(x[5m])",
    "quantile_over_time": "quantile_over_time(0.5, x[5m])", "rad": "rad(x)",
    "rate": "rate(x[5m])", "resets": "resets(x[5m])", "round": "round(x)",
    "scalar": "scalar(x)", "sgn": "sgn(x)", "sin": "sin(x)", "sinh": "sinh(x)",
    "sort": "sort(x)", "sort_desc": "sort_desc(x)", "sqrt": "sqrt(x)",
    "stddev_over_time": "stddev_over_time(x[5m])",
    "stdvar_over_time": "stdvar_over_time(x[5m])",
    "sum_over_time": "sum_over_time(x[5m])", "tan": "tan(x)", "tanh": "tanh(x)",
    "time": "time()", "timestamp": "timestamp(x)", "vector": "vector(1)",
    "year": "year()",
}  # fmt: skip
AGGREGATION_CALLS = {
    "avg": "avg(x)", "bottomk": "bottomk(1, x)", "count": "count(x)",
    "count_values": 'count_values("v", x)', "group": "group(x)", "max": "max(x)",
    "min": "min(x)", "quantile": "quantile(0.5, x)", "stddev": "stddev(x)",
    "stdvar": "stdvar(x)", "sum": "sum(x)", "topk": "topk(1, x)",
}  # fmt: skip
# Queries that promql-parser reads and Prometheus 2.42 rejects.
LATER_SYNTAX = [
    "rate(x[300])",
    "x offset 300",
    "max_over_time(x[5m:60])",
    '{"x", job="a"}',
    'x{"a.b"="c"}',
    'sum(x) by ("a")',
    'count without ("a", b) (x)',
    'x / on("a") group_left("b") y',
    "limitk(2, x)",
    "limit_ratio(0.5, x)",
    'sort_by_label(x, "a")',
    'sort_by_label_desc(x, "a")',
    "info(x)",
    "double_exponential_smoothing(x[5m], 0.5, 0.5)",
    "mad_over_time(x[5m])",
    "histogram_avg(x)",
    "histogram_stddev(x)",
    "histogram_stdvar(x)",
    "first_over_time(x[5m])",
    "ts_of_max_over_time(x[5m])",
]


def _rule_file(folder: Path, queries: list[str]) -> Path:
    rules = [{"record": f"q:{index}", "expr": q} for index, q in enumerate(queries)]
    path = folder / "rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "g", "rules": rules}]}))
    return path


def test_syntax_check_matches_promtool(tmp_path: Path) -> None:
    """promql/syntax passes what promtool 2.42 reads and flags what it rejects."""
    promtool_binary()
    assert set(FUNCTION_CALLS) == promql_syntax.FUNCTIONS
    assert set(AGGREGATION_CALLS) == promql_syntax.AGGREGATIONS
    queries = [*FUNCTION_CALLS.values(), *AGGREGATION_CALLS.values()]
    for query in queries:
        assert list(promql_syntax.later_syntax(ParsedQuery.parse(query))) == [], query
    result = run_promtool("check", "rules", str(_rule_file(tmp_path, queries)))
    assert result.returncode == 0, result.stdout + result.stderr
    for query in LATER_SYNTAX:
        parsed = ParsedQuery.parse(query)
        assert parsed.error is None, query
        assert list(promql_syntax.later_syntax(parsed)), query
        result = run_promtool("check", "rules", str(_rule_file(tmp_path, [query])))
        assert result.returncode == 1, query


def test_cli_test_without_promtool(tmp_path: Path, built_out: Path) -> None:
    result = subprocess.run(
        ["obscompile", "test", "--project", str(REPO), "--out", str(built_out)],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": str(tmp_path), "HOME": str(tmp_path)},
        executable=shutil.which("obscompile"),
    )
    assert result.returncode == 2
    assert "apt-get install prometheus" in result.stderr


def test_prometheus_loads_config(built_out: Path, tmp_path: Path) -> None:
    """A real Prometheus 2.42 server starts with the generated files and their rules."""
    server = shutil.which("prometheus")
    if server is None:
        pytest.fail(
            "prometheus is not installed; install it with `apt-get install prometheus`"
        )
    process = subprocess.Popen(
        [
            server,
            f"--config.file={built_out / 'prometheus' / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            "--web.listen-address=127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        log = ""
        assert process.stdout is not None
        for line in process.stdout:
            log += line
            if (
                "Server is ready to receive web requests" in line
                or "level=error" in line
            ):
                break
        assert "Server is ready to receive web requests" in log, log
        assert "Completed loading of configuration file" in log, log
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.parametrize(
    ("record", "panel_title"),
    [
        (
            "job:http_request_duration_seconds:p95_rate5m",
            "P95 Latency (All Endpoints)",
        ),
        (
            "job:http_requests_4xx_5xx_per_http_requests:ratio_rate5m",
            "Error Rate (4xx/5xx)",
        ),
    ],
)
def test_untested_recording_rule_points_at_panel(
    real_build: BuildResult, record: str, panel_title: str
) -> None:
    """A rule that records part of a panel's query is reported at that query."""
    from obscompile.derive.testfile import Untested
    from obscompile.render.prometheus import _rule_diagnostics, service_outputs

    service = next(s for s in real_build.services if s.name == "auth_server")
    rules, suite = service_outputs(service, Config())
    assert record in {rule.record for rule in rules.recording}
    untested = attrs.evolve(suite, untested=(Untested(record, "a reason"),))
    found = [
        d
        for d in _rule_diagnostics(service, rules, untested)
        if d.check == "rules/untested"
    ]
    panel = next(p for p in service.panels if p.title == panel_title)
    assert [d.location for d in found] == [panel.location_of("query")]
    assert found[0].location != service.location
