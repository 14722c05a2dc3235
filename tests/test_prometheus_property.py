"""Alerts agree with Grafana's colours for any threshold text and any value.

Grafana colours a value with the last threshold step whose value is at or below it.
For random threshold texts (rising and falling, with units) and random values, the
derived alerts must fire exactly when that colour is red. The alert conditions are
evaluated with the Python evaluator, which a sample checks against promtool.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import promql_parser as pp
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from obscompile.derive.alerts import derive_rules
from obscompile.derive.evaluate import Evaluator, Storage, make_labels
from obscompile.derive.probes import colour_of
from obscompile.load.thresholds import parse_shorthand
from obscompile.model import (
    Dashboard,
    Metric,
    MetricType,
    Panel,
    Row,
    ScrapeJob,
    Service,
)
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


def _service(text: str, unit: str, case: str = "0") -> Service:
    thresholds = parse_shorthand(text)
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


def _fires(service: Service, value: float) -> bool:
    storage = Storage()
    storage.add(
        make_labels({"__name__": "probe_value", "job": "p", "case": "0"}), 0, value
    )
    evaluator = Evaluator(storage)
    return any(
        evaluator.vector(pp.parse(alert.expr), 0)
        for alert in derive_rules(service).alerts
    )


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


def test_evaluator_agrees_with_promtool(tmp_path: Path) -> None:
    """A seeded sample of the property, checked by promtool instead of the evaluator."""
    generator = random.Random(20240601)
    rules, tests, disagreements = [], [], []
    for number in range(40):
        text, unit = _seeded_text(generator)
        service = _service(text, unit, case=str(number))
        steps = _steps(service)
        bound = float(generator.choice(steps[1:]).value)
        value = generator.choice(
            [
                bound,
                math.nextafter(bound, -math.inf),
                math.nextafter(bound, math.inf),
                bound * 2,
            ]
        )
        red = colour_of(steps, value) == "red"
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
    assert len(rules) >= 40
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
