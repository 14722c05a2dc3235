"""Positions in user input."""

from __future__ import annotations

import attrs


@attrs.frozen(order=True)
class Location:
    """A 1-based line and column in a source file.

    `used_at` is set on a position inside a project block's code: it is the use of the
    block whose call ran that code, so a finding there can name where the block is used.
    """

    file: str
    line: int
    column: int
    used_at: BlockUse | None = attrs.field(default=None, order=False)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def __reduce__(
        self,
    ) -> tuple[type[Location], tuple[str, int, int, BlockUse | None]]:
        # Positional arguments unpickle faster than attrs' state, and a cached
        # build unpickles tens of thousands of locations.
        return (Location, (self.file, self.line, self.column, self.used_at))

    def shifted(self, columns: int) -> Location:
        """Return the location `columns` characters further along the same line."""
        return attrs.evolve(self, column=self.column + columns)

    def uses(self) -> list[BlockUse]:
        """Return the block uses that led to this position, the innermost first."""
        found = []
        use = self.used_at
        while use is not None:
            found.append(use)
            use = use.location.used_at
        return found


@attrs.frozen
class BlockUse:
    """A use of a project block: its name and where the `use:` or `dsl.use()` is."""

    block: str
    location: Location

    def __str__(self) -> str:
        return f'block "{self.block}" used at {self.location}'


UNKNOWN = Location("<unknown>", 1, 1)
