"""Compiled dashboards: snapshots, Grafana JSON model rules, and generated cases."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import attrs
import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from obscompile import promql
from obscompile.derive.units import certain_unit, derive_unit
from obscompile.load.config import SCHEMA_VERSION_MAX, SCHEMA_VERSION_MIN
from obscompile.load.project import load_project
from obscompile.pipeline import Project, build
from obscompile.render.grafana import (
    PICKER_INTERVALS,
    PLUGIN_VERSION,
    dashboard_rows,
    panel_ids,
)
from tests.conftest import REPO, write_manifest

UIDS = [
    "auth-server-dashboard",
    "notification-server-dashboard",
    "portfolio-server-dashboard",
    "alphacopilot-server-dashboard",
]


@pytest.fixture
def json_snapshot(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


def _all_panels(dashboard: dict) -> list[dict]:
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def _build_one(project: Path, text: str, name: str = "payments.yaml") -> dict:
    write_manifest(project, name, text)
    result = build(Project.at(project))
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    (dashboard,) = [
        json.loads(t) for n, t in result.files.items() if n.endswith(".json")
    ]
    return dashboard


@pytest.mark.parametrize("uid", UIDS)
def test_dashboard_snapshot(uid: str, dashboards: dict, json_snapshot) -> None:
    assert dashboards[uid] == json_snapshot


@pytest.mark.parametrize("uid", UIDS)
def test_no_instance_fields(uid: str, dashboards: dict) -> None:
    dashboard = dashboards[uid]
    assert "id" not in dashboard
    assert "version" not in dashboard
    assert dashboard["uid"] == uid
    assert dashboard["schemaVersion"] == 42


@pytest.mark.parametrize("uid", UIDS)
def test_panel_ids_unique_in_order(uid: str, dashboards: dict) -> None:
    ids = [p["id"] for p in _all_panels(dashboards[uid])]
    assert ids == list(range(1, len(ids) + 1))


@pytest.mark.parametrize("uid", UIDS)
def test_datasource_variable(uid: str, dashboards: dict) -> None:
    dashboard = dashboards[uid]
    (variable,) = dashboard["templating"]["list"]
    assert variable["type"] == "datasource"
    assert variable["query"] == "prometheus"
    reference = {"type": "prometheus", "uid": "${datasource}"}
    for panel in _all_panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == reference
        assert all(t["datasource"] == reference for t in panel["targets"])


@pytest.mark.parametrize("uid", UIDS)
def test_threshold_colours_used(uid: str, dashboards: dict) -> None:
    for panel in _all_panels(dashboards[uid]):
        defaults = panel.get("fieldConfig", {}).get("defaults", {})
        if panel["type"] in ("stat", "gauge"):
            assert defaults["color"] == {"mode": "thresholds"}
        if panel["type"] == "timeseries":
            coloured = (
                len(defaults["thresholds"]["steps"]) > 1
                or panel["fieldConfig"]["overrides"]
            )
            expected = "line" if coloured else "off"
            assert defaults["custom"]["thresholdsStyle"] == {"mode": expected}


ROW_PANELS = """\
service: payments
scrape: {job: payments, port: 8080}
metrics:
  http_requests_total: {type: counter, labels: [code]}
rows:
  - title: Codes
    panels:
      - title: Codes table
        type: table
        query: 'sum by (code) (rate(http_requests_total{job="payments"}[5m]))'
        thresholds: "<50 Green, 50-200 Yellow, >200 Red"
      - title: Codes bars
        type: barchart
        query: 'sum by (code) (rate(http_requests_total{job="payments"}[5m]))'
        thresholds: "<50 Green, >=50 Red"
      - title: Plain table
        type: table
        query: 'sum by (code) (rate(http_requests_total{job="payments"}[5m]))'
      - title: Plain bars
        type: barchart
        query: 'sum by (code) (rate(http_requests_total{job="payments"}[5m]))'
"""

NUMBER_CELLS_COLOURED = {
    "matcher": {"id": "byType", "options": "number"},
    "properties": [{"id": "custom.cellOptions", "value": {"type": "color-text"}}],
}


def test_table_colours_value_cells(project: Path) -> None:
    """A table with thresholds colours its number cells, and never a label cell.

    The defaults' unit reaches the label columns too, and Grafana 12 reads a label
    value such as "500" as a number, which color-text in the defaults would colour.
    """
    dashboard = _build_one(project, ROW_PANELS)
    table, _, plain, _ = dashboard["panels"][1:]
    defaults = table["fieldConfig"]["defaults"]
    assert defaults["color"] == {"mode": "thresholds"}
    assert defaults["custom"]["cellOptions"] == {"type": "auto"}
    assert table["fieldConfig"]["overrides"] == [NUMBER_CELLS_COLOURED]
    assert plain["fieldConfig"]["defaults"]["custom"]["cellOptions"] == {"type": "auto"}
    assert plain["fieldConfig"]["overrides"] == []


NO_VALUE_PANELS = """\
service: payments
scrape: {job: payments, port: 8080}
metrics:
  http_requests_total: {type: counter, labels: [code]}
rows:
  - title: R
    panels:
      - title: Low is red
        type: stat
        query: sum(rate(http_requests_total{job="payments"}[5m]))
        thresholds: "<1 Red, >=1 Green"
      - title: High is red
        type: stat
        query: sum(rate(http_requests_total{job="payments"}[5m]))
        thresholds: "<1 Green, >=1 Red"
      - title: One series low is red
        type: stat
        query: sum by (code) (rate(http_requests_total{job="payments"}[5m]))
        legend: "{{code}}"
        thresholds: {steps: [green], series: {"200": "<1 Red, >=1 Green"}}
"""
NO_VALUE_MAPPING = {
    "type": "special",
    "options": {"match": "null+nan", "result": {"color": "text", "index": 0}},
}


def test_nan_mapping_where_base_alerts(project: Path) -> None:
    """No data and NaN take the text colour where the base step is red or yellow.

    Grafana shows a value that is no number in the base step's colour, and such a
    value raises no alert.
    """
    dashboard = _build_one(project, NO_VALUE_PANELS)
    low, high, series = (
        panel["fieldConfig"]["defaults"]["mappings"]
        for panel in dashboard["panels"][1:]
    )
    assert low == [NO_VALUE_MAPPING]
    assert high == []
    assert series == [NO_VALUE_MAPPING]


def test_barchart_colours_bars_by_thresholds(project: Path) -> None:
    """A bar chart with thresholds colours each bar by its value, as its alert reads it.

    Grafana 12's bar chart colours each bar by value when the color mode is
    "thresholds", and by series in "palette-classic".
    """
    dashboard = _build_one(project, ROW_PANELS)
    _, bars, _, plain = dashboard["panels"][1:]
    defaults = bars["fieldConfig"]["defaults"]
    assert defaults["color"] == {"mode": "thresholds"}
    assert [step["value"] for step in defaults["thresholds"]["steps"]] == [None, 50]
    assert plain["fieldConfig"]["defaults"]["color"] == {"mode": "palette-classic"}


UNITS = [
    ("auth-server-dashboard", "Request Rate", "reqps"),
    ("auth-server-dashboard", "Error Rate (4xx/5xx)", "percent"),
    ("auth-server-dashboard", "P95 Latency (All Endpoints)", "s"),
    ("auth-server-dashboard", "In-Flight Requests", "short"),
    ("notification-server-dashboard", "Delivery Success Rate", "percent"),
    ("notification-server-dashboard", "Messages/sec by Topic", "ops"),
    ("portfolio-server-dashboard", "Trade Execution P99 Latency", "s"),
    ("portfolio-server-dashboard", "External API Health", "none"),
    ("alphacopilot-server-dashboard", "LLM Requests/min", "reqpm"),
    ("alphacopilot-server-dashboard", "Iterations per Run", "short"),
    ("alphacopilot-server-dashboard", "Runs Created (1h)", "short"),
]


@pytest.mark.parametrize(("uid", "title", "unit"), UNITS)
def test_derived_unit(uid: str, title: str, unit: str, dashboards: dict) -> None:
    (panel,) = [p for p in _all_panels(dashboards[uid]) if p["title"] == title]
    assert panel["fieldConfig"]["defaults"]["unit"] == unit


LEGENDS = [
    ("auth-server-dashboard", "4xx/5xx by Endpoint", "{{endpoint}} {{status_code}}"),
    ("portfolio-server-dashboard", "Pipeline Duration P95", "{{pipeline_type}}"),
    ("portfolio-server-dashboard", "Market Data Latency P95", "{{source}}"),
    ("portfolio-server-dashboard", "Queue Depth", "{{queue}}"),
    ("portfolio-server-dashboard", "Alpha Signal Strength Distribution", "{{le}}"),
    ("auth-server-dashboard", "Request Rate", "Request Rate"),
]


@pytest.mark.parametrize(("uid", "title", "legend"), LEGENDS)
def test_derived_legend(uid: str, title: str, legend: str, dashboards: dict) -> None:
    (panel,) = [p for p in _all_panels(dashboards[uid]) if p["title"] == title]
    assert panel["targets"][0]["legendFormat"] == legend


NODE_EXPORTER = """\
service: node
dashboard:
  uid: node-overview
scrape:
  - job: node
    targets: ['node-1:9100', 'node-2:9100']
  - job: node_canary
    targets: ['canary:9100']
metrics:
  node_cpu_seconds_total:
    type: counter
    labels: [cpu, mode]
  node_load1:
    type: gauge
  node_disk_io_time_seconds_total:
    type: counter
    labels: [le]
  node_filesystem_avail_bytes:
    type: gauge
    labels: [device, mountpoint]
  node_filesystem_size_bytes:
    type: gauge
    labels: [device, mountpoint]
rows:
  - title: Hosts
    panels:
"""

# Each query with the legend derived from it for NODE_EXPORTER's scrape jobs.
HOST_LEGENDS = {
    "by-instance": (
        'avg by (instance) (rate(node_cpu_seconds_total{job="node",mode!="idle"}[5m]))',
        "{{instance}}",
    ),
    "by-job-and-instance": (
        'sum by (job, instance) (rate(node_cpu_seconds_total{job=~"node.*"}[5m]))',
        "{{job}} {{instance}}",
    ),
    "by-pinned-job": (
        'sum by (job, instance) (rate(node_cpu_seconds_total{job="node"}[5m]))',
        "{{instance}}",
    ),
    "selector-of-two-targets": ('node_load1{job="node"}', "{{instance}}"),
    "selector-of-one-target": ('node_load1{job="node_canary"}', "Load"),
    "selector-pinned-to-one-instance": (
        'node_load1{job="node",instance="node-1:9100"}',
        "Load",
    ),
    "selector-of-two-jobs": ('node_load1{job=~"node.*"}', "{{job}} {{instance}}"),
    "without-that-leaves-instance": (
        'sum without (cpu) (rate(node_cpu_seconds_total{job="node"}[5m]))',
        "{{mode}} {{instance}}",
    ),
    "without-instance": (
        'sum without (instance) (rate(node_cpu_seconds_total{job="node"}[5m]))',
        "{{cpu}} {{mode}}",
    ),
    "sum-by-other-label": (
        'sum by (mode) (rate(node_cpu_seconds_total{job="node"}[5m]))',
        "{{mode}}",
    ),
    "on-keeps-its-labels": (
        'node_filesystem_avail_bytes{job="node"} / on (instance, device) '
        'node_filesystem_size_bytes{job="node"}',
        "{{instance}} {{device}}",
    ),
    "ignoring-drops-its-labels": (
        'rate(node_cpu_seconds_total{job="node",mode="user"}[5m]) / ignoring (mode) '
        'rate(node_cpu_seconds_total{job="node",mode="system"}[5m])',
        "{{cpu}} {{instance}}",
    ),
    "absent-of-selector": ('absent(node_load1{job="node"})', "Load"),
    "or-keeps-both-sides": (
        'sum by (job) (node_load1{job="node"}) '
        'or sum by (instance) (node_load1{job="node_canary"})',
        "{{job}} {{instance}}",
    ),
    "le-hidden": (
        'sum by (le) (rate(node_disk_io_time_seconds_total{job="node_canary"}[5m]))',
        "Load",
    ),
}


@pytest.mark.parametrize(
    ("query", "legend"), HOST_LEGENDS.values(), ids=HOST_LEGENDS.keys()
)
def test_legend_names_host_labels(project: Path, query: str, legend: str) -> None:
    panel = f"- {{title: Load, type: timeseries, query: '{query}'}}\n"
    dashboard = _build_one(project, NODE_EXPORTER + textwrap.indent(panel, "      "))
    assert dashboard["panels"][1]["targets"][0]["legendFormat"] == legend


PUSHGATEWAY = """\
service: batch
scrape: {job: pushgateway, port: 9091, honor_labels: true}
rows:
  - title: Jobs
    panels:
"""


@pytest.mark.parametrize(
    ("query", "legend"),
    [
        ('time() - last_success_timestamp_seconds{job=~"etl_a|etl_b"}', "{{job}}"),
        ("time() - last_success_timestamp_seconds", "{{job}}"),
        ('time() - last_success_timestamp_seconds{job="etl_a"}', "Since"),
    ],
    ids=["regex", "no-matcher", "pinned"],
)
def test_legend_names_pushed_jobs(project: Path, query: str, legend: str) -> None:
    """A job that honours labels gives its series the jobs that pushed them."""
    panel = f"- {{title: Since, type: timeseries, query: '{query}'}}\n"
    dashboard = _build_one(project, PUSHGATEWAY + textwrap.indent(panel, "      "))
    assert dashboard["panels"][1]["targets"][0]["legendFormat"] == legend


def test_heatmap_target(dashboards: dict) -> None:
    panels = _all_panels(dashboards["portfolio-server-dashboard"])
    (heatmap,) = [p for p in panels if p["type"] == "heatmap"]
    target = heatmap["targets"][0]
    assert target["format"] == "heatmap"
    assert target["legendFormat"] == "{{le}}"
    assert heatmap["options"]["calculate"] is False


def test_build_is_deterministic(tmp_path: Path) -> None:
    """Two builds in separate processes with different hash seeds give identical bytes."""
    outputs = []
    for seed in ("1", "4242"):
        out = tmp_path / f"out-{seed}"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run(
            [
                sys.executable,
                "-m",
                "obscompile",
                "build",
                "--project",
                str(REPO),
                "--out",
                str(out),
            ],
            check=True,
            env=env,
            capture_output=True,
        )
        outputs.append(
            {
                p.relative_to(out): p.read_bytes()
                for p in sorted(out.rglob("*"))
                if p.is_file()
            }
        )
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) >= 4


def test_uid_derived_when_absent(project: Path) -> None:
    dashboard = _build_one(
        project,
        "service: checkout-service-for-the-european-union-region-primary\n"
        "rows: [{title: A, panels: [{title: p, query: up}]}]\n",
    )
    assert dashboard["uid"] == "checkout-service-for-the-eu-63f4afa93899"


@pytest.mark.parametrize(
    ("refresh", "intervals"),
    [
        ("1m", None),
        ("", None),
        ("auto", None),
        ("3m", ["5s", "10s", "30s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "1d"]),
        # Grafana compares the refresh with the intervals as text.
        (
            "60s",
            ["5s", "10s", "30s", "1m", "60s", "5m", "15m", "30m", "1h", "2h", "1d"],
        ),
        ("2w", ["5s", "10s", "30s", "1m", "5m", "15m", "30m", "1h", "2h", "1d", "2w"]),
        ("8s", ["5s", "8s", "10s", "30s", "1m", "5m", "15m", "30m", "1h", "2h", "1d"]),
    ],
)
def test_refresh_is_a_picker_interval(
    project: Path, refresh: str, intervals: list[str] | None
) -> None:
    """The refresh picker starts a timer only for a refresh among its intervals."""
    dashboard = _build_one(
        project,
        f"service: payments\ndashboard: {{refresh: {json.dumps(refresh)}}}\n"
        "rows: [{title: A, panels: [{title: p, query: up}]}]\n",
    )
    assert dashboard["refresh"] == refresh
    picker = dashboard["timepicker"]
    assert picker == ({} if intervals is None else {"refresh_intervals": intervals})
    if refresh not in ("", "auto"):
        assert refresh in picker.get("refresh_intervals", PICKER_INTERVALS)


def test_unicode_titles_survive(project: Path) -> None:
    dashboard = _build_one(
        project,
        'service: "Платежи 💳"\n'
        "service_key: payments\n"
        "rows:\n"
        '  - title: "Задержка \\"p99\\" — C:\\\\temp"\n'
        "    panels: [{title: p, query: up}]\n",
    )
    assert dashboard["title"] == "Платежи 💳"
    assert dashboard["panels"][0]["title"] == 'Задержка "p99" — C:\\temp'
    assert dashboard["uid"] == "svc-1a7a9a9b2dad"


def test_ids_with_collapsed_row(project: Path) -> None:
    dashboard = _build_one(
        project,
        """service: payments
rows:
  - title: Traffic
    panels:
      - {title: RPS, type: timeseries, query: 'sum(rate(http_requests_total{job="payments"}[5m]))'}
      - {title: Errors, type: stat, query: 'sum(rate(http_requests_total{job="payments",code=~"5.."}[5m]))'}
  - title: Saturation
    collapsed: true
    panels:
      - {title: CPU, type: timeseries, query: 'sum(rate(process_cpu_seconds_total{job="payments"}[5m]))'}
""",
    )
    top = [(p["title"], p["id"]) for p in dashboard["panels"]]
    assert top == [("Traffic", 1), ("RPS", 2), ("Errors", 3), ("Saturation", 4)]
    assert [(p["title"], p["id"]) for p in dashboard["panels"][3]["panels"]] == [
        ("CPU", 5)
    ]


def test_layout_rows_and_wrapping(project: Path) -> None:
    dashboard = _build_one(
        project,
        """service: payments
rows:
  - title: A
    panels:
      - {title: p1, query: up, width: 8, height: 8}
      - {title: p2, query: up, width: 8, height: 8}
      - {title: p3, query: up, width: 8, height: 8}
      - {title: p4, query: up, width: 8, height: 8}
  - title: B
    panels:
      - {title: p5, query: up, width: 8, height: 8}
""",
    )
    layout = [(p["title"], p["id"], p["gridPos"]) for p in dashboard["panels"]]
    assert layout == [
        ("A", 1, {"x": 0, "y": 0, "w": 24, "h": 1}),
        ("p1", 2, {"x": 0, "y": 1, "w": 8, "h": 8}),
        ("p2", 3, {"x": 8, "y": 1, "w": 8, "h": 8}),
        ("p3", 4, {"x": 16, "y": 1, "w": 8, "h": 8}),
        ("p4", 5, {"x": 0, "y": 9, "w": 8, "h": 8}),
        ("B", 6, {"x": 0, "y": 17, "w": 24, "h": 1}),
        ("p5", 7, {"x": 0, "y": 18, "w": 8, "h": 8}),
    ]
    assert dashboard["panels"][0]["panels"] == []


def test_collapsed_row_owns_children(project: Path) -> None:
    dashboard = _build_one(
        project,
        """service: payments
rows:
  - title: A
    panels: [{title: p1, query: up, width: 8, height: 8}]
  - title: B
    collapsed: true
    panels: [{title: p5, query: up, width: 8, height: 8}]
  - title: C
    panels: [{title: p6, query: up, width: 8, height: 8}]
""",
    )
    row_b = dashboard["panels"][2]
    assert row_b["collapsed"] is True
    assert [p["title"] for p in row_b["panels"]] == ["p5"]
    row_c = dashboard["panels"][3]
    assert row_c["title"] == "C"
    assert row_c["gridPos"]["y"] == row_b["gridPos"]["y"] + 1


# A panel of every type that obscompile writes, one of them in a collapsed row.
EVERY_PANEL_TYPE = """service: payments
metrics:
  http_request_duration_seconds: {type: histogram, buckets: [0.1, 0.5, 1]}
rows:
  - title: A
    panels:
      - {title: stat, type: stat, query: up}
      - {title: gauge, type: gauge, query: up}
      - {title: timeseries, type: timeseries, query: up}
      - {title: table, type: table, query: up}
      - {title: barchart, type: barchart, query: up}
      - {title: piechart, type: piechart, query: up}
  - title: B
    collapsed: true
    panels:
      - title: heatmap
        type: heatmap
        query: 'sum by (le) (rate(http_request_duration_seconds_bucket{job="payments"}[5m]))'
"""


@pytest.mark.parametrize(
    "schema_version", range(SCHEMA_VERSION_MIN, SCHEMA_VERSION_MAX + 1)
)
def test_plugin_version_same_for_every_schema(
    project: Path, schema_version: int
) -> None:
    """Every panel carries the version whose option shapes it is written in.

    The panel options do not change with schema_version, so neither does the
    pluginVersion, from which Grafana's panel migration handlers infer their shape.
    """
    (project / "obscompile.yaml").write_text(f"schema_version: {schema_version}\n")
    dashboard = _build_one(project, EVERY_PANEL_TYPE)
    assert dashboard["schemaVersion"] == schema_version
    panels = [p for p in _all_panels(dashboard) if p["type"] != "row"]
    assert [p["type"] for p in panels] == [p["title"] for p in panels]
    assert len(panels) == 7
    for panel in panels:
        assert panel["pluginVersion"] == PLUGIN_VERSION, panel["type"]


def test_plugin_version_passes_migration_thresholds() -> None:
    """The version is past every version that the stat and gauge migrations test.

    Grafana's sharedSingleStatMigrationHandler (@grafana/ui) reads pluginVersion
    with JavaScript's parseFloat and rewrites the options of a panel from before
    6.2, 6.3, 6.6, 7.0, 7.1 and 8.0.
    """
    major_minor = re.match(r"[0-9]+(\.[0-9]+)?", PLUGIN_VERSION)
    assert major_minor is not None
    assert float(major_minor.group()) >= 8.0


def test_strings_stay_data(project: Path) -> None:
    """Legends and titles with Jinja or JSON syntax reach the JSON unchanged."""
    dashboard = _build_one(
        project,
        """service: payments
rows:
  - title: '{{ row }} "quoted" \\ back'
    panels:
      - title: '{% raw %} p'
        query: 'sum by (le) (rate(x_bucket[5m]))'
        legend: '{{le}}'
""",
    )
    row, panel = dashboard["panels"]
    assert row["title"] == '{{ row }} "quoted" \\ back'
    assert panel["title"] == "{% raw %} p"
    assert panel["targets"][0]["legendFormat"] == "{{le}}"


EXPRESSION_UNITS = [
    (
        "histogram_quantile(0.95, sum by (le) (rate(x_seconds_bucket[5m]))) * 1000",
        "ms",
    ),
    (
        "1000 * histogram_quantile(0.5, sum by (le) (rate(x_seconds_bucket[5m])))",
        "ms",
    ),
    (
        "histogram_quantile(0.5, sum by (le) (rate(x_seconds_bucket[5m]))) * 1e6",
        "µs",
    ),
    (
        "histogram_quantile(0.5, sum by (le) (rate(x_seconds_bucket[5m]))) * 1e9",
        "ns",
    ),
    (
        "histogram_quantile(0.5, sum by (le) (rate(x_milliseconds_bucket[5m]))) * 1000",
        "µs",
    ),
    (
        "histogram_quantile(0.5, sum by (le) (rate(x_milliseconds_bucket[5m]))) / 1000",
        "s",
    ),
    ("x_microseconds_total * 1", "short"),
    ("x_seconds * 1000", "ms"),
    ("x_seconds / 1", "s"),
    ("x_milliseconds / 1e3", "s"),
    ("x_nanoseconds_total / 1e9", "short"),
    ("x_seconds / 1e6", "short"),
    ("x_milliseconds * 1e9", "short"),
    # Any other factor leaves the unit unknown: 0.25 s times 100 is 25, not 25 s.
    (
        "histogram_quantile(0.5, sum by (le) (rate(x_seconds_bucket[5m]))) * 2",
        "short",
    ),
    (
        "histogram_quantile(0.95, sum by (le) (rate(x_seconds_bucket[5m]))) * 100",
        "short",
    ),
    ("x_seconds / 60", "short"),
    ("x_bytes * 8", "short"),
    ("x_seconds * Inf", "short"),
    ("x_seconds / 0", "short"),
    ("x_total * 2", "short"),
    ("x_ratio * 100", "percent"),
    ("x_percent / 100", "percentunit"),
    # The mean observation of a histogram or summary is in the metric's unit.
    ("sum(rate(x_seconds_sum[5m])) / sum(rate(x_seconds_count[5m]))", "s"),
    (
        "(sum(rate(x_seconds_sum[5m])) / sum(rate(x_seconds_count[5m]))) * 1000",
        "ms",
    ),
    ("rate(x_milliseconds_sum[5m]) / rate(x_milliseconds_count[5m])", "ms"),
    ("increase(x_bytes_sum[1h]) / increase(x_bytes_count[1h])", "bytes"),
    ("x_seconds_sum / x_seconds_count", "s"),
    # Other metrics, or different functions on the two sides, are no mean.
    ("rate(x_seconds_sum[5m]) / rate(y_seconds_count[5m])", "short"),
    ("rate(x_seconds_sum[5m]) / x_seconds_count", "short"),
    ("rate(x_seconds_count[5m]) / rate(x_seconds_sum[5m])", "short"),
    # A sum divided by a count of series is a mean in the summed metric's unit,
    # and a fraction where that metric has no unit, such as the share of up.
    ("sum(x_percent) / count(x_percent)", "percent"),
    ("sum(x_seconds) / count by (a) (x_seconds)", "s"),
    ("(sum(x_ratio) / count(x_ratio)) * 100", "percent"),
    ("sum(x_seconds) / count(x_seconds) * 100", "short"),
    ("sum(up) / count(up)", "percentunit"),
    ("count(x_seconds > 1) / count(x_seconds)", "percentunit"),
    # time() is in seconds: the age of a timestamp in seconds is in s too.
    ("time() - max(x_last_success_timestamp_seconds)", "s"),
    ("time() - x_last_success_timestamp_milliseconds / 1000", "s"),
    ("max(x_last_success_timestamp_seconds) - time()", "s"),
    ("time() - max(timestamp(x_requests_total))", "s"),
    ("vector(time()) - max(x_last_success_timestamp_seconds)", "s"),
    # A timestamp whose name gives no unit, such as blackbox_exporter's
    # certificate expiry, is in seconds too, as time() is.
    ("probe_ssl_earliest_cert_expiry - time()", "s"),
    ("min(probe_ssl_earliest_cert_expiry) - vector(time())", "s"),
    ("time() - max(pg_postmaster_start_time)", "s"),
    ("time() - x_last_success_timestamp_milliseconds", "ms"),
    ("min by (instance) (probe_ssl_earliest_cert_expiry - time())", "s"),
    ("max(time() - x_last_success_timestamp_seconds) / 1000", "short"),
    ("avg(x_seconds * 1000)", "ms"),
    ("time() * x_seconds", "short"),
    # A count of series and a test of presence are numbers of series.
    ("count(http_request_duration_seconds_bucket)", "short"),
    ("sum(count by (x) (a_seconds))", "short"),
    ('count_values("v", a_seconds)', "short"),
    ("group(a_seconds)", "short"),
    ('absent(node_cpu_seconds_total{job="a"})', "short"),
    ("max(absent_over_time(a_seconds[5m]))", "short"),
    ("sum(a_seconds)", "s"),
    # A regex with a backslash, which promql-parser prints without escaping it.
    (
        '100 * sum(rate(x_total{code=~"5\\\\d\\\\d"}[5m])) / sum(rate(x_total[5m]))',
        "percent",
    ),
    # The rate of a counter of seconds is the fraction of time spent busy.
    ("rate(node_cpu_seconds_total[5m])", "percentunit"),
    (
        'avg by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))',
        "percentunit",
    ),
    (
        'avg by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m])) * 100',
        "percent",
    ),
    (
        '100 * (1 - avg(irate(node_cpu_seconds_total{mode="idle"}[5m])))',
        "percent",
    ),
    ("sum(rate(process_cpu_seconds_total[5m]))", "percentunit"),
    ("rate(x_seconds_total[5m]) * 60", "short"),
    ("rate(x_milliseconds_total[5m])", "short"),
    # Rates of other counters, and of a histogram's series, keep their units.
    ("rate(x_seconds_count[5m])", "ops"),
    ("rate(x_seconds_bucket[5m])", "ops"),
    ("rate(x_total[5m])", "ops"),
    ("rate(x_bytes_total[5m])", "Bps"),
    ("sum(rate(http_requests_total[5m]))", "reqps"),
    ("sum(rate(http_requests_total[5m])) * 60", "reqpm"),
    ("60 * rate(x_total[5m])", "opm"),
    # The place of a factor does not change the unit read: 100 times a mean in
    # seconds is no percentage, whichever factor comes first.
    ("100 * sum(x_seconds) / count(x_seconds)", "short"),
    ("sum(x_seconds) * 100 / count(x_seconds)", "short"),
    ("sum(x_seconds * 100) / count(x_seconds)", "short"),
    ("100 * (sum(x_seconds) / count(x_seconds))", "short"),
    ("1000 * sum(x_seconds) / count(x_seconds)", "ms"),
    ("100 * sum(up) / count(up)", "percent"),
    ("sum(up * 100) / count(up)", "percent"),
    ("1000 * rate(x_seconds_sum[5m]) / rate(x_seconds_count[5m])", "ms"),
    ('sum(rate(x_total{a="b"}[5m])) / (sum(rate(x_total[5m])) / 100)', "percent"),
    ("x_seconds * 100 / 100", "s"),
    ("x_seconds / 10 * 10000", "ms"),
]


@pytest.mark.parametrize(("query", "unit"), EXPRESSION_UNITS)
def test_unit_of_expression(query: str, unit: str) -> None:
    """A factor of 1000 steps a time unit, and an unknown factor gives `short`.

    The mean observation of a histogram or summary has the metric's unit.
    """
    assert derive_unit(promql.parse(query)) == unit


@pytest.mark.parametrize(("query", "unit"), EXPRESSION_UNITS)
def test_certain_unit_is_derived_unit(query: str, unit: str) -> None:
    """Where the query fixes its unit, the fixed unit is the derived one."""
    assert certain_unit(promql.parse(query)) in (None, unit)


@pytest.mark.parametrize(
    ("query", "unit"),
    [
        # A unit that the metric's name gives, through functions that keep it.
        ('process_resident_memory_bytes{job="a"}', "bytes"),
        ("max_over_time(x_bytes[1h])", "bytes"),
        ("-x_bytes", "bytes"),
        ('label_replace(x_bytes, "a", "$1", "b", "(.*)")', "bytes"),
        ("quantile_over_time(0.9, x_seconds[5m])", "s"),
        ("sum(x_bytes) or vector(0)", "bytes"),
        ("x_bytes - y_bytes", "bytes"),
        ("x_bytes > 5", "bytes"),
        ("x_seconds * 1000", "ms"),
        ("1 - x_ratio", "percentunit"),
        ("histogram_quantile(0.9, sum by (le) (rate(x_bytes_bucket[5m])))", "bytes"),
        ("rate(x_bytes_sum[5m]) / rate(x_bytes_count[5m])", "bytes"),
        ("sum(x_bytes) / count(x_bytes)", "bytes"),
        ("time() - x_timestamp_seconds", "s"),
        ("time() - last_success", "s"),
        # A counter's rate per second, of bytes or of seconds busy.
        ("rate(x_bytes_total[5m])", "Bps"),
        ("rate(process_cpu_seconds_total[5m])", "percentunit"),
        # A part of a metric over the whole.
        ('sum(x_bytes{a="b"}) / sum(x_bytes)', "percentunit"),
        ("count(up == 0) / count(up)", "percentunit"),
        # Counts of series, changes and samples.
        ("count(up)", "short"),
        ("count(up) > 3", "short"),
        ("changes(x[1h])", "short"),
        ("absent(x)", "short"),
        # Guesses: no unit in the name, a word of the name, or a function that
        # changes the unit while derive_unit keeps it.
        ("queue_depth", None),
        ("x_info", None),
        ("sum(rate(http_requests_total[5m]))", None),
        ("rate(x_total[5m])", None),
        ("rate(x_bytes_count[5m])", None),
        ("increase(x_bytes_total[1h])", None),
        ("deriv(x_bytes[5m])", None),
        ("timestamp(x_bytes)", None),
        ("stdvar(x_seconds)", None),
        ("max_over_time(rate(x_bytes_total[5m])[1h:])", None),
        ("x_bytes > bool 5", None),
        ("x_bytes - y_seconds", None),
        ("x_bytes * 2", None),
        ("time() - x_milliseconds", None),
        # A sum over a count of a metric without a unit is a mean, no fraction.
        ("sum(queue_depth) / count(queue_depth)", None),
        ("sum(up) / count(up)", None),
        ("sum(increase(a_total[1h])) / sum(rate(a_total[5m]))", None),
        ("node_filesystem_avail_bytes / node_filesystem_size_bytes", None),
        # A count scaled by a number is no count.
        ("count(up) * 100 / 4", None),
    ],
)
def test_certain_unit(query: str, unit: str | None) -> None:
    assert certain_unit(promql.parse(query)) == unit


def test_percentunit_ratio(project: Path) -> None:
    dashboard = _build_one(
        project,
        """service: payments
rows:
  - title: A
    panels:
      - title: Error ratio
        type: stat
        query: 'sum(rate(http_requests_total{job="payments",code=~"5.."}[5m])) / sum(rate(http_requests_total{job="payments"}[5m]))'
        thresholds: "<1% Green, 1-5% Yellow, >5% Red"
""",
    )
    defaults = dashboard["panels"][1]["fieldConfig"]["defaults"]
    assert defaults["unit"] == "percentunit"
    assert defaults["thresholds"] == {
        "mode": "absolute",
        "steps": [
            {"color": "green", "value": None},
            {"color": "yellow", "value": 0.01},
            {"color": "red", "value": 0.05},
        ],
    }


def _gauge_defaults(project: Path, fields: str) -> dict:
    """Build a DB pool gauge with the given manifest fields; return its field defaults."""
    dashboard = _build_one(
        project,
        f"""service: payments
rows:
  - title: A
    panels:
      - title: DB pool
        type: gauge
        query: 'sum(db_pool_in_use{{job="payments"}})'
{textwrap.indent(fields, " " * 8)}""",
    )
    return dashboard["panels"][1]["fieldConfig"]["defaults"]


@pytest.mark.parametrize(
    ("capacity", "thresholds", "expected_max"),
    [
        (20, "<80% pool Green", 20),
        (12.5, "<80% pool Green", 12.5),
        # A step above the capacity stays on the dial.
        (20, "<15 Green, 15-30 Yellow, >30 Red", 60),
    ],
)
def test_gauge_max_is_capacity(
    project: Path, capacity: float, thresholds: str, expected_max: float
) -> None:
    fields = f'capacity: {capacity}\nthresholds: "{thresholds}"\n'
    defaults = _gauge_defaults(project, fields)
    assert defaults["min"] == 0
    assert defaults["max"] == expected_max


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        # A written min above the capacity drops the derived max.
        ("min: 30", {"min": 30}),
        # A written max below the derived min of 0 drops that min.
        ("max: -5", {"max": -5}),
        ("min: 5", {"min": 5, "max": 20}),
    ],
    ids=["min-above-capacity", "max-below-zero", "min-below-capacity"],
)
def test_gauge_bounds_never_cross(
    project: Path, bounds: str, expected: dict[str, float]
) -> None:
    fields = f'capacity: 20\n{bounds}\nthresholds: "<80% pool Green, >=80% pool Red"\n'
    defaults = _gauge_defaults(project, fields)
    assert {key: defaults[key] for key in ("min", "max") if key in defaults} == expected


def test_per_series_overrides(project: Path) -> None:
    dashboard = _build_one(
        project,
        """service: payments
rows:
  - title: A
    panels:
      - title: Page load p95
        type: timeseries
        unit: s
        query: 'histogram_quantile(0.95, sum by (le, site) (rate(page_load_seconds_bucket[5m])))'
        legend: '{{site}}'
        thresholds: "AngelOne <2s, News <5s"
""",
    )
    field_config = dashboard["panels"][1]["fieldConfig"]
    assert field_config["overrides"] == [
        {
            "matcher": {"id": "byName", "options": "AngelOne"},
            "properties": [
                {
                    "id": "thresholds",
                    "value": {
                        "mode": "absolute",
                        "steps": [
                            {"color": "green", "value": None},
                            {"color": "red", "value": 2},
                        ],
                    },
                }
            ],
        },
        {
            "matcher": {"id": "byName", "options": "News"},
            "properties": [
                {
                    "id": "thresholds",
                    "value": {
                        "mode": "absolute",
                        "steps": [
                            {"color": "green", "value": None},
                            {"color": "red", "value": 5},
                        ],
                    },
                }
            ],
        },
    ]
    assert field_config["defaults"]["custom"]["thresholdsStyle"] == {"mode": "line"}


def test_percent_with_leading_factor(project: Path) -> None:
    """`100 * a / b` is a 0-100 percentage, like `a / b * 100`."""
    dashboard = _build_one(
        project,
        """service: payments
rows:
  - title: A
    panels:
      - title: Error ratio
        type: stat
        query: '100 * sum(rate(http_requests_total{job="payments",code=~"5.."}[5m])) / sum(rate(http_requests_total{job="payments"}[5m]))'
        thresholds: "<1% Green, 1-5% Yellow, >5% Red"
""",
    )
    defaults = dashboard["panels"][1]["fieldConfig"]["defaults"]
    assert defaults["unit"] == "percent"
    assert [s["value"] for s in defaults["thresholds"]["steps"]] == [None, 1, 5]


def test_rows_shared_by_stages_of_one_service(repo: Path) -> None:
    """The dashboard and the rule derivation of a service read one layout."""
    service = next(s for s in load_project(repo / "services").services if s.rows)
    rows = dashboard_rows(service)
    assert dashboard_rows(service) is rows
    # The cache compares services by identity, so an equal copy gets rows of its own.
    copy = attrs.evolve(service)
    assert copy is not service
    assert dashboard_rows(copy) is not rows
    assert dashboard_rows(copy) == rows


def test_panel_ids_number_as_layout(repo: Path, project: Path) -> None:
    """The checks across artifacts number panels without a layout, as the dashboard."""
    write_manifest(
        project,
        "payments.yaml",
        """service: payments
rows:
  - title: Traffic
    panels: [{title: RPS, query: up}, {title: Errors, query: up}]
  - title: Saturation
    collapsed: true
    panels: [{title: CPU, query: up}]
  - title: Empty
    panels: []
  - title: Last
    panels: [{title: Up, query: up}]
""",
    )
    services = [
        service
        for folder in (repo / "services", project / "services")
        for service in load_project(folder).services
        if service.rows
    ]
    assert any(row.collapsed for service in services for row in service.rows)
    for service in services:
        laid_out = [
            (view.id, view.panel)
            for row in dashboard_rows(service)
            for view in row.panels
        ]
        assert list(panel_ids(service)) == laid_out
