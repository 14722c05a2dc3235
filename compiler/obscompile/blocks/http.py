"""The HTTP API health row and the HTTP metric catalog behind it.

The catalog follows the common client-library naming: `http_requests_total` by
method, endpoint and status code, `http_request_duration_seconds` with the same
labels, and `http_requests_in_progress`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from obscompile import dsl
from obscompile.blocks.params import (
    check_job,
    check_status_regex,
    check_text,
    describe,
    rising_bands,
)
from obscompile.diagnostics import shorten
from obscompile.gotemplate import go_quote
from obscompile.load.thresholds import ThresholdError, parse_shorthand
from obscompile.model.metric import Metric
from obscompile.model.panel import Row

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
HTTP_LABELS = ("method", "endpoint", "status_code")
PANEL_KEYS = ("request_rate", "error_rate", "p95_latency", "in_flight")
ERROR_YELLOW = "1%"
ERROR_STATUS = "4..|5.."


@dsl.block("http_metrics")
def http_metrics(buckets: Sequence[float] = DEFAULT_BUCKETS) -> list[Metric]:
    """Return the HTTP request counter, duration histogram and in-flight gauge."""
    return [
        dsl.counter("http_requests_total", "Total HTTP requests handled", HTTP_LABELS),
        dsl.histogram(
            "http_request_duration_seconds",
            "HTTP request duration in seconds",
            HTTP_LABELS,
            buckets,
        ),
        dsl.gauge(
            "http_requests_in_progress", "HTTP requests currently being processed"
        ),
    ]


def _status_text(regex: str) -> str:
    """Return how a panel title names the status codes of `regex`.

    `4..|5..` gives `4xx/5xx` and `429|5..` gives `429/5xx`. A regex of another
    form, such as `5[0-9]{2}`, is named as written.
    """
    alternatives = regex.split("|")
    if all(re.fullmatch(r"[0-9.]{3}", code) for code in alternatives):
        return "/".join(code.replace(".", "x") for code in alternatives)
    return regex


def _thresholds_text(name: str, value: object) -> None:
    """Raise ParameterError unless `value` is a threshold text that parses."""
    example = '"Green" or "<100 Red, >=100 Green"'
    if not isinstance(value, str):
        raise dsl.ParameterError(
            name, f"must be a threshold text such as {example}, not {describe(value)}"
        )
    try:
        parse_shorthand(value)
    except ThresholdError as exc:
        raise dsl.ParameterError(name, f"is an invalid threshold text: {exc}") from None


@dsl.block("http_api_health")
def http_api_health(
    job: str,
    title: str = "API Health",
    error_yellow: str | None = None,
    error_red: str = "5%",
    error_status: str = ERROR_STATUS,
    p95_yellow: str | None = None,
    p95_red: str | None = None,
    p95_title: str = "P95 Latency",
    in_flight_yellow: float | None = None,
    in_flight_red: float | None = None,
    request_rate_thresholds: str | None = None,
    order: Sequence[str] = PANEL_KEYS,
) -> Row:
    """Return the request rate, error rate, p95 latency and in-flight requests of `job`.

    Latency bounds are durations (`500ms`, `1s`, or a number of seconds). Error
    bounds are percentages (`5%` or 5) of the requests whose status code matches
    the regex `error_status`, 4xx or 5xx by default, and `error_yellow` is 1% when
    not given. `order` lists the panels by key.
    """
    check_job(job)
    check_status_regex("error_status", error_status)
    for name, value in (("title", title), ("p95_title", p95_title)):
        check_text(name, value)
    if request_rate_thresholds is not None:
        _thresholds_text("request_rate_thresholds", request_rate_thresholds)
    if isinstance(order, str) or not isinstance(order, Sequence):
        raise dsl.ParameterError(
            "order", f"must be a list of panel keys, not {describe(order)}"
        )
    for index, key in enumerate(order):
        if key not in PANEL_KEYS:
            raise dsl.ParameterError(
                "order",
                f'names unknown panel "{shorten(key)}"; use {", ".join(PANEL_KEYS)}',
            )
        if key in order[:index]:
            raise dsl.ParameterError("order", f'names the panel "{shorten(key)}" twice')
    selector = f'job="{job}"'
    panels = {
        "request_rate": dsl.panel(
            "Request Rate",
            f"sum(rate(http_requests_total{{{selector}}}[5m]))",
            type="stat",
            description="Total HTTP requests/sec",
            thresholds=request_rate_thresholds,
        ),
        "error_rate": dsl.panel(
            f"Error Rate ({_status_text(error_status)})",
            f"sum(rate(http_requests_total{{{selector},"
            f"status_code=~{go_quote(error_status)}}}[5m])) "
            f"/ sum(rate(http_requests_total{{{selector}}}[5m])) * 100",
            type="gauge",
            description="Percentage of failed requests",
            thresholds=rising_bands(
                "percentage",
                ("error_yellow", error_yellow),
                ("error_red", error_red),
                default_yellow=ERROR_YELLOW,
            ),
        ),
        "p95_latency": dsl.panel(
            p95_title,
            "histogram_quantile(0.95, sum(rate("
            f"http_request_duration_seconds_bucket{{{selector}}}[5m])) by (le))",
            type="gauge",
            description="95th percentile response time",
            thresholds=rising_bands(
                "duration", ("p95_yellow", p95_yellow), ("p95_red", p95_red)
            ),
        ),
        "in_flight": dsl.panel(
            "In-Flight Requests",
            f"sum(http_requests_in_progress{{{selector}}})",
            type="stat",
            description="Currently processing requests",
            thresholds=rising_bands(
                "count",
                ("in_flight_yellow", in_flight_yellow),
                ("in_flight_red", in_flight_red),
            ),
        ),
    }
    return dsl.row(title, [panels[key] for key in order])
