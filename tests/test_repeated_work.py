"""A cold build derives each service's layout, alert names and queries once.

Each test builds a generated project in this process and counts how often a stage
runs for each panel or query, so that work done twice for one service shows up
without timing anything.
"""

from __future__ import annotations

import collections
import importlib.util
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import obscompile.pipeline
import obscompile.render.grafana
from obscompile.derive.alerts import alert_origins
from obscompile.model.panel import Panel
from obscompile.pipeline import BuildResult, Project, build
from obscompile.render.grafana import draws_thresholds
from tests.conftest import REPO

_spec = importlib.util.spec_from_file_location(
    "workload", REPO / "bench" / "workload.py"
)
assert _spec is not None and _spec.loader is not None
workload = sys.modules.setdefault("workload", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(workload)

# More services than `dashboard_rows` keeps the layouts of, so that a stage that
# lays a dashboard out again after the other services cannot reuse the layout.
SERVICES = 20
# The HTTP health row and four panels of the shapes after it.
PANELS = 9


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    workload.write_project(tmp_path, SERVICES, PANELS)
    return tmp_path


def build_in_process(folder: Path) -> BuildResult:
    """Build the project at `folder` in this process without a cache; it must pass."""
    result = build(Project.at(folder), jobs=1)
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    return result


def count_calls(
    monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, key: Callable[..., Any]
) -> collections.Counter[Any]:
    """Count the calls of `owner.name`, by `key(*arguments)`."""
    counts: collections.Counter[Any] = collections.Counter()
    function = getattr(owner, name)

    def counting(*arguments: Any, **options: Any) -> Any:
        counts[key(*arguments)] += 1
        return function(*arguments, **options)

    monkeypatch.setattr(owner, name, counting)
    return counts


def count_layouts(monkeypatch: pytest.MonkeyPatch) -> collections.Counter[int]:
    """Count how often a layout derives each panel, by the panel's id."""
    # A layout derives each panel's legend once; the checks call their own import.
    return count_calls(
        monkeypatch,
        obscompile.render.grafana,
        "panel_legend",
        lambda panel, _: id(panel),
    )


def may_alert(panel: Panel) -> bool:
    """Return True for a panel whose thresholds may give alerts."""
    return (
        panel.alert.enabled
        and panel.thresholds is not None
        and draws_thresholds(panel.type)
    )


def test_rendering_lays_out_each_dashboard_once(
    generated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dashboard, rules and facts of a service share one layout of its rows."""
    derived = count_layouts(monkeypatch)
    prefetch = obscompile.pipeline.prefetch

    def rendering(*arguments: Any, **options: Any) -> Any:
        # The checks and the alert names come before; only rendering counts.
        derived.clear()
        return prefetch(*arguments, **options)

    monkeypatch.setattr(obscompile.pipeline, "prefetch", rendering)
    build_in_process(generated)
    assert len(derived) == SERVICES * PANELS
    assert set(derived.values()) == {1}


def test_alert_names_derive_alerting_panels_only(
    generated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alert names derive the panels that may alert; rendering derives every panel."""
    derived = count_layouts(monkeypatch)
    result = build_in_process(generated)
    panels = [panel for service in result.services for panel in service.panels]
    alerting = [panel for panel in panels if may_alert(panel)]
    assert 0 < len(alerting) < len(panels)
    for panel in panels:
        expected = 2 if may_alert(panel) else 1
        assert derived[id(panel)] == expected, panel.title


def test_alert_names_match_rule_files(real_build: BuildResult, generated: Path) -> None:
    """Alert names that skip the other panels are those of the rule files."""
    compared = 0
    for result in (real_build, build_in_process(generated)):
        for service in result.services:
            text = result.files.get(f"prometheus/rules/{service.name}.rules.yml", "")
            written = re.findall(r"^ *- alert: (\S+)$", text, flags=re.MULTILINE)
            names = [origin.name for origin in alert_origins(service)]
            assert names == written, service.name
            compared += len(names)
    assert compared > SERVICES
