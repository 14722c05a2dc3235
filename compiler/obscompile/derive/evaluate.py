"""Evaluate a subset of PromQL over synthetic series with Prometheus 2.42's arithmetic.

promtool compares sample values exactly, so the generated tests compute expected values
by repeating the engine's operations in the same order on IEEE doubles:

- a range selector `[r]` contains the samples from `t - r` to `t`, both included, and
  an instant selector takes the latest sample at most 5 minutes old;
- `rate`, `increase`, `delta` and `histogram_quantile` follow `functions`;
- `time()` is the evaluation time in seconds, so a promtool test that starts at 0
  gives 0 at its first evaluation;
- `label_replace` matches the anchored regular expression against the source label
  (empty when absent), expands `$1`, `${1}` and `$name` as Go's `Regexp.Expand` does,
  and removes the destination label when the expansion is empty; it keeps the metric
  name, and two results with the same labels are an error, as in Prometheus;
- `sum`, `avg`, `min`, `max`, `stddev`, `stdvar`, `quantile`, `topk` and `bottomk`
  must give the same result in every order of their series, or they raise
  `OrderDependent`. promtool aggregates the series in no fixed order. A sum, a
  running mean or a running variance rounds differently in each order, and the
  first of 0 and -0 is both their minimum and their maximum. `topk` and `bottomk`
  keep the first of two series that tie for their last place. A sum starts at its
  first value, as Prometheus' does, so a sum of -0 is -0. `count` counts NaN too;
- a one-to-one operation whose sides have two series with the same match raises
  `UnsupportedExpression`, because Prometheus fails such a query.

Unsupported syntax raises `UnsupportedExpression` when the expression is evaluated, so
a generator can report which rule it could not test instead of guessing a value.

A test generator evaluates the same few expressions at every step of thousands of
short runs, so each expression is compiled once into nested Python functions
(`compile_expr`), which read the parsed syntax tree's attributes only while compiling.
Inside the compiled functions a vector is a list of `(labels, value)` pairs, and
`Evaluator.vector` turns it into Samples.
"""

from __future__ import annotations

import bisect
import fractions
import functools
import itertools
import math
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

import promql_parser as pp

from obscompile import promql
from obscompile.derive.expressions import matcher_op
from obscompile.derive.functions import bucket_quantile, extrapolated_rate
from obscompile.diagnostics import quoted

LOOKBACK_MS = 5 * 60 * 1000
Labels = tuple[tuple[str, str], ...]
_REFERENCE = re.compile(r"\$(?:(\$)|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")


class UnsupportedExpression(ValueError):
    """The expression uses PromQL that this evaluator does not implement."""


class OrderDependent(UnsupportedExpression):
    """An aggregation whose result depends on the order of the series it reads.

    promtool loads the input series of a test by iterating over a Go map, so the
    order of the series, and with it such a value, changes from one run to the next.
    """


class Sample:
    """One sample of an instant vector: its labels, sorted by name, and its value."""

    __slots__ = ("labels", "value")

    def __init__(self, labels: Labels, value: float) -> None:
        self.labels = labels
        self.value = value

    def __repr__(self) -> str:
        return f"Sample(labels={self.labels!r}, value={self.value!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sample):
            return NotImplemented
        return self.labels == other.labels and self.value == other.value

    def __hash__(self) -> int:
        return hash((self.labels, self.value))

    def without_name(self) -> Sample:
        return Sample(drop_name(self.labels), self.value)


# Label sets without their metric name, by label set. An evaluation drops the names of
# the same few series at every step of a run; the memo is emptied when it grows large.
_UNNAMED: dict[Labels, Labels] = {}
_UNNAMED_MAX = 65_536


def drop_name(labels: Labels) -> Labels:
    """Return `labels` without `__name__`."""
    found = _UNNAMED.get(labels)
    if found is not None:
        return found
    found = labels
    for name, _ in labels:
        if name == "__name__":
            found = tuple(p for p in labels if p[0] != "__name__")
            break
    if len(_UNNAMED) >= _UNNAMED_MAX:
        _UNNAMED.clear()
    _UNNAMED[labels] = found
    return found


def make_labels(mapping: dict[str, str]) -> Labels:
    return tuple(sorted(mapping.items()))


# A compiled label matcher: the label name and a test of the label's value.
_LabelTest = tuple[str, Callable[[str], bool]]


class Storage:
    """Series as `(timestamp_ms, value)` points; a None value is a staleness marker."""

    def __init__(self) -> None:
        self.points: dict[Labels, list[tuple[int, float | None]]] = {}
        self.times: dict[Labels, list[int]] = {}
        # The series with a staleness marker among their points.
        self._stale: set[Labels] = set()
        self._by_name: dict[str, list[Labels]] = {}
        # Selections by (metric name, matchers): the number of series of that name
        # when the selection was made, and the selected series, sorted.
        self._selected: dict[tuple, tuple[int, list[Labels]]] = {}
        # Results of compiled expressions by (printed expression, time), kept until
        # a point is added, so callers must not change the lists they get.
        self.results: dict[tuple[str, int], Any] = {}

    def add(self, labels: Labels, timestamp: int, value: float | None) -> None:
        """Append a point; points of a series must come in increasing time order."""
        if self.results:
            self.results.clear()
        points = self.points.get(labels)
        if points is None:
            points = self.points[labels] = []
            self.times[labels] = []
            name = dict(labels).get("__name__", "")
            self._by_name.setdefault(name, []).append(labels)
        points.append((timestamp, value))
        self.times[labels].append(timestamp)
        if value is None:
            self._stale.add(labels)

    def has_stale(self, labels: Labels) -> bool:
        """Return True when a point of the series is a staleness marker."""
        return labels in self._stale

    def matching(self, selector: pp.VectorSelector) -> list[Labels]:
        return self._filter(selector.name, _label_tests(selector))

    def select(self, name: str | None, tests: tuple[_LabelTest, ...]) -> list[Labels]:
        """Return the series, sorted, of metric `name` (any when empty) that pass `tests`.

        The result is kept until a series of that name is added, so `tests` should
        be the same object at every call, as in a compiled expression.
        """
        count = len(self._by_name.get(name, ())) if name else len(self.points)
        key = (name, tests)
        known = self._selected.get(key)
        if known is not None and known[0] == count:
            return known[1]
        found = self._filter(name, tests)
        self._selected[key] = (count, found)
        return found

    def _filter(self, name: str | None, tests: tuple[_LabelTest, ...]) -> list[Labels]:
        candidates = self._by_name.get(name, []) if name else list(self.points)
        found = []
        for labels in sorted(candidates):
            mapping = dict(labels)
            if all(test(mapping.get(label, "")) for label, test in tests):
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

    def latest(self, labels: Labels, start: int, end: int) -> float | None:
        """Return the value of the last point from `start` to `end`, or None."""
        times = self.times[labels]
        index = bisect.bisect_right(times, end) - 1
        if index < 0 or times[index] < start:
            return None
        return self.points[labels][index][1]


def _label_test(op: str, expected: str) -> Callable[[str], bool]:
    if op == "=":
        return expected.__eq__
    if op == "!=":
        return expected.__ne__
    try:
        pattern = promql.compile_regex(expected)
    except re.error:
        # Raise the same error as `re.fullmatch` when the matcher is first used.
        return functools.partial(_fails_to_compile, expected)
    if op == "=~":
        return lambda value: pattern.fullmatch(value) is not None
    return lambda value: pattern.fullmatch(value) is None


def _fails_to_compile(expected: str, value: str) -> bool:
    return re.fullmatch(expected, value) is not None


def _label_tests(selector: pp.VectorSelector) -> tuple[_LabelTest, ...]:
    return tuple(
        (m.name, _label_test(matcher_op(m), m.value))
        for m in selector.matchers.matchers
    )


def selects(selector: pp.VectorSelector, labels: Labels) -> bool:
    """Return True when `selector` selects the series `labels`, as `Storage.matching` does."""
    mapping = dict(labels)
    if selector.name and mapping.get("__name__") != selector.name:
        return False
    return all(test(mapping.get(label, "")) for label, test in _label_tests(selector))


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
    pairs = _label_replace(
        [(s.labels, s.value) for s in samples], dst, replacement, src, regex
    )
    return [Sample(labels, value) for labels, value in pairs]


def _label_replace(
    pairs: list[tuple[Labels, float]], dst: str, replacement: str, src: str, regex: str
) -> list[tuple[Labels, float]]:
    if not promql.is_label_name(dst):
        raise UnsupportedExpression(f"{quoted(repr(dst))} is not a valid label name")
    try:
        pattern = promql.compile_regex(f"^(?:{regex})$")
    except re.error as exc:
        raise UnsupportedExpression(
            f"the regular expression {quoted(repr(regex))} is not evaluated: {exc}"
        ) from None
    out = []
    for labels, value in pairs:
        mapping = dict(labels)
        found = pattern.match(mapping.get(src, ""))
        if found is None:
            out.append((labels, value))
            continue
        replaced = expand_replacement(replacement, found)
        mapping.pop(dst, None)
        if replaced:
            mapping[dst] = replaced
        out.append((make_labels(mapping), value))
    if len({labels for labels, _ in out}) != len(out):
        raise UnsupportedExpression(
            "label_replace() gives two series the same labels, which Prometheus rejects"
        )
    return out


def _divide(a: float, b: float) -> float:
    if b != 0:
        return a / b
    if a == 0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1, b)


_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _divide,
}
_COMPARISON: dict[str, Callable[[float, float], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
}

# Inside compiled expressions: a scalar, or an instant vector of (labels, value).
Pairs = list[tuple[Labels, float]]
Value = Pairs | float
Compiled = Callable[[Storage, int], Value]


def _raises(message: str) -> Compiled:
    def fail(storage: Storage, t: int) -> Value:
        raise UnsupportedExpression(message)

    return fail


def _vector_of(compiled: Compiled) -> Callable[[Storage, int], Pairs]:
    def vector(storage: Storage, t: int) -> Pairs:
        value = compiled(storage, t)
        if isinstance(value, float):
            raise UnsupportedExpression("a scalar result is not a vector")
        return value

    return vector


@functools.lru_cache(maxsize=1024)
def compile_query(expr: str) -> Compiled:
    """Return `expr` compiled; raise ValueError when it does not parse.

    A panel's query may hold Grafana's range variables, which read as the window
    that the rules use, as `promql.parse` reads them everywhere else.
    """
    return compile_expr(promql.parse(expr))


# The deepest expression that the evaluator compiles, not counting parentheses. Each
# level of a compiled expression calls the functions of the level below it, which
# takes up to three Python frames a level, so a much deeper one would pass Python's
# limit of 1000 frames.
MAX_EVALUATED_DEPTH = 200


def compile_expr(node: pp.Expr) -> Compiled:
    """Return a function of (storage, time in ms) that evaluates `node`.

    Selections, calls, aggregations and operations remember their result in the
    storage, under the node's printed form and the time, until a point is added. So
    queries that share a part, such as a recording rule's expression and the query it
    records, compute that part once at a time. An expression deeper than
    MAX_EVALUATED_DEPTH is not evaluated.
    """
    depth = _depth(node)
    if depth > MAX_EVALUATED_DEPTH:
        return _raises(
            f"the expression nests {depth} levels deep, and the test generator "
            f"evaluates expressions at most {MAX_EVALUATED_DEPTH} levels deep"
        )
    return _compile(node)


def _depth(node: pp.Expr) -> int:
    """Return the number of levels of `node`'s syntax tree, not counting parentheses."""
    deepest = 0
    pending = [(node, 1)]
    while pending:
        part, level = pending.pop()
        if isinstance(part, pp.ParenExpr):
            pending.append((part.expr, level))
            continue
        deepest = max(deepest, level)
        pending += [(child, level + 1) for child in promql.children(part)]
    return deepest


def _compile(node: pp.Expr) -> Compiled:
    """Return `compile_expr(node)` for a node no deeper than MAX_EVALUATED_DEPTH."""
    node = promql.strip_parens(node)
    if isinstance(node, pp.NumberLiteral):
        number = float(node.val)
        return lambda storage, t: number
    if isinstance(node, pp.UnaryExpr):
        return _compile_negation(_compile(node.expr))
    if isinstance(node, pp.VectorSelector):
        return _remembered(str(node), _compile_instant(node))
    if isinstance(node, pp.Call):
        return _remembered(str(node), _compile_call(node))
    if isinstance(node, pp.AggregateExpr):
        return _remembered(str(node), _compile_aggregate(node))
    if isinstance(node, pp.BinaryExpr):
        return _remembered(str(node), _compile_binary(node))
    return _raises(f"{type(node).__name__} is not evaluated")


def _remembered(text: str, compiled: Compiled) -> Compiled:
    """Return `compiled`, with its results kept in `Storage.results` by time."""

    def remembered(storage: Storage, t: int) -> Value:
        key = (text, t)
        found = storage.results.get(key)
        if found is None:
            found = storage.results[key] = compiled(storage, t)
        return found

    return remembered


def _compile_negation(inner: Compiled) -> Compiled:
    def negate(storage: Storage, t: int) -> Value:
        value = inner(storage, t)
        if isinstance(value, float):
            return -value
        return [(drop_name(labels), -v) for labels, v in value]

    return negate


def _offset_ms(selector: pp.VectorSelector) -> int | None:
    """Return the selector's offset, or None for the @ modifier, which is not evaluated."""
    if selector.at is not None:
        return None
    return int(selector.offset.total_seconds() * 1000) if selector.offset else 0


def _compile_instant(selector: pp.VectorSelector) -> Compiled:
    offset = _offset_ms(selector)
    if offset is None:
        return _raises("the @ modifier is not evaluated")
    name, tests = selector.name, _label_tests(selector)

    def instant(storage: Storage, t: int) -> Value:
        reference = t - offset
        out = []
        for labels in storage.select(name, tests):
            value = storage.latest(labels, reference - LOOKBACK_MS, reference)
            if value is not None:
                out.append((labels, value))
        return out

    return instant


_RANGE_FUNCTIONS = ("rate", "increase", "delta", "irate", "idelta")


def _compile_call(node: pp.Call) -> Compiled:
    name = node.func.name
    if name in _RANGE_FUNCTIONS:
        matrix = promql.strip_parens(node.args[0])
        if not isinstance(matrix, pp.MatrixSelector):
            return _raises(f"{name}() of a subquery is not evaluated")
        return _compile_range_function(name, matrix)
    if name == "histogram_quantile":
        return _compile_quantile(_compile(node.args[0]), _compile(node.args[1]))
    if name == "time":
        # The evaluation time in seconds, as Prometheus divides its milliseconds.
        return lambda storage, t: t / 1000
    if name == "vector":
        scalar = _compile(node.args[0])

        def vector(storage: Storage, t: int) -> Value:
            value = scalar(storage, t)
            if not isinstance(value, float):
                raise UnsupportedExpression("vector() needs a scalar")
            return [((), value)]

        return vector
    if name == "label_replace":
        strings = promql.string_arguments(node)
        if strings is None or len(strings) != 4:
            return _raises("label_replace() needs four strings")
        dst, replacement, src, regex = strings
        inner = _vector_of(_compile(node.args[0]))

        def replace(storage: Storage, t: int) -> Value:
            return _label_replace(inner(storage, t), dst, replacement, src, regex)

        return replace
    return _raises(f"{name}() is not evaluated")


def _compile_range_function(name: str, matrix: pp.MatrixSelector) -> Compiled:
    selector = matrix.vector_selector
    offset = _offset_ms(selector)
    if offset is None:
        return _raises("the @ modifier is not evaluated")
    range_s = matrix.range.total_seconds()
    range_ms = int(range_s * 1000)
    metric, tests = selector.name, _label_tests(selector)
    counter = name in ("rate", "increase")
    rate = name == "rate"
    instant = name in ("irate", "idelta")

    def evaluate(storage: Storage, t: int) -> Value:
        end = t - offset
        start = end - range_ms
        out = []
        for labels in storage.select(metric, tests):
            window = storage.window(labels, start, end)
            points: list[tuple[int, float]]
            if storage.has_stale(labels):
                points = [(ts, v) for ts, v in window if v is not None]
            else:
                points = window  # type: ignore[assignment]  # no None among them
            if instant:
                value = _instant_change(name, points)
            else:
                value = extrapolated_rate(
                    points, start, end, range_s, counter=counter, rate=rate
                )
            if value is not None:
                out.append((drop_name(labels), value))
        return out

    return evaluate


def _instant_change(name: str, points: list) -> float | None:
    if len(points) < 2:
        return None
    (t0, v0), (t1, v1) = points[-2], points[-1]
    if name == "irate":
        return (v1 if v1 < v0 else v1 - v0) / ((t1 - t0) / 1000)
    return v1 - v0


def _compile_quantile(quantile_of: Compiled, buckets_of: Compiled) -> Compiled:
    buckets_vector = _vector_of(buckets_of)

    # The group and bucket bound of each label set, or None without an `le` label.
    bucket_of: dict[Labels, tuple[Labels, float] | None] = {}

    def quantile(storage: Storage, t: int) -> Value:
        value = quantile_of(storage, t)
        if not isinstance(value, float):
            raise UnsupportedExpression("histogram_quantile() needs a scalar quantile")
        groups: dict[Labels, list[tuple[float, float]]] = {}
        for labels, count in buckets_vector(storage, t):
            if labels in bucket_of:
                bucket = bucket_of[labels]
            else:
                mapping = dict(drop_name(labels))
                bound = mapping.pop("le", None)
                bucket = None if bound is None else (make_labels(mapping), float(bound))
                if len(bucket_of) >= _UNNAMED_MAX:
                    bucket_of.clear()
                bucket_of[labels] = bucket
            if bucket is None:
                continue
            groups.setdefault(bucket[0], []).append((bucket[1], count))
        return [
            (labels, bucket_quantile(value, found)) for labels, found in groups.items()
        ]

    return quantile


# The aggregations that the evaluator computes, and those of them that take a
# parameter before the vector.
_EVALUATED_AGGREGATIONS = frozenset(
    {"sum", "avg", "min", "max", "count", "stddev", "stdvar"}
    | {"quantile", "topk", "bottomk"}
)
_PARAMETER_AGGREGATIONS = frozenset({"quantile", "topk", "bottomk"})


def _compile_aggregate(node: pp.AggregateExpr) -> Compiled:
    op = str(node.op)
    if op not in _EVALUATED_AGGREGATIONS:
        return _raises(f"{op}() is not evaluated")
    inner = _vector_of(_compile(node.expr))
    ranked = op in ("topk", "bottomk")
    parameter_of = None
    if op in _PARAMETER_AGGREGATIONS and node.param is not None:
        parameter_of = _compile(node.param)
    modifier = node.modifier
    by: bool | None = None
    grouping: frozenset[str] = frozenset()
    if modifier is not None:
        by = modifier.type == pp.AggModifierType.By
        grouping = frozenset(modifier.labels)

    # The group of each label set: the same series come back at every step.
    group_of: dict[Labels, Labels] = {}

    def aggregate(storage: Storage, t: int) -> Value:
        parameter = None
        if parameter_of is not None:
            found = parameter_of(storage, t)
            if not isinstance(found, float):
                raise UnsupportedExpression(f"{op}() needs a scalar parameter")
            parameter = found
        groups: dict[Labels, list[float]] = {}
        # The series of each group, for `topk` and `bottomk`, which keep their labels.
        members: dict[Labels, Pairs] = {}
        for labels, value in sorted(inner(storage, t), key=_labels_of):
            key = group_of.get(labels)
            if key is None:
                unnamed = drop_name(labels)
                if by is None:
                    key = ()
                elif by:
                    key = tuple(p for p in unnamed if p[0] in grouping)
                else:
                    key = tuple(p for p in unnamed if p[0] not in grouping)
                if len(group_of) >= _UNNAMED_MAX:
                    group_of.clear()
                group_of[labels] = key
            groups.setdefault(key, []).append(value)
            if ranked:
                members.setdefault(key, []).append((labels, value))
        if ranked:
            if parameter is None:
                raise UnsupportedExpression(f"{op}() needs a scalar parameter")
            return [
                pair
                for group in members.values()
                for pair in _ranked(op, parameter, group)
            ]
        return [
            (key, reduce_group(op, values, parameter)) for key, values in groups.items()
        ]

    return aggregate


def _labels_of(pair: tuple[Labels, float]) -> Labels:
    return pair[0]


def reduce_group(op: str, values: list[float], parameter: float | None = None) -> float:
    """Aggregate one group's values, which every order of the values must give.

    Prometheus 2.42 aggregates the series in the order in which its storage returns
    them, which promtool does not fix. Raises OrderDependent where that order can
    change the result, even in the sign of a zero, which a template prints.
    `parameter` is the quantile of `quantile`.
    """
    if op == "sum":
        return _order_free_sum(values)
    if op == "count":
        return float(len(values))
    if op == "avg":
        return _order_free_mean(values)
    if op in ("stddev", "stdvar"):
        return _order_free_deviation(op, values)
    if op == "quantile":
        if parameter is None:
            raise UnsupportedExpression("quantile() needs a scalar parameter")
        return _quantile(parameter, values)
    result = values[0]
    for value in values[1:]:
        if (value > result if op == "max" else value < result) or math.isnan(result):
            result = value
    if result == 0 and {math.copysign(1.0, v) for v in values if v == 0} == {1, -1}:
        # Neither 0 nor -0 is greater, so the first of them stays.
        raise OrderDependent(
            f"{op}() of 0 and -0 gives the one that comes first in the order of the "
            "series, which promtool does not fix"
        )
    return result


# The maximum number of orders of one group's values that an average or a sum is
# computed in.
_MAX_ORDERS = 1000


def _sum(values: list[float]) -> float:
    """Add the values in order, from the first as Prometheus 2.42 does, so -0 stays."""
    total = values[0]
    for value in values[1:]:
        total += value
    return total


def _order_free_sum(values: list[float]) -> float:
    """Return the sum of `values`; raise OrderDependent where the order changes it.

    Two values give one sum in either order. More give one sum in every order where
    every partial sum is exact, and are otherwise added in each order.
    """
    total = _sum(values)
    if len(values) > 2 and not _exact_in_every_order(values):
        _check_orders("sum", values, _sum, total)
    return total


def _exact_in_every_order(values: list[float]) -> bool:
    """Return True where every order of adding `values` rounds no partial sum.

    Each finite double is an integer times a power of two. Where the integers, at
    the smallest of those powers, add up to less than 2**53 in absolute value, every
    partial sum is such an integer, so it is exact. NaN, or both infinities, give
    NaN in every order, and one infinity gives itself where no finite partial sum
    can overflow.
    """
    if any(math.isnan(value) for value in values):
        return True
    infinities = {value for value in values if math.isinf(value)}
    finite = [fractions.Fraction(value) for value in values if math.isfinite(value)]
    if len(infinities) == 2:
        return True
    if infinities:
        return sum(abs(value) for value in finite) <= _MAX_FLOAT
    scale = max((value.denominator for value in finite), default=1)
    return sum(abs(value) * scale for value in finite) < 2**53


_MAX_FLOAT = fractions.Fraction(sys.float_info.max)


def _same_float(a: float, b: float) -> bool:
    """Return True where two doubles print alike: equal with one sign, or both NaN."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def _check_orders(
    op: str, values: list[float], reduce: Callable[[list[float]], float], got: float
) -> None:
    """Raise OrderDependent unless every order of `values` reduces to `got`."""
    found = list(itertools.islice(_distinct_orders(values), _MAX_ORDERS + 1))
    if len(found) > _MAX_ORDERS:
        raise OrderDependent(
            f"{op}() of {len(values)} series has more than {_MAX_ORDERS} orders, "
            "and the result of each is not computed"
        )
    for order in found:
        if not _same_float(reduce(order), got):
            raise OrderDependent(
                f"{op}() of the input series gives a value that depends on the order "
                "of the series, which promtool does not fix"
            )


def _order_free_mean(values: list[float]) -> float:
    """Return the mean of `values`, which every order of the values must give.

    Rounding makes the mean depend on the order. Raises OrderDependent where two
    orders give different means, or where the values have more than _MAX_ORDERS
    orders to compare.
    """
    mean = _mean(values)
    if len(values) > 1:
        _check_orders("avg", values, _mean, mean)
    return mean


def _distinct_orders(values: list[float]) -> Iterator[list[float]]:
    """Yield each distinct order of `values`, counting equal values as one.

    NaN is never equal to itself, so each NaN counts as a value of its own, and
    0 and -0 count as two values.
    """
    if len(values) <= 1:
        yield list(values)
        return
    seen: set[tuple[float, float]] = set()
    for index, value in enumerate(values):
        key = (value, math.copysign(1.0, value))
        if key in seen:
            continue
        if not math.isnan(value):
            seen.add(key)
        rest = values[:index] + values[index + 1 :]
        for order in _distinct_orders(rest):
            yield [value, *order]


def _mean(values: list[float]) -> float:
    """Return the mean as Prometheus 2.42's avg() computes it, value by value.

    Each value moves the mean by its share, both sides divided by the count so that
    large values do not overflow. An infinite mean stays as it is unless a NaN or
    the opposite infinity comes, which make it NaN.
    """
    mean = values[0]
    for count, value in enumerate(values[1:], start=2):
        if math.isinf(mean) and (
            (math.isinf(value) and (mean > 0) == (value > 0))
            or not (math.isinf(value) or math.isnan(value))
        ):
            continue
        mean += value / count - mean / count
    return mean


def _variance_sum(values: list[float]) -> float:
    """Return the sum of squared deviations as Prometheus 2.42 adds it, value by value.

    The first value sets the mean and leaves the sum at 0, so the variance of one
    series is 0 even where its value is NaN.
    """
    mean, total = values[0], 0.0
    for count, value in enumerate(values[1:], start=2):
        delta = value - mean
        mean += delta / count
        total += delta * (value - mean)
    return total


def _deviation(op: str, values: list[float]) -> float:
    """Return `stdvar` or `stddev` of the values in their order."""
    variance = _variance_sum(values) / len(values)
    if op == "stdvar":
        return variance
    # Go's math.Sqrt is NaN below 0, where Python's math.sqrt raises.
    return math.sqrt(variance) if variance >= 0 else math.nan


def _order_free_deviation(op: str, values: list[float]) -> float:
    """Return `stddev` or `stdvar` of the values, which every order must give."""
    deviation = _deviation(op, values)
    if len(values) > 1:
        _check_orders(op, values, functools.partial(_deviation, op), deviation)
    return deviation


def _quantile(q: float, values: list[float]) -> float:
    """Return the `q` quantile of one group as Prometheus 2.42's `quantile` does.

    The engine sorts NaN before every number and weighs the two values around the
    rank `q * (n - 1)`, so a NaN that the weights reach makes the result NaN, even
    with a weight of 0. Raises OrderDependent where the group contains both 0 and -0,
    because the sort leaves them in the order in which they came.
    """
    if math.isnan(q):
        raise UnsupportedExpression("quantile() of NaN is not evaluated")
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if {math.copysign(1.0, v) for v in values if v == 0} == {1, -1}:
        raise OrderDependent(
            "quantile() of 0 and -0 depends on the order of the series, which "
            "promtool does not fix"
        )
    ordered = sorted(
        values, key=lambda v: (not math.isnan(v), 0.0 if math.isnan(v) else v)
    )
    rank = q * (len(ordered) - 1)
    lower = max(0, math.floor(rank))
    upper = min(len(ordered) - 1, lower + 1)
    weight = rank - math.floor(rank)
    return ordered[lower] * (1 - weight) + ordered[upper] * weight


def _ranked(op: str, k: float, members: Pairs) -> Pairs:
    """Return the series that `topk` or `bottomk` keep of one group, with their labels.

    Prometheus 2.42 keeps the k largest (or smallest) numbers, and NaN only where
    fewer than k numbers remain. Raises OrderDependent where two series compete
    for the last place: equal numbers, or NaN for fewer places than NaN series.
    """
    if math.isnan(k) or abs(k) >= 2**63:
        raise UnsupportedExpression(f"{op}() of {k:g} series is not evaluated")
    count = int(k)
    if count < 1:
        return []
    if len(members) <= count:
        return list(members)
    numbers = [pair for pair in members if not math.isnan(pair[1])]
    nans = [pair for pair in members if math.isnan(pair[1])]
    if len(numbers) < count:
        # Every number stays, and the NaN series take the places that are left.
        raise OrderDependent(
            f"{op}() keeps {count - len(numbers)} of {len(nans)} series that are "
            "NaN, and which ones it keeps depends on the order of the series, "
            "which promtool does not fix"
        )
    ordered = sorted(numbers, key=_value_of, reverse=op == "topk")
    if len(ordered) > count and ordered[count - 1][1] == ordered[count][1]:
        raise OrderDependent(
            f"{op}() keeps one of several series with the value "
            f"{ordered[count][1]:g}, and which one it keeps depends on the order "
            "of the series, which promtool does not fix"
        )
    return ordered[:count]


def _value_of(pair: tuple[Labels, float]) -> float:
    return pair[1]


def _compile_binary(node: pp.BinaryExpr) -> Compiled:
    op = str(node.op)
    modifier = node.modifier
    return_bool = bool(modifier and modifier.return_bool)
    lhs_of, rhs_of = _compile(node.lhs), _compile(node.rhs)
    signature = _signature_function(modifier)
    one_to_one = modifier is None or "OneToOne" in str(modifier.card)
    filtered = _signature_function(modifier, keep_name=True)
    grouping = _Grouping(
        one_to_many=modifier is not None and "OneToMany" in str(modifier.card),
        include=tuple(modifier.group_labels or ()) if modifier is not None else (),
    )

    def binary(storage: Storage, t: int) -> Value:
        lhs, rhs = lhs_of(storage, t), rhs_of(storage, t)
        if op in ("and", "or", "unless"):
            return _set_operation(op, lhs, rhs, signature)
        if op not in _ARITHMETIC and op not in _COMPARISON:
            raise UnsupportedExpression(f"operator {op} is not evaluated")
        if isinstance(lhs, float) and isinstance(rhs, float):
            if op in _ARITHMETIC:
                return _ARITHMETIC[op](lhs, rhs)
            return float(_COMPARISON[op](lhs, rhs))
        if isinstance(lhs, float) or isinstance(rhs, float):
            return _vector_scalar(op, lhs, rhs, return_bool)
        if not one_to_one:
            return _vector_grouped(op, lhs, rhs, signature, grouping, return_bool)
        return _vector_vector(op, lhs, rhs, signature, filtered, return_bool)

    return binary


def _signature_function(
    modifier: pp.BinModifier | None, keep_name: bool = False
) -> Callable[[Labels], Labels]:
    """Return the function that gives the labels a vector match compares.

    With `keep_name`, it gives the labels that a filtering comparison keeps of a
    series: one to one, Prometheus keeps only the labels of `on (...)`, without the
    metric name, or drops those of `ignoring (...)` and keeps the name.
    """
    matching = modifier.matching if modifier is not None else None
    base = _same_labels if keep_name else drop_name
    if matching is None:
        return base
    names = frozenset(matching.labels)
    if matching.type == pp.LabelModifierType.Include:
        return lambda labels: tuple(p for p in drop_name(labels) if p[0] in names)
    return lambda labels: tuple(p for p in base(labels) if p[0] not in names)


def _same_labels(labels: Labels) -> Labels:
    return labels


def _vector_scalar(op: str, lhs: Value, rhs: Value, return_bool: bool) -> Pairs:
    scalar_left = isinstance(lhs, float)
    vector = rhs if scalar_left else lhs
    scalar = lhs if scalar_left else rhs
    assert isinstance(vector, list) and isinstance(scalar, float)
    out = []
    arithmetic = _ARITHMETIC.get(op)
    if arithmetic is not None:
        for labels, value in vector:
            a, b = (scalar, value) if scalar_left else (value, scalar)
            out.append((drop_name(labels), arithmetic(a, b)))
        return out
    compare = _COMPARISON[op]
    for labels, value in vector:
        a, b = (scalar, value) if scalar_left else (value, scalar)
        if return_bool:
            out.append((drop_name(labels), float(compare(a, b))))
        elif compare(a, b):
            out.append((labels, value))
    return out


def _vector_vector(
    op: str,
    lhs: Pairs,
    rhs: Pairs,
    signature: Callable[[Labels], Labels],
    filtered: Callable[[Labels], Labels],
    return_bool: bool,
) -> Pairs:
    """Match `lhs` and `rhs` one to one.

    An arithmetic operation or a `bool` comparison gives the labels it matched on,
    without the metric name. A filtering comparison gives the left series with the
    labels that `filtered` keeps.
    """
    right = {signature(labels): value for labels, value in rhs}
    if len(right) < len(rhs):
        raise UnsupportedExpression(
            f"two series of the right side of {op} match the same series, which "
            "Prometheus rejects as many-to-many matching"
        )
    arithmetic = _ARITHMETIC.get(op)
    compare = _COMPARISON.get(op)
    out = []
    matched: set[Labels] = set()
    for labels, value in lhs:
        key = signature(labels)
        if key not in right:
            continue
        if key in matched:
            raise UnsupportedExpression(
                f"two series of the left side of {op} match one series of the right, "
                "which Prometheus rejects without group_left or group_right"
            )
        matched.add(key)
        other = right[key]
        if arithmetic is not None:
            out.append((key, arithmetic(value, other)))
        elif compare is None:
            continue
        elif return_bool:
            out.append((key, float(compare(value, other))))
        elif compare(value, other):
            out.append((filtered(labels), value))
    return out


class _Grouping:
    """The `group_left` or `group_right` of a match: which side is many, what it copies."""

    __slots__ = ("include", "one_to_many")

    def __init__(self, one_to_many: bool, include: tuple[str, ...]) -> None:
        self.one_to_many = one_to_many
        self.include = include


def _vector_grouped(
    op: str,
    lhs: Pairs,
    rhs: Pairs,
    signature: Callable[[Labels], Labels],
    grouping: _Grouping,
    return_bool: bool,
) -> Pairs:
    """Match many series of one side to one series of the other, as Prometheus 2.42.

    Each result has the labels of the many side's series, without the metric name
    for arithmetic or `bool`, and the labels of `group_left (...)` or `group_right
    (...)` copied from the one side's series, or removed where that series has none.
    A comparison keeps the left side's value. Two series of the one side with the
    same match labels, or two results with the same labels from one match, are an
    error there.
    """
    many_side, one_side = (rhs, lhs) if grouping.one_to_many else (lhs, rhs)
    by_signature: dict[Labels, tuple[Labels, float]] = {}
    for labels, value in one_side:
        key = signature(labels)
        if key in by_signature:
            raise UnsupportedExpression(
                "two series of the one side of a group_left or group_right match the "
                "same labels, which Prometheus rejects"
            )
        by_signature[key] = (labels, value)
    arithmetic = _ARITHMETIC.get(op)
    compare = _COMPARISON.get(op)
    out = []
    # The result labels given so far, by match labels.
    results: dict[Labels, set[Labels]] = {}
    for labels, value in many_side:
        key = signature(labels)
        found = by_signature.get(key)
        if found is None:
            continue
        one_labels, one_value = found
        left, right = (one_value, value) if grouping.one_to_many else (value, one_value)
        if arithmetic is not None:
            result = arithmetic(left, right)
        elif compare is None:
            continue
        elif return_bool:
            result = float(compare(left, right))
        elif compare(left, right):
            result = left
        else:
            continue
        mapping = dict(labels)
        if arithmetic is not None or return_bool:
            mapping.pop("__name__", None)
        copied = dict(one_labels)
        for name in grouping.include:
            if copied.get(name):
                mapping[name] = copied[name]
            else:
                mapping.pop(name, None)
        result_labels = make_labels(mapping)
        earlier = results.setdefault(key, set())
        if result_labels in earlier:
            raise UnsupportedExpression(
                "two results of a group_left or group_right match have the same "
                "labels, which Prometheus rejects"
            )
        earlier.add(result_labels)
        out.append((result_labels, result))
    return out


def _set_operation(
    op: str, lhs: Value, rhs: Value, signature: Callable[[Labels], Labels]
) -> Pairs:
    if not isinstance(lhs, list) or not isinstance(rhs, list):
        raise UnsupportedExpression(f"{op} needs vectors on both sides")
    right = {signature(labels) for labels, _ in rhs}
    if op == "and":
        return [pair for pair in lhs if signature(pair[0]) in right]
    if op == "unless":
        return [pair for pair in lhs if signature(pair[0]) not in right]
    left = {signature(labels) for labels, _ in lhs}
    return list(lhs) + [pair for pair in rhs if signature(pair[0]) not in left]


class Evaluator:
    """Evaluate instant queries at a timestamp over a Storage."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def vector(self, node: pp.Expr, t: int) -> list[Sample]:
        return self.samples(compile_expr(node), t)

    def query(self, expr: str, t: int) -> list[Sample]:
        """Return the instant vector of the query text `expr` at `t`."""
        return self.samples(compile_query(expr), t)

    def samples(self, compiled: Compiled, t: int) -> list[Sample]:
        value = compiled(self.storage, t)
        if isinstance(value, float):
            raise UnsupportedExpression("a scalar result is not a vector")
        return [Sample(labels, v) for labels, v in value]
