"""The values that a generated test probes an alert band with.

Each boundary of a band is tested at the boundary itself and at a value just below and
just above it. The neighbours are round numbers one step of the boundary's leading
digit away (4 and 6 around 5), or the neighbouring bucket bounds for a quantile, which
the synthesized histograms reach exactly. A value inside a band that a value mapping
colours instead is tested too, and the band's alert stays silent for it.
"""

from __future__ import annotations

from decimal import Decimal

import attrs
import promql_parser as pp

from obscompile import promql
from obscompile.derive.alerts import AlertRule
from obscompile.derive.buckets import neighbour_bounds
from obscompile.derive.expressions import is_vector
from obscompile.derive.floats import scale_preimage, scaled
from obscompile.derive.limits import lower_limit, numerator_factor, part_of_whole
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
    pairs = []
    for step in _nice_steps(exact):
        below, above = float(exact - step), float(exact + step)
        if (low is None or below >= low) and (high is None or above <= high):
            pairs.append((below, above))
    return pairs


def nice_above(bound: float, high: float | None) -> float | None:
    """Return the roundest value above `bound`, as `nice_neighbours` picks it, or None.

    This is the one neighbour of a bound at the least value that the query gives.
    """
    exact = Decimal(repr(bound))
    for step in _nice_steps(exact):
        above = float(exact + step)
        if high is None or above <= high:
            return above
    return None


def _nice_steps(exact: Decimal) -> list[Decimal]:
    """Return the distances from a bound to its neighbours, roundest first."""
    magnitude = Decimal(10) ** (exact.copy_abs().adjusted() if exact else 0)
    if _leading_one(exact):
        # 10000 is better probed with 9000 and 11000 than with 0 and 20000, and 0.1
        # with 0.09 and 0.11.
        magnitude /= 10
    return [magnitude / (Decimal(10) ** shift) for shift in range(4)]


def coarse_neighbours(
    bound: float, low: float | None, high: float | None
) -> tuple[float | None, float | None]:
    """Return the values one step of a leading 1 away, such as 0 and 0.2 around 0.1.

    They replace a neighbour from `nice_neighbours` that no input gives. An age of
    0.9 seconds has no exact binary form, but 0 and 2 seconds have. A value outside
    the limits is None, and so are both for a bound whose leading digit is not 1.
    """
    exact = Decimal(repr(bound))
    if not _leading_one(exact):
        return None, None
    step = Decimal(10) ** exact.copy_abs().adjusted()
    below, above = float(exact - step), float(exact + step)
    return (
        below if low is None or below >= low else None,
        above if high is None or above <= high else None,
    )


def _leading_one(exact: Decimal) -> bool:
    """Return True for a nonzero number whose first significant digit is 1."""
    # A Decimal's digits start at its first nonzero digit.
    return bool(exact) and exact.normalize().as_tuple().digits[0] == 1


@attrs.frozen
class Probe:
    """A value that one generated test group drives the query to.

    `exact` is True where the group needs exactly this value: at a boundary, at a
    mapped value, and at the values that take the place of an unreachable boundary. A
    boundary is unreachable when the query's last step is a constant scale, such as
    `ratio * 100`, whose rounding skips it: no double gives `r * 100 == 7`.
    `replaces` is then the boundary, and the value is the nearest one the query
    gives below or above it. `fallback` is a value on the same side of the boundary
    for the test to probe when no input gives `value`.
    """

    value: float
    exact: bool = False
    replaces: float | None = None
    fallback: float | None = None


def probe_values(alert: AlertRule, node: pp.Expr, context: Context) -> list[Probe]:
    """Return the values to test an alert with: each boundary and its neighbours."""
    band = alert.band
    if band.equals is not None:
        others = [band.equals + 1] + ([band.equals - 1] if band.equals >= 1 else [])
        return [Probe(band.equals, exact=True), *map(Probe, others)]
    probes = _band_probes(alert, node, context)
    # A mapped value inside the band has the mapping's colour, not the band's.
    probes += [Probe(value, exact=True) for value in band.excluded]
    return _distinct(probes)


def _distinct(probes: list[Probe]) -> list[Probe]:
    """Return one probe per value, in order, exact where any of them is exact."""
    by_value: dict[float, Probe] = {}
    for probe in probes:
        known = by_value.get(probe.value)
        if known is None or (probe.exact and not known.exact):
            by_value[probe.value] = probe
    return list(by_value.values())


def _band_probes(alert: AlertRule, node: pp.Expr, context: Context) -> list[Probe]:
    band = alert.band
    inner, scale, _ = split_scale(node)
    inner = promql.strip_parens(inner)
    # A ratio of two vectors, which excludes a constant scale such as `x / 3600`.
    is_ratio = (
        isinstance(inner, pp.BinaryExpr)
        and str(inner.op) == "/"
        and is_vector(inner.lhs)
        and is_vector(inner.rhs)
    )
    low = 0.0 if is_ratio else lower_limit(inner, context.service)
    high = None
    if is_ratio and isinstance(inner, pp.BinaryExpr):
        # The query's value at a ratio of 1, which bounds a part of its whole from
        # above or from below.
        one = (scale or 1.0) * numerator_factor(inner)
        order = part_of_whole(inner)
        if order == "at most":
            high = one
        elif order == "at least":
            low = one
    complement = _complement_limits(inner, scale)
    if complement is not None:
        low, high = complement
    probes: list[Probe] = []
    for bound in band.bounds:
        if (
            isinstance(inner, pp.Call)
            and inner.func.name == "histogram_quantile"
            and scale is None
        ):
            below, above = neighbour_bounds(inner, context, bound)
            if below is not None:
                probes.append(Probe(below))
            probes.append(Probe(bound, exact=True))
            if above is not None:
                probes.append(Probe(above))
            continue
        at_bound = _boundary_probes(node, bound)
        neighbours = nice_neighbours(bound, low, high)
        if not neighbours and bound == low:
            # No value lies below the query's least value, such as 0 for a rate,
            # so only the side above the bound gets a test.
            above = nice_above(bound, high)
            probes += at_bound
            if above is not None:
                probes.append(
                    Probe(above, fallback=_counter_value_above_zero(node, context))
                )
            continue
        if not neighbours:
            probes += at_bound
            continue
        below, above = neighbours[0]
        coarse_below, coarse_above = coarse_neighbours(bound, low, high)
        probes += [
            Probe(below, fallback=coarse_below),
            *at_bound,
            Probe(above, fallback=coarse_above),
        ]
    return _distinct(probes)


def _complement_limits(
    inner: pp.Expr, scale: float | None
) -> tuple[float, float] | None:
    """Return the least and greatest value of `c - ratio`, times `scale`, or None.

    Where the ratio is a part of its whole, such as the share of failed requests, it
    lies between 0 and 1, so `(1 - errors / requests) * 100` lies between 0 and 100.
    A negative scale, and any other shape, gives None.
    """
    if not (
        isinstance(inner, pp.BinaryExpr)
        and str(inner.op) == "-"
        and inner.modifier is None
        and (scale is None or scale > 0)
    ):
        return None
    constant = promql.number_value(inner.lhs)
    ratio = promql.strip_parens(inner.rhs)
    if (
        constant is None
        or not isinstance(ratio, pp.BinaryExpr)
        or str(ratio.op) != "/"
        or not (is_vector(ratio.lhs) and is_vector(ratio.rhs))
        or part_of_whole(ratio) != "at most"
    ):
        return None
    factor = scale if scale is not None else 1.0
    return (constant - numerator_factor(ratio)) * factor, constant * factor


def _counter_value_above_zero(node: pp.Expr, context: Context) -> float | None:
    """Return a value above 0 that whole counter increments give the query.

    A rate of 1 per second is an increment of one sample interval per sample, and
    an increase over a window of one per sample. A round value such as 1 may need a
    fraction per sample instead: an increase of 1 in an hour at a 1m interval is
    1/60 per sample. Returns None for a query that is no counter under rate(),
    irate() or increase(), aggregated or not, and times a constant or not.
    """
    inner, scale, _ = split_scale(node)
    inner = promql.strip_parens(inner)
    while isinstance(inner, pp.AggregateExpr) and inner.param is None:
        inner = promql.strip_parens(inner.expr)
    if not (isinstance(inner, pp.Call) and inner.func.name in promql.COUNTER_FUNCTIONS):
        return None
    matrix = promql.strip_parens(inner.args[0])
    if not isinstance(matrix, pp.MatrixSelector):
        return None
    value = 1.0
    if inner.func.name == "increase":
        value = matrix.range.total_seconds() / context.interval_s
    return value * (scale if scale is not None else 1.0)


def _boundary_probes(node: pp.Expr, bound: float) -> list[Probe]:
    """Return the boundary, or the nearest values on each side that the query gives.

    Prometheus computes `x * k` and `x / k` for a positive constant k by rounding
    the exact result to a double, which never reverses an order. Take the largest
    x that gives less than the boundary and the smallest x that gives more. When
    they are neighbouring doubles, no x gives the boundary, and their values are
    the closest that the query can come, whatever its inner part computes.
    """
    scale = _constant_scale(node)
    if scale is not None:
        found = scale_preimage(bound, *scale)
        if found is not None and not found.reachable:
            return [
                Probe(scaled(found.below, *scale), exact=True, replaces=bound),
                Probe(scaled(found.above, *scale), exact=True, replaces=bound),
            ]
    return [Probe(bound, exact=True)]


def _constant_scale(node: pp.Expr) -> tuple[float, bool] | None:
    """Return (k, divide) for a query `x * k`, `k * x` or `x / k`, else None."""
    top = promql.strip_parens(node)
    if not isinstance(top, pp.BinaryExpr) or top.modifier is not None:
        return None
    op = str(top.op)
    right, left = promql.number_value(top.rhs), promql.number_value(top.lhs)
    if op == "*" and right is not None and left is None:
        return right, False
    if op == "*" and left is not None and right is None:
        return left, False
    if op == "/" and right is not None and left is None:
        return right, True
    return None
