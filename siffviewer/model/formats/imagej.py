"""ImageJ / Fiji ROIs (``RoiSet.zip`` or one ``.roi``) in and out, with roifile.

Reading: polygon, freehand, traced, rectangle (also rounded and sub-pixel), oval and
composite (shape) ROIs are rasterised as Fiji does (see :mod:`.raster`); lines, points,
angles and text have no area and are skipped with a warning. An ROI's ``z_position``
(hyperstack) or else its ``position`` (stack slice), both 1-based, selects its plane; an
ROI without either covers every plane. ROIs sharing a name are parts of one ROI (that is
how :func:`write_imagej` stores an ROI drawn differently in several planes).

Writing: each ROI becomes traced polygons along pixel edges (one TRACED polygon, or a
composite ROI when the mask has several pieces or holes), one ImageJ ROI per plane it
covers (with its z position), or a single ROI without position when it is the same in
every plane. Reading them back gives the same masks, pixel for pixel.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import numpy as np
import roifile
from roifile import ROI_OPTIONS, ROI_TYPE, ImagejRoi

from libsiff.atomic import atomic_open

from .common import MaskFormatError, empty_masks, same_in_every_plane
from .outline import mask_outlines
from .raster import fill_oval, fill_polygons, fill_rectangle

AREA_TYPES = {ROI_TYPE.POLYGON, ROI_TYPE.FREEHAND, ROI_TYPE.TRACED, ROI_TYPE.RECT,
              ROI_TYPE.OVAL}


def roi_plane_mask(roi: ImagejRoi, hw: tuple[int, int]) -> np.ndarray:
    """The pixels of one area ROI in a (rows, columns) image, rasterised as Fiji does."""
    if roi.composite:
        return fill_polygons(hw, roi.coordinates(multi=True))
    if roi.roitype in (ROI_TYPE.RECT, ROI_TYPE.OVAL):
        if roi.subpixelrect:
            box = (roi.xd, roi.yd, roi.widthd, roi.heightd)
        else:
            box = (roi.left, roi.top, roi.right - roi.left, roi.bottom - roi.top)
        if roi.roitype == ROI_TYPE.OVAL:
            return fill_oval(hw, *box)
        return fill_rectangle(hw, *box, arc=roi.rounded_rect_arc_size)
    return fill_polygons(hw, [roi.coordinates()])


def _plane_of(roi: ImagejRoi, planes: int, path) -> int | None:
    z = roi.z_position or roi.position
    if not z:
        return None
    if not 1 <= z <= planes:
        raise MaskFormatError(f"{path}: ROI {roi.name!r} is on plane {z} (1-based) but the "
                              f"acquisition has {planes} plane(s)")
    return z - 1


def read_imagej(path, shape: tuple[int, int, int]) -> tuple[np.ndarray, list[str]]:
    """Masks bool ``(R, planes, rows, columns)`` and names from a RoiSet.zip or .roi."""
    path = Path(path)
    try:
        rois = roifile.roiread(path)
    except FileNotFoundError:
        raise MaskFormatError(f"{path}: no such file") from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, RuntimeError,
            NotImplementedError) as exc:
        raise MaskFormatError(f"{path}: not a readable ImageJ ROI file ({exc})") from None
    if isinstance(rois, ImagejRoi):
        rois = [rois]
    Z, H, W = shape
    names: list[str] = []
    masks: dict[str, np.ndarray] = {}
    skipped = []
    for i, roi in enumerate(rois):
        if not (roi.composite or roi.roitype in AREA_TYPES):
            skipped.append(f"{roi.name or i + 1} ({roi.roitype.name.lower()})")
            continue
        name = roi.name or f"ROI {i + 1}"
        plane = _plane_of(roi, Z, path)
        try:
            region = roi_plane_mask(roi, (H, W))
        except (NotImplementedError, RuntimeError, ValueError) as exc:
            raise MaskFormatError(f"{path}: ROI {name!r} cannot be rasterised ({exc})") from None
        if name not in masks:
            names.append(name)
            masks[name] = np.zeros(shape, bool)
        if plane is None:
            masks[name] |= region[None]
        else:
            masks[name][plane] |= region
    if skipped:
        warnings.warn(f"{path}: skipped ROIs without an area: {', '.join(skipped)}", stacklevel=2)
    if not names:
        return empty_masks(shape), []
    return np.stack([masks[n] for n in names]), names


def plane_roi(mask2d: np.ndarray, name: str, plane: int | None) -> ImagejRoi:
    """One ImageJ ROI tracing the pixel edges of a non-empty 2-D mask: a TRACED polygon
    for one outline, else a composite ROI (even-odd outlines)."""
    loops = mask_outlines(mask2d)
    if len(loops) == 1:
        roi = ImagejRoi.frompoints(loops[0], name=name, position=plane, z=plane)
        roi.roitype = ROI_TYPE.TRACED
        return roi
    path = []
    for loop in loops:
        path.append([0.0, *loop[0]])
        path.extend([1.0, *p] for p in loop[1:])
        path.append([4.0])
    roi = ImagejRoi()
    roi.roitype = ROI_TYPE.RECT
    roi.options = ROI_OPTIONS.OVERLAY_BACKGROUNDS | ROI_OPTIONS.OVERLAY_LABELS
    roi.name = name
    roi.multi_coordinates = np.array([v for seg in path for v in seg], np.float32)
    roi.shape_roi_size = len(roi.multi_coordinates)
    allpts = np.concatenate(loops)
    roi.left, roi.top = (int(v) for v in allpts.min(0))
    roi.right, roi.bottom = (int(v) for v in allpts.max(0))
    if plane is not None:
        roi.position = roi.z_position = plane + 1
    return roi


def masks_to_imagej(masks: np.ndarray, names: list[str]) -> list[ImagejRoi]:
    """ImageJ ROIs for masks ``(R, planes, rows, columns)``: one per ROI when it is the same
    in every plane, else one per plane it covers."""
    out = []
    for mask, name in zip(masks, names, strict=True):
        if same_in_every_plane(mask):
            out.append(plane_roi(mask[0], name, None))
            continue
        for z in np.flatnonzero(mask.reshape(mask.shape[0], -1).any(1)):
            out.append(plane_roi(mask[z], name, int(z)))
    return out


def write_imagej(path, masks: np.ndarray, names: list[str]) -> Path:
    """Write masks as a RoiSet ``.zip`` (or a ``.roi`` when that is one ImageJ ROI),
    atomically."""
    path = Path(path)
    rois = masks_to_imagej(np.asarray(masks, bool), list(names))
    if path.suffix.lower() == ".roi":
        if len(rois) != 1:
            raise MaskFormatError(f"{path}: {len(rois)} ImageJ ROIs do not fit one .roi file "
                                  "(write a RoiSet .zip)")
        with atomic_open(path, "wb") as fh:
            fh.write(rois[0].tobytes())
        return path
    with atomic_open(path, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, roi in enumerate(rois):
            safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in roi.name)
            plane = f"-z{roi.z_position}" if roi.z_position else ""
            zf.writestr(f"{i + 1:04d}-{safe}{plane}.roi", roi.tobytes())
    return path
