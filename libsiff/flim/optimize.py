"""The histogram fit itself, free of ``FLIMParams``: Poisson maximum likelihood in count bins.

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

:func:`fit_histogram` is the one entry point; :func:`libsiff.flim.fit_params_to_data` and
``FLIMParams.fit_params_to_data`` wrap it (this module never imports ``FLIMParams``, so the
parameter objects and the fit do not import each other).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy.optimize import brentq, least_squares

from .guardrails import fit_warnings
from .model import bin_probabilities
from .units import BASE_RESOLUTION_PICOSECONDS, FlimUnits, FlimUnitsLike, convert_flimunits

__all__ = ["HistogramFit", "Theta", "fit_histogram"]

_FIXABLE = ("taus", "fracs", "tau_offset", "tau_g", "noise")
_SPLIT_RATIOS = ((0.35, 1.8), (0.6, 3.0), (0.2, 1.3))
_SCREEN_NFEV = 25  # model evaluations per candidate start before the best is polished


@dataclass
class Theta:
    """Model parameters in count bins: lifetimes, fractions, IRF mean and width, noise."""

    taus: np.ndarray
    fracs: np.ndarray
    mu: float
    sigma: float
    noise: float

    def copy(self) -> "Theta":
        """An independent copy (the lifetime and fraction arrays are copied)."""
        return Theta(self.taus.copy(), self.fracs.copy(), self.mu, self.sigma, self.noise)

    def sorted(self) -> "Theta":
        """The same model with its components ordered by increasing lifetime."""
        order = np.argsort(self.taus, kind="stable")
        return Theta(self.taus[order], self.fracs[order], self.mu, self.sigma, self.noise)


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
    def probs(self, th: Theta) -> np.ndarray:
        p = bin_probabilities(self.c, self.w, self.P, th.taus, th.fracs, th.mu, th.sigma,
                              th.noise)
        return np.maximum(p, 1e-300) / max(p.sum(), 1e-300)

    def expected(self, th: Theta) -> np.ndarray:
        return self.N * self.probs(th)

    def deviance(self, th: Theta) -> float:
        return float(np.sum(_deviance_residuals(self.d, self.expected(th)) ** 2))

    # ---- optimiser parametrisation: taus, sticks, mu, sigma, noise (free ones only)
    def free_flags(self, n: int) -> List[bool]:
        fx = self.fixed
        return ([("taus" not in fx)] * n + [("fracs" not in fx)] * (n - 1)
                + [("tau_offset" not in fx), ("tau_g" not in fx), ("noise" not in fx)])

    def pack(self, th: Theta) -> np.ndarray:
        full = np.concatenate([th.taus, _sticks_from_fracs(th.fracs),
                               [th.mu, th.sigma, th.noise]])
        return full[np.array(self.free_flags(th.taus.size))]

    def unpack(self, v: np.ndarray, template: Theta) -> Theta:
        n = template.taus.size
        full = np.concatenate([template.taus, _sticks_from_fracs(template.fracs),
                               [template.mu, template.sigma, template.noise]])
        full[np.array(self.free_flags(n))] = v
        return Theta(full[:n].copy(), _fracs_from_sticks(full[n:2 * n - 1]),
                      float(full[-3]), float(full[-2]), float(full[-1]))

    def bounds(self, th: Theta) -> Tuple[np.ndarray, np.ndarray]:
        n, P, w = th.taus.size, self.P, self.w
        lo = np.concatenate([[0.05 * w] * n, [0.0] * (n - 1),
                             [th.mu - 0.5 * P, 0.05 * w, 0.0]])
        hi = np.concatenate([[50.0 * P] * n, [1.0] * (n - 1),
                             [th.mu + 0.5 * P, P / 20.0, 0.999]])
        flags = np.array(self.free_flags(n))
        return lo[flags], hi[flags]

    def fit_from(self, start: Theta, max_nfev: Optional[int]) -> Tuple[Theta, dict]:
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

    def covariance(self, th: Theta) -> Tuple[np.ndarray, List[str]]:
        n = th.taus.size
        full = np.concatenate([th.taus, th.fracs[:-1], [th.mu, th.sigma, th.noise]])
        flags = np.array(self.free_flags(n))
        idx = np.flatnonzero(flags)
        names = [self.natural_names(n)[i] for i in idx]

        def probs_at(vec):
            fr = np.append(vec[n:2 * n - 1], 1.0 - vec[n:2 * n - 1].sum())
            return self.probs(Theta(vec[:n], fr, vec[-3], vec[-2], vec[-1]))

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
    def auto_estimates(self) -> Theta:
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
        return Theta(np.array([tau0]), np.array([1.0]), mu0, sigma0, noise0)


def _split_candidates(th: Theta) -> List[Theta]:
    """Starting points with one more component: each component split in a few ratios."""
    out = []
    for j in range(th.taus.size):
        for r1, r2 in _SPLIT_RATIOS:
            fa = th.fracs[j] * (r2 - 1.0) / (r2 - r1)
            taus = np.concatenate([np.delete(th.taus, j), [th.taus[j] * r1, th.taus[j] * r2]])
            fracs = np.concatenate([np.delete(th.fracs, j), [fa, th.fracs[j] - fa]])
            out.append(Theta(taus, fracs, th.mu, th.sigma, th.noise).sorted())
    return out


def _resize_theta(th: Theta, n: int) -> Theta:
    """A start with ``n`` components: split the main component, or keep the ``n`` largest."""
    th = th.sorted()
    while th.taus.size < n:
        th = _split_candidates(Theta(th.taus, th.fracs, th.mu, th.sigma, th.noise))[
            3 * int(np.argmax(th.fracs))]
    if th.taus.size > n:
        keep = np.sort(np.argsort(th.fracs)[::-1][:n])
        fr = th.fracs[keep]
        th = Theta(th.taus[keep], fr / fr.sum(), th.mu, th.sigma, th.noise)
    return th


def _apply_fixed(th: Theta, fixed: Dict[str, object]) -> Theta:
    th = th.copy()
    if "taus" in fixed:
        th.taus = np.array(fixed["taus"], dtype=float)
    if "fracs" in fixed:
        th.fracs = np.array(fixed["fracs"], dtype=float)
    for key, attr in (("tau_offset", "mu"), ("tau_g", "sigma"), ("noise", "noise")):
        if key in fixed:
            setattr(th, attr, float(fixed[key]))
    return th


@dataclass
class HistogramFit:
    """Result of :func:`fit_histogram`, all times in count bins.

    ``theta``: the fitted parameters (components sorted by lifetime); ``chi_sq``: reduced
    Pearson chi-square over the fitted bins; ``uncertainties``: one-sigma errors keyed
    ``tau_0, frac_0, ..., tau_offset, tau_g, noise`` (0 for fixed parameters); ``info``:
    deviance, degrees of freedom, photon count, covariance, optimiser status and the
    guardrail ``warnings`` (also in :attr:`warnings`).
    """

    theta: Theta
    chi_sq: float
    uncertainties: Dict[str, float]
    info: Dict[str, object]
    warnings: List[str] = field(default_factory=list)


# ---------------------------------------------------------------- named steps of the fit
def _checked_counts(histogram) -> np.ndarray:
    counts = np.asarray(histogram, dtype=float)
    if counts.ndim != 1 or counts.size < 4:
        raise ValueError("histogram must be 1-D with at least 4 bins")
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ValueError("histogram counts must be finite and non-negative")
    return counts


def _resolve_bin_width(bin_width_ps: Optional[float]) -> float:
    if bin_width_ps is None:
        warnings.warn("fit_params_to_data: no bin_width_ps given; assuming 20 ps per bin "
                      "(pass the file's 5 ps * 2**binResolution)", UserWarning, stacklevel=4)
        return BASE_RESOLUTION_PICOSECONDS
    return float(bin_width_ps)


def _axis_in_bins(n_all: int, x_range, x_units: FlimUnitsLike, bw: float,
                  period_bins: Optional[float]) -> Tuple[np.ndarray, float, float]:
    """Bin centres (count bins), bin width and laser period of the histogram."""
    if x_range is None:
        centers = np.arange(n_all, dtype=float)
    else:
        centers = np.asarray(convert_flimunits(np.asarray(x_range, dtype=float), x_units,
                                               FlimUnits.COUNTBINS, bw), dtype=float)
        if centers.shape != (n_all,):
            raise ValueError("x_range must have the same length as histogram")
    steps = np.diff(centers)
    if np.any(steps <= 0):
        raise ValueError("x_range must increase")
    width = float(np.median(steps))
    if period_bins is None:
        period = float(n_all - 2) if x_range is None else width * n_all
    else:
        period = float(period_bins)
    if period <= 0:
        raise ValueError("period_bins must be positive")
    return centers, width, period


def _fit_mask(centers: np.ndarray, width: float, period: float, fit_bins) -> np.ndarray:
    """Which entries to fit: ``fit_bins`` (mask or indices), else every bin of one period but 0."""
    n_all = centers.size
    if fit_bins is None:
        return (np.arange(n_all) >= 1) & (centers + 0.5 * width <= period + 1e-9 * period)
    fb = np.asarray(fit_bins)
    if fb.dtype == bool:
        if fb.shape != centers.shape:
            raise ValueError("a boolean fit_bins must match the histogram's shape")
        return fb.copy()
    mask = np.zeros(n_all, dtype=bool)
    mask[fb.astype(int)] = True
    return mask


def theta_from_tuple(values: Sequence[float], units: FlimUnitsLike, bw: float) -> Theta:
    """``(tau_1, frac_1, ..., tau_offset, tau_g[, noise])`` in ``units`` as count-bin ``Theta``."""
    vals = [float(v) for v in values]
    noise = vals.pop() if len(vals) % 2 == 1 else 0.0
    if len(vals) < 4:
        raise ValueError("a guess tuple is (tau_1, frac_1, ..., tau_offset, tau_g[, noise])")

    def conv(v):
        return float(convert_flimunits(v, units, FlimUnits.COUNTBINS, bw))

    fr = np.array(vals[1:-2:2])
    return Theta(np.array([conv(t) for t in vals[:-2:2]]), fr / fr.sum(), conv(vals[-2]),
                 conv(vals[-1]), noise)


def _sized_guess(guess: Optional[Theta], n_exps: Optional[int], fixed: Sequence[str]
                 ) -> Tuple[Optional[Theta], int]:
    """The guess adapted to ``n_exps`` components (default: the guess's, else 2)."""
    if n_exps is None:
        n_exps = guess.taus.size if guess is not None else 2
    n_exps = int(n_exps)
    if n_exps < 1:
        raise ValueError("n_exps must be >= 1")
    if guess is not None and guess.taus.size != n_exps:
        if {"taus", "fracs"} & set(fixed):
            raise ValueError(f"the initial guess has {guess.taus.size} components, "
                             f"n_exps is {n_exps}: cannot fix its lifetimes or fractions")
        guess = _resize_theta(guess, n_exps)
    return guess, n_exps


def _fixed_values(guess: Optional[Theta], fixed: Sequence[str], fit_noise: bool,
                  n_exps: int) -> Dict[str, object]:
    """Values of the held parameters, taken from the guess."""
    fixed = tuple(fixed)
    unknown = set(fixed) - set(_FIXABLE)
    if unknown:
        raise ValueError(f"cannot fix {sorted(unknown)}; choose from {_FIXABLE}")
    if fixed and guess is None:
        raise ValueError("fixing parameters needs an initial_guess holding their values")
    values: Dict[str, object] = {}
    if guess is not None:
        source = {"taus": guess.taus, "fracs": guess.fracs, "tau_offset": guess.mu,
                  "tau_g": guess.sigma, "noise": guess.noise}
        values = {key: source[key] for key in fixed}
    if not fit_noise and "noise" not in values:
        values["noise"] = guess.noise if guess is not None else 0.0
    if n_exps == 1:
        values["fracs"] = np.array([1.0])
    return values


def _automatic_fits(prob: _Problem, fixed_vals: Dict[str, object], max_nfev: Optional[int]
                    ) -> Tuple[List[Tuple[float, Theta, dict]], int]:
    """Fit one exponential from the histogram's shape, then split it up to ``n_exp`` parts."""
    shared = {k: v for k, v in fixed_vals.items() if k not in ("taus", "fracs")}
    est = _apply_fixed(prob.auto_estimates(), shared)
    one = _Problem(prob.d, prob.c, prob.w, prob.P, 1, {**shared, "fracs": np.array([1.0])})
    stage, info = one.fit_from(est, max_nfev)
    nfev = info["nfev"]
    if prob.n_exp == 1:
        return [(prob.deviance(stage), stage, info)], nfev
    for n in range(2, prob.n_exp + 1):
        stage_prob = _Problem(prob.d, prob.c, prob.w, prob.P, n, shared)
        # Screen every split with a short budget, then polish the most likely one.
        candidates = []
        for start in _split_candidates(stage):
            th, info = stage_prob.fit_from(start, _SCREEN_NFEV)
            nfev += info["nfev"]
            candidates.append((stage_prob.deviance(th), th, info))
        candidates.sort(key=lambda r: r[0])
        stage, info = stage_prob.fit_from(candidates[0][1], max_nfev)
        nfev += info["nfev"]
    return [(prob.deviance(stage), stage, info)], nfev


def _best_fit(prob: _Problem, guess: Optional[Theta], fixed_vals: Dict[str, object],
              multistart: bool, max_nfev: Optional[int]) -> Tuple[float, Theta, dict, int, int]:
    """The most likely of the fit from the guess and the automatic fits."""
    results: List[Tuple[float, Theta, dict]] = []
    nfev = 0
    if guess is not None:
        th, info = prob.fit_from(_apply_fixed(guess, fixed_vals), max_nfev)
        nfev += info["nfev"]
        results.append((prob.deviance(th), th, info))
    # Fixed lifetimes or fractions leave nothing for automatic starts to explore.
    structural = "taus" in fixed_vals or (prob.n_exp > 1 and "fracs" in fixed_vals)
    if (guess is None or multistart) and not structural:
        auto, n_auto = _automatic_fits(prob, fixed_vals, max_nfev)
        results += auto
        nfev += n_auto
    results.sort(key=lambda r: r[0])
    deviance, best, info = results[0]
    return deviance, best, info, nfev, len(results)


def _uncertainties(prob: _Problem, best: Theta) -> Tuple[Dict[str, float], np.ndarray, List[str]]:
    """One-sigma errors of every parameter (0 when fixed), the covariance and its names."""
    n = prob.n_exp
    n_free = int(np.sum(prob.free_flags(n)))
    cov, names = prob.covariance(best) if n_free else (np.zeros((0, 0)), [])
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    unc = {key: 0.0 for key in prob.natural_names(n)}
    unc.update(dict(zip(names, sd, strict=False)))
    frac_idx = [names.index(f"frac_{i}") for i in range(n - 1) if f"frac_{i}" in names]
    unc[f"frac_{n - 1}"] = (float(np.sqrt(max(cov[np.ix_(frac_idx, frac_idx)].sum(), 0.0)))
                            if frac_idx else 0.0)
    ordered = {}
    for i in range(n):
        ordered[f"tau_{i}"] = float(unc[f"tau_{i}"])
        ordered[f"frac_{i}"] = float(unc[f"frac_{i}"])
    for key in ("tau_offset", "tau_g", "noise"):
        ordered[key] = float(unc[key])
    return ordered, cov, names


def fit_histogram(
    histogram,
    guess: Optional[Theta] = None,
    *,
    bin_width_ps: Optional[float] = None,
    x_range=None,
    x_units: FlimUnitsLike = FlimUnits.COUNTBINS,
    period_bins: Optional[float] = None,
    n_exps: Optional[int] = None,
    fit_bins=None,
    fit_noise: bool = True,
    fixed: Sequence[str] = (),
    multistart: bool = True,
    max_nfev: Optional[int] = None,
) -> HistogramFit:
    """Fit a multi-exponential model with a Gaussian IRF to an arrival-time histogram.

    The arguments are those of :func:`libsiff.flim.fit_params_to_data`, except that the
    guess is a count-bin :class:`Theta` (or None). Returns a :class:`HistogramFit` in count
    bins, with the guardrail warnings of :func:`libsiff.flim.guardrails.fit_warnings`.
    """
    counts_all = _checked_counts(histogram)
    bw = _resolve_bin_width(bin_width_ps)
    centers_all, width, period = _axis_in_bins(counts_all.size, x_range, x_units, bw,
                                               period_bins)
    mask = _fit_mask(centers_all, width, period, fit_bins)
    counts, centers = counts_all[mask], centers_all[mask]
    if counts.sum() <= 0:
        raise ValueError("the histogram has no photons in the fitted bins")
    guess, n_exps = _sized_guess(guess, n_exps, fixed)
    fixed_vals = _fixed_values(guess, fixed, fit_noise, n_exps)
    prob = _Problem(counts, centers, width, period, n_exps, fixed_vals)

    deviance, best, info, nfev, n_starts = _best_fit(prob, guess, fixed_vals, multistart,
                                                     max_nfev)
    m = prob.expected(best)
    n_free = int(np.sum(prob.free_flags(n_exps)))
    dof = int(counts.size - n_free - 1)
    chi_sq = float(np.sum((counts - m) ** 2 / m)) / dof if dof > 0 else float("nan")
    unc, cov, names = _uncertainties(prob, best)
    warns = fit_warnings(best.taus, best.fracs, best.sigma, best.noise, unc, period=period,
                         bin_width=width, n_photons=float(counts.sum()), free=names,
                         bin_width_ps=bw)
    info_out = dict(
        deviance=float(deviance), chi_sq=chi_sq, dof=dof, n_photons=float(counts.sum()),
        n_bins=int(counts.size), period_bins=period, free_parameters=names,
        covariance_countbins=cov, success=info["success"], message=info["message"],
        nfev=nfev, n_starts=n_starts, warnings=list(warns), bin_width_ps=bw,
    )
    return HistogramFit(best, chi_sq, unc, info_out, list(warns))
