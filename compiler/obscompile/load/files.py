"""Find a project's manifests, and name files as diagnostics show them."""

from __future__ import annotations

import os
from pathlib import Path

from obscompile.diagnostics import Diagnostic, error, warning
from obscompile.model.location import Location

MANIFEST_SUFFIXES = (".yaml", ".yml", ".py")


def display_name(path: Path) -> str:
    """Return `path` relative to the working directory when it lies below it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path.absolute()) if relative.startswith("..") else relative


def display_names(paths: list[Path]) -> list[str]:
    """Return the `display_name` of each path, working out each folder's part once."""
    prefixes: dict[Path, str] = {}
    names = []
    for path in paths:
        prefix = prefixes.get(path.parent)
        if prefix is None:
            # The name of a plain file "x" in the folder ends with "x", and the rest is
            # the folder's part, as `display_name` gives it for every file there.
            prefix = prefixes[path.parent] = display_name(path.parent / "x")[:-1]
        names.append(prefix + path.name)
    return names


def manifest_files(services_dir: Path) -> tuple[list[Path], list[Diagnostic]]:
    """List manifests in `services_dir`, rejecting links that leave it.

    A folder without any manifest is an error.
    """
    diagnostics: list[Diagnostic] = []
    files = []
    root = services_dir.resolve()
    with os.scandir(services_dir) as found:
        entries = sorted(found, key=lambda entry: entry.name)
    for entry in entries:
        if os.path.splitext(entry.name)[1] not in MANIFEST_SUFFIXES:
            continue
        if entry.name.startswith((".", "_")):
            continue
        path = services_dir / entry.name
        if not entry.is_symlink():
            if entry.is_file():
                files.append(path)
            elif entry.is_dir():
                diagnostics.append(
                    warning(
                        Location(display_name(path), 1, 1),
                        "a folder, not a manifest file, so it is not read; manifests "
                        f"are the files directly in {services_dir}",
                        "io/not-a-file",
                    )
                )
            continue
        name = display_name(path)
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            if isinstance(exc, RuntimeError):
                reason = "it is a symbolic link loop"
            elif isinstance(exc, FileNotFoundError):
                reason = (
                    f"it is a symbolic link to {os.readlink(path)}, which is missing"
                )
            else:
                reason = exc.strerror or str(exc)
            diagnostics.append(
                error(
                    Location(name, 1, 1), f"cannot read manifest: {reason}", "io/read"
                )
            )
            continue
        if root not in resolved.parents:
            diagnostics.append(
                error(
                    Location(name, 1, 1),
                    f"manifest is a symbolic link to {resolved}, outside {services_dir}; "
                    "copy the file into the folder instead",
                    "io/symlink",
                )
            )
            continue
        if path.is_file():
            files.append(path)
    if not files and not diagnostics:
        # A build of nothing would remove every file that the last build wrote, which
        # a wrong --services folder or renamed manifests make likely.
        diagnostics.append(
            error(
                Location(display_name(services_dir), 1, 1),
                "services folder has no manifests: add service manifests (.yaml or "
                ".yml) or Python service modules (.py); names that start with . or _ "
                "are skipped",
                "project/no-services",
            )
        )
    return files, diagnostics
