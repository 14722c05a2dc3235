"""Matcher regexes read with Go's syntax, checked against promtool 2.42 itself."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from obscompile import goregexp, promql
from obscompile.pipeline import Project, build
from tests.conftest import write_manifest
from tests.test_prometheus import assert_promtool, run_promtool, write_files

# Regexes that Go's parser and Rust's read differently, its limits, and its escapes.
# promtool decides which are valid; the tests compare each verdict and message.
REGEXES = [
    *["[[a-z]+", "[[:alpha:]]+", "[[:word:]]", "[[:foo:]]", "[^[:alpha:]]"],
    *["[[:^alpha:]]", "[[=a=]]", "[[.a.]]", "[[:a]b:]]", "[[:word:]-z]"],
    *["[a-[:digit:]]", "[a-z&&[^aeiou]]", "[a--b]", "[a~~b]", "[a||b]", "[]a]"],
    *["[]", "[^]", "[^]a]", "[a-]", "[-a]", "[a", "[^", "[z-a]", "[\\w-z]"],
    *["[a-\\w]", "[\\_]", "[\\-]", "[\\b]", "[\\d]", "[\\pL]", "[\\p{Greek}\\d]"],
    *["[\\P{^Greek}]", "[\\0-\\377]", "[z-\\x{7A}]", "\\pL", "\\PL", "\\pN"],
    *["\\pX", "\\p", "\\p{Greek", "\\p{Greek}", "\\p{^Greek}", "\\P{^Greek}"],
    *["\\p{Foo}", "\\p{Any}", "\\p{Latin}", "\\pZ", "\\p{Cn}", "\\p{LC}"],
    *["\\p{Yezidi}", "\\p{Vithkuqi}", "\\Q.*\\E", "\\Qab", "\\Qa)\\E", "\\Q"],
    *["\\Q\\E*", "a\\Q\\E*", "\\z", "\\Z", "\\A", "\\b", "\\B", "\\b*", "\\C"],
    *["\\G", "\\h", "\\e", "\\cA", "\\u0041", "\\k<a>", "\\x41", "\\x{41}"],
    *["\\x{0041}", "\\x{10FFFF}", "\\x{110000}", "\\x4", "\\x{}", "\\x{4g}"],
    *["\\101", "\\177", "\\400", "\\0", "\\08", "\\1", "\\8", "\\/", "\\-"],
    *["\\_", "\\:", "\\@", "\\ ", "\\.", "\\", "a\\", "(?P<name>a)"],
    *["(?<name>a)", "(?P=name)", "(?P<n>a)(?P<n>b)", "(?P<1a>x)", "(?P<>x)"],
    *["(?P<n", "(?P<n>", "(?P<n!>a)", "(?P>a)", "(?i)a", "(?s).", "(?m)^a"],
    *["(?U)a+", "(?x) a", "(?i-s:a)", "(?-i)a", "(?i:a)", "(?i-s)a", "(?smiU)a"],
    *["(?m-i:a)", "(?#comment)", "(?=a)", "(?!a)", "(?<=a)", "(?>a)", "(?i)"],
    *["(?)", "(?-)", "(?i-)", "(?--i)", "(?i)(?i)a", "a(?i)*", "(?i)*", "^*"],
    *["a{2}", "a{2,}", "a{,2}", "a{2,1}", "a{1001}", "a{1000}", "a{1,1001}"],
    *["a{", "a{x}", "x{2}{3}", "x{0}", "x{00}", "a{1,02}", "a{01}", "x{1,}?"],
    *["a{99999999999}", "a{2,99999999999}", "a{2}*", "a*{2}", "(a{500}){3}"],
    *["(a{500}){2}", "((a{10}){10}){10}", "((a{10}){10}){11}", "(?:a*)*"],
    *["a**", "a++", "a*?", "a+?", "a??", "*a", "+a", "?a", "a|*", "()", "(a"],
    *["a)", "a)(b", "a)|(b", "é", ".*", "^a$", "a|", "|", "(" * 30 + ")" * 30],
]


def _quoted(regex: str) -> str:
    return '"' + regex.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _rules(tmp_path: Path, exprs: list[str]) -> Path:
    """Write a rule file with one recording rule for each query, as JSON."""
    rules = [{"record": f"rule_{index}", "expr": e} for index, e in enumerate(exprs)]
    path = tmp_path / "rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "g", "rules": rules}]}))
    return path


def test_verdicts_match_promtool(tmp_path: Path) -> None:
    """Each regex is rejected exactly when promtool rejects it, with Go's message."""
    exprs = [f"up{{job=~{_quoted(regex)}}}" for regex in REGEXES]
    outcome = run_promtool("check", "rules", str(_rules(tmp_path, exprs)))
    found = re.findall(
        r'rule (\d+), "rule_\d+": .*error parsing regexp: (.*)$',
        outcome.stdout + outcome.stderr,
        re.MULTILINE,
    )
    promtool = {REGEXES[int(number) - 1]: message for number, message in found}
    assert promtool
    ours = {}
    for regex in REGEXES:
        problem = goregexp.regexp_problem(regex)
        if problem is not None:
            ours[regex] = problem
    assert ours == promtool


# Regexes at Go's limits of nesting depth and compiled size, on both sides of each.
# Groups that capture nothing add no depth.
LIMITS = [
    *["(" * 998 + "a" + ")" * 998, "(" * 999 + "a" + ")" * 999],
    *["(?:" * 999 + "a*" + ")" * 999, "(?:" * 1000 + "a*" + ")" * 1000],
    *["[a-z]{1000}" * 3355, "[a-z]{1000}" * 3356, "(?:a{1000}|b)" * 3353],
]


def test_limits_match_promtool(tmp_path: Path) -> None:
    """A regex at a limit of Go's parser is rejected exactly when promtool rejects it."""
    exprs = [f"up{{job=~{_quoted(regex)}}}" for regex in LIMITS]
    outcome = run_promtool("check", "rules", str(_rules(tmp_path, exprs)))
    rejected = re.findall(r'rule (\d+), "rule_\d+"', outcome.stdout + outcome.stderr)
    assert [int(number) - 1 for number in rejected] == [1, 5, 6]
    assert [goregexp.regexp_problem(regex) is not None for regex in LIMITS] == [
        False,
        True,
        False,
        False,
        False,
        True,
        True,
    ]


def test_deep_regex_leaves_rule_untested(project: Path) -> None:
    """A regex deeper than Python's re can compile is no traceback."""
    result = _build_alerting(project, "(" * 990 + "5" + ")" * 990)
    untested = [d.message for d in result.diagnostics if d.check == "rules/untested"]
    assert untested
    assert all("nests too deeply for Python's re" in m for m in untested)


# Label values to match each valid regex against.
VALUES = [
    *["a", "A", "b", "ab", "abc", "aaa", "a+", "x.y", "xzy", "node-1", "Node-1"],
    *["[", "]", "[a", "-", "_", "0", "10", "é", "É", "α", "Σ", "١", "a b", "\t"],
    *["\\", "\\Q", ".*", "{", "a{", "a{,2}", "(", ")", "aa", "aaaa", "x", "z"],
]


def _samples(regex: str) -> list[dict[str, object]]:
    pattern = promql.compile_regex(regex)
    return [
        {"labels": f"m{{v={_quoted(value)}}}", "value": 1}
        for value in VALUES
        if pattern.fullmatch(value)
    ]


def test_matches_agree_with_promtool(tmp_path: Path) -> None:
    """Python's match of each valid regex is Prometheus's, as promtool evaluates it."""
    regexes = []
    for regex in REGEXES:
        try:
            promql.compile_regex(regex)
        except re.error:
            continue
        regexes.append(regex)
    assert len(regexes) > 80
    test = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": f"m{{v={_quoted(value)}}}", "values": "1"}
                    for value in VALUES
                ],
                "promql_expr_test": [
                    {
                        "expr": f"m{{v=~{_quoted(regex)}}}",
                        "eval_time": "0m",
                        "exp_samples": _samples(regex),
                    }
                    for regex in regexes
                ],
            }
        ],
    }
    path = tmp_path / "matches.test.yml"
    path.write_text(json.dumps(test), encoding="utf-8")
    outcome = run_promtool("test", "rules", str(path))
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr


def test_script_class_is_not_evaluated() -> None:
    assert goregexp.regexp_problem("\\p{Greek}+") is None
    with pytest.raises(re.error, match="Unicode scripts"):
        promql.compile_regex("\\p{Greek}+")


@pytest.mark.parametrize(
    ("regex", "expected"),
    [("a*", True), ("\\b", False), ("\\B", True), ("(a|)", True), ("a{0,2}", True)],
)
def test_matches_empty(regex: str, expected: bool) -> None:
    assert goregexp.matches_empty(regex) is expected


@pytest.mark.parametrize(
    "query",
    [
        'up{job=~"[[a-z]+"}',
        'rate(http_requests_total{code=~"\\\\Q5.*\\\\E"}[5m])',
        'up{job=~"\\\\101pi"}',
        'up{job=~"(?P<1st>a)pi"}',
        'up{job!~"[\\\\w-z]"}',
    ],
)
def test_query_keeps_regex_parser_rejects(query: str) -> None:
    """A regex that Prometheus accepts parses, and the tree has it as written."""
    (selector,) = promql.selectors(promql.parse(query))
    (written,) = re.findall(r'=~"(.*)"|!~"(.*)"', query)
    value = written[0] or written[1]
    assert [m.value for m in selector.matchers.matchers] == [
        value.replace("\\\\", "\\")
    ]


def test_placeholder_keeps_empty_matcher_error() -> None:
    """A regex that matches "" still makes an empty matcher, which Prometheus rejects."""
    with pytest.raises(promql.QueryError, match="non-empty matcher"):
        promql.parse('{job=~"[[a-z]*"}')


SERVICE = """\
service: api
scrape: {job: api, port: 8080}
metrics:
  http_requests_total: {type: counter, help: Requests, labels: [code]}
rows:
  - title: Traffic
    panels:
      - title: Errors
        query: QUERY
"""


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            """'sum(rate(http_requests_total{job="api",code=~"5[[0-9]+"}[5m]))'""",
            [],
        ),
        (
            """'sum(rate(http_requests_total{job="api",code=~"5**"}[5m]))'""",
            [
                '9:63: error: invalid PromQL query: invalid regex "5**": invalid '
                "nested repetition operator: `**` [promql/syntax]"
            ],
        ),
        (
            """'sum(rate(http_requests_total{job="api",code=~"(?<x>5)"}[5m]))'""",
            [
                '9:63: error: invalid PromQL query: invalid regex "(?<x>5)": invalid '
                "or unsupported Perl syntax: `(?<` [promql/syntax]"
            ],
        ),
    ],
    ids=["go-accepts", "nested-repeat", "angle-named-group"],
)
def test_panel_regex_checked_as_prometheus(
    project: Path, query: str, expected: list[str]
) -> None:
    write_manifest(project, "api.yaml", SERVICE.replace("QUERY", query))
    result = build(Project.at(project))
    found = [
        str(d).removeprefix("services/api.yaml:")
        for d in result.diagnostics
        if d.check == "promql/syntax"
    ]
    assert found == expected


def test_old_variable_syntax_is_variable(project: Path) -> None:
    """Grafana's `[[name]]` reads as a variable, as `$name` does."""
    query = "'sum(rate(http_requests_total{job=~\"[[job]]\"}[[[window]]]))'"
    write_manifest(project, "api.yaml", SERVICE.replace("QUERY", query))
    result = build(Project.at(project))
    found = [(str(d.location), d.check) for d in result.diagnostics]
    assert found == [
        ("services/api.yaml:9:52", "promql/dashboard-variable"),
        ("services/api.yaml:9:62", "promql/dashboard-variable"),
    ]
    messages = [d.message for d in result.diagnostics]
    assert "the dashboard has no variable [[job]]" in messages[0]
    assert "the dashboard has no variable [[window]]" in messages[1]


def _build_alerting(project: Path, regex: str):
    """Build a panel with thresholds whose query matches `code` with `regex`."""
    query = (
        f"'sum(rate(http_requests_total{{job=\"api\",code=~{_quoted(regex)}}}[5m]))'"
        '\n        thresholds: "<5 Green, >5 Red"'
    )
    write_manifest(project, "api.yaml", SERVICE.replace("QUERY", query))
    result = build(Project.at(project))
    assert result.ok, [str(d) for d in result.diagnostics]
    return result


def test_go_regex_rules_pass_promtool(project: Path) -> None:
    """A panel with regexes that only Go reads gets rules and tests that pass."""
    result = _build_alerting(project, "5[[0-9]+|\\Q4xx\\E")
    assert [d for d in result.diagnostics if d.check == "rules/untested"] == []
    out = write_files(project / "out", result.files)
    assert_promtool("check", "rules", str(out / "prometheus/rules/api.rules.yml"))
    assert_promtool("test", "rules", str(out / "prometheus/tests/api.test.yml"))


def test_script_class_left_untested(project: Path) -> None:
    """A regex that Python cannot evaluate gets no generated test, and no traceback."""
    result = _build_alerting(project, "\\p{Greek}+")
    untested = [d.message for d in result.diagnostics if d.check == "rules/untested"]
    assert untested
    assert all("Python has no table of Unicode scripts" in m for m in untested)
