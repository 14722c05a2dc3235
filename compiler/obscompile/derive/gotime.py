"""Go's `time.Time`, as Prometheus 2.42's `toTime` gives it to alert templates.

`toTime` reads Unix seconds, truncates them to the millisecond (`model.Time`) and
returns a `*time.Time` in UTC. A template prints it with its `String` method and may
call its methods, such as `Format`. `format` follows `Time.Format` of Go 1.19, whose
layout names each element by how it writes the reference time, Mon Jan 2 15:04:05
MST 2006: `2006-01-02` writes the year, month and day. Every time here is in UTC, so
the zone is `UTC` and its offset `+0000`, or `Z` in the ISO 8601 forms.
"""

from __future__ import annotations

import datetime

import attrs

from obscompile.derive.gofmt import Stringer

MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December",
)  # fmt: skip
# Go's time.Weekday counts from Sunday.
WEEKDAYS = (
    "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
)  # fmt: skip
# The layout of Go's `Time.String`, without the monotonic clock that no time here has.
STRING_LAYOUT = "2006-01-02 15:04:05.999999999 -0700 MST"
_EPOCH = datetime.datetime(1970, 1, 1)


@attrs.frozen
class GoTime(Stringer):
    """A UTC time to the millisecond: `*time.Time` from `toTime`, or `time.Time`.

    `pointer` is False for the `time.Time` value that the `UTC` method returns.
    """

    milliseconds: int
    pointer: bool = True

    @property
    def type_name(self) -> str:
        return "*time.Time" if self.pointer else "time.Time"

    @property
    def moment(self) -> datetime.datetime:
        return _EPOCH + datetime.timedelta(milliseconds=self.milliseconds)

    @property
    def nanosecond(self) -> int:
        return self.moment.microsecond * 1000

    @property
    def weekday(self) -> int:
        """Return the day of the week as Go numbers it, from 0 for Sunday."""
        return (self.moment.weekday() + 1) % 7

    def text(self) -> str:
        return self.format(STRING_LAYOUT)

    def format(self, layout: str) -> str:
        """Write the time as Go's `Time.Format` writes it for `layout`."""
        pieces = []
        while layout:
            prefix, element, layout = _next_element(layout)
            pieces.append(prefix)
            if element:
                pieces.append(self._element(element))
        return "".join(pieces)

    def _element(self, element: str) -> str:
        moment = self.moment
        hour12 = moment.hour % 12 or 12
        values = {
            "2006": f"{moment.year:04d}",
            "06": f"{moment.year % 100:02d}",
            "January": MONTHS[moment.month - 1],
            "Jan": MONTHS[moment.month - 1][:3],
            "1": str(moment.month),
            "01": f"{moment.month:02d}",
            "Monday": WEEKDAYS[self.weekday],
            "Mon": WEEKDAYS[self.weekday][:3],
            "2": str(moment.day),
            "_2": f"{moment.day:2d}",
            "02": f"{moment.day:02d}",
            "__2": f"{moment.timetuple().tm_yday:3d}",
            "002": f"{moment.timetuple().tm_yday:03d}",
            "15": f"{moment.hour:02d}",
            "3": str(hour12),
            "03": f"{hour12:02d}",
            "4": str(moment.minute),
            "04": f"{moment.minute:02d}",
            "5": str(moment.second),
            "05": f"{moment.second:02d}",
            "PM": "PM" if moment.hour >= 12 else "AM",
            "pm": "pm" if moment.hour >= 12 else "am",
            "MST": "UTC",
        }
        if element in values:
            return values[element]
        if element in _ZONES:
            return _ZONES[element]
        return self._fraction(element)

    def _fraction(self, element: str) -> str:
        """Write fractional seconds for `.000` or `,999` and the like.

        A run of 0s writes that many digits. A run of 9s writes up to that many, without
        trailing zeros, and nothing for a whole second. Go writes at most 9 digits, and
        keeps the length of the run in 12 bits, so a run of 4096 counts as none.
        """
        separator, digit = element[0], element[1]
        count = (len(element) - 1) & 0xFFF
        digits = f"{self.nanosecond:09d}"[: min(count, 9)]
        if digit == "9":
            digits = digits.rstrip("0")
            if not digits:
                return ""
        return separator + digits


# The zone offset elements, each as it writes UTC: the ISO 8601 forms, which start
# with Z, write Z for a zero offset.
_ZONES = {
    "Z070000": "Z", "Z07:00:00": "Z", "Z0700": "Z", "Z07:00": "Z", "Z07": "Z",
    "-070000": "+000000", "-07:00:00": "+00:00:00", "-0700": "+0000",
    "-07:00": "+00:00", "-07": "+00",
}  # fmt: skip


def _is_digit(text: str, index: int) -> bool:
    return index < len(text) and "0" <= text[index] <= "9"


def _next_element(layout: str) -> tuple[str, str, str]:
    """Split `layout` at its first element, as Go's `nextStdChunk` reads it.

    Return the text before the element, the element as it is written in the layout
    (empty where none is left), and the rest of the layout.
    """
    for index in range(len(layout)):
        rest = layout[index:]
        found = _element_at(rest)
        if found is None:
            continue
        element, skipped = found
        return layout[: index + skipped], element, rest[skipped + len(element) :]
    return layout, "", ""


def _element_at(text: str) -> tuple[str, int] | None:
    """Return the element at the start of `text`, and the literal characters before it.

    Only `_2006` has such a character: Go reads it as `_` and the year.
    """
    first = text[0]
    # Go reads "Jan" and "Mon" as elements only where no a to z follows them.
    lower_after = "a" <= text[3:4] <= "z"
    if first == "J" and text.startswith("Jan"):
        if text.startswith("January"):
            return "January", 0
        if not lower_after:
            return "Jan", 0
    if first == "M":
        if text.startswith("Mon"):
            if text.startswith("Monday"):
                return "Monday", 0
            if not lower_after:
                return "Mon", 0
        if text.startswith("MST"):
            return "MST", 0
    if first == "0":
        if len(text) >= 2 and "1" <= text[1] <= "6":
            return text[:2], 0
        if text.startswith("002"):
            return "002", 0
    if first == "1":
        return ("15", 0) if text.startswith("15") else ("1", 0)
    if first == "2":
        return ("2006", 0) if text.startswith("2006") else ("2", 0)
    if first == "_":
        if text.startswith("_2006"):
            return "2006", 1
        if text.startswith("_2"):
            return "_2", 0
        if text.startswith("__2"):
            return "__2", 0
    if first in "345":
        return first, 0
    if text.startswith(("PM", "pm")):
        return text[:2], 0
    if first in "-Z":
        for zone in _ZONES:
            if text.startswith(zone):
                return zone, 0
    if first in ".," and text[1:2] in ("0", "9"):
        end = 1
        while end < len(text) and text[end] == text[1]:
            end += 1
        # The run of digits is a fraction only where no other digit follows it.
        if not _is_digit(text, end):
            return text[:end], 0
    return None
