"""Synthesize input series for aggregations that count, spread or rank a ratio's series.

Over one series of a group, `quantile`, `topk` and `bottomk` give that series' value,
so each group gets one series, as under `sum`. `count` gives the number of series, so
a group gets that many copies of the series of the expression below it, which differ
in a label that the expression keeps and the aggregation drops, such as `instance`
in `count by (route) (rate(errors_total[5m]) / rate(requests_total[5m]))`. Each copy
gets the value 1, which any value could take.

`stddev` and `stdvar` of one series are 0. Of n series, k of them at x and the others
at 0, the variance is x² k (n - k) / n². For a variance T above 0, the generator
tries each n up to 10 and each k for which T n² / (k (n - k)) is the square of a
fraction x. It takes the first such series whose `stddev` or `stdvar` Prometheus 2.42
computes as exactly the target in every order. So a standard deviation v gets two
series at 2v and 0, and a variance of 0.5 gets three at 1.5, 0 and 0. Where no
such series give the target exactly, as for a variance of 0.4 or 3, two series at 0
and at the nearest fraction to 2√T give a value close to it.
"""

from __future__ import annotations

import contextlib
import functools
import math
from fractions import Fraction

import attrs
import promql_parser as pp

from obscompile import promql
from obscompile.derive.evaluate import OrderDependent, reduce_group
from obscompile.derive.expressions import printed_text
from obscompile.derive.synthesis import (
    HAND_TEST_ADVICE,
    CannotSynthesize,
    Context,
    InputSeries,
    synthesize_call,
)
from obscompile.diagnostics import quoted
from obscompile.numbers import number_text
from obscompile.trampoline import Recursive

# The maximum number of series that one group of a `count` gets.
_MAX_COUNTED_SERIES = 100
# The maximum number of series that one group of a `stddev` or `stdvar` gets. The
# evaluator checks each order of them, and 10 series of two values have at most 252
# distinct orders.
_MAX_VARIANCE_SERIES = 10
# Labels that the copies of a series keep. The rules add `job` to every
# aggregation, so a copy with another job would be a group of its own there.
_FIXED_LABELS = frozenset({"__name__", "job"})


def aggregated_series(
    node: pp.AggregateExpr, target: float, context: Context
) -> Recursive[list[InputSeries]]:
    """Return input series that give one group of `node` the value `target`.

    This is a step of `synthesize`, which runs it with `trampoline.run`.
    """
    op = str(node.op)
    if op in ("quantile", "topk", "bottomk"):
        _check_parameter(node)
        return (yield synthesize_call(node.expr, target, context))
    candidates: tuple[tuple[float, ...], ...]
    if op == "count":
        candidates = ((1.0,) * _counted_series(target),)
    else:
        candidates = _variance_candidates(op, target)
    if len(candidates[0]) == 1:
        return (yield synthesize_call(node.expr, candidates[0][0], context))
    label = spare_label(node, node.expr)
    if label is None:
        raise CannotSynthesize(
            f"{op}() needs several series in one group, and no label of "
            f"`{quoted(printed_text(node.expr))}` that the {op}() drops is free "
            f"to tell them apart. {HAND_TEST_ADVICE}"
        )
    failures: list[CannotSynthesize] = []
    for values in candidates:
        try:
            return (yield _spread_series(node.expr, values, label, context))
        except CannotSynthesize as exc:
            failures.append(exc)
    raise failures[0]


def _spread_series(
    inner: pp.Expr, values: tuple[float, ...], label: str, context: Context
) -> Recursive[list[InputSeries]]:
    """Return the series of `inner` for each value, each with its own `label`."""
    series: list[InputSeries] = []
    for index, value in enumerate(values, start=1):
        group = dict(context.group)
        group[label] = f"{label}-{index}"
        copy = attrs.evolve(context, group=tuple(sorted(group.items())))
        series += yield synthesize_call(inner, value, copy)
    return series


def _check_parameter(node: pp.AggregateExpr) -> None:
    """Raise CannotSynthesize unless one series passes its value through `node`.

    That takes a quantile from 0 to 1, or a k of at least 1 for `topk` and
    `bottomk`, written as a number.
    """
    op = str(node.op)
    parameter = None if node.param is None else promql.number_value(node.param)
    if op == "quantile":
        if parameter is None or not 0 <= parameter <= 1:
            raise CannotSynthesize(
                "quantile() gives the value of one series only for a quantile "
                f"from 0 to 1 written as a number. {HAND_TEST_ADVICE}"
            )
    elif parameter is None or parameter < 1:
        raise CannotSynthesize(
            f"{op}() keeps a series only for a k of at least 1 written as a "
            f"number. {HAND_TEST_ADVICE}"
        )


def _counted_series(target: float) -> int:
    """Return the number of series whose `count` is `target`."""
    if target < 1 or target != math.floor(target):
        raise CannotSynthesize(
            f"count() gives a whole number of series, at least 1, and the test "
            f"needs {number_text(target)}"
        )
    if target > _MAX_COUNTED_SERIES:
        raise CannotSynthesize(
            f"count() gives {number_text(target)} for as many series in one group, "
            f"and the test generator builds at most {_MAX_COUNTED_SERIES}"
        )
    return int(target)


@functools.lru_cache(maxsize=256)
def _variance_candidates(op: str, target: float) -> tuple[tuple[float, ...], ...]:
    """Return the values of series that give `stddev` or `stdvar` the target.

    Each tuple gives one value in every order of the series, by Prometheus 2.42's
    arithmetic. Those that give exactly the target come first, the fewest series
    first. Where no tuple does, the others differ from the target by their
    rounding, which serves a test that needs a value on one side of a boundary.
    """
    if target < 0:
        raise CannotSynthesize(f"{op}() is never below 0")
    if target == 0:
        return ((1.0,),)
    exact = Fraction(repr(target))
    variance = exact * exact if op == "stddev" else exact
    hits: list[tuple[float, ...]] = []
    near: list[tuple[float, ...]] = []
    for count in range(2, _MAX_VARIANCE_SERIES + 1):
        for high in range(1, count):
            x = _square_root(variance * count * count / (high * (count - high)))
            if x is None:
                continue
            values = (float(x),) * high + (0.0,) * (count - high)
            try:
                found = reduce_group(op, list(values))
            except (OrderDependent, OverflowError):
                continue
            (hits if found == target else near).append(values)
    if not hits:
        # Two series give one value in either order. Series at 0 and at the nearest
        # fraction to 2√T give a value close to T.
        x = Fraction(2 * math.sqrt(variance)).limit_denominator(10_000)
        with contextlib.suppress(OverflowError):
            reduce_group(op, [float(x), 0.0])
            near.append((float(x), 0.0))
    if not hits and not near:
        raise CannotSynthesize(
            f"no {_MAX_VARIANCE_SERIES} series or fewer, some at one value and the "
            f"others at 0, give {op}() {number_text(target)} in every order of the "
            "series"
        )
    return tuple(hits + near)


def _square_root(square: Fraction) -> Fraction | None:
    """Return the fraction whose square is `square`, or None where none is."""
    numerator = math.isqrt(square.numerator)
    denominator = math.isqrt(square.denominator)
    if numerator * numerator != square.numerator:
        return None
    if denominator * denominator != square.denominator:
        return None
    return Fraction(numerator, denominator)


def spare_label(aggregation: pp.AggregateExpr, inner: pp.Expr) -> str | None:
    """Return a label that `inner` keeps, `aggregation` drops and no matcher sets."""
    named = [
        label
        for node in promql.walk(inner)
        if isinstance(node, pp.AggregateExpr) and node.modifier is not None
        for label in node.modifier.labels
    ]
    matched = {
        matcher.name
        for selector in promql.selectors(inner)
        for matcher in selector.matchers.matchers
    }
    for label in [*named, "instance"]:
        if label in _FIXED_LABELS or label in matched:
            continue
        if _keeps_label(inner, label) and _drops_label(aggregation, label):
            return label
    return None


def _drops_label(aggregation: pp.AggregateExpr, label: str) -> bool:
    """Return True where `aggregation` puts series that differ in `label` together."""
    modifier = aggregation.modifier
    if modifier is None:
        return True
    listed = label in modifier.labels
    return listed != (modifier.type == pp.AggModifierType.By)


def _keeps_label(node: pp.Expr, label: str) -> bool:
    """Return True where two inputs that differ only in `label` give two series.

    That takes every part of `node` to keep the label, so the parts are looked at
    one by one until one does not.
    """
    pending = [node]
    while pending:
        part = promql.strip_parens(pending.pop())
        if isinstance(part, pp.VectorSelector | pp.MatrixSelector | pp.NumberLiteral):
            continue
        if isinstance(part, pp.AggregateExpr):
            if part.param is not None or _drops_label(part, label):
                return False
            pending.append(part.expr)
        elif isinstance(part, pp.BinaryExpr):
            matching = part.modifier.matching if part.modifier is not None else None
            if matching is not None:
                listed = label in matching.labels
                if listed != (matching.type == pp.LabelModifierType.Include):
                    return False
            pending += (part.rhs, part.lhs)
        elif isinstance(part, pp.Call):
            # label_replace and label_join may overwrite the label.
            if part.func.name in ("label_replace", "label_join"):
                return False
            pending += reversed(part.args)
        else:
            return False
    return True
