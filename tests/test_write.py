"""Writes into out/: atomic replacement, the record of written files, --check, locking."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

import obscompile.write.atomic as atomic
import obscompile.write.foreign as foreign
from obscompile.cli import main
from obscompile.write.atomic import (
    NO_TOKEN,
    RECORD,
    Ledger,
    WriteError,
    WriteResult,
    read_record,
    stale_files,
    write_tree,
)
from obscompile.write.foreign import KEPT_SUFFIX
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


def _one_panel_project(tmp_path: Path) -> Path:
    """Return a project of one service with one panel, not built yet."""
    project = tmp_path / "project"
    (project / "services").mkdir(parents=True)
    (project / "services" / "a.yaml").write_text(
        "service: a\nrows: [{title: R, panels: [{title: p, query: up}]}]\n"
    )
    return project


def _project_with_file_in_the_way(tmp_path: Path) -> Path:
    """Return a project whose out/ has a file of its own where a folder goes."""
    project = _one_panel_project(tmp_path)
    (project / "out").mkdir()
    (project / "out" / "grafana").write_text("mine\n")
    return project


def test_failed_write_is_located(tmp_path: Path) -> None:
    project = _project_with_file_in_the_way(tmp_path)
    result = CliRunner().invoke(main, ["build", "--project", str(project)])
    assert result.exit_code == 1
    out = project / "out"
    lines = result.stderr.splitlines()
    assert lines[0] == (
        f"{out}:1:1: error: {out} has files where obscompile writes folders: grafana; "
        "move them away or delete them, then build again [out/write]"
    )
    assert lines[-1].endswith(f"; {out} could not be written")
    assert ", 1 error, 0 warnings in " in lines[-1]
    assert (out / "grafana").read_text() == "mine\n"


@pytest.mark.parametrize(
    "manifests",
    [{}, {"a.yaml": "service: a\nbogus: 1\n"}, {"_helper.yaml": "service: b\n"}],
    ids=["no-manifest", "every-manifest-fails", "only-skipped-files"],
)
def test_failed_build_leaves_project(tmp_path: Path, manifests: dict[str, str]) -> None:
    """A build that fails creates neither the build cache nor out/."""
    services = tmp_path / "services"
    services.mkdir()
    for name, text in manifests.items():
        (services / name).write_text(text, encoding="utf-8")
    before = sorted(tmp_path.rglob("*"))
    result = CliRunner().invoke(main, ["build", "--project", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert sorted(tmp_path.rglob("*")) == before
    assert result.stderr.rstrip().endswith(f"; {tmp_path / 'out'} is not written")


def test_failed_write_creates_no_cache(tmp_path: Path) -> None:
    project = _project_with_file_in_the_way(tmp_path)
    result = CliRunner().invoke(main, ["build", "--project", str(project)])
    assert result.exit_code == 1
    assert not (project / ".obscompile-cache").exists()


def test_failed_cache_update_names_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file of the cache's copy of out/ that cannot be replaced names the cache."""
    project = _project_with_file_in_the_way(tmp_path)
    shutil.rmtree(project / "out")
    runner = CliRunner()
    assert runner.invoke(main, ["build", "--project", str(project)]).exit_code == 0
    manifest = project / "services" / "a.yaml"
    manifest.write_text(manifest.read_text().replace("title: p", "title: q"))
    cache = project / ".obscompile-cache"
    unlink = os.unlink

    def fail_in_cache(path, *args, **kwargs):
        if Path(path).is_relative_to(cache):
            raise PermissionError(1, "Operation not permitted", str(path))
        return unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", fail_in_cache)
    result = runner.invoke(main, ["build", "--project", str(project)])
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith(
        f"{project / 'out'}:1:1: error: cannot update {cache}/spare/"
    )
    assert first.endswith(
        f"the build cache's copy of {project / 'out'}: Operation not permitted; the "
        f"cache may be deleted at any time, so remove {cache} and build again "
        "[out/write]"
    )
    assert ", 1 error, 0 warnings in " in result.stderr.splitlines()[-1]


def test_failed_write_is_in_json_report(tmp_path: Path) -> None:
    project = _project_with_file_in_the_way(tmp_path)
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
    project = _one_panel_project(tmp_path)
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
    assert (
        "grafana/dashboards/a.json: first differs from a fresh build" in result.output
    )

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


def test_build_check_locates_first_difference(tmp_path: Path) -> None:
    """--check names the first line of a stale file that a fresh build changes."""
    project = _one_panel_project(tmp_path)
    runner = CliRunner()
    args = ["build", "--project", str(project)]
    assert runner.invoke(main, args).exit_code == 0
    dashboard = project / "out/grafana/dashboards/a.json"
    lines = dashboard.read_text().splitlines(keepends=True)
    (edited,) = [n for n, line in enumerate(lines, 1) if '"title": "p"' in line]
    dashboard.write_text(
        "".join(lines).replace('"title": "p"', '"title": "edited"') + "extra\n"
    )

    result = runner.invoke(main, [*args, "--check"])
    assert result.exit_code == 1
    expected = f"a.json: first differs from a fresh build at line {edited}\n"
    assert expected in result.stderr

    result = runner.invoke(main, [*args, "--check", "--format", "github"])
    assert result.exit_code == 1
    assert f"file={dashboard},line={edited},col=1,title=out/stale::" in result.stdout

    # Lines added at the end are located at the first of them.
    dashboard.write_text("".join(lines) + "extra\n")
    result = runner.invoke(main, [*args, "--check", "--format", "json"])
    (stale,) = json.loads(result.stdout)
    assert stale["line"] == len(lines) + 1
    assert stale["message"].startswith(
        f"first differs from a fresh build at line {len(lines) + 1};"
    )


def test_build_check_names_user_file(tmp_path: Path) -> None:
    """--check names a file of the user's where a build would write one."""
    project = _one_panel_project(tmp_path)
    runner = CliRunner()
    args = ["build", "--project", str(project)]
    assert runner.invoke(main, args).exit_code == 0
    dashboard = project / "out/grafana/dashboards/a.json"
    dashboard.unlink()
    shutil.copy(dashboard.parent.parent / "provisioning/dashboards.yaml", dashboard)
    # The record no longer lists the file, as after a build without it.
    record = json.loads((project / "out" / RECORD).read_text())
    record["files"].remove("grafana/dashboards/a.json")
    (project / "out" / RECORD).write_text(json.dumps(record))

    result = runner.invoke(main, [*args, "--check"])
    assert result.exit_code == 1
    assert "a.json: a file that obscompile did not write" in result.output

    result = runner.invoke(main, args)
    assert result.exit_code == 1
    assert "obscompile did not write and would replace" in result.output


def test_repository_out_is_current() -> None:
    """The committed out/ equals a fresh build of services/."""
    result = CliRunner().invoke(main, ["build", "--project", str(REPO), "--check"])
    assert result.exit_code == 0, result.output


KILLER = textwrap.dedent(
    """\
    import sys, time
    from pathlib import Path
    import obscompile.write.atomic as atomic

    out, spare, stop_at, ready = sys.argv[1:]
    real_open = open
    count = 0

    def slow_open(*args, **kwargs):
        global count
        if "w" in (args[1] if len(args) > 1 else kwargs.get("mode", "r")):
            count += 1
            if count == int(stop_at):
                Path(ready).write_text("ready")
                time.sleep(60)
        return real_open(*args, **kwargs)

    atomic.open = slow_open
    files = {f"f{i:03}.json": f"new {i}\\n" for i in range(50)}
    ledger = None if spare == "-" else atomic.Ledger(tokens={}, spare=Path(spare))
    atomic.write_tree(Path(out), files, ledger)
    """
)


def _kill_when_ready(ready: Path, arguments: list[str], stop_at: int) -> None:
    """Run a writer script that pauses at its `stop_at`-th file, and kill it there."""
    command = [sys.executable, *arguments, str(stop_at), str(ready)]
    process = subprocess.Popen(command)
    deadline = time.monotonic() + 30
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ready.exists(), "the build never reached the write"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def test_killed_build_leaves_old_or_new(tmp_path: Path) -> None:
    """A build killed midway by a signal leaves the previous complete tree."""
    out = tmp_path / "out"
    write_tree(out, {f"f{i:03}.json": f"old {i}\n" for i in range(50)})
    before = _snapshot(out)
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    for stop_at in (1, 25, 50):
        arguments = [str(script), str(out), "-"]
        _kill_when_ready(tmp_path / f"ready-{stop_at}", arguments, stop_at)
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


SLOW_BLOCK = textwrap.dedent(
    """\
    import time
    from pathlib import Path
    from obscompile import dsl

    @dsl.block("slow_row")
    def slow_row(flags: str):
        started, go = Path(flags, "started"), Path(flags, "go")
        if not started.exists():
            # The first build to load the manifest waits here until the test writes go.
            started.write_text("")
            deadline = time.monotonic() + 60
            while not go.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
        return dsl.row("Slow", [dsl.panel("Up", 'up{job="api"}')])
    """
)


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_later_build_waits_for_earlier(tmp_path: Path) -> None:
    """A build started during another one waits, so the newer inputs are written last."""
    project = tmp_path / "project"
    (project / "blocks").mkdir(parents=True)
    (project / "blocks" / "slow.py").write_text(SLOW_BLOCK)
    flags = tmp_path / "flags"
    flags.mkdir()
    manifest = project / "services" / "api.yaml"
    manifest.parent.mkdir()
    text = (
        "service: api\n"
        "dashboard: {title: TITLE}\n"
        "scrape: {job: api, port: 80}\n"
        f"rows:\n  - use: slow_row\n    with: {{flags: '{flags}'}}\n"
    )
    manifest.write_text(text.replace("TITLE", "Old"))

    command = [sys.executable, "-m", "obscompile", "build", "--project", str(project)]
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    with logs[0].open("w") as first_log:
        first = subprocess.Popen(command, stderr=first_log)
    _wait_for((flags / "started").exists, "the first build to load the manifest")
    manifest.write_text(text.replace("TITLE", "New"))
    with logs[1].open("w") as second_log:
        second = subprocess.Popen(command, stderr=second_log)
    _wait_for(lambda: "waiting for another build" in logs[1].read_text(), "the wait")

    (flags / "go").write_text("")
    assert first.wait(timeout=120) == 0, logs[0].read_text()
    assert second.wait(timeout=120) == 0, logs[1].read_text()
    (dashboard,) = (project / "out" / "grafana").rglob("*.json")
    assert json.loads(dashboard.read_text())["title"] == "New"
    assert (
        f"waiting for another build or test of {project} to finish"
        in logs[1].read_text()
    )


GATED_BLOCK = textwrap.dedent(
    """\
    import time
    from pathlib import Path
    from obscompile import dsl

    @dsl.block("gated_row")
    def gated_row(flags: str, name: str):
        # Signal that this build holds its locks, then wait for the test's signal to go on.
        Path(flags, name).write_text("")
        deadline = time.monotonic() + 60
        while not Path(flags, "go").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        return dsl.row("Gated", [dsl.panel("Up", 'up{job="api"}')])
    """
)


def test_crossed_output_folders_do_not_deadlock(tmp_path: Path) -> None:
    """Two builds that write into each other's project folders both finish."""
    flags = tmp_path / "flags"
    flags.mkdir()
    projects = {name: tmp_path / name for name in ("alpha", "beta")}
    for name, project in projects.items():
        (project / "blocks").mkdir(parents=True)
        (project / "blocks" / "gated.py").write_text(GATED_BLOCK)
        (project / "services").mkdir()
        (project / "services" / "api.yaml").write_text(
            "service: api\nscrape: {job: api, port: 80}\n"
            f"rows:\n  - use: gated_row\n    with: {{flags: '{flags}', name: {name}}}\n"
        )
    builds = {}
    crossed = (("alpha", "beta"), ("beta", "alpha"))
    for name, other in crossed:
        out = projects[other] / f"gen-{name}"
        command = [sys.executable, "-m", "obscompile", "build"]
        command += ["--project", str(projects[name]), "--out", str(out)]
        log = tmp_path / f"{name}.log"
        with log.open("w") as stream:
            builds[name] = (subprocess.Popen(command, stderr=stream), log)

    def ready(name: str) -> bool:
        waiting = "waiting for another build" in builds[name][1].read_text()
        return (flags / name).exists() or waiting

    try:
        _wait_for(lambda: ready("alpha") and ready("beta"), "both builds to start")
        (flags / "go").write_text("")
        for name, (process, log) in builds.items():
            try:
                code = process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pytest.fail(f"build {name} still runs after 60 s: {log.read_text()}")
            assert code == 0, log.read_text()
    finally:
        for process, _ in builds.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    logs = {name: log.read_text() for name, (_, log) in builds.items()}
    assert any("waiting for another build" in text for text in logs.values()), logs
    for name, other in crossed:
        assert (projects[other] / f"gen-{name}" / RECORD).is_file()


class _Untouchable(dict):
    """Files whose texts must not be read, except those named in `readable`."""

    def __init__(self, files: dict[str, str], readable: set[str]) -> None:
        super().__init__(files)
        self.readable = readable

    def __getitem__(self, name: str) -> str:
        if name not in self.readable:
            raise AssertionError(f"the text of {name} was read")
        return super().__getitem__(name)


def _next_ledger(
    tokens: dict[str, str], result: WriteResult | None, spare: Path
) -> Ledger:
    recorded = result.recorded if result is not None else None
    if recorded is None:
        return Ledger(tokens=tokens, spare=spare)
    return Ledger(
        tokens=tokens,
        out=recorded.out,
        spare=spare,
        spare_files=recorded.spare,
        mirrors=recorded.mirrors,
        spare_folders=recorded.spare_folders,
        spare_times=recorded.spare_times,
    )


def _tree_of(
    count: int, tag: str, changed: frozenset[int] = frozenset()
) -> dict[str, str]:
    return {
        f"d{i % 4}/f{i:02}.json": f"{tag if i in changed else 'v1'} {i}\n"
        for i in range(count)
    }


def _tokens_of(files: dict[str, str]) -> dict[str, str]:
    return {name: str(hash(text)) for name, text in files.items()}


def test_ledger_skips_vouched_files(tmp_path: Path) -> None:
    out, spare = tmp_path / "out", tmp_path / "cache" / "spare"
    first = _tree_of(20, "v1")
    result = write_tree(out, first, _next_ledger(_tokens_of(first), None, spare))
    # A first write links its tree into the spare folder too.
    assert (spare / "d3" / "f03.json").read_text() == "v1 3\n"
    assert (spare / "d3" / "f03.json").stat().st_ino == (
        out / "d3/f03.json"
    ).stat().st_ino
    second = _tree_of(20, "v2", changed=frozenset({3}))
    result = write_tree(
        out,
        _Untouchable(second, readable={"d3/f03.json"}),
        _next_ledger(_tokens_of(second), result, spare),
    )
    assert _snapshot(out) == {
        **{name: text.encode() for name, text in second.items()},
        RECORD: (out / RECORD).read_bytes(),
    }
    # The spare folder contains the previous tree.
    assert (spare / "d3" / "f03.json").read_text() == "v1 3\n"
    third = _tree_of(20, "v3", changed=frozenset({3, 7}))
    write_tree(
        out,
        _Untouchable(third, readable={"d3/f03.json", "d3/f07.json"}),
        _next_ledger(_tokens_of(third), result, spare),
    )
    assert (out / "d3" / "f07.json").read_text() == "v3 7\n"
    assert (out / "d3" / "f03.json").read_text() == "v3 3\n"
    assert (spare / "d3" / "f03.json").read_text() == "v2 3\n"


def test_rebuild_after_new_tokens_reads_changed_text_only(tmp_path: Path) -> None:
    """A write after one that gave every file a new token reads no unchanged text.

    A new compiler gives every file a new token, even where its text is the same, so
    the spare folder then contains files whose tokens are all out of date.
    """
    out, spare = tmp_path / "out", tmp_path / "cache" / "spare"
    files = _tree_of(20, "v1")
    result = write_tree(out, files, _next_ledger(_tokens_of(files), None, spare))
    retokened = {name: f"new {token}" for name, token in _tokens_of(files).items()}
    result = write_tree(out, files, _next_ledger(retokened, result, spare))
    changed = _tree_of(20, "v2", changed=frozenset({5}))
    tokens = {**retokened, "d1/f05.json": "v2"}
    write_tree(
        out,
        _Untouchable(changed, readable={"d1/f05.json"}),
        _next_ledger(tokens, result, spare),
    )
    assert _snapshot(out) == {
        **{name: text.encode() for name, text in changed.items()},
        RECORD: (out / RECORD).read_bytes(),
    }
    assert (spare / "d1" / "f05.json").read_text() == "v1 5\n"


def test_new_tokens_same_texts_keep_folder(tmp_path: Path) -> None:
    """New inputs that give every file its old text leave `out` in place."""
    out, spare = tmp_path / "out", tmp_path / "cache" / "spare"
    files = _tree_of(20, "v1")
    result = write_tree(out, files, _next_ledger(_tokens_of(files), None, spare))
    folder = out.stat().st_ino
    retokened = {name: f"new {token}" for name, token in _tokens_of(files).items()}
    result = write_tree(out, files, _next_ledger(retokened, result, spare))
    assert result.unchanged
    assert out.stat().st_ino == folder
    assert result.recorded is not None
    # The record of the files is recorded by its state alone.
    assert {name: token for name, (token, _) in result.recorded.out.items()} == {
        **retokened,
        RECORD: NO_TOKEN,
    }


def test_ledger_checks_what_it_vouches_for(tmp_path: Path) -> None:
    """Hand edits in the output or the spare folder are noticed and replaced."""
    out, spare = tmp_path / "out", tmp_path / "cache" / "spare"
    files = _tree_of(20, "v1")
    tokens = _tokens_of(files)
    result = write_tree(out, files, _next_ledger(tokens, None, spare))
    changed = _tree_of(20, "v2", frozenset({1}))
    result = write_tree(out, changed, _next_ledger(_tokens_of(changed), result, spare))
    # The same size and mtime, but a new ctime: the writer reads it again.
    edited = out / "d0" / "f04.json"
    stat_before = edited.stat()
    edited.write_text("XX 4\n")
    os.utime(edited, ns=(stat_before.st_atime_ns, stat_before.st_mtime_ns))
    (spare / "d2" / "f06.json").write_text("junk\n")
    (spare / "d1" / "f05.json").unlink()
    (spare / "d0" / "stray.txt").write_text("left in the spare folder\n")
    (spare / "d3" / "f03.json").unlink()
    (spare / "d3" / "f03.json").mkdir()
    write_tree(out, files, _next_ledger(tokens, result, spare))
    # The file that obscompile did not write moves into the output folder.
    assert _snapshot(out) == {
        **{name: text.encode() for name, text in files.items()},
        "d0/stray.txt": b"left in the spare folder\n",
        RECORD: (out / RECORD).read_bytes(),
    }


def test_spare_that_is_not_a_folder_is_replaced(tmp_path: Path) -> None:
    out, spare = tmp_path / "out", tmp_path / "cache" / "spare"
    files = _tree_of(8, "v1")
    (tmp_path / "cache").mkdir()
    spare.write_text("not a folder\n")
    write_tree(out, files, _next_ledger({}, None, spare))
    shutil.rmtree(spare)
    (tmp_path / "elsewhere").mkdir()
    spare.symlink_to(tmp_path / "elsewhere")
    changed = _tree_of(8, "v2", frozenset({2}))
    write_tree(out, changed, _next_ledger({}, None, spare))
    assert (out / "d2" / "f02.json").read_text() == "v2 2\n"
    assert spare.is_dir()
    assert not spare.is_symlink()
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_spare_keeps_foreign_files_current(tmp_path: Path) -> None:
    out, spare = tmp_path / "out", tmp_path / "cache" / "spare"
    files = _tree_of(4, "v1")
    result = write_tree(out, files, _next_ledger({}, None, spare))
    (out / "README.md").write_text("first\n")
    result = write_tree(
        out, _tree_of(4, "v2", frozenset({1})), _next_ledger({}, result, spare)
    )
    (out / "README.md").unlink()
    (out / "README.md").write_text("second\n")
    write_tree(out, files, _next_ledger({}, result, spare))
    assert (out / "README.md").read_text() == "second\n"
    assert "README.md" not in read_record(out)


def test_killed_refresh_leaves_old_tree(tmp_path: Path) -> None:
    out, spare = tmp_path / "out", tmp_path / "cache" / "spare"
    old = {f"f{i:03}.json": f"old {i}\n" for i in range(50)}
    write_tree(out, old, Ledger(tokens={}, spare=spare))
    write_tree(out, {**old, "f000.json": "older 0\n"}, Ledger(tokens={}, spare=spare))
    write_tree(out, old, Ledger(tokens={}, spare=spare))
    before = _snapshot(out)
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    # A killed run leaves files in the spare folder that the next run keeps.
    for stop_at in (1, 10, 15):
        arguments = [str(script), str(out), str(spare)]
        _kill_when_ready(tmp_path / f"ready-{stop_at}", arguments, stop_at)
        assert _snapshot(out) == before
    new = {f"f{i:03}.json": f"new {i}\n" for i in range(50)}
    write_tree(out, new, Ledger(tokens={}, spare=spare))
    assert _snapshot(out) == {
        **{name: text.encode() for name, text in new.items()},
        RECORD: (out / RECORD).read_bytes(),
    }


def test_spare_on_another_device_is_unused(tmp_path: Path) -> None:
    """A spare folder that a swap cannot reach leaves the write to a temporary one."""
    shared = Path("/dev/shm")
    if not shared.is_dir() or os.stat(shared).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs a second file system at /dev/shm")
    spare = Path(tempfile.mkdtemp(dir=shared)) / "spare"
    try:
        out = tmp_path / "out"
        files = _tree_of(4, "v1")
        first = write_tree(out, files, _next_ledger({}, None, spare))
        changed = _tree_of(4, "v2", frozenset({1}))
        second = write_tree(out, changed, _next_ledger({}, first, spare))
        assert (out / "d1" / "f01.json").read_text() == "v2 1\n"
        assert first.recorded is None
        assert second.recorded is None
        assert not spare.exists()
    finally:
        shutil.rmtree(spare.parent, ignore_errors=True)


def test_spare_symlink_is_not_reused(tmp_path: Path) -> None:
    out, spare = tmp_path / "out", tmp_path / "cache" / "spare"
    files = _tree_of(4, "v1")
    result = write_tree(out, files, _next_ledger({}, None, spare))
    outside = tmp_path / "outside.json"
    outside.write_text(files["d2/f02.json"])
    (spare / "d2" / "f02.json").unlink()
    (spare / "d2" / "f02.json").symlink_to(outside)
    write_tree(out, _tree_of(4, "v2", frozenset({1})), _next_ledger({}, result, spare))
    assert not (out / "d2" / "f02.json").is_symlink()
    assert (out / "d2" / "f02.json").read_text() == "v1 2\n"


def _created_file_mode() -> int:
    """Return the mode that `open(path, "w")` gives a new file under the umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _replace_with_link_or_mode(path: Path, change: str) -> None:
    if change == "symlink":
        copy = path.with_name(f"copy-of-{path.name}")
        shutil.copy(path, copy)
        path.unlink()
        path.symlink_to(copy)
    else:
        os.chmod(path, 0o755)


@pytest.mark.parametrize("spare", [False, True], ids=["staging", "spare"])
@pytest.mark.parametrize("change", ["symlink", "chmod"])
def test_link_or_mode_change_is_rewritten(
    tmp_path: Path, spare: bool, change: str
) -> None:
    """A written file replaced by a link to a copy, or given another mode, is stale."""
    out = tmp_path / "out"
    files = {"a.json": "1\n", "b.json": "2\n"}
    tokens = _tokens_of(files)
    result = None

    def ledger() -> Ledger | None:
        return _next_ledger(tokens, result, tmp_path / "spare") if spare else None

    result = write_tree(out, files, ledger())
    result = write_tree(out, files, ledger())
    assert result.unchanged
    target = out / "a.json"
    _replace_with_link_or_mode(target, change)
    assert stale_files(out, files) == ["a.json"]
    result = write_tree(out, files, ledger())
    assert not result.unchanged
    assert not target.is_symlink()
    assert stat.S_IMODE(target.stat().st_mode) == _created_file_mode()
    assert target.read_text() == "1\n"
    assert stale_files(out, files) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            "symlink",
            "a symbolic link; a fresh build writes a regular file in its place",
        ),
        ("chmod", "has mode 0755; a fresh build writes it with {mode:04o}"),
    ],
    ids=["symlink", "chmod"],
)
def test_build_check_reports_link_or_mode(
    tmp_path: Path, change: str, message: str
) -> None:
    project = _one_panel_project(tmp_path)
    runner = CliRunner()
    args = ["build", "--project", str(project)]
    assert runner.invoke(main, args).exit_code == 0
    dashboard = project / "out" / "grafana" / "dashboards" / "a.json"
    _replace_with_link_or_mode(dashboard, change)
    result = runner.invoke(main, [*args, "--check"])
    assert result.exit_code == 1
    expected = message.format(mode=_created_file_mode())
    assert f"{dashboard}: {expected}\n" in result.stderr
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "nothing changed" not in result.stderr
    assert not dashboard.is_symlink()
    assert stat.S_IMODE(dashboard.stat().st_mode) == _created_file_mode()
    assert runner.invoke(main, [*args, "--check"]).exit_code == 0


def _set_default_acl(folder: Path) -> None:
    """Give `folder` the default ACL user::rw-, group::rw-, other::r--, or skip."""
    # The kernel's xattr format: version 2, then (tag, permissions, id) per entry.
    entries = [(0x01, 6), (0x04, 6), (0x20, 4)]
    data = struct.pack("<I", 2)
    data += b"".join(
        struct.pack("<HHI", tag, bits, 0xFFFFFFFF) for tag, bits in entries
    )
    try:
        os.setxattr(folder, "system.posix_acl_default", data)
    except OSError as exc:
        pytest.skip(f"the file system has no POSIX ACLs: {exc}")


@pytest.mark.parametrize("spare", [False, True], ids=["staging", "spare"])
def test_default_acl_keeps_written_mode(tmp_path: Path, spare: bool) -> None:
    """A default ACL, which overrides the umask, does not make every file stale."""
    folder = tmp_path / "shared"
    folder.mkdir()
    _set_default_acl(folder)
    out = folder / "out"
    files = {"a/x.json": "1\n", "b.json": "2\n"}
    ledger = Ledger(tokens={}, spare=folder / "spare") if spare else None
    write_tree(out, files, ledger)
    for name in files:
        assert stat.S_IMODE((out / name).stat().st_mode) == _created_file_mode()
    assert stale_files(out, files) == []
    assert write_tree(out, files, ledger).unchanged


def test_missing_record_with_same_bytes_recovers(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(out, {"a.json": "1\n", "b.json": "2\n"})
    (out / RECORD).unlink()
    write_tree(out, {"a.json": "1\n", "b.json": "2\n", "c.json": "3\n"})
    assert read_record(out) == ["a.json", "b.json", "c.json"]
    (out / RECORD).write_text('{"junk')
    with pytest.raises(WriteError, match=f"{RECORD} is missing or invalid"):
        write_tree(out, {"a.json": "1\n", "b.json": "4\n"})
    assert (out / "b.json").read_text() == "2\n"


def test_linked_output_folder_is_written_through(tmp_path: Path) -> None:
    real = tmp_path / "real-out"
    write_tree(real, {"a.json": "1\n"})
    out = tmp_path / "out"
    out.symlink_to(real)
    write_tree(out, {"a.json": "2\n"}, Ledger(tokens={}, spare=tmp_path / "spare"))
    assert out.is_symlink()
    assert (real / "a.json").read_text() == "2\n"


def test_output_inside_spare_is_rejected(tmp_path: Path) -> None:
    spare = tmp_path / "cache" / "spare" / "x"
    for out in (tmp_path, tmp_path / "cache", spare / "out"):
        with pytest.raises(WriteError, match="may not contain each other"):
            write_tree(out, {"a.json": "1\n"}, Ledger(tokens={}, spare=spare))


@pytest.mark.parametrize("spare", [False, True], ids=["staging", "spare"])
def test_user_folders_and_modes_stay(tmp_path: Path, spare: bool) -> None:
    out = tmp_path / "out"

    def ledger() -> Ledger | None:
        return Ledger(tokens={}, spare=tmp_path / "spare") if spare else None

    write_tree(out, {"a/x.json": "1\n", "b/y.json": "2\n"}, ledger())
    (out / "empty").mkdir()
    (out / "private").mkdir(mode=0o700)
    (out / "private" / "key").write_text("secret\n")
    os.chmod(out / "a", 0o750)
    for text in ("3\n", "4\n"):
        write_tree(out, {"a/x.json": text}, ledger())
    assert (out / "empty").is_dir()
    assert stat.S_IMODE((out / "private").stat().st_mode) == 0o700
    assert stat.S_IMODE((out / "a").stat().st_mode) == 0o750
    assert (out / "private" / "key").read_text() == "secret\n"
    # A folder that only held files obscompile no longer writes goes with them.
    assert not (out / "b").exists()


def _project_tree(root: Path) -> dict[str, bytes | None]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes() if p.is_file() else None
        for p in sorted(root.rglob("*"))
    }


@pytest.mark.parametrize(
    ("arguments", "option", "message"),
    [
        (["--out", "{project}"], "--out", "is the project folder"),
        (["--out", "{project}/.."], "--out", "contains the project folder"),
        (["--out", "{project}/services"], "--out", "is the services folder"),
        (["--out", "{project}/services/out"], "--out", "is inside the services folder"),
        (["--out", "{project}/templates"], "--out", "is the templates folder"),
        (["--out", "{project}/blocks/x"], "--out", "is inside the blocks folder"),
        (["--out", "{project}/tests"], "--out", "is the hand-written tests folder"),
        (
            ["--services", "{project}/out/services"],
            "--services",
            "contains the services folder",
        ),
        (["--out", "{project}/link"], "--out", "is the services folder"),
        (["--out", "{project}/.obscompile-cache"], "--out", "is the build cache"),
        (
            ["--out", "{project}/out/local"],
            "--out",
            "is inside the default output folder",
        ),
        (
            ["--out", "{project}/.obscompile-cache/x"],
            "--out",
            "is inside the build cache",
        ),
    ],
)
def test_output_folder_may_not_hold_inputs(
    tmp_path: Path, arguments: list[str], option: str, message: str
) -> None:
    root = tmp_path / "outer"
    project = root / "project"
    shutil.copytree(REPO / "services", project / "services")
    shutil.copytree(REPO / "services", project / "out" / "services")
    for folder in ("templates", "blocks", "tests"):
        (project / folder).mkdir()
    (project / "link").symlink_to(project / "services")
    before = _project_tree(root)
    filled = [argument.format(project=project) for argument in arguments]
    result = CliRunner().invoke(main, ["build", "--project", str(project), *filled])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}'" in result.output
    assert message in result.output
    assert "give it a folder of its own" in result.output
    assert _project_tree(root) == before


def test_output_folder_inside_project_is_written(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(REPO / "services", project / "services")
    result = CliRunner().invoke(
        main, ["build", "--project", str(project), "--out", str(project / "build")]
    )
    assert result.exit_code == 0, result.output
    assert (project / "build" / "prometheus" / "prometheus.yml").is_file()


def _swap_after(monkeypatch: pytest.MonkeyPatch, step) -> None:  # type: ignore[no-untyped-def]
    """Run `step` once, in the moment after a write has listed out/ and before the swap."""
    exchange = atomic._exchange
    pending = [step]

    def exchange_after_step(a: Path, b: Path) -> bool:
        if pending:
            pending.pop()()
        return exchange(a, b)

    monkeypatch.setattr(atomic, "_exchange", exchange_after_step)


def _replace_by_rename(path: Path, text: str) -> None:
    """Replace a file as git and many editors do: write a new file, rename it over."""
    temporary = path.with_name(path.name + ".lock")
    temporary.write_text(text)
    os.replace(temporary, path)


@pytest.mark.parametrize("spare", [False, True], ids=["staging", "spare"])
def test_files_created_during_write_stay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spare: bool
) -> None:
    out = tmp_path / "out"

    def ledger() -> Ledger | None:
        return Ledger(tokens={}, spare=tmp_path / "spare") if spare else None

    write_tree(out, {"a/x.json": "1\n"}, ledger())
    (out / "refs").mkdir()
    (out / "refs" / "main").write_text("commit 1\n")
    write_tree(out, {"a/x.json": "2\n"}, ledger())

    def user_writes() -> None:
        (out / "note.txt").write_text("new file\n")
        (out / "a" / "mine.txt").write_text("in a folder of obscompile's\n")
        (out / "objects" / "ab").mkdir(parents=True)
        (out / "objects" / "ab" / "cd").write_text("new folder\n")
        _replace_by_rename(out / "refs" / "main", "commit 2\n")

    _swap_after(monkeypatch, user_writes)
    result = write_tree(out, {"a/x.json": "3\n"}, ledger())
    expected = {
        "a/x.json": b"3\n",
        "a/mine.txt": b"in a folder of obscompile's\n",
        "note.txt": b"new file\n",
        "objects/ab/cd": b"new folder\n",
        "refs/main": b"commit 2\n",
        RECORD: (out / RECORD).read_bytes(),
    }
    assert _snapshot(out) == expected
    moved = {(m.name, m.target, m.after_swap) for m in result.moved}
    assert moved == {
        ("a/mine.txt", "a/mine.txt", False),
        ("note.txt", "note.txt", False),
        ("objects", "objects", False),
        ("objects/ab/cd", "objects/ab/cd", False),
        ("refs/main", "refs/main", False),
    }
    # The next writes keep them, and find nothing more to move.
    for text in ("4\n", "5\n"):
        result = write_tree(out, {"a/x.json": text}, ledger())
        assert result.moved == ()
    assert _snapshot(out) == {**expected, "a/x.json": b"5\n"}


def test_old_tree_keeps_files_for_its_programs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A program still working in the old tree after the swap finds its files there."""
    out, spare = tmp_path / "out", tmp_path / "spare"
    write_tree(out, {"x.json": "1\n"}, Ledger(tokens={}, spare=spare))
    (out / "refs").mkdir()
    (out / "refs" / "main").write_text("commit 1\n")
    first = write_tree(out, {"x.json": "2\n"}, Ledger(tokens={}, spare=spare))
    assert first.recorded is not None
    _swap_after(
        monkeypatch, lambda: _replace_by_rename(out / "refs/main", "commit 2\n")
    )
    result = write_tree(out, {"x.json": "3\n"}, _next_ledger({}, first, spare))
    assert (spare / "refs" / "main").read_text() == "commit 2\n"
    assert (out / "refs" / "main").read_text() == "commit 2\n"
    # That program commits again in the old tree, and the next write brings it over.
    _replace_by_rename(spare / "refs" / "main", "commit 3\n")
    write_tree(out, {"x.json": "4\n"}, _next_ledger({}, result, spare))
    assert (out / "refs" / "main").read_text() == "commit 3\n"
    assert not list(out.rglob(f"*{KEPT_SUFFIX}*"))


def test_files_written_into_spare_move_to_out(tmp_path: Path) -> None:
    """A program whose working folder was in out/ writes into the old tree: moved back."""
    out, spare = tmp_path / "out", tmp_path / "spare"
    files = {"terraform/main.tf": "1\n"}
    result = write_tree(out, files, _next_ledger({}, None, spare))
    (out / "terraform" / "README.md").write_text("first\n")
    result = write_tree(
        out, {"terraform/main.tf": "2\n"}, _next_ledger({}, result, spare)
    )

    # The shell that was in out/terraform is in the old tree now.
    stale = spare / "terraform"
    (stale / "terraform.tfstate").write_text("state\n")
    (stale / ".terraform" / "providers").mkdir(parents=True)
    (stale / ".terraform" / "providers" / "lock").write_text("lock\n")
    (stale / "empty").mkdir()

    result = write_tree(
        out, {"terraform/main.tf": "3\n"}, _next_ledger({}, result, spare)
    )
    assert _snapshot(out / "terraform") == {
        "main.tf": b"3\n",
        "README.md": b"first\n",
        "terraform.tfstate": b"state\n",
        ".terraform/providers/lock": b"lock\n",
    }
    assert (out / "terraform" / "empty").is_dir()

    moved = {(m.name, m.target, m.after_swap) for m in result.moved}
    assert moved == {
        ("terraform/terraform.tfstate", "terraform/terraform.tfstate", True),
        ("terraform/.terraform", "terraform/.terraform", True),
        ("terraform/empty", "terraform/empty", True),
    }
    result = write_tree(
        out, {"terraform/main.tf": "4\n"}, _next_ledger({}, result, spare)
    )
    assert result.moved == ()
    assert (out / "terraform" / "terraform.tfstate").read_text() == "state\n"


def test_files_written_into_spare_are_noticed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mtimes of the spare folder's folders tell whether anything was written."""
    out, spare = tmp_path / "out", tmp_path / "spare"
    result = write_tree(out, {"a/x.json": "1\n"}, _next_ledger({}, None, spare))
    (out / "a" / "notes.txt").write_text("first\n")
    result = write_tree(out, {"a/x.json": "2\n"}, _next_ledger({}, result, spare))
    ledger = _next_ledger({}, result, spare)
    assert not atomic.spare_changed(out, ledger)
    # Both trees have the same file, a hard link, so an edit in place is in both.
    with open(out / "a" / "notes.txt", "a") as notes:
        notes.write("second\n")
    assert not atomic.spare_changed(out, ledger)
    (spare / "a" / "plan.out").write_text("plan\n")
    assert atomic.spare_changed(out, ledger)

    moved, times = atomic.restore_spare(out, ledger)
    assert [(m.name, m.target, m.after_swap) for m in moved] == [
        ("a/plan.out", "a/plan.out", True)
    ]
    assert (out / "a" / "plan.out").read_text() == "plan\n"
    assert not (spare / "a" / "plan.out").exists()
    assert not atomic.spare_changed(out, attrs.evolve(ledger, spare_times=times))

    # A folder whose mtime is not older than the file system's clock may change
    # again within the same mtime, so the spare folder's state is unknown.
    monkeypatch.setattr(atomic, "_file_system_time", lambda folder: 0)
    assert atomic.folder_times(spare) is None
    assert atomic.spare_changed(out, attrs.evolve(ledger, spare_times=None))


def test_spare_files_survive_deleted_out(tmp_path: Path) -> None:
    out, spare = tmp_path / "out", tmp_path / "spare"
    result = write_tree(out, {"x.json": "1\n"}, _next_ledger({}, None, spare))
    result = write_tree(out, {"x.json": "2\n"}, _next_ledger({}, result, spare))
    (spare / "state").write_text("written in the old tree\n")
    shutil.rmtree(out)
    write_tree(out, {"x.json": "3\n"}, _next_ledger({}, result, spare))
    assert (out / "state").read_text() == "written in the old tree\n"
    assert (out / "x.json").read_text() == "3\n"


def test_user_edits_leave_no_copies(tmp_path: Path) -> None:
    """A user file replaced in out/ or in the old tree leaves one version, the newest."""
    out, spare = tmp_path / "out", tmp_path / "spare"
    result = write_tree(out, {"x.json": "1\n"}, _next_ledger({}, None, spare))
    for name in ("edited-in-out", "edited-in-old-tree", "deleted-from-out"):
        (out / name).write_text("first\n")
    result = write_tree(out, {"x.json": "2\n"}, _next_ledger({}, result, spare))
    _replace_by_rename(out / "edited-in-out", "second\n")
    _replace_by_rename(spare / "edited-in-old-tree", "second\n")
    (out / "deleted-from-out").unlink()
    result = write_tree(out, {"x.json": "3\n"}, _next_ledger({}, result, spare))
    assert _snapshot(out) == {
        "x.json": b"3\n",
        "edited-in-out": b"second\n",
        "edited-in-old-tree": b"second\n",
        RECORD: (out / RECORD).read_bytes(),
    }
    assert [m.name for m in result.moved] == ["edited-in-old-tree"]


def test_two_versions_are_both_kept(tmp_path: Path) -> None:
    out, spare = tmp_path / "out", tmp_path / "spare"
    result = write_tree(out, {"x.json": "1\n"}, _next_ledger({}, None, spare))
    (out / "notes.txt").write_text("first\n")
    result = write_tree(out, {"x.json": "2\n"}, _next_ledger({}, result, spare))
    _replace_by_rename(out / "notes.txt", "edited in out\n")
    _replace_by_rename(spare / "notes.txt", "edited in the old tree\n")
    result = write_tree(out, {"x.json": "3\n"}, _next_ledger({}, result, spare))
    assert (out / "notes.txt").read_text() == "edited in out\n"
    kept_copy = out / f"notes.txt{KEPT_SUFFIX}"
    assert kept_copy.read_text() == "edited in the old tree\n"
    assert [(m.name, m.target) for m in result.moved] == [
        ("notes.txt", f"notes.txt{KEPT_SUFFIX}")
    ]
    result = write_tree(out, {"x.json": "4\n"}, _next_ledger({}, result, spare))
    assert result.moved == ()


def test_spare_without_record_of_copies(tmp_path: Path) -> None:
    """A cache of an earlier version records no copies: out/ keeps its versions."""
    out, spare = tmp_path / "out", tmp_path / "spare"
    result = write_tree(out, {"x.json": "1\n"}, _next_ledger({}, None, spare))
    (out / "notes.txt").write_text("first\n")
    write_tree(out, {"x.json": "2\n"}, _next_ledger({}, result, spare))
    _replace_by_rename(out / "notes.txt", "edited in out\n")
    (spare / "state").write_text("written in the old tree\n")
    result = write_tree(out, {"x.json": "3\n"}, Ledger(tokens={}, spare=spare))
    assert _snapshot(out) == {
        "x.json": b"3\n",
        "notes.txt": b"edited in out\n",
        "state": b"written in the old tree\n",
        RECORD: (out / RECORD).read_bytes(),
    }
    assert [(m.name, m.target) for m in result.moved] == [("state", "state")]


def test_leftover_old_tree_is_emptied_first(tmp_path: Path) -> None:
    """A write killed after its swap leaves the old tree, whose files the next one moves."""
    out = tmp_path / "out"
    write_tree(out, {"x.json": "1\n"})
    leftover = tmp_path / ".obscompile-tmp-out-killed"
    shutil.copytree(out, leftover)
    (leftover / "late.txt").write_text("written after the swap\n")
    (leftover / "x.json").write_text("old text\n")
    write_tree(out, {"x.json": "2\n"})
    assert not leftover.exists()
    assert _snapshot(out) == {
        "x.json": b"2\n",
        "late.txt": b"written after the swap\n",
        RECORD: (out / RECORD).read_bytes(),
    }


@pytest.mark.parametrize("spare", [False, True], ids=["staging", "spare"])
def test_linked_folder_in_out_is_rejected(tmp_path: Path, spare: bool) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"

    def ledger() -> Ledger | None:
        return Ledger(tokens={}, spare=tmp_path / "spare") if spare else None

    files = {"grafana/a.json": "1\n", "grafana/b.json": "2\n", "x.json": "3\n"}
    write_tree(out, files, ledger())
    (out / "grafana").rename(elsewhere)
    (out / "grafana").symlink_to(elsewhere)
    before = {p.name: (p.stat().st_ino, p.read_bytes()) for p in elsewhere.iterdir()}
    assert stale_files(out, files) == ["grafana"]
    for changed in (files, {**files, "grafana/a.json": "4\n"}, {"x.json": "3\n"}):
        with pytest.raises(WriteError, match="symbolic links where obscompile") as info:
            write_tree(out, {**changed, "grafana/c.json": "5\n"}, ledger())
        assert info.value.path == out / "grafana"
        assert "replace each link with a folder" in str(info.value)
    assert {p.name: (p.stat().st_ino, p.read_bytes()) for p in elsewhere.iterdir()} == (
        before
    )


def _retitle(project: Path, title: str) -> None:
    manifest = project / "services" / "auth_server.yaml"
    text = re.sub(
        r"(?m)^  title: .*$", f"  title: {title}", manifest.read_text(), count=1
    )
    manifest.write_text(text)


def _repository_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(REPO / "services", project / "services")
    result = CliRunner().invoke(main, ["build", "--project", str(project)])
    assert result.exit_code == 0, result.output
    return project


def _shell_in_old_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, user_files: dict[str, str]
) -> Path:
    """Return a built project whose out/ a build replaced while a shell was inside.

    The working folder is out/terraform, where `terraform apply` writes its state,
    and `user_files` were written there before the build. Now it is in the old tree.
    """
    project = _repository_project(tmp_path)
    terraform = project / "out" / "terraform"
    for name, text in user_files.items():
        (terraform / name).write_text(text)
    monkeypatch.chdir(terraform)
    _retitle(project, "auth_server 2")
    result = CliRunner().invoke(main, ["build", "--project", str(project)])
    assert result.exit_code == 0, result.output
    return project


def test_shell_in_out_keeps_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _shell_in_old_tree(tmp_path, monkeypatch, {})
    out = project / "out"
    Path("terraform.tfstate").write_text("state\n")
    _retitle(project, "auth_server 3")
    result = CliRunner().invoke(main, ["build", "--project", str(project)])
    assert result.exit_code == 0, result.output
    assert (out / "terraform" / "terraform.tfstate").read_text() == "state\n"
    assert (
        "terraform/terraform.tfstate was written into the copy of "
        f"{out} that an earlier build replaced; moved it in {out}"
    ) in result.stderr
    assert f"change into {out} again" in result.stderr


# Working folders inside out/, each with the --project that names the project from it.
INSIDE_OUT = {"out": "..", "out/terraform": "../.."}


def _obscompile_in(folder: Path, *arguments: str) -> subprocess.CompletedProcess:
    """Run obscompile in a new process whose working folder is `folder`."""
    command = [sys.executable, "-m", "obscompile", *arguments]
    return subprocess.run(
        command, cwd=folder, capture_output=True, text=True, timeout=300
    )


def _as_from_project(text: str, project: Path, parent: str) -> str:
    """Return the messages of a run outside `project` as a run inside it would give them.

    `parent` is how the run named the project folder, such as `..`. The durations
    of the summaries are left out.
    """
    text = text.replace(f"{project}/", "").replace(f"{parent}/", "")
    return re.sub(r" in \d+\.\d+s", "", text)


def _add_label_warning(project: Path) -> None:
    """Give a metric of the project the label `instance`, which gets a warning."""
    manifest = project / "services" / "auth_server.yaml"
    text = manifest.read_text()
    assert "labels: [status]" in text
    manifest.write_text(text.replace("labels: [status]", "labels: [status, instance]"))


def _run_in_both(
    projects: tuple[Path, Path],
    folder: str,
    change: Callable[[Path], None] | None,
    arguments: list[str],
    options: dict[Path, list[str]],
) -> subprocess.CompletedProcess:
    """Change both projects alike and run a command in each, and compare the runs.

    The first project runs the command in its folder, the second inside its out/,
    in `folder`, each with its `options`. Returns the run in the project folder.
    """
    from_root, from_out = projects
    runs = []
    for project, working_folder in (
        (from_root, from_root),
        (from_out, from_out / folder),
    ):
        if change is not None:
            change(project)
        runs.append(_obscompile_in(working_folder, *arguments, *options[project]))
    done, out_done = runs
    parent = INSIDE_OUT[folder]
    assert out_done.returncode == done.returncode, out_done.stderr
    assert _as_from_project(out_done.stdout, from_out, parent) == (
        _as_from_project(done.stdout, from_root, ".")
    )
    assert _as_from_project(out_done.stderr, from_out, parent) == (
        _as_from_project(done.stderr, from_root, ".")
    )
    assert _snapshot(from_out / "out") == _snapshot(from_root / "out")
    return done


def _spare_tree(project: Path) -> dict[str, bytes]:
    """Return the files of the project's spare folder, the previous out/.

    The cache has one spare folder and nothing else there.
    """
    (spare,) = (project / ".obscompile-cache" / "spare").iterdir()
    return _snapshot(spare)


@pytest.mark.parametrize("absolute_out", [False, True], ids=["out", "absolute-out"])
@pytest.mark.parametrize("folder", INSIDE_OUT)
def test_build_inside_out_matches_root(
    tmp_path: Path, folder: str, absolute_out: bool
) -> None:
    """A shell inside out/ builds, checks and reports as one in the project folder.

    Each write moves the old out/, and the working folder inside it, into the
    build cache, so a path relative to the working folder names another file after
    the write.
    """
    from_root = _repository_project(tmp_path / "from-root")
    from_out = _repository_project(tmp_path / "from-out")
    parent = INSIDE_OUT[folder]
    options = {from_root: [], from_out: ["--project", parent]}
    if absolute_out:
        for project in options:
            options[project] += ["--out", str(project / "out")]
    steps = [
        (_add_label_warning, ["build"]),
        (None, ["build"]),
        (None, ["build", "--check"]),
        (None, ["check"]),
        (lambda project: _retitle(project, "auth_server 2"), ["build", "--check"]),
        (None, ["build"]),
        (None, ["build"]),
    ]
    messages = []
    for change, arguments in steps:
        done = _run_in_both((from_root, from_out), folder, change, arguments, options)
        assert _spare_tree(from_out) == _spare_tree(from_root)
        messages.append(done.stderr)
    assert "instrument/label-name" in messages[0]
    assert "nothing changed since the last build" in messages[1]
    assert "out is up to date" in messages[2]
    assert "out is stale: " in messages[4]


def _edit_output(project: Path, name: str, old: str, new: str) -> None:
    path = project / "out" / name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _fail_generated_test(project: Path) -> None:
    """Make a generated promtool test expect a value that its rule does not record."""
    test = "prometheus/tests/auth_server.test.yml"
    _edit_output(project, test, "value: 0.04", "value: 0.05")


def _break_rule_file(project: Path) -> None:
    """Put a query that promtool cannot parse into a generated rule file."""
    rules = "prometheus/rules/auth_server.rules.yml"
    query = 'sum by (job) (http_requests_in_progress{job="auth_server"})'
    _edit_output(project, rules, query, "sum by (job) (")


@pytest.mark.parametrize("folder", INSIDE_OUT)
def test_cli_test_inside_out_matches_root(tmp_path: Path, folder: str) -> None:
    """`obscompile test` inside out/ runs and reports as in the project folder."""
    if shutil.which("promtool") is None:
        pytest.fail(
            "promtool is not installed; install it with `apt-get install prometheus`"
        )
    projects = (
        _repository_project(tmp_path / "from-root"),
        _repository_project(tmp_path / "from-out"),
    )
    options = {projects[0]: [], projects[1]: ["--project", INSIDE_OUT[folder]]}
    steps = [
        (None, 0, "promtool passed: 1 config, 4 rule files, 4 test files"),
        (_add_label_warning, 0, "out is stale: "),
        (_fail_generated_test, 1, "Unit Testing:  out/prometheus/tests/auth_server"),
        (_break_rule_file, 1, "Checking out/prometheus/rules/auth_server.rules.yml"),
    ]
    for change, expected_code, expected_text in steps:
        done = _run_in_both(projects, folder, change, ["test"], options)
        assert done.returncode == expected_code, done.stderr
        assert expected_text in done.stdout + done.stderr


def _fail_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every listing of a tree by the writer fail the test."""

    def fail(root: Path) -> None:
        raise AssertionError(f"{root} was listed")

    monkeypatch.setattr(atomic, "tree", fail)


def test_replay_moves_old_tree_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build that replays the last one moves what programs wrote in the old out/."""
    project = _shell_in_old_tree(tmp_path, monkeypatch, {"notes.txt": "first\n"})
    out = project / "out"
    Path("plan.out").write_text("plan\n")
    _replace_by_rename(Path("notes.txt"), "second\n")

    result = CliRunner().invoke(main, ["build", "--project", str(project)])
    assert result.exit_code == 0, result.output
    assert "nothing changed since the last build" in result.stderr
    files = _snapshot(out / "terraform")
    assert {name: files.get(name) for name in ("plan.out", "notes.txt")} == {
        "plan.out": b"plan\n",
        "notes.txt": b"second\n",
    }
    assert not Path("plan.out").exists()
    assert not list(out.rglob(f"*{KEPT_SUFFIX}*"))
    for name in ("plan.out", "notes.txt"):
        assert (
            f"terraform/{name} was written into the copy of {out} that an earlier "
            f"build replaced; moved it in {out}"
        ) in result.stderr
    assert f"change into {out} again" in result.stderr

    # Nothing is left to move, so the next build lists no folder and prints no warning.
    _fail_listing(monkeypatch)
    result = CliRunner().invoke(main, ["build", "--project", str(project)])
    assert result.exit_code == 0, result.output
    assert "nothing changed since the last build" in result.stderr
    assert "warning" not in result.stderr


def test_replay_warns_of_unreadable_spare(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spare folder that cannot be listed leaves its files to the next write."""
    project = _shell_in_old_tree(tmp_path, monkeypatch, {})
    out = project / "out"
    Path("plan.out").write_text("plan\n")

    def unreadable(root: Path) -> None:
        raise PermissionError(13, "Permission denied", str(root))

    with monkeypatch.context() as patched:
        patched.setattr(atomic, "tree", unreadable)
        result = CliRunner().invoke(main, ["build", "--project", str(project)])
    assert result.exit_code == 0, result.output
    assert "nothing changed since the last build" in result.stderr
    assert (
        f"obscompile: warning: cannot move the files written into the build cache's "
        f"copy of {out}: [Errno 13] Permission denied: "
    ) in result.stderr
    assert "the next build that changes a file moves them" in result.stderr
    assert not (out / "terraform" / "plan.out").exists()

    _retitle(project, "auth_server 3")
    result = CliRunner().invoke(main, ["build", "--project", str(project)])
    assert result.exit_code == 0, result.output
    assert (out / "terraform" / "plan.out").read_text() == "plan\n"


def test_rewrite_lists_each_tree_once_after_swap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write lists the spare folder before and after the swap, and `out` once.

    The listing after the swap serves both the restore of files created meanwhile
    and the folder times for the next build, which match a listing of their own.
    """
    out, spare = tmp_path / "out", tmp_path / "spare"
    result = write_tree(out, _tree_of(8, "v1"), _next_ledger({}, None, spare))
    (out / "d1" / "notes.txt").write_text("mine\n")
    result = write_tree(out, _tree_of(8, "v2"), _next_ledger({}, result, spare))
    listed: list[str] = []
    real_tree = atomic.tree

    def counting_tree(root: Path) -> tuple[list[str], list[str]]:
        listed.append(Path(root).name)
        return real_tree(root)

    monkeypatch.setattr(atomic, "tree", counting_tree)
    monkeypatch.setattr(foreign, "tree", counting_tree)
    result = write_tree(
        out, _tree_of(8, "v3", frozenset({3})), _next_ledger({}, result, spare)
    )
    assert sorted(listed) == ["out", "spare", "spare"]
    assert result.recorded is not None
    assert result.recorded.spare_times == atomic.folder_times(spare)
    assert not atomic.spare_changed(out, _next_ledger({}, result, spare))
    assert (out / "d1" / "notes.txt").read_text() == "mine\n"


def test_replay_lists_no_unchanged_spare(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a first build and after a rebuild, a build that replays lists nothing."""
    project = _repository_project(tmp_path)
    for step in range(2):
        with monkeypatch.context() as patched:
            _fail_listing(patched)
            result = CliRunner().invoke(main, ["build", "--project", str(project)])
        assert result.exit_code == 0, result.output
        assert "nothing changed since the last build" in result.stderr
        _retitle(project, f"auth_server {step}")
        result = CliRunner().invoke(main, ["build", "--project", str(project)])
        assert result.exit_code == 0, result.output


def test_linked_folder_in_out_fails_alike(tmp_path: Path) -> None:
    """With and without the cache, a symlinked folder is reported where it is."""
    project = _repository_project(tmp_path)
    out, elsewhere = project / "out", tmp_path / "elsewhere"
    (out / "grafana").rename(elsewhere)
    (out / "grafana").symlink_to(elsewhere)
    before = _snapshot(elsewhere)
    first_lines = []
    for options in ([], ["--no-cache"], []):
        _retitle(project, f"auth_server {len(first_lines)}")
        arguments = ["build", "--project", str(project), *options]
        result = CliRunner().invoke(main, arguments)
        assert result.exit_code == 1, result.output
        first_lines.append(result.stderr.splitlines()[0])
    assert first_lines[0].startswith(
        f"{out / 'grafana'}:1:1: error: {out} has symbolic links where obscompile "
        "writes folders: grafana; "
    )
    assert first_lines[1] == first_lines[0]
    assert first_lines[2] == first_lines[0]
    assert _snapshot(elsewhere) == before
    result = CliRunner().invoke(main, ["build", "--project", str(project), "--check"])
    assert result.exit_code == 1
    assert f"{out / 'grafana'}: a symbolic link where obscompile writes a folder" in (
        result.stderr
    )


def _unprivileged(project: Path, *options: str) -> subprocess.CompletedProcess:
    """Build `project` in a process that file modes bind, as they bind other users."""
    command = [sys.executable, "-m", "obscompile", "build", "--project", str(project)]
    command += options
    if os.geteuid() == 0:
        capsh = shutil.which("capsh")
        if capsh is None:
            pytest.skip("root ignores file modes, and capsh is missing to drop that")
        drop = "--drop=cap_dac_override,cap_dac_read_search,cap_fowner"
        command = [capsh, drop, "--", "-c", shlex.join(command)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_read_only_out_fails_once(tmp_path: Path) -> None:
    project = _repository_project(tmp_path)
    out = project / "out"
    out.chmod(0o555)
    _retitle(project, "auth_server 2")
    try:
        failed = _unprivileged(project)
    finally:
        out.chmod(0o755)
    assert failed.returncode == 1
    assert f"cannot replace {out}: it is read-only; make it writable" in failed.stderr
    built = _unprivileged(project)
    assert built.returncode == 0, built.stderr
    assert _unprivileged(project, "--check").returncode == 0


@pytest.mark.parametrize(
    ("options", "first_build"),
    [([], False), (["--no-cache"], False), ([], True), (["--no-cache"], True)],
    ids=["cache", "no-cache", "first-cache", "first-no-cache"],
)
def test_read_only_project_names_folder(
    tmp_path: Path, options: list[str], first_build: bool
) -> None:
    """Each way of writing out/ names the project folder and the command."""
    project = _repository_project(tmp_path)
    out = project / "out"
    if first_build:
        shutil.rmtree(out)
    _retitle(project, "auth_server 2")
    project.chmod(0o555)
    try:
        failed = _unprivileged(project, *options)
    finally:
        project.chmod(0o755)
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert f"cannot write {out}: its parent folder {project} is read-only" in (
        failed.stderr
    )
    assert f"(chmod u+w {project}), then build again" in failed.stderr
    built = _unprivileged(project, *options)
    assert built.returncode == 0, built.stderr


def test_read_only_spare_folder_named(tmp_path: Path) -> None:
    project = _repository_project(tmp_path)
    spare = project / ".obscompile-cache" / "spare"
    assert spare.is_dir()
    _retitle(project, "auth_server 2")
    spare.chmod(0o555)
    try:
        failed = _unprivileged(project)
    finally:
        spare.chmod(0o755)
    assert failed.returncode == 1
    assert f"{spare} is read-only; make it writable (chmod u+w {spare})" in (
        failed.stderr
    )
    built = _unprivileged(project)
    assert built.returncode == 0, built.stderr


def test_read_only_folder_in_out_stays(tmp_path: Path) -> None:
    project = _repository_project(tmp_path)
    private = project / "out" / "private"
    private.mkdir()
    (private / "key").write_text("secret\n")
    private.chmod(0o555)
    for number in range(3):
        _retitle(project, f"auth_server {number}")
        built = _unprivileged(project)
        assert built.returncode == 0, built.stderr
    assert stat.S_IMODE(private.stat().st_mode) == 0o555
    assert (private / "key").read_text() == "secret\n"


def test_read_only_cache_is_not_used(tmp_path: Path) -> None:
    project = _repository_project(tmp_path)
    cache = project / ".obscompile-cache"
    folders = [cache, *(path for path in cache.rglob("*") if path.is_dir())]
    for folder in folders:
        folder.chmod(0o555)
    _retitle(project, "auth_server 2")
    try:
        built = _unprivileged(project)
    finally:
        for folder in folders:
            folder.chmod(0o755)
    assert built.returncode == 0, built.stderr
    warning = f"{cache} is read-only, so this build runs without the build cache"
    assert built.stderr.count(warning) == 1
    assert built.stderr.count("warning") == 1
    assert _unprivileged(project, "--check").returncode == 0
