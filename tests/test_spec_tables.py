"""Each compiled dashboard matches the platform's panel tables, panel by panel."""

from __future__ import annotations

import pytest

from tests.spec_tables import (
    BACKGROUND_COLORED_PANELS,
    DASHBOARDS,
    SERIES_STEPS,
    STACKED_PANELS,
    VALUE_MAPPINGS,
)

CASES = [
    pytest.param(service, row_index, panel, id=f"{service}:{panel.title}")
    for service, dashboard in DASHBOARDS.items()
    for row_index, row in enumerate(dashboard.rows)
    for panel in row.panels
]

PANEL_COUNTS = {
    "auth_server": 13,
    "notification_server": 12,
    "portfolio_server": 28,
    "alphacopilot_server": 16,
}


def _rows(dashboard: dict) -> list[tuple[dict, list[dict]]]:
    """Return each row with its panels, for expanded and collapsed rows alike."""
    rows: list[tuple[dict, list[dict]]] = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            rows.append((panel, list(panel["panels"])))
        else:
            rows[-1][1].append(panel)
    return rows


def _find(
    dashboards: dict[str, dict], service: str, row_index: int, title: str
) -> dict:
    uid = DASHBOARDS[service].uid
    row, panels = _rows(dashboards[uid])[row_index]
    assert row["title"] == DASHBOARDS[service].rows[row_index].title
    matches = [p for p in panels if p["title"] == title]
    assert len(matches) == 1, (
        f"{title!r} not found exactly once in row {row['title']!r}"
    )
    return matches[0]


@pytest.mark.parametrize(("service", "count"), PANEL_COUNTS.items())
def test_panel_count(service: str, count: int, dashboards: dict[str, dict]) -> None:
    rows = _rows(dashboards[DASHBOARDS[service].uid])
    assert sum(len(panels) for _, panels in rows) == count
    assert [row["title"] for row, _ in rows] == [
        r.title for r in DASHBOARDS[service].rows
    ]


@pytest.mark.parametrize(("service", "row_index", "expected"), CASES)
def test_panel_matches_spec(service, row_index, expected, dashboards) -> None:
    panel = _find(dashboards, service, row_index, expected.title)
    uid = DASHBOARDS[service].uid
    key = (uid, expected.title)

    assert panel["type"] == expected.grafana_type
    assert [t["expr"] for t in panel["targets"]] == [expected.promql]
    defaults = panel["fieldConfig"]["defaults"]
    if panel["type"] != "heatmap":
        steps = [(s["color"], s["value"]) for s in defaults["thresholds"]["steps"]]
        assert steps == expected.expected_steps

    overrides = {
        o["matcher"]["options"]: [
            (s["color"], s["value"]) for s in o["properties"][0]["value"]["steps"]
        ]
        for o in panel["fieldConfig"]["overrides"]
        if o["properties"][0]["id"] == "thresholds"
    }
    assert overrides == SERIES_STEPS.get(key, {})

    mappings = {}
    special = []
    for mapping in defaults.get("mappings", []):
        if mapping["type"] == "special":
            special.append(mapping["options"])
            continue
        for value, result in mapping["options"].items():
            mappings[float(value)] = result["color"]
    assert mappings == VALUE_MAPPINGS.get(key, {})
    # No data and NaN raise no alert, so a red or yellow base step leaves them to
    # the text colour.
    if panel["type"] != "heatmap" and expected.expected_steps[0][0] in (
        "red",
        "yellow",
    ):
        assert special == [
            {"match": "null+nan", "result": {"color": "text", "index": len(mappings)}}
        ]
    else:
        assert special == []

    if panel["type"] == "timeseries":
        stacking = defaults["custom"]["stacking"]["mode"]
        assert stacking == ("normal" if key in STACKED_PANELS else "none")
    if panel["type"] == "stat":
        color_mode = panel["options"]["colorMode"]
        assert color_mode == (
            "background" if key in BACKGROUND_COLORED_PANELS else "value"
        )


@pytest.mark.parametrize(("service", "row_index", "expected"), CASES)
def test_panel_has_description(service, row_index, expected, dashboards) -> None:
    panel = _find(dashboards, service, row_index, expected.title)
    assert panel["description"]
