"""A movie of the frame view over a range of timepoints, rendered with numpy and
encoded to MP4 by imageio with the imageio-ffmpeg wheel (no Qt).

Each movie frame is the mean of ``average`` consecutive timepoints of one plane. Plain
intensity is grey; with ``lifetime=True`` the colour is the lifetime (hue from red at
``tau_range[0]`` to blue at ``tau_range[1]``, photon-weighted over the averaged frames)
and the brightness is the intensity (HSV with full saturation)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from libsiff import SiffCancelled
from libsiff.atomic import atomic_path

HUE_SPAN = 2.0 / 3.0  # red (short lifetime) to blue (long)


def hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """RGB floats in [0, 1], shape ``(..., 3)``, from HSV arrays in [0, 1]."""
    h = np.mod(h, 1.0) * 6.0
    i = np.floor(h).astype(np.int64) % 6
    f = h - np.floor(h)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = np.stack([np.stack(c, -1) for c in
                      ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))])
    return np.take_along_axis(table, i[None, ..., None].repeat(3, -1), 0)[0]


def render_frame(counts: np.ndarray, lifetime_ns: np.ndarray | None,
                 intensity_range: tuple[float, float],
                 tau_range: tuple[float, float] | None = None) -> np.ndarray:
    """One RGB uint8 ``(rows, columns, 3)`` image: grey intensity, or lifetime hue with the
    intensity as brightness."""
    lo, hi = intensity_range
    v = np.clip((np.asarray(counts, np.float64) - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
    if lifetime_ns is None or tau_range is None:
        rgb = np.repeat(v[..., None], 3, -1)
    else:
        t0, t1 = tau_range
        frac = np.clip((np.nan_to_num(lifetime_ns, nan=t0) - t0) / max(t1 - t0, 1e-12), 0, 1)
        rgb = hsv_to_rgb(frac * HUE_SPAN, np.ones_like(v), v)
    return (rgb * 255.0 + 0.5).astype(np.uint8)


def export_movie(reader, out, plane: int = 0, timepoint_start: int = 0,
                 timepoint_end: int | None = None, average: int = 1, color: int = 0,
                 lifetime: bool = False, params=None,
                 intensity_range: tuple[float, float] | None = None,
                 tau_range: tuple[float, float] = (0.5, 4.0), fps: float | None = None,
                 upscale: int = 1, progress=None, cancel=None, registered: bool = True) -> Path:
    """Write an MP4 of ``plane`` over timepoints ``[start, end)``: one movie frame per
    ``average`` timepoints (the last, partial group dropped), ``fps`` the acquisition's
    volume rate / ``average`` by default. ``intensity_range`` defaults to 0 .. the 99.9th
    percentile of the first movie frame. ``registered`` False reads the raw frames;
    ``cancel()`` is checked before each movie frame (SiffCancelled; nothing is written).
    Written atomically; returns the path."""
    import imageio.v2 as imageio

    p = reader.im_params
    end = p.num_timepoints if timepoint_end is None else min(timepoint_end, p.num_timepoints)
    average = max(1, int(average))
    n_out = (end - timepoint_start) // average
    if n_out <= 0:
        raise ValueError(f"no complete group of {average} timepoints in [{timepoint_start}, "
                         f"{end})")
    if fps is None:
        try:
            fps = float(p.RoiManager.scanVolumeRate) / average
        except (AttributeError, TypeError, ValueError, KeyError):
            fps = 10.0
    if lifetime and not reader.has_photon_times:
        raise ValueError(f"{reader.filename}: no photon arrival times, so no lifetime colouring")
    bin_ns = reader.picoseconds_per_bin / 1000.0 if lifetime else 1.0
    reg = None if registered else {}
    out = Path(out)
    with atomic_path(out) as tmp:
        writer = imageio.get_writer(str(tmp), format="FFMPEG", fps=max(fps, 1.0),
                                    codec="libx264", macro_block_size=2, quality=8)
        try:
            for k in range(n_out):
                if cancel is not None and cancel():
                    raise SiffCancelled("movie export cancelled")
                t0 = timepoint_start + k * average
                frames = p.flatten_by_timepoints(t0, t0 + average, reference_z=plane,
                                                 color_channel=color)
                if lifetime:
                    trace = reader.get_frames_flim(params, frames, registration_dict=reg)
                    counts = np.asarray(trace.intensity, np.float64)
                    life = np.asarray(trace, np.float64) * bin_ns
                    total = counts.sum(0)
                    with np.errstate(invalid="ignore", divide="ignore"):
                        tau = np.nansum(np.where(counts > 0, life * counts, 0), 0) / total
                else:
                    counts = reader.get_frames(frames, registration_dict=reg).astype(np.float64)
                    tau = None
                mean = counts.mean(0)
                if intensity_range is None:
                    intensity_range = (0.0, float(max(np.percentile(mean, 99.9), 1e-9)))
                rgb = render_frame(mean, tau, intensity_range, tau_range if lifetime else None)
                if upscale > 1:
                    rgb = rgb.repeat(upscale, 0).repeat(upscale, 1)
                pad = ((0, rgb.shape[0] % 2), (0, rgb.shape[1] % 2), (0, 0))
                writer.append_data(np.pad(rgb, pad))
                if progress is not None:
                    progress(k + 1, n_out)
        finally:
            writer.close()
    return out
