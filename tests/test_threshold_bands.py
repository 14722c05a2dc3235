"""Threshold texts built into a dashboard and rules, and the colours they show.

Each case is a text on a dead-letter queue panel, most with bands that meet at one
value (`0 Green, >0 Red`), and the colour its reader expects at each value. The
dashboard's colours are read from the built JSON by Grafana's rules, and the alert
expressions run in the real promtool. A panel must be red exactly where its critical
alert fires, and yellow where its warning alert fires.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from obscompile.diagnostics import Severity
from obscompile.pipeline import Project, build
from obscompile.write.atomic import write_tree
from tests.conftest import write_manifest
from tests.test_prometheus import run_promtool

QUERY = 'max(dlq_depth{job="payments"})'

# (threshold text, {value: colour the reader expects}). The values are each bound,
# a value just below and just above it, and one well away.
CASES = [
    ("0 Green, >0 Red", {-1: "green", 0: "green", 0.001: "red", 1: "red"}),
    (">0 Red, 0 Green", {-1: "green", 0: "green", 0.001: "red", 1: "red"}),
    ("<=0 Green, >0 Red", {-1: "green", 0: "green", 0.001: "red", 1: "red"}),
    ("≤0 Green, >0 Red", {-1: "green", 0: "green", 0.001: "red", 1: "red"}),
    ("<=0 Green", {-1: "green", 0: "green", 0.001: "red", 1: "red"}),
    ("0 Red, >0 Green", {-1: "red", 0: "red", 0.001: "green", 1: "green"}),
    (
        "0 Green, 0-5 Yellow, >5 Red",
        {
            -1: "green",
            0: "green",
            0.001: "yellow",
            4.999: "yellow",
            5: "red",
            6: "red",
        },
    ),
    ("0 Green", {-1: "red", -0.001: "red", 0: "green", 0.001: "red", 1: "red"}),
    ("0-0 Yellow", {-1: "green", 0: "yellow", 0.001: "green", 1: "green"}),
    (
        "<0 Green, 0-0 Yellow, >0 Red",
        {-1: "green", -0.001: "green", 0: "yellow", 0.001: "red", 1: "red"},
    ),
    ("<0 Blue, 0 Green, >0 Red", {-1: "blue", 0: "green", 0.001: "red", 1: "red"}),
    ("≥5 Red", {4.999: "green", 5: "red", 6: "red"}),
    ("<=5 Green, 5-10 Yellow, >10 Red", {5: "green", 5.001: "yellow", 10: "red"}),
    (
        "0 Green, 1-5 Yellow, >5 Red",
        {0: "green", 0.5: "green", 1: "yellow", 4.999: "yellow", 5: "red"},
    ),
    ("5=Red", {0: "green", 1: "green", 4: "green", 5: "red", 6: "green", 7: "green"}),
    ("2=Red, 1=Green", {0: "green", 1: "green", 2: "red", 3: "green", 100: "green"}),
    ("1=Green, 0=Red", {-1: "red", 0: "red", 0.5: "red", 1: "green", 2: "green"}),
]

# The steps of `1=Green, 0=Red` agree with its mappings, red below 1, and get no
# alert of their own: its alert fires at the mapped 0 alone (see docs/alerts.md).
ALERT_CASES = [
    *(case for case in CASES if case[0] != "1=Green, 0=Red"),
    ("1=Green, 0=Red", {0: "red", 1: "green", 2: "green"}),
]

# The severity of the alerts that fire where a panel shows each hue.
SEVERITIES = {"red": "critical", "yellow": "warning"}


def _manifest(text: str, warning: bool = True) -> str:
    """Return a manifest with one stat panel of `text`, alerting on yellow with `warning`."""
    return (
        "service: payments\n"
        "scrape: {job: payments, port: 8080}\n"
        "metrics:\n  dlq_depth: gauge\n"
        "rows:\n  - title: Queues\n    panels:\n"
        "      - title: Dead Letters\n"
        "        type: stat\n"
        f"        query: '{QUERY}'\n"
        f"        thresholds: {json.dumps(text, ensure_ascii=False)}\n"
        + ("        alert: {warning: true}\n" if warning else "")
    )


def _build(folder: Path, text: str) -> tuple[dict, Path]:
    """Build a project with one panel of `text`, and return the panel and rule file."""
    write_manifest(folder, "payments.yaml", _manifest(text))
    result = build(Project.at(folder))
    assert result.ok, [str(d) for d in result.diagnostics]
    write_tree(folder / "out", result.files)
    dashboard = json.loads(
        (folder / "out/grafana/dashboards/payments.json").read_text()
    )
    # An expanded row lists its panels beside it, and a collapsed one inside it.
    panels = [
        inner
        for panel in dashboard["panels"]
        for inner in (panel, *panel.get("panels", []))
    ]
    (panel,) = [panel for panel in panels if panel["type"] == "stat"]
    return panel, folder / "out/prometheus/rules/payments.rules.yml"


def grafana_colour(panel: dict, value: float) -> str:
    """Return the colour Grafana shows `value` in.

    A value mapping of the value comes first: a `special` one of NaN, or one of the
    value itself. Otherwise the colour is that of the last step whose value is at or
    below `value`, where the first step's null is minus infinity.
    """
    defaults = panel["fieldConfig"]["defaults"]
    for mapping in defaults["mappings"]:
        if mapping["type"] == "special":
            if mapping["options"]["match"] in ("nan", "null+nan") and math.isnan(value):
                return mapping["options"]["result"]["color"]
            continue
        for key, result in mapping["options"].items():
            if float(key) == value:
                return result["color"]
    colour = ""
    for step in defaults["thresholds"]["steps"]:
        if step["value"] is None or value >= step["value"]:
            colour = step["color"]
    return colour


def _alert_exprs(rules_path: Path, severity: str) -> list[str]:
    rules = yaml.safe_load(rules_path.read_text())
    return [
        rule["expr"]
        for group in rules["groups"]
        for rule in group["rules"]
        if "alert" in rule and rule["labels"]["severity"] == severity
    ]


@pytest.mark.parametrize(("text", "colours"), CASES, ids=[c[0] for c in CASES])
def test_dashboard_colours_as_written(
    tmp_path: Path, text: str, colours: dict[float, str]
) -> None:
    panel, _ = _build(tmp_path, text)
    dashboard_colours = {value: grafana_colour(panel, value) for value in colours}
    assert dashboard_colours == colours


@pytest.mark.parametrize(
    ("text", "colours"), ALERT_CASES, ids=[c[0] for c in ALERT_CASES]
)
def test_alerts_fire_where_panel_is_coloured(
    tmp_path: Path, text: str, colours: dict[float, str]
) -> None:
    """promtool evaluates the alerts of each hue at each value of the case.

    NaN, such as 0/0 without traffic, takes the colour of the base step unless a
    mapping gives it another, and raises no alert.
    """
    panel, rules_path = _build(tmp_path, text)
    groups = []
    for value in [*colours, math.nan]:
        tests = []
        for hue, severity in SEVERITIES.items():
            exprs = _alert_exprs(rules_path, severity)
            in_hue = grafana_colour(panel, value) == hue
            if not exprs:
                assert not in_hue, f"{value} is {hue}, but no {severity} alert exists"
                continue
            either = " or ".join(f"({expr})" for expr in exprs)
            tests.append(
                {
                    "expr": f"count({either}) or vector(0)",
                    "eval_time": "2m",
                    "exp_samples": [{"labels": "{}", "value": 1 if in_hue else 0}],
                }
            )
        groups.append(
            {
                "name": f"{text} at {value}",
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'dlq_depth{job="payments"}',
                        "values": "NaN+0x10" if math.isnan(value) else f"{value}+0x10",
                    }
                ],
                "promql_expr_test": tests,
            }
        )
    test_file = tmp_path / "agreement.test.yml"
    test_file.write_text(
        yaml.safe_dump(
            {"rule_files": [str(rules_path)], "tests": groups}, allow_unicode=True
        ),
        encoding="utf-8",
    )
    outcome = run_promtool("test", "rules", str(test_file))
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr


def test_dead_letter_rules_pass_promtool(project: Path) -> None:
    """The dead-letter panel alerts above 0 only, and its generated tests expect that."""
    write_manifest(
        project, "payments.yaml", _manifest("0 Green, >0 Red", warning=False)
    )
    result = build(Project.at(project))
    assert result.ok, [str(d) for d in result.diagnostics]
    assert [str(d) for d in result.diagnostics if d.severity is Severity.WARNING] == []
    write_tree(project / "out", result.files)
    rules_path = project / "out/prometheus/rules/payments.rules.yml"
    tests_path = project / "out/prometheus/tests/payments.test.yml"

    rules = yaml.safe_load(rules_path.read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    alerts = [rule for rule in alerts if "alert" in rule]
    assert [rule["expr"] for rule in alerts] == [
        'job:dlq_depth:max{job="payments"} > 0'
    ]
    tests = yaml.safe_load(tests_path.read_text())
    names = [group["name"] for group in tests["tests"]]
    assert "PaymentsDeadLettersCritical: 0 (green) stays silent" in names
    assert "PaymentsDeadLettersCritical: 1 (red) fires" in names

    checked = run_promtool("check", "rules", str(rules_path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = run_promtool("test", "rules", str(tests_path))
    assert tested.returncode == 0, tested.stdout + tested.stderr
