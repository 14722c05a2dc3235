"""Threshold shorthand and structured thresholds, resolved into Grafana steps."""

from __future__ import annotations

import pytest

from obscompile.derive.thresholds import resolve
from obscompile.derive.units import UnitError
from obscompile.load.thresholds import ThresholdError, parse_shorthand, parse_structured

# Every threshold text of the platform's dashboards, with the query unit it applies
# to and the exact steps Grafana gets.
SPEC_TEXTS = [
    (
        "<1% Green, 1-5% Yellow, >5% Red",
        "percent",
        [("green", None), ("yellow", 1), ("red", 5)],
    ),
    (
        ">99% Green, 95-99% Yellow, <95% Red",
        "percent",
        [("red", None), ("yellow", 95), ("green", 99)],
    ),
    (
        ">90% Green, 70-90% Yellow, <70% Red",
        "percent",
        [("red", None), ("yellow", 70), ("green", 90)],
    ),
    (
        "<500ms Green, 500-1s Yellow, >1s Red",
        "s",
        [("green", None), ("yellow", 0.5), ("red", 1)],
    ),
    (
        "<500ms Green, 500ms-1s Yellow, >1s Red",
        "s",
        [("green", None), ("yellow", 0.5), ("red", 1)],
    ),
    (
        "<500ms Green, 500ms-2s Yellow, >2s Red",
        "s",
        [("green", None), ("yellow", 0.5), ("red", 2)],
    ),
    (
        "<200ms Green, 200-500ms Yellow, >500ms Red",
        "s",
        [("green", None), ("yellow", 0.2), ("red", 0.5)],
    ),
    (
        "<300ms Green, 300-800ms Yellow, >800ms Red",
        "s",
        [("green", None), ("yellow", 0.3), ("red", 0.8)],
    ),
    (
        "<50ms Green, 50-150ms Yellow, >150ms Red",
        "s",
        [("green", None), ("yellow", 0.05), ("red", 0.15)],
    ),
    (
        "<1s Green, 1-5s Yellow, >5s Red",
        "s",
        [("green", None), ("yellow", 1), ("red", 5)],
    ),
    (
        "<10s Green, 10-60s Yellow, >60s Red",
        "s",
        [("green", None), ("yellow", 10), ("red", 60)],
    ),
    (
        "<10s Green, 10-30s Yellow, >30s Red",
        "s",
        [("green", None), ("yellow", 10), ("red", 30)],
    ),
    (
        "<30s Green, 30-120s Yellow, >120s Red",
        "s",
        [("green", None), ("yellow", 30), ("red", 120)],
    ),
    (
        "<120s Green, 120-300s Yellow, >300s Red",
        "s",
        [("green", None), ("yellow", 120), ("red", 300)],
    ),
    (
        "<600s Green, 600-1200s Yellow, >1200s Red",
        "s",
        [("green", None), ("yellow", 600), ("red", 1200)],
    ),
    (
        "<50 Green, 50-100 Yellow, >100 Red",
        "short",
        [("green", None), ("yellow", 50), ("red", 100)],
    ),
    (
        "<100 Green, 100-500 Yellow, >500 Red",
        "short",
        [("green", None), ("yellow", 100), ("red", 500)],
    ),
    (
        "<1000 Green, 1000-10000 Yellow, >10000 Red",
        "short",
        [("green", None), ("yellow", 1000), ("red", 10000)],
    ),
    (
        "<10 Green, 10-20 Yellow, >20 Red",
        "short",
        [("green", None), ("yellow", 10), ("red", 20)],
    ),
    (
        "0 Green, 1-5 Yellow, >5 Red",
        "short",
        [("green", None), ("yellow", 1), ("red", 5)],
    ),
    ("1=Green, 0=Red", "none", [("red", None), ("green", 1)]),
    ("Green", "reqps", [("green", None)]),
]


def _steps(text: str, unit: str, capacity: float | None = None) -> list[tuple]:
    resolved = resolve(parse_shorthand(text), unit, capacity)
    return [(s.color, s.value) for s in resolved.steps]


@pytest.mark.parametrize(
    ("text", "unit", "steps"), SPEC_TEXTS, ids=[t[0] for t in SPEC_TEXTS]
)
def test_spec_text_steps(text: str, unit: str, steps: list) -> None:
    assert _steps(text, unit) == steps


def test_steps_are_exact_doubles() -> None:
    """0.2 and 0.15 are the nearest doubles, not 0.2000000000000001 from 200 * 0.001."""
    values = [v for _, v in _steps("<150ms Green, 150-200ms Yellow, >200ms Red", "s")]
    assert values == [None, 0.15, 0.2]


def test_percent_on_ratio_query_is_divided() -> None:
    assert _steps("<1% Green, 1-5% Yellow, >5% Red", "percentunit") == [
        ("green", None),
        ("yellow", 0.01),
        ("red", 0.05),
    ]


def test_seconds_on_millisecond_query() -> None:
    assert _steps("<2s Green, 2-5s Yellow, >5s Red", "ms") == [
        ("green", None),
        ("yellow", 2000),
        ("red", 5000),
    ]


def test_value_mapping() -> None:
    parsed = parse_shorthand("1=Green, 0=Red")
    resolved = resolve(parsed, "none")
    assert [(m.value, m.color) for m in resolved.mappings] == [(0, "red"), (1, "green")]


@pytest.mark.parametrize(
    ("text", "series"),
    [
        (
            "nse_pipeline <300s, news_pipeline <120s",
            {
                "nse_pipeline": [("green", None), ("red", 300)],
                "news_pipeline": [("green", None), ("red", 120)],
            },
        ),
        (
            "AngelOne <2s, News <5s",
            {
                "AngelOne": [("green", None), ("red", 2)],
                "News": [("green", None), ("red", 5)],
            },
        ),
    ],
)
def test_per_series(text: str, series: dict) -> None:
    resolved = resolve(parse_shorthand(text), "s")
    assert [(s.color, s.value) for s in resolved.steps] == [("green", None)]
    got = {
        s.series: [(step.color, step.value) for step in s.steps]
        for s in resolved.series
    }
    assert got == series


def test_capacity_percentage() -> None:
    assert _steps("<80% pool Green", "short", capacity=20) == [
        ("green", None),
        ("red", 16),
    ]


def test_capacity_percentage_needs_capacity() -> None:
    with pytest.raises(
        UnitError, match='percentage of "pool", but the panel sets no capacity'
    ):
        _steps("<80% pool Green", "short")


def test_good_band_only_implies_red() -> None:
    assert _steps(">99% Green", "percent") == [("red", None), ("green", 99)]


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        (
            "<1% Green, 2-5% Yellow, >5% Red",
            "threshold bands leave a gap between 1 and 2",
            11,
        ),
        ("<2 Green, 1-5 Yellow, >5 Red", "threshold bands overlap between 1 and 2", 10),
        ("1-5 Yellow, <1 Green, >5 Red", "threshold bands are not in order", 0),
        ("<1 Green, 1-5 Yellow", "leave values from 5 up without a colour", 10),
        ("1-5 Yellow, >5 Red", "leave values below 1 without a colour", 0),
        ("<1 Grean", 'unknown colour "Grean"', 0),
        ("<1 Green, , >1 Red", "empty threshold item", 10),
        ("green-ish", 'unknown colour "green-ish"', 0),
        ("<5 % of it", 'cannot read threshold "<5 % of it"', 0),
        ("a <1s, a <2s", 'series "a" is listed twice', 7),
        ("1=Green, 1=Red", "value 1 is mapped twice", 9),
        (
            "1=Green, <1 Red",
            "cannot mix per-series bounds or value mappings with bands",
            0,
        ),
    ],
)
def test_invalid_text(text: str, message: str, offset: int) -> None:
    with pytest.raises(ThresholdError, match=message) as raised:
        parse_shorthand(text)
    assert raised.value.offset == offset


def test_percent_needs_known_scale() -> None:
    with pytest.raises(
        UnitError, match="thresholds are in % but the query scale is unknown"
    ):
        _steps("<1% Green, 1-5% Yellow, >5% Red", "short")


def test_duration_needs_time_unit() -> None:
    with pytest.raises(UnitError, match="threshold 500ms is a duration"):
        _steps("<500ms Green, >500ms Red", "short")


def test_structured_steps_with_unit() -> None:
    parsed = parse_structured(
        {
            "unit": "ms",
            "steps": [
                "green",
                {"value": 250, "color": "orange"},
                {"value": "1s", "color": "red"},
            ],
        }
    )
    resolved = resolve(parsed, "s")
    assert [(s.color, s.value) for s in resolved.steps] == [
        ("green", None),
        ("orange", 0.25),
        ("red", 1),
    ]


def test_structured_mappings_with_text() -> None:
    parsed = parse_structured(
        {
            "mappings": [
                {"value": 0, "text": "Down", "color": "red"},
                {"value": 1, "text": "Up", "color": "green"},
            ]
        }
    )
    assert [(m.value, m.text, m.color) for m in parsed.mappings] == [
        (0, "Down", "red"),
        (1, "Up", "green"),
    ]
    assert [(b.color, b.lower) for b in parsed.bands][0] == ("red", None)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"steps": [{"value": 1, "color": "green"}]}, "the first step is the base"),
        ({"steps": ["green", {"color": "red"}]}, "step 2 needs a value"),
        (
            {
                "steps": [
                    "green",
                    {"value": 5, "color": "red"},
                    {"value": 1, "color": "blue"},
                ]
            },
            "strictly ascending",
        ),
    ],
)
def test_structured_invalid(data: dict, message: str) -> None:
    with pytest.raises(ThresholdError, match=message):
        parse_structured(data)
