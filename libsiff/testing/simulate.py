"""Realistic synthetic ScanImage-FLIM acquisitions, written with :class:`SiffWriter`.

:func:`simulate` draws a multi-plane, multi-colour time series of photon frames
from a structured sample (cell bodies with a dim nucleus, dendrite-like
processes, neuropil haze), moves it rigidly over time, and writes a ``.siff``
with a consistent ScanImage header. It returns a :class:`GroundTruth` holding
everything a reader should find in the file.

Photon model, per frame of plane ``s`` and colour ``c``:
``counts ~ Poisson(roll(image[s, c], motion) * photons_per_pixel) + Poisson(background)``.
Signal photons arrive at ``IRF offset + N(0, sigma) + Exp(tau_k)`` (component ``k``
drawn with the colour's fractions); background photons arrive uniformly over the
laser period. Times become bins as ``floor(t / bin_ps) % tau_bins``.

Everything is vectorised over batches of frames and seeded, so a spec always
gives byte-identical files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.ndimage import shift as spline_shift

from ..constants import bin_width_ps_from_bin_resolution
from ..writer import SiffWriter, build_nvfd, build_roi_json, make_description
from .photons import _arrival_bins, _lifetime_table, simulate_histogram
from .sample import _MOTIONS, motion_shifts, sample_images

__all__ = ["SimulationSpec", "GroundTruth", "simulate", "simulate_histogram",
           "sample_images", "motion_shifts", "frame_table"]

_ENCODINGS = ("raw", "compressed", "auto", "mixed", "tiff")
_BATCH_PIXELS = 1 << 22  # pixels generated per batch of frames


@dataclass
class SimulationSpec:
    """Settings of a synthetic acquisition (frames are (height, width) = (H, W)).

    ``taus_ns``/``fracs``: lifetimes (ns) and their fractions, either one tuple
    used for every colour (``(2.5,)``, ``(0.5, 3.0)``) or one tuple per colour
    (``((0.5, 3.0), (2.5,))``); ``fracs`` likewise (``((0.3, 0.7), (1.0,))``),
    None meaning equal fractions.
    ``flyback_planes`` FastZ flyback frames per volume (and colour) hold
    ``flyback_level`` times the mean plane image plus background.
    ``motion`` is one of "none", "drift", "jumps", "jitter" (integer shifts up
    to ``max_shift_px``, one per timepoint, shared by every plane and colour);
    ``subpixel_motion`` makes them real-valued (images moved by cubic-spline
    interpolation; ``GroundTruth.subpixel_shifts`` holds them).
    ``encoding`` is "raw", "compressed", "auto", "mixed" (random raw/compressed
    per frame) or "tiff" (plain uint16 frames, no photons). Zero-photon frames
    are always raw. ``events`` lists ``(frame, text)`` appended-text events,
    with ``Text timestamp`` written per ``event_timestamp_mode``.
    """

    height: int = 128
    width: int = 256
    slices: int = 3
    frames_per_slice: int = 1
    flyback_planes: int = 1
    colors: int = 2
    timepoints: int = 20
    tau_bins: int = 629
    bin_resolution: int = 2
    taus_ns: tuple = ((0.5, 3.0), (2.5,))
    fracs: tuple | None = None
    irf_offset_ns: float = 1.2
    irf_sigma_ns: float = 0.12
    photons_per_pixel: float = 1.0
    background: float = 0.02
    flyback_level: float = 0.05
    motion: str = "jitter"
    max_shift_px: int = 4
    subpixel_motion: bool = False
    encoding: str = "auto"
    shuffle_raw: bool = False
    frame_rate_hz: float = 30.0
    events: Sequence[tuple[int, str]] = ()
    event_timestamp_mode: str = "present"
    system_timestamps: bool = True
    start_epoch_ns: int = 1713382945000000000
    bigtiff: bool = True
    keep_photons: bool = True
    seed: int = 0

    @property
    def bin_width_ps(self) -> int:
        """Arrival-bin width: 5 ps * 2**bin_resolution."""
        return bin_width_ps_from_bin_resolution(self.bin_resolution)

    @property
    def frames_per_volume(self) -> int:
        """File frames per timepoint, flyback included: (S*R + Fb) * C."""
        return (self.slices * self.frames_per_slice + self.flyback_planes) * self.colors

    @property
    def n_frames(self) -> int:
        """Total number of frames in the file."""
        return self.timepoints * self.frames_per_volume

    def validate(self) -> None:
        """Raise ValueError for inconsistent settings."""
        positive = ("height", "width", "slices", "frames_per_slice", "colors", "timepoints",
                    "tau_bins", "frame_rate_hz")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.flyback_planes < 0 or self.bin_resolution < 0 or self.max_shift_px < 0:
            raise ValueError("flyback_planes, bin_resolution and max_shift_px must be >= 0")
        if self.height > 65536 or self.width > 65536 or self.tau_bins > 65536:
            raise ValueError("height, width and tau_bins must be <= 65536")
        if self.motion not in _MOTIONS:
            raise ValueError(f"motion must be one of {_MOTIONS}")
        if self.encoding not in _ENCODINGS:
            raise ValueError(f"encoding must be one of {_ENCODINGS}")
        if min(self.photons_per_pixel, self.background, self.flyback_level) < 0:
            raise ValueError("photon rates must be >= 0")
        for frame, text in self.events:
            if not 0 <= frame < self.n_frames:
                raise ValueError(f"event frame {frame} outside 0..{self.n_frames - 1}")
            if "\n" in text:
                raise ValueError("event text must be a single line")
        _lifetime_table(self.taus_ns, self.fracs, self.colors)


@dataclass
class GroundTruth:
    """What :func:`simulate` wrote. Arrays are indexed by file frame (n frames).

    ``shifts[i] = (dy, dx)`` undoes frame i's motion: ``np.roll(frame, (dy, dx),
    axis=(0, 1))`` realigns it with ``truth_images`` (with sub-pixel motion: to the
    nearest pixel; ``subpixel_shifts`` holds the exact values). ``plane`` is -1 for flyback
    frames; ``repeat`` is the frame-per-slice index (the flyback index for
    flyback frames). Photons are concatenated in file order and split by
    ``photon_offsets``; TIFF frames hold none (their pixels are in ``intensity``),
    and the arrays are empty (offsets all 0) when ``spec.keep_photons`` is False.
    ``encoding``: 0 raw, 1 compressed, 2 TIFF. ``epoch_system`` is 0 when
    ``has_system_timestamps`` is False. ``appended_timestamp_state``: 1 present,
    0 blank, -1 line absent (``appended_timestamps`` is NaN unless present).
    """

    path: Path
    spec: SimulationSpec
    intensity: np.ndarray
    photon_y: np.ndarray
    photon_x: np.ndarray
    photon_tau: np.ndarray
    photon_offsets: np.ndarray
    encoding: np.ndarray
    shifts: np.ndarray
    plane: np.ndarray
    repeat: np.ndarray
    color: np.ndarray
    timepoint: np.ndarray
    experiment_timestamps: np.ndarray
    epoch_laser: np.ndarray
    epoch_system: np.ndarray
    has_system_timestamps: bool
    sync_stamps: np.ndarray
    appended_frames: np.ndarray
    appended_text: list[str]
    appended_timestamps: np.ndarray
    appended_timestamp_state: np.ndarray
    descriptions: list[str]
    nvfd: str
    roi_string: str
    truth_images: np.ndarray
    taus_ns: np.ndarray
    fracs: np.ndarray
    irf_offset_ns: float
    irf_sigma_ns: float
    tau_bins: int
    bin_width_ps: int
    ifd_offsets: np.ndarray
    description_offsets: np.ndarray
    strip_offsets: np.ndarray
    strip_byte_counts: np.ndarray
    subpixel_shifts: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        """Number of frames in the file."""
        return int(self.encoding.size)

    @property
    def shape(self) -> tuple[int, int]:
        """Frame shape (H, W)."""
        return int(self.intensity.shape[1]), int(self.intensity.shape[2])

    @property
    def flyback(self) -> np.ndarray:
        """Boolean mask of flyback frames."""
        return self.plane < 0

    @property
    def laser_period_ns(self) -> float:
        """Laser period used for wrapping: tau_bins * bin width."""
        return self.tau_bins * self.bin_width_ps / 1000.0

    def registration(self, frames: Sequence[int] | None = None) -> dict[int, tuple[int, int]]:
        """``{frame: (dy, dx)}`` with Python ints, as corrosiffpy's ``registration`` wants."""
        frames = range(self.n_frames) if frames is None else frames
        return {int(f): (int(self.shifts[f, 0]), int(self.shifts[f, 1])) for f in frames}

    def photons(self, frame: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(y, x, tau)`` of one frame, in file order."""
        sl = slice(int(self.photon_offsets[frame]), int(self.photon_offsets[frame + 1]))
        return self.photon_y[sl], self.photon_x[sl], self.photon_tau[sl]


def frame_table(spec: SimulationSpec) -> dict[str, np.ndarray]:
    """Per-frame (timepoint, plane, repeat, colour) in SiffPy order.

    ``frame = v*(S*R + Fb)*C + (s*R + r)*C + c``; the last ``Fb*C`` frames of each
    volume are flyback frames (plane -1, repeat = flyback index).
    """
    s_r = spec.slices * spec.frames_per_slice
    f = np.arange(spec.n_frames)
    within = f % spec.frames_per_volume
    slot = within // spec.colors
    flyback = slot >= s_r
    return {
        "timepoint": f // spec.frames_per_volume,
        "color": within % spec.colors,
        "plane": np.where(flyback, -1, slot // spec.frames_per_slice),
        "repeat": np.where(flyback, slot - s_r, slot % spec.frames_per_slice),
    }


# ---------------------------------------------------------------------- header

def _header_settings(spec: SimulationSpec) -> dict:
    """ScanImage keys that make the header describe this acquisition (docs/compatibility.md §1.7)."""
    s, r, fb, c = spec.slices, spec.frames_per_slice, spec.flyback_planes, spec.colors
    step = 5.0
    zs = [step * i for i in range(s)]
    fast_z = s > 1 or fb > 0
    channels = list(range(1, c + 1))
    frames_per_volume = s * r + fb
    return {
        "SI.hChannels.channelSave": channels,
        "SI.hChannels.channelsActive": channels,
        "SI.hChannels.channelDisplay": channels,
        "SI.hFastZ.enable": fast_z,
        "SI.hFastZ.discardFlybackFrames": fb > 0,
        "SI.hFastZ.numDiscardFlybackFrames": fb,
        "SI.hFastZ.position": zs[0],
        "SI.hStackManager.enable": s > 1 or r > 1,
        "SI.hStackManager.stackMode": "fast" if fast_z else "slow",
        "SI.hStackManager.numSlices": s,
        "SI.hStackManager.actualNumSlices": s,
        "SI.hStackManager.framesPerSlice": r,
        "SI.hStackManager.numVolumes": spec.timepoints,
        "SI.hStackManager.actualNumVolumes": spec.timepoints,
        "SI.hStackManager.numFramesPerVolume": s * r,
        "SI.hStackManager.numFramesPerVolumeWithFlyback": frames_per_volume,
        "SI.hStackManager.stackZStartPos": zs[0],
        "SI.hStackManager.stackZEndPos": zs[-1],
        "SI.hStackManager.stackZStepSize": step,
        "SI.hStackManager.actualStackZStepSize": step,
        "SI.hStackManager.zPowerReference": zs[0],
        "SI.hStackManager.zs": zs,
        "SI.hStackManager.zsRelative": zs,
        "SI.hStackManager.zsAllActuators": zs,
        "SI.hRoiManager.pixelsPerLine": spec.width,
        "SI.hRoiManager.linesPerFrame": spec.height,
        "SI.hRoiManager.mroiEnable": False,
        "SI.hRoiManager.scanFrameRate": spec.frame_rate_hz,
        "SI.hRoiManager.scanFramePeriod": 1.0 / spec.frame_rate_hz,
        "SI.hRoiManager.scanVolumeRate": spec.frame_rate_hz / frames_per_volume,
        "SI.hRoiManager.linePeriod": 1.0 / (spec.frame_rate_hz * spec.height),
        "SI.hScan2D.hAcq.Tau_bins": spec.tau_bins,
        "SI.hScan2D.hAcq.binResolution": spec.bin_resolution,
    }


# ---------------------------------------------------------------------- timing

def _timing(spec: SimulationSpec, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Timestamps per frame: colours of one scan share them; flyback frames take scan time."""
    acq = np.arange(spec.n_frames) // spec.colors
    t = np.round((acq + 1) / spec.frame_rate_hz, 6)
    laser_hz = 1e12 / (spec.tau_bins * spec.bin_width_ps)
    # The PC clock (mostRecentSystemTimestamp_epoch) is refreshed about once a second.
    tick = np.floor(t).astype(np.int64)
    tick_jitter = rng.integers(-2_000_000, 2_000_000, size=int(tick.max()) + 1)
    return {
        "t": t,
        "epoch_laser": (spec.start_epoch_ns + np.round(t * 1e9).astype(np.int64)).astype(np.uint64),
        "sync": np.round(t * laser_hz).astype(np.uint64),
        "epoch_system": (spec.start_epoch_ns - 415_000_000 + tick * 1_000_000_000
                         + tick_jitter[tick]).astype(np.uint64),
    }


def _descriptions(spec: SimulationSpec, timing: dict, rng: np.random.Generator):
    """Frame descriptions and the event truth."""
    events = sorted((int(f), str(text)) for f, text in spec.events)
    by_frame = dict(events)
    if len(by_frame) != len(events):
        raise ValueError("at most one event per frame")
    mode = spec.event_timestamp_mode
    state = {"present": 1, "blank": 0, "absent": -1}[mode]
    ev_times = {f: float(np.round(timing["t"][f] + rng.uniform(0, 1 / spec.frame_rate_hz), 6))
                for f in by_frame}
    descriptions = []
    for i in range(spec.n_frames):
        descriptions.append(make_description(
            frame_number=i // spec.colors + 1,
            timestamp_s=timing["t"][i],
            epoch_ns=int(timing["epoch_laser"][i]),
            system_epoch_ns=int(timing["epoch_system"][i]) if spec.system_timestamps else None,
            sync_stamp=int(timing["sync"][i]),
            appended_text=by_frame.get(i),
            text_timestamp=ev_times.get(i),
            text_timestamp_mode=mode,
            end_of_acquisition=i == spec.n_frames - 1,
        ))
    frames = np.array([f for f, _ in events], dtype=np.int64)
    truth = {
        "appended_frames": frames,
        "appended_text": [t for _, t in events],
        "appended_timestamps": np.array([ev_times[f] if state == 1 else np.nan for f in frames]),
        "appended_timestamp_state": np.full(frames.size, state, dtype=np.int8),
    }
    return descriptions, truth


# ------------------------------------------------------------------ main entry

def _expected_images(spec, truth, table, motion, frames) -> np.ndarray:
    """Mean signal photons per pixel for a batch of frames, (F, H, W)."""
    mean_plane = truth.mean(axis=0)
    out = np.empty((len(frames), spec.height, spec.width))
    for k, f in enumerate(frames):
        s, c = table["plane"][f], table["color"][f]
        image = truth[s, c] if s >= 0 else spec.flyback_level * mean_plane[c]
        shift = motion[table["timepoint"][f]]
        if motion.dtype.kind == "f":
            out[k] = np.clip(spline_shift(image, shift, order=3, mode="grid-wrap"), 0, None)
        else:
            out[k] = np.roll(image, tuple(shift), axis=(0, 1))
    return out * spec.photons_per_pixel


def simulate(path, spec: SimulationSpec | None = None) -> GroundTruth:
    """Write a synthetic acquisition to ``path`` and return its :class:`GroundTruth`."""
    spec = SimulationSpec() if spec is None else spec
    spec.validate()
    rng = np.random.default_rng(spec.seed)
    h, w, n = spec.height, spec.width, spec.n_frames
    truth = sample_images(rng, spec.slices, spec.colors, h, w)
    table = frame_table(spec)
    motion = motion_shifts(rng, spec.motion, spec.timepoints, spec.max_shift_px,
                           spec.subpixel_motion)
    taus, weights = _lifetime_table(spec.taus_ns, spec.fracs, spec.colors)
    timing = _timing(spec, rng)
    descriptions, events = _descriptions(spec, timing, rng)
    nvfd = build_nvfd(**_header_settings(spec))
    roi = build_roi_json(h, w)

    intensity = np.empty((n, h, w), dtype=np.uint16)
    photons: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    n_photons = np.zeros(n, dtype=np.int64)
    batch = max(1, _BATCH_PIXELS // (h * w))
    with SiffWriter(path, nvfd, roi, bigtiff=spec.bigtiff) as writer:
        for start in range(0, n, batch):
            frames = np.arange(start, min(start + batch, n))
            lam = _expected_images(spec, truth, table, motion, frames)
            signal = rng.poisson(lam)
            counts = signal + _background_counts(rng, spec.background, lam.shape)
            if counts.max(initial=0) > 65535:
                raise ValueError("more than 65535 photons in a pixel: lower photons_per_pixel")
            intensity[frames] = counts
            if spec.encoding == "tiff":
                for f in frames:
                    writer.add_tiff_frame(intensity[f], descriptions[f])
                continue
            batch_photons = _draw_photons(rng, spec, counts, signal, table["color"][frames],
                                          taus, weights)
            for f, frame_photons in zip(frames, batch_photons):
                kept = _write_photon_frame(writer, rng, spec, frame_photons, descriptions[f])
                n_photons[f] = kept[0].size
                if spec.keep_photons:
                    photons.append(kept)
    return _ground_truth(path, spec, intensity, photons, n_photons, writer.layout, motion, table,
                         timing, descriptions, events, nvfd, roi, truth, taus, weights)


def _frame_encoding(spec: SimulationSpec, rng: np.random.Generator, n_photons: int) -> str:
    """The encoding of the next frame: the spec's, a coin flip for "mixed", raw if empty."""
    if spec.encoding == "raw" or (spec.encoding == "mixed" and rng.random() < 0.5):
        encoding = "raw"
    else:
        encoding = "auto" if spec.encoding == "auto" else "compressed"
    return "raw" if n_photons == 0 else encoding


def _write_photon_frame(writer: SiffWriter, rng: np.random.Generator, spec: SimulationSpec,
                        frame_photons, description: str):
    """Write one frame of ``(y, x, tau)`` photons; returns them in file order."""
    y, x, tau = frame_photons
    encoding = _frame_encoding(spec, rng, y.size)
    if encoding == "raw" and spec.shuffle_raw:
        order = rng.permutation(y.size)
        y, x, tau = y[order], x[order], tau[order]
    writer.add_frame(y, x, tau, (spec.height, spec.width), encoding, description)
    return y, x, tau


def _ground_truth(path, spec, intensity, photons, n_photons, layout, motion, table, timing,
                  descriptions, events, nvfd, roi, truth, taus, weights) -> GroundTruth:
    """Everything :func:`simulate` wrote, as a :class:`GroundTruth`."""
    n = spec.n_frames

    def cat(i, dtype):
        if not photons:
            return np.zeros(0, dtype)
        return np.concatenate([p[i] for p in photons]).astype(dtype)

    return GroundTruth(
        path=Path(path), spec=spec, intensity=intensity,
        photon_y=cat(0, np.uint16), photon_x=cat(1, np.uint16), photon_tau=cat(2, np.uint32),
        photon_offsets=np.concatenate([[0], np.cumsum(n_photons)]) if spec.keep_photons
        else np.zeros(n + 1, dtype=np.int64),
        encoding=np.array([fl.encoding for fl in layout], dtype=np.uint8),
        shifts=-np.round(motion[table["timepoint"]]).astype(np.int64),
        subpixel_shifts=-motion[table["timepoint"]].astype(np.float64),
        plane=table["plane"], repeat=table["repeat"], color=table["color"],
        timepoint=table["timepoint"],
        experiment_timestamps=timing["t"], epoch_laser=timing["epoch_laser"],
        epoch_system=timing["epoch_system"] if spec.system_timestamps else np.zeros(n, np.uint64),
        has_system_timestamps=spec.system_timestamps, sync_stamps=timing["sync"],
        descriptions=descriptions, nvfd=nvfd, roi_string=roi, truth_images=truth,
        taus_ns=taus, fracs=weights, irf_offset_ns=spec.irf_offset_ns,
        irf_sigma_ns=spec.irf_sigma_ns, tau_bins=spec.tau_bins, bin_width_ps=spec.bin_width_ps,
        ifd_offsets=np.array([fl.ifd_offset for fl in layout], dtype=np.uint64),
        description_offsets=np.array([fl.description_offset for fl in layout], dtype=np.uint64),
        strip_offsets=np.array([fl.strip_offset for fl in layout], dtype=np.uint64),
        strip_byte_counts=np.array([fl.strip_byte_count for fl in layout], dtype=np.uint64),
        **events,
    )


def _background_counts(rng: np.random.Generator, rate: float, shape: tuple) -> np.ndarray:
    """Independent Poisson(rate) counts per pixel, drawn as a Poisson total scattered uniformly."""
    n_pixels = int(np.prod(shape))
    total = rng.poisson(rate * n_pixels)
    return np.bincount(rng.integers(0, n_pixels, total), minlength=n_pixels).reshape(shape)


def _draw_photons(rng, spec, counts, signal, colors, taus, weights):
    """Photons of a batch of frames in scan order: list of (y u16, x u16, tau u32) per frame."""
    f_n, h, w = counts.shape
    flat = counts.reshape(-1)
    total = int(flat.sum())
    pixel = np.repeat(np.arange(flat.size), flat)
    first = np.cumsum(flat) - flat
    # The first `signal` photons of a pixel are signal photons, the rest background.
    rank = np.arange(total) - first[pixel]
    is_signal = rank < signal.reshape(-1)[pixel]
    frame = pixel // (h * w)
    tau = _arrival_bins(rng, colors[frame], is_signal, taus, weights, spec.irf_offset_ns,
                        spec.irf_sigma_ns, spec.tau_bins, spec.bin_width_ps)
    within = pixel % (h * w)
    y = (within // w).astype(np.uint16)
    x = (within % w).astype(np.uint16)
    bounds = np.searchsorted(frame, np.arange(f_n + 1))
    return [(y[a:b], x[a:b], tau[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
