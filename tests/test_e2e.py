"""End-to-end test: the generated artifacts against a real Prometheus server.

The module fixture builds the repository's services with the local-run options of
`obscompile build`: every target on a free port of 127.0.0.1, 1 s scrapes and a
short `for:`. It starts one traffic process per service. The Python services run
the generated metrics.py with the real prometheus_client, the Node.js services run
the generated metrics.ts, compiled with tsc, with the real prom-client from
tests/node/, and a placeholder exporter serves the Celery jobs. The fixture then
starts the Prometheus server from the Debian package on the generated
prometheus.yml.

The tests read Prometheus' HTTP API. Every target is up, every rule group loads
without errors, and every recording rule and every panel query returns data.
Injected faults fire the alerts of the panels that turn red, for the faulty
service's job only. Every process is stopped by its pid at the end of the module,
pass or fail, and the TSDB folder is removed.

`task e2e` (`python -m pytest -m e2e`) runs this module alone, and docs/e2e.md
describes the build options.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml

from obscompile.instrument.naming import python_identifier, typescript_identifier
from obscompile.load.project import load_project
from obscompile.model.service import Runtime, Service
from tests.e2e.harness import (
    LOOPBACK,
    Processes,
    PrometheusAPI,
    compile_typescript,
    free_ports,
    http_get,
    install_node_packages,
    is_finite_sample,
    parse_rfc3339,
    poll,
    require_tools,
)
from tests.e2e.profiles import PROFILES, TICK_SECONDS

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
E2E = REPO / "tests" / "e2e"

SCRAPE_INTERVAL = "1s"
EVALUATION_INTERVAL = "1s"
EVALUATION_SECONDS = 1
# NOTE: a multiple of the evaluation interval, because the promtool test generator
# fails on any other `for:` (RuntimeError: generator raised StopIteration).
ALERT_FOR = "2s"
ALERT_FOR_SECONDS = 2

# Seconds to wait for processes to serve, for data to appear, for the rule groups to
# be evaluated once more and for alerts to fire.
STARTUP_TIMEOUT = 30
DATA_TIMEOUT = 60
EVALUATION_TIMEOUT = 15
ALERT_TIMEOUT = 60
POLL_SECONDS = 0.5

# Grafana's variables in panel queries, with the values the test queries them at.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "${__rate_interval}": "1m",
    "$__interval": "15s",
    "${__interval}": "15s",
    "$__range": "1h",
    "${__range}": "1h",
}

# Panels whose query is expected to return no data, by (dashboard uid, title), with
# the reason. The traffic records every catalog metric, so the list is empty.
EXCLUDED_PANELS: dict[tuple[str, str], str] = {}


@attrs.frozen
class Fault:
    """A fault of one service's traffic and the panel whose alert must then fire.

    `labels` are labels that the firing alert must carry.
    """

    service: str
    panel: str
    labels: dict[str, str]


# The traffic process of each service gets SIGUSR2 and records its profile's fault:
# auth_server returns mostly 5xx, and portfolio_server's execution queue has 800 items.
FAULTS = (
    Fault("auth_server", "Error Rate (4xx/5xx)", {"job": "auth_server"}),
    Fault(
        "portfolio_server",
        "Queue Depth",
        {"job": "portfolio_server", "queue": "execution"},
    ),
)


@attrs.define
class Stack:
    """The running services and Prometheus, and the artifacts they were built from."""

    api: PrometheusAPI
    processes: Processes
    out: Path
    services: dict[str, Service]
    targets: dict[str, list[str]]
    faults_injected: bool = False

    def rule_files(self) -> dict[str, dict[str, Any]]:
        """Return every generated rule file, parsed, by service name."""
        folder = self.out / "prometheus" / "rules"
        return {
            path.name.removesuffix(".rules.yml"): yaml.safe_load(path.read_text())
            for path in sorted(folder.glob("*.rules.yml"))
        }

    def dashboards(self) -> dict[str, dict[str, Any]]:
        folder = self.out / "grafana" / "dashboards"
        return {
            path.stem: json.loads(path.read_text())
            for path in sorted(folder.glob("*.json"))
        }

    def jobs_of(self, service: str) -> set[str]:
        return {job.job for job in self.services[service].scrape_jobs}

    def inject_faults(self) -> None:
        """Switch the traffic of every service in FAULTS to its fault, once."""
        if self.faults_injected:
            return
        for fault in FAULTS:
            self.processes.send_signal(fault.service, signal.SIGUSR2)
        self.faults_injected = True


# --- setup -----------------------------------------------------------------------


def assign_targets(services: dict[str, Service]) -> tuple[dict[str, list[str]], int]:
    """Give every scrape target a free loopback port, and pick one for Prometheus."""
    jobs = [job for service in services.values() for job in service.scrape_jobs]
    ports = free_ports(sum(len(job.targets) for job in jobs) + 1)
    targets = {
        job.job: [f"{LOOPBACK}:{ports.pop()}" for _ in job.targets] for job in jobs
    }
    return targets, ports.pop()


def build_out(out: Path, targets: dict[str, list[str]]) -> None:
    """Run `obscompile build` with the local-run options into `out`."""
    command = [
        sys.executable, "-m", "obscompile", "build", "--project", str(REPO),
        "--out", str(out), "--scrape-interval", SCRAPE_INTERVAL,
        "--evaluation-interval", EVALUATION_INTERVAL, "--alert-for", ALERT_FOR,
    ]  # fmt: skip
    for job, addresses in targets.items():
        command += [
            arg for address in addresses for arg in ("--target", f"{job}={address}")
        ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        pytest.fail(
            f"obscompile build exited with {result.returncode}:\n{result.stderr}",
            pytrace=False,
        )


def write_profile(service: Service, folder: Path) -> Path:
    """Write the traffic profile of `service` with the identifiers of its runtime."""
    naming = (
        python_identifier
        if service.runtime is Runtime.PYTHON
        else typescript_identifier
    )
    catalog = {metric.name: metric for metric in service.metrics}
    profile = PROFILES[service.name]
    resolved: dict[str, Any] = {"tick_seconds": TICK_SECONDS}
    for part in ("normal", "fault"):
        entries = []
        for entry in profile[part]:
            metric = catalog.get(entry["metric"])
            if metric is None:
                pytest.fail(
                    f"the traffic profile of {service.name} records "
                    f'"{entry["metric"]}", which is not in its metric catalog',
                    pytrace=False,
                )
            if set(entry["labels"]) != set(metric.labels):
                pytest.fail(
                    f"the traffic profile of {service.name} records {metric.name} with "
                    f"labels {sorted(entry['labels'])}, but the catalog declares "
                    f"{sorted(metric.labels)}",
                    pytrace=False,
                )
            entries.append({**entry, "identifier": naming(metric)})
        resolved[part] = entries
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{service.name}.json"
    path.write_text(json.dumps(resolved, indent=2), encoding="utf-8")
    return path


def start_traffic(
    processes: Processes,
    node: str,
    services: dict[str, Service],
    targets: dict[str, list[str]],
    out: Path,
    root: Path,
) -> list[str]:
    """Start a traffic process per service and the Celery exporter.

    Returns the /metrics URLs that the processes serve.
    """
    urls = []
    node_services = []
    for service in services.values():
        if service.runtime is None:
            continue
        (job,) = service.scrape_jobs
        (address,) = targets[job.job]
        urls.append(f"http://{address}{job.metrics_path}")
        profile = write_profile(service, root / "profiles")
        port = address.rpartition(":")[2]
        if service.runtime is Runtime.PYTHON:
            metrics_py = out / "instrumentation" / service.name / "metrics.py"
            command = [sys.executable, str(E2E / "python_traffic.py"), str(metrics_py)]
            processes.start(service.name, [*command, str(profile), port])
        else:
            node_services.append((service, profile, port))

    workspace = root / "node"
    sources = []
    for service, _, _ in node_services:
        folder = workspace / service.name
        folder.mkdir(parents=True)
        shutil.copy(out / "instrumentation" / service.name / "metrics.ts", folder)
        shutil.copy(E2E / "node_traffic.ts", folder / "traffic.ts")
        sources += [f"{service.name}/metrics.ts", f"{service.name}/traffic.ts"]
    if sources:
        compile_typescript(node, workspace, sources)
    for service, profile, port in node_services:
        script = workspace / "build" / service.name / "traffic.js"
        processes.start(service.name, [node, str(script), str(profile), port])

    scrape_only = [
        (job, address)
        for service in services.values()
        if service.runtime is None
        for job in service.scrape_jobs
        for address in targets[job.job]
    ]
    if scrape_only:
        ports = [address.rpartition(":")[2] for _, address in scrape_only]
        command = [sys.executable, str(E2E / "scrape_only_exporter.py"), *ports]
        processes.start("scrape_only_exporter", command)
        urls += [f"http://{address}{job.metrics_path}" for job, address in scrape_only]
    return urls


def wait_until_serving(processes: Processes, urls: list[str]) -> None:
    def unreachable() -> list[str]:
        return [url for url in urls if http_get(url)[0] != 200]

    def settled(missing: list[str]) -> bool:
        return not missing or bool(processes.exited())

    missing = poll(unreachable, settled, STARTUP_TIMEOUT, 0.2)
    exited = processes.exited()
    if exited:
        logs = "\n".join(
            f"--- {name} exited with {code}:\n{processes.log_tail(name)}"
            for name, code in exited.items()
        )
        pytest.fail(f"a process exited during startup:\n{logs}", pytrace=False)
    if missing:
        pytest.fail(
            f"no /metrics response within {STARTUP_TIMEOUT} s from: "
            + ", ".join(missing),
            pytrace=False,
        )


def start_prometheus(
    processes: Processes, prometheus: str, out: Path, data: Path, port: int
) -> PrometheusAPI:
    config = out / "prometheus" / "prometheus.yml"
    processes.start(
        "prometheus",
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address={LOOPBACK}:{port}",
        ],
    )
    api = PrometheusAPI(port)
    ready = poll(
        api.ready,
        lambda ok: ok or "prometheus" in processes.exited(),
        STARTUP_TIMEOUT,
        0.2,
    )
    if not ready:
        pytest.fail(
            f"Prometheus was not ready within {STARTUP_TIMEOUT} s:\n"
            f"{processes.log_tail('prometheus')}",
            pytrace=False,
        )
    return api


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tools = require_tools()
    install_node_packages(tools.npm)
    root = tmp_path_factory.mktemp("e2e")
    data = root / "tsdb"
    processes = Processes(root / "logs")
    try:
        loaded = load_project(REPO / "services")
        assert loaded.services, "no services loaded from services/"
        services = {service.name: service for service in loaded.services}
        targets, prometheus_port = assign_targets(services)
        out = root / "out"
        build_out(out, targets)
        urls = start_traffic(processes, tools.node, services, targets, out, root)
        wait_until_serving(processes, urls)
        api = start_prometheus(processes, tools.prometheus, out, data, prometheus_port)
        yield Stack(api, processes, out, services, targets)
    finally:
        processes.stop_all()
        shutil.rmtree(data, ignore_errors=True)


# --- helpers ---------------------------------------------------------------------


def dashboard_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield every panel that is not a row, including the panels of collapsed rows."""
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def grafana_query(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def has_finite_value(results: list[dict[str, Any]]) -> bool:
    return any(is_finite_sample(result) for result in results)


def recording_rules(stack: Stack) -> list[tuple[str, str]]:
    return [
        (service, rule["record"])
        for service, document in stack.rule_files().items()
        for group in document["groups"]
        for rule in group["rules"]
        if "record" in rule
    ]


def recorded_for_service(
    stack: Stack, service: str, record: str
) -> list[dict[str, Any]]:
    jobs = stack.jobs_of(service)
    return [
        result
        for result in stack.api.query(record)
        if result["metric"].get("job") in jobs and is_finite_sample(result)
    ]


def wait_for_recorded_data(stack: Stack) -> list[str]:
    """Wait until every recording rule has recorded data.

    Returns the rules that still have none, so an empty list means success.
    """

    def empty() -> list[str]:
        return [
            f"{service}: {record}"
            for service, record in recording_rules(stack)
            if not recorded_for_service(stack, service, record)
        ]

    return poll(empty, lambda missing: not missing, DATA_TIMEOUT, POLL_SECONDS)


def alert_name(stack: Stack, service: str, panel_title: str) -> str:
    """Return the name of the alert derived from a panel, from the rule files."""
    uid = stack.services[service].dashboard.uid
    panel_ids = [
        str(panel["id"])
        for panel in dashboard_panels(stack.dashboards()[uid])
        if panel["title"] == panel_title
    ]
    assert len(panel_ids) == 1, (
        f"{uid} has {len(panel_ids)} panels titled {panel_title}"
    )
    names = [
        rule["alert"]
        for group in stack.rule_files()[service]["groups"]
        for rule in group["rules"]
        if "alert" in rule and rule["annotations"].get("panel_id") == panel_ids[0]
    ]
    assert len(names) == 1, f"{service}: {len(names)} alerts derived from {panel_title}"
    return names[0]


def firing(alerts: list[dict[str, Any]], name: str, labels: dict[str, str]) -> list:
    return [
        alert
        for alert in alerts
        if alert["labels"].get("alertname") == name
        and alert["state"] == "firing"
        and all(alert["labels"].get(key) == value for key, value in labels.items())
    ]


def describe_alerts(alerts: list[dict[str, Any]]) -> str:
    return (
        "\n".join(
            f"  {alert['state']} {alert['labels']} value={alert.get('value')}"
            for alert in alerts
        )
        or "  (no alerts)"
    )


def wait_for_alert_evaluation(stack: Stack, since: float) -> bool:
    """Wait until every alert group has been evaluated after `since` (epoch seconds)."""

    def evaluated(groups: list[dict[str, Any]]) -> bool:
        return all(
            parse_rfc3339(group["lastEvaluation"]) > since
            for group in groups
            if group["name"].endswith(".alerts")
        )

    groups = poll(stack.api.rule_groups, evaluated, EVALUATION_TIMEOUT, POLL_SECONDS)
    return evaluated(groups)


# --- tests -----------------------------------------------------------------------


def test_every_target_is_up(stack: Stack) -> None:
    expected = {
        (job, address)
        for job, addresses in stack.targets.items()
        for address in addresses
    }

    def all_up(targets: list[dict[str, Any]]) -> bool:
        return len(targets) == len(expected) and all(
            t["health"] == "up" for t in targets
        )

    targets = poll(stack.api.targets, all_up, STARTUP_TIMEOUT, POLL_SECONDS)
    found = {(t["labels"]["job"], t["labels"]["instance"]) for t in targets}
    assert found == expected
    assert {t["scrapeInterval"] for t in targets} == {SCRAPE_INTERVAL}
    down = [
        f"{t['labels']['job']} {t['scrapeUrl']}: {t['health']} {t['lastError']}"
        for t in targets
        if t["health"] != "up"
    ]
    assert down == []


def test_rule_groups_load_without_errors(stack: Stack) -> None:
    expected = {
        group["name"]: [rule.get("record") or rule["alert"] for rule in group["rules"]]
        for document in stack.rule_files().values()
        for group in document["groups"]
    }
    assert expected, "the build wrote no rule files"
    for service in stack.rule_files():
        assert f"{service}.recording" in expected
        assert f"{service}.alerts" in expected

    def evaluated(groups: list[dict[str, Any]]) -> bool:
        rules = [rule for group in groups for rule in group["rules"]]
        return bool(rules) and all(rule["health"] != "unknown" for rule in rules)

    groups = poll(stack.api.rule_groups, evaluated, DATA_TIMEOUT, POLL_SECONDS)
    loaded = {
        group["name"]: [rule["name"] for rule in group["rules"]] for group in groups
    }
    assert loaded == expected
    assert {group["interval"] for group in groups} == {EVALUATION_SECONDS}
    alert_durations = {
        rule["duration"]
        for group in groups
        for rule in group["rules"]
        if rule["type"] == "alerting"
    }
    assert alert_durations == {ALERT_FOR_SECONDS}
    unhealthy = [
        f"{group['name']}/{rule['name']}: {rule['health']} {rule.get('lastError', '')}"
        for group in groups
        for rule in group["rules"]
        if rule["health"] != "ok"
    ]
    assert unhealthy == []


def test_catalog_metrics_are_scraped(stack: Stack) -> None:
    """Every catalog metric is scraped, so an empty panel points at its query."""
    jobs = sorted(job for service in stack.services for job in stack.jobs_of(service))
    selector = '{job=~"' + "|".join(jobs) + '"}'

    def missing_series() -> list[str]:
        present = {
            (result["metric"]["job"], result["metric"]["__name__"])
            for result in stack.api.query(f"group by (job, __name__) ({selector})")
        }
        return [
            f"{job}: {name}"
            for service in stack.services.values()
            for job in stack.jobs_of(service.name)
            for metric in service.metrics
            for name in metric.series_names()
            if (job, name) not in present
        ]

    missing = poll(missing_series, lambda names: not names, DATA_TIMEOUT, POLL_SECONDS)
    assert missing == []


def test_recording_rules_return_data(stack: Stack) -> None:
    assert recording_rules(stack), "the build wrote no recording rules"
    assert wait_for_recorded_data(stack) == []


def test_panel_queries_return_data(stack: Stack) -> None:
    panels = [
        (uid, panel["title"], grafana_query(target["expr"]))
        for uid, dashboard in stack.dashboards().items()
        for panel in dashboard_panels(dashboard)
        for target in panel.get("targets", [])
        if target.get("expr")
    ]
    assert len(panels) > 0
    titles = {(uid, title) for uid, title, _ in panels}
    assert set(EXCLUDED_PANELS) <= titles, "an excluded panel no longer exists"
    checked = [panel for panel in panels if panel[:2] not in EXCLUDED_PANELS]

    def empty() -> list[str]:
        return [
            f"{uid} / {title}: {expr}"
            for uid, title, expr in checked
            if not has_finite_value(stack.api.query(expr))
        ]

    assert poll(empty, lambda missing: not missing, DATA_TIMEOUT, POLL_SECONDS) == []


def test_faults_fire_their_alerts(stack: Stack) -> None:
    expected = [
        (alert_name(stack, fault.service, fault.panel), fault) for fault in FAULTS
    ]
    if not stack.faults_injected:
        # Healthy traffic first: once every rule has data and every alert group has
        # been evaluated on it, no alert may be pending or firing.
        assert wait_for_recorded_data(stack) == []
        assert wait_for_alert_evaluation(stack, time.time())
        baseline = stack.api.alerts()
        assert baseline == [], "alerts before any fault:\n" + describe_alerts(baseline)
    stack.inject_faults()

    def all_firing(alerts: list[dict[str, Any]]) -> bool:
        return all(firing(alerts, name, fault.labels) for name, fault in expected)

    alerts = poll(stack.api.alerts, all_firing, ALERT_TIMEOUT, POLL_SECONDS)
    for name, fault in expected:
        assert firing(alerts, name, fault.labels), (
            f"{name} ({fault.service}) is not firing with {fault.labels} within "
            f"{ALERT_TIMEOUT} s of the fault:\n" + describe_alerts(alerts)
        )


def test_fault_alerts_stay_in_their_service(stack: Stack) -> None:
    """No alert is pending or firing for a series of another service's job."""
    auth = FAULTS[0]
    name = alert_name(stack, auth.service, auth.panel)
    stack.inject_faults()
    alerts = poll(
        stack.api.alerts,
        lambda alerts: bool(firing(alerts, name, auth.labels)),
        ALERT_TIMEOUT,
        POLL_SECONDS,
    )
    assert firing(alerts, name, auth.labels), describe_alerts(alerts)
    # Every alert group evaluates the fault once more, so that an alert of another
    # service that matches it is at least pending.
    assert wait_for_alert_evaluation(stack, time.time())
    strays = [
        alert
        for alert in stack.api.alerts()
        if "job" in alert["labels"]
        and alert["labels"]["job"] not in stack.jobs_of(alert["labels"]["service"])
    ]
    assert strays == [], "alerts for another service's job:\n" + describe_alerts(strays)
