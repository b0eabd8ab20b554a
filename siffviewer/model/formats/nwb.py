"""NWB export (pynwb): the acquisition's metadata, its ROIs and their traces, in one file
with no external links (DANDI-acceptable).

Layout: a ``Device`` (the ScanImage microscope) and, per plane, an ``ImagingPlane`` with
its ``OpticalChannel`` (frame/volume rate, zoom, plane count, z, arrival-bin width and
laser period in its description; pixel size as ``grid_spacing`` in µm when the header
gives the field of view). In the ``ophys`` processing module: an ``ImageSegmentation``
with one ``PlaneSegmentation`` per plane (each ROI's mask in that plane, with an
``roi_name`` column), and per plane, for its ROIs over the timepoints (timestamps of that
plane's frames, seconds from the acquisition start):

* ``Fluorescence/photons_plane<z>``: photon counts (unit ``photons``);
* ``DfOverF/dff_plane<z>``: (F - F0) / F0 when a baseline is given (unit ``n.a.``);
* ``lifetime_ns_plane<z>`` and ``lifetime_se_ns_plane<z>`` (``RoiResponseSeries`` in the
  module, unit ``ns``): the empirical lifetime (mean arrival time minus the IRF offset of
  the FLIM parameters when given) and its standard error sqrt(var / photons), NaN
  without photons (left out for files without photon arrival times).

An ROI spanning planes has a row in each plane's segmentation; its pooled photons are
the sum over planes and its pooled lifetime the photon-weighted mean.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from pathlib import Path

import numpy as np

from libsiff.flim import tau_offset_bins

from ..traces import Baseline, dff
from .common import atomic_path, has_photon_times

HIST_BUDGET_BYTES = 64 << 20  # arrival histograms held at once while computing traces


def _safe(fn, default=None):
    try:
        value = fn()
    except Exception:  # noqa: BLE001 - a header may lack any of these fields
        return default
    return default if value is None else value


def plane_traces(reader, masks2d: np.ndarray, frames, params=None, progress=None):
    """Photons, lifetime (ns) and its standard error (ns) of 2-D masks ``(R, rows, cols)``
    in ``frames`` (one per timepoint): three ``(R, T)`` arrays, from the masks' arrival
    histograms (read by libsiff in chunks of timepoints). Without photon arrival times
    (a plain TIFF) the lifetimes are None."""
    io = reader.siffio
    R, T = masks2d.shape[0], len(frames)
    if not has_photon_times(reader):
        photons = io.sum_rois(masks2d, frames=list(frames), registration=reader.shift_table())
        if progress is not None:
            progress(T, T)
        return np.asarray(photons, np.uint64).reshape(R, T), None, None
    L = io.histogram_length
    bin_ns = reader.picoseconds_per_bin / 1000.0
    offset = tau_offset_bins(params)
    photons = np.zeros((R, T), np.uint64)
    mean = np.full((R, T), np.nan)
    se = np.full((R, T), np.nan)
    b = np.arange(L, dtype=np.float64)
    chunk = max(1, HIST_BUDGET_BYTES // max(1, R * L * 8))
    shifts = reader.shift_table()
    for start in range(0, T, chunk):
        stop = min(T, start + chunk)
        h = io.get_histograms_masked(masks2d, list(frames[start:stop]), registration=shifts)
        h = h.astype(np.float64)
        n = h.sum(-1)
        photons[:, start:stop] = n.astype(np.uint64)
        with np.errstate(invalid="ignore", divide="ignore"):
            m1 = (h * b).sum(-1) / n
            var = (h * b * b).sum(-1) / n - m1 * m1
            mean[:, start:stop] = m1
            se[:, start:stop] = np.sqrt(np.maximum(var, 0.0) / n)
        if progress is not None:
            progress(stop, T)
    return photons, (mean - offset) * bin_ns, se * bin_ns


def _metadata(reader) -> dict:
    p = reader.im_params
    ps = _safe(lambda: float(reader.picoseconds_per_bin))
    nbins = _safe(lambda: int(p.num_bins))
    scale = _safe(lambda: p.scale)
    return {
        "frame_rate": _safe(lambda: float(p.RoiManager.scanFrameRate)),
        "volume_rate": _safe(lambda: float(p.RoiManager.scanVolumeRate)),
        "zoom": _safe(lambda: float(p.zoom)),
        "planes": int(p.num_slices),
        "z_um": [float(z) for z in np.atleast_1d(_safe(lambda: p.z_vals, [0.0] * p.num_slices))],
        "bin_ps": ps,
        "laser_period_ns": ps * nbins / 1000.0 if ps and nbins else None,
        "um_per_pixel": (float(scale[-2]), float(scale[-1])) if scale else None,
    }


def _describe(meta: dict) -> str:
    parts = [f"ScanImage-FLIM acquisition, {meta['planes']} plane(s)"]
    for key, label, unit in (("frame_rate", "frame rate", " Hz"),
                             ("volume_rate", "volume rate", " Hz"),
                             ("zoom", "zoom", ""), ("bin_ps", "arrival-time bin width", " ps"),
                             ("laser_period_ns", "laser period", " ns")):
        if meta[key] is not None:
            parts.append(f"{label} {meta[key]:.6g}{unit}")
    return "; ".join(parts)


def export_nwb(acquisition, masks: np.ndarray, names: list[str], out, color: int = 0,
               params=None, baseline: Baseline | None = None, progress=None,
               session_description: str = "", subject: dict | None = None) -> Path:
    """Write ``out`` (.nwb) for the acquisition at path ``acquisition`` (or an open
    SiffReader) with masks ``(R, planes, rows, columns)`` named ``names``: metadata,
    plane segmentations and per-plane photons, lifetime and its SE (and dF/F with a
    ``baseline``). ``color`` is the 0-based colour channel; ``params`` FLIMParams whose
    IRF offset is subtracted from the lifetimes. ``subject``: keyword arguments of
    ``pynwb.file.Subject`` (``subject_id``, ``species``, ``sex``, ``age``, ...); DANDI
    requires one. Written atomically."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.file import Subject
    from pynwb.ophys import DfOverF, Fluorescence, ImageSegmentation, OpticalChannel, RoiResponseSeries

    from libsiff.reader import SiffReader

    own = not isinstance(acquisition, SiffReader)
    reader = SiffReader(acquisition) if own else acquisition
    try:
        masks = np.asarray(masks, bool)
        names = [str(n) for n in names]
        p = reader.im_params
        Z, H, W = p.num_slices, *p.shape
        if masks.shape[1:] != (Z, H, W):
            raise ValueError(f"masks of shape {masks.shape[1:]} do not fit the acquisition's "
                             f"{(Z, H, W)} (planes, rows, columns)")
        meta = _metadata(reader)
        first = p.flatten_by_timepoints(0, 1, reference_z=0, color_channel=color)
        start_ns = _safe(lambda: int(reader.get_time(first, "epoch")[0]))
        start = (_dt.datetime.fromtimestamp(start_ns / 1e9, _dt.timezone.utc) if start_ns
                 else _dt.datetime.fromtimestamp(Path(reader.filename).stat().st_mtime,
                                                 _dt.timezone.utc))
        nwb = NWBFile(session_description=session_description or
                      f"ROI traces of {Path(reader.filename).name} exported by siffviewer",
                      identifier=str(uuid.uuid4()), session_start_time=start,
                      source_script="siffviewer export-nwb",
                      source_script_file_name=Path(reader.filename).name,
                      subject=Subject(**subject) if subject else None)
        device = nwb.create_device(name="Microscope", description="ScanImage (MBF "
                                   "Bioscience) two-photon microscope with FLIM; "
                                   + _describe(meta))
        ophys = nwb.create_processing_module(
            "ophys", "ROIs and their photon counts, lifetimes and dF/F (siffviewer)")
        segmentation = ImageSegmentation()
        ophys.add(segmentation)
        fluorescence, ratio = Fluorescence(), DfOverF()
        planes = [z for z in range(Z) if masks[:, z].any()]
        if planes:
            ophys.add(fluorescence)
            if baseline is not None:
                ophys.add(ratio)
        bin_text = (f"{meta['bin_ps']:g} ps arrival bins" if meta['bin_ps'] else "arrival bins")
        for k, z in enumerate(planes):
            channel = OpticalChannel(name=f"channel{color + 1}",
                                     description=f"colour channel {color + 1} (1-based)",
                                     emission_lambda=np.nan)
            grid = {}
            if meta["um_per_pixel"]:
                dz = float(np.diff(meta["z_um"][:2])[0]) if len(meta["z_um"]) > 1 else 0.0
                grid = {"grid_spacing": [meta["um_per_pixel"][1], meta["um_per_pixel"][0], dz],
                        "grid_spacing_unit": "micrometers"}
            rate = meta["volume_rate"] or meta["frame_rate"] or 0.0
            zpos = meta["z_um"][z] if z < len(meta["z_um"]) else 0.0
            plane = nwb.create_imaging_plane(
                name=f"ImagingPlane{z}", optical_channel=channel, imaging_rate=float(rate),
                description=f"plane {z} (0-based) at z = {zpos:g} um; " + _describe(meta),
                device=device, excitation_lambda=np.nan, indicator="unknown",
                location="unknown", **grid)
            seg = segmentation.create_plane_segmentation(
                name=f"PlaneSegmentation{z}", imaging_plane=plane,
                description=f"ROI masks in plane {z} (0-based), drawn in siffviewer or imported")
            seg.add_column("roi_name", "the ROI's name (an ROI spanning planes has a row in "
                           "each plane's segmentation)")
            rois = [r for r in range(len(names)) if masks[r, z].any()]
            for r in rois:
                seg.add_roi(image_mask=masks[r, z], roi_name=names[r])
            region = seg.create_roi_table_region(description=f"ROIs of plane {z}",
                                                 region=list(range(len(rois))))
            frames = p.flatten_by_timepoints(reference_z=z, color_channel=color)
            times = np.asarray(reader.get_time(frames), np.float64)

            def step(done, total, k=k):
                if progress is not None:
                    progress(k * total + done, len(planes) * total)

            photons, life, se = plane_traces(reader, masks[rois, z], frames, params, step)
            fluorescence.add_roi_response_series(RoiResponseSeries(
                name=f"photons_plane{z}", data=photons.T, rois=region, unit="photons",
                timestamps=times, description=f"photons inside each ROI of plane {z} per "
                f"timepoint (colour channel {color + 1}), from libsiff"))
            if baseline is not None:
                f0 = baseline.compute(photons, times)
                ratio.add_roi_response_series(RoiResponseSeries(
                    name=f"dff_plane{z}", data=dff(photons, f0).T, rois=region, unit="n.a.",
                    timestamps=times, description=(
                        f"dF/F = (F - F0) / F0 of the photons, F0 the {baseline.percentile:g}th "
                        f"percentile in a {baseline.window_s:g} s moving window")))
            if life is None:
                continue
            offset = ("minus the IRF offset of the fitted FLIM parameters" if params
                      is not None else "(no IRF offset subtracted)")
            ophys.add(RoiResponseSeries(
                name=f"lifetime_ns_plane{z}", data=life.T, rois=region, unit="ns",
                timestamps=times, description=(
                    f"empirical lifetime: mean photon arrival time {offset}, {bin_text}; "
                    "NaN without photons")))
            ophys.add(RoiResponseSeries(
                name=f"lifetime_se_ns_plane{z}", data=se.T, rois=region, unit="ns",
                timestamps=times, description=(
                    "standard error of the empirical lifetime: standard deviation of the "
                    "arrival times / sqrt(photons); NaN without photons")))
        out = Path(out)
        with atomic_path(out) as tmp:
            with NWBHDF5IO(str(tmp), "w") as io:
                io.write(nwb)
        return out
    finally:
        if own:
            reader.close()
