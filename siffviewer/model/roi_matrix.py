"""One quantity of every ROI over time, as an ``(R, T)`` matrix (Qt-free): what the heatmap,
the all-ROI traces and the peri-event averages show."""

from __future__ import annotations

import numpy as np

from .traces import Baseline, Traces, dff

QUANTITIES = {"photons": "photons", "dF/F": "dF/F", "lifetime": "lifetime (ns)"}
"""Quantity name -> its axis label (with units)."""


def roi_values(traces: Traces, quantity: str, baseline: Baseline | None = None) -> np.ndarray:
    """float64 ``(R, T)``: photons, dF/F (F0 from ``baseline``, default Baseline()) or the
    empirical lifetime in ns (NaN without photons)."""
    if quantity == "photons":
        return traces.photons.astype(np.float64)
    if quantity == "dF/F":
        f0 = (baseline or Baseline()).compute(traces.photons, traces.time_s)
        return dff(traces.photons, f0)
    if quantity == "lifetime":
        return np.asarray(traces.lifetime_ns, np.float64)
    raise ValueError(f"unknown quantity {quantity!r}: one of {', '.join(QUANTITIES)}")
