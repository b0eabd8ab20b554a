"""SiffReader: SiffPy's notebook API on libsiff's decoder.

Frame indices are 0-based file frames (flyback included) unless a docstring says
otherwise. Intensities are photon counts; arrival times are in arrival bins of
``im_params.picoseconds_per_bin`` picoseconds; times are in seconds unless a name says
nanoseconds. Every read goes through the C decoder (:class:`libsiff.SiffIO`).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from .errors import SiffArgumentError, SiffIOError, SiffShapeError
from .siffio import SiffIO

__all__ = ["SiffReader"]


class SiffReader:
    """Reader of one ScanImage-FLIM ``.siff`` (or ScanImage ``.tiff``) file.

    ``SiffReader(path)`` opens the file at once (only the header and frame index are read);
    ``SiffReader()`` gives an inactive reader to :meth:`open` later. Use it as a context
    manager or call :meth:`close`. A saved registration (see :mod:`libsiff.registration`)
    is loaded on open and used by every read unless a call passes another one.
    """

    def __init__(self, filename: str | os.PathLike | None = None, open: bool = True,
                 backend: str | None = None):
        self.filename: Path | str = ""
        self.opened = False
        self.siffio: SiffIO | None = None
        self.im_params = None
        self.ROI_group_data: dict = {}
        self._registration_info = None
        self._flim_params: tuple | None = None
        self._shift_table: tuple | None = None  # (RegistrationInfo, its (num_frames, 2) table)
        if filename is not None and open:
            self.open(filename)

    # ------------------------------------------------------------------ file state
    def open(self, filename: str | os.PathLike | None = None, load_time_axis: bool = False) -> None:
        """Open ``filename``: header, frame index, ``im_params`` and any saved registration."""
        from .scanimage import ImParams

        if filename is None:
            raise NotImplementedError("SiffReader.open needs a filename (no file dialog here)")
        if self.opened:
            self.close()
        path = Path(filename)
        io = SiffIO(path)
        try:
            header = io.get_file_header()
            im_params = ImParams.from_header(header["Non-varying frame data"],
                                             header["ROI string"], io.num_frames(),
                                             filename=str(path))
        except BaseException:
            io.close()
            raise
        self.siffio = io
        self.filename = path
        self.im_params = im_params
        self.ROI_group_data = getattr(self.im_params, "roi_groups", {}) or {}
        self.opened = True
        self._load_saved_registration()
        if load_time_axis:
            self.t_axis()

    def close(self) -> None:
        """Release the file. Safe to call twice and while other threads read: their running
        calls finish, later ones raise SiffIOError. ``im_params`` stays readable."""
        self.opened = False
        io = self.siffio
        if io is not None:
            io.close()
        self._registration_info = None
        self._shift_table = None

    def refresh(self) -> int:
        """Re-read the frame index of a file that is still being written (ScanImage writes
        while it acquires); returns the new number of frames.

        ``im_params`` is rebuilt for the new frame count. A frame not completely written yet
        is never included."""
        from .scanimage import ImParams

        io = self._io()
        n = io.refresh()
        header = io.get_file_header()
        self.im_params = ImParams.from_header(header["Non-varying frame data"],
                                              header["ROI string"], n, filename=str(self.filename))
        self._shift_table = None
        return n

    @property
    def damage(self) -> str | None:
        """Why the frame index stops before the end of the file (see SiffIO.damage), or None."""
        return self._io().damage

    def __enter__(self) -> SiffReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finaliser
            pass

    def __str__(self) -> str:
        state = f"Open file: {self.filename}\n" if self.opened else "Inactive siffreader\n"
        return "SIFFREADER object:\n\n" + state

    __repr__ = __str__

    def _io(self) -> SiffIO:
        if not self.opened or self.siffio is None:
            raise SiffIOError("No file is open: call SiffReader.open(path) first")
        return self.siffio

    @property
    def num_frames(self) -> int:
        """Number of file frames, flyback included."""
        return self._io().num_frames()

    @property
    def all_frames(self) -> list[int]:
        """``im_params.flatten_by_timepoints()``: every timepoint and plane, colour 0."""
        return self.im_params.flatten_by_timepoints()

    @property
    def series_shape(self) -> tuple:
        """``(-1, *im_params.volume)``: the shape a timepoint-ordered stack reshapes to."""
        return (-1, *self.im_params.volume)

    # ------------------------------------------------------------------ registration
    @property
    def registration_info(self):
        """The current :class:`libsiff.registration.RegistrationInfo` (AttributeError if none)."""
        if self._registration_info is None:
            raise AttributeError("No registration: call register() or load_registration_info()")
        return self._registration_info

    @registration_info.setter
    def registration_info(self, info) -> None:
        self._registration_info = info

    @property
    def registration_or_none(self):
        """The current :class:`libsiff.registration.RegistrationInfo`, or None without one
        (where :attr:`registration_info` raises AttributeError)."""
        return self._registration_info

    @property
    def registration_dict(self) -> dict | None:
        """``{file frame: (dy, dx)}`` of the current registration, or None."""
        info = self._registration_info
        return None if info is None else info.yx_shifts

    @registration_dict.setter
    def registration_dict(self, shifts: dict | None) -> None:
        from .registration import RegistrationInfo, RegistrationType

        if shifts is None:
            self.registration_info = None
            return
        self.registration_info = RegistrationInfo(
            registration_type=RegistrationType.Other, filename=str(self.filename),
            yx_shifts=shifts, n_frames=self.num_frames, frame_shape=self._io().frame_shape())

    @property
    def reference_frames(self) -> np.ndarray:
        """Reference image per plane of the current registration, ``(planes, H, W)``."""
        return self.registration_info.reference_frames

    def register(self, registration_method: str = "siffpy", save_path=None,
                 alignment_color_channel: int = 0, progress=None, cancel=None, **kwargs) -> dict:
        """Find rigid per-frame shifts; returns and stores ``registration_dict``.

        ``alignment_color_channel`` is 0-based; shifts found on it apply to every colour of
        the same plane and timepoint. ``progress(done, total)`` and ``cancel() -> bool`` let
        a GUI follow and stop it; a cancelled run raises ``SiffCancelled`` and leaves the
        previous registration in place. The result is saved next to the file (or in
        ``save_path``) and used by later reads."""
        from .registration import register_frames

        io = self._io()
        grid = self.frame_grid()
        info = register_frames(io, grid, alignment_color=alignment_color_channel,
                               method=registration_method, progress=progress, cancel=cancel,
                               **kwargs)
        info.filename = str(self.filename)
        self.registration_info = info
        info.im_params = self.im_params
        try:
            info.save(save_path)
        except OSError as e:
            warnings.warn(f"could not save the registration next to {self.filename}: {e}",
                          stacklevel=2)
        return self.registration_dict

    def load_registration_info(self, path) -> None:
        """Load a registration saved by :meth:`register` (or RegistrationInfo.save)."""
        from .registration import RegistrationInfo

        self.registration_info = RegistrationInfo.load(path)

    def _load_saved_registration(self) -> None:
        from .registration import load_saved_registration

        io = self._io()
        info = load_saved_registration(self.filename, io.num_frames(), io.frame_shape(), io=io)
        if info is not None:
            info.im_params = self.im_params
            self.registration_info = info

    def frame_grid(self) -> np.ndarray:
        """File frame of every (timepoint, plane, colour), int64 ``(T, Z, C)``.

        Only complete timepoints count; flyback frames are left out; with several frames
        per slice the first repeat of each slice is used."""
        ip = self.im_params
        table = ip.frame_table()
        T, Z, C = ip.num_timepoints, ip.num_slices, ip.num_colors
        grid = np.full((T, Z, C), -1, np.int64)
        keep = (~table.is_flyback) & (table.repeat == 0) & (table.timepoint < T)
        frames = np.flatnonzero(keep)
        grid[table.timepoint[keep], table.slice[keep], table.color[keep]] = frames
        return grid

    def shift_table(self, registration_dict=None):
        """The shifts a read uses, as int64 ``(num_frames, 2)`` (dy, dx) per file frame, or
        None: the stored registration for None, no shifts for ``{}``, else the argument."""
        return self._registration(registration_dict)

    def _registration(self, registration_dict):
        """The shifts a read uses: the stored ones for None, none for {}, else the argument.

        Returned as a lookup table ``(num_frames, 2)`` so that frames missing from a dict
        read unshifted (SiffPy's Rust reader would raise)."""
        if registration_dict is None:
            info = self._registration_info  # one snapshot: another thread may replace it
            if info is None:
                return None
            cached = self._shift_table
            if cached is None or cached[0] is not info:
                cached = (info, _shift_table(info.yx_shifts, self.num_frames))
                self._shift_table = cached
            return cached[1]
        if hasattr(registration_dict, "yx_shifts"):
            registration_dict = registration_dict.yx_shifts
        elif isinstance(registration_dict, dict) and "yx_shifts" in registration_dict:
            registration_dict = registration_dict["yx_shifts"]
        if not registration_dict:
            return None
        return _shift_table(registration_dict, self.num_frames)

    # ------------------------------------------------------------------ intensity
    def get_frames(self, frames=None, registration_dict=None, full: bool = False) -> np.ndarray:
        """Photon counts, ``uint16 (len(frames), H, W)``; every file frame when None.

        ``registration_dict`` None uses the stored registration, ``{}`` none. With ``full``
        the per-pixel arrival histograms ``uint16 (n, H, W, Tau_bins + 2)``."""
        io = self._io()
        reg = self._registration(registration_dict)
        if full:
            return io.get_frames_full(frames, registration=reg)
        return io.get_frames(frames, registration=reg)

    def _mask_frames(self, timepoint_start, timepoint_end, z_index, color_channel):
        if timepoint_end is None:
            timepoint_end = self.im_params.num_timepoints
        return self.im_params.flatten_by_timepoints(
            timepoint_start, timepoint_end, reference_z=z_index,
            color_channel=None if color_channel is None else color_channel - 1)

    def _check_volume_mask(self, mask: np.ndarray, planes_axis: int) -> None:
        if mask.ndim > planes_axis + 2 and mask.shape[planes_axis] != self.im_params.num_slices:
            raise SiffShapeError(
                f"{self.filename}: mask has {mask.shape[planes_axis]} planes but the file has "
                f"{self.im_params.num_slices} slices")

    def sum_mask(self, mask, timepoint_start: int = 0, timepoint_end: int | None = None,
                 z_index=None, color_channel: int = 1, registration_dict=None,
                 return_framewise: bool = False) -> np.ndarray:
        """Photons inside a bool mask, ``uint64``.

        ``color_channel`` is **1-based** (SiffPy). A 2-D mask gives one value per frame of
        ``flatten_by_timepoints`` (every plane); a 3-D mask ``(planes, H, W)`` is cycled over
        the planes and summed per timepoint unless ``return_framewise``. Lists and 4-D
        arrays go to :meth:`sum_masks`."""
        if isinstance(mask, list) or (isinstance(mask, np.ndarray) and mask.ndim > 3):
            return self.sum_masks(mask, timepoint_start, timepoint_end, z_index, color_channel,
                                  registration_dict, return_framewise)
        mask = np.asarray(mask, dtype=bool)
        return self.sum_masks(mask[None], timepoint_start, timepoint_end, z_index,
                              color_channel, registration_dict, return_framewise)[0]

    def sum_masks(self, masks, timepoint_start: int = 0, timepoint_end: int | None = None,
                  z_index=None, color_channel: int = 1, registration_dict=None,
                  return_framewise: bool = False) -> np.ndarray:
        """Photons inside each of several masks, read in one pass: ``uint64 (n_masks, ...)``.

        Masks are ``(n_masks, H, W)`` or ``(n_masks, planes, H, W)`` (a list is stacked and
        squeezed, as SiffPy does); the second axis follows :meth:`sum_mask`."""
        if isinstance(masks, list):
            masks = np.array(masks).squeeze()
        masks = np.asarray(masks, dtype=bool)
        if masks.ndim == 2:  # SiffPy's squeeze quirk: a one-mask list
            return self.sum_mask(masks, timepoint_start, timepoint_end, z_index, color_channel,
                                 registration_dict, return_framewise)
        self._check_volume_mask(masks, 1)
        frames = self._mask_frames(timepoint_start, timepoint_end, z_index, color_channel)
        sums = self._io().sum_rois(masks, frames=frames,
                                   registration=self._registration(registration_dict))
        if return_framewise:
            return sums
        planes = masks.shape[1] if masks.ndim == 4 else 1
        return sums.reshape(masks.shape[0], -1, planes).sum(axis=2)

    # ------------------------------------------------------------------ FLIM
    @property
    def picoseconds_per_bin(self) -> float:
        """Arrival-bin width in picoseconds, from the header (20 with a warning if absent)."""
        return float(self.im_params.picoseconds_per_bin)

    @property
    def has_photon_times(self) -> bool:
        """True when the file stores photon arrival times (a ``Tau_bins`` header and FLIM
        frames), False for an intensity-only TIFF (no lifetimes, histograms or phasors)."""
        io = self._io()
        if io.tau_bins is None or io.num_frames() == 0:
            return False
        return io.get_frame_metadata([0])[0]["siff_tag"] is not None

    def get_histogram(self, frames=None, framewise: bool = False) -> np.ndarray:
        """Arrival-time histogram (arrival bins), ``uint64 (Tau_bins + 2,)``, pooled over
        ``frames`` (all file frames when None), or ``(n, L)`` per frame with ``framewise``."""
        io = self._io()
        return io.get_histogram_by_frames(frames) if framewise else io.get_histogram(frames)

    def get_histogram_masked(self, mask, frames=None, registration_dict=None) -> np.ndarray:
        """Arrival histograms of the photons inside ``mask``, ``uint64 (n_frames, L)``."""
        return self._io().get_histogram_masked(np.asarray(mask, bool), frames,
                                               self._registration(registration_dict))

    def histograms(self, color_channel=None, frame_endpoints=(None, None)) -> np.ndarray:
        """One pooled arrival histogram per colour, ``uint64 (n_colours, L)``.

        ``color_channel`` is a 0-based colour position (int or list; all when None) and
        ``frame_endpoints`` bounds the frames of each colour, counted in that colour's
        frames (libsiff uses positions, fixing SiffPy's off-by-one on channel numbers)."""
        ip = self.im_params
        colors = range(ip.num_colors) if color_channel is None else (
            [color_channel] if np.ndim(color_channel) == 0 else list(color_channel))
        start, end = frame_endpoints
        out = []
        for c in colors:
            frames = ip.framelist_by_color(int(c))[start:end]
            out.append(self._io().get_histogram(frames))
        return np.stack(out)

    @property
    def flim_params(self):
        """FLIMParams per colour (a tuple) or None; set from an object, list, dict or path."""
        return self._flim_params

    @flim_params.setter
    def flim_params(self, value) -> None:
        from .flim import FLIMParams

        if value is None:
            self._flim_params = None
        elif isinstance(value, (str, os.PathLike)):
            self._flim_params = (FLIMParams.load(value),)
        elif isinstance(value, dict):
            self._flim_params = (FLIMParams.from_dict(value),)
        elif isinstance(value, (list, tuple)):
            self._flim_params = tuple(value)
        else:
            self._flim_params = (value,)

    def get_frames_flim(self, params=None, frames=None, registration_dict=None,
                        confidence_metric="chi_sq", method="empirical lifetime"):
        """Per-pixel lifetime of each frame as a :class:`FlimTrace` ``(n, H, W)``.

        Empirical lifetime: mean arrival bin minus ``params``' IRF offset, in arrival bins
        (``convert_units('nanoseconds')`` for ns); NaN where a pixel has no photon. The
        photon counts are in ``.intensity``."""
        from .flim.trace import FlimTrace

        life, counts, _ = self._io().flim_map(
            params, frames, confidence_metric, method, self._registration(registration_dict))
        return FlimTrace(life, intensity=counts, params=params, method=method,
                         units="countbins", bin_width_ps=self.picoseconds_per_bin)

    def sum_mask_flim(self, mask, params=None, timepoint_start: int = 0,
                      timepoint_end: int | None = None, z_index=None, color_channel: int = 1,
                      registration_dict=None, return_framewise: bool = False,
                      flim_method: str = "empirical lifetime"):
        """Pooled lifetime of the photons in a mask per timepoint (or frame), a FlimTrace.

        Frames and mask shapes as :meth:`sum_mask` (1-based ``color_channel``). Lifetimes in
        arrival bins minus the IRF offset of ``params``; planes of a 3-D mask are pooled
        photon-weighted."""
        if isinstance(mask, list) or (isinstance(mask, np.ndarray) and mask.ndim > 3):
            return self.sum_masks_flim(mask, params, timepoint_start, timepoint_end, z_index,
                                       color_channel, registration_dict, return_framewise,
                                       flim_method)
        mask = np.asarray(mask, dtype=bool)
        trace = self.sum_masks_flim(mask[None], params, timepoint_start, timepoint_end, z_index,
                                    color_channel, registration_dict, return_framewise,
                                    flim_method)[0]
        trace.info_string = "ROI"
        return trace

    def sum_masks_flim(self, masks, params=None, timepoint_start: int = 0,
                       timepoint_end: int | None = None, z_index=None, color_channel: int = 1,
                       registration_dict=None, return_framewise: bool = False,
                       flim_method: str = "empirical lifetime"):
        """:meth:`sum_mask_flim` for several masks in one pass: ``(n_masks, n_timepoints)``."""
        from .flim.trace import FlimTrace

        if isinstance(masks, list):
            masks = np.array(masks).squeeze()
        masks = np.asarray(masks, dtype=bool)
        if masks.ndim == 2:
            return self.sum_mask_flim(masks, params, timepoint_start, timepoint_end, z_index,
                                      color_channel, registration_dict, return_framewise,
                                      flim_method)
        self._check_volume_mask(masks, 1)
        frames = self._mask_frames(timepoint_start, timepoint_end, z_index, color_channel)
        life, counts, _ = self._io().sum_rois_flim(masks, params, frames, flim_method,
                                                   self._registration(registration_dict))
        trace = FlimTrace(life, intensity=counts, params=params, method=flim_method,
                          units="countbins", bin_width_ps=self.picoseconds_per_bin,
                          info_string="Multi-ROIs")
        if return_framewise:
            return trace
        planes = masks.shape[1] if masks.ndim == 4 else 1
        return trace.reshape(masks.shape[0], -1, planes).sum(axis=2)

    def fit_flimparams_to_timepoints(self, timepoint_start: int = 0,
                                     timepoint_end: int | None = None, color_channel: int = 0,
                                     mask=None, initial_guess=None, num_lasers: int = 1,
                                     num_exps: int = 2):
        """Fit a FLIMParams to the pooled histogram of some timepoints of one colour.

        ``color_channel`` is 0-based here (as in SiffPy). The result is stored in slot
        ``color_channel`` of :attr:`flim_params` and returned."""
        from .flim import fit_params_to_data

        frames = self.im_params.flatten_by_timepoints(timepoint_start, timepoint_end,
                                                      color_channel=color_channel)
        if mask is None:
            hist = self._io().get_histogram(frames)
        else:
            hist = self.get_histogram_masked(mask, frames).sum(axis=0)
        params = fit_params_to_data(hist, initial_guess=initial_guess, n_exps=num_exps,
                                    bin_width_ps=self.picoseconds_per_bin)
        slots = list(self._flim_params or ())
        slots += [None] * (color_channel + 1 - len(slots))
        slots[color_channel] = params
        self._flim_params = tuple(slots)
        return params

    # ------------------------------------------------------------------ time
    def get_time(self, frames=None, reference_time: str = "experiment") -> np.ndarray:
        """Time of each frame: seconds since acquisition start (``'experiment'``) or
        nanoseconds since the Unix epoch (``'epoch'``, laser clock corrected for drift
        against the system clock with a linear fit)."""
        io = self._io()
        if reference_time == "experiment":
            return io.get_experiment_timestamps(frames)
        if reference_time != "epoch":
            raise SiffArgumentError("reference_time must be 'experiment' or 'epoch'")
        laser = io.get_epoch_timestamps_laser(frames).astype(np.float64)
        try:
            system = io.get_epoch_timestamps_system(frames).astype(np.float64)
        except SiffIOError:
            return laser
        if len(laser) < 2 or np.ptp(laser) == 0:
            return laser
        slope, intercept = np.polyfit(laser - laser[0], system - laser[0], 1)
        return laser[0] + intercept + slope * (laser - laser[0])

    def t_axis(self, timepoint_start: int = 0, timepoint_end: int | None = None,
               reference_z: int = 0, reference_time: str = "experiment") -> np.ndarray:
        """Time of each timepoint (its frame in plane ``reference_z``, colour 0), seconds."""
        frames = self.im_params.flatten_by_timepoints(timepoint_start, timepoint_end,
                                                      reference_z=reference_z)
        return self.get_time(frames, reference_time)

    @property
    def dt_frame(self) -> float:
        """Frame period in seconds (``RoiManager.scanFramePeriod``, else from timestamps)."""
        value = getattr(getattr(self.im_params, "RoiManager", None), "scanFramePeriod", None)
        if value:
            return float(value)
        t = self.get_time(range(min(self.num_frames, 2)))
        return float(np.diff(t)[0]) if len(t) > 1 else float("nan")

    @property
    def dt_volume(self) -> float:
        """Volume period in seconds (``1 / RoiManager.scanVolumeRate``, else timestamps)."""
        rate = getattr(getattr(self.im_params, "RoiManager", None), "scanVolumeRate", None)
        if rate:
            return 1.0 / float(rate)
        t = self.t_axis(0, 2)
        return float(np.diff(t)[0]) if len(t) > 1 else float("nan")

    def get_appended_text(self, frames=None) -> list[tuple]:
        """Events ``(frame, text, timestamp_s)`` from the frames' descriptions."""
        return self._io().get_appended_text(frames)


def _shift_table(shifts: dict, n_frames: int) -> np.ndarray:
    """``{frame: (dy, dx)}`` -> int64 ``(n_frames, 2)``; absent frames are unshifted."""
    table = np.zeros((n_frames, 2), np.int64)
    if shifts:
        keys = np.fromiter(shifts.keys(), np.int64, len(shifts))
        values = np.array(list(shifts.values()), np.int64).reshape(-1, 2)
        keep = (keys >= 0) & (keys < n_frames)
        table[keys[keep]] = values[keep]
    return table
