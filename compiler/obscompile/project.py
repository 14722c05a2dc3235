"""The folders of a project: its manifests, its templates and its output."""

from __future__ import annotations

from pathlib import Path

import attrs

from obscompile.load.files import MANIFEST_SUFFIXES

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

    def services_problem(self) -> str | None:
        """Return why the services folder cannot be read, or None."""
        return missing_services_folder(self.services_dir)

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


def missing_services_folder(services_dir: Path) -> str | None:
    """Return the message for a services folder that is missing or not a folder.

    Returns None when `services_dir` is a folder.
    """
    if services_dir.is_dir():
        return None
    path = services_dir.absolute()
    found = "is not a folder" if services_dir.exists() else "not found"
    message = (
        f"services folder {path} {found}: run obscompile in the project folder, "
        f"the one that contains {path.name}/, or pass --project with that folder"
    )
    folder = path.parent
    if folder.name == path.name and _has_manifests(folder):
        # The project folder is a services folder, as when the build runs inside one.
        message += f"; {folder} contains manifests, so try --project {folder.parent}"
    return message


def _has_manifests(folder: Path) -> bool:
    try:
        return any(entry.suffix in MANIFEST_SUFFIXES for entry in folder.iterdir())
    except OSError:
        return False


def yaml_files(folder: Path) -> list[Path]:
    """Return the .yml and .yaml files under `folder` and its subfolders, sorted."""
    return sorted(p for suffix in ("*.yml", "*.yaml") for p in folder.rglob(suffix))
