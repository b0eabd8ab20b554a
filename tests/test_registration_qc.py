"""Registration QC and sub-pixel estimates against the simulator's known motion.

Truth: ``GroundTruth.subpixel_shifts`` (the real-valued motion the simulator applied,
``subpixel_motion=True``), ``GroundTruth.intensity`` (the photon counts it wrote, moved
here with ``np.roll``), and shifts this test spoils on purpose for chosen timepoints.
Sub-pixel errors are measured after removing one constant offset (the gauge: a
registration cannot know where the motion-free sample sits; see test_registration.py).
"""

from __future__ import annotations

import numpy as np
import pytest

import libsiff
from libsiff.registration import (
    RegistrationInfo,
    flag_frames,
    frame_grid_from_labels,
    frame_quality,
    mean_images,
    register_frames,
)
from libsiff.simulate import SimulationSpec, simulate

H = W = 64


@pytest.fixture(scope="module")
def subpixel_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("subpixel")
    cache = {}

    def get(motion: str, ppp: float):
        if (motion, ppp) not in cache:
            path = root / f"{motion}_{ppp}.siff"
            truth = simulate(path, SimulationSpec(
                height=H, width=W, slices=3, flyback_planes=1, colors=2, timepoints=200,
                photons_per_pixel=ppp, background=0.02, motion=motion, max_shift_px=6,
                subpixel_motion=True, keep_photons=False, seed=21))
            grid = frame_grid_from_labels(truth.timepoint, truth.plane, truth.color)
            with libsiff.open_file(path) as io:
                info = register_frames(io, grid, 0)
            cache[motion, ppp] = (path, truth, grid, info)
        return cache[motion, ppp]

    return get


def subpixel_rms(estimate: np.ndarray, truth: np.ndarray) -> float:
    """RMS length (pixels) of the error vectors after removing the median offset."""
    d = (estimate - truth + H / 2) % H - H / 2
    d -= np.median(d.reshape(-1, 2), axis=0)
    return float(np.sqrt(np.mean(np.sum(d ** 2, axis=-1))))


@pytest.mark.parametrize("motion, ppp, bound", [
    ("jitter", 4.0, 0.15), ("drift", 4.0, 0.15), ("jitter", 0.5, 0.3), ("drift", 0.5, 0.3)])
def test_subpixel_accuracy(subpixel_runs, motion, ppp, bound):
    path, truth, grid, info = subpixel_runs(motion, ppp)
    true = truth.subpixel_shifts[grid[:, :, 0]]
    sub = subpixel_rms(info.subpixel_shifts, true)
    whole = subpixel_rms(info.shifts.astype(float), true)
    frac = info.subpixel_shifts - np.round(info.subpixel_shifts)
    print(f"\n{motion} @ {ppp} photons/px: sub-pixel RMS {sub:.3f} px, integer RMS "
          f"{whole:.3f} px, estimates on an integer {np.mean(np.abs(frac) < 1e-9):.3f}")
    assert sub <= bound
    assert sub < 0.6 * whole  # really sub-pixel: far better than the integer shifts
    assert np.mean(np.abs(frac) < 1e-9) < 0.05


def test_subpixel_and_quality_saved_and_reads_stay_integer(subpixel_runs, tmp_path):
    path, truth, grid, info = subpixel_runs("jitter", 4.0)
    with libsiff.open_file(path) as io:
        quality = frame_quality(io, info)
    copy = RegistrationInfo.load(info.save(tmp_path / "q.siffreg.npz"))
    copy.quality = quality
    back = RegistrationInfo.load(copy.save(tmp_path / "r.siffreg.npz"))
    np.testing.assert_array_equal(back.subpixel_shifts, info.subpixel_shifts)
    np.testing.assert_array_equal(back.quality, quality)
    frames = grid[:5, 0, 0]
    with libsiff.open_file(path) as io:
        got = io.get_frames(frames, registration=back.yx_shifts)
    # photon-exact: the simulator's counts moved by whole pixels
    for k, f in enumerate(frames.tolist()):
        np.testing.assert_array_equal(got[k], np.roll(truth.intensity[f], back.yx_shifts[f],
                                                      axis=(0, 1)))


def test_quality_flags_the_spoiled_timepoints(subpixel_runs):
    path, truth, grid, info = subpixel_runs("jitter", 4.0)
    spoiled = np.array([7, 50, 51, 120, 199])
    bad = RegistrationInfo(registration_type=info.registration_type, filename=info.filename,
                           yx_shifts=dict(info.yx_shifts), reference_frames=info.reference_frames,
                           frame_grid=grid, registration_color_channel=0)
    for f in grid[spoiled].ravel().tolist():
        dy, dx = bad.yx_shifts[f]
        bad.yx_shifts[f] = ((dy + 5) % H, (dx - 4) % W)
    seen = []
    with libsiff.open_file(path) as io:
        good_q = frame_quality(io, info)
        bad_q = frame_quality(io, bad, progress=lambda d, t: seen.append((d, t)))
    assert good_q.shape == (grid.shape[0], grid.shape[1])
    assert not flag_frames(good_q).any()
    flagged = flag_frames(bad_q)
    np.testing.assert_array_equal(np.flatnonzero(flagged.any(axis=1)), spoiled)
    assert flagged[spoiled].all()
    assert seen[-1][0] == seen[-1][1] == int((grid[:, :, 0] >= 0).sum())


def test_mean_images_match_numpy(subpixel_runs):
    path, truth, grid, info = subpixel_runs("drift", 4.0)
    with libsiff.open_file(path) as io:
        before, after = mean_images(io, info)
    for z in range(grid.shape[1]):
        frames = grid[:, z, 0]
        raw = truth.intensity[frames].astype(np.float64)
        np.testing.assert_allclose(before[z], raw.mean(axis=0), rtol=1e-12)
        moved = [np.roll(truth.intensity[f], info.yx_shifts[f], axis=(0, 1)) for f in frames]
        np.testing.assert_allclose(after[z], np.mean(moved, axis=0), rtol=1e-12)
    # the registered mean is the sharper one
    assert np.mean(np.gradient(after[0])[0] ** 2) > np.mean(np.gradient(before[0])[0] ** 2)


def test_qc_cancel(subpixel_runs):
    path, truth, grid, info = subpixel_runs("drift", 4.0)
    with libsiff.open_file(path) as io:
        with pytest.raises(libsiff.SiffCancelled):
            mean_images(io, info, cancel=lambda: True)
        with pytest.raises(libsiff.SiffCancelled):
            frame_quality(io, info, cancel=lambda: True)
