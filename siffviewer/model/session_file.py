"""The session file: everything the user decided about one acquisition, kept beside it.

``<stem>.siffsession.npz`` (saved) and ``<stem>.siffsession.autosave.npz`` (autosaved;
beside the acquisition, or in the user's data folder when that folder is read-only). A
``.npz`` holding a JSON ``document`` plus the ROI arrays, read with no pickles and with
sizes checked (:mod:`.sidecar`), written atomically. The format is described in
``docs/session-format.md``. Legacy ``.siffmasks.npz`` files (and their autosaves) are read
as sessions holding only ROIs. Qt-free.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from libsiff import __version__
from libsiff.atomic import atomic_open

from . import sidecar
from .masks import AUTOSAVE_SUFFIX as LEGACY_AUTOSAVE_SUFFIX
from .masks import MASKS_SUFFIX, MaskFileError, masks_from_arrays, roi_arrays, rois_from_arrays
from .projections import SOURCES
from .sidecar import SidecarError, json_text, read_npz, set_aside
from .view_state import LUTS

FORMAT = "siffviewer-session"
VERSION = 2  # 2: calibrations, backgrounds, fraction_fit, phasor (1 read and migrated)
SESSION_SUFFIX = ".siffsession.npz"
AUTOSAVE_SUFFIX = ".siffsession.autosave.npz"
FINGERPRINT_SPAN = 1 << 20


class SessionFileError(SidecarError):
    """A session file cannot be read (names the file and the problem)."""


@dataclass(frozen=True)
class Identity:
    """Which acquisition a session belongs to: its size and a hash of its first and last
    MiB (a copy or a move keeps it; another file, or the same name rewritten, does not)."""

    size: int
    fingerprint: str

    @classmethod
    def of(cls, acquisition: str | Path) -> "Identity":
        """The identity of the file at ``acquisition``."""
        path = Path(acquisition)
        size = path.stat().st_size
        h = hashlib.sha256(str(size).encode())
        with open(path, "rb") as fh:
            h.update(fh.read(FINGERPRINT_SPAN))
            if size > FINGERPRINT_SPAN:
                fh.seek(max(FINGERPRINT_SPAN, size - FINGERPRINT_SPAN))
                h.update(fh.read(FINGERPRINT_SPAN))
        return cls(size, h.hexdigest()[:32])


@dataclass(frozen=True)
class SessionDocument:
    """Everything the user decides about one acquisition (what a session file holds).

    Channels are 0-based. ``flim_params`` maps a channel to the FLIMParams JSON dict
    (``FLIMParams.to_dict``); ``calibrations`` a channel to its ``Calibration.to_dict``
    (version 1 files have none: :func:`~.flim_settings.calibration_from_document` derives
    it from the channel's fit); ``backgrounds`` an ROI name to its
    ``BackgroundSettings.to_dict``; ``fraction_fit`` and ``phasor`` the dicts of
    :class:`~.flim_settings.FractionFitSettings` and :class:`~.flim_settings.PhasorSettings`
    (empty: defaults); ``dff`` is (percentile, window_s) or None; ``levels`` maps a
    channel to its display range in photons; ``luts`` a channel to a colour map name."""

    rois: list = field(default_factory=list)  # [(name, color, mask, all_planes, visible)]
    channel: int = 0
    registered: bool = True           # use the registration when there is one
    registration: str | None = None   # the registration file name the session used
    flim_params: dict = field(default_factory=dict)
    dff: tuple[float, float] | None = None
    timepoint: int = 0
    plane: int = 0
    average: int = 1
    levels: dict = field(default_factory=dict)
    luts: dict = field(default_factory=dict)
    draw_on: str = "frame"            # what the main view shows (projections.SOURCES)
    lifetime_range: tuple[float, float] | None = None
    calibrations: dict = field(default_factory=dict)
    backgrounds: dict = field(default_factory=dict)
    fraction_fit: dict = field(default_factory=dict)
    phasor: dict = field(default_factory=dict)
    tools: dict = field(default_factory=dict)
    identity: Identity | None = None
    source: str = ""

    def settings(self) -> dict:
        """The JSON part (everything but the ROI arrays)."""
        d = {k: v for k, v in asdict(self).items() if k not in ("rois", "identity")}
        d["identity"] = asdict(self.identity) if self.identity else None
        d["flim_params"] = {str(k): v for k, v in self.flim_params.items()}
        d["levels"] = {str(k): list(v) for k, v in self.levels.items()}
        d["luts"] = {str(k): v for k, v in self.luts.items()}
        d["calibrations"] = {str(k): v for k, v in self.calibrations.items()}
        return d

    def with_(self, **changes) -> "SessionDocument":
        """A copy with ``changes`` applied."""
        return replace(self, **changes)


def session_path_for(acquisition: str | Path) -> Path:
    """Where the saved session of ``acquisition`` lives (beside it)."""
    p = Path(acquisition)
    return p.with_name(p.stem + SESSION_SUFFIX)


def autosave_candidates(acquisition: str | Path) -> list[Path]:
    """Where an autosaved session may be: beside the acquisition, then the user data folder."""
    return sidecar.autosave_candidates(acquisition, AUTOSAVE_SUFFIX)


def autosave_path_for(acquisition: str | Path) -> Path:
    """Where to autosave now: beside the acquisition when its folder is writable."""
    return sidecar.autosave_path_for(acquisition, AUTOSAVE_SUFFIX)


# ------------------------------------------------------------------ write / read

def write_session_file(path: str | Path, doc: SessionDocument, shape: tuple[int, int, int]) -> Path:
    """Write ``doc`` atomically to ``path``."""
    path = Path(path)
    document = {"format": FORMAT, "version": VERSION, "libsiff_version": __version__,
                "shape": list(shape), **doc.settings()}
    arrays = roi_arrays(doc.rois, shape)
    arrays["document"] = np.array(json.dumps(document, allow_nan=False, default=float))
    with atomic_open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return path


def read_session_file(path: str | Path, shape: tuple[int, int, int]) -> SessionDocument:
    """Read a session file, or a legacy masks file (ROIs only). Raises SessionFileError."""
    path = Path(path)
    try:
        arrays = read_npz(path)
        if "document" not in arrays:
            return SessionDocument(rois=masks_from_arrays(path, arrays, shape))
        doc = json.loads(json_text(arrays, "document", path))
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise SessionFileError(f"{path}: not a siffviewer session file")
        if not isinstance(doc.get("version"), int) or doc["version"] > VERSION:
            raise SessionFileError(f"{path}: session version {doc.get('version')!r} is newer "
                                   f"than this siffviewer reads ({VERSION}); update siffviewer")
        rois = rois_from_arrays(path, arrays, shape)
        return _document(path, doc, rois)
    except SessionFileError:
        raise
    except (SidecarError, MaskFileError) as e:
        raise SessionFileError(str(e)) from None
    except (ValueError, TypeError, KeyError) as e:
        raise SessionFileError(f"{path}: malformed session document ({e})") from None
    except RecursionError:  # JSON nested deeper than Python's stack: hostile or damaged
        raise SessionFileError(f"{path}: malformed session document (nested too deeply)") from None


def _document(path: Path, d: dict, rois: list) -> SessionDocument:
    def pair(v):
        if v is None:
            return None
        a, b = (float(x) for x in v)
        if not (math.isfinite(a) and math.isfinite(b)):
            raise ValueError("non-finite pair")
        return (a, b)

    def channel_map(key, fn):
        m = d.get(key) or {}
        if not isinstance(m, dict):
            raise ValueError(f"{key} is not a mapping")
        return {int(k): fn(v) for k, v in m.items()}

    ident = d.get("identity")
    identity = Identity(int(ident["size"]), str(ident["fingerprint"])) if ident else None
    params = channel_map("flim_params", lambda v: v if isinstance(v, dict) else _bad("flim"))
    calibrations = channel_map("calibrations",
                               lambda v: v if isinstance(v, dict) else _bad("calibration"))
    tools, backgrounds, fraction, phasor = (_mapping(d, k) for k in
                                            ("tools", "backgrounds", "fraction_fit", "phasor"))
    return SessionDocument(
        rois=rois, channel=int(d.get("channel", 0)), registered=bool(d.get("registered", True)),
        registration=d.get("registration"), flim_params=params, dff=pair(d.get("dff")),
        timepoint=int(d.get("timepoint", 0)), plane=int(d.get("plane", 0)),
        average=max(1, int(d.get("average", 1))), levels=channel_map("levels", pair),
        luts=channel_map("luts", lambda v: v if v in LUTS else "grey"),
        draw_on=d.get("draw_on") if d.get("draw_on") in SOURCES else "frame",
        lifetime_range=pair(d.get("lifetime_range")),
        calibrations=calibrations, backgrounds={str(k): v for k, v in backgrounds.items()},
        fraction_fit=fraction, phasor=phasor, tools=tools, identity=identity,
        source=str(d.get("source", "")))


def _mapping(d: dict, key: str) -> dict:
    value = d.get(key) or {}
    if not isinstance(value, dict):
        raise ValueError(f"{key} is not a mapping")
    return value


def _bad(what: str):
    raise ValueError(f"bad {what} entry")


# ------------------------------------------------------------------ which file to use

@dataclass
class LoadedSession:
    """What opening found: the document (None: nothing saved), where it came from, whether
    it is an autosave newer than the saved file, and messages for the user (damaged files
    set aside, autosaves of another acquisition ignored)."""

    document: SessionDocument | None
    source: Path | None = None
    from_autosave: bool = False
    messages: list[str] = field(default_factory=list)
    set_aside: list[Path] = field(default_factory=list)


def _legacy_autosaves(acquisition: Path) -> list[Path]:
    return sidecar.autosave_candidates(acquisition, LEGACY_AUTOSAVE_SUFFIX)


def load_session(acquisition: str | Path, shape: tuple[int, int, int],
                 identity: Identity | None = None) -> LoadedSession:
    """The newest readable session of ``acquisition``: autosaves (of this acquisition's
    identity) newer than the saved file first, then the saved file, then legacy masks
    files. Damaged files are renamed aside (never deleted) and reported."""
    acquisition = Path(acquisition)
    identity = identity or Identity.of(acquisition)
    saved = [session_path_for(acquisition), acquisition.with_name(acquisition.stem + MASKS_SUFFIX)]
    autos = autosave_candidates(acquisition) + _legacy_autosaves(acquisition)
    result = LoadedSession(None)
    saved_time = max((p.stat().st_mtime for p in saved if p.exists()), default=-math.inf)
    ordered = sorted((p for p in autos if p.exists()), key=lambda p: -p.stat().st_mtime)
    ordered += [p for p in saved if p.exists()]
    for path in ordered:
        is_auto = path in autos
        if is_auto and path.stat().st_mtime <= saved_time:
            continue  # older than the saved file: obsolete
        try:
            doc = read_session_file(path, shape)
        except SessionFileError as e:
            try:
                aside = set_aside(path)
                result.set_aside.append(aside)
                result.messages.append(f"{e}. It was set aside as {aside.name}.")
            except OSError as move_error:
                result.messages.append(f"{e} (could not set it aside: {move_error})")
            continue
        if is_auto and doc.identity is not None and doc.identity != identity:
            result.messages.append(f"{path.name} belongs to another acquisition of the same "
                                   "name (size or content differ); it was not used.")
            continue
        result.document, result.source, result.from_autosave = doc, path, is_auto
        if is_auto:
            result.messages.append(f"Recovered unsaved edits from {path.name}.")
        return result
    return result


def saved_roi_count(acquisition: str | Path, shape: tuple[int, int, int]) -> int | None:
    """How many ROIs the saved session (or legacy masks file) holds; None if none readable."""
    acquisition = Path(acquisition)
    for path in (session_path_for(acquisition),
                 acquisition.with_name(acquisition.stem + MASKS_SUFFIX)):
        if path.exists():
            try:
                return len(read_session_file(path, shape).rois)
            except SessionFileError:
                continue
    return None


def save_session(acquisition: str | Path, doc: SessionDocument, shape: tuple[int, int, int],
                 confirm_fewer=None) -> Path | None:
    """Save ``doc`` as the acquisition's session file and remove its (now obsolete)
    autosaves. When the saved file holds more ROIs than ``doc``, ``confirm_fewer(saved,
    new) -> bool`` must agree (no callback: refuse); returns None when not saved."""
    acquisition = Path(acquisition)
    have = saved_roi_count(acquisition, shape)
    if have is not None and have > len(doc.rois):
        if confirm_fewer is None or not confirm_fewer(have, len(doc.rois)):
            return None
    target = write_session_file(session_path_for(acquisition), doc, shape)
    for stale in autosave_candidates(acquisition) + _legacy_autosaves(acquisition):
        if stale.exists():
            stale.unlink()
    return target


def autosave_session(acquisition: str | Path, doc: SessionDocument,
                     shape: tuple[int, int, int]) -> Path:
    """Write the autosave of ``doc`` (beside the acquisition or in the user data folder)."""
    return write_session_file(autosave_path_for(acquisition), doc, shape)


def params_hash(params: dict) -> str:
    """A short stable hash of a FLIMParams JSON dict (for export headers)."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=float).encode()).hexdigest()[:16]


def rois_hash(rois: list) -> str:
    """A short stable hash of ROI names and masks (for export headers)."""
    h = hashlib.sha256()
    for name, _color, mask, _all, _vis in rois:
        h.update(name.encode())
        h.update(np.packbits(np.asarray(mask, bool)).tobytes())
    return h.hexdigest()[:16]
