"""Hand-written promtool test files of the wrong shape are errors at their position.

The mutation tests compare the checks with promtool 2.42 itself: every mutated file
that promtool cannot load must get an error at a position, and a file that the
checks reject for its structure must fail in promtool too.
"""

from __future__ import annotations

import copy
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from obscompile.cli import _hand_written_test
from obscompile.diagnostics import Diagnostic
from obscompile.load.series_notation import (
    labels_problem,
    series_problem,
    values_problem,
)
from obscompile.pipeline import BuildResult
from obscompile.write.atomic import write_tree
from tests.conftest import REPO
from tests.test_prometheus import obscompile_test, promtool_binary, write_hand_written

RULES = """\
groups:
  - name: jobs
    rules:
      - record: jobs:sum
        expr: sum(jobs_total)
      - alert: JobsHigh
        expr: jobs:sum > 5
        labels: {severity: page}
        annotations: {summary: high}
"""
# A test file that uses every key of promtool 2.42's format and passes.
VALID = {
    "rule_files": ["jobs.rules.yml"],
    "evaluation_interval": "1m",
    "group_eval_order": ["jobs"],
    "tests": [
        {
            "interval": "1m",
            "name": "high",
            "external_labels": {"region": "eu"},
            "external_url": "http://example.invalid",
            "input_series": [
                {"series": 'jobs_total{job="a"}', "values": "10x5"},
            ],
            "alert_rule_test": [
                {
                    "eval_time": "2m",
                    "alertname": "JobsHigh",
                    "exp_alerts": [
                        {
                            "exp_labels": {"severity": "page"},
                            "exp_annotations": {"summary": "high"},
                        }
                    ],
                }
            ],
            "promql_expr_test": [
                {
                    "expr": "jobs:sum",
                    "eval_time": "2m",
                    "exp_samples": [{"labels": "jobs:sum", "value": 10}],
                }
            ],
        }
    ],
}
# Values of every YAML type, each wrong for some key and right for others.
REPLACEMENTS: list[Any] = [
    None,
    True,
    0,
    5,
    1.5,
    "",
    "text",
    "5m",
    [],
    ["x"],
    [5],
    [None],
    {},
    {"k": "v"},
    {"k": ["v"]},
    [{"k": "v"}],
    # Text that promtool parses further as a series, values, labels or PromQL.
    'up{job="x"',
    "0+1xx3",
    "sum(up",
]
# What promtool 2.42 prints when it cannot load a test file, before it runs a test,
# or when it cannot parse a series, values, labels or an expression.
LOAD_ERRORS = (
    "yaml: ",
    "not a valid duration string",
    "empty duration string",
    "duration out of range",
    "misses required attribute alertname",
    "group name repeated in evaluation order",
    "parse error",
)
# The check of the errors about the structure of a test file.
TEST_FILE = "promtool/test-file"
# An expression test, which the test groups of cases about other keys end with, so
# that each group tests something.
EXPR_TEST = "    promql_expr_test: [{expr: up}]\n"
# A null document tests nothing, like an empty file: promtool passes it, and the
# checks reject both.
STRICTER_THAN_PROMTOOL = {"document=null"}


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Return the path of every value inside `value`, which is data of a test file."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((*prefix, key))
            found.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append((*prefix, index))
            found.extend(_paths(item, (*prefix, index)))
    return found


def _mappings(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Return the path of every mapping inside `value`, itself included."""
    found = [prefix] if isinstance(value, dict) else []
    for path in _paths(value, prefix):
        if isinstance(_get(value, path[len(prefix) :]), dict):
            found.append(path)
    return found


def _get(data: Any, path: tuple) -> Any:
    for step in path:
        data = data[step]
    return data


def _mutants() -> dict[str, Any]:
    """Return copies of VALID, each with a value replaced or a key removed or added."""
    mutants: dict[str, Any] = {}
    for path in _paths(VALID):
        name = ".".join(str(step) for step in path)
        for number, replacement in enumerate(REPLACEMENTS):
            data = copy.deepcopy(VALID)
            parent = _get(data, path[:-1])
            parent[path[-1]] = copy.deepcopy(replacement)
            mutants[f"{name}={number}"] = data
        if isinstance(path[-1], str):
            data = copy.deepcopy(VALID)
            del _get(data, path[:-1])[path[-1]]
            mutants[f"{name}-deleted"] = data
    for path in _mappings(VALID):
        data = copy.deepcopy(VALID)
        _get(data, path)["bogus"] = "x"
        mutants[".".join(str(step) for step in path) + ".bogus"] = data
    mutants["document=list"] = [VALID]
    mutants["document=number"] = 5
    mutants["document=null"] = None
    return mutants


def _promtool_results(folder: Path, names: list[str]) -> dict[str, str]:
    """Run promtool on the test files `names` in `folder`; return each one's output."""
    result = subprocess.run(
        [promtool_binary(), "test", "rules", *names],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    outputs: dict[str, list[str]] = {}
    current: list[str] = []
    for line in result.stdout.splitlines():
        if line.startswith("Unit Testing:  "):
            current = outputs.setdefault(line.removeprefix("Unit Testing:  "), [])
        else:
            current.append(line)
    assert set(outputs) == set(names), result.stdout[-2000:]
    return {name: "\n".join(lines) for name, lines in outputs.items()}


def _check(path: Path) -> list[Diagnostic]:
    """Check the test file `path`, with the rule file that its tests name beside it."""
    rules = path.parent / "jobs.rules.yml"
    if not rules.exists():
        rules.write_text(RULES)
    is_test, problems = _hand_written_test(path, path.name)
    assert is_test
    return problems


def _assert_placed(problems: list[Diagnostic], text: str) -> None:
    lines = text.split("\n")
    for problem in problems:
        location = problem.location
        assert 1 <= location.line <= len(lines), problem
        assert 1 <= location.column <= len(lines[location.line - 1]) + 1, problem


def test_valid_file_passes_checks_and_promtool(tmp_path: Path) -> None:
    (tmp_path / "jobs.rules.yml").write_text(RULES)
    path = tmp_path / "valid.test.yml"
    path.write_text(yaml.safe_dump(VALID, sort_keys=False))
    assert _check(path) == []
    output = _promtool_results(tmp_path, [path.name])[path.name]
    assert "SUCCESS" in output, output


def test_mutants_agree_with_promtool(tmp_path: Path) -> None:
    """Every mutant that promtool cannot load gets an error at a position."""
    (tmp_path / "jobs.rules.yml").write_text(RULES)
    mutants = _mutants()
    texts = {}
    for number, (name, data) in enumerate(mutants.items()):
        file_name = f"{number:04d}.test.yml"
        texts[file_name] = (name, yaml.safe_dump(data, sort_keys=False))
        (tmp_path / file_name).write_text(texts[file_name][1])
    outputs = _promtool_results(tmp_path, sorted(texts))
    unreported = []
    wrongly_rejected = []
    for file_name, (name, text) in texts.items():
        problems = _check(tmp_path / file_name)
        _assert_placed(problems, text)
        output = outputs[file_name]
        if any(error in output for error in LOAD_ERRORS) and not problems:
            unreported.append(f"{name}: {output.strip()}")
        shape = [p for p in problems if p.check == TEST_FILE]
        if shape and "SUCCESS" in output and name not in STRICTER_THAN_PROMTOOL:
            wrongly_rejected.append(f"{name}: {shape[0].message}")
    assert unreported == []
    assert wrongly_rejected == []


BEYOND_DOUBLE = (
    "beyond the largest double, about 1.8e308, which promtool 2.42 reads as text and "
    "rejects; write a smaller number, or .inf for an infinite value"
)
BEYOND_64_BITS = (
    "an integer of more than 64 bits in base 2, 8 or 16, which promtool 2.42 reads "
    "as text and rejects; write it in decimal"
)
# An expected sample's value, and the error when yaml.v2 reads it as text.
EXPECTED_VALUES = [
    ("1e309", f"the number 1e309, {BEYOND_DOUBLE}"),
    ("-1e309", f"the number -1e309, {BEYOND_DOUBLE}"),
    ("1" + "0" * 400, f"a 401-digit number, {BEYOND_DOUBLE}"),
    ("1" + "0" * 5000, f"a 5001-digit number, {BEYOND_DOUBLE}"),
    ("0x" + "f" * 4000, f"a number of 4002 characters, {BEYOND_DOUBLE}"),
    ("0x10000000000000000", f"the number 0x10000000000000000, {BEYOND_64_BITS}"),
    ("-0x8000000000000001", f"the number -0x8000000000000001, {BEYOND_64_BITS}"),
    (
        "0o2000000000000000000000",
        f"the number 0o2000000000000000000000, {BEYOND_64_BITS}",
    ),
    ("0xffffffffffffffff", None),
    ("-0x8000000000000000", None),
    ("18446744073709551616", None),
    ("-9223372036854775809", None),
    ("1.7976931348623157e308", None),
    ("1e-400", None),
    ("-.Inf", None),
]


def test_expected_value_read_as_text(tmp_path: Path) -> None:
    """A value that promtool cannot load as a number is an error at the value."""
    paths = []
    for number, (value, _) in enumerate(EXPECTED_VALUES):
        paths.append(tmp_path / f"{number:02d}.test.yml")
        paths[-1].write_text(
            "rule_files: []\ntests:\n  - interval: 1m\n    promql_expr_test:\n"
            f"      - {{expr: vector(1), exp_samples: [{{value: {value}}}]}}\n"
        )
    outputs = _promtool_results(tmp_path, [path.name for path in paths])
    for path, (value, message) in zip(paths, EXPECTED_VALUES, strict=True):
        expected = (
            []
            if message is None
            else [f"{path.name}:5:49: error: value is {message} [promtool/test-file]"]
        )
        assert [str(problem) for problem in _check(path)] == expected
        unloaded = "cannot unmarshal !!str" in outputs[path.name]
        assert unloaded == (message is not None), (value[:30], outputs[path.name])


AS_TEXT = "so promtool 2.42 reads it as text and rejects it"
# An expected sample's value as written on its own line, and the error at it, or None
# when promtool 2.42 reads it as a number.
WRITTEN_VALUES = [
    ("'1'", f"7:20: error: value '1' is quoted, {AS_TEXT}; drop the quotes: value: 1"),
    (
        '"1e3"',
        f'7:20: error: value "1e3" is quoted, {AS_TEXT}; drop the quotes: value: 1e3',
    ),
    (
        "'.inf'",
        f"7:20: error: value '.inf' is quoted, {AS_TEXT}; drop the quotes: value: .inf",
    ),
    (
        "!!str 1",
        f"7:20: error: value 1 has a tag that makes it text, {AS_TEXT}; remove the "
        "tag: value: 1",
    ),
    (
        "|-\n              1",
        f"7:20: error: value 1 is a block scalar (|), {AS_TEXT}; write the number on "
        "the line of value, without |: value: 1",
    ),
    ("'up'", '7:20: error: value must be a number, not "up"'),
    ("1", None),
    ("1e3", None),
    (".inf", None),
    ("&one 1", None),
    ("!!float '1'", None),
]


def test_quoted_expected_value_rejected(tmp_path: Path) -> None:
    """A number that YAML reads as text is an error that shows the plain number."""
    paths = []
    for number, (value, _) in enumerate(WRITTEN_VALUES):
        paths.append(tmp_path / f"{number:02d}.test.yml")
        paths[-1].write_text(
            "rule_files: []\ntests:\n  - interval: 1m\n    promql_expr_test:\n"
            "      - expr: vector(1)\n        exp_samples:\n"
            f"          - value: {value}\n"
        )
    outputs = _promtool_results(tmp_path, [path.name for path in paths])
    for path, (value, message) in zip(paths, WRITTEN_VALUES, strict=True):
        expected = [] if message is None else [f"{path.name}:{message} [{TEST_FILE}]"]
        assert [str(problem) for problem in _check(path)] == expected
        unloaded = "cannot unmarshal" in outputs[path.name]
        assert unloaded == (message is not None), (value, outputs[path.name])


EVAL_TIME_ERROR = (
    "eval_time must be a Prometheus duration such as 30s, 5m or 1h30m, not"
)
# A key, a number for it, and the error at the number, or None. yaml.v2 reads a number
# into a text as written, where Python reads 00 as 0 and 1_0 as 10.
NUMBERS_AS_TEXT = [
    ("eval_time", "00", f"21: error: {EVAL_TIME_ERROR} 00"),
    ("eval_time", "1_0", f"21: error: {EVAL_TIME_ERROR} 1_0"),
    ("eval_time", "1e-400", f"21: error: {EVAL_TIME_ERROR} 1e-400"),
    (
        "eval_time",
        "1" + "0" * 5000,
        f"21: error: {EVAL_TIME_ERROR} a 5001-digit number",
    ),
    ("eval_time", "0", None),
    ("values", "1_0", '40: error: values 1_0 has "1_", which is not a number'),
    ("values", "0x10", None),
]


def test_numbers_read_as_written(tmp_path: Path) -> None:
    """Durations and values written as numbers are checked as promtool reads them."""
    paths = []
    for number, (key, value, _) in enumerate(NUMBERS_AS_TEXT):
        fields = {"eval_time": "0", "values": "1", key: value}
        paths.append(tmp_path / f"{number:02d}.test.yml")
        paths[-1].write_text(
            "rule_files: []\ntests:\n  - interval: 1m\n"
            f"    input_series: [{{series: x, values: {fields['values']}}}]\n"
            "    promql_expr_test:\n"
            f"      - {{eval_time: {fields['eval_time']}, expr: count(x), "
            "exp_samples: [{value: 1}]}\n"
        )
    outputs = _promtool_results(tmp_path, [path.name for path in paths])
    for path, (key, value, message) in zip(paths, NUMBERS_AS_TEXT, strict=True):
        line = 6 if key == "eval_time" else 4
        expected = (
            [] if message is None else [f"{path.name}:{line}:{message} [{TEST_FILE}]"]
        )
        assert [str(problem) for problem in _check(path)] == expected
        assert ("SUCCESS" in outputs[path.name]) == (message is None), value[:30]


def test_expected_nan_never_matches(tmp_path: Path) -> None:
    """promtool 2.42 fails an expected NaN even where the expression gives NaN."""
    path = tmp_path / "nan.test.yml"
    path.write_text(
        "rule_files: []\ntests:\n  - interval: 1m\n"
        "    input_series: [{series: x, values: NaN}]\n    promql_expr_test:\n"
        "      - {expr: x, exp_samples: [{labels: x, value: .nan}]}\n"
        "      - {expr: count(x != x), exp_samples: [{value: 1}]}\n"
    )
    output = _promtool_results(tmp_path, [path.name])[path.name]
    assert 'exp: {__name__="x"} NaN' in output
    assert 'got: {__name__="x"} NaN' in output
    assert "count(x != x)" not in output
    assert [str(problem) for problem in _check(path)] == [
        "nan.test.yml:6:52: error: value .nan never matches: promtool 2.42 compares "
        "samples exactly, and NaN equals no value, not even NaN; to check that x is "
        "NaN, expect the value 1 of count(x != x) [promtool/test-file]"
    ]


def test_every_unknown_key_reported(tmp_path: Path) -> None:
    """Each unknown key is an error at its own position, at every level."""
    text = (
        "rule_files: [jobs.rules.yml]\nzzz: 1\nyyy: 2\n"
        "tests:\n"
        "  - interval: 1m\n    foo: 1\n    bar: 2\n"
        "    input_series:\n      - {series: up, values: '1', valuse: 1, serie: x}\n"
        f"{EXPR_TEST}"
    )
    path = tmp_path / "keys.test.yml"
    path.write_text(text)
    problems = _check(path)
    found = [
        (p.location.line, p.location.column, p.message.split(";")[0]) for p in problems
    ]
    assert found == [
        (2, 1, 'unknown key "zzz" in a test file'),
        (3, 1, 'unknown key "yyy" in a test file'),
        (6, 5, 'unknown key "foo" in a test group'),
        (7, 5, 'unknown key "bar" in a test group'),
        (9, 35, 'unknown key "valuse" in an input series'),
        (9, 46, 'unknown key "serie" in an input series'),
    ]
    assert problems[4].message.endswith('did you mean "values"?')
    assert problems[5].message.endswith('did you mean "series"?')


# (test file text, expected error): a value that promtool 2.42 parses further and
# rejects, with the error inside the string at the mistake.
BAD_NOTATION = [
    (
        "tests:\n  - interval: 1m\n    input_series:\n"
        f"      - {{series: 'up{{job=\"x\"', values: '1'}}\n{EXPR_TEST}",
        '4:29: error: series "up{job="x"" is missing the "}" that closes its labels '
        "[promtool/test-file]",
    ),
    (
        "tests:\n  - interval: 1m\n    input_series:\n"
        f"      - {{series: up, values: '0+1xx3'}}\n{EXPR_TEST}",
        "4:35: error: values \"0+1xx3\" has 'x' after x, where a whole number of "
        "repetitions should be [promtool/test-file]",
    ),
    (
        "tests:\n  - interval: 1m\n    input_series:\n"
        f"      - {{series: up, values: '1x{'9' * 5000}'}}\n{EXPR_TEST}",
        f'4:33: error: values "1x{"9" * 35}..." repeats a value {"9" * 75}...'
        f"{'9' * 36} times, more than promtool can count [promtool/test-file]",
    ),
    (
        "tests:\n  - interval: 1m\n    input_series:\n"
        f"      - {{series: up, values: '1{'0' * 5000}'}}\n{EXPR_TEST}",
        f'4:31: error: values "1{"0" * 36}..." has 1{"0" * 74}...{"0" * 36}, '
        "beyond the largest number that a double holds [promtool/test-file]",
    ),
    (
        "tests:\n  - interval: 1m\n    promql_expr_test:\n      - expr: up\n"
        "        exp_samples:\n          - {labels: 'up{', value: 1}\n",
        '6:26: error: labels "up{" is missing the "}" that closes its labels '
        "[promtool/test-file]",
    ),
    (
        "tests:\n  - interval: 1m\n    promql_expr_test:\n"
        "      - {expr: 'sum(up', eval_time: 1m}\n",
        '4:20: error: expr "sum(up" is an invalid PromQL query: unclosed left '
        "parenthesis [promtool/test-file]",
    ),
    (
        f"tests:\n  - interval: 1m\n    input_series:\n      - {{values: '1'}}\n{EXPR_TEST}",
        "4:9: error: this input series has no series; write the metric name and "
        "labels of the samples that it loads [promtool/test-file]",
    ),
    (
        "tests:\n  - interval: 1m\n    input_series:\n"
        f"      - {{series: 'up:job=api', values: '1'}}\n{EXPR_TEST}",
        "4:25: error: series \"up:job=api\" has '=' after the series; write labels "
        'in braces, such as up{job="api"}, and sample values in values '
        "[promtool/test-file]",
    ),
    (
        "tests:\n  - interval: 1m\n    input_series:\n"
        f"      - {{series: 'up(job=\"api\")', values: '1'}}\n{EXPR_TEST}",
        '4:21: error: series "up(job="api")" has \'(\' after the series; write '
        'labels in braces, such as up{job="api"}, and sample values in values '
        "[promtool/test-file]",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    BAD_NOTATION,
    ids=[
        "series",
        "values",
        "repetitions",
        "long-value",
        "labels",
        "expr",
        "no-series",
        "labels-after-colon",
        "labels-in-parentheses",
    ],
)
def test_bad_notation_placed_in_string(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "notation.test.yml"
    path.write_text(text)
    assert [str(problem) for problem in _check(path)] == [f"{path.name}:{expected}"]


MEMORY = (
    "more than the 10,000,000 that a test group may load, because promtool 2.42 "
    "keeps every sample in memory, up to about 1 GB for 10,000,000;"
)
ONE_COUNT = f"{MEMORY} write a smaller repetition count [promtool/too-many-samples]"
GROUP_COUNTS = (
    f"{MEMORY} write smaller counts or split the series over groups "
    "[promtool/too-many-samples]"
)
# The values of each input series of a test group, and the error, or None when the
# group loads at most 10,000,000 samples. `<value>xN` loads N + 1 samples, `_xN` N.
SAMPLE_COUNTS = [
    (
        ["1x4294967296"],
        f'5:41: error: values "1x4294967296" loads 4,294,967,297 samples, {ONE_COUNT}',
    ),
    (
        ["0 1 0+1x10000000"],
        f'5:47: error: values "0 1 0+1x10000000" loads 10,000,001 samples, {ONE_COUNT}',
    ),
    (
        ["_x10000001"],
        f'5:41: error: values "_x10000001" loads 10,000,001 samples, {ONE_COUNT}',
    ),
    (["1x9999999"], None),
    (["_x10000000"], None),
    (["1x4999999", "1x4999999"], None),
    (
        ["1x4999999", "1 stale 1x4999998"],
        '6:49: error: values "1 stale 1x4999998" brings the input series of this '
        f"test group to 10,000,001 samples, {GROUP_COUNTS}",
    ),
    (
        ["1x4999999", "1x4999999", "1"],
        '7:39: error: values "1" brings the input series of this test group to '
        f"10,000,001 samples, {GROUP_COUNTS}",
    ),
]


@pytest.mark.parametrize(("values", "expected"), SAMPLE_COUNTS)
def test_sample_count_bounded(
    tmp_path: Path, values: list[str], expected: str | None
) -> None:
    """A count that makes promtool load too many samples is an error at the count."""
    path = tmp_path / "counts.test.yml"
    series = "".join(
        f"      - {{series: 'x{{n=\"{n}\"}}', values: '{text}'}}\n"
        for n, text in enumerate(values)
    )
    path.write_text(
        f"rule_files: []\ntests:\n  - interval: 1m\n    input_series:\n{series}"
        "    promql_expr_test: [{expr: x}]\n"
    )
    found = [str(problem) for problem in _check(path)]
    assert found == ([] if expected is None else [f"{path.name}:{expected}"])


# The message of a test group without interval, after "write interval: <value>".
NO_INTERVAL_END = (
    ", the time between samples. Only promtool 2.49 and later default interval to "
    "evaluation_interval [promtool/test-interval]"
)
NO_INTERVAL = (
    "error: this test group has no interval, so promtool 2.42 loads every input "
    "sample at time 0 and keeps only the first of each series; write interval: "
)
# The message of a test group without alert or expression tests.
NO_CHECKS = (
    "this test group has no alert_rule_test or promql_expr_test, so promtool 2.42 "
    "passes it without checking anything; add an alert test or an expression test, "
    "or remove the group [promtool/empty-test-group]"
)
ZERO_INTERVAL = (
    "loads every input sample at time 0, where promtool 2.42 keeps only the first "
    "of each series; write the time between samples, such as"
)
# (test file text, expected errors): test groups that promtool 2.42 loads with every
# sample at time 0.
BAD_INTERVALS = [
    (
        "tests:\n  - name: a\n    input_series: [{series: up, values: '1'}]\n"
        f"{EXPR_TEST}",
        [f"2:5: {NO_INTERVAL}1m{NO_INTERVAL_END}"],
    ),
    (
        f"evaluation_interval: 30s\ntests:\n  - name: a\n    interval:\n{EXPR_TEST}",
        [f"4:5: {NO_INTERVAL}30s{NO_INTERVAL_END}"],
    ),
    (
        "evaluation_interval: 0s\ntests:\n  -\n",
        [f"3:4: {NO_INTERVAL}1m{NO_INTERVAL_END}", f"3:4: error: {NO_CHECKS}"],
    ),
    (
        f"tests:\n  - interval: 0s\n{EXPR_TEST}",
        [f'2:15: error: interval "0s" {ZERO_INTERVAL} 1m [promtool/test-interval]'],
    ),
    (
        "evaluation_interval: 15s\n"
        "tests:\n  - {interval: 0, name: a, promql_expr_test: [{expr: up}]}\n",
        [f"3:16: error: interval 0 {ZERO_INTERVAL} 15s [promtool/test-interval]"],
    ),
    # An interval that is not a duration gets only the error about its type.
    (
        f"tests:\n  - interval: 5\n{EXPR_TEST}",
        [
            "2:15: error: interval must be a Prometheus duration such as 30s, 5m or "
            "1h30m, not 5 [promtool/test-file]"
        ],
    ),
]


NO_GROUPS = (
    "list the test groups under it, because promtool 2.42 passes a file without "
    "test groups [promtool/no-tests]"
)
# (test file text, expected errors): files that promtool 2.42 passes untested.
NO_TEST_GROUPS = [
    (
        "rule_files: [jobs.rules.yml]\n",
        [
            "1:1: error: this test file has no tests key; list its test groups under "
            "tests, because promtool 2.42 passes a file without test groups "
            "[promtool/no-tests]"
        ],
    ),
    (
        "# No test yet.\nrule_files: [jobs.rules.yml]\ntests:\n",
        [f"3:1: error: tests is empty; {NO_GROUPS}"],
    ),
    (
        "rule_files: [jobs.rules.yml]\ntests: []\n",
        [f"2:1: error: tests is empty; {NO_GROUPS}"],
    ),
    (
        "rule_files: [jobs.rules.yml]\ntest:\n  - interval: 1m\n",
        [
            '2:1: error: unknown key "test" in a test file; promtool 2.42 reads only '
            "rule_files, evaluation_interval, group_eval_order, tests; did you mean "
            '"tests"? [promtool/test-file]',
            "1:1: error: this test file has no tests key, so it runs no test; rename "
            '"test" on line 2 to tests [promtool/no-tests]',
        ],
    ),
]


# (test file text, expected errors): test groups that promtool 2.42 passes without
# checking anything, and one with an empty list beside an expression test.
EMPTY_GROUPS = [
    (
        "rule_files: [jobs.rules.yml]\ntests:\n  - interval: 1m\n"
        "    input_series: [{series: 'jobs_total{job=\"a\"}', values: '1 2 3'}]\n",
        [f"3:5: error: {NO_CHECKS}"],
    ),
    (
        "rule_files: [jobs.rules.yml]\ntests:\n  - interval: 1m\n"
        "    alert_rule_test: []\n    promql_expr_test:\n",
        [f"3:5: error: {NO_CHECKS}"],
    ),
    (
        "rule_files: [jobs.rules.yml]\n"
        "tests: [{interval: 1m}, {interval: 1m, promql_expr_test: null}]\n",
        [f"2:9: error: {NO_CHECKS}", f"2:25: error: {NO_CHECKS}"],
    ),
    (
        "tests:\n  - interval: 1m\n    alert_rule_test: []\n"
        "    promql_expr_test: [{expr: 'jobs:sum', eval_time: 1m}]\n",
        [],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    BAD_INTERVALS + NO_TEST_GROUPS + EMPTY_GROUPS,
    ids=[
        *(f"interval-{case}" for case in ["missing", "null", "null-group"]),
        *(f"interval-{case}" for case in ["zero", "zero-number", "not-duration"]),
        *(f"tests-{case}" for case in ["missing", "null", "empty", "misspelt"]),
        *(f"group-{case}" for case in ["series-only", "empty-lists", "flow"]),
        "group-expr-test",
    ],
)
def test_untested_files_placed(tmp_path: Path, text: str, expected: list[str]) -> None:
    """Test groups and files that check nothing or the wrong samples are errors."""
    path = tmp_path / "untested.test.yml"
    path.write_text(text)
    found = [str(problem) for problem in _check(path)]
    assert found == [f"{path.name}:{line}" for line in expected]


# Three samples that promtool 2.42 loads one minute apart with interval: 1m, and all
# at time 0 without it, where it keeps only the first.
FIRST_SAMPLE_TEST = """\
rule_files: [jobs.rules.yml]
tests:
  - name: last sample
INTERVAL    input_series:
      - {series: 'jobs_total{job="a"}', values: '7 8 9'}
    promql_expr_test:
      - expr: jobs:sum
        eval_time: 2m
        exp_samples: [{labels: 'jobs:sum', value: 7}]
"""


def test_promtool_passes_what_checks_reject(tmp_path: Path) -> None:
    """promtool 2.42 passes these files, which test the wrong samples or nothing."""
    (tmp_path / "jobs.rules.yml").write_text(RULES)
    files = {
        "no-interval.test.yml": FIRST_SAMPLE_TEST.replace("INTERVAL", ""),
        "zero.test.yml": FIRST_SAMPLE_TEST.replace("INTERVAL", "    interval: 0s\n"),
        "interval.test.yml": FIRST_SAMPLE_TEST.replace(
            "INTERVAL", "    interval: 1m\n"
        ),
    }
    for number, (text, _) in enumerate(NO_TEST_GROUPS[:3]):
        files[f"no-groups-{number}.test.yml"] = text
    for number, (text, _) in enumerate(EMPTY_GROUPS[:3]):
        files[f"empty-group-{number}.test.yml"] = text
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    outputs = _promtool_results(tmp_path, sorted(files))
    checks = {name: [p.check for p in _check(tmp_path / name)] for name in files}
    # At one sample a minute, the sample at 2m is 9, not the first sample 7.
    assert 'got: {__name__="jobs:sum"} 9E+00' in outputs["interval.test.yml"]
    assert checks["interval.test.yml"] == []
    for name in ["no-interval.test.yml", "zero.test.yml"]:
        assert "SUCCESS" in outputs[name], outputs[name]
        assert checks[name] == ["promtool/test-interval"]
    for number in range(3):
        name = f"no-groups-{number}.test.yml"
        assert "SUCCESS" in outputs[name], outputs[name]
        assert checks[name] == ["promtool/no-tests"]
    for number in range(3):
        name = f"empty-group-{number}.test.yml"
        assert "SUCCESS" in outputs[name], outputs[name]
        assert set(checks[name]) == {"promtool/empty-test-group"}


# Pieces of the expanding notation and of near misses, which the generator joins.
VALUE_PIECES = [
    "0", "1", "12", "1.5", ".5", "5.", "1e3", "1e", "E", "+", "-", "x", "x", "_",
    " ", " ", "stale", "Inf", "nan", "sum", "{", ",", ".", ":", "\t",
]  # fmt: skip
# Pieces of series and label sets, with keywords, bad escapes and other matchers.
SERIES_PIECES = [
    "up", "up", "job", "sum", "bool", "Inf", ":", "1", "{", "{", "}", "}", "=", "=",
    "!=", ",", " ", '"a"', "'b'", "`c`", '"\\q"', '"\\x41"', '"\\u00e9"', "_", "é",
    'up{a="b"', '{a="b"}', ',c="d"}', 'a=`x`}', "up{}",
]  # fmt: skip


def _generated(pieces: list[str], count: int, seed: int) -> list[str]:
    """Return `count` distinct texts, each one to five random pieces joined."""
    generator = random.Random(seed)
    texts: set[str] = set()
    while len(texts) < count:
        size = generator.randint(1, 5)
        texts.add("".join(generator.choice(pieces) for _ in range(size)))
    return sorted(texts)


def _notation_file(kind: str, text: str) -> dict[str, Any]:
    """Return a test file whose only value of kind `kind` is `text`."""
    series = {"series": "up", "values": "1"}
    group: dict[str, Any] = {"interval": "1m", "input_series": [series]}
    if kind == "labels":
        group["promql_expr_test"] = [
            {
                "expr": "up",
                "eval_time": "0m",
                "exp_samples": [{"labels": text, "value": 1}],
            }
        ]
    else:
        series[kind] = text
    return {"rule_files": ["jobs.rules.yml"], "tests": [group]}


def test_notation_checks_agree_with_promtool(tmp_path: Path) -> None:
    """The series, values and labels checks accept exactly what promtool reads."""
    (tmp_path / "jobs.rules.yml").write_text(RULES)
    valid_values = ["1 _ stale 4 5x2 1+1x2 10-2x2", "-Inf +NaN 1e3x2 _x3 0x4 .5 5."]
    valid_series = ["up{job=\"a\",b='c',d=`e`}", 'a:b{x="\\u00e9\\n"}', '{a="b",}']
    cases = [
        *[("values", text) for text in valid_values + _generated(VALUE_PIECES, 300, 1)],
        *[
            ("series", text)
            for text in valid_series + _generated(SERIES_PIECES, 400, 2)
        ],
        *[
            ("labels", text)
            for text in valid_series + _generated(SERIES_PIECES, 400, 3)
        ],
    ]
    names = []
    for number, (kind, text) in enumerate(cases):
        names.append(f"{number:04d}.test.yml")
        (tmp_path / names[-1]).write_text(yaml.safe_dump(_notation_file(kind, text)))
    outputs = _promtool_results(tmp_path, names)
    checks = {
        "values": values_problem,
        "series": series_problem,
        "labels": labels_problem,
    }
    disagreements = []
    accepted = {"values": 0, "series": 0, "labels": 0}
    for name, (kind, text) in zip(names, cases, strict=True):
        output = outputs[name]
        if kind == "labels":
            promtool_reads = 'err: labels "' not in output
        else:
            promtool_reads = "SUCCESS" in output
        problem = checks[kind](text)
        accepted[kind] += problem is None
        # promtool reads text after a series as more values, which the check rejects.
        stricter = problem is not None and "after the series" in problem.message
        if (problem is None) != promtool_reads and not (promtool_reads and stricter):
            disagreements.append(f"{kind} {text!r}: {problem} / {output.strip()}")
    assert disagreements == []
    # Both outcomes occur often enough for the comparison to mean something.
    for kind, count in accepted.items():
        assert count >= 15, (kind, count)
    assert accepted["values"] <= 280
    assert accepted["series"] <= 380


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-10, 10**6)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["1m", "0", "5", "up", "{}", "1e3", "0x1f", "1_000"])
)
# Single values half of the time, and lists and mappings of them otherwise.
VALUES = SCALARS | st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["series", "values", "expr", "tests", "k", "alertname"]),
            children,
            max_size=3,
        )
    ),
    max_leaves=8,
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    changes=st.dictionaries(
        st.sampled_from(_paths(VALID)), VALUES, min_size=1, max_size=6
    )
)
def test_random_values_never_crash(tmp_path: Path, changes: dict[tuple, Any]) -> None:
    """Random values at several keys of a valid file give errors, not exceptions."""
    # With its rule file in place, the file gets every check of its tests too.
    (tmp_path / "jobs.rules.yml").write_text(RULES)
    data = copy.deepcopy(VALID)
    # The deepest paths first, so that every path still exists when it is changed.
    for path, value in sorted(changes.items(), key=lambda change: -len(change[0])):
        _get(data, path[:-1])[path[-1]] = value
    text = yaml.safe_dump(data, sort_keys=False)
    test_file = tmp_path / "random.test.yml"
    test_file.write_text(text)
    _assert_placed(_check(test_file), text)


def _built_project(tmp_path: Path, real_build: BuildResult) -> Path:
    """Copy the repository's services into a project folder with the built out/."""
    project = tmp_path / "project"
    shutil.copytree(REPO / "services", project / "services")
    shutil.copy(REPO / "obscompile.yaml", project / "obscompile.yaml")
    write_tree(project / "out", real_build.files)
    return project


def test_generated_test_files_pass_checks(
    tmp_path: Path, real_build: BuildResult
) -> None:
    """The test files that the build writes have an interval and test groups."""
    project = _built_project(tmp_path, real_build)
    paths = sorted((project / "out" / "prometheus" / "tests").glob("*.test.yml"))
    assert len(paths) >= 4
    for path in paths:
        assert _check(path) == [], path.name


# A hand-written test file with a number where promtool reads a list of series.
NUMBER_SERIES = (
    "rule_files: [../../out/prometheus/rules/auth_server.rules.yml]\n"
    "tests:\n"
    "  - interval: 1m\n"
    "    input_series: 7\n"
    f"{EXPR_TEST}"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            NUMBER_SERIES,
            "4:19: error: input_series must be a list of series, not 7 "
            "[promtool/test-file]",
        ),
        (
            "",
            "1:1: error: the file is empty; a promtool test file needs "
            "`rule_files:` and `tests:` [yaml/empty]",
        ),
        (
            "# Tests to come.\n",
            "1:1: error: the file is empty; a promtool test file needs "
            "`rule_files:` and `tests:` [yaml/empty]",
        ),
        (
            "---\n",
            "1:1: error: the file is empty; a promtool test file needs "
            "`rule_files:` and `tests:` [yaml/empty]",
        ),
        (
            "rule_files: [../../out/prometheus/rules/auth_server.rules.yml]\n"
            "tests: 5\n",
            "2:8: error: tests must be a list of test groups, not 5 "
            "[promtool/test-file]",
        ),
        (
            f"tests:\n  - interval: 1m\n    fuzzy_compare: true\n{EXPR_TEST}",
            '3:5: error: unknown key "fuzzy_compare" in a test group; promtool '
            "2.42 reads only interval, input_series, alert_rule_test, "
            "promql_expr_test, external_labels, external_url, name "
            "[promtool/test-file]",
        ),
        (
            "tests:\n  - interval: 1m\n    promql_expr_test:\n"
            "      - {expr: up, eval_time: 5}\n",
            "4:31: error: eval_time must be a Prometheus duration such as 30s, 5m or "
            "1h30m, not 5 [promtool/test-file]",
        ),
        (
            "tests: " + "[" * 70 + "]" * 70 + "\n",
            "1:72: error: document is nested more than 64 levels deep, the maximum "
            "for a promtool test file [yaml/limits]",
        ),
        (
            "- rule_files: []\n",
            "1:1: error: a promtool test file must be a mapping with rule_files and "
            "tests, not a list [promtool/test-file]",
        ),
        (
            NUMBER_SERIES.replace("interval: 1m", "name: a").replace(
                ": 7", ": [{series: up, values: '1'}]"
            ),
            f"3:5: {NO_INTERVAL}1m{NO_INTERVAL_END}",
        ),
        (
            "rule_files: [../../out/prometheus/rules/auth_server.rules.yml]\n"
            "tests: []\n",
            f"2:1: error: tests is empty; {NO_GROUPS}",
        ),
        (
            NUMBER_SERIES.replace("7\n", "[]\n").replace(EXPR_TEST, ""),
            f"3:5: error: {NO_CHECKS}",
        ),
    ],
    ids=[
        "number-series",
        "empty",
        "comment-only",
        "document-marker-only",
        "number-tests",
        "unknown-key",
        "number-duration",
        "deep",
        "list-document",
        "no-interval",
        "no-tests",
        "empty-group",
    ],
)
def test_cli_test_places_shape_errors(
    tmp_path: Path, real_build: BuildResult, text: str, expected: str
) -> None:
    promtool_binary()
    project = _built_project(tmp_path, real_build)
    path = write_hand_written(project, "bad.test.yml", text)
    result = obscompile_test("--project", str(project))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{path}:{expected}" in result.stderr
    assert "manifest" not in result.stderr
    assert "1 error in the hand-written tests; no test was run" in result.stderr


def test_cli_test_places_unreadable_bytes(
    tmp_path: Path, real_build: BuildResult
) -> None:
    """Files that are not UTF-8 text are errors at the first bad byte, all at once."""
    promtool_binary()
    project = _built_project(tmp_path, real_build)
    binary = write_hand_written(project, "binary.test.yml", "")
    binary.write_bytes(b"tests:\n  - name: \xff\xfe\x80\n")
    nul = write_hand_written(project, "nul.test.yml", "")
    nul.write_bytes(b"tests: []\n\x00\x01\x02")
    result = obscompile_test("--project", str(project))
    assert result.returncode == 1, result.stderr
    assert f"{binary}:2:11: error: file is not valid UTF-8 [io/read]" in result.stderr
    assert (
        f"{nul}:2:1: error: file contains NUL bytes; a promtool test file is UTF-8 "
        "text [io/read]"
    ) in result.stderr
    assert "2 errors in the hand-written tests; no test was run" in result.stderr
    assert "FAILED" not in result.stdout + result.stderr
