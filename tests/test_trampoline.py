"""`trampoline.run` runs recursive generators to any depth, as plain recursion would."""

from __future__ import annotations

import pytest

from obscompile import trampoline
from obscompile.trampoline import Recursive


def count_down(levels: int) -> Recursive[int]:
    if levels == 0:
        return 0
    below = yield count_down(levels - 1)
    return below + 1


def fail_at(levels: int, closed: list[int]) -> Recursive[int]:
    try:
        if levels == 0:
            raise ValueError("the bottom")
        return (yield fail_at(levels - 1, closed))
    finally:
        closed.append(levels)


def test_trampoline_runs_deeper_than_python_recurses() -> None:
    assert trampoline.run(count_down(100_000)) == 100_000


def test_trampoline_raises_through_every_level() -> None:
    closed: list[int] = []
    with pytest.raises(ValueError, match="the bottom"):
        trampoline.run(fail_at(5000, closed))
    assert closed == list(range(5001))


def halve_to_leaf(number: int) -> int | Recursive[int]:
    """Return a leaf's value itself, and a generator for any other number."""
    if number <= 1:
        return number
    return halve(number)


def halve(number: int) -> Recursive[int]:
    return 1 + (yield halve_to_leaf(number // 2))


def test_trampoline_returns_yielded_values() -> None:
    assert trampoline.run(halve(1024)) == 11
