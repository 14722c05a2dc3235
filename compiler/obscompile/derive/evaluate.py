"""Evaluate a subset of PromQL over synthetic series, with Prometheus 2.42's float arithmetic.

promtool compares sample values exactly, so the generated tests compute expected values
by repeating the engine's operations in the same order on IEEE doubles:

- a range selector `[r]` holds the samples at `t - r` through `t`, both ends included;
  an instant selector takes the latest sample at most 5 minutes old;
- `rate`, `increase` and `delta` extrapolate as Prometheus 2.42 does: the zero point of a
  counter caps the start, a gap under 1.1 average intervals is extrapolated in full and a
  longer one by half an interval, and the result is multiplied by
  `(extrapolated / sampled) / range`;
- `histogram_quantile` interpolates linearly inside the bucket that holds the rank;
- `sum` adds in the order of the series' label sets, as storage returns them.

Unsupported syntax raises `UnsupportedExpression`, so a generator can say which rule it
could not test instead of guessing a value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import attrs
import promql_parser as pp

from obscompile import promql
from obscompile.derive.expressions import matcher_op

LOOKBACK_MS = 5 * 60 * 1000
Labels = tuple[tuple[str, str], ...]


class UnsupportedExpression(ValueError):
    """The expression uses PromQL that this evaluator does not implement."""


@attrs.frozen
class Sample:
    labels: Labels
    value: float

    def without_name(self) -> Sample:
        return Sample(tuple(p for p in self.labels if p[0] != "__name__"), self.value)


def make_labels(mapping: dict[str, str]) -> Labels:
    return tuple(sorted(mapping.items()))


class Storage:
    """Series as `(timestamp_ms, value)` points; None as a value is a staleness marker."""

    def __init__(self) -> None:
        self.points: dict[Labels, list[tuple[int, float | None]]] = {}

    def add(self, labels: Labels, timestamp: int, value: float | None) -> None:
        self.points.setdefault(labels, []).append((timestamp, value))

    def matching(self, selector: pp.VectorSelector) -> list[Labels]:
        found = []
        for labels in sorted(self.points):
            mapping = dict(labels)
            if selector.name and mapping.get("__name__") != selector.name:
                continue
            if all(_matches(m, mapping.get(m.name, "")) for m in selector.matchers.matchers):
                found.append(labels)
        return found


def _matches(matcher: pp.Matcher, value: str) -> bool:
    op = matcher_op(matcher)
    if op == "=":
        return value == matcher.value
    if op == "!=":
        return value != matcher.value
    hit = re.fullmatch(matcher.value, value) is not None
    return hit if op == "=~" else not hit


def _offset_ms(selector: pp.VectorSelector) -> int:
    if selector.at is not None:
        raise UnsupportedExpression("the @ modifier is not evaluated")
    return int(selector.offset.total_seconds() * 1000) if selector.offset else 0


def extrapolated_rate(
    points: list[tuple[int, float]], start: int, end: int, range_s: float, counter: bool, rate: bool
) -> float | None:
    """Return rate, increase or delta over `points` like Prometheus 2.42, or None."""
    if len(points) < 2:
        return None
    result = points[-1][1] - points[0][1]
    if counter:
        last = 0.0
        for _, value in points:
            if value < last:
                result += last
            last = value
    to_start = (points[0][0] - start) / 1000
    to_end = (end - points[-1][0]) / 1000
    sampled = (points[-1][0] - points[0][0]) / 1000
    average = sampled / (len(points) - 1)
    if counter and result > 0 and points[0][1] >= 0:
        to_zero = sampled * (points[0][1] / result)
        if to_zero < to_start:
            to_start = to_zero
    threshold = average * 1.1
    extrapolate_to = sampled
    extrapolate_to += to_start if to_start < threshold else average / 2
    extrapolate_to += to_end if to_end < threshold else average / 2
    factor = extrapolate_to / sampled
    if rate:
        factor /= range_s
    return result * factor


def bucket_quantile(quantile: float, buckets: list[tuple[float, float]]) -> float:
    """Return the quantile of classic histogram buckets `(upper bound, count)`."""
    if quantile < 0:
        return -math.inf
    if quantile > 1:
        return math.inf
    buckets = sorted(buckets)
    if not buckets or not math.isinf(buckets[-1][0]):
        return math.nan
    merged: list[list[float]] = []
    for bound, count in buckets:
        if merged and merged[-1][0] == bound:
            merged[-1][1] += count
        else:
            merged.append([bound, count])
    highest = 0.0
    for bucket in merged:
        if bucket[1] > highest:
            highest = bucket[1]
        elif bucket[1] < highest:
            bucket[1] = highest
    if len(merged) < 2:
        return math.nan
    observations = merged[-1][1]
    if observations == 0:
        return math.nan
    rank = quantile * observations
    index = next((i for i in range(len(merged) - 1) if merged[i][1] >= rank), len(merged) - 1)
    if index == len(merged) - 1:
        return merged[-2][0]
    if index == 0 and merged[0][0] <= 0:
        return merged[0][0]
    start = 0.0
    end = merged[index][0]
    count = merged[index][1]
    if index > 0:
        start = merged[index - 1][0]
        count -= merged[index - 1][1]
        rank -= merged[index - 1][1]
    return start + (end - start) * (rank / count)


_ARITHMETIC = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b if b != 0 else (math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a) * math.copysign(1, b)),
}
_COMPARISON = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
}

Value = list[Sample] | float


class Evaluator:
    """Evaluate instant queries at a timestamp over a Storage."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def vector(self, node: pp.Expr, t: int) -> list[Sample]:
        value = self.eval(node, t)
        if isinstance(value, float):
            raise UnsupportedExpression("a scalar result is not a vector")
        return value

    def eval(self, node: pp.Expr, t: int) -> Value:
        if isinstance(node, pp.ParenExpr):
            return self.eval(node.expr, t)
        if isinstance(node, pp.NumberLiteral):
            return float(node.val)
        if isinstance(node, pp.UnaryExpr):
            inner = self.eval(node.expr, t)
            if isinstance(inner, float):
                return -inner
            return [Sample(s.without_name().labels, -s.value) for s in inner]
        if isinstance(node, pp.VectorSelector):
            return self._instant(node, t)
        if isinstance(node, pp.Call):
            return self._call(node, t)
        if isinstance(node, pp.AggregateExpr):
            return self._aggregate(node, t)
        if isinstance(node, pp.BinaryExpr):
            return self._binary(node, t)
        raise UnsupportedExpression(f"{type(node).__name__} is not evaluated")

    def _instant(self, selector: pp.VectorSelector, t: int) -> list[Sample]:
        reference = t - _offset_ms(selector)
        out = []
        for labels in self.storage.matching(selector):
            latest = None
            for timestamp, value in self.storage.points[labels]:
                if timestamp > reference:
                    break
                latest = (timestamp, value)
            if latest is None or latest[1] is None or latest[0] < reference - LOOKBACK_MS:
                continue
            out.append(Sample(labels, latest[1]))
        return out

    def _range(self, matrix: pp.MatrixSelector, t: int) -> Iterable[tuple[Labels, list[tuple[int, float]], int, int]]:
        selector = matrix.vector_selector
        end = t - _offset_ms(selector)
        start = end - int(matrix.range.total_seconds() * 1000)
        for labels in self.storage.matching(selector):
            points = [
                (ts, v) for ts, v in self.storage.points[labels] if start <= ts <= end and v is not None
            ]
            yield labels, points, start, end

    def _call(self, node: pp.Call, t: int) -> Value:
        name = node.func.name
        if name in ("rate", "increase", "delta", "irate", "idelta"):
            matrix = promql.strip_parens(node.args[0])
            if not isinstance(matrix, pp.MatrixSelector):
                raise UnsupportedExpression(f"{name}() of a subquery is not evaluated")
            out = []
            for labels, points, start, end in self._range(matrix, t):
                value = self._range_function(name, points, start, end, matrix.range.total_seconds())
                if value is not None:
                    out.append(Sample(Sample(labels, value).without_name().labels, value))
            return out
        if name == "histogram_quantile":
            quantile = self.eval(node.args[0], t)
            if not isinstance(quantile, float):
                raise UnsupportedExpression("histogram_quantile() needs a scalar quantile")
            groups: dict[Labels, list[tuple[float, float]]] = {}
            for sample in self.vector(node.args[1], t):
                mapping = dict(sample.without_name().labels)
                bound = mapping.pop("le", None)
                if bound is None:
                    continue
                groups.setdefault(make_labels(mapping), []).append((float(bound), sample.value))
            return [Sample(labels, bucket_quantile(quantile, b)) for labels, b in groups.items()]
        raise UnsupportedExpression(f"{name}() is not evaluated")

    @staticmethod
    def _range_function(name: str, points: list, start: int, end: int, range_s: float) -> float | None:
        if name in ("irate", "idelta"):
            if len(points) < 2:
                return None
            (t0, v0), (t1, v1) = points[-2], points[-1]
            if name == "irate":
                return (v1 if v1 < v0 else v1 - v0) / ((t1 - t0) / 1000)
            return v1 - v0
        counter = name in ("rate", "increase")
        return extrapolated_rate(points, start, end, range_s, counter=counter, rate=name == "rate")

    def _aggregate(self, node: pp.AggregateExpr, t: int) -> list[Sample]:
        op = str(node.op)
        if op not in ("sum", "min", "max", "count"):
            raise UnsupportedExpression(f"{op}() is not evaluated")
        modifier = node.modifier
        groups: dict[Labels, list[float]] = {}
        for sample in sorted(self.vector(node.expr, t), key=lambda s: s.labels):
            mapping = dict(sample.without_name().labels)
            if modifier is None:
                key: Labels = ()
            elif modifier.type == pp.AggModifierType.By:
                key = make_labels({k: v for k, v in mapping.items() if k in modifier.labels})
            else:
                key = make_labels({k: v for k, v in mapping.items() if k not in modifier.labels})
            groups.setdefault(key, []).append(sample.value)
        out = []
        for key, values in groups.items():
            if op == "sum":
                total = 0.0
                for value in values:
                    total += value
                result = total
            elif op == "count":
                result = float(len(values))
            else:
                result = values[0]
                for value in values[1:]:
                    if (value > result if op == "max" else value < result) or math.isnan(result):
                        result = value
            out.append(Sample(key, result))
        return out

    def _binary(self, node: pp.BinaryExpr, t: int) -> Value:
        op = str(node.op)
        modifier = node.modifier
        return_bool = bool(modifier and modifier.return_bool)
        lhs, rhs = self.eval(node.lhs, t), self.eval(node.rhs, t)
        if op in ("and", "or", "unless"):
            return self._set_operation(op, lhs, rhs, modifier)
        if op not in _ARITHMETIC and op not in _COMPARISON:
            raise UnsupportedExpression(f"operator {op} is not evaluated")
        if isinstance(lhs, float) and isinstance(rhs, float):
            if op in _ARITHMETIC:
                return _ARITHMETIC[op](lhs, rhs)
            return float(_COMPARISON[op](lhs, rhs))
        if isinstance(lhs, float) or isinstance(rhs, float):
            return self._vector_scalar(op, lhs, rhs, return_bool)
        return self._vector_vector(op, lhs, rhs, modifier, return_bool)

    @staticmethod
    def _vector_scalar(op: str, lhs: Value, rhs: Value, return_bool: bool) -> list[Sample]:
        scalar_left = isinstance(lhs, float)
        vector = rhs if scalar_left else lhs
        scalar = lhs if scalar_left else rhs
        assert isinstance(vector, list) and isinstance(scalar, float)
        out = []
        for sample in vector:
            a, b = (scalar, sample.value) if scalar_left else (sample.value, scalar)
            if op in _ARITHMETIC:
                out.append(Sample(sample.without_name().labels, _ARITHMETIC[op](a, b)))
            elif return_bool:
                out.append(Sample(sample.without_name().labels, float(_COMPARISON[op](a, b))))
            elif _COMPARISON[op](a, b):
                out.append(sample)
        return out

    @staticmethod
    def _signature(sample: Sample, modifier: pp.BinModifier | None) -> Labels:
        labels = sample.without_name().labels
        matching = modifier.matching if modifier is not None else None
        if matching is None:
            return labels
        if matching.type == pp.LabelModifierType.Include:
            return tuple(p for p in labels if p[0] in matching.labels)
        return tuple(p for p in labels if p[0] not in matching.labels)

    def _vector_vector(self, op: str, lhs: list[Sample], rhs: list[Sample], modifier, return_bool: bool) -> list[Sample]:
        if modifier is not None and "OneToOne" not in str(modifier.card):
            raise UnsupportedExpression("group_left and group_right are not evaluated")
        right = {self._signature(s, modifier): s for s in rhs}
        out = []
        for sample in lhs:
            signature = self._signature(sample, modifier)
            other = right.get(signature)
            if other is None:
                continue
            labels = sample.labels if op in _COMPARISON and not return_bool else sample.without_name().labels
            if modifier is not None and modifier.matching is not None and op not in _COMPARISON:
                labels = signature if modifier.matching.type == pp.LabelModifierType.Include else labels
            if op in _ARITHMETIC:
                out.append(Sample(labels, _ARITHMETIC[op](sample.value, other.value)))
            elif return_bool:
                out.append(Sample(labels, float(_COMPARISON[op](sample.value, other.value))))
            elif _COMPARISON[op](sample.value, other.value):
                out.append(Sample(labels, sample.value))
        return out

    def _set_operation(self, op: str, lhs: Value, rhs: Value, modifier) -> list[Sample]:
        if not isinstance(lhs, list) or not isinstance(rhs, list):
            raise UnsupportedExpression(f"{op} needs vectors on both sides")
        right = {self._signature(s, modifier) for s in rhs}
        if op == "and":
            return [s for s in lhs if self._signature(s, modifier) in right]
        if op == "unless":
            return [s for s in lhs if self._signature(s, modifier) not in right]
        left = {self._signature(s, modifier) for s in lhs}
        return list(lhs) + [s for s in rhs if self._signature(s, modifier) not in left]
