"""Safe reading of the app's ``.npz`` sidecars (sessions and legacy masks files).

``np.load`` trusts a file: a member whose header claims 2 TiB is allocated, a text file
gives numpy's pickle message. :func:`read_npz` opens the zip itself, checks every member's
npy header against the bytes the zip says it holds before reading it, never unpickles, and
raises :class:`SidecarError` (naming the file and the problem) for anything malformed.
:func:`set_aside` renames a damaged sidecar (never deletes it). Qt-free.
"""

from __future__ import annotations

import datetime as _dt
import zipfile
from pathlib import Path

import numpy as np

#: the largest member read from a sidecar (uncompressed), far above any real ROI stack
MAX_MEMBER_BYTES = 8 << 30
ZIP_MAGIC = b"PK\x03\x04"
DAMAGED_SUFFIX = ".damaged"


class SidecarError(ValueError):
    """A sidecar (session or masks file) cannot be read; the message names file and problem."""


def read_npz(path: str | Path, required: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path`` (no pickles, sizes checked before reading).

    Raises
    ------
    SidecarError
        The file is missing, not a zip of ``.npy`` members, lacks a ``required`` member, or
        a member's header does not match its data.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except FileNotFoundError:
        raise SidecarError(f"{path}: no such file") from None
    except OSError as e:
        raise SidecarError(f"{path}: cannot be read ({e.strerror or e})") from None
    if magic != ZIP_MAGIC:
        kind = "an empty file" if not magic else "not a .npz archive"
        raise SidecarError(f"{path}: {kind} (a siffviewer session or masks file is a .npz)")
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                name = info.filename[:-4]
                if info.file_size > MAX_MEMBER_BYTES:
                    raise SidecarError(f"{path}: member {name!r} is {info.file_size} bytes "
                                       f"(more than the {MAX_MEMBER_BYTES} allowed)")
                with zf.open(info) as member:
                    out[name] = _read_member(path, name, member, info.file_size)
    except SidecarError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError,
            RuntimeError) as e:
        raise SidecarError(f"{path}: damaged archive ({e})") from None
    for name in required:
        if name not in out:
            raise SidecarError(f"{path}: no {name!r} array (not a siffviewer file?)")
    return out


def _read_member(path: Path, name: str, member, size: int) -> np.ndarray:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(member)
        else:
            shape, fortran, dtype = fmt.read_array_header_2_0(member)
    except ValueError as e:
        raise SidecarError(f"{path}: member {name!r} has a bad header ({e})") from None
    if dtype.hasobject:
        raise SidecarError(f"{path}: member {name!r} holds Python objects (not read)")
    count = int(np.prod(shape, dtype=object))
    nbytes = count * dtype.itemsize
    if nbytes > size:
        raise SidecarError(f"{path}: member {name!r} claims {shape} {dtype} ({nbytes} bytes) "
                           f"but holds {size} bytes")
    data = member.read(nbytes)
    if len(data) != nbytes:
        raise SidecarError(f"{path}: member {name!r} is truncated")
    array = np.frombuffer(data, dtype=dtype, count=count)
    return array.reshape(shape, order="F" if fortran else "C").copy()


def json_text(arrays: dict[str, np.ndarray], key: str, path: Path) -> str:
    """The text of a 0-d (or 1-element) unicode member ``key``."""
    value = arrays[key]
    if value.dtype.kind != "U" or value.size != 1:
        raise SidecarError(f"{path}: {key!r} is not a text value")
    return str(value.reshape(()))


def set_aside(path: str | Path) -> Path:
    """Rename a damaged sidecar to ``<name>.damaged-<UTC time>`` (kept, never deleted)."""
    path = Path(path)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target = path.with_name(f"{path.name}{DAMAGED_SUFFIX}-{stamp}")
    path.rename(target)
    return target
