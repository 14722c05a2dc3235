"""Map a character offset inside a YAML scalar to its line and column in the manifest.

The model records where each scalar starts, but its value differs from the written
text: quotes are doubled or escaped, `\\t` and other escapes stand for one character,
and a line break inside a plain, quoted or folded scalar reads as a space. This module
reads the scalar again from the manifest text by the YAML 1.2 rules of its style and
records where each character of the value is written. A position is reported only
when the characters read are exactly the value that the loader built.

Two kinds of character have no single column of their own. One written as an escape
or a doubled quote is placed at its first character (the backslash or the first
quote). A line break that reads as a space or a line feed is placed just past the
last character of the line that it ends.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence

import attrs

from obscompile.model.location import Location

# One character of the value, with the 0-based line and column where its written form
# starts and the number of characters that form takes on that line.
_Written = tuple[str, int, int, int]
# A generator that reads one line of a plain or quoted scalar, as `_folded_lines` describes.
_LineReader = Generator[_Written, None, int | None]

# An anchor or tag written before the scalar, where the loader's position starts.
_PROPERTIES = re.compile(r"(?:[&!][^ \t]*(?:[ \t]+|$))*")
_BLOCK_HEADER = re.compile(r"([|>])([1-9]?)[-+]?([1-9]?)[ \t]*(?:#.*)?$")
_SPACE = " \t"
# The single-character escapes of a double-quoted scalar, as YAML 1.2 defines them.
_ESCAPES = {
    "0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v",
    "f": "\f", "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\",
    "N": "\x85", "_": "\xa0", "L": "\u2028", "P": "\u2029",
}  # fmt: skip
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


def _indent(line: str) -> int:
    """Return the indentation of `line`, which YAML writes with spaces only."""
    return len(line) - len(line.lstrip(" "))


def _leading_space(text: str) -> int:
    """Return how many spaces and tabs start `text`."""
    return len(text) - len(text.lstrip(_SPACE))


def _fold(
    lines: Sequence[str], line: int, end: int, joined: bool
) -> tuple[list[_Written], int]:
    """Return what the line break after line `line` reads as, and the next line.

    `end` is where the line's text ends, before trailing spaces. A single break reads
    as a space, unless an escape `joined` the lines, and each empty line after it
    reads as a line feed. Their written form is the break itself, so each points
    just past the last character of the line. The next line is the first with text,
    or the line past the end.
    """
    following = line + 1
    breaks: list[_Written] = []
    while following < len(lines) and not lines[following].strip(_SPACE):
        breaks.append(("\n", line, end, 0))
        following += 1
    if not breaks and following < len(lines) and not joined:
        breaks.append((" ", line, end, 0))
    return breaks, following


# The value a line reader returns when an escaped line break joins its line to the next.
_JOINED = -1


def _folded_lines(
    lines: Sequence[str],
    line: int,
    column: int,
    read_line: Callable[[str, int, int], _LineReader],
) -> Iterator[_Written]:
    """Yield the value of a plain or quoted scalar that may span several lines.

    `read_line(text, line, column)` yields the characters of one line from `column`
    and returns where the line's text ends, _JOINED after an escaped line break, or
    None where the scalar ends on the line.
    """
    while line < len(lines):
        end = yield from read_line(lines[line], line, column)
        if end is None:
            return
        joined = end == _JOINED
        if joined:
            end = len(lines[line]) - 1
        breaks, line = _fold(lines, line, end, joined)
        yield from breaks
        if line < len(lines):
            column = _leading_space(lines[line])


def _plain_line(text: str, line: int, column: int) -> _LineReader:
    content = text[column:].rstrip(_SPACE)
    for index, char in enumerate(content):
        yield char, line, column + index, 1
    return column + len(content)


def _single_quoted_line(text: str, line: int, column: int) -> _LineReader:
    index, stop = column, len(text.rstrip(_SPACE))
    while index < stop:
        char = text[index]
        if char == "'":
            if text[index + 1 : index + 2] != "'":
                return None
            yield "'", line, index, 2
            index += 2
        else:
            yield char, line, index, 1
            index += 1
    return index


def _double_quoted_line(text: str, line: int, column: int) -> _LineReader:
    index, stop = column, len(text.rstrip(_SPACE))
    while index < stop:
        char = text[index]
        if char == '"':
            return None
        if char != "\\":
            yield char, line, index, 1
            index += 1
            continue
        code = text[index + 1 : index + 2]
        if not code:
            return _JOINED
        if code in _ESCAPES:
            yield _ESCAPES[code], line, index, 2
            index += 2
            continue
        digits = _HEX_ESCAPES.get(code, 0)
        written = text[index + 2 : index + 2 + digits]
        if not digits or len(written) != digits or not _is_hex(written):
            return None
        yield chr(int(written, 16)), line, index, 2 + digits
        index += 2 + digits
    return index


def _is_hex(text: str) -> bool:
    return all(char in "0123456789abcdefABCDEF" for char in text)


def _block(
    lines: Sequence[str], line: int, folded: bool, indent: int
) -> Iterator[_Written]:
    """Yield the value of a block scalar whose content starts on line `line`.

    A literal block keeps each line break. A folded block reads a single break
    between two lines that start with text as a space, and drops it before empty
    lines, which read as line feeds. Lines that start with a space keep their breaks.
    """
    previous_text = False
    pending: list[_Written] = []
    while line < len(lines):
        text = lines[line]
        blank = len(text) <= indent and not text.strip(" ")
        if not blank and _indent(text) < indent:
            break
        if blank:
            pending.append(("\n", line, min(len(text), indent), 0))
            line += 1
            continue
        starts_with_text = text[indent] not in _SPACE
        if pending:
            first, *empty = pending
            if folded and previous_text and starts_with_text:
                pending = empty if empty else [(" ", *first[1:])]
            yield from pending
            pending = []
        for index in range(indent, len(text)):
            yield text[index], line, index, 1
        pending = [("\n", line, len(text), 0)]
        previous_text = starts_with_text
        line += 1
    yield from pending


def _read(chars: Iterator[_Written], text: str) -> list[tuple[int, int]] | None:
    """Return where each character of `text` starts and where the last one ends.

    Returns None unless `chars` yields `text`, so a scalar that this module reads
    differently from the loader gets no positions.
    """
    positions: list[tuple[int, int]] = []
    end = None
    for expected in text:
        found = next(chars, None)
        if found is None or found[0] != expected:
            return None
        _, line, column, width = found
        positions.append((line, column))
        end = (line, column + width)
    if end is None:
        return None
    positions.append(end)
    return positions


def _written_positions(
    lines: Sequence[str], line: int, column: int, text: str
) -> list[tuple[int, int]] | None:
    """Return the position of each character of the scalar `text` written at `column`."""
    column = _PROPERTIES.match(lines[line], column).end()  # type: ignore[union-attr]
    if column >= len(lines[line]) or lines[line][column] == "#":
        # The properties end the line, and the scalar starts on the next one.
        line += 1
        while line < len(lines) and not lines[line].strip(_SPACE):
            line += 1
        if line == len(lines):
            return None
        column = _leading_space(lines[line])
    written = lines[line]
    style = written[column]
    if style == "'":
        chars = _folded_lines(lines, line, column + 1, _single_quoted_line)
        return _read(chars, text)
    if style == '"':
        chars = _folded_lines(lines, line, column + 1, _double_quoted_line)
        return _read(chars, text)
    header = _BLOCK_HEADER.match(written, column)
    if header is None:
        return _read(_folded_lines(lines, line, column, _plain_line), text)
    folded = header.group(1) == ">"
    explicit = int(header.group(2) or header.group(3) or 0)
    following = itertools.islice(lines, line + 1, None)
    first = next((row for row in following if row.strip(" ")), None)
    if first is None:
        return None
    if not explicit:
        return _read(_block(lines, line + 1, folded, _indent(first)), text)
    # An indentation indicator counts from the parent node's indentation, which is
    # not recorded, so each parent indentation is tried until one reads `text`.
    for indent in range(explicit, _indent(first) + 1):
        found = _read(_block(lines, line + 1, folded, indent), text)
        if found is not None:
            return found
    return None


@functools.lru_cache(maxsize=16)
def _lines(source: str) -> tuple[str, ...]:
    """Return the lines of a manifest, kept for the next diagnostic in the same file."""
    return tuple(source.splitlines())


def _in_source(
    source: str, value_at: Location, text: str, offset: int
) -> Location | None:
    lines = _lines(source)
    index = value_at.line - 1
    if not 0 <= index < len(lines) or value_at.column > len(lines[index]):
        return None
    positions = _written_positions(lines, index, value_at.column - 1, text)
    if positions is None:
        return None
    line, column = positions[min(max(offset, 0), len(text))]
    return attrs.evolve(value_at, line=line + 1, column=column + 1)


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
