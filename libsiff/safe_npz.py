"""Bounded, pickle-free reading of NumPy ``.npz`` archives from untrusted files.

``np.load`` trusts each member's ``.npy`` header: a header claiming 2 TiB makes it try to
allocate 2 TiB, and a text file gives numpy's pickle message. :func:`read_npz` opens the zip
itself, reads each header first, refuses object dtypes and any array larger than its
member's recorded size or than ``max_bytes``, and only then reads exactly the bytes the
header promises. It is the one reader of every sidecar: the registration
(``.siffreg.npz``), and siffviewer's session and masks files.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np

from .errors import SiffFormatError

__all__ = ["read_npz", "file_head", "MAX_MEMBER_BYTES", "ZIP_MAGIC"]

#: Default largest array a member may hold (bytes). A registration of 2^24 frames with
#: its optional per-timepoint arrays stays under it.
MAX_MEMBER_BYTES = 1 << 30
#: The first bytes of every zip archive (so of every ``.npz``).
ZIP_MAGIC = b"PK\x03\x04"
_MAX_MEMBERS = 64
_MAX_HEADER = 10_000


def file_head(path, size: int = 8) -> bytes:
    """The first ``size`` bytes of the file at ``path`` (fewer when it is shorter), to sniff
    its format.

    Raises
    ------
    SiffFormatError
        Naming the file, when it does not exist or cannot be read.
    """
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except FileNotFoundError:
        raise SiffFormatError(f"{path}: no such file") from None
    except OSError as exc:
        raise SiffFormatError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def read_npz(path, names: tuple[str, ...] | None = None, *, required: tuple[str, ...] = (),
             max_bytes: int = MAX_MEMBER_BYTES, max_members: int = _MAX_MEMBERS,
             what: str = "registration file") -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` archive at ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The archive.
    names : tuple of str, optional
        Read only these members (those present); None reads every ``.npy`` member.
    required : tuple of str
        Members that must be present.
    max_bytes : int
        Largest array a member may hold, in bytes.
    max_members : int
        Most members the archive may have.
    what : str
        What the file is, for messages (``"registration file"``, ``"session file"``...).

    Raises
    ------
    SiffFormatError
        Naming the file, for a missing or unreadable file and for anything that is not a
        well-formed archive of plain (non-object) ``.npy`` members within the bounds.
    """
    path = Path(path)
    magic = file_head(path, len(ZIP_MAGIC))
    if magic != ZIP_MAGIC:
        kind = "an empty file" if not magic else "not a .npz archive"
        raise SiffFormatError(f"{path}: {kind} (a {what} is a .npz)")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > max_members:
                raise SiffFormatError(f"{path}: {len(members)} members, not a {what}")
            by_name = {m.filename[:-4]: m for m in members if m.filename.endswith(".npy")}
            wanted = by_name if names is None else [n for n in names if n in by_name]
            out = {name: _read_member(path, archive, by_name[name], max_bytes)
                   for name in wanted}
    except SiffFormatError:
        raise
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zipfile.LargeZipFile,
            NotImplementedError, RuntimeError, OverflowError) as exc:
        # zipfile: truncated/garbage archives, bad CRC, unsupported compression or
        # encryption (RuntimeError); numpy: malformed .npy headers.
        raise SiffFormatError(f"{path}: unreadable {what} ({exc})") from exc
    for name in required:
        if name not in out:
            raise SiffFormatError(f"{path}: no {name!r} array (not a {what}?)")
    return out


def _read_member(path: Path, archive: zipfile.ZipFile, member: zipfile.ZipInfo,
                 max_bytes: int) -> np.ndarray:
    """Read one ``.npy`` member after checking its header against the bounds."""
    with archive.open(member) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(
                f, max_header_size=_MAX_HEADER)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(
                f, max_header_size=_MAX_HEADER)
        else:
            raise SiffFormatError(f"{path}: {member.filename} has .npy version {version}")
        if dtype.hasobject or dtype.kind not in "biufcU":
            raise SiffFormatError(f"{path}: {member.filename} holds {dtype} data (not allowed)")
        if any(d < 0 for d in shape):
            raise SiffFormatError(f"{path}: {member.filename} has a negative dimension")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > max_bytes or nbytes > member.file_size:
            raise SiffFormatError(f"{path}: {member.filename} claims {shape} {dtype} "
                                  f"({nbytes} bytes), more than the file holds or allows")
        data = f.read(nbytes)
        if len(data) != nbytes:
            raise SiffFormatError(f"{path}: {member.filename} is truncated")
    flat = np.frombuffer(data, dtype=dtype).copy()
    return flat.reshape(shape, order="F" if fortran else "C")
