"""Replace the contents of an output folder atomically, touching only files obscompile wrote.

The new tree is assembled in a second folder on the same file system: every file the
previous build did not write is hard-linked (or copied) into it, and so is every
artifact whose bytes did not change; the other artifacts are written next to them,
and the two folders are swapped with one `renameat2(RENAME_EXCHANGE)` call. A build
killed at any moment leaves either the previous complete folder or the new one. A
record in the folder lists what obscompile wrote, so a later build removes the
artifacts it no longer produces and nothing else. A file of the user's that ends up
in the old tree, created during the write or written there after it, is put back
into the output folder (see `obscompile.write.foreign`). A build that writes nothing
puts back what was written into the spare folder (see `restore_spare`).

Without a ledger the second folder is a temporary one next to the output folder,
removed after the swap. With a ledger (see `Ledger`) it is a spare folder that keeps
the previous tree after the swap; the next build brings that tree up to date, which
for a small change touches a few files instead of every file of the tree.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import attrs

from obscompile.diagnostics import ObscompileError
from obscompile.load.input_file import (
    OUTPUT_RECORD,
    InputFileError,
    read_input_text,
)
from obscompile.write.foreign import (
    RENAME_EXCHANGE,
    Identity,
    Mirrors,
    Moved,
    folders_of,
    identity,
    make_writable,
    renameat2,
    restore,
    tree,
)

RECORD = ".obscompile-files.json"
# The record while it is written, renamed to RECORD when complete.
_RECORD_TEMP = RECORD + ".tmp"
_TEMP_PREFIX = ".obscompile-tmp-"
# Threads that flush written files to the disk at once. On an ext4 disk of 2 CPUs,
# 3,000 files of 43 kB took 9.6 s flushed one by one and 3.5 s with 64 threads.
_FLUSH_THREADS = 64

# (size, mtime_ns, ctime_ns, inode): a file with the same state was not written since.
FileState = tuple[int, int, int, int]
# Path -> (token of its text, state after the write that left it); see `Ledger`.
Recorded = Mapping[str, tuple[str, FileState]]
# The token recorded for a file whose text no token names, such as a file that every
# service feeds. A later write compares its state alone to find whether it changed.
NO_TOKEN = ""
# The mtime of each folder of a tree, by its path relative to the tree ("" for the
# tree's own folder); see `folder_times`.
FolderTimes = Mapping[str, int]
# How often `folder_times` lists a tree before it gives up, and the wait in seconds
# between two tries.
_FOLDER_TIME_TRIES = 3
_FOLDER_TIME_WAIT = 0.01


class WriteError(ObscompileError, OSError):
    """The output folder could not be written."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        # The file or folder the error is about, when it is not the output folder.
        self.path = path


@attrs.frozen
class Ledger:
    """What the caller knows about the files of earlier writes, so as not to read them.

    `tokens` gives, for some of the new files, a digest of the inputs their text was
    computed from: equal tokens mean equal texts. `out` records the files the last
    write left in the output folder. `spare` is a folder on the same file system
    that contains the tree the output folder had before that write, recorded in
    `spare_files`. A recorded file counts as containing the text of its token while
    its size, mtime, ctime and inode are the recorded ones. Every other file is
    compared byte by byte, and so is a file recorded under NO_TOKEN.
    """

    tokens: Mapping[str, str]
    out: Recorded = attrs.field(factory=dict)
    spare: Path | None = None
    spare_files: Recorded = attrs.field(factory=dict)
    # The user's files in the spare folder that the output folder got a copy of, and
    # the spare folder's folders, as the last write recorded them (None: unknown).
    mirrors: Mirrors | None = None
    spare_folders: Collection[str] | None = None
    # The mtimes of the spare folder's folders after the last write (None: unknown).
    spare_times: FolderTimes | None = None


@attrs.frozen
class Written:
    """The recorded trees after a write, for the ledger of the next one."""

    out: dict[str, tuple[str, FileState]]
    spare: dict[str, tuple[str, FileState]]
    # The state of every file the record lists, and of the record itself.
    states: dict[str, FileState]
    mirrors: dict[str, tuple[Identity, Identity]] = attrs.field(factory=dict)
    spare_folders: list[str] = attrs.field(factory=list)
    # See `folder_times`: None when they could not be taken.
    spare_times: dict[str, int] | None = None


@attrs.frozen
class WriteResult:
    written: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: bool
    # With a ledger, what the next write's ledger records.
    recorded: Written | None = None
    # The files obscompile did not write that were in an old tree of `out`.
    moved: tuple[Moved, ...] = ()
    # The files of the last write that changed after it and that this write
    # replaced, and the folder that keeps their old tree until the next write, if any.
    edited: tuple[str, ...] = ()
    edited_kept_in: Path | None = None


def _safe_relative(name: str) -> None:
    parts = name.split("/")
    if not name or any(part in ("", ".", "..") for part in parts):
        raise WriteError(f"refusing to write {name!r} outside the output folder")


def read_record(out: Path) -> list[str]:
    """Return the files the previous build recorded, or an empty list."""
    try:
        data = json.loads(read_input_text(out / RECORD, OUTPUT_RECORD))
    except (InputFileError, ValueError):
        return []
    files = data.get("files", []) if isinstance(data, dict) else []
    return [f for f in files if isinstance(f, str)]


def record_text(files: Iterable[str]) -> str:
    body = {"generator": "obscompile", "files": sorted(files)}
    return json.dumps(body, indent=2) + "\n"


def _state(result: os.stat_result) -> FileState:
    return (result.st_size, result.st_mtime_ns, result.st_ctime_ns, result.st_ino)


def _known(
    path: str,
    token: str | None,
    recorded: tuple[str, FileState] | None,
    result: os.stat_result | None = None,
) -> FileState | None:
    """Return the state of `path` if it is the regular file recorded under `token`.

    `result` is the file's `lstat`, when the caller has it already.
    """
    if not token or recorded is None or recorded[0] != token:
        return None
    if result is None:
        try:
            result = os.lstat(path)
        except OSError:
            return None
    state = _state(result)
    return state if stat.S_ISREG(result.st_mode) and state == recorded[1] else None


def new_file_mode() -> int:
    """Return the permission bits of the files a write creates: 0o666 minus the umask."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    # NOTE: without /proc (Linux before 4.7), the umask is read by setting it, and a
    # file that another thread creates meanwhile gets 0o022.
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _same_bytes(path: str, text: str, mode: int) -> FileState | None:
    """Return the state of `path` if it is a regular file with `mode` containing `text`.

    A symbolic link is not followed, so it never counts as holding `text`, and a
    named pipe is opened without waiting for a writer.
    """
    data = text.encode("utf-8")
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        with open(descriptor, "rb") as handle:
            result = os.fstat(handle.fileno())
            if not stat.S_ISREG(result.st_mode) or result.st_size != len(data):
                return None
            if stat.S_IMODE(result.st_mode) != mode:
                return None
            if handle.read(len(data) + 1) != data:
                return None
    except OSError:
        return None
    return _state(result)


def _changed_since(path: str, recorded: tuple[str, FileState] | None) -> bool:
    """Tell whether `path` exists with a state other than the one the last write recorded."""
    if recorded is None:
        return False
    try:
        return _state(os.lstat(path)) != recorded[1]
    except OSError:
        return False


def stale_files(out: Path, files: Mapping[str, str]) -> list[str]:
    """List the files that differ from what a build would write, and the ones it removes."""
    for name in files:
        _safe_relative(name)
    return _stale(out, files, None, {})[0]


def _stale(
    out: Path,
    files: Mapping[str, str],
    ledger: Ledger | None,
    found: dict,
    edited: list[str] | None = None,
) -> tuple[list[str], dict[str, FileState]]:
    """Return the differing files and the state of each file that has its new text.

    `found` receives the token of the text that each recorded file still has, and
    `edited` each differing file that changed after the last write recorded it, such
    as one edited by hand.
    """
    differing = []
    same: dict[str, FileState] = {}
    root = str(out)
    mode = new_file_mode()
    tokens = ledger.tokens if ledger is not None else {}
    recorded = ledger.out if ledger is not None else {}
    for name in sorted(files):
        path = os.path.join(root, name)
        token = tokens.get(name)
        previous = recorded.get(name)
        state = _known(path, token, previous)
        if state is None:
            if previous is not None and _known(path, previous[0], previous):
                # The file has the text of an older token. Other inputs can give the
                # same text, such as a manifest with a new comment, so compare bytes.
                found[name] = previous[0]
            state = _same_bytes(path, files[name], mode)
        if state is None:
            differing.append(name)
            if edited is not None and _changed_since(path, previous):
                edited.append(name)
            continue
        same[name] = state
        if token is not None:
            found[name] = token
    record = read_record(out)
    for name in record:
        if name not in files and os.path.lexists(os.path.join(root, name)):
            differing.append(name)
    # A symlink where the tree has a folder is never up to date, because a write
    # rejects it (see `_reject_paths_in_the_way`).
    for folder in sorted(folders_of(files)):
        if os.path.islink(os.path.join(root, folder)):
            differing.append(folder)
    if not differing and (not (out / RECORD).exists() or record != sorted(files)):
        differing.append(RECORD)
    return differing, same


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; return False where the kernel cannot."""
    try:
        return renameat2(a, b, RENAME_EXCHANGE)
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            return False
        raise WriteError(f"cannot swap {a} and {b}: {exc.strerror}") from exc


# The folders this process holds a lock on, by (device, inode), with how many holds and
# whether the lock is shared.
_held_locks: dict[tuple[int, int], tuple[int, bool]] = {}


@contextmanager
def folder_lock(
    folder: Path, waiting: Callable[[], None] | None = None, shared: bool = False
) -> Iterator[None]:
    """Hold a lock on `folder` while the block runs, exclusive unless `shared`.

    A request waits while another process holds an exclusive lock, and an exclusive
    request also waits while another process holds a shared one. `waiting` is called
    once before this process waits. The lock is held per process: a nested request
    for a folder this process holds returns at once, where a second `flock` on a new
    descriptor would wait for ever. A nested exclusive request inside a shared hold
    raises RuntimeError, because turning the lock exclusive would let another
    process take it in between.
    """
    folder.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(folder, os.O_RDONLY)
    status = os.fstat(descriptor)
    key = (status.st_dev, status.st_ino)
    if key in _held_locks:
        os.close(descriptor)
        count, held_shared = _held_locks[key]
        if held_shared and not shared:
            raise RuntimeError(
                f"cannot lock {folder} exclusively: this process holds a shared lock"
            )
        _held_locks[key] = (count + 1, held_shared)
        try:
            yield
        finally:
            count, held_shared = _held_locks[key]
            _held_locks[key] = (count - 1, held_shared)
        return
    operation = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    try:
        try:
            fcntl.flock(descriptor, operation | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting is not None:
                waiting()
            fcntl.flock(descriptor, operation)
        _held_locks[key] = (1, shared)
        try:
            yield
        finally:
            del _held_locks[key]
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def build_lock(out: Path) -> contextlib.AbstractContextManager[None]:
    """Hold an exclusive lock on the output folder's parent for one write."""
    return folder_lock(lock_folder(out))


def lock_folder(out: Path) -> Path:
    """Return the folder whose lock a write into `out` holds: the output's parent."""
    return _output_folder(out).parent


def _output_folder(out: Path) -> Path:
    """Return the absolute path of the folder that a write into `out` replaces."""
    out = out.absolute()
    if out.is_symlink():
        # The swap would replace the link itself, so the folder it names is written.
        out = out.resolve()
    return out


def _write_record(folder: Path, names: Iterable[str]) -> None:
    """Write the record of `names` into `folder`, replacing the previous one atomically.

    A write that is killed leaves either record, so that a later write that reuses or
    deletes the folder finds every file obscompile wrote in it.
    """
    temporary = folder / _RECORD_TEMP
    with open(temporary, "w", encoding="utf-8", newline="") as handle:
        handle.write(record_text(names))
    os.replace(temporary, folder / RECORD)


def _flush_to_disk(out: Path, root: str, names: list[str]) -> None:
    """Flush the files `names` below `root` to the disk before the tree is swapped in.

    One fsync waits for a write to the disk, and a file system commits the fsyncs
    that arrive together in one write, so the files are flushed from several threads
    at once. The threads wait in the kernel, without the interpreter lock. The files
    are reopened by name, because a build writes more of them than it may keep open.
    """

    def flush(name: str) -> None:
        try:
            descriptor = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        except OSError as exc:
            raise WriteError(
                f"cannot write {out / name}: {exc.strerror or exc}"
            ) from exc

    if len(names) < 2:
        for name in names:
            flush(name)
        return
    with ThreadPoolExecutor(min(_FLUSH_THREADS, len(names))) as pool:
        # The first error is raised once every flush has ended.
        list(pool.map(flush, names))


def _delete_tree(path: Path) -> None:
    """Delete a folder of obscompile's, also where it contains read-only folders."""
    with contextlib.suppress(OSError):
        make_writable(path, tree(path)[1])
    shutil.rmtree(path, ignore_errors=True)


def _link_or_copy(source: Path, target: Path) -> bool:
    """Link or copy `source` to `target`, or return False when `source` is gone."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
        else:
            try:
                os.link(source, target)
            except FileNotFoundError:
                raise
            except OSError:
                # Another file system, or a file the user may not link.
                shutil.copy2(source, target)
    except FileNotFoundError:
        if os.path.lexists(source):
            raise
        # The user deleted it after the write listed the output folder.
        return False
    return True


def _folder_modes(root: Path, folders: list[str]) -> dict[str, int]:
    modes = {}
    # Plain string paths: a tree may have a folder for each of a thousand services.
    base = str(root)
    for folder in folders:
        with contextlib.suppress(OSError):
            modes[folder] = stat.S_IMODE(os.lstat(os.path.join(base, folder)).st_mode)
    return modes


def _link(source: str, target: str) -> bool:
    """Hard-link a regular file into the staging folder; return False if it is not one."""
    try:
        if not stat.S_ISREG(os.lstat(source).st_mode):
            return False
        os.link(source, target)
    except OSError:
        return False
    return True


def _in_the_way(out: Path, problem: str, names: list[str]) -> WriteError:
    """Return the error for paths in `out` that the new tree cannot replace."""
    listed = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
    return WriteError(
        f"{out} {problem}: {listed}; move them away or delete them, then build again"
    )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def _regular_stat(path: str) -> os.stat_result | None:
    """Return the `lstat` of `path` if it is a regular file, else None."""
    try:
        result = os.lstat(path)
    except OSError:
        return None
    return result if stat.S_ISREG(result.st_mode) else None


def _same_device(spare: Path, out: Path) -> bool:
    try:
        spare.parent.mkdir(parents=True, exist_ok=True)
        return os.stat(spare.parent).st_dev == os.stat(out.parent).st_dev
    except OSError:
        return False


def write_tree(
    out: Path, files: Mapping[str, str], ledger: Ledger | None = None
) -> WriteResult:
    """Make `out` hold exactly `files` plus every file obscompile did not write.

    With a `ledger`, the files it vouches for are not read, and the new tree is
    assembled in its spare folder, which contains the previous tree afterwards. The
    result records both trees for the next write's ledger.
    """
    for name in files:
        _safe_relative(name)
    out = _output_folder(out)
    if ledger is not None and ledger.spare is not None:
        # The swap moves a working folder inside `out`, so a relative path would
        # name another folder after it.
        spare = Path(os.path.abspath(ledger.spare))
        ledger = attrs.evolve(ledger, spare=spare)
        real_out, real_spare = out.resolve(), spare.resolve()
        if real_out.is_relative_to(real_spare) or real_spare.is_relative_to(real_out):
            raise WriteError(
                f"the output folder {out} and the cache's spare folder {spare} may not "
                "contain each other; choose an output folder outside the cache"
            )
    with build_lock(out):
        try:
            return _Writer(out, files, ledger).write()
        except PermissionError as exc:
            folders = [out, out.parent]
            if exc.filename is not None:
                folders.append(Path(os.fsdecode(exc.filename)).parent)
            read_only = read_only_error(out, folders)
            if read_only is not None:
                raise read_only from exc
            raise


def read_only_error(out: Path, folders: Iterable[Path]) -> WriteError | None:
    """Return the error for the first of `folders` that this process cannot write.

    Returns None when each of them that exists is writable, so that the caller
    reports the failure as it is.
    """
    for folder in folders:
        if folder.is_dir() and not os.access(folder, os.W_OK):
            break
    else:
        return None
    if folder == out:
        problem = f"cannot replace {out}: it is read-only"
    elif folder == out.parent:
        problem = (
            f"cannot write {out}: its parent folder {folder} is read-only, and "
            f"obscompile swaps {out.name} as a whole, which needs write access there"
        )
    else:
        problem = f"cannot write {out}: {folder} is read-only"
    return WriteError(
        f"{problem}; make it writable (chmod u+w {folder}), then build again"
    )


def spare_changed(out: Path, ledger: Ledger) -> bool:
    """Tell whether a program may have written into the ledger's spare folder.

    The spare folder's folders are compared with the mtimes that the last write
    recorded, which change when an entry is created, removed or renamed in them.
    The user's files that `out` has copies of are compared with their recorded
    identities, which change when they are written in place, unless `out` has the
    same file, a hard link. Files that obscompile wrote are not compared, because a
    write replaces them.
    """
    if ledger.spare is None:
        return False
    if ledger.spare_times is None:
        return True
    root = str(ledger.spare)
    for folder, mtime in ledger.spare_times.items():
        try:
            if os.lstat(os.path.join(root, folder)).st_mtime_ns != mtime:
                return True
        except OSError:
            return True
    for name, (old, _) in (ledger.mirrors or {}).items():
        try:
            found = os.lstat(os.path.join(root, name))
        except OSError:
            # A removed file changed the mtime of its folder, which is compared.
            continue
        if identity(found) != old and not _same_inode(found, out / name):
            return True
    return False


def _same_inode(result: os.stat_result, path: Path) -> bool:
    try:
        other = os.lstat(path)
    except OSError:
        return False
    return (result.st_dev, result.st_ino) == (other.st_dev, other.st_ino)


def restore_spare(
    out: Path, ledger: Ledger
) -> tuple[list[Moved], dict[str, int] | None]:
    """Move the user's files in the ledger's spare folder into `out`, as a write would.

    A build that writes nothing into `out` calls this, because otherwise a write
    moves them before it reuses the spare folder (see `obscompile.write.foreign`).
    Returns what was found, and the spare folder's `folder_times` afterwards. A file
    that cannot be moved stays. Raises OSError when the spare folder cannot be listed.
    """
    out = _output_folder(out)
    spare = ledger.spare
    if (
        spare is None
        or not spare.is_dir()
        or spare.is_symlink()
        or not _same_device(spare, out)
    ):
        return [], None
    owned = {*read_record(spare), *read_record(out), RECORD, _RECORD_TEMP}
    found, listing = _move_from_spare(
        spare, out, owned.union(ledger.spare_files), ledger
    )
    return found, folder_times(spare, listing)


@attrs.frozen
class _Listing:
    """The `tree` of a folder, and the file system's time just before it was taken."""

    started: int
    files: list[str]
    folders: list[str]


def _list(root: Path) -> _Listing:
    started = _file_system_time(root.parent)
    return _Listing(started, *tree(root))


def _move_from_spare(
    spare: Path, out: Path, owned: set[str], ledger: Ledger
) -> tuple[list[Moved], _Listing]:
    """Move the files of the spare folder that are not `owned` into `out`.

    Returns what was found and the spare folder's listing afterwards.
    """
    listing = _list(spare)
    make_writable(spare, listing.folders)
    found = restore(
        spare,
        out,
        owned,
        ledger.mirrors,
        ledger.spare_folders,
        True,
        (listing.files, listing.folders),
    )
    if found:
        listing = _list(spare)
    return found, listing


def folder_times(root: Path, listing: _Listing | None = None) -> dict[str, int] | None:
    """Return the mtime of `root` and of each folder inside it, or None.

    A folder gets a new mtime when an entry is created, removed or renamed in it,
    but Linux file systems give an mtime in steps of the kernel's clock tick, 1 to
    10 ms. So a change in the same step as the one recorded leaves the mtime as it is.
    Each mtime must therefore be older than the file system's clock when the
    listing started. Where one is not, the listing is taken again after a short
    wait. `listing` is a listing of `root` that the caller took, used for the first
    try. Returns None when some folder keeps changing or cannot be read.
    """
    for attempt in range(_FOLDER_TIME_TRIES):
        if attempt:
            time.sleep(_FOLDER_TIME_WAIT)
        try:
            if attempt or listing is None:
                listing = _list(root)
            times = {"": os.lstat(root).st_mtime_ns}
            base = str(root)
            for folder in listing.folders:
                times[folder] = os.lstat(os.path.join(base, folder)).st_mtime_ns
        except OSError:
            return None
        if all(mtime < listing.started for mtime in times.values()):
            return times
    return None


def _file_system_time(folder: Path) -> int:
    """Return the time that the file system of `folder` gives a file created now."""
    with tempfile.TemporaryFile(dir=folder) as probe:
        return os.fstat(probe.fileno()).st_mtime_ns


class _Writer:
    """One write of a tree into `out`; see `write_tree`."""

    def __init__(
        self, out: Path, files: Mapping[str, str], ledger: Ledger | None
    ) -> None:
        self.out = out
        self.files = files
        self.ledger = ledger
        self.tokens = ledger.tokens if ledger is not None else {}
        # Path -> token of the text in each file of the current tree.
        self.out_tokens: dict[str, str] = {}
        # Files of the current tree that get a new hard link, so a new ctime.
        self.linked: set[str] = set()
        self.mode = new_file_mode()

    def write(self) -> WriteResult:
        out, files = self.out, self.files
        self.previous = set(read_record(out))
        # Files obscompile did not write, found in old trees of `out`.
        self.moved: list[Moved] = []
        self._clean_leftovers()
        spare = self.ledger.spare if self.ledger is not None else None
        # The spare folder's tree once the user's files are moved out, and the files
        # obscompile wrote in it.
        self.spare_tree: tuple[list[str], list[str]] | None = None
        self.spare_owned: set[str] = set()
        if (
            spare is not None
            and spare.is_dir()
            and not spare.is_symlink()
            and _same_device(spare, out)
        ):
            self._restore_spare(spare)
        # Another write since the recorded one, such as a local run's, rewrote the
        # record too, and its files are no hand edits.
        edited: list[str] | None = (
            []
            if self.ledger is not None
            and not _changed_since(str(out / RECORD), self.ledger.out.get(RECORD))
            else None
        )
        if out.exists():
            differing, self.same = _stale(
                out, files, self.ledger, self.out_tokens, edited
            )
            self.differing = set(differing)
        else:
            self.differing, self.same = set(files), {}
        if out.exists() and not self.differing:
            return WriteResult(
                (),
                (),
                unchanged=True,
                recorded=self._recorded_unchanged(),
                moved=tuple(self.moved),
            )
        if out.exists() and not out.is_dir():
            raise WriteError(f"{out} exists and is not a folder")
        present, folders = tree(out) if out.exists() else ([], [])
        self._reject_paths_in_the_way(set(present), set(folders))
        if spare is not None and not _same_device(spare, out):
            spare = None
        self.foreign_files = [
            relative
            for relative in present
            if relative not in self.previous
            and relative not in files
            and relative not in (RECORD, _RECORD_TEMP)
        ]
        # Path -> identities of each file of the user's and of its copy in the new
        # tree, taken when the copy is made.
        self.mirrored: dict[str, tuple[Identity, Identity]] = {}
        self.listed_folders = folders
        # The folders of the current tree, with their modes. Those that no file of the
        # last write was in belong to the user and stay, even when empty.
        self.folder_modes = _folder_modes(out, folders)
        written_in = folders_of(self.previous)
        self.foreign_folders = [f for f in folders if f not in written_in]
        if spare is None:
            self._write_through_staging()
            recorded = None
        else:
            existed = out.exists()
            reused = self._refresh(spare)
            self._swap(spare)
            listing = None
            if existed:
                with contextlib.suppress(OSError):
                    # Without a listing, the restore reports what stops it.
                    listing = _list(spare)
                self._restore_created_meanwhile(spare, listing)
                recorded = self._recorded(spare, reused)
            else:
                # A first write leaves an empty spare folder, which gets the new tree.
                recorded = self._mirror(spare)
            # Last, so that the next build finds what programs wrote there since.
            # Putting files back links them into `out` and leaves the spare folder's
            # entries as they were, so the listing taken before still holds.
            recorded = attrs.evolve(recorded, spare_times=folder_times(spare, listing))
        removed = tuple(sorted(self.previous - set(files)))
        return WriteResult(
            tuple(sorted(files)),
            removed,
            False,
            recorded,
            tuple(self.moved),
            tuple(edited or ()),
            # After the swap, the spare folder contains the old tree until the next write.
            spare,
        )

    def _write_through_staging(self) -> None:
        """Write the new tree into a temporary folder, swap it in and delete the old one.

        The old tree stays when some file of the user's in it could not be moved into
        `out`, and the next write tries again.
        """
        out = self.out
        staging = Path(
            tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}{out.name}-", dir=out.parent)
        )
        swapped = False
        try:
            _write_record(staging, self.files)
            self._fill(staging, {})
            self._swap(staging)
            swapped = True
            left = self._restore_created_meanwhile(staging)
        except BaseException:
            # Before the swap, the folder contains links and new files only.
            if not swapped:
                _delete_tree(staging)
            raise
        if not left:
            _delete_tree(staging)

    def _owned(self, old: Path, *more: Iterable[str]) -> set[str]:
        """Return the files of the old tree `old` that obscompile wrote."""
        return {*read_record(old), *self.previous, RECORD, _RECORD_TEMP}.union(*more)

    def _clean_leftovers(self) -> None:
        """Delete the temporary folders that killed writes left next to `out`.

        A folder that a write swapped with `out` before it was killed is an old tree,
        so the files of the user's in it are moved into `out` first.
        """
        out = self.out
        for leftover in out.parent.glob(f"{_TEMP_PREFIX}{out.name}-*"):
            if not leftover.is_dir() or leftover.is_symlink():
                continue
            found = restore(leftover, out, self._owned(leftover), {}, None, True)
            self.moved.extend(found)
            if all(moved.target is not None for moved in found):
                _delete_tree(leftover)

    def _restore_spare(self, spare: Path) -> None:
        """Move the files of the user's in the spare folder into `out`.

        A program whose working folder was inside `out` when a write swapped it away
        works in the spare folder from then on, and the refresh would delete its files.
        Raises WriteError for a file that cannot be moved, before anything is deleted.
        """
        assert self.ledger is not None
        self.spare_owned = self._owned(spare, self.ledger.spare_files)
        found, listing = _move_from_spare(
            spare, self.out, self.spare_owned, self.ledger
        )
        self.moved.extend(found)
        left = [moved for moved in found if moved.target is None]
        if left:
            names = ", ".join(f"{spare / m.name} ({m.reason})" for m in left[:5])
            raise WriteError(
                f"the build cache's copy of {self.out} contains files that obscompile "
                f"did not write and cannot move into {self.out}: {names}; move them "
                "into it yourself, then build again"
            )
        self.spare_tree = (listing.files, listing.folders)

    def _restore_created_meanwhile(
        self, old: Path, listing: _Listing | None = None
    ) -> bool:
        """Link the files created in `out` while it was written into the new `out`.

        `old` is the previous tree of `out`, swapped away, and `listing` its `_list`
        when the caller took one. Returns True when some file could not be put into
        `out` and stays in `old` alone.
        """
        try:
            found = restore(
                old,
                self.out,
                self._owned(old),
                self.mirrored,
                self.listed_folders,
                False,
                None if listing is None else (listing.files, listing.folders),
            )
        except OSError as exc:
            # The swap is done, so the write succeeded; the old tree stays.
            reason = exc.strerror or str(exc)
            found = [Moved(".", None, old, False, is_folder=True, reason=reason)]
        self.moved.extend(found)
        return any(moved.target is None for moved in found)

    def _reject_paths_in_the_way(self, present: set[str], folders: set[str]) -> None:
        """Raise if the current tree has files or folders that the new one cannot replace.

        `present` contains the files and symlinks of the current tree, and `folders`
        its real folders.
        """
        out, files, previous = self.out, self.files, self.previous
        # A file that already has the new bytes loses nothing when it is replaced,
        # which lets a build recover from a missing or damaged record.
        foreign = [
            name
            for name in sorted(files)
            if name not in previous
            and (name in folders or (name in present and name not in self.same))
        ]
        needed = folders_of(files)
        linked = sorted(
            folder
            for folder in needed
            if folder in present and (out / folder).is_symlink()
        )
        if linked:
            # The new tree would replace the link with a folder, and a write into a
            # temporary folder would copy the link and then write through it.
            listed = ", ".join(linked[:5]) + (" ..." if len(linked) > 5 else "")
            raise WriteError(
                f"{out} has symbolic links where obscompile writes folders: {listed}; "
                f"a build replaces {out} as a whole and does not write through links "
                f"inside it, so replace each link with a folder, or make {out} "
                "itself the link, then build again",
                out / linked[0],
            )
        blocked = sorted(
            folder
            for folder in needed
            if folder in present and not (out / folder).is_dir()
        )
        if blocked:
            raise _in_the_way(out, "has files where obscompile writes folders", blocked)
        # Only a file that differs can be a folder now; an empty folder is replaced.
        filled = sorted(
            name
            for name in self.differing
            if name in files and name in folders and any(os.scandir(out / name))
        )
        if filled:
            raise _in_the_way(out, "has folders where obscompile writes files", filled)
        if foreign:
            problem = (
                "already has files that obscompile did not write and would replace"
            )
            if not previous and os.path.lexists(out / RECORD):
                problem += f" (its {RECORD} is missing or invalid)"
            elif not previous:
                problem += (
                    f" (its {RECORD}, the list of what obscompile wrote, is missing)"
                )
            raise _in_the_way(out, problem, foreign)

    def _fill(self, staging: Path, reused: Mapping[str, FileState]) -> None:
        """Add every file the staging folder lacks: links where possible, else writes."""
        out, files = self.out, self.files
        for folder in self.foreign_folders:
            os.makedirs(staging / folder, exist_ok=True)
        for relative in self.foreign_files:
            original, copy = out / relative, staging / relative
            if _link_or_copy(original, copy):
                with contextlib.suppress(OSError):
                    self.mirrored[relative] = (
                        identity(os.lstat(original)),
                        identity(os.lstat(copy)),
                    )
        root, staged = str(out), str(staging)
        created_folders: set[str] = set()
        written: list[str] = []
        for name in files:
            if name in reused:
                continue
            target = os.path.join(staged, name)
            folder = os.path.dirname(target)
            if folder not in created_folders:
                os.makedirs(folder, exist_ok=True)
                created_folders.add(folder)
            if name in self.same and _link(os.path.join(root, name), target):
                # The previous build wrote these bytes; the new tree shares them.
                self.linked.add(name)
                continue
            try:
                with open(target, "w", encoding="utf-8", newline="") as handle:
                    handle.write(files[name])
                    # A default ACL of the folder may give the file other bits.
                    os.fchmod(handle.fileno(), self.mode)
            except OSError as exc:
                # The staging folder is an implementation detail; name the output.
                raise WriteError(
                    f"cannot write {out / name}: {exc.strerror or exc}"
                ) from exc
            written.append(name)
        _flush_to_disk(out, staged, written)
        _write_record(staging, files)
        for folder, mode in self.folder_modes.items():
            with contextlib.suppress(OSError):
                # The folder is gone from the new tree when none of its files stays.
                os.chmod(os.path.join(staged, folder), mode)

    def _refresh(self, spare: Path) -> dict[str, FileState]:
        """Bring the spare folder's tree up to the new one; return the files it reuses."""
        if os.path.lexists(spare) and (spare.is_symlink() or not spare.is_dir()):
            _remove(spare)
        spare.mkdir(exist_ok=True)
        assert self.ledger is not None
        recorded = self.ledger.spare_files
        root = str(spare)
        present, folders = self.spare_tree or tree(spare)
        # Before anything changes, the record lists every file that obscompile may
        # leave in the folder, for a refresh that is killed midway.
        _write_record(
            spare, self.spare_owned.union(self.files) - {RECORD, _RECORD_TEMP}
        )
        reused: dict[str, FileState] = {}
        for relative in present:
            if relative in (RECORD, _RECORD_TEMP):
                continue
            path = os.path.join(root, relative)
            result = _regular_stat(path) if relative in self.files else None
            if result is not None:
                token = self.tokens.get(relative)
                state = _known(path, token, recorded.get(relative), result)
                if state is None and relative not in self.same:
                    state = _same_bytes(path, self.files[relative], self.mode)
                if state is not None:
                    reused[relative] = state
                    continue
            # A file of the output folder that has the new text is linked in its
            # place, which costs less than reading the new text to compare it.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        # A folder where a file goes, and folders no file needs any more. The folders
        # of the new files stay, so they are not tried.
        needed = folders_of(self.files)
        for folder in sorted(folders, key=lambda f: f.count("/"), reverse=True):
            path = os.path.join(root, folder)
            if folder in self.files:
                shutil.rmtree(path)
                continue
            if folder in needed:
                continue
            with contextlib.suppress(OSError):
                # A folder that still contains files stays.
                os.rmdir(path)
        self._fill(spare, reused)
        return reused

    def _swap(self, staging: Path) -> None:
        """Put `staging` in place of `out`, with the mode of `out`.

        When the swap fails, `staging` gets its own mode back, so that a later write
        can update it.
        """
        out = self.out
        mode = stat.S_IMODE(os.lstat(staging).st_mode)
        if out.exists():
            os.chmod(staging, out.stat().st_mode & 0o7777)
        else:
            os.chmod(staging, 0o755)
            out.mkdir()
        try:
            if not _exchange(staging, out):
                # Fallback without an atomic swap: a short window without `out`.
                old = staging.with_name(staging.name + "-old")
                os.rename(out, old)
                os.rename(staging, out)
                os.rename(old, staging)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.chmod(staging, mode)
            # Moving a folder to another parent updates its "..", which needs write
            # access to it, and to both parents.
            read_only = read_only_error(out, (out, out.parent, staging.parent))
            if read_only is not None:
                raise read_only from exc
            raise

    def _mirror(self, spare: Path) -> Written:
        """Link the new tree into the spare folder, which the swap left empty.

        The next write then finds every unchanged file in the spare folder already.
        Linking gives each file a new ctime, so both trees are recorded after it.
        """
        out_root, spare_root = str(self.out), str(spare)
        created_folders: set[str] = set()
        # The record too, which lists for the next write what obscompile wrote there.
        for name in (*self.files, RECORD):
            target = os.path.join(spare_root, name)
            folder = os.path.dirname(target)
            if folder not in created_folders:
                os.makedirs(folder, exist_ok=True)
                created_folders.add(folder)
            _link(os.path.join(out_root, name), target)
        states = {
            name: _state(os.lstat(os.path.join(out_root, name)))
            for name in (*self.files, RECORD)
        }
        recorded = {
            name: (self.tokens.get(name, NO_TOKEN), states[name])
            for name in (*self.files, RECORD)
        }
        return Written(out=recorded, spare=dict(recorded), states=states)

    def _recorded_unchanged(self) -> Written | None:
        """Return the record of an unchanged `out`, with each file under its new token.

        The next write then reads no file whose inputs stay the same, and finds a
        later change to a file by its state. The spare folder keeps the ledger's
        record, or has none where no write made it yet, as in a new clone of a
        repository that contains `out/`. Returns None where the ledger lacks a part of
        the spare folder's record.
        """
        ledger = self.ledger
        if ledger is None:
            return None
        mirrors, spare_folders = ledger.mirrors, ledger.spare_folders
        if mirrors is None or spare_folders is None:
            if ledger.spare is None or os.path.lexists(ledger.spare):
                return None
            mirrors, spare_folders = {}, []
        try:
            record = _state(os.lstat(self.out / RECORD))
        except OSError:
            return None
        return Written(
            out={
                **{
                    name: (self.tokens.get(name, NO_TOKEN), state)
                    for name, state in self.same.items()
                },
                RECORD: (NO_TOKEN, record),
            },
            spare=dict(ledger.spare_files),
            states={**self.same, RECORD: record},
            mirrors=dict(mirrors),
            spare_folders=list(spare_folders),
            spare_times=(
                dict(ledger.spare_times) if ledger.spare_times is not None else None
            ),
        )

    def _recorded(self, spare: Path, reused: Mapping[str, FileState]) -> Written:
        """Record both trees after the swap: `out` is the new one, `spare` the old."""
        out_root, spare_root = str(self.out), str(spare)
        new: dict[str, tuple[str, FileState]] = {}
        states: dict[str, FileState] = {}
        for name in (*self.files, RECORD):
            if name in reused:
                state = reused[name]
            else:
                state = _state(os.lstat(os.path.join(out_root, name)))
            states[name] = state
            new[name] = (self.tokens.get(name, NO_TOKEN), state)
        old: dict[str, tuple[str, FileState]] = {}
        for name, token in self.out_tokens.items():
            known = self.same.get(name) if name not in self.linked else None
            if known is None:
                try:
                    known = _state(os.lstat(os.path.join(spare_root, name)))
                except OSError:
                    continue
            old[name] = (token, known)
        # The user's files that both trees have, for the next write's `restore`.
        copies = {name: name for name in self.mirrored}
        for moved in self.moved:
            if not moved.after_swap and not moved.is_folder and moved.target:
                copies[moved.name] = moved.target
        mirrors: dict[str, tuple[Identity, Identity]] = {}
        for name, target in copies.items():
            with contextlib.suppress(OSError):
                mirrors[name] = (
                    identity(os.lstat(os.path.join(spare_root, name))),
                    identity(os.lstat(os.path.join(out_root, target))),
                )
        folders = {*self.listed_folders, *folders_of(copies)}
        folders.update(
            moved.name
            for moved in self.moved
            if moved.is_folder and not moved.after_swap and moved.target
        )
        return Written(
            out=new,
            spare=old,
            states=states,
            mirrors=mirrors,
            spare_folders=sorted(f for f in folders if (spare / f).is_dir()),
        )
