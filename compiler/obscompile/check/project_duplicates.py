"""project/duplicate-*: names that must be unique across the project's manifests.

Two services with one name would write the same rule and instrumentation files, two
dashboards with one uid the same dashboard, and two scrape jobs with one name make
the whole Prometheus configuration invalid. Neither of two definitions is the
original to the user, who may have copied either file, so each clash is reported at
both of them, each naming the other. Where more than two define one name, the first
in definition order is paired with each later one. That order sorts the manifests by
their names without the extension, so `payments.yaml` comes before
`payments-v2.yaml`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterable, Iterator
from pathlib import PurePath
from typing import TypeVar

from obscompile.check.context import ProjectContext
from obscompile.check.registry import Scope, check
from obscompile.diagnostics import Diagnostic, error
from obscompile.model.location import Location
from obscompile.model.service import Dashboard, Service


def definition_order(location: Location) -> tuple[str, str, int, int]:
    """Return a sort key that puts `a.yaml` before `a-b.yaml`, named after it."""
    return (_stem(location.file), location.file, location.line, location.column)


@functools.lru_cache(maxsize=4096)
def _stem(file: str) -> str:
    """Return the path `file` without its extension.

    The project checks sort by it several times per build, thousands of times in a
    large project, and a path operation costs more than the lookup.
    """
    return str(PurePath(file).with_suffix(""))


def service_name_location(service: Service) -> Location:
    """Return where the service's key, or else its name, is written."""
    return service.locations.get("service_key") or service.locations.get(
        "service", service.location
    )


def written_name(service: Service) -> str:
    """Return the name as written at `service_name_location`.

    That is the key where the manifest sets one, and else the service's name.
    """
    if "service_key" in service.locations:
        return service.name
    return service.declared_name


# The services of the last project in definition order. The three checks below sort
# the same tuple, which takes a path operation per service.
_last_order: tuple[tuple[Service, ...], list[Service]] = ((), [])


def _in_order(services: tuple[Service, ...]) -> list[Service]:
    global _last_order
    if services is not _last_order[0]:
        order = sorted(
            services, key=lambda s: definition_order(service_name_location(s))
        )
        _last_order = (services, order)
    return _last_order[1]


T = TypeVar("T")


def clashes(
    definitions: Iterable[T], key: Callable[[T], Hashable]
) -> Iterator[tuple[T, T]]:
    """Yield `(later, first)` for each definition whose key an earlier one has."""
    first: dict[Hashable, T] = {}
    for definition in definitions:
        earlier = first.setdefault(key(definition), definition)
        if earlier is not definition:
            yield definition, earlier


@check(
    "project/duplicate-service",
    "two manifests define services with the same name",
    scope=Scope.PROJECT,
)
def duplicate_service(context: ProjectContext) -> Iterator[Diagnostic]:
    # Keyed by the case-folded key, because the key names the service's files.
    services = _in_order(context.services)
    for later, first in clashes(services, lambda s: s.name.casefold()):
        for service, other in ((later, first), (first, later)):
            yield error(
                service_name_location(service),
                _service_message(service, other),
                "project/duplicate-service",
            )


def _service_message(service: Service, other: Service) -> str:
    """Return the error message at `service` for its clash with `other`."""
    name, other_name = written_name(service), written_name(other)
    where = service_name_location(other)
    if name == other_name:
        return f'service "{name}" is also defined in {where}'
    if service.name == other.name:
        return (
            f'service "{name}" resolves to the same service as "{other_name}" in '
            f'{where}, because both have the service key "{service.name}", which '
            "names the service's files; rename one of them"
        )
    if name.casefold() == other_name.casefold():
        return (
            f'service "{name}" differs only in case from "{other_name}" in {where}, '
            "and their files collide on case-insensitive file systems"
        )
    return (
        f'service "{name}" resolves to the same service as "{other_name}" in '
        f'{where}, because their service keys "{service.name}" and "{other.name}" '
        "differ only in case, and their files collide on case-insensitive file "
        "systems"
    )


def _uid_location(service: Service) -> Location:
    dashboard = service.dashboard
    if dashboard is not None and "uid" in dashboard.locations:
        return dashboard.locations["uid"]
    return service_name_location(service)


# A service with its dashboard, which the uid checks read together.
WithDashboard = tuple[Service, Dashboard]


def _uid_message(reported: WithDashboard, other: WithDashboard) -> str:
    """Return the error message at `reported` for the clash of its uid with `other`'s.

    A uid derived from the service name is not written in the manifest, so its
    message ends with how to set one.
    """
    message = _uid_clash(reported, other)
    if "uid" not in reported[1].locations:
        message += "; set another uid for this dashboard with dashboard.uid"
    return message


def _uid_clash(reported: WithDashboard, other: WithDashboard) -> str:
    uid, other_uid = reported[1].uid, other[1].uid
    derived = "uid" not in reported[1].locations
    other_derived = "uid" not in other[1].locations
    origin = " (derived from the service name)" if derived else ""
    where = _uid_location(other[0])
    if uid == other_uid:
        if other_derived:
            return (
                f'dashboard uid "{uid}"{origin} is also the uid derived from the '
                f"service name in {where}"
            )
        return f'dashboard uid "{uid}"{origin} is also defined in {where}'
    other_text = f'"{other_uid}"'
    if other_derived:
        other_text = f"the uid {other_text} derived from the service name"
    return (
        f'dashboard uid "{uid}"{origin} differs only in case from {other_text} in '
        f"{where}, and their files collide on case-insensitive file systems"
    )


@check(
    "project/duplicate-uid",
    "two dashboards have the same uid",
    scope=Scope.PROJECT,
)
def duplicate_uid(context: ProjectContext) -> Iterator[Diagnostic]:
    dashboards = [
        (service, service.dashboard)
        for service in _in_order(context.services)
        if service.dashboard is not None
    ]
    # Keyed by the case-folded uid, because the uid names the dashboard's file.
    for later, first in clashes(dashboards, lambda pair: pair[1].uid.casefold()):
        if later[0].name.casefold() == first[0].name.casefold():
            # A repeated service, also one whose key differs only in case, is
            # reported once, as a duplicate service.
            continue
        for reported, other in ((later, first), (first, later)):
            yield error(
                _uid_location(reported[0]),
                _uid_message(reported, other),
                "project/duplicate-uid",
            )


@check(
    "project/duplicate-job",
    "two scrape jobs have the same job name",
    scope=Scope.PROJECT,
)
def duplicate_job(context: ProjectContext) -> Iterator[Diagnostic]:
    jobs = [
        (job.job, job.locations.get("job", job.location))
        for service in context.services
        for job in service.scrape_jobs
    ]
    jobs.sort(key=lambda job: definition_order(job[1]))
    for later, first in clashes(jobs, lambda job: job[0]):
        for (name, where), (_, other_where) in ((later, first), (first, later)):
            yield error(
                where,
                f'scrape job "{name}" is also defined in {other_where}',
                "project/duplicate-job",
            )
