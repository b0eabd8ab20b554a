"""The only module that touches the compiled C core (``libsiff._siff``).

It converts numpy arrays to C buffers (numpy allocates, C fills), checks every return
code with one helper and raises the SiffError family with the C library's detail. The
GIL is released by cffi during every C call, so decoding runs in parallel with Qt."""

from __future__ import annotations

import contextlib
import os
import struct
import threading
from typing import NamedTuple

import numpy as np

from . import errors
from ._siff import ffi, lib

__all__ = ["NativeFile", "FileInfo", "FRAME_INFO_FIELDS", "Kind", "c_version"]

_ERRORS = {
    lib.SIFF_ERR_IO: errors.SiffIOError,
    lib.SIFF_ERR_FORMAT: errors.SiffCorruptError,
    lib.SIFF_ERR_TRUNCATED: errors.SiffCorruptError,
    lib.SIFF_ERR_INDEX: errors.SiffIndexError,
    lib.SIFF_ERR_ARG: errors.SiffArgumentError,
    lib.SIFF_ERR_NOMEM: errors.SiffMemoryError,
    lib.SIFF_ERR_NO_TAU_BINS: errors.SiffFormatError,
    lib.SIFF_ERR_NOT_FLIM: errors.SiffFormatError,
    lib.SIFF_ERR_NO_FIELD: errors.SiffFormatError,
    lib.SIFF_ERR_SHAPE: errors.SiffShapeError,
}

MAX_TAU_BINS = int(lib.SIFF_MAX_TAU_BINS)
MAX_FRAME_PIXELS = int(lib.SIFF_MAX_FRAME_PIXELS)
DAMAGE_TRUNCATED = lib.SIFF_DAMAGE_TRUNCATED
DAMAGE_BAD_IFD = lib.SIFF_DAMAGE_BAD_IFD
#: planes of siff_projection_sums' output, in order (siff.h)
PROJ_PLANES = int(lib.SIFF_PROJ_PLANES)


def _threads_from_env() -> int:
    """Threads per C call: LIBSIFF_NUM_THREADS, else OMP_NUM_THREADS (Dask sets it to 1 in
    its workers, which run one file each), else the number of cores."""
    for name in ("LIBSIFF_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1


_THREADS = max(1, min(_threads_from_env(), 8))


class Kind:
    """Output kinds of the C kernel (see siff.h)."""

    IMAGE = lib.SIFF_OUT_IMAGE
    MASK_SUMS = lib.SIFF_OUT_MASK_SUMS
    MASK_FLIM = lib.SIFF_OUT_MASK_FLIM
    HISTOGRAM = lib.SIFF_OUT_HISTOGRAM
    FULL = lib.SIFF_OUT_FULL
    PIXEL_FLIM = lib.SIFF_OUT_PIXEL_FLIM


def c_version() -> int:
    """Version number of the compiled C core (major*10000 + minor*100 + patch)."""
    return int(lib.siff_version_number())


def _raise(err, path: str) -> None:
    status = int(err.status)
    detail = ffi.string(err.message).decode("utf-8", "replace")
    cls = _ERRORS.get(status, errors.SiffError)
    raise cls(f"{path}: {detail}")


def _check(rc: int, err, path: str) -> None:
    if rc != lib.SIFF_OK:
        _raise(err, path)


def available_memory() -> int | None:
    """Bytes the system can give without swapping (Linux ``MemAvailable``), or None."""
    try:
        with open("/proc/meminfo", "rb") as fh:
            for line in fh:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def check_allocation(nbytes: int, path: str, what: str) -> None:
    """Raises SiffMemoryError when ``nbytes`` exceed the memory available now."""
    avail = available_memory()
    if avail is not None and nbytes > avail:
        raise errors.SiffMemoryError(
            f"{path}: {what} needs {nbytes / 2**20:,.0f} MiB but only {avail / 2**20:,.0f} MiB "
            "are available; request fewer frames or a smaller output")


def plan_threads(out_bytes: int, per_thread: int, path: str) -> int:
    """Threads for a request whose outputs take ``out_bytes`` and each extra thread
    ``per_thread`` more (summed requests accumulate per thread): as many as fit in the
    available memory, at most the core count. SiffMemoryError when not even one fits."""
    check_allocation(out_bytes, path, "this request")
    avail = available_memory()
    if not per_thread or avail is None:
        return _THREADS
    return int(max(1, min(_THREADS, 1 + (avail - out_bytes) // per_thread)))


def _c_array(ctype: str, array: np.ndarray | None, writable: bool = False):
    if array is None:
        return ffi.NULL
    if not array.flags.c_contiguous:
        raise ValueError("internal error: array is not C-contiguous")
    return ffi.from_buffer(ctype, array, require_writable=writable)


class FileInfo(NamedTuple):
    """Container-level facts of an open file (immutable)."""

    bigtiff: bool
    si_version: int
    file_size: int
    first_ifd: int
    nvfd_length: int
    roi_length: int
    num_frames: int
    damaged_frame: int | None
    damage: int  # 0 none, DAMAGE_TRUNCATED or DAMAGE_BAD_IFD (why the index stops early)
    damage_detail: str  # what is wrong with the bad IFD
    tau_bins: int | None
    tau_bins_declared: int | None  # the header's Tau_bins even above MAX_TAU_BINS
    bin_resolution: int | None
    uniform_shape: bool
    height: int
    width: int


def _info_struct() -> struct.Struct:
    """siff_file_info's layout as a struct format, in FileInfo's field order (one unpack
    reads the whole record: reading 16 cdata attributes one by one costs more than the
    C open of a small file)."""
    codes = {"bigtiff": "i", "si_version": "I", "damage": "i", "damage_detail": "320s",
             "tau_bins": "q", "tau_bins_declared": "q", "bin_resolution": "q",
             "uniform_shape": "I"}
    fmt, at = "<", 0
    for name in FileInfo._fields:
        offset = ffi.offsetof("siff_file_info", name)
        fmt += "x" * (offset - at) + codes.get(name, "Q")
        at = offset + struct.calcsize("<" + codes.get(name, "Q"))
    fmt += "x" * (ffi.sizeof("siff_file_info") - at)
    assert struct.calcsize(fmt) == ffi.sizeof("siff_file_info")
    return struct.Struct(fmt)


_INFO = _info_struct()
_NO_FRAME = 2**64 - 1


def _file_info(raw) -> FileInfo:
    (bigtiff, si_version, file_size, first_ifd, nvfd, roi, frames, damaged, damage, detail,
     tau, tau_declared, bin_res, uniform, height, width) = _INFO.unpack_from(ffi.buffer(raw))
    return FileInfo(
        bool(bigtiff), si_version, file_size, first_ifd, nvfd, roi, frames,
        None if damaged == _NO_FRAME else damaged, damage,
        detail.split(b"\0", 1)[0].decode("utf-8", "replace") if damage else "",
        None if tau == -1 else tau, None if tau_declared == -1 else tau_declared,
        None if bin_res == -1 else bin_res, bool(uniform), height, width)


FRAME_INFO_FIELDS = (
    "ifd_offset", "width", "height", "description_offset", "description_length",
    "strip_offset", "strip_byte_count", "siff_tag", "bits_per_sample", "compression",
    "photometric", "orientation", "samples_per_pixel", "rows_per_strip", "resolution_unit",
    "sample_format", "x_resolution", "y_resolution", "software_offset", "artist_offset",
    "present_mask", "flags",
)

FIELD_FRAME_TIMESTAMP = lib.SIFF_FIELD_FRAME_TIMESTAMP
FIELD_EPOCH_LASER = lib.SIFF_FIELD_EPOCH_LASER
FIELD_EPOCH_SYSTEM = lib.SIFF_FIELD_EPOCH_SYSTEM
FIELD_SYNC_STAMPS = lib.SIFF_FIELD_SYNC_STAMPS
FIELD_HAS_APPENDED_TEXT = lib.SIFF_FIELD_HAS_APPENDED_TEXT
FIELD_EPOCH_BOTH = lib.SIFF_FIELD_EPOCH_BOTH


class NativeFile:
    """An open ``siff_file*``. Owned by this object; ``close()`` frees it (idempotent).

    Calls from several threads may run at once (the GIL is released in C). ``close()``
    never frees the handle under a running call: it refuses new calls at once and the
    last running call frees the handle when it returns."""

    def __init__(self, path: str, pread: bool = False):
        self.path = path
        err = ffi.new("siff_error *")
        handle = lib.siff_open_ex(os.fsencode(path), lib.SIFF_OPEN_PREAD if pread else 0, err)
        if handle == ffi.NULL:
            _raise(err, path)
        # ffi.gc is only a safety net; SiffIO.close() releases the handle explicitly.
        self._handle = ffi.gc(handle, lib.siff_close)
        self._lock = threading.Lock()
        self._active = 0
        self._closing = False
        raw = ffi.new("siff_file_info *")
        lib.siff_get_info(handle, raw)
        self.info = _file_info(raw)

    def _enter(self):
        """The handle, counted as in use by one C call until :meth:`_leave`."""
        lock = self._lock
        lock.acquire()  # not `with`: this runs on every call, and small calls are a few us
        try:
            if self._handle is None or self._closing:
                raise errors.SiffIOError(f"{self.path}: the file is closed")
            self._active += 1
            return self._handle
        finally:
            lock.release()

    def _leave(self) -> None:
        lock = self._lock
        lock.acquire()
        try:
            self._active -= 1
            if self._closing and self._active == 0:
                self._release()
        finally:
            lock.release()

    @contextlib.contextmanager
    def _use(self):
        """The handle, kept alive for the duration of one C call."""
        handle = self._enter()
        try:
            yield handle
        finally:
            self._leave()

    def _release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            ffi.release(handle)  # runs siff_close now

    def close(self) -> None:
        with self._lock:
            if self._closing:
                return
            self._closing = True
            if self._active == 0:
                self._release()

    @property
    def closed(self) -> bool:
        return self._closing

    # ---- text ----
    def nvfd(self) -> str:
        buf = ffi.new("char[]", max(self.info.nvfd_length, 1))
        err = ffi.new("siff_error *")
        with self._use() as h:
            _check(lib.siff_read_nvfd(h, buf, self.info.nvfd_length, err), err, self.path)
        return ffi.unpack(buf, self.info.nvfd_length).decode("latin-1")

    def roi_text(self) -> str:
        buf = ffi.new("char[]", max(self.info.roi_length, 1))
        err = ffi.new("siff_error *")
        with self._use() as h:
            _check(lib.siff_read_roi_text(h, buf, self.info.roi_length, err), err, self.path)
        return ffi.unpack(buf, self.info.roi_length).decode("latin-1")

    def description(self, frame: int, limit: int | None = None) -> str:
        """The description text of ``frame`` (its first ``limit`` bytes when given)."""
        err = ffi.new("siff_error *")
        length = ffi.new("uint64_t *")
        with self._use() as h:
            _check(lib.siff_read_description(h, frame, ffi.NULL, 0, length, err), err, self.path)
            n = int(length[0]) if limit is None else min(int(length[0]), limit)
            buf = ffi.new("char[]", max(n, 1))
            _check(lib.siff_read_description(h, frame, buf, n, length, err), err, self.path)
        return ffi.unpack(buf, n).decode("utf-8", "replace")

    def fields(self, frames: np.ndarray, field: int):
        """(float64 values or None, uint64 values or None, bool found or None) of a
        description field per frame (uint64 frames): timestamps come as float64 (NaN where
        missing) without ``found``; ``FIELD_EPOCH_BOTH`` gives 2n values, laser then system."""
        n = len(frames)
        f64 = u64 = found = None
        if field == FIELD_FRAME_TIMESTAMP:
            f64 = np.empty(n, np.float64)
            outs = (ffi.from_buffer("double[]", f64, True), ffi.NULL, ffi.NULL)
        else:
            k = 2 if field == FIELD_EPOCH_BOTH else 1
            found = np.empty(k * n, np.bool_)  # C writes bytes 0/1: valid numpy bools
            if field != FIELD_HAS_APPENDED_TEXT:
                u64 = np.empty(k * n, np.uint64)
            outs = (ffi.NULL, ffi.NULL if u64 is None else ffi.from_buffer("uint64_t[]", u64, True),
                    ffi.from_buffer("uint8_t[]", found, True))
        args = (ffi.from_buffer("uint64_t[]", frames), n, field, *outs)
        h = self._enter()
        try:
            rc = lib.siff_read_fields(h, *args, ffi.NULL)
            if rc:  # the call only reads: run it again for the message (errors are rare)
                err = ffi.new("siff_error *")
                rc = lib.siff_read_fields(h, *args, err)
        finally:
            self._leave()
        if rc:
            _raise(err, self.path)
        return f64, u64, found

    def frame_infos(self, start: int, count: int) -> list[dict]:
        """The full IFD facts of frames [start, start+count), re-read from the file."""
        out = ffi.new("siff_frame_info[]", max(count, 1))
        err = ffi.new("siff_error *")
        with self._use() as h:
            _check(lib.siff_get_frame_infos(h, start, count, out, err), err, self.path)
        return [{k: int(getattr(out[i], k)) for k in FRAME_INFO_FIELDS} for i in range(count)]

    # ---- plane projections ----
    def projection_sums(self, frames: np.ndarray, shifts: np.ndarray | None,
                        out: np.ndarray) -> None:
        """Adds the per-pixel sums of ``frames`` to ``out``, uint64 (PROJ_PLANES, H, W)
        (see siff_projection_sums in siff.h; the max plane keeps the larger value)."""
        if out.dtype != np.uint64 or out.ndim != 3 or out.shape[0] != PROJ_PLANES:
            raise ValueError("internal error: projection sums need a (7, H, W) uint64 array")
        # per thread (projections.c): per padded pixel a 32-byte cell, 4- and 1-byte counts
        # and a bit; a 4-byte touched list per pixel; a batch of up to 2^19 16-byte records
        h, w = out.shape[1:]
        padded = (h + 1) * (w + 2)
        per_thread = padded * 37 + padded // 8 + h * w * 4 + min(h * w * 256, 2**19) * 16
        threads = plan_threads(0, per_thread, self.path)
        err = ffi.new("siff_error *")
        oor = ffi.new("uint64_t *")
        with self._use() as handle:
            rc = lib.siff_projection_sums(handle, _c_array("uint64_t[]", frames), len(frames),
                                          _c_array("int64_t[]", shifts), threads,
                                          _c_array("uint64_t[]", out, True), out.size, oor, err)
        _check(rc, err, self.path)
        self.last_out_of_range = int(oor[0])

    # ---- the kernel ----
    def run(self, kind: int, frames: np.ndarray, shifts: np.ndarray | None = None,
            masks: np.ndarray | None = None, mask_planes: int = 1, sum_frames: bool = False,
            phasor: bool = False, phasor_period_bins: float = 0.0, lifetime_offset: float = 0.0):
        """Runs one kernel request; returns (u16, u64, tau_sums, re, im) arrays (or None).

        ``phasor_period_bins``: the phasor period in arrival bins (0: the histogram length).
        Per-frame ``Kind.PIXEL_FLIM`` returns final values in the third slot instead of bin
        sums: float64 lifetimes (bin mean minus ``lifetime_offset``) or, with ``phasor``,
        complex128 phasors rotated by ``exp(-2*pi*i*lifetime_offset/period)``."""
        req = ffi.new("siff_request *")
        req.kind = kind
        req.n_frames = len(frames)
        req.frames = _c_array("uint64_t[]", frames)
        req.shifts = _c_array("int64_t[]", shifts)
        if masks is not None:
            req.masks = _c_array("uint8_t[]", masks)
            req.n_masks = masks.shape[0]
            req.mask_planes = mask_planes
        req.sum_frames = int(sum_frames)
        req.n_threads = _THREADS
        req.phasor_period_bins = float(phasor_period_bins)
        final = kind == Kind.PIXEL_FLIM and not sum_frames
        req.lifetime_phasor = int(final and phasor)
        req.lifetime_offset = float(lifetime_offset)
        err = ffi.new("siff_error *")
        sizes = ffi.new("uint64_t[4]")
        with self._use() as h:
            _check(lib.siff_request_sizes(h, req, sizes, sizes + 1, sizes + 2, sizes + 3, err),
                   err, self.path)
        n16, n64, ntau, nph = (int(sizes[i]) for i in range(4))
        # each thread but the first sums into its own copy of the summed outputs (kernels.c)
        req.n_threads = plan_threads(2 * n16 + 8 * (n64 + ntau + 2 * nph * bool(phasor)),
                                     8 * (n64 + ntau + 2 * nph) if sum_frames else 0, self.path)
        u16 = np.empty(n16, np.uint16) if n16 else None
        u64 = np.empty(n64, np.uint64) if n64 else None
        tau = np.empty(ntau, np.uint64) if ntau and kind in (Kind.MASK_FLIM, Kind.PIXEL_FLIM) else None
        re = np.empty(nph, np.float64) if phasor and nph else None
        im = np.empty(nph, np.float64) if phasor and nph else None
        lifetime = np.empty(n16, np.complex128 if phasor else np.float64) if final else None
        req.out_u16, req.out_u16_len = _c_array("uint16_t[]", u16, True), n16
        req.out_u64, req.out_u64_len = _c_array("uint64_t[]", u64, True), n64
        req.out_tau_u64, req.out_tau_len = _c_array("uint64_t[]", tau, True), ntau
        req.out_re = _c_array("double[]", re, True)
        req.out_im = _c_array("double[]", im, True)
        req.out_phasor_len = nph
        if lifetime is not None:
            req.out_lifetime = _c_array("double[]", lifetime.view(np.float64), True)
            req.out_lifetime_len = lifetime.size * (2 if phasor else 1)
        with self._use() as h:
            rc = lib.siff_run(h, req, err)
        if rc == lib.SIFF_ERR_NO_TAU_BINS and self.info.tau_bins_declared is not None:
            raise errors.SiffFormatError(
                f"{self.path}: the header's SI.hScan2D.hAcq.Tau_bins = "
                f"{self.info.tau_bins_declared} is outside 1..{MAX_TAU_BINS}, the arrival-time "
                "histogram lengths libsiff reads")
        _check(rc, err, self.path)
        self.last_out_of_range = int(req.out_of_range_photons)
        self.last_clamped_pixels = int(req.out_clamped_pixels)
        if final:
            return u16, u64, lifetime, None, None
        return u16, u64, tau, re, im
