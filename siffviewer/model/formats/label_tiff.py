"""Label images (TIFF, with tifffile): 0 is background, label k is an ROI.

A 2-D ``(rows, columns)`` image applies to every plane; a 3-D ``(planes, rows, columns)``
image gives each plane its own labels. Labels are non-negative integers; ROIs are the
labels present, in increasing order, named ``ROI k`` unless the file carries siffviewer's
names (``roi_names`` in tifffile's JSON description, written by :func:`write_label_tiff`).
Overlapping ROIs cannot be one label image: writing them is an error naming them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from libsiff.atomic import atomic_path

from .common import MaskFormatError, check_shape, empty_masks, same_in_every_plane


def read_label_tiff(path, shape: tuple[int, int, int]) -> tuple[np.ndarray, list[str]]:
    """Masks bool ``(R, planes, rows, columns)`` and names from a label TIFF."""
    path = Path(path)
    try:
        with tifffile.TiffFile(path) as tif:
            found = tuple(v for v in tif.series[0].shape if v != 1) or (1,)
            if len(found) in (2, 3):  # check before reading the pixels
                check_shape(path, found, shape)
            labels = tif.asarray()
            meta = tif.shaped_metadata[0] if tif.shaped_metadata else {}
    except MaskFormatError:
        raise
    except FileNotFoundError:
        raise MaskFormatError(f"{path}: no such file") from None
    except (OSError, ValueError, IndexError, tifffile.TiffFileError) as exc:  # IndexError: no image
        raise MaskFormatError(f"{path}: not a readable TIFF ({exc})") from None
    labels = np.squeeze(labels) if labels.ndim > 3 else labels
    if labels.ndim not in (2, 3):
        raise MaskFormatError(f"{path}: a label image is (rows, columns) or (planes, rows, "
                              f"columns), not {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise MaskFormatError(f"{path}: labels must be integers, not {labels.dtype}")
    if labels.dtype.kind == "i" and labels.size and labels.min() < 0:
        raise MaskFormatError(f"{path}: negative labels")
    check_shape(path, labels.shape, shape)
    if labels.ndim == 2:
        labels = np.broadcast_to(labels, shape)
    ids = np.unique(labels)
    ids = ids[ids > 0]
    stored = meta.get("roi_names") if isinstance(meta, dict) else None
    if isinstance(stored, list) and len(stored) == len(ids):
        names = [str(n) for n in stored]
    else:
        names = [f"ROI {int(k)}" for k in ids]
    if len(ids) == 0:
        return empty_masks(shape), []
    # one pass: position of each pixel's label among ids (background -> -1)
    index = np.searchsorted(ids, labels)
    index[labels == 0] = -1
    masks = np.zeros((len(ids), *shape), bool)
    z, y, x = np.nonzero(index >= 0)
    masks[index[z, y, x], z, y, x] = True
    return masks, names


def masks_to_labels(masks: np.ndarray, names: list[str], path="") -> np.ndarray:
    """The label image of masks ``(R, planes, rows, columns)``: ``(rows, columns)`` when
    every ROI is the same in every plane, else ``(planes, rows, columns)``; ROI i is label
    i + 1 (smallest unsigned dtype). Raises MaskFormatError when ROIs overlap."""
    masks = np.asarray(masks, bool)
    count = masks.sum(0, dtype=np.int64)
    if (count > 1).any():
        z, y, x = (int(v[0]) for v in np.nonzero(count > 1))
        both = [names[r] for r in np.flatnonzero(masks[:, z, y, x])]
        raise MaskFormatError(f"{path}: ROIs {', '.join(map(repr, both))} overlap (plane {z}, "
                              f"row {y}, column {x}); a label image holds one ROI per pixel")
    dtype = np.uint8 if len(masks) < 256 else np.uint16 if len(masks) < 65536 else np.uint32
    labels = (masks * np.arange(1, len(masks) + 1, dtype=dtype)[:, None, None, None]).sum(
        0, dtype=dtype)
    if len(masks) and all(same_in_every_plane(m) for m in masks):
        return labels[0]
    return labels


def write_label_tiff(path, masks: np.ndarray, names: list[str]) -> Path:
    """Write masks as a label TIFF atomically (names kept in the JSON description)."""
    path = Path(path)
    labels = masks_to_labels(masks, names, path)
    axes = "YX" if labels.ndim == 2 else "ZYX"
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, labels, metadata={"axes": axes, "roi_names": list(names)},
                         photometric="minisblack",
                         compression="zlib")
    return path
