"""Lifetime columns of ROI traces: standard errors, calibrated phasors, background- and
neuropil-corrected photons and lifetimes, the long-component fraction over time, and
per-plane photons. Qt-free; one pass over the frames through libsiff's
:func:`~libsiff.flim.roi_photon_moments`, then :func:`~libsiff.flim.lifetime_columns`,
:func:`~libsiff.flim.neuropil_mask` and :func:`~libsiff.flim.fit_lifetime_over_time`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from libsiff import SiffCancelled
from libsiff.flim import BackgroundSettings, Calibration, lifetime_columns, neuropil_mask
from libsiff.flim.background import neuropil_corrected_photons
from libsiff.flim.fraction_fit import fit_lifetime_over_time
from libsiff.flim.roi_photons import roi_photon_moments

from .flim_settings import FractionFitSettings


@dataclass
class FlimColumns:
    """Extra per-ROI columns over the timepoints: ``columns`` name -> (R, T) float arrays
    (NaN where a column does not apply to an ROI or a timepoint); ``pooled`` the pooled
    fit per ROI of the fraction fit (FLIMParams or None); ``warnings`` for the header;
    ``lifetime_ns`` and ``photons`` (R, T) the calibrated empirical lifetime and the photons
    (for plots)."""

    columns: dict = field(default_factory=dict)
    lifetime_ns: np.ndarray | None = None
    photons: np.ndarray | None = None
    pooled: list = field(default_factory=list)
    warnings: list = field(default_factory=list)  # "ROI 'name' ...", or about no one ROI

    def warnings_about(self, names) -> list[str]:
        """The warnings about the ROIs ``names``, and those about no one ROI."""
        mine = tuple(f"ROI {n!r}{end}" for n in names for end in (" ", ":"))
        return [w for w in self.warnings if w.startswith(mine) or not w.startswith("ROI ")]


def _complete_rows(grid: np.ndarray) -> np.ndarray:
    return (grid >= 0).all(axis=1)


def compute_flim_columns(session, masks: np.ndarray, names: list[str], color: int,
                         registered: bool, calibration: Calibration,
                         backgrounds: dict | None = None,
                         fraction: FractionFitSettings | None = None,
                         per_plane: bool = False, progress=None, cancel=None,
                         chunk_timepoints: int = 2000) -> FlimColumns:
    """Lifetime columns of ``masks`` (bool (R, planes, H, W)) for colour ``color``.

    Columns: ``lifetime_se_ns`` (standard error of the empirical lifetime from the photons),
    ``phasor_g``, ``phasor_s``, ``phase_lifetime_ns``, ``phase_lifetime_se_ns`` (calibrated,
    background removed where the ROI has one); with any background ROI
    ``background_photons``, ``signal_photons``, ``corrected_lifetime_ns`` and
    ``corrected_lifetime_se_ns``; with any neuropil ``neuropil_photons`` and
    ``neuropil_corrected_photons``; with the fraction fit ``long_fraction`` and
    ``long_fraction_se`` (of the signal photons where the ROI has a background ROI); with
    ``per_plane`` ``photons_plane<z>`` for every plane. Timepoints missing a plane's frame
    (the end of a file) are NaN.
    """
    backgrounds = backgrounds or {}
    fraction = fraction or FractionFitSettings()
    grid = session.grid[:, :, color]
    T, P = grid.shape
    R = len(names)
    out = FlimColumns()
    if R == 0:
        return out
    masks = np.asarray(masks, bool)
    union = masks.any(axis=0)
    index = {n: i for i, n in enumerate(names)}
    stack = [m for m in masks]
    annulus, plane_rows, bg_of = {}, {}, {}
    for r, name in enumerate(names):
        s = backgrounds.get(name)
        if s is None:
            continue
        if s.neuropil:
            ring = neuropil_mask(masks[r], s.gap_px, s.width_px, union)
            if ring.any():
                annulus[r] = len(stack)
                stack.append(ring)
            else:
                out.warnings.append(f"ROI {name!r}: the neuropil annulus has no pixels")
        if s.background_roi is not None:
            if s.background_roi not in index or s.background_roi == name:
                raise ValueError(f"ROI {name!r}: background ROI {s.background_roi!r} does not "
                                 "exist (or is the ROI itself)")
            b = index[s.background_roi]
            bg_of[r] = (b, float(masks[r].sum()) / float(masks[b].sum()))  # and area ratio
    if per_plane:
        for r in range(R):
            for z in range(P):
                if masks[r, z].any():
                    only = np.zeros_like(masks[r])
                    only[z] = masks[r, z]
                    plane_rows[(r, z)] = len(stack)
                    stack.append(only)
    ok = np.flatnonzero(_complete_rows(grid))
    # the fraction fit keeps histograms: of the ROIs only (a second pass when the stack also
    # holds annuli or single planes), so their memory stays R x T x L / rebin
    separate = fraction.enabled and len(stack) > R
    passes = 2 if separate else 1

    def read(masks, keep, index):
        parts = []
        for start in range(0, len(ok), chunk_timepoints):
            if cancel is not None and cancel():
                raise SiffCancelled("lifetime columns cancelled")
            rows = ok[start:start + chunk_timepoints]
            parts.append(roi_photon_moments(session.io, masks, grid[rows],
                                            calibration.period_bins, session.shifts(registered),
                                            keep_histograms=keep, rebin=fraction.rebin))
            if progress is not None:
                progress(index * len(ok) + min(start + chunk_timepoints, len(ok)),
                         passes * len(ok))
        return _concat(parts, len(masks), calibration.period_bins, keep, fraction.rebin,
                       session.io.histogram_length)

    moments = read(np.stack(stack), fraction.enabled and not separate, 0)
    roi_histograms = (read(masks, True, 1) if separate else moments).histograms

    def full(values):
        a = np.full(T, np.nan)
        a[ok] = values
        return a

    cols: dict[str, np.ndarray] = {}

    def put(name, r, values):
        cols.setdefault(name, np.full((R, T), np.nan))[r] = full(values)

    for r in range(R):
        with np.errstate(invalid="ignore"):  # NaN where a timepoint has no photons
            plain = lifetime_columns(moments[r], calibration)
        put("lifetime_se_ns", r, plain["empirical_lifetime_se_ns"][0])
        if out.lifetime_ns is None:
            out.lifetime_ns, out.photons = np.full((R, T), np.nan), np.full((R, T), np.nan)
        out.lifetime_ns[r] = full(plain["empirical_lifetime_ns"][0])
        out.photons[r] = full(plain["photons"][0])
        corr = plain
        if bg_of:
            if r in bg_of:
                b, scale = bg_of[r]
                with np.errstate(invalid="ignore"):
                    corr = lifetime_columns(moments[r], calibration, moments[b], scale)
                put("background_photons", r, corr["background_photons"][0])
                put("signal_photons", r, corr["signal_photons"][0])
                put("corrected_lifetime_ns", r, corr["empirical_lifetime_ns"][0])
                put("corrected_lifetime_se_ns", r, corr["empirical_lifetime_se_ns"][0])
            else:
                for key in ("background_photons", "signal_photons", "corrected_lifetime_ns",
                            "corrected_lifetime_se_ns"):
                    cols.setdefault(key, np.full((R, T), np.nan))
        for key in ("phasor_g", "phasor_s", "phase_lifetime_ns", "phase_lifetime_se_ns"):
            put(key, r, corr[key][0])
        if r in annulus:
            ring = stack[annulus[r]]
            corrected, fneu = neuropil_corrected_photons(
                moments.counts[r], moments.counts[annulus[r]], float(masks[r].sum()),
                float(ring.sum()), backgrounds[names[r]].coefficient)
            put("neuropil_photons", r, fneu)
            put("neuropil_corrected_photons", r, corrected)
    for (r, z), i in plane_rows.items():
        put(f"photons_plane{z}", r, moments.counts[i])
    if per_plane:
        for z in range(P):
            cols.setdefault(f"photons_plane{z}", np.full((R, T), np.nan))
    if fraction.enabled and len(ok) >= fraction.bin_timepoints:
        hist = roi_histograms[:R]
        # an ROI with a background ROI: the fractions of its signal photons
        bgs = [(hist[bg_of[r][0]], bg_of[r][1]) if r in bg_of else None for r in range(R)]
        pooled, fit = fit_lifetime_over_time(
            hist, calibration.period_bins, calibration.bin_width_ps, fraction.n_exps,
            calibration if calibration.irf_sigma_bins is not None else None, fraction.rebin,
            fraction.bin_timepoints, backgrounds=bgs, names=names)
        b = fraction.bin_timepoints
        n_rows = fit.long_fraction.shape[1] * b
        for key, values in (("long_fraction", fit.long_fraction),
                            ("long_fraction_se", fit.long_fraction_se)):
            per_t = np.full((R, len(ok)), np.nan)
            per_t[:, :n_rows] = np.repeat(values, b, axis=1)
            for r in range(R):
                put(key, r, per_t[r])
        out.pooled = pooled
        out.warnings += [f"ROI {names[r]!r} pooled fit: {w}" for r, p in enumerate(pooled)
                         for w in getattr(p, "warnings", [])] + list(fit.warnings)
    out.columns = cols
    return out


def _concat(parts, n_masks, period_bins, keep, rebin, length):
    """One PhotonMoments from chunks along the timepoints."""
    from libsiff.flim.roi_photons import PhotonMoments

    if not parts:
        z = np.zeros((n_masks, 0))
        hist = np.zeros((n_masks, 0, -(-length // rebin))) if keep else None
        return PhotonMoments(z, z, z, z.astype(complex), z.astype(complex), period_bins, hist,
                             rebin)
    if len(parts) == 1:
        return parts[0]
    cat = [np.concatenate([getattr(p, k) for p in parts], axis=1)
           for k in ("counts", "sum_bins", "sum_bins2", "phasor_sum", "phasor2_sum")]
    hist = np.concatenate([p.histograms for p in parts], axis=1) if keep else None
    return PhotonMoments(*cat, period_bins, hist, rebin)


def settings_lines(calibration: Calibration | None, backgrounds: dict,
                   fraction: FractionFitSettings, names: list[str]) -> list[str]:
    """Header lines recording the lifetime settings an export used."""
    import json

    lines = []
    if calibration is not None:
        lines.append("calibration: " + json.dumps(calibration.to_dict(), default=float))
    for name in names:
        s = backgrounds.get(name)
        if s is not None and s != BackgroundSettings():
            lines.append(f"background {name}: " + json.dumps(s.to_dict()))
    if fraction.enabled:
        lines.append("fraction_fit: " + json.dumps(fraction.to_dict()))
    return lines
