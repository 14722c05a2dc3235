"""The Python evaluator and template renderer give promtool's exact results.

Generated tests assert values and annotations that obscompile computes, and promtool
compares both exactly, so these tests compare the two on random input.
"""

from __future__ import annotations

import ast
import math
import random
import re
import subprocess
from pathlib import Path

import promql_parser as pp
import pytest
import yaml

from obscompile.derive import gorender
from obscompile.derive.evaluate import (
    Evaluator,
    OrderDependent,
    Storage,
    UnsupportedExpression,
    make_labels,
)
from obscompile.derive.testfile import labels_text
from obscompile.gotemplate import template_error
from tests.test_prometheus import run_promtool

EXPRESSIONS = [
    "rate(c[5m])",
    "increase(c[5m])",
    "irate(c[5m])",
    "rate(c[1h])",
    "sum(rate(c[5m]))",
    'sum(rate(c{k="a"}[5m])) / sum(rate(c[5m]))',
    'sum(rate(c{k="a"}[5m])) / sum(rate(c[5m])) * 100',
    '100 * sum(rate(c{k="a"}[5m])) / sum(rate(c[5m]))',
    'sum(rate(c{k="a"}[5m])) / (sum(rate(c[5m])) > 0) * 100 >= 5',
    "sum(rate(c[5m])) >= 1 and sum(rate(c[5m])) < 2",
    "histogram_quantile(0.95, sum by (le) (rate(b[5m])))",
    "histogram_quantile(0.5, sum by (le) (rate(b[5m])))",
    "histogram_quantile(0.99, sum by (le) (rate(b[2m])))",
    "max(rate(c[5m]))",
    "min by (k) (rate(c[5m]))",
    "count(rate(c[5m]) > 0.1)",
    # One to one, `ignoring` drops its labels from the result, and a filtering
    # comparison keeps only the labels of `on`.
    'rate(c{k="a"}[5m]) / ignoring (k) rate(c{k="b"}[5m])',
    'c{k="a"} > ignoring (k) c{k="b"}',
    'c{k="a"} >= on () c{k="b"}',
    'c{k="a"} >= bool ignoring (k) c{k="b"}',
    # Many to one: the many side's labels, without the metric name for arithmetic,
    # and the labels of group_left or group_right copied from the one side.
    'rate(c[5m]) * on () group_left (le) b{le="1"}',
    'b{le="0.5"} - on () group_right (le) rate(c[5m])',
    'sum by (k) (rate(c[5m])) / on () group_left b{le="+Inf"}',
    'c > on () group_left (le) b{le="+Inf"}',
    'b{le="+Inf"} > on () group_right (le) c',
    'c >= bool on () group_left (le) b{le="1"}',
    'c * on (k) group_left (le) label_replace(b{le="1"}, "k", "a", "", "")',
    # A guarded ratio that keeps +Inf where only the denominator is 0.
    'irate(c{k="a"}[5m]) / ignoring (k) (irate(c{k="b"}[5m]) > 0) '
    'or (irate(c{k="a"}[5m]) != 0) / ignoring (k) irate(c{k="b"}[5m])',
]
TIMES_MINUTES = [1, 2, 3, 4, 5, 6, 7, 13, 40, 61, 65, 75]
BOUNDS = ["0.1", "0.5", "1", "+Inf"]


def _series(generator: random.Random, samples: int) -> dict[tuple, list[float]]:
    # Two counters only: promtool adds the series of a sum in no fixed order, so a sum
    # of three inexact rates can differ in the last bit from one run to the next.
    series = {}
    for key in "ab":
        value, values = 0.0, []
        for _ in range(samples):
            values.append(value)
            value += generator.choice([0, 1, 3, 7, 13, 60, 300, 0.5, 0.1])
        series[(("__name__", "c"), ("k", key))] = values
    cumulative = [0.0] * len(BOUNDS)
    buckets: dict[str, list[float]] = {bound: [] for bound in BOUNDS}
    for _ in range(samples):
        running = 0.0
        for index, bound in enumerate(BOUNDS):
            running += (
                generator.choice([0, 1, 2, 5, 9, 30])
                if bound != "+Inf"
                else generator.choice([0, 1])
            )
            cumulative[index] += running
            buckets[bound].append(cumulative[index])
    for bound, values in buckets.items():
        series[(("__name__", "b"), ("le", bound))] = values
    return series


def _series_text(labels: tuple) -> str:
    mapping = dict(labels)
    name = mapping.pop("__name__")
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(mapping.items())) + "}"


def _minutes(text: str) -> int:
    found = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?", text)
    assert found, text
    return int(found.group(1) or 0) * 60 + int(found.group(2) or 0)


def _promtool_values(
    tmp_path: Path, series: dict
) -> dict[tuple[str, int], list[tuple[str, float]]]:
    """Return promtool's samples for each expression and time, read from its report."""
    checks = [
        {"expr": expr, "eval_time": f"{minutes}m", "exp_samples": []}
        for expr in EXPRESSIONS
        for minutes in TIMES_MINUTES
    ]
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": _series_text(labels),
                        "values": " ".join(repr(v) for v in values),
                    }
                    for labels, values in series.items()
                ],
                "promql_expr_test": checks,
            }
        ],
    }
    (tmp_path / "rules.yml").write_text("groups: []\n")
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test, width=10**9))
    result = run_promtool("test", "rules", str(tmp_path / "test.yml"))
    report = result.stdout + result.stderr
    found = {}
    pattern = r'expr: "(.*?)", time: (\S+),\n\s+exp: nil\n\s+got: (.*)'
    for match in re.finditer(pattern, report):
        samples = re.findall(r"\{(.*?)\} ([^,\s]+)", match.group(3))
        key = (match.group(1).replace('\\"', '"'), _minutes(match.group(2)))
        found[key] = sorted(
            (labels.replace(", ", ","), float(value)) for labels, value in samples
        )
    return found


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_evaluator_matches_promtool(seed: int, tmp_path: Path) -> None:
    series = _series(random.Random(seed), 81)
    expected = _promtool_values(tmp_path, series)
    storage = Storage()
    for labels, values in series.items():
        for index, value in enumerate(values):
            storage.add(labels, index * 60_000, value)
    evaluator = Evaluator(storage)
    compared = 0
    for expr in EXPRESSIONS:
        node = pp.parse(expr)
        for minutes in TIMES_MINUTES:
            got = sorted(
                (",".join(f'{k}="{v}"' for k, v in s.labels), s.value)
                for s in evaluator.vector(node, minutes * 60_000)
            )
            want = expected.get((expr, minutes), [])
            same = [(a, "NaN" if math.isnan(b) else b) for a, b in got] == [
                (a, "NaN" if math.isnan(b) else b) for a, b in want
            ]
            assert same, (expr, minutes, got, want)
            compared += 1
    assert compared == len(EXPRESSIONS) * len(TIMES_MINUTES)
    assert len(expected) > len(EXPRESSIONS) * len(TIMES_MINUTES) // 2


TEMPLATES = {
    "duration": "{{ $value | humanizeDuration }}",
    "percentage": "{{ $value | humanizePercentage }}",
    "human": "{{ $value | humanize }}",
    "binary": "{{ $value | humanize1024 }}",
    "fixed": '{{ printf "%.2f" $value }}%',
    "raw": "{{ $value }}",
    "labels": '{{ $labels.job }} {{ index $labels "job" }}',
    "cut": '{{ printf "%.3s" $labels.job }} {{ printf "%.9v" $labels.job }}',
    "escaped": '{{ "{{" }} literal',
    "data": "{{ .Value }} {{ .Labels.job }} {{ $.Labels.job }} {{ (.Labels).job }} "
    "{{ . }} {{ with $labels }}{{ $ }}{{ end }}",
    "missing": '[{{ $labels.none }}][{{ index $labels "none" }}]',
    "external": "[{{ $externalLabels.cluster }}][{{ $externalURL }}][{{ .ExternalURL }}]",
    "comment": "a {{/* note */}} b {{- /* trimmed */ -}} c",
    "cases": '{{ $labels.instance | toUpper }} {{ toLower "MiXeD" }}',
    "title": "{{ \"it's o'neil foo-bar foo_bar 3rd x.y élan\" | title }}",
    "url": '{{ $labels.instance | urlquery }} {{ urlquery "a b" 1.5 2 }} {{ print 1 2 "x" }}',
    "regex": '{{ reReplaceAll "([a-z]+)-(?P<n>[0-9]+)" "${n}/$1/$$" $labels.job }}',
    "match": '{{ match "^job-1" $labels.job }} {{ match "x$" $labels.instance }}',
    "port": "{{ $labels.instance | stripPort }}",
    "widths": '[{{ printf "%5.1f|%-10s|%x|%X|%08.3f|%+d|%-6v|%e" $value $labels.job '
    "$labels.job 255 $value 7 $value $value }}]",
    "hex": '{{ printf "%x %X %G %5t %.2s %05s" $value $value $value true "abc" "ab" }}',
    "mismatch": '{{ printf "%d %s %d %d" $value $value }} {{ printf "%v" 1 2 }}',
    "variables": '{{ $x := $value | humanize }}{{ $y := "a" }}{{ $y = "b" }}{{ $x }}{{ $y }}',
    "strings": '{{ "1234.5" | humanize }} {{ 3 | humanizeDuration }} {{ 1e3 }} {{ 0x1F }}',
    "verbs": '{{ printf "%b|%c|%o|%O|%q|%U|%#U|%T|%T|%T|%T|%5.2c|%+q" 5 65 8 8 97 '
    '9731 9731 $value 1 "s" true 233 233 }}',
    "sharp": '{{ printf "%#x|%#X|%#o|%#b|%#v|%#q|%#g|%#.3e|%#x|%#8.2f|%#v|%+v" 255 255 '
    "8 5 $labels.instance $labels.instance $value $value $value $value $value "
    "$value }}",
    "quote": '{{ printf "%q|%+q|%x|% x|%# X|%-12q|%#q" $labels.instance '
    '$labels.instance $labels.instance $labels.instance "ab" "é" "a`b" }}',
    "floats": '{{ printf "%b|%x|%.3x|%X|%.1x|%010.2e|% .3f|%+.0f" $value $value '
    "$value $value 5e-324 $value $value $value }}",
    "stars": '{{ printf "[%*d|%-*d|%.*f|%*s]" 5 42 -4 7 2 $value 6 "x" }}',
    "indexes": '{{ printf "%[2]d %[1]d %d" 1 2 }} {{ printf "%[3]d %[0]d %[1]*d" 7 8 }}'
    ' {{ printf "%d %%" }} {{ printf "%z %" $value }} '
    '{{ printf "%.*d|%*d" -1 5 1.5 6 }}',
    "if": "{{ if gt $value 100.0 }}high{{ else if lt $value 1.0 }}low{{ else }}mid"
    "{{ end }}",
    "if_labels": '{{ if eq $labels.job "job-3" "job-5" }}3 or 5{{ end }}'
    '{{ if ne $labels.instance "plain" }}port{{ end }}',
    "truth": "{{ if $value }}nonzero{{ else }}zero{{ end }} {{ if $labels.none }}x"
    "{{ else }}empty{{ end }} {{ if . }}data{{ end }} {{ if 0 }}a{{ else if 0.0 }}b"
    '{{ else if "" }}c{{ else if false }}d{{ else if $externalLabels }}e{{ else }}f'
    "{{ end }}",
    "logic": '{{ and $value "x" }}|{{ or $labels.none "fallback" }}|{{ not $value }}'
    '|{{ and 1 0 2 }}|{{ or 0 "" }}|{{ $value | and 1 }}|{{ and 0 (gt 1 1.0) }}'
    "|{{ or 1 (len 3) }}|{{ not . }}",
    "compare": '{{ lt $labels.instance "h" }} {{ le $value 60.0 }} {{ gt 2 1 }} '
    '{{ ge "b" "a" }} {{ eq true true }} {{ ne 1.5 $value }} {{ lt -1 0 }} '
    "{{ eq $value 0.5 1.0 }} {{ ge $value 61.5 }} {{ $value | lt 59.9 }}",
    "len": '{{ len $labels }} {{ len $labels.instance }} {{ len "" }} {{ len $labels.none | not }}',
    "with": "{{ with $labels.instance }}on {{ . }}{{ end }}{{ with $labels.none }}x"
    "{{ else }} nowhere{{ end }} {{ with $labels }}{{ .job }}{{ end }} "
    "{{ with $x := $value }}{{ $x }}{{ else }}{{ $x }}{{ end }} {{ with 0 }}"
    "x{{ else }}{{ .Labels.job }}{{ end }}",
    "range": "{{ range $k, $v := $labels }}{{ $k }}={{ $v }},{{ end }} "
    "{{ range $labels }}[{{ . }}]{{ end }} {{ range $v := $labels }}{{ $v | len }}"
    "{{ end }} {{ range $externalLabels }}x{{ else }}none{{ end }} "
    "{{ range .Labels }}{{ $.Value }}{{ end }}",
    "break": '{{ range $k, $v := $labels }}{{ if eq $k "instance" }}{{ continue }}'
    '{{ end }}{{ if eq $k "job" }}{{ break }}{{ end }}{{ $k }};{{ end }}',
    "scope": '{{ $x := "outer" }}{{ if true }}{{ $x := "inner" }}{{ $x }}{{ end }} '
    '{{ $x }} {{ if true }}{{ $x = "set" }}{{ end }}{{ $x }} {{ $n := 0 }}'
    "{{ range $labels }}{{ $n = len . }}{{ end }}{{ $n }}",
    "time": "{{ if lt $value 9e9 }}{{ toTime $value }} {{ (toTime $value).Format "
    '"Mon Jan _2 15:04:05.000 2006" }} {{ (toTime $value).Unix }}{{ end }}',
    "timestamp": "{{ if lt $value 1e9 }}{{ humanizeTimestamp $value }}{{ end }} "
    '{{ humanizeTimestamp 1.6e9 }} {{ humanizeTimestamp "1234567890.5678" }} '
    "{{ humanizeTimestamp -9.2e9 }} {{ humanizeTimestamp 9.2e9 }} "
    '{{ humanizeTimestamp "NaN" }} {{ humanizeTimestamp 0 }}',
}
INSTANCES = ["host:9090", "[::1]:80", "plain", "a:b:c", "h:", "Émile.dé:1"]
VALUES = [
    0, 0.000123456789, 0.05, 0.05263157894736842, 0.15, 0.5, 0.65, 1, 1.5, 2, 59.9,
    60, 61.5, 300, 450, 3599, 3600, 86400, 90061, 12000, 1e6, 123456789, 1e21, 1.5e-7,
    1023, 1024, 1048576, 5e6, -0.5, 1.5e30,
]  # fmt: skip


def _test_alert_rules(
    tmp_path: Path, group: dict, tests: list[dict]
) -> subprocess.CompletedProcess:
    """Run `promtool test rules` on one rule group and its test groups."""
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": [group]}))
    (tmp_path / "test.yml").write_text(
        yaml.safe_dump(
            {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": tests}
        )
    )
    return run_promtool("test", "rules", str(tmp_path / "test.yml"))


def _value_test(
    labels: dict[str, str], value: float, annotations: dict[str, str]
) -> dict:
    """Return a test group whose alert `Value` fires at once with `annotations`."""
    series = "probe{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    return {
        "interval": "1m",
        "input_series": [{"series": series, "values": f"{value!r}x1"}],
        "alert_rule_test": [
            {
                "eval_time": "0m",
                "alertname": "Value",
                "exp_alerts": [{"exp_labels": labels, "exp_annotations": annotations}],
            }
        ],
    }


def test_templates_match_promtool(tmp_path: Path) -> None:
    rule = {"alert": "Value", "expr": "probe >= -1", "annotations": TEMPLATES}
    tests = []
    for index, value in enumerate(VALUES):
        instance = INSTANCES[index % len(INSTANCES)]
        labels = {"instance": instance, "job": f"job-{index}"}
        # The alert's query keeps the metric name, which its templates see.
        sample_labels = {"__name__": "probe", **labels}
        annotations = {
            key: gorender.render(text, sample_labels, float(value))
            for key, text in TEMPLATES.items()
        }
        tests.append(_value_test(labels, float(value), annotations))
    group = {"name": "templates", "rules": [rule]}
    result = _test_alert_rules(tmp_path, group, tests)
    assert result.returncode == 0, result.stdout + result.stderr


# Operands and functions of the random templates, which nest if, with and range.
RANDOM_OPERANDS = [
    "$value", "$labels", "$labels.job", "$labels.none", ".", ".Labels", "1", "0",
    "2.5", "0.0", '""', '"a"', "true", "false", "$x", "(len $labels)",
    "(gt $value 1.0)", '(eq $labels.job "job-1")', "$externalLabels",
    "(toTime $value)", "(toTime 1.5).Month", '((toTime 86400).Format "Jan _2 15:04")',
]  # fmt: skip
RANDOM_FUNCTIONS = [
    "eq", "ne", "lt", "le", "gt", "ge", "and", "or", "not", "len", "humanize",
    'printf "%v-%q"', "print", "toUpper", "toTime",
]  # fmt: skip


def _random_pipeline(generator: random.Random) -> str:
    if generator.random() < 0.4:
        return generator.choice(RANDOM_OPERANDS)
    count = generator.randint(0, 3)
    operands = [generator.choice(RANDOM_OPERANDS) for _ in range(count)]
    pipeline = " ".join([generator.choice(RANDOM_FUNCTIONS), *operands])
    if generator.random() < 0.2:
        pipeline = f"{generator.choice(RANDOM_OPERANDS)} | {pipeline}"
    return pipeline


def _random_range(generator: random.Random, depth: int) -> str:
    # With `=`, Go 1.19 gives the assigned variables the map, and each element to
    # the variables declared last.
    declaration = generator.choice(
        ["", "$v := ", "$k, $v := ", "$v = ", "$k, $v = ", "$x = "]
    )
    subject = generator.choice(["$labels", "$externalLabels", "$value", ".Labels"])
    body = _random_template(generator, depth + 1)
    if generator.random() < 0.3:
        if "$v" in declaration:
            body += '{{ if eq $v "job-1" }}{{ break }}{{ end }}'
        else:
            body += "{{ continue }}"
    if generator.random() < 0.3:
        body += "{{ else }}empty"
    return f"{{{{ range {declaration}{subject} }}}}{body}{{{{ end }}}}"


def _random_template(generator: random.Random, depth: int = 0) -> str:
    """Return a random template of actions, variables, if, with and range."""
    parts = []
    for _ in range(generator.randint(1, 3)):
        choice = generator.random()
        if choice < 0.3 or depth > 2:
            parts.append(f"{{{{ {_random_pipeline(generator)} }}}}")
        elif choice < 0.45:
            parts.append("text")
        elif choice < 0.55:
            parts.append(f"{{{{ $x := {_random_pipeline(generator)} }}}}")
        elif choice < 0.6:
            parts.append(f"{{{{ $x = {_random_pipeline(generator)} }}}}")
        elif choice < 0.75:
            keyword = generator.choice(["if", "with"])
            text = f"{{{{ {keyword} {_random_pipeline(generator)} }}}}"
            text += _random_template(generator, depth + 1)
            if keyword == "if" and generator.random() < 0.3:
                text += f"{{{{ else if {_random_pipeline(generator)} }}}}"
                text += _random_template(generator, depth + 1)
            if generator.random() < 0.5:
                text += "{{ else }}" + _random_template(generator, depth + 1)
            parts.append(text + "{{ end }}")
        else:
            parts.append(_random_range(generator, depth))
    return "|".join(parts)


@pytest.mark.parametrize(("seed", "value"), [(1, 1.5), (2, 0.0), (3, -2.0)])
def test_random_templates_match_promtool(
    seed: int, value: float, tmp_path: Path
) -> None:
    """Every random template that the renderer expands gives promtool's text."""
    generator = random.Random(seed)
    labels = {"instance": "host:9090", "job": "job-1"}
    sample_labels = {"__name__": "probe", **labels}
    expanded = {}
    while len(expanded) < 200:
        template = _random_template(generator)
        if template_error(template) is not None:
            continue
        try:
            text = gorender.render(template, sample_labels, value)
        except gorender.UnsupportedTemplate:
            continue
        expanded[f"t{len(expanded)}"] = (template, text)

    for action in ("{{ if", "{{ with", "{{ range", "{{ else"):
        assert sum(action in template for template, _ in expanded.values()) >= 10

    rule = {
        "alert": "Value",
        "expr": "probe",
        "annotations": {key: template for key, (template, _) in expanded.items()},
    }
    annotations = {key: text for key, (_, text) in expanded.items()}
    test = _value_test(labels, value, annotations)
    result = _test_alert_rules(tmp_path, {"name": "random", "rules": [rule]}, [test])
    assert result.returncode == 0, result.stdout + result.stderr


# Templates that Prometheus fails to expand at the value given, with Go's error.
FAILING = [
    ("{{ if gt $value 100 }}high{{ end }}", 150.0),
    ("{{ gt $value 100 }}", 1.0),
    ("{{ $value | lt 1 }}", 1.0),
    ('{{ eq 1 2 "x" }}', 1.0),
    ('{{ ne "a" 1 }}', 1.0),
    ("{{ lt true false }}", 1.0),
    ("{{ eq $labels $labels }}", 1.0),
    ("{{ eq 1 }}", 1.0),
    ("{{ lt 1 }}", 1.0),
    ("{{ not 1 2 }}", 1.0),
    ("{{ len 3 }}", 1.0),
    ("{{ len $value }}", 1.0),
    ("{{ len . }}", 1.0),
    ("{{ and 1 (gt 1 1.0) }}", 1.0),
    ("{{ or 0 (len 1) }}", 1.0),
    ("{{ range $value }}x{{ end }}", 1.5),
    ('{{ range "ab" }}x{{ end }}', 1.0),
    ("{{ range . }}x{{ end }}", 1e21),
    ("{{ with $value }}{{ .Labels }}{{ end }}", 1.0),
    ("{{ humanizeTimestamp $value }}", 1e21),
    ("{{ humanizeTimestamp $value }}", -1e10),
]


def _failed_texts(report: str) -> dict[str, str]:
    """Return the annotation `text` that promtool's report gives for each alert."""
    pattern = r'alertname: (\w+),.*?got:\[.*?Annotations:\{text=("(?:[^"\\]|\\.)*")\}'
    return {
        name: ast.literal_eval(text)
        for name, text in re.findall(pattern, report, re.DOTALL)
    }


def test_failing_templates_match_promtool(tmp_path: Path) -> None:
    rules = [
        {
            "alert": f"Failing{index}",
            "expr": f'probe{{case="{index}"}}',
            "annotations": {"text": template},
        }
        for index, (template, _) in enumerate(FAILING)
    ]
    test = {
        "interval": "1m",
        "input_series": [
            {"series": f'probe{{case="{index}"}}', "values": f"{value!r}x1"}
            for index, (_, value) in enumerate(FAILING)
        ],
        "alert_rule_test": [
            {
                "eval_time": "0m",
                "alertname": f"Failing{index}",
                "exp_alerts": [
                    {"exp_labels": {"case": str(index)}, "exp_annotations": {}}
                ],
            }
            for index in range(len(FAILING))
        ],
    }
    result = _test_alert_rules(tmp_path, {"name": "failing", "rules": rules}, [test])
    report = result.stdout + result.stderr
    texts = _failed_texts(report)
    assert len(texts) == len(FAILING), report
    for index, (template, value) in enumerate(FAILING):
        text = texts[f"Failing{index}"]
        assert text.startswith("<error expanding template: "), (template, text)
        labels = {"__name__": "probe", "case": str(index)}
        with pytest.raises(gorender.UnsupportedTemplate) as exc:
            gorender.render(template, labels, value)
        if isinstance(exc.value, gorender.ExpansionError):
            assert str(exc.value) in text, template


UNSUPPORTED = [
    ("{{ $value }} {{ $value | query }}", "query of a float64", 25),
    ('{{ printf "%1000001d" 1 }}', "printf number 1000001 above 1000000", 3),
    ('{{ "ß" | toUpper }}', "toUpper of 'ß'", 9),
    ('{{ reReplaceAll "x*" "y" "a" }}', "matches the empty string", 3),
    ("{{ .Missing }}", "the field .Missing", 3),
    ("{{ print . }}", "print of a data object", 3),
    ("{{ $labels.job 1 }}", "not a function", 3),
    ('{{ define "__alert_Value" }}x{{ end }}', "the alert's own template", 10),
    ('{{ template "__alert_x" }}', "the alert's own template", 12),
    # Each call passes a longer text, so no call repeats another one.
    (
        '{{ define "r" }}{{ template "r" (print . "x") }}{{ end }}{{ template "r" "" }}',
        "template calls nested more than 50 deep",
        19,
    ),
    (
        '{{ define "r" }}' + "{{ if true }}" * 20 + '{{ template "r" (print . "x") }}'
        "{{ end }}" * 20 + '{{ end }}{{ template "r" "" }}',
        "nested too deeply",
        None,
    ),
    (
        '{{ define "r" }}{{ if . }}{{ with . }}{{ template "r" . }}{{ end }}{{ end }}'
        '{{ end }}{{ template "r" 1 }}',
        "calls itself forever inside nested actions",
        41,
    ),
    (
        '{{ define "r" }}{{ range . }}{{ template "r" $ }}{{ end }}{{ end }}'
        '{{ template "r" $labels }}',
        "calls itself forever inside nested actions",
        32,
    ),
    (
        '{{ define "a" }}{{ humanize . }}{{ end }}{{ template "a" }}',
        "missing value",
        19,
    ),
    ("{{ (toTime 0).Add 1 }}", "the method Add of a *time.Time", 13),
    ("{{ (toTime 0).Format 1 }}", "Format of a int", 13),
    ("{{ eq (toTime 0) (toTime 0) }}", "comparing a time", 3),
    ('{{ printf "%d" (toTime 0) }}', "printf %d of a *time.Time", 3),
    ("{{ len (toTime 0) }}", "len of a time", 3),
]


@pytest.mark.parametrize(("template", "message", "offset"), UNSUPPORTED)
def test_unsupported_template_is_reported(
    template: str, message: str, offset: int | None
) -> None:
    assert template_error(template) is None
    with pytest.raises(gorender.UnsupportedTemplate, match=re.escape(message)) as exc:
        gorender.render(template, {"job": "a"}, 1.0)
    assert not isinstance(exc.value, gorender.ExpansionError)
    assert exc.value.offset == offset


# label_replace ------------------------------------------------------------------------

REPLACE_INPUT = {
    'x{k="a",severity="high"}': 6.0,
    'x{k="b",severity="low"}': 2.0,
    'y{k="c"}': 1.0,
}
COPY = 'label_replace(x, "series_severity", "$1", "severity", "(.*)")'
REPLACE_CASES = {
    COPY: [
        ('x{k="a",series_severity="high",severity="high"}', 6.0),
        ('x{k="b",series_severity="low",severity="low"}', 2.0),
    ],
    f'label_replace({COPY}, "severity", "", "", "")': [
        ('x{k="a",series_severity="high"}', 6.0),
        ('x{k="b",series_severity="low"}', 2.0),
    ],
    # A missing source label is empty; an empty expansion sets no label.
    'label_replace(y, "copy", "$1", "severity", "(.*)")': [('y{k="c"}', 1.0)],
    # The expression is anchored at both ends; no match leaves the series alone.
    'label_replace(x, "dst", "m", "severity", "ig")': [
        ('x{k="a",severity="high"}', 6.0),
        ('x{k="b",severity="low"}', 2.0),
    ],
    'label_replace(x, "dst", "$1", "severity", "h(.*)")': [
        ('x{dst="igh",k="a",severity="high"}', 6.0),
        ('x{k="b",severity="low"}', 2.0),
    ],
    # `$1b` names a group "1b", which does not exist; `$$` is a dollar sign.
    'label_replace(x, "dst", "a$1b${1}c$$d$1x", "severity", "(h)(?P<n>.*)")': [
        ('x{dst="ahc$d",k="a",severity="high"}', 6.0),
        ('x{k="b",severity="low"}', 2.0),
    ],
    'label_replace(x, "k", "${n}-$n", "severity", "(?P<n>.)o.*")': [
        ('x{k="a",severity="high"}', 6.0),
        ('x{k="l-l",severity="low"}', 2.0),
    ],
    'label_replace(x > 3, "k", "", "", "") * 2': [('{severity="high"}', 12.0)],
}


def _replace_storage() -> Storage:
    storage = Storage()
    for text, value in REPLACE_INPUT.items():
        name, body = text.split("{")
        labels = dict(re.findall(r'(\w+)="([^"]*)"', body), __name__=name)
        storage.add(make_labels(labels), 0, value)
    return storage


def _evaluated(expr: str) -> list[tuple[str, float]]:
    samples = Evaluator(_replace_storage()).vector(pp.parse(expr), 0)
    return sorted((labels_text(s.labels), s.value) for s in samples)


@pytest.mark.parametrize("expr", list(REPLACE_CASES))
def test_label_replace_is_evaluated(expr: str) -> None:
    assert _evaluated(expr) == REPLACE_CASES[expr]


EQUAL_RESULTS = (
    'label_replace(label_replace(x, "k", "", "", ""), "severity", "", "", "")'
)


def test_label_replace_rejects_equal_results() -> None:
    with pytest.raises(UnsupportedExpression, match="the same labels"):
        _evaluated(EQUAL_RESULTS)
    with pytest.raises(UnsupportedExpression, match="not a valid label name"):
        _evaluated('label_replace(x, "1st", "$1", "severity", "(.*)")')


def test_label_replace_matches_promtool(tmp_path: Path) -> None:
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": text, "values": f"{value!r}x1"}
                    for text, value in REPLACE_INPUT.items()
                ],
                "promql_expr_test": [
                    {
                        "expr": expr,
                        "eval_time": "0m",
                        "exp_samples": [
                            {"labels": labels, "value": value}
                            for labels, value in _evaluated(expr)
                        ],
                    }
                    for expr in REPLACE_CASES
                ],
            }
        ],
    }
    (tmp_path / "rules.yml").write_text("groups: []\n")
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test, width=10**9))
    result = run_promtool("test", "rules", str(tmp_path / "test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    test["tests"][0]["promql_expr_test"] = [
        {
            "expr": EQUAL_RESULTS,
            "eval_time": "0m",
            "exp_samples": [],
        }
    ]
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test, width=10**9))
    result = run_promtool("test", "rules", str(tmp_path / "test.yml"))
    assert "vector cannot contain metrics with the same labelset" in (
        result.stdout + result.stderr
    )


# Groups of `avg by (g) (m)` whose mean a sum divided by the count gets wrong (an
# overflow), or that hold an infinity, each with the values of its two series.
AVERAGED = {
    "huge": ("1e308", "1e308"),
    "inf": ("Inf", "5"),
    "minus-inf": ("-Inf", "2"),
    "plain": ("3", "6"),
}


def _grouped_storage(groups: dict[str, tuple[str, ...]]) -> tuple[Storage, list[dict]]:
    """Return storage and promtool input series of `m{g=group,k=index}` for `groups`."""
    storage = Storage()
    input_series = []
    for group, values in groups.items():
        for index, value in enumerate(values):
            labels = {"__name__": "m", "g": group, "k": str(index)}
            storage.add(make_labels(labels), 0, float(value))
            text = "m{" + f'g="{group}",k="{index}"' + "}"
            input_series.append({"series": text, "values": f"{value} {value}"})
    return storage, input_series


def test_avg_matches_promtool(tmp_path: Path) -> None:
    storage, input_series = _grouped_storage(AVERAGED)
    node = pp.parse("avg by (g) (m)")
    got = {dict(s.labels)["g"]: s.value for s in Evaluator(storage).vector(node, 0)}
    assert got == {"huge": 1e308, "inf": math.inf, "minus-inf": -math.inf, "plain": 4.5}
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": input_series,
                "promql_expr_test": [
                    {
                        "expr": "avg by (g) (m)",
                        "eval_time": "0m",
                        "exp_samples": [
                            {"labels": f'{{g="{group}"}}', "value": value}
                            for group, value in got.items()
                        ],
                    }
                ],
            }
        ],
    }
    (tmp_path / "rules.yml").write_text("groups: []\n")
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test, width=10**9))
    result = run_promtool("test", "rules", str(tmp_path / "test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


# Groups of `m` by `g` for the aggregations that count, spread or rank series. Each
# group gives every expression below one result in every order of its series.
SPREAD = {
    "single": ("1.5",),
    "single-nan": ("NaN",),
    "nan": ("NaN", "3"),
    "nans": ("NaN", "NaN", "1", "2"),
    "spread": ("1", "2", "3"),
    "inf": ("Inf", "2"),
}
SPREAD_EXPRESSIONS = [
    "count by (g) (m)",
    "stddev by (g) (m)",
    "stdvar by (g) (m)",
    "quantile by (g) (0, m)",
    "quantile by (g) (0.5, m)",
    "quantile by (g) (1, m)",
    "quantile by (g) (-1, m)",
    "topk by (g) (1, m)",
    "topk by (g) (2, m)",
    "topk by (g) (0, m)",
    "bottomk by (g) (1, m)",
    "bottomk by (g) (2, m)",
]


def _promtool_samples(
    tmp_path: Path, input_series: list[dict], exprs: list[str]
) -> dict[str, list[tuple[str, str]]]:
    """Return promtool's samples for each expression at 0m, values as text."""
    checks = [{"expr": expr, "eval_time": "0m", "exp_samples": []} for expr in exprs]
    test = {"interval": "1m", "input_series": input_series, "promql_expr_test": checks}
    result = _test_alert_rules(tmp_path, {"name": "empty", "rules": []}, [test])
    report = result.stdout + result.stderr
    found: dict[str, list[tuple[str, str]]] = {expr: [] for expr in exprs}
    pattern = r'expr: "(.*?)", time: \S+,\n\s+exp: nil\n\s+got: (.*)'
    for match in re.finditer(pattern, report):
        samples = re.findall(r"\{(.*?)\} ([^,\s]+)", match.group(2))
        found[match.group(1)] = sorted(
            (labels.replace(", ", ","), _value_text(float(value)))
            for labels, value in samples
        )
    return found


def _value_text(value: float) -> str:
    """Return a value as text, the same for every NaN."""
    return "NaN" if math.isnan(value) else repr(value)


def test_spread_aggregations_match_promtool(tmp_path: Path) -> None:
    """count, stddev, stdvar, quantile, topk and bottomk give promtool's samples.

    The groups hold NaN, +Inf and a single series, which each aggregation treats in
    its own way: stddev of one NaN is 0, and quantile weighs +Inf by 0 into NaN.
    """
    storage, input_series = _grouped_storage(SPREAD)
    expected = _promtool_samples(tmp_path, input_series, SPREAD_EXPRESSIONS)
    for expr in SPREAD_EXPRESSIONS:
        got = sorted(
            (",".join(f'{k}="{v}"' for k, v in s.labels), _value_text(s.value))
            for s in Evaluator(storage).vector(pp.parse(expr), 0)
        )
        assert got == expected[expr], expr
    assert expected["topk by (g) (0, m)"] == []
    assert ('g="single-nan"', "0.0") in expected["stddev by (g) (m)"]


# Aggregations that promtool's series order decides, and matches Prometheus rejects ----

# Groups of `m` by `g`, with the values of their series.
ORDER_FREE = {
    "negative-zeros": ("-0", "-0", "-0"),
    "integers": ("1", "2", "3"),
    "halves": ("0.5", "0.25", "0.125"),
    "nan": ("NaN", "0.1", "0.2"),
    "infinity": ("Inf", "0.1", "0.2"),
}


def test_order_free_aggregations_match_promtool(tmp_path: Path) -> None:
    """Sums of three values print as promtool's, -0 included, in every series order."""
    storage, input_series = _grouped_storage(ORDER_FREE)
    rules = []
    checks = []
    for op in ("sum", "max", "min"):
        expr = f"{op} by (g) (m)"
        name = op.title()
        rules.append(
            {"alert": name, "expr": expr, "annotations": {"text": "{{ $value }}"}}
        )
        alerts = [
            {
                "exp_labels": dict(sample.labels),
                "exp_annotations": {
                    "text": gorender.render("{{ $value }}", {}, sample.value)
                },
            }
            for sample in Evaluator(storage).vector(pp.parse(expr), 0)
        ]
        assert len(alerts) == len(ORDER_FREE)
        checks.append({"eval_time": "0m", "alertname": name, "exp_alerts": alerts})
    sums = {
        dict(s.labels)["g"]: gorender.render("{{ $value }}", {}, s.value)
        for s in Evaluator(storage).vector(pp.parse("sum by (g) (m)"), 0)
    }
    assert sums["negative-zeros"] == "-0"
    test = {"interval": "1m", "input_series": input_series, "alert_rule_test": checks}
    result = _test_alert_rules(tmp_path, {"name": "sums", "rules": rules}, [test])
    assert result.returncode == 0, result.stdout + result.stderr


# Groups whose aggregation depends on the order of their series, by expression.
ORDER_DEPENDENT = {
    "sum(m)": ("0.1", "0.2", "0.3"),
    "max(m)": ("0", "-0", "-1"),
    "min(m)": ("-0", "0", "1"),
    "stdvar(m)": ("1", "2", "4"),
    "quantile(0.5, m)": ("-0", "0"),
    "topk(1, m)": ("2", "2", "1"),
    "bottomk(2, m)": ("1", "NaN", "NaN"),
}


@pytest.mark.parametrize("expr", list(ORDER_DEPENDENT))
def test_order_dependent_aggregation_rejected(expr: str) -> None:
    """promtool adds 0.1, 0.2 and 0.3 to 0.6 or 0.6000000000000001, by its order.

    topk and bottomk keep the series that comes first of two that tie for the last
    place, and a sort leaves 0 and -0 in the order in which they came.
    """
    storage, _ = _grouped_storage({"g": ORDER_DEPENDENT[expr]})
    with pytest.raises(OrderDependent, match="order of the series"):
        Evaluator(storage).vector(pp.parse(expr), 0)


# Matches that Prometheus rejects, and the error it gives.
DUPLICATE_MATCHES = {
    'm{g="a"} / ignoring (g, k) m{g="b"}': "multiple matches for labels",
    'm{g="b"} / ignoring (g, k) m{g="a"}': "found duplicate series",
}


@pytest.mark.parametrize("expr", list(DUPLICATE_MATCHES))
def test_duplicate_matches_rejected(expr: str, tmp_path: Path) -> None:
    storage, input_series = _grouped_storage({"a": ("1", "2"), "b": ("3",)})
    with pytest.raises(UnsupportedExpression, match="match"):
        Evaluator(storage).vector(pp.parse(expr), 0)
    check = {"expr": expr, "eval_time": "0m", "exp_samples": []}
    test = {"interval": "1m", "input_series": input_series, "promql_expr_test": [check]}
    result = _test_alert_rules(tmp_path, {"name": "empty", "rules": []}, [test])
    assert DUPLICATE_MATCHES[expr] in result.stdout + result.stderr
