"""Review tools of the viewer (issue 16.1, 16.2, 16.4): registration QC, what the main view
draws on, the centred averaging window, scale bar and per-channel levels and LUT.

Truth: frames read by ``SiffReader.get_frames`` with and without the registration; the
simulator's known structures and the shifts this test spoils on purpose; numpy's
mean/max/std and a direct (whole-movie, np.roll based) computation of the local
correlation; the header's pixel size."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PyQt6 import QtCore

from libsiff import SiffReader
from libsiff.registration import RegistrationInfo, frame_quality, register_frames
from libsiff.simulate import SimulationSpec, simulate
from siffviewer.model.formats.images import pixel_size_um
from siffviewer.model.projections import plane_projections
from siffviewer.model.session_file import session_path_for
from siffviewer.qt.main_window import MainWindow

H, W = 40, 48
SPOILED = np.array([5, 23, 24, 50])


@pytest.fixture(scope="module")
def acquisition(tmp_path_factory):
    """A jittering simulated file and a registration of it with SPOILED timepoints moved
    far off (no stored quality: the viewer computes it)."""
    root = tmp_path_factory.mktemp("review")
    path = root / "sim.siff"
    truth = simulate(path, SimulationSpec(
        height=H, width=W, slices=2, flyback_planes=1, colors=2, timepoints=60,
        photons_per_pixel=3.0, background=0.02, motion="jitter", max_shift_px=3,
        keep_photons=False, seed=5))
    reader = SiffReader(path)
    grid = reader.frame_grid()
    info = register_frames(reader.siffio, grid, alignment_color=0)
    reader.close()
    for f in grid[SPOILED].ravel().tolist():
        if f >= 0:
            dy, dx = info.yx_shifts[f]
            info.yx_shifts[f] = ((dy + 9) % H, (dx - 11) % W)
    info.shifts = None  # the integer shifts now differ from the table; keep the table
    info.quality = None
    info.filename = str(path)
    sidecar = info.save()
    return path, sidecar, truth, grid


def open_window(qtbot, tmp_path, acquisition, registered=True):
    path, sidecar, truth, grid = acquisition
    copy = tmp_path / "sim.siff"
    shutil.copy(path, copy)
    if registered:
        shutil.copy(sidecar, tmp_path / sidecar.name)
    settings = QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.Format.IniFormat)
    w = MainWindow(settings=settings, sync=True)
    qtbot.addWidget(w)
    w.show()
    assert w.open_path(copy)
    return w


@pytest.fixture
def window(qtbot, tmp_path, acquisition):
    w = open_window(qtbot, tmp_path, acquisition)
    yield w
    w.close()


def read(path, frames, registered):
    with SiffReader(path) as sr:
        return sr.get_frames(list(frames), registration_dict=None if registered else {})


# ---------------------------------------------------------------- registration QC

def test_quality_trace_equals_frame_quality_and_flags_spoiled(window):
    panel = window.registration_panel
    info = window.session.registration
    with SiffReader(window.session.path) as sr:
        expected = frame_quality(sr.siffio, RegistrationInfo.load(
            window.session.path.with_name("sim.siffreg.npz")))
    np.testing.assert_allclose(panel.quality.quality, expected)
    x, y = panel.quality.curve.getData()
    np.testing.assert_allclose(y, expected[x.astype(int), 0])
    np.testing.assert_array_equal(panel.quality.flagged, SPOILED)
    # stored in the sidecar for next time
    assert RegistrationInfo.load(window.session.path.with_name("sim.siffreg.npz")).quality \
        is not None and info.quality is not None
    window.state.update(timepoint=10)
    assert panel.quality.seek_flagged(1) == 23 and window.state.timepoint == 23
    assert panel.quality.seek_flagged(1) == 24
    assert panel.quality.seek_flagged(-1) == 23
    assert panel.quality.seek_flagged(-1) == 5
    assert panel.quality.seek_flagged(-1) is None and window.state.timepoint == 5
    window.state.update(plane=1)
    np.testing.assert_array_equal(panel.quality.flagged, SPOILED)


def test_subpixel_and_applied_shifts_plotted(window):
    panel = window.registration_panel
    info = window.session.registration
    window.state.update(plane=1)
    _, dy = panel.dy_curve.getData()
    np.testing.assert_array_equal(dy, info.subpixel_shifts[:, 1, 0])
    assert not np.allclose(dy, np.round(dy))  # really sub-pixel


def test_mean_images_before_and_after(window):
    means = window.registration_panel.means
    means.start()
    before, after = means.means
    grid = window.session.grid
    for z in range(grid.shape[1]):
        frames = grid[:, z, 0]
        np.testing.assert_allclose(before[z], read(window.session.path, frames, False).mean(0))
        np.testing.assert_allclose(after[z], read(window.session.path, frames, True).mean(0))
    window.state.update(plane=1)
    np.testing.assert_allclose(means.items[1].image, after[1])


def test_split_view_raw_and_registered(window):
    split = window.registration_panel.split
    window.state.update(timepoint=24, plane=1, color=0)
    split.refresh()
    f = int(window.session.grid[24, 1, 0])
    raw, reg = split.images
    np.testing.assert_array_equal(raw, read(window.session.path, [f], False)[0])
    np.testing.assert_array_equal(reg, read(window.session.path, [f], True)[0])
    assert not np.array_equal(raw, reg)
    assert split.items[0].levels is not None
    np.testing.assert_array_equal(split.items[0].levels, split.items[1].levels)
    split.views[0].setRange(xRange=(3, 13), yRange=(4, 14), padding=0)
    left, right = np.array(split.views[0].viewRange()), np.array(split.views[1].viewRange())
    np.testing.assert_allclose(right[1], left[1])  # same rows; columns centred alike (the
    np.testing.assert_allclose(right[0].mean(), left[0].mean())  # aspect lock sets the width)


# ---------------------------------------------------------------- what to draw on

def direct_local_correlation(movie: np.ndarray) -> np.ndarray:
    """Mean Pearson correlation of each pixel with its 8 neighbours, from the whole movie."""
    x = movie.astype(np.float64)
    z = x - x.mean(0)
    sd = z.std(0)
    total = np.zeros(x.shape[1:])
    count = np.zeros(x.shape[1:])
    rows, cols = np.indices(x.shape[1:])
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == dx == 0:
                continue
            other = np.roll(z, (-dy, -dx), axis=(1, 2))
            other_sd = np.roll(sd, (-dy, -dx), axis=(0, 1))
            inside = ((rows + dy >= 0) & (rows + dy < x.shape[1])
                      & (cols + dx >= 0) & (cols + dx < x.shape[2]))
            denom = sd * other_sd
            r = np.zeros_like(total)
            ok = denom > 0
            r[ok] = (z * other).mean(0)[ok] / denom[ok]
            total += np.where(inside, r, 0)
            count += inside
    return total / count


@pytest.mark.parametrize("registered", [False, True])
def test_projections_equal_numpy(window, acquisition, registered):
    _, _, truth, grid = acquisition
    window.state.update(plane=1, color=0, registered=registered)
    frames = grid[:, 1, 0]
    movie = read(window.session.path, frames, registered)
    expected = {"mean": movie.mean(0), "max": movie.max(0), "std": movie.std(0),
                "correlation": direct_local_correlation(movie)}
    for source, image in expected.items():
        window.state.update(source=source)
        np.testing.assert_allclose(window.frame_view.image, image, rtol=1e-5, atol=1e-5,
                                   err_msg=source)
    # chunking does not change the result
    with SiffReader(window.session.path) as sr:
        small = plane_projections(sr.siffio, frames, None if not registered else
                                  window.session.shifts(True), chunk=7)
    np.testing.assert_allclose(small["correlation"], expected["correlation"], atol=1e-5)
    assert "Local correlation of plane 1" in window.frame_label.text()
    if not registered:  # the jitter moves whole structures: neighbours there co-vary
        corr = expected["correlation"]
        bright = truth.truth_images[1, 0] > np.percentile(truth.truth_images[1, 0], 85)
        dim = truth.truth_images[1, 0] < np.percentile(truth.truth_images[1, 0], 30)
        assert corr[bright].mean() > 0.1 > abs(corr[dim].mean())


def test_projection_progress_and_cancel(window):
    from libsiff import SiffCancelled

    frames = window.session.plane_frames(0, 1)
    seen = []
    with SiffReader(window.session.path) as sr, pytest.raises(SiffCancelled):
        plane_projections(sr.siffio, frames, None, progress=lambda d, t: seen.append((d, t)),
                          cancel=lambda: len(seen) >= 2, chunk=10)
    assert seen == [(10, 60), (20, 60)]  # stopped after two chunks
    bar = window.projection_source.progress
    window.state.update(plane=0, color=1, source="std")
    assert (bar.value(), bar.maximum()) == (60, 60) and not bar.isVisible()
    assert window.projections.get(0, 1, window.session.registration, "std") is not None


@pytest.mark.parametrize("t, avg, used, label", [
    (0, 5, [0, 1, 2], "mean of 3 timepoints (0–2), 5 asked: clipped at the start"),
    (30, 5, [28, 29, 30, 31, 32], "mean of 5 timepoints (28–32)"),
    (30, 4, [28, 29, 30, 31], "mean of 4 timepoints (28–31)"),
    (59, 4, [57, 58, 59], "mean of 3 timepoints (57–59), 4 asked: clipped at the end"),
    (31, 60, list(range(1, 60)), "mean of 59 timepoints (1–59), 60 asked: clipped at the end"),
])
def test_centred_average(window, t, avg, used, label):
    window.state.update(registered=False, plane=0, color=0, timepoint=t, average=avg)
    frames = window.session.grid[used, 0, 0]
    np.testing.assert_allclose(window.frame_view.image,
                               read(window.session.path, frames, False).mean(0), rtol=1e-6)
    assert label in window.frame_label.text()


# ---------------------------------------------------------------- scale and contrast

def test_scale_bar_and_micrometres(window):
    with SiffReader(window.session.path) as sr:
        dz, dy, dx = pixel_size_um(sr)
    view = window.frame_view
    assert view.scale_bar is not None
    assert view.scale_bar.size * dx == pytest.approx(view.scale_bar_um)
    assert view.scale_bar.text.toPlainText() == f"{view.scale_bar_um:g} µm"
    assert 0.1 * W * dx < view.scale_bar_um <= 0.2 * W * dx  # a round fifth of the width
    window.state.update(plane=1)
    window._on_hover(10, 20)
    assert f"({20 * dx:.1f}, {10 * dy:.1f}, {dz:.1f}) µm" in window.pixel_label.text()


def test_levels_and_lut_per_channel_saved_and_restored(qtbot, tmp_path, acquisition):
    w = open_window(qtbot, tmp_path, acquisition)
    w.state.update(color=0, levels=(1.0, 9.0), lut="magma")
    w.state.update(color=1)
    assert w.state.lut == "grey" and w.navigation.lut.currentText() == "grey"
    w.navigation.lut.setCurrentText("viridis")
    w.state.update(levels=(0.0, 4.0), source="mean")
    assert w.frame_view.lut_name == "viridis"
    w.state.update(color=0)
    assert w.state.levels == (1.0, 9.0) and w.state.lut == "magma"
    assert w.frame_view.lut_name == "magma" and w.frame_view.levels() == (1.0, 9.0)
    w.state.update(color=1)
    assert w.state.lut == "viridis"
    assert w.save_masks() == session_path_for(w.session.path)
    w.close()
    again = open_window(qtbot, tmp_path, acquisition)
    s = again.state
    assert (s.color, s.source, s.lut) == (1, "mean", "viridis")
    assert again.luts_by_channel[0] == "magma" and again.levels_by_channel[0] == (1.0, 9.0)
    again.state.update(color=0)
    assert again.state.lut == "magma" and again.state.levels == (1.0, 9.0)
    again.close()


def test_old_session_file_without_new_fields_opens(qtbot, tmp_path, acquisition):
    w = open_window(qtbot, tmp_path, acquisition)
    w.state.update(timepoint=7)
    target = w.save_masks()
    w.close()
    with np.load(target) as npz:
        arrays = dict(npz)
    doc = json.loads(str(arrays["document"]))
    for key in ("draw_on", "luts"):
        doc.pop(key)
    arrays["document"] = np.array(json.dumps(doc))
    with open(target, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    again = open_window(qtbot, tmp_path, acquisition)
    assert (again.state.timepoint, again.state.source, again.state.lut) == (7, "frame", "grey")
    again.close()


def test_new_registration_recomputes_the_projection(qtbot, tmp_path, acquisition):
    w = open_window(qtbot, tmp_path, acquisition, registered=False)
    w.state.update(plane=0, color=0, source="mean")
    raw = w.frame_view.image.copy()
    w.registration_panel.start()  # a real registration of the copy
    assert w.state.registered and w.session.registration is not None
    frames = w.session.grid[:, 0, 0]
    np.testing.assert_allclose(w.frame_view.image, read(w.session.path, frames, True).mean(0),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(raw, read(w.session.path, frames, False).mean(0), rtol=1e-5,
                               atol=1e-6)
    w.close()


def test_lifetime_colour_bar_has_an_ns_axis(window):
    panel = window.lifetime_panel
    window.state.update(lifetime_range=(1.0, 3.0))
    axis = panel.colorbar.getAxis("bottom")
    assert axis.labelText == "lifetime (ns)"
    np.testing.assert_allclose(panel.colorbar.viewRange()[0], (1.0, 3.0))
    rect = panel.colorbar_image.mapRectToParent(panel.colorbar_image.boundingRect())
    assert (rect.left(), rect.right()) == pytest.approx((1.0, 3.0))
