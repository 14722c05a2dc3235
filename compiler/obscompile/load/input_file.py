"""Read a project's files with a byte limit for each kind of file.

A project may come from a checkout that someone else wrote, so any of its files may be
a symbolic link to /dev/zero, a named pipe or a file of gigabytes. Each file is checked
to be a regular file before it is opened, and no read takes more than the limit of its
kind plus one byte. A file that fails either check raises InputFileError, which gives
the diagnostic to report at the file's line 1, column 1.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

import attrs

from obscompile.diagnostics import Diagnostic, ObscompileError, error
from obscompile.model.location import Location

MIB = 1024 * 1024


@attrs.frozen
class FileKind:
    """A kind of file that obscompile reads, with its name in messages and its limit.

    `size_check` is the check of the error for a file over `max_bytes`. `needs` is
    what a YAML file of this kind must contain, for the error about an empty one.
    """

    noun: str
    max_bytes: int
    size_check: str = "io/limits"
    needs: str | None = None


MANIFEST = FileKind("manifest", 5 * MIB, "yaml/limits", needs="`service:`")
CONFIG = FileKind("configuration file", 1 * MIB, "yaml/limits")
PYTHON_MODULE = FileKind("Python module", 5 * MIB)
TEMPLATE = FileKind("template", 1 * MIB)
# The hand-written promtool tests and the rule files that they name, which obscompile
# parses with the manifests' YAML reader.
PROMTOOL_TEST = FileKind(
    "promtool test file", 5 * MIB, needs="`rule_files:` and `tests:`"
)
RULE_FILE = FileKind("rule file", 5 * MIB, needs="`groups:`")
# The records that a build writes in the output folder, such as the list of its files.
OUTPUT_RECORD = FileKind("output record", 64 * MIB)
# The files of the project's build cache, which a build reads as missing when they are
# larger. The largest is the index, which contains the text of every manifest of the
# last build: about 10 MB for 1,000 manifests of 30 panels.
CACHE_FILE = FileKind("build cache file", 256 * MIB)
# Files that the build cache hashes but obscompile does not read, such as the data files
# of blocks/. A larger file is keyed by its size, times and inode (see `digest_bytes`).
HASHED_FILE = FileKind("hashed file", 16 * MIB)


class InputFileError(ObscompileError):
    """A file that cannot be read: not a regular file, too large, or an OSError."""

    def __init__(self, path: str | Path, message: str, check: str) -> None:
        super().__init__(message)
        self.path = str(path)
        self.message = message
        self.check = check

    def diagnostic(self, display: str) -> Diagnostic:
        """Return the error at line 1, column 1 of the file named `display`."""
        return error(Location(display, 1, 1), self.message, self.check)


def _file_type(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _not_regular(path: str | Path, mode: int, noun: str) -> InputFileError:
    what = _file_type(mode)
    if os.path.islink(path):
        what = f"a symbolic link to {os.path.realpath(path)}, which is {what}"
    return InputFileError(
        path,
        f"cannot read {noun}: it is {what}, not a regular file; replace it with "
        "a regular file",
        "io/not-a-file",
    )


def _too_large(path: str | Path, size: int | None, kind: FileKind) -> InputFileError:
    found = "larger" if size is None else f"{size} bytes, larger"
    return InputFileError(
        path,
        f"file is {found} than the {kind.max_bytes}-byte limit for a {kind.noun}",
        kind.size_check,
    )


def _os_error(path: str | Path, exc: OSError, noun: str) -> InputFileError:
    reason = exc.strerror or str(exc)
    if isinstance(exc, FileNotFoundError) and os.path.islink(path):
        reason = f"it is a symbolic link to {os.readlink(path)}, which is missing"
    return InputFileError(path, f"cannot read {noun}: {reason}", "io/read")


def open_regular(path: str | Path, noun: str) -> tuple[BinaryIO, os.stat_result]:
    """Open the regular file `path` for reading, and return it with its status.

    `noun` names the kind of file in errors, such as "manifest".
    The status is checked before the file is opened, so no device is opened, and again
    on the open file, which a named pipe that replaced the file in between fails.
    Raises InputFileError for a file that is not regular, and for an OSError.
    """
    try:
        found = os.stat(path)
        if not stat.S_ISREG(found.st_mode):
            raise _not_regular(path, found.st_mode, noun)
        # O_NONBLOCK makes the open of a named pipe return at once instead of waiting
        # for a writer. It has no effect on a regular file.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise _os_error(path, exc, noun) from None
    stream = os.fdopen(descriptor, "rb")
    try:
        opened = os.fstat(descriptor)
    except OSError as exc:
        stream.close()
        raise _os_error(path, exc, noun) from None
    if not stat.S_ISREG(opened.st_mode):
        stream.close()
        raise _not_regular(path, opened.st_mode, noun)
    return stream, opened


def read_input_bytes(path: str | Path, kind: FileKind) -> bytes:
    """Return the bytes of the regular file `path`, at most `kind.max_bytes` of them.

    Raises InputFileError for a file that is not regular or is larger than the limit,
    also one that grows past it while it is read, and for an OSError.
    """
    stream, found = open_regular(path, kind.noun)
    with stream:
        if found.st_size > kind.max_bytes:
            raise _too_large(path, found.st_size, kind)
        # A read of the limit plus one byte would allocate a buffer of the limit
        # for every file, so the first read requests the size that the status gave,
        # plus one byte to see whether the file grew since.
        first = found.st_size + 1
        try:
            data = stream.read(first)
            if len(data) == first:
                data += stream.read(kind.max_bytes + 1 - first)
        except OSError as exc:
            raise _os_error(path, exc, kind.noun) from None
    if len(data) > kind.max_bytes:
        raise _too_large(path, None, kind)
    return data


def read_input_text(path: str | Path, kind: FileKind, errors: str = "strict") -> str:
    """Return the UTF-8 text of `path`, read as `read_input_bytes` reads it.

    With the default `errors`, text that is not UTF-8 raises UnicodeDecodeError.
    """
    return read_input_bytes(path, kind).decode("utf-8", errors=errors)


def digest_bytes(path: str | Path, kind: FileKind = HASHED_FILE) -> bytes:
    """Return the bytes that represent `path` in a digest of the build cache's inputs.

    These are the file's own bytes when it is a regular file within `kind`'s limit.
    Any other file is represented by its type, size, modification and change times and
    inode, so its contents are never read, and the loader reports it if it reads the
    file. The two forms start with different tags, so neither can equal the other.
    Raises OSError when the file's status cannot be read.
    """
    found = os.stat(path)
    if stat.S_ISREG(found.st_mode) and found.st_size <= kind.max_bytes:
        try:
            return b"bytes\0" + read_input_bytes(path, kind)
        except InputFileError:
            # The file changed after the stat above, so its new status represents it.
            found = os.stat(path)
    state = (
        found.st_mode,
        found.st_size,
        found.st_mtime_ns,
        found.st_ctime_ns,
        found.st_ino,
    )
    return b"status\0" + repr(state).encode("ascii")
