"""The local-run options of `obscompile build`: --target, --scrape-interval,
--evaluation-interval and --alert-for (obscompile.derive.local).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml
from click.testing import CliRunner

from obscompile.cache import CACHE_DIR
from obscompile.cli import main
from obscompile.config import Config
from obscompile.derive.local import (
    LOCAL_RECORD,
    LocalOverrides,
    UnknownScrapeJobError,
    apply_local_overrides,
    check_duration,
    group_targets,
    parse_target,
)
from obscompile.diagnostics import UsageError
from obscompile.model.panel import Panel, PanelAlert, Row
from obscompile.model.scrape import Probe, ScrapeJob
from obscompile.model.service import AlertSettings, Service
from obscompile.pipeline import BuildResult, Project, build
from tests.conftest import REPO, write_manifest

API = ScrapeJob(
    job="api",
    targets=("api:8080",),
    metrics_path="/internal/metrics",
    interval="30s",
    timeout="20s",
    labels=(("team", "payments"),),
)
WORKERS = ScrapeJob(job="workers", targets=("worker-1:9100", "worker-2:9100"))
FAST = ScrapeJob(job="fast", targets=("fast:9000",), interval="500ms", timeout="400ms")

PANEL_WITH_FOR = Panel(
    title="Errors",
    query='sum(rate(errors_total{job="api"}[5m]))',
    alert=PanelAlert(for_="10m"),
)
PANEL_WITHOUT_FOR = Panel(
    title="Requests", query='sum(rate(requests_total{job="api"}[5m]))'
)

PAYMENTS = Service(
    name="payments",
    title="Payments",
    dashboard=None,
    scrape_jobs=(API, WORKERS),
    rows=(Row(title="Traffic", panels=(PANEL_WITH_FOR, PANEL_WITHOUT_FOR)),),
    alerts=AlertSettings(for_="15m"),
)
SCRAPER = Service(name="scraper", title="Scraper", dashboard=None, scrape_jobs=(FAST,))
SERVICES = (PAYMENTS, SCRAPER)
CONFIG = Config(scrape_interval="15s", scrape_timeout="10s", evaluation_interval="1m")


def jobs(services: tuple[Service, ...]) -> dict[str, ScrapeJob]:
    return {job.job: job for service in services for job in service.scrape_jobs}


# --- apply_local_overrides -------------------------------------------------------


def test_no_overrides_change_nothing() -> None:
    services, config = apply_local_overrides(SERVICES, CONFIG)
    assert services == SERVICES
    assert config == CONFIG


def test_target_replaces_job_targets() -> None:
    services, _ = apply_local_overrides(SERVICES, CONFIG, {"api": ["127.0.0.1:4001"]})
    rewritten = jobs(services)
    assert rewritten["api"].targets == ("127.0.0.1:4001",)
    assert rewritten["workers"] == WORKERS
    assert rewritten["fast"] == FAST


def test_target_keeps_job_settings() -> None:
    services, _ = apply_local_overrides(SERVICES, CONFIG, {"api": ["127.0.0.1:4001"]})
    api = jobs(services)["api"]
    assert api.job == "api"
    assert api.metrics_path == "/internal/metrics"
    assert api.scheme == "http"
    assert api.labels == (("team", "payments"),)
    assert (api.interval, api.timeout) == ("30s", "20s")


def test_target_gives_job_several_targets() -> None:
    targets = {"workers": ["127.0.0.1:5001", "127.0.0.1:5002", "127.0.0.1:5003"]}
    services, _ = apply_local_overrides(SERVICES, CONFIG, targets)
    assert jobs(services)["workers"].targets == tuple(targets["workers"])


BLACKBOX = ScrapeJob(
    job="blackbox",
    targets=("https://a.example/health", "https://b.example/health"),
    metrics_path="/probe",
    probe=Probe("blackbox:9115", "http_2xx"),
)
PROBES = Service(name="probes", title="Probes", dashboard=None, scrape_jobs=(BLACKBOX,))


def test_target_moves_probe_exporter() -> None:
    targets = {"blackbox": ["127.0.0.1:9115"]}
    services, _ = apply_local_overrides((PROBES,), CONFIG, targets)
    rewritten = jobs(services)["blackbox"]
    assert rewritten.probe == Probe("127.0.0.1:9115", "http_2xx")
    assert rewritten.targets == BLACKBOX.targets
    assert rewritten.manifest_targets is None


def test_probe_job_takes_one_target() -> None:
    targets = {"blackbox": ["127.0.0.1:9115", "127.0.0.1:9116"]}
    with pytest.raises(UsageError, match='probe job "blackbox" has one exporter'):
        apply_local_overrides((PROBES,), CONFIG, targets)


def test_unknown_job_suggests_close_name() -> None:
    with pytest.raises(UnknownScrapeJobError) as raised:
        apply_local_overrides(SERVICES, CONFIG, {"worker": ["127.0.0.1:5001"]})
    message = str(raised.value)
    assert 'unknown scrape job "worker" (did you mean "workers"?)' in message
    assert "api, fast, workers" in message


def test_unknown_job_suggests_containing_name() -> None:
    services = (
        attrs.evolve(SCRAPER, scrape_jobs=(attrs.evolve(FAST, job="auth_server"),)),
    )
    with pytest.raises(UnknownScrapeJobError) as raised:
        apply_local_overrides(services, CONFIG, {"auth": ["127.0.0.1:5001"]})
    assert '(did you mean "auth_server"?)' in str(raised.value)


def test_unknown_job_is_usage_error() -> None:
    with pytest.raises(UsageError):
        apply_local_overrides(SERVICES, CONFIG, {"nope": ["127.0.0.1:5001"]})


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("127.0.0.1:99999", "outside 1-65535"),
        ("127.0.0.1:http", "not a number"),
        ("127.0.0.1:80/metrics", "is not host:port"),
        (":8080", "has no host"),
        (" 127.0.0.1:80", "contains a blank"),
    ],
)
def test_invalid_target_rejected(address: str, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        apply_local_overrides(SERVICES, CONFIG, {"api": [address]})
    assert str(raised.value).startswith('scrape job "api": ')
    assert message in str(raised.value)


def test_empty_target_list_rejected() -> None:
    with pytest.raises(UsageError) as raised:
        apply_local_overrides(SERVICES, CONFIG, {"api": []})
    assert str(raised.value) == 'no target given for scrape job "api"'


def test_scrape_interval_sets_global_settings() -> None:
    _, config = apply_local_overrides(SERVICES, CONFIG, scrape_interval="1s")
    assert config.scrape_interval == "1s"
    assert config.scrape_timeout == "1s"
    assert config.evaluation_interval == CONFIG.evaluation_interval


def test_scrape_interval_sets_job_intervals() -> None:
    services, _ = apply_local_overrides(SERVICES, CONFIG, scrape_interval="1s")
    rewritten = jobs(services)
    assert (rewritten["api"].interval, rewritten["api"].timeout) == ("1s", "1s")
    assert (rewritten["fast"].interval, rewritten["fast"].timeout) == ("1s", "400ms")
    # A job without its own interval keeps inheriting the global one.
    assert (rewritten["workers"].interval, rewritten["workers"].timeout) == (None, None)


def test_longer_scrape_interval_keeps_timeouts() -> None:
    services, config = apply_local_overrides(SERVICES, CONFIG, scrape_interval="1m")
    assert (config.scrape_interval, config.scrape_timeout) == ("1m", "10s")
    api = jobs(services)["api"]
    assert (api.interval, api.timeout) == ("1m", "20s")


def test_evaluation_interval_sets_config() -> None:
    services, config = apply_local_overrides(SERVICES, CONFIG, evaluation_interval="1s")
    assert config == attrs.evolve(CONFIG, evaluation_interval="1s")
    assert services == SERVICES


def test_alert_for_overrides_every_level() -> None:
    services, config = apply_local_overrides(SERVICES, CONFIG, alert_for="2s")
    payments = services[0]
    # Every alert falls back to the config's alert_for once no level below sets one.
    assert config.alert_for == "2s"
    assert payments.alerts == attrs.evolve(PAYMENTS.alerts, for_=None)
    assert [panel.alert.for_ for panel in payments.panels] == [None, None]


def test_alert_for_keeps_other_panel_fields() -> None:
    services, _ = apply_local_overrides(SERVICES, CONFIG, alert_for="2s")
    for before, after in zip(PAYMENTS.panels, services[0].panels, strict=True):
        assert attrs.evolve(after, alert=before.alert) == before


def test_alert_for_rejects_zero() -> None:
    with pytest.raises(UsageError) as raised:
        apply_local_overrides(SERVICES, CONFIG, alert_for="0s")
    assert str(raised.value) == "alert_for must be longer than 0s"


def test_inputs_unchanged() -> None:
    before = copy.deepcopy((SERVICES, CONFIG))
    apply_local_overrides(
        SERVICES,
        CONFIG,
        {"api": ["127.0.0.1:4001"]},
        scrape_interval="1s",
        evaluation_interval="1s",
        alert_for="2s",
    )
    assert before == (SERVICES, CONFIG)
    assert API.targets == ("api:8080",)


@pytest.mark.parametrize(
    ("keyword", "value", "message"),
    [
        ("scrape_interval", "0s", "scrape_interval must be longer than 0s"),
        ("evaluation_interval", "0", "evaluation_interval must be longer than 0s"),
        (
            "scrape_interval",
            "1 s",
            'scrape_interval "1 s" is not a Prometheus duration',
        ),
        ("alert_for", "5x", 'alert_for "5x" is not a Prometheus duration'),
        ("alert_for", "-1s", 'alert_for "-1s" is not a Prometheus duration'),
    ],
)
def test_invalid_duration_rejected(keyword: str, value: str, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        apply_local_overrides(SERVICES, CONFIG, **{keyword: value})
    assert str(raised.value).startswith(message)


# --- option parsing --------------------------------------------------------------


def test_parse_target_splits_job_and_address() -> None:
    assert parse_target("auth_server=127.0.0.1:4000") == (
        "auth_server",
        "127.0.0.1:4000",
    )
    assert parse_target("api=[::1]:8080") == ("api", "[::1]:8080")


@pytest.mark.parametrize("text", ["127.0.0.1:4000", "=127.0.0.1:4000", "api="])
def test_parse_target_rejects_missing_part(text: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_target(text)
    assert "is not JOB=HOST:PORT" in str(raised.value)


def test_parse_target_rejects_bad_port() -> None:
    with pytest.raises(UsageError) as raised:
        parse_target("api=127.0.0.1:0")
    assert "outside 1-65535" in str(raised.value)


def test_parse_target_rejects_path() -> None:
    """The advice names what a local run keeps, not a manifest key to set."""
    with pytest.raises(UsageError) as raised:
        parse_target("api=127.0.0.1:1/metrics")
    assert str(raised.value) == (
        'target "127.0.0.1:1/metrics" is not host:port; a local run keeps the '
        "scheme and metrics path of the job's manifest"
    )


def test_group_targets_keeps_order_once() -> None:
    pairs = [("b", "h:2"), ("a", "h:1"), ("b", "h:3"), ("b", "h:2")]
    assert group_targets(pairs) == (("b", ("h:2", "h:3")), ("a", ("h:1",)))


def test_check_duration_accepts_compound() -> None:
    assert check_duration("1m30s", "scrape_interval") == "1m30s"
    assert check_duration("250ms", "scrape_interval") == "250ms"


def test_empty_overrides_are_empty() -> None:
    assert LocalOverrides().is_empty
    assert not LocalOverrides(alert_for="2s").is_empty


# --- pipeline.build ----------------------------------------------------------------

LOCAL = LocalOverrides(
    targets=(
        ("auth_server", ("127.0.0.1:4001",)),
        ("celery_workers", ("127.0.0.1:5001", "127.0.0.1:5002")),
    ),
    scrape_interval="1s",
    evaluation_interval="5s",
    alert_for="5s",
)


@pytest.fixture(scope="module")
def local_build() -> BuildResult:
    result = build(Project.at(REPO), local=LOCAL)
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    return result


def scrape_config(result: BuildResult) -> dict[str, Any]:
    return yaml.safe_load(result.files["prometheus/prometheus.yml"])


def rule_documents(result: BuildResult) -> dict[str, Any]:
    return {
        name: yaml.safe_load(text)
        for name, text in result.files.items()
        if name.startswith("prometheus/rules/")
    }


def test_build_writes_overridden_targets(local_build: BuildResult) -> None:
    document = scrape_config(local_build)
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"]
        for job in document["scrape_configs"]
    }
    assert targets["auth_server"] == ["127.0.0.1:4001"]
    assert targets["celery_workers"] == ["127.0.0.1:5001", "127.0.0.1:5002"]
    assert targets["portfolio_server"] == ["portfolio_server:8000"]


def test_build_warns_about_kept_targets(local_build: BuildResult) -> None:
    warnings = [d for d in local_build.diagnostics if d.check == "local/kept-target"]
    jobs = sorted(d.message.split('"')[1] for d in warnings)
    assert jobs == [
        "alphacopilot_server",
        "celery_exporter",
        "notification_server",
        "portfolio_server",
    ]
    assert str(warnings[0].location).startswith("services/")


def test_build_writes_intervals(local_build: BuildResult) -> None:
    document = scrape_config(local_build)
    assert document["global"] == {
        "scrape_interval": "1s",
        "scrape_timeout": "1s",
        "evaluation_interval": "5s",
    }
    for job in document["scrape_configs"]:
        assert job.get("scrape_interval", "1s") == "1s", job["job_name"]
        assert job.get("scrape_timeout", "1s") == "1s", job["job_name"]


def test_build_keeps_jobs_and_paths(
    local_build: BuildResult, real_build: BuildResult
) -> None:
    def shape(result: BuildResult) -> list[tuple[str, str, str]]:
        return [
            (job["job_name"], job["metrics_path"], job["scheme"])
            for job in scrape_config(result)["scrape_configs"]
        ]

    assert shape(local_build) == shape(real_build)


def test_build_keeps_rules_but_for(
    local_build: BuildResult, real_build: BuildResult
) -> None:
    def without_for(result: BuildResult) -> dict[str, Any]:
        documents = rule_documents(result)
        for document in documents.values():
            for group in document["groups"]:
                for rule in group["rules"]:
                    rule.pop("for", None)
        return documents

    assert without_for(local_build) == without_for(real_build)


def test_build_sets_for_of_every_alert(local_build: BuildResult) -> None:
    durations = {
        rule["for"]
        for document in rule_documents(local_build).values()
        for group in document["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    assert durations == {"5s"}


def test_build_reports_unknown_job() -> None:
    local = LocalOverrides(targets=(("auth", ("127.0.0.1:4001",)),))
    with pytest.raises(UnknownScrapeJobError):
        build(Project.at(REPO), local=local)


def test_build_skips_overrides_after_load_error(project: Path) -> None:
    write_manifest(project, "broken.yaml", "service: broken\ndashbord: {}\n")
    local = LocalOverrides(targets=(("missing", ("127.0.0.1:4001",)),))
    result = build(Project.at(project), local=local)
    assert not result.ok
    assert result.files == {}


HOSTS = """service: node
dashboard: {uid: node}
scrape:
  - {job: node, targets: ['node-1:9100', 'node-2:9100']}
  - {job: canary, targets: ['canary:9100']}
metrics:
  node_load1: gauge
rows:
  - title: Hosts
    panels:
      - {title: Load, query: 'node_load1{job="node"}', thresholds: '<4 Green, >=4 Red'}
      - {title: Canary, query: 'node_load1{job="canary"}', thresholds: '<4 Green, >=4 Red'}
"""


def test_build_keeps_legends_of_retargeted_jobs(project: Path) -> None:
    """A local build that changes a job's number of targets keeps the legends."""
    write_manifest(project, "node.yaml", HOSTS)
    normal = build(Project.at(project))
    local = LocalOverrides(
        targets=(
            ("node", ("127.0.0.1:9100",)),
            ("canary", ("127.0.0.1:9101", "127.0.0.1:9102")),
        )
    )
    retargeted = build(Project.at(project), local=local)
    assert normal.ok, "\n".join(str(d) for d in normal.diagnostics)
    assert retargeted.ok, "\n".join(str(d) for d in retargeted.diagnostics)
    dashboard = "grafana/dashboards/node.json"
    panels = json.loads(retargeted.files[dashboard])["panels"]
    legends = [panel["targets"][0]["legendFormat"] for panel in panels[1:]]
    assert legends == ["{{instance}}", "Canary"]
    assert retargeted.files[dashboard] == normal.files[dashboard]
    assert rule_documents(retargeted) == rule_documents(normal)


# --- command line ------------------------------------------------------------------

MANIFEST = """service: payments
dashboard: {uid: payments, folder: Payments}
scrape: {job: payments, port: 8080, interval: 30s, timeout: 20s}
metrics:
  http_requests_total: {type: counter, labels: [code]}
rows:
  - title: Traffic
    panels:
      - {title: RPS, query: 'sum(rate(http_requests_total{job="payments"}[5m]))'}
"""


def run_build(*arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["build", *arguments])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_cli_writes_local_build(project: Path) -> None:
    write_manifest(project, "payments.yaml", MANIFEST)
    code, output = run_build(
        "--target", "payments=127.0.0.1:18080", "--scrape-interval", "1s",
        "--evaluation-interval", "1s", "--alert-for", "2s",
    )  # fmt: skip
    assert code == 0, output
    document = yaml.safe_load((project / "out/prometheus/prometheus.yml").read_text())
    (job,) = document["scrape_configs"]
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:18080"]
    assert (job["scrape_interval"], job["scrape_timeout"]) == ("1s", "1s")
    assert document["global"]["evaluation_interval"] == "1s"


def test_cli_local_build_bypasses_cache(project: Path) -> None:
    write_manifest(project, "payments.yaml", MANIFEST)
    code, output = run_build("--target", "payments=127.0.0.1:18080")
    assert code == 0, output
    assert not (project / CACHE_DIR).exists()


def test_cli_build_after_local_build_rewrites(project: Path) -> None:
    """A plain build after a local one writes the manifest's targets again."""
    write_manifest(project, "payments.yaml", MANIFEST)
    assert run_build()[0] == 0
    assert run_build("--target", "payments=127.0.0.1:18080")[0] == 0
    code, output = run_build()
    assert code == 0, output
    # The local build's files are no hand edits.
    assert "changed after the last build" not in output
    text = (project / "out/prometheus/prometheus.yml").read_text()
    assert "payments:8080" in text
    assert "127.0.0.1:18080" not in text


def test_cli_check_names_local_options(project: Path) -> None:
    """build --check of a local build's folder names the options that wrote it."""
    write_manifest(project, "payments.yaml", MANIFEST)
    options = ["--target", "payments=127.0.0.1:18080", "--scrape-interval", "1s"]
    assert run_build(*options)[0] == 0
    code, output = run_build("--check")
    assert code == 1
    assert (
        "a local run with --target payments=127.0.0.1:18080 --scrape-interval 1s "
        "wrote it, so add those options to compare it with that run, or run "
        "obscompile build without them to write the manifests' own targets"
    ) in output
    code, output = run_build("--check", *options)
    assert code == 0, output
    # A folder that a build without options wrote keeps the usual advice.
    assert run_build()[0] == 0
    write_manifest(project, "payments.yaml", MANIFEST.replace("8080", "8081"))
    code, output = run_build("--check")
    assert code == 1
    assert output.rstrip().endswith("run obscompile build")


def test_cli_test_compares_local_build_alike(project: Path) -> None:
    """`obscompile test` compares a local build's folder with the same local build."""
    write_manifest(project, "payments.yaml", MANIFEST)
    assert run_build("--target", "payments=127.0.0.1:18080")[0] == 0
    record = project / "out" / LOCAL_RECORD
    assert LocalOverrides.recorded_in(project / "out") == LocalOverrides(
        targets=(("payments", ("127.0.0.1:18080",)),)
    )
    tested = CliRunner().invoke(main, ["test"])
    assert tested.exit_code == 0, tested.output
    assert "stale" not in tested.output
    record.write_text(record.read_text().replace("18080", "18081"))
    tested = CliRunner().invoke(main, ["test"])
    assert (
        "from a build of the manifests with the local-run options it was written "
        "with, and the tests run on it as it is; run obscompile build first with "
        "those options" in tested.output
    )
    assert run_build()[0] == 0
    assert not record.exists()


@pytest.mark.parametrize(
    ("options", "warned"),
    [
        (
            ("--alert-for", "2s"),
            "fires between 1m and 2m after its value turns red, as with "
            "--alert-for 1m;",
        ),
        (
            ("--alert-for", "90s", "--evaluation-interval", "1m"),
            "fires between 2m and 3m after its value turns red, as with "
            "--alert-for 2m;",
        ),
        (("--alert-for", "2s", "--evaluation-interval", "1s"), None),
        (("--alert-for", "2m"), None),
    ],
)
def test_cli_warns_of_late_alerts(
    project: Path, options: tuple[str, ...], warned: str | None
) -> None:
    write_manifest(project, "payments.yaml", MANIFEST)
    code, output = run_build("--target", "payments=127.0.0.1:18080", *options)
    assert code == 0, output
    lines = [line for line in output.splitlines() if "is no multiple" in line]
    if warned is None:
        assert lines == []
    else:
        (line,) = lines
        assert line.startswith(f"obscompile: warning: --alert-for {options[1]} is no ")
        assert warned in line
    # The summary counts the warning with those of the manifests.
    count = "0 errors, 1 warning in " if warned else " panel in "
    assert count in output.splitlines()[-1], output


ALERTING_MANIFEST = """service: payments
scrape: {job: payments, port: 8080}
alerts: {for: 2m}
metrics:
  queue_depth: {type: gauge, labels: [queue]}
rows:
  - title: Queues
    panels:
      - title: Depth
        query: 'sum by (queue) (queue_depth{job="payments"})'
        thresholds: "<100 Green, >100 Red"
        alert: {for: 3m}
      - title: Peak
        query: 'max by (queue) (queue_depth{job="payments"})'
        thresholds: "<100 Green, >100 Red"
"""


def test_cli_late_alert_for_warns_once(project: Path) -> None:
    """Only the option warns, because no manifest line writes its value."""
    write_manifest(project, "payments.yaml", ALERTING_MANIFEST)
    code, output = run_build(
        "--target", "payments=127.0.0.1:18080", "--alert-for", "90s"
    )  # fmt: skip
    assert code == 0, output
    assert "[alerts/for-interval]" not in output
    lines = [line for line in output.splitlines() if "is no multiple" in line]
    assert len(lines) == 1
    assert lines[0].startswith("obscompile: warning: --alert-for 90s is no ")
    rules = (project / "out/prometheus/rules/payments.rules.yml").read_text()
    assert rules.count("for: 90s") == 2


def test_cli_unknown_job_exits_2(project: Path) -> None:
    write_manifest(project, "payments.yaml", MANIFEST)
    code, output = run_build("--target", "payment=127.0.0.1:18080")
    assert code == 2
    assert "Invalid value for '--target'" in output
    assert 'unknown scrape job "payment" (did you mean "payments"?)' in output
    assert not (project / "out").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--target", "payments"], '"payments" is not JOB=HOST:PORT'),
        (["--target", "payments=127.0.0.1:0"], "outside 1-65535"),
        (["--target", "payments=nohostport"], '"payments=nohostport" has no port'),
        (["--target", "payments=[::1]"], "has no port"),
        (["--scrape-interval", "0s"], "must be longer than 0s"),
        (["--evaluation-interval", "soon"], "is not a Prometheus duration"),
        (["--alert-for", "2 s"], "is not a Prometheus duration"),
        (["--alert-for", "0s"], "must be longer than 0s"),
        (["--alert-for", "293y"], "is longer than Prometheus accepts"),
        (["--evaluation-interval", "106751d23h47m16s855ms"], "is longer than"),
    ],
)
def test_cli_invalid_option_exits_2(
    project: Path, arguments: list[str], message: str
) -> None:
    write_manifest(project, "payments.yaml", MANIFEST)
    code, output = run_build(*arguments)
    assert code == 2
    assert message in output
    assert not (project / "out").exists()


def test_cli_help_lists_local_options() -> None:
    result = CliRunner().invoke(main, ["build", "--help"])
    assert result.exit_code == 0
    for option in (
        "--target JOB=HOST:PORT",
        "--scrape-interval DURATION",
        "--evaluation-interval DURATION",
        "--alert-for DURATION",
    ):
        assert option in result.output


@pytest.mark.parametrize(
    ("interval", "config", "warned"),
    [
        ("2m", "", "fires between 6m and 8m after its value turns red"),
        ("7s", "", "fires between 5m1s and 5m8s after its value turns red"),
        ("1s", "", None),
        ("30s", "", None),
        # The file's alert_for gets the warning at its line, from the build.
        ("2m", "alert_for: 3m\n", None),
        ("2m", "alert_for: 4m\n", None),
    ],
)
def test_cli_warns_of_late_default_for(
    project: Path, interval: str, config: str, warned: str | None
) -> None:
    """--evaluation-interval alone still warns when it does not divide the default."""
    manifest = ALERTING_MANIFEST.replace("alerts: {for: 2m}\n", "")
    manifest = manifest.replace("        alert: {for: 3m}\n", "")
    write_manifest(project, "payments.yaml", manifest)
    (project / "obscompile.yaml").write_text(config)
    code, output = run_build(
        "--target", "payments=127.0.0.1:18080", "--evaluation-interval", interval
    )  # fmt: skip
    assert code == 0, output
    lines = [
        line
        for line in output.splitlines()
        if line.startswith("obscompile: warning: the default for:")
    ]
    if warned is None:
        assert lines == []
        return
    (line,) = lines
    assert f"is no multiple of --evaluation-interval {interval}" in line
    assert warned in line
    assert "1 warning in " in output.splitlines()[-1], output
