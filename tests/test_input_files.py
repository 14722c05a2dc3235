"""Every project file is read only when it is a regular file within its kind's limit.

Each command runs in a child process with an address-space limit and a timeout. So a
read of /dev/zero fails with a MemoryError instead of taking the machine's memory, and
a named pipe that blocks a read fails the test by its timeout instead of hanging the
suite.
Files over a limit are sparse, so they take no disk space and are never read.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from obscompile.load.input_file import (
    CONFIG,
    MANIFEST,
    PYTHON_MODULE,
    TEMPLATE,
    FileKind,
    InputFileError,
    read_input_bytes,
)
from tests.conftest import write_manifest

ADDRESS_SPACE_BYTES = 1 << 30
MANIFEST_TEXT = """\
service: payments
scrape: {job: payments, port: 8080}
metrics:
  jobs_total: counter
rows:
  - title: Jobs
    panels:
      - {title: Rate, query: 'sum(rate(jobs_total{job="payments"}[5m]))'}
"""
ALERTING_MANIFEST = MANIFEST_TEXT.replace(
    "[5m]))'}", "[5m]))', thresholds: '<5 Green, >=5 Red'}"
)


def run(project: Path, *arguments: str) -> subprocess.CompletedProcess:
    """Run `obscompile` with `arguments` in `project`, with 1 GiB of address space."""

    def limit() -> None:
        resource.setrlimit(
            resource.RLIMIT_AS, (ADDRESS_SPACE_BYTES, ADDRESS_SPACE_BYTES)
        )

    return subprocess.run(
        [sys.executable, "-m", "obscompile", *arguments],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit,
    )


def assert_rejected(result: subprocess.CompletedProcess, message: str) -> None:
    assert "Traceback" not in result.stderr
    assert message in result.stderr
    assert result.returncode == 1, result.stderr


def link_to_zero(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to("/dev/zero")
    return "it is a symbolic link to /dev/zero, which is a character device, not a "


def named_pipe(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return "it is a named pipe, not a regular file"


SPECIAL_FILES: dict[str, Callable[[Path], str]] = {
    "dev-zero": link_to_zero,
    "named-pipe": named_pipe,
}


def sparse_file(path: Path, size: int) -> None:
    """Create a file of `size` zero bytes that takes no disk space."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.truncate(size)


def over_limit(kind: FileKind) -> str:
    size = kind.max_bytes + 1
    return f"file is {size} bytes, larger than the {kind.max_bytes}-byte limit"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_manifest(tmp_path, "payments.yaml", MANIFEST_TEXT)


# -- files that obscompile reads ------------------------------------------------------


@pytest.mark.parametrize("special", list(SPECIAL_FILES))
@pytest.mark.parametrize(
    ("name", "noun"),
    [
        ("obscompile.yaml", "configuration file"),
        ("blocks/team.py", "Python module"),
        ("templates/grafana/dashboard.json.j2", "template"),
        ("templates/grafana/own.j2", "template"),
    ],
)
def test_special_file_rejected(
    project: Path, special: str, name: str, noun: str
) -> None:
    reason = SPECIAL_FILES[special](project / name)
    result = run(project, "build")
    assert_rejected(result, f"{name}:1:1: error: cannot read {noun}: {reason}")
    assert "[io/not-a-file]" in result.stderr
    assert not (project / "out").exists()


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("obscompile.yaml", CONFIG),
        ("blocks/team.py", PYTHON_MODULE),
        ("services/generated.py", PYTHON_MODULE),
        ("templates/grafana/dashboard.json.j2", TEMPLATE),
    ],
)
def test_file_over_limit_rejected(project: Path, name: str, kind: FileKind) -> None:
    sparse_file(project / name, kind.max_bytes + 1)
    result = run(project, "build")
    assert_rejected(result, f"{name}:1:1: error: {over_limit(kind)} for a {kind.noun}")
    assert not (project / "out").exists()


@pytest.mark.parametrize("special", list(SPECIAL_FILES))
def test_hand_written_test_special_file(project: Path, special: str) -> None:
    if shutil.which("promtool") is None:
        pytest.fail(
            "promtool is not installed; install it with apt-get install prometheus"
        )
    assert run(project, "build").returncode == 0
    reason = SPECIAL_FILES[special](project / "tests/promtool/extra.yml")
    result = run(project, "test")
    assert_rejected(
        result,
        "tests/promtool/extra.yml:1:1: error: cannot read promtool test file: "
        + reason,
    )
    assert "no test was run" in result.stderr


def test_rule_file_of_hand_written_test(tmp_path: Path) -> None:
    if shutil.which("promtool") is None:
        pytest.fail(
            "promtool is not installed; install it with apt-get install prometheus"
        )
    project = write_manifest(tmp_path, "payments.yaml", ALERTING_MANIFEST)
    assert run(project, "build").returncode == 0
    rules = project / "rules" / "extra.rules.yml"
    reason = link_to_zero(rules)
    (project / "tests/promtool").mkdir(parents=True)
    (project / "tests/promtool/extra.test.yml").write_text(
        "rule_files: [../../rules/extra.rules.yml]\n"
        "tests:\n"
        "  - interval: 1m\n"
        "    input_series: []\n"
        "    alert_rule_test: [{eval_time: 1m, alertname: PaymentsRateRed}]\n",
        encoding="utf-8",
    )
    result = run(project, "test")
    assert_rejected(
        result,
        f"rules/extra.rules.yml:1:1: error: cannot read rule file: {reason}",
    )


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("services/huge.yaml", MANIFEST),
        ("obscompile.yaml", CONFIG),
        ("blocks/team.py", PYTHON_MODULE),
        ("templates/grafana/dashboard.json.j2", TEMPLATE),
    ],
)
def test_huge_input_not_hashed(project: Path, name: str, kind: FileKind) -> None:
    """The build cache hashes its inputs before they load, without reading this one."""
    size = 2 * ADDRESS_SPACE_BYTES
    sparse_file(project / name, size)
    result = run(project, "build")
    assert_rejected(
        result,
        f"{name}:1:1: error: file is {size} bytes, larger than the "
        f"{kind.max_bytes}-byte limit for a {kind.noun}",
    )


# -- files that obscompile writes and reads back --------------------------------------


def test_cache_special_files_read_as_missing(project: Path) -> None:
    assert run(project, "build").returncode == 0
    cache = project / ".obscompile-cache"
    (cache / "index.pickle").unlink()
    named_pipe(cache / "index.pickle")
    entries = sorted((cache / "entries").iterdir())
    assert entries
    for entry in entries:
        entry.unlink()
        link_to_zero(entry)
    write_manifest(project, "orders.yaml", "service: orders\n")
    result = run(project, "build")
    assert result.returncode == 0, result.stderr
    assert "2 services, 1 dashboard" in result.stderr


@pytest.mark.parametrize(
    "name", [".obscompile-files.json", "prometheus/prometheus.yml"]
)
def test_output_named_pipe_replaced(project: Path, name: str) -> None:
    assert run(project, "build").returncode == 0
    path = project / "out" / name
    path.unlink()
    named_pipe(path)
    result = run(project, "build")
    assert result.returncode == 0, result.stderr
    assert path.is_file()


# -- files that the build cache hashes --------------------------------------------------


def test_large_data_file_keyed_by_status(project: Path) -> None:
    """A data file larger than the address space is hashed by its status alone."""
    data = project / "blocks" / "data.bin"
    sparse_file(data, 2 * ADDRESS_SPACE_BYTES)
    first = run(project, "build")
    assert first.returncode == 0, first.stderr
    again = run(project, "build")
    assert "nothing changed since the last build" in again.stderr
    sparse_file(data, 2 * ADDRESS_SPACE_BYTES + 1)
    changed = run(project, "build")
    assert changed.returncode == 0, changed.stderr
    assert "nothing changed" not in changed.stderr


# -- the reader itself -----------------------------------------------------------------

SMALL = FileKind("test file", 10)


def test_read_at_limit(tmp_path: Path) -> None:
    path = tmp_path / "ten"
    path.write_bytes(b"0123456789")
    assert read_input_bytes(path, SMALL) == b"0123456789"


def test_read_over_limit(tmp_path: Path) -> None:
    path = tmp_path / "eleven"
    path.write_bytes(b"0123456789a")
    with pytest.raises(InputFileError) as raised:
        read_input_bytes(path, SMALL)
    assert raised.value.message == (
        "file is 11 bytes, larger than the 10-byte limit for a test file"
    )
    assert raised.value.check == "io/limits"


def test_read_folder(tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as raised:
        read_input_bytes(tmp_path, SMALL)
    assert raised.value.message == (
        "cannot read test file: it is a folder, not a regular file; replace it with "
        "a regular file"
    )
    assert raised.value.check == "io/not-a-file"


def test_read_broken_link(tmp_path: Path) -> None:
    path = tmp_path / "link"
    path.symlink_to(tmp_path / "gone")
    with pytest.raises(InputFileError) as raised:
        read_input_bytes(path, SMALL)
    assert raised.value.message == (
        f"cannot read test file: it is a symbolic link to {tmp_path / 'gone'}, "
        "which is missing"
    )
    assert raised.value.check == "io/read"


def test_docs_list_limits(repo: Path) -> None:
    from obscompile.load import input_file

    text = (repo / "docs" / "project.md").read_text(encoding="utf-8")
    section = text.split("## Limits\n", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| (.+?) \| (\d+) MiB \|$", section, re.MULTILINE))
    expected = {
        "manifest in `services/`": input_file.MANIFEST,
        "Python module in `services/` or `blocks/`": input_file.PYTHON_MODULE,
        "`obscompile.yaml`": input_file.CONFIG,
        "template in the project's `templates/`": input_file.TEMPLATE,
        "hand-written test in `tests/promtool/`, and each rule file that it names": (
            input_file.PROMTOOL_TEST
        ),
    }
    assert sorted(rows) == sorted(expected)
    for name, kind in expected.items():
        assert int(rows[name]) * input_file.MIB == kind.max_bytes, name
    assert input_file.RULE_FILE.max_bytes == input_file.PROMTOOL_TEST.max_bytes
    assert f"up to {input_file.CACHE_FILE.max_bytes // input_file.MIB} MiB" in section
    assert f"{input_file.OUTPUT_RECORD.max_bytes // input_file.MIB} MiB" in section
    assert f"{input_file.HASHED_FILE.max_bytes // input_file.MIB} MiB" in section


def test_read_allocates_the_file_size(tmp_path: Path) -> None:
    # The build reads a thousand cache files under a limit of 256 MiB each.
    path = tmp_path / "small"
    path.write_bytes(b"0123456789")
    tracemalloc.start()
    try:
        assert read_input_bytes(path, FileKind("large file", 64 * 1024 * 1024)) == (
            b"0123456789"
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs /proc")
def test_read_beyond_reported_size(tmp_path: Path) -> None:
    # Files of /proc report a size of 0 and hold more.
    status = Path("/proc/self/status")
    assert status.stat().st_size == 0
    text = read_input_bytes(status, FileKind("status file", 1024 * 1024))
    assert text.startswith(b"Name:\t")
    assert text.endswith(b"\n")
    with pytest.raises(InputFileError) as raised:
        read_input_bytes(status, SMALL)
    assert raised.value.message == (
        "file is larger than the 10-byte limit for a test file"
    )
