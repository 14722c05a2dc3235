# ruff: noqa: E501 -- manifest texts keep each PromQL query on one line, as manifests do.
"""A manifest that fails to load: its own errors, and every real error of the others.

The checks that report a name as missing from every service (an unknown metric, scrape
job or label) stay silent while a manifest that may declare the name failed to load.
A metric selected with a job that its service scrapes itself is checked against that
service's catalog alone. Every other check of the other services still runs.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from obscompile.check import run_checks
from obscompile.cli import main
from obscompile.load.project import load_project

INVENTORY = """\
service: inventory
scrape:
  - {job: inventory, port: 8080}
  - {job: inventory_db, port: 9187}
metrics:
  inventory_items: {type: gauge, labels: [warehouse]}
  order_total: {type: counter, labels: [warehouse]}
  http_requests_total: {type: counter, labels: [code]}
rows:
  - title: Stock
    panels:
      - {title: Items, query: 'sum(inventory_items{job="inventory"})'}
      - {title: Orders, query: 'sum(rate(checkout_orders_total[5m]))'}
"""

CHECKOUT = """\
service: checkout
scrape: {job: checkout, port: 8080, interval: 5s}
metrics:
  checkout_orders_total: {type: counter, labels: [payment_method]}
  orders_total: {type: counter, labels: [payment_method]}
  http_requests_total: {type: counter, labels: [code, route]}
rows:
  - title: Orders
    panels:
      - {title: Orders, query: 'sum(rate(checkout_orders_total{job="checkout"}[1m]))'}
"""

# A service without scrape jobs or catalog, which charts the others.
OVERVIEW = """\
service: overview
rows:
  - title: All
    panels:
      - {title: Orders, query: 'sum(rate(checkout_orders_total{job="checkout"}[20s]))'}
      - {title: Routes, query: 'sum by (route) (rate(http_requests_total{job="checkout"}[5m]))'}
      - {title: Methods, query: 'sum(rate(orders_total{payment_method="card"}[5m]))'}
      - {title: Jobs, query: 'count(up{job=~"checkout|inventory"})'}
"""

# Errors that do not depend on checkout's declarations, one per service.
REAL_ERRORS = [
    'services/inventory.yaml:14:51: error: metric "inventory_items" has no label "warehuose"; did you mean "warehouse"? [promql/unknown-label]',
    # The job is inventory's own, so no other manifest can declare what it exports.
    'services/inventory.yaml:15:34: error: metric "inventory_itemz" is not in the catalog of service "inventory", which scrapes job "inventory"; did you mean "inventory_items"? [promql/unknown-metric]',
    'services/overview.yaml:9:58: error: panel "Latency": histogram_quantile() gets an aggregation "sum(...)" that drops "le"; the result is always empty. Use "sum by (le)" [promql/histogram-le]',
]
WITH_REAL_ERRORS = {
    "inventory.yaml": INVENTORY
    + "      - {title: Typo, query: 'sum(inventory_items{warehuose=\"a\"})'}\n"
    + "      - {title: Own, query: 'sum(inventory_itemz{job=\"inventory\"})'}\n",
    "overview.yaml": OVERVIEW
    + "      - {title: Latency, query: 'histogram_quantile(0.9, sum(rate(a_bucket[5m])))'}\n",
}

# Ways for checkout to fail to load. With an unknown metric block, the service loads
# without the HTTP metrics that the block was to declare.
BROKEN_TEXTS = {
    "broken-yaml": CHECKOUT.replace("rows:", "rows: ["),
    "tab": CHECKOUT.replace("  - title: Orders", "\t- title: Orders"),
    "empty": "",
    "unknown-key": CHECKOUT.replace("metrics:", "metricz:"),
    "bad-byte": CHECKOUT.replace("Orders", "Ord\udcffers"),
    "unknown-metric-block": re.sub(
        "  http_requests_total.*\nrows:",
        "metric_blocks:\n  - use: http_metricz\nrows:",
        CHECKOUT,
    ),
    "python-error": "from obscompile import dsl\n\nraise KeyError('orders')\n",
}
# The error of each, which names the file to write the text to.
BROKEN_ERRORS = {
    "broken-yaml": "services/checkout.yaml:8:3: error: invalid YAML: did not find expected node content [yaml/syntax]",
    "tab": "services/checkout.yaml:8:1: error: invalid YAML: a tab character indents this line, but YAML indents with spaces only; replace the tab with spaces [yaml/syntax]",
    "empty": "services/checkout.yaml:1:1: error: the file is empty; a manifest needs `service:` [yaml/empty]",
    "unknown-key": 'services/checkout.yaml:3:1: error: unknown key "metricz" in the manifest (did you mean "metrics"?) [manifest/schema]',
    "bad-byte": "services/checkout.yaml:8:15: error: file is not valid UTF-8 [io/read]",
    "unknown-metric-block": 'services/checkout.yaml:7:10: error: unknown block "http_metricz" (did you mean "http_metrics"?) [manifest/block]',
    "python-error": "services/checkout.py:3:1: error: KeyError: 'orders' [dsl/error]",
}
BROKEN = {
    case: (Path(BROKEN_ERRORS[case].partition(":")[0]).name, text, BROKEN_ERRORS[case])
    for case, text in BROKEN_TEXTS.items()
}


def write_project(project: Path, files: dict[str, str]) -> None:
    services = project / "services"
    services.mkdir(exist_ok=True)
    for path in services.iterdir():
        path.unlink()
    for name, text in files.items():
        data = text.encode("utf-8", errors="surrogateescape")
        (services / name).write_bytes(data)


def build_lines(*options: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, ["build", *options])
    lines = [
        line
        for line in result.stderr.splitlines()
        if ": error: " in line or ": warning: " in line
    ]
    return result.exit_code, lines


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_loaded_project_has_no_errors(project: Path) -> None:
    """The charts of the other manifests are right once checkout loads."""
    files = {"inventory.yaml": INVENTORY, "checkout.yaml": CHECKOUT}
    write_project(project, {**files, "overview.yaml": OVERVIEW})
    assert build_lines("--no-cache") == (0, [])


@pytest.mark.parametrize("broken", list(BROKEN), ids=list(BROKEN))
@pytest.mark.parametrize("cache", [True, False], ids=["cache", "no-cache"])
def test_failed_manifest_errors_alone(project: Path, broken: str, cache: bool) -> None:
    name, text, expected = BROKEN[broken]
    files = {"inventory.yaml": INVENTORY, "overview.yaml": OVERVIEW}
    write_project(project, {**files, "checkout.yaml": CHECKOUT})
    if cache:
        # The stored results of the other services were computed with checkout.
        assert build_lines() == (0, [])
    write_project(project, {**files, name: text})
    code, lines = build_lines() if cache else build_lines("--no-cache")
    assert code == 1
    assert lines == [expected]


@pytest.mark.parametrize("broken", list(BROKEN), ids=list(BROKEN))
def test_failed_manifest_keeps_real_errors(project: Path, broken: str) -> None:
    name, text, expected = BROKEN[broken]
    write_project(project, {**WITH_REAL_ERRORS, name: text})
    code, lines = build_lines("--no-cache")
    assert code == 1
    assert lines == sorted([expected, *REAL_ERRORS])


# What the other manifests get when checkout is not part of the project at all.
WITHOUT_CHECKOUT = [
    'services/inventory.yaml:13:42: error: metric "checkout_orders_total" is not in the catalog of service "inventory" or of any other service; did you mean "order_total"? [promql/unknown-metric]',
    'services/overview.yaml:5:68: error: job "checkout" is not a scrape job of the project; the scrape jobs are inventory, inventory_db [promql/job-matcher]',
    "services/overview.yaml:5:79: error: rate window [20s] is shorter than 2 × scrape interval (15s); use at least [30s] (4 × interval, [1m], recommended), or [$__rate_interval] on a dashboard [promql/rate-window]",
    'services/overview.yaml:6:41: error: sum by (route): the aggregated series have no label "route"; their labels are code, instance, job [promql/unknown-label]',
    'services/overview.yaml:6:78: error: job "checkout" is not a scrape job of the project; the scrape jobs are inventory, inventory_db [promql/job-matcher]',
    'services/overview.yaml:7:43: warning: metric "orders_total" is not in any catalog; did you mean "order_total"? Service "overview" declares no metrics, so only names close to a declared one are reported [promql/unknown-metric]',
    'services/overview.yaml:8:46: error: job "checkout" in regex "checkout|inventory" is not a scrape job of the project; the scrape jobs are inventory, inventory_db [promql/job-matcher]',
]


def test_absence_reported_without_failed_manifest(project: Path) -> None:
    write_project(project, {"inventory.yaml": INVENTORY, "overview.yaml": OVERVIEW})
    assert build_lines("--no-cache") == (1, WITHOUT_CHECKOUT)


@pytest.mark.parametrize("cache", [True, False], ids=["cache", "no-cache"])
def test_threshold_error_holds_nothing_back(project: Path, cache: bool) -> None:
    """A manifest whose only errors are in thresholds declares all it would."""
    files = {"inventory.yaml": INVENTORY, "overview.yaml": OVERVIEW}
    bad_colour = CHECKOUT + (
        "      - {title: Typo, query: 'sum(rate(checkout_order_total[5m]))',"
        ' thresholds: "<1 Green, >1 Rd"}\n'
    )
    write_project(project, {**files, "checkout.yaml": CHECKOUT})
    if cache:
        assert build_lines() == (0, [])
    write_project(project, {**files, "checkout.yaml": bad_colour})
    code, lines = build_lines() if cache else build_lines("--no-cache")
    assert code == 1
    assert [line.split(": error: ")[1].split(" ")[:2] for line in lines] == [
        ["metric", '"checkout_order_total"'],
        ["unknown", "colour"],
    ]


def test_job_catalog_check_waits_for_failed_manifest(project: Path) -> None:
    """A failed manifest may also scrape the job and declare what it exports."""
    overview = (
        "service: overview\nrows:\n  - title: All\n    panels:\n"
        "      - {title: Gone, query: 'sum(rate(renamed_total{job=\"checkout\"}[5m]))'}\n"
    )
    files = {"checkout.yaml": CHECKOUT, "overview.yaml": overview}
    write_project(project, {**files, "extra.yaml": "service: extra\nrows: [\n"})
    code, lines = build_lines("--no-cache")
    assert code == 1
    assert [line for line in lines if "renamed_total" in line] == []
    write_project(project, files)
    assert build_lines("--no-cache") == (
        1,
        [
            'services/overview.yaml:5:40: error: metric "renamed_total" is not in the catalog of service "checkout", which scrapes job "checkout"; did you mean "orders_total"? [promql/unknown-metric]'
        ],
    )


def test_run_checks_takes_failed_manifests(project: Path) -> None:
    write_project(project, {"inventory.yaml": INVENTORY, "overview.yaml": OVERVIEW})
    loaded = load_project(Path("services"))
    assert loaded.failed == ()
    # The build's scrape interval, where run_checks has Prometheus's default of 1m.
    interval = "15s"
    complete = run_checks(
        loaded.services, sources=loaded.sources, scrape_interval=interval
    )
    assert [str(d) for d in complete] == WITHOUT_CHECKOUT
    failed = run_checks(
        loaded.services,
        sources=loaded.sources,
        scrape_interval=interval,
        failed_manifests=("services/checkout.yaml",),
    )
    assert failed == []


def test_load_result_names_failed_manifests(project: Path) -> None:
    files = {"inventory.yaml": INVENTORY, "overview.yaml": OVERVIEW}
    for broken, (name, text, _) in BROKEN.items():
        write_project(project, {**files, name: text})
        loaded = load_project(Path("services"))
        assert loaded.failed == (f"services/{name}",), broken
