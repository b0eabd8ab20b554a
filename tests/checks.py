"""Shared checks: every docs/format.md §7 call of libsiff against the writer's ground truth
(tests/reference.py) and against corrosiffpy 0.1.2 on well-formed files."""

from __future__ import annotations

import numpy as np

import libsiff

from reference import OffsetParams, Truth


def random_masks(rng, R, P, H, W):
    """R masks of P planes: random blobs plus a rectangle, never empty."""
    m = rng.random((R, P, H, W)) < 0.3
    m[:, :, H // 4: H // 2 + 1, W // 4: W // 2 + 1] = True
    return m


def random_shifts(rng, n, H, W, negative=True):
    lo = (-H, -W) if negative else (0, 0)
    return np.stack([rng.integers(lo[0], H, n), rng.integers(lo[1], W, n)], axis=1)


def as_dict(frames, shifts):
    return {int(f): (int(s[0]), int(s[1])) for f, s in zip(frames, shifts)}


def assert_nan_equal(a, b, exact=True):
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
    if exact:
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9, equal_nan=True)


def check_against_truth(path, truth: Truth, rng, flim=True):
    """libsiff vs the photons the file was written with, with arbitrary (negative) shifts."""
    with libsiff.open_file(path) as io:
        n, H, W = truth.n_frames, truth.height, truth.width
        assert io.num_frames() == n
        assert io.frame_shape() == (H, W)
        frames = rng.permutation(n)
        frames = np.concatenate([frames, frames[: max(1, n // 3)]])  # repeats
        shifts = random_shifts(rng, len(frames), H, W)
        # a registration dict holds one shift per frame: give repeats the same one
        first = {}
        for i, f in enumerate(frames):
            first.setdefault(int(f), shifts[i])
            shifts[i] = first[int(f)]
        reg = as_dict(frames, shifts)

        np.testing.assert_array_equal(io.get_frames(frames.tolist()), truth.frames(frames))
        np.testing.assert_array_equal(io.get_frames(frames, registration=reg),
                                      truth.frames(frames, shifts))
        masks = random_masks(rng, 3, 2, H, W)
        np.testing.assert_array_equal(io.sum_rois(masks, frames, reg),
                                      truth.mask_sums(masks, frames, shifts))
        np.testing.assert_array_equal(io.sum_roi(masks[0, 0], frames, reg),
                                      truth.mask_sums(masks[:1, :1], frames, shifts)[0])
        np.testing.assert_array_equal(io.sum_roi(masks[0], frames, reg),
                                      truth.mask_sums(masks[:1], frames, shifts)[0])
        np.testing.assert_array_equal(io.sum_frames(frames, reg),
                                      truth.frames(frames, shifts).astype(np.uint64).sum(0))
        if not flim:
            return
        flim_frames = np.array([f for f in frames if truth.encoding[f] != 2], np.int64)
        fshifts = np.array([first[int(f)] for f in flim_frames]).reshape(-1, 2)
        np.testing.assert_array_equal(io.get_histogram(flim_frames),
                                      truth.histograms(flim_frames).sum(0))
        np.testing.assert_array_equal(io.get_histogram_by_frames(flim_frames),
                                      truth.histograms(flim_frames))
        np.testing.assert_array_equal(io.get_histogram_masked(masks[1, 0], flim_frames, reg),
                                      truth.histograms(flim_frames, masks[1:2, :1], fshifts)[0])
        np.testing.assert_array_equal(io.get_histograms_masked(masks, flim_frames, reg),
                                      truth.histograms(flim_frames, masks, fshifts))
        few = flim_frames[:4]
        np.testing.assert_array_equal(io.get_frames_full(few, reg), truth.full(few, fshifts[:4]))
        off = 37.25  # bins; handed over in ns to check the units round trip
        params = OffsetParams(off)
        params.convert_units("nanoseconds")
        for phasor in (False, True):
            method = "phasor" if phasor else "empirical lifetime"
            life, counts, none = io.flim_map(params, flim_frames, flim_method=method,
                                             registration=reg)
            t_life, t_counts = truth.pixel_flim(flim_frames, fshifts, phasor, off)
            assert none is None
            np.testing.assert_array_equal(counts, t_counts)
            assert_nan_equal(life, t_life, exact=False)
            life, counts, _ = io.sum_rois_flim(masks, params, flim_frames, method, reg)
            t_life, t_counts = truth.roi_flim(masks, flim_frames, fshifts, phasor, off)
            np.testing.assert_array_equal(counts, t_counts)
            assert_nan_equal(life, t_life, exact=False)
        assert params.units == "nanoseconds"  # restored after the call


# Calls whose corrosiffpy result is known wrong (docs/format.md §12) are excluded by the
# arguments chosen here: non-negative shifts, no registration for the masked histogram,
# phasor offsets only in sum_roi_flim, and the compressed-ROI wrap checked separately.
def check_against_corrosiff(path, truth: Truth | None, rng, flim=True, roi_flim=True,
                            system_timestamps=True, masks=True):
    """Every docs/format.md §7 call of libsiff equals corrosiffpy's on a well-formed file."""
    import corrosiffpy

    a = libsiff.open_file(path)
    b = corrosiffpy.open_file(str(path))
    try:
        n = b.num_frames()
        assert a.num_frames() == n
        assert a.frame_shape() == b.frame_shape()
        H, W = b.frame_shape()
        assert a.get_file_header() == b.get_file_header()
        assert a.filename == b.filename
        assert a.get_frame_metadata() == b.get_frame_metadata()
        frames = rng.permutation(n).tolist() + [0, 0]
        shifts = random_shifts(rng, len(frames), H, W, negative=False)
        shifts[-2:] = shifts[0]
        reg = {f: (int(s[0]), int(s[1])) for f, s in zip(frames, shifts)}
        reg[0] = tuple(int(v) for v in shifts[frames.index(0)])

        def same(name, *args, **kw):
            x, y = getattr(a, name)(*args, **kw), getattr(b, name)(*args, **kw)
            if isinstance(y, tuple):
                assert len(x) == len(y)
                for u, v in zip(x, y):
                    if v is None:
                        assert u is None
                    else:
                        exact = v.dtype != np.complex128
                        assert_nan_equal(u, v, exact=exact)
            elif isinstance(y, np.ndarray):
                assert_nan_equal(x, y)
            else:
                assert x == y, (name, x, y)

        same("get_frames")
        same("get_frames", frames=frames)
        same("get_frames", frames=frames, registration=reg)
        same("get_experiment_timestamps")
        same("get_epoch_timestamps_laser", frames=frames)
        if system_timestamps:
            same("get_epoch_timestamps_system")
            same("get_epoch_both", frames=frames)
        for fl in (None, frames[::-1]):
            # events without a Text timestamp line: libsiff reports them with NaN,
            # corrosiffpy drops them (docs/format.md §12); everything else must agree
            ours = [e for e in a.get_appended_text(fl) if not (len(e) == 3 and e[2] != e[2])]
            assert ours == b.get_appended_text(fl)
        m2 = random_masks(rng, 1, 1, H, W)[0, 0]
        m3 = random_masks(rng, 1, 3, H, W)[0]
        ms = random_masks(rng, 10, 1, H, W)[:, 0]
        m4 = random_masks(rng, 4, 3, H, W)
        if not masks:
            return
        same("sum_roi", m2)
        same("sum_roi", m2, frames=frames, registration=reg)
        same("sum_roi", m3, frames=frames, registration=reg)
        same("sum_roi", m4, frames=frames)
        same("sum_rois", ms, frames=frames, registration=reg)
        same("sum_rois", m4, frames=frames, registration=reg)
        if not flim:
            return
        ff = [f for f in frames if truth is None or truth.encoding[f] != 2]
        freg = {f: reg[f] for f in ff}
        same("get_histogram")
        same("get_histogram", frames=ff)
        same("get_histogram_by_frames", frames=ff)
        same("get_histogram_masked", m2, frames=ff)
        same("get_histogram_masked", m3, frames=ff)
        same("get_frames_full", frames=ff[:5], registration=freg)
        params = OffsetParams(12.5)
        same("flim_map", frames=ff, registration=freg)
        same("flim_map", params, frames=ff, registration=freg)
        same("flim_map", frames=ff, flim_method="phasor", registration=freg)
        if roi_flim:
            same("sum_roi_flim", m2, frames=ff, registration=freg)
            same("sum_roi_flim", m3, params, frames=ff, registration=freg)
            same("sum_roi_flim", m2, params, frames=ff, flim_method="phasor")
            same("sum_rois_flim", ms, params, frames=ff, registration=freg)
            same("sum_rois_flim", m4, frames=ff, flim_method="phasor", registration=freg)
    finally:
        a.close()


def timeless(export):
    """An export (``str`` or ``bytes``) without its ``# export_time`` line, the one header
    line that differs between two runs of the same export."""
    tag = "# export_time: " if isinstance(export, str) else b"# export_time: "
    lines = export.splitlines(keepends=True)
    assert sum(line.startswith(tag) for line in lines) == 1
    return export[:0].join(line for line in lines if not line.startswith(tag))
