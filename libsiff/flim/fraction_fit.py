"""Lifetime-over-time fit: lifetimes and IRF fitted once, component fractions per timepoint.

FRET users read how the fraction of the long (or short) lifetime changes over time. Fitting
every timepoint's few thousand photons with free lifetimes is unstable, so
:func:`fit_lifetime_over_time` fits each ROI's pooled photons once
(:func:`libsiff.flim.fit_params_to_data`, or :meth:`Calibration.fit` with the IRF held), and
:func:`fit_fractions` then fits only the fractions of every timepoint (or bin of timepoints)
with the component shapes fixed.

The fraction fit maximises the multinomial (Poisson given the photon count) likelihood of
each histogram under ``p = sum_j f_j p_j`` (``p_j``: component ``j``'s bin probabilities,
IRF, wrap-around and the pooled noise fraction included, normalised over the fitted bins)
by Fisher scoring, vectorised over all ROIs and timepoints at once; the standard errors are
the inverse expected Fisher information ``N * B^T diag(1/p) B`` at the estimate.
Histograms may be rebinned (``rebin`` arrival bins per entry) to save memory and time; the
shapes are rebinned alike, so the likelihood and its errors stay exact for those bins.

With a background ROI, its photons are a further component whose share of each row is known:
``p = (1 - beta) sum_j f_j p_j + beta q``, with ``beta`` the background ROI's photons of
that row scaled by the area ratio over the row's photons, and ``q`` the background ROI's
arrival shape pooled over time. The fractions are then those of the signal photons; their
standard errors add the Poisson error of the background estimate (propagated through
``beta``). The pooled fit that sets the lifetimes is made on the pooled histogram with the
scaled pooled background subtracted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..errors import SiffArgumentError
from .calibration import Calibration
from .fit import fit_params_to_data
from .model import bin_probabilities
from .params import FLIMParams
from .roi_photons import PhotonMoments, rebin_histograms
from .units import FlimUnits

__all__ = ["FractionFit", "component_shapes", "fit_fractions", "fit_lifetime_over_time"]

_ITERATIONS = 12
_GROUPS = 24  # merged arrival-bin groups of a two-component fraction fit


@dataclass
class FractionFit:
    """Photon fractions of fixed-lifetime components per timepoint.

    ``fractions`` and ``fraction_se`` are (..., n_components) (components sorted by
    lifetime, the last is the longest; they sum to 1), ``photons`` (...) the photons in the
    fitted bins; ``taus_ns`` the fixed lifetimes; ``bin_timepoints`` how many timepoints
    each row pools; ``warnings`` notes (e.g. rows without photons).
    """

    fractions: np.ndarray
    fraction_se: np.ndarray
    photons: np.ndarray
    taus_ns: np.ndarray
    bin_timepoints: int = 1
    warnings: List[str] = field(default_factory=list)

    @property
    def long_fraction(self) -> np.ndarray:
        """Fraction of the longest lifetime."""
        return self.fractions[..., -1]

    @property
    def long_fraction_se(self) -> np.ndarray:
        """Standard error of :attr:`long_fraction`."""
        return self.fraction_se[..., -1]

    def to_dict(self) -> Dict[str, Any]:
        """JSON-compatible dict (arrays as nested lists; NaN as None)."""
        def listed(a):
            a = np.asarray(a, dtype=float)
            return np.where(np.isfinite(a), a, None).tolist()
        return {"fractions": listed(self.fractions), "fraction_se": listed(self.fraction_se),
                "photons": listed(self.photons), "taus_ns": listed(self.taus_ns),
                "bin_timepoints": int(self.bin_timepoints), "warnings": list(self.warnings)}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "FractionFit":
        """Build from :meth:`to_dict` output."""
        def arr(v):
            return np.array(v, dtype=float)
        return cls(arr(data["fractions"]), arr(data["fraction_se"]), arr(data["photons"]),
                   arr(data["taus_ns"]), int(data.get("bin_timepoints", 1)),
                   list(data.get("warnings", [])))


def _fit_groups(n_entries: int, rebin: int, period_bins: float) -> np.ndarray:
    """Histogram entries to fit: groups lying wholly inside bins ``1 .. period - 1``."""
    first = np.arange(n_entries) * rebin
    last = first + rebin - 1
    return (first >= 1) & (last + 0.5 <= period_bins)


def component_shapes(params: FLIMParams, n_entries: int, period_bins: float, rebin: int = 1,
                     fit_entries: Optional[np.ndarray] = None) -> np.ndarray:
    """Bin probabilities of each component, ``(n_components, n_fit)``, each summing to 1.

    Each row is one component alone (its lifetime, the IRF and the noise fraction of
    ``params``), summed over groups of ``rebin`` count bins, restricted to ``fit_entries``
    (default: the groups inside one laser period, bin 0 excluded) and normalised.
    """
    fit_entries = (_fit_groups(n_entries, rebin, period_bins) if fit_entries is None
                   else np.asarray(fit_entries, dtype=bool))
    with params.as_units(FlimUnits.COUNTBINS):
        taus, mu, sigma, noise = params.taus, params.tau_offset, params.tau_g, params.noise
    centers = np.arange(n_entries * rebin, dtype=float)
    rows = []
    for tau in taus:
        p = bin_probabilities(centers, 1.0, period_bins, [tau], [1.0], mu, sigma, noise)
        p = rebin_histograms(p, rebin)[fit_entries]
        rows.append(p / p.sum())
    return np.array(rows)


def _ratio_groups(shapes: np.ndarray, start: np.ndarray, n_groups: int) -> np.ndarray:
    """(K, G) 0/1 matrix merging bins with nearly equal ``(p_short - p_long) / p``.

    With two components the likelihood depends on a bin only through that ratio, so bins
    sharing it can be merged without losing information; ``n_groups`` equal-width groups of
    the ratio keep almost all of it, and the likelihood of the merged counts is still exact.
    """
    p0 = shapes[-1] + start @ (shapes[:-1] - shapes[-1])
    r = (shapes[0] - shapes[-1]) / p0
    edges = np.linspace(r.min(), r.max(), n_groups + 1)
    idx = np.clip(np.searchsorted(edges, r, side="right") - 1, 0, n_groups - 1)
    used = np.unique(idx)
    return (idx[:, None] == used[None, :]).astype(np.float64)


def _scoring(d: np.ndarray, n: np.ndarray, shapes: np.ndarray, start: np.ndarray,
             beta: Optional[np.ndarray] = None, q: Optional[np.ndarray] = None):
    """Maximum-likelihood fractions of every row of ``d`` and their covariance.

    ``p = a + x @ b`` with ``a`` the last (longest) shape and ``b`` the others minus it;
    with a background (share ``beta`` (M,) of each row, shape ``q`` (K,)),
    ``p = (1 - beta) (a + x @ b) + beta q``. Newton's method on the log-likelihood (few
    iterations: it is nearly quadratic), with ``x`` kept where the signal's probabilities
    are all positive. The covariance is the inverse expected Fisher information at the
    estimate.
    """
    a = shapes[-1]
    b = np.ascontiguousarray(shapes[:-1] - a)                  # (m, K)
    bt = np.ascontiguousarray(b.T)
    m = b.shape[0]
    bb = np.einsum("jk,lk->kjl", b, b).reshape(b.shape[1], m * m)
    if beta is None:
        s, c = 1.0, a
    else:
        s = (1.0 - beta)[:, None]                              # (M, 1)
        c = s * a + beta[:, None] * q                          # (M, K)
    s2 = s * s if beta is None else (s * s)[:, :, None]
    lo, hi = _bounds(shapes)
    x = np.tile(np.asarray(start, dtype=float), (d.shape[0], 1))
    for _ in range(_ITERATIONS):
        p = c + s * (x @ b)
        w = d / p
        score = s * (w @ bt)                                    # (M, m)
        hess = s2 * ((w / p) @ bb).reshape(-1, m, m) + 1e-12 * np.eye(m)
        step = np.linalg.solve(hess, score[..., None])[..., 0] if m > 1 else score / hess[:, 0]
        x = np.clip(x + step, lo, hi)
        if m > 1:
            bad = np.min(a + x @ b, axis=1) <= 0
            x[bad] = np.asarray(start)
        if np.max(np.abs(step), initial=0.0) < 1e-8:
            break
    info = s2 * (n[:, None] * ((1.0 / (c + s * (x @ b))) @ bb)).reshape(-1, m, m)
    ok = n > 0
    cov = np.full(info.shape, np.nan)
    cov[ok] = np.linalg.inv(info[ok])
    x[~ok] = np.nan
    return x, cov


def _bounds(shapes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where ``a + x @ b`` (see :func:`_scoring`) stays positive along each direction of
    ``x`` (exact for two components)."""
    a = shapes[-1]
    b = shapes[:-1] - a
    with np.errstate(divide="ignore"):
        lo = np.max(np.where(b > 0, -a / b, -np.inf), axis=1) + 1e-9
        hi = np.min(np.where(b < 0, -a / b, np.inf), axis=1) - 1e-9
    return lo, hi


def _checked_background(background, scale, shape) -> np.ndarray:
    """``background`` as float64 histograms shaped ``shape``, with a positive ``scale``."""
    bg = np.asarray(background, dtype=np.float64)
    if bg.shape != tuple(shape):
        raise SiffArgumentError(f"background histograms {bg.shape} are not shaped as the "
                                f"histograms {tuple(shape)}")
    if not (np.isfinite(scale) and scale > 0):
        raise SiffArgumentError(f"background scale must be positive, not {scale}")
    return bg


def _background_share(bg: np.ndarray, n: np.ndarray, scale: float):
    """Each row's background share ``beta`` (the scaled background photons over the row's
    photons) and its variance: from the background ROI's Poisson count, and from the row's
    own Poisson total ``n`` (the row's score is uncorrelated with ``n``, so the two add)."""
    counts = bg.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.where(n > 0, scale * counts / n, np.nan)
        var = np.where(n > 0, scale * scale * counts / (n * n) + beta * beta / n, np.nan)
    return beta, var


def fit_fractions(histograms, params: FLIMParams, period_bins: float, rebin: int = 1,
                  bin_timepoints: int = 1, background=None,
                  background_scale: float = 1.0) -> FractionFit:
    """Fractions of ``params``' components in every histogram, lifetimes and IRF fixed.

    Parameters
    ----------
    histograms : array_like (..., K)
        Arrival histograms over time (e.g. (R, T, K) or (T, K)); each entry holds ``rebin``
        count bins (``K = ceil(L / rebin)``).
    params : FLIMParams
        The pooled fit whose lifetimes, IRF and noise fraction are held (>= 2 components).
    period_bins : float
        Laser period in count bins.
    rebin : int
        Count bins per histogram entry.
    bin_timepoints : int
        Pool this many consecutive timepoints (second-to-last axis) per fit.
    background : array_like (..., K), optional
        The arrival histograms of a background ROI, row by row as ``histograms`` (photon
        counts). The fractions are then those of the signal photons (see the module).
    background_scale : float
        The background ROI's photons times this are the background in ``histograms``' ROI
        (its area over the background ROI's).

    Returns
    -------
    FractionFit
    """
    h = np.asarray(histograms, dtype=np.float64)
    n_comp = params.n_exp
    if n_comp < 2:
        raise SiffArgumentError("a fraction fit needs at least two components")
    bg = (None if background is None else
          _checked_background(background, background_scale, h.shape))
    h, bg = (_bin_timepoints(a, bin_timepoints) if a is not None else None for a in (h, bg))
    lead = h.shape[:-1]
    fit = _fit_groups(h.shape[-1], rebin, period_bins)
    shapes = component_shapes(params, h.shape[-1], period_bins, rebin, fit)
    start = params.fracs[:-1]
    d = h.reshape(-1, h.shape[-1])[:, fit]
    if bg is not None:
        # the likelihood no longer depends on a bin through one ratio: no merged groups
        bg = bg.reshape(-1, bg.shape[-1])[:, fit]
        n = d.sum(axis=1)
        beta, beta_var = _background_share(bg, n, background_scale)
        pooled_bg = bg.sum(axis=0)
        q = pooled_bg / pooled_bg.sum() if pooled_bg.sum() > 0 else shapes[-1]
        usable = (n > 0) & (beta < 1.0)
        beta = np.where(usable, beta, 0.0)
        n_fit = np.where(usable, n, 0.0)
        x, cov = _scoring(d, n_fit, shapes, start, beta, q)
        # the error of the background share, through d x / d beta (finite difference)
        beta2 = np.minimum(beta + 1e-4, 1.0 - 1e-9)
        x2, _ = _scoring(d, n_fit, shapes, start, beta2, q)
        jac = (x2 - x) / (beta2 - beta)[:, None]                # (M, m)
        cov = cov + jac[:, :, None] * jac[:, None, :] * np.where(usable, beta_var,
                                                                 0.0)[:, None, None]
        too_much = int(np.sum((n > 0) & ~usable))
    else:
        if n_comp == 2 and shapes.shape[1] > _GROUPS:
            groups = _ratio_groups(shapes, start, _GROUPS)
            shapes = shapes @ groups
            d = d @ groups
        n = d.sum(axis=1)
        x, cov = _scoring(d, n, shapes, start)
        usable, too_much = n > 0, 0
    fr = np.concatenate([x, 1.0 - x.sum(axis=1, keepdims=True)], axis=1)
    var_last = cov.sum(axis=(1, 2))
    se = np.sqrt(np.clip(np.concatenate([np.diagonal(cov, axis1=1, axis2=2),
                                         var_last[:, None]], axis=1), 0.0, None))
    se[~usable] = np.nan
    warns = []
    if np.any(n <= 0):
        warns.append(f"{int(np.sum(n <= 0))} timepoint(s) without photons have no fractions")
    if too_much:
        warns.append(f"{too_much} timepoint(s) have no fractions: the background ROI accounts "
                     "for all of their photons")
    lo, hi = _bounds(shapes)
    at_bound = int(np.sum(usable & np.any(np.isclose(x, lo) | np.isclose(x, hi), axis=1)))
    if at_bound:
        warns.append(f"{at_bound} timepoint(s) ended at a bound of the fractions (where the "
                     "signal's model would turn negative): their errors mean little; too few "
                     "photons, or a background over-subtracted?")
    with params.as_units(FlimUnits.NANOSECONDS):
        taus_ns = params.taus.copy()
    return FractionFit(fr.reshape(*lead, n_comp), se.reshape(*lead, n_comp), n.reshape(lead),
                       taus_ns, int(bin_timepoints), warns)


def _bin_timepoints(h: np.ndarray, bin_timepoints: int) -> np.ndarray:
    """Sums of ``bin_timepoints`` consecutive rows (second-to-last axis); the rest dropped."""
    if bin_timepoints <= 1:
        return h
    if h.ndim < 2:
        raise SiffArgumentError("binning timepoints needs histograms (..., T, K)")
    t = h.shape[-2] // bin_timepoints
    return h[..., :t * bin_timepoints, :].reshape(*h.shape[:-2], t, bin_timepoints,
                                                  h.shape[-1]).sum(axis=-2)


def fit_lifetime_over_time(histograms, period_bins: float, bin_width_ps: float,
                           n_exps: int = 2, calibration: Optional[Calibration] = None,
                           rebin: int = 1, bin_timepoints: int = 1,
                           backgrounds: Optional[Sequence] = None,
                           names: Optional[Sequence[str]] = None
                           ) -> tuple[List[FLIMParams], FractionFit]:
    """Fit each ROI's pooled photons, then its component fractions over time.

    Parameters
    ----------
    histograms : array_like (R, T, K) or PhotonMoments
        Per-ROI histograms over time, ``rebin`` count bins per entry; or the
        :class:`~libsiff.flim.roi_photons.PhotonMoments` of
        ``roi_photon_moments(..., keep_histograms=True)`` (its histograms and ``rebin``).
    period_bins, bin_width_ps : float
        Laser period (count bins) and bin width (ps).
    n_exps : int
        Components (>= 2).
    calibration : Calibration, optional
        With an IRF width, the pooled fits hold its IRF (:meth:`Calibration.fit`).
    rebin, bin_timepoints : int
        As :func:`fit_fractions`.
    backgrounds : sequence, optional
        Per ROI, None or ``(histograms (T, K), scale)``: its background ROI's histograms and
        area ratio (:func:`fit_fractions`' ``background`` and ``background_scale``).
    names : sequence of str, optional
        The ROIs' names, for the warnings (``ROI 'name' fraction fit: ...``; default: their
        indices).

    Returns
    -------
    pooled : list of FLIMParams
        One pooled fit per ROI (nanoseconds, with its guardrail ``warnings``).
    fractions : FractionFit
        Fractions (R, T', n_exps) and their standard errors.
    """
    if isinstance(histograms, PhotonMoments):
        if histograms.histograms is None:
            raise SiffArgumentError("these moments kept no histograms (keep_histograms=True)")
        histograms, rebin = histograms.histograms, histograms.rebin
    h = np.asarray(histograms, dtype=np.float64)
    if h.ndim != 3:
        raise SiffArgumentError("histograms must be (R, T, K)")
    backgrounds = list(backgrounds) if backgrounds is not None else [None] * h.shape[0]
    if len(backgrounds) != h.shape[0]:
        raise SiffArgumentError(f"{len(backgrounds)} backgrounds for {h.shape[0]} ROIs")
    labels = [repr(str(n)) for n in names] if names is not None else list(range(h.shape[0]))
    if len(labels) != h.shape[0]:
        raise SiffArgumentError(f"{len(labels)} names for {h.shape[0]} ROIs")
    for r, bg in enumerate(backgrounds):  # checked before the pooled fits subtract them
        if bg is None:
            continue
        try:
            histograms_r, scale = bg
            backgrounds[r] = (_checked_background(histograms_r, scale, h.shape[1:]), scale)
        except (TypeError, ValueError) as e:
            raise SiffArgumentError(f"ROI {labels[r]}: a background is (histograms "
                                    f"{h.shape[1:]}, scale): {e}") from None
    k = h.shape[-1]
    centers = np.arange(k) * rebin + 0.5 * (rebin - 1)
    fit_entries = _fit_groups(k, rebin, period_bins)
    pooled = []
    for roi_hist, bg in zip(h.sum(axis=1), backgrounds, strict=True):
        if bg is not None:  # the signal's shape: the scaled background subtracted
            roi_hist = np.clip(roi_hist - bg[1] * bg[0].sum(axis=0), 0.0, None)
        kw = dict(x_range=centers, fit_bins=fit_entries, period_bins=period_bins)
        if calibration is not None and calibration.irf_sigma_bins is not None:
            pooled.append(calibration.fit(roi_hist, n_exps=n_exps, **kw))
        else:
            pooled.append(fit_params_to_data(roi_hist, n_exps=n_exps, bin_width_ps=bin_width_ps,
                                             **kw))
    fits = [fit_fractions(h[r], pooled[r], period_bins, rebin, bin_timepoints,
                          *(backgrounds[r] if backgrounds[r] is not None else (None,)))
            for r in range(h.shape[0])]
    merged = FractionFit(np.stack([f.fractions for f in fits]),
                         np.stack([f.fraction_se for f in fits]),
                         np.stack([f.photons for f in fits]),
                         np.stack([f.taus_ns for f in fits]), int(bin_timepoints),
                         [f"ROI {labels[r]} fraction fit: {w}" for r, f in enumerate(fits)
                          for w in f.warnings])
    return pooled, merged
