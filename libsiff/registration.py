"""Rigid motion registration of .siff acquisitions: shifts, references, sidecar files.

:func:`register_frames` finds one integer ``(dy, dx)`` per frame so that
``np.roll(frame, (dy, dx), axis=(0, 1))`` lines the frame up with its plane's reference
image, which is the convention :meth:`SiffIO.get_frames` applies photon by photon. It
returns a :class:`RegistrationInfo`; :meth:`RegistrationInfo.save` and
:func:`load_saved_registration` keep it next to the acquisition.

The ``"siffpy"`` method (the default, no extra dependency) keeps SiffPy's outline -- a
reference per plane, per-frame rigid shifts, iterations that rebuild the references from
aligned frames -- but replaces its estimator, which a literal port showed to be several
pixels off on sparse photon data (docs/compatibility.md §8a decision 12):

* **Poisson likelihood instead of phase correlation.** For photon counts ``n`` and a
  reference ``lam`` (expected photons per pixel), the log-likelihood of a shift ``d`` is
  ``sum_p n[p] * log(lam[p + d])`` plus a constant, i.e. a cross-correlation of the counts
  with ``log(lam)``. It is computed for every shift at once with real FFTs (float32,
  ``scipy.fft`` with several workers). Phase correlation whitens the spectrum and so gives
  shot-noise-dominated high frequencies full weight; the likelihood weighs each photon by
  what it says.
* **Evidence pooled where the physics says it is shared.** The planes of one volume are
  acquired milliseconds apart and by default share one shift (``rigid_volume=True``): their
  log-likelihood maps are added (in the Fourier domain, so one inverse FFT per volume).
  Colour channels share shifts exactly: every colour of a plane and timepoint gets the
  shift, and extra colours can also vote (``evidence_colors="all"``; by default only the
  alignment colour does, as in SiffPy, since another channel may hold structure that does
  not move with the sample). Over time, a hidden Markov model (states: integer shifts in
  a ``max_shift`` window; transitions: a Gaussian step of ``sigma`` pixels per timepoint,
  or with probability ``eps`` a jump to where the sample has been) combines neighbouring
  timepoints. ``eps``, ``sigma`` and the jump targets are re-estimated by EM, so fast
  jitter switches the temporal prior off by itself (``eps`` near 1) while slow drift and
  sudden jumps keep it. The shift of a timepoint is its posterior mode; the posterior
  probability of that shift is kept as ``confidence``.
* **References rebuilt from aligned frames**, each cycle, with the decoder's own
  registered sum (photons moved, never resampled), split by timepoint parity: odd
  timepoints are matched against the reference made of even ones, the shifts are updated,
  then even timepoints are matched against a reference rebuilt from the updated odd ones.
  A frame therefore never votes for its own current position (with sparse photons that
  bias is as large as the evidence itself). Frames are placed for the references at their sub-pixel
  estimate, rounded stochastically around a lattice-centred mean (see
  :func:`_placements`), which keeps references sharp when the data sit half-way between
  two integer shifts. Cycles stop when at most ``tolerance`` of the shifts change.
  Finally the shifts are re-centred so that their median is (0, 0): the references sit at
  the sample's typical position and the data moves as little as possible.

Sub-pixel estimates (the local posterior mean around the chosen shift) are
kept in :attr:`RegistrationInfo.subpixel_shifts` for display; the decoder applies the
integer shifts, since photons are moved, never resampled.

The ``"suite2p"`` method runs suite2p's rigid registration, plane by plane, on the same
decoded frames (``pip install siffviewer[suite2p]``).
"""

from __future__ import annotations

import enum
import inspect
import json
import os
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from .atomic import atomic_open
from .errors import SiffCancelled, SiffError, SiffFormatError

__all__ = [
    "RegistrationType", "RegistrationInfo", "register_frames", "frame_grid_from_labels",
    "default_registration_path", "load_saved_registration", "file_fingerprint",
    "REGISTRATION_SUFFIX", "FORMAT_VERSION",
]

#: Suffix of the sidecar file written next to an acquisition: ``<stem>.siffreg.npz``.
REGISTRATION_SUFFIX = ".siffreg.npz"
#: Version of the sidecar layout (see :meth:`RegistrationInfo.save`).
FORMAT_VERSION = 1
_FORMAT_NAME = "libsiff-registration"

#: SiffPy keyword arguments accepted for compatibility and ignored by the "siffpy" method
#: (its estimator has no such knobs; ``align_z`` warns, as in SiffPy).
_SIFFPY_IGNORED = ("nimg_init", "seed_ref_count", "regularize_sigma", "tqdm", "subpx",
                   "nowarn", "discard_bins", "align_z")

ProgressCallback = Callable[[int, int], None]
CancelCallback = Callable[[], bool]


class RegistrationType(enum.Enum):
    """Registration method; members print like SiffPy's (``RegistrationType.Siffpy``)."""

    Siffpy = "siffpy"
    Suite2p = "suite2p"
    Caiman = "caiman"
    Average = "average"
    Other = "other"


# ----------------------------------------------------------------------------- the result

def _signed(values: np.ndarray, size: int) -> np.ndarray:
    """Shifts modulo ``size`` mapped to ``[-size//2, size - size//2)``."""
    return (np.asarray(values, np.int64) + size // 2) % size - size // 2


class RegistrationInfo:
    """Shifts and references of one registration (SiffPy-compatible attributes).

    Attributes
    ----------
    yx_shifts : dict[int, tuple[int, int]]
        ``{file frame: (dy, dx)}`` for every frame of every colour of the registered
        planes, values reduced modulo ``(H, W)`` (non-negative, as SiffPy stores them).
        Applied as ``np.roll(frame, (dy, dx), axis=(0, 1))``.
    reference_frames : ndarray or None
        float32 ``(Z, H, W)``: per plane, the mean registered frame of the alignment colour
        (photons per pixel per frame); squeezed to ``(H, W)`` for a single plane, as SiffPy.
    registration_color_channel : int
        0-based colour the shifts were measured on.
    registration_type : RegistrationType
    filename : str
        The acquisition's path.
    frame_grid : ndarray or None
        int64 ``(T, Z, C)``: file frame of (timepoint, plane, colour), -1 where missing.
    shifts : ndarray or None
        int64 ``(T, Z, 2)``: signed integer shifts in pixels, ``(dy, dx)``.
    subpixel_shifts : ndarray or None
        float64 ``(T, Z, 2)``: signed sub-pixel estimates in pixels (display only).
    confidence : ndarray or None
        float64 ``(T, Z)``: posterior probability of the chosen integer shift (0..1).
    n_frames, frame_shape, fingerprint
        The file this registration belongs to (see :func:`file_fingerprint`).
    options : dict
        Method parameters and diagnostics (JSON-serialisable); for "siffpy": ``cycles_run``,
        ``coarse_cycles_run``, ``seconds``, ``jump_probability_fit``, ``step_sigma_fit``.
    """

    def __init__(self, *, registration_type: RegistrationType | str, filename,
                 yx_shifts: dict, reference_frames: np.ndarray | None = None,
                 registration_color_channel: int = 0, frame_grid: np.ndarray | None = None,
                 shifts: np.ndarray | None = None, subpixel_shifts: np.ndarray | None = None,
                 confidence: np.ndarray | None = None, n_frames: int | None = None,
                 frame_shape: tuple[int, int] | None = None, fingerprint: dict | None = None,
                 options: dict | None = None):
        self.registration_type = RegistrationType(registration_type)
        self.filename = str(filename)
        self.yx_shifts = {int(k): (int(v[0]), int(v[1])) for k, v in yx_shifts.items()}
        self.reference_frames = reference_frames
        self.registration_color_channel = int(registration_color_channel)
        self.frame_grid = frame_grid
        self.shifts = shifts
        self.subpixel_shifts = subpixel_shifts
        self.confidence = confidence
        self.n_frames = None if n_frames is None else int(n_frames)
        self.frame_shape = None if frame_shape is None else (int(frame_shape[0]),
                                                             int(frame_shape[1]))
        self.fingerprint = dict(fingerprint or {})
        self.options = dict(options or {})
        self.im_params = None  # set by SiffReader, as SiffPy's attribute

    def __str__(self) -> str:
        return f"{self.registration_type} RegistrationInfo for {self.filename}"

    def __repr__(self) -> str:
        return (f"<RegistrationInfo {self.registration_type.value} {self.filename!r}: "
                f"{len(self.yx_shifts)} frames>")

    def __getitem__(self, frame: int) -> tuple[int, int]:
        return self.yx_shifts[frame]

    @property
    def registration_dict(self) -> dict[int, tuple[int, int]]:
        """The shift dictionary (the same object as :attr:`yx_shifts`)."""
        return self.yx_shifts

    # ---- persistence ----
    def mismatch(self, n_frames: int, frame_shape: tuple[int, int],
                 fingerprint: dict | None = None) -> str | None:
        """Why this registration does not belong to a file, or None when it does.

        Compares the frame count, the frame shape (pixels), every fingerprint entry known on
        both sides, and checks that every shifted frame exists in the file."""
        if self.n_frames is not None and self.n_frames != int(n_frames):
            return f"it was made for {self.n_frames} frames, the file has {int(n_frames)}"
        shape = (int(frame_shape[0]), int(frame_shape[1]))
        if self.frame_shape is not None and self.frame_shape != shape:
            return f"it was made for {self.frame_shape[0]}x{self.frame_shape[1]} frames, " \
                   f"the file's are {shape[0]}x{shape[1]}"
        for key, value in (fingerprint or {}).items():
            mine = self.fingerprint.get(key)
            if mine is not None and value is not None and mine != value:
                return f"the file's {key} changed ({mine} then, {value} now)"
        if self.yx_shifts and max(self.yx_shifts) >= int(n_frames):
            return f"it shifts frame {max(self.yx_shifts)}, the file has {int(n_frames)} frames"
        return None

    def save(self, path=None) -> Path:
        """Write the registration atomically and return the path written.

        ``path`` defaults to :func:`default_registration_path` of :attr:`filename`. The file is
        an uncompressed NumPy ``.npz`` (no pickles) with

        * ``meta``: a JSON string: ``format`` ("libsiff-registration"), ``format_version``,
          ``registration_type`` (value, e.g. "siffpy"), ``registration_color_channel``,
          ``filename``, ``n_frames``, ``frame_shape`` [H, W], ``fingerprint`` (``size`` in
          bytes, ``first_epoch``/``last_epoch`` in ns), ``options``, ``created`` (ISO time);
        * ``frame_index`` int64 (N,) and ``shift_values`` int64 (N, 2): :attr:`yx_shifts`
          (non-negative values, as SiffPy's HDF5 ``yx_shifts`` group);
        * optional ``reference_frames`` float32, ``frame_grid`` int64 (T, Z, C), ``shifts``
          int64 (T, Z, 2), ``subpixel_shifts`` float64 (T, Z, 2), ``confidence`` (T, Z).

        The data go to a temporary file in the same folder, which then replaces ``path`` with
        ``os.replace``: readers see the old file or the new one, never half of one.
        """
        path = Path(path) if path is not None else default_registration_path(self.filename)
        frames = np.fromiter(self.yx_shifts.keys(), np.int64, len(self.yx_shifts))
        values = np.array(list(self.yx_shifts.values()), np.int64).reshape(-1, 2)
        meta = {
            "format": _FORMAT_NAME, "format_version": FORMAT_VERSION,
            "registration_type": self.registration_type.value,
            "registration_color_channel": self.registration_color_channel,
            "filename": self.filename, "n_frames": self.n_frames,
            "frame_shape": list(self.frame_shape) if self.frame_shape else None,
            "fingerprint": self.fingerprint, "options": self.options,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        arrays = {"meta": np.array(json.dumps(meta)), "frame_index": frames,
                  "shift_values": values}
        for name in ("reference_frames", "frame_grid", "shifts", "subpixel_shifts",
                     "confidence"):
            value = getattr(self, name)
            if value is not None:
                arrays[name] = np.asarray(value)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "wb") as f:
            np.savez(f, **arrays)
        return path

    @classmethod
    def load(cls, path) -> RegistrationInfo:
        """Read a file written by :meth:`save`. Raises SiffFormatError when it is not one."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"][()]))
                if meta.get("format") != _FORMAT_NAME:
                    raise SiffFormatError(f"{path}: not a libsiff registration file")
                if int(meta.get("format_version", 0)) > FORMAT_VERSION:
                    raise SiffFormatError(
                        f"{path}: registration format {meta['format_version']} is newer than "
                        f"this libsiff understands ({FORMAT_VERSION})")
                frames = data["frame_index"]
                values = data["shift_values"].reshape(-1, 2)
                if frames.shape[0] != values.shape[0]:
                    raise SiffFormatError(f"{path}: frame_index and shift_values differ in length")
                optional = {name: data[name] for name in
                            ("reference_frames", "frame_grid", "shifts", "subpixel_shifts",
                             "confidence") if name in data.files}
            shape = meta.get("frame_shape")
            return cls(registration_type=meta["registration_type"], filename=meta["filename"],
                       yx_shifts=dict(zip(frames.tolist(), map(tuple, values.tolist()))),
                       registration_color_channel=meta.get("registration_color_channel", 0),
                       n_frames=meta.get("n_frames"),
                       frame_shape=tuple(shape) if shape else None,
                       fingerprint=meta.get("fingerprint"), options=meta.get("options"),
                       **optional)
        except SiffFormatError:
            raise
        except (OSError, ValueError, KeyError, TypeError, AttributeError,
                json.JSONDecodeError) as exc:
            raise SiffFormatError(f"{path}: unreadable registration file ({exc})") from exc


def default_registration_path(siff_path) -> Path:
    """Where a registration is saved: ``<folder>/<stem>.siffreg.npz`` next to the file.

    SiffPy writes HDF5 into a folder named after the file (``<stem>/<stem>_registration_info.h5``,
    docs/compatibility.md §4.4); libsiff keeps one dependency-free file beside the acquisition instead."""
    p = Path(siff_path)
    return p.with_name(p.stem + REGISTRATION_SUFFIX)


def file_fingerprint(siff_path, io=None) -> dict:
    """What identifies an acquisition's contents cheaply: size and first/last frame epochs.

    Returns ``{"size": bytes, "first_epoch": ns or None, "last_epoch": ns or None}``; the
    epochs (laser clock, ns since the Unix epoch) need an open ``io`` and a ScanImage frame
    description, and are None otherwise."""
    out = {"size": int(os.stat(siff_path).st_size), "first_epoch": None, "last_epoch": None}
    if io is not None and io.num_frames() > 0:
        try:
            ends = io.get_epoch_timestamps_laser([0, io.num_frames() - 1])
            out["first_epoch"], out["last_epoch"] = int(ends[0]), int(ends[1])
        except SiffError:
            pass
    return out


def load_saved_registration(siff_path, n_frames: int, frame_shape: tuple[int, int], *,
                            io=None, path=None) -> RegistrationInfo | None:
    """The registration saved next to ``siff_path``, or None.

    Returns None silently when there is no file; warns (``UserWarning``) and returns None
    when the file is unreadable or belongs to another acquisition (frame count, frame shape
    in pixels, file size or, with ``io``, first/last frame epochs differ)."""
    reg_path = Path(path) if path is not None else default_registration_path(siff_path)
    if not reg_path.exists():
        return None
    try:
        info = RegistrationInfo.load(reg_path)
    except SiffFormatError as exc:
        warnings.warn(f"ignoring saved registration: {exc}", UserWarning, stacklevel=2)
        return None
    why = info.mismatch(n_frames, frame_shape, file_fingerprint(siff_path, io))
    if why is not None:
        warnings.warn(f"ignoring stale registration {reg_path}: {why}", UserWarning,
                      stacklevel=2)
        return None
    info.filename = str(siff_path)
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
        raise ValueError("two frames have the same (timepoint, plane, colour)")
    grid[t, z, c] = frames
    return grid


# ----------------------------------------------------------------------------- entry point

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
        engine = _register_siffpy
    elif method == "suite2p":
        engine = _register_suite2p
    elif method == "caiman":
        raise NotImplementedError("registration_method='caiman' is not implemented "
                                  "(as in SiffPy); use 'siffpy' or 'suite2p'")
    else:
        raise ValueError(f"unknown registration method {method!r}: use 'siffpy' or 'suite2p'")
    ticker = _Ticker(progress, cancel)
    info = engine(io, grid, int(alignment_color), ticker, dict(options))
    ticker.finish()
    return info


class _Ticker:
    """Progress and cancellation bookkeeping (units: decoded frames)."""

    def __init__(self, progress, cancel):
        self.progress, self.cancel = progress, cancel
        self.done, self.total = 0, 0

    def check(self) -> None:
        if self.cancel is not None and self.cancel():
            raise SiffCancelled("registration cancelled")

    def add(self, n: int) -> None:
        self.done = min(self.done + int(n), self.total)
        if self.progress is not None:
            self.progress(self.done, self.total)

    def finish(self) -> None:
        self.done = self.total
        if self.progress is not None:
            self.progress(self.total, self.total)


def _result(io, grid, alignment_color, rtype, shifts, subpixel, confidence, reference,
            options) -> RegistrationInfo:
    """Assemble a RegistrationInfo: shifts (T, Z, 2) signed ints apply to every colour."""
    H, W = io.frame_shape()
    valid = grid >= 0
    t, z, _ = np.nonzero(valid)
    frames = grid[valid]
    dy = (shifts[t, z, 0] % H).tolist()
    dx = (shifts[t, z, 1] % W).tolist()
    yx = dict(zip(frames.tolist(), zip(dy, dx)))
    ref = np.asarray(reference, np.float32)
    return RegistrationInfo(
        registration_type=rtype, filename=io.filename, yx_shifts=yx,
        reference_frames=ref.squeeze() if ref.shape[0] == 1 else ref,
        registration_color_channel=alignment_color, frame_grid=grid,
        shifts=shifts.astype(np.int64), subpixel_shifts=subpixel.astype(np.float64),
        confidence=None if confidence is None else confidence.astype(np.float64),
        n_frames=io.num_frames(), frame_shape=(H, W),
        fingerprint=file_fingerprint(io.filename, io), options=options)


def _registered_means(io, grid_zc: np.ndarray, shifts: np.ndarray | None,
                      ticker: _Ticker) -> tuple[np.ndarray, np.ndarray]:
    """Mean registered frame per plane, float64 (Z, H, W), and frames used per plane.

    ``grid_zc`` is (T, Z) file frames of one colour; shifts (T, Z, 2) or None."""
    H, W = io.frame_shape()
    Z = grid_zc.shape[1]
    out = np.zeros((Z, H, W))
    counts = np.zeros(Z, np.int64)
    for z in range(Z):
        ticker.check()
        rows = np.flatnonzero(grid_zc[:, z] >= 0)
        if rows.size == 0:
            continue
        frames = grid_zc[rows, z]
        reg = None
        if shifts is not None:
            s = shifts[rows, z]
            reg = dict(zip(frames.tolist(), zip(s[:, 0].tolist(), s[:, 1].tolist())))
        out[z] = io.sum_frames(frames, registration=reg) / rows.size
        counts[z] = rows.size
        ticker.add(rows.size)
    return out, counts


# ----------------------------------------------------------------------------- "siffpy"

def _options(opts: dict, H: int, W: int, C: int, alignment_color: int) -> dict:
    for name in _SIFFPY_IGNORED:
        if name in opts:
            value = opts.pop(name)
            if name == "align_z" and value:
                warnings.warn("align_z is ignored: planes are registered together "
                              "(rigid_volume=True) or independently", UserWarning, stacklevel=4)
    max_shift = opts.pop("max_shift", None)
    if max_shift is None:
        max_shift = (H // 4, W // 4)
    elif np.isscalar(max_shift):
        max_shift = (int(max_shift), int(max_shift))
    max_shift = (max(0, min(int(max_shift[0]), (H - 1) // 2)),
                 max(0, min(int(max_shift[1]), (W - 1) // 2)))
    colors = opts.pop("evidence_colors", None)
    if colors is None:
        colors = [alignment_color]
    elif isinstance(colors, str):
        if colors != "all":
            raise ValueError("evidence_colors must be None, 'all' or a list of colour indices")
        colors = list(range(C))
    else:
        colors = sorted({int(c) for c in colors} | {alignment_color})
        if min(colors) < 0 or max(colors) >= C:
            raise ValueError(f"evidence_colors must lie in 0..{C - 1}")
    out = {
        "num_cycles": max(1, int(opts.pop("num_cycles", 8))),
        "tolerance": float(opts.pop("tolerance", 0.002)),
        "max_shift": list(max_shift),
        "rigid_volume": bool(opts.pop("rigid_volume", True)),
        "evidence_colors": colors,
        "temporal": str(opts.pop("temporal", "hmm")),
        "step_sigma": float(opts.pop("step_sigma", 1.0)),
        "jump_probability": float(opts.pop("jump_probability", 0.1)),
        "em_iterations": max(1, int(opts.pop("em_iterations", 2))),
        "reference_sigma": float(opts.pop("reference_sigma", 1.0)),
        "subpixel_references": bool(opts.pop("subpixel_references", True)),
        "coarse_cycles": bool(opts.pop("coarse_cycles", True)),
        "batch_frames": max(1, int(opts.pop("batch_frames", 256))),
        "workers": max(1, int(opts.pop("workers", os.cpu_count() or 1))),
    }
    if out["temporal"] not in ("hmm", "none"):
        raise ValueError("temporal must be 'hmm' or 'none'")
    if not 0.0 < out["jump_probability"] < 1.0:
        raise ValueError("jump_probability must lie strictly between 0 and 1")
    if opts:
        raise TypeError(f"unknown option(s) for registration_method='siffpy': "
                        f"{', '.join(sorted(opts))}")
    return out


_PHASES = ((0, 0), (0, 1), (1, 0), (1, 1))
#: Coarse (binned) cycles hand over to full resolution once at most this fraction of the
#: shifts changed in a cycle; full-resolution cycles then settle to ``tolerance``.
_COARSE_TOLERANCE = 0.02


def _log_reference_spectra(lam: np.ndarray, sigma: float, workers: int,
                           binned: bool = False) -> np.ndarray:
    """rfft2 of the zero-mean log of smoothed references (Z, Ce, H, W) -> complex64.

    Full resolution: (Z, Ce, H, W//2+1). ``binned``: (Z, Ce, 4, H/2, W/4+1), the log of the
    reference rolled by ``-(ay, ax)`` for each phase of :data:`_PHASES` and averaged over
    2x2 blocks, i.e. the expected photons of a 2x2-binned frame whose full-resolution shift
    is ``2 * e + (ay, ax)``. The floor (5 % of the image mean) keeps pixels without photons
    in the reference finite and limits the weight of a stray photon in a dark region."""
    from scipy import fft as sfft  # imported on use: opening a file needs no scipy
    from scipy.ndimage import gaussian_filter
    axes_sigma = (0,) * (lam.ndim - 2) + (sigma, sigma)
    smooth = gaussian_filter(lam, axes_sigma, mode="wrap") if sigma > 0 else lam
    if binned:
        H, W = smooth.shape[-2:]
        smooth = np.stack([
            np.roll(smooth, (-ay, -ax), axis=(-2, -1))
            .reshape(*smooth.shape[:-2], H // 2, 2, W // 2, 2).mean(axis=(-3, -1))
            for ay, ax in _PHASES], axis=-3)
    # One floor and one offset per reference: per-phase constants would add a
    # phase-dependent multiple of the photon count, a 2-pixel ripple, to the maps.
    axes = (-3, -2, -1) if binned else (-2, -1)
    mean = smooth.mean(axis=axes, keepdims=True)
    g = np.log(smooth + 0.05 * mean + 1e-12)
    g -= g.mean(axis=axes, keepdims=True)
    return sfft.rfft2(g.astype(np.float32), workers=workers)


def _likelihood_maps(io, ev: np.ndarray, rows: np.ndarray, spectra: np.ndarray,
                     plane_group: np.ndarray, maps: np.ndarray, opts: dict,
                     ticker: _Ticker) -> None:
    """Fill ``maps[rows]`` with the log-likelihood of every shift in the window, in nats.

    ``ev`` (T, Z, Ce) evidence frames; ``spectra`` from :func:`_log_reference_spectra`;
    ``maps`` float32 (T, G, 2Ry+1, 2Rx+1). Entry ``[t, g, Ry + dy, Rx + dx]`` is
    ``sum_p n_t[p] log lam[p + (dy, dx)]`` summed over the frames of plane group g at
    timepoint t, i.e. the log-likelihood that ``np.roll(frame, (dy, dx))`` matches the
    reference (up to a constant); 0 where the group has no frame. The sum over planes and
    colours is taken in the Fourier domain: one inverse FFT per timepoint and group.

    With binned spectra the frames are summed over 2x2 blocks first (a quarter of the
    forward FFT work) and the map is the exact likelihood of the binned counts, for every
    full-resolution shift: the shift ``2 * e + a`` is read from phase a's correlation at
    binned shift e."""
    from scipy import fft as sfft  # imported on use: opening a file needs no scipy
    H, W = io.frame_shape()
    Z, Ce = ev.shape[1:]
    binned = spectra.ndim == 5
    n_groups = maps.shape[1]
    Ry, Rx = maps.shape[2] // 2, maps.shape[3] // 2
    iy = np.arange(-Ry, Ry + 1) % H
    ix = np.arange(-Rx, Rx + 1) % W
    step = max(1, opts["batch_frames"] // (Z * Ce))
    workers = opts["workers"]
    for r0 in range(0, rows.size, step):
        ticker.check()
        batch_rows = rows[r0:r0 + step]
        sub = ev[batch_rows]
        valid = sub >= 0
        if not valid.any():
            continue
        frames = sub[valid]
        counts = io.get_frames(frames).astype(np.float32)
        if binned:
            counts = counts[:, 0::2] + counts[:, 1::2]
            counts = counts[:, :, 0::2] + counts[:, :, 1::2]
        F = sfft.rfft2(counts, workers=workers)
        del counts
        if valid.all():
            F = F.reshape(*sub.shape, *F.shape[1:])
        else:
            dense = np.zeros((*sub.shape, *F.shape[1:]), F.dtype)
            dense[valid] = F
            F = dense
        acc = np.zeros((sub.shape[0], n_groups, *spectra.shape[2:]), F.dtype)
        for z in range(Z):
            for c in range(Ce):
                if valid[:, z, c].any():
                    term = np.conjugate(F[:, z, c])
                    acc[:, plane_group[z]] += term[:, None] * spectra[z, c] if binned \
                        else term * spectra[z, c]
        del F
        if binned:
            parts = sfft.irfft2(acc, s=(H // 2, W // 2), workers=workers)
            full = np.empty((sub.shape[0], n_groups, H, W), np.float32)
            for k, (ay, ax) in enumerate(_PHASES):
                full[:, :, ay::2, ax::2] = parts[:, :, k]
        else:
            full = sfft.irfft2(acc, s=(H, W), workers=workers)
        has = valid.reshape(sub.shape[0], Z, Ce).any(axis=2)
        for g in range(n_groups):
            sel = has[:, plane_group == g].any(axis=1)
            maps[batch_rows[sel], g] = full[sel, g][:, iy][:, :, ix]
        ticker.add(frames.size)


def _transition_matrices(sigma: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian step matrix ``M[i, j] = K(i - j)`` (n x n, zero beyond 3 sigma) and ``M * d**2``.

    K is normalised on the infinite line, so mass that would leave the window is lost."""
    radius = max(1, int(np.ceil(3 * sigma)))
    steps = np.arange(-radius, radius + 1)
    k = np.exp(-0.5 * (steps / sigma) ** 2)
    k /= k.sum()
    d = np.arange(n)[:, None] - np.arange(n)[None, :]
    m = np.where(np.abs(d) <= radius, k[np.clip(d + radius, 0, 2 * radius)], 0.0)
    return m.astype(np.float32), (m * d ** 2).astype(np.float32)


def _hmm(maps: np.ndarray, opts: dict, state: dict,
         iterations: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior-mode shifts of one group's log-likelihood maps (T, Ny, Nx).

    Hidden state: the integer shift (a window cell). Transition from d' to d:
    ``(1 - eps) * K(d - d') + eps * pi(d)``, K a Gaussian step of ``sigma`` pixels, pi the
    occupancy of the states (a jump lands where the sample has been). ``eps``, ``sigma``
    and pi are refined by EM (exact expectations from forward-backward) and carried between
    cycles in ``state``, with the box of states worth searching (the visited range plus a
    margin; it grows when a mode reaches its edge). Returns window indices (T, 2),
    sub-pixel offsets (T, 2) (local posterior mean, :func:`_local_mean`), and the
    posterior probability of each mode (T,)."""
    T, Ny, Nx = maps.shape
    box = state.get("box")
    if box is None:
        peaks = maps.reshape(T, -1).argmax(axis=1)
        box = _grow_box((0, Ny, 0, Nx), np.stack(np.divmod(peaks, Nx), 1), 3, (Ny, Nx))
    while True:
        y0, y1, x0, x1 = box
        modes, sub, conf = _hmm_box(maps[:, y0:y1, x0:x1], opts, state, box, (Ny, Nx),
                                    iterations)
        modes += (y0, x0)
        margin = max(3, int(np.ceil(3 * state["sigma"])))
        new_box = _grow_box(box, modes, margin, (Ny, Nx))
        touching = ((modes[:, 0] == y0) & (y0 > 0)) | ((modes[:, 0] == y1 - 1) & (y1 < Ny)) | \
                   ((modes[:, 1] == x0) & (x0 > 0)) | ((modes[:, 1] == x1 - 1) & (x1 < Nx))
        if not touching.any():
            state["box"] = new_box
            return modes, sub, conf
        box = (min(new_box[0], y0), max(new_box[1], y1), min(new_box[2], x0),
               max(new_box[3], x1))


def _grow_box(box, points: np.ndarray, margin: int, shape) -> tuple[int, int, int, int]:
    """Bounding box (y0, y1, x0, x1) of ``points`` plus ``margin``, clipped to ``shape``."""
    lo = points.min(axis=0) - margin
    hi = points.max(axis=0) + margin + 1
    return (max(0, int(lo[0])), min(shape[0], int(hi[0])),
            max(0, int(lo[1])), min(shape[1], int(hi[1])))


def _hmm_box(maps: np.ndarray, opts: dict, state: dict, box, full_shape, iterations: int):
    """Forward-backward with EM on a box of states; see :func:`_hmm`."""
    from scipy.ndimage import gaussian_filter
    T, Ny, Nx = maps.shape
    y0, y1, x0, x1 = box
    emis = maps - maps.max(axis=(1, 2), keepdims=True)
    np.exp(emis, out=emis)
    pi_full = state.get("pi")
    if pi_full is None:
        pi_full = np.ones(full_shape, np.float32)
    pi = pi_full[y0:y1, x0:x1]
    pi = (pi / pi.sum()).astype(np.float32)
    eps = state.get("eps", opts["jump_probability"])
    sigma = state.get("sigma", opts["step_sigma"])
    alpha = np.empty_like(emis)
    for _ in range(iterations):
        my, my2 = _transition_matrices(sigma, Ny)
        mx, mx2 = _transition_matrices(sigma, Nx)
        mxt, mx2t = mx.T.copy(), mx2.T.copy()
        a = pi * emis[0]
        alpha[0] = a / a.sum()
        jump_prior = eps * pi
        for t in range(1, T):
            a = my @ alpha[t - 1] @ mxt
            a *= 1.0 - eps
            a += jump_prior
            a *= emis[t]
            alpha[t] = a / a.sum()
        b = np.ones((Ny, Nx), np.float32)
        flat_modes = np.empty(T, np.int64)
        conf = np.empty(T)
        around = np.empty((T, 5))  # posterior at the mode and its 4 neighbours
        occupancy = np.zeros((Ny, Nx))
        resp = np.zeros(max(T - 1, 1))
        step_sq = np.zeros(max(T - 1, 1))
        for t in range(T - 1, -1, -1):
            g = alpha[t] * b
            g /= g.sum()
            occupancy += g
            i = int(np.argmax(g))
            flat_modes[t] = i
            y, x = divmod(i, Nx)
            around[t] = (g[y, x], g[y - 1, x] if y > 0 else 0.0,
                         g[y + 1, x] if y < Ny - 1 else 0.0, g[y, x - 1] if x > 0 else 0.0,
                         g[y, x + 1] if x < Nx - 1 else 0.0)
            if t == 0:
                break
            eb = emis[t] * b
            ky = my @ eb
            local = ky @ mxt
            moved = ky @ mx2t + (my2 @ eb) @ mxt
            prev = alpha[t - 1]
            stay = float(np.vdot(prev, local))
            jump = eps * float(np.vdot(pi, eb))
            resp[t - 1] = jump / max(jump + (1.0 - eps) * stay, 1e-300)
            step_sq[t - 1] = float(np.vdot(prev, moved)) / max(stay, 1e-300)
            b = (1.0 - eps) * local + jump
            b /= b.max()
        conf[:] = around[:, 0]
        if T > 1:
            eps = float(np.clip(resp.mean(), 1e-4, 1 - 1e-3))
            w = 1.0 - resp
            sigma = float(np.clip(np.sqrt((w * step_sq).sum() / max(2 * w.sum(), 1e-12)),
                                  0.15, 4.0))
        occ = np.zeros(full_shape)
        occ[y0:y1, x0:x1] = occupancy / T
        occ = gaussian_filter(occ, 1.0, mode="constant")
        pi_full = (0.999 * occ / occ.sum() + 0.001 / occ.size).astype(np.float32)
        pi = pi_full[y0:y1, x0:x1] / pi_full[y0:y1, x0:x1].sum()
    state["eps"], state["pi"], state["sigma"] = eps, pi_full, sigma
    modes = np.stack(np.divmod(flat_modes, Nx), axis=1)
    sub = np.stack([_local_mean(around[:, 1], around[:, 0], around[:, 2]),
                    _local_mean(around[:, 3], around[:, 0], around[:, 4])], axis=1)
    return modes, sub, conf


def _local_mean(lo: np.ndarray, mid: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Posterior-mean offset (pixels, within ±0.5) from probabilities at -1, 0 (mode), +1.

    A confident posterior gives exactly 0; one split between two shifts gives the point
    between them. (A parabola through the log-posterior is not used: at high photon
    counts the log-likelihood is far from quadratic on a 1-pixel scale and its vertex
    wanders by tenths of a pixel on integer motion.)"""
    total = lo + mid + hi
    with np.errstate(invalid="ignore", divide="ignore"):
        off = np.where(total > 0, (hi - lo) / total, 0.0)
    return np.nan_to_num(off)


def _independent(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-timepoint maximum-likelihood shifts (no temporal pooling), as :func:`_hmm`."""
    T, Ny, Nx = maps.shape
    flat = maps.reshape(T, -1).astype(np.float64)
    idx = np.argmax(flat, axis=1)
    flat -= flat[np.arange(T), idx][:, None]
    conf = 1.0 / np.exp(flat).sum(axis=1)
    y, x = np.divmod(idx, Nx)
    p = np.pad(np.exp(flat).reshape(T, Ny, Nx), ((0, 0), (1, 1), (1, 1)))
    t = np.arange(T)
    sub = np.stack([_local_mean(p[t, y, x + 1], p[t, y + 1, x + 1], p[t, y + 2, x + 1]),
                    _local_mean(p[t, y + 1, x], p[t, y + 1, x + 1], p[t, y + 1, x + 2])],
                   axis=1)
    return np.stack([y, x], axis=1), sub, conf


def _decide(maps: np.ndarray, plane_group: np.ndarray, window: tuple[int, int], o: dict,
            state: dict, ticker: _Ticker,
            iterations: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shifts (T, Z, 2) int, sub-pixel shifts (T, Z, 2) and confidence (T, Z) from the maps."""
    T, n_groups = maps.shape[:2]
    Z = plane_group.size
    shifts = np.zeros((T, Z, 2), np.int64)
    subpixel = np.zeros((T, Z, 2))
    confidence = np.zeros((T, Z))
    for g in range(n_groups):
        ticker.check()
        if o["temporal"] == "hmm":
            modes, sub, conf = _hmm(maps[:, g], o, state.setdefault(g, {}), iterations)
        else:
            modes, sub, conf = _independent(maps[:, g])
        signed = modes - np.array(window)
        planes = plane_group == g
        shifts[:, planes] = signed[:, None, :]
        subpixel[:, planes] = (signed + sub)[:, None, :]
        confidence[:, planes] = conf[:, None]
    return shifts, subpixel, confidence


def _placements(subpixel: np.ndarray, plane_group: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """Integer shifts (T, Z, 2) that place frames for the next references.

    Sub-pixel estimates are first re-centred per plane group on the lattice (their
    circular-mean fractional part is removed), then rounded stochastically: a frame 0.3
    pixel past an integer lands one pixel further with probability 0.3, so the reference
    is, on average, a sub-pixel placement of the frames (linear interpolation) built by the
    decoder without resampling. At low photon rates this removes a trap of integer
    registration: a reference blurred half-way between two positions, against which frames
    split at random between the two and rebuild the same blur."""
    out = np.empty(subpixel.shape, np.int64)
    for g in np.unique(plane_group):
        planes = plane_group == g
        s = subpixel[:, planes]
        centre = np.angle(np.exp(2j * np.pi * s).reshape(-1, 2).mean(axis=0)) / (2 * np.pi)
        v = s - centre
        low = np.floor(v)
        out[:, planes] = (low + (rng.random(v.shape) < v - low)).astype(np.int64)
    return out


def _register_siffpy(io, grid: np.ndarray, alignment_color: int, ticker: _Ticker,
                     opts: dict) -> RegistrationInfo:
    t_start = time.perf_counter()
    H, W = io.frame_shape()
    T, Z, C = grid.shape
    o = _options(opts, H, W, C, alignment_color)
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
                lam[:, ci], _ = _registered_means(
                    io, ev[others, :, ci], placement[others] if registered else None, ticker)
            spectra = _log_reference_spectra(lam, o["reference_sigma"], o["workers"], binned)
            del lam
            _likelihood_maps(io, ev, rows, spectra, plane_group, maps, o, ticker)
            shifts, subpixel, confidence = _decide(
                maps, plane_group, window, o, state, ticker,
                o["em_iterations"] if half == len(halves) - 1 else 1)
            placement = (_placements(subpixel, plane_group, rng) if o["subpixel_references"]
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
    reference, _ = _registered_means(io, grid[:, :, alignment_color], shifts, ticker)
    diagnostics = {
        "cycles_run": cycles_run, "coarse_cycles_run": coarse_cycles,
        "seconds": round(time.perf_counter() - t_start, 3),
        "jump_probability_fit": [float(state[g]["eps"]) for g in sorted(state)]
        if o["temporal"] == "hmm" else None,
        "step_sigma_fit": [float(state[g]["sigma"]) for g in sorted(state)]
        if o["temporal"] == "hmm" else None,
    }
    return _result(io, grid, alignment_color, RegistrationType.Siffpy, shifts, subpixel,
                   confidence, reference, {**o, **diagnostics})


# ----------------------------------------------------------------------------- "suite2p"

def _import_suite2p():
    try:
        import suite2p  # noqa: F401
        from suite2p.registration import register
    except ImportError as exc:
        raise ImportError(
            "registration_method='suite2p' needs suite2p, which is not installed: "
            "pip install siffviewer[suite2p]  (or use registration_method='siffpy', "
            "which needs nothing extra)") from exc
    return register


def _register_suite2p(io, grid: np.ndarray, alignment_color: int, ticker: _Ticker,
                      opts: dict) -> RegistrationInfo:
    """suite2p's rigid registration of each plane (docs/compatibility.md §4.2), on the decoded frames.

    As SiffPy: frames of the alignment colour are read unregistered as float32 and scaled
    by 100 (suite2p averages, then casts to int16), the reference is suite2p's ``refImg /
    100``, and suite2p's offsets are negated to become np.roll shifts. Unlike SiffPy the
    shifts reach every colour of the plane and timepoint (docs/compatibility.md §8a
    decision 2). Missing frames are left out of suite2p's input and get the shift of the
    previous timepoint."""
    register = _import_suite2p()
    H, W = io.frame_shape()
    T, Z, C = grid.shape
    wrapper = register.registration_wrapper
    params = inspect.signature(wrapper).parameters
    for name in _SIFFPY_IGNORED:
        opts.pop(name, None)
    ticker.total = 2 * int((grid[:, :, alignment_color] >= 0).sum())
    shifts = np.zeros((T, Z, 2), np.int64)
    references = np.zeros((Z, H, W), np.float32)
    for z in range(Z):
        ticker.check()
        rows = np.flatnonzero(grid[:, z, alignment_color] >= 0)
        if rows.size == 0:
            continue
        raw = io.get_frames(grid[rows, z, alignment_color]).astype(np.float32) * 100
        ticker.add(rows.size)
        registered = np.zeros_like(raw)
        if "settings" in params:  # suite2p >= 1.0 (torch)
            default = _default_of(params["settings"], "default_settings")
            # suite2p 1.x's wrapper reads the "registration" section of its settings
            default = default.get("registration", default)
            kwargs = {"settings": {**default, **opts, "nonrigid": False}}
            if "device" in params:
                import torch
                kwargs["device"] = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        else:  # suite2p 0.x
            default = _default_of(params.get("ops"), "default_ops")
            kwargs = {"ops": {**default, **opts, "nonrigid": False}}
        if "settings" in params:  # 1.x tests `not f_raw`, which arrays refuse: register in place
            out = wrapper(raw, **kwargs)
        else:
            out = wrapper(registered, f_raw=raw, **kwargs)
        if isinstance(out, dict):
            ref, yoff, xoff = out["refImg"], out["yoff"], out["xoff"]
        else:
            ref, (yoff, xoff) = out[0], out[4][:2]
        ticker.add(rows.size)
        references[z] = np.asarray(ref, np.float32) / 100
        s = -np.stack([np.rint(yoff), np.rint(xoff)], axis=1).astype(np.int64)
        filled = np.zeros((T, 2), np.int64)
        filled[rows] = s
        # carry the last known shift into timepoints without a frame
        have = np.zeros(T, bool)
        have[rows] = True
        last = np.maximum.accumulate(np.where(have, np.arange(T), 0))
        shifts[:, z, 0] = _signed(filled[last, 0], H)
        shifts[:, z, 1] = _signed(filled[last, 1], W)
        del raw, registered
    subpixel = shifts.astype(np.float64)
    return _result(io, grid, alignment_color, RegistrationType.Suite2p, shifts, subpixel,
                   None, references, {"suite2p_options": _jsonable(opts)})


def _default_of(param, factory: str) -> dict:
    """The default dict of suite2p's ``ops``/``settings`` parameter, or ``suite2p.<factory>()``."""
    if param is not None and isinstance(param.default, dict):
        return dict(param.default)
    import suite2p
    return dict(getattr(suite2p, factory)())


def _jsonable(d: dict) -> dict:
    """Keep the JSON-serialisable entries of an options dict (for the sidecar)."""
    out = {}
    for k, v in d.items():
        try:
            json.dumps(v)
            out[str(k)] = v
        except TypeError:
            out[str(k)] = repr(v)
    return out
