"""A check that generated promtool tests fail once an alert's boundary moves."""

from __future__ import annotations

from pathlib import Path

import yaml

from obscompile.pipeline import BuildResult
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
