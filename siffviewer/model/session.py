"""An open acquisition as the viewer sees it: geometry, frames by (timepoint, plane,
colour), times, metadata. Qt-free; every read goes through libsiff's SiffReader."""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from libsiff import SiffFormatError, SiffReader
from libsiff.registration import default_registration_path

from .header_diff import header_settings


@dataclass(frozen=True)
class Geometry:
    """Axis sizes of a session (flyback frames excluded)."""

    n_timepoints: int
    n_planes: int
    n_colors: int
    height: int
    width: int


class Session:
    """One open file. ``grid[t, z, c]`` is the file frame of timepoint t, plane z, colour c
    (-1 where the file ends before it)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.reader = SiffReader(self.path)
        try:
            self.io = self.reader.siffio
            self.im_params = self.reader.im_params
            self.grid = self.reader.frame_grid()
            if self.grid.size == 0 or (self.grid < 0).all():
                raise SiffFormatError(f"{self.path}: the file holds no complete timepoint")
            T, Z, C = self.grid.shape
            H, W = self.io.frame_shape()
            self.geometry = Geometry(T, Z, C, H, W)
            self._times: np.ndarray | None = None
            self._events: list[tuple] | None = None
            #: the file stores photon arrival times (FLIM frames and a Tau_bins header)
            self.has_flim = self.reader.has_photon_times
        except BaseException:
            self.reader.close()  # no session holds the reader: do not leave the file open
            raise

    def close(self) -> None:
        """Close the acquisition file."""
        self.reader.close()

    def refresh(self) -> int:
        """Re-read a file that is still being written (ScanImage writes while it acquires).

        Returns the number of complete timepoints added (0 when none). Only complete
        timepoints are added, so a half-written frame is never part of the grid. Safe to
        call off the GUI thread: the new grid, times and geometry are built first and then
        swapped in, so a reader of the old ones never sees a mix that indexes past them."""
        self.reader.refresh()
        grid = self.reader.frame_grid()
        added = grid.shape[0] - self.geometry.n_timepoints
        if added <= 0 or grid.shape[1:] != self.grid.shape[1:]:
            return 0
        times = self._times
        if times is not None:  # read only the new frames' timestamps
            n_old = len(times)
            new = self.io.get_experiment_timestamps(list(range(n_old, self.io.num_frames())))
            times = np.concatenate([times, new])
        self._times = times
        self._events = None  # the new frames may carry events
        self.grid = grid
        self.geometry = replace(self.geometry, n_timepoints=grid.shape[0])
        return added

    # ------------------------------------------------------------------ frames
    def frames_for(self, timepoint: int, plane: int, color: int, average: int = 1) -> list[int]:
        """File frames of ``average`` timepoints centred on ``timepoint`` (one plane/colour),
        clipped at both ends of the recording (:func:`.view_state.average_window`)."""
        from .view_state import average_window

        start, stop = average_window(timepoint, average, self.geometry.n_timepoints)
        frames = self.grid[start:stop, plane, color]
        return [int(f) for f in frames if f >= 0]

    def plane_frames(self, plane: int, color: int) -> list[int]:
        """File frames of one plane and colour, every timepoint in order."""
        return [int(f) for f in self.grid[:, plane, color] if f >= 0]

    def volume_frames(self, color: int) -> np.ndarray:
        """File frames of one colour, timepoint-major then plane, over the complete
        timepoints: the i-th frame belongs to plane ``i % n_planes`` (how 3-D masks cycle)."""
        grid = self.grid[:, :, color]
        return grid[(grid >= 0).all(axis=1)].ravel()

    def shifts(self, registered: bool):
        """The per-frame shift table for reads (the registration) or None (raw frames)."""
        return self.reader.shift_table(None if registered else {})

    def read_image(self, timepoint: int, plane: int, color: int, average: int = 1,
                   registered: bool = False) -> np.ndarray:
        """The displayed image in photons: one frame (uint16) or the mean of several (float32),
        ``average`` timepoints centred on ``timepoint``."""
        frames = self.frames_for(timepoint, plane, color, average)
        shifts = self.shifts(registered)
        if len(frames) == 1:
            return self.io.get_frames(frames, registration=shifts)[0]
        total = self.io.sum_frames(frames, registration=shifts)
        return (total / max(1, len(frames))).astype(np.float32)

    def mean_projection(self, plane: int, color: int, registered: bool = False,
                        progress=None, cancel=None, chunk: int = 2000) -> np.ndarray:
        """Mean image of one plane and colour over every timepoint (float32 photons).

        Reads in chunks so that ``progress(done, total)`` and ``cancel() -> bool`` work."""
        from libsiff import SiffCancelled

        frames = self.plane_frames(plane, color)
        reg = self.shifts(registered)
        total = np.zeros((self.geometry.height, self.geometry.width), np.uint64)
        for start in range(0, len(frames), chunk):
            if cancel is not None and cancel():
                raise SiffCancelled("mean projection cancelled")
            total += self.io.sum_frames(frames[start:start + chunk], registration=reg)
            if progress is not None:
                progress(min(start + chunk, len(frames)), len(frames))
        return (total / max(1, len(frames))).astype(np.float32)

    # ------------------------------------------------------------------ time
    def times(self) -> np.ndarray:
        """Experiment time (s) of every file frame (read once, on first use)."""
        if self._times is None:
            self._times = self.io.get_experiment_timestamps()
        return self._times

    def frame_time(self, timepoint: int, plane: int, color: int) -> float:
        """Time (s) of the frame at (timepoint, plane, colour); NaN if there is none."""
        frame = int(self.grid[timepoint, plane, color])
        return float(self.times()[frame]) if frame >= 0 else float("nan")

    def timepoint_times(self, plane: int = 0, color: int = 0) -> np.ndarray:
        """Time (s) of each timepoint, taken from its frame in ``plane`` and ``color``."""
        frames = self.grid[:, plane, color]
        t = np.full(len(frames), np.nan)
        ok = frames >= 0
        t[ok] = self.times()[frames[ok]]
        return t

    # ------------------------------------------------------------------ metadata
    def events(self) -> list[tuple]:
        """Events ``(frame, text, timestamp_s)`` the frames' descriptions carry, read once
        (again after :meth:`refresh` adds frames); [] when they cannot be read."""
        events = self._events
        if events is None:
            try:
                events = list(self.io.get_appended_text())
            except Exception:  # noqa: BLE001 - events are optional decoration
                events = []
            self._events = events
        return events

    def description(self, frame: int) -> str:
        """The description text of file frame ``frame``."""
        return self.io.get_description(frame)

    def roi_json(self) -> str:
        """The ROI-group JSON, pretty-printed when it parses."""
        text = self.io.get_file_header()["ROI string"]
        try:
            return json.dumps(json.loads(text), indent=2)
        except ValueError:
            return text

    def header_settings(self) -> dict[str, str]:
        """Every ``SI.*`` setting as ``{key: value text}``, in file order."""
        return header_settings(self.io.get_file_header())

    def summary(self) -> dict[str, str]:
        """Human-readable facts for the summary panel."""
        ip, g, io = self.im_params, self.geometry, self.io
        def get(obj, name, default=None):
            try:
                return getattr(obj, name)
            except Exception:  # noqa: BLE001 - a header without the key
                return default
        roi = get(ip, "RoiManager")
        rate = get(roi, "scanFrameRate")
        vol_rate = get(roi, "scanVolumeRate")
        zoom = get(ip, "zoom")
        ps = get(ip, "picoseconds_per_bin")
        start = ""
        try:
            ns = int(io.get_epoch_timestamps_laser([int(self.grid[0, 0, 0])])[0])
            start = _dt.datetime.fromtimestamp(ns / 1e9, _dt.timezone.utc).astimezone() \
                .strftime("%Y-%m-%d %H:%M:%S %Z")
        except Exception:  # noqa: BLE001 - timestamps are optional for the summary
            start = "unknown"
        duration = self.times()[-1] - self.times()[0] if io.num_frames() > 1 else 0.0
        return {
            "File": self.path.name,
            "Size": f"{self.path.stat().st_size / 1e6:,.1f} MB",
            "Frames in file": f"{io.num_frames():,}",
            "Frame size": f"{g.height} × {g.width} pixels (rows × columns)",
            "Timepoints": f"{g.n_timepoints:,}",
            "Planes": str(g.n_planes),
            "Colour channels": f"{g.n_colors} (saved channels {get(ip, 'colors')})",
            "Flyback planes per volume": str(
                (get(ip, "num_discard_flyback_frames", 0) or 0) // max(1, g.n_colors)
                if get(ip, "discard_frames", False) else 0),
            "Frame rate": f"{float(rate):.2f} Hz" if rate else "unknown",
            "Volume rate": f"{float(vol_rate):.3f} Hz" if vol_rate else "unknown",
            "Zoom": f"{zoom}" if zoom is not None else "unknown",
            "Arrival bins": f"{get(ip, 'num_bins')} × {ps} ps" if ps else "no FLIM header",
            "Duration": f"{duration:.1f} s",
            "Acquisition start": start,
            "Registration": "loaded" if self.reader.registration_or_none is not None else "none",
        }

    # ------------------------------------------------------------------ registration
    @property
    def registration(self):
        """The current RegistrationInfo, or None."""
        return self.reader.registration_or_none

    def compute_registration(self, method: str = "siffpy", alignment_color: int = 0,
                             progress=None, cancel=None):
        """Run a registration and return it without applying it (safe off the GUI thread).

        A cancelled run raises SiffCancelled; the current registration stays in place."""
        from libsiff.registration import register_frames

        info = register_frames(self.io, self.grid, alignment_color=alignment_color,
                               method=method, progress=progress, cancel=cancel)
        info.filename = str(self.path)
        return info

    def apply_registration(self, info) -> Path | None:
        """Use ``info`` for every later read and save it next to the file (None if that failed)."""
        self.reader.registration_info = info
        try:
            return info.save()
        except OSError:
            return None

    # ------------------------------------------------------------------ FLIM
    def flim_params_for(self, color: int):
        """The FLIMParams used for ``color`` (from a fit or a loaded file), or None."""
        params = self.reader.flim_params or ()
        return params[color] if color < len(params) else None

    def set_flim_params(self, color: int, params) -> None:
        """Use ``params`` (FLIMParams or None) for colour position ``color``."""
        slots = list(self.reader.flim_params or ())
        slots += [None] * (color + 1 - len(slots))
        slots[color] = params
        self.reader.flim_params = tuple(slots)

    def registration_text(self) -> str:
        """One line describing the registration in use ("none" without one)."""
        info = self.registration
        if info is None:
            return "none"
        return (f"{info.registration_type.value} rigid shifts, aligned on channel "
                f"{info.registration_color_channel}, file "
                f"{default_registration_path(self.path).name}")

    def flim_text(self, params) -> str:
        """``params`` as JSON text, or a note that lifetimes are mean arrival times."""
        if params is None:
            return "none (lifetime = mean arrival time)"
        return json.dumps(params.to_dict(), default=float)
