"""The examples of the README and of docs/ build as shown."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from click.testing import CliRunner

from obscompile.cli import main
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def _example(page: str, language: str, name: str) -> str:
    """Return the code block of `page` that starts with the comment `# name`.

    The comment stays, as in a file copied from the page, so line numbers agree.
    """
    text = (REPO / page).read_text(encoding="utf-8")
    found = re.search(rf"```{language}\n(# {re.escape(name)}\n.*?)```", text, re.DOTALL)
    assert found is not None, f"{page} has no {language} block for {name}"
    return found.group(1)


def _write(project: Path, page: str, language: str, name: str) -> Path:
    path = project / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_example(page, language, name), encoding="utf-8")
    return path


def _build() -> tuple[int, str]:
    """Build the working folder, as the README's `obscompile build` does."""
    result = CliRunner().invoke(main, ["build"])
    return result.exit_code, result.output


def _build_without_warnings() -> str:
    """Build the working folder and return its output, which has no finding."""
    code, output = _build()
    assert code == 0, output
    assert "warning" not in output
    return output


def test_first_manifest_builds(project: Path) -> None:
    _write(project, "README.md", "yaml", "services/payments.yaml")
    output = _build_without_warnings()
    summary = re.search(r"obscompile build +# (obscompile: .*) in [\d.]+s\n", README)
    assert summary is not None
    assert output.splitlines()[-1].startswith(f"{summary.group(1)} in ")
    rules = (project / "out/prometheus/rules/payments.rules.yml").read_text()
    assert "record: job:http_requests_5xx_per_http_requests:ratio_rate5m" in rules
    assert "alert: PaymentsErrorRateCritical" in rules
    assert (
        "expr: job:http_requests_5xx_per_http_requests:ratio_rate5m"
        '{job="payments"} * 100 >= 5'
    ) in rules
    dashboard = json.loads(
        (project / "out/grafana/dashboards/payments-overview.json").read_text()
    )
    (gauge,) = [panel for panel in dashboard["panels"] if panel["type"] == "gauge"]
    assert gauge["fieldConfig"]["defaults"]["thresholds"]["steps"] == [
        {"color": "green", "value": None},
        {"color": "yellow", "value": 1},
        {"color": "red", "value": 5},
    ]
    tests = yaml.safe_load(
        (project / "out/prometheus/tests/payments.test.yml").read_text()
    )
    assert [group["name"] for group in tests["tests"]] == [
        "PaymentsErrorRateCritical: 4% (yellow) stays silent",
        "PaymentsErrorRateCritical: 5% (red) fires",
        "PaymentsErrorRateCritical: 6% (red) fires",
        "PaymentsErrorRateCritical: no traffic stays silent",
    ]


def test_first_manifest_error_as_shown(project: Path) -> None:
    path = _write(project, "README.md", "yaml", "services/payments.yaml")
    text = path.read_text(encoding="utf-8")
    # The first metric of the query, not the catalog's key.
    misspelled = text.replace(
        "(rate(http_requests_total", "(rate(http_request_total", 1
    )
    path.write_text(misspelled, encoding="utf-8")
    code, output = _build()
    assert code == 1
    error = re.search(r"```text\n(services/payments\.yaml:.*)\n```", README)
    assert error is not None
    assert output.splitlines()[0] == error.group(1)
    assert not (project / "out").exists()


def test_python_service_example_builds(project: Path) -> None:
    _write(project, "docs/blocks.md", "python", "services/payments.py")
    _build_without_warnings()
    dashboard = (project / "out/grafana/dashboards/payments.json").read_text()
    assert "sum(payments_queue_depth)" in dashboard


def test_project_block_example_builds(project: Path) -> None:
    _write(project, "docs/blocks.md", "python", "blocks/queues.py")
    _write(project, "docs/blocks.md", "yaml", "services/orders.yaml")
    _build_without_warnings()
    rules = (project / "out/prometheus/rules/orders.rules.yml").read_text()
    assert "alert: OrdersDepthEmailCritical" in rules
    assert "alert: OrdersDepthSmsCritical" in rules
    assert 'expr: job:queue_depth_email:sum{job="orders"} >= 1000' in rules
    assert 'expr: job:queue_depth_sms:sum{job="orders"} >= 50' in rules
