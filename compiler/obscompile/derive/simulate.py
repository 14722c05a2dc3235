"""Run rule groups over synthetic input the way `promtool test rules` does.

Every `evaluation_interval` from time 0, the recording rules write their samples (with a
staleness marker for a series that disappears), then the alert expression is evaluated.
An alert becomes pending at the first evaluation that returns its series, and fires once
it has been pending for `for`. As in promtool, only firing alerts are listed.

A selector with an offset reads the first input sample only that long after time 0, so
the rules of a query with `offset 1w` read nothing for the first week of a run. Where
the first evaluation gives nothing, a run skips the others before the first that can
read a sample: they read nothing either, so they give the same. That is true unless an
expression calls time() or a date function, whose result changes with no sample read.
A run also loads only the input samples that its evaluations read, and
`Run.last_index` tells the test file to write no more.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import attrs
import promql_parser as pp

from obscompile import promql
from obscompile.derive.evaluate import (
    Compiled,
    Evaluator,
    Labels,
    Pairs,
    Sample,
    Storage,
    UnsupportedExpression,
    compile_query,
    drop_name,
    selects,
)
from obscompile.derive.recording import RecordingRule
from obscompile.derive.synthesis import InputSeries


@attrs.frozen
class Moment:
    """The state after one evaluation: active alerts, their start and their values.

    `sample_labels` gives the labels of the query's sample behind each alert, with
    the `__name__` that the query keeps and the alert drops, as templates see them.
    """

    time_ms: int
    active: dict[Labels, int]
    values: dict[Labels, float]
    sample_labels: dict[Labels, Labels]

    def firing(self, for_ms: int) -> dict[Labels, float]:
        return {
            labels: self.values[labels]
            for labels, since in self.active.items()
            if self.time_ms - since >= for_ms
        }


@attrs.frozen
class Run:
    """The storage and the evaluations of one simulated test group.

    `moments` has the state after each evaluation that the run computed, by time.
    The storage has the points of the input series up to index `last_index`, which
    are all that the evaluations up to `end_ms` read.
    """

    storage: Storage
    moments: dict[int, Moment]
    evaluator: Evaluator
    evaluation_ms: int
    end_ms: int
    last_index: int

    def at(self, time_ms: int) -> Moment:
        """Return the state after the evaluation at `time_ms`."""
        moment = self.moments.get(time_ms)
        if moment is not None:
            return moment
        if time_ms % self.evaluation_ms or not 0 <= time_ms <= self.end_ms:
            raise ValueError(f"the run has no evaluation at {time_ms} ms")
        # A skipped evaluation, which read no sample and so gave nothing.
        return Moment(time_ms, {}, {}, {})

    def evaluation_times(self, start_ms: int) -> range:
        """Return the times of the evaluations from `start_ms` to the end of the run."""
        first = max(0, _align(start_ms, self.evaluation_ms))
        return range(first, self.end_ms + 1, self.evaluation_ms)

    def vector(self, expr: str, time_ms: int) -> list[Sample]:
        return self.evaluator.query(expr, time_ms)


def _vector(compiled: Compiled, storage: Storage, time_ms: int) -> Pairs:
    value = compiled(storage, time_ms)
    if isinstance(value, float):
        raise UnsupportedExpression("a scalar result is not a vector")
    return value


def load(series: list[InputSeries], samples: int, interval_ms: int) -> Storage:
    storage = Storage()
    for one in series:
        for index, value in enumerate(one.values(samples)):
            if value is not None:
                storage.add(one.labels, index * interval_ms, value)
    return storage


# Selectors with their offsets in milliseconds.
_Offsets = tuple[tuple[pp.VectorSelector, int], ...]


@functools.lru_cache(maxsize=1024)
def _offsets(expr: str) -> _Offsets | None:
    """Return each selector of `expr` with its offset in milliseconds.

    None where `expr` reads at a time of its own, with the @ modifier or a subquery.
    """
    found = []
    for node in promql.walk(promql.parse(expr)):
        if isinstance(node, pp.SubqueryExpr):
            return None
        if isinstance(node, pp.VectorSelector):
            if node.at is not None:
                return None
            offset = int(node.offset.total_seconds() * 1000) if node.offset else 0
            found.append((node, offset))
    return tuple(found)


@functools.lru_cache(maxsize=1024)
def _reads_clock(expr: str) -> bool:
    """Return True where `expr` calls time() or a date function of the evaluation time."""
    return any(
        isinstance(node, pp.Call) and node.func.name in promql.CLOCK_FUNCTIONS
        for node in promql.walk(promql.parse(expr))
    )


def _input_selectors(series: list[InputSeries], exprs: list[str]) -> _Offsets | None:
    """Return the selectors of `exprs` that select an input series, with their offsets.

    The others read only what the recording rules write. None where `_offsets`
    gives None for an expression.
    """
    found: list[tuple[pp.VectorSelector, int]] = []
    for expr in exprs:
        offsets = _offsets(expr)
        if offsets is None:
            return None
        found += [
            (selector, offset)
            for selector, offset in offsets
            if any(selects(selector, one.labels) for one in series)
        ]
    return tuple(found)


def _last_read_ms(selectors: _Offsets | None, end_ms: int) -> int:
    """Return the time of the newest input sample that an evaluation up to `end_ms` reads.

    At time t, a selector with offset o reads no sample after t - o. The run loads
    no sample after `end_ms`, so a negative offset reads none after it either.
    """
    if not selectors:
        return end_ms
    return max(0, end_ms - max(0, min(offset for _, offset in selectors)))


def last_read_ms(query: str, end_ms: int) -> int:
    """Return the time of the newest sample that `query` reads at times up to `end_ms`."""
    return _last_read_ms(_offsets(query), end_ms)


def _first_read_ms(selectors: _Offsets | None, storage: Storage) -> int | None:
    """Return the first time at which an evaluation can read an input sample.

    A selector with offset o reads a series whose first sample is at time s from
    time s + o. None where that is unknown or no selector selects an input series.
    """
    if selectors is None:
        return None
    return min(
        (
            storage.times[labels][0] + offset
            for selector, offset in selectors
            for labels in storage.matching(selector)
        ),
        default=None,
    )


def simulate(
    series: list[InputSeries],
    records: list[RecordingRule],
    alert_expr: str | None,
    end_ms: int,
    evaluation_ms: int,
    interval_ms: int,
    queries: Sequence[str] = (),
) -> Run:
    """Evaluate `records` and then `alert_expr` at every evaluation up to `end_ms`.

    `queries` are the other expressions that the caller evaluates on the run, at
    times up to `end_ms`, so that the run loads the input samples they read.
    """
    exprs = [rule.expr for rule in records] + [alert_expr or "", *queries]
    exprs = [expr for expr in exprs if expr]
    selectors = _input_selectors(series, exprs)
    last_index = _last_read_ms(selectors, end_ms) // interval_ms
    storage = load(series, last_index, interval_ms)
    first_read = None
    if not any(_reads_clock(expr) for expr in exprs):
        first_read = _first_read_ms(selectors, storage)
    evaluator = Evaluator(storage)
    rules = [(rule.record, compile_query(rule.expr)) for rule in records]
    alert = compile_query(alert_expr) if alert_expr else None
    present: dict[str, set[Labels]] = {name: set() for name, _ in rules}
    # The labels that each recording rule gives a result series, by its labels.
    named: dict[str, dict[Labels, Labels]] = {name: {} for name, _ in rules}
    active: dict[Labels, int] = {}
    moments: dict[int, Moment] = {}
    time_ms = 0
    while time_ms <= end_ms:
        for name, compiled in rules:
            current = set()
            renamed = named[name]
            for sample in _vector(compiled, storage, time_ms):
                labels = renamed.get(sample[0])
                if labels is None:
                    labels = renamed[sample[0]] = tuple(
                        sorted((*drop_name(sample[0]), ("__name__", name)))
                    )
                storage.add(labels, time_ms, sample[1])
                current.add(labels)
            for gone in present[name] - current:
                storage.add(gone, time_ms, None)
            present[name] = current
        values: dict[Labels, float] = {}
        sample_labels: dict[Labels, Labels] = {}
        if alert is not None:
            for labels, value in _vector(alert, storage, time_ms):
                values[drop_name(labels)] = value
                sample_labels[drop_name(labels)] = labels
        active = {labels: active.get(labels, time_ms) for labels in values}
        moments[time_ms] = Moment(time_ms, dict(active), values, sample_labels)
        quiet = not values and not any(present.values())
        if time_ms == 0 and quiet and first_read is not None:
            # Up to `first_read`, every evaluation reads no sample, as this one did,
            # and writes nothing, so it gives what this one gave.
            time_ms = max(evaluation_ms, _align(first_read, evaluation_ms))
        else:
            time_ms += evaluation_ms
    return Run(storage, moments, evaluator, evaluation_ms, end_ms, last_index)


def _align(value: int, step: int) -> int:
    """Return the first multiple of `step` at or after `value`."""
    return -(-value // step) * step
