"""The README's examples build as shown."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from obscompile.cli import main
from tests.conftest import REPO


def _python_example(name: str) -> str:
    """Return the README code block that starts with the comment `# name`."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    found = re.search(rf"```python\n# {re.escape(name)}\n(.*?)```", text, re.DOTALL)
    assert found is not None, f"README has no python block for {name}"
    return found.group(1)


def test_python_service_example_builds(tmp_path: Path) -> None:
    services = tmp_path / "services"
    services.mkdir()
    (services / "payments.py").write_text(
        _python_example("services/payments.py"), encoding="utf-8"
    )
    result = CliRunner().invoke(main, ["build", "--project", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    dashboard = (tmp_path / "out/grafana/dashboards/payments.json").read_text()
    assert "sum(payments_queue_depth)" in dashboard
