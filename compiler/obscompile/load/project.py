"""Find and load every manifest of a project."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from obscompile.diagnostics import Diagnostic, error, has_errors
from obscompile.load.files import (
    display_name,
    display_names,
    failed_to_declare,
    manifest_files,
    rejected_files,
)
from obscompile.load.input_file import (
    MANIFEST,
    PYTHON_MODULE,
    FileKind,
    InputFileError,
    read_input_text,
)
from obscompile.load.manifest import build_service
from obscompile.load.python_source import (
    block_sources,
    load_block_modules,
    python_sources,
    run_module,
)
from obscompile.load.validate import validate_manifest
from obscompile.load.yaml_source import read_yaml_file
from obscompile.model.location import Location
from obscompile.model.service import Service
from obscompile.project import missing_services_folder

if TYPE_CHECKING:
    from obscompile.cache import Progress


@attrs.frozen
class LoadResult:
    """Services loaded from a project, every diagnostic, and the text of each source.

    `failed` names the manifests whose loading reported an error. Their services are
    missing or may lack declarations, so the project may have names that the loaded
    services do not show. `unloaded` names those of them that declare no service at
    all, such as a manifest with a schema error that stops it.
    """

    services: tuple[Service, ...]
    diagnostics: tuple[Diagnostic, ...]
    sources: dict[str, str]
    failed: tuple[str, ...] = ()
    unloaded: tuple[str, ...] = ()


def load_manifest_file(
    path: Path, name: str
) -> tuple[Service | None, list[Diagnostic], str]:
    """Load one manifest; the service is None when the file has errors that stop it.

    Schema errors stop the manifest unless each breaks a rule that the schema marks
    "x-loads", such as a port above 65535. Then the service is built and returned
    with them, so that its other checks run too.
    """
    source, diagnostics = read_yaml_file(path, name)
    if source is None:
        return None, diagnostics, _read_text(path, MANIFEST)
    if any(d.severity == "error" for d in diagnostics):
        return None, diagnostics, source.text
    schema = validate_manifest(source)
    if schema.diagnostics:
        # An error at a value gives what to write there, and a warning at the same
        # value that it reads as text in YAML 1.2 ("quote it") would contradict it.
        wrong = {problem.location for problem in schema.diagnostics}
        diagnostics = [
            d
            for d in diagnostics
            if not (d.check == "yaml/ambiguous-scalar" and d.location in wrong)
        ]
        diagnostics += schema.diagnostics
        if not schema.loads:
            return None, diagnostics, source.text
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

    missing = missing_services_folder(services_dir)
    if missing is not None:
        location = Location(display_name(services_dir), 1, 1)
        return LoadResult((), (error(location, missing, "io/read"),), {})
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
                sources[name] = _read_text(path, PYTHON_MODULE)
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
        sources.update(block_sources(blocks_dir))
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


def _read_text(path: Path, kind: FileKind) -> str:
    """Return the text of `path` for the report, or "" for a file that cannot be read."""
    try:
        return read_input_text(path, kind, errors="replace")
    except InputFileError:
        return ""
