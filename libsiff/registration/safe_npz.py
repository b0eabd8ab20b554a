"""Bounded, pickle-free reading of NumPy ``.npz`` archives from untrusted files.

``np.load`` trusts each member's ``.npy`` header: a header claiming 2 TiB makes it try to
allocate 2 TiB. :func:`read_npz` reads each header first, refuses object dtypes and any
array larger than its member's recorded size or than ``max_bytes``, and only then reads
exactly the bytes the header promises.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np

from ..errors import SiffFormatError

__all__ = ["read_npz", "MAX_MEMBER_BYTES"]

#: Largest array a sidecar member may hold (bytes). A registration of 2^24 frames with
#: its optional per-timepoint arrays stays under it.
MAX_MEMBER_BYTES = 1 << 30
_MAX_MEMBERS = 64
_MAX_HEADER = 10_000


def read_npz(path, names: tuple[str, ...], max_bytes: int = MAX_MEMBER_BYTES) -> dict:
    """The arrays ``names`` of the ``.npz`` archive at ``path`` that are present in it.

    Raises :class:`SiffFormatError` naming the file for anything that is not a well-formed
    archive of plain (non-object) ``.npy`` members within the size bounds."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > _MAX_MEMBERS:
                raise SiffFormatError(f"{path}: {len(members)} members, not a registration file")
            by_name = {m.filename: m for m in members}
            out = {}
            for name in names:
                member = by_name.get(name + ".npy")
                if member is not None:
                    out[name] = _read_member(path, archive, member, max_bytes)
            return out
    except SiffFormatError:
        raise
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, NotImplementedError,
            RuntimeError, OverflowError) as exc:
        # zipfile: truncated/garbage archives, bad CRC, unsupported compression or
        # encryption (RuntimeError); numpy: malformed .npy headers.
        raise SiffFormatError(f"{path}: unreadable registration file ({exc})") from exc


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
