"""FLIM: arrival-time models (``FLIMParams``), fitting, empirical lifetimes and phasors.

SiffPy-compatible names (``siffpy.core.flim``): :class:`FLIMParams`, :class:`Exp`,
:class:`Irf`, :class:`Noise`, :class:`FlimUnits`, :func:`convert_flimunits`,
:func:`default_flimparams`; plus :func:`fit_params_to_data` and the vectorised helpers of
:mod:`libsiff.flim.lifetime`. Every lifetime says its units in its name or docstring.
"""

from .fit import fit_params_to_data
from .lifetime import (
    calibrate_phasor,
    correct_phasor,
    distance_to_semicircle,
    empirical_lifetime_bins,
    empirical_lifetime_from_histogram,
    empirical_lifetime_ns,
    histogram_to_phasor,
    lifetime_bins_from_ns,
    lifetime_ns_from_bins,
    mean_arrival_bins,
    mean_arrival_bins_from_histogram,
    phasor_from_sums,
    phasor_to_fraction,
    phasor_to_tau_modulation,
    phasor_to_tau_phase,
    tau_offset_bins,
    tau_to_phasor,
    universal_semicircle,
)
from .model import bin_probabilities, wrapped_mean_arrival
from .params import Exp, FLIMParameter, FLIMParams, Irf, Noise, default_flimparams
from .trace import FlimTrace
from .units import (
    BASE_RESOLUTION_PICOSECONDS,
    FlimUnits,
    bin_width_ps_from_bin_resolution,
    convert_flimunits,
)

__all__ = [
    "BASE_RESOLUTION_PICOSECONDS",
    "Exp",
    "FLIMParameter",
    "FLIMParams",
    "FlimTrace",
    "FlimUnits",
    "Irf",
    "Noise",
    "bin_probabilities",
    "bin_width_ps_from_bin_resolution",
    "calibrate_phasor",
    "convert_flimunits",
    "correct_phasor",
    "default_flimparams",
    "distance_to_semicircle",
    "empirical_lifetime_bins",
    "empirical_lifetime_from_histogram",
    "empirical_lifetime_ns",
    "fit_params_to_data",
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
    "wrapped_mean_arrival",
]
