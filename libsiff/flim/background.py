"""Neuropil and background correction of ROI traces, and the columns an export writes.

Two corrections, both optional, per ROI (:class:`BackgroundSettings`):

* **Neuropil** (photon trace only, as suite2p): an annulus around the ROI, ``gap_px`` pixels
  away and ``width_px`` wide, without pixels of any ROI (:func:`neuropil_mask`). The
  corrected photons are ``F - coefficient * Fneu``, with ``Fneu`` the annulus's photons per
  pixel times the ROI's area (so the trace stays in photons); ``coefficient`` defaults to
  0.7 as in suite2p.
* **Background ROI** (photons and lifetime): a region without signal whose photons, scaled
  by area, are subtracted from the ROI's counts, arrival-time sums and phasor sums *before*
  any lifetime is computed (:meth:`PhotonMoments.minus`), so background photons with their
  own decay no longer bias the lifetime. Standard errors include the subtracted noise.

:func:`lifetime_columns` turns moments into the named columns of a trace export;
:func:`roi_trace_table` does the whole job for one ROI from a file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional

import numpy as np
from scipy import ndimage

from ..errors import SiffArgumentError
from .calibration import Calibration
from .roi_photons import PhotonMoments, roi_photon_moments

__all__ = ["BackgroundSettings", "lifetime_columns", "neuropil_corrected_photons",
           "neuropil_mask", "roi_trace_table"]

#: suite2p's neuropil coefficient.
DEFAULT_NEUROPIL_COEFFICIENT = 0.7


@dataclass
class BackgroundSettings:
    """Corrections of one ROI (saved in the session).

    ``neuropil``: subtract an annulus (``gap_px``, ``width_px``, ``coefficient``).
    ``background_roi``: name of the ROI whose photons are the background (None: none).
    """

    neuropil: bool = False
    gap_px: int = 2
    width_px: int = 8
    coefficient: float = DEFAULT_NEUROPIL_COEFFICIENT
    background_roi: Optional[str] = None

    def __post_init__(self):
        if self.gap_px < 0 or self.width_px < 1:
            raise SiffArgumentError("neuropil gap must be >= 0 and width >= 1 pixel")
        if not np.isfinite(self.coefficient) or self.coefficient < 0:
            raise SiffArgumentError("the neuropil coefficient must be >= 0")

    def to_dict(self) -> Dict[str, Any]:
        """JSON-compatible dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "BackgroundSettings":
        """Build from :meth:`to_dict` output."""
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise SiffArgumentError(f"unknown background settings {sorted(unknown)}")
        return cls(**data)


def neuropil_mask(roi_mask, gap_px: int = 2, width_px: int = 8, exclude=None) -> np.ndarray:
    """Annulus around an ROI: pixels ``gap_px < d <= gap_px + width_px`` from it.

    Parameters
    ----------
    roi_mask : ndarray of bool
        (H, W), or (P, H, W) with one mask per plane (each plane gets its own annulus).
    gap_px, width_px : int
        Distance from the ROI's edge to the annulus, and its width, in pixels.
    exclude : ndarray of bool, optional
        Pixels never in the annulus (e.g. the union of all ROIs), same shape.
    """
    roi = np.asarray(roi_mask, dtype=bool)
    if roi.ndim not in (2, 3):
        raise SiffArgumentError("an ROI mask is (H, W) or (P, H, W)")
    planes = roi[None] if roi.ndim == 2 else roi
    out = np.zeros_like(planes)
    for i, plane in enumerate(planes):
        if plane.any():
            d = ndimage.distance_transform_edt(~plane)
            out[i] = (d > gap_px) & (d <= gap_px + width_px)
    out = out[0] if roi.ndim == 2 else out
    if exclude is not None:
        out &= ~np.asarray(exclude, dtype=bool)
    return out & ~roi


def neuropil_corrected_photons(photons, neuropil_photons, roi_area: float,
                               neuropil_area: float,
                               coefficient: float = DEFAULT_NEUROPIL_COEFFICIENT):
    """``F - coefficient * Fneu``; ``Fneu`` = neuropil photons per pixel x ROI area.

    Returns ``(corrected, fneu)``, both in photons.
    """
    if neuropil_area <= 0:
        raise SiffArgumentError("the neuropil annulus has no pixels")
    fneu = np.asarray(neuropil_photons, dtype=np.float64) * (roi_area / neuropil_area)
    return np.asarray(photons, dtype=np.float64) - coefficient * fneu, fneu


def lifetime_columns(moments: PhotonMoments, calibration: Calibration,
                     background: Optional[PhotonMoments] = None,
                     background_scale: float = 1.0) -> Dict[str, np.ndarray]:
    """Lifetime columns of one ROI's moments (R = 1, or any R: columns are (R, T)).

    Parameters
    ----------
    moments : PhotonMoments
        The ROI's photons per timepoint.
    calibration : Calibration
        The channel's calibration (offset, phasor correction, harmonic).
    background : PhotonMoments, optional
        Photons of a background ROI, same timepoints.
    background_scale : float
        ROI area / background area.

    Returns
    -------
    dict of ndarray
        ``photons``, ``background_photons`` (scaled; 0 without background),
        ``signal_photons``, ``mean_arrival_bins``, ``empirical_lifetime_ns``,
        ``empirical_lifetime_se_ns`` (standard error from the photons),
        ``phasor_g``, ``phasor_s`` (calibrated), ``phase_lifetime_ns`` (apparent) and
        ``phase_lifetime_se_ns`` (its standard error from the photons).
    """
    signal = moments
    bg_photons = np.zeros_like(moments.counts, dtype=np.float64)
    if background is not None:
        signal = moments.minus(background, background_scale)
        bg_photons = background_scale * background.counts
    bw_ns = calibration.bin_width_ps / 1000.0
    mean = signal.mean_bins
    z = signal.raw_phasor
    g, s = calibration.calibrate_phasor(z.real, z.imag)
    phase_tau, _ = calibration.apparent_lifetime_ns(g, s)
    phase_se = _phase_lifetime_se_ns(np.asarray(g), np.asarray(s),
                                     signal.raw_phasor_covariance, calibration)
    return {
        "photons": np.asarray(moments.counts, dtype=np.float64),
        "background_photons": bg_photons,
        "signal_photons": np.asarray(signal.counts, dtype=np.float64),
        "mean_arrival_bins": mean,
        "empirical_lifetime_ns": calibration.empirical_lifetime_ns(mean),
        "empirical_lifetime_se_ns": signal.mean_bins_se * bw_ns,
        "phasor_g": np.asarray(g),
        "phasor_s": np.asarray(s),
        "phase_lifetime_ns": np.asarray(phase_tau),
        "phase_lifetime_se_ns": phase_se,
    }


def _phase_lifetime_se_ns(g, s, raw_cov, calibration: Calibration) -> np.ndarray:
    """Standard error of the phase lifetime ``s / (omega g)`` (delta method).

    The calibration rotates the raw phasor by ``phase_zero`` and scales it by
    ``modulation_zero``, so the calibrated covariance is ``m**2 R C R^T``.
    """
    c, sn = np.cos(calibration.phase_zero), np.sin(calibration.phase_zero)
    rot = calibration.modulation_zero * np.array([[c, -sn], [sn, c]])
    cov = rot @ raw_cov @ rot.T
    omega = 2e-3 * np.pi * calibration.frequency_mhz          # radians per ns
    with np.errstate(invalid="ignore", divide="ignore"):
        d_g, d_s = -s / (omega * g * g), 1.0 / (omega * g)
        var = (d_g * d_g * cov[..., 0, 0] + 2 * d_g * d_s * cov[..., 0, 1]
               + d_s * d_s * cov[..., 1, 1])
    return np.sqrt(np.clip(var, 0.0, None))


def roi_trace_table(siffio, roi_mask, frames, calibration: Calibration,
                    settings: Optional[BackgroundSettings] = None, background_mask=None,
                    other_rois=None, registration=None) -> Dict[str, np.ndarray]:
    """Every trace column of one ROI, with its corrections, in one pass over the frames.

    Parameters
    ----------
    siffio : libsiff.SiffIO
        The open file.
    roi_mask : ndarray of bool
        (H, W) or (P, H, W), as :func:`~libsiff.flim.roi_photons.roi_photon_moments`.
    frames : array_like of int
        (T,) or (T, k) file frames per timepoint.
    calibration : Calibration
        The channel's calibration.
    settings : BackgroundSettings, optional
        Neuropil settings (``settings.neuropil``); default: none.
    background_mask : ndarray of bool, optional
        The background ROI's mask (the one ``settings.background_roi`` names).
    other_rois : ndarray of bool, optional
        Union of all ROIs, kept out of the neuropil annulus.
    registration : dict or ndarray, optional
        Shifts, as ``SiffIO`` takes them.

    Returns
    -------
    dict of ndarray (T,)
        The columns of :func:`lifetime_columns`, plus ``neuropil_photons`` and
        ``neuropil_corrected_photons`` when the neuropil correction is on.
    """
    settings = settings or BackgroundSettings()
    roi = np.asarray(roi_mask, dtype=bool)
    masks = [roi]
    if settings.neuropil:
        masks.append(neuropil_mask(roi, settings.gap_px, settings.width_px, other_rois))
    if background_mask is not None:
        bg = np.asarray(background_mask, dtype=bool)
        if bg.shape != roi.shape:
            raise SiffArgumentError(f"background mask shape {bg.shape} != ROI mask shape {roi.shape}")
        if not bg.any():
            raise SiffArgumentError("the background ROI has no pixels")
        masks.append(bg)
    moments = roi_photon_moments(siffio, np.stack(masks), frames, calibration.period_bins,
                                 registration)
    area = float(roi.sum())
    background = moments[len(masks) - 1] if background_mask is not None else None
    scale = area / float(masks[-1].sum()) if background_mask is not None else 1.0
    cols = {k: v[0] for k, v in lifetime_columns(moments[0], calibration, background,
                                                 scale).items()}
    if settings.neuropil:
        corrected, fneu = neuropil_corrected_photons(
            cols["photons"], moments.counts[1], area, float(masks[1].sum()),
            settings.coefficient)
        cols["neuropil_photons"] = fneu
        cols["neuropil_corrected_photons"] = corrected
    return cols
