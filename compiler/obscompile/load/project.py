"""Find and load every manifest of a project."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from obscompile.diagnostics import Diagnostic, error, has_errors
from obscompile.load.files import (
    MANIFEST_SUFFIXES,
    display_name,
    display_names,
    failed_to_declare,
    manifest_files,
    rejected_files,
)
from obscompile.load.manifest import build_service
from obscompile.load.python_source import (
    load_block_modules,
    python_sources,
    run_module,
)
from obscompile.load.validate import validate_manifest
from obscompile.load.yaml_source import read_yaml_file
from obscompile.model.location import Location
from obscompile.model.service import Service

if TYPE_CHECKING:
    from obscompile.cache import Progress


@attrs.frozen
class LoadResult:
    """Services loaded from a project, every diagnostic, and the text of each source.

    `failed` names the manifests whose loading reported an error. Their services are
    missing or may lack declarations, so the project may have names that the loaded
    services do not show. `unloaded` names those of them that declare no service at
    all, such as a manifest with a schema error.
    """

    services: tuple[Service, ...]
    diagnostics: tuple[Diagnostic, ...]
    sources: dict[str, str]
    failed: tuple[str, ...] = ()
    unloaded: tuple[str, ...] = ()


def load_manifest_file(
    path: Path, name: str
) -> tuple[Service | None, list[Diagnostic], str]:
    """Load one manifest; the service is None when the file has errors that stop it."""
    source, diagnostics = read_yaml_file(path, name)
    if source is None:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        return None, diagnostics, text
    if any(d.severity == "error" for d in diagnostics):
        return None, diagnostics, source.text
    schema_problems = validate_manifest(source)
    if schema_problems:
        return None, diagnostics + schema_problems, source.text
    service, problems = build_service(source)
    return service, diagnostics + problems, source.text


def load_project(
    services_dir: Path,
    blocks_dir: Path | None = None,
    jobs: int = 1,
    progress: Progress | None = None,
) -> LoadResult:
    """Load every YAML manifest and Python module in `services_dir`.

    Modules in `blocks_dir` run first, so that manifests can use their blocks; the
    blocks they register are removed again afterwards. A project without Python
    service modules, which could register blocks for the manifests after them, has
    its manifests loaded in up to `jobs` worker processes when they are many.
    """
    from obscompile import dsl
    from obscompile.parallel import load_manifests

    if not services_dir.is_dir():
        location = Location(display_name(services_dir), 1, 1)
        problem = error(location, _missing_folder_message(services_dir), "io/read")
        return LoadResult((), (problem,), {})
    registered = dict(dsl.BLOCKS)
    try:
        diagnostics = load_block_modules(blocks_dir) if blocks_dir is not None else []
        files, problems = manifest_files(services_dir)
        diagnostics.extend(problems)
        failed = rejected_files(problems)
        unloaded = list(failed)
        services: list[Service] = []
        sources = {}
        names = display_names(files)
        loaded = None
        if not any(path.suffix == ".py" for path in files):
            loaded = load_manifests(
                list(zip(files, names, strict=True)), jobs, progress
            )
        for index, (path, name) in enumerate(zip(files, names, strict=True)):
            if path.suffix == ".py":
                declared, problems = run_module(path, name)
                services.extend(declared)
                diagnostics.extend(problems)
                if has_errors(problems):
                    failed.append(name)
                    if not declared:
                        unloaded.append(name)
                sources[name] = _read_text(path)
                continue
            if loaded is not None:
                service, problems, text = loaded[index]
            else:
                service, problems, text = load_manifest_file(path, name)
            diagnostics.extend(problems)
            sources[name] = text
            if service is not None:
                services.append(service)
            else:
                unloaded.append(name)
            if failed_to_declare(service is not None, problems):
                failed.append(name)
        sources.update(python_sources(diagnostics, sources))
        if files and not services and not has_errors(diagnostics):
            # The modules were not run or declared nothing, and a build of no service
            # would remove every file that the last build wrote.
            diagnostics.append(
                error(
                    Location(display_name(services_dir), 1, 1),
                    "no service declared: no module of the services folder "
                    "declares one (see the warnings of its modules)",
                    "project/no-services",
                )
            )
    finally:
        dsl.BLOCKS.clear()
        dsl.BLOCKS.update(registered)
        dsl.FAILED_BLOCK_MODULES.clear()
    return LoadResult(
        tuple(services), tuple(diagnostics), sources, tuple(failed), tuple(unloaded)
    )


def _missing_folder_message(services_dir: Path) -> str:
    """Return the message for a services folder that is missing or not a folder."""
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


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
