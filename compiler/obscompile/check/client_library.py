"""Messages for series and quantiles that a runtime's client library does not expose.

A service with a runtime gets generated instrumentation, so the series of its metrics
are those of one library (see `SeriesNaming`). prometheus_client (runtime python)
exposes a summary without quantiles. prom-client (runtime nodejs) exports no
`_created` series, and a summary's quantiles are those of PROM_CLIENT_PERCENTILES.
"""

from __future__ import annotations

import promql_parser as pp

from obscompile.check import catalog
from obscompile.model.metric import (
    PROM_CLIENT_PERCENTILES,
    Metric,
    MetricType,
    SeriesNaming,
)
from obscompile.numbers import javascript_text, number_text

# The `quantile` label values of a prom-client summary. prom-client writes each
# percentile as JavaScript's String(number) does.
PROM_CLIENT_QUANTILES = tuple(javascript_text(p) for p in PROM_CLIENT_PERCENTILES)

# The quantile of the histogram_quantile() example when the query names none.
DEFAULT_QUANTILE = "0.99"


def quantile_number(value: str) -> float | None:
    """Return the number that a `quantile` label value writes, if it is from 0 to 1."""
    try:
        number = float(value)
    except ValueError:
        return None
    return number if 0 <= number <= 1 else None


def selected_quantile(selector: pp.VectorSelector) -> str:
    """Return the quantile of the selector's `quantile="q"` matcher, or the default."""
    for value in catalog.equal_values(selector, "quantile"):
        number = quantile_number(value)
        if number is not None:
            return number_text(number)
    return DEFAULT_QUANTILE


def histogram_advice(name: str, quantile: str = DEFAULT_QUANTILE) -> str:
    """Return the advice to read the quantile from a histogram instead of a summary."""
    return (
        f'declare "{name}" as a histogram and query histogram_quantile({quantile}, '
        f"sum by (le) (rate({name}_bucket[5m])))"
    )


def missing_quantiles(metric: Metric, quantile: str) -> str | None:
    """Return the message for a query of the quantiles of a prometheus_client summary.

    Returns None for any other metric.
    """
    if (
        metric.type is not MetricType.SUMMARY
        or metric.naming is not SeriesNaming.PROMETHEUS_CLIENT
    ):
        return None
    name = metric.name
    return (
        f'summary "{name}" has no series "{name}", because prometheus_client '
        f"(runtime python) exposes a Summary only as {name}_count, {name}_sum and "
        f"{name}_created, without quantiles; {histogram_advice(name, quantile)}"
    )


def missing_created(series: str, metric: Metric) -> str | None:
    """Return the message for a query of a `_created` series that prom-client lacks.

    Returns None unless `series` is the `_created` series that prometheus_client
    would export for `metric` and `metric` belongs to a Node.js service.
    """
    if (
        metric.naming is not SeriesNaming.PROM_CLIENT
        or metric.type not in catalog.CREATED_TYPES
        or catalog.created_series(metric) != series
    ):
        return None
    return (
        f'{metric.type} "{metric.name}" has no series "{series}", because prom-client '
        "(runtime nodejs) exports no _created series; query "
        "process_start_time_seconds for the time the process started"
    )


def created_owners(series: str) -> tuple[str, ...]:
    """Return the series whose metric prometheus_client gives `series` as `_created`.

    That is `x_total` for a counter and `x_count` for a histogram or summary whose
    `_created` series is `x_created`.
    """
    base = series.removesuffix("_created")
    if base == series:
        return ()
    return (f"{base}_total", f"{base}_count")
