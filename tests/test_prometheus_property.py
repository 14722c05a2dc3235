"""Alerts agree with Grafana's colours for any threshold text and any value.

Grafana colours a value with the colour of a value mapping that matches it, and
otherwise with the last threshold step whose value is at or below it. For random
threshold texts (rising and falling, with units), random steps with value mappings, and
random values, the derived alerts must fire exactly when that colour is a red (a red
shade name or a red hex value), and no two alerts of a panel fire for the same value. The alert conditions are evaluated with the
Python evaluator, which a sample checks against promtool.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import promql_parser as pp
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from obscompile.derive.alerts import derive_rules
from obscompile.derive.evaluate import Evaluator, Storage, make_labels
from obscompile.derive.probes import colour_of
from obscompile.load.thresholds import parse_shorthand, parse_structured
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
from obscompile.model.threshold import colour_hue
from obscompile.render.grafana import dashboard_rows
from tests.test_prometheus import assert_promtool

# Threshold numbers as written: times in ms or s, percentages below 100.
NUMBERS = [1, 2, 5, 10, 15, 20, 50, 100, 150, 200, 250, 300, 500, 800, 1000, 1200]
PERCENTS = [1, 2, 5, 10, 20, 50, 70, 80, 90, 95, 99]
SCALE = {"ms": 0.001, "s": 1.0, "%": 1.0, "": 1.0}


def _bounds(draw, numbers: list[int], units: list[str]) -> tuple[str, str]:
    """Draw two written bounds, in ascending order of the value they stand for."""
    first, second = (
        (draw(st.sampled_from(numbers)), draw(st.sampled_from(units))) for _ in range(2)
    )
    if first[0] * SCALE[first[1]] == second[0] * SCALE[second[1]]:
        second = (first[0] * 2, first[1])
    low, high = sorted((first, second), key=lambda bound: bound[0] * SCALE[bound[1]])
    return f"{low[0]}{low[1]}", f"{high[0]}{high[1]}"


@st.composite
def threshold_texts(draw) -> tuple[str, str]:
    """Return `(text, panel unit)`: rising or falling bands in %, ms, s or no unit."""
    unit = draw(st.sampled_from(["percent", "s", "short"]))
    if unit == "percent":
        a, b = _bounds(draw, PERCENTS, ["%"])
        if a == b or float(b[:-1]) > 100:
            a, b = "1%", "99%"
    elif unit == "s":
        a, b = _bounds(draw, NUMBERS, ["ms", "s"])
    else:
        a, b = _bounds(draw, NUMBERS, [""])
    shape = draw(st.sampled_from(["rising", "falling", "rising-two", "falling-two"]))
    texts = {
        "rising": f"<{a} Green, {a}-{b} Yellow, >{b} Red",
        "falling": f">{b} Green, {a}-{b} Yellow, <{a} Red",
        "rising-two": f"<{a} Green, >{a} Red",
        "falling-two": f">{a} Green, <{a} Red",
    }
    return texts[shape], unit


# Named colours, shades and hex values; the reds are red, dark-red, #F2495C (Grafana's
# red) and #FF0000, and #5794F2 is Grafana's blue.
COLOURS = [
    "green",
    "yellow",
    "red",
    "blue",
    "dark-red",
    "super-light-yellow",
    "#F2495C",
    "#FF0000",
    "#5794F2",
]


@st.composite
def mapped_thresholds(draw) -> dict:
    """Return structured thresholds: random steps and mappings on whole numbers.

    Mapped values are drawn from the step values, values inside the bands and values
    outside every step, so that mappings fall on, inside and beside red bands.
    """
    values = sorted(
        draw(st.lists(st.integers(1, 100), min_size=1, max_size=3, unique=True))
    )
    steps: list = [draw(st.sampled_from(COLOURS))]
    steps += [{"value": v, "color": draw(st.sampled_from(COLOURS))} for v in values]
    candidates = [*values, 0, 1, 50, 99, 150]
    mapped = draw(st.lists(st.sampled_from(candidates), min_size=1, unique=True))
    mappings = [
        {"value": v, "text": f"m{v}", "color": draw(st.sampled_from(COLOURS))}
        for v in mapped[:3]
    ]
    return {"steps": steps, "mappings": mappings}


def _service(text: str | Thresholds, unit: str, case: str = "0") -> Service:
    thresholds = parse_shorthand(text) if isinstance(text, str) else text
    panel = Panel(
        title="Value",
        query=f'probe_value{{job="p",case="{case}"}}',
        type="stat",
        unit=unit,
        thresholds=thresholds,
    )
    return Service(
        name="p",
        title="p",
        dashboard=Dashboard(uid="p", title="p"),
        scrape_jobs=(ScrapeJob("p", ("p:80",)),),
        metrics=(Metric("probe_value", MetricType.GAUGE, labels=("case",)),),
        rows=(Row("Row", (panel,)),),
    )


def _steps(service: Service):
    (view,) = dashboard_rows(service)[0].panels
    return view.thresholds.steps


def _colour(service: Service, value: float) -> str:
    (view,) = dashboard_rows(service)[0].panels
    return colour_of(view.thresholds.steps, value, view.thresholds.mappings)


def _is_red(service: Service, value: float) -> bool:
    return colour_hue(_colour(service, value)) == "red"


def _firing(service: Service, value: float) -> list[str]:
    """Return the names of the service's alerts whose condition holds for `value`."""
    storage = Storage()
    storage.add(
        make_labels({"__name__": "probe_value", "job": "p", "case": "0"}), 0, value
    )
    evaluator = Evaluator(storage)
    return [
        alert.name
        for alert in derive_rules(service).alerts
        if evaluator.vector(pp.parse(alert.expr), 0)
    ]


def _fires(service: Service, value: float) -> bool:
    return bool(_firing(service, value))


def _probe_values(steps, draw_value: float) -> list[float]:
    values = [draw_value]
    for step in steps[1:]:
        bound = float(step.value)
        values += [
            bound,
            math.nextafter(bound, -math.inf),
            math.nextafter(bound, math.inf),
        ]
    return values


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(threshold_texts(), st.floats(min_value=0, max_value=2000, allow_nan=False))
def test_alert_fires_where_panel_is_red(case: tuple[str, str], drawn: float) -> None:
    text, unit = case
    service = _service(text, unit)
    steps = _steps(service)
    assert derive_rules(service).alerts, text
    for value in _probe_values(steps, drawn):
        assert _fires(service, value) == (colour_of(steps, value) == "red"), (
            text,
            value,
        )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mapped_thresholds(), st.floats(min_value=-10, max_value=200, allow_nan=False))
def test_mapped_values_fire_where_red(data: dict, drawn: float) -> None:
    """A mapping wins over the steps for its value; red steps still alert elsewhere."""
    service = _service(parse_structured(data), "short")
    mapped = [float(m["value"]) for m in data["mappings"]]
    values = _probe_values(_steps(service), drawn)
    values += [v + shift for v in mapped for shift in (-1, 0, 1)]
    for value in values:
        firing = _firing(service, value)
        assert len(firing) <= 1, (data, value, firing)
        assert bool(firing) == _is_red(service, value), (data, value)


MAPPED_STEPS_TABLE = [
    # (steps, mappings, value, red): a mapping's colour wins for the value it matches.
    (["green", (5, "red")], [(0, "red")], 0, True),
    (["green", (5, "red")], [(0, "red")], 4, False),
    (["green", (5, "red")], [(0, "red")], 5, True),
    (["green", (5, "red")], [(7, "green")], 7, False),
    (["green", (5, "red")], [(7, "green")], 8, True),
    (["green", (5, "red")], [(7, "red")], 7, True),
    (["red", (5, "green")], [(2, "green")], 2, False),
    (["red", (5, "green")], [(2, "green")], 3, True),
    (["red", (5, "green")], [(9, "red")], 9, True),
    (["red", (5, "green")], [(9, "red")], 8, False),
    (["green", (5, "#F2495C")], [], 5, True),
    (["green", (5, "#F2495C")], [], 4, False),
    (["green", (5, "red")], [(7, "#FF0000")], 7, True),
    (["green", (5, "red")], [(7, "#5794F2")], 7, False),
    (["green", (5, "#5794F2")], [(7, "dark-red")], 7, True),
    (["green", (5, "#5794F2")], [(7, "dark-red")], 6, False),
    (["dark-red", (5, "green")], [(2, "#73BF69")], 2, False),
    (["dark-red", (5, "green")], [(2, "#73BF69")], 3, True),
]


@pytest.mark.parametrize(("steps", "mappings", "value", "red"), MAPPED_STEPS_TABLE)
def test_mapped_steps_table(
    steps: list, mappings: list, value: float, red: bool
) -> None:
    data = {
        "steps": [
            s if isinstance(s, str) else {"value": s[0], "color": s[1]} for s in steps
        ],
        "mappings": [{"value": v, "text": "t", "color": c} for v, c in mappings],
    }
    service = _service(parse_structured(data), "short")
    assert _is_red(service, value) == red
    assert len(_firing(service, value)) == (1 if red else 0)


def _seeded_mapping(generator: random.Random) -> dict:
    """Return structured thresholds with mappings, like `mapped_thresholds`."""
    values = sorted(generator.sample(range(1, 101), generator.randint(1, 3)))
    steps: list = [generator.choice(COLOURS)]
    steps += [{"value": v, "color": generator.choice(COLOURS)} for v in values]
    candidates = [*values, 0, 1, 50, 99, 150]
    mapped = generator.sample(candidates, generator.randint(1, 3))
    mappings = [
        {"value": v, "text": f"m{v}", "color": generator.choice(COLOURS)}
        for v in mapped
    ]
    return {"steps": steps, "mappings": mappings}


def test_evaluator_agrees_with_promtool(tmp_path: Path) -> None:
    """A seeded sample of the property, checked by promtool instead of the evaluator."""
    generator = random.Random(20240601)
    rules, tests, disagreements = [], [], []
    for number in range(60):
        if number < 40:
            text, unit = _seeded_text(generator)
            service = _service(text, unit, case=str(number))
        else:
            data = _seeded_mapping(generator)
            text = str(data)
            service = _service(parse_structured(data), "short", case=str(number))
        steps = _steps(service)
        bound = float(generator.choice(steps[1:]).value)
        (view,) = dashboard_rows(service)[0].panels
        mapped = [float(m.value) for m in view.thresholds.mappings]
        value = generator.choice(
            [
                bound,
                math.nextafter(bound, -math.inf),
                math.nextafter(bound, math.inf),
                bound * 2,
                *mapped,
            ]
        )
        red = colour_hue(colour_of(steps, value, view.thresholds.mappings)) == "red"
        fired_any = False
        for index, alert in enumerate(derive_rules(service).alerts):
            name = f"Case{number}Band{index}"
            rules.append({"alert": name, "expr": alert.expr})
            storage = Storage()
            storage.add(
                make_labels(
                    {"__name__": "probe_value", "job": "p", "case": str(number)}
                ),
                0,
                value,
            )
            fired = bool(Evaluator(storage).vector(pp.parse(alert.expr), 0))
            fired_any = fired_any or fired
            expected = (
                [{"exp_labels": {"job": "p", "case": str(number)}}] if fired else []
            )
            tests.append(
                {
                    "interval": "1m",
                    "input_series": [
                        {
                            "series": f'probe_value{{job="p",case="{number}"}}',
                            "values": f"{value!r}x1",
                        }
                    ],
                    "alert_rule_test": [
                        {"eval_time": "0m", "alertname": name, "exp_alerts": expected}
                    ],
                }
            )
        if fired_any != red:
            disagreements.append((text, value))
    assert disagreements == []
    (tmp_path / "rules.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "cases", "rules": rules}]})
    )
    (tmp_path / "test.yml").write_text(
        yaml.safe_dump(
            {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": tests}
        )
    )
    assert len(rules) >= 60
    assert_promtool("test", "rules", str(tmp_path / "test.yml"))


def _seeded_text(generator: random.Random) -> tuple[str, str]:
    """Return a random threshold text and its panel unit, like `threshold_texts`."""
    unit, suffix = generator.choice(
        [("percent", "%"), ("s", "ms"), ("s", "s"), ("short", "")]
    )
    numbers = PERCENTS if unit == "percent" else NUMBERS
    low, high = sorted(generator.sample(numbers, 2))
    a, b = f"{low}{suffix}", f"{high}{suffix}"
    texts = [
        f"<{a} Green, {a}-{b} Yellow, >{b} Red",
        f">{b} Green, {a}-{b} Yellow, <{a} Red",
        f"<{a} Green, >{a} Red",
        f">{a} Green, <{a} Red",
    ]
    return generator.choice(texts), unit
