"""A cold build derives each service's layout, alert names and queries once.

Each test builds a generated project in this process and counts how often a stage
runs for each panel or query, so that work done twice for one service shows up
without timing anything.
"""

from __future__ import annotations

import collections
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import obscompile.pipeline
import obscompile.render.grafana
from obscompile.cli import main
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
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    workload.write_project(tmp_path, SERVICES, PANELS)
    return tmp_path


def build_in_process() -> None:
    """Run a cold `obscompile build` in this process, and require it to pass."""
    result = CliRunner().invoke(main, ["build", "--no-cache", "--jobs", "1"])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.stderr


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


def test_rendering_lays_out_each_dashboard_once(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dashboard, rules and facts of a service share one layout of its rows."""
    # The layout derives each panel's legend once.
    legends = count_calls(
        monkeypatch,
        obscompile.render.grafana,
        "panel_legend",
        lambda panel, _: id(panel),
    )
    prefetch = obscompile.pipeline.prefetch

    def rendering(*arguments: Any, **options: Any) -> Any:
        # The checks and the alert names come before; only rendering counts.
        legends.clear()
        return prefetch(*arguments, **options)

    monkeypatch.setattr(obscompile.pipeline, "prefetch", rendering)
    build_in_process()
    assert len(legends) == SERVICES * PANELS
    assert set(legends.values()) == {1}
