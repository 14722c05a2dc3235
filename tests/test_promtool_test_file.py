"""Hand-written promtool test files of the wrong shape are errors at their position."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from obscompile.pipeline import BuildResult
from obscompile.write.atomic import write_tree
from tests.conftest import REPO
from tests.test_prometheus import obscompile_test, promtool_binary, write_hand_written


def _built_project(tmp_path: Path, real_build: BuildResult) -> Path:
    """Copy the repository's services into a project folder with the built out/."""
    project = tmp_path / "project"
    shutil.copytree(REPO / "services", project / "services")
    shutil.copy(REPO / "obscompile.yaml", project / "obscompile.yaml")
    write_tree(project / "out", real_build.files)
    return project


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "",
            "1:1: error: the file is empty; a promtool test file needs "
            "`rule_files:` and `tests:` [yaml/empty]",
        ),
        (
            "# Tests to come.\n",
            "1:1: error: the file is empty; a promtool test file needs "
            "`rule_files:` and `tests:` [yaml/empty]",
        ),
        (
            "tests: " + "[" * 70 + "]" * 70 + "\n",
            "1:72: error: document is nested more than 64 levels deep, the maximum "
            "for a promtool test file [yaml/limits]",
        ),
    ],
    ids=["empty", "comment-only", "deep"],
)
def test_cli_test_places_shape_errors(
    tmp_path: Path, real_build: BuildResult, text: str, expected: str
) -> None:
    promtool_binary()
    project = _built_project(tmp_path, real_build)
    path = write_hand_written(project, "bad.test.yml", text)
    result = obscompile_test("--project", str(project))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{path}:{expected}" in result.stderr
    assert "manifest" not in result.stderr
    assert "1 error in the hand-written tests; no test was run" in result.stderr
