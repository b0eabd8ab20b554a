"""What every mask format shares: the error class, the shape check and the plane expansion."""

from __future__ import annotations

import numpy as np

from ..masks import MaskFileError

#: the one masks-file error under the name the format readers have always raised
MaskFormatError = MaskFileError


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
