"""The float arithmetic of Prometheus 2.42's `rate()` and `histogram_quantile()`.

Both functions repeat the engine's operations in the same order on IEEE doubles, so that
their results equal promtool's to the last bit:

- `rate`, `increase` and `delta` take the samples of the window, add back the value
  before each counter reset, and extrapolate to the window's edges. The zero point of a
  counter caps the start. A gap to an edge under 1.1 average sample intervals is
  extrapolated in full, and a longer one by half an interval. The result is multiplied
  by `(extrapolated / sampled) / range` for a rate, without the division by `range` for
  an increase;
- `histogram_quantile` merges buckets with equal bounds, makes the counts monotonic,
  finds the first bucket whose cumulative count reaches `q * total`, and interpolates
  linearly inside it. A rank in the +Inf bucket gives the highest finite bound.

The tests in tests/test_prometheus_evaluator.py compare both with promtool 2.42 on
random input.
"""

from __future__ import annotations

import math


def extrapolated_rate(
    points: list[tuple[int, float]],
    start: int,
    end: int,
    range_s: float,
    counter: bool,
    rate: bool,
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
    index = next(
        (i for i in range(len(merged) - 1) if merged[i][1] >= rank), len(merged) - 1
    )
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
