"""Durable file writes: a temporary file in the same folder, fsynced, then renamed.

A reader (or a process killed half-way) sees the old file or the new one, never a part; after
the call returns the new file survives a crash of the machine too.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

# Read once, at import: os.umask can only be read by setting it, which races with threads.
_UMASK = os.umask(0)
os.umask(_UMASK)


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a rename or a new file inside ``path`` durable (a no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def temporary_beside(path: str | os.PathLike):
    """Yield a fresh temporary path beside ``path`` (removed unless it was renamed away)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it 0600; give it the mode open() would
    try:
        yield Path(tmp)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def fsync_file(path: str | os.PathLike) -> None:
    """Flush a written file's contents to disk."""
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def replace_durably(tmp: str | os.PathLike, path: str | os.PathLike,
                    mode: int | None = None) -> Path:
    """fsync ``tmp``, rename it onto ``path`` and fsync the folder; ``mode``: the file's
    permissions (default: what open() would give)."""
    os.chmod(tmp, 0o666 & ~_UMASK if mode is None else mode)
    fsync_file(tmp)
    os.replace(tmp, path)
    fsync_dir(Path(path).parent)
    return Path(path)


def write_durably(path: str | os.PathLike, data: bytes | str, mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` atomically and durably (``mode`` as in replace_durably)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with temporary_beside(path) as tmp:
        tmp.write_bytes(raw)
        return replace_durably(tmp, path, mode)
