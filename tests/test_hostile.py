"""Hostile input and files that change underneath (issue 17): every case gives the clear
SiffError naming the file and the problem, or the correct result; nothing crashes, hangs
or allocates what a file merely claims. Files are built here with libsiff's writer or by
editing bytes; the truth is what the writer was given."""

import os
import struct
import subprocess
import sys
import textwrap
import threading
import warnings

import numpy as np
import pytest

import libsiff
from libsiff import _bindings
from libsiff.errors import (
    SiffArgumentError,
    SiffCorruptError,
    SiffError,
    SiffFormatError,
    SiffIndexError,
    SiffIOError,
    SiffMemoryError,
    SiffShapeError,
)
from libsiff.writer import SiffWriter, build_nvfd, build_roi_json, make_description, raw_words

from conftest import DATA

GOLD = DATA / "golden" / "raw_volume.siff"
TRUTH = np.load(DATA / "golden" / "raw_volume.npz", allow_pickle=True)
CHILD_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def _small_file(path, n_frames=4, shape=(8, 8), tau_bins=62, nvfd=None, seed=0):
    """A raw-frame file; returns the intensity truth (n, H, W) and the timestamps."""
    rng = np.random.default_rng(seed)
    h, w = shape
    truth = np.zeros((n_frames, h, w), np.uint16)
    stamps = np.round(rng.uniform(0, 100, n_frames), 6)
    nvfd = nvfd if nvfd is not None else build_nvfd(**{"SI.hScan2D.hAcq.Tau_bins": tau_bins})
    with SiffWriter(path, nvfd, build_roi_json(h, w)) as wr:
        for i in range(n_frames):
            n = int(rng.integers(5, 50))
            y, x = rng.integers(0, h, n), rng.integers(0, w, n)
            tau = rng.integers(0, tau_bins, n)
            np.add.at(truth[i], (y, x), 1)
            wr.add_raw_words(raw_words(y, x, tau), shape, make_description(i + 1, stamps[i], 10**18 + i))
    return truth, stamps


def _ifd_entry_value_offset(data, ifd, tag_id):
    n = struct.unpack_from("<Q", data, ifd)[0]
    for i in range(n):
        e = ifd + 8 + 20 * i
        if struct.unpack_from("<H", data, e)[0] == tag_id:
            return e + 12
    raise KeyError(tag_id)


def _first_ifd(data):
    return struct.unpack_from("<Q", data, 8)[0]


# ---------------------------------------------------------------- one error family
def test_error_classes_follow_the_mapping():
    assert issubclass(SiffArgumentError, ValueError) and issubclass(SiffArgumentError, SiffError)
    assert issubclass(SiffFormatError, ValueError) and not issubclass(SiffFormatError, OSError)
    assert issubclass(SiffCorruptError, SiffFormatError) and not issubclass(SiffCorruptError, OSError)
    assert issubclass(SiffIOError, OSError) and issubclass(SiffMemoryError, MemoryError)
    # corrosiffpy raises OSError (sum_roi) or ValueError (get_histogram_masked) for a mask
    # of the wrong shape: SiffShapeError is both
    assert issubclass(SiffShapeError, OSError) and issubclass(SiffShapeError, ValueError)
    assert libsiff.SiffArgumentError is SiffArgumentError


def test_bad_arguments_are_argument_errors(tmp_path):
    p = tmp_path / "a.siff"
    _small_file(p)
    with libsiff.open_file(p) as io:
        with pytest.raises(SiffArgumentError, match=f"{p}.*Invalid FLIM method|Invalid FLIM"):
            io.flim_map(flim_method="lifetime please")
        with pytest.raises(SiffArgumentError, match=f"{p}: frame indices must be integers"):
            io.get_frames([0.5])
        with pytest.raises(SiffArgumentError, match="shift table must have shape"):
            io.get_frames([0], registration=np.zeros((2, 2), np.int64))


def test_shape_errors_from_c_and_python_are_shape_errors(tmp_path):
    p = tmp_path / "mixed.siff"
    nvfd = build_nvfd(**{"SI.hScan2D.hAcq.Tau_bins": 30})
    with SiffWriter(p, nvfd, build_roi_json(8, 8)) as wr:
        wr.add_raw_words(raw_words(np.array([1]), np.array([1]), np.array([3])), (8, 8),
                         make_description(1, 0.0, 1))
        wr.add_raw_words(raw_words(np.array([1]), np.array([1]), np.array([3])), (4, 6),
                         make_description(2, 0.1, 2))
    with libsiff.open_file(p) as io:
        with pytest.raises(SiffShapeError, match=f"{p}: frame 1 is 4 x 6 but frame 0 is 8 x 8"):
            io.get_histogram_by_frames([0, 1])  # found by the C core
        with pytest.raises(SiffShapeError, match="mask shape"):
            io.sum_roi(np.ones((5, 5), bool), frames=[0])  # found in Python
        with pytest.raises(SiffShapeError, match="same shape"):
            io.frame_shape()


# ---------------------------------------------------------------- limits
def test_tiny_file_claiming_two_to_the_31_pixels_is_refused(tmp_path):
    """A ~400-byte file whose frame claims 2**31 pixels: refused at open (no 4 GiB image)."""
    p = tmp_path / "tiny.siff"
    nvfd = "SI.hScan2D.hAcq.Tau_bins = 10\n"
    with SiffWriter(p, nvfd, "{}") as wr:
        wr.add_raw_words(np.zeros(1, np.uint64), (4, 4), "frameTimestamps_sec = 0\n")
    data = bytearray(p.read_bytes())
    assert len(data) < 600
    ifd = _first_ifd(data)
    struct.pack_into("<Q", data, _ifd_entry_value_offset(data, ifd, 256), 46341)  # width
    struct.pack_into("<Q", data, _ifd_entry_value_offset(data, ifd, 257), 46341)  # height
    p.write_bytes(bytes(data))
    with pytest.raises(SiffCorruptError, match=f"{p}: frame 0 claims an impossible size "
                                               "46341 x 46341 .*67108864 pixels"):
        libsiff.open_file(p)


def test_request_larger_than_available_memory_is_refused(tmp_path):
    """A legal frame (the 8192 x 8192 maximum, no photons) requested so often that the
    output exceeds the memory the system has: SiffMemoryError before anything is allocated."""
    p = tmp_path / "big.siff"
    nvfd = build_nvfd(**{"SI.hScan2D.hAcq.Tau_bins": 30})
    with SiffWriter(p, nvfd, build_roi_json(8, 8)) as wr:
        wr.add_raw_words(np.zeros(0, np.uint64), (8192, 8192), make_description(1, 0.0, 1))
    assert p.stat().st_size < 1 << 20
    avail = _bindings.available_memory()
    assert avail is not None
    repeats = avail // (8192 * 8192 * 2) + 1
    with libsiff.open_file(p) as io:
        with pytest.raises(SiffMemoryError, match=f"{p}: this request needs .* MiB but only"):
            io.get_frames([0] * repeats)
        assert io.get_frames([0]).sum() == 0  # one frame is fine


@pytest.mark.parametrize("tau_bins", [2**16 + 1, 2**24])
def test_tau_bins_above_the_limit_is_a_clear_error(tmp_path, tau_bins):
    p = tmp_path / "tau.siff"
    truth, _ = _small_file(p, tau_bins=62,
                           nvfd=build_nvfd(**{"SI.hScan2D.hAcq.Tau_bins": tau_bins}))
    with libsiff.open_file(p) as io:
        assert io.tau_bins is None and io.file_info.tau_bins_declared == tau_bins
        np.testing.assert_array_equal(io.get_frames(), truth)  # intensities still read
        for call in (io.get_histogram, io.get_histogram_by_frames, io.get_frames_full,
                     lambda: io.flim_map(flim_method="phasor")):
            with pytest.raises(SiffFormatError, match=f"{p}: .*Tau_bins = {tau_bins} is outside"):
                call()


def test_c_and_imparams_read_tau_bins_from_the_same_key(tmp_path):
    """A header whose first 'Tau_bins = ' belongs to another key: C and ImParams agree on
    SI.hScan2D.hAcq.Tau_bins (and binResolution)."""
    base = build_nvfd(**{"SI.hScan2D.hAcq.Tau_bins": 100, "SI.hScan2D.hAcq.binResolution": 3})
    nvfd = "SI.hDecoy.Tau_bins = 7\nSI.hDecoy.binResolution = 1\n" + base
    p = tmp_path / "decoy.siff"
    _small_file(p, tau_bins=62, nvfd=nvfd)
    with libsiff.open_file(p) as io:
        assert io.tau_bins == 100 and io.file_info.bin_resolution == 3
        assert io.histogram_length == 102
    with libsiff.SiffReader(p) as r:
        assert r.im_params.Scan2D.Acq.Tau_bins == io.tau_bins
        assert r.im_params.picoseconds_per_bin == 5 * 2**3


SHARED_DESCRIPTION = textwrap.dedent("""
    import struct, sys
    import numpy as np
    import libsiff
    from libsiff.writer import SiffWriter, build_nvfd, build_roi_json, make_description
    path, n_frames, desc_mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    desc = (make_description(1, 12.5, 10**18, appended_text="stim", text_timestamp=3.0)
            + "x" * (desc_mib << 20))
    nvfd = build_nvfd(**{"SI.hScan2D.hAcq.Tau_bins": 30})
    with SiffWriter(path, nvfd, build_roi_json(4, 4)) as wr:
        wr.add_raw_words(np.zeros(0, np.uint64), (4, 4), desc)
        for i in range(1, n_frames):
            wr.add_raw_words(np.zeros(0, np.uint64), (4, 4), "")
    # every frame's ImageDescription points at frame 0's description
    data = bytearray(open(path, "rb").read())
    with libsiff.open_file(path) as io:
        infos = io._native.frame_infos(0, n_frames)
    d0 = infos[0]["description_offset"]
    for info in infos[1:]:
        ifd = info["ifd_offset"]
        n = struct.unpack_from("<Q", data, ifd)[0]
        for k in range(n):
            e = ifd + 8 + 20 * k
            if struct.unpack_from("<H", data, e)[0] == 270:
                struct.pack_into("<Q", data, e + 12, d0)
    open(path, "wb").write(bytes(data))
    with libsiff.SiffReader(path) as r:
        t = r.get_time()
        assert r.num_frames == n_frames, r.num_frames
        assert len(t) == n_frames and (t[0] == 12.5), t[:3]
        # the other frames see frame 0's text up to their own data: the same first field
        assert np.all(t[1:] == 12.5), t[:5]
        assert r.siffio.get_epoch_timestamps_laser([0, n_frames - 1]).tolist() == [10**18] * 2
        events = r.get_appended_text()
        assert len(events) == n_frames and events[7] == (7, "stim", 3.0), events[:3]
    print("ok")
""")


def test_every_frame_pointing_at_one_huge_description(tmp_path):
    """Every frame points at one 60 MiB description (near the 64 MiB limit): the fields are read
    once per description and only up to the field, so opening and reading every timestamp
    finishes (the old reader took > 120 s; the timeout is a hang guard, not a benchmark)."""
    script = tmp_path / "shared.py"
    script.write_text(SHARED_DESCRIPTION)
    res = subprocess.run([sys.executable, str(script), str(tmp_path / "shared.siff"), "2000",
                          "60"], capture_output=True, text=True, timeout=120, env=CHILD_ENV)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().endswith("ok")


def test_fields_across_the_read_boundaries_of_long_descriptions(tmp_path):
    """Descriptions padded so that a field, or its value, straddles the point where the
    reader splits a description (one read up to 4 KiB, 64 KiB chunks beyond): every value
    is still the one written."""
    pads = [*range(3990, 4100, 9), *range(65536 - 170, 65536 + 10, 3), 2 * 65536 - 60]
    stamps = [round(0.001 * (k + 1) + 17, 6) for k in range(len(pads))]
    path = tmp_path / "padded.siff"
    with SiffWriter(path, build_nvfd(**{"SI.hScan2D.hAcq.Tau_bins": 30}),
                    build_roi_json(4, 4)) as wr:
        for k, pad in enumerate(pads):
            desc = "x" * pad + "\n" + make_description(k + 1, stamps[k], 10**18 + k,
                                                       system_epoch_ns=2 * 10**18 + k)
            wr.add_raw_words(np.zeros(0, np.uint64), (4, 4), desc)
    n = len(pads)
    with libsiff.open_file(path) as io:
        assert io.get_experiment_timestamps().tolist() == stamps
        laser = [10**18 + k for k in range(n)]
        assert io.get_epoch_timestamps_laser().tolist() == laser
        system = [2 * 10**18 + k for k in range(n)]
        assert io.get_epoch_both().tolist() == [laser, system]
        backwards = list(range(n))[::-1]
        assert io.get_epoch_both(backwards).tolist() == [laser[::-1], system[::-1]]


# ---------------------------------------------------------------- files that change
SHRINK = textwrap.dedent("""
    import os, sys, threading, time
    import numpy as np
    import libsiff
    path = sys.argv[1]
    io = libsiff.open_file(path)
    n = io.num_frames()
    frames = np.tile(np.arange(n), 400)  # a long call: every frame hundreds of times
    size = os.path.getsize(path)
    def shrink():
        time.sleep(0.3)
        os.truncate(path, size // 8)
    th = threading.Thread(target=shrink)
    th.start()
    outcome = "finished"
    try:
        for _ in range(50):
            io.sum_frames(frames)
    except libsiff.SiffIOError as e:
        outcome = "SiffIOError: " + str(e)
    th.join()
    print(outcome)
    print(io._native.info.file_size, os.path.getsize(path))
""")


@pytest.mark.skipif(sys.platform != "linux", reason="file mapping on local disks (Linux)")
def test_file_shrunk_during_a_call_raises_instead_of_sigbus(tmp_path):
    """A file truncated while a long decode runs on it: SiffIOError in the child process,
    never a SIGBUS that kills it."""
    p = tmp_path / "shrink.siff"
    rng = np.random.default_rng(3)
    with SiffWriter(p, build_nvfd(**{"SI.hScan2D.hAcq.Tau_bins": 30}), build_roi_json(64, 64)) as wr:
        for i in range(40):
            n = 50_000
            wr.add_frame(rng.integers(0, 64, n), rng.integers(0, 64, n), rng.integers(0, 30, n),
                         (64, 64), encoding="raw", description=make_description(i + 1, i, i))
    script = tmp_path / "shrink.py"
    script.write_text(SHRINK)
    res = subprocess.run([sys.executable, str(script), str(p)], capture_output=True, text=True,
                         timeout=300, env=CHILD_ENV)
    assert res.returncode == 0, f"child died with {res.returncode}: {res.stderr[-2000:]}"
    assert f"SiffIOError: {p}: the file is shorter than when it was opened" in res.stdout


def test_fifo_is_refused_without_blocking(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    p = tmp_path / "pipe.siff"
    os.mkfifo(p)
    code = (f"import libsiff\ntry:\n libsiff.open_file({str(p)!r})\n"
            "except libsiff.SiffIOError as e:\n print(e)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env=CHILD_ENV)  # a blocking open() would hit the timeout
    assert f"{p}: is a FIFO (named pipe), not a regular file" in res.stdout, res.stderr


def test_bad_ifd_in_the_middle_keeps_the_frames_before(tmp_path):
    data = bytearray(GOLD.read_bytes())
    ifd = int(TRUTH["ifd_offsets"][11])
    struct.pack_into("<Q", data, ifd, 0)  # an IFD with zero tags
    p = tmp_path / "bad_ifd.siff"
    p.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match=f"{p}: the IFD of frame 11 is corrupt .*0 tags"):
        reader = libsiff.SiffReader(p)
    with reader:
        assert reader.num_frames == 11 and reader.damage.startswith("the IFD of frame 11")
        np.testing.assert_array_equal(reader.get_frames(list(range(11)), registration_dict={}),
                                      TRUTH["intensity"][:11])
        with pytest.raises(SiffIndexError, match="frame 11 .*IFD is corrupt"):
            reader.get_frames([11], registration_dict={})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with libsiff.open_file(GOLD) as io:  # an intact file: no warning, no damage
            assert io.damage is None


@pytest.mark.parametrize("which", ["SiffIO", "SiffReader"])
def test_close_while_other_threads_read(tmp_path, which):
    """close() from another thread: running calls finish or raise SiffIOError, never
    AttributeError or a crash."""
    p = tmp_path / "threads.siff"
    truth, _ = _small_file(p, n_frames=30, shape=(32, 32))
    obj = libsiff.open_file(p) if which == "SiffIO" else libsiff.SiffReader(p)
    started, errors, results = threading.Barrier(5), [], []

    def read():
        started.wait()
        try:
            for _ in range(200):
                if which == "SiffIO":
                    out = obj.get_frames()
                    obj.get_experiment_timestamps()
                else:
                    out = obj.get_frames(registration_dict={})
                    obj.get_time()
                results.append(np.array_equal(out, truth))
        except BaseException as e:  # noqa: BLE001 - the test inspects every error
            errors.append(e)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    started.wait()
    obj.close()
    for t in threads:
        t.join()
    assert all(results)
    assert all(isinstance(e, SiffIOError) for e in errors), errors
    with pytest.raises(SiffIOError):
        obj.get_frames() if which == "SiffIO" else obj.get_frames(registration_dict={})


def test_refresh_follows_a_file_still_being_written(tmp_path):
    """ScanImage writes while acquiring: a file cut inside frame 7's data opens with 7
    frames; when the rest arrives, refresh() adds the complete frames (never a half-written
    one)."""
    full = tmp_path / "full.siff"
    truth, stamps = _small_file(full, n_frames=12, shape=(16, 16))
    data = full.read_bytes()
    with libsiff.open_file(full) as io:
        info7 = io._native.frame_infos(7, 1)[0]
    cut = info7["strip_offset"] + info7["strip_byte_count"] // 2
    p = tmp_path / "growing.siff"
    p.write_bytes(data[:cut])
    with pytest.warns(RuntimeWarning, match="ends inside frame 7"):
        reader = libsiff.SiffReader(p)
    with reader:
        io = reader.siffio
        assert reader.num_frames == 7
        with open(p, "ab") as fh:  # more bytes arrive, frame 7 still incomplete
            fh.write(data[cut:cut + 3])
        assert reader.refresh() == 7
        with open(p, "ab") as fh:
            fh.write(data[cut + 3:])
        assert reader.refresh() == 12 and io.num_frames() == 12
        assert reader.im_params.num_frames == 12 if hasattr(reader.im_params, "num_frames") else True
        np.testing.assert_array_equal(reader.get_frames(registration_dict={}), truth)
        np.testing.assert_allclose(reader.get_time(), stamps)
        assert io.damage is None


def test_pread_and_mapped_reads_agree(tmp_path):
    """Both read paths of the C core give the writer's truth."""
    p = tmp_path / "paths.siff"
    truth, _ = _small_file(p, n_frames=6, shape=(12, 10))
    frames = np.arange(6, dtype=np.uint64)
    for pread in (False, True):
        nf = _bindings.NativeFile(str(p), pread=pread)
        try:
            u16, *_ = nf.run(_bindings.Kind.IMAGE, frames)
            np.testing.assert_array_equal(u16.reshape(truth.shape), truth)
        finally:
            nf.close()


def test_reader_mask_with_wrong_plane_count_is_a_shape_error():
    with libsiff.SiffReader(GOLD) as r:
        h, w = r.siffio.frame_shape()
        mask = np.ones((r.im_params.num_slices + 1, h, w), bool)
        with pytest.raises(SiffShapeError, match=f"{GOLD}: mask has .* planes but the file has"):
            r.sum_mask(mask)
