"""dashboard/refresh: a dashboard refresh that Grafana replaces or its page misreads.

Grafana's conf/defaults.ini sets `min_refresh_interval = 5s` in `[dashboards]`.
Grafana saves min_refresh_interval in place of a refresh that is shorter or fails
to parse, and logs a warning. It does so for file provisioning, imports and its
HTTP API (SaveProvisionedDashboard, ImportDashboard and SaveDashboard in
pkg/services/dashboards/service). It parses the refresh with gtime.ParseDuration of
grafana-plugin-sdk-go: a count and one of the units d, w, M (365.25 / 12 days) or y
(365.25 days), or else a Go duration (time.ParseDuration), such as 1m30s or 1.5h.
Either is a Go time.Duration, a signed 64-bit count of nanoseconds, so it cannot
represent more than about 292 years. Grafana 11.0 and later also save "auto", which
older versions replace.

The dashboard page in the browser reads the refresh again, with intervalToMs of
@grafana/data (rangeutil.ts): a whole number and one unit at the start of the text,
so it reads 1m30s as 1m and 1.5h as 1h. It waits with setTimeout or setInterval,
whose delay is a WebIDL `long`, a 32-bit signed count of milliseconds. Browsers
wrap a longer delay around, so the page refreshes far too often.

SceneRefreshPicker of @grafana/scenes, which the dashboards of newer Grafana versions
use, starts no timer for a refresh outside the picker's intervals. The dashboard
template adds the refresh to them (`render.grafana.refresh_intervals`), so this check
does not report it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from fractions import Fraction

from obscompile.check.context import ServiceContext
from obscompile.check.registry import Scope, check
from obscompile.diagnostics import Diagnostic, error, shorten, warning
from obscompile.load.schema import REFRESH_PATTERN

NAME = "dashboard/refresh"

GRAFANA_MIN_REFRESH = "5s"
# The longest Go time.Duration, to the millisecond.
LONGEST = "about 292 years, 106751d23h47m16s854ms"
# The maximum delay of a browser timer, 2**31 - 1 milliseconds.
TIMER_MAX_MS = 2**31 - 1

_MAX_NANOSECONDS = 2**63 - 1
# A whole number of more digits is longer than _MAX_NANOSECONDS in every unit. int()
# raises ValueError beyond 4300 digits (sys.get_int_max_str_digits()).
_MAX_DIGITS = len(str(_MAX_NANOSECONDS))
# The digits of a fraction after these add less than 10**-27 nanoseconds in every unit,
# and Go's time.ParseDuration reads fewer of them.
_FRACTION_DIGITS = 40
# GRAFANA_MIN_REFRESH in nanoseconds.
_MIN_NANOSECONDS = 5 * 10**9
_MILLISECOND = 1_000_000
_DAY = 86_400 * 10**9
# Go's time units, in nanoseconds. Go accepts both micro signs, U+00B5 and U+03BC.
_GO_UNITS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,
    "\u03bcs": 1_000,
    "ms": _MILLISECOND,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3_600 * 10**9,
}
# gtime.ParseDuration's units, in nanoseconds: a year of 365.25 days, 1461 / 4, and
# a twelfth of it for a month.
_GRAFANA_UNITS = {
    "d": _DAY,
    "w": 7 * _DAY,
    "M": 1461 * _DAY // 48,
    "y": 1461 * _DAY // 4,
}
# The units that the dashboard page reads as Grafana does, largest first, for the
# refresh to suggest. The page's month (30 days) and year (365 days) differ.
_PAGE_UNITS = (
    ("w", 7 * _DAY),
    ("d", _DAY),
    ("h", _GO_UNITS["h"]),
    ("m", _GO_UNITS["m"]),
    ("s", _GO_UNITS["s"]),
    ("ms", _MILLISECOND),
)

_REFRESH = re.compile(REFRESH_PATTERN)
_GRAFANA_COUNT = re.compile(r"([0-9]+)([dwMy])")
_GO_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]+)")
# The start of a refresh that the dashboard page reads: a whole number, a fraction
# that it drops, and a unit.
_PAGE_READING = re.compile(r"-?([0-9]+)(?:\.[0-9]+)?(ms|[Mwdhmsy])")
_PAGE_EXACT = re.compile(r"[0-9]+(ms|[wdhms])")


def grafana_nanoseconds(text: str) -> int | None:
    """Return a refresh that matches REFRESH_PATTERN in nanoseconds, as Grafana reads it.

    Returns None beyond the longest Go time.Duration. Go's time.ParseDuration
    rejects such a duration, and gtime.ParseDuration wraps a count of days, weeks,
    months or years around. Go drops the fraction of a nanosecond of each part, and
    so does this.
    """
    counted = _GRAFANA_COUNT.fullmatch(text)
    if counted is not None:
        count = counted[1].lstrip("0") or "0"
        if len(count) > _MAX_DIGITS:
            return None
        total = int(count) * _GRAFANA_UNITS[counted[2]]
        return total if total <= _MAX_NANOSECONDS else None
    negative = text.startswith("-")
    total = 0
    for whole, fraction, unit in _GO_PART.findall(text.lstrip("+-")):
        whole = whole.lstrip("0") or "0"
        if len(whole) > _MAX_DIGITS:
            return None
        number = Fraction(f"{whole}.{fraction[:_FRACTION_DIGITS] or 0}")
        total += int(number * _GO_UNITS[unit])
    if negative:
        # Go's time.Duration reaches one nanosecond further below zero.
        return -total if total <= _MAX_NANOSECONDS + 1 else None
    return total if total <= _MAX_NANOSECONDS else None


def _single_unit(nanoseconds: int) -> str:
    """Return the refresh as a whole number of the largest unit that divides it.

    The page reads whole milliseconds at the finest, so a fraction of one is dropped.
    """
    whole = nanoseconds // _MILLISECOND * _MILLISECOND
    # The last unit, a millisecond, divides every whole number of milliseconds.
    unit, size = next((unit, size) for unit, size in _PAGE_UNITS if whole % size == 0)
    return f"{whole // size}{unit}"


def _page_reading(text: str) -> str | None:
    """Return what the dashboard page reads of a refresh, or None when it reads none."""
    reading = _PAGE_READING.match(text)
    return None if reading is None else f"{int(reading[1])}{reading[2]}"


@check(
    NAME,
    "a dashboard refresh shorter than Grafana's default min_refresh_interval (5s), "
    "longer than Grafana or a browser timer can represent, or one that Grafana's "
    "dashboard page misreads",
    scope=Scope.SERVICE,
)
def refresh(context: ServiceContext) -> Iterator[Diagnostic]:
    dashboard = context.service.dashboard
    if dashboard is None or dashboard.refresh in ("", "auto"):
        return
    text = dashboard.refresh
    # The manifest schema and dsl.dashboard() reject a refresh outside the pattern.
    if not _REFRESH.fullmatch(text):
        return
    location = dashboard.locations.get("refresh", dashboard.location)
    shown = shorten(text)
    nanoseconds = grafana_nanoseconds(text)
    if nanoseconds is None:
        yield error(
            location,
            f'dashboard.refresh "{shown}" is longer than the longest duration that '
            f"Grafana can represent ({LONGEST}); write an interval such as 1m or 1h",
            NAME,
        )
    elif nanoseconds < _MIN_NANOSECONDS:
        yield warning(
            location,
            f'dashboard.refresh "{shown}" is shorter than {GRAFANA_MIN_REFRESH}, '
            "Grafana's default min_refresh_interval, so Grafana saves the dashboard "
            f"with refresh {GRAFANA_MIN_REFRESH} instead; write {GRAFANA_MIN_REFRESH} "
            'or longer, or "" for no refresh',
            NAME,
        )
    elif nanoseconds > TIMER_MAX_MS * _MILLISECOND:
        yield error(
            location,
            f'dashboard.refresh "{shown}" is longer than about 24.8 days (2^31 - 1 ms), '
            "the longest delay of a browser timer, so Grafana's dashboard page "
            'refreshes far too often; write 24d or shorter, or "" for no refresh',
            NAME,
        )
    elif not _PAGE_EXACT.fullmatch(text):
        reading = _page_reading(text)
        consequence = (
            f"reads it as {reading}" if reading is not None else "cannot read it"
        )
        yield error(
            location,
            f'dashboard.refresh "{shown}" is not a whole number and one unit, so '
            f"Grafana saves it but its dashboard page {consequence}; write "
            f"{_single_unit(nanoseconds)}",
            NAME,
        )
