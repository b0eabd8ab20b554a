"""Per-ROI photon statistics over time, from the C core's masked arrival histograms.

:func:`roi_photon_moments` asks :meth:`libsiff.SiffIO.get_histograms_masked` for one
arrival histogram per ROI and frame (in chunks of frames, so memory stays bounded), pools
the frames of each timepoint, and reduces every histogram to its moments: photons ``N``,
``sum k``, ``sum k**2`` and the laser-period phasor sum ``sum exp(2j*pi*k/P)`` of the arrival
bins ``k``. Everything downstream (background subtraction, lifetimes, their standard errors,
phasors) is linear algebra on these moments; optionally the histograms themselves are kept,
summed over groups of ``rebin`` bins, for the fixed-lifetime fraction fit
(:mod:`libsiff.flim.fraction_fit`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

__all__ = ["PhotonMoments", "rebin_histograms", "roi_photon_moments"]

_CHUNK_BYTES = 64 << 20  # histogram memory per chunk of frames


@dataclass
class PhotonMoments:
    """Photon moments per ROI and timepoint, arrays (R, T); arrival bins ``k`` in count bins.

    ``counts`` = N, ``sum_bins`` = sum k, ``sum_bins2`` = sum k**2, ``phasor_sum`` =
    sum exp(2j*pi*k/period_bins) (complex). ``histograms`` (R, T, K) when requested, each
    entry the photons of ``rebin`` consecutive bins.

    ``variance`` holds the Poisson variances ``(Var N, Cov(sum k, N), Var sum k)`` of the
    counts and sums; for measured photons they equal ``(N, sum k, sum k**2)`` (None), and
    :meth:`minus` propagates them through a background subtraction.
    """

    counts: np.ndarray
    sum_bins: np.ndarray
    sum_bins2: np.ndarray
    phasor_sum: np.ndarray
    period_bins: float
    histograms: Optional[np.ndarray] = None
    rebin: int = 1
    variance: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]] = None

    def _variance(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.variance is not None:
            return self.variance
        return self.counts, self.sum_bins, self.sum_bins2

    def __getitem__(self, rois) -> "PhotonMoments":
        """The moments of some ROIs (an index, slice or list along the first axis)."""
        def pick(a):
            return None if a is None else np.atleast_2d(a[rois]) if a.ndim == 2 else a[rois]
        h = self.histograms
        if h is not None:
            h = h[rois]
            h = h[None] if h.ndim == 2 else h
        var = None if self.variance is None else tuple(pick(v) for v in self.variance)
        return PhotonMoments(pick(self.counts), pick(self.sum_bins), pick(self.sum_bins2),
                             pick(self.phasor_sum), self.period_bins, h, self.rebin, var)

    def minus(self, other: "PhotonMoments", scale) -> "PhotonMoments":
        """These moments minus ``scale`` times ``other``'s (a background estimate).

        ``scale`` broadcasts against (R, T), e.g. the ratio of ROI to background area.
        """
        scale = np.asarray(scale, dtype=np.float64)
        hist = None
        if self.histograms is not None and other.histograms is not None:
            hist = self.histograms - scale[..., None] * other.histograms
        var = tuple(a + scale * scale * b
                    for a, b in zip(self._variance(), other._variance(), strict=True))
        return PhotonMoments(self.counts - scale * other.counts,
                             self.sum_bins - scale * other.sum_bins,
                             self.sum_bins2 - scale * other.sum_bins2,
                             self.phasor_sum - scale * other.phasor_sum,
                             self.period_bins, hist, self.rebin, var)

    def binned(self, n_timepoints: int) -> "PhotonMoments":
        """Moments pooled over consecutive groups of ``n_timepoints`` (a last partial group
        is dropped)."""
        n = int(n_timepoints)
        if n < 1:
            raise ValueError("n_timepoints must be >= 1")
        t = self.counts.shape[1] // n

        def pool(a):
            if a is None:
                return None
            return a[:, :t * n].reshape(a.shape[0], t, n, *a.shape[2:]).sum(axis=2)

        var = None if self.variance is None else tuple(pool(v) for v in self.variance)
        return PhotonMoments(pool(self.counts), pool(self.sum_bins), pool(self.sum_bins2),
                             pool(self.phasor_sum), self.period_bins, pool(self.histograms),
                             self.rebin, var)

    @property
    def mean_bins(self) -> np.ndarray:
        """Mean arrival bin (NaN without photons)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.counts > 0, self.sum_bins / self.counts, np.nan)

    @property
    def mean_bins_se(self) -> np.ndarray:
        """Standard error of :attr:`mean_bins` from the photons.

        Delta method for the ratio ``X / Y`` of ``X = sum k`` and ``Y = N``:
        ``(Var X - 2 m Cov(X, Y) + m**2 Var Y) / Y**2`` with ``m = X / Y``. For measured
        photons this is ``sqrt(var(k) / N)``; after :meth:`minus` it includes the noise of
        the subtracted background.
        """
        var_n, cov, var_s = self._variance()
        n = self.counts
        with np.errstate(invalid="ignore", divide="ignore"):
            m = self.sum_bins / n
            v = np.clip(var_s - 2.0 * m * cov + m * m * var_n, 0.0, None) / (n * n)
            return np.where(n > 0, np.sqrt(v), np.nan)

    @property
    def raw_phasor(self) -> np.ndarray:
        """Uncalibrated laser-period phasor ``phasor_sum / N`` (complex, NaN without photons)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.counts > 0, self.phasor_sum / self.counts, np.nan + 0j)


def rebin_histograms(histograms, rebin: int) -> np.ndarray:
    """Sum groups of ``rebin`` consecutive arrival bins along the last axis (last group may
    be shorter)."""
    h = np.asarray(histograms)
    rebin = int(rebin)
    if rebin < 1:
        raise ValueError("rebin must be >= 1")
    if rebin == 1:
        return h
    starts = np.arange(0, h.shape[-1], rebin)
    return np.add.reduceat(h, starts, axis=-1)


def roi_photon_moments(siffio, masks, frames, period_bins: float, registration=None,
                       keep_histograms: bool = False, rebin: int = 1) -> PhotonMoments:
    """Photon moments of several ROIs per timepoint, in one pass over the frames.

    Parameters
    ----------
    siffio : libsiff.SiffIO
        The open file (``SiffReader.siffio``).
    masks : ndarray of bool
        ``(R, H, W)``, or ``(R, P, H, W)`` with a mask per plane: the i-th frame of a
        timepoint uses plane ``i % P`` (as ``SiffIO`` cycles planes).
    frames : array_like of int
        ``(T,)`` one file frame per timepoint, or ``(T, k)`` the ``k`` frames pooled into
        each timepoint (planes, repeats).
    period_bins : float
        Laser period in count bins (``Tau_bins``), the phasor harmonic.
    registration : dict or ndarray, optional
        Shifts, as ``SiffIO`` takes them.
    keep_histograms : bool
        Also return the histograms (R, T, ceil(L / rebin)) as float64.
    rebin : int
        Arrival bins summed into each kept histogram entry.

    Returns
    -------
    PhotonMoments
    """
    frames = np.asarray(frames, dtype=np.int64)
    if frames.ndim == 1:
        frames = frames[:, None]
    if frames.ndim != 2:
        raise ValueError("frames must be (T,) or (T, k) file frame indices")
    masks = np.asarray(masks, dtype=bool)
    n_rois = masks.shape[0]
    n_t, k = frames.shape
    L = siffio.histogram_length
    bins = np.arange(L, dtype=np.float64)
    powers = np.stack([np.ones(L), bins, bins * bins], axis=1)
    phase = np.exp(2j * np.pi * bins / float(period_bins))
    out = {name: np.zeros((n_rois, n_t)) for name in ("n", "s1", "s2")}
    zsum = np.zeros((n_rois, n_t), np.complex128)
    n_kept = -(-L // int(rebin))
    hist = np.zeros((n_rois, n_t, n_kept)) if keep_histograms else None
    chunk = max(1, _CHUNK_BYTES // max(1, n_rois * k * L * 8))
    for start in range(0, n_t, chunk):
        sl = slice(start, min(start + chunk, n_t))
        fr = frames[sl].ravel()
        h = siffio.get_histograms_masked(masks, fr, registration)
        h = h.reshape(n_rois, -1, k, L).sum(axis=2, dtype=np.float64)
        m = h @ powers
        out["n"][:, sl], out["s1"][:, sl], out["s2"][:, sl] = m[..., 0], m[..., 1], m[..., 2]
        zsum[:, sl] = h @ phase
        if hist is not None:
            hist[:, sl] = rebin_histograms(h, rebin)
    return PhotonMoments(out["n"], out["s1"], out["s2"], zsum, float(period_bins), hist,
                         int(rebin))
