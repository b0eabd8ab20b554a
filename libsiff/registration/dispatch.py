"""The registration entry point (:func:`register_frames`) and the frame grid it takes."""

from __future__ import annotations

import numpy as np

from ..errors import SiffArgumentError, SiffFormatError
from .estimator import register_siffpy
from .progress import CancelCallback, ProgressCallback, Ticker
from .sidecar import RegistrationInfo, RegistrationType
from .suite2p_adapter import register_suite2p

__all__ = ["register_frames", "frame_grid_from_labels"]


def register_frames(io, frame_grid, alignment_color: int = 0, method="siffpy",
                    progress: ProgressCallback | None = None,
                    cancel: CancelCallback | None = None, **options) -> RegistrationInfo:
    """Register an acquisition rigidly and return a new :class:`RegistrationInfo`.

    Parameters
    ----------
    io : SiffIO
        The open file; frames are decoded with ``io.get_frames`` / ``io.sum_frames``.
    frame_grid : array_like of int, shape (T, Z, C)
        File frame of every (timepoint, plane, colour); -1 where missing. Flyback frames
        must not be in it. Planes in one row are treated as simultaneous.
    alignment_color : int
        0-based colour (index into the grid's last axis) the shifts are measured on.
    method : {"siffpy", "suite2p"}
        Estimator (see the module docstring); "caiman" raises NotImplementedError.
    progress : callable(done, total), optional
        Called after every batch with counts of decoded frames; ends with done == total.
    cancel : callable() -> bool, optional
        Polled between batches; when it returns True, :class:`SiffCancelled` is raised and
        nothing is returned (any previous registration is untouched).
    **options
        "siffpy" method, all optional:

        ``num_cycles`` (8): most reference/shift cycles; stops earlier once at most
        ``tolerance`` (0.002) of the shifts changed in a cycle.
        ``max_shift`` (``(H//4, W//4)``): largest shift searched, pixels, int or (y, x).
        ``rigid_volume`` (True): one shift per timepoint for all planes; False registers
        each plane on its own (its own gauge, as SiffPy).
        ``evidence_colors`` (None): colours whose photons vote, None = the alignment colour
        only, "all" = every colour, or a list of indices (the alignment colour is added).
        ``temporal`` ("hmm"): "hmm" pools neighbouring timepoints; "none" treats each alone.
        ``step_sigma`` (1.0) and ``jump_probability`` (0.1): starting values of the
        typical motion between consecutive timepoints (pixels) and of the probability of
        a sudden jump; both are re-estimated from the data (EM).
        ``em_iterations`` (2): EM rounds of the temporal model per cycle (one more after the
        first half of the timepoints).
        ``reference_sigma`` (1.0): Gaussian smoothing of the reference, pixels.
        ``subpixel_references`` (True): place frames at their sub-pixel estimates
        (stochastic rounding) when rebuilding references; False uses the integer shifts.
        ``coarse_cycles`` (True): start with cycles on 2x2-binned photon counts (exact
        binned likelihood for every full-resolution shift, a quarter of the FFT work)
        until at most 2 % of the shifts change in a cycle, then finish at full resolution
        (needs even H and W).
        ``batch_frames`` (256): frames decoded per batch. ``workers``: FFT threads.
        SiffPy's ``nimg_init``, ``seed_ref_count``, ``regularize_sigma``, ``tqdm``,
        ``subpx`` and ``align_z`` are accepted and ignored (``align_z`` warns).

        "suite2p" method: suite2p ops/settings (``nonrigid`` is forced off).

    Returns
    -------
    RegistrationInfo

    Notes
    -----
    Memory: the "siffpy" method keeps ``4 * T * (2*Ry + 1) * (2*Rx + 1)`` bytes of
    log-likelihood maps (T timepoints, ``max_shift = (Ry, Rx)``) plus one decoded batch;
    lower ``max_shift`` for very long single-plane recordings. ``progress`` totals assume
    every cycle runs; the total shrinks to what was done when the shifts settle early.
    """
    grid = np.asarray(frame_grid)
    if grid.ndim != 3 or grid.dtype.kind not in "iu":
        raise SiffFormatError("frame_grid must be an integer array of shape (T, Z, C)")
    grid = grid.astype(np.int64)
    n_frames = io.num_frames()
    if grid.size and (grid.max() >= n_frames or grid.min() < -1):
        raise SiffFormatError(f"frame_grid holds frames outside 0..{n_frames - 1}")
    C = grid.shape[2]
    if not 0 <= int(alignment_color) < max(C, 1):
        raise SiffFormatError(f"alignment colour {alignment_color} is not one of the grid's "
                              f"{C} colours")
    if not (grid[:, :, alignment_color] >= 0).any():
        raise SiffFormatError("no frame of the alignment colour to register")
    if isinstance(method, RegistrationType):
        method = method.value
    method = str(method).lower()
    if method == "siffpy":
        engine = register_siffpy
    elif method == "suite2p":
        engine = register_suite2p
    elif method == "caiman":
        raise NotImplementedError("registration_method='caiman' is not implemented "
                                  "(as in SiffPy); use 'siffpy' or 'suite2p'")
    else:
        raise SiffArgumentError(f"unknown registration method {method!r}: use 'siffpy' or 'suite2p'")
    ticker = Ticker(progress, cancel)
    info = engine(io, grid, int(alignment_color), ticker, dict(options))
    ticker.finish()
    return info



def frame_grid_from_labels(timepoint, plane, color, repeat=None) -> np.ndarray:
    """Build the ``(T, Z, C)`` frame grid from per-frame labels (index = file frame).

    ``plane`` is -1 for flyback frames, which are left out. With ``frames_per_slice > 1``
    pass ``repeat``; row ``timepoint * R + repeat`` then holds each repeat. Missing entries
    are -1. Raises ValueError when two frames claim the same cell."""
    t = np.asarray(timepoint, np.int64)
    z = np.asarray(plane, np.int64)
    c = np.asarray(color, np.int64)
    if repeat is not None:
        r = np.asarray(repeat, np.int64)
        keep = z >= 0
        t = np.where(keep, t * (int(r[keep].max()) + 1 if keep.any() else 1) + r, t)
    keep = z >= 0
    frames = np.flatnonzero(keep)
    if frames.size == 0:
        return np.full((0, 0, 0), -1, np.int64)
    t, z, c = t[keep], z[keep], c[keep]
    grid = np.full((int(t.max()) + 1, int(z.max()) + 1, int(c.max()) + 1), -1, np.int64)
    if np.unique(np.stack([t, z, c]), axis=1).shape[1] != frames.size:
        raise SiffArgumentError("two frames have the same (timepoint, plane, colour)")
    grid[t, z, c] = frames
    return grid

