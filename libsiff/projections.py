"""Images of a whole plane: mean, max, standard deviation and the local-correlation image
(suite2p's Vcorr: each pixel's time course correlated with its 8 neighbours), from one pass
of the C core over the frames (:meth:`SiffIO.projection_sums`), a chunk of frames at a time
so that a caller sees progress and can cancel. Memory: seven (H, W) uint64 planes.

The C pass sums, per pixel, the counts, their squares, the maximum and the products with the
right, lower, lower-right and lower-left neighbours; the other four neighbours are the same
pairs seen from the other pixel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .errors import SiffCancelled

__all__ = ["PLANES", "projection_sums", "projection_images", "plane_projections"]

#: the planes of :meth:`SiffIO.projection_sums`, in order
PLANES = ("sum", "sum_sq", "max", "right", "down", "down_right", "down_left")
# neighbour offset (dy, dx) of each product plane (PLANES[3:])
_OFFSETS = ((0, 1), (1, 0), (1, 1), (1, -1))


def _pair_slices(dy: int, dx: int):
    """Slices (first pixel, second pixel) of every pair at offset (dy, dx), dy >= 0."""
    rows_a = slice(0, -dy) if dy else slice(None)
    rows_b = slice(dy, None) if dy else slice(None)
    if dx > 0:
        cols_a, cols_b = slice(0, -dx), slice(dx, None)
    elif dx < 0:
        cols_a, cols_b = slice(-dx, None), slice(0, dx)
    else:
        cols_a = cols_b = slice(None)
    return (rows_a, cols_a), (rows_b, cols_b)


def projection_sums(io, frames: Sequence[int], registration=None,
                    progress: Callable[[int, int], object] | None = None,
                    cancel: Callable[[], bool] | None = None, chunk: int = 512) -> np.ndarray:
    """Per-pixel sums of ``frames`` (one plane and colour), ``uint64 (7, H, W)`` (:data:`PLANES`).

    Parameters
    ----------
    io : SiffIO
        The open acquisition.
    frames : sequence of int
        File frames, all of one shape.
    registration : dict or ndarray or None
        Shifts as :meth:`SiffIO.get_frames` takes them; None: raw frames.
    progress, cancel : callables, optional
        ``progress(done, total)`` in frames after each chunk; ``cancel() -> bool`` is asked
        before each chunk and stops the pass with :class:`SiffCancelled`.
    chunk : int
        Frames per call of the C core (the granularity of progress and cancel).
    """
    frames = np.asarray(frames, dtype=np.int64).ravel()
    chunk = max(1, int(chunk))
    out = io.projection_sums(frames[:0], registration)
    total = len(frames)
    for start in range(0, total, chunk):
        if cancel is not None and cancel():
            raise SiffCancelled("projection cancelled")
        io.projection_sums(frames[start:start + chunk], registration, out=out)
        if progress is not None:
            progress(min(start + chunk, total), total)
    return out


def projection_images(sums: np.ndarray, n_frames: int) -> dict[str, np.ndarray]:
    """Mean, max, std (population) and local-correlation images, float32 (H, W), from the
    sums of ``n_frames`` frames (:func:`projection_sums`)."""
    n = max(1, int(n_frames))
    mean = sums[0] / n
    var = np.maximum(sums[1] / n - mean ** 2, 0.0)
    std = np.sqrt(var)
    corr_sum = np.zeros_like(mean)
    count = np.zeros_like(mean)
    for products, (dy, dx) in zip(sums[3:], _OFFSETS, strict=True):
        a, b = _pair_slices(dy, dx)
        denom = std[a] * std[b]
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.where(denom > 0, (products[a] / n - mean[a] * mean[b]) / denom, 0.0)
        for side in (a, b):
            corr_sum[side] += r
            count[side] += 1
    return {"mean": mean.astype(np.float32), "max": sums[2].astype(np.float32),
            "std": std.astype(np.float32),
            "correlation": (corr_sum / np.maximum(count, 1)).astype(np.float32)}


def plane_projections(io, frames: Sequence[int], registration=None, progress=None,
                      cancel=None, chunk: int = 512) -> dict[str, np.ndarray]:
    """Mean, max, std and local-correlation images of ``frames`` (one plane and colour).

    Arguments as :func:`projection_sums`. Returns ``{"mean", "max", "std", "correlation"}``:
    float32 (H, W). ``std`` is the population standard deviation; ``correlation`` is, per
    pixel, the mean Pearson correlation of its time course with those of its 8 neighbours
    (fewer at the edges; 0 for a pixel or neighbour that never changes)."""
    frames = np.asarray(frames, dtype=np.int64).ravel()
    sums = projection_sums(io, frames, registration, progress, cancel, chunk)
    return projection_images(sums, len(frames))
