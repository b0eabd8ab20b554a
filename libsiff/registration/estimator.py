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
from .spill import RowStore
from .subpixel import refine_subpixel
from .temporal import decide, placements

#: Coarse (binned) cycles hand over to full resolution once at most this fraction of the
#: shifts changed in a cycle; full-resolution cycles then settle to ``tolerance``.
_COARSE_TOLERANCE = 0.02


def register_siffpy(io, grid: np.ndarray, alignment_color: int, ticker: Ticker,
                    opts: dict) -> RegistrationInfo:
    """The "siffpy" method (see the package docstring): cycles of references and shifts,
    sub-pixel refinement, re-centring, the final references."""
    t_start = time.perf_counter()
    H, W = io.frame_shape()
    T, Z, C = grid.shape
    o = estimator_options(opts, H, W, C, alignment_color)
    plane_group = np.zeros(Z, np.int64) if o["rigid_volume"] else np.arange(Z)
    window = (o["max_shift"][0], o["max_shift"][1])
    n_align = int((grid[:, :, alignment_color] >= 0).sum())
    ticker.total = o["num_cycles"] * 2 * int((grid[:, :, o["evidence_colors"]] >= 0).sum()) \
        + n_align
    n_groups = int(plane_group.max()) + 1
    with RowStore(T, (n_groups, 2 * window[0] + 1, 2 * window[1] + 1)) as maps:
        shifts, subpixel, confidence, state, cycles = _run_cycles(io, grid, o, plane_group,
                                                                  maps, ticker)
        subpixel = refine_subpixel(maps, shifts, plane_group, window)
    if np.any(np.abs(shifts) >= np.array(window)):
        warnings.warn(f"some shifts reach max_shift={tuple(window)} pixels: the motion may be "
                      "larger; register again with a larger max_shift", RuntimeWarning,
                      stacklevel=3)
    _recentre(shifts, subpixel, plane_group)
    ticker.total = ticker.done + n_align
    reference, _ = registered_means(io, grid[:, :, alignment_color], shifts, ticker)
    hmm = o["temporal"] == "hmm"
    diagnostics = {
        "cycles_run": cycles[0], "coarse_cycles_run": cycles[1],
        "seconds": round(time.perf_counter() - t_start, 3),
        "jump_probability_fit": [float(state[g]["eps"]) for g in sorted(state)] if hmm else None,
        "step_sigma_fit": [float(state[g]["sigma"]) for g in sorted(state)] if hmm else None,
    }
    return build_result(io, grid, alignment_color, RegistrationType.Siffpy, shifts, subpixel,
                        confidence, reference, {**o, **diagnostics})


def _run_cycles(io, grid: np.ndarray, o: dict, plane_group: np.ndarray, maps: RowStore,
                ticker: Ticker):
    """Alternate references and shifts until the shifts settle.

    Each half of the timepoints (odd, even) is matched against a reference built from the
    other half with the latest shifts, then the temporal model re-estimates every shift
    (Gauss-Seidel order: the second half already sees the first half's update). Coarse
    cycles match 2x2-binned frames (a quarter of the FFT work) until at most
    _COARSE_TOLERANCE of the shifts change; full-resolution cycles then run until at most
    ``tolerance`` change (at least one full-resolution cycle always runs, and the last
    cycle is always at full resolution). Returns shifts, sub-pixel placements estimates,
    confidence, the temporal model's state and (cycles run, coarse cycles run)."""
    H, W = io.frame_shape()
    T, Z, _ = grid.shape
    ev = grid[:, :, o["evidence_colors"]]
    window = (o["max_shift"][0], o["max_shift"][1])
    halves = [np.arange(1, T, 2), np.arange(0, T, 2)] if T > 1 else [np.arange(T)]
    shifts = np.zeros((T, Z, 2), np.int64)
    placement = None  # None: the references are plain means (no shift applied yet)
    rng = np.random.default_rng(0)
    state: dict = {}
    cycles_run = coarse_cycles = 0
    binned = o["coarse_cycles"] and H % 2 == 0 and W % 2 == 0 and o["num_cycles"] > 1
    for cycle in range(o["num_cycles"]):
        cycles_run = cycle + 1
        previous = shifts.copy()
        for half, rows in enumerate(halves):
            others = halves[1 - half] if len(halves) == 2 else rows
            spectra = _reference_spectra(io, ev, others, placement, o, binned, ticker)
            likelihood_maps(io, ev, rows, spectra, plane_group, maps, o, ticker)
            shifts, subpixel, confidence = decide(
                maps, plane_group, window, o, state, ticker,
                o["em_iterations"] if half == len(halves) - 1 else 1)
            placement = (placements(subpixel, plane_group, rng) if o["subpixel_references"]
                         else shifts)
        changed = float(np.mean(np.any(shifts != previous, axis=-1)))
        if binned:
            coarse_cycles += 1
            if (cycle > 0 and changed <= max(o["tolerance"], _COARSE_TOLERANCE)) \
                    or cycle >= o["num_cycles"] - 2:
                binned = False
        elif cycle > 0 and changed <= o["tolerance"]:
            break
    return shifts, subpixel, confidence, state, (cycles_run, coarse_cycles)


def _reference_spectra(io, ev: np.ndarray, rows: np.ndarray, placement: np.ndarray | None,
                       o: dict, binned: bool, ticker: Ticker) -> np.ndarray:
    """Log-reference spectra per plane and evidence colour from the frames of ``rows``."""
    H, W = io.frame_shape()
    Z, Ce = ev.shape[1:]
    lam = np.zeros((Z, Ce, H, W))
    for ci in range(Ce):
        lam[:, ci], _ = registered_means(
            io, ev[rows, :, ci], None if placement is None else placement[rows], ticker)
    return log_reference_spectra(lam, o["reference_sigma"], o["workers"], binned)


def _recentre(shifts: np.ndarray, subpixel: np.ndarray, plane_group: np.ndarray) -> None:
    """Gauge: the median shift of each plane group becomes (0, 0) (in place), so the
    references sit at the sample's typical position and the data moves as little as
    possible."""
    for g in np.unique(plane_group):
        planes = plane_group == g
        centre = np.round(np.median(shifts[:, planes][:, 0], axis=0)).astype(np.int64)
        shifts[:, planes] -= centre
        subpixel[:, planes] -= centre
