"""Synthesize a counter whose `rate`, `increase` or `irate` is exactly a chosen value.

Prometheus 2.42 computes `rate(x[r])` as `increase * ((extrapolated / sampled) / r)`,
so with samples at both edges of a 5m window it multiplies the increase by the
double nearest 1/300. No increase gives exactly 1000 that way: 300000 gives
1000.0000000000001 and the double below 300000 gives 999.9999999999999. Moving the
samples changes the factor. Samples every J, half an interval off the evaluations,
leave a gap of J/2 at each edge, which the engine extrapolates in full, so the factor
is `(r / (r - J)) / r`. Where one spacing misses a target, another usually reaches
it (`sampling_choices`), and a target that none reaches gets no test.

The increase itself must be exact too. A counter that grows by the same short
increment at every sample keeps every value exact. Where no short increment gives
the increase, the counter restarts once per window instead. It rises in even steps
to exactly the increase, and then starts over at its first step. Every full window
then contains one restart, and rate() counts the value before it, the exact increase,
plus the last sample minus the first, which are equal.
"""

from __future__ import annotations

import math
from datetime import timedelta
from fractions import Fraction

import attrs
import promql_parser as pp

from obscompile.derive.floats import from_ordinal, ordinal, preimage
from obscompile.derive.functions import extrapolated_rate
from obscompile.derive.synthesis import CannotSynthesize, InputSeries
from obscompile.numbers import number_text

# Divisors of the evaluation interval that give the sample spacings to try, in order.
_SPACING_DIVISORS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16)
# A linear counter's increment may have at most this many significant bits, so that
# every multiple of it in a test run, which is far shorter than 2**21 samples, is exact.
_LINEAR_BITS = 32
# How many of the increases that give the target the search looks at.
_MAX_INCREASES = 64


@attrs.frozen
class Sampling:
    """The sample times of a synthesized counter: every `spacing_ms`, from `offset_ms`.

    The test group's input interval is `grid_ms`, so that both the samples and
    `offset_ms` lie on it. A spacing that divides the evaluation interval puts the
    samples at the same place relative to every evaluation.
    """

    spacing_ms: int
    offset_ms: int = 0

    @property
    def grid_ms(self) -> int:
        return math.gcd(self.spacing_ms, self.offset_ms)


class OutOfReach(CannotSynthesize):
    """No counter with this sampling gives the value, though one with another may."""

    def __init__(self, function: str, target: float) -> None:
        super().__init__(
            f"no counter, sampled at every evaluation or between them, gives a "
            f"{function}() of exactly {number_text(target)}"
        )


def sampling_choices(evaluation_ms: int) -> list[Sampling]:
    """Return the samplings to try for a counter: aligned first, then offset ones.

    An aligned sampling has a sample at every evaluation. An offset one puts the
    samples halfway between the points of a grid that divides the evaluation
    interval, so every rate window has the same gaps at its edges.
    """
    choices = [Sampling(evaluation_ms)]
    for divisor in _SPACING_DIVISORS:
        spacing, rest = divmod(evaluation_ms, divisor)
        if rest == 0 and spacing % 2 == 0:
            choices.append(Sampling(spacing, spacing // 2))
    return choices


def exact_counter(
    function: str,
    matrix: pp.MatrixSelector,
    target: float,
    labels: tuple[tuple[str, str], ...],
    sampling: Sampling,
) -> InputSeries:
    """Return a counter sampled as `sampling` whose `function` over `matrix` is `target`.

    Raises CannotSynthesize when no increase gives the target with this sampling.
    """
    if target < 0:
        raise CannotSynthesize("a counter rate cannot be negative")
    every = sampling.spacing_ms // sampling.grid_ms
    first = sampling.offset_ms // sampling.grid_ms
    if target == 0:
        return InputSeries(labels, 0.0, True, every=every, first=first)
    if function == "irate":
        return _irate_counter(target, labels, sampling, every, first)
    times, start, end = _full_window(matrix, sampling)
    if len(times) < 2:
        raise CannotSynthesize(
            f"a {_duration_text(_range_ms(matrix))} window contains fewer than two "
            f"samples {_duration_text(sampling.spacing_ms)} apart"
        )
    range_s = matrix.range.total_seconds()
    is_rate = function == "rate"
    # The factor that multiplies the increase: a counter far from zero and an
    # increase of exactly 1 give the factor itself.
    flat = [1e6] * (len(times) - 1) + [1e6 + 1]
    factor = extrapolated_rate(
        list(zip(times, flat, strict=True)),
        start,
        end,
        range_s,
        counter=True,
        rate=is_rate,
    )
    assert factor is not None
    found = preimage(lambda r: r * factor, target, target / factor)
    if found is None or not found.reachable:
        raise OutOfReach(function, target)
    intervals = len(times) - 1
    increases = _candidates(found.first, found.last)
    for increase in increases:
        step = _short_quotient(increase, intervals)
        if step is not None:
            series = InputSeries(labels, step, True, every=every, first=first)
            if _window_values_give(series, times, start, end, range_s, is_rate, target):
                return series
    increase = min(increases, key=lambda value: len(repr(value)))
    cycle: tuple[float, ...]
    if intervals == 1:
        # A window of two samples contains d then 2d, an increase of d, or 2d then
        # d, a restart that rate() counts as d.
        cycle = (increase, increase * 2)
    else:
        # The samples rise in steps as even as doubles allow, to exactly the increase.
        cycle = tuple(
            float(Fraction(increase) * (index + 1) / intervals)
            for index in range(intervals)
        )
    series = InputSeries(labels, 0.0, True, every=every, first=first, cycle=cycle)
    if not _window_values_give(series, times, start, end, range_s, is_rate, target):
        raise OutOfReach(function, target)
    return series


def _irate_counter(
    target: float,
    labels: tuple[tuple[str, str], ...],
    sampling: Sampling,
    every: int,
    first: int,
) -> InputSeries:
    """Return a counter whose last two samples always give `irate() == target`.

    irate() divides the last increase by the time between the two samples. A counter
    that alternates between d and 2d gives d either way: as an increase, or as the
    value after a restart.
    """
    seconds = sampling.spacing_ms / 1000
    found = preimage(lambda d: d / seconds, target, target * seconds)
    if found is None or not found.reachable:
        raise OutOfReach("irate", target)
    increases = _candidates(found.first, found.last)
    for increase in increases:
        step = _short_quotient(increase, 1)
        if step is not None:
            return InputSeries(labels, step, True, every=every, first=first)
    increase = min(increases, key=lambda value: len(repr(value)))
    return InputSeries(
        labels, 0.0, True, every=every, first=first, cycle=(increase, increase * 2)
    )


def _full_window(
    matrix: pp.MatrixSelector, sampling: Sampling
) -> tuple[list[int], int, int]:
    """Return the sample times in a full window, and the window's start and end.

    Every evaluation time is a multiple of the spacing, so any full window looks the
    same. This one ends at such a multiple after the first full window.
    """
    selector = matrix.vector_selector
    offset_ms = int(selector.offset.total_seconds() * 1000) if selector.offset else 0
    range_ms = _range_ms(matrix)
    spacing = sampling.spacing_ms
    evaluation = (
        -(-(range_ms + offset_ms + sampling.offset_ms) // spacing) + 1
    ) * spacing
    end = evaluation - offset_ms
    start = end - range_ms
    first = (
        sampling.offset_ms
        + max(0, -(-(start - sampling.offset_ms) // spacing)) * spacing
    )
    return list(range(first, end + 1, spacing)), start, end


def _candidates(first: float, last: float) -> list[float]:
    """Return the doubles from `first` to `last`, at most `_MAX_INCREASES` of them."""
    low = ordinal(first)
    high = min(ordinal(last), low + _MAX_INCREASES - 1)
    return [from_ordinal(n) for n in range(low, high + 1)]


def _short_quotient(increase: float, intervals: int) -> float | None:
    """Return `increase / intervals` where it is exact and short, else None."""
    exact = Fraction(increase) / intervals
    step = float(exact)
    if Fraction(step) != exact or step <= 0:
        return None
    mantissa, _ = math.frexp(step)
    significant = Fraction(mantissa).denominator.bit_length() - 1
    return step if significant <= _LINEAR_BITS else None


def _window_values_give(
    series: InputSeries,
    times: list[int],
    start: int,
    end: int,
    range_s: float,
    is_rate: bool,
    target: float,
) -> bool:
    """Return True when full windows of the counter give `target`.

    Every full window of a restart cycle contains one restart, and its first and last
    samples are equal. The windows checked start at the cycle's first sample, whose
    small value brings the counter's zero point nearest, and at its second and last
    samples, which put the restart at either end of the window. A linear counter's
    windows start at its second and third sample, after its zero point, and differ
    from later ones only in exact multiples of the step.
    """
    phases = sorted({0, 1, len(series.cycle) - 1}) if series.cycle else [1, 2]
    count = len(times)
    values = series.sample_values(phases[-1] + count)
    for phase in phases:
        points = list(zip(times, values[phase : phase + count], strict=True))
        got = extrapolated_rate(points, start, end, range_s, counter=True, rate=is_rate)
        if got != target:
            return False
    return True


def _range_ms(matrix: pp.MatrixSelector) -> int:
    return int(matrix.range.total_seconds() * 1000)


def _duration_text(ms: int) -> str:
    return pp.display_duration(timedelta(milliseconds=ms))
