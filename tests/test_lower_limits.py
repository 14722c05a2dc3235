"""Red bands at the lower limit of a query's values.

A counter's rate, an increase, a count, `up` and the quantile of a histogram of
durations are never below 0. The minimum of a part of some counter rates over the
minimum of all of them is never below 1. A red band from such a limit or lower contains
every value that the query gives, so its alert always fires, and the build warns at the
band's lower bound.
A band that starts just above 0 (`"0 Green, >0 Red"`) gets generated tests on both
sides of 0, which promtool runs, and which fail once the boundary moves.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from obscompile.pipeline import BuildResult, Project, build
from tests.conftest import write_manifest
from tests.test_prometheus import assert_promtool, run_promtool, write_files

HEADER = """\
service: shop
scrape: {job: shop, port: 8080, interval: 15s}
metrics:
  orders_total: {type: counter, labels: [code]}
  restarts_total: counter
  queue_depth: gauge
  wait_seconds: histogram
  listed_seconds: {type: histogram, buckets: [0.1, 0.5, 1]}
  from_zero_seconds: {type: histogram, buckets: [0, 1, 2]}
  temperature_celsius: {type: histogram, buckets: [-10, 0, 10]}
rows:
  - title: Main
    panels:
"""
# The line of a panel's thresholds value in `_manifest`, whose text starts at column 20.
WHERE = "services/shop.yaml:16"
RATE = 'sum(rate(orders_total{job="shop"}[5m]))'
PER_MINUTE = 'sum(rate(orders_total{job="shop"}[5m])) * 60'
INCREASE = 'sum(increase(orders_total{job="shop"}[1h]))'
MIN_SHARE = (
    'min(rate(orders_total{job="shop",code="500"}[5m])) '
    '/ min(rate(orders_total{job="shop"}[5m]))'
)
MAX_SHARE = (
    'max(rate(orders_total{job="shop",code="500"}[5m])) '
    '/ max(rate(orders_total{job="shop"}[5m]))'
)


def _manifest(query: str, thresholds: str, legend: str | None = None) -> str:
    panel = f"""\
    - title: Panel
      query: '{query}'
      thresholds: '{thresholds}'
    """
    if legend is not None:
        panel += f"  legend: '{legend}'\n"
    return HEADER + textwrap.indent(textwrap.dedent(panel), "    ")


def _build(project: Path, query: str, thresholds: str, **keys: str) -> BuildResult:
    write_manifest(project, "shop.yaml", _manifest(query, thresholds, **keys))
    result = build(Project.at(project))
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    return result


def _always_firing(result: BuildResult) -> list[str]:
    return [str(d) for d in result.diagnostics if d.check == "alerts/unbounded"]


def _message(
    band: str, column: int, suggested: str = '"0 Green, >0 Red"', least: str = "0"
) -> str:
    return (
        f'{WHERE}:{column}: warning: panel "Panel": the {band} contains every value of the '
        f"query, which is never below {least}, so its alert always fires; write "
        f"{suggested} to alert on values above {least} [alerts/unbounded]"
    )


# The 0 of `>0 Red` is in column 21, and that of `>=0 Red` in column 22.
RED_FROM_ZERO = _message("red band (at or above 0)", 21)
RED_AT_OR_ABOVE_ZERO = _message("red band (at or above 0)", 22)

SUGGESTED_100 = '"100% Green, >100% Red"'
MIN_SHARE_FROM_100 = _message("red band (at or above 100%)", 22, SUGGESTED_100, "100%")

# (query, thresholds, the alerts/unbounded warnings of the build)
ALWAYS_FIRING = {
    "rate-from-0": (RATE, ">0 Red", [RED_FROM_ZERO]),
    "rate-at-or-above-0": (RATE, ">=0 Red", [RED_AT_OR_ABOVE_ZERO]),
    "rate-below-0": (
        RATE,
        "<-1 Green, >-1 Red",
        [_message("red band (at or above -1)", 32)],
    ),
    "per-minute": (PER_MINUTE, ">0 Red", [RED_FROM_ZERO]),
    "increase": (INCREASE, ">0 Red", [RED_FROM_ZERO]),
    "count": ('count(up{job="shop"})', ">=0 Red", [RED_AT_OR_ABOVE_ZERO]),
    "up": ('sum(up{job="shop"})', ">0 Red", [RED_FROM_ZERO]),
    "raw-counter": ('max(orders_total{job="shop"})', ">0 Red", [RED_FROM_ZERO]),
    "or-vector-zero": (f"{RATE} or vector(0)", ">0 Red", [RED_FROM_ZERO]),
    "quantile-of-durations": (
        'histogram_quantile(0.99, sum by (le) (rate(wait_seconds_bucket{job="shop"}[5m])))',
        ">=0s Red",
        [_message("red band (at or above 0s)", 22, least="0s")],
    ),
    "quantile-from-bucket-0": (
        'histogram_quantile(0.99, sum by (le) (rate(from_zero_seconds_bucket{job="shop"}[5m])))',
        ">=0s Red",
        [_message("red band (at or above 0s)", 22, least="0s")],
    ),
    # A ratio of one metric's rates is in percentunit, so 1 reads 100%.
    "min-share-from-1": (MIN_SHARE, ">=1 Red", [MIN_SHARE_FROM_100]),
    "min-share-from-half": (
        MIN_SHARE,
        "<0.5 Green, >=0.5 Red",
        [_message("red band (at or above 50%)", 34, SUGGESTED_100, "100%")],
    ),
    # 100 times the ratio is in percent.
    "min-share-percent": (f"100 * {MIN_SHARE}", ">=100 Red", [MIN_SHARE_FROM_100]),
    "min-share-above-1": (MIN_SHARE, ">=1.5 Red", []),
    "max-share-from-0": (
        MAX_SHARE,
        ">=0 Red",
        [_message("red band (at or above 0%)", 22, least="0%")],
    ),
    "max-share-from-half": (MAX_SHARE, ">=0.5 Red", []),
    "yellow-band-without-warning": (RATE, "<0 Green, 0-5 Yellow, >5 Red", []),
    "above-0": (RATE, "0 Green, >0 Red", []),
    "at-or-below-0-green": (RATE, "<=0 Green, >0 Red", []),
    "from-1": (RATE, ">=1 Red", []),
    "gauge": ('sum(queue_depth{job="shop"})', ">=0 Red", []),
    "filtered": (f"{RATE} > 2", ">=0 Red", []),
    "and": (f'{RATE} and on () sum(up{{job="shop"}})', ">=0 Red", []),
    "absent": ('absent(up{job="shop"})', ">0 Red", []),
    "difference": (f"{RATE} - {RATE}", ">=0 Red", []),
    "negative-buckets": (
        'histogram_quantile(0.99, sum by (le) (rate(temperature_celsius_bucket{job="shop"}[5m])))',
        ">=0 Red",
        [],
    ),
}


@pytest.mark.parametrize("case", ALWAYS_FIRING.values(), ids=ALWAYS_FIRING.keys())
def test_band_over_every_value_warns(project: Path, case: tuple) -> None:
    query, thresholds, expected = case
    result = _build(project, query, thresholds)
    assert _always_firing(result) == expected


def test_series_band_over_every_value_warns(project: Path) -> None:
    query = 'sum by (code) (rate(orders_total{job="shop"}[5m]))'
    result = _build(project, query, "500 <0, 404 <5", legend="{{code}}")
    band = 'red band of series "500" (at or above 0)'
    assert _always_firing(result) == [_message(band, 25)]


def test_quantile_below_buckets_reported_once(project: Path) -> None:
    """thresholds/histogram-range reports a red band below the first listed bucket.

    Its alert always fires, so the finding is an error, and alerts/unbounded does
    not repeat it.
    """
    query = 'histogram_quantile(0.99, sum by (le) (rate(listed_seconds_bucket{job="shop"}[5m])))'
    write_manifest(project, "shop.yaml", _manifest(query, ">=0s Red"))
    result = build(Project.at(project))
    found = [
        (d.check, d.severity) for d in result.diagnostics if d.check != "rules/untested"
    ]
    assert found == [("thresholds/histogram-range", "error")]


def test_warning_band_over_every_value_warns(project: Path) -> None:
    text = _manifest(RATE, ">=0 Yellow").replace(
        "thresholds:", "alert: {warning: true}\n      thresholds:"
    )
    write_manifest(project, "shop.yaml", text)
    result = build(Project.at(project))
    message = _message("yellow band (at or above 0)", 22, '"0 Green, >0 Yellow"')
    assert _always_firing(result) == [message.replace(WHERE, "services/shop.yaml:17")]


@pytest.mark.parametrize(
    ("value", "band", "column"),
    [("0", "red band (at or above 0)", 21), ('"-1"', "red band (at or above -1)", 22)],
    ids=["number", "quoted-text"],
)
def test_step_over_every_value_warns(
    project: Path, value: str, band: str, column: int
) -> None:
    """The warning of a structured step is at the step's value, on line 19."""
    text = _manifest(RATE, "").replace(
        "thresholds: ''",
        f"thresholds:\n        steps:\n          - green\n"
        f"          - {{value: {value}, color: red}}",
    )
    write_manifest(project, "shop.yaml", text)
    result = build(Project.at(project))
    message = _message(band, column)
    assert _always_firing(result) == [message.replace(WHERE, "services/shop.yaml:19")]


# Query, thresholds, the alert's comparison, and comparisons with the boundary moved:
# to take 0 in, and up to the value that the firing test gives.
ABOVE_ZERO = {
    "rate": (RATE, "0 Green, >0 Red", "> 0", [">= 0", "> 1"]),
    "rate-at-or-below-0": (RATE, "<=0 Green, >0 Red", "> 0", [">= 0", "> 1"]),
    "per-minute": (PER_MINUTE, "0 Green, >0 Red", "> 0", [">= 0", "> 60"]),
    # An increase of 1 in an hour is 1/60 per sample at a 1m interval, which the
    # generator does not give, so the test gives 1 per sample, 60 in an hour.
    "increase": (INCREASE, "0 Green, >0 Red", "> 0", [">= 0", "> 60"]),
}


def _alert_expr(result: BuildResult) -> str:
    groups = yaml.safe_load(result.files["prometheus/rules/shop.rules.yml"])
    (alerts,) = [g for g in groups["groups"] if g["name"] == "shop.alerts"]
    (rule,) = alerts["rules"]
    return rule["expr"]


def _untested(result: BuildResult) -> list[str]:
    return [d.message for d in result.diagnostics if d.check == "rules/untested"]


@pytest.mark.parametrize("case", ABOVE_ZERO.values(), ids=ABOVE_ZERO.keys())
def test_band_above_zero_passes_promtool(project: Path, case: tuple) -> None:
    query, thresholds, _, _ = case
    result = _build(project, query, thresholds)
    assert _untested(result) == []
    test_file = yaml.safe_load(result.files["prometheus/tests/shop.test.yml"])
    names = [group["name"] for group in test_file["tests"]]
    assert "ShopPanelCritical: 0 (green) stays silent" in names
    assert any(name.endswith(" (red) fires") for name in names)
    out = write_files(project / "out", result.files)
    assert_promtool("test", "rules", str(out / "prometheus/tests/shop.test.yml"))


@pytest.mark.parametrize("case", ABOVE_ZERO.values(), ids=ABOVE_ZERO.keys())
def test_band_above_zero_moved_fails_promtool(project: Path, case: tuple) -> None:
    query, thresholds, comparison, moved_comparisons = case
    result = _build(project, query, thresholds)
    expr = _alert_expr(result)
    assert expr.endswith(f" {comparison}")
    rules_name = "prometheus/rules/shop.rules.yml"
    for moved in moved_comparisons:
        files = dict(result.files)
        files[rules_name] = files[rules_name].replace(
            f"expr: {expr}\n", f"expr: {expr.removesuffix(comparison)}{moved}\n"
        )
        assert files[rules_name] != result.files[rules_name]
        out = write_files(project / "out", files)
        checked = run_promtool(
            "test", "rules", str(out / "prometheus/tests/shop.test.yml")
        )
        assert checked.returncode == 1, f"{moved}: {checked.stdout}"
        assert "FAILED" in checked.stdout + checked.stderr


def test_band_below_every_value_is_untested(project: Path) -> None:
    """No input puts a rate below 0, so no generated test shows its alert firing."""
    result = _build(project, RATE, "<0 Red")
    assert _untested(result) == [
        'no promtool test generated for rule "ShopPanelCritical": no value that '
        "the tests give the query lies in the band (below 0), so no test shows the "
        "alert firing. Write a promtool test in tests/promtool/, which "
        "`obscompile test` runs"
    ]
