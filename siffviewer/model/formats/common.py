"""What every mask format shares: the shape check, the plane expansion and atomic writes
of files that libraries write by path."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..masks import MaskFileError


class MaskFormatError(MaskFileError):
    """A masks file cannot be read or written (names the file and the problem); a
    MaskFileError, so the app's and the CLI's handlers of masks files catch it."""


def check_shape(path, found: tuple, shape: tuple) -> None:
    """Raise MaskFormatError naming both shapes when ``found`` (planes, rows, columns) or
    (rows, columns) does not fit the acquisition's ``shape`` (planes, rows, columns)."""
    found, shape = tuple(int(v) for v in found), tuple(int(v) for v in shape)
    fits = found == shape or (len(found) == 2 and found == shape[1:])
    if not fits:
        what = "(rows, columns)" if len(found) == 2 else "(planes, rows, columns)"
        raise MaskFormatError(f"{path}: masks of shape {found} {what} do not fit the "
                              f"acquisition's {shape} (planes, rows, columns)")


def empty_masks(shape: tuple) -> np.ndarray:
    """No ROIs: bool ``(0, planes, rows, columns)``."""
    return np.zeros((0, *shape), bool)


def same_in_every_plane(mask: np.ndarray) -> bool:
    """True when a ``(planes, rows, columns)`` mask is one 2-D mask repeated over planes
    (and is not empty)."""
    return bool(mask.any()) and bool((mask == mask[:1]).all())


def has_photon_times(reader) -> bool:
    """True when a SiffReader's file stores photon arrival times (FLIM frames and
    Tau_bins), False for a plain intensity TIFF."""
    io = reader.siffio
    if io.tau_bins is None or io.num_frames() == 0:
        return False
    return io.get_frame_metadata([0])[0]["siff_tag"] is not None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix) for a library that writes by name;
    on a clean exit it is flushed to disk and renamed over ``path``, else removed.

    The file-object form is :func:`libsiff.atomic.atomic_open`; this is its by-name twin
    for writers that need a path (HDF5, ffmpeg)."""
    path = Path(path)
    keep = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".part" + path.suffix,
                               dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, keep)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
