"""The progress line of a build: shown on a terminal once a build runs a second.

A build writes `\\robscompile: <stage>` to stderr while it runs and clears the line
before its summary. Where stderr is no terminal, or the CI variable is set, it writes
no progress at all, so logs keep the diagnostics and the summary alone.
"""

from __future__ import annotations

import importlib.util
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

_spec = importlib.util.spec_from_file_location(
    "workload", REPO / "bench" / "workload.py"
)
assert _spec is not None and _spec.loader is not None
workload = sys.modules.setdefault("workload", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(workload)

# Enough services that a build without the cache runs well over a second.
SERVICES = 40
PANELS = 30


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("progress")
    workload.write_project(root, SERVICES, PANELS)
    return root


def _environment(ci: bool) -> dict[str, str]:
    """Return the build's environment, with or without the CI variable."""
    environment = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        environment["CI"] = "true"
    return environment


def _build_on_terminal(project: Path, ci: bool = False) -> str:
    """Run a build with stderr on a pseudo-terminal, and return what it wrote there."""
    leader, follower = pty.openpty()
    command = [sys.executable, "-m", "obscompile", "build", "--no-cache"]
    process = subprocess.Popen(
        [*command, "--project", str(project)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env=_environment(ci),
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closes when the build ends
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=600) == 0
    # The terminal writes each newline as \r\n.
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


def test_progress_shown_on_terminal(project: Path) -> None:
    written = _build_on_terminal(project)

    assert "\robscompile: " in written
    # The line is cleared before the summary, which ends the output.
    last = written.rsplit("\r", 1)[-1]
    assert last.startswith(f"obscompile: {SERVICES} services")


def test_progress_quiet_under_ci(project: Path) -> None:
    written = _build_on_terminal(project, ci=True)

    assert "\r" not in written
    assert written.strip().startswith(f"obscompile: {SERVICES} services")


def test_progress_quiet_in_pipe(project: Path) -> None:
    command = [sys.executable, "-m", "obscompile", "build", "--no-cache"]
    result = subprocess.run(
        [*command, "--project", str(project)],
        capture_output=True,
        text=True,
        env=_environment(ci=False),
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr
    assert result.stderr.startswith(f"obscompile: {SERVICES} services")
