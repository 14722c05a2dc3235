"""Find a project's manifests, and name files as diagnostics show them."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from obscompile.diagnostics import Diagnostic, Severity, error, has_errors, warning
from obscompile.model.location import Location

MANIFEST_SUFFIXES = (".yaml", ".yml", ".py")
# The files of one subfolder that get a warning each. The rest get one warning at the
# subfolder, so that a folder such as a virtual environment does not bury the others.
NESTED_WARNINGS = 5


def display_name(path: Path) -> str:
    """Return `path` relative to the working directory when it lies below it.

    Any other path is absolute, without the `..` of a path such as `--project ..`.
    """
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return os.path.abspath(path) if relative.startswith("..") else relative


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

    Manifests are the files directly in the folder whose names end in .yaml, .yml or
    .py and start with neither . nor _. A file that would be one but for the case of
    its suffix, or for lying in a subfolder, gets a warning. A folder without any
    manifest is an error.
    """
    diagnostics: list[Diagnostic] = []
    files = []
    root = services_dir.resolve()
    with os.scandir(services_dir) as found:
        entries = sorted(found, key=lambda entry: entry.name)
    for entry in entries:
        if entry.name.startswith((".", "_")):
            continue
        path = services_dir / entry.name
        if os.path.splitext(entry.name)[1] not in MANIFEST_SUFFIXES:
            diagnostics.extend(_unread(services_dir, path, entry))
            continue
        if entry.is_symlink():
            problem = _link_problem(services_dir, root, path)
            if problem is not None:
                diagnostics.append(problem)
                continue
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            diagnostics.append(
                warning(
                    Location(display_name(path), 1, 1),
                    "a folder, not a manifest file, so it is not read; manifests "
                    f"are the files directly in {display_name(services_dir)}",
                    "io/not-a-file",
                )
            )
        else:
            diagnostics.append(
                warning(
                    Location(display_name(path), 1, 1),
                    "not a regular file, such as a named pipe, so it is not read; a "
                    "manifest is a regular file or a symbolic link to one",
                    "io/not-a-file",
                )
            )
    if not files and not has_errors(diagnostics):
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


# Errors of a loaded manifest that leave its catalog and scrape jobs whole: a panel's
# thresholds.
_PANEL_ERRORS = frozenset({"thresholds/syntax", "thresholds/colour"})


def failed_to_declare(loaded: bool, diagnostics: Iterable[Diagnostic]) -> bool:
    """Return True when a manifest's errors may leave some of its metrics or jobs out.

    That is so unless its services loaded and each of its errors is a panel's. Any
    other error, such as an unknown metric block, may leave declarations out.
    """
    errors = [d for d in diagnostics if d.severity is Severity.ERROR]
    return bool(errors) and not (
        loaded and all(d.check in _PANEL_ERRORS for d in errors)
    )


def rejected_files(diagnostics: Iterable[Diagnostic]) -> list[str]:
    """Return the manifests that `manifest_files` reported errors at, by display name.

    These are links that cannot be read. The error of a folder without manifests is
    at the folder, which is no manifest.
    """
    return [
        d.location.file
        for d in diagnostics
        if d.severity is Severity.ERROR and d.check != "project/no-services"
    ]


def _link_problem(services_dir: Path, root: Path, path: Path) -> Diagnostic | None:
    """Return the error of the symbolic link `path`, if it is broken or leaves `root`."""
    name = display_name(path)
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        if isinstance(exc, RuntimeError):
            reason = "it is a symbolic link loop"
        elif isinstance(exc, FileNotFoundError):
            reason = f"it is a symbolic link to {os.readlink(path)}, which is missing"
        else:
            reason = exc.strerror or str(exc)
        return error(Location(name, 1, 1), f"cannot read manifest: {reason}", "io/read")
    if root not in resolved.parents:
        return error(
            Location(name, 1, 1),
            f"manifest is a symbolic link to {resolved}, outside {services_dir}; "
            "copy the file into the folder instead",
            "io/symlink",
        )
    return None


def _unread(
    services_dir: Path, path: Path, entry: os.DirEntry[str]
) -> list[Diagnostic]:
    """Return warnings for the files at `entry` that look like manifests but are not read.

    `entry` is an entry of `services_dir` whose suffix is not a manifest suffix.
    """
    if entry.is_dir():
        # A linked folder may lead anywhere, so only its own files are looked at.
        return _nested(services_dir, path, recursive=not entry.is_symlink())
    suffix = os.path.splitext(entry.name)[1]
    if suffix.lower() not in MANIFEST_SUFFIXES:
        return []
    return [
        warning(
            Location(display_name(path), 1, 1),
            f"{entry.name} is not read: obscompile reads the manifests whose names "
            "end in .yaml, .yml or .py, in lower case; rename it to "
            f"{path.stem}{suffix.lower()}",
            "io/not-read",
        )
    ]


def _nested(services_dir: Path, folder: Path, recursive: bool) -> list[Diagnostic]:
    """Return warnings for the manifest-like files in `folder`, a subfolder."""
    found: list[Path] = []
    for parent, folders, names in os.walk(folder):
        # Names that start with . or _ stay unread without a warning, as at the top.
        folders[:] = sorted(
            name for name in folders if recursive and not name.startswith((".", "_"))
        )
        found.extend(
            Path(parent) / name
            for name in sorted(names)
            if not name.startswith((".", "_"))
            and os.path.splitext(name)[1].lower() in MANIFEST_SUFFIXES
        )
    diagnostics = [
        warning(
            Location(display_name(path), 1, 1),
            f"{path.name} is not read: obscompile reads the manifests directly in "
            f"{display_name(services_dir)}, not in its subfolders; move it there, or "
            "start the subfolder's name with _ to leave it unread without a warning",
            "io/not-read",
        )
        for path in found[:NESTED_WARNINGS]
    ]
    rest = len(found) - NESTED_WARNINGS
    if rest > 0:
        diagnostics.append(
            warning(
                Location(display_name(folder), 1, 1),
                f"{rest} more .yaml, .yml or .py {'file' if rest == 1 else 'files'} "
                f"in this folder {'is' if rest == 1 else 'are'} not read either",
                "io/not-read",
            )
        )
    return diagnostics
