"""Convert a .siff file into a ScanImage-style BigTIFF of photon-count images.

:func:`siff_to_tiff` is call-compatible with ``corrosiffpy.siff_to_tiff``
(docs/format.md §7.6): one ``uint16`` strip per frame (the intensity image, photons per
pixel), the source's non-varying frame data and ROI texts byte for byte, and each frame's description. Tag 907
is dropped and BitsPerSample is 16, so the result is an ordinary ScanImage TIFF that
corrosiffpy, libsiff, ScanImage tools and ``tifffile`` read. The file is byte-identical to
corrosiffpy's except that the ImageDescription tag's count is the description's length
(corrosiffpy writes 1).

Frames are converted in chunks (about 64 MiB of images at a time), so memory stays flat
for files of any size; the output is written to a temporary file next to the destination
and renamed over it only when complete.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import SiffFormatError, SiffIOError
from .siffio import SiffIO
from .writer import SiffWriter

__all__ = ["siff_to_tiff", "default_tiff_path"]

CHUNK_BYTES = 64 << 20  # decoded images held in memory at once


def default_tiff_path(sourcepath: str | os.PathLike) -> Path:
    """Where :func:`siff_to_tiff` writes without ``savepath``: the source with suffix ``.tiff``."""
    return Path(sourcepath).with_suffix(".tiff")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def siff_to_tiff(sourcepath: str | os.PathLike, savepath: str | os.PathLike | None = None,
                 mode: str = "ScanImage", *,
                 progress: Callable[[int, int], object] | None = None,
                 chunk_frames: int | None = None) -> str:
    """Write the intensity images of every frame of ``sourcepath`` to a ScanImage BigTIFF.

    ``savepath`` defaults to the source path with suffix ``.tiff``; an existing file there
    is replaced (atomically, only once the new file is complete). ``mode`` must be
    ``"ScanImage"``, the only mode corrosiffpy implements; any other raises
    :class:`libsiff.SiffIOError` (an OSError, as corrosiffpy). Writing over the source
    itself is refused with SiffIOError.

    libsiff extensions: ``progress(done_frames, total_frames)`` is called after each chunk
    (and once with ``(0, total)`` before the first); ``chunk_frames`` overrides how many
    frames are decoded at a time. Returns the path written, as a str.

    Raises the SiffError family for unreadable sources or a source without a complete
    frame (messages name the file) and OSError when the destination cannot be written.
    """
    if mode != "ScanImage":
        raise SiffIOError(f"siff_to_tiff: mode {mode!r} is not implemented (only 'ScanImage')")
    source = Path(sourcepath)
    target = Path(savepath) if savepath is not None else default_tiff_path(source)
    if source.resolve() == target.resolve() or _same_file(source, target):
        raise SiffIOError(f"{target}: refusing to overwrite the source file with its TIFF copy")
    with SiffIO(source) as io:
        header = io.get_file_header()
        total = io.num_frames()
        info = io.file_info
        if total == 0:
            raise SiffFormatError(f"{source}: the file has no complete frame to convert")
        if chunk_frames is None:
            if info.uniform_shape and total:
                chunk_frames = max(1, CHUNK_BYTES // max(1, 2 * info.height * info.width))
            else:
                chunk_frames = 1  # frames of different shapes: one request per frame
        chunk_frames = max(1, int(chunk_frames))
        if progress is not None:
            progress(0, total)
        with SiffWriter(target, header["Non-varying frame data"], header["ROI string"],
                        bigtiff=True) as writer:
            for start in range(0, total, chunk_frames):
                frames = np.arange(start, min(start + chunk_frames, total))
                images = io.get_frames(frames)
                for k, frame in enumerate(frames.tolist()):
                    description = io.get_description(frame).encode("utf-8")
                    writer.add_tiff_frame(images[k], description)
                if progress is not None:
                    progress(int(frames[-1]) + 1, total)
    return str(target)
