"""The tidy window (issue 16.6) and growing files (issue 17.4), driven with pytest-qt:
default and remembered dock layout, plots whose labels and legends stay off the data, the
keyboard-shortcut list (app and README), recent-file labels, and following a file that
is still being written."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from PyQt6 import QtCore, QtWidgets

import libsiff
from libsiff import SiffReader
from libsiff.testing import SimulationSpec, simulate
from siffviewer.qt import shortcuts
from siffviewer.qt.main_window import MainWindow, recent_labels
from siffviewer.resources import sample_path

README = Path(__file__).resolve().parents[1] / "README.md"


def settings_at(path) -> QtCore.QSettings:
    return QtCore.QSettings(str(path), QtCore.QSettings.Format.IniFormat)


def make_window(qtbot, tmp_path, size=(1280, 800), remember=False, name="settings.ini"):
    w = MainWindow(settings=settings_at(tmp_path / name), sync=True)
    w.keep_session_files = False
    w.remember_layout = remember
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    return w


@pytest.fixture
def sample(tmp_path):
    p = tmp_path / "sample.siff"
    shutil.copy(sample_path(), p)
    return p


def close(window):
    window.close()
    QtWidgets.QApplication.processEvents()


# ---------------------------------------------------------------- growing files

def _frame_data_end(full: Path, frame: int) -> int:
    """Byte offset halfway through ``frame``'s data (a frame ScanImage is still writing)."""
    with libsiff.open_file(full) as io:
        info = io._native.frame_infos(frame, 1)[0]
    return int(info["strip_offset"] + info["strip_byte_count"] // 2)


def _truth_frame(truth, t, plane, color) -> int:
    """The file frame of (timepoint, plane, colour) by the simulator's own frame table."""
    hit = np.flatnonzero((truth.timepoint == t) & (truth.plane == plane) & (truth.color == color)
                         & (truth.repeat == 0))
    assert len(hit) == 1
    return int(hit[0])


def test_follows_a_file_still_being_written(qtbot, tmp_path):
    """ScanImage writes while acquiring: the app polls the size, re-reads the index, grows
    the timepoint range, and (following) shows the newest complete timepoint; a
    half-written frame never becomes a timepoint."""
    spec = SimulationSpec(height=24, width=20, slices=2, flyback_planes=1, colors=2,
                          timepoints=9, motion="none", events=(), seed=3)
    full = tmp_path / "full.siff"
    truth = simulate(full, spec)
    data = full.read_bytes()
    fpv = spec.frames_per_volume
    growing = tmp_path / "growing.siff"
    growing.write_bytes(data[:_frame_data_end(full, 5 * fpv)])  # inside timepoint 5's first frame

    w = make_window(qtbot, tmp_path)
    assert w.open_path(growing, remember=False)
    assert w.follow_timer.isActive()
    assert w.state.n_timepoints == 5
    w.state.update(plane=1, color=1)
    w.follow_action.setChecked(True)
    assert w.state.timepoint == 4

    # a few more bytes of the same frame: the size changed, no timepoint is complete yet
    cut = _frame_data_end(full, 5 * fpv)
    with open(growing, "ab") as fh:
        fh.write(data[cut:cut + 5])
    w.check_growth()
    assert w.state.n_timepoints == 5

    # timepoints 5 and 6 complete, timepoint 7 half written (its last frame cut in the middle)
    cut2 = _frame_data_end(full, 8 * fpv - 1)
    with open(growing, "ab") as fh:
        fh.write(data[cut + 5:cut2])
    w.check_growth()
    assert w.state.n_timepoints == 7
    assert w.navigation.time.slider.maximum() == 6 and w.navigation.time.spin.maximum() == 6
    assert w.state.timepoint == 6
    frame = _truth_frame(truth, 6, 1, 1)
    np.testing.assert_array_equal(w.frame_view.image_item.image, truth.intensity[frame])
    with SiffReader(full) as reader:
        np.testing.assert_array_equal(w.frame_view.image_item.image,
                                      reader.get_frames([frame], registration_dict={})[0])

    with open(growing, "ab") as fh:  # the acquisition ends; the poll timer notices
        fh.write(data[cut2:])
    assert w.follow_timer.interval() == 2000
    w.follow_timer.setInterval(20)
    qtbot.waitUntil(lambda: w.state.n_timepoints == spec.timepoints, timeout=5000)
    assert w.state.n_timepoints == spec.timepoints
    assert w.state.timepoint == spec.timepoints - 1
    frame = _truth_frame(truth, spec.timepoints - 1, 1, 1)
    np.testing.assert_array_equal(w.frame_view.image_item.image, truth.intensity[frame])
    # times of the new frames come from the file (the status bar and traces use them)
    np.testing.assert_allclose(w.session.times(), truth.experiment_timestamps)
    assert w.metadata.summary_labels["Timepoints"].text() == str(spec.timepoints)

    # not following: the range grows, the view stays where the user is
    w.follow_action.setChecked(False)
    w.state.update(timepoint=2)
    assert w.session.refresh() == 0  # nothing new
    close(w)


def test_growth_is_read_off_the_gui_thread(qtbot, tmp_path):
    """Without sync the index is re-read by a worker thread; the window updates when it
    reports, and follows to the newest timepoint."""
    import threading

    from siffviewer.model.session import Session

    spec = SimulationSpec(height=16, width=16, slices=1, flyback_planes=0, colors=1,
                          timepoints=6, motion="none", events=(), seed=5)
    full = tmp_path / "full.siff"
    truth = simulate(full, spec)
    data = full.read_bytes()
    growing = tmp_path / "g.siff"
    growing.write_bytes(data[:_frame_data_end(full, 2)])
    threads = []
    real_refresh = Session.refresh

    def refresh(session):
        threads.append(threading.current_thread())
        return real_refresh(session)

    w = MainWindow(settings=settings_at(tmp_path / "s.ini"), sync=False)
    w.keep_session_files = False
    qtbot.addWidget(w)
    w.show()
    assert w.open_path(growing, remember=False)
    w.session.refresh = lambda: refresh(w.session)
    w.follow_action.setChecked(True)
    with open(growing, "ab") as fh:
        fh.write(data[_frame_data_end(full, 2):])
    w.check_growth()
    qtbot.waitUntil(lambda: w.state.n_timepoints == 6 and w.state.timepoint == 5, timeout=10000)
    assert threads and all(t is not threading.main_thread() for t in threads)
    qtbot.waitUntil(lambda: w.frame_view.image_item.image is not None and np.array_equal(
        w.frame_view.image_item.image, truth.intensity[_truth_frame(truth, 5, 0, 0)]),
        timeout=10000)
    close(w)


def test_growth_without_following_keeps_the_position(qtbot, tmp_path):
    spec = SimulationSpec(height=16, width=16, slices=1, flyback_planes=0, colors=1,
                          timepoints=6, motion="none", events=(), seed=4)
    full = tmp_path / "full.siff"
    simulate(full, spec)
    data = full.read_bytes()
    growing = tmp_path / "g.siff"
    growing.write_bytes(data[:_frame_data_end(full, 3)])
    w = make_window(qtbot, tmp_path)
    assert w.open_path(growing, remember=False)
    w.state.update(timepoint=1)
    with open(growing, "ab") as fh:
        fh.write(data[_frame_data_end(full, 3):])
    w.check_growth()
    assert (w.state.n_timepoints, w.state.timepoint) == (6, 1)
    close(w)


# ---------------------------------------------------------------- recent files

def test_recent_files_disambiguate_equal_names(qtbot, tmp_path, sample):
    day1, day2 = tmp_path / "data" / "day1", tmp_path / "data" / "day2"
    for d in (day1, day2):
        d.mkdir(parents=True)
        shutil.copy(sample, d / "sample.siff")
    assert recent_labels([str(day1 / "sample.siff"), str(day2 / "sample.siff"), "/x/other.siff"]) \
        == ["sample.siff — day1", "sample.siff — day2", "other.siff"]
    # equal folder names further up: as many folders as it takes
    assert recent_labels(["/a/run/s.siff", "/b/run/s.siff"]) == ["s.siff — a/run", "s.siff — b/run"]
    w = make_window(qtbot, tmp_path)
    assert w.open_path(day1 / "sample.siff") and w.open_path(day2 / "sample.siff")
    actions = w.recent_menu.actions()
    assert [a.text() for a in actions] == ["sample.siff — day2", "sample.siff — day1"]
    assert [a.toolTip() for a in actions] == [str((day2 / "sample.siff").resolve()),
                                              str((day1 / "sample.siff").resolve())]
    assert w.recent_menu.toolTipsVisible()
    close(w)


# ---------------------------------------------------------------- keyboard shortcuts

def test_shortcut_list_is_every_binding_and_matches_the_readme(qtbot, tmp_path, sample):
    w = make_window(qtbot, tmp_path)
    assert w.open_path(sample, remember=False)
    items = shortcuts.bindings(w)
    listed = {b.keys for b in items}
    # every key sequence of every QAction and QShortcut of the window, found independently
    from PyQt6 import QtGui

    portable = QtGui.QKeySequence.SequenceFormat.PortableText
    actual = {seq.toString(portable) for a in w.findChildren(QtGui.QAction) for seq in a.shortcuts()}
    actual |= {sc.key().toString(portable) for sc in w.findChildren(QtGui.QShortcut)}
    actual.discard("")
    assert listed == actual
    assert len(items) == len({(b.keys, b.where) for b in items})  # no key bound twice in one place
    assert all(b.action and b.action != "(no description)" for b in items)
    assert {"Ctrl+O", "Right", "Space", "F1", "Ctrl+F"} <= listed
    dialog = w.show_shortcuts()
    assert dialog.table.rowCount() == len(items)
    assert [dialog.table.item(r, 1).text() for r in range(len(items))] == [b.action for b in items]
    dialog.close()
    # the README lists the same bindings (regenerate: python -m siffviewer.qt.shortcuts README.md)
    assert shortcuts.readme_table(README.read_text(encoding="utf-8")) == shortcuts.markdown_table(items)
    close(w)


# ---------------------------------------------------------------- layout

def _area(widget) -> int:
    return widget.width() * widget.height() if widget.isVisible() else 0


SIDE = ("Metadata", "Registration", "Planes", "Masks")


def _share(w) -> float:
    return _area(w.frame_view) / (w.width() * w.height())


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
def test_image_gets_most_of_the_window(qtbot, tmp_path, sample, size):
    """By default the image view gets at least half of the window (before: 30 % of a
    1280 x 800 window, 43 % of 1920 x 1080); the side docks take no more than they need,
    and the traces dock opens only where it fits beside that."""
    w = make_window(qtbot, tmp_path, size=size)
    assert w.open_path(sample, remember=False)
    QtWidgets.QApplication.processEvents()
    assert (w.width(), w.height()) == size  # no panel forced the window to grow
    assert _share(w) >= 0.5, _share(w)
    need = max(w.docks[n].minimumSizeHint().width() for n in SIDE)
    for name in SIDE:
        assert _area(w.frame_view) > _area(w.docks[name]), name
        assert w.docks[name].width() <= max(0.25 * size[0], need + 2)
        # the right column runs the full height: every side panel fits without squeezing
        assert w.docks[name].height() >= w.docks[name].minimumSizeHint().height(), name
    analysis = w.docks["Analysis"]
    assert analysis.isVisible() == (size == (1920, 1080))  # no room for it at 1280 x 800
    if analysis.isVisible():
        assert analysis.height() >= analysis.minimumSizeHint().height()
        assert analysis.width() == w.frame_view.width()  # under the image, not the side docks
        tp = w.traces_panel.graphics
        assert tp.height() >= tp.minimumHeight()  # the traces are not cut
    close(w)


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
def test_side_panels_fit_their_column_without_scrolling_sideways(qtbot, tmp_path, sample, size):
    """Every side panel, the Registration one with its results shown, fits the default
    column's width: none of its scroll areas needs a horizontal scroll bar."""
    from siffviewer.qt.registration_panel import RegistrationPanel

    w = make_window(qtbot, tmp_path, size=size)
    assert w.open_path(sample, remember=False)
    panel = w.findChild(RegistrationPanel)
    panel.start()  # synchronous here
    panel.quality.start()
    for name in SIDE:
        w.docks[name].raise_()
        for _ in range(3):
            QtWidgets.QApplication.processEvents()
        for area in w.docks[name].findChildren(QtWidgets.QScrollArea):
            if area.isVisible():
                assert not area.horizontalScrollBar().isVisible(), (name, size)
    bar = panel.tabs.tabBar()  # every Registration tab in view, none behind scroll arrows
    assert all(bar.tabRect(i).right() <= bar.width() for i in range(bar.count()))
    close(w)


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
def test_analysis_plots_fit_beside_each_other_under_the_image(qtbot, tmp_path, sample, size):
    """Every analysis tab's plots fit the dock's width with an ROI and the fraction fit on:
    none is cut at the right edge (titles set a plot's minimum width)."""
    import pyqtgraph as pg

    from siffviewer.model.flim_settings import FractionFitSettings
    from siffviewer.model.masks import PALETTE

    w = make_window(qtbot, tmp_path, size=size)
    assert w.open_path(sample, remember=False)
    g = w.session.geometry
    mask = np.zeros((g.n_planes, g.height, g.width), bool)
    mask[:, 20:60, 30:90] = True
    w.masks.set_records([("cell", PALETTE[0], mask, False, True)])
    w.flim.set_fraction(FractionFitSettings(True, 2, 1, 4))
    tabs = w.analysis_tabs
    for i in range(tabs.count()):
        w.show_analysis(tabs.tabText(i))
        for _ in range(3):
            QtWidgets.QApplication.processEvents()
        for view in tabs.widget(i).findChildren(pg.GraphicsLayoutWidget):
            if view.isVisible():
                assert view.ci.geometry().width() <= view.width() + 1, (tabs.tabText(i), size)
    close(w)


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
def test_roi_phasor_points_are_in_view(qtbot, tmp_path, sample, size):
    """The Lifetime tab's ROI phasors are inside the plot's view whatever the pane's shape
    (a fixed s range with the aspect locked cut them off in a wide pane)."""
    from siffviewer.model.masks import PALETTE

    w = make_window(qtbot, tmp_path, size=size)
    assert w.open_path(sample, remember=False)
    g = w.session.geometry
    masks = np.zeros((2, g.n_planes, g.height, g.width), bool)
    masks[0, :, 20:60, 30:90] = True
    masks[1, :, 70:110, 10:60] = True
    w.masks.set_records([(n, PALETTE[i], m, False, True)
                         for i, (n, m) in enumerate(zip(("a", "b"), masks, strict=True))])
    w.show_analysis("Lifetime")
    plot = w.lifetime_panel.phasor_plot
    plot.parentWidget().parentWidget().setSizes([100, 100, 10_000])  # a wide phasor pane
    for _ in range(3):
        QtWidgets.QApplication.processEvents()
    assert plot.width() > 2 * plot.height()
    points = w.lifetime_panel.phasor_points
    x, y = points.data["x"], points.data["y"]
    assert len(x) == 2
    (x0, x1), (y0, y1) = plot.getViewBox().viewRange()
    assert np.all((x0 <= x) & (x <= x1) & (y0 <= y) & (y <= y1)), (x, y, (x0, x1), (y0, y1))
    for roi in w.masks.rois:  # a key names the dots
        r, g_, b_ = roi.color
        assert (f"color:rgb({r},{g_},{b_})'>■</span>&nbsp;{roi.name}"
                in w.lifetime_panel.phasor_key.text())
    close(w)


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
def test_settings_values_keep_room_in_the_side_column(qtbot, tmp_path, sample, size):
    """The settings tree's names take at most half of its width (sized to their contents
    they left the values ~45 px and a sideways scroll bar)."""
    from siffviewer.qt.metadata import SettingsTree

    w = make_window(qtbot, tmp_path, size=size)
    assert w.open_path(sample, remember=False)
    w.docks["Metadata"].raise_()
    tree = w.findChild(SettingsTree)
    tree.parentWidget().parentWidget().setCurrentWidget(tree)
    tree.tree.expandAll()
    for _ in range(3):
        QtWidgets.QApplication.processEvents()
    view = tree.tree
    assert view.isVisible() and not view.horizontalScrollBar().isVisible()
    assert view.columnWidth(1) >= 0.45 * view.viewport().width()
    close(w)


def test_closed_traces_dock_opens_at_a_usable_size(qtbot, tmp_path, sample):
    """Where the traces dock starts closed, one call (View menu, or a panel asking for a
    tab) opens it under the image at about a quarter of the window, not at its panels'
    preferred height; the image keeps the rest and the window keeps its size."""
    w = make_window(qtbot, tmp_path, size=(1280, 800))
    assert w.open_path(sample, remember=False)
    QtWidgets.QApplication.processEvents()
    analysis = w.docks["Analysis"]
    assert not analysis.isVisible()
    assert analysis.toggleViewAction() in w.menuBar().actions()[2].menu().actions()  # View
    assert analysis.toggleViewAction().shortcut().toString() == "Ctrl+T"
    w.masks.add_roi()  # the first ROI: the status bar says where its trace is
    assert "Ctrl+T" in w.statusBar().currentMessage()
    w.show_analysis("Traces")
    QtWidgets.QApplication.processEvents()
    assert analysis.isVisible() and w.analysis_tabs.currentWidget() is w.traces_panel
    assert (w.width(), w.height()) == (1280, 800)
    assert analysis.minimumSizeHint().height() <= analysis.height() <= 0.35 * w.height()
    assert w.traces_panel.graphics.height() >= w.traces_panel.graphics.minimumHeight()
    assert analysis.width() == w.frame_view.width()
    assert _share(w) >= 0.35  # opened on request: the image keeps over a third
    for name in SIDE:  # the side column still runs the full height
        assert w.docks[name].height() >= w.docks[name].minimumSizeHint().height(), name
    close(w)


def test_planes_reflow_to_the_shape_of_their_pane(qtbot, tmp_path, sample):
    """In the tall, narrow side column the planes stack in one column (they were a row of
    thumbnails a third of the column wide); in a wide pane they stand side by side."""
    w = make_window(qtbot, tmp_path)
    assert w.open_path(sample, remember=False)
    w.docks["Planes"].raise_()
    QtWidgets.QApplication.processEvents()
    panel, n = w.planes_panel, w.session.geometry.n_planes
    assert n == 3 and panel.columns == 1
    assert panel.best_columns(900, 200) == n and panel.best_columns(300, 700) == 1
    for view in panel.views:  # each plane gets (nearly) the column's whole width
        assert view.sceneBoundingRect().width() >= 0.8 * panel.graphics.width()
    # the same for the raw | registered pair: one above the other in the side column
    rp = w.registration_panel
    w.docks["Registration"].raise_()
    rp.tabs.setCurrentWidget(rp.split)
    QtWidgets.QApplication.processEvents()
    raw, registered = (v.sceneBoundingRect() for v in rp.split.views)
    assert registered.top() >= raw.bottom() and raw.width() >= 0.8 * rp.split.graphics.width()
    close(w)


def test_colour_bar_names_the_pixel_values(qtbot, tmp_path, sample):
    """The image's colour bar says what its numbers are, and the label fits its axis."""
    from siffviewer.qt.plot_style import label_length

    w = make_window(qtbot, tmp_path)
    assert w.open_path(sample, remember=False)
    QtWidgets.QApplication.processEvents()
    axis = w.frame_view.histogram.axis
    assert w.frame_view.value_label() == "photons"
    assert 0 < label_length(axis) <= axis.geometry().height()
    w.state.update(average=4)
    assert w.frame_view.value_label() == "mean photons"
    w.state.update(average=1, source="correlation")
    assert w.frame_view.value_label() == "local correlation"
    close(w)


def test_a_layout_saved_by_an_older_version_is_not_restored(qtbot, tmp_path, sample):
    """The layout of the old default (the image starved by docks) is not restored blindly:
    layouts are saved under a versioned key, and an old one leaves the new default."""
    from siffviewer.qt import dock_layout

    w = make_window(qtbot, tmp_path, size=(1280, 800))
    assert w.open_path(sample, remember=False)
    w.show_analysis("Traces")
    w.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, w.docks["Masks"])
    w.resizeDocks([w.docks["Analysis"]], [450], QtCore.Qt.Orientation.Vertical)
    QtWidgets.QApplication.processEvents()
    assert _share(w) < 0.35
    w.settings.setValue("layout/state", w.saveState(1))  # where version 1 kept it
    close(w)
    assert dock_layout.STATE_KEY != "layout/state"

    w2 = make_window(qtbot, tmp_path, size=(1280, 800), remember=True)
    assert w2.open_path(sample, remember=False)
    QtWidgets.QApplication.processEvents()
    assert not w2.restore_layout()
    assert w2.dockWidgetArea(w2.docks["Masks"]) == QtCore.Qt.DockWidgetArea.RightDockWidgetArea
    assert not w2.docks["Analysis"].isVisible() and _share(w2) >= 0.5
    close(w2)
    assert w2.settings.contains(dock_layout.STATE_KEY)  # the user's layout from now on


def test_layout_is_remembered_and_reset(qtbot, tmp_path, sample):
    from siffviewer.qt import dock_layout

    w = make_window(qtbot, tmp_path, size=(1920, 1080), remember=True)
    assert w.open_path(sample, remember=False)
    default_width = w.docks["Metadata"].width()
    w.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, w.docks["Masks"])
    w.resizeDocks([w.docks["Metadata"]], [default_width + 150], QtCore.Qt.Orientation.Horizontal)
    QtWidgets.QApplication.processEvents()
    moved_width = w.docks["Metadata"].width()
    assert moved_width > default_width + 100
    assert w.docks["Analysis"].isVisible()
    w.docks["Analysis"].close()  # the user's choice wins over the default next time
    close(w)

    w2 = make_window(qtbot, tmp_path, size=(1920, 1080), remember=True)
    assert w2.open_path(sample, remember=False)
    QtWidgets.QApplication.processEvents()
    assert w2.dockWidgetArea(w2.docks["Masks"]) == QtCore.Qt.DockWidgetArea.LeftDockWidgetArea
    assert abs(w2.docks["Metadata"].width() - moved_width) <= 2
    assert not w2.docks["Analysis"].isVisible()
    w2.reset_layout()
    QtWidgets.QApplication.processEvents()
    assert w2.dockWidgetArea(w2.docks["Masks"]) == QtCore.Qt.DockWidgetArea.RightDockWidgetArea
    assert abs(w2.docks["Metadata"].width() - default_width) <= 2
    assert w2.docks["Analysis"].isVisible() and _share(w2) >= 0.5
    assert not w2.settings.contains(dock_layout.STATE_KEY)
    close(w2)

    # tests and screenshot runs (remember_layout False) neither read nor write the layout
    w3 = make_window(qtbot, tmp_path, remember=False, name="other.ini")
    close(w3)
    assert not settings_at(tmp_path / "other.ini").allKeys()


# ---------------------------------------------------------------- plots

def _plots(w):
    tp, lp, rp = w.traces_panel, w.lifetime_panel, w.registration_panel
    return {"photons": tp.intensity_plot, "dF/F": tp.dff_plot, "lifetime": tp.lifetime_plot,
            "histogram": lp.hist_plot, "residual": lp.resid_plot,
            "phasor": lp.phasor_plot.getPlotItem(), "shifts": rp.plot.getPlotItem()}


def _check_plot_layout(w):
    from siffviewer.qt.plot_style import label_length

    for name, plot in _plots(w).items():
        if not plot.isVisible():
            continue
        axis = plot.getAxis("left")
        # a vertical label never runs past its own axis into the next plot
        assert label_length(axis) <= axis.geometry().height() + 1, name
        legend = plot.legend
        if legend is not None and legend.items:
            data = plot.vb.sceneBoundingRect().adjusted(1, 1, -1, -1)
            assert not legend.sceneBoundingRect().intersects(data), name


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
def test_labels_and_legends_stay_off_the_data(qtbot, tmp_path, sample, size):
    w = make_window(qtbot, tmp_path, size=size)
    assert w.open_path(sample, remember=False)
    w.registration_panel.start()
    assert w.registration_panel.progress.isHidden()  # finished: the bar goes away
    for r, c in ((40, 30), (20, 80)):
        roi = w.masks.add_roi()
        w.masks.dab(roi.roi_id, 0, r, c, 5)
    w.traces_panel.set_selected([])
    w.traces_panel.use_dff.setChecked(True)
    w.show_analysis("Traces")
    QtWidgets.QApplication.processEvents()
    tp = w.traces_panel
    assert [label.text for _, label in tp.intensity_plot.legend.items] == ["ROI 1", "ROI 2"]
    assert tp.lifetime_plot.getAxis("left").labelString().endswith("lifetime (ns)</span>")
    w.docks["Registration"].raise_()
    QtWidgets.QApplication.processEvents()
    _check_plot_layout(w)
    w.show_analysis("Lifetime")
    w.lifetime_panel.set_roi(w.masks.rois[0].roi_id)
    QtWidgets.QApplication.processEvents()
    _check_plot_layout(w)

    # the log axis is labelled at powers of ten, at least a line of text apart
    from PyQt6 import QtGui

    axis = w.lifetime_panel.hist_plot.getAxis("left")
    lo, hi = w.lifetime_panel.hist_plot.vb.viewRange()[1]
    levels = axis.tickValues(lo, hi, axis.geometry().height())
    labelled = sorted(levels[0][1])
    assert len(labelled) >= 2 and all(abs(v - round(v)) < 1e-9 for v in labelled)
    text_height = QtGui.QFontMetrics(axis.style["tickFont"] or QtGui.QFont()).height()
    assert (np.diff(labelled) * axis.geometry().height() / (hi - lo) >= text_height).all()
    assert [float(t) for t in axis.tickStrings(labelled, 1.0, 1.0)] == [10.0 ** v for v in labelled]
    assert all(t == "" for t in axis.tickStrings(levels[1][1], 1.0, None))  # minor: unlabelled
    close(w)


def test_empty_plots_say_what_to_do_with_units_and_ranges(qtbot, tmp_path, sample):
    from siffviewer.qt.plot_style import is_empty

    w = make_window(qtbot, tmp_path)
    assert w.open_path(sample, remember=False)
    QtWidgets.QApplication.processEvents()
    # registration: no run yet -> message, timepoint axis over the recording, no SI prefix
    shifts = w.registration_panel.plot.getPlotItem()
    assert is_empty(shifts) and w.registration_panel.progress.isHidden()
    assert "x0.001" not in shifts.getAxis("bottom").labelString()
    x0, x1 = shifts.vb.viewRange()[0]
    n = w.session.geometry.n_timepoints
    assert x0 <= 0 < n - 1 <= x1 and x1 - x0 < 1.1 * n
    assert not shifts.getAxis("left").style["showValues"]  # no made-up 0-1 scale
    # its quality plot alike, over the same timepoints
    quality = w.registration_panel.quality.plot.getPlotItem()
    assert is_empty(quality) and not quality.getAxis("left").style["showValues"]
    assert not w.registration_panel.quality.controls.start_button.isEnabled()
    w.registration_panel.start()  # synchronous here
    w.registration_panel.quality.start()
    assert not is_empty(quality) and quality.getAxis("left").style["showValues"]
    # lifetime histogram: no ROI -> message, arrival-time axis over the laser period in ns
    w.show_analysis("Lifetime")
    QtWidgets.QApplication.processEvents()
    hist = w.lifetime_panel.hist_plot
    assert is_empty(hist)
    with SiffReader(sample) as reader:
        period_ns = reader.im_params.num_bins * reader.picoseconds_per_bin / 1000
    x0, x1 = hist.vb.viewRange()[0]
    assert x0 <= 0 and period_ns <= x1 < 1.1 * period_ns
    # the shared arrival-time axis is labelled once, under the residuals
    assert "(ns)" in w.lifetime_panel.resid_plot.getAxis("bottom").labelString()
    # traces: no ROI -> message over the recording's time axis
    photons = w.traces_panel.intensity_plot
    assert is_empty(photons)
    roi = w.masks.add_roi()
    w.masks.dab(roi.roi_id, 0, 30, 30, 4)
    assert not is_empty(photons) and photons.getAxis("left").style["showValues"]
    close(w)


def test_progress_bars_only_while_working(qtbot, tmp_path, sample, monkeypatch):
    """Idle panels show no empty progress bar; a running job shows it, and it goes away."""
    from siffviewer.workers import Job

    w = make_window(qtbot, tmp_path)
    assert w.open_path(sample, remember=False)
    bars = {"planes": w.planes_panel.progress, "registration": w.registration_panel.progress}
    assert all(bar.isHidden() for bar in bars.values())
    visible_while_running = []
    original = Job.start

    def start_and_watch(job):
        if job.name in ("mean projection", "registration"):  # not the follow-up QC jobs
            job.progressed.connect(lambda d, t: visible_while_running.append(
                [not bar.isHidden() for bar in bars.values()]))
        original(job)

    monkeypatch.setattr(Job, "start", start_and_watch)
    w.planes_panel.start_projection()
    assert visible_while_running and all(v[0] for v in visible_while_running)
    visible_while_running.clear()
    w.registration_panel.start()
    assert visible_while_running and all(v[1] for v in visible_while_running)
    assert all(bar.isHidden() for bar in bars.values())
    close(w)
