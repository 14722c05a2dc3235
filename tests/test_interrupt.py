"""Ctrl-C and KeyboardInterrupt: one line on stderr, exit status 130, out/ whole.

A build writes out/ with one atomic swap, so an interrupt leaves either the old tree
or the new one, and the message names which one.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

ENVIRONMENT = {**os.environ, "PYTHONPATH": str(REPO / "compiler")}


def interruptible() -> None:
    """Give the child the default SIGINT, as a command typed at a terminal has.

    A job that a shell without job control starts in the background, and so each
    process it starts, ignores SIGINT, and Python then raises no KeyboardInterrupt.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def obscompile(project: Path, *arguments: str) -> subprocess.CompletedProcess:
    return run_python(project, "-m", "obscompile", *arguments)


def run_python(project: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=project,
        env=ENVIRONMENT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        preexec_fn=interruptible,
    )


def tree(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file()
    }


def change_description(project: Path, marker: str) -> None:
    manifest = project / "services" / "svc_0001.yaml"
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(
        text.replace("description: Synthetic", f"description: {marker} Synthetic", 1),
        encoding="utf-8",
    )


def write_workload(project: Path, services: int) -> None:
    """Write the benchmark's synthetic project of `services` services, unbuilt."""
    subprocess.run(
        [sys.executable, str(REPO / "bench" / "workload.py"), "--services"]
        + [str(services), str(project)],
        env=ENVIRONMENT,
        capture_output=True,
        check=True,
        timeout=120,
    )


@pytest.fixture
def large_project(tmp_path: Path) -> tuple[Path, float]:
    """A built project of 40 services, and the seconds its full build took."""
    project = tmp_path / "project"
    write_workload(project, 40)
    started = time.monotonic()
    built = obscompile(project, "build", "--no-cache")
    assert built.returncode == 0, built.stderr
    return project, time.monotonic() - started


def test_ctrl_c_during_build(tmp_path: Path, large_project: tuple[Path, float]) -> None:
    project, seconds = large_project
    out = project / "out"
    old = tree(out)
    change_description(project, "Changed.")
    reference = tmp_path / "reference"
    built = obscompile(project, "build", "--no-cache", "--out", str(reference))
    assert built.returncode == 0, built.stderr
    new = tree(reference)
    assert new != old

    # Ctrl-C sends SIGINT to the terminal's whole process group, workers included.
    process = subprocess.Popen(
        [sys.executable, "-m", "obscompile", "build", "--no-cache"],
        cwd=project,
        env=ENVIRONMENT,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=interruptible,
    )
    time.sleep(seconds * 0.3)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == 130, stderr
    after = tree(out)
    if after == old:
        expected = "obscompile: interrupted; out is unchanged"
    else:
        assert after == new
        expected = (
            "obscompile: interrupted; out was replaced with the new build before "
            "the interrupt"
        )
    assert stderr.splitlines() == [expected]
    assert not list(project.glob(".obscompile-tmp-*"))


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("build", "obscompile: interrupted; out is unchanged"),
        ("check", "obscompile: interrupted"),
    ],
)
def test_keyboard_interrupt_in_module(
    tmp_path: Path, command: str, expected: str
) -> None:
    project = tmp_path
    services = project / "services"
    services.mkdir()
    (services / "api.yaml").write_text(
        "service: api\nscrape: {job: api, port: 80}\n"
        "rows:\n  - title: R\n    panels:\n"
        "      - {title: Up, query: 'sum(up{job=\"api\"})'}\n",
        encoding="utf-8",
    )
    built = obscompile(project, "build")
    assert built.returncode == 0, built.stderr
    old = tree(project / "out")
    (services / "worker.py").write_text(
        "from obscompile import dsl\n\n"
        'dsl.service("worker", scrape=dsl.scrape_job("worker", port=80))\n'
        "raise KeyboardInterrupt\n",
        encoding="utf-8",
    )

    result = obscompile(project, command)

    assert result.returncode == 130
    assert result.stderr.splitlines() == [expected]
    assert tree(project / "out") == old


# Seconds from the end of the import of obscompile.diagnostics, one of the first
# modules that cli.py imports, to the interrupt. They span the rest of the imports
# and the first stages of the build.
EARLY_DELAYS = (0, 0.003, 0.01, 0.02, 0.04, 0.07)


def interrupt_while_loading(
    command: list[str], project: Path, delay: float, env: dict[str, str]
) -> tuple[int, str]:
    """Run `command` and interrupt it `delay` seconds into loading the command line.

    PYTHONPROFILEIMPORTTIME makes Python write a line to stderr as each import ends,
    which shows when the command line's own modules load. Returns the exit status
    and stderr without those lines.
    """
    child = subprocess.Popen(
        command,
        cwd=project,
        env={**env, "PYTHONPROFILEIMPORTTIME": "1"},
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )
    assert child.stderr is not None
    lines = []
    for line in child.stderr:
        lines.append(line)
        if line.rsplit("|", 1)[-1].strip() == "obscompile.diagnostics":
            break
    time.sleep(delay)
    child.send_signal(signal.SIGINT)
    lines.append(child.stderr.read())
    status = child.wait(timeout=60)
    text = "".join(lines)
    return status, "".join(
        line for line in text.splitlines(True) if not line.startswith("import time:")
    )


@pytest.mark.parametrize("delay", EARLY_DELAYS)
def test_ctrl_c_while_loading(tmp_path: Path, delay: float) -> None:
    shutil.copytree(REPO / "services", tmp_path / "services")
    command = [sys.executable, "-m", "obscompile", "build"]

    status, stderr = interrupt_while_loading(command, tmp_path, delay, ENVIRONMENT)

    assert "Traceback" not in stderr
    assert status == 130, stderr
    assert len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith("obscompile: interrupted")


# A build that sends SIGINT to its own process from inside its first fork, as a Ctrl-C
# that arrives while the pool starts its workers would. CPython prints and drops an
# exception raised in an at-fork hook.
INTERRUPT_DURING_FORK = (
    "import os, signal\n"
    "sent = []\n"
    "def interrupt_once():\n"
    "    if not sent:\n"
    "        sent.append(True)\n"
    "        os.kill(os.getpid(), signal.SIGINT)\n"
    "os.register_at_fork(after_in_parent=interrupt_once)\n"
    "from obscompile.cli import run\n"
    "run()\n"
)


def test_ctrl_c_while_workers_start(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_workload(project, 20)

    result = run_python(project, "-c", INTERRUPT_DURING_FORK, "build", "--jobs", "2")

    assert result.returncode == 130, result.stderr
    assert result.stderr.splitlines() == ["obscompile: interrupted; out is not written"]
    assert not (project / "out").exists()


def test_interrupt_drops_services_not_started(tmp_path: Path) -> None:
    """An interrupt in the middle of a stage ends it without the services left."""
    started = tmp_path / "started"
    started.mkdir()
    script = (
        "import time\n"
        "from pathlib import Path\n"
        "from obscompile.parallel import map_in_workers\n"
        f"started = Path({str(started)!r})\n"
        "def task(index):\n"
        "    (started / str(index)).touch()\n"
        "    time.sleep(0.02)\n"
        "    return index\n"
        "def progress(stage, done, count):\n"
        "    if done == 1:\n"
        "        raise KeyboardInterrupt\n"
        "try:\n"
        "    map_in_workers(task, 400, 2, progress, 'check')\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted')\n"
    )
    done = run_python(tmp_path, "-c", script)
    assert done.stdout == "interrupted\n", done.stderr
    # The workers had started a few services, and none of the others run after it.
    assert 1 <= len(list(started.iterdir())) < 100
