"""The registry of named checks, and the runner that applies them to a project.

A check is one function registered with `@check(name, description, scope=...)`. It
receives a context and yields diagnostics, and it must report bad input as
diagnostics instead of printing or raising. The scope sets how often it runs: once
per project, once per service, or once per panel.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import attrs

from obscompile.check.alert_index import AlertIndex
from obscompile.check.context import (
    PROMETHEUS_SCRAPE_INTERVAL,
    PROMETHEUS_SCRAPE_TIMEOUT,
    ProjectContext,
)
from obscompile.diagnostics import Diagnostic, UsageError, sorted_diagnostics
from obscompile.load.durations import positive_duration
from obscompile.model.service import Service


class Scope(enum.StrEnum):
    PROJECT = "project"
    SERVICE = "service"
    PANEL = "panel"


# A project check takes a ProjectContext, a service check a ServiceContext and a panel
# check a PanelContext.
CheckFunction = Callable[[Any], Iterable[Diagnostic]]


@attrs.frozen
class Check:
    """One named check: `promql/histogram-le`, what it finds, and its function."""

    name: str
    description: str
    function: CheckFunction
    scope: Scope


REGISTRY: dict[str, Check] = {}


def check(
    name: str, description: str, scope: Scope = Scope.PANEL
) -> Callable[[CheckFunction], CheckFunction]:
    """Register the decorated function as the check `name`."""

    def register(function: CheckFunction) -> CheckFunction:
        if name in REGISTRY:
            raise ValueError(f'check "{name}" is registered twice')
        REGISTRY[name] = Check(name, description, function, scope)
        return function

    return register


def registered_checks() -> tuple[Check, ...]:
    """Return every registered check, sorted by name."""
    return tuple(REGISTRY[name] for name in sorted(REGISTRY))


def _run(found: Check, project: ProjectContext) -> Iterable[Diagnostic]:
    if found.scope is Scope.PROJECT:
        yield from found.function(project)
        return
    for service in project.services:
        context = project.for_service(service)
        if found.scope is Scope.SERVICE:
            yield from found.function(context)
            continue
        for row, panel in context.panels():
            yield from found.function(context.for_panel(row, panel))


def service_checks(project: ProjectContext, service: Service) -> list[Diagnostic]:
    """Run the per-service and per-panel checks on one service of `project`.

    This is the loop of `_run` for a single service, unsorted.
    """
    found: list[Diagnostic] = []
    context = project.for_service(service)
    # A context keeps nothing between checks, so one context per panel serves them all.
    panels = [context.for_panel(row, panel) for row, panel in context.panels()]
    for check in registered_checks():
        if check.scope is Scope.SERVICE:
            found.extend(check.function(context))
        elif check.scope is Scope.PANEL:
            for panel_context in panels:
                found.extend(check.function(panel_context))
    return found


def scrape_interval_of(text: str | None) -> timedelta:
    """Return the global scrape interval `text`, or Prometheus's default of 1m."""
    return _global_duration(text, PROMETHEUS_SCRAPE_INTERVAL, "scrape interval")


def scrape_timeout_of(text: str | None) -> timedelta:
    """Return the global scrape timeout `text`, or Prometheus's default of 10s."""
    return _global_duration(text, PROMETHEUS_SCRAPE_TIMEOUT, "scrape timeout")


def _global_duration(text: str | None, default: timedelta, name: str) -> timedelta:
    """Return the duration `text`, or `default` for None; raise UsageError if invalid."""
    if text is None:
        return default
    duration = positive_duration(text)
    if duration is None:
        raise UsageError(f'{name} "{text}" is not a duration such as 15s')
    return duration


def run_checks(
    services: Sequence[Service],
    *,
    sources: Mapping[str, str] | None = None,
    select: Collection[str] | None = None,
    scrape_interval: str | None = None,
    failed_manifests: Sequence[str] = (),
    scrape_timeout: tuple[str, str] | None = None,
) -> list[Diagnostic]:
    """Run every registered check (or those named in `select`) over `services`.

    `sources` maps each manifest's display name to its text (`LoadResult.sources`);
    with it, positions inside quoted or block scalars are exact. `scrape_interval`
    is the global scrape_interval of prometheus.yml (Prometheus's default is 1m).
    `failed_manifests` are the manifests that failed to load (`LoadResult.failed`).
    `scrape_timeout` is the global scrape_timeout of prometheus.yml and what sets
    it, such as "the scrape_timeout of obscompile.yaml" (Prometheus's default is
    10s). Returns the diagnostics sorted by position, without duplicates.
    """
    if select is not None:
        unknown = sorted(set(select) - set(REGISTRY))
        if unknown:
            raise UsageError(f"no check named {', '.join(unknown)}")
    project = project_context(
        services, sources, scrape_interval, failed_manifests, scrape_timeout
    )
    diagnostics: list[Diagnostic] = []
    for found in registered_checks():
        if select is None or found.name in select:
            diagnostics.extend(_run(found, project))
    return sorted_diagnostics(diagnostics)


def project_context(
    services: Sequence[Service],
    sources: Mapping[str, str] | None = None,
    scrape_interval: str | None = None,
    failed_manifests: Sequence[str] = (),
    scrape_timeout: tuple[str, str] | None = None,
    alert_index: AlertIndex | None = None,
) -> ProjectContext:
    """Return the context of the checks of `services`; `run_checks` describes the rest.

    `alert_index` gives the alerts of `services`. Without it, they are derived when
    a check first reads them.
    """
    services = tuple(services)
    context = ProjectContext(
        services,
        sources or {},
        scrape_interval=scrape_interval_of(scrape_interval),
        failed_manifests=tuple(failed_manifests),
        alert_index=(
            alert_index if alert_index is not None else AlertIndex.derived(services)
        ),
    )
    if scrape_timeout is None:
        return context
    text, origin = scrape_timeout
    return attrs.evolve(
        context, scrape_timeout=scrape_timeout_of(text), scrape_timeout_origin=origin
    )
