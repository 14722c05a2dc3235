"""Check the shape of a hand-written promtool test file before promtool reads it.

promtool 2.42 decodes a test file with yaml.v2's UnmarshalStrict into the structs of
`cmd/promtool/unittest.go`. It reports a key that it does not know, or a value of the
wrong type, with a line number but no column, and an invalid duration without any
position. This module checks the same structure and reports each such problem at its
line and column. It follows yaml.v2's decoding where that differs from a plain type
check: a text field takes any single value (`alertname: 5` reads as "5"), null is
the empty value of every field, and a list item may be null.

promtool parses the text of `series`, `values`, `labels` and `expr` further, and
reports a mistake there with a position in that text only. Those texts are checked
here too, with the error inside the string at the mistake.

Three mistakes that promtool 2.42 reads without complaint are errors too, because the
tests then check the wrong samples or nothing: a test group without `interval`, a test
group without alert or expression tests, and a file without test groups.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from obscompile.diagnostics import Diagnostic, error
from obscompile.load.durations import NOT_A_DURATION, duration_ms, duration_problem
from obscompile.load.series_notation import (
    NotationProblem,
    labels_problem,
    series_problem,
    values_items,
    values_problem,
)
from obscompile.load.validate import written_number
from obscompile.load.yaml_source import JsonPath, Source

# The check of every error about the structure of a hand-written test file.
TEST_FILE = "promtool/test-file"
# The check of a test group whose interval is missing or 0, which promtool 2.42 reads
# as "load every sample at time 0".
TEST_INTERVAL = "promtool/test-interval"
# The check of a test file without test groups, which promtool passes untested.
NO_TESTS = "promtool/no-tests"
# The check of a test group without alert or expression tests, which promtool passes
# without checking anything.
EMPTY_TEST_GROUP = "promtool/empty-test-group"
# The check of a test group whose input series load more samples than MAX_GROUP_SAMPLES.
TOO_MANY_SAMPLES = "promtool/too-many-samples"
# The maximum number of samples, `_` included, that the input series of one test group
# may load. promtool 2.42 expands each series into a list of its samples and keeps
# them all in memory. With Debian's promtool 2.42 on 2 cores, 10,000,000 samples in
# one series peaked at 0.94 GB of memory and took 1.5 s, and 20,000,000 samples in 20
# series ran out of a 2 GB limit (ulimit -v). A test of 30 days at an interval of 15s
# loads 172,800 samples per series.
MAX_GROUP_SAMPLES = 10_000_000
# The interval that the errors suggest when the file sets no evaluation_interval above
# 0. It is promtool's default evaluation_interval.
_DEFAULT_INTERVAL = "1m"


@attrs.frozen
class _Text:
    """A string field of promtool's structs, with a noun for what it must contain."""

    noun: str
    # The check of the text that promtool parses further, if it does.
    syntax: Callable[[str], NotationProblem | None] | None = None


@attrs.frozen
class _Duration:
    """A model.Duration field, such as `eval_time`."""


@attrs.frozen
class _Number:
    """A float64 field: the `value` of an expected sample."""


@attrs.frozen
class _Labels:
    """A map of label names to values, such as `exp_labels`."""


@attrs.frozen
class _List:
    """A list field, with the plural noun that names its items in messages."""

    item: _Kind
    plural: str


@attrs.frozen
class _Struct:
    """A struct of promtool's test file, with the noun that names it in messages."""

    noun: str
    keys: Mapping[str, _Kind]
    # A key that later promtool versions read, with the first version that reads it.
    later_keys: Mapping[str, str] = attrs.field(factory=dict)


_Kind = _Text | _Duration | _Number | _Labels | _List | _Struct

_DURATION = _Duration()
_LABELS = _Labels()


def _expression_problem(text: str) -> NotationProblem | None:
    """Return where and why the PromQL expression `text` does not parse, or None."""
    from obscompile.check.promql_syntax import query_problem

    problem = query_problem(text)
    if problem is None or "holt_winters" in problem[1]:
        # The parser here follows Prometheus 3, which renamed holt_winters, and
        # promtool 2.42 reads it.
        return None
    offset, message = problem
    return NotationProblem(offset, f"is an {message}")


_SAMPLE = _Struct(
    "expected sample",
    {
        "labels": _Text("a series such as 'up{job=\"api\"}'", labels_problem),
        "value": _Number(),
    },
    later_keys={"histogram": "2.47"},
)
_EXPRESSION_TEST = _Struct(
    "expression test",
    {
        "expr": _Text("a PromQL expression", _expression_problem),
        "eval_time": _DURATION,
        "exp_samples": _List(_SAMPLE, "expected samples"),
    },
)
_ALERT = _Struct("expected alert", {"exp_labels": _LABELS, "exp_annotations": _LABELS})
_ALERT_TEST = _Struct(
    "alert test",
    {
        "eval_time": _DURATION,
        "alertname": _Text("an alert name"),
        "exp_alerts": _List(_ALERT, "expected alerts"),
    },
)
_SERIES = _Struct(
    "input series",
    {
        "series": _Text("a series such as 'up{job=\"api\"}'", series_problem),
        "values": _Text(
            "values in expanding notation such as '0+1x10'", values_problem
        ),
    },
)
_TEST_GROUP = _Struct(
    "test group",
    {
        "interval": _DURATION,
        "input_series": _List(_SERIES, "series"),
        "alert_rule_test": _List(_ALERT_TEST, "alert tests"),
        "promql_expr_test": _List(_EXPRESSION_TEST, "expression tests"),
        "external_labels": _LABELS,
        "external_url": _Text("a URL"),
        "name": _Text("a name"),
    },
    later_keys={"start_timestamp": "3.9"},
)
# The top level of a test file in promtool 2.42, with the later keys from the yaml
# tags of unittest.go in each version.
_TEST_FILE = _Struct(
    "test file",
    {
        "rule_files": _List(_Text("a file name"), "file names"),
        "evaluation_interval": _DURATION,
        "group_eval_order": _List(_Text("a rule group name"), "rule group names"),
        "tests": _List(_TEST_GROUP, "test groups"),
    },
    later_keys={"fuzzy_compare": "3.5"},
)
# The texts that yaml.v2 (YAML 1.1) reads as a float64: decimal, binary, octal and
# hexadecimal integers with optional underscores, decimals, infinity and NaN.
_NUMBER_TEXT = re.compile(
    r"[-+]?(0b[01_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)?"
    r"|\.[0-9_]+([eE][-+]?[0-9]+)?|\.(inf|Inf|INF))|\.(nan|NaN|NAN)"
)


# A number as a plain scalar of YAML writes it, up to a blank, flow indicator or
# comment, and the prefix of an integer in base 2, 8 or 16.
_PLAIN_NUMBER = re.compile(r"[^\s,\[\]{}#]+")
_BASE_PREFIX = re.compile(r"[-+]?0[xXoObB]")


def check_test_file(source: Source) -> list[Diagnostic]:
    """Return an error for each value of a test file that promtool 2.42 cannot read.

    Besides the types, an alert test without `alertname`, an expression test without
    `expr`, an input series without `series` and a rule group named twice in
    `group_eval_order` are errors, because promtool rejects them without naming the
    line. A test group without `interval` or without alert and expression tests, and
    a file without test groups, are errors too, because promtool runs their tests at
    the wrong times or runs none.
    """
    data = source.data
    if not isinstance(data, dict):
        return [
            error(
                source.location(()),
                "a promtool test file must be a mapping with rule_files and tests, "
                f"not {_found(data)}",
                TEST_FILE,
            )
        ]
    checker = _Checker(source)
    checker.struct(data, (), _TEST_FILE)
    checker.repeated_groups(data.get("group_eval_order"))
    return checker.problems


class _Checker:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.problems: list[Diagnostic] = []

    def report(
        self,
        path: JsonPath,
        message: str,
        at_key: bool = False,
        check: str = TEST_FILE,
    ) -> None:
        where = self.source.key_location(path) if at_key else self.source.location(path)
        self.problems.append(error(where, message, check))

    def value(self, value: Any, path: JsonPath, kind: _Kind) -> None:
        """Check `value` at `path`, which is a value of a struct's key, as `kind`."""
        if value is None:
            return  # yaml.v2 leaves the field empty
        key = path[-1]
        if isinstance(kind, _Struct):
            if not isinstance(value, dict):
                self.report(path, f"{key} must be a mapping, not {_found(value)}")
                return
            self.struct(value, path, kind)
        elif isinstance(kind, _List):
            if not isinstance(value, list):
                self.report(
                    path, f"{key} must be a list of {kind.plural}, not {_found(value)}"
                )
                return
            for index, item in enumerate(value):
                self.item(item, (*path, index), key, kind.item)
        elif isinstance(kind, _Text):
            if isinstance(value, dict | list):
                self.report(path, f"{key} must be {kind.noun}, not {_found(value)}")
            elif kind.syntax is not None:
                self.syntax(value, path, kind.syntax)
        elif isinstance(kind, _Duration):
            self.duration(value, path, str(key))
        elif isinstance(kind, _Number):
            style = self.source.text_styles.get(path)
            if (
                isinstance(value, str)
                and style
                and _NUMBER_TEXT.fullmatch(value.strip())
            ):
                self.report(path, _number_as_text(str(key), value.strip(), style))
            elif not _is_number(value):
                self.report(path, f"{key} must be a number, not {_found(value)}")
            else:
                self.number(value, path, str(key))
        else:
            self.labels(value, path, str(key))

    def item(self, item: Any, path: JsonPath, key: str | int, kind: _Kind) -> None:
        """Check an item of the list `key`, where null stands for an empty item."""
        if item is None:
            if isinstance(kind, _Struct):
                self.required(item, path, kind)
            return
        if isinstance(kind, _Struct):
            if not isinstance(item, dict):
                self.report(
                    path,
                    f"an item of {key} must be a mapping, {_a(kind.noun)}, not "
                    f"{_found(item)}",
                )
                return
            self.struct(item, path, kind)
        elif isinstance(item, dict | list) and isinstance(kind, _Text):
            self.report(
                path, f"an item of {key} must be {kind.noun}, not {_found(item)}"
            )

    def struct(self, data: dict[str, Any], path: JsonPath, kind: _Struct) -> None:
        for key, value in data.items():
            if key in kind.keys:
                self.value(value, (*path, key), kind.keys[key])
            else:
                self.report((*path, key), _unknown_key(key, kind), at_key=True)
        self.required(data, path, kind)

    def required(
        self, data: dict[str, Any] | None, path: JsonPath, kind: _Struct
    ) -> None:
        """Report a struct without a key that it needs, or with an empty one.

        promtool fails a test without the key that names what it checks, whatever the
        rules compute, and cannot load such a series. A test group without interval
        or without tests, and a file without test groups, load, but test the wrong
        samples or nothing. A null item of these lists has none of the keys.
        """
        data = data or {}
        if kind is _TEST_GROUP:
            self.interval(data.get("interval"), path)
            self.group_tests(data, path)
            self.group_samples(data.get("input_series"), path)
        if kind is _TEST_FILE:
            self.test_groups(data)
        if kind is _ALERT_TEST and _empty(data.get("alertname")):
            self.report(
                path,
                "this alert test has no alertname; name the alert that it checks, "
                "because promtool rejects the file without it",
            )
        if kind is _SERIES and _empty(data.get("series")):
            self.report(
                path,
                "this input series has no series; write the metric name and labels "
                "of the samples that it loads",
            )
        if kind is _EXPRESSION_TEST and _empty(data.get("expr")):
            self.report(
                path,
                "this expression test has no expr; write the PromQL expression that "
                "it evaluates",
            )

    def interval(self, value: Any, group: JsonPath) -> None:
        """Report a test group's `interval` that is missing, null or a duration of 0.

        promtool 2.42 then loads every sample of the input series at time 0 and keeps
        only the first sample of each series. From 2.49, promtool reads a missing
        interval as evaluation_interval instead.
        """
        suggestion = self.suggested_interval()
        if value is None:
            # At the key when it is written with no value, else at the test group.
            self.report(
                (*group, "interval"),
                "this test group has no interval, so promtool 2.42 loads every input "
                "sample at time 0 and keeps only the first of each series; write "
                f"interval: {suggestion}, the time between samples. Only promtool 2.49 "
                "and later default interval to evaluation_interval",
                at_key=True,
                check=TEST_INTERVAL,
            )
        elif _duration_ms(self.as_written(value, (*group, "interval"))) == 0:
            self.report(
                (*group, "interval"),
                f"interval {self.describe(value, (*group, 'interval'))} loads every input "
                "sample at time 0, where "
                "promtool 2.42 keeps only the first of each series; write the time "
                f"between samples, such as {suggestion}",
                check=TEST_INTERVAL,
            )

    def group_tests(self, data: dict[str, Any], group: JsonPath) -> None:
        """Report a test group whose alert and expression tests are missing or empty.

        promtool 2.42 loads the input series of such a group, checks nothing and
        passes it. A list of tests with a null item already gets the error for the
        alertname or expr that the item lacks.
        """
        tests = (data.get("alert_rule_test"), data.get("promql_expr_test"))
        if all(found in (None, []) for found in tests):
            self.report(
                group,
                "this test group has no alert_rule_test or promql_expr_test, so "
                "promtool 2.42 passes it without checking anything; add an alert test "
                "or an expression test, or remove the group",
                check=EMPTY_TEST_GROUP,
            )

    def group_samples(self, input_series: Any, group: JsonPath) -> None:
        """Report the count in `values` that takes a group over MAX_GROUP_SAMPLES."""
        total = 0
        for index, series in enumerate(
            input_series if isinstance(input_series, list) else ()
        ):
            path = (*group, "input_series", index, "values")
            value = series.get("values") if isinstance(series, dict) else None
            if value is None or isinstance(value, dict | list):
                continue
            text = _scalar_text(self.as_written(value, path))
            if values_problem(text) is not None:
                continue  # already reported
            for item in values_items(text):
                total += item.samples
                if total <= MAX_GROUP_SAMPLES:
                    continue
                if item.samples > MAX_GROUP_SAMPLES:
                    loads = f"loads {item.samples:,} samples"
                    advice = "write a smaller repetition count"
                else:
                    loads = (
                        f"brings the input series of this test group to {total:,} "
                        "samples"
                    )
                    advice = "write smaller counts or split the series over groups"
                message = (
                    f"values {self.describe(value, path)} {loads}, more than the "
                    f"{MAX_GROUP_SAMPLES:,} that a test group may load, because "
                    "promtool 2.42 keeps every sample in memory, up to about 1 GB "
                    f"for {MAX_GROUP_SAMPLES:,}; {advice}"
                )
                offset = item.offset if item.count_offset is None else item.count_offset
                self.report_in_text(value, path, offset, message, TOO_MANY_SAMPLES)
                return

    def suggested_interval(self) -> str:
        """Return the file's evaluation_interval when it is a duration above 0."""
        data = self.source.data
        value = data.get("evaluation_interval") if isinstance(data, dict) else None
        text = self.as_written(value, ("evaluation_interval",))
        if _duration_ms(text):
            return _scalar_text(text)
        return _DEFAULT_INTERVAL

    def test_groups(self, data: dict[str, Any]) -> None:
        """Report a file whose `tests` is missing, null or an empty list.

        promtool 2.42 passes such a file without running a test. A key that is not
        `tests` but close to it already gets an unknown-key error, which this report
        names.
        """
        if "tests" in data:
            if data["tests"] in (None, []):
                self.report(
                    ("tests",),
                    "tests is empty; list the test groups under it, because promtool "
                    "2.42 passes a file without test groups",
                    at_key=True,
                    check=NO_TESTS,
                )
            return
        for key in data:
            if key not in _TEST_FILE.keys and _close_key(key, _TEST_FILE) == "tests":
                line = self.source.key_location((key,)).line
                self.report(
                    (),
                    f'this test file has no tests key, so it runs no test; rename "{key}" '
                    f"on line {line} to tests",
                    check=NO_TESTS,
                )
                return
        self.report(
            (),
            "this test file has no tests key; list its test groups under tests, "
            "because promtool 2.42 passes a file without test groups",
            check=NO_TESTS,
        )

    def syntax(
        self,
        value: Any,
        path: JsonPath,
        check: Callable[[str], NotationProblem | None],
    ) -> None:
        """Report the first mistake that `check` finds in the text of `value`.

        The error points into a string at the mistake. yaml.v2 reads another single
        value, such as a number, as its text, and the error points at its start.
        """
        text = _scalar_text(self.as_written(value, path))
        problem = check(text)
        if problem is None:
            return
        message = f"{path[-1]} {self.describe(value, path)} {problem.message}"
        self.report_in_text(value, path, problem.offset, message, TEST_FILE)

    def report_in_text(
        self, value: Any, path: JsonPath, offset: int, message: str, check: str
    ) -> None:
        """Report an error at character `offset` of a string, or at another value."""
        from obscompile.check.positions import text_location

        where = self.source.location(path)
        if isinstance(value, str):
            sources = {where.file: self.source.text}
            where = text_location(where, value, offset, sources)
        self.problems.append(error(where, message, check))

    def duration(self, value: Any, path: JsonPath, key: str) -> None:
        if isinstance(value, dict | list | bool):
            problem: str | None = NOT_A_DURATION
        else:
            problem = duration_problem(_scalar_text(self.as_written(value, path)))
        if problem == NOT_A_DURATION:
            self.report(
                path,
                f"{key} must be a Prometheus duration such as 30s, 5m or 1h30m, not "
                f"{self.describe(value, path)}",
            )
        elif problem is not None:
            self.report(path, f"{key} {self.describe(value, path)} is {problem}")

    def number(self, value: Any, path: JsonPath, key: str) -> None:
        """Report a number that yaml.v2 reads as text, which promtool then rejects.

        yaml.v2 reads a number as a float64 only when Go's strconv parses it: an
        integer of at most 64 bits, or a decimal that is not beyond the largest
        double. Python reads the others as an int, or as an infinity.

        NaN is an error too: promtool 2.42 compares the expected and the actual
        samples with reflect.DeepEqual, for which NaN equals no value, not even NaN.
        """
        if isinstance(value, float) and math.isnan(value):
            self.report(
                path,
                f"{key} {_found(value)} never matches: promtool 2.42 compares samples "
                "exactly, and NaN equals no value, not even NaN; to check that x is "
                "NaN, expect the value 1 of count(x != x)",
            )
            return
        if isinstance(value, float) and math.isinf(value):
            text = self.source.written.get(path, "")
            if text.lstrip("+-").lower() == ".inf":
                return
            beyond_double = True
        elif isinstance(value, int) and not -(2**63) <= value < 2**64:
            text = self.as_written(value, path)
            try:
                float(value)
            except OverflowError:
                beyond_double = True
            else:
                if not _BASE_PREFIX.match(text):
                    return  # a decimal, which yaml.v2 reads as a float
                beyond_double = False
        else:
            return
        written = written_number(text)
        subject = written if written.startswith("a ") else f"the number {written}"
        if beyond_double:
            problem = "beyond the largest double, about 1.8e308"
            advice = "write a smaller number, or .inf for an infinite value"
        else:
            problem = "an integer of more than 64 bits in base 2, 8 or 16"
            advice = "write it in decimal"
        self.report(
            path,
            f"{key} is {subject}, {problem}, which promtool 2.42 reads as text and "
            f"rejects; {advice}",
        )

    def as_written(self, value: Any, path: JsonPath) -> Any:
        """Return a number at `path` as its text in the file, and other values as is.

        yaml.v2 reads a number into a string field, such as a duration, as written,
        where Python reads 00 as 0, 1_0 as 10 and 1e-400 as 0.0.
        """
        if not isinstance(value, int | float) or isinstance(value, bool):
            return value
        written = self.source.written.get(path)
        if written is not None:
            return written
        where = self.source.location(path)
        line = self.source.text.splitlines()[where.line - 1]
        found = _PLAIN_NUMBER.match(line, where.column - 1)
        return _scalar_text(value) if found is None else found.group()

    def describe(self, value: Any, path: JsonPath) -> str:
        """Describe a value for a message, a number as written."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            return written_number(self.as_written(value, path))
        return _found(value)

    def labels(self, value: Any, path: JsonPath, key: str) -> None:
        if not isinstance(value, dict):
            self.report(
                path,
                f"{key} must be a mapping of label names to values, not "
                f"{_found(value)}",
            )
            return
        for name, label_value in value.items():
            if isinstance(label_value, dict | list):
                self.report(
                    (*path, name),
                    f"the value of label {name} in {key} must be a single value, "
                    f"not {_found(label_value)}",
                )

    def repeated_groups(self, names: Any) -> None:
        """Report a rule group that `group_eval_order` names a second time."""
        if not isinstance(names, list):
            return
        seen: dict[str, int] = {}
        for index, name in enumerate(names):
            if isinstance(name, dict | list):
                continue
            text = _scalar_text(name)
            path: JsonPath = ("group_eval_order", index)
            if text in seen:
                first = self.source.location(("group_eval_order", seen[text]))
                self.report(
                    path,
                    f'rule group "{text}" is already listed in group_eval_order at '
                    f"line {first.line}; promtool rejects a repeated name",
                )
            else:
                seen[text] = index


def _number_as_text(key: str, number: str, style: str) -> str:
    """Return the error message for a number that YAML reads as text as it is written.

    yaml.v2 decodes only a plain scalar without a tag into a float64, so promtool 2.42
    rejects `value: '1'`, `value: !!str 1` and a block scalar, and reads `value: 1`.
    """
    if style in "'\"":
        written = f"{key} {style}{number}{style} is quoted"
        advice = "drop the quotes"
    elif style in "|>":
        written = f"{key} {number} is a block scalar ({style})"
        advice = f"write the number on the line of {key}, without {style}"
    else:
        written = f"{key} {number} has a tag that makes it text"
        advice = "remove the tag"
    return (
        f"{written}, so promtool 2.42 reads it as text and rejects it; {advice}: "
        f"{key}: {number}"
    )


def _unknown_key(key: str, kind: _Struct) -> str:
    message = f'unknown key "{key}" in {_a(kind.noun)}'
    version = kind.later_keys.get(key)
    if version is not None:
        return f"{message}: promtool reads it from version {version}, but not 2.42"
    message += f"; promtool 2.42 reads only {', '.join(kind.keys)}"
    close = _close_key(key, kind)
    if close is not None:
        message += f'; did you mean "{close}"?'
    return message


def _close_key(key: str, kind: _Struct) -> str | None:
    """Return the key of `kind` that the unknown `key` is most likely a typo of."""
    close = difflib.get_close_matches(key, list(kind.keys), n=1)
    return close[0] if close else None


def _a(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"


def _empty(value: Any) -> bool:
    """Return True for a value that yaml.v2 reads into a string field as ""."""
    return value is None or value == ""


def _duration_ms(value: Any) -> int | None:
    """Return a single value that Prometheus reads as a duration in ms, else None."""
    if value is None or isinstance(value, dict | list | bool):
        return None
    text = _scalar_text(value)
    if duration_problem(text) is not None:
        return None
    return duration_ms(text)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and _NUMBER_TEXT.fullmatch(value) is not None


def _scalar_text(value: Any) -> str:
    """Return the text of a single value as yaml.v2 reads it into a string field."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
    return "" if value is None else str(value)


def _found(value: Any) -> str:
    """Describe a value for a message: its text, or the kind of a collection."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, str):
        excerpt = value if len(value) <= 40 else value[:37] + "..."
        return f'"{excerpt}"'
    return _scalar_text(value)
