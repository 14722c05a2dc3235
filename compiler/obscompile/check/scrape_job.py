"""scrape/job: scrape settings that Prometheus rejects, or accepts and then fails on."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

from obscompile.check.context import ServiceContext
from obscompile.check.registry import Scope, check
from obscompile.diagnostics import Diagnostic, error, shorten, warning
from obscompile.load.durations import positive_duration
from obscompile.load.schema import (
    LABEL_NAME_PATTERN,
    METRICS_PATH_PATTERN,
    PORT_MAX,
    PORT_MIN,
    PROBE_MODULE_PATTERN,
    RESERVED_TARGET_LABELS,
    ZERO_DURATION_PATTERN,
)
from obscompile.load.urls import host_name_problem, is_ipv6, url_problem
from obscompile.load.validate import quoted, schema_validated
from obscompile.model.location import Location
from obscompile.model.scrape import ScrapeJob
from obscompile.model.service import Service
from obscompile.promql import duration_text

NAME = "scrape/job"

# host:port, where the host may be a bracketed IPv6 address and the port is optional.
_TARGET = re.compile(r"(?P<host>\[[^\]]*\]|[^:\[\]]*)(?::(?P<port>.*))?")


_ZERO_DURATION = re.compile(ZERO_DURATION_PATTERN)
_METRICS_PATH = re.compile(METRICS_PATH_PATTERN)
_PROBE_MODULE = re.compile(PROBE_MODULE_PATTERN)
_LABEL_NAME = re.compile(LABEL_NAME_PATTERN)
PORT_RANGE = f"{PORT_MIN}-{PORT_MAX}"
_jobs_key: list[tuple[Service, ...]] = []
_jobs: dict[str, list[ScrapeJob]] = {}


def jobs_by_name(services: tuple[Service, ...]) -> dict[str, list[ScrapeJob]]:
    """Return the scrape jobs of `services` by job name, built once per services tuple."""
    if not _jobs_key or _jobs_key[0] is not services:
        _jobs.clear()
        for service in services:
            for job in service.scrape_jobs:
                _jobs.setdefault(job.job, []).append(job)
        _jobs_key[:] = [services]
    return _jobs


def interval_of(job: ScrapeJob, default: timedelta) -> timedelta:
    """Return the job's scrape interval, or `default` when it sets none."""
    if job.interval is None:
        return default
    return positive_duration(job.interval) or default


def _timeout_problems(job: ScrapeJob, default: timedelta) -> Iterator[Diagnostic]:
    for key in ("interval", "timeout"):
        text = getattr(job, key)
        if text is not None and positive_duration(text) is None:
            where = job.locations.get(key, job.location)
            if _ZERO_DURATION.match(text):
                if schema_validated(where):
                    continue
                problem = (
                    f'scrape {key} "{text}" must be longer than 0s; leave it out to '
                    "use the global setting"
                )
            else:
                problem = (
                    f'scrape {key} "{text}" is not a Prometheus duration such as 15s '
                    "or 1m"
                )
            yield error(where, problem, NAME)
    timeout = positive_duration(job.timeout) if job.timeout else None
    if timeout is None or timeout <= interval_of(job, default):
        return
    longest = job.interval or duration_text(default)
    interval = job.interval or f"{longest} (the default)"
    yield error(
        job.locations.get("timeout", job.location),
        f"scrape timeout {job.timeout} is longer than interval {interval}, which "
        f"Prometheus rejects; set the timeout to at most {longest}, or lengthen the "
        "interval",
        NAME,
    )


def target_problem(target: str) -> str | None:
    """Return why `target` is not a valid host:port, or None."""
    target_shown = shorten(target)
    if any(character.isspace() for character in target):
        return (
            f'target "{target_shown}" contains a blank, which Prometheus escapes '
            "into the URL"
        )
    bracket_problem = _ipv6_bracket_problem(target)
    if bracket_problem is not None:
        return f'target "{target_shown}" {bracket_problem}'
    match = _TARGET.fullmatch(target)
    if match is None or "/" in target:
        return (
            f'target "{target_shown}" is not host:port; set scheme: and path: '
            "separately"
        )
    host = match.group("host")
    host_shown = shorten(target, match.start("host"), match.end("host"))
    if not host:
        return f'target "{target_shown}" has no host'
    if "@" in host:
        return (
            f'target "{target_shown}" contains credentials before "@", which would '
            "reach the instance label of every series; give the target without them"
        )
    if host.startswith("[") and not is_ipv6(host[1:-1]):
        return (
            f'target "{host_shown}" has host "{shorten(host)}", but only an IPv6 '
            "address goes in brackets"
        )
    if not host.startswith("["):
        problem = host_name_problem(host)
        if problem is not None:
            return f'target "{host_shown}" has host "{shorten(host)}", which {problem}'
    port = match.group("port")
    if port is None:
        return None
    port_shown = shorten(target, match.start("port"), match.end("port"))
    if not port:
        return (
            f'target "{target_shown}" has an empty port; remove the ":" or write a port'
        )
    if not (port.isascii() and port.isdigit()):
        return (
            f'target "{port_shown}" has port "{shorten(port)}", which is not a number'
        )
    digits = port.lstrip("0") or "0"
    # int() raises ValueError beyond sys.get_int_max_str_digits(), 4300 by default,
    # and a port of 6 digits or more is out of range anyway.
    if len(digits) > 5 or not PORT_MIN <= int(digits) <= PORT_MAX:
        return f'target "{port_shown}" has port {shorten(digits)}, outside {PORT_RANGE}'
    return None


def _ipv6_bracket_problem(target: str) -> str | None:
    """Return what is wrong with the brackets of an IPv6 host in `target`, or None."""
    if "/" in target:
        return None
    if target.startswith("[") and "]" not in target:
        return (
            'is missing the "]" that closes its IPv6 address; write the address in '
            'brackets, such as "[::1]:9090"'
        )
    if "]" in target and not target.startswith("["):
        return (
            'has a "]" without the "[" that opens an IPv6 address; write the address '
            'in brackets, such as "[::1]:9090"'
        )
    if target.startswith("[") or target.count(":") < 2:
        return None
    # An address such as ::1:9090 is an IPv6 address as a whole too, so the text
    # after the last ":" is read as the port when it is one.
    address, _, port = target.rpartition(":")
    if port.isascii() and port.isdigit() and is_ipv6(address):
        return (
            f'has the IPv6 address "{address}" without brackets; write it as '
            f'"[{address}]:{port}"'
        )
    if is_ipv6(target):
        return (
            f'is an IPv6 address without brackets; write it as "[{target}]" or with '
            f'a port, as "[{target}]:9090"'
        )
    return None


def probe_target_problem(target: str) -> str | None:
    """Return why a probe job's target is neither an http(s) URL nor a host[:port].

    blackbox_exporter's HTTP prober puts http:// before a target without a scheme,
    so `example.com/health` is a URL too. Its ICMP and DNS probers also take an IPv6
    address without brackets.
    """
    if "://" in target or "/" in target:
        url = target if "://" in target else f"http://{target}"
        problem = url_problem(url, zone=True)
        if problem is None:
            return None
        return f'probe target "{target}" is invalid: it {problem}'
    if is_ipv6(target):
        return None
    problem = target_problem(target)
    return None if problem is None else f"probe {problem}"


def _probe_problems(job: ScrapeJob) -> Iterator[Diagnostic]:
    """Yield the problems of a probe job: its exporter, module and port."""
    assert job.probe is not None
    problem = target_problem(job.probe.exporter)
    if problem is not None:
        yield error(
            job.locations.get("probe.exporter", job.location),
            f"probe exporter: {problem}",
            NAME,
        )
    module = job.probe.module
    module_at = job.locations.get("probe.module", job.location)
    if not _PROBE_MODULE.match(module) and not schema_validated(module_at):
        yield error(
            module_at,
            f"probe module {quoted(shorten(module))} must be a module name of the "
            "exporter, such as http_2xx, without blanks or control characters",
            NAME,
        )
    if "port" in job.locations:
        yield error(
            job.locations["port"],
            f'probe job "{job.job}" scrapes its exporter at {job.probe.exporter}, so '
            "port: does not apply; remove it",
            NAME,
        )
    if not job.targets and "targets" in job.locations:
        yield warning(
            job.locations["targets"],
            f'probe job "{job.job}" has no targets, so the exporter probes nothing '
            "and its panels stay empty; list the URLs or hosts to probe",
            NAME,
        )
    for index, target in enumerate(job.targets):
        where = _target_location(job, index)
        if not target or not target.isprintable() or any(c.isspace() for c in target):
            yield error(
                where,
                f"probe target {shorten(repr(target))} is empty or contains a blank or "
                "an invisible character; write the URL or host that the exporter "
                "probes",
                NAME,
            )
        elif "@" in target.partition("://")[2].partition("/")[0]:
            yield error(
                where,
                'probe target contains credentials before "@", which would reach '
                "the instance label, every legend and alert summary; give the target "
                "without them and the credentials in the exporter's module",
                NAME,
            )
        else:
            problem = probe_target_problem(target)
            if problem is not None:
                yield error(where, problem, NAME)
    if "instance" in dict(job.labels):
        yield error(
            job.locations.get("label:instance", job.location),
            f'scrape label "instance" of probe job "{job.job}" is replaced by each '
            "target, which the relabelling sets as the instance; remove it",
            NAME,
        )


def _target_location(job: ScrapeJob, index: int) -> Location:
    """Return where target `index` of `job` is written, or where its targets are."""
    return job.locations.get(
        f"targets.{index}", job.locations.get("targets", job.location)
    )


def _target_problems(job: ScrapeJob) -> Iterator[Diagnostic]:
    if job.probe is not None:
        yield from _probe_problems(job)
        return
    if "targets" not in job.locations and "port" in job.locations:
        # The loader wrote the target as <job>:<port>, so the port or the job's name
        # is what to fix.
        port = job.targets[0].rpartition(":")[2] if job.targets else ""
        in_range = port.isdigit() and PORT_MIN <= int(port) <= PORT_MAX
        if not in_range and not schema_validated(job.locations["port"]):
            yield error(
                job.locations["port"], f"port {port} is outside {PORT_RANGE}", NAME
            )
        problem = host_name_problem(job.job)
        if problem is not None:
            yield error(
                job.locations.get("job", job.location),
                f'job "{shorten(job.job)}" gives the target '
                f"{shorten(f'{job.job}:{port}')} with port:, and its host {problem}; "
                "list targets: or rename the job",
                NAME,
            )
        return
    if "port" in job.locations and "targets" in job.locations:
        yield warning(
            job.locations["port"],
            f'scrape job "{job.job}" gives both targets: and port:, and port: is '
            "ignored; remove one",
            NAME,
        )
    if not job.targets and "targets" in job.locations:
        yield warning(
            job.locations.get("targets", job.location),
            f'scrape job "{job.job}" has no targets, so Prometheus scrapes nothing for '
            "it and its panels stay empty; list host:port targets",
            NAME,
        )
    for index, target in enumerate(job.targets):
        problem = target_problem(target)
        if problem is not None:
            yield error(_target_location(job, index), problem, NAME)
    repeated = sorted({t for t in job.targets if job.targets.count(t) > 1})
    if repeated:
        yield warning(
            job.locations.get("targets", job.location),
            f'scrape job "{job.job}" lists {", ".join(repeated)} more than once, and '
            "Prometheus treats the repeats as one target; remove them",
            NAME,
        )


@check(
    NAME,
    "a scrape timeout above the interval, an invalid target host or port, or metrics path",
    scope=Scope.SERVICE,
)
def scrape_job(context: ServiceContext) -> Iterator[Diagnostic]:
    for job in context.service.scrape_jobs:
        yield from _timeout_problems(job, context.scrape_interval)
        yield from _target_problems(job)
        path_at = job.locations.get("path", job.location)
        problem = _metrics_path_problem(job.metrics_path)
        if problem is not None and not schema_validated(path_at):
            yield error(path_at, problem, NAME)
        yield from _label_problems(job)


def _metrics_path_problem(path: str) -> str | None:
    """Return why Prometheus cannot scrape the metrics path `path`, or None."""
    if _METRICS_PATH.match(path):
        return None
    if not path.startswith("/"):
        return f'metrics path "{path}" must start with "/"; use "/{path}"'
    if "?" in path or "#" in path:
        return (
            f'metrics path "{path}" has a query or fragment, which Prometheus escapes '
            "into the path and the target then answers 404; give the path alone"
        )
    return (
        f"metrics path {quoted(shorten(path))} contains a control character; give the "
        "path without it"
    )


def _label_problems(job: ScrapeJob) -> Iterator[Diagnostic]:
    labels_at = job.locations.get("labels", job.location)
    for name, value in job.labels:
        where = job.locations.get(f"label:{name}", labels_at)
        if not _LABEL_NAME.match(name):
            if schema_validated(where):
                continue
            yield error(
                where,
                f'scrape label name "{name}" is invalid: Prometheus accepts names of ASCII '
                'letters, digits and "_" that do not start with a digit or "__"',
                NAME,
            )
        elif value == "":
            yield warning(
                where,
                f'scrape label "{name}" is empty, and Prometheus drops empty labels; '
                "give it a value or remove it",
                NAME,
            )
        elif name == "instance" and job.probe is not None:
            continue  # reported with the probe's problems
        elif name == "instance" and len(job.targets) > 1:
            yield error(
                where,
                f'scrape label "instance" gives all {len(job.targets)} targets of job '
                f'"{job.job}" the same instance, so their series collide; set it per '
                "target in separate jobs, or leave it out",
                NAME,
            )
        elif name in RESERVED_TARGET_LABELS and not schema_validated(where):
            yield error(
                where,
                f'scrape label "{name}" replaces {RESERVED_TARGET_LABELS[name]}, '
                f'so queries that select job="{job.job}" find nothing; use another '
                "label name",
                NAME,
            )
