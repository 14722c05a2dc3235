"""Shared fixtures: the repository's paths, a built project, Grafana's schemas."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from obscompile.pipeline import BuildResult, Project, build

REPO = Path(__file__).resolve().parents[1]
SERVICES = REPO / "services"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--slow",
        action="store_true",
        default=False,
        help="run more property-test examples",
    )


@pytest.fixture(scope="session", autouse=True)
def user_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A user cache folder of the test session's own, so that no test writes in ~/.cache."""
    folder = tmp_path_factory.mktemp("user-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(folder))
        yield folder


@pytest.fixture(scope="session", autouse=True)
def child_temporary_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A temporary folder for the programs that tests start, inside the session's own.

    promtool makes a `test_storage*` folder for each test group in `$TMPDIR` and leaves
    it there when it stops on a bad file, so tests that run it on hundreds of mutated
    files would otherwise fill /tmp. Python's own temporary folder is already fixed by
    then, so only child processes see the change.
    """
    folder = tmp_path_factory.mktemp("child-tmp")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", str(folder))
        yield folder


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def real_build() -> BuildResult:
    """A build of the repository's own services, in memory."""
    result = build(Project.at(REPO))
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    return result


@pytest.fixture(scope="session")
def dashboards(real_build: BuildResult) -> dict[str, dict]:
    """The four dashboards keyed by uid, parsed."""
    return {
        Path(name).stem: json.loads(text)
        for name, text in real_build.files.items()
        if name.startswith("grafana/dashboards/")
    }


def write_manifest(folder: Path, name: str, text: str) -> Path:
    """Write a manifest into `folder/services/` and return the project folder."""
    services = folder / "services"
    services.mkdir(parents=True, exist_ok=True)
    (services / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder that is also the working directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "services").mkdir()
    return tmp_path


def grafana_schema_dir() -> Path:
    return Path(
        os.environ.get(
            "OBSCOMPILE_GRAFANA_SCHEMA", REPO.parent / "shared" / "grafana-schema"
        )
    )
