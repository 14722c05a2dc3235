"""The inputs of the generated test groups without traffic in some series of a ratio.

Each such group takes the inputs of a probe and stops the traffic of some of its
series. Where none has traffic, a ratio over rates is 0/0, so the rule records no
sample. Where only the denominator has none, the query is +Inf or -Inf, which the rule
must record as the panel shows it. A group over a ratio adds a series that is 0/0
beside those of the probe. A `min` or `max` leaves that series out, because the
`min` and `max` of Prometheus 2.42 replace NaN with any other value of their group
and never a value with NaN, so the group expects the probe's value. A `sum` or an
`avg` gives NaN, which the rule must record and no alert compares as true.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import attrs
import promql_parser as pp

from obscompile.derive.aggregations import spare_label
from obscompile.derive.expressions import is_guarded
from obscompile.derive.limits import part_of_whole
from obscompile.derive.synthesis import (
    InputSeries,
    flat_counters,
    scaled_gauges,
    silent_copy,
)

Inputs = Callable[[list[InputSeries]], list[InputSeries]]


@attrs.frozen
class Idle:
    """A test group without traffic in some series of a ratio.

    `inputs` turns the inputs of a probe into the group's inputs, which give the
    query `value`. That is NaN for 0/0, also under a `sum` or `avg` that reads a
    series that is 0/0, or +Inf or -Inf. Where the query's `min` or `max` leaves out
    a series that is 0/0, or its guard drops it, it is the probe's value. `name`
    starts the group's name and says which series have no traffic. Every group but
    the one without any traffic (`checked` False) takes only inputs that give the
    query `value`.
    """

    value: float
    inputs: Inputs
    name: str = "no traffic in the denominator"
    checked: bool = True


def no_traffic(series: list[InputSeries]) -> list[InputSeries]:
    """Return the series with every counter flat and every gauge at 0."""
    return scaled_gauges(silent_copy(series), 0.0)


def negated(flat: Inputs) -> Inputs:
    """Return `flat` followed by negating every gauge, which turns +Inf into -Inf."""

    def negated(series: list[InputSeries]) -> list[InputSeries]:
        return scaled_gauges(flat(series), -1.0)

    return negated


def denominator_cases(ratio: pp.BinaryExpr, negative: bool) -> list[Idle]:
    """Return the groups with flat counters in the denominator of `ratio`.

    With the counters that the denominator reads flat, the query is +Inf where the
    numerator is above 0. With `negative`, a group negates the gauges too, for
    -Inf. In a ratio of the minimum of a part of some counter rates to the minimum
    of all of them, the part is in the whole, so that gives 0/0. Such a ratio is
    +Inf where only the counters outside the part are flat, and 0/0 where only
    those of the part are.
    """
    if part_of_whole(ratio) == "at least":
        outside = functools.partial(flat_counters, node=ratio.rhs, spared=ratio.lhs)
        part = functools.partial(flat_counters, node=ratio.lhs)
        return [
            Idle(math.inf, outside, "no traffic outside the numerator"),
            Idle(math.nan, part, "no traffic in the numerator"),
        ]
    flat = functools.partial(flat_counters, node=ratio.rhs)
    cases = [Idle(math.inf, flat)]
    if negative:
        cases.append(Idle(-math.inf, negated(flat)))
    return cases


def idle_series_case(
    aggregation: pp.AggregateExpr, ratio: pp.BinaryExpr, value: float
) -> Idle | None:
    """Return the group in which `aggregation` reads a series of `ratio` that is 0/0.

    The group adds a copy of the probe's series without traffic, with another value
    of a label that the ratio keeps and the aggregation drops. So the copy is another
    series of the ratio, in the same group of the aggregation. A `min` or `max`
    leaves it out and gives the probe's `value`, and a `sum` or `avg` gives NaN. A
    ratio whose denominator the query guards, `a / (b > 0)`, gives the copy no
    sample at all, so every aggregation gives the probe's `value`. Returns None
    where no label does both.
    """
    label = spare_label(aggregation, ratio)
    if label is None:
        return None
    if str(aggregation.op) not in ("min", "max") and not is_guarded(ratio.rhs):
        value = math.nan
    return Idle(
        value,
        functools.partial(_with_idle_copy, label=label),
        "another series without traffic",
    )


def _with_idle_copy(series: list[InputSeries], label: str) -> list[InputSeries]:
    """Return the series and a copy of each without traffic, with another `label`."""
    copies = []
    for found in no_traffic(series):
        labels = dict(found.labels)
        other = f"{label}-2"
        labels[label] = other if labels.get(label) != other else f"{label}-3"
        copies.append(attrs.evolve(found, labels=tuple(sorted(labels.items()))))
    return series + copies
