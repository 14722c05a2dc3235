"""Messages shorten the long queries, expressions and other texts that they quote."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from obscompile.check.scrape_job import target_problem
from obscompile.cli import main
from obscompile.diagnostics import MAX_QUOTED, error, quoted, shorten
from obscompile.model.location import Location
from obscompile.pipeline import BuildResult, Project, build
from tests.conftest import write_manifest


def queue_sum(job: str, count: int) -> str:
    """Return the inner sum of `count` queue_depth selectors of `job`."""
    return " + ".join(
        f'queue_depth{{job="{job}",queue="q{index}"}}' for index in range(count)
    )


def manifest(job: str, query: str, extra: str = "", labels: str = "queue") -> str:
    return f"""service: worker
scrape: {{job: {job}, targets: ["worker:8080"]}}
metrics:
  queue_depth: {{type: gauge, help: Messages waiting, labels: [{labels}]}}
rows:
  - title: Queues
    panels:
      - title: Depth
        type: stat
        query: '{query}'
        thresholds: "<10 Green, >=10 Red"
{extra}"""


def build_manifest(folder: Path, text: str) -> BuildResult:
    return build(Project.at(write_manifest(folder, "worker.yaml", text)))


def messages(result: BuildResult, check: str) -> list[str]:
    return [d.message for d in result.diagnostics if d.check == check]


def backquoted(message: str) -> list[str]:
    return re.findall(r"`([^`]*)`", message)


# Short texts stay whole. Longer ones keep their start and the part at fault.
SHORTENED = [
    ("up", 0, None, "up"),
    ("x" * MAX_QUOTED, 0, None, "x" * MAX_QUOTED),
    # The whole text is at fault: its start and its end.
    ("a" * 100 + "b" * 100, 0, None, "a" * 75 + "..." + "b" * 36),
    # A part near the start is shown with the start.
    ("a" * 50 + "FAULT" + "b" * 200, 50, 55, "a" * 50 + "FAULT" + "b" * 62 + "..."),
    # A part in the middle is shown with the text around it.
    (
        "a" * 150 + "FAULT" + "b" * 200,
        150,
        155,
        "a" * 40 + "..." + "a" * 34 + "FAULT" + "b" * 35 + "...",
    ),
    # A part at the end.
    ("a" * 300 + "FAULT", 300, 305, "a" * 40 + "..." + "a" * 69 + "FAULT"),
    # A part too long for the room keeps its own start and end.
    (
        "a" * 100 + "B" * 200 + "c" * 100,
        100,
        300,
        "a" * 40 + "..." + "B" * 35 + "..." + "B" * 36 + "...",
    ),
]


@pytest.mark.parametrize(("text", "start", "end", "expected"), SHORTENED)
def test_shorten_keeps_start_and_fault(
    text: str, start: int, end: int | None, expected: str
) -> None:
    assert shorten(text, start, end) == expected


def test_shorten_bounds_every_part() -> None:
    text = "".join(chr(ord("a") + index % 26) for index in range(400))
    for start in range(0, 400, 7):
        for end in range(start, 401, 11):
            shortened = shorten(text, start, end)
            assert len(shortened) <= MAX_QUOTED, (start, end)
            assert shortened.startswith(text[:40]), (start, end)
            if end - start <= 74:
                assert text[start:end] in shortened, (start, end)


def test_quoted_text_shortened_in_diagnostic() -> None:
    long = "x" * 500
    found = error(Location("a.yaml", 1, 1), f"the query `{quoted(long)}` fails", "c")
    assert found.message == f"the query `{shorten(long)}` fails"


def test_quoted_marks_in_text_stay_out() -> None:
    found = error(Location("a.yaml", 1, 1), quoted("a\x02b\x03c"), "c")
    assert found.message == "a?b?c"


def test_untested_rule_long_query(tmp_path: Path) -> None:
    terms = queue_sum("queue-worker", 400)
    result = build_manifest(tmp_path, manifest("queue-worker", f"sum({terms})"))
    assert result.ok
    [untested] = messages(result, "rules/untested")
    expected = (
        'no promtool test generated for rule "WorkerDepthCritical": the test '
        "generator cannot build input series that give "
        '`queue_depth{job="queue-worker",queue="q0"} + queue_depth{job="queue-worker"'
        '...pth{job="queue-worker",queue="q399"}` a chosen value'
    )
    assert untested.startswith(expected)
    assert len(untested) < 500


def test_untested_rule_long_names_restored(tmp_path: Path) -> None:
    # The generator writes the job as a placeholder and puts the name back later,
    # so a shortened expression must neither cut a placeholder nor grow back.
    job = "queue-worker-" * 20
    terms = queue_sum(job, 40)
    result = build_manifest(tmp_path, manifest(job, f"sum({terms})"))
    assert result.ok
    [untested] = messages(result, "rules/untested")
    [expression] = backquoted(untested)[:1]
    assert expression.startswith('queue_depth{job="queue-worker-queue-worker-')
    assert expression.endswith('queue="q39"}')
    assert len(expression) == MAX_QUOTED - 6
    assert "zzobscompilename" not in untested


def test_unknown_metric_long_name(tmp_path: Path) -> None:
    name = "m" * 5000
    result = build_manifest(tmp_path, manifest("worker", f"sum({name})"))
    [found] = messages(result, "promql/unknown-metric")
    assert found == (
        f'metric "{shorten(name)}" is not in the catalog of service "worker" or of '
        "any other service; declare it under metrics:"
    )


def test_grouping_label_shown_at_fault(tmp_path: Path) -> None:
    labels = [f"label_{index}" for index in range(40)]
    declared = ", ".join(labels)
    labels[30] = "missing"
    query = f"sum by ({', '.join(labels)}) (queue_depth)"
    result = build_manifest(tmp_path, manifest("worker", query, labels=declared))
    [found] = messages(result, "promql/unknown-label")
    grouping, _ = found.split(": the aggregated series", 1)
    assert len(grouping) <= MAX_QUOTED
    assert grouping.startswith("sum by (label_0, label_1, ")
    assert "label_29, missing, label_31" in grouping


def test_job_regex_shown_at_alternative(tmp_path: Path) -> None:
    jobs = "|".join(["worker"] * 60 + ["wroker"] + ["worker"] * 20)
    query = f'sum(queue_depth{{job=~"{jobs}"}})'
    result = build_manifest(tmp_path, manifest("worker", query))
    [found] = messages(result, "promql/job-matcher")
    regex = re.search(r'in regex "([^"]*)"', found)
    assert regex is not None
    assert len(regex.group(1)) <= MAX_QUOTED
    assert "worker|wroker|worker" in regex.group(1)


def test_template_query_shortened(tmp_path: Path) -> None:
    template = "{{ with query `" + queue_sum("worker", 100) + " $x` }}{{ . }}{{ end }}"
    extra = (
        f"        alert:\n          annotations:\n            runbook: '{template}'\n"
    )
    result = build_manifest(tmp_path, manifest("worker", "sum(queue_depth)", extra))
    [found] = messages(result, "rules/untested")
    query = re.search(r"the query ('[^']*')", found)
    assert query is not None
    assert len(query.group(1)) <= MAX_QUOTED
    assert query.group(1).startswith('\'queue_depth{job="worker",queue="q0"}')
    assert query.group(1).endswith(" $x'")


def test_unknown_colour_long_name(tmp_path: Path) -> None:
    colour = "Red" + "d" * 3000
    text = manifest("worker", "sum(queue_depth)").replace(">=10 Red", f">=10 {colour}")
    result = build_manifest(tmp_path, text)
    [found] = messages(result, "thresholds/syntax")
    assert found.startswith(f'unknown colour "{shorten(colour)}"; write a Grafana')


def test_target_port_of_many_digits() -> None:
    # int() raises ValueError for more than 4300 digits.
    port = "1" * 5000
    problem = target_problem(f"worker:{port}")
    assert problem == (
        f'target "{shorten("worker:" + port, 7)}" has port {shorten(port)}, '
        "outside 1-65535"
    )


def test_grafana_url_port_of_many_digits(tmp_path: Path) -> None:
    port = "9" * 3000
    write_manifest(tmp_path, "worker.yaml", manifest("worker", "sum(queue_depth)"))
    (tmp_path / "obscompile.yaml").write_text(f"grafana_url: http://grafana:{port}\n")
    result = CliRunner().invoke(main, ["check", "--project", str(tmp_path)])
    (line,) = [line for line in result.stderr.splitlines() if "config/value" in line]
    assert 'obscompile.yaml:1:14: error: grafana_url "http://grafana:999' in line
    assert line.endswith('999", which is outside 1-65535 [config/value]')
    quotes = re.findall(r'"([^"]*)"', line)
    assert len(quotes) == 2 and all(len(quote) <= MAX_QUOTED for quote in quotes)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--scrape-interval", "9" * 3000 + "s"),
        ("--alert-for", "9" * 3000 + "x"),
        ("--target", "worker=" + "9" * 3000),
    ],
)
def test_option_value_of_many_digits(tmp_path: Path, option: str, value: str) -> None:
    """A usage error quotes at most MAX_QUOTED characters of the option's value."""
    write_manifest(tmp_path, "worker.yaml", manifest("worker", "sum(queue_depth)"))
    arguments = ["build", "--project", str(tmp_path), option, value]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 2
    quotes = re.findall(r'"([^"]*)"', result.stderr)
    assert quotes and all(len(quote) <= MAX_QUOTED for quote in quotes), result.stderr
    assert len(result.stderr) < 1000, result.stderr
