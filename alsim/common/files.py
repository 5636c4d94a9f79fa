"""Files the user reads: written whole (a temporary file renamed into place) with ordinary permissions."""

from __future__ import annotations

import os
import secrets
from typing import IO, Callable


def replace_atomically(path, write: Callable[[IO[bytes]], None]) -> str:
    """Write ``path`` by ``write(stream)`` into a new file beside it, renamed into place; returns the path.

    A reader never sees half a file, and an interrupted write leaves the old one. Unlike
    ``tempfile.mkstemp`` (owner-only, 0600), the new file gets the permissions any file made
    here gets (0666 less the umask), so a report or an exported image is as readable as the
    user's other files, e.g. by a web server or Label Studio running as another user.
    """
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    for _ in range(100):
        temporary = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
        try:
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"no free temporary name beside {path}")
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return os.path.abspath(path)
