"""Output files whose texts are read only when a stage needs them.

A build of a thousand services reuses most files from its cache. The project emitters
read only their names, and their provenance lets the writer skip the files that `out/`
already contains, so their texts usually stay on disk. `LazyFiles` is one stored stage
result, and `FileMap` collects the files of a build from plain and lazy parts.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from obscompile.load.input_file import CACHE_FILE, read_input_bytes
from obscompile.seal import unseal


class TextStore:
    """The texts of one cache entry's emitter stages, read from disk once.

    The file contains a pickled dict: stage slot -> (extra key, {path: text}),
    sealed with `key` (see `obscompile.seal`).
    """

    __slots__ = ("_data", "key", "path")

    def __init__(self, path: str | Path, key: bytes) -> None:
        self.path = path
        self.key = key
        self._data: dict[str, Any] | None = None

    def get(self, slot: str, extra: str) -> dict[str, str] | None:
        """Return the files stored for `slot` under `extra`, or None."""
        if self._data is None:
            try:
                opened = unseal(read_input_bytes(self.path, CACHE_FILE), self.key)
                data = pickle.loads(opened) if opened is not None else {}
            except Exception:  # a missing or damaged file is recomputed
                data = {}
            self._data = data if isinstance(data, dict) else {}
        stored = self._data.get(slot)
        if not isinstance(stored, tuple) or len(stored) != 2 or stored[0] != extra:
            return None
        files = stored[1]
        return files if isinstance(files, dict) else None


class LazyFiles(Mapping[str, str]):
    """The files of one stored emitter result: names known, texts read when needed.

    `bind` gives the store of the entry the result was loaded from, and `fallback`
    computes the files again if the store no longer contains them.
    """

    __slots__ = ("_files", "extra", "fallback", "names", "slot", "store")

    def __init__(self, names: Iterable[str], slot: str, extra: str) -> None:
        self.names = tuple(names)
        self.slot = slot
        self.extra = extra
        self.store: TextStore | None = None
        self.fallback: Callable[[], Mapping[str, str]] | None = None
        self._files: Mapping[str, str] | None = None

    def files(self) -> Mapping[str, str]:
        if self._files is None:
            found = (
                None if self.store is None else self.store.get(self.slot, self.extra)
            )
            if found is None or sorted(found) != sorted(self.names):
                if self.fallback is None:
                    raise LookupError(f"the texts of stage {self.slot} are gone")
                found = dict(self.fallback())
            self._files = found
        return self._files

    def loaded(self) -> bool:
        return self._files is not None

    def __getitem__(self, name: str) -> str:
        if name not in self.names:
            raise KeyError(name)
        return self.files()[name]

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return f"LazyFiles({self.names!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (LazyFiles, (self.names, self.slot, self.extra))


class FileMap(Mapping[str, str]):
    """Files by path, gathered from the results of several emitters.

    Adding a result does not read its texts; looking a file up does. `tokens` maps
    a path to a digest of the inputs its text was computed from, for the files that
    have one (see `obscompile.cache.BuildCache.token`).
    """

    __slots__ = ("_sources", "tokens")

    def __init__(self, files: Mapping[str, str] | None = None) -> None:
        self._sources: dict[str, Mapping[str, str]] = {}
        self.tokens: dict[str, str] = {}
        if files is not None:
            self.add(files)

    def add(self, files: Mapping[str, str], token: str | None = None) -> None:
        for name in files:
            self._sources[name] = files
            if token is None:
                self.tokens.pop(name, None)
            else:
                self.tokens[name] = token

    def sorted(self) -> FileMap:
        """Return a copy in the order of the paths."""
        copy = FileMap()
        copy._sources = dict(sorted(self._sources.items()))
        copy.tokens = {n: self.tokens[n] for n in copy._sources if n in self.tokens}
        return copy

    def copy(self) -> FileMap:
        copy = FileMap()
        copy._sources = dict(self._sources)
        copy.tokens = dict(self.tokens)
        return copy

    def __getitem__(self, name: str) -> str:
        return self._sources[name][name]

    def __contains__(self, name: object) -> bool:
        return name in self._sources

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)

    def __repr__(self) -> str:
        return f"FileMap({list(self._sources)!r})"
