"""Hostile input gets a clear error within seconds and bounded memory."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_manifest


def run_cli(
    project: Path, timeout: float = 30, memory: int = 1 << 30
) -> subprocess.CompletedProcess:
    """Run a build in a child process with an address-space limit of `memory` bytes."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run(
        [sys.executable, "-m", "obscompile", "build", "--project", str(project)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=limit,
    )


def run_build(
    project: Path, *options: str, timeout: float = 60
) -> subprocess.CompletedProcess:
    """Run `obscompile build` with `options` in `project`, without a memory limit."""
    return subprocess.run(
        [sys.executable, "-m", "obscompile", "build", *options],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_clean_failure(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert message in result.stderr
    assert "MemoryError" not in result.stderr


def test_alias_bomb(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 10):
        previous = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([previous] * 9)}]")
    write_manifest(tmp_path, "bomb.yaml", "service: bomb\n" + "\n".join(lines) + "\n")
    result = run_cli(tmp_path)
    # The error is placed at the alias in a5's list whose copy passes the limit.
    assert_clean_failure(
        result, "services/bomb.yaml:7:15: error: document expands to more than"
    )
    assert "aliases count once for each use" in result.stderr


def test_large_manifest(tmp_path: Path) -> None:
    services = tmp_path / "services"
    services.mkdir()
    with open(services / "big.yaml", "w") as handle:
        handle.write("service: big\ndescription: '")
        handle.write("x" * (50 * 1024 * 1024))
        handle.write("'\n")
    result = run_cli(tmp_path)
    assert_clean_failure(result, "larger than the 5242880-byte limit")


def test_syntax_error_after_large_manifest(tmp_path: Path) -> None:
    """The hint for a YAML error at the end of a 4.7 MB manifest fits in 500 MiB."""
    rows = "".join(
        f'  - title: "row {i}"\n    panels: [{{title: p, query: up}}]\n'
        for i in range(80_000)
    )
    write_manifest(
        tmp_path, "big.yaml", "service: big\nrows:\n" + rows + "x: {a: b, c: d: e}\n"
    )
    result = run_cli(tmp_path, timeout=120, memory=500 << 20)
    assert_clean_failure(
        result,
        "services/big.yaml:160003:15: error: invalid YAML: did not find expected "
        "',' or '}' (in the flow mapping that starts at line 160003, column 4); to "
        "write it as text, quote it: c: 'd: e' [yaml/syntax]",
    )


def test_deep_nesting(tmp_path: Path) -> None:
    write_manifest(
        tmp_path, "deep.yaml", "service: deep\nx: " + "[" * 5000 + "]" * 5000 + "\n"
    )
    result = run_cli(tmp_path)
    assert_clean_failure(
        result, "services/deep.yaml:2:68: error: document is nested too deeply"
    )
    assert "nested at most 64 levels deep" in result.stderr


def test_nesting_limit_points_at_the_level(tmp_path: Path) -> None:
    write_manifest(
        tmp_path, "deep.yaml", "service: deep\nx: " + "[" * 70 + "]" * 70 + "\n"
    )
    result = run_cli(tmp_path)
    assert_clean_failure(
        result,
        "services/deep.yaml:2:68: error: document is nested more than 64 levels deep",
    )


def test_nesting_limit_names_config_file(tmp_path: Path) -> None:
    (tmp_path / "services").mkdir()
    (tmp_path / "obscompile.yaml").write_text("x: " + "[" * 70 + "]" * 70 + "\n")
    result = run_cli(tmp_path)
    assert_clean_failure(
        result,
        "obscompile.yaml:1:68: error: document is nested more than 64 levels deep, "
        "the maximum for a configuration file [yaml/limits]",
    )


@pytest.mark.parametrize("indicator", ["- ", "? "])
def test_deep_nesting_on_one_line(tmp_path: Path, indicator: str) -> None:
    """`- - - x` nests without brackets or indentation, which crashed the C parser."""
    write_manifest(
        tmp_path, "deep.yaml", "service: deep\nx:\n  " + indicator * 50_000 + "a\n"
    )
    result = run_cli(tmp_path)
    assert_clean_failure(
        result, "services/deep.yaml:3:129: error: document is nested too deeply"
    )


def test_deep_hand_written_test(tmp_path: Path) -> None:
    """The build skips a hand-written test that it cannot read, however deep."""
    write_manifest(
        tmp_path,
        "b.yaml",
        "service: b\nscrape: {job: b, port: 80}\n"
        "rows: [{title: R, panels: [{title: P, query: up}]}]\n",
    )
    tests = tmp_path / "tests" / "promtool"
    tests.mkdir(parents=True)
    (tests / "deep.yml").write_text("tests: " + "[" * 100_000 + "]" * 100_000 + "\n")
    result = run_cli(tmp_path)
    assert result.returncode == 0, result.stderr


def test_binary_bytes(tmp_path: Path) -> None:
    services = tmp_path / "services"
    services.mkdir()
    (services / "bin.yaml").write_bytes(b"service: x\n\x00\x01\x02\xff")
    result = run_cli(tmp_path)
    # The first NUL byte starts line 2.
    assert_clean_failure(
        result, "services/bin.yaml:2:1: error: file contains NUL bytes"
    )


@pytest.mark.parametrize(
    ("codec", "name"),
    [("utf-16-le", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32-le", "UTF-32")],
)
def test_wide_encoding_named(tmp_path: Path, codec: str, name: str) -> None:
    services = tmp_path / "services"
    services.mkdir()
    # The text starts with a byte order mark, as Windows PowerShell 5.1 writes it.
    (services / "win.yaml").write_bytes("\ufeffservice: x\n".encode(codec))
    result = run_cli(tmp_path)
    assert_clean_failure(result, f"services/win.yaml:1:1: error: file is {name} text")


def test_invalid_utf8(tmp_path: Path) -> None:
    services = tmp_path / "services"
    services.mkdir()
    (services / "latin.yaml").write_bytes(b"service: x\ntitle: caf\xe9\n")
    result = run_cli(tmp_path)
    assert_clean_failure(
        result, "services/latin.yaml:2:11: error: file is not valid UTF-8"
    )


# The byte 0xff, which is not UTF-8, as Python represents it in a file name.
NOT_UTF8 = os.fsdecode(b"\xff")
QUEUE_MANIFEST = """\
service: api
scrape: {job: api, port: 80}
metrics: {depth: gauge}
rows:
  - title: Queue
    panels:
      - {title: Depth, query: 'sum(depth{job="api"})', thresholds: "<5 Green, >=5 Red"}
"""


def test_non_utf8_names_build_and_test(tmp_path: Path) -> None:
    """A project, manifest and output folder whose names are not UTF-8 work."""
    project = write_manifest(
        tmp_path / f"project{NOT_UTF8}", f"api{NOT_UTF8}.yaml", QUEUE_MANIFEST
    )
    manifest = project / "services" / f"api{NOT_UTF8}.yaml"
    first = run_build(project)
    assert first.returncode == 0, first.stderr
    again = run_build(project)
    assert again.returncode == 0, again.stderr
    assert "nothing changed since the last build" in again.stderr
    # A second build into the same --out with a change keeps a spare copy.
    for title in ("Depth", "Backlog"):
        manifest.write_text(QUEUE_MANIFEST.replace("Depth", title), encoding="utf-8")
        other = run_build(project, "--out", f"out{NOT_UTF8}")
        assert other.returncode == 0, other.stderr
    tested = subprocess.run(
        [sys.executable, "-m", "obscompile", "test"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in tested.stderr
    assert "promtool passed" in tested.stderr


def test_symlink_outside_project(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text("service: stolen\n")
    project = tmp_path / "project"
    (project / "services").mkdir(parents=True)
    (project / "services" / "link.yaml").symlink_to(outside)
    result = run_cli(project)
    assert_clean_failure(
        result, "services/link.yaml:1:1: error: manifest is a symbolic link to"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path: Path) -> None:
    path = (
        write_manifest(tmp_path, "secret.yaml", "service: x\n")
        / "services"
        / "secret.yaml"
    )
    path.chmod(0)
    result = run_cli(tmp_path)
    assert_clean_failure(
        result,
        "services/secret.yaml:1:1: error: cannot read manifest: Permission denied",
    )


def test_unreadable_file_as_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading fails where permissions cannot stop root: a folder, a missing file."""
    from obscompile.load.yaml_source import read_yaml_file

    directory = tmp_path / "folder.yaml"
    directory.mkdir()
    source, diagnostics = read_yaml_file(directory, "services/folder.yaml")
    assert source is None
    assert [str(d) for d in diagnostics] == [
        "services/folder.yaml:1:1: error: cannot read manifest: it is a folder, not a "
        "regular file; replace it with a regular file [io/not-a-file]"
    ]
    source, diagnostics = read_yaml_file(tmp_path / "gone.yaml", "services/gone.yaml")
    assert source is None
    assert [str(d) for d in diagnostics] == [
        "services/gone.yaml:1:1: error: cannot read manifest: No such file or "
        "directory [io/read]"
    ]


EXTREME_NUMBERS = [
    "1" + "0" * 400,
    "-1" + "0" * 400,
    "10000000000000000",
    "1.7976931348623157e308",
    "-1.7976931348623157e308",
    "1e308",
    "5e-324",
    "-1",
    "0",
]

NUMBER_SLOTS = {
    "decimals": "decimals: {n}",
    "min": "min: {n}",
    "max": "max: {n}",
    "height": "height: {n}",
    "capacity": "capacity: {n}, unit: short, thresholds: '<80% pool Green, >=80% pool Red'",
    "step": "thresholds: {{steps: [green, {{value: {n}, color: red}}]}}",
    "mapping": "thresholds: {{mappings: [{{value: {n}, color: red}}]}}",
    "bucket": None,
}


@pytest.mark.parametrize("number", EXTREME_NUMBERS)
@pytest.mark.parametrize("slot", list(NUMBER_SLOTS))
def test_extreme_numbers_build_or_fail_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slot: str, number: str
) -> None:
    """Any number in any numeric field either builds or gets a located error."""
    from obscompile.pipeline import Project, build

    monkeypatch.chdir(tmp_path)
    template = NUMBER_SLOTS[slot]
    extra = "" if template is None else ", " + template.format(n=number)
    buckets = f"[0.1, {number}]" if template is None else "[0.1, 1]"
    write_manifest(
        tmp_path,
        "a.yaml",
        "service: a\nscrape: {job: a, port: 80}\n"
        "metrics:\n  jobs_total: counter\n"
        f"  latency_seconds: {{type: histogram, buckets: {buckets}}}\n"
        "rows:\n  - title: R\n    panels:\n"
        "      - {title: Jobs, query: 'sum(rate(jobs_total{job=\"a\"}[5m]))'"
        f"{extra}}}\n",
    )
    result = build(Project.at(tmp_path))
    errors = [d for d in result.diagnostics if d.severity == "error"]
    assert result.ok == (not errors)
    for diagnostic in errors:
        assert diagnostic.location.file == "services/a.yaml"
        assert diagnostic.location.line > 1


def test_alias_of_itself(tmp_path: Path) -> None:
    write_manifest(tmp_path, "loop.yaml", "service: loop\nrows: &rows [*rows]\n")
    result = run_cli(tmp_path)
    assert_clean_failure(
        result,
        "services/loop.yaml:2:14: error: this alias is inside the collection that it "
        "repeats, so the document never ends [yaml/limits]",
    )


def test_native_crash_prints_python_stack(tmp_path: Path) -> None:
    """A crash in native code names where Python was, as --jobs 1 advice promises."""
    services = tmp_path / "services"
    services.mkdir()
    (services / "crash.py").write_text(
        "from obscompile import dsl\nimport ctypes\n\nctypes.string_at(0)\n"
    )
    result = run_build(tmp_path, "--jobs", "1")
    assert result.returncode == -11, result.stderr
    assert "Fatal Python error: Segmentation fault" in result.stderr
    assert f'File "{services / "crash.py"}", line 4' in result.stderr
