"""FLIM: arrival-time models (``FLIMParams``), fitting, empirical lifetimes and phasors.

Modules, one job each: :mod:`~libsiff.flim.params` (the model's parameters),
:mod:`~libsiff.flim.optimize` (the Poisson histogram fit) and :mod:`~libsiff.flim.fit`
(``fit_params_to_data``), :mod:`~libsiff.flim.guardrails` (fit warnings),
:mod:`~libsiff.flim.calibration` (per-channel calibration, phasor harmonic),
:mod:`~libsiff.flim.pixel_phasor` (phasor images, cursors), :mod:`~libsiff.flim.roi_photons`
(per-ROI photon moments over time), :mod:`~libsiff.flim.background` (neuropil and
background correction, trace columns), :mod:`~libsiff.flim.fraction_fit` (lifetime-over-time
fit), :mod:`~libsiff.flim.trace` (``FlimTrace``), :mod:`~libsiff.flim.lifetime` (SiffIO-style
empirical lifetimes and phasors).

SiffPy-compatible names (``siffpy.core.flim``): :class:`FLIMParams`, :class:`Exp`,
:class:`Irf`, :class:`Noise`, :class:`FlimUnits`, :func:`convert_flimunits`,
:func:`default_flimparams`; plus :func:`fit_params_to_data` and the vectorised helpers of
:mod:`libsiff.flim.lifetime`. Every lifetime says its units in its name or docstring.
"""

from .background import BackgroundSettings, lifetime_columns, neuropil_mask, roi_trace_table
from .calibration import Calibration, histogram_phasor, irf_from_file, reference_from_file
from .fit import fit_params_to_data
from .fraction_fit import FractionFit, fit_fractions, fit_lifetime_over_time
from .guardrails import fit_warnings
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
from .pixel_phasor import (
    PixelPhasor,
    circular_cursor_mask,
    filter_phasor,
    phasor_density,
    pixel_phasor,
    polygon_cursor_mask,
    threshold_phasor,
)
from .roi_photons import PhotonMoments, roi_photon_moments
from .trace import FlimTrace
from .units import (
    BASE_RESOLUTION_PICOSECONDS,
    FlimUnits,
    bin_width_ps_from_bin_resolution,
    convert_flimunits,
)

__all__ = [
    "BASE_RESOLUTION_PICOSECONDS",
    "BackgroundSettings",
    "Calibration",
    "Exp",
    "FLIMParameter",
    "FLIMParams",
    "FlimTrace",
    "FlimUnits",
    "FractionFit",
    "Irf",
    "Noise",
    "PhotonMoments",
    "PixelPhasor",
    "bin_probabilities",
    "bin_width_ps_from_bin_resolution",
    "calibrate_phasor",
    "circular_cursor_mask",
    "convert_flimunits",
    "correct_phasor",
    "default_flimparams",
    "distance_to_semicircle",
    "empirical_lifetime_bins",
    "empirical_lifetime_from_histogram",
    "empirical_lifetime_ns",
    "filter_phasor",
    "fit_fractions",
    "fit_lifetime_over_time",
    "fit_params_to_data",
    "fit_warnings",
    "histogram_phasor",
    "histogram_to_phasor",
    "irf_from_file",
    "lifetime_bins_from_ns",
    "lifetime_columns",
    "lifetime_ns_from_bins",
    "mean_arrival_bins",
    "mean_arrival_bins_from_histogram",
    "neuropil_mask",
    "phasor_density",
    "phasor_from_sums",
    "phasor_to_fraction",
    "phasor_to_tau_modulation",
    "phasor_to_tau_phase",
    "pixel_phasor",
    "polygon_cursor_mask",
    "reference_from_file",
    "roi_photon_moments",
    "roi_trace_table",
    "tau_offset_bins",
    "tau_to_phasor",
    "threshold_phasor",
    "universal_semicircle",
    "wrapped_mean_arrival",
]
