"""The `obscompile` command line. Only this module prints and chooses exit codes."""

from __future__ import annotations

import contextlib
import difflib
import faulthandler
import functools
import gc
import glob
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import attrs
import click

from obscompile import __version__
from obscompile.diagnostics import (
    Diagnostic,
    ObscompileError,
    Severity,
    Terminated,
    UsageError,
    error,
    warning,
)
from obscompile.load.input_file import (
    PROMTOOL_TEST,
    RULE_FILE,
    InputFileError,
    read_input_text,
)
from obscompile.model.location import Location
from obscompile.parallel import MIN_SERVICES, default_jobs
from obscompile.project import CACHE_DIR, Project, yaml_files
from obscompile.report import FORMATTERS, format_text
from obscompile.startup import EXIT_INTERRUPTED, raise_on_interrupt
from obscompile.write.atomic import (
    RECORD,
    WriteError,
    Written,
    folder_lock,
    lock_folder,
    new_file_mode,
    read_record,
    stale_files,
    write_tree,
)
from obscompile.write.foreign import Moved

# The compiler's stages are imported when a command needs them, so that a build
# whose inputs did not change replays the last one without loading them.
if TYPE_CHECKING:
    import subprocess

    from obscompile.cache import BuildCache, Replay
    from obscompile.load.yaml_source import Source
    from obscompile.pipeline import BuildResult

EXIT_OK = 0
EXIT_DIAGNOSTICS = 1
EXIT_USAGE = 2
# 128 + SIGTERM, the status that shells give a command that SIGTERM ended.
EXIT_TERMINATED = 143
# The check name of a hand-written test's rule_files entry that loads no rule.
RULE_FILES = "promtool/rule-files"
UNREAD_SERIES = "promtool/unread-series"

FORMAT_CHOICE = click.Choice(["text", "json", "github"])


class TargetType(click.ParamType):
    """A `--target JOB=HOST:PORT` value, converted to `(job, address)`."""

    name = "JOB=HOST:PORT"

    def convert(self, value, param, ctx):
        from obscompile.derive.local import parse_target

        if isinstance(value, tuple):
            return value
        try:
            return parse_target(value)
        except UsageError as exc:
            self.fail(str(exc), param, ctx)


class DurationType(click.ParamType):
    """A Prometheus duration longer than 0s, such as 1s or 1m30s."""

    name = "DURATION"

    def convert(self, value, param, ctx):
        from obscompile.derive.local import check_duration

        try:
            return check_duration(value, "duration")
        except UsageError as exc:
            self.fail(str(exc), param, ctx)


class Interrupted(Exception):
    """Ctrl-C, or a KeyboardInterrupt raised in user code, ended a command.

    The message names the state that the command left the output folder in.
    """


@contextlib.contextmanager
def _terminating_by_exception() -> Iterator[None]:
    """Raise `Terminated` on SIGTERM while the block runs, so that cleanup code runs.

    Python's default action for SIGTERM ends the process at once. A process that
    started with SIGTERM ignored keeps ignoring it.
    """

    def terminate(signum: int, frame: object) -> None:
        # A second SIGTERM would stop the cleanup halfway.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated()

    previous = signal.getsignal(signal.SIGTERM)
    if previous == signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Commands(click.Group):
    """The command group, which turns Ctrl-C into `Interrupted`.

    click itself prints a bare "Aborted!" and exits with status 1.
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise Interrupted("interrupted") from None


def _folder_identity(folder: Path) -> tuple[int, int] | None:
    """Return the device and inode of `folder`, or None when it is missing."""
    try:
        status = os.stat(folder)
    except OSError:
        return None
    return (status.st_dev, status.st_ino)


@contextlib.contextmanager
def _reporting_interrupt(project: Project) -> Iterator[None]:
    """Turn a KeyboardInterrupt into `Interrupted`, saying what became of the output.

    A write puts a new folder in place of the output folder in one atomic swap (see
    `write_tree`), so it is the old folder while its inode is the old one, and the
    whole new tree once it is not.
    """
    before = _folder_identity(project.out_dir)
    out = project.shown(project.out_dir)
    try:
        yield
    except KeyboardInterrupt:
        after = _folder_identity(project.out_dir)
        if after == before:
            note = f"{out} is unchanged" if after else f"{out} is not written"
        elif after is not None:
            note = f"{out} was replaced with the new build before the interrupt"
        else:
            # Only a file system without an atomic swap leaves a moment without out/.
            note = f"{out} is missing; run obscompile build again"
        raise Interrupted(f"interrupted; {note}") from None


def _use_color(stream) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def _print_diagnostics(result: BuildResult | Replay, output_format: str) -> None:
    diagnostics: list[Diagnostic] = list(result.diagnostics)
    if output_format == "text":
        text = format_text(diagnostics, result.sources, color=_use_color(sys.stderr))
        if text:
            click.echo(text, err=True, nl=False)
        return
    # Machine-readable reports are the requested output, so they go to stdout.
    click.echo(FORMATTERS[output_format](diagnostics, result.sources), nl=False)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _summary(result: BuildResult | Replay, option_warnings: int = 0) -> str:
    """Return the summary line; `option_warnings` counts warnings on the command line."""
    errors = sum(1 for d in result.diagnostics if d.severity is Severity.ERROR)
    warnings = len(result.diagnostics) - errors + option_warnings
    # A manifest that failed to load counts as one service, so that the count does not
    # drop when a manifest breaks.
    services = _count(len(result.services) + len(result.unloaded), "service")
    if result.unloaded:
        services += f" ({len(result.unloaded)} failed to load)"
    parts = [
        services,
        _count(result.dashboards, "dashboard"),
        _count(result.panels, "panel"),
    ]
    if errors or warnings:
        parts.append(_count(errors, "error") + ", " + _count(warnings, "warning"))
    return "obscompile: " + ", ".join(parts) + f" in {result.seconds:.2f}s"


def _warn_of_late_alerts(
    project: Project, alert_for: str | None, evaluation_interval: str | None
) -> int:
    """Warn when `--alert-for` is no multiple of the rules' evaluation interval.

    Prometheus checks `for:` only when it evaluates a rule, so such an alert fires
    later than the option sets (see `late_firing`). Without `--alert-for`,
    `--evaluation-interval` is checked against the default `for:` instead.
    Returns the number of warnings, 0 or 1.
    """
    from obscompile.derive.alerts import late_firing
    from obscompile.load.config import load_config

    if alert_for is None:
        return _warn_of_late_default(project, evaluation_interval)
    if evaluation_interval is None:
        config, problems, _ = load_config(project.root)
        if problems:
            return 0
        evaluation_interval = config.evaluation_interval
    fires = late_firing(alert_for, evaluation_interval)
    if fires is None:
        return 0
    click.echo(
        f"obscompile: warning: --alert-for {alert_for} is no multiple of the "
        f"evaluation interval {evaluation_interval}, so an alert fires "
        f"{fires.delay()} after its value turns red, as with --alert-for "
        f"{fires.rounded}; pass an --evaluation-interval that divides it",
        err=True,
    )
    return 1


def _warn_of_late_default(project: Project, evaluation_interval: str | None) -> int:
    """Warn when `--evaluation-interval` is no multiple of the default `for:`.

    The default is `alert_for` of obscompile.yaml, 5m unless the file sets it. A
    file that sets it gets the build's warning at that key instead of this one.
    Returns the number of warnings, 0 or 1.
    """
    from obscompile.derive.alerts import late_firing
    from obscompile.load.config import load_config

    if evaluation_interval is None:
        return 0
    config, problems, _ = load_config(project.root)
    if problems or "alert_for" in config.locations:
        return 0
    fires = late_firing(config.alert_for, evaluation_interval)
    if fires is None:
        return 0
    click.echo(
        f"obscompile: warning: the default for: {config.alert_for} is no multiple "
        f"of --evaluation-interval {evaluation_interval}, so an alert without a "
        f"for: of its own fires {fires.delay()} after its value turns red, as with "
        f"for: {fires.rounded}; pass an --evaluation-interval that divides "
        f"{config.alert_for}, or an --alert-for that is a multiple of "
        f"{evaluation_interval}",
        err=True,
    )
    return 1


def _write_failure(exc: OSError, project: Project) -> str:
    """Return the message of a failed write of the output folder."""
    if isinstance(exc, WriteError) or not exc.filename:
        return str(exc)
    path = Path(os.fsdecode(exc.filename))
    reason = exc.strerror or str(exc)
    cache = project.root / CACHE_DIR
    if path.absolute().is_relative_to(cache):
        return (
            f"cannot update {project.shown(path)}, the build cache's copy of "
            f"{project.shown(project.out_dir)}: {reason}; the cache may be deleted "
            f"at any time, so remove {project.shown(cache)} and build again"
        )
    return f"cannot write {project.shown(path)}: {reason}"


def _project(project_dir: Path, services: Path | None, out: Path | None) -> Project:
    """Return the project that the command line names, with absolute folders.

    Raises UsageError when a folder is relative and the working folder was deleted.
    """
    try:
        return Project.from_command_line(project_dir, services=services, out=out)
    except FileNotFoundError:
        raise UsageError(
            "the working folder was deleted, so the relative paths of the command "
            "line name nothing; change into an existing folder, or pass absolute "
            "paths"
        ) from None


def _exit_without_services(project: Project, output_format: str = "text") -> None:
    """Exit with a usage error when the services folder is missing.

    A command run outside the project folder reads no input, so it ends with exit
    code 2, as one given a `--services` folder that does not exist does.
    """
    problem = project.services_problem()
    if problem is not None:
        _exit_with_usage_error(
            problem, output_format, str(project.shown(project.services_dir))
        )


# The check name of a usage error in a machine-readable report.
USAGE_CHECK = "cli/usage"
# The file of a usage error that no file caused, such as an unknown option.
COMMAND_LINE = "<command line>"


def _exit_with_usage_error(
    message: str, output_format: str, file: str = COMMAND_LINE
) -> NoReturn:
    """Print a usage error and exit with code 2.

    A caller that requested a machine-readable format also gets the error in that
    format on stdout, as a diagnostic at line 1, column 1 of `file`.
    """
    click.echo(f"obscompile: error: {message}", err=True)
    if output_format in FORMATTERS:
        found = error(Location(file, 1, 1), message, USAGE_CHECK)
        click.echo(FORMATTERS[output_format]([found], {}), nl=False)
    sys.exit(EXIT_USAGE)


def _requested_format(arguments: list[str]) -> str:
    """Return the value of the last `--format` option in a command's arguments.

    The arguments are read before click parses them, so that a usage error that
    stops the parsing is still reported in the requested format.
    """
    requested = "text"
    for index, argument in enumerate(arguments):
        if argument == "--":
            break
        if argument == "--format" and index + 1 < len(arguments):
            requested = arguments[index + 1]
        elif argument.startswith("--format="):
            requested = argument.removeprefix("--format=")
    return requested if requested in FORMAT_CHOICE.choices else "text"


class _FormattedCommand(click.Command):
    """A command with `--format`, whose usage errors follow that format.

    click prints a usage error as text on stderr, so a caller that requested JSON
    would read no JSON on stdout.
    """

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        output_format = _requested_format(args)
        try:
            return super().make_context(info_name, list(args), parent, **extra)
        except click.UsageError as exc:
            if output_format == "text":
                raise
            _exit_with_usage_error(exc.format_message(), output_format)

    def invoke(self, ctx: click.Context) -> Any:
        output_format = ctx.params.get("output_format", "text")
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            if output_format == "text":
                raise
            _exit_with_usage_error(exc.format_message(), output_format)
        except ObscompileError as exc:
            if output_format == "text":
                raise
            _exit_with_usage_error(str(exc), output_format)


class ProgressDisplay:
    """A one-line progress report on a terminal, shown once a build runs over a second.

    It stays silent when stderr is not a terminal or the CI variable is set. A timer
    shows the current stage at the one-second mark, because a single long stage
    reports nothing while it runs.
    """

    DELAY = 1.0
    INTERVAL = 0.1

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.shown = 0.0
        self.width = 0
        self.line = ""
        self.lock = threading.Lock()
        self.enabled = sys.stderr.isatty() and not os.environ.get("CI")
        self.timer = threading.Timer(self.DELAY, self._show)
        self.timer.daemon = True
        if self.enabled:
            self.timer.start()

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.line = f"obscompile: {stage}" + (f" {done}/{total}" if total else "")
        now = time.perf_counter()
        if now - self.started >= self.DELAY and (
            now - self.shown >= self.INTERVAL or done == total
        ):
            self._show()

    def _show(self) -> None:
        with self.lock:
            if not self.enabled or not self.line:
                return
            self.shown = time.perf_counter()
            click.echo("\r" + self.line.ljust(self.width), err=True, nl=False)
            self.width = len(self.line)

    def clear(self) -> None:
        self.timer.cancel()
        with self.lock:
            self.enabled = False
            if self.width:
                click.echo("\r" + " " * self.width + "\r", err=True, nl=False)
                self.width = 0


project_option = click.option(
    "--project",
    "project_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Project folder that holds services/, templates/ and out/.",
)
services_option = click.option(
    "--services",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder of service manifests [default: PROJECT/services].",
)


def jobs_option(purpose: str) -> Callable[[Any], Any]:
    """Return the `--jobs` option of a command, with `purpose` as its help."""
    return click.option(
        "-j",
        "--jobs",
        type=click.IntRange(min=1),
        default=None,
        help=f"{purpose} [default: the number of processors that no other process "
        "is using].",
    )


format_option = click.option(
    "--format",
    "output_format",
    type=FORMAT_CHOICE,
    default="text",
    show_default=True,
    help="Diagnostics format: text on stderr, or json / github annotations on stdout.",
)


def _source_commit() -> str:
    """Return " (commit abc, modified)" when obscompile runs from a git checkout.

    An installed copy, or one that lies in some other repository, gives "". After 5 s
    in all, git is not run again, and what it has not returned by then is unknown.
    """
    package = Path(__file__).resolve().parent
    deadline = time.monotonic() + 5

    def git(*args: str) -> str | None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            done = subprocess.run(
                # Without optional locks, `git status` leaves the index as it is, so
                # it cannot hold index.lock while the user's own git command runs.
                ["git", "--no-optional-locks", "-C", str(package), *args],
                capture_output=True,
                text=True,
                timeout=remaining,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if not top or Path(top).resolve() / "compiler" / "obscompile" != package:
        return ""
    commit = git("rev-parse", "--short=12", "HEAD")
    if not commit:
        return ""
    # Edits to the compiler or its templates make the build differ from the commit.
    sources = (str(Path(top) / "compiler"), str(Path(top) / "templates"))
    changes = git("status", "--porcelain", "--untracked-files=no", "--", *sources)
    if changes is None:
        # Whether the checkout differs from the commit is unknown.
        return f" (commit {commit}, not known whether modified)"
    return f" (commit {commit}{', modified' if changes else ''})"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(f"obscompile, version {__version__}{_source_commit()}")
    ctx.exit()


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version, and the commit of a git checkout, and exit.",
)
def main() -> None:
    """Compile service manifests into dashboards, rules, scrape configs and tests."""


@main.command("build", cls=_FormattedCommand)
@project_option
@services_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder [default: PROJECT/out].",
)
@click.option(
    "--check",
    "check_only",
    is_flag=True,
    help="Write nothing; exit 1 listing every file that differs from a fresh build.",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Rebuild every service and leave PROJECT/.obscompile-cache untouched.",
)
@jobs_option(
    "Load, check and render services in up to this many processes, once "
    f"{MIN_SERVICES} or more services need it"
)
@click.option(
    "--target",
    "targets",
    type=TargetType(),
    multiple=True,
    help="Scrape job JOB at HOST:PORT in place of the manifest's targets. "
    "Repeat it for more jobs, or for more targets of one job.",
)
@click.option(
    "--scrape-interval",
    type=DurationType(),
    default=None,
    help="Scrape every job at this interval, such as 1s, and shorten every scrape "
    "timeout that is longer.",
)
@click.option(
    "--evaluation-interval",
    type=DurationType(),
    default=None,
    help="Evaluate the recording and alerting rules at this interval, such as 1s.",
)
@click.option(
    "--alert-for",
    type=DurationType(),
    default=None,
    help="Set the `for:` of every derived alert, such as 2s, over the service and "
    "panel settings.",
)
@format_option
def build_command(
    project_dir: Path,
    services: Path | None,
    out: Path | None,
    check_only: bool,
    no_cache: bool,
    jobs: int | None,
    targets: tuple[tuple[str, str], ...],
    scrape_interval: str | None,
    evaluation_interval: str | None,
    alert_for: str | None,
    output_format: str,
) -> None:
    """Check the manifests and write every artifact into the output folder.

    --target, --scrape-interval, --evaluation-interval and --alert-for build the
    artifacts for a local run, such as the end-to-end test, without editing a
    manifest. Job names, metrics paths, rule names and rule expressions stay the
    same. Such a build neither reads nor writes the build cache.
    """
    project = _project(project_dir, services, out)
    _exit_without_services(project, output_format)
    problem = project.output_problem()
    if problem is not None:
        option = "'--out'" if out is not None else "'--services'"
        raise click.BadParameter(problem, param_hint=option)
    # The output folder as the command line names it, for messages.
    shown_out = project.shown(project.out_dir)
    with (
        _reporting_interrupt(project),
        _build_locks(project, writes=not check_only),
    ):
        # The cache keys do not cover the local-run options, so such a build bypasses it.
        local_run = any((targets, scrape_interval, evaluation_interval, alert_for))
        cache = None if check_only or no_cache or local_run else _open_cache(project)
        replay = cache.replay() if cache is not None else None
        if cache is not None and replay is not None:
            moved = _restore_from_spare(project, cache)
            _print_diagnostics(replay, output_format)
            _report_moved(project, moved)
            click.echo(
                _summary(replay) + ", nothing changed since the last build", err=True
            )
            return

        from obscompile.derive.local import (
            LocalOverrides,
            UnknownScrapeJobError,
            group_targets,
        )
        from obscompile.pipeline import build

        local = LocalOverrides(
            targets=group_targets(targets),
            scrape_interval=scrape_interval,
            evaluation_interval=evaluation_interval,
            alert_for=alert_for,
        )
        progress = ProgressDisplay()
        try:
            result = build(
                project,
                cache,
                progress,
                local if local_run else None,
                jobs=jobs or default_jobs(),
            )
        except UnknownScrapeJobError as exc:
            raise click.BadParameter(str(exc), param_hint="'--target'") from None
        finally:
            progress.clear()
        option_warnings = _warn_of_late_alerts(project, alert_for, evaluation_interval)
        differing = (
            stale_files(project.out_dir, result.files)
            if check_only and result.ok
            else []
        )
        # The files that the last build wrote, which tell the user's files apart.
        recorded = frozenset(read_record(project.out_dir)) if differing else frozenset()
        again = "run obscompile build"
        written_by = (
            LocalOverrides.recorded_in(project.out_dir)
            if differing and not local_run
            else None
        )
        if written_by is not None and not written_by.is_empty:
            again = (
                f"a local run with {written_by.options_text()} wrote it, so add those "
                "options to compare it with that run, or run obscompile build without "
                "them to write the manifests' own targets"
            )
        if differing and output_format != "text":
            # A machine-readable report lists the stale files among the diagnostics.
            stale = tuple(
                error(
                    Location(str(shown_out / name), line, 1),
                    f"{reason}; {again}",
                    "out/stale",
                )
                for name in differing
                for reason, line in [
                    _staleness(project.out_dir, name, result, recorded)
                ]
            )
            result = attrs.evolve(result, diagnostics=(*result.diagnostics, *stale))
        # A machine-readable report of a build that writes waits for the write, so that
        # it can list a failed write too.
        report_later = output_format != "text" and result.ok and not check_only
        if not report_later:
            _print_diagnostics(result, output_format)
        if not result.ok:
            _save_cache(cache, result, written=False)
            unchanged_note = ""
            if differing:
                # Only a machine-readable report lists the stale files as errors.
                unchanged_note = f"; {_stale(shown_out, differing)}; {again}"
            elif not check_only:
                kept = (
                    "is left as it was"
                    if project.out_dir.exists()
                    else "is not written"
                )
                unchanged_note = f"; {shown_out} {kept}"
            click.echo(_summary(result, option_warnings) + unchanged_note, err=True)
            sys.exit(EXIT_DIAGNOSTICS)
        if check_only:
            for name in differing:
                reason, _ = _staleness(project.out_dir, name, result, recorded)
                click.echo(f"{shown_out / name}: {reason}", err=True)
            if differing:
                click.echo(
                    f"{_summary(result, option_warnings)}; "
                    f"{_stale(shown_out, differing)}; {again}",
                    err=True,
                )
                sys.exit(EXIT_DIAGNOSTICS)
            click.echo(
                f"{_summary(result, option_warnings)}; {shown_out} is up to date",
                err=True,
            )
            return
        tokens = getattr(result.files, "tokens", {})
        ledger = cache.ledger(tokens) if cache is not None else None
        try:
            written = write_tree(project.out_dir, result.files, ledger)
        except (WriteError, OSError) as exc:
            place = project.shown(getattr(exc, "path", None) or project.out_dir)
            failed = error(
                Location(str(place), 1, 1), _write_failure(exc, project), "out/write"
            )
            click.echo(
                format_text([failed], {}, _use_color(sys.stderr)), err=True, nl=False
            )
            if report_later:
                _print_diagnostics(
                    attrs.evolve(result, diagnostics=(*result.diagnostics, failed)),
                    output_format,
                )
            _save_cache(cache, result, written=False)
            counted = attrs.evolve(result, diagnostics=(*result.diagnostics, failed))
            click.echo(
                f"{_summary(counted, option_warnings)}; {shown_out} could not be written",
                err=True,
            )
            sys.exit(EXIT_DIAGNOSTICS)
        if report_later:
            _print_diagnostics(result, output_format)
        _report_moved(project, written.moved)
        _save_cache(cache, result, written=True, recorded=written.recorded)
        _report_removed(shown_out, written.removed, result.targets)
        _report_edited(project, shown_out, written.edited, written.edited_kept_in)
        removed_note = ""
        if written.removed:
            removed_note = f"; removed {_count(len(written.removed), 'file')}"
        click.echo(_summary(result, option_warnings) + removed_note, err=True)


@contextlib.contextmanager
def _build_locks(project: Project, writes: bool) -> Iterator[None]:
    """Hold the project folder's lock and, for a build that writes, the write's lock.

    One build of a project runs at a time, from reading its inputs to writing out/
    and the cache, so that a build of older inputs cannot finish last. The write
    locks the output folder's parent (see `lock_folder`), which may be another
    project's folder. Both locks are taken here, in the order of the folders' device
    and inode numbers, so two builds that write into each other's project folders
    cannot each hold one lock and wait for the other.
    """
    root = project.root.absolute()
    root.mkdir(parents=True, exist_ok=True)
    locks: list[tuple[tuple[int, int], Path, Callable[[], None]]] = []
    identity = _folder_identity(root)
    if identity is not None:
        locks.append((identity, root, lambda: _waiting(project)))
    if writes:
        parent = lock_folder(project.out_dir)
        with contextlib.suppress(OSError):
            # A parent that cannot be created fails the write, which reports it.
            parent.mkdir(parents=True, exist_ok=True)
        identity = _folder_identity(parent)
        if identity is not None and identity not in {lock[0] for lock in locks}:
            locks.append((identity, parent, lambda: _waiting_to_write(parent)))
    with _holding(locks, shared=False):
        yield


@contextlib.contextmanager
def _test_locks(project: Project) -> Iterator[None]:
    """Hold shared locks on the project folder and on the output folder's parent.

    A build holds both locks exclusively from reading its inputs until it has written
    out/ (see `_build_locks`). So while a test run holds them, out/ and the rule files
    that the hand-written tests name in the project's out/ come from one build. Test
    runs share the locks. A folder that does not exist is neither locked nor created.
    """
    root = project.root.absolute()
    parent = lock_folder(project.out_dir)
    locks: list[tuple[tuple[int, int], Path, Callable[[], None]]] = []
    for folder, waiting in (
        (root, f"a build of {root}"),
        (parent, f"a build that writes into {parent}"),
    ):
        identity = _folder_identity(folder)
        if identity is not None and identity not in {lock[0] for lock in locks}:
            locks.append((identity, folder, functools.partial(_waiting_for, waiting)))
    with _holding(locks, shared=True):
        yield


@contextlib.contextmanager
def _holding(
    locks: list[tuple[tuple[int, int], Path, Callable[[], None]]], shared: bool
) -> Iterator[None]:
    """Take the folders' locks in the order of their device and inode numbers."""
    with contextlib.ExitStack() as stack:
        for _, folder, waiting in sorted(locks, key=lambda lock: lock[0]):
            stack.enter_context(folder_lock(folder, waiting=waiting, shared=shared))
        yield


def _waiting_for(activity: str) -> None:
    click.echo(f"obscompile: waiting for {activity} to finish", err=True)


def _waiting(project: Project) -> None:
    _waiting_for(f"another build or test of {project.root.absolute()}")


def _waiting_to_write(folder: Path) -> None:
    _waiting_for(f"another build or test of an output folder in {folder}")


def _staleness(
    out: Path, name: str, result: BuildResult, recorded: Collection[str]
) -> tuple[str, int]:
    """Return how the output file `name` differs from what the build would write,
    and the line of the file that a report of it points at.

    `recorded` lists the files that the last build wrote into `out`.
    """
    path = out / name
    if path.is_symlink() and name not in result.files:
        return (
            "a symbolic link where obscompile writes a folder; replace it with a folder",
            1,
        )
    if name not in result.files and name != RECORD:
        return "a fresh build removes it", 1
    if path.is_symlink():
        return "a symbolic link; a fresh build writes a regular file in its place", 1
    if not path.exists():
        return "missing; a fresh build writes it", 1
    if name in result.files and name not in recorded and not path.is_dir():
        # A build rejects such a file rather than replace it (see `write_tree`).
        return (
            "a file that obscompile did not write, in the place of one that it "
            "writes; a build stops there, so move the file away or delete it",
            1,
        )
    if name not in result.files:
        # The record of the written files, which a build writes after the others.
        return "differs from a fresh build", 1
    try:
        found = path.read_bytes()
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return "differs from a fresh build", 1
    expected = result.files[name].encode("utf-8")
    if found == expected:
        expected_mode = new_file_mode()
        if mode != expected_mode:
            return (
                f"has mode {mode:04o}; a fresh build writes it with "
                f"{expected_mode:04o}",
                1,
            )
        return "differs from a fresh build", 1
    line = _first_differing_line(found, expected)
    return f"first differs from a fresh build at line {line}", line


def _first_differing_line(found: bytes, expected: bytes) -> int:
    """Return the number of the first line where `found` and `expected` differ.

    Where one text is the other with lines added at its end, that is the first added
    line, or the last line of `found` when `found` is the shorter text.
    """
    found_lines = found.split(b"\n")
    expected_lines = expected.split(b"\n")
    pairs = zip(found_lines, expected_lines, strict=False)
    for number, (line, expected_line) in enumerate(pairs, start=1):
        if line != expected_line:
            return number
    shorter = min(len(found_lines), len(expected_lines))
    return max(1, min(shorter + 1, len(found_lines)))


def _restore_from_spare(project: Project, cache: BuildCache) -> tuple[Moved, ...]:
    """Move the files that programs wrote into the cache's copy of the output folder.

    A build that replays the last one writes nothing, so it moves them itself, as
    a write does. A failure is a warning, because the next write moves them too.
    """
    try:
        return cache.restore_from_spare()
    except OSError as exc:
        click.echo(
            f"obscompile: warning: cannot move the files written into the build "
            f"cache's copy of {project.shown(project.out_dir)}: {exc}; the next "
            "build that changes a file moves them",
            err=True,
        )
        return ()


def _open_cache(project: Project) -> BuildCache | None:
    """Open the project's build cache, or warn and return None when it is unusable."""
    from obscompile.cache import BuildCache, folder_problem

    problem = folder_problem(project)
    if problem is None:
        cache = BuildCache(project)
        if not cache.read_only:
            return cache
        click.echo(
            f"obscompile: warning: {project.shown(cache.folder)} is read-only, so "
            "this build runs without the build cache",
            err=True,
        )
        return None
    click.echo(
        f"obscompile: warning: build cache not used: {problem}; the build runs without "
        "it and deletes nothing there; remove it to use the cache again",
        err=True,
    )
    return None


def _save_cache(
    cache: BuildCache | None,
    result: BuildResult,
    written: bool,
    recorded: Written | None = None,
) -> None:
    if cache is None:
        return
    try:
        changed = cache.save(result, written, recorded)
    except OSError as exc:
        # A file where the cache keeps a folder, or the reverse, fails every save.
        click.echo(
            f"obscompile: warning: build cache not saved: {exc}; if every build "
            f"says so, delete {cache.folder.absolute()}, which is always safe",
            err=True,
        )
        return
    if not changed:
        return
    root = cache.project.root.absolute()
    names = [
        path.absolute().relative_to(root).as_posix()
        if path.absolute().is_relative_to(root)
        else str(path)
        for path in changed
    ]
    listed = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
    output = cache.project.shown(cache.project.out_dir) if written else "the messages"
    click.echo(
        f"obscompile: warning: {listed} changed during the build, so {output} may "
        "not match the inputs; build again",
        err=True,
    )


# The maximum number of files that a build names one by one in each of its reports:
# files moved back into out/, replaced after a hand edit, or removed.
_FILES_SHOWN = 10


def _report_edited(
    project: Project, out: Path, edited: Sequence[str], kept_in: Path | None
) -> None:
    """Warn of the files that changed after the last build and that this one replaced.

    `kept_in` is the folder that contains the old tree of `out` until the next build.
    """
    for name in edited[:_FILES_SHOWN]:
        text = (
            f"{out / name} was changed after the last build wrote it, by hand or by "
            "a checkout, and this build replaced it"
        )
        if kept_in is not None:
            text += (
                f"; the changed file stays in {project.shown(kept_in / name)} until "
                "the next build"
            )
        text += "; make such changes in the manifest or a template"
        click.echo(f"obscompile: warning: {text}", err=True)
    if len(edited) > _FILES_SHOWN:
        more = len(edited) - _FILES_SHOWN
        click.echo(
            f"obscompile: warning: {_count(more, 'more changed file')} of {out} "
            "replaced",
            err=True,
        )


def _report_removed(
    out: Path, removed: Sequence[str], targets: Collection[str]
) -> None:
    """List the files of the last build that this one removed from `out`.

    They belong to services that are gone or renamed, or to targets that the
    configuration no longer builds, which the line names.
    """
    from obscompile.config import DEFAULT_TARGETS

    for name in removed[:_FILES_SHOWN]:
        # Each target writes the folder of its own name.
        target = name.partition("/")[0]
        reason = "this build no longer writes it"
        if target in DEFAULT_TARGETS and target not in targets:
            reason = f"target {target} is not in the targets of obscompile.yaml"
        click.echo(f"{out / name}: removed; {reason}", err=True)
    if len(removed) > _FILES_SHOWN:
        more = len(removed) - _FILES_SHOWN
        click.echo(
            f"obscompile: {_count(more, 'more file')} removed from {out}", err=True
        )


def _report_moved(project: Project, moved: Sequence[Moved]) -> None:
    """Warn of the files obscompile did not write that it found in an old output tree."""
    out = project.shown(project.out_dir)
    folders = tuple(m.name + "/" for m in moved if m.is_folder and m.target)
    reported = [m for m in moved if not m.name.startswith(folders)]
    for entry in reported[:_FILES_SHOWN]:
        old = project.shown(entry.old / entry.name)
        if entry.target is None:
            click.echo(
                f"obscompile: warning: {old} was written into a previous copy of "
                f"{out} and cannot be put into it ({entry.reason}); move it yourself",
                err=True,
            )
            continue
        if entry.after_swap:
            text = (
                f"{old} was written into the copy of {out} that an earlier build "
                "replaced"
            )
            done, place = "moved it", str(out)
        else:
            text = f"{out / entry.name} was written while the build replaced {out}"
            done, place = "kept it", f"the new {out}"
        if entry.target == entry.name:
            text += f"; {done} in {place}"
        else:
            text += (
                f", and {place} has another version of it; {done} as "
                f"{out / entry.target}"
            )
        click.echo(f"obscompile: warning: {text}", err=True)
    if len(reported) > _FILES_SHOWN:
        click.echo(
            f"obscompile: warning: {len(reported) - _FILES_SHOWN} more files written "
            f"into copies of {out} are now in {out}",
            err=True,
        )
    if any(entry.after_swap for entry in moved):
        click.echo(
            f"obscompile: note: a program whose working folder was inside {out} "
            f"during a build now works in the replaced copy; change into {out} again",
            err=True,
        )


@main.command("check", cls=_FormattedCommand)
@project_option
@services_option
@format_option
def check_command(project_dir: Path, services: Path | None, output_format: str) -> None:
    """Run every check on the manifests and write nothing."""
    from obscompile.pipeline import build

    project = _project(project_dir, services, None)
    _exit_without_services(project, output_format)
    result = build(project, jobs=default_jobs())
    _print_diagnostics(result, output_format)
    # On stderr in every format, as for `build`: stdout keeps JSON or annotations only.
    click.echo(_summary(result), err=True)
    sys.exit(EXIT_OK if result.ok else EXIT_DIAGNOSTICS)


@main.command("schema")
@click.option(
    "--config",
    "config_schema",
    is_flag=True,
    help="Print the schema of obscompile.yaml instead.",
)
def schema_command(config_schema: bool) -> None:
    """Print the JSON Schema of a service manifest, for editors."""
    if config_schema:
        from obscompile.load.config import CONFIG_SCHEMA

        click.echo(json.dumps(CONFIG_SCHEMA, indent=2))
        return
    from obscompile.load.schema import MANIFEST

    click.echo(json.dumps(MANIFEST, indent=2))


def run() -> None:
    """Run the CLI, turning unexpected library errors into a message and exit code.

    The process ends without the interpreter's teardown: after a build of a thousand
    services, freeing every object one by one takes longer than the build's own
    bookkeeping. Every file is closed by then, and standard output and error are
    flushed here.

    The collector's youngest generation is collected every 10,000 allocations
    instead of 700. With the default, a rebuild among a thousand services spent 30 to
    50 ms in hundreds of collections that found little to free.
    """
    gc.set_threshold(10_000, 10, 10)
    # A crash in native code ends the process without a Python error. This prints
    # the Python stack then, in forked workers too, for the advice to rerun a build
    # whose worker ended with --jobs 1.
    faulthandler.enable()
    terminated = False
    try:
        raise_on_interrupt()
        main(standalone_mode=True)
        code = EXIT_OK
    except ObscompileError as exc:
        click.echo(f"obscompile: error: {exc}", err=True)
        code = EXIT_USAGE
    except (Interrupted, KeyboardInterrupt) as exc:
        # A second Ctrl-C would end the report half-written.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        click.echo(f"obscompile: {str(exc) or 'interrupted'}", err=True)
        code = EXIT_INTERRUPTED
    except Terminated:
        click.echo("obscompile: terminated", err=True)
        terminated = True
        code = EXIT_TERMINATED
    except SystemExit as exc:
        code = _exit_code(exc.code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        code = code or EXIT_USAGE
    if terminated:
        # The parent process gets the status of a process that SIGTERM ended, as
        # with the default action.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
    os._exit(code)


def _exit_code(code: object) -> int:
    """Return the process exit code that `sys.exit(code)` would give."""
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code
    click.echo(str(code), err=True)
    return 1


PROMTOOL_INSTALL_HINT = (
    "promtool is not installed; install it with `apt-get install prometheus` "
    "(Debian and Ubuntu), or put promtool from a Prometheus release on PATH"
)


def _promtool(arguments: list[str]) -> subprocess.CompletedProcess:
    import subprocess

    # promtool writes paths as their bytes, which need not be UTF-8.
    return subprocess.run(
        ["promtool", *arguments],
        capture_output=True,
        text=True,
        errors="surrogateescape",
        check=False,
    )


def _read_test_file(path: Path) -> str:
    """Return the text of a hand-written test file without its byte order mark.

    Positions count from the first character after the mark, as in manifests. Raises
    InputFileError for a file that is not a regular file or is too large, and
    UnicodeDecodeError for one that is not UTF-8.
    """
    return read_input_text(path, PROMTOOL_TEST).removeprefix("\ufeff")


# The YAML errors about the keys of a mapping, which promtool's reader (yaml.v2)
# reports too.
_KEY_CHECKS = frozenset({"yaml/duplicate-key", "yaml/key"})


def _hand_written_test(path: Path, display: str) -> tuple[bool, list[Diagnostic]]:
    """Read a file of the hand-written tests folder.

    Return whether it is a test file, not a rule file for the tests to name, and an
    error for each `rule_files` entry that names no file. promtool only warns of such
    an entry, so a test whose rules are missing may pass without testing them. A test
    file with alert tests that loads no rule file at all gets an error too, and so
    do an alert test of an alert that no rule file it loads defines and a
    `group_eval_order` entry of a group that none defines.

    Before those checks, a value that promtool 2.42 cannot read is an error at its
    position (see `check_test_file`), and so is a file that is empty, is not UTF-8
    text or is not valid YAML. promtool would report these without a position.
    After them, a test evaluated after every input series has ended is reported
    (see `check_eval_times`). The later checks skip the values that the earlier
    ones reject, so one run reports every problem of the file.
    """
    from obscompile.load.promtool_eval_time import check_eval_times, read_rules
    from obscompile.load.promtool_test_file import check_test_file
    from obscompile.load.yaml_source import read_yaml_file

    # A named pipe or a device is an error too: promtool 2.42 waits forever on a
    # named pipe, and reads /dev/zero until memory runs out.
    source, found = read_yaml_file(path, display, PROMTOOL_TEST)
    errors = [d for d in found if d.severity is Severity.ERROR]
    if source is None:
        return True, errors
    data = source.data
    if isinstance(data, dict) and "groups" in data and "tests" not in data:
        return False, []
    # yaml.v2 rejects a repeated key and a key that is a list or a mapping too, but
    # reads the tags and merge keys that the other errors are about.
    shape = [d for d in errors if d.check in _KEY_CHECKS]
    shape += check_test_file(source)
    if not isinstance(data, dict):
        return True, shape  # check_test_file rejects every other document
    entries = data.get("rule_files")
    problems: list[Diagnostic] = []
    named = 0
    for index, entry in enumerate(entries if isinstance(entries, list) else ()):
        where = source.location(("rule_files", index))
        if not isinstance(entry, str) or not entry:
            problems.append(
                error(where, "a rule_files entry must name a file", RULE_FILES)
            )
            continue
        pattern = os.path.join(path.parent, entry)
        if not glob.glob(pattern):
            problems.append(
                error(
                    where,
                    f"rule file {entry} matches no file (looked for "
                    f"{os.path.join(Path(display).parent, entry)}); its "
                    "rules would not be tested. Name a rule file relative to this "
                    "test file. A generated rule file is written by obscompile build "
                    "and removed when its service is deleted or renamed, so then name "
                    "the new file or delete this test",
                    RULE_FILES,
                )
            )
        named += 1
    # Without every rule file, a series that a missing one records looks unwritten.
    rules_known = not problems
    if named and rules_known and isinstance(entries, list):
        problems.extend(_unknown_alerts(source, path, entries))
    if not named and not problems and _has_alert_tests(data):
        problems.append(
            error(
                source.location(("rule_files",)),
                "this test file loads no rule file, so its alert_rule_test cases test "
                "no rule and pass whatever the rules say; name the rule files under "
                "rule_files",
                RULE_FILES,
            )
        )
    if rules_known:
        rules = read_rules(path, entries if isinstance(entries, list) else [])
        problems.extend(check_eval_times(source, rules))
    return True, shape + problems


def _unknown_alerts(source: Source, path: Path, entries: list[str]) -> list[Diagnostic]:
    """Return an error for each test case that checks no rule of the rule files.

    promtool passes a test that expects no alert of a rule that does not exist, so a
    misspelt alertname would test nothing. In the same way, an expression test that
    expects no samples passes when it selects a series that neither the rule files
    record nor the input series give. A `group_eval_order` entry that names no rule
    group is an error too (see `_unknown_groups`), and an input series that nothing
    reads is a warning (see `_unread_input_series`). Rule files that cannot be read
    leave the names unknown, and then no test is reported; promtool reports such
    files.
    """
    from obscompile.load.files import display_name
    from obscompile.load.yaml_source import parse_yaml

    alerts: set[str] = set()
    records: set[str] = set()
    groups: set[str] = set()
    reads: set[str] | None = set()
    for entry in entries:
        for rule_file in glob.glob(os.path.join(path.parent, entry)):
            try:
                text = read_input_text(rule_file, RULE_FILE)
            except InputFileError as exc:
                return [exc.diagnostic(display_name(Path(rule_file)))]
            except UnicodeDecodeError:
                return []
            rules, _ = parse_yaml(text, rule_file)
            names = _rule_names(rules.data if rules is not None else None)
            if names is None:
                return []
            alerts |= names[0]
            records |= names[1]
            groups |= names[2]
            reads = None if reads is None or names[3] is None else reads | names[3]
    problems = _unknown_groups(source, groups)
    tests = source.data.get("tests")
    for index, test in enumerate(tests if isinstance(tests, list) else ()):
        if not isinstance(test, dict):
            continue
        cases = test.get("alert_rule_test")
        for number, case in enumerate(cases if isinstance(cases, list) else ()):
            name = case.get("alertname") if isinstance(case, dict) else None
            if isinstance(name, str):
                case_path = ("tests", index, "alert_rule_test", number)
                problems.extend(_overwritten_alertnames(source, case_path, case, name))
            if not isinstance(name, str) or name in alerts:
                continue
            hint = _did_you_mean(name, alerts)
            problems.append(
                error(
                    source.location(
                        ("tests", index, "alert_rule_test", number, "alertname")
                    ),
                    f'alert "{name}" is defined in no rule file that this test loads, '
                    "so the test checks no rule and passes when it expects no alert"
                    f"{hint}",
                    RULE_FILES,
                )
            )
        problems.extend(_empty_expression_tests(source, index, test, records))
        if reads is not None:
            problems.extend(_unread_input_series(source, index, test, reads))
    return problems


def _overwritten_alertnames(
    source: Source, path: tuple[str | int, ...], case: dict[str, Any], name: str
) -> list[Diagnostic]:
    """Return an error for each expected alert whose exp_labels set another alertname.

    `case` is the alert_rule_test at `path`, which tests the alert `name`. promtool
    2.42 sets the `alertname` label of each expected alert to that name, so a
    different one there is never compared and the test passes.
    """
    expected = case.get("exp_alerts")
    problems = []
    for position, alert in enumerate(expected if isinstance(expected, list) else ()):
        labels = alert.get("exp_labels") if isinstance(alert, dict) else None
        written = labels.get("alertname") if isinstance(labels, dict) else None
        if written is None or str(written) == name:
            continue
        problems.append(
            error(
                source.location(
                    (*path, "exp_alerts", position, "exp_labels", "alertname")
                ),
                f'exp_labels sets alertname "{written}", which promtool replaces with '
                f'the alertname of the test, "{name}", so the label is never '
                f'compared; remove it, or test alert "{written}" in an '
                "alert_rule_test of its own",
                RULE_FILES,
            )
        )
    return problems


def _unknown_groups(source: Source, groups: set[str]) -> list[Diagnostic]:
    """Return an error for each `group_eval_order` entry that names no rule group.

    promtool 2.42 ignores such a name and sorts every group that the list leaves
    out with its first group, in no fixed order. So a misspelt group can make the
    alerts read a recorded series before or after its rule evaluates, and the test
    then passes or fails from run to run.
    """
    order = source.data.get("group_eval_order")
    problems = []
    for index, name in enumerate(order if isinstance(order, list) else ()):
        if not isinstance(name, str) or name in groups:
            continue
        hint = _did_you_mean(name, groups)
        problems.append(
            error(
                source.location(("group_eval_order", index)),
                f'rule group "{name}" in group_eval_order is defined in no rule file '
                "that this test loads, so promtool ignores it, and the groups that "
                f"the list leaves out may run before or after its first group{hint}",
                RULE_FILES,
            )
        )
    return problems


# Series that Prometheus writes for the alerting rules of a test's rule files.
_ALERT_SERIES = frozenset({"ALERTS", "ALERTS_FOR_STATE"})


def _empty_expression_tests(
    source: Source, index: int, test: dict[str, Any], records: set[str]
) -> list[Diagnostic]:
    """Return an error for each expression test that can only pass.

    Such a test selects a series that the rule files do not record and no input
    series gives, so it passes whatever the rules compute.
    """
    from obscompile import promql

    inputs: set[str] = set()
    input_series = test.get("input_series")
    if input_series is not None and not isinstance(input_series, list):
        return []  # Its input series are unknown, and an error of their own.
    for series in input_series or ():
        text = series.get("series") if isinstance(series, dict) else None
        name = _series_name(text) if isinstance(text, str) else None
        if name is None:
            return []  # A series without a known name may be any of them.
        inputs.add(name)
    known = records | inputs | _ALERT_SERIES
    problems = []
    cases = test.get("promql_expr_test")
    for number, case in enumerate(cases if isinstance(cases, list) else ()):
        if not isinstance(case, dict) or case.get("exp_samples"):
            continue
        expr = case.get("expr")
        if not isinstance(expr, str):
            continue  # promtool reports a test without an expression.
        try:
            names = promql.metric_names(promql.parse(expr))
        except promql.QueryError:
            continue  # promtool reports an expression it cannot read.
        for name in names:
            if name in known:
                continue
            hint = _did_you_mean(name, records | inputs)
            path = ("tests", index, "promql_expr_test", number, "expr")
            problems.append(
                error(
                    _name_location(source, path, expr, name),
                    f'series "{name}" is recorded by no rule file that this test loads '
                    "and is in no input series, so the expression selects nothing and "
                    f"the test, which expects no samples, passes whatever the rules "
                    f"compute{hint}",
                    RULE_FILES,
                )
            )
    return problems


def _unread_input_series(
    source: Source, index: int, test: dict[str, Any], reads: set[str]
) -> list[Diagnostic]:
    """Return a warning for each input series that no rule and no expression reads.

    `reads` contains the metric names that the rules of the test's rule files select.
    Such a series is most often a misspelt metric name. The rules then read no
    sample, so a test that expects no alert or no samples passes whatever the rules
    compute. An expression that selects series without a fixed name may read any
    series, and then no series is reported.
    """
    from obscompile import promql

    read = set(reads)
    cases = test.get("promql_expr_test")
    for case in cases if isinstance(cases, list) else ():
        expr = case.get("expr") if isinstance(case, dict) else None
        if not isinstance(expr, str):
            continue
        try:
            selectors = promql.selectors(promql.parse(expr))
        except promql.QueryError:
            return []  # promtool reports an expression it cannot read.
        for selector in selectors:
            name = promql.metric_name(selector)
            if name is None:
                return []
            read.add(name)
    problems = []
    input_series = test.get("input_series")
    for number, series in enumerate(
        input_series if isinstance(input_series, list) else ()
    ):
        text = series.get("series") if isinstance(series, dict) else None
        if not isinstance(text, str):
            continue
        name = _series_name(text)
        if name is None or name in read:
            continue
        hint = _did_you_mean(name, read)
        path = ("tests", index, "input_series", number, "series")
        problems.append(
            warning(
                _name_location(source, path, text, name),
                f'input series "{name}" is read by no rule of the rule files that this '
                "test loads and by no expression of its test group, so its samples "
                f"change no result{hint}",
                UNREAD_SERIES,
            )
        )
    return problems


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return `; did you mean "x"?` for the closest of `candidates`, or nothing."""
    close = difflib.get_close_matches(name, sorted(candidates), n=1)
    return f'; did you mean "{close[0]}"?' if close else ""


def _name_location(
    source: Source, path: tuple[str | int, ...], text: str, name: str
) -> Location:
    """Return where the metric `name` is written in `text`, the value at `path`."""
    from obscompile.check.positions import text_location

    where = source.location(path)
    written = re.search(rf"(?<![\w:]){re.escape(name)}(?![\w:])", text)
    offset = written.start() if written else None
    return text_location(where, text, offset, {where.file: source.text})


def _series_name(text: str) -> str | None:
    """Return the metric name of an input series, which promtool writes as a selector."""
    import promql_parser as pp

    from obscompile import promql
    from obscompile.check.catalog import selector_name

    try:
        node = promql.parse(text)
    except promql.QueryError:
        return None
    return selector_name(node) if isinstance(node, pp.VectorSelector) else None


def _rule_names(
    data: object,
) -> tuple[set[str], set[str], set[str], set[str] | None] | None:
    """Return the alert, record and group names of a rule file's data.

    The fourth item contains the metric names that the rules' expressions select. It
    is None where an expression cannot be read or selects series without a fixed
    name, because the rules may then read any series. Return None for data that is
    not a rule file.
    """
    if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
        return None
    alerts, records, groups = set(), set(), set()
    reads: set[str] | None = set()
    for group in data["groups"]:
        if isinstance(group, dict) and isinstance(group.get("name"), str):
            groups.add(group["name"])
        rules = group.get("rules") if isinstance(group, dict) else None
        for rule in rules if isinstance(rules, list) else ():
            if not isinstance(rule, dict):
                continue
            if isinstance(rule.get("alert"), str):
                alerts.add(rule["alert"])
            if isinstance(rule.get("record"), str):
                records.add(rule["record"])
            if reads is not None:
                reads = _selected_names(rule.get("expr"), reads)
    return alerts, records, groups, reads


def _selected_names(expr: object, names: set[str]) -> set[str] | None:
    """Return `names` with the metric names that `expr` selects.

    Return None where `expr` is no PromQL text or selects series without a fixed name.
    """
    from obscompile import promql

    if not isinstance(expr, str):
        return None
    try:
        selectors = promql.selectors(promql.parse(expr))
    except promql.QueryError:
        return None
    for selector in selectors:
        name = promql.metric_name(selector)
        if name is None:
            return None
        names.add(name)
    return names


def _has_alert_tests(data: dict) -> bool:
    tests = data.get("tests")
    return isinstance(tests, list) and any(
        isinstance(test, dict) and test.get("alert_rule_test") for test in tests
    )


@main.command("test")
@project_option
@services_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder that `obscompile build` wrote [default: PROJECT/out].",
)
@jobs_option("Run up to this many promtool processes at once")
def test_command(
    project_dir: Path, services: Path | None, out: Path | None, jobs: int | None
) -> None:
    """Check the generated Prometheus files and run every promtool unit test.

    Runs `promtool check config` on out/prometheus/prometheus.yml, `promtool check rules`
    on out/prometheus/rules/, and `promtool test rules` on out/prometheus/tests/ and on
    the hand-written tests in tests/promtool/. Each generated test group runs with only
    the rules that could change its result, in several promtool processes at once.
    Warns when out/ is not what a build of the manifests writes. Waits for a build
    of the project, or one that writes the output folder, to finish first.
    """
    if shutil.which("promtool") is None:
        click.echo(f"obscompile: error: {PROMTOOL_INSTALL_HINT}", err=True)
        sys.exit(EXIT_USAGE)
    project = _project(project_dir, services, out)
    with _test_locks(project):
        _test(project, out, jobs)


def _test(project: Project, out: Path | None, jobs: int | None) -> None:
    """Run the checks and tests of `obscompile test`.

    Exits with 1 when a check or a test fails, and with 2 when out/ is missing.
    """
    prometheus = project.out_dir / "prometheus"
    config_file = prometheus / "prometheus.yml"
    if not config_file.is_file():
        from obscompile.load.config import load_config

        config, problems, _ = load_config(project.root)
        advice = "run obscompile build first"
        # Without a services folder, obscompile runs outside the project folder, so
        # the output is elsewhere and a build here would fail too.
        missing_services = project.services_problem()
        if missing_services is not None:
            advice = missing_services
        elif not problems and "prometheus" not in config.targets:
            advice = (
                "the targets of obscompile.yaml leave out prometheus, so no build "
                "writes it; add prometheus to targets to test the rules"
            )
        click.echo(
            f"obscompile: error: {project.shown(config_file)} not found; {advice}",
            err=True,
        )
        sys.exit(EXIT_USAGE)
    stale = _compare_out(project)
    rule_files = sorted(str(p) for p in (prometheus / "rules").glob("*.yml"))
    generated = sorted(str(p) for p in (prometheus / "tests").glob("*.yml"))
    hand_written = project.hand_written_tests_dir
    written_by_hand = []
    missing: list[Diagnostic] = []
    sources: dict[str, str] = {}
    for path in yaml_files(hand_written):
        display = str(project.shown(path))
        is_test, problems = _hand_written_test(path, display)
        if is_test:
            written_by_hand.append(str(path))
        if problems:
            missing.extend(problems)
            with contextlib.suppress(InputFileError, UnicodeDecodeError):
                sources[display] = _read_test_file(path)
    if missing:
        text = format_text(missing, sources, color=_use_color(sys.stderr))
        click.echo(text, err=True, nl=False)
        errors = sum(problem.severity is Severity.ERROR for problem in missing)
        if errors:
            click.echo(
                f"obscompile: {_count(errors, 'error')} in the hand-written "
                "tests; no test was run",
                err=True,
            )
            sys.exit(EXIT_DIAGNOSTICS)
    if written_by_hand and out is not None:
        click.echo(
            f"obscompile: note: the tests in {project.shown(hand_written)} read the "
            "rule files that "
            "their rule_files name, whatever --out says",
            err=True,
        )
    test_files = generated + written_by_hand
    steps = [["check", "config", str(config_file)]]
    if rule_files:
        steps.append(["check", "rules", *rule_files])
    for arguments in steps:
        result = _promtool(arguments)
        if result.returncode != 0:
            click.echo(project.shown_in(result.stdout), nl=False)
            click.echo(project.shown_in(result.stderr), err=True, nl=False)
            click.echo(
                f"obscompile: promtool {' '.join(arguments[:2])} failed", err=True
            )
            sys.exit(EXIT_DIAGNOSTICS)
    if test_files:
        _run_unit_tests(project, generated, written_by_hand, jobs or default_jobs())
    by_hand = f"{len(written_by_hand)} hand-written"
    if not written_by_hand:
        by_hand += f" (none in {project.shown(hand_written)})"
    click.echo(
        f"obscompile: promtool passed: 1 config, {_count(len(rule_files), 'rule file')}, "
        f"{_count(len(test_files), 'test file')}: {len(generated)} generated, "
        f"{by_hand}{stale}",
        err=True,
    )


def _run_unit_tests(
    project: Project, generated: list[str], hand_written: list[str], jobs: int
) -> None:
    """Run `promtool test rules` on the test files; exit with 1 when a test fails."""
    import tempfile

    from obscompile import promtool_run

    with (
        _terminating_by_exception(),
        tempfile.TemporaryDirectory(prefix="obscompile-test-") as folder,
    ):
        units = promtool_run.plan_units(
            [Path(path) for path in generated],
            [Path(path) for path in hand_written],
            Path(folder),
        )
        outcomes = promtool_run.run_units(units, jobs)
    report = promtool_run.failure_report(outcomes)
    if report:
        click.echo(project.shown_in(report), nl=False)
        click.echo("obscompile: promtool test rules failed", err=True)
        sys.exit(EXIT_DIAGNOSTICS)


def _print_untested(result: BuildResult | Replay) -> None:
    for diagnostic in result.diagnostics:
        if diagnostic.check == "rules/untested":
            click.echo(str(diagnostic), err=True)


def _compare_out(project: Project) -> str:
    """Build the manifests in memory and report how the output folder differs.

    Prints the rules without a generated test, and a warning when the output folder
    is not what a build would write, because the tests run on the folder as it is.
    Returns a note for the summary line, empty when the folder is up to date.
    """
    from obscompile.derive.local import LocalOverrides
    from obscompile.pipeline import build

    missing = project.services_problem()
    if missing is not None:
        click.echo(
            f"obscompile: warning: {missing}; {project.shown(project.out_dir)} was "
            "not compared with the manifests",
            err=True,
        )
        return ""
    local = LocalOverrides.recorded_in(project.out_dir)
    if local is None:
        cache = _open_cache(project)
        replay = cache.replay() if cache is not None else None
        if replay is not None:
            _print_untested(replay)
            return ""
        found = build(project, cache, jobs=default_jobs())
    else:
        # A local run's build takes no cache, as `obscompile build` does.
        found = build(project, None, local=local, jobs=default_jobs())
    _print_untested(found)
    out = project.shown(project.out_dir)
    if not found.ok:
        click.echo(
            f"obscompile: warning: the manifests have errors (obscompile check lists "
            f"them), so {out} was not compared with them",
            err=True,
        )
        return ""
    differing = stale_files(project.out_dir, found.files)
    if not differing:
        return ""
    built = "a build of the manifests"
    again = "run obscompile build first"
    if local is not None:
        built += " with the local-run options it was written with"
        again += " with those options"
    click.echo(
        f"obscompile: warning: {_stale(out, differing)} from {built}, and the tests "
        f"run on it as it is; {again}",
        err=True,
    )
    return f", on a stale {out}"


def _stale(out: Path, differing: list[str]) -> str:
    """Return that `out` is stale and how many of its files differ."""
    verb = "differs" if len(differing) == 1 else "differ"
    return f"{out} is stale: {_count(len(differing), 'file')} {verb}"
