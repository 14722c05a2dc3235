"""Compute the per-service stages of a build in worker processes.

Rendering a service's files, reading its artifact facts and deriving its rule
diagnostics depend on that service alone (see `pipeline.ServiceEmitter`), so a
build with many services to compute hands them to forked workers. The pipeline
then runs its stages in their usual order and takes these results in place of
computing them, so the output is the same as a build in one process.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from obscompile.cache import BuildCache, Progress
    from obscompile.config import Config
    from obscompile.model.service import Service
    from obscompile.pipeline import Project

# Fewer services than this are computed in the build's own process. Starting the
# workers takes tens of milliseconds, about what a few services cost (an estimate).
MIN_SERVICES = 16
FACTS = "artifact-facts"
RULE_DIAGNOSTICS = "rule-diagnostics"

# (stage, position of the service) -> result.
Prefetched = dict[tuple[str, int], Any]


def default_jobs() -> int:
    """Return the number of processors this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class _Work:
    """The inputs of the forked workers, set before the pool starts and inherited."""

    project: Project
    services: tuple[Service, ...]
    config: Config
    names: tuple[str, ...]
    compiled: Any
    stages: list[tuple[str, Any]]
    env: Any = None


def service_stages(config: Config) -> list[tuple[str, Any]]:
    """Return the per-service stages of a build with `config`, in pipeline order."""
    from obscompile.pipeline import EMITTERS, ServiceEmitter

    stages: list[tuple[str, Any]] = [
        (emitter.stage, emitter)
        for target, emitter in EMITTERS
        if target in config.targets and isinstance(emitter, ServiceEmitter)
    ]
    stages.append((FACTS, None))
    if "prometheus" in config.targets:
        stages.append((RULE_DIAGNOSTICS, None))
    return stages


def prefetch(
    project: Project,
    services: tuple[Service, ...],
    config: Config,
    cache: BuildCache | None,
    jobs: int,
    progress: Progress | None = None,
) -> Prefetched:
    """Compute the per-service stages that the cache lacks, in `jobs` processes.

    Returns nothing when there are too few such services, or `jobs` is 1, or the
    platform cannot fork; the pipeline then computes them itself.
    """
    stages = service_stages(config)
    names = tuple(service.name for service in services)
    todo = [
        position
        for position, service in enumerate(services)
        if cache is None
        or not all(
            cache.stored(stage, service, _extra(emitter, names, service))
            for stage, emitter in stages
        )
    ]
    if jobs < 2 or len(todo) < MIN_SERVICES:
        return {}
    try:
        context = multiprocessing.get_context("fork")
    except ValueError:
        return {}
    _Work.project, _Work.services, _Work.config = project, services, config
    _Work.names = names
    _Work.compiled = None if cache is None else cache.compiled_templates()
    _Work.stages = stages
    found: Prefetched = {}
    with context.Pool(min(jobs, len(todo))) as pool:
        results = pool.imap(_compute, todo, chunksize=1)
        for done, (position, computed) in enumerate(zip(todo, results, strict=True), 1):
            for stage, value in computed.items():
                found[(stage, position)] = value
            if progress is not None:
                progress("rendering", done, len(todo))
    return found


def _extra(emitter: Any, names: tuple[str, ...], service: Service) -> str:
    key: Callable[[tuple[str, ...], Service], str] | None = getattr(
        emitter, "key", None
    )
    return "" if key is None else key(names, service)


def _compute(position: int) -> dict[str, Any]:
    """Run every per-service stage for one service, in a worker."""
    from obscompile.check.artifacts import artifact_facts, owned_files
    from obscompile.pipeline import EmitContext
    from obscompile.render.environment import make_environment
    from obscompile.render.prometheus import service_rule_diagnostics

    if _Work.env is None:
        _Work.env = make_environment(_Work.project.templates_dir, _Work.compiled)
    service = _Work.services[position]
    own: dict[str, str] = {}
    computed: dict[str, Any] = {}
    for stage, emitter in _Work.stages:
        if stage == FACTS:
            computed[stage] = artifact_facts(service, owned_files(service, own))
        elif stage == RULE_DIAGNOSTICS:
            computed[stage] = service_rule_diagnostics(service, _Work.config)
        else:
            context = EmitContext(
                _Work.project,
                _Work.config,
                (service,),
                _Work.env,
                dict(own),
                _Work.names,
            )
            produced = emitter.function(context)
            own.update(produced)
            computed[stage] = produced
    return computed
