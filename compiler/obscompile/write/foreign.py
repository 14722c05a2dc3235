"""Move the files obscompile did not write out of an old tree of the output folder.

A write swaps a new tree in place of the output folder (see `obscompile.write.atomic`).
The old tree becomes the cache's spare folder, or a temporary folder that the write
deletes. A file that obscompile did not write can end up in the old tree alone:

- when it was created in the output folder after the write listed the folder and
  before the swap, or replaced there by a rename, as git replaces its refs;
- when a program whose working folder was inside the output folder wrote it after
  the swap, because such a program stays in the old tree.

`restore` puts these files into the output folder: it links the first kind in right
after the swap and moves the second kind before the old tree is reused or deleted.
The other files of the old tree are those obscompile wrote, listed in its record, and
those that the new tree has a hard link or a copy of.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import filecmp
import os
import stat
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

import attrs

# (inode, size, mtime_ns): a file with the same identity was neither replaced nor
# written since. A new hard link or a rename of another link changes the ctime of a
# file, so the ctime is left out.
Identity = tuple[int, int, int]
# Path -> (identity of the user's file in the old tree, identity of the hard link or
# copy of it in the new tree), recorded when the write made the copy.
Mirrors = Mapping[str, tuple[Identity, Identity]]

_AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
# Suffix of the name that a moved file gets when the output folder has another file
# at its path.
KEPT_SUFFIX = ".obscompile-kept"
_MAX_KEPT = 100
# Suffix of the hard link that replaces a file of the output folder, made next to it.
_LINK_SUFFIX = ".obscompile-link"


@attrs.frozen
class Moved:
    """A file or folder of the user's that was in an old tree of the output folder."""

    # Its path in the old tree, relative to it.
    name: str
    # Its path in the output folder now, or None when it could not be put there.
    target: str | None
    # The old tree's folder, which keeps the entry when `target` is None.
    old: Path
    # True when it was written after the swap, by a program working in the old tree.
    after_swap: bool
    is_folder: bool = False
    # Why it could not be put into the output folder.
    reason: str = ""


def identity(result: os.stat_result) -> Identity:
    return (result.st_ino, result.st_size, result.st_mtime_ns)


def renameat2(source: Path | str, target: Path | str, flags: int) -> bool:
    """Call Linux's `renameat2`, or return False where the kernel or C library lacks it.

    Raises OSError with the call's errno, such as FileExistsError for
    `RENAME_NOREPLACE`.
    """
    # The process's own symbols include the C library's, without a library search.
    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "renameat2"):
        return False
    result = libc.renameat2(
        _AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), flags
    )
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.ENOTSUP) or (
        code == errno.EINVAL and flags == RENAME_NOREPLACE
    ):
        # EINVAL: the file system does not support the flag.
        return False
    raise OSError(code, os.strerror(code), os.fsdecode(source), None, str(target))


def rename_no_replace(source: Path | str, target: Path | str) -> None:
    """Rename `source` to `target`, raising FileExistsError when `target` exists."""
    if renameat2(source, target, RENAME_NOREPLACE):
        return
    # NOTE: without RENAME_NOREPLACE, a file created at `target` between the check
    # and the rename is replaced.
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target))
    os.rename(source, target)


def tree(root: Path) -> tuple[list[str], list[str]]:
    """Return the files and symlinks below `root`, sorted, and its real folders.

    Every folder comes after the folder that contains it.
    """
    found: list[str] = []
    folders_found: list[str] = []
    pending = [(str(root), "")]
    while pending:
        folder, prefix = pending.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                relative = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    folders_found.append(relative)
                    pending.append((entry.path, relative + "/"))
                else:
                    found.append(relative)
    found.sort()
    return found, folders_found


def folders_of(names: Iterable[str]) -> set[str]:
    """Return every folder, at any depth, that contains one of the relative `names`."""
    found: set[str] = set()
    for name in names:
        folder = name.rpartition("/")[0]
        while folder and folder not in found:
            found.add(folder)
            folder = folder.rpartition("/")[0]
    return found


def make_writable(root: Path, folders: Iterable[str]) -> None:
    """Give the owner write access to `root` and its `folders`, where they lack it.

    An old tree keeps the modes of the output folder's folders, and a read-only one
    would stop a write from updating or deleting the tree.
    """
    base = str(root)
    for folder in (None, *folders):
        path = base if folder is None else os.path.join(base, folder)
        try:
            mode = stat.S_IMODE(os.lstat(path).st_mode)
            if mode & 0o700 != 0o700:
                os.chmod(path, mode | 0o700)
        except OSError:
            continue


def restore(
    old: Path,
    out: Path,
    owned: Collection[str],
    mirrors: Mirrors | None,
    folders: Collection[str] | None,
    after_swap: bool,
    listing: tuple[list[str], list[str]] | None = None,
) -> list[Moved]:
    """Put every entry of `old` that is the user's alone into `out`.

    `owned` lists the files obscompile wrote in `old`, `mirrors` the user's files
    that `out` got a copy of, and `folders` the folders `old` had when the copies
    were made. With `folders` None, no folder counts as new. `listing` is `tree(old)`
    when the caller has it. A file that `out` has another version of gets a name
    ending in `KEPT_SUFFIX`, except when that version is the copy recorded in
    `mirrors`, which the user replaced in `old` since. With `mirrors` None, as
    after a write of an earlier version, every file that `out` has a version of
    counts as copied and is left in `old`.

    With `after_swap`, the entries are moved, because the caller reuses or deletes
    `old` next. Otherwise they are hard-linked where possible: a program that is
    still working in `old` goes on seeing its files there.
    """
    restorer = _Restorer(old, out, after_swap, mirrors is None)
    return restorer.restore(owned, mirrors or {}, folders, listing)


@attrs.define
class _Restorer:
    old: Path
    out: Path
    after_swap: bool
    # True when no write recorded which files of `old` the new tree has copies of.
    copies_unknown: bool

    def restore(
        self,
        owned: Collection[str],
        mirrors: Mirrors,
        folders: Collection[str] | None,
        listing: tuple[list[str], list[str]] | None,
    ) -> list[Moved]:
        old, out = self.old, self.out
        files, old_folders = listing if listing is not None else tree(old)
        done: list[Moved] = []
        # Folders that `out` lacked. A folder moved whole takes its files along.
        created: set[str] = set()
        if folders is not None:
            known = set(folders) | folders_of(owned)
            for folder in sorted(old_folders):
                if folder in known or _inside(folder, created):
                    continue
                if os.path.lexists(out / folder):
                    continue
                found = self._folder(folder)
                done.append(found)
                if found.target is not None:
                    created.add(folder)
        for name in files:
            if name in owned or (self.after_swap and _inside(name, created)):
                continue
            placed = self._file(name, mirrors.get(name))
            if placed is not None:
                done.append(placed)
        return done

    def _folder(self, folder: str) -> Moved:
        """Move a folder into `out` whole, or create it there to link its files into."""
        try:
            if self.after_swap:
                _make_parents(self.old, self.out, folder)
                rename_no_replace(self.old / folder, self.out / folder)
            else:
                _make_parents(self.old, self.out, folder + "/")
        except OSError as exc:
            return self._failed(folder, exc, is_folder=True)
        return Moved(folder, folder, self.old, self.after_swap, is_folder=True)

    def _file(
        self, name: str, mirror: tuple[Identity, Identity] | None
    ) -> Moved | None:
        """Put one file of the old tree into `out`, unless `out` has it already."""
        source, target = self.old / name, self.out / name
        try:
            result = os.lstat(source)
        except OSError:
            return None
        if mirror is not None and identity(result) == mirror[0]:
            # The user's file as it was when the new tree got its copy.
            return None

        try:
            present: os.stat_result | None = os.lstat(target)
        except FileNotFoundError:
            present = None
        except OSError as exc:
            # A file of `out` where `old` has a folder.
            return self._failed(name, exc)
        if present is not None and _same_file(source, result, target, present):
            return None
        if present is not None and self.copies_unknown:
            # NOTE: this loses a version that a program in the old tree wrote, as
            # writes did before they recorded their copies.
            return None

        replace = (
            present is not None
            and mirror is not None
            and not stat.S_ISDIR(present.st_mode)
            and identity(present) == mirror[1]
        )
        # Without `replace`, `out` has another version of the file, so both stay.
        candidates = [name] if present is None or replace else []
        candidates += [name + KEPT_SUFFIX] + [
            f"{name}{KEPT_SUFFIX}-{number}" for number in range(2, _MAX_KEPT + 1)
        ]

        try:
            _make_parents(self.old, self.out, name)
            for candidate in candidates:
                try:
                    self._place(source, self.out / candidate, replace)
                except FileExistsError:
                    replace = False
                    continue
                return Moved(name, candidate, self.old, self.after_swap)
        except OSError as exc:
            return self._failed(name, exc)
        return Moved(
            name, None, self.old, self.after_swap, reason="every free name is taken"
        )

    def _place(self, source: Path, target: Path, replace: bool) -> None:
        """Put `source` at `target`, raising FileExistsError when it exists and not `replace`."""
        if not self.after_swap:
            link = target
            if replace:
                link = target.with_name(f".{target.name}{_LINK_SUFFIX}")
                # A write killed before the rename below leaves the link.
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(link)
            try:
                os.link(source, link, follow_symlinks=False)
            except FileExistsError:
                if not replace:
                    raise
            except OSError:
                pass  # A file the user may not hard-link is moved below.
            else:
                if replace:
                    os.replace(link, target)
                return
        if replace:
            os.replace(source, target)
        else:
            rename_no_replace(source, target)

    def _failed(self, name: str, exc: OSError, is_folder: bool = False) -> Moved:
        reason = exc.strerror or str(exc)
        return Moved(name, None, self.old, self.after_swap, is_folder, reason)


def _inside(name: str, folders: set[str]) -> bool:
    """Tell whether one of `folders` contains the relative path `name`."""
    folder = name.rpartition("/")[0]
    while folder:
        if folder in folders:
            return True
        folder = folder.rpartition("/")[0]
    return False


def _same_file(
    source: Path, result: os.stat_result, target: Path, present: os.stat_result
) -> bool:
    """Tell whether two entries are one file, equal symlinks or equal regular files."""
    if (result.st_dev, result.st_ino) == (present.st_dev, present.st_ino):
        return True
    if stat.S_ISLNK(result.st_mode) and stat.S_ISLNK(present.st_mode):
        try:
            return os.readlink(source) == os.readlink(target)
        except OSError:
            return False
    if (
        stat.S_ISREG(result.st_mode)
        and stat.S_ISREG(present.st_mode)
        and result.st_size == present.st_size
    ):
        try:
            return filecmp.cmp(source, target, shallow=False)
        except OSError:
            return False
    return False


def _make_parents(old: Path, out: Path, name: str) -> None:
    """Create the folders of `out` that `name` needs, with the modes they have in `old`."""
    # The user may have deleted `out` itself since the last build.
    out.mkdir(exist_ok=True)
    parts = name.split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        folder = "/".join(parts[:depth])
        try:
            os.mkdir(out / folder)
        except FileExistsError:
            if not (out / folder).is_dir() or (out / folder).is_symlink():
                raise NotADirectoryError(
                    errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(out / folder)
                ) from None
            continue
        try:
            os.chmod(out / folder, stat.S_IMODE(os.lstat(old / folder).st_mode))
        except OSError:
            continue
