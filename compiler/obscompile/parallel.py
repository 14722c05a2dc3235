"""Compute the per-service stages of a build in worker processes.

Loading a manifest depends on that manifest alone. Checking a service, rendering its
files, reading its artifact facts and deriving its rule diagnostics depend on that
service, given the project's other services (see `pipeline.ServiceEmitter`). So a
build with many services to compute hands them to forked workers. The pipeline then
runs its stages in their usual order and takes these results in place of computing
them, so the output is the same as a build in one process. Without workers, the
stages after the checks still run service by service in this process (`prefetch`).
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from obscompile.diagnostics import ObscompileError

if TYPE_CHECKING:
    from pathlib import Path

    from obscompile.cache import BuildCache, Progress
    from obscompile.config import Config
    from obscompile.derive.alert_names import AlertOrigin
    from obscompile.diagnostics import Diagnostic
    from obscompile.model.service import Service
    from obscompile.pipeline import Project

# Fewer services than this are computed in the build's own process. Starting the
# workers takes tens of milliseconds, about what a few services cost (an estimate).
MIN_SERVICES = 16
FACTS = "artifact-facts"
RULE_DIAGNOSTICS = "rule-diagnostics"
# The stages of the checks that run per service (see `pipeline.check_services`).
CHECKS = "checks"
INSTRUMENTATION_CHECKS = "instrumentation-checks"
# The names of a service's alerts, which the checks of every service read.
ALERT_NAMES = "alert-names"

# (stage, position of the service) -> result.
Prefetched = dict[tuple[str, int], Any]
# prctl(2) option that sets the signal a process gets when its parent thread ends.
_PR_SET_PDEATHSIG = 1
# Seconds between checks for the build's end, where prctl is missing.
_WATCH_INTERVAL = 0.5


def default_jobs() -> int:
    """Return the number of processors this process may run on that are idle now.

    Workers speed a build up only on processors that other processes leave idle.
    On busy processors they get little more time than the build's process alone,
    and add the cost of forking and of sending their results back. At a load
    average of 5 to 8 on 2 processors, builds with workers took longer than
    builds without (see docs/benchmarks.md).
    """
    try:
        processors = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        processors = os.cpu_count() or 1
    return max(1, processors - busy_processors())


def busy_processors(loadavg: str = "/proc/loadavg") -> int:
    """Return how many tasks other than this one are running or ready to run now.

    Reads the fourth field of Linux's `loadavg` file, `running/total`, whose first
    number counts this process too. Returns 0 where the file is missing or unreadable.
    """
    try:
        with open(loadavg, encoding="ascii") as file:
            running = int(file.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return 0
    return max(0, running - 1)


class _Task:
    """The function of the forked workers, set before the pool starts and inherited."""

    function: Callable[[int], Any]


class WorkerExit(ObscompileError):
    """A worker process ended, or was about to end, without its task's result."""


def _call(index: int) -> Any:
    # A worker inherits the build's paused collector; the objects it makes are its own.
    gc.enable()
    try:
        return _Task.function(index)
    except Exception:
        raise
    except BaseException as exc:
        # SystemExit, KeyboardInterrupt or GeneratorExit would end the worker's
        # process, so an exception carries the task's failure to the build instead.
        raise WorkerExit(
            f"task {index} raised {type(exc).__name__}{_argument(exc)} in a worker "
            "process; rerun with --jobs 1 to see where"
        ) from None


def _argument(exc: BaseException) -> str:
    return f"({exc.args[0]!r})" if exc.args else ""


def _end_with_build(build: int) -> None:
    """Make this worker end when the build's process `build` ends, however it ends.

    A worker that outlives the build waits forever, because its sibling workers keep
    both ends of the pool's pipes open, so neither a read nor a write ever fails. A
    worker writes none of the build's files, so SIGKILL loses nothing.

    Ctrl-C sends SIGINT to every process of the terminal's process group. A worker
    ignores it, so that only the build's process reports the interrupt, and the
    worker ends with the build.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The worker inherits SIGINT blocked from the fork (see `map_in_workers`). Once
    # ignored, a pending one is dropped.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if not _kill_on_parent_death():
        threading.Thread(target=_watch_build, args=(build,), daemon=True).start()
    # The build may have ended before the signal was set, and then it never comes.
    if os.getppid() != build:
        os.kill(os.getpid(), signal.SIGKILL)


def _kill_on_parent_death() -> bool:
    """Set SIGKILL as this worker's parent-death signal, which only Linux has.

    Returns whether the signal is set. Linux sends it when the thread that forked this
    worker ends. A fork pool starts all its workers in the thread that submits the
    first task (`_launch_processes` of CPython 3.11's ProcessPoolExecutor), and
    `map_in_workers` keeps that thread waiting until the workers have ended. So the
    signal comes only when the build's process ends.
    """
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_build(build: int) -> None:
    """End this worker once its parent is no longer the build's process `build`."""
    while os.getppid() == build:
        time.sleep(_WATCH_INTERVAL)
    os.kill(os.getpid(), signal.SIGKILL)


def map_in_workers(
    function: Callable[[int], Any],
    count: int,
    jobs: int,
    progress: Progress | None = None,
    stage: str = "",
) -> list[Any] | None:
    """Return `[function(i) for i in range(count)]`, computed by `jobs` forked workers.

    The workers inherit the memory of this process, so `function` may read anything
    prepared before the call. Only the indexes and the results cross between
    processes. Returns None when `count` is below MIN_SERVICES, `jobs` is 1 or the
    platform cannot fork, and the caller then computes the results itself.
    """
    if jobs < 2 or count < MIN_SERVICES:
        return None
    # Imported here, because most rebuilds start no worker and need no import.
    import multiprocessing

    try:
        context = multiprocessing.get_context("fork")
    except ValueError:
        return None
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    _Task.function = function
    found = []
    # Unlike multiprocessing.Pool, the executor notices a worker process that ends
    # without its result, such as by os._exit, instead of waiting for it forever.
    with ProcessPoolExecutor(
        min(jobs, count),
        mp_context=context,
        initializer=_end_with_build,
        initargs=(os.getpid(),),
    ) as pool:
        # The first task forks every worker. CPython 3.11 prints and drops an
        # exception raised in an at-fork hook, such as logging's, so a Ctrl-C handled
        # there would be lost. SIGINT stays pending while the workers start, and its
        # KeyboardInterrupt is raised once the mask is restored.
        previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            # A worker that ends at once breaks the pool while map still submits
            # the later tasks, so the submission raises BrokenProcessPool too.
            try:
                results = pool.map(_call, range(count))
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
            for done, result in enumerate(results, 1):
                found.append(result)
                if progress is not None:
                    progress(stage, done, count)
        except BrokenProcessPool:
            # CPython 3.11's executor can fail to stop the other workers of a broken
            # pool, when map has cancelled a task that it then marks as broken, and
            # the interpreter's exit would wait for them forever.
            for child in multiprocessing.active_children():
                child.kill()
            raise WorkerExit(
                "a worker process ended before it finished its task; rerun with "
                "--jobs 1 to see why"
            ) from None
        except BaseException:
            # A Ctrl-C, or any other error here, ends the stage. Services that no
            # worker has started are dropped, so the build ends after the running ones.
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return found


def load_manifests(
    files: Sequence[tuple[Path, str]], jobs: int, progress: Progress | None = None
) -> list[tuple[Service | None, list[Diagnostic], str]] | None:
    """Load YAML manifests, given as (path, display name), in worker processes.

    Returns what `load_manifest_file` returns for each, or None where
    `map_in_workers` does.
    """
    from obscompile.load.project import load_manifest_file

    def load(index: int) -> tuple[Service | None, list[Diagnostic], str]:
        return load_manifest_file(*files[index])

    return map_in_workers(load, len(files), jobs, progress, "loading")


def check_stages(
    services: tuple[Service, ...],
    todo: Sequence[int],
    compute: Callable[[Service], dict[str, Any]],
    jobs: int,
    progress: Progress | None = None,
) -> Prefetched:
    """Run the per-service checks of the services at the positions `todo` in workers.

    `compute(service)` returns the result of each check stage. Returns nothing where
    `map_in_workers` returns None.
    """

    def check(index: int) -> dict[str, Any]:
        return compute(services[todo[index]])

    return _by_stage(todo, map_in_workers(check, len(todo), jobs, progress, "checking"))


def derive_alert_origins(
    services: Sequence[Service], jobs: int, progress: Progress | None = None
) -> list[Sequence[AlertOrigin]] | None:
    """Derive the alerts of `services` (`alert_origins`) in worker processes.

    Returns None where `map_in_workers` does.
    """
    from obscompile.derive.alerts import alert_origins

    def derive(index: int) -> Sequence[AlertOrigin]:
        return alert_origins(services[index])

    return map_in_workers(derive, len(services), jobs, progress, "deriving alert names")


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
    """Compute the per-service stages that the cache lacks, service by service.

    They run in `jobs` worker processes, or in this one where `map_in_workers`
    starts none. A service's stages run one after another, so its rules and facts
    reuse the dashboard layout and the parsed queries that the memos still keep.
    Returns nothing when the cache lacks the stages of too few services, and the
    pipeline then computes them itself.
    """
    stages = service_stages(config)
    names = tuple(service.name for service in services)
    if cache is not None:
        # A service whose first stage is stored usually has every stage stored, and
        # the pipeline computes any other missing result itself. So a build with few
        # services to compute stops here without looking up every stage.
        stage, emitter = stages[0]
        lacking = sum(
            not cache.stored(stage, service, _extra(emitter, names, service))
            for service in services
        )
        if lacking < MIN_SERVICES:
            return {}
    todo = [
        position
        for position, service in enumerate(services)
        if cache is None
        or not all(
            cache.stored(stage, service, _extra(emitter, names, service))
            for stage, emitter in stages
        )
    ]
    compiled = None if cache is None else cache.compiled_templates()
    environment: list[Any] = []

    def render(index: int) -> dict[str, Any]:
        from obscompile.render.environment import make_environment

        if not environment:
            environment.append(make_environment(project.templates_dir, compiled))
        service = services[todo[index]]
        return _compute(project, service, config, names, environment[0], stages)

    results = map_in_workers(render, len(todo), jobs, progress, "rendering")
    if results is None:
        results = []
        for index in range(len(todo)):
            results.append(render(index))
            if progress is not None:
                progress("rendering", index + 1, len(todo))
    return _by_stage(todo, results)


def _by_stage(
    positions: Sequence[int], results: list[dict[str, Any]] | None
) -> Prefetched:
    """Key each service's results, one per stage, by stage and service position."""
    found: Prefetched = {}
    for position, computed in zip(positions, results or (), strict=False):
        for stage, value in computed.items():
            found[(stage, position)] = value
    return found


def _extra(emitter: Any, names: tuple[str, ...], service: Service) -> str:
    key: Callable[[tuple[str, ...], Service], str] | None = getattr(
        emitter, "key", None
    )
    return "" if key is None else key(names, service)


def _compute(
    project: Project,
    service: Service,
    config: Config,
    names: tuple[str, ...],
    env: Any,
    stages: list[tuple[str, Any]],
) -> dict[str, Any]:
    """Run every per-service stage for one service, in a worker."""
    from obscompile.check.artifacts import artifact_facts, owned_files
    from obscompile.pipeline import EmitContext
    from obscompile.render.prometheus import service_rule_diagnostics

    own: dict[str, str] = {}
    computed: dict[str, Any] = {}
    for stage, emitter in stages:
        if stage == FACTS:
            computed[stage] = artifact_facts(service, owned_files(service, own))
        elif stage == RULE_DIAGNOSTICS:
            computed[stage] = service_rule_diagnostics(service, config)
        else:
            context = EmitContext(project, config, (service,), env, dict(own), names)
            produced = emitter.function(context)
            own.update(produced)
            computed[stage] = produced
    return computed
