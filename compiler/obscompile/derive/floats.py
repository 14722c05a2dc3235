"""The values that IEEE double arithmetic can give, for choosing exact test inputs.

A query such as `errors / total * 100` never gives exactly 7: the double nearest to
0.07 times 100 rounds to 7.000000000000001, and the double below it gives
6.999999999999999. Every step here works on doubles in their order: consecutive
doubles have consecutive ordinals, so a search over ordinals visits every double
between two values and can prove that none of them gives a target.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable

import attrs

_SIGN = 1 << 63
# How many doubles on each side of a first guess the search looks at. A constant
# scale factor maps a handful of doubles to each result, so the run of inputs for a
# target lies far inside this reach.
_REACH = 1 << 24


def ordinal(value: float) -> int:
    """Return the position of a double among all doubles: the next double is +1.

    Both zeros have ordinal 0.
    """
    (bits,) = struct.unpack("<Q", struct.pack("<d", value))
    return -(bits & ~_SIGN) if bits & _SIGN else bits


def from_ordinal(position: int) -> float:
    """Return the double at `position`, the inverse of `ordinal`."""
    bits = position if position >= 0 else -position | _SIGN
    (value,) = struct.unpack("<d", struct.pack("<Q", bits))
    return float(value)


@attrs.frozen
class Preimage:
    """The doubles around the inputs that a non-decreasing function maps to a target.

    `below` is the largest input whose result is under the target and `above` the
    smallest input whose result is over it. The inputs strictly between them are
    exactly those that give the target, since the function does not decrease.
    """

    below: float
    above: float

    @property
    def reachable(self) -> bool:
        """Return True when some input gives exactly the target."""
        return ordinal(self.above) - ordinal(self.below) > 1

    @property
    def first(self) -> float:
        """Return the smallest input that gives the target (when it is reachable)."""
        return from_ordinal(ordinal(self.below) + 1)

    @property
    def last(self) -> float:
        """Return the largest input that gives the target (when it is reachable)."""
        return from_ordinal(ordinal(self.above) - 1)


def preimage(
    function: Callable[[float], float], target: float, guess: float
) -> Preimage | None:
    """Return the inputs around those that `function` maps to `target`.

    `function` must not decrease. The search looks at `_REACH` doubles on each side
    of `guess` and returns None when the target is not between the results at the
    two ends, or when an end is not finite.
    """
    if not (math.isfinite(target) and math.isfinite(guess)):
        return None
    low, high = ordinal(guess) - _REACH, ordinal(guess) + _REACH
    if not (math.isfinite(from_ordinal(low)) and math.isfinite(from_ordinal(high))):
        return None
    if not (function(from_ordinal(low)) < target < function(from_ordinal(high))):
        return None
    first = _first_true(lambda n: function(from_ordinal(n)) >= target, low, high)
    above = _first_true(lambda n: function(from_ordinal(n)) > target, first - 1, high)
    return Preimage(from_ordinal(first - 1), from_ordinal(above))


def _first_true(predicate: Callable[[int], bool], low: int, high: int) -> int:
    """Return the smallest n in (low, high] with predicate(n), where it changes once.

    predicate(low) must be False and predicate(high) True.
    """
    while high - low > 1:
        middle = (low + high) // 2
        if predicate(middle):
            high = middle
        else:
            low = middle
    return high


def scaled(value: float, factor: float, divide: bool) -> float:
    """Return `value * factor`, or `value / factor`, as Prometheus computes it."""
    return value / factor if divide else value * factor


def scale_preimage(target: float, factor: float, divide: bool) -> Preimage | None:
    """Return the inputs around those whose `scaled` value is exactly `target`.

    Rounding to the nearest double never reverses an order, so `x * k` and `x / k`
    do not decrease in x for a positive k. Returns None for any other factor.
    """
    if not (math.isfinite(factor) and factor > 0):
        return None
    guess = target * factor if divide else target / factor
    return preimage(lambda x: scaled(x, factor, divide), target, guess)
