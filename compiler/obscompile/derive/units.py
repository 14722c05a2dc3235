"""Derive a panel's Grafana unit from its query, and convert threshold quantities to it."""

from __future__ import annotations

import math
from fractions import Fraction

import promql_parser as pp

from obscompile import promql
from obscompile.model.metric import MetricType
from obscompile.model.panel import Panel, PanelType
from obscompile.model.service import Service
from obscompile.model.threshold import TIME_SECONDS, Quantity

# Seconds per Grafana time unit id.
TIME_UNITS: dict[str, Fraction] = {
    "ns": Fraction(1, 10**9),
    "µs": Fraction(1, 10**6),
    "us": Fraction(1, 10**6),
    "ms": Fraction(1, 1000),
    "s": Fraction(1),
    "m": Fraction(60),
    "h": Fraction(3600),
    "d": Fraction(86400),
    # Grafana's duration and clock formats read values in ms, s or hundredths of a
    # second (dateTimeFormatters.ts in grafana/grafana, packages/grafana-data).
    "dtdurationms": Fraction(1, 1000),
    "dtdurations": Fraction(1),
    "dthms": Fraction(1),
    "dtdhms": Fraction(1),
    "clockms": Fraction(1, 1000),
    "clocks": Fraction(1),
    "timeticks": Fraction(1, 100),
}
PERCENT_UNITS = {"percent": Fraction(1), "percentunit": Fraction(1, 100)}

_SUFFIX_UNITS = (
    ("_seconds", "s"),
    ("_milliseconds", "ms"),
    ("_bytes", "bytes"),
    ("_ratio", "percentunit"),
    ("_percent", "percent"),
)


class UnitError(ValueError):
    """A threshold quantity cannot be expressed in the panel's unit.

    `quantity` is the quantity at fault, when the error concerns one.
    """

    def __init__(self, message: str, quantity: Quantity | None = None) -> None:
        super().__init__(message)
        self.quantity = quantity


def _base_name(metric: str) -> str:
    for suffix in ("_bucket", "_total", "_sum", "_count", "_info"):
        if metric.endswith(suffix):
            return metric.removesuffix(suffix)
    return metric


def _metric_unit(metric: str | None) -> str:
    if not metric:
        return "short"
    base = _base_name(metric)
    for suffix, unit in _SUFFIX_UNITS:
        if base.endswith(suffix):
            return unit
    return "short"


def _rate_unit(metric: str | None, per_minute: bool) -> str:
    base = _base_name(metric or "")
    if base.endswith("_bytes"):
        return "Bps" if not per_minute else "short"
    if "request" in base:
        return "reqpm" if per_minute else "reqps"
    return "opm" if per_minute else "ops"


# Grafana's time units from seconds down, each a thousandth of the one before.
_TIME_STEPS = ("s", "ms", "µs", "ns")
# The units whose values a factor leaves in the same unit.
_UNSCALED_UNITS = frozenset({"short", "none"})


def _scaled_unit(unit: str, number: float, divided: bool = False) -> str:
    """Return the unit of a value in `unit` multiplied, or `divided`, by `number`.

    A time times a power of 1000 steps between s, ms, µs and ns, and a fraction
    (`percentunit`) times 100 is a percentage. Any other factor makes a unit other
    than `short` or `none` unknown, so the result is `short`.
    """
    if unit in _UNSCALED_UNITS:
        return unit
    if not math.isfinite(number) or number == 0:
        return "short"
    factor = 1 / _exact(number) if divided else _exact(number)
    if factor == 1:
        return unit
    if unit in _TIME_STEPS:
        for power in range(1 - len(_TIME_STEPS), len(_TIME_STEPS)):
            step = _TIME_STEPS.index(unit) + power
            if factor == Fraction(1000) ** power and 0 <= step < len(_TIME_STEPS):
                return _TIME_STEPS[step]
    if (unit, factor) == ("percentunit", 100):
        return "percent"
    if (unit, factor) == ("percent", Fraction(1, 100)):
        return "percentunit"
    return "short"


def _mean_unit(node: pp.Expr) -> str | None:
    """Return the metric's unit for `rate(x_sum) / rate(x_count)`, the mean observation.

    Both sides select one histogram's or summary's series, through the same function
    (rate, irate, increase or none), so the quotient is in the unit of the observed
    values. Returns None for any other query.
    """
    if not (isinstance(node, pp.BinaryExpr) and str(node.op) == "/"):
        return None
    numerator, denominator = (
        promql.metric_names(node.lhs),
        promql.metric_names(node.rhs),
    )
    if len(set(numerator)) != 1 or len(set(denominator)) != 1:
        return None
    total, count = numerator[0], denominator[0]
    function = promql.top_function(node.lhs)
    if (
        not total.endswith("_sum")
        or count != total.removesuffix("_sum") + "_count"
        or function != promql.top_function(node.rhs)
        or function not in (None, "rate", "irate", "increase")
    ):
        return None
    return _metric_unit(total)


def _mean_per_series_unit(node: pp.Expr, service: Service | None) -> str | None:
    """Return the numerator's unit for `x / count(...)`, a mean per series.

    `sum(x_seconds) / count(x_seconds)` is a mean in seconds, not a fraction. A
    numerator without a unit of its own, as in `sum(up) / count(up)`, gives None,
    because the mean of a 0 or 1 gauge is the fraction of series where it is 1.
    """
    if not (isinstance(node, pp.BinaryExpr) and str(node.op) == "/"):
        return None
    denominator = promql.strip_parens(node.rhs)
    if not (
        isinstance(denominator, pp.AggregateExpr) and str(denominator.op) == "count"
    ):
        return None
    unit = derive_unit(node.lhs, service)
    return None if unit in _UNSCALED_UNITS else unit


# Aggregations that count series, whatever the series measure.
_COUNTING_AGGREGATIONS = frozenset({"count", "count_values", "group"})
# Aggregations whose result is in the unit of the values they aggregate.
_UNIT_KEEPING = frozenset(
    {"sum", "avg", "min", "max", "topk", "bottomk", "quantile", "stddev"}
)
# Functions that give 1 where series are present or missing, whatever the metric measures.
_PRESENCE_FUNCTIONS = frozenset({"absent", "absent_over_time", "present_over_time"})


def _counts_series(node: pp.Expr) -> bool:
    """Return True for a count of series, also under other aggregations."""
    node = promql.strip_parens(node)
    while isinstance(node, pp.AggregateExpr):
        if str(node.op) in _COUNTING_AGGREGATIONS:
            return True
        node = promql.strip_parens(node.expr)
    return False


def derive_unit(node: pp.Expr, service: Service | None = None) -> str:
    """Return the Grafana unit id that fits the query's values."""
    node = promql.strip_parens(node)
    scaled = promql.scaled_by(node)
    if scaled is not None:
        factor, inner = scaled
        if (
            factor == 100
            and promql.is_ratio(inner)
            and _mean_per_series_unit(inner, service) is None
        ):
            return "percent"
        if factor == 60 and promql.top_function(inner) in ("rate", "irate"):
            return _rate_unit(_first_metric(inner), per_minute=True)
        return _scaled_unit(derive_unit(inner, service), factor)
    divided = _divided_by(node)
    if divided is not None:
        divisor, inner = divided
        return _scaled_unit(derive_unit(inner, service), divisor, divided=True)
    mean = _mean_unit(node) or _mean_per_series_unit(node, service)
    if mean is not None:
        return mean
    if isinstance(node, pp.BinaryExpr) and str(node.op) == "/":
        # `100 * a / b` parses as `(100 * a) / b`: a percentage as well.
        numerator = promql.scaled_by(node.lhs)
        if (
            numerator is not None
            and numerator[0] == 100
            and promql.same_metrics(numerator[1], node.rhs)
        ):
            return "percent"
    if promql.is_ratio(node):
        return "percentunit"
    if isinstance(node, pp.BinaryExpr):
        if str(node.op) == "/":
            return "short"
        if promql.number_value(node.lhs) is not None:
            return derive_unit(node.rhs, service)
        if str(node.op) in ("+", "-") and (_is_time(node.lhs) or _is_time(node.rhs)):
            return _time_offset_unit(node, service)
        return derive_unit(node.lhs, service)
    if _counts_series(node):
        return "short"
    if isinstance(node, pp.AggregateExpr) and str(node.op) in _UNIT_KEEPING:
        # `min by (instance) (expiry - time())` is in the unit of what it aggregates.
        return derive_unit(node.expr, service)
    function = promql.top_function(node)
    metric = _first_metric(node)
    if function in _PRESENCE_FUNCTIONS:
        return "short"
    if function == "histogram_quantile":
        return _metric_unit(metric)
    if function in ("rate", "irate"):
        return _rate_unit(metric, per_minute=False)
    if function in ("increase", "changes", "resets", "count_over_time"):
        return "short"
    if service is not None and metric:
        entry = service.metric(metric)
        if entry is not None and entry.type is MetricType.INFO:
            return "none"
    return _metric_unit(metric)


def _time_offset_unit(node: pp.BinaryExpr, service: Service | None) -> str:
    """Return the unit of `time() - x`, `x - time()` or a sum with time().

    time() is in seconds, so `time() - x_timestamp_seconds` is an age in s, and
    `probe_ssl_earliest_cert_expiry - time()` a time left in s, although that
    metric's name gives no unit. timestamp() is in seconds whatever its argument's
    unit. Another side with a unit of its own, such as ms, keeps it.
    """
    other = node.rhs if _is_time(node.lhs) else node.lhs
    if promql.top_function(other) == "timestamp":
        return "s"
    unit = derive_unit(other, service)
    return "s" if unit in _UNSCALED_UNITS else unit


def _is_time(node: pp.Expr) -> bool:
    """Return True for `time()` and `vector(time())`."""
    node = promql.strip_parens(node)
    if promql.top_function(node) == "vector" and isinstance(node, pp.Call):
        return bool(node.args) and promql.top_function(node.args[0]) == "time"
    return promql.top_function(node) == "time"


def _divided_by(node: pp.Expr) -> tuple[float, pp.Expr] | None:
    """Return `(divisor, inner)` for `inner / divisor`, where the divisor is a number."""
    if not (isinstance(node, pp.BinaryExpr) and str(node.op) == "/"):
        return None
    divisor = promql.number_value(node.rhs)
    if divisor is None or promql.number_value(node.lhs) is not None:
        return None
    return divisor, node.lhs


def _first_metric(node: pp.Expr) -> str | None:
    names = promql.metric_names(node)
    return names[0] if names else None


def panel_unit(panel: Panel, service: Service | None = None) -> str:
    """Return the panel's unit: the manifest's, or one derived from the query."""
    if panel.unit:
        return panel.unit
    if panel.thresholds is not None and panel.thresholds.mappings:
        return "none"
    try:
        node = promql.parse(panel.query)
    except promql.QueryError:
        return "short"
    if panel.type is PanelType.HEATMAP:
        # A heatmap's values are bucket counts; its unit is that of the `le` axis.
        return _metric_unit(_first_metric(node))
    return derive_unit(node, service)


def _exact(number: float) -> Fraction:
    return Fraction(repr(number))


def convert(quantity: Quantity, unit: str, capacity: float | None = None) -> float:
    """Express a threshold quantity in the panel's unit.

    Percentages of a capacity resolve against `capacity`; durations convert between
    time units; bare numbers are already in the panel's unit.
    """
    number = _exact(quantity.number)
    if quantity.unit is None:
        return float(number)
    if quantity.unit == "%":
        if capacity is not None:
            return float(number / 100 * _exact(capacity))
        if unit not in PERCENT_UNITS:
            raise UnitError(
                f"thresholds are in % but the query scale is unknown (unit {unit}); "
                "set unit: percent (0-100) or percentunit (0-1)",
                quantity,
            )
        return float(number * PERCENT_UNITS[unit])
    if quantity.unit in TIME_SECONDS:
        if unit not in TIME_UNITS:
            raise UnitError(
                f"threshold {quantity} is a duration, but the panel's unit is {unit}; "
                "set unit: to a time unit such as s or ms",
                quantity,
            )
        return float(number * TIME_SECONDS[quantity.unit] / TIME_UNITS[unit])
    raise UnitError(f"unknown threshold unit {quantity.unit!r}", quantity)
