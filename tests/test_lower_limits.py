"""Red bands at the lower limit of a query's values.

A counter's rate, an increase, a count, `up` and the quantile of a histogram of
durations are never below 0. A red band from 0 or lower on such a query contains every
value that it gives, so its alert always fires, and the build warns at the thresholds.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from obscompile.pipeline import BuildResult, Project, build
from tests.conftest import write_manifest

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
# The line and column of a panel's thresholds value in `_manifest`.
WHERE = "services/shop.yaml:16:19"
RATE = 'sum(rate(orders_total{job="shop"}[5m]))'
PER_MINUTE = 'sum(rate(orders_total{job="shop"}[5m])) * 60'
INCREASE = 'sum(increase(orders_total{job="shop"}[1h]))'


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


def _message(band: str, suggested: str = '"0 Green, >0 Red"', least: str = "0") -> str:
    return (
        f'{WHERE}: warning: panel "Panel": the {band} contains every value of the '
        f"query, which is never below {least}, so its alert always fires; write "
        f"{suggested} to alert on values above {least} [alerts/unbounded]"
    )


RED_FROM_ZERO = _message("red band (at or above 0)")

# (query, thresholds, the alerts/unbounded warnings of the build)
ALWAYS_FIRING = {
    "rate-from-0": (RATE, ">0 Red", [RED_FROM_ZERO]),
    "rate-at-or-above-0": (RATE, ">=0 Red", [RED_FROM_ZERO]),
    "rate-below-0": (
        RATE,
        "<-1 Green, >-1 Red",
        [_message("red band (at or above -1)")],
    ),
    "per-minute": (PER_MINUTE, ">0 Red", [RED_FROM_ZERO]),
    "increase": (INCREASE, ">0 Red", [RED_FROM_ZERO]),
    "count": ('count(up{job="shop"})', ">=0 Red", [RED_FROM_ZERO]),
    "up": ('sum(up{job="shop"})', ">0 Red", [RED_FROM_ZERO]),
    "raw-counter": ('max(orders_total{job="shop"})', ">0 Red", [RED_FROM_ZERO]),
    "or-vector-zero": (f"{RATE} or vector(0)", ">0 Red", [RED_FROM_ZERO]),
    "quantile-of-durations": (
        'histogram_quantile(0.99, sum by (le) (rate(wait_seconds_bucket{job="shop"}[5m])))',
        ">=0s Red",
        [_message("red band (at or above 0s)", least="0s")],
    ),
    "quantile-from-bucket-0": (
        'histogram_quantile(0.99, sum by (le) (rate(from_zero_seconds_bucket{job="shop"}[5m])))',
        ">=0s Red",
        [_message("red band (at or above 0s)", least="0s")],
    ),
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
    assert _always_firing(result) == [_message(band)]


def test_quantile_below_buckets_warns_once(project: Path) -> None:
    """thresholds/histogram-range reports a red band below the first listed bucket."""
    query = 'histogram_quantile(0.99, sum by (le) (rate(listed_seconds_bucket{job="shop"}[5m])))'
    result = _build(project, query, ">=0s Red")
    checks = [d.check for d in result.diagnostics if d.check != "rules/untested"]
    assert checks == ["thresholds/histogram-range"]


def test_warning_band_over_every_value_warns(project: Path) -> None:
    text = _manifest(RATE, ">=0 Yellow").replace(
        "thresholds:", "alert: {warning: true}\n      thresholds:"
    )
    write_manifest(project, "shop.yaml", text)
    result = build(Project.at(project))
    where = WHERE.replace(":16:", ":17:")
    assert _always_firing(result) == [
        _message("yellow band (at or above 0)", '"0 Green, >0 Yellow"').replace(
            WHERE, where
        )
    ]
