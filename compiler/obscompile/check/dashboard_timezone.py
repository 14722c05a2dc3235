"""dashboard/timezone: a dashboard time zone that Grafana does not know.

Grafana's dashboard schema takes "browser" (the viewer's browser), "utc" or a zone
name of the IANA time zone database, such as Europe/Berlin. Grafana's frontend also
reads "" as the time zone that it names "Default" (`InternalTimeZones.default` in
@grafana/data): the viewer's time zone preference, which is the browser's unless the
user, team, organisation or server sets another. Grafana saves any other text without
a warning, and its frontend's time zone library (moment-timezone) has no zone for a
misspelt name, so the dashboard does not show the intended zone's times.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Iterator

from obscompile.check.context import ServiceContext
from obscompile.check.registry import Scope, check
from obscompile.diagnostics import Diagnostic, error, warning
from obscompile.load.schema import TIMEZONE_HINT
from obscompile.load.validate import suggest

NAME = "dashboard/timezone"

# Grafana's own names, beside the IANA zones. The IANA database has "UTC" too.
GRAFANA_TIME_ZONES = ("browser", "utc")
# Grafana's "Default" time zone: the viewer's preference.
VIEWER_DEFAULT = ""


@functools.cache
def iana_time_zones() -> frozenset[str]:
    """Return the zone names of the IANA time zone database that Python finds.

    zoneinfo reads the system's database and the tzdata package, which obscompile
    depends on for systems without one. The set is empty when neither is found.
    Some systems add `localtime`, the machine's own zone, beside the database, but
    it is not a zone name of the IANA database.
    """
    return frozenset(zoneinfo.available_timezones() - {"localtime"})


@check(
    NAME,
    'a dashboard time zone other than "browser", "utc", "" or an IANA time zone',
    scope=Scope.SERVICE,
)
def timezone(context: ServiceContext) -> Iterator[Diagnostic]:
    dashboard = context.service.dashboard
    if dashboard is None:
        return
    if dashboard.timezone in (*GRAFANA_TIME_ZONES, VIEWER_DEFAULT):
        return
    name = dashboard.timezone
    location = dashboard.locations.get("timezone", dashboard.location)
    zones = iana_time_zones()
    if not zones:
        yield warning(
            location,
            f'cannot check dashboard.timezone "{name}": Python found no IANA time '
            "zone database; install the tzdata package",
            NAME,
        )
        return
    if name in zones:
        return
    hint = suggest(name, [*GRAFANA_TIME_ZONES, *sorted(zones)])
    yield error(
        location,
        f'dashboard.timezone "{name}" is not a zone of the IANA time zone '
        f"database{hint}; {TIMEZONE_HINT}",
        NAME,
    )
