"""Evaluate a subset of PromQL over synthetic series with Prometheus 2.42's arithmetic.

promtool compares sample values exactly, so the generated tests compute expected values
by repeating the engine's operations in the same order on IEEE doubles:

- a range selector `[r]` contains the samples from `t - r` to `t`, both included, and
  an instant selector takes the latest sample at most 5 minutes old;
- `rate`, `increase`, `delta` and `histogram_quantile` follow `functions`;
- `label_replace` matches the anchored regular expression against the source label
  (empty when absent), expands `$1`, `${1}` and `$name` as Go's `Regexp.Expand` does,
  and removes the destination label when the expansion is empty; it keeps the metric
  name, and two results with the same labels are an error, as in Prometheus;
- `sum` adds in the order of the series' label sets. promtool adds them in no fixed
  order, so a sum of three or more inexact values can differ from this one in the last
  bit; synthesized inputs give each group at most two series, whose sum does not depend
  on the order.

Unsupported syntax raises `UnsupportedExpression`, so a generator can report which rule
it could not test instead of guessing a value.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable

import attrs
import promql_parser as pp

from obscompile import promql
from obscompile.derive.expressions import matcher_op
from obscompile.derive.functions import bucket_quantile, extrapolated_rate

LOOKBACK_MS = 5 * 60 * 1000
Labels = tuple[tuple[str, str], ...]
_REFERENCE = re.compile(r"\$(?:(\$)|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")


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
    """Series as `(timestamp_ms, value)` points; a None value is a staleness marker."""

    def __init__(self) -> None:
        self.points: dict[Labels, list[tuple[int, float | None]]] = {}
        self.times: dict[Labels, list[int]] = {}
        self._by_name: dict[str, list[Labels]] = {}

    def add(self, labels: Labels, timestamp: int, value: float | None) -> None:
        """Append a point; points of a series must come in increasing time order."""
        if labels not in self.points:
            self.points[labels] = []
            self.times[labels] = []
            name = dict(labels).get("__name__", "")
            self._by_name.setdefault(name, []).append(labels)
        self.points[labels].append((timestamp, value))
        self.times[labels].append(timestamp)

    def matching(self, selector: pp.VectorSelector) -> list[Labels]:
        if selector.name:
            candidates = self._by_name.get(selector.name, [])
        else:
            candidates = list(self.points)
        found = []
        for labels in sorted(candidates):
            mapping = dict(labels)
            if all(
                _matches(m, mapping.get(m.name, "")) for m in selector.matchers.matchers
            ):
                found.append(labels)
        return found

    def window(
        self, labels: Labels, start: int, end: int
    ) -> list[tuple[int, float | None]]:
        """Return the points of a series from `start` to `end`, both included."""
        times = self.times[labels]
        return self.points[labels][
            bisect.bisect_left(times, start) : bisect.bisect_right(times, end)
        ]


def _matches(matcher: pp.Matcher, value: str) -> bool:
    op = matcher_op(matcher)
    if op == "=":
        return value == matcher.value
    if op == "!=":
        return value != matcher.value
    hit = re.fullmatch(matcher.value, value) is not None
    return hit if op == "=~" else not hit


def expand_replacement(template: str, found: re.Match[str]) -> str:
    """Expand `$1`, `${1}`, `$name`, `${name}` and `$$` as Go's `Regexp.Expand` does.

    A reference takes the longest run of letters, digits and `_` after `$`. A number
    without a leading zero names a group by index, and anything else names a group by
    name. A group that does not exist or did not match gives the empty string.
    """

    def one(reference: re.Match[str]) -> str:
        if reference.group(1):
            return "$"
        name = reference.group(2) or reference.group(3)
        if name.isdigit() and (name == "0" or not name.startswith("0")):
            index = int(name)
            return (found.group(index) or "") if index <= found.re.groups else ""
        return found.groupdict().get(name) or ""

    return _REFERENCE.sub(one, template)


def label_replace(
    samples: list[Sample], dst: str, replacement: str, src: str, regex: str
) -> list[Sample]:
    """Return the samples with `dst` set from `src` as PromQL's `label_replace` does."""
    if not promql.is_label_name(dst):
        raise UnsupportedExpression(f"{dst!r} is not a valid label name")
    try:
        pattern = re.compile(f"^(?:{regex})$")
    except re.error as exc:
        raise UnsupportedExpression(
            f"the regular expression {regex!r} is not evaluated: {exc}"
        ) from None
    out = []
    for sample in samples:
        mapping = dict(sample.labels)
        found = pattern.match(mapping.get(src, ""))
        if found is None:
            out.append(sample)
            continue
        value = expand_replacement(replacement, found)
        mapping.pop(dst, None)
        if value:
            mapping[dst] = value
        out.append(Sample(make_labels(mapping), sample.value))
    if len({sample.labels for sample in out}) != len(out):
        raise UnsupportedExpression(
            "label_replace() gives two series the same labels, which Prometheus rejects"
        )
    return out


def _offset_ms(selector: pp.VectorSelector) -> int:
    if selector.at is not None:
        raise UnsupportedExpression("the @ modifier is not evaluated")
    return int(selector.offset.total_seconds() * 1000) if selector.offset else 0


_ARITHMETIC = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: (
        a / b
        if b != 0
        else (
            math.nan
            if a == 0 or math.isnan(a)
            else math.copysign(math.inf, a) * math.copysign(1, b)
        )
    ),
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
            recent = self.storage.window(labels, reference - LOOKBACK_MS, reference)
            latest = recent[-1] if recent else None
            if (
                latest is None
                or latest[1] is None
                or latest[0] < reference - LOOKBACK_MS
            ):
                continue
            out.append(Sample(labels, latest[1]))
        return out

    def _range(
        self, matrix: pp.MatrixSelector, t: int
    ) -> Iterable[tuple[Labels, list[tuple[int, float]], int, int]]:
        selector = matrix.vector_selector
        end = t - _offset_ms(selector)
        start = end - int(matrix.range.total_seconds() * 1000)
        for labels in self.storage.matching(selector):
            points = [
                (ts, v)
                for ts, v in self.storage.window(labels, start, end)
                if v is not None
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
                value = self._range_function(
                    name, points, start, end, matrix.range.total_seconds()
                )
                if value is not None:
                    out.append(
                        Sample(Sample(labels, value).without_name().labels, value)
                    )
            return out
        if name == "histogram_quantile":
            quantile = self.eval(node.args[0], t)
            if not isinstance(quantile, float):
                raise UnsupportedExpression(
                    "histogram_quantile() needs a scalar quantile"
                )
            groups: dict[Labels, list[tuple[float, float]]] = {}
            for sample in self.vector(node.args[1], t):
                mapping = dict(sample.without_name().labels)
                bound = mapping.pop("le", None)
                if bound is None:
                    continue
                groups.setdefault(make_labels(mapping), []).append(
                    (float(bound), sample.value)
                )
            return [
                Sample(labels, bucket_quantile(quantile, b))
                for labels, b in groups.items()
            ]
        if name == "label_replace":
            strings = promql.string_arguments(node)
            if strings is None or len(strings) != 4:
                raise UnsupportedExpression("label_replace() needs four strings")
            dst, replacement, src, regex = strings
            return label_replace(
                self.vector(node.args[0], t), dst, replacement, src, regex
            )
        raise UnsupportedExpression(f"{name}() is not evaluated")

    @staticmethod
    def _range_function(
        name: str, points: list, start: int, end: int, range_s: float
    ) -> float | None:
        if name in ("irate", "idelta"):
            if len(points) < 2:
                return None
            (t0, v0), (t1, v1) = points[-2], points[-1]
            if name == "irate":
                return (v1 if v1 < v0 else v1 - v0) / ((t1 - t0) / 1000)
            return v1 - v0
        counter = name in ("rate", "increase")
        return extrapolated_rate(
            points, start, end, range_s, counter=counter, rate=name == "rate"
        )

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
                key = make_labels(
                    {k: v for k, v in mapping.items() if k in modifier.labels}
                )
            else:
                key = make_labels(
                    {k: v for k, v in mapping.items() if k not in modifier.labels}
                )
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
                    if (
                        value > result if op == "max" else value < result
                    ) or math.isnan(result):
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
    def _vector_scalar(
        op: str, lhs: Value, rhs: Value, return_bool: bool
    ) -> list[Sample]:
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
                out.append(
                    Sample(sample.without_name().labels, float(_COMPARISON[op](a, b)))
                )
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

    def _vector_vector(
        self, op: str, lhs: list[Sample], rhs: list[Sample], modifier, return_bool: bool
    ) -> list[Sample]:
        if modifier is not None and "OneToOne" not in str(modifier.card):
            raise UnsupportedExpression("group_left and group_right are not evaluated")
        right = {self._signature(s, modifier): s for s in rhs}
        out = []
        for sample in lhs:
            signature = self._signature(sample, modifier)
            other = right.get(signature)
            if other is None:
                continue
            labels = (
                sample.labels
                if op in _COMPARISON and not return_bool
                else sample.without_name().labels
            )
            if (
                modifier is not None
                and modifier.matching is not None
                and op not in _COMPARISON
            ):
                labels = (
                    signature
                    if modifier.matching.type == pp.LabelModifierType.Include
                    else labels
                )
            if op in _ARITHMETIC:
                out.append(Sample(labels, _ARITHMETIC[op](sample.value, other.value)))
            elif return_bool:
                out.append(
                    Sample(labels, float(_COMPARISON[op](sample.value, other.value)))
                )
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
