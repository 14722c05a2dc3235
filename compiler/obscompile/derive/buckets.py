"""Synthesize classic histogram buckets whose `histogram_quantile` is a chosen value.

`histogram_quantile(q, ...)` finds the first bucket whose cumulative count reaches the
rank `q * total` and interpolates linearly inside it. For a target at a bucket boundary,
the rank is exactly that bucket's cumulative count. For a target inside a bucket, the
rank sits at the same fraction of the bucket as the target. Counts are whole numbers
chosen so that the rank is a whole number too, which keeps every step of the engine's
arithmetic exact while the rate window fills.
"""

from __future__ import annotations

import math
from fractions import Fraction

import promql_parser as pp

from obscompile import promql
from obscompile.bucket_bounds import input_text
from obscompile.derive.synthesis import (
    CannotSynthesize,
    Context,
    InputSeries,
    _counter_selector,
    _pairs,
    reject_sampling,
    series_labels,
)
from obscompile.model.metric import SeriesNaming
from obscompile.numbers import number_text


def catalog_buckets(selector: pp.VectorSelector, context: Context) -> list[float]:
    """Return the finite upper bounds of the histogram that `selector` reads."""
    name = promql.metric_name(selector)
    metric = context.service.metric(name) if context.service and name else None
    if metric is None or not metric.buckets:
        owner = (
            f'service "{context.service.name}"' if context.service else "the service"
        )
        histogram = name.removesuffix("_bucket") if name else name
        raise CannotSynthesize(
            f"the catalog of {owner} declares no buckets for {name}, and the "
            "test generator reads the buckets of the service's own catalog only; "
            f"list them as buckets: [...] under the metric {histogram}"
        )
    return sorted(float(b) for b in metric.buckets if not math.isinf(b))


def bound_labels(
    selector: pp.VectorSelector, context: Context, bounds: list[float]
) -> list[str]:
    """Return the `le` value of each bound and then of +Inf, as the library writes it.

    The input series then carry the labels that Prometheus stores when it scrapes the
    generated instrumentation, so a rule's `le` matcher selects them as it would there.
    """
    name = promql.metric_name(selector)
    metric = context.service.metric(name) if context.service and name else None
    naming = metric.naming if metric is not None else SeriesNaming.DECLARED_OR_SUFFIXED
    return [input_text(naming, bound) for bound in [*bounds, math.inf]]


def bucket_counts(
    quantile: float, bounds: list[float], target: float
) -> list[int] | None:
    """Return cumulative counts per bound (the last one for +Inf) that give `target`."""
    q = Fraction(repr(quantile))
    p, whole = q.numerator, q.denominator
    if not 0 < q <= 1 or target <= 0 or target > bounds[-1]:
        return None
    exact = Fraction(repr(target))
    if target in bounds:
        index = bounds.index(target)
        counts = [0] * (len(bounds) + 1)
        for i in range(index, len(bounds) + 1):
            counts[i] = p
        for i in range(index + 1, len(bounds) + 1):
            counts[i] = whole
        return counts
    index = next(i for i, bound in enumerate(bounds) if bound > target)
    start = Fraction(repr(bounds[index - 1])) if index > 0 else Fraction(0)
    fraction = (exact - start) / (Fraction(repr(bounds[index])) - start)
    x, y = fraction.numerator, fraction.denominator
    for scale in range(1, 61):
        for below in range(0, 400 if index > 0 else 1):
            rest = below * (whole - p) + scale * (whole * x - p * y)
            if rest < 0 or rest % p:
                continue
            counts = [0] * (len(bounds) + 1)
            for i in range(len(bounds) + 1):
                if i >= index - 1 and index > 0:
                    counts[i] = below
                if i >= index:
                    counts[i] = below + y * scale
                if i > index:
                    counts[i] = below + y * scale + rest // p
            return counts
    return None


def quantile_series(
    node: pp.Call, target: float, context: Context
) -> list[InputSeries]:
    """Return bucket counters under `histogram_quantile` that give `target`."""
    reject_sampling(context, "histogram buckets")
    quantile = promql.number_value(node.args[0])
    if quantile is None:
        raise CannotSynthesize("histogram_quantile() needs a constant quantile")
    selector, matrix, function = _counter_selector(node.args[1])
    if function != "rate":
        raise CannotSynthesize(
            f"histogram_quantile() over {function}() is not synthesized"
        )
    bounds = catalog_buckets(selector, context)
    counts = bucket_counts(quantile, bounds, target)
    if counts is None:
        reason = ""
        if target > bounds[-1]:
            reason = (
                ", which is above the largest finite bucket bound, "
                f"{number_text(bounds[-1])}"
            )
        raise CannotSynthesize(
            f"no bucket counts of {promql.metric_name(selector)} give "
            f"histogram_quantile({number_text(quantile)}, ...) the value "
            f"{number_text(target)}{reason}"
        )
    # Whole multiples of window/interval per sample keep each rate a whole number.
    scale = (
        max(1, int(matrix.range.total_seconds()) // context.interval_s)
        * context.multiplier
    )
    series = []
    for bound, count in zip(
        bound_labels(selector, context, bounds), counts, strict=True
    ):
        labels = series_labels([selector], context, extra={"le": bound})
        series.append(
            InputSeries(_pairs(labels), float(count * scale * context.interval_s), True)
        )
    return series


def neighbour_bounds(
    node: pp.Call, context: Context, value: float
) -> tuple[float | None, float | None]:
    """Return the bucket bounds just below and above `value`; they render simply."""
    selector, _, _ = _counter_selector(node.args[1])
    bounds = catalog_buckets(selector, context)
    below = [b for b in bounds if b < value]
    above = [b for b in bounds if b > value]
    if below:
        low: float | None = below[-1]
    elif value > 0:
        low = value / 2
    else:
        low = None
    return low, (above[0] if above else None)
