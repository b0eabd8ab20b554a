"""Exports of ROI traces (tidy or wide CSV), masks (PNG images) and lifetime fits (JSON).

Every file is written atomically (a temp file in the same folder, then a rename), so a
crash or a cancel never leaves a half-written export. Qt-free; also used by ``siff
export-traces``."""

from __future__ import annotations

import csv
import io
import json
import struct
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from libsiff.atomic import atomic_open
from libsiff.errors import SiffFormatError

from .traces import Baseline, Traces, compute_traces, dff


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temp file and a rename."""
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    return Path(path)


def _header(source: str, traces: Traces, registration: str, flim: str,
            baseline: Baseline | None, provenance: dict | None = None) -> list[str]:
    lines = [
        "# siffviewer ROI traces",
        f"# source_file: {source}",
        f"# colour_channel: {traces.color} (0-based)",
        f"# registration: {registration if traces.registered else 'none (raw frames)'}",
        f"# flim_params: {flim}",
        f"# lifetime: empirical (mean arrival time minus IRF offset {traces.offset_ns:.4f} ns), "
        "photons of all planes of an ROI pooled",
        "# baseline: " + (f"dF/F with F0 = {baseline.percentile:g}th percentile in a "
                          f"{baseline.window_s:g} s moving window" if baseline else "none"),
    ]
    for key, value in (provenance or {}).items():
        if key != "source_file":
            lines.append(f"# {key}: {value}")
    return lines


def traces_csv(source: str, traces: Traces, registration: str = "none", flim: str = "none",
               baseline: Baseline | None = None, wide: bool = False,
               provenance: dict | None = None, columns: dict | None = None,
               frames: np.ndarray | None = None) -> str:
    """The CSV text: tidy (one row per ROI per timepoint) or wide (one column per ROI).

    ``columns`` adds named (R, T) float columns after ``lifetime_ns`` (lifetime standard
    errors, corrections, fractions: :func:`.flim_traces.compute_flim_columns`); ``frames``
    (R, T) the file frame of each ROI's first plane (tidy only; -1: none)."""
    out = io.StringIO()
    for line in _header(source, traces, registration, flim, baseline, provenance):
        out.write(line + "\n")
    w = csv.writer(out, lineterminator="\n")
    R, T = traces.photons.shape
    ratio = dff(traces.photons, baseline.compute(traces.photons, traces.time_s)) if baseline else None
    extra = dict(columns or {})
    file_name = Path(source).name
    if not wide:
        cols = ["file", "roi", "planes", "timepoint"] + (["frame"] if frames is not None else [])
        cols += ["time_s", "photons", "lifetime_ns", *extra]
        w.writerow(cols + (["dff"] if baseline else []))
        for r in range(R):
            planes = ";".join(map(str, traces.planes[r]))
            for t in range(T):
                row = [file_name, traces.names[r], planes, t]
                if frames is not None:
                    row.append(int(frames[r, t]) if frames[r, t] >= 0 else "")
                row += [_num(traces.time_s[t]), int(traces.photons[r, t]),
                        _num(traces.lifetime_ns[r, t])]
                row += [_num(v[r, t]) for v in extra.values()]
                if ratio is not None:
                    row.append(_num(ratio[r, t]))
                w.writerow(row)
    else:
        cols = ["timepoint", "time_s"]
        for name in traces.names:
            cols += [f"{name} photons", f"{name} lifetime_ns"] + [f"{name} {k}" for k in extra]
            cols += [f"{name} dff"] if baseline else []
        w.writerow(cols)
        for t in range(T):
            row = [t, _num(traces.time_s[t])]
            for r in range(R):
                row += [int(traces.photons[r, t]), _num(traces.lifetime_ns[r, t])]
                row += [_num(v[r, t]) for v in extra.values()]
                if ratio is not None:
                    row.append(_num(ratio[r, t]))
            w.writerow(row)
    return out.getvalue()


def _num(value: float) -> str:
    """Full-precision text for a float; empty for NaN (spreadsheets read it as blank)."""
    v = float(value)
    return "" if not np.isfinite(v) else repr(v)


def export_traces(path: str | Path, source: str, traces: Traces, registration: str = "none",
                  flim: str = "none", baseline: Baseline | None = None, wide: bool = False) -> Path:
    """Write the traces CSV atomically."""
    return atomic_write_text(path, traces_csv(source, traces, registration, flim, baseline, wide))


def png_gray8(image: np.ndarray) -> bytes:
    """An 8-bit greyscale PNG of ``image`` (uint8, 2-D), encoded with the standard library."""
    image = np.ascontiguousarray(image, np.uint8)
    h, w = image.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    rows = np.concatenate([np.zeros((h, 1), np.uint8), image], axis=1)  # filter byte 0 per row
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b""))


def export_mask_images(folder: str | Path, masks: np.ndarray, names: list[str]) -> list[Path]:
    """One 8-bit PNG per ROI and plane (255 inside) named ``<roi>_plane<z>.png``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, mask in zip(names, masks, strict=True):
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name) or "roi"
        for z, plane in enumerate(mask):
            target = folder / f"{safe}_plane{z}.png"
            with atomic_open(target, "wb") as fh:
                fh.write(png_gray8(plane.astype(np.uint8) * 255))
            written.append(target)
    return written


def export_fit_json(path: str | Path, params, histogram: np.ndarray | None = None,
                    source: str = "") -> Path:
    """The FLIMParams fit (with goodness of fit and uncertainties) as JSON."""
    data = {"source_file": source, "flim_params": params.to_dict()}
    if histogram is not None:
        data["histogram"] = [int(v) for v in np.asarray(histogram)]
    return atomic_write_text(path, json.dumps(data, indent=2, default=float))


@dataclass(frozen=True)
class TraceExportOptions:
    """What ``siff export-traces`` and batch exports may override in the saved session."""

    masks: str | Path | None = None        # a masks file; None: the acquisition's saved session
    channel: int | None = None             # 0-based; None: the session's
    raw: bool | None = None                # True: ignore registration; None: the session's
    flim_params: str | Path | None = None  # FLIMParams JSON as the app exports it; None: the session's
    dff: tuple[float, float] | None = None  # (percentile, window_s); None: the session's
    wide: bool = False
    template: str | Path | None = None     # use this other acquisition's saved session
    per_plane: bool = False                # photons of each plane of an ROI as columns


@dataclass(frozen=True)
class TraceExportResult:
    """What an export wrote: the file, its size in frames/timepoints, per-ROI summaries
    (photon-weighted mean lifetime, NaN without photons) and the header's provenance."""

    path: Path
    n_frames: int
    n_timepoints: int
    roi_names: list[str]
    mean_photons: list[float]
    mean_lifetime_ns: list[float]
    provenance: dict


def read_flim_params_json(path: str | Path):
    """FLIMParams from a JSON file as the app exports it (``{"flim_params": {...}}``) or a
    bare FLIMParams dict / SiffPy ``.flimparams``. Raises SiffFormatError naming the file."""
    from libsiff.flim import FLIMParams

    path = Path(path)
    try:
        return FLIMParams.read_json(path, member="flim_params")
    except FileNotFoundError:
        raise SiffFormatError(f"{path}: no such FLIM parameters file") from None
    except OSError as e:
        raise SiffFormatError(f"{path}: cannot read the FLIM parameters file ({e})") from None


def session_document_for_export(acquisition: str | Path, shape: tuple[int, int, int],
                                options: TraceExportOptions, identity=None):
    """The session an export uses: the saved one (or the template's), with the options'
    overrides applied. Damaged files are set aside as when the app opens them."""
    from .masks import load_masks
    from .session_file import SessionDocument, load_session

    base = Path(options.template) if options.template else Path(acquisition)
    loaded = load_session(base, shape, identity if not options.template else None)
    doc = loaded.document or SessionDocument()
    changes: dict = {}
    if options.masks is not None:
        changes["rois"] = load_masks(options.masks, shape)
    if options.channel is not None:
        changes["channel"] = int(options.channel)
    if options.raw is not None:
        changes["registered"] = not options.raw
    if options.dff is not None:
        changes["dff"] = (float(options.dff[0]), float(options.dff[1]))
    channel = changes.get("channel", doc.channel)
    if options.flim_params is not None:
        params = read_flim_params_json(options.flim_params)
        changes["flim_params"] = {**doc.flim_params, channel: params.to_dict()}
    return doc.with_(**changes), loaded.messages


@dataclass(frozen=True)
class SessionTraces:
    """The traces of a session document and what they were computed with: what the CSV
    and the NWB exports write."""

    traces: Traces
    masks: np.ndarray               # bool (R, planes, rows, columns)
    registered: bool
    params: object                  # FLIMParams or None
    params_dict: dict | None
    baseline: Baseline | None
    extra: dict                     # lifetime columns (SE, corrections, fraction, per plane)
    frames: np.ndarray | None       # file frame of each ROI's first plane, (R, T)
    header_lines: list              # calibration, corrections, fraction settings, fit warnings


def session_traces(session, doc, progress=None, cancel=None,
                   per_plane: bool = False) -> SessionTraces:
    """Compute the traces of ``doc`` (a SessionDocument) for an open ``session``: its ROIs,
    channel, registration, calibration, corrections, fraction fit and dF/F baseline.

    Lifetimes use the channel's calibration (:func:`.flim_settings.calibration_from_document`);
    the lifetime columns (standard errors, background/neuropil corrections, the fraction fit,
    ``per_plane`` photons) follow the document's settings."""
    from libsiff.flim import BackgroundSettings, FLIMParams

    from .flim_settings import FractionFitSettings, calibration_from_document
    from .flim_traces import compute_flim_columns, settings_lines

    g = session.geometry
    if not 0 <= doc.channel < g.n_colors:
        raise ValueError(f"channel {doc.channel} does not exist (this file has channels "
                         f"0 to {g.n_colors - 1}, 0-based)")
    shape = (g.n_planes, g.height, g.width)
    rois = doc.rois
    masks = np.stack([r[2] for r in rois]) if rois else np.zeros((0, *shape), bool)
    names = [r[0] for r in rois]
    registered = bool(doc.registered and session.registration is not None)
    pdict = doc.flim_params.get(doc.channel)
    params = FLIMParams.from_dict(pdict) if pdict else None
    calibration = calibration_from_document(doc, session, doc.channel)
    backgrounds = {n: BackgroundSettings.from_dict(v) for n, v in doc.backgrounds.items()}
    fraction = FractionFitSettings.from_dict(doc.fraction_fit or {})

    def part(lo, hi):  # progress of two passes as one bar
        return None if progress is None else (lambda d, t: progress(lo + (hi - lo) * d // max(t, 1),
                                                                    100))

    traces = compute_traces(session, masks, list(range(1, len(names) + 1)), names, doc.channel,
                            registered, calibration, progress=part(0, 50), cancel=cancel)
    extra, warnings = {}, []
    if calibration is not None:
        flim = compute_flim_columns(session, masks, names, doc.channel, registered, calibration,
                                    backgrounds, fraction, per_plane, part(50, 100), cancel)
        extra, warnings = flim.columns, flim.warnings
    elif per_plane:
        raise ValueError("per-plane photons need photon arrival times (a FLIM file)")
    first = [r[0] if r else 0 for r in traces.planes]
    frames = np.stack([session.grid[:, z, doc.channel] for z in first]) if names else None
    lines = (settings_lines(calibration, backgrounds, fraction, names)
             + [f"warning {i + 1}: {w}" for i, w in enumerate(warnings)])
    return SessionTraces(traces, masks, registered, params, pdict,
                         Baseline(*doc.dff) if doc.dff else None, extra, frames, lines)


def export_provenance(session, doc, identity=None, computed: SessionTraces | None = None) -> dict:
    """What an export of ``doc`` for ``session`` was made from (its header records it):
    the file's path, size and fingerprint, the ROIs' and FLIM parameters' digests, the
    libsiff and app versions, the export time, the ScanImage channel, the acquisition's
    frame rate, pixel size and bin width, and (with ``computed``) the lifetime settings."""
    import datetime as _dt

    from .session_file import Identity, params_hash, rois_hash

    identity = identity or Identity.of(session.path)
    pdict = doc.flim_params.get(doc.channel)
    provenance = {
        "source_file": str(Path(session.path).resolve()),
        "file_size_bytes": identity.size,
        "fingerprint": identity.fingerprint,
        "rois_sha256_16": rois_hash(doc.rois),
        "flim_params_sha256_16": params_hash(pdict) if pdict else "none",
        "libsiff_version": _version(),
        "app_version": f"siffviewer {_version()}",
        "export_time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "scanimage_channel": _scanimage_channel(session, doc.channel),
        **_acquisition_facts(session),
    }
    for line in computed.header_lines if computed is not None else []:
        key, _, value = line.partition(": ")
        provenance[key] = value
    return provenance


def export_session_traces(session, doc, out_path: str | Path, wide: bool = False,
                          progress=None, cancel=None, identity=None, per_plane: bool = False,
                          computed: SessionTraces | None = None) -> TraceExportResult:
    """Compute and write the traces CSV of ``doc`` (a SessionDocument) for an open
    ``session``: the one path of the app's File > Export traces and ``siff export-traces``.
    ``computed``: the :func:`session_traces` of ``doc`` when already at hand."""
    g = session.geometry
    computed = computed or session_traces(session, doc, progress, cancel, per_plane)
    traces, registered, params = computed.traces, computed.registered, computed.params
    names = traces.names
    source = Path(session.path).resolve()
    provenance = export_provenance(session, doc, identity, computed)
    text = traces_csv(str(source), traces, session.registration_text() if registered else "none",
                      session.flim_text(params), computed.baseline, wide, provenance,
                      computed.extra, computed.frames)
    path = atomic_write_text(out_path, text)
    photons = traces.photons.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        weighted = np.nansum(photons * np.nan_to_num(traces.lifetime_ns), axis=1)
        counted = np.where(np.isfinite(traces.lifetime_ns), photons, 0).sum(axis=1)
        mean_life = np.where(counted > 0, weighted / counted, np.nan)
    n_frames = int(np.count_nonzero(session.grid[:, :, doc.channel] >= 0))
    return TraceExportResult(Path(path), n_frames, g.n_timepoints, names,
                             [float(v) for v in photons.mean(axis=1)] if len(names) else [],
                             [float(v) for v in mean_life], provenance)


def _acquisition_facts(session) -> dict:
    """Frame rate, pixel size and bin width for the export header ("unknown" if absent)."""
    from .formats.images import pixel_size_um

    try:
        rate = f"{float(session.im_params.RoiManager.scanFrameRate):g}"
    except Exception:  # noqa: BLE001 - a header without the frame rate
        rate = "unknown"
    size = pixel_size_um(session.reader)
    bin_ps = session.reader.picoseconds_per_bin if session.has_flim else None
    return {"frame_rate_hz": rate,
            "pixel_size_um": f"{size[1]:g} x {size[2]:g} (rows x columns)" if size else "unknown",
            "bin_width_ps": f"{bin_ps:g}" if bin_ps else "none"}


def _version() -> str:
    from libsiff import __version__

    return __version__


def _scanimage_channel(session, channel: int):
    try:
        return int(list(session.im_params.color_list)[channel])
    except Exception:  # noqa: BLE001 - a header without the channel list
        return None


@dataclass(frozen=True)
class OpenedForExport:
    """An acquisition open for an export: its Session, its Identity (size and fingerprint)
    and the SessionDocument the export applies (the saved session with the options)."""

    session: object
    identity: object
    doc: object


@contextmanager
def open_for_export(acquisition, options: TraceExportOptions = TraceExportOptions()):
    """Open ``acquisition`` once for an export with ``options``: yields an
    :class:`OpenedForExport` and closes the session on leaving."""
    from .session import Session
    from .session_file import Identity

    session = Session(acquisition)
    try:
        g = session.geometry
        identity = Identity.of(session.path)
        doc, _messages = session_document_for_export(acquisition, (g.n_planes, g.height, g.width),
                                                     options, identity)
        yield OpenedForExport(session, identity, doc)
    finally:
        session.close()


def export_opened_traces(opened: OpenedForExport, out_path,
                         options: TraceExportOptions = TraceExportOptions(), progress=None,
                         cancel=None) -> TraceExportResult:
    """Export the traces of an acquisition :func:`open_for_export` opened to ``out_path``."""
    return export_session_traces(opened.session, opened.doc, out_path, options.wide, progress,
                                 cancel, opened.identity, options.per_plane)


def export_traces_file(acquisition, out_path, options: TraceExportOptions = TraceExportOptions(),
                       progress=None, cancel=None) -> TraceExportResult:
    """Export the traces of ``acquisition``'s saved session (with ``options`` applied) to
    ``out_path``: what ``siff export-traces`` runs, Qt-free (batch workers call it too)."""
    with open_for_export(acquisition, options) as opened:
        return export_opened_traces(opened, out_path, options, progress, cancel)


def export_traces_cli(acquisition: str | Path, masks_path: str | Path, out_path: str | Path,
                      progress=None, color: int = 0, registered: bool = True,
                      wide: bool = False, baseline: Baseline | None = None) -> Path:
    """The earlier ``siff export-traces`` entry point (a masks file, explicit settings);
    kept for callers of it. New code calls :func:`export_traces_file`."""
    options = TraceExportOptions(masks=masks_path, channel=color, raw=not registered,
                                 dff=(baseline.percentile, baseline.window_s) if baseline else None,
                                 wide=wide)
    return export_traces_file(acquisition, out_path, options, progress).path
