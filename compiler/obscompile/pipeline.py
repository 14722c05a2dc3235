"""The compiler's stages tied together: load, check, derive, render.

Each stage can also be called on its own; this module only sequences them and
collects their diagnostics.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import jinja2

from obscompile.check.alert_index import AlertIndex
from obscompile.check.artifacts import (
    ArtifactFacts,
    artifact_facts,
    check_artifacts,
    compare,
    scraped_jobs,
)
from obscompile.config import DEFAULT_TARGETS, Config
from obscompile.derive.alerts import late_default_alerts
from obscompile.diagnostics import (
    Diagnostic,
    error,
    exception_text,
    has_errors,
    sorted_diagnostics,
    warning,
)
from obscompile.load.config import load_config, scrape_timeout_origin
from obscompile.load.input_file import TEMPLATE, InputFileError, read_input_text
from obscompile.load.project import display_name, load_project
from obscompile.model.location import Location
from obscompile.model.service import Service
from obscompile.parallel import (
    ALERT_NAMES,
    CHECKS,
    FACTS,
    INSTRUMENTATION_CHECKS,
    RULE_DIAGNOSTICS,
    Prefetched,
    check_stages,
    derive_alert_origins,
    prefetch,
)
from obscompile.project import Project
from obscompile.render.environment import (
    TemplateFileError,
    TemplateOutputError,
    make_environment,
    misplaced_templates,
)
from obscompile.render.grafana import render_dashboard
from obscompile.render.kubernetes import emit_prometheus_rules, object_name_key
from obscompile.render.mimir import emit_mimir_namespaces
from obscompile.render.prometheus import (
    HandWritten,
    Remember,
    compute_now,
    emit_prometheus,
    emit_rules,
    merged_untested,
    rules_path,
    service_rule_diagnostics,
)
from obscompile.render.provisioning import emit_provisioning
from obscompile.render.template_syntax import locate_syntax_error, syntax_error_file
from obscompile.render.terraform import emit_terraform
from obscompile.texts import FileMap

if TYPE_CHECKING:
    from obscompile.cache import BuildCache, Progress
    from obscompile.check.catalog import Lookups
    from obscompile.derive.alert_names import AlertOrigin
    from obscompile.derive.local import LocalOverrides

T = TypeVar("T")


@attrs.frozen
class BuildResult:
    """The artifacts of a build (relative path to text) and what was found on the way.

    `unloaded` names the manifests that declare no service because of their errors.
    `targets` are the targets of the configuration, which decide whether the
    dashboards and their panels count as built.
    """

    services: tuple[Service, ...]
    files: Mapping[str, str]
    diagnostics: tuple[Diagnostic, ...]
    sources: dict[str, str]
    seconds: float
    unloaded: tuple[str, ...] = ()
    targets: tuple[str, ...] = DEFAULT_TARGETS

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)

    @property
    def dashboards(self) -> int:
        if "grafana" not in self.targets:
            return 0
        return sum(1 for s in self.services if s.dashboard is not None and s.rows)

    @property
    def panels(self) -> int:
        from obscompile.cache import panel_count

        if "grafana" not in self.targets:
            return 0
        return sum(panel_count(s) for s in self.services if s.dashboard is not None)


def per_service(
    cache: BuildCache | None,
    stage: str,
    service: Service,
    compute: Callable[[], T],
    extra: str = "",
) -> T:
    """Return `compute()`, or the cached result of `stage` for an unchanged service.

    `extra` is a digest of what the stage reads besides the service (see `memo`).
    """
    if cache is None:
        return compute()
    return cache.memo(stage, service, compute, extra=extra)


def check_services(
    services: tuple[Service, ...],
    cache: BuildCache | None = None,
    sources: Mapping[str, str] | None = None,
    scrape_interval: str | None = None,
    jobs: int = 1,
    progress: Progress | None = None,
    failed_manifests: Sequence[str] = (),
    scrape_timeout: tuple[str, str] | None = None,
    alerting: bool = True,
) -> list[Diagnostic]:
    """Run every registered check, and the instrumentation checks.

    `sources` (the manifest texts) make positions inside quoted and block scalars
    exact; `scrape_interval` applies to the scrape jobs that set none, and so does
    `scrape_timeout`, the global timeout and what sets it. The checks of
    many services that lack stored results run in up to `jobs` worker processes.
    `failed_manifests` (`LoadResult.failed`) turns off the findings that a name is
    missing from every service, because those manifests may declare it.
    `alerting` is False for a build that writes no alerting rules, whose checks
    then find no alert names.
    """
    from obscompile.check import catalog
    from obscompile.check.registry import (
        Scope,
        project_context,
        registered_checks,
        run_checks,
        service_checks,
    )

    project_checks = [c.name for c in registered_checks() if c.scope is Scope.PROJECT]
    diagnostics = run_checks(
        services,
        sources=sources,
        select=project_checks,
        scrape_interval=scrape_interval,
        failed_manifests=failed_manifests,
        scrape_timeout=scrape_timeout,
    )
    if alerting:
        alert_index = _alert_index(services, cache, jobs, progress)
    else:
        alert_index = AlertIndex(services, lambda _: ())
    context = project_context(
        services,
        sources,
        scrape_interval,
        failed_manifests,
        scrape_timeout,
        alert_index,
    )
    # The stored checks of a service count while what they looked up in the other
    # services' catalogs, scrape jobs and alerts finds the same (see
    # `catalog.Lookups`).
    # NOTE: a per-service or per-panel check that reads anything else of another
    # service must record it in its Lookups, or run as a project check.

    def extra(stage: str, service: Service, value: Any) -> str:
        if stage != CHECKS:
            return ""
        return catalog.lookup_answers(
            value.lookups, services, failed_manifests, alert_index, service
        )

    def stored(stage: str, service: Service) -> Any | None:
        """Return the stored result of `stage` for `service` while it is still valid."""
        found = None if cache is None else cache.peek(stage, service)
        if found is None or found[0] != extra(stage, service, found[1]):
            return None
        return found[1]

    # The instrumentation checks repeat the project checks on service names and
    # scrape targets; only their client-library checks are kept here.
    repeated = {"instrument/service-name", "instrument/scrape-target"}

    def checked(service: Service) -> CheckResult:
        with catalog.recording() as lookups:
            found = service_checks(context, service)
        return CheckResult(tuple(found), lookups())

    computations: dict[str, Callable[[Service], Any]] = {
        CHECKS: checked,
        INSTRUMENTATION_CHECKS: functools.partial(
            _instrumentation_diagnostics, skip=repeated
        ),
    }

    def stages_of(service: Service) -> list[str]:
        # A catalog without a runtime still gets the checks of its names, labels
        # and buckets.
        if service.runtime is None and not service.metrics:
            return [CHECKS]
        return [CHECKS, INSTRUMENTATION_CHECKS]

    def compute_all(service: Service) -> dict[str, Any]:
        return {stage: computations[stage](service) for stage in stages_of(service)}

    reused: dict[tuple[str, int], Any] = {}
    for position, service in enumerate(services):
        for stage in stages_of(service):
            value = stored(stage, service)
            if value is not None:
                reused[(stage, position)] = value
    todo = [
        position
        for position, service in enumerate(services)
        if any((stage, position) not in reused for stage in stages_of(service))
    ]
    prefetched = check_stages(services, todo, compute_all, jobs, progress)
    for position, service in enumerate(services):
        for stage in stages_of(service):
            key = (stage, position)
            if key in reused:
                value = reused[key]
            else:
                value = (
                    prefetched[key]
                    if key in prefetched
                    else computations[stage](service)
                )
                if cache is not None:
                    cache.put(stage, service, extra(stage, service, value), value)
            diagnostics.extend(value.diagnostics if stage == CHECKS else value)
    return diagnostics


def _alert_index(
    services: tuple[Service, ...],
    cache: BuildCache | None,
    jobs: int,
    progress: Progress | None,
) -> AlertIndex:
    """Return the alerts of `services`, derived where the cache has none stored.

    Many services without stored alerts are derived in up to `jobs` worker
    processes. The index is built before it is returned, so that the workers of the
    checks inherit it.
    """
    from obscompile.derive.alerts import alert_origins

    found: dict[int, Sequence[AlertOrigin]] = {}
    missing: list[Service] = []
    for service in services:
        stored = None if cache is None else cache.peek(ALERT_NAMES, service)
        if stored is not None:
            found[id(service)] = stored[1]
        else:
            missing.append(service)
    derived = derive_alert_origins(missing, jobs, progress)
    if derived is None:
        derived = [alert_origins(service) for service in missing]
    for service, origins in zip(missing, derived, strict=True):
        found[id(service)] = origins
        if cache is not None:
            cache.put(ALERT_NAMES, service, "", origins)
    index = AlertIndex(services, lambda service: found[id(service)])
    index.build()
    return index


@attrs.frozen
class CheckResult:
    """The findings of one service's checks and their reads in other services."""

    diagnostics: tuple[Diagnostic, ...]
    lookups: Lookups


def _instrumentation_diagnostics(service: Service, skip: set[str]) -> list[Diagnostic]:
    from obscompile.instrument.check import check_instrumentation

    return [d for d in check_instrumentation(service) if d.check not in skip]


@attrs.frozen
class EmitContext:
    """The input of an emitter: the project, its services and the files emitted before it.

    `service_names` contains the name of every service of the project, also when
    `services` contains one of them. `remember(stage, digest, compute)` returns
    `compute()` or, in a build with a cache, the result of the last build whose
    input had the same digest.
    """

    project: Project
    config: Config
    services: tuple[Service, ...]
    env: jinja2.Environment
    files: Mapping[str, str]
    service_names: tuple[str, ...] = ()
    remember: Remember = compute_now


Emitter = Callable[[EmitContext], dict[str, str]]


@attrs.frozen
class ServiceEmitter:
    """An emitter whose files for a service depend on that service alone.

    The pipeline calls `function` once per service, with a context that contains only
    that service and the files its earlier per-service emitters wrote, so that a
    build can reuse the files of services that did not change. An emitter that also
    reads `service_names` gives `key`, which returns a digest of what it reads there
    for one service; stored files count only under the same digest.
    """

    function: Emitter
    key: Callable[[tuple[str, ...], Service], str] | None = None

    @property
    def __name__(self) -> str:
        return self.function.__name__

    @property
    def stage(self) -> str:
        return f"emit:{self.function.__module__}.{self.function.__qualname__}"

    def __call__(self, context: EmitContext) -> dict[str, str]:
        files: dict[str, str] = {}
        names = context.service_names or tuple(s.name for s in context.services)
        for service in context.services:
            single = attrs.evolve(context, services=(service,), service_names=names)
            files.update(self.function(single))
        return files


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
        files[path] = render_dashboard(
            context.env, service, context.config.schema_version
        )
    return files


# Emitters run in this order; a later one may read what earlier ones wrote. The
# provisioning and Terraform emitters read the dashboard files, prometheus.yml lists
# the rule files, and the kubernetes and mimir emitters read each service's rule
# file, so they come after them.
EMITTERS: list[tuple[str, Emitter]] = [
    ("grafana", ServiceEmitter(emit_dashboards)),
    ("prometheus", ServiceEmitter(emit_rules)),
    ("prometheus", emit_prometheus),
    ("grafana", emit_provisioning),
    ("terraform", emit_terraform),
    ("kubernetes", ServiceEmitter(emit_prometheus_rules, key=object_name_key)),
    ("mimir", ServiceEmitter(emit_mimir_namespaces)),
    ("instrumentation", ServiceEmitter(emit_instrumentation)),
]


def render_artifacts(
    project: Project,
    services: tuple[Service, ...],
    config: Config | None = None,
    cache: BuildCache | None = None,
    progress: Progress | None = None,
    prefetched: Prefetched | None = None,
) -> FileMap:
    """Render every artifact of every service, keyed by its path inside `out/`.

    With a cache, the texts of reused files are read when first looked up, and the
    result's `tokens` give the provenance of every file rendered per service.
    `prefetched` contains per-service files that worker processes rendered already.
    """
    prefetched = prefetched or {}
    config = config or Config()
    compiled = None if cache is None else cache.compiled_templates()
    env = make_environment(project.templates_dir, compiled)
    files = FileMap()
    names = tuple(service.name for service in services)
    # The files each service's per-service emitters wrote, by service.
    own: dict[int, FileMap] = {id(service): FileMap() for service in services}
    # Every project template compiles first, so one that no service uses yet, or one
    # of a target that another target's failure stops, is reported too.
    problems: list[Diagnostic] = []
    undecodable = False
    if project.templates_dir.is_dir():
        for path in sorted(project.templates_dir.rglob("*.j2")):
            try:
                env.get_template(path.relative_to(project.templates_dir).as_posix())
            except (jinja2.TemplateSyntaxError, TemplateFileError) as exc:
                problems.append(template_error(exc))
            except UnicodeDecodeError as exc:
                undecodable = True
                problems.append(
                    error(
                        Location(display_name(path), 1, 1),
                        f"template is not valid UTF-8: {exc.reason} at byte "
                        f"{exc.start}",
                        "template/render",
                    )
                )
    for target, emitter in EMITTERS:
        if target not in config.targets:
            continue
        if not isinstance(emitter, ServiceEmitter):
            if progress is not None:
                progress(f"rendering {target}", 0, 0)
            remember = compute_now if cache is None else cache.remember
            context = EmitContext(
                project, config, services, env, files.copy(), names, remember
            )
            try:
                files.add(emitter(context))
            except Exception as exc:
                found = _render_problem(project, exc, undecodable)
                problems.extend([found] if found is not None else [])
            continue
        try:
            for done, service in enumerate(services, 1):
                earlier = own[id(service)].copy()
                context = EmitContext(project, config, (service,), env, earlier, names)
                render = functools.partial(emitter.function, context)
                if (emitter.stage, done - 1) in prefetched:
                    render = functools.partial(
                        dict, prefetched[(emitter.stage, done - 1)]
                    )
                token = None
                if cache is None:
                    produced = render()
                else:
                    extra = "" if emitter.key is None else emitter.key(names, service)
                    produced = cache.memo(emitter.stage, service, render, extra=extra)
                    token = cache.token(emitter.stage, service, extra)
                own[id(service)].add(produced, token)
                files.add(produced, token)
                if progress is not None:
                    progress(f"rendering {target}", done, len(services))
        except Exception as exc:
            found = _render_problem(project, exc, undecodable)
            problems.extend([found] if found is not None else [])
    if problems:
        raise TemplateProblems(problems)
    return files.sorted()


class TemplateProblems(Exception):
    """Templates that failed to compile or render, as errors at their lines."""

    def __init__(self, problems: list[Diagnostic]) -> None:
        super().__init__("; ".join(str(problem) for problem in problems))
        self.problems = problems


def _render_problem(
    project: Project, exc: Exception, undecodable: bool = False
) -> Diagnostic | None:
    """Return the error of a failed template, or raise `exc` for a fault of obscompile.

    With `undecodable`, a template that is not UTF-8 has been reported already, and a
    UnicodeDecodeError gives None.
    """
    if undecodable and isinstance(exc, UnicodeDecodeError):
        return None
    problem = (
        template_error(exc)
        if isinstance(exc, jinja2.TemplateError)
        else template_failure(project, exc)
    )
    if problem is None:
        raise exc
    return problem


_TEMPLATE_FRAME = re.compile(r'File "(?P<file>[^"]+\.j2)", line (?P<line>\d+)')


def template_error(exc: jinja2.TemplateError) -> Diagnostic:
    """Return the error for a template that failed to compile or render, at its line.

    A syntax error names its file and line, and is placed at the tag it is in (see
    `locate_syntax_error`). A template file that cannot be read is an error at its
    line 1, with the check of its `TemplateFileError`. For an error while rendering,
    the line is in the traceback, which Jinja rewrites to point into the template,
    or, from a worker process, in the text of the remote traceback.
    """
    file, line, column = None, 1, 1
    message = getattr(exc, "message", None) or str(exc)
    if isinstance(exc, jinja2.TemplateSyntaxError):
        place = locate_syntax_error(exc)
        file, line, column = syntax_error_file(exc), place.line, place.column
        message = place.message
    elif isinstance(exc, TemplateOutputError):
        file, line = exc.filename, exc.lineno or 1
    elif isinstance(exc, TemplateFileError):
        start = Location(display_name(Path(exc.filename)), 1, 1)
        return error(start, message, exc.check)
    else:
        found = _template_frames(exc)
        if found:
            file, line = found[-1]["file"], int(found[-1]["line"])
            column = _name_column(file, line, message)
        message = f"template failed to render: {message}"
    where = display_name(Path(file)) if file else "<templates>"
    return error(Location(where, line, column), message, "template/render")


# The messages of an undefined name (`'x' is undefined`) and of a missing attribute
# (`dict has no attribute 'x'`), and the patterns that find that name in a line.
_MISSING_NAMES = (
    (re.compile(r"'(?P<name>[^']+)' is undefined"), r"(?<![\w.'\"]){}(?![\w'\"])"),
    (re.compile(r"has no attribute '(?P<name>[^']+)'"), r"(?<=\.){}(?!\w)"),
)


_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")


def _name_column(file: str, line: int, message: str) -> int:
    """Return the column of the missing name that `message` quotes, on `line` of `file`.

    Returns 1 when the message names no missing name, or when the line does not
    show it, such as a name that a filter or a call looked up.
    """
    for quoted, written in _MISSING_NAMES:
        match = quoted.search(message)
        if match is None:
            continue
        try:
            lines = read_input_text(file, TEMPLATE).split("\n")
        except (InputFileError, UnicodeDecodeError):
            return 1
        if not 1 <= line <= len(lines):
            return 1
        text = lines[line - 1]
        name = re.compile(written.format(re.escape(match["name"])))
        # The name in a `{{ }}` or `{% %}` tag comes before the same word in plain
        # text. A line without a whole tag on it is searched as a whole.
        # NOTE: Jinja reports the first line of a tag that spans lines, so a name on
        # a later line of the tag gets column 1.
        spans = [(tag.start(), tag.end()) for tag in _TAG.finditer(text)]
        for start, end in [*spans, (0, len(text))]:
            position = name.search(text, start, end)
            if position is not None:
                return position.start() + 1
        return 1
    return 1


def template_failure(project: Project, exc: Exception) -> Diagnostic | None:
    """Return the error for an exception raised inside a project template, or None.

    A project's template is its own code, so an exception that it raises, such as a
    division by zero or a recursion without end, is an error at the template's line.
    The innermost frame in a project template names the line; from a worker process,
    the frames are in the text of the remote traceback. An exception without such a
    frame is a fault of obscompile, and None is returned.
    """
    root = project.templates_dir.resolve()
    for found in reversed(_template_frames(exc)):
        path = Path(found["file"])
        if path.resolve().is_relative_to(root):
            return error(
                Location(display_name(path), int(found["line"]), 1),
                f"template failed to render: {exception_text(exc)}",
                "template/render",
            )
    return None


def _template_frames(exc: BaseException) -> list[re.Match[str]]:
    """Return the template frames of an exception's traceback, outermost first.

    An exception from a worker process carries its frames in the text of its cause,
    the remote traceback.
    """
    text = str(exc.__cause__) if exc.__cause__ is not None else ""
    text += "".join(traceback.format_tb(exc.__traceback__))
    return list(_TEMPLATE_FRAME.finditer(text))


def _template_source(project: Project, name: str) -> dict[str, str]:
    """Return the text of the project template `name`, so a report can show its line."""
    path = Path(name)
    if not path.is_absolute():
        path = Path.cwd() / path
    try:
        path.relative_to(project.templates_dir.absolute())
        return {name: read_input_text(path, TEMPLATE)}
    except (ValueError, InputFileError, UnicodeDecodeError):
        return {}


def build(
    project: Project,
    cache: BuildCache | None = None,
    progress: Progress | None = None,
    local: LocalOverrides | None = None,
    jobs: int = 1,
) -> BuildResult:
    """Load, check and render a project; render nothing if any error was found.

    With a cache, unchanged manifests are not loaded again and their per-service
    checks and files are reused; the result is the same as without it.

    `local` rewrites the loaded services and configuration for a local run before
    the checks. It is skipped when loading failed, because nothing is rendered then.
    Raises UnknownScrapeJobError when `local` names a scrape job that no service
    declares. With `jobs` over 1, the per-service stages of many services run in
    that many worker processes (see `obscompile.parallel`).
    """
    started = time.perf_counter()
    config, config_diagnostics, config_sources = load_config(project.root)
    blocks_dir = project.root / "blocks"
    if cache is None:
        loaded = load_project(project.services_dir, blocks_dir, jobs, progress)
    else:
        loaded = cache.load_project(project.services_dir, blocks_dir, progress, jobs)
    diagnostics = [*config_diagnostics, *loaded.diagnostics]
    diagnostics.extend(
        warning(
            Location(display_name(path), 1, 1),
            f"{path.name} replaces no built-in template, because none has its path "
            f"under {display_name(project.templates_dir)}/; did you mean {near}?",
            "template/not-used",
        )
        for path, near in misplaced_templates(project.templates_dir)
    )
    services = loaded.services
    timeout_origin = scrape_timeout_origin(config)
    if local is not None and not has_errors(diagnostics):
        diagnostics.extend(local.kept_targets(services))
        timeout = config.scrape_timeout
        services, config = local.apply(services, config)
        if config.scrape_timeout != timeout:
            timeout_origin = (
                "the --scrape-interval of this local run, to which the global "
                "scrape_timeout is shortened"
            )
    diagnostics.extend(late_default_alerts(config, local.overridden() if local else ()))
    if progress is not None:
        progress("checking", 0, 0)
    diagnostics.extend(
        check_services(
            services,
            cache,
            loaded.sources,
            config.scrape_interval,
            jobs,
            progress,
            loaded.failed,
            (config.scrape_timeout, timeout_origin),
            # The PrometheusRule and Mimir targets require this one.
            alerting="prometheus" in config.targets,
        )
    )
    files: Mapping[str, str] = {}
    if not has_errors(diagnostics):
        try:
            try:
                prefetched = prefetch(project, services, config, cache, jobs, progress)
            except Exception as exc:
                _render_problem(project, exc, undecodable=True)
                # Computing the stages service by service stops at the first
                # failed template; rendering emitter by emitter reports every one.
                prefetched = {}
            files = render_artifacts(
                project, services, config, cache, progress, prefetched
            )
        except TemplateProblems as exc:
            problems = list(dict.fromkeys(exc.problems))
            diagnostics.extend(problems)
            template_sources = {}
            for problem in problems:
                template_sources.update(
                    _template_source(project, problem.location.file)
                )
            return BuildResult(
                services=services,
                files={},
                diagnostics=tuple(sorted_diagnostics(diagnostics)),
                sources={
                    **config_sources,
                    **loaded.sources,
                    **template_sources,
                },
                seconds=time.perf_counter() - started,
                unloaded=loaded.unloaded,
                targets=config.targets,
            )
        if progress is not None:
            progress("checking artifacts", 0, 0)
        position = {id(service): index for index, service in enumerate(services)}

        def computed(stage: str, service: Service, compute: Callable[[], T]) -> T:
            key = (stage, position.get(id(service), -1))
            if key in prefetched:
                compute = functools.partial(prefetched.__getitem__, key)
            return per_service(cache, stage, service, compute)

        def facts_of(service: Service, own: Mapping[str, str]) -> ArtifactFacts:
            compute = functools.partial(artifact_facts, service, own)
            return computed(FACTS, service, compute)

        def scraped_of(text: str) -> frozenset[str] | None:
            if cache is None:
                return scraped_jobs(text)
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            return cache.remember(
                "scraped-jobs", digest, functools.partial(scraped_jobs, text)
            )

        def compare_facts(
            facts: Sequence[ArtifactFacts], scraped: frozenset[str] | None
        ) -> list[Diagnostic]:
            if cache is None:
                return compare(facts, scraped)
            # Equal facts give equal findings, so the facts of cached services stay
            # pickled when the comparison is the last build's.
            digest = hashlib.sha256(
                repr(
                    (sorted(scraped or ()), scraped is None, [f.digest for f in facts])
                ).encode("utf-8")
            ).hexdigest()
            return cache.remember(
                "artifact-comparison",
                digest,
                functools.partial(compare, facts, scraped),
            )

        diagnostics.extend(
            check_artifacts(services, files, facts_of, scraped_of, compare_facts)
        )
        if "prometheus" in config.targets:
            # A rule that a hand-written test checks needs no generated test.
            by_hand = HandWritten.read(project.hand_written_tests_dir)
            for service in services:
                compute = functools.partial(service_rule_diagnostics, service, config)
                found = computed(RULE_DIAGNOSTICS, service, compute)
                rule_file = rules_path(service)
                untested = [d for d in found if not by_hand.tests(d, rule_file)]
                diagnostics.extend(merged_untested(untested))
        if has_errors(diagnostics):
            files = {}
    if files and local is not None and not local.is_empty:
        from obscompile.derive.local import LOCAL_RECORD

        files = {**files, LOCAL_RECORD: local.record_text()}
    return BuildResult(
        services=services,
        files=files,
        diagnostics=tuple(sorted_diagnostics(diagnostics)),
        sources={**config_sources, **loaded.sources},
        seconds=time.perf_counter() - started,
        unloaded=loaded.unloaded,
        targets=config.targets,
    )
