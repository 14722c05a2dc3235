"""Rewrite a loaded project for a local run: scrape targets, intervals and `for:`.

`obscompile build --target`, `--scrape-interval`, `--evaluation-interval` and
`--alert-for` call `apply_local_overrides` between loading and checking, so that the
checks and every emitter see the rewritten services and configuration. The manifests
and `obscompile.yaml` stay as they are. Job names, metrics paths, metric catalogs,
panel queries and therefore rule names and expressions do not change.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import attrs

from obscompile.check.scrape_job import target_problem
from obscompile.config import Config
from obscompile.diagnostics import Diagnostic, UsageError, warning
from obscompile.load.durations import DURATION_PATTERN, TOO_LONG, duration_ms, too_long
from obscompile.load.input_file import OUTPUT_RECORD, InputFileError, read_input_text
from obscompile.load.validate import suggest
from obscompile.model.scrape import ScrapeJob
from obscompile.model.service import Service

_DURATION = re.compile(DURATION_PATTERN)

# The file of the output folder that records a local run's options, so that
# `obscompile test` compares the folder with a build of the same options.
LOCAL_RECORD = ".obscompile-local.json"


class UnknownScrapeJobError(UsageError):
    """A target override names a scrape job that no service declares."""


@attrs.frozen
class LocalOverrides:
    """The build options of a local run. A field left None keeps the project's value.

    `targets` maps a scrape job name to the targets that replace the job's own.
    """

    targets: tuple[tuple[str, tuple[str, ...]], ...] = ()
    scrape_interval: str | None = None
    evaluation_interval: str | None = None
    alert_for: str | None = None

    @property
    def is_empty(self) -> bool:
        return self == LocalOverrides()

    def overridden(self) -> frozenset[str]:
        """Return the keys of obscompile.yaml whose values the options replace."""
        settings = {
            "scrape_interval": self.scrape_interval,
            "evaluation_interval": self.evaluation_interval,
            "alert_for": self.alert_for,
        }
        return frozenset(key for key, value in settings.items() if value is not None)

    def options_text(self) -> str:
        """Return the command-line options that give these overrides."""
        options = [
            f"--target {shlex.quote(f'{job}={address}')}"
            for job, addresses in self.targets
            for address in addresses
        ]
        for option, value in (
            ("--scrape-interval", self.scrape_interval),
            ("--evaluation-interval", self.evaluation_interval),
            ("--alert-for", self.alert_for),
        ):
            if value is not None:
                options.append(f"{option} {shlex.quote(value)}")
        return " ".join(options)

    def record_text(self) -> str:
        """Return the options as the output folder's record of a local run."""
        data = {
            "targets": {job: list(addresses) for job, addresses in self.targets},
            "scrape_interval": self.scrape_interval,
            "evaluation_interval": self.evaluation_interval,
            "alert_for": self.alert_for,
        }
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def recorded_in(cls, out: Path) -> LocalOverrides | None:
        """Return the options of the local run that wrote `out`, if one did."""
        try:
            data = json.loads(read_input_text(out / LOCAL_RECORD, OUTPUT_RECORD))
            return cls(
                targets=tuple(
                    (str(job), tuple(str(a) for a in addresses))
                    for job, addresses in data["targets"].items()
                ),
                scrape_interval=data["scrape_interval"],
                evaluation_interval=data["evaluation_interval"],
                alert_for=data["alert_for"],
            )
        except (InputFileError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def kept_targets(self, services: tuple[Service, ...]) -> list[Diagnostic]:
        """Warn about each scrape job that keeps its manifest targets in a local run.

        With `--target`, a job that no option names would still be scraped at the
        addresses in its manifest, which are rarely reachable, or meant to be
        scraped, from a local Prometheus.
        """
        if not self.targets:
            return []
        named = dict(self.targets)
        found = []
        for service in services:
            for job in service.scrape_jobs:
                if job.job in named or not job.targets:
                    continue
                if job.probe is not None:
                    found.append(
                        warning(
                            job.locations.get("probe.exporter", job.location),
                            f'probe job "{job.job}" keeps its exporter '
                            f"{job.probe.exporter} in this local run; add --target "
                            f"{job.job}=HOST:PORT to probe through a local exporter",
                            "local/kept-target",
                        )
                    )
                    continue
                found.append(
                    warning(
                        job.locations.get("job", job.location),
                        f'scrape job "{job.job}" keeps its manifest targets '
                        f"({', '.join(job.targets)}) in this local run; add --target "
                        f"{job.job}=HOST:PORT to scrape it locally",
                        "local/kept-target",
                    )
                )
        return found

    def apply(
        self, services: tuple[Service, ...], config: Config
    ) -> tuple[tuple[Service, ...], Config]:
        return apply_local_overrides(
            services,
            config,
            dict(self.targets),
            self.scrape_interval,
            self.evaluation_interval,
            self.alert_for,
        )


def parse_target(text: str) -> tuple[str, str]:
    """Split a `JOB=HOST:PORT` option value into job and address.

    Raises UsageError when a part is missing or the address is not a valid target.
    """
    job, separator, address = text.partition("=")
    if not separator or not job or not address:
        raise UsageError(
            f'"{text}" is not JOB=HOST:PORT, such as auth_server=127.0.0.1:4000'
        )
    problem = target_problem(address)
    if problem is not None:
        # The scheme and path stay those of the job's manifest, which a local run
        # cannot change.
        problem = problem.replace(
            "set scheme: and path: separately",
            "a local run keeps the scheme and metrics path of the job's manifest",
        )
        raise UsageError(problem)
    _, colon, port = address.rpartition(":")
    if not colon or not port or "]" in port:
        # A manifest's target may leave the port to the scheme; an override may not.
        raise UsageError(
            f'"{text}" has no port: write JOB=HOST:PORT, such as auth_server=127.0.0.1:4000'
        )
    return job, address


def group_targets(
    pairs: Iterable[tuple[str, str]],
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Collect `(job, address)` pairs into each job's targets, in the order given.

    A job named several times gets every address once, so `--target` can give a job
    more than one target.
    """
    grouped: dict[str, list[str]] = {}
    for job, address in pairs:
        addresses = grouped.setdefault(job, [])
        if address not in addresses:
            addresses.append(address)
    return tuple((job, tuple(addresses)) for job, addresses in grouped.items())


def check_duration(text: str, name: str) -> str:
    """Return `text` if it is a Prometheus duration longer than 0s.

    Raises UsageError for any other text, with `name` as the setting's name.
    """
    if not _DURATION.match(text):
        raise UsageError(
            f'{name} "{text}" is not a Prometheus duration; use a duration such as '
            "1s, 30s or 1m30s"
        )
    if duration_ms(text) == 0:
        raise UsageError(f"{name} must be longer than 0s")
    if too_long(text):
        raise UsageError(f'{name} "{text}" is {TOO_LONG}')
    return text


def _shorter(text: str, limit: str) -> str:
    """Return whichever of two durations is shorter, `text` when they are equal."""
    return limit if duration_ms(text) > duration_ms(limit) else text


def _job_names(services: Sequence[Service]) -> list[str]:
    return [job.job for service in services for job in service.scrape_jobs]


def _job_hint(job: str, known: list[str]) -> str:
    """Return a `(did you mean "x"?)` hint for an unknown job, or an empty string."""
    hint = suggest(job, known)
    containing = [name for name in known if job.lower() in name.lower()]
    if not hint and len(containing) == 1:
        hint = f' (did you mean "{containing[0]}"?)'
    return hint


def _check_jobs(
    services: Sequence[Service], targets: Mapping[str, Sequence[str]]
) -> None:
    known = _job_names(services)
    for job in targets:
        if job in known:
            continue
        hint = _job_hint(job, known)
        listed = ", ".join(sorted(known)) or "none"
        raise UnknownScrapeJobError(
            f'unknown scrape job "{job}"{hint}; the project\'s jobs are: {listed}'
        )


def _rewrite_job(
    job: ScrapeJob, targets: Mapping[str, Sequence[str]], scrape_interval: str | None
) -> ScrapeJob:
    if job.job in targets and job.probe is not None:
        # A probe job's targets are what the exporter probes, and Prometheus
        # connects to the exporter, so the exporter is what a local run moves.
        (exporter,) = targets[job.job]
        job = attrs.evolve(job, probe=attrs.evolve(job.probe, exporter=exporter))
    elif job.job in targets:
        # The legends and alert summaries count the manifest's targets, so that a
        # local build keeps the dashboards and rules of a normal build.
        manifest_targets = (
            job.targets if job.manifest_targets is None else job.manifest_targets
        )
        job = attrs.evolve(
            job, targets=tuple(targets[job.job]), manifest_targets=manifest_targets
        )
    if scrape_interval is None:
        return job
    # A job without its own interval inherits the global one, which is set too.
    interval = scrape_interval if job.interval is not None else None
    timeout = (
        _shorter(job.timeout, scrape_interval) if job.timeout is not None else None
    )
    return attrs.evolve(job, interval=interval, timeout=timeout)


def _rewrite_service(
    service: Service,
    targets: Mapping[str, Sequence[str]],
    scrape_interval: str | None,
    alert_for: str | None,
) -> Service:
    jobs = tuple(
        _rewrite_job(job, targets, scrape_interval) for job in service.scrape_jobs
    )
    service = attrs.evolve(service, scrape_jobs=jobs)
    if alert_for is None:
        return service
    # Clear the panel and service `for:` so that every alert takes the config's
    # `alert_for`, which the option sets. Setting them to the option's value instead
    # would make alerts/for-interval report it at `for:` lines that do not write it.
    rows = tuple(
        attrs.evolve(
            row,
            panels=tuple(
                attrs.evolve(panel, alert=attrs.evolve(panel.alert, for_=None))
                for panel in row.panels
            ),
        )
        for row in service.rows
    )
    alerts = attrs.evolve(service.alerts, for_=None)
    return attrs.evolve(service, rows=rows, alerts=alerts)


def apply_local_overrides(
    services: Sequence[Service],
    config: Config,
    targets: Mapping[str, Sequence[str]] | None = None,
    scrape_interval: str | None = None,
    evaluation_interval: str | None = None,
    alert_for: str | None = None,
) -> tuple[tuple[Service, ...], Config]:
    """Return copies of `services` and `config` with the local-run settings applied.

    - `targets`: each named job's targets are replaced by the given ones.
    - `scrape_interval`: the global interval and every job's own interval become
      this value, and every scrape timeout longer than it is shortened to it.
    - `evaluation_interval`: the global rule evaluation interval.
    - `alert_for`: the `for:` of every derived alert, in place of the panel, service
      and project settings.

    None leaves a setting as the project has it. Raises UnknownScrapeJobError for a
    job that no service declares, and UsageError for an invalid target or duration.
    The inputs are not modified.
    """
    targets = targets or {}
    _check_jobs(services, targets)
    probes = {
        job.job for service in services for job in service.scrape_jobs if job.probe
    }
    for job, addresses in targets.items():
        if not addresses:
            raise UsageError(f'no target given for scrape job "{job}"')
        if job in probes and len(addresses) > 1:
            raise UsageError(
                f'probe job "{job}" has one exporter, and --target names the address '
                f"of it; give {job}=HOST:PORT once"
            )
        for address in addresses:
            problem = target_problem(address)
            if problem is not None:
                raise UsageError(f'scrape job "{job}": {problem}')
    if scrape_interval is not None:
        check_duration(scrape_interval, "scrape_interval")
        config = attrs.evolve(
            config,
            scrape_interval=scrape_interval,
            scrape_timeout=_shorter(config.scrape_timeout, scrape_interval),
        )
    if evaluation_interval is not None:
        check_duration(evaluation_interval, "evaluation_interval")
        config = attrs.evolve(config, evaluation_interval=evaluation_interval)
    if alert_for is not None:
        # TODO: Prometheus accepts `for: 0s`, but the promtool test generator raises
        # ValueError on it, so a zero `for:` is rejected here until it supports one.
        check_duration(alert_for, "alert_for")
        config = attrs.evolve(config, alert_for=alert_for)
    rewritten = tuple(
        _rewrite_service(service, targets, scrape_interval, alert_for)
        for service in services
    )
    return rewritten, config
