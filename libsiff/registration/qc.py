"""Quality checks of a registration, for display next to the shifts.

All functions take the open file (``SiffIO``) and a :class:`RegistrationInfo`, decode
frames in batches in file order, and accept ``progress(done, total)`` and ``cancel()``
callbacks like :func:`register_frames`, so a GUI can run them on a worker thread:

* :func:`frame_quality` -- per (timepoint, plane) correlation of the registered frame with
  its plane's reference: a trace that drops where registration failed (or the sample
  changed); :func:`flag_frames` marks the drops.
* :func:`mean_images` -- per plane, the mean frame before and after registration.

The estimator's own per-timepoint confidence is :attr:`RegistrationInfo.confidence`
(posterior probability of the chosen integer shift) and its sub-pixel estimates are
:attr:`RegistrationInfo.subpixel_shifts`.
"""

from __future__ import annotations

import numpy as np

from ..errors import SiffArgumentError
from .frames import decoded_batches, registered_means
from .progress import CancelCallback, ProgressCallback, Ticker
from .sidecar import RegistrationInfo

__all__ = ["frame_quality", "flag_frames", "mean_images"]


def _grid_and_color(info: RegistrationInfo, frame_grid, color) -> tuple[np.ndarray, int]:
    grid = info.frame_grid if frame_grid is None else np.asarray(frame_grid, np.int64)
    if grid is None:
        raise SiffArgumentError("this registration has no frame grid: pass frame_grid")
    c = info.registration_color_channel if color is None else int(color)
    if not 0 <= c < grid.shape[2]:
        raise SiffArgumentError(f"colour {c} is not one of the grid's {grid.shape[2]} colours")
    return grid, c


def _shift_grid(info: RegistrationInfo, frames_zc: np.ndarray) -> np.ndarray:
    """(T, Z, 2) shifts of the frames of ``frames_zc`` from ``info.yx_shifts`` (0 if absent)."""
    shifts = np.zeros((*frames_zc.shape, 2), np.int64)
    valid = frames_zc >= 0
    if info.yx_shifts and valid.any():
        shifts[valid] = np.array([info.yx_shifts.get(f, (0, 0))
                                  for f in frames_zc[valid].tolist()], np.int64)
    return shifts


def frame_quality(io, info: RegistrationInfo, frame_grid=None, color: int | None = None,
                  progress: ProgressCallback | None = None,
                  cancel: CancelCallback | None = None,
                  batch_frames: int = 256) -> np.ndarray:
    """Correlation of every registered frame with its plane's reference, float64 (T, Z).

    Parameters
    ----------
    io : SiffIO
        The open acquisition.
    info : RegistrationInfo
        The registration (its ``reference_frames`` and ``yx_shifts`` are used).
    frame_grid : array_like (T, Z, C), optional
        Defaults to ``info.frame_grid``.
    color : int, optional
        0-based colour whose frames are scored; defaults to the registration colour (the
        one the references show).
    progress, cancel : callables, optional
        As for :func:`register_frames` (units: decoded frames); cancel raises
        :class:`SiffCancelled`.

    Returns
    -------
    ndarray
        Pearson correlation (-1..1) of each frame's photon counts, as registered, with the
        reference of its plane; NaN where the grid has no frame or the frame has no photons.
        With sparse photons the values are small in absolute terms (shot noise); what
        matters is a drop relative to the other timepoints (see :func:`flag_frames`).
    """
    grid, c = _grid_and_color(info, frame_grid, color)
    if info.reference_frames is None:
        raise SiffArgumentError("this registration has no reference frames")
    ref = np.asarray(info.reference_frames, np.float64)
    ref = ref.reshape(-1, *ref.shape[-2:])
    T, Z = grid.shape[:2]
    if ref.shape[0] != Z:
        raise SiffArgumentError(f"{ref.shape[0]} reference planes for a grid of {Z} planes")
    zref = ref - ref.mean(axis=(1, 2), keepdims=True)
    zref /= np.maximum(np.sqrt((zref ** 2).sum(axis=(1, 2), keepdims=True)), 1e-300)
    frames_zc = grid[:, :, c]
    ticker = Ticker(progress, cancel)
    ticker.total = int((frames_zc >= 0).sum())
    out = np.full((T, Z), np.nan)
    for t, z, images in decoded_batches(io, frames_zc, _shift_grid(info, frames_zc), ticker,
                                        batch_frames):
        x = images.reshape(len(t), -1).astype(np.float64)
        x -= x.mean(axis=1, keepdims=True)
        norm = np.sqrt((x ** 2).sum(axis=1))
        dots = np.einsum("np,np->n", x, zref[z].reshape(len(t), -1))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[t, z] = np.where(norm > 0, dots / norm, np.nan)
    ticker.finish()
    return out


def flag_frames(quality: np.ndarray, k: float = 4.0,
                minimum: float | None = None) -> np.ndarray:
    """Timepoints and planes whose quality dropped, bool (T, Z).

    A value is flagged when it lies more than ``k`` robust standard deviations (1.4826 x
    the median absolute deviation, per plane) below its plane's median, or below
    ``minimum`` when given. NaN (no frame) is never flagged."""
    q = np.asarray(quality, np.float64)
    if q.ndim == 1:
        q = q[:, None]
    med = np.nanmedian(q, axis=0)
    spread = 1.4826 * np.nanmedian(np.abs(q - med), axis=0)
    with np.errstate(invalid="ignore"):
        low = q < med - k * spread
        if minimum is not None:
            low |= q < minimum
    return low.reshape(np.shape(quality))


def mean_images(io, info: RegistrationInfo, frame_grid=None, color: int | None = None,
                progress: ProgressCallback | None = None,
                cancel: CancelCallback | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean frame per plane before and after registration: two float64 (Z, H, W) arrays.

    Photons per pixel per frame, over the frames of ``color`` (default: the registration
    colour) in ``frame_grid`` (default: ``info.frame_grid``). The registered mean moves
    photons by the integer shifts (as reads do). ``progress``/``cancel`` as in
    :func:`frame_quality` (two passes over the frames)."""
    grid, c = _grid_and_color(info, frame_grid, color)
    frames_zc = grid[:, :, c]
    ticker = Ticker(progress, cancel)
    ticker.total = 2 * int((frames_zc >= 0).sum())
    before, _ = registered_means(io, frames_zc, None, ticker)
    after, _ = registered_means(io, frames_zc, _shift_grid(info, frames_zc), ticker)
    ticker.finish()
    return before, after
