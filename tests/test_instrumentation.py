"""Tests for the instrumentation generator (obscompile.instrument).

The generated metrics.py is imported with the real prometheus_client in a fresh
subprocess. The generated metrics.ts is type-checked with `tsc --strict` and run with
the real prom-client, both from tests/node/, which the `node_toolchain` fixture
installs with `npm install` when its node_modules folder is missing.

Set OBSCOMPILE_UPDATE_GOLDEN=1 to rewrite the files in tests/instrumentation/golden/
from the current output, then review the diff.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import importlib.util
import json
import keyword
import math
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import jinja2
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from obscompile import bucket_bounds
from obscompile.check.catalog import exported_series, is_builtin
from obscompile.check.client_library import PROM_CLIENT_QUANTILES
from obscompile.diagnostics import InputError, Severity
from obscompile.instrument import (
    check_instrumentation,
    render_instrumentation,
    scrape_port,
)
from obscompile.instrument.check import (
    NODEJS_DEFAULT_FAMILIES,
    PYTHON_DEFAULT_FAMILIES,
    loopback_host,
)
from obscompile.instrument.generate import PYTHON_TEMPLATE, TYPESCRIPT_TEMPLATE
from obscompile.instrument.naming import (
    PYTHON_BUILTINS,
    family_name,
    keyword_label_allowed,
    python_identifier,
    python_number,
    python_string,
    registered_names,
    typescript_identifier,
    typescript_number,
    typescript_string,
)
from obscompile.model import Location, Metric, MetricType, ScrapeJob
from obscompile.model.service import Runtime, with_runtime_naming
from obscompile.pipeline import Project, build
from obscompile.render.environment import builtin_templates_dir, make_environment
from tests.conftest import write_manifest

HERE = Path(__file__).parent
DATA = HERE / "instrumentation"
GOLDEN = DATA / "golden"
NODE_DIR = HERE / "node"
NODE_MODULES = NODE_DIR / "node_modules"
NODE_PACKAGES = ("prom-client", "typescript", "@types/node")

# `--skipLibCheck` skips prom-client's and Node's declaration files, which are not under
# test and take most of the time of a tsc run.
TSC_FLAGS = (
    "--strict",
    "--target",
    "es2022",
    "--module",
    "nodenext",
    "--types",
    "node",
    "--skipLibCheck",
)

COUNTER = MetricType.COUNTER
GAUGE = MetricType.GAUGE
HISTOGRAM = MetricType.HISTOGRAM
SUMMARY = MetricType.SUMMARY
INFO = MetricType.INFO
PYTHON = Runtime.PYTHON
NODEJS = Runtime.NODEJS

# The type that a metric's `# TYPE` line shows in the text exposition format.
EXPOSED_TYPES = {
    COUNTER: "counter",
    GAUGE: "gauge",
    HISTOGRAM: "histogram",
    SUMMARY: "summary",
    INFO: "gauge",
}
INFO_VALUES = {"commit": "abc123"}


def _load_catalogs() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "instrumentation_catalogs", DATA / "catalogs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


catalogs = _load_catalogs()
demo_service = catalogs.demo_service


@pytest.fixture(scope="module")
def env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(builtin_templates_dir()),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )


def render(service: Any, env: jinja2.Environment) -> str:
    files = render_instrumentation(service, env)
    assert len(files) == 1, f"expected one file, got {sorted(files)}"
    return next(iter(files.values()))


def messages(diagnostics: list[Any]) -> list[str]:
    return [f"{d.severity}: {d.message} [{d.check}]" for d in diagnostics]


# --- identifiers, names and literals ----------------------------------------------

PYTHON_IDENTIFIER_CASES = [
    ("plain", "http_requests_total", COUNTER, "http_requests_total"),
    ("counter-gains-total", "jobs", COUNTER, "jobs_total"),
    ("info-gains-info", "alphacopilot_service", INFO, "alphacopilot_service_info"),
    ("keyword", "class", GAUGE, "class_"),
    ("soft-keyword-builtin", "type", GAUGE, "type_"),
    ("builtin", "id", GAUGE, "id_"),
    ("module-registry", "registry", GAUGE, "registry_"),
    ("module-function", "startMetricsServer", GAUGE, "start_metrics_server_"),
    ("module-import", "prometheus_client", GAUGE, "prometheus_client_"),
    ("camel-case", "httpRequestsInFlight", GAUGE, "http_requests_in_flight"),
    ("acronym", "HTTPServer_up", GAUGE, "http_server_up"),
    ("colons", ":rpc:latency_seconds", HISTOGRAM, "_rpc_latency_seconds"),
    ("dunder", "__name__", GAUGE, "__name__metric"),
    ("keyword-with-suffix", "lambda", COUNTER, "lambda_total"),
    ("capitalised-keyword", "None", GAUGE, "none"),
]


@pytest.mark.parametrize(
    ("name", "metric_type", "expected"),
    [case[1:] for case in PYTHON_IDENTIFIER_CASES],
    ids=[case[0] for case in PYTHON_IDENTIFIER_CASES],
)
def test_python_identifier(name: str, metric_type: MetricType, expected: str) -> None:
    identifier = python_identifier(Metric(name, metric_type))
    assert identifier == expected
    assert identifier.isidentifier()


TYPESCRIPT_IDENTIFIER_CASES = [
    (
        "snake-case",
        "notification_kafka_messages_total",
        COUNTER,
        "notificationKafkaMessagesTotal",
    ),
    ("counter-gains-total", "jobs", COUNTER, "jobsTotal"),
    ("info-gains-info", "alphacopilot_service", INFO, "alphacopilotServiceInfo"),
    ("reserved", "delete", GAUGE, "delete_"),
    ("strict-mode-reserved", "let", GAUGE, "let_"),
    ("module-register", "register", GAUGE, "register_"),
    ("module-import", "http", GAUGE, "http_"),
    ("commonjs-exports", "exports", GAUGE, "exports_"),
    ("used-global", "console", GAUGE, "console_"),
    ("leading-underscore", "_private_gauge", GAUGE, "_privateGauge"),
    ("digits", "http_2xx_ratio", GAUGE, "http2xxRatio"),
    ("colons", ":rpc:latency_seconds", HISTOGRAM, "_rpcLatencySeconds"),
    ("acronym", "HTTPServer_up", GAUGE, "httpServerUp"),
    ("upper-snake", "QUEUE_DEPTH", GAUGE, "queueDepth"),
    ("python-keyword-allowed", "lambda", GAUGE, "lambda"),
]


@pytest.mark.parametrize(
    ("name", "metric_type", "expected"),
    [case[1:] for case in TYPESCRIPT_IDENTIFIER_CASES],
    ids=[case[0] for case in TYPESCRIPT_IDENTIFIER_CASES],
)
def test_typescript_identifier(
    name: str, metric_type: MetricType, expected: str
) -> None:
    identifier = typescript_identifier(Metric(name, metric_type))
    assert identifier == expected
    assert re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$]*", identifier)


def test_python_builtins_list_covers_running_python() -> None:
    """Every lowercase public builtin of this interpreter is renamed."""
    running = {n for n in dir(builtins) if n.islower() and not n.startswith("_")}
    assert running - PYTHON_BUILTINS == set()


@pytest.mark.parametrize(
    ("metric", "runtime", "expected"),
    [
        (Metric("jobs", COUNTER), PYTHON, {"jobs", "jobs_total", "jobs_created"}),
        (Metric("jobs_total", COUNTER), PYTHON, {"jobs", "jobs_total", "jobs_created"}),
        (Metric("jobs", COUNTER), NODEJS, {"jobs_total"}),
        (Metric("jobs_total", COUNTER), NODEJS, {"jobs_total"}),
        (Metric("g", GAUGE), PYTHON, {"g"}),
        (Metric("g", GAUGE), NODEJS, {"g"}),
        (
            Metric("h", HISTOGRAM),
            PYTHON,
            {"h", "h_bucket", "h_sum", "h_count", "h_created"},
        ),
        (Metric("h", HISTOGRAM), NODEJS, {"h", "h_bucket", "h_sum", "h_count"}),
        (Metric("s", SUMMARY), PYTHON, {"s", "s_sum", "s_count", "s_created"}),
        (Metric("s", SUMMARY), NODEJS, {"s", "s_sum", "s_count"}),
        (Metric("build", INFO), PYTHON, {"build", "build_info"}),
        (Metric("build", INFO), NODEJS, {"build_info"}),
    ],
    ids=lambda value: str(value) if isinstance(value, Runtime) else None,
)
def test_registered_names(metric: Metric, runtime: Runtime, expected: set[str]) -> None:
    assert registered_names(metric, runtime) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", '"plain"'),
        ('say "hi"', "'say \"hi\"'"),
        ("it's", '"it\'s"'),
        ("both \" and '", '"both \\" and \'"'),
        ("back\\slash", '"back\\\\slash"'),
        ("line\nbreak\r\ttab", '"line\\nbreak\\r\\ttab"'),
        ("caf\u00e9 \u20ac \U0001f600", '"caf\\xe9 \\u20ac \\U0001f600"'),
        ("nul\x00 del\x7f", '"nul\\x00 del\\x7f"'),
    ],
    ids=["plain", "double-quotes", "single-quote", "both-quotes", "backslash",
         "control", "non-ascii", "nul-del"],
)  # fmt: skip
def test_python_string_literal(text: str, expected: str) -> None:
    assert python_string(text) == expected


@given(st.text())
def test_python_string_round_trips(text: str) -> None:
    literal = python_string(text)
    assert literal.isascii()
    assert ast.literal_eval(literal) == text


@given(st.text())
def test_typescript_string_round_trips(text: str) -> None:
    literal = typescript_string(text)
    assert literal.isascii()
    assert json.loads(literal) == text


def test_typescript_string_escapes_line_separators() -> None:
    assert typescript_string("a\u2028b\u2029c") == '"a\\u2028b\\u2029c"'


@pytest.mark.parametrize(
    ("value", "python", "typescript"),
    [
        (0.05, "0.05", "0.05"),
        (10, "10.0", "10"),
        (2.5, "2.5", "2.5"),
        (1e-05, "1e-05", "1e-05"),
        (-1.0, "-1.0", "-1"),
        (1e20, "1e+20", "1e+20"),
    ],
)
def test_number_literals(value: float, python: str, typescript: str) -> None:
    assert python_number(value) == python
    assert typescript_number(value) == typescript


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_number_literals_reject_non_finite(value: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        python_number(value)
    with pytest.raises(ValueError, match="finite"):
        typescript_number(value)


# --- checks -----------------------------------------------------------------------

CHECK_CASES = [
    ("metric-name-digit", PYTHON, [Metric("2xx_total", COUNTER)],
     "instrument/metric-name", 'invalid metric name "2xx_total"'),
    ("metric-name-dash", NODEJS, [Metric("http-requests", GAUGE)],
     "instrument/metric-name", 'invalid metric name "http-requests"'),
    ("label-syntax", PYTHON, [Metric("g", GAUGE, labels=("bad-label",))],
     "instrument/label-name", 'invalid label "bad-label" on metric "g"'),
    ("label-reserved-prefix", NODEJS, [Metric("g", GAUGE, labels=("__meta",))],
     "instrument/label-name", "reserved for Prometheus"),
    ("histogram-le", PYTHON, [Metric("h", HISTOGRAM, labels=("le",))],
     "instrument/label-name", "adds le to every histogram sample"),
    ("summary-quantile", NODEJS, [Metric("s", SUMMARY, labels=("quantile",))],
     "instrument/label-name", "adds quantile to every summary sample"),
    ("label-twice", PYTHON, [Metric("g", GAUGE, labels=("topic", "topic"))],
     "instrument/label-name", "listed twice"),
    ("buckets-on-gauge", PYTHON, [Metric("g", GAUGE, buckets=(1.0,))],
     "instrument/buckets", 'metric "g" is a gauge and cannot have buckets'),
    ("buckets-on-summary", NODEJS, [Metric("s", SUMMARY, buckets=(1.0,))],
     "instrument/buckets", "is a summary and cannot have buckets"),
    ("buckets-unsorted", PYTHON, [Metric("h", HISTOGRAM, buckets=(1.0, 0.5))],
     "instrument/buckets", "invalid buckets [1, 0.5]"),
    ("buckets-repeated", NODEJS, [Metric("h", HISTOGRAM, buckets=(0.5, 0.5))],
     "instrument/buckets", "strictly increasing"),
    ("buckets-nan", PYTHON, [Metric("h", HISTOGRAM, buckets=(math.nan,))],
     "instrument/buckets", "must be a finite number"),
    ("buckets-inner-inf", NODEJS, [Metric("h", HISTOGRAM, buckets=(math.inf, 1.0))],
     "instrument/buckets", "must be a finite number"),
    ("buckets-only-inf", PYTHON, [Metric("h", HISTOGRAM, buckets=(math.inf,))],
     "instrument/buckets", "at least one finite bound"),
    ("same-name", NODEJS, [Metric("g", GAUGE), Metric("g", GAUGE)],
     "instrument/duplicate-name", 'uses the name "g", as does metric "g"'),
    ("python-created-suffix", PYTHON,
     [Metric("jobs", COUNTER), Metric("jobs_created", GAUGE)],
     "instrument/duplicate-name",
     'uses the name "jobs_created", as does metric "jobs"'),
    ("python-counter-base", PYTHON,
     [Metric("jobs_total", COUNTER), Metric("jobs", GAUGE)],
     "instrument/duplicate-name", 'uses the name "jobs", as does metric "jobs_total"'),
    ("nodejs-counter-suffix", NODEJS,
     [Metric("jobs", COUNTER), Metric("jobs_total", GAUGE)],
     "instrument/duplicate-name", 'uses the name "jobs_total", as does metric "jobs"'),
    ("python-default-collector", PYTHON, [Metric("python_info", GAUGE)],
     "instrument/duplicate-name", "prometheus_client's default collectors"),
    ("python-default-counter", PYTHON, [Metric("process_cpu_seconds", COUNTER)],
     "instrument/duplicate-name", "prometheus_client's default collectors"),
    ("nodejs-default-collector", NODEJS, [Metric("nodejs_version", INFO)],
     "instrument/duplicate-name", "prom-client's default collectors"),
    ("python-identifier", PYTHON, [Metric("foo:bar", GAUGE), Metric("foo_bar", GAUGE)],
     "instrument/identifier", "would both be declared as foo_bar in metrics.py"),
    ("nodejs-identifier", NODEJS, [Metric("fooBar", GAUGE), Metric("foo_bar", GAUGE)],
     "instrument/identifier", "would both be declared as fooBar in metrics.ts"),
    ("renamed-identifier", PYTHON,
     [Metric("registry", GAUGE), Metric("registry_", GAUGE)],
     "instrument/identifier", "would both be declared as registry_"),
    ("renamed-function", NODEJS,
     [Metric("startMetricsServer", GAUGE), Metric("start_metrics_server", GAUGE)],
     "instrument/identifier", "would both be declared as startMetricsServer_"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("runtime", "metrics", "check", "fragment"),
    [case[1:] for case in CHECK_CASES],
    ids=[case[0] for case in CHECK_CASES],
)
def test_check_reports_problem(
    runtime: Runtime, metrics: list[Metric], check: str, fragment: str
) -> None:
    diagnostics = check_instrumentation(demo_service(runtime, tuple(metrics)))
    assert [(d.severity, d.check) for d in diagnostics] == [(Severity.ERROR, check)]
    assert fragment in diagnostics[0].message


ACCEPTED_CASES = [
    ("nodejs-has-no-created", NODEJS,
     [Metric("jobs", COUNTER), Metric("jobs_created", GAUGE)]),
    ("python-name-in-nodejs", NODEJS, [Metric("python_info", GAUGE)]),
    ("nodejs-name-in-python", PYTHON, [Metric("nodejs_version_info", GAUGE)]),
    ("trailing-inf-bucket", PYTHON, [Metric("h", HISTOGRAM, buckets=(0.1, math.inf))]),
    ("kitchen-sink-python", PYTHON, list(catalogs.KITCHEN_SINK)),
    ("kitchen-sink-nodejs", NODEJS, list(catalogs.KITCHEN_SINK)),
    ("reserved-python", PYTHON,
     list(catalogs.gauges(catalogs.PYTHON_RESERVED_NAMES))),
    ("reserved-nodejs", NODEJS,
     list(catalogs.gauges(catalogs.TYPESCRIPT_RESERVED_NAMES))),
]  # fmt: skip


@pytest.mark.parametrize(
    ("runtime", "metrics"),
    [case[1:] for case in ACCEPTED_CASES],
    ids=[case[0] for case in ACCEPTED_CASES],
)
def test_check_accepts(runtime: Runtime, metrics: list[Metric]) -> None:
    assert messages(check_instrumentation(demo_service(runtime, tuple(metrics)))) == []


@pytest.mark.parametrize("service", catalogs.PLATFORM_SERVICES, ids=lambda s: s.name)
def test_check_accepts_platform_catalog(service: Any) -> None:
    assert messages(check_instrumentation(service)) == []


def test_check_reports_every_problem_at_once() -> None:
    metrics = (
        Metric("bad-name", GAUGE, location=Location("demo.yaml", 3, 5)),
        Metric("h", HISTOGRAM, labels=("le",), buckets=(2.0, 1.0)),
        Metric("g", GAUGE, labels=("bad-label",)),
    )
    service = demo_service(PYTHON, metrics, targets=("demo:notaport",))
    checks = [d.check for d in check_instrumentation(service)]
    assert sorted(checks) == [
        "instrument/buckets",
        "instrument/label-name",
        "instrument/label-name",
        "instrument/metric-name",
        "instrument/scrape-target",
    ]


def test_check_points_at_metric_location() -> None:
    metric = Metric("bad-name", GAUGE, location=Location("demo.yaml", 3, 5))
    (diagnostic,) = check_instrumentation(demo_service(PYTHON, (metric,)))
    assert str(diagnostic).startswith("demo.yaml:3:5: error: invalid metric name")


def test_check_without_runtime_reads_catalog_only() -> None:
    """A catalog without a runtime gets its name checks, not the libraries' ones."""
    library_clash = (Metric("python_info", GAUGE), Metric("jobs_total", COUNTER))
    service = attrs.evolve(demo_service(PYTHON, library_clash), runtime=None)
    assert check_instrumentation(service) == []
    bad_name = attrs.evolve(
        demo_service(PYTHON, (Metric("bad-name", GAUGE),)), runtime=None
    )
    checks = [d.check for d in check_instrumentation(bad_name)]
    assert checks == ["instrument/metric-name"]


@pytest.mark.parametrize("name", ["a/b", "..", "", "a\\b"])
def test_check_rejects_service_name_as_folder(name: str) -> None:
    service = attrs.evolve(demo_service(PYTHON, ()), name=name)
    checks = [d.check for d in check_instrumentation(service)]
    assert checks == ["instrument/service-name"]


@pytest.mark.parametrize("target", ["demo:notaport", "demo:70000", "demo:0"])
def test_check_rejects_bad_scrape_port(target: str) -> None:
    diagnostics = check_instrumentation(demo_service(NODEJS, (), targets=(target,)))
    assert [(d.severity, d.check) for d in diagnostics] == [
        (Severity.ERROR, "instrument/scrape-target")
    ]
    assert f'invalid scrape target "{target}"' in diagnostics[0].message


def test_check_warns_without_scrape_target() -> None:
    diagnostics = check_instrumentation(demo_service(PYTHON, (), targets=()))
    assert [(d.severity, d.check) for d in diagnostics] == [
        (Severity.WARNING, "instrument/scrape-target")
    ]


@pytest.mark.parametrize(
    ("targets", "scheme", "expected"),
    [
        (("demo:9101",), "http", 9101),
        (("demo:9101", "other:9102"), "http", 9101),
        (("[::1]:9103",), "http", 9103),
        (("demo",), "http", 80),
        (("demo",), "https", 443),
    ],
    ids=["host-port", "first-target", "ipv6", "http-default", "https-default"],
)
def test_scrape_port(targets: tuple[str, ...], scheme: str, expected: int) -> None:
    service = attrs.evolve(
        demo_service(PYTHON, ()),
        scrape_jobs=(ScrapeJob("demo", targets, scheme=scheme),),
    )
    assert scrape_port(service) == expected


def test_scrape_port_without_jobs() -> None:
    assert scrape_port(demo_service(PYTHON, (), targets=())) is None


def two_jobs(runtime: Runtime, api: str, worker: str) -> Any:
    """Return the demo service with the scrape jobs api and worker."""
    return attrs.evolve(
        demo_service(runtime, ()),
        scrape_jobs=(
            ScrapeJob("api", (api,), location=Location("demo.yaml", 4, 5)),
            ScrapeJob("worker", (worker,), location=Location("demo.yaml", 6, 5)),
        ),
    )


def test_scrape_port_of_loopback_job() -> None:
    """A local build that retargets the second job serves that job by default."""
    service = two_jobs(PYTHON, "api:8080", "127.0.0.1:9200")
    assert scrape_port(service) == 9200
    assert loopback_host(service) == "127.0.0.1"


def test_loopback_host_of_shared_port() -> None:
    """A job on another host and the default port may scrape this server too."""
    service = two_jobs(PYTHON, "127.0.0.1:8080", "worker:8080")
    assert scrape_port(service) == 8080
    assert loopback_host(service) is None


@pytest.mark.parametrize(
    ("runtime", "call"),
    [(PYTHON, "start_metrics_server(9100)"), (NODEJS, "startMetricsServer(9100)")],
)
def test_check_warns_of_other_job_port(runtime: Runtime, call: str) -> None:
    diagnostics = check_instrumentation(two_jobs(runtime, "api:8080", "worker:9100"))
    assert [(d.severity, d.check) for d in diagnostics] == [
        (Severity.WARNING, "instrument/scrape-port")
    ]
    assert diagnostics[0].location == Location("demo.yaml", 6, 5)
    assert 'scrape job "worker" scrapes port 9100' in diagnostics[0].message
    assert 'listens on port 8080 of scrape job "api"' in diagnostics[0].message
    assert call in diagnostics[0].message


@pytest.mark.parametrize(
    ("api", "worker", "expected"),
    [
        (("api:8080",), ("worker-1:8080", "worker-2:9100"), [("worker", 9100, 1)]),
        (("api:8080",), ("worker-1:9100", "worker-2:8080"), [("worker", 9100, 0)]),
        (("api:8080", "api-2:8081"), ("worker:8080",), [("api", 8081, 1)]),
        (
            ("api:8080",),
            ("w-1:8080", "w-2:9100", "w-3:9100", "w-4:9101"),
            [("worker", 9100, 1), ("worker", 9101, 3)],
        ),
        (("api",), ("worker-1", "worker-2:80"), []),
    ],
    ids=["other-job", "other-job-first", "serving-job", "two-ports", "default-scheme"],
)
def test_check_warns_of_each_other_port(
    api: tuple[str, ...], worker: tuple[str, ...], expected: list
) -> None:
    """A job with a target on the default port still warns of its other ports."""
    targets = {"api": api, "worker": worker}
    service = attrs.evolve(
        demo_service(PYTHON, ()),
        scrape_jobs=tuple(
            ScrapeJob(
                name,
                targets[name],
                location=Location("demo.yaml", line, 5),
                locations={
                    f"targets.{index}": Location("demo.yaml", line + 1 + index, 9)
                    for index in range(len(targets[name]))
                },
            )
            for name, line in (("api", 4), ("worker", 10))
        ),
    )
    diagnostics = check_instrumentation(service)
    found = []
    for diagnostic in diagnostics:
        assert diagnostic.check == "instrument/scrape-port"
        assert diagnostic.severity is Severity.WARNING
        job, port = re.match(
            r'scrape job "(\w+)" scrapes port (\d+)', diagnostic.message
        ).groups()
        found.append((job, int(port), diagnostic.location.line))
        assert f"start_metrics_server({port})" in diagnostic.message
        assert 'listens on port 8080 of scrape job "api"' in diagnostic.message
    assert found == [
        (job, port, (4 if job == "api" else 10) + 1 + index)
        for job, port, index in expected
    ]


def test_scrape_port_warning_at_target(project: Path) -> None:
    """A manifest's warning is at the target on the other port."""
    write_manifest(
        project,
        "api.yaml",
        "service: api\nruntime: python\nscrape:\n  - job: api\n"
        "    targets: ['api-1:8080', 'api-2:9100']\n",
    )
    result = build(Project.at(project))
    assert [str(d) for d in result.diagnostics] == [
        'services/api.yaml:5:29: warning: scrape job "api" scrapes port 9100 at '
        'target "api-2:9100", but the metrics server of instrumentation/api/ '
        'listens on port 8080 of scrape job "api" by default; a process that "api" '
        "scrapes on port 9100 must pass its port, as in start_metrics_server(9100) "
        "[instrument/scrape-port]"
    ]


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        (
            "[::1:8080",
            'is missing the "]" that closes its IPv6 address; write the address '
            'in brackets, such as "[::1]:9090"',
        ),
        (
            "::1]:8080",
            'has a "]" without the "[" that opens an IPv6 address; write the '
            'address in brackets, such as "[::1]:9090"',
        ),
    ],
)
def test_unreadable_target_reported_at_target(
    project: Path, target: str, problem: str
) -> None:
    """A target with one bracket of an IPv6 address is an error at the target."""
    write_manifest(
        project,
        "api.yaml",
        "service: api\nruntime: python\nscrape:\n  - job: api\n"
        f"    targets: ['localhost:8080', '{target}']\n",
    )
    result = build(Project.at(project))
    assert [str(d) for d in result.diagnostics] == [
        f'services/api.yaml:5:33: error: target "{target}" {problem} [scrape/job]'
    ]


def test_no_port_warning_for_gateways(project: Path) -> None:
    """Probe and Pushgateway jobs scrape no process that the instrumentation serves."""
    write_manifest(
        project,
        "api.yaml",
        "service: api\nruntime: python\nscrape:\n"
        "  - {job: api, port: 8080}\n"
        "  - {job: pushgateway, targets: ['gateway:9091'], honor_labels: true}\n"
        "  - job: blackbox\n"
        "    probe: {exporter: 'blackbox:9115', module: http_2xx}\n"
        "    targets: ['https://api.example/health']\n",
    )
    result = build(Project.at(project))
    assert [str(d) for d in result.diagnostics] == []


def test_scrape_port_warning_in_python(project: Path) -> None:
    """A Python service's warning is at the targets argument."""
    write_manifest(
        project,
        "api.py",
        "from obscompile import dsl\n\n"
        'dsl.service("api", runtime="python", scrape=dsl.scrape_job(\n'
        '    "api", targets=["api-1:8080", "api-2:9100"]))\n',
    )
    result = build(Project.at(project))
    locations = [
        str(d.location)
        for d in result.diagnostics
        if d.check == "instrument/scrape-port"
    ]
    assert locations == ["services/api.py:4:20"]


def test_check_accepts_jobs_on_one_port() -> None:
    """Jobs that read other paths of one port are served by one metrics server."""
    service = two_jobs(PYTHON, "api:8080", "worker:8080")
    assert check_instrumentation(service) == []


# --- rendering --------------------------------------------------------------------


def test_builtin_templates_include_instrumentation() -> None:
    assert (builtin_templates_dir() / "instrumentation" / "metrics.py.j2").is_file()
    assert (builtin_templates_dir() / "instrumentation" / "metrics.ts.j2").is_file()


@pytest.mark.parametrize("runtime", [PYTHON, NODEJS])
def test_render_with_project_environment(
    runtime: Runtime, env: jinja2.Environment
) -> None:
    """The build's own environment renders the same files as a plain one."""
    service = demo_service(runtime, catalogs.KITCHEN_SINK)
    assert render(service, make_environment()) == render(service, env)


@pytest.mark.parametrize(
    ("runtime", "path"),
    [
        (PYTHON, "instrumentation/demo/metrics.py"),
        (NODEJS, "instrumentation/demo/metrics.ts"),
    ],
)
def test_render_path(runtime: Runtime, path: str, env: jinja2.Environment) -> None:
    files = render_instrumentation(demo_service(runtime, catalogs.KITCHEN_SINK), env)
    assert list(files) == [path]


def test_render_without_runtime(env: jinja2.Environment) -> None:
    service = attrs.evolve(demo_service(PYTHON, catalogs.KITCHEN_SINK), runtime=None)
    assert render_instrumentation(service, env) == {}


def test_render_raises_input_error(env: jinja2.Environment) -> None:
    service = demo_service(NODEJS, (Metric("h", HISTOGRAM, labels=("le",)),))
    with pytest.raises(InputError) as raised:
        render_instrumentation(service, env)
    assert [d.check for d in raised.value.diagnostics] == ["instrument/label-name"]


def test_render_uses_scrape_port(env: jinja2.Environment) -> None:
    python = render(demo_service(PYTHON, (), targets=("demo:4000",)), env)
    typescript = render(demo_service(NODEJS, (), targets=("demo:4000",)), env)
    assert "    port: int = 4000, addr: str" in python
    assert "startMetricsServer(port: number = 4000, host?: string)" in typescript


def test_render_explains_labelled_info(env: jinja2.Environment) -> None:
    """prometheus_client's Info with labels takes .labels(...).info(), not .info()."""
    service = demo_service(
        PYTHON, (Metric("build", INFO, labels=("version",)), Metric("up", INFO))
    )
    text = render(service, env)
    assert text.count(".info() alone raises AttributeError") == 1
    assert (
        "# build_info.labels(...).info({...}); .info() alone raises AttributeError.\n"
        "build_info = prometheus_client.Info(" in text
    )


@pytest.mark.parametrize(
    ("target", "host"),
    [
        ("127.0.0.1:4000", "127.0.0.1"),
        ("127.0.0.2:4000", "127.0.0.2"),
        ("localhost:4000", "localhost"),
        ("[::1]:4000", "::1"),
        ("demo:4000", None),
        ("10.0.0.1:4000", None),
        ("[::]:4000", None),
        ("localhost.:4000", "localhost."),
        ("[::ffff:127.0.0.1]:4000", "::ffff:127.0.0.1"),
    ],
)
def test_loopback_host(target: str, host: str | None) -> None:
    assert loopback_host(demo_service(PYTHON, (), targets=(target,))) == host


@pytest.mark.parametrize(
    "targets",
    [("127.0.0.1:4000", "192.0.2.10:4000"), ("127.0.0.1:4000", "localhost:4000")],
)
def test_loopback_host_needs_every_target_on_one(targets: tuple[str, ...]) -> None:
    """A job with a target on another host, or on two loopback hosts, listens on all."""
    assert loopback_host(demo_service(PYTHON, (), targets=targets)) is None


def test_render_listens_on_loopback_target(env: jinja2.Environment) -> None:
    """A local build's target is on this machine, so the server listens there alone."""
    python = render(demo_service(PYTHON, (), targets=("127.0.0.1:4000",)), env)
    typescript = render(demo_service(NODEJS, (), targets=("127.0.0.1:4000",)), env)
    assert '    port: int = 4000, addr: str = "127.0.0.1"\n' in python
    assert (
        'startMetricsServer(port: number = 4000, host: string = "127.0.0.1")'
        in typescript
    )
    other = render(demo_service(PYTHON, (), targets=("demo:4000",)), env)
    assert '    port: int = 4000, addr: str = "0.0.0.0"\n' in other


def test_loopback_module_listens_on_loopback(
    env: jinja2.Environment, tmp_path: Path
) -> None:
    path = tmp_path / "metrics.py"
    service = demo_service(PYTHON, (), targets=("127.0.0.1:4000",))
    path.write_text(render(service, env), encoding="utf-8")
    program = (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('m', sys.argv[1])\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "server, _ = module.start_metrics_server(0)\n"
        "print(server.server_address[0])\n"
        "server.shutdown()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "127.0.0.1"


def test_render_without_scrape_target(env: jinja2.Environment) -> None:
    """A warning does not stop rendering, but the port loses its default."""
    python = render(demo_service(PYTHON, (), targets=()), env)
    typescript = render(demo_service(NODEJS, (), targets=()), env)
    assert "    port: int, addr: str" in python
    assert "startMetricsServer(port: number, host?: string)" in typescript


def test_render_quotes_metrics_path(env: jinja2.Environment) -> None:
    service = demo_service(NODEJS, (), metrics_path='/odd"path\\')
    assert 'const metricsPath = "/odd\\"path\\\\";' in render(service, env)


@pytest.mark.parametrize("runtime", [PYTHON, NODEJS])
def test_render_help_defaults_to_name(
    runtime: Runtime, env: jinja2.Environment
) -> None:
    text = render(demo_service(runtime, (Metric("no_help", GAUGE),)), env)
    assert '"no_help",\n    "no_help",' in text or 'help: "no_help",' in text


@pytest.mark.parametrize("runtime", [PYTHON, NODEJS])
def test_render_strings_are_data(runtime: Runtime, env: jinja2.Environment) -> None:
    """Manifest text reaches the file as an escaped literal and is never templated."""
    text = render(demo_service(runtime, catalogs.KITCHEN_SINK), env)
    literal = python_string if runtime == PYTHON else typescript_string
    assert literal(catalogs.TRICKY_HELP) in text
    assert "{{ $labels.job }}" in text
    assert "{% raw %}" in text
    assert text.isascii()


@pytest.mark.parametrize("runtime", [PYTHON, NODEJS])
def test_render_ignores_caller_settings(
    runtime: Runtime, env: jinja2.Environment
) -> None:
    """The caller's whitespace, escaping and undefined settings do not apply."""
    other = jinja2.Environment(
        loader=jinja2.FileSystemLoader(builtin_templates_dir()),
        trim_blocks=False,
        lstrip_blocks=False,
        autoescape=True,
        keep_trailing_newline=False,
        undefined=jinja2.Undefined,
        finalize=lambda value: "" if value is None else value,
    )
    # Templates that the caller's environment compiled itself must not be reused.
    other.get_template(PYTHON_TEMPLATE)
    other.get_template(TYPESCRIPT_TEMPLATE)
    service = demo_service(runtime, catalogs.KITCHEN_SINK)
    assert render(service, other) == render(service, env)


def test_render_uses_caller_loader(tmp_path: Path) -> None:
    """A project's own template replaces the built-in one of the same name."""
    override = tmp_path / "instrumentation"
    override.mkdir()
    (override / "metrics.py.j2").write_text("{{ metrics | length }} metrics\n")
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.FileSystemLoader(tmp_path),
                jinja2.FileSystemLoader(builtin_templates_dir()),
            ]
        )
    )
    text = render(demo_service(PYTHON, catalogs.KITCHEN_SINK), env)
    assert text == f"{len(catalogs.KITCHEN_SINK)} metrics\n"


@pytest.mark.parametrize("runtime", [PYTHON, NODEJS])
def test_render_shapes(runtime: Runtime, env: jinja2.Environment) -> None:
    """Each metric type becomes the right constructor with its labels and buckets."""
    text = render(demo_service(runtime, catalogs.KITCHEN_SINK), env)
    if runtime == PYTHON:
        expected = [
            'http_requests_total = prometheus_client.Counter(\n'
            '    "http_requests_total",\n'
            '    "Total HTTP requests",\n'
            '    labelnames=("method", "status_code"),\n'
            "    registry=registry,\n)",
            'jobs_total = prometheus_client.Counter(\n    "jobs",',
            'queue_depth = prometheus_client.Gauge(\n    "queue_depth",\n'
            '    "Messages waiting",\n    labelnames=("queue",),',
            '    labelnames=("endpoint",),\n'
            "    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 2.5),\n",
            'batch_size = prometheus_client.Histogram(\n    "batch_size",\n'
            '    "Batch size with the library\'s default buckets",\n'
            "    registry=registry,\n)",
            'payload_bytes = prometheus_client.Summary(\n    "payload_bytes",',
            'build_info = prometheus_client.Info(\n    "build",',
            'deployment_info = prometheus_client.Info(\n    "deployment",\n'
            '    "Deployment information",\n    labelnames=("region", "version"),',
            'class_ = prometheus_client.Gauge(\n    "class",',
            '_rpc_latency_seconds = prometheus_client.Histogram(\n'
            '    ":rpc:latency_seconds",\n    "Leading colon",\n'
            "    buckets=(0.1, 1.0),\n",
            '__name__metric = prometheus_client.Gauge(\n    "__name__",',
        ]  # fmt: skip
    else:
        expected = [
            "export const httpRequestsTotal = new client.Counter({\n"
            '  name: "http_requests_total",\n'
            '  help: "Total HTTP requests",\n'
            '  labelNames: ["method", "status_code"],\n'
            "  registers: [register],\n});",
            'export const jobsTotal = new client.Counter({\n  name: "jobs_total",',
            'export const queueDepth = new client.Gauge({\n  name: "queue_depth",',
            '  labelNames: ["endpoint"],\n  buckets: [0.01, 0.05, 0.1, 0.5, 1, 2.5],\n',
            'export const batchSize = new client.Histogram({\n  name: "batch_size",\n'
            "  help: \"Batch size with the library's default buckets\",\n"
            "  registers: [register],\n});",
            "export const payloadBytes = new client.Summary({\n"
            '  name: "payload_bytes",',
            'export const buildInfo = new client.Gauge({\n  name: "build_info",',
            "});\nbuildInfo.set(1);\n",
            "// prom-client has no Info type",
            "export const deploymentInfo = new client.Gauge({\n"
            '  name: "deployment_info",',
            'export const class_ = new client.Gauge({\n  name: "class",',
            'export const delete_ = new client.Gauge({\n  name: "delete",',
            'export const register_ = new client.Gauge({\n  name: "register",',
            'export const _rpcLatencySeconds = new client.Histogram({\n'
            '  name: ":rpc:latency_seconds",\n  help: "Leading colon",\n'
            "  buckets: [0.1, 1],\n",
        ]  # fmt: skip
    for fragment in expected:
        assert fragment in text
    assert "\ndeploymentInfo.set(" not in text


def test_render_wraps_long_python_tuples(env: jinja2.Environment) -> None:
    labels = tuple(f"label_number_{i}" for i in range(8))
    metric = Metric("wide", GAUGE, "Many labels", labels)
    text = render(demo_service(PYTHON, (metric,)), env)
    assert '    labelnames=(\n        "label_number_0",\n' in text
    assert '        "label_number_7",\n    ),\n' in text


def test_render_is_deterministic(env: jinja2.Environment) -> None:
    first = rendered_corpus(env)
    assert rendered_corpus(env) == first


def test_render_is_independent_of_hash_seed(env: jinja2.Environment) -> None:
    expected = hashlib.sha256(json.dumps(rendered_corpus(env)).encode()).hexdigest()
    script = f"""
import hashlib, importlib.util, json, sys
import jinja2
from obscompile.instrument import render_instrumentation
from obscompile.render.environment import builtin_templates_dir
spec = importlib.util.spec_from_file_location("catalogs", {str(DATA / "catalogs.py")!r})
catalogs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(catalogs)
env = jinja2.Environment(loader=jinja2.FileSystemLoader(builtin_templates_dir()))
files = {{}}
for service in catalogs.corpus():
    files.update(render_instrumentation(service, env))
print(hashlib.sha256(json.dumps(files).encode()).hexdigest())
"""
    for seed in ("0", "4242"):
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == expected, f"PYTHONHASHSEED={seed}"


def rendered_corpus(env: jinja2.Environment) -> dict[str, str]:
    files: dict[str, str] = {}
    for service in catalogs.corpus():
        files.update(render_instrumentation(service, env))
    return files


@pytest.mark.parametrize("service", catalogs.PLATFORM_SERVICES, ids=lambda s: s.name)
def test_render_matches_golden(service: Any, env: jinja2.Environment) -> None:
    ((relative, text),) = render_instrumentation(service, env).items()
    golden = GOLDEN / Path(relative).relative_to("instrumentation")
    if os.environ.get("OBSCOMPILE_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.is_file(), f"{golden} is missing; run with OBSCOMPILE_UPDATE_GOLDEN=1"
    assert text == golden.read_text(encoding="utf-8")


# --- Python: ruff, mypy and the real prometheus_client ------------------------------

PYTHON_SERVICES = [
    pytest.param(demo_service(PYTHON, catalogs.KITCHEN_SINK), id="kitchen-sink"),
    pytest.param(
        demo_service(PYTHON, catalogs.gauges(catalogs.PYTHON_RESERVED_NAMES)),
        id="reserved-names",
    ),
    pytest.param(catalogs.ALPHACOPILOT_SERVER, id="alphacopilot_server"),
]


@pytest.fixture
def python_module(
    request: pytest.FixtureRequest, env: jinja2.Environment, tmp_path: Path
):
    service = request.param
    path = tmp_path / "metrics.py"
    path.write_text(render(service, env), encoding="utf-8")
    return service, path


@pytest.mark.parametrize("python_module", PYTHON_SERVICES, indirect=True)
def test_python_module_is_ruff_clean(python_module: tuple[Any, Path]) -> None:
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip(
            "ruff is not installed; install the dev extra: pip install -e .[dev]"
        )
    _, path = python_module
    formatted = subprocess.run(
        [ruff, "format", "--isolated", "--line-length", "88", "--diff", str(path)],
        capture_output=True,
        text=True,
    )
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr
    # E501 is ignored because a help text can be longer than a line.
    linted = subprocess.run(
        [ruff, "check", "--isolated", "--select", "E,F,W,I,B,UP,SIM",
         "--ignore", "E501", str(path)],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert linted.returncode == 0, linted.stdout + linted.stderr


@pytest.mark.parametrize("python_module", PYTHON_SERVICES[:1], indirect=True)
def test_python_module_passes_mypy_strict(
    python_module: tuple[Any, Path], tmp_path: Path
) -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip(
            "mypy is not installed; install the dev extra: pip install -e .[dev]"
        )
    _, path = python_module
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir",
         str(tmp_path / "mypy-cache"), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def run_python_driver(path: Path, plan: list[dict[str, Any]]) -> dict[str, Any]:
    """Run python_driver.py on the module at `path` with `plan` and return its report."""
    result = subprocess.run(
        [sys.executable, str(DATA / "python_driver.py"), str(path), json.dumps(plan)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("python_module", PYTHON_SERVICES, indirect=True)
def test_python_module_exposition(python_module: tuple[Any, Path]) -> None:
    service, path = python_module
    plan = [
        {
            "identifier": python_identifier(metric),
            "type": str(metric.type),
            "labels": label_values(metric),
            "info": INFO_VALUES,
        }
        for metric in service.metrics
    ]
    report = run_python_driver(path, plan)

    for key in ("latest", "served"):
        assert_exposition(report[key], service.metrics, PYTHON)
    assert_checked_series(report["latest"], service.metrics, PYTHON)
    assert report["content_type"].startswith("text/plain")

    latest = report["latest"]
    assert "# TYPE python_info gauge" in latest
    assert "# TYPE python_gc_objects_collected_total counter" in latest
    if sys.platform == "linux":
        assert "# TYPE process_cpu_seconds_total counter" in latest
    if service.metrics == catalogs.KITCHEN_SINK:
        assert 'le="0.05"' in latest
        assert 'le="+Inf"' in latest

    names = set(report["names"])
    assert names & PYTHON_BUILTINS == set()
    for metric in service.metrics:
        assert python_identifier(metric) in names
    assert {"registry", "start_metrics_server"} <= names


def test_python_default_families_match_library() -> None:
    """The default collectors export only families that the name check lists."""
    import prometheus_client

    registry = prometheus_client.CollectorRegistry()
    prometheus_client.ProcessCollector(registry=registry)
    prometheus_client.PlatformCollector(registry=registry)
    prometheus_client.GCCollector(registry=registry)
    exposed = set(
        type_lines(prometheus_client.generate_latest(registry).decode()).items()
    )
    known = {(name, EXPOSED_TYPES[kind]) for name, kind in PYTHON_DEFAULT_FAMILIES}
    assert exposed - known == set()
    if sys.platform == "linux":
        assert exposed == known


# --- TypeScript: tsc and the real prom-client --------------------------------------


@attrs.frozen
class NodeToolchain:
    node: str
    tsc: Path

    def compile(
        self, workspace: Path, *arguments: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.node, str(self.tsc), *TSC_FLAGS, *arguments],
            cwd=workspace,
            capture_output=True,
            text=True,
            timeout=180,
        )


@pytest.fixture(scope="session")
def node_toolchain() -> NodeToolchain:
    """Return node and tsc, running `npm install` in tests/node/ when it is needed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail(
            "the prom-client tests need node and npm on PATH; install Node.js 20 or "
            "later with npm (on Debian: apt-get install nodejs npm)",
            pytrace=False,
        )
    missing = [
        p for p in NODE_PACKAGES if not (NODE_MODULES / p / "package.json").is_file()
    ]
    if missing:
        result = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            pytest.fail(
                f"npm install in {NODE_DIR} failed with exit code "
                f"{result.returncode}:\n{result.stdout}{result.stderr}",
                pytrace=False,
            )
    return NodeToolchain(node=node, tsc=NODE_MODULES / "typescript" / "bin" / "tsc")


def node_workspace(tmp_path: Path, metrics_ts: str) -> Path:
    """Make a folder where tsc and node resolve packages from tests/node/."""
    workspace = tmp_path / "ts"
    workspace.mkdir()
    (workspace / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    (workspace / "package.json").write_text('{"private": true, "type": "commonjs"}\n')
    (workspace / "metrics.ts").write_text(metrics_ts, encoding="utf-8")
    return workspace


TYPESCRIPT_SERVICES = [
    pytest.param(
        demo_service(NODEJS, catalogs.KITCHEN_SINK, metrics_path="/internal/metrics"),
        id="kitchen-sink",
    ),
    pytest.param(
        demo_service(NODEJS, catalogs.gauges(catalogs.TYPESCRIPT_RESERVED_NAMES)),
        id="reserved-names",
    ),
    pytest.param(catalogs.NOTIFICATION_SERVER, id="notification_server"),
]


LOOPBACK_TYPESCRIPT = pytest.param(
    demo_service(NODEJS, catalogs.KITCHEN_SINK, targets=("127.0.0.1:4000",)),
    id="loopback-target",
)


@pytest.mark.parametrize(
    "service", [TYPESCRIPT_SERVICES[0], TYPESCRIPT_SERVICES[2], LOOPBACK_TYPESCRIPT]
)
def test_typescript_module_type_checks(
    service: Any, env: jinja2.Environment, node_toolchain: NodeToolchain, tmp_path: Path
) -> None:
    workspace = node_workspace(tmp_path, render(service, env))
    result = node_toolchain.compile(workspace, "--noEmit", "metrics.ts")
    assert result.returncode == 0, result.stdout + result.stderr


def test_typescript_label_names_are_typed(
    env: jinja2.Environment, node_toolchain: NodeToolchain, tmp_path: Path
) -> None:
    """tsc rejects a label that the catalog does not declare."""
    metric = Metric("queue_depth", GAUGE, "Messages waiting", ("queue",))
    workspace = node_workspace(tmp_path, render(demo_service(NODEJS, (metric,)), env))
    (workspace / "use.ts").write_text(
        'import { queueDepth } from "./metrics";\n'
        'queueDepth.set({ undeclared_label: "x" }, 1);\n'
    )
    result = node_toolchain.compile(workspace, "--noEmit", "use.ts")
    assert result.returncode != 0
    assert "undeclared_label" in result.stdout


def compiled_runner(
    service: Any, env: jinja2.Environment, toolchain: NodeToolchain, tmp_path: Path
) -> Path:
    """Compile the service's metrics.ts with a runner that serves it; return the runner."""
    workspace = node_workspace(tmp_path, render(service, env))
    (workspace / "runner.ts").write_text(typescript_runner(service), encoding="utf-8")
    compiled = toolchain.compile(
        workspace, "--outDir", "build", "metrics.ts", "runner.ts"
    )
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    return workspace / "build" / "runner.js"


def test_typescript_serves_every_job_path(
    env: jinja2.Environment, node_toolchain: NodeToolchain, tmp_path: Path
) -> None:
    """A service of two scrape jobs with their own paths is served at both."""
    service = attrs.evolve(
        demo_service(NODEJS, catalogs.KITCHEN_SINK),
        scrape_jobs=(
            ScrapeJob("demo-api", ("demo:9101",), metrics_path="/internal/metrics"),
            ScrapeJob("demo-worker", ("demo-worker:9102",), metrics_path="/metrics"),
        ),
    )
    runner = compiled_runner(service, env, node_toolchain, tmp_path)
    with running_node(node_toolchain, runner) as (port, output):
        first, _ = fetch(f"http://127.0.0.1:{port}/internal/metrics")
        second, _ = fetch(f"http://127.0.0.1:{port}/metrics")
        with pytest.raises(urllib.error.HTTPError) as missing:
            fetch(f"http://127.0.0.1:{port}/not-metrics")

    assert missing.value.code == 404
    assert (
        f"[Metrics] Prometheus metrics on 127.0.0.1:{port}/internal/metrics" in output
    )
    assert_exposition(first, service.metrics, NODEJS)
    assert_exposition(second, service.metrics, NODEJS)


def test_typescript_decodes_request_path(
    env: jinja2.Environment, node_toolchain: NodeToolchain, tmp_path: Path
) -> None:
    """The server compares the percent-decoded path and rejects invalid encodings."""
    service = demo_service(NODEJS, catalogs.KITCHEN_SINK, metrics_path="/a b/%")
    runner = compiled_runner(service, env, node_toolchain, tmp_path)
    with running_node(node_toolchain, runner) as (port, _):
        text, _ = fetch(f"http://127.0.0.1:{port}/a%20b/%25")
        with pytest.raises(urllib.error.HTTPError) as undecoded:
            fetch(f"http://127.0.0.1:{port}/a%20b/%2525")
        with pytest.raises(urllib.error.HTTPError) as invalid:
            fetch(f"http://127.0.0.1:{port}/a%20b/%")

    assert_exposition(text, service.metrics, NODEJS)
    assert undecoded.value.code == 404
    assert invalid.value.code == 400


@pytest.mark.parametrize("service", TYPESCRIPT_SERVICES)
def test_typescript_module_exposition(
    service: Any, env: jinja2.Environment, node_toolchain: NodeToolchain, tmp_path: Path
) -> None:
    runner = compiled_runner(service, env, node_toolchain, tmp_path)
    path = service.scrape_jobs[0].metrics_path
    with running_node(node_toolchain, runner) as (port, output):
        text, content_type = fetch(f"http://127.0.0.1:{port}{path}")
        with_query, _ = fetch(f"http://127.0.0.1:{port}{path}?debug=1")
        with pytest.raises(urllib.error.HTTPError) as missing:
            fetch(f"http://127.0.0.1:{port}/not-metrics")

    assert missing.value.code == 404
    assert content_type.startswith("text/plain")
    assert f"[Metrics] Prometheus metrics on 127.0.0.1:{port}{path}" in output
    assert_exposition(text, service.metrics, NODEJS)
    assert_exposition(with_query, service.metrics, NODEJS)
    assert_checked_series(text, service.metrics, NODEJS)

    catalog = {family_name(metric) for metric in service.metrics}
    defaults = {(name, EXPOSED_TYPES[kind]) for name, kind in NODEJS_DEFAULT_FAMILIES}
    others = {item for item in type_lines(text).items() if item[0] not in catalog}
    assert others - defaults == set()
    assert ("nodejs_version_info", "gauge") in others
    if service.metrics == catalogs.KITCHEN_SINK:
        assert 'le="0.05"' in text
        assert 'le="+Inf"' in text


def typescript_runner(service: Any) -> str:
    """Return a TypeScript program that observes each metric and serves the registry.

    It prints `READY <port>` once the server listens on an OS-assigned port.
    """
    lines = [
        'import type { AddressInfo } from "node:net";',
        'import * as metrics from "./metrics";',
    ]
    for metric in service.metrics:
        target = f"metrics.{typescript_identifier(metric)}"
        values = label_values(metric)
        pairs = [
            f"{json.dumps(key)}: {json.dumps(value)}" for key, value in values.items()
        ]
        prefix = "{ " + ", ".join(pairs) + " }, " if values else ""
        if metric.type == COUNTER:
            lines.append(f"{target}.inc({prefix}2);")
        elif metric.type == GAUGE:
            lines.append(f"{target}.set({prefix}3);")
        elif metric.type == HISTOGRAM:
            lines.append(f"{target}.observe({prefix}0.07);")
        elif metric.type == SUMMARY:
            lines.append(f"{target}.observe({prefix}0.3);")
        elif metric.type == INFO and values:
            lines.append(f"{target}.set({prefix}1);")
    lines += [
        'const server = metrics.startMetricsServer(0, "127.0.0.1");',
        'server.once("listening", () => {',
        "  const address = server.address() as AddressInfo;",
        "  console.log(`READY ${address.port}`);",
        "});",
    ]
    return "\n".join(lines) + "\n"


class running_node:
    """Run a compiled runner and yield its port and the output printed up to READY."""

    def __init__(self, toolchain: NodeToolchain, script: Path) -> None:
        self.command = [toolchain.node, str(script)]

    def __enter__(self) -> tuple[int, str]:
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_pump, args=(self.process, lines), daemon=True).start()
        output = []
        while True:
            try:
                line = lines.get(timeout=20)
            except queue.Empty:
                self.__exit__()
                pytest.fail("node did not print READY within 20 s:\n" + "".join(output))
            if line is None:
                self.__exit__()
                pytest.fail("node exited before printing READY:\n" + "".join(output))
            output.append(line)
            if line.startswith("READY "):
                return int(line.split()[1]), "".join(output)

    def __exit__(self, *exc_info: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _pump(process: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.put(line)
    lines.put(None)


def fetch(url: str) -> tuple[str, str]:
    """Return the body and Content-Type of a GET request to a loopback URL."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode(), response.headers["Content-Type"]


# --- exposition assertions -----------------------------------------------------------


def label_values(metric: Metric) -> dict[str, str]:
    return {label: f"{label}-value" for label in metric.labels}


def type_lines(text: str) -> dict[str, str]:
    """Return the family name and type of every `# TYPE` line."""
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.MULTILINE))


def assert_exposition(text: str, metrics: tuple[Metric, ...], runtime: Runtime) -> None:
    """Assert that each metric appears with its type, help, labels and value."""
    families = list(text_string_to_metric_families(text))
    samples = [sample for family in families for sample in family.samples]
    helps = {
        family.name
        + ("_total" if family.type == "counter" else ""): family.documentation
        for family in families
    }
    types = type_lines(text)

    for metric in metrics:
        family = family_name(metric)
        labels = label_values(metric)
        assert types.get(family) == EXPOSED_TYPES[MetricType(metric.type)], family
        assert helps.get(family) == (metric.help or metric.name), family

        if metric.type == COUNTER:
            assert sample_value(samples, family, labels) == 2
        elif metric.type == GAUGE:
            assert sample_value(samples, family, labels) == 3
        elif metric.type == HISTOGRAM:
            assert_histogram(samples, metric, labels)
        elif metric.type == SUMMARY:
            assert sample_value(samples, f"{metric.name}_count", labels) == 1
            assert sample_value(samples, f"{metric.name}_sum", labels) == pytest.approx(
                0.3
            )
            quantiles = {
                s.labels["quantile"]
                for s in samples
                if s.name == metric.name and "quantile" in s.labels
            }
            # prometheus_client summaries export no quantiles, but prom-client's do.
            expected = set(PROM_CLIENT_QUANTILES) if runtime == NODEJS else set()
            assert quantiles == expected, metric.name
        elif metric.type == INFO:
            info = {**labels, **INFO_VALUES} if runtime == PYTHON else labels
            assert sample_value(samples, family, info) == 1


def assert_checked_series(
    text: str, metrics: tuple[Metric, ...], runtime: Runtime
) -> None:
    """Assert that the exposition has exactly the series that the query checks accept.

    The checks read the series of a service's metrics from `exported_series`, under
    the series naming of its runtime. Every metric must have been observed.
    """
    families = text_string_to_metric_families(text)
    exposed = {
        sample.name
        for family in families
        for sample in family.samples
        if not is_builtin(sample.name)
    }
    accepted = {
        series
        for metric in with_runtime_naming(metrics, runtime)
        for series in exported_series(metric)
    }
    assert sorted(exposed) == sorted(accepted)


def assert_histogram(
    samples: list[Sample], metric: Metric, labels: dict[str, str]
) -> None:
    buckets = {
        float(s.labels["le"]): s.value
        for s in samples
        if s.name == f"{metric.name}_bucket"
        and {k: v for k, v in s.labels.items() if k != "le"} == labels
    }
    assert math.inf in buckets, f"{metric.name} has no +Inf bucket"
    bounds = [bound for bound in metric.buckets if bound != math.inf]
    if bounds:
        assert sorted(buckets) == [*bounds, math.inf], metric.name
    else:
        assert 0.005 in buckets, f"{metric.name} lacks the default 0.005 bucket"
    for bound, count in buckets.items():
        assert count == (1 if bound >= 0.07 else 0), f"{metric.name} le={bound}"
    assert sample_value(samples, f"{metric.name}_count", labels) == 1
    assert sample_value(samples, f"{metric.name}_sum", labels) == pytest.approx(0.07)


def sample_value(samples: list[Sample], name: str, labels: dict[str, str]) -> float:
    matches = [s.value for s in samples if s.name == name and s.labels == labels]
    same_name = [s for s in samples if s.name == name]
    assert len(matches) == 1, f"no single sample {name}{labels}; found {same_name}"
    return matches[0]


def import_generated(text: str, path: Path) -> ModuleType:
    """Write a generated metrics.py to `path` and import it."""
    path.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_keyword_labels_are_explained(tmp_path: Path) -> None:
    metric = Metric("hops_total", COUNTER, labels=("from", "to"))
    files = render_instrumentation(
        demo_service(PYTHON, (metric,)), make_environment(None)
    )
    (text,) = files.values()
    assert (
        '# The label "from" cannot be a keyword argument of .labels() in Python, so '
        "pass the\n# label values by position or as .labels(**{...}).\n"
    ) in text
    module = import_generated(text, tmp_path / "metrics_keyword.py")
    module.hops_total.labels(**{"from": "a", "to": "b"}).inc()
    assert (
        module.registry.get_sample_value("hops_total", {"from": "a", "to": "b"}) == 1.0
    )


def test_parameter_label_is_positional_only(tmp_path: Path) -> None:
    """A label named self can be passed by position alone, as the comment states."""
    labels = ("method", "class", "def", "self")
    metric = Metric("calls_total", COUNTER, labels=labels)
    files = render_instrumentation(
        demo_service(PYTHON, (metric,)), make_environment(None)
    )
    (text,) = files.values()
    assert (
        '# The labels "class", "def", "self" cannot be keyword arguments of .labels() '
        "in Python,\n# so pass the label values by position. .labels(**{...}) cannot "
        'pass "self" either,\n# because .labels() has a parameter of that name.\n'
    ) in text
    module = import_generated(text, tmp_path / "metrics_parameter.py")
    module.calls_total.labels("GET", "a", "b", "c").inc()
    values = dict(zip(labels, ("GET", "a", "b", "c"), strict=True))
    assert module.registry.get_sample_value("calls_total", values) == 1.0
    with pytest.raises(TypeError, match="multiple values for argument 'self'"):
        module.calls_total.labels(**values)


KEYWORD_LABEL_CANDIDATES = sorted(
    {*keyword.kwlist, *keyword.softkwlist, "__debug__", "self", "method"}
    | {"labelvalues", "labelkwargs", "registry", "name"}
)


@pytest.mark.parametrize("label", KEYWORD_LABEL_CANDIDATES)
def test_keyword_label_matches_library(label: str) -> None:
    """keyword_label_allowed is True exactly when `.labels(label=...)` works."""
    import prometheus_client

    try:
        compile(f"counter.labels({label}='x')", "<label>", "eval")
    except SyntaxError:
        works = False
    else:
        counter = prometheus_client.Counter(
            "calls", "Calls", (label,), registry=prometheus_client.CollectorRegistry()
        )
        try:
            counter.labels(**{label: "x"}).inc()
        except TypeError:
            works = False
        else:
            works = True
    assert keyword_label_allowed(label) == works


# --- bucket bounds: the `le` texts of the real libraries ---------------------------

# Bounds whose `le` texts differ between the libraries: whole numbers, and numbers that
# one library writes in exponent form and the other does not.
WIDE_BOUNDS = (0.0, 1e-05, 0.1, 1.0, 2.5, 123456.0, 1234567.0, 100000000.0, 1e21)

WIDE_BOUNDS_MANIFEST = """\
service: waits
runtime: {runtime}
scrape: {{job: waits, port: 9100}}
metrics:
  wait_seconds:
    type: histogram
    help: Time spent waiting
    buckets: [{buckets}]
rows:
  - title: Waits
    panels:
      - title: Wait p90
        query: histogram_quantile(0.9, sum by (le) (rate(wait_seconds_bucket{{job="waits"}}[5m])))
        unit: s
        thresholds: "<2s Green, >=2s Red"
"""


def yaml_float(value: float) -> str:
    """Return `value` as a YAML 1.1 float, whose exponent form needs a "." (`1.0e+21`)."""
    mantissa, _, exponent = repr(value).partition("e")
    if not exponent:
        return mantissa
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}e{exponent}"


def exposed_le_values(text: str, name: str) -> list[str]:
    """Return the `le` value of each `_bucket` sample of `name`, in exposition order."""
    pattern = rf'^{name}_bucket\{{(?:[^}}]*,)?le="([^"]*)"'
    return re.findall(pattern, text, flags=re.MULTILINE)


def serve_python_module(path: Path, metric: Metric) -> str:
    """Import the generated metrics.py, observe `metric` once and return the exposition."""
    plan = [
        {"identifier": python_identifier(metric), "type": "histogram", "labels": {}}
    ]
    return run_python_driver(path, plan)["served"]


def serve_typescript_module(
    metrics_ts: str, metric: Metric, toolchain: NodeToolchain, tmp_path: Path
) -> str:
    """Compile and run the generated metrics.ts, observe `metric` once and scrape it."""
    workspace = node_workspace(tmp_path, metrics_ts)
    runner = typescript_runner(demo_service(NODEJS, (metric,)))
    (workspace / "runner.ts").write_text(runner, encoding="utf-8")
    compiled = toolchain.compile(
        workspace, "--outDir", "build", "metrics.ts", "runner.ts"
    )
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    with running_node(toolchain, workspace / "build" / "runner.js") as (port, _):
        text, _ = fetch(f"http://127.0.0.1:{port}/metrics")
    return text


@pytest.mark.parametrize("runtime", [PYTHON, NODEJS])
def test_bucket_bounds_match_library(
    runtime: Runtime, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The check's `le` texts and the generated tests' are those the library exposes.

    The generated instrumentation runs with the real prometheus_client or prom-client.
    """
    buckets = ", ".join(yaml_float(bound) for bound in WIDE_BOUNDS)
    text = WIDE_BOUNDS_MANIFEST.format(runtime=runtime, buckets=buckets)
    project = write_manifest(tmp_path / "project", "waits.yaml", text)
    result = build(Project.at(project))
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)

    (metric,) = result.services[0].metrics
    assert metric.buckets == WIDE_BOUNDS
    if runtime == PYTHON:
        module = tmp_path / "metrics.py"
        module.write_text(result.files["instrumentation/waits/metrics.py"])
        exposition = serve_python_module(module, metric)
    else:
        exposition = serve_typescript_module(
            result.files["instrumentation/waits/metrics.ts"],
            metric,
            request.getfixturevalue("node_toolchain"),
            tmp_path,
        )
    exposed = exposed_le_values(exposition, "wait_seconds")

    library_text = bucket_bounds.LIBRARY_TEXTS[metric.naming]
    checked = [library_text(b) for b in bucket_bounds.exposed_bounds(metric)]
    assert exposed == checked

    tests = yaml.safe_load(result.files["prometheus/tests/waits.test.yml"])
    series = [
        entry["series"]
        for group in tests["tests"]
        for entry in group["input_series"]
        if entry["series"].startswith("wait_seconds_bucket{")
    ]
    assert series, "the generated tests have no bucket series"
    assert {re.search(r'le="([^"]*)"', s)[1] for s in series} == set(exposed)


@given(st.floats(allow_nan=False))
def test_prometheus_client_text_matches_library(bound: float) -> None:
    from prometheus_client.utils import floatToGoString

    assert bucket_bounds.prometheus_client_text(bound) == floatToGoString(bound)


@pytest.mark.parametrize("runtime", ["python", "nodejs"])
def test_https_job_warns_of_plain_server(project: Path, runtime: str) -> None:
    """The generated metrics server speaks plain HTTP, which an https job fails on."""
    write_manifest(
        project,
        "api.yaml",
        f"service: api\nruntime: {runtime}\nscrape:\n"
        "  - job: api\n    port: 8080\n"
        "  - job: api_tls\n    port: 8443\n    scheme: https\n",
    )
    result = build(Project.at(project))
    schemes = [d for d in result.diagnostics if d.check == "instrument/scheme"]
    assert len(schemes) == 1
    assert schemes[0].severity is Severity.WARNING
    assert (schemes[0].location.line, schemes[0].location.column) == (8, 13)
    assert 'scrape job "api_tls" scrapes over https' in schemes[0].message
    assert "serves plain HTTP" in schemes[0].message


def test_https_job_without_runtime_not_warned(project: Path) -> None:
    """A service without a runtime gets no metrics server to warn of."""
    write_manifest(
        project,
        "api.yaml",
        "service: api\nscrape:\n  job: api\n  port: 8443\n  scheme: https\n",
    )
    result = build(Project.at(project))
    assert [d for d in result.diagnostics if d.check == "instrument/scheme"] == []
