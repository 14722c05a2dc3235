"""thresholds/precision and promql/precision: numbers that a float64 does not hold as written.

Prometheus (Go's strconv.ParseFloat) and Grafana (JavaScript numbers) read every
number as a float64, the nearest double. A float64 represents every integer up to 2^53
and 15 to 17 significant digits, so a number such as 9007199254740993 or
0.12345678901234567891 reads as another one (9007199254740992 and
0.12345678901234568).

The build writes each threshold as the shortest decimal of its double: in the
dashboard's steps, the alert rules' conditions and descriptions, and the generated
tests. It writes each number of a query that way in the rule files, and keeps the
query's text in the dashboard, which Prometheus reads to the same double. So the
panel and its alert still agree, at the double, but the artifacts show a number
other than the manifest's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from decimal import Decimal

from obscompile.check.context import PanelContext
from obscompile.check.query_text import tokenize
from obscompile.check.registry import check
from obscompile.diagnostics import Diagnostic, shorten, warning
from obscompile.model.threshold import Quantity, Thresholds
from obscompile.numbers import number_text

THRESHOLDS = "thresholds/precision"
QUERY = "promql/precision"

# A decimal number, as threshold texts and PromQL write it, with its sign.
_DECIMAL = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_INTEGER = re.compile(r"[-+]?[0-9]+")
# The unit after a threshold's number: `%`, a time unit or none.
_UNIT = re.compile(r"%|[a-zµ]*")
_FLOAT64 = (
    "a float64, which holds the integers up to 2^53 and 15 to 17 significant digits"
)


def float64_text(written: str) -> str | None:
    """Return the number that Prometheus and Grafana read for `written`, if it differs.

    An integer differs when the double is another integer, as for 9007199254740993.
    A decimal differs when the shortest text of its double, which the build writes,
    is another number, as for 0.12345678901234567891, and not for 0.1 or 1e300.
    Returns None for a number that does not differ, and for one beyond the range of
    a double, which other checks report.
    """
    value = float(written)
    if value in (math.inf, -math.inf) or value == 0:
        return None
    if _INTEGER.fullmatch(written):
        # Decimal(value) is the double's exact value, and Decimal reads any number
        # of digits, where int() reads at most 4300.
        return None if Decimal(written) == Decimal(value) else str(int(value))
    return None if Decimal(written) == Decimal(repr(value)) else number_text(value)


def _quantities(thresholds: Thresholds) -> Iterator[Quantity]:
    """Yield each quantity that the threshold text writes, once, in text order."""
    bands = [*thresholds.bands]
    for series in thresholds.series:
        bands.extend(series.bands)
    found = [*thresholds.bounds, *(band.lower for band in bands if band.lower)]
    found.extend(exact.value for exact in thresholds.exact_values)
    seen: set[int] = set()
    for quantity in sorted(
        (q for q in found if q.offset is not None and q.written),
        key=lambda q: q.offset or 0,
    ):
        if quantity.offset in seen:
            continue
        assert quantity.offset is not None
        seen.add(quantity.offset)
        yield quantity


@check(THRESHOLDS, "a threshold number that a float64 does not hold as written")
def threshold_precision(context: PanelContext) -> Iterator[Diagnostic]:
    thresholds = context.panel.thresholds
    if thresholds is None:
        return
    for quantity in _quantities(thresholds):
        number = _DECIMAL.match(quantity.written)
        unit = quantity.written[number.end() :] if number else ""
        # A duration of several units, such as 1m30s, is a whole number of ms.
        if number is None or not _UNIT.fullmatch(unit):
            continue
        read_as = float64_text(number.group())
        if read_as is None:
            continue
        yield warning(
            context.panel.bound_location(quantity),
            f"threshold {shorten(quantity.written)} is not exactly {_FLOAT64}, so "
            f"Prometheus and Grafana both read it as {read_as}{unit}, the value that the "
            "dashboard, the alert rules and the generated tests use; write "
            f"{read_as}{unit}",
            THRESHOLDS,
        )


@check(QUERY, "a query number that a float64 does not hold as written")
def query_precision(context: PanelContext) -> Iterator[Diagnostic]:
    for token in tokenize(context.panel.query):
        if token.kind != "number" or not _DECIMAL.fullmatch(token.text):
            continue
        read_as = float64_text(token.text)
        if read_as is None:
            continue
        yield warning(
            context.query_location(token.offset),
            f"number {shorten(token.text)} is not exactly {_FLOAT64}, so Prometheus "
            f"reads it as {read_as}, and the rules derived from the query write {read_as}; "
            f"write {read_as}",
            QUERY,
        )
