"""Alert settings on panels that derive no alert: each gets a warning with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from obscompile.pipeline import Project, build
from tests.conftest import write_manifest

HEADER = """\
service: payments
scrape: {job: payments, port: 8080}
metrics:
  queue_depth: gauge
rows:
  - title: Queue
    panels:
      - title: Depth
        query: 'sum(queue_depth{job="payments"})'
"""
# The line and column where each case's first line, appended to HEADER, starts.
LINE = 10
COLUMN = 9

# The checks that report a panel whose alert settings give no alert.
SILENT_CHECKS = {
    "alerts/no-thresholds",
    "alerts/no-red-band",
    "alerts/no-warning-band",
    "alerts/unbounded",
}

NO_THRESHOLDS = (
    'panel "Depth": no alert is derived, because the panel has no thresholds, and an '
    "alert fires only where they colour a value red{colours}; add thresholds, such "
    'as "<5 Green, >=5 Red", or remove alert [alerts/no-thresholds]'
)
NO_RED_BAND = (
    'panel "Depth": no alert is derived, because no band of its thresholds is '
    "red{colours}; {action} [alerts/no-red-band]"
)
RED_ACTION = 'colour the band to alert on red, such as ">=5 Red", or remove alert'
YELLOW_ACTION = (
    "set alert: {warning: true} to alert on its yellow band with severity warning, "
    "or colour a band red"
)

# (id, panel keys after the query, expected findings as (line, column, text), the
# number of alerts derived).
CASES = [
    ("no-alert-key", "", [], 0),
    ("alert-false", "alert: false\n", [], 0),
    ("red-band", "thresholds: '<5 Green, >=5 Red'\nalert: true\n", [], 1),
    (
        "true-without-thresholds",
        "alert: true\n",
        [(0, 0, NO_THRESHOLDS.format(colours=""))],
        0,
    ),
    (
        "settings-without-thresholds",
        "alert:\n  for: 10m\n  labels: {team: payments}\n",
        [(0, 0, NO_THRESHOLDS.format(colours=""))],
        0,
    ),
    (
        "warning-without-thresholds",
        "alert: {warning: true}\n",
        [(0, 0, NO_THRESHOLDS.format(colours=" or yellow"))],
        0,
    ),
    (
        "yellow-band-without-warning",
        "thresholds: '<5 Green, >=5 Yellow'\nalert: {for: 10m}\n",
        [(1, 0, NO_RED_BAND.format(colours="", action=YELLOW_ACTION))],
        0,
    ),
    (
        "yellow-band-with-warning",
        "thresholds: '<5 Green, >=5 Yellow'\nalert: {warning: true}\n",
        [],
        1,
    ),
    (
        "blue-band",
        "thresholds: '<5 Green, >=5 Blue'\nalert: true\n",
        [(1, 0, NO_RED_BAND.format(colours="", action=RED_ACTION))],
        0,
    ),
    (
        "blue-band-with-warning",
        "thresholds: '<5 Green, >=5 Blue'\nalert: {warning: true}\n",
        [(1, 0, NO_RED_BAND.format(colours=" or yellow", action=RED_ACTION))],
        0,
    ),
    (
        "red-band-with-warning",
        "thresholds: '<5 Green, >=5 Red'\nalert: {warning: true}\n",
        [
            (
                1,
                7,
                'panel "Depth": alert.warning is set, but no band is yellow, so no '
                "warning alert is derived [alerts/no-warning-band]",
            )
        ],
        1,
    ),
    (
        "red-alone",
        "thresholds: Red\nalert: true\n",
        [
            (
                0,
                12,
                'panel "Depth": the thresholds colour every value red, so no alert is '
                'derived; give the band a bound, such as ">5 Red" [alerts/unbounded]',
            )
        ],
        0,
    ),
]


@pytest.mark.parametrize(
    ("keys", "expected", "alerts"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_alert_settings_without_alert(
    project: Path, keys: str, expected: list[tuple[int, int, str]], alerts: int
) -> None:
    indented = "".join(f"        {line}\n" for line in keys.splitlines())
    write_manifest(project, "payments.yaml", HEADER + indented)
    result = build(Project.at(project))
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    found = [str(d) for d in result.diagnostics if d.check in SILENT_CHECKS]
    assert found == [
        f"services/payments.yaml:{LINE + line}:{COLUMN + column}: warning: {text}"
        for line, column, text in expected
    ]
    rules = result.files.get("prometheus/rules/payments.rules.yml", "")
    assert rules.count("- alert: ") == alerts


PYTHON_SERVICE = """\
from obscompile import dsl


def depth_panel(alert=None):
    return dsl.panel("Depth", 'sum(queue_depth{{job="payments"}})', alert=alert)


dsl.service(
    "payments",
    scrape=dsl.scrape_job("payments", port=8080),
    metrics=[dsl.gauge("queue_depth", "Queue depth")],
    rows=[dsl.row("Queue", [{panel}])],
)
"""


def test_python_alert_without_thresholds(project: Path) -> None:
    """`alert=True` warns at the argument, and `alert=None` passed on sets no alert."""
    text = PYTHON_SERVICE.format(panel="depth_panel(alert=True)")
    (project / "services" / "payments.py").write_text(text, encoding="utf-8")
    result = build(Project.at(project))
    assert [str(d) for d in result.diagnostics if d.check in SILENT_CHECKS] == [
        "services/payments.py:5:73: warning: " + NO_THRESHOLDS.format(colours="")
    ]
    text = PYTHON_SERVICE.format(panel="depth_panel()")
    (project / "services" / "payments.py").write_text(text, encoding="utf-8")
    result = build(Project.at(project))
    assert [d for d in result.diagnostics if d.check in SILENT_CHECKS] == []
