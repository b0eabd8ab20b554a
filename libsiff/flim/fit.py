"""``fit_params_to_data``: fit :class:`FLIMParams` to an arrival-time histogram.

The Poisson maximum-likelihood fit itself lives in :mod:`libsiff.flim.optimize` (free of
``FLIMParams``); this module turns its count-bin result into parameter objects.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

from ..errors import SiffArgumentError
from .optimize import Theta, fit_histogram, theta_from_tuple
from .params import FLIMParams
from .units import FlimUnits, FlimUnitsLike

__all__ = ["fit_params_to_data"]


def _result_units(units: Optional[FlimUnitsLike], guess: Optional[FLIMParams]) -> FlimUnits:
    if units is None:
        gu = guess.units if guess is not None else FlimUnits.NANOSECONDS
        units = gu if gu not in (FlimUnits.UNKNOWN, FlimUnits.UNITLESS) else FlimUnits.NANOSECONDS
    units = FlimUnits(units)
    if units in (FlimUnits.UNKNOWN, FlimUnits.UNITLESS):
        raise SiffArgumentError("units must be a time unit")
    return units


def fit_params_to_data(
    histogram,
    initial_guess: Union[FLIMParams, Sequence[float], None] = None,
    x_range=None,
    n_exps: Optional[int] = None,
    *,
    bin_width_ps: Optional[float] = None,
    period_bins: Optional[float] = None,
    units: Optional[FlimUnitsLike] = None,
    x_units: FlimUnitsLike = FlimUnits.COUNTBINS,
    fit_bins=None,
    fit_noise: bool = True,
    fixed: Sequence[str] = (),
    multistart: bool = True,
    color_channel: Optional[int] = None,
    name: Optional[str] = None,
    max_nfev: Optional[int] = None,
) -> FLIMParams:
    """Fit a multi-exponential model with a Gaussian IRF to an arrival-time histogram.

    Parameters
    ----------
    histogram : array_like
        Photon counts per arrival-time bin (1-D), e.g. ``SiffReader.get_histogram()``
        (``Tau_bins + 2`` bins). Not modified.
    initial_guess : FLIMParams or sequence, optional
        Starting point: a ``FLIMParams`` (its units and bin width are used), or a tuple
        ``(tau_1, frac_1, ..., tau_offset, tau_g[, noise])`` in ``units``. Without it, starting
        points are estimated from the histogram.
    x_range : array_like, optional
        Arrival time of each histogram entry (bin centres) in ``x_units``; default: count
        bins ``0 .. len(histogram) - 1``.
    n_exps : int, optional
        Number of exponential components (1 to 3 are well tested); default: the guess's,
        else 2. A guess with another number of components is adapted (its main component
        split, or its smallest fractions dropped); its IRF and noise still seed the fit.
    bin_width_ps : float, optional
        Picoseconds per count bin (the file's ``5 ps * 2**binResolution``); default: the
        guess's, else 20 ps with a warning.
    period_bins : float, optional
        Laser period in count bins (the header's ``Tau_bins``). Default:
        ``len(histogram) - 2`` without ``x_range`` (the .siff histogram length is
        ``Tau_bins + 2``), else the span of ``x_range``.
    units : FlimUnits or str, optional
        Units of the returned parameters (and of a tuple guess); default: the guess's units,
        else nanoseconds.
    x_units : FlimUnits or str
        Units of ``x_range`` (default count bins).
    fit_bins : array_like of bool or int, optional
        Which histogram entries to fit (mask or indices). Default: every bin inside the
        laser period except bin 0 (SiffPy also skips bin 0).
    fit_noise : bool
        Fit the uniform-background fraction (default). If False it stays at the guess's
        value (0 without a guess).
    fixed : sequence of str
        Parameters held at the guess's values: any of ``'taus'``, ``'fracs'``,
        ``'tau_offset'``, ``'tau_g'``, ``'noise'``. Needs an ``initial_guess``.
    multistart : bool
        Also try the automatic starting points when a guess is given, and keep the best
        likelihood (default True).
    color_channel, name : optional
        Stored on the result.
    max_nfev : int, optional
        Limit on model evaluations per local fit (scipy's default otherwise).

    Returns
    -------
    FLIMParams
        Fitted parameters in ``units``, components sorted by lifetime, with
        ``chi_sq`` (reduced Pearson chi-square over the fitted bins), ``uncertainties``
        (one-sigma, from the Fisher information; current units), ``warnings`` (the
        guardrails of :mod:`libsiff.flim.guardrails`) and ``fit_info`` (deviance, degrees of
        freedom, photon count, covariance in count bins, optimiser status).

    Raises
    ------
    ValueError
        On a histogram that is not 1-D, has negative or non-finite counts, or has no
        photons in the fitted bins; on inconsistent guesses or unknown fixed names.
    """
    guess_params = initial_guess if isinstance(initial_guess, FLIMParams) else None
    if bin_width_ps is None and guess_params is not None:
        bin_width_ps = guess_params.bin_width_ps
    units = _result_units(units, guess_params)
    guess: Optional[Theta] = None
    if guess_params is not None:
        guess = guess_params.countbin_theta()
    elif initial_guess is not None:
        guess = theta_from_tuple(initial_guess, units, 20.0 if bin_width_ps is None
                                 else float(bin_width_ps))
    fit = fit_histogram(histogram, guess, bin_width_ps=bin_width_ps, x_range=x_range,
                        x_units=x_units, period_bins=period_bins, n_exps=n_exps,
                        fit_bins=fit_bins, fit_noise=fit_noise, fixed=fixed,
                        multistart=multistart, max_nfev=max_nfev)
    return FLIMParams.from_histogram_fit(fit, units, color_channel=color_channel, name=name)
