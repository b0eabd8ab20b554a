"""Intensity and lifetime maps (one frame, an average, a projection) to OME-TIFF.

Pixel size: µm per row and per column are the header's imaging field of view
(``RoiManager.imagingFovUm``, which ScanImage already scales by the zoom) divided by the
lines and pixels per line (``ImParams.scale``); the z step is ``ImParams.step_size`` (µm).
Without a field of view the OME-XML carries no physical size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from libsiff import SiffCancelled
from libsiff.atomic import atomic_path

REDUCTIONS = ("none", "mean", "max", "sum")
MAP_BUDGET_BYTES = 64 << 20  # frames read at once while reducing


def pixel_size_um(reader) -> tuple[float, float, float] | None:
    """(z, y, x) µm per pixel of an acquisition, or None when the header lacks the field
    of view (z is 0 with one plane)."""
    p = reader.im_params
    try:
        scale = p.scale
    except (ArithmeticError, TypeError, ValueError, KeyError, AttributeError):
        return None
    dz = float(p.step_size or 0.0) if p.num_slices > 1 else 0.0
    return dz, float(scale[-2]), float(scale[-1])


def maps(reader, timepoint_start: int = 0, timepoint_end: int | None = None, color: int = 0,
         reduce: str = "mean", params=None, registered: bool = True, progress=None,
         cancel=None) -> tuple[np.ndarray, np.ndarray]:
    """Photon counts and empirical lifetime (ns) of every plane over timepoints
    ``[start, end)`` of colour ``color`` (0-based): float32 ``(T, planes, rows, columns)``
    with ``reduce='none'``, else ``(1, planes, rows, columns)`` reduced over time
    (``mean``/``sum`` of counts with the photon-weighted mean lifetime; ``max`` the
    maximum-intensity projection with the lifetime of the pooled photons). Lifetimes are
    NaN where a pixel has no photon, and None for a file without photon arrival times.
    ``registered`` False reads the raw frames; frames are read in chunks of timepoints,
    with ``progress(done, total)`` after each and ``cancel()`` (SiffCancelled) before."""
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, not {reduce!r}")
    p = reader.im_params
    Z, (H, W) = p.num_slices, p.shape
    end = p.num_timepoints if timepoint_end is None else min(timepoint_end, p.num_timepoints)
    if not 0 <= timepoint_start < end:
        raise ValueError(f"no timepoints in [{timepoint_start}, {end})")
    flim = reader.has_photon_times
    reg = None if registered else {}
    bin_ns = reader.picoseconds_per_bin / 1000.0
    step = max(1, MAP_BUDGET_BYTES // max(1, Z * H * W * 8))
    stack_i, stack_l = [], []
    total = np.zeros((Z, H, W))
    peak = np.zeros((Z, H, W))
    weighted = np.zeros((Z, H, W))
    for t0 in range(timepoint_start, end, step):
        if cancel is not None and cancel():
            raise SiffCancelled("map export cancelled")
        t1 = min(end, t0 + step)
        frames = p.flatten_by_timepoints(t0, t1, color_channel=color)
        if flim:
            trace = reader.get_frames_flim(params, frames, registration_dict=reg)
            counts = np.asarray(trace.intensity, np.float64).reshape(-1, Z, H, W)
            life = (np.asarray(trace, np.float64) * bin_ns).reshape(-1, Z, H, W)
            weighted += np.where(counts > 0, life * counts, 0.0).sum(0)
        else:
            counts = reader.get_frames(frames, registration_dict=reg).astype(np.float64)
            counts, life = counts.reshape(-1, Z, H, W), None
        total += counts.sum(0)
        np.maximum(peak, counts.max(0), out=peak)
        if reduce == "none":
            stack_i.append(counts.astype(np.float32))
            if life is not None:
                stack_l.append(life.astype(np.float32))
        if progress is not None:
            progress(t1 - timepoint_start, end - timepoint_start)
    if reduce == "none":
        return np.concatenate(stack_i), np.concatenate(stack_l) if flim else None
    intensity = {"mean": total / (end - timepoint_start), "sum": total, "max": peak}[reduce]
    if not flim:
        return intensity[None].astype(np.float32), None
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = np.where(total > 0, weighted / total, np.nan)
    return intensity[None].astype(np.float32), pooled[None].astype(np.float32)


def write_ome_tiff(path, data: np.ndarray, pixel_size: tuple[float, float, float] | None,
                   name: str = "") -> Path:
    """Write ``data`` ``(T, Z, Y, X)`` (or ``(Z, Y, X)``, ``(Y, X)``) as an OME-TIFF with
    PhysicalSizeX/Y/Z in µm when ``pixel_size`` (z, y, x) is given, atomically."""
    path = Path(path)
    data = np.asarray(data)
    axes = "TZYX"[4 - data.ndim:]
    meta: dict = {"axes": axes}
    if name:
        meta["Name"] = name
    if pixel_size is not None:
        dz, dy, dx = pixel_size
        meta.update(PhysicalSizeX=dx, PhysicalSizeXUnit="µm", PhysicalSizeY=dy,
                    PhysicalSizeYUnit="µm")
        if "Z" in axes and dz > 0:
            meta.update(PhysicalSizeZ=dz, PhysicalSizeZUnit="µm")
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, data, ome=True, metadata=meta, photometric="minisblack")
    return path


def export_maps(reader, out_intensity=None, out_lifetime=None, **kwargs) -> list[Path]:
    """:func:`maps` of ``reader`` written as OME-TIFFs (photons and/or lifetime in ns)."""
    intensity, lifetime = maps(reader, **kwargs)
    if out_lifetime is not None and lifetime is None:
        raise ValueError(f"{reader.filename}: no photon arrival times, so no lifetime map")
    size = pixel_size_um(reader)
    written = []
    if out_intensity is not None:
        written.append(write_ome_tiff(out_intensity, intensity, size, "photons"))
    if out_lifetime is not None:
        written.append(write_ome_tiff(out_lifetime, lifetime, size, "lifetime (ns)"))
    return written
