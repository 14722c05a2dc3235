"""promql/bucket-bound: an `le` matcher that names no bucket of a histogram.

A histogram whose catalog lists its buckets has one `_bucket` series per bound, and
its `le` label is the bound as the client library writes it (see `bucket_bounds`).
So on a Python service `le="1"` selects nothing, because prometheus_client writes
"1.0", and `le="0.3"` selects nothing where 0.3 is no bound. A service without a
runtime may use any library, so there any text of a bound's number is accepted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

import attrs
import promql_parser as pp

from obscompile import bucket_bounds, promql
from obscompile.check import catalog
from obscompile.check.context import PanelContext
from obscompile.check.registry import check
from obscompile.derive.expressions import matcher_op
from obscompile.diagnostics import Diagnostic, error
from obscompile.gotemplate import go_quote
from obscompile.model.metric import Metric, SeriesNaming
from obscompile.numbers import number_text

NAME = "promql/bucket-bound"

_REGEX_OPERATORS = frozenset({"=~", "!~"})
_NEGATIVE_OPERATORS = frozenset({"!=", "!~"})


# The runtime whose generated instrumentation uses each library.
_RUNTIMES = {
    SeriesNaming.PROMETHEUS_CLIENT: "python",
    SeriesNaming.PROM_CLIENT: "nodejs",
}


@attrs.frozen
class _Buckets:
    """A histogram's bounds and the `le` texts that its series can have."""

    metric: Metric
    bounds: tuple[float, ...]
    # The text of each bound in the service's library, or None when it is unknown.
    texts: tuple[str, ...] | None

    def spellings(self) -> list[str]:
        """Return every `le` text that a series of the histogram may have."""
        if self.texts is not None:
            return list(self.texts)
        return [
            s for bound in self.bounds for s in bucket_bounds.bound_spellings(bound)
        ]

    def because(self) -> str:
        """Return the `because` clause that lists the bounds of the series."""
        naming = self.metric.naming
        if self.texts is not None:
            library = f"{naming} (runtime {_RUNTIMES[naming]})"
            return f"because {library} exposes only the bounds {', '.join(self.texts)}"
        listed = ", ".join(number_text(bound) for bound in self.bounds[:-1])
        return f"because its bounds are {listed} and +Inf"


def _buckets(metric: Metric) -> _Buckets | None:
    bounds = bucket_bounds.exposed_bounds(metric)
    if not bounds:
        return None
    text = bucket_bounds.LIBRARY_TEXTS.get(metric.naming)
    if text is None:
        return _Buckets(metric, bounds, None)
    return _Buckets(metric, bounds, tuple(text(bound) for bound in bounds))


def _matches_any(pattern: str, texts: list[str]) -> bool | None:
    """Return whether the regex matches one of `texts` whole, or None if unknown."""
    try:
        compiled = promql.compile_regex(pattern)
    except re.error:
        return None  # NOTE: RE2 syntax that Python's re lacks is not checked.
    return any(compiled.fullmatch(text) for text in texts)


def _selects_any(buckets: _Buckets, matcher: pp.Matcher) -> bool | None:
    """Return whether `matcher`'s value names a bucket, or None if it cannot tell."""
    value = matcher.value
    if matcher_op(matcher) in _REGEX_OPERATORS:
        return _matches_any(value, buckets.spellings())
    if buckets.texts is not None:
        return value in buckets.texts
    # The library is unknown, so any decimal text of a bound may be its `le`.
    return bucket_bounds.decimal_number(value) in buckets.bounds


def _either_spelling(bounds: tuple[float, ...]) -> str:
    """Return how Go's text format and OpenMetrics write a bound, where they differ."""
    for bound in bounds:
        go, openmetrics = (
            bucket_bounds.go_text(bound),
            bucket_bounds.openmetrics_text(bound),
        )
        if go != openmetrics:
            return (
                f' (le="{go}" in the text format of Go\'s client_golang and of '
                f'prom-client, le="{openmetrics}" in OpenMetrics and prometheus_client)'
            )
    return ""


def _number(value: str) -> float | None:
    """Return the number that an `le` value writes, reading "Inf" as +Inf too."""
    if value.lower().lstrip("+") in ("inf", "infinity"):
        return math.inf
    return bucket_bounds.decimal_number(value)


def _fix(buckets: _Buckets, matcher: pp.Matcher) -> str:
    """Return the advice for a matcher that names no bucket."""
    operator = matcher_op(matcher)
    number = None if operator in _REGEX_OPERATORS else _number(matcher.value)
    if number in buckets.bounds:
        if buckets.texts is None:
            # Only +Inf gets here, because any decimal text of a bound passes.
            return f'write le{operator}"+Inf", the text of every client library'
        text = buckets.texts[buckets.bounds.index(number)]
        library = buckets.metric.naming
        return f'write le{operator}"{text}", the text that {library} exposes'
    fix = "match one of them" if operator in _REGEX_OPERATORS else "use one of them"
    if buckets.texts is None:
        fix += " as the service's client library writes it"
        fix += _either_spelling(buckets.bounds)
    if number is not None:
        fix += (
            f', or add {number_text(number)} to the buckets of "{buckets.metric.name}"'
        )
    return fix


def _problem(buckets: _Buckets, matcher: pp.Matcher) -> str | None:
    """Return the message for an `le` matcher that names no bucket of the histogram."""
    if catalog.is_placeholder(matcher.value):
        return None
    if _selects_any(buckets, matcher) is not False:
        return None
    operator = matcher_op(matcher)
    written = f"le{operator}{go_quote(matcher.value)}"
    verb = "excludes" if operator in _NEGATIVE_OPERATORS else "selects"
    return (
        f'{written} {verb} no bucket of histogram "{buckets.metric.name}", '
        f"{buckets.because()}; {_fix(buckets, matcher)}"
    )


@check(NAME, "an le matcher that names no bucket bound as the client library writes it")
def bucket_bound(context: PanelContext) -> Iterator[Diagnostic]:
    for selector in context.query.of_type(pp.VectorSelector):
        name = catalog.selector_name(selector)
        if name is None or not name.endswith("_bucket"):
            continue
        matchers = [m for m in selector.matchers.matchers if m.name == "le"]
        if not matchers:
            continue
        entry = catalog.selected_metric(context, selector)
        if entry is None or name != f"{entry.metric.name}_bucket":
            continue
        buckets = _buckets(entry.metric)
        if buckets is None:
            continue
        for occurrence, matcher in enumerate(matchers):
            message = _problem(buckets, matcher)
            if message is None:
                continue
            location = context.matcher_value_location(selector, "le", occurrence)
            yield error(location, message, NAME)
