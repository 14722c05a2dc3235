"""Checks that a service's metric catalog can be declared in its client library.

Each check reports, as a diagnostic, a problem that would otherwise make the generated
module raise at import time, produce an invalid exposition, or fail to compile.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from ipaddress import ip_address
from urllib.parse import urlsplit

from obscompile.diagnostics import Diagnostic, error, sorted_diagnostics, warning
from obscompile.instrument.naming import (
    expand_families,
    python_identifier,
    registered_names,
    typescript_identifier,
)
from obscompile.load.schema import (
    LABEL_NAME_PATTERN,
    METRIC_NAME_PATTERN,
    RESERVED_METRIC_LABELS,
)
from obscompile.load.validate import schema_validated
from obscompile.model.location import Location
from obscompile.model.metric import Metric, MetricType
from obscompile.model.scrape import ScrapeJob
from obscompile.model.service import Runtime, Service
from obscompile.numbers import number_text

METRIC_NAME = re.compile(METRIC_NAME_PATTERN)
LABEL_NAME = re.compile(LABEL_NAME_PATTERN)

DEFAULT_PORTS = {"http": 80, "https": 443}

# The families that the default collectors export: prometheus_client 0.26's process,
# platform and gc collectors on Linux, and prom-client 15.1's collectDefaultMetrics
# on Node.js 20 on Linux. A catalog metric with one of these names cannot be registered.
PYTHON_DEFAULT_FAMILIES = (
    ("process_virtual_memory_bytes", MetricType.GAUGE),
    ("process_resident_memory_bytes", MetricType.GAUGE),
    ("process_start_time_seconds", MetricType.GAUGE),
    ("process_cpu_seconds_total", MetricType.COUNTER),
    ("process_open_fds", MetricType.GAUGE),
    ("process_max_fds", MetricType.GAUGE),
    ("python_info", MetricType.GAUGE),
    ("python_gc_objects_collected_total", MetricType.COUNTER),
    ("python_gc_objects_uncollectable_total", MetricType.COUNTER),
    ("python_gc_collections_total", MetricType.COUNTER),
)
NODEJS_DEFAULT_FAMILIES = (
    ("process_cpu_user_seconds_total", MetricType.COUNTER),
    ("process_cpu_system_seconds_total", MetricType.COUNTER),
    ("process_cpu_seconds_total", MetricType.COUNTER),
    ("process_start_time_seconds", MetricType.GAUGE),
    ("process_resident_memory_bytes", MetricType.GAUGE),
    ("process_virtual_memory_bytes", MetricType.GAUGE),
    ("process_heap_bytes", MetricType.GAUGE),
    ("process_open_fds", MetricType.GAUGE),
    ("process_max_fds", MetricType.GAUGE),
    ("nodejs_eventloop_lag_seconds", MetricType.GAUGE),
    ("nodejs_eventloop_lag_min_seconds", MetricType.GAUGE),
    ("nodejs_eventloop_lag_max_seconds", MetricType.GAUGE),
    ("nodejs_eventloop_lag_mean_seconds", MetricType.GAUGE),
    ("nodejs_eventloop_lag_stddev_seconds", MetricType.GAUGE),
    ("nodejs_eventloop_lag_p50_seconds", MetricType.GAUGE),
    ("nodejs_eventloop_lag_p90_seconds", MetricType.GAUGE),
    ("nodejs_eventloop_lag_p99_seconds", MetricType.GAUGE),
    ("nodejs_active_resources", MetricType.GAUGE),
    ("nodejs_active_resources_total", MetricType.GAUGE),
    ("nodejs_active_handles", MetricType.GAUGE),
    ("nodejs_active_handles_total", MetricType.GAUGE),
    ("nodejs_active_requests", MetricType.GAUGE),
    ("nodejs_active_requests_total", MetricType.GAUGE),
    ("nodejs_heap_size_total_bytes", MetricType.GAUGE),
    ("nodejs_heap_size_used_bytes", MetricType.GAUGE),
    ("nodejs_external_memory_bytes", MetricType.GAUGE),
    ("nodejs_heap_space_size_total_bytes", MetricType.GAUGE),
    ("nodejs_heap_space_size_used_bytes", MetricType.GAUGE),
    ("nodejs_heap_space_size_available_bytes", MetricType.GAUGE),
    ("nodejs_version_info", MetricType.GAUGE),
    ("nodejs_gc_duration_seconds", MetricType.HISTOGRAM),
)

_DEFAULT_FAMILIES = {
    Runtime.PYTHON: PYTHON_DEFAULT_FAMILIES,
    Runtime.NODEJS: NODEJS_DEFAULT_FAMILIES,
}
_LIBRARIES = {Runtime.PYTHON: "prometheus_client", Runtime.NODEJS: "prom-client"}
_FILES = {Runtime.PYTHON: "metrics.py", Runtime.NODEJS: "metrics.ts"}
# The call, by runtime, that starts the generated metrics server on another port.
_SERVER_CALLS = {
    Runtime.PYTHON: "start_metrics_server({port})",
    Runtime.NODEJS: "startMetricsServer({port})",
}
_IDENTIFIERS = {
    Runtime.PYTHON: python_identifier,
    Runtime.NODEJS: typescript_identifier,
}


def check_instrumentation(service: Service) -> list[Diagnostic]:
    """Return the problems that prevent generating the service's metric definitions.

    The names, labels and buckets of the catalog are checked in every service,
    because they describe the series the service exports, whatever library
    exports them. A service without a runtime gets no instrumentation, so it has
    no other problems.
    """
    diagnostics: list[Diagnostic] = []
    for metric in service.metrics:
        diagnostics.extend(_check_metric(metric))
    if service.runtime is None:
        return sorted_diagnostics(diagnostics)

    runtime = Runtime(service.runtime)
    diagnostics.extend(_check_service_name(service))

    # Registered names and identifiers are only meaningful for valid metric names.
    valid = tuple(m for m in service.metrics if METRIC_NAME.match(m.name))
    diagnostics.extend(_check_collisions(valid, runtime))
    diagnostics.extend(_check_scrape_target(service, runtime))
    diagnostics.extend(_check_schemes(service))
    return sorted_diagnostics(diagnostics)


def process_jobs(service: Service) -> tuple[ScrapeJob, ...]:
    """Return the scrape jobs that scrape the service's own processes.

    A probe job scrapes an exporter that probes the targets, and a job that honours
    labels scrapes a Pushgateway that the processes push to, so the generated metrics
    server serves neither.
    """
    return tuple(
        job for job in service.scrape_jobs if job.probe is None and not job.honor_labels
    )


def serving_job(service: Service) -> ScrapeJob | None:
    """Return the scrape job whose target gives the metrics server its defaults.

    That is the first job whose targets are all on one loopback address, because a
    local build (`--target job=127.0.0.1:9100`) points the jobs it runs at this
    machine, or else the first job. Returns None when that job has no target.
    """
    jobs = process_jobs(service)
    for job in jobs:
        hosts = {_loopback(target) for target in job.targets}
        if len(hosts) == 1 and None not in hosts:
            return job
    if not jobs or not jobs[0].targets:
        return None
    return jobs[0]


def scrape_port(service: Service) -> int | None:
    """Return the port of the first target of the job that `serving_job` returns.

    A target without a port uses the scheme's default port, as Prometheus does.
    Returns None when the service has no scrape target. Raises ValueError when the
    port is not a number from 1 to 65535.
    """
    job = serving_job(service)
    if job is None:
        return None
    return _target_port(job, job.targets[0])


def _target_port(job: ScrapeJob, target: str) -> int:
    # urlsplit raises ValueError for a port that is not a number or is above 65535.
    port = urlsplit(f"//{target}").port
    if port is None:
        return DEFAULT_PORTS.get(job.scheme, 80)
    if port == 0:
        raise ValueError(f"port 0 in scrape target {target!r} cannot be listened on")
    return port


def loopback_host(service: Service) -> str | None:
    """Return the host that the metrics server listens on, if it is a loopback address.

    A local build points the scrape jobs at the machine itself (`--target
    job=127.0.0.1:9100`), and the metrics server of such a build listens there alone.
    Where a target of any job on the default port (`scrape_port`) is on another
    host, the server listens on every address, so that each copy of the service
    can be scraped.
    """
    port = scrape_port(service)
    if port is None:
        return None
    hosts = {
        _loopback(target)
        for job in process_jobs(service)
        for target in job.targets
        if _port_or_none(job, target) == port
    }
    if len(hosts) != 1:
        return None
    return hosts.pop()


def _port_or_none(job: ScrapeJob, target: str) -> int | None:
    try:
        return _target_port(job, target)
    except ValueError:
        return None


def _loopback(target: str) -> str | None:
    """Return the host of `target` if it is a loopback address, else None.

    A target that urlsplit cannot read, such as `[::1:8000` with one bracket, is no
    address; the scrape job check reports it.
    """
    try:
        host = urlsplit(f"//{target}").hostname
    except ValueError:
        return None
    if host is None:
        return None
    if host.rstrip(".") == "localhost":
        return host
    try:
        address = ip_address(host)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return host if address.is_loopback or (mapped and mapped.is_loopback) else None


def _check_service_name(service: Service) -> Iterator[Diagnostic]:
    name = service.name
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        location = service.locations.get("service", service.location)
        yield error(
            location,
            f'service name "{name}" cannot name the folder instrumentation/<service>/; '
            "use a name without slashes that is not . or ..",
            "instrument/service-name",
        )


def _check_metric(metric: Metric) -> Iterator[Diagnostic]:
    if not METRIC_NAME.match(metric.name):
        yield error(
            metric.location,
            f'invalid metric name "{metric.name}": use ASCII letters, digits, _ and :, '
            "not starting with a digit",
            "instrument/metric-name",
        )
    yield from _check_labels(metric)
    yield from _check_buckets(metric)


def _check_labels(metric: Metric) -> Iterator[Diagnostic]:
    seen: set[str] = set()
    reserved = RESERVED_METRIC_LABELS.get(MetricType(metric.type))
    for index, label in enumerate(metric.labels):
        where = metric.location_of(f"labels.{index}")
        if not LABEL_NAME.match(label) and label.startswith("__"):
            problem = "names starting with __ are reserved for Prometheus"
        elif not LABEL_NAME.match(label):
            problem = "use ASCII letters, digits and _, not starting with a digit"
        elif label == reserved:
            problem = (
                f"the client library adds {reserved} to every {metric.type} sample"
            )
        elif label in seen:
            problem = "the label is listed twice"
        elif label in ("job", "instance"):
            seen.add(label)
            yield warning(
                where,
                f'label "{label}" on metric "{metric.name}": Prometheus sets {label} '
                "on every series it scrapes and stores the exported one as "
                f"exported_{label}, so a query on {label} reads the scrape target's; "
                "rename the label",
                "instrument/label-name",
            )
            continue
        else:
            seen.add(label)
            continue
        if schema_validated(where):
            # The manifest schema has reported each of these rules, and stops a
            # manifest whose label has other characters than letters, digits and _.
            continue
        yield error(
            where,
            f'invalid label "{label}" on metric "{metric.name}": {problem}',
            "instrument/label-name",
        )


def _check_buckets(metric: Metric) -> Iterator[Diagnostic]:
    if not metric.buckets:
        return

    if metric.type != MetricType.HISTOGRAM:
        yield error(
            metric.location_of("buckets"),
            f'metric "{metric.name}" is a {metric.type} and cannot have buckets; '
            "remove them or make it a histogram",
            "instrument/buckets",
        )
        return

    bounds = list(metric.buckets)
    if bounds[-1] == math.inf:
        # Both libraries add the +Inf bucket themselves.
        bounds.pop()
    problem = None
    # The index of the bound at fault, where one is.
    fault_index: int | None = None
    unbounded = [i for i, bound in enumerate(bounds) if not math.isfinite(bound)]
    unordered = [i for i in range(1, len(bounds)) if bounds[i - 1] >= bounds[i]]
    if unbounded:
        problem = "every bound but a last +Inf must be a finite number"
        fault_index = unbounded[0]
    elif not bounds:
        problem = "list at least one finite bound; the +Inf bucket is added anyway"
    elif unordered:
        problem = "bounds must be in strictly increasing order"
        fault_index = unordered[0]
    if problem:
        listed = ", ".join(number_text(bound) for bound in metric.buckets)
        key = "buckets" if fault_index is None else f"buckets.{fault_index}"
        where = metric.location_of(key)
        yield error(
            where,
            f'invalid buckets [{listed}] on histogram "{metric.name}": {problem}',
            "instrument/buckets",
        )


def _check_collisions(
    metrics: tuple[Metric, ...], runtime: Runtime
) -> Iterator[Diagnostic]:
    """Report metrics that share a registered name or a generated identifier."""
    library = _LIBRARIES[runtime]
    defaults = expand_families(_DEFAULT_FAMILIES[runtime], runtime)
    owners: dict[str, Metric] = {}
    identifiers: dict[str, Metric] = {}
    for metric in metrics:
        names = registered_names(metric, runtime)
        taken_by_default = sorted(names & defaults)
        clashes = sorted(name for name in names if name in owners)
        if taken_by_default:
            yield error(
                metric.location,
                f'metric "{metric.name}" uses the name "{taken_by_default[0]}", which '
                f"{library}'s default collectors already register; rename the metric",
                "instrument/duplicate-name",
            )
        elif clashes:
            other = owners[clashes[0]]
            yield error(
                metric.location,
                f'metric "{metric.name}" uses the name "{clashes[0]}", as does metric '
                f'"{other.name}" ({other.location}); {library} rejects the second one',
                "instrument/duplicate-name",
            )
        else:
            identifier = _IDENTIFIERS[runtime](metric)
            if identifier in identifiers:
                other = identifiers[identifier]
                yield error(
                    metric.location,
                    f'metrics "{other.name}" and "{metric.name}" would both be '
                    f"declared as {identifier} in {_FILES[runtime]}; rename one",
                    "instrument/identifier",
                )
            identifiers.setdefault(identifier, metric)
        for name in names:
            owners.setdefault(name, metric)


def _check_scrape_target(service: Service, runtime: Runtime) -> Iterator[Diagnostic]:
    job = serving_job(service)
    if job is None:
        yield warning(
            service.location,
            f'service "{service.name}" has no scrape target, so the generated metrics '
            "server has no default port; add a scrape job with a host:port target",
            "instrument/scrape-target",
        )
        return

    try:
        port = scrape_port(service)
    except ValueError:
        yield error(
            job.locations.get("targets", job.location),
            f'invalid scrape target "{job.targets[0]}": expected host:port with a port '
            "from 1 to 65535",
            "instrument/scrape-target",
        )
        return
    yield from _check_other_ports(service, runtime, job, port)


def _check_other_ports(
    service: Service, runtime: Runtime, serving: ScrapeJob, port: int | None
) -> Iterator[Diagnostic]:
    """Warn of each port other than the default that a scrape job's targets are on.

    The generated module starts one metrics server, on the port of `serving`'s first
    target unless the caller passes another port. So each process that Prometheus
    scrapes on another port must pass that port. A job gets one warning for each
    such port, at its first target there, even when another of its targets is on
    the default port.
    """
    call = _SERVER_CALLS[runtime]
    for job in process_jobs(service):
        ports = [_port_or_none(job, target) for target in job.targets]
        if None in ports:
            continue  # instrument/scrape-target or the manifest reports the target
        others = [
            (index, other)
            for index, other in enumerate(ports)
            if other != port and other not in ports[:index]
        ]
        for index, other in others:
            scrapes = f"scrapes port {other}"
            if ports.count(other) != len(ports):
                scrapes += f' at target "{job.targets[index]}"'
            yield warning(
                _target_location(job, index),
                f'scrape job "{job.job}" {scrapes}, but the metrics server of '
                f"instrumentation/{service.name}/ listens on port {port} of scrape "
                f'job "{serving.job}" by default; a process that "{job.job}" scrapes '
                f"on port {other} must pass its port, as in {call.format(port=other)}",
                "instrument/scrape-port",
            )


def _check_schemes(service: Service) -> Iterator[Diagnostic]:
    """Warn of each job that scrapes the service's processes over https.

    The generated metrics server serves plain HTTP, so Prometheus fails every
    scrape of it over https, with "first record does not look like a TLS handshake"
    in Prometheus 2.42.
    """
    for job in process_jobs(service):
        if job.scheme != "https":
            continue
        yield warning(
            job.locations.get("scheme", job.location),
            f'scrape job "{job.job}" scrapes over https, but the metrics server of '
            f"instrumentation/{service.name}/ serves plain HTTP, so every scrape "
            "fails; put a TLS proxy in front of it, serve the registry from a TLS "
            "server of the service's own, or set scheme: http",
            "instrument/scheme",
        )


def _target_location(job: ScrapeJob, index: int) -> Location:
    """Return where a job's target is written, or else its targets or port."""
    for key in (f"targets.{index}", "targets", "port"):
        if key in job.locations:
            return job.locations[key]
    return job.location
