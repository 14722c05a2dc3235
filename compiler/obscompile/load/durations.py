"""Prometheus durations: their grammar, their length, and the longest one Prometheus accepts."""

from __future__ import annotations

import re
from datetime import timedelta

from obscompile.load.patterns import END

# The grammar of Prometheus' model.ParseDuration (prometheus/common, model/time.go):
# units in descending order, each at most once, or a bare 0, and never empty.
DURATION_PATTERN = (
    r"^(0|(?=[0-9])([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?"
    r"([0-9]+ms)?)" + END
)
_DURATION = re.compile(DURATION_PATTERN)
_DURATION_PARTS = re.compile(r"([0-9]+)(ms|y|w|d|h|m|s)")
_UNIT_MS = {
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
    "y": 31_536_000_000,
}

# Prometheus keeps a duration as Go's time.Duration, a signed 64-bit count of
# nanoseconds, and rejects a longer one as "duration out of range". promtool 2.42
# reads 106751d23h47m16s854ms (about 292 years) and rejects a millisecond more.
MAX_DURATION_MS = (2**63 - 1) // 1_000_000
NOT_A_DURATION = "not a Prometheus duration"
TOO_LONG = "longer than Prometheus accepts (about 292 years, 106751d23h47m16s854ms)"


# A count of more digits than this is longer than MAX_DURATION_MS in any unit.
_MAX_COUNT_DIGITS = len(str(MAX_DURATION_MS))


def duration_ms(text: str) -> int:
    """Return a duration that matches DURATION_PATTERN in milliseconds.

    A count of more than _MAX_COUNT_DIGITS digits counts as 10**_MAX_COUNT_DIGITS,
    so such a duration is longer than MAX_DURATION_MS but not exact. Python's int()
    rejects a text of more than 4300 digits (sys.get_int_max_str_digits()).
    """
    total = 0
    for count, unit in _DURATION_PARTS.findall(text):
        digits = count.lstrip("0")
        number = (
            10**_MAX_COUNT_DIGITS
            if len(digits) > _MAX_COUNT_DIGITS
            else int(digits or "0")
        )
        total += number * _UNIT_MS[unit]
    return total


def too_long(text: str) -> bool:
    """Return True when Prometheus rejects the duration `text` as out of range."""
    return duration_ms(text) > MAX_DURATION_MS


def duration_problem(text: str) -> str | None:
    """Return why Prometheus rejects the duration `text`, or None when it reads it.

    The reason is NOT_A_DURATION for text outside the grammar, and TOO_LONG for a
    duration beyond the longest one Prometheus keeps.
    """
    if not _DURATION.match(text):
        return NOT_A_DURATION
    if too_long(text):
        return TOO_LONG
    return None


def positive_duration(text: str) -> timedelta | None:
    """Return the duration `text`, or None when it is 0 or Prometheus rejects it.

    promql-parser's parse_duration rejects a count of 2**32 or more, such as
    4294967296ms, which Prometheus reads.
    """
    if duration_problem(text) is not None:
        return None
    ms = duration_ms(text)
    return timedelta(milliseconds=ms) if ms else None
