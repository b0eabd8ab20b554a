"""siffviewer part 1 driven with pytest-qt (offscreen): what is displayed equals what the
library reads for the same (timepoint, plane, colour)."""

import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest
from PyQt6 import QtCore, QtGui

from libsiff import SiffReader
from siffviewer.qt.main_window import MainWindow
from siffviewer.resources import sample_path
from siffviewer.workers import BackgroundWriter, Job, LatestLoader


@pytest.fixture
def window(qtbot, tmp_path):
    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    w = MainWindow(settings=settings, sync=True)
    qtbot.addWidget(w)
    w.show()
    sample = tmp_path / "sample.siff"
    shutil.copy(sample_path(), sample)  # a private copy: registrations are saved beside it
    assert w.open_path(sample)
    return w


def library_frame(path, frames, registered=False):
    with SiffReader(path) as sr:
        return sr.get_frames(frames, registration_dict=None if registered else {})


def displayed(window):
    return window.frame_view.image_item.image


def test_opens_sample_and_shows_first_frame(window):
    s = window.session
    np.testing.assert_array_equal(displayed(window), library_frame(s.path, [int(s.grid[0, 0, 0])])[0])
    assert window.windowTitle().startswith("sample.siff")
    assert window.frame_view.image_item.image.shape == (s.geometry.height, s.geometry.width)


def test_keys_and_sliders_navigate(window, qtbot):
    s, state = window.session, window.state
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Right)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Right)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Down)
    assert (state.timepoint, state.plane) == (2, 1)
    np.testing.assert_array_equal(displayed(window), library_frame(s.path, [int(s.grid[2, 1, 0])])[0])
    qtbot.keyClick(window, QtCore.Qt.Key.Key_End)
    assert state.timepoint == s.geometry.n_timepoints - 1
    qtbot.keyClick(window, QtCore.Qt.Key.Key_PageUp)
    assert state.timepoint == s.geometry.n_timepoints - 11
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Home)
    assert state.timepoint == 0
    window.navigation.time.slider.setValue(7)
    window.navigation.color.spin.setValue(1)
    window.navigation.plane.slider.setValue(2)
    assert (state.timepoint, state.plane, state.color) == (7, 2, 1)
    assert window.navigation.time.spin.value() == 7  # the other control follows
    np.testing.assert_array_equal(displayed(window), library_frame(s.path, [int(s.grid[7, 2, 1])])[0])
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Up)
    assert state.plane == 1


def test_average_of_timepoints(window):
    s = window.session
    window.state.update(timepoint=3, plane=1, color=0)
    window.navigation.average.setValue(5)
    frames = [int(f) for f in s.grid[1:6, 1, 0]]  # centred: timepoints 3 - 2 .. 3 + 2
    expected = library_frame(s.path, frames).astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(displayed(window), expected, rtol=1e-6)


def test_levels_stay_fixed_until_auto(window):
    window.state.update(levels=(0.0, 2.0))
    window.state.update(timepoint=5)
    assert tuple(window.frame_view.image_item.levels) == (0.0, 2.0)
    window.auto_levels()
    assert window.state.levels != (0.0, 2.0)


def test_status_bar_shows_pixel(window):
    window._on_hover(10, 20)
    value = int(displayed(window)[10, 20])
    assert f"x 20, y 10 · {value} photons" in window.pixel_label.text()
    assert "frame time" in window.pixel_label.text()


def test_metadata_search_and_description(window):
    tree = window.metadata.settings
    assert tree.apply_filter("Tau_bins") >= 1
    visible = tree.visible_settings()
    assert visible and all("tau_bins" in (m + n + v).lower() for m, n, v in visible)
    assert any(n == "Tau_bins" for _, n, _ in visible)
    assert tree.apply_filter("") > 50
    window.state.update(timepoint=4, plane=2, color=1)
    frame = int(window.session.grid[4, 2, 1])
    window.metadata.setCurrentWidget(window.metadata.description)  # the user opens the tab
    text = window.metadata.description.toPlainText()
    assert f"File frame {frame}" in text and "frameTimestamps_sec" in text
    window.state.update(timepoint=5)  # while shown, it follows the browser at once
    assert f"File frame {int(window.session.grid[5, 2, 1])}" in window.metadata.description.toPlainText()
    assert "RoiGroups" in window.metadata.roi_text.toPlainText()
    assert window.metadata.summary_labels["Planes"].text() == "3"


def test_corrupt_file_shows_error_and_keeps_session(window, tmp_path):
    bad = tmp_path / "broken.siff"
    bad.write_bytes(b"II+\x00" + b"\x00" * 100)
    before = window.session
    assert not window.open_path(bad)
    assert window.session is before
    assert "broken.siff" in window.errors[-1] and "offset size" in window.errors[-1]
    assert window.last_error_box.text() == window.errors[-1]
    assert not window.open_path(tmp_path / "missing.siff")
    assert "cannot open" in window.errors[-1]


def test_recent_files_and_drop(window, tmp_path, qtbot):
    path = str(window.session.path.resolve())
    assert window.recent_files()[0] == path
    other = tmp_path / "again.siff"
    shutil.copy(sample_path(), other)
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(other))])
    event = QtGui.QDropEvent(QtCore.QPointF(10, 10), QtCore.Qt.DropAction.CopyAction, mime,
                             QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    assert window.session.path == other
    assert window.recent_files()[:2] == [str(other.resolve()), path]


def test_registration_run_then_registered_display(window):
    panel = window.registration_panel
    panel.start()
    assert window.session.registration is not None
    assert window.navigation.registered.isEnabled() and window.state.registered
    s = window.session
    window.state.update(timepoint=6, plane=1)
    np.testing.assert_array_equal(displayed(window),
                                  library_frame(s.path, [int(s.grid[6, 1, 0])], registered=True)[0])
    assert (s.path.parent / (s.path.stem + ".siffreg.npz")).exists()
    # reopening picks the saved registration up, and the session's position
    assert window.open_path(s.path)
    assert window.session.registration is not None and window.state.registered
    assert (window.state.timepoint, window.state.plane) == (6, 1)
    window.navigation.registered.setChecked(False)
    assert not window.state.registered
    np.testing.assert_array_equal(displayed(window), library_frame(s.path, [int(s.grid[6, 1, 0])])[0])


def test_registration_cancel_keeps_previous(window, qtbot):
    panel, session = window.registration_panel, window.session
    real = session.compute_registration
    clicked = threading.Event()  # set after the panel's own slot has cancelled the job

    def held(method, color, progress=None, cancel=None):
        def progress_until_cancelled(done, total):  # the first tick waits for Cancel
            progress(done, total)
            clicked.wait(30)
        return real(method, color, progress=progress_until_cancelled, cancel=cancel)

    session.compute_registration = held
    panel.sync = False
    panel.start()
    panel.cancel.clicked.connect(clicked.set)
    assert panel.cancel.isEnabled() and not panel.run.isEnabled()
    with qtbot.waitSignal(panel.job.cancelled, timeout=30000):
        panel.cancel.click()
    assert window.session.registration is None
    assert "Cancelled" in panel.status.text() and panel.run.isEnabled()
    assert not (session.path.parent / (session.path.stem + ".siffreg.npz")).exists()


def test_mean_projection_job(window, qtbot):
    panel = window.planes_panel
    panel.start_projection()
    s = window.session
    stack = panel.projections[(0, False)]
    frames = [int(f) for f in s.grid[:, 1, 0]]
    expected = library_frame(s.path, frames).astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(stack[1], expected, rtol=1e-6)


def test_latest_loader_drops_stale_requests(qtbot):
    calls = []
    gate = threading.Event()
    started = threading.Event()

    def slow(key):
        calls.append(key)
        started.set()
        gate.wait(5)
        return key * 10

    loader = LatestLoader(slow)
    received = []
    loader.loaded.connect(lambda k, v: received.append((k, v)))
    loader.request(0)
    assert started.wait(5)  # request 0 is running before the others arrive
    for k in range(1, 50):
        loader.request(k)
    gate.set()
    qtbot.waitUntil(lambda: bool(received) and received[-1][0] == 49, timeout=5000)
    assert calls == [0, 49]  # the one running, then only the newest
    assert received == [(49, 490)]  # the stale result of 0 was dropped
    loader.stop()


def test_job_reports_errors(qtbot):
    def boom(progress, cancelled):
        raise ValueError("bad input")

    job = Job("demo", boom)
    with qtbot.waitSignal(job.failed, timeout=5000) as blocker:
        job.start()
    assert "demo failed" in blocker.args[0] and "bad input" in blocker.args[0]


def test_screenshot_command(tmp_path):
    out = tmp_path / "shot.png"
    res = subprocess.run([sys.executable, "-m", "siffviewer", str(sample_path()), "--screenshot",
                          str(out), "--timepoint", "3", "--plane", "1", "--channel", "1"],
                         capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert res.returncode == 0, res.stderr
    image = QtGui.QImage(str(out))
    assert image.width() >= 1000 and image.height() >= 600
    assert QtGui.QFontDatabase.families(), "no fonts: text would render as boxes"
    # the frame area is drawn: several photon levels and many lit pixels
    crop = image.copy(20, 40, 600, 500).convertToFormat(QtGui.QImage.Format.Format_Grayscale8)
    ptr = crop.constBits()
    ptr.setsize(crop.sizeInBytes())
    values = np.frombuffer(ptr, np.uint8)
    assert len(np.unique(values)) >= 3 and (values > 0).mean() > 0.05


def test_background_writer_never_writes_an_older_snapshot_after_a_newer(qtbot, tmp_path):
    """A snapshot queued before a synchronous save is dropped, not written after it."""
    target = tmp_path / "state.txt"
    started, gate, order = threading.Event(), threading.Event(), []

    def write(snapshot):
        if snapshot == "A":
            started.set()
            assert gate.wait(5)
        target.write_text(snapshot)
        order.append(snapshot)

    writer = BackgroundWriter(write)
    written = []
    writer.written.connect(written.append)
    writer.submit("a", "A")
    assert started.wait(5)  # A is being written
    writer.submit("c", "C")  # queued behind A
    saver = threading.Thread(target=writer.write_now, args=("B",))
    saver.start()
    qtbot.waitUntil(lambda: writer._pending is None, timeout=5000)  # B superseded C
    gate.set()
    saver.join(5)
    qtbot.waitUntil(lambda: written == ["a"], timeout=5000)
    writer.stop()
    assert order == ["A", "B"] and target.read_text() == "B"


def test_autosave_timer_writes_off_the_gui_thread(window, qtbot, monkeypatch):
    """The periodic autosave compresses and fsyncs on a worker thread; what it writes is
    what a reopened session reads."""
    import siffviewer.qt.main_window as main_window
    from siffviewer.model.session_file import autosave_path_for, read_session_file

    threads = []
    real = main_window.autosave_session

    def recording(*args):
        threads.append(threading.current_thread())
        return real(*args)

    monkeypatch.setattr(main_window, "autosave_session", recording)
    window.autosave_writer.sync = False
    roi = window.masks.add_roi("drawn")
    window.masks.dab(roi.roi_id, 1, 20, 20, 3)
    with qtbot.waitSignal(window.autosave_writer.written, timeout=10000):
        window.autosave_in_background()
    assert threads and threads[0] is not threading.main_thread()
    assert not window.autosave_writer.busy() and window.autosave()  # nothing left to save
    doc = read_session_file(autosave_path_for(window.session.path), window._shape)
    np.testing.assert_array_equal(doc.rois[0][2], window.masks.rois[0].mask)
    window.autosave_writer.stop()
