"""Checks across rendered artifacts: alert links, unused recording rules, scraped jobs."""

from __future__ import annotations

import json

import pytest

from obscompile.check.artifacts import check_artifacts
from obscompile.pipeline import Project, build
from tests.conftest import REPO


@pytest.fixture(scope="module")
def real() -> tuple:
    result = build(Project.at(REPO))
    assert result.ok
    return result.services, dict(result.files)


def test_real_artifacts_line_up(real) -> None:
    services, files = real
    assert check_artifacts(services, files) == []


def _messages(services, files) -> list[str]:
    return [
        f"{d.severity}: {d.message} [{d.check}]"
        for d in check_artifacts(services, files)
    ]


def test_alert_link_to_missing_panel(real) -> None:
    services, files = real
    name = "prometheus/rules/auth_server.rules.yml"
    files = {**files, name: files[name].replace("panel_id: '3'", "panel_id: '99'", 1)}
    assert _messages(services, files) == [
        'error: alert "AuthServerErrorRate4xx5xxCritical" links to panel 99 of dashboard '
        '"auth-server-dashboard", which does not exist [artifacts/alert-link]'
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
    assert _messages(services, files) == [
        'warning: recording rule "job:unused_metric:sum" is not read by any alert, rule or panel [artifacts/unused-recording]'
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


def test_rules_without_dashboards(real) -> None:
    # A build without the grafana target writes no dashboards for alerts to link to.
    services, files = real
    files = {
        name: text
        for name, text in files.items()
        if not name.startswith("grafana/dashboards/")
    }
    assert check_artifacts(services, files) == []
