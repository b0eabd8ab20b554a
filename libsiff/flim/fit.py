"""Fitting :class:`FLIMParams` to an arrival-time histogram (Poisson maximum likelihood).

The optimiser works in count bins. It minimises the Poisson deviance
``2 * sum(m - d + d*log(d/m))`` between the counts ``d`` and the model ``m`` (the model's
bin probabilities scaled to the photon count of the fitted bins), which is the maximum
likelihood fit for counting data. Parameter uncertainties come from the Fisher information
``N * J^T diag(1/p) J`` at the optimum (``J``: derivatives of the bin probabilities), and the
fit quality is the reduced Pearson chi-square ``sum((d - m)**2 / m) / dof``, whose
expectation is 1 for a correct model at any count level.

Without an initial guess, starting points come from the histogram itself (rising edge,
peak, baseline, mean arrival time corrected for wrap-around); a one-exponential fit is then
refined into two or three components by splitting each component in a few ratios, and the
best likelihood wins.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from scipy.optimize import brentq, least_squares

from .model import bin_probabilities
from .params import Exp, FLIMParams, Irf
from .units import BASE_RESOLUTION_PICOSECONDS, FlimUnits, FlimUnitsLike, convert_flimunits

__all__ = ["fit_params_to_data"]

_FIXABLE = ("taus", "fracs", "tau_offset", "tau_g", "noise")
_SPLIT_RATIOS = ((0.35, 1.8), (0.6, 3.0), (0.2, 1.3))
_SCREEN_NFEV = 25  # model evaluations per candidate start before the best is polished


@dataclass
class _Theta:
    """Model parameters in count bins."""

    taus: np.ndarray
    fracs: np.ndarray
    mu: float
    sigma: float
    noise: float

    def copy(self) -> "_Theta":
        return _Theta(self.taus.copy(), self.fracs.copy(), self.mu, self.sigma, self.noise)

    def sorted(self) -> "_Theta":
        order = np.argsort(self.taus, kind="stable")
        return _Theta(self.taus[order], self.fracs[order], self.mu, self.sigma, self.noise)


def _sticks_from_fracs(fracs: np.ndarray) -> np.ndarray:
    """Stick-breaking coordinates (each in [0, 1]) of a fraction vector."""
    fr = np.clip(np.asarray(fracs, dtype=float), 0.0, None)
    fr = fr / fr.sum()
    sticks, remaining = [], 1.0
    for f in fr[:-1]:
        sticks.append(min(max(f / remaining, 0.0), 1.0) if remaining > 1e-12 else 0.5)
        remaining -= f
    return np.array(sticks)


def _fracs_from_sticks(sticks: np.ndarray) -> np.ndarray:
    fracs, remaining = [], 1.0
    for a in sticks:
        fracs.append(remaining * a)
        remaining *= 1.0 - a
    fracs.append(remaining)
    return np.array(fracs)


def _deviance_residuals(d: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Signed square roots of the per-bin Poisson deviance (their squares sum to it)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        dlog = np.where(d > 0, d * np.log(np.where(d > 0, d, 1.0) / m), 0.0)
    dev = np.maximum(2.0 * (m - d + dlog), 0.0)
    return np.sign(d - m) * np.sqrt(dev)


class _Problem:
    """One histogram to fit: counts, bin centres and width (count bins), period, fixed values."""

    def __init__(self, counts, centers, width, period, n_exp, fixed: Dict[str, object]):
        self.d = counts
        self.c = centers
        self.w = width
        self.P = period
        self.N = float(counts.sum())
        self.n_exp = n_exp
        self.fixed = fixed

    # ---- model
    def probs(self, th: _Theta) -> np.ndarray:
        p = bin_probabilities(self.c, self.w, self.P, th.taus, th.fracs, th.mu, th.sigma,
                              th.noise)
        return np.maximum(p, 1e-300) / max(p.sum(), 1e-300)

    def expected(self, th: _Theta) -> np.ndarray:
        return self.N * self.probs(th)

    def deviance(self, th: _Theta) -> float:
        return float(np.sum(_deviance_residuals(self.d, self.expected(th)) ** 2))

    # ---- optimiser parametrisation: taus, sticks, mu, sigma, noise (free ones only)
    def free_flags(self, n: int) -> List[bool]:
        fx = self.fixed
        return ([("taus" not in fx)] * n + [("fracs" not in fx)] * (n - 1)
                + [("tau_offset" not in fx), ("tau_g" not in fx), ("noise" not in fx)])

    def pack(self, th: _Theta) -> np.ndarray:
        full = np.concatenate([th.taus, _sticks_from_fracs(th.fracs),
                               [th.mu, th.sigma, th.noise]])
        return full[np.array(self.free_flags(th.taus.size))]

    def unpack(self, v: np.ndarray, template: _Theta) -> _Theta:
        n = template.taus.size
        full = np.concatenate([template.taus, _sticks_from_fracs(template.fracs),
                               [template.mu, template.sigma, template.noise]])
        full[np.array(self.free_flags(n))] = v
        return _Theta(full[:n].copy(), _fracs_from_sticks(full[n:2 * n - 1]),
                      float(full[-3]), float(full[-2]), float(full[-1]))

    def bounds(self, th: _Theta) -> Tuple[np.ndarray, np.ndarray]:
        n, P, w = th.taus.size, self.P, self.w
        lo = np.concatenate([[0.05 * w] * n, [0.0] * (n - 1),
                             [th.mu - 0.5 * P, 0.05 * w, 0.0]])
        hi = np.concatenate([[50.0 * P] * n, [1.0] * (n - 1),
                             [th.mu + 0.5 * P, P / 20.0, 0.999]])
        flags = np.array(self.free_flags(n))
        return lo[flags], hi[flags]

    def fit_from(self, start: _Theta, max_nfev: Optional[int]) -> Tuple[_Theta, dict]:
        """Local Poisson-likelihood fit from one starting point."""
        th0 = start.copy()
        th0.sigma = float(np.clip(th0.sigma, 0.06 * self.w, self.P / 20.5))
        th0.taus = np.clip(th0.taus, 0.06 * self.w, 49.0 * self.P)
        th0.noise = float(np.clip(th0.noise, 0.0, 0.99))
        v0 = self.pack(th0)
        if v0.size == 0:
            return th0, dict(success=True, message="all parameters fixed", nfev=0)
        lo, hi = self.bounds(th0)
        span = hi - lo
        v0 = np.clip(v0, lo + 1e-6 * span, hi - 1e-6 * span)

        def resid(v):
            return _deviance_residuals(self.d, self.expected(self.unpack(v, th0)))

        res = least_squares(resid, v0, bounds=(lo, hi), method="trf", x_scale="jac",
                            max_nfev=max_nfev)
        th = self.unpack(res.x, th0)
        th.mu = float(np.mod(th.mu + 0.5 * self.w, self.P) - 0.5 * self.w)
        return th.sorted(), dict(success=bool(res.success), message=str(res.message),
                                 nfev=int(res.nfev))

    # ---- uncertainties in natural parameters (taus, fracs[:-1], mu, sigma, noise)
    def natural_names(self, n: int) -> List[str]:
        return ([f"tau_{i}" for i in range(n)] + [f"frac_{i}" for i in range(n - 1)]
                + ["tau_offset", "tau_g", "noise"])

    def covariance(self, th: _Theta) -> Tuple[np.ndarray, List[str]]:
        n = th.taus.size
        full = np.concatenate([th.taus, th.fracs[:-1], [th.mu, th.sigma, th.noise]])
        flags = np.array(self.free_flags(n))
        idx = np.flatnonzero(flags)
        names = [self.natural_names(n)[i] for i in idx]

        def probs_at(vec):
            fr = np.append(vec[n:2 * n - 1], 1.0 - vec[n:2 * n - 1].sum())
            return self.probs(_Theta(vec[:n], fr, vec[-3], vec[-2], vec[-1]))

        p0 = self.probs(th)
        jac = np.empty((p0.size, idx.size))
        for col, i in enumerate(idx):
            h = 1e-5 * max(abs(full[i]), 1.0) if i < n or i >= 2 * n - 1 else 1e-6
            up, dn = full.copy(), full.copy()
            up[i] += h
            dn[i] -= h
            jac[:, col] = (probs_at(up) - probs_at(dn)) / (2 * h)
        fisher = self.N * (jac.T / p0) @ jac
        try:
            cov = np.linalg.inv(fisher)
        except np.linalg.LinAlgError:
            cov = np.linalg.pinv(fisher)
        return cov, names

    # ---- automatic starting point
    def auto_estimates(self) -> _Theta:
        """One-exponential starting values from the histogram's shape."""
        P, w = self.P, self.w
        order = np.argsort(np.mod(self.c, P))
        c, d = np.mod(self.c[order], P), self.d[order]
        k = min(5, max(1, d.size // 50))
        kernel = np.ones(2 * k + 1) / (2 * k + 1)
        padded = np.concatenate([d[-k:], d, d[:k]])
        smooth = np.convolve(padded, kernel, mode="valid")
        ip = int(np.argmax(smooth))
        peak = smooth[ip]
        base = float(np.percentile(smooth, 2))
        half = base + 0.5 * (peak - base)
        # walk back (circularly) from the peak to the half-maximum of the rising edge
        steps = np.arange(smooth.size)
        back = smooth[(ip - steps) % smooth.size]
        below = np.flatnonzero(back < half)
        j = int(below[0]) if below.size else 1
        hi_v, lo_v = back[j - 1], back[j]
        frac = (hi_v - half) / (hi_v - lo_v) if hi_v != lo_v else 0.0
        rise = (j - 1 + frac) * w            # peak minus half-max position
        mu0 = float(np.mod(c[ip] - rise, P))
        sigma0 = float(np.clip(0.7 * rise, 0.5 * w, P / 40.0))
        bins_per_period = P / w
        noise0 = float(np.clip(0.5 * base * bins_per_period / max(self.N, 1.0), 0.0, 0.5))
        # mean arrival after the rise, corrected for the wrap-around of a single exponential
        start = mu0 - 3.0 * sigma0
        excess = np.clip(d - noise0 * self.N / bins_per_period, 0.0, None)
        rel = np.mod(c - start, P)
        mean_rel = float(np.sum(rel * excess) / max(excess.sum(), 1e-12))
        lag = mu0 - start

        def wrapped_excess(tau):
            return tau - P * np.exp(-(P - lag) / tau) / (-np.expm1(-P / tau))

        target = mean_rel - lag
        top = 0.5 * P - lag
        target = float(np.clip(target, 0.3 * w, 0.98 * top)) if top > 0.3 * w else 0.3 * w
        try:
            tau0 = brentq(lambda t: wrapped_excess(t) - target, 1e-3 * w, 1e3 * P)
        except ValueError:
            tau0 = max(target, w)
        return _Theta(np.array([tau0]), np.array([1.0]), mu0, sigma0, noise0)


def _split_candidates(th: _Theta) -> List[_Theta]:
    """Starting points with one more component: each component split in a few ratios."""
    out = []
    for j in range(th.taus.size):
        for r1, r2 in _SPLIT_RATIOS:
            fa = th.fracs[j] * (r2 - 1.0) / (r2 - r1)
            taus = np.concatenate([np.delete(th.taus, j), [th.taus[j] * r1, th.taus[j] * r2]])
            fracs = np.concatenate([np.delete(th.fracs, j), [fa, th.fracs[j] - fa]])
            out.append(_Theta(taus, fracs, th.mu, th.sigma, th.noise).sorted())
    return out


def _resize_theta(th: _Theta, n: int) -> _Theta:
    """A start with ``n`` components: split the main component, or keep the ``n`` largest."""
    th = th.sorted()
    while th.taus.size < n:
        th = _split_candidates(_Theta(th.taus, th.fracs, th.mu, th.sigma, th.noise))[
            3 * int(np.argmax(th.fracs))]
    if th.taus.size > n:
        keep = np.sort(np.argsort(th.fracs)[::-1][:n])
        fr = th.fracs[keep]
        th = _Theta(th.taus[keep], fr / fr.sum(), th.mu, th.sigma, th.noise)
    return th


def _theta_from_guess(guess: FLIMParams) -> _Theta:
    g = guess.copy()
    g.convert_units(FlimUnits.COUNTBINS)
    return _Theta(g.taus, g.fracs / g.fracs.sum(), float(g.tau_offset), float(g.tau_g),
                  float(g.noise))


def _apply_fixed(th: _Theta, fixed: Dict[str, object]) -> _Theta:
    th = th.copy()
    if "taus" in fixed:
        th.taus = np.array(fixed["taus"], dtype=float)
    if "fracs" in fixed:
        th.fracs = np.array(fixed["fracs"], dtype=float)
    for key, attr in (("tau_offset", "mu"), ("tau_g", "sigma"), ("noise", "noise")):
        if key in fixed:
            setattr(th, attr, float(fixed[key]))
    return th


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
        (one-sigma, from the Fisher information; current units) and ``fit_info`` (deviance,
        degrees of freedom, photon count, covariance in count bins, optimiser status).

    Raises
    ------
    ValueError
        On a histogram that is not 1-D, has negative or non-finite counts, or has no
        photons in the fitted bins; on inconsistent guesses or unknown fixed names.
    """
    counts_all = np.asarray(histogram, dtype=float)
    if counts_all.ndim != 1 or counts_all.size < 4:
        raise ValueError("histogram must be 1-D with at least 4 bins")
    if not np.all(np.isfinite(counts_all)) or np.any(counts_all < 0):
        raise ValueError("histogram counts must be finite and non-negative")
    n_all = counts_all.size

    guess_params = initial_guess if isinstance(initial_guess, FLIMParams) else None
    if bin_width_ps is None:
        if guess_params is not None:
            bin_width_ps = guess_params.bin_width_ps
        else:
            warnings.warn("fit_params_to_data: no bin_width_ps given; assuming 20 ps per bin "
                          "(pass the file's 5 ps * 2**binResolution)", UserWarning,
                          stacklevel=2)
            bin_width_ps = BASE_RESOLUTION_PICOSECONDS
    bw = float(bin_width_ps)
    if units is None:
        gu = guess_params.units if guess_params is not None else FlimUnits.NANOSECONDS
        units = gu if gu not in (FlimUnits.UNKNOWN, FlimUnits.UNITLESS) else FlimUnits.NANOSECONDS
    units = FlimUnits(units)
    if units in (FlimUnits.UNKNOWN, FlimUnits.UNITLESS):
        raise ValueError("units must be a time unit")

    # --- axis in count bins
    if x_range is None:
        centers_all = np.arange(n_all, dtype=float)
    else:
        centers_all = np.asarray(convert_flimunits(np.asarray(x_range, dtype=float), x_units,
                                                   FlimUnits.COUNTBINS, bw), dtype=float)
        if centers_all.shape != counts_all.shape:
            raise ValueError("x_range must have the same length as histogram")
    steps = np.diff(centers_all)
    if np.any(steps <= 0):
        raise ValueError("x_range must increase")
    width = float(np.median(steps))
    if period_bins is None:
        period = float(n_all - 2) if x_range is None else width * n_all
    else:
        period = float(period_bins)
    if period <= 0:
        raise ValueError("period_bins must be positive")

    # --- bins to fit
    if fit_bins is None:
        mask = (np.arange(n_all) >= 1) & (centers_all + 0.5 * width <= period + 1e-9 * period)
    else:
        fb = np.asarray(fit_bins)
        mask = np.zeros(n_all, dtype=bool)
        if fb.dtype == bool:
            if fb.shape != counts_all.shape:
                raise ValueError("a boolean fit_bins must match the histogram's shape")
            mask = fb.copy()
        else:
            mask[fb.astype(int)] = True
    counts, centers = counts_all[mask], centers_all[mask]
    if counts.sum() <= 0:
        raise ValueError("the histogram has no photons in the fitted bins")

    # --- guess as count-bin parameters
    guess_theta: Optional[_Theta] = None
    if guess_params is not None:
        guess_theta = _theta_from_guess(guess_params)
    elif initial_guess is not None:
        vals = [float(v) for v in initial_guess]
        noise_g = 0.0
        if len(vals) % 2 == 1:
            noise_g = vals.pop()
        if len(vals) < 4:
            raise ValueError("a guess tuple is (tau_1, frac_1, ..., tau_offset, tau_g[, noise])")
        conv = lambda v: float(convert_flimunits(v, units, FlimUnits.COUNTBINS, bw))  # noqa: E731
        fr = np.array(vals[1:-2:2])
        guess_theta = _Theta(np.array([conv(t) for t in vals[:-2:2]]), fr / fr.sum(),
                             conv(vals[-2]), conv(vals[-1]), noise_g)
    if n_exps is None:
        n_exps = guess_theta.taus.size if guess_theta is not None else 2
    n_exps = int(n_exps)
    if n_exps < 1:
        raise ValueError("n_exps must be >= 1")
    if guess_theta is not None and guess_theta.taus.size != n_exps:
        if {"taus", "fracs"} & set(fixed):
            raise ValueError(f"the initial guess has {guess_theta.taus.size} components, "
                             f"n_exps is {n_exps}: cannot fix its lifetimes or fractions")
        guess_theta = _resize_theta(guess_theta, n_exps)

    # --- fixed parameters
    fixed = tuple(fixed)
    unknown = set(fixed) - set(_FIXABLE)
    if unknown:
        raise ValueError(f"cannot fix {sorted(unknown)}; choose from {_FIXABLE}")
    if fixed and guess_theta is None:
        raise ValueError("fixing parameters needs an initial_guess holding their values")
    fixed_vals: Dict[str, object] = {}
    if guess_theta is not None:
        source = {"taus": guess_theta.taus, "fracs": guess_theta.fracs,
                  "tau_offset": guess_theta.mu, "tau_g": guess_theta.sigma,
                  "noise": guess_theta.noise}
        fixed_vals = {key: source[key] for key in fixed}
    if not fit_noise and "noise" not in fixed_vals:
        fixed_vals["noise"] = guess_theta.noise if guess_theta is not None else 0.0
    if n_exps == 1:
        fixed_vals["fracs"] = np.array([1.0])

    prob = _Problem(counts, centers, width, period, n_exps, fixed_vals)

    # --- candidate fits
    results: List[Tuple[float, _Theta, dict]] = []
    nfev_total = 0

    if guess_theta is not None:
        th, info = prob.fit_from(_apply_fixed(guess_theta, fixed_vals), max_nfev)
        nfev_total += info["nfev"]
        results.append((prob.deviance(th), th, info))
    # Fixed lifetimes or fractions leave nothing for automatic starts to explore.
    structural = "taus" in fixed_vals or (n_exps > 1 and "fracs" in fixed_vals)
    if (guess_theta is None or multistart) and not structural:
        shared = {k: v for k, v in fixed_vals.items() if k not in ("taus", "fracs")}
        est = _apply_fixed(prob.auto_estimates(), shared)
        one = _Problem(counts, centers, width, period, 1, {**shared, "fracs": np.array([1.0])})
        stage, info1 = one.fit_from(est, max_nfev)
        nfev_total += info1["nfev"]
        if n_exps == 1:
            results.append((prob.deviance(stage), stage, info1))
        for n in range(2, n_exps + 1):
            stage_prob = _Problem(counts, centers, width, period, n, shared)
            # Screen every split with a short budget, then polish the most likely one.
            candidates = []
            for start in _split_candidates(stage):
                th, info = stage_prob.fit_from(start, _SCREEN_NFEV)
                nfev_total += info["nfev"]
                candidates.append((stage_prob.deviance(th), th, info))
            candidates.sort(key=lambda r: r[0])
            th, info = stage_prob.fit_from(candidates[0][1], max_nfev)
            nfev_total += info["nfev"]
            stage = th
            if n == n_exps:
                results.append((stage_prob.deviance(th), th, info))

    results.sort(key=lambda r: r[0])
    deviance, best, info = results[0]

    # --- quality and uncertainties
    m = prob.expected(best)
    pearson = float(np.sum((counts - m) ** 2 / m))
    flags = prob.free_flags(n_exps)
    n_free = int(np.sum(flags))
    dof = int(counts.size - n_free - 1)
    chi_sq = pearson / dof if dof > 0 else float("nan")
    cov, names = prob.covariance(best) if n_free else (np.zeros((0, 0)), [])
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    unc = {key: 0.0 for key in prob.natural_names(n_exps)}
    unc.update(dict(zip(names, sd)))
    frac_idx = [names.index(f"frac_{i}") for i in range(n_exps - 1) if f"frac_{i}" in names]
    unc[f"frac_{n_exps - 1}"] = float(np.sqrt(max(cov[np.ix_(frac_idx, frac_idx)].sum(), 0.0))
                                      ) if frac_idx else 0.0
    ordered = {}
    for i in range(n_exps):
        ordered[f"tau_{i}"] = float(unc[f"tau_{i}"])
        ordered[f"frac_{i}"] = float(unc[f"frac_{i}"])
    for key in ("tau_offset", "tau_g", "noise"):
        ordered[key] = float(unc[key])

    exps = [Exp(tau=float(t), frac=float(f), units=FlimUnits.COUNTBINS)
            for t, f in zip(best.taus, best.fracs)]
    irf = Irf(tau_offset=float(best.mu), tau_g=float(best.sigma), units=FlimUnits.COUNTBINS)
    out = FLIMParams(*exps, irf, noise=float(np.clip(best.noise, 0.0, 1.0)),
                     color_channel=color_channel, name=name, bin_width_ps=bw)
    out.convert_units(units)
    out.chi_sq = chi_sq
    out._set_uncertainties(ordered, FlimUnits.COUNTBINS)
    out.fit_info = dict(
        deviance=float(deviance), chi_sq=chi_sq, dof=dof, n_photons=float(counts.sum()),
        n_bins=int(counts.size), period_bins=period, free_parameters=names,
        covariance_countbins=cov, success=info["success"], message=info["message"],
        nfev=nfev_total, n_starts=len(results),
    )
    return out
