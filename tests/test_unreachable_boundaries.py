"""Alert boundaries that a query's constant scale factor never gives exactly.

No double r gives `r * 100 == 7`: the double nearest 0.07 gives 7.000000000000001
and the one below it 6.999999999999999. The generated tests then pin the boundary
with those two values, and promtool 2.42 runs them.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from obscompile.derive.floats import scale_preimage, scaled
from obscompile.pipeline import BuildResult, Project, build
from tests.conftest import write_manifest
from tests.test_prometheus import assert_promtool, write_files

HEADER = """\
service: shop
scrape: {job: shop, port: 8080, interval: 1m}
metrics:
  http_requests_total: {type: counter, labels: [code]}
  cache_hits_total: {type: counter}
  cache_lookups_total: {type: counter}
  disk_used_ratio: {type: gauge}
  jobs_total: {type: counter}
  request_seconds: {type: histogram, buckets: [0.1, 0.5, 1, 2.5, 5]}
rows:
  - title: Health
    panels:
"""
ERRORS = (
    'sum(rate(http_requests_total{job="shop",code=~"5.."}[5m])) '
    '/ sum(rate(http_requests_total{job="shop"}[5m])) * 100'
)
HITS = (
    'sum(rate(cache_hits_total{job="shop"}[5m])) '
    '/ sum(rate(cache_lookups_total{job="shop"}[5m])) * 100'
)
AVAILABILITY = (
    'sum(rate(http_requests_total{job="shop",code!~"5.."}[5m])) '
    '/ sum(rate(http_requests_total{job="shop"}[5m])) * 100'
)
DISK = 'max(disk_used_ratio{job="shop"}) * 100'
MEDIAN_MS = (
    "histogram_quantile(0.5, sum by (le) "
    '(rate(request_seconds_bucket{job="shop"}[5m]))) * 1000'
)


def _build(project: Path, query: str, unit: str, thresholds: str) -> BuildResult:
    panel = f"""\
    - title: Panel
      query: '{query}'
      unit: {unit}
      thresholds: "{thresholds}"
    """
    text = HEADER + textwrap.indent(textwrap.dedent(panel), "    ")
    write_manifest(project, "shop.yaml", text)
    result = build(Project.at(project))
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    return result


def _groups(result: BuildResult) -> list[dict]:
    return yaml.safe_load(result.files["prometheus/tests/shop.test.yml"])["tests"]


def _untested(result: BuildResult) -> list[str]:
    return [d.message for d in result.diagnostics if d.check == "rules/untested"]


def _run_promtool(project: Path, result: BuildResult) -> None:
    out = write_files(project / "out", result.files)
    assert_promtool("test", "rules", str(out / "prometheus/tests/shop.test.yml"))


def _query_value(group: dict, query: str) -> float:
    (check,) = [c for c in group["promql_expr_test"] if c["expr"] == query]
    (sample,) = check["exp_samples"]
    return sample["value"]


@pytest.mark.parametrize(
    ("boundary", "factor", "divide", "below", "above"),
    [
        (7.0, 100.0, False, 6.999999999999999, 7.000000000000001),
        (14.0, 100.0, False, 13.999999999999998, 14.000000000000002),
        (31.0, 60.0, False, 30.999999999999996, 31.000000000000004),
        (2010.0, 1000.0, False, 2009.9999999999998, 2010.0000000000002),
    ],
)
def test_scale_preimage_proves_unreachable(
    boundary: float, factor: float, divide: bool, below: float, above: float
) -> None:
    found = scale_preimage(boundary, factor, divide)
    assert found is not None
    assert not found.reachable
    assert scaled(found.below, factor, divide) == below
    assert scaled(found.above, factor, divide) == above


@pytest.mark.parametrize(
    ("boundary", "factor", "divide"),
    [(5.0, 100.0, False), (99.0, 100.0, False), (2000.0, 1000.0, False)],
)
def test_scale_preimage_finds_reachable(
    boundary: float, factor: float, divide: bool
) -> None:
    found = scale_preimage(boundary, factor, divide)
    assert found is not None
    assert found.reachable
    assert scaled(found.first, factor, divide) == boundary
    assert scaled(found.last, factor, divide) == boundary


def test_scale_preimage_rejects_negative_factor() -> None:
    assert scale_preimage(7.0, -100.0, False) is None


SEVEN_BELOW = (
    "ShopPanelCritical: 6.999999999999999% (yellow) stays silent, the nearest "
    "value below 7%, because the query's float arithmetic never gives exactly 7%"
)
SEVEN_ABOVE = (
    "ShopPanelCritical: 7.000000000000001% (red) fires, the nearest value above "
    "7%, because the query's float arithmetic never gives exactly 7%"
)


@pytest.mark.parametrize("red", [">7% Red", ">=7% Red"])
def test_error_rate_seven_percent_is_pinned(project: Path, red: str) -> None:
    result = _build(project, ERRORS, "percent", f"<1% Green, 1-7% Yellow, {red}")
    assert _untested(result) == []
    groups = {group["name"]: group for group in _groups(result)}
    assert _query_value(groups[SEVEN_BELOW], ERRORS) == 6.999999999999999
    assert _query_value(groups[SEVEN_ABOVE], ERRORS) == 7.000000000000001
    assert groups[SEVEN_BELOW]["alert_rule_test"][-1]["exp_alerts"] == []
    assert groups[SEVEN_ABOVE]["alert_rule_test"][-1]["exp_alerts"] != []
    _run_promtool(project, result)


@pytest.mark.parametrize(
    ("thresholds", "silent", "firing"),
    [
        ("<1% Green, 1-14% Yellow, >=14% Red", 13.999999999999998, 14.000000000000002),
        (">20% Green, 14-20% Yellow, <14% Red", 14.000000000000002, 13.999999999999998),
    ],
)
def test_hit_ratio_fourteen_percent_is_pinned(
    project: Path, thresholds: str, silent: float, firing: float
) -> None:
    result = _build(project, HITS, "percent", thresholds)
    assert _untested(result) == []
    pinned = {
        _query_value(group, HITS): group["alert_rule_test"][-1]["exp_alerts"]
        for group in _groups(result)
        if "the nearest value" in group["name"]
    }
    assert pinned.keys() == {silent, firing}
    assert pinned[silent] == []
    assert pinned[firing] != []
    _run_promtool(project, result)


def test_gauge_boundary_is_pinned(project: Path) -> None:
    """0.58 * 100 gives the value below 58, and the next double gives the one above."""
    result = _build(project, DISK, "percent", "<58% Green, >58% Red")
    assert _untested(result) == []
    names = [group["name"] for group in _groups(result)]
    assert any(
        name.startswith("ShopPanelCritical: 57.99999999999999% ") for name in names
    )
    assert any(
        name.startswith("ShopPanelCritical: 58.00000000000001% ") for name in names
    )
    _run_promtool(project, result)


def test_latency_milliseconds_boundary_is_pinned(project: Path) -> None:
    result = _build(
        project, MEDIAN_MS, "ms", "<500ms Green, 500-2010ms Yellow, >2010ms Red"
    )
    assert _untested(result) == []
    values = [
        _query_value(group, MEDIAN_MS)
        for group in _groups(result)
        if "never gives exactly 2.01s" in group["name"]
    ]
    assert values == [2009.9999999999998, 2010.0000000000002]
    _run_promtool(project, result)


def test_reachable_boundary_is_tested_exactly(project: Path) -> None:
    thresholds = ">99.9% Green, 99-99.9% Yellow, <99% Red"
    result = _build(project, AVAILABILITY, "percent", thresholds)
    assert _untested(result) == []
    names = [group["name"] for group in _groups(result)]
    assert "ShopPanelCritical: 99% (yellow) stays silent" in names
    assert not any("nearest value" in name for name in names)
    _run_promtool(project, result)


def test_rate_per_minute_nearest_values_pass(project: Path) -> None:
    """A rate times 60 never gives 31, so the values next to it take its place."""
    query = 'sum(rate(jobs_total{job="shop"}[5m])) * 60'
    result = _build(project, query, "short", "<31 Green, >31 Red")
    assert _untested(result) == []
    values = {
        _query_value(group, query)
        for group in _groups(result)
        if "nearest value" in group["name"]
    }
    assert values == {30.999999999999996, 31.000000000000004}
    _run_promtool(project, result)


def test_untested_alert_leaves_no_group(project: Path) -> None:
    """An alert with one value it cannot test gets no group; its rule gets its own."""
    result = _build(project, ERRORS, "percent", "<14% Green, >14% Red")
    (message,) = _untested(result)
    assert "13.999999999999998" in message
    names = [group["name"] for group in _groups(result)]
    assert names == [
        "job:http_requests_5xx_per_http_requests:ratio_rate5m equals its query"
    ]
    _run_promtool(project, result)
