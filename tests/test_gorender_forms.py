"""Named templates and variables in alert texts expand as promtool 2.42 expands them.

Each test expands templates with `gorender` and with the real promtool, and compares
the texts, or Go's error message where Prometheus fails to expand a template.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from obscompile.derive import gorender
from obscompile.derive.evaluate import Evaluator, Storage, make_labels
from obscompile.derive.simulate import Run
from obscompile.derive.template_queries import template_query
from obscompile.gotemplate import template_error
from tests.test_prometheus import run_promtool
from tests.test_prometheus_evaluator import (
    _failed_texts,
    _random_template,
    _test_alert_rules,
)

LABELS = {"instance": "host:9090", "job": "job-1"}


def _promtool_texts(
    tmp_path: Path,
    templates: list[str],
    value: float,
    labels: dict[str, str],
    others: list[dict] | None = None,
    minutes: int = 0,
) -> list[str]:
    """Return the text that promtool gives each template for one alert sample.

    The alert fires for the series `probe` with `labels` and `value`. `others` are
    more input series, and `minutes` is the evaluation time.
    """
    rules = [
        {"alert": f"T{index}", "expr": "probe", "annotations": {"text": template}}
        for index, template in enumerate(templates)
    ]
    series = "probe{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    probe = {"series": series, "values": f"{value!r}x{max(minutes, 1)}"}
    # No alert expects an annotation, so promtool's report lists every text it got.
    test = {
        "interval": "1m",
        "input_series": [probe, *(others or [])],
        "alert_rule_test": [
            {
                "eval_time": f"{minutes}m",
                "alertname": f"T{index}",
                "exp_alerts": [{"exp_labels": labels, "exp_annotations": {}}],
            }
            for index in range(len(templates))
        ],
    }
    result = _test_alert_rules(tmp_path, {"name": "texts", "rules": rules}, [test])
    report = result.stdout + result.stderr
    texts = _failed_texts(report)
    assert len(texts) == len(templates), report
    return [texts[f"T{index}"] for index in range(len(templates))]


def _expansions(
    templates: list[str],
    value: float,
    labels: dict[str, str] = LABELS,
    query: gorender.QueryFunction | None = None,
) -> dict[str, str | gorender.ExpansionError]:
    """Return what `render` gives each template it evaluates: a text or Go's error."""
    found: dict[str, str | gorender.ExpansionError] = {}
    sample_labels = {"__name__": "probe", **labels}
    for template in templates:
        try:
            found[template] = gorender.render(template, sample_labels, value, query)
        except gorender.ExpansionError as exc:
            found[template] = exc
        except gorender.UnsupportedTemplate:
            continue
    return found


def _assert_promtool_agrees(
    tmp_path: Path,
    expansions: dict[str, str | gorender.ExpansionError],
    value: float,
    labels: dict[str, str] = LABELS,
    others: list[dict] | None = None,
    minutes: int = 0,
) -> None:
    texts = _promtool_texts(tmp_path, list(expansions), value, labels, others, minutes)
    for (template, expected), text in zip(expansions.items(), texts, strict=True):
        if isinstance(expected, str):
            assert text == expected, template
        else:
            assert text.startswith("<error expanding template: "), (template, text)
            assert text.endswith(f": {expected}>"), (template, text)


def _random_expansions(
    make: Callable[[], str],
    value: float,
    count: int,
    accept: Callable[[str], bool] = lambda template: True,
    max_errors: Callable[[str], int] = lambda message: 10,
) -> tuple[dict[str, str | gorender.ExpansionError], Counter[str]]:
    """Draw valid templates from `make` until `render` expands `count` of them.

    Return what `render` gives each template that it evaluates and `accept` accepts,
    and the number of its errors by message, with at most `max_errors(message)` of
    each message.
    """
    expansions: dict[str, str | gorender.ExpansionError] = {}
    failed: Counter[str] = Counter()
    expanded = 0
    for _ in range(20_000):
        if expanded == count:
            break
        template = make()
        if not accept(template) or template_error(template) is not None:
            continue
        found = _expansions([template], value).get(template)
        if found is None:
            continue
        if isinstance(found, str):
            expanded += 1
        elif failed[str(found)] < max_errors(str(found)):
            failed[str(found)] += 1
        else:
            continue
        expansions[template] = found
    assert expanded == count
    return expansions, failed


def _assert_cases_agree(
    tmp_path: Path, expanded: list[str], failing: list[str], value: float
) -> None:
    """Check that `render` expands `expanded`, fails on `failing`, as promtool does."""
    expansions = _expansions(expanded + failing, value)
    assert sorted(expansions) == sorted(expanded + failing)
    for template in expanded:
        assert isinstance(expansions[template], str), template
    for template in failing:
        assert isinstance(expansions[template], gorender.ExpansionError), template
    _assert_promtool_agrees(tmp_path, expansions, value)


# Named templates --------------------------------------------------------------------

NAMED = [
    '{{ define "a" }}A{{ . }}{{ end }}{{ template "a" 3 }} {{ template "a" $value }}',
    '{{ template "a" $labels.job }}{{ define "a" }}<{{ . }}>{{ end }}',
    '{{ block "b" . }}B{{ .Value }} {{ .Labels.job }}{{ end }}',
    '{{ block "b" $labels }}{{ .job }}{{ end }}|{{ template "b" .Labels }}',
    '{{ define "a" }}[{{ . }}|{{ .Labels.job }}|{{ $ }}]{{ end }}{{ template "a" }}',
    '{{ define "a" }}{{ if . }}y{{ else }}n{{ end }}{{ with . }}w{{ else }}nw{{ end }}'
    "{{ range . }}r{{ else }}nr{{ end }}{{ and . 1 }}{{ or . 1 }}{{ not . }}{{ end }}"
    '{{ template "a" }}',
    # A template of nothing but space gives way to one with text, in either order.
    '{{ define "a" }}  {{ end }}{{ define "a" }}x{{ end }}[{{ template "a" }}]',
    '{{ define "a" }}x{{ end }}{{ define "a" }} {{ end }}[{{ template "a" }}]',
    '{{ define "a" }} {{ end }}{{ define "a" }}\n{{ end }}[{{ template "a" }}]',
    '{{ define "a" }}{{/* c */}}{{ end }}{{ define "a" }} {{ end }}[{{ template "a" }}]',
    '{{ define "a" }}\x1c{{ end }}[{{ template "a" }}]',
    '{{ block "a" 1 }} {{ end }}{{ define "a" }}{{ . }}!{{ end }}',
    # Variables that the pipeline declares stay in the caller.
    '{{ template "a" $x := 5 }}{{ $x }}{{ define "a" }}<{{ . }}>{{ end }}',
    '{{ block "a" $x := .Value }}<{{ . }}>{{ end }}{{ $x }}',
    '{{ define "r" }}{{ if . }}{{ . }}{{ template "r" (reReplaceAll "^." "" .) }}'
    '{{ end }}{{ end }}{{ template "r" "abcd" }}',
    '{{ range $k, $v := $labels }}{{ template "kv" $v }}{{ end }}'
    '{{ define "kv" }}({{ . }}){{ end }}',
    '{{ define "o" }}O{{ block "i" . }}I{{ . }}{{ end }}{{ end }}{{ template "o" 1 }}'
    '{{ template "i" 2 }}',
    '{{ define "a" }}a{{ end }}{{ if true }}{{ template "a" }}{{ end }}',
    '{{ define "a" }}{{ template "b" . }}{{ end }}{{ define "b" }}<{{ . }}>{{ end }}'
    '{{ template "a" $labels.instance }}',
]
# Named templates that Prometheus fails to expand.
NAMED_FAILING = [
    '{{ template "missing" }}',
    '{{ define "a" }}x{{ end }}{{ template "A" }}',
    '{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" }}',
    '{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" 1 }}',
    '{{ define "r" }}x{{ if . }}{{ template "r" . }}{{ end }}{{ end }}'
    '{{ template "r" $labels }}',
    '{{ define "a" }}{{ template "b" . }}{{ end }}{{ define "b" }}{{ template "a" . }}'
    '{{ end }}{{ template "a" $labels }}',
    '{{ define "a" }}{{ template "a" (print "x") }}{{ end }}{{ template "a" "y" }}',
]


@pytest.mark.parametrize("value", [1.5, 0.0])
def test_named_templates_match_promtool(value: float, tmp_path: Path) -> None:
    _assert_cases_agree(tmp_path, NAMED, NAMED_FAILING, value)


def test_two_named_templates_with_text_rejected(tmp_path: Path) -> None:
    """Go's parser rejects two templates of one name where both contain text.

    A text whose only characters are U+001C counts as text for Go, but as space for
    Python's `str.strip`.
    """
    message = 'template: multiple definition of template "a"'
    for text, rejected in (("\x1c", True), (" \n", False)):
        template = (
            f'{{{{ define "a" }}}}{text}{{{{ end }}}}{{{{ define "a" }}}}x{{{{ end }}}}'
        )
        assert template_error(template) == (message if rejected else None)
        rule = {"alert": "Value", "expr": "probe", "annotations": {"text": template}}
        path = tmp_path / "rules.yml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [rule]}]}))
        result = run_promtool("check", "rules", str(path))
        report = result.stdout + result.stderr
        assert (message in report) == rejected, report
        assert (result.returncode != 0) == rejected, report


# The operands of the random templates: those of a defined template read only `.`
# and `$`, and the alert's own text reads Prometheus' variables too.
NAMED_OPERANDS = [
    ".", ".", "$", ".Labels", ".Value", ".job", '"x"', "1", "0", "(len .)",
    '(print . "x")', "(not .)", '(reReplaceAll "^." "" .)', '(reReplaceAll "^." "" .)',
]  # fmt: skip
TOP_OPERANDS = [
    "$labels", "$value", "$labels.job", "$labels.none", ".Labels", ".Value",
    ".Labels.instance", '"abc"', "1", "0", ".",
]  # fmt: skip
# Templates that define actions name, and those that block actions name.
DEFINED = ["a", "b", "c"]
BLOCKS = ["k", "m"]


class _NamedTemplates:
    """Write random templates that define, block and call named templates.

    Each name gets at most one template with text, so that Go's parser accepts the
    result, and may get empty ones too.
    """

    def __init__(self, generator: random.Random) -> None:
        self.generator = generator
        self.defined = [name for name in DEFINED if generator.random() < 0.8]
        self.blocks: list[str] = []

    def call(self, operands: list[str]) -> str:
        names = [*self.defined, *self.blocks]
        if not names or self.generator.random() < 0.02:
            names = ["missing"]
        name = self.generator.choice(names)
        if self.generator.random() < 0.2:
            return f'{{{{ template "{name}" }}}}'
        return f'{{{{ template "{name}" {self.generator.choice(operands)} }}}}'

    def block(self, operand: str, depth: int) -> str | None:
        unused = [name for name in BLOCKS if name not in self.blocks]
        if not unused:
            return None
        name = self.generator.choice(unused)
        self.blocks.append(name)
        body = self.body(NAMED_OPERANDS, depth + 1)
        return f'{{{{ block "{name}" {operand} }}}}{body}{{{{ end }}}}'

    def body(self, operands: list[str], depth: int) -> str:
        """Return random text with actions, calls, blocks and control actions."""
        generator = self.generator
        parts = []
        for _ in range(generator.randint(1, 3)):
            choice = generator.random()
            operand = generator.choice(operands)
            if choice < 0.15:
                parts.append(generator.choice(["x", " ", "\n", "-"]))
            elif choice < 0.35 or depth > 1:
                parts.append(f"{{{{ {operand} }}}}")
            elif choice < 0.6:
                parts.append(self.call(operands))
            elif choice < 0.7:
                parts.append(self.block(operand, depth) or self.call(operands))
            else:
                keyword = generator.choice(["if", "with", "range"])
                body = self.body(operands, depth + 1)
                if generator.random() < 0.4:
                    body += "{{ else }}" + self.body(operands, depth + 1)
                parts.append(f"{{{{ {keyword} {operand} }}}}{body}{{{{ end }}}}")
        return "".join(parts)

    def template(self) -> str:
        """Return definitions of templates, and a text that calls them, in any order."""
        generator = self.generator
        definitions = []
        for name in self.defined:
            definitions.append(
                f'{{{{ define "{name}" }}}}{self.body(NAMED_OPERANDS, 0)}{{{{ end }}}}'
            )
            if generator.random() < 0.2:
                space = generator.choice([" ", "\n", ""])
                definitions.append(f'{{{{ define "{name}" }}}}{space}{{{{ end }}}}')
        generator.shuffle(definitions)
        text = self.body(TOP_OPERANDS, 0) + self.call(TOP_OPERANDS)
        position = generator.randint(0, len(definitions))
        return "".join(definitions[:position]) + text + "".join(definitions[position:])


@pytest.mark.parametrize(("seed", "value"), [(1, 1.5), (2, 0.0), (3, -2.0)])
def test_random_named_templates_match_promtool(
    seed: int, value: float, tmp_path: Path
) -> None:
    """Every random named template that `render` evaluates gives promtool's text."""
    generator = random.Random(seed)
    expansions, failed = _random_expansions(
        lambda: _NamedTemplates(generator).template(),
        value,
        150,
        # Each call that repeats forever costs promtool about a second, for its
        # 100000 calls.
        max_errors=lambda message: 3 if "maximum template depth" in message else 10,
    )
    calls = [t for t, text in expansions.items() if isinstance(text, str)]
    assert sum('{{ block "' in t for t in calls) >= 50
    assert sum("{{ template" in t and '{{ define "' in t for t in calls) >= 100
    assert sum(failed.values()) >= 20
    _assert_promtool_agrees(tmp_path, expansions, value)


# Variables that range and = set ------------------------------------------------------

ASSIGNING = [
    "{{ $x := 1 }}{{ range $x = $labels }}{{ $x }};{{ end }}{{ $x }}",
    # `=` gives the map to $x, and each element to $y, which is declared last.
    "{{ $x := 1 }}{{ $y := 2 }}{{ range $x = $labels }}[{{ $x }}|{{ $y }}]{{ end }}"
    "{{ $x }}|{{ $y }}",
    "{{ $i := 0 }}{{ $x := 0 }}{{ range $i, $x = $labels }}[{{ $i }}={{ $x }}]"
    "{{ end }}{{ $i }}|{{ $x }}",
    "{{ $x := 0 }}{{ $i := 0 }}{{ range $i, $x = $labels }}[{{ $i }}={{ $x }}]"
    "{{ end }}{{ $i }}|{{ $x }}",
    "{{ $x := 1 }}{{ range $x = $externalLabels }}a{{ else }}{{ $x }}{{ end }}{{ $x }}",
    '{{ $x := 1 }}{{ range $x = $labels }}{{ if eq $x "job-1" }}{{ break }}{{ end }}'
    "{{ $x }};{{ end }}{{ $x }}",
    "{{ $x := 1 }}{{ range $x = $labels }}{{ $z := 3 }}{{ $x }}{{ $z }};{{ end }}"
    "{{ $x }}",
    "{{ range $k, $v := $labels }}{{ range $v = $labels }}{{ $v }}{{ end }}"
    "{{ $k }}{{ $v }};{{ end }}",
    '{{ define "a" }}{{ range $k, $v := . }}{{ $ = $v }}{{ end }}{{ $ }}{{ end }}'
    '{{ template "a" $labels }}',
    "{{ $x := 1 }}{{ with $x = 5 }}{{ $x }}{{ end }}{{ $x }}",
    "{{ $x := 0 }}{{ range $k, $v := $labels }}{{ $x = $k }}{{ end }}{{ $x }}",
]
# Assignments to variables that no `:=` has declared when they run.
ASSIGNING_FAILING = [
    "{{ range $i, $x = $labels }}{{ $i }}{{ end }}",
    "{{ $x := 1 }}{{ range $i, $x = $labels }}{{ end }}",
    "{{ $y = 1 }}",
    "{{ if false }}{{ $y := 1 }}{{ else }}{{ $y }}{{ end }}",
    "{{ if true }}{{ $y := 1 }}{{ end }}{{ $y = 2 }}{{ $y }}",
    "{{ $x := 1 }}{{ range $x = $value }}a{{ end }}",
    '{{ define "a" }}{{ range $x = . }}{{ end }}{{ end }}{{ template "a" $labels }}',
]


@pytest.mark.parametrize("value", [1.5, 0.0])
def test_range_assignments_match_promtool(value: float, tmp_path: Path) -> None:
    _assert_cases_agree(tmp_path, ASSIGNING, ASSIGNING_FAILING, value)


@pytest.mark.parametrize(("seed", "value"), [(4, 1.5), (5, 0.0)])
def test_random_assignments_match_promtool(
    seed: int, value: float, tmp_path: Path
) -> None:
    """Random templates that range and assign with `=` give promtool's text or error."""
    generator = random.Random(seed)
    expansions, failed = _random_expansions(
        lambda: _random_template(generator),
        value,
        200,
        accept=lambda template: "=" in template.replace(":=", ""),
    )
    expanded = [t for t, text in expansions.items() if isinstance(text, str)]
    assert sum(" = $" in t and "{{ range" in t for t in expanded) >= 50
    assert failed["undefined variable: $v"] >= 5
    _assert_promtool_agrees(tmp_path, expansions, value)


# Argument counts --------------------------------------------------------------------

# Calls with a wrong number of arguments, which Go rejects before it evaluates any
# argument, even one that would fail.
ARGUMENT_COUNTS = [
    "{{ humanize 1 2 }}",
    "{{ 1 | humanize 2 }}",
    "{{ humanize (len 1) 2 }}",
    "{{ printf }}",
    "{{ toUpper }}",
    '{{ match "a" }}',
    '{{ reReplaceAll "a" "b" }}',
    "{{ index }}",
    "{{ len }}",
    "{{ eq }}",
    "{{ lt (len 1) }}",
    "{{ not }}",
    "{{ stripPort 1 2 }}",
    "{{ humanizeTimestamp }}",
    "{{ and }}",
]


def test_argument_counts_match_promtool(tmp_path: Path) -> None:
    _assert_cases_agree(
        tmp_path,
        ['{{ print }}|{{ urlquery }}|{{ "x" | printf }}|{{ 1 | printf "%d" }}'],
        ARGUMENT_COUNTS,
        1.5,
    )


@pytest.mark.parametrize(("seed", "value"), [(10, 1.5), (11, 0.0)])
def test_random_errors_match_promtool(seed: int, value: float, tmp_path: Path) -> None:
    """Random templates give promtool's text, or its error where Prometheus fails."""
    generator = random.Random(seed)
    expansions: dict[str, str | gorender.ExpansionError] = {}
    failed: Counter[str] = Counter()
    for _ in range(20_000):
        if len(expansions) == 200:
            break
        template = _random_template(generator)
        found = _expansions([template], value).get(template)
        if template_error(template) or not isinstance(found, gorender.ExpansionError):
            continue
        if failed[str(found)] < 10:
            failed[str(found)] += 1
            expansions[template] = found
    assert len(expansions) == 200
    counts = [message for message in failed if "wrong number of args" in message]
    assert sum(failed[message] for message in counts) >= 50


# Times ------------------------------------------------------------------------------

TIMES = [
    "{{ toTime $value }}|{{ $value | toTime }}|{{ toTime 0 }}|{{ toTime -1.5 }}|"
    '{{ toTime "1e9" }}|{{ toTime 1.0005 }}|{{ toTime 9.2e9 }}|{{ toTime -9.2e9 }}',
    '{{ (toTime $value).Format "2006-01-02T15:04:05.000Z07:00 Mon Jan _2 MST" }}',
    "{{ (toTime $value).Unix }}|{{ (toTime $value).UnixMilli }}|"
    "{{ (toTime $value).UnixMicro }}|{{ (toTime $value).UnixNano }}",
    "{{ with toTime $value }}{{ .Year }}-{{ .Month }}-{{ .Day }} {{ .Hour }}:"
    "{{ .Minute }}:{{ .Second }}.{{ .Nanosecond }} {{ .YearDay }} {{ .Weekday }} "
    "{{ .UTC }} {{ .IsZero }} {{ .String }}{{ end }}",
    '{{ printf "%v|%s|%q|%x|%.4s|%-32v|%T|%T|%v" (toTime 0) (toTime 0) (toTime 0) '
    "(toTime 1) (toTime 0) (toTime 0) (toTime 0) (toTime 0).UTC (toTime 0).UTC }}",
    '{{ printf "%d|%v|%s|%T|%c|%x|%q|%t|%#v|%+v|%08v|%5.3v" (toTime 0).Month '
    "(toTime 0).Month (toTime 0).Weekday (toTime 0).Month (toTime 0).Month "
    "(toTime 0).Month (toTime 0).Month (toTime 0).Month (toTime 0).Month "
    "(toTime 0).Month (toTime 0).Month (toTime 0).Month }}",
    '{{ printf "%d|%T|%v|%*d" (toTime 1).Unix (toTime 1).Unix (toTime 1).Unix '
    '(toTime 4).Unix 7 }} {{ printf "%v" 1 (toTime 2) }}',
    "{{ humanize (toTime 1e9).Unix }} {{ humanizeDuration (toTime 90061).Unix }}",
    "{{ eq (toTime 0).Unix 0 }}|{{ eq (toTime 0).Month 1 }}|"
    "{{ lt (toTime 0).Year 2000 }}|{{ ne (toTime 0).Weekday 4 }}",
    '{{ "Jan 2006" | (toTime $value).Format }}|{{ $t := toTime $value }}'
    '{{ $t.Format "3:04PM pm 03 _2 __2 002 06 January Monday" }}',
    '{{ print (toTime 0) 1 (toTime 0).Month "x" }}|{{ urlquery (toTime 0) }}',
    "{{ if toTime 0 }}t{{ end }}{{ with (toTime 0).UTC }}{{ .Unix }}{{ end }}",
    '{{ (toTime 1234567890.5678).Format ".000000000000 ,999 .9 ,00 .999999999999 '
    'Z07 -07 Z0700 -0700 -07:00:00 Z070000 Z07:00:00 -070000 -07:00" }}',
    '{{ (toTime 951825600).Format "Janx Monx _2006 .000123 0x 1504 Mon, 02 Jan" }}',
]
TIMES_FAILING = [
    '{{ toTime "NaN" }}',
    "{{ toTime 1e20 }}",
    "{{ humanizeTimestamp (toTime 0) }}",
    "{{ humanize (toTime 0).Month }}",
    "{{ (toTime 0).Format }}",
    "{{ (toTime 0).Unix 1 }}",
    "{{ len (toTime 0).Month }}",
    "{{ range toTime 0 }}x{{ end }}",
    "{{ (toTime 0).Unix (len 1) }}",
    '{{ (toTime 0).Format "a" "b" }}',
    '{{ "a" | (toTime 0).Format "b" }}',
]


@pytest.mark.parametrize("value", [1234567890.5678, -86399.999])
def test_times_match_promtool(value: float, tmp_path: Path) -> None:
    _assert_cases_agree(tmp_path, TIMES, TIMES_FAILING, value)


# Pieces of the random layouts: each element of Go's layouts, and text around them
# that Go must not read as an element.
LAYOUT_PIECES = [
    "2006", "06", "01", "1", "Jan", "January", "Mon", "Monday", "02", "2", "_2", "__2",
    "002", "15", "3", "03", "4", "04", "5", "05", "PM", "pm", "MST", "Z07:00",
    "Z0700", "Z07", "Z070000", "Z07:00:00", "-07:00", "-0700", "-07", "-070000",
    "-07:00:00", ".000", ".999", ",000", ",9", ".0", ".9999999999", "Janx", "Monx",
    "_2006", "0", "7", "8", "9", ":", "-", " ", "T", "Z", "J", "M", "_", ".", ",",
    "x", "é", "P", "p", "0x", "a",
]  # fmt: skip
# Times around the ends of the range of toTime, leap days, and ordinary ones.
TIMESTAMPS = [
    0.0, -0.001, 951782400.5, 951868799.999, 1078012800.25, 4107542400.0,
    -2208988800.0, 9.2e9, -9.2e9, 43200.0, 86399.123456,
]  # fmt: skip


@pytest.mark.parametrize("seed", [6, 7])
def test_random_layouts_match_promtool(seed: int, tmp_path: Path) -> None:
    """Times formatted with random layouts give promtool's text."""
    generator = random.Random(seed)
    templates = []
    for _ in range(300):
        count = generator.randint(1, 8)
        layout = "".join(generator.choice(LAYOUT_PIECES) for _ in range(count))
        if generator.random() < 0.5:
            timestamp = generator.choice(TIMESTAMPS)
        else:
            timestamp = round(generator.uniform(-9.2e9, 9.2e9), 3)
        templates.append(f'{{{{ (toTime {timestamp!r}).Format "{layout}" }}}}')
    expansions = _expansions(templates, 1.0)
    assert sorted(expansions) == sorted(set(templates))
    _assert_promtool_agrees(tmp_path, expansions, 1.0)


@pytest.mark.parametrize(("seed", "value"), [(8, 1.5), (9, 1234567890.5)])
def test_random_times_match_promtool(seed: int, value: float, tmp_path: Path) -> None:
    """Random templates that call toTime give promtool's text or error."""
    generator = random.Random(seed)
    expansions, failed = _random_expansions(
        lambda: _random_template(generator),
        value,
        150,
        accept=lambda template: "toTime" in template,
    )
    texts = [text for text in expansions.values() if isinstance(text, str)]
    # A time prints in UTC, and the random operands format days of January.
    assert sum("+0000 UTC" in text or "Jan" in text for text in texts) >= 25
    assert sum(failed.values()) >= 10
    _assert_promtool_agrees(tmp_path, expansions, value)


# Queries ----------------------------------------------------------------------------

# Input series of the query tests, besides the alert's `probe`, with a value a minute.
QUERY_SERIES = {
    'x{g="1",k="a"}': [float(minute) for minute in range(11)],
    'x{g="1",k="b"}': [2.0 * minute for minute in range(11)],
    'x{g="2",k="c"}': [0.1 * minute for minute in range(11)],
    'y{k="a"}': [7.0] * 11,
    'z{k="a"}': [-0.0] * 11,
    'job:x:rate5m{k="a"}': [1.0] * 11,
    # promtool adds these to 0.6 or to 0.6000000000000001, by its order of them.
    'w{k="a"}': [0.1] * 11,
    'w{k="b"}': [0.2] * 11,
    'w{k="c"}': [0.3] * 11,
}


def _query_run() -> Run:
    """Return the storage of the query tests' input series, as the generator keeps it."""
    storage = Storage()
    for text, values in QUERY_SERIES.items():
        name, body = text.split("{")
        labels = dict(re.findall(r'(\w+)="([^"]*)"', body), __name__=name)
        for minute, value in enumerate(values):
            storage.add(make_labels(labels), minute * 60_000, value)
    for minute in range(11):
        storage.add(make_labels({"__name__": "probe", **LABELS}), minute * 60_000, 1.5)
    # Eleven samples a minute apart, all loaded, evaluated each minute.
    return Run(storage, {}, Evaluator(storage), 60_000, 600_000, 10)


def _query_series() -> list[dict]:
    return [
        {"series": text, "values": " ".join(repr(value) for value in values)}
        for text, values in QUERY_SERIES.items()
    ]


QUERIES = [
    '{{ with query "y" }}{{ . | first | value }}{{ end }}',
    '{{ (query "y" | first).Labels }}|{{ query "y" | first | label "k" }}|'
    '{{ label "none" (query "y" | first) }}|{{ range query "y" }}{{ . }}{{ end }}',
    '{{ query "x" | len }}|{{ query "nothing" | len }}|{{ if query "x" }}t{{ end }}'
    '{{ with query "nothing" }}x{{ else }}none{{ end }}',
    '{{ range sortByLabel "k" (query "x") }}{{ .Labels.k }}={{ .Value }};{{ end }}',
    '{{ range $i, $s := sortByLabel "k" (query "rate(x[5m])") }}{{ $i }}:'
    "{{ $s.Value | humanize }};{{ end }}",
    # sortByLabel sorts the result in place, so a variable set to it before is sorted.
    '{{ $r := query "x" }}{{ $s := sortByLabel "k" $r }}{{ ($r | first).Labels.k }}',
    '{{ query "sum(x)" | first | value }}|{{ query "count(x)" | first | value }}|'
    '{{ query "max by (g) (x)" | sortByLabel "g" | first | value }}',
    '{{ query "1 + 1" | first | value }}|{{ (query "1 + 1" | first).Labels }}|'
    '{{ query "time()" | first | value }}',
    '{{ query "z" | first | value }}|{{ query "sum(z) * 3" | first | value }}',
    '{{ with query `x{k="b"} / ignoring (g, k) y` }}{{ . | first | value }}{{ end }}',
    '{{ query "x >= 0" | sortByLabel "k" | first | label "k" }}',
    "{{ with query \"label_replace(y, 'k', 'new', '', '')\" }}"
    "{{ (first .).Labels.k }}{{ end }}",
]
QUERIES_FAILING = [
    '{{ first (query "nothing") }}',
    '{{ query "y" | first | value | len }}',
    '{{ value (query "nothing" | first) }}',
]


@pytest.mark.parametrize("minutes", [0, 7])
def test_queries_match_promtool(minutes: int, tmp_path: Path) -> None:
    query = template_query(_query_run(), minutes * 60_000)
    templates = QUERIES + QUERIES_FAILING
    expansions = _expansions(templates, 1.5, query=query)
    assert sorted(expansions) == sorted(templates)
    for template in QUERIES:
        assert isinstance(expansions[template], str), template
    for template in QUERIES_FAILING:
        assert isinstance(expansions[template], gorender.ExpansionError), template
    others = _query_series()
    _assert_promtool_agrees(tmp_path, expansions, 1.5, LABELS, others, minutes)


# Queries whose result promtool gives in no fixed order, or that may read other
# series than the test's input, and the reason that the generator gives.
UNCERTAIN_QUERIES = [
    ('{{ query "x" | first }}', "whose order promtool does not fix"),
    ('{{ range query "x" }}{{ end }}', "whose order promtool does not fix"),
    ('{{ range sortByLabel "g" (query "x") }}{{ end }}', "does not fix"),
    ('{{ query "sum(w)" | len }}', "depends on the order of the series"),
    ('{{ query "job:x:rate5m" | len }}', "recording rule"),
    ('{{ query "ALERTS" | len }}', "alerting rules write"),
    ('{{ query `{k="a"}` | len }}', "without naming their metric"),
    ('{{ query "x offset -1m" | len }}', "later than its evaluation"),
    ('{{ query "x @ 60" | len }}', "later than its evaluation"),
    ('{{ query "$x" | len }}', "Grafana variables"),
    ('{{ query "0x10" | len }}', "not a plain decimal"),
    ('{{ query "x[5m]" | len }}', "not evaluated"),
    ('{{ query "topk(1, x)" | len }}', "depends on the order of the series"),
    ('{{ query "group(x)" | len }}', "group() is not evaluated"),
    ('{{ query "sort_by_label(x, \\"k\\")" | len }}', "later version"),
    ('{{ query "bad(" | len }}', "does not parse"),
    ('{{ query "x" }}', "addresses of its samples"),
    ('{{ query "y" | first | printf "%v" }}', "printf of a query sample"),
    ('{{ query "y" }}', "query is evaluated only for a generated test"),
]


@pytest.mark.parametrize(("template", "message"), UNCERTAIN_QUERIES)
def test_uncertain_query_is_reported(template: str, message: str) -> None:
    query = None if message.startswith("query is") else template_query(_query_run(), 0)
    with pytest.raises(gorender.UnsupportedTemplate, match=re.escape(message)) as exc:
        gorender.render(template, {"job": "j"}, 1.0, query)
    assert not isinstance(exc.value, gorender.ExpansionError)


# The parts of the random query templates.
RANDOM_QUERIES = [
    "y", "x", "nothing", 'x{k="a"}', "sum(x)", "sum by (g) (x)", "rate(x[5m])",
    "max(x)", "min by (g) (x)", "count(x)", "1 + 1", "time()", "x * 2", "x > 3",
    "avg(x)", "sum(rate(x[5m]))", "z", "-z", "w", "sum(w)", "max(w)",
    "x / ignoring (g, k) y", "x{g='2'} / ignoring (g, k) y",
]  # fmt: skip
# In these, @P stands for a pipeline, @Q for a query and @L for a label name.
RANDOM_QUERY_PIPELINES = [
    "query `@Q` | first | value",
    "query `@Q` | len",
    "(query `@Q` | first).Labels.k",
    'query `@Q` | first | label "g"',
    'sortByLabel "k" (query `@Q`) | first | value',
    'sortByLabel "g" (query `@Q`) | first | value',
    "value (query `@Q` | first) | humanize",
]
RANDOM_QUERY_ACTIONS = [
    "{{ @P }}",
    "{{ with query `@Q` }}{{ . | first | value }}{{ else }}none{{ end }}",
    '{{ range sortByLabel "@L" (query `@Q`) }}{{ .Labels.k }}={{ .Value }};'
    "{{ else }}empty{{ end }}",
    "{{ range $i, $s := query `@Q` }}{{ $i }}{{ $s.Labels }};{{ end }}",
    '{{ $r := query `@Q` }}{{ $t := sortByLabel "@L" $r }}{{ range $r }}{{ . }}{{ end }}',
]


def _random_query_template(generator: random.Random) -> str:
    parts = []
    for _ in range(generator.randint(1, 3)):
        action = generator.choice(RANDOM_QUERY_ACTIONS)
        action = action.replace("@P", generator.choice(RANDOM_QUERY_PIPELINES))
        action = action.replace("@L", generator.choice(["k", "g"]))
        parts.append(action.replace("@Q", generator.choice(RANDOM_QUERIES)))
    return "|".join(parts)


@pytest.mark.parametrize(("seed", "minutes"), [(12, 3), (13, 8)])
def test_random_queries_match_promtool(seed: int, minutes: int, tmp_path: Path) -> None:
    """Random templates that query the test's series give promtool's text or error.

    promtool loads the series in a new order in each run, so a template whose text
    depends on that order would fail some runs.
    """
    generator = random.Random(seed)
    query = template_query(_query_run(), minutes * 60_000)
    templates = {_random_query_template(generator) for _ in range(3000)}
    expansions = _expansions(sorted(templates), 1.5, query=query)
    texts = [text for text in expansions.values() if isinstance(text, str)]
    assert len(texts) >= 300
    assert sum("=" in text and ";" in text for text in texts) >= 30
    assert (
        sum(isinstance(text, gorender.ExpansionError) for text in expansions.values())
        >= 5
    )
    others = _query_series()
    _assert_promtool_agrees(tmp_path, expansions, 1.5, LABELS, others, minutes)
