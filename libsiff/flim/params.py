"""``FLIMParams``: the parameters of an arrival-time model, with units (SiffPy-compatible).

``FLIMParams(Exp(...), Exp(...), Irf(...), noise=...)`` describes photons whose arrival
times are an IRF offset, plus Gaussian jitter (the instrument response), plus one of a few
exponential lifetimes, folded into the laser period, with a fraction of uniform background.
See :mod:`libsiff.flim.model` for the exact model and :func:`libsiff.flim.fit_params_to_data`
for fitting it to a histogram.

Every time parameter carries units (:class:`FlimUnits`): count bins, picoseconds or
nanoseconds. Count bins are converted with the object's ``bin_width_ps`` (default 20 ps for
objects built by hand, SiffPy's value; readers pass the file's ``5 ps * 2**binResolution``).
"""

from __future__ import annotations

import copy as _copy
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..atomic import atomic_open
from ..errors import SiffArgumentError, SiffFormatError
from .model import bin_probabilities, wrapped_mean_arrival
from .optimize import HistogramFit, Theta, fit_histogram
from .units import (
    BASE_RESOLUTION_PICOSECONDS,
    FlimUnits,
    FlimUnitsLike,
    _check_bin_width,
    convert_flimunits,
)

__all__ = ["FLIMParameter", "Exp", "Irf", "Noise", "FLIMParams", "default_flimparams"]

FLIMPARAMS_SUFFIX = ".flimparams"


def _alias_property(true_name: str, alias: str) -> property:
    def fget(self):
        return getattr(self, true_name)

    def fset(self, value):
        setattr(self, true_name, value)

    return property(fget, fset, doc=f"Alias of ``{true_name}``.")


class FLIMParameter:
    """Base class of the model's parameters (``Exp``, ``Irf``, ``Noise``).

    Subclasses list their parameter names in ``class_params``, those that are times in
    ``unitful_params``, and alternative names in ``aliases`` (``{name: [alias, ...]}``).

    Parameters
    ----------
    *values : float
        The parameters, in the order of ``class_params``.
    units : FlimUnits or str
        Units of the time parameters (default count bins, as SiffPy).
    bin_width_ps : float
        Picoseconds per count bin, used when converting to or from count bins.
    **named : float
        Parameters by name or alias.
    """

    class_params: List[str] = []
    unitful_params: List[str] = []
    aliases: Dict[str, List[str]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for true_name, names in cls.aliases.items():
            for alias in names:
                setattr(cls, alias, _alias_property(true_name, alias))

    def __init__(self, *values, units: FlimUnitsLike = FlimUnits.COUNTBINS,
                 bin_width_ps: float = BASE_RESOLUTION_PICOSECONDS, **named):
        values = list(values)
        if (len(values) == len(self.class_params) + 1
                and isinstance(values[-1], (str, FlimUnits))):
            units = values.pop()  # Exp(tau, frac, units), Irf(offset, sigma, units)
        if len(values) > len(self.class_params):
            raise TypeError(f"{type(self).__name__} takes at most {len(self.class_params)} "
                            f"positional parameters ({', '.join(self.class_params)})")
        given: Dict[str, Any] = dict(zip(self.class_params, values, strict=False))
        lookup = {alias: true for true, names in self.aliases.items() for alias in names}
        for key, value in named.items():
            true = lookup.get(key, key)
            if true not in self.class_params:
                raise TypeError(f"{type(self).__name__} has no parameter {key!r}")
            if true in given:
                raise TypeError(f"{type(self).__name__}: {true!r} given twice")
            given[true] = value
        for name in self.class_params:
            value = given.get(name)
            setattr(self, name, None if value is None else float(value))
        self.units = FlimUnits(units)
        self.bin_width_ps = _check_bin_width(bin_width_ps)

    @property
    def param_list(self) -> List[Optional[float]]:
        """The parameter values, in the order of ``class_params``."""
        return [getattr(self, name) for name in self.class_params]

    @property
    def param_tuple(self) -> Tuple[Optional[float], ...]:
        """The parameter values as a tuple, in the order of ``class_params``."""
        return tuple(self.param_list)

    def convert_units(self, to_units: FlimUnitsLike) -> None:
        """Convert the time parameters to ``to_units`` in place (uses ``bin_width_ps``)."""
        to_units = FlimUnits(to_units)
        for name in self.unitful_params:
            setattr(self, name, convert_flimunits(getattr(self, name), self.units, to_units,
                                                  self.bin_width_ps))
        self.units = to_units

    def nondimensionalize(self) -> None:
        """Relabel the parameters as unitless (values unchanged)."""
        self.convert_units(FlimUnits.UNITLESS)

    def redimensionalize(self, to_units: FlimUnitsLike) -> None:
        """Alias of :meth:`convert_units`."""
        self.convert_units(to_units)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-compatible dict: the parameter values plus ``units`` (its string value)."""
        out: Dict[str, Any] = {name: (None if getattr(self, name) is None
                                      else float(getattr(self, name)))
                               for name in self.class_params}
        out["units"] = self.units.value
        return out

    @classmethod
    def from_dict(cls, data: Dict[str, Any], bin_width_ps: float = BASE_RESOLUTION_PICOSECONDS):
        """Build from :meth:`to_dict` output (names or aliases; ``units`` optional)."""
        data = dict(data)
        units = data.pop("units", FlimUnits.COUNTBINS)
        data.pop("bin_width_ps", None)
        return cls(units=units, bin_width_ps=bin_width_ps, **data)

    def copy(self):
        """An independent copy."""
        return _copy.copy(self)

    def __repr__(self) -> str:
        out = type(self).__name__ + "\n"
        out += f"\tUNITS: {self.units}\n"
        for name in self.class_params:
            out += f"\t{name} : {getattr(self, name)}\n"
        return out

    def _values_ps(self) -> List[Optional[float]]:
        vals = []
        for name in self.class_params:
            v = getattr(self, name)
            if name in self.unitful_params and v is not None and self.units not in (
                    FlimUnits.UNITLESS, FlimUnits.UNKNOWN):
                v = convert_flimunits(v, self.units, FlimUnits.PICOSECONDS, self.bin_width_ps)
            vals.append(v)
        return vals

    def __eq__(self, other) -> bool:
        """Same class and the same values, compared in picoseconds (relative 1e-9)."""
        if type(self) is not type(other):
            return NotImplemented
        if (self.units is FlimUnits.UNITLESS) != (other.units is FlimUnits.UNITLESS):
            return False
        for a, b in zip(self._values_ps(), other._values_ps(), strict=False):
            if a is None or b is None:
                if a is not b:
                    return False
            elif not np.isclose(a, b, rtol=1e-9, atol=1e-12):
                return False
        return True

    __hash__ = None  # mutable


class Exp(FLIMParameter):
    """One exponential component: lifetime ``tau`` (has units) and photon fraction ``frac``.

    ``Exp(tau, frac, units='countbins')``. Aliases: ``lifetime``, ``exp``, ``average``,
    ``mean``, ``empirical_lifetime`` for ``tau``; ``fraction``, ``f`` for ``frac``.
    """

    class_params = ["tau", "frac"]
    unitful_params = ["tau"]
    aliases = {
        "tau": ["lifetime", "exp", "average", "mean", "empirical_lifetime"],
        "frac": ["fraction", "f"],
    }


class Irf(FLIMParameter):
    """Gaussian instrument response: mean ``tau_offset`` and width ``tau_g`` (both have units).

    ``Irf(tau_offset, tau_g, units='countbins')``. Aliases: ``mu``, ``mean``, ``offset`` for
    ``tau_offset``; ``sigma``, ``width`` for ``tau_g`` (the standard deviation).
    """

    class_params = ["tau_offset", "tau_g"]
    unitful_params = ["tau_offset", "tau_g"]
    aliases = {
        "tau_offset": ["mu", "mean", "offset"],
        "tau_g": ["sigma", "width"],
    }


class Noise(FLIMParameter):
    """Fraction ``frac`` of photons uniformly distributed over the laser period (unitless)."""

    class_params = ["frac"]
    unitful_params: List[str] = []
    aliases = {"frac": ["fraction", "noise"]}


def _is_time_key(key: str) -> bool:
    return key in ("tau_offset", "tau_g") or key.startswith("tau_")


class FLIMParams:
    """Parameters of a multi-exponential arrival-time model with a Gaussian IRF.

    The model (:mod:`libsiff.flim.model`): a photon arrives at
    ``tau_offset + Normal(0, tau_g) + Exponential(tau_i)`` with probability ``frac_i``, the
    time folded into the laser period (so tails of earlier pulses wrap around), and a
    fraction ``noise`` of photons is uniform over the period.

    Parameters
    ----------
    *args : Exp, Irf, Noise, or one tuple
        One or more ``Exp`` and one ``Irf`` (optionally a ``Noise``), or a single tuple
        ``(tau_1, frac_1, tau_2, frac_2, ..., tau_offset, tau_g)``.
    color_channel : int, optional
        The colour channel these parameters describe (bookkeeping only).
    noise : float
        Fraction of uniform background photons, ``0 <= noise <= 1``. A ``Noise`` argument
        overrides it.
    name : str, optional
        Free-form label.
    bin_width_ps : float
        Picoseconds per arrival-time count bin (default 20, SiffPy's value; readers pass
        the file's own width). Used by every conversion to or from ``'countbins'``.
    units : FlimUnits or str, optional
        Units of a tuple argument (default count bins, as SiffPy's ``from_tuple``). With
        ``Exp``/``Irf`` arguments, converts them to these units.

    Notes
    -----
    The ``Exp``/``Irf`` arguments are copied, and take the object's ``bin_width_ps``.
    Fractions must sum to 1 within 0.01 (as SiffPy). After a fit
    (:func:`libsiff.flim.fit_params_to_data`), ``chi_sq`` holds the reduced chi-square and
    ``uncertainties`` the one-sigma errors, in the current units.
    """

    def __init__(self, *args, color_channel: Optional[int] = None, noise: float = 0.0,
                 name: Optional[str] = None,
                 bin_width_ps: float = BASE_RESOLUTION_PICOSECONDS,
                 units: Optional[FlimUnitsLike] = None):
        self._bin_width_ps = _check_bin_width(bin_width_ps)
        exps = [a for a in args if isinstance(a, Exp)]
        irfs = [a for a in args if isinstance(a, Irf)]
        noises = [a for a in args if isinstance(a, Noise)]
        tuples = [a for a in args if isinstance(a, (tuple, list, np.ndarray))]
        if not exps and tuples:
            exps, irf = self._components_from_tuple(tuples[0], units)
            irfs = [irf]
        if not exps or not irfs:
            raise SiffArgumentError("FLIMParams needs at least one Exp and an Irf (or a tuple "
                             "(tau_1, frac_1, ..., tau_offset, tau_g))")
        if len(irfs) > 1:
            raise SiffArgumentError("FLIMParams takes a single Irf")
        self.exps: List[Exp] = [e.copy() for e in exps]
        self.irf: Irf = irfs[0].copy()
        for p in self.params:
            p.bin_width_ps = self._bin_width_ps
        fracs = [e.frac for e in self.exps]
        if any(f is None for f in fracs) or any(e.tau is None for e in self.exps):
            raise SiffArgumentError("every Exp needs a tau and a frac")
        if abs(float(np.sum(fracs)) - 1.0) > 0.01:
            raise SiffArgumentError(f"fractions of the exponentials must sum to 1, got {np.sum(fracs)}")
        if self.irf.tau_offset is None or self.irf.tau_g is None:
            raise SiffArgumentError("the Irf needs a tau_offset and a tau_g")
        self.color_channel = color_channel
        self.name = name
        self._allow_noise = True
        self._noise = 0.0
        self.noise = noises[0].frac if noises else noise
        if units is not None and not tuples:
            self.convert_units(units)
        self.chi_sq: Optional[float] = None
        self._uncertainties_bins: Optional[Dict[str, float]] = None
        self.fit_info: Optional[Dict[str, Any]] = None
        #: Guardrail warnings of the last fit (:mod:`libsiff.flim.guardrails`).
        self.warnings: List[str] = []

    @staticmethod
    def _components_from_tuple(values, units) -> Tuple[List[Exp], Irf]:
        values = [float(v) for v in values]
        if len(values) < 4 or len(values) % 2:
            raise SiffArgumentError("a parameter tuple is (tau_1, frac_1, ..., tau_offset, tau_g)")
        u = FlimUnits(units) if units is not None else FlimUnits.COUNTBINS
        exps = [Exp(tau=t, frac=f, units=u) for t, f in zip(values[:-2:2], values[1:-2:2], strict=False)]
        return exps, Irf(tau_offset=values[-2], tau_g=values[-1], units=u)

    @classmethod
    def from_tuple(cls, param_tuple: Sequence[float], units: FlimUnitsLike = FlimUnits.COUNTBINS,
                   noise: float = 0.0, bin_width_ps: float = BASE_RESOLUTION_PICOSECONDS,
                   **kwargs) -> "FLIMParams":
        """Build from ``(tau_1, frac_1, ..., tau_offset, tau_g)`` in ``units``."""
        return cls(tuple(param_tuple), units=units, noise=noise, bin_width_ps=bin_width_ps,
                   **kwargs)

    # ------------------------------------------------------------------ basic properties
    @property
    def bin_width_ps(self) -> float:
        """Picoseconds per arrival-time count bin (used to convert ``'countbins'``)."""
        return self._bin_width_ps

    @bin_width_ps.setter
    def bin_width_ps(self, value: float) -> None:
        self._bin_width_ps = _check_bin_width(value)
        for p in self.params:
            p.bin_width_ps = self._bin_width_ps

    @property
    def params(self) -> List[FLIMParameter]:
        """The ``Exp`` objects followed by the ``Irf``."""
        return [*self.exps, self.irf]

    @property
    def param_tuple(self) -> Tuple[float, ...]:
        """``(tau_1, frac_1, ..., tau_offset, tau_g)`` in the current units."""
        return tuple(v for p in self.params for v in p.param_list)

    @param_tuple.setter
    def param_tuple(self, values: Sequence[float]) -> None:
        """Set all values from a tuple in the **current** units (no unit change)."""
        values = [float(v) for v in values]
        if len(values) != 2 * self.n_exp + 2:
            raise SiffArgumentError(f"expected {2 * self.n_exp + 2} values "
                             "(tau_1, frac_1, ..., tau_offset, tau_g)")
        for e, t, f in zip(self.exps, values[:-2:2], values[1:-2:2], strict=False):
            e.tau, e.frac = t, f
        self.irf.tau_offset, self.irf.tau_g = values[-2], values[-1]

    @property
    def n_exp(self) -> int:
        """Number of exponential components."""
        return len(self.exps)

    n_exps = n_exp
    ncomponents = n_exp

    @property
    def taus(self) -> np.ndarray:
        """Lifetimes of the components, in the current units."""
        return np.array([e.tau for e in self.exps], dtype=float)

    @property
    def fracs(self) -> np.ndarray:
        """Photon fractions of the components (sum to 1)."""
        return np.array([e.frac for e in self.exps], dtype=float)

    @property
    def tau_offset(self) -> float:
        """IRF offset (mean of the Gaussian IRF), in the current units."""
        return self.irf.tau_offset

    @tau_offset.setter
    def tau_offset(self, value: float) -> None:
        self.irf.tau_offset = float(value)

    @property
    def tau_g(self) -> float:
        """IRF width (standard deviation of the Gaussian IRF), in the current units."""
        return self.irf.tau_g

    @tau_g.setter
    def tau_g(self, value: float) -> None:
        self.irf.tau_g = float(value)

    @property
    def T_O(self) -> float:
        """IRF offset (SiffPy's old name for ``tau_offset``), in the current units."""
        return self.tau_offset

    @property
    def noise(self) -> float:
        """Fraction of photons uniformly distributed over the laser period (0 to 1)."""
        return self._noise

    @noise.setter
    def noise(self, value: float) -> None:
        value = float(value)
        if not 0.0 <= value <= 1.0:
            raise SiffArgumentError(f"noise must lie in [0, 1], got {value}")
        self._noise = value

    @property
    def allow_noise(self) -> bool:
        """Whether fits include the noise fraction.

        True unless set to False (which also sets ``noise = 0``). SiffPy fits noise only
        when ``noise > 0``; libsiff fits it by default because real data have background.
        """
        return self._allow_noise or self._noise > 0

    @allow_noise.setter
    def allow_noise(self, value: bool) -> None:
        self._allow_noise = bool(value)
        if not value:
            self._noise = 0.0

    # ------------------------------------------------------------------ units
    @property
    def units(self) -> FlimUnits:
        """Units of the time parameters; ``FlimUnits.UNKNOWN`` if they are mixed."""
        units = {p.units for p in self.params}
        return units.pop() if len(units) == 1 else FlimUnits.UNKNOWN

    @units.setter
    def units(self, to_units: FlimUnitsLike) -> None:
        self.convert_units(to_units)

    def convert_units(self, to_units: FlimUnitsLike, flim_info: Any = None) -> None:
        """Convert every time parameter to ``to_units``, in place (as SiffPy).

        Parameters
        ----------
        to_units : FlimUnits or str
            ``'countbins'``, ``'picoseconds'``, ``'nanoseconds'`` (or ``'unitless'``, which
            only relabels). Count bins use ``self.bin_width_ps``.
        flim_info : ignored
            Accepted for SiffPy compatibility.
        """
        to_units = FlimUnits(to_units)
        for p in self.params:
            p.convert_units(to_units)

    @contextmanager
    def as_units(self, to_units: FlimUnitsLike) -> Iterator["FLIMParams"]:
        """Context manager: temporarily convert to ``to_units``; restored on exit."""
        before = [p.units for p in self.params]
        self.convert_units(to_units)
        try:
            yield self
        finally:
            for p, u in zip(self.params, before, strict=False):
                p.convert_units(u)

    def _require_units(self) -> FlimUnits:
        u = self.units
        if u in (FlimUnits.UNKNOWN, FlimUnits.UNITLESS):
            raise SiffArgumentError(f"FLIMParams units are {u}; convert to a time unit first")
        return u

    @property
    def uncertainties(self) -> Optional[Dict[str, float]]:
        """One-sigma uncertainties of the last fit, in the current units (else ``None``).

        Keys: ``tau_0, frac_0, tau_1, frac_1, ..., tau_offset, tau_g, noise`` (components
        numbered as ``exps``). Fixed parameters have uncertainty 0.
        """
        if self._uncertainties_bins is None:
            return None
        units = self.units
        out = {}
        for key, value in self._uncertainties_bins.items():
            if _is_time_key(key) and units not in (FlimUnits.UNKNOWN, FlimUnits.UNITLESS):
                value = convert_flimunits(value, FlimUnits.COUNTBINS, units, self.bin_width_ps)
            out[key] = float(value)
        return out

    def _set_uncertainties(self, values: Optional[Dict[str, float]], units: FlimUnitsLike) -> None:
        if values is None:
            self._uncertainties_bins = None
            return
        units = FlimUnits(units)
        self._uncertainties_bins = {
            k: float(convert_flimunits(v, units, FlimUnits.COUNTBINS, self.bin_width_ps)
                     if _is_time_key(k) and units is not FlimUnits.UNITLESS else v)
            for k, v in values.items()
        }

    # ------------------------------------------------------------------ model
    def _model_args(self):
        return dict(taus=self.taus, fracs=self.fracs, mu=self.tau_offset, sigma=self.tau_g,
                    noise=self.noise)

    def probability_dist(self, x_range, period: Optional[float] = None) -> np.ndarray:
        """Probability of a photon arriving in each bin of ``x_range``.

        Parameters
        ----------
        x_range : array_like
            Evenly spaced bin centres, in the current units (e.g. ``np.arange(n_bins)`` in
            count bins). Each bin spans one step of the axis.
        period : float, optional
            Laser period, in the current units; default: the span of ``x_range``
            (``len(x_range)`` steps, i.e. the axis covers one period).

        Returns
        -------
        numpy.ndarray
            Probabilities, normalised to sum to 1 over ``x_range`` (as SiffPy). To compare
            with a histogram, multiply by its photon count.
        """
        self._require_units()
        x = np.asarray(x_range, dtype=float)
        if x.ndim != 1 or x.size < 2:
            raise SiffArgumentError("x_range must be a 1-D axis with at least two values")
        step = float(np.median(np.diff(x)))
        if step <= 0:
            raise SiffArgumentError("x_range must increase")
        T = float(period) if period is not None else step * x.size
        p = bin_probabilities(x, step, T, **self._model_args())
        return p / p.sum()

    def pdf(self, x_range, period: Optional[float] = None) -> np.ndarray:
        """Alias of :meth:`probability_dist`."""
        return self.probability_dist(x_range, period)

    def model_histogram(self, n_bins: int, n_photons: float = 1.0,
                        period_bins: Optional[float] = None) -> np.ndarray:
        """Expected photon counts in count bins ``0 .. n_bins - 1``.

        Parameters
        ----------
        n_bins : int
            Histogram length (``Tau_bins + 2`` for a .siff histogram).
        n_photons : float
            Expected number of photons in one laser period (all bins).
        period_bins : float, optional
            Laser period in count bins (the header's ``Tau_bins``); default ``n_bins - 2``.
            Bins at or beyond the period are empty (the hardware never writes them).

        Returns
        -------
        numpy.ndarray
            Expected counts per bin (float64), independent of the current units.
        """
        n_bins = int(n_bins)
        P = float(period_bins) if period_bins is not None else float(n_bins - 2)
        if P <= 0:
            raise SiffArgumentError("period_bins must be positive")
        with self.as_units(FlimUnits.COUNTBINS):
            centers = np.arange(n_bins, dtype=float)
            p = bin_probabilities(centers, 1.0, P, **self._model_args())
        p[centers > P - 0.5] = 0.0
        return n_photons * p

    def sample(self, x_range, n: int = 10000, seed: Optional[int] = None,
               as_histogram: bool = True) -> np.ndarray:
        """Draw ``n`` photons from :meth:`probability_dist` over ``x_range`` (current units).

        Returns the counts per ``x_range`` bin (same length; SiffPy returns one fewer), or
        with ``as_histogram=False`` the ``n`` sampled bin centres.
        """
        rng = np.random.default_rng(seed)
        p = self.probability_dist(x_range)
        if as_histogram:
            return rng.multinomial(int(n), p)
        return rng.choice(np.asarray(x_range, dtype=float), size=int(n), p=p)

    def fraction_to_empirical(self, fractions) -> np.ndarray:
        """Mean lifetime ``sum_i f_i tau_i`` (current units) for given fractions.

        ``fractions`` has shape ``(..., n_exp - 1)`` (or ``(...)`` with two components);
        the last component takes the remainder. Ignores wrap-around and noise (as SiffPy);
        see :meth:`expected_empirical_lifetime` for the full expectation.
        """
        fr = np.asarray(fractions, dtype=float)
        if self.n_exp == 2 and (fr.ndim == 0 or fr.shape[-1] != 1):
            fr = fr[..., None]
        taus = self.taus
        return fr @ taus[:-1] + (1.0 - fr.sum(axis=-1)) * taus[-1]

    def expected_empirical_lifetime(self, period: float) -> float:
        """Expected empirical lifetime (mean arrival minus ``tau_offset``), current units.

        Analytic: includes the IRF, every component, the wrap-around of earlier pulses and
        the uniform noise, for histograms whose bin ``i`` represents time ``i * bin width``.

        Parameters
        ----------
        period : float
            Laser period in the current units (``Tau_bins`` in count bins).
        """
        units = self._require_units()
        half_bin = convert_flimunits(0.5, FlimUnits.COUNTBINS, units, self.bin_width_ps)
        mean = wrapped_mean_arrival(period, -half_bin, **self._model_args())
        return mean - self.tau_offset

    # ------------------------------------------------------------------ fitting
    def fit_params_to_data(self, data, initial_guess: Optional[Sequence[float]] = None,
                           x_range=None, optimization_units: FlimUnitsLike = FlimUnits.NANOSECONDS,
                           **kwargs):
        """Fit this model to an arrival-time histogram, **in place** (as SiffPy).

        Parameters
        ----------
        data : array_like
            Photon counts per bin (not modified; SiffPy normalised it in place).
        initial_guess : sequence, optional
            ``(tau_1, frac_1, ..., tau_offset, tau_g[, noise])`` in ``optimization_units``;
            default: the current values. Automatic starting points are tried as well.
        x_range : array_like, optional
            Bin centres of ``data`` in ``optimization_units``; default: count bins
            ``0 .. len(data) - 1``.
        optimization_units : FlimUnits or str
            Units of ``x_range`` and ``initial_guess`` (default nanoseconds, as SiffPy). The
            optimiser itself always works in count bins.
        **kwargs
            Passed to :func:`libsiff.flim.fit_params_to_data` (``period_bins``,
            ``fit_bins``, ``fixed``, ``multistart``, ...). Noise is fitted if
            ``allow_noise``.

        Returns
        -------
        scipy.optimize.OptimizeResult
            ``x`` (the fitted tuple in the current units, noise appended if fitted),
            ``fun`` (Poisson deviance), ``chi_sq``, ``uncertainties``, ``success``,
            ``message``, ``nfev``.
        """
        from scipy.optimize import OptimizeResult

        guess = self.copy()
        if initial_guess is not None:
            vals = [float(v) for v in initial_guess]
            with guess.as_units(optimization_units):
                guess.param_tuple = vals[: 2 * self.n_exp + 2]
            if len(vals) == 2 * self.n_exp + 3:
                guess.noise = vals[-1]
        x_units = optimization_units if x_range is not None else FlimUnits.COUNTBINS
        kwargs.setdefault("fit_noise", self.allow_noise)
        kwargs.setdefault("bin_width_ps", self.bin_width_ps)
        for ignored in ("color_channel", "name", "units"):  # the object keeps its own
            kwargs.pop(ignored, None)
        units = self.units
        if units in (FlimUnits.UNKNOWN, FlimUnits.UNITLESS):
            units = FlimUnits.NANOSECONDS  # mixed units: the fit result is uniform
        fit = fit_histogram(data, guess.countbin_theta(), x_range=x_range, x_units=x_units,
                            **kwargs)
        fitted = FLIMParams.from_histogram_fit(fit, units)
        self.exps, self.irf = fitted.exps, fitted.irf
        self._noise = fitted.noise
        self.chi_sq = fitted.chi_sq
        self._uncertainties_bins = fitted._uncertainties_bins
        self.fit_info = fitted.fit_info
        self.warnings = list(fitted.warnings)
        x = list(self.param_tuple) + ([self.noise] if kwargs["fit_noise"] else [])
        info = fitted.fit_info or {}
        return OptimizeResult(x=np.array(x), fun=info.get("deviance"), chi_sq=self.chi_sq,
                              uncertainties=self.uncertainties, success=info.get("success"),
                              message=info.get("message"), nfev=info.get("nfev"),
                              warnings=list(self.warnings))

    def countbin_theta(self) -> Theta:
        """The model parameters in count bins (a :class:`libsiff.flim.optimize.Theta`)."""
        g = self.copy()
        g.convert_units(FlimUnits.COUNTBINS)
        return Theta(g.taus, g.fracs / g.fracs.sum(), float(g.tau_offset), float(g.tau_g),
                     float(g.noise))

    @classmethod
    def from_histogram_fit(cls, fit: HistogramFit, units: FlimUnitsLike = FlimUnits.NANOSECONDS,
                           color_channel: Optional[int] = None,
                           name: Optional[str] = None) -> "FLIMParams":
        """Parameters (in ``units``) with the quality, uncertainties and warnings of a fit."""
        th = fit.theta
        bw = float(fit.info["bin_width_ps"])
        exps = [Exp(tau=float(t), frac=float(f), units=FlimUnits.COUNTBINS)
                for t, f in zip(th.taus, th.fracs, strict=False)]
        irf = Irf(tau_offset=float(th.mu), tau_g=float(th.sigma), units=FlimUnits.COUNTBINS)
        out = cls(*exps, irf, noise=float(np.clip(th.noise, 0.0, 1.0)),
                  color_channel=color_channel, name=name, bin_width_ps=bw)
        out.convert_units(units)
        out.chi_sq = fit.chi_sq
        out._set_uncertainties(fit.uncertainties, FlimUnits.COUNTBINS)
        out.fit_info = dict(fit.info)
        out.warnings = list(fit.warnings)
        return out

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> Dict[str, Any]:
        """JSON-compatible dict (SiffPy's keys plus ``bin_width_ps`` and any fit quality)."""
        out: Dict[str, Any] = {
            "exps": [e.to_dict() for e in self.exps],
            "irf": self.irf.to_dict(),
            "color_channel": self.color_channel,
            "noise": float(self.noise),
            "name": self.name,
            "units": self.units.value,
            "class": type(self).__name__,
            "bin_width_ps": float(self.bin_width_ps),
        }
        if self.chi_sq is not None:
            out["chi_sq"] = float(self.chi_sq)
        unc = self.uncertainties
        if unc is not None:
            out["uncertainties"] = unc
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "FLIMParams":
        """Build from :meth:`to_dict` output or a SiffPy ``.flimparams`` dict.

        A dict without ``bin_width_ps`` (SiffPy's files) gets 20 ps, the width SiffPy used
        for its own conversions.
        """
        bw = float(data.get("bin_width_ps", BASE_RESOLUTION_PICOSECONDS))
        exps = [Exp.from_dict(d, bin_width_ps=bw) for d in data["exps"]]
        irf = Irf.from_dict(data["irf"], bin_width_ps=bw)
        params = cls(*exps, irf, color_channel=data.get("color_channel"),
                     noise=float(data.get("noise", 0.0) or 0.0), name=data.get("name"),
                     bin_width_ps=bw)
        if data.get("chi_sq") is not None:
            params.chi_sq = float(data["chi_sq"])
        if data.get("uncertainties") is not None:
            params._set_uncertainties(data["uncertainties"], params.units)
        params.warnings = [str(w) for w in data.get("warnings", [])]
        return params

    def save(self, path: Union[str, os.PathLike]) -> Path:
        """Write JSON to ``path`` with the suffix ``.flimparams`` (atomic replace).

        Returns
        -------
        pathlib.Path
            The file written (``path`` with its suffix replaced, as SiffPy).
        """
        path = Path(path).with_suffix(FLIMPARAMS_SUFFIX)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh, indent=2)
        return path

    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> "FLIMParams":
        """Read a file written by :meth:`save` (or by SiffPy); the suffix becomes ``.flimparams``.

        Raises
        ------
        SiffFormatError
            Naming the file, when it is not JSON, names another class, or does not hold
            valid parameters (a ValueError, as before).
        OSError
            When the file cannot be opened.
        """
        return cls.read_json(Path(path).with_suffix(FLIMPARAMS_SUFFIX))

    @classmethod
    def read_json(cls, path: Union[str, os.PathLike], member: str | None = None) -> "FLIMParams":
        """Read the FLIM parameters JSON at ``path`` (the name as given, no suffix change).

        ``member``: when the file is an object whose ``member`` entry is an object (e.g. the
        app's ``{"flim_params": {...}}`` fit export), the parameters are that entry.

        Raises
        ------
        SiffFormatError
            Naming the file, when it is not JSON (or nests too deeply), names another
            class, or does not hold valid parameters.
        OSError
            When the file cannot be opened.
        """
        path = Path(path)
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise SiffFormatError(f"{path}: not a FLIM parameters JSON file ({exc})") from None
        if member is not None and isinstance(data, dict) and isinstance(data.get(member), dict):
            data = data[member]
        if not isinstance(data, dict):
            raise SiffFormatError(f"{path}: not a FLIM parameters JSON file (no object)")
        stored = data.pop("class", cls.__name__)
        if stored != cls.__name__:
            raise SiffFormatError(f"{path} holds a {stored}, not a {cls.__name__}")
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SiffFormatError(f"{path}: invalid FLIM parameters ({type(exc).__name__}: "
                                  f"{exc})") from None

    def copy(self) -> "FLIMParams":
        """An independent deep copy (fit results included)."""
        return _copy.deepcopy(self)

    # ------------------------------------------------------------------ comparison, display
    def __eq__(self, other) -> bool:
        """Same colour channel (when both are set), same exps in any order, same IRF."""
        if not isinstance(other, FLIMParams):
            return NotImplemented
        if (self.color_channel is not None and other.color_channel is not None
                and self.color_channel != other.color_channel):
            return False
        if self.n_exp != other.n_exp:
            return False
        if not all(any(e == o for o in other.exps) for e in self.exps):
            return False
        return self.irf == other.irf

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        out = "FLIMParams object: \n\n"
        out += "\tParameters:\n"
        for p in self.params:
            out += "\t\t" + repr(p) + "\n"
        out += f"\t\tNoise: {self.noise}\n"
        out += f"\t\tColor channel: {self.color_channel}\n"
        out += f"\t\tBin width: {self.bin_width_ps} ps\n"
        if self.name is not None:
            out += f"\t\tName: {self.name}\n"
        unc = self.uncertainties
        if self.chi_sq is not None or unc is not None:
            out += "\tFit:\n"
            if self.chi_sq is not None:
                out += f"\t\treduced chi-square : {self.chi_sq:.4g}\n"
            if unc is not None:
                for key, value in unc.items():
                    out += f"\t\t{key} +/- {value:.4g}\n"
        return out


def default_flimparams(n_irfs: int = 1, n_exps: int = 2,
                       bin_width_ps: float = BASE_RESOLUTION_PICOSECONDS) -> FLIMParams:
    """SiffPy's starting parameters, in nanoseconds.

    Lifetimes evenly spaced from 0.6 to 4.0 ns with equal fractions, ``Irf(1.5, 0.1)`` ns,
    ``noise = 0.1``.

    Raises
    ------
    ValueError
        For ``n_irfs != 1``: SiffPy's multi-pulse parameters are not supported.
    """
    if n_irfs != 1:
        raise SiffArgumentError("libsiff supports single-pulse excitation only (n_irfs=1)")
    n_exps = int(n_exps)
    if n_exps < 1:
        raise SiffArgumentError("n_exps must be >= 1")
    taus = np.linspace(0.6, 4.0, n_exps)
    exps = [Exp(tau=float(t), frac=1.0 / n_exps, units=FlimUnits.NANOSECONDS) for t in taus]
    irf = Irf(tau_offset=1.5, tau_g=0.1, units=FlimUnits.NANOSECONDS)
    return FLIMParams(*exps, irf, noise=0.1, bin_width_ps=bin_width_ps)
