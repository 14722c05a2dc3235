"""Generated tests for counter rates at any threshold, and for group_left matches.

Prometheus 2.42 multiplies the increase in a full 5m window by the double nearest
1/300, so a counter sampled at every evaluation never gives a rate of exactly 1000,
500 or 30 per second. Counters sampled between the evaluations give them, and so do
counters that restart once per window where no whole increment per sample gives the
value, as 0.7 per second at one sample a second needs. Each generated file must
pass promtool 2.42, and must fail once the alert's boundary moves.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from obscompile.derive.synthesis import InputSeries
from obscompile.pipeline import BuildResult
from tests.moved_boundaries import (
    assert_moved_boundaries_fail,
    assert_untested_with,
    build_stat_panel,
    untested,
)
from tests.test_prometheus import assert_promtool, write_files

HEADER = """\
service: shop
scrape: {job: shop, port: 9100, interval: 15s}
metrics:
  orders_total: {type: counter}
  requests_total: {type: counter, labels: [code]}
  node_cpu_seconds_total: {type: counter, labels: [cpu, mode]}
  shop_build_info: {type: gauge, labels: [version]}
rows:
  - title: Traffic
    panels:
"""
ORDERS = 'sum(rate(orders_total{job="shop"}[5m]))'
CPU = 'sum(rate(node_cpu_seconds_total{job="shop",mode!="idle"}[5m]))'
ORDERS_PER_HOUR = 'sum(increase(orders_total{job="shop"}[1h]))'
ORDERS_NOW = 'sum(irate(orders_total{job="shop"}[5m]))'
ORDERS_BY_VERSION = (
    'sum by (instance) (rate(orders_total{job="shop"}[5m])) '
    '* on (instance) group_left (version) shop_build_info{job="shop"}'
)
VERSION_OF_ORDERS = (
    'shop_build_info{job="shop"} * on (instance) group_right (version) '
    'sum by (instance) (rate(orders_total{job="shop"}[5m]))'
)
ERROR_SHARE = (
    'sum(rate(requests_total{job="shop",code=~"5.."}[5m])) '
    '/ sum(rate(requests_total{job="shop"}[5m]))'
)
# `or vector(0)` shows 0 in place of no data while no series has a 5xx code.
ERROR_SHARE_OR_ZERO = (
    '(sum(rate(requests_total{job="shop",code=~"5.."}[5m])) or vector(0)) '
    '/ sum(rate(requests_total{job="shop"}[5m]))'
)
ORDERS_OR_ZERO = 'sum(rate(orders_total{job="shop"}[5m])) or vector(0)'
# The share of requests that succeed, from the share that fail, between 0 and 100.
SUCCESS_SHARE = (
    '(1 - sum(rate(requests_total{job="shop",code=~"5.."}[5m])) '
    '/ sum(rate(requests_total{job="shop"}[5m]))) * 100'
)
ORDERS_PER_BUILD = (
    'sum by (instance) (rate(orders_total{job="shop"}[5m])) '
    '/ on (instance) group_left (version) shop_build_info{job="shop"}'
)

# Query, unit, thresholds, evaluation interval, the alert's comparison, and the test
# group at the boundary. Then comparisons with the boundary moved: past the boundary
# by the smallest step that matters, and past the value that a test group probes on
# the other side.
CASES = {
    "rate-1000": (
        ORDERS,
        "reqps",
        ">1000 Red",
        "1m",
        ">= 1000",
        "1000 (red) fires",
        ["> 1000", ">= 900"],
    ),
    "rate-500": (
        ORDERS,
        "reqps",
        ">500 Red",
        "1m",
        ">= 500",
        "500 (red) fires",
        ["> 500", ">= 400"],
    ),
    "rate-30": (
        ORDERS,
        "reqps",
        "<0.3 Green, 0.3-30 Yellow, >30 Red",
        "1m",
        ">= 30",
        "30 (red) fires",
        ["> 30", ">= 20"],
    ),
    "rate-below-0.3": (
        ORDERS,
        "reqps",
        "<0.3 Red, 0.3-30 Yellow, >30 Green",
        "1m",
        "< 0.3",
        "0.3 (yellow) stays silent",
        ["<= 0.3", "< 0.2"],
    ),
    "rate-1000-every-second": (
        ORDERS,
        "reqps",
        ">1000 Red",
        "1s",
        ">= 1000",
        "1000 (red) fires",
        ["> 1000", ">= 900"],
    ),
    "cpu-every-second": (
        CPU,
        "percentunit",
        "<0.7 Green, >=0.7 Red",
        "1s",
        ">= 0.7",
        "70% (red) fires",
        ["> 0.7", ">= 0.6"],
    ),
    "cpu": (
        CPU,
        "percentunit",
        "<0.7 Green, >=0.7 Red",
        "1m",
        ">= 0.7",
        "70% (red) fires",
        ["> 0.7", ">= 0.6"],
    ),
    "increase-7": (
        ORDERS_PER_HOUR,
        "short",
        ">7 Red",
        "1m",
        ">= 7",
        "7 (red) fires",
        ["> 7", ">= 6"],
    ),
    "irate-0.7": (
        ORDERS_NOW,
        "reqps",
        ">0.7 Red",
        "1m",
        ">= 0.7",
        "0.7 (red) fires",
        ["> 0.7", ">= 0.6"],
    ),
    "group-left": (
        ORDERS_BY_VERSION,
        "reqps",
        ">1000 Red",
        "1m",
        ">= 1000",
        "1000 (red) fires",
        ["> 1000", ">= 900"],
    ),
    "group-right": (
        VERSION_OF_ORDERS,
        "reqps",
        ">30 Red",
        "1m",
        ">= 30",
        "30 (red) fires",
        ["> 30", ">= 20"],
    ),
    # Inputs that give a share of 0.04 at the end of the short run give
    # 0.039999999999999994 at earlier evaluations, while the rate window fills. Only
    # inputs that give 0.04 for all of `for` fail a rule moved to `>= 0.04`.
    "error-share": (
        ERROR_SHARE,
        "percentunit",
        "<5% Green, >=5% Red",
        "1m",
        ">= 0.05",
        "5% (red) fires",
        ["> 0.05", ">= 0.04"],
    ),
    "error-share-or-zero": (
        ERROR_SHARE_OR_ZERO,
        "percentunit",
        "<5% Green, >=5% Red",
        "1m",
        ">= 0.05",
        "5% (red) fires",
        ["> 0.05", ">= 0.04"],
    ),
    "rate-or-zero": (
        ORDERS_OR_ZERO,
        "reqps",
        ">500 Red",
        "1m",
        ">= 500",
        "500 (red) fires",
        ["> 500", ">= 400"],
    ),
    "success-share": (
        SUCCESS_SHARE,
        "percent",
        ">95% Green, <95% Red",
        "1m",
        "< 95",
        "95% (green) stays silent",
        ["<= 95", "< 96"],
    ),
    "group-left-divided": (
        ORDERS_PER_BUILD,
        "reqps",
        ">0.3 Red",
        "1m",
        ">= 0.3",
        "0.3 (red) fires",
        ["> 0.3", ">= 0.2"],
    ),
}


def _build(
    project: Path, query: str, unit: str, thresholds: str, evaluation: str = "1m"
) -> BuildResult:
    return build_stat_panel(
        project, ("shop.yaml", HEADER), (query, unit, thresholds), "5m", evaluation
    )


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_rate_shape_gets_tests_that_pass(project: Path, case: tuple) -> None:
    query, unit, thresholds, evaluation, _, boundary, _ = case
    result = _build(project, query, unit, thresholds, evaluation)
    assert untested(result) == []
    test_file = yaml.safe_load(result.files["prometheus/tests/shop.test.yml"])
    names = [group["name"] for group in test_file["tests"]]
    assert f"ShopPanelCritical: {boundary}" in names
    assert any(name.endswith(" fires") for name in names)
    assert any(name.endswith(" stays silent") for name in names)
    out = write_files(project / "out", result.files)
    assert_promtool("test", "rules", str(out / "prometheus/tests/shop.test.yml"))


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_rate_moved_boundary_fails_promtool(project: Path, case: tuple) -> None:
    query, unit, thresholds, evaluation, comparison, _, moved_comparisons = case
    result = _build(project, query, unit, thresholds, evaluation)
    assert_moved_boundaries_fail(project, result, "shop", comparison, moved_comparisons)


def test_rate_1000_sampled_between_evaluations(project: Path) -> None:
    result = _build(project, ORDERS, "reqps", ">1000 Red")
    test_file = yaml.safe_load(result.files["prometheus/tests/shop.test.yml"])
    (group,) = [g for g in test_file["tests"] if "1000 (red) fires" in g["name"]]
    # A sample every minute, 30 seconds off the evaluations, so each 5m window
    # contains 4 minutes of samples and the engine extrapolates 30 seconds at each
    # end.
    assert group["interval"] == "30s"
    (series,) = group["input_series"]
    assert series["values"].startswith("_ 0 _ 60000 _ 120000 _ ")


def test_cpu_every_second_restarts_per_window(project: Path) -> None:
    result = _build(project, CPU, "percentunit", "<0.7 Green, >=0.7 Red", "1s")
    test_file = yaml.safe_load(result.files["prometheus/tests/shop.test.yml"])
    (group,) = [g for g in test_file["tests"] if "70% (red) fires" in g["name"]]
    (series,) = group["input_series"]
    values = series["values"].split()
    # 300 increments of about 0.7 per window, whose last value is the increase
    # that gives exactly 0.7 per second, and then the counter starts over.
    assert values[0] == values[300]
    assert float(values[299]) * (1 / 300) == 0.7
    assert float(values[0]) < float(values[1]) < float(values[299])


def test_unreachable_rate_reason_in_words(project: Path) -> None:
    # At an evaluation every 15 seconds, no sampling tried reaches this rate over 5m.
    bound = 1946.1129148228388
    result = _build(project, ORDERS, "reqps", f"<{bound} Green, >={bound} Red", "15s")
    (message,) = untested(result)
    assert message.endswith(
        '"ShopPanelCritical": no counter, sampled at every evaluation or between '
        f"them, gives a rate() of exactly {bound}. Write a promtool test in "
        "tests/promtool/, which `obscompile test` runs"
    )


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (
            'shop_build_info{job="shop"} / on (instance) group_right (version) '
            'sum by (instance) (rate(orders_total{job="shop"}[5m]))',
            "the query matches its sides with group_right",
        ),
        (
            'sum by (instance) (rate(orders_total{job="shop"}[5m])) '
            "* on (instance) group_left (version) "
            'quantile by (instance) (0.5, shop_build_info{job="shop"})',
            "the one side of the group_left match, `quantile by (instance) (0.5, "
            'shop_build_info{job="shop"})`, needs the value 1',
        ),
    ],
)
def test_group_match_reason_names_it(project: Path, query: str, reason: str) -> None:
    result = _build(project, query, "reqps", ">30 Red")
    assert_untested_with(result, reason)


def test_sparse_and_restarting_values_match_promtool(tmp_path: Path) -> None:
    sparse = InputSeries((("__name__", "sparse"),), 2.5, True, every=4, first=2)
    cycle = (0.1, 0.2, 0.30000000000000004)
    restarting = InputSeries((("__name__", "restarting"),), 0.0, True, cycle=cycle)
    assert sparse.values_text(10) == "_x2 0 _x3 2.5 _x3 5"
    assert restarting.values_text(4) == "0.1 0.2 0.30000000000000004 0.1 0.2"
    checks = []
    for series in (sparse, restarting):
        name = dict(series.labels)["__name__"]
        for minute, value in enumerate(series.values(10)):
            # A 30s window contains the sample of this minute only, if there is one.
            expr = f"last_over_time({name}[30s])"
            samples = [] if value is None else [{"labels": name, "value": value}]
            checks.append(
                {"expr": expr, "eval_time": f"{minute}m", "exp_samples": samples}
            )
    test = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": s.series_text(), "values": s.values_text(10)}
                    for s in (sparse, restarting)
                ],
                "promql_expr_test": checks,
            }
        ],
    }
    path = tmp_path / "values.test.yml"
    path.write_text(yaml.safe_dump(test), encoding="utf-8")
    assert_promtool("test", "rules", str(path))
