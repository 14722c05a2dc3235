"""Check the series and sample values of a promtool test file as promtool 2.42 reads them.

promtool loads each input series as one line, `<series> <values>`, with the series
description grammar of Prometheus 2.42's PromQL parser, and reads the `labels` of an
expected sample with the same parser's metric grammar. It reports a mistake in either
with a position in that line or string but not in the test file. These checks follow
the same grammar and return the offset of the first mistake in the field's text, so
that the error can point into the string.

A series or labels text is an optional metric name, then an optional
`{name="value", ...}` with only `=` matchers. A metric name has letters, digits, `_`
and `:`, does not start with a digit, and is none of the words that the lexer reads
as a number or keyword there. A values text is items separated by blanks. Each item
is `_`, `_xN`, a value, `<value>xN`, `<value>+<step>xN` or `<value>-<step>xN`. A value
is a number, `stale` or a signed number, and N is a whole number of repetitions.
"""

from __future__ import annotations

import math
import re
import string

import attrs

from obscompile.diagnostics import shorten

# Words that the 2.42 lexer reads as a keyword or number where a metric name may be,
# which the metric grammar then rejects, in lower case as the lexer compares them.
_RESERVED_NAMES = frozenset(
    {"atan2", "on", "ignoring", "group_left", "group_right", "bool", "inf", "nan"}
)
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# The blanks that the PromQL lexer skips or reads as a separator.
_BLANKS = " \t\r\n"
# A number as the lexer scans it in a series: digits, a fraction and an exponent,
# without the hexadecimal form, whose "x" would read as a repetition.
_NUMBER = re.compile(r"[0-9]*(\.[0-9]*)?([eE][-+]?[0-9]*)?")
_UINT64_MAX = 2**64 - 1
_UINT64_DIGITS = len(str(_UINT64_MAX))
_SIMPLE_ESCAPES = frozenset("abfnrtv\\")
_OCTAL_DIGITS = frozenset("01234567")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_DIGITS = frozenset("0123456789")
_WORD_CHARACTERS = frozenset(string.ascii_letters + "_:")
# Hexadecimal escapes: the letter, the number of digits and the largest value.
_HEX_ESCAPES = {"x": (2, 0xFF), "u": (4, 0x10FFFF), "U": (8, 0x10FFFF)}


@attrs.frozen
class NotationProblem:
    """The first mistake in a field, at character `offset` of its text."""

    offset: int
    message: str


@attrs.frozen
class ValuesItem:
    """One item of the expanding notation of `values`, such as `0+1x10` or `_`."""

    # The offset of the item in the text, and the offset of its repetition count, if
    # it has one.
    offset: int
    count_offset: int | None
    # The samples that promtool 2.42 loads for the item, one per interval: N for
    # `_xN`, N + 1 for `<value>xN` and `<value>+<step>xN`, and 1 otherwise. A missing
    # sample (`_`) counts too, because promtool allocates memory for it.
    samples: int
    # "missing" for `_`, "stale" for `stale`, and "value" for a number.
    kind: str


class _Invalid(Exception):
    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.offset = offset
        self.message = message


def series_problem(text: str) -> NotationProblem | None:
    """Return the first mistake in the `series` of an input series, or None.

    promtool reads the text after the metric name and labels as sample values, so
    anything there is an error here: sample values belong in `values`.
    """
    try:
        _reject_line_break(text)
        if not text.strip(_BLANKS):
            raise _Invalid(0, "is empty; write a metric name, labels or both")
        position = _skip_blanks(text, 0)
        end, names = _metric(text, position, blanks_before_labels=False)
        rest = _skip_blanks(text, end)
        if end < rest < len(text) and text[rest] == "{":
            raise _Invalid(
                end, 'has a blank between the metric name and its "{"; remove it'
            )
        if rest < len(text) and (text[rest] in "([" or "=" in text[rest:]):
            # Labels written without braces, such as x:job=a or x(job="a").
            raise _Invalid(
                rest,
                f"has {_shown(text, rest)} after the series; write labels in braces, "
                'such as up{job="api"}, and sample values in values',
            )
        if rest < len(text):
            raise _Invalid(
                rest,
                f"has {_shown(text, rest)} after the series; write sample values in "
                "values",
            )
        if not names:
            raise _Invalid(0, "has no metric name and no labels, so it names no series")
        _reject_repeated_labels(names)
    except _Invalid as exc:
        return NotationProblem(exc.offset, exc.message)
    return None


def labels_problem(text: str) -> NotationProblem | None:
    """Return the first mistake in the `labels` of an expected sample, or None."""
    try:
        position = _skip_blanks(text, 0)
        end, _ = _metric(text, position, blanks_before_labels=True)
        rest = _skip_blanks(text, end)
        if rest < len(text):
            raise _Invalid(rest, f"has {_shown(text, rest)} after the labels")
    except _Invalid as exc:
        return NotationProblem(exc.offset, exc.message)
    return None


def values_problem(text: str) -> NotationProblem | None:
    """Return the first mistake in the expanding notation of `values`, or None."""
    try:
        _check_values(text)
    except _Invalid as exc:
        return NotationProblem(exc.offset, exc.message)
    return None


def values_items(text: str) -> list[ValuesItem]:
    """Return the items of a `values` text for which values_problem returns None."""
    items: list[ValuesItem] = []
    _check_values(text, items)
    return items


def _reject_line_break(text: str) -> None:
    """Reject a line break, because promtool reads each input series as one line."""
    for index, character in enumerate(text):
        if character in "\r\n":
            raise _Invalid(
                index,
                "contains a line break, which ends the line that promtool loads the "
                "series from; keep it on one line",
            )


def _skip_blanks(text: str, position: int) -> int:
    while position < len(text) and text[position] in _BLANKS:
        position += 1
    return position


def _shown(text: str, position: int) -> str:
    """Describe the character at `position` of `text` for a message."""
    if position >= len(text):
        return "the end of the text"
    return f"{text[position]!r}"


def _metric(
    text: str, position: int, *, blanks_before_labels: bool
) -> tuple[int, list[tuple[int, str]]]:
    """Read an optional metric name and label set from `position`.

    Return the offset after them, and the offset and name of every label, with the
    metric name as `__name__` at offset -1.
    """
    names: list[tuple[int, str]] = []
    match = _METRIC_NAME.match(text, position)
    if match is not None:
        name = match.group()
        if name.lower() in _RESERVED_NAMES:
            raise _Invalid(
                position,
                f'uses "{name}" as a metric name, which the PromQL parser reads as a '
                'keyword or number; write it as {__name__="' + name + '"}',
            )
        # The metric name is not a label of the braces: see _reject_repeated_labels.
        names.append((-1, "__name__"))
        position = match.end()
    elif position < len(text) and text[position] in _DIGITS:
        raise _Invalid(position, "has a metric name that starts with a digit")
    elif position < len(text) and text[position] not in "{" + _BLANKS:
        raise _Invalid(
            position, f"has {_shown(text, position)}, which no metric name contains"
        )
    after_name = position
    if blanks_before_labels:
        position = _skip_blanks(text, position)
    if position < len(text) and text[position] == "{":
        return _label_set(text, position, names)
    return after_name, names


def _label_set(
    text: str, position: int, names: list[tuple[int, str]]
) -> tuple[int, list[tuple[int, str]]]:
    """Read `{name="value", ...}` from the `{` at `position`."""
    position += 1
    expect_label = True
    while True:
        position = _skip_blanks(text, position)
        if position >= len(text):
            raise _Invalid(len(text), 'is missing the "}" that closes its labels')
        character = text[position]
        if character == "}":
            return position + 1, names
        if not expect_label:
            raise _Invalid(
                position,
                f"has {_shown(text, position)} after a label; separate labels with "
                '"," and close them with "}"',
            )
        match = _LABEL_NAME.match(text, position)
        if match is None:
            raise _Invalid(
                position,
                f"has {_shown(text, position)} where a label name should start",
            )
        names.append((position, match.group()))
        position = _skip_blanks(text, match.end())
        if text.startswith(("!=", "=~", "!~"), position):
            raise _Invalid(
                position,
                f'has the matcher "{text[position : position + 2]}"; a series takes '
                'only "=" between a label and its value',
            )
        if position >= len(text) or text[position] != "=":
            raise _Invalid(
                position,
                f'has {_shown(text, position)} after label {match.group()}, where "=" '
                "should follow",
            )
        position = _skip_blanks(text, position + 1)
        position = _string(text, position, match.group())
        position = _skip_blanks(text, position)
        if position < len(text) and text[position] == ",":
            position += 1
        else:
            expect_label = False


def _string(text: str, position: int, label: str) -> int:
    """Read a quoted label value from `position`; return the offset after it."""
    if position >= len(text) or text[position] not in "\"'`":
        raise _Invalid(
            position,
            f"has {_shown(text, position)} where the quoted value of label {label} "
            "should start",
        )
    quote = text[position]
    start = position
    position += 1
    while position < len(text):
        character = text[position]
        if character == quote:
            return position + 1
        if character == "\n" and quote != "`":
            break
        if character == "\\" and quote != "`":
            position = _escape(text, position, quote)
            continue
        position += 1
    raise _Invalid(start, f"has a value of label {label} without its closing {quote}")


def _escape(text: str, position: int, quote: str) -> int:
    """Check the escape sequence at the backslash at `position`; return what follows.

    The sequences are those of Go string literals, as the PromQL lexer reads them.
    """
    if position + 1 >= len(text):
        raise _Invalid(position, "ends in an unfinished escape sequence")
    letter = text[position + 1]
    if letter in _SIMPLE_ESCAPES or letter == quote:
        return position + 2
    if letter in _OCTAL_DIGITS:
        start, count, allowed, base, largest = position + 1, 3, _OCTAL_DIGITS, 8, 0xFF
    elif letter in _HEX_ESCAPES:
        count, largest = _HEX_ESCAPES[letter]
        start, allowed, base = position + 2, _HEX_DIGITS, 16
    else:
        raise _Invalid(
            position,
            f"has the unknown escape sequence \\{letter}; write \\\\ for a backslash",
        )
    digits = text[start : start + count]
    if len(digits) < count or any(digit not in allowed for digit in digits):
        raise _Invalid(
            position,
            f"has the escape sequence \\{text[position + 1 : start + count]}, which "
            f"needs {count} digits in base {base}",
        )
    value = int(digits, base)
    if value > largest or 0xD800 <= value < 0xE000:
        raise _Invalid(
            position, "has an escape sequence that is not a valid Unicode code point"
        )
    return start + count


def _reject_repeated_labels(names: list[tuple[int, str]]) -> None:
    """Reject a label name that the braces give twice.

    promtool 2.42 accepts a `__name__` label next to a metric name, so the metric
    name does not count here.
    """
    seen: set[str] = set()
    for offset, name in names:
        if offset < 0:
            continue
        if name in seen:
            raise _Invalid(offset, f"has label {name} twice")
        seen.add(name)


def _check_values(text: str, items: list[ValuesItem] | None = None) -> None:
    """Raise _Invalid at the first mistake in `text`, and add each item to `items`."""
    _reject_line_break(text)
    position = 0
    while True:
        start = position
        position = _skip_blanks(text, position)
        if position >= len(text):
            return
        if position == start and position > 0:
            raise _Invalid(
                position,
                f"has {_shown(text, position)} right after a value; separate values "
                "with a blank",
            )
        item = _item(text, position)
        position = item.end
        if items is not None:
            items.append(item.item)


@attrs.frozen
class _ReadItem:
    item: ValuesItem
    end: int


def _item(text: str, position: int) -> _ReadItem:
    """Read one item of the expanding notation, and the offset after it."""
    start = position
    if text[position] == "_":
        position += 1
        if position < len(text) and text[position] == "x":
            end = _repetitions(text, position + 1)
            count = _count(text[position + 1 : end])
            return _ReadItem(ValuesItem(start, position + 1, count, "missing"), end)
        return _ReadItem(ValuesItem(start, None, 1, "missing"), position)
    position = _value(text, position, signed=True)
    kind = "stale" if text[start:position] == "stale" else "value"
    if position < len(text) and text[position] in "+-":
        position = _value(text, position, signed=True, step=True)
        if position >= len(text) or text[position] != "x":
            raise _Invalid(
                position,
                "has a step without its repetitions; write them after x, as in "
                "'0+1x10'",
            )
    if position < len(text) and text[position] == "x":
        end = _repetitions(text, position + 1)
        count = _count(text[position + 1 : end])
        return _ReadItem(ValuesItem(start, position + 1, count + 1, kind), end)
    return _ReadItem(ValuesItem(start, None, 1, kind), position)


def _count(digits: str) -> int:
    """Return a repetition count that _repetitions accepted, with any leading zeros."""
    return int(digits.lstrip("0") or "0")


def _value(text: str, position: int, *, signed: bool, step: bool = False) -> int:
    """Read a number or `stale`, with an optional sign; return the offset after it."""
    start = position
    if signed and text[position] in "+-":
        position += 1

    if position < len(text) and _is_letter(text[position]):
        end = position
        while end < len(text) and (_is_letter(text[end]) or text[end] in _DIGITS):
            end += 1
        word = text[position:end]
        if word.lower() in ("inf", "nan") or (word == "stale" and start == position):
            return end
        if step and word == "stale":
            raise _Invalid(start, "has stale as a step; a step is a number")
        message = (
            f'has "{shorten(text[start:end])}", which is not a number, "_" or "stale"'
        )
        if word.startswith("x"):
            message += "; write the repetitions right after the value, as in '1x5'"
        raise _Invalid(start, message)
    if position >= len(text) or not (
        text[position] in _DIGITS
        or (text[position] == "." and text[position + 1 : position + 2] in _DIGITS)
    ):
        raise _Invalid(
            position,
            f'has {_shown(text, position)} where a number, "_" or "stale" should be',
        )

    match = _NUMBER.match(text, position)
    assert match is not None
    end = match.end()
    following = text[end : end + 1]
    if (
        following
        and following != "x"
        and (_is_letter(following) or following in _DIGITS)
    ):
        raise _Invalid(
            position,
            f'has "{shorten(text[position : end + 1])}", which is not a number',
        )
    number = match.group()
    try:
        parsed = float(number)
    except ValueError:
        raise _Invalid(
            position, f'has "{shorten(number)}", which is not a number'
        ) from None
    if math.isinf(parsed):
        raise _Invalid(
            position,
            f"has {shorten(number)}, beyond the largest number that a double holds",
        )
    return end


def _is_letter(character: str) -> bool:
    """Return whether the PromQL lexer reads `character` as part of a word."""
    return character in _WORD_CHARACTERS


def _repetitions(text: str, position: int) -> int:
    """Read the whole number after an x; return the offset after it."""
    match = _NUMBER.match(text, position)
    assert match is not None
    count = match.group()
    end = match.end()
    following = text[end : end + 1]
    if not count or any(digit not in _DIGITS for digit in count):
        shown = count or (following and repr(following)) or "the end of the text"
        raise _Invalid(
            position,
            f"has {shorten(shown)} after x, where a whole number of repetitions "
            "should be",
        )
    if following and following not in " \t":
        raise _Invalid(
            end,
            f"has {_shown(text, end)} right after {count} repetitions; separate "
            "values with a blank",
        )
    # int() raises ValueError beyond 4300 digits, and a count of more digits than
    # _UINT64_MAX is larger anyway.
    digits = count.lstrip("0") or "0"
    if len(digits) > _UINT64_DIGITS or int(digits) > _UINT64_MAX:
        raise _Invalid(
            position,
            f"repeats a value {shorten(count)} times, more than promtool can count",
        )
    return end
