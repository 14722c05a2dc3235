"""Resolve a panel's thresholds into Grafana steps, overrides and mappings in its unit."""

from __future__ import annotations

import attrs

from obscompile.derive.units import UnitError, convert
from obscompile.model.threshold import Band, Quantity, Thresholds, ValueMapping


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

    `mappings` are the written mappings and one for each exact value of the bands
    (`Thresholds.exact_values`), in the panel's unit. `steps_from_mappings` is True
    when the steps only carry the mappings' colours to the values between them, as in
    `Thresholds.steps_from_mappings`.
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


def _effective_capacity(thresholds: Thresholds, capacity: float | None) -> float | None:
    """Return the capacity that the percentages of `thresholds` refer to, or None.

    Raises UnitError where the text names a capacity that the panel does not set.
    """
    if thresholds.capacity_of is None:
        return None
    if capacity is None:
        raise UnitError(
            f'threshold "{thresholds.text}" is a percentage of "{thresholds.capacity_of}", '
            "but the panel sets no capacity; set capacity: to the size of the "
            f"{thresholds.capacity_of}"
        )
    return capacity


def convert_bounds(
    thresholds: Thresholds, unit: str, capacity: float | None = None
) -> None:
    """Convert every bound of `thresholds` to `unit`; raise UnitError at the first
    that cannot be.

    It checks the bounds of a text whose bands are invalid, which `resolve` rejects.
    """
    effective_capacity = _effective_capacity(thresholds, capacity)
    for bound in thresholds.bounds:
        convert(bound, unit, effective_capacity)


def resolve(
    thresholds: Thresholds | None, unit: str, capacity: float | None = None
) -> ResolvedThresholds:
    """Convert written thresholds to steps in `unit`; raise UnitError if they cannot be."""
    if thresholds is None or not thresholds.bands:
        return BASE_ONLY
    effective_capacity = _effective_capacity(thresholds, capacity)
    # A value that a band contains alone or as its upper bound (`<=0 Green`) is
    # coloured by a value mapping, which Grafana applies before the steps. A written
    # mapping of the same value wins, as it wins over the steps.
    written = {mapping.value for mapping in thresholds.mappings}
    exact = []
    for value in thresholds.exact_values:
        number = convert(value.value, unit, effective_capacity)
        if number not in written:
            exact.append(ValueMapping(number, value.color, ""))
    return ResolvedThresholds(
        steps=_steps(thresholds.bands, unit, effective_capacity),
        series=tuple(
            SeriesSteps(s.series, _steps(s.bands, unit, effective_capacity))
            for s in thresholds.series
        ),
        mappings=tuple(sorted([*thresholds.mappings, *exact], key=lambda m: m.value)),
        steps_from_mappings=thresholds.steps_from_mappings,
    )


def written_steps(
    thresholds: Thresholds, resolved: ResolvedThresholds
) -> list[tuple[str | None, Step, Quantity | None]]:
    """Return each step of `resolved` with its series and the bound that it converts.

    The series is None for the steps of the whole panel. `resolve` converts each
    band of `thresholds` to one step in the same order, so the positions pair them.
    """
    if not thresholds.bands:
        return []
    found: list[tuple[str | None, Step, Quantity | None]] = [
        (None, step, band.lower)
        for band, step in zip(thresholds.bands, resolved.steps, strict=True)
    ]
    for written, converted in zip(thresholds.series, resolved.series, strict=True):
        found.extend(
            (written.series, step, band.lower)
            for band, step in zip(written.bands, converted.steps, strict=True)
        )
    return found
