"""Vectorised lifetime helpers: empirical lifetimes (mean arrival bin) and phasors.

Conventions (docs/format.md §7.4–7.5, docs/compatibility.md §8a):

* Arrival times are **count bins** unless a name says ``_ns``; one bin lasts the file's
  ``bin_width_ps`` picoseconds, and bin ``i`` represents time ``i * bin_width``.
* The empirical lifetime is the mean arrival bin minus the IRF offset (both in count bins).
* The phasor of photons with bins ``tau_k`` is ``mean(exp(2*pi*1j*tau_k / L))`` where ``L``
  is the **histogram length** ``Tau_bins + 2`` (not the laser period). The IRF offset is
  calibrated out by one rotation everywhere: multiply by ``exp(-2*pi*1j*offset_bins / L)``.
  Then ``g = phasor.real``, ``s = phasor.imag``, and a pure exponential of lifetime ``tau``
  lies near ``1 / (1 - 1j*omega*tau)`` on the universal semicircle, ``omega = 2*pi / L``
  (``L`` in count bins, or ``L * bin_width`` in time).

No function loops over photons or pixels in Python; all broadcast over leading axes.
"""

from __future__ import annotations

from typing import Any, Tuple

import numpy as np

from ..errors import SiffArgumentError
from .units import FlimUnits, convert_flimunits

__all__ = [
    "calibrate_phasor",
    "correct_phasor",
    "distance_to_semicircle",
    "empirical_lifetime_bins",
    "empirical_lifetime_from_histogram",
    "empirical_lifetime_ns",
    "histogram_to_phasor",
    "lifetime_bins_from_ns",
    "lifetime_ns_from_bins",
    "mean_arrival_bins",
    "mean_arrival_bins_from_histogram",
    "phasor_from_sums",
    "phasor_to_fraction",
    "phasor_to_tau_modulation",
    "phasor_to_tau_phase",
    "tau_offset_bins",
    "tau_to_phasor",
    "universal_semicircle",
]


# ---------------------------------------------------------------- unit helpers
def lifetime_ns_from_bins(lifetime_bins, bin_width_ps: float):
    """Convert a lifetime (or any duration) from count bins to nanoseconds.

    ``ns = bins * bin_width_ps / 1000``. Scalars stay scalars, arrays stay arrays.
    """
    return convert_flimunits(lifetime_bins, FlimUnits.COUNTBINS, FlimUnits.NANOSECONDS,
                             bin_width_ps)


def lifetime_bins_from_ns(lifetime_ns, bin_width_ps: float):
    """Convert a lifetime (or any duration) from nanoseconds to count bins."""
    return convert_flimunits(lifetime_ns, FlimUnits.NANOSECONDS, FlimUnits.COUNTBINS,
                             bin_width_ps)


def tau_offset_bins(params: Any) -> float:
    """IRF offset of ``params`` in count bins (0 for ``None``; a number is taken as bins).

    Works with any object exposing ``units``, ``convert_units`` and ``tau_offset`` (the
    corrosiffpy duck type), which is converted to count bins and then restored.
    """
    if params is None:
        return 0.0
    if np.isscalar(params):
        return float(params)
    units = params.units
    if hasattr(params, "bin_width_ps") and FlimUnits(units) not in (
            FlimUnits.UNKNOWN, FlimUnits.UNITLESS):
        return float(convert_flimunits(params.tau_offset, units, FlimUnits.COUNTBINS,
                                       params.bin_width_ps))
    params.convert_units("countbins")
    try:
        return float(params.tau_offset)
    finally:
        params.convert_units(units)


# ---------------------------------------------------------------- empirical lifetime
def mean_arrival_bins(tau_sum, counts):
    """Mean arrival bin ``tau_sum / counts`` (count bins); ``NaN`` where ``counts == 0``.

    Parameters
    ----------
    tau_sum : array_like
        Sum of the photons' arrival bins (per pixel, ROI or frame).
    counts : array_like
        Number of photons, broadcastable against ``tau_sum``.
    """
    tau_sum = np.asarray(tau_sum, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(counts > 0, tau_sum / counts, np.nan)
    return out[()] if out.ndim == 0 else out


def mean_arrival_bins_from_histogram(histogram, axis: int = -1):
    """Mean arrival bin (count bins) of arrival-time histograms along ``axis``.

    Bin ``i`` counts as arrival bin ``i``. ``NaN`` for empty histograms.
    """
    h = np.asarray(histogram, dtype=np.float64)
    h = np.moveaxis(h, axis, -1)
    bins = np.arange(h.shape[-1], dtype=np.float64)
    return mean_arrival_bins(h @ bins, h.sum(axis=-1))


def empirical_lifetime_bins(mean_bins, offset_bins=0.0):
    """Empirical lifetime in count bins: mean arrival bin minus the IRF offset (bins)."""
    return np.subtract(mean_bins, offset_bins)


def empirical_lifetime_ns(mean_bins, offset_bins=0.0, *, bin_width_ps: float):
    """Empirical lifetime in nanoseconds: ``(mean_bins - offset_bins) * bin_width_ps / 1000``.

    Parameters
    ----------
    mean_bins : array_like
        Mean arrival bin (count bins), e.g. from :func:`mean_arrival_bins`.
    offset_bins : float or array_like
        IRF offset in count bins (:func:`tau_offset_bins` of a ``FLIMParams``).
    bin_width_ps : float
        Picoseconds per count bin (the file's ``5 ps * 2**binResolution``).
    """
    return lifetime_ns_from_bins(empirical_lifetime_bins(mean_bins, offset_bins), bin_width_ps)


def empirical_lifetime_from_histogram(histogram, offset_bins=0.0, axis: int = -1):
    """Empirical lifetime in count bins of histograms along ``axis`` (mean bin − offset)."""
    return empirical_lifetime_bins(mean_arrival_bins_from_histogram(histogram, axis),
                                   offset_bins)


# ---------------------------------------------------------------- phasors
def calibrate_phasor(phasor, offset_bins, n_bins: int):
    """Remove the IRF offset: ``phasor * exp(-2j*pi*offset_bins / n_bins)``.

    ``n_bins`` is the histogram length ``L = Tau_bins + 2`` (the phasor's harmonic);
    ``offset_bins`` in count bins.
    """
    rot = np.exp(-2j * np.pi * np.asarray(offset_bins, dtype=float) / float(n_bins))
    return np.asarray(phasor, dtype=np.complex128) * rot


def histogram_to_phasor(histogram, offset_bins=0.0, axis: int = -1):
    """Phasor ``g + 1j*s`` of arrival-time histograms along ``axis``.

    Bin ``i`` has phase ``2*pi*i / L`` with ``L = histogram.shape[axis]`` (``Tau_bins + 2``
    for .siff histograms), then the offset rotation of :func:`calibrate_phasor` is applied.

    Returns
    -------
    complex or numpy.ndarray of complex128
        ``NaN + NaN*1j`` for empty histograms.
    """
    h = np.moveaxis(np.asarray(histogram, dtype=np.float64), axis, -1)
    L = h.shape[-1]
    phase = np.exp(2j * np.pi * np.arange(L) / L)
    return phasor_from_sums(h @ phase, h.sum(axis=-1), L, offset_bins)


def phasor_from_sums(complex_sum, counts, n_bins: int, offset_bins=0.0):
    """Phasor from per-pixel sums ``sum_k exp(2j*pi*tau_k / n_bins)`` and photon counts.

    ``n_bins`` is the histogram length ``L``; ``offset_bins`` (count bins) is rotated out as
    in :func:`calibrate_phasor`. ``NaN + NaN*1j`` where ``counts == 0``.
    """
    s = np.asarray(complex_sum, dtype=np.complex128)
    n = np.asarray(counts, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n > 0, s / np.where(n > 0, n, 1.0), np.nan + 1j * np.nan)
    out = calibrate_phasor(mean, offset_bins, n_bins)
    return out[()] if out.ndim == 0 else out


def tau_to_phasor(tau, period):
    """Phasor of a pure exponential: ``1 / (1 - 1j*omega*tau)``, ``omega = 2*pi/period``.

    ``tau`` and ``period`` in one unit; with libsiff's convention the period is the
    histogram length ``L`` (count bins) or ``L * bin_width`` (time).
    """
    wt = 2 * np.pi * np.asarray(tau, dtype=float) / float(period)
    return 1.0 / (1.0 - 1j * wt)


def phasor_to_tau_phase(phasor, period):
    """Phase lifetime ``s / (g * omega)`` in the unit of ``period`` (``omega = 2*pi/period``)."""
    p = np.asarray(phasor, dtype=np.complex128)
    with np.errstate(divide="ignore", invalid="ignore"):
        return p.imag / p.real * float(period) / (2 * np.pi)


def phasor_to_tau_modulation(phasor, period):
    """Modulation lifetime ``sqrt(1/|p|**2 - 1) / omega`` in the unit of ``period``."""
    p = np.asarray(phasor, dtype=np.complex128)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(np.clip(1.0 / np.abs(p) ** 2 - 1.0, 0.0, None)) * float(period) / (2 * np.pi)


def universal_semicircle(n_points: int = 256) -> Tuple[np.ndarray, np.ndarray]:
    """``(g, s)`` points of the universal semicircle (pure exponentials), g from 1 to 0."""
    phi = np.linspace(0.0, np.pi, int(n_points))
    return 0.5 * (1.0 + np.cos(phi)), 0.5 * np.sin(phi)


def distance_to_semicircle(phasor):
    """Signed distance from the universal semicircle: ``|p - 0.5| - 0.5`` (inside < 0)."""
    return np.abs(np.asarray(phasor, dtype=np.complex128) - 0.5) - 0.5


def phasor_to_fraction(phasor, tau_a, tau_b, period):
    """Photon fraction of component ``a`` from a phasor on the line between two lifetimes.

    Phasors mix linearly with photon fractions, so the phasor is projected onto the segment
    from ``tau_to_phasor(tau_b)`` (fraction 0) to ``tau_to_phasor(tau_a)`` (fraction 1).
    ``tau_a``, ``tau_b`` and ``period`` in one unit. Not clipped to ``[0, 1]``.
    """
    pa, pb = tau_to_phasor(tau_a, period), tau_to_phasor(tau_b, period)
    d = pa - pb
    p = np.asarray(phasor, dtype=np.complex128)
    return np.real((p - pb) * np.conj(d)) / np.abs(d) ** 2


def correct_phasor(phasor, params, hist_length: int, subtract_noise: bool = False,
                   project: bool = False):
    """Calibrate phasors with fitted ``FLIMParams`` (SiffPy's ``correct_phasor``).

    Parameters
    ----------
    phasor : array_like of complex
        Uncalibrated phasors (harmonic ``hist_length``).
    params : FLIMParams
        Its IRF offset is rotated out (:func:`calibrate_phasor`).
    hist_length : int
        Histogram length ``L = Tau_bins + 2``.
    subtract_noise : bool
        Remove the uniform background ``params.noise``, spread over the laser period
        ``L - 2`` bins.
    project : bool
        With two components, project onto the line between their pure phasors.
    """
    L = int(hist_length)
    p = calibrate_phasor(phasor, tau_offset_bins(params), L)
    if subtract_noise and params.noise > 0:
        P = L - 2
        noise_phasor = np.exp(2j * np.pi * np.arange(P) / L).mean()
        noise_phasor = calibrate_phasor(noise_phasor, tau_offset_bins(params), L)
        p = (p - params.noise * noise_phasor) / (1.0 - params.noise)
    if project:
        if params.n_exp != 2:
            raise SiffArgumentError("projection needs exactly two exponential components")
        bw = getattr(params, "bin_width_ps", None)
        taus = [convert_flimunits(e.tau, e.units, FlimUnits.COUNTBINS,
                                  bw if bw is not None else e.bin_width_ps)
                for e in params.exps]
        f = phasor_to_fraction(p, taus[0], taus[1], L)
        pa, pb = tau_to_phasor(taus[0], L), tau_to_phasor(taus[1], L)
        p = pb + f * (pa - pb)
    return p
