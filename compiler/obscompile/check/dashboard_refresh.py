"""dashboard/refresh: a dashboard refresh that Grafana replaces when it saves it.

Grafana's conf/defaults.ini sets `min_refresh_interval = 5s` in `[dashboards]`.
Grafana saves min_refresh_interval in place of a refresh that is shorter or fails
to parse, and logs a warning. It does so for file provisioning, imports and its
HTTP API (SaveProvisionedDashboard, ImportDashboard and SaveDashboard in
pkg/services/dashboards/service). It parses the refresh as a Go time.Duration, a
signed 64-bit count of nanoseconds, so it cannot represent more than about 292 years.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from obscompile.check.context import ServiceContext
from obscompile.check.registry import Scope, check
from obscompile.diagnostics import Diagnostic, error, warning
from obscompile.load.durations import MAX_DURATION_MS, duration_ms
from obscompile.load.schema import REFRESH_PATTERN

NAME = "dashboard/refresh"

GRAFANA_MIN_REFRESH = "5s"
# The longest Go time.Duration, to the millisecond.
LONGEST = "about 292 years, 106751d23h47m16s854ms"

_REFRESH = re.compile(REFRESH_PATTERN)


@check(
    NAME,
    "a dashboard refresh shorter than Grafana's default min_refresh_interval (5s), "
    "or longer than Grafana can represent",
    scope=Scope.SERVICE,
)
def refresh(context: ServiceContext) -> Iterator[Diagnostic]:
    dashboard = context.service.dashboard
    if dashboard is None or not dashboard.refresh:
        return
    text = dashboard.refresh
    # The manifest schema and dsl.dashboard() reject a refresh outside the pattern.
    if not _REFRESH.fullmatch(text):
        return
    location = dashboard.locations.get("refresh", dashboard.location)
    milliseconds = duration_ms(text)
    if milliseconds > MAX_DURATION_MS:
        yield error(
            location,
            f'dashboard.refresh "{text}" is longer than the longest duration that '
            f"Grafana can represent ({LONGEST}); write an interval such as 1m or 1h",
            NAME,
        )
    elif milliseconds < duration_ms(GRAFANA_MIN_REFRESH):
        yield warning(
            location,
            f'dashboard.refresh "{text}" is shorter than {GRAFANA_MIN_REFRESH}, '
            "Grafana's default min_refresh_interval, so Grafana saves the dashboard "
            f"with refresh {GRAFANA_MIN_REFRESH} instead; write {GRAFANA_MIN_REFRESH} "
            'or longer, or "" for no refresh',
            NAME,
        )
