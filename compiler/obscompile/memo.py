"""Results kept for the last objects a function was called with, by identity."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

A = TypeVar("A")
R = TypeVar("R")


def by_identity(limit: int) -> Callable[[Callable[[A], R]], Callable[[A], R]]:
    """Keep a one-argument function's results for its last `limit` arguments.

    The arguments are compared by identity, and each kept result keeps its argument
    alive, so no other object can take its id. The stages of a build call such a
    function several times in a row for one service.
    """

    def decorate(function: Callable[[A], R]) -> Callable[[A], R]:
        results: dict[int, tuple[Any, R]] = {}

        @functools.wraps(function)
        def remembered(argument: A) -> R:
            found = results.get(id(argument))
            if found is not None and found[0] is argument:
                return found[1]
            result = function(argument)
            if len(results) >= limit:
                results.clear()
            results[id(argument)] = (argument, result)
            return result

        return remembered

    return decorate
