"""Layout invariants hold for any manifest: panels fit the grid, never overlap, ids unique."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from obscompile.load.manifest import build_service
from obscompile.load.validate import validate_manifest
from obscompile.load.yaml_source import parse_yaml
from obscompile.model.panel import PanelType
from obscompile.render.environment import make_environment
from obscompile.render.grafana import render_dashboard

ENV = make_environment(Path(__file__).resolve().parents[1] / "templates")

# YAML allows neither control characters nor lone surrogates in a document.
TITLE = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=8
)

panel_strategy = st.fixed_dictionaries(
    {"title": TITLE, "query": st.just("up")},
    optional={
        "type": st.sampled_from([t.value for t in PanelType]),
        "width": st.integers(1, 24),
        "height": st.integers(1, 12),
    },
)
row_strategy = st.fixed_dictionaries(
    {"title": TITLE, "panels": st.lists(panel_strategy, max_size=9)},
    optional={"collapsed": st.booleans()},
)
manifest_strategy = st.fixed_dictionaries(
    {"service": st.just("svc"), "rows": st.lists(row_strategy, min_size=1, max_size=6)}
)


def _render(manifest: dict) -> dict:
    source, problems = parse_yaml(json.dumps(manifest, ensure_ascii=False), "svc.yaml")
    assert source is not None and not problems
    assert validate_manifest(source).diagnostics == []
    service, problems = build_service(source)
    assert problems == []
    return json.loads(render_dashboard(ENV, service))


def _overlaps(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["w"] <= b["x"]
        or b["x"] + b["w"] <= a["x"]
        or a["y"] + a["h"] <= b["y"]
        or b["y"] + b["h"] <= a["y"]
    )


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(manifest_strategy)
def test_layout_invariants(manifest: dict) -> None:
    dashboard = _render(manifest)
    top = dashboard["panels"]

    ids = [p["id"] for p in top] + [c["id"] for p in top for c in p.get("panels", [])]
    assert len(ids) == len(set(ids))
    assert ids == sorted(ids) or sorted(ids) == list(range(1, len(ids) + 1))

    visible = [p["gridPos"] for p in top]
    for position in visible:
        assert position["x"] + position["w"] <= 24
        assert position["x"] >= 0
        assert position["y"] >= 0
    for i, a in enumerate(visible):
        for b in visible[i + 1 :]:
            assert not _overlaps(a, b)

    rows = [p for p in top if p["type"] == "row"]
    row_ys = [r["gridPos"]["y"] for r in rows]
    assert row_ys == sorted(set(row_ys))

    current_row_y = None
    for panel in top:
        if panel["type"] == "row":
            current_row_y = panel["gridPos"]["y"]
            children = panel["panels"]
            assert children == [] or panel["collapsed"]
            for child in children:
                assert child["gridPos"]["y"] > current_row_y
                assert child["gridPos"]["x"] + child["gridPos"]["w"] <= 24
            for i, a in enumerate(children):
                for b in children[i + 1 :]:
                    assert not _overlaps(a["gridPos"], b["gridPos"])
        else:
            assert current_row_y is not None
            assert panel["gridPos"]["y"] > current_row_y
