"""Write the common YAML scalars and block layouts without ruamel.yaml's emitter.

Dumping a scalar through ruamel.yaml costs tens of microseconds, and a build of a
thousand services writes millions of them. The functions here write the common cases
directly: a single-line printable ASCII string that ruamel.yaml writes plain or in
single quotes, an int, a bool, and block-style mappings and sequences of those. They
return None for anything else, and the caller falls back to ruamel.yaml. Where they
return text, it is the text ruamel.yaml writes (tests/test_yaml_fast.py compares the
two on every scalar of the built artifacts and on generated values).
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable
from typing import Any

# Single-line printable ASCII.
_PRINTABLE = re.compile(r"[ -~]*\Z")
# First characters of strings that may be written plain. Strings that start with any
# other character (YAML indicators, `-`, `?`, `:`, a space) go to ruamel.yaml.
_PLAIN_FIRST = frozenset(string.ascii_letters + string.digits + "_(/.$")
# First characters that rule a plain scalar out: the YAML indicators and a space.
_NOT_PLAIN_FIRST = frozenset("#,[]{}&*!|>'\"%@` ")


# Characters that a YAML file can contain only as escapes in double quotes: those
# outside YAML's printable set, and the byte order mark. So are the line breaks of
# YAML 1.1 other than `\n` (carriage return, NEL, line and paragraph separators),
# because a reader folds or normalizes them in a block or single-quoted scalar.
# ruamel.yaml's emitter writes several of them unescaped (seen with 0.19.1).
_NEEDS_ESCAPES = re.compile(
    "[^\t\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd"
    "\U00010000-\U0010ffff]"
)


# Text that a YAML block scalar cannot hold unchanged: tabs, trailing blanks on a
# line, or leading blanks on the first line.
_NOT_LITERAL = re.compile(r"\t|[ \t]\n|[ \t]$|^[ \t]")


def literal_allowed(text: str) -> bool:
    """Return True when multi-line `text` may be written as a literal block scalar."""
    return _NOT_LITERAL.search(text) is None and not needs_escapes(text)


def needs_escapes(text: str) -> bool:
    """Return True when `text` can be written only in double quotes with escapes."""
    return _NEEDS_ESCAPES.search(text) is not None


def plain_allowed(text: str) -> bool:
    """Return True when ruamel.yaml's emitter may write `text` plain in block context.

    The test is stricter than the emitter's, so False means "fall back to ruamel.yaml".
    """
    return (
        bool(text)
        and text[0] in _PLAIN_FIRST
        and _PRINTABLE.match(text) is not None
        and text[-1] not in " :"
        and ": " not in text
        and " #" not in text
        and not text.startswith(("---", "..."))
    )


def plain_impossible(text: str) -> bool:
    """Return True when the emitter cannot write single-line ASCII `text` plain."""
    return (
        not text
        or text[0] in _NOT_PLAIN_FIRST
        or text[-1] in " :"
        or ": " in text
        or " #" in text
        or text.startswith(("---", "..."))
    )


def single_quoted(text: str) -> str:
    return "'" + text + "'"


@functools.lru_cache(maxsize=16384)
def string_scalar(text: str, reads_as_string: Callable[[str], bool]) -> str | None:
    """Return `text` as ruamel.yaml writes a string without a style, or None.

    `reads_as_string(text)` returns whether the plain text reads back as that string.
    When it does not, the string gets single quotes. A string that contains a single
    quote goes to ruamel.yaml, which may choose double quotes for it. The rule and
    test files of a build repeat most of their strings, so each result is kept.
    """
    if _PRINTABLE.match(text) is None:
        return None
    if plain_allowed(text):
        if reads_as_string(text):
            return text
        return single_quoted(text) if "'" not in text else None
    if plain_impossible(text) and "'" not in text:
        return single_quoted(text)
    return None


def literal_block(text: str, indent: int) -> str | None:
    """Return multi-line `text` as a `|-` block with lines indented by `indent`.

    This covers only text that ruamel.yaml writes the same way: printable ASCII
    lines, none empty, none starting or ending with a blank, and no line break at the
    end. Other text returns None.
    """
    lines = text.split("\n")
    pad = " " * indent
    for line in lines:
        if (
            not line
            or line[0] == " "
            or line[-1] == " "
            or _PRINTABLE.match(line) is None
        ):
            return None
    return "|-\n" + "\n".join(pad + line for line in lines)


_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")


def block_document(
    data: dict[str, Any], scalar: Callable[[Any], str | None]
) -> str | None:
    """Return a mapping in block style, mappings indented by 2, sequences by 4, offset 2.

    This is the layout of ruamel.yaml's `YAML(typ="rt")` with
    `indent(mapping=2, sequence=4, offset=2)`. `scalar` writes one single-line
    scalar or returns None. Returns None when any part is outside what this handles.
    """
    lines: list[str] = []
    if not data or not _mapping(data, 0, lines, scalar, first_prefix=None):
        return None
    return "\n".join(lines) + "\n"


def _value(
    key_text: str,
    value: Any,
    column: int,
    lines: list[str],
    scalar: Callable[[Any], str | None],
) -> bool:
    """Append `key: value`, whose key starts at `column` (`key_text` includes the indent)."""
    if isinstance(value, dict):
        if not value:
            lines.append(f"{key_text}: {{}}")
            return True
        lines.append(f"{key_text}:")
        return _mapping(value, column + 2, lines, scalar, first_prefix=None)
    if isinstance(value, list):
        if not value:
            lines.append(f"{key_text}: []")
            return True
        lines.append(f"{key_text}:")
        return _sequence(value, column + 2, lines, scalar)
    if isinstance(value, str) and "\n" in value:
        block = literal_block(value, column + 2)
        if block is None:
            return False
        lines.append(f"{key_text}: {block}")
        return True
    text = scalar(value)
    if text is None:
        return False
    lines.append(f"{key_text}: {text}")
    return True


def _mapping(
    data: dict[str, Any],
    column: int,
    lines: list[str],
    scalar: Callable[[Any], str | None],
    first_prefix: str | None,
) -> bool:
    pad = " " * column
    for number, (key, value) in enumerate(data.items()):
        if not isinstance(key, str) or _KEY.match(key) is None:
            return False
        key_scalar = scalar(key)
        if key_scalar != key:
            return False
        prefix = first_prefix if number == 0 and first_prefix is not None else pad
        if not _value(prefix + key, value, column, lines, scalar):
            return False
    return True


def _sequence(
    items: list[Any],
    column: int,
    lines: list[str],
    scalar: Callable[[Any], str | None],
) -> bool:
    dash = " " * column + "- "
    for item in items:
        if isinstance(item, dict) and item:
            if not _mapping(item, column + 2, lines, scalar, first_prefix=dash):
                return False
            continue
        if isinstance(item, dict | list) or (isinstance(item, str) and "\n" in item):
            return False
        text = scalar(item)
        if text is None:
            return False
        lines.append(dash + text)
    return True
