"""Fit guardrails: warnings a lifetime fit carries when its numbers should not be trusted.

:func:`fit_warnings` checks a finished fit (count bins) for

* a component at a bound of the optimiser: a lifetime below one arrival bin (the floor is
  0.05 bins, but nothing shorter than a bin is resolved) or at its ceiling of 50 periods, a
  fraction at 0, the IRF width at its floor or its ceiling, the noise fraction at 1;
* a lifetime beyond half the laser period (the decay wraps around so much that the
  histogram cannot tell it from background);
* a free parameter whose one-sigma uncertainty exceeds its value;
* too few photons for the number of components: fewer than :func:`min_photons` (1,000 for
  one exponential, 20,000 for two, 400,000 for three: the counts below which published
  FLIM precision studies find the extra components unresolvable).

The warnings are plain strings, stored in ``FLIMParams.warnings`` and in its JSON.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Sequence

import numpy as np

__all__ = ["fit_warnings", "min_photons"]

#: Optimiser bounds in count bins (see ``optimize._Problem.bounds``), as multiples of the
#: bin width (floors) or of the laser period (ceilings).
TAU_CEILING_PERIODS = 50.0
SIGMA_FLOOR_BINS = 0.05
SIGMA_CEILING_PERIODS = 1.0 / 20.0
NOISE_CEILING = 0.999
_FRACTION_FLOOR = 1e-3


def min_photons(n_components: int) -> int:
    """Photons needed to resolve ``n_components`` exponentials: ``1000 * 20**(n - 1)``."""
    return int(1000 * 20 ** (int(n_components) - 1))


def _ns(value_bins: float, bin_width_ps: float) -> str:
    return f"{value_bins * bin_width_ps / 1000.0:.3g} ns"


def fit_warnings(taus, fracs, sigma: float, noise: float, uncertainties: Mapping[str, float], *,
                 period: float, bin_width: float, n_photons: float, free: Sequence[str],
                 bin_width_ps: float) -> List[str]:
    """Warnings for a fitted model; all times in count bins.

    Parameters
    ----------
    taus, fracs : array_like
        Fitted lifetimes and fractions.
    sigma, noise : float
        Fitted IRF width and uniform-noise fraction.
    uncertainties : mapping
        One-sigma errors keyed ``tau_i``, ``frac_i``, ``tau_g``, ``noise``.
    period : float
        Laser period.
    bin_width : float
        Width of one histogram entry (1 for plain count-bin histograms).
    n_photons : float
        Photons in the fitted bins.
    free : sequence of str
        Names of the parameters the fit varied (fixed ones are not checked for bounds or
        uncertainty).
    bin_width_ps : float
        Picoseconds per count bin, to state values in nanoseconds.

    Returns
    -------
    list of str
        One human-readable sentence per problem; empty when none.
    """
    taus = np.atleast_1d(np.asarray(taus, dtype=float))
    fracs = np.atleast_1d(np.asarray(fracs, dtype=float))
    free = set(free)
    out: List[str] = []
    n = taus.size
    for i, tau in enumerate(taus):
        name = f"tau_{i}"
        if name in free and tau < bin_width:
            out.append(f"component {i}: lifetime {_ns(tau, bin_width_ps)} is at the lower "
                       f"bound of the fit (shorter than one arrival bin, "
                       f"{_ns(bin_width, bin_width_ps)})")
        if name in free and tau >= 0.5 * TAU_CEILING_PERIODS * period:
            out.append(f"component {i}: lifetime {_ns(tau, bin_width_ps)} is at the upper "
                       "bound of the fit")
        if tau > 0.5 * period:
            out.append(f"component {i}: lifetime {_ns(tau, bin_width_ps)} is beyond half the "
                       f"laser period ({_ns(0.5 * period, bin_width_ps)})")
    if n > 1 and any(f"frac_{i}" in free for i in range(n)):
        for i in np.flatnonzero(fracs < _FRACTION_FLOOR):
            out.append(f"component {i}: fraction {fracs[i]:.2g} is at the lower bound (0) "
                       "of the fit")
    if "tau_g" in free:
        if sigma <= 2.0 * SIGMA_FLOOR_BINS * bin_width:
            out.append(f"IRF width {_ns(sigma, bin_width_ps)} is at the lower bound of the fit")
        elif sigma >= 0.98 * SIGMA_CEILING_PERIODS * period:
            out.append(f"IRF width {_ns(sigma, bin_width_ps)} is at the upper bound of the fit")
    if "noise" in free and noise >= NOISE_CEILING - 1e-3:
        out.append(f"noise fraction {noise:.3g} is at the upper bound of the fit")
    values: Dict[str, float] = {"tau_g": float(sigma), "noise": float(noise)}
    for i in range(n):
        values[f"tau_{i}"] = float(taus[i])
        values[f"frac_{i}"] = float(fracs[i])
    # The last fraction is derived from the others: it is free when any fraction is.
    derived_free = set(free) | ({f"frac_{n - 1}"} if n > 1 and "frac_0" in free else set())
    for key, value in values.items():
        err = float(uncertainties.get(key, 0.0))
        if key in derived_free and key != "noise" and err > abs(value):
            shown = (_ns(value, bin_width_ps) + f" +/- {_ns(err, bin_width_ps)}"
                     if key.startswith("tau") else f"{value:.3g} +/- {err:.3g}")
            out.append(f"{key}: uncertainty larger than the value ({shown})")
    need = min_photons(n)
    if n_photons < need:
        out.append(f"{int(n_photons):,} photons are too few for {n} component"
                   f"{'s' if n > 1 else ''} (at least {need:,} needed)")
    return out
