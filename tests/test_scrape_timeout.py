"""thresholds/scrape-timeout: scrape duration bounds that only a failed scrape reaches.

Each case builds a project with the real loader and pipeline, so the scrape timeout
comes from the manifest, obscompile.yaml or a local run, as in a real build.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from obscompile.derive.local import LocalOverrides
from obscompile.pipeline import Project, build
from tests.conftest import write_manifest

NAME = "thresholds/scrape-timeout"
ADVICE = (
    "Prometheus fails a scrape that takes that long and reports the target down, "
    "so the band colours only targets that are down; write a bound below"
)


def _warnings(project: Path, local: LocalOverrides | None = None) -> list[str]:
    result = build(Project.at(project), local=local)
    assert result.ok, [str(d) for d in result.diagnostics]
    return [str(d) for d in result.diagnostics if d.check == NAME]


def _scrape_health(scrape: str, parameters: str) -> str:
    """Return services/api.yaml with `parameters` of scrape_health on line 5."""
    return (
        f"service: api\nscrape: {scrape}\nrows:\n  - use: scrape_health\n"
        f"    with: {{job: api, {parameters}}}\n"
    )


def test_red_bound_at_default_timeout(project: Path) -> None:
    write_manifest(
        project,
        "api.yaml",
        _scrape_health(
            "{job: api, port: 80}", "duration_yellow: 10s, duration_red: 12s"
        ),
    )
    assert _warnings(project) == [
        'services/api.yaml:5:39: warning: the yellow band of panel "Scrape Duration '
        '(api)" starts at 10s, at or above the scrape timeout of job "api", 10s '
        f"(Prometheus' default scrape_timeout). {ADVICE} 10s [{NAME}]",
        'services/api.yaml:5:58: warning: the red band of panel "Scrape Duration '
        '(api)" starts at 12s, at or above the scrape timeout of job "api", 10s '
        f"(Prometheus' default scrape_timeout). {ADVICE} 10s [{NAME}]",
    ]


def test_bounds_below_timeout_pass(project: Path) -> None:
    write_manifest(
        project,
        "api.yaml",
        _scrape_health("{job: api, port: 80}", "duration_yellow: 5s, duration_red: 9s"),
    )
    assert _warnings(project) == []


@pytest.mark.parametrize(
    ("scrape", "bound", "timeout", "origin"),
    [
        pytest.param(
            "{job: api, port: 80, timeout: 5s}",
            "5",
            "5s",
            "the job's timeout, set at services/api.yaml:2:39",
            id="number-at-job-timeout",
        ),
        pytest.param(
            "{job: api, port: 80, interval: 4s}",
            "4s",
            "4s",
            "the job's interval, set at services/api.yaml:2:40, to which Prometheus "
            "shortens the global scrape_timeout of 10s",
            id="job-interval",
        ),
    ],
)
def test_timeout_of_job(
    project: Path, scrape: str, bound: str, timeout: str, origin: str
) -> None:
    """The job's own timeout or interval wins, and a number is in seconds."""
    write_manifest(
        project, "api.yaml", _scrape_health(scrape, f"duration_red: {bound}")
    )
    assert _warnings(project) == [
        'services/api.yaml:5:36: warning: the red band of panel "Scrape Duration '
        f'(api)" starts at {timeout}, at or above the scrape timeout of job "api", '
        f"{timeout} ({origin}). {ADVICE} {timeout} [{NAME}]",
    ]


@pytest.mark.parametrize(
    ("config", "timeout", "origin"),
    [
        (
            "scrape_timeout: 8s\n",
            "8s",
            "the scrape_timeout of obscompile.yaml",
        ),
        (
            "scrape_interval: 6s\n",
            "6s",
            "the scrape_interval of obscompile.yaml, to which Prometheus shortens its "
            "default scrape_timeout of 10s",
        ),
    ],
)
def test_timeout_of_project_config(
    project: Path, config: str, timeout: str, origin: str
) -> None:
    (project / "obscompile.yaml").write_text(config, encoding="utf-8")
    write_manifest(
        project, "api.yaml", _scrape_health("{job: api, port: 80}", "duration_red: 9s")
    )
    assert _warnings(project) == [
        'services/api.yaml:5:36: warning: the red band of panel "Scrape Duration '
        f'(api)" starts at 9s, at or above the scrape timeout of job "api", {timeout} '
        f"({origin}). {ADVICE} {timeout} [{NAME}]",
    ]


def test_timeout_of_local_run(project: Path) -> None:
    write_manifest(
        project, "api.yaml", _scrape_health("{job: api, port: 80}", "duration_red: 3s")
    )
    found = _warnings(project, LocalOverrides(scrape_interval="2s"))
    assert found == [
        'services/api.yaml:5:36: warning: the red band of panel "Scrape Duration '
        '(api)" starts at 3s, at or above the scrape timeout of job "api", 2s (the '
        "--scrape-interval of this local run, to which the global scrape_timeout is "
        f"shortened). {ADVICE} 2s [{NAME}]",
    ]
    assert _warnings(project) == []


def test_python_bound_at_argument(project: Path) -> None:
    write_manifest(
        project,
        "api.py",
        "from obscompile import dsl\n\n"
        'dsl.service("api", scrape=dsl.scrape_job("api", port=80), rows=[\n'
        '    dsl.use("scrape_health", job="api", duration_red="15s"),\n'
        "])\n",
    )
    assert _warnings(project) == [
        'services/api.py:4:54: warning: the red band of panel "Scrape Duration '
        '(api)" starts at 15s, at or above the scrape timeout of job "api", 10s '
        f"(Prometheus' default scrape_timeout). {ADVICE} 10s [{NAME}]",
    ]


def test_written_panel_bound(project: Path) -> None:
    """A panel written in the manifest gets the warning at the number of its text."""
    write_manifest(
        project,
        "api.yaml",
        "service: api\nscrape: {job: api, port: 80, interval: 1m, timeout: 30s}\n"
        "rows:\n  - title: Scrapes\n    panels:\n"
        "      - title: Slowest scrape\n"
        '        query: max(scrape_duration_seconds{job="api"})\n'
        '        thresholds: "<10s Green, 10s-40s Yellow, >40s Red"\n',
    )
    assert _warnings(project) == [
        'services/api.yaml:8:51: warning: the red band of panel "Slowest scrape" '
        'starts at 40s, at or above the scrape timeout of job "api", 30s (the '
        "job's timeout, set at services/api.yaml:2:53). "
        f"{ADVICE} 30s [{NAME}]",
    ]
