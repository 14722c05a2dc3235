"""Time two stages in isolation: writing out/ and reading back generated YAML.

    python bench/micro.py

`write_tree` writes a tree of 6,000 files of 20 kB (the file count of 1,000
services), then writes it again unchanged, then with one file changed. The YAML part
loads one generated promtool test file with ruamel.yaml's safe loader, as the
Prometheus emitter does to check its output, and with PyYAML's C loader when that
is installed. Each figure is one in-process run; the numbers are estimates.
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
from pathlib import Path

from obscompile.write.atomic import write_tree

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import workload  # noqa: E402


def timed(label: str, action) -> None:
    started = time.perf_counter()
    action()
    print(f"{label:<52} {time.perf_counter() - started:8.3f} s")


def write_tree_figures(folder: Path) -> None:
    files = {f"d{i % 6}/f{i}.json": "x" * 20_000 + str(i) for i in range(6000)}
    out = folder / "out"
    timed("write_tree, 6000 files, first write", lambda: write_tree(out, files))
    timed("write_tree, nothing changed", lambda: write_tree(out, files))
    files["d0/f0.json"] = "changed"
    timed("write_tree, one file changed", lambda: write_tree(out, files))


def yaml_figures(folder: Path) -> None:
    from click.testing import CliRunner
    from ruamel.yaml import YAML

    from obscompile.cli import main

    workload.write_project(folder, 1, 30)
    result = CliRunner().invoke(main, ["build", "--project", str(folder), "--no-cache"])
    if result.exit_code:
        raise SystemExit(result.stderr)
    path = next((folder / "out" / "prometheus" / "tests").glob("*.yml"))
    text = path.read_text(encoding="utf-8")
    label = f"{len(text) // 1000} kB test file"
    timed(
        f"ruamel.yaml safe load, {label}",
        lambda: YAML(typ="safe").load(io.StringIO(text)),
    )
    try:
        import yaml
    except ImportError:
        print("PyYAML is not installed; skipping its C loader")
        return
    if not hasattr(yaml, "CSafeLoader"):
        print("PyYAML has no C loader here (libyaml missing)")
        return
    timed(
        f"PyYAML CSafeLoader, {label}", lambda: yaml.load(text, Loader=yaml.CSafeLoader)
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-micro-") as scratch:
        write_tree_figures(Path(scratch) / "tree")
        yaml_figures(Path(scratch) / "yaml")


if __name__ == "__main__":
    main()
