"""Plane projections from one C pass (libsiff.projections, siff_projection_sums).

Truth: frames read by corrosiffpy (unregistered) and rolled with numpy for the shifts;
numpy sums, mean/max/std and a direct local-correlation computation (np.corrcoef of each
pixel's time course with each neighbour's); for counts corrosiffpy cannot hold (a pixel of
more than 65,535 photons in a frame), the photon coordinates this test writes."""

from __future__ import annotations

import corrosiffpy
import numpy as np
import pytest

from libsiff import SiffArgumentError, SiffCancelled, SiffIndexError, SiffShapeError, open_file
from libsiff import _bindings as nb
from libsiff.projections import PLANES, plane_projections, projection_sums
from libsiff.simulate import SimulationSpec, simulate
from libsiff.testing.simulate import _header_settings
from libsiff.writer import SiffWriter, build_nvfd, build_roi_json, make_description

H, W, T = 24, 40, 50
NEIGHBOURS = {"right": (0, 1), "down": (1, 0), "down_right": (1, 1), "down_left": (1, -1)}


@pytest.fixture(scope="module", params=["raw", "compressed"])
def acquisition(request, tmp_path_factory):
    """A simulated plane (one colour) in one encoding."""
    path = tmp_path_factory.mktemp("proj") / f"{request.param}.siff"
    simulate(path, SimulationSpec(height=H, width=W, slices=1, flyback_planes=0, colors=1,
                                  timepoints=T, photons_per_pixel=2.0, background=0.1,
                                  motion="jitter", max_shift_px=3, encoding=request.param,
                                  keep_photons=False, seed=11))
    with open_file(path) as io:
        kinds = {info["siff_tag"] for info in io._native.frame_infos(0, T)}
    assert kinds == {0 if request.param == "raw" else 1}
    return path


def _movie(path, frames, shifts=None) -> np.ndarray:
    """Frames as corrosiffpy reads them, rolled by numpy for the shifts."""
    movie = corrosiffpy.open_file(str(path)).get_frames(frames=[int(f) for f in frames])
    movie = movie.astype(np.int64)
    if shifts is not None:
        movie = np.stack([np.roll(m, tuple(s), axis=(0, 1)) for m, s in zip(movie, shifts,
                                                                              strict=True)])
    return movie


def _reference_sums(movie: np.ndarray) -> dict[str, np.ndarray]:
    """The seven planes computed plainly from a (T, H, W) movie."""
    out = {"sum": movie.sum(0), "sum_sq": (movie ** 2).sum(0), "max": movie.max(0)}
    h, w = movie.shape[1:]
    for name, (dy, dx) in NEIGHBOURS.items():
        plane = np.zeros((h, w), np.int64)
        for y in range(h):
            for x in range(w):
                if 0 <= y + dy < h and 0 <= x + dx < w:
                    plane[y, x] = (movie[:, y, x] * movie[:, y + dy, x + dx]).sum()
        out[name] = plane
    return out


def _reference_correlation(movie: np.ndarray) -> np.ndarray:
    """Mean Pearson correlation of each pixel's time course with its (up to 8) neighbours;
    0 for a pair where either time course is constant."""
    h, w = movie.shape[1:]
    out = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            rs = []
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    yy, xx = y + dy, x + dx
                    if (dy, dx) == (0, 0) or not (0 <= yy < h and 0 <= xx < w):
                        continue
                    a, b = movie[:, y, x], movie[:, yy, xx]
                    rs.append(0.0 if a.std() == 0 or b.std() == 0 else np.corrcoef(a, b)[0, 1])
            out[y, x] = np.mean(rs)
    return out


@pytest.mark.parametrize("registered", [False, True])
def test_sums_and_images_equal_numpy(acquisition, registered):
    frames = np.arange(T)
    shifts = np.random.default_rng(3).integers(-30, 30, (T, 2)) if registered else None
    registration = None if shifts is None else {int(f): (int(s[0]), int(s[1]))
                                                for f, s in zip(frames, shifts, strict=True)}
    movie = _movie(acquisition, frames, shifts)
    with open_file(acquisition) as io:
        sums = io.projection_sums(frames, registration)
        images = plane_projections(io, frames, registration, chunk=7)
        table = np.zeros((T, 2), np.int64) if shifts is None else shifts
        by_table = io.projection_sums(frames, table)  # a shift table, as get_frames takes
    assert sums.dtype == np.uint64 and sums.shape == (7, H, W)
    expected = _reference_sums(movie)
    for k, name in enumerate(PLANES):
        np.testing.assert_array_equal(sums[k], expected[name], err_msg=name)
    np.testing.assert_array_equal(by_table, sums)
    np.testing.assert_allclose(images["mean"], movie.mean(0), rtol=1e-6)
    np.testing.assert_array_equal(images["max"], movie.max(0))
    np.testing.assert_allclose(images["std"], movie.std(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(images["correlation"], _reference_correlation(movie), atol=1e-5)
    assert all(im.dtype == np.float32 and im.shape == (H, W) for im in images.values())


@pytest.mark.parametrize("threads", [1, 3])
def test_chunks_threads_and_repeats_do_not_change_the_sums(acquisition, threads, monkeypatch):
    monkeypatch.setattr(nb, "_THREADS", threads)
    frames = np.r_[np.arange(T)[::-1], [4, 4, 9]]  # any order, repeats count again
    expected = _reference_sums(_movie(acquisition, frames))
    with open_file(acquisition) as io:
        whole = io.projection_sums(frames)
        for chunk in (1, 5, 64):
            np.testing.assert_array_equal(projection_sums(io, frames, chunk=chunk), whole)
    for k, name in enumerate(PLANES):
        np.testing.assert_array_equal(whole[k], expected[name], err_msg=name)


def test_progress_and_cancel_per_chunk(acquisition):
    seen = []
    with open_file(acquisition) as io:
        sums = projection_sums(io, range(T), progress=lambda d, t: seen.append((d, t)), chunk=20)
        assert seen == [(20, T), (40, T), (T, T)]
        assert sums[0].sum() == _movie(acquisition, range(T)).sum()
        seen.clear()
        with pytest.raises(SiffCancelled):
            projection_sums(io, range(T), progress=lambda d, t: seen.append((d, t)),
                            cancel=lambda: len(seen) >= 1, chunk=20)
    assert seen == [(20, T)]


def _write(path, frames_photons, shapes=None, encoding="raw"):
    """A one-plane file from (y, x) photon arrays per frame."""
    h, w = (shapes or [(H, W)])[0]
    spec = SimulationSpec(height=h, width=w, slices=1, flyback_planes=0, colors=1,
                          timepoints=len(frames_photons))
    with SiffWriter(path, build_nvfd(**_header_settings(spec)), build_roi_json(h, w)) as wr:
        for i, (y, x) in enumerate(frames_photons):
            shape = shapes[i] if shapes else (H, W)
            wr.add_frame(y, x, np.zeros(len(y), np.int64), shape, encoding,
                         make_description(i + 1, (i + 1) / 30.0, 1713382945000000000 + i))


def test_counts_beyond_16_bits_are_exact(tmp_path):
    """65,535 photons in one pixel (its square needs all 32 bits: the 32-bit sums are flushed
    each frame) and 70,000 in another (beyond 16 bits): sums from the written photons."""
    rng = np.random.default_rng(5)
    photons, counts = [], []
    for n_hot in (65_535, 65_535, 70_000, 3, 65_535):
        c = rng.poisson(1.0, (H, W))
        c[5, 7] = n_hot
        c[5, 8] = n_hot // 3
        c[6, 6] = 2
        y, x = np.nonzero(c)
        rep = c[y, x]
        order = rng.permutation(rep.sum())
        photons.append((np.repeat(y, rep)[order], np.repeat(x, rep)[order]))
        counts.append(c.astype(np.uint64))
    path = tmp_path / "hot.siff"
    _write(path, photons, shapes=[(H, W)] * len(photons))
    with open_file(path) as io:
        sums = io.projection_sums()
    _assert_sums_of(sums, np.stack(counts))
    assert sums[2, 5, 7] == 70_000  # not clamped at 65,535


def _assert_sums_of(sums: np.ndarray, movie: np.ndarray) -> None:
    """sums equal the seven planes of a (T, H, W) uint64 movie, computed with slices."""
    h, w = movie.shape[1:]
    expected = {"sum": movie.sum(0), "sum_sq": (movie ** 2).sum(0), "max": movie.max(0)}
    for name, (dy, dx) in NEIGHBOURS.items():
        prod = np.zeros((h, w), np.uint64)
        ys, xs = slice(0, h - dy), slice(max(0, -dx), w - max(0, dx))
        ys2, xs2 = slice(dy, h), slice(max(0, dx), w - max(0, -dx))
        prod[ys, xs] = (movie[:, ys, xs] * movie[:, ys2, xs2]).sum(0)
        expected[name] = prod
    for k, name in enumerate(PLANES):
        np.testing.assert_array_equal(sums[k], expected[name], err_msg=name)


@pytest.mark.parametrize("encoding", ["raw", "compressed"])
def test_frames_of_more_pixels_than_a_batch_holds(tmp_path, encoding):
    """1024 x 1024 frames with ~800,000 non-empty pixels each: more than one batch of the
    C pass holds (2^19 pixels), so each is added on its own; shifted by a shift table."""
    rng = np.random.default_rng(9)
    h = w = 1024
    counts = rng.poisson(1.6, (3, h, w)).astype(np.uint64)
    photons = []
    for c in counts:
        y, x = np.nonzero(c)
        rep = c[y, x].astype(np.int64)
        photons.append((np.repeat(y, rep), np.repeat(x, rep)))
    path = tmp_path / "big.siff"
    _write(path, photons, shapes=[(h, w)] * 3, encoding=encoding)
    shifts = np.array([[0, 0], [-3, 700], [1025, -1]])
    with open_file(path) as io:
        sums = io.projection_sums(registration=shifts)
    rolled = np.stack([np.roll(c, tuple(s), axis=(0, 1)) for c, s in zip(counts, shifts,
                                                                          strict=True)])
    _assert_sums_of(sums, rolled)


def test_errors_name_the_file(tmp_path, acquisition):
    path = tmp_path / "shapes.siff"
    one = (np.array([0, 1]), np.array([2, 3]))
    _write(path, [one, one, one], shapes=[(H, W), (H, W), (H, W + 8)])
    with open_file(path) as io:
        with pytest.raises(SiffShapeError, match="shapes.siff"):
            io.projection_sums([0, 2])
        assert io.projection_sums([0, 1])[0].sum() == 4
        with pytest.raises(SiffIndexError, match="shapes.siff"):
            io.projection_sums([0, 3])
        with pytest.raises(SiffArgumentError, match="shapes.siff"):
            io.projection_sums([0], out=np.zeros((7, H, W + 1), np.uint64))
    with open_file(acquisition) as io:
        assert io.projection_sums([]).shape == (7, H, W)
        assert not io.projection_sums([]).any()
