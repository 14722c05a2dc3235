"""thresholds/unit messages for a threshold that the panel's unit cannot express.

Where the query fixes its unit (by a metric name suffix, the catalog or the query's
shape) or the manifest sets one, the message states what the values are and how to
write the bound in their unit. Setting `unit:` to fit the threshold would mislabel
the panel there, so only a query of unknown unit gets that advice, and a panel whose
written unit differs from the unit that the query fixes gets that unit.
"""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

from obscompile.pipeline import Project, build
from tests.conftest import write_manifest

HEADER = """\
service: orders-api
scrape: {job: orders-api, port: 8080}
metrics:
  orders_cache_bytes: gauge
  billing_consumer_lag_seconds: gauge
  queue_depth: gauge
  http_requests_total: {type: counter, labels: [code]}
  network_sent_bytes_total: counter
  jobs_processed_total: counter
  task_duration_seconds: histogram
rows:
  - title: Main
    panels:
      - title: Value
"""

AVAILABILITY = (
    'sum(rate(http_requests_total{code!~"5.."}[5m])) / '
    "sum(rate(http_requests_total[5m]))"
)
P95 = "histogram_quantile(0.95, sum by (le) (rate(task_duration_seconds_bucket[5m])))"
BYTES_ADVICE = (
    "write the bound as a number of bytes, such as 1073741824 for 1 GiB, because "
    "thresholds take no byte units"
)
SET_PERCENT = (
    "set unit: percent if the query gives percentages from 0 to 100, or percentunit "
    "if it gives ratios from 0 to 1"
)
SET_TIME = (
    "set unit: to the time unit of the query, such as s or ms, if it gives durations"
)


@attrs.frozen
class Case:
    id: str
    unit: str | None
    query: str
    thresholds: str
    expected: str


CASES = [
    # The query's unit is fixed by a metric name suffix.
    Case(
        "bytes-gauge-duration",
        None,
        "orders_cache_bytes",
        "<500ms Green, >=500ms Red",
        "threshold 500ms is a duration, but the query gives data sizes in bytes "
        f"(unit bytes); {BYTES_ADVICE}",
    ),
    Case(
        "seconds-gauge-percentage",
        None,
        "billing_consumer_lag_seconds",
        "<50% Green, >=50% Red",
        "threshold 50% is a percentage, but the query gives durations in seconds "
        "(unit s); write the bound as a duration, such as 500ms or 2s, which the "
        "build converts to s",
    ),
    Case(
        "quantile-percentage",
        None,
        P95,
        "<90% Green, >=90% Red",
        "threshold 90% is a percentage, but the query gives durations in seconds "
        "(unit s); write the bound as a duration, such as 500ms or 2s, which the "
        "build converts to s",
    ),
    Case(
        "milliseconds-percentage",
        None,
        "max(billing_consumer_lag_seconds) * 1000",
        "<50% Green, >=50% Red",
        "threshold 50% is a percentage, but the query gives durations in "
        "milliseconds (unit ms); write the bound as a duration, such as 500ms or "
        "2s, which the build converts to ms",
    ),
    # The query's unit is fixed by its shape.
    Case(
        "ratio-duration",
        None,
        AVAILABILITY,
        ">99ms Green, <99ms Red",
        "threshold 99ms is a duration, but the query gives ratios from 0 to 1 "
        "(unit percentunit); write the bound as a percentage, such as 99%, or as a "
        "ratio from 0 to 1, such as 0.99",
    ),
    Case(
        "percentage-query-duration",
        None,
        f"{AVAILABILITY} * 100",
        ">2s Red",
        "threshold 2s is a duration, but the query gives percentages from 0 to 100 "
        "(unit percent); write the bound as a percentage, such as 2%, or as a "
        "number from 0 to 100",
    ),
    Case(
        "large-duration-on-ratio",
        None,
        AVAILABILITY,
        "<500ms Red, >=500ms Green",
        "threshold 500ms is a duration, but the query gives ratios from 0 to 1 "
        "(unit percentunit); write the bound as a percentage, such as 99%, or as a "
        "ratio from 0 to 1, such as 0.99",
    ),
    Case(
        "count-percentage",
        None,
        "count(queue_depth)",
        "<50% Green, >=50% Red",
        "threshold 50% is a percentage, but the query gives counts (unit short); "
        "write the bound as a count, such as 5",
    ),
    # The query's unit is fixed by the catalog: a counter's rate.
    Case(
        "data-rate-duration",
        None,
        "sum(rate(network_sent_bytes_total[5m]))",
        "<2s Green, >=2s Red",
        "threshold 2s is a duration, but the query gives data rates in bytes per "
        "second (unit Bps); write the bound as a number of bytes per second, such "
        "as 1048576 for 1 MiB/s, because thresholds take no byte units",
    ),
    Case(
        "request-rate-percentage",
        None,
        "sum(rate(http_requests_total[5m]))",
        "<50% Green, >=50% Red",
        "threshold 50% is a percentage, but the query gives requests per second "
        "(unit reqps); write the bound as a number of requests per second, such as 5",
    ),
    Case(
        "rate-duration",
        None,
        "sum(rate(jobs_processed_total[5m]))",
        "<2s Green, >=2s Red",
        "threshold 2s is a duration, but the query gives rates per second (unit "
        "ops); write the bound as a number per second, such as 5",
    ),
    # The manifest sets the unit, and the query fixes none.
    Case(
        "written-bytes-duration",
        "bytes",
        "sum(queue_depth)",
        "<500ms Green, >=500ms Red",
        "threshold 500ms is a duration, but the panel's unit is bytes (data sizes "
        f"in bytes); {BYTES_ADVICE}",
    ),
    Case(
        "written-percentunit-duration",
        "percentunit",
        "sum(queue_depth)",
        "<2s Green, >=2s Red",
        "threshold 2s is a duration, but the panel's unit is percentunit (ratios "
        "from 0 to 1); write the bound as a percentage, such as 2%, or as a ratio "
        "from 0 to 1, such as 0.02",
    ),
    Case(
        "written-custom-unit-duration",
        "suffix: jobs",
        "sum(queue_depth)",
        "<2s Green, >=2s Red",
        "threshold 2s is a duration, but the panel's unit is suffix: jobs; write the "
        "bound as a number in suffix: jobs",
    ),
    # The manifest sets a unit other than the one that the query fixes.
    Case(
        "written-short-on-seconds",
        "short",
        "max(billing_consumer_lag_seconds)",
        "<2s Green, >=2s Red",
        "threshold 2s is a duration, but the panel's unit is short, while the query "
        "gives durations in seconds (unit s); set unit: s",
    ),
    Case(
        "written-bytes-on-ratio",
        "bytes",
        AVAILABILITY,
        "<99% Red, >=99% Green",
        "threshold 99% is a percentage, but the panel's unit is bytes (data sizes "
        "in bytes), while the query gives ratios from 0 to 1 (unit percentunit); "
        "set unit: percentunit",
    ),
    # The unit is unknown, so setting it is the fix.
    Case(
        "unknown-percentage",
        None,
        "sum(queue_depth)",
        "<80% Green, >=80% Red",
        f"threshold 80% is a percentage, but the query's unit is unknown (unit "
        f"short); {SET_PERCENT}",
    ),
    Case(
        "unknown-duration",
        None,
        "sum(queue_depth)",
        "<2s Green, >=2s Red",
        f"threshold 2s is a duration, but the query's unit is unknown (unit short); "
        f"{SET_TIME}",
    ),
    Case(
        "written-short-duration",
        "short",
        "sum(queue_depth)",
        "<2s Green, >=2s Red",
        f"threshold 2s is a duration, but the panel's unit is short; {SET_TIME}",
    ),
    Case(
        # deriv() of seconds is seconds per second, but derive_unit reads s from
        # the metric's name.
        "guessed-unit-percentage",
        None,
        "deriv(billing_consumer_lag_seconds[5m])",
        "<80% Green, >=80% Red",
        "threshold 80% is a percentage, but the query's unit is uncertain (the "
        f"panel shows it in s); {SET_PERCENT}",
    ),
    # A bare number above 1 on a query of ratios from 0 to 1.
    Case(
        "bare-number-on-ratio",
        None,
        AVAILABILITY,
        "<70 Red, >=70 Green",
        "threshold 70 is 7000%, because the query gives ratios from 0 to 1 (unit "
        "percentunit); write 70% for 70 percent",
    ),
    Case(
        "bare-number-on-written-percentunit",
        "percentunit",
        "sum(queue_depth)",
        "<70 Green, >=70 Red",
        "threshold 70 is 7000%, because the panel's unit is percentunit (values from "
        "0 to 1); write 70% for 70 percent, or set unit: percent if the query gives "
        "0 to 100",
    ),
]


def _messages(project: Path, case: Case) -> list[str]:
    unit = f"        unit: {json.dumps(case.unit)}\n" if case.unit else ""
    text = (
        HEADER
        + unit
        + f"        query: {json.dumps(case.query)}\n"
        + f"        thresholds: {json.dumps(case.thresholds)}\n"
    )
    write_manifest(project, "orders.yaml", text)
    result = build(Project.at(project))
    return [d.message for d in result.diagnostics if d.check == "thresholds/unit"]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_unit_message(project: Path, case: Case) -> None:
    assert _messages(project, case) == [case.expected]


def _findings(project: Path, query: str, thresholds: str) -> list[str]:
    text = (
        HEADER
        + f"        query: {json.dumps(query)}\n"
        + f"        thresholds: {json.dumps(thresholds)}\n"
    )
    write_manifest(project, "orders.yaml", text)
    result = build(Project.at(project))
    return sorted(
        f"{d.location.line}:{d.location.column} {d.check}: {d.message}"
        for d in result.diagnostics
        if d.check.startswith("thresholds/")
    )


SECONDS_PERCENTAGE = (
    "is a percentage, but the query gives durations in seconds (unit s); write the "
    "bound as a duration, such as 500ms or 2s, which the build converts to s"
)


def test_gap_and_unit_together(project: Path) -> None:
    found = _findings(project, "billing_consumer_lag_seconds", "<50% Green, >90% Red")
    assert found == [
        f"16:23 thresholds/unit: threshold 50% {SECONDS_PERCENTAGE}",
        "16:34 thresholds/syntax: threshold bands leave a gap between 50% and 90%; colour it with a band such as 50%-90% Yellow, or start the next band at 50%",
    ]


@pytest.mark.parametrize(
    ("text", "unit_error", "syntax_error"),
    [
        (
            ">90% Red, 40-95% Yellow, <50% Green",
            "16:23 thresholds/unit: threshold 90%",
            "16:32 thresholds/syntax: threshold bands overlap",
        ),
        (
            "<50% Green, >90% Red, 50-90% Yellow",
            "16:23 thresholds/unit: threshold 50%",
            "16:44 thresholds/syntax: threshold band 50%-90% is out of order",
        ),
    ],
    ids=["overlap", "mixed-order"],
)
def test_invalid_bands_and_unit_together(
    project: Path, text: str, unit_error: str, syntax_error: str
) -> None:
    found = _findings(project, "billing_consumer_lag_seconds", text)
    assert len(found) == 2
    assert found[0] == f"{unit_error} {SECONDS_PERCENTAGE}"
    assert found[1].startswith(syntax_error)


def test_bare_range_start_takes_unit(project: Path) -> None:
    """The 2 of `2-5s` is 2s, as in a valid text, so it is a duration on bytes."""
    found = _findings(project, "orders_cache_bytes", "<1 Green, 2-5s Red")
    assert found == [
        "16:32 thresholds/syntax: threshold bands leave a gap between 1 and 2s; colour it with a band such as 1-2s Yellow, or start the next band at 1",
        "16:32 thresholds/unit: threshold 2s is a duration, but the query gives "
        f"data sizes in bytes (unit bytes); {BYTES_ADVICE}",
    ]


def test_gap_and_bare_number_on_ratio(project: Path) -> None:
    found = _findings(project, AVAILABILITY, "<70 Red, >90 Green")
    assert found == [
        "16:23 thresholds/unit: threshold 70 is 7000%, because the query gives "
        "ratios from 0 to 1 (unit percentunit); write 70% for 70 percent",
        "16:31 thresholds/syntax: threshold bands leave a gap between 70 and 90; colour it with a band such as 70-90 Yellow, or start the next band at 70",
        "16:32 thresholds/unit: threshold 90 is 9000%, because the query gives "
        "ratios from 0 to 1 (unit percentunit); write 90% for 90 percent",
    ]


def test_gap_without_capacity(project: Path) -> None:
    found = _findings(project, "queue_depth", "<50% pool Green, >90% pool Red")
    assert found == [
        '16:21 thresholds/unit: threshold "<50% pool Green, >90% pool Red" is a '
        'percentage of "pool", but the panel sets no capacity; set capacity: to '
        "the size of the pool",
        "16:39 thresholds/syntax: threshold bands leave a gap between 50% and 90%; colour it with a band such as 50%-90% Yellow, or start the next band at 50%",
    ]


def test_unreadable_item_stops_unit_check(project: Path) -> None:
    """After an item that cannot be read, bare numbers have no unit to take."""
    found = _findings(project, "billing_consumer_lag_seconds", "<50% Green, >>90% Red")
    assert len(found) == 1
    assert found[0].startswith("16:34 thresholds/syntax: ")
