"""Sign the build cache's files, so that a build reads back only what this user wrote.

The cache stores pickles, and unpickling runs whatever code the data names. A project's
`.obscompile-cache/` can arrive with a checkout, for example in a commit of a pull
request. So each file starts with an HMAC-SHA256 of its data under a random key that
lives in the user's cache folder, outside every project, and a build reads a file whose
MAC does not verify as missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import tempfile
from pathlib import Path

KEY_FILE = "cache-key"
KEY_SIZE = 32
MAC_SIZE = hashlib.sha256().digest_size


def user_key(folder: Path) -> bytes | None:
    """Return the key in `folder`, creating it on first use; None when unusable.

    Two builds that start at once both try to create the key, and both read the one
    that was linked into place first.
    """
    path = folder / KEY_FILE
    try:
        return _trusted(path)
    except FileNotFoundError:
        pass
    except OSError:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    except OSError:
        return None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(secrets.token_bytes(KEY_SIZE))
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
        return _trusted(path)
    except OSError:
        return None
    finally:
        Path(temporary).unlink(missing_ok=True)


def _trusted(path: Path) -> bytes | None:
    """Return the key in `path` if only this user could have written it, else None.

    A key that another user owns or that every user may write, or that sits in such
    a folder, could have been planted to sign a forged cache file.
    """
    for checked in (path.parent, path):
        status = checked.stat()
        if status.st_uid != os.getuid() or status.st_mode & 0o002:
            return None
    if not path.is_file():
        return None
    key = path.read_bytes()
    return key if len(key) == KEY_SIZE else None


def seal(data: bytes, key: bytes) -> bytes:
    """Return `data` with its MAC in front."""
    return hmac.new(key, data, hashlib.sha256).digest() + data


def unseal(sealed: bytes, key: bytes) -> bytes | None:
    """Return the data of `sealed`, or None when its MAC is not that of `key`."""
    mac, data = sealed[:MAC_SIZE], sealed[MAC_SIZE:]
    expected = hmac.new(key, data, hashlib.sha256).digest()
    return data if hmac.compare_digest(mac, expected) else None
