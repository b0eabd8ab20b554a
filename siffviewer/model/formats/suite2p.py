"""suite2p ROIs: ``stat.npy`` (with ``iscell.npy`` beside it: cells only) in and out.

A ``stat.npy`` is a pickled object array, so reading one needs pickle; it is unpickled
with a restricted loader that only rebuilds numpy arrays, dtypes and scalars (never
arbitrary objects), and then checked: only a 1-D object array of dicts whose ``ypix`` and
``xpix`` are integer arrays of the same length inside the frame is accepted. ``iplane``
selects the plane (absent: every plane). ROIs with the same ``name`` (written by
:func:`write_suite2p`) and different planes are one ROI.

Writing gives the fields suite2p's GUI and extraction read: ``ypix``, ``xpix``, ``lam``
(uniform weights summing to 1), ``med``, ``npix``, ``npix_soma``, ``soma_crop``,
``overlap``, ``radius``, ``aspect_ratio`` (1), ``compact``, ``footprint`` (1), ``npix_norm``,
``iplane``, plus ``name``; one entry per ROI and plane it covers.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from libsiff.atomic import atomic_open

from .common import MaskFormatError, empty_masks

_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("builtins", "slice")}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def load_object_npy(path) -> np.ndarray:
    """An object ``.npy`` (suite2p's stat/iscell) read without running arbitrary pickles."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
            if not dtype.hasobject:
                fh.seek(0)
                return np.lib.format.read_array(fh, allow_pickle=False)
            data = _ArraysOnly(fh).load()
    except FileNotFoundError:
        raise MaskFormatError(f"{path}: no such file") from None
    except (OSError, ValueError, EOFError, pickle.UnpicklingError, AttributeError,
            TypeError) as exc:
        raise MaskFormatError(f"{path}: not a suite2p .npy file ({exc})") from None
    return np.asarray(data, dtype=object).reshape(shape)


def _int_pixels(value, what: str, path, i: int) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise MaskFormatError(f"{path}: ROI {i}: {what} must be a 1-D integer array")
    return arr.astype(np.int64)


def read_suite2p(path, shape: tuple[int, int, int]) -> tuple[np.ndarray, list[str]]:
    """Masks bool ``(R, planes, rows, columns)`` and names from a suite2p ``stat.npy``."""
    path = Path(path)
    stat = load_object_npy(path)
    if stat.dtype != object or stat.ndim != 1 or not all(isinstance(s, dict) for s in stat):
        raise MaskFormatError(f"{path}: a suite2p stat.npy is a 1-D array of dicts")
    keep = np.ones(len(stat), bool)
    iscell_path = path.with_name("iscell.npy")
    if iscell_path.is_file():
        iscell = np.asarray(load_object_npy(iscell_path))
        if iscell.dtype == object or iscell.shape[:1] != (len(stat),):
            raise MaskFormatError(f"{iscell_path}: expected {len(stat)} rows of numbers, one "
                                  f"per ROI of {path.name}")
        keep = (iscell[:, 0] if iscell.ndim == 2 else iscell).astype(float) > 0.5
    Z, H, W = shape
    names, masks = [], {}
    for i, s in enumerate(stat):
        if not keep[i]:
            continue
        if "ypix" not in s or "xpix" not in s:
            raise MaskFormatError(f"{path}: ROI {i} has no ypix/xpix")
        y, x = _int_pixels(s["ypix"], "ypix", path, i), _int_pixels(s["xpix"], "xpix", path, i)
        if len(y) != len(x):
            raise MaskFormatError(f"{path}: ROI {i}: ypix and xpix differ in length")
        if len(y) and (y.min() < 0 or x.min() < 0 or y.max() >= H or x.max() >= W):
            raise MaskFormatError(f"{path}: ROI {i} has pixels outside the acquisition's "
                                  f"{(H, W)} (rows, columns) frame")
        plane = s.get("iplane")
        if plane is not None:
            plane = int(np.asarray(plane))
            if not 0 <= plane < Z:
                raise MaskFormatError(f"{path}: ROI {i} is on plane {plane} but the "
                                      f"acquisition has {Z} plane(s)")
        name = str(s.get("name", f"ROI {i + 1}"))
        if name not in masks:
            names.append(name)
            masks[name] = np.zeros(shape, bool)
        if plane is None:
            masks[name][:, y, x] = True
        else:
            masks[name][plane, y, x] = True
    if not names:
        return empty_masks(shape), []
    return np.stack([masks[n] for n in names]), names


def masks_to_stat(masks: np.ndarray, names: list[str]) -> np.ndarray:
    """suite2p stat entries (object array of dicts) for masks ``(R, planes, rows, cols)``."""
    masks = np.asarray(masks, bool)
    overlap = masks.sum(0) > 1
    stat = []
    for mask, name in zip(masks, names, strict=True):
        for z in np.flatnonzero(mask.reshape(mask.shape[0], -1).any(1)):
            y, x = np.nonzero(mask[z])
            n = len(y)
            med = [int(np.median(y)), int(np.median(x))]
            radius = float(np.sqrt(n / np.pi))
            dist = np.hypot(y - y.mean(), x - x.mean())
            stat.append({
                "ypix": y.astype(np.int32), "xpix": x.astype(np.int32),
                "lam": np.full(n, 1.0 / n, np.float32), "med": med, "npix": n,
                "npix_soma": n, "soma_crop": np.ones(n, bool), "overlap": overlap[z, y, x],
                "radius": radius, "aspect_ratio": 1.0,
                "compact": float(dist.mean() / max(radius * 2 / 3, 1e-9)),
                "footprint": 1.0, "iplane": int(z), "name": str(name),
            })
    mean_npix = np.mean([s["npix"] for s in stat]) if stat else 1.0
    for s in stat:  # as suite2p: pixel count relative to the mean ROI
        s["npix_norm"] = s["npix_norm_no_crop"] = float(s["npix"] / mean_npix)
    out = np.empty(len(stat), dtype=object)
    out[:] = stat
    return out


def write_suite2p(path, masks: np.ndarray, names: list[str]) -> Path:
    """Write masks as a suite2p ``stat.npy`` (pickled object array, as suite2p saves it),
    atomically."""
    path = Path(path)
    with atomic_open(path, "wb") as fh:
        np.save(fh, masks_to_stat(masks, names), allow_pickle=True)
    return path
