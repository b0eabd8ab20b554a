"""The "siffpy" estimator: Poisson-likelihood maps, a temporal HMM, references rebuilt from
aligned frames (see the package docstring)."""

from __future__ import annotations

import time
import warnings

import numpy as np

from .frames import build_result, registered_means
from .likelihood import likelihood_maps, log_reference_spectra
from .options import estimator_options
from .progress import Ticker
from .sidecar import RegistrationInfo, RegistrationType
from .temporal import decide, placements

#: Coarse (binned) cycles hand over to full resolution once at most this fraction of the
#: shifts changed in a cycle; full-resolution cycles then settle to ``tolerance``.
_COARSE_TOLERANCE = 0.02


def register_siffpy(io, grid: np.ndarray, alignment_color: int, ticker: Ticker,
                     opts: dict) -> RegistrationInfo:
    t_start = time.perf_counter()
    H, W = io.frame_shape()
    T, Z, C = grid.shape
    o = estimator_options(opts, H, W, C, alignment_color)
    ev = grid[:, :, o["evidence_colors"]]
    Ce = ev.shape[2]
    plane_group = np.zeros(Z, np.int64) if o["rigid_volume"] else np.arange(Z)
    n_groups = int(plane_group.max()) + 1
    window = (o["max_shift"][0], o["max_shift"][1])
    n_ev = int((ev >= 0).sum())
    n_align = int((grid[:, :, alignment_color] >= 0).sum())
    ticker.total = o["num_cycles"] * 2 * n_ev + n_align

    Ry, Rx = window
    maps = np.zeros((T, n_groups, 2 * Ry + 1, 2 * Rx + 1), np.float32)
    halves = [np.arange(1, T, 2), np.arange(0, T, 2)] if T > 1 else [np.arange(T)]
    shifts = np.zeros((T, Z, 2), np.int64)
    registered = False  # False: the references are plain means (no shift applied yet)
    placement = shifts
    rng = np.random.default_rng(0)
    state: dict = {}
    cycles_run = coarse_cycles = 0
    # Coarse cycles match 2x2-binned frames (a quarter of the FFT work) until at most
    # _COARSE_TOLERANCE of the shifts change; full-resolution cycles then run until at
    # most ``tolerance`` change (at least one full-resolution cycle always runs).
    binned = o["coarse_cycles"] and H % 2 == 0 and W % 2 == 0 and o["num_cycles"] > 1
    # Each half of the timepoints (odd, even) is matched against a reference built from
    # the other half with the latest shifts, then the temporal model re-estimates every
    # shift (Gauss-Seidel order: the second half already sees the first half's update).
    for cycle in range(o["num_cycles"]):
        cycles_run = cycle + 1
        previous = shifts.copy()
        for half, rows in enumerate(halves):
            others = halves[1 - half] if len(halves) == 2 else rows
            lam = np.zeros((Z, Ce, H, W))
            for ci in range(Ce):
                lam[:, ci], _ = registered_means(
                    io, ev[others, :, ci], placement[others] if registered else None, ticker)
            spectra = log_reference_spectra(lam, o["reference_sigma"], o["workers"], binned)
            del lam
            likelihood_maps(io, ev, rows, spectra, plane_group, maps, o, ticker)
            shifts, subpixel, confidence = decide(
                maps, plane_group, window, o, state, ticker,
                o["em_iterations"] if half == len(halves) - 1 else 1)
            placement = (placements(subpixel, plane_group, rng) if o["subpixel_references"]
                         else shifts)
            registered = True
        changed = float(np.mean(np.any(shifts != previous, axis=-1)))
        settled = cycle > 0 and changed <= o["tolerance"]
        if binned:
            coarse_cycles += 1
            if (cycle > 0 and changed <= max(o["tolerance"], _COARSE_TOLERANCE)) \
                    or cycle >= o["num_cycles"] - 2:
                binned = False
        elif settled:
            break
    if np.any(np.abs(shifts) >= np.array(window)):
        warnings.warn(f"some shifts reach max_shift={tuple(window)} pixels: the motion may be "
                      "larger; register again with a larger max_shift", RuntimeWarning,
                      stacklevel=3)
    # Gauge: the median shift becomes (0, 0), so the references sit at the sample's
    # typical position and the data moves as little as possible.
    for g in range(n_groups):
        planes = plane_group == g
        centre = np.round(np.median(shifts[:, planes][:, 0], axis=0)).astype(np.int64)
        shifts[:, planes] -= centre
        subpixel[:, planes] -= centre
    ticker.total = ticker.done + n_align
    reference, _ = registered_means(io, grid[:, :, alignment_color], shifts, ticker)
    diagnostics = {
        "cycles_run": cycles_run, "coarse_cycles_run": coarse_cycles,
        "seconds": round(time.perf_counter() - t_start, 3),
        "jump_probability_fit": [float(state[g]["eps"]) for g in sorted(state)]
        if o["temporal"] == "hmm" else None,
        "step_sigma_fit": [float(state[g]["sigma"]) for g in sorted(state)]
        if o["temporal"] == "hmm" else None,
    }
    return build_result(io, grid, alignment_color, RegistrationType.Siffpy, shifts, subpixel,
                   confidence, reference, {**o, **diagnostics})

