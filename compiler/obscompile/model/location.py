"""Positions in user input."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

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


# The kinds of a `BlockUse`, with the verb that a note at it uses.
USE_VERBS = {"block": "used", "function": "called", "module": "imported"}


@attrs.frozen
class BlockUse:
    """A use of a project block, or a call into a helper module, and where it is.

    `kind` is "block" for a `use:` or `dsl.use()` of the block named `block`. A
    service module's call of a helper module's function has the kind "function", and
    its import of a helper module the kind "module", with the function's or module's
    name in `block`.
    """

    block: str
    location: Location
    kind: str = "block"

    @property
    def verb(self) -> str:
        """The verb of a note at this use: used, called or imported."""
        return USE_VERBS[self.kind]

    def __str__(self) -> str:
        return f'{self.kind} "{self.block}" {self.verb} at {self.location}'


UNKNOWN = Location("<unknown>", 1, 1)


class PackedLocations(Mapping[str, Location]):
    """The positions of one model object's keys, kept as numbers until one is read.

    A build reads the cached model of every service, but only a diagnostic reads
    one of these positions. So a model object unpickles them as one tuple of keys,
    lines and columns in one file, instead of a Location object each.
    """

    __slots__ = ("_file", "_packed", "_locations")

    def __init__(self, file: str, packed: tuple[str | int, ...]) -> None:
        self._file = file
        self._packed = packed
        self._locations: dict[str, Location] | None = None

    @classmethod
    def of(cls, locations: Mapping[str, Location]) -> Mapping[str, Location]:
        """Return `locations` packed, or as they are when they are not all plain
        positions in one file."""
        if isinstance(locations, PackedLocations) or not locations:
            return locations
        files = {location.file for location in locations.values()}
        if len(files) != 1 or any(
            location.used_at is not None for location in locations.values()
        ):
            return locations
        packed = tuple(
            part
            for key, location in locations.items()
            for part in (key, location.line, location.column)
        )
        return cls(files.pop(), packed)

    def _unpacked(self) -> dict[str, Location]:
        if self._locations is None:
            parts = self._packed
            self._locations = {
                str(parts[index]): Location(
                    self._file, int(parts[index + 1]), int(parts[index + 2])
                )
                for index in range(0, len(parts), 3)
            }
        return self._locations

    def __getitem__(self, key: str) -> Location:
        return self._unpacked()[key]

    def get(self, key: str, default: Any = None) -> Any:
        """Return the position of `key`, reading only its numbers while none is unpacked.

        The project checks read one or two positions of every cached service.
        """
        if self._locations is not None:
            return self._locations.get(key, default)
        parts = self._packed
        for index in range(0, len(parts), 3):
            if parts[index] == key:
                return Location(
                    self._file, int(parts[index + 1]), int(parts[index + 2])
                )
        return default

    def __iter__(self) -> Iterator[str]:
        return iter(self._unpacked())

    def __len__(self) -> int:
        return len(self._packed) // 3

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (PackedLocations, (self._file, self._packed))


def packed_reduction(instance: Any) -> tuple[type, tuple[Any, ...]]:
    """Return what `__reduce__` returns for an attrs object with a `locations` field.

    The object is rebuilt from positional arguments, which unpickle faster than
    attrs' state, with its `locations` packed (see `PackedLocations`).
    """
    values = []
    for field in attrs.fields(type(instance)):
        value = getattr(instance, field.name)
        values.append(PackedLocations.of(value) if field.name == "locations" else value)
    return (type(instance), tuple(values))
