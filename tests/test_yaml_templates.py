"""The built-in YAML templates write files that read back as their data, for any data.

A build parses back only the files that a project's own templates render. The output
of a built-in template is trusted, because these tests render random rule files,
promtool test files and Prometheus configurations through it and read them back with
YAML 1.1's rules, as Prometheus's Go YAML library reads them.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import jinja2.meta
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from obscompile.cli import main
from obscompile.config import Config
from obscompile.load.project import load_project
from obscompile.pipeline import Project, build
from obscompile.render import builtin_templates_dir, prometheus
from obscompile.render.environment import (
    SELF_CONTAINED,
    TemplateOutputError,
    is_builtin,
    make_environment,
    toyaml,
)
from obscompile.render.prometheus import first_difference, render_yaml, service_outputs
from obscompile.render.test_text import builtin_test_text
from obscompile.render.yaml_dump import dump_yaml
from obscompile.render.yaml_read import read_yaml
from tests.conftest import write_manifest
from tests.test_prometheus import assert_promtool
from tests.test_yaml_fast import _TRICKY

_ENV = make_environment()

# Any character but surrogates, which UTF-8 cannot encode. Line breaks, tabs, quotes,
# colons and `#` are drawn more often than the rest.
_CHARACTERS = st.one_of(
    st.sampled_from(list("\n\t :#'\"{}[],&*!|>%@`-?\\ ")),
    st.characters(blacklist_categories=("Cs",)),
)
TEXT = st.one_of(
    st.sampled_from([*_TRICKY, "yes", "No", "on", "~", "0o17", "1_000", "1:20"]),
    st.text(_CHARACTERS, max_size=24),
)
VALUE = st.floats(allow_nan=False) | st.integers(-(10**9), 10**9).map(float)
PAIRS = st.dictionaries(TEXT, TEXT, max_size=3)


def _rule() -> st.SearchStrategy[dict[str, Any]]:
    record = st.fixed_dictionaries({"record": TEXT, "expr": TEXT})
    alert = st.fixed_dictionaries(
        {
            "alert": TEXT,
            "expr": TEXT,
            "for": TEXT,
            "labels": PAIRS,
            "annotations": PAIRS,
        }
    )
    return record | alert


RULES = st.fixed_dictionaries(
    {
        "groups": st.lists(
            st.fixed_dictionaries(
                {"name": TEXT, "rules": st.lists(_rule(), max_size=3)}
            ),
            max_size=3,
        )
    }
)

_ALERT_CHECK = st.fixed_dictionaries(
    {
        "eval_time": TEXT,
        "alertname": TEXT,
        "exp_alerts": st.lists(
            st.fixed_dictionaries({"exp_labels": PAIRS, "exp_annotations": PAIRS}),
            max_size=2,
        ),
    }
)
_EXPR_CHECK = st.fixed_dictionaries(
    {
        "expr": TEXT,
        "eval_time": TEXT,
        "exp_samples": st.lists(
            st.fixed_dictionaries({"labels": TEXT, "value": VALUE}), max_size=2
        ),
    }
)
_TEST = st.fixed_dictionaries(
    {
        "name": TEXT,
        "interval": TEXT,
        "input_series": st.lists(
            st.fixed_dictionaries({"series": TEXT, "values": TEXT}), max_size=3
        ),
    },
    optional={
        "alert_rule_test": st.lists(_ALERT_CHECK, min_size=1, max_size=2),
        "promql_expr_test": st.lists(_EXPR_CHECK, min_size=1, max_size=2),
    },
)
TESTS = st.fixed_dictionaries(
    {
        "rule_files": st.lists(TEXT, max_size=2),
        "evaluation_interval": TEXT,
        "group_eval_order": st.lists(TEXT, max_size=2),
        "tests": st.lists(_TEST, max_size=3),
    }
)

_JOB = st.fixed_dictionaries(
    {"job_name": TEXT},
    optional={
        "scrape_interval": TEXT,
        "scrape_timeout": TEXT,
        "metrics_path": TEXT,
        "scheme": TEXT,
    },
).flatmap(
    lambda job: st.lists(
        st.fixed_dictionaries(
            {"targets": st.lists(TEXT, max_size=2)}, optional={"labels": PAIRS}
        ),
        min_size=1,
        max_size=2,
    ).map(lambda targets: {**job, "static_configs": targets})
)
SCRAPE = st.fixed_dictionaries(
    {
        "global": st.fixed_dictionaries(
            {
                "scrape_interval": TEXT,
                "scrape_timeout": TEXT,
                "evaluation_interval": TEXT,
            }
        ),
        "rule_files": st.lists(TEXT, max_size=2),
        "scrape_configs": st.lists(_JOB, max_size=2),
    }
)


def _reads_back(template: str, document: dict[str, Any]) -> None:
    text = _ENV.get_template(template).render(document=document)
    assert read_yaml(text, version=(1, 1)) == document


def _same(left: Any, right: Any) -> bool:
    """Compare data where a float must also match in sign, as -0.0 and 0.0 differ."""
    if isinstance(left, float) and isinstance(right, float):
        same_sign = math.copysign(1, left) == math.copysign(1, right)
        return left == right and same_sign
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(
            _same(left[key], right[key]) for key in left
        )
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same, left, right))
    return type(left) is type(right) and left == right


_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@_SETTINGS
@given(RULES)
def test_rule_files_read_back(document: dict[str, Any]) -> None:
    _reads_back("prometheus/rules.yml.j2", document)


@_SETTINGS
@given(TESTS)
def test_test_files_read_back(document: dict[str, Any]) -> None:
    text = _ENV.get_template("prometheus/test.yml.j2").render(document=document)
    assert _same(read_yaml(text, version=(1, 1)), document)


@_SETTINGS
@given(TESTS)
def test_test_text_matches_template(document: dict[str, Any]) -> None:
    template = _ENV.get_template("prometheus/test.yml.j2")
    assert builtin_test_text(document) == template.render(document=document)


def test_test_text_matches_template_for_services(repo: Path) -> None:
    template = _ENV.get_template("prometheus/test.yml.j2")
    compared = 0
    for service in load_project(repo / "services").services:
        rules, suite = service_outputs(service, Config())
        if rules.is_empty:
            continue
        path = f"rules/{service.name}.rules.yml"
        document = prometheus.tests_document(suite, path)
        assert builtin_test_text(document) == template.render(document=document)
        compared += 1
    assert compared == 4


@_SETTINGS
@given(SCRAPE)
def test_scrape_configs_read_back(document: dict[str, Any]) -> None:
    _reads_back("prometheus/prometheus.yml.j2", document)


def test_self_contained_templates_listed() -> None:
    """The list of self-contained built-in templates is what Jinja finds in them."""
    root = builtin_templates_dir()
    found = set()
    for path in root.rglob("*.j2"):
        parsed = _ENV.parse(path.read_text(encoding="utf-8"))
        if next(jinja2.meta.find_referenced_templates(parsed), None) is None:
            found.add(path.relative_to(root).as_posix())
    assert found == SELF_CONTAINED
    assert is_builtin(_ENV.get_template("prometheus/test.yml.j2"))
    assert not is_builtin(_ENV.get_template("grafana/dashboard.json.j2"))


def test_project_template_is_read_back(tmp_path: Path) -> None:
    """A project's own template whose output reads back as other data is an error."""
    folder = tmp_path / "templates" / "prometheus"
    folder.mkdir(parents=True)
    builtin = _ENV.get_template("prometheus/rules.yml.j2").filename
    assert builtin is not None
    # Without the indentation before `rules:`, the rules are no longer in their group.
    broken = Path(builtin).read_text(encoding="utf-8").replace("    rules:", "rules:")
    (folder / "rules.yml.j2").write_text(broken, encoding="utf-8")
    env = make_environment(tmp_path / "templates")
    document = {"groups": [{"name": "a", "rules": [{"record": "b", "expr": "c"}]}]}
    with pytest.raises(TemplateOutputError, match="does not read back as its data"):
        render_yaml(env, "prometheus/rules.yml.j2", document)
    assert render_yaml(_ENV, "prometheus/rules.yml.j2", document).endswith("expr: c\n")


MANIFEST = """service: payments
scrape: {job: payments, port: 8080}
metrics:
  http_requests_total: {type: counter, labels: [code]}
dashboard: {uid: payments}
rows:
  - title: Traffic
    panels:
      - title: Errors
        type: stat
        unit: reqps
        query: 'sum(rate(http_requests_total{job="payments",code=~"5.."}[5m]))'
        thresholds: "0=green, 5=red"
"""


BROKEN_TEMPLATES = [
    (
        "prometheus/test.yml.j2",
        "tests: [{{ document.tests }}\n",
        "templates/prometheus/test.yml.j2:1:1: error: prometheus/test.yml.j2 rendered "
        "invalid YAML (did not find expected ',' or ']') for service \"payments\", "
        "at line 2 of its output",
    ),
    (
        "prometheus/rules.yml.j2",
        "groups: []\n",
        "templates/prometheus/rules.yml.j2:1:1: error: prometheus/rules.yml.j2 "
        "rendered YAML that does not read back as its data (groups has length 0, not "
        '2) for service "payments"',
    ),
    (
        "grafana/panels/stat.json.j2",
        '{"broken": \n',
        "templates/grafana/panels/stat.json.j2:1:1: error: grafana/dashboard.json.j2 "
        'rendered invalid JSON (Expecting value) for service "payments", at line ',
    ),
    (
        "grafana/panels/stat.json.j2",
        '{\n  "id": {{ view.id }},\n  "type": "stat"\n  "title": "x"\n}\n',
        "templates/grafana/panels/stat.json.j2:4:1: error: grafana/dashboard.json.j2 "
        "rendered invalid JSON (Expecting ',' delimiter) for service \"payments\", at "
        "line ",
    ),
    (
        "grafana/dashboard.json.j2",
        "[1, 2]\n",
        "templates/grafana/dashboard.json.j2:1:1: error: grafana/dashboard.json.j2 "
        'rendered JSON that is not a dashboard object for service "payments"',
    ),
    (
        "kubernetes/prometheusrule.yaml.j2",
        "spec: [\n{{ document | yaml_document }}\n",
        "templates/kubernetes/prometheusrule.yaml.j2:2:1: error: "
        "kubernetes/prometheusrule.yaml.j2 rendered invalid YAML (did not find "
        "expected ',' or ']') for service \"payments\", at line 3 of its output",
    ),
    (
        "mimir/namespace.yaml.j2",
        "groups: [\n",
        "templates/mimir/namespace.yaml.j2:1:1: error: mimir/namespace.yaml.j2 "
        "rendered invalid YAML (did not find expected node content) for service "
        '"payments", at line 2 of its output',
    ),
    (
        "grafana/provisioning/dashboards.yaml.j2",
        "providers: [\n",
        "templates/grafana/provisioning/dashboards.yaml.j2:1:1: error: "
        "grafana/provisioning/dashboards.yaml.j2 rendered invalid YAML (did not find "
        "expected node content), at line 2 of its output",
    ),
]


@pytest.mark.parametrize(("name", "text", "expected"), BROKEN_TEMPLATES)
def test_broken_project_template_stops_the_build(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    write_manifest(tmp_path, "payments.yaml", MANIFEST)
    assert _build(tmp_path).exit_code == 0
    before = {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    template = tmp_path / "templates" / name
    template.parent.mkdir(parents=True)
    template.write_text(text, encoding="utf-8")
    result = _build(tmp_path)
    assert result.exit_code == 1, result.output
    assert expected in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    after = {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert after == before


@pytest.mark.parametrize("command", ["check", "build"])
def test_project_template_runs_in_sandbox(tmp_path: Path, command: str) -> None:
    """A template that reaches Python's internals is an error and runs nothing."""
    write_manifest(tmp_path, "payments.yaml", MANIFEST)
    marker = tmp_path.parent / f"{tmp_path.name}-ran"
    template = tmp_path / "templates" / "prometheus" / "rules.yml.j2"
    template.parent.mkdir(parents=True)
    builtin = (builtin_templates_dir() / "prometheus" / "rules.yml.j2").read_text()
    template.write_text(
        "{% set _ = cycler.__init__.__globals__.os.system('touch "
        + str(marker)
        + "') %}\n"
        + builtin,
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, [command, "--project", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert (
        "templates/prometheus/rules.yml.j2:1:1: error: template failed to render: "
        "access to attribute '__init__' of 'type' object is unsafe."
    ) in result.output
    assert not marker.exists()


def test_invalid_yaml_at_template_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rule template that writes a bad indent is an error at the line that wrote it."""
    rules = (
        "# Team rules\n"
        "groups:\n"
        "{% for group in document.groups %}\n"
        "  - name: {{ group.name | toyaml }}\n"
        "    rules:\n"
        "{% for rule in group.rules %}\n"
        "      - expr: {{ rule.expr | toyaml }}\n"
        # One space short of the indentation of `expr:` above.
        "       labels: {}\n"
        "{% endfor %}\n"
        "{% endfor %}\n"
    )
    result, errors = _build_with_templates(
        tmp_path, monkeypatch, {"prometheus/rules.yml.j2": rules.encode()}
    )
    assert result.exit_code == 1
    # The output's lines: the comment, `groups:`, the group's name, `rules:`, the
    # first rule's `expr:`, and its `labels:`.
    assert errors == [
        "templates/prometheus/rules.yml.j2:8:1: error: prometheus/rules.yml.j2 "
        "rendered invalid YAML (did not find expected '-' indicator) for service "
        '"payments", at line 6 of its output: `       labels: {}` [template/render]'
    ]
    assert "  " + rules.split("\n")[7] in result.output.splitlines()


def test_invalid_yaml_in_included_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The line that wrote invalid YAML is found in a template that is included."""
    templates = {
        "kubernetes/prometheusrule.yaml.j2": b'{% include "kubernetes/header.j2" %}\n'
        b"{{ document | yaml_document }}\n",
        "kubernetes/header.j2": b"# Shared header\nmetadata:\n  team: a\n owner: b\n",
    }
    result, errors = _build_with_templates(tmp_path, monkeypatch, templates)
    assert result.exit_code == 1
    assert errors == [
        "templates/kubernetes/header.j2:4:1: error: kubernetes/prometheusrule.yaml.j2 "
        "rendered invalid YAML (did not find expected key) for service "
        '"payments", at line 4 of its output: ` owner: b` [template/render]'
    ]


@pytest.mark.parametrize(
    ("found", "expected", "text"),
    [
        ({"a": [1, {"b": 2}]}, {"a": [1, {"b": 3}]}, "a[1].b is 2, not 3"),
        ({"a": 1}, {"a": 1, "b": 2}, "b is missing"),
        ({"a": 1, "c": 2}, {"a": 1}, "c is not expected"),
        ([1], [1, 2], "the document has length 1, not 2"),
        (None, {"a": 1}, "the document is None, not {'a': 1}"),
    ],
)
def test_first_difference_table(found: Any, expected: Any, text: str) -> None:
    assert first_difference(found, expected) == text


def _build(project: Path):
    return CliRunner().invoke(main, ["build", "--project", str(project)])


_DATA = st.recursive(
    st.one_of(TEXT, VALUE, st.integers(), st.booleans(), st.none()),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3)
    ),
    max_leaves=10,
)


@pytest.mark.parametrize("write", [dump_yaml, toyaml], ids=["dump_yaml", "toyaml"])
@_SETTINGS
@given(document=st.dictionaries(TEXT, _DATA, min_size=1, max_size=4))
def test_dumped_documents_read_back(write, document: dict[str, Any]) -> None:
    """Documents read back in both YAMLs: the Kubernetes and Mimir files, which
    `dump_yaml` writes, and the flow style of the `toyaml` filter."""
    text = write(document)
    assert _same(read_yaml(text, version=(1, 1)), document)
    assert _same(read_yaml(text, version=(1, 2)), document)


def test_rules_template_of_toyaml_alone(tmp_path: Path) -> None:
    """A project's rules template may write the whole document with `toyaml`."""
    folder = tmp_path / "templates" / "prometheus"
    folder.mkdir(parents=True)
    (folder / "rules.yml.j2").write_text("# team rules\n{{ document | toyaml }}\n")
    env = make_environment(tmp_path / "templates")
    document = {
        "groups": [
            {"name": "a", "rules": [{"record": "job:x:rate5m", "expr": "sum(x)"}]}
        ]
    }
    text = render_yaml(env, "prometheus/rules.yml.j2", document)
    assert read_yaml(text) == document


def _build_with_templates(
    project: Path, monkeypatch: pytest.MonkeyPatch, templates: dict[str, bytes]
) -> tuple[Any, list[str]]:
    """Return the result and error lines of a build of MANIFEST with `templates`."""
    monkeypatch.chdir(project)
    write_manifest(project, "payments.yaml", MANIFEST)
    for name, data in templates.items():
        path = project / "templates" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    result = CliRunner().invoke(main, ["build"])
    errors = [line for line in result.output.splitlines() if ": error: " in line]
    return result, errors


def test_every_broken_template_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Templates of three targets that fail are reported in one run."""
    broken = {
        "grafana/panels/stat.json.j2": b"{{ 1 // 0 }}\n",
        "kubernetes/prometheusrule.yaml.j2": b"{{ documnt }}\n",
        "mimir/namespace.yaml.j2": b"{{ unclosed\n",
    }
    result, errors = _build_with_templates(tmp_path, monkeypatch, broken)
    assert result.exit_code == 1
    assert errors == [
        "templates/grafana/panels/stat.json.j2:1:1: error: template failed to render: "
        "ZeroDivisionError: integer division or modulo by zero [template/render]",
        "templates/kubernetes/prometheusrule.yaml.j2:1:4: error: template failed to "
        "render: 'documnt' is undefined (did you mean \"document\"?) [template/render]",
        "templates/mimir/namespace.yaml.j2:1:1: error: invalid template: unexpected "
        "end of template, expected 'end of print statement'. [template/render]",
    ]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("name", "text", "place", "message"),
    [
        (
            "grafana/panels/stat.json.j2",
            b'{"title": {{ view.panel.titel | tojson }}}\n',
            (1, 25),
            "Panel has no attribute 'titel' (did you mean \"title\"?)",
        ),
        (
            "prometheus/rules.yml.j2",
            b"{{ document.grups | toyaml }}\n",
            (1, 13),
            "dict has no attribute 'grups' (did you mean \"groups\"?)",
        ),
        (
            "prometheus/rules.yml.j2",
            b"{{ document.x }}\n",
            (1, 13),
            "dict has no attribute 'x'",
        ),
        (
            "prometheus/rules.yml.j2",
            b"# groups\ngroups: {{ documnt.title }}\n",
            (2, 12),
            "'documnt' is undefined (did you mean \"document\"?)",
        ),
        (
            "prometheus/rules.yml.j2",
            b'# documnt\n{{ "documnt" ~ documnt }}\n',
            (2, 16),
            "'documnt' is undefined (did you mean \"document\"?)",
        ),
        (
            "prometheus/rules.yml.j2",
            b"{% set total = 1 %}{{ totl }}\n",
            (1, 23),
            "'totl' is undefined (did you mean \"total\"?)",
        ),
        (
            "prometheus/rules.yml.j2",
            b"{{ document }}{{ zzz }}\n",
            (1, 18),
            "'zzz' is undefined",
        ),
    ],
    ids=[
        "panel-field",
        "document-key",
        "nothing-close",
        "variable",
        "variable-after-string",
        "assigned-name",
        "variable-nothing-close",
    ],
)
def test_missing_name_suggests_name(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    text: bytes,
    place: tuple[int, int],
    message: str,
) -> None:
    """The error is at the missing name and names the closest defined one, if any.

    A missing attribute's error names the type without its module.
    """
    result, errors = _build_with_templates(tmp_path, monkeypatch, {name: text})
    assert result.exit_code == 1
    assert errors == [
        f"templates/{name}:{place[0]}:{place[1]}: error: template failed to render: "
        f"{message} [template/render]"
    ]


def test_copy_of_builtin_templates_builds_alike(tmp_path: Path) -> None:
    """A project whose templates are the built-in ones builds the same files."""
    write_manifest(tmp_path, "payments.yaml", MANIFEST)
    plain = build(Project.at(tmp_path))
    assert plain.ok, [str(d) for d in plain.diagnostics]
    shutil.copytree(builtin_templates_dir(), tmp_path / "templates")
    copied = build(Project.at(tmp_path))
    assert copied.ok, [str(d) for d in copied.diagnostics]
    assert dict(copied.files) == dict(plain.files)


def test_broken_panel_blamed_among_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a copy of every built-in template, the one that changed is blamed."""
    shutil.copytree(builtin_templates_dir(), tmp_path / "templates")
    stat = builtin_templates_dir() / "grafana" / "panels" / "stat.json.j2"
    text = stat.read_text(encoding="utf-8")
    lines = text.split("\n")
    broken = text.replace("},\n", "}\n", 1)
    result, errors = _build_with_templates(
        tmp_path, monkeypatch, {"grafana/panels/stat.json.j2": broken.encode()}
    )
    assert result.exit_code == 1
    (error,) = errors
    # JSON stops at the line after the one whose comma is gone.
    line = text[: text.index("},\n")].count("\n") + 2
    assert error.startswith(
        f"templates/grafana/panels/stat.json.j2:{line}:1: error: "
        "grafana/dashboard.json.j2 rendered invalid JSON (Expecting ',' delimiter)"
    )
    assert error.endswith(f": `{lines[line - 1]}` [template/render]")


def test_unused_broken_template_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A template that no panel renders yet is compiled, and its syntax checked."""
    result, errors = _build_with_templates(
        tmp_path, monkeypatch, {"grafana/panels/heatmap.json.j2": b"{{ unclosed\n"}
    )
    assert result.exit_code == 1
    assert errors == [
        "templates/grafana/panels/heatmap.json.j2:1:1: error: invalid template: "
        "unexpected end of template, expected 'end of print statement'. "
        "[template/render]"
    ]


# A template with a syntax error, the line and column of the tag that the error is
# in, and Jinja's message.
SYNTAX_ERRORS = [
    (
        "# x\n{% if tenants %}a{% endif %} {{ document | toyaml( }}\n",
        "2:30",
        "unexpected '}', expected ')'",
    ),
    (
        "groups:\n  {{ document.groups | }}\n",
        "2:3",
        "expected token 'name', got 'end of print statement'",
    ),
    (
        "{{ rules_path }} {{ document | nosuch }}\n",
        "1:18",
        "No filter named 'nosuch'.",
    ),
    (
        "{# a comment #} {{ document | nosuch }}\n",
        "1:17",
        "No filter named 'nosuch'.",
    ),
    ('{{ "{{" }} {{ "x }}\n', "1:12", "unexpected char '\"' at 14"),
    # A tag over two lines: the token that fails is on the error's line.
    ("{{ toyaml(document,\n   12 13) }}\n", "2:7", "expected token ',', got 'integer'"),
    # Jinja reports the end of the template inside a tag at the tag's last line.
    (
        "x\n\n  {{ document\n  | toyaml(\n\n",
        "3:3",
        "unexpected 'end of template'",
    ),
    ("a\r\nb {{ document( }}\r\n", "2:3", "unexpected '}', expected ')'"),
    ("a\nb {# never closed\n", "2:3", "Missing end of comment tag"),
    ("{% raw %}\n  {% raw %}\n", "1:1", "Missing end of raw directive"),
]


# A template with a block tag that is not closed, the line and column of that tag,
# and the message.
UNCLOSED_TAGS = [
    (
        "# x\n   {% if tenants %}\nx\n{% for a in b %}\n{% endfor %}\n# end\n",
        "2:4",
        "{% if %} has no matching {% endif %} before the end of the template",
    ),
    (
        "{% for group in document.groups %}\n  {% if tenants %}\n{% endfor %}\n",
        "2:3",
        "{% if %} has no matching {% endif %} before {% endfor %} at line 3",
    ),
    # The inner `{% if %}` takes the `{% endif %}`, so the outer one is not closed.
    (
        "{% if tenants %}\n{% if document %}x{% endif %}\n",
        "1:1",
        "{% if %} has no matching {% endif %} before the end of the template",
    ),
    (
        "x {% macro row(a) %}\n{{ a }}\n",
        "1:3",
        "{% macro %} has no matching {% endmacro %} before the end of the template",
    ),
    (
        "{% block body %}{{ document | yaml_document }}\n",
        "1:1",
        "{% block %} has no matching {% endblock %} before the end of the template",
    ),
    # A misspelt end tag is not taken for the end of an outer block.
    (
        "{% if tenants %}\nx\n  {% endfi %}\n",
        "3:3",
        "Encountered unknown tag 'endfi'. Jinja was looking for the following tags: "
        "'elif' or 'else' or 'endif'. The innermost block that needs to be closed is "
        "'if'.",
    ),
]


@pytest.mark.parametrize(("text", "place", "message"), SYNTAX_ERRORS + UNCLOSED_TAGS)
def test_syntax_error_at_its_tag(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    place: str,
    message: str,
) -> None:
    result, errors = _build_with_templates(
        tmp_path, monkeypatch, {"mimir/namespace.yaml.j2": text.encode()}
    )
    assert result.exit_code == 1
    assert errors == [
        f"templates/mimir/namespace.yaml.j2:{place}: error: invalid template: "
        f"{message} [template/render]"
    ]
    line, column = (int(number) for number in place.split(":"))
    caret = " " * (column - 1) + "^"
    output_lines = result.output.splitlines()
    index = output_lines.index(errors[0])
    source_line = text.replace("\r", "").split("\n")[line - 1]
    assert output_lines[index + 1] == "  " + source_line
    assert output_lines[index + 2] == "  " + caret


def test_syntax_error_line_without_parser_internals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Jinja whose parser lacks the internals read to place a tag gives the line."""
    from obscompile.render import template_syntax

    def missing(*_args: object) -> None:
        raise AttributeError("'_TagParser' object has no attribute '_tag_stack'")

    monkeypatch.setattr(template_syntax._TagParser, "parse", missing)
    result, errors = _build_with_templates(
        tmp_path, monkeypatch, {"mimir/namespace.yaml.j2": b"a\nb {{ x( }}\n"}
    )
    assert result.exit_code == 1
    assert errors == [
        "templates/mimir/namespace.yaml.j2:2:1: error: invalid template: "
        "unexpected '}', expected ')' [template/render]"
    ]
    assert "Traceback" not in result.output


def test_template_not_utf8_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, errors = _build_with_templates(
        tmp_path,
        monkeypatch,
        {"kubernetes/prometheusrule.yaml.j2": b"\xff\xfe bad"},
    )
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert errors == [
        "templates/kubernetes/prometheusrule.yaml.j2:1:1: error: template is not "
        "valid UTF-8: invalid start byte at byte 0 [template/render]"
    ]
    assert not (tmp_path / "out").exists()


def test_misplaced_template_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A template near a built-in path, but not on it, gets a warning."""
    monkeypatch.chdir(tmp_path)
    write_manifest(tmp_path, "payments.yaml", MANIFEST)
    typo = tmp_path / "templates" / "grafana" / "panels" / "guage.json.j2"
    typo.parent.mkdir(parents=True)
    typo.write_text("{}")
    builtin = Path(_ENV.get_template("grafana/panels/stat.json.j2").filename or "")
    misplaced = tmp_path / "templates" / "grafana" / "panel" / "stat.json.j2"
    misplaced.parent.mkdir(parents=True)
    misplaced.write_text(builtin.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "templates" / "prometheus").mkdir()
    (tmp_path / "templates" / "prometheus" / "rules.yml").write_text("x\n")
    # A file of macros for the project's own templates is far from every name.
    (tmp_path / "templates" / "grafana" / "our_macros.j2").write_text("{# x #}")
    result = CliRunner().invoke(main, ["build"])
    warned = [line for line in result.output.splitlines() if "[template/" in line]
    assert warned == [
        "templates/grafana/panel/stat.json.j2:1:1: warning: stat.json.j2 replaces no "
        "built-in template, because none has its path under templates/; did you "
        "mean grafana/panels/stat.json.j2? [template/not-used]",
        "templates/grafana/panels/guage.json.j2:1:1: warning: guage.json.j2 replaces "
        "no built-in template, because none has its path under templates/; did you "
        "mean grafana/panels/gauge.json.j2? [template/not-used]",
        "templates/prometheus/rules.yml:1:1: warning: rules.yml replaces no built-in "
        "template, because none has its path under templates/; did you mean "
        "prometheus/rules.yml.j2? [template/not-used]",
    ]


def test_negative_zero_after_zero() -> None:
    """The filter's memo keeps -0.0 apart from 0.0, which it equals as a key."""
    assert toyaml(0.0) == "0.0"
    assert toyaml(-0.0) == "-0.0"


UNUSUAL = r"""service: payments
scrape: {job: payments, port: 8080}
metrics:
  http_requests_total:
    type: counter
    help: "Requests\x1f handled\u2028 here\x85 yes"
    labels: [code]
dashboard: {uid: payments, title: "Pay\tments\r", description: "Line one\n\n"}
rows:
  - title: "Traffic \u2028 row"
    panels:
      - title: "Errors\x85 # yes ~"
        type: stat
        unit: reqps
        query: 'sum(rate(http_requests_total{job="payments",code=~"5.."}[5m]))'
        thresholds: "0=green, 5=red"
        alert:
          description: "{{ $value }} errors\nsee\x1f runbook"
"""


def test_unusual_characters_reach_prometheus(tmp_path: Path) -> None:
    """Control characters, NEL, tabs and line breaks survive every YAML file."""
    write_manifest(tmp_path, "payments.yaml", UNUSUAL)
    result = _build(tmp_path)
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    rules_file = out / "prometheus" / "rules" / "payments.rules.yml"
    rules = read_yaml(rules_file.read_text(encoding="utf-8"), version=(1, 1))
    alert = rules["groups"][1]["rules"][0]
    assert "Errors\x85 # yes ~" in alert["annotations"]["summary"]
    assert alert["annotations"]["description"] == "{{ $value }} errors\nsee\x1f runbook"
    assert_promtool("check", "rules", str(rules_file))
    assert_promtool("test", "rules", "tests/payments.test.yml", cwd=out / "prometheus")
    wrapped = [*out.glob("kubernetes/**/*.yaml"), *out.glob("mimir/**/*.yaml")]
    assert len(wrapped) == 2
    for path in wrapped:
        found = _strings(read_yaml(path.read_text(encoding="utf-8")))
        assert alert["annotations"]["summary"] in found, path
        assert alert["annotations"]["description"] in found, path


def _strings(data: Any) -> list[str]:
    if isinstance(data, dict):
        return [s for value in data.values() for s in _strings(value)]
    if isinstance(data, list):
        return [s for value in data for s in _strings(value)]
    return [data] if isinstance(data, str) else []
