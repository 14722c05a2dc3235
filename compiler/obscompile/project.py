"""The folders of a project: its manifests, its templates and its output."""

from __future__ import annotations

from pathlib import Path

import attrs


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
