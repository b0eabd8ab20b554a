"""libsiff.writer and libsiff.simulate, checked against independent truth:

* the five golden files of an independent writer (rewritten byte for byte),
* the byte-level worked example of docs/format.md §6.2/§8,
* a small TIFF walker written here from the spec (docs/format.md §2, §4, §5, §6),
* corrosiffpy 0.1.2, the reference reader (docs/format.md §7),
* SiffPy's header semantics (docs/compatibility.md §1.7),
* the analytic arrival-time distribution (ex-Gaussian, wrapped at the laser period).
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from pathlib import Path

import corrosiffpy
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chi2, exponnorm

from libsiff.testing import SimulationSpec, frame_table, motion_shifts, simulate, simulate_histogram
from libsiff.writer import (
    DEFAULT_HEADER_PATH,
    DEFAULT_ROI_PATH,
    MatlabLiteral,
    SiffWriter,
    build_nvfd,
    build_roi_json,
    format_matlab_value,
    make_description,
)

from conftest import DATA

GOLDEN = ["raw_volume", "compressed_plane", "auto_mixed", "mixed_random", "compressed_wrap"]
REPO = Path(__file__).resolve().parent.parent

# docs/format.md §4: tag ids in order, with the field type a BigTIFF writer uses.
BIG_TYPES = {256: 4, 257: 4, 258: 3, 259: 3, 262: 3, 270: 2, 273: 16, 274: 3, 277: 3, 278: 4,
             279: 16, 282: 5, 283: 5, 284: 3, 296: 3, 305: 2, 315: 2, 339: 3, 907: 3}


# --------------------------------------------------------------------- helpers

def walk(path) -> dict:
    """Independent reader of the container (docs/format.md §2, §4): header fields and every IFD."""
    b = Path(path).read_bytes()
    assert b[:2] == b"II"
    big = struct.unpack_from("<H", b, 2)[0] == 43
    if big:
        assert struct.unpack_from("<HH", b, 4) == (8, 0)
        first, = struct.unpack_from("<Q", b, 8)
        si, text_start = struct.unpack_from("<IIII", b, 16), 32
    else:
        assert struct.unpack_from("<H", b, 2)[0] == 42
        first, = struct.unpack_from("<I", b, 4)
        si, text_start = struct.unpack_from("<IIII", b, 8), 24
    magic, version, nvfd_len, roi_len = si
    frames, off = [], first
    while off:
        if big:
            n, = struct.unpack_from("<Q", b, off)
            entries = [struct.unpack_from("<HHQQ", b, off + 8 + 20 * i) for i in range(n)]
            size = 16 + 20 * n
            nxt, = struct.unpack_from("<Q", b, off + 8 + 20 * n)
        else:
            n, = struct.unpack_from("<H", b, off)
            entries = [struct.unpack_from("<HHII", b, off + 2 + 12 * i) for i in range(n)]
            size = 6 + 12 * n
            nxt, = struct.unpack_from("<I", b, off + 2 + 12 * n)
        frames.append({"offset": off, "size": size, "next": nxt, "ids": [e[0] for e in entries],
                       "tags": {e[0]: e[1:] for e in entries}})
        off = nxt
    return {"bytes": b, "big": big, "first": first, "magic": magic, "version": version,
            "text_start": text_start, "nvfd": b[text_start:text_start + nvfd_len],
            "roi": b[text_start + nvfd_len:text_start + nvfd_len + roi_len], "frames": frames}


def decode(b: bytes, frame: dict) -> dict:
    """Decode one frame per docs/format.md §5/§6: photons (file order) or image, and the description."""
    t = frame["tags"]
    h, w = t[257][2], t[256][2]
    strip, nbytes, desc_off = t[273][2], t[279][2], t[270][2]
    kind = t[907][2] if 907 in t else 2
    out = {"kind": kind, "shape": (h, w)}
    if kind == 0:
        words = np.frombuffer(b, "<u8", nbytes // 8, strip)
        out.update(y=words >> 48, x=(words >> 32) & 0xFFFF, tau=words & 0xFFFFFFFF)
        desc_len = strip - desc_off
    elif kind == 1:
        counts = np.frombuffer(b, "<u2", h * w, strip - 2 * h * w)
        pixel = np.repeat(np.arange(h * w), counts)
        out.update(y=pixel // w, x=pixel % w, tau=np.frombuffer(b, "<u2", nbytes // 2, strip),
                   counts=counts.reshape(h, w))
        desc_len = strip - desc_off - 2 * h * w
    else:
        out["image"] = np.frombuffer(b, "<u2", h * w, strip).reshape(h, w)
        desc_len = strip - desc_off
    out["description"] = b[desc_off:desc_off + desc_len].decode("ascii")
    return out


def per_pixel(y, x, tau, shape):
    """Sorted arrival bins per pixel: an order-free photon fingerprint."""
    key = np.asarray(y, np.int64) * shape[1] + np.asarray(x, np.int64)
    order = np.lexsort((np.asarray(tau), key))
    return key[order], np.asarray(tau, np.int64)[order]


def counts_image(y, x, shape):
    return np.bincount(np.asarray(y, np.int64) * shape[1] + np.asarray(x, np.int64),
                       minlength=shape[0] * shape[1]).reshape(shape)


def header_values(nvfd: str) -> dict:
    """`SI.key = value` lines -> Python values, enough of docs/compatibility.md §1.4 for geometry."""
    def parse(text):
        text = text.strip()
        if text in ("true", "false"):
            return text == "true"
        if text.startswith("[") and text.endswith("]"):
            tokens = [t for t in text[1:-1].replace(";", " ").split(" ") if t]
            return [parse(t) for t in tokens]
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                return text
    return {k: parse(v) for k, _, v in (line.partition(" = ") for line in nvfd.split("\n")) if _}


def siffpy_geometry(nvfd: str, n_frames: int) -> dict:
    """SiffPy's ImParams properties (docs/compatibility.md §1.7) computed from the NVFD."""
    v = header_values(nvfd)
    stack = bool(v.get("SI.hStackManager.enable", False))
    same_z = v["SI.hStackManager.stackZEndPos"] == v["SI.hStackManager.stackZStartPos"]
    slices = (1 if same_z else v["SI.hStackManager.actualNumSlices"]) if stack else 1
    per_slice = v["SI.hStackManager.framesPerSlice"] if stack else 1
    colors = v["SI.hChannels.channelSave"]
    n_colors = len(colors) if isinstance(colors, list) else 1
    fpv = slices * per_slice * n_colors
    discard = v["SI.hFastZ.numDiscardFlybackFrames"] * n_colors
    flyback = ([f for f in range(n_frames) if f % (fpv + discard) >= fpv]
               if v["SI.hFastZ.enable"] else [])
    return {"slices": slices, "frames_per_slice": per_slice, "colors": n_colors,
            "flyback": flyback, "shape": (v["SI.hRoiManager.linesPerFrame"],
                                          v["SI.hRoiManager.pixelsPerLine"]),
            "tau_bins": v["SI.hScan2D.hAcq.Tau_bins"],
            "bin_ps": 5 * 2 ** v["SI.hScan2D.hAcq.binResolution"]}


def tiny_header(tau_bins=629):
    return build_nvfd(**{"SI.hScan2D.hAcq.Tau_bins": tau_bins}), build_roi_json(4, 4)


# ---------------------------------------------------------------- golden files

def rewrite_golden(name: str, out: Path, encoding_override: str | None = None) -> SiffWriter:
    d = np.load(DATA / "golden" / f"{name}.npz", allow_pickle=True)
    h, w, off = int(d["height"]), int(d["width"]), d["photon_offsets"]
    with SiffWriter(out, str(d["nvfd"]), str(d["roi_string"]), bigtiff=bool(d["bigtiff"])) as wr:
        for i in range(int(d["n_frames"])):
            sl = slice(off[i], off[i + 1])
            enc = encoding_override or ("raw", "compressed")[int(d["encoding"][i])]
            wr.add_frame(d["photon_y"][sl], d["photon_x"][sl], d["photon_tau"][sl], (h, w), enc,
                         str(d["descriptions"][i]), allow_empty_compressed=True)
    return wr


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_files_rewritten_byte_for_byte(name, tmp_path):
    d = np.load(DATA / "golden" / f"{name}.npz", allow_pickle=True)
    wr = rewrite_golden(name, tmp_path / "out.siff")
    assert (tmp_path / "out.siff").read_bytes() == (DATA / "golden" / f"{name}.siff").read_bytes()
    assert [fl.ifd_offset for fl in wr.layout] == d["ifd_offsets"].tolist()
    assert [fl.description_offset for fl in wr.layout] == d["description_offsets"].tolist()
    assert [fl.strip_offset for fl in wr.layout] == d["strip_offsets"].tolist()
    assert [fl.strip_byte_count for fl in wr.layout] == d["strip_byte_counts"].tolist()


def test_golden_auto_choice_is_reproduced(tmp_path):
    """The independent writer's per-frame 'smaller encoding' choice equals ours."""
    rewrite_golden("auto_mixed", tmp_path / "auto.siff", encoding_override="auto")
    golden = (DATA / "golden" / "auto_mixed.siff").read_bytes()
    assert (tmp_path / "auto.siff").read_bytes() == golden


@pytest.mark.parametrize("name", GOLDEN)
def test_make_description_reproduces_golden_text(name):
    d = np.load(DATA / "golden" / f"{name}.npz", allow_pickle=True)
    events = {int(f): (str(t), float(s), int(m)) for f, t, s, m in zip(
        d["appended_frames"], d["appended_text"], d["appended_timestamps"],
        d["appended_timestamp_state"])}
    n = int(d["n_frames"])
    for i in range(n):
        kw = {}
        if i in events:
            text, stamp, state = events[i]
            kw = {"appended_text": text, "text_timestamp": stamp,
                  "text_timestamp_mode": {1: "present", 0: "blank", -1: "absent"}[state]}
        system = int(d["epoch_system"][i]) if bool(d["has_system_timestamps"]) else None
        got = make_description(i + 1, float(d["experiment_timestamps"][i]),
                               int(d["epoch_laser"][i]), system, int(d["sync_stamps"][i]),
                               end_of_acquisition=i == n - 1, **kw)
        assert got == str(d["descriptions"][i])


# ------------------------------------------------------ worked example docs/format.md §6.2/§8

# (y, x, tau) of docs/format.md §6.2/§8; within pixels (1,1) and (1,2) in the order docs/format.md §6.2 lists.
EXAMPLE = [(0, 1, 68), (0, 3, 81), (1, 0, 50), (1, 1, 99), (1, 1, 195), (1, 2, 83), (1, 2, 78),
           (1, 3, 246)]


def example_file(path: Path, photons, encoding: str) -> bytes:
    nvfd = "SI.LINE_FORMAT_VERSION = 1\nSI.hScan2D.hAcq.Tau_bins = 629\n"
    nvfd += "SI.pad = '" + "x" * (2414 - len(nvfd) - len("SI.pad = ''\n")) + "'\n"
    roi = json.dumps({"RoiGroups": {}}).ljust(2618)
    desc = make_description(1, 0.0123, 1713382945012300000, 1713382944584479767, 97774200)
    assert (len(nvfd), len(roi), len(desc)) == (2414, 2618, 302)
    y, x, tau = (np.array(v) for v in zip(*photons))
    with SiffWriter(path, nvfd, roi) as w:
        w.add_frame(y, x, tau, (2, 4), encoding, desc)
    return path.read_bytes()


def test_worked_example_raw_bytes(tmp_path):
    photons = [EXAMPLE[i] for i in (0, 1, 2, 3, 4, 6, 7, 5)]  # docs/format.md §8 ends with (1, 2, 83)
    b = example_file(tmp_path / "ex.siff", photons, "raw")
    assert b[:32].hex() == "49492b0008000000c8130000000000000103030704000000" "6e0900003a0a0000"
    assert b[32:41] == b"SI.LINE_F"
    ifd = 0x13C8
    assert b[ifd:ifd + 8].hex() == "1300000000000000"
    entries = {i: b[ifd + 8 + 20 * k: ifd + 28 + 20 * k].hex() for k, i in enumerate(BIG_TYPES)}
    assert entries[256] == "0001040001000000000000000400000000000000"
    assert entries[257] == "0101040001000000000000000200000000000000"
    assert entries[258] == "0201030001000000000000004000000000000000"
    assert entries[270] == "0e0102002e010000000000005415000000000000"
    assert entries[273] == "1101100001000000000000008216000000000000"
    assert entries[279] == "1701100001000000000000004000000000000000"
    assert entries[305] == "310102006e090000000000002000000000000000"
    assert entries[315] == "3b0102003a0a0000000000008e09000000000000"
    assert entries[907] == "8b03030001000000000000000000000000000000"
    assert b[ifd + 8 + 19 * 20: ifd + 16 + 19 * 20] == bytes(8)  # single frame: next = 0
    assert b[0x1554:0x1682].startswith(b"frameNumbers = 1\nframeNumberAcquisition = 1\n"
                                       b"frameTimestamps_sec = 0.012300\n")
    assert b[0x1682:0x1692].hex() == "44000000010000005100000003000000"
    assert b[-8:].hex() == "5300000002000100"
    assert len(b) == 0x1682 + 64


def test_worked_example_compressed_bytes(tmp_path):
    rng = np.random.default_rng(5)
    shuffled = [EXAMPLE[i] for i in rng.permutation(len(EXAMPLE))]
    # keep the docs/format.md §6.2 order inside pixels (1,1) and (1,2): the writer's grouping is stable
    for pix in ((1, 1), (1, 2)):
        slots = [k for k, p in enumerate(shuffled) if p[:2] == pix]
        ordered = [p for p in EXAMPLE if p[:2] == pix]
        for k, p in zip(slots, ordered):
            shuffled[k] = p
    b = example_file(tmp_path / "exc.siff", shuffled, "compressed")
    ifd = 0x13C8
    entries = {i: struct.unpack_from("<HHQQ", b, ifd + 8 + 20 * k) for k, i in enumerate(BIG_TYPES)}
    assert entries[273][3] == 0x1692 and entries[279][3] == 16 and entries[907][3] == 1
    assert entries[258][3] == 16
    assert b[0x1682:0x1692].hex() == "00000100000001000100020002000100"
    assert b[0x1692:].hex() == "44005100320063" "00c30053004e00f600"


# --------------------------------------------------------- container structure

def mixed_file(path: Path, bigtiff: bool = True):
    """One frame of each kind plus an empty one; returns the photons written."""
    rng = np.random.default_rng(7)
    nvfd, roi = build_nvfd(), build_roi_json(5, 7)
    written = []
    with SiffWriter(path, nvfd, roi, bigtiff=bigtiff) as w:
        for enc, n in (("raw", 30), ("compressed", 40), ("auto", 0), ("auto", 200)):
            y, x, tau = rng.integers(0, 5, n), rng.integers(0, 7, n), rng.integers(0, 700, n)
            w.add_frame(y, x, tau, (5, 7), enc, make_description(len(written) + 1, 0.5, 10**18))
            written.append((y, x, tau))
        image = rng.integers(0, 65536, (5, 7)).astype(np.uint16)
        w.add_tiff_frame(image, make_description(5, 0.6, 10**18))
        written.append(image)
    return nvfd, roi, written, w.layout


@pytest.mark.parametrize("bigtiff", [True, False])
def test_container_structure(tmp_path, bigtiff):
    path = tmp_path / "mixed.siff"
    nvfd, roi, written, layout = mixed_file(path, bigtiff)
    f = walk(path)
    assert f["big"] == bigtiff
    assert (f["magic"], f["version"]) == (117637889, 4)
    assert (f["nvfd"].decode("latin-1"), f["roi"].decode("latin-1")) == (nvfd, roi)
    assert f["first"] == f["text_start"] + len(nvfd) + len(roi)
    assert len(f["frames"]) == 5
    offset_type = 16 if bigtiff else 4
    for k, (fr, fl) in enumerate(zip(f["frames"], layout)):
        kind = 2 if k == 4 else (0 if k in (0, 2) else 1)
        ids = [i for i in BIG_TYPES if i != 907 or kind != 2]
        assert fr["ids"] == ids
        t = fr["tags"]
        assert {i: t[i][0] for i in ids} == {i: offset_type if i in (273, 279) else BIG_TYPES[i]
                                              for i in ids}
        assert t[256][2] == 7 and t[257][2] == 5 and t[278][2] == 5
        assert t[258][2] == (64 if kind == 0 else 16)
        fixed = [t[i][2] for i in (259, 262, 274, 277, 282, 283, 284, 296, 339)]
        assert fixed == [1, 1, 1, 1, 0, 0, 1, 3, 1]
        assert t[305][1:] == (len(nvfd), f["text_start"])
        assert t[315][1:] == (len(roi), f["text_start"] + len(nvfd))
        if kind != 2:
            assert t[907][1:] == (1, kind)
        # description right after the IFD, data right after it (docs/format.md §4.1/§5)
        assert t[270][2] == fr["offset"] + fr["size"] == fl.description_offset
        assert t[273][2] == t[270][2] + t[270][1] + (70 if kind == 1 else 0) == fl.strip_offset
        end = t[273][2] + t[279][2]
        assert fr["next"] == (end if k < 4 else 0)
        dec = decode(f["bytes"], fr)
        assert dec["kind"] == fl.encoding == kind
        assert dec["description"] == make_description(k + 1, 0.5 if k < 4 else 0.6, 10**18)
        if kind == 2:
            np.testing.assert_array_equal(dec["image"], written[k])
        else:
            y, x, tau = written[k]
            for a, b in zip(per_pixel(dec["y"], dec["x"], dec["tau"], (5, 7)),
                            per_pixel(y, x, tau, (5, 7))):
                np.testing.assert_array_equal(a, b)
    assert len(f["bytes"]) == end


def test_classic_tiff_is_unusable_with_corrosiffpy(tmp_path):
    """docs/format.md §2.2: corrosiffpy reads classic IFDs as BigTIFF ones. With this layout the first
    misread tag id is unknown, so open_file panics (PanicException, a BaseException)."""
    path = tmp_path / "classic.siff"
    mixed_file(path, bigtiff=False)
    with pytest.raises(BaseException, match="unwrap"):
        corrosiffpy.open_file(str(path))


def test_raw_photons_keep_the_given_order(tmp_path):
    rng = np.random.default_rng(3)
    y, x, tau = rng.integers(0, 9, 500), rng.integers(0, 11, 500), rng.integers(0, 2**32, 500)
    with SiffWriter(tmp_path / "r.siff", *tiny_header()) as w:
        w.add_frame(y.astype(np.int32), x.astype(np.uint8), tau, (9, 11), "raw")
    f = walk(tmp_path / "r.siff")
    dec = decode(f["bytes"], f["frames"][0])
    for got, want in zip((dec["y"], dec["x"], dec["tau"]), (y, x, tau)):
        np.testing.assert_array_equal(got, want)


def test_auto_picks_the_smaller_encoding(tmp_path):
    # 3x4 frame: compressed iff 2*12 + 2N < 8N, i.e. N > 4
    shape = (3, 4)
    with SiffWriter(tmp_path / "a.siff", *tiny_header()) as w:
        for n in (0, 4, 5):
            w.add_frame(np.zeros(n, int), np.arange(n) % 4, np.arange(n), shape)
        w.add_frame([1] * 9, [1] * 9, [70000] * 9, shape)  # bins beyond u16: raw only
        big = 70000
        w.add_frame(np.zeros(big, int), np.zeros(big, int), np.zeros(big, int), shape)
    assert [fl.encoding for fl in w.layout] == [0, 0, 1, 0, 0]
    got = corrosiffpy.open_file(str(tmp_path / "a.siff")).get_frame_metadata()
    assert [m["siff_tag"] for m in got] == [0, 0, 1, 0, 0]


# -------------------------------------------------- writer against corrosiffpy

@st.composite
def frame_sets(draw):
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    frames = []
    for _ in range(draw(st.integers(1, 3))):
        photons = draw(st.lists(st.tuples(st.integers(0, h - 1), st.integers(0, w - 1),
                                          st.integers(0, 700)), max_size=80))
        enc = draw(st.sampled_from(["raw", "compressed", "auto"]))
        if enc == "compressed" and not photons:
            enc = "raw"
        frames.append((enc, np.array(photons, dtype=np.int64).reshape(-1, 3)))
    return (h, w), frames


@settings(max_examples=40, deadline=None)
@given(frame_sets())
def test_random_frames_read_back_by_corrosiffpy(case):
    shape, frames = case
    tau_bins = 627
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "h.siff"
        with SiffWriter(path, *tiny_header(tau_bins)) as w:
            for i, (enc, p) in enumerate(frames):
                w.add_frame(p[:, 0], p[:, 1], p[:, 2], shape, enc,
                            make_description(i + 1, 0.1 * (i + 1), 10**18 + i))
        f = corrosiffpy.open_file(str(path))
        assert f.num_frames() == len(frames) and tuple(f.frame_shape()) == shape
        want = np.stack([counts_image(p[:, 0], p[:, 1], shape) for _, p in frames])
        np.testing.assert_array_equal(f.get_frames(), want)
        hist = np.stack([np.bincount(p[:, 2] % (tau_bins + 2), minlength=tau_bins + 2)
                         for _, p in frames])
        np.testing.assert_array_equal(f.get_histogram_by_frames(), hist)
        np.testing.assert_array_equal(f.get_experiment_timestamps(),
                                      [0.1 * (i + 1) for i in range(len(frames))])
        walked = walk(path)
        for (_enc, p), fr in zip(frames, walked["frames"]):
            dec = decode(walked["bytes"], fr)
            for a, b in zip(per_pixel(dec["y"], dec["x"], dec["tau"], shape),
                            per_pixel(p[:, 0], p[:, 1], p[:, 2], shape)):
                np.testing.assert_array_equal(a, b)


def test_out_of_range_raw_words_wrap_in_corrosiffpy(tmp_path):
    """add_raw_words writes verbatim; corrosiffpy takes y mod H and x mod W (docs/format.md §6.1)."""
    y = np.array([0, 7, 12, 3], np.uint64)
    x = np.array([9, 2, 1, 4], np.uint64)
    tau = np.array([1, 2, 3, 2**32 - 1], np.uint64)
    words = (y << np.uint64(48)) | (x << np.uint64(32)) | tau
    with SiffWriter(tmp_path / "w.siff", *tiny_header()) as w:
        w.add_raw_words(words, (5, 4))
    f = walk(tmp_path / "w.siff")
    strip = f["frames"][0]["tags"][273][2]
    assert np.array_equal(np.frombuffer(f["bytes"], "<u8", 4, strip), words)
    got = corrosiffpy.open_file(str(tmp_path / "w.siff")).get_frames()[0]
    np.testing.assert_array_equal(got, counts_image(y % 5, x % 4, (5, 4)))


def test_empty_frames_and_empty_file(tmp_path):
    with SiffWriter(tmp_path / "none.siff", *tiny_header()):
        pass
    assert corrosiffpy.open_file(str(tmp_path / "none.siff")).num_frames() == 0
    with SiffWriter(tmp_path / "e.siff", *tiny_header()) as w:
        w.add_frame([], [], [], (3, 5), "auto")
        w.add_frame(np.array([], np.uint16), [], [], (3, 5), "raw")
    f = corrosiffpy.open_file(str(tmp_path / "e.siff"))
    np.testing.assert_array_equal(f.get_frames(), np.zeros((2, 3, 5)))
    assert [m["strip_byte_counts"] for m in f.get_frame_metadata()] == [0, 0]
    assert f.get_histogram().sum() == 0


def test_frames_of_different_shapes(tmp_path):
    with SiffWriter(tmp_path / "s.siff", *tiny_header()) as w:
        w.add_frame([1], [2], [3], (4, 4))
        w.add_frame([4], [0], [3], (5, 3))
    f = corrosiffpy.open_file(str(tmp_path / "s.siff"))
    with pytest.raises(ValueError):
        f.frame_shape()
    np.testing.assert_array_equal(f.get_frames([1])[0], counts_image([4], [0], (5, 3)))


# -------------------------------------------------------- errors and atomicity

@pytest.mark.parametrize("args, match", [
    (([], [], [], (2, 2), "compressed"), "at least one photon"),
    (([0] * 65536, [0] * 65536, [0] * 65536, (2, 2), "compressed"), "65535"),
    (([0], [0], [65536], (2, 2), "compressed"), "tau"),
    (([2], [0], [0], (2, 2), "raw"), "y must lie"),
    (([0], [-1], [0], (2, 2), "auto"), "x must lie"),
    (([0], [0], [2**32], (2, 2), "raw"), "tau must lie"),
    (([0, 1], [0], [0], (2, 2), "raw"), "differ in length"),
    (([0.0], [0], [0], (2, 2), "raw"), "integer"),
    (([0], [0], [0], (2, 2), "zip"), "encoding"),
    (([0], [0], [0], (0, 2), "raw"), "shape"),
])
def test_add_frame_rejects_invalid_input(tmp_path, args, match):
    with SiffWriter(tmp_path / "bad.siff", *tiny_header()) as w:
        with pytest.raises(ValueError, match=match):
            w.add_frame(*args)
        assert w.n_frames == 0


def test_other_rejections(tmp_path):
    with SiffWriter(tmp_path / "bad.siff", *tiny_header()) as w:
        with pytest.raises(ValueError, match="ASCII"):
            w.add_frame([0], [0], [0], (1, 1), description="café")
        with pytest.raises(ValueError, match="NUL"):
            w.add_frame([0], [0], [0], (1, 1), description="a\0b")
        with pytest.raises(ValueError):
            w.add_tiff_frame(np.full((2, 2), 70000))
        with pytest.raises(ValueError):
            w.add_tiff_frame(np.zeros((2, 2, 2), np.uint16))
        with pytest.raises(ValueError, match="single line"):
            make_description(1, 0.0, 0, appended_text="a\nb", text_timestamp=0.1)
        with pytest.raises(ValueError, match="text_timestamp"):
            make_description(1, 0.0, 0, appended_text="a")
        with pytest.raises(ValueError, match="mode"):
            make_description(1, 0.0, 0, text_timestamp_mode="maybe")
    with pytest.raises(ValueError, match="Latin-1"):
        SiffWriter(tmp_path / "x.siff", "SI.a = '\u20ac'\n", "{}")
    assert sorted(os.listdir(tmp_path)) == ["bad.siff"]


def test_atomic_rename_and_cleanup(tmp_path):
    target = tmp_path / "a.siff"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with SiffWriter(target, *tiny_header()) as w:
            w.add_frame([0], [0], [0], (1, 1))
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["a.siff"]

    n = 1_000_000  # 8 MB of photons: larger than the write buffer
    w = SiffWriter(target, *tiny_header())
    w.add_frame(np.zeros(n, int), np.zeros(n, int), np.arange(n), (1, 1), "raw")
    tmp_files = [p for p in tmp_path.iterdir() if p.name != "a.siff"]
    assert len(tmp_files) == 1 and tmp_files[0].stat().st_size > 4_000_000  # streamed
    assert target.read_bytes() == b"old"
    w.close()
    w.close()  # idempotent
    assert os.listdir(tmp_path) == ["a.siff"]
    assert corrosiffpy.open_file(str(target)).get_frames()[0, 0, 0] == n % 65536

    umask = os.umask(0o022)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600

    w = SiffWriter(tmp_path / "b.siff", *tiny_header())
    w.add_frame([0], [0], [0], (1, 1))
    w.abort()
    assert os.listdir(tmp_path) == ["a.siff"]
    with pytest.raises(ValueError, match="closed"):
        w.add_frame([0], [0], [0], (1, 1))


def test_simulated_classic_tiff_file(tmp_path):
    spec = SimulationSpec(height=12, width=10, slices=2, flyback_planes=1, colors=2, timepoints=2,
                          encoding="mixed", bigtiff=False, seed=6)
    gt = simulate(tmp_path / "classic.siff", spec)
    f = walk(gt.path)
    assert not f["big"] and f["nvfd"].decode("latin-1") == gt.nvfd
    assert [fr["offset"] for fr in f["frames"]] == gt.ifd_offsets.tolist()
    for i, fr in enumerate(f["frames"]):
        dec = decode(f["bytes"], fr)
        assert dec["kind"] == gt.encoding[i] and dec["description"] == gt.descriptions[i]
        y, x, tau = gt.photons(i)
        for a, b in zip(per_pixel(dec["y"], dec["x"], dec["tau"], gt.shape),
                        per_pixel(y, x, tau, gt.shape)):
            np.testing.assert_array_equal(a, b)


def test_classic_tiff_offset_limit(tmp_path, monkeypatch):
    w = SiffWriter(tmp_path / "c.siff", *tiny_header(), bigtiff=False)
    monkeypatch.setattr(w, "_pos", 2**32 - 100)
    with pytest.raises(ValueError, match="4 GiB"):
        w.add_frame([0] * 20, [0] * 20, [0] * 20, (1, 1), "raw")
    w.abort()


# ---------------------------------------------------------------- header texts

def test_format_matlab_value():
    assert format_matlab_value(True) == "true" and format_matlab_value(False) == "false"
    assert format_matlab_value(np.bool_(True)) == "true"
    assert format_matlab_value(629) == "629" and format_matlab_value(np.int64(3)) == "3"
    assert format_matlab_value(5.0) == "5" and format_matlab_value(0.015) == "0.015"
    assert float(format_matlab_value(1 / 3)) == 1 / 3
    assert format_matlab_value(float("inf")) == "Inf" and format_matlab_value(float("nan")) == "NaN"
    assert format_matlab_value("it's") == "'it''s'"
    assert format_matlab_value([1, 2]) == "[1 2]"
    assert format_matlab_value([1, 2], column=True) == "[1;2]"
    assert format_matlab_value([1]) == "1" and format_matlab_value([]) == "[]"
    assert format_matlab_value(None) == "[]"
    assert format_matlab_value([[1, -2], [3.5, 4]]) == "[1 -2;3.5 4]"
    assert format_matlab_value(MatlabLiteral("{16 16}")) == "{16 16}"


def test_build_nvfd_sets_and_adds_keys():
    template = DEFAULT_HEADER_PATH.read_text()
    assert build_nvfd() == template
    nvfd = build_nvfd(**{"SI.hScan2D.hAcq.Tau_bins": 312, "SI.hChannels.channelSave": [1, 2],
                         "SI.hFastZ.enable": False, "SI.hScan2D.logFileStem": "it's",
                         "SI.hChannels.newKey": 7, "SI.brandNewModule.value": [1, 2, 3]})
    lines = nvfd.split("\n")
    assert lines[-1] == "" and all(" = " in line for line in lines[:-1])
    assert len(lines) == len(template.split("\n")) + 3  # logFileStem, newKey, value added
    assert "SI.hScan2D.hAcq.Tau_bins = 312" in lines and nvfd.count("Tau_bins = ") == 1
    assert "SI.hChannels.channelSave = [1;2]" in lines
    assert "SI.hFastZ.enable = false" in lines
    assert "SI.hScan2D.logFileStem = 'it''s'" in lines
    last_channels = max(i for i, line in enumerate(lines) if line.startswith("SI.hChannels."))
    assert lines[last_channels] == "SI.hChannels.newKey = 7"
    assert lines[-2] == "SI.brandNewModule.value = [1 2 3]"
    one = header_values(build_nvfd(**{"SI.hChannels.channelSave": [1]}))
    assert one["SI.hChannels.channelSave"] == 1  # ScanImage writes a single channel as a scalar
    custom = build_nvfd("SI.a = 1\n", **{"SI.hScan2D.hAcq.binResolution": 3})
    assert custom == "SI.a = 1\nSI.hScan2D.hAcq.binResolution = 3\n"


def test_build_nvfd_guards_the_flim_keys():
    with pytest.raises(ValueError, match="Tau_bins"):
        build_nvfd(**{"SI.hScan2D.logFileStem": "Tau_bins = 3"})
    with pytest.raises(ValueError, match="Tau_bins"):
        build_nvfd("SI.note = 'x'\nSI.hScan2D.hAcq.Tau_bins = 5\n",
                   **{"SI.note": MatlabLiteral("'Tau_bins = 7'")})
    with pytest.raises(ValueError, match="binResolution"):
        build_nvfd("SI.binResolution = 3\n")
    with pytest.raises(ValueError, match="key"):
        build_nvfd(**{"SI.bad key": 1})
    with pytest.raises(ValueError, match="single line"):
        build_nvfd(**{"SI.x": MatlabLiteral("1\nSI.y = 2")})


def test_build_roi_json():
    template = DEFAULT_ROI_PATH.read_text()
    assert build_roi_json(256, 128) == template  # the template's own geometry: unchanged
    roi = json.loads(build_roi_json(37, 53))
    sf = roi["RoiGroups"]["imagingRoiGroup"]["rois"]["scanfields"]
    assert sf["pixelResolutionXY"] == [53, 37]
    user = roi["RoiGroups"]["imagingRoiGroup"]["rois"]["UserData"]
    assert (user["pixelsPerLine"], user["linesPerFrame"]) == (53, 37)
    assert roi["RoiGroups"]["photostimRoiGroups"] is None


def test_default_templates_live_in_the_repository():
    for path in (DEFAULT_HEADER_PATH, DEFAULT_ROI_PATH):
        assert path.is_file() and REPO in path.resolve().parents


def test_make_description_variants():
    base = make_description(3, 0.1 + 0.2, 17, None, 5)
    assert "mostRecentSystemTimestamp_epoch" not in base and base.endswith("epoch = 17\n")
    assert "frameTimestamps_sec = 0.30000000000000004\n" in base  # float() round-trips
    assert "frameTimestamps_sec = 1e-07\n" in make_description(1, 1e-7, 0)
    present = make_description(1, 0.5, 1, 2, appended_text="odor", text_timestamp=0.51)
    assert present.endswith("epoch = 1\nAppended text = odor\nText timestamp = 0.510000\n")
    assert make_description(1, 0.5, 1, appended_text="odor",
                            text_timestamp_mode="blank").endswith("Text timestamp = \n")
    assert make_description(1, 0.5, 1, appended_text="odor",
                            text_timestamp_mode="absent").endswith("Appended text = odor\n")


# ------------------------------------------------------ simulated acquisitions

SPECS = {
    "raw_volume_odd": SimulationSpec(
        height=37, width=53, slices=3, flyback_planes=1, colors=2, timepoints=3, encoding="raw",
        shuffle_raw=True, motion="jitter", max_shift_px=3,
        events=[(3, "LED on"), (17, "odor puff")], seed=11),
    "compressed_plane": SimulationSpec(
        height=64, width=64, slices=1, flyback_planes=0, colors=1, timepoints=6,
        encoding="compressed", taus_ns=(2.0,), motion="drift", max_shift_px=6,
        photons_per_pixel=3.0, system_timestamps=False, events=[(4, "trial start")],
        event_timestamp_mode="blank", seed=22),
    "auto_three_colors": SimulationSpec(
        height=24, width=32, slices=2, frames_per_slice=2, flyback_planes=1, colors=3,
        timepoints=3, encoding="auto", taus_ns=((0.6, 2.8), (2.5,), (1.0, 4.0)),
        fracs=((0.3, 0.7), (1.0,), (0.5, 0.5)), photons_per_pixel=6.0, motion="jumps", seed=33),
    "mixed_40ps": SimulationSpec(
        height=24, width=40, slices=2, flyback_planes=1, colors=1, timepoints=5, tau_bins=312,
        bin_resolution=3, encoding="mixed", events=[(2, "reward")],
        event_timestamp_mode="absent", seed=44),
    "tiff_frames": SimulationSpec(
        height=16, width=20, slices=1, flyback_planes=0, colors=2, timepoints=4, encoding="tiff",
        seed=55),
}


@pytest.fixture(scope="module", params=list(SPECS))
def simulated(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("sim") / f"{request.param}.siff"
    return simulate(path, SPECS[request.param])


def test_simulated_file_against_corrosiffpy(simulated):
    gt = simulated
    h, w = gt.shape
    f = corrosiffpy.open_file(str(gt.path))
    assert f.num_frames() == gt.n_frames and tuple(f.frame_shape()) == gt.shape
    header = f.get_file_header()
    assert (header["Non-varying frame data"], header["ROI string"]) == (gt.nvfd, gt.roi_string)
    assert header["BigTiff"] and header["IsSiff"]
    np.testing.assert_array_equal(f.get_frames(), gt.intensity)
    # registration: non-negative shifts (corrosiffpy's raw frames misplace negative ones, docs/format.md §7.1)
    reg = {i: (dy % h, dx % w) for i, (dy, dx) in gt.registration().items()}
    rolled = np.stack([np.roll(im, gt.shifts[i], axis=(0, 1)) for i, im in enumerate(gt.intensity)])
    np.testing.assert_array_equal(f.get_frames(registration=reg), rolled)
    np.testing.assert_array_equal(f.get_experiment_timestamps(), gt.experiment_timestamps)
    np.testing.assert_array_equal(f.get_epoch_timestamps_laser(), gt.epoch_laser)
    if gt.has_system_timestamps:
        np.testing.assert_array_equal(f.get_epoch_timestamps_system(), gt.epoch_system)
    else:
        with pytest.raises(OSError):
            f.get_epoch_timestamps_system()
    expected_events = [(int(fr), t, float(s)) if m == 1 else (int(fr), t)
                       for fr, t, s, m in zip(gt.appended_frames, gt.appended_text,
                                              gt.appended_timestamps, gt.appended_timestamp_state)
                       if m >= 0]  # no Text timestamp line: corrosiffpy drops the event (docs/format.md §5)
    assert f.get_appended_text() == expected_events
    meta = f.get_frame_metadata()
    assert [m["Frame metadata"] for m in meta] == gt.descriptions
    assert [m["data_offset"] for m in meta] == gt.strip_offsets.tolist()
    assert [m["end_of_ifd"] for m in meta] == gt.description_offsets.tolist()
    assert [m["strip_byte_counts"] for m in meta] == gt.strip_byte_counts.tolist()
    assert [m["siff_tag"] for m in meta] == [None if e == 2 else int(e) for e in gt.encoding]
    if gt.spec.encoding == "tiff":
        assert gt.photon_offsets[-1] == 0
        return
    L = gt.tau_bins + 2
    hist = np.stack([np.bincount(gt.photons(i)[2] % L, minlength=L) for i in range(gt.n_frames)])
    np.testing.assert_array_equal(f.get_histogram_by_frames(), hist)
    frames = list(range(0, gt.n_frames, 3))
    lifetime, intensity, _ = f.flim_map(frames=frames)
    for k, i in enumerate(frames):
        y, x, tau = gt.photons(i)
        pixel = y.astype(np.int64) * w + x
        counts = np.bincount(pixel, minlength=h * w)
        sums = np.bincount(pixel, weights=tau.astype(np.float64), minlength=h * w)
        with np.errstate(invalid="ignore"):
            want = (sums / counts).reshape(h, w)
        np.testing.assert_allclose(lifetime[k], want, rtol=1e-12, equal_nan=True)
        np.testing.assert_array_equal(intensity[k], gt.intensity[i])


def test_timestamps_in_any_frame_order_against_simulator_truth(simulated):
    """Description fields of frames requested out of order and repeated (the reader only
    memoises descriptions once frames stop coming in file order), and both epochs in one
    call, against the simulator's values."""
    import libsiff

    gt = simulated
    n = gt.n_frames
    frames = [n - 1, 0, 0, n // 2, n - 1, 1 % n]
    with libsiff.open_file(gt.path) as io:
        np.testing.assert_array_equal(io.get_experiment_timestamps(frames),
                                      np.asarray(gt.experiment_timestamps)[frames])
        laser = np.asarray(gt.epoch_laser)[frames]
        np.testing.assert_array_equal(io.get_epoch_timestamps_laser(frames), laser)
        if gt.has_system_timestamps:
            both = io.get_epoch_both(frames)
            assert both.dtype == np.uint64 and both.shape == (2, len(frames))
            np.testing.assert_array_equal(both, [laser, np.asarray(gt.epoch_system)[frames]])
        else:
            with pytest.raises(OSError, match=f"NoSystemTimestamps: frame {n - 1} "):
                io.get_epoch_both(frames)
        assert io.get_experiment_timestamps([]).shape == (0,)
        assert io.get_epoch_both([]).shape == (2, 0)


def test_simulated_header_matches_siffpy_semantics(simulated):
    gt, spec = simulated, simulated.spec
    geo = siffpy_geometry(gt.nvfd, gt.n_frames)
    assert geo["slices"] == spec.slices and geo["frames_per_slice"] == spec.frames_per_slice
    assert geo["colors"] == spec.colors and geo["shape"] == gt.shape
    assert geo["flyback"] == np.flatnonzero(gt.flyback).tolist()
    assert (geo["tau_bins"], geo["bin_ps"]) == (gt.tau_bins, gt.bin_width_ps)
    sf = json.loads(gt.roi_string)["RoiGroups"]["imagingRoiGroup"]["rois"]["scanfields"]
    assert sf["pixelResolutionXY"] == [gt.shape[1], gt.shape[0]]
    rate = header_values(gt.nvfd)["SI.hRoiManager.scanFrameRate"]
    assert rate == spec.frame_rate_hz


def test_simulated_truth_is_consistent(simulated):
    gt, spec = simulated, simulated.spec
    n, (h, w) = gt.n_frames, gt.shape
    assert gt.intensity.shape == (n, h, w) and gt.intensity.dtype == np.uint16
    assert gt.photon_offsets.shape == (n + 1,)
    if spec.encoding != "tiff":
        for i in range(n):
            np.testing.assert_array_equal(counts_image(*gt.photons(i)[:2], (h, w)), gt.intensity[i])
            assert gt.photons(i)[2].max(initial=0) < gt.tau_bins
    # colours of one plane and timepoint share a shift; every timepoint shares it (flyback too)
    for t in range(spec.timepoints):
        assert len({tuple(s) for s in gt.shifts[gt.timepoint == t]}) == 1
    assert np.abs(gt.shifts).max() <= spec.max_shift_px
    assert gt.truth_images.shape == (spec.slices, spec.colors, h, w)
    empty = np.diff(gt.photon_offsets) == 0
    assert not np.any(empty & (gt.encoding == 1))  # zero-photon frames are raw
    if spec.encoding == "auto":
        assert set(gt.encoding.tolist()) == {0, 1}
    # colours share timestamps within a scan; time increases by one frame period per scan
    ts = gt.experiment_timestamps.reshape(-1, spec.colors)
    assert np.all(ts == ts[:, :1])
    np.testing.assert_allclose(np.diff(ts[:, 0]), 1 / spec.frame_rate_hz, atol=1.1e-6)


def test_frame_order_matches_the_siffpy_formula():
    spec = SimulationSpec(slices=3, frames_per_slice=2, flyback_planes=2, colors=2, timepoints=3)
    table = frame_table(spec)
    S, R, Fb, C = 3, 2, 2, 2
    for v in range(3):
        for c in range(C):
            for s in range(S):
                for r in range(R):
                    f = v * (S * R + Fb) * C + (s * R + r) * C + c
                    assert (table["timepoint"][f], table["plane"][f], table["repeat"][f],
                            table["color"][f]) == (v, s, r, c)
            for j in range(Fb):
                f = v * (S * R + Fb) * C + (S * R + j) * C + c
                assert (table["plane"][f], table["repeat"][f], table["color"][f]) == (-1, j, c)


def test_motion_kinds():
    rng = np.random.default_rng(0)
    assert not motion_shifts(rng, "none", 10, 5).any()
    drift = motion_shifts(rng, "drift", 50, 5)
    assert np.abs(drift).max() == 5 and not drift[0].any()
    assert np.all(np.diff(drift, axis=0) * np.sign(drift[-1]) >= 0)  # monotone
    jumps = motion_shifts(rng, "jumps", 40, 4)
    assert 1 <= np.count_nonzero(np.any(np.diff(jumps, axis=0), axis=1)) < 20
    jitter = motion_shifts(rng, "jitter", 200, 3)
    assert set(np.unique(jitter)) == set(range(-3, 4))
    with pytest.raises(ValueError):
        motion_shifts(rng, "wobble", 3, 1)


def test_shifts_realign_the_sample(tmp_path):
    """Cross-correlating each bright frame with its plane's sample recovers the truth shift."""
    spec = SimulationSpec(height=48, width=64, slices=2, flyback_planes=1, colors=1, timepoints=6,
                          photons_per_pixel=20.0, background=0.0, motion="jitter",
                          max_shift_px=5, encoding="compressed", seed=8)
    gt = simulate(tmp_path / "m.siff", spec)
    for i in np.flatnonzero(~gt.flyback):
        sample = gt.truth_images[gt.plane[i], gt.color[i]]
        frame = gt.intensity[i].astype(float)
        xcorr = np.fft.ifft2(np.fft.fft2(sample) * np.conj(np.fft.fft2(frame))).real
        dy, dx = np.unravel_index(np.argmax(xcorr), xcorr.shape)
        assert (dy, dx) == (gt.shifts[i][0] % 48, gt.shifts[i][1] % 64)


def test_simulation_is_reproducible_and_seeded(tmp_path):
    spec = SimulationSpec(height=16, width=24, timepoints=2, seed=3)
    simulate(tmp_path / "a.siff", spec)
    simulate(tmp_path / "b.siff", spec)
    simulate(tmp_path / "c.siff", SimulationSpec(height=16, width=24, timepoints=2, seed=4))
    a, b, c = ((tmp_path / f"{k}.siff").read_bytes() for k in "abc")
    assert a == b and a != c


def test_photon_rates(tmp_path):
    spec = SimulationSpec(height=64, width=64, slices=1, flyback_planes=1, colors=1, timepoints=30,
                          photons_per_pixel=2.0, background=0.1, motion="none", flyback_level=0.05,
                          encoding="raw", keep_photons=False, seed=9)
    gt = simulate(tmp_path / "r.siff", spec)
    assert gt.photon_y.size == 0 and gt.photon_offsets[-1] == 0  # photons not kept
    sample = gt.truth_images[0, 0]
    planes = gt.intensity[~gt.flyback].mean(axis=0)
    np.testing.assert_allclose(planes.mean(), sample.mean() * 2.0 + 0.1, rtol=0.02)
    bright = sample > 0.8
    np.testing.assert_allclose(planes[bright].mean(), sample[bright].mean() * 2.0 + 0.1, rtol=0.05)
    flyback = gt.intensity[gt.flyback].mean()
    np.testing.assert_allclose(flyback, 0.05 * sample.mean() * 2.0 + 0.1, rtol=0.05)


def test_zero_photon_acquisition(tmp_path):
    spec = SimulationSpec(height=8, width=8, slices=1, flyback_planes=0, colors=1, timepoints=3,
                          photons_per_pixel=0.0, background=0.0, encoding="compressed")
    gt = simulate(tmp_path / "z.siff", spec)
    assert gt.encoding.tolist() == [0, 0, 0]
    np.testing.assert_array_equal(corrosiffpy.open_file(str(gt.path)).get_frames(), 0)


def test_spec_validation(tmp_path):
    for bad in (dict(motion="wobble"), dict(encoding="zip"), dict(height=0),
                dict(events=[(10**6, "late")]), dict(taus_ns=(1.0, 2.0), fracs=(1.0,)),
                dict(taus_ns=(-1.0,))):
        with pytest.raises(ValueError):
            simulate(tmp_path / "bad.siff",
                     SimulationSpec(**{"height": 8, "width": 8, "timepoints": 1, **bad}))
    assert not list(tmp_path.iterdir())


def expected_bin_probabilities(taus, fracs, offset, sigma, tau_bins, bin_ps, noise=0.0):
    """Analytic bin probabilities: IRF (Gaussian) * exponential, wrapped at the period."""
    period = tau_bins * bin_ps / 1000.0
    edges = np.arange(tau_bins + 1) * bin_ps / 1000.0
    p = np.zeros(tau_bins)
    for tau, frac in zip(taus, fracs):
        dist = exponnorm(tau / sigma, loc=offset, scale=sigma)
        for k in range(-2, 12):
            p += frac * np.diff(dist.cdf(edges + k * period))
    return (1 - noise) * p + noise / tau_bins


@pytest.mark.parametrize("taus, fracs, noise, tau_bins, bin_ps", [
    ((2.5,), (1.0,), 0.0, 629, 20),
    ((0.5, 3.0), (0.4, 0.6), 0.1, 629, 20),
    ((4.0,), None, 0.0, 312, 40),  # long lifetime: much of the decay wraps
])
def test_simulate_histogram_matches_the_analytic_decay(taus, fracs, noise, tau_bins, bin_ps):
    n = 400_000
    bins = simulate_histogram(n, taus, fracs, 1.2, 0.12, tau_bins, bin_ps, noise_fraction=noise,
                              rng=1)
    assert bins.dtype == np.uint32 and bins.shape == (n,) and bins.max() < tau_bins
    observed = np.bincount(bins, minlength=tau_bins)
    fr = fracs or [1 / len(taus)] * len(taus)
    expected = n * expected_bin_probabilities(taus, fr, 1.2, 0.12, tau_bins, bin_ps, noise)
    # Pearson chi-square, bins with fewer than 5 expected photons pooled into one
    big = expected >= 5
    obs, exp = observed[big], expected[big]
    if not big.all():
        obs, exp = np.append(obs, observed[~big].sum()), np.append(exp, expected[~big].sum())
    stat = ((obs - exp) ** 2 / exp).sum()
    assert chi2.sf(stat, obs.size - 1) > 1e-3
    mean_bin = (np.arange(tau_bins) * expected).sum() / n
    np.testing.assert_allclose(bins.mean(), mean_bin, rtol=0.003)
    again = simulate_histogram(n, taus, fracs, 1.2, 0.12, tau_bins, bin_ps, noise_fraction=noise,
                               rng=1)
    np.testing.assert_array_equal(bins, again)


def test_atomic_writes_keep_mode_and_fsync_data_and_folder(tmp_path, fsynced_modes):
    """Every writer goes through libsiff.atomic: a replaced file keeps its permission bits,
    the data and then the folder are fsynced (checked with fstat on the fsynced descriptors),
    and a failed write leaves the old file and no temporary file."""
    import stat

    from libsiff.atomic import atomic_open

    target = tmp_path / "keep.siff"
    target.write_bytes(b"old")
    target.chmod(0o640)
    synced = fsynced_modes
    with SiffWriter(target, *tiny_header()) as w:
        w.add_frame([0], [0], [0], (1, 1))
    assert target.stat().st_mode & 0o777 == 0o640
    assert [stat.S_ISREG(m) for m in synced] == [True, False]
    assert stat.S_ISDIR(synced[1])

    with pytest.raises(ZeroDivisionError):
        with atomic_open(target, "w", encoding="utf-8") as fh:
            fh.write("half")
            1 / 0
    assert target.stat().st_mode & 0o777 == 0o640 and os.listdir(tmp_path) == ["keep.siff"]
    assert corrosiffpy.open_file(str(target)).get_frames().shape[0] == 1
