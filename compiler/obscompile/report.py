"""Render diagnostics as text (with the source line and a caret), JSON or GitHub annotations."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping

from obscompile.diagnostics import MAX_QUOTED, Diagnostic, Severity, uses_text
from obscompile.model.location import Location

_COLORS = {Severity.ERROR: "\x1b[1;31m", Severity.WARNING: "\x1b[1;33m"}
_RESET = "\x1b[0m"


def format_text(
    diagnostics: Iterable[Diagnostic],
    sources: Mapping[str, str],
    color: bool = False,
) -> str:
    """Render `FILE:LINE:COL: error: MESSAGE [check]`, the source line and a caret.

    A diagnostic inside a project block or a helper module is followed by a note at
    each use of a block, or call into the helper, that led to it, with that line and
    a caret.
    """
    lines = []
    for diagnostic in diagnostics:
        severity = str(diagnostic.severity)
        if color:
            severity = f"{_COLORS[diagnostic.severity]}{severity}{_RESET}"
        lines.append(
            f"{diagnostic.location}: {severity}: {diagnostic.message} [{diagnostic.check}]"
        )
        lines.extend(_source_excerpt(diagnostic.location, sources))
        for use in diagnostic.location.uses():
            lines.append(
                f'{use.location}: note: {use.kind} "{use.block}" is {use.verb} here'
            )
            lines.extend(_source_excerpt(use.location, sources))
    return "\n".join(lines) + ("\n" if lines else "")


def _source_excerpt(location: Location, sources: Mapping[str, str]) -> list[str]:
    """Return the source line of `location` and a caret under its column."""
    text = sources.get(location.file)
    if text is None or not text.strip():
        # An empty or blank file has no line to show. The problem is the whole file.
        return []
    # YAML breaks lines only at \n and \r\n, unlike str.splitlines.
    source_lines = text.split("\n")
    index = location.line - 1
    if not 0 <= index < len(source_lines):
        return []
    source_line = _printable(source_lines[index].rstrip("\r").expandtabs(1))
    column = location.column - 1
    # Show at most MAX_QUOTED characters of a long line, around the caret.
    width = MAX_QUOTED
    start = max(0, min(column - width // 2, len(source_line) - width))
    excerpt = source_line[start : start + width]
    prefix = "..." if start else ""
    suffix = "..." if start + width < len(source_line) else ""
    return [
        f"  {prefix}{excerpt}{suffix}",
        "  " + " " * (len(prefix) + column - start) + "^",
    ]


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _printable(line: str) -> str:
    """Replace control characters, one for one, so a terminal shows the line as text."""
    return _CONTROL.sub("?", line)


def format_json(diagnostics: Iterable[Diagnostic], sources: Mapping[str, str]) -> str:
    """Render a JSON array of diagnostics with 1-based positions.

    A diagnostic inside a project block or a helper module also has `used_at`: the
    uses of blocks that led to it, the innermost first, each with `block`, `file`,
    `line` and `column`. A service module's call into a helper module has `function`
    or, for its import, `module` in place of `block`.
    """
    items = []
    for d in diagnostics:
        item: dict[str, object] = {
            "file": d.location.file,
            "line": d.location.line,
            "column": d.location.column,
            "severity": str(d.severity),
            "message": d.message,
            "check": d.check,
        }
        uses = d.location.uses()
        if uses:
            item["used_at"] = [
                {
                    use.kind: use.block,
                    "file": use.location.file,
                    "line": use.location.line,
                    "column": use.location.column,
                }
                for use in uses
            ]
        items.append(item)
    text = json.dumps(items, indent=2, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A file name that is not UTF-8 contains lone surrogates, which only ASCII
        # output can write as valid UTF-8, as \u escapes.
        text = json.dumps(items, indent=2)
    return text + "\n"


def _escape_github(text: str, property_value: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def format_github(diagnostics: Iterable[Diagnostic], sources: Mapping[str, str]) -> str:
    """Render GitHub Actions workflow commands (`::error file=...,line=...::message`)."""
    lines = []
    for d in diagnostics:
        props = ",".join(
            [
                f"file={_escape_github(d.location.file, True)}",
                f"line={d.location.line}",
                f"col={d.location.column}",
                f"title={_escape_github(d.check, True)}",
            ]
        )
        message = d.message + uses_text(d.location)
        lines.append(f"::{d.severity} {props}::{_escape_github(message)}")
    return "\n".join(lines) + ("\n" if lines else "")


FORMATTERS: dict[str, Callable[[Iterable[Diagnostic], Mapping[str, str]], str]] = {
    "json": format_json,
    "github": format_github,
}
