"""Replace the contents of an output folder atomically, touching only files obscompile wrote.

The new tree is assembled in a sibling temporary folder: every file the previous
build did not write is hard-linked (or copied) into it, and so is every artifact
whose bytes did not change; the other artifacts are written next to them, and the two folders are swapped with one `renameat2(RENAME_EXCHANGE)`
call. A build killed at any moment leaves either the previous complete folder or the
new one. A record in the folder lists what obscompile wrote, so a later build
removes the artifacts it no longer produces and nothing else.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import attrs

from obscompile.diagnostics import ObscompileError

RECORD = ".obscompile-files.json"
_TEMP_PREFIX = ".obscompile-tmp-"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


class WriteError(ObscompileError, OSError):
    """The output folder could not be written."""


@attrs.frozen
class WriteResult:
    written: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: bool


def _safe_relative(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts or name != str(path):
        raise WriteError(f"refusing to write {name!r} outside the output folder")
    return path


def read_record(out: Path) -> list[str]:
    """Return the files the previous build recorded, or an empty list."""
    try:
        data = json.loads((out / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    files = data.get("files", []) if isinstance(data, dict) else []
    return [f for f in files if isinstance(f, str)]


def record_text(files: Mapping[str, str]) -> str:
    body = {"generator": "obscompile", "files": sorted(files)}
    return json.dumps(body, indent=2) + "\n"


def stale_files(out: Path, files: Mapping[str, str]) -> list[str]:
    """List the files that differ from what a build would write, and the ones it removes."""
    for name in files:
        _safe_relative(name)
    return _stale(out, files)


def _stale(out: Path, files: Mapping[str, str]) -> list[str]:
    differing = []
    root = str(out)
    for name, text in sorted(files.items()):
        data = text.encode("utf-8")
        try:
            with open(os.path.join(root, name), "rb") as handle:
                same = os.fstat(handle.fileno()).st_size == len(data)
                same = same and handle.read() == data
        except OSError:
            same = False
        if not same:
            differing.append(name)
    for name in read_record(out):
        if name not in files and (out / name).exists():
            differing.append(name)
    if not differing and (
        not (out / RECORD).exists() or read_record(out) != sorted(files)
    ):
        differing.append(RECORD)
    return differing


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; return False where the kernel cannot."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    if not hasattr(libc, "renameat2"):
        return False
    result = libc.renameat2(
        _AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE
    )
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise WriteError(f"cannot swap {a} and {b}: {os.strerror(code)}")


@contextmanager
def build_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on the output folder's parent for one build."""
    parent = out.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(parent, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)


def _clean_leftovers(parent: Path, out_name: str) -> None:
    for leftover in parent.glob(f"{_TEMP_PREFIX}{out_name}-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_symlink():
        os.symlink(os.readlink(source), target)
        return
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _tree_files(root: Path) -> list[str]:
    """Return the relative path of every file and symlink below `root`, sorted."""
    found = []
    for folder, folders, names in os.walk(root):
        base = os.path.relpath(folder, root)
        prefix = "" if base == "." else base.replace(os.sep, "/") + "/"
        for name in folders:
            if os.path.islink(os.path.join(folder, name)):
                found.append(prefix + name)
        found.extend(prefix + name for name in names)
    return sorted(found)


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


def write_tree(out: Path, files: Mapping[str, str]) -> WriteResult:
    """Make `out` hold exactly `files` plus every file obscompile did not write."""
    for name in files:
        _safe_relative(name)
    out = out.absolute()
    with build_lock(out):
        parent = out.parent
        _clean_leftovers(parent, out.name)
        previous = set(read_record(out))
        differing = set(_stale(out, files)) if out.exists() else set(files)
        if out.exists() and not differing:
            return WriteResult((), (), unchanged=True)
        if out.exists() and not out.is_dir():
            raise WriteError(f"{out} exists and is not a folder")
        foreign = [
            name
            for name in sorted(files)
            if name not in previous and (out / name).exists()
        ]
        folders: set[str] = set()
        for name in files:
            folder = name.rpartition("/")[0]
            while folder and folder not in folders:
                folders.add(folder)
                folder = folder.rpartition("/")[0]
        blocked = sorted(
            folder
            for folder in folders
            if os.path.lexists(out / folder) and not (out / folder).is_dir()
        )
        if blocked:
            raise _in_the_way(out, "has files where obscompile writes folders", blocked)
        # Only a file that differs can be a folder now; an empty folder is replaced.
        filled = sorted(
            name
            for name in differing
            if name in files
            and os.path.isdir(out / name)
            and not os.path.islink(out / name)
            and any(os.scandir(out / name))
        )
        if filled:
            raise _in_the_way(out, "has folders where obscompile writes files", filled)
        if foreign:
            raise _in_the_way(
                out,
                "already has files that obscompile did not write and would replace",
                foreign,
            )

        staging = Path(
            tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}{out.name}-", dir=parent)
        )
        try:
            created_folders: set[str] = set()
            if out.exists():
                for relative in _tree_files(out):
                    if relative in previous or relative in files or relative == RECORD:
                        continue
                    _link_or_copy(out / relative, staging / relative)
            root, staged = str(out), str(staging)
            for name, text in files.items():
                target = os.path.join(staged, name)
                folder = os.path.dirname(target)
                if folder not in created_folders:
                    os.makedirs(folder, exist_ok=True)
                    created_folders.add(folder)
                unchanged = name in previous and name not in differing
                if unchanged and _link(os.path.join(root, name), target):
                    # The previous build wrote these bytes; the new tree shares them.
                    continue
                try:
                    with open(target, "w", encoding="utf-8", newline="") as handle:
                        handle.write(text)
                        handle.flush()
                        os.fsync(handle.fileno())
                except OSError as exc:
                    # The staging folder is an implementation detail; name the output.
                    raise WriteError(
                        f"cannot write {out / name}: {exc.strerror or exc}"
                    ) from exc
            (staging / RECORD).write_text(record_text(files), encoding="utf-8")
            if out.exists():
                os.chmod(staging, out.stat().st_mode & 0o7777)
            else:
                os.chmod(staging, 0o755)
                out.mkdir()
            if not _exchange(staging, out):
                # Fallback without an atomic swap: a short window without `out`.
                old = staging.with_name(staging.name + "-old")
                os.rename(out, old)
                os.rename(staging, out)
                staging = old
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        removed = tuple(sorted(previous - set(files)))
        return WriteResult(tuple(sorted(files)), removed, unchanged=False)
