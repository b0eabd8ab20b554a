"""The pixel phasor of what the user looks at, with explicit inputs (Qt-free): the current
frame(s), the plane's projection, or one ROI's pixels, thresholded and median-filtered as
the phasor settings say; and the pixels a set of cursors selects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from libsiff.flim import Calibration, PixelPhasor, pixel_phasor

from .flim_settings import PhasorSettings

DENSITY_BINS = 200


@dataclass(frozen=True)
class PhasorRequest:
    """Which photons a phasor image pools: ``source`` ('frames', 'projection', 'roi'),
    the view position, and (for 'roi') the ROI's (H, W) mask in that plane."""

    source: str
    timepoint: int
    plane: int
    color: int
    average: int
    registered: bool


def phasor_frames(session, request: PhasorRequest) -> list[int]:
    """File frames of a request: the displayed frame(s), or every frame of the plane."""
    r = request
    if r.source == "frames":
        return session.frames_for(r.timepoint, r.plane, r.color, r.average)
    return session.plane_frames(r.plane, r.color)


def phasor_image(session, request: PhasorRequest, calibration: Calibration,
                 settings: PhasorSettings, mask: np.ndarray | None = None) -> PixelPhasor:
    """Calibrated per-pixel phasor of a request, thresholded (``settings.min_photons``) and
    median-filtered (``settings.filter_size``, ``filter_repeat``); pixels outside ``mask``
    are NaN."""
    frames = phasor_frames(session, request)
    ph = pixel_phasor(session.io, frames, calibration, session.shifts(request.registered),
                      mask if request.source == "roi" else None)
    if settings.filter_repeat > 0:
        ph = ph.filtered(settings.filter_size, settings.filter_repeat)
    return ph.thresholded(settings.min_photons)


def cursor_selection(phasor: PixelPhasor, settings: PhasorSettings) -> np.ndarray | None:
    """Pixels inside any cursor (None without cursors)."""
    if not settings.cursors:
        return None
    selected = np.zeros(phasor.real.shape, bool)
    for cursor in settings.cursors:
        selected |= cursor.mask(phasor.real, phasor.imag)
    return selected
