"""The registration sidecar: :class:`RegistrationInfo` and its ``<stem>.siffreg.npz`` file.

Reading is defensive (see :meth:`RegistrationInfo.load`): no pickles, bounded sizes, every
array's shape and dtype checked. :func:`load_saved_registration` sets a damaged sidecar
aside (renamed, never deleted) so that the acquisition still opens, unregistered.
"""

from __future__ import annotations

import enum
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np

from ..atomic import atomic_open, set_aside_damaged
from ..errors import SiffError, SiffFormatError
from ..safe_npz import read_npz

__all__ = ["RegistrationType", "RegistrationInfo", "default_registration_path",
           "load_saved_registration", "file_fingerprint", "set_aside", "REGISTRATION_SUFFIX",
           "FORMAT_VERSION"]

#: Suffix of the sidecar file written next to an acquisition: ``<stem>.siffreg.npz``.
REGISTRATION_SUFFIX = ".siffreg.npz"
#: Version of the sidecar layout (see :meth:`RegistrationInfo.save`).
FORMAT_VERSION = 1
_FORMAT_NAME = "libsiff-registration"


class RegistrationType(enum.Enum):
    """Registration method; members print like SiffPy's (``RegistrationType.Siffpy``)."""

    Siffpy = "siffpy"
    Suite2p = "suite2p"
    Caiman = "caiman"
    Average = "average"
    Other = "other"



def _signed(values: np.ndarray, size: int) -> np.ndarray:
    """Shifts modulo ``size`` mapped to ``[-size//2, size - size//2)``."""
    return (np.asarray(values, np.int64) + size // 2) % size - size // 2


class RegistrationInfo:
    """Shifts and references of one registration (SiffPy-compatible attributes).

    Attributes
    ----------
    yx_shifts : dict[int, tuple[int, int]]
        ``{file frame: (dy, dx)}`` for every frame of every colour of the registered
        planes, values reduced modulo ``(H, W)`` (non-negative, as SiffPy stores them).
        Applied as ``np.roll(frame, (dy, dx), axis=(0, 1))``.
    reference_frames : ndarray or None
        float32 ``(Z, H, W)``: per plane, the mean registered frame of the alignment colour
        (photons per pixel per frame); squeezed to ``(H, W)`` for a single plane, as SiffPy.
    registration_color_channel : int
        0-based colour the shifts were measured on.
    registration_type : RegistrationType
    filename : str
        The acquisition's path.
    frame_grid : ndarray or None
        int64 ``(T, Z, C)``: file frame of (timepoint, plane, colour), -1 where missing.
    shifts : ndarray or None
        int64 ``(T, Z, 2)``: signed integer shifts in pixels, ``(dy, dx)``.
    subpixel_shifts : ndarray or None
        float64 ``(T, Z, 2)``: signed sub-pixel estimates in pixels (display only).
    confidence : ndarray or None
        float64 ``(T, Z)``: posterior probability of the chosen integer shift (0..1).
    quality : ndarray or None
        float64 ``(T, Z)``: correlation of each registered frame with its plane's reference
        (see :func:`libsiff.registration.qc.frame_quality`); None until computed.
    n_frames, frame_shape, fingerprint
        The file this registration belongs to (see :func:`file_fingerprint`).
    options : dict
        Method parameters and diagnostics (JSON-serialisable); for "siffpy": ``cycles_run``,
        ``coarse_cycles_run``, ``seconds``, ``jump_probability_fit``, ``step_sigma_fit``.
    """

    def __init__(self, *, registration_type: RegistrationType | str, filename,
                 yx_shifts: dict, reference_frames: np.ndarray | None = None,
                 registration_color_channel: int = 0, frame_grid: np.ndarray | None = None,
                 shifts: np.ndarray | None = None, subpixel_shifts: np.ndarray | None = None,
                 confidence: np.ndarray | None = None, quality: np.ndarray | None = None,
                 n_frames: int | None = None,
                 frame_shape: tuple[int, int] | None = None, fingerprint: dict | None = None,
                 options: dict | None = None):
        self.registration_type = RegistrationType(registration_type)
        self.filename = str(filename)
        self.yx_shifts = {int(k): (int(v[0]), int(v[1])) for k, v in yx_shifts.items()}
        self.reference_frames = reference_frames
        self.registration_color_channel = int(registration_color_channel)
        self.frame_grid = frame_grid
        self.shifts = shifts
        self.subpixel_shifts = subpixel_shifts
        self.confidence = confidence
        self.quality = quality
        self.n_frames = None if n_frames is None else int(n_frames)
        self.frame_shape = None if frame_shape is None else (int(frame_shape[0]),
                                                             int(frame_shape[1]))
        self.fingerprint = dict(fingerprint or {})
        self.options = dict(options or {})
        self.im_params = None  # set by SiffReader, as SiffPy's attribute

    def __str__(self) -> str:
        return f"{self.registration_type} RegistrationInfo for {self.filename}"

    def __repr__(self) -> str:
        return (f"<RegistrationInfo {self.registration_type.value} {self.filename!r}: "
                f"{len(self.yx_shifts)} frames>")

    def __getitem__(self, frame: int) -> tuple[int, int]:
        return self.yx_shifts[frame]

    @property
    def registration_dict(self) -> dict[int, tuple[int, int]]:
        """The shift dictionary (the same object as :attr:`yx_shifts`)."""
        return self.yx_shifts

    # ---- persistence ----
    def mismatch(self, n_frames: int, frame_shape: tuple[int, int],
                 fingerprint: dict | None = None) -> str | None:
        """Why this registration does not belong to a file, or None when it does.

        Compares the frame count, the frame shape (pixels), every fingerprint entry known on
        both sides, and checks that every shifted frame exists in the file."""
        if self.n_frames is not None and self.n_frames != int(n_frames):
            return f"it was made for {self.n_frames} frames, the file has {int(n_frames)}"
        shape = (int(frame_shape[0]), int(frame_shape[1]))
        if self.frame_shape is not None and self.frame_shape != shape:
            return f"it was made for {self.frame_shape[0]}x{self.frame_shape[1]} frames, " \
                   f"the file's are {shape[0]}x{shape[1]}"
        for key, value in (fingerprint or {}).items():
            mine = self.fingerprint.get(key)
            if mine is not None and value is not None and mine != value:
                return f"the file's {key} changed ({mine} then, {value} now)"
        if self.yx_shifts and max(self.yx_shifts) >= int(n_frames):
            return f"it shifts frame {max(self.yx_shifts)}, the file has {int(n_frames)} frames"
        return None

    def save(self, path=None) -> Path:
        """Write the registration atomically and return the path written.

        ``path`` defaults to :func:`default_registration_path` of :attr:`filename`. The file is
        an uncompressed NumPy ``.npz`` (no pickles) with

        * ``meta``: a JSON string: ``format`` ("libsiff-registration"), ``format_version``,
          ``registration_type`` (value, e.g. "siffpy"), ``registration_color_channel``,
          ``filename``, ``n_frames``, ``frame_shape`` [H, W], ``fingerprint`` (``size`` in
          bytes, ``first_epoch``/``last_epoch`` in ns), ``options``, ``created`` (ISO time);
        * ``frame_index`` int64 (N,) and ``shift_values`` int64 (N, 2): :attr:`yx_shifts`
          (non-negative values, as SiffPy's HDF5 ``yx_shifts`` group);
        * optional ``reference_frames`` float32, ``frame_grid`` int64 (T, Z, C), ``shifts``
          int64 (T, Z, 2), ``subpixel_shifts`` float64 (T, Z, 2), ``confidence`` and
          ``quality`` float64 (T, Z).

        The data go to a temporary file in the same folder, which then replaces ``path`` with
        ``os.replace``: readers see the old file or the new one, never half of one.
        """
        path = Path(path) if path is not None else default_registration_path(self.filename)
        frames = np.fromiter(self.yx_shifts.keys(), np.int64, len(self.yx_shifts))
        values = np.array(list(self.yx_shifts.values()), np.int64).reshape(-1, 2)
        meta = {
            "format": _FORMAT_NAME, "format_version": FORMAT_VERSION,
            "registration_type": self.registration_type.value,
            "registration_color_channel": self.registration_color_channel,
            "filename": self.filename, "n_frames": self.n_frames,
            "frame_shape": list(self.frame_shape) if self.frame_shape else None,
            "fingerprint": self.fingerprint, "options": self.options,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        arrays = {"meta": np.array(json.dumps(meta)), "frame_index": frames,
                  "shift_values": values}
        for name in _OPTIONAL_ARRAYS:
            value = getattr(self, name)
            if value is not None:
                arrays[name] = np.asarray(value)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "wb") as f:
            np.savez(f, **arrays)
        return path

    @classmethod
    def load(cls, path, max_frames: int | None = None) -> RegistrationInfo:
        """Read a file written by :meth:`save`. Raises SiffFormatError when it is not one.

        Nothing is unpickled; every member's size is checked before it is read
        (:func:`libsiff.safe_npz.read_npz`), and every array's dtype and shape
        is checked against the others and against ``meta``. At most ``max_frames`` shifts
        are accepted (default :data:`MAX_SIDECAR_FRAMES`; pass the acquisition's frame
        count when it is known), which bounds the ``yx_shifts`` dict built from them."""
        path = Path(path)
        limit = MAX_SIDECAR_FRAMES if max_frames is None else int(max_frames)
        data = read_npz(path, ("meta", "frame_index", "shift_values") + _OPTIONAL_ARRAYS)
        meta = _parse_meta(path, data.get("meta"))
        frames = _checked(path, data, "frame_index", "iu", (None,), required=True)
        values = _checked(path, data, "shift_values", "iu", (frames.shape[0], 2), required=True)
        n_frames, shape = meta["n_frames"], meta["frame_shape"]
        if n_frames is not None and frames.size > n_frames:
            raise SiffFormatError(f"{path}: {frames.size} shifts, more than the {n_frames} "
                                  "frames it was made for")
        if frames.size > limit:
            raise _TooManyShifts(f"{path}: {frames.size} shifts, more than the acquisition's "
                                 f"{limit} frames")
        if frames.size and (frames.min() < 0 or (n_frames is not None and frames.max() >= n_frames)):
            raise SiffFormatError(f"{path}: frame_index holds frames outside the acquisition")
        T, Z = _grid_size(path, data)
        optional = {
            "reference_frames": _checked(path, data, "reference_frames", "f",
                                         (None, *shape) if shape else None),
            "frame_grid": _checked(path, data, "frame_grid", "iu", (T, Z, None)),
            "shifts": _checked(path, data, "shifts", "iu", (T, Z, 2)),
            "subpixel_shifts": _checked(path, data, "subpixel_shifts", "f", (T, Z, 2)),
            "confidence": _checked(path, data, "confidence", "f", (T, Z)),
            "quality": _checked(path, data, "quality", "f", (T, Z)),
        }
        return cls(registration_type=meta["registration_type"], filename=meta["filename"],
                   yx_shifts=dict(zip(frames.tolist(), map(tuple, values.tolist()), strict=True)),
                   registration_color_channel=meta["registration_color_channel"],
                   n_frames=n_frames, frame_shape=tuple(shape) if shape else None,
                   fingerprint=meta["fingerprint"], options=meta["options"], **optional)


#: Optional arrays of the sidecar, besides the required ``meta``/``frame_index``/``shift_values``.
_OPTIONAL_ARRAYS = ("reference_frames", "frame_grid", "shifts", "subpixel_shifts", "confidence",
                    "quality")
_MAX_META_CHARS = 1 << 20


class _TooManyShifts(SiffFormatError):
    """A readable sidecar with more shifts than the acquisition has frames (stale)."""


#: Most shifts :meth:`RegistrationInfo.load` accepts when the frame count is not given.
MAX_SIDECAR_FRAMES = 1 << 24


def _parse_meta(path: Path, raw) -> dict:
    """The validated ``meta`` JSON of a sidecar (types checked, defaults filled in)."""
    if raw is None or raw.shape != () or raw.dtype.kind != "U":
        raise SiffFormatError(f"{path}: no registration metadata")
    text = str(raw[()])
    if len(text) > _MAX_META_CHARS:
        raise SiffFormatError(f"{path}: registration metadata larger than {_MAX_META_CHARS} chars")
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise SiffFormatError(f"{path}: registration metadata is not JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT_NAME:
        raise SiffFormatError(f"{path}: not a libsiff registration file")
    version = meta.get("format_version", 0)
    if not isinstance(version, int):
        raise SiffFormatError(f"{path}: format_version is not an integer")
    if version > FORMAT_VERSION:
        raise SiffFormatError(f"{path}: registration format {version} is newer than this "
                              f"libsiff understands ({FORMAT_VERSION})")
    values = {v.value for v in RegistrationType}
    rtype, filename = meta.get("registration_type"), meta.get("filename")
    channel, n_frames = meta.get("registration_color_channel", 0), meta.get("n_frames")
    shape = meta.get("frame_shape")
    fingerprint, options = meta.get("fingerprint") or {}, meta.get("options") or {}
    problems = [
        (rtype not in values, "registration_type"),
        (not isinstance(filename, str), "filename"),
        (not _is_count(channel), "registration_color_channel"),
        (n_frames is not None and not _is_count(n_frames), "n_frames"),
        (shape is not None and not (isinstance(shape, list) and len(shape) == 2
                                    and all(_is_count(v) and v > 0 for v in shape)), "frame_shape"),
        (not isinstance(fingerprint, dict), "fingerprint"),
        (not isinstance(options, dict), "options"),
    ]
    bad = [name for wrong, name in problems if wrong]
    if bad:
        raise SiffFormatError(f"{path}: invalid registration metadata: {', '.join(bad)}")
    return {"registration_type": rtype, "filename": filename,
            "registration_color_channel": channel, "n_frames": n_frames,
            "frame_shape": shape, "fingerprint": fingerprint, "options": options}


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2 ** 62


def _grid_size(path: Path, data: dict) -> tuple[int | None, int | None]:
    """(T, Z) that every per-timepoint array must share (from the first one present)."""
    for name in ("frame_grid", "shifts", "subpixel_shifts", "confidence", "quality"):
        a = data.get(name)
        if a is not None:
            if a.ndim < 2:
                raise SiffFormatError(f"{path}: {name} has {a.ndim} dimensions, expected (T, Z, ...)")
            return a.shape[0], a.shape[1]
    return None, None


def _checked(path: Path, data: dict, name: str, kinds: str, shape, required: bool = False):
    """``data[name]`` after checking its dtype kind and shape (None entries: any size)."""
    a = data.get(name)
    if a is None:
        if required:
            raise SiffFormatError(f"{path}: {name} is missing")
        return None
    if a.dtype.kind not in kinds:
        raise SiffFormatError(f"{path}: {name} has dtype {a.dtype}")
    if shape is not None:
        ok = a.ndim == len(shape) and all(w is None or w == v for w, v in zip(shape, a.shape,
                                                                              strict=True))
        # reference_frames of a single plane are stored squeezed, (H, W)
        if not ok and name == "reference_frames" and a.shape == tuple(shape[1:]):
            ok = True
        if not ok:
            raise SiffFormatError(f"{path}: {name} has shape {a.shape}, expected "
                                  f"{tuple('*' if w is None else w for w in shape)}")
    if a.dtype.kind == "f" and name not in ("reference_frames", "quality") \
            and not np.isfinite(a).all():  # quality is NaN where the grid has no frame
        raise SiffFormatError(f"{path}: {name} holds NaN or infinity")
    return a


def default_registration_path(siff_path) -> Path:
    """Where a registration is saved: ``<folder>/<stem>.siffreg.npz`` next to the file.

    SiffPy writes HDF5 into a folder named after the file (``<stem>/<stem>_registration_info.h5``,
    docs/compatibility.md §4.4); libsiff keeps one dependency-free file beside the acquisition instead."""
    p = Path(siff_path)
    return p.with_name(p.stem + REGISTRATION_SUFFIX)


def file_fingerprint(siff_path, io=None) -> dict:
    """What identifies an acquisition's contents cheaply: size and first/last frame epochs.

    Returns ``{"size": bytes, "first_epoch": ns or None, "last_epoch": ns or None}``; the
    epochs (laser clock, ns since the Unix epoch) need an open ``io`` and a ScanImage frame
    description, and are None otherwise."""
    out = {"size": int(os.stat(siff_path).st_size), "first_epoch": None, "last_epoch": None}
    if io is not None and io.num_frames() > 0:
        try:
            ends = io.get_epoch_timestamps_laser([0, io.num_frames() - 1])
            out["first_epoch"], out["last_epoch"] = int(ends[0]), int(ends[1])
        except SiffError:
            pass
    return out


def load_saved_registration(siff_path, n_frames: int, frame_shape: tuple[int, int], *,
                            io=None, path=None) -> RegistrationInfo | None:
    """The registration saved next to ``siff_path``, or None.

    Returns None silently when there is no file. A damaged or foreign sidecar (truncated,
    garbage, wrong shapes) is set aside -- renamed ``<name>.damaged-<UTC time>``, never
    deleted -- with a ``UserWarning`` naming both paths, and None is returned so that the
    acquisition opens unregistered. A readable sidecar that belongs to another acquisition
    (frame count, frame shape in pixels, file size or, with ``io``, first/last frame epochs
    differ) is left in place and ignored with a warning."""
    reg_path = Path(path) if path is not None else default_registration_path(siff_path)
    if not reg_path.exists():
        return None
    try:
        info = RegistrationInfo.load(reg_path, max_frames=n_frames)
    except _TooManyShifts as exc:
        warnings.warn(f"ignoring stale registration {reg_path}: {exc}", UserWarning,
                      stacklevel=2)
        return None
    except SiffFormatError as exc:
        aside = set_aside(reg_path)
        where = f"; moved to {aside}" if aside is not None else " (could not move it aside)"
        warnings.warn(f"ignoring unreadable saved registration: {exc}{where}", UserWarning,
                      stacklevel=2)
        return None
    why = info.mismatch(n_frames, frame_shape, file_fingerprint(siff_path, io))
    if why is not None:
        warnings.warn(f"ignoring stale registration {reg_path}: {why}", UserWarning,
                      stacklevel=2)
        return None
    info.filename = str(siff_path)
    return info


def set_aside(path) -> Path | None:
    """Rename a damaged file to ``<name>.damaged-<UTC time>`` beside it; None if that fails.

    The file is kept (a user may want to look at it) but no longer found by its name
    (:func:`libsiff.atomic.set_aside_damaged`)."""
    try:
        return set_aside_damaged(path)
    except OSError:
        return None
