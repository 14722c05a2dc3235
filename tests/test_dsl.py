"""The Python DSL, building blocks, overrides, and their positioned errors."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from obscompile import dsl
from obscompile.blocks.params import rising_bands
from obscompile.cli import main
from obscompile.load.thresholds import parse_shorthand
from obscompile.model.location import BlockUse, Location
from obscompile.pipeline import Project, build
from tests.conftest import write_manifest

YAML_SERVICE = """\
service: payments
runtime: python
dashboard: {uid: payments, title: Payments, folder: Payments, tags: [pay]}
scrape: {job: payments, port: 8080, interval: 15s}
metrics:
  http_requests_total: {type: counter, help: Requests, labels: [code]}
  queue_depth: {type: gauge, help: Queue depth, labels: [queue]}
rows:
  - title: Traffic
    panels:
      - title: Error Rate
        type: gauge
        query: 'sum(rate(http_requests_total{job="payments",code=~"5.."}[5m])) / sum(rate(http_requests_total{job="payments"}[5m])) * 100'
        thresholds: "<1% Green, 1-5% Yellow, >5% Red"
      - title: Queue
        query: 'sum by (queue) (queue_depth{job="payments"})'
        thresholds: "<100 Green, 100-500 Yellow, >500 Red"
"""

PYTHON_SERVICE = """\
from obscompile import dsl

dsl.service(
    "payments",
    runtime="python",
    dashboard=dsl.dashboard(uid="payments", title="Payments", folder="Payments", tags=["pay"]),
    scrape=dsl.scrape_job("payments", port=8080, interval="15s"),
    metrics=[
        dsl.counter("http_requests_total", "Requests", ["code"]),
        dsl.gauge("queue_depth", "Queue depth", ["queue"]),
    ],
    rows=[
        dsl.row("Traffic", [
            dsl.panel(
                "Error Rate",
                'sum(rate(http_requests_total{job="payments",code=~"5.."}[5m])) / sum(rate(http_requests_total{job="payments"}[5m])) * 100',
                type="gauge",
                thresholds="<1% Green, 1-5% Yellow, >5% Red",
            ),
            dsl.panel(
                "Queue",
                'sum by (queue) (queue_depth{job="payments"})',
                thresholds="<100 Green, 100-500 Yellow, >500 Red",
            ),
        ]),
    ],
)
"""


def _files(folder: Path) -> dict[str, str]:
    result = build(Project.at(folder))
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    return result.files


def _errors(folder: Path) -> list[str]:
    result = build(Project.at(folder))
    return [str(d) for d in result.diagnostics]


def test_yaml_and_python_are_equivalent(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    yaml_project = write_manifest(tmp_path / "y", "payments.yaml", YAML_SERVICE)
    python_project = write_manifest(tmp_path / "p", "payments.py", PYTHON_SERVICE)
    yaml_files = _files(yaml_project)
    assert yaml_files
    assert _files(python_project) == yaml_files


EXPORTER_YAML = """\
service: postgres
scrape: {job: postgres, port: 9187}
metrics:
  pg_stat_database_xact_commit: {type: counter, labels: [datname]}
  pg_static: {type: info, labels: [short_version]}
  node_uname_info: {type: info, labels: [release]}
metric_blocks: [{use: backend_metrics}]
rows:
  - title: Database
    panels:
      - title: Commits
        query: 'sum(rate(pg_stat_database_xact_commit{job="postgres"}[5m]))'
        thresholds: "<1000 Green, 1000-5000 Yellow, >5000 Red"
      - title: Versions
        query: 'sum(pg_static{job="postgres"}) + sum(node_uname_info{job="postgres"})'
      - title: Backends
        query: 'sum(rate(pg_backends_started{job="postgres"}[5m]))'
"""

EXPORTER_PYTHON = """\
from obscompile import dsl

dsl.service(
    "postgres",
    scrape=dsl.scrape_job("postgres", port=9187),
    metrics=[
        dsl.counter("pg_stat_database_xact_commit", labels=["datname"]),
        dsl.metric("pg_static", "info", labels=["short_version"]),
        dsl.metric("node_uname_info", "info", labels=["release"]),
        dsl.use("backend_metrics"),
    ],
    rows=[
        dsl.row("Database", [
            dsl.panel(
                "Commits",
                'sum(rate(pg_stat_database_xact_commit{job="postgres"}[5m]))',
                thresholds="<1000 Green, 1000-5000 Yellow, >5000 Red",
            ),
            dsl.panel(
                "Versions",
                'sum(pg_static{job="postgres"}) + sum(node_uname_info{job="postgres"})',
            ),
            dsl.panel(
                "Backends",
                'sum(rate(pg_backends_started{job="postgres"}[5m]))',
            ),
        ]),
    ],
)
"""

# A project block that returns a counter, as `metric_blocks:` and dsl.use() read it.
BACKEND_METRICS_BLOCK = """\
from obscompile import dsl

@dsl.block("backend_metrics")
def backend_metrics():
    return [dsl.counter("pg_backends_started")]
"""


def _exporter_project(folder: Path, name: str, text: str) -> Path:
    project = write_manifest(folder, name, text)
    (project / "blocks").mkdir()
    (project / "blocks" / "backends.py").write_text(BACKEND_METRICS_BLOCK)
    return project


def test_exporter_yaml_and_python_are_equivalent(tmp_path: Path, monkeypatch) -> None:
    """Without a runtime, both read a counter and an info metric by declared names."""
    monkeypatch.chdir(tmp_path)
    yaml_project = _exporter_project(tmp_path / "y", "postgres.yaml", EXPORTER_YAML)
    python_project = _exporter_project(tmp_path / "p", "postgres.py", EXPORTER_PYTHON)
    yaml_result = build(Project.at(yaml_project))
    python_result = build(Project.at(python_project))
    assert [str(d) for d in yaml_result.diagnostics] == []
    assert [str(d) for d in python_result.diagnostics] == []
    assert python_result.files == yaml_result.files
    (yaml_service,) = yaml_result.services
    (python_service,) = python_result.services
    assert python_service.metrics == yaml_service.metrics
    assert [m.series_names() for m in python_service.metrics] == [
        ("pg_stat_database_xact_commit", "pg_stat_database_xact_commit_total"),
        ("pg_static", "pg_static_info"),
        ("node_uname_info",),
        ("pg_backends_started", "pg_backends_started_total"),
    ]


def test_runtime_service_reads_suffixed_names(tmp_path: Path, monkeypatch) -> None:
    """With a runtime, YAML and Python reject the unsuffixed names alike."""
    monkeypatch.chdir(tmp_path)
    yaml_text = EXPORTER_YAML.replace(
        "service: postgres\n", "service: postgres\nruntime: python\n"
    )
    python_text = EXPORTER_PYTHON.replace(
        '"postgres",\n', '"postgres",\n    runtime="python",\n', 1
    )
    yaml_errors = _errors(_exporter_project(tmp_path / "y", "postgres.yaml", yaml_text))
    python_errors = _errors(
        _exporter_project(tmp_path / "p", "postgres.py", python_text)
    )
    exposed = [
        (
            "pg_stat_database_xact_commit",
            "a counter",
            "pg_stat_database_xact_commit_total",
        ),
        ("pg_static", "an info", "pg_static_info"),
        ("node_uname_info", "an info", "node_uname_info_info"),
        ("pg_backends_started", "a counter", "pg_backends_started_total"),
    ]
    expected = [
        f'error: metric "{name}" is {kind} of the catalog of service "postgres", '
        f'which the client libraries expose as "{series}"; query "{series}" '
        "[promql/unknown-metric]"
        for name, kind, series in exposed
    ]
    assert [line.partition(": ")[2] for line in yaml_errors] == expected
    assert [line.partition(": ")[2] for line in python_errors] == expected


def test_dashboard_without_uid_and_title_derives_them(
    tmp_path: Path, monkeypatch
) -> None:
    """dsl.dashboard() derives what a manifest's dashboard: without uid or title does."""
    monkeypatch.chdir(tmp_path)
    yaml_text = YAML_SERVICE.replace(
        "dashboard: {uid: payments, title: Payments, folder: Payments, tags: [pay]}",
        "dashboard: {folder: Payments, tags: [pay]}",
    )
    python_text = PYTHON_SERVICE.replace(
        'dsl.dashboard(uid="payments", title="Payments", folder="Payments", tags=["pay"])',
        'dsl.dashboard(folder="Payments", tags=["pay"])',
    )
    assert yaml_text != YAML_SERVICE
    assert python_text != PYTHON_SERVICE
    yaml_files = _files(write_manifest(tmp_path / "y", "payments.yaml", yaml_text))
    python_files = _files(write_manifest(tmp_path / "p", "payments.py", python_text))
    assert '"title": "payments"' in yaml_files["grafana/dashboards/payments.json"]
    assert python_files == yaml_files


@pytest.mark.parametrize(
    ("block", "with_yaml", "with_python", "query"),
    [
        (
            "http_api_health",
            "{job: api, p95_red: 500ms}",
            'job="api", p95_red="500ms"',
            'sum(http_requests_in_progress{job="api"})',
        ),
        (
            "scrape_health",
            "{job: api, down_for: 2m}",
            'job="api", down_for="2m"',
            'up{job="api"}',
        ),
    ],
)
def test_block_row_in_yaml_equals_python(
    tmp_path: Path,
    monkeypatch,
    block: str,
    with_yaml: str,
    with_python: str,
    query: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    header = "service: api\nscrape: {job: api, port: 80}\nmetric_blocks: [{use: http_metrics}]\n"
    yaml_project = write_manifest(
        tmp_path / "y",
        "api.yaml",
        header + f"rows:\n  - use: {block}\n    with: {with_yaml}\n",
    )
    python_project = write_manifest(
        tmp_path / "p",
        "api.py",
        textwrap.dedent(
            f"""\
            from obscompile import dsl
            dsl.service(
                "api",
                scrape=dsl.scrape_job("api", port=80),
                metrics=dsl.http_metrics(),
                rows=[dsl.use("{block}", {with_python})],
            )
            """
        ),
    )
    yaml_files = _files(yaml_project)
    dashboard = json.loads(yaml_files["grafana/dashboards/api.json"])
    queries = [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]
    assert query in queries
    assert _files(python_project) == yaml_files


PROBE_YAML = """\
service: probes
scrape:
  job: blackbox
  probe: {exporter: "blackbox:9115", module: http_2xx}
  targets: ["https://a.example/health"]
rows:
  - title: Probes
    panels:
      - {title: Up, query: 'probe_success{job="blackbox"}', thresholds: "1=Green, 0=Red"}
"""

PROBE_PYTHON = """\
from obscompile import dsl
dsl.service(
    "probes",
    scrape=dsl.scrape_job(
        "blackbox",
        targets=["https://a.example/health"],
        probe=dsl.probe("blackbox:9115", "http_2xx"),
    ),
    rows=[
        dsl.row("Probes", [
            dsl.panel("Up", 'probe_success{job="blackbox"}', thresholds="1=Green, 0=Red"),
        ]),
    ],
)
"""


def test_probe_job_in_yaml_equals_python(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    yaml_files = _files(write_manifest(tmp_path / "y", "probes.yaml", PROBE_YAML))
    python_files = _files(write_manifest(tmp_path / "p", "probes.py", PROBE_PYTHON))
    assert "replacement: blackbox:9115" in yaml_files["prometheus/prometheus.yml"]
    assert python_files == yaml_files


def test_probe_takes_probe_object(project: Path) -> None:
    write_manifest(
        project,
        "probes.py",
        "from obscompile import dsl\n"
        "dsl.scrape_job('bb', targets=['a'], probe={'exporter': 'bb:1'})\n",
    )
    assert _errors(project) == [
        "services/probes.py:2:43: error: dsl.scrape_job(): probe must be "
        "dsl.probe(exporter, module), not a mapping [dsl/error]"
    ]


ANNOTATED_YAML = """\
service: api
scrape: {job: api, port: 80}
alerts:
  annotations: {runbook_url: "https://runbooks.example.com/{{ $labels.job }}"}
rows:
  - title: A
    panels:
      - title: Up
        query: up{job="api"}
        thresholds: "1=Green, 0=Red"
        alert: {annotations: {channel: "#api"}}
"""

ANNOTATED_PYTHON = """\
from obscompile import dsl
dsl.service(
    "api",
    scrape=dsl.scrape_job("api", port=80),
    alert_annotations={"runbook_url": "https://runbooks.example.com/{{ $labels.job }}"},
    rows=[
        dsl.row("A", [
            dsl.panel(
                "Up",
                'up{job="api"}',
                thresholds="1=Green, 0=Red",
                alert=dsl.alert(annotations={"channel": "#api"}),
            ),
        ]),
    ],
)
"""


def test_annotations_in_yaml_equal_python(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    yaml_files = _files(write_manifest(tmp_path / "y", "api.yaml", ANNOTATED_YAML))
    python_files = _files(write_manifest(tmp_path / "p", "api.py", ANNOTATED_PYTHON))
    assert "channel: '#api'" in yaml_files["prometheus/rules/api.rules.yml"]
    assert python_files == yaml_files


def test_http_api_health_block() -> None:
    row = dsl.use("http_api_health", job="auth", p95_yellow="200ms", p95_red="500ms")
    assert row.title == "API Health"
    assert [p.title for p in row.panels] == [
        "Request Rate",
        "Error Rate (4xx/5xx)",
        "P95 Latency",
        "In-Flight Requests",
    ]
    assert row.panels[0].query == 'sum(rate(http_requests_total{job="auth"}[5m]))'
    assert (
        row.panels[2].thresholds.text == "<200ms Green, 200ms-500ms Yellow, >500ms Red"
    )
    assert row.panels[3].thresholds is None


def test_http_api_health_order() -> None:
    row = dsl.use("http_api_health", job="a", order=["in_flight", "request_rate"])
    assert [p.title for p in row.panels] == ["In-Flight Requests", "Request Rate"]


def test_http_api_health_bad_order() -> None:
    with pytest.raises(dsl.DSLError, match='order names unknown panel "latency"'):
        dsl.use("http_api_health", job="a", order=["latency"])


def test_http_metrics_block() -> None:
    metrics = dsl.http_metrics(buckets=[0.1, 1])
    assert [(m.name, str(m.type)) for m in metrics] == [
        ("http_requests_total", "counter"),
        ("http_request_duration_seconds", "histogram"),
        ("http_requests_in_progress", "gauge"),
    ]
    assert metrics[1].buckets == (0.1, 1.0)


def test_override_changes_and_adds() -> None:
    base = dsl.use("http_api_health", job="a")
    changed = dsl.override(
        base,
        {"title": "Request Rate", "description": "All requests"},
        dsl.panel("Extra", "up"),
    )
    assert changed.panels[0].description == "All requests"
    assert changed.panels[0].query == base.panels[0].query
    assert [p.title for p in changed.panels][-1] == "Extra"


def test_override_unknown_field() -> None:
    base = dsl.use("http_api_health", job="a")
    with pytest.raises(
        dsl.DSLError,
        match='unknown panel field "descripton" \\(did you mean "description"\\?\\)',
    ):
        dsl.override(base, {"title": "Request Rate", "descripton": "x"})


def test_yaml_override_and_new_panel(project: Path) -> None:
    write_manifest(
        project,
        "api.yaml",
        """service: api
rows:
  - use: http_api_health
    with: {job: api}
    panels:
      - {title: Request Rate, type: timeseries, description: Changed}
      - {title: Up, query: 'up{job="api"}'}
""",
    )
    result = build(Project.at(project))
    assert result.ok
    (row,) = result.services[0].rows
    assert [p.title for p in row.panels][-1] == "Up"
    assert row.panels[0].description == "Changed"
    assert str(row.panels[0].type) == "timeseries"


BLOCK_ERRORS = [
    (
        "rows:\n  - use: http_api_healt\n",
        'services/api.yaml:3:10: error: unknown block "http_api_healt" (did you mean "http_api_health"?) [manifest/block]',
    ),
    (
        "rows:\n  - use: http_api_health\n    with: {jbo: api}\n",
        [
            'services/api.yaml:3:5: error: block "http_api_health" needs parameter "job" [manifest/block]',
            'services/api.yaml:4:12: error: block "http_api_health" has no parameter "jbo" (did you mean "job"?) [manifest/block]',
        ],
    ),
    (
        "rows:\n  - use: http_api_health\n",
        'services/api.yaml:3:5: error: block "http_api_health" needs parameter "job" [manifest/block]',
    ),
    (
        "rows:\n  - use: http_api_health\n    with: {job: api}\n    panels:\n      - {title: Request Rat, unit: s}\n",
        'services/api.yaml:6:17: error: block "http_api_health" has no panel "Request Rat" to change (did you mean "Request Rate"?); a new panel needs a query [manifest/block]',
    ),
    (
        "rows:\n  - use: scrape_health\n    with: {job: api, down_for: 2x}\n",
        'services/api.yaml:4:32: error: block "scrape_health": down_for is "2x", which is not a Prometheus duration; write units from largest to smallest, each at most once, such as 2m or 1h30m [manifest/block]',
    ),
    (
        "rows:\n  - use: scrape_health\n    with: {job: api, down_for: 120}\n",
        'services/api.yaml:4:32: error: block "scrape_health": down_for is the number 120, which is not a Prometheus duration; write units from largest to smallest, each at most once, such as 2m or 1h30m [manifest/block]',
    ),
    (
        "rows:\n  - use: scrape_health\n    with: {job: api, down_for: '0'}\n",
        'services/api.yaml:4:32: error: block "scrape_health": down_for is "0", a duration without a unit; write a Prometheus duration such as 15s, 5m or 1h30m [manifest/block]',
    ),
    (
        "metric_blocks:\n  - use: http_metrics\n    with: {buckets: []}\n",
        'services/api.yaml:3:10: error: block "http_metrics" failed: buckets must not be empty [manifest/block]',
    ),
    (
        "rows:\n  - use: scrape_health\n    with: {job: api, duration_red: 5%}\n",
        'services/api.yaml:4:36: error: block "scrape_health": duration_red is "5%", which is not a duration; write a duration such as "500ms" [manifest/block]',
    ),
    (
        "rows:\n  - use: scrape_health\n    with: {job: 'a\"b'}\n",
        """services/api.yaml:4:17: error: block "scrape_health": job is 'a"b'; a job name has no quotes, backslashes or line breaks [manifest/block]""",
    ),
    (
        "metric_blocks: [{use: http_metric}]\n",
        'services/api.yaml:2:23: error: unknown block "http_metric" (did you mean "http_metrics"?) [manifest/block]',
    ),
]


@pytest.mark.parametrize(("text", "expected"), BLOCK_ERRORS)
def test_yaml_block_errors(project: Path, text: str, expected: str | list[str]) -> None:
    write_manifest(project, "api.yaml", "service: api\n" + text)
    assert _errors(project) == ([expected] if isinstance(expected, str) else expected)


def test_scrape_health_same_job_twice(project: Path) -> None:
    """A second scrape health row of one job gets a warning at its use."""
    write_manifest(
        project,
        "api.yaml",
        "service: api\nscrape: {job: api, port: 80}\nrows:\n"
        "  - use: scrape_health\n    with: {job: api}\n"
        "  - use: scrape_health\n    with: {job: api}\n",
    )
    assert _errors(project) == [
        'services/api.yaml:6:5: warning: alert name "ApiTargetsUp" is taken by '
        'another alert of this service, so this one is named "ApiTargetsUp2Critical"; '
        "give it a name of its own [alerts/name]"
    ]


PYTHON_ERRORS = [
    (
        "from obscompile import dsl\n\ndsl.panel('p', 'up', type='stats')\n",
        'services/api.py:3:27: error: panel type "stats" is not one of stat, gauge, timeseries, table, barchart, piechart, heatmap (did you mean "stat"?) [dsl/error]',
    ),
    (
        "from obscompile import dsl\nx = 1\ndsl.panel('p', 'up', thresholds='<1 Green, 2-3 Red')\n",
        "services/api.py:3:33: error: threshold bands leave a gap between 1 and 2; colour it with a band such as 1-2 Yellow, or start the next band at 1 [dsl/error]",
    ),
    (
        "from obscompile import dsl\ndsl.panel('p', 'up', thresholds='<1 Gren, , >1 Rd')\n",
        'services/api.py:2:33: error: unknown colour "Gren" (did you mean "green"?); '
        'empty threshold item; unknown colour "Rd" (did you mean "red"?) [dsl/error]',
    ),
    (
        "from obscompile import dsl\n\ndsl.use('http_api_healt', job='a')\n",
        'services/api.py:3:9: error: unknown block "http_api_healt" (did you mean "http_api_health"?) [dsl/error]',
    ),
    (
        "from obscompile import dsl\ny = undefined_name\n",
        "services/api.py:2:5: error: NameError: name 'undefined_name' is not defined [dsl/error]",
    ),
    (
        "def f(:\n",
        "services/api.py:1:7: error: invalid Python: invalid syntax [dsl/syntax]",
    ),
]


@pytest.mark.parametrize(("text", "expected"), PYTHON_ERRORS)
def test_python_module_errors(project: Path, text: str, expected: str) -> None:
    write_manifest(project, "api.py", text)
    assert _errors(project) == [expected]


def test_python_colour_warning(project: Path) -> None:
    """A Python service gets the warning for a colour no alert can place."""
    write_manifest(
        project,
        "api.py",
        "from obscompile import dsl\n"
        "dsl.service('api', scrape=dsl.scrape_job('api', port=80), rows=[\n"
        "    dsl.row('A', [dsl.panel('p', 'up', thresholds='<1 Green, >1 #abcdef')]),\n"
        "])\n",
    )
    result = build(Project.at(project))
    assert [str(d) for d in result.diagnostics] == [
        'services/api.py:3:51: warning: colour "#abcdef" is neither clearly red nor '
        "clearly yellow, so no alert fires for the values shown in it; write a "
        "Grafana colour name (red, dark-red, yellow, green, blue, ...) instead "
        "[thresholds/colour]"
    ]


# Mappings that a manifest's `thresholds:` may not contain.
INVALID_THRESHOLD_MAPPINGS = [
    {"steps": [{"value": None}]},
    {"steps": [], "unit": 5, "step": ["red"]},
    {"steps": "red"},
    {"series": {"api": 5}, "mappings": [{"value": 1}], "text": 3},
    {"mappings": [{"value": "high", "color": "red"}]},
    {"steps": ["green", {"value": 5, "colour": "red"}]},
]


@pytest.mark.parametrize("mapping", INVALID_THRESHOLD_MAPPINGS)
def test_thresholds_mapping_rejected_as_in_yaml(project: Path, mapping: dict) -> None:
    """dsl.panel() reports each problem that the manifest schema finds in a mapping."""
    write_manifest(
        project,
        "manifest.yaml",
        "service: manifest\nrows:\n  - title: A\n    panels:\n"
        f"      - {{title: P, query: up, thresholds: {json.dumps(mapping)}}}\n",
    )
    write_manifest(
        project,
        "module.py",
        "from obscompile import dsl\n"
        f"dsl.service('module', rows=[dsl.row('A', [dsl.panel('P', 'up', thresholds={mapping!r})])])\n",
    )
    diagnostics = build(Project.at(project)).diagnostics
    yaml_messages = [
        d.message.replace("rows[0].panels[0].", "")
        for d in diagnostics
        if d.location.file == "services/manifest.yaml"
    ]
    python_messages = [
        d.message for d in diagnostics if d.location.file == "services/module.py"
    ]
    assert yaml_messages
    assert len(python_messages) == 1
    for message in yaml_messages:
        # A manifest's message names the type of a wrong value ("an integer"),
        # and a Python module's shows the value ("the integer 5").
        problem = message.split(", not ")[0]
        assert problem in python_messages[0]


@pytest.mark.parametrize("own_dashboard", [True, False])
def test_description_in_yaml_equals_python(
    tmp_path: Path, monkeypatch, own_dashboard: bool
) -> None:
    """The service's description is the dashboard's, in a manifest and in Python."""
    monkeypatch.chdir(tmp_path)
    yaml_text = YAML_SERVICE.replace(
        "runtime: python\n", "runtime: python\ndescription: Card payments\n"
    )
    python_text = PYTHON_SERVICE.replace(
        '    runtime="python",\n',
        '    runtime="python",\n    description="Card payments",\n',
    )
    if not own_dashboard:
        yaml_text = "".join(
            line
            for line in yaml_text.splitlines(keepends=True)
            if not line.startswith("dashboard:")
        )
        python_text = "".join(
            line
            for line in python_text.splitlines(keepends=True)
            if "dashboard=" not in line
        )
    yaml_project = write_manifest(tmp_path / "y", "payments.yaml", yaml_text)
    python_project = write_manifest(tmp_path / "p", "payments.py", python_text)
    yaml_files = _files(yaml_project)
    (dashboard,) = [text for name, text in yaml_files.items() if name.endswith(".json")]
    assert json.loads(dashboard)["description"] == "Card payments"
    assert _files(python_project) == yaml_files


def test_description_beside_dashboard_warns(project: Path) -> None:
    write_manifest(
        project,
        "api.py",
        "from obscompile import dsl\n"
        "dsl.service('api', description='One', dashboard=dsl.dashboard(description='Two'),\n"
        "    rows=[dsl.row('A', [dsl.panel('p', 'up')])])\n",
    )
    result = build(Project.at(project))
    assert [str(d) for d in result.diagnostics] == [
        "services/api.py:2:32: warning: description is ignored: the dashboard shows "
        "the description of dsl.dashboard(); remove one of them "
        "[dashboard/ignored-field]"
    ]
    (dashboard,) = [
        text for name, text in result.files.items() if name.endswith(".json")
    ]
    assert json.loads(dashboard)["description"] == "Two"


def test_project_block_folder(project: Path) -> None:
    blocks = project / "blocks"
    blocks.mkdir()
    (blocks / "team.py").write_text(
        textwrap.dedent(
            """\
            from obscompile import dsl

            @dsl.block("queue_row")
            def queue_row(job: str, red: int = 500):
                return dsl.row("Queues", [
                    dsl.panel("Depth", f'sum by (queue) (queue_depth{{job="{job}"}})',
                              thresholds=f"<{red} Green, >{red} Red"),
                ])
            """
        )
    )
    write_manifest(
        project,
        "api.yaml",
        "service: api\nrows:\n  - use: queue_row\n    with: {job: api, red: 50}\n",
    )
    result = build(Project.at(project))
    assert result.ok, [str(d) for d in result.diagnostics]
    (panel,) = result.services[0].rows[0].panels
    assert panel.query == 'sum by (queue) (queue_depth{job="api"})'
    assert "queue_row" not in dsl.BLOCKS


HELPER_USER = """\
from obscompile import dsl
from _titles import TITLE

dsl.service("api", title=TITLE, rows=[dsl.row("R", [dsl.panel("Up", "up")])])
"""


def test_module_imports_helper_beside_it(tmp_path: Path) -> None:
    """A module imports `_x.py` from its folder; each project gets its own helper."""
    titles = []
    for name in ("one", "two"):
        project = tmp_path / name
        write_manifest(project, "_titles.py", f"TITLE = 'Title {name}'\n")
        write_manifest(project, "api.py", HELPER_USER)
        result = build(Project.at(project))
        assert result.ok, [str(d) for d in result.diagnostics]
        titles.append(result.services[0].dashboard.title)
    assert titles == ["Title one", "Title two"]


def test_block_module_imports_helper(project: Path) -> None:
    blocks = project / "blocks"
    blocks.mkdir()
    (blocks / "_shared.py").write_text("QUERY = 'sum(up)'\n")
    (blocks / "team.py").write_text(
        "from obscompile import dsl\nfrom _shared import QUERY\n\n"
        '@dsl.block("up_row")\ndef up_row():\n'
        '    return dsl.row("Up", [dsl.panel("Up", QUERY)])\n'
    )
    write_manifest(project, "api.yaml", "service: api\nrows:\n  - use: up_row\n")
    result = build(Project.at(project))
    assert result.ok, [str(d) for d in result.diagnostics]
    assert result.services[0].rows[0].panels[0].query == "sum(up)"


def test_helper_packages_of_two_folders(project: Path) -> None:
    """`_lib` of services/ and of blocks/ are two packages, each read from its folder."""
    for folder, label in (("services", "from services"), ("blocks", "from blocks")):
        package = project / folder / "_lib"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(f"LABEL = {label!r}\n")
    (project / "blocks" / "team.py").write_text(
        "from obscompile import dsl\nfrom _lib import LABEL\n\n"
        '@dsl.block("lib_row")\ndef lib_row():\n'
        '    return dsl.row(LABEL, [dsl.panel("Up", "up")])\n'
    )
    write_manifest(
        project,
        "api.py",
        "from obscompile import dsl\nfrom _lib import LABEL\n\n"
        'dsl.service("api", rows=[dsl.row(LABEL, [dsl.panel("Up", "up")])])\n',
    )
    result = build(Project.at(project))
    assert result.ok, [str(d) for d in result.diagnostics]
    assert result.services[0].rows[0].title == "from services"


def test_helper_syntax_error_at_helper(project: Path) -> None:
    write_manifest(project, "_common.py", "X = 1\n\ndef oops(:\n    pass\n")
    for name in ("a.py", "b.py"):
        write_manifest(project, name, "from obscompile import dsl\nimport _common\n")
    result = build(Project.at(project))
    assert [str(d) for d in result.diagnostics if d.check == "dsl/syntax"] == [
        "services/_common.py:3:10: error: invalid Python: invalid syntax [dsl/syntax]"
    ]


def test_rebuild_reads_changed_helper(tmp_path: Path) -> None:
    write_manifest(tmp_path, "_titles.py", "TITLE = 'Before'\n")
    write_manifest(tmp_path, "api.py", HELPER_USER)
    runner = CliRunner()
    assert runner.invoke(main, ["build", "--project", str(tmp_path)]).exit_code == 0
    write_manifest(tmp_path, "_titles.py", "TITLE = 'After'\n")
    assert runner.invoke(main, ["build", "--project", str(tmp_path)]).exit_code == 0
    (dashboard,) = (tmp_path / "out" / "grafana" / "dashboards").glob("*.json")
    assert '"title": "After"' in dashboard.read_text()


def test_unknown_block_names_failed_module(project: Path) -> None:
    """A block that a failed module would define points at that module."""
    blocks = project / "blocks"
    blocks.mkdir()
    (blocks / "team.py").write_text(
        "from obscompile import dsl\n\n"
        '@dsl.block("http_api_health")\ndef mine():\n    return dsl.row("X", [])\n\n'
        '@dsl.block("queue_row")\ndef queue_row():\n    return dsl.row("Q", [])\n'
    )
    write_manifest(project, "api.yaml", "service: api\nrows:\n  - use: queue_row\n")
    result = build(Project.at(project))
    messages = [d.message for d in result.diagnostics if d.check == "manifest/block"]
    assert messages == [
        'unknown block "queue_row"; blocks/team.py fails to load, so it may define it'
    ]
    (blocks / "team.py").unlink()
    result = build(Project.at(project))
    messages = [d.message for d in result.diagnostics if d.check == "manifest/block"]
    assert messages == ['unknown block "queue_row"']


def test_module_declares_several_services(project: Path) -> None:
    write_manifest(
        project,
        "many.py",
        "from obscompile import dsl\nfor name in ('a', 'b'):\n    dsl.service(name, scrape=dsl.scrape_job(name, port=80))\n",
    )
    result = build(Project.at(project))
    assert [s.name for s in result.services] == ["a", "b"]


def test_shared_rows_change_no_artifact(tmp_path: Path, monkeypatch) -> None:
    """auth_server and portfolio_server written out in full build the same out/ as
    the manifests in services/, which use the shared http_api_health block."""
    import shutil

    from tests.conftest import REPO, SERVICES

    monkeypatch.chdir(tmp_path)
    written = tmp_path / "written"
    shutil.copytree(SERVICES, written / "services")
    shutil.copy(REPO / "obscompile.yaml", written / "obscompile.yaml")
    for name in ("auth_server.yaml", "portfolio_server.yaml"):
        shutil.copy(REPO / "tests/data/written" / name, written / "services" / name)
    assert (
        "use: http_api_health"
        not in (written / "services/auth_server.yaml").read_text()
    )
    assert "use: http_api_health" in (SERVICES / "auth_server.yaml").read_text()
    shared = tmp_path / "shared"
    shutil.copytree(SERVICES, shared / "services")
    shutil.copy(REPO / "obscompile.yaml", shared / "obscompile.yaml")
    assert _files(written) == _files(shared)


@settings(max_examples=200, deadline=None)
@given(
    st.floats(min_value=1e-300, max_value=1e300),
    st.floats(min_value=1.0001, max_value=1e7),
)
def test_http_block_bounds_read_back(yellow: float, factor: float) -> None:
    """Any pair of float bounds of the block reads back from its shorthand exactly."""
    red = yellow * factor
    if red == yellow:
        return
    text = rising_bands("count", ("in_flight_yellow", yellow), ("in_flight_red", red))
    assert text is not None
    bands = parse_shorthand(text).bands
    assert [band.lower.number if band.lower else None for band in bands] == [
        None,
        yellow,
        red,
    ]


def test_http_block_takes_huge_bound(project: Path) -> None:
    write_manifest(
        project,
        "api.yaml",
        "service: api\nscrape: {job: api, port: 80}\nrows:\n"
        "  - use: http_api_health\n    with: {job: api, in_flight_red: 1.0e+308}\n",
    )
    result = build(Project.at(project))
    assert result.ok, [str(d) for d in result.diagnostics]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            'in_flight_red: "abc"',
            '5:37: error: block "http_api_health": in_flight_red is "abc", which is '
            "not a number; write a number such as 100 [manifest/block]",
        ),
        (
            "in_flight_red: 10, in_flight_yellow: 50",
            '5:59: error: block "http_api_health": in_flight_yellow is 50, which '
            "must be below in_flight_red (10) [manifest/block]",
        ),
        (
            "p95_red: 500ms, p95_yellow: 500ms",
            '5:50: error: block "http_api_health": p95_yellow is 500ms, which must '
            "be below p95_red (500ms) [manifest/block]",
        ),
        (
            "in_flight_yellow: 50",
            '5:40: error: block "http_api_health": in_flight_yellow needs '
            "in_flight_red, the bound where the panel turns red [manifest/block]",
        ),
        (
            "p95_red: [1]",
            '5:31: error: block "http_api_health": p95_red must be a duration such '
            'as "500ms", not a list [manifest/block]',
        ),
        (
            "error_red: 500ms",
            '5:33: error: block "http_api_health": error_red is "500ms", which is '
            'not a percentage; write a percentage such as "5%" [manifest/block]',
        ),
        (
            "error_red: 0.5%",
            '5:33: error: block "http_api_health": error_red is 0.5%, which must be '
            "above error_yellow (1% by default); set error_yellow below it "
            "[manifest/block]",
        ),
        (
            "error_red: 0.05",
            '5:33: error: block "http_api_health": error_red is 0.05, which must be '
            "above error_yellow (1% by default); set error_yellow below it. A bare "
            "number is a percentage, so error_red 0.05 is 0.05%; write 5% if 0.05 is "
            "meant as a fraction [manifest/block]",
        ),
        (
            "error_yellow: 2, error_red: '0.05'",
            '5:36: error: block "http_api_health": error_yellow is 2, which must be '
            "below error_red (0.05). A bare number is a percentage, so error_red 0.05 "
            "is 0.05%; write 5% if 0.05 is meant as a fraction [manifest/block]",
        ),
        (
            "p95_red: 5%",
            '5:31: error: block "http_api_health": p95_red is "5%", which is not a '
            'duration; write a duration such as "500ms" [manifest/block]',
        ),
        (
            "in_flight_red: 50%",
            '5:37: error: block "http_api_health": in_flight_red is "50%", which is '
            "not a number; write a number such as 100 [manifest/block]",
        ),
        (
            "error_yellow: 1%, error_red: 0.5%",
            '5:36: error: block "http_api_health": error_yellow is 1%, which must be '
            "below error_red (0.5%) [manifest/block]",
        ),
        (
            "error_red: 150%",
            '5:33: error: block "http_api_health": error_red is 150%, above 100%, '
            "which no part of the requests can reach [manifest/block]",
        ),
        (
            "title: ''",
            '5:29: error: block "http_api_health": title must not be empty '
            "[manifest/block]",
        ),
        (
            "request_rate_thresholds: 5",
            '5:47: error: block "http_api_health": request_rate_thresholds must be a '
            'threshold text such as "Green" or "<100 Red, >=100 Green", not the '
            "number 5 [manifest/block]",
        ),
        (
            "order: [foo]",
            '5:29: error: block "http_api_health": order names unknown panel "foo"; '
            "use request_rate, error_rate, p95_latency, in_flight [manifest/block]",
        ),
        (
            "order: [error_rate, error_rate]",
            '5:29: error: block "http_api_health": order names the panel '
            '"error_rate" twice [manifest/block]',
        ),
        (
            "request_rate_thresholds: '>5 Blue'",
            '5:47: error: block "http_api_health": request_rate_thresholds is an '
            "invalid threshold text: a single Blue band does not say the colour of the values beyond "
            '5; write both bands, such as "<5 Green, >=5 Blue" [manifest/block]',
        ),
        (
            "error_yellow: 0",
            '5:36: error: block "http_api_health": error_yellow is 0, which would '
            "colour every value yellow; write a bound above 0 [manifest/block]",
        ),
        (
            "in_flight_red: -5",
            '5:37: error: block "http_api_health": in_flight_red is -5, which would '
            "colour every value red; write a bound above 0 [manifest/block]",
        ),
        (
            "error_status: 5xx",
            '5:36: error: block "http_api_health": error_status is "5xx", which '
            "matches no HTTP status code from 100 to 599; write a regex of status "
            'codes such as "5.." or "4..|5.." [manifest/block]',
        ),
        (
            "error_status: '5[0-9'",
            '5:36: error: block "http_api_health": error_status is "5[0-9", an '
            "invalid regex: missing closing ]: `[0-9)$`; write a regex of status "
            'codes such as "5.." or "4..|5.." [manifest/block]',
        ),
        (
            "error_status: '.*'",
            '5:36: error: block "http_api_health": error_status is ".*", which '
            "matches every HTTP status code from 100 to 599, so every request would "
            'count as an error; write a regex of status codes such as "5.." or '
            '"4..|5.." [manifest/block]',
        ),
        (
            "error_status: 500",
            '5:36: error: block "http_api_health": error_status must be a string, '
            "not the number 500 [manifest/block]",
        ),
    ],
    ids=[
        "not-a-bound",
        "reversed",
        "equal",
        "yellow-alone",
        "list",
        "error-as-duration",
        "error-below-default-yellow",
        "error-fraction-below-default-yellow",
        "error-fraction-below-given-yellow",
        "latency-as-percentage",
        "count-as-percentage",
        "error-below-given-yellow",
        "error-above-100",
        "empty-title",
        "thresholds-not-text",
        "unknown-order",
        "order-twice",
        "unreadable-thresholds",
        "yellow-zero",
        "negative",
        "status-matches-no-code",
        "status-invalid-regex",
        "status-matches-every-code",
        "status-not-text",
    ],
)
def test_http_block_bound_errors_at_parameter(
    project: Path, given: str, expected: str
) -> None:
    write_manifest(
        project,
        "api.yaml",
        "service: api\nscrape: {job: api, port: 80}\nrows:\n"
        f"  - use: http_api_health\n    with: {{job: api, {given}}}\n",
    )
    result = build(Project.at(project))
    assert [str(d) for d in result.diagnostics] == [f"services/api.yaml:{expected}"]


def _fraction_warning(parameter: str, text: str, percent: str) -> str:
    return (
        f'warning: block "http_api_health": {parameter} is {text}, which is read as '
        f"{text}%, not as the fraction {text} ({percent}%), because a bare number is a "
        f"percentage; write {percent}% if the fraction is meant, or {text}% to keep "
        f"{text}% [thresholds/unit]"
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            "error_yellow: 0.01, error_red: 0.05",
            [
                f"5:36: {_fraction_warning('error_yellow', '0.01', '1')}",
                f"5:53: {_fraction_warning('error_red', '0.05', '5')}",
            ],
        ),
        (
            "error_yellow: '0.5', error_red: 2",
            [f"5:36: {_fraction_warning('error_yellow', '0.5', '50')}"],
        ),
        (
            "error_yellow: 0.2, error_red: 0.9",
            [
                f"5:36: {_fraction_warning('error_yellow', '0.2', '20')}",
                f"5:52: {_fraction_warning('error_red', '0.9', '90')}",
            ],
        ),
        ("error_yellow: 0.01%, error_red: 0.05%", []),
        ("error_yellow: 1%, error_red: 5%", []),
        ("error_yellow: 1, error_red: 5", []),
        ("error_red: 5", []),
    ],
    ids=[
        "both-bare-fractions",
        "quoted-fraction",
        "fractions-near-one",
        "fractions-in-percent",
        "percent",
        "bare-percentages",
        "red-alone",
    ],
)
def test_http_block_warns_of_fractions(
    project: Path, given: str, expected: list[str]
) -> None:
    """A bare error bound below 1 is a percentage, and may be meant as a fraction."""
    write_manifest(
        project,
        "api.yaml",
        "service: api\nscrape: {job: api, port: 80}\nrows:\n"
        f"  - use: http_api_health\n    with: {{job: api, {given}}}\n",
    )
    result = build(Project.at(project))
    assert result.ok
    warnings = [str(d) for d in result.diagnostics if d.check == "thresholds/unit"]
    assert warnings == [f"services/api.yaml:{line}" for line in expected]


def test_http_block_fraction_warning_in_python(project: Path) -> None:
    """A Python service gets the warning at the argument of dsl.use()."""
    (project / "services" / "api.py").write_text(
        "from obscompile import dsl\n\n"
        'dsl.service("api", scrape=dsl.scrape_job("api", port=80), rows=[\n'
        '    dsl.use("http_api_health", job="api", error_yellow=0.01, error_red=0.05),\n'
        "])\n"
    )
    result = build(Project.at(project))
    assert result.ok
    warnings = [str(d) for d in result.diagnostics if d.check == "thresholds/unit"]
    assert warnings == [
        "services/api.py:4:56: "
        + _fraction_warning("error_yellow", "0.01", "1").replace(
            'block "http_api_health": ', ""
        ),
        "services/api.py:4:72: "
        + _fraction_warning("error_red", "0.05", "5").replace(
            'block "http_api_health": ', ""
        ),
    ]


def test_fraction_warning_in_project_block(project: Path) -> None:
    """A project block that a YAML manifest uses passes its dsl.use() warnings on."""
    (project / "blocks").mkdir()
    (project / "blocks" / "team.py").write_text(
        "from obscompile import dsl\n\n\n"
        '@dsl.block("team_health")\n'
        "def team_health(job: str):\n"
        '    return dsl.use("http_api_health", job=job, error_yellow=0.01)\n'
    )
    write_manifest(
        project,
        "api.yaml",
        "service: api\nscrape: {job: api, port: 80}\nrows:\n"
        "  - use: team_health\n    with: {job: api}\n",
    )
    result = build(Project.at(project))
    assert result.ok
    (found,) = [d for d in result.diagnostics if d.check == "thresholds/unit"]
    message = _fraction_warning("error_yellow", "0.01", "1").replace(
        'block "http_api_health": ', ""
    )
    assert found.location == Location("blocks/team.py", 6, 61, found.location.used_at)
    assert found.message == message.split(": ", 1)[1].rsplit(" [", 1)[0]
    assert found.location.used_at == BlockUse(
        "team_health", Location("services/api.yaml", 4, 5)
    )


@pytest.mark.parametrize(
    ("status", "title", "matcher", "alert"),
    [
        ("5..", "Error Rate (5xx)", '"5.."', "ApiErrorRate5xxCritical"),
        ("429|5..", "Error Rate (429/5xx)", '"429|5.."', "ApiErrorRate4295xxCritical"),
        ("5\\d\\d", "Error Rate (5\\d\\d)", '"5\\\\d\\\\d"', "ApiErrorRate5DDCritical"),
    ],
    ids=["5xx", "alternatives", "other-regex"],
)
def test_http_block_error_status(
    project: Path, status: str, title: str, matcher: str, alert: str
) -> None:
    """The error rate counts the codes of `error_status` and its title names them."""
    write_manifest(
        project,
        "api.yaml",
        "service: api\nscrape: {job: api, port: 80}\nmetric_blocks:\n"
        "  - use: http_metrics\nrows:\n  - use: http_api_health\n"
        f"    with: {{job: api, error_status: '{status}'}}\n",
    )
    result = build(Project.at(project))
    assert result.ok, [str(d) for d in result.diagnostics]
    dashboard = json.loads(result.files["grafana/dashboards/api.json"])
    (panel,) = [p for p in dashboard["panels"] if p["title"].startswith("Error")]
    assert panel["title"] == title
    query = panel["targets"][0]["expr"]
    assert f"status_code=~{matcher}" in query
    rules = yaml.safe_load(result.files["prometheus/rules/api.rules.yml"])
    assert [rule["alert"] for rule in rules["groups"][1]["rules"]] == [alert]


def test_http_block_bound_error_in_python(project: Path) -> None:
    (project / "services" / "api.py").write_text(
        "from obscompile import dsl\n\n"
        'dsl.service("api", scrape=dsl.scrape_job("api", port=80), rows=[\n'
        '    dsl.use("http_api_health", job="api", p95_red="1s", p95_yellow="2s"),\n'
        "])\n",
        encoding="utf-8",
    )
    result = build(Project.at(project))
    assert [str(d) for d in result.diagnostics] == [
        "services/api.py:4:68: error: p95_yellow is 2s, which must be below p95_red "
        "(1s) [dsl/error]"
    ]
