"""Parse threshold shorthand ("<1% Green, 1-5% Yellow, >5% Red") and the structured form.

The shorthand is a comma-separated list of items:

- `<X Color`, `>X Color`, `A-B Color`: a band below X, from X, or from A to B;
- `X Color`: a band that contains the value X and extends up to the next band;
- `X=Color`: a value mapping (`1=Green, 0=Red`);
- `Color`: a single band that colours every value;
- `name <X`: a per-series good band below X, red from X (`AngelOne <2s, News <5s`);
- `<X% word Color`: a percentage of a capacity named `word` (`<80% pool Green`).

Numbers take a unit (`%`, `ns`, `us`, `ms`, `s`, `m`, `h`, `d`) or none. A bare number
in a range takes the unit of the boundary it continues, then of the other end of its
range: in `"<500ms Green, 500-1s Yellow"` the 500 is in ms. Bands may be listed in
ascending or descending order; they are stored ascending, and gaps, overlaps and
unsorted lists are errors.
"""

from __future__ import annotations

import math
import re
from typing import Any

import attrs

from obscompile.diagnostics import Diagnostic, error
from obscompile.model.location import Location
from obscompile.model.threshold import (
    Band,
    Quantity,
    SeriesThreshold,
    Thresholds,
    ValueMapping,
)

CHECK = "thresholds/syntax"

COLORS = {
    "green": "green",
    "yellow": "yellow",
    "orange": "orange",
    "red": "red",
    "blue": "blue",
    "purple": "purple",
    "gray": "gray",
    "grey": "gray",
    "transparent": "transparent",
}

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_UNIT = r"(?:%|ns|us|µs|ms|s|m|h|d)"
_QUANTITY = rf"(?P<{{name}}>{_NUMBER})(?P<{{name}}_unit>{_UNIT})?"
_COLOR = r"(?P<color>#[0-9a-fA-F]{6}|[A-Za-z][A-Za-z-]*)"


def _quantity(name: str) -> str:
    return _QUANTITY.replace("{name}", name)


_ITEM_PATTERNS = [
    (
        "below",
        re.compile(rf"^<\s*{_quantity('a')}\s+(?:(?P<capacity>[a-z_]+)\s+)?{_COLOR}$"),
    ),
    (
        "from",
        re.compile(
            rf"^>=?\s*{_quantity('a')}\s+(?:(?P<capacity>[a-z_]+)\s+)?{_COLOR}$"
        ),
    ),
    ("range", re.compile(rf"^{_quantity('a')}\s*-\s*{_quantity('b')}\s+{_COLOR}$")),
    ("mapping", re.compile(rf"^{_quantity('a')}\s*=\s*{_COLOR}$")),
    ("point", re.compile(rf"^{_quantity('a')}\s+{_COLOR}$")),
    ("series", re.compile(rf"^(?P<series>[^<>=\s][^<>=]*?)\s*<\s*{_quantity('a')}$")),
    ("color", re.compile(rf"^{_COLOR}$")),
]


class ThresholdError(ValueError):
    """A threshold text is invalid; `offset` is the character where the problem starts."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.offset = offset


@attrs.frozen
class _Item:
    kind: str
    offset: int
    color: str | None = None
    a: Quantity | None = None
    b: Quantity | None = None
    series: str | None = None
    capacity: str | None = None


def _color(name: str, offset: int) -> str:
    if name.startswith("#"):
        return name.lower()
    try:
        return COLORS[name.lower()]
    except KeyError:
        raise ThresholdError(
            f'unknown colour "{name}"; use one of {", ".join(sorted(set(COLORS.values())))} '
            "or #RRGGBB",
            offset,
        ) from None


def _number(match: re.Match[str], name: str) -> Quantity:
    unit = match.group(f"{name}_unit")
    return Quantity(float(match.group(name)), "us" if unit == "µs" else unit)


def _split(text: str) -> list[tuple[str, int]]:
    items = []
    offset = 0
    for part in text.split(","):
        stripped = part.strip()
        items.append((stripped, offset + (len(part) - len(part.lstrip()))))
        offset += len(part) + 1
    return items


def _parse_item(text: str, offset: int) -> _Item:
    if not text:
        raise ThresholdError("empty threshold item", offset)
    for kind, pattern in _ITEM_PATTERNS:
        match = pattern.match(text)
        if not match:
            continue
        groups = match.groupdict()
        color = _color(groups["color"], offset) if groups.get("color") else None
        if kind == "series" and groups["series"].lower() in COLORS:
            continue
        return _Item(
            kind=kind,
            offset=offset,
            color=color,
            a=_number(match, "a") if groups.get("a") else None,
            b=_number(match, "b") if groups.get("b") else None,
            series=groups.get("series"),
            capacity=groups.get("capacity"),
        )
    raise ThresholdError(
        f'cannot read threshold "{text}"; write bands such as "<1% Green", "1-5% Yellow", '
        '">5% Red", a mapping such as "0=Red", or a series bound such as "AngelOne <2s"',
        offset,
    )


def _fill_units(items: list[_Item]) -> list[_Item]:
    """Give bare numbers the unit of the boundary they continue, then of their range."""
    filled = []
    previous_unit: str | None = None
    for item in items:
        a, b = item.a, item.b
        if item.kind == "range" and a and b:
            if a.unit is None:
                a = Quantity(a.number, previous_unit or b.unit)
            if b.unit is None and a.unit is not None:
                b = Quantity(b.number, a.unit)
        elif (
            a
            and a.unit is None
            and previous_unit is not None
            and item.kind != "mapping"
        ):
            a = Quantity(a.number, previous_unit)
        last = b or a
        if last and last.unit:
            previous_unit = last.unit
        filled.append(attrs.evolve(item, a=a, b=b))
    return filled


# Sort keys: seconds for time units, raw numbers otherwise.
_TIME_FACTORS = {
    "ns": 1e-9,
    "us": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}


def comparable(quantity: Quantity | None, default: float) -> float:
    """Return a number that orders quantities of compatible units."""
    if quantity is None:
        return default
    return quantity.number * _TIME_FACTORS.get(quantity.unit or "", 1.0)


def _bare(quantity: Quantity | None) -> str:
    return "" if quantity is None else f"{quantity.number:g}"


def _bands(items: list[_Item], text: str) -> tuple[Band, ...]:
    """Order band items ascending and check that they leave no gap or overlap."""
    intervals = []
    for item in items:
        if item.kind == "below":
            lower, upper = None, item.a
        elif item.kind == "from":
            lower, upper = item.a, None
        elif item.kind == "range":
            lower, upper = item.a, item.b
        elif item.kind == "point":
            lower, upper = item.a, item.a
        else:
            lower, upper = None, None
        intervals.append((item, lower, upper))

    keys = [comparable(lower, -math.inf) for _, lower, _ in intervals]
    ascending = sorted(range(len(keys)), key=lambda i: keys[i])
    if ascending not in (list(range(len(keys))), list(reversed(range(len(keys))))):
        raise ThresholdError(
            "threshold bands are not in order; list them from low to high or from high to low",
            items[0].offset,
        )
    ordered = [intervals[i] for i in ascending]

    bands = []
    for index, (item, lower, upper) in enumerate(ordered):
        if index == 0:
            if lower is not None and item.kind != "point":
                raise ThresholdError(
                    f"threshold bands leave values below {lower} without a colour; "
                    f'start with a band such as "<{lower} Green"',
                    item.offset,
                )
        else:
            previous_item, _, previous_upper = ordered[index - 1]
            if previous_item.kind != "point":
                previous_end = comparable(previous_upper, math.inf)
                start = comparable(lower, -math.inf)
                if start > previous_end:
                    raise ThresholdError(
                        f"threshold bands leave a gap between {_bare(previous_upper)} and {_bare(lower)}",
                        item.offset,
                    )
                if start < previous_end:
                    raise ThresholdError(
                        f"threshold bands overlap between {_bare(lower)} and {_bare(previous_upper)}",
                        item.offset,
                    )
        if index == len(ordered) - 1 and upper is not None and item.kind != "point":
            raise ThresholdError(
                f"threshold bands leave values from {upper} up without a colour; "
                f'end with a band such as ">{upper} Red"',
                item.offset,
            )
        bands.append(
            Band(color=item.color or "green", lower=None if index == 0 else lower)
        )
    return tuple(bands)


def parse_shorthand(text: str) -> Thresholds:
    """Parse threshold shorthand; raise ThresholdError with the offset of the problem."""
    raw_items = [_parse_item(part, offset) for part, offset in _split(text)]
    items = _fill_units(raw_items)
    kinds = {item.kind for item in items}

    if kinds == {"series"}:
        series = []
        seen: set[str] = set()
        for item in items:
            assert item.series is not None and item.a is not None
            if item.series in seen:
                raise ThresholdError(
                    f'series "{item.series}" is listed twice', item.offset
                )
            seen.add(item.series)
            series.append(
                SeriesThreshold(item.series, (Band("green"), Band("red", lower=item.a)))
            )
        return Thresholds(text=text, bands=(Band("green"),), series=tuple(series))

    if kinds == {"mapping"}:
        mappings = []
        seen_values: set[float] = set()
        for item in items:
            assert item.a is not None and item.color is not None
            if item.a.number in seen_values:
                raise ThresholdError(f"value {item.a} is mapped twice", item.offset)
            seen_values.add(item.a.number)
            mappings.append(ValueMapping(item.a.number, item.color, ""))
        ordered = sorted(mappings, key=lambda m: m.value)
        mapped = [Band(ordered[0].color)]
        mapped += [Band(m.color, lower=Quantity(m.value)) for m in ordered[1:]]
        return Thresholds(
            text=text,
            bands=tuple(mapped),
            mappings=tuple(ordered),
            steps_from_mappings=True,
        )

    if "series" in kinds or "mapping" in kinds:
        bad = next(item for item in items if item.kind in ("series", "mapping"))
        raise ThresholdError(
            "cannot mix per-series bounds or value mappings with bands in one threshold text",
            bad.offset,
        )

    if len(items) == 1 and items[0].kind in ("below", "from"):
        # A text that names only the good band with a bound implies red beyond it.
        item = items[0]
        capacity = item.capacity
        if item.kind == "below":
            single: tuple[Band, ...] = (
                Band(item.color or "green"),
                Band("red", lower=item.a),
            )
        else:
            single = (Band("red"), Band(item.color or "green", lower=item.a))
        return Thresholds(text=text, bands=single, capacity_of=capacity)

    capacities = {item.capacity for item in items if item.capacity}
    return Thresholds(
        text=text,
        bands=_bands(items, text),
        capacity_of=next(iter(capacities)) if capacities else None,
    )


def _step_quantity(value: Any, unit: str | None, offset: int) -> Quantity:
    if isinstance(value, bool):
        raise ThresholdError("a step value must be a number", offset)
    if isinstance(value, int | float):
        return Quantity(float(value), unit)
    match = re.fullmatch(_quantity("a"), str(value).strip())
    if not match:
        raise ThresholdError(
            f'cannot read step value "{value}"; write a number such as 0.5 or 500ms'
        )
    quantity = _number(match, "a")
    return quantity if quantity.unit else Quantity(quantity.number, unit)


def parse_structured(data: dict[str, Any]) -> Thresholds:
    """Build thresholds from the mapping form (`steps`, `series`, `mappings`, `unit`)."""
    parsed = parse_shorthand(data["text"]) if "text" in data else Thresholds(text="")
    unit = data.get("unit")
    bands = list(parsed.bands)
    if "steps" in data:
        bands = []
        previous = -math.inf
        for index, step in enumerate(data["steps"]):
            if isinstance(step, str):
                step = {"color": step}
            color = _color(step["color"], 0)
            if index == 0:
                if step.get("value") is not None:
                    raise ThresholdError(
                        "the first step is the base and takes no value"
                    )
                bands.append(Band(color))
                continue
            if step.get("value") is None:
                raise ThresholdError(f"step {index + 1} needs a value")
            lower = _step_quantity(step["value"], unit, 0)
            if comparable(lower, 0) <= previous:
                raise ThresholdError(
                    "steps must be in strictly ascending order of value"
                )
            previous = comparable(lower, 0)
            bands.append(Band(color, lower=lower))
    series = list(parsed.series)
    for name, text in (data.get("series") or {}).items():
        inner = parse_shorthand(text)
        series.append(SeriesThreshold(name, inner.bands))
    mappings = list(parsed.mappings)
    for mapping in data.get("mappings") or []:
        mappings.append(
            ValueMapping(
                float(mapping["value"]),
                _color(mapping["color"], 0),
                mapping.get("text", ""),
            )
        )
    steps_from_mappings = parsed.steps_from_mappings and "steps" not in data
    if mappings and "steps" not in data and not parsed.bands:
        ordered = sorted(mappings, key=lambda m: m.value)
        bands = [Band(ordered[0].color)]
        bands += [Band(m.color, lower=Quantity(m.value)) for m in ordered[1:]]
        steps_from_mappings = True
    if series and not bands:
        bands = [Band("green")]
    return Thresholds(
        text=parsed.text,
        bands=tuple(bands),
        series=tuple(series),
        mappings=tuple(sorted(mappings, key=lambda m: m.value)),
        capacity_of=parsed.capacity_of,
        steps_from_mappings=steps_from_mappings,
    )


def read_thresholds(
    value: Any, location: Location, quote_offset: int = 0
) -> tuple[Thresholds | None, list[Diagnostic]]:
    """Parse a manifest's `thresholds` value; report problems at their position."""
    try:
        if isinstance(value, str):
            parsed = parse_shorthand(value)
        else:
            parsed = parse_structured(value)
    except ThresholdError as exc:
        at = (
            location.shifted(quote_offset + exc.offset)
            if isinstance(value, str)
            else location
        )
        return None, [error(at, str(exc), CHECK)]
    return attrs.evolve(parsed, location=location), []
