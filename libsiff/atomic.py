"""Atomic file writes, the one way libsiff and siffviewer write files (and set files aside).

Data go to a temporary file in the destination folder, are flushed and fsynced, then the
temporary file is renamed over the target and the folder is fsynced, so a crash or an error
never leaves a half-written file (and the old file survives a failed write). A replaced
file keeps its permission bits; a new one gets ``0o666`` minus the umask.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .errors import SiffArgumentError

__all__ = ["AtomicFile", "atomic_open", "atomic_path", "set_aside_damaged", "DAMAGED_SUFFIX"]

#: what :func:`set_aside_damaged` appends to a file's name (before a UTC time stamp)
DAMAGED_SUFFIX = ".damaged"


def _default_mode() -> int:
    """``0o666`` minus the process umask (what ``open()`` would give a new file)."""
    try:  # Linux: read it without changing it (os.umask would race with other threads)
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _mode_for(path: Path) -> int:
    """The permission bits ``path`` keeps when replaced, or a new file's."""
    return path.stat().st_mode & 0o777 if path.exists() else _default_mode()


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (no-op where folders cannot be opened)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AtomicFile:
    """A temporary file beside ``path`` that replaces ``path`` on :meth:`commit`.

    Parameters
    ----------
    path : str or os.PathLike
        The file to create or replace.
    mode : str
        ``"wb"`` (default) or ``"w"`` (text).
    **kwargs
        Passed to :func:`os.fdopen` (``encoding``, ``newline``, ``buffering``...).

    Attributes
    ----------
    file : file object
        The open temporary file; write to it, then call :meth:`commit` or :meth:`discard`.
    """

    def __init__(self, path: str | os.PathLike, mode: str = "wb", **kwargs):
        if mode not in ("wb", "w"):
            raise SiffArgumentError(f"mode must be 'wb' or 'w', not {mode!r}")
        self.path = Path(path)
        self.done = False
        keep = _mode_for(self.path)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part",
                                   dir=self.path.parent)
        self.temp_path = Path(tmp)
        try:
            if hasattr(os, "fchmod"):  # mkstemp makes 0600: give the file the usual bits
                os.fchmod(fd, keep)
            self.file: IO = os.fdopen(fd, mode, **kwargs)
        except BaseException:
            os.close(fd)
            self.temp_path.unlink(missing_ok=True)
            raise

    def commit(self) -> None:
        """Flush and fsync the data, rename over ``path``, fsync the folder. Idempotent."""
        if self.done:
            return
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            os.replace(self.temp_path, self.path)
        except BaseException:
            self.discard()
            raise
        self.done = True
        _fsync_directory(self.path.parent)

    def discard(self) -> None:
        """Close and delete the temporary file; ``path`` is left as it was. Idempotent."""
        self.done = True
        with contextlib.suppress(OSError):
            self.file.close()
        self.temp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", **kwargs) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on a clean exit it replaces ``path``.

    ``mode`` is ``"wb"`` or ``"w"`` (text; ``kwargs`` go to :func:`open`, e.g. encoding).
    On an exception the temporary file is deleted and ``path`` is untouched."""
    target = AtomicFile(path, mode, **kwargs)
    try:
        yield target.file
    except BaseException:
        target.discard()
        raise
    target.commit()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix) for a library that writes by name.

    The by-name twin of :func:`atomic_open` for writers that need a path (tifffile, HDF5,
    ffmpeg), with the same guarantees: on a clean exit the file is fsynced, given the mode
    ``path`` had (or ``0o666`` minus the umask), renamed over ``path`` and the folder is
    fsynced; on an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    keep = _mode_for(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".part" + path.suffix,
                               dir=path.parent)
    os.close(fd)
    temp_path = Path(tmp)
    try:
        yield temp_path
        with open(temp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(temp_path, keep)
        os.replace(temp_path, path)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def set_aside_damaged(path: str | os.PathLike) -> Path:
    """Rename a damaged file to ``<name>.damaged-<UTC time>`` beside it and return the new path.

    The file is kept (a user may want to look at it) but no longer found by its name; a
    counter is appended when that name is taken. Raises OSError when it cannot be renamed.
    """
    path = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}{DAMAGED_SUFFIX}-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}{DAMAGED_SUFFIX}-{stamp}-{n}")
        n += 1
    os.replace(path, target)
    return target
