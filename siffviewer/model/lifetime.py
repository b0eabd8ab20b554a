"""Lifetime analysis of a session with explicit inputs: arrival-time histograms, lifetime
maps and ROI phasors. Qt-free; the app's panels run these off the GUI thread with what
they read from the session state beforehand, the CLI and tests call them directly."""

from __future__ import annotations

import numpy as np

from libsiff.flim import empirical_lifetime_ns, mean_arrival_bins, tau_offset_bins


def roi_histogram(session, mask: np.ndarray, color: int, registered: bool) -> np.ndarray:
    """Arrival-time histogram of the photons in ``mask`` (planes, rows, columns) over every
    complete timepoint of ``color`` (0-based)."""
    # frame i of the volume-ordered list uses plane i % planes
    return session.io.get_histograms_masked(mask[None], session.volume_frames(color),
                                            session.shifts(registered), sum_frames=True)[0]


def frames_histogram(session, timepoint: int, plane: int, color: int, average: int = 1
                     ) -> np.ndarray:
    """Arrival-time histogram of the displayed frame(s) (``average`` timepoints)."""
    return session.io.get_histogram(session.frames_for(timepoint, plane, color, average))


def lifetime_map(session, frames: list[int], registered: bool, params=None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel: photons (summed over ``frames``) and empirical lifetime in ns (mean
    arrival time minus the IRF offset of ``params``, FLIMParams or a Calibration; NaN
    without photons)."""
    counts, sums, _ = session.io.flim_sums(frames, session.shifts(registered))
    if hasattr(params, "offset_bins"):  # a Calibration
        offset = params.offset_bins
    else:
        offset = tau_offset_bins(params) if params is not None else 0.0
    life_ns = empirical_lifetime_ns(mean_arrival_bins(sums, counts), offset,
                                    bin_width_ps=session.reader.picoseconds_per_bin)
    return counts, life_ns


def roi_phasors(session, stack: np.ndarray, color: int, registered: bool, params=None
                ) -> np.ndarray:
    """Pooled phasor g + i s of every ROI of ``stack`` (R, planes, rows, columns) over the
    session's complete timepoints of ``color`` (NaN for an ROI without photons)."""
    z, counts, _ = session.io.sum_rois_flim(stack, params, session.volume_frames(color),
                                            "phasor", session.shifts(registered))
    with np.errstate(invalid="ignore"):
        weights = counts.astype(float)
        return np.nansum(z * weights, axis=1) / weights.sum(axis=1)
