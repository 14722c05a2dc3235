"""Generate a synthetic obscompile project of N services with P panels each.

The services copy the shapes of the four real manifests in `services/`. They have
every panel type, every threshold shorthand and the query shapes those dashboards
use. Each has a metric catalog that declares every metric and label its queries read,
and one scrape job. Every other service uses the `http_api_health` block. A generated
project passes every check, so a benchmark measures a build that writes all artifacts.

`service_spec` returns one service as data. `manifest_text` renders it as YAML, and
`bench/grafanalib_build.py` turns the same data into grafanalib dashboards.

    python bench/workload.py DEST --services 100 --panels 30
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.8, 1, 2.5, 5, 10)
JOB_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600)
SOURCE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)
PROCESSING_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 5, 10)
STRENGTH_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1)

# Panels per row below the HTTP health row, as in the real dashboards (2 to 6).
ROW_SIZE = 5
ROW_TITLES = (
    "Throughput",
    "Latency & SLAs",
    "Jobs & Queues",
    "Errors",
    "External Dependencies",
    "Capacity",
)


@dataclass(frozen=True)
class MetricSpec:
    name: str
    type: str
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()


@dataclass(frozen=True)
class PanelSpec:
    title: str
    type: str
    query: str
    description: str
    thresholds: str | None = None
    stack: bool = False
    capacity: int | None = None
    color_mode: str | None = None


@dataclass(frozen=True)
class RowSpec:
    title: str
    panels: tuple[PanelSpec, ...]
    # Parameters of the `http_api_health` block when the manifest uses it for this row.
    block: dict[str, str] | None = None


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    runtime: str
    uid: str
    job: str
    port: int
    metrics: tuple[MetricSpec, ...]
    rows: tuple[RowSpec, ...] = field(default=())

    @property
    def panels(self) -> Iterator[PanelSpec]:
        for row in self.rows:
            yield from row.panels


def service_name(index: int) -> str:
    return f"svc_{index:04d}"


def metric_catalog(prefix: str) -> tuple[MetricSpec, ...]:
    """Return the catalog of one service: counters, gauges and histograms."""
    http_labels = ("method", "endpoint", "status_code")
    return (
        MetricSpec(
            "http_requests_total", "counter", "Total HTTP requests handled", http_labels
        ),
        MetricSpec(
            "http_request_duration_seconds",
            "histogram",
            "HTTP request duration in seconds",
            http_labels,
            HTTP_BUCKETS,
        ),
        MetricSpec(
            "http_requests_in_progress",
            "gauge",
            "HTTP requests currently being processed",
        ),
        MetricSpec(
            f"{prefix}_jobs_total", "counter", "Total jobs run", ("job_type", "status")
        ),
        MetricSpec(
            f"{prefix}_job_duration_seconds",
            "histogram",
            "Job run duration in seconds",
            ("job_type",),
            JOB_BUCKETS,
        ),
        MetricSpec(f"{prefix}_concurrent_jobs", "gauge", "Jobs currently running"),
        MetricSpec(
            f"{prefix}_queue_depth", "gauge", "Items waiting in each queue", ("queue",)
        ),
        MetricSpec(
            f"{prefix}_consumer_lag",
            "gauge",
            "Consumer lag by topic and partition",
            ("topic", "partition"),
        ),
        MetricSpec(
            f"{prefix}_processing_duration_seconds",
            "histogram",
            "Time to process a message, in seconds",
            ("topic",),
            PROCESSING_BUCKETS,
        ),
        MetricSpec(
            f"{prefix}_errors_total",
            "counter",
            "Total processing errors",
            ("topic", "error_type"),
        ),
        MetricSpec(
            f"{prefix}_events_total",
            "counter",
            "Events processed",
            ("event_type", "status"),
        ),
        MetricSpec(
            f"{prefix}_tokens_total", "counter", "Tokens used", ("model", "token_type")
        ),
        MetricSpec(
            f"{prefix}_pending_alerts",
            "gauge",
            "Alerts not yet processed",
            ("alert_type", "severity"),
        ),
        MetricSpec(
            f"{prefix}_source_latency_seconds",
            "histogram",
            "Upstream fetch latency in seconds",
            ("source",),
            SOURCE_BUCKETS,
        ),
        MetricSpec(
            f"{prefix}_external_api_health",
            "gauge",
            "Whether an external API is healthy (1) or not (0)",
            ("api",),
        ),
        MetricSpec(
            f"{prefix}_db_connections_active",
            "gauge",
            "Database connections currently checked out of the pool",
        ),
        MetricSpec(
            f"{prefix}_signal_strength",
            "histogram",
            "Strength of generated signals",
            ("kind",),
            STRENGTH_BUCKETS,
        ),
    )


def http_health_row(job: str) -> RowSpec:
    """Return the row that `http_api_health` expands to with the parameters below."""
    selector = f'job="{job}"'
    block = {"job": job, "p95_yellow": "200ms", "p95_red": "500ms"}
    panels = (
        PanelSpec(
            "Request Rate",
            "stat",
            f"sum(rate(http_requests_total{{{selector}}}[5m]))",
            "Total HTTP requests/sec",
        ),
        PanelSpec(
            "Error Rate (4xx/5xx)",
            "gauge",
            f'sum(rate(http_requests_total{{{selector},status_code=~"4..|5.."}}[5m])) '
            f"/ sum(rate(http_requests_total{{{selector}}}[5m])) * 100",
            "Percentage of failed requests",
            "<1% Green, 1-5% Yellow, >5% Red",
        ),
        PanelSpec(
            "P95 Latency",
            "gauge",
            "histogram_quantile(0.95, sum(rate("
            f"http_request_duration_seconds_bucket{{{selector}}}[5m])) by (le))",
            "95th percentile response time",
            "<200ms Green, 200ms-500ms Yellow, >500ms Red",
        ),
        PanelSpec(
            "In-Flight Requests",
            "stat",
            f"sum(http_requests_in_progress{{{selector}}})",
            "Currently processing requests",
        ),
    )
    return RowSpec("API Health", panels, block)


PanelFactory = Callable[[str, str], PanelSpec]


def _panel_shapes() -> tuple[PanelFactory, ...]:
    """Return one factory per panel shape; each takes the job and the metric prefix."""
    return (
        lambda j, p: PanelSpec(
            "Login Requests/sec",
            "timeseries",
            f'sum(rate(http_requests_total{{job="{j}",endpoint="/api/login",method="POST"}}[5m]))',
            "Rate of login attempts",
        ),
        lambda j, p: PanelSpec(
            "Login P95 Latency",
            "gauge",
            "histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket"
            f'{{job="{j}",endpoint="/api/login",method="POST"}}[5m])) by (le))',
            "95th percentile login latency",
            "<300ms Green, 300-800ms Yellow, >800ms Red",
        ),
        lambda j, p: PanelSpec(
            "Login P99 Latency",
            "gauge",
            "histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket"
            f'{{job="{j}",endpoint="/api/login",method="POST"}}[5m])) by (le))',
            "99th percentile login latency",
            "<500ms Green, 500-1s Yellow, >1s Red",
        ),
        lambda j, p: PanelSpec(
            "Login Success vs Failure",
            "timeseries",
            "sum by (status_code) "
            f'(rate(http_requests_total{{job="{j}",endpoint="/api/login"}}[5m]))',
            "Login outcome breakdown",
            stack=True,
        ),
        lambda j, p: PanelSpec(
            "4xx/5xx by Endpoint",
            "table",
            "sum by (endpoint, status_code) "
            f'(rate(http_requests_total{{job="{j}",status_code=~"4..|5.."}}[5m]))',
            "Error breakdown by endpoint",
        ),
        lambda j, p: PanelSpec(
            "Jobs Started (1h)",
            "stat",
            f'sum(increase({p}_jobs_total{{job="{j}",status="created"}}[1h]))',
            "Recent job volume",
        ),
        lambda j, p: PanelSpec(
            "Job Success Rate",
            "gauge",
            f'sum(rate({p}_jobs_total{{job="{j}",status="completed"}}[5m])) '
            f'/ sum(rate({p}_jobs_total{{job="{j}"}}[5m])) * 100',
            "% of jobs completed",
            ">99% Green, 95-99% Yellow, <95% Red",
        ),
        lambda j, p: PanelSpec(
            "Concurrent Jobs",
            "stat",
            f'{p}_concurrent_jobs{{job="{j}"}}',
            "Currently running",
            "<10 Green, 10-20 Yellow, >20 Red",
        ),
        lambda j, p: PanelSpec(
            "Jobs by Status",
            "piechart",
            f'sum by (status) (increase({p}_jobs_total{{job="{j}"}}[6h]))',
            "Status breakdown",
        ),
        lambda j, p: PanelSpec(
            "Jobs by Type",
            "barchart",
            f'sum by (job_type) (rate({p}_jobs_total{{job="{j}"}}[5m]))',
            "Volume per job type",
        ),
        lambda j, p: PanelSpec(
            "Job Duration P99 by Type",
            "timeseries",
            "histogram_quantile(0.99, sum by (le, job_type) "
            f'(rate({p}_job_duration_seconds_bucket{{job="{j}"}}[5m])))',
            "99th percentile job duration",
            "<10s Green, 10-60s Yellow, >60s Red",
        ),
        lambda j, p: PanelSpec(
            "Job Duration P95",
            "gauge",
            "histogram_quantile(0.95, sum by (le) "
            f'(rate({p}_job_duration_seconds_bucket{{job="{j}"}}[1h])))',
            "95th percentile job duration",
            "<120s Green, 120-300s Yellow, >300s Red",
        ),
        lambda j, p: PanelSpec(
            "Jobs/min",
            "timeseries",
            f'sum(rate({p}_jobs_total{{job="{j}"}}[5m])) * 60',
            "Job start rate per minute",
        ),
        lambda j, p: PanelSpec(
            "Queue Depth",
            "timeseries",
            f'{p}_queue_depth{{job="{j}"}}',
            "Pending items per queue",
            "<100 Green, 100-500 Yellow, >500 Red",
        ),
        lambda j, p: PanelSpec(
            "Consumer Lag by Topic",
            "timeseries",
            f'sum by (topic) ({p}_consumer_lag{{job="{j}"}})',
            "Current lag across partitions",
            "<1000 Green, 1000-10000 Yellow, >10000 Red",
        ),
        lambda j, p: PanelSpec(
            "Processing Latency P95 by Topic",
            "timeseries",
            "histogram_quantile(0.95, sum by (topic, le) "
            f'(rate({p}_processing_duration_seconds_bucket{{job="{j}"}}[5m])))',
            "95th percentile processing time",
            "<500ms Green, 500ms-2s Yellow, >2s Red",
        ),
        lambda j, p: PanelSpec(
            "Processing Latency P99",
            "gauge",
            "histogram_quantile(0.99, sum(rate("
            f'{p}_processing_duration_seconds_bucket{{job="{j}"}}[5m])) by (le))',
            "99th percentile overall",
            "<1s Green, 1-5s Yellow, >5s Red",
        ),
        lambda j, p: PanelSpec(
            "Errors by Type",
            "timeseries",
            f'sum by (error_type) (rate({p}_errors_total{{job="{j}"}}[5m]))',
            "Error breakdown",
        ),
        lambda j, p: PanelSpec(
            "Events Processed (24h)",
            "stat",
            f'sum(increase({p}_events_total{{job="{j}",status="processed"}}[24h]))',
            "Daily volume",
        ),
        lambda j, p: PanelSpec(
            "Event Rate",
            "stat",
            f'sum(rate({p}_events_total{{job="{j}"}}[5m]))',
            "Events per second",
            "Green",
        ),
        lambda j, p: PanelSpec(
            "Token Usage (Input/Output)",
            "timeseries",
            f'sum by (token_type) (rate({p}_tokens_total{{job="{j}"}}[1h]))',
            "Token consumption",
            stack=True,
        ),
        lambda j, p: PanelSpec(
            "Pending Alerts",
            "stat",
            f'sum by (alert_type, severity) ({p}_pending_alerts{{job="{j}"}})',
            "Unprocessed alerts",
            "0 Green, 1-5 Yellow, >5 Red",
        ),
        lambda j, p: PanelSpec(
            "Upstream Latency P95",
            "timeseries",
            "histogram_quantile(0.95, sum by (source, le) "
            f'(rate({p}_source_latency_seconds_bucket{{job="{j}"}}[5m])))',
            "Fetch latency by source",
            "primary <2s, replica <5s",
        ),
        lambda j, p: PanelSpec(
            "External API Health",
            "stat",
            f'{p}_external_api_health{{job="{j}"}}',
            "API health status",
            "1=Green, 0=Red",
            color_mode="background",
        ),
        lambda j, p: PanelSpec(
            "DB Connections Active",
            "timeseries",
            f'{p}_db_connections_active{{job="{j}"}}',
            "Database pool usage",
            "<80% pool Green",
            capacity=20,
        ),
        lambda j, p: PanelSpec(
            "Signal Strength Distribution",
            "heatmap",
            f'sum by (le) (rate({p}_signal_strength_bucket{{job="{j}"}}[5m]))',
            "Strength histogram",
        ),
    )


PANEL_SHAPES = _panel_shapes()


def own_panels(job: str, prefix: str, count: int) -> list[PanelSpec]:
    """Return `count` panels that cycle through every shape, numbering repeats."""
    panels = []
    for index in range(count):
        shape = PANEL_SHAPES[index % len(PANEL_SHAPES)]
        panel = shape(job, prefix)
        cycle = index // len(PANEL_SHAPES)
        if cycle:
            panel = PanelSpec(
                **{**panel.__dict__, "title": f"{panel.title} ({cycle + 1})"}
            )
        panels.append(panel)
    return panels


def service_spec(index: int, panels: int) -> ServiceSpec:
    """Return service number `index` with `panels` panels in rows of five."""
    name = service_name(index)
    prefix = name
    rows: list[RowSpec] = []
    remaining = panels
    if panels >= 4:
        health = http_health_row(name)
        # Every other service writes the row out instead of using the block.
        if index % 2 == 0:
            health = RowSpec(health.title, health.panels)
        rows.append(health)
        remaining -= len(health.panels)
    body = own_panels(name, prefix, remaining)
    for start in range(0, len(body), ROW_SIZE):
        title = ROW_TITLES[(start // ROW_SIZE) % len(ROW_TITLES)]
        cycle = start // (ROW_SIZE * len(ROW_TITLES))
        if cycle:
            title = f"{title} ({cycle + 1})"
        rows.append(RowSpec(title, tuple(body[start : start + ROW_SIZE])))
    return ServiceSpec(
        name=name,
        runtime="python" if index % 2 else "nodejs",
        uid=f"{name.replace('_', '-')}-dashboard",
        job=name,
        port=8000 + index % 1000,
        metrics=metric_catalog(prefix),
        rows=tuple(rows),
    )


def _quote(text: str) -> str:
    """Return `text` as a YAML single-quoted scalar."""
    return "'" + text.replace("'", "''") + "'"


def _number(value: float) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _metric_lines(metric: MetricSpec) -> list[str]:
    lines = [
        f"  {metric.name}:",
        f"    type: {metric.type}",
        f"    help: {_quote(metric.help)}",
    ]
    if metric.labels:
        lines.append(f"    labels: [{', '.join(metric.labels)}]")
    if metric.buckets:
        lines.append(f"    buckets: [{', '.join(_number(b) for b in metric.buckets)}]")
    return lines


def _panel_lines(panel: PanelSpec) -> list[str]:
    lines = [
        f"      - title: {_quote(panel.title)}",
        f"        description: {_quote(panel.description)}",
        f"        type: {panel.type}",
    ]
    if panel.stack:
        lines.append("        stack: true")
    if panel.color_mode:
        lines.append(f"        color_mode: {panel.color_mode}")
    lines.append(f"        query: {_quote(panel.query)}")
    if panel.thresholds is not None:
        lines.append(f'        thresholds: "{panel.thresholds}"')
    if panel.capacity is not None:
        lines.append(f"        capacity: {panel.capacity}")
    return lines


def _row_lines(row: RowSpec) -> list[str]:
    if row.block is not None:
        lines = ["  - use: http_api_health", "    with:"]
        lines.extend(f"      {key}: {value}" for key, value in row.block.items())
        return lines
    lines = [f"  - title: {_quote(row.title)}", "    panels:"]
    for panel in row.panels:
        lines.extend(_panel_lines(panel))
    return lines


def manifest_text(spec: ServiceSpec) -> str:
    """Render one service as a manifest in the layout of the real ones."""
    lines = [
        "# yaml-language-server: $schema=../schema/manifest.schema.json",
        f"service: {spec.name}",
        f"runtime: {spec.runtime}",
        "",
        "dashboard:",
        f"  uid: {spec.uid}",
        f"  title: {spec.name}",
        f"  description: Synthetic benchmark service {spec.name}",
        f"  tags: [benchmark, {spec.name}, {spec.runtime}]",
        "  folder: Benchmark",
        "",
        "scrape:",
        f"  job: {spec.job}",
        f"  targets: ['{spec.job}:{spec.port}']",
        "  path: /metrics",
        "  interval: 15s",
        "  timeout: 10s",
        "",
        "metrics:",
    ]
    for metric in spec.metrics:
        lines.extend(_metric_lines(metric))
    lines.extend(["", "rows:"])
    for row in spec.rows:
        lines.extend(_row_lines(row))
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def write_project(root: Path, services: int, panels: int) -> Path:
    """Write a project of `services` manifests into `root/services`, replacing it."""
    folder = root / "services"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for index in range(1, services + 1):
        spec = service_spec(index, panels)
        (folder / f"{spec.name}.yaml").write_text(manifest_text(spec), encoding="utf-8")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "dest", type=Path, help="project folder to write services/ into"
    )
    parser.add_argument("--services", type=int, default=10, help="number of services")
    parser.add_argument("--panels", type=int, default=30, help="panels per service")
    args = parser.parse_args()
    write_project(args.dest, args.services, args.panels)


if __name__ == "__main__":
    main()
