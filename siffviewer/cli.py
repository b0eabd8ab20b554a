"""``siff``: the command-line tool for what users script around siffviewer.

    siff info FILE [--json]                       geometry, timing, channels, frames, bin width
    siff to-tiff FILE [--out PATH] [--force]      ScanImage BigTIFF of the intensity frames
    siff export-traces FILE --out CSV [--masks M] [--channel C] [--raw] [--flim-params P.json]
                       [--dff PCT,WINDOW_S] [--wide] [--template FILE2] [--force]
                                                  ROI traces of the saved session, as the app
    siff session FILE [--json]                    what the saved session holds

Long work shows a progress bar on stderr when stderr is a terminal (``--quiet`` hides it).
User errors (a missing, unreadable or damaged file, an existing output) print
``siff: error: ...`` and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, TextIO

import numpy as np

from libsiff import __version__
from libsiff.errors import SiffError

PROG = "siff"
EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 2, 130


class CliError(Exception):
    """A user error found by the command line itself (printed as ``siff: error: ...``)."""


# ------------------------------------------------------------------ progress bar

class ProgressBar:
    """A one-line text progress bar, redrawn in place with carriage returns.

    Call it as ``bar(done, total)``, or ``bar(fraction)`` with a float in [0, 1]. It is
    drawn only when ``enabled`` (default: the stream is a terminal) and at most every
    ``min_interval`` seconds, except for the first and the final update. ``close()`` ends
    the line. Plain ASCII, so it works in any console encoding.
    """

    def __init__(self, label: str, unit: str = "frames", stream: TextIO | None = None,
                 enabled: bool | None = None, width: int = 28, min_interval: float = 0.1):
        self.label, self.unit, self.width = label, unit, width
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.min_interval = min_interval
        self._start = time.monotonic()
        self._last_draw = -math.inf
        self._drawn = False
        self._last_len = 0

    def __call__(self, done: float, total: float | None = None) -> None:
        if not self.enabled:
            return
        if total is None:  # a fraction
            fraction, counts = float(done), ""
        else:
            fraction = float(done) / float(total) if total else 1.0
            counts = f"  {int(done)}/{int(total)} {self.unit}"
        fraction = min(max(fraction, 0.0), 1.0)
        now = time.monotonic()
        if self._drawn and fraction < 1.0 and now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        filled = int(round(fraction * self.width))
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = now - self._start
        eta = ""
        if 0.0 < fraction < 1.0 and elapsed > 0.5:
            eta = f"  {_clock(elapsed * (1.0 - fraction) / fraction)} left"
        elif fraction >= 1.0:
            eta = f"  {_clock(elapsed)}"
        line = f"{self.label} [{bar}] {fraction * 100:3.0f}%{counts}{eta}"
        pad = " " * max(0, self._last_len - len(line))
        self.stream.write("\r" + line + pad)
        self.stream.flush()
        self._last_len = len(line)
        self._drawn = True

    def close(self) -> None:
        """End the bar's line on the terminal (if one was drawn)."""
        if self.enabled and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _size(nbytes: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if nbytes < 1000 or unit == "GB":
            return f"{nbytes} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000.0
    return ""  # unreachable


# ------------------------------------------------------------------ siff info

def _safe(fn: Callable[[], Any]) -> Any:
    """The value of ``fn()``, or None when the header lacks it or it cannot be computed."""
    try:
        return fn()
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception:  # noqa: BLE001 - info reports what it can of an unusual header
        return None


def _number(value: Any) -> Any:
    """JSON-friendly scalar: numpy scalars to Python, non-finite floats to None."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if hasattr(value, "item") and not isinstance(value, (list, tuple)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_number(v) for v in value]
    return value


def file_info(path: str | os.PathLike) -> dict:
    """Everything ``siff info`` reports about one file, as a JSON-ready dict.

    Raises the SiffError family when the file cannot be opened. Values the header does not
    give are None; warnings raised while opening are listed under ``"warnings"``.
    """
    from libsiff.reader import SiffReader

    path = Path(path)
    with warnings.catch_warnings(record=True) as caught:  # also those of header lookups
        warnings.simplefilter("always")
        with SiffReader(path) as reader:
            info = _collect_info(path, reader)
    seen = []
    for w in caught:
        if str(w.message) not in seen:
            seen.append(str(w.message))
    info["warnings"] = seen
    return info


def _collect_info(path: Path, reader) -> dict:
    io, p = reader.siffio, reader.im_params
    fi = io.file_info
    n = io.num_frames()
    shape = _safe(io.frame_shape) if n else None
    ends = _safe(lambda: io.get_experiment_timestamps([0, n - 1])) if n else None
    first_s = _number(float(ends[0])) if ends is not None else None
    last_s = _number(float(ends[1])) if ends is not None else None
    start_ns = _safe(lambda: int(io.get_epoch_timestamps_laser([0])[0])) if n else None
    start_utc = None
    if start_ns:
        start_utc = _dt.datetime.fromtimestamp(start_ns / 1e9, _dt.timezone.utc).isoformat(
            timespec="milliseconds")
    ps = _safe(lambda: p.picoseconds_per_bin)
    nbins = _safe(lambda: p.num_bins)
    colors = _safe(lambda: p.color_list)
    planes = _safe(lambda: p.num_slices)
    array_shape = _safe(lambda: p.array_shape)
    return {
        "file": str(path),
        "file_size_bytes": fi.file_size,
        "container": "BigTIFF" if fi.bigtiff else "classic TIFF",
        "scanimage_tiff_version": fi.si_version,
        "frames": n,
        "damaged_trailing_frame": fi.damaged_frame,
        "frame_shape": list(shape) if shape else None,
        "uniform_frame_shape": fi.uniform_shape,
        "timepoints": _number(_safe(lambda: p.num_timepoints)),
        "planes": _number(planes),
        "frames_per_slice": _number(_safe(lambda: p.frames_per_slice)),
        "colors": _number(_safe(lambda: p.num_colors)),
        "color_channels": _number(list(colors)) if colors is not None else None,
        "frames_per_volume": _number(_safe(lambda: p.frames_per_volume)),
        "flyback_frames_per_volume": _number(_safe(lambda: p.num_discard_flyback_frames)),
        "discard_flyback_frames": _number(_safe(lambda: p.discard_frames)),
        "array_shape": _number(list(array_shape)) if array_shape else None,
        "z_step_um": _number(_safe(lambda: p.step_size)) if planes != 1 else None,
        "zoom": _number(_safe(lambda: p.zoom)),
        "frame_rate_hz": _number(_safe(lambda: p.RoiManager.scanFrameRate)),
        "volume_rate_hz": _number(_safe(lambda: p.RoiManager.scanVolumeRate)),
        "first_frame_time_s": first_s,
        "last_frame_time_s": last_s,
        "start_epoch_ns": start_ns,
        "start_time_utc": start_utc,
        "bin_width_ps": _number(ps),
        "arrival_bins": _number(nbins),
        "histogram_length": _number(_safe(lambda: io.histogram_length)),
        "laser_period_ns": (_number(ps * nbins / 1000.0)
                            if isinstance(ps, (int, float)) and isinstance(nbins, int)
                            and not isinstance(nbins, bool) else None),
        "warnings": [],
    }


def format_info(info: dict) -> str:
    """The human-readable block printed by ``siff info``."""

    def val(v: Any, unit: str = "", none: str = "unknown") -> str:
        if v is None:
            return none
        if isinstance(v, float):
            v = f"{v:.6g}"
        return f"{v}{unit}"

    rows: list[tuple[str, str]] = []
    size = _size(info["file_size_bytes"])
    rows.append(("File", f"{info['file']}  ({size}, {info['container']}, "
                         f"ScanImage TIFF v{info['scanimage_tiff_version']})"))
    frames = f"{info['frames']}"
    if info["damaged_trailing_frame"] is not None:
        frames += f" complete (the file ends inside frame {info['damaged_trailing_frame']})"
    rows.append(("Frames", frames))
    if info["frame_shape"]:
        h, w = info["frame_shape"]
        rows.append(("Frame size", f"{h} x {w} pixels (rows x columns)"))
    elif not info["frames"]:
        rows.append(("Frame size", "unknown (no complete frame)"))
    else:
        rows.append(("Frame size", "varies between frames"))
    rows.append(("Timepoints", val(info["timepoints"])))
    planes = val(info["planes"])
    if info["z_step_um"] is not None:
        planes += f", z step {val(info['z_step_um'])} um"
    if info["frames_per_slice"] not in (None, 1):
        planes += f", {info['frames_per_slice']} frames per plane"
    rows.append(("Planes", planes))
    channels = val(info["colors"])
    if info["color_channels"]:
        channels += " (channel " + ", ".join(str(c) for c in info["color_channels"]) + ")"
    rows.append(("Colour channels", channels))
    volume = val(info["frames_per_volume"])
    flyback = info["flyback_frames_per_volume"]
    if flyback and isinstance(info["frames_per_volume"], int):
        volume = (f"{info['frames_per_volume'] + flyback} in the file: "
                  f"{info['frames_per_volume']} imaging + {flyback} flyback (skipped)")
    rows.append(("Frames per volume", volume))
    if info["array_shape"]:
        rows.append(("Array shape", "(" + ", ".join(str(v) for v in info["array_shape"]) + ")"
                     "  timepoints, planes, [repeats,] colours, rows, columns"))
    rows.append(("Frame rate", val(info["frame_rate_hz"], " Hz")))
    rows.append(("Volume rate", val(info["volume_rate_hz"], " Hz")))
    if info["first_frame_time_s"] is not None and info["last_frame_time_s"] is not None:
        span = info["last_frame_time_s"] - info["first_frame_time_s"]
        rows.append(("Frame times", f"{info['first_frame_time_s']:.6g} s to "
                                    f"{info['last_frame_time_s']:.6g} s ({span:.6g} s)"))
    else:
        rows.append(("Frame times", "unknown"))
    rows.append(("Started", f"{info['start_time_utc']} (laser clock, UTC)"
                 if info["start_time_utc"] else "unknown"))
    rows.append(("Zoom", val(info["zoom"])))
    flim = val(info["bin_width_ps"], " ps per arrival bin")
    if info["arrival_bins"] is not None:
        flim += f", {info['arrival_bins']} bins"
    if info["laser_period_ns"] is not None:
        flim += f" ({info['laser_period_ns']:.4g} ns)"
    rows.append(("Bin width", flim))
    width = max(len(k) for k, _ in rows) + 2
    lines = [f"{k + ':':<{width}}{v}" for k, v in rows]
    lines += [f"{'Warning:':<{width}}{w}" for w in info["warnings"]]
    return "\n".join(lines)


def cmd_info(args: argparse.Namespace) -> int:
    """``siff info FILE``: geometry, timing and header summary (text or ``--json``)."""
    info = file_info(args.file)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(format_info(info))
    return EXIT_OK


# ------------------------------------------------------------------ siff to-tiff

def _check_output(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise CliError(f"{path} exists (use --force to replace it)")
    if not path.parent.is_dir():
        raise CliError(f"{path.parent}: no such folder for the output")


def cmd_to_tiff(args: argparse.Namespace) -> int:
    """``siff to-tiff FILE``: write the intensity frames as a ScanImage BigTIFF."""
    from libsiff.tiff_export import default_tiff_path, siff_to_tiff

    source = Path(args.file)
    out = Path(args.out) if args.out else default_tiff_path(source)
    if not source.is_file():
        raise CliError(f"{source}: no such file" if not source.exists() else
                       f"{source}: not a file")
    _check_output(out, args.force)
    start = time.monotonic()
    with ProgressBar("to-tiff", enabled=False if args.quiet else None) as bar:
        written = siff_to_tiff(source, out, progress=bar)
    seconds = time.monotonic() - start
    from libsiff.siffio import SiffIO

    with SiffIO(written) as io:
        n, (h, w) = io.num_frames(), io.frame_shape()
    print(f"{written}: {n} frames of {h} x {w} (uint16), {_size(os.path.getsize(written))}, "
          f"{seconds:.1f} s")
    return EXIT_OK


# ------------------------------------------------------------------ siff export-traces

def _dff_arg(text: str) -> tuple[float, float]:
    try:
        pct, window = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected PERCENTILE,WINDOW_S (e.g. 10,30)") from None
    if not (0.0 <= pct <= 100.0) or not window > 0 or not math.isfinite(window):
        raise argparse.ArgumentTypeError(f"{text!r}: percentile in 0..100, window > 0 s")
    return pct, window


def cmd_export_traces(args: argparse.Namespace) -> int:
    """``siff export-traces FILE --masks M --out CSV``: ROI traces (photons, lifetime in
    ns, optional dF/F) as a tidy or wide CSV."""
    from .model.export import TraceExportOptions, export_traces_file
    from .model.masks import MaskFileError

    source, out = Path(args.file), Path(args.out)
    _check_inputs(source, args)
    _check_output(out, args.force)
    options = TraceExportOptions(masks=args.masks, channel=args.channel,
                                 raw=True if args.raw else None, flim_params=args.flim_params,
                                 dff=args.dff, wide=args.wide, template=args.template,
                                 per_plane=args.per_plane)
    start = time.monotonic()
    with ProgressBar("export-traces", unit="timepoints",
                     enabled=False if args.quiet else None) as bar:
        try:
            result = export_traces_file(source, out, options, progress=bar)
        except (MaskFileError, ValueError) as exc:  # masks or params that do not fit
            if isinstance(exc, SiffError):
                raise
            raise CliError(str(exc)) from None
    if not result.roi_names:
        print(f"{PROG}: warning: the session holds no ROI (use --masks)", file=sys.stderr)
    print(f"{result.path}: {len(result.roi_names)} ROIs x {result.n_timepoints} timepoints, "
          f"{_size(result.path.stat().st_size)}, {time.monotonic() - start:.1f} s")
    return EXIT_OK


# ------------------------------------------------------------------ siff session

def session_summary(path: str | os.PathLike) -> dict:
    """What the saved session of an acquisition holds, as a JSON-ready dict."""
    from .model.session import Session
    from .model.session_file import Identity, load_session

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        session = Session(path)
    try:
        g = session.geometry
        shape = (g.n_planes, g.height, g.width)
        loaded = load_session(path, shape, Identity.of(path))
        doc = loaded.document
        out = {"file": str(Path(path).resolve()), "session_file": str(loaded.source)
               if loaded.source else None, "from_autosave": loaded.from_autosave,
               "messages": loaded.messages}
        if doc is None:
            return out
        settings = doc.settings()
        settings["rois"] = [{"name": r[0], "planes": [int(z) for z in np.flatnonzero(
            r[2].reshape(r[2].shape[0], -1).any(1))], "pixels": int(r[2].sum()),
            "all_planes": r[3]} for r in doc.rois]
        settings["scanimage_channel"] = _safe(
            lambda: int(list(session.im_params.color_list)[doc.channel]))
        out.update(settings)
        return out
    finally:
        session.close()


def cmd_session(args: argparse.Namespace) -> int:
    """``siff session FILE``: what the saved session of an acquisition holds."""
    info = session_summary(args.file)
    if args.json:
        print(json.dumps(info, indent=2, default=float))
        return EXIT_OK
    print(f"File:          {info['file']}")
    for m in info["messages"]:
        print(f"Note:          {m}")
    if info["session_file"] is None:
        print("Session:       none saved")
        return EXIT_OK
    print(f"Session file:  {info['session_file']}" + ("  (autosave)" if info["from_autosave"] else ""))
    print(f"Channel:       {info['channel']} (0-based; ScanImage channel {info['scanimage_channel']})")
    print(f"Frames:        {'registered' if info['registered'] else 'raw'}"
          + (f" ({info['registration']})" if info.get("registration") else ""))
    fits = ", ".join(f"channel {k}" for k in info["flim_params"]) or "none"
    print(f"FLIM fits:     {fits}")
    cals = ", ".join(f"channel {k}: {v.get('source', '?')}"
                     for k, v in (info.get("calibrations") or {}).items()) or "none"
    print(f"Calibrations:  {cals}")
    corrections = ", ".join(info.get("backgrounds") or {}) or "none"
    print(f"Corrections:   {corrections}"
          + ("; fraction fit on" if (info.get("fraction_fit") or {}).get("enabled") else ""))
    print("dF/F:          " + (f"F0 = {info['dff'][0]:g}th percentile in {info['dff'][1]:g} s"
                               if info["dff"] else "off"))
    print(f"Position:      timepoint {info['timepoint']}, plane {info['plane']}, "
          f"average {info['average']}")
    print(f"ROIs:          {len(info['rois'])}")
    for r in info["rois"]:
        print(f"  {r['name']}: {r['pixels']} pixels in planes {r['planes']}")
    return EXIT_OK


# ------------------------------------------------------------------ siff convert-masks

def _acquisition_shape(path: Path) -> tuple[int, int, int]:
    from libsiff.reader import SiffReader

    if not path.is_file():
        raise CliError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    with SiffReader(path) as reader:
        return (int(reader.im_params.num_slices), *(int(v) for v in reader.im_params.shape))


def cmd_convert_masks(args: argparse.Namespace) -> int:
    """``siff convert-masks IN OUT``: ROIs from any masks format to another."""
    from .model.formats import MaskFormatError, infer_shape, read_masks_any, write_masks_any

    source, out = Path(args.input), Path(args.output)
    if not source.is_file():
        raise CliError(f"{source}: no such masks file" if not source.exists() else
                       f"{source}: not a file")
    _check_output(out, args.force)
    try:
        if args.like:
            shape = _acquisition_shape(Path(args.like))
        elif args.shape:
            try:
                shape = tuple(int(v) for v in args.shape.split(","))
            except ValueError:
                shape = ()
            if len(shape) != 3 or min(shape) < 1:
                raise CliError(f"--shape {args.shape!r}: give planes,rows,columns (e.g. 3,512,512)")
        else:
            shape = infer_shape(source)
            if shape is None:
                raise CliError(f"{source}: this format does not record the image size; "
                               "give --like ACQUISITION or --shape Z,H,W")
        masks, names = read_masks_any(source, shape)
        write_masks_any(out, masks, names, source=str(args.like or ""))
    except MaskFormatError as exc:
        raise CliError(str(exc)) from None
    print(f"{out}: {len(names)} ROI(s), planes x rows x columns {shape[0]} x {shape[1]} x "
          f"{shape[2]}")
    return EXIT_OK


def _register_convert_masks(sub) -> None:
    p = sub.add_parser("convert-masks", help="convert ROIs between ImageJ, label TIFF, "
                       "suite2p and siffviewer masks files",
                       description="Read ROIs from IN (ImageJ RoiSet.zip or .roi, label TIFF, "
                                   "suite2p stat.npy with iscell.npy, or .siffmasks.npz; chosen "
                                   "by content) and write them to OUT in the format of its "
                                   "extension (.zip/.roi, .tif, .npy, .npz).")
    p.add_argument("input", metavar="IN", help="masks file to read")
    p.add_argument("output", metavar="OUT", help="masks file to write")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--shape", metavar="Z,H,W", help="planes,rows,columns of the acquisition")
    size.add_argument("--like", metavar="ACQUISITION", help="take the shape from this .siff")
    p.add_argument("--force", "-f", action="store_true", help="replace an existing output")
    p.set_defaults(func=cmd_convert_masks)


# ------------------------------------------------------------------ siff export-nwb

def cmd_export_nwb(args: argparse.Namespace) -> int:
    """``siff export-nwb FILE --out X.nwb``: the saved session's traces to NWB."""
    from .model.export import TraceExportOptions
    from .model.formats.nwb import DEFAULT_SUBJECT, export_nwb_file
    from .model.masks import MaskFileError

    source, out = Path(args.file), Path(args.out)
    _check_inputs(source, args)
    _check_output(out, args.force)
    subject = {k: v for k, v in (("subject_id", args.subject_id), ("species", args.species),
                                 ("sex", args.sex), ("age", args.age)) if v}
    options = TraceExportOptions(masks=args.masks, channel=args.channel,
                                 raw=True if args.raw else None, flim_params=args.flim_params,
                                 dff=args.dff, template=args.template)
    start = time.monotonic()
    with ProgressBar("export-nwb", unit="timepoints",
                     enabled=False if args.quiet else None) as bar:
        try:
            export_nwb_file(source, out, options, subject, progress=bar)
        except (MaskFileError, ValueError) as exc:  # masks or params that do not fit
            if isinstance(exc, SiffError):
                raise
            raise CliError(str(exc)) from None
    defaults = [k for k in ("species", "sex", "age") if k not in subject]
    if defaults:
        print(f"{PROG}: note: subject " + ", ".join(f"{k} {DEFAULT_SUBJECT[k]!r}"
                                                  for k in defaults)
              + " by default (--species/--sex/--age)", file=sys.stderr)
    print(f"{out}: {_size(out.stat().st_size)}, {time.monotonic() - start:.1f} s")
    return EXIT_OK


def _check_inputs(source: Path, args: argparse.Namespace) -> None:
    """A clear error for a missing acquisition, masks, FLIM parameters or template file."""
    inputs = [("file", source)] + [(what, Path(p)) for what, p in (
        ("masks file", args.masks), ("FLIM parameters file", args.flim_params),
        ("template acquisition", args.template)) if p]
    for what, path in inputs:
        if not path.is_file():
            raise CliError(f"{path}: no such {what}" if not path.exists() else
                           f"{path}: not a file")


def _register_export_nwb(sub) -> None:
    p = sub.add_parser("export-nwb", help="ROI traces of the saved session to NWB",
                       description="Write an NWB file with the acquisition's metadata, the ROIs "
                                   "and the traces export-traces writes (photons, dF/F when "
                                   "set, lifetime in ns with its standard error), from FILE's "
                                   "saved session; the options override the session.")
    p.add_argument("file", metavar="FILE", help=".siff file")
    p.add_argument("--out", "-o", required=True, metavar="NWB", help="output .nwb file")
    _add_session_options(p, "a masks or session file (ImageJ RoiSet.zip/.roi, label TIFF, "
                            "suite2p stat.npy, .npz)",
                         "use this acquisition's saved session instead", csv=False)
    p.add_argument("--subject-id", help="subject identifier (default: the file's name)")
    p.add_argument("--species", help="species, Latin binomial (default 'Drosophila "
                                     "melanogaster')")
    p.add_argument("--sex", choices=["M", "F", "U", "O"], help="subject sex (default U)")
    p.add_argument("--age", help="ISO 8601 age, e.g. P90D (default P0D/: not known)")
    p.add_argument("--force", "-f", action="store_true", help="replace an existing output")
    p.set_defaults(func=cmd_export_nwb)


# ------------------------------------------------------------------ siff diff

def cmd_diff(args: argparse.Namespace) -> int:
    """`siff diff A B [--json]`: print the header settings that differ from A to B."""
    from .model.header_diff import diff_files

    for path in (Path(args.a), Path(args.b)):
        if not path.is_file():
            raise CliError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    diff = diff_files(args.a, args.b)
    if args.json:
        print(json.dumps({"a": str(args.a), "b": str(args.b), **diff.to_dict()}, indent=2))
    else:
        print(diff.format_text(Path(args.a).name, Path(args.b).name))
    return EXIT_OK


def _register_diff(sub) -> None:
    p = sub.add_parser("diff", help="ScanImage settings that differ between two acquisitions",
                       description="Compare the headers of A and B: settings whose value changed, "
                                   "settings only B has (added) and only A has (removed), named "
                                   "by their ImParams path (e.g. FastZ.enable).")
    p.add_argument("a", metavar="A", help=".siff or ScanImage .tiff file")
    p.add_argument("b", metavar="B", help=".siff or ScanImage .tiff file")
    p.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    p.set_defaults(func=cmd_diff)


# ------------------------------------------------------------------ siff batch

EXIT_FILES_FAILED = 1  # siff batch: it ran, but at least one file failed


def add_batch_parser(sub) -> None:
    """Register ``siff batch`` (the options of export-traces, over many files, on Dask)."""
    p = sub.add_parser(
        "batch", help="ROI traces of many files at once, on a Dask cluster",
        description="Export the ROI traces of every FILE (and every .siff file in every "
                    "FOLDER) to OUT, one CSV per file (and NWB with --nwb) plus "
                    "OUT/summary.csv, as export-traces (and export-nwb) would file by file. "
                    "Runs on a local Dask cluster of processes, or on a running one "
                    "(--scheduler). Files whose outputs are current (same inputs) are "
                    "skipped; see docs/batch.md.",
        epilog="Exit status: 0 when every file succeeded, 1 when some failed (see the "
               "summary), 2 on an error, 130 when interrupted.")
    p.add_argument("paths", nargs="+", metavar="FILE_OR_FOLDER", help=".siff files or folders")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="output folder")
    _add_session_options(p, "a masks or session file to use (default: each file's saved "
                            "session)", "use this acquisition's saved session for every file")
    p.add_argument("--nwb", action="store_true",
                   help="also write each file's traces as NWB (as export-nwb), beside the CSV")
    p.add_argument("--register", action="store_true",
                   help="register each file first, with the template's registration settings")
    p.add_argument("--force", "-f", action="store_true",
                   help="redo every file, also those whose outputs are current")
    p.add_argument("--workers", "-j", type=int, metavar="N",
                   help="local worker processes (default: the number of cores; 0: no Dask, "
                        "one file after the other in this process)")
    p.add_argument("--threads", type=int, default=1, metavar="T",
                   help="threads of each local worker process (with --workers 0: of this "
                        "process, no Dask), one file each (default 1; with T > 1 the default "
                        "workers are the cores divided by T)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="use the running Dask scheduler at ADDRESS (e.g. tcp://host:8786)")
    p.set_defaults(func=cmd_batch)


def cmd_batch(args: argparse.Namespace) -> int:
    """``siff batch``: the traces (and NWB) of many files, on Dask."""
    import signal
    import threading

    from tqdm import tqdm

    from libsiff import SiffCancelled

    from .model.batch import run_batch
    from .model.export import TraceExportOptions

    if args.workers is not None and args.workers < 0:
        raise CliError("--workers must be 0 or more")
    if args.threads < 1:
        raise CliError("--threads must be 1 or more")
    options = TraceExportOptions(masks=args.masks, channel=args.channel,
                                 raw=True if args.raw else None, flim_params=args.flim_params,
                                 dff=args.dff, wide=args.wide, template=args.template,
                                 per_plane=args.per_plane)
    interrupted = []  # Ctrl-C: stop cleanly and still write the summary
    main_thread = threading.current_thread() is threading.main_thread()
    previous = (signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))
                if main_thread else None)
    bar = tqdm(total=None, unit="file", desc="batch", disable=True if args.quiet else None,
               dynamic_ncols=True)
    start, nbytes = time.monotonic(), [0]

    def progress(done: int, total: int, outcome) -> None:
        bar.total = total
        nbytes[0] += outcome.size_bytes if outcome.status == "done" else 0
        rate = nbytes[0] / max(time.monotonic() - start, 1e-9) / 1e6
        bar.set_postfix_str(f"{rate:.1f} MB/s, {Path(outcome.source).name}: {outcome.status}",
                            refresh=False)
        bar.update(done - bar.n)

    try:
        result = run_batch(args.paths, args.out, options, register=args.register,
                           force=args.force, workers=args.workers, scheduler=args.scheduler,
                           threads=args.threads, progress=progress,
                           cancel=lambda: bool(interrupted), nwb=args.nwb)
    except SiffCancelled as exc:
        bar.close()
        print(f"{PROG}: interrupted: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ValueError as exc:
        raise CliError(str(exc)) from None
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, previous)
        bar.close()
    counts = {s: sum(o.status == s for o in result.outcomes) for s in ("done", "skipped",
                                                                       "failed", "cancelled")}
    for o in result.failed:
        what = o.error if o.source in o.error else f"{o.source}: {o.error or o.status}"
        print(f"{PROG}: {o.status}: {what}", file=sys.stderr)
    print(f"{len(result.outcomes)} files: {counts['done']} done, {counts['skipped']} up to "
          f"date, {counts['failed']} failed, {result.seconds:.1f} s; {result.summary}")
    return EXIT_FILES_FAILED if result.failed else EXIT_OK


# ------------------------------------------------------------------ main

def _add_session_options(p, masks_help: str, template_help: str, csv: bool = True) -> None:
    """The options with which export-traces, export-nwb and batch override a saved session
    (``csv``: also the CSV layout options ``--wide`` and ``--per-plane``)."""
    p.add_argument("--masks", "-m", metavar="MASKS", help=masks_help)
    p.add_argument("--channel", type=int, metavar="C", help="colour channel (0-based)")
    p.add_argument("--raw", action="store_true", help="ignore the registration")
    p.add_argument("--flim-params", metavar="P.json", help="FLIM fit JSON as the app exports it")
    p.add_argument("--dff", type=_dff_arg, metavar="PCT,WINDOW_S",
                   help="add dF/F with F0 the PCT percentile in a WINDOW_S moving window")
    p.add_argument("--template", metavar="ACQUISITION", help=template_help)
    if csv:
        p.add_argument("--wide", action="store_true", help="one column per ROI")
        p.add_argument("--per-plane", action="store_true",
                       help="add the photons of each plane of an ROI (photons_plane<z> columns)")


def build_parser() -> argparse.ArgumentParser:
    """The ``siff`` argument parser with every subcommand."""
    ap = argparse.ArgumentParser(
        prog=PROG,
        description="Command-line tools for ScanImage-FLIM .siff files (libsiff / siffviewer).",
        epilog="Exit status: 0 on success, 2 on an error (printed as 'siff: error: ...').")
    ap.add_argument("--version", action="version", version=f"{PROG} (libsiff {__version__})")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("info", help="geometry, timing, channels, frame count and bin width",
                       description="Print what a file holds: frame geometry, planes, colour "
                                   "channels, timing, frame count and arrival-time bin width.")
    p.add_argument("file", metavar="FILE", help=".siff or ScanImage .tiff file")
    p.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("to-tiff", help="write the intensity frames as a ScanImage BigTIFF",
                       description="Write every frame's photon-count image (uint16) to a "
                                   "ScanImage-style BigTIFF with the same header and frame "
                                   "descriptions (as corrosiffpy.siff_to_tiff).")
    p.add_argument("file", metavar="FILE", help=".siff file")
    p.add_argument("--out", "-o", metavar="PATH", help="output file (default: FILE with .tiff)")
    p.add_argument("--force", "-f", action="store_true", help="replace an existing output")
    p.set_defaults(func=cmd_to_tiff)

    p = sub.add_parser("export-traces", help="ROI traces of the saved session to CSV",
                       description="Write the ROI traces of FILE as the app exports them, from "
                                   "its saved session (ROIs, channel, registration, FLIM fit, "
                                   "dF/F); the options override the session.")
    p.add_argument("file", metavar="FILE", help=".siff file")
    p.add_argument("--out", "-o", required=True, metavar="CSV", help="output CSV file")
    _add_session_options(p, "a masks or session file to use",
                         "use this acquisition's saved session instead")
    p.add_argument("--force", "-f", action="store_true", help="replace an existing output")
    p.set_defaults(func=cmd_export_traces)

    p = sub.add_parser("session", help="what the saved session of a file holds",
                       description="Print the saved (or autosaved) session of FILE: ROIs, "
                                   "channel, registration, FLIM fits, dF/F, position.")
    p.add_argument("file", metavar="FILE", help=".siff file")
    p.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    p.set_defaults(func=cmd_session)
    _register_convert_masks(sub)
    _register_export_nwb(sub)
    _register_diff(sub)

    add_batch_parser(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``siff`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)  # usage errors: argparse prints them and exits 2
    try:
        code = args.func(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:  # e.g. `siff info FILE | head -1`: the reader left, not an error
        _silence_stdout()
        return EXIT_OK
    except (CliError, SiffError, OSError) as exc:
        sys.stdout.flush()
        print(f"{PROG}: error: {_message(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, SiffError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc)


if __name__ == "__main__":
    sys.exit(main())
