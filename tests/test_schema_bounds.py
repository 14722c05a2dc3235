"""Single-field rules: the published JSON Schemas reject what the build rejects.

Editors validate a manifest or obscompile.yaml with the schema that `obscompile
schema` prints, as JSON Schema Draft 2020-12 defines it. Each rule here has a value
that the schema and the build both accept and one that both reject, so an editor
flags every value that fails the build on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from jsonschema.exceptions import ValidationError

from obscompile.cli import main
from obscompile.load.config import CONFIG_SCHEMA, load_config
from obscompile.load.project import load_manifest_file
from obscompile.load.schema import MANIFEST
from obscompile.load.yaml_source import read_yaml_file
from tests.conftest import write_manifest
from tests.test_schema_patterns import _ecma262_matches

PANEL = "rows:\n  - title: A\n    panels:\n      - {title: P, query: up, %s}\n"
METRIC = "metrics:\n  latency_seconds: {type: %s, labels: [%s]}\n"
SCRAPE = "scrape: {job: api, port: 8080, %s}\n"

# (rule, text that both accept, text that both reject), each after `service: api`.
MANIFEST_RULES = [
    (
        "scrape-port",
        "scrape: {job: api, port: 65535}\n",
        "scrape: {job: api, port: 65536}\n",
    ),
    (
        "scrape-port-zero",
        "scrape: {job: api, port: 1}\n",
        "scrape: {job: api, port: 0}\n",
    ),
    ("scrape-path", SCRAPE % "path: /metrics", SCRAPE % "path: '/m?x=1'"),
    ("scrape-path-relative", SCRAPE % "path: /m", SCRAPE % "path: m"),
    ("scrape-interval-zero", SCRAPE % "interval: 10s", SCRAPE % "interval: 0s"),
    ("scrape-timeout-zero", SCRAPE % "timeout: 1ms", SCRAPE % "timeout: 0m0s"),
    ("scrape-label-name", SCRAPE % "labels: {team: a}", SCRAPE % "labels: {__team: a}"),
    ("scrape-label-job", SCRAPE % "labels: {team: a}", SCRAPE % "labels: {job: a}"),
    (
        "probe-module",
        "scrape: {job: bb, targets: [a], probe: {exporter: 'bb:1', module: http_2xx}}\n",
        "scrape: {job: bb, targets: [a], probe: {exporter: 'bb:1', module: 'http 2xx'}}\n",
    ),
    (
        "dashboard-uid-length",
        f"dashboard: {{uid: {'u' * 40}}}\n",
        f"dashboard: {{uid: {'u' * 41}}}\n",
    ),
    (
        "dashboard-uid-characters",
        "dashboard: {uid: a_B-1}\n",
        "dashboard: {uid: a.b}\n",
    ),
    ("dashboard-uid-empty", "dashboard: {uid: a}\n", "dashboard: {uid: ''}\n"),
    (
        "dashboard-tag-length",
        f"dashboard: {{tags: [{'t' * 50}]}}\n",
        f"dashboard: {{tags: [{'t' * 51}]}}\n",
    ),
    (
        "metric-labels-unique",
        METRIC % ("gauge", "route, code"),
        METRIC % ("gauge", "route, route"),
    ),
    (
        "metric-label-prefix",
        METRIC % ("gauge", "_route"),
        METRIC % ("gauge", "__route"),
    ),
    (
        "histogram-label-le",
        METRIC % ("histogram", "route"),
        METRIC % ("histogram", "le"),
    ),
    (
        "summary-label-quantile",
        METRIC % ("summary", "le"),
        METRIC % ("summary", "quantile"),
    ),
    (
        "alert-label-derived",
        "alerts: {labels: {priority: p}}\n",
        "alerts: {labels: {severity: p}}\n",
    ),
    (
        "alert-label-alertname",
        "alerts: {labels: {team: t}}\n",
        "alerts: {labels: {alertname: t}}\n",
    ),
    (
        "alert-label-empty",
        "alerts: {labels: {team: t}}\n",
        "alerts: {labels: {team: ''}}\n",
    ),
    (
        "alert-label-name",
        "alerts: {labels: {team: t}}\n",
        "alerts: {labels: {bad-name: t}}\n",
    ),
    (
        "alert-annotation-derived",
        "alerts: {annotations: {runbook_url: r}}\n",
        "alerts: {annotations: {dashboard_url: r}}\n",
    ),
    (
        "panel-alert-label",
        PANEL % "alert: {labels: {team: t}}",
        PANEL % "alert: {labels: {service: t}}",
    ),
    (
        "panel-alert-annotation",
        PANEL % "alert: {annotations: {runbook: r}}",
        PANEL % "alert: {annotations: {summary: r}}",
    ),
    (
        "panel-height",
        PANEL % "height: 9007199254740991",
        PANEL % "height: 9007199254740992",
    ),
    ("panel-height-decimal", PANEL % "height: 24.0", PANEL % "height: 24.5"),
    (
        "alert-annotation-name",
        "alerts: {annotations: {runbook_url: r}}\n",
        "alerts: {annotations: {runbook-url: r}}\n",
    ),
    *(
        (
            f"alert-annotation-{name}",
            "alerts: {annotations: {runbook_url: r}}\n",
            f"alerts: {{annotations: {{{name}: r}}}}\n",
        )
        for name in ("description", "dashboard_uid", "panel_id")
    ),
]
# Rules whose schema error stops the manifest, because later code relies on the
# value: a height beyond 2**53 - 1 was a schema error before it was a maximum.
STOPPING_RULES = {"panel-height", "panel-height-decimal"}

CONFIG_RULES = [
    (
        "targets-needs",
        "targets: [prometheus, grafana, terraform]\n",
        "targets: [prometheus, terraform]\n",
    ),
    (
        "evaluation-interval-zero",
        "evaluation_interval: 1m\n",
        "evaluation_interval: 0s\n",
    ),
    ("scrape-interval-zero", "scrape_interval: 1s\n", "scrape_interval: '0'\n"),
    ("scrape-timeout-zero", "scrape_timeout: 1s\n", "scrape_timeout: 0ms\n"),
    (
        "label-prefix-length",
        f"kubernetes_labels: {{{'a' * 253}/team: x}}\n",
        f"kubernetes_labels: {{{'a' * 254}/team: x}}\n",
    ),
    ("schema-version-decimal", "schema_version: 40.0\n", "schema_version: 40.5\n"),
]


def _editor_errors(schema: dict[str, Any], data: Any) -> list[ValidationError]:
    """Return the errors of `data` under `schema` as a plain Draft 2020-12 validator."""
    jsonschema.Draft202012Validator.check_schema(schema)
    return list(jsonschema.Draft202012Validator(schema).iter_errors(data))


def _leaves(errors: list[ValidationError]) -> Iterator[ValidationError]:
    for found in errors:
        yield found
        yield from _leaves(list(found.context or ()))


def _pattern_cases(errors: list[ValidationError]) -> list[tuple[str, str, bool]]:
    """Return (pattern, text, whether it matches) for each pattern behind `errors`."""
    cases = []
    for found in _leaves(errors):
        if found.validator == "pattern":
            cases.append((found.validator_value, found.instance, False))
        elif found.validator == "not" and "pattern" in found.validator_value:
            cases.append((found.validator_value["pattern"], found.instance, True))
    return cases


def _manifest(tmp_path: Path, text: str) -> tuple[Any, list[str]]:
    """Return a manifest's data and the checks of its load errors in the build."""
    path = tmp_path / "api.yaml"
    path.write_text("service: api\n" + text, encoding="utf-8")
    source, problems = read_yaml_file(path, "api.yaml")
    assert source is not None, problems
    _, diagnostics, _ = load_manifest_file(path, "api.yaml")
    return source.data, [d.check for d in diagnostics if d.severity == "error"]


def _config(tmp_path: Path, text: str) -> tuple[Any, list[str]]:
    """Return obscompile.yaml's data and the checks of its errors in the build."""
    path = tmp_path / "obscompile.yaml"
    path.write_text(text, encoding="utf-8")
    source, problems = read_yaml_file(path, "obscompile.yaml")
    assert source is not None, problems
    _, diagnostics, _ = load_config(tmp_path)
    return source.data, [d.check for d in diagnostics if d.severity == "error"]


@pytest.mark.parametrize(
    ("good", "bad"),
    [rule[1:] for rule in MANIFEST_RULES],
    ids=[r[0] for r in MANIFEST_RULES],
)
def test_manifest_rule_in_schema_and_build(tmp_path: Path, good: str, bad: str) -> None:
    data, checks = _manifest(tmp_path, good)
    assert _editor_errors(MANIFEST, data) == []
    assert checks == []
    data, checks = _manifest(tmp_path, bad)
    assert _editor_errors(MANIFEST, data) != []
    assert checks == ["manifest/schema"]


@pytest.mark.parametrize(
    ("good", "bad"),
    [rule[1:] for rule in CONFIG_RULES],
    ids=[r[0] for r in CONFIG_RULES],
)
def test_config_rule_in_schema_and_build(tmp_path: Path, good: str, bad: str) -> None:
    data, checks = _config(tmp_path, good)
    assert _editor_errors(CONFIG_SCHEMA, data) == []
    assert checks == []
    data, checks = _config(tmp_path, bad)
    assert _editor_errors(CONFIG_SCHEMA, data) != []
    assert checks == ["config/schema"]


def test_rule_patterns_in_ecma262(tmp_path: Path) -> None:
    """Editors run the patterns behind each rejected value as ECMA-262 and agree."""
    cases = []
    for _, _, bad in MANIFEST_RULES:
        cases += _pattern_cases(_editor_errors(MANIFEST, _manifest(tmp_path, bad)[0]))
    for _, _, bad in CONFIG_RULES:
        cases += _pattern_cases(
            _editor_errors(CONFIG_SCHEMA, _config(tmp_path, bad)[0])
        )
    assert len(cases) >= 10
    found = _ecma262_matches([(pattern, text) for pattern, text, _ in cases])
    assert found == [matches for _, _, matches in cases]


def test_decimal_integer_reaches_dashboard_as_integer(tmp_path: Path) -> None:
    path = tmp_path / "api.yaml"
    path.write_text(
        "service: api\n" + PANEL % "height: 24.0, decimals: 2.0", encoding="utf-8"
    )
    service, diagnostics, _ = load_manifest_file(path, "api.yaml")
    assert diagnostics == []
    assert service is not None
    panel = service.rows[0].panels[0]
    assert panel.height == 24
    assert type(panel.height) is int
    assert type(panel.decimals) is int


def test_decimal_port_names_target_as_integer(tmp_path: Path) -> None:
    path = tmp_path / "api.yaml"
    path.write_text(
        "service: api\nscrape: {job: api, port: 8080.0}\n", encoding="utf-8"
    )
    service, diagnostics, _ = load_manifest_file(path, "api.yaml")
    assert diagnostics == []
    assert service is not None
    assert service.scrape_jobs[0].targets == ("api:8080",)


def test_decimal_schema_version_is_integer(tmp_path: Path) -> None:
    (tmp_path / "obscompile.yaml").write_text(
        "schema_version: 40.0\n", encoding="utf-8"
    )
    config, diagnostics, _ = load_config(tmp_path)
    assert diagnostics == []
    assert config.schema_version == 40
    assert type(config.schema_version) is int


# A query with a syntax error, which the panel checks report.
BAD_QUERY = "sum(rate(up[5m])"


def _with_bad_query(text: str) -> str:
    """Return the manifest text `text` with a panel whose query is BAD_QUERY."""
    if "query: up" in text:
        return text.replace("query: up", f"query: '{BAD_QUERY}'")
    return (
        text
        + f"rows:\n  - title: B\n    panels:\n      - {{title: Q, query: '{BAD_QUERY}'}}\n"
    )


def _error_checks(project: Path) -> list[str]:
    """Build `project` and return the check of each error, in the order reported."""
    result = CliRunner().invoke(
        main, ["build", "--project", str(project)], catch_exceptions=False
    )
    assert result.exit_code == 1, result.output
    return [
        line.rsplit("[", 1)[1].rstrip("]")
        for line in result.output.splitlines()
        if ": error: " in line
    ]


@pytest.mark.parametrize(
    ("rule", "bad"),
    [(rule[0], rule[2]) for rule in MANIFEST_RULES],
    ids=[r[0] for r in MANIFEST_RULES],
)
def test_value_rule_keeps_query_findings(project: Path, rule: str, bad: str) -> None:
    """A value that breaks a marked rule is reported once, with the query's error."""
    write_manifest(project, "api.yaml", "service: api\n" + _with_bad_query(bad))
    checks = _error_checks(project)
    if rule in STOPPING_RULES:
        assert checks == ["manifest/schema"]
    else:
        assert sorted(checks) == ["manifest/schema", "promql/syntax"]


def _marked_nodes(schema: Any) -> dict[int, Any]:
    """Return every node of `schema` marked "x-loads", by its id."""
    found = {}
    if isinstance(schema, dict):
        if schema.get("x-loads") is True:
            found[id(schema)] = schema
        for value in schema.values():
            found.update(_marked_nodes(value))
    elif isinstance(schema, list):
        for value in schema:
            found.update(_marked_nodes(value))
    return found


def test_marked_rules_all_in_table(tmp_path: Path) -> None:
    """Every rule that the schema marks "x-loads" has a case in MANIFEST_RULES."""
    broken = set()
    for _, _, bad in MANIFEST_RULES:
        for found in _leaves(_editor_errors(MANIFEST, _manifest(tmp_path, bad)[0])):
            broken.add(id(found.schema))
    missing = [
        node for key, node in _marked_nodes(MANIFEST).items() if key not in broken
    ]
    assert missing == []
