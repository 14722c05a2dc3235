"""The compiler's stages tied together: load, check, derive, render.

Each stage can also be called on its own; this module only sequences them and
collects their diagnostics.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import attrs
import jinja2

from obscompile.config import Config
from obscompile.derive.units import UnitError, panel_unit
from obscompile.diagnostics import Diagnostic, error, has_errors, sorted_diagnostics
from obscompile.load.config import load_config
from obscompile.load.project import load_project
from obscompile.model.service import Service
from obscompile.render.environment import make_environment
from obscompile.render.prometheus import emit_prometheus
from obscompile.render.grafana import (
    DEFAULT_SCHEMA_VERSION,
    panel_thresholds,
    render_dashboard,
)
from obscompile.render.kubernetes import emit_prometheus_rules
from obscompile.render.mimir import emit_mimir_namespaces
from obscompile.render.provisioning import emit_provisioning
from obscompile.render.terraform import emit_terraform


@attrs.frozen
class Project:
    """Where a project's inputs and outputs live."""

    root: Path
    services_dir: Path
    out_dir: Path
    templates_dir: Path
    schema_version: int = DEFAULT_SCHEMA_VERSION

    @classmethod
    def at(
        cls, root: Path, services: Path | None = None, out: Path | None = None
    ) -> Project:
        return cls(
            root=root,
            services_dir=services or root / "services",
            out_dir=out or root / "out",
            templates_dir=root / "templates",
        )


@attrs.frozen
class BuildResult:
    """The artifacts of a build (relative path to text) and what was found on the way."""

    services: tuple[Service, ...]
    files: dict[str, str]
    diagnostics: tuple[Diagnostic, ...]
    sources: dict[str, str]
    seconds: float

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)

    @property
    def dashboards(self) -> int:
        return sum(1 for s in self.services if s.dashboard is not None and s.rows)

    @property
    def panels(self) -> int:
        return sum(len(s.panels) for s in self.services if s.dashboard is not None)


def check_services(services: tuple[Service, ...]) -> list[Diagnostic]:
    """Run every registered check over the loaded services."""
    from obscompile.check import run_checks
    from obscompile.instrument.check import check_instrumentation

    diagnostics = run_checks(services)
    # The instrumentation checks repeat the project checks on service names and
    # scrape targets; only their client-library checks are kept here.
    repeated = {"instrument/service-name", "instrument/scrape-target"}
    for service in services:
        if service.runtime is not None:
            diagnostics.extend(
                d for d in check_instrumentation(service) if d.check not in repeated
            )
    return diagnostics


def threshold_diagnostics(services: tuple[Service, ...]) -> list[Diagnostic]:
    """Report thresholds that cannot be expressed in their panel's unit."""
    problems = []
    for service in services:
        for panel in service.panels:
            if panel.thresholds is None:
                continue
            try:
                panel_thresholds(panel, panel_unit(panel, service))
            except UnitError as exc:
                problems.append(error(panel.location_of("thresholds"), str(exc), "thresholds/unit"))
    return problems


@attrs.frozen
class EmitContext:
    """What an emitter gets: the project, its services and the files emitted before it."""

    project: Project
    config: Config
    services: tuple[Service, ...]
    env: jinja2.Environment
    files: dict[str, str]


Emitter = Callable[[EmitContext], dict[str, str]]


def emit_instrumentation(context: EmitContext) -> dict[str, str]:
    from obscompile.instrument.generate import render_instrumentation

    files: dict[str, str] = {}
    for service in context.services:
        files.update(render_instrumentation(service, context.env))
    return files


def emit_dashboards(context: EmitContext) -> dict[str, str]:
    files = {}
    for service in context.services:
        if service.dashboard is None or not service.rows:
            continue
        path = f"grafana/dashboards/{service.dashboard.uid}.json"
        files[path] = render_dashboard(context.env, service, context.config.schema_version)
    return files


# Emitters run in this order; a later one may read what earlier ones wrote. The
# provisioning and Terraform emitters read the dashboard files, and the kubernetes
# and mimir emitters read the prometheus target's rule files, so they come after them.
EMITTERS: list[tuple[str, Emitter]] = [
    ("grafana", emit_dashboards),
    ("prometheus", emit_prometheus),
    ("grafana", emit_provisioning),
    ("terraform", emit_terraform),
    ("kubernetes", emit_prometheus_rules),
    ("mimir", emit_mimir_namespaces),
    ("instrumentation", emit_instrumentation),
]


def render_artifacts(
    project: Project, services: tuple[Service, ...], config: Config | None = None
) -> dict[str, str]:
    """Render every artifact of every service, keyed by its path inside `out/`."""
    config = config or Config()
    env = make_environment(project.templates_dir)
    files: dict[str, str] = {}
    for target, emitter in EMITTERS:
        if target not in config.targets:
            continue
        context = EmitContext(project, config, services, env, dict(files))
        files.update(emitter(context))
    return dict(sorted(files.items()))


def build(project: Project) -> BuildResult:
    """Load, check and render a project; render nothing if any error was found."""
    started = time.perf_counter()
    config, config_diagnostics, config_sources = load_config(project.root)
    loaded = load_project(project.services_dir, project.root / "blocks")
    diagnostics = [*config_diagnostics, *loaded.diagnostics]
    services = loaded.services
    diagnostics.extend(check_services(services))
    diagnostics.extend(threshold_diagnostics(services))
    files: dict[str, str] = {}
    if not has_errors(diagnostics):
        files = render_artifacts(project, services, config)
    return BuildResult(
        services=services,
        files=files,
        diagnostics=tuple(sorted_diagnostics(diagnostics)),
        sources={**config_sources, **loaded.sources},
        seconds=time.perf_counter() - started,
    )
