"""siffviewer's own masks file (``.siffmasks.npz``), read and written by
:mod:`siffviewer.model.masks` (this module only adapts it to the (masks, names) form)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from libsiff import safe_npz
from libsiff.errors import SiffFormatError

from ..masks import MaskSet, load_masks
from .common import check_shape, empty_masks, same_in_every_plane


def stored_shape(path) -> tuple[int, int, int] | None:
    """The (planes, rows, columns) a siffviewer masks or session file was drawn on, or
    None."""
    try:  # the JSON members only: the ROI stack is read once, by load_masks
        data = safe_npz.read_npz(path, ("document", "meta"), what="siffviewer masks file")
        text = data.get("document", data.get("meta"))
        shape = json.loads(str(text)).get("shape") if text is not None else None
        if shape is None:  # an old file without "shape": the ROI stack's
            shape = safe_npz.read_npz(path, ("masks",), required=("masks",))["masks"].shape[1:]
    except (SiffFormatError, ValueError, AttributeError, RecursionError):
        return None
    return tuple(int(v) for v in shape) if len(shape) == 3 else None


def read_siffmasks(path, shape: tuple[int, int, int]) -> tuple[np.ndarray, list[str]]:
    """Masks bool ``(R, planes, rows, columns)`` and names from a siffviewer masks or
    session file (read by :func:`siffviewer.model.masks.load_masks`)."""
    found = stored_shape(path)
    if found is not None:
        check_shape(path, found, shape)
    rois = load_masks(path, tuple(shape))
    if not rois:
        return empty_masks(shape), []
    return np.stack([r[2] for r in rois]), [r[0] for r in rois]


def write_siffmasks(path, masks: np.ndarray, names: list[str], source: str = "") -> Path:
    """Write masks as a siffviewer masks file (atomically, through :class:`MaskSet`); an
    ROI that is the same in every plane of a multi-plane acquisition is marked
    ``all_planes``."""
    masks = np.asarray(masks, bool)
    mask_set = MaskSet(masks.shape[1:])
    for mask, name in zip(masks, names, strict=True):
        mask_set.add_roi(name, all_planes=masks.shape[1] > 1 and same_in_every_plane(mask),
                         mask=mask)
    return mask_set.save(path, source=source)
