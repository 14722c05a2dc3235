"""Reuse the work of earlier builds for the manifests that did not change.

`obscompile build` keeps its cache in `<project>/.obscompile-cache/`. Every YAML
manifest gets an entry keyed by the sha256 of the manifest's bytes and display name,
the compiler (its version, the bytes of its modules and the installed dependencies),
the template folders, the project's `blocks/` folder and `obscompile.yaml`. The entry
stores what the build derived from that manifest: the loaded service, the loader's
diagnostics, the diagnostics of the checks that run per service or per panel, and the
files of every per-service emitter. Project checks and project emitters (Prometheus
configuration, Terraform, Grafana provisioning, the rule wrappers) run on every
service in every build.

When every input matches the previous successful build and every file that build
wrote is unchanged in the output folder (same size, mtime, ctime and inode), the
build replays that build's diagnostics and summary without loading any manifest.
It moves the files that programs wrote into the spare folder since, as a write
would (see `BuildCache.restore_from_spare`).
The replay's key leaves out the working folder and the path that names the project
folder, so a build through a link, or from another folder, replays too. Its
diagnostics then name the files as this build does (see `BuildCache.replay`).

The cache is an optimisation only: a build with it writes the same bytes as a build
without it. Projects with Python service modules in `services/` are built without
the cache, because a module can read anything.
"""

from __future__ import annotations

import collections.abc
import contextlib
import fnmatch
import gc
import hashlib
import importlib.util
import os
import pickle
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

import obscompile
from obscompile import seal
from obscompile.diagnostics import Diagnostic, with_files_renamed
from obscompile.load.files import (
    display_name,
    display_names,
    failed_to_declare,
    manifest_files,
    rejected_files,
)
from obscompile.load.input_file import (
    CACHE_FILE,
    CONFIG,
    MANIFEST,
    digest_bytes,
    read_input_bytes,
)
from obscompile.model.metric import Metric
from obscompile.model.service import Service
from obscompile.parallel import FACTS
from obscompile.project import CACHE_DIR, SPARE, spare_name
from obscompile.texts import LazyFiles, TextStore
from obscompile.write.atomic import (
    RECORD,
    FileState,
    Ledger,
    Written,
    restore_spare,
    spare_changed,
)
from obscompile.write.foreign import Moved

if TYPE_CHECKING:
    from obscompile.load.project import LoadResult
    from obscompile.pipeline import Project

INDEX = "index.pickle"
ENTRIES = "entries"
# Jinja's compiled templates, in a folder per compiler of the user's cache folder
# (see `compiled_templates`). Builds of earlier versions kept them in the project's.
TEMPLATE_CODE = "templates"
# A folder of compiled templates that no build used for this long is removed.
TEMPLATE_CODE_DAYS = 30
# Stages whose results are files; their texts are stored beside the entry.
EMIT_PREFIX = "emit:"
# Manifests changed this recently are hashed again in the next build (see _scan).
RACY_NS = 3_000_000_000
# The prefix of the temporary files that `_write_atomically` renames into place.
TEMPORARY_PREFIX = ".tmp-"
# A temporary file this old belongs to a save that was killed, and is removed.
TEMPORARY_SECONDS = 300
# The number of services folders (see `--services`) whose entries a save keeps.
SERVICES_FOLDERS = 8
# Bump when the layout of Entry, Replay or the index changes.
FORMAT = 5
# The packages whose code decides what a build produces, besides obscompile itself.
DEPENDENCIES = ("attrs", "jinja2", "jsonschema", "promql_parser", "ruamel.yaml")
CONFIG_FILES = ("obscompile.yaml", "obscompile.yml")

Progress = Callable[[str, int, int], None]
T = TypeVar("T")


def _hash_bytes(*parts: bytes | str) -> str:
    """Return the SHA-256 of `parts`, each prefixed with its length.

    A text is encoded as the file system encodes a name, so a file name that is not
    UTF-8, which Python represents with lone surrogates, gets its own bytes.
    """
    digest = hashlib.sha256()
    for part in parts:
        data = (
            part.encode("utf-8", "surrogateescape") if isinstance(part, str) else part
        )
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def _digested_files(folder: Path, pattern: str) -> list[Path]:
    """Return the files under `folder` that `folder_digest` covers, sorted."""
    return [Path(path) for _, path in _files_below(folder, pattern)]


def folder_digest(
    folder: Path, pattern: str = "*", states: dict[Path, FileState] | None = None
) -> str:
    """Return the sha256 of the relative path and bytes of every file under `folder`.

    Only the files whose names match `pattern` count, and `__pycache__` folders are
    left out. Symbolic links are followed, also to folders outside `folder`, because
    Jinja and the block modules read through them. A file that is not a regular file,
    or is larger than `HASHED_FILE` allows, counts by its status instead of its bytes
    (see `digest_bytes`). `states` receives the state of each file, taken before the
    file is read.
    """
    if not folder.is_dir():
        return "absent"
    digest = hashlib.sha256()
    for relative, path in _files_below(folder, pattern):
        try:
            if states is not None:
                states[Path(path)] = _file_state(path)
            data = digest_bytes(Path(path))
        except FileNotFoundError:
            continue  # a broken symbolic link, or a file removed meanwhile
        name = relative.encode("utf-8", "surrogateescape")
        digest.update(len(name).to_bytes(8, "little") + name)
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


def _files_below(folder: Path, pattern: str) -> list[tuple[str, str]]:
    """Return the relative and full path of each matching file under `folder`, sorted.

    Links to folders are followed, but each real folder is read once, under the
    first path that reaches it. So a link to a folder that contains the link ends
    instead of looping, and a folder linked twice is hashed once, which still covers
    every change to its files.
    """
    found: list[tuple[str, str]] = []
    seen: set[tuple[int, int]] = set()
    # Each item is a folder and its relative path with a trailing slash. The
    # subfolders of a folder are pushed in reverse, so they are read in name order.
    pending = [(str(folder), "")]
    while pending:
        current, prefix = pending.pop()
        status = os.stat(current)
        if (status.st_dev, status.st_ino) in seen:
            continue
        seen.add((status.st_dev, status.st_ino))
        with os.scandir(current) as scanned:
            entries = sorted(scanned, key=lambda entry: entry.name)
        folders = []
        for entry in entries:
            # `is_dir` and `is_file` follow links, and a broken link is neither.
            if entry.is_dir():
                if entry.name != "__pycache__":
                    folders.append((entry.path, f"{prefix}{entry.name}/"))
            elif entry.is_file() and fnmatch.fnmatchcase(entry.name, pattern):
                found.append((prefix + entry.name, entry.path))
        pending.extend(reversed(folders))
    found.sort()
    return found


def user_cache_folder() -> Path:
    """Return obscompile's folder in the user's cache: `$XDG_CACHE_HOME/obscompile`.

    Without an absolute XDG_CACHE_HOME it is `~/.cache/obscompile`, as the XDG Base
    Directory Specification gives it.
    """
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "obscompile"


def compiler_fingerprint() -> str:
    """Return a digest of the running compiler: version, modules and dependencies."""
    package = Path(obscompile.__file__).parent
    parts = [obscompile.__version__, sys.version, folder_digest(package, "*.py")]
    for name in DEPENDENCIES:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        if origin is None:
            parts.append(f"{name}:missing")
            continue
        stat = os.stat(origin)
        parts.append(f"{name}:{origin}:{stat.st_size}:{stat.st_mtime_ns}")
    return _hash_bytes(*parts)


class _LazyTuple(collections.abc.Sequence):
    """A tuple of a cached service, unpickled when an item is first read."""

    __slots__ = ("_data", "_items", "length")

    def __init__(self, data: bytes, length: int) -> None:
        self._data = data
        self._items: tuple[Any, ...] | None = None
        self.length = length

    def items(self) -> tuple[Any, ...]:
        if self._items is None:
            self._items = pickle.loads(self._data)
        return self._items

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: Any) -> Any:
        return self.items()[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _LazyTuple):
            other = other.items()
        return self.items() == other

    def __hash__(self) -> int:
        return hash(self.items())

    def __repr__(self) -> str:
        return repr(self.items())


class LazyRows(_LazyTuple):
    """The rows of a cached service, the bulk of its model.

    Most stages of a build reuse stored results for an unchanged service and read
    only its other fields, so its rows usually stay bytes. The number of panels is
    known without unpickling.
    """

    __slots__ = ("panel_count",)

    def __init__(self, data: bytes, length: int, panel_count: int) -> None:
        super().__init__(data, length)
        self.panel_count = panel_count

    @classmethod
    def of(cls, rows: Sequence[Any]) -> LazyRows:
        if isinstance(rows, LazyRows):
            return rows
        rows = tuple(rows)
        data = pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
        return cls(data, len(rows), sum(len(row.panels) for row in rows))

    def __reduce__(self) -> tuple[Any, ...]:
        return (LazyRows, (self._data, self.length, self.panel_count))


class LazyCatalog(_LazyTuple):
    """The metrics of a cached service, with the name and family of each.

    The project's checks compare the families of every catalog in every build (see
    `Service.metric_families`), and read the metrics themselves only where two
    catalogs share a name. With the metrics kept as bytes, the cache entries of
    1,000 generated services of the benchmark unpickled in 78 ms in place of 145 ms.
    """

    __slots__ = ("families",)

    def __init__(
        self,
        data: bytes,
        length: int,
        families: tuple[tuple[str, tuple[str, str]], ...],
    ) -> None:
        super().__init__(data, length)
        self.families = families

    @classmethod
    def of(cls, metrics: Sequence[Metric]) -> LazyCatalog:
        if isinstance(metrics, LazyCatalog):
            return metrics
        metrics = tuple(metrics)
        data = pickle.dumps(metrics, protocol=pickle.HIGHEST_PROTOCOL)
        families = tuple((metric.name, metric.family()) for metric in metrics)
        return cls(data, len(metrics), families)

    def __reduce__(self) -> tuple[Any, ...]:
        return (LazyCatalog, (self._data, self.length, self.families))


class LazyFacts:
    """The artifact facts of a cached service, unpickled when a fact is first read.

    A build whose services keep the facts of the last build reuses the last
    comparison of them (see `obscompile.pipeline`), so it reads only their digests.
    """

    __slots__ = ("_data", "_facts", "digest")

    def __init__(self, data: bytes, digest: str) -> None:
        self._data = data
        self._facts: Any = None
        self.digest = digest

    @classmethod
    def of(cls, facts: Any) -> LazyFacts:
        if isinstance(facts, LazyFacts):
            return facts
        data = pickle.dumps(facts, protocol=pickle.HIGHEST_PROTOCOL)
        return cls(data, facts.digest)

    def __getattr__(self, name: str) -> Any:
        if self._facts is None:
            self._facts = pickle.loads(self._data)
        return getattr(self._facts, name)

    def __reduce__(self) -> tuple[Any, ...]:
        return (LazyFacts, (self._data, self.digest))


def _with_lazy_tuples(service: Service) -> Service:
    # Each lazy tuple reads like the tuple it replaces, so the model's type is kept.
    return attrs.evolve(
        service,
        rows=LazyRows.of(service.rows),  # type: ignore[arg-type]
        metrics=LazyCatalog.of(service.metrics),  # type: ignore[arg-type]
    )


def panel_count(service: Service) -> int:
    """Return the number of panels of `service` without unpickling cached rows."""
    rows = service.rows
    if isinstance(rows, LazyRows):
        return rows.panel_count
    return len(service.panels)


@attrs.define
class Entry:
    """The results a build derived from one manifest, stored under its input key."""

    key: str
    name: str
    services: tuple[Service, ...]
    diagnostics: tuple[Diagnostic, ...]
    source: str
    # Stage name and service index -> (the extra key it was computed under, result).
    stages: dict[str, tuple[str, Any]] = attrs.field(factory=dict)
    dirty: bool = attrs.field(default=False, eq=False)


@attrs.frozen
class Replay:
    """The outcome of a successful build, for a later build whose inputs match.

    `names` maps each manifest and configuration file, by its path in the services
    or project folder, to the name that the build's diagnostics give it.
    """

    inputs: str
    outputs: tuple[tuple[str, int, int, int, int], ...]
    diagnostics: tuple[Diagnostic, ...]
    sources: dict[str, str]
    names: dict[str, str]
    services: tuple[str, ...]
    dashboards: int
    panels: int
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return True

    @property
    def unloaded(self) -> tuple[str, ...]:
        """The manifests that declared no service: none, as the build succeeded."""
        return ()


@contextlib.contextmanager
def _collector_paused() -> Iterator[Callable[[], contextlib.AbstractContextManager]]:
    """Pause Python's cyclic garbage collector while the project loads, then freeze.

    Unpickling a thousand services creates millions of long-lived objects. With the
    collector running, its passes over the growing heap take longer than the
    unpickling itself. `gc.freeze()` keeps later passes off the loaded objects, which
    reference counting still frees; `BuildCache.save` unfreezes them.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield _collector_resumed if enabled else contextlib.nullcontext
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


@contextlib.contextmanager
def _collector_resumed() -> Iterator[None]:
    """Run the collector again while a manifest is parsed, which leaves cyclic garbage."""
    gc.freeze()
    gc.enable()
    try:
        yield
    finally:
        gc.disable()


def _config_digest(path: Path) -> bytes:
    """Return the bytes that represent a configuration file in the cache's key."""
    try:
        return digest_bytes(path, CONFIG)
    except FileNotFoundError:
        return b"-"


def _file_state(path: str | Path, follow_symlinks: bool = True) -> FileState:
    stat = os.stat(path, follow_symlinks=follow_symlinks)
    return (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)


def _state_or_none(path: Path) -> FileState | None:
    try:
        return _file_state(path)
    except OSError:
        return None


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def folder_problem(project: Project) -> str | None:
    """Return why the project's cache folder must not be used, or None.

    A build deletes and replaces files in the folder, so the folder and the folders
    it manages must be its own, not links that lead elsewhere, such as a
    `.obscompile-cache` link committed to a repository.
    """
    folder = project.root / CACHE_DIR
    for path in (folder, *(folder / name for name in (ENTRIES, SPARE, TEMPLATE_CODE))):
        if path.is_symlink():
            return f"{project.shown(path)} is a symbolic link"
        if path.exists() and not path.is_dir():
            return f"{project.shown(path)} is not a folder"
    return None


class BuildCache:
    """The cache of one project, opened for one build."""

    def __init__(self, project: Project) -> None:
        self.started = time.perf_counter()
        self.project = project
        self.folder = project.root / CACHE_DIR
        # The output folder with links and `..` resolved, so that every spelling of
        # it shares one spare tree, one record and the replay.
        self._out = os.path.realpath(project.out_dir)
        self._entries: dict[str, Entry] = {}
        self._owners: dict[int, tuple[Entry, int]] = {}
        self._resumed: Callable[[], contextlib.AbstractContextManager] = (
            contextlib.nullcontext
        )
        key = seal.user_key(user_cache_folder())
        # A cache folder that this user may not write is left alone, because a build
        # that uses it must update the spare folder before it can write `out/`.
        self.read_only = self.folder.is_dir() and not os.access(
            self.folder, os.W_OK | os.X_OK
        )
        self.disabled = key is None or self.read_only
        self._key = key or b""
        self._index = self._read_index()
        # Stage name -> (input key, result) for the project stages of this build.
        self._project_results: dict[str, tuple[str, Any]] = {}
        try:
            self._scan()
        except OSError:
            # The loader reports unreadable inputs with their location, so the build
            # goes on without the cache.
            self.disabled = True

    # -- inputs -----------------------------------------------------------------

    def _read_index(self) -> dict[str, Any]:
        if self.disabled:
            return {}
        try:
            index = self._loads(read_input_bytes(self.folder / INDEX, CACHE_FILE))
        except Exception:  # a missing, truncated or foreign file is an empty cache
            return {}
        if not isinstance(index, dict) or index.get("format") != FORMAT:
            return {}
        return index

    def _scan(self) -> None:
        """Hash every input, so that later stages can look up entries by key."""
        project = self.project
        self._keys: dict[Path, str] = {}
        self._names: dict[Path, str] = {}
        self._files: list[Path] = []
        self._scan_problems: list[Diagnostic] = []
        if not project.services_dir.is_dir():
            self.disabled = True
            return
        self._files, self._scan_problems = manifest_files(project.services_dir)
        if any(path.suffix == ".py" for path in self._files):
            self.disabled = True
            return
        from obscompile.render import builtin_templates_dir

        # The state of each input file when it was read, for `changed_inputs`. The
        # build reads the inputs again later, and they may have changed by then.
        self._read_states: dict[Path, FileState | None] = {}
        self._folder_states: list[tuple[Path, dict[Path, FileState]]] = []
        # Each manifest and configuration file's name in diagnostics, which depends on
        # the working directory and on how the command line spells the folders.
        self._display: dict[str, str] = {}
        config = []
        for name in CONFIG_FILES:
            path = project.root / name
            self._display[f"project/{name}"] = display_name(path)
            self._read_states[path] = _state_or_none(path)
            config.append(_config_digest(path))
        self._compiler = compiler_fingerprint()
        self._global = _hash_bytes(
            str(FORMAT),
            self._compiler,
            self._digest_of(project.templates_dir),
            self._digest_of(builtin_templates_dir()),
            self._digest_of(project.root / "blocks"),
            *config,
        )
        named = list(zip(self._files, display_names(self._files), strict=True))
        # Each manifest's name as diagnostics show it, for the loads below.
        self._names.update(named)
        self._display.update((f"services/{path.name}", name) for path, name in named)
        # A manifest whose state is the one recorded with its digest is not read
        # again. The record is by file name, so every spelling of the folder shares it.
        self._services_folder = os.path.realpath(project.services_dir)
        recorded = self._index.get("manifests")
        known: dict[str, Any] = {}
        if isinstance(recorded, tuple) and recorded[:2] == (
            self._global,
            self._services_folder,
        ):
            known = recorded[2]
        self._states: dict[str, tuple[FileState, str]] = {}
        # A file changed within the file system's timestamp granularity of its
        # recording could keep its state, so recent files are hashed again next time.
        recent = time.time_ns() - RACY_NS
        contents = []
        for path, name in named:
            state = _file_state(path)
            self._read_states[path] = state
            stored = known.get(path.name)
            if isinstance(stored, tuple) and stored[0] == state:
                content = stored[1]
            else:
                content = _hash_bytes(digest_bytes(path, MANIFEST))
            # The entry's key covers the name, because the loaded service's
            # positions name the file as the diagnostics do.
            self._keys[path] = self._manifest_key(name, content)
            contents.append(f"{path.name}\0{content}")
            if state[1] < recent and state[2] < recent:
                self._states[path.name] = (state, content)
        # The replay's key leaves out the names in diagnostics, which `replay`
        # translates, so that a build from another folder, or through a link to
        # the project folder, replays too.
        self.inputs = _hash_bytes(
            self._global,
            self._out,
            self._services_folder,
            repr(self._scan_problems),
            # The hand-written tests decide which untested rules are reported.
            self._digest_of(project.hand_written_tests_dir),
            *contents,
        )

    def _manifest_key(self, name: str, content: str) -> str:
        """Return the key of the entry of manifest `name` with the digest `content`."""
        return _hash_bytes(self._global, name, content)

    def _digest_of(self, folder: Path) -> str:
        """Return `folder_digest(folder)`, noting the state of each file it reads."""
        states: dict[Path, FileState] = {}
        self._folder_states.append((folder, states))
        return folder_digest(folder, states=states)

    def changed_inputs(self) -> list[Path]:
        """Return the inputs that changed, appeared or went away since the scan.

        The keys come from the bytes the scan read, while the build reads each input
        again, so a build whose inputs changed meanwhile may have written output of
        other bytes than its keys cover. An edit that is undone since counts too.
        """
        if self.disabled:
            return []
        changed = [
            path
            for path, state in self._read_states.items()
            if _state_or_none(path) != state
        ]
        for folder, states in self._folder_states:
            now: dict[Path, FileState | None] = {}
            if folder.is_dir():
                now = {
                    path: _state_or_none(path) for path in _digested_files(folder, "*")
                }
            changed.extend(
                path
                for path in sorted(states.keys() | now.keys())
                if states.get(path) != now.get(path)
            )
        return changed

    # -- replay -----------------------------------------------------------------

    def replay(self) -> Replay | None:
        """Return the previous build when its inputs and written files are unchanged."""
        if self.disabled:
            return None
        previous = self._index.get("replay")
        if not isinstance(previous, Replay) or previous.inputs != self.inputs:
            return None
        if previous.names != self._display:
            previous = self._renamed(previous)
            if previous is None:
                return None
        out = os.path.join(self.project.out_dir, "")
        for name, *state in previous.outputs:
            try:
                # A link in place of a written file is a change, as it is for the writer.
                if _file_state(out + name, follow_symlinks=False) != tuple(state):
                    return None
            except OSError:
                return None
        return attrs.evolve(previous, seconds=time.perf_counter() - self.started)

    def _renamed(self, previous: Replay) -> Replay | None:
        """Return `previous` with the file names that this build gives its inputs.

        Returns None when its diagnostics cannot be renamed (see `with_files_renamed`).
        """
        if previous.names.keys() != self._display.keys():
            return None
        renames = {name: self._display[path] for path, name in previous.names.items()}
        renamed = with_files_renamed(previous.diagnostics, previous.sources, renames)
        if renamed is None:
            return None
        diagnostics, sources = renamed
        return attrs.evolve(
            previous, diagnostics=diagnostics, sources=sources, names=self._display
        )

    # -- load -------------------------------------------------------------------

    def _entry(self, key: str) -> Entry | None:
        # Plain string paths: a build may read a thousand entries.
        base = os.path.join(self.folder, ENTRIES, key)
        try:
            entry = self._loads(read_input_bytes(base + ".pickle", CACHE_FILE))
        except Exception:  # a missing or unreadable entry is recomputed
            return None
        if not isinstance(entry, Entry) or entry.key != key:
            return None
        store = TextStore(base + ".texts", self._key)
        for _, value in entry.stages.values():
            if isinstance(value, LazyFiles):
                value.store = store
        return entry

    def _loads(self, sealed: bytes) -> Any:
        """Unpickle a file of this cache, or return None unless this user wrote it."""
        data = seal.unseal(sealed, self._key)
        return None if data is None else pickle.loads(data)

    def _dumps(self, value: Any) -> bytes:
        return seal.seal(
            pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), self._key
        )

    def load_project(
        self,
        services_dir: Path,
        blocks_dir: Path | None,
        progress: Progress | None = None,
        jobs: int = 1,
    ) -> LoadResult:
        """Load the project like `load_project`, reusing the entry of each manifest.

        The manifests without an entry are loaded in up to `jobs` worker processes
        when they are many.
        """
        from obscompile.load.project import load_project

        if self.disabled or services_dir != self.project.services_dir:
            return load_project(services_dir, blocks_dir, jobs, progress)
        from obscompile import dsl

        registered = dict(dsl.BLOCKS)
        with _collector_paused() as resumed:
            self._resumed = resumed
            return self._load_all(blocks_dir, progress, registered, jobs)

    def _load_all(
        self,
        blocks_dir: Path | None,
        progress: Progress | None,
        registered: dict[str, Any],
        jobs: int,
    ) -> LoadResult:
        from obscompile import dsl
        from obscompile.load.project import LoadResult
        from obscompile.load.python_source import (
            block_sources,
            load_block_modules,
            python_sources,
        )

        try:
            diagnostics = (
                load_block_modules(blocks_dir) if blocks_dir is not None else []
            )
            diagnostics.extend(self._scan_problems)
            failed = rejected_files(self._scan_problems)
            unloaded = list(failed)
            services: list[Service] = []
            sources: dict[str, str] = {}
            stored = {path: self._entry(self._keys[path]) for path in self._files}
            parsed = self._parse_in_workers(
                [path for path, entry in stored.items() if entry is None],
                jobs,
                progress,
            )
            for done, path in enumerate(self._files):
                entry = self._load_file(path, stored[path], parsed.get(path))
                diagnostics.extend(entry.diagnostics)
                sources[entry.name] = entry.source
                if failed_to_declare(bool(entry.services), entry.diagnostics):
                    failed.append(entry.name)
                if not entry.services:
                    unloaded.append(entry.name)
                for index, service in enumerate(entry.services):
                    self._owners[id(service)] = (entry, index)
                    services.append(service)
                if progress is not None:
                    progress("loading", done + 1, len(self._files))
            sources.update(block_sources(blocks_dir))
            sources.update(python_sources(diagnostics, sources))
        finally:
            dsl.BLOCKS.clear()
            dsl.BLOCKS.update(registered)
            dsl.FAILED_BLOCK_MODULES.clear()
        return LoadResult(
            tuple(services), tuple(diagnostics), sources, tuple(failed), tuple(unloaded)
        )

    def _parse_in_workers(
        self, paths: list[Path], jobs: int, progress: Progress | None
    ) -> dict[Path, Any]:
        """Return what `load_manifest_file` gives for each of `paths`, from workers.

        Returns nothing when `parallel.load_manifests` does not use workers.
        """
        from obscompile.parallel import load_manifests

        named = [(path, self._names[path]) for path in paths]
        loaded = load_manifests(named, jobs, progress) if paths else None
        return {} if loaded is None else dict(zip(paths, loaded, strict=True))

    def _load_file(
        self, path: Path, entry: Entry | None, parsed: tuple[Any, ...] | None
    ) -> Entry:
        """Return the entry of `path`: `entry` when stored, else a new one.

        `parsed` is what `load_manifest_file` gave for `path` in a worker, if it ran.
        """
        key = self._keys[path]
        if entry is None:
            from obscompile.load.project import load_manifest_file

            name = self._names[path]
            if parsed is None:
                with self._resumed():
                    parsed = load_manifest_file(path, name)
            service, problems, text = parsed
            loaded = (service,) if service is not None else ()
            entry = Entry(
                key=key,
                name=name,
                services=loaded,
                diagnostics=tuple(problems),
                source=text,
                dirty=True,
            )
            # A file that changed while it was read is not stored under the old key.
            try:
                data = digest_bytes(path, MANIFEST)
                unchanged = self._manifest_key(name, _hash_bytes(data)) == key
            except OSError:
                unchanged = False
            entry.dirty = unchanged
        self._entries[key] = entry
        return entry

    # -- per-service stages -----------------------------------------------------

    def memo(
        self, stage: str, service: Service, compute: Callable[[], T], extra: str = ""
    ) -> T:
        """Return `compute()` for `service`, reusing the stored result of `stage`.

        `extra` is a digest of whatever else the stage reads; a stored result counts
        only when it was computed under the same one.
        """
        if id(service) not in self._owners:
            return compute()
        stored = self.peek(stage, service)
        if stored is not None and stored[0] == extra:
            if isinstance(stored[1], LazyFiles):
                stored[1].fallback = compute  # type: ignore[assignment]
            return stored[1]
        value = compute()
        self.put(stage, service, extra, value)
        return value

    def peek(self, stage: str, service: Service) -> tuple[str, Any] | None:
        """Return the stored `(extra, result)` of `stage` for `service`, if any."""
        owner = self._owners.get(id(service))
        if owner is None:
            return None
        entry, index = owner
        return entry.stages.get(f"{stage}#{index}")

    def put(self, stage: str, service: Service, extra: str, value: Any) -> None:
        """Store `value` as the result of `stage` for `service`, under `extra`."""
        owner = self._owners.get(id(service))
        if owner is None:
            return
        entry, index = owner
        entry.stages[f"{stage}#{index}"] = (extra, value)
        entry.dirty = True

    def stored(self, stage: str, service: Service, extra: str = "") -> bool:
        """Tell whether `memo` would return a stored result of `stage` for `service`."""
        found = self.peek(stage, service)
        return found is not None and found[0] == extra

    def token(self, stage: str, service: Service, extra: str = "") -> str | None:
        """Return a digest of the inputs of `stage` for `service`, or None.

        Equal tokens mean equal results: the entry's key covers the manifest, the
        compiler, the templates and the configuration, and `extra` the rest.
        """
        owner = self._owners.get(id(service))
        if owner is None:
            return None
        entry, index = owner
        text = f"{entry.key}\0{stage}#{index}\0{extra}"
        return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:32]

    def compiled_templates(self) -> Path | None:
        """Return the folder for Jinja's compiled templates, or None without a cache.

        The folder is in the user's cache folder (`user_cache_folder`), shared by every
        project, so that the first build of a project does not compile the built-in
        templates again. Jinja keys each file by the template's name and source. The
        code it compiles also depends on the environment's options, which belong to
        the compiler, so every compiler gets its own folder.
        """
        if self.disabled:
            return None
        folder = user_cache_folder() / TEMPLATE_CODE / self._compiler[:16]
        try:
            folder.mkdir(parents=True, exist_ok=True)
            # The folder's mtime records when a build last used it (see `_save`).
            os.utime(folder)
        except OSError:
            return None
        return folder

    def ledger(self, tokens: Mapping[str, str]) -> Ledger | None:
        """Return what the last write recorded about the output folder, for a write."""
        if self.disabled:
            return None
        recorded = self._index.get("written")
        out = self._out
        if not isinstance(recorded, dict) or recorded.get("out") != out:
            recorded = {}
        # Builds into different output folders each get their own spare folder,
        # because the lock of a write covers only its output folder's parent.
        spare = self.folder / SPARE / spare_name(out)
        return Ledger(
            tokens=tokens,
            out=recorded.get("files", {}),
            spare=spare,
            spare_files=recorded.get("spare", {}),
            mirrors=recorded.get("mirrors"),
            spare_folders=recorded.get("folders"),
            spare_times=recorded.get("spare_times"),
        )

    def restore_from_spare(self) -> tuple[Moved, ...]:
        """Move the files that programs wrote into the spare folder into the output.

        A build that replays the last one calls this, because it writes nothing,
        and a write is what moves such files otherwise (see `restore_spare` of
        `obscompile.write.atomic`). The spare folder is listed only when its folders
        changed since the last write recorded them. Raises OSError when it cannot be
        listed, or the record of the new state cannot be saved.
        """
        written = self._index.get("written")
        if self.disabled or not isinstance(written, dict):
            return ()
        ledger = self.ledger({})
        if ledger is None or written.get("out") != self._out:
            return ()
        if not spare_changed(self.project.out_dir, ledger):
            return ()
        moved, times = restore_spare(self.project.out_dir, ledger)
        if times != ledger.spare_times:
            # The next build compares the spare folder with its state now, so that
            # it lists the folder only when it changes again.
            self._index["written"] = {**written, "spare_times": times}
            _write_atomically(self.folder / INDEX, self._dumps(self._index))
        return tuple(moved)

    def remember(self, stage: str, digest: str, compute: Callable[[], T]) -> T:
        """Return `compute()` for a project stage, reusing the last build's result.

        `digest` covers everything the stage reads besides the compiler, templates and
        configuration, which every key covers. Only the last build's result is kept.
        """
        key = _hash_bytes(self._global, digest) if not self.disabled else ""
        stored = self._index.get("project", {}).get(stage)
        if key and isinstance(stored, tuple) and stored[0] == key:
            value = stored[1]
        else:
            value = compute()
        if key:
            self._project_results[stage] = (key, value)
        return value

    # -- save -------------------------------------------------------------------

    def save(
        self, result: Any, written: bool, recorded: Written | None = None
    ) -> list[Path]:
        """Store every new entry; after a successful write, store the build for replay.

        `recorded` is what the write recorded about the output folder, if it used
        this cache's ledger. A build that wrote nothing creates no cache folder,
        so that a failed build leaves a new project as it was. Returns the inputs
        that changed during the build (see `changed_inputs`): nothing that may come
        from them is stored. Raises OSError when the cache folder cannot be written.
        """
        changed = self.changed_inputs()
        if self.disabled or (not written and not self.folder.is_dir()):
            return changed
        try:
            self._save(result, written, recorded, changed)
        finally:
            gc.unfreeze()
        return changed

    def _save(
        self,
        result: Any,
        written: bool,
        recorded: Written | None,
        changed: list[Path],
    ) -> None:
        entries = self.folder / ENTRIES
        # An entry is stored under the key of the bytes the scan read, so none is
        # stored whose inputs changed after the scan.
        changed_manifests = {path for path in changed if path in self._keys}
        changed_keys = {self._keys[path] for path in changed_manifests}
        # Templates, blocks and the configuration go into every entry.
        global_changed = len(changed_manifests) < len(changed)
        for entry in self._entries.values():
            if entry.dirty:
                entry.dirty = False
                if not global_changed and entry.key not in changed_keys:
                    self._store(entry)
        unchanged_names = {
            path.name for path in self._names if path not in changed_manifests
        }
        index: dict[str, Any] = {
            "format": FORMAT,
            "project": {} if changed else self._project_results,
            "manifests": (
                self._global,
                self._services_folder,
                {k: v for k, v in self._states.items() if k in unchanged_names},
            ),
        }
        index["folders"] = self._live_keys()
        if written and result.ok and not changed:
            index["replay"] = self._replay_of(result, recorded)
        if written and recorded is not None:
            index["written"] = {
                "out": self._out,
                # The tokens name the inputs each file's text came from, which are
                # uncertain when an input changed during the build.
                "files": {} if changed else recorded.out,
                "spare": {} if changed else recorded.spare,
                "mirrors": recorded.mirrors,
                "folders": recorded.spare_folders,
                "spare_times": recorded.spare_times,
            }
        elif "written" in self._index:
            # Nothing was written, so the last write's record still holds.
            index["written"] = self._index["written"]
        _write_atomically(self.folder / INDEX, self._dumps(index))
        ignore = self.folder / ".gitignore"
        if not ignore.exists():
            # Version control leaves the cache out, as it does pytest's.
            _write_atomically(ignore, b"# Created by obscompile.\n*\n")
        # Entries of manifests that changed or went away are removed.
        live = set().union(*index["folders"].values())
        for path in [*entries.glob("*.pickle"), *entries.glob("*.texts")]:
            if path.stem not in live:
                path.unlink(missing_ok=True)
        # The project's lock keeps other builds from saving meanwhile, but a build of
        # an earlier version may not have held it, so only old files go.
        killed = time.time() - TEMPORARY_SECONDS
        for folder in (self.folder, entries):
            for path in folder.glob(f"{TEMPORARY_PREFIX}*"):
                with contextlib.suppress(OSError):
                    if path.lstat().st_mtime < killed:
                        path.unlink()
        # The compiled templates of compilers that no build used for a while, and the
        # project's own folder of them from earlier versions.
        shutil.rmtree(self.folder / TEMPLATE_CODE, ignore_errors=True)
        unused = time.time() - TEMPLATE_CODE_DAYS * 86_400
        for folder in (user_cache_folder() / TEMPLATE_CODE).glob("*"):
            with contextlib.suppress(OSError):
                if folder.stat().st_mtime < unused:
                    shutil.rmtree(folder, ignore_errors=True)

    def _live_keys(self) -> dict[str, frozenset[str]]:
        """Return the entry keys to keep for each services folder, this build's last.

        Builds with `--services` and without it take turns in some projects, so the
        entries of the last few other folders that still exist stay too.
        """
        services_folder = os.path.realpath(self.project.services_dir)
        recorded = self._index.get("folders")
        folders: dict[str, frozenset[str]] = {}
        if isinstance(recorded, dict):
            folders = {
                folder: keys
                for folder, keys in recorded.items()
                if folder != services_folder
                and isinstance(keys, frozenset)
                and os.path.isdir(folder)
            }
        folders[services_folder] = frozenset(self._keys.values())
        return dict(list(folders.items())[-SERVICES_FOLDERS:])

    def _store(self, entry: Entry) -> None:
        """Write one entry, with the texts of its emitter stages in a file beside it."""
        entries = self.folder / ENTRIES
        texts: dict[str, tuple[str, dict[str, str]]] = {}
        stages: dict[str, tuple[str, Any]] = {}
        for slot, (extra, value) in entry.stages.items():
            if slot.startswith(EMIT_PREFIX) and isinstance(value, Mapping):
                try:
                    files = dict(value.items())
                except LookupError:
                    continue  # texts that are gone are computed again next time
                texts[slot] = (extra, files)
                value = LazyFiles(files, slot, extra)
            elif slot.startswith(f"{FACTS}#"):
                value = LazyFacts.of(value)
            stages[slot] = (extra, value)
        stored = attrs.evolve(
            entry,
            services=tuple(_with_lazy_tuples(s) for s in entry.services),
            stages=stages,
        )
        # The texts first: an entry on disk always has its texts beside it.
        _write_atomically(entries / f"{entry.key}.texts", self._dumps(texts))
        _write_atomically(entries / f"{entry.key}.pickle", self._dumps(stored))

    def _replay_of(self, result: Any, recorded: Written | None) -> Replay:
        out = self.project.out_dir
        names = (*sorted(result.files), RECORD)
        if recorded is not None and set(recorded.states) == set(names):
            outputs = tuple((name, *recorded.states[name]) for name in names)
        else:
            outputs = tuple(
                (name, *_file_state(out / name, follow_symlinks=False))
                for name in names
            )
        cited = {d.location.file for d in result.diagnostics}
        cited.update(
            use.location.file for d in result.diagnostics for use in d.location.uses()
        )
        return Replay(
            inputs=self.inputs,
            outputs=outputs,
            diagnostics=tuple(result.diagnostics),
            sources={k: v for k, v in result.sources.items() if k in cited},
            names=self._display,
            services=tuple(s.name for s in result.services),
            dashboards=result.dashboards,
            panels=result.panels,
        )
