"""Run rule groups over synthetic input the way `promtool test rules` does.

Every `evaluation_interval` from time 0, the recording rules write their samples (with a
staleness marker for a series that disappears), then the alert expression is evaluated.
An alert becomes pending at the first evaluation that returns its series, and fires once
it has been pending for `for`. As in promtool, only firing alerts are listed.
"""

from __future__ import annotations

import attrs

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
    """The storage and the evaluations of one simulated test group."""

    storage: Storage
    moments: tuple[Moment, ...]
    evaluator: Evaluator

    def at(self, time_ms: int) -> Moment:
        return next(m for m in self.moments if m.time_ms == time_ms)

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


def simulate(
    series: list[InputSeries],
    records: list[RecordingRule],
    alert_expr: str | None,
    end_ms: int,
    evaluation_ms: int,
    interval_ms: int,
) -> Run:
    """Evaluate `records` and then `alert_expr` at every evaluation up to `end_ms`."""
    storage = load(series, end_ms // interval_ms, interval_ms)
    evaluator = Evaluator(storage)
    rules = [(rule.record, compile_query(rule.expr)) for rule in records]
    alert = compile_query(alert_expr) if alert_expr else None
    present: dict[str, set[Labels]] = {name: set() for name, _ in rules}
    # The labels that each recording rule gives a result series, by its labels.
    named: dict[str, dict[Labels, Labels]] = {name: {} for name, _ in rules}
    active: dict[Labels, int] = {}
    moments = []
    for time_ms in range(0, end_ms + 1, evaluation_ms):
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
        moments.append(Moment(time_ms, dict(active), values, sample_labels))
    return Run(storage, tuple(moments), evaluator)
