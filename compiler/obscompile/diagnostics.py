"""Diagnostics as data, and the exception hierarchy.

Checks and loaders return `Diagnostic` values; only the CLI prints them and turns
them into exit codes.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping

import attrs

from obscompile.model.location import BlockUse, Location


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@attrs.frozen(order=False)
class Diagnostic:
    """One problem in user input, with the name of the check that found it."""

    location: Location
    severity: Severity
    message: str
    check: str

    def sort_key(self) -> tuple:
        return (
            self.location.file,
            self.location.line,
            self.location.column,
            self.message,
            uses_text(self.location),
        )

    def __str__(self) -> str:
        return (
            f"{self.location}: {self.severity}: {self.message}"
            f"{uses_text(self.location)} [{self.check}]"
        )


def uses_text(location: Location) -> str:
    """Return the block uses that led to `location`, as text to add to a message.

    The text is empty unless the location is inside a project block, and otherwise
    reads like ` (in block "queue_row" used at services/api.yaml:9:5)`.
    """
    uses = location.uses()
    if not uses:
        return ""
    return " (in " + ", in ".join(str(use) for use in uses) + ")"


def error(location: Location, message: str, check: str) -> Diagnostic:
    return Diagnostic(location, Severity.ERROR, message, check)


def warning(location: Location, message: str, check: str) -> Diagnostic:
    return Diagnostic(location, Severity.WARNING, message, check)


def exception_text(exc: BaseException) -> str:
    """Return an exception's type and message, such as `KeyError: 'red'`.

    A ProcessExit gets its message alone, because it names the call that raised it.
    """
    if isinstance(exc, ProcessExit):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diagnostics)


def sorted_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Return the diagnostics in file and position order, without duplicates."""
    unique = {(d.location, d.severity, d.message, d.check): d for d in diagnostics}
    return sorted(unique.values(), key=Diagnostic.sort_key)


def with_files_renamed(
    diagnostics: Iterable[Diagnostic],
    sources: Mapping[str, str],
    renames: Mapping[str, str],
) -> tuple[tuple[Diagnostic, ...], dict[str, str]] | None:
    """Rename the files of `diagnostics` and the keys of `sources` by `renames`.

    The positions of block uses are renamed too, and the diagnostics are sorted as
    `sorted_diagnostics` sorts them. A name such as `<unknown>` stays. Returns None
    when a file is missing from `renames`, or when a message contains a name that
    `renames` changes, because such a message names a file in its old spelling.
    """
    changed = [old for old, new in renames.items() if old != new]
    renamed = []
    try:
        for diagnostic in diagnostics:
            if any(name in diagnostic.message for name in changed):
                return None
            location = _renamed(diagnostic.location, renames)
            renamed.append(attrs.evolve(diagnostic, location=location))
        renamed_sources = {renames[name]: text for name, text in sources.items()}
    except KeyError:
        return None
    return tuple(sorted_diagnostics(renamed)), renamed_sources


def _renamed(location: Location, renames: Mapping[str, str]) -> Location:
    """Return `location` with its file and those of its block uses renamed.

    Raises KeyError for a file that `renames` lacks.
    """
    file = location.file
    if not (file.startswith("<") and file.endswith(">")):
        file = renames[file]
    used_at = location.used_at
    if used_at is not None:
        used_at = BlockUse(used_at.block, _renamed(used_at.location, renames))
    return attrs.evolve(location, file=file, used_at=used_at)


class ObscompileError(Exception):
    """Base class of every error the compiler raises on purpose."""


class ProcessExit(SystemExit):
    """User code that would end the build's process.

    That is a call such as os._exit(0), or a thread that outlives the code that
    started it.

    It is a SystemExit, so that it passes `except Exception` in user code as a call to
    sys.exit() would.
    """


class InputError(ObscompileError, ValueError):
    """User input has problems; `diagnostics` lists every one found."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = sorted_diagnostics(diagnostics)
        first = self.diagnostics[0] if self.diagnostics else "invalid input"
        super().__init__(str(first))


class UsageError(ObscompileError, ValueError):
    """The command line or the project configuration is wrong (exit code 2)."""
