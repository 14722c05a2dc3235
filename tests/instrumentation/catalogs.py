"""Metric catalogs for the instrumentation tests.

The tests load this file by path, and so does the subprocess that renders under
another PYTHONHASHSEED, so it must not depend on how pytest imports test modules.
"""

from __future__ import annotations

import keyword
import math

import attrs

from obscompile.instrument.naming import (
    PYTHON_BUILTINS,
    PYTHON_MODULE_NAMES,
    TYPESCRIPT_RESERVED,
)
from obscompile.model import Metric, MetricType, ScrapeJob
from obscompile.model.service import Runtime, Service

COUNTER = MetricType.COUNTER
GAUGE = MetricType.GAUGE
HISTOGRAM = MetricType.HISTOGRAM
SUMMARY = MetricType.SUMMARY
INFO = MetricType.INFO

# Help text that breaks naive quoting in Python and TypeScript, in a `/* */` comment,
# in a template literal and in a Jinja template.
TRICKY_HELP = (
    "Quotes \" and ', a backslash \\, a newline\nand a tab\t; non-ASCII "
    "\u00e9\u00fc\u20ac\U0001f600 and U+2028 \u2028; */ ${x} `tick` {{ $labels.job }} "
    "{% raw %} </script>"
)

KITCHEN_SINK = (
    Metric(
        "http_requests_total", COUNTER, "Total HTTP requests", ("method", "status_code")
    ),
    Metric("jobs", COUNTER, "Jobs processed, declared without _total"),
    Metric("queue_depth", GAUGE, "Messages waiting", ("queue",)),
    Metric(
        "request_duration_seconds",
        HISTOGRAM,
        "Request latency",
        ("endpoint",),
        (0.01, 0.05, 0.1, 0.5, 1, 2.5),
    ),
    Metric("batch_size", HISTOGRAM, "Batch size with the library's default buckets"),
    Metric("retries_total", HISTOGRAM, "A histogram whose name ends in _total"),
    Metric("payload_bytes", SUMMARY, "Payload size", ("direction",)),
    Metric("build", INFO, "Build information"),
    Metric("deployment", INFO, "Deployment information", ("region", "version")),
    Metric("tricky_help", GAUGE, TRICKY_HELP),
    Metric("no_help", GAUGE),
    Metric("class", GAUGE, "A Python keyword with a keyword label", ("class",)),
    Metric("delete", GAUGE, "A TypeScript reserved word"),
    Metric("id", GAUGE, "A Python builtin"),
    Metric("registry", GAUGE, "The name of the Python module's registry"),
    Metric("register", GAUGE, "The name of the TypeScript module's registry"),
    Metric("httpRequestsInFlight", GAUGE, "A camelCase metric name"),
    Metric(":rpc:latency_seconds", HISTOGRAM, "Leading colon", (), (0.1, 1, math.inf)),
    Metric("__name__", GAUGE, "A dunder name"),
)

# Every name that the generator has to rename in one language or the other.
PYTHON_RESERVED_NAMES = sorted(
    set(keyword.kwlist)
    | set(keyword.softkwlist)
    | PYTHON_BUILTINS
    | PYTHON_MODULE_NAMES
    | {"__name__", "__doc__", "__file__"}
)
TYPESCRIPT_RESERVED_NAMES = sorted(TYPESCRIPT_RESERVED)

# notification_server's catalog: Kafka consumption, processing time, delivery, errors,
# low-risk events and batch sizes.
NOTIFICATION_SERVER = Service(
    name="notification_server",
    title="Notification Server",
    dashboard=None,
    runtime=Runtime.NODEJS,
    scrape_jobs=(ScrapeJob("notification_server", ("notification_server:9101",)),),
    metrics=(
        Metric(
            "notification_kafka_messages_total",
            COUNTER,
            "Total Kafka messages consumed",
            ("topic", "status"),
        ),
        Metric(
            "notification_kafka_lag",
            GAUGE,
            "Consumer lag by topic and partition",
            ("topic", "partition"),
        ),
        Metric(
            "notification_processing_duration_seconds",
            HISTOGRAM,
            "Time to process a Kafka message",
            ("topic",),
            (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        ),
        Metric(
            "notification_delivery_total",
            COUNTER,
            "Notifications delivered by channel",
            ("channel", "status"),
        ),
        Metric(
            "notification_errors_total",
            COUNTER,
            "Total notification processing errors",
            ("topic", "error_type"),
        ),
        Metric(
            "notification_low_risk_events_total",
            COUNTER,
            "Low-risk events processed",
            ("event_type", "status"),
        ),
        Metric(
            "notification_batch_size",
            HISTOGRAM,
            "Size of processed message batches",
            ("topic",),
            (1, 5, 10, 25, 50, 100, 250, 500),
        ),
    ),
)

# alphacopilot_server's catalog: workflow runs and iterations, LLM calls, factor
# validation, backtests, database queries and the service's info metric.
ALPHACOPILOT_SERVER = Service(
    name="alphacopilot_server",
    title="AlphaCopilot Server",
    dashboard=None,
    runtime=Runtime.PYTHON,
    scrape_jobs=(ScrapeJob("alphacopilot_server", ("alphacopilot_server:8069",)),),
    metrics=(
        Metric(
            "alphacopilot_runs_total",
            COUNTER,
            "Total AlphaCopilot workflow runs",
            ("status",),
        ),
        Metric(
            "alphacopilot_run_duration_seconds",
            HISTOGRAM,
            "Workflow run duration",
            ("workflow_type",),
            (10, 30, 60, 120, 300, 600, 1200, 1800, 3600),
        ),
        Metric(
            "alphacopilot_concurrent_runs",
            GAUGE,
            "Number of concurrent workflow runs",
        ),
        Metric(
            "alphacopilot_iterations_total",
            COUNTER,
            "Total workflow iterations",
            ("iteration_type", "status"),
        ),
        Metric(
            "alphacopilot_iteration_duration_seconds",
            HISTOGRAM,
            "Duration of each iteration",
            ("iteration_type",),
            (5, 10, 30, 60, 120, 300, 600),
        ),
        Metric(
            "alphacopilot_llm_requests_total",
            COUNTER,
            "Total LLM API requests",
            ("model", "endpoint", "status"),
        ),
        Metric(
            "alphacopilot_llm_latency_seconds",
            HISTOGRAM,
            "LLM API response latency",
            ("model", "endpoint"),
            (0.5, 1, 2, 5, 10, 20, 30, 60),
        ),
        Metric(
            "alphacopilot_llm_tokens_total",
            COUNTER,
            "Total LLM tokens used",
            ("model", "token_type"),
        ),
        Metric(
            "alphacopilot_factor_validations_total",
            COUNTER,
            "Total factor expression validations",
            ("status",),
        ),
        Metric(
            "alphacopilot_factors_generated_total",
            COUNTER,
            "Total alpha factors generated",
            ("factor_type",),
        ),
        Metric(
            "alphacopilot_backtest_jobs_total",
            COUNTER,
            "Total backtest jobs",
            ("status",),
        ),
        Metric(
            "alphacopilot_backtest_duration_seconds",
            HISTOGRAM,
            "Backtest execution duration",
            (),
            (30, 60, 120, 300, 600, 1200, 1800),
        ),
        Metric(
            "alphacopilot_db_queries_total",
            COUNTER,
            "Total database queries",
            ("operation", "table"),
        ),
        Metric(
            "alphacopilot_service",
            INFO,
            "AlphaCopilot service information",
        ),
    ),
)

PLATFORM_SERVICES = (NOTIFICATION_SERVER, ALPHACOPILOT_SERVER)


def demo_service(
    runtime: Runtime,
    metrics: tuple[Metric, ...],
    targets: tuple[str, ...] = ("demo:9101",),
    metrics_path: str = "/metrics",
) -> Service:
    """Build a service named `demo` with one scrape job, or none without `targets`."""
    jobs = (ScrapeJob("demo", targets, metrics_path=metrics_path),) if targets else ()
    return Service(
        name="demo",
        title="Demo",
        dashboard=None,
        scrape_jobs=jobs,
        metrics=metrics,
        runtime=runtime,
    )


def gauges(names: list[str]) -> tuple[Metric, ...]:
    """Return a label-free gauge for each name."""
    return tuple(Metric(name, GAUGE, f"Gauge named {name}") for name in names)


def corpus() -> list[Service]:
    """Return every catalog above as a service, in both runtimes where it fits both."""
    services = [
        demo_service(runtime, KITCHEN_SINK)
        for runtime in (Runtime.PYTHON, Runtime.NODEJS)
    ]
    services.append(demo_service(Runtime.PYTHON, gauges(PYTHON_RESERVED_NAMES)))
    services.append(demo_service(Runtime.NODEJS, gauges(TYPESCRIPT_RESERVED_NAMES)))
    services.extend(PLATFORM_SERVICES)
    return [attrs.evolve(s, name=f"{s.name}_{i}") for i, s in enumerate(services)]
