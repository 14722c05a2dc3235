"""Recording rules add `job` only where it changes no vector match.

A recording rule of a query that pins one job adds `job` to each aggregation. Where
one side of a division carries `job` and the other does not, the query's sides never
match, but the rule's do. promtool shows both results. The build then derives neither
a rule nor an alert, and warns at the operator with what to write instead.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import yaml

from obscompile import promql
from obscompile.check.query_text import binary_operator_offsets, operator_offset
from obscompile.derive.expressions import render
from obscompile.derive.matching import job_changes_matching, never_matching
from obscompile.derive.recording import UnnamedQuery, plan_query
from obscompile.pipeline import BuildResult, Project, build
from tests.conftest import write_manifest
from tests.test_prometheus import assert_promtool, run_promtool, write_files

HEADER = """\
service: pg
scrape: {job: postgres, port: 9187, interval: 1m}
metrics:
  pg_stat_database_numbackends: {type: gauge, labels: [datname]}
  pg_settings_max_connections: {type: gauge}
rows:
  - title: Health
    panels:
"""
UNMATCHED = (
    'sum by (instance) (pg_stat_database_numbackends{job="postgres"}) '
    '/ pg_settings_max_connections{job="postgres"} * 100'
)
MATCHED_ON = (
    'sum by (instance) (pg_stat_database_numbackends{job="postgres"}) '
    '/ on (instance) pg_settings_max_connections{job="postgres"} * 100'
)
MATCHED_BY = (
    'sum by (instance) (pg_stat_database_numbackends{job="postgres"}) '
    '/ sum by (instance) (pg_settings_max_connections{job="postgres"}) * 100'
)
THRESHOLDS = "<80% Green, 80-90% Yellow, >90% Red"


def _build(project: Path, query: str, extra: str = "") -> BuildResult:
    panel = f"""\
    - title: Connections
      type: stat
      query: '{query}'
      unit: percent
      thresholds: "{THRESHOLDS}"
    {extra}
    """
    text = HEADER + textwrap.indent(textwrap.dedent(panel), "    ")
    write_manifest(project, "pg.yaml", text)
    result = build(Project.at(project))
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    return result


def _rules(result: BuildResult) -> list[dict]:
    """Return every rule of the service, none where the build wrote no rule file."""
    name = "prometheus/rules/pg.rules.yml"
    if name not in result.files:
        return []
    groups = yaml.safe_load(result.files[name])["groups"]
    return [rule for group in groups for rule in group["rules"]]


# The panel query against the rule, as promtool evaluates them ---------------------

# Two targets of one job, with two databases each.
INPUT_SERIES = [
    ('pg_stat_database_numbackends{job="postgres",instance="db1",datname="a"}', 30),
    ('pg_stat_database_numbackends{job="postgres",instance="db1",datname="b"}', 15),
    ('pg_stat_database_numbackends{job="postgres",instance="db2",datname="a"}', 20),
    ('pg_stat_database_numbackends{job="postgres",instance="db2",datname="b"}', 70),
    ('pg_settings_max_connections{job="postgres",instance="db1"}', 50),
    ('pg_settings_max_connections{job="postgres",instance="db2"}', 100),
]


def _promtool_results(folder: Path, exprs: list[str]) -> dict[str, list[str]]:
    """Return the samples that promtool gives each expression at 1m, as text.

    Each expression is tested against no samples, so promtool reports what it got
    for every expression that gives some.
    """
    test = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": series, "values": f"{value}x2"}
                    for series, value in INPUT_SERIES
                ],
                "promql_expr_test": [
                    {"expr": expr, "eval_time": "1m", "exp_samples": []}
                    for expr in exprs
                ],
            }
        ],
    }
    path = folder / "matching.test.yml"
    path.write_text(yaml.safe_dump(test, width=10**9), encoding="utf-8")
    checked = run_promtool("test", "rules", str(path))
    report = checked.stdout + checked.stderr
    found: dict[str, list[str]] = {expr: [] for expr in exprs}
    pattern = r'expr: "(.*?)", time: \S+,\n\s+exp: nil\n\s+got: (.*)'
    for match in re.finditer(pattern, report):
        expr = match.group(1).replace('\\"', '"')
        found[expr] = sorted(re.findall(r"\{.*?\} [^,\s]+", match.group(2)))
    if any(found.values()):
        assert checked.returncode == 1, report
    return found


def _without_job(samples: list[str]) -> list[str]:
    """Return promtool's samples with `job` left out, which the rule adds."""
    return sorted(
        re.sub(r'job="postgres"(, )?|, job="postgres"', "", s) for s in samples
    )


def test_unmatched_sides_differ_in_promtool(tmp_path: Path) -> None:
    node = promql.parse(UNMATCHED)
    rule = render(node, job_grouping=True)
    fixed = render(promql.parse(MATCHED_ON))
    results = _promtool_results(tmp_path, [UNMATCHED, rule, fixed])
    # The panel shows nothing, and the rule that adds job gives each target a value.
    assert results[UNMATCHED] == []
    assert results[rule] == [
        '{instance="db1", job="postgres"} 9E+01',
        '{instance="db2", job="postgres"} 9E+01',
    ]
    assert results[fixed] == ['{instance="db1"} 9E+01', '{instance="db2"} 9E+01']


# Queries that pin job="postgres", and whether a rule's added job changes a match.
# pg_settings_max_connections (max) has one series per target.
MATCHING_CASES = {
    "division-by-raw": ("sum by (instance) (NB) / MAX", True),
    "division-on-instance": ("sum by (instance) (NB) / on (instance) MAX", False),
    "division-on-job-instance": (
        "MAX / on (job, instance) sum by (instance) (NB)",
        True,
    ),
    "division-ignoring-datname": (
        "sum by (instance) (NB) / ignoring (datname) MAX",
        True,
    ),
    "division-ignoring-job": ("sum by (instance) (NB) / ignoring (job) MAX", False),
    "division-both-by-instance": (
        "sum by (instance) (NB) / sum by (instance) (MAX)",
        False,
    ),
    "without-job": ("sum without (job, datname) (NB) / MAX", True),
    "without-datname": ("sum without (datname) (NB) / MAX", False),
    "unless": ("MAX unless sum by (instance) (NB)", True),
    "unless-on-instance": ("MAX unless on (instance) sum by (instance) (NB)", False),
    "and": ("MAX and sum by (instance) (NB)", True),
    "or": ("sum by (instance) (NB) or MAX", True),
    "comparison": ("sum by (instance) (NB) < MAX", True),
    "group-left": (
        "NB * on (instance) group_left sum by (instance) (MAX)",
        False,
    ),
    "removed-job": (
        'label_replace(MAX, "job", "", "", "") / sum by (instance) (MAX)',
        True,
    ),
    "nested": (
        "sum by (instance) (NB / on (job, instance) group_left MAX) / MAX",
        True,
    ),
}


def _query(template: str) -> str:
    return template.replace(
        "NB", 'pg_stat_database_numbackends{job="postgres"}'
    ).replace("MAX", 'pg_settings_max_connections{job="postgres"}')


def test_changed_matches_agree_with_promtool(tmp_path: Path) -> None:
    queries = {name: _query(template) for name, (template, _) in MATCHING_CASES.items()}
    rules = {
        name: render(promql.parse(q), job_grouping=True) for name, q in queries.items()
    }
    results = _promtool_results(tmp_path, [*queries.values(), *rules.values()])
    for name, (_, changes) in MATCHING_CASES.items():
        node = promql.parse(queries[name])
        differ = _without_job(results[queries[name]]) != _without_job(
            results[rules[name]]
        )
        assert differ == changes, (name, results[queries[name]], results[rules[name]])
        assert (job_changes_matching(node) is not None) == changes, name


@pytest.mark.parametrize(
    ("template", "operator", "advice"),
    [
        (
            "sum by (instance) (NB) / MAX",
            "/",
            'write "/ on (instance)", or "sum by (instance) (...)" around the right '
            "side too",
        ),
        (
            "MAX / on (job, instance) max by (instance) (NB)",
            "/",
            'write "/ on (instance)"',
        ),
        (
            "sum by (instance) (NB) / ignoring (datname) MAX",
            "/",
            'write "/ ignoring (datname, job)"',
        ),
        ("sum without (job, datname) (NB) / MAX", "/", 'write "/ ignoring (job)"'),
        (
            "MAX unless max(NB)",
            "unless",
            'write "unless on ()", or "max (...)" around the left side too',
        ),
        (
            "max by (instance) (sum by (instance) (NB) / MAX) * 2",
            "/",
            'write "/ on (instance)"',
        ),
    ],
)
def test_never_matching_names_operation(
    template: str, operator: str, advice: str
) -> None:
    node = promql.parse(_query(template))
    found = never_matching(node, "postgres")
    assert found is not None
    assert str(found.operation.op) == operator
    assert found.message.startswith(f'the two sides of "{operator}" never match')
    assert advice in found.message


def test_never_matching_unless_result() -> None:
    node = promql.parse(_query("MAX unless sum by (instance) (NB)"))
    found = never_matching(node, "postgres")
    assert found is not None
    assert "so it removes no series of the left side" in found.message


def test_never_matching_without_pinned_job() -> None:
    # Without one pinned job no rule adds job, but the sides still never match.
    query = 'sum by (instance) (x{job=~"a|b"}) / y{job=~"a|b"}'
    found = never_matching(promql.parse(query), None)
    assert found is not None
    assert "the right side carry a job label" in found.message
    assert "A recording rule adds job" not in found.message


def test_or_of_unmatched_sides_is_no_problem() -> None:
    # `or` joins the series of both sides, which is what it is written for.
    node = promql.parse(_query("sum by (instance) (NB) or MAX"))
    assert never_matching(node, "postgres") is None
    assert job_changes_matching(node) is not None


def test_plan_rejects_changed_match() -> None:
    with pytest.raises(UnnamedQuery, match='changes the series that "/" matches'):
        plan_query(UNMATCHED)


# The build ----------------------------------------------------------------------


def test_unmatched_sides_get_no_rules(project: Path) -> None:
    result = _build(project, UNMATCHED)
    assert _rules(result) == []
    (found,) = [d for d in result.diagnostics if d.check == "alerts/query"]
    assert found.severity == "warning"
    message = found.message
    assert message.startswith('panel "Connections": no alert or recording rule: ')
    assert 'the two sides of "/" never match' in message
    assert 'the right side carry job="postgres"' in message
    assert "those of the left side carry no job" in message
    assert 'write "/ on (instance)"' in message
    assert '"sum by (instance) (...)" around the right side too' in message
    # The column is that of the operator, after `query: '` on the manifest's line.
    text = (project / "services" / "pg.yaml").read_text()
    line = text.splitlines()[found.location.line - 1]
    assert line[found.location.column - 1] == "/"
    assert "rules/untested" not in {d.check for d in result.diagnostics}


def test_recorded_panel_gets_only_warning(project: Path) -> None:
    result = _build(project, UNMATCHED, "  record: true")
    assert _rules(result) == []
    assert [d.check for d in result.diagnostics] == ["alerts/query"]


@pytest.mark.parametrize("query", [MATCHED_ON, MATCHED_BY], ids=["on", "by"])
def test_advised_query_gets_passing_tests(project: Path, query: str) -> None:
    result = _build(project, query)
    checks = [d.check for d in result.diagnostics]
    assert checks == []
    (record, alert) = _rules(result)
    assert record["record"] == (
        "job_instance:pg_stat_database_numbackends_per_pg_settings_max_connections:ratio"
    )
    assert alert["expr"].endswith(" * 100 >= 90")
    out = write_files(project / "out", result.files)
    test_file = out / "prometheus/tests/pg.test.yml"
    assert_promtool("test", "rules", str(test_file))
    rules_path = out / "prometheus/rules/pg.rules.yml"
    rules_text = rules_path.read_text()
    rules_path.write_text(rules_text.replace(" * 100 >= 90", " * 100 > 90"))
    moved = run_promtool("test", "rules", str(test_file))
    assert moved.returncode == 1, moved.stdout


# Operator positions ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('a{x!="1"} / b', [("/", 10)]),
        ("-a - -b", [("-", 3)]),
        ("a / on (x) -b", [("/", 2)]),
        ("sum(a) by (x) - b offset -5m", [("-", 14)]),
        ("a and b OR c unless d", [("and", 2), ("or", 8), ("unless", 13)]),
        ("(time() - max(x)) / 3600", [("-", 8), ("/", 18)]),
        ("a > bool 1e-5 - 2", [(">", 2), ("-", 14)]),
        ("a * on (x) group_left -b", [("*", 2)]),
    ],
)
def test_binary_operator_offsets(query: str, expected: list) -> None:
    assert binary_operator_offsets(query) == expected


def test_operator_offset_of_nested_operation() -> None:
    query = '(sum by (i) (a{job="p"}) / b{job="p"}) * 100 - c'
    node = promql.parse(query)
    division = promql.strip_parens(node.lhs.lhs)
    offset = operator_offset(query, node, division)
    assert offset == query.index("/")
