"""Synthesize promtool input series that drive a query to a chosen value.

A query is taken apart by its shape: a gauge under an aggregation, a counter under
`rate`/`increase`, a ratio of two counter rates, of two gauges or of a counter rate
and a gauge, the age
`time() - gauge` of a timestamp, the time left `gauge - time()` until one, or
`histogram_quantile` over bucket rates, optionally
times a constant or plus or minus a constant, any of them under `label_replace`. Each shape gets series whose labels
satisfy every matcher of the query and carry the requested group labels (the labels the
result is grouped by). Counters grow by whole numbers per sample, so the expanded values
stay exact; the caller checks the value the query really gives with the evaluator.
Where whole numbers miss a rate, the caller asks for a sampling, and `counters` builds a
counter that gives the rate exactly. A many-to-one match with `group_left` or
`group_right` gets series for both sides (see `grouped`).

For the age of a timestamp, the timestamp series rises by the sample interval at
every sample, so the age is the same at every evaluation. A promtool test starts at
time 0, so `time()` is the evaluation time in seconds and the timestamp starts at
minus the age, or at the time left.
"""

from __future__ import annotations

import contextlib
import math
import re
from fractions import Fraction
from typing import TYPE_CHECKING

import attrs
import promql_parser as pp

from obscompile import promql, trampoline
from obscompile.derive.annotations import decimal_text
from obscompile.derive.expressions import (
    is_guarded,
    is_vector,
    matcher_op,
    printed_text,
    without_default,
)
from obscompile.diagnostics import quoted
from obscompile.gotemplate import go_quote
from obscompile.model.service import Service
from obscompile.numbers import number_text
from obscompile.trampoline import Recursive

if TYPE_CHECKING:
    from obscompile.derive.counters import Sampling

_DEFAULT_VALUES = ("other", "200", "ok", "0")
# The maximum number of series that one group of an average gets in a ratio: the
# part of the whole and the rest of it (see `_rest_values`).
_MAX_AVERAGED_SERIES = 10


class CannotSynthesize(ValueError):
    """No input series give this query shape that value; the message gives why."""


@attrs.frozen
class InputSeries:
    """One input series: a counter growing by `step` per sample, or a constant gauge.

    A growing series starts at `start`, which is 0 for a counter. A constant gauge
    has the value `step`. A counter with a `cycle` repeats those values instead, and
    restarts where the cycle starts over. The series has a sample at every `every`-th
    point of the test group's interval, from point `first`, and none in between.
    """

    labels: tuple[tuple[str, str], ...]
    step: float
    counter: bool
    start: float = 0.0
    every: int = 1
    first: int = 0
    cycle: tuple[float, ...] = ()

    def series_text(self) -> str:
        mapping = dict(self.labels)
        name = mapping.pop("__name__", "")
        body = ",".join(
            f"{key}={go_quote(value)}" for key, value in sorted(mapping.items())
        )
        return f"{name}{{{body}}}"

    def values_text(self, samples: int) -> str:
        """Return the expanding notation for `samples + 1` values."""
        if self.every == 1 and self.first == 0 and not self.cycle:
            if self.counter:
                return f"{decimal_text(self.start)}+{decimal_text(self.step)}x{samples}"
            return f"{decimal_text(self.step)}x{samples}"
        tokens = [
            "_" if value is None else decimal_text(value)
            for value in self.values(samples)
        ]
        return " ".join(_compress_runs(tokens))

    def values(self, samples: int) -> list[float | None]:
        """Return the `samples + 1` values of `values_text`, as promtool expands them.

        None stands for a point without a sample. promtool adds the step once per
        sample, which can differ in the last bit from `start + step * index` when
        the start is not a whole number.
        """
        if self.every == 1 and self.first == 0:
            every_point: list[float | None] = [*self.sample_values(samples + 1)]
            return every_point
        points = range(samples + 1)
        present = [
            index >= self.first and (index - self.first) % self.every == 0
            for index in points
        ]
        expanded = iter(self.sample_values(sum(present)))
        return [next(expanded) if here else None for here in present]

    def sample_values(self, count: int) -> list[float]:
        """Return the values of the first `count` samples."""
        if self.cycle:
            return [self.cycle[index % len(self.cycle)] for index in range(count)]
        if not self.counter:
            return [self.step] * count
        value = self.start
        expanded = []
        for _ in range(count):
            expanded.append(value)
            value += self.step
        return expanded


def _compress_runs(tokens: list[str]) -> list[str]:
    """Return series notation tokens with each run of one token written once.

    `_x3` stands for three points without a sample, and `5x3` for four samples of 5.
    """
    written = []
    index = 0
    while index < len(tokens):
        run = 1
        while index + run < len(tokens) and tokens[index + run] == tokens[index]:
            run += 1
        token = tokens[index]
        if run == 1:
            written.append(token)
        elif token == "_":
            written.append(f"_x{run}")
        else:
            written.append(f"{token}x{run - 1}")
        index += run
    return written


@attrs.frozen
class Context:
    """Inputs of synthesis besides the query: catalog, sample interval, group labels.

    Without a `sampling`, every series has a sample at every evaluation, and a
    counter grows by a whole number per sample. With one, a counter under rate(),
    irate() or increase() follows it and gives the value exactly (see `counters`).
    Gauges stay constant at every point, and ratios, timestamps and histograms get
    no input series then.
    """

    service: Service | None
    interval_s: int
    group: tuple[tuple[str, str], ...] = ()
    instance: str | None = None
    multiplier: int = 1
    sampling: Sampling | None = None


def _regex_examples(pattern: str) -> list[str]:
    """Return strings that a simple RE2 pattern should match, for checking with re."""
    examples = []
    for alternative in _split_alternatives(pattern):
        text = alternative
        text = re.sub(r"\[\^?([^\]])[^\]]*\]", r"\1", text)
        text = text.replace(r"\d", "0").replace(r"\w", "a").replace(r"\.", ".")
        text = re.sub(r"\.\*|\.\+", "x", text)
        text = text.replace(".", "0")
        text = (
            re.sub(r"[*?]", "", text).replace("+", "").replace("(", "").replace(")", "")
        )
        text = text.replace("^", "").replace("$", "")
        examples.append(text)
    return examples


def _split_alternatives(pattern: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in pattern:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "|" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _satisfies(value: str, constraints: list[tuple[str, str]]) -> bool:
    for op, expected in constraints:
        if op == "=" and value != expected:
            return False
        if op == "!=" and value == expected:
            return False
        if op in ("=~", "!~"):
            try:
                pattern = promql.compile_regex(expected)
            except re.error as exc:
                raise CannotSynthesize(
                    f"the regex {quoted(go_quote(expected))} is not evaluated: {exc}"
                ) from None
            hit = pattern.fullmatch(value) is not None
            if hit != (op == "=~"):
                return False
    return True


def invented_value(label: str, value: str) -> bool:
    """Return True when synthesis may choose `value` for `label` where no `=` sets it."""
    return (
        value in _DEFAULT_VALUES
        or re.fullmatch(re.escape(label) + r"-[0-9]+", value) is not None
    )


def _candidates(label: str, constraints: list[tuple[str, str]]) -> list[str]:
    values = []
    for op, expected in constraints:
        if op == "=":
            values.append(expected)
        elif op == "=~":
            values.extend(_regex_examples(expected))
    values.extend(_DEFAULT_VALUES)
    values.extend(f"{label}-{n}" for n in range(1, _MAX_AVERAGED_SERIES + 1))
    return list(dict.fromkeys(values))


def _constraints(
    selectors: list[pp.VectorSelector],
) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    for selector in selectors:
        for matcher in selector.matchers.matchers:
            if matcher.name != "__name__":
                found.setdefault(matcher.name, []).append(
                    (matcher_op(matcher), matcher.value)
                )
    return found


def series_labels(
    match: list[pp.VectorSelector],
    context: Context,
    avoid: tuple[pp.VectorSelector, ...] = (),
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """Return labels that all selectors in `match` select and none in `avoid` does."""
    return series_label_sets(match, context, avoid, extra)[0]


def series_label_sets(
    match: list[pp.VectorSelector],
    context: Context,
    avoid: tuple[pp.VectorSelector, ...] = (),
    extra: dict[str, str] | None = None,
    count: int = 1,
) -> list[dict[str, str]]:
    """Return up to `count` label sets that `series_labels` could return.

    Without `avoid` there is one. With it, the sets differ from each other only in
    the value of one label, which breaks a matcher of `avoid` in each of them.
    """
    name = promql.metric_name(match[0])
    if name is None and any(promql.matcher_values(s, "__name__") for s in match):
        raise CannotSynthesize(
            f"`{quoted(printed_text(match[0]))}` matches __name__ with =~, != or "
            "!~, and the test generator takes the name of an input series only from a "
            f'metric name or a __name__="..." matcher. {HAND_TEST_ADVICE}'
        )
    wanted = _constraints(match)
    labels: dict[str, str] = dict(context.group)
    labels.update(extra or {})
    for label, constraints in wanted.items():
        if label in labels:
            if not _satisfies(labels[label], constraints):
                raise CannotSynthesize(
                    f'label {label}="{quoted(labels[label])}" does not satisfy the '
                    "query"
                )
            continue
        value = next(
            (v for v in _candidates(label, constraints) if _satisfies(v, constraints)),
            None,
        )
        if value is None:
            matchers = ", ".join(
                f"{label}{op}{quoted(go_quote(v))}" for op, v in constraints
            )
            raise CannotSynthesize(
                f"no value of label {label} matches all of {matchers}, so the "
                "generator finds no input series that the query selects"
            )
        labels[label] = value
    found = [labels]
    if avoid:
        found = _avoiding(labels, wanted, _constraints(list(avoid)), context, count)
    for one in found:
        if context.instance and "instance" not in one:
            one["instance"] = context.instance
        if name:
            one["__name__"] = name
    return found


def _avoiding(
    labels, wanted, unwanted, context: Context, count: int
) -> list[dict[str, str]]:
    """Return up to `count` copies of `labels`, each with another value of one label.

    Each value satisfies the matchers in `wanted` and breaks one in `unwanted`.
    """
    fixed = dict(context.group)
    for label, constraints in unwanted.items():
        if label in fixed or label == "job":
            continue
        # A value that breaks `!~ "5.."` or `!= "x"` is one that the pattern matches.
        flipped = [
            ("=~" if op in ("=~", "!~") else "=", value) for op, value in constraints
        ]
        values = [
            value
            for value in _candidates(label, wanted.get(label, []) + flipped)
            if _satisfies(value, wanted.get(label, []))
            and not _satisfies(value, constraints)
        ]
        if values:
            return [{**labels, label: value} for value in values[:count]]
    raise CannotSynthesize(
        "no series matches the denominator without matching the numerator"
    )


# The sentence that ends the reason for every query shape that gets no generated test.
HAND_TEST_ADVICE = (
    "Write a promtool test in tests/promtool/, which `obscompile test` runs"
)


# The aggregations that a query shape may apply to its input series.
_AGGREGATIONS = ("sum", "max", "min")
# Those that a side of a ratio may apply. With one series that both sides select and
# others that only the whole selects, `_rest_values` gives each of them its value.
_RATIO_AGGREGATIONS = ("sum", "max", "min", "avg")


# The aggregations over a ratio whose input series the module `aggregations` builds.
_SPREAD_AGGREGATIONS = frozenset(
    {"count", "stddev", "stdvar", "quantile", "topk", "bottomk"}
)


def _aggregations(
    node: pp.Expr, operations: tuple[str, ...] = _AGGREGATIONS
) -> tuple[list[pp.AggregateExpr], pp.Expr]:
    """Return the aggregations among `operations` around `node`, outermost first.

    Only aggregations without a parameter count. The expression under them comes
    second.
    """
    node = promql.strip_parens(node)
    found = []
    while (
        isinstance(node, pp.AggregateExpr)
        and str(node.op) in operations
        and node.param is None
    ):
        found.append(node)
        node = promql.strip_parens(node.expr)
    return found, node


def _without_aggregations(
    node: pp.Expr, operations: tuple[str, ...] = _AGGREGATIONS
) -> pp.Expr:
    """Return the expression under any aggregations among `operations`."""
    return _aggregations(node, operations)[1]


def _counter_selector(
    node: pp.Expr, operations: tuple[str, ...] = _AGGREGATIONS
) -> tuple[pp.VectorSelector, pp.MatrixSelector, str]:
    """Return the selector of `agg(rate(selector[r]))` or `rate(selector[r])`."""
    inner = _without_aggregations(node, operations)
    if isinstance(inner, pp.Call) and inner.func.name in ("rate", "increase", "irate"):
        matrix = promql.strip_parens(inner.args[0])
        if isinstance(matrix, pp.MatrixSelector):
            return matrix.vector_selector, matrix, inner.func.name
    raise CannotSynthesize(
        f"`{quoted(printed_text(node))}` is not a counter under rate(), irate() or "
        "increase(), which is the only input the test generator builds here. "
        f"{HAND_TEST_ADVICE}"
    )


def _gauge_selector(
    node: pp.Expr, operations: tuple[str, ...] = _AGGREGATIONS
) -> pp.VectorSelector | None:
    """Return the selector of `agg(selector)` or `selector`, else None."""
    inner = _without_aggregations(node, operations)
    return inner if isinstance(inner, pp.VectorSelector) else None


def counter_step(
    function: str, rate: Fraction, matrix: pp.MatrixSelector, interval_s: int
) -> Fraction:
    """Return the per-sample increment that gives `rate` (per second, or per window)."""
    if function in ("rate", "irate"):
        return rate * interval_s
    window = Fraction(int(matrix.range.total_seconds()))
    return rate * interval_s / window


def _whole(step: Fraction) -> float:
    if step.denominator != 1:
        raise CannotSynthesize(
            f"a counter increment of {float(step)} per sample is not a whole number"
        )
    return float(step)


def synthesize(node: pp.Expr, target: float, context: Context) -> list[InputSeries]:
    """Return input series that should make the query's value `target`."""
    return trampoline.run(synthesize_call(node, target, context))


def synthesize_call(
    node: pp.Expr, target: float, context: Context
) -> Recursive[list[InputSeries]]:
    """Return the call `synthesize(node, target, context)` for `trampoline.run`.

    A step of `synthesize` that synthesizes a part of its query, such as
    `grouped.grouped_series`, yields this call for the part.
    """
    node = promql.strip_parens(node)
    if math.isnan(target) or math.isinf(target):
        raise CannotSynthesize("the target value is not finite")
    present = without_default(node)
    if present is not node:
        return (yield synthesize_call(present, target, context))
    if (
        isinstance(node, pp.BinaryExpr)
        and str(node.op) in ("*", "/")
        and node.modifier is None
    ):
        right, left = promql.number_value(node.rhs), promql.number_value(node.lhs)
        if right is not None and left is None and right != 0:
            factor = _exact_constant(right)
            inner = (
                Fraction(repr(target)) / factor
                if str(node.op) == "*"
                else Fraction(repr(target)) * factor
            )
            return (yield synthesize_call(node.lhs, _as_float(inner), context))
        if left is not None and right is None and str(node.op) == "*" and left != 0:
            return (
                yield synthesize_call(
                    node.rhs,
                    _as_float(Fraction(repr(target)) / _exact_constant(left)),
                    context,
                )
            )
        if str(node.op) == "/" and is_vector(node.lhs) and is_vector(node.rhs):
            return _ratio(node, Fraction(repr(target)), context)
    if (
        isinstance(node, pp.BinaryExpr)
        and str(node.op) == "/"
        and _matches_one_to_one(node.modifier)
        and is_vector(node.lhs)
        and is_vector(node.rhs)
    ):
        # The input series of both sides carry the same labels, so they match
        # whichever labels `on` or `ignoring` compares.
        return _ratio(node, Fraction(repr(target)), context)
    if isinstance(node, pp.BinaryExpr) and _matches_many_to_one(node.modifier):
        from obscompile.derive.grouped import grouped_series

        return (yield grouped_series(node, target, context))
    if (
        isinstance(node, pp.BinaryExpr)
        and str(node.op) in ("+", "-")
        and node.modifier is None
    ):
        shifted = _shifted_target(node, Fraction(repr(target)))
        if shifted is not None:
            vector_side, needed = shifted
            return (yield synthesize_call(vector_side, _as_float(needed), context))
    if (
        isinstance(node, pp.BinaryExpr)
        and str(node.op) == "-"
        and node.modifier is None
        and promql.is_time_call(node.lhs)
        and is_vector(node.rhs)
    ):
        return _age(node, target, context)
    if (
        isinstance(node, pp.BinaryExpr)
        and str(node.op) == "-"
        and node.modifier is None
        and is_vector(node.lhs)
        and promql.is_time_call(node.rhs)
    ):
        return _age(node, target, context, time_left=True)
    if isinstance(node, pp.BinaryExpr) and is_guarded(node):
        if target <= 0:
            raise CannotSynthesize("a guarded denominator cannot be zero or negative")
        return (yield synthesize_call(node.lhs, target, context))
    if isinstance(node, pp.Call) and node.func.name == "label_replace":
        return (
            yield synthesize_call(node.args[0], target, _before_replace(node, context))
        )
    if isinstance(node, pp.Call) and node.func.name == "histogram_quantile":
        from obscompile.derive.buckets import quantile_series

        return quantile_series(node, target, context)
    if (
        isinstance(node, pp.AggregateExpr)
        and str(node.op) in ("sum", "avg", "max", "min")
        and node.param is None
    ):
        # One input series per group, whose value each of these passes on.
        return (yield synthesize_call(node.expr, target, context))
    if (
        isinstance(node, pp.AggregateExpr)
        and str(node.op) in _SPREAD_AGGREGATIONS
        and _divides_vectors(node.expr)
    ):
        # NOTE: the same inputs would serve other expressions below these
        # aggregations, such as `topk(3, x)`, which get no generated test yet.
        from obscompile.derive.aggregations import aggregated_series

        return (yield aggregated_series(node, target, context))
    if isinstance(node, pp.Call) and node.func.name in ("rate", "increase", "irate"):
        selector, matrix, function = _counter_selector(node)
        if target < 0:
            raise CannotSynthesize("a counter rate cannot be negative")
        if context.sampling is not None:
            from obscompile.derive.counters import exact_counter

            labels = _pairs(series_labels([selector], context))
            return [exact_counter(function, matrix, target, labels, context.sampling)]
        step = counter_step(
            function, Fraction(repr(target)), matrix, context.interval_s
        )
        return [
            InputSeries(_pairs(series_labels([selector], context)), _whole(step), True)
        ]
    if isinstance(node, pp.VectorSelector):
        return [InputSeries(_pairs(series_labels([node], context)), target, False)]
    raise CannotSynthesize(
        "the test generator cannot build input series that give "
        f"`{quoted(printed_text(node))}` a chosen value, because it covers only "
        "the query shapes that docs/recording-rules.md "
        f"lists under Generated tests. {HAND_TEST_ADVICE}"
    )


def _divides_vectors(node: pp.Expr) -> bool:
    """Return True for a ratio of two vectors, such as `rate(a[5m]) / rate(b[5m])`."""
    node = promql.strip_parens(node)
    return (
        isinstance(node, pp.BinaryExpr)
        and str(node.op) == "/"
        and is_vector(node.lhs)
        and is_vector(node.rhs)
    )


def _matches_one_to_one(modifier: pp.BinModifier | None) -> bool:
    """Return True for `on (...)` or `ignoring (...)` one to one, without `bool`."""
    return (
        modifier is not None
        and modifier.matching is not None
        and "OneToOne" in str(modifier.card)
        and not modifier.return_bool
    )


def _matches_many_to_one(modifier: pp.BinModifier | None) -> bool:
    """Return True for `group_left` or `group_right`."""
    card = str(modifier.card) if modifier is not None else ""
    return "ManyToOne" in card or "OneToMany" in card


def _shifted_target(
    node: pp.BinaryExpr, target: Fraction
) -> tuple[pp.Expr, Fraction] | None:
    """Return the vector side of `k - x`, `x - k` or `x + k` and the value it needs."""
    right, left = promql.number_value(node.rhs), promql.number_value(node.lhs)
    subtract = str(node.op) == "-"
    if right is not None and left is None:
        constant = _exact_constant(right)
        return node.lhs, target + constant if subtract else target - constant
    if left is not None and right is None:
        constant = _exact_constant(left)
        return node.rhs, constant - target if subtract else target - constant
    return None


def _age(
    node: pp.BinaryExpr, target: float, context: Context, time_left: bool = False
) -> list[InputSeries]:
    """Return a timestamp series whose age `time() - timestamp` is always `target`.

    The series rises by the sample interval per sample from `-target`, so at every
    sample time `t` it is `t - target`. With `time_left`, the query is
    `timestamp - time()`, the time left until a timestamp such as a certificate's
    expiry, and the series starts at `target` instead. The evaluator checks that the
    subtraction gives `target` exactly.
    """
    reject_sampling(context, "a timestamp")
    timestamp = node.lhs if time_left else node.rhs
    selector = _gauge_selector(timestamp)
    if selector is None:
        if time_left:
            raise CannotSynthesize(
                "the query subtracts time() from "
                f"`{quoted(printed_text(timestamp))}`, and the test generator builds "
                "input series for a time left only where the "
                f"query subtracts time() from a gauge, under sum, max or min. "
                f"{HAND_TEST_ADVICE}"
            )
        raise CannotSynthesize(
            f"the query subtracts `{quoted(printed_text(timestamp))}` from time(), "
            "and the test generator builds input series for an age only where the "
            "query subtracts a gauge, "
            f"under sum, max or min, from time(). {HAND_TEST_ADVICE}"
        )
    if selector.offset:
        raise CannotSynthesize(
            "the query subtracts time() and a timestamp read with an offset, and "
            "the test generator builds input series only for the latest "
            f"timestamp. {HAND_TEST_ADVICE}"
        )
    age = Fraction(repr(target))
    if age.denominator & (age.denominator - 1):
        # Only a denominator that is a power of two keeps `t - age` exact as the
        # clock `t` grows, so that time() minus the timestamp gives the age back.
        raise CannotSynthesize(
            f"the test needs an age of {target!r} seconds, which has no exact "
            "binary form, so the rounding of time() minus a timestamp misses it. "
            f"Thresholds in whole seconds avoid this. {HAND_TEST_ADVICE}"
        )
    labels = series_labels([selector], context)
    start = age if time_left else -age
    return [
        InputSeries(
            _pairs(labels), float(context.interval_s), True, start=_as_float(start)
        )
    ]


_COPIES = {("$1", "(.*)"), ("${1}", "(.*)"), ("$1", "(.+)"), ("${1}", "(.+)")}


def _before_replace(node: pp.Call, context: Context) -> Context:
    """Return the context that gives the requested group labels after `label_replace`.

    A destination label that is not a group label needs nothing. For one that copies
    a whole source label (`"$1"` from `"(.*)"`), the source label gets its value.
    """
    strings = promql.string_arguments(node)
    if strings is None or len(strings) != 4:
        raise CannotSynthesize("label_replace() needs four string arguments")
    dst, replacement, src, regex = strings
    group = dict(context.group)
    if dst not in group:
        return context
    if (replacement, regex) not in _COPIES or not src:
        raise CannotSynthesize(
            f'no input series for a label_replace() that sets "{dst}" in this form'
        )
    requested = group.pop(dst)
    if src not in group:
        group[src] = requested
    return attrs.evolve(context, group=tuple(sorted(group.items())))


def reject_sampling(context: Context, shape: str) -> None:
    """Raise CannotSynthesize where `context` has a sampling, which `shape` ignores."""
    if context.sampling is not None:
        raise CannotSynthesize(
            f"the test generator builds {shape} only from a sample at every evaluation"
        )


def _as_float(value: Fraction) -> float:
    return float(value)


def _exact_constant(value: float) -> Fraction:
    """Return a number of the query exactly; raise CannotSynthesize for Inf or NaN.

    A query that adds, subtracts, multiplies or divides by an infinite number or NaN
    has no finite input that gives its result a chosen value.
    """
    if not math.isfinite(value):
        raise CannotSynthesize(
            f"the query computes with {number_text(value)}, so no input series give "
            f"it a chosen value. {HAND_TEST_ADVICE}"
        )
    return Fraction(repr(value))


def _pairs(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _ratio(
    node: pp.BinaryExpr, target: Fraction, context: Context
) -> list[InputSeries]:
    """Split traffic between numerator and denominator series to give `target`."""
    reject_sampling(context, "a ratio")
    denominator_node = node.rhs
    guarded = promql.strip_parens(denominator_node)
    query_guards = isinstance(guarded, pp.BinaryExpr) and is_guarded(guarded)
    if isinstance(guarded, pp.BinaryExpr) and query_guards:
        denominator_node = guarded.lhs
    numerator_node = without_default(promql.strip_parens(node.lhs))
    factor = None
    if isinstance(numerator_node, pp.BinaryExpr) and str(numerator_node.op) == "*":
        # `100 * a / b` parses as `(100 * a) / b`: the factor scales the numerator.
        factor = promql.number_value(numerator_node.lhs)
        inner = numerator_node.rhs
        if factor is None:
            factor, inner = promql.number_value(numerator_node.rhs), numerator_node.lhs
        if factor is None or factor == 0:
            raise CannotSynthesize("the numerator is not a rate times a constant")
        numerator_node = without_default(inner)
        target = target / _exact_constant(factor)
    top_gauge = _gauge_selector(numerator_node, _RATIO_AGGREGATIONS)
    bottom_gauge = _gauge_selector(denominator_node, _RATIO_AGGREGATIONS)
    if top_gauge is not None and bottom_gauge is not None:
        return _gauge_ratio(
            (top_gauge, numerator_node),
            (bottom_gauge, denominator_node),
            target,
            context,
        )
    top_counter = _counter_or_none(numerator_node)
    bottom_counter = _counter_or_none(denominator_node)
    if top_counter is not None and bottom_gauge is not None:
        return _counter_gauge_ratio(top_counter, bottom_gauge, target, context, True)
    if top_gauge is not None and bottom_counter is not None:
        return _counter_gauge_ratio(bottom_counter, top_gauge, target, context, False)
    if top_counter is None or bottom_counter is None:
        raise CannotSynthesize(
            f"the query divides {_side_kind(numerator_node)} by "
            f"{_side_kind(denominator_node)}, and the test generator builds input "
            "series for a ratio only where both sides are counters under rate(), "
            "irate() or increase(), where both are gauges, or where such a counter "
            f"rate is divided by a gauge, each under sum, max, min or avg. "
            f"{HAND_TEST_ADVICE}"
        )
    top, _, _ = top_counter
    bottom, matrix_bottom, _ = bottom_counter
    if target < 0:
        raise CannotSynthesize("a ratio of counter rates cannot be negative")
    numerator, denominator = _small_fraction(target)
    # Rates of whole multiples of window/interval stay exact while the window fills.
    scale = (
        max(1, int(matrix_bottom.range.total_seconds()) // context.interval_s)
        * context.multiplier
    )
    _check_same_offset(top, bottom, "keeps each series' rate constant over time")
    step = scale * context.interval_s
    return _ratio_series(
        _Side(top, numerator_node, float(numerator * step)),
        _Side(bottom, denominator_node, float(denominator * step)),
        context,
        counter=True,
    )


def _check_same_offset(
    top: pp.VectorSelector, bottom: pp.VectorSelector, inputs: str
) -> None:
    """Raise CannotSynthesize where the sides of a ratio have different offsets.

    `inputs` describes what the generator does with the series, after "the test
    generator".
    """
    if (top.offset or None) != (bottom.offset or None):
        raise CannotSynthesize(
            "the two sides of the ratio read their series at different times, and "
            f"the test generator {inputs}, so it cannot give the ratio a chosen "
            f"value. {HAND_TEST_ADVICE}"
        )


def _counter_or_none(
    node: pp.Expr,
) -> tuple[pp.VectorSelector, pp.MatrixSelector, str] | None:
    """Return what `_counter_selector` returns for a side of a ratio, or None."""
    try:
        return _counter_selector(node, _RATIO_AGGREGATIONS)
    except CannotSynthesize:
        return None


def _small_fraction(target: Fraction) -> tuple[int, int]:
    """Return the numerator and denominator, up to 10,000, of a fraction that is `target`.

    Raises CannotSynthesize where no such fraction gives the same double.
    """
    fraction = target.limit_denominator(10_000)
    if float(fraction) != float(target):
        raise CannotSynthesize(f"{float(target)} is not a ratio of small whole numbers")
    return fraction.numerator, fraction.denominator


@attrs.frozen
class _Side:
    """One side of a ratio: its selector, its expression and the value it needs."""

    selector: pp.VectorSelector
    node: pp.Expr
    value: float


def _ratio_series(
    top: _Side, bottom: _Side, context: Context, counter: bool
) -> list[InputSeries]:
    """Return series whose selections by the two sides give each side its value.

    Where no series matches both sides, as for two metrics or in
    `x{state="active"} / x{state="idle"}`, each side gets a series of its own.
    Otherwise one series matches both sides and carries the value of the part, and
    series that only the whole selects give the whole its value. The whole is the
    denominator in `sum(x{state="active"}) / sum(x)` and the numerator in
    `sum(x) / sum(x{state="active"})`. The denominator is tried as the whole first.
    """
    shared = None
    if promql.metric_name(top.selector) == promql.metric_name(bottom.selector):
        with contextlib.suppress(CannotSynthesize):
            shared = series_labels([top.selector, bottom.selector], context)
    if shared is None:
        return [
            InputSeries(
                _pairs(series_labels([side.selector], context)), side.value, counter
            )
            for side in (top, bottom)
        ]
    if top.value == bottom.value:
        return [InputSeries(_pairs(shared), top.value, counter)]
    reasons: list[CannotSynthesize] = []
    for part, whole in ((top, bottom), (bottom, top)):
        try:
            rests = series_label_sets(
                [whole.selector],
                context,
                avoid=(part.selector,),
                count=_MAX_AVERAGED_SERIES - 1,
            )
        except CannotSynthesize:
            continue
        operation = _merging_operation(whole.node, shared, rests)
        try:
            shared_value, rest_values = _rest_values(
                operation, part.value, whole.value, counter, len(rests)
            )
        except CannotSynthesize as exc:
            reasons.append(exc)
            continue
        used = rests[: len(rest_values)]
        return [InputSeries(_pairs(shared), shared_value, counter)] + [
            InputSeries(_pairs(labels), value, counter)
            for labels, value in zip(used, rest_values, strict=True)
        ]
    if reasons:
        raise reasons[0]
    raise CannotSynthesize(
        "no series matches one side of the ratio without matching the other"
    )


def _merging_operation(
    node: pp.Expr, shared: dict[str, str], rests: list[dict[str, str]]
) -> str | None:
    """Return the aggregation of `node` that puts `rests` into the group of `shared`.

    That is the innermost aggregation that keeps none of the labels in which they
    differ. None means that no aggregation of `node` puts them together.
    """
    differing = {
        label
        for rest in rests
        for label in shared.keys() | rest.keys()
        if shared.get(label) != rest.get(label)
    }
    aggregations, _ = _aggregations(node, _RATIO_AGGREGATIONS)
    for aggregation in reversed(aggregations):
        modifier = aggregation.modifier
        kept: set[str] = set()
        if modifier is not None:
            labels = set(modifier.labels)
            if modifier.type == pp.AggModifierType.By:
                kept = differing & labels
            else:
                kept = differing - labels
        if not kept:
            return str(aggregation.op)
    return None


def _rest_values(
    operation: str | None, part: float, whole: float, counter: bool, available: int
) -> tuple[float, list[float]]:
    """Return the value of the series that both sides select, and of the rest.

    The whole aggregates the part and the rest with `operation`, and `available` is
    the number of rest series that have labels. Where no aggregation puts the rest
    into the part's group, the values are those of a sum, and the caller's check of
    the query's value finds the difference. A counter's rate is never negative, so
    a sum, maximum or average of counter rates over the whole may need a value that
    no rest gives. Gauges may be negative.
    """
    if operation in ("max", "min"):
        # A rest series with the whole's own value gives the whole that value where
        # it is above the part under max, or below it under min.
        if (whole > part) == (operation == "max"):
            return part, [whole]
        if counter:
            raise CannotSynthesize(_PART_BEYOND_WHOLE[operation])
        # Negating both gauges reverses their order and keeps their ratio, so that
        # max(-5, -2) is -2, and -5 / -2 is 2.5.
        return -part, [-whole]
    if operation == "avg":
        averaged = _averaged_rest(part, whole, counter, available)
        # Prometheus adds each value to a running mean, divided by the count so far.
        # With every value a multiple of lcm(1..n)², each step of it is a whole
        # number in any order of the n series, wherever the rates are exact.
        factor = math.lcm(*range(1, len(averaged) + 2)) ** 2
        return part * factor, [value * factor for value in averaged]
    rest = whole - part
    if counter and rest < 0:
        raise CannotSynthesize(_PART_BEYOND_WHOLE["sum"])
    return part, [rest]


# The reason that no counter rates give a ratio of a part to its whole, by the
# aggregation of the whole.
_PART_BEYOND_WHOLE = {
    "sum": "a part of the traffic cannot exceed the whole",
    "max": (
        "the maximum of a part of the counter rates cannot exceed the maximum of "
        "all of them"
    ),
    "min": (
        "the minimum of a part of the counter rates cannot be below the minimum of "
        "all of them"
    ),
}


def _averaged_rest(
    part: float, whole: float, counter: bool, available: int
) -> list[float]:
    """Return the rest of a whole whose average over the part and the rest is `whole`.

    With n series in the whole, the rest adds up to `n * whole - part`. The first
    rest series carries all of it and the others are 0. A counter's rest cannot be
    negative, so the whole needs at least `part / whole` series.
    """
    count = 2
    if counter:
        if whole == 0:
            raise CannotSynthesize(
                "the average of counter rates is above 0 wherever one of them is"
            )
        count = max(count, math.ceil(Fraction(part) / Fraction(whole)))
        limit = min(_MAX_AVERAGED_SERIES, available + 1)
        if count > limit:
            raise CannotSynthesize(
                f"the average of a part of the counter rates is {part / whole:g} "
                f"times the average of all of them only where they are at least "
                f"{count} series, and the test generator builds at most {limit} here"
            )
    return [count * whole - part] + [0.0] * (count - 2)


def _counter_gauge_ratio(
    counter: tuple[pp.VectorSelector, pp.MatrixSelector, str],
    gauge: pp.VectorSelector,
    target: Fraction,
    context: Context,
    counter_first: bool,
) -> list[InputSeries]:
    """Return a counter and a gauge whose ratio is `target`.

    `counter_first` is True where the counter's rate is the numerator. The rate and
    the gauge are whole multiples of the numerator and denominator of a small
    fraction, so the quotient is the correctly rounded target wherever the rate is
    exact. The caller checks the value that the query really gives.
    """
    selector, matrix, function = counter
    if target < 0:
        raise CannotSynthesize(
            "the test generator builds no negative ratio of a counter rate and a gauge"
        )
    _check_same_offset(selector, gauge, "keeps the rate and the gauge constant")
    name = promql.metric_name(selector)
    if name is not None and name == promql.metric_name(gauge):
        raise CannotSynthesize(
            f"the query reads {name} both as a counter under "
            f"{function}() and as a gauge, and the test generator builds no series "
            f"that is both. {HAND_TEST_ADVICE}"
        )
    numerator, denominator = _small_fraction(target)
    rate_part, gauge_part = (
        (numerator, denominator) if counter_first else (denominator, numerator)
    )
    # As for a ratio of two rates, a whole multiple of window/interval keeps an
    # increase() a whole number per sample.
    scale = (
        max(1, int(matrix.range.total_seconds()) // context.interval_s)
        * context.multiplier
    )
    step = counter_step(
        function, Fraction(rate_part * scale), matrix, context.interval_s
    )
    return [
        InputSeries(_pairs(series_labels([selector], context)), _whole(step), True),
        InputSeries(
            _pairs(series_labels([gauge], context)), float(gauge_part * scale), False
        ),
    ]


def _side_kind(node: pp.Expr) -> str:
    """Return what one side of a ratio is, for the reason a rule has no test."""
    if _gauge_selector(node, _RATIO_AGGREGATIONS) is not None:
        return "a gauge"
    try:
        _counter_selector(node, _RATIO_AGGREGATIONS)
    except CannotSynthesize:
        return f"`{quoted(printed_text(node))}`"
    return "a counter rate"


def _gauge_ratio(
    top: tuple[pp.VectorSelector, pp.Expr],
    bottom: tuple[pp.VectorSelector, pp.Expr],
    target: Fraction,
    context: Context,
) -> list[InputSeries]:
    """Return constant gauges whose ratio is `target`: whole numbers where they can be.

    Each side is its selector and its expression.

    The ratio of the nearest small fraction is the correctly rounded quotient, so
    `9 / 10` gives the double 0.9. A target that no small fraction gives is the
    numerator over a denominator of 1.
    """
    fraction = target.limit_denominator(10_000)
    if float(fraction) == float(target):
        numerator = float(fraction.numerator * context.multiplier)
        denominator = float(fraction.denominator * context.multiplier)
    else:
        numerator, denominator = float(target), 1.0
    _check_same_offset(top[0], bottom[0], "gives both sides constant gauges")
    return _ratio_series(
        _Side(*top, numerator), _Side(*bottom, denominator), context, counter=False
    )


def silent_copy(series: list[InputSeries]) -> list[InputSeries]:
    """Return the same series with no traffic: counters flat at zero."""
    return [attrs.evolve(s, step=0.0, cycle=()) if s.counter else s for s in series]


def flat_counters(
    series: list[InputSeries], node: pp.Expr, spared: pp.Expr | None = None
) -> list[InputSeries]:
    """Return the same series with the counters that `node` reads flat at zero.

    Counters that `spared` reads too keep their traffic.
    """
    selectors = promql.selectors(node)
    kept = promql.selectors(spared) if spared is not None else []
    return [
        attrs.evolve(s, step=0.0, cycle=())
        if s.counter
        and any(_selects(selector, s) for selector in selectors)
        and not any(_selects(selector, s) for selector in kept)
        else s
        for s in series
    ]


def scaled_gauges(series: list[InputSeries], factor: float) -> list[InputSeries]:
    """Return the same series with the value of every gauge times `factor`."""
    return [s if s.counter else attrs.evolve(s, step=s.step * factor) for s in series]


def _selects(selector: pp.VectorSelector, series: InputSeries) -> bool:
    """Return True when `selector` selects the input series."""
    labels = dict(series.labels)
    if selector.name and labels.get("__name__") != selector.name:
        return False
    return all(
        _satisfies(labels.get(matcher.name, ""), [(matcher_op(matcher), matcher.value)])
        for matcher in selector.matchers.matchers
    )
