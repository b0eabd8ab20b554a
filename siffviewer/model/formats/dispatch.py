"""One entry for every masks format: chosen by the file's content, then its extension.

Reading: a ZIP holding ``.roi`` entries or a file starting with ``Iout`` is ImageJ; a
TIFF is a label image; a ``.npy`` is a suite2p ``stat.npy``; a ``.npz`` ZIP is a
siffviewer masks file. Writing chooses by extension: ``.zip``/``.roi`` ImageJ,
``.tif``/``.tiff`` label TIFF, ``.npy`` suite2p, ``.npz`` siffviewer masks.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from libsiff import safe_npz
from libsiff.errors import SiffFormatError

from .common import MaskFormatError, check_shape
from .imagej import read_imagej, write_imagej
from .label_tiff import read_label_tiff, write_label_tiff
from .siffmasks import read_siffmasks, stored_shape, write_siffmasks
from .suite2p import read_suite2p, write_suite2p

#: how a zip with no member starts (its end-of-central-directory record): an empty RoiSet
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"
FORMATS = ("imagej", "label-tiff", "suite2p", "siffmasks")
_WRITE_SUFFIXES = {".zip": "imagej", ".roi": "imagej", ".tif": "label-tiff",
                   ".tiff": "label-tiff", ".npy": "suite2p", ".npz": "siffmasks"}


def detect_format(path) -> str:
    """Which masks format a file holds (one of :data:`FORMATS`), from its first bytes
    (and the entries of a ZIP); raises MaskFormatError naming the file otherwise."""
    path = Path(path)
    try:
        head = safe_npz.file_head(path, 8)
    except SiffFormatError as exc:
        raise MaskFormatError(str(exc)) from None
    if head.startswith(b"Iout"):
        return "imagej"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "label-tiff"
    if head.startswith(b"\x93NUMPY"):
        return "suite2p"
    if head[:4] in (safe_npz.ZIP_MAGIC, _EMPTY_ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as zf:
                entries = zf.namelist()
        except zipfile.BadZipFile as exc:
            raise MaskFormatError(f"{path}: damaged ZIP file ({exc})") from None
        if any(n.lower().endswith(".roi") for n in entries):
            return "imagej"
        if any(n.endswith(".npy") for n in entries):
            return "siffmasks"
        if not entries and path.suffix.lower() == ".zip":
            return "imagej"  # an empty RoiSet
    raise MaskFormatError(f"{path}: not a masks file siffviewer knows (ImageJ RoiSet.zip or "
                          ".roi, label TIFF, suite2p stat.npy, or a siffviewer session or "
                          ".siffmasks.npz file)")


def infer_shape(path) -> tuple[int, int, int] | None:
    """The (planes, rows, columns) a masks file fixes by itself (siffviewer masks, 3-D
    label TIFF), or None when it needs the acquisition's shape."""
    kind = detect_format(path)
    if kind == "siffmasks":
        return stored_shape(path)
    if kind == "label-tiff":
        import tifffile

        try:
            with tifffile.TiffFile(path) as tif:
                shape = tif.series[0].shape
        except (OSError, ValueError, tifffile.TiffFileError):
            return None
        return tuple(int(v) for v in shape) if len(shape) == 3 else (1, *shape)
    return None


def read_masks_any(path, shape: tuple[int, int, int]) -> tuple[np.ndarray, list[str]]:
    """Masks bool ``(R, planes, rows, columns)`` and ROI names from any supported masks
    file, checked against the acquisition's ``shape`` (planes, rows, columns)."""
    shape = tuple(int(v) for v in shape)
    kind = detect_format(path)
    reader = {"imagej": read_imagej, "label-tiff": read_label_tiff, "suite2p": read_suite2p,
              "siffmasks": read_siffmasks}[kind]
    return reader(Path(path), shape)


def write_masks_any(path, masks: np.ndarray, names: list[str], source: str = "") -> Path:
    """Write masks ``(R, planes, rows, columns)`` with ``names`` in the format of
    ``path``'s extension (see :data:`_WRITE_SUFFIXES`), atomically."""
    path = Path(path)
    masks = np.asarray(masks, bool)
    names = [str(n) for n in names]
    if masks.ndim != 4 or len(names) != masks.shape[0]:
        raise MaskFormatError(f"{path}: expected masks (ROIs, planes, rows, columns) and one "
                              f"name per ROI, got {masks.shape} and {len(names)} names")
    kind = _WRITE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise MaskFormatError(f"{path}: unknown masks extension {path.suffix!r} (use .zip, "
                              ".roi, .tif, .tiff, .npy or .npz)")
    if kind == "siffmasks":
        return write_siffmasks(path, masks, names, source)
    writer = {"imagej": write_imagej, "label-tiff": write_label_tiff,
              "suite2p": write_suite2p}[kind]
    return writer(path, masks, names)


__all__ = ["FORMATS", "MaskFormatError", "check_shape", "detect_format", "infer_shape",
           "read_masks_any", "write_masks_any"]
