"""Intensity and lifetime traces of ROIs over time, computed by libsiff in one pass.

Qt-free. ``compute_traces`` reads the masks' photons for every timepoint of one colour
channel (planes pooled photon-weighted, as ``SiffReader.sum_masks_flim``), in chunks of
timepoints so that progress and cancel work. Lifetimes are empirical (mean arrival time
minus the IRF offset of the FLIM parameters when given) in nanoseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from libsiff import SiffCancelled


@dataclass
class Traces:
    """Per ROI and timepoint: photons and empirical lifetime (ns)."""

    roi_ids: list[int]
    names: list[str]
    planes: list[list[int]]          # planes each ROI covers
    time_s: np.ndarray               # (T,) seconds since acquisition start
    photons: np.ndarray              # (R, T) uint64
    lifetime_ns: np.ndarray          # (R, T) float64, NaN without photons
    color: int                       # 0-based colour channel
    registered: bool
    offset_ns: float = 0.0           # IRF offset subtracted from the lifetimes
    mask_version: int = -1
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Baseline:
    """dF/F baseline: the ``percentile`` of F in a moving window of ``window_s`` seconds."""

    percentile: float = 10.0
    window_s: float = 30.0

    def compute(self, photons: np.ndarray, time_s: np.ndarray) -> np.ndarray:
        """Baseline F0 per ROI and timepoint (float64, same shape as ``photons``)."""
        f = np.asarray(photons, np.float64)
        if f.shape[-1] == 0:
            return f.copy()
        dt = np.nanmedian(np.diff(time_s)) if len(time_s) > 1 else 1.0
        size = int(max(1, round(self.window_s / dt if dt > 0 else 1)))
        size = min(size, f.shape[-1]) | 1  # odd, at most the trace length
        return ndimage.percentile_filter(f, self.percentile, size=(1, size), mode="nearest")


def dff(photons: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """(F - F0) / F0, NaN where the baseline is 0."""
    f0 = np.asarray(baseline, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (np.asarray(photons, np.float64) - f0) / f0
    out[~np.isfinite(out)] = np.nan
    return out


def compute_traces(session, masks: np.ndarray, roi_ids: list[int], names: list[str],
                   color: int = 0, registered: bool = False, params=None, progress=None,
                   cancel=None, chunk_timepoints: int = 2000, mask_version: int = -1) -> Traces:
    """Traces of ``masks`` (bool ``(R, planes, rows, columns)``) for one colour channel.

    ``params``: FLIMParams, or a :class:`libsiff.flim.Calibration`, whose IRF offset is
    subtracted (None: mean arrival time).
    ``progress(done, total)`` counts timepoints; ``cancel()`` stops with SiffCancelled."""
    reader = session.reader
    T = session.geometry.n_timepoints
    R = masks.shape[0]
    photons = np.zeros((R, T), np.uint64)
    life = np.full((R, T), np.nan)
    reg = None if registered else {}
    bin_ps = reader.picoseconds_per_bin if session.has_flim else 0.0
    calibration = params if hasattr(params, "offset_bins") else None
    if calibration is not None:
        params = None  # the library's mean arrival time, then the calibration's offset
    for start in range(0, T, chunk_timepoints):
        if cancel is not None and cancel():
            raise SiffCancelled("trace computation cancelled")
        stop = min(T, start + chunk_timepoints)
        if R and session.has_flim:
            trace = reader.sum_masks_flim(masks, params=params, timepoint_start=start,
                                          timepoint_end=stop, color_channel=color + 1,
                                          registration_dict=reg)
            photons[:, start:stop] = np.asarray(trace.intensity).reshape(R, -1)
            life[:, start:stop] = np.asarray(trace).reshape(R, -1) * bin_ps / 1000.0
        elif R:  # a plain TIFF: intensities only, lifetimes stay NaN
            photons[:, start:stop] = reader.sum_masks(
                masks, timepoint_start=start, timepoint_end=stop, color_channel=color + 1,
                registration_dict=reg).reshape(R, -1)
        if progress is not None:
            progress(stop, T)
    offset_ns = 0.0
    if calibration is not None:
        offset_ns = calibration.offset_bins * bin_ps / 1000.0
        life -= offset_ns
    elif params is not None:
        from libsiff.flim import tau_offset_bins

        offset_ns = tau_offset_bins(params) * bin_ps / 1000.0
    plane_lists = [[int(z) for z in np.flatnonzero(m.reshape(m.shape[0], -1).any(1))]
                   for m in masks]
    return Traces(list(roi_ids), list(names), plane_lists, session.timepoint_times(0, color),
                  photons, life, color, registered, offset_ns, mask_version)
