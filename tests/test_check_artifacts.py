"""Checks across rendered artifacts: alert links, unused recording rules, scraped jobs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from obscompile.check.artifacts import (
    ArtifactFacts,
    RuleFacts,
    check_artifacts,
    compare,
)
from obscompile.config import Config
from obscompile.derive.alerts import derive_rules, recording_rules
from obscompile.model.location import Location
from obscompile.pipeline import BuildResult, Project, build
from tests.conftest import REPO


@pytest.fixture(scope="module")
def real() -> tuple:
    result = build(Project.at(REPO))
    assert result.ok
    return result.services, dict(result.files)


def test_real_artifacts_line_up(real) -> None:
    services, files = real
    assert check_artifacts(services, files) == []


def test_recording_rules_as_rendered(real) -> None:
    """The checks find the rules and panels that the rule files were rendered from."""
    services, _ = real
    config = Config(alert_for="2m", evaluation_interval="30s", scrape_interval="5s")
    recorded = 0
    for service in services:
        derived = derive_rules(service, config).recording
        found = recording_rules(service)
        assert [rule.record for rule in found] == [rule.record for rule in derived]
        assert [rule.location for rule in found] == [rule.location for rule in derived]
        recorded += len(found)
    assert recorded > 0


def _messages(services, files) -> list[str]:
    return [
        f"{d.severity}: {d.message} [{d.check}]"
        for d in check_artifacts(services, files)
    ]


def _findings(services, files) -> list[str]:
    return [
        f"{d.location}: {d.severity}: {d.message} [{d.check}]"
        for d in check_artifacts(services, files)
    ]


@pytest.fixture
def services_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Return the empty services folder of a project in `tmp_path`, the working directory."""
    monkeypatch.chdir(tmp_path)
    services = tmp_path / "services"
    services.mkdir()
    return services


def _artifact_findings(result: BuildResult) -> list[str]:
    """Return the `artifacts/*` findings of a build, each with its position."""
    return [
        f"{d.location}: {d.severity}: {d.message} [{d.check}]"
        for d in result.diagnostics
        if d.check.startswith("artifacts/")
    ]


def test_alert_link_to_missing_panel(real) -> None:
    services, files = real
    name = "prometheus/rules/auth_server.rules.yml"
    files = {**files, name: files[name].replace("panel_id: '3'", "panel_id: '99'", 1)}
    # No panel has id 99, so the alert's derived name finds its panel, which is the
    # error-rate panel of the http_api_health block used at line 42.
    assert _findings(services, files) == [
        'services/auth_server.yaml:42:5: error: alert "AuthServerErrorRate4xx5xxCritical" '
        'links to panel 99 of dashboard "auth-server-dashboard", which does not exist '
        "[artifacts/alert-link]"
    ]


def test_alert_url_disagrees(real) -> None:
    services, files = real
    name = "prometheus/rules/auth_server.rules.yml"
    files = {**files, name: files[name].replace("viewPanel=3", "viewPanel=4", 1)}
    (message,) = _messages(services, files)
    assert "does not point at /d/auth-server-dashboard?viewPanel=3" in message


def test_removed_panel_breaks_link(real) -> None:
    services, files = real
    name = "grafana/dashboards/auth-server-dashboard.json"
    dashboard = json.loads(files[name])
    dashboard["panels"] = [p for p in dashboard["panels"] if p["id"] != 3]
    files = {**files, name: json.dumps(dashboard)}
    (message,) = _messages(services, files)
    assert "links to panel 3" in message


def test_unused_recording_rule(real) -> None:
    services, files = real
    name = "prometheus/rules/auth_server.rules.yml"
    extra = '      - record: job:unused_metric:sum\n        expr: sum by (job) (up{job="auth_server"})\n'
    text = files[name].replace("    rules:\n", "    rules:\n" + extra, 1)
    files = {**files, name: text}
    # No panel derives the rule, so it is reported at the service's name.
    assert _findings(services, files) == [
        'services/auth_server.yaml:2:10: warning: recording rule "job:unused_metric:sum" is not read by any alert, rule or panel [artifacts/unused-recording]'
    ]


def test_unscraped_job(real) -> None:
    services, files = real
    config = files["prometheus/prometheus.yml"].replace(
        "job_name: celery_exporter", "job_name: celery_exporter_renamed"
    )
    files = {**files, "prometheus/prometheus.yml": config}
    assert _messages(services, files) == []
    config = files["prometheus/prometheus.yml"].replace(
        "job_name: auth_server", "job_name: auth"
    )
    files = {**files, "prometheus/prometheus.yml": config}
    messages = _messages(services, files)
    assert messages
    assert all(
        "auth_server" in m and "[artifacts/unscraped-job]" in m for m in messages
    )
    assert (
        'error: panel "Login Requests/sec" queries job "auth_server", which no scrape job in prometheus.yml collects [artifacts/unscraped-job]'
        in messages
    )
    # Each rule is reported once for each job. A recording rule is reported at its
    # panel's query, and an alert at its panel.
    found = _findings(services, files)
    assert len(found) == len(set(found))
    assert (
        'services/auth_server.yaml:66:16: error: rule "job:http_request_duration_seconds_api_auth_login_post:p95_rate5m" reads job "auth_server", which no scrape job collects [artifacts/unscraped-job]'
        in found
    )
    assert (
        'services/auth_server.yaml:63:9: error: rule "AuthServerLoginP95LatencyCritical" reads job "auth_server", which no scrape job collects [artifacts/unscraped-job]'
        in found
    )


def test_job_variable_names_no_job(tmp_path: Path) -> None:
    """job="$job" is Grafana's to fill, so no scrape job has to collect it."""
    (tmp_path / "services").mkdir()
    (tmp_path / "services" / "api.yaml").write_text(
        "service: api\nscrape: {job: api, port: 80}\nmetrics: {req_total: counter}\n"
        "rows:\n  - title: R\n    panels:\n"
        "      - {title: A, query: 'sum(rate(req_total{job=\"$job\"}[5m]))'}\n"
    )
    result = build(Project.at(tmp_path))
    assert result.ok, [str(d) for d in result.diagnostics]
    assert [d.check for d in result.diagnostics] == ["promql/dashboard-variable"]


def test_rules_without_dashboards(real) -> None:
    # A build without the grafana target writes no dashboards for alerts to link to.
    services, files = real
    files = {
        name: text
        for name, text in files.items()
        if not name.startswith("grafana/dashboards/")
    }
    assert check_artifacts(services, files) == []


CHECKOUT = """\
service: checkout
scrape: {job: checkout, port: 80}
metrics:
  lat_seconds: {type: histogram, buckets: [0.05, 0.1, 0.5, 1, 2.5]}
rows:
  - title: R
    panels:
      - title: P95
        query: 'histogram_quantile(0.95, sum by (le) (rate(lat_seconds_bucket{job="checkout"}[5m])))'
        thresholds: "<500ms Green, >=500ms Red"
"""
P95 = "histogram_quantile(0.95, sum by (le) (rate(lat_seconds_bucketSELECT[5m])))"
SAME = (
    'services/overview.yaml:6:16: warning: recording rule "job:lat_seconds:p95_rate5m" is '
    "also recorded at services/checkout.yaml:9:16 with the same expression, so two "
    "rule "
    "groups write its series; set record: false on the panel of one of them "
    "[artifacts/duplicate-recording]"
)
OTHER = (
    'services/overview.yaml: error: recording rule "job:lat_seconds:p95_rate5m" is '
    "also recorded at services/checkout.yaml:1:1 with another expression, so two rule "
    "groups write different values into one series; set record: false on the panel "
    "of one of them [artifacts/duplicate-recording]"
)
SAME_AT_CHECKOUT = (
    'services/checkout.yaml:9:16: warning: recording rule "job:lat_seconds:p95_rate5m" '
    "is also recorded at services/overview.yaml:6:16 with the same expression, so two "
    "rule groups write its series; set record: false on the panel of one of them "
    "[artifacts/duplicate-recording]"
)
OTHER_AT_CHECKOUT = (
    'services/checkout.yaml: error: recording rule "job:lat_seconds:p95_rate5m" is '
    "also recorded at services/overview.yaml:1:1 with another expression, so two rule "
    "groups write different values into one series; set record: false on the panel "
    "of one of them [artifacts/duplicate-recording]"
)


@pytest.mark.parametrize(
    ("query", "thresholds", "expected"),
    [
        (P95.replace("SELECT", '{job="checkout"}'), True, [SAME_AT_CHECKOUT, SAME]),
        ("1000 * " + P95.replace("0.95", "0.9").replace("SELECT", ""), False, []),
    ],
    ids=["same-expression", "scaled-panel-reads-its-rule"],
)
def test_recording_rules_across_services(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    query: str,
    thresholds: bool,
    expected: list[str],
) -> None:
    """Two services that record one series are both reported; a scaled panel reads its rule."""
    monkeypatch.chdir(tmp_path)
    services = tmp_path / "services"
    services.mkdir()
    (services / "checkout.yaml").write_text(CHECKOUT)
    panel = f"      - title: Overview\n        query: '{query}'\n"
    if thresholds:
        panel += '        thresholds: "<500ms Green, >=500ms Red"\n'
    (services / "overview.yaml").write_text(
        "service: overview\nrows:\n  - title: R\n    panels:\n" + panel
    )
    result = build(Project.at(Path(".")))
    # A finding of a recording rule points at the query of the panel it records.
    found = [
        f"{d.location}: {d.severity}: {d.message} [{d.check}]"
        for d in result.diagnostics
        if d.check.startswith("artifacts/")
    ]
    assert sorted(found) == expected


def test_recorded_twice_after_other_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two services that record one job's series clash after a rule of another job."""
    monkeypatch.chdir(tmp_path)
    services = tmp_path / "services"
    services.mkdir()
    # The rule of job aaa comes first, and writes other series than those of checkout.
    (services / "aaa.yaml").write_text(CHECKOUT.replace("checkout", "aaa"))
    (services / "checkout.yaml").write_text(CHECKOUT)
    panel = P95.replace("SELECT", '{job="checkout"}')
    (services / "overview.yaml").write_text(
        "service: overview\nrows:\n  - title: R\n    panels:\n"
        f"      - title: Overview\n        query: '{panel}'\n"
        '        thresholds: "<500ms Green, >=500ms Red"\n'
    )
    found = _artifact_findings(build(Project.at(Path("."))))
    assert sorted(found) == [SAME_AT_CHECKOUT, SAME]


def test_other_expression_recorded_twice_is_an_error() -> None:
    def facts(file: str, expr: str) -> ArtifactFacts:
        where = Location(file, 1, 1)
        rule = RuleFacts(
            name="job:lat_seconds:p95_rate5m",
            alert=False,
            where=where,
            origin=where,
            reads=("lat_seconds_bucket",),
            jobs=("checkout",),
            recorded=expr,
        )
        return ArtifactFacts(rules=(rule,), panel_reads=frozenset({rule.name}))

    found = compare(
        [facts("services/checkout.yaml", "a"), facts("services/overview.yaml", "b")],
        None,
    )
    assert [
        f"{d.location.file}: {d.severity}: {d.message} [{d.check}]" for d in found
    ] == [OTHER, OTHER_AT_CHECKOUT]


def test_recorded_twice_matched_on_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rule that adds job to `on (...)` is reported at the query it records."""
    monkeypatch.chdir(tmp_path)
    services = tmp_path / "services"
    services.mkdir()
    query = (
        'sum by (instance) (pg_stat_database_numbackends{job="postgres"}) '
        '/ on (instance) pg_settings_max_connections{job="postgres"} * 100'
    )
    panel = (
        f"      - title: Connections used\n        query: '{query}'\n"
        "        unit: percent\n"
        '        thresholds: "<90% Green, >=90% Red"\n'
    )
    (services / "postgres.yaml").write_text(
        "service: postgres\nscrape: {job: postgres, port: 9187}\n"
        "metrics:\n  pg_stat_database_numbackends: {type: gauge, labels: [datname]}\n"
        "  pg_settings_max_connections: gauge\n"
        "rows:\n  - title: R\n    panels:\n" + panel
    )
    (services / "overview.yaml").write_text(
        "service: overview\nrows:\n  - title: R\n    panels:\n" + panel
    )
    result = build(Project.at(Path(".")))
    found = sorted(
        str(d.location)
        for d in result.diagnostics
        if d.check == "artifacts/duplicate-recording"
    )
    assert found == ["services/overview.yaml:6:16", "services/postgres.yaml:10:16"]


RATIO = (
    'sum(rate(x_total{job="a",code="500"}[5m])) / sum(rate(x_total{job="a"}[5m])) * 100'
)


def test_ratio_recorded_twice_at_queries(services_dir: Path) -> None:
    """A ratio rule, whose denominator gets `> 0`, is reported at both panel queries."""
    (services_dir / "a.yaml").write_text(
        "service: a\nruntime: python\nscrape: {job: a, port: 9000}\n"
        "metrics:\n  x: {type: counter, labels: [code]}\n"
        "rows:\n  - title: R\n    panels:\n      - title: Err\n"
        f"        query: '{RATIO}'\n"
        '        thresholds: "<5% Green, >=5% Red"\n        unit: percent\n'
    )
    (services_dir / "b.yaml").write_text(
        "service: b\nrows:\n  - title: R\n    panels:\n      - title: Err\n"
        f"        record: true\n        query: '{RATIO}'\n"
    )
    assert _artifact_findings(build(Project.at(Path(".")))) == [
        'services/a.yaml:10:16: warning: recording rule "job:x_500_per_x:ratio_rate5m" '
        "is also recorded at services/b.yaml:7:16 with the same expression, so two "
        "rule groups write its series; set record: false on the panel of one of them "
        "[artifacts/duplicate-recording]",
        'services/b.yaml:7:16: warning: recording rule "job:x_500_per_x:ratio_rate5m" '
        "is also recorded at services/a.yaml:10:16 with the same expression, so two "
        "rule groups write its series; set record: false on the panel of one of them "
        "[artifacts/duplicate-recording]",
    ]


ORDERS = """\
service: orders
runtime: python
scrape: {job: orders, port: 9000}
metrics:
  orders_queue_depth: {type: gauge, labels: [queue]}
  orders_processed: {type: counter, labels: [queue]}
  lat_seconds: {type: histogram, buckets: [1, 2]}
rows:
  - title: R
    panels:
      - title: P
"""
PROCESSED = 'sum(rate(orders_processed_total{job="orders"}[5m]))'
DEPTH = 'orders_queue_depth{job="orders"}'
QUEUE_A = 'sum(rate(orders_processed_total{job="orders",queue="a"}[5m]))'
PER_QUEUE = 'sum by (queue) (rate(orders_processed_total{job="orders"}[5m]))'
LATENCY = 'sum by (le) (rate(lat_seconds_bucket{job="orders"}[5m]))'


@pytest.mark.parametrize(
    ("record", "query"),
    [
        (True, f"{QUEUE_A} / {PROCESSED}"),
        (True, f"{QUEUE_A} / {PROCESSED} * 100"),
        (True, f"max({DEPTH}) / {PROCESSED}"),
        (True, f"sum by (queue) ({DEPTH}) / {PER_QUEUE}"),
        # A quantile is recorded without record: true.
        (False, f"histogram_quantile(0.9, {LATENCY})"),
    ],
    ids=["ratio", "scaled-ratio", "gauge-per-rate", "grouped-ratio", "quantile"],
)
def test_recorded_panel_query_is_used(
    services_dir: Path, record: bool, query: str
) -> None:
    """A rule that records a panel's query is used, though nothing reads its name."""
    panel = "        record: true\n" if record else ""
    (services_dir / "orders.yaml").write_text(
        ORDERS + panel + f"        query: '{query}'\n"
    )
    result = build(Project.at(Path(".")))
    assert result.ok, [str(d) for d in result.diagnostics]
    assert result.files["prometheus/rules/orders.rules.yml"].count("- record:") == 1
    assert _artifact_findings(result) == []
