"""Run Python service modules and project block modules.

Python modules are code and run as such, with the full rights of the process;
YAML manifests never execute anything. An error in a module is reported at the
user's file and line, never as a traceback.
"""

from __future__ import annotations

import runpy
import traceback
from pathlib import Path

from obscompile.diagnostics import Diagnostic, error
from obscompile.model.location import Location
from obscompile.model.service import Service


def _error_in(path: Path, name: str, exc: BaseException) -> Diagnostic:
    from obscompile.dsl import DSLError

    if isinstance(exc, DSLError):
        return error(exc.location, str(exc), "dsl/error")
    if isinstance(exc, SyntaxError) and exc.lineno:
        where = Location(name, exc.lineno, exc.offset or 1)
        return error(where, f"invalid Python: {exc.msg}", "dsl/syntax")
    line = 1
    resolved = str(path.resolve())
    for frame in traceback.extract_tb(exc.__traceback__):
        if str(Path(frame.filename).resolve()) == resolved and frame.lineno:
            line = frame.lineno
    message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return error(Location(name, line, 1), message, "dsl/error")


def run_module(path: Path, name: str) -> tuple[list[Service], list[Diagnostic]]:
    """Execute one module; return the services it declared through `dsl.service()`."""
    from obscompile import dsl

    collected, token = dsl.collecting()
    try:
        runpy.run_path(str(path), run_name=f"obscompile_module_{path.stem}")
    except (Exception, SystemExit) as exc:  # user code may raise anything
        return [], [_error_in(path, name, exc)]
    finally:
        dsl.stop_collecting(token)
    return collected, []


def load_block_modules(folder: Path) -> list[Diagnostic]:
    """Run every module in a project's blocks folder so that its blocks register."""
    diagnostics: list[Diagnostic] = []
    if not folder.is_dir():
        return diagnostics
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith(("_", ".")):
            continue
        _, problems = run_module(path, str(path))
        diagnostics.extend(problems)
    return diagnostics
