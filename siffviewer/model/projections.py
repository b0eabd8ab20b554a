"""Images of a whole plane to draw ROIs on: mean, max, standard deviation and the
local-correlation image (suite2p's Vcorr: each pixel's time course correlated with its 8
neighbours), computed in one streaming pass with bounded memory, and cached per plane,
colour and registration state. Qt-free.

The pass is the library's (``libsiff.projections``): one C pass over the plane's frames
accumulates, per pixel, the sum, the sum of squares, the maximum and the sums of products
with the right, lower, lower-right and lower-left neighbours (the other four neighbours are
the same pairs seen from the other pixel), a chunk of frames at a time for progress and
cancel. Memory: seven (H, W) uint64 arrays.
"""

from __future__ import annotations

import threading

import numpy as np

from libsiff import projections

#: what the main view can show: the current frame(s) or a projection of the whole plane
SOURCES = ("frame", "mean", "max", "std", "correlation")
PROJECTIONS = SOURCES[1:]
SOURCE_LABELS = {"frame": "Current frame(s)", "mean": "Mean image", "max": "Max image",
                 "std": "Std image", "correlation": "Local correlation"}


def plane_projections(io, frames, registration=None, progress=None, cancel=None,
                      chunk: int = 512) -> dict[str, np.ndarray]:
    """Mean, max, std and local-correlation images of ``frames`` (one plane and colour),
    as :func:`libsiff.projections.plane_projections`: ``registration`` as
    ``Session.shifts`` gives it (None: raw frames), ``progress(done, total)`` in frames and
    ``cancel() -> bool`` (raises :class:`libsiff.SiffCancelled`) once per ``chunk`` frames.
    Returns ``{"mean", "max", "std", "correlation"}``, float32 (H, W)."""
    return projections.plane_projections(io, frames, registration, progress, cancel, chunk)


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
