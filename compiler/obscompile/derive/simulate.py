"""Run rule groups over synthetic input the way `promtool test rules` does.

Every `evaluation_interval` from time 0, the recording rules write their samples (with a
staleness marker for a series that disappears), then the alert expression is evaluated.
An alert becomes pending at the first evaluation that returns its series, and fires once
it has been pending for `for`. As in promtool, only firing alerts are listed.
"""

from __future__ import annotations

import attrs
import promql_parser as pp

from obscompile.derive.evaluate import Evaluator, Labels, Sample, Storage
from obscompile.derive.recording import RecordingRule
from obscompile.derive.synthesis import InputSeries


@attrs.frozen
class Moment:
    """The state after one evaluation: active alerts, their start and their values."""

    time_ms: int
    active: dict[Labels, int]
    values: dict[Labels, float]

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
        return self.evaluator.vector(pp.parse(expr), time_ms)


def load(series: list[InputSeries], samples: int, interval_ms: int) -> Storage:
    storage = Storage()
    for one in series:
        for index in range(samples + 1):
            storage.add(one.labels, index * interval_ms, one.value_at(index))
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
    rules = [(rule.record, pp.parse(rule.expr)) for rule in records]
    alert = pp.parse(alert_expr) if alert_expr else None
    present: dict[str, set[Labels]] = {name: set() for name, _ in rules}
    active: dict[Labels, int] = {}
    moments = []
    for time_ms in range(0, end_ms + 1, evaluation_ms):
        for name, node in rules:
            current = set()
            for sample in evaluator.vector(node, time_ms):
                labels = tuple(
                    sorted((*sample.without_name().labels, ("__name__", name)))
                )
                storage.add(labels, time_ms, sample.value)
                current.add(labels)
            for gone in present[name] - current:
                storage.add(gone, time_ms, None)
            present[name] = current
        values: dict[Labels, float] = {}
        if alert is not None:
            for sample in evaluator.vector(alert, time_ms):
                values[sample.without_name().labels] = sample.value
        active = {labels: active.get(labels, time_ms) for labels in values}
        moments.append(Moment(time_ms, dict(active), values))
    return Run(storage, tuple(moments), evaluator)
