"""siffviewer part 2 with pytest-qt: drawing, undo across plane changes, files, traces
equal to the library's, exports that parse and match."""

import csv
import io
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from PyQt6 import QtCore, QtGui, QtWidgets

from libsiff import SiffReader
from siffviewer.model.masks import polygon_mask
from siffviewer.model.session_file import autosave_path_for, session_path_for
from siffviewer.resources import sample_path
from windows import make_window


@pytest.fixture
def acq(tmp_path):
    p = tmp_path / "sample.siff"
    shutil.copy(sample_path(), p)
    return p


@pytest.fixture
def window(qtbot, tmp_path, acq):
    return make_window(qtbot, tmp_path, acq)


def drag(window, points):
    """A real left-button drag through the view's viewport, in image (row, col) coordinates."""
    view, vp = window.frame_view.view, window.frame_view.graphics.viewport()

    def to_widget(row, col):
        scene = view.mapViewToScene(QtCore.QPointF(col, row))
        return window.frame_view.graphics.mapFromScene(scene).toPointF()

    left, none = QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.MouseButton.NoButton
    mods = QtCore.Qt.KeyboardModifier.NoModifier
    first = to_widget(*points[0])
    QtWidgets.QApplication.sendEvent(vp, QtGui.QMouseEvent(
        QtCore.QEvent.Type.MouseButtonPress, first, first, left, left, mods))
    for p in points[1:]:
        w = to_widget(*p)
        QtWidgets.QApplication.sendEvent(vp, QtGui.QMouseEvent(
            QtCore.QEvent.Type.MouseMove, w, w, none, left, mods))
    last = to_widget(*points[-1])
    QtWidgets.QApplication.sendEvent(vp, QtGui.QMouseEvent(
        QtCore.QEvent.Type.MouseButtonRelease, last, last, left, none, mods))


def test_brush_drag_with_the_mouse_paints_the_selected_roi(window):
    window.masks_panel.add_roi(all_planes=False)
    assert window.editor.tool == "brush"
    window.masks_panel.brush.setValue(2)
    roi = window.masks.rois[0]
    drag(window, [(40, 20 + k) for k in range(0, 40, 4)])
    painted = roi.mask[0]
    assert painted[40, 25:55].all() and painted.sum() > 60
    assert not roi.mask[1:].any()
    overlay = window.frame_view.overlay_item.image
    assert overlay is not None and (overlay[..., 3] > 0).sum() == painted.sum()


def test_undo_redo_across_plane_timepoint_and_tool_changes(window, qtbot):
    panel, masks = window.masks_panel, window.masks
    panel.add_roi(all_planes=False)
    roi = masks.rois[0]
    ed = window.editor
    ed.press(30, 30), ed.drag(30, 40), ed.release(30, 40)           # plane 0 stroke
    window.state.update(plane=2, timepoint=9)
    panel.set_tool("eraser")
    panel.set_tool("brush")
    ed.press(10, 10), ed.drag(12, 20), ed.release(12, 20)           # plane 2 stroke
    panel.set_tool("rectangle")
    ed.press(50, 60), ed.drag(70, 90), ed.release(70, 90)           # plane 2 rectangle
    state2 = roi.mask[2].copy()
    window.state.update(plane=1, timepoint=3)
    panel.set_tool("polygon")
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert roi.mask[2][50:70, 60:90].sum() == 0 and roi.mask[2].any()
    panel.undo.click()
    assert not roi.mask[2].any() and roi.mask[0].any()
    panel.redo.click()
    panel.redo.click()
    assert np.array_equal(roi.mask[2], state2)
    for _ in range(3):
        masks.undo()
    assert not roi.mask.any() or not masks.rois


def test_polygon_tool(window):
    window.masks_panel.add_roi(all_planes=False)
    window.masks_panel.set_tool("polygon")
    window.state.update(plane=1)
    pts = [(20, 10), (80, 15), (70, 60), (25, 50)]  # (x, y)
    for x, y in pts:
        window.editor.click(y, x)
    window.editor.click(pts[-1][1], pts[-1][0], double=True)
    roi = window.masks.rois[0]
    assert np.array_equal(roi.mask[1], polygon_mask(roi.mask.shape[1:], pts))
    assert window.editor.polygon == []


def test_traces_equal_library_and_csv_matches(window, tmp_path):
    masks = window.masks
    a = masks.add_roi("cell A")
    masks.apply_region(a.roi_id, 1, polygon_mask(a.mask.shape[1:], [(20, 20), (50, 20), (50, 45), (20, 45)]))
    b = masks.add_roi("all planes", all_planes=True)
    masks.apply_region(b.roi_id, 0, polygon_mask(a.mask.shape[1:], [(60, 50), (95, 55), (90, 85)]))
    window.state.update(color=1)
    tr = window.traces_panel.traces
    assert tr is not None and tr.mask_version == masks.version and tr.color == 1
    stack = masks.stack()
    with SiffReader(window.session.path) as sr:
        photons = sr.sum_masks(stack, color_channel=2, registration_dict={})
        life = sr.sum_masks_flim(stack, color_channel=2, registration_dict={})
    np.testing.assert_array_equal(tr.photons, photons)
    np.testing.assert_allclose(tr.lifetime_ns, np.asarray(life) * sr_bin_ns(window), rtol=1e-12)
    # tidy CSV, with dF/F
    window.traces_panel.use_dff.setChecked(True)
    out = tmp_path / "traces.csv"
    job = window.export_traces(out)
    assert not job.running and out.exists()
    text = out.read_text()
    assert "# source_file:" in text and "# baseline: dF/F" in text and "# registration:" in text
    rows = list(csv.reader(line for line in io.StringIO(text) if not line.startswith("#")))
    assert rows[0] == ["file", "roi", "planes", "timepoint", "frame", "time_s", "photons",
                       "lifetime_ns", "lifetime_se_ns", "phasor_g", "phasor_s", "phase_lifetime_ns",
                       "phase_lifetime_se_ns", "dff"]
    df = pd.read_csv(out, comment="#")
    assert len(df) == 2 * window.session.geometry.n_timepoints
    for r, name in enumerate(["cell A", "all planes"]):
        sub = df[df.roi == name].sort_values("timepoint")
        np.testing.assert_array_equal(sub.photons.to_numpy(), photons[r])
        np.testing.assert_allclose(sub.lifetime_ns.to_numpy(), tr.lifetime_ns[r], rtol=1e-15,
                                   equal_nan=True)
        f0 = window.traces_panel.baseline_curves()[r]
        np.testing.assert_allclose(sub.dff.to_numpy(), (photons[r] - f0) / f0, rtol=1e-12)
    assert df[df.roi == "cell A"].planes.iloc[0] == "1"
    assert df[df.roi == "all planes"].planes.iloc[0] == "0;1;2"
    np.testing.assert_allclose(df.time_s.to_numpy()[: tr.photons.shape[1]], tr.time_s)
    # wide variant
    wide = tmp_path / "wide.csv"
    window.export_traces(wide, wide=True)
    dw = pd.read_csv(wide, comment="#")
    np.testing.assert_array_equal(dw["cell A photons"].to_numpy(), photons[0])
    assert not list(tmp_path.glob("*.part"))


def sr_bin_ns(window):
    return window.session.reader.picoseconds_per_bin / 1000.0


def test_save_reload_autosave_and_corrupt(qtbot, tmp_path, acq):
    w = make_window(qtbot, tmp_path, acq)
    roi = w.masks.add_roi("kept")
    w.masks.apply_region(roi.roi_id, 0, polygon_mask(roi.mask.shape[1:], [(5, 5), (30, 5), (30, 30)]))
    saved = w.save_masks()
    assert saved == session_path_for(acq) and saved.exists()
    expected = w.masks.stack().copy()
    w2 = make_window(qtbot, tmp_path, acq)
    assert [r.name for r in w2.masks.rois] == ["kept"]
    np.testing.assert_array_equal(w2.masks.stack(), expected)
    # unsaved edits reach the autosave file; a "crashed" session recovers them
    w2.masks.dab(w2.masks.rois[0].roi_id, 2, 50, 50, 4)
    w2.autosave()
    assert autosave_path_for(acq).exists()
    w3 = make_window(qtbot, tmp_path, acq)
    assert w3.masks.rois[0].mask[2, 50, 50]
    assert w3.masks.dirty
    # a corrupt masks file: clear message, current ROIs untouched
    bad = tmp_path / "corrupt.npz"
    bad.write_bytes(b"\x00garbage")
    before = w3.masks.stack().copy()
    assert not w3.load_masks(bad)
    assert "corrupt.npz" in w3.errors[-1] and "not a .npz archive" in w3.errors[-1]
    np.testing.assert_array_equal(w3.masks.stack(), before)


def test_lifetime_fit_and_exports(window, tmp_path):
    masks = window.masks
    a = masks.add_roi("bright", all_planes=True)
    masks.apply_region(a.roi_id, 0, np.ones(a.mask.shape[1:], bool))
    window.masks_panel.select(a.roi_id)
    panel = window.lifetime_panel
    hist = panel.histogram
    assert hist is not None and hist.sum() == window.traces_panel.traces.photons[0].sum()
    before = window.traces_panel.traces.lifetime_ns.copy()
    panel.start_fit()
    fit = window.session.flim_params_for(0)
    assert fit is not None and panel.fit is fit
    ns = fit.copy()
    ns.convert_units("nanoseconds")
    assert 0.9 < ns.irf.tau_offset < 1.5  # the sample's IRF is at 1.2 ns
    after = window.traces_panel.traces.lifetime_ns
    np.testing.assert_allclose(before - after, ns.irf.tau_offset, rtol=1e-6)
    out = tmp_path / "fit.json"
    from siffviewer.model import export

    export.export_fit_json(out, fit, hist, str(window.session.path))
    data = json.loads(out.read_text())
    assert data["histogram"] == [int(v) for v in hist]
    files = export.export_mask_images(tmp_path / "png", masks.stack(), ["bright"])
    assert len(files) == masks.shape[0]
    image = QtGui.QImage(str(files[0]))
    assert image.width() == masks.shape[2] and QtGui.qGray(image.pixel(0, 0)) == 255
    phasors = panel.roi_phasors()
    assert np.isfinite(phasors).all() and 0 < phasors[0].real < 1 and phasors[0].imag > 0


def test_cursor_drag_moves_timepoint(window):
    window.masks.add_roi("a")
    line = window.traces_panel.cursors[0]
    t = window.session.timepoint_times(0, 0)
    line.setValue(float(t[17]) + 0.001)
    line.sigDragged.emit(line)
    assert window.state.timepoint == 17
    window.state.update(timepoint=5)
    assert line.value() == pytest.approx(float(t[5]))


def test_plain_tiff_session_has_intensity_traces_and_no_errors(qtbot, tmp_path):
    from libsiff.simulate import SimulationSpec, simulate

    path = tmp_path / "plain.tif"
    gt = simulate(path, SimulationSpec(height=40, width=50, slices=2, colors=1, timepoints=5,
                                       encoding="tiff", seed=3))
    w = make_window(qtbot, tmp_path, path)
    assert not w.session.has_flim
    roi = w.masks.add_roi("a")
    w.masks.dab(roi.roi_id, 0, 10, 10, 4)
    w.show_analysis("Lifetime")
    w.lifetime_panel.refresh()
    assert w.errors == []
    tr = w.traces_panel.traces
    frames = w.session.grid[:, 0, 0]
    expected = [gt.intensity[f][roi.mask[0]].sum() for f in frames]
    np.testing.assert_array_equal(tr.photons[0], expected)
    assert np.isnan(tr.lifetime_ns).all()
    assert not w.lifetime_panel.fit_button.isEnabled()


def test_read_only_folder_autosaves_to_user_data(qtbot, tmp_path, monkeypatch):
    """Acquisitions on read-only shares: edits are autosaved in the user's data folder and
    recovered from there; Save As elsewhere keeps the newer autosave in charge."""
    import os

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    folder = tmp_path / "share"
    folder.mkdir()
    acq = folder / "ro.siff"
    shutil.copy(sample_path(), acq)
    w = make_window(qtbot, tmp_path, acq)
    roi = w.masks.add_roi("edge")
    w.masks.dab(roi.roi_id, 1, 30, 30, 5)
    os.chmod(folder, 0o555)
    # CI runs as root, for whom every folder is writable: report this one as read-only
    from siffviewer.model import sidecar as sidecar_module

    real_access = os.access
    monkeypatch.setattr(sidecar_module.os, "access",
                        lambda p, mode: False if str(p) == str(folder) else real_access(p, mode))
    try:
        assert w.autosave()
        assert not autosave_path_for(acq).parent == folder
        w2 = make_window(qtbot, tmp_path, acq)
        assert [r.name for r in w2.masks.rois] == ["edge"] and w2.masks.rois[0].mask[1, 30, 30]
        elsewhere = tmp_path / "mine.npz"
        w2.masks.dab(w2.masks.rois[0].roi_id, 1, 60, 60, 3)
        w2.autosave()
        w2.save_masks(elsewhere)
        w3 = make_window(qtbot, tmp_path, acq)
        assert w3.masks.rois[0].mask[1, 60, 60]
    finally:
        os.chmod(folder, 0o755)


def test_brush_stroke_updates_the_overlay_in_place_and_traces_after_the_stroke(window):
    """Dabs repaint only their box (equal to a full redraw of the overlay); traces and
    lifetime results wait for the end of the stroke."""
    from siffviewer.qt.mask_tools import overlay_rgba

    masks, editor = window.masks, window.editor
    other = masks.add_roi("other")
    masks.apply_region(other.roi_id, 0, polygon_mask(masks.shape[1:], [(30, 30), (60, 30), (60, 60)]))
    roi = masks.add_roi("painted")
    window.masks_panel.select(roi.roi_id)
    editor.roi_id, editor.tool, editor.brush_radius = roi.roi_id, "brush", 4
    before = window.traces_panel.traces.mask_version
    shown = window.frame_view.overlay_item.image
    editor.press(40, 40)
    for k in range(12):
        editor.drag(40 + k, 40 + 2 * k)
    assert masks.version > before and window.traces_panel.traces.mask_version == before
    assert window.frame_view.overlay_item.image is shown  # updated in place, not replaced
    np.testing.assert_array_equal(shown, overlay_rgba(masks, 0, roi.roi_id))
    editor.release(52, 64)
    assert window.traces_panel.traces.mask_version == masks.version
    assert window.traces_panel.traces.photons[1].sum() > 0


def test_plot_svg_export_reads_back(window, tmp_path):
    """The plots' SVG export (pyqtgraph's own fails on Qt 6.11 paths) writes valid SVG."""
    import xml.etree.ElementTree as ET

    import pyqtgraph.exporters as pgex

    from siffviewer.qt.svg_export import QtSvgExporter

    names = [e.Name for e in pgex.Exporter.Exporters]
    assert names.count("Scalable Vector Graphics (SVG)") == 1 and QtSvgExporter in pgex.Exporter.Exporters
    roi = window.masks.add_roi("a", all_planes=True)
    window.masks.apply_region(roi.roi_id, 0, np.ones(window.masks.shape[1:], bool))
    out = tmp_path / "traces.svg"
    QtSvgExporter(window.traces_panel.intensity_plot).export(str(out))
    root = ET.parse(out).getroot()
    assert root.tag.endswith("svg") and len(list(root.iter())) > 10


def test_redo_shortcut_and_export_errors_are_shown(window, tmp_path, qtbot):
    roi = window.masks.add_roi("a")
    window.masks.dab(roi.roi_id, 0, 20, 20, 3)
    assert window.masks.undo()
    assert not roi.mask[0, 20, 20]
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier
                   | QtCore.Qt.KeyboardModifier.ShiftModifier)
    assert window.masks.get(roi.roi_id).mask[0, 20, 20]
    locked = tmp_path / "locked"
    locked.mkdir()
    blocker = locked / "file"
    blocker.write_text("not a folder")
    assert window.export_mask_images(blocker / "sub") == []
    assert "mask images" not in window.statusBar().currentMessage()
    assert "file" in window.errors[-1]
    written = window.export_mask_images(tmp_path / "png")
    assert written and f"{len(written)} mask images written" in window.statusBar().currentMessage()


def test_polygon_is_closed_into_the_roi_and_plane_it_was_drawn_in(window):
    masks, editor = window.masks, window.editor
    first, second = masks.add_roi("first"), masks.add_roi("second")
    editor.roi_id = first.roi_id
    window.masks_panel.set_tool("polygon")
    for x, y in ((10, 10), (40, 10), (40, 40)):
        editor.click(y, x)
    window.state.update(plane=2)
    editor.roi_id = second.roi_id
    window.masks_panel.set_tool("brush")  # the unfinished polygon is closed where it began
    assert masks.get(first.roi_id).mask[0].sum() > 300
    assert not masks.get(second.roi_id).mask.any() and not masks.get(first.roi_id).mask[2].any()


def test_averaging_near_the_end_says_how_many_timepoints(window):
    n = window.state.n_timepoints
    window.state.update(timepoint=n - 3, average=8)
    text = window.frame_label.text()  # centred: n-7 .. n-1 (n is past the end)
    assert f"mean of 7 timepoints ({n - 7}–{n - 1}), 8 asked: clipped at the end" in text
    window.state.update(timepoint=0)
    assert "mean of 4 timepoints (0–3), 8 asked: clipped at the start" in window.frame_label.text()
    window.state.update(timepoint=10)
    assert "mean of 8 timepoints (6–13)" in window.frame_label.text()
    assert "asked" not in window.frame_label.text()


def test_truncated_file_notice_full_open_errors_and_status_beside_the_readout(qtbot, tmp_path):
    data = sample_path().read_bytes()
    cut = tmp_path / "cut.siff"
    cut.write_bytes(data[: len(data) - 5000])  # ends inside the last frame
    w = make_window(qtbot, tmp_path, cut)
    assert any("ends inside frame" in n for n in w.notices)
    assert "ends inside frame" in w.last_warning_box.text()
    w._on_hover(10, 10)
    w.statusBar().showMessage("a temporary message")
    assert w.pixel_label.isVisible() and w.pixel_label.text()  # not hidden by the message
    bad = tmp_path / "bad.siff"
    bad.write_bytes(b"II*\x00" + b"\x00" * 10)
    assert not w.open_path(bad)
    message = " ".join(line.strip() for line in w.errors[-1].splitlines() if line.strip())
    assert w.statusBar().currentMessage() == message and len(w.errors[-1].splitlines()) > 1


def test_arrow_keys_step_time_after_a_fit(window, qtbot):
    masks = window.masks
    a = masks.add_roi("bright", all_planes=True)
    masks.apply_region(a.roi_id, 0, np.ones(a.mask.shape[1:], bool))
    window.masks_panel.select(a.roi_id)
    window.show_analysis("Lifetime")
    window.activateWindow()
    window.lifetime_panel.hi.setFocus()
    window.lifetime_panel.start_fit()
    focused = QtWidgets.QApplication.focusWidget()
    assert focused is not window.lifetime_panel.hi and focused is not window.lifetime_panel.lo
