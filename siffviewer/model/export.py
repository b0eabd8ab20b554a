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
from pathlib import Path

import numpy as np

from libsiff.atomic import atomic_open

from .traces import Baseline, Traces, compute_traces, dff


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temp file and a rename."""
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    return Path(path)


def _header(source: str, traces: Traces, registration: str, flim: str,
            baseline: Baseline | None) -> list[str]:
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
    return lines


def traces_csv(source: str, traces: Traces, registration: str = "none", flim: str = "none",
               baseline: Baseline | None = None, wide: bool = False) -> str:
    """The CSV text: tidy (one row per ROI per timepoint) or wide (one column per ROI)."""
    out = io.StringIO()
    for line in _header(source, traces, registration, flim, baseline):
        out.write(line + "\n")
    w = csv.writer(out, lineterminator="\n")
    R, T = traces.photons.shape
    ratio = dff(traces.photons, baseline.compute(traces.photons, traces.time_s)) if baseline else None
    file_name = Path(source).name
    if not wide:
        cols = ["file", "roi", "planes", "timepoint", "time_s", "photons", "lifetime_ns"]
        w.writerow(cols + (["dff"] if baseline else []))
        for r in range(R):
            planes = ";".join(map(str, traces.planes[r]))
            for t in range(T):
                row = [file_name, traces.names[r], planes, t, _num(traces.time_s[t]),
                       int(traces.photons[r, t]), _num(traces.lifetime_ns[r, t])]
                if ratio is not None:
                    row.append(_num(ratio[r, t]))
                w.writerow(row)
    else:
        cols = ["timepoint", "time_s"]
        for name in traces.names:
            cols += [f"{name} photons", f"{name} lifetime_ns"] + ([f"{name} dff"] if baseline else [])
        w.writerow(cols)
        for t in range(T):
            row = [t, _num(traces.time_s[t])]
            for r in range(R):
                row += [int(traces.photons[r, t]), _num(traces.lifetime_ns[r, t])]
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
    for name, mask in zip(names, masks):
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


def export_traces_cli(acquisition: str | Path, masks_path: str | Path, out_path: str | Path,
                      progress=None, color: int = 0, registered: bool = True,
                      wide: bool = False, baseline: Baseline | None = None) -> Path:
    """``siff export-traces``: the app's CSV from a saved masks file."""
    from .masks import read_masks
    from .session import Session

    session = Session(acquisition)
    try:
        shape = (session.geometry.n_planes, session.geometry.height, session.geometry.width)
        rois = read_masks(masks_path, shape)
        masks = np.stack([r[2] for r in rois]) if rois else np.zeros((0, *shape), bool)
        names = [r[0] for r in rois]
        reg = registered and session.registration is not None
        params = session.flim_params_for(color)
        traces = compute_traces(session, masks, list(range(1, len(names) + 1)), names, color,
                                reg, params, progress=progress)
        return export_traces(out_path, str(session.path), traces,
                             registration=session.registration_text(),
                             flim=session.flim_text(params), baseline=baseline, wide=wide)
    finally:
        session.close()
