"""dashboard/time: a dashboard time range start that Grafana's time picker cannot read.

Grafana reads `now-6h` with parseDateMath of @grafana/data (datemath.ts, the same in
Grafana 10 to 12). It returns no time for a count whose last digit is past the tenth
character after `now`, so a count of `now-` has at most 9 digits, leading zeros
included. It then subtracts the count with moment's calendar arithmetic on a
JavaScript Date, which represents times up to 100,000,000 days before or after
1970-01-01. A count that reaches further back gives an invalid date.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from fractions import Fraction

from obscompile.check.context import ServiceContext
from obscompile.check.registry import Scope, check
from obscompile.diagnostics import Diagnostic, error, shorten

NAME = "dashboard/time"

# The digits of the longest count that parseDateMath reads after `now-`.
MAX_COUNT_DIGITS = 9
# The days that a JavaScript Date reaches before 1970-01-01.
DATE_RANGE_DAYS = 100_000_000
# Each unit of a relative time in days. Months and years are the Gregorian
# calendar's averages, 146097 days in 400 years, which give the longest counts that
# moment subtracts from 1970-01-01 within the range: 3285488M and 273790y.
_UNIT_DAYS = {
    "s": Fraction(1, 86_400),
    "m": Fraction(1, 1_440),
    "h": Fraction(1, 24),
    "d": Fraction(1),
    "w": Fraction(7),
    "M": Fraction(146_097, 4_800),
    "y": Fraction(146_097, 400),
}
_COUNT = re.compile(r"now-([0-9]+)([smhdwMy])")
FORM = (
    "dashboard.time takes now, or now- and a count of at most 9 digits with one of "
    "the units s, m, h, d, w, M or y, optionally rounded with /d or another unit, "
    "such as now-6h, now-7d or now-1d/d"
)


def longest_count(unit: str) -> int:
    """Return the largest count of `unit` that Grafana subtracts to a valid date.

    The count is measured from 1970-01-01. Every later `now` reaches a later date, so
    a count within it is valid from then on.

    NOTE: a count up to the time since 1970 longer is still valid today, and is
    rejected too, because the build's result does not depend on the day it runs.
    """
    return min(10**MAX_COUNT_DIGITS - 1, int(DATE_RANGE_DAYS / _UNIT_DAYS[unit]))


@check(
    NAME,
    "a dashboard time whose count Grafana does not read or that reaches beyond "
    "the dates of JavaScript",
    scope=Scope.SERVICE,
)
def time_from(context: ServiceContext) -> Iterator[Diagnostic]:
    dashboard = context.service.dashboard
    if dashboard is None:
        return
    # The manifest schema and dsl.dashboard() reject a time outside TIME_PATTERN.
    counted = _COUNT.match(dashboard.time_from)
    if counted is None:
        return
    location = dashboard.locations.get("time", dashboard.location)
    shown = shorten(dashboard.time_from)
    digits, unit = counted[1], counted[2]
    if len(digits) > MAX_COUNT_DIGITS:
        yield error(
            location,
            f'dashboard.time "{shown}" has a count of {len(digits)} digits, and '
            f"Grafana reads no time from a count of more than {MAX_COUNT_DIGITS}; "
            f"{FORM}",
            NAME,
        )
        return
    longest = longest_count(unit)
    if int(digits) > longest:
        yield error(
            location,
            f'dashboard.time "{shown}" reaches further back than 100,000,000 days '
            "before 1970-01-01, the earliest date of JavaScript, so Grafana computes "
            f"an invalid start of the time range; write at most now-{longest}{unit}, "
            "or a shorter time such as now-30d",
            NAME,
        )
