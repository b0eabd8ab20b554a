"""Damaged files: every failure is a SiffError naming the file and the problem; nothing
crashes, hangs or reads outside the file (docs/format.md §12)."""

import os
import struct
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import libsiff
from libsiff import SiffCorruptError, SiffError, SiffIndexError

from conftest import DATA

GOLD = DATA / "golden" / "raw_volume.siff"
TRUTH = np.load(DATA / "golden" / "raw_volume.npz", allow_pickle=True)


def _write(tmp_path, data: bytes, name="damaged.siff"):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _read_everything(io):
    n = io.num_frames()
    if n == 0:
        return
    io.get_frames()
    io.get_histogram()
    io.flim_map()
    io.get_experiment_timestamps()
    io.get_frame_metadata()


@pytest.mark.parametrize("cut,where", [(5, "file header"), (40, "header text"),
                                       (2500, "ROI text")])
def test_cut_inside_header_raises(tmp_path, cut, where):
    p = _write(tmp_path, GOLD.read_bytes()[:cut])
    with pytest.raises(SiffCorruptError) as info:
        libsiff.open_file(p)
    assert str(p) in str(info.value)
    # a format error is a ValueError and never an OSError (``except OSError`` around a
    # write must not swallow it)
    assert isinstance(info.value, ValueError) and not isinstance(info.value, OSError)


@pytest.mark.parametrize("frame", [1, 7, 23])
@pytest.mark.parametrize("part", ["ifd", "description", "data"])
def test_cut_inside_frame_keeps_complete_frames(tmp_path, frame, part):
    data = GOLD.read_bytes()
    ifd = int(TRUTH["ifd_offsets"][frame])
    desc = int(TRUTH["description_offsets"][frame])
    strip = int(TRUTH["strip_offsets"][frame])
    cut = {"ifd": ifd + 30, "description": desc + 5,
           "data": strip + max(1, int(TRUTH["strip_byte_counts"][frame]) // 2)}[part]
    p = _write(tmp_path, data[:cut])
    with pytest.warns(RuntimeWarning, match=f"inside frame {frame}"):
        io = libsiff.open_file(p)
    with io:
        assert io.num_frames() == frame
        truth = TRUTH["intensity"][:frame]
        np.testing.assert_array_equal(io.get_frames(), truth)
        with pytest.raises(SiffIndexError, match=f"frame {frame} .*incomplete"):
            io.get_frames([frame])


def test_loop_in_ifd_chain(tmp_path):
    data = bytearray(GOLD.read_bytes())
    # make frame 5's next pointer lead back to frame 2's IFD
    ifd5 = int(TRUTH["ifd_offsets"][5])
    n_tags = struct.unpack_from("<Q", data, ifd5)[0]
    struct.pack_into("<Q", data, ifd5 + 8 + 20 * n_tags, int(TRUTH["ifd_offsets"][2]))
    p = _write(tmp_path, bytes(data))
    with pytest.raises(SiffCorruptError, match="loops"):
        libsiff.open_file(p)


def _tag_value_offset(data, frame, tag_id):
    ifd = int(TRUTH["ifd_offsets"][frame])
    n = struct.unpack_from("<Q", data, ifd)[0]
    for i in range(n):
        e = ifd + 8 + 20 * i
        if struct.unpack_from("<H", data, e)[0] == tag_id:
            return e + 12
    raise KeyError(tag_id)


@pytest.mark.parametrize("tag_id,value,message", [
    (273, 2**62, "outside the file"),        # StripOffsets far past the end
    (279, 2**40, "outside the file"),        # StripByteCounts past the end
    (256, 0, "impossible size"),             # zero width
    (257, 2**31, "impossible size"),         # absurd height
])
def test_bad_values_in_a_middle_frame(tmp_path, tag_id, value, message):
    data = bytearray(GOLD.read_bytes())
    struct.pack_into("<Q", data, _tag_value_offset(data, 9, tag_id), value)
    p = _write(tmp_path, bytes(data))
    if tag_id in (256, 257):  # a corrupt IFD: the frames before it stay readable
        with pytest.warns(RuntimeWarning, match=f"IFD of frame 9 is corrupt .*frame 9 .*{message}"):
            io = libsiff.open_file(p)
        with io:
            assert io.num_frames() == 9 and "frame 9" in io.damage
            np.testing.assert_array_equal(io.get_frames(), TRUTH["intensity"][:9])
            with pytest.raises(SiffIndexError, match="frame 9 .*IFD is corrupt"):
                io.get_frames([9])
        return
    with libsiff.open_file(p) as io:
        assert io.num_frames() == 24
        np.testing.assert_array_equal(io.get_frames([8, 10]), TRUTH["intensity"][[8, 10]])
        with pytest.raises(SiffCorruptError, match=f"{p}.*frame 9.*{message}"):
            io.get_frames([8, 9])


def test_huge_tag_count(tmp_path):
    data = bytearray(GOLD.read_bytes())
    struct.pack_into("<Q", data, int(TRUTH["ifd_offsets"][3]), 10**12)
    p = _write(tmp_path, bytes(data))
    with pytest.warns(RuntimeWarning, match="frame 3 .*declares"):
        io = libsiff.open_file(p)
    with io:
        assert io.num_frames() == 3
        np.testing.assert_array_equal(io.get_frames(), TRUTH["intensity"][:3])
    data[:] = data[:int(TRUTH["ifd_offsets"][0])] + struct.pack("<Q", 10**12) + \
        data[int(TRUTH["ifd_offsets"][0]) + 8:]
    p = _write(tmp_path, bytes(data), "first.siff")
    with pytest.raises(SiffCorruptError, match="frame 0 .*declares"):  # no frame to keep
        libsiff.open_file(p)


def test_compressed_counts_larger_than_bins(tmp_path):
    name = "compressed_plane"
    truth = np.load(DATA / "golden" / f"{name}.npz", allow_pickle=True)
    data = bytearray((DATA / "golden" / f"{name}.siff").read_bytes())
    frame = 1
    strip = int(truth["strip_offsets"][frame])
    pixels = int(truth["height"]) * int(truth["width"])
    counts_at = strip - 2 * pixels
    struct.pack_into("<H", data, counts_at + 2 * (pixels - 1), 60000)  # last pixel
    p = _write(tmp_path, bytes(data), f"{name}.siff")
    with libsiff.open_file(p) as io:
        with pytest.raises(SiffCorruptError, match="frame 1: the count image holds more"):
            io.get_histogram([frame])


def test_not_a_siff(tmp_path):
    for data, msg in [(b"hello world, not a tiff at all" * 3, "not a TIFF"),
                      (b"MM\x00*" + bytes(60), "big-endian"),
                      (b"II*\x00" + bytes(60), "magic number")]:
        p = _write(tmp_path, data, "x.siff")
        with pytest.raises(SiffCorruptError, match=msg) as info:
            libsiff.open_file(p)
        assert str(p) in str(info.value)
    with pytest.raises(libsiff.SiffIOError, match="cannot open"):
        libsiff.open_file(tmp_path / "missing.siff")
    with pytest.raises(libsiff.SiffIOError, match="directory"):
        libsiff.open_file(tmp_path)


def test_closed_file_raises():
    io = libsiff.open_file(GOLD)
    io.close()
    io.close()
    with pytest.raises(libsiff.SiffIOError, match="closed"):
        io.get_frames([0])


FUZZ = textwrap.dedent("""
    import sys, random, warnings
    import numpy as np
    import libsiff
    from libsiff import SiffError
    warnings.simplefilter("ignore")
    src, out, seed, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    base = open(src, "rb").read()
    rng = random.Random(seed)
    outcomes = {"ok": 0, "error": 0}
    for k in range(count):
        data = bytearray(base)
        for _ in range(rng.randint(1, 12)):
            kind = rng.random()
            i = rng.randrange(len(data))
            if kind < 0.6:
                data[i] = rng.randrange(256)
            elif kind < 0.8:
                j = min(len(data), i + 8)
                data[i:j] = rng.randbytes(j - i)
            else:
                data = data[: rng.randrange(len(data))] or bytearray(b"I")
        open(out, "wb").write(data)
        try:
            with libsiff.open_file(out) as io:
                n = io.num_frames()
                if n:
                    io.get_frames()
                    io.get_histogram()
                    io.flim_map(flim_method="phasor")
                    m = np.ones(io.frame_shape(), bool)
                    io.sum_rois_flim(m[None])
                    io.get_experiment_timestamps()
                    io.get_appended_text()
                    io.get_frame_metadata()
            outcomes["ok"] += 1
        except SiffError as e:
            assert out in str(e), e
            outcomes["error"] += 1
    print(outcomes)
""")


@pytest.mark.parametrize("name", ["raw_volume", "compressed_plane", "mixed_random"])
def test_random_garbage_never_crashes(tmp_path, name):
    """Random byte damage: a SiffError or a result, in a child process (a crash fails)."""
    script = tmp_path / "fuzz.py"
    script.write_text(FUZZ)
    res = subprocess.run(
        [sys.executable, str(script), str(DATA / "golden" / f"{name}.siff"),
         str(tmp_path / "fuzzed.siff"), "7", "250"],
        capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "'error'" in res.stdout


def test_errors_are_one_family():
    for cls in (libsiff.SiffFormatError, libsiff.SiffIOError, libsiff.SiffIndexError,
                SiffCorruptError):
        assert issubclass(cls, SiffError)
    assert issubclass(SiffIndexError, IndexError) and issubclass(SiffIndexError, ValueError)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with libsiff.open_file(GOLD) as io:
            _read_everything(io)


def test_file_truncated_while_open(tmp_path):
    """The decoder reads through a file mapping: a file cut short after opening must give
    an error, never a fault."""
    p = tmp_path / "shrinking.siff"
    p.write_bytes(GOLD.read_bytes())
    with libsiff.open_file(p) as io:
        np.testing.assert_array_equal(io.get_frames([3]), TRUTH["intensity"][[3]])
        os.truncate(p, int(TRUTH["ifd_offsets"][5]))
        with pytest.raises(libsiff.SiffIOError, match="shorter than when it was opened"):
            io.get_frames([20])
        with pytest.raises(libsiff.SiffIOError, match="shorter than when it was opened"):
            io.sum_roi(np.ones(io.frame_shape(), bool))
        # metadata of a small file is copied from the mapping once it exists
        with pytest.raises(libsiff.SiffIOError, match="file changed or I/O error"):
            io.get_experiment_timestamps(frames=[20])


def test_close_while_another_thread_reads(tmp_path):
    """close() never frees the file under a running call (the GIL is released in C): the
    running call finishes, later calls raise SiffIOError."""
    import threading

    from libsiff.simulate import SimulationSpec, simulate

    p = tmp_path / "big.siff"
    simulate(p, SimulationSpec(height=128, width=128, slices=2, colors=2, timepoints=150,
                               photons_per_pixel=2.0, keep_photons=False))
    io = libsiff.open_file(p)
    started, outcome = threading.Event(), []

    def reader():
        try:
            while True:
                started.set()
                io.get_frames()
        except libsiff.SiffIOError as e:
            outcome.append(str(e))

    t = threading.Thread(target=reader)
    t.start()
    started.wait(5)
    for _ in range(20):
        io.close()
    t.join(30)
    assert not t.is_alive() and "closed" in outcome[0]


def test_absurd_request_sizes_raise_instead_of_overflowing(tmp_path):
    """frames x pixels x arrival bins that overflow 64 bits: a clear error, no wild write."""
    from libsiff.writer import SiffWriter, build_nvfd, build_roi_json, make_description

    p = tmp_path / "huge.siff"
    nvfd = build_nvfd(**{"SI.hScan2D.hAcq.Tau_bins": 65534})  # L = 2**16, the maximum
    with SiffWriter(p, nvfd, build_roi_json(8, 8)) as w:
        w.add_raw_words(np.zeros(0, np.uint64), (1024, 65536), make_description(1, 0.0, 1))
    with libsiff.open_file(p) as io:
        with pytest.raises(libsiff.SiffMemoryError, match="too large|available"):
            io.get_frames_full([0] * 1024)  # 2**58 elements
        assert io.get_histogram([0]).shape == (2**16,)
