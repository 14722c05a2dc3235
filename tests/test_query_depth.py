"""Deep and long queries either build or get an error at the query, and never crash.

Prometheus 2.42 reads chains of thousands of operators and 100,000 nested parentheses.
obscompile reads queries up to `promql.MAX_QUERY_DEPTH` levels deep and reports a
deeper one at the bracket or operator that passes the limit, before promql-parser,
which crashes the process on such input, reads it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from obscompile import promql_limits
from obscompile.pipeline import BuildResult, Project, build
from obscompile.write.atomic import write_tree
from tests.conftest import write_manifest
from tests.test_hostile_input import assert_clean_failure, run_build, run_cli
from tests.test_prometheus import run_promtool

TOO_LONG = "is longer than Prometheus accepts (about 292 years, 106751d23h47m16s854ms)"
METRICS = (
    "metrics:\n  jobs_total: {type: counter, labels: [code]}\n  queue_depth: gauge\n"
)


def manifest(query: str, extra: str = "", metrics: str = "") -> str:
    """Return the manifest of service b with one panel of `query`, on line 3 or later."""
    return (
        f"service: b\nscrape: {{job: b, port: 80}}\n{metrics}"
        f"rows: [{{title: R, panels: [{{title: P, query: '{query}'{extra}}}]}}]\n"
    )


def query_column(text: str, query: str, offset: int) -> str:
    """Return `LINE:COLUMN` of character `offset` of `query` in the manifest `text`."""
    for number, line in enumerate(text.splitlines(), 1):
        if query in line:
            return f"{number}:{line.index(query) + offset + 1}"
    raise AssertionError("the query is not in the manifest")


def built(folder: Path, text: str) -> BuildResult:
    write_manifest(folder, "b.yaml", text)
    return build(Project.at(folder))


def messages(result: BuildResult) -> list[str]:
    return [str(diagnostic) for diagnostic in result.diagnostics]


def chain(operator: str, terms: int) -> str:
    return f" {operator} ".join(
        f'up{{job="b",instance="i{index}"}}' for index in range(terms)
    )


@pytest.mark.parametrize(("operator", "terms"), [("or", 260), ("+", 250)])
def test_long_chain_builds(project: Path, operator: str, terms: int) -> None:
    query = chain(operator, terms)
    result = built(project, manifest(query))
    assert result.ok, messages(result)
    dashboard = json.loads(result.files["grafana/dashboards/b.json"])
    assert dashboard["panels"][1]["targets"][0]["expr"] == query


def test_long_chain_alerts_pass_promtool(project: Path) -> None:
    """The rules derived from a chain of 260 operators are ones that promtool reads."""
    query = chain("or", 260)
    result = built(project, manifest(query, ", thresholds: '<1 Red, >=1 Green'"))
    assert result.ok, messages(result)
    write_tree(project / "out", result.files)
    rules = project / "out/prometheus/rules/b.rules.yml"
    assert rules.read_text().count(" or ") >= 259
    outcome = run_promtool("check", "rules", str(rules))
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr


def test_thousand_parentheses_build(project: Path) -> None:
    query = "(" * 1000 + 'up{job="b"}' + ")" * 1000
    result = built(project, manifest(query))
    assert result.ok, messages(result)


def test_one_level_past_the_limit(project: Path) -> None:
    query = "(" * 1001 + 'up{job="b"}' + ")" * 1001
    text = manifest(query)
    result = built(project, text)
    assert not result.ok
    where = query_column(text, query, 1000)
    assert messages(result) == [
        f"services/b.yaml:{where}: error: the query nests 1001 levels deep, and "
        "obscompile reads at most 1000: each pair of brackets counts as a level, and "
        "so does each operator inside the same brackets. Group a long chain of "
        "operators in parentheses, as in (a or b) or (c or d), or split the query "
        "[promql/syntax]"
    ]


def test_ten_thousand_parentheses_fail_at_the_query(tmp_path: Path) -> None:
    """promql-parser crashed the process at this depth; the build reports it instead."""
    query = "(" * 10_000 + 'up{job="b"}' + ")" * 10_000
    text = manifest(query)
    write_manifest(tmp_path, "b.yaml", text)
    result = run_cli(tmp_path)
    where = query_column(text, query, 1000)
    assert_clean_failure(
        result, f"services/b.yaml:{where}: error: the query nests 10000 levels deep"
    )


def test_deep_queries_of_many_services(tmp_path: Path) -> None:
    """Services that the build checks in worker processes get the error too."""
    query = "(" * 10_000 + 'up{job="b"}' + ")" * 10_000
    for number in range(16):
        text = manifest(query).replace("service: b", f"service: b{number}")
        write_manifest(tmp_path, f"b{number}.yaml", text)
    result = run_build(tmp_path, "--jobs", "2", timeout=300)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "worker process" not in result.stderr
    for number in range(16):
        assert f"services/b{number}.yaml:3:" in result.stderr
    assert result.stderr.count("the query nests 10000 levels deep") == 16


def test_deep_expression_of_hand_written_test(tmp_path: Path) -> None:
    """`obscompile test` checks the expressions of promtool tests before it runs them."""
    query = "(" * 10_000 + 'up{job="b"}' + ")" * 10_000
    write_manifest(tmp_path, "b.yaml", manifest('up{job="b"}'))
    tests = tmp_path / "tests" / "promtool"
    tests.mkdir(parents=True)
    text = (
        "rule_files: [../../out/prometheus/rules/b.rules.yml]\n"
        "tests:\n"
        "  - interval: 1m\n"
        "    input_series: [{series: 'up{job=\"b\"}', values: '1x5'}]\n"
        "    promql_expr_test:\n"
        f"      - expr: '{query}'\n"
        "        eval_time: 1m\n"
        "        exp_samples: [{labels: 'up{job=\"b\"}', value: 1}]\n"
    )
    (tests / "deep.yml").write_text(text)
    built_out = run_build(tmp_path)
    assert built_out.returncode == 0, built_out.stderr
    result = subprocess.run(
        [sys.executable, "-m", "obscompile", "test"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    where = query_column(text, query, 1000)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"tests/promtool/deep.yml:{where}: error: expr " in result.stderr
    assert "the query nests 10000 levels deep" in result.stderr


@pytest.mark.parametrize(
    ("query", "duration"),
    [
        ('sum(up{job="b"} offset 100000000y)', "100000000y"),
        ('up{job="b"} offset 200000000w', "200000000w"),
        ('up{job="b"} offset 10000000000y', "10000000000y"),
        ('up{job="b"} offset 1000000000000d', "1000000000000d"),
        ('up{job="b"} offset 9999999999999999999s', "9999999999999999999s"),
        ('rate(up{job="b"}[5m:100000000y])', "100000000y"),
        ('up{job="b"} offset -100000000y', "100000000y"),
    ],
)
def test_long_duration_is_reported_at_it(
    project: Path, query: str, duration: str
) -> None:
    text = manifest(query)
    result = built(project, text)
    where = query_column(text, query, query.index(duration))
    assert messages(result) == [
        f"services/b.yaml:{where}: error: invalid PromQL query: {duration} {TOO_LONG} "
        "[promql/syntax]"
    ]


def test_duration_number_too_large_for_the_parser(project: Path) -> None:
    """promql-parser panics on a number of seconds past its range, with a backtrace."""
    query = 'rate(up{job="b"}[1e30])'
    text = manifest(query)
    result = built(project, text)
    where = query_column(text, query, query.index("1e30"))
    assert messages(result) == [
        f"services/b.yaml:{where}: error: invalid PromQL query: Prometheus 2.42 does "
        "not read the duration 1e30; write whole numbers with units from the largest, "
        "such as 1h30m [promql/syntax]"
    ]


def test_longest_duration_builds(project: Path) -> None:
    result = built(project, manifest('up{job="b"} offset 106751d23h47m16s854ms'))
    assert result.ok, messages(result)


def test_syntax_error_inside_deep_parentheses(project: Path) -> None:
    query = "(" * 999 + 'up{job="b"} +' + ")" * 999
    text = manifest(query)
    result = built(project, text)
    where = query_column(text, query, query.index(")"))
    assert messages(result) == [
        f'services/b.yaml:{where}: error: invalid PromQL query: unexpected ")" '
        "[promql/syntax]"
    ]


def nested(template: str, levels: int, inner: str) -> str:
    """Return `inner` inside `levels` copies of `template`, whose `{}` holds the rest."""
    for _ in range(levels):
        inner = template.format(inner)
    return inner


COUNTER = 'sum(rate(jobs_total{job="b"}[5m]))'


@pytest.mark.parametrize(
    "query",
    [
        f"({COUNTER})" + " * 1" * 600,
        nested("sum({})", 600, COUNTER),
        nested('label_replace({}, "x", "y", "", "")', 600, COUNTER),
        " or ".join(['sum(rate(jobs_total{job="b"}[5m] @ 100))'] * 600),
        nested("- ({})", 450, COUNTER),
    ],
    ids=["scaled", "sums", "label-replace", "at-modifiers", "negations"],
)
def test_deep_query_with_thresholds_builds(project: Path, query: str) -> None:
    """Each of the derivations, from units to generated tests, reads deep queries."""
    extra = ", thresholds: '<5 Green, >=5 Red'"
    result = built(project, manifest(query, extra, METRICS))
    assert result.ok, messages(result)


def test_evaluator_reports_deep_expression(project: Path) -> None:
    query = f"({COUNTER})" + " * 1" * 600
    extra = ", thresholds: '<5 Green, >=5 Red'"
    result = built(project, manifest(query, extra, METRICS))
    untested = [text for text in messages(result) if "[rules/untested]" in text]
    assert len(untested) == 1
    assert (
        "the test generator evaluates expressions at most 200 levels deep"
        in untested[0]
    )


def test_rule_deeper_than_its_query(project: Path) -> None:
    """The guard writes each division twice, which doubles the depth of a chain."""
    ratio = (
        'sum(rate(jobs_total{job="b",code="500"}[5m])) '
        '/ sum(rate(jobs_total{job="b"}[5m]))'
    )
    query = " or ".join([f"({ratio})"] * 520)
    extra = ", unit: percentunit, thresholds: '<1% Green, >=1% Red'"
    result = built(project, manifest(query, extra, METRICS))
    assert result.ok, messages(result)
    alerts = [text for text in messages(result) if "[alerts/query]" in text]
    assert len(alerts) == 1
    assert "no alert: the rule's expression would nest" in alerts[0]


def test_negation_chain_alert_passes_promtool(project: Path) -> None:
    """A chain of 600 negations prints 600 levels deep, not 1,200 in brackets."""
    query = "- " * 600 + COUNTER
    result = built(project, manifest(query, ", thresholds: '<5 Green, >=5 Red'"))
    assert result.ok, messages(result)
    assert not [text for text in messages(result) if "[alerts/query]" in text]
    write_tree(project / "out", result.files)
    rules = project / "out/prometheus/rules/b.rules.yml"
    (expr,) = [
        line.split("expr: ", 1)[1]
        for line in rules.read_text().splitlines()
        if "expr: " in line
    ]
    assert "(-" not in expr
    written, _ = promql_limits.query_depth(query)
    printed, _ = promql_limits.query_depth(expr.strip("'"))
    assert printed == written + 1  # the comparison with the threshold
    outcome = run_promtool("check", "rules", str(rules))
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr


def test_nested_divisions_are_not_copied_without_end(tmp_path: Path) -> None:
    """Each division that keeps +Inf doubled its numerator, so 20 made 2**20 copies."""
    query = " / ".join(['sum(rate(jobs_total{job="b"}[5m]))'] * 20)
    extra = ", thresholds: '<5 Green, >=5 Red'"
    write_manifest(tmp_path, "b.yaml", manifest(query, extra, METRICS))
    result = run_cli(tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "the rule would repeat a part of the query more than 16 times" in (
        result.stderr
    )


@pytest.mark.parametrize(
    ("query", "depth"),
    [
        ("up", 0),
        ('up{job="b",code!="200"}', 0),
        ("a + b + c", 2),
        ("((a))", 2),
        ("sum(rate(x[5m])) / 2", 4),
        ('x{a!="b"} != 1', 1),
        ("1e-3 - x", 1),
        ('"((((" + x', 1),
        ("(a or b) or (c or d)", 3),
        ("a AND b unless c", 2),
        ("-x", 1),
        ("x # ((((\n + 1", 1),
    ],
)
def test_query_depth(query: str, depth: int) -> None:
    assert promql_limits.query_depth(query) == (depth, None)
    assert promql_limits.depth_bound(query) >= depth


def test_query_depth_names_where_it_passes_the_limit() -> None:
    query = "a" + " + a" * 1000 + " + (b)"
    assert promql_limits.query_depth(query) == (1002, query.index("+ (b)"))
