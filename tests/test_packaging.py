"""A wheel built with `pip install .` works from any folder, templates included."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.test_interrupt import interrupt_while_loading


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment with obscompile installed from a copy of the repository."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "src"
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(
            ".git", "out", "node_modules", "__pycache__", "*.egg-info", ".hypothesis"
        ),
    )
    env_dir = base / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(source)
    return env_dir


def _without_pythonpath() -> dict[str, str]:
    """Return the environment without PYTHONPATH, which would shadow the wheel."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def test_wheel_builds_from_other_folder(installed: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(REPO / "services", project / "services")
    result = subprocess.run(
        [str(installed / "bin" / "obscompile"), "build"],
        cwd=project,
        env=_without_pythonpath(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "4 dashboards" in result.stderr
    dashboard = json.loads(
        (project / "out/grafana/dashboards/auth-server-dashboard.json").read_text()
    )
    assert dashboard["uid"] == "auth-server-dashboard"


def test_wheel_contains_templates(installed: Path) -> None:
    code = "import obscompile.render.environment as e; print(e.builtin_templates_dir())"
    result = subprocess.run(
        [str(installed / "bin" / "python"), "-c", code],
        env=_without_pythonpath(),
        capture_output=True,
        text=True,
        cwd="/",
        check=True,
    )
    folder = Path(result.stdout.strip())
    assert "site-packages" in str(folder)
    assert (folder / "grafana" / "dashboard.json.j2").is_file()


@pytest.mark.parametrize("delay", [0, 0.01, 0.03])
def test_script_ctrl_c_while_loading(
    installed: Path, tmp_path: Path, delay: float
) -> None:
    """The installed script handles Ctrl-C from its first statement, as -m does."""
    shutil.copytree(REPO / "services", tmp_path / "services")
    command = [str(installed / "bin" / "obscompile"), "build"]

    status, stderr = interrupt_while_loading(
        command, tmp_path, delay, _without_pythonpath()
    )

    assert "Traceback" not in stderr
    assert status == 130, stderr
    assert stderr.startswith("obscompile: interrupted")


if sys.platform == "win32":  # pragma: no cover
    pytestmark = pytest.mark.skip(reason="the wheel test uses POSIX venv paths")


_FIRST_IMPORTS = """
import importlib, json, pkgutil, sys
import obscompile
names = sorted(
    found.name
    for found in pkgutil.walk_packages(obscompile.__path__, "obscompile.")
    if not found.name.endswith("__main__")
)
failed = {}
for name in names:
    for loaded in [m for m in sys.modules if m.split(".")[0] == "obscompile"]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = repr(exc)
print(json.dumps({"count": len(names), "failed": failed}))
"""


def test_every_module_imports_first() -> None:
    """Each module imports in a fresh state, as a service module or a tool may."""
    result = subprocess.run(
        [sys.executable, "-c", _FIRST_IMPORTS],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    report = json.loads(result.stdout)
    assert report["failed"] == {}
    assert report["count"] > 90
