"""`obscompile --version` names the commit of the checkout it runs from."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import obscompile

PACKAGE = Path(obscompile.__file__).resolve().parent
ROOT = PACKAGE.parent.parent


def version_line(package_parent: Path, path: str | None = None) -> str:
    """Return what `obscompile --version` prints, run from `package_parent`.

    `path` replaces the PATH that finds git, when given.
    """
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    if path is not None:
        env["PATH"] = path
    done = subprocess.run(
        [sys.executable, "-m", "obscompile", "--version"],
        capture_output=True,
        text=True,
        env=env,
        cwd=package_parent,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(folder), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """Return a repository laid out as obscompile's, with this compiler committed."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    shutil.copytree(PACKAGE, repo / "compiler" / "obscompile")
    shutil.copytree(ROOT / "templates", repo / "templates")
    (repo / "README.md").write_text("obscompile\n", encoding="utf-8")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(
        repo,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.invalid",
        "commit",
        "-qm",
        "c",
    )
    return repo


def test_checkout_names_commit(checkout: Path) -> None:
    commit = git(checkout, "rev-parse", "--short=12", "HEAD")
    expected = f"obscompile, version {obscompile.__version__} (commit {commit})"
    assert version_line(checkout / "compiler") == expected
    # Files other than the compiler and its templates leave the build as committed.
    (checkout / "README.md").write_text("edited\n", encoding="utf-8")
    assert version_line(checkout / "compiler") == expected
    template = next((checkout / "templates").rglob("*.j2"))
    template.write_text(template.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert version_line(checkout / "compiler") == expected[:-1] + ", modified)"


def test_copy_outside_checkout_names_no_commit(tmp_path: Path) -> None:
    # An installed copy, here inside another repository, has no commit of its own.
    if shutil.which("git") is not None:
        git(tmp_path, "init", "-q")
    copy = tmp_path / "site-packages"
    shutil.copytree(PACKAGE, copy / "obscompile")
    assert version_line(copy) == f"obscompile, version {obscompile.__version__}"


def test_version_leaves_index_alone(checkout: Path) -> None:
    """`git status` would refresh the index of a touched file and rewrite it."""
    index = checkout / ".git" / "index"
    before = index.read_bytes()
    source = checkout / "compiler" / "obscompile" / "__init__.py"
    stamp = source.stat().st_mtime + 10
    os.utime(source, (stamp, stamp))
    assert version_line(checkout / "compiler").endswith(")")
    assert index.read_bytes() == before


def test_hanging_git_status_leaves_state_unknown(
    checkout: Path, tmp_path: Path
) -> None:
    """A git that does not respond in time gives the commit, without the state."""
    real_git = shutil.which("git")
    fake = tmp_path / "bin" / "git"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        # The test's folder name contains "status" too, so the match needs spaces.
        'case "$*" in *" status "*) exec sleep 60;; esac\n'
        f'exec {real_git} "$@"\n',
        encoding="utf-8",
    )
    fake.chmod(0o755)
    commit = git(checkout, "rev-parse", "--short=12", "HEAD")
    path = f"{fake.parent}{os.pathsep}{os.environ['PATH']}"
    line = version_line(checkout / "compiler", path)
    assert line == (
        f"obscompile, version {obscompile.__version__} (commit {commit}, "
        "not known whether modified)"
    )
