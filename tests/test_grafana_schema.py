"""Every generated dashboard validates against Grafana's own JSON schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from obscompile.pipeline import Project, build
from tests.conftest import grafana_schema_dir, write_manifest
from tests.grafana_schema import dashboard_errors
from tests.test_dashboards import ROW_PANELS

SCHEMAS = grafana_schema_dir()
pytestmark = pytest.mark.skipif(
    not (SCHEMAS / "dashboard.jsonschema.json").is_file(),
    reason=f"Grafana schemas not found in {SCHEMAS}; set OBSCOMPILE_GRAFANA_SCHEMA",
)

UIDS = [
    "auth-server-dashboard",
    "notification-server-dashboard",
    "portfolio-server-dashboard",
    "alphacopilot-server-dashboard",
]


@pytest.mark.parametrize("uid", UIDS)
def test_dashboard_matches_grafana_schema(
    uid: str, dashboards: dict[str, dict]
) -> None:
    errors = dashboard_errors(dashboards[uid], SCHEMAS)
    assert errors == []


def test_schema_rejects_broken_panel(dashboards: dict[str, dict]) -> None:
    """The validator is live: a stat panel with a wrong option type fails."""
    dashboard = dashboards["auth-server-dashboard"]
    broken = {**dashboard, "panels": [dict(p) for p in dashboard["panels"]]}
    stat = next(p for p in broken["panels"] if p["type"] == "stat")
    stat["options"] = {**stat["options"], "graphMode": "sparkles"}
    errors = dashboard_errors(broken, SCHEMAS)
    assert any("graphMode" in e or "sparkles" in e for e in errors)


def test_coloured_table_and_barchart_match_schema(project: Path) -> None:
    """The colour settings of tables and bar charts with thresholds are valid."""
    write_manifest(project, "payments.yaml", ROW_PANELS)
    result = build(Project.at(project))
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    (text,) = [t for name, t in result.files.items() if name.endswith(".json")]
    assert dashboard_errors(json.loads(text), SCHEMAS) == []


def test_refresh_intervals_match_schema(project: Path) -> None:
    """A refresh outside the picker's default intervals adds a valid interval list."""
    write_manifest(
        project,
        "payments.yaml",
        "service: payments\ndashboard: {refresh: 3m}\n"
        "rows: [{title: A, panels: [{title: p, query: up}]}]\n",
    )
    result = build(Project.at(project))
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    (text,) = [t for name, t in result.files.items() if name.endswith(".json")]
    dashboard = json.loads(text)
    assert "3m" in dashboard["timepicker"]["refresh_intervals"]
    assert dashboard_errors(dashboard, SCHEMAS) == []
    dashboard["timepicker"]["refresh_intervals"] = "3m"
    assert dashboard_errors(dashboard, SCHEMAS) != []
