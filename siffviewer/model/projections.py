"""Images of a whole plane to draw ROIs on: mean, max, standard deviation and the
local-correlation image (suite2p's Vcorr: each pixel's time course correlated with its 8
neighbours), computed in one streaming pass with bounded memory, and cached per plane,
colour and registration state. Qt-free.

The pass reads the plane's frames in chunks (``SiffIO.get_frames``) and accumulates, per
pixel, the sum, the sum of squares, the maximum and the sums of products with the right,
lower, lower-right and lower-left neighbours (the other four neighbours are the same pairs
seen from the other pixel). Memory: two chunks of frames plus eleven (H, W) float64 arrays.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from libsiff import SiffCancelled

#: what the main view can show: the current frame(s) or a projection of the whole plane
SOURCES = ("frame", "mean", "max", "std", "correlation")
PROJECTIONS = SOURCES[1:]
SOURCE_LABELS = {"frame": "Current frame(s)", "mean": "Mean image", "max": "Max image",
                 "std": "Std image", "correlation": "Local correlation"}

# neighbour offsets (dy, dx) whose pairs are accumulated; each pair counts for both pixels
_OFFSETS = ((0, 1), (1, 0), (1, 1), (1, -1))


def _pair_slices(dy: int, dx: int):
    """Slices (first pixel, second pixel) of every pair at offset (dy, dx), dy >= 0."""
    a_cols = slice(0, -dx) if dx > 0 else slice(-dx, None)
    b_cols = slice(dx, None) if dx > 0 else slice(0, dx or None)
    if dx == 0:
        a_cols = b_cols = slice(None)
    a_rows = slice(0, -dy) if dy else slice(None)
    b_rows = slice(dy, None) if dy else slice(None)
    return (a_rows, a_cols), (b_rows, b_cols)


@dataclass
class _Sums:
    """Running per-pixel sums of one plane's frames."""

    n: int
    total: np.ndarray
    squares: np.ndarray
    maximum: np.ndarray
    products: list

    @classmethod
    def empty(cls, shape: tuple[int, int]) -> "_Sums":
        prods = []
        for dy, dx in _OFFSETS:
            a, _ = _pair_slices(dy, dx)
            prods.append(np.zeros(np.empty(shape)[a].shape))
        return cls(0, np.zeros(shape), np.zeros(shape), np.zeros(shape), prods)

    def add(self, frames: np.ndarray) -> None:
        """Accumulate a chunk of frames (n, H, W) of photon counts."""
        self.n += len(frames)
        self.total += frames.sum(axis=0, dtype=np.uint32)  # exact: a chunk < 65,537 frames
        np.maximum(self.maximum, frames.max(axis=0), out=self.maximum)
        x = frames.astype(np.float32)  # integer counts: exact products and chunk sums
        self.squares += np.einsum("thw,thw->hw", x, x)
        for acc, (dy, dx) in zip(self.products, _OFFSETS, strict=True):
            a, b = _pair_slices(dy, dx)
            acc += np.einsum("thw,thw->hw", x[(slice(None), *a)], x[(slice(None), *b)])

    def images(self) -> dict[str, np.ndarray]:
        """mean, max, std (population) and local-correlation images, float32 (H, W)."""
        n = max(1, self.n)
        mean = self.total / n
        var = np.maximum(self.squares / n - mean ** 2, 0.0)
        std = np.sqrt(var)
        corr_sum = np.zeros_like(mean)
        count = np.zeros_like(mean)
        for acc, (dy, dx) in zip(self.products, _OFFSETS, strict=True):
            a, b = _pair_slices(dy, dx)
            denom = std[a] * std[b]
            with np.errstate(invalid="ignore", divide="ignore"):
                r = np.where(denom > 0, (acc / n - mean[a] * mean[b]) / denom, 0.0)
            for side in (a, b):
                corr_sum[side] += r
                count[side] += 1
        return {"mean": mean.astype(np.float32), "max": self.maximum.astype(np.float32),
                "std": std.astype(np.float32),
                "correlation": (corr_sum / np.maximum(count, 1)).astype(np.float32)}


def plane_projections(io, frames, registration=None, progress=None, cancel=None,
                      chunk: int = 64) -> dict[str, np.ndarray]:
    """Mean, max, std and local-correlation images of ``frames`` (one plane and colour).

    Parameters
    ----------
    io : SiffIO
        The open acquisition.
    frames : sequence of int
        File frames of the plane, in time order.
    registration : dict or None
        Shifts for the reads as ``SiffIO.get_frames`` takes them (``Session.shifts``);
        None: raw frames.
    progress, cancel : callables, optional
        ``progress(done, total)`` in frames; ``cancel() -> bool`` stops the pass with
        :class:`libsiff.SiffCancelled`.
    chunk : int
        Frames decoded at a time (memory: two chunks, ``chunk * H * W * 8`` bytes).

    Returns
    -------
    dict
        ``{"mean", "max", "std", "correlation"}``: float32 (H, W). ``std`` is the
        population standard deviation; ``correlation`` is, per pixel, the mean Pearson
        correlation of its time course with those of its 8 neighbours (fewer at the edges;
        0 for a pixel or neighbour that never changes).
    """
    frames = [int(f) for f in frames]
    h, w = io.frame_shape()
    sums = _Sums.empty((h, w))
    chunk = max(1, chunk)
    starts = range(0, len(frames), chunk)

    def read(start: int) -> np.ndarray:
        return io.get_frames(frames[start:start + chunk], registration=registration)

    # decode the next chunk (C, GIL released) while numpy sums this one: two chunks in memory
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="projection-read") as pool:
        pending = pool.submit(read, starts[0]) if len(starts) else None
        for k, start in enumerate(starts):
            if cancel is not None and cancel():
                pending.cancel()
                raise SiffCancelled("projection cancelled")
            batch = pending.result()
            pending = pool.submit(read, starts[k + 1]) if k + 1 < len(starts) else None
            sums.add(batch)
            if progress is not None:
                progress(min(start + chunk, len(frames)), len(frames))
    return sums.images()


class ProjectionCache:
    """Projections of one session, kept per (plane, colour, registration state).

    The registration state is the RegistrationInfo object in use (or None for raw reads):
    a new registration makes new entries. Thread-safe (workers store, the GUI reads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple, tuple[object, dict]] = {}

    @staticmethod
    def key(plane: int, color: int, registration) -> tuple:
        """Cache key of a plane and colour read with ``registration`` (None: raw)."""
        return (int(plane), int(color), None if registration is None else id(registration))

    def get(self, plane: int, color: int, registration, source: str) -> np.ndarray | None:
        """The cached ``source`` image, or None when not computed yet."""
        with self._lock:
            entry = self._entries.get(self.key(plane, color, registration))
        return None if entry is None else entry[1].get(source)

    def put(self, plane: int, color: int, registration, images: dict) -> None:
        """Store the images of a finished pass (keeps ``registration`` alive for its id)."""
        with self._lock:
            self._entries[self.key(plane, color, registration)] = (registration, dict(images))
