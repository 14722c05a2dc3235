"""Derive a panel's Grafana unit from its query, and convert threshold quantities to it."""

from __future__ import annotations

import math
from fractions import Fraction

import promql_parser as pp

from obscompile import promql, trampoline
from obscompile.diagnostics import shorten
from obscompile.model.metric import MetricType
from obscompile.model.panel import Panel, PanelType
from obscompile.model.service import Service
from obscompile.model.threshold import TIME_SECONDS, Quantity
from obscompile.trampoline import Recursive

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


class UnitMismatch(UnitError):
    """A threshold in % or a time unit, on a panel whose unit is of another kind.

    The message states the mismatch alone. How to fix it depends on whether the
    query fixes its unit, so check/unit_advice.py builds the advice from the panel.
    """

    def __init__(self, quantity: Quantity, unit: str) -> None:
        self.kind = "a percentage" if quantity.unit == "%" else "a duration"
        super().__init__(
            f"threshold {quantity} is {self.kind}, which unit {shorten(unit)} cannot "
            "express",
            quantity,
        )
        self.unit = unit


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


def _rate_unit(metric: str | None, service: Service | None) -> str:
    """Return the unit of `rate(metric[...])`, a change per second."""
    base = _base_name(metric or "")
    if _is_counter(metric, service) and _metric_unit(base) in TIME_UNITS:
        # A counter of seconds grows by the time something was busy, so its rate
        # is the fraction of each second it was busy (node_cpu_seconds_total). A
        # sum over several CPUs exceeds 1, which Grafana shows as more than 100%.
        # Other time units give a multiple of that fraction.
        return "percentunit" if _metric_unit(base) == "s" else "short"
    if base.endswith("_bytes"):
        return "Bps"
    if "request" in base:
        return "reqps"
    return "ops"


def _is_counter(metric: str | None, service: Service | None) -> bool:
    """Return True for a `_total` series, or for a series the catalog declares a counter.

    An exporter's counter may be read without `_total` (see `SeriesNaming`).
    """
    if not metric:
        return False
    if metric.endswith("_total"):
        return True
    entry = service.metric(metric) if service is not None else None
    return entry is not None and entry.type is MetricType.COUNTER


# Grafana's time units from seconds down, each a thousandth of the one before.
_TIME_STEPS = ("s", "ms", "µs", "ns")
# The units whose values a factor leaves in the same unit.
_UNSCALED_UNITS = frozenset({"short", "none"})
# Units that a factor turns into another unit: a fraction times 100 is a percentage,
# and a rate per second times 60 a rate per minute.
_RESCALED_UNITS = {
    ("percentunit", Fraction(100)): "percent",
    ("percent", Fraction(1, 100)): "percentunit",
    ("ops", Fraction(60)): "opm",
    ("opm", Fraction(1, 60)): "ops",
    ("reqps", Fraction(60)): "reqpm",
    ("reqpm", Fraction(1, 60)): "reqps",
}


def _scaled_unit(unit: str, factor: Fraction | None) -> str:
    """Return the unit of a value in `unit` multiplied by `factor`.

    A time times a power of 1000 steps between s, ms, µs and ns, and a unit and factor
    of `_RESCALED_UNITS` give the unit listed there. Any other factor makes a unit
    other than `short` or `none` unknown, so the result is `short`. A factor of None
    stands for 0, an infinity or NaN.
    """
    if unit in _UNSCALED_UNITS:
        return unit
    if factor is None:
        return "short"
    if factor == 1:
        return unit
    if unit in _TIME_STEPS:
        for power in range(1 - len(_TIME_STEPS), len(_TIME_STEPS)):
            step = _TIME_STEPS.index(unit) + power
            if factor == Fraction(1000) ** power and 0 <= step < len(_TIME_STEPS):
                return _TIME_STEPS[step]
    return _RESCALED_UNITS.get((unit, factor), "short")


def _split_factor(node: pp.Expr) -> tuple[Fraction | None, pp.Expr]:
    """Return `(factor, inner)` for a query that multiplies or divides `inner` by numbers.

    `100 * x`, `x * 100`, `(x / 10) * 1000` and `x / 0.01` all give 100 and `x`. A
    query without such a factor gives 1 and itself. The factor is None where a
    number is 0, infinite or NaN, whose product has no unit.
    """
    factor: Fraction | None = Fraction(1)
    node = promql.strip_parens(node)
    while isinstance(node, pp.BinaryExpr) and str(node.op) in ("*", "/"):
        divides = str(node.op) == "/"
        left, right = promql.number_value(node.lhs), promql.number_value(node.rhs)
        if right is not None and left is None:
            number, node = right, node.lhs
        elif left is not None and right is None and not divides:
            number, node = left, node.rhs
        else:
            break
        node = promql.strip_parens(node)
        if factor is None or not math.isfinite(number) or number == 0:
            factor = None
        elif divides:
            factor /= _exact(number)
        else:
            factor *= _exact(number)
    return factor, node


def _product(a: Fraction | None, b: Fraction | None) -> Fraction | None:
    return None if a is None or b is None else a * b


def _mean_unit(numerator: pp.Expr, denominator: pp.Expr) -> str | None:
    """Return the metric's unit for `rate(x_sum) / rate(x_count)`, the mean observation.

    Both sides select one histogram's or summary's series, through the same function
    (rate, irate, increase or none), so the quotient is in the unit of the observed
    values. Returns None for any other quotient.
    """
    totals, counts = promql.metric_names(numerator), promql.metric_names(denominator)
    if len(set(totals)) != 1 or len(set(counts)) != 1:
        return None
    total, count = totals[0], counts[0]
    function = promql.top_function(numerator)
    if (
        not total.endswith("_sum")
        or count != total.removesuffix("_sum") + "_count"
        or function != promql.top_function(denominator)
        or function not in (None, "rate", "irate", "increase")
    ):
        return None
    return _metric_unit(total)


def _quotient_unit(
    node: pp.BinaryExpr, service: Service | None
) -> Recursive[tuple[str, Fraction | None]]:
    """Return the unit and the factor of `a / b`, where neither side is a number.

    A number that scales either side scales the quotient, so `100 * a / b`, which
    parses as `(100 * a) / b`, reads as `100 * (a / b)`. `sum(x_seconds) /
    count(x_seconds)` is a mean per series, in seconds. A numerator without a unit
    of its own, as in `sum(up) / count(up)`, makes a fraction instead, because the
    mean of a 0 or 1 gauge is the fraction of series where it is 1.
    """
    numerator_unit, numerator_factor = yield _unscaled_unit(node.lhs, service)
    _, denominator_factor = yield _unscaled_unit(node.rhs, service)
    numerator = _split_factor(node.lhs)[1]
    denominator = _split_factor(node.rhs)[1]
    unit = _mean_unit(numerator, denominator)
    if (
        unit is None
        and _is_count(denominator)
        and numerator_unit not in _UNSCALED_UNITS
    ):
        unit = numerator_unit
    if unit is None:
        # Both sides select the same metrics: a fraction of a whole.
        same = promql.same_metrics(numerator, denominator)
        unit = "percentunit" if same else "short"
    if denominator_factor is None:
        return unit, None
    return unit, _product(numerator_factor, 1 / denominator_factor)


def _is_count(node: pp.Expr) -> bool:
    node = promql.strip_parens(node)
    return isinstance(node, pp.AggregateExpr) and str(node.op) == "count"


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
    return trampoline.run(_derive_unit(node, service))


def _derive_unit(node: pp.Expr, service: Service | None) -> Recursive[str]:
    unit, factor = yield _unscaled_unit(node, service)
    return _scaled_unit(unit, factor)


def _unscaled_unit(
    node: pp.Expr, service: Service | None
) -> Recursive[tuple[str, Fraction | None]]:
    """Return the unit of the query's values before numbers scale them, and the scale.

    The factors are collected wherever they sit: at the top, on either side of a
    division, or under an aggregation that keeps the unit (`sum(x * 100)`). So the
    place of a factor never changes the unit read.
    """
    factor, node = _split_factor(node)
    if isinstance(node, pp.BinaryExpr) and str(node.op) == "/":
        unit, inner_factor = yield _quotient_unit(node, service)
        return unit, _product(factor, inner_factor)
    if (
        isinstance(node, pp.AggregateExpr)
        and str(node.op) in _UNIT_KEEPING
        and not _counts_series(node)
    ):
        # `min by (instance) (expiry - time())` is in the unit of what it aggregates.
        unit, inner_factor = yield _unscaled_unit(node.expr, service)
        return unit, _product(factor, inner_factor)
    return (yield _plain_unit(node, service)), factor


def _plain_unit(node: pp.Expr, service: Service | None) -> Recursive[str]:
    """Return the unit of a query that no number scales and that divides nothing."""
    if isinstance(node, pp.BinaryExpr):
        if promql.number_value(node.lhs) is not None:
            return (yield _derive_unit(node.rhs, service))
        if str(node.op) in ("+", "-") and (_is_time(node.lhs) or _is_time(node.rhs)):
            return (yield _time_offset_unit(node, service))
        return (yield _derive_unit(node.lhs, service))
    if _counts_series(node):
        return "short"
    function = promql.top_function(node)
    metric = _first_metric(node)
    if function in _PRESENCE_FUNCTIONS:
        return "short"
    if function == "histogram_quantile":
        return _metric_unit(metric)
    if function in ("rate", "irate"):
        return _rate_unit(metric, service)
    if function in ("increase", "changes", "resets", "count_over_time"):
        return "short"
    if service is not None and metric:
        entry = service.metric(metric)
        if entry is not None and entry.type is MetricType.INFO:
            return "none"
    return _metric_unit(metric)


def _time_offset_unit(node: pp.BinaryExpr, service: Service | None) -> Recursive[str]:
    """Return the unit of `time() - x`, `x - time()` or a sum with time().

    time() is in seconds, so `time() - x_timestamp_seconds` is an age in s, and
    `probe_ssl_earliest_cert_expiry - time()` a time left in s, although that
    metric's name gives no unit. timestamp() is in seconds whatever its argument's
    unit. Another side with a unit of its own, such as ms, keeps it.
    """
    other = node.rhs if _is_time(node.lhs) else node.lhs
    if promql.top_function(other) == "timestamp":
        return "s"
    unit = yield _derive_unit(other, service)
    return "s" if unit in _UNSCALED_UNITS else unit


def _is_time(node: pp.Expr) -> bool:
    """Return True for `time()` and `vector(time())`."""
    node = promql.strip_parens(node)
    if promql.top_function(node) == "vector" and isinstance(node, pp.Call):
        return bool(node.args) and promql.top_function(node.args[0]) == "time"
    return promql.top_function(node) == "time"


def _first_metric(node: pp.Expr) -> str | None:
    names = promql.metric_names(node)
    return names[0] if names else None


# Units that derive_unit reads from a word of the metric's name, such as `request`,
# which the metric's values need not be in. derive_unit gives them to rates alone, so
# each is a rate per second (ops, reqps) or per minute (opm, reqpm) of something.
_GUESSED_UNITS = frozenset({"ops", "opm", "reqps", "reqpm"})
# Functions whose values count samples, changes or missing series, whatever the
# metric measures.
_COUNTING_FUNCTIONS = frozenset(
    {"changes", "resets", "count_over_time", *_PRESENCE_FUNCTIONS}
)
# Functions whose result is in the unit of their vector or range vector argument.
_UNIT_KEEPING_FUNCTIONS = frozenset(
    {
        "abs",
        "ceil",
        "floor",
        "round",
        "clamp",
        "clamp_min",
        "clamp_max",
        "label_replace",
        "label_join",
        "sort",
        "sort_desc",
        "delta",
        "idelta",
        "predict_linear",
        "holt_winters",
        "avg_over_time",
        "min_over_time",
        "max_over_time",
        "sum_over_time",
        "last_over_time",
        "quantile_over_time",
        "stddev_over_time",
    }
)


def certain_unit(node: pp.Expr, service: Service | None = None) -> str | None:
    """Return the unit that derive_unit gives the query, where the query fixes it.

    derive_unit falls back on `short`, reads a unit from the metric's name through
    functions that change it, such as `deriv`, and reads `reqps` from the word
    `request`. This returns None for each of those guesses. It returns a unit where
    the metric's name gives one (`_seconds`, `_bytes`, `_ratio`) through functions
    and aggregations that keep it, for a part of a metric over the whole, and for a
    count of series, changes or samples (`short`).
    """
    unit = derive_unit(node, service)
    if unit in _UNSCALED_UNITS:
        # A count scaled by a number, such as `count(x) * 100 / 4`, is no count.
        return unit if unit == "short" and _counts(node) else None
    if unit in _GUESSED_UNITS:
        return None
    return unit if trampoline.run(_fixes_unit(node, service)) else None


def _counts(node: pp.Expr) -> bool:
    """Return True for a count of series, changes or samples, unscaled."""
    while True:
        node = promql.strip_parens(node)
        if isinstance(node, pp.AggregateExpr):
            if str(node.op) in _COUNTING_AGGREGATIONS:
                return True
            if str(node.op) not in _UNIT_KEEPING:
                return False
            node = node.expr
        elif isinstance(node, pp.Call):
            return node.func.name in _COUNTING_FUNCTIONS
        elif isinstance(node, pp.BinaryExpr) and _filters(node):
            node = _filtered_side(node)
        else:
            return False


def _filters(node: pp.BinaryExpr) -> bool:
    """Return True for a comparison without `bool`, `and` or `unless`.

    Each keeps the values of one side's series and drops the others.
    """
    operator = str(node.op)
    if operator in ("and", "unless"):
        return True
    returns_bool = node.modifier is not None and node.modifier.return_bool
    return operator in promql.COMPARISON_OPERATORS and not returns_bool


def _filtered_side(node: pp.BinaryExpr) -> pp.Expr:
    """Return the side whose values a filter keeps: the right of `5 < x`, else the left."""
    if promql.number_value(node.lhs) is not None:
        return node.rhs
    return node.lhs


def _fixes_unit(node: pp.Expr, service: Service | None) -> Recursive[bool]:
    """Return True where derive_unit reads the query's unit from facts, not a guess.

    Call it only for a query whose derived unit is neither `short` nor `none`.
    """
    factor, node = _split_factor(node)
    if factor is None:
        return False
    if isinstance(node, pp.BinaryExpr) and str(node.op) == "/":
        return (yield _quotient_fixes_unit(node, service))
    if isinstance(node, pp.AggregateExpr):
        keeps = str(node.op) in _UNIT_KEEPING and not _counts_series(node)
        return keeps and (yield _fixes_unit(node.expr, service))
    if isinstance(node, pp.BinaryExpr):
        return (yield _operation_fixes_unit(node, service))
    if isinstance(node, pp.Call):
        return (yield _call_fixes_unit(node, service))
    if isinstance(node, pp.UnaryExpr):
        return (yield _same_unit(node, node.expr, service))
    return isinstance(node, pp.VectorSelector)


def _same_unit(
    node: pp.Expr, part: pp.Expr, service: Service | None
) -> Recursive[bool]:
    """Return True when `part` fixes its unit and derive_unit gives `node` the same."""
    unit = yield _derive_unit(part, service)
    if unit in _UNSCALED_UNITS or unit != (yield _derive_unit(node, service)):
        return False
    return (yield _fixes_unit(part, service))


def _quotient_fixes_unit(
    node: pp.BinaryExpr, service: Service | None
) -> Recursive[bool]:
    """Return True for a mean observation, a mean per series or a part of a whole.

    `sum(x) / count(x)` of a metric without a unit is a mean, not the fraction
    that derive_unit reads, so a part of a whole needs the same function and the
    same kind of aggregation on both sides.
    """
    numerator = _split_factor(node.lhs)[1]
    denominator = _split_factor(node.rhs)[1]
    if _mean_unit(numerator, denominator) is not None:
        return True
    if _is_count(denominator) and (yield _derive_unit(node.lhs, service)) not in (
        _UNSCALED_UNITS
    ):
        return (yield _fixes_unit(node.lhs, service))
    return (
        promql.same_metrics(numerator, denominator)
        and promql.top_function(numerator) == promql.top_function(denominator)
        and _counts_series(numerator) == _counts_series(denominator)
    )


def _operation_fixes_unit(
    node: pp.BinaryExpr, service: Service | None
) -> Recursive[bool]:
    """Return True for an operation whose unit is that of the sides it keeps."""
    operator = str(node.op)
    if _filters(node):
        return (yield _same_unit(node, _filtered_side(node), service))
    if operator == "or" or (
        operator in ("+", "-") and not (_is_time(node.lhs) or _is_time(node.rhs))
    ):
        # A number added or subtracted is in the unit of the other side, and so is
        # the `vector(0)` of `x or vector(0)`.
        for side in (node.lhs, node.rhs):
            if not _is_constant(side) and not (yield _same_unit(node, side, service)):
                return False
        return True
    if operator in ("+", "-"):
        # time() is in seconds, so the other side is a time in seconds too.
        other = node.rhs if _is_time(node.lhs) else node.lhs
        if promql.top_function(other) == "timestamp":
            return True
        unit = yield _derive_unit(other, service)
        return unit in _UNSCALED_UNITS or (
            unit == "s" and (yield _fixes_unit(other, service))
        )
    return False


def _is_constant(node: pp.Expr) -> bool:
    """Return True for a number and for `vector(number)`."""
    node = promql.strip_parens(node)
    if promql.top_function(node) == "vector" and isinstance(node, pp.Call):
        return promql.number_value(node.args[0]) is not None
    return promql.number_value(node) is not None


def _call_fixes_unit(node: pp.Call, service: Service | None) -> Recursive[bool]:
    name = node.func.name
    if name == "histogram_quantile":
        return True
    if name in ("rate", "irate"):
        # A counter of seconds gives a fraction and a counter of bytes a data rate.
        # The rate of a histogram's `_count` or `_bucket` series counts observations.
        metric = _first_metric(node) or ""
        return not metric.endswith(("_count", "_bucket"))
    if name in _UNIT_KEEPING_FUNCTIONS:
        argument = _value_argument(node)
        return argument is not None and (yield _same_unit(node, argument, service))
    return False


def _value_argument(node: pp.Call) -> pp.Expr | None:
    """Return the vector that a function's range vector or vector argument selects."""
    for argument in node.args:
        argument = promql.strip_parens(argument)
        if isinstance(argument, pp.MatrixSelector):
            return argument.vector_selector
        if isinstance(argument, pp.SubqueryExpr):
            return argument.expr
        if promql.value_type(argument) == "vector":
            return argument
    return None


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


def certain_panel_unit(panel: Panel, service: Service | None = None) -> str | None:
    """Return the unit that the panel's query fixes (see `certain_unit`), or None.

    A panel with value mappings derives no unit from its query. A heatmap's unit is
    that of its buckets' bounds, which the histogram's name gives.
    """
    if panel.thresholds is not None and panel.thresholds.mappings:
        return None
    try:
        node = promql.parse(panel.query)
    except promql.QueryError:
        return None
    if panel.type is PanelType.HEATMAP:
        unit = _metric_unit(_first_metric(node))
        return None if unit in _UNSCALED_UNITS else unit
    return certain_unit(node, service)


def known_panel_unit(panel: Panel, service: Service | None = None) -> str | None:
    """Return the panel's unit where the manifest or the query fixes it, else None.

    That is a unit that the manifest sets other than `short` and `none`, a unit that
    the query fixes (`certain_panel_unit`), or the unit of a rate, whose only guess
    is the word in it, such as `reqps` for `ops`.
    """
    if panel.unit is not None:
        return None if panel.unit in _UNSCALED_UNITS else panel.unit
    certain = certain_panel_unit(panel, service)
    if certain is not None:
        return certain
    unit = panel_unit(panel, service)
    return unit if unit in _GUESSED_UNITS else None


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
            return _converted(number / 100 * _exact(capacity), quantity, unit)
        if unit not in PERCENT_UNITS:
            raise UnitMismatch(quantity, unit)
        return _converted(number * PERCENT_UNITS[unit], quantity, unit)
    if quantity.unit in TIME_SECONDS:
        if unit not in TIME_UNITS:
            raise UnitMismatch(quantity, unit)
        return _converted(
            number * TIME_SECONDS[quantity.unit] / TIME_UNITS[unit], quantity, unit
        )
    raise UnitError(f"unknown threshold unit {quantity.unit!r}", quantity)


def _converted(value: Fraction, quantity: Quantity, unit: str) -> float:
    """Return the double nearest to `value`, the threshold `quantity` in `unit`.

    Raises UnitError where the conversion leaves the range of a double: beyond about
    1.8e308, or so close to 0 that the threshold would read as 0.
    """
    try:
        converted = float(value)
    except OverflowError:
        raise UnitError(
            f"threshold {quantity} is beyond about 1.8e308 in {shorten(unit)}, the "
            "largest number Prometheus and Grafana hold; write a smaller threshold",
            quantity,
        ) from None
    if converted == 0 and value != 0:
        raise UnitError(
            f"threshold {quantity} is closer to 0 than 5e-324 in {shorten(unit)}, the "
            "smallest number above 0 that Prometheus and Grafana hold, so both read "
            "it as 0; write a larger threshold",
            quantity,
        )
    return converted
