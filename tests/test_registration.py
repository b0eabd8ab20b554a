"""Registration (libsiff.registration) against the simulator's known motion.

Truth: ``GroundTruth.shifts[f]`` is the (dy, dx) that undoes frame f's motion in np.roll
convention, which is what ``RegistrationInfo.shifts`` / ``yx_shifts`` hold. A registration
made from the data alone cannot know where the motion-free sample sits: the library puts
its references at the sample's median position, the simulator at the start of the motion.
The two conventions differ by one constant integer vector for the whole acquisition (one
"gauge"; all planes share it because the volume is registered rigidly). Errors are
therefore measured after removing the median difference, and every test also checks that
this offset is the same for every plane, i.e. the planes stay aligned to each other.

Acquisitions: 64x64 frames, 3 planes + 1 flyback, 2 colours, motion up to 6 pixels,
``photons_per_pixel`` = expected photons per pixel per frame in the brightest structure
(the sample images peak at 1), background 0.02 photons/pixel/frame.
"""

from __future__ import annotations

import os
import sys
import types
import warnings

import numpy as np
import pytest

import libsiff
from libsiff.registration import (
    RegistrationInfo,
    RegistrationType,
    default_registration_path,
    frame_grid_from_labels,
    load_saved_registration,
    register_frames,
)
from libsiff.simulate import SimulationSpec, simulate

H = W = 64
TIMEPOINTS = 240
MOTIONS = ("drift", "jumps", "jitter")


def _spec(motion: str, ppp: float, **kw) -> SimulationSpec:
    base = dict(height=H, width=W, slices=3, flyback_planes=1, colors=2, timepoints=TIMEPOINTS,
                photons_per_pixel=ppp, background=0.02, motion=motion, max_shift_px=6,
                keep_photons=False, seed=5)
    base.update(kw)
    return SimulationSpec(**base)


@pytest.fixture(scope="module")
def acquisitions(tmp_path_factory):
    """Simulated files, written once per module: {(motion, ppp): (path, truth)}."""
    root = tmp_path_factory.mktemp("registration")
    cache = {}

    def get(motion: str, ppp: float, **kw):
        key = (motion, ppp, tuple(sorted(kw.items())))
        if key not in cache:
            name = f"{motion}_{ppp}_{len(cache)}.siff"
            truth = simulate(root / name, _spec(motion, ppp, **kw))
            cache[key] = (root / name, truth)
        return cache[key]

    return get


@pytest.fixture(scope="module")
def registered(acquisitions):
    """Registrations with default options, computed once: (io, grid, truth, info)."""
    cache = {}

    def get(motion: str, ppp: float, **options):
        key = (motion, ppp, repr(sorted(options.items())))
        if key not in cache:
            path, truth = acquisitions(motion, ppp)
            io = libsiff.open_file(path)
            grid = frame_grid_from_labels(truth.timepoint, truth.plane, truth.color)
            cache[key] = (io, grid, truth, register_frames(io, grid, 0, **options))
        return cache[key]

    yield get
    for io, *_ in cache.values():
        io.close()


def _signed(v: np.ndarray) -> np.ndarray:
    size = np.array([H, W])
    return (v + size // 2) % size - size // 2


def shift_errors(info: RegistrationInfo, grid: np.ndarray, truth) -> tuple[np.ndarray, np.ndarray]:
    """Per-(timepoint, plane) error length in pixels after removing the one global offset."""
    est = info.shifts                                  # (T, Z, 2) signed
    true = truth.shifts[grid[:, :, 0]]                 # (T, Z, 2) from the simulator
    diff = _signed(est - true)
    offset = np.round(np.median(diff.reshape(-1, 2), axis=0)).astype(int)
    err = _signed(diff - offset)
    return np.hypot(err[..., 0], err[..., 1]), offset


def rms(e: np.ndarray) -> float:
    return float(np.sqrt(np.mean(e ** 2)))


def best_correlation(image: np.ndarray, truth: np.ndarray) -> float:
    """Pearson correlation of two images at their best circular alignment (gauge-free)."""
    a = (image - image.mean()) / image.std()
    b = (truth - truth.mean()) / truth.std()
    cross = np.fft.irfft2(np.fft.rfft2(a) * np.conj(np.fft.rfft2(b)), s=a.shape)
    return float(cross.max() / a.size)


def sharpness(image: np.ndarray) -> float:
    """Mean squared gradient over squared mean intensity (dimensionless; blur lowers it)."""
    gy, gx = np.gradient(image)
    return float(np.mean(gy ** 2 + gx ** 2) / image.mean() ** 2)


# ------------------------------------------------------------------------------ accuracy

@pytest.mark.parametrize("motion", MOTIONS)
def test_accuracy_one_photon_per_pixel(registered, motion):
    io, grid, truth, info = registered(motion, 1.0)
    err, offset = shift_errors(info, grid, truth)
    print(f"\n{motion} @ 1.0 photon/px/frame: RMS {rms(err):.3f} px, max {err.max():.2f} px, "
          f"wrong {np.mean(err > 0):.3f}, gauge offset {tuple(offset)}")
    assert rms(err) <= 0.3
    assert err.max() <= 1.0


@pytest.mark.parametrize("motion", ["drift", "jumps"])
def test_accuracy_sparse_slow_and_sudden_motion(registered, motion):
    io, grid, truth, info = registered(motion, 0.2)
    err, offset = shift_errors(info, grid, truth)
    print(f"\n{motion} @ 0.2 photon/px/frame: RMS {rms(err):.3f} px, max {err.max():.2f} px, "
          f"wrong {np.mean(err > 0):.3f}, cycles {info.options['cycles_run']}")
    assert rms(err) <= 0.5


def test_accuracy_sparse_jitter_reported(registered):
    """Fast jitter at 0.2 photons/pixel/frame: no temporal pooling can help (every
    timepoint moves independently), only the planes' and colours' shared evidence."""
    results = {}
    for label, options in (("alignment colour", {}), ("both colours", {"evidence_colors": "all"})):
        io, grid, truth, info = registered("jitter", 0.2, **options)
        err, _ = shift_errors(info, grid, truth)
        results[label] = (rms(err), err.max(), info.options["jump_probability_fit"][0])
        print(f"\njitter @ 0.2 photon/px/frame, {label}: RMS {rms(err):.3f} px, "
              f"max {err.max():.2f} px, wrong {np.mean(err > 0):.3f}, fitted jump "
              f"probability {results[label][2]:.3f}")
    # Regression bounds, not a specification: see the printed numbers.
    assert results["alignment colour"][0] <= 0.6
    assert results["both colours"][0] <= results["alignment colour"][0] + 0.05
    # The temporal model recognises jitter for what it is: almost every step is a jump.
    assert results["alignment colour"][2] > 0.9


def test_single_plane_one_photon(acquisitions):
    """One plane, no pooling across planes (the SiffPy situation)."""
    path, truth = acquisitions("jitter", 1.0, slices=1)
    with libsiff.open_file(path) as io:
        grid = frame_grid_from_labels(truth.timepoint, truth.plane, truth.color)
        info = register_frames(io, grid, 0)
    err, _ = shift_errors(info, grid, truth)
    print(f"\njitter @ 1.0, single plane: RMS {rms(err):.3f} px, max {err.max():.2f} px")
    assert rms(err) <= 0.3 and err.max() <= 1.0
    assert info.reference_frames.shape == (H, W)  # squeezed as SiffPy


def test_independent_planes(registered):
    """rigid_volume=False registers each plane on its own and still finds the motion."""
    io, grid, truth, info = registered("drift", 1.0, rigid_volume=False)
    est = info.shifts
    true = truth.shifts[grid[:, :, 0]]
    for z in range(grid.shape[1]):
        diff = _signed(est[:, z] - true[:, z])
        err = _signed(diff - np.round(np.median(diff, axis=0)).astype(int))
        assert rms(np.hypot(*err.T)) <= 0.3


@pytest.mark.parametrize("ppp", [1.0, 0.2])
def test_registered_mean_is_sharper(registered, ppp):
    io, grid, truth, info = registered("jitter", ppp)
    for z in range(grid.shape[1]):
        frames = grid[:, z, 0]
        raw = io.sum_frames(frames).astype(float)
        reg = io.sum_frames(frames, registration=info.yx_shifts).astype(float)
        ideal = io.sum_frames(frames, registration=truth.registration(frames)).astype(float)
        sample = truth.truth_images[z, 0]
        c_raw, c_reg, c_ideal = (best_correlation(m, sample) for m in (raw, reg, ideal))
        s_raw, s_reg, s_true = sharpness(raw), sharpness(reg), sharpness(ideal)
        print(f"\njitter @ {ppp} photon/px/frame, plane {z}: correlation with the motion-free "
              f"sample: unregistered {c_raw:.3f}, registered {c_reg:.3f}, true shifts "
              f"{c_ideal:.3f}; sharpness {s_raw:.4f} -> {s_reg:.4f} (true shifts {s_true:.4f})")
        assert c_reg > c_raw + 0.05
        assert c_reg >= c_ideal - (0.005 if ppp >= 1 else 0.02)
        assert s_reg > 1.5 * s_raw
        # The stored reference is the registered mean of the alignment colour.
        np.testing.assert_allclose(info.reference_frames[z], reg / frames.size, rtol=1e-5)


# ------------------------------------------------------------------------------ semantics

def test_every_colour_and_plane_shares_the_shift(registered):
    io, grid, truth, info = registered("jumps", 1.0)
    T, Z, C = grid.shape
    assert set(info.yx_shifts) == set(grid[grid >= 0].tolist())
    assert not set(info.yx_shifts) & set(np.flatnonzero(truth.flyback).tolist())
    for t in range(T):
        values = {info.yx_shifts[int(f)] for f in grid[t].ravel()}
        assert len(values) == 1  # all planes and colours of a volume
    dy, dx = np.array(list(info.yx_shifts.values())).T
    assert dy.min() >= 0 and dy.max() < H and dx.min() >= 0 and dx.max() < W
    assert all(type(v[0]) is int and type(v[1]) is int for v in info.yx_shifts.values())
    # The second colour, never looked at, is sharpened by the same shifts.
    frames = grid[:, 0, 1]
    sample = truth.truth_images[0, 1]
    raw = io.sum_frames(frames).astype(float)
    reg = io.sum_frames(frames, registration=info.yx_shifts).astype(float)
    assert best_correlation(reg, sample) > best_correlation(raw, sample) + 0.05


def test_result_attributes(registered):
    io, grid, truth, info = registered("drift", 1.0)
    T, Z, C = grid.shape
    assert info.registration_type is RegistrationType.Siffpy
    assert str(info.registration_type) == "RegistrationType.Siffpy"
    assert str(info) == f"RegistrationType.Siffpy RegistrationInfo for {io.filename}"
    assert info.registration_dict is info.yx_shifts
    assert info.registration_color_channel == 0
    assert info.reference_frames.shape == (Z, H, W)
    assert info.reference_frames.dtype == np.float32
    assert info.shifts.shape == (T, Z, 2) and info.subpixel_shifts.shape == (T, Z, 2)
    assert np.all(np.abs(info.subpixel_shifts - info.shifts) <= 0.5)
    assert info.confidence.shape == (T, Z)
    assert np.all((info.confidence > 0) & (info.confidence <= 1))
    assert np.all(np.abs(np.median(info.shifts[:, 0], axis=0)) <= 0.5)  # median gauge
    assert info.n_frames == io.num_frames() and info.frame_shape == (H, W)


def test_missing_frames_in_grid(acquisitions):
    """A partial last volume (-1 in the grid) registers; missing frames get no entry."""
    path, truth = acquisitions("jumps", 1.0)
    full = frame_grid_from_labels(truth.timepoint, truth.plane, truth.color)
    grid = full.copy()
    grid[-1, 1:] = -1
    grid[5, :, 0] = -1  # a whole timepoint without alignment frames: the prior fills it
    with libsiff.open_file(path) as io:
        info = register_frames(io, grid, 0)
    assert set(info.yx_shifts) == set(grid[grid >= 0].tolist())
    err, _ = shift_errors(info, full, truth)
    assert rms(err) <= 0.3


# ------------------------------------------------------------------------------ persistence

def test_save_load_round_trip(registered, tmp_path):
    io, grid, truth, info = registered("jitter", 1.0)
    target = tmp_path / "copy.siffreg.npz"
    assert info.save(target) == target
    assert [p.name for p in tmp_path.iterdir()] == ["copy.siffreg.npz"]  # no temp left
    back = RegistrationInfo.load(target)
    assert back.yx_shifts == info.yx_shifts
    assert str(back) == str(info)
    for name in ("reference_frames", "frame_grid", "shifts", "subpixel_shifts", "confidence"):
        np.testing.assert_array_equal(getattr(back, name), getattr(info, name))
    assert back.registration_type is RegistrationType.Siffpy
    assert back.fingerprint == info.fingerprint and back.frame_shape == (H, W)


def test_saved_next_to_file_and_reloaded(acquisitions, tmp_path):
    src, truth = acquisitions("drift", 1.0)
    path = tmp_path / "session.siff"
    path.write_bytes(src.read_bytes())
    grid = frame_grid_from_labels(truth.timepoint, truth.plane, truth.color)
    with libsiff.open_file(path) as io:
        assert load_saved_registration(path, io.num_frames(), io.frame_shape(), io=io) is None
        info = register_frames(io, grid, 0)
        written = info.save()
        n, shape = io.num_frames(), io.frame_shape()
    assert written == default_registration_path(path) == tmp_path / "session.siffreg.npz"
    with libsiff.open_file(path) as io, warnings.catch_warnings():
        warnings.simplefilter("error")
        again = load_saved_registration(path, io.num_frames(), io.frame_shape(), io=io)
    assert again is not None and again.yx_shifts == info.yx_shifts
    # SiffIO applies the reloaded shifts exactly as the fresh ones.
    with libsiff.open_file(path) as io:
        np.testing.assert_array_equal(io.sum_frames(grid[:, 0, 0], again.yx_shifts),
                                      io.sum_frames(grid[:, 0, 0], info.yx_shifts))

    # Stale: other frame count, other geometry, other contents of the same name, corrupt.
    with pytest.warns(UserWarning, match="stale.*frames"):
        assert load_saved_registration(path, n - 14, shape) is None
    assert written.exists()  # stale is not damaged: left in place
    with pytest.warns(UserWarning, match="32x64"):
        assert load_saved_registration(path, n, (32, 64)) is None
    simulate(path, _spec("drift", 1.0, seed=99, timepoints=TIMEPOINTS))  # re-acquired
    with libsiff.open_file(path) as io, pytest.warns(UserWarning, match="stale"):
        assert load_saved_registration(path, io.num_frames(), io.frame_shape(), io=io) is None
    written.write_bytes(b"not a registration")
    with pytest.warns(UserWarning, match="unreadable"):
        assert load_saved_registration(path, n, shape) is None


def test_save_is_atomic(registered, tmp_path, monkeypatch):
    """A failure while writing leaves the previous file intact and no temporary behind."""
    io, grid, truth, info = registered("drift", 1.0)
    target = tmp_path / "r.siffreg.npz"
    info.save(target)
    before = target.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        info.save(target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.siffreg.npz"]


# ------------------------------------------------------------------------------ GUI hooks

def test_progress_reaches_total(acquisitions):
    path, truth = acquisitions("drift", 1.0)
    grid = frame_grid_from_labels(truth.timepoint, truth.plane, truth.color)
    calls = []
    with libsiff.open_file(path) as io:
        register_frames(io, grid, 0, progress=lambda d, t: calls.append((d, t)))
    assert len(calls) > 5
    done = [d for d, _ in calls]
    assert done == sorted(done)
    assert all(0 <= d <= t for d, t in calls)
    assert calls[-1][0] == calls[-1][1] > 0


def test_cancel_raises_and_returns_nothing(acquisitions):
    path, truth = acquisitions("drift", 1.0)
    grid = frame_grid_from_labels(truth.timepoint, truth.plane, truth.color)
    calls = []
    with libsiff.open_file(path) as io:
        with pytest.raises(libsiff.SiffCancelled):
            register_frames(io, grid, 0, progress=lambda d, t: calls.append(d),
                            cancel=lambda: len(calls) >= 3)
        assert len(calls) == 3  # stopped at the first poll after the request
        with pytest.raises(libsiff.SiffCancelled):
            register_frames(io, grid, 0, cancel=lambda: True)


# ------------------------------------------------------------------------------ options

def test_options_are_checked(acquisitions):
    path, truth = acquisitions("drift", 1.0)
    grid = frame_grid_from_labels(truth.timepoint, truth.plane, truth.color)
    with libsiff.open_file(path) as io:
        with pytest.raises(TypeError, match="no_such_option"):
            register_frames(io, grid, 0, no_such_option=1)
        with pytest.raises(NotImplementedError):
            register_frames(io, grid, 0, method="caiman")
        with pytest.raises(ValueError, match="unknown registration method"):
            register_frames(io, grid, 0, method="average")
        with pytest.raises(libsiff.SiffFormatError):
            register_frames(io, grid, 2)
        with pytest.raises(libsiff.SiffFormatError):
            register_frames(io, grid[..., 0], 0)
        # SiffPy's keywords are accepted (align_z warns, as SiffPy)
        with pytest.warns(UserWarning, match="align_z"):
            info = register_frames(io, grid[:40], 0, num_cycles=1, nimg_init=10,
                                   seed_ref_count=5, regularize_sigma=2.0, tqdm=None,
                                   align_z=True)
        assert info.options["cycles_run"] == 1


# ------------------------------------------------------------------------------ suite2p

def test_suite2p_missing_gives_clear_message(acquisitions, monkeypatch):
    path, truth = acquisitions("drift", 1.0)
    grid = frame_grid_from_labels(truth.timepoint, truth.plane, truth.color)
    monkeypatch.setitem(sys.modules, "suite2p", None)  # import suite2p -> ImportError
    with libsiff.open_file(path) as io:
        with pytest.raises(ImportError, match=r"pip install siffviewer\[suite2p\]"):
            register_frames(io, grid, 0, method="suite2p")


def test_suite2p_glue_with_a_stand_in(acquisitions, monkeypatch):
    """The conversion around suite2p (its offsets are negated np.roll shifts, reference / 100,
    shifts copied to every colour) checked with a stand-in that returns the true offsets in
    suite2p's convention. suite2p itself is not installed here."""
    path, truth = acquisitions("jumps", 1.0)
    grid = frame_grid_from_labels(truth.timepoint, truth.plane, truth.color)
    seen = []

    def registration_wrapper(f_reg, f_raw=None, f_reg_chan2=None, f_raw_chan2=None,
                             refImg=None, align_by_chan2=False,
                             ops={"nonrigid": True}):  # noqa: B006 - suite2p's signature, read
        seen.append((f_raw.shape, f_raw.dtype, ops))
        offsets = -truth.shifts[grid[:, len(seen) - 1, 0]]  # suite2p: reference -> data
        ref = f_raw.mean(axis=0)
        return (ref, 0, 1, ref, (offsets[:, 0].astype(float), offsets[:, 1].astype(float),
                                 np.ones(len(offsets))), None, None, None, None, None, None)

    register = types.ModuleType("suite2p.registration.register")
    register.registration_wrapper = registration_wrapper
    package = types.ModuleType("suite2p.registration")
    package.register = register
    suite2p = types.ModuleType("suite2p")
    suite2p.registration = package
    monkeypatch.setitem(sys.modules, "suite2p", suite2p)
    monkeypatch.setitem(sys.modules, "suite2p.registration", package)
    monkeypatch.setitem(sys.modules, "suite2p.registration.register", register)
    with libsiff.open_file(path) as io:
        info = register_frames(io, grid, 0, method="suite2p", maxregshift=0.2)
        raw_mean = io.sum_frames(grid[:, 0, 0]) / grid.shape[0]
    assert len(seen) == grid.shape[1]
    assert seen[0][0] == (grid.shape[0], H, W) and seen[0][1] == np.float32
    assert seen[0][2]["nonrigid"] is False and seen[0][2]["maxregshift"] == 0.2
    assert info.registration_type is RegistrationType.Suite2p
    assert str(info).startswith("RegistrationType.Suite2p RegistrationInfo for ")
    expected = {int(f): (int(truth.shifts[f, 0]) % H, int(truth.shifts[f, 1]) % W)
                for f in grid.ravel()}
    assert info.yx_shifts == expected
    np.testing.assert_allclose(info.reference_frames[0], raw_mean, rtol=1e-5)


# ------------------------------------------------------------------------------ helpers

def test_frame_grid_from_labels():
    # 2 timepoints x (2 planes x 2 repeats + 1 flyback) x 2 colours, SiffPy frame order
    spec = SimulationSpec(slices=2, frames_per_slice=2, flyback_planes=1, colors=2,
                          timepoints=2)
    from libsiff.simulate import frame_table
    table = frame_table(spec)
    grid = frame_grid_from_labels(table["timepoint"], table["plane"], table["color"],
                                  repeat=table["repeat"])
    assert grid.shape == (4, 2, 2)
    assert grid[0].tolist() == [[0, 1], [4, 5]]      # timepoint 0, repeat 0
    assert grid[1].tolist() == [[2, 3], [6, 7]]      # timepoint 0, repeat 1
    assert grid[2, 0, 0] == spec.frames_per_volume    # timepoint 1 starts after flyback
    assert not np.isin(np.flatnonzero(table["plane"] < 0), grid).any()
    with pytest.raises(ValueError, match="same"):
        frame_grid_from_labels(table["timepoint"], table["plane"], table["color"])


def test_load_rejects_foreign_and_newer_files(registered, tmp_path):
    io, grid, truth, info = registered("drift", 1.0)
    np.savez(tmp_path / "other.npz", meta=np.array('{"format": "something else"}'))
    with pytest.raises(libsiff.SiffFormatError, match="not a libsiff registration"):
        RegistrationInfo.load(tmp_path / "other.npz")
    path = info.save(tmp_path / "new.siffreg.npz")
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["meta"] = np.array(str(arrays["meta"]).replace('"format_version": 1',
                                                         '"format_version": 99'))
    np.savez(path, **arrays)
    with pytest.raises(libsiff.SiffFormatError, match="newer"):
        RegistrationInfo.load(path)
    assert info.mismatch(info.n_frames, (H, W)) is None
    assert "frame" in info.mismatch(info.n_frames + 1, (H, W))


def test_saved_file_is_readable_by_others(registered, tmp_path):
    io, grid, truth, info = registered("drift", 1.0)
    path = info.save(tmp_path / "x.siffreg.npz")
    if os.name == "posix":
        assert path.stat().st_mode & 0o044 == 0o044  # not mkstemp's 0600


@pytest.mark.parametrize("options", [
    {"temporal": "none"}, {"coarse_cycles": False}, {"subpixel_references": False},
    {"evidence_colors": [1]}, {"max_shift": 8, "step_sigma": 0.5, "jump_probability": 0.3},
])
def test_option_variants_stay_accurate(registered, options):
    io, grid, truth, info = registered("jumps", 1.0, **options)
    err, _ = shift_errors(info, grid, truth)
    assert rms(err) <= 0.3 and err.max() <= 1.0
    assert info.options["temporal"] == options.get("temporal", "hmm")


def test_motion_beyond_max_shift_warns(acquisitions):
    path, truth = acquisitions("jitter", 1.0)
    grid = frame_grid_from_labels(truth.timepoint, truth.plane, truth.color)
    with libsiff.open_file(path) as io, pytest.warns(RuntimeWarning, match="max_shift"):
        register_frames(io, grid[:60], 0, max_shift=3)
