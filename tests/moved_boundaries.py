"""A check that generated promtool tests fail once an alert's boundary moves."""

from __future__ import annotations

import textwrap
from pathlib import Path

import yaml

from obscompile.derive.local import LocalOverrides
from obscompile.pipeline import BuildResult, Project, build
from tests.conftest import write_manifest
from tests.test_prometheus import run_promtool, write_files


def alert_expr(result: BuildResult, service: str) -> str:
    """Return the expression of the service's one alert."""
    groups = yaml.safe_load(result.files[f"prometheus/rules/{service}.rules.yml"])
    (alerts,) = [g for g in groups["groups"] if g["name"] == f"{service}.alerts"]
    (rule,) = alerts["rules"]
    return rule["expr"]


def assert_moved_boundaries_fail(
    project: Path,
    result: BuildResult,
    service: str,
    comparison: str,
    moved_comparisons: list[str],
) -> None:
    """Assert that promtool fails the generated tests with each moved comparison.

    The alert expression must end with `comparison`, such as `>= 90`. Each of
    `moved_comparisons`, such as `> 90`, takes its place in turn.
    """
    expr = alert_expr(result, service)
    assert expr.endswith(f" {comparison}")
    rules_name = f"prometheus/rules/{service}.rules.yml"
    for moved in moved_comparisons:
        moved_expr = expr.removesuffix(comparison) + moved
        files = dict(result.files)
        files[rules_name] = files[rules_name].replace(
            f"expr: {expr}\n", f"expr: {moved_expr}\n"
        )
        assert files[rules_name] != result.files[rules_name]
        out = write_files(project / "out", files)
        checked = run_promtool(
            "test", "rules", str(out / f"prometheus/tests/{service}.test.yml")
        )
        assert checked.returncode == 1, f"{moved}: {checked.stdout}"
        assert "FAILED" in checked.stdout + checked.stderr


def build_stat_panel(
    project: Path,
    manifest: tuple[str, str],
    panel: tuple[str, str, str],
    alert_for: str = "5m",
    evaluation: str = "1m",
) -> BuildResult:
    """Build a service of one stat panel; fail on any error.

    `manifest` is the file name and the text up to the panel list, and `panel` the
    query, unit and thresholds.
    """
    query, unit, thresholds = panel
    text = f"""\
    - title: Panel
      type: stat
      query: '{query}'
      unit: {unit}
      thresholds: "{thresholds}"
      alert: {{for: {alert_for}}}
    """
    name, header = manifest
    write_manifest(
        project, name, header + textwrap.indent(textwrap.dedent(text), "    ")
    )
    local = None
    if evaluation != "1m":
        local = LocalOverrides(evaluation_interval=evaluation)
    result = build(Project.at(project), local=local)
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    return result


def build_stat_panels(
    project: Path,
    manifest: tuple[str, str],
    panels: tuple[tuple[str, str, str, str], ...],
) -> BuildResult:
    """Build a service of stat panels without `alert:`; fail on any error.

    `manifest` is the file name and the text up to the panel list, and each panel
    is its title, query, unit and thresholds.
    """
    name, text = manifest
    for title, query, unit, thresholds in panels:
        text += (
            f"      - title: {title}\n"
            "        type: stat\n"
            f"        query: '{query}'\n"
            f"        unit: {unit}\n"
            f'        thresholds: "{thresholds}"\n'
        )
    write_manifest(project, name, text)
    result = build(Project.at(project))
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    return result


def untested(result: BuildResult) -> list[str]:
    """Return the messages of the build's `rules/untested` warnings."""
    return [d.message for d in result.diagnostics if d.check == "rules/untested"]


def assert_untested_with(result: BuildResult, reason: str) -> list[str]:
    """Assert that every `rules/untested` warning gives `reason` and the advice."""
    messages = untested(result)
    assert messages
    for message in messages:
        assert reason in message
        assert "Write a promtool test in tests/promtool/" in message
    return messages
