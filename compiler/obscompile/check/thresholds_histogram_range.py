"""thresholds/histogram-range: bounds that a histogram quantile never crosses.

`histogram_quantile(q, ...)` over classic buckets gives values between q times the
first bucket's upper bound (every observation in the first bucket, interpolated from
0) and the largest finite upper bound, B. Prometheus returns B itself whenever the
rank falls in the +Inf bucket and never more (bucketQuantile in promql/quantile.go of
prometheus/prometheus), so an alert on `>= B` can fire and one on `> B` never does.

A threshold outside that range is an error where an alert derived from the panel
compares with it and so never fires or always fires. Where it only sets a colour, such
as the bound of a green band or of a panel with `alert: false`, it is a warning.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal

import attrs
import promql_parser as pp

from obscompile import promql
from obscompile.check import catalog
from obscompile.check.context import PanelContext
from obscompile.check.registry import check

# The module, not its names: derive.alerts imports the check package, which imports
# this module while derive.alerts is still loading.
from obscompile.derive import alerts
from obscompile.derive.annotations import Band, bound_text
from obscompile.derive.thresholds import resolve, written_steps
from obscompile.derive.units import TIME_UNITS, UnitError, panel_unit
from obscompile.diagnostics import Diagnostic, error, warning
from obscompile.model.threshold import Quantity
from obscompile.numbers import number_text

NAME = "thresholds/histogram-range"

NEVER = "never fires"
ALWAYS = "always fires while observations arrive"

# The time units that a bare threshold may be meant in, with their names.
_TIME_UNIT_NAMES = {"s": "seconds", "ms": "milliseconds"}


def _quantile_of(expr: pp.Expr) -> tuple[float, float, pp.VectorSelector] | None:
    """Return (quantile, factor, selector) for `histogram_quantile(q, ...) * factor`.

    The factor is 1 without a multiplication. Only a quantile over a single selector
    is read, since any other expression may change the range of its values.
    """
    factor = 1.0
    scaled = promql.scaled_by(expr)
    if scaled is not None:
        factor, expr = scaled
    expr = promql.strip_parens(expr)
    if not (isinstance(expr, pp.Call) and expr.func.name == "histogram_quantile"):
        return None
    quantile = promql.number_value(expr.args[0])
    selectors = promql.selectors(expr.args[1])
    if quantile is None or not 0 < quantile <= 1 or len(selectors) != 1:
        return None
    if not (math.isfinite(factor) and factor > 0):
        return None
    return quantile, factor, selectors[0]


def _range(
    context: PanelContext, selector: pp.VectorSelector
) -> tuple[str, list[float]] | None:
    """Return the histogram's name and its finite buckets in order, if declared."""
    name = catalog.selector_name(selector)
    entry = catalog.find_metric(context, name) if name else None
    if entry is None or not entry.metric.buckets:
        return None
    bounds = sorted(b for b in entry.metric.buckets if math.isfinite(b))
    return (entry.metric.name, bounds) if bounds else None


@attrs.frozen
class _Span:
    """The values of `histogram_quantile(quantile, metric) * factor`, in `unit`.

    `first` and `last` are the smallest and the largest finite bucket of `metric`.
    """

    metric: str
    quantile: float
    factor: float
    first: float
    last: float
    unit: str

    @property
    def lowest(self) -> float | None:
        """Return the smallest value, or None where the first bucket is not above 0."""
        if self.first <= 0:
            return None
        return self.quantile * self.first * self.factor

    @property
    def highest(self) -> float:
        return self.last * self.factor

    def below(self, value: float) -> bool:
        return self.lowest is not None and value < self.lowest

    def contains(self, value: float) -> bool:
        return not self.below(value) and value <= self.highest

    def scale_text(self) -> str:
        return "" if self.factor == 1 else f", times {number_text(self.factor)}"


def _misfire(band: Band, span: _Span) -> tuple[str, float] | None:
    """Return whether the alert of `band` never or always fires, and the bound at fault.

    A bound at the smallest value exactly counts as reached, though the
    interpolation may round a value to just below it, so no band is reported for it.
    """
    if band.equals is not None:
        return None
    highest = span.highest
    lower_excluded = band.lower is not None and band.lower in band.excluded
    if band.lower is not None and (
        band.lower > highest or (lower_excluded and band.lower == highest)
    ):
        return NEVER, band.lower
    if band.upper is not None and span.below(band.upper):
        return NEVER, band.upper
    from_lowest = band.lower is None or span.below(band.lower)
    to_highest = (
        band.upper is None
        or band.upper > highest
        or (band.upper_included and band.upper == highest)
    )
    mapped_inside = any(span.contains(value) for value in band.excluded)
    if not (from_lowest and to_highest) or mapped_inside:
        return None
    bound = band.lower if band.lower is not None else band.upper
    # A band without bounds is a panel in one colour, which derives no alert.
    return None if bound is None else (ALWAYS, bound)


def _for_message(value: float) -> float:
    """Return `value` to 12 significant digits, for a message.

    The product of the quantile, a bucket and a scale carries the rounding of
    binary floats, such as 90.00000000000001 for 0.9 times 0.1 times 1000.
    """
    return float(Context(prec=12).create_decimal(Decimal(repr(value))))


def _rounded(value: float, up: bool) -> str:
    """Return `value` to three significant digits, rounded up or down."""
    rounding = ROUND_CEILING if up else ROUND_FLOOR
    rounded = Context(prec=3, rounding=rounding).create_decimal(Decimal(repr(value)))
    return number_text(float(rounded))


def _unit_hint(quantity: Quantity | None, span: _Span) -> str | None:
    """Suggest the time unit in which a bare threshold lies inside the span, if one does."""
    if quantity is None or quantity.unit is not None or span.unit not in TIME_UNITS:
        return None
    written = quantity.written or number_text(quantity.number)
    for unit, unit_name in _TIME_UNIT_NAMES.items():
        if unit == span.unit:
            continue
        converted = quantity.number * float(TIME_UNITS[unit] / TIME_UNITS[span.unit])
        if span.contains(converted):
            return (
                f"write {written}{unit} if the threshold is in {unit_name} (a bare "
                f"number is in the panel's unit, {span.unit})"
            )
    return None


def _below_span(bound: float, strict: bool, span: _Span) -> tuple[str, list[str]]:
    """Return why `bound` lies below the span's smallest value, and the fixes."""
    lowest = span.lowest
    assert lowest is not None
    smallest = bound_text(_for_message(lowest), span.unit)
    reason = (
        f"lies below {smallest}, the smallest value of this query: "
        "histogram_quantile interpolates from 0 in the first bucket, so it returns "
        f"no less than {number_text(span.quantile)} of the first bucket of "
        f"{span.metric}, {number_text(span.first)}{span.scale_text()}"
    )
    if strict:
        fixes = [f"raise the threshold to {smallest} or above"]
    else:
        fixes = [f"raise the threshold above {smallest}"]
    # No bucket above 0 brings the smallest value down to a bound at or below 0, so
    # such a bound gets no bucket to add.
    if bound > 0:
        bucket = _rounded(bound / (span.quantile * span.factor), up=False)
        limit = "of at most" if strict else "below"
        fixes.insert(0, f"add a bucket {limit} {bucket} to {span.metric}")
    return reason, fixes


def _above_span(bound: float, strict: bool, span: _Span) -> tuple[str, list[str]]:
    """Return why `bound` is at or above the span's largest value, and the fixes."""
    largest = bound_text(_for_message(span.highest), span.unit)
    # A band that compares with `>` or `<=` misfires at the largest value too.
    place = "is" if bound == span.highest else f"lies above {largest},"
    reason = (
        f"{place} the largest value of this query: histogram_quantile returns the "
        f"largest finite bucket of {span.metric}, {number_text(span.last)}"
        f"{span.scale_text()}, where the quantile falls in the +Inf bucket, and "
        "never more"
    )
    bucket = _rounded(bound / span.factor, up=True)
    limit = "above" if strict else "of at least"
    fixes = [f"add a bucket {limit} {bucket} to {span.metric}"]
    if strict:
        fixes.append(f"lower the threshold below {largest}")
    else:
        fixes.append(f"lower the threshold to {largest} or below")
    return reason, fixes


def _misfire_message(
    band: Band,
    bound: float,
    outcome: str,
    alert_name: str,
    span: _Span,
    quantity: Quantity | None,
) -> str:
    """Explain why the alert `alert_name` of `band` misfires at `bound`, and the fixes."""
    # Where the band compares with `>` or `<=` at the bound, the fixes must let the
    # query go past the bound, not only reach it.
    strict = (bound == band.lower and band.lower in band.excluded) or (
        bound == band.upper and band.upper_included
    )
    if span.below(bound):
        reason, fixes = _below_span(bound, strict, span)
    else:
        reason, fixes = _above_span(bound, strict, span)

    hint = _unit_hint(quantity, span)
    if hint is not None:
        fixes.append(hint)
    condition = band.condition("value")
    return (
        f"threshold {bound_text(bound, span.unit)} {reason}. So alert {alert_name} "
        f"({condition}) {outcome}; {_either(fixes)}"
    )


def _colour_message(
    value: float, colour: str, span: _Span, quantity: Quantity | None
) -> str:
    """Explain why the step at `value` colours every value or none, and the fixes.

    A step colours the values from `value` up, so it colours every value where
    `value` lies below the span, and none where `value` lies above it.
    """
    if span.below(value):
        reason, fixes = _below_span(value, False, span)
        effect = "Every value lies above the threshold while observations arrive"
    else:
        reason, fixes = _above_span(value, False, span)
        effect = "No value reaches the threshold"
    hint = _unit_hint(quantity, span)
    if hint is not None:
        fixes.append(hint)
    return (
        f"threshold {bound_text(value, span.unit)} ({colour}) {reason}. {effect}; "
        f"{_either(fixes)}"
    )


def _either(choices: list[str]) -> str:
    """Join `choices` as a sentence lists them: `a`, `a, or b`, `a, b, or c`."""
    if len(choices) == 1:
        return choices[0]
    return f"{', '.join(choices[:-1])}, or {choices[-1]}"


def _misfires(
    context: PanelContext, span: _Span
) -> dict[tuple[str | None, float], list[tuple[str, Band, str]]]:
    """Return the panel's alerts that never or always fire, by series and bound.

    Each entry is the alert's name, its band and what it does.
    """
    found: dict[tuple[str | None, float], list[tuple[str, Band, str]]] = {}
    for name, named in alerts.panel_named_alerts(context.service, context.panel):
        misfire = _misfire(named.band, span)
        if misfire is not None:
            outcome, bound = misfire
            found.setdefault((named.series, bound), []).append(
                (name, named.band, outcome)
            )
    return found


@check(NAME, "a threshold of a histogram quantile outside the range its buckets give")
def histogram_range(context: PanelContext) -> Iterator[Diagnostic]:
    panel = context.panel
    expr = context.query.expr
    if panel.thresholds is None or expr is None:
        return
    found = _quantile_of(expr)
    histogram = _range(context, found[2]) if found is not None else None
    if found is None or histogram is None:
        return
    quantile, factor, _ = found
    metric, bounds = histogram

    # The thresholds are compared in the query's own unit. A panel that sets another
    # unit is reported by thresholds/unit or dashboard/unit instead.
    unit = panel_unit(panel, context.service)
    if unit != panel_unit(attrs.evolve(panel, unit=None), context.service):
        return
    try:
        resolved = resolve(panel.thresholds, unit, panel.capacity)
    except UnitError:
        return

    span = _Span(metric, quantile, factor, bounds[0], bounds[-1], unit)
    highest = span.highest
    steps = written_steps(panel.thresholds, resolved)
    # Only a bound outside the span, or at its top, can make an alert misfire, so
    # the alerts are derived only for such a panel.
    misfires = {}
    if any(
        step.value is not None and (span.below(step.value) or step.value >= highest)
        for _, step, _ in steps
    ):
        misfires = _misfires(context, span)
    for series, step, bound in steps:
        if step.value is None or bound is None:
            continue
        alerted = misfires.pop((series, float(step.value)), [])
        for name, band, outcome in alerted:
            yield error(
                panel.bound_location(bound),
                _misfire_message(band, step.value, outcome, name, span, bound),
                NAME,
            )
        if alerted:
            continue
        if span.below(step.value) or step.value > highest:
            yield warning(
                panel.bound_location(bound),
                _colour_message(step.value, step.color, span, bound),
                NAME,
            )
    # A bound that no written step gives, such as one of a value mapping.
    for (_, value), alerted in misfires.items():
        for name, band, outcome in alerted:
            yield error(
                panel.location_of("thresholds"),
                _misfire_message(band, value, outcome, name, span, None),
                NAME,
            )
