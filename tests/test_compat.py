"""Files written by libsiff's writer/simulator, read by libsiff and by corrosiffpy 0.1.2:
every docs/format.md §7 call agrees exactly (phasor to 1e-9), and libsiff also equals the ground truth."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import libsiff
from libsiff.simulate import SimulationSpec, simulate
from libsiff.writer import SiffWriter, build_nvfd, build_roi_json, make_description

from checks import check_against_corrosiff, check_against_truth
from reference import Truth


def truth_of(gt) -> Truth:
    return Truth(gt.intensity.shape[1], gt.intensity.shape[2], int(gt.tau_bins), gt.photon_y,
                 gt.photon_x, gt.photon_tau, gt.photon_offsets, gt.encoding, gt.intensity)


FIXTURES = {
    "raw_volume_flyback_events": dict(
        height=32, width=48, slices=3, flyback_planes=1, colors=2, timepoints=4,
        encoding="raw", motion="jitter", shuffle_raw=True,
        events=[(3, "LED on"), (17, "odor puff")]),
    "compressed_plane": dict(height=40, width=40, slices=1, flyback_planes=0, colors=1,
                             timepoints=8, encoding="compressed", taus_ns=(2.5,),
                             photons_per_pixel=3.0, motion="drift"),
    "auto_two_planes_repeats": dict(height=24, width=64, slices=2, frames_per_slice=2,
                                    flyback_planes=0, colors=2, timepoints=3, encoding="auto",
                                    photons_per_pixel=2.0),
    "mixed_odd_size_three_colours": dict(height=37, width=53, slices=2, flyback_planes=1,
                                         colors=3, timepoints=3, encoding="mixed",
                                         taus_ns=((0.5, 3.0), (2.5,), (1.2,)),
                                         bin_resolution=3, tau_bins=312, motion="jumps"),
    "plain_tiff": dict(height=30, width=20, slices=2, flyback_planes=0, colors=1,
                       timepoints=3, encoding="tiff"),
    "sparse_with_empty_frames": dict(height=16, width=16, slices=1, flyback_planes=0,
                                     colors=1, timepoints=12, encoding="auto",
                                     photons_per_pixel=0.004, background=0.0),
}


@pytest.fixture(scope="module", params=sorted(FIXTURES))
def fixture_file(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("compat") / f"{request.param}.siff"
    gt = simulate(path, SimulationSpec(seed=3, **FIXTURES[request.param]))
    return request.param, path, gt


def test_fixture_against_corrosiffpy(fixture_file, rng):
    name, path, gt = fixture_file
    truth = truth_of(gt)
    empty_compressed = any(truth.encoding[i] == 1 and gt.photon_offsets[i] == gt.photon_offsets[i + 1]
                           for i in range(truth.n_frames))
    assert not empty_compressed  # the writer never compresses an empty frame
    # corrosiffpy panics on masked sums of plain TIFF frames (it unwraps the missing tag
    # 907); libsiff's are checked against the ground truth in test_fixture_against_truth
    plain = name == "plain_tiff"
    check_against_corrosiff(path, truth, rng, flim=not plain, masks=not plain,
                            system_timestamps=bool(gt.has_system_timestamps))


def test_fixture_against_truth(fixture_file, rng):
    name, path, gt = fixture_file
    check_against_truth(path, truth_of(gt), rng, flim=name != "plain_tiff")
    with libsiff.open_file(path) as io:
        np.testing.assert_array_equal(io.get_experiment_timestamps(), gt.experiment_timestamps)
        np.testing.assert_array_equal(io.get_epoch_timestamps_laser(), gt.epoch_laser)
        events = io.get_appended_text()
        assert [e[:2] for e in events] == [(int(f), str(t)) for f, t in
                                           zip(gt.appended_frames, gt.appended_text, strict=True)]
        if name == "plain_tiff":
            with pytest.raises(libsiff.SiffFormatError, match="plain TIFF"):
                io.get_histogram()
        if name == "sparse_with_empty_frames":
            counts = np.diff(gt.photon_offsets)
            assert (counts == 0).any()
            life, inten, _ = io.flim_map(frames=np.flatnonzero(counts == 0))
            assert np.isnan(life).all() and (inten == 0).all()


def test_classic_tiff_container(tmp_path, rng):
    """Classic 32-bit TIFF: corrosiffpy misreads its frames; libsiff reads them correctly."""
    path = tmp_path / "classic.siff"
    gt = simulate(path, SimulationSpec(height=20, width=28, slices=2, colors=2, timepoints=3,
                                       encoding="mixed", bigtiff=False, seed=5))
    with libsiff.open_file(path) as io:
        assert io.get_file_header()["BigTiff"] is False
    check_against_truth(path, truth_of(gt), rng)


def test_out_of_range_photons_are_wrapped_and_counted(tmp_path):
    H, W = 6, 10
    nvfd = build_nvfd(**{"SI.hScan2D.hAcq.Tau_bins": 20})
    y = np.array([0, 7, 3, 6], np.uint64)  # rows 7 and 6 are outside the 6-row frame
    x = np.array([1, 2, 12, 0], np.uint64)  # column 12 is outside
    tau = np.array([5, 30, 2**31, 21], np.uint64)  # bins past L = 22 wrap in histograms
    words = (y << 48) | (x << 32) | tau
    path = tmp_path / "oor.siff"
    with SiffWriter(path, nvfd, build_roi_json(H, W)) as w:
        w.add_raw_words(words, (H, W), make_description(1, 0.0, 1))
    with libsiff.open_file(path) as io:
        img = io.get_frames()[0]
        expected = np.zeros((H, W), np.uint16)
        np.add.at(expected, (y.astype(int) % H, x.astype(int) % W), 1)
        np.testing.assert_array_equal(img, expected)
        assert io._native.last_out_of_range == 3
        hist = io.get_histogram()
        assert hist.sum() == 4 and hist[5] == 1 and hist[30 % 22] == 1 and hist[21] == 1
        assert hist[2**31 % 22] == 1
        assert io._native.last_out_of_range == 3  # counted by the histogram's own loop too
        import corrosiffpy
        np.testing.assert_array_equal(corrosiffpy.open_file(str(path)).get_frames(), io.get_frames())


@st.composite
def frame_sets(draw):
    H = draw(st.integers(1, 33))
    W = draw(st.integers(1, 33))
    n = draw(st.integers(1, 5))
    frames = []
    for _ in range(n):
        k = draw(st.integers(0, 60))
        enc = draw(st.sampled_from(["raw", "compressed", "auto", "tiff"]))
        if enc == "compressed" and k == 0:
            enc = "raw"
        seed = draw(st.integers(0, 2**31))
        frames.append((k, enc, seed))
    return H, W, draw(st.booleans()), frames


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame_sets())
def test_property_write_then_read(tmp_path, spec):
    """Random geometry and encodings: photons written are the photons read back."""
    H, W, bigtiff, frames = spec
    tau_bins = 50
    path = tmp_path / "prop.siff"
    ys, xs, ts, offsets, enc_codes, images = [], [], [], [0], [], []
    with SiffWriter(path, build_nvfd(**{"SI.hScan2D.hAcq.Tau_bins": tau_bins}),
                    build_roi_json(H, W), bigtiff=bigtiff) as w:
        for i, (k, enc, seed) in enumerate(frames):
            r = np.random.default_rng(seed)
            y, x, t = r.integers(0, H, k), r.integers(0, W, k), r.integers(0, tau_bins, k)
            desc = make_description(i + 1, 0.01 * i, 10**18 + i)
            if enc == "tiff":
                image = r.integers(0, 500, (H, W)).astype(np.uint16)
                w.add_tiff_frame(image, desc)
                y = x = t = np.zeros(0, int)
                enc_codes.append(2)
            else:
                w.add_frame(y, x, t, (H, W), encoding=enc, description=desc)
                image = np.zeros((H, W), np.uint16)
                np.add.at(image, (y, x), 1)
                enc_codes.append(0 if enc == "raw" else 1 if enc == "compressed" else -1)
            images.append(image)
            ys.append(y)
            xs.append(x)
            ts.append(t)
            offsets.append(offsets[-1] + len(y))
    with libsiff.open_file(path) as io:
        assert io.num_frames() == len(frames)
        np.testing.assert_array_equal(io.get_frames(), np.stack(images))
        meta = io.get_frame_metadata()
        for m, code in zip(meta, enc_codes, strict=True):
            assert m["siff_tag"] == (None if code == 2 else code if code >= 0 else m["siff_tag"])
        truth = Truth(H, W, tau_bins, np.concatenate(ys), np.concatenate(xs), np.concatenate(ts),
                      np.array(offsets), np.array([2 if c == 2 else 0 for c in enc_codes]),
                      np.stack(images))
        rng = np.random.default_rng(0)
        masks = rng.random((2, 1, H, W)) < 0.5
        flim = [i for i, c in enumerate(enc_codes) if c != 2]
        np.testing.assert_array_equal(io.sum_rois(masks[:, 0]), truth.mask_sums(masks, range(len(frames))))
        if flim:
            np.testing.assert_array_equal(io.get_histogram_by_frames(flim), truth.histograms(flim))
            life, counts, _ = io.sum_rois_flim(masks, frames=flim)
            t_life, t_counts = truth.roi_flim(masks, flim)
            np.testing.assert_array_equal(counts, t_counts)
            np.testing.assert_allclose(life, t_life, rtol=1e-12, equal_nan=True)
        np.testing.assert_array_equal(io.get_experiment_timestamps(),
                                      [0.01 * i for i in range(len(frames))])


@pytest.mark.parametrize("encoding", ["raw", "compressed", "mixed"])
def test_phasor_with_explicit_period_equals_numpy_truth(tmp_path, encoding):
    """A phasor computed with an explicit period P (not the histogram length L) equals
    mean(exp(2*pi*i*(tau mod L)/P)) over the simulated photons, per pixel and per mask."""
    path = tmp_path / f"period_{encoding}.siff"
    gt = simulate(path, SimulationSpec(seed=11, height=12, width=20, slices=1, flyback_planes=0,
                                       colors=1, timepoints=5, encoding=encoding,
                                       photons_per_pixel=4.0))
    L = int(gt.tau_bins) + 2
    period = 0.8 * L + 0.37
    frames = [1, 3, 4]
    mask = np.zeros((12, 20), bool)
    mask[2:9, 5:17] = True
    with libsiff.open_file(path) as io:
        pix, inten, _ = io.flim_map(frames=frames, flim_method="phasor", _period_bins=period)
        roi, roi_counts, _ = io.sum_roi_flim(mask, frames=frames, flim_method="phasor",
                                             _period_bins=period)
        default, _, _ = io.sum_roi_flim(mask, frames=frames, flim_method="phasor")
    for i, fr in enumerate(frames):
        lo, hi = gt.photon_offsets[fr], gt.photon_offsets[fr + 1]
        y, x = gt.photon_y[lo:hi].astype(int), gt.photon_x[lo:hi].astype(int)
        rot = np.exp(2j * np.pi * (gt.photon_tau[lo:hi].astype(np.int64) % L) / period)
        sums = np.zeros((12, 20), np.complex128)
        np.add.at(sums, (y, x), rot)
        counts = np.zeros((12, 20), np.int64)
        np.add.at(counts, (y, x), 1)
        np.testing.assert_array_equal(inten[i], counts)
        with np.errstate(invalid="ignore"):
            np.testing.assert_allclose(pix[i], sums / counts, rtol=0, atol=1e-12)
        inside = mask[y, x]
        assert roi_counts[i] == inside.sum()
        np.testing.assert_allclose(roi[i], rot[inside].mean(), rtol=0, atol=1e-12)
        plain = np.exp(2j * np.pi * (gt.photon_tau[lo:hi][inside].astype(np.int64) % L) / L)
        np.testing.assert_allclose(default[i], plain.mean(), rtol=0, atol=1e-12)
        assert abs(default[i] - roi[i]) > 1e-6  # the period really changed the phasor


def test_counts_never_wrap(tmp_path):
    """70,000 photons of bin 1 in one pixel of a raw frame: the lifetime stays 1.0 (true
    counts), the uint16 intensity is clamped at 65535 and a warning says so; 64-bit sums and
    ROI sums keep the exact count."""
    H, W, hot = 8, 16, (3, 5)
    n_hot = 70_000
    rng = np.random.default_rng(5)
    y = np.concatenate([np.full(n_hot, hot[0]), rng.integers(hot[0] + 1, H, 300)])
    x = np.concatenate([np.full(n_hot, hot[1]), rng.integers(0, W, 300)])
    t = np.concatenate([np.ones(n_hot, int), rng.integers(0, 40, 300)])
    path = tmp_path / "hot.siff"
    with SiffWriter(path, build_nvfd(**{"SI.hScan2D.hAcq.Tau_bins": 50}),
                    build_roi_json(H, W)) as w:
        w.add_frame(y, x, t, (H, W), encoding="raw", description=make_description(1, 0.0, 10**18))
    counts = np.zeros((H, W), np.int64)
    np.add.at(counts, (y, x), 1)
    sums = np.zeros((H, W), np.int64)
    np.add.at(sums, (y, x), t)
    with libsiff.open_file(path) as io:
        with pytest.warns(RuntimeWarning, match="clamped at 65535"):
            life, inten, _ = io.flim_map()
        expected = np.minimum(counts, 65535)
        np.testing.assert_array_equal(inten[0], expected)
        with np.errstate(invalid="ignore"):
            np.testing.assert_array_equal(life[0], sums / counts)
        assert life[0][hot] == 1.0
        with pytest.warns(RuntimeWarning, match="clamped at 65535"):
            frames = io.get_frames()
        np.testing.assert_array_equal(frames[0], expected)
        np.testing.assert_array_equal(io.sum_frames(), counts)
        mask = np.zeros((H, W), bool)
        mask[hot] = True
        assert io.sum_roi(mask)[0] == counts[hot] == n_hot
        lt, n, _ = io.sum_roi_flim(mask)
        assert n[0] == counts[hot] and lt[0] == sums[hot] / counts[hot]


FAST_PATH_CELLS = {
    # compressed frames + masks (one, a few, > 16), mixed frames + FLIM sums, 512 x 512 masks
    "compressed_masks": dict(height=64, width=96, encoding="compressed", photons_per_pixel=3.0),
    "mixed_flim_sums": dict(height=48, width=80, encoding="mixed", photons_per_pixel=1.5),
    "raw_512": dict(height=512, width=512, encoding="raw", photons_per_pixel=0.3),
    "compressed_512": dict(height=512, width=512, encoding="compressed", photons_per_pixel=1.0),
}


def _overlapping_masks(rng, R, planes, H, W):
    """R masks of random rectangles that overlap (many distinct mask sets), (R, planes, H, W)."""
    m = np.zeros((R, planes, H, W), bool)
    for r in range(R):
        for p in range(planes):
            for _ in range(3):
                y, x = rng.integers(0, H), rng.integers(0, W)
                m[r, p, y:y + rng.integers(1, H // 2 + 2), x:x + rng.integers(1, W // 2 + 2)] = True
    return m


@pytest.mark.parametrize("cell", sorted(FAST_PATH_CELLS))
def test_mask_fast_paths_against_corrosiffpy(tmp_path, cell):
    """Every mask kernel on compressed, mixed and 512 x 512 frames, with 1, 3, 10 and 40
    masks (> 16 and > 64 mask sets), registered or not, equals corrosiffpy."""
    import corrosiffpy

    spec = FAST_PATH_CELLS[cell]
    path = tmp_path / f"{cell}.siff"
    simulate(path, SimulationSpec(seed=21, slices=1, flyback_planes=0, colors=2, timepoints=2,
                                  motion="none", **spec))
    rng = np.random.default_rng(2)
    a, b = libsiff.open_file(path), corrosiffpy.open_file(str(path))
    H, W = spec["height"], spec["width"]
    n = a.num_frames()
    frames = list(range(n)) + [0]
    reg = {f: (int(rng.integers(0, H)), int(rng.integers(0, W))) for f in range(n)}
    try:
        for R in (1, 3, 10, 40):
            m4 = _overlapping_masks(rng, R, 2, H, W)
            ms = m4[:, 0]
            for kw in ({}, {"registration": reg}):
                np.testing.assert_array_equal(a.sum_rois(ms, frames=frames, **kw),
                                              b.sum_rois(ms, frames=frames, **kw))
                np.testing.assert_array_equal(a.sum_rois(m4, frames=frames, **kw),
                                              b.sum_rois(m4, frames=frames, **kw))
                np.testing.assert_array_equal(a.sum_roi(ms[0], frames=frames, **kw),
                                              b.sum_roi(ms[0], frames=frames, **kw))
                x, y = a.sum_rois_flim(ms, frames=frames, **kw), b.sum_rois_flim(ms, frames=frames, **kw)
                np.testing.assert_array_equal(x[1], y[1])
                np.testing.assert_array_equal(x[0], y[0])
                x = a.sum_rois_flim(m4, frames=frames, flim_method="phasor", **kw)
                y = b.sum_rois_flim(m4, frames=frames, flim_method="phasor", **kw)
                np.testing.assert_array_equal(x[1], y[1])
                np.testing.assert_allclose(x[0], y[0], rtol=0, atol=1e-9)
            np.testing.assert_array_equal(a.get_histogram_masked(ms[0], frames=frames),
                                          b.get_histogram_masked(ms[0], frames=frames))
            # masked histograms per mask equal the unmasked kernel restricted by numpy
            hist = a.get_histograms_masked(ms, frames=frames)
            for r in (0, R - 1):
                np.testing.assert_array_equal(hist[r], b.get_histogram_masked(ms[r], frames=frames))
        np.testing.assert_array_equal(a.get_histogram(), b.get_histogram())
        for method in ("empirical lifetime", "phasor"):
            x = a.flim_map(frames=frames, flim_method=method, registration=reg)
            y = b.flim_map(frames=frames, flim_method=method, registration=reg)
            np.testing.assert_array_equal(x[1], y[1])
            if method == "phasor":
                np.testing.assert_allclose(x[0], y[0], rtol=0, atol=1e-9)
            else:
                np.testing.assert_array_equal(x[0], y[0])
    finally:
        a.close()


def test_histogram_of_checked_frames_reads_bins_only(tmp_path):
    """Pooled histograms read only the arrival bins of compressed frames whose count image an
    earlier call found equal to the bins stored: first and later calls equal corrosiffpy; a
    frame whose count image sums to fewer photons than stored is never taken for checked (its
    histogram keeps leaving the extra bins out, call after call)."""
    import struct

    import corrosiffpy

    path = tmp_path / "compressed.siff"
    simulate(path, SimulationSpec(seed=8, height=24, width=40, slices=1, flyback_planes=0,
                                  colors=1, timepoints=5, encoding="compressed",
                                  photons_per_pixel=2.0))
    with libsiff.open_file(path) as a:
        b = corrosiffpy.open_file(str(path))
        expected = b.get_histogram()
        per_frame = [b.get_histogram(frames=[i]) for i in range(a.num_frames())]
        for _ in range(3):
            np.testing.assert_array_equal(a.get_histogram(), expected)
            for i, h in enumerate(per_frame):
                np.testing.assert_array_equal(a.get_histogram(frames=[i]), h)
        frame = 2
    strip, nbytes = _strip_of(path, frame)
    data = bytearray(path.read_bytes())
    pixels = 24 * 40
    counts = np.frombuffer(bytes(data[strip - 2 * pixels:strip]), "<u2")
    last = int(np.flatnonzero(counts)[-1])  # its last bin is the frame's last stored bin
    struct.pack_into("<H", data, strip - 2 * pixels + 2 * last, int(counts[last]) - 1)
    dropped = struct.unpack_from("<H", data, strip + nbytes - 2)[0] % len(expected)
    cut = tmp_path / "fewer_counts.siff"
    cut.write_bytes(bytes(data))
    truth = expected.copy()
    truth[dropped] -= 1
    with libsiff.open_file(cut) as a:
        for _ in range(3):
            np.testing.assert_array_equal(a.get_histogram(), truth)


def _strip_of(path, frame):
    """(strip offset, strip byte count) of a frame, read with tifffile (independent reader)."""
    import tifffile

    with tifffile.TiffFile(path) as tf:
        page = tf.pages[frame]
        return int(page.dataoffsets[0]), int(page.databytecounts[0])
