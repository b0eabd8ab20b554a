"""SiffIO: the low-level reader, call-for-call compatible with corrosiffpy 0.1.2's SiffIO.

Every method takes file frame indices (0-based) and returns numpy arrays with the same
names, arguments, defaults, dtypes and shapes as corrosiffpy, so
``import libsiff as corrosiffpy`` works. Where corrosiffpy is wrong (docs/format.md §12)
libsiff does the correct thing; each such place says so in its docstring.

Units: intensities are photon counts; arrival times and empirical lifetimes are in
arrival-time bins (``bin width = 5 ps * 2**binResolution``); timestamps in seconds
(experiment) or nanoseconds since the Unix epoch (epoch timestamps).
"""

from __future__ import annotations

import copy
import os
import warnings

import numpy as np

from . import _bindings as nb
from .errors import SiffArgumentError, SiffFormatError, SiffIndexError, SiffIOError, SiffShapeError

__all__ = ["SiffIO", "open_file", "get_start_timestamp", "get_start_and_end_timestamps"]

FLIM_METHODS = ("empirical lifetime", "phasor")


def _offset_bins(params) -> float:
    """The IRF offset of a FLIMParams-like object, in arrival bins (0 without params).

    Converts a private copy: the caller's params are never changed (another thread may be
    reading them at the same time)."""
    if params is None:
        return 0.0
    params = copy.deepcopy(params)
    params.convert_units("countbins")
    return float(params.tau_offset)


def _check_method(flim_method: str) -> None:
    if flim_method not in FLIM_METHODS:
        raise SiffArgumentError(
            f"Invalid FLIM method {flim_method}. Must be one of "
            "[`empirical lifetime`, `phasor`]"
        )


class SiffIO:
    """An open .siff (or ScanImage .tiff) file. Use :func:`open_file` to make one.

    Only the header and the frame index are read at open; frames are decoded on request.
    Close it with :meth:`close` or use it as a context manager.
    """

    def __init__(self, file_path: str | os.PathLike):
        self._path = os.fspath(file_path)
        self._native = nb.NativeFile(self._path)
        self._info = self._native.info
        self._every_frame: np.ndarray | None = None  # frames=None, made on first use
        if self._info.damaged_frame is not None:
            warnings.warn(f"{self._path}: {self.damage}; reading the {self._info.num_frames} "
                          "complete frames before it", RuntimeWarning, stacklevel=3)

    @property
    def damage(self) -> str | None:
        """Why the frame index stops before the end of the file, or None when it does not.

        A file cut off inside a frame (or still being written) and a corrupt IFD after the
        first frame keep the complete frames before; this says which frame was dropped."""
        info = self._info
        if info.damaged_frame is None:
            return None
        if info.damage == nb.DAMAGE_BAD_IFD:
            return f"the IFD of frame {info.damaged_frame} is corrupt ({info.damage_detail})"
        return f"the file ends inside frame {info.damaged_frame}"

    def refresh(self) -> int:
        """Re-read the frame index of a file that is still being written; returns the new
        number of frames.

        A frame whose IFD or data is not completely written yet is never included. Running
        calls finish on the index they started with."""
        if self.closed:
            raise SiffIOError(f"{self._path}: the file is closed")
        native = nb.NativeFile(self._path)
        # the old handle is freed when its last running call returns (NativeFile is
        # reference-counted by the calls holding it), so nothing is closed under a call
        self._native, self._info = native, native.info
        return self._info.num_frames

    # ---- file state ----
    @property
    def filename(self) -> str:
        """The path as given to :func:`open_file`."""
        return self._path

    def close(self) -> None:
        """Release the file. Further reads raise SiffIOError. Safe to call twice."""
        self._native.close()

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._native.closed

    def __enter__(self) -> SiffIO:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self._info.num_frames} frames"
        return f"<libsiff.SiffIO {self._path!r} ({state})>"

    @property
    def file_info(self) -> nb.FileInfo:
        """Container facts: BigTIFF or classic, sizes, Tau_bins, a damaged trailing frame."""
        return self._info

    def num_frames(self) -> int:
        """Number of complete frames (IFDs), flyback frames included."""
        return self._info.num_frames

    def frame_shape(self) -> tuple[int, int]:
        """(height, width) in pixels, shared by every frame (ValueError otherwise)."""
        if not self._info.uniform_shape:
            raise SiffShapeError(f"{self._path}: frames do not all have the same shape")
        return (self._info.height, self._info.width)

    @property
    def tau_bins(self) -> int | None:
        """``SI.hScan2D.hAcq.Tau_bins`` from the header (None when absent)."""
        return self._info.tau_bins

    @property
    def histogram_length(self) -> int:
        """Length L of arrival histograms: Tau_bins + 2, as corrosiffpy."""
        if self._info.tau_bins is None and self._info.tau_bins_declared is not None:
            raise SiffFormatError(
                f"{self._path}: the header's SI.hScan2D.hAcq.Tau_bins = "
                f"{self._info.tau_bins_declared} is outside 1..{nb.MAX_TAU_BINS}, the "
                "arrival-time histogram lengths libsiff reads")
        if self._info.tau_bins is None:
            raise SiffFormatError(
                f"{self._path}: Could not compute tau bins: the header has no "
                "SI.hScan2D.hAcq.Tau_bins"
            )
        return self._info.tau_bins + 2

    # ---- argument normalisation ----
    def _frames(self, frames) -> np.ndarray:
        n = self._info.num_frames
        if frames is None:
            every = self._every_frame
            if every is None or len(every) != n:
                every = np.arange(n, dtype=np.uint64)
                every.flags.writeable = False  # shared by calls: C only reads it
                self._every_frame = every
            return every
        arr = np.asarray(list(frames) if not isinstance(frames, np.ndarray) else frames)
        if arr.size == 0:
            return np.zeros(0, np.uint64)
        if arr.dtype.kind not in "iu":
            raise SiffArgumentError(f"{self._path}: frame indices must be integers, got {arr.dtype}")
        arr = arr.ravel().astype(np.int64)
        bad = (arr < 0) | (arr >= n)
        if bad.any():
            first = int(arr[bad][0])
            extra = ""
            if self._info.damaged_frame is not None and first == self._info.damaged_frame:
                extra = (" (its IFD is corrupt)" if self._info.damage == nb.DAMAGE_BAD_IFD
                         else " (it is incomplete: the file ends inside it)")
            raise SiffIndexError(
                f"{self._path}: frame {first} does not exist: the file has {n} frames{extra}"
            )
        return np.ascontiguousarray(arr, dtype=np.uint64)

    def _shifts(self, registration, frames: np.ndarray, strict: bool = True):
        """(n, 2) int64 shifts for the requested frames, or None.

        ``registration`` is a ``{frame: (dy, dx)}`` dict (every requested frame must be in
        it, as corrosiffpy requires) or, as a libsiff extension, an int array
        ``(num_frames, 2)`` holding the shift of every file frame."""
        if isinstance(registration, np.ndarray):
            if registration.shape != (self._info.num_frames, 2):
                raise SiffArgumentError(
                    f"{self._path}: a shift table must have shape ({self._info.num_frames}, 2), "
                    f"not {registration.shape}")
            return np.ascontiguousarray(registration[frames.astype(np.intp)], dtype=np.int64)
        if not registration:
            return None
        out = np.zeros((len(frames), 2), np.int64)
        missing = []
        for i, fr in enumerate(frames.tolist()):
            value = registration.get(fr)
            if value is None:
                missing.append(fr)
                continue
            dy, dx = value[0], value[1]
            if not (isinstance(dy, (int, np.integer)) and isinstance(dx, (int, np.integer))):
                raise TypeError(f"{self._path}: the shift of frame {fr} must be two integers "
                                f"(pixels), not {value!r}")
            out[i, 0], out[i, 1] = int(dy), int(dx)
        if missing and strict:
            raise SiffArgumentError(
                f"{self._path}: Some requested frames do not have a corresponding registration "
                f"value (first missing: frame {missing[0]})"
            )
        return out

    def _mask_array(self, mask, ndims: tuple[int, ...], what: str) -> np.ndarray:
        if not isinstance(mask, np.ndarray):
            raise TypeError(f"{what} must be a numpy array of bool")
        if mask.dtype != np.bool_:
            raise TypeError(f"{what} must be a numpy array of dtype bool, not {mask.dtype}")
        if mask.ndim not in ndims:
            raise TypeError(
                f"{what} must have {' or '.join(map(str, ndims))} dimensions, not {mask.ndim}"
            )
        return mask

    def _check_mask_shape(self, mask: np.ndarray, frames: np.ndarray) -> None:
        shape = self._request_shape(frames)
        if tuple(mask.shape[-2:]) != shape:
            raise SiffShapeError(
                f"{self._path}: mask shape {tuple(mask.shape[-2:])} does not match the frame "
                f"shape {shape}"
            )

    def _request_shape(self, frames: np.ndarray) -> tuple[int, int]:
        if len(frames) and not self._info.uniform_shape:
            info = self._native.frame_infos(int(frames[0]), 1)[0]
            return (info["height"], info["width"])
        return (self._info.height, self._info.width)

    def _masks(self, masks: np.ndarray, frames: np.ndarray) -> tuple[np.ndarray, int]:
        """Masks as contiguous uint8 (R, P, H, W) and the number of planes P."""
        self._check_mask_shape(masks, frames)
        if masks.ndim == 3:
            masks = masks[:, None]
        planes = masks.shape[1]
        if planes == 0 or masks.shape[0] == 0:
            raise SiffArgumentError(f"{self._path}: masks must not be empty")
        return np.ascontiguousarray(masks).view(np.uint8), planes

    # ---- intensity ----
    def get_frames(self, frames=None, registration=None) -> np.ndarray:
        """Photon counts per pixel, ``uint16 (n, H, W)``, registered by ``{frame: (dy, dx)}``.

        Shifts follow ``np.roll(frame, (dy, dx), axis=(0, 1))`` exactly, for every frame kind,
        size and sign (corrosiffpy misplaces edge photons of raw frames for negative shifts
        when H or W is not a power of two)."""
        fr = self._frames(frames)
        shifts = self._shifts(registration, fr)
        h, w = self._request_shape(fr)
        u16, *_ = self._native.run(nb.Kind.IMAGE, fr, shifts)
        self._warn_clamped()
        return (u16 if u16 is not None else np.zeros(0, np.uint16)).reshape(len(fr), h, w)

    def sum_frames(self, frames=None, registration=None) -> np.ndarray:
        """Sum of the photon counts of many frames, ``uint64 (H, W)`` (libsiff extension)."""
        fr = self._frames(frames)
        shifts = self._shifts(registration, fr)
        h, w = self._request_shape(fr)
        _, u64, *_ = self._native.run(nb.Kind.IMAGE, fr, shifts, sum_frames=True)
        return u64.reshape(h, w)

    def projection_sums(self, frames=None, registration=None,
                        out: np.ndarray | None = None) -> np.ndarray:
        """Per-pixel sums of many frames in one pass, ``uint64 (7, H, W)`` (libsiff extension).

        Planes (``libsiff.projections.PLANES``): photon counts summed, squares summed,
        maximum, and products with the right, lower, lower-right and lower-left neighbour
        summed (0 past the edge), after registration. With ``out`` (a previous result) the
        frames are added to it, so a plane can be summed in chunks. Counts are exact (not
        clamped at 65,535)."""
        fr = self._frames(frames)
        shifts = self._shifts(registration, fr)
        h, w = self._request_shape(fr)
        if out is None:
            nb.check_allocation(nb.PROJ_PLANES * h * w * 8, self._path, "the projection sums")
            out = np.zeros((nb.PROJ_PLANES, h, w), np.uint64)
        elif (out.dtype != np.uint64 or out.shape != (nb.PROJ_PLANES, h, w)
              or not out.flags.c_contiguous):
            raise SiffArgumentError(
                f"{self._path}: out must be a C-contiguous uint64 array of shape "
                f"{(nb.PROJ_PLANES, h, w)}, not {out.dtype} {out.shape}")
        if len(fr):
            self._native.projection_sums(fr, shifts, out)
        return out

    def flim_sums(self, frames=None, registration=None, phasor: bool = False, *,
                  _period_bins=None):
        """Per-pixel photon counts and arrival-bin sums over many frames (libsiff extension).

        Returns ``(counts uint64 (H, W), bin_sums uint64 (H, W), phasor_sum complex128 (H, W)
        or None)``: the mean arrival bin of a pixel is ``bin_sums / counts``; the phasor sum
        is the sum of ``exp(2*pi*i*(tau mod L)/L)`` (divide by counts for g + i s).
        ``_period_bins`` (private) replaces the period L of the phasor."""
        fr = self._frames(frames)
        shifts = self._shifts(registration, fr)
        h, w = self._request_shape(fr)
        if phasor:
            self.histogram_length  # noqa: B018 - raises without Tau_bins
        if len(fr) == 0:
            z = np.zeros((h, w), np.uint64)
            return z, z.copy(), (np.zeros((h, w), np.complex128) if phasor else None)
        _, counts, tau, re, im = self._native.run(nb.Kind.PIXEL_FLIM, fr, shifts,
                                                  sum_frames=True, phasor=phasor,
                                                  phasor_period_bins=self._period(_period_bins))
        ph = (re + 1j * im).reshape(h, w) if phasor else None
        return counts.reshape(h, w), tau.reshape(h, w), ph

    def sum_roi(self, mask, frames=None, registration=None) -> np.ndarray:
        """Photons inside a bool mask per frame, ``uint64 (n,)``.

        A 2-D mask ``(H, W)`` applies to every frame; a 3-D mask ``(P, H, W)`` is cycled: the
        i-th requested frame uses ``mask[i % P]``. A 4-D mask is passed to :meth:`sum_rois`."""
        if isinstance(mask, np.ndarray) and mask.ndim == 4:
            return self.sum_rois(mask, frames=frames, registration=registration)
        mask = self._mask_array(mask, (2, 3), "Mask")
        return self.sum_rois(mask[None], frames=frames, registration=registration)[0]

    def sum_rois(self, masks, frames=None, registration=None) -> np.ndarray:
        """Photons inside each mask per frame, ``uint64 (R, n)``, in one pass over the file.

        ``masks`` is ``(R, H, W)`` or ``(R, P, H, W)`` (planes cycled by request position)."""
        masks = self._mask_array(masks, (3, 4), "Masks")
        fr = self._frames(frames)
        shifts = self._shifts(registration, fr)
        m, planes = self._masks(masks, fr)
        if len(fr) == 0:
            return np.zeros((m.shape[0], 0), np.uint64)
        _, u64, *_ = self._native.run(nb.Kind.MASK_SUMS, fr, shifts, m, planes)
        return u64.reshape(m.shape[0], len(fr))

    # ---- arrival-time histograms ----
    def get_histogram(self, frames=None) -> np.ndarray:
        """Arrival-time histogram of all photons of the frames, ``uint64 (L,)``, L = Tau_bins+2.

        A photon with bin ``tau`` counts in ``tau mod L``."""
        fr = self._frames(frames)
        L = self.histogram_length
        if len(fr) == 0:
            return np.zeros(L, np.uint64)
        _, u64, *_ = self._native.run(nb.Kind.HISTOGRAM, fr, sum_frames=True)
        return u64

    def get_histogram_by_frames(self, frames=None) -> np.ndarray:
        """One arrival-time histogram per frame, ``uint64 (n, L)``."""
        fr = self._frames(frames)
        L = self.histogram_length
        if len(fr) == 0:
            return np.zeros((0, L), np.uint64)
        _, u64, *_ = self._native.run(nb.Kind.HISTOGRAM, fr)
        return u64.reshape(len(fr), L)

    def get_histogram_masked(self, mask, frames=None, registration=None) -> np.ndarray:
        """Arrival histograms of the photons inside a mask, ``uint64 (n, L)``.

        The mask is 2-D or 3-D (cycled). With registration a photon counts where it lands
        after the shift, as in every other masked call (corrosiffpy rolls the mask the other
        way here)."""
        mask = self._mask_array(mask, (2, 3), "Mask")
        return self.get_histograms_masked(mask[None], frames, registration)[0]

    def get_histograms_masked(self, masks, frames=None, registration=None,
                              sum_frames: bool = False) -> np.ndarray:
        """Arrival histograms inside several masks in one pass (libsiff extension).

        ``uint64 (R, n, L)``, or ``(R, L)`` with ``sum_frames``."""
        masks = self._mask_array(masks, (3, 4), "Masks")
        fr = self._frames(frames)
        L = self.histogram_length
        shifts = self._shifts(registration, fr)
        m, planes = self._masks(masks, fr)
        if len(fr) == 0:
            return np.zeros((m.shape[0], L) if sum_frames else (m.shape[0], 0, L), np.uint64)
        _, u64, *_ = self._native.run(nb.Kind.HISTOGRAM, fr, shifts, m, planes, sum_frames)
        return u64.reshape((m.shape[0], L) if sum_frames else (m.shape[0], len(fr), L))

    def get_frames_full(self, frames=None, registration=None) -> np.ndarray:
        """Per-pixel arrival histograms, ``uint16 (n, H, W, L)``, registered."""
        fr = self._frames(frames)
        L = self.histogram_length
        shifts = self._shifts(registration, fr)
        h, w = self._request_shape(fr)
        if len(fr) == 0:
            return np.zeros((0, h, w, L), np.uint16)
        u16, *_ = self._native.run(nb.Kind.FULL, fr, shifts)
        return u16.reshape(len(fr), h, w, L)

    # ---- lifetime ----
    def _period(self, period_bins) -> float:
        """The phasor period for the C core: 0 (the histogram length L) or a positive float."""
        if period_bins is None:
            return 0.0
        period = float(period_bins)
        if not (np.isfinite(period) and period > 0):
            raise SiffArgumentError(f"{self._path}: the phasor period must be a positive number of "
                             f"arrival bins, not {period_bins!r}")
        return period

    def _phasor_rotation(self, params, period_bins=None) -> complex:
        """exp(-2*pi*i*offset/P): the one offset convention libsiff uses for phasors
        (P = the histogram length L unless a period is given)."""
        if params is None:
            return 1.0 + 0.0j
        period = self.histogram_length if period_bins is None else float(period_bins)
        return np.exp(-2j * np.pi * _offset_bins(params) / period)

    def flim_map(self, params=None, frames=None, confidence_metric="chi_sq",
                 flim_method="empirical lifetime", registration=None, *, _period_bins=None):
        """Per-pixel lifetime and intensity: ``(lifetime (n,H,W), intensity uint16, None)``.

        Empirical lifetime: mean arrival bin minus the IRF offset of ``params`` (in bins),
        float64, NaN for pixels without photons. Phasor: complex128 mean of
        ``exp(2*pi*i*(tau mod L)/L)``, rotated by ``exp(-2*pi*i*offset/L)`` (corrosiffpy
        rotates the other way here but not in ``sum_roi_flim``; libsiff uses one convention).
        ``confidence_metric`` is accepted for compatibility; the third element is None.
        ``_period_bins`` (private) replaces the phasor period L."""
        _check_method(flim_method)
        fr = self._frames(frames)
        shifts = self._shifts(registration, fr)
        h, w = self._request_shape(fr)
        phasor = flim_method == "phasor"
        if phasor:
            self.histogram_length  # noqa: B018 - raises without Tau_bins
        if len(fr) == 0:
            empty = np.zeros((0, h, w))
            return (empty.astype(np.complex128 if phasor else np.float64),
                    empty.astype(np.uint16), None)
        u16, _, lifetime, _, _ = self._native.run(
            nb.Kind.PIXEL_FLIM, fr, shifts, phasor=phasor,
            phasor_period_bins=self._period(_period_bins), lifetime_offset=_offset_bins(params))
        self._warn_clamped()
        return lifetime.reshape(len(fr), h, w), u16.reshape(len(fr), h, w), None

    def _warn_clamped(self) -> None:
        clamped = self._native.last_clamped_pixels
        if clamped:
            warnings.warn(
                f"{self._path}: {clamped} pixel(s) of single frames hold more than 65535 photons; "
                "their uint16 intensity is clamped at 65535 (lifetimes use the true counts)",
                RuntimeWarning, stacklevel=3)

    def _lifetime(self, tau, re, im, counts, params, phasor, period_bins=None):
        n = counts.astype(np.float64).ravel()
        with np.errstate(invalid="ignore", divide="ignore"):
            if phasor:
                return (re + 1j * im) / n * self._phasor_rotation(params, period_bins)
            return tau.astype(np.float64) / n - _offset_bins(params)

    def sum_roi_flim(self, mask, params=None, frames=None, flim_method="empirical lifetime",
                     registration=None, *, _period_bins=None):
        """Pooled lifetime of the photons in a mask per frame: ``(lifetime (n,), uint64 (n,), None)``.

        The mask is 2-D, 3-D (cycled) or 4-D (see :meth:`sum_rois_flim`). Sums use 64-bit
        accumulators (corrosiffpy wraps per-pixel sums of compressed frames at 65536)."""
        if isinstance(mask, np.ndarray) and mask.ndim == 4:
            return self.sum_rois_flim(mask, params, frames, flim_method, registration,
                                      _period_bins=_period_bins)
        mask = self._mask_array(mask, (2, 3), "Mask")
        lt, counts, _ = self.sum_rois_flim(mask[None], params, frames, flim_method, registration,
                                           _period_bins=_period_bins)
        return lt[0], counts[0], None

    def sum_rois_flim(self, masks, params=None, frames=None, flim_method="empirical lifetime",
                      registration=None, *, _period_bins=None):
        """Pooled lifetimes per mask and frame: ``(lifetime (R, n), uint64 (R, n), None)``.

        Empirical lifetime in arrival bins minus the offset of ``params``; phasor complex128
        rotated by ``exp(-2*pi*i*offset/L)``. ``_period_bins`` (private) replaces the period L."""
        _check_method(flim_method)
        masks = self._mask_array(masks, (3, 4), "Masks")
        fr = self._frames(frames)
        shifts = self._shifts(registration, fr)
        m, planes = self._masks(masks, fr)
        phasor = flim_method == "phasor"
        if phasor:
            self.histogram_length  # noqa: B018 - raises without Tau_bins
        R = m.shape[0]
        if len(fr) == 0:
            return (np.zeros((R, 0), np.complex128 if phasor else np.float64),
                    np.zeros((R, 0), np.uint64), None)
        _, counts, tau, re, im = self._native.run(nb.Kind.MASK_FLIM, fr, shifts, m, planes,
                                                  phasor=phasor,
                                                  phasor_period_bins=self._period(_period_bins))
        lt = self._lifetime(tau, re, im, counts, params, phasor, _period_bins)
        return lt.reshape(R, len(fr)), counts.reshape(R, len(fr)), None

    # ---- timestamps and metadata ----
    def get_experiment_timestamps(self, frames=None) -> np.ndarray:
        """``frameTimestamps_sec`` of each frame: seconds since acquisition start, float64.

        NaN where a description lacks the field (corrosiffpy panics)."""
        return self._native.fields(self._frames(frames), nb.FIELD_FRAME_TIMESTAMP)[0]

    def _missing(self, frames: np.ndarray, found: np.ndarray) -> int | None:
        """The first requested frame whose field was not found, or None."""
        at = found.tobytes().find(0)  # a memchr: much cheaper than found.all() on few frames
        return None if at < 0 else int(frames[at])

    def _epoch(self, frames, field, name: str) -> np.ndarray:
        fr = self._frames(frames)
        _, u64, found = self._native.fields(fr, field)
        first = self._missing(fr, found)
        if first is not None:
            raise SiffFormatError(
                f"{self._path}: frame {first} has no readable '{name}' field in its description"
            )
        return u64

    def _no_system_stamp(self, frame: int) -> SiffIOError:
        return SiffIOError(
            f"{self._path}: NoSystemTimestamps: frame {frame} has no "
            "mostRecentSystemTimestamp_epoch"
        )

    def get_epoch_timestamps_laser(self, frames=None) -> np.ndarray:
        """``epoch`` of each frame: nanoseconds since the Unix epoch (laser clock), uint64."""
        return self._epoch(frames, nb.FIELD_EPOCH_LASER, "epoch")

    def get_epoch_timestamps_system(self, frames=None) -> np.ndarray:
        """``mostRecentSystemTimestamp_epoch``: ns since the Unix epoch (PC clock), uint64.

        Raises SiffIOError (an OSError, as corrosiffpy) when a frame lacks it."""
        fr = self._frames(frames)
        _, u64, found = self._native.fields(fr, nb.FIELD_EPOCH_SYSTEM)
        first = self._missing(fr, found)
        if first is not None:
            raise self._no_system_stamp(first)
        return u64

    def get_epoch_both(self, frames=None) -> np.ndarray:
        """Laser and system epoch timestamps, ``uint64 (2, n)`` in ns (one pass over the
        descriptions; a missing laser stamp is reported before a missing system stamp)."""
        fr = self._frames(frames)
        _, u64, found = self._native.fields(fr, nb.FIELD_EPOCH_BOTH)
        n = len(fr)
        if found.tobytes().find(0) >= 0:  # a missing stamp: say which, laser first
            first = self._missing(fr, found[:n])
            if first is not None:
                raise SiffFormatError(f"{self._path}: frame {first} has no readable 'epoch' "
                                      "field in its description")
            raise self._no_system_stamp(self._missing(fr, found[n:]))
        return u64.reshape(2, n)

    def get_sync_stamps(self, frames=None) -> np.ndarray:
        """``sync Stamps`` (laser pulses since start) per frame, uint64 (libsiff extension)."""
        return self._epoch(frames, nb.FIELD_SYNC_STAMPS, "sync Stamps")

    def get_appended_text(self, frames=None) -> list[tuple]:
        """Events: ``(frame, text, timestamp_s)`` for frames whose description has
        ``Appended text``; ``(frame, text)`` when the ``Text timestamp`` is blank or not a
        number. When the ``Text timestamp`` line is missing the event is still reported, with
        timestamp NaN (corrosiffpy drops it)."""
        fr = self._frames(frames)
        found = self._native.fields(fr, nb.FIELD_HAS_APPENDED_TEXT)[2]
        if found.tobytes().find(1) < 0:
            return []
        events, parsed = [], {}  # frames may share one (huge) description: read it once
        for frame in fr[found].tolist():
            info = self._native.frame_infos(frame, 1)[0]
            offset, length = info["description_offset"], info["description_length"]
            event = parsed.get(offset) or parsed.get((offset, length))
            if event is None:
                head = self._native.description(frame, _EVENT_PREFIX)
                if _event_complete(head):  # the same for every length sharing this prefix
                    event = parsed[offset] = _parse_event(frame, head)
                else:
                    text = head if length <= _EVENT_PREFIX else self._native.description(frame)
                    event = parsed[(offset, length)] = _parse_event(frame, text)
            events.append((frame, *event[1:]))
        return events

    def get_file_header(self) -> dict:
        """The file header as corrosiffpy gives it (NVFD and ROI texts decoded as Latin-1)."""
        return {
            "Filename": self._path,
            "BigTiff": self._info.bigtiff,
            "IsSiff": self._path.endswith(".siff"),
            "Number of frames": self._info.num_frames,
            "Non-varying frame data": self._native.nvfd(),
            "ROI string": self._native.roi_text(),
        }

    def get_frame_metadata(self, frames=None) -> list[dict]:
        """IFD values and the description text of each frame, as corrosiffpy's dicts."""
        fr = self._frames(frames)
        out = []
        for frame in fr.tolist():
            info = self._native.frame_infos(frame, 1)[0]
            out.append({
                "width": info["width"], "height": info["height"],
                "bits_per_sample": info["bits_per_sample"], "compression": info["compression"],
                "photometric_interpretation": info["photometric"],
                "end_of_ifd": info["description_offset"], "data_offset": info["strip_offset"],
                "samples_per_pixel": info["samples_per_pixel"],
                "rows_per_strip": info["rows_per_strip"],
                "strip_byte_counts": info["strip_byte_count"],
                "x_resolution": info["x_resolution"], "y_resolution": info["y_resolution"],
                "resolution_unit": info["resolution_unit"],
                "sample_format": info["sample_format"],
                "siff_tag": None if info["siff_tag"] < 0 else info["siff_tag"],
                "Frame metadata": self._native.description(frame),
            })
        return out

    def get_description(self, frame: int) -> str:
        """The description text of one frame (libsiff extension)."""
        return self._native.description(int(self._frames([frame])[0]))


_EVENT_PREFIX = 1 << 16  # bytes of a description read first for its event lines


def _event_complete(text: str) -> bool:
    """True when text holds the appended-text line and the text-timestamp line, both ended:
    then any longer description sharing this prefix gives the same event."""
    for needle in ("\nAppended text = ", "\nText timestamp = "):
        at = text.find(needle)
        if at < 0 or text.find("\n", at + len(needle)) < 0:
            return False
    return True


def _parse_event(frame: int, text: str) -> tuple:
    def value_after(needle: str) -> str | None:
        at = text.find(needle)
        if at < 0:
            return None
        start = at + len(needle)
        end = text.find("\n", start)
        return (text[start:] if end < 0 else text[start:end]).strip()

    message = value_after("\nAppended text = ") or ""
    stamp = value_after("\nText timestamp = ")
    if stamp is None:
        return (frame, message, float("nan"))
    try:
        return (frame, message, float(stamp))
    except ValueError:
        return (frame, message)


def open_file(file_path: str | os.PathLike) -> SiffIO:
    """Open a .siff or ScanImage .tiff file: reads the header and the frame index only."""
    return SiffIO(file_path)


def get_start_timestamp(file_path: str | os.PathLike) -> int:
    """Laser-clock ``epoch`` (ns since the Unix epoch) of the first frame."""
    with SiffIO(file_path) as io:
        return int(io.get_epoch_timestamps_laser([0])[0])


def get_start_and_end_timestamps(file_path: str | os.PathLike) -> tuple[int, int]:
    """Laser-clock ``epoch`` of the first and of the last frame, in ns."""
    with SiffIO(file_path) as io:
        n = io.num_frames()
        stamps = io.get_epoch_timestamps_laser([0, n - 1])
        return int(stamps[0]), int(stamps[1])
