"""Find and load every manifest of a project."""

from __future__ import annotations

import os
from pathlib import Path

import attrs

from obscompile.diagnostics import Diagnostic, error
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

MANIFEST_SUFFIXES = (".yaml", ".yml", ".py")


@attrs.frozen
class LoadResult:
    """Services loaded from a project, every diagnostic, and the text of each source."""

    services: tuple[Service, ...]
    diagnostics: tuple[Diagnostic, ...]
    sources: dict[str, str]


def display_name(path: Path) -> str:
    """Return `path` relative to the working directory when it lies below it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path.absolute()) if relative.startswith("..") else relative


def manifest_files(services_dir: Path) -> tuple[list[Path], list[Diagnostic]]:
    """List manifests in `services_dir`, rejecting links that leave it."""
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
            # A file of the folder itself; other kinds of entry are skipped.
            if entry.is_file():
                files.append(path)
            continue
        name = display_name(path)
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            reason = (
                "it is a symbolic link loop"
                if isinstance(exc, RuntimeError)
                else exc.strerror
            )
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
    return files, diagnostics


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


def load_project(services_dir: Path, blocks_dir: Path | None = None) -> LoadResult:
    """Load every YAML manifest and Python module in `services_dir`.

    Modules in `blocks_dir` run first, so that manifests can use their blocks; the
    blocks they register are removed again afterwards.
    """
    from obscompile import dsl

    if not services_dir.is_dir():
        location = Location(display_name(services_dir), 1, 1)
        return LoadResult(
            (), (error(location, "services folder not found", "io/read"),), {}
        )
    registered = dict(dsl.BLOCKS)
    try:
        diagnostics = load_block_modules(blocks_dir) if blocks_dir is not None else []
        files, problems = manifest_files(services_dir)
        diagnostics.extend(problems)
        services: list[Service] = []
        sources = {}
        for path in files:
            name = display_name(path)
            if path.suffix == ".py":
                declared, problems = run_module(path, name)
                services.extend(declared)
                diagnostics.extend(problems)
                sources[name] = _read_text(path)
                continue
            service, problems, text = load_manifest_file(path, name)
            diagnostics.extend(problems)
            sources[name] = text
            if service is not None:
                services.append(service)
        sources.update(python_sources(diagnostics, sources))
    finally:
        dsl.BLOCKS.clear()
        dsl.BLOCKS.update(registered)
    return LoadResult(tuple(services), tuple(diagnostics), sources)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
