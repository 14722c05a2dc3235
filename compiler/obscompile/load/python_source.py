"""Run Python service modules and project block modules.

Python modules are code and run as such, with the full rights of the process;
YAML manifests never execute anything. An error in a module is reported at the
user's file and line, never as a traceback.
"""

from __future__ import annotations

import ast
import contextlib
import os
import runpy
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import attrs

from obscompile.diagnostics import (
    Diagnostic,
    error,
    exception_message,
    exception_text,
    has_errors,
    stops_the_command,
    warning,
)
from obscompile.load.input_file import (
    PYTHON_MODULE,
    InputFileError,
    read_input_bytes,
    read_input_text,
)
from obscompile.model.location import BlockUse, Location
from obscompile.model.service import Service


def _error_in(name: str, exc: BaseException, path: Path) -> Diagnostic:
    """Return the error of a module `name` at `path` that raised `exc`.

    An error in a helper module that the module imports gets a note at the module's
    line that called into the helper.
    """
    found = _module_error(name, exc)
    outermost = found.location
    while outermost.used_at is not None:
        outermost = outermost.used_at.location
    if Path(outermost.file).resolve() == path.resolve():
        return found
    call = helper_call(exc, path)
    if call is None:
        return found
    return attrs.evolve(found, location=_used_at(found.location, call))


def helper_call(exc: BaseException, path: Path) -> BlockUse | None:
    """Return the last call in module `path` into a helper module in `exc`'s traceback.

    The helper is the next user code that the traceback runs after that line: a
    function, or the top level of a module that the line imports. Returns None when
    no user code of another file follows the module's last line.
    """
    from obscompile.dsl import frame_location, is_user_file

    module = str(path.resolve())
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if is_user_file(filename):
            frames.append((tb, str(Path(filename).resolve()) == module))
        tb = tb.tb_next
    calls = [index for index, (_, in_module) in enumerate(frames) if in_module]
    if not calls or calls[-1] + 1 == len(frames):
        return None
    caller = frames[calls[-1]][0]
    callee = frames[calls[-1] + 1][0].tb_frame
    location = frame_location(caller.tb_frame, caller.tb_lasti, caller.tb_lineno)
    helper = str(
        callee.f_globals.get("__name__") or Path(callee.f_code.co_filename).stem
    )
    if callee.f_code.co_name == "<module>":
        return BlockUse(helper, location, kind="module")
    return BlockUse(f"{helper}.{callee.f_code.co_qualname}", location, kind="function")


def _used_at(location: Location, call: BlockUse) -> Location:
    """Return `location` with `call` after the last of its block uses."""
    use = location.used_at
    if use is None:
        return attrs.evolve(location, used_at=call)
    return attrs.evolve(
        location,
        used_at=attrs.evolve(use, location=_used_at(use.location, call)),
    )


def _module_error(name: str, exc: BaseException) -> Diagnostic:
    from obscompile.dsl import DSLError, dsl_exception_text, error_location

    if isinstance(exc, DSLError):
        return error(exc.location, str(exc), "dsl/error")
    if isinstance(exc, SyntaxError) and exc.lineno:
        # A helper module that the module imports has its own file name.
        file = name
        if exc.filename and Path(exc.filename).resolve() != Path(name).resolve():
            file = _display_name(Path(exc.filename))
        where = Location(file, exc.lineno, exc.offset or 1)
        return error(where, f"invalid Python: {exc.msg}", "dsl/syntax")
    location = error_location(exc) or Location(name, 1, 1)
    if isinstance(exc, ImportError) and "no known parent package" in (
        exception_message(exc)
    ):
        hint = (
            "; a module runs on its own, not in a package, so import a helper "
            "beside it by its name: import _common"
        )
        return error(location, exception_text(exc) + hint, "dsl/error")
    return error(location, dsl_exception_text(exc), "dsl/error")


def run_module(
    path: Path, name: str, declares_services: bool = True
) -> tuple[list[Service], list[Diagnostic]]:
    """Execute one module; return the services it declared through `dsl.service()`.

    A service module that declares no service gets a warning; a block module
    (`declares_services` False) is not expected to declare any.
    """
    from obscompile import dsl

    try:
        source = read_input_bytes(path, PYTHON_MODULE)
    except InputFileError as exc:
        return [], [exc.diagnostic(name)]
    if imports_obscompile(path, source) is False:
        # A folder given by mistake may hold other scripts, which must not run.
        return [], [
            warning(
                Location(name, 1, 1),
                "module does not import obscompile at its top, so it was not run; a "
                "module starts with `from obscompile import dsl` and declares "
                + (
                    "services with dsl.service(...)"
                    if declares_services
                    else "blocks with @dsl.block(...)"
                ),
                "dsl/not-run",
            )
        ]
    collected, token = dsl.collecting()
    notes, notes_token = dsl.collecting_warnings()
    # The output folder and every later path are relative to the working folder,
    # which a module could change.
    folder = os.getcwd()
    try:
        with (
            dsl.output_to_stderr(),
            dsl.raise_on_process_exit(),
            _importable_beside(path.parent),
            # Innermost, so that the code after the module runs with the settings
            # restored.
            dsl.keeping_process_settings(),
        ):
            runpy.run_path(str(path), run_name=f"obscompile_module_{path.stem}")
    # User code may raise anything, and only Ctrl-C or SIGTERM stops the build.
    except BaseException as exc:
        if stops_the_command(exc):
            raise
        return [], [_error_in(name, exc, path)]
    finally:
        os.chdir(folder)
        dsl.stop_collecting_warnings(notes_token)
        dsl.stop_collecting(token)
    if declares_services and not collected:
        return [], [
            *notes,
            warning(
                Location(name, 1, 1),
                "module declares no service; call dsl.service(...) to declare one",
                "dsl/no-service",
            ),
        ]
    return collected, list(notes)


@contextlib.contextmanager
def _importable_beside(folder: Path) -> Iterator[None]:
    """Let a module import the helper modules in its folder, as `python x.py` does.

    The helpers are forgotten afterwards, so a helper of another project's folder
    with the same name is imported from its own file.
    """
    entry = str(folder.absolute())
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)
        for name, module in list(sys.modules.items()):
            origin = getattr(module, "__file__", None)
            # Packages too: `_lib/__init__.py` of one folder may share its name
            # with another folder's.
            if origin and Path(origin).absolute().is_relative_to(entry):
                del sys.modules[name]


def imports_obscompile(path: Path, source: bytes | None = None) -> bool | None:
    """Return whether a module imports obscompile before it runs anything else.

    Only the statements at the top of the module are read: its docstring, then its
    imports, up to the first other statement. A module declares services or blocks
    with obscompile, so one whose opening imports lack it is not run. `source` is the
    module's text, read from `path` when not given. Returns None when the source
    cannot be read or parsed.
    """
    try:
        if source is None:
            source = read_input_bytes(path, PYTHON_MODULE)
        tree = ast.parse(source, filename=str(path))
    except (SyntaxError, ValueError, InputFileError):
        return None
    for node in tree.body:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        else:
            return False
        if any(name.split(".")[0] == "obscompile" for name in names):
            return True
    return False


def _display_name(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_block_modules(folder: Path) -> list[Diagnostic]:
    """Run every module in a project's blocks folder so that its blocks register."""
    from obscompile import dsl

    diagnostics: list[Diagnostic] = []
    dsl.FAILED_BLOCK_MODULES.clear()
    if not folder.is_dir():
        return diagnostics
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith(("_", ".")):
            continue
        name = _display_name(path)
        _, problems = run_module(path, name, declares_services=False)
        diagnostics.extend(problems)
        if has_errors(problems):
            dsl.FAILED_BLOCK_MODULES.append(name)
    return diagnostics


def python_sources(
    diagnostics: Iterable[Diagnostic], known: Mapping[str, str]
) -> dict[str, str]:
    """Return the text of each Python file that `diagnostics` cite and `known` lacks.

    Errors in a project's blocks/ and in files that a module imports cite files
    outside services/, and the text report needs their lines. A diagnostic cites the
    file of its location and of each block use that led to it.
    """
    texts: dict[str, str] = {}
    for diagnostic in diagnostics:
        cited = [
            diagnostic.location,
            *(use.location for use in diagnostic.location.uses()),
        ]
        for location in cited:
            name = location.file
            if name in known or name in texts or not name.endswith(".py"):
                continue
            try:
                texts[name] = read_input_text(name, PYTHON_MODULE, errors="replace")
            except InputFileError:
                continue
    return texts


def block_sources(folder: Path | None) -> dict[str, str]:
    """Return the text of each Python file in a project's blocks folder.

    The checks read the texts to place a finding inside a block's query exactly.
    """
    if folder is None or not folder.is_dir():
        return {}
    texts = {}
    for path in sorted(folder.glob("*.py")):
        try:
            texts[_display_name(path)] = read_input_text(
                path, PYTHON_MODULE, errors="replace"
            )
        except InputFileError:
            continue
    return texts
