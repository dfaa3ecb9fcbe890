"""Durable file writes: a temporary file in the same folder, fsynced, then renamed.

A reader (or a process killed half-way) sees the old file or the new one, never a part; after
the call returns the new file survives a crash of the machine too.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import filelock

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


def check_writable_dir(path: str | os.PathLike, names=(), flag: str = "--out") -> None:
    """Refuse, before any work, an output folder that cannot be made or written.

    ``names`` are the files that will be written in it: one that exists as a folder is refused
    too. Nothing is left behind (a probe folder is made and removed in the nearest existing
    ancestor).

    Raises
    ------
    ConfigError
        One line naming ``flag``.
    """
    from trustml.errors import ConfigError

    path = Path(path)
    for name in names:
        if (path / name).is_dir():
            raise ConfigError(f"{flag}: {path / name} is a folder, where the {name} file goes; "
                              "remove it or choose another folder")
    base = path
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise ConfigError(f"{flag}: {base} is a file, not a folder; choose a folder path")
    try:
        os.rmdir(tempfile.mkdtemp(dir=base, prefix=".trustml-probe-"))
    except OSError as exc:
        raise ConfigError(f"{flag}: cannot write in {base} ({exc.strerror or type(exc).__name__})"
                          "; choose a folder you can write") from None


def write_set(out: str | os.PathLike, files: dict[str, str | bytes]) -> dict[str, Path]:
    """Write ``files`` (name -> content) under the folder ``out``: all of them or none.

    They are written and fsynced in a temporary folder beside ``out``; a new ``out`` is that
    folder renamed, an existing one gets each file by rename, the files it held before put
    back if one rename fails. Returns name -> path.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part"))
    try:
        for name, data in files.items():
            (stage / name).write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
            os.chmod(stage / name, 0o666 & ~_UMASK)
            fsync_file(stage / name)
        if not out.exists():
            os.chmod(stage, 0o777 & ~_UMASK)
            os.rename(stage, out)
            fsync_dir(out.parent)
        else:
            _swap_in(stage, out, list(files))
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
    return {name: out / name for name in files}


def _swap_in(stage: Path, out: Path, names: list[str]) -> None:
    """Rename each staged file onto ``out``, keeping the old ones in ``stage`` until all are
    in; on a failure, the old files go back and the new ones are removed."""
    done = []
    try:
        for name in names:
            target = out / name
            if target.exists():
                os.replace(target, stage / f"{name}.old")
            done.append(name)
            os.replace(stage / name, target)
    except OSError:
        for name in reversed(done):
            target, old = out / name, stage / f"{name}.old"
            if not (stage / name).exists() and target.exists():
                target.unlink()
            if old.exists():
                os.replace(old, target)
        raise
    fsync_dir(out)


@contextmanager
def exclusive(path: Path, busy: Exception):
    """Hold the lock file ``path`` for the block, on any OS (``filelock``: ``flock`` on POSIX,
    ``msvcrt`` on Windows); raise ``busy`` at once if another holder has it. The OS drops
    the lock when its process dies, so a killed run never leaves a stale lock."""
    lock = filelock.FileLock(path, timeout=0, thread_local=False)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise busy from None
    try:
        yield
    finally:
        lock.release()
