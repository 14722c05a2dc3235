"""Map a character offset inside a YAML scalar to its line and column in the manifest.

The model records where each scalar starts. Inside a quoted scalar, escapes make the
written text longer than the value (`''` in single quotes, `\\"` in double quotes),
and a block scalar starts on the line after its `|` or `>`. When the manifest text is
at hand, the written form is rebuilt and compared with the source lines, so a position
is only reported where the source confirms it.
"""

from __future__ import annotations

from collections.abc import Mapping

from obscompile.model.location import Location


def _written(text: str, style: str) -> str:
    """Return `text` as a scalar of `style` (`'`, `"` or plain) writes it."""
    if style == "'":
        return text.replace("'", "''")
    if style == '"':
        return text.replace("\\", "\\\\").replace('"', '\\"')
    return text


def _in_block(
    lines: list[str],
    index: int,
    indicator: str,
    value_at: Location,
    text: str,
    offset: int,
) -> Location | None:
    """Locate `offset` in a block scalar whose indicator is on line `index` (0-based).

    Each line of a literal block (`|`) is one line of the value. A folded block (`>`)
    joins its lines, so only a one-line folded block is located.
    """
    content = text.rstrip("\n").split("\n")
    if indicator == ">" and len(content) > 1:
        return None
    written = lines[index + 1 : index + 1 + len(content)]
    if len(written) < len(content):
        return None
    indents = [len(line) - len(line.lstrip(" ")) for line in written if line.strip()]
    if not indents:
        return None
    indent = min(indents)
    for source_line, value_line in zip(written, content, strict=True):
        if source_line[indent:].rstrip() != value_line.rstrip():
            return None
    row = text.count("\n", 0, offset)
    column = offset - (text.rfind("\n", 0, offset) + 1)
    return Location(value_at.file, index + 2 + row, indent + column + 1)


def _in_source(
    source: str, value_at: Location, text: str, offset: int
) -> Location | None:
    lines = source.splitlines()
    index = value_at.line - 1
    if not 0 <= index < len(lines):
        return None
    line = lines[index]
    column = value_at.column - 1
    indicator = line[column : column + 1]
    if indicator in ("|", ">"):
        return _in_block(lines, index, indicator, value_at, text, offset)
    if "\n" in text:
        return None
    style = indicator if indicator in ("'", '"') else ""
    start = column + len(style)
    if not line[start:].startswith(_written(text, style)):
        return None
    prefix = _written(text[:offset], style)
    return Location(value_at.file, value_at.line, start + len(prefix) + 1)


def text_location(
    value_at: Location,
    text: str,
    offset: int | None,
    sources: Mapping[str, str] | None = None,
    text_start: Location | None = None,
) -> Location:
    """Return where character `offset` of the scalar `text`, written at `value_at`, is.

    `text_start` is where the first character of `text` is, when the caller knows it
    (after an opening quote). Without the manifest text in `sources`, the offset is
    added to `text_start` for a single-line value. When the position cannot be
    confirmed, the result is the start of the text, or of the scalar.
    """
    fallback = text_start or value_at
    if offset is None:
        return fallback
    source = sources.get(value_at.file) if sources else None
    if source is not None:
        return _in_source(source, value_at, text, offset) or fallback
    if text_start is not None and "\n" not in text:
        return text_start.shifted(offset)
    return fallback
