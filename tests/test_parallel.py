"""Worker processes of a build end with the build's process, however it ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import obscompile.parallel
from tests.conftest import REPO

# The builds start workers (at least parallel.MIN_SERVICES services) and run long
# enough to be killed while the workers compute.
SERVICES = 40
PANELS = 30
# Seconds to wait for the workers to start, and then for them to end.
START_TIMEOUT = 60.0
END_TIMEOUT = 5.0

# A build whose workers cannot set a parent-death signal, as on a system without
# prctl, so that they watch for the build's end instead.
WITHOUT_PRCTL = (
    "import obscompile.parallel\n"
    "from obscompile.cli import run\n"
    "obscompile.parallel._kill_on_parent_death = lambda: False\n"
    "run()\n"
)

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="finds processes through /proc"
)


@pytest.fixture(scope="module")
def big_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("big-project")
    subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "workload.py"),
            str(project),
            "--services",
            str(SERVICES),
            "--panels",
            str(PANELS),
        ],
        check=True,
        capture_output=True,
    )
    return project


def process_stats() -> Iterator[tuple[int, list[str]]]:
    """Yield each live process's id and the fields of /proc/PID/stat after its name."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text(encoding="utf-8")
        except OSError:  # the process ended while the folder was read
            continue
        # The name, in brackets, may contain spaces and brackets itself.
        fields = text.rpartition(")")[2].split()
        if fields[0] != "Z":
            yield int(entry.name), fields


def children(parent: int) -> list[int]:
    return [pid for pid, fields in process_stats() if int(fields[1]) == parent]


def in_session(session: int) -> list[int]:
    return [pid for pid, fields in process_stats() if int(fields[3]) == session]


def wait_for(condition: str, check: Callable[[], object], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting until {condition}")
        time.sleep(0.05)


@pytest.mark.parametrize(
    "signal_number", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"]
)
@pytest.mark.parametrize(
    "command",
    [["-m", "obscompile"], ["-c", WITHOUT_PRCTL]],
    ids=["prctl", "watch"],
)
def test_workers_end_with_build(
    big_project: Path, command: list[str], signal_number: signal.Signals
) -> None:
    # The build leads a session of its own, which its workers inherit and keep after
    # the build's end, when their parent is another process.
    build = subprocess.Popen(
        [sys.executable, *command, "build", "--no-cache", "--jobs", "2"],
        cwd=big_project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for("the build starts workers", lambda: children(build.pid), START_TIMEOUT)
        build.send_signal(signal_number)
        assert build.wait(timeout=END_TIMEOUT) == -signal_number
        wait_for("the workers end", lambda: not in_session(build.pid), END_TIMEOUT)
    finally:
        build.kill()
        build.wait()
        # Linux reuses no process id that a session still has as its id.
        if in_session(build.pid):
            os.killpg(build.pid, signal.SIGKILL)


def test_worker_of_ended_build_ends() -> None:
    """A worker whose build ended before it could set the signal ends at once."""
    pid = os.fork()
    if pid == 0:
        # The child's own id is never its parent's id, so the build looks ended.
        try:
            obscompile.parallel._end_with_build(os.getpid())
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status)
    assert os.WTERMSIG(status) == signal.SIGKILL


def running(pid: int) -> bool:
    """Return True when the process `pid` is running or ready to run."""
    text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    return text.rpartition(")")[2].split()[0] == "R"


def test_default_jobs_leaves_busy_processors_out() -> None:
    """With a busy loop on every processor, a build computes in its own process."""
    processors = len(os.sched_getaffinity(0))
    loops = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(processors)
    ]
    try:
        wait_for(
            "the loops run",
            lambda: all(running(loop.pid) for loop in loops),
            START_TIMEOUT,
        )
        assert obscompile.parallel.default_jobs() == 1
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


@pytest.mark.parametrize(
    ("text", "busy"),
    [
        ("0.52 0.40 0.31 1/120 4711\n", 0),
        ("7.30 7.27 7.06 5/148 4711\n", 4),
        ("0.00 0.00 0.00\n", 0),
        ("", 0),
    ],
)
def test_busy_processors_reads_loadavg(tmp_path: Path, text: str, busy: int) -> None:
    loadavg = tmp_path / "loadavg"
    loadavg.write_text(text, encoding="ascii")
    assert obscompile.parallel.busy_processors(str(loadavg)) == busy
    assert obscompile.parallel.busy_processors(str(tmp_path / "missing")) == 0
