"""Every generated dashboard validates against Grafana's own JSON schemas."""

from __future__ import annotations

import pytest

from tests.conftest import grafana_schema_dir
from tests.grafana_schema import dashboard_errors

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
