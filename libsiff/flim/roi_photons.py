"""Per-ROI photon statistics over time, from the C core's masked arrival histograms.

:func:`roi_photon_moments` asks :meth:`libsiff.SiffIO.get_histograms_masked` for one
arrival histogram per ROI and frame (in chunks of frames, so memory stays bounded), pools
the frames of each timepoint, and reduces every histogram to its moments: photons ``N``,
``sum k``, ``sum k**2`` and the laser-period phasor sums (first and second harmonic) of the
arrival bins ``k``. Everything downstream (background subtraction, lifetimes, their standard
errors, phasors) is linear algebra on these moments; optionally the histograms themselves
are kept, summed over groups of ``rebin`` bins, for the fixed-lifetime fraction fit
(:mod:`libsiff.flim.fraction_fit`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from ..errors import SiffArgumentError

__all__ = ["PhotonMoments", "rebin_histograms", "roi_photon_moments"]

_CHUNK_BYTES = 64 << 20  # histogram memory per chunk of frames


_SUMS = ("counts", "sum_bins", "sum_bins2", "phasor_sum", "phasor2_sum")


@dataclass
class PhotonMoments:
    """Photon moments per ROI and timepoint, arrays (R, T); arrival bins ``k`` in count bins.

    ``counts`` = N, ``sum_bins`` = sum k, ``sum_bins2`` = sum k**2, ``phasor_sum`` =
    sum exp(2j*pi*k/P) and ``phasor2_sum`` = sum exp(4j*pi*k/P) (second harmonic, for the
    phasor's errors), ``P = period_bins``. ``histograms`` (R, T, K) when requested, each
    entry the photons of ``rebin`` consecutive bins.

    ``noise_sums`` holds the same five sums weighted for variances: a sum over photons of
    ``u`` has Poisson variance ``sum u**2``, so products of the per-photon quantities (1, k,
    cos, sin) are again these sums. For measured photons they are the sums themselves
    (None); :meth:`minus` adds ``scale**2`` times the background's.
    """

    counts: np.ndarray
    sum_bins: np.ndarray
    sum_bins2: np.ndarray
    phasor_sum: np.ndarray
    phasor2_sum: np.ndarray
    period_bins: float
    histograms: Optional[np.ndarray] = None
    rebin: int = 1
    noise_sums: Optional[Tuple[np.ndarray, ...]] = None

    def _sums(self) -> Tuple[np.ndarray, ...]:
        return tuple(getattr(self, name) for name in _SUMS)

    def _noise(self) -> Tuple[np.ndarray, ...]:
        return self._sums() if self.noise_sums is None else self.noise_sums

    def _with(self, sums, histograms, noise) -> "PhotonMoments":
        return PhotonMoments(*sums, self.period_bins, histograms, self.rebin, noise)

    def __getitem__(self, rois) -> "PhotonMoments":
        """The moments of some ROIs (an index, slice or list along the first axis)."""
        def pick(a):
            return np.atleast_2d(a[rois])
        h = self.histograms
        if h is not None:
            h = h[rois]
            h = h[None] if h.ndim == 2 else h
        noise = None if self.noise_sums is None else tuple(pick(v) for v in self.noise_sums)
        return self._with([pick(a) for a in self._sums()], h, noise)

    def minus(self, other: "PhotonMoments", scale) -> "PhotonMoments":
        """These moments minus ``scale`` times ``other``'s (a background estimate).

        ``scale`` broadcasts against (R, T), e.g. the ratio of ROI to background area.
        """
        scale = np.asarray(scale, dtype=np.float64)
        hist = None
        if self.histograms is not None and other.histograms is not None:
            hist = self.histograms - scale[..., None] * other.histograms
        sums = [a - scale * b for a, b in zip(self._sums(), other._sums(), strict=True)]
        noise = tuple(a + scale * scale * b
                      for a, b in zip(self._noise(), other._noise(), strict=True))
        return self._with(sums, hist, noise)

    def binned(self, n_timepoints: int) -> "PhotonMoments":
        """Moments pooled over consecutive groups of ``n_timepoints`` (a last partial group
        is dropped)."""
        n = int(n_timepoints)
        if n < 1:
            raise SiffArgumentError("n_timepoints must be >= 1")
        t = self.counts.shape[1] // n

        def pool(a):
            if a is None:
                return None
            return a[:, :t * n].reshape(a.shape[0], t, n, *a.shape[2:]).sum(axis=2)

        noise = None if self.noise_sums is None else tuple(pool(v) for v in self.noise_sums)
        return self._with([pool(a) for a in self._sums()], pool(self.histograms), noise)

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
        var_n, cov, var_s, _, _ = self._noise()
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

    @property
    def raw_phasor_covariance(self) -> np.ndarray:
        """Covariance of the raw phasor's ``(g, s)`` from the photons, (R, T, 2, 2).

        Delta method for ``(sum cos, sum sin) / N``, with ``Var sum cos = (N + Re Z2) / 2``,
        ``Var sum sin = (N - Re Z2) / 2``, ``Cov = Im Z2 / 2`` (``Z2``: second-harmonic sum)
        and ``Cov(sum cos, N) = Re Z``, ``Cov(sum sin, N) = Im Z`` (noise-weighted after
        :meth:`minus`).
        """
        var_n, _, _, z, z2 = self._noise()
        n = self.counts
        with np.errstate(invalid="ignore", divide="ignore"):
            g, s = self.phasor_sum.real / n, self.phasor_sum.imag / n
            vxx, vyy, vxy = (var_n + z2.real) / 2, (var_n - z2.real) / 2, z2.imag / 2
            cxn, cyn = z.real, z.imag
            cgg = (vxx - 2 * g * cxn + g * g * var_n) / (n * n)
            css = (vyy - 2 * s * cyn + s * s * var_n) / (n * n)
            cgs = (vxy - g * cyn - s * cxn + g * s * var_n) / (n * n)
        return np.stack([np.stack([cgg, cgs], -1), np.stack([cgs, css], -1)], -2)


def rebin_histograms(histograms, rebin: int) -> np.ndarray:
    """Sum groups of ``rebin`` consecutive arrival bins along the last axis (last group may
    be shorter)."""
    h = np.asarray(histograms)
    rebin = int(rebin)
    if rebin < 1:
        raise SiffArgumentError("rebin must be >= 1")
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
        raise SiffArgumentError("frames must be (T,) or (T, k) file frame indices")
    masks = np.asarray(masks, dtype=bool)
    n_rois = masks.shape[0]
    n_t, k = frames.shape
    L = siffio.histogram_length
    bins = np.arange(L, dtype=np.float64)
    powers = np.stack([np.ones(L), bins, bins * bins], axis=1)
    phase = np.exp(2j * np.pi * bins[:, None] * np.array([1.0, 2.0]) / float(period_bins))
    out = {name: np.zeros((n_rois, n_t)) for name in ("n", "s1", "s2")}
    zsum = np.zeros((n_rois, n_t, 2), np.complex128)
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
    return PhotonMoments(out["n"], out["s1"], out["s2"], zsum[..., 0], zsum[..., 1],
                         float(period_bins), hist, int(rebin))
