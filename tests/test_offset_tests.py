"""Generated tests for queries that read their series with an offset.

At each evaluation, a query with `offset 1w` reads what its series held a week
earlier. Its generated tests are those of the same query without the offset, each
evaluation a week later: the same input series from time 0, the same expected values
and alerts. No evaluation up to the last eval_time reads a later sample, so the test
file stays about as small as the one without the offset. The generator also skips the
week of evaluations that read no sample (see `simulate`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from obscompile.derive.simulate import simulate
from obscompile.derive.synthesis import InputSeries
from obscompile.load.durations import duration_ms
from obscompile.pipeline import BuildResult, Project, build
from tests.conftest import write_manifest
from tests.moved_boundaries import assert_moved_boundaries_fail, untested
from tests.test_prometheus import assert_promtool, write_files

HEADER = """\
service: api
dashboard:
  uid: api-overview
scrape:
  job: api
  port: 8080
  interval: 15s
metrics:
  http_requests_total:
    type: counter
    labels: [code]
  queue_depth:
    type: gauge
rows:
  - title: Week over week
    panels:
"""
WEEK_MS = 7 * 24 * 3600 * 1000
DAY_MS = 24 * 3600 * 1000

# Query with an offset, the offset in ms, and thresholds.
SHAPES = {
    "rate-1w": (
        'sum(rate(http_requests_total{job="api",code="1"}[5m] offset 1w))',
        WEEK_MS,
        ">=20 Red",
    ),
    # The rate 126.41 below the boundary needs a counter sampled every 30s, 15s off
    # the evaluations: no counter that the generator samples every minute gives it.
    "rate-1w-sampled": (
        'sum(rate(http_requests_total{job="api"}[5m] offset 1w))',
        WEEK_MS,
        ">136.41 Red",
    ),
    "increase-1h-1d": (
        'sum(increase(http_requests_total{job="api"}[1h] offset 1d))',
        DAY_MS,
        ">=1200 Red",
    ),
    "gauge-1w": ('max(queue_depth{job="api"} offset 1w)', WEEK_MS, ">=20 Red"),
    "ratio-1w": (
        'sum(rate(http_requests_total{job="api",code="500"}[5m] offset 1w)) '
        '/ sum(rate(http_requests_total{job="api"}[5m] offset 1w)) * 100',
        WEEK_MS,
        ">=5 Red",
    ),
}

# Query with an offset, thresholds, the alert's comparison, and comparisons that
# move its boundary: past it by the smallest step that matters, and past the value
# that the test group below it probes. promtool evaluates every rule at every
# evaluation from time 0, so all but the first use an offset of a day, not a week.
MOVED = {
    "rate-1w": (
        'sum(rate(http_requests_total{job="api",code="1"}[5m] offset 1w))',
        ">=20 Red",
        ">= 20",
        ["> 20", ">= 10"],
    ),
    "rate-1d-sampled": (
        'sum(rate(http_requests_total{job="api"}[5m] offset 1d))',
        ">136.41 Red",
        ">= 136.41",
        ["> 136.41", ">= 126.41"],
    ),
    "increase-1h-1d": (
        'sum(increase(http_requests_total{job="api"}[1h] offset 1d))',
        ">=1200 Red",
        ">= 1200",
        ["> 1200", ">= 1100"],
    ),
    "gauge-1d": (
        'max(queue_depth{job="api"} offset 1d)',
        ">=20 Red",
        ">= 20",
        ["> 20", ">= 10"],
    ),
    "ratio-1d": (
        'sum(rate(http_requests_total{job="api",code="500"}[5m] offset 1d)) '
        '/ sum(rate(http_requests_total{job="api"}[5m] offset 1d)) * 100',
        ">=5 Red",
        ">= 5",
        ["> 5", ">= 4"],
    ),
}


def _panel(title: str, query: str, thresholds: str, alert: str) -> str:
    return (
        f"      - title: {title}\n"
        "        type: stat\n"
        f"        query: '{query}'\n"
        f'        thresholds: "{thresholds}"\n'
        f"        alert: {alert}\n"
    )


def _build(folder: Path, panels: list[str]) -> BuildResult:
    write_manifest(folder, "api.yaml", HEADER + "".join(panels))
    result = build(Project.at(folder))
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    return result


def _test_file(result: BuildResult) -> dict:
    return yaml.safe_load(result.files["prometheus/tests/api.test.yml"])


def _alert_checks(group: dict, offset_ms: int = 0) -> list[tuple[int, list]]:
    """Return the group's alert checks: eval_time `offset_ms` earlier, and alerts."""
    return [
        (duration_ms(check["eval_time"]) - offset_ms, check["exp_alerts"])
        for check in group.get("alert_rule_test", [])
    ]


def _expr_values(group: dict, offset_ms: int = 0) -> list[tuple[int, list[float]]]:
    """Return the group's query checks: eval_time `offset_ms` earlier, and values.

    The labels are left out, because the name of a recording rule shows its offset.
    """
    return [
        (
            duration_ms(check["eval_time"]) - offset_ms,
            [sample["value"] for sample in check["exp_samples"]],
        )
        for check in group.get("promql_expr_test", [])
    ]


def _week_over_week(index: int, offset: str = " offset 1w") -> str:
    query = f'sum(rate(http_requests_total{{job="api",code="{index}"}}[5m]{offset}))'
    return _panel(
        f"Requests {index}",
        query,
        "<10 Green, 10-20 Yellow, >=20 Red",
        "{warning: true}",
    )


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_offset_tests_are_later_plain_tests(tmp_path: Path, shape: tuple) -> None:
    query, offset_ms, thresholds = shape
    plain_query = query.replace(" offset 1w", "").replace(" offset 1d", "")
    alert = "{for: 5m}"
    plain = _test_file(
        _build(tmp_path / "plain", [_panel("P", plain_query, thresholds, alert)])
    )
    result = _build(tmp_path / "offset", [_panel("P", query, thresholds, alert)])
    assert untested(result) == []
    offset = _test_file(result)
    assert [g["name"] for g in offset["tests"]] == [g["name"] for g in plain["tests"]]
    for group, plain_group in zip(offset["tests"], plain["tests"], strict=True):
        name = group["name"]
        assert group["interval"] == plain_group["interval"], name
        assert group["input_series"] == plain_group["input_series"], name
        assert _alert_checks(group, offset_ms) == _alert_checks(plain_group), name
        assert _expr_values(group, offset_ms) == _expr_values(plain_group), name


def test_week_offset_test_file_stays_small(tmp_path: Path) -> None:
    """Six week-over-week panels write about as much as they do without the offset.

    Input series that cover the whole week make this file 1.3 MB.
    """
    plain = _build(tmp_path / "plain", [_week_over_week(i, "") for i in range(1, 7)])
    result = _build(tmp_path / "offset", [_week_over_week(i) for i in range(1, 7)])
    size = len(result.files["prometheus/tests/api.test.yml"].encode())
    plain_size = len(plain.files["prometheus/tests/api.test.yml"].encode())
    assert size < plain_size * 1.1
    assert size < 80_000
    for group in _test_file(result)["tests"]:
        for series in group["input_series"]:
            assert len(series["values"]) < 200, group["name"]


def test_week_offset_tests_pass_promtool(project: Path) -> None:
    result = _build(project, [_week_over_week(1)])
    test_file = _test_file(result)
    assert any(g["name"].endswith(" fires") for g in test_file["tests"])
    assert any(g["name"].endswith(" stays silent") for g in test_file["tests"])
    out = write_files(project / "out", result.files)
    assert_promtool("test", "rules", str(out / "prometheus/tests/api.test.yml"))


@pytest.mark.parametrize("case", MOVED.values(), ids=MOVED.keys())
def test_offset_moved_boundary_fails_promtool(project: Path, case: tuple) -> None:
    query, thresholds, comparison, moved_comparisons = case
    result = _build(project, [_panel("P", query, thresholds, "{for: 5m}")])
    out = write_files(project / "out", result.files)
    assert_promtool("test", "rules", str(out / "prometheus/tests/api.test.yml"))
    assert_moved_boundaries_fail(project, result, "api", comparison, moved_comparisons)


def _counter(step: float) -> InputSeries:
    labels = (("__name__", "requests_total"), ("job", "api"))
    return InputSeries(labels, step, counter=True)


def test_offset_run_skips_evaluations_without_samples() -> None:
    """A run evaluates time 0 and then the evaluations that can read a sample."""
    evaluation = 60_000
    plain_end = 11 * evaluation
    plain = simulate(
        [_counter(1200)],
        [],
        "sum(rate(requests_total[5m])) >= 20",
        plain_end,
        evaluation,
        evaluation,
    )
    run = simulate(
        [_counter(1200)],
        [],
        "sum(rate(requests_total[5m] offset 1w)) >= 20",
        WEEK_MS + plain_end,
        evaluation,
        evaluation,
    )
    assert sorted(run.moments) == [0, *range(WEEK_MS, WEEK_MS + plain_end + 1, 60_000)]
    assert run.last_index == plain.last_index == 11
    assert plain.at(plain_end).firing(5 * evaluation)
    assert run.at(3 * DAY_MS).active == {}
    for time_ms in range(0, plain_end + 1, evaluation):
        moment = run.at(WEEK_MS + time_ms)
        plain_moment = plain.at(time_ms)
        assert moment.values == plain_moment.values, time_ms
        assert {k: v - WEEK_MS for k, v in moment.active.items()} == (
            plain_moment.active
        ), time_ms


def test_clock_query_run_skips_nothing() -> None:
    """time() changes a result while no sample is read, so every evaluation runs."""
    evaluation = 60_000
    end = 3600_000 + 11 * evaluation
    run = simulate(
        [_counter(1200)],
        [],
        "sum(rate(requests_total[5m] offset 1h)) + time() * 0 >= 20",
        end,
        evaluation,
        evaluation,
    )
    assert sorted(run.moments) == list(range(0, end + 1, evaluation))
    assert run.last_index == 11
