"""The folders of a project: its manifests, its templates and its output."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
from pathlib import Path

import attrs

from obscompile.load.files import MANIFEST_SUFFIXES

# The build cache's folder in the project folder.
CACHE_DIR = ".obscompile-cache"
# The build cache's folder of old output trees. It keeps the tree that each output
# folder had before its last write, in a folder named by `spare_name`.
SPARE = "spare"


@attrs.frozen
class Project:
    """The folders of a project's inputs and outputs."""

    root: Path
    services_dir: Path
    out_dir: Path
    templates_dir: Path
    # Pairs of a folder and the path that the command line gave for it, the longest
    # folder first; see `shown`.
    spellings: tuple[tuple[Path, Path], ...] = ()

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

    @classmethod
    def from_command_line(
        cls,
        root: Path,
        services: Path | None = None,
        out: Path | None = None,
        start: str | None = None,
    ) -> Project:
        """Return the project with absolute folders, resolved against `start`.

        `start` is the working folder when the command started, by default the
        current one. A build may move the working folder: a write swaps a new tree
        in place of the output folder, and a working folder inside it moves with
        the old tree into the build cache. The absolute folders keep naming what
        the command line named, and `shown` names them as the command line did.
        """
        spelt = cls.at(root, services, out)
        found = cls.at(
            _resolved(root, start),
            None if services is None else _resolved(services, start),
            None if out is None else _resolved(out, start),
        )
        pairs = [
            (found.root, spelt.root),
            (found.services_dir, spelt.services_dir),
            (found.out_dir, spelt.out_dir),
        ]
        pairs.sort(key=lambda pair: len(pair[0].parts), reverse=True)
        return attrs.evolve(found, spellings=tuple(pairs))

    def shown(self, path: Path) -> Path:
        """Return `path` as the command line spelt the project folder that contains it.

        A path outside the project's folders is returned as it is.
        """
        for folder, spelling in self.spellings:
            if path.is_relative_to(folder):
                return spelling / path.relative_to(folder)
        return path

    def shown_in(self, text: str) -> str:
        """Return `text`, such as promtool's output, with its paths spelt as by `shown`.

        Each path inside one of the project's folders is replaced, where the text
        gives it in full from the root folder.
        """
        if not self.spellings:
            return text
        prefixes = {
            f"{folder}/": "" if spelling == Path() else f"{spelling}/"
            for folder, spelling in self.spellings
        }
        # The longest folder first, so that a folder inside another keeps its
        # spelling, and none that continues another path.
        choices = "|".join(re.escape(prefix) for prefix in prefixes)
        pattern = rf"(?<![\w./~-])(?:{choices})"
        return re.sub(pattern, lambda found: prefixes[found.group()], text)

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
                f"the output folder {self.shown(self.out_dir)} {relation} the {name} "
                f"{path}; a build replaces its output folder as a whole, so give it a "
                f"folder of its own{advice}"
            )
        default = self.root.resolve() / "out"
        if default in out.parents:
            return (
                f"the output folder {self.shown(self.out_dir)} is inside the default "
                f"output folder {default}, where a build without --out would keep it "
                "among the files that obscompile did not write; give it a folder of "
                f"its own, such as {default.parent / f'out-{out.name}'}"
            )
        return None


def _resolved(path: Path, start: str | None) -> Path:
    """Return `path` as an absolute path, joined to `start` when it is relative.

    The part up to the last `..` is resolved as the kernel resolves it, through
    symbolic links, so that `link/..` is the folder that contains the link's target.
    The rest keeps its symbolic links, which messages name as they are spelt.
    Raises FileNotFoundError when `path` is relative and the working folder is gone.
    """
    if not path.is_absolute():
        path = Path(start if start is not None else os.getcwd(), path)
    parts = path.parts
    if ".." not in parts:
        return path
    last = len(parts) - 1 - parts[::-1].index("..")
    return Path(os.path.realpath(Path(*parts[: last + 1])), *parts[last + 1 :])


def missing_services_folder(services_dir: Path) -> str | None:
    """Return the message for a services folder that is missing or not a folder.

    Returns None when `services_dir` is a folder.
    """
    if services_dir.is_dir():
        return None
    path = services_dir.absolute()
    found = "is not a folder" if services_dir.exists() else "not found"
    in_cache = _old_output_problem(path)
    if in_cache is not None:
        return f"services folder {path} {found}: {in_cache}"
    message = (
        f"services folder {path} {found}: run obscompile in the project folder, "
        f"the one that contains {path.name}/, or pass --project with that folder"
    )
    folder = path.parent
    if folder.name == path.name and _has_manifests(folder):
        # The project folder is a services folder, as when the build runs inside one.
        message += f"; {folder} contains manifests, so try --project {folder.parent}"
    return message


def spare_name(out: str) -> str:
    """Return the name of the spare folder of an output folder, given as a real path."""
    return hashlib.sha256(os.fsencode(out)).hexdigest()[:16]


def _old_output_problem(path: Path) -> str | None:
    """Return the message for a path inside a build cache's copy of an old output tree.

    A write swaps the new tree in place of the output folder and leaves the old tree
    in the cache's spare folder. A shell whose working folder was inside the output
    folder is inside that old tree from then on. Returns None for other paths.
    """
    real = Path(os.path.realpath(path))
    spare = next(
        (
            folder
            for folder in (real, *real.parents)
            if folder.name == SPARE and folder.parent.name == CACHE_DIR
        ),
        None,
    )
    if spare is None:
        return None
    project = spare.parent.parent
    try:
        working: Path | None = Path(os.getcwd())
    except OSError:
        working = None
    if working is None or not working.is_relative_to(spare) or working == spare:
        return (
            f"the path is inside the build cache {spare.parent}, which keeps old "
            "copies of output folders and is no project folder, so pass --project "
            f"{shlex.quote(str(project))}"
        )
    out = project / "out"
    copy = working.relative_to(spare).parts[0]
    if copy != spare_name(os.path.realpath(out)):
        return (
            f"the working folder {working} is an old copy of an output folder of the "
            f"project {project}: a newer build replaced that folder and moved the old "
            "tree into the build cache. Change into the output folder again, or pass "
            f"--project {shlex.quote(str(project))}"
        )
    return (
        f"the working folder {working} is an old copy of {out}: a newer build "
        f"replaced {out} and moved the old tree into the build cache. Run "
        f"`cd {shlex.quote(str(out))}` to change into the new output folder, or pass "
        f"--project {shlex.quote(str(project))}"
    )


def _has_manifests(folder: Path) -> bool:
    try:
        return any(entry.suffix in MANIFEST_SUFFIXES for entry in folder.iterdir())
    except OSError:
        return False


def yaml_files(folder: Path) -> list[Path]:
    """Return the .yml and .yaml files under `folder` and its subfolders, sorted."""
    return sorted(p for suffix in ("*.yml", "*.yaml") for p in folder.rglob(suffix))
