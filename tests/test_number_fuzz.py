"""Edge numbers in every number and duration field of the input files.

Each field of a small valid project gets, one at a time, a number at the edge of what
YAML, Python, Prometheus and Grafana read. These are numbers beyond the largest double,
closer to 0 than the smallest, too long for Python to print, NaN, the infinities,
integers beyond 32, 53 and 63 bits, and durations whose count is 2**32 or thousands
of digits long. The build, or `obscompile test` for a hand-written promtool test,
then exits 0, or exits 1 with an error at a line and column of the file that was
changed, and never prints a traceback. A setting of obscompile.yaml may instead give
an error in the manifest, such as a rate window shorter than a longer scrape interval
allows.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from obscompile.cli import main
from tests.test_prometheus import write_files

EDGE_NUMBERS = (
    "1e309",
    "-1e309",
    "1e-400",
    "5e-324",
    "1" + "0" * 4999,
    "0x" + "f" * 4000,
    ".nan",
    ".inf",
    "-.inf",
    str(2**32),
    str(2**53 + 1),
    str(2**63),
    "-0.0",
    "0",
)
EDGE_DURATIONS = ("4294967296ms", "4294967295ms", "9" * 5000 + "s", "0s")

# Each template is a small valid project file. A field is a marker such as @port@,
# and a field whose value is None leaves out the line that contains it.
# A field's kind selects its edge values: "number" and "text" the numbers,
# "duration" the durations too, and "repetitions" the numbers that promtool can
# expand. A marker inside a quoted string, such as a query, takes the value as text.
MANIFEST = """\
service: shop
runtime: python
scrape:
  job: shop
  port: @port@
  interval: @interval@
  timeout: @timeout@
alerts:
  for: @alerts_for@
  annotations:
    runbook_url: "https://runbooks.example.com/{{ @template_number@ }}"
dashboard:
  title: @dashboard_title@
  refresh: @refresh@
  time: "now-@time_count@h"
  version: @dashboard_version@
metrics:
  orders_total: {type: counter, labels: [code]}
  queue_depth: {type: gauge, help: @help@}
  latency_seconds: {type: histogram, buckets: [0.1, @bucket@]}
metric_blocks:
  - use: http_metrics
    with: {buckets: [0.05, @block_bucket@]}
rows:
  - title: Orders
    panels:
      - title: Order Rate
        type: gauge
        query: 'sum(rate(orders_total{job="shop"}[@range@] offset @offset@)) * @query_number@'
        thresholds: "<@threshold@ Green, >=@threshold@ Red"
        capacity: @capacity@
        decimals: @decimals@
        min: @min@
        max: @max@
        width: @width@
        height: @height@
        alert:
          for: @panel_alert_for@
          description: '{{ $value | humanize }}'
      - title: Latency
        type: stat
        unit: s
        query: 'histogram_quantile(0.95, sum by (le) (rate(latency_seconds_bucket{job="shop"}[5m])))'
        thresholds: "<@threshold_ms@ms Green, >=@threshold_ms@ms Red"
      - title: Slow Latency
        type: stat
        unit: s
        query: 'histogram_quantile(0.99, sum by (le) (rate(latency_seconds_bucket{job="shop"}[5m])))'
        thresholds: "<@threshold_duration@ Green, >=@threshold_duration@ Red"
      - title: Pool Use
        type: gauge
        query: 'sum(queue_depth{job="shop"})'
        capacity: 20
        thresholds: "<@threshold_percent@% pool Green, >=@threshold_percent@% pool Red"
      - title: Queue
        type: stat
        query: 'max(queue_depth{job="shop"})'
        thresholds:
          steps: [{color: green}, {value: @step@, color: red}]
          mappings: [{value: @mapping@, text: Empty, color: blue}]
  - use: http_api_health
    with: {job: shop, error_red: @error_red@, p95_red: @p95_red@, in_flight_red: @in_flight_red@}
  - use: scrape_health
    with: {job: shop, down_for: @down_for@, duration_red: @duration_red@}
"""
MANIFEST_FIELDS: dict[str, tuple[str | None, str]] = {
    "port": ("8080", "number"),
    "interval": (None, "duration"),
    "timeout": (None, "duration"),
    "alerts_for": (None, "duration"),
    "template_number": ("$labels.job", "text"),
    "dashboard_title": ("Shop", "number"),
    "refresh": ("1m", "duration"),
    "time_count": ("6", "text"),
    "dashboard_version": ("3", "number"),
    "help": ("Jobs waiting", "number"),
    "bucket": ("100", "number"),
    "block_bucket": ("1", "number"),
    "range": ("5m", "duration"),
    "offset": ("1m", "duration"),
    "query_number": ("100", "text"),
    "threshold": ("5", "text"),
    "capacity": ("20", "number"),
    "decimals": ("2", "number"),
    "min": ("0", "number"),
    "max": ("100", "number"),
    "width": ("12", "number"),
    "height": ("8", "number"),
    "panel_alert_for": ("10m", "duration"),
    "threshold_ms": ("300", "text"),
    "threshold_duration": ("1m30s", "duration"),
    "threshold_percent": ("80", "text"),
    "step": ("100", "number"),
    "mapping": ("0", "number"),
    "error_red": ("5", "number"),
    "p95_red": ("500ms", "duration"),
    "in_flight_red": ("100", "number"),
    "down_for": ("2m", "duration"),
    "duration_red": ("5s", "duration"),
}

CONFIG = """\
schema_version: @schema_version@
evaluation_interval: @evaluation_interval@
scrape_interval: @scrape_interval@
scrape_timeout: @scrape_timeout@
alert_for: @alert_for@
grafana_url: "http://localhost:@grafana_port@"
kubernetes_namespace: @kubernetes_namespace@
"""
CONFIG_FIELDS: dict[str, tuple[str | None, str]] = {
    "schema_version": ("42", "number"),
    "evaluation_interval": ("1m", "duration"),
    "scrape_interval": ("15s", "duration"),
    "scrape_timeout": ("10s", "duration"),
    "alert_for": ("5m", "duration"),
    "grafana_port": ("3000", "text"),
    "kubernetes_namespace": ("monitoring", "number"),
}

# A hand-written test whose checks hold whatever the changed field reads as, when
# promtool reads it: the count of a series, vector(1), an alert that never fires, and
# series z, whose value is the expected sample's as Python reads it.
PROMTOOL_TEST = """\
rule_files: [edge.rules.yml]
evaluation_interval: @evaluation_interval@
tests:
  - interval: @interval@
    input_series:
      - series: a
        values: '@value@ 2'
      - series: b
        values: '@start@+1x2'
      - series: c
        values: '1+@step@x2'
      - series: d
        values: '1x@repetitions@'
      - series: z
        values: '@z_value@'
    alert_rule_test:
      - eval_time: @alert_eval_time@
        alertname: EdgeNever
        exp_alerts: []
    promql_expr_test:
      - expr: count(a) + count(b) + count(c) + count(d)
        eval_time: 0m
        exp_samples: [{value: 4}]
      - expr: vector(1)
        eval_time: @expr_eval_time@
        exp_samples: [{value: 1}]
      - expr: z
        eval_time: 0m
        exp_samples: [{labels: z, value: @exp_value@}]
"""
PROMTOOL_FIELDS: dict[str, tuple[str | None, str]] = {
    "evaluation_interval": ("1m", "duration"),
    "interval": ("1m", "duration"),
    "value": ("1", "text"),
    "start": ("1", "text"),
    "step": ("1", "text"),
    "repetitions": ("2", "repetitions"),
    "alert_eval_time": ("2m", "duration"),
    "expr_eval_time": ("1m", "duration"),
    "exp_value": ("3", "number"),
}
PROMTOOL_RULES = """\
groups:
  - name: edge
    rules:
      - alert: EdgeNever
        expr: vector(1) > 2
"""
MANIFEST_FILE = "services/shop.yaml"
CONFIG_FILE = "obscompile.yaml"
TEST_FILE = "tests/promtool/edge.test.yml"

# promtool loads `1xN` as N + 1 samples, so a count of billions, which it reads, would
# make it load billions of samples: those counts stay out of the repetitions.
_TOO_MANY_SAMPLES = {str(2**32), str(2**53 + 1), str(2**63)}
_POSITION = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+):(?P<column>\d+): error: ")


def edge_values(kind: str) -> tuple[str, ...]:
    """Return the edge values for a field of kind `kind`."""
    if kind == "duration":
        return EDGE_DURATIONS + EDGE_NUMBERS
    if kind == "repetitions":
        return tuple(n for n in EDGE_NUMBERS if n not in _TOO_MANY_SAMPLES)
    return EDGE_NUMBERS


def fill(
    template: str, fields: Mapping[str, tuple[str | None, str]], changed: dict[str, str]
) -> str:
    """Return `template` with each field's default, or its value in `changed`."""
    values = {name: default for name, (default, _) in fields.items()} | changed
    lines = []
    for line in template.splitlines(keepends=True):
        names = re.findall(r"@(\w+)@", line)
        if any(values[name] is None for name in names):
            continue
        lines.append(re.sub(r"@(\w+)@", lambda m: str(values[m.group(1)]), line))
    return "".join(lines)


def changed_values(fields: Mapping[str, tuple[str | None, str]]) -> st.SearchStrategy:
    """Draw one field of `fields` and one edge value for it."""
    return st.sampled_from(sorted(fields)).flatmap(
        lambda name: st.tuples(
            st.just(name), st.sampled_from(edge_values(fields[name][1]))
        )
    )


def series_value(text: str) -> str:
    """Return the number that Python's YAML reads from `text`, in series notation."""
    try:
        number = float(yaml.safe_load(text))
    except (OverflowError, ValueError):
        return "Inf"
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Inf" if number > 0 else "-Inf"
    return repr(number)


def check_output(code: int, output: str, texts: Mapping[str, str]) -> None:
    """Assert that a run exited 0, or 1 with an error in one of the files of `texts`.

    `texts` maps the name of each file, relative to the working directory, to its
    text. Each error in these files is at a line and column inside the text.
    """
    assert code in (0, 1), output
    assert "Traceback" not in output, output
    if code == 0:
        return
    placed = 0
    for match in map(_POSITION.match, output.splitlines()):
        name = None if match is None else os.path.relpath(match["file"])
        if name not in texts:
            continue
        placed += 1
        lines = texts[name].splitlines()
        line, column = int(match["line"]), int(match["column"])
        assert 1 <= line <= len(lines), output
        assert 1 <= column <= len(lines[line - 1]) + 1, output
    assert placed, output


def run(project: Path, *arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, [*arguments, "--project", str(project)], catch_exceptions=False
    )
    return result.exit_code, result.output


DEFAULTS = {
    CONFIG_FILE: fill(CONFIG, CONFIG_FIELDS, {}),
    MANIFEST_FILE: fill(MANIFEST, MANIFEST_FIELDS, {}),
    "tests/promtool/edge.rules.yml": PROMTOOL_RULES,
    TEST_FILE: fill(PROMTOOL_TEST, PROMTOOL_FIELDS, {"z_value": series_value("3")}),
}


@pytest.fixture
def fuzz_project(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Return a project of the default files, which is also the working directory."""
    project = tmp_path_factory.mktemp("edge-numbers")
    write_files(project, DEFAULTS)
    monkeypatch.chdir(project)
    return project


def _settings(request: pytest.FixtureRequest, examples: int) -> settings:
    return settings(
        max_examples=examples * (10 if request.config.getoption("--slow") else 1),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        database=None,
    )


def test_defaults_build_and_pass(fuzz_project: Path) -> None:
    """The project that the examples change builds, and its hand-written test passes."""
    code, output = run(fuzz_project, "build")
    assert code == 0, output
    assert ": error: " not in output, output
    code, output = run(fuzz_project, "test")
    assert code == 0, output


def test_manifest_edge_numbers(
    fuzz_project: Path, request: pytest.FixtureRequest
) -> None:
    """Each manifest field, with block parameters and the numbers of queries."""

    @_settings(request, 300)
    @given(changed_values(MANIFEST_FIELDS))
    def build(change: tuple[str, str]) -> None:
        text = fill(MANIFEST, MANIFEST_FIELDS, dict([change]))
        write_files(fuzz_project, {MANIFEST_FILE: text})
        check_output(*run(fuzz_project, "build"), {MANIFEST_FILE: text})

    build()


def test_config_edge_numbers(
    fuzz_project: Path, request: pytest.FixtureRequest
) -> None:
    """Each setting of obscompile.yaml that takes a number or a duration."""

    @_settings(request, 60)
    @given(changed_values(CONFIG_FIELDS))
    def build(change: tuple[str, str]) -> None:
        text = fill(CONFIG, CONFIG_FIELDS, dict([change]))
        write_files(fuzz_project, {CONFIG_FILE: text})
        texts = {CONFIG_FILE: text, MANIFEST_FILE: DEFAULTS[MANIFEST_FILE]}
        check_output(*run(fuzz_project, "build"), texts)

    build()


def test_promtool_test_edge_numbers(
    fuzz_project: Path, request: pytest.FixtureRequest
) -> None:
    """`obscompile test` runs on out/, so the project is built first."""
    code, output = run(fuzz_project, "build")
    assert code == 0, output

    @_settings(request, 50)
    @given(changed_values(PROMTOOL_FIELDS))
    def run_tests(change: tuple[str, str]) -> None:
        name, value = change
        expected = value if name == "exp_value" else "3"
        changed = {name: value, "z_value": series_value(expected)}
        text = fill(PROMTOOL_TEST, PROMTOOL_FIELDS, changed)
        write_files(fuzz_project, {TEST_FILE: text})
        check_output(*run(fuzz_project, "test"), {TEST_FILE: text})

    run_tests()
