"""Positions in user input."""

from __future__ import annotations

import attrs


@attrs.frozen(order=True)
class Location:
    """A 1-based line and column in a source file."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def __reduce__(self) -> tuple[type[Location], tuple[str, int, int]]:
        # Positional arguments unpickle faster than attrs' state, and a cached
        # build unpickles tens of thousands of locations.
        return (Location, (self.file, self.line, self.column))

    def shifted(self, columns: int) -> Location:
        """Return the location `columns` characters further along the same line."""
        return attrs.evolve(self, column=self.column + columns)


UNKNOWN = Location("<unknown>", 1, 1)
