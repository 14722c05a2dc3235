"""thresholds/histogram-range: bounds that a histogram quantile never crosses.

`histogram_quantile(q, ...)` over classic buckets gives values between q times the
first bucket's upper bound (every observation in the first bucket, interpolated from
0) and the largest finite upper bound (the rank in the +Inf bucket). A threshold
outside that range colours every value or none, and so does the alert derived from it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import attrs
import promql_parser as pp

from obscompile import promql
from obscompile.check import catalog
from obscompile.check.context import PanelContext
from obscompile.check.registry import check
from obscompile.derive.thresholds import resolve, written_steps
from obscompile.derive.units import UnitError, panel_unit
from obscompile.diagnostics import Diagnostic, warning
from obscompile.numbers import number_text

NAME = "thresholds/histogram-range"


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

    lowest = quantile * bounds[0] * factor if bounds[0] > 0 else None
    highest = bounds[-1] * factor
    scale = "" if factor == 1 else f", times {number_text(factor)}"
    for _, step, bound in written_steps(panel.thresholds, resolved):
        if step.value is None or bound is None:
            continue
        threshold = f"threshold {number_text(step.value)} ({step.color})"
        if lowest is not None and step.value < lowest:
            yield warning(
                panel.bound_location(bound),
                f"{threshold} lies below {number_text(lowest)}, the smallest value "
                f"of this query: {number_text(quantile)} of the first bucket of "
                f"{metric}, {number_text(bounds[0])}{scale}. Every value lies above "
                "the threshold while observations arrive; add a smaller bucket or "
                "raise the threshold",
                NAME,
            )
        elif step.value > highest:
            yield warning(
                panel.bound_location(bound),
                f"{threshold} lies above {number_text(highest)}, the largest value "
                f"of this query: the largest finite bucket of {metric}, "
                f"{number_text(bounds[-1])}{scale}. No value reaches the threshold; "
                "add a larger bucket or lower the threshold",
                NAME,
            )
