"""Photon arrival times of a multi-exponential decay convolved with a Gaussian IRF."""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["simulate_histogram"]


def _lifetime_table(taus_ns, fracs, colors: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-colour lifetimes and fractions padded to (C, K) arrays (fractions sum to 1)."""
    def per_color(value):
        if value is None:
            return [None] * colors
        value = list(value)
        if value and np.isscalar(value[0]):
            return [tuple(value)] * colors
        return [tuple(value[c % len(value)]) for c in range(colors)]

    taus_c, fracs_c = per_color(taus_ns), per_color(fracs)
    k = max(len(t) for t in taus_c)
    taus = np.zeros((colors, k))
    weights = np.zeros((colors, k))
    for c, (t, fr) in enumerate(zip(taus_c, fracs_c)):
        fr = np.full(len(t), 1.0 / len(t)) if fr is None else np.asarray(fr, dtype=float)
        if len(t) == 0 or fr.shape != (len(t),) or np.any(fr < 0) or fr.sum() <= 0:
            raise ValueError(f"colour {c}: lifetimes {t} and fractions {tuple(fr)} do not match")
        if np.any(np.asarray(t) <= 0):
            raise ValueError(f"colour {c}: lifetimes must be positive")
        taus[c, :len(t)] = t
        weights[c, :len(t)] = fr / fr.sum()
    return taus, weights


def _arrival_bins(rng: np.random.Generator, color: np.ndarray, is_signal: np.ndarray,
                  taus_ns: np.ndarray, weights: np.ndarray, irf_offset_ns: float,
                  irf_sigma_ns: float, tau_bins: int, bin_ps: float) -> np.ndarray:
    """Arrival bins (uint32) for photons of the given colours.

    Signal photons of colour ``c`` arrive at ``IRF offset + N(0, sigma) +
    Exp(taus_ns[c, k])``, with ``k`` drawn with ``weights[c]``; background
    photons (``~is_signal``) arrive uniformly over the laser period.
    """
    f32 = np.float32
    t_ps = np.empty(is_signal.size, dtype=f32)
    background = np.flatnonzero(~is_signal)
    t_ps[background] = rng.random(background.size, dtype=f32) * f32(tau_bins * bin_ps)
    for c in range(taus_ns.shape[0]):
        idx = np.flatnonzero(is_signal & (color == c))
        if idx.size == 0:
            continue
        t = rng.standard_normal(idx.size, dtype=f32)
        t *= f32(1000.0 * irf_sigma_ns)
        t += f32(1000.0 * irf_offset_ns)
        decay = rng.standard_exponential(idx.size, dtype=f32)
        components = np.flatnonzero(weights[c] > 0)
        if components.size == 1:
            decay *= f32(1000.0 * taus_ns[c, components[0]])
        else:
            u = rng.random(idx.size, dtype=f32)
            comp = np.zeros(idx.size, dtype=np.intp)
            for edge in np.cumsum(weights[c])[:-1]:
                comp += u >= edge
            decay *= (1000.0 * taus_ns[c]).astype(f32)[comp]
        t += decay
        t_ps[idx] = t
    bins = np.floor(t_ps / f32(bin_ps)).astype(np.int64)
    return (bins % tau_bins).astype(np.uint32)


def simulate_histogram(n_photons: int, taus_ns: Sequence[float], fracs: Sequence[float] | None,
                       irf_offset_ns: float, irf_sigma_ns: float, tau_bins: int, bin_ps: float,
                       noise_fraction: float = 0.0,
                       rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Draw ``n_photons`` arrival bins (uint32) from a multi-exponential decay.

    Each photon is, with probability ``noise_fraction``, uniform over the laser
    period (``tau_bins * bin_ps``); otherwise it arrives at ``irf_offset_ns +
    N(0, irf_sigma_ns) + Exp(tau_k)`` with component ``k`` drawn with ``fracs``
    (equal fractions when None). Times are binned as ``floor(t / bin_ps) % tau_bins``.
    """
    if not 0.0 <= noise_fraction <= 1.0:
        raise ValueError("noise_fraction must lie in [0, 1]")
    rng = np.random.default_rng(rng)
    taus, weights = _lifetime_table(tuple(taus_ns), None if fracs is None else tuple(fracs), 1)
    is_signal = rng.random(int(n_photons)) >= noise_fraction
    color = np.zeros(is_signal.size, dtype=np.int64)
    return _arrival_bins(rng, color, is_signal, taus, weights, irf_offset_ns, irf_sigma_ns,
                         int(tau_bins), float(bin_ps))
