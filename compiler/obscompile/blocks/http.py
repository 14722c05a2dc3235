"""The HTTP API health row and the HTTP metric catalog behind it.

The catalog follows the common client-library naming: `http_requests_total` by
method, endpoint and status code, `http_request_duration_seconds` with the same
labels, and `http_requests_in_progress`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

from obscompile import dsl
from obscompile.load.thresholds import (
    NumberError,
    ThresholdError,
    comparable,
    parse_shorthand,
)
from obscompile.load.validate import integer_problem
from obscompile.model.metric import Metric
from obscompile.model.panel import Row
from obscompile.numbers import number_text

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
HTTP_LABELS = ("method", "endpoint", "status_code")
PANEL_KEYS = ("request_rate", "error_rate", "p95_latency", "in_flight")
ERROR_YELLOW = "1%"


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


def _plain(bound: str | float) -> str:
    """Return a bound as threshold shorthand reads it (`0.5`, `1e300`).

    A float gets the shortest text that reads back as the same double, in exponent
    notation only when very large or very small.
    """
    if isinstance(bound, float):
        return number_text(bound)
    return str(bound)


# The name and an example of each kind of bound.
_KINDS = {
    "percentage": ("a percentage", '"5%"'),
    "duration": ("a duration", '"500ms"'),
    "count": ("a number", "100"),
}


def _kind_of(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"the number {value!r}"
    if value is None:
        return "null"
    kinds = {bool: "a boolean", list: "a list", dict: "a mapping", str: "a string"}
    return kinds.get(type(value), f"a {type(value).__name__} value")


def _text(name: str, value: object) -> None:
    """Raise ParameterError unless `value` is a non-empty string."""
    if not isinstance(value, str):
        raise dsl.ParameterError(name, f"must be a string, not {_kind_of(value)}")
    if not value.strip():
        raise dsl.ParameterError(name, "must not be empty")


def _job(value: object) -> str:
    """Return a job name that a PromQL matcher can hold, or raise ParameterError."""
    _text("job", value)
    assert isinstance(value, str)
    if '"' in value or "\\" in value or "\n" in value:
        raise dsl.ParameterError(
            "job", f"is {value!r}; a job name has no quotes, backslashes or line breaks"
        )
    return value


def _thresholds_text(name: str, value: object) -> None:
    """Raise ParameterError unless `value` is a threshold text that parses."""
    example = '"Green" or "<100 Red, >=100 Green"'
    if not isinstance(value, str):
        raise dsl.ParameterError(
            name, f"must be a threshold text such as {example}, not {_kind_of(value)}"
        )
    try:
        parse_shorthand(value)
    except ThresholdError as exc:
        raise dsl.ParameterError(name, f"is an invalid threshold text: {exc}") from None


def _bound(name: str, value: object, kind: str) -> tuple[str, Fraction | float] | None:
    """Return a bound as threshold shorthand and as a comparable number.

    A percentage is a number with or without `%`. A duration is a number of seconds
    or one with a time unit, and a count is a plain number. The panel's values are
    never below 0, so each bound is above 0. Raises ParameterError for any other
    value.
    """
    if value is None:
        return None
    noun, example = _KINDS[kind]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise dsl.ParameterError(
            name, f"must be {noun} such as {example}, not {_kind_of(value)}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise dsl.ParameterError(name, f"is {value}, which is not a finite number")
    if isinstance(value, int):
        problem = integer_problem(value)
        if problem is not None:
            raise dsl.ParameterError(name, problem)
    text = _plain(value)
    try:
        quantity = parse_shorthand(f">{text} Red").bands[-1].lower
    except NumberError as exc:
        # The text is a number written in a form that is not read; the error gives
        # the form to write.
        raise dsl.ParameterError(name, f'is "{text}"; {exc}') from None
    except ThresholdError:
        quantity = None
    if quantity is None or not _fits(kind, quantity.unit):
        raise dsl.ParameterError(
            name, f'is "{text}", which is not {noun}; write {noun} such as {example}'
        )
    if kind == "percentage" and quantity.number > 100:
        raise dsl.ParameterError(
            name, f"is {text}, above 100%, which no part of the requests can reach"
        )
    if not quantity.number > 0:
        colour = "yellow" if name.endswith("_yellow") else "red"
        raise dsl.ParameterError(
            name,
            f"is {text}, which would colour every value {colour}; write a bound "
            "above 0",
        )
    return text, comparable(quantity, 0.0)


def _fits(kind: str, unit: str | None) -> bool:
    if kind == "percentage":
        return unit in (None, "%")
    if kind == "duration":
        return unit != "%"
    return unit is None


def _bands(
    kind: str,
    yellow: tuple[str, object],
    red: tuple[str, object],
    default_yellow: str | None = None,
) -> str | None:
    """Return rising shorthand: green below yellow, yellow up to red, red from red.

    `yellow` and `red` are each a parameter's name and value. A yellow value of None
    takes `default_yellow`, and a problem with that default is reported at the red
    bound, which the caller wrote.
    """
    yellow_name, yellow_value = yellow
    red_name, red_value = red
    yellow_given = yellow_value is not None
    low = _bound(yellow_name, yellow_value if yellow_given else default_yellow, kind)
    high = _bound(red_name, red_value, kind)
    if high is None:
        if yellow_given:
            raise dsl.ParameterError(
                yellow_name, f"needs {red_name}, the bound where the panel turns red"
            )
        return None
    if low is None:
        return f"<{high[0]} Green, >{high[0]} Red"
    if low[1] >= high[1]:
        if not yellow_given:
            raise dsl.ParameterError(
                red_name,
                f"is {high[0]}, which must be above {yellow_name} ({low[0]} by "
                f"default); set {yellow_name} below it",
            )
        raise dsl.ParameterError(
            yellow_name, f"is {low[0]}, which must be below {red_name} ({high[0]})"
        )
    return f"<{low[0]} Green, {low[0]}-{high[0]} Yellow, >{high[0]} Red"


@dsl.block("http_api_health")
def http_api_health(
    job: str,
    title: str = "API Health",
    error_yellow: str | None = None,
    error_red: str = "5%",
    p95_yellow: str | None = None,
    p95_red: str | None = None,
    p95_title: str = "P95 Latency",
    in_flight_yellow: float | None = None,
    in_flight_red: float | None = None,
    request_rate_thresholds: str | None = None,
    order: Sequence[str] = PANEL_KEYS,
) -> Row:
    """Return the request rate, error rate, p95 latency and in-flight requests of `job`.

    Latency bounds are durations (`500ms`, `1s`, or a number of seconds); error
    bounds are percentages of requests that returned 4xx or 5xx (`5%` or 5), and
    `error_yellow` is 1% when not given. `order` lists the panels by key.
    """
    _job(job)
    for name, value in (("title", title), ("p95_title", p95_title)):
        _text(name, value)
    if request_rate_thresholds is not None:
        _thresholds_text("request_rate_thresholds", request_rate_thresholds)
    if isinstance(order, str) or not isinstance(order, Sequence):
        raise dsl.ParameterError(
            "order", f"must be a list of panel keys, not {_kind_of(order)}"
        )
    for index, key in enumerate(order):
        if key not in PANEL_KEYS:
            raise dsl.ParameterError(
                "order", f'names unknown panel "{key}"; use {", ".join(PANEL_KEYS)}'
            )
        if key in order[:index]:
            raise dsl.ParameterError("order", f'names the panel "{key}" twice')
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
            "Error Rate (4xx/5xx)",
            f'sum(rate(http_requests_total{{{selector},status_code=~"4..|5.."}}[5m])) '
            f"/ sum(rate(http_requests_total{{{selector}}}[5m])) * 100",
            type="gauge",
            description="Percentage of failed requests",
            thresholds=_bands(
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
            thresholds=_bands(
                "duration", ("p95_yellow", p95_yellow), ("p95_red", p95_red)
            ),
        ),
        "in_flight": dsl.panel(
            "In-Flight Requests",
            f"sum(http_requests_in_progress{{{selector}}})",
            type="stat",
            description="Currently processing requests",
            thresholds=_bands(
                "count",
                ("in_flight_yellow", in_flight_yellow),
                ("in_flight_red", in_flight_red),
            ),
        ),
    }
    return dsl.row(title, [panels[key] for key in order])
