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
from scipy.ndimage import gaussian_filter

from .writer import (SiffWriter, build_nvfd, build_roi_json, make_description)

__all__ = ["SimulationSpec", "GroundTruth", "simulate", "simulate_histogram",
           "sample_images", "motion_shifts", "frame_table"]

_MOTIONS = ("none", "drift", "jumps", "jitter")
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
        return 5 * 2 ** int(self.bin_resolution)

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
    nearest pixel; ``subpixel_shifts`` holds the exact real values). ``plane`` is -1 for flyback
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


# ----------------------------------------------------------- sample and motion

def _stamp(img: np.ndarray, cy: float, cx: float, patch: np.ndarray) -> None:
    """Add ``patch`` centred at (cy, cx) into ``img`` with periodic wrap."""
    h, w = img.shape
    ry, rx = patch.shape[0] // 2, patch.shape[1] // 2
    ys = (int(round(cy)) + np.arange(-ry, ry + 1)) % h
    xs = (int(round(cx)) + np.arange(-rx, rx + 1)) % w
    img[np.ix_(ys, xs)] += patch


def _cell_patch(radius: float, elong: float, angle: float, limit: tuple[int, int]) -> np.ndarray:
    """Soma profile: flat-topped ellipse with a dimmer nucleus."""
    r = int(np.ceil(2.2 * radius * max(elong, 1.0)))
    ry, rx = min(r, (limit[0] - 1) // 2), min(r, (limit[1] - 1) // 2)
    yy, xx = np.mgrid[-ry:ry + 1, -rx:rx + 1].astype(float)
    ca, sa = np.cos(angle), np.sin(angle)
    u, v = (ca * xx + sa * yy) / elong, -sa * xx + ca * yy
    d = np.hypot(u, v) / radius
    return np.exp(-d ** 4) * (1.0 - 0.55 * np.exp(-(d / 0.45) ** 2))


def _dendrites(rng: np.random.Generator, h: int, w: int, n: int) -> np.ndarray:
    """Smooth random curves with varicosities, drawn as a blurred line density."""
    img = np.zeros(h * w)
    n_steps = int(2.4 * max(h, w))  # half-pixel steps: curves about 1.2x the frame size
    for _ in range(n):
        angle = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.06, n_steps))
        y = rng.uniform(0, h) + np.cumsum(0.5 * np.sin(angle))
        x = rng.uniform(0, w) + np.cumsum(0.5 * np.cos(angle))
        beads = 0.6 + 0.4 * np.sin(np.cumsum(rng.uniform(0.05, 0.3, n_steps))) ** 8
        idx = (np.round(y).astype(int) % h) * w + np.round(x).astype(int) % w
        img += np.bincount(idx, weights=beads * rng.uniform(0.5, 1.0), minlength=h * w)
    img = gaussian_filter(img.reshape(h, w), 0.8, mode="wrap")
    return img / img.max() if img.max() > 0 else img


def sample_images(rng: np.random.Generator, slices: int, colors: int, height: int,
                  width: int) -> np.ndarray:
    """Structured sample per plane and colour, float64 (S, C, H, W) in [0, 1].

    Each plane has its own cells (elliptic somata, random expression level per
    colour), dendrite-like processes and a smooth neuropil haze. Colour 0 is the
    bright activity channel; further colours weight the parts differently, like
    a structural marker.
    """
    h, w = height, width
    out = np.empty((slices, colors, h, w))
    n_cells = max(2, int(round(h * w / 700)))
    base_r = max(1.2, 0.035 * min(h, w) + 1.5)
    for s in range(slices):
        cells = np.zeros((colors, h, w))
        for _ in range(n_cells):
            patch = _cell_patch(base_r * rng.uniform(0.7, 1.3), rng.uniform(1.0, 1.5),
                                rng.uniform(0, np.pi), (h, w))
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            for c, level in enumerate(rng.uniform(0.35, 1.0, colors)):
                _stamp(cells[c], cy, cx, level * patch)
        cells = np.minimum(cells, 1.0)
        dend = _dendrites(rng, h, w, int(rng.integers(2, 6)))
        haze = gaussian_filter(rng.random((h, w)), max(h, w) / 16, mode="wrap")
        haze = (haze - haze.min()) / max(np.ptp(haze), 1e-12)
        for c in range(colors):
            dend_w, haze_w = (0.55, 0.12) if c == 0 else (0.3, 0.06)
            out[s, c] = np.clip(cells[c] + dend_w * dend + haze_w * (0.3 + haze), 0.0, 1.0)
    return out


def motion_shifts(rng: np.random.Generator, kind: str, timepoints: int,
                  max_shift: int, subpixel: bool = False) -> np.ndarray:
    """Sample displacement per timepoint, int (T, 2) (dy, dx), |values| <= max_shift.

    The frame at timepoint t is ``np.roll(sample, motion[t])``; ``-motion[t]`` undoes it.
    With ``subpixel`` the values are real (float64) and the sample moves continuously.
    """
    m = int(max_shift)
    if kind == "none" or m == 0:
        return np.zeros((timepoints, 2), dtype=np.float64 if subpixel else np.int64)
    if kind == "jitter":
        if subpixel:
            return rng.uniform(-m, m, size=(timepoints, 2))
        return rng.integers(-m, m + 1, size=(timepoints, 2))
    if kind == "drift":
        direction = rng.normal(size=2)
        direction *= m / np.abs(direction).max()
        frac = np.linspace(0.0, 1.0, timepoints)[:, None]
        return frac * direction if subpixel else np.round(frac * direction).astype(np.int64)
    if kind == "jumps":
        jumps = np.zeros(timepoints, dtype=bool)
        jumps[1:] = rng.random(timepoints - 1) < 0.15
        if timepoints > 1 and not jumps.any():
            jumps[timepoints // 2] = True
        levels = (rng.uniform(-m, m, size=(timepoints, 2)) if subpixel
                  else rng.integers(-m, m + 1, size=(timepoints, 2)))
        levels[0] = 0
        return levels[np.cumsum(jumps)]
    raise ValueError(f"motion must be one of {_MOTIONS}, not {kind!r}")


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


# --------------------------------------------------------------- arrival times

def _lifetime_table(taus_ns, fracs, colors: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-colour lifetimes and fractions padded to (C, K) arrays (fractions sum to 1)."""
    def per_color(value):
        if value is None:
            return [None] * colors
        value = list(value)
        if value and np.isscalar(value[0]):
            return [tuple(value)] * colors
        return [tuple(value[c % len(value)]) for c in range(colors)]

    taus_c, fracs_c = per_color(taus_ns), per_color(fracs)
    k = max(len(t) for t in taus_c)
    taus = np.zeros((colors, k))
    weights = np.zeros((colors, k))
    for c, (t, fr) in enumerate(zip(taus_c, fracs_c)):
        fr = np.full(len(t), 1.0 / len(t)) if fr is None else np.asarray(fr, dtype=float)
        if len(t) == 0 or fr.shape != (len(t),) or np.any(fr < 0) or fr.sum() <= 0:
            raise ValueError(f"colour {c}: lifetimes {t} and fractions {tuple(fr)} do not match")
        if np.any(np.asarray(t) <= 0):
            raise ValueError(f"colour {c}: lifetimes must be positive")
        taus[c, :len(t)] = t
        weights[c, :len(t)] = fr / fr.sum()
    return taus, weights


def _arrival_bins(rng: np.random.Generator, color: np.ndarray, is_signal: np.ndarray,
                  taus_ns: np.ndarray, weights: np.ndarray, irf_offset_ns: float,
                  irf_sigma_ns: float, tau_bins: int, bin_ps: float) -> np.ndarray:
    """Arrival bins (uint32) for photons of the given colours.

    Signal photons of colour ``c`` arrive at ``IRF offset + N(0, sigma) +
    Exp(taus_ns[c, k])``, with ``k`` drawn with ``weights[c]``; background
    photons (``~is_signal``) arrive uniformly over the laser period.
    """
    f32 = np.float32
    t_ps = np.empty(is_signal.size, dtype=f32)
    background = np.flatnonzero(~is_signal)
    t_ps[background] = rng.random(background.size, dtype=f32) * f32(tau_bins * bin_ps)
    for c in range(taus_ns.shape[0]):
        idx = np.flatnonzero(is_signal & (color == c))
        if idx.size == 0:
            continue
        t = rng.standard_normal(idx.size, dtype=f32)
        t *= f32(1000.0 * irf_sigma_ns)
        t += f32(1000.0 * irf_offset_ns)
        decay = rng.standard_exponential(idx.size, dtype=f32)
        components = np.flatnonzero(weights[c] > 0)
        if components.size == 1:
            decay *= f32(1000.0 * taus_ns[c, components[0]])
        else:
            u = rng.random(idx.size, dtype=f32)
            comp = np.zeros(idx.size, dtype=np.intp)
            for edge in np.cumsum(weights[c])[:-1]:
                comp += u >= edge
            decay *= (1000.0 * taus_ns[c]).astype(f32)[comp]
        t += decay
        t_ps[idx] = t
    bins = np.floor(t_ps / f32(bin_ps)).astype(np.int64)
    return (bins % tau_bins).astype(np.uint32)


def simulate_histogram(n_photons: int, taus_ns: Sequence[float], fracs: Sequence[float] | None,
                       irf_offset_ns: float, irf_sigma_ns: float, tau_bins: int, bin_ps: float,
                       noise_fraction: float = 0.0,
                       rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Draw ``n_photons`` arrival bins (uint32) from a multi-exponential decay.

    Each photon is, with probability ``noise_fraction``, uniform over the laser
    period (``tau_bins * bin_ps``); otherwise it arrives at ``irf_offset_ns +
    N(0, irf_sigma_ns) + Exp(tau_k)`` with component ``k`` drawn with ``fracs``
    (equal fractions when None). Times are binned as ``floor(t / bin_ps) % tau_bins``.
    """
    if not 0.0 <= noise_fraction <= 1.0:
        raise ValueError("noise_fraction must lie in [0, 1]")
    rng = np.random.default_rng(rng)
    taus, weights = _lifetime_table(tuple(taus_ns), None if fracs is None else tuple(fracs), 1)
    is_signal = rng.random(int(n_photons)) >= noise_fraction
    color = np.zeros(is_signal.size, dtype=np.int64)
    return _arrival_bins(rng, color, is_signal, taus, weights, irf_offset_ns, irf_sigma_ns,
                         int(tau_bins), float(bin_ps))


# ---------------------------------------------------------------------- header

def _header_settings(spec: SimulationSpec) -> dict:
    """ScanImage keys that make the header describe this acquisition (§1.7 of the semantics)."""
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
            from scipy.ndimage import shift as spline_shift
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
            for k, f in enumerate(frames):
                y, x, tau = batch_photons[k]
                if spec.encoding == "raw" or (spec.encoding == "mixed" and rng.random() < 0.5):
                    enc = "raw"
                else:
                    enc = "auto" if spec.encoding == "auto" else "compressed"
                if y.size == 0:
                    enc = "raw"
                if enc == "raw" and spec.shuffle_raw:
                    order = rng.permutation(y.size)
                    y, x, tau = y[order], x[order], tau[order]
                writer.add_frame(y, x, tau, (h, w), enc, descriptions[f])
                n_photons[f] = y.size
                if spec.keep_photons:
                    photons.append((y, x, tau))
    layout = writer.layout

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
