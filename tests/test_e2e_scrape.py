"""End-to-end tests of scrape jobs against a real Prometheus server on 127.0.0.1.

- The scrape_health block: one job has two targets, the Prometheus server's own
  /metrics, which responds, and a port that nothing listens on. Prometheus writes
  `up` 0 for the second one, and the alert of the Targets Up panel fires for that
  target alone.
- A probe job: Prometheus scrapes an exporter in this process once per target, with
  the target and module as URL parameters, and each series gets its target as
  `instance`. The alert of a probe_success panel fires for the failing target alone.
- A job with honor_labels keeps the job label that its series carry, and the alert
  on that job fires.
- The generated Node.js metrics server serves the paths that Prometheus
  percent-encodes.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.e2e.harness import (
    LOOPBACK,
    Processes,
    PrometheusAPI,
    compile_typescript,
    free_ports,
    install_node_packages,
    poll,
    require_tools,
)

pytestmark = pytest.mark.e2e

DOWN_ALERT = "PaymentsTargetsUpCritical"
PROBE_ALERT = "ProbesProbeSuccessCritical"
TIMEOUT = 60
MANIFEST = """\
service: payments
dashboard: {uid: payments-overview}
scrape: {job: payments, port: 9090}
rows:
  - use: scrape_health
    with: {job: payments, down_for: 2s}
"""


PROBE_MANIFEST = """\
service: probes
dashboard: {uid: probes}
scrape:
  job: blackbox
  probe: {exporter: "blackbox:9115", module: http_2xx}
  targets: ["https://up.example/health", "https://down.example/health"]
rows:
  - title: Probes
    panels:
      - title: Probe Success
        type: stat
        query: probe_success{job="blackbox"}
        thresholds: "1=Green, 0=Red"
        alert: {for: 2s}
"""


# A Node.js service whose metrics paths Prometheus percent-encodes in its requests, as
# Go's url.URL.EscapedPath does: a space, non-ASCII letters, `"`, a backtick, braces
# and `%`. The last path has the reserved characters that stay as they are.
ENCODED_PATHS_MANIFEST = """\
service: paths
runtime: nodejs
scrape:
  - {job: space, port: 9301, path: "/a b"}
  - {job: letters, port: 9301, path: "/m\\u00e9triques/\\u6307\\u6807"}
  - {job: quote, port: 9301, path: '/q"uote'}
  - {job: backtick, port: 9301, path: "/back`tick"}
  - {job: braces, port: 9301, path: "/{x}"}
  - {job: percent, port: 9301, path: "/100%/50%25"}
  - {job: reserved, port: 9301, path: "/a+b;c=d@e:f,g$h&i"}
metrics:
  jobs_total: counter
"""
ENCODED_PATH_JOBS = [
    "space",
    "letters",
    "quote",
    "backtick",
    "braces",
    "percent",
    "reserved",
]

# Starts the generated metrics server on the port and host of the local build.
ENCODED_PATHS_RUNNER = """\
import * as metrics from "./metrics";
metrics.jobsTotal.inc();
metrics.startMetricsServer();
"""


def firing_for(alerts: list[dict[str, Any]], name: str, instance: str) -> bool:
    return any(
        alert["labels"].get("alertname") == name
        and alert["labels"].get("instance") == instance
        and alert["state"] == "firing"
        for alert in alerts
    )


def build_local(project: Path, targets: list[str]) -> Path:
    """Build `project` for a local run with 1 s intervals; return its out folder."""
    out = project / "out"
    options = [option for target in targets for option in ("--target", target)]
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "obscompile",
            "build",
            "--project",
            str(project),
            "--out",
            str(out),
            *options,
            "--scrape-interval",
            "1s",
            "--evaluation-interval",
            "1s",
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    return out


@contextlib.contextmanager
def prometheus(out: Path, port: int) -> Iterator[PrometheusAPI]:
    """Run the Prometheus server on `out`'s configuration until the block ends."""
    tools = require_tools()
    processes = Processes(out.parent / "logs")
    data = out.parent / "tsdb"
    try:
        processes.start(
            "prometheus",
            [
                tools.prometheus,
                f"--config.file={out / 'prometheus' / 'prometheus.yml'}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address={LOOPBACK}:{port}",
            ],
        )
        api = PrometheusAPI(port)
        assert poll(api.ready, bool, TIMEOUT, 0.2), processes.log_tail("prometheus")
        yield api
    finally:
        processes.stop_all()
        shutil.rmtree(data, ignore_errors=True)


def write_project(folder: Path, name: str, manifest: str) -> Path:
    (folder / "services").mkdir()
    (folder / "services" / name).write_text(manifest, encoding="utf-8")
    return folder


class QuietServer(ThreadingHTTPServer):
    """Serve on threads that `server_close` waits for, without printing their errors.

    Prometheus may drop a scrape's connection when it stops, and the default
    handler would print that error into the output of whichever test runs next.
    """

    daemon_threads = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler], port: int) -> Iterator[None]:
    """Serve `handler` on `port` of 127.0.0.1 until the block ends."""
    server = QuietServer((LOOPBACK, port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


class LocalRun(NamedTuple):
    """A Prometheus server that scrapes a local build, and the addresses of its targets."""

    api: PrometheusAPI
    # The Prometheus server's own address, whose /metrics responds.
    server: str
    # The address of a second free port, which the run's handler or nothing serves.
    spare: str

    def wait_for_alerts(
        self, done: Callable[[list[dict[str, Any]]], bool]
    ) -> list[dict[str, Any]]:
        """Poll the alerts until `done` holds for them or TIMEOUT passes, and return them."""
        return poll(self.api.alerts, done, TIMEOUT, 0.5)

    def values_by_instance(self, query: str) -> dict[str, str]:
        """Return the value of each series of an instant `query`, by its instance."""
        return {
            sample["metric"]["instance"]: sample["value"][1]
            for sample in self.api.query(query)
        }


@contextlib.contextmanager
def local_run(
    folder: Path,
    name: str,
    manifest: str,
    targets: list[str],
    handler: type[BaseHTTPRequestHandler] | None = None,
) -> Iterator[LocalRun]:
    """Build `manifest` for a local run and run Prometheus on it until the block ends.

    Each of `targets` is a `--target` value such as `payments={spare}`, in which
    `{server}` and `{spare}` stand for the addresses of `LocalRun`. `handler`, when
    given, serves the spare address from before the build on.
    """
    project = write_project(folder, name, manifest)
    prometheus_port, spare_port = free_ports(2)
    server = f"{LOOPBACK}:{prometheus_port}"
    spare = f"{LOOPBACK}:{spare_port}"
    with contextlib.ExitStack() as stack:
        if handler is not None:
            stack.enter_context(serving(handler, spare_port))
        addresses = [target.format(server=server, spare=spare) for target in targets]
        out = build_local(project, addresses)
        api = stack.enter_context(prometheus(out, prometheus_port))
        yield LocalRun(api, server, spare)


def test_down_target_fires_its_alert(tmp_path: Path) -> None:
    targets = ["payments={server}", "payments={spare}"]
    with local_run(tmp_path, "payments.yaml", MANIFEST, targets) as run:
        live, down = run.server, run.spare
        alerts = run.wait_for_alerts(lambda found: firing_for(found, DOWN_ALERT, down))
        up = run.values_by_instance('up{job="payments"}')

    assert firing_for(alerts, DOWN_ALERT, down), alerts
    assert not firing_for(alerts, DOWN_ALERT, live), alerts
    assert up == {live: "1", down: "0"}


class ProbeExporter(BaseHTTPRequestHandler):
    """Answer /probe as blackbox_exporter does: success for targets on up.example."""

    requests: list[dict[str, list[str]]] = []

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        url = urllib.parse.urlsplit(self.path)
        parameters = urllib.parse.parse_qs(url.query)
        ProbeExporter.requests.append(parameters)
        target = parameters.get("target", [""])[0]
        success = 1 if url.path == "/probe" and "up.example" in target else 0
        body = f"probe_success {success}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_probe_job_labels_series_by_target(tmp_path: Path) -> None:
    targets = ["blackbox={spare}"]
    with local_run(
        tmp_path, "probes.yaml", PROBE_MANIFEST, targets, ProbeExporter
    ) as run:
        alerts = run.wait_for_alerts(
            lambda found: firing_for(found, PROBE_ALERT, "https://down.example/health")
        )
        success = run.values_by_instance('probe_success{job="blackbox"}')

    assert firing_for(alerts, PROBE_ALERT, "https://down.example/health"), alerts
    assert not firing_for(alerts, PROBE_ALERT, "https://up.example/health"), alerts
    assert success == {
        "https://up.example/health": "1",
        "https://down.example/health": "0",
    }
    assert {"module": ["http_2xx"], "target": ["https://up.example/health"]} in (
        ProbeExporter.requests
    )


PUSHED_MANIFEST = """\
service: batch
dashboard: {uid: batch}
scrape: {job: pushgateway, port: 9091, honor_labels: true}
rows:
  - title: Jobs
    panels:
      - title: Since success
        query: time() - max by (job) (batch_success_timestamp_seconds{job="etl"})
        thresholds: "<1h Green, >=1h Red"
        alert: {for: 2s}
"""


class PushedMetrics(BaseHTTPRequestHandler):
    """Serve a series that carries the job that pushed it, as a Pushgateway does."""

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        body = b'batch_success_timestamp_seconds{job="etl",instance=""} 0\n'
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_honored_job_label_reaches_alert(tmp_path: Path) -> None:
    targets = ["pushgateway={spare}"]
    with local_run(
        tmp_path, "batch.yaml", PUSHED_MANIFEST, targets, PushedMetrics
    ) as run:
        alerts = run.wait_for_alerts(
            lambda found: any(
                alert["labels"].get("job") == "etl" and alert["state"] == "firing"
                for alert in found
            )
        )

    firing = [alert for alert in alerts if alert["state"] == "firing"]
    assert [alert["labels"]["alertname"] for alert in firing] == [
        "BatchSinceSuccessCritical"
    ], alerts
    assert firing[0]["labels"]["job"] == "etl"


def test_node_server_serves_encoded_paths(tmp_path: Path) -> None:
    """Prometheus scrapes the prom-client server at paths that it percent-encodes."""
    tools = require_tools()
    install_node_packages(tools.npm)
    project = write_project(tmp_path, "paths.yaml", ENCODED_PATHS_MANIFEST)
    prometheus_port, node_port = free_ports(2)
    node_target = f"{LOOPBACK}:{node_port}"
    out = build_local(project, [f"{job}={node_target}" for job in ENCODED_PATH_JOBS])

    workspace = tmp_path / "node"
    workspace.mkdir()
    shutil.copy(out / "instrumentation" / "paths" / "metrics.ts", workspace)
    (workspace / "runner.ts").write_text(ENCODED_PATHS_RUNNER, encoding="utf-8")
    compile_typescript(tools.node, workspace, ["metrics.ts", "runner.ts"])
    node = Processes(tmp_path / "node-logs")
    try:
        node.start("paths", [tools.node, str(workspace / "build" / "runner.js")])
        with prometheus(out, prometheus_port) as api:
            targets = poll(
                api.targets,
                lambda found: (
                    len(found) == len(ENCODED_PATH_JOBS)
                    and all(target["health"] == "up" for target in found)
                ),
                TIMEOUT,
                0.5,
            )
            counted = {
                sample["metric"]["job"]: sample["value"][1]
                for sample in api.query("jobs_total")
            }
        log = node.log_tail("paths")
    finally:
        node.stop_all()

    health = {
        target["labels"]["job"]: (target["health"], target["lastError"])
        for target in targets
    }
    assert health == {job: ("up", "") for job in ENCODED_PATH_JOBS}, log
    assert counted == {job: "1" for job in ENCODED_PATH_JOBS}
