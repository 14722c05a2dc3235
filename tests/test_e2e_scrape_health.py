"""End-to-end test of the scrape_health block against a real Prometheus server.

One scrape job has two targets on 127.0.0.1: the Prometheus server's own /metrics,
which answers, and a port that nothing listens on. Prometheus writes `up` 0 for the
second one, and the alert that the block's Targets Up panel derives fires for that
target alone.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import (
    LOOPBACK,
    Processes,
    PrometheusAPI,
    free_ports,
    poll,
    require_tools,
)

pytestmark = pytest.mark.e2e

ALERT = "PaymentsTargetsUpCritical"
TIMEOUT = 60
MANIFEST = """\
service: payments
dashboard: {uid: payments-overview}
scrape: {job: payments, port: 9090}
rows:
  - use: scrape_health
    with: {job: payments, down_for: 2s}
"""


def firing_for(alerts: list[dict[str, Any]], instance: str) -> bool:
    return any(
        alert["labels"].get("alertname") == ALERT
        and alert["labels"].get("instance") == instance
        and alert["state"] == "firing"
        for alert in alerts
    )


def test_down_target_fires_its_alert(tmp_path: Path) -> None:
    tools = require_tools()
    (tmp_path / "services").mkdir()
    (tmp_path / "services" / "payments.yaml").write_text(MANIFEST, encoding="utf-8")
    prometheus_port, closed_port = free_ports(2)
    live = f"{LOOPBACK}:{prometheus_port}"
    down = f"{LOOPBACK}:{closed_port}"

    out = tmp_path / "out"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "obscompile",
            "build",
            "--project",
            str(tmp_path),
            "--out",
            str(out),
            "--target",
            f"payments={live}",
            "--target",
            f"payments={down}",
            "--scrape-interval",
            "1s",
            "--evaluation-interval",
            "1s",
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr

    processes = Processes(tmp_path / "logs")
    data = tmp_path / "tsdb"
    try:
        processes.start(
            "prometheus",
            [
                tools.prometheus,
                f"--config.file={out / 'prometheus' / 'prometheus.yml'}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address={live}",
            ],
        )
        api = PrometheusAPI(prometheus_port)
        assert poll(api.ready, bool, TIMEOUT, 0.2), processes.log_tail("prometheus")

        alerts = poll(api.alerts, lambda found: firing_for(found, down), TIMEOUT, 0.5)
        assert firing_for(alerts, down), alerts
        assert not firing_for(alerts, live), alerts

        up = {
            sample["metric"]["instance"]: sample["value"][1]
            for sample in api.query('up{job="payments"}')
        }
        assert up == {live: "1", down: "0"}
    finally:
        processes.stop_all()
        shutil.rmtree(data, ignore_errors=True)
