"""NWB export (pynwb): the acquisition's metadata, its ROIs and the session's traces, in
one file with no external links (DANDI-acceptable).

The traces are the ones the CSV export writes (:func:`siffviewer.model.export.
session_traces`: the session's ROIs, channel, registration, FLIM parameters and dF/F
baseline), one column per ROI in the CSV's order, with photons of all the planes of an ROI
pooled. Layout: a ``Device`` (the ScanImage microscope) and one ``ImagingPlane`` (the
imaged volume: frame/volume rate, zoom, planes and their z, arrival-bin width and laser
period in its description; pixel size and z step as ``grid_spacing`` in µm when the header
gives the field of view). In the ``ophys`` processing module:

* ``ImageSegmentation/PlaneSegmentation``: each ROI's mask, ``(rows, columns)`` for one
  plane or ``(rows, columns, planes)`` voxels for a volume, with an ``roi_name`` column;
* ``Fluorescence/photons``: photon counts per ROI and timepoint (unit ``photons``);
* ``DfOverF/dff``: (F - F0) / F0 when the session sets a baseline (unit ``n.a.``);
* ``lifetime_ns`` and ``lifetime_se_ns`` (``RoiResponseSeries`` in the module, unit
  ``ns``): the empirical lifetime (mean arrival time minus the IRF offset of the FLIM
  parameters) and its standard error sqrt(var / photons) from the ROIs' pooled arrival
  histograms, NaN without photons (left out for files without photon arrival times).

Timestamps are the times (s from the acquisition start) of each timepoint's first-plane
frame, as in the CSV.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from pathlib import Path

import numpy as np

from libsiff.atomic import atomic_path

from ..traces import dff

HIST_BUDGET_BYTES = 64 << 20  # arrival histograms held at once while computing the SE
#: What a default export states about its subject (nwbinspector and DANDI want a species
#: and an age): ScanImage-FLIM's users image flies; the age "P0D/" is ISO 8601 for "not
#: known, at least 0 days". ``siff export-nwb --subject-id/--species/--sex/--age`` and the
#: app's dialog replace any of it; the subject id defaults to the acquisition's name.
DEFAULT_SUBJECT = {"species": "Drosophila melanogaster", "sex": "U", "age": "P0D/",
                   "description": "subject details not given at export (siffviewer defaults)"}


def _safe(fn, default=None):
    try:
        value = fn()
    except Exception:  # noqa: BLE001 - a header may lack any of these fields
        return default
    return default if value is None else value


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


def _timestamps(time_s: np.ndarray) -> np.ndarray:
    """Timepoint times with gaps (a timepoint without a first-plane frame) filled by
    linear inter/extrapolation, so NWB gets finite, increasing timestamps."""
    t = np.asarray(time_s, np.float64)
    ok = np.isfinite(t)
    if ok.all() or not ok.any():
        return t if ok.any() else np.arange(len(t), dtype=np.float64)
    idx = np.arange(len(t))
    if ok.sum() == 1:
        return t[ok][0] + (idx - idx[ok][0]).astype(np.float64)
    slope, icept = np.polyfit(idx[ok], t[ok], 1)
    return np.where(ok, t, icept + slope * idx)


def export_nwb(session, computed, out, lifetime_se: np.ndarray | None = None,
               subject: dict | None = None, session_description: str = "",
               provenance: dict | None = None) -> Path:
    """Write ``out`` (.nwb) for an open ``session`` with ``computed`` (a
    :class:`~siffviewer.model.export.SessionTraces`: the traces the CSV export writes):
    metadata, the ROIs' masks, photons, dF/F (when the session has a baseline), lifetime
    and ``lifetime_se`` (ns, ``(R, T)``). ``subject``: keyword arguments of
    ``pynwb.file.Subject`` (``subject_id``, ``species``, ``sex``, ``age``, ...), missing
    ones from :data:`DEFAULT_SUBJECT` and the file's name. Written atomically."""
    from pynwb import NWBFile
    from pynwb.file import Subject
    from pynwb.ophys import DfOverF, Fluorescence, ImageSegmentation, OpticalChannel, RoiResponseSeries

    reader = session.reader
    traces, masks, baseline = computed.traces, np.asarray(computed.masks, bool), computed.baseline
    names = [str(n) for n in traces.names]
    color = traces.color
    source = Path(session.path)
    meta = _metadata(reader)
    times = _timestamps(traces.time_s)
    start_ns = _safe(lambda: int(reader.get_time([int(session.grid[session.grid >= 0][0])],
                                                 "epoch")[0]))
    start = (_dt.datetime.fromtimestamp(start_ns / 1e9, _dt.timezone.utc) if start_ns
             else _dt.datetime.fromtimestamp(source.stat().st_mtime, _dt.timezone.utc))
    who = {**DEFAULT_SUBJECT, "subject_id": source.stem, **(subject or {})}
    notes = "; ".join(f"{k}: {v}" for k, v in (provenance or {}).items())
    nwb = NWBFile(session_description=session_description or
                  f"ROI traces of {source.name} exported by siffviewer",
                  identifier=str(uuid.uuid4()), session_start_time=start,
                  source_script="siffviewer export-nwb", source_script_file_name=source.name,
                  notes=notes or None, subject=Subject(**who))
    device = nwb.create_device(name="Microscope", description="ScanImage (MBF Bioscience) "
                               "two-photon microscope with FLIM; " + _describe(meta))
    channel = OpticalChannel(name=f"channel{color + 1}",
                             description=f"colour channel {color + 1} (1-based)",
                             emission_lambda=np.nan)
    grid = {}
    if meta["um_per_pixel"]:
        dz = float(np.diff(meta["z_um"][:2])[0]) if len(meta["z_um"]) > 1 else 0.0
        grid = {"grid_spacing": [meta["um_per_pixel"][0], meta["um_per_pixel"][1], dz],
                "grid_spacing_unit": "micrometers"}
    zs = ", ".join(f"{z:g}" for z in meta["z_um"])
    plane = nwb.create_imaging_plane(
        name="ImagingPlane", optical_channel=channel,
        imaging_rate=float(meta["volume_rate"] or meta["frame_rate"] or 0.0),
        description=f"the imaged volume: planes at z = {zs} um; " + _describe(meta),
        device=device, excitation_lambda=np.nan, indicator="unknown", location="unknown",
        **grid)
    ophys = nwb.create_processing_module(
        "ophys", "ROIs and their photon counts, lifetimes and dF/F (siffviewer)")
    segmentation = ImageSegmentation()
    ophys.add(segmentation)
    seg = segmentation.create_plane_segmentation(
        name="PlaneSegmentation", imaging_plane=plane,
        description="ROI masks drawn in siffviewer or imported: (rows, columns) for one "
                    "plane, (rows, columns, planes) voxels for a volume")
    seg.add_column("roi_name", "the ROI's name, as in the CSV export")
    volume = masks.shape[1] > 1
    for name, mask in zip(names, masks, strict=True):
        seg.add_roi(image_mask=np.moveaxis(mask, 0, -1) if volume else mask[0], roi_name=name)
    if not names:
        _write(out, nwb)
        return Path(out)
    region = seg.create_roi_table_region(description="every ROI, in the CSV's order",
                                         region=list(range(len(names))))
    fluorescence = Fluorescence()
    ophys.add(fluorescence)
    fluorescence.add_roi_response_series(RoiResponseSeries(
        name="photons", data=np.asarray(traces.photons).T, rois=region, unit="photons",
        timestamps=times, description=f"photons inside each ROI per timepoint (colour channel "
        f"{color + 1}, planes pooled), from libsiff"))
    if baseline is not None:
        ratio = DfOverF()
        ophys.add(ratio)
        f0 = baseline.compute(traces.photons, traces.time_s)
        ratio.add_roi_response_series(RoiResponseSeries(
            name="dff", data=dff(traces.photons, f0).T, rois=region, unit="n.a.",
            timestamps=times, description=(
                f"dF/F = (F - F0) / F0 of the photons, F0 the {baseline.percentile:g}th "
                f"percentile in a {baseline.window_s:g} s moving window")))
    if session.has_flim:
        bin_text = f"{meta['bin_ps']:g} ps arrival bins" if meta["bin_ps"] else "arrival bins"
        offset = (f"minus the IRF offset {traces.offset_ns:.4f} ns of the fitted FLIM "
                  "parameters" if computed.params is not None else "(no IRF offset subtracted)")
        ophys.add(RoiResponseSeries(
            name="lifetime_ns", data=np.asarray(traces.lifetime_ns).T, rois=region, unit="ns",
            timestamps=times, description=(
                f"empirical lifetime: mean photon arrival time {offset}, {bin_text}, photons "
                "of all planes of an ROI pooled; NaN without photons")))
        if lifetime_se is not None:
            ophys.add(RoiResponseSeries(
                name="lifetime_se_ns", data=np.asarray(lifetime_se).T, rois=region, unit="ns",
                timestamps=times, description=(
                    "standard error of the empirical lifetime: standard deviation of the "
                    "pooled arrival times / sqrt(photons); NaN without photons")))
    _write(out, nwb)
    return Path(out)


def _write(out, nwb) -> None:
    from pynwb import NWBHDF5IO

    with atomic_path(Path(out)) as tmp:
        with NWBHDF5IO(str(tmp), "w") as io:
            io.write(nwb)


def export_session_nwb(session, doc, out, subject: dict | None = None, progress=None,
                       cancel=None, identity=None, computed=None) -> Path:
    """Compute the traces of ``doc`` (a SessionDocument) for an open ``session`` as the CSV
    export does (unless ``computed``, its SessionTraces, is given), with the lifetimes'
    standard errors of its lifetime columns, and write them to ``out`` (.nwb): the one path
    of the app's File > Export NWB, ``siff export-nwb`` and ``siff batch --nwb``."""
    from ..export import export_provenance, session_traces

    computed = computed or session_traces(session, doc, progress, cancel)
    se = computed.extra.get("lifetime_se_ns") if session.has_flim else None
    return export_nwb(session, computed, out, se, subject,
                      provenance=export_provenance(session, doc, identity, computed))


def export_nwb_file(acquisition, out, options=None, subject: dict | None = None,
                    progress=None, cancel=None, csv_out=None):
    """Export ``acquisition``'s saved session (with ``options``, a TraceExportOptions,
    applied) to ``out`` (.nwb): what ``siff export-nwb`` runs, Qt-free. With ``csv_out``
    the traces CSV is written too, from the same computed traces (``siff batch --nwb``),
    and its TraceExportResult is returned; else the NWB's path."""
    from ..export import TraceExportOptions, open_for_export

    options = options or TraceExportOptions()
    with open_for_export(acquisition, options) as opened:
        return export_opened_nwb(opened, out, options, subject, progress, cancel, csv_out)


def export_opened_nwb(opened, out, options, subject: dict | None = None, progress=None,
                      cancel=None, csv_out=None):
    """:func:`export_nwb_file` for an acquisition already open (``opened``, what
    :func:`~siffviewer.model.export.open_for_export` yields)."""
    from ..export import export_session_traces, session_traces

    session, doc, identity = opened.session, opened.doc, opened.identity
    computed = (session_traces(session, doc, cancel=cancel, per_plane=options.per_plane)
                if csv_out else None)
    path = export_session_nwb(session, doc, out, subject, progress, cancel, identity, computed)
    if csv_out is None:
        return path
    return export_session_traces(session, doc, csv_out, options.wide, cancel=cancel,
                                 identity=identity, computed=computed)
