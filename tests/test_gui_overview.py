"""All ROIs at a glance (traces, heatmap, peri-event), the frame table and Compare header,
checked against libsiff's own reads, numpy and the ROI model."""

import csv
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PyQt6 import QtCore

from libsiff import SiffReader
from libsiff.writer import SiffWriter
from siffviewer.model.masks import polygon_mask
from siffviewer.model.traces import Baseline
from siffviewer.qt.main_window import MainWindow
from siffviewer.resources import sample_path

HEADERS = Path(__file__).parent / "data" / "headers"


@pytest.fixture
def window(qtbot, tmp_path):
    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    w = MainWindow(settings=settings, sync=True)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    sample = tmp_path / "sample.siff"
    shutil.copy(sample_path(), sample)
    assert w.open_path(sample)
    yield w
    w.close()


def add_rois(window, n=3):
    """``n`` ROIs on plane 1, each a different rectangle."""
    masks = window.masks
    shape = masks.shape[1:]
    rois = []
    for i in range(n):
        roi = masks.add_roi(f"cell {i}")
        x0, y0 = 8 + 30 * i, 10 + 20 * i
        masks.apply_region(roi.roi_id, 1, polygon_mask(shape, [(x0, y0), (x0 + 25, y0),
                                                               (x0 + 25, y0 + 30), (x0, y0 + 30)]))
        rois.append(roi)
    window.traces_panel.request()
    return rois


def library_photons(window):
    with SiffReader(window.session.path) as sr:
        return sr.sum_masks(window.masks.stack(), color_channel=1, registration_dict={})


def click(qtbot, plot, graphics, x, y):
    """Left-click the point (x, y) of ``plot``'s data coordinates."""
    scene_pos = plot.vb.mapViewToScene(QtCore.QPointF(x, y))
    widget_pos = graphics.mapFromScene(scene_pos)
    qtbot.mouseClick(graphics.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=widget_pos)


def test_all_visible_rois_drawn_in_overlay_colours(window):
    rois = add_rois(window, 3)
    window.masks.set_property(rois[1].roi_id, "visible", False)
    panel = window.overview_panel
    view = panel.all_traces
    view.stack.setChecked(False)
    photons = library_photons(window)
    assert len(view.curves) == 2
    for curve, r in zip(view.curves, (0, 2), strict=True):
        assert curve.opts["pen"].color().getRgb()[:3] == tuple(rois[r].color)
        np.testing.assert_array_equal(curve.yData, photons[r].astype(float))
        np.testing.assert_allclose(curve.xData, window.session.timepoint_times(0, 0))
    # stacked: each ROI min-max scaled into its own row, the first on top
    view.stack.setChecked(True)
    y = view.curves[0].yData
    scaled = (photons[0] - photons[0].min()) / (photons[0].max() - photons[0].min())
    np.testing.assert_allclose(y, 1 + 0.05 + 0.9 * scaled)
    assert [name for _, name in view.plot.getAxis("left")._tickLevels[0]] == ["cell 2", "cell 0"]


def test_heatmap_equals_the_traces_for_each_quantity(window):
    add_rois(window, 3)
    panel = window.overview_panel
    photons = library_photons(window)
    np.testing.assert_array_equal(panel.heatmap.image.image, photons.astype(float))
    assert panel.heatmap.colorbar.getAxis("left").labelText == "photons"
    panel.quantity.setCurrentText("lifetime")
    np.testing.assert_array_equal(panel.heatmap.image.image, window.traces_panel.traces.lifetime_ns)
    assert panel.heatmap.colorbar.getAxis("left").labelText == "lifetime (ns)"
    window.state.update(dff_settings=(20.0, 0.5))
    panel.quantity.setCurrentText("dF/F")
    t = window.session.timepoint_times(0, 0)
    f0 = Baseline(20.0, 0.5).compute(photons, t)
    np.testing.assert_allclose(panel.heatmap.image.image, (photons - f0) / f0, rtol=1e-12)
    ticks = [name for _, name in panel.heatmap.plot.getAxis("left")._tickLevels[0]]
    assert ticks == ["cell 0", "cell 1", "cell 2"]


def test_click_on_trace_heatmap_or_traces_panel_seeks(window, qtbot):
    add_rois(window, 2)
    panel = window.overview_panel
    t = window.session.timepoint_times(0, 0)
    window.analysis_tabs.setCurrentWidget(panel)
    panel.tabs.setCurrentWidget(panel.all_traces)
    qtbot.wait(20)
    click(qtbot, panel.all_traces.plot, panel.all_traces.graphics, float(t[23]) + 0.004, 1.0)
    assert window.state.timepoint == 23
    panel.tabs.setCurrentWidget(panel.heatmap)
    qtbot.wait(20)
    click(qtbot, panel.heatmap.plot, panel.heatmap.graphics, float(t[7]) - 0.004, 0.5)
    assert window.state.timepoint == 7
    window.analysis_tabs.setCurrentWidget(window.traces_panel)
    qtbot.wait(20)
    plot = window.traces_panel.intensity_plot
    y = float(np.mean(plot.vb.viewRange()[1]))
    click(qtbot, plot, window.traces_panel.graphics, float(t[31]), y)
    assert window.state.timepoint == 31


def test_peri_event_means_equal_numpy_and_export(window, tmp_path):
    add_rois(window, 2)
    pe = window.overview_panel.peri_event
    assert [pe.label.itemText(i) for i in range(pe.label.count())] == ["odor on", "odor off"]
    pe.label.setCurrentText("odor on")
    pe.before.setValue(0.2)
    pe.after.setValue(0.4)
    photons = library_photons(window).astype(float)
    t = window.session.timepoint_times(0, 0)
    frame_times = window.session.times()
    with SiffReader(window.session.path) as sr:
        events = sr.get_appended_text()
    on = [frame_times[e[0]] for e in events if e[1] == "odor on"]
    dt = np.median(np.diff(t))
    nb, na = round(0.2 / dt), round(0.4 / dt)
    idx = [int(np.argmin(np.abs(t - e))) for e in on]
    seg = np.stack([photons[:, i - nb:i + na + 1] for i in idx], axis=1)
    res = pe.result
    np.testing.assert_allclose(res.mean, seg.mean(axis=1), rtol=1e-12)
    assert len(pe.mean_curves) == 2
    np.testing.assert_allclose(pe.mean_curves[0].yData, seg.mean(axis=1)[0])
    for roi, curve in zip(window.masks.rois, pe.mean_curves, strict=True):  # the key
        r, g, b = curve.opts["pen"].color().getRgb()[:3]
        assert f"color:rgb({r},{g},{b})'>■</span>&nbsp;{roi.name}" in pe.status.text()
    out = pe.export_csv(tmp_path / "pe.csv")
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 2 * (nb + na + 1)
    np.testing.assert_allclose([float(r["mean (photons)"]) for r in rows if r["roi"] == "cell 1"],
                               seg.mean(axis=1)[1])


def test_frame_table_rows_equal_the_reader(window, qtbot):
    meta = window.metadata
    meta.setCurrentWidget(meta.frames)
    model = meta.frames.model
    with SiffReader(window.session.path) as sr:
        n = sr.siffio.num_frames()
        times = sr.siffio.get_experiment_timestamps()
        epochs = sr.siffio.get_epoch_timestamps_laser(list(range(n)))
        events = dict((e[0], e[1]) for e in sr.get_appended_text())
        grid = sr.frame_grid()
    while model.canFetchMore():
        model.fetchMore()
    assert model.rowCount() == n == 320
    for frame in range(n):
        row = model.row(frame)
        assert row[0] == frame and row[4] == times[frame] and row[5] == epochs[frame]
        assert row[6] == events.get(frame, "")
        where = np.argwhere(grid == frame)
        if len(where):
            assert (row[1], row[2], row[3]) == tuple(int(v) for v in where[0])
        else:
            assert row[2] == "flyback"
    assert model.data(model.index(80, 6)) == "odor on"
    meta.frames.show_frame(81)  # timepoint 10, plane 0, colour 1 (from the grid)
    s = window.state
    assert grid[s.timepoint, s.plane, s.color] == 81
    window.state.update(timepoint=39, plane=2, color=1)
    assert meta.frames.select_current() == grid[39, 2, 1]
    assert meta.frames.view.selectionModel().selectedRows()[0].row() == grid[39, 2, 1]


def test_compare_header_dialog(window, tmp_path):
    other = tmp_path / "other.siff"
    with SiffReader(window.session.path) as sr:
        header = sr.siffio.get_file_header()
    nvfd = re.sub(r"scanZoomFactor = .*", "scanZoomFactor = 9", header["Non-varying frame data"])
    nvfd += "SI.hExtra.note = 'hello'\n"
    with SiffWriter(other, nvfd, header["ROI string"]) as w:
        w.add_frame(np.array([0]), np.array([0]), np.array([3]), shape=(4, 4))
    old_zoom = window.session.im_params.RoiManager.scanZoomFactor
    dialog = window.compare_header(other)
    assert dialog.rows(0) == [("SI.hRoiManager.scanZoomFactor", str(old_zoom), "9")]
    assert dialog.rows(1) == [("SI.hExtra.note", "", "'hello'")]
    assert dialog.rows(2) == []
    assert dialog.apply_filter("zoom") == 1
    dialog.close()
    assert window.compare_header(tmp_path / "missing.siff") is None and window.errors


def test_peri_event_on_a_simulated_recording_with_repeated_events(qtbot, tmp_path):
    from libsiff.testing.simulate import SimulationSpec, simulate

    spec = SimulationSpec(height=24, width=32, slices=1, flyback_planes=0, colors=1,
                          timepoints=240, motion="none", photons_per_pixel=2.0, seed=5,
                          events=[(f, "stim") for f in (30, 90, 150, 225)] + [(60, "reward")])
    path = tmp_path / "events.siff"
    simulate(path, spec)
    settings = QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.Format.IniFormat)
    w = MainWindow(settings=settings, sync=True)
    qtbot.addWidget(w)
    w.show()
    assert w.open_path(path)
    roi = w.masks.add_roi("left")
    w.masks.apply_region(roi.roi_id, 0, polygon_mask((24, 32), [(0, 0), (15, 0), (15, 23), (0, 23)]))
    w.traces_panel.request()
    pe = w.overview_panel.peri_event
    pe.label.setCurrentText("stim")
    pe.before.setValue(0.5)
    pe.after.setValue(1.0)
    photons = library_photons(w).astype(float)[0]
    t = w.session.timepoint_times(0, 0)
    # 30 Hz: 15 samples before, 30 after; the window of the event at 225 runs past the end
    seg = np.stack([photons[f - 15:f + 31] for f in (30, 90, 150)])
    np.testing.assert_allclose(pe.result.mean[0], seg.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(pe.result.se[0], seg.std(axis=0, ddof=1) / np.sqrt(3), rtol=1e-12)
    np.testing.assert_allclose(pe.result.event_times_s, t[[30, 90, 150]])
    assert pe.result.left_out == 1 and "3 occurrence(s) averaged (1 left out" in pe.status.text()
    w.close()
