"""A pure-Python + NumPy writer of ScanImage-FLIM ``.siff`` files.

It follows docs/format.md (the writer checklist of docs/format.md §11): a BigTIFF
(or, on request, classic TIFF) container with ScanImage's header fields, the
non-varying frame data (NVFD) and the ROI JSON right after the header, and per
frame ``IFD | description | [count image] | data``.

Main entry points:

* :class:`SiffWriter` streams frames to disk (raw photons, compressed photons,
  plain ``uint16`` TIFF frames, or arbitrary raw words);
* :func:`make_description` builds a ScanImage-FLIM frame description;
* :func:`build_nvfd` / :func:`build_roi_json` build consistent header texts.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from .atomic import AtomicFile
from .errors import SiffArgumentError

__all__ = [
    "SiffWriter",
    "FrameLayout",
    "make_description",
    "build_nvfd",
    "build_roi_json",
    "format_matlab_value",
    "MatlabLiteral",
    "DEFAULT_HEADER_PATH",
    "DEFAULT_ROI_PATH",
    "SCANIMAGE_MAGIC",
]

SCANIMAGE_MAGIC = 117637889  # 0x07030301
SCANIMAGE_TIFF_VERSION = 4

_RESOURCES = Path(__file__).resolve().parent / "data" / "headers"
DEFAULT_HEADER_PATH = _RESOURCES / "seedlike_header.txt"
DEFAULT_ROI_PATH = _RESOURCES / "seedlike_roigroups.json"

# TIFF field types.
_ASCII, _SHORT, _LONG, _RATIONAL, _LONG8 = 2, 3, 4, 5, 16

# Frame kinds: the value of tag 907 for photon frames; TIFF frames have no tag 907.
RAW, COMPRESSED, TIFF = 0, 1, 2

_BIG_IFD_HEAD = "<Q"
_BIG_ENTRY = "HHQQ"
_CLASSIC_IFD_HEAD = "<H"
_CLASSIC_ENTRY = "HHII"

_MAX_U16 = 0xFFFF
_MAX_U32 = 0xFFFFFFFF


@dataclass(frozen=True)
class FrameLayout:
    """Where one written frame sits in the file (all offsets absolute bytes)."""

    ifd_offset: int
    description_offset: int
    description_length: int
    strip_offset: int
    strip_byte_count: int
    encoding: int  # 0 raw, 1 compressed, 2 plain TIFF
    shape: tuple[int, int]
    n_photons: int


def _encode_text(text: str | bytes, what: str) -> bytes:
    """Encode a frame description: str must be ASCII without NUL; bytes pass as is."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        return bytes(text)
    try:
        data = text.encode("ascii")
    except UnicodeEncodeError as exc:
        raise SiffArgumentError(f"{what} must be ASCII text") from exc
    if b"\0" in data:
        raise SiffArgumentError(f"{what} must not contain NUL bytes")
    return data


def _encode_header_text(text: str | bytes, what: str) -> bytes:
    """Encode the NVFD or ROI text one byte per character (Latin-1), as readers decode it."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        return bytes(text)
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise SiffArgumentError(f"{what} must be Latin-1 text") from exc


def _check_shape(shape: Iterable[int]) -> tuple[int, int]:
    h, w = (int(v) for v in shape)
    if not (1 <= h <= _MAX_U16 + 1 and 1 <= w <= _MAX_U16 + 1):
        raise SiffArgumentError(f"frame shape must be (H, W) with 1 <= H, W <= 65536, got {(h, w)}")
    return h, w


def _as_int_array(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise SiffArgumentError(f"{name} must be an integer array, got dtype {arr.dtype}")
    return arr


def _check_range(arr: np.ndarray, upper: int, name: str) -> None:
    """Raise ValueError unless every value lies in [0, upper)."""
    if arr.size == 0:
        return
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi >= upper:
        raise SiffArgumentError(f"{name} must lie in [0, {upper}), got values in [{lo}, {hi}]")


def raw_words(y: np.ndarray, x: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Pack photons into little-endian u64 words ``y<<48 | x<<32 | tau`` (no range checks)."""
    words = y.astype("<u8") << np.uint64(48)
    words |= x.astype("<u8") << np.uint64(32)
    words |= tau.astype("<u8")
    return words


def compressed_block(y: np.ndarray, x: np.ndarray, tau: np.ndarray,
                     shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(count image u16 (H*W,), arrival bins u16 grouped by pixel)`` (no range checks).

    Photons of one pixel keep their relative input order (stable sort).
    """
    h, w = shape
    pixel = y.astype(np.int64) * w + x.astype(np.int64)
    counts = np.bincount(pixel, minlength=h * w)
    if counts.size and counts.max() > _MAX_U16:
        raise SiffArgumentError(f"a pixel holds {int(counts.max())} photons; "
                         "compressed frames allow 65535")
    order = _stable_pixel_order(pixel, h * w)
    taus = tau if order is None else tau[order]
    return counts.astype("<u2"), taus.astype("<u2")


def _stable_pixel_order(pixel: np.ndarray, n_pixels: int) -> np.ndarray | None:
    """Stable sorting permutation of pixel indices (None when already sorted).

    Uses NumPy's O(n) radix sort on 16-bit keys: one pass, or two (low then
    high half) for frames above 65536 pixels.
    """
    if pixel.size < 2 or bool(np.all(pixel[1:] >= pixel[:-1])):
        return None
    if n_pixels <= 1 << 16:
        return np.argsort(pixel.astype(np.uint16), kind="stable")
    order = np.argsort((pixel & 0xFFFF).astype(np.uint16), kind="stable")
    return order[np.argsort((pixel[order] >> 16).astype(np.uint16), kind="stable")]


class SiffWriter:
    """Stream frames into a new ``.siff`` (ScanImage BigTIFF) file.

    Use as a context manager::

        with SiffWriter(path, nvfd, roi_json) as w:
            w.add_frame(y, x, tau, shape=(H, W), description=make_description(...))

    Data go to a temporary file in the destination folder (:class:`libsiff.atomic.AtomicFile`:
    fsynced, then renamed to ``path`` by :meth:`close` or a clean ``__exit__``; a replaced
    file keeps its permissions). If the ``with`` block
    raises, or :meth:`abort` is called, the temporary file is deleted and
    ``path`` is left untouched. Frames are written as they are added; only a
    small per-frame layout record (:attr:`layout`) is kept in memory.

    ``bigtiff=False`` writes ScanImage's classic 32-bit TIFF variant (docs/format.md §2.2); the
    reference reader corrosiffpy cannot read its frames.
    """

    def __init__(self, path: str | os.PathLike, nvfd: str | bytes, roi_json: str | bytes,
                 bigtiff: bool = True, buffer_size: int = 1 << 22):
        self.path = Path(path)
        self.bigtiff = bool(bigtiff)
        self._nvfd = _encode_header_text(nvfd, "nvfd")
        self._roi = _encode_header_text(roi_json, "roi_json")
        self._text_start = 32 if self.bigtiff else 24
        self._max_offset = (1 << 64) - 1 if self.bigtiff else _MAX_U32
        self.layout: list[FrameLayout] = []
        self._closed = False
        self._last_next_field: int | None = None  # offset of the last IFD's next pointer

        self._target = AtomicFile(self.path, "wb", buffering=buffer_size)
        self._fh = self._target.file
        try:
            self._write_header()
        except BaseException:
            self._discard()
            raise

    # ------------------------------------------------------------------ header

    def _write_header(self) -> None:
        nvfd_len, roi_len = len(self._nvfd), len(self._roi)
        first_ifd = self._text_start + nvfd_len + roi_len
        si_fields = struct.pack("<IIII", SCANIMAGE_MAGIC, SCANIMAGE_TIFF_VERSION, nvfd_len, roi_len)
        if self.bigtiff:
            head = struct.pack("<2sHHHQ", b"II", 43, 8, 0, first_ifd) + si_fields
        else:
            if first_ifd > _MAX_U32:
                raise SiffArgumentError("header texts too long for a classic TIFF")
            head = struct.pack("<2sHI", b"II", 42, first_ifd) + si_fields
        self._fh.write(head)
        self._fh.write(self._nvfd)
        self._fh.write(self._roi)
        self._pos = first_ifd

    # ------------------------------------------------------------------ public API

    @property
    def n_frames(self) -> int:
        """Number of frames written so far."""
        return len(self.layout)

    def add_frame(self, y, x, tau, shape: tuple[int, int], encoding: str = "auto",
                  description: str | bytes = "", *, allow_empty_compressed: bool = False) -> int:
        """Add one FLIM frame of photons and return its frame index.

        ``y`` (rows), ``x`` (columns) and ``tau`` (arrival bins) are equal-length
        integer arrays of any integer dtype, in any order. ``encoding`` is
        ``"raw"`` (tag 907 = 0, photons kept in the given order), ``"compressed"``
        (tag 907 = 1: count image, then arrival bins grouped by pixel in row-major
        order) or ``"auto"`` (compressed when ``2HW + 2N < 8N``, else raw; a
        zero-photon frame is always raw).

        Raises ValueError for coordinates outside the frame, negative or
        >= 2**32 arrival bins, and, for compressed frames, zero photons (unless
        ``allow_empty_compressed``, meant for reader tests), more than 65535
        photons in a pixel or arrival bins >= 65536.
        """
        h, w = _check_shape(shape)
        y = _as_int_array(y, "y")
        x = _as_int_array(x, "x")
        tau = _as_int_array(tau, "tau")
        if not (y.size == x.size == tau.size):
            raise SiffArgumentError(f"y, x and tau differ in length: {y.size}, {x.size}, {tau.size}")
        _check_range(y, h, "y")
        _check_range(x, w, "x")
        _check_range(tau, _MAX_U32 + 1, "tau")
        n = y.size
        if encoding not in ("raw", "compressed", "auto"):
            raise SiffArgumentError(f"encoding must be 'raw', 'compressed' or 'auto', not {encoding!r}")
        block = None
        if encoding == "compressed":
            if n == 0 and not allow_empty_compressed:
                raise SiffArgumentError("a compressed frame needs at least one photon; write it as raw")
            _check_range(tau, _MAX_U16 + 1, "tau (compressed)")
            block = compressed_block(y, x, tau, (h, w))
        elif encoding == "auto" and n and 2 * h * w + 2 * n < 8 * n and int(tau.max()) <= _MAX_U16:
            try:
                block = compressed_block(y, x, tau, (h, w))
            except ValueError:  # a pixel above 65535 photons: only raw can hold it
                block = None
        if block is None:
            return self._write_frame((h, w), RAW, description, raw_words(y, x, tau), n)
        counts, taus = block
        return self._write_frame((h, w), COMPRESSED, description, taus, n, counts)

    def add_raw_words(self, words_uint64, shape: tuple[int, int],
                      description: str | bytes = "") -> int:
        """Add a raw frame (tag 907 = 0) holding the given u64 words verbatim.

        No range checks: use it to write out-of-range coordinates or bins on purpose.
        """
        h, w = _check_shape(shape)
        words = np.ascontiguousarray(np.asarray(words_uint64).reshape(-1), dtype="<u8")
        return self._write_frame((h, w), RAW, description, words, words.size)

    def add_tiff_frame(self, image_uint16, description: str | bytes = "") -> int:
        """Add a plain TIFF frame (no tag 907, BitsPerSample 16) holding a 2-D uint16 image."""
        image = np.asarray(image_uint16)
        if image.ndim != 2:
            raise SiffArgumentError(f"a TIFF frame must be 2-D, got shape {image.shape}")
        if image.dtype != np.uint16:
            if image.size and not np.issubdtype(image.dtype, np.integer):
                raise SiffArgumentError(f"a TIFF frame must hold integers, got dtype {image.dtype}")
            _check_range(image.reshape(-1), _MAX_U16 + 1, "TIFF pixel values")
        h, w = _check_shape(image.shape)
        data = np.ascontiguousarray(image, dtype="<u2").reshape(-1)
        return self._write_frame((h, w), TIFF, description, data, 0)

    def close(self) -> None:
        """Finish the file (last IFD gets next = 0) and move it to ``path``. Idempotent."""
        if self._closed:
            return
        try:
            if self._last_next_field is not None:
                self._fh.seek(self._last_next_field)
                self._fh.write(b"\0" * (8 if self.bigtiff else 4))
            self._target.commit()
        except BaseException:
            self._discard()
            raise
        self._closed = True

    def abort(self) -> None:
        """Stop writing and delete the temporary file; ``path`` is not created."""
        if not self._closed:
            self._discard()

    def __enter__(self) -> "SiffWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # ------------------------------------------------------------------ internals

    def _discard(self) -> None:
        self._closed = True
        self._target.discard()

    def _ifd_entries(self, shape, kind, desc_off, desc_len, strip_off, strip_len):
        h, w = shape
        offset_type = _LONG8 if self.bigtiff else _LONG
        nvfd_len = len(self._nvfd)
        entries = [
            (256, _LONG, 1, w),
            (257, _LONG, 1, h),
            (258, _SHORT, 1, 64 if kind == RAW else 16),
            (259, _SHORT, 1, 1),
            (262, _SHORT, 1, 1),
            (270, _ASCII, desc_len, desc_off),
            (273, offset_type, 1, strip_off),
            (274, _SHORT, 1, 1),
            (277, _SHORT, 1, 1),
            (278, _LONG, 1, h),
            (279, offset_type, 1, strip_len),
            (282, _RATIONAL, 1, 0),
            (283, _RATIONAL, 1, 0),
            (284, _SHORT, 1, 1),
            (296, _SHORT, 1, 3),
            (305, _ASCII, nvfd_len, self._text_start),
            (315, _ASCII, len(self._roi), self._text_start + nvfd_len),
            (339, _SHORT, 1, 1),
        ]
        if kind != TIFF:
            entries.append((907, _SHORT, 1, kind))
        return entries

    def _ifd_size(self, n_tags: int) -> int:
        return 16 + 20 * n_tags if self.bigtiff else 6 + 12 * n_tags

    def _write_frame(self, shape, kind, description, data: np.ndarray, n_photons: int,
                     counts: np.ndarray | None = None) -> int:
        if self._closed:
            raise SiffArgumentError("the writer is closed")
        desc = _encode_text(description, "description")
        n_tags = 18 if kind == TIFF else 19
        ifd_off = self._pos
        desc_off = ifd_off + self._ifd_size(n_tags)
        strip_off = desc_off + len(desc) + (counts.nbytes if counts is not None else 0)
        strip_len = data.nbytes
        next_ifd = strip_off + strip_len
        if next_ifd > self._max_offset:
            raise SiffArgumentError("file too large for a classic TIFF (offsets exceed 4 GiB); "
                             "use bigtiff=True")
        entries = self._ifd_entries(shape, kind, desc_off, len(desc), strip_off, strip_len)
        flat = [v for entry in entries for v in entry]
        if self.bigtiff:
            fmt = _BIG_IFD_HEAD + _BIG_ENTRY * len(entries) + "Q"
        else:
            fmt = _CLASSIC_IFD_HEAD + _CLASSIC_ENTRY * len(entries) + "I"
        fh = self._fh
        fh.write(struct.pack(fmt, len(entries), *flat, next_ifd))
        fh.write(desc)
        if counts is not None:
            fh.write(memoryview(np.ascontiguousarray(counts)).cast("B"))
        if strip_len:
            fh.write(memoryview(np.ascontiguousarray(data)).cast("B"))
        self._last_next_field = desc_off - (8 if self.bigtiff else 4)
        self._pos = next_ifd
        self.layout.append(FrameLayout(ifd_off, desc_off, len(desc), strip_off, strip_len,
                                       kind, shape, n_photons))
        return len(self.layout) - 1


# ---------------------------------------------------------------- descriptions

def _format_seconds(t: float) -> str:
    """ScanImage-style 6-decimal text when exact, else the shortest round-trip text."""
    t = float(t)
    text = f"{t:.6f}"
    return text if float(text) == t else repr(t)


def make_description(frame_number: int, timestamp_s: float, epoch_ns: int,
                     system_epoch_ns: int | None = None, sync_stamp: int = 0,
                     appended_text: str | None = None, text_timestamp: float | None = None,
                     text_timestamp_mode: str = "present", end_of_acquisition: bool = False) -> str:
    """Return a ScanImage-FLIM frame description (docs/format.md §5), every line LF-terminated.

    ``frame_number`` is written to ``frameNumbers`` and ``frameNumberAcquisition``
    (ScanImage counts from 1). ``timestamp_s`` becomes ``frameTimestamps_sec``,
    written with 6 decimals when that is exact and otherwise with the shortest
    text that Python's ``float()`` parses back to the same value. The
    ``mostRecentSystemTimestamp_epoch`` line is left out when ``system_epoch_ns``
    is None. ``end_of_acquisition`` writes ``1`` to ``endOfAcquisition`` and
    ``endOfAcquisitionMode``, as ScanImage does for the last frame. With
    ``appended_text`` (one line), an ``Appended text`` line is added, followed by
    ``Text timestamp = <text_timestamp>`` (mode ``"present"``), an empty
    ``Text timestamp = `` line (``"blank"``) or nothing (``"absent"``).
    """
    end = "1" if end_of_acquisition else ""
    lines = [
        f"frameNumbers = {int(frame_number)}",
        f"frameNumberAcquisition = {int(frame_number)}",
        f"frameTimestamps_sec = {_format_seconds(timestamp_s)}",
        f"sync Stamps = {int(sync_stamp)}",
    ]
    if system_epoch_ns is not None:
        lines.append(f"mostRecentSystemTimestamp_epoch = {int(system_epoch_ns)}")
    lines += [
        "acqTriggerTimestamps_sec = ",
        "nextFileMarkerTimestamps_sec = ",
        f"endOfAcquisition = {end}",
        f"endOfAcquisitionMode = {end}",
        "dcOverVoltage = 0",
        f"epoch = {int(epoch_ns)}",
    ]
    if text_timestamp_mode not in ("present", "blank", "absent"):
        raise SiffArgumentError(f"text_timestamp_mode must be 'present', 'blank' or 'absent', "
                         f"not {text_timestamp_mode!r}")
    if appended_text is not None:
        if "\n" in appended_text or "\r" in appended_text:
            raise SiffArgumentError("appended_text must be a single line")
        lines.append(f"Appended text = {appended_text}")
        if text_timestamp_mode == "present":
            if text_timestamp is None:
                raise SiffArgumentError("text_timestamp is required when text_timestamp_mode is 'present'")
            lines.append(f"Text timestamp = {_format_seconds(text_timestamp)}")
        elif text_timestamp_mode == "blank":
            lines.append("Text timestamp = ")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------ NVFD / ROI texts

class MatlabLiteral(str):
    """A value written verbatim into the NVFD (e.g. ``MatlabLiteral("{16 16}")``)."""


# Keys ScanImage writes as column vectors ([1;2]); other 1-D lists become rows ([1 2]).
_COLUMN_KEYS = {"channelSave", "channelsActive", "channelDisplay", "zsRelative",
                "zsAllActuators", "arbitraryZs"}


def _matlab_number(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Inf" if v > 0 else "-Inf"
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return repr(v)
    raise TypeError(f"cannot write {v!r} ({type(v).__name__}) as a MATLAB number")


def format_matlab_value(value: Any, column: bool = False) -> str:
    """Format a Python value as MATLAB text, as ScanImage writes it in the NVFD.

    bool -> ``true``/``false``; int/float -> number (``Inf``, ``NaN``); str ->
    ``'quoted'`` (a :class:`MatlabLiteral` is written verbatim); None or an empty
    list -> ``[]``; a one-element list -> its element; a flat list -> ``[1 2 3]``
    (``[1;2;3]`` with ``column=True``); a list of rows -> ``[1 2;3 4]``.
    """
    if isinstance(value, MatlabLiteral):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if value is None:
        return "[]"
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        if len(value) == 0:
            return "[]"
        if all(isinstance(row, (list, tuple)) for row in value):
            return "[" + ";".join(" ".join(_matlab_number(v) for v in row) for row in value) + "]"
        if len(value) == 1:
            return _matlab_number(value[0])
        return "[" + (";" if column else " ").join(_matlab_number(v) for v in value) + "]"
    return _matlab_number(value)


_FLIM_NEEDLES = ("Tau_bins = ", "binResolution = ")


def _read_template(template: str | os.PathLike | None, default: Path) -> str:
    if template is None:
        if not default.is_file():
            raise FileNotFoundError(f"default template {default} is missing")
        return default.read_text(encoding="latin-1")
    if isinstance(template, os.PathLike):
        return Path(template).read_text(encoding="latin-1")
    return template


def _key_of(line: str) -> str | None:
    key, sep, _ = line.partition(" = ")
    return key if sep else None


def _insertion_index(lines: list[str], key: str) -> int:
    """Index after the last line sharing the longest dotted prefix with ``key``."""
    parts = key.split(".")
    for depth in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:depth]) + "."
        hits = [i for i, line in enumerate(lines) if line.startswith(prefix)]
        if hits:
            return hits[-1] + 1
    return len(lines)


def build_nvfd(template: str | os.PathLike | None = None, **settings: Any) -> str:
    """Return NVFD text: ``template`` with ``SI.*`` keys set (replaced or added).

    ``template`` is header text (a str) or a path; by default the seed-like
    FastZ header in ``libsiff/data/headers/seedlike_header.txt``. Each setting
    ``"SI.module.key": value`` replaces that key's line, or is inserted after the
    last line of the same module when the key is missing. Values are formatted
    by :func:`format_matlab_value` (channel lists as ``[1;2]`` column vectors).
    Pass settings with dotted names through ``**{...}``.

    Raises ValueError when a key or value would break the line format, or when
    ``Tau_bins = ``/``binResolution = `` would appear anywhere except at the
    start of their own ``SI.hScan2D.hAcq.*`` lines (corrosiff takes the first
    occurrence in the text, docs/format.md §3.1).
    """
    lines = _read_template(template, DEFAULT_HEADER_PATH).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for key, value in settings.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", key):
            raise SiffArgumentError(f"invalid NVFD key {key!r}")
        text = format_matlab_value(value, column=key.rsplit(".", 1)[-1] in _COLUMN_KEYS)
        if "\n" in text or "\r" in text:
            raise SiffArgumentError(f"the value of {key} must be a single line")
        line = f"{key} = {text}"
        idx = [i for i, existing in enumerate(lines) if _key_of(existing) == key]
        if idx:
            for i in idx:
                lines[i] = line
        else:
            lines.insert(_insertion_index(lines, key), line)
    nvfd = "\n".join(lines) + "\n"
    _check_flim_keys(nvfd)
    return nvfd


def _check_flim_keys(nvfd: str) -> None:
    """The first ``Tau_bins = `` / ``binResolution = `` must start their own key line."""
    for needle in _FLIM_NEEDLES:
        pos = nvfd.find(needle)
        if pos < 0:
            continue
        line_start = nvfd.rfind("\n", 0, pos) + 1
        if nvfd[line_start:pos] != "SI.hScan2D.hAcq." or nvfd.count(needle) != 1:
            raise SiffArgumentError(f"{needle.strip()!r} must appear only as the key of its own "
                             f"SI.hScan2D.hAcq line (corrosiff reads its first occurrence)")


def _scanfields(roi_group: Mapping) -> list[dict]:
    rois = roi_group.get("rois") or []
    rois = rois if isinstance(rois, list) else [rois]
    fields = []
    for roi in rois:
        sf = roi.get("scanfields") if isinstance(roi, dict) else None
        if sf is None:
            continue
        fields.extend(sf if isinstance(sf, list) else [sf])
    return fields


def build_roi_json(height: int, width: int, template: str | os.PathLike | None = None) -> str:
    """Return ROI-group JSON whose imaging scanfields have ``pixelResolutionXY = [width, height]``.

    ``template`` is JSON text or a path (default ``libsiff/data/headers/seedlike_roigroups.json``).
    The ROIs' ``UserData.pixelsPerLine``/``linesPerFrame`` are updated too when present.
    The result is re-serialised with ``json.dumps(indent=2)``.
    """
    data = json.loads(_read_template(template, DEFAULT_ROI_PATH))
    imaging = data["RoiGroups"]["imagingRoiGroup"]
    fields = _scanfields(imaging)
    if not fields:
        raise SiffArgumentError("the ROI template has no imaging scanfield")
    for sf in fields:
        sf["pixelResolutionXY"] = [int(width), int(height)]
    rois = imaging.get("rois")
    for roi in rois if isinstance(rois, list) else [rois]:
        user = roi.get("UserData") if isinstance(roi, dict) else None
        if isinstance(user, dict):
            if "pixelsPerLine" in user:
                user["pixelsPerLine"] = int(width)
            if "linesPerFrame" in user:
                user["linesPerFrame"] = int(height)
    return json.dumps(data, indent=2)
