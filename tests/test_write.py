"""Writes into out/: atomic replacement, the record of written files, --check, locking."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from obscompile.cli import main
from obscompile.write.atomic import RECORD, WriteError, read_record, write_tree
from tests.conftest import REPO


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_first_write_records_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = write_tree(out, {"a/b.json": "{}\n", "c.yml": "x: 1\n"})
    assert result.written == ("a/b.json", "c.yml")
    assert read_record(out) == ["a/b.json", "c.yml"]
    assert (out / "a/b.json").read_text() == "{}\n"


def test_rebuild_removes_only_own_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(out, {"old.json": "1\n", "keep.json": "2\n"})
    (out / "README.md").write_text("hand-written\n")
    (out / "sub").mkdir()
    (out / "sub" / "notes.txt").write_text("mine\n")
    result = write_tree(out, {"keep.json": "3\n"})
    assert result.removed == ("old.json",)
    assert not (out / "old.json").exists()
    assert (out / "keep.json").read_text() == "3\n"
    assert (out / "README.md").read_text() == "hand-written\n"
    assert (out / "sub" / "notes.txt").read_text() == "mine\n"


def test_unchanged_build_rewrites_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(out, {"a.json": "1\n"})
    inode = (out / "a.json").stat().st_ino
    result = write_tree(out, {"a.json": "1\n"})
    assert result.unchanged
    assert (out / "a.json").stat().st_ino == inode


def test_one_change_links_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(out, {"same.json": "1\n", "edited.json": "2\n"})
    same = (out / "same.json").stat().st_ino
    edited = (out / "edited.json").stat().st_ino
    result = write_tree(out, {"same.json": "1\n", "edited.json": "3\n"})
    assert not result.unchanged
    assert (out / "same.json").stat().st_ino == same
    assert (out / "edited.json").stat().st_ino != edited
    assert (out / "edited.json").read_text() == "3\n"


def test_edited_output_is_rewritten(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(out, {"a.json": "1\n", "b.json": "2\n"})
    (out / "a.json").write_text("edited by hand\n")
    write_tree(out, {"a.json": "1\n", "b.json": "3\n"})
    assert (out / "a.json").read_text() == "1\n"


def test_refuses_to_replace_foreign_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.json").write_text("someone else's\n")
    try:
        write_tree(out, {"a.json": "1\n"})
    except WriteError as exc:
        assert "did not write" in str(exc)
    else:
        raise AssertionError("a foreign file was replaced")
    assert (out / "a.json").read_text() == "someone else's\n"


def test_refuses_file_in_place_of_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(out, {"a.json": "1\n"})
    (out / "grafana").write_text("mine\n")
    with pytest.raises(
        WriteError, match="has files where obscompile writes folders: grafana"
    ):
        write_tree(out, {"a.json": "1\n", "grafana/dashboards/x.json": "{}\n"})
    assert (out / "grafana").read_text() == "mine\n"


def test_refuses_folder_in_place_of_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(out, {"a/b.yml": "1\n"})
    (out / "a" / "b.yml").unlink()
    (out / "a" / "b.yml").mkdir()
    (out / "a" / "b.yml" / "notes.txt").write_text("mine\n")
    with pytest.raises(
        WriteError, match="has folders where obscompile writes files: a/b.yml"
    ):
        write_tree(out, {"a/b.yml": "1\n"})
    assert (out / "a" / "b.yml" / "notes.txt").read_text() == "mine\n"


def test_failed_write_is_in_json_report(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "services").mkdir(parents=True)
    (project / "services" / "a.yaml").write_text(
        "service: a\nrows: [{title: R, panels: [{title: p, query: up}]}]\n"
    )
    (project / "out").mkdir()
    (project / "out" / "grafana").write_text("mine\n")
    args = ["build", "--project", str(project), "--format", "json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    (failed,) = json.loads(result.stdout)
    assert failed["check"] == "out/write"
    assert "has files where obscompile writes folders: grafana" in failed["message"]


def test_refuses_paths_outside(tmp_path: Path) -> None:
    for name in ("../escape.json", "/etc/x", "a/../../b"):
        try:
            write_tree(tmp_path / "out", {name: "x"})
        except WriteError:
            continue
        raise AssertionError(f"{name} was written")
    assert not (tmp_path / "escape.json").exists()


def test_build_check_reports_stale(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "services").mkdir(parents=True)
    (project / "services" / "a.yaml").write_text(
        "service: a\nrows: [{title: R, panels: [{title: p, query: up}]}]\n"
    )
    runner = CliRunner()
    args = ["build", "--project", str(project)]
    result = runner.invoke(main, [*args, "--check"])
    assert result.exit_code == 1
    assert "is stale" in result.output
    assert not (project / "out").exists()

    assert runner.invoke(main, args).exit_code == 0
    result = runner.invoke(main, [*args, "--check"])
    assert result.exit_code == 0, result.output

    dashboard = project / "out/grafana/dashboards/a.json"
    dashboard.write_text(
        dashboard.read_text().replace('"title": "p"', '"title": "edited"')
    )
    result = runner.invoke(main, [*args, "--check"])
    assert result.exit_code == 1
    assert "grafana/dashboards/a.json: differs from a fresh build" in result.output

    result = runner.invoke(main, [*args, "--check", "--format", "json"])
    assert result.exit_code == 1
    (stale,) = json.loads(result.stdout)
    assert stale["file"] == str(dashboard)
    assert stale["check"] == "out/stale"
    assert stale["severity"] == "error"

    dashboard.unlink()
    result = runner.invoke(main, [*args, "--check"])
    assert result.exit_code == 1
    assert "a.json: missing; a fresh build writes it" in result.output


def test_repository_out_is_current() -> None:
    """The committed out/ equals a fresh build of services/."""
    result = CliRunner().invoke(main, ["build", "--project", str(REPO), "--check"])
    assert result.exit_code == 0, result.output


KILLER = textwrap.dedent(
    """\
    import os, sys, time
    from pathlib import Path
    import obscompile.write.atomic as atomic

    real_write = atomic.open if hasattr(atomic, "open") else open
    count = 0

    def slow_open(*args, **kwargs):
        global count
        count += 1
        if count == int(sys.argv[2]):
            Path(sys.argv[3]).write_text("ready")
            time.sleep(60)
        return real_write(*args, **kwargs)

    atomic.open = slow_open
    files = {f"f{i:03}.json": f"new {i}\\n" for i in range(50)}
    atomic.write_tree(Path(sys.argv[1]), files)
    """
)


def test_killed_build_leaves_old_or_new(tmp_path: Path) -> None:
    """A build killed midway by a signal leaves the previous complete tree."""
    out = tmp_path / "out"
    write_tree(out, {f"f{i:03}.json": f"old {i}\n" for i in range(50)})
    before = _snapshot(out)
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    for stop_at in (1, 25, 50):
        ready = tmp_path / f"ready-{stop_at}"
        process = subprocess.Popen(
            [sys.executable, str(script), str(out), str(stop_at), str(ready)]
        )
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ready.exists(), "the build never reached the write"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert _snapshot(out) == before
    write_tree(out, {"new.json": "1\n"})
    assert _snapshot(out) == {"new.json": b"1\n", RECORD: (out / RECORD).read_bytes()}
    assert not list(tmp_path.glob(".obscompile-tmp-*"))


CONCURRENT = textwrap.dedent(
    """\
    import sys
    from pathlib import Path
    from obscompile.write.atomic import write_tree
    tag = sys.argv[2]
    for round in range(20):
        write_tree(Path(sys.argv[1]), {f"f{i}.json": f"{tag} {round}\\n" for i in range(20)})
    """
)


def test_concurrent_builds_stay_consistent(tmp_path: Path) -> None:
    out = tmp_path / "out"
    script = tmp_path / "writer.py"
    script.write_text(CONCURRENT)
    processes = [
        subprocess.Popen([sys.executable, str(script), str(out), tag])
        for tag in ("a", "b")
    ]
    for process in processes:
        assert process.wait(timeout=120) == 0
    contents = {p.read_text() for p in out.glob("f*.json")}
    assert len(contents) == 1
    assert json.loads((out / RECORD).read_text())["files"] == sorted(
        f"f{i}.json" for i in range(20)
    )
