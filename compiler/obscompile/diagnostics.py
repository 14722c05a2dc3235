"""Diagnostics as data, and the exception hierarchy.

Checks and loaders return `Diagnostic` values; only the CLI prints them and turns
them into exit codes.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping

import attrs

from obscompile.model.location import Location


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


# The maximum number of characters of a query, an expression or another user text
# that a message quotes, cut marks included. `report` cuts the source line under a
# message to this width too.
MAX_QUOTED = 120
# The characters at the start of a long text that every shortened form keeps.
_KEPT_START = 40
_CUT = "..."


def shorten(text: str, start: int = 0, end: int | None = None) -> str:
    """Shorten `text` for a message to at most MAX_QUOTED characters.

    `text[start:end]` is the part at fault, by default the whole text. A longer
    text keeps its first characters and the part at fault, with the text around it
    that fits. A part at fault that does not fit keeps its start and its end. "..."
    marks each cut.
    """
    if len(text) <= MAX_QUOTED:
        return text
    end = len(text) if end is None else max(0, min(end, len(text)))
    start = max(0, min(start, end))
    if end <= MAX_QUOTED - len(_CUT):
        return text[: MAX_QUOTED - len(_CUT)] + _CUT
    # Room for the part at fault once the start and two cut marks are kept.
    room = MAX_QUOTED - _KEPT_START - 2 * len(_CUT)
    ranges = [(0, _KEPT_START)]
    if end - start <= room:
        context = (room - (end - start)) // 2
        window = max(_KEPT_START, min(start - context, len(text) - room))
        ranges.append((window, window + room))
    else:
        # The cut inside the part at fault takes room too.
        head = (room - len(_CUT)) // 2
        tail = room - len(_CUT) - head
        from_start = max(start, _KEPT_START)
        ranges += [(from_start, from_start + head), (end - tail, end)]
    pieces = []
    shown_end = 0
    for first, last in ranges:
        first = max(first, shown_end)
        if first > shown_end:
            pieces.append(_CUT)
        pieces.append(text[first:last])
        shown_end = max(shown_end, last)
    if shown_end < len(text):
        pieces.append(_CUT)
    return "".join(pieces)


# The marks around a text that `quoted` puts into a message: STX and ETX.
_MARK_OPEN = "\x02"
_MARK_CLOSE = "\x03"
_MARKED = re.compile(f"{_MARK_OPEN}([^{_MARK_OPEN}{_MARK_CLOSE}]*){_MARK_CLOSE}")


def quoted(text: str) -> str:
    """Mark `text` in a message, to be shortened when the message becomes a Diagnostic.

    A message that is changed after it is composed uses this in place of `shorten`.
    The test generator composes the reasons for untested rules with placeholders for
    the service's names and puts the names back later, so shortening the text
    earlier could cut a placeholder apart and would not bound the names.
    """
    # A mark in the text itself would end the marked text early.
    text = text.replace(_MARK_OPEN, "?").replace(_MARK_CLOSE, "?")
    return _MARK_OPEN + text + _MARK_CLOSE


def _shorten_marked(message: str) -> str:
    """Shorten each text that `quoted` marks in `message`, and remove the marks."""
    if _MARK_OPEN not in message:
        return message
    return _MARKED.sub(lambda match: shorten(match.group(1)), message)


# A text in double quotes, single quotes or backticks, as other programs quote them.
_QUOTED_SPAN = re.compile(r'"[^"]*"|\'[^\']*\'|`[^`]*`')


def shorten_quotes(message: str, shorten_text: Callable[[str], str] = shorten) -> str:
    """Apply `shorten_text` to each quoted text in `message`, quotes included.

    This bounds the message of another program, such as a parser's, which may quote
    the user's text in full, and keeps its own words.

    NOTE: an apostrophe in the message's own words starts a quoted text too. Only a
    text longer than MAX_QUOTED changes, so such words change only in a long message.
    """
    return _QUOTED_SPAN.sub(lambda match: shorten_text(match.group()), message)


@attrs.frozen(order=False)
class Diagnostic:
    """One problem in user input, with the name of the check that found it.

    The texts that `quoted` marks in `message` are shortened as `shorten` does.
    """

    location: Location
    severity: Severity
    message: str = attrs.field(converter=_shorten_marked)
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

    The text is empty unless the location is inside a project block or a helper
    module, and otherwise reads like ` (in block "queue_row" used at
    services/api.yaml:9:5)` or ` (in function "panels" called at services/api.py:4:9)`.
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
    message = exception_message(exc)
    if isinstance(exc, ProcessExit):
        return message
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def exception_message(exc: BaseException) -> str:
    """Return `str(exc)`, or a note on the failure when the exception's own code fails.

    User code may define an exception whose `__str__` raises, and the message of
    such an error must not end the build with a traceback.
    """
    try:
        return str(exc)
    except Exception as failure:  # noqa: BLE001 - user code may raise anything
        return f"(its __str__ method raised {type(failure).__name__})"


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
        used_at = attrs.evolve(used_at, location=_renamed(used_at.location, renames))
    return attrs.evolve(location, file=file, used_at=used_at)


class ObscompileError(Exception):
    """Base class of every error the compiler raises on purpose."""


class Terminated(BaseException):
    """The exception that SIGTERM raises while a command runs, so that cleanup runs.

    A BaseException, so that no `except Exception` clause stops it.
    """


def stops_the_command(exc: BaseException) -> bool:
    """Return whether `exc` is Ctrl-C or SIGTERM, which end a command wherever raised.

    User code may raise any other exception, which is an error of its file.
    """
    return isinstance(exc, KeyboardInterrupt | Terminated)


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
    """The command line or the project configuration is wrong (exit code 2).

    Each quoted text of the message is shortened, as the user's value may be long.
    """

    def __init__(self, message: str) -> None:
        super().__init__(shorten_quotes(message))
