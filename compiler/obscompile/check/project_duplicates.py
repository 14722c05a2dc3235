"""project/duplicate-*: names that must be unique across the project's manifests.

Two services with one name would write the same rule and instrumentation files, two
dashboards with one uid the same dashboard, and two scrape jobs with one name make
the whole Prometheus configuration invalid. The first definition is the one in the
manifest whose name sorts first without its extension, so `payments.yaml` comes
before `payments-v2.yaml`; later ones are reported.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePath

from obscompile.check.context import ProjectContext
from obscompile.check.registry import Scope, check
from obscompile.diagnostics import Diagnostic, error
from obscompile.model.location import Location
from obscompile.model.service import Service


def definition_order(location: Location) -> tuple[str, str, int, int]:
    """Return a sort key that puts `a.yaml` before `a-b.yaml`, named after it."""
    stem = str(PurePath(location.file).with_suffix(""))
    return (stem, location.file, location.line, location.column)


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


@check(
    "project/duplicate-service",
    "two manifests define services with the same name",
    scope=Scope.PROJECT,
)
def duplicate_service(context: ProjectContext) -> Iterator[Diagnostic]:
    # Keyed by the case-folded key, because the key names the service's files.
    first: dict[str, Service] = {}
    for service in _in_order(context.services):
        earlier = first.setdefault(service.name.casefold(), service)
        if earlier is not service:
            yield error(
                service_name_location(service),
                _service_message(service, earlier),
                "project/duplicate-service",
            )


def _service_message(service: Service, other: Service) -> str:
    """Describe the clash of `service` with `other`, in the names that each writes."""
    name, other_name = written_name(service), written_name(other)
    where = service_name_location(other)
    if name == other_name:
        return f'service "{name}" is already defined in {where}'
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


@check(
    "project/duplicate-uid",
    "two dashboards have the same uid",
    scope=Scope.PROJECT,
)
def duplicate_uid(context: ProjectContext) -> Iterator[Diagnostic]:
    # Keyed by the case-folded uid, because the uid names the dashboard's file.
    first: dict[str, tuple[Service, str]] = {}
    for service in _in_order(context.services):
        if service.dashboard is None:
            continue
        uid = service.dashboard.uid
        key = uid.casefold()
        if key not in first:
            first[key] = (service, uid)
            continue
        earlier, earlier_uid = first[key]
        if earlier.name == service.name:
            continue  # A repeated service is reported once, as a duplicate service.
        derived = ""
        if "uid" not in service.dashboard.locations:
            derived = " (derived from the service name)"
        if earlier_uid == uid:
            message = (
                f'dashboard uid "{uid}"{derived} is already defined in '
                f"{_uid_location(earlier)}"
            )
        else:
            message = (
                f'dashboard uid "{uid}"{derived} differs only in case from '
                f'"{earlier_uid}" in {_uid_location(earlier)}, and their files '
                "collide on case-insensitive file systems"
            )
        yield error(_uid_location(service), message, "project/duplicate-uid")


@check(
    "project/duplicate-job",
    "two scrape jobs have the same job name",
    scope=Scope.PROJECT,
)
def duplicate_job(context: ProjectContext) -> Iterator[Diagnostic]:
    jobs = [job for service in context.services for job in service.scrape_jobs]
    jobs.sort(key=lambda job: definition_order(job.locations.get("job", job.location)))
    first: dict[str, Location] = {}
    for job in jobs:
        where = job.locations.get("job", job.location)
        if job.job not in first:
            first[job.job] = where
            continue
        yield error(
            where,
            f'scrape job "{job.job}" already defined in {first[job.job]}',
            "project/duplicate-job",
        )
