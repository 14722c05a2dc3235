"""Run promtool unit tests, each generated test group with only the rules it reads.

promtool 2.42 evaluates every rule of a test file's `rule_files` at every evaluation
step of every test group. So one service's test file costs about groups x rules x
steps, which grows with the square of the service's alerts. Here a generated test
file is split into shards, which run in several promtool processes at once. A shard
is a test file with some of the original test groups and a rule file with some of
the rules, both copied byte for byte from the originals.

A shard keeps the alerting rules that its `alert_rule_test` cases name, and the
rules that write a series that a kept rule or a `promql_expr_test` reads, which
are kept in turn. A recording rule writes its record, and an alerting rule writes
`ALERTS` and `ALERTS_FOR_STATE`. Every other rule writes nothing that the shard's
checks or its kept rules read, so each check reads the same series and alerts as
in the whole file.

A rule that no check depends on in this way is kept by each shard with a series
that it may select, because in the whole file it reads every test group's series. It goes to the first shard when it selects none, so that every rule is
evaluated at least once and its evaluation errors still fail the run. A selector
is compared with a series by metric name and by its `=` and `!=` matchers. A regex
matcher is taken to match, and a selector without a metric name matches every
series.

NOTE: a rule that some check depends on runs only in the shards of the test groups
that depend on it. An evaluation error that it gives only for the input series of
another test group, such as a many-to-many match, fails the whole file but no
shard.

A file runs whole when it cannot be split exactly. That is a file in flow style or
with anchors, aliases or tags, a file with a query that does not parse, and a file
whose shards do not read back as the original's data (see `_verify`).

promtool 2.42 opens a TSDB folder `test_storage*` for each test group in its
temporary folder (Go's `os.TempDir`, so `$TMPDIR` or /tmp) and removes it only
when the group ends normally. So each promtool process gets a folder of its own as
`TMPDIR`, inside one folder that `run_units` removes when the run ends, also by an
exception such as KeyboardInterrupt, after it has stopped the running processes.
`obscompile test` turns SIGTERM into such an exception.

NOTE: SIGKILL of obscompile itself leaves the folder and its running processes.
"""

from __future__ import annotations

import bisect
import functools
import glob
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import promql_parser as pp
from ruamel.yaml import events
from ruamel.yaml.error import YAMLError
from ruamel.yaml.main import CParser

from obscompile import promql
from obscompile.load.durations import duration_ms
from obscompile.render.yaml_read import read_yaml
from obscompile.yaml_loader import C_PARSER_DEPTH, looks_deep

# The series that Prometheus writes for each alerting rule.
ALERT_SERIES = ("ALERTS", "ALERTS_FOR_STATE")
# The line that promtool 2.42 prints before the results of each test file.
UNIT_TESTING = "Unit Testing:  "
# Batches per process. More batches than processes even out the processes' loads
# where the cost estimate of a batch is off.
BATCHES_PER_JOB = 4
# The maximum number of shard files in one promtool command line. Their names take
# about 7 KiB, far below the 2 MiB that Linux allows by default.
MAX_BATCH_FILES = 400
# The cost of setting up one test group, its storage and rule manager, in rule
# evaluations. An estimate from promtool 2.42 on the generated tests of a 200-panel
# service on 2 processors: about 7 ms per test group, 80 us per rule evaluation.
GROUP_COST = 90
# The test groups that a failure report names for each failed shard.
REPORTED_GROUPS = 3
# The seconds that a promtool process gets to end after SIGTERM before it gets
# SIGKILL, when a run stops early.
STOP_SECONDS = 5.0
# The plain scalars that YAML reads as null.
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})


class _CannotSplit(Exception):
    """The file is not in a form that `_split` can copy exactly."""


@attrs.frozen
class Unit:
    """A test file for one promtool run, and the file to report it as."""

    # The file that promtool reads.
    path: Path
    # The test file that the output names: the original of a shard.
    original: Path
    # The names of a shard's test groups, None for a whole file.
    groups: tuple[str, ...] | None
    # An estimate of the run's cost, in rule evaluations.
    cost: int


@attrs.frozen
class Outcome:
    """Whether promtool passed a unit, and what it printed about it."""

    unit: Unit
    passed: bool
    output: str


def plan_units(
    generated: Sequence[Path], hand_written: Sequence[Path], folder: Path
) -> list[Unit]:
    """Split the generated test files into shards, written under `folder`.

    Returns the shards, then the hand-written test files. A generated file that
    cannot be split is one unit, and so is each hand-written file.
    """
    units: list[Unit] = []
    for number, path in enumerate(generated):
        try:
            units.extend(_split(path, folder / f"{number:04d}"))
        except _CannotSplit:
            units.append(Unit(path, path, None, 0))
    units.extend(Unit(path, path, None, 0) for path in hand_written)
    return units


def run_units(units: Sequence[Unit], jobs: int) -> list[Outcome]:
    """Run promtool on the units in up to `jobs` processes at once.

    Returns one outcome per unit, in the order of `units`.
    """
    batches = _batches(units, jobs)
    processes = _Processes()
    try:
        pool = ThreadPoolExecutor(max(1, min(jobs, len(batches))))
        try:
            results = list(pool.map(functools.partial(_run_batch, processes), batches))
        finally:
            # After an exception, such as KeyboardInterrupt or a failed batch, the
            # running batches end and no other batch starts.
            processes.stop()
            pool.shutdown(wait=True, cancel_futures=True)
    finally:
        shutil.rmtree(processes.root, ignore_errors=True)
    return [outcome for batch in results for outcome in batch]


def failure_report(outcomes: Sequence[Outcome]) -> str:
    """Return promtool's output about the failed units, under their original files.

    promtool's messages name no test group, so the report names the test groups of
    each failed shard.
    """
    lines: list[str] = []
    current: Path | None = None
    for outcome in outcomes:
        if outcome.passed:
            continue
        unit = outcome.unit
        if unit.original != current:
            if lines:
                lines.append("")
            lines.append(f"{UNIT_TESTING}{unit.original}")
            current = unit.original
        if unit.groups is not None:
            lines.append(f"  in {_group_names(unit.groups)}:")
        lines.extend(line for line in outcome.output.splitlines() if line.strip())
    return "\n".join(lines) + "\n" if lines else ""


def _group_names(names: Sequence[str]) -> str:
    """Return the first few names of test groups, and how many more there are."""
    listed = ", ".join(repr(name) for name in names[:REPORTED_GROUPS])
    if len(names) > REPORTED_GROUPS:
        listed += f" and {len(names) - REPORTED_GROUPS} more"
    if len(names) == 1:
        return f"the test group {listed}"
    return f"the test groups {listed}"


# Running promtool -------------------------------------------------------------------


def _batches(units: Sequence[Unit], jobs: int) -> list[list[Unit]]:
    """Cut the units, in order, into batches of about equal estimated cost.

    A whole file is a batch of its own, because its cost is not estimated.
    """
    total = sum(unit.cost for unit in units)
    target = total / (jobs * BATCHES_PER_JOB)
    batches: list[list[Unit]] = []
    current: list[Unit] = []
    cost = 0
    for unit in units:
        if unit.groups is None:
            batches.append([unit])
            continue
        if current and current[0].path.parent != unit.path.parent:
            batches.append(current)
            current, cost = [], 0
        current.append(unit)
        cost += unit.cost
        if cost >= target or len(current) >= MAX_BATCH_FILES:
            batches.append(current)
            current, cost = [], 0
    if current:
        batches.append(current)
    return batches


class _Stopped(Exception):
    """The run stopped before this promtool process started."""


class _Processes:
    """The promtool processes of one run, each with its own temporary folder.

    The temporary folders are inside `root`, which the caller removes once every
    process has ended.
    """

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="obscompile-promtool-"))
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[str]] = set()
        self._stopped = False

    def run(self, arguments: list[str], cwd: Path | None) -> tuple[int, str]:
        """Run promtool with `arguments` and return its exit code and output.

        Raises _Stopped after `stop`.
        """
        temporary = tempfile.mkdtemp(prefix="promtool-", dir=self.root)
        try:
            with self._lock:
                if self._stopped:
                    raise _Stopped()
                process = subprocess.Popen(
                    ["promtool", *arguments],
                    cwd=cwd,
                    env={**os.environ, "TMPDIR": temporary},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    # promtool writes paths as their bytes, which need not be UTF-8.
                    errors="surrogateescape",
                )
                self._running.add(process)
            try:
                output, _ = process.communicate()
            finally:
                with self._lock:
                    self._running.discard(process)
            return process.returncode, output
        finally:
            # A promtool that failed or was killed leaves its test groups' storage.
            shutil.rmtree(temporary, ignore_errors=True)

    def stop(self) -> None:
        """Send SIGTERM to the running processes, wait for them, and start no more.

        A process that is still running after STOP_SECONDS gets SIGKILL.
        """
        with self._lock:
            self._stopped = True
            running = list(self._running)
        for process in running:
            process.terminate()
        for process in running:
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _run_batch(processes: _Processes, batch: list[Unit]) -> list[Outcome]:
    """Run one promtool process on the files of `batch`, and split its output by file.

    The shards of a batch share a folder, which the process runs in, so their
    names are short. A whole file is named by its path.
    """
    shards = batch[0].groups is not None
    names = [unit.path.name if shards else str(unit.path) for unit in batch]
    returncode, output = processes.run(
        ["test", "rules", *names], batch[0].path.parent if shards else None
    )
    if returncode < 0:
        # The note goes to the file that promtool was testing, or else to the first.
        output += f"\npromtool was killed by signal {-returncode}\n"
    sections = _sections(output, names)
    outcomes = []
    reported = False
    for unit, name in zip(batch, names, strict=True):
        lines = sections.get(name)
        if lines is not None:
            stripped = [line.strip() for line in lines]
            passed = "SUCCESS" in stripped and "FAILED:" not in stripped
            outcomes.append(Outcome(unit, passed, "\n".join(lines)))
        elif not reported:
            # promtool stopped before this file, and its whole output is the reason.
            outcomes.append(Outcome(unit, False, output))
            reported = True
        else:
            stopped = f"promtool stopped before this file, with exit code {returncode}"
            outcomes.append(Outcome(unit, False, stopped))
    return outcomes


def _sections(output: str, names: Sequence[str]) -> dict[str, list[str]]:
    """Return the lines that promtool printed after each file's `Unit Testing` line."""
    known = set(names)
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        name = line.removeprefix(UNIT_TESTING)
        if name != line and name in known:
            current = sections.setdefault(name, [])
        elif current is not None:
            current.append(line)
    return sections


# Reading the YAML structure ---------------------------------------------------------


@attrs.define(slots=True)
class _Node:
    """A YAML node with where it starts: a mapping, a sequence or a scalar."""

    kind: str
    # The offset in the text, in characters, and the column of its first character.
    start: int
    column: int
    # A mapping's (key, value) pairs, or a sequence's items.
    items: list[Any]
    flow: bool = False
    # A scalar's text, and whether it is a plain null.
    text: str = ""
    null: bool = False

    @property
    def line_start(self) -> int:
        """Return the offset of the start of the line where the node starts."""
        return self.start - self.column

    def entries(self) -> dict[str, tuple[_Node, _Node]]:
        """Return a block mapping's entries by key, with their key and value nodes."""
        if self.kind != "map" or self.flow:
            raise _CannotSplit()
        found = {}
        for key, value in self.items:
            if key.kind != "scalar" or key.text in found:
                raise _CannotSplit()
            found[key.text] = (key, value)
        return found

    def sequence(self) -> list[_Node]:
        """Return the items of a sequence, or none for a null."""
        if self.kind == "scalar" and self.null:
            return []
        if self.kind != "seq":
            raise _CannotSplit()
        return self.items

    def scalar(self) -> str:
        if self.kind != "scalar":
            raise _CannotSplit()
        return self.text


def _compose(text: str) -> _Node:
    """Return the top node of a one-document YAML text.

    Raises _CannotSplit for invalid YAML, for anchors, aliases and tags, and for a
    text nested deeper than the C parser reads (see `looks_deep`).
    """
    if CParser is None or looks_deep(text, C_PARSER_DEPTH):
        raise _CannotSplit()
    parser = CParser(text)
    try:
        next_event = parser.get_event
        next_event()  # the stream's start
        if not isinstance(next_event(), events.DocumentStartEvent):
            raise _CannotSplit()
        top = _node(next_event, next_event())
        if not isinstance(next_event(), events.DocumentEndEvent):
            raise _CannotSplit()
        if not isinstance(next_event(), events.StreamEndEvent):
            raise _CannotSplit()
    except (YAMLError, ValueError, RecursionError):
        raise _CannotSplit() from None
    return top


def _node(next_event: Any, event: Any) -> _Node:
    if not isinstance(
        event, events.ScalarEvent | events.SequenceStartEvent | events.MappingStartEvent
    ):
        raise _CannotSplit()  # an alias
    if event.anchor is not None or event.tag is not None:
        raise _CannotSplit()
    mark = event.start_mark
    if isinstance(event, events.ScalarEvent):
        plain = not event.style
        null = plain and event.value in _NULLS
        return _Node("scalar", mark.index, mark.column, [], text=event.value, null=null)
    node = _Node(
        "map" if isinstance(event, events.MappingStartEvent) else "seq",
        mark.index,
        mark.column,
        [],
        flow=bool(event.flow_style),
    )
    end = events.MappingEndEvent if node.kind == "map" else events.SequenceEndEvent
    while True:
        item = next_event()
        if isinstance(item, end):
            return node
        child = _node(next_event, item)
        if node.kind == "map":
            node.items.append((child, _node(next_event, next_event())))
        else:
            node.items.append(child)


def _item_starts(text: str, sequence: _Node) -> list[int]:
    """Return where each item of a block sequence starts: the line of its `- `."""
    items = sequence.sequence()
    if sequence.flow and items:
        raise _CannotSplit()
    starts = []
    for item in items:
        # The item must start on the line of its dash, after nothing but the dash.
        if text[item.line_start : item.start].strip() != "-":
            raise _CannotSplit()
        starts.append(item.line_start)
    return starts


def _with_newline(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


# Splitting a test file --------------------------------------------------------------


@attrs.frozen
class _Selector:
    """The series that a selector may match: a metric name (None: any) and matchers."""

    name: str | None
    # (label, operator, value), with the operator as PromQL writes it.
    matchers: tuple[tuple[str, str, str], ...]

    def may_match(self, name: str | None, labels: dict[str, str]) -> bool:
        """Return False only when the selector cannot select this series."""
        if self.name is not None and name is not None and self.name != name:
            return False
        for label, operator, value in self.matchers:
            if operator == "=" and labels.get(label, "") != value:
                return False
            if operator == "!=" and labels.get(label, "") == value:
                return False
        return True


@attrs.frozen(eq=False)
class _Rule:
    """One rule of a rule file: where its text is, and what it writes and reads."""

    file: int
    # The position of the rule in its file, of its group in the file, and of the
    # rule in its group.
    number: int
    group: int
    position: int
    start: int
    end: int
    alert: str | None
    writes: tuple[str, ...]
    reads: tuple[_Selector, ...]


@attrs.frozen
class _RuleFile:
    """A rule file's text and data, its rules, and the text around them."""

    text: str
    data: Any
    rules: tuple[_Rule, ...]
    # The text before each rule that does not belong to the rule before, such as
    # the start of its group, by the rule's number. The text after the last rule
    # has the number of rules.
    gaps: tuple[tuple[int, str], ...]

    def shard_text(self, kept: Sequence[_Rule]) -> str:
        """Return the file's text with only the rules `kept`, in file order."""
        parts = []
        gaps = iter(self.gaps)
        gap = next(gaps, None)
        for rule in kept:
            while gap is not None and gap[0] <= rule.number:
                parts.append(gap[1])
                gap = next(gaps, None)
            parts.append(self.text[rule.start : rule.end])
        while gap is not None:
            parts.append(gap[1])
            gap = next(gaps, None)
        return "".join(parts)

    def shard_data(self, kept: Sequence[_Rule]) -> Any:
        """Return the file's data with only the rules `kept`.

        A group whose rules are all left out has null rules, as its text reads.
        """
        groups = list(self.data["groups"])
        chosen: dict[int, list[Any]] = {}
        for rule in kept:
            group_rules = groups[rule.group]["rules"]
            chosen.setdefault(rule.group, []).append(group_rules[rule.position])
        for number, group in enumerate(groups):
            if group.get("rules"):
                groups[number] = {**group, "rules": chosen.get(number)}
        return {**self.data, "groups": groups}


@attrs.frozen
class _Case:
    """One test group of a test file: its text and what its checks depend on."""

    # The position of the test group in the file.
    number: int
    start: int
    end: int
    name: str
    # The metric name and labels of each input series.
    inputs: tuple[tuple[str | None, tuple[tuple[str, str], ...]], ...]
    alertnames: tuple[str, ...]
    reads: tuple[_Selector, ...]
    # Rule evaluations until the last check, at the file's evaluation interval.
    steps: int


@attrs.frozen
class _Shard:
    """Test groups of one file and the rules that they keep, both in file order."""

    cases: tuple[_Case, ...]
    rules: tuple[_Rule, ...]


def _split(path: Path, folder: Path) -> list[Unit]:
    """Write the shards of the test file `path` into `folder`, and return them.

    Raises _CannotSplit when the file cannot be split exactly.
    """
    text = _read(path)
    top = _compose(text)
    entries = top.entries()
    if "tests" not in entries or "rule_files" not in entries:
        raise _CannotSplit()
    rule_files = [
        _rule_file(_read(rule_path), number)
        for number, rule_path in enumerate(_rule_paths(path, entries))
    ]
    rules = [rule for rule_file in rule_files for rule in rule_file.rules]
    interval = entries.get("evaluation_interval")
    interval_ms = _duration_ms(interval[1].scalar() if interval else "1m")
    cases = _cases(text, top, interval_ms)
    if not cases:
        raise _CannotSplit()
    header = _header(text, top)
    folder.mkdir(parents=True)
    written = []
    for number, shard in enumerate(_shards(cases, rules)):
        by_file: dict[int, list[_Rule]] = {}
        for rule in shard.rules:
            by_file.setdefault(rule.file, []).append(rule)
        names = {}
        for file_number, kept in by_file.items():
            name = f"{number:05d}.{file_number}.rules.yml"
            shard_rules = rule_files[file_number].shard_text(kept)
            (folder / name).write_text(shard_rules, encoding="utf-8")
            names[name] = (rule_files[file_number], kept)
        lines = ["rule_files:" if names else "rule_files: []"]
        lines += [f"  - {name}" for name in names]
        lines.append("tests:")
        test_text = header + "\n".join(lines) + "\n"
        test_text += "".join(_with_newline(text[c.start : c.end]) for c in shard.cases)
        test_file = folder / f"{number:05d}.test.yml"
        test_file.write_text(test_text, encoding="utf-8")
        cost = sum(
            GROUP_COST + case.steps * (len(shard.rules) + 1) for case in shard.cases
        )
        groups = tuple(case.name for case in shard.cases)
        written.append((Unit(test_file, path, groups, cost), shard, names))
    _verify(text, written)
    return [unit for unit, _, _ in written]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise _CannotSplit() from None


def _rule_paths(path: Path, entries: dict[str, tuple[_Node, _Node]]) -> list[Path]:
    """Return the rule files that promtool loads for a test file, in its order.

    promtool reads each entry of `rule_files` as a glob pattern relative to the
    test file's folder.
    """
    found: list[Path] = []
    for entry in entries["rule_files"][1].sequence():
        pattern = entry.scalar()
        if not pattern:
            raise _CannotSplit()
        matches = glob.glob(os.path.join(path.parent, pattern))
        found.extend(Path(match) for match in sorted(matches))
    if len(set(found)) != len(found):
        raise _CannotSplit()
    return found


def _header(text: str, top: _Node) -> str:
    """Return the test file's text without its `rule_files` and `tests` entries."""
    keys = [key for key, _ in top.items]
    if any(key.column for key in keys):
        raise _CannotSplit()
    starts = [key.line_start for key in keys]
    parts = [text[: starts[0]]]
    for key, start, end in zip(keys, starts, [*starts[1:], len(text)], strict=True):
        if key.text not in ("rule_files", "tests"):
            parts.append(_with_newline(text[start:end]))
    return "".join(parts)


def _rule_file(text: str, file: int) -> _RuleFile:
    """Read a rule file, with the offsets of each rule's text.

    A rule's text runs from the line of its `- ` to the next rule, the next key of
    its group, the next group or the next key of the file, whichever comes first.
    """
    top = _compose(text)
    entries = top.entries()
    if "groups" not in entries:
        raise _CannotSplit()
    groups = entries["groups"][1]
    boundaries = [key.line_start for key, _ in top.items]
    boundaries += _item_starts(text, groups)
    rule_nodes: list[tuple[int, int, int, _Node]] = []
    for group_number, group in enumerate(groups.sequence()):
        group_entries = group.entries()
        boundaries += [key.line_start for key, _ in group.items]
        if "rules" in group_entries:
            rules_node = group_entries["rules"][1]
            starts = _item_starts(text, rules_node)
            boundaries += starts
            for position, (start, node) in enumerate(
                zip(starts, rules_node.sequence(), strict=True)
            ):
                rule_nodes.append((group_number, position, start, node))
    boundaries.append(len(text))
    boundaries.sort()
    rules = []
    gaps = []
    previous_end = 0
    for number, (group_number, position, start, node) in enumerate(rule_nodes):
        fields = {
            key: value.text
            for key, (_, value) in node.entries().items()
            if value.kind == "scalar"
        }
        alert = fields.get("alert")
        record = fields.get("record")
        if (alert is None) == (record is None) or "expr" not in fields:
            raise _CannotSplit()
        writes = ALERT_SERIES if record is None else (record,)
        end = boundaries[bisect.bisect_right(boundaries, start)]
        reads = _reads(fields["expr"])
        rules.append(
            _Rule(
                file, number, group_number, position, start, end, alert, writes, reads
            )
        )
        if start > previous_end:
            gaps.append((number, text[previous_end:start]))
        previous_end = end
    if previous_end < len(text):
        gaps.append((len(rules), text[previous_end:]))
    return _RuleFile(text, _load(text), tuple(rules), tuple(gaps))


@functools.lru_cache(maxsize=4096)
def _reads(query: str) -> tuple[_Selector, ...]:
    """Return what each selector of `query` may match."""
    try:
        node = promql.parse(query)
    except promql.QueryError:
        raise _CannotSplit() from None
    found = []
    for selector in promql.selectors(node):
        matchers = tuple(
            (m.name, promql.match_operator(m), m.value)
            for m in selector.matchers.matchers
        )
        name = selector.name or None
        if name is None:
            names = [v for label, op, v in matchers if (label, op) == ("__name__", "=")]
            name = names[0] if names else None
        found.append(_Selector(name, matchers))
    return tuple(dict.fromkeys(found))


def _cases(text: str, top: _Node, interval_ms: int) -> list[_Case]:
    """Return the test groups of a test file with the offsets of their text.

    The text of the last test group ends at the next key of the file.
    """
    tests = top.entries()["tests"][1]
    starts = _item_starts(text, tests)
    if not starts:
        return []
    later = [key.line_start for key, _ in top.items if key.line_start > starts[-1]]
    ends = [*starts[1:], min(later, default=len(text))]
    cases = []
    for number, node in enumerate(tests.sequence()):
        entries = node.entries()
        inputs = tuple(
            _input_series(series) for series in _items(entries, "input_series")
        )
        alertnames = []
        last_ms = 0
        for check in _items(entries, "alert_rule_test"):
            fields = check.entries()
            alertnames.append(_field(fields, "alertname"))
            last_ms = max(last_ms, _duration_ms(_field(fields, "eval_time", "0s")))
        reads: list[_Selector] = []
        for check in _items(entries, "promql_expr_test"):
            fields = check.entries()
            reads += _reads(_field(fields, "expr"))
            last_ms = max(last_ms, _duration_ms(_field(fields, "eval_time", "0s")))
        cases.append(
            _Case(
                number=number,
                start=starts[number],
                end=ends[number],
                name=_field(entries, "name", ""),
                inputs=inputs,
                alertnames=tuple(alertnames),
                reads=tuple(dict.fromkeys(reads)),
                steps=last_ms // max(1, interval_ms) + 1,
            )
        )
    return cases


def _items(entries: dict[str, tuple[_Node, _Node]], key: str) -> list[_Node]:
    return entries[key][1].sequence() if key in entries else []


def _field(
    entries: dict[str, tuple[_Node, _Node]], key: str, default: str | None = None
) -> str:
    if key not in entries:
        if default is None:
            raise _CannotSplit()
        return default
    return entries[key][1].scalar()


def _input_series(node: _Node) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """Return the metric name and labels of an input series, as promtool reads them."""
    return _series_labels(_field(node.entries(), "series"))


@functools.lru_cache(maxsize=4096)
def _series_labels(series: str) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    try:
        selector = promql.parse(series)
    except promql.QueryError:
        raise _CannotSplit() from None
    if not isinstance(selector, pp.VectorSelector):
        raise _CannotSplit()
    labels = {}
    for matcher in selector.matchers.matchers:
        if promql.match_operator(matcher) != "=":
            raise _CannotSplit()
        labels[matcher.name] = matcher.value
    if selector.name:
        labels["__name__"] = selector.name
    return labels.get("__name__"), tuple(sorted(labels.items()))


def _duration_ms(text: str) -> int:
    try:
        return duration_ms(text)
    except ValueError:
        raise _CannotSplit() from None


# Choosing the rules of each shard ---------------------------------------------------


class _Index:
    """An index of a test file's rules by the names that they read and write."""

    def __init__(self, rules: Sequence[_Rule]) -> None:
        self.rules = rules
        self.readers: dict[str, list[int]] = {}
        self.any_readers: list[int] = []
        self.writers: dict[str, list[int]] = {}
        self.alerts: dict[str, list[int]] = {}
        for number, rule in enumerate(rules):
            for name in rule.writes:
                self.writers.setdefault(name, []).append(number)
            if rule.alert is not None:
                self.alerts.setdefault(rule.alert, []).append(number)
            named = {selector.name for selector in rule.reads}
            if None in named:
                self.any_readers.append(number)
            for read in named - {None}:
                self.readers.setdefault(str(read), []).append(number)

    def writers_of(self, selector: _Selector) -> Sequence[int]:
        if selector.name is None:
            return range(len(self.rules))
        return self.writers.get(selector.name, ())

    def readers_of(self, name: str | None) -> Sequence[int]:
        if name is None:
            return range(len(self.rules))
        return [*self.readers.get(name, ()), *self.any_readers]

    def seeds(self, case: _Case) -> list[int]:
        """Return the rules that the checks of a test group name or read."""
        found = [n for name in case.alertnames for n in self.alerts.get(name, ())]
        for selector in case.reads:
            found += self.writers_of(selector)
        return found

    def closure(self, seeds: Iterable[int]) -> frozenset[int]:
        """Return the seeds and the rules that write what they read, transitively."""
        kept: set[int] = set()
        todo = list(seeds)
        while todo:
            number = todo.pop()
            if number not in kept:
                kept.add(number)
                for selector in self.rules[number].reads:
                    todo += self.writers_of(selector)
        return frozenset(kept)

    def selecting(
        self, cases: Iterable[_Case], kept: frozenset[int], among: set[int]
    ) -> set[int]:
        """Return the rules of `among` that may select a series of the test groups.

        Those series are the input series and what the rules of `kept` and the
        rules found write.
        """
        found: set[int] = set()
        for case in cases:
            for name, labels in case.inputs:
                label_map = dict(labels)
                for number in self.readers_of(name):
                    if number in among and any(
                        selector.may_match(name, label_map)
                        for selector in self.rules[number].reads
                    ):
                        found.add(number)
        written = [name for n in kept | found for name in self.rules[n].writes]
        while written:
            for number in self.readers_of(written.pop()):
                if number in among and number not in found:
                    found.add(number)
                    written += self.rules[number].writes
        return found


def _shards(cases: Sequence[_Case], rules: Sequence[_Rule]) -> list[_Shard]:
    """Group the test groups that keep the same rules into shards, in file order.

    A test group keeps the rules that its checks name or read, and the rules that
    write what those read. A rule that no test group keeps so is kept by each shard
    with a series that it may select, and otherwise by the first shard.
    """
    index = _Index(rules)
    by_rules: dict[frozenset[int], list[_Case]] = {}
    for case in cases:
        by_rules.setdefault(index.closure(index.seeds(case)), []).append(case)
    groups = list(by_rules.items())
    unchecked = set(range(len(rules))).difference(*by_rules)
    if unchecked:
        for position, (kept, group_cases) in enumerate(groups):
            seen = index.selecting(group_cases, kept, unchecked)
            if seen:
                groups[position] = (index.closure(kept | seen), group_cases)
        left = unchecked.difference(*(kept for kept, _ in groups))
        if left:
            kept, first = groups[0]
            groups[0] = (index.closure(kept | left), first)
    return [
        _Shard(tuple(group_cases), tuple(rules[n] for n in sorted(kept)))
        for kept, group_cases in groups
    ]


def _verify(
    text: str,
    written: Sequence[tuple[Unit, _Shard, dict[str, tuple[_RuleFile, list[_Rule]]]]],
) -> None:
    """Raise _CannotSplit unless each shard reads back as the original's data.

    A shard's test file must read as the original with its own rule files and test
    groups, and each of its rule files as the original without the rules left out.
    """
    try:
        original = _load(text)
        for unit, shard, rule_files in written:
            expected = {
                **original,
                "rule_files": list(rule_files),
                "tests": [original["tests"][case.number] for case in shard.cases],
            }
            if _load(_read(unit.path)) != expected:
                raise _CannotSplit()
            for name, (rule_file, kept) in rule_files.items():
                shard_text = _read(unit.path.parent / name)
                if _load(shard_text) != rule_file.shard_data(kept):
                    raise _CannotSplit()
    except (KeyError, IndexError, TypeError, AttributeError):
        raise _CannotSplit() from None


def _load(text: str) -> Any:
    try:
        return read_yaml(text)
    except (YAMLError, ValueError):
        raise _CannotSplit() from None
