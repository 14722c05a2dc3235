"""The `le` label values that client libraries write for a histogram's bucket bounds.

Prometheus 2.42 stores a label value as the scraped text, so `le="1"` selects only a
bucket that the library writes as "1". The generated instrumentation of a Python
service writes the bound 1 as "1.0" (prometheus_client), that of a Node.js service
as "1" (prom-client). Every library writes the last bucket as "+Inf".

NOTE: Prometheus 3.0 and later rewrite the `le` value of a histogram that they
scrape to the OpenMetrics text (`openmetrics_text`) before storing it, so there
prom-client's "1" is stored as "1.0". This module follows Prometheus 2.42.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable

from obscompile.derive.gofmt import go_value
from obscompile.model.metric import Metric, MetricType, SeriesNaming
from obscompile.numbers import javascript_text

# A decimal number as a person or a client library writes a bound: `1`, `1.0`, `.5`,
# `1e-05`, `1E+8`. The Infinity bound is matched by its text alone.
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def prometheus_client_text(bound: float) -> str:
    """Return the `le` text that prometheus_client writes: `1.0`, `0.1`, `1e+08`.

    prometheus_client 0.26 (utils.floatToGoString) takes Python's repr, except that a
    positive number of seven or more integer digits gets Go's exponent form, as Go's
    `strconv.FormatFloat(v, 'g', -1, 64)` writes it (`1.234567e+06`). A negative one
    keeps its repr (`-100000000.0`).
    """
    bound = float(bound)
    if math.isnan(bound):
        return "NaN"
    if math.isinf(bound):
        return "+Inf" if bound > 0 else "-Inf"
    text = repr(bound)
    point = text.find(".")
    if bound <= 0 or point <= 6:
        return text
    integer, fraction = text[:point], text[point + 1 :]
    digits = (integer + fraction).rstrip("0")
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{mantissa}e+{len(integer) - 1:02d}"


def prom_client_text(bound: float) -> str:
    """Return the `le` text that prom-client writes: `1`, `0.1`, `100000000`.

    prom-client 15.1 writes a bound into the label as JavaScript's `String(bound)`,
    and its last bucket as "+Inf".
    """
    if math.isinf(bound) and bound > 0:
        return "+Inf"
    return javascript_text(float(bound))


def go_text(bound: float) -> str:
    """Return the `le` text of Go's client_golang in the text format: `1`, `1e+08`.

    prometheus/common's expfmt (text_create.go, writeFloat) writes a bound as
    `strconv.FormatFloat(v, 'g', -1, 64)`, with `+Inf` for Infinity.
    """
    return go_value(float(bound))


def openmetrics_text(bound: float) -> str:
    """Return the `le` text of the OpenMetrics format: `1.0`, `0.1`, `1e+08`.

    prometheus/common's expfmt (openmetrics_create.go, writeOpenMetricsFloat) appends
    ".0" to Go's text when that has neither a "." nor an "e".
    """
    text = go_text(bound)
    if not math.isfinite(bound) or "." in text or "e" in text:
        return text
    return text + ".0"


# The `le` text of each library of the generated instrumentation.
LIBRARY_TEXTS: dict[SeriesNaming, Callable[[float], str]] = {
    SeriesNaming.PROMETHEUS_CLIENT: prometheus_client_text,
    SeriesNaming.PROM_CLIENT: prom_client_text,
}


def input_text(naming: SeriesNaming, bound: float) -> str:
    """Return the `le` text of `bound` for a generated test's input series.

    That is the text of the service's library, or, for a service without a runtime,
    the text format of Go's client_golang, which exporters written in Go expose.
    """
    return LIBRARY_TEXTS.get(naming, go_text)(bound)


def bound_spellings(bound: float) -> tuple[str, ...]:
    """Return each `le` text of `bound` that a known client library writes."""
    texts = (
        go_text(bound),
        openmetrics_text(bound),
        prometheus_client_text(bound),
        prom_client_text(bound),
    )
    return tuple(dict.fromkeys(texts))


def exposed_bounds(metric: Metric) -> tuple[float, ...]:
    """Return the bucket bounds of a histogram's series, +Inf last.

    Returns an empty tuple for a metric that is no histogram, lists no buckets, or
    lists buckets that instrument/buckets rejects, because its bounds are unknown.
    """
    if metric.type is not MetricType.HISTOGRAM or not metric.buckets:
        return ()
    bounds = [float(bound) for bound in metric.buckets]
    if bounds[-1] == math.inf:
        bounds.pop()
    if not bounds or not all(math.isfinite(bound) for bound in bounds):
        return ()
    if any(low >= high for low, high in itertools.pairwise(bounds)):
        return ()
    return (*bounds, math.inf)


def decimal_number(text: str) -> float | None:
    """Return the number that `text` writes in decimal notation, or None.

    "+Inf" gives Infinity. Other texts that Go's strconv.ParseFloat reads, such as
    "Inf", "0x1p0" or "NaN", give None, because no client library writes a bound so.
    """
    if text == "+Inf":
        return math.inf
    if _DECIMAL.fullmatch(text) is None:
        return None
    number = float(text)
    return number if math.isfinite(number) else None
