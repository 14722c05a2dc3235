"""Run recursive functions on an explicit stack, so that their depth has no Python limit.

A query's syntax tree can be as deep as `promql.MAX_QUERY_DEPTH` levels and more after
the compiler rewrites it, while Python raises RecursionError after 1000 frames. A
function written for `run` is a generator. Where it would call itself, it yields the
generator of that call instead, and the yield expression returns the call's result or
raises the call's exception:

    def size(node: pp.Expr) -> Recursive[int]:
        total = 1
        for child in promql.children(node):
            total += yield size(child)
        return total

    run(size(root))

`run` resumes one generator at a time from a single loop, so each level of the tree
costs a suspended generator on the heap instead of a frame on Python's stack. A
yielded value that is not a generator comes back as the result at once, so a function
may return a leaf's result without making a generator for it.
"""

from __future__ import annotations

from collections.abc import Generator
from types import GeneratorType
from typing import Any, TypeAlias, TypeVar

T = TypeVar("T")

# A generator function written for `run`: it yields the generators of its recursive
# calls and returns its result.
Recursive: TypeAlias = Generator[Any, Any, T]


def run(call: Recursive[T]) -> T:
    """Return the result of `call`, running the calls that it yields one after another.

    An exception that a call raises is thrown into the call that yielded it, so
    `try` and `with` blocks work as in plain recursion.
    """
    stack: list[Recursive[Any]] = [call]
    result: Any = None
    failure: BaseException | None = None
    while stack:
        top = stack[-1]
        try:
            if failure is None:
                inner = top.send(result)
            else:
                raised, failure = failure, None
                inner = top.throw(raised)
        except StopIteration as finished:
            stack.pop()
            result = finished.value
            continue
        except BaseException as exc:
            stack.pop()
            if not stack:
                raise
            failure = exc
            continue
        if type(inner) is GeneratorType:
            stack.append(inner)
            result = None
        else:
            result = inner
    return result  # type: ignore[no-any-return]
