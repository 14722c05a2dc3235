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
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from obscompile.derive.evaluate import (
    Evaluator,
    OrderDependent,
    Storage,
    _mean,
    make_labels,
)
from obscompile.pipeline import BuildResult, Project, build
from tests.conftest import write_manifest
from tests.moved_boundaries import (
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


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_aggregated_ratio_tests_pass(project: Path, case: tuple) -> None:
    query, thresholds, _, groups, _ = case
    result = _build(project, query, thresholds)
    assert untested(result) == []
    names = _group_names(result)
    for group in groups:
        assert f"ApiPanelCritical: {group}" in names
    out = write_files(project / "out", result.files)
    assert_promtool("test", "rules", str(out / TESTS))


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
