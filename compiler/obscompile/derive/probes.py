"""The values that a generated test probes an alert band with.

Each boundary of a band is tested at the boundary itself and at a value just below and
just above it. The neighbours are round numbers one step of the boundary's leading
digit away (4 and 6 around 5), or the neighbouring bucket bounds for a quantile, which
the synthesized histograms reach exactly. A value inside a band that a value mapping
colours instead is tested too, and the band's alert stays silent for it.
"""

from __future__ import annotations

from decimal import Decimal

import promql_parser as pp

from obscompile import promql
from obscompile.derive.alerts import AlertRule
from obscompile.derive.buckets import neighbour_bounds
from obscompile.derive.recording import split_scale
from obscompile.derive.synthesis import Context


def colour_of(steps, value: float, mappings=()) -> str:
    """Return the colour Grafana gives `value`.

    A value mapping that matches the value gives its colour; otherwise the value has
    the colour of the last step at or below it.
    """
    for mapping in mappings:
        if value == mapping.value:
            return mapping.color
    colour = steps[0].color if steps else "green"
    for step in steps[1:]:
        if step.value is not None and value >= step.value:
            colour = step.color
    return colour


def nice_neighbours(
    bound: float, low: float | None, high: float | None
) -> list[tuple[float, float]]:
    """Return `(below, above)` pairs around `bound`, roundest first, within limits."""
    exact = Decimal(repr(bound))
    magnitude = Decimal(10) ** (exact.copy_abs().adjusted() if bound else 0)
    if bound and str(exact.copy_abs().normalize())[0] == "1":
        # 10000 is better probed with 9000 and 11000 than with 0 and 20000.
        magnitude /= 10
    pairs = []
    for shift in range(4):
        step = magnitude / (Decimal(10) ** shift)
        below, above = float(exact - step), float(exact + step)
        if (low is None or below >= low) and (high is None or above <= high):
            pairs.append((below, above))
    return pairs


def probe_values(alert: AlertRule, node: pp.Expr, context: Context) -> list[float]:
    """Return the values to test an alert with: each boundary and its neighbours."""
    band = alert.band
    if band.equals is not None:
        others = [band.equals + 1] + ([band.equals - 1] if band.equals >= 1 else [])
        return [band.equals, *others]
    values = _band_values(alert, node, context)
    # A mapped value inside the band has the mapping's colour, not the band's.
    return list(dict.fromkeys([*values, *band.excluded]))


def _band_values(alert: AlertRule, node: pp.Expr, context: Context) -> list[float]:
    band = alert.band
    inner, scale, _ = split_scale(node)
    inner = promql.strip_parens(inner)
    is_ratio = isinstance(inner, pp.BinaryExpr) and str(inner.op) == "/"
    high = (scale or 1.0) * _numerator_factor(inner) if is_ratio else None
    low = (
        0.0
        if is_ratio or promql.top_function(inner) in promql.COUNTER_FUNCTIONS
        else None
    )
    values: list[float] = []
    for bound in band.bounds:
        if (
            isinstance(inner, pp.Call)
            and inner.func.name == "histogram_quantile"
            and scale is None
        ):
            below, above = neighbour_bounds(inner, context, bound)
            values += [v for v in (below, bound, above) if v is not None]
            continue
        neighbours = nice_neighbours(bound, low, high)
        if not neighbours:
            values.append(bound)
            continue
        below, above = neighbours[0]
        values += [below, bound, above]
    return list(dict.fromkeys(values))


def _numerator_factor(node: pp.Expr) -> float:
    """Return k for `(k * a) / b`, the form `100 * a / b` parses as, and 1 otherwise."""
    if not isinstance(node, pp.BinaryExpr):
        return 1.0
    numerator = promql.strip_parens(node.lhs)
    if isinstance(numerator, pp.BinaryExpr) and str(numerator.op) == "*":
        for side in (numerator.lhs, numerator.rhs):
            factor = promql.number_value(side)
            if factor is not None:
                return factor
    return 1.0
