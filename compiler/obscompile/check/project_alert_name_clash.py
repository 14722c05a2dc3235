"""project/alert-name-clash: an alert name that an alert of another service has too.

A derived alert name joins the camel-cased service name, panel title, series and
severity, so the services `api_gateway` and `api-gateway` give their panels one name,
and so can a written `alert.name`. Such alerts differ in their `service` label, but
Alertmanager routes, silences and inhibitions that match `alertname` without it
apply to both.

The check runs once per service, so that a rebuild checks an unchanged service again
only when the alerts of other services with its alert names change (see
`catalog.Lookups`). Two alerts of one service never share a name, because the later
one gets a number (`alerts/name`).
"""

from __future__ import annotations

from collections.abc import Iterator

from obscompile.check.catalog import alerts_named
from obscompile.check.context import ServiceContext
from obscompile.check.registry import Scope, check
from obscompile.derive.alert_names import AlertOrigin, quoted_names
from obscompile.diagnostics import Diagnostic, warning
from obscompile.model.location import Location

NAME = "project/alert-name-clash"

# An alert of the checked service, and an alert of another service with its name.
Pair = tuple[AlertOrigin, AlertOrigin]


@check(
    NAME,
    "alert names that an alert of another service has too",
    scope=Scope.SERVICE,
)
def alert_name_clash(context: ServiceContext) -> Iterator[Diagnostic]:
    service = context.service
    # One warning for each panel or series of this service and each of another,
    # which may share several names, such as a critical and a warning alert.
    shared: dict[tuple[Location, str, Location], list[Pair]] = {}
    for own in context.alert_index.of(service):
        for other in alerts_named(context, own.name):
            # Services whose keys differ only in case are one service, and
            # project/duplicate-service reports them.
            if other.service.casefold() == service.name.casefold():
                continue
            key = (own.location, other.service, other.location)
            shared.setdefault(key, []).append((own, other))
    for pairs in shared.values():
        yield _warning(pairs)


def _warning(pairs: list[Pair]) -> Diagnostic:
    own, other = pairs[0]
    names = quoted_names([alert.name for alert, _ in pairs])
    if len(pairs) > 1:
        shared = f"the alert names {names} of this panel are also those"
    else:
        shared = f"the alert name {names} of this panel is also that"
    return warning(
        own.location,
        f'{own.panel}: {shared} of {other.panel} of service "{other.service}" at '
        f"{other.location}, so Alertmanager routes, silences and inhibitions that "
        "match alertname without the service label apply to both; give one of "
        "them another name with alert: {name: ...}",
        NAME,
    )
