"""The benchmark machinery at N = 3: the workload is valid and every measurement runs.

These tests check outputs, never timings.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from obscompile.cli import main
from tests.conftest import REPO

_spec = importlib.util.spec_from_file_location(
    "workload", REPO / "bench" / "workload.py"
)
assert _spec is not None and _spec.loader is not None
workload = sys.modules.setdefault("workload", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(workload)

SERVICES = 3
PANELS = 30
PANEL_TYPES = {
    "stat",
    "gauge",
    "timeseries",
    "table",
    "barchart",
    "piechart",
    "heatmap",
}
THRESHOLD_SHAPES = [
    "<1% Green, 1-5% Yellow, >5% Red",
    ">99% Green, 95-99% Yellow, <95% Red",
    "<300ms Green, 300-800ms Yellow, >800ms Red",
    "0 Green, 1-5 Yellow, >5 Red",
    "1=Green, 0=Red",
    "primary <2s, replica <5s",
    "<80% pool Green",
    '"Green"',
]


def dashboard_panels(document: dict) -> list[dict]:
    return [panel for panel in document["panels"] if panel["type"] != "row"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated project of three services, built by the CLI."""
    project = tmp_path_factory.mktemp("workload")
    workload.write_project(project, SERVICES, PANELS)
    result = CliRunner().invoke(
        main, ["build", "--project", str(project), "--no-cache"]
    )
    assert result.exit_code == 0, result.stderr
    return project


def test_workload_passes_every_check(built: Path) -> None:
    result = CliRunner().invoke(
        main, ["check", "--project", str(built), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []


def test_workload_covers_every_shape(built: Path) -> None:
    text = "\n".join(p.read_text() for p in sorted((built / "services").glob("*.yaml")))
    for shape in THRESHOLD_SHAPES:
        assert shape in text, shape
    assert "stack: true" in text
    assert "capacity: 20" in text
    assert "use: http_api_health" in text
    assert "by (le))" in text
    assert "sum by (source, le)" in text
    assert "[1h]" in text
    assert "[24h]" in text
    assert "* 60" in text
    assert "* 100" in text


def test_workload_dashboards_parse(built: Path) -> None:
    paths = sorted((built / "out" / "grafana" / "dashboards").glob("*.json"))
    assert len(paths) == SERVICES
    uids = set()
    types = set()
    for path in paths:
        document = json.loads(path.read_text())
        uids.add(document["uid"])
        panels = dashboard_panels(document)
        assert len(panels) == PANELS, path.name
        types.update(panel["type"] for panel in panels)
    assert len(uids) == SERVICES
    assert types == PANEL_TYPES


def test_workload_scrape_jobs_unique(built: Path) -> None:
    config = (built / "out" / "prometheus" / "prometheus.yml").read_text()
    for index in range(1, SERVICES + 1):
        assert config.count(f"job_name: {workload.service_name(index)}\n") == 1


def test_grafanalib_baseline_dashboards(tmp_path: Path) -> None:
    pytest.importorskip("grafanalib", reason="grafanalib comes with the bench extra")
    dest = tmp_path / "dashboards"
    command = [sys.executable, str(REPO / "bench" / "grafanalib_build.py"), str(dest)]
    command += ["--services", str(SERVICES), "--panels", str(PANELS)]
    subprocess.run(command, check=True)
    paths = sorted(dest.glob("*.json"))
    assert len(paths) == SERVICES
    for path in paths:
        panels = dashboard_panels(json.loads(path.read_text()))
        assert len(panels) == PANELS, path.name


def test_run_quick_writes_results(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    work = tmp_path / "work"
    command = [
        sys.executable,
        str(REPO / "bench" / "run.py"),
        "--quick",
        "--sizes",
        "3",
    ]
    command += ["--json", str(results), "--work", str(work)]
    completed = subprocess.run(command, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    figures = json.loads(results.read_text())
    measured = figures["measurements"]
    measurements = ("python", "import", "real-first", "real", "full-3", "noop-3")
    if shutil.which("promtool"):
        measurements += ("test-1",)
    for key in (*measurements, "one-3", "grafana-3"):
        assert measured[key]["failed"] is None, (key, measured[key]["failed"])
        assert len(measured[key]["runs_s"]) == 1, key
        assert measured[key]["max_rss_bytes"] > 0, key
        assert len(measured[key]["processor_s"]) == 1, key
        assert measured[key]["median_processor_s"] > 0, key
    # The measured compiler is a byte-compiled copy, with a user cache of its own.
    assert list((work / "src" / "obscompile").glob("__pycache__/cli.*.pyc"))
    assert list((work / "user-cache" / "obscompile" / "templates").glob("*/*"))
    assert {t["name"] for t in figures["targets"]} >= {"real services, cold build"}
    assert figures["machine"]["cpus"] >= 1
    for path in (work / "n3" / "out" / "grafana" / "dashboards").glob("*.json"):
        assert len(dashboard_panels(json.loads(path.read_text()))) == PANELS
    assert "real services, cold build" in completed.stdout


@pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(), reason="Linux only")
def test_memory_sampler_reports_peak(tmp_path: Path) -> None:
    workload.write_project(tmp_path, SERVICES, PANELS)
    script = REPO / "bench" / "memory.py"
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path), "--no-cache"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("peak PSS of the build and its workers: ")
    assert "exit code 0" in result.stdout
    assert (tmp_path / "out" / "prometheus" / "prometheus.yml").is_file()


def test_source_ignores_earlier_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The figures file of an earlier run does not mark the source as changed."""
    spec = importlib.util.spec_from_file_location(
        "bench_run", REPO / "bench" / "run.py"
    )
    assert spec is not None and spec.loader is not None
    run = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_run", run)
    spec.loader.exec_module(run)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    results = tmp_path / "bench" / "results.json"
    results.parent.mkdir()
    results.write_text("{}\n", encoding="utf-8")
    (tmp_path / "code.py").write_text("", encoding="utf-8")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "start"], check=True)
    monkeypatch.setattr(run, "REPO", tmp_path)
    results.write_text('{"figures": 1}\n', encoding="utf-8")
    assert not run.source_version().endswith("with uncommitted changes")
    (tmp_path / "code.py").write_text("x = 1\n", encoding="utf-8")
    assert run.source_version().endswith(" with uncommitted changes")
