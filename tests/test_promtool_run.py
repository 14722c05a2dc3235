"""`obscompile test` runs each generated test group with only the rules it reads.

The shards of a generated test file must pass where the whole file passes, fail
where it fails, and report a failure under the original file and test groups.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from obscompile import promtool_run
from obscompile.pipeline import BuildResult
from obscompile.write.atomic import folder_lock
from tests.conftest import REPO
from tests.test_prometheus import (
    obscompile_test,
    promtool_binary,
    run_promtool,
    write_files,
)

# A boundary moved by the smallest step: the value at the boundary changes sides.
MOVED = {">=": ">", "<": "<=", "==": "<"}
COMPARISON = re.compile(r" (>=|<|==) ")


def _plan(out: Path, folder: Path) -> list[promtool_run.Unit]:
    generated = sorted((out / "prometheus" / "tests").glob("*.yml"))
    return promtool_run.plan_units(generated, [], folder)


def _alerts(rule_text: str) -> list[tuple[str, str]]:
    """Return (alert, expr) for each alerting rule of a rule file."""
    return [
        (rule["alert"], rule["expr"])
        for group in yaml.safe_load(rule_text)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def test_real_files_split_and_pass(real_build: BuildResult, tmp_path: Path) -> None:
    promtool_binary()
    out = write_files(tmp_path / "out", real_build.files)
    units = _plan(out, tmp_path / "shards")
    for test_file in sorted((out / "prometheus" / "tests").glob("*.yml")):
        shards = [unit for unit in units if unit.original == test_file]
        assert shards, test_file
        assert all(unit.groups is not None for unit in shards), test_file
        # Each test group is in exactly one shard.
        names = [
            group["name"] for group in yaml.safe_load(test_file.read_text())["tests"]
        ]
        in_shards = [name for unit in shards for name in unit.groups or ()]
        assert sorted(in_shards) == sorted(names)
        # Each rule of the rule file is evaluated in some shard.
        rule_file = (
            out
            / "prometheus"
            / "rules"
            / test_file.name.replace(".test.yml", ".rules.yml")
        )
        rule_names = set(re.findall(r"(?:alert|record): (\S+)", rule_file.read_text()))
        shard_rules = {
            name
            for unit in shards
            for path in unit.path.parent.glob(f"{unit.path.name[:5]}.*.rules.yml")
            for name in re.findall(r"(?:alert|record): (\S+)", path.read_text())
        }
        assert shard_rules == rule_names
    outcomes = promtool_run.run_units(units, 2)
    assert [o.output for o in outcomes if not o.passed] == []


def test_moved_boundaries_fail_their_shards(
    real_build: BuildResult, tmp_path: Path
) -> None:
    """Each alert's shard fails once the alert's boundary moves.

    All boundaries of a rule file move at once, and each failed shard tests one
    alert, so each alert's own tests find its moved boundary.
    """
    promtool_binary()
    failed_alerts = []
    for name, text in sorted(real_build.files.items()):
        if not name.startswith("prometheus/rules/"):
            continue
        moved_text = text
        for _, expr in _alerts(text):
            found = COMPARISON.search(expr)
            assert found is not None, expr
            moved = (
                expr[: found.start(1)] + MOVED[found.group(1)] + expr[found.end(1) :]
            )
            moved_text = moved_text.replace(f"expr: {expr}\n", f"expr: {moved}\n")
        service = Path(name).name.removesuffix(".rules.yml")
        folder = tmp_path / service
        out = write_files(folder / "out", {**real_build.files, name: moved_text})
        test_file = out / "prometheus" / "tests" / f"{service}.test.yml"
        units = promtool_run.plan_units([test_file], [], folder / "shards")
        outcomes = promtool_run.run_units(units, 2)
        for alert, _ in _alerts(text):
            failed = [
                outcome
                for outcome in outcomes
                if not outcome.passed
                and outcome.unit.groups
                and all(group.startswith(f"{alert}: ") for group in outcome.unit.groups)
            ]
            assert failed, f"no shard of {alert} failed"
            failed_alerts.append(alert)
        report = promtool_run.failure_report(outcomes)
        assert report.startswith(f"Unit Testing:  {test_file}\n")
        assert "FAILED" in report
    assert len(failed_alerts) == 29


RULES = """\
groups:
  - name: demo.recording
    rules:
      - record: job:requests:sum
        expr: sum by (job) (requests_total)
      - record: job:errors:sum
        expr: sum by (job) (errors_total)
  - name: demo.alerts
    rules:
      - alert: Requests
        expr: job:requests:sum > 10
      - alert: Errors
        expr: job:errors:sum > 10
{extra}"""

ERRORS_GROUP = """\
  - name: errors fire
    interval: 1m
    input_series:
      - series: errors_total{job="demo",instance="a"}
        values: 20x3
    alert_rule_test:
      - eval_time: 2m
        alertname: Errors
        exp_alerts:
          - exp_labels: {job: demo}
"""
ERRORS_GROUP_FLOW = (
    "  - {name: errors fire, interval: 1m, input_series: "
    '[{series: \'errors_total{job="demo",instance="a"}\', values: 20x3}], '
    "alert_rule_test: [{eval_time: 2m, alertname: Errors, "
    "exp_alerts: [{exp_labels: {job: demo}}]}]}\n"
)
TESTS = """\
rule_files:
  - demo.rules.yml
evaluation_interval: 1m
group_eval_order:
  - demo.recording
  - demo.alerts
tests:
  - name: requests fire
    interval: 1m
    input_series:
      - series: requests_total{{job="demo",instance="a"}}
        values: 20x3
    alert_rule_test:
      - eval_time: 2m
        alertname: Requests
        exp_alerts:
          - exp_labels: {{job: demo}}
    promql_expr_test:
      - expr: job:requests:sum
        eval_time: 2m
        exp_samples:
          - labels: job:requests:sum{{job="demo"}}
            value: {value}
"""


def _write_demo(folder: Path, extra: str = "", value: str = "20") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "demo.rules.yml").write_text(RULES.format(extra=extra))
    test_file = folder / "demo.test.yml"
    test_file.write_text(TESTS.format(value=value) + ERRORS_GROUP)
    return test_file


def _shard_rules(unit: promtool_run.Unit) -> set[str]:
    found = set()
    for path in unit.path.parent.glob(f"{unit.path.name[:5]}.*.rules.yml"):
        found |= set(re.findall(r"(?:alert|record): (\S+)", path.read_text()))
    return found


def test_shard_keeps_rules_it_reads(tmp_path: Path) -> None:
    test_file = _write_demo(tmp_path / "demo")
    units = promtool_run.plan_units([test_file], [], tmp_path / "shards")
    assert [unit.groups for unit in units] == [("requests fire",), ("errors fire",)]
    assert _shard_rules(units[0]) == {"Requests", "job:requests:sum"}
    assert _shard_rules(units[1]) == {"Errors", "job:errors:sum"}
    assert all(o.passed for o in promtool_run.run_units(units, 2))


# An alert that reads a recorded series whose rule selects no input series, and a
# test of that series alone.
LIMIT_RULES = """\
groups:
  - name: limit
    rules:
      - record: limit
        expr: vector(10)
      - alert: OverLimit
        expr: sum(requests_total) > scalar(limit)
"""
LIMIT_TESTS = """\
rule_files: [limit.rules.yml]
tests:
  - name: over the limit
    interval: 1m
    input_series:
      - series: requests_total{job="demo"}
        values: 20x3
    alert_rule_test:
      - eval_time: 2m
        alertname: OverLimit
        exp_alerts:
          - exp_labels: {}
  - name: the limit
    interval: 1m
    promql_expr_test:
      - expr: limit
        eval_time: 1m
        exp_samples:
          - labels: limit
            value: 10
"""


def test_shard_keeps_writers_of_what_it_reads(tmp_path: Path) -> None:
    """A rule that another test checks still runs where a kept rule reads it."""
    promtool_binary()
    (tmp_path / "limit.rules.yml").write_text(LIMIT_RULES)
    test_file = tmp_path / "limit.test.yml"
    test_file.write_text(LIMIT_TESTS)
    assert run_promtool("test", "rules", str(test_file)).returncode == 0
    units = promtool_run.plan_units([test_file], [], tmp_path / "shards")
    assert [unit.groups for unit in units] == [("over the limit",), ("the limit",)]
    assert _shard_rules(units[0]) == {"OverLimit", "limit"}
    assert _shard_rules(units[1]) == {"limit"}
    assert [o.passed for o in promtool_run.run_units(units, 2)] == [True, True]


def test_shard_fails_where_file_fails(tmp_path: Path) -> None:
    """An expression test fails in its shard, reported with its test group."""
    promtool_binary()
    test_file = _write_demo(tmp_path / "demo", value="21")
    assert run_promtool("test", "rules", str(test_file)).returncode == 1
    units = promtool_run.plan_units([test_file], [], tmp_path / "shards")
    outcomes = promtool_run.run_units(units, 1)
    assert [o.passed for o in outcomes] == [False, True]
    report = promtool_run.failure_report(outcomes)
    assert report.splitlines()[:3] == [
        f"Unit Testing:  {test_file}",
        "  in the test group 'requests fire':",
        "  FAILED:",
    ]
    assert 'expr: "job:requests:sum", time: 2m,' in report


# A rule that no test checks, which fails for two series of one metric: the right
# side of `on () group_left` must have one series at most.
MANY_TO_MANY = """\
  - name: demo.unchecked
    rules:
      - record: errors:matched
        expr: errors_total * on () group_left errors_total
"""
# A rule that no test checks and that selects no series, which fails at every
# evaluation: the regex of label_replace does not compile.
BROKEN_REGEX = """\
  - name: demo.unchecked
    rules:
      - record: broken
        expr: label_replace(vector(1), "a", "$1", "b", "(")
"""


@pytest.mark.parametrize(
    ("extra", "record", "shard"),
    [(MANY_TO_MANY, "errors:matched", 1), (BROKEN_REGEX, "broken", 0)],
    ids=["selects-inputs", "selects-nothing"],
)
def test_unchecked_rule_still_evaluated(
    tmp_path: Path, extra: str, record: str, shard: int
) -> None:
    """A rule without a test fails a shard where it fails the whole file.

    It runs in the shard whose input series it selects, or else in the first.
    """
    promtool_binary()
    test_file = _write_demo(tmp_path / "demo", extra=extra)
    series = '      - series: errors_total{job="demo",instance="a"}\n'
    second = series.replace('"a"', '"b"') + "        values: 20x3\n"
    text = test_file.read_text()
    test_file.write_text(text.replace(series, second + series))
    assert run_promtool("test", "rules", str(test_file)).returncode == 1
    units = promtool_run.plan_units([test_file], [], tmp_path / "shards")
    assert [record in _shard_rules(unit) for unit in units] == [
        position == shard for position in range(2)
    ]
    outcomes = promtool_run.run_units(units, 2)
    assert [o.passed for o in outcomes] == [position != shard for position in range(2)]
    assert f"rule: {record}, time: 0s, err:" in outcomes[shard].output


RULE_FILES = "rule_files:\n  - demo.rules.yml\n"
# Changes to the demo test file, and whether the file still splits.
LAYOUTS = {
    "document-start": (lambda text: "---\n# demo\n" + text, True),
    "tests-first": (lambda text: text.replace(RULE_FILES, "") + RULE_FILES, True),
    "dash-alone": (
        lambda text: text.replace("  - name: errors", "  -\n    name: errors"),
        False,
    ),
    "flow-item": (lambda text: text.replace(ERRORS_GROUP, ERRORS_GROUP_FLOW), False),
    "anchor": (lambda text: text.replace("1m\n", "&interval 1m\n", 1), False),
    "tag": (
        lambda text: text.replace("alertname: Errors", "alertname: !!str Errors"),
        False,
    ),
}


@pytest.mark.parametrize(("change", "split"), LAYOUTS.values(), ids=LAYOUTS.keys())
def test_unusual_layout(
    tmp_path: Path, change: Callable[[str], str], split: bool
) -> None:
    """A file splits where its shards read back as the original, else runs whole."""
    promtool_binary()
    test_file = _write_demo(tmp_path / "demo")
    text = test_file.read_text()
    changed = change(text)
    assert changed != text
    test_file.write_text(changed)
    assert run_promtool("test", "rules", str(test_file)).returncode == 0
    units = promtool_run.plan_units([test_file], [], tmp_path / "shards")
    assert len(units) == (2 if split else 1)
    assert all(o.passed for o in promtool_run.run_units(units, 2))


def test_flow_style_runs_whole(tmp_path: Path) -> None:
    promtool_binary()
    test_file = _write_demo(tmp_path / "demo")
    data = yaml.safe_load(test_file.read_text())
    test_file.write_text(yaml.safe_dump(data, default_flow_style=True))
    units = promtool_run.plan_units([test_file], [], tmp_path / "shards")
    assert units == [promtool_run.Unit(test_file, test_file, None, 0)]
    assert [o.passed for o in promtool_run.run_units(units, 1)] == [True]


def test_cli_test_reports_shard_failure(
    tmp_path: Path, real_build: BuildResult
) -> None:
    """`obscompile test` names the original file and the failed test groups."""
    promtool_binary()
    project = tmp_path / "project"
    out = write_files(project / "out", real_build.files)
    (project / "services").mkdir()
    rules = out / "prometheus" / "rules" / "auth_server.rules.yml"
    text = rules.read_text()
    moved = text.replace('{job="auth_server"} >= 0.5\n', '{job="auth_server"} > 0.5\n')
    assert moved != text
    rules.write_text(moved)
    result = obscompile_test("--project", str(project), "--jobs", "2")
    assert result.returncode == 1, result.stdout + result.stderr
    test_file = out / "prometheus" / "tests" / "auth_server.test.yml"
    assert result.stdout.startswith(f"Unit Testing:  {test_file}\n")
    assert result.stdout.count("  in the test groups ") == 1
    assert (
        "  in the test groups 'AuthServerP95LatencyAllEndpointsCritical: "
        in result.stdout
    )
    assert "promtool test rules failed" in result.stderr


# A project with one service and one hand-written promtool test.
PAYMENTS = """\
service: payments
scrape: {job: payments, port: 8080}
metrics:
  jobs_total: counter
rows:
  - title: Jobs
    panels:
      - {title: Rate, query: 'sum(rate(jobs_total{job="payments"}[5m]))'}
"""
HAND_WRITTEN_RULES = """\
groups:
  - name: jobs
    rules:
      - record: jobs:sum
        expr: sum(jobs_total)
"""
# A test group of 3.6 million rule evaluations. promtool 2.42 needs about a minute
# for it (an estimate from 6 s for a tenth of it on 2 CPUs), and the tests stop it
# long before that.
SLOW_TEST = """\
rule_files: [jobs.rules.yml]
evaluation_interval: 1s
tests:
  - name: slow
    interval: 1m
    input_series:
      - series: jobs_total{job="payments"}
        values: 0+1x100
    promql_expr_test:
      - expr: jobs:sum
        eval_time: 1000h
        exp_samples: []
"""
QUICK_TEST = """\
rule_files: [jobs.rules.yml]
tests:
  - name: quick
    interval: 1m
    input_series:
      - series: jobs_total{job="payments"}
        values: 7x3
    promql_expr_test:
      - expr: jobs:sum
        eval_time: 2m
        exp_samples:
          - labels: jobs:sum
            value: VALUE
"""


def _project_with_test(tmp_path: Path, test_text: str) -> Path:
    """Write and build a project whose tests/promtool/ has the test `test_text`."""
    project = tmp_path / "project"
    (project / "services").mkdir(parents=True)
    (project / "services" / "payments.yaml").write_text(PAYMENTS)
    hand_written = project / "tests" / "promtool"
    hand_written.mkdir(parents=True)
    (hand_written / "jobs.rules.yml").write_text(HAND_WRITTEN_RULES)
    (hand_written / "jobs.test.yml").write_text(test_text)
    built = subprocess.run(
        [sys.executable, "-m", "obscompile", "build", "--project", str(project)],
        env=_environment(tmp_path / "build-temporary"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    return project


def _environment(temporary: Path) -> dict[str, str]:
    """Return the environment of an obscompile run whose temporary folder is new."""
    temporary.mkdir(exist_ok=True)
    return {
        **os.environ,
        "PYTHONPATH": str(REPO / "compiler"),
        "TMPDIR": str(temporary),
    }


def _default_sigint() -> None:
    # A shell without job control starts a background job with SIGINT ignored, and
    # its children inherit that. A command typed at a terminal gets the default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_test(project: Path, temporary: Path) -> subprocess.Popen[str]:
    """Start `obscompile test` in a process group of its own, as a shell job."""
    return subprocess.Popen(
        [sys.executable, "-m", "obscompile", "test", "--project", str(project)],
        env=_environment(temporary),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_default_sigint,
    )


def _promtool_children(parent: int) -> list[int]:
    """Return the process ids of the promtool processes that `parent` started."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)
            name = fields[0].partition("(")[2]
            parent_id = int(fields[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if name == "promtool" and parent_id == parent:
            found.append(int(stat_file.parent.name))
    return found


def _wait_for_storage(process: subprocess.Popen[str], temporary: Path) -> int:
    """Wait until promtool has opened a test group's storage, and return its id."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        children = _promtool_children(process.pid)
        if children and list(temporary.rglob("test_storage*")):
            return children[0]
        time.sleep(0.05)
    pytest.fail(f"promtool opened no storage in {temporary} within 60 seconds")


def _kill_if_running(process_id: int) -> bool:
    """Send SIGKILL to the process if it is still running, and return whether it was."""
    try:
        state = Path(f"/proc/{process_id}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    if state[0] == "Z":
        return False
    os.kill(process_id, signal.SIGKILL)
    return True


def _send_sigterm(process: subprocess.Popen[str], promtool: int) -> None:
    os.kill(process.pid, signal.SIGTERM)


def _send_sigterm_to_group(process: subprocess.Popen[str], promtool: int) -> None:
    # `timeout` and CI runners end a command by signalling its process group.
    os.killpg(process.pid, signal.SIGTERM)


def _send_ctrl_c(process: subprocess.Popen[str], promtool: int) -> None:
    # A terminal sends SIGINT to its foreground process group.
    os.killpg(process.pid, signal.SIGINT)


def _kill_promtool(process: subprocess.Popen[str], promtool: int) -> None:
    os.kill(promtool, signal.SIGKILL)


# How a promtool test ends early: the signal, and obscompile's exit status and
# last line on stderr.
STOPS = {
    "sigterm": (_send_sigterm, -signal.SIGTERM, "obscompile: terminated"),
    "sigterm-group": (
        _send_sigterm_to_group,
        -signal.SIGTERM,
        "obscompile: terminated",
    ),
    "ctrl-c": (_send_ctrl_c, 130, "obscompile: interrupted"),
    "promtool-killed": (
        _kill_promtool,
        1,
        "obscompile: promtool test rules failed",
    ),
}


@pytest.mark.parametrize("stop", STOPS, ids=list(STOPS))
def test_stopped_run_removes_temporary_files(tmp_path: Path, stop: str) -> None:
    """promtool's storage and obscompile's shards go, whatever stops the run."""
    promtool_binary()
    send, status, last_line = STOPS[stop]
    project = _project_with_test(tmp_path, SLOW_TEST)
    temporary = tmp_path / "temporary"
    process = _start_test(project, temporary)
    promtool = None
    try:
        promtool = _wait_for_storage(process, temporary)
        send(process, promtool)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
        # A promtool that obscompile left running would hold the CPU for a minute.
        left_running = promtool is not None and _kill_if_running(promtool)
    assert process.returncode == status, stderr
    assert stderr.splitlines()[-1:] == [last_line]
    assert not left_running
    assert sorted(path.name for path in temporary.iterdir()) == []
    if stop == "promtool-killed":
        assert "promtool was killed by signal 9" in stdout


@pytest.mark.parametrize(("value", "status"), [("7", 0), ("8", 1)])
def test_finished_run_removes_temporary_files(
    tmp_path: Path, value: str, status: int
) -> None:
    """A run that passes, and one that fails a test, remove their temporary files."""
    promtool_binary()
    project = _project_with_test(tmp_path, QUICK_TEST.replace("VALUE", value))
    temporary = tmp_path / "temporary"
    process = _start_test(project, temporary)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == status, stderr
    assert sorted(path.name for path in temporary.iterdir()) == []


# A block that, when GATE_FLAGS names a folder, writes "started" there and waits until
# the folder has a file "go". Only the process whose environment names the folder
# waits, and the artifacts do not depend on it.
GATED_BLOCK = """\
import os
import time
from pathlib import Path

from obscompile import dsl


@dsl.block("gated_row")
def gated_row():
    flags = os.environ.get("GATE_FLAGS")
    if flags:
        Path(flags, "started").write_text("")
        deadline = time.monotonic() + 60
        while not Path(flags, "go").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    return dsl.row("Gated", [dsl.panel("Up", 'up{job="SERVICE"}')])
"""
# A service with an alert, so that a build writes a rule file and a test file for it.
ALERTING_SERVICE = (
    PAYMENTS.replace("payments", "SERVICE").replace(
        "[5m]))'}", "[5m]))', thresholds: '<5 Green, >=5 Red'}"
    )
    + "  - use: gated_row\n"
)


def _gated_project(tmp_path: Path) -> tuple[Path, list[str], dict[str, str]]:
    """Build a project of one alerting service whose build can be held at a gate.

    Returns the project, the build command and the environment of an ungated run.
    The builds bypass the build cache, so that every build and the in-memory build
    of `obscompile test` run the gated block.
    """
    project = tmp_path / "project"
    (project / "blocks").mkdir(parents=True)
    (project / "blocks" / "gated.py").write_text(
        GATED_BLOCK.replace("SERVICE", "payments")
    )
    (project / "services").mkdir()
    (project / "services" / "payments.yaml").write_text(
        ALERTING_SERVICE.replace("SERVICE", "payments")
    )
    build = [sys.executable, "-m", "obscompile", "build", "--project", str(project)]
    build.append("--no-cache")
    environment = _environment(tmp_path / "temporary")
    built = subprocess.run(
        build, env=environment, capture_output=True, text=True, timeout=120
    )
    assert built.returncode == 0, built.stderr
    return project, build, environment


def _add_second_service(project: Path) -> None:
    """Add a service without the gated block, whose files only a new build writes."""
    text = ALERTING_SERVICE.replace("SERVICE", "orders")
    (project / "services" / "orders.yaml").write_text(
        text.replace("  - use: gated_row\n", "")
    )


def _wait_for(flag: Path, process: subprocess.Popen[str]) -> None:
    """Wait until the file `flag` exists; fail when `process` ends first."""
    deadline = time.monotonic() + 60
    while not flag.exists():
        assert process.poll() is None, f"the process ended before {flag.name}"
        assert time.monotonic() < deadline, f"timed out waiting for {flag.name}"
        time.sleep(0.02)


def _wait_for_line(log: Path, text: str, process: subprocess.Popen[str]) -> None:
    """Wait until `log` contains `text` or `process` has ended."""
    deadline = time.monotonic() + 60
    while text not in log.read_text() and process.poll() is None:
        assert time.monotonic() < deadline, f"timed out waiting for {text!r}"
        time.sleep(0.02)


def _race(
    tmp_path: Path,
    gated: list[str],
    waiting: list[str],
    environment: dict[str, str],
    at_gate: Callable[[], None],
) -> tuple[str, str]:
    """Run `gated` up to the gate, then `waiting`, which must wait for it to end.

    `at_gate` runs while `gated` waits at the gate. Returns the stderr of both
    commands, which must pass.
    """
    flags = tmp_path / "flags"
    flags.mkdir()
    logs = (tmp_path / "gated.log", tmp_path / "waiting.log")
    started: list[subprocess.Popen[str]] = []
    with logs[0].open("w") as first_log, logs[1].open("w") as second_log:
        try:
            first = subprocess.Popen(
                gated, env={**environment, "GATE_FLAGS": str(flags)}, stderr=first_log
            )
            started.append(first)
            _wait_for(flags / "started", first)
            at_gate()
            second = subprocess.Popen(waiting, env=environment, stderr=second_log)
            started.append(second)
            _wait_for_line(logs[1], "waiting for", second)
            # The first command holds its locks at the gate, so the second one waits.
            assert second.poll() is None, logs[1].read_text()
            (flags / "go").write_text("")
            assert first.wait(timeout=120) == 0, logs[0].read_text()
            assert second.wait(timeout=120) == 0, logs[1].read_text()
        finally:
            (flags / "go").write_text("")
            for process in started:
                if process.poll() is None:
                    process.kill()
                    process.wait()
    return logs[0].read_text(), logs[1].read_text()


def test_cli_test_waits_for_running_build(tmp_path: Path) -> None:
    """A test run started during a build tests the tree that the build writes."""
    promtool_binary()
    project, build, environment = _gated_project(tmp_path)
    _add_second_service(project)
    test = [sys.executable, "-m", "obscompile", "test", "--project", str(project)]
    _, logged = _race(tmp_path, build, test, environment, at_gate=lambda: None)
    assert f"obscompile: waiting for a build of {project} to finish\n" in logged
    # The second service's files exist only in the tree that the build wrote.
    assert "2 test files: 2 generated, 0 hand-written" in logged
    assert "stale" not in logged


def test_build_waits_for_running_test(tmp_path: Path) -> None:
    """A build started during a test run writes out/ after the run has read it."""
    promtool_binary()
    project, build, environment = _gated_project(tmp_path)
    test = [sys.executable, "-m", "obscompile", "test", "--project", str(project)]
    # The test run's in-memory build of the manifests stops at the gate, after the
    # run has taken its locks and before it reads the generated files.
    tested, built = _race(
        tmp_path, test, build, environment, at_gate=lambda: _add_second_service(project)
    )
    assert (
        f"obscompile: waiting for another build or test of {project} to finish\n"
    ) in built
    # The test run read the tree of one service, which the build then replaced.
    assert "1 test file: 1 generated, 0 hand-written" in tested
    assert (project / "out/prometheus/tests/orders.test.yml").is_file()


def test_cli_test_runs_share_locks(tmp_path: Path) -> None:
    """A test run does not wait for another one, which holds the locks shared."""
    promtool_binary()
    project, _, environment = _gated_project(tmp_path)
    test = [sys.executable, "-m", "obscompile", "test", "--project", str(project)]
    with folder_lock(project, shared=True):
        result = subprocess.run(
            test, env=environment, capture_output=True, text=True, timeout=120
        )
    assert result.returncode == 0, result.stderr
    assert "waiting" not in result.stderr
