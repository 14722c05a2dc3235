"""Resolve a panel's thresholds into Grafana steps, overrides and mappings in its unit."""

from __future__ import annotations

import attrs

from obscompile.derive.units import UnitError, convert
from obscompile.model.threshold import Band, Thresholds, ValueMapping


@attrs.frozen
class Step:
    """A Grafana threshold step; the base step has value None (minus infinity)."""

    color: str
    value: float | int | None


@attrs.frozen
class SeriesSteps:
    """Steps for one series, rendered as an override matched by display name."""

    series: str
    steps: tuple[Step, ...]


@attrs.frozen
class ResolvedThresholds:
    """A panel's rendered thresholds: base steps, per-series steps and value mappings.

    `steps_from_mappings` is True when the steps only carry the mappings' colours to
    the values between them, as in `Thresholds.steps_from_mappings`.
    """

    steps: tuple[Step, ...]
    series: tuple[SeriesSteps, ...] = ()
    mappings: tuple[ValueMapping, ...] = ()
    steps_from_mappings: bool = False

    @property
    def colours_anything(self) -> bool:
        """Return True when some value would be shown in a colour other than the base."""
        return len(self.steps) > 1 or bool(self.series) or bool(self.mappings)


BASE_ONLY = ResolvedThresholds(steps=(Step("green", None),))


def compact_number(value: float | None) -> float | int | None:
    """Return whole numbers as int, so JSON and YAML show 5 rather than 5.0."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _steps(
    bands: tuple[Band, ...], unit: str, capacity: float | None
) -> tuple[Step, ...]:
    steps = []
    for band in bands:
        value = None if band.lower is None else convert(band.lower, unit, capacity)
        steps.append(Step(band.color, compact_number(value)))
    return tuple(steps)


def resolve(
    thresholds: Thresholds | None, unit: str, capacity: float | None = None
) -> ResolvedThresholds:
    """Convert written thresholds to steps in `unit`; raise UnitError if they cannot be."""
    if thresholds is None or not thresholds.bands:
        return BASE_ONLY
    if thresholds.capacity_of is not None and capacity is None:
        raise UnitError(
            f'threshold "{thresholds.text}" is a percentage of "{thresholds.capacity_of}", '
            "but the panel sets no capacity; set capacity: to the size of the "
            f"{thresholds.capacity_of}"
        )
    effective_capacity = capacity if thresholds.capacity_of is not None else None
    return ResolvedThresholds(
        steps=_steps(thresholds.bands, unit, effective_capacity),
        series=tuple(
            SeriesSteps(s.series, _steps(s.bands, unit, effective_capacity))
            for s in thresholds.series
        ),
        mappings=thresholds.mappings,
        steps_from_mappings=thresholds.steps_from_mappings,
    )
