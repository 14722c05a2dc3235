"""Threshold shorthand and structured thresholds, resolved into Grafana steps."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import promql_parser as pp
import pytest
from ruamel.yaml import YAML

from obscompile import dsl
from obscompile.derive.alerts import derive_rules
from obscompile.derive.evaluate import Evaluator, Storage, make_labels
from obscompile.derive.probes import colour_of
from obscompile.derive.thresholds import resolve
from obscompile.derive.units import UnitError, UnitMismatch
from obscompile.load.project import load_project
from obscompile.load.thresholds import (
    ThresholdError,
    parse_shorthand,
    parse_structured,
    read_thresholds,
)
from obscompile.model import (
    Dashboard,
    Metric,
    MetricType,
    Panel,
    Row,
    ScrapeJob,
    Service,
    Thresholds,
)
from obscompile.model.location import Location
from obscompile.model.panel import PanelAlert
from obscompile.model.threshold import Quantity, colour_hue
from obscompile.numbers import javascript_text, number_text
from obscompile.pipeline import Project, build
from obscompile.write.atomic import write_tree
from tests.conftest import write_manifest
from tests.test_prometheus import run_promtool

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


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("<5 Green", [("green", None), ("red", 5)]),
        (">5 Green", [("red", None), ("green", 5)]),
        (">5 Orange", [("green", None), ("orange", 5)]),
        (">5 Red", [("green", None), ("red", 5)]),
        ("<5 Red", [("red", None), ("green", 5)]),
        (">5 dark-red", [("green", None), ("dark-red", 5)]),
        (">5 Yellow", [("green", None), ("yellow", 5)]),
        ("<5 #F2CC0C", [("#f2cc0c", None), ("green", 5)]),
    ],
)
def test_single_band_implies_the_other_side(text: str, steps: list) -> None:
    """A good band implies red beyond its bound, and a red or yellow one green."""
    assert _steps(text, "short") == steps


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            ">5 Blue",
            "a single Blue band does not say the colour of the values beyond 5; "
            'write both bands, such as "<5 Green, >=5 Blue"',
        ),
        (
            "<5 purple",
            "a single purple band does not say the colour of the values beyond 5; "
            'write both bands, such as "<5 purple, >=5 Red"',
        ),
        (
            "5 Red",
            '"5 Red" colours one value and leaves the others without a colour; write bands '
            'such as "<5 Green, >=5 Red", or a value mapping such as "5=Red"',
        ),
    ],
)
def test_lone_band_needs_both_sides(text: str, message: str) -> None:
    with pytest.raises(ThresholdError) as raised:
        parse_shorthand(text)
    assert str(raised.value) == message
    assert raised.value.offset == 0


# Bands that meet at one value: the band that contains the value alone or as its
# upper bound gets it, through a value mapping, and the next band's step starts there.
# (text, steps, mappings) on a panel of unit short.
SINGLE_VALUE_TEXTS = [
    ("0 Green, >0 Red", [("green", None), ("red", 0)], [(0, "green")]),
    (">0 Red, 0 Green", [("green", None), ("red", 0)], [(0, "green")]),
    ("<=0 Green, >0 Red", [("green", None), ("red", 0)], [(0, "green")]),
    ("≤0 Green, >0 Red", [("green", None), ("red", 0)], [(0, "green")]),
    ("<=0 Green", [("green", None), ("red", 0)], [(0, "green")]),
    ("0 Red, >0 Green", [("red", None), ("green", 0)], [(0, "red")]),
    (
        "0 Green, 0-5 Yellow, >5 Red",
        [("green", None), ("yellow", 0), ("red", 5)],
        [(0, "green")],
    ),
    ("0 Green", [("red", None)], [(0, "green")]),
    ("0-0 Yellow", [("green", None)], [(0, "yellow")]),
    ("0-0 Red", [("green", None)], [(0, "red")]),
    ("<0 Green, 0-0 Yellow, >0 Red", [("green", None), ("red", 0)], [(0, "yellow")]),
    (">0 Red, 0-0 Yellow, <0 Green", [("green", None), ("red", 0)], [(0, "yellow")]),
    ("<0 Blue, 0 Green, >0 Red", [("blue", None), ("red", 0)], [(0, "green")]),
    (
        "<=5 Green, 5-10 Yellow, >10 Red",
        [("green", None), ("yellow", 5), ("red", 10)],
        [(5, "green")],
    ),
    ("≥5 Red", [("green", None), ("red", 5)], []),
    ("≤5 Red", [("red", None), ("green", 5)], [(5, "red")]),
    # A single value before a higher band still reaches up to it.
    ("0 Green, 1-5 Yellow, >5 Red", [("green", None), ("yellow", 1), ("red", 5)], []),
]


@pytest.mark.parametrize(
    ("text", "steps", "mappings"),
    SINGLE_VALUE_TEXTS,
    ids=[t[0] for t in SINGLE_VALUE_TEXTS],
)
def test_single_value_bands(text: str, steps: list, mappings: list) -> None:
    resolved = resolve(parse_shorthand(text), "short")
    assert [(s.color, s.value) for s in resolved.steps] == steps
    assert [(m.value, m.color) for m in resolved.mappings] == mappings


def test_single_value_in_panel_unit() -> None:
    resolved = resolve(parse_shorthand("<=500ms Green, >500ms Red"), "s")
    assert [(s.color, s.value) for s in resolved.steps] == [
        ("green", None),
        ("red", 0.5),
    ]
    assert [(m.value, m.color) for m in resolved.mappings] == [(0.5, "green")]
    resolved = resolve(
        parse_shorthand("<1% Green, 1-1% Yellow, >1% Red"), "percentunit"
    )
    assert [(s.color, s.value) for s in resolved.steps] == [
        ("green", None),
        ("red", 0.01),
    ]
    assert [(m.value, m.color) for m in resolved.mappings] == [(0.01, "yellow")]
    resolved = resolve(parse_shorthand("<=80% pool Green"), "short", capacity=20)
    assert [(s.color, s.value) for s in resolved.steps] == [
        ("green", None),
        ("red", 16),
    ]
    assert [(m.value, m.color) for m in resolved.mappings] == [(16, "green")]


def test_written_mapping_wins_over_single_value() -> None:
    parsed = parse_structured(
        {"text": "0 Green, >0 Red", "mappings": [{"value": 0, "color": "blue"}]}
    )
    resolved = resolve(parsed, "short")
    assert [(m.value, m.color) for m in resolved.mappings] == [(0, "blue")]


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        (
            "<=5 Green, >=5 Red",
            'threshold bands <=5 and >=5 both contain 5; write "<5 Green" or '
            '">5 Red" so that 5 has one colour',
            11,
        ),
        (
            "0 Green, >=0 Red",
            'threshold bands 0 and >=0 both contain 0; write ">0 Red" so that 0 has '
            "one colour",
            9,
        ),
        (
            "<=0 Green, 0 Red",
            'threshold bands <=0 and 0 both contain 0; write "<0 Green" so that 0 has '
            "one colour",
            11,
        ),
        (
            "0 Green, 0-0 Red, >0 Red",
            "threshold bands 0 and 0-0 both contain 0; remove one of them",
            9,
        ),
        (
            "0-0 Yellow, >0 Red",
            "threshold bands leave values below 0 without a colour; start with a "
            'band such as "<0 Green"',
            0,
        ),
        (
            "<0 Green, 0-0 Yellow",
            "threshold bands leave values above 0 without a colour; end with a band "
            'such as ">0 Red"',
            10,
        ),
        (
            "0-0 Blue",
            "a single Blue value does not say the colour of the values other than 0; "
            'write every band, such as "<0 Green, 0-0 Blue, >0 Green"',
            0,
        ),
        (
            "<=5 Blue",
            "a single Blue band does not say the colour of the values beyond 5; "
            'write both bands, such as "<=5 Blue, >5 Red"',
            0,
        ),
        (
            "0 Yellow",
            '"0 Yellow" colours one value and leaves the others without a colour; '
            'write bands such as "<0 Green, >=0 Yellow", or a value mapping such as '
            '"0=Yellow"',
            0,
        ),
    ],
)
def test_single_value_errors(text: str, message: str, offset: int) -> None:
    with pytest.raises(ThresholdError) as raised:
        parse_shorthand(text)
    assert str(raised.value) == message
    assert raised.value.offset == offset


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


def test_capacity_percentage_in_range() -> None:
    text = "<80% pool Green, 80-90% pool Yellow, >=90% pool Red"
    assert _steps(text, "short", capacity=20) == [
        ("green", None),
        ("yellow", 16),
        ("red", 18),
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
            "Red, Green",
            r"a band without a bound \(red\) covers every value, so it must be the "
            "only band of the text",
            0,
        ),
        (
            "<5 Green, Red",
            r"a band without a bound \(red\) covers every value",
            10,
        ),
        (">5 Red, >5 Red", "threshold band >5 is listed twice", 8),
        ("<1 Green, 0-5 Yellow, >5 Red", "threshold bands overlap between 0 and 1", 10),
        (
            ">500 ms Red",
            'write the unit of ">500 ms Red" without a space, such as "500ms"',
            5,
        ),
        (
            "<80 pool Green",
            '"pool" after 80 names a capacity, which takes a percentage: write '
            '"<80% pool Green" for 80% of the panel\'s capacity, or "<80 Green" for '
            "the value 80",
            4,
        ),
        (
            "<80% pool Green, 80-90 pool Yellow",
            '"pool" after 80-90 names a capacity, which takes a percentage: write '
            '"80-90% pool Yellow" for 80-90% of the panel\'s capacity, or "80-90 '
            'Yellow" for the values 80 to 90',
            23,
        ),
        ("<5 sec Green", "write 5 sec as 5s: the time units of thresholds are", 3),
        ("<1sec Green, >=1sec Red", "write 1sec as 1s", 2),
        ("<1 Green, 1-2 Hours Yellow", "write 2 Hours as 2h", 14),
        ("<1.5mins Green", "write 1.5mins as 1.5m", 4),
        ("last 24 hours <5 sec", "write 5 sec as 5s", 17),
        ("<1GB Green, >=1GB Red", "write 1GB as 1000000000: thresholds take no", 2),
        ("<1.5 GiB Green", "write 1.5 GiB as 1610612736", 5),
        ("<512MiB Green", "write 512MiB as 536870912", 4),
        ("<2kB Green", "write 2kB as 2000", 2),
        (
            "<1Gb Green, >=1Gb Red",
            "write 1Gb as 1000000000 if the query counts bits, or as 125000000 if",
            2,
        ),
        (
            "backup 7 days >2s",
            r'a series bound is written with "<": "backup 7 days <2s"',
            14,
        ),
        (
            "<1% Green, 2-5% Yellow, >5% Red",
            "threshold bands leave a gap between 1% and 2%",
            11,
        ),
        ("<2 Green, 1-5 Yellow, >5 Red", "threshold bands overlap between 1 and 2", 10),
        (
            "<1s Green, 500ms-2s Yellow, >2s Red",
            "threshold bands overlap between 500ms and 1s",
            11,
        ),
        (
            "1-5 Yellow, <1 Green, >5 Red",
            "threshold band 1-5 is out of order: the other bands run from low to "
            "high, so list it after <1",
            0,
        ),
        # The error points at the band out of order, not at the start of the text.
        (
            "<1 Green, 5-10 Yellow, 1-5 Orange, >10 Red",
            "threshold band 1-5 is out of order: the other bands run from low to "
            "high, so list it after <1",
            23,
        ),
        (
            "<1 Green, 10-20 Yellow, 1-5 Orange, 5-10 Blue, >20 Red",
            "threshold band 10-20 is out of order: the other bands run from low to "
            "high, so list it after 5-10",
            10,
        ),
        (
            "<1 Green, 1-5 Yellow, >10 Red, 5-10 Orange",
            "threshold band 5-10 is out of order: the other bands run from low to "
            "high, so list it after 1-5",
            31,
        ),
        (
            ">10 Red, 1-5 Yellow, 5-10 Orange, <1 Green",
            "threshold band 5-10 is out of order: the other bands run from high to "
            "low, so list it after >10",
            21,
        ),
        (
            ">5 Red, <1 Green, 1-5 Yellow",
            "threshold band 1-5 is out of order: the other bands run from high to "
            "low, so list it after >5",
            18,
        ),
        (
            "5-10 Yellow, <1 Green, 1-5 Orange, >10 Red",
            "threshold band 5-10 is out of order: the other bands run from low to "
            "high, so list it after 1-5",
            0,
        ),
        # Bands of one bound listed from high to low are in order, so they overlap.
        (
            ">5 Red, 5-5 Yellow, 5 Green, <5 Green",
            "threshold bands 5 and 5-5 both contain 5; remove one of them",
            8,
        ),
        (
            "5-10 Yellow, 10-20 Orange, <5 Green, >20 Red",
            "threshold band <5 is out of order: the other bands run from low to "
            "high, so list it before 5-10",
            27,
        ),
        (
            "<1 Green, 5-1 Yellow, >5 Red",
            "threshold range 5-1 runs backwards; write 1-5",
            10,
        ),
        (
            "<500ms Green, 1s-500ms Yellow, >1s Red",
            "threshold range 1s-500ms runs backwards; write 500ms-1s",
            14,
        ),
        ("<1 Green, 1-5 Yellow", "leave values from 5 up without a colour", 10),
        ("1-5 Yellow, >5 Red", "leave values below 1 without a colour", 0),
        ("<1 Grean", 'unknown colour "Grean"', 3),
        ("<1 Green, , >1 Red", "empty threshold item", 10),
        ("green-ish", 'unknown colour "green-ish"', 0),
        ("<5 % of it", 'cannot read threshold "<5 % of it"', 0),
        ("a <1s, a <2s", 'series "a" is listed twice', 7),
        ("1=Green, 1=Red", "value 1 is mapped twice", 9),
        (">1,000 Red", "write 1,000 as 1000: a comma separates bands", 1),
        ("<0,5 Green, >0,5 Red", "write 0,5 as 0.5: a comma separates bands", 1),
        ("<1,000.5 Green, >=1,000.5 Red", "write 1,000.5 as 1000.5", 1),
        (
            "<0.5% Green, 0.5-2% Yellow, >2ms Red",
            r"mixes a percentage \(0.5%\) with a duration \(2ms\)",
            28,
        ),
        ("<5 Green, >=12,500,000 Red", "write 12,500,000 as 12500000", 12),
        ("1,000=Red", "write 1,000 as 1000", 0),
        (
            "1=Green, <1 Red",
            "cannot mix per-series bounds or value mappings with bands",
            0,
        ),
        (
            "fast >10, slow <20",
            'a series bound is written with "<": "fast <10" keeps fast green below '
            "10 and red from 10 on",
            5,
        ),
        ("fast <10, slow >= 20s", '"slow <20s" keeps slow green below 20s', 15),
        ("fast <=10", '"fast <10" keeps fast green', 5),
        ("Green >5", 'cannot read threshold "Green >5"', 0),
        ("Green >5", 'or a series bound such as "primary <2s"', 0),
        ("#FF0000 >5", 'cannot read threshold "#FF0000 >5"', 0),
        ("#f00 >= 5", 'cannot read threshold "#f00 >= 5"', 0),
        ("OK=Green", 'cannot read threshold "OK=Green"', 0),
        ("5 >Red", 'cannot read threshold "5 >Red"', 0),
        ("fast >x", 'cannot read threshold "fast >x"', 0),
        ("fast >1m30s", '"fast <1m30s" keeps fast green below 1m30s', 5),
    ],
)
def test_invalid_text(text: str, message: str, offset: int) -> None:
    with pytest.raises(ThresholdError, match=message) as raised:
        parse_shorthand(text)
    assert raised.value.offset == offset


def test_every_bad_item_reported() -> None:
    with pytest.raises(ThresholdError, match="empty threshold item") as raised:
        parse_shorthand("0=green, , 5=rde")
    assert raised.value.offset == 9
    others = raised.value.others
    assert [e.offset for e in others] == [13]
    assert str(others[0]) == 'unknown colour "rde" (did you mean "red"?)'


def test_every_comma_number_reported() -> None:
    with pytest.raises(ThresholdError, match="write 1,000 as 1000") as raised:
        parse_shorthand("<1,000 Green, 1,000-2,000 Yellow, >2,000 Red")
    assert raised.value.offset == 1
    assert [(str(e).split(":")[0], e.offset) for e in raised.value.others] == [
        ("write 1,000 as 1000", 14),
        ("write 2,000 as 2000", 20),
        ("write 2,000 as 2000", 35),
    ]


def test_gap_reported_beside_bad_colour() -> None:
    with pytest.raises(ThresholdError, match="leave values from 5 up") as raised:
        parse_shorthand("<1 Green, 1-5 Yelow")
    assert raised.value.offset == 10
    others = raised.value.others
    assert [e.offset for e in others] == [14]
    assert str(others[0]) == 'unknown colour "Yelow" (did you mean "yellow"?)'


def test_unreadable_item_stops_band_checks() -> None:
    # Without its unreadable item, the text would leave values from 1 up uncoloured.
    with pytest.raises(ThresholdError, match="unknown colour") as raised:
        parse_shorthand("<1 Grean, 1-5 ???")
    assert raised.value.offset == 3
    others = raised.value.others
    assert [e.offset for e in others] == [10]
    assert str(others[0]).startswith('cannot read threshold "1-5 ???"')


def test_colour_names_listed_without_close_one() -> None:
    with pytest.raises(ThresholdError) as raised:
        parse_shorthand("<1 Green, >1 Zzzz")
    assert str(raised.value).startswith('unknown colour "Zzzz"; write a Grafana colour')
    assert "a hex colour such as #f00, #ff0000 or #ff000080" in str(raised.value)
    assert "Grafana's names are the hues red, orange" in str(raised.value)


def test_percent_needs_known_scale() -> None:
    with pytest.raises(UnitMismatch) as raised:
        _steps("<1% Green, 1-5% Yellow, >5% Red", "short")
    assert str(raised.value) == (
        "threshold 1% is a percentage, which unit short cannot express"
    )
    assert raised.value.unit == "short"


def test_duration_needs_time_unit() -> None:
    with pytest.raises(UnitMismatch) as raised:
        _steps("<500ms Green, >500ms Red", "bytes")
    assert str(raised.value) == (
        "threshold 500ms is a duration, which unit bytes cannot express"
    )
    assert raised.value.unit == "bytes"


@pytest.mark.parametrize(
    ("unit", "red_from"),
    [
        ("dtdurationms", 5400000),
        ("dtdurations", 5400),
        ("dthms", 5400),
        ("dtdhms", 5400),
        ("clockms", 5400000),
        ("clocks", 5400),
        ("timeticks", 540000),
    ],
)
def test_duration_in_grafana_format_unit(unit: str, red_from: int) -> None:
    """Grafana's duration and clock formats take durations in the values' unit."""
    assert _steps("<1h30m Green, >=1h30m Red", unit) == [
        ("green", None),
        ("red", red_from),
    ]


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
    assert [(b.color, b.lower) for b in parsed.bands] == [
        ("red", None),
        ("green", Quantity(1)),
    ]


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("5=Red", [("green", None)]),
        ("2=Red, 1=Green", [("green", None)]),
        ("3=Yellow, 2=Red", [("green", None)]),
        ("1=Green, 0=Red", [("red", None), ("green", 1)]),
        (
            "0=dark-red, 1=Yellow, 2=Green",
            [("dark-red", None), ("yellow", 1), ("green", 2)],
        ),
        ("0=Blue, 1=Red, 2=Green", [("blue", None), ("red", 1), ("green", 2)]),
        ("1=Green, 0=Blue, 2=Red", [("blue", None), ("green", 1)]),
        ("0=#5794F2, 1=#F2495C", [("#5794f2", None)]),
    ],
)
def test_mapping_steps_skip_alert_colours(text: str, steps: list) -> None:
    """A red or yellow mapping above every other colour colours its own value only."""
    assert _steps(text, "none") == steps


@pytest.mark.parametrize(
    ("text", "red"),
    [("5=Red", {5}), ("2=Red, 1=Green", {2}), ("3=Red, 1=Blue", {3})],
)
def test_mapping_alert_matches_red(text: str, red: set[float]) -> None:
    service = _alert_service(parse_shorthand(text))
    resolved = resolve(parse_shorthand(text), "short")
    for value in (-1, 0, 0.5, 1, 2, 3, 5, 7, 100):
        colour = colour_of(resolved.steps, value, resolved.mappings)
        assert (colour == "red") == (value in red), value
        assert bool(_firing(service, value)) == (value in red), value


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


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (10**400, "the value is a 401-digit number, beyond"),
        (2**53, "the value is 9007199254740992, beyond"),
        (math.inf, "number too large"),
        ("1" + "0" * 400, "number too large"),
    ],
)
def test_step_value_too_large(value: object, message: str) -> None:
    data = {"steps": ["green", {"value": value, "color": "red"}]}
    with pytest.raises(ThresholdError, match=message) as raised:
        parse_structured(data)
    assert raised.value.path == ("steps", 1, "value")


def test_mapping_value_too_large() -> None:
    data = {"mappings": [{"value": 10**400, "color": "red"}]}
    with pytest.raises(ThresholdError, match="401-digit number") as raised:
        parse_structured(data)
    assert raised.value.path == ("mappings", 0, "value")


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (
            {
                "mappings": [
                    {"value": 5, "color": "red"},
                    {"value": 5, "color": "green"},
                ]
            },
            ("mappings", 1, "value"),
        ),
        (
            {
                "mappings": [
                    {"value": 1, "color": "red"},
                    {"value": 1.0, "color": "red"},
                ]
            },
            ("mappings", 1, "value"),
        ),
        (
            {"text": "1=Green, 0=Red", "mappings": [{"value": 0, "color": "green"}]},
            ("mappings", 0, "value"),
        ),
    ],
)
def test_structured_mapping_twice(data: dict, path: tuple) -> None:
    # The dashboard keeps one mapping per value, so a second one would leave an alert
    # for a colour that the panel does not show.
    with pytest.raises(ThresholdError, match="is mapped twice") as raised:
        parse_structured(data)
    assert raised.value.path == path


def test_structured_reports_every_problem() -> None:
    data = {
        "text": "<1 Green, 1-5 Yelow",
        "steps": [
            "green",
            {"value": 50, "color": "rde"},
            {"value": 40, "color": "red"},
        ],
        "series": {"a": "<2s Green, , >2s Red"},
        "mappings": [{"value": 0, "color": "bleu"}],
    }
    with pytest.raises(ThresholdError) as raised:
        parse_structured(data)
    found = [(str(e), e.path) for e in (raised.value, *raised.value.others)]
    assert found[0][0].startswith("threshold bands leave values from 5 up")
    assert found[0][1] == ("text",)
    assert found[1] == ('unknown colour "Yelow" (did you mean "yellow"?)', ("text",))
    assert found[2] == (
        'unknown colour "rde" (did you mean "red"?)',
        ("steps", 1, "color"),
    )
    assert found[3] == (
        "steps must be in strictly ascending order of value",
        ("steps", 2, "value"),
    )
    assert found[4] == ("empty threshold item", ("series", "a"))
    assert found[5] == (
        'unknown colour "bleu" (did you mean "blue"?)',
        ("mappings", 0, "color"),
    )
    assert len(found) == 6


# Colours: Grafana's names and shades, hex and rgb() values, and the alerts they get --

SHADES = [
    f"{prefix}{hue}"
    for hue in ("red", "orange", "yellow", "green", "blue", "purple")
    for prefix in ("", "super-light-", "light-", "semi-dark-", "dark-")
]


@pytest.mark.parametrize("name", [*SHADES, "transparent", "text", "panel-bg"])
def test_grafana_colour_names_pass_through(name: str) -> None:
    structured = parse_structured({"steps": ["green", {"value": 5, "color": name}]})
    assert [(s.color, s.value) for s in resolve(structured, "short").steps] == [
        ("green", None),
        (name, 5),
    ]
    shorthand = parse_shorthand(f"<5 Green, >5 {name.upper()}")
    assert [s.color for s in resolve(shorthand, "short").steps] == ["green", name]


def _alert_service(thresholds: Thresholds, unit: str = "short") -> Service:
    panel = Panel(
        title="Depth",
        query='probe_value{job="p"}',
        type="stat",
        unit=unit,
        thresholds=thresholds,
        alert=PanelAlert(warning=True),
    )
    return Service(
        name="p",
        title="p",
        dashboard=Dashboard(uid="p", title="p"),
        scrape_jobs=(ScrapeJob("p", ("p:80",)),),
        metrics=(Metric("probe_value", MetricType.GAUGE),),
        rows=(Row("Row", (panel,)),),
    )


def _firing(service: Service, value: float) -> list[str]:
    """Return the names of the alerts whose condition holds for `value`."""
    storage = Storage()
    storage.add(make_labels({"__name__": "probe_value", "job": "p"}), 0, value)
    evaluator = Evaluator(storage)
    return [
        alert.name
        for alert in derive_rules(service).alerts
        if evaluator.vector(pp.parse(alert.expr), 0)
    ]


# (colour of the band from 50, severity of its alert or None for no alert). The panel
# sets alert.warning, so yellow bands alert too.
COLOUR_ALERTS = [
    ("red", "critical"),
    ("Red", "critical"),
    ("super-light-red", "critical"),
    ("light-red", "critical"),
    ("semi-dark-red", "critical"),
    ("dark-red", "critical"),
    ("#F2495C", "critical"),  # red in Grafana's dark theme
    ("#e02f44", "critical"),  # red in the light theme
    ("#AD0317", "critical"),  # dark-red in the light theme
    ("#FF0000", "critical"),
    ("#f00", "critical"),
    ("#ff0000cc", "critical"),
    ("rgb(255, 0, 0)", "critical"),
    ("rgba(245, 54, 54, 0.9)", "critical"),
    ("#d44a3a", "critical"),
    ("yellow", "warning"),
    ("dark-yellow", "warning"),
    ("super-light-yellow", "warning"),
    ("#FADE2A", "warning"),
    ("#ffff00", "warning"),
    ("#EAB839", "warning"),
    ("orange", None),
    ("dark-orange", None),
    ("#FF9830", None),
    ("#ff4500", None),  # hue 16 degrees: between red and orange
    ("#5794F2", None),  # Grafana's blue
    ("#0000ff", None),
    ("green", None),
    ("#73BF69", None),
    ("purple", None),
    ("rgba(255, 0, 0, 0.3)", None),  # mostly transparent
    ("#580000", None),  # near black
    ("#ffe0e0", None),  # near white
    ("#c08080", None),  # greyish
    ("transparent", None),
    ("gray", None),
]


@pytest.mark.parametrize(("colour", "severity"), COLOUR_ALERTS)
def test_colour_alert_severity(colour: str, severity: str | None) -> None:
    thresholds = parse_structured({"steps": ["green", {"value": 50, "color": colour}]})
    rules = derive_rules(_alert_service(thresholds))
    expected = [severity] if severity else []
    assert [alert.severity for alert in rules.alerts] == expected
    assert [alert.expr for alert in rules.alerts] == (
        ['probe_value{job="p"} >= 50'] if severity else []
    )


@pytest.mark.parametrize(("colour", "severity"), COLOUR_ALERTS)
def test_mapped_colour_alert_severity(colour: str, severity: str | None) -> None:
    thresholds = parse_structured(
        {"mappings": [{"value": 0, "color": colour}, {"value": 1, "color": "green"}]}
    )
    rules = derive_rules(_alert_service(thresholds))
    assert [(alert.severity, alert.expr) for alert in rules.alerts] == (
        [(severity, 'probe_value{job="p"} == 0')] if severity else []
    )


@pytest.mark.parametrize(
    ("colour", "hue"),
    [
        ("#f2495c", "red"),
        ("#FF7383", "red"),
        ("#ff780a", "orange"),
        ("#56a64b", "green"),
        ("#1250b0", "blue"),
        ("#a352cc", "purple"),
        ("#cc9d00", "yellow"),
        ("#00ff00", None),
        ("#12345", None),
        ("rgb(256, 0, 0)", None),
        ("rgba(255, 0, 0, 1.5)", None),
    ],
)
def test_colour_hue_of_values(colour: str, hue: str | None) -> None:
    assert colour_hue(colour) == hue


HEX_MAPPINGS = {
    "steps": ["green", {"value": 50, "color": "#F2495C"}],
    "mappings": [
        {"value": 0, "text": "Stalled", "color": "dark-red"},
        {"value": 60, "text": "Full", "color": "#FF0000"},
        {"value": 70, "text": "Draining", "color": "#5794F2"},
    ],
}


def test_hex_red_mapping_in_red_band() -> None:
    """A mapping's colour wins for its value, so 60 alerts once and 70 not at all."""
    service = _alert_service(parse_structured(HEX_MAPPINGS))
    rules = derive_rules(service)
    record = 'probe_value{job="p"}'
    assert {alert.name: alert.expr for alert in rules.alerts} == {
        "PDepthHighCritical": (f"{record} >= 50 and {record} != 60 and {record} != 70"),
        "PDepthIs0Critical": f"{record} == 0",
        "PDepthIs60Critical": f"{record} == 60",
    }
    assert _firing(service, 60) == ["PDepthIs60Critical"]
    assert _firing(service, 70) == []
    assert _firing(service, 55) == ["PDepthHighCritical"]
    assert _firing(service, 0) == ["PDepthIs0Critical"]
    assert _firing(service, 10) == []


@pytest.mark.parametrize(
    ("text", "alerts"),
    [
        ("0 Green, >0 Red", {"PDepthCritical": "> 0"}),
        ("<=0 Green", {"PDepthCritical": "> 0"}),
        ("0 Green", {"PDepthCritical": "!= 0"}),
        ("0 Red, >0 Green", {"PDepthCritical": "<= 0"}),
        ("<=0.3 Red, >0.3 Green", {"PDepthCritical": "<= 0.3"}),
        (
            "<=5 Green, 5-10 Yellow, >10 Red",
            {"PDepthWarning": "> 5 and < 10", "PDepthCritical": ">= 10"},
        ),
        (
            "<=5 Red, 5-10 Yellow, >10 Green",
            {"PDepthCritical": "<= 5", "PDepthWarning": "> 5 and < 10"},
        ),
        ("<=5 Yellow, >5 Green", {"PDepthWarning": "<= 5"}),
        (
            "<=0.3 Red, 0.3-0.5 Red, >0.5 Green",
            {"PDepthLowCritical": "<= 0.3", "PDepthBand2Critical": "> 0.3 and < 0.5"},
        ),
        (
            "0 Green, 0-5 Yellow, >5 Red",
            {"PDepthWarning": "> 0 and < 5", "PDepthCritical": ">= 5"},
        ),
        ("0-0 Yellow", {"PDepthWarning": "== 0"}),
    ],
)
def test_single_value_alerts(text: str, alerts: dict[str, str]) -> None:
    rules = derive_rules(_alert_service(parse_shorthand(text)))
    record = 'probe_value{job="p"}'
    expected = {
        name: " and ".join(f"{record} {part}" for part in condition.split(" and "))
        for name, condition in alerts.items()
    }
    assert {alert.name: alert.expr for alert in rules.alerts} == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("0 Green, >0 Red", "(above 0)"),
        ("0 Green", "(other than 0)"),
        ("<=0.3 Red, >0.3 Green", "(at or below 0.3)"),
    ],
)
def test_single_value_alert_description(text: str, words: str) -> None:
    (alert,) = derive_rules(_alert_service(parse_shorthand(text))).alerts
    description = dict(alert.annotations)["description"]
    assert f"is in the red band {words} of panel" in description


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"steps": ["green", {"value": 5, "color": "bleu"}]}, ("steps", 1, "color")),
        ({"steps": ["green", {"value": 5, "color": "red"}, "rouge"]}, ("steps", 2)),
        (
            {"mappings": [{"value": 0, "color": "red"}, {"value": 1, "color": "#12"}]},
            ("mappings", 1, "color"),
        ),
        ({"series": {"a": "<1 Green, >1 Bleu"}}, ("series", "a")),
        ({"text": "<1 Green, >1 Bleu"}, ("text",)),
    ],
)
def test_unknown_colour_path(data: dict, path: tuple) -> None:
    with pytest.raises(ThresholdError, match="unknown colour") as raised:
        parse_structured(data)
    assert raised.value.path == path


def test_unknown_colour_suggests_name() -> None:
    with pytest.raises(ThresholdError, match='did you mean "semi-dark-red"'):
        parse_shorthand("<1 Green, >1 semi-drak-red")


PANEL_HEADER = """\
service: payments
dashboard:
  uid: payments-overview
scrape:
  job: payments
  port: 8080
metrics:
  depth: gauge
rows:
  - title: Health
    panels:
      - title: Depth
        query: 'max(depth{job="payments"})'
"""


def _diagnostics(project: Path, thresholds: str) -> list[str]:
    write_manifest(project, "payments.yaml", PANEL_HEADER + thresholds)
    loaded = load_project(project / "services")
    return [str(d) for d in loaded.diagnostics]


@pytest.mark.parametrize(
    ("thresholds", "expected"),
    [
        # The written text confirms the column of each item.
        ('        thresholds: "<1 Green, 1-5 Yelow, >5 Red"\n', ["14:36"]),
        # A single-quoted scalar doubles its quotes.
        (
            "        thresholds: '<1 Green, ''x'' <5 Red, 5-9 Yelow'\n",
            ["14:32", "14:50"],
        ),
        # An escape stands for one character, and a folded block starts on the line
        # after its `>-`.
        ('        thresholds: "\\u003c1 Green, 1-5 Yelow, >5 Red"\n', ["14:41"]),
        (
            "        thresholds: >-\n          <1 Green,\n          1-5 Yelow,\n          >5 Red\n",
            ["16:15"],
        ),
    ],
)
def test_threshold_text_positions(
    project: Path, thresholds: str, expected: list[str]
) -> None:
    found = [
        message.split(": error: ")[0].removeprefix("services/payments.yaml:")
        for message in _diagnostics(project, thresholds)
    ]
    assert found == expected


def test_structured_step_value_positions(project: Path) -> None:
    """Loading records where each step writes its value, inside any quotes."""
    text = PANEL_HEADER + (
        "        thresholds:\n"
        "          unit: ms\n"
        "          steps:\n"
        "            - green\n"
        "            - {value: 5, color: yellow}\n"
        "            - {value: '  10', color: orange}\n"
        "            - color: red\n"
        "              value: >-\n"
        "                20s\n"
    )
    write_manifest(project, "payments.yaml", text)
    (service,) = load_project(project / "services").services
    (panel,) = service.panels
    assert panel.thresholds is not None
    bounds = [band.lower for band in panel.thresholds.bands]
    assert bounds[0] is None
    found = [str(panel.bound_location(bound)) for bound in bounds[1:] if bound]
    assert found == [
        "services/payments.yaml:18:23",
        "services/payments.yaml:19:26",
        "services/payments.yaml:22:17",
    ]


def test_unrendered_series_at_its_name(project: Path) -> None:
    """alerts/series is at the name of a series that the legend cannot render."""
    text = PANEL_HEADER.replace("max(depth", "max by (queue) (depth")
    text += "        legend: 'q {{queue}}'\n"
    text += '        thresholds: "q a <5, b <6"\n'
    write_manifest(project, "payments.yaml", text)
    (service,) = load_project(project / "services").services
    found = [
        (d.location.line, d.location.column)
        for d in derive_rules(service).diagnostics
        if d.check == "alerts/series"
    ]
    assert found == [(15, 30)]


def test_shared_bound_error_location(project: Path) -> None:
    (message,) = _diagnostics(project, '        thresholds: "<=5 Green, >=5 Red"\n')
    assert message == (
        "services/payments.yaml:14:33: error: threshold bands <=5 and >=5 both "
        'contain 5; write "<5 Green" or ">5 Red" so that 5 has one colour '
        "[thresholds/syntax]"
    )


def test_out_of_order_error_location(project: Path) -> None:
    (message,) = _diagnostics(
        project, '        thresholds: "<1 Green, 5-10 Yellow, 1-5 Orange, >10 Red"\n'
    )
    assert message == (
        "services/payments.yaml:14:45: error: threshold band 1-5 is out of order: "
        "the other bands run from low to high, so list it after <1 "
        "[thresholds/syntax]"
    )


SCALE = "thresholds take no scale suffix such as k, M or G, so write the number in full"
NO_COLON = 'a threshold item takes no ":"'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "<10k Green, >=10k Red",
            [
                f"14:25: error: write 10k as 10000: {SCALE}",
                f"14:38: error: write 10k as 10000: {SCALE}",
            ],
        ),
        ("<1.5K Green", [f"14:26: error: write 1.5K as 1500: {SCALE}"]),
        (
            ">2M Red",
            [f"14:24: error: write 2M as 2000000, or as 2m for 2 minutes: {SCALE}"],
        ),
        (">3G Red", [f"14:24: error: write 3G as 3000000000: {SCALE}"]),
        ("<2Mil Green", [f"14:24: error: write 2Mil as 2000000: {SCALE}"]),
        ("<512Mi Green", [f"14:26: error: write 512Mi as 536870912: {SCALE}"]),
        ("api <10k", [f"14:29: error: write 10k as 10000: {SCALE}"]),
        (
            ">=10: Red",
            [f'14:26: error: write ">=10: Red" as ">=10 Red": {NO_COLON}'],
        ),
        (
            "<5 Green, 5-10: Yellow",
            [f'14:36: error: write "5-10: Yellow" as "5-10 Yellow": {NO_COLON}'],
        ),
        (
            "0: Red",
            [
                '14:23: error: write "0: Red" as "0 Red" for a band that starts at 0, '
                f'or as "0=Red" to map the value 0: {NO_COLON}'
            ],
        ),
    ],
)
def test_scale_suffix_and_colon_errors(
    project: Path, text: str, expected: list[str]
) -> None:
    messages = _diagnostics(project, f'        thresholds: "{text}"\n')
    assert messages == [
        f"services/payments.yaml:{message} [thresholds/syntax]" for message in expected
    ]


@pytest.mark.parametrize(
    ("text", "unit", "steps"),
    [
        ("<10m Green, >=10m Red", "s", [("green", None), ("red", 600)]),
        ("<10ms Green, >=10ms Red", "s", [("green", None), ("red", 0.01)]),
        ("<1w Green, >=1w Red", "d", [("green", None), ("red", 7)]),
    ],
)
def test_time_units_beside_scale_suffixes(text: str, unit: str, steps: list) -> None:
    assert _steps(text, unit) == steps


def test_unknown_mapping_colour_location(project: Path) -> None:
    (message,) = _diagnostics(
        project,
        """\
        thresholds:
          steps: [green, {value: 50, color: red}]
          mappings:
            - {value: 0, color: red}
            - {value: 1, color: bleu}
""",
    )
    assert message.startswith(
        'services/payments.yaml:18:33: error: unknown colour "bleu"'
    )
    assert message.endswith("[thresholds/syntax]")


def test_unknown_step_colour_location(project: Path) -> None:
    (message,) = _diagnostics(
        project,
        """\
        thresholds:
          steps:
            - green
            - {value: 50, color: dark-rde}
""",
    )
    assert message.startswith(
        'services/payments.yaml:17:34: error: unknown colour "dark-rde"'
    )


def test_unclassified_hex_warning_location(project: Path) -> None:
    messages = _diagnostics(
        project,
        """\
        thresholds:
          steps: [green, {value: 50, color: "#00ff00"}, {value: 80, color: "#F2495C"}]
          mappings:
            - {value: 0, color: "#8a2be2"}
""",
    )
    assert messages == [
        f'services/payments.yaml:{line}:{column}: warning: colour "{colour}" is '
        "neither clearly red nor clearly yellow, so no alert fires for the values "
        "shown in it; write a Grafana colour name (red, dark-red, yellow, green, "
        "blue, ...) instead [thresholds/colour]"
        for line, column, colour in ((15, 45, "#00ff00"), (17, 33, "#8a2be2"))
    ]


def test_unclassified_hex_in_text_location(project: Path) -> None:
    (message,) = _diagnostics(
        project, '        thresholds: "<1 Green, 1-5 #FADE2A, >5 #abcdef"\n'
    )
    assert message.startswith(
        'services/payments.yaml:14:48: warning: colour "#abcdef" is neither'
    )


# Numbers: Prometheus durations of several units, exponents, and how they print back --


@pytest.mark.parametrize(
    ("text", "unit", "steps"),
    [
        (">1m30s Red", "s", [("green", None), ("red", 90)]),
        (">1m30s Red", "ms", [("green", None), ("red", 90000)]),
        (">1m30s Red", "m", [("green", None), ("red", 1.5)]),
        (">1s500ms Red", "s", [("green", None), ("red", 1.5)]),
        (">1h30m Red", "s", [("green", None), ("red", 5400)]),
        (">1d12h Red", "h", [("green", None), ("red", 36)]),
        (">1y2w3d Red", "d", [("green", None), ("red", 382)]),
        (">2w Red", "d", [("green", None), ("red", 14)]),
        (">1h1m1s1ms Red", "ms", [("green", None), ("red", 3661001)]),
        (
            "<1m30s Green, 1m30s-2m30s Yellow, >2m30s Red",
            "s",
            [("green", None), ("yellow", 90), ("red", 150)],
        ),
        # A bare number continues the last unit of the duration before it.
        (
            "<1m30s Green, 90-150 Yellow, >150 Red",
            "s",
            [("green", None), ("yellow", 90), ("red", 150)],
        ),
        (
            "<500ms Green, 500ms-1m30s Yellow, >1m30s Red",
            "s",
            [("green", None), ("yellow", 0.5), ("red", 90)],
        ),
    ],
)
def test_duration_of_several_units(text: str, unit: str, steps: list) -> None:
    """A duration as Prometheus writes it means its exact value in the panel's unit."""
    assert _steps(text, unit) == steps


def test_duration_step_value() -> None:
    parsed = parse_structured(
        {"steps": ["green", {"value": "1m30s", "color": "red"}], "unit": "ms"}
    )
    assert [(s.color, s.value) for s in resolve(parsed, "ms").steps] == [
        ("green", None),
        ("red", 90000),
    ]


RULE = (
    "Prometheus writes a duration in whole numbers of the units y, w, d, h, m, s "
    "and ms, from the largest unit down, each once"
)


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        (
            ">30s1m Red",
            f"write the duration 30s1m as 1m30s: its units are out of order, and {RULE}",
            1,
        ),
        (
            ">1m1m Red",
            f"write the duration 1m1m as 2m: it repeats the unit m, and {RULE}",
            1,
        ),
        (
            "<1s Green, 1s-1s1m Yellow, >1s1m Red",
            "write the duration 1s1m as 1m1s: its units are out of order",
            14,
        ),
        (
            ">1.5m30s Red",
            "write the duration 1.5m30s as 2m: its part 1.5m is not written as a "
            "whole number",
            1,
        ),
        (
            ">1s500us Red",
            "write the duration 1s500us as 1.0005s: Prometheus durations have no unit us",
            1,
        ),
        (
            ">500ms1s Red",
            "write the duration 500ms1s as 1s500ms: its units are out of order",
            1,
        ),
        ("1m30s=Red", "a value mapping takes no unit", 0),
        ("0=Green, 5ms=Red", "a value mapping takes no unit", 9),
    ],
)
def test_invalid_duration(text: str, message: str, offset: int) -> None:
    with pytest.raises(ThresholdError) as raised:
        parse_shorthand(text)
    assert str(raised.value).startswith(message)
    assert raised.value.offset == offset


def test_invalid_duration_position(project: Path) -> None:
    """The error is at the duration's line and column inside the YAML scalar."""
    messages = _diagnostics(project, "        thresholds: '<1m Green, >30s1m Red'\n")
    assert messages == [
        "services/payments.yaml:14:34: error: write the duration 30s1m as 1m30s: its "
        f"units are out of order, and {RULE} [thresholds/syntax]"
    ]


@pytest.mark.parametrize(
    ("text", "unit", "steps"),
    [
        (">1e6 Red", "short", [("green", None), ("red", 1000000)]),
        (">1E6 Red", "short", [("green", None), ("red", 1000000)]),
        ("<1e-3 Green", "short", [("green", None), ("red", 0.001)]),
        ("<2.5e-3 Green", "short", [("green", None), ("red", 0.0025)]),
        (">1.5e+3 Red", "short", [("green", None), ("red", 1500)]),
        (">.5e1 Red", "short", [("green", None), ("red", 5)]),
        (">1e300 Red", "short", [("green", None), ("red", 1e300)]),
        (">5e-324 Red", "short", [("green", None), ("red", 5e-324)]),
        (
            "<1e-3 Green, 1e-3-5e-3 Yellow, >5e-3 Red",
            "short",
            [("green", None), ("yellow", 0.001), ("red", 0.005)],
        ),
        (">1e3ms Red", "s", [("green", None), ("red", 1)]),
        ("<5e1% Green", "percent", [("green", None), ("red", 50)]),
        ("1e3=Green, 0=Red", "none", [("red", None), ("green", 1000)]),
    ],
)
def test_exponent(text: str, unit: str, steps: list) -> None:
    assert _steps(text, unit) == steps


def test_exponent_series_bound() -> None:
    resolved = resolve(parse_shorthand("big <1e6, small <2.5e-3"), "short")
    assert {s.series: s.steps[1].value for s in resolved.series} == {
        "big": 1000000,
        "small": 0.0025,
    }


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        (">1e400 Red", "number too large", 1),
        ("<1e-400 Green", "number too small: 1e-400 is closer to 0 than 5e-324", 1),
        (">1,000e3 Red", "write 1,000 as 1000", 1),
        (">1e Red", 'cannot read threshold ">1e Red"', 0),
        (">1e3.5 Red", 'cannot read threshold ">1e3.5 Red"', 0),
        (">0x10 Red", 'cannot read threshold ">0x10 Red"', 0),
        (">1_000 Red", 'cannot read threshold ">1_000 Red"', 0),
        (">inf Red", 'cannot read threshold ">inf Red"', 0),
        # Numbers print back as written, not as 2e+06 or 2000000.
        (
            "<1 Green, 2e6-1e6 Yellow, >2e6 Red",
            "threshold range 2e6-1e6 runs backwards; write 1e6-2e6",
            10,
        ),
        (
            "<1e6 Green, 2e6-3e6 Yellow, >3e6 Red",
            "threshold bands leave a gap between 1e6 and 2e6",
            12,
        ),
        (">1234567 Red, >1234567 Red", "threshold band >1234567 is listed twice", 14),
        (
            "<0.1234567 Green, >0.2 Red",
            "threshold bands leave a gap between 0.1234567 and 0.2",
            18,
        ),
    ],
)
def test_invalid_number(text: str, message: str, offset: int) -> None:
    with pytest.raises(ThresholdError) as raised:
        parse_shorthand(text)
    assert str(raised.value).startswith(message)
    assert raised.value.offset == offset


def test_single_band_message_quotes_number_as_written() -> None:
    with pytest.raises(ThresholdError) as raised:
        parse_shorthand(">1e6 Blue")
    assert str(raised.value) == (
        "a single Blue band does not say the colour of the values beyond 1e6; "
        'write both bands, such as "<1e6 Green, >=1e6 Blue"'
    )


def test_step_value_text_with_exponent() -> None:
    parsed = parse_structured({"steps": ["green", {"value": "2.5e-3", "color": "red"}]})
    assert [s.value for s in resolve(parsed, "short").steps] == [None, 0.0025]
    with pytest.raises(ThresholdError, match="number too small") as raised:
        parse_structured({"steps": ["green", {"value": "1e-999", "color": "red"}]})
    assert raised.value.path == ("steps", 1, "value")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (5.0, "5"),
        (1500.0, "1500"),
        (0.1, "0.1"),
        (0.0001, "0.0001"),
        (1e-5, "1e-5"),
        (2.5e-7, "2.5e-7"),
        (1234567.0, "1234567"),
        (1e15, "1000000000000000"),
        (1e16, "1e16"),
        (1e300, "1e300"),
        (5e-324, "5e-324"),
        (-3.5, "-3.5"),
        (1.7976931348623157e308, "1.7976931348623157e308"),
        (math.inf, "+Inf"),
    ],
)
def test_number_text(value: float, text: str) -> None:
    """The shortest text that reads back as the same double, and as a threshold."""
    assert number_text(value) == text
    if math.isfinite(value):
        assert float(text) == value
        assert parse_shorthand(f">{text} Red").bands[1].lower.number == value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (1234567.0, "1234567"),
        (0.1234567, "0.1234567"),
        (1e-5, "0.00001"),
        (1e-7, "1e-7"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (5e-324, "5e-324"),
        (-1.5, "-1.5"),
    ],
)
def test_javascript_text(value: float, text: str) -> None:
    """Grafana looks a value mapping up by JavaScript's String(value)."""
    assert javascript_text(value) == text


def test_mapping_keys_are_javascript_text(tmp_path: Path) -> None:
    """A value mapping of 1234567 matches 1234567, not "1.23457e+06"."""
    write_manifest(
        tmp_path,
        "a.yaml",
        "service: a\nscrape: {job: a, port: 80}\nmetrics: {state: gauge}\n"
        "rows:\n  - title: R\n    panels:\n"
        "      - title: State\n        query: 'max(state{job=\"a\"})'\n"
        '        thresholds: "0.1234567=Green, 1234567=Red, 1e21=Blue"\n',
    )
    result = build(Project.at(tmp_path))
    assert result.ok, [str(d) for d in result.diagnostics]
    dashboard = json.loads(result.files["grafana/dashboards/a.json"])
    (panel,) = [p for p in dashboard["panels"] if p["type"] != "row"]
    (mapping,) = panel["fieldConfig"]["defaults"]["mappings"]
    assert list(mapping["options"]) == ["0.1234567", "1234567", "1e+21"]


def _build_messages(project: Path, manifest: str) -> list[str]:
    write_manifest(project, "a.yaml", manifest)
    result = build(Project.at(project))
    return [str(d).splitlines()[0] for d in result.diagnostics]


def test_huge_bound_prints_readably(project: Path) -> None:
    """p95_red: 1e300 is 1e300 in the error, not a number of 301 digits.

    The error is at the block's argument, which writes the bound.
    """
    messages = _build_messages(
        project,
        "service: a\nscrape: {job: a, port: 80}\nmetric_blocks:\n  - use: http_metrics\n"
        "rows:\n  - use: http_api_health\n    with: {job: a, p95_red: 1e300}\n",
    )
    assert (
        "services/a.yaml:7:29: error: threshold 1e300s lies above 10s, the largest "
        "value of this query: histogram_quantile returns the largest finite bucket "
        "of http_request_duration_seconds, 10, where the quantile falls in the +Inf "
        "bucket, and never more. So alert AP95LatencyCritical (value >= 1e+300) "
        "never fires; add a bucket of at least 1e300 to "
        "http_request_duration_seconds, or lower the threshold to 10s or below "
        "[thresholds/histogram-range]"
    ) in messages
    assert all(len(message) < 600 for message in messages)


def test_tiny_bucket_prints_as_written(project: Path) -> None:
    """A bucket or a min of 5e-324 is 5e-324 in messages, not 4.94066e-324."""
    messages = _build_messages(
        project,
        "service: a\nruntime: python\nscrape: {job: a, port: 80}\nmetrics:\n"
        "  lat_seconds: {type: histogram, buckets: [1, 5e-324]}\n"
        "rows:\n  - title: R\n    panels:\n"
        "      - {title: Up, query: 'max(up{job=\"a\"})', min: 5e-324, max: 0}\n",
    )
    assert messages == [
        "services/a.yaml:5:47: error: invalid buckets [1, 5e-324] on histogram "
        '"lat_seconds": bounds must be in strictly increasing order '
        "[instrument/buckets]",
        "services/a.yaml:9:66: error: max 0 is not above min 5e-324, so Grafana has "
        "no range to draw; swap them or remove one [dashboard/range]",
    ]


def test_huge_bound_in_annotation() -> None:
    thresholds = parse_shorthand("<1e300 Green, 1e300-1.5e300 Yellow, >1.5e300 Red")
    alerts = {a.severity: a for a in derive_rules(_alert_service(thresholds)).alerts}
    assert alerts["critical"].expr == 'probe_value{job="p"} >= 1.5e+300'
    assert alerts["warning"].expr == (
        'probe_value{job="p"} >= 1e+300 and probe_value{job="p"} < 1.5e+300'
    )
    descriptions = {k: dict(a.annotations)["description"] for k, a in alerts.items()}
    assert "(at or above 1.5e300)" in descriptions["critical"]
    assert "(at or above 1e300 and below 1.5e300)" in descriptions["warning"]


@pytest.mark.parametrize(
    ("bound", "threshold"),
    [("1m30s", "1m30s"), ("1s500ms", "1s500ms"), (90.0, "90"), (1e-3, "0.001")],
)
def test_block_duration_bounds(bound: object, threshold: str) -> None:
    row = dsl.use("http_api_health", job="api", p95_red=bound)
    (panel,) = [p for p in row.panels if p.title == "P95 Latency"]
    assert panel.thresholds is not None
    assert panel.thresholds.text == f"<{threshold} Green, >{threshold} Red"


def test_block_duration_error_position(project: Path) -> None:
    """A duration in the wrong order is reported at the value, with how to write it."""
    messages = _build_messages(
        project,
        "service: a\nscrape: {job: a, port: 80}\nmetric_blocks:\n  - use: http_metrics\n"
        "rows:\n  - use: http_api_health\n    with: {job: a, p95_red: 30s1m}\n",
    )
    assert messages == [
        'services/a.yaml:7:29: error: block "http_api_health": p95_red is "30s1m"; '
        f"write the duration 30s1m as 1m30s: its units are out of order, and {RULE} "
        "[manifest/block]"
    ]


def _assert_promtool_passes(project: Path, files: Mapping[str, str]) -> None:
    """Write the build's files under `project`/out and run promtool on batch's rules."""
    write_tree(project / "out", files)
    for arguments in (
        ("check", "rules", "out/prometheus/rules/batch.rules.yml"),
        ("test", "rules", "out/prometheus/tests/batch.test.yml"),
    ):
        outcome = run_promtool(*arguments, cwd=project)
        assert outcome.returncode == 0, outcome.stdout + outcome.stderr


DURATION_MANIFEST = """\
service: batch
scrape: {job: batch, port: 8080}
metric_blocks:
  - use: http_metrics
    with: {buckets: [30, 60, 90, 120, 300]}
metrics:
  batch_age_milliseconds: gauge
rows:
  - use: http_api_health
    with: {job: batch, p95_yellow: 1m, p95_red: 1m30s}
  - title: Batches
    panels:
      - title: Batch Age
        query: 'max(batch_age_milliseconds{job="batch"})'
        thresholds: ">1m30s Red"
"""


def test_duration_threshold_alerts_where_panel_turns_red(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1m30s is 90 on a seconds panel and 90000 on a ms one: in the dashboard's step,
    the alert's threshold and the generated test's boundary, which promtool passes."""
    monkeypatch.chdir(tmp_path)
    write_manifest(tmp_path, "batch.yaml", DURATION_MANIFEST)
    result = build(Project.at(tmp_path))
    assert result.ok, [str(d) for d in result.diagnostics]
    dashboard = json.loads(result.files["grafana/dashboards/batch.json"])
    steps = {
        panel["title"]: [
            (step["color"], step["value"])
            for step in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        ]
        for panel in dashboard["panels"]
        if panel["type"] != "row"
    }
    assert steps["P95 Latency"] == [("green", None), ("yellow", 60), ("red", 90)]
    assert steps["Batch Age"] == [("green", None), ("red", 90000)]

    rules = result.files["prometheus/rules/batch.rules.yml"]
    assert 'job:http_request_duration_seconds:p95_rate5m{job="batch"} >= 90\n' in rules
    assert 'job:batch_age_milliseconds:max{job="batch"} >= 90000\n' in rules

    tests = YAML(typ="safe").load(result.files["prometheus/tests/batch.test.yml"])
    names = [group["name"] for group in tests["tests"]]
    for expected in [
        "BatchP95LatencyCritical: 1m (yellow) stays silent",
        "BatchP95LatencyCritical: 90s (red) fires",
        "BatchBatchAgeCritical: 80s (green) stays silent",
        "BatchBatchAgeCritical: 90s (red) fires",
        "BatchBatchAgeCritical: 100s (red) fires",
    ]:
        assert expected in names
    # At the boundary, the test's input gives the query exactly the step's value.
    (at_boundary,) = [
        g for g in tests["tests"] if g["name"].endswith("AgeCritical: 90s (red) fires")
    ]
    (record,) = [
        check
        for check in at_boundary["promql_expr_test"]
        if check["expr"] == "job:batch_age_milliseconds:max"
    ]
    assert [sample["value"] for sample in record["exp_samples"]] == [90000]

    _assert_promtool_passes(tmp_path, result.files)


def test_lone_duration_suggests_bands_only() -> None:
    """A value mapping takes no unit, so the message suggests none for 1m30s."""
    with pytest.raises(ThresholdError) as raised:
        parse_shorthand("1m30s Red")
    assert str(raised.value) == (
        '"1m30s Red" colours one value and leaves the others without a colour; '
        'write bands such as "<1m30s Green, >=1m30s Red"'
    )


# Numbers in bands that meet at one value: a duration or an exponent as a single
# value, as a `<=` or `>=` bound, and in an `X-X` band.
# (text, panel unit, steps, value mappings)
NUMBER_SINGLE_VALUE_TEXTS = [
    (
        "<=1m30s Green, >1m30s Red",
        "s",
        [("green", None), ("red", 90)],
        [(90, "green")],
    ),
    (
        "<=1m30s Green, >1m30s Red",
        "ms",
        [("green", None), ("red", 90000)],
        [(90000, "green")],
    ),
    ("≤1m30s Green, >90s Red", "s", [("green", None), ("red", 90)], [(90, "green")]),
    (
        "1m30s Green, >1m30s Red",
        "ms",
        [("green", None), ("red", 90000)],
        [(90000, "green")],
    ),
    (">1m30s Red, 1m30s Green", "s", [("green", None), ("red", 90)], [(90, "green")]),
    ("1m30s Green", "s", [("red", None)], [(90, "green")]),
    ("1m30s-1m30s Yellow", "ms", [("green", None)], [(90000, "yellow")]),
    ("1m30s-90s Yellow", "s", [("green", None)], [(90, "yellow")]),
    (
        "<1m30s Green, 90s-1m30s Yellow, >1m30s Red",
        "s",
        [("green", None), ("red", 90)],
        [(90, "yellow")],
    ),
    # The bare 90 and 150 continue the last unit of 1m30s, s.
    (
        "<=1m30s Green, 90-150 Yellow, >150 Red",
        "s",
        [("green", None), ("yellow", 90), ("red", 150)],
        [(90, "green")],
    ),
    ("0 Green, >1e6 Red", "short", [("green", None), ("red", 1000000)], []),
    (
        "1e6 Green, >1e6 Red",
        "short",
        [("green", None), ("red", 1000000)],
        [(1000000, "green")],
    ),
    ("1E6 Green", "short", [("red", None)], [(1000000, "green")]),
    (
        "<1e6 Green, 1e6-1e6 Yellow, >1e6 Red",
        "short",
        [("green", None), ("red", 1000000)],
        [(1000000, "yellow")],
    ),
    (
        "<=2.5e-3 Green, >2.5e-3 Red",
        "short",
        [("green", None), ("red", 0.0025)],
        [(0.0025, "green")],
    ),
    ("≥1e6 Red", "short", [("green", None), ("red", 1000000)], []),
    ("≤1e3ms Red", "s", [("red", None), ("green", 1)], [(1, "red")]),
]


@pytest.mark.parametrize(
    ("text", "unit", "steps", "mappings"),
    NUMBER_SINGLE_VALUE_TEXTS,
    ids=[f"{t[0]} ({t[1]})" for t in NUMBER_SINGLE_VALUE_TEXTS],
)
def test_single_value_number_steps(
    text: str, unit: str, steps: list, mappings: list
) -> None:
    """The value where two bands meet is the exact value of its duration or exponent."""
    resolved = resolve(parse_shorthand(text), unit)
    assert [(s.color, s.value) for s in resolved.steps] == steps
    assert [(m.value, m.color) for m in resolved.mappings] == mappings


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        (
            "<=1m30s Green, >=90s Red",
            'threshold bands <=1m30s and >=90s both contain 90s; write "<1m30s Green" '
            'or ">90s Red" so that 90s has one colour',
            15,
        ),
        (
            "1m30s Green, 1m30s-90s Red, >90s Red",
            "threshold bands 1m30s and 1m30s-90s both contain 1m30s; remove one of "
            "them",
            13,
        ),
        ("1m30s Green, 90s Green, >90s Red", "threshold band 90s is listed twice", 13),
        (
            "1m30s-1m30s Yellow, >1m30s Red",
            "threshold bands leave values below 1m30s without a colour; start with a "
            'band such as "<1m30s Green"',
            0,
        ),
        (
            "<1e6 Green, 1e6-1e6 Yellow",
            "threshold bands leave values above 1e6 without a colour; end with a band "
            'such as ">1e6 Red"',
            12,
        ),
        (
            "1m30s-1m30s Blue",
            "a single Blue value does not say the colour of the values other than "
            '1m30s; write every band, such as "<1m30s Green, 1m30s-1m30s Blue, '
            '>1m30s Green"',
            0,
        ),
        (
            "<=1e6 Blue",
            "a single Blue band does not say the colour of the values beyond 1e6; "
            'write both bands, such as "<=1e6 Blue, >1e6 Red"',
            0,
        ),
        (
            "1e6 Yellow",
            '"1e6 Yellow" colours one value and leaves the others without a colour; '
            'write bands such as "<1e6 Green, >=1e6 Yellow", or a value mapping such '
            'as "1e6=Yellow"',
            0,
        ),
        (
            "1m30s Yellow",
            '"1m30s Yellow" colours one value and leaves the others without a colour; '
            'write bands such as "<1m30s Green, >=1m30s Yellow"',
            0,
        ),
    ],
)
def test_single_value_number_errors(text: str, message: str, offset: int) -> None:
    """Messages quote each bound as written and compare bounds by their value."""
    with pytest.raises(ThresholdError) as raised:
        parse_shorthand(text)
    assert str(raised.value) == message
    assert raised.value.offset == offset


@pytest.mark.parametrize(
    ("text", "unit", "alerts"),
    [
        ("<=1m30s Green, >1m30s Red", "s", {"PDepthCritical": "> 90"}),
        ("<=1m30s Green", "ms", {"PDepthCritical": "> 90000"}),
        ("1m30s Green", "s", {"PDepthCritical": "!= 90"}),
        ("1m30s-1m30s Yellow", "ms", {"PDepthWarning": "== 90000"}),
        ("0 Green, >1e6 Red", "short", {"PDepthCritical": ">= 1000000"}),
        ("1e6 Green, >1e6 Red", "short", {"PDepthCritical": "> 1000000"}),
        (
            "<1e-3 Green, 1e-3-1e-3 Yellow, >1e-3 Red",
            "short",
            {"PDepthWarning": "== 0.001", "PDepthCritical": "> 0.001"},
        ),
    ],
)
def test_single_value_number_alerts(
    text: str, unit: str, alerts: dict[str, str]
) -> None:
    rules = derive_rules(_alert_service(parse_shorthand(text), unit))
    record = 'probe_value{job="p"}'
    expected = {
        name: " and ".join(f"{record} {part}" for part in condition.split(" and "))
        for name, condition in alerts.items()
    }
    assert {alert.name: alert.expr for alert in rules.alerts} == expected


SINGLE_VALUE_NUMBER_MANIFEST = """\
service: batch
scrape: {job: batch, port: 8080}
metrics:
  batch_age_milliseconds: gauge
  queue_depth: gauge
rows:
  - title: Batches
    panels:
      - title: Batch Age
        query: 'max(batch_age_milliseconds{job="batch"})'
        thresholds: "<=1m30s Green, >1m30s Red"
      - title: Queue Depth
        query: 'max(queue_depth{job="batch"})'
        thresholds: "1e6 Green, >1e6 Red"
"""


def test_single_value_number_promtool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`<=1m30s` on a ms panel and `1e6` as a single value: the value mapping's key,
    the step, the alert and the generated tests agree, and promtool passes them."""
    monkeypatch.chdir(tmp_path)
    write_manifest(tmp_path, "batch.yaml", SINGLE_VALUE_NUMBER_MANIFEST)
    result = build(Project.at(tmp_path))
    assert result.ok, [str(d) for d in result.diagnostics]
    dashboard = json.loads(result.files["grafana/dashboards/batch.json"])
    panels = {p["title"]: p for p in dashboard["panels"] if p["type"] != "row"}
    for title, value in [("Batch Age", 90000), ("Queue Depth", 1000000)]:
        defaults = panels[title]["fieldConfig"]["defaults"]
        steps = [(s["color"], s["value"]) for s in defaults["thresholds"]["steps"]]
        assert steps == [("green", None), ("red", value)]
        (mapping,) = defaults["mappings"]
        assert mapping["options"] == {str(value): {"color": "green", "index": 0}}

    rules = result.files["prometheus/rules/batch.rules.yml"]
    assert 'job:batch_age_milliseconds:max{job="batch"} > 90000\n' in rules
    assert 'job:queue_depth:max{job="batch"} > 1000000\n' in rules
    assert "(above 90s)" in rules

    tests = YAML(typ="safe").load(result.files["prometheus/tests/batch.test.yml"])
    names = [group["name"] for group in tests["tests"]]
    assert "BatchBatchAgeCritical: 90s (green) stays silent" in names
    assert "BatchQueueDepthCritical: 1000000 (green) stays silent" in names

    _assert_promtool_passes(tmp_path, result.files)


def test_kept_parse_reports_each_use() -> None:
    """A threshold text read twice keeps each panel's location, and each bad use errs."""
    first = Location("a.yaml", 3, 20)
    second = Location("b.yaml", 9, 4)
    good = "<1 Green, 1-5 Yellow, >5 Red"
    first_read, _ = read_thresholds(good, first)
    second_read, _ = read_thresholds(good, second)
    assert first_read is not None
    assert second_read is not None
    assert first_read.location == first
    assert second_read.location == second
    assert first_read == second_read
    bad = "<1 Green, 1-5 Yelow, >5 Red"
    for where in (first, second):
        parsed, problems = read_thresholds(bad, where)
        assert parsed is None
        assert [(p.location.file, p.location.column) for p in problems] == [
            (where.file, where.column + bad.index("Yelow"))
        ]


HISTOGRAM_PANEL = """\
service: edge
scrape: {job: edge, port: 8080}
metrics:
  latency_seconds: {type: histogram, buckets: [0.05, 0.1, 0.5, 1]}
rows:
  - title: Latency
    panels:
      - title: P95
        query: 'histogram_quantile(0.95, sum by (le) (rate(latency_seconds_bucket{job="edge"}[5m])))'
        record: false
        thresholds: "TEXT"
        alert: ALERT
"""

# Counters of the buckets of `HISTOGRAM_PANEL`, one per minute: every observation
# in the first bucket, where the p95 is 0.95 of 0.05 s, and every observation in the
# +Inf bucket, where it is the largest finite bucket, 1 s.
FIRST_BUCKET = {"0.05": "0+60x10", "0.1": "0+60x10", "0.5": "0+60x10", "1": "0+60x10"}
INF_BUCKET = {"0.05": "0x10", "0.1": "0x10", "0.5": "0x10", "1": "0x10"}

# (thresholds, alert: value, severity of each thresholds/histogram-range finding,
# whether Prometheus finds the red alert's condition true with every observation in
# the first bucket, and with every observation in the +Inf bucket). The conditions
# are those of `alert: true`, so a row with `alert: false` shows the alert that the
# panel would have.
HISTOGRAM_BOUNDS = {
    "at-largest-bucket": ("<1s Green, >=1s Red", "true", [], False, True),
    "above-largest-bucket": ("<2s Green, >=2s Red", "true", ["error"], False, False),
    "above-largest-bucket-without-alert": (
        "<2s Green, >=2s Red",
        "false",
        ["warning"],
        False,
        False,
    ),
    "exclusive-at-largest-bucket": (
        "<=1s Green, >1s Red",
        "true",
        ["error"],
        False,
        False,
    ),
    "red-up-to-above-largest-bucket": (
        "<2s Red, >=2s Green",
        "true",
        ["error"],
        True,
        True,
    ),
    "red-from-below-first-bucket": (
        "<10ms Green, >=10ms Red",
        "true",
        ["error"],
        True,
        True,
    ),
    "red-up-to-below-first-bucket": (
        "<=10ms Red, >10ms Green",
        "true",
        ["error"],
        False,
        False,
    ),
    "yellow-from-below-first-bucket": (
        "<10ms Green, 10ms-200ms Yellow, >200ms Red",
        "true",
        ["warning"],
        False,
        True,
    ),
    "inside-buckets": ("<100ms Green, >=100ms Red", "true", [], False, True),
}


def _assert_condition_in_prometheus(
    project: Path, expr: str, buckets: Mapping[str, str], expected: bool
) -> None:
    """Run promtool on `expr` over `buckets`: a sample at 10m only if `expected`."""
    series = [
        {"series": f'latency_seconds_bucket{{job="edge",le="{le}"}}', "values": values}
        for le, values in {**buckets, "+Inf": "0+60x10"}.items()
    ]
    test = {
        "rule_files": [],
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {
                        "expr": f"count({expr}) or vector(0)",
                        "eval_time": "10m",
                        "exp_samples": [{"labels": "{}", "value": int(expected)}],
                    }
                ],
            }
        ],
    }
    (project / "bounds.test.yml").write_text(json.dumps(test), encoding="utf-8")
    outcome = run_promtool("test", "rules", "bounds.test.yml", cwd=project)
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr


@pytest.mark.parametrize("case", HISTOGRAM_BOUNDS.values(), ids=HISTOGRAM_BOUNDS.keys())
def test_histogram_range_bounds(project: Path, case: tuple) -> None:
    """thresholds/histogram-range errs exactly where Prometheus never or always fires.

    Each band is open on one side, so the smallest and the largest p95 decide: an
    alert that is false at both never fires, and one that is true at both fires
    for every value between them.
    """
    text, alert, severities, at_first, at_inf = case
    manifest = HISTOGRAM_PANEL.replace("TEXT", text)
    write_manifest(project, "edge.yaml", manifest.replace("ALERT", alert))
    result = build(Project.at(project))
    found = [
        d.severity
        for d in result.diagnostics
        if d.check == "thresholds/histogram-range"
    ]
    assert found == severities
    assert result.ok == ("error" not in severities)

    write_manifest(project, "edge.yaml", manifest.replace("ALERT", "true"))
    (service,) = load_project(project / "services").services
    (red,) = derive_rules(service).alerts
    _assert_condition_in_prometheus(project, red.expr, FIRST_BUCKET, at_first)
    _assert_condition_in_prometheus(project, red.expr, INF_BUCKET, at_inf)
