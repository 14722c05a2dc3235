"""The Go template checker, against the messages of Go 1.19's text/template parser."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from obscompile.gotemplate import (
    Reference,
    TemplateError,
    find_template_error,
    template_error,
    template_references,
)

VALID = [
    pytest.param(
        '{{ define "a" }} {{ end }}{{ define "a" }}y{{ end }}', id="define-after-empty"
    ),
    pytest.param("no actions at all", id="plain-text"),
    pytest.param("{{ $labels.instance }} down", id="label"),
    pytest.param(
        "High error ratio on {{ $labels.instance }}: {{ $value | humanizePercentage }}",
        id="pipeline",
    ),
    pytest.param('{{ printf "%.1f" $value }} links down', id="printf"),
    pytest.param("{{ $value | printf `%.2f` }}%", id="raw-string"),
    pytest.param("{{ .Labels.job }} {{ .Value }} {{ . }}", id="fields-and-dot"),
    pytest.param(
        "{{ $externalLabels.cluster }} {{ $externalURL }}", id="prometheus-variables"
    ),
    pytest.param("{{ if gt $value 1.0 }}high{{ else }}low{{ end }}", id="if-else"),
    pytest.param(
        "{{ if gt $value 1.0 }}high{{ else if lt $value 0.0 }}negative{{ end }}",
        id="else-if-shares-end",
    ),
    pytest.param(
        '{{ range $i, $s := query "up" }}{{ $i }}{{ $s.Labels.job }}{{ break }}'
        "{{ end }}",
        id="range-two-variables",
    ),
    pytest.param(
        '{{ range query "up" }}{{ continue }}{{ else }}none{{ end }}', id="range-else"
    ),
    pytest.param("{{ with $labels.job }}{{ . }}{{ end }}", id="with"),
    pytest.param("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", id="declare-and-assign"),
    pytest.param("{{- $value -}} {{- /* trimmed comment */ -}}", id="trim-markers"),
    pytest.param("{{/* a comment */}}text", id="comment"),
    pytest.param(
        '{{ define "x" }}{{ . }}{{ end }}{{ template "x" $value }}', id="define"
    ),
    pytest.param('{{ block "y" . }}default{{ end }}', id="block"),
    pytest.param(
        "{{ (humanize $value) }} {{ 0x1F }} {{ 017 }} {{ 1.5e3 }} {{ 'a' }}",
        id="literals",
    ),
    pytest.param("{{ and true (not false) nil }}", id="keywords"),
    pytest.param("{{ -3 }}", id="negative-number-is-no-trim-marker"),
]

INVALID = [
    pytest.param(
        '{{ define "a" }}x{{ end }}{{ define "a" }}y{{ end }}',
        'template: multiple definition of template "a"',
        36,
        id="define-twice",
    ),
    pytest.param(
        "{{ $labels.instance |\n",
        "unclosed action started at line 1",
        22,
        id="unclosed-across-lines",
    ),
    pytest.param(
        "{{ $labels.instance } down", 'unexpected "}" in operand', 20, id="single-brace"
    ),
    pytest.param(
        "{{ $labels.instance}",
        "bad character U+007D '}'",
        10,
        id="single-brace-adjacent",
    ),
    pytest.param(
        "{{ $value | humanizePercentag }}",
        'function "humanizePercentag" not defined',
        12,
        id="undefined-function",
    ),
    pytest.param(
        "{{ $label.instance }}",
        'undefined variable "$label"',
        3,
        id="undefined-variable",
    ),
    pytest.param(
        "{{ with $labels.job }}{{ $y := . }}{{ end }}{{ $y }}",
        'undefined variable "$y"',
        47,
        id="variable-out-of-scope",
    ),
    pytest.param(
        '{{ define "x" }}{{ $labels }}{{ end }}',
        'undefined variable "$labels"',
        19,
        id="define-sees-only-dot",
    ),
    pytest.param("{{ if gt $value 1.0 }}high", "unexpected EOF", 22, id="missing-end"),
    pytest.param("{{ end }}", "unexpected {{end}}", 7, id="stray-end"),
    pytest.param("{{ else }}", "unexpected {{else}}", 8, id="stray-else"),
    pytest.param(
        "{{ with $value }}a{{ else with $value }}b{{ end }}",
        "unexpected <with> in else",
        26,
        id="else-with",
    ),
    pytest.param(
        "{{ if true }}a{{ else }}b{{ else }}c{{ end }}",
        "expected end; found {{else}}",
        33,
        id="two-elses",
    ),
    pytest.param(
        "{{ break }}", "{{break}} outside {{range}}", 3, id="break-outside-range"
    ),
    pytest.param(
        "{{ range . }}{{ break 1 }}{{ end }}",
        'unexpected "1" in {{break}}',
        22,
        id="break-argument",
    ),
    pytest.param("{{/* comment  }}x", "unclosed comment", 2, id="unclosed-comment"),
    pytest.param(
        "{{/* comment */ }}x",
        "comment ends before closing delimiter",
        2,
        id="comment-space",
    ),
    pytest.param(
        '{{ "abc }}', "unterminated quoted string", 3, id="unterminated-string"
    ),
    pytest.param(
        "{{ `abc }}", "unterminated raw quoted string", 3, id="unterminated-raw"
    ),
    pytest.param("{{ ($value }}", "unclosed left paren", 11, id="unclosed-paren"),
    pytest.param("{{ $value) }}", 'unexpected ")" in command', 9, id="extra-paren"),
    pytest.param("{{ }}", "missing value for command", 3, id="empty-action"),
    pytest.param("{{ $labels.instance", "unclosed action", 19, id="unclosed-action"),
    pytest.param(
        "{{ 1 | 2 }}",
        "non executable command in pipeline stage 2",
        7,
        id="literal-stage",
    ),
    pytest.param('{{ "a\\q" }}', "invalid syntax", 3, id="bad-escape"),
    pytest.param("{{ 089 }}", 'integer overflow: "089"', 3, id="bad-octal"),
    pytest.param("{{ 3x }}", 'bad number syntax: "3x"', 3, id="bad-number"),
    pytest.param("{{ 'ab' }}", "malformed character constant: 'ab'", 3, id="long-char"),
    pytest.param(
        "{{ true.x }}", 'unexpected . after term "true"', 3, id="field-of-literal"
    ),
    pytest.param("{{ % }}", 'unexpected "%" in command', 3, id="stray-character"),
    pytest.param(
        "{{ $value \u2013}}",
        "unrecognized character in action: U+2013 '\u2013'",
        10,
        id="non-ascii",
    ),
    pytest.param("{{ $x! }}", "bad character U+0021 '!'", 3, id="bad-character"),
    pytest.param(
        "{{ $x := }}", "missing value for command", 9, id="declaration-without-value"
    ),
    pytest.param(
        '{{ range $a, $b, $c := query "up" }}{{ end }}',
        "too many declarations in range",
        15,
        id="three-range-variables",
    ),
    pytest.param(
        "{{ template x }}", 'unexpected "x" in template clause', 12, id="template-name"
    ),
    pytest.param(
        '{{ printf "a very long string" | 1 }}',
        "non executable command in pipeline stage 2",
        33,
        id="literal-after-string",
    ),
    pytest.param(
        "{{ $value.Field.x- }}",
        "bad character U+002D '-'",
        15,
        id="field-bad-character",
    ),
]


@pytest.mark.parametrize("text", VALID)
def test_valid_template(text: str) -> None:
    assert find_template_error(text) is None


@pytest.mark.parametrize(("text", "message", "offset"), INVALID)
def test_invalid_template(text: str, message: str, offset: int) -> None:
    assert find_template_error(text) == TemplateError(message, offset)


def test_template_error_returns_message() -> None:
    assert template_error("{{ $labels.instance } down") == 'unexpected "}" in operand'
    assert template_error("{{ $labels.instance }} down") is None


def test_functions_can_be_restricted() -> None:
    """Without Prometheus's functions, humanize is undefined, as in plain Go."""
    found = find_template_error("{{ humanize $value }}", functions={"printf"})
    assert found == TemplateError('function "humanize" not defined', 3)


def test_long_token_is_truncated_in_messages() -> None:
    """Go quotes at most 10 characters of a token in "unexpected" messages."""
    found = find_template_error('{{ x "abc""0123456789abcdef" }}', functions={"x"})
    assert found == TemplateError('unexpected "\\"012345678"... in operand', 10)


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool not found: install the Debian package prometheus "
            "(apt-get install prometheus, version 2.42)"
        )
    return path


def promtool_messages(templates: list[str], folder: Path) -> list[str | None]:
    """Return promtool's message for each template used as an alert summary, or None."""
    rules = [
        {"alert": f"T{index}", "expr": "up == 0", "annotations": {"summary": text}}
        for index, text in enumerate(templates)
    ]
    path = folder / "templates.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": rules}]}))
    result = subprocess.run(
        [promtool(), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = dict(
        re.findall(
            r'"T(\d+)": annotation "summary": template: __alert_T\d+:\d+: (.*)',
            result.stderr,
        )
    )
    # promtool names the template __alert_<alert name>; the checker names only the line.
    return [
        re.sub(
            r"started at __alert_T\d+:(\d+)", r"started at line \1", found[str(index)]
        )
        if str(index) in found
        else None
        for index in range(len(templates))
    ]


# Pieces that random templates are made of: actions, keywords, literals good and bad.
PIECES = [
    "{{", "}}", "{{- ", " -}}", " ", "\n", "\t", "$", "$labels", ".instance", "$value",
    "$x", "$y", "$externalLabels", ".", ".Labels", "|", "(", ")", ":=", "=", ",", "if",
    "else", "end", "range", "with", "define", "template", "block", "break", "continue",
    "humanize", "printf", "and", "not", "le", "x", "nil", "true", '"x"', '"%.2f"',
    '"a\\q"', '"abcdefghijklmn"', "`r`", "'a'", "''", "1", "-3", "+1", ".5", "1.5e3",
    "089", "0x1", "0b1", "0o7", "1_000", "1i", "/*", "*/", "{", "}", "%", "!", "\u00e9",
]  # fmt: skip


def random_templates(count: int, seed: int) -> list[str]:
    """Return `count` templates joined from PIECES, the same ones for the same seed."""
    chooser = random.Random(seed)
    templates = []
    for _ in range(count):
        text = "".join(chooser.choice(PIECES) for _ in range(chooser.randint(1, 10)))
        templates.append("{{ " + text + " }}" if chooser.random() < 0.5 else text)
    return templates


def test_messages_match_promtool(tmp_path: Path) -> None:
    """The tables and 2000 random templates get promtool 2.42's verdict and message."""
    templates = [param.values[0] for param in (*VALID, *INVALID)]
    templates += random_templates(2000, seed=7)
    expected = promtool_messages(templates, tmp_path)
    ours = [template_error(text) for text in templates]
    differing = [
        (text, mine, theirs)
        for text, mine, theirs in zip(templates, ours, expected, strict=True)
        if mine != theirs
    ]
    assert differing == []


TEMPLATE_PIECES = st.sampled_from(
    ["{{", "}}", "\n", " ", "x", "$value", "$labels.job", '"', "`", "|", "printf",
     "end", "if", "(", ")", "/*", "*/", "humanize", "{", "}", "-", "%.2f"]
)  # fmt: skip


@given(pieces=st.lists(TEMPLATE_PIECES, max_size=16))
def test_cached_check_gives_messages_of_full_parse(pieces: list[str]) -> None:
    text = "".join(pieces)
    found = find_template_error(text)
    assert template_error(text) == (found.message if found else None)


def test_text_before_first_action_keeps_line_numbers() -> None:
    first = template_error("a\n\nb {{ ($value \n }}")
    second = template_error("svc\n\nother text {{ ($value \n }}")
    assert first == second
    assert first == "unclosed left paren in action started at line 3"
    assert template_error("{{ ($value \n }}") != first


# A template, and the labels ("label") and other fields of `.` ("field") that it
# reads, with the offset of each name.
REFERENCES = [
    pytest.param("{{ $labels.job }}", [Reference("label", "job", 11)], id="label"),
    pytest.param(
        '{{ .Labels.job }} {{ index $labels "code" }} {{ index .Labels `le` }}',
        [
            Reference("label", "job", 11),
            Reference("label", "code", 36),
            Reference("label", "le", 63),
        ],
        id="field-and-index",
    ),
    pytest.param(
        "{{ .Value }} {{ humanize .value }} {{ $labels.x.y }}",
        [Reference("field", "value", 26), Reference("label", "x", 46)],
        id="unknown-field",
    ),
    pytest.param(
        '{{ range query "up" }}{{ .Labels.instance }}{{ .Value }}{{ end }}'
        "{{ .Labels.job }}",
        [Reference("label", "job", 76)],
        id="range-changes-dot",
    ),
    pytest.param(
        "{{ if .Value }}{{ .X }}{{ else with .Labels }}{{ .job }}{{ end }}{{ .Y }}",
        [
            Reference("field", "X", 19),
            Reference("field", "Y", 69),
        ],
        id="else-with-changes-dot",
    ),
    pytest.param("{{ $x := .Labels }}{{ $x.job }}", [], id="variable"),
]


@pytest.mark.parametrize(("text", "expected"), REFERENCES)
def test_template_references(text: str, expected: list[Reference]) -> None:
    found = template_references(text)
    assert found == expected
    for reference in found:
        assert text[reference.offset :].startswith(reference.name)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("{{ " + "(" * 100_001 + "1" + ")" * 100_001 + " }}", id="parens"),
        pytest.param("{{ if 1 }}" * 50_000 + "x" + "{{ end }}" * 50_000, id="ifs"),
        pytest.param(
            "{{ if 1 }}" + "{{ else if 1 }}" * 20_000 + "x{{ end }}", id="else-ifs"
        ),
    ],
)
def test_deep_template_is_valid(text: str) -> None:
    """promtool 2.42 accepts these templates, so the checker accepts them too."""
    assert find_template_error(text) is None


def test_error_after_deep_nesting() -> None:
    text = "{{ if 1 }}" * 20_000 + "x" + "{{ end }}" * 19_999
    found = find_template_error(text)
    assert found == TemplateError("unexpected EOF", text.rindex("}}"))


@pytest.mark.parametrize(
    ("summary", "depth"),
    [
        ("{{ " + "(" * 1000 + "humanize $value" + ")" * 1000 + " }} jobs", 1000),
        ("{{ if 1 }}" * 20_000 + "{{ $value }}" + "{{ end }}" * 20_000, 20_000),
    ],
    ids=["parens", "ifs"],
)
def test_deep_annotation_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, summary: str, depth: int
) -> None:
    """A template deeper than the generator expands leaves its rule untested."""
    from obscompile.pipeline import Project, build
    from tests.conftest import write_manifest

    monkeypatch.chdir(tmp_path)
    write_manifest(
        tmp_path,
        "b.yaml",
        "service: b\nscrape: {job: b, port: 80}\nmetrics:\n  jobs_total: counter\n"
        "rows:\n  - title: R\n    panels:\n      - title: P\n"
        "        query: 'sum(rate(jobs_total{job=\"b\"}[5m]))'\n"
        "        thresholds: '<5 Green, >=5 Red'\n"
        f"        alert: {{summary: '{summary}'}}\n",
    )
    result = build(Project.at(tmp_path))
    assert result.ok, [str(d) for d in result.diagnostics]
    untested = [d.message for d in result.diagnostics if d.check == "rules/untested"]
    assert len(untested) == 1
    assert f"the template nests {depth} levels deep" in untested[0]
    assert "expands templates at most 100 levels deep" in untested[0]
