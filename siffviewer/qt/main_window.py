"""The main window: frame view, navigation, docks for metadata, registration and planes."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets

from libsiff import SiffError

from ..model.session import Session
from ..model.view_state import FrameKey, ViewState
from ..resources import resource_path, sample_path
from ..workers import LatestLoader
from .frame_view import FrameView, auto_levels
from .metadata import MetadataPanel
from .navigation import NavigationPanel
from .planes_panel import PlanesPanel
from .registration_panel import RegistrationPanel

APP_NAME = "siffviewer"
MAX_RECENT = 10
FILE_FILTER = "ScanImage files (*.siff *.tif *.tiff);;All files (*)"


class MainWindow(QtWidgets.QMainWindow):
    """One window showing one session at a time.

    ``sync=True`` loads frames and runs jobs on the GUI thread (tests, screenshots)."""

    session_opened = QtCore.pyqtSignal(object)
    frame_shown = QtCore.pyqtSignal(object)  # the FrameKey whose image is on screen

    def __init__(self, settings: QtCore.QSettings | None = None, sync: bool = False):
        super().__init__()
        self.sync = sync
        self.settings = settings or QtCore.QSettings(APP_NAME, APP_NAME)
        self.session: Session | None = None
        self.state: ViewState | None = None
        self.errors: list[str] = []
        self._generation = itertools.count()
        self._session_id = -1
        self.setWindowTitle(APP_NAME)
        icon = resource_path("siffviewer.png")
        if icon.exists():
            self.setWindowIcon(QtGui.QIcon(str(icon)))
        self.setAcceptDrops(True)
        self.resize(1400, 880)

        self.frame_view = FrameView()
        self.welcome = QtWidgets.QLabel(
            "<h2>siffviewer</h2><p>Open a .siff file (File ▸ Open, or drop it here).</p>")
        self.welcome.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.center = QtWidgets.QStackedWidget()
        self.center_page = QtWidgets.QWidget()
        self.center_layout = QtWidgets.QVBoxLayout(self.center_page)
        self.center_layout.setContentsMargins(0, 0, 0, 0)
        self.center_layout.addWidget(self.frame_view, 1)
        self.center.addWidget(self.welcome)
        self.center.addWidget(self.center_page)
        self.setCentralWidget(self.center)
        self.navigation: NavigationPanel | None = None

        self.docks: dict[str, QtWidgets.QDockWidget] = {}
        for name in ("Metadata", "Registration", "Planes"):
            dock = QtWidgets.QDockWidget(name, self)
            dock.setObjectName(name)
            dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable
                             | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetFloatable
                             | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetClosable)
            self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, dock)
            self.docks[name] = dock
        self.tabifyDockWidget(self.docks["Metadata"], self.docks["Registration"])
        self.tabifyDockWidget(self.docks["Registration"], self.docks["Planes"])
        self.docks["Metadata"].raise_()
        self.resizeDocks([self.docks["Metadata"]], [480], QtCore.Qt.Orientation.Horizontal)

        self.pixel_label = QtWidgets.QLabel()
        self.frame_label = QtWidgets.QLabel()
        self.statusBar().addWidget(self.pixel_label, 1)
        self.statusBar().addPermanentWidget(self.frame_label)

        self.loader = LatestLoader(self._load_frame, sync=sync, parent=self)
        self.loader.loaded.connect(self._show_frame)
        self.loader.failed.connect(lambda key, msg: self.report_error("Cannot read frame", msg))
        self.frame_view.hovered.connect(self._on_hover)
        self.frame_view.levels_changed.connect(self._on_levels_dragged)
        self._build_menus()
        self._build_shortcuts()

    # ------------------------------------------------------------------ menus
    def _build_menus(self) -> None:
        m = self.menuBar().addMenu("&File")
        act = m.addAction("&Open…", self.open_dialog)
        act.setShortcut(QtGui.QKeySequence.StandardKey.Open)
        self.recent_menu = m.addMenu("Open &recent")
        m.addAction("Open &sample acquisition", self.open_sample)
        m.addSeparator()
        act = m.addAction("&Quit", self.close)
        act.setShortcut(QtGui.QKeySequence.StandardKey.Quit)
        v = self.menuBar().addMenu("&View")
        v.addAction("&Auto levels", self.auto_levels).setShortcut("A")
        for dock in self.docks.values():
            v.addAction(dock.toggleViewAction())
        h = self.menuBar().addMenu("&Help")
        h.addAction("&About", self._about)
        self._refresh_recent()

    def _build_shortcuts(self) -> None:
        def step(axis, delta):
            if self.state is not None:
                self.state.step(axis, delta)

        def jump(to_end):
            if self.state is not None:
                self.state.update(timepoint=self.state.n_timepoints - 1 if to_end else 0)

        keys = {
            QtCore.Qt.Key.Key_Right: lambda: step("timepoint", 1),
            QtCore.Qt.Key.Key_Left: lambda: step("timepoint", -1),
            QtCore.Qt.Key.Key_Up: lambda: step("plane", -1),
            QtCore.Qt.Key.Key_Down: lambda: step("plane", 1),
            QtCore.Qt.Key.Key_PageUp: lambda: step("timepoint", -10),
            QtCore.Qt.Key.Key_PageDown: lambda: step("timepoint", 10),
            QtCore.Qt.Key.Key_Home: lambda: jump(False),
            QtCore.Qt.Key.Key_End: lambda: jump(True),
            QtCore.Qt.Key.Key_C: lambda: self.state and self.state.update(
                color=(self.state.color + 1) % self.state.n_colors),
            QtCore.Qt.Key.Key_Space: lambda: self.state and self.state.update(
                playing=not self.state.playing),
        }
        self.shortcuts = []
        for key, fn in keys.items():
            sc = QtGui.QShortcut(QtGui.QKeySequence(key), self)
            sc.activated.connect(fn)
            self.shortcuts.append(sc)

    def _about(self) -> None:
        from libsiff import __version__

        QtWidgets.QMessageBox.about(
            self, "About siffviewer",
            f"<b>siffviewer {__version__}</b><p>Viewer for ScanImage-FLIM .siff files, "
            "built on libsiff.</p>")

    # ------------------------------------------------------------------ opening
    def open_dialog(self) -> None:
        start = str(Path(self.session.path).parent) if self.session else str(Path.home())
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open acquisition", start,
                                                        FILE_FILTER)
        if path:
            self.open_path(path)

    def open_sample(self) -> bool:
        path = sample_path()
        if not path.exists():
            self.report_error("No sample", f"The bundled sample acquisition is missing: {path}")
            return False
        return self.open_path(path, remember=False)

    def open_path(self, path: str | Path, remember: bool = True) -> bool:
        """Open ``path``; on failure show why and keep the current session."""
        try:
            session = Session(path)
        except (SiffError, OSError, ValueError) as e:
            self.report_error("Cannot open file", f"{Path(path).name} cannot be opened:\n\n{e}")
            return False
        if self.session is not None:
            self.session.close()
        self.session = session
        self._session_id = next(self._generation)
        self._install_session(session)
        if remember:
            self._remember(Path(path))
        self.setWindowTitle(f"{session.path.name} — {APP_NAME}")
        self.session_opened.emit(session)
        return True

    def _install_session(self, session: Session) -> None:
        g = session.geometry
        self.state = ViewState(g.n_timepoints, g.n_planes, g.n_colors)
        if self.navigation is not None:
            self.center_layout.removeWidget(self.navigation)
            self.navigation.timer.stop()
            self.navigation.deleteLater()
        self.navigation = NavigationPanel(self.state)
        self.navigation.auto_levels_requested.connect(self.auto_levels)
        self.center_layout.addWidget(self.navigation)
        self.metadata = MetadataPanel(session, self.state)
        self.registration_panel = RegistrationPanel(session, self.state, sync=self.sync)
        self.registration_panel.registration_changed.connect(self._on_registration)
        self.registration_panel.error.connect(lambda m: self.report_error("Registration", m))
        self.planes_panel = PlanesPanel(session, self.state, sync=self.sync)
        self.planes_panel.error.connect(lambda m: self.report_error("Planes", m))
        for name, widget in (("Metadata", self.metadata), ("Registration",
                             self.registration_panel), ("Planes", self.planes_panel)):
            old = self.docks[name].widget()
            self.docks[name].setWidget(widget)
            if old is not None:
                old.deleteLater()
        self.navigation.set_registration_available(session.registration is not None)
        if session.registration is not None:
            self.state.update(registered=True)
        self.state.subscribe(self._on_state)
        self.center.setCurrentIndex(1)
        self.frame_view.image = None
        self.request_frame()

    def _remember(self, path: Path) -> None:
        recent = [p for p in self.recent_files() if p != str(path.resolve())]
        recent.insert(0, str(path.resolve()))
        self.settings.setValue("recent", recent[:MAX_RECENT])
        self._refresh_recent()

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        for p in files:
            self.recent_menu.addAction(Path(p).name, lambda p=p: self.open_path(p)).setToolTip(p)
        self.recent_menu.setEnabled(bool(files))

    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:  # noqa: N802
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_path(urls[0])
            event.acceptProposedAction()

    # ------------------------------------------------------------------ frames
    def _frame_key(self) -> tuple[int, FrameKey]:
        return (self._session_id, self.state.key())

    def request_frame(self) -> None:
        if self.session is not None:
            self.loader.request(self._frame_key())

    def _load_frame(self, key):
        session_id, fk = key
        session = self.session
        if session is None or session_id != self._session_id:
            return None
        return session.read_image(fk.timepoint, fk.plane, fk.color, fk.average, fk.registered)

    def _show_frame(self, key, image) -> None:
        if image is None or key[0] != self._session_id or self.state is None:
            return
        if self.state.levels is None:
            self.state.levels = auto_levels(image)
        self.frame_view.set_image(image, self.state.levels)
        self._update_frame_label()
        self.frame_shown.emit(key[1])

    def _on_state(self, changed: set[str]) -> None:
        if changed & {"timepoint", "plane", "color", "average", "registered"}:
            self.request_frame()
        if "levels" in changed and self.state.levels is not None:
            self.frame_view.set_levels(self.state.levels)

    def _on_levels_dragged(self, lo: float, hi: float) -> None:
        if self.state is not None and self.frame_view.image is not None:
            self.state.levels = (lo, hi)  # the view already shows them

    def auto_levels(self) -> None:
        if self.state is not None and self.frame_view.image is not None:
            self.state.update(levels=auto_levels(self.frame_view.image))

    def _on_registration(self) -> None:
        self.navigation.set_registration_available(True)
        self.state.update(registered=True)
        self.request_frame()
        self.metadata.refresh_summary()

    def _update_frame_label(self) -> None:
        s, session = self.state, self.session
        frame = int(session.grid[s.timepoint, s.plane, s.color])
        t = session.frame_time(s.timepoint, s.plane, s.color)
        avg = f", mean of {s.average}" if s.average > 1 else ""
        reg = " registered" if s.registered else ""
        self.frame_label.setText(f"frame {frame}{reg}{avg} · t = {t:.3f} s")

    def _on_hover(self, row: int, col: int) -> None:
        image = self.frame_view.image
        if row < 0 or image is None or self.state is None:
            self.pixel_label.setText("")
            return
        value = image[row, col]
        value_text = f"{int(value)} photons" if np.issubdtype(image.dtype, np.integer) \
            else f"{float(value):.2f} photons (mean)"
        s = self.state
        t = self.session.frame_time(s.timepoint, s.plane, s.color)
        self.pixel_label.setText(f"x {col}, y {row} · {value_text} · frame time {t:.3f} s")

    # ------------------------------------------------------------------ errors & output
    def report_error(self, title: str, message: str) -> None:
        """Show an error without blocking (the window stays usable) and keep it in ``errors``."""
        self.errors.append(message)
        self.statusBar().showMessage(message.splitlines()[0], 10000)
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Critical, title, message,
                                    QtWidgets.QMessageBox.StandardButton.Ok, self)
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        self.last_error_box = box
        if not self.sync:
            box.open()

    def save_screenshot(self, path: str | Path) -> None:
        """Render the whole window into a PNG."""
        QtWidgets.QApplication.processEvents()
        pixmap = self.grab()
        if not pixmap.save(str(path)):
            raise OSError(f"cannot write screenshot {path}")

    def closeEvent(self, event) -> None:  # noqa: N802
        self.loader.stop()
        if self.session is not None:
            self.session.close()
        super().closeEvent(event)
