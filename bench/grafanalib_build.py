"""Build the benchmark workload's dashboards with grafanalib and write them as JSON.

This is the baseline of `bench/run.py`: the dashboards that `bench/workload.py`
generates as manifests, written instead as grafanalib objects in Python, the way a
grafanalib user writes them. It builds dashboards only: no rules, no tests, no checks.

    python bench/grafanalib_build.py DEST --services 1000 --panels 30
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grafanalib import core as g
from grafanalib._gen import DashboardEncoder

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import PanelSpec, ServiceSpec, service_spec  # noqa: E402

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GREEN, YELLOW, RED = "green", "yellow", "red"

# Grafana steps of each threshold text the workload uses, written out by hand as a
# grafanalib user writes them: (color, value), the first step without a value.
STEPS: dict[str | None, list[tuple[str, float | None]]] = {
    None: [(GREEN, None)],
    "Green": [(GREEN, None)],
    "<1% Green, 1-5% Yellow, >5% Red": [(GREEN, None), (YELLOW, 1), (RED, 5)],
    ">99% Green, 95-99% Yellow, <95% Red": [(RED, None), (YELLOW, 95), (GREEN, 99)],
    "<200ms Green, 200ms-500ms Yellow, >500ms Red": [
        (GREEN, None),
        (YELLOW, 0.2),
        (RED, 0.5),
    ],
    "<300ms Green, 300-800ms Yellow, >800ms Red": [
        (GREEN, None),
        (YELLOW, 0.3),
        (RED, 0.8),
    ],
    "<500ms Green, 500-1s Yellow, >1s Red": [(GREEN, None), (YELLOW, 0.5), (RED, 1)],
    "<10 Green, 10-20 Yellow, >20 Red": [(GREEN, None), (YELLOW, 10), (RED, 20)],
    "<10s Green, 10-60s Yellow, >60s Red": [(GREEN, None), (YELLOW, 10), (RED, 60)],
    "<120s Green, 120-300s Yellow, >300s Red": [
        (GREEN, None),
        (YELLOW, 120),
        (RED, 300),
    ],
    "<100 Green, 100-500 Yellow, >500 Red": [(GREEN, None), (YELLOW, 100), (RED, 500)],
    "<1000 Green, 1000-10000 Yellow, >10000 Red": [
        (GREEN, None),
        (YELLOW, 1000),
        (RED, 10000),
    ],
    "<500ms Green, 500ms-2s Yellow, >2s Red": [(GREEN, None), (YELLOW, 0.5), (RED, 2)],
    "<1s Green, 1-5s Yellow, >5s Red": [(GREEN, None), (YELLOW, 1), (RED, 5)],
    "0 Green, 1-5 Yellow, >5 Red": [(GREEN, None), (YELLOW, 1), (RED, 5)],
    "1=Green, 0=Red": [(RED, None), (GREEN, 1)],
    "<80% pool Green": [(GREEN, None), (RED, 16)],
    "primary <2s, replica <5s": [(GREEN, None)],
}

# Per-series bounds, written as overrides on the series' display name.
SERIES_BOUNDS = {"primary <2s, replica <5s": {"primary": 2, "replica": 5}}


def thresholds(text: str | None) -> list[g.Threshold]:
    return [
        g.Threshold(color, index, float(value) if value is not None else 0.0)
        for index, (color, value) in enumerate(STEPS[text])
    ]


def overrides(text: str | None) -> list[dict]:
    bounds = SERIES_BOUNDS.get(text or "", {})
    return [
        {
            "matcher": {"id": "byName", "options": series},
            "properties": [
                {
                    "id": "thresholds",
                    "value": {
                        "mode": "absolute",
                        "steps": [
                            {"color": GREEN, "value": None},
                            {"color": RED, "value": bound},
                        ],
                    },
                }
            ],
        }
        for series, bound in bounds.items()
    ]


def make_panel(spec: PanelSpec, grid: g.GridPos) -> g.Panel:
    target = g.Target(
        expr=spec.query, legendFormat="__auto", refId="A", datasource=DATASOURCE
    )
    common = {
        "title": spec.title,
        "description": spec.description,
        "dataSource": DATASOURCE,
        "targets": [target],
        "gridPos": grid,
    }
    if spec.type == "stat":
        mappings = []
        if spec.thresholds == "1=Green, 0=Red":
            mappings = [
                {"type": "value", "options": {"0": {"color": RED, "text": "0"}}},
                {"type": "value", "options": {"1": {"color": GREEN, "text": "1"}}},
            ]
        return g.Stat(
            colorMode=spec.color_mode or "value",
            thresholds=thresholds(spec.thresholds),
            mappings=mappings,
            **common,
        )
    if spec.type == "gauge":
        return g.GaugePanel(thresholds=thresholds(spec.thresholds), **common)
    if spec.type == "timeseries":
        return g.TimeSeries(
            stacking={"mode": "normal", "group": "A"} if spec.stack else {},
            thresholds=thresholds(spec.thresholds),
            overrides=overrides(spec.thresholds),
            **common,
        )
    if spec.type == "table":
        return g.Table(**common)
    if spec.type == "barchart":
        return g.BarChart(**common)
    if spec.type == "piechart":
        return g.PieChartv2(**common)
    if spec.type == "heatmap":
        return g.Heatmap(dataFormat="tsbuckets", **common)
    raise ValueError(f"unknown panel type {spec.type!r}")


def make_dashboard(service: ServiceSpec) -> g.Dashboard:
    """Lay out one service's rows on the 24-column grid, six panels of 4x8 per line."""
    panels: list[g.Panel] = []
    y = 0
    for row in service.rows:
        panels.append(
            g.RowPanel(title=row.title, gridPos=g.GridPos(h=1, w=24, x=0, y=y))
        )
        y += 1
        for index, spec in enumerate(row.panels):
            grid = g.GridPos(h=8, w=4, x=(index % 6) * 4, y=y + (index // 6) * 8)
            panels.append(make_panel(spec, grid))
        y += ((len(row.panels) + 5) // 6) * 8
    datasource = g.Template(
        name="datasource", query="prometheus", type="datasource", label="Data source"
    )
    return g.Dashboard(
        title=service.name,
        uid=service.uid,
        description=f"Synthetic benchmark service {service.name}",
        tags=["benchmark", service.name, service.runtime],
        timezone="browser",
        refresh="1m",
        templating=g.Templating(list=[datasource]),
        panels=panels,
    ).auto_panel_ids()


def write_dashboards(dest: Path, services: int, panels: int) -> int:
    """Write one `<uid>.json` per service into `dest`; return how many."""
    dest.mkdir(parents=True, exist_ok=True)
    for index in range(1, services + 1):
        dashboard = make_dashboard(service_spec(index, panels))
        text = json.dumps(
            dashboard.to_json_data(), sort_keys=True, indent=2, cls=DashboardEncoder
        )
        (dest / f"{dashboard.uid}.json").write_text(text + "\n", encoding="utf-8")
    return services


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path, help="folder to write the dashboards into")
    parser.add_argument("--services", type=int, default=10, help="number of services")
    parser.add_argument("--panels", type=int, default=30, help="panels per service")
    args = parser.parse_args()
    write_dashboards(args.dest, args.services, args.panels)


if __name__ == "__main__":
    main()
