"""The arrival-time model: exponentials convolved with a Gaussian IRF, periodic in the laser period.

A photon excited by the laser pulse at time 0 arrives at ``t = mu + g + e`` with
``g ~ Normal(0, sigma)`` (the instrument response) and ``e ~ Exponential(tau)`` (the
fluorescence). The hardware measures ``t`` modulo the laser period ``T``, so tails of earlier
pulses (and the early flank of the IRF) wrap around. A fraction ``noise`` of the photons is
uniform over the period.

Every function here is unit-agnostic: all times must be in one common unit (count bins,
picoseconds or nanoseconds). A histogram bin is described by its centre ``c`` and width
``w``: it collects the times in ``[c - w/2, c + w/2)`` modulo ``T``. In count bins, bin ``i``
has centre ``i`` and width 1: **bin i represents arrival time ``i * bin_width``**. (A
digitiser that floors ``t / bin_width`` therefore reports an IRF offset half a bin earlier
than the physical one; empirical lifetimes, mean bin minus offset, are unaffected.)

The model assumes ``sigma <= T / 20``. Wrap-around is exact: every earlier pulse is summed,
the distant ones in closed form (a geometric series).
"""

from __future__ import annotations

import numpy as np
from scipy.special import erfc, erfcx, ndtr

from ..errors import SiffArgumentError

__all__ = ["bin_probabilities", "exp_gauss_survival", "wrapped_mean_arrival"]

_SQRT2 = np.sqrt(2.0)


def _exp_tail(x, tau, mu, sigma):
    """``G(x) = exp(s**2/2 - (x-mu)/tau) * Phi((x-mu)/sigma - s)`` with ``s = sigma/tau``.

    The exponentially modified Gaussian has CDF ``Phi((x-mu)/sigma) - G(x)``. Evaluated
    without overflow for any ``x``, ``tau > 0`` and ``sigma > 0`` (broadcasting).
    """
    z = (x - mu) / sigma
    s = sigma / tau
    q = (s - z) / _SQRT2
    # q > 0: exp(s^2/2 - z s) erfc(q) == exp(-z^2/2) erfcx(q), which cannot overflow.
    left = 0.5 * np.exp(-0.5 * z * z) * erfcx(np.maximum(q, 0.0))
    # q <= 0: the exponent s^2/2 - z s <= -s^2/2 is non-positive.
    right = 0.5 * np.exp(np.minimum(0.5 * s * s - z * s, 0.0)) * erfc(q)
    return np.where(q > 0, left, right)


def _gauss_mass(lo, hi, mu, sigma):
    """Probability that ``Normal(mu, sigma)`` falls in ``[lo, hi)``, accurate in both tails."""
    zl = (lo - mu) / sigma
    zh = (hi - mu) / sigma
    return np.where(zl > 0, ndtr(-zl) - ndtr(-zh), ndtr(zh) - ndtr(zl))


def exp_gauss_survival(x, tau, mu, sigma):
    """``P(mu + g + e >= x)`` for ``g ~ Normal(0, sigma)``, ``e ~ Exponential(tau)``.

    All arguments in one time unit; broadcasts.
    """
    return ndtr(-(x - mu) / sigma) + _exp_tail(x, tau, mu, sigma)


def _as_components(taus, fracs):
    taus = np.atleast_1d(np.asarray(taus, dtype=float))
    fracs = np.atleast_1d(np.asarray(fracs, dtype=float))
    if taus.shape != fracs.shape or taus.ndim != 1 or taus.size == 0:
        raise SiffArgumentError("taus and fracs must be 1-D arrays of the same, non-zero length")
    if np.any(~np.isfinite(taus)) or np.any(taus <= 0):
        raise SiffArgumentError(f"lifetimes must be positive and finite, got {taus}")
    return taus, fracs


def bin_probabilities(centers, width, period, taus, fracs, mu, sigma, noise=0.0):
    """Probability that a photon lands in each histogram bin.

    Parameters
    ----------
    centers : array_like
        Bin centres (any shape), in the common time unit.
    width : float
        Bin width, in the same unit.
    period : float
        Laser period ``T``, in the same unit.
    taus, fracs : array_like
        Lifetimes (same unit) and photon fractions of the exponential components.
        ``fracs`` should sum to 1.
    mu, sigma : float
        IRF offset (mean) and width (standard deviation) of the Gaussian IRF, same unit.
    noise : float
        Fraction of photons spread uniformly over the period.

    Returns
    -------
    numpy.ndarray
        Same shape as ``centers``. The bins of one full period (``period / width``
        contiguous bins) sum to 1. Bins are reduced modulo the period.
    """
    taus, fracs = _as_components(taus, fracs)
    T, w = float(period), float(width)
    sigma = float(sigma)
    if not (T > 0 and w > 0 and sigma > 0):
        raise SiffArgumentError("period, width and sigma must be positive")
    centers = np.asarray(centers, dtype=float)
    c = np.mod(centers + 0.5 * w, T) - 0.5 * w       # centres in [-w/2, T - w/2)
    mu_r = float(np.mod(mu, T))                       # the model is periodic in mu
    lo = c - 0.5 * w
    hi = c + 0.5 * w
    # Photons of pulses k = -1, 0, 1 periods earlier/later: explicit terms.
    k = np.array([-1.0, 0.0, 1.0]).reshape((3,) + (1,) * c.ndim)
    lo_k = lo[None] + k * T
    hi_k = hi[None] + k * T
    gauss = _gauss_mass(lo_k, hi_k, mu_r, sigma).sum(axis=0)
    shape = (-1,) + (1,) * (c.ndim + 1)
    tau_b = taus.reshape(shape)
    expo = (_exp_tail(lo_k[None], tau_b, mu_r, sigma)
            - _exp_tail(hi_k[None], tau_b, mu_r, sigma)).sum(axis=1)
    # Pulses 2, 3, ... periods earlier: a geometric series with ratio exp(-T/tau).
    tau_t = taus.reshape((-1,) + (1,) * c.ndim)
    tail = (_exp_tail(lo[None] + 2 * T, tau_t, mu_r, sigma)
            - _exp_tail(hi[None] + 2 * T, tau_t, mu_r, sigma)) / (-np.expm1(-T / tau_t))
    signal = gauss + np.tensordot(fracs, expo + tail, axes=(0, 0))
    return (1.0 - noise) * signal + noise * w / T


def wrapped_mean_arrival(period, window_start, taus, fracs, mu, sigma, noise=0.0):
    """Expected arrival time measured in the window ``[window_start, window_start + period)``.

    The measured time is the true time folded into the window (modulo ``period``). This is
    the analytic expectation of the mean arrival time, including the wrap-around of every
    earlier pulse and the uniform noise.

    Parameters
    ----------
    period : float
        Laser period ``T``.
    window_start : float
        Start of the measurement window; ``-bin_width/2`` for histograms whose bin ``i``
        represents time ``i * bin_width``.
    taus, fracs, mu, sigma, noise
        As in :func:`bin_probabilities`. All times in the unit of ``period``.

    Returns
    -------
    float
        Mean measured arrival time, in the unit of ``period``.
    """
    taus, fracs = _as_components(taus, fracs)
    T, a = float(period), float(window_start)
    # Fold mu into the window; the folded photons' times are unaffected by this choice.
    mu_w = a + float(np.mod(mu - a, T))
    # E[t] - T * sum_{k>=1} P(t >= a + kT) + T * sum_{k>=0} P(t < a - kT)
    k_up = np.array([1.0, 2.0])[:, None]
    above = exp_gauss_survival(a + k_up * T, taus[None], mu_w, sigma).sum(axis=0)
    above = above + _exp_tail(a + 3 * T, taus, mu_w, sigma) / (-np.expm1(-T / taus))
    k_dn = np.array([0.0, 1.0])[:, None]
    below = (1.0 - exp_gauss_survival(a - k_dn * T, taus[None], mu_w, sigma)).sum(axis=0)
    means = mu_w + taus - T * above + T * below
    return float((1.0 - noise) * np.dot(fracs, means) + noise * (a + 0.5 * T))
