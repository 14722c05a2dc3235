"""Diagnostic output formats and the check command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from obscompile.cli import main
from obscompile.diagnostics import error, warning
from obscompile.model.location import Location
from obscompile.report import format_github, format_json, format_text
from tests.conftest import write_manifest

SOURCE = {"services/a.yaml": "service: a\ndashbord: {}\n"}
DIAGNOSTICS = [
    error(
        Location("services/a.yaml", 2, 1), 'unknown key "dashbord"', "manifest/schema"
    ),
    warning(Location("services/a.yaml", 1, 10), "odd, 100%: yes", "x/y"),
]


def test_text_format() -> None:
    assert format_text(DIAGNOSTICS, SOURCE) == (
        'services/a.yaml:2:1: error: unknown key "dashbord" [manifest/schema]\n'
        "  dashbord: {}\n"
        "  ^\n"
        "services/a.yaml:1:10: warning: odd, 100%: yes [x/y]\n"
        "  service: a\n"
        "           ^\n"
    )


def test_empty_file_shows_no_source_line() -> None:
    """A problem with an empty or blank file is reported without a source line."""
    where = Location("services/empty.yaml", 1, 1)
    diagnostics = [error(where, "the file is empty", "yaml/empty")]
    for text in ("", "\n  \n"):
        report = format_text(diagnostics, {"services/empty.yaml": text})
        assert (
            report == "services/empty.yaml:1:1: error: the file is empty [yaml/empty]\n"
        )


def test_text_color_only_when_asked() -> None:
    assert "\x1b[" not in format_text(DIAGNOSTICS, SOURCE)
    assert "\x1b[1;31merror\x1b[0m" in format_text(DIAGNOSTICS, SOURCE, color=True)


def test_json_format() -> None:
    assert json.loads(format_json(DIAGNOSTICS, SOURCE)) == [
        {
            "file": "services/a.yaml",
            "line": 2,
            "column": 1,
            "severity": "error",
            "message": 'unknown key "dashbord"',
            "check": "manifest/schema",
        },
        {
            "file": "services/a.yaml",
            "line": 1,
            "column": 10,
            "severity": "warning",
            "message": "odd, 100%: yes",
            "check": "x/y",
        },
    ]


def test_github_format() -> None:
    assert format_github(DIAGNOSTICS, SOURCE).splitlines() == [
        '::error file=services/a.yaml,line=2,col=1,title=manifest/schema::unknown key "dashbord"',
        "::warning file=services/a.yaml,line=1,col=10,title=x/y::odd, 100%25: yes",
    ]


def test_check_command_writes_nothing(project: Path) -> None:
    write_manifest(
        project,
        "a.yaml",
        "service: a\nrows: [{title: R, panels: [{title: p, query: up}]}]\n",
    )
    result = CliRunner().invoke(main, ["check", "--project", str(project)])
    assert result.exit_code == 0, result.output
    assert not (project / "out").exists()


def test_json_format_escapes_undecodable_names() -> None:
    """A file name that is not UTF-8 is escaped, so the report stays valid UTF-8."""
    found = error(Location("services/s\udcff.yaml", 1, 1), "bad", "x/y")
    text = format_json([found], {})
    data = json.loads(text.encode("utf-8"))
    assert data[0]["file"] == "services/s\udcff.yaml"
    assert os.fsencode(data[0]["file"]) == b"services/s\xff.yaml"


def test_check_command_json(project: Path) -> None:
    write_manifest(project, "a.yaml", "service: a\ndashbord: {}\n")
    result = CliRunner().invoke(
        main, ["check", "--project", str(project), "--format", "json"]
    )
    assert result.exit_code == 1
    (item,) = json.loads(result.stdout)
    assert (item["line"], item["column"], item["check"]) == (2, 1, "manifest/schema")


@pytest.mark.parametrize("command", ["build", "check"])
@pytest.mark.parametrize("output_format", ["text", "json", "github"])
def test_summary_on_stderr_in_every_format(
    project: Path, command: str, output_format: str
) -> None:
    """Both commands end with the summary line on stderr, whatever stdout carries."""
    write_manifest(project, "a.yaml", "service: a\ndashbord: {}\n")
    arguments = [command, "--project", str(project), "--format", output_format]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith(
        "obscompile: 1 service (1 failed to load), 0 dashboards, 0 panels, 1 error"
    )
    assert "obscompile: 1 service" not in result.stdout


@pytest.mark.parametrize("output_format", ["text", "json", "github"])
def test_build_check_ends_with_summary(project: Path, output_format: str) -> None:
    """`build --check` counts the warnings too, then reports whether out/ is stale."""
    write_manifest(
        project,
        "a.yaml",
        "service: a\nscrape: {job: a, port: 8080, interval: 15s}\n"
        "metrics: {x_total: counter}\nrows:\n  - title: R\n    panels:\n"
        "      - title: X\n        query: sum(rate(x_total[1m]))\n",
    )
    # A default for: of 90s gets a warning, because alerts fire at a 1m evaluation.
    (project / "obscompile.yaml").write_text("alert_for: 90s\n")
    arguments = ["build", "--check", "--project", str(project)]
    arguments += ["--format", output_format]
    stale = CliRunner().invoke(main, arguments)
    assert stale.exit_code == 1
    # A machine-readable report lists the six missing files as errors.
    errors = 0 if output_format == "text" else 6
    summary = f"obscompile: 1 service, 1 dashboard, 1 panel, {errors} errors, 1 warning"
    last = stale.stderr.splitlines()[-1]
    assert last.startswith(summary), stale.stderr
    assert "out is stale: 6 files differ; run obscompile build" in last
    assert CliRunner().invoke(main, ["build", "--project", str(project)]).exit_code == 0
    fresh = CliRunner().invoke(main, arguments)
    assert fresh.exit_code == 0
    last = fresh.stderr.splitlines()[-1]
    summary = "obscompile: 1 service, 1 dashboard, 1 panel, 0 errors, 1 warning in "
    assert last.startswith(summary), last
    assert last.endswith("out is up to date"), last


def _simple_service(name: str) -> str:
    return (
        f"service: {name}\nscrape: {{job: {name}, port: 8080, interval: 15s}}\n"
        "metrics: {x_total: counter}\nrows:\n  - title: R\n    panels:\n"
        "      - title: X\n        query: sum(rate(x_total[1m]))\n"
    )


def test_build_lists_removed_files(project: Path) -> None:
    """A build names the files of the last build that it removed, and counts them."""
    for name in ("a", "b"):
        write_manifest(project, f"{name}.yaml", _simple_service(name))
    arguments = ["build", "--project", str(project)]
    first = CliRunner().invoke(main, arguments)
    assert first.exit_code == 0, first.stderr
    assert "removed" not in first.stderr
    before = {p.relative_to(project) for p in (project / "out").rglob("*")}
    (project / "services" / "b.yaml").unlink()
    second = CliRunner().invoke(main, arguments)
    assert second.exit_code == 0, second.stderr
    after = {p.relative_to(project) for p in (project / "out").rglob("*")}
    removed_files = sorted(str(p) for p in before - after if not (project / p).is_dir())
    listed = [
        line.removesuffix(": removed; this build no longer writes it")
        for line in second.stderr.splitlines()
        if line.endswith("no longer writes it")
    ]
    assert removed_files and all("b" in path for path in removed_files)
    listed_files = [str(Path(line).relative_to(project)) for line in listed]
    assert listed_files == removed_files
    last = second.stderr.splitlines()[-1]
    assert last.startswith("obscompile: 1 service, 1 dashboard, 1 panel in ")
    assert last.endswith(
        f"; removed {len(removed_files)} file" + ("s" if len(removed_files) > 1 else "")
    )
    third = CliRunner().invoke(main, arguments)
    assert "removed" not in third.stderr


def test_build_names_dropped_target(project: Path) -> None:
    """A file removed because its target left `targets` names that target."""
    write_manifest(project, "a.yaml", _simple_service("a"))
    arguments = ["build", "--project", str(project)]
    assert CliRunner().invoke(main, arguments).exit_code == 0
    (project / "obscompile.yaml").write_text("targets: [grafana, prometheus]\n")
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if ": removed; " in line]
    assert lines
    for line in lines:
        name = str(Path(line.partition(": removed; ")[0]).relative_to(project / "out"))
        target = name.partition("/")[0]
        assert target in ("terraform", "kubernetes", "mimir", "instrumentation"), line
        reason = f"target {target} is not in the targets of obscompile.yaml"
        assert line.endswith(f": removed; {reason}"), line


def test_build_warns_of_replaced_hand_edit(project: Path) -> None:
    """A build replaces a hand-edited file and warns with the path of its copy."""
    write_manifest(project, "a.yaml", _simple_service("a"))
    arguments = ["build", "--project", str(project)]
    assert CliRunner().invoke(main, arguments).exit_code == 0
    (dashboard,) = (project / "out" / "grafana" / "dashboards").glob("*.json")
    built = dashboard.read_text()
    edited = built.replace('"title": "X"', '"title": "Edited"', 1)
    assert edited != built
    dashboard.write_text(edited)
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.stderr
    assert dashboard.read_text() == built
    (warning,) = [line for line in result.stderr.splitlines() if "warning" in line]
    copy = warning.split("the changed file stays in ")[1].split(" until")[0]
    assert Path(copy).read_text() == edited
    assert warning.startswith(
        f"obscompile: warning: {dashboard} was changed after the last build wrote it"
    )
    # A file touched without a change, then a manifest edit, give no warning.
    dashboard.touch()
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.stderr
    assert "warning" not in result.stderr
    write_manifest(project, "a.yaml", _simple_service("a").replace("X", "Z"))
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.stderr
    assert "warning" not in result.stderr
    assert '"title": "Z"' in dashboard.read_text()


def _hand_edit_warning(stderr: str) -> tuple[str, str]:
    """Return the hand-edit warning of a build and the path of the copy it names."""
    (warning,) = [line for line in stderr.splitlines() if "warning" in line]
    copy = warning.split("the changed file stays in ")[1].split(" until")[0]
    return warning, copy


def test_hand_edit_warning_with_manifest_change(project: Path) -> None:
    """A hand edit is reported when the manifest of its file changed too."""
    write_manifest(project, "a.yaml", _simple_service("a"))
    arguments = ["build", "--project", str(project)]
    assert CliRunner().invoke(main, arguments).exit_code == 0
    (dashboard,) = (project / "out" / "grafana" / "dashboards").glob("*.json")
    edited = dashboard.read_text().replace('"title": "X"', '"title": "Edited"', 1)
    dashboard.write_text(edited)
    write_manifest(project, "a.yaml", _simple_service("a").replace("X", "Z"))
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.stderr
    assert '"title": "Z"' in dashboard.read_text()
    warning, copy = _hand_edit_warning(result.stderr)
    assert warning.startswith(
        f"obscompile: warning: {dashboard} was changed after the last build wrote it"
    )
    assert Path(copy).read_text() == edited


def test_hand_edit_warning_in_new_clone(project: Path) -> None:
    """A first build that writes nothing, as in a new clone, records out/ too."""
    write_manifest(project, "a.yaml", _simple_service("a"))
    arguments = ["build", "--project", str(project)]
    assert CliRunner().invoke(main, arguments).exit_code == 0
    shutil.rmtree(project / ".obscompile-cache")
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.stderr
    (dashboard,) = (project / "out" / "grafana" / "dashboards").glob("*.json")
    edited = dashboard.read_text().replace('"title": "X"', '"title": "Edited"', 1)
    dashboard.write_text(edited)
    write_manifest(project, "a.yaml", _simple_service("a").replace("X", "Z"))
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.stderr
    warning, copy = _hand_edit_warning(result.stderr)
    assert warning.startswith(f"obscompile: warning: {dashboard} was changed after")
    assert Path(copy).read_text() == edited


def test_hand_edit_warning_for_project_file(project: Path) -> None:
    """A hand edit of a file that every service feeds, such as prometheus.yml."""
    write_manifest(project, "a.yaml", _simple_service("a"))
    arguments = ["build", "--project", str(project)]
    assert CliRunner().invoke(main, arguments).exit_code == 0
    config = project / "out" / "prometheus" / "prometheus.yml"
    built = config.read_text()
    config.write_text(built + "# edited\n")
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.stderr
    assert config.read_text() == built
    warning, copy = _hand_edit_warning(result.stderr)
    assert warning.startswith(
        f"obscompile: warning: {config} was changed after the last build wrote it"
    )
    assert Path(copy).read_text() == built + "# edited\n"
    # The next build finds the file as this one wrote it.
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.stderr
    assert "warning" not in result.stderr


def test_build_shortens_long_removed_list(project: Path) -> None:
    """Past ten removed files, the rest are counted in one line."""
    names = [f"s{number}" for number in range(13)]
    for name in names:
        write_manifest(project, f"{name}.yaml", _simple_service(name))
    arguments = ["build", "--project", str(project)]
    assert CliRunner().invoke(main, arguments).exit_code == 0
    for name in names[1:]:
        (project / "services" / f"{name}.yaml").unlink()
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.stderr
    removed = int(result.stderr.splitlines()[-1].rsplit(" ", 2)[-2])
    assert removed > 10
    lines = result.stderr.splitlines()
    assert sum(line.endswith("no longer writes it") for line in lines) == 10
    more = f"obscompile: {removed - 10} more files removed from {project / 'out'}"
    assert more in lines


def test_module_print_keeps_json_valid(project: Path) -> None:
    write_manifest(
        project,
        "a.py",
        "from obscompile import dsl\nprint('hello from module')\n"
        "dsl.service('a', dashbord={})\n",
    )
    result = CliRunner().invoke(
        main, ["check", "--project", str(project), "--format", "json"]
    )
    assert result.exit_code == 1
    assert "hello from module" in result.stderr
    (item,) = json.loads(result.stdout)
    assert item["check"] == "dsl/error"


@pytest.mark.parametrize(
    ("services", "child"),
    [(3, True), (20, False)],
    ids=["one-process", "workers"],
)
def test_user_code_output_keeps_json_valid(
    project: Path, services: int, child: bool
) -> None:
    """print() in a block and a module's child process write to stderr.

    A project with a Python service module loads in one process, so the case with
    worker processes has YAML manifests only.
    """
    blocks = project / "blocks"
    blocks.mkdir()
    (blocks / "team.py").write_text(
        "from obscompile import dsl\n\n"
        '@dsl.block("team_row")\n'
        "def team_row(job):\n"
        "    print('hello from block')\n"
        '    return dsl.row("Team", [dsl.panel("Up", "up")])\n',
        encoding="utf-8",
    )
    for index in range(services):
        name = f"s{index:02}"
        write_manifest(
            project,
            f"{name}.yaml",
            f"service: {name}\nrows:\n  - use: team_row\n    with: {{job: {name}}}\n",
        )
    if child:
        write_manifest(
            project,
            "child.py",
            "import subprocess\nimport sys\nfrom obscompile import dsl\n\n"
            "subprocess.run([sys.executable, '-c', 'print(\"hello from child\")'])\n"
            "dsl.service('child')\n",
        )
    result = subprocess.run(
        ["obscompile", "check", "--project", str(project), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("hello from block") == services
    assert ("hello from child" in result.stderr) is child
    assert isinstance(json.loads(result.stdout), list)


def test_no_color_env(project: Path, monkeypatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    write_manifest(project, "a.yaml", "service: a\ndashbord: {}\n")
    result = CliRunner().invoke(main, ["check", "--project", str(project)])
    assert "\x1b[" not in result.output


def test_pool_threshold_needs_capacity(project: Path) -> None:
    write_manifest(
        project,
        "a.yaml",
        "service: a\nmetrics: {db_connections_active: gauge}\nrows:\n  - title: R\n    panels:\n"
        "      - {title: DB, query: db_connections_active, thresholds: '<80% pool Green'}\n",
    )
    result = CliRunner().invoke(main, ["check", "--project", str(project)])
    assert result.exit_code == 1
    assert (
        'services/a.yaml:6:63: error: threshold "<80% pool Green" is a percentage of "pool", but the '
        "panel sets no capacity; set capacity: to the size of the pool [thresholds/unit]"
    ) in result.output
