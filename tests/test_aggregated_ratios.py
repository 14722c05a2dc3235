"""Generated tests for ratios whose sides aggregate with `max`, `min` or `avg`.

In `agg(rate(x{code="500"}[5m])) / agg(rate(x[5m]))` the numerator reads a part of
the denominator's series. Under `sum` and `max` such a ratio of counter rates is at
most 1, under `min` at least 1, and under `avg` the part may average several times
more than the whole. The input series must give each aggregation its own value,
the probes must stay within what the query can give, and a rule without a test
must state the true reason. Each generated file must pass promtool 2.42, and must
fail once the alert's boundary moves.

Under `min`, one series of the whole without traffic makes the whole 0, so the ratio
is +Inf or 0/0. A `min` over a ratio, such as the lowest error share of any route,
leaves out a series that is 0/0. The generated tests must cover both and fail a rule
that records otherwise.

A `sum` or `avg` over a ratio gives NaN for a group with one series that is 0/0, and
the panel then colours no threshold. A rule whose guard drops that series would give
the other series' value there, so such a rule keeps the panel's division, and the
generated tests must fail the guarded form. A `max` over a ratio leaves out a series
that is 0/0, as a `min` does, and so does a `sum` or `avg` over a ratio whose
denominator the query guards itself.

`count`, `stddev`, `stdvar`, `quantile`, `topk` and `bottomk` over a ratio get
generated tests too, which promtool 2.42 passes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from obscompile import promql
from obscompile.derive import testfile
from obscompile.derive.evaluate import (
    Evaluator,
    OrderDependent,
    Storage,
    _mean,
    make_labels,
)
from obscompile.derive.expressions import render
from obscompile.derive.promtests import _Generator
from obscompile.derive.recording import plan_query
from obscompile.derive.simulate import simulate
from obscompile.derive.synthesis import InputSeries
from obscompile.pipeline import BuildResult, Project, build
from obscompile.render import prometheus as prometheus_render
from tests.conftest import write_manifest
from tests.moved_boundaries import (
    alert_expr,
    assert_moved_boundaries_fail,
    build_stat_panel,
    build_stat_panels,
    untested,
)
from tests.test_prometheus import assert_promtool, run_promtool, write_files

HEADER = """\
service: api
runtime: python
scrape: {job: api, port: 8080, interval: 15s}
metrics:
  http_requests: {type: counter, help: HTTP requests, labels: [code, route]}
  pool_connections: {type: gauge, help: Connections, labels: [state]}
rows:
  - title: Ratios
    panels:
"""
TESTS = "prometheus/tests/api.test.yml"
RULES = "prometheus/rules/api.rules.yml"


def _ratio(aggregation: str, part: str = 'code="500"') -> str:
    return (
        f'{aggregation}(rate(http_requests_total{{job="api",{part}}}[5m])) '
        f'/ {aggregation}(rate(http_requests_total{{job="api"}}[5m]))'
    )


def _gauge_ratio(aggregation: str) -> str:
    return (
        f'{aggregation}(pool_connections{{job="api",state="busy"}}) '
        f'/ {aggregation}(pool_connections{{job="api"}})'
    )


WHOLE_PER_PART_MAX = (
    'max(rate(http_requests_total{job="api"}[5m])) '
    '/ max(rate(http_requests_total{job="api",code="500"}[5m]))'
)
BUSIEST_ROUTE = (
    'max(sum by (route) (rate(http_requests_total{job="api",code="500"}[5m]))) '
    '/ max(sum by (route) (rate(http_requests_total{job="api"}[5m])))'
)
ERRORS_PER_BUSIEST = (
    'sum(rate(http_requests_total{job="api",code="500"}[5m])) '
    '/ max(rate(http_requests_total{job="api"}[5m]))'
)

# Query, thresholds, the alert's comparison and the names of the generated test
# groups after the alert's name. Then comparisons with the boundary moved: past it by
# the smallest step that matters, and past the value that a group probes on the
# other side.
CASES = {
    "max": (
        _ratio("max"),
        "<0.5 Green, >=0.5 Red",
        ">= 0.5",
        ["0.4 (green) stays silent", "0.5 (red) fires", "0.6 (red) fires"],
        ["> 0.5", ">= 0.4"],
    ),
    "min": (
        _ratio("min"),
        "<2 Green, >=2 Red",
        ">= 2",
        ["1 (green) stays silent", "2 (red) fires", "3 (red) fires"],
        ["> 2", ">= 1"],
    ),
    "avg-below-1": (
        _ratio("avg"),
        "<0.5 Green, >=0.5 Red",
        ">= 0.5",
        ["0.4 (green) stays silent", "0.5 (red) fires", "0.6 (red) fires"],
        ["> 0.5", ">= 0.4"],
    ),
    "avg-above-1": (
        _ratio("avg"),
        "<2 Green, >=2 Red",
        ">= 2",
        ["1 (green) stays silent", "2 (red) fires", "3 (red) fires"],
        ["> 2", ">= 1"],
    ),
    # 8 needs eight series in the average of the whole, one of them the part.
    "avg-eight-series": (
        _ratio("avg"),
        "<7 Green, >=7 Red",
        ">= 7",
        ["6 (green) stays silent", "7 (red) fires", "8 (red) fires"],
        ["> 7", ">= 6"],
    ),
    "avg-below": (
        _ratio("avg"),
        "<0.3 Red, >=0.3 Green",
        "< 0.3",
        ["0.2 (red) fires", "0.3 (green) stays silent", "0.4 (green) stays silent"],
        ["<= 0.3", "< 0.2"],
    ),
    "whole-per-part-max": (
        WHOLE_PER_PART_MAX,
        "<3 Green, >=3 Red",
        ">= 3",
        ["2 (green) stays silent", "3 (red) fires", "4 (red) fires"],
        ["> 3", ">= 2"],
    ),
    "max-of-sums": (
        BUSIEST_ROUTE,
        "<0.5 Green, >=0.5 Red",
        ">= 0.5",
        ["0.4 (green) stays silent", "0.5 (red) fires", "0.6 (red) fires"],
        ["> 0.5", ">= 0.4"],
    ),
    "sum-over-max": (
        ERRORS_PER_BUSIEST,
        "<0.5 Green, >=0.5 Red",
        ">= 0.5",
        ["0.4 (green) stays silent", "0.5 (red) fires", "0.6 (red) fires"],
        ["> 0.5", ">= 0.4"],
    ),
    # The band that the warning of an always-firing ">=1 Red" suggests.
    "min-above-1": (
        _ratio("min"),
        "1 Green, >1 Red",
        "> 1",
        ["1 (green) stays silent", "1.1 (red) fires"],
        [">= 1", "> 1.1"],
    ),
    "gauge-max": (
        _gauge_ratio("max"),
        "<0.5 Green, >=0.5 Red",
        ">= 0.5",
        ["0.4 (green) stays silent", "0.5 (red) fires", "0.6 (red) fires"],
        ["> 0.5", ">= 0.4"],
    ),
    "gauge-min": (
        _gauge_ratio("min"),
        "<2 Green, >=2 Red",
        ">= 2",
        ["1 (green) stays silent", "2 (red) fires", "3 (red) fires"],
        ["> 2", ">= 1"],
    ),
    "gauge-avg": (
        _gauge_ratio("avg"),
        "<3 Green, >=3 Red",
        ">= 3",
        ["2 (green) stays silent", "3 (red) fires", "4 (red) fires"],
        ["> 3", ">= 2"],
    ),
}


def _build(project: Path, query: str, thresholds: str) -> BuildResult:
    return build_stat_panel(project, ("api.yaml", HEADER), (query, "short", thresholds))


def _group_names(result: BuildResult) -> list[str]:
    return [group["name"] for group in yaml.safe_load(result.files[TESTS])["tests"]]


def _assert_tested(project: Path, result: BuildResult, groups: list[str]) -> None:
    """Assert that every rule has tests, with the named groups, and promtool passes."""
    assert untested(result) == []
    names = _group_names(result)
    for group in groups:
        assert f"ApiPanelCritical: {group}" in names
    out = write_files(project / "out", result.files)
    assert_promtool("test", "rules", str(out / TESTS))


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_aggregated_ratio_tests_pass(project: Path, case: tuple) -> None:
    query, thresholds, _, groups, _ = case
    _assert_tested(project, _build(project, query, thresholds), groups)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_aggregated_ratio_moved_boundary_fails(project: Path, case: tuple) -> None:
    query, thresholds, comparison, _, moved_comparisons = case
    result = _build(project, query, thresholds)
    assert_moved_boundaries_fail(project, result, "api", comparison, moved_comparisons)


def _build_panels(project: Path, panels: dict[str, tuple[str, str]]) -> BuildResult:
    """Build the api service with one stat panel per title: (query, thresholds)."""
    return build_stat_panels(
        project,
        ("api.yaml", HEADER),
        tuple(
            (title, query, "short", thresholds)
            for title, (query, thresholds) in panels.items()
        ),
    )


def _untested_reasons(result: BuildResult) -> dict[str, str]:
    """Return the message of each `rules/untested` warning by the rule it names."""
    reasons = {}
    for message in untested(result):
        rule = message.split('"')[1]
        reasons[rule] = message
    return reasons


def test_unreachable_ratios_name_their_aggregation(project: Path) -> None:
    """A ratio that the aggregation never gives has no test, and says why."""
    result = _build_panels(
        project,
        {
            "Max skew": (_ratio("max"), "<2 Green, >=2 Red"),
            "Min low": (_ratio("min"), "<0.5 Green, >=0.5 Red"),
            "Avg skew": (_ratio("avg"), "<20 Green, >=20 Red"),
        },
    )
    reasons = _untested_reasons(result)
    assert sorted(reasons) == [
        "ApiAvgSkewCritical",
        "ApiMaxSkewCritical",
        "ApiMinLowCritical",
    ]
    assert (
        "the maximum of a part of the counter rates cannot exceed the maximum of "
        "all of them" in reasons["ApiMaxSkewCritical"]
    )
    assert (
        "the minimum of a part of the counter rates cannot be below the minimum of "
        "all of them" in reasons["ApiMinLowCritical"]
    )
    assert (
        "the average of a part of the counter rates is 20 times the average of all "
        "of them only where they are at least 20 series, and the test generator "
        "builds at most 10 here" in reasons["ApiAvgSkewCritical"]
    )
    for message in reasons.values():
        assert "a part of the traffic cannot exceed the whole" not in message
        assert "Write a promtool test in tests/promtool/" in message


def test_aggregated_ratios_of_one_service_pass(project: Path) -> None:
    """Panels on either side of 1 get tests that promtool passes, except those above."""
    result = _build_panels(
        project,
        {
            "Max low": (_ratio("max"), "<0.5 Green, >=0.5 Red"),
            "Max skew": (_ratio("max"), "<2 Green, >=2 Red"),
            "Min low": (_ratio("min"), "<0.5 Green, >=0.5 Red"),
            "Min skew": (_ratio("min"), "<2 Green, >=2 Red"),
            "Avg low": (_ratio("avg"), "<0.5 Green, >=0.5 Red"),
            "Avg skew": (_ratio("avg"), "<2 Green, >=2 Red"),
        },
    )
    assert sorted(_untested_reasons(result)) == [
        "ApiMaxSkewCritical",
        "ApiMinLowCritical",
    ]
    names = _group_names(result)
    for alert, values in {
        "ApiMaxLowCritical": ("0.4", "0.5", "0.6"),
        "ApiMinSkewCritical": ("1", "2", "3"),
        "ApiAvgLowCritical": ("0.4", "0.5", "0.6"),
        "ApiAvgSkewCritical": ("1", "2", "3"),
    }.items():
        found = [name for name in names if name.startswith(f"{alert}: ")]
        below, bound, above = values
        assert f"{alert}: {below} (green) stays silent" in found
        assert f"{alert}: {bound} (red) fires" in found
        assert f"{alert}: {above} (red) fires" in found
        assert f"{alert}: no traffic stays silent" in found
    out = write_files(project / "out", result.files)
    assert_promtool("test", "rules", str(out / TESTS))


def test_min_ratio_recording_rule_is_tested(project: Path) -> None:
    """The rule's test gives the two minimums different values: 4, as 0.25 < 1."""
    text = HEADER + (
        "      - title: Min ratio\n"
        "        type: timeseries\n"
        f"        query: '{_ratio('min')}'\n"
        "        record: true\n"
    )
    write_manifest(project, "api.yaml", text)
    result = build(Project.at(project))
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    assert untested(result) == []
    test_file = yaml.safe_load(result.files[TESTS])
    (group,) = test_file["tests"]
    assert group["name"].endswith(" equals its query")
    (recorded, _) = group["promql_expr_test"]
    assert [sample["value"] for sample in recorded["exp_samples"]] == [4.0]
    out = write_files(project / "out", result.files)
    assert_promtool("test", "rules", str(out / TESTS))


def _groups(result: BuildResult) -> dict[str, dict]:
    tests = yaml.safe_load(result.files[TESTS])["tests"]
    return {group["name"]: group for group in tests}


def _with_recording_expr(result: BuildResult, expr: str) -> dict[str, str]:
    """Return the build's files with `expr` in place of its one recording rule's."""
    rules = yaml.safe_load(result.files[RULES])
    (recording,) = [g for g in rules["groups"] if g["name"] == "api.recording"]
    (rule,) = recording["rules"]
    assert rule["expr"] != expr
    rule["expr"] = expr
    files = dict(result.files)
    files[RULES] = yaml.safe_dump(rules, sort_keys=False)
    return files


def _failed_promtool(project: Path, files: dict[str, str]) -> str:
    """Return promtool's output for the generated tests, which must fail."""
    out = write_files(project / "out", files)
    checked = run_promtool("test", "rules", str(out / TESTS))
    output = checked.stdout + checked.stderr
    assert checked.returncode == 1, output
    return output


def test_min_ratio_covers_idle_series(project: Path) -> None:
    """The minimum of the whole is 0 where one of its series has no traffic.

    With traffic in the part, the ratio is then +Inf. Without traffic in the part
    either, it is 0/0, which the panel shows as NaN and the rule records as nothing.
    """
    result = _build_panels(
        project,
        {
            "Skew high": (_ratio("min"), "<2 Green, >=2 Red"),
            "Skew low": (_ratio("min"), "<2 Red, >=2 Green"),
        },
    )
    assert untested(result) == []
    groups = _groups(result)
    assert (
        "ApiSkewHighCritical: no traffic outside the numerator, +Inf (red) fires"
        in groups
    )
    assert (
        "ApiSkewLowCritical: no traffic outside the numerator, +Inf (green) stays silent"
        in groups
    )
    for alert in ("ApiSkewHighCritical", "ApiSkewLowCritical"):
        silent = groups[f"{alert}: no traffic in the numerator stays silent"]
        values = {s["series"]: s["values"] for s in silent["input_series"]}
        part = [v for name, v in values.items() if 'code="500"' in name]
        rest = [v for name, v in values.items() if 'code="500"' not in name]
        assert len(part) == 1
        assert part[0].startswith("0+0x")
        assert rest
        assert not any(v.startswith("0+0x") for v in rest)
        record, nan_check = silent["promql_expr_test"]
        assert record["exp_samples"] == []
        assert nan_check["expr"].startswith("count((min(")
        assert nan_check["exp_samples"] == [{"labels": "{}", "value": 1.0}]
    out = write_files(project / "out", result.files)
    assert_promtool("test", "rules", str(out / TESTS))


def test_min_ratio_rejects_plain_guard(project: Path) -> None:
    """A rule that records nothing where the minimum of the whole is 0 fails."""
    result = _build(project, _ratio("min"), "<2 Green, >=2 Red")
    guarded = (
        'min by (job) (rate(http_requests_total{job="api",code="500"}[5m])) '
        '/ (min by (job) (rate(http_requests_total{job="api"}[5m])) > 0)'
    )
    output = _failed_promtool(project, _with_recording_expr(result, guarded))
    assert "no traffic outside the numerator, +Inf (red) fires" in output


LOWEST_ROUTE_SHARE = (
    'min(sum by (route) (rate(http_requests_total{job="api",code="500"}[5m])) '
    '/ sum by (route) (rate(http_requests_total{job="api"}[5m])))'
)
ROUTES_HEADER = HEADER.replace(
    "  pool_connections:",
    "  errors: {type: counter, help: Errors, labels: [route]}\n"
    "  requests: {type: counter, help: Requests, labels: [route]}\n"
    "  pool_connections:",
)
ERRORS_PER_REQUEST = (
    'min by (route) (rate(errors_total{job="api"}[5m]) '
    '/ rate(requests_total{job="api"}[5m]))'
)


def test_min_over_ratio_ignores_idle_series(project: Path) -> None:
    """Prometheus's min leaves out a series that is 0/0, so the others decide."""
    result = build_stat_panels(
        project,
        ("api.yaml", ROUTES_HEADER),
        (
            ("Lowest share", LOWEST_ROUTE_SHARE, "short", "<0.3 Red, >=0.3 Green"),
            ("Error share", ERRORS_PER_REQUEST, "short", "<0.5 Green, >=0.5 Red"),
        ),
    )
    assert untested(result) == []
    groups = _groups(result)
    for name, copied in {
        "ApiLowestShareCritical: another series without traffic, 0.2 (red) fires": (
            'route="route-2"'
        ),
        "ApiErrorShareCritical: another series without traffic, 0.5 (red) fires": (
            'instance="instance-2"'
        ),
    }.items():
        series = groups[name]["input_series"]
        idle = [s for s in series if copied in s["series"]]
        assert len(idle) == 2
        assert all(s["values"].startswith("0+0x") for s in idle)
        assert len(series) == 4
    for name in [
        "ApiLowestShareCritical: no traffic stays silent",
        "ApiErrorShareCritical: no traffic stays silent",
        "ApiErrorShareCritical: no traffic in the denominator, +Inf (red) fires",
    ]:
        assert name in groups
    out = write_files(project / "out", result.files)
    assert_promtool("test", "rules", str(out / TESTS))


def test_min_over_ratio_rejects_zero_fill(project: Path) -> None:
    """A rule that counts a route without traffic as a share of 0 fails."""
    result = _build(project, LOWEST_ROUTE_SHARE, "<0.3 Red, >=0.3 Green")
    part = 'sum by (job, route) (rate(http_requests_total{job="api",code="500"}[5m]))'
    whole = 'sum by (job, route) (rate(http_requests_total{job="api"}[5m]))'
    zero_filled = f"min by (job) ({part} / ({whole} > 0) or {whole} * 0)"
    output = _failed_promtool(project, _with_recording_expr(result, zero_filled))
    assert "another series without traffic, 0.2 (red) fires" in output


ERRORS_PER_REQUEST_RATIO = (
    'rate(errors_total{job="api"}[5m]) / rate(requests_total{job="api"}[5m])'
)
# Aggregations over a ratio that give NaN for a group with a series that is 0/0, and
# the guarded rule that gives the other series' value there instead.
NAN_AGGREGATIONS = {
    "avg-by": ("avg by (route)", "avg by (job, route)"),
    "sum-by": ("sum by (route)", "sum by (job, route)"),
    "sum-without": ("sum without (instance)", "sum without (instance)"),
    "sum": ("sum", "sum by (job)"),
}
GUARDED_RATIO = (
    'rate(errors_total{job="api"}[5m]) / (rate(requests_total{job="api"}[5m]) > 0) '
    'or (rate(errors_total{job="api"}[5m]) != 0) / rate(requests_total{job="api"}[5m])'
)


def _build_over_ratio(project: Path, aggregation: str) -> BuildResult:
    query = f"{aggregation} ({ERRORS_PER_REQUEST_RATIO})"
    return build_stat_panel(
        project, ("api.yaml", ROUTES_HEADER), (query, "short", "<0.5 Green, >=0.5 Red")
    )


@pytest.mark.parametrize(
    "aggregation", NAN_AGGREGATIONS.values(), ids=NAN_AGGREGATIONS.keys()
)
def test_sum_or_avg_over_ratio_covers_idle_series(
    project: Path, aggregation: tuple[str, str]
) -> None:
    """A series without traffic makes the group NaN, so the alert stays silent."""
    written, job_grouped = aggregation
    result = _build_over_ratio(project, written)
    assert untested(result) == []
    record = alert_expr(result, "api").split("{")[0]
    rules = yaml.safe_load(result.files[RULES])
    (recording,) = [g for g in rules["groups"] if g["name"] == "api.recording"]
    (rule,) = recording["rules"]
    assert rule["expr"] == f"{job_grouped} ({ERRORS_PER_REQUEST_RATIO})"
    groups = _groups(result)
    silent = groups["ApiPanelCritical: another series without traffic stays silent"]
    series = silent["input_series"]
    idle = [s for s in series if 'instance="instance-2"' in s["series"]]
    assert len(idle) == 2
    assert all(s["values"].startswith("0+0x") for s in idle)
    assert len(series) == 4
    assert silent["alert_rule_test"][-1]["exp_alerts"] == []
    recorded, query = silent["promql_expr_test"]
    assert recorded["expr"] == f"{record} != bool {record}"
    assert [sample["value"] for sample in recorded["exp_samples"]] == [1.0]
    assert query["expr"].startswith("count((")
    assert query["exp_samples"] == [{"labels": "{}", "value": 1.0}]
    assert "ApiPanelCritical: no traffic stays silent" in groups
    assert "ApiPanelCritical: 0.5 (red) fires" in groups
    out = write_files(project / "out", result.files)
    assert_promtool("test", "rules", str(out / TESTS))


@pytest.mark.parametrize(
    "aggregation", NAN_AGGREGATIONS.values(), ids=NAN_AGGREGATIONS.keys()
)
def test_sum_or_avg_over_ratio_rejects_guard(
    project: Path, aggregation: tuple[str, str]
) -> None:
    """A rule that drops the series without traffic fires where the panel is NaN."""
    written, job_grouped = aggregation
    result = _build_over_ratio(project, written)
    guarded = f"{job_grouped} ({GUARDED_RATIO})"
    output = _failed_promtool(project, _with_recording_expr(result, guarded))
    assert "another series without traffic stays silent" in output
    # Without any traffic, the guarded rule records nothing where NaN is expected.
    assert "got: nil" in output


# Route a has one instance with errors in 90% of its requests and one without
# traffic, route b two instances with traffic, and route c one without traffic.
IDLE_INSTANCE_SERIES = {
    'errors_total{job="api",route="a",instance="i1"}': "0+216x20",
    'requests_total{job="api",route="a",instance="i1"}': "0+240x20",
    'errors_total{job="api",route="a",instance="i2"}': "0+0x20",
    'requests_total{job="api",route="a",instance="i2"}': "0+0x20",
    'errors_total{job="api",route="b",instance="i1"}': "0+120x20",
    'requests_total{job="api",route="b",instance="i1"}': "0+240x20",
    'errors_total{job="api",route="b",instance="i2"}': "0+60x20",
    'requests_total{job="api",route="b",instance="i2"}': "0+240x20",
    'errors_total{job="api",route="c",instance="i1"}': "0+0x20",
    'requests_total{job="api",route="c",instance="i1"}': "0+0x20",
}
# Queries over a ratio, RATIO in the text, and whether the rule keeps the guard. The
# guarded rule gives no sample where the query gives NaN, which is the same result
# only where every operation above the ratio treats NaN as a missing sample.
OVER_RATIO = {
    "avg": ("avg by (route) (RATIO)", False),
    "sum-by": ("sum by (route) (RATIO)", False),
    "sum-without": ("sum without (instance) (RATIO)", False),
    "count": ("count by (route) (RATIO)", False),
    "group": ("group by (route) (RATIO)", False),
    "stddev": ("stddev by (route) (RATIO)", False),
    "stdvar": ("stdvar by (route) (RATIO)", False),
    "quantile": ("quantile by (route) (0.5, RATIO)", False),
    "topk": ("topk by (route) (2, RATIO)", False),
    "bottomk": ("bottomk by (route) (2, RATIO)", False),
    "count-values": ('count_values by (route) ("share", RATIO)', False),
    "max-of-sums": ("max(sum by (route) (RATIO))", False),
    "over-time": ("avg_over_time((RATIO)[3m:1m])", False),
    "or": ("RATIO or on (route, instance) rate(requests_total[5m])", False),
    "bool": ("RATIO > bool 0.3", False),
    "min": ("min by (route) (RATIO)", True),
    "max": ("max by (route) (RATIO)", True),
    "scaled": ("abs(RATIO) * 100", True),
    "rounded": ("round(clamp_min(sgn(RATIO) * RATIO, 0.1), 0.5)", True),
    "relabelled": ('label_replace(RATIO, "path", "$1", "route", "(.*)")', True),
    "filter": ("RATIO > 0.3", True),
}


@pytest.mark.parametrize("case", OVER_RATIO.values(), ids=OVER_RATIO.keys())
def test_rule_over_ratio_agrees_with_query(tmp_path: Path, case: tuple) -> None:
    """promtool gives the rule the query's values, and NaN where the query has NaN.

    Only a rule that keeps the guard may give no sample where the query is NaN.
    """
    shape, keeps_guard = case
    query = promql.parse(shape.replace("RATIO", ERRORS_PER_REQUEST_RATIO))
    raw = render(query)
    rule = render(query, guard=True)
    assert ("> 0)" in rule) == keeps_guard
    both_nan = f"((({rule}) != ({rule})) and (({raw}) != ({raw})))"
    unequal = f"((({rule}) != ({raw})) unless {both_nan})"
    extra = f"(({rule}) unless ({raw}))"
    missing = f"((({raw}) == ({raw})) unless ({rule}))"
    if not keeps_guard:
        missing = f"(({raw}) unless ({rule}))"
    check = {
        "expr": f"{unequal} or {extra} or {missing}",
        "eval_time": "10m",
        "exp_samples": [],
    }
    suite = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": series, "values": values}
                    for series, values in IDLE_INSTANCE_SERIES.items()
                ],
                "promql_expr_test": [check],
            }
        ],
    }
    path = tmp_path / "over_ratio.test.yml"
    path.write_text(yaml.safe_dump(suite), encoding="utf-8")
    assert_promtool("test", "rules", str(path))


GUARDED_ERRORS_PER_REQUEST = (
    'rate(errors_total{job="api"}[5m]) / (rate(requests_total{job="api"}[5m]) > 0)'
)
# Stat panels over a ratio, with RATIO or GUARDED in the query. Each has thresholds,
# the alert's comparison and the names of the generated test groups after the
# alert's name. Then come comparisons with the boundary moved past it, or past the
# value probed on its other side.
GENERATED_OVER_RATIO = {
    "count": (
        "count by (route) (RATIO)",
        "<3 Green, >=3 Red",
        ">= 3",
        ["2 (green) stays silent", "3 (red) fires", "4 (red) fires"],
        ["> 3", ">= 2"],
    ),
    "stddev": (
        "stddev by (route) (RATIO)",
        "<0.5 Green, >=0.5 Red",
        ">= 0.5",
        ["0.4 (green) stays silent", "0.5 (red) fires", "0.6 (red) fires"],
        ["> 0.5", ">= 0.4"],
    ),
    # Series at 3, 0 and 0 give a variance of exactly 2, and no such series give 3.
    "stdvar": (
        "stdvar(RATIO)",
        "<2 Green, >=2 Red",
        ">= 2",
        ["1 (green) stays silent", "2 (red) fires", "3 (red) fires"],
        ["> 2", ">= 1"],
    ),
    # Series give a variance of exactly 0.5, and only values close to 0.4 and 0.6.
    "stdvar-near": (
        "stdvar by (route) (RATIO)",
        "<0.5 Green, >=0.5 Red",
        ">= 0.5",
        ["0.4 (green) stays silent", "0.5 (red) fires", "0.6 (red) fires"],
        ["> 0.5"],
    ),
    "quantile": (
        "quantile by (route) (0.5, RATIO)",
        "<0.5 Green, >=0.5 Red",
        ">= 0.5",
        ["0.4 (green) stays silent", "0.5 (red) fires", "0.6 (red) fires"],
        ["> 0.5", ">= 0.4"],
    ),
    "topk": (
        "topk by (route) (2, RATIO)",
        "<0.3 Red, >=0.3 Green",
        "< 0.3",
        ["0.2 (red) fires", "0.3 (green) stays silent", "0.4 (green) stays silent"],
        ["<= 0.3", "< 0.2"],
    ),
    "bottomk": (
        "bottomk(1, RATIO)",
        "<0.5 Green, >=0.5 Red",
        ">= 0.5",
        ["0.4 (green) stays silent", "0.5 (red) fires", "0.6 (red) fires"],
        ["> 0.5", ">= 0.4"],
    ),
    "max": (
        "max by (route) (RATIO)",
        "<0.5 Green, >=0.5 Red",
        ">= 0.5",
        [
            "0.5 (red) fires",
            "no traffic stays silent",
            "another series without traffic, 0.5 (red) fires",
            "no traffic in the denominator, +Inf (red) fires",
        ],
        ["> 0.5", ">= 0.4"],
    ),
    "max-below": (
        "max(RATIO)",
        "<0.3 Red, >=0.3 Green",
        "< 0.3",
        [
            "0.2 (red) fires",
            "another series without traffic, 0.2 (red) fires",
            "no traffic in the denominator, +Inf (green) stays silent",
        ],
        ["<= 0.3", "< 0.2"],
    ),
    "sum": (
        "sum(RATIO)",
        "<0.5 Green, >=0.5 Red",
        ">= 0.5",
        ["another series without traffic stays silent"],
        ["> 0.5", ">= 0.4"],
    ),
    "avg": (
        "avg by (route) (RATIO)",
        "<0.5 Green, >=0.5 Red",
        ">= 0.5",
        ["another series without traffic stays silent"],
        ["> 0.5", ">= 0.4"],
    ),
    # The guard drops a series that is 0/0, so the others decide the group.
    "sum-guarded": (
        "sum by (route) (GUARDED)",
        "<0.5 Green, >=0.5 Red",
        ">= 0.5",
        ["no traffic stays silent", "another series without traffic, 0.5 (red) fires"],
        ["> 0.5", ">= 0.4"],
    ),
    "avg-guarded": (
        "avg(GUARDED)",
        "<0.5 Green, >=0.5 Red",
        ">= 0.5",
        ["no traffic stays silent", "another series without traffic, 0.5 (red) fires"],
        ["> 0.5", ">= 0.4"],
    ),
}


def _build_generated_over_ratio(project: Path, name: str) -> BuildResult:
    shape, thresholds, _, _, _ = GENERATED_OVER_RATIO[name]
    query = shape.replace("RATIO", ERRORS_PER_REQUEST_RATIO).replace(
        "GUARDED", GUARDED_ERRORS_PER_REQUEST
    )
    return build_stat_panel(
        project, ("api.yaml", ROUTES_HEADER), (query, "short", thresholds)
    )


@pytest.mark.parametrize("name", GENERATED_OVER_RATIO)
def test_aggregation_over_ratio_is_tested(project: Path, name: str) -> None:
    """Each aggregation over a ratio gets the named groups, and promtool passes them."""
    _, _, _, groups, _ = GENERATED_OVER_RATIO[name]
    _assert_tested(project, _build_generated_over_ratio(project, name), groups)


@pytest.mark.parametrize("name", GENERATED_OVER_RATIO)
def test_aggregation_over_ratio_moved_boundary_fails(project: Path, name: str) -> None:
    _, _, comparison, _, moved_comparisons = GENERATED_OVER_RATIO[name]
    result = _build_generated_over_ratio(project, name)
    assert_moved_boundaries_fail(project, result, "api", comparison, moved_comparisons)


def test_count_over_ratio_needs_whole_numbers(project: Path) -> None:
    """A count between whole numbers gets no test, and the warning gives the reason."""
    query = f"count by (route) ({ERRORS_PER_REQUEST_RATIO})"
    result = build_stat_panel(
        project, ("api.yaml", ROUTES_HEADER), (query, "short", "<0.5 Green, >=0.5 Red")
    )
    (message,) = untested(result)
    assert (
        "count() gives a whole number of series, at least 1, and the test needs 0.4"
        in message
    )
    # The recording rule still gets its own test.
    assert _group_names(result) == [
        "job_route:errors_per_requests:count_ratio_rate5m equals its query"
    ]
    out = write_files(project / "out", result.files)
    assert_promtool("test", "rules", str(out / TESTS))


def test_stdvar_over_ratio_needs_exact_boundary(project: Path) -> None:
    """No 10 series or fewer, at 0 and at one other value, give a variance of 3."""
    query = f"stdvar({ERRORS_PER_REQUEST_RATIO})"
    result = build_stat_panel(
        project, ("api.yaml", ROUTES_HEADER), (query, "short", "<3 Green, >=3 Red")
    )
    (message,) = untested(result)
    assert "no synthesized input gives exactly 3" in message


def test_count_over_ratio_spreads_instances(project: Path) -> None:
    """A count of 3 reads three series of the ratio, one per instance."""
    result = _build_generated_over_ratio(project, "count")
    group = _groups(result)["ApiPanelCritical: 3 (red) fires"]
    instances = {
        name.split('instance="')[1].split('"')[0]
        for name in (s["series"] for s in group["input_series"])
    }
    assert instances == {"instance-1", "instance-2", "instance-3"}
    assert len(group["input_series"]) == 6


def test_max_over_ratio_rejects_filled_idle_series(project: Path) -> None:
    """A rule that counts a series without traffic as a ratio of 1 fails."""
    result = _build_generated_over_ratio(project, "max")
    filled = (
        f"max by (job, route) ({GUARDED_ERRORS_PER_REQUEST} "
        'or rate(requests_total{job="api"}[5m]) * 0 + 1)'
    )
    output = _failed_promtool(project, _with_recording_expr(result, filled))
    assert "another series without traffic, 0.5 (red) fires" in output


def test_sum_over_guarded_ratio_rejects_unguarded_rule(project: Path) -> None:
    """Without the query's guard, the rule gives NaN where the query gives 0.5."""
    result = _build_generated_over_ratio(project, "sum-guarded")
    unguarded = f"sum by (job, route) ({ERRORS_PER_REQUEST_RATIO})"
    output = _failed_promtool(project, _with_recording_expr(result, unguarded))
    assert "another series without traffic, 0.5 (red) fires" in output


def _counter(name: str, route: str, instance: str, step: float) -> InputSeries:
    labels = {"__name__": name, "job": "api", "route": route, "instance": instance}
    return InputSeries(make_labels(labels), step, counter=True)


def test_record_checks_mark_nan_apart(tmp_path: Path) -> None:
    """A rule with NaN for one route and 0.25 for another gets checks promtool passes.

    A guarded rule, which gives 0.5 for the first route, fails the same checks.
    """
    rule = plan_query(f"avg by (route) ({ERRORS_PER_REQUEST_RATIO})").rule
    series = [
        _counter("errors_total", "a", "i1", 120),
        _counter("requests_total", "a", "i1", 240),
        _counter("errors_total", "a", "i2", 0),
        _counter("requests_total", "a", "i2", 0),
        _counter("errors_total", "b", "i1", 60),
        _counter("requests_total", "b", "i1", 240),
    ]
    end = 600_000
    run = simulate(series, [rule], None, end, 60_000, 60_000)
    # record_checks reads the run and the rule, and no service.
    checks = _Generator(None, 60_000).record_checks(rule, run, end)
    record, query = rule.record, rule.query
    assert [check.expr for check in checks] == [
        f"{record} != bool {record}",
        f"{record} == {record}",
        f"count(({query}) != ({query}))",
        f"({query}) == ({query})",
    ]
    assert checks[0].samples == (
        ('{job="api",route="a"}', 1.0),
        ('{job="api",route="b"}', 0.0),
    )
    assert checks[1].samples == ((f'{record}{{job="api",route="b"}}', 0.25),)
    assert checks[2].samples == (("{}", 1.0),)
    assert checks[3].samples == (('{route="b"}', 0.25),)
    group = testfile.TestGroup(
        "route a without traffic on one instance",
        "1m",
        testfile.series_texts(series, end // 60_000),
        expr_checks=checks,
    )
    suite = testfile.TestSuite("api", "1m", (group,), ())
    document = prometheus_render.tests_document(suite, "rules/api.rules.yml")
    (tmp_path / "rules").mkdir()
    (tmp_path / "tests").mkdir()
    test_path = tmp_path / "tests" / "api.test.yml"
    test_path.write_text(yaml.safe_dump(document), encoding="utf-8")
    rules_path = tmp_path / "rules" / "api.rules.yml"
    for expr, passes in (
        (rule.expr, True),
        (f"avg by (job, route) ({GUARDED_RATIO})", False),
    ):
        recording = {
            "name": "api.recording",
            "rules": [{"record": record, "expr": expr}],
        }
        groups = {"groups": [recording, {"name": "api.alerts", "rules": []}]}
        rules_path.write_text(yaml.safe_dump(groups), encoding="utf-8")
        checked = run_promtool("test", "rules", str(test_path))
        assert (checked.returncode == 0) == passes, checked.stdout + checked.stderr


def test_mean_depends_on_order() -> None:
    """The running mean of Prometheus 2.42 rounds differently in each order."""
    values = [95039.770738661, 826.4145815520077]
    assert _mean(values) != _mean(values[::-1])


def test_order_dependent_average_is_rejected() -> None:
    storage = Storage()
    for key, value in (("a", 95039.770738661), ("b", 826.4145815520077)):
        storage.add(make_labels({"__name__": "m", "k": key}), 0, value)
    with pytest.raises(OrderDependent, match="depends on the order of the series"):
        Evaluator(storage).query("avg(m)", 0)


def test_order_free_average_is_evaluated() -> None:
    storage = Storage()
    for key, value in (("a", 3.0), ("b", 6.0), ("c", 0.0)):
        storage.add(make_labels({"__name__": "m", "k": key}), 0, value)
    (sample,) = Evaluator(storage).query("avg(m)", 0)
    assert sample.value == 3.0
