"""Diagnostics as data, and the exception hierarchy.

Checks and loaders return `Diagnostic` values; only the CLI prints them and turns
them into exit codes.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

import attrs

from obscompile.model.location import Location


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


class ObscompileError(Exception):
    """Base class of every error the compiler raises on purpose."""


class ProcessExit(SystemExit):
    """A call by user code, such as os._exit(0), that would end the build's process.

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
