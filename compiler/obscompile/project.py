"""The folders of a project: its manifests, its templates and its output."""

from __future__ import annotations

from pathlib import Path

import attrs

# The build cache's folder in the project folder.
CACHE_DIR = ".obscompile-cache"


@attrs.frozen
class Project:
    """The folders of a project's inputs and outputs."""

    root: Path
    services_dir: Path
    out_dir: Path
    templates_dir: Path

    @classmethod
    def at(
        cls, root: Path, services: Path | None = None, out: Path | None = None
    ) -> Project:
        return cls(
            root=root,
            services_dir=services or root / "services",
            out_dir=out or root / "out",
            templates_dir=root / "templates",
        )

    @property
    def hand_written_tests_dir(self) -> Path:
        """Return the folder of the hand-written promtool tests."""
        return self.root / "tests" / "promtool"

    def inputs(self) -> dict[str, Path]:
        """Return the folders that a build reads or keeps, by their names in messages."""
        return {
            "project folder": self.root,
            "services folder": self.services_dir,
            "templates folder": self.templates_dir,
            "blocks folder": self.root / "blocks",
            "hand-written tests folder": self.root / "tests",
            "build cache": self.root / CACHE_DIR,
        }

    def output_problem(self) -> str | None:
        """Return why the output folder cannot be written, or None.

        A build replaces the output folder as a whole, so it must not be, contain or
        lie inside a folder that the build reads. It may lie inside the project
        folder, where it goes by default.
        """
        out = self.out_dir.resolve()
        for name, folder in self.inputs().items():
            path = folder.resolve()
            if out == path:
                relation = "is"
            elif out in path.parents:
                relation = "contains"
            elif path in out.parents and name != "project folder":
                relation = "is inside"
            else:
                continue
            default = self.root.resolve() / "out"
            advice = f", such as {default}" if out != default else " with --out"
            return (
                f"the output folder {self.out_dir} {relation} the {name} {path}; a "
                "build replaces its output folder as a whole, so give it a folder of "
                f"its own{advice}"
            )
        return None


def yaml_files(folder: Path) -> list[Path]:
    """Return the .yml and .yaml files under `folder` and its subfolders, sorted."""
    return sorted(p for suffix in ("*.yml", "*.yaml") for p in folder.rglob(suffix))
