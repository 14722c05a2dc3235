"""Incremental builds: the build cache never changes what a build writes or reports.

Each case starts from a project whose cache is warm and makes one kind of change. It
builds with the cache, then builds the same project without it into a fresh `out/`,
and compares the exit codes, the messages and every byte of `out/`.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import jinja2
import pytest
from click.testing import CliRunner

import obscompile.cache
import obscompile.load.project
import obscompile.parallel
import obscompile.pipeline
import obscompile.render.prometheus
import obscompile.texts
from obscompile import seal
from obscompile.cache import CACHE_DIR, user_cache_folder
from obscompile.cli import main
from obscompile.model.location import Location, PackedLocations
from obscompile.model.metric import Metric, MetricType, SeriesNaming
from obscompile.model.service import Service
from obscompile.pipeline import BuildResult
from obscompile.render.environment import builtin_templates_dir
from tests.conftest import REPO

_spec = importlib.util.spec_from_file_location(
    "workload", REPO / "bench" / "workload.py"
)
assert _spec is not None and _spec.loader is not None
workload = sys.modules.setdefault("workload", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(workload)

SERVICES = 3
# Twelve panels: the HTTP health row and eight more shapes, so that a build stays short.
PANELS = 12
CONFIG = "kubernetes_namespace: monitoring\ngrafana_url: http://grafana.example:3000\n"


def run_build(*arguments: str) -> tuple[int, str]:
    """Run `obscompile build` in the working directory; return exit code and stderr."""
    result = CliRunner().invoke(main, ["build", *arguments])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, without_duration(result.stderr)


def without_duration(stderr: str) -> str:
    """Return a build's messages without the duration and notes of its summary line.

    The summary ends with the build's duration, which differs between runs. A build
    that replays the last one, or that fails, adds a note after it. A build that
    removes files of the last one, or replaces files changed since it, lists them,
    which a build into an empty folder does not.
    """
    stderr = re.sub(
        r"^.*: removed; (this build no longer writes it|target .*)\n"
        r"|^obscompile: \d+ more files? removed from .*\n"
        r"|^obscompile: warning: .* was changed after the last build wrote it.*\n",
        "",
        stderr,
        flags=re.MULTILINE,
    )
    return re.sub(
        r" in \d+\.\d+s(, nothing changed since the last build"
        r"|; .* (is left as it was|is not written)|; removed \d+ files?)?$",
        "",
        stderr,
        flags=re.MULTILINE,
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def file_states(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        path.relative_to(folder).as_posix(): (
            path.stat().st_ino,
            path.stat().st_mtime_ns,
        )
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def count_compiled_templates(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Return a list that receives the name of every template Jinja compiles."""
    compiled: list[str] = []
    compile_template = jinja2.Environment.compile

    def counting_compile(self, source, name=None, *arguments, **options):  # type: ignore[no-untyped-def]
        compiled.append(name)
        return compile_template(self, source, name, *arguments, **options)

    monkeypatch.setattr(jinja2.Environment, "compile", counting_compile)
    return compiled


def clean_build(project: Path) -> tuple[int, str, dict[str, bytes]]:
    """Build without the cache into an empty `out/`; then restore the cached one."""
    out = project / "out"
    aside = project / "out-incremental"
    if out.exists():
        out.rename(aside)
    try:
        code, messages = run_build("--no-cache")
        files = snapshot(out) if out.exists() else {}
    finally:
        shutil.rmtree(out, ignore_errors=True)
        if aside.exists():
            aside.rename(out)
    return code, messages, files


def manifest(project: Path, index: int) -> Path:
    return project / "services" / f"{workload.service_name(index)}.yaml"


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def override_stat_template(project: Path, text_mode: str) -> None:
    """Copy the built-in stat panel template into the project with another textMode."""
    target = project / "templates" / "grafana" / "panels" / "stat.json.j2"
    target.parent.mkdir(parents=True, exist_ok=True)
    text = (builtin_templates_dir() / "grafana" / "panels" / "stat.json.j2").read_text()
    assert '"textMode": "auto"' in text
    target.write_text(
        text.replace('"textMode": "auto"', f'"textMode": "{text_mode}"', 1)
    )


@pytest.fixture
def warm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A generated project, built once with the cache, as the working directory."""
    monkeypatch.chdir(tmp_path)
    workload.write_project(tmp_path, SERVICES, PANELS)
    (tmp_path / "obscompile.yaml").write_text(CONFIG, encoding="utf-8")
    code, messages = run_build()
    assert code == 0, messages
    assert (tmp_path / CACHE_DIR).is_dir()
    return tmp_path


def _edit(project: Path) -> None:
    replace_in(
        manifest(project, 2),
        "<1% Green, 1-5% Yellow, >5% Red",
        "<2% Green, 2-5% Yellow, >5% Red",
    )


def _add(project: Path) -> None:
    spec = workload.service_spec(SERVICES + 1, PANELS)
    (project / "services" / f"{spec.name}.yaml").write_text(
        workload.manifest_text(spec)
    )


def _delete(project: Path) -> None:
    manifest(project, 3).unlink()


def _rename(project: Path) -> None:
    path = manifest(project, 2)
    path.rename(path.with_name("renamed.yaml"))


def _copied_to_subfolder(project: Path) -> None:
    # The loaded manifests stay the same, so only the warning about the copy, which
    # is not read, distinguishes this build from the last one.
    path = manifest(project, 2)
    (project / "services" / "team").mkdir()
    shutil.copy(path, project / "services" / "team" / path.name)


def _template_added(project: Path) -> None:
    override_stat_template(project, "value")


def _linked_template_folder(project: Path) -> None:
    # Jinja reads the templates through a link to a folder outside the project.
    shared = project.parent / f"{project.name}-panels"
    shared.mkdir()
    (project / "templates" / "grafana").mkdir(parents=True)
    (project / "templates" / "grafana" / "panels").symlink_to(shared)
    override_stat_template(project, "value")
    code, messages = run_build()
    assert code == 0, messages
    assert (shared / "stat.json.j2").is_file()
    override_stat_template(project, "name")


def _template_folder_loop(project: Path) -> None:
    # A link to a folder that contains it is read once, so the build ends.
    override_stat_template(project, "value")
    (project / "templates" / "grafana" / "panels" / "loop").symlink_to("..")
    code, messages = run_build()
    assert code == 0, messages
    override_stat_template(project, "name")


DATA_BLOCK = """\
from pathlib import Path

from obscompile import dsl


@dsl.block("shared_row")
def shared_row():
    title = (Path(__file__).parent / "data" / "title.txt").read_text().strip()
    return dsl.row(title, [dsl.panel("Targets", 'sum(up{job="svc_0001"})')])
"""


def _linked_block_data(project: Path) -> None:
    # A block reads a data file through a link to a folder outside the project.
    shared = project.parent / f"{project.name}-data"
    shared.mkdir()
    (shared / "title.txt").write_text("Shared A\n")
    (project / "blocks").mkdir()
    (project / "blocks" / "shared.py").write_text(DATA_BLOCK)
    (project / "blocks" / "data").symlink_to(shared)
    path = manifest(project, 1)
    path.write_text(path.read_text() + "  - use: shared_row\n")
    code, messages = run_build()
    assert code == 0, messages
    (shared / "title.txt").write_text("Shared B\n")


def _config_changed(project: Path) -> None:
    replace_in(project / "obscompile.yaml", "monitoring", "observability")


def _config_removed(project: Path) -> None:
    (project / "obscompile.yaml").unlink()


def _invalid_yaml(project: Path) -> None:
    replace_in(manifest(project, 1), "rows:", "rows: [")


def _unknown_label(project: Path) -> None:
    replace_in(manifest(project, 1), "sum by (status_code)", "sum by (status_kode)")


def _catalog_of_other_service(project: Path) -> None:
    # svc_0001's catalog is the only one with svc_0001_tokens_total; svc_0002 now
    # charts it too, so dropping it from svc_0001 must fail svc_0002's panel as well.
    _borrow_tokens(project, "token_type")
    replace_in(
        manifest(project, 1), "svc_0001_tokens_total:", "svc_0001_tokens_renamed_total:"
    )


def _label_of_other_service(project: Path) -> None:
    # svc_0002 groups svc_0001_tokens_total by model, which svc_0001 then drops.
    _borrow_tokens(project)
    replace_in(
        manifest(project, 1), "labels: [model, token_type]", "labels: [token_type]"
    )


def _block_job(project: Path) -> None:
    # The block's queries name a job that is no longer scraped. Their positions are
    # on the `use:` line, with or without the cache.
    replace_in(manifest(project, 1), "      job: svc_0001\n", "      job: svc_0009\n")


def _scrape_port(project: Path) -> None:
    # prometheus.yml and the cross-artifact checks reuse results keyed by their input.
    replace_in(manifest(project, 3), "svc_0003:8003", "svc_0003:9003")


OVERVIEW = """service: overview
dashboard: {uid: overview}
rows:
  - title: Jobs
    panels:
      - title: Jobs of svc_0001
        type: timeseries
        query: 'sum(rate(svc_0001_jobs_total{job="svc_0001"}[1m]))'
"""


def _overview(project: Path) -> None:
    """Add a service without scrape jobs that charts svc_0001's job."""
    (project / "services" / "overview.yaml").write_text(OVERVIEW, encoding="utf-8")
    code, messages = run_build()
    assert code == 0, messages


def _chart_in_overview(project: Path, old: str, new: str, code: int, expected: str):
    """Write the overview with `old` replaced by `new`; build and check the result."""
    overview = project / "services" / "overview.yaml"
    overview.write_text(OVERVIEW.replace(old, new), encoding="utf-8")
    built, messages = run_build()
    assert built == code, messages
    assert expected in messages


def _declare_counter(project: Path, index: int, metric: str) -> None:
    """Declare the counter `metric` in the catalog of service `index`."""
    jobs = f"  svc_{index:04}_jobs_total:"
    replace_in(manifest(project, index), jobs, f"  {metric}: counter\n{jobs}")


def _typo_declared(project: Path) -> None:
    # The overview charts a misspelling of svc_0001's metric, without a job, which
    # gets a warning. Then svc_0002's catalog declares that name, so the stored
    # results no longer hold.
    old = 'svc_0001_jobs_total{job="svc_0001"}'
    expected = 'did you mean "svc_0001_jobs_total"?'
    _chart_in_overview(project, old, "svc_0001_job_total", 0, expected)
    _declare_counter(project, 2, "svc_0001_job_total")


def _declared_by_scraper(project: Path) -> None:
    # The overview charts svc_0002's metric with svc_0001's job, whose catalog lacks
    # it: an error. Then svc_0001's catalog declares it, so the error goes.
    expected = 'not in the catalog of service "svc_0001", which scrapes job'
    _chart_in_overview(
        project, "svc_0001_jobs_total", "svc_0002_jobs_total", 1, expected
    )
    _declare_counter(project, 1, "svc_0002_jobs_total")


def _declaration_added(project: Path) -> None:
    # svc_0002 groups svc_0001_tokens_total by tier, which svc_0001's declaration
    # lacks. Then svc_0003 declares that metric with tier, which makes it known.
    path = manifest(project, 2)
    path.write_text(
        path.read_text()
        + "  - title: Borrowed\n    panels:\n      - title: Tokens by tier\n"
        + "        query: 'sum by (tier) (rate(svc_0001_tokens_total[5m]))'\n"
    )
    code, messages = run_build()
    assert code == 1
    assert 'no label "tier"' in messages
    replace_in(
        manifest(project, 3),
        "  svc_0003_tokens_total:",
        "  svc_0001_tokens_total: {type: counter, labels: [tier]}\n"
        "  svc_0003_tokens_total:",
    )


def _other_manifest_failed(project: Path) -> None:
    # The overview charts a job that no service scrapes, an error that stays stored
    # with its lookups. A new manifest that fails to load may declare that job, so
    # the error is no longer reported, although what the lookups find is the same.
    overview = project / "services" / "overview.yaml"
    overview.write_text(OVERVIEW.replace('job="svc_0001"', 'job="svc_0009"'))
    code, messages = run_build()
    assert code == 1
    assert 'job "svc_0009" is not a scrape job of the project' in messages
    (project / "services" / "broken.yaml").write_text("service: broken\nrows: [\n")


# svc_0002's P95 Latency panel takes the alert name that svc_0001's derives.
TAKEN_ALERT_NAME = '>500ms Red"\n        alert: {name: Svc0001P95Latency}\n'


def _alert_name_of_other_service(project: Path) -> None:
    replace_in(manifest(project, 2), '>500ms Red"\n', TAKEN_ALERT_NAME)


def _interval_of_other_job(project: Path) -> None:
    # At a 1m scrape interval, the overview's rate()[1m] cannot hold two samples.
    _overview(project)
    replace_in(manifest(project, 1), "  interval: 15s", "  interval: 1m")


EXPORTER = """service: postgres
scrape: {job: postgres, port: 9187}
metrics:
  pg_stat_database_xact_commit: {type: counter, labels: [datname]}
"""


def _exporter_read_from_cache(project: Path) -> None:
    # The exporter's catalog, which expects a counter under its declared name, is
    # cached by the first build and read back when the overview charts its counter.
    (project / "services" / "postgres.yaml").write_text(EXPORTER, encoding="utf-8")
    code, messages = run_build()
    assert code == 0, messages
    overview = OVERVIEW.replace("svc_0001_jobs_total", "pg_stat_database_xact_commit")
    overview = overview.replace('job="svc_0001"', 'job="postgres"')
    (project / "services" / "overview.yaml").write_text(overview, encoding="utf-8")


def _python_module(project: Path) -> None:
    (project / "services" / "extra.py").write_text(
        "from obscompile import dsl\n\n"
        'dsl.service("extra", scrape=dsl.scrape_job("extra", port=9000))\n'
    )


def _template_edited(project: Path) -> None:
    override_stat_template(project, "value")
    code, messages = run_build()
    assert code == 0, messages
    override_stat_template(project, "name")


def _template_removed(project: Path) -> None:
    override_stat_template(project, "value")
    code, messages = run_build()
    assert code == 0, messages
    shutil.rmtree(project / "templates")


def _error_fixed(project: Path) -> None:
    original = manifest(project, 1).read_text()
    _invalid_yaml(project)
    code, _ = run_build()
    assert code == 1
    manifest(project, 1).write_text(original)


def _folder_changed(project: Path) -> None:
    # Terraform and the provisioning file are reused while the dashboards and their
    # folders stay the same.
    replace_in(manifest(project, 2), "folder: Benchmark", "folder: Moved")


def _dashboard_uid_changed(project: Path) -> None:
    replace_in(manifest(project, 3), "uid: svc-0003-dashboard", "uid: svc-0003-renamed")


def _output_edited(project: Path) -> None:
    dashboard = project / "out" / "grafana" / "dashboards" / "svc-0001-dashboard.json"
    dashboard.write_text("{}\n")


def _output_deleted(project: Path) -> None:
    (project / "out" / "grafana" / "dashboards" / "svc-0002-dashboard.json").unlink()


CHANGES: list[tuple[str, Callable[[Path], None]]] = [
    ("nothing", lambda project: None),
    ("edit", _edit),
    ("add", _add),
    ("delete", _delete),
    ("rename", _rename),
    ("copied-to-subfolder", _copied_to_subfolder),
    ("template-added", _template_added),
    ("template-edited", _template_edited),
    ("template-removed", _template_removed),
    ("linked-template-folder", _linked_template_folder),
    ("template-folder-loop", _template_folder_loop),
    ("linked-block-data", _linked_block_data),
    ("config-changed", _config_changed),
    ("config-removed", _config_removed),
    ("invalid-yaml", _invalid_yaml),
    ("error-fixed", _error_fixed),
    ("unknown-label", _unknown_label),
    ("catalog-of-other-service", _catalog_of_other_service),
    ("label-of-other-service", _label_of_other_service),
    ("scrape-port", _scrape_port),
    ("interval-of-other-job", _interval_of_other_job),
    ("alert-name-of-other-service", _alert_name_of_other_service),
    ("typo-declared", _typo_declared),
    ("declared-by-scraper", _declared_by_scraper),
    ("declaration-added", _declaration_added),
    ("other-manifest-failed", _other_manifest_failed),
    ("folder-changed", _folder_changed),
    ("dashboard-uid-changed", _dashboard_uid_changed),
    ("block-job", _block_job),
    ("exporter-read-from-cache", _exporter_read_from_cache),
    ("python-module", _python_module),
    ("output-edited", _output_edited),
    ("output-deleted", _output_deleted),
]


@pytest.mark.parametrize("change", [c for _, c in CHANGES], ids=[n for n, _ in CHANGES])
def test_incremental_equals_clean(warm: Path, change: Callable[[Path], None]) -> None:
    change(warm)
    code, messages = run_build()
    incremental = snapshot(warm / "out")
    clean_code, clean_messages, clean = clean_build(warm)
    assert code == clean_code
    assert messages == clean_messages
    if code == 0:
        assert sorted(incremental) == sorted(clean)
        assert incremental == clean


SEQUENCE = [
    "edit",
    "output-edited",
    "template-added",
    "scrape-port",
    "add",
    "output-deleted",
    "config-changed",
    "folder-changed",
    "rename",
    "dashboard-uid-changed",
    "delete",
]


def test_metric_pickle_keeps_every_field() -> None:
    """A cached catalog entry reads back with its series naming and positions."""
    where = Location("services/postgres.yaml", 4, 3)
    metric = Metric(
        "pg_stat_database_xact_commit",
        MetricType.COUNTER,
        "Commits",
        ("datname",),
        naming=SeriesNaming.DECLARED_OR_SUFFIXED,
        location=where,
        locations={
            "type": where.shifted(37),
            "labels": Location("services/postgres.yaml", 5, 13),
            "labels.0": Location("services/postgres.yaml", 5, 14),
        },
    )
    elsewhere = attrs.evolve(
        metric, locations={"type": where, "help": Location("blocks/pg.py", 9, 5)}
    )
    for written in (metric, elsewhere):
        restored = pickle.loads(pickle.dumps(written))
        for field in attrs.fields(Metric):
            assert getattr(restored, field.name) == getattr(written, field.name)
        for key in (*written.locations, "buckets"):
            assert restored.location_of(key) == written.location_of(key), key
        assert list(restored.locations) == list(written.locations)


def test_service_pickle_keeps_every_field(real_build: BuildResult) -> None:
    """Each cached service, dashboard and scrape job reads back whole, positions packed."""
    for service in real_build.services:
        restored = pickle.loads(pickle.dumps(service))
        for field in attrs.fields(Service):
            assert getattr(restored, field.name) == getattr(service, field.name)
        objects = [(service, restored)]
        if service.dashboard is not None:
            objects.append((service.dashboard, restored.dashboard))
        objects.extend(zip(service.scrape_jobs, restored.scrape_jobs, strict=True))
        for written, read in objects:
            assert type(read) is type(written)
            for field in attrs.fields(type(written)):
                assert getattr(read, field.name) == getattr(written, field.name)
            assert dict(read.locations) == dict(written.locations)
            assert list(read.locations) == list(written.locations)
            if written.locations:
                assert isinstance(read.locations, PackedLocations)


def test_packed_get_matches_unpacked() -> None:
    """`get` on packed positions gives what the unpacked mapping gives."""
    written = {
        "uid": Location("services/a.yaml", 3, 8),
        "folder": Location("services/a.yaml", 4, 11),
    }
    for key in ("uid", "folder", "title"):
        packed = PackedLocations.of(written)
        assert isinstance(packed, PackedLocations)
        assert packed.get(key) == written.get(key)
        assert packed.get(key, "missing") == written.get(key, "missing")
        # Once unpacked, the mapping gives the positions.
        assert dict(packed) == written
        assert packed.get(key) == written.get(key)


def test_changes_in_a_row_equal_clean(warm: Path) -> None:
    """Each build brings the spare folder's tree up to date; every result is exact."""
    changes = dict(CHANGES)
    for name in SEQUENCE:
        changes[name](warm)
        code, messages = run_build()
        incremental = snapshot(warm / "out")
        clean_code, clean_messages, clean = clean_build(warm)
        assert (code, messages) == (clean_code, clean_messages), name
        assert incremental == clean, name
    assert (warm / CACHE_DIR / obscompile.cache.SPARE).is_dir()


def test_noop_loads_and_writes_nothing(
    warm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = file_states(warm / "out")

    def fail(*arguments: object) -> None:
        raise AssertionError("an unchanged manifest was loaded again")

    monkeypatch.setattr(obscompile.load.project, "load_manifest_file", fail)
    monkeypatch.setattr(obscompile.pipeline, "render_dashboard", fail)
    result = CliRunner().invoke(main, ["build"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr.endswith("s, nothing changed since the last build\n")
    assert file_states(warm / "out") == before


def count_listings(monkeypatch: pytest.MonkeyPatch, folder: Path) -> list[Path]:
    """Return a list that receives `folder` each time `os.scandir` lists it."""
    listed: list[Path] = []
    scandir = os.scandir

    def counting_scandir(path: Any = ".") -> Any:
        if not isinstance(path, int) and Path(path) == folder:
            listed.append(folder)
        return scandir(path)

    monkeypatch.setattr(os, "scandir", counting_scandir)
    return listed


def test_noop_lists_changed_spare_once(
    warm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replay lists a changed spare folder once, and the next replay not at all."""
    _edit(warm)
    code, messages = run_build()
    assert code == 0, messages
    (spare,) = (warm / CACHE_DIR / obscompile.cache.SPARE).iterdir()
    # A program creates and removes a file there, which changes the folder's mtime.
    (spare / "grafana" / "lock").write_text("")
    (spare / "grafana" / "lock").unlink()
    # Wait until the file system's clock is past that mtime, so that the replay's
    # listing starts after the change and is not taken again.
    time.sleep(0.05)
    listed = count_listings(monkeypatch, spare)

    result = CliRunner().invoke(main, ["build"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr.endswith("nothing changed since the last build\n")
    assert len(listed) == 1

    result = CliRunner().invoke(main, ["build"])
    assert result.exit_code == 0, result.stderr
    assert len(listed) == 1


def test_edited_build_summary(warm: Path) -> None:
    _edit(warm)
    result = CliRunner().invoke(main, ["build"])
    assert result.exit_code == 0, result.stderr
    assert "nothing changed" not in result.stderr


def test_comment_edit_keeps_out_folder(warm: Path) -> None:
    """A manifest edit that changes no artifact leaves out/ and its files in place.

    A bind mount of out/ keeps showing the old folder once a build replaces it, so
    only a build that changes a file may replace it.
    """
    out = warm / "out"
    folder = out.stat().st_ino
    before = file_states(out)
    path = manifest(warm, 2)
    path.write_text("# owned by the payments team\n" + path.read_text())
    code, messages = run_build()
    assert code == 0, messages
    assert out.stat().st_ino == folder
    assert file_states(out) == before


# Packages that only loading, checking and rendering need. (A fingerprint of the
# compiler looks up ruamel.yaml, which imports its namespace package `ruamel`.)
STAGE_PACKAGES = ("jinja2", "jsonschema", "ruamel.yaml", "promql_parser")


def _build_in(folder: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """Run `obscompile build` in a fresh interpreter in `folder`.

    Its stdout lists the compiler stages that the build imported. The interpreter is
    a fresh one because this one imported every stage already.
    """
    script = (
        "import sys\n"
        "from obscompile.cli import main\n"
        "try:\n"
        f"    main(['build', *{list(arguments)!r}])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        f"print(sorted(set(sys.modules) & set({STAGE_PACKAGES!r})))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        cwd=folder,
    )


def test_noop_imports_no_stages(warm: Path) -> None:
    result = _build_in(warm)
    assert result.returncode == 0, result.stderr
    assert "in " in result.stderr, result.stderr
    assert result.stdout.strip() == "[]"


def test_one_change_reloads_one(warm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[str] = []
    rendered: list[str] = []
    derived: list[str] = []
    load = obscompile.load.project.load_manifest_file
    render = obscompile.pipeline.render_dashboard
    derive = obscompile.render.prometheus.derive_rules

    unpickled: list[str] = []
    items = obscompile.cache._LazyTuple.items

    def counting_derive(service, *arguments):  # type: ignore[no-untyped-def]
        derived.append(service.name)
        return derive(service, *arguments)

    def counting_items(self):  # type: ignore[no-untyped-def]
        unpickled.append(type(self).__name__)
        return items(self)

    def counting_load(path: Path, name: str):  # type: ignore[no-untyped-def]
        loaded.append(name)
        return load(path, name)

    def counting_render(env, service, *arguments):  # type: ignore[no-untyped-def]
        rendered.append(service.name)
        return render(env, service, *arguments)

    monkeypatch.setattr(obscompile.load.project, "load_manifest_file", counting_load)
    monkeypatch.setattr(obscompile.pipeline, "render_dashboard", counting_render)
    monkeypatch.setattr(obscompile.render.prometheus, "derive_rules", counting_derive)
    monkeypatch.setattr(obscompile.cache._LazyTuple, "items", counting_items)
    texts: list[str] = []
    get = obscompile.texts.TextStore.get

    def counting_get(self, slot, extra):  # type: ignore[no-untyped-def]
        texts.append(slot)
        return get(self, slot, extra)

    monkeypatch.setattr(obscompile.texts.TextStore, "get", counting_get)
    compiled = count_compiled_templates(monkeypatch)
    facts_read: list[str] = []
    read_fact = obscompile.cache.LazyFacts.__getattr__

    def counting_fact(self, name):  # type: ignore[no-untyped-def]
        facts_read.append(name)
        return read_fact(self, name)

    monkeypatch.setattr(obscompile.cache.LazyFacts, "__getattr__", counting_fact)
    _edit(warm)
    code, messages = run_build()
    assert code == 0, messages
    assert loaded == ["services/svc_0002.yaml"]
    assert rendered == ["svc_0002"]
    assert derived == ["svc_0002"]
    # The rows and metrics of the unchanged services stay pickled, and the output
    # folder is known to hold their files, so their texts are not read either.
    assert unpickled == []
    assert texts == []
    # The edit leaves the facts of every service as they were, so the build reuses
    # the last comparison and reads no stored facts.
    assert facts_read == []
    # The templates were compiled by the first build, and their code was kept.
    assert compiled == []


def _count_checked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the name of every service whose per-service checks run."""
    import obscompile.check.registry

    checked: list[str] = []
    service_checks = obscompile.check.registry.service_checks

    def counting(project, service):  # type: ignore[no-untyped-def]
        checked.append(service.name)
        return service_checks(project, service)

    monkeypatch.setattr(obscompile.check.registry, "service_checks", counting)
    return checked


def test_title_change_rechecks_one(warm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Other services' checks read no dashboard title, help text or line number."""
    checked = _count_checked(monkeypatch)
    path = manifest(warm, 2)
    replace_in(path, "  title: svc_0002\n", "  title: Orders\n")
    replace_in(path, "'Total HTTP requests handled'", "'HTTP requests handled'")
    # A folded description takes one more line, which moves the catalog down.
    replace_in(path, "  description: Synthetic", "  description: >-\n    Synthetic")
    code, messages = run_build()
    assert code == 0, messages
    assert checked == ["svc_0002"]


def _borrow_tokens(project: Path, label: str = "model") -> None:
    """Make svc_0002 chart svc_0001_tokens_total, which only svc_0001 declares."""
    path = manifest(project, 2)
    panel = (
        "  - title: Borrowed\n    panels:\n      - title: Borrowed Tokens\n"
        "        type: timeseries\n"
        f"        query: 'sum by ({label}) (rate(svc_0001_tokens_total[5m]))'\n"
    )
    path.write_text(path.read_text() + panel)
    code, messages = run_build()
    assert code == 0, messages


def _rechecked(checked: list[str], path: Path, old: str, new: str) -> list[str]:
    """Replace `old` by `new` in `path`, build, and return the services rechecked."""
    checked.clear()
    replace_in(path, old, new)
    code, messages = run_build()
    assert code == 0, messages
    return sorted(checked)


def test_catalog_change_rechecks_readers(
    warm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A catalog change reruns the checks of the services that looked that metric up."""
    _borrow_tokens(warm)
    checked = _count_checked(monkeypatch)
    path = manifest(warm, 1)
    unread = _rechecked(checked, path, "[job_type, status]", "[job_type, status, x]")
    assert unread == ["svc_0001"]
    read = _rechecked(checked, path, "[model, token_type]", "[model]")
    assert read == ["svc_0001", "svc_0002"]


def test_moved_catalog_rechecks_no_reader(
    warm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Moving the lines of a metric that another service reads reruns its owner alone."""
    _borrow_tokens(warm)
    checked = _count_checked(monkeypatch)
    path = manifest(warm, 1)
    moved = _rechecked(
        checked, path, "  description: Synthetic", "  description: >-\n    Synthetic"
    )
    assert moved == ["svc_0001"]


def test_scrape_change_rechecks_readers(
    warm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scrape job change reruns the checks of the services that read that job."""
    _overview(warm)
    checked = _count_checked(monkeypatch)
    unread = _rechecked(checked, manifest(warm, 2), "svc_0002:8002", "svc_0002:9002")
    assert unread == ["svc_0002"]
    read = _rechecked(checked, manifest(warm, 1), "svc_0001:8001", "svc_0001:9001")
    assert read == ["overview", "svc_0001"]


def _alert_name_clashes(messages: str) -> list[str]:
    """Return the first line of each project/alert-name-clash warning."""
    return re.findall(r"^.*\[project/alert-name-clash\]$", messages, re.M)


def test_alert_name_clash_follows_other_service(
    warm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service is checked again when another service's alerts of its names change."""
    checked = _count_checked(monkeypatch)
    path = manifest(warm, 2)
    _alert_name_of_other_service(warm)
    code, messages = run_build()
    assert code == 0, messages
    assert sorted(checked) == ["svc_0001", "svc_0002"]
    first, second = _alert_name_clashes(messages)
    # svc_0001's panel comes from the block http_api_health, used on line 92.
    assert first.startswith(
        'services/svc_0001.yaml:92:5: warning: panel "P95 Latency": the alert '
        'name "Svc0001P95LatencyCritical" of this panel is also that of panel '
        '"P95 Latency" of service "svc_0002" at services/svc_0002.yaml:108:23, '
    )
    assert second.startswith("services/svc_0002.yaml:108:23: warning: ")

    # svc_0002's alerts keep their names and positions.
    checked.clear()
    replace_in(path, "'95th percentile response time'", "'Slowest responses'")
    code, messages = run_build()
    assert code == 0, messages
    assert checked == ["svc_0002"]
    assert len(_alert_name_clashes(messages)) == 2

    # The lines above svc_0002's alert name move down, so svc_0001's warning
    # names another line.
    checked.clear()
    replace_in(path, "  description: Synthetic", "  description: >-\n    Synthetic")
    code, messages = run_build()
    assert code == 0, messages
    assert sorted(checked) == ["svc_0001", "svc_0002"]
    assert "at services/svc_0002.yaml:109:23, " in _alert_name_clashes(messages)[0]

    checked.clear()
    replace_in(path, TAKEN_ALERT_NAME, '>500ms Red"\n')
    code, messages = run_build()
    assert code == 0, messages
    assert sorted(checked) == ["svc_0001", "svc_0002"]
    assert _alert_name_clashes(messages) == []
    clean_code, clean_messages, _ = clean_build(warm)
    assert (code, messages) == (clean_code, clean_messages)


def test_block_errors_point_into_lines(warm: Path) -> None:
    _block_job(warm)
    lines = manifest(warm, 1).read_text(encoding="utf-8").split("\n")
    for arguments in ((), ("--no-cache",)):
        code, messages = run_build(*arguments)
        assert code == 1
        found = re.findall(
            r"^services/svc_0001\.yaml:(\d+):(\d+): error", messages, re.M
        )
        assert found
        for line, column in found:
            assert int(column) <= len(lines[int(line) - 1]) + 1, (line, column)


def test_unreadable_cache_is_rebuilt(warm: Path) -> None:
    cache = warm / CACHE_DIR
    for path in cache.rglob("*.pickle"):
        path.write_bytes(b"not a pickle")
    _edit(warm)
    code, messages = run_build()
    clean_code, clean_messages, clean = clean_build(warm)
    assert code == clean_code == 0
    assert messages == clean_messages
    assert snapshot(warm / "out") == clean


def test_cache_holds_one_entry_per_manifest(warm: Path) -> None:
    _delete(warm)
    code, _ = run_build()
    assert code == 0
    entries = list((warm / CACHE_DIR / "entries").glob("*.pickle"))
    assert len(entries) == SERVICES - 1
    key = seal.user_key(user_cache_folder())
    assert key is not None
    sealed = (warm / CACHE_DIR / "index.pickle").read_bytes()
    index = pickle.loads(seal.unseal(sealed, key) or b"")
    assert index["format"] == obscompile.cache.FORMAT


class Payload:
    """A pickle that creates a file when it is loaded, as a planted cache would."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("name", ["index.pickle", "entries"])
def test_planted_cache_file_runs_nothing(warm: Path, name: str) -> None:
    """A cache file that this user's builds did not write is never unpickled."""
    marker = warm.parent / f"{warm.name}-ran"
    payload = pickle.dumps(Payload(marker))
    folder = warm / CACHE_DIR
    if name == "index.pickle":
        targets = [folder / name]
    else:
        targets = list((folder / "entries").glob("*.pickle"))
    assert targets
    for target in targets:
        target.write_bytes(payload)
    _edit(warm)
    code, messages = run_build()
    assert code == 0, messages
    assert not marker.exists()
    assert snapshot(warm / "out") == clean_build(warm)[2]


def test_planted_texts_run_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "entry.texts"
    path.write_bytes(pickle.dumps(Payload(marker)))
    store = obscompile.texts.TextStore(path, bytes(seal.KEY_SIZE))
    assert store.get("emit#0", "") is None
    assert not marker.exists()


def test_cache_of_another_key_is_rebuilt(warm: Path) -> None:
    """A cache signed with another user's key is read as empty."""
    key_file = user_cache_folder() / seal.KEY_FILE
    key_file.write_bytes(bytes(seal.KEY_SIZE))
    _edit(warm)
    computed: list[str] = []
    load_file = obscompile.cache.BuildCache._load_file

    def counting_load(self, path, entry, parsed):  # type: ignore[no-untyped-def]
        if entry is None:
            computed.append(str(path))
        return load_file(self, path, entry, parsed)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(obscompile.cache.BuildCache, "_load_file", counting_load)
        code, messages = run_build("--jobs", "1")
    assert code == 0, messages
    assert len(computed) == SERVICES
    assert snapshot(warm / "out") == clean_build(warm)[2]


@pytest.mark.parametrize("plant", ["folder", "world-writable"])
def test_untrusted_cache_key_disables_cache(warm: Path, plant: str) -> None:
    """A key that cannot be read, or that anyone could have written, is not used."""
    key_file = user_cache_folder() / seal.KEY_FILE
    key = key_file.read_bytes()
    try:
        if plant == "folder":
            key_file.unlink()
            key_file.mkdir()
        else:
            key_file.chmod(0o666)
        assert seal.user_key(user_cache_folder()) is None
        _edit(warm)
        code, messages = run_build()
        assert code == 0, messages
        assert snapshot(warm / "out") == clean_build(warm)[2]
    finally:
        if key_file.is_dir():
            key_file.rmdir()
        key_file.write_bytes(key)
        key_file.chmod(0o600)


def test_killed_save_leftovers_are_removed(warm: Path) -> None:
    """A save that was killed leaves temporary files, which a later save removes."""
    cache = warm / CACHE_DIR
    hour_ago = time.time() - 3600
    old = [cache / ".tmp-index", cache / "entries" / ".tmp-entry"]
    recent = cache / "entries" / ".tmp-recent"
    for path in (*old, recent):
        path.write_bytes(b"partial")
    for path in old:
        os.utime(path, (hour_ago, hour_ago))
    _edit(warm)
    code, messages = run_build()
    assert code == 0, messages
    for path in old:
        assert not path.exists(), path
    assert recent.exists()


@pytest.mark.parametrize("name", ["index.pickle", "entries"])
def test_unsaved_cache_warning_gives_fix(warm: Path, name: str) -> None:
    """The warning for a cache that every save fails on names the fix."""
    cache = warm / CACHE_DIR
    path = cache / name
    if path.is_dir():
        shutil.rmtree(path)
        path.write_text("not a folder\n")
    else:
        path.unlink()
        path.mkdir()
    _edit(warm)
    code, messages = run_build()
    assert code == 0, messages
    if name == "entries":
        # A file where the cache keeps a folder is found before the build.
        assert (
            "obscompile: warning: build cache not used: .obscompile-cache/entries is "
            "not a folder; the build runs without it and deletes nothing there; "
            "remove it to use the cache again"
        ) in messages
    else:
        assert "obscompile: warning: build cache not saved: " in messages
        assert (
            f"; if every build says so, delete {cache}, which is always safe"
        ) in messages
    shutil.rmtree(cache)
    for _ in range(2):
        code, messages = run_build()
        assert code == 0, messages
        assert "warning" not in messages


def test_other_services_folder_keeps_entries(
    warm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build of another services folder keeps the entries of services/."""
    (warm / "more").mkdir()
    shutil.copy(manifest(warm, 1), warm / "more" / "extra.yaml")
    more = ("--services", "more", "--out", "more-out", "--jobs", "1")
    code, messages = run_build(*more)
    assert code == 0, messages
    loaded: list[str] = []
    load = obscompile.load.project.load_manifest_file

    def counting_load(path: Path, name: str):  # type: ignore[no-untyped-def]
        loaded.append(name)
        return load(path, name)

    monkeypatch.setattr(obscompile.load.project, "load_manifest_file", counting_load)
    _edit(warm)
    code, messages = run_build("--jobs", "1")
    assert code == 0, messages
    assert loaded == ["services/svc_0002.yaml"]
    loaded.clear()
    code, messages = run_build(*more)
    assert code == 0, messages
    assert loaded == []
    # A save removes the entries of a folder that no longer exists.
    shutil.rmtree(warm / "more")
    code, messages = run_build()
    assert code == 0, messages
    entries = list((warm / CACHE_DIR / "entries").glob("*.pickle"))
    assert len(entries) == SERVICES


@pytest.mark.parametrize("linked", [".", "entries", "spare", "templates"])
def test_linked_cache_folder_is_left_alone(warm: Path, linked: str) -> None:
    """A cache folder that is a link elsewhere is not used, and nothing there goes."""
    victim = warm.parent / f"{warm.name}-victim"
    (victim / "templates" / "sub").mkdir(parents=True)
    (victim / "entries").mkdir()
    kept = [
        victim / "templates" / "sub" / "important.txt",
        victim / "entries" / "a.pickle",
    ]
    for path in kept:
        path.write_text("keep", encoding="utf-8")
    cache = warm / CACHE_DIR
    link = cache if linked == "." else cache / linked
    shutil.rmtree(link, ignore_errors=True)
    link.symlink_to(victim, target_is_directory=True)
    _edit(warm)
    code, messages = run_build()
    assert code == 0, messages
    assert "build cache not used" in messages
    assert sorted(p for p in victim.rglob("*") if p.is_file()) == sorted(kept)
    assert snapshot(warm / "out") == clean_build(warm)[2]


def test_cache_folder_is_ignored_by_git(warm: Path) -> None:
    ignore = warm / CACHE_DIR / ".gitignore"
    assert ignore.read_text(encoding="utf-8").splitlines()[-1] == "*"


def test_unchanged_manifests_are_not_hashed(
    warm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Treat every manifest as older than the file system's timestamp granularity.
    monkeypatch.setattr(obscompile.cache, "RACY_NS", 0)
    _edit(warm)
    code, messages = run_build()
    assert code == 0, messages
    hashed: list[str] = []
    digest_bytes = obscompile.cache.digest_bytes

    def counting_digest(path, *kind):  # type: ignore[no-untyped-def]
        if kind == (obscompile.cache.MANIFEST,):
            hashed.append(Path(os.path.relpath(path)).as_posix())
        return digest_bytes(path, *kind)

    monkeypatch.setattr(obscompile.cache, "digest_bytes", counting_digest)
    replace_in(manifest(warm, 3), "<300ms Green, 300-", "<250ms Green, 250-")
    code, messages = run_build()
    assert code == 0, messages
    # Read once to find the key, and once more after loading it.
    assert set(hashed) == {"services/svc_0003.yaml"}
    # The same size and mtime, but a new ctime: the manifest is hashed again.
    path = manifest(warm, 1)
    before = path.stat()
    replace_in(path, "<300ms Green, 300-", "<200ms Green, 200-")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    hashed.clear()
    code, messages = run_build()
    assert code == 0, messages
    assert set(hashed) == {"services/svc_0001.yaml"}
    clean_code, clean_messages, clean = clean_build(warm)
    assert (code, messages) == (clean_code, clean_messages)
    assert snapshot(warm / "out") == clean


def test_workers_equal_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Services rendered in worker processes give the bytes of a one-process build.

    A build in one process computes the stages service by service too. Both give
    the bytes of a build that renders emitter by emitter, which a rebuild of few
    changed services does.
    """
    monkeypatch.chdir(tmp_path)
    workload.write_project(tmp_path, 4, PANELS)
    (tmp_path / "obscompile.yaml").write_text(CONFIG, encoding="utf-8")
    monkeypatch.setattr(obscompile.parallel, "MIN_SERVICES", 2)
    fetched: list[int] = []
    prefetch = obscompile.parallel.prefetch

    def counting_prefetch(*arguments, **options):  # type: ignore[no-untyped-def]
        found = prefetch(*arguments, **options)
        fetched.append(len({position for _, position in found}))
        return found

    with monkeypatch.context() as unfetched:
        unfetched.setattr(obscompile.pipeline, "prefetch", lambda *_, **__: {})
        code, messages = run_build("--no-cache", "--jobs", "1")
    assert code == 0, messages
    serial = snapshot(tmp_path / "out")
    shutil.rmtree(tmp_path / "out")
    monkeypatch.setattr(obscompile.pipeline, "prefetch", counting_prefetch)
    for arguments in (
        ("--no-cache", "--jobs", "1"),
        ("--no-cache", "--jobs", "2"),
        ("--jobs", "2"),
    ):
        parallel_code, parallel_messages = run_build(*arguments)
        assert (parallel_code, parallel_messages) == (code, messages)
        assert snapshot(tmp_path / "out") == serial
        shutil.rmtree(tmp_path / "out")
    assert fetched == [4, 4, 4]
    # With the cache, two changed services go to the workers and the rest is reused.
    replace_in(manifest(tmp_path, 1), "<300ms Green, 300-", "<250ms Green, 250-")
    replace_in(manifest(tmp_path, 2), "<300ms Green, 300-", "<250ms Green, 250-")
    code, messages = run_build("--jobs", "2")
    assert fetched[-1] == 2
    clean_code, clean_messages, clean = clean_build(tmp_path)
    assert (code, messages) == (clean_code, clean_messages)
    assert snapshot(tmp_path / "out") == clean


def test_workers_report_like_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Manifests loaded and checked in worker processes give the same messages."""
    monkeypatch.chdir(tmp_path)
    workload.write_project(tmp_path, 4, PANELS)
    monkeypatch.setattr(obscompile.parallel, "MIN_SERVICES", 2)
    # A YAML syntax error, a schema error, and a query that groups by a label that
    # its metric lacks.
    (manifest(tmp_path, 1)).write_text("service: [unclosed\n", encoding="utf-8")
    replace_in(manifest(tmp_path, 2), "runtime: ", "runtime_typo: ")
    replace_in(manifest(tmp_path, 3), "sum by (status_code)", "sum by (status_kode)")
    workers = obscompile.parallel.map_in_workers
    used: list[str] = []

    def counting_workers(function, count, jobs, progress=None, stage=""):  # type: ignore[no-untyped-def]
        found = workers(function, count, jobs, progress, stage)
        if found is not None:
            used.append(stage)
        return found

    monkeypatch.setattr(obscompile.parallel, "map_in_workers", counting_workers)
    code, messages = run_build("--no-cache", "--jobs", "1")
    assert code == 1, messages
    assert used == []
    for arguments in (("--no-cache", "--jobs", "2"), ("--jobs", "2")):
        assert run_build(*arguments) == (code, messages)
    assert "syntax" in messages or "unclosed" in messages
    assert "runtime_typo" in messages
    assert "status_kode" in messages
    # Both builds with workers loaded the manifests, derived the alert names and
    # checked the services there.
    stages = ["loading", "deriving alert names", "checking"]
    assert used == stages + stages


def test_each_output_folder_has_its_own_spare(warm: Path) -> None:
    (warm / "out" / "NOTES.md").write_text("mine\n")
    code, messages = run_build("--out", str(warm / "other"))
    assert code == 0, messages
    _edit(warm)
    for arguments in ((), ("--out", str(warm / "other"))):
        code, messages = run_build(*arguments)
        assert code == 0, messages
    spares = list((warm / CACHE_DIR / obscompile.cache.SPARE).iterdir())
    assert len(spares) == 2
    assert (warm / "out" / "NOTES.md").read_text() == "mine\n"
    assert not (warm / "other" / "NOTES.md").exists()
    clean_code, clean_messages, clean = clean_build(warm)
    assert clean_code == 0
    other = snapshot(warm / "other")
    assert snapshot(warm / "out") == {**clean, "NOTES.md": b"mine\n"}
    assert other == clean


def test_spellings_of_output_folder_share_cache(
    warm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every path to the same output folder replays and updates one spare tree."""
    (warm / "sub").mkdir()
    for arguments in (("--project", "sub/.."), ("--out", f"{warm}/sub/../out")):
        result = CliRunner().invoke(main, ["build", *arguments])
        assert result.exit_code == 0, result.stderr
        assert "nothing changed since the last build" in result.stderr, arguments
    _edit(warm)
    code, messages = run_build("--project", "sub/..")
    assert code == 0, messages
    # From the parent folder, a changed manifest is built into the same spare tree.
    monkeypatch.chdir(warm.parent)
    replace_in(manifest(warm, 1), "<300ms Green, 300-", "<250ms Green, 250-")
    code, messages = run_build("--project", warm.name)
    assert code == 0, messages
    spares = list((warm / CACHE_DIR / obscompile.cache.SPARE).iterdir())
    assert len(spares) == 1
    monkeypatch.chdir(warm)
    clean_code, clean_messages, clean = clean_build(warm)
    assert clean_code == 0
    assert snapshot(warm / "out") == clean


def test_build_from_replaced_out_names_it(
    warm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shell left in the old out/ after a build gets the path of the new one."""
    monkeypatch.chdir(warm / "out")
    _edit(warm)
    code, messages = run_build("--project", "..")
    assert code == 0, messages
    # The build swapped out/, so the working folder is its old tree in the cache.
    (copy,) = (warm / CACHE_DIR / obscompile.cache.SPARE).iterdir()
    assert Path(os.getcwd()) == copy

    code, messages = run_build("--project", "..")

    assert code == 2
    assert messages == (
        f"obscompile: error: services folder {copy.parent}/services not found: the "
        f"working folder {copy} is an old copy of {warm}/out: a newer build replaced "
        f"{warm}/out and moved the old tree into the build cache. Run `cd {warm}/out` "
        f"to change into the new output folder, or pass --project {warm}\n"
    )


def test_build_from_replaced_other_out(
    warm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old copy of an --out folder is named as one of the project's outputs."""
    other = warm / "other"
    code, messages = run_build("--out", str(other))
    assert code == 0, messages
    monkeypatch.chdir(other)
    _edit(warm)
    code, messages = run_build("--project", str(warm), "--out", str(other))
    assert code == 0, messages
    copy = Path(os.getcwd())
    assert copy.parent == warm / CACHE_DIR / obscompile.cache.SPARE

    code, messages = run_build()

    assert code == 2
    assert messages == (
        f"obscompile: error: services folder {copy}/services not found: the working "
        f"folder {copy} is an old copy of an output folder of the project {warm}: a "
        "newer build replaced that folder and moved the old tree into the build "
        f"cache. Change into the output folder again, or pass --project {warm}\n"
    )


def test_project_inside_cache_is_rejected(warm: Path) -> None:
    _edit(warm)
    code, messages = run_build()
    assert code == 0, messages
    (copy,) = (warm / CACHE_DIR / obscompile.cache.SPARE).iterdir()

    code, messages = run_build("--project", str(copy))

    assert code == 2
    assert messages == (
        f"obscompile: error: services folder {copy}/services not found: the path is "
        f"inside the build cache {warm / CACHE_DIR}, which keeps old copies of output "
        f"folders and is no project folder, so pass --project {warm}\n"
    )


def test_new_project_reuses_compiled_templates(
    warm: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compiled = count_compiled_templates(monkeypatch)
    other = tmp_path_factory.mktemp("other-project")
    shutil.copytree(warm / "services", other / "services")
    monkeypatch.chdir(other)
    code, messages = run_build()
    assert code == 0, messages
    # The templates were compiled by the first build of the other project.
    assert compiled == []
    assert not (other / CACHE_DIR / "templates").exists()


def test_unused_compiled_templates_are_removed(warm: Path) -> None:
    folders = user_cache_folder() / "templates"
    stale, recent = folders / "stale-compiler", folders / "recent-compiler"
    for folder in (stale, recent):
        folder.mkdir()
        (folder / "code.cache").write_bytes(b"j2")
    month_ago = time.time() - 31 * 86_400
    os.utime(stale, (month_ago, month_ago))
    # Earlier versions kept the compiled templates in the project's cache folder.
    (warm / CACHE_DIR / "templates" / "old").mkdir(parents=True)
    _edit(warm)
    code, messages = run_build()
    assert code == 0, messages
    assert not stale.exists()
    assert (recent / "code.cache").exists()
    assert not (warm / CACHE_DIR / "templates").exists()
    shutil.rmtree(recent)


def test_damaged_compiled_templates_are_compiled_again(warm: Path) -> None:
    compiled = list((user_cache_folder() / "templates").rglob("*.cache"))
    assert compiled
    for path in compiled:
        # Jinja's header survives, the code after it does not.
        path.write_bytes(path.read_bytes()[:30])
    _edit(warm)
    code, messages = run_build()
    clean_code, clean_messages, clean = clean_build(warm)
    assert (code, messages) == (clean_code, clean_messages)
    assert snapshot(warm / "out") == clean


@pytest.mark.parametrize("workers", [False, True], ids=["one-process", "workers"])
@pytest.mark.parametrize(
    ("text", "place", "message"),
    [
        (
            "{% if tenants %}\n",
            (1, 1),
            "invalid template: {% if %} has no matching {% endif %} before the end "
            "of the template",
        ),
        (
            "groups: []\n{{ nosuch.x }}\n",
            (2, 4),
            "template failed to render: 'nosuch' is undefined",
        ),
        (
            "groups: []\n{{ 1 / 0 }}\n",
            (2, 1),
            "template failed to render: ZeroDivisionError: division by zero",
        ),
        (
            '{{ "x" + 1 }}\n',
            (1, 1),
            'template failed to render: TypeError: can only concatenate str (not "int") to str',
        ),
        (
            "{% macro again() %}{{ again() }}{% endmacro %}{{ again() }}\n",
            (1, 1),
            "template failed to render: RecursionError: maximum recursion depth exceeded",
        ),
        (
            "namespace: a\n{{ document | yaml_document }}\n  bad: 1\n",
            (3, 1),
            "mimir/namespace.yaml.j2 rendered invalid YAML (did not find expected '-' "
            "indicator)",
        ),
    ],
    ids=["syntax", "undefined", "division", "type", "recursion", "output"],
)
def test_template_errors_are_located(
    warm: Path,
    monkeypatch: pytest.MonkeyPatch,
    workers: bool,
    text: str,
    place: tuple[int, int],
    message: str,
) -> None:
    if workers:
        monkeypatch.setattr(obscompile.parallel, "MIN_SERVICES", 2)
    before = snapshot(warm / "out")
    template = warm / "templates" / "mimir" / "namespace.yaml.j2"
    template.parent.mkdir(parents=True)
    template.write_text(text)
    code, messages = run_build("--jobs", "2")
    assert code == 1
    line, column = place
    expected = f"templates/mimir/namespace.yaml.j2:{line}:{column}: error: {message}"
    assert expected in messages
    # The report shows the template's line.
    assert text.splitlines()[line - 1] in messages
    assert "[template/render]" in messages
    assert "Traceback" not in messages
    assert snapshot(warm / "out") == before


def _edit_during_build(
    project: Path, monkeypatch: pytest.MonkeyPatch, what: str
) -> tuple[Path, str]:
    """Edit a manifest for the next build, and arrange that its stages see `what` edited
    again after the cache's scan. Returns the path of `what` and its text at the scan.
    """
    if what == "template":
        override_stat_template(project, "value")
        code, messages = run_build()
        assert code == 0, messages
    _edit(project)
    if what == "manifest":
        path = manifest(project, 2)
        load = obscompile.load.project.load_manifest_file

        def edit_then_load(file: Path, name: str):  # type: ignore[no-untyped-def]
            if file.name == path.name:
                replace_in(path, "<2% Green, 2-5%", "<3% Green, 3-5%")
            return load(file, name)

        monkeypatch.setattr(
            obscompile.load.project, "load_manifest_file", edit_then_load
        )
    else:
        path = project / "templates" / "grafana" / "panels" / "stat.json.j2"
        make_environment = obscompile.pipeline.make_environment

        def edit_then_make(*arguments):  # type: ignore[no-untyped-def]
            replace_in(path, '"textMode": "value"', '"textMode": "name"')
            return make_environment(*arguments)

        monkeypatch.setattr(obscompile.pipeline, "make_environment", edit_then_make)
    return path, path.read_text()


@pytest.mark.parametrize("what", ["manifest", "template"])
def test_input_edited_during_build_is_not_kept(
    warm: Path, monkeypatch: pytest.MonkeyPatch, what: str
) -> None:
    path, scanned = _edit_during_build(warm, monkeypatch, what)
    code, messages = run_build()
    assert code == 0, messages
    name = path.relative_to(warm).as_posix()
    assert f"warning: {name} changed during the build, so out may not match" in (
        messages
    )
    monkeypatch.undo()
    monkeypatch.chdir(warm)
    # The edit is undone: the inputs are those of the scan again.
    path.write_text(scanned)
    code, messages = run_build()
    clean_code, clean_messages, clean = clean_build(warm)
    assert (code, messages) == (clean_code, clean_messages)
    assert snapshot(warm / "out") == clean
    result = CliRunner().invoke(main, ["build"])
    assert result.stderr.rstrip().endswith("nothing changed since the last build")


def test_read_only_compiled_templates_are_skipped(tmp_path: Path) -> None:
    """A user cache folder the build may not write keeps no compiled template."""
    project = tmp_path / "project"
    shutil.copytree(REPO / "services", project / "services")
    override_stat_template(project, "value")
    environment = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "user-cache")}
    command = [sys.executable, "-m", "obscompile", "build", "--project", str(project)]
    subprocess.run(command, check=True, env=environment, capture_output=True)
    compiled = tmp_path / "user-cache" / "obscompile" / "templates"
    assert list(compiled.rglob("*.cache"))

    folders = [compiled, *(path for path in compiled.rglob("*") if path.is_dir())]
    for folder in folders:
        folder.chmod(0o555)
    # The edited template is compiled again, and its code cannot be stored.
    override_stat_template(project, "name")
    if os.geteuid() == 0:
        if shutil.which("capsh") is None:
            pytest.skip("root ignores file modes, and capsh is missing to drop that")
        drop = "--drop=cap_dac_override,cap_dac_read_search,cap_fowner"
        command = ["capsh", drop, "--", "-c", shlex.join(command)]

    try:
        built = subprocess.run(
            command, env=environment, capture_output=True, text=True, timeout=300
        )
    finally:
        for folder in folders:
            folder.chmod(0o755)
    assert built.returncode == 0, built.stderr
    assert "Traceback" not in built.stderr
    assert (
        '"textMode": "name"'
        in (
            project / "out" / "grafana" / "dashboards" / "auth-server-dashboard.json"
        ).read_text()
    )


# A working folder below the test's folder and the arguments that name the project
# folder `project` and its `out/` from there.
PROJECT_SPELLINGS = {
    "relative": ("", "--project", "project"),
    "trailing-slash": ("", "--project", "project/"),
    "parent": ("project/sub", "--project", ".."),
    "sibling": ("other", "--project", "../project"),
    "dot-dot-inside": ("", "--project", "other/../project"),
    "symlink": ("", "--project", "link"),
    "absolute": ("other", "--project", "{tmp}/project"),
    "out-relative": ("", "--project", "project", "--out", "project/out/"),
    "out-from-inside": ("project/sub", "--project", "..", "--out", "../out"),
    "out-dot": ("project", "--out", "./out"),
}


@pytest.mark.parametrize("spelling", PROJECT_SPELLINGS, ids=list(PROJECT_SPELLINGS))
def test_noop_replays_every_project_spelling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    """A build from another folder, or through a link, replays the last build.

    The replay prints the warning at the path that a build without the cache prints
    from that folder, and with its source line.
    """
    project = tmp_path / "project"
    workload.write_project(project, SERVICES, PANELS)
    (project / "obscompile.yaml").write_text(CONFIG, encoding="utf-8")
    # A metric label `instance` gets a warning at the label.
    replace_in(
        manifest(project, 1), "labels: [job_type]\n", "labels: [job_type, instance]\n"
    )
    (project / "sub").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "link").symlink_to(project, target_is_directory=True)
    monkeypatch.chdir(project)
    code, messages = run_build()
    assert code == 0, messages
    assert "instrument/label-name" in messages
    built = snapshot(project / "out")
    before = file_states(project / "out")
    folder, *arguments = PROJECT_SPELLINGS[spelling]
    arguments = [argument.format(tmp=tmp_path) for argument in arguments]

    replayed = _build_in(tmp_path / folder, *arguments)
    assert replayed.returncode == 0, replayed.stderr
    assert "nothing changed since the last build" in replayed.stderr
    assert replayed.stdout.strip() == "[]"
    assert file_states(project / "out") == before

    monkeypatch.chdir(tmp_path / folder)
    code, messages = run_build("--no-cache", *arguments)
    assert code == 0, messages
    assert without_duration(replayed.stderr) == messages
    assert snapshot(project / "out") == built


def _type_conflict(project: Path) -> None:
    # The warning's message names the position of the other declaration.
    jobs = "  svc_0002_jobs_total:"
    replace_in(manifest(project, 2), jobs, f"  svc_0001_jobs_total: gauge\n{jobs}")


def _nested_manifest(project: Path) -> None:
    # The warning's message names the services folder.
    (project / "services" / "more").mkdir()
    shutil.copy(manifest(project, 1), project / "services" / "more" / "extra.yaml")


RATE_BLOCK = """\
from obscompile import dsl


@dsl.block("rate_row")
def rate_row():
    query = 'sum(rate(svc_0001_jobs_total{job="svc_0001"}[$__interval]))'
    return dsl.row("Rates", [dsl.panel("Jobs", query)])
"""


def _block_warning(project: Path) -> None:
    # A warning inside a project block names the block's file and the `use:` line.
    (project / "blocks").mkdir()
    (project / "blocks" / "rates.py").write_text(RATE_BLOCK)
    path = manifest(project, 1)
    path.write_text(path.read_text() + "  - use: rate_row\n")


@pytest.mark.parametrize(
    "change",
    [_type_conflict, _nested_manifest, _block_warning],
    ids=lambda c: c.__name__[1:],
)
def test_other_spelling_names_paths_as_built(
    warm: Path, monkeypatch: pytest.MonkeyPatch, change: Callable[[Path], None]
) -> None:
    """From another folder, a warning names each path as a build without the cache does."""
    change(warm)
    code, messages = run_build()
    assert code == 0, messages
    assert "warning" in messages
    monkeypatch.chdir(warm.parent)
    code, messages = run_build("--project", warm.name)
    assert code == 0, messages
    assert f"{warm.name}/services/" in messages
    clean_code, clean_messages = run_build("--no-cache", "--project", warm.name)
    assert (code, messages) == (clean_code, clean_messages)


def test_cached_catalogs_report_type_conflicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cached catalogs give the warnings of fresh ones, and unpickle only when shared."""
    monkeypatch.chdir(tmp_path)
    services = tmp_path / "services"
    services.mkdir()
    (services / "billing.yaml").write_text(
        "service: billing\nmetrics:\n  jobs_total: counter\n", encoding="utf-8"
    )
    (services / "payments.yaml").write_text(
        "service: payments\nmetrics:\n  jobs_total: gauge\n", encoding="utf-8"
    )
    (services / "search.yaml").write_text(
        "service: search\nmetrics:\n  queries_total: counter\n", encoding="utf-8"
    )
    (services / "refunds.yaml").write_text(
        "service: refunds\nmetrics:\n  refunds_total: counter\n", encoding="utf-8"
    )
    code, first = run_build()
    assert code == 0, first
    # One warning at each of the two declarations.
    assert first.count("[project/metric-type-conflict]") == 2, first
    unpickled: list[str] = []
    items = obscompile.cache._LazyTuple.items

    def counting_items(self):  # type: ignore[no-untyped-def]
        if isinstance(self, obscompile.cache.LazyCatalog) and self._items is None:
            unpickled.extend(name for name, _ in self.families)
        return items(self)

    monkeypatch.setattr(obscompile.cache._LazyTuple, "items", counting_items)
    (services / "refunds.yaml").write_text(
        "service: refunds\nmetrics:\n  refunds_total: counter\n  jobs_total: counter\n",
        encoding="utf-8",
    )
    code, second = run_build()
    assert code == 0, second
    assert second.count("[project/metric-type-conflict]") == 2, second
    assert 'gauge "jobs_total"' in second
    assert "services/payments.yaml:3:3" in second
    # The catalogs that declare the shared name are read, and the one of search is not.
    assert sorted(unpickled) == ["jobs_total", "jobs_total"]
