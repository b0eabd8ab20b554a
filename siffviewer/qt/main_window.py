"""The main window: frame view, navigation, docks for metadata, registration and planes."""

from __future__ import annotations

import itertools
import os
import warnings
from pathlib import Path

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets

from libsiff import SiffError

from ..model import export as exporter
from ..model.flim_settings import FlimSettings
from ..model.formats.images import pixel_size_um
from ..model.masks import MaskFileError, MaskSet
from ..model.projections import SOURCE_LABELS, ProjectionCache
from ..model.session import Session
from ..model.session_file import (
    Identity,
    SessionDocument,
    autosave_session,
    load_session,
    save_session,
    session_path_for,
    write_session_file,
)
from ..model.view_state import FrameKey, ViewState, average_label
from ..resources import resource_path, sample_path
from ..workers import BackgroundWriter, LatestLoader
from . import export_dialogs
from .calibration_panel import CalibrationPanel
from .dock_layout import DockLayout
from .flim_traces_view import FlimTracesView
from .frame_view import FrameView, auto_levels
from .lifetime_panel import LifetimePanel
from .mask_tools import MaskEditor, overlay_rgba
from .masks_panel import MasksPanel
from .metadata import MetadataPanel
from .navigation import NavigationPanel
from .phasor_view import PhasorPanel
from .planes_panel import PlanesPanel
from .projection_source import ProjectionSource
from .registration_panel import RegistrationPanel
from .shortcuts import ShortcutsDialog
from .svg_export import install as _install_svg_export
from .traces_panel import TracesPanel

_install_svg_export()

APP_NAME = "siffviewer"
MAX_RECENT = 10
AUTOSAVE_MS = 3000
FOLLOW_POLL_MS = 2000  # how often the file's size is checked for growth
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
        self._jobs: list = []  # window-level jobs (exports), abandoned when the file changes
        self._generation = itertools.count()
        self._session_id = -1
        self.setWindowTitle(APP_NAME)
        icon = resource_path("siffviewer.png")
        if icon.exists():
            self.setWindowIcon(QtGui.QIcon(str(icon)))
        self.setAcceptDrops(True)
        screen = QtGui.QGuiApplication.primaryScreen()
        room = screen.availableGeometry() if screen is not None else QtCore.QRect(0, 0, 1500, 1000)
        self.resize(min(1500, int(room.width() * 0.92)), min(1000, int(room.height() * 0.92)))

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
        self.masks: MaskSet | None = None
        self.editor: MaskEditor | None = None
        self._autosaved = None
        self._overlay: np.ndarray | None = None
        self._overlay_key = None
        self.keep_session_files = True  # False: never autosave (screenshot runs)
        self.identity: Identity | None = None
        self.notices: list[str] = []  # non-error messages shown in the status bar
        self.levels_by_channel: dict[int, tuple[float, float]] = {}
        self.luts_by_channel: dict[int, str] = {}
        self.pixel_size: tuple[float, float, float] | None = None  # (z, y, x) µm
        self.autosave_timer = QtCore.QTimer(self)
        self.autosave_timer.setInterval(AUTOSAVE_MS)
        self.autosave_timer.timeout.connect(self.autosave_in_background)
        self.autosave_writer = BackgroundWriter(lambda snapshot: autosave_session(*snapshot),
                                                sync=sync, parent=self)
        self.autosave_writer.written.connect(self._autosave_written)
        self.autosave_writer.failed.connect(self._autosave_failed)
        for name in ("Metadata", "Registration", "Planes", "Masks", "Analysis"):
            dock = QtWidgets.QDockWidget(name, self)
            dock.setObjectName(name)
            dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable
                             | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetFloatable
                             | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetClosable)
            self.docks[name] = dock
            dock.visibilityChanged.connect(lambda visible, d=dock: visible and self._dock_shown(d))
        # Traces and Lifetime are tabs of one bottom dock: a second tabified dock group
        # leaves a stale duplicate tab bar in Qt 6.11
        self.analysis_tabs = QtWidgets.QTabWidget()
        self.analysis_tabs.setDocumentMode(True)
        self.docks["Analysis"].setWindowTitle("Traces and lifetime")
        self.docks["Analysis"].setWidget(self.analysis_tabs)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, self.docks["Metadata"])
        self.addDockWidget(QtCore.Qt.DockWidgetArea.BottomDockWidgetArea, self.docks["Analysis"])
        self.tabifyDockWidget(self.docks["Metadata"], self.docks["Registration"])
        self.tabifyDockWidget(self.docks["Registration"], self.docks["Planes"])
        self.tabifyDockWidget(self.docks["Planes"], self.docks["Masks"])
        self.docks["Metadata"].raise_()  # dock sizes: DockLayout.apply_default, once shown

        self.pixel_label = QtWidgets.QLabel()
        self.frame_label = QtWidgets.QLabel()
        # permanent widgets: temporary messages take the space left of them, never over them
        self.statusBar().addPermanentWidget(self.pixel_label)
        self.statusBar().addPermanentWidget(self.frame_label)

        self.loader = LatestLoader(self._load_frame, sync=sync, parent=self)
        self.loader.loaded.connect(self._show_frame)
        self.loader.failed.connect(lambda key, msg: self.report_error("Cannot read frame", msg))
        self.frame_view.hovered.connect(self._on_hover)
        self.frame_view.levels_changed.connect(self._on_levels_dragged)
        self._build_menus()
        self._build_shortcuts()
        self._install_layout()
        self._install_follow()

    # ------------------------------------------------------------------ menus
    def _build_menus(self) -> None:
        m = self.menuBar().addMenu("&File")
        act = m.addAction("&Open…", self.open_dialog)
        act.setShortcut(QtGui.QKeySequence.StandardKey.Open)
        self.recent_menu = m.addMenu("Open &recent")
        m.addAction("Open &sample acquisition", self.open_sample)
        m.addSeparator()
        act = m.addAction("&Save masks", self.save_masks)
        act.setShortcut(QtGui.QKeySequence.StandardKey.Save)
        m.addAction("Save masks &as…", self.save_masks_as)
        m.addAction("&Load masks…", self.load_masks_dialog)
        m.addSeparator()
        m.addAction("&Export traces…", self.export_traces_dialog).setShortcut("Ctrl+E")
        m.addAction("Export masks as &images…", self.export_mask_images_dialog)
        m.addAction("Export lifetime &fit (JSON)…", self.export_fit_dialog)
        self._build_export_menu(m)
        m.addSeparator()
        self._build_compare_menu(m)
        m.addSeparator()
        act = m.addAction("&Quit", self.close)
        act.setShortcut("Ctrl+Q")  # StandardKey.Quit has no key on Windows
        e = self.menuBar().addMenu("&Edit")
        act = e.addAction("&Undo", lambda: self.masks and self.masks.undo())
        act.setShortcut(QtGui.QKeySequence.StandardKey.Undo)
        act = e.addAction("&Redo", lambda: self.masks and self.masks.redo())
        act.setShortcuts([QtGui.QKeySequence("Ctrl+Shift+Z"), QtGui.QKeySequence("Ctrl+Y")])
        v = self.menuBar().addMenu("&View")
        v.addAction("&Auto levels", self.auto_levels).setShortcut("A")
        for dock in self.docks.values():
            v.addAction(dock.toggleViewAction())
        # closed by default in small windows: one key away
        self.docks["Analysis"].toggleViewAction().setShortcut("Ctrl+T")
        v.addSeparator()
        v.addAction("&Reset layout", self.reset_layout)
        self.follow_action = v.addAction("&Follow growing file")
        self.follow_action.setCheckable(True)
        self.follow_action.setShortcut("Ctrl+F")
        self.follow_action.setToolTip("Show the newest complete timepoint while the file grows")
        self.follow_action.toggled.connect(self._on_follow_toggled)
        h = self.menuBar().addMenu("&Help")
        h.addAction("&Keyboard shortcuts", self.show_shortcuts).setShortcut("F1")
        h.addAction("&About", self._about)
        self._refresh_recent()

    def _build_shortcuts(self) -> None:
        def step(axis, delta):
            if self.state is not None:
                self.state.step(axis, delta)

        def jump(to_end):
            if self.state is not None:
                self.state.update(timepoint=self.state.n_timepoints - 1 if to_end else 0)

        keys = {  # key: (what it does, as Help ▸ Keyboard shortcuts lists it; action)
            QtCore.Qt.Key.Key_Right: ("Next timepoint", lambda: step("timepoint", 1)),
            QtCore.Qt.Key.Key_Left: ("Previous timepoint", lambda: step("timepoint", -1)),
            QtCore.Qt.Key.Key_Up: ("Previous plane", lambda: step("plane", -1)),
            QtCore.Qt.Key.Key_Down: ("Next plane", lambda: step("plane", 1)),
            QtCore.Qt.Key.Key_PageUp: ("10 timepoints back", lambda: step("timepoint", -10)),
            QtCore.Qt.Key.Key_PageDown: ("10 timepoints on", lambda: step("timepoint", 10)),
            QtCore.Qt.Key.Key_Home: ("First timepoint", lambda: jump(False)),
            QtCore.Qt.Key.Key_End: ("Last timepoint", lambda: jump(True)),
            QtCore.Qt.Key.Key_C: ("Next colour channel", lambda: self.state and self.state.update(
                color=(self.state.color + 1) % self.state.n_colors)),
            QtCore.Qt.Key.Key_Space: ("Play / pause", lambda: self.state and self.state.update(
                playing=not self.state.playing)),
        }
        self.shortcuts = []
        for key, (what, fn) in keys.items():
            sc = QtGui.QShortcut(QtGui.QKeySequence(key), self)
            sc.setWhatsThis(what)
            sc.activated.connect(fn)
            self.shortcuts.append(sc)

    def show_shortcuts(self) -> ShortcutsDialog:
        """Help ▸ Keyboard shortcuts: every binding of this window, read from its actions."""
        dialog = ShortcutsDialog(self)
        dialog.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        if not self.sync:
            dialog.show()
        return dialog

    # ------------------------------------------------------------------ layout
    def _install_layout(self) -> None:
        """Docks come back where the user left them (QSettings); View ▸ Reset layout restores
        the default, in which the image gets most of the window (qt/dock_layout.py)."""
        #: False: neither restore nor save the dock layout (tests and screenshots use the
        #: default layout and leave the user's settings alone)
        self.remember_layout = not self.sync
        self.dock_layout = DockLayout(
            self, [self.docks[n] for n in ("Metadata", "Registration", "Planes", "Masks")],
            self.docks["Analysis"], self.frame_view)
        self._layout_done = False

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._layout_done:
            return
        self._layout_done = True
        self.dock_layout.apply_default()
        if self.remember_layout:  # once the window has its size, or dock sizes are not kept
            QtCore.QTimer.singleShot(0, self.restore_layout)

    def reset_layout(self) -> None:
        """View ▸ Reset layout: the default docks and sizes (forgets the saved layout)."""
        self.dock_layout.reset()
        DockLayout.forget(self.settings)

    def save_layout(self) -> None:
        """Keep the window geometry and dock layout in the settings."""
        self.dock_layout.save(self.settings)

    def restore_layout(self) -> bool:
        """Apply the saved geometry and dock layout; False when none (or an old one) is saved."""
        return self.dock_layout.restore(self.settings)

    # ------------------------------------------------------------------ growing files
    def _install_follow(self) -> None:
        """Poll the file's size; when it changed, re-read its index off the GUI thread."""
        self._file_size = -1
        self.follow_timer = QtCore.QTimer(self)
        self.follow_timer.setInterval(FOLLOW_POLL_MS)
        self.follow_timer.timeout.connect(self.check_growth)
        self.growth_loader = LatestLoader(lambda key, session: session.refresh(), sync=self.sync,
                                          parent=self)
        self.growth_loader.loaded.connect(self._on_growth)
        self.growth_loader.failed.connect(self._on_growth_failed)

    @property
    def following(self) -> bool:
        """View ▸ Follow growing file is on: new timepoints are shown as they arrive."""
        return self.follow_action.isChecked()

    def _on_follow_toggled(self, on: bool) -> None:
        if on:
            self.check_growth()
            if self.state is not None:
                self.state.update(timepoint=self.state.n_timepoints - 1)

    def check_growth(self) -> None:
        """If the file's size changed since the last look, refresh its index (background)."""
        if self.session is None:
            return
        try:
            size = os.stat(self.session.path).st_size
        except OSError:
            return  # moved away or not readable now: try again at the next tick
        if size != self._file_size:
            self._file_size = size
            self.growth_loader.request((self._session_id, size), self.session)

    def _on_growth(self, key, added: int) -> None:
        if key[0] != self._session_id or self.state is None or not added:
            return
        n = self.session.geometry.n_timepoints
        self.state.set_timepoint_count(n)
        if self.following:
            self.state.update(timepoint=n - 1)
        self.metadata.refresh_summary()
        self.statusBar().showMessage(f"{self.session.path.name} grew: {added} new timepoint(s), "
                                     f"{n} in all", 5000)

    def _on_growth_failed(self, key, message: str) -> None:
        if key[0] == self._session_id:
            self.statusBar().showMessage(f"Cannot re-read the growing file: {message}", 10000)

    def _about(self) -> None:
        from libsiff import __version__

        QtWidgets.QMessageBox.about(
            self, "About siffviewer",
            f"<b>siffviewer {__version__}</b><p>Viewer for ScanImage-FLIM .siff files, "
            "built on libsiff.</p>")

    # ------------------------------------------------------------------ opening
    def open_dialog(self) -> None:
        """Ask for an acquisition file and open it."""
        start = str(Path(self.session.path).parent) if self.session else str(Path.home())
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open acquisition", start,
                                                        FILE_FILTER)
        if path:
            self.open_path(path)

    def open_sample(self) -> bool:
        """Open the bundled sample acquisition (not added to the recent files)."""
        path = sample_path()
        if not path.exists():
            self.report_error("No sample", f"The bundled sample acquisition is missing: {path}")
            return False
        return self.open_path(path, remember=False)

    def open_path(self, path: str | Path, remember: bool = True) -> bool:
        """Open ``path``; on failure show why and keep the current session."""
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                session = Session(path)
        except (SiffError, OSError, ValueError) as e:
            self.report_error("Cannot open file", f"{Path(path).name} cannot be opened:\n\n{e}")
            return False
        if self.session is not None:
            if not self.masks_safe_to_drop():
                session.close()
                return False
            self._shutdown_session()
            self.session.close()  # deferred by libsiff until running calls return
        self.session = session
        self._session_id = next(self._generation)
        self._install_session(session)
        if remember:
            self._remember(Path(path))
        self.setWindowTitle(f"{session.path.name} — {APP_NAME}")
        for w in dict.fromkeys(str(w.message) for w in caught):  # e.g. a truncated file
            self.report_warning(f"{session.path.name} opened with a warning", w)
        self.session_opened.emit(session)
        return True

    def _shutdown_session(self) -> None:
        """Stop every panel's background work and abandon running jobs of the old session."""
        for panel in ("planes_panel", "registration_panel", "traces_panel", "lifetime_panel",
                      "overview_panel", "phasor_panel", "calibration_panel",
                      "flim_traces_view", "projection_source"):
            widget = getattr(self, panel, None)
            if widget is not None:
                widget.shutdown()
        for job in self._jobs:
            if job.running:
                job.abandon()
                self.statusBar().showMessage(f"{job.name} cancelled: another file was opened",
                                             8000)
        self._jobs = [j for j in self._jobs if j.running]
        if self.navigation is not None:
            self.navigation.timer.stop()
        self.follow_timer.stop()

    def _install_session(self, session: Session) -> None:
        g = session.geometry
        self.state = ViewState(g.n_timepoints, g.n_planes, g.n_colors)
        if self.navigation is not None:
            self.center_layout.removeWidget(self.navigation)
            self.navigation.timer.stop()
            self.navigation.deleteLater()
        colors = session.im_params.color_list
        names = [c for c in colors if c is not None] if colors else []
        self.navigation = NavigationPanel(self.state, channel_names=names
                                          if len(names) == g.n_colors else None)
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
        self.levels_by_channel = {}
        self._install_review(session)
        self._install_masks(session)  # restores the saved session into the state
        self.state.subscribe(self._on_state)
        self.center.setCurrentIndex(1)
        self.frame_view.forget_image()
        self.request_frame()
        try:  # the size the next look compares with
            self._file_size = os.stat(session.path).st_size
        except OSError:
            self._file_size = -1
        self.follow_timer.start()
        self.dock_layout.settle()  # the default bottom dock, now that the image is laid out

    # ---- review: what to draw on, scale and LUT per channel (issue 16.2, 16.4) ----
    def _install_review(self, session: Session) -> None:
        """The "draw on" choice with its projection cache, and the physical scale."""
        self.projections = ProjectionCache()
        self.projection_source = ProjectionSource(session, self.state, self.projections,
                                                  sync=self.sync)
        self.projection_source.ready.connect(self.request_frame)
        self.projection_source.error.connect(lambda m: self.report_error("Projection", m))
        self.navigation.add_plane_control(self.projection_source)
        self.luts_by_channel = {}
        self.pixel_size = pixel_size_um(session.reader)
        self.frame_view.set_pixel_size(self.pixel_size[2] if self.pixel_size else None)
        self.frame_view.set_lut(self.state.lut)
        self.frame_view.set_value_label(value_label(self.state.source, self.state.average))

    def _review_state(self, changed: set[str]) -> None:
        """Per-channel LUT, and fresh levels when the kind of image changes."""
        if "color" in changed:
            self.state.update(lut=self.luts_by_channel.get(self.state.color, "grey"))
        if "lut" in changed:
            self.luts_by_channel[self.state.color] = self.state.lut
            self.frame_view.set_lut(self.state.lut)
        if "source" in changed:  # photons and correlations need different levels
            self.state.update(levels=None)
        if changed & {"source", "average"}:
            self.frame_view.set_value_label(value_label(self.state.source, self.state.average))

    def _micrometres(self, row: int, col: int) -> str:
        """`` · (x, y, z) µm`` of a pixel from the header's pixel size and z step."""
        if self.pixel_size is None:
            return ""
        dz, dy, dx = self.pixel_size
        return f" · ({col * dx:.1f}, {row * dy:.1f}, {self.state.plane * dz:.1f}) µm"

    def _remember(self, path: Path) -> None:
        recent = [p for p in self.recent_files() if p != str(path.resolve())]
        recent.insert(0, str(path.resolve()))
        self.settings.setValue("recent", recent[:MAX_RECENT])
        self._refresh_recent()

    def recent_files(self) -> list[str]:
        """Paths of the recently opened files, newest first."""
        value = self.settings.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        self.recent_menu.setToolTipsVisible(True)
        files = self.recent_files()
        for p, label in zip(files, recent_labels(files), strict=True):
            self.recent_menu.addAction(label, lambda p=p: self.open_path(p)).setToolTip(p)
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
        """Load (off the GUI thread) and show the frame the view state selects."""
        if self.session is not None:
            self.loader.request(self._frame_key())

    def _load_frame(self, key):
        session_id, fk = key
        session = self.session
        if session is None or session_id != self._session_id:
            return None
        if fk.source != "frame":
            image = self.projections.get(fk.plane, fk.color,
                                         session.registration if fk.registered else None,
                                         fk.source)
            if image is not None:
                return image
        return session.read_image(fk.timepoint, fk.plane, fk.color, fk.average, fk.registered)

    def _show_frame(self, key, image) -> None:
        if image is None or key[0] != self._session_id or self.state is None:
            return
        if self.state.levels is None:  # automatic levels are not an edit worth autosaving
            clean = self._autosave_key() == self._autosaved
            self.state.update(levels=auto_levels(image))
            if clean:
                self._autosaved = self._autosave_key()
        self.frame_view.set_image(image, self.state.levels)
        if self.editor is not None:
            self.editor.set_threshold_image(image)
        self._update_frame_label()
        self.frame_shown.emit(key[1])

    def _on_state(self, changed: set[str]) -> None:
        self._review_state(changed)
        if changed & {"timepoint", "plane", "color", "average", "registered", "source"}:
            self.request_frame()
        if "plane" in changed and self.editor is not None:
            self.editor.set_plane(self.state.plane)
            self._update_overlay()
        if "color" in changed:  # each channel keeps its own display range
            self.state.update(levels=self.levels_by_channel.get(self.state.color))
        if "levels" in changed and self.state.levels is not None:
            self.levels_by_channel[self.state.color] = tuple(self.state.levels)
            self.frame_view.set_levels(self.state.levels)

    def _on_levels_dragged(self, lo: float, hi: float) -> None:
        if self.state is not None and self.frame_view.image is not None:
            self.state.update(levels=(lo, hi))

    def auto_levels(self) -> None:
        """Set the display levels from the current frame's intensities."""
        if self.state is not None and self.frame_view.image is not None:
            self.state.update(levels=auto_levels(self.frame_view.image))

    def _on_registration(self) -> None:
        self.navigation.set_registration_available(True)
        self.state.update(registered=True)
        self.projection_source.refresh()  # projections of the new registration
        self.request_frame()
        self.metadata.refresh_summary()

    def _update_frame_label(self) -> None:
        s, session = self.state, self.session
        frame = int(session.grid[s.timepoint, s.plane, s.color])
        t = session.frame_time(s.timepoint, s.plane, s.color)
        reg = " registered" if s.registered else ""
        shown = self.frame_view.image
        if s.source != "frame" and shown is not None and shown.dtype == np.float32 \
                and not self.projection_source.missing():
            self.frame_label.setText(f"{SOURCE_LABELS[s.source]} of plane {s.plane}{reg}, "
                                     f"{s.n_timepoints} timepoints")
            return
        avg = average_label(s.timepoint, s.average, s.n_timepoints)
        busy = f" ({SOURCE_LABELS[s.source].lower()} being computed)" if s.source != "frame" \
            else ""
        self.frame_label.setText(f"frame {frame}{reg}{', ' + avg if avg else ''} · "
                                 f"t = {t:.3f} s{busy}")

    def _on_hover(self, row: int, col: int) -> None:
        image = self.frame_view.image
        if row < 0 or image is None or self.state is None:
            self.pixel_label.setText("")
            return
        value = image[row, col]
        value_text = f"{int(value)} photons" if np.issubdtype(image.dtype, np.integer) \
            else f"{float(value):.2f} photons (mean)"
        s = self.state
        if s.source in ("correlation",) and not self.projection_source.missing():
            value_text = f"correlation {float(value):.3f}"
        t = self.session.frame_time(s.timepoint, s.plane, s.color)
        self.pixel_label.setText(f"x {col}, y {row} · {value_text}{self._micrometres(row, col)}"
                                 f" · frame time {t:.3f} s")

    # ------------------------------------------------------------------ errors & output
    def report_error(self, title: str, message: str) -> None:
        """Show an error without blocking (the window stays usable) and keep it in ``errors``."""
        self.errors.append(message)
        self.statusBar().showMessage(" ".join(line.strip() for line in message.splitlines()
                                              if line.strip()), 10000)
        self.last_error_box = self._message_box(QtWidgets.QMessageBox.Icon.Critical, title, message)

    def report_warning(self, title: str, message: str) -> None:
        """Show a warning without blocking and keep it in ``notices``."""
        self.notices.append(message)
        self.statusBar().showMessage(message, 15000)
        self.last_warning_box = self._message_box(QtWidgets.QMessageBox.Icon.Warning, title, message)

    def _message_box(self, icon, title: str, message: str) -> QtWidgets.QMessageBox:
        """A non-blocking message box (deleted when closed; not opened in sync mode)."""
        box = QtWidgets.QMessageBox(icon, title, message, QtWidgets.QMessageBox.StandardButton.Ok, self)
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        if not self.sync:
            box.open()
        return box

    def save_screenshot(self, path: str | Path) -> None:
        """Render the whole window into a PNG."""
        QtWidgets.QApplication.processEvents()
        pixmap = self.grab()
        if not pixmap.save(str(path)):
            raise OSError(f"cannot write screenshot {path}")

    def closeEvent(self, event) -> None:  # noqa: N802
        if self.session is not None and not self.sync and not self.masks_safe_to_drop():
            event.ignore()
            return
        self.loader.stop()
        self.growth_loader.stop()
        self.follow_timer.stop()
        if self.remember_layout:
            self.save_layout()
        self.autosave()
        self.autosave_writer.stop()
        if self.session is not None:
            self._shutdown_session()
            self.session.close()
        super().closeEvent(event)

    # ------------------------------------------------------------------ masks
    def _install_masks(self, session: Session) -> None:
        g = session.geometry
        self.masks = MaskSet((g.n_planes, g.height, g.width))
        self.editor = MaskEditor(self.masks, parent=self)
        self.editor.set_plane(self.state.plane)
        self.frame_view.set_editor(self.editor)
        self.editor.preview_changed.connect(lambda: self.frame_view.set_preview(self.editor.preview))
        self.masks_panel = MasksPanel(self.masks, self.editor)
        self.flim = FlimSettings()  # lifetime settings, shown by the panels of _install_flim
        self.traces_panel = TracesPanel(session, self.state, self.masks, sync=self.sync,
                                        calibration_for=lambda c: self.flim.calibration_for(
                                            session, c, session.flim_params_for(c)))
        self.traces_panel.error.connect(lambda m: self.report_error("Traces", m))
        self.lifetime_panel = LifetimePanel(session, self.state, self.masks, sync=self.sync,
                                            calibration_for=self.traces_panel.calibration_for)
        self.lifetime_panel.error.connect(lambda m: self.report_error("Lifetime", m))
        self.lifetime_panel.params_fitted.connect(lambda _: self.traces_panel.request())
        # arrow keys step time again after a fit (not the lifetime colour-range box)
        self.lifetime_panel.params_fitted.connect(lambda _: self.frame_view.setFocus())
        self.masks_panel.selection_changed.connect(self._on_roi_selection)
        old = self.docks["Masks"].widget()
        self.docks["Masks"].setWidget(self.masks_panel)
        if old is not None:
            old.deleteLater()
        while self.analysis_tabs.count():
            page = self.analysis_tabs.widget(0)
            self.analysis_tabs.removeTab(0)
            page.deleteLater()
        self.analysis_tabs.addTab(self.traces_panel, "Traces")
        self.analysis_tabs.addTab(self.lifetime_panel, "Lifetime")
        self._install_overview(session)
        self._install_flim(session)
        self.masks.subscribe(self._update_overlay)
        self.flim.follow_roi_names(self.masks)
        self._restore_session(session)
        self.masks.subscribe(self._hint_traces)  # after: the restore notice stays in view
        self.autosave_timer.start()
        self._update_overlay()

    def _install_flim(self, session: Session) -> None:
        """The lifetime settings (calibration, corrections, fraction fit, phasor) and their
        views: a 'Lifetime traces' tab and a 'Phasor' tab (calibration + pixel phasors)."""
        args = (session, self.state, self.masks, self.flim, session.flim_params_for)
        self.calibration_panel = CalibrationPanel(*args, sync=self.sync)
        self.phasor_panel = PhasorPanel(*args, sync=self.sync)
        self.flim_traces_view = FlimTracesView(*args, sync=self.sync)
        for panel, title in ((self.calibration_panel, "Calibration"),
                             (self.phasor_panel, "Phasor"),
                             (self.flim_traces_view, "Lifetime traces")):
            panel.error.connect(lambda m, t=title: self.report_error(t, m))
        self.lifetime_panel.params_fitted.connect(lambda _: (
            self.calibration_panel.show_values(), self.phasor_panel.refresh(),
            self.flim_traces_view.refresh()))
        self.phasor_panel.roi_created.connect(lambda roi_id: self.masks_panel.select(roi_id))
        page = QtWidgets.QWidget()
        column = QtWidgets.QVBoxLayout()
        column.addWidget(self.calibration_panel)
        column.addStretch(1)
        row = QtWidgets.QHBoxLayout(page)
        row.setContentsMargins(0, 0, 0, 0)
        row.addLayout(column)
        row.addWidget(self.phasor_panel, 1)
        self.analysis_tabs.addTab(self.flim_traces_view, "Lifetime traces")
        self.analysis_tabs.addTab(page, "Phasor")
        self.flim.subscribe(lambda changed: "selection" in changed and self._update_overlay())
        self.flim.subscribe(lambda changed: "calibration" in changed and (
            self.traces_panel.request(), self.lifetime_panel.refresh_image()))

    @property
    def _shape(self) -> tuple[int, int, int]:
        g = self.session.geometry
        return (g.n_planes, g.height, g.width)

    def _restore_session(self, session: Session) -> None:
        """Apply the newest readable session file (autosave, saved, legacy masks); damaged
        files are set aside and reported."""
        try:  # an unreadable session file must not leave the new acquisition half-installed
            self.identity = Identity.of(session.path)
            loaded = load_session(session.path, self._shape, self.identity)
        except (SiffError, OSError, ValueError) as e:
            self.report_error("Session not restored",
                              f"The saved session of {session.path.name} cannot be read:\n\n{e}")
            self._autosaved = self._autosave_key()
            return
        for message in loaded.messages:
            if "set aside" in message:
                self.report_error("Damaged session file", message)
            else:
                self.notices.append(message)
                self.statusBar().showMessage(message, 10000)
        doc = loaded.document
        if doc is not None:
            self.apply_document(doc)
            self.masks.dirty = loaded.from_autosave
        self._autosaved = self._autosave_key()

    def apply_document(self, doc: SessionDocument) -> None:
        """Show a session document: ROIs, channel, registration, fits, dF/F, position, levels."""
        from libsiff.flim import FLIMParams

        self.masks.set_records(doc.rois, label="open session")
        self.masks.clear_history()  # opening is not an edit to undo
        for channel, pdict in doc.flim_params.items():
            if 0 <= channel < self.session.geometry.n_colors:
                try:
                    self.session.set_flim_params(channel, FLIMParams.from_dict(pdict))
                except (SiffError, KeyError, ValueError, TypeError) as e:
                    self.report_error("Session", f"FLIM fit of channel {channel} not restored: {e}")
        registered = doc.registered and self.session.registration is not None
        self.state.update(color=doc.channel, registered=registered, timepoint=doc.timepoint,
                          plane=doc.plane, average=doc.average, dff=doc.dff,
                          dff_settings=doc.dff or self.state.dff_settings,
                          lifetime_range=doc.lifetime_range or self.state.lifetime_range,
                          levels=doc.levels.get(doc.channel), source=doc.draw_on,
                          lut=doc.luts.get(doc.channel, "grey"))
        self.levels_by_channel = dict(doc.levels)
        for message in self.flim.apply_document(doc):
            self.report_error("Session", message)
        self.luts_by_channel = dict(doc.luts)
        if doc.tools:
            self.masks_panel.brush.setValue(float(doc.tools.get("brush_radius",
                                                                 self.editor.brush_radius)))
        self.lifetime_panel.show_fit()
        self.traces_panel.request()

    def session_document(self, rois: bool = True) -> SessionDocument:
        """Everything the user decided, as one document (what Save and autosave write);
        ``rois=False`` leaves the ROI masks out (no copies: for comparing settings)."""
        s, session = self.state, self.session
        params = {c: p.to_dict() for c, p in enumerate(session.reader.flim_params or ())
                  if p is not None}
        levels = dict(getattr(self, "levels_by_channel", {}))
        if s.levels is not None:
            levels[s.color] = tuple(float(v) for v in s.levels)
        reg = session.registration
        return SessionDocument(
            rois=self.masks.records() if rois else [], channel=s.color, registered=s.registered,
            registration=f"{session.path.stem}.siffreg.npz" if reg is not None else None,
            flim_params=params, dff=s.dff, timepoint=s.timepoint, plane=s.plane,
            average=s.average, levels=levels, lifetime_range=s.lifetime_range,
            luts={**self.luts_by_channel, s.color: s.lut}, draw_on=s.source,
            tools={"tool": self.editor.tool, "brush_radius": self.editor.brush_radius},
            identity=self.identity, source=str(session.path.resolve()),
            **self.flim.document_fields())

    def _autosave_key(self, doc: SessionDocument | None = None):
        """What the autosave compares: the ROIs' edit count and the settings of ``doc``
        (default: the current settings, built without copying the masks)."""
        if self.masks is None or self.session is None:
            return None
        doc = doc or self.session_document(rois=False)
        return (self.masks.version, repr(doc.settings()))

    def _dock_shown(self, dock) -> None:
        """A dock tab came to the front: let its panel catch up on what it skipped."""
        panel = dock.widget()
        if hasattr(panel, "refresh"):
            QtCore.QTimer.singleShot(0, panel.refresh)

    def _hint_traces(self, changed: set[str]) -> None:
        """Say where the traces are when ROIs appear while their dock is closed."""
        if "rois" in changed and self.masks is not None and self.masks.rois \
                and not self.docks["Analysis"].isVisible():
            self.statusBar().showMessage("ROI traces: View ▸ Traces and lifetime (Ctrl+T)", 8000)

    def show_analysis(self, name: str) -> None:
        """Open the traces and lifetime dock (closed by default in small windows) with the
        tab ``name`` (Traces, Lifetime, All ROIs, ...) in front."""
        dock = self.docks["Analysis"]
        dock.show()
        dock.raise_()
        if self.statusBar().currentMessage().startswith("ROI traces:"):
            self.statusBar().clearMessage()  # the hint of _hint_traces is done
        for i in range(self.analysis_tabs.count()):
            if self.analysis_tabs.tabText(i) == name:
                self.analysis_tabs.setCurrentIndex(i)

    def _on_roi_selection(self) -> None:
        ids = self.masks_panel.selected_ids()
        self.traces_panel.set_selected(ids)
        self.lifetime_panel.set_roi(ids[0] if ids else None)
        for panel in (self.phasor_panel, self.calibration_panel):
            panel.set_roi(ids[0] if ids else None)
        self.flim_traces_view.set_selected(ids)
        self._update_overlay()

    def _update_overlay(self, changed: set[str] | None = None) -> None:
        """Redraw the ROI overlay: only the dab's box during a brush stroke, else all of it."""
        if self.masks is None or self.state is None:
            return
        plane, box = self.state.plane, self.masks.changed_box
        key = (id(self.masks), plane, self.editor.roi_id)
        if changed == {"masks"} and box is not None and self._overlay_key == key:
            if plane not in box[0]:
                return
            y0, y1, x0, x1 = box[1:]
            self._overlay[y0:y1, x0:x1] = overlay_rgba(self.masks, plane, self.editor.roi_id,
                                                       box=(y0, y1, x0, x1))
            self.frame_view.set_overlay(self._overlay, (y0, y1, x0, x1))
            return
        self._overlay = overlay_rgba(self.masks, plane, self.editor.roi_id)
        self._overlay_key = key
        selection = self.flim.selection if getattr(self, "flim", None) is not None else None
        if selection is not None and selection.shape == self._overlay.shape[:2]:
            self._overlay = self._overlay.copy()  # phasor cursor pixels light up in yellow
            self._overlay[selection] = (255, 230, 0, 150)
            self._overlay_key = None
        self.frame_view.set_overlay(self._overlay)

    def _autosave_snapshot(self):
        """(key, snapshot) of what is unsaved, or None when the autosave is up to date."""
        if self.masks is None or self.session is None or not self.keep_session_files:
            return None
        doc = self.session_document(rois=False)
        key = self._autosave_key(doc)
        if key == self._autosaved:
            return None
        return key, (self.session.path, doc.with_(rois=self.masks.records()), self._shape)

    def autosave_in_background(self) -> None:
        """The autosave timer: write what changed on a worker thread (the window never
        waits for compression or fsync)."""
        pending = self._autosave_snapshot()
        if pending is not None and not self.autosave_writer.busy():
            key, snapshot = pending
            self.autosave_writer.submit((self._session_id, key), snapshot)

    def _autosave_written(self, tagged_key) -> None:
        session_id, key = tagged_key
        if session_id == self._session_id and self.masks is not None:
            self._autosaved = key
            self.masks.dirty = True

    def _autosave_failed(self, _tagged_key, message: str) -> None:
        self.statusBar().showMessage(f"Autosave failed: {message}", 10000)

    def autosave(self) -> bool:
        """Save what changed since the last save to ``<stem>.siffsession.autosave.npz``
        (beside the file, or in the user's data folder when that folder is read-only) now,
        on this thread, after any background autosave. True when nothing is left unsaved."""
        pending = self._autosave_snapshot()
        if pending is None:
            return True
        key, snapshot = pending
        try:
            self.autosave_writer.write_now(snapshot)
        except OSError as e:
            self.statusBar().showMessage(f"Autosave failed: {e}", 10000)
            return False
        self._autosaved = key
        self.masks.dirty = True
        return True

    def masks_safe_to_drop(self) -> bool:
        """Before the ROIs go away (another file, quit): True when their edits are safe.

        If autosaving fails, ask the user to save them elsewhere, discard them or cancel."""
        if self.autosave():
            return True
        if self.sync:
            self.errors.append("ROI edits could not be autosaved")
            return False
        answer = QtWidgets.QMessageBox.warning(
            self, "Unsaved ROI edits",
            "Your ROI edits could not be saved automatically. Save them to another place?",
            QtWidgets.QMessageBox.StandardButton.Save
            | QtWidgets.QMessageBox.StandardButton.Discard
            | QtWidgets.QMessageBox.StandardButton.Cancel)
        if answer == QtWidgets.QMessageBox.StandardButton.Save:
            self.save_masks_as()
            return not self.masks.dirty
        return answer == QtWidgets.QMessageBox.StandardButton.Discard

    def _confirm_fewer_rois(self, saved: int, new: int) -> bool:
        """Ask before a Save replaces a session file holding more ROIs than now."""
        message = (f"The saved session holds {saved} ROIs; saving now keeps {new}. "
                   "Replace it?")
        if self.sync:
            self.errors.append(message)
            return bool(getattr(self, "answer_fewer_rois", False))
        answer = QtWidgets.QMessageBox.question(
            self, "Save session", message, QtWidgets.QMessageBox.StandardButton.Save
            | QtWidgets.QMessageBox.StandardButton.Cancel,
            QtWidgets.QMessageBox.StandardButton.Cancel)
        return answer == QtWidgets.QMessageBox.StandardButton.Save

    def save_masks(self, path: str | Path | None = None) -> Path | None:
        """Save the session (ROIs and every setting) beside the acquisition, or to ``path``."""
        if self.masks is None:
            return None
        self.masks.end_stroke()
        doc = self.session_document()
        try:
            if path is None:
                target = save_session(self.session.path, doc, self._shape,
                                      confirm_fewer=self._confirm_fewer_rois)
                if target is None:
                    self.statusBar().showMessage("Not saved: the saved session was kept", 8000)
                    return None
            else:
                target = write_session_file(path, doc, self._shape)
        except OSError as e:
            self.report_error("Cannot save session", f"{path or session_path_for(self.session.path)}"
                                                      f": {e.strerror or e}")
            return None
        if path is None:
            self.masks.dirty = False
            self._autosaved = self._autosave_key()
        self.statusBar().showMessage(f"Session saved to {target}", 5000)
        return target

    def save_masks_as(self) -> None:
        """Ask where to save the session (ROIs and settings) and save it there."""
        if self.masks is None:
            return
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Save session as", str(session_path_for(self.session.path)),
            "siffviewer session (*.npz)")
        if path:
            self.save_masks(path)

    def load_masks(self, path: str | Path) -> bool:
        """Replace the ROIs by those of the masks file ``path``; on failure show why and
        keep the current ROIs."""
        try:
            self.masks.load(path)
        except (MaskFileError, SiffError, OSError, ValueError) as e:
            reason = f"{path}: {e.strerror}" if isinstance(e, OSError) and e.strerror else str(e)
            self.report_error("Cannot load masks", reason)
            return False
        return True

    def load_masks_dialog(self) -> None:
        """Ask for a masks file in any supported format and load it."""
        export_dialogs.load_masks_dialog(self)

    # ------------------------------------------------------------------ exports menu (wiring)
    def _build_export_menu(self, m: QtWidgets.QMenu) -> None:
        """File menu entries for masks in other tools' formats, NWB, OME-TIFF images, MP4
        movies, the view and plots as PNG/SVG, and batches (see qt/export_dialogs.py)."""
        from .batch_dialog import open_batch_dialog

        ex = export_dialogs
        m.addAction("Export masks as (ImageJ, label TIFF, suite2p)…",
                    lambda: ex.export_masks_dialog(self))
        m.addAction("Export &NWB…", lambda: ex.nwb_dialog(self))
        sub = m.addMenu("E&xport")
        sub.addAction("&Image as OME-TIFF…", lambda: ex.image_dialog(self))
        sub.addAction("&Movie (MP4)…", lambda: ex.movie_dialog(self))
        sub.addSeparator()
        sub.addAction("&View as PNG/SVG…", lambda: ex.view_dialog(self))
        sub.addAction("&Window as PNG/SVG…", lambda: ex.view_dialog(self, whole_window=True))
        sub.addAction("Every &plot as PNG and SVG…", lambda: ex.plots_dialog(self))
        m.addSeparator()
        m.addAction("Apply session to &files…", lambda: open_batch_dialog(self))

    def run_export_job(self, name: str, work, done_message: str):
        """Run ``work(progress, cancelled)`` as a background Job with a progress bar and
        Cancel in the status bar; ``done_message`` is shown when it succeeds."""
        from ..workers import Job

        job = Job(name, work, sync=self.sync, parent=self)
        self._jobs.append(job)
        self._watch_job(job, done_message)
        job.start()
        return job
    # ------------------------------------------------------------------ end exports menu

    # ------------------------------------------------------------------ overview (issue 16.3, 16.5)
    def _install_overview(self, session: Session) -> None:
        """The "All ROIs" tab: every ROI's trace, the heatmap and peri-event averages, fed by
        the traces the Traces panel computes."""
        from .overview_panel import OverviewPanel

        self.overview_panel = OverviewPanel(session, self.state, self.masks, sync=self.sync)
        self.overview_panel.error.connect(lambda m: self.report_error("All ROIs", m))
        self.traces_panel.traces_ready.connect(self.overview_panel.set_traces)
        self.analysis_tabs.addTab(self.overview_panel, "All ROIs")

    def _build_compare_menu(self, menu: QtWidgets.QMenu) -> None:
        menu.addAction("&Compare header with…", self.compare_header_dialog)

    def compare_header_dialog(self) -> None:
        """Ask for another acquisition and show how its header differs from this one's."""
        if self.session is None:
            self.report_error("Compare header", "Open an acquisition first.")
            return
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Compare header with", str(self.session.path.parent), FILE_FILTER)
        if path:
            self.compare_header(path)

    def compare_header(self, path: str | Path):
        """Show the settings that differ from the open file to ``path``; returns the dialog."""
        from ..model.header_diff import diff_headers, read_header
        from .header_diff_dialog import HeaderDiffDialog

        try:
            diff = diff_headers(self.session.header_settings(), read_header(path))
        except (SiffError, OSError, ValueError) as e:
            self.report_error("Compare header", f"{Path(path).name} cannot be compared:\n\n{e}")
            return None
        dialog = HeaderDiffDialog(diff, self.session.path.name, Path(path).name, self)
        dialog.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        self.header_diff_dialog = dialog
        dialog.show()
        return dialog

    # ------------------------------------------------------------------ exports
    def export_traces(self, path: str | Path, wide: bool = False, per_plane: bool = False):
        """Export the traces of every ROI as CSV in the background; returns the Job.

        The same model function as ``siff export-traces``, given this session's document."""
        from ..workers import Job

        session, doc, identity = self.session, self.session_document(), self.identity

        def work(progress, cancelled):
            return exporter.export_session_traces(session, doc, path, wide, progress, cancelled,
                                                  identity, per_plane)

        job = Job("export traces", work, sync=self.sync, parent=self)
        self._jobs.append(job)
        self._watch_job(job, f"Traces exported to {Path(path).name}")
        job.start()
        return job

    def _watch_job(self, job, done_message: str) -> None:
        bar = QtWidgets.QProgressBar()
        bar.setMaximumWidth(220)
        cancel = QtWidgets.QPushButton("Cancel")
        self.statusBar().addPermanentWidget(bar)
        self.statusBar().addPermanentWidget(cancel)
        cancel.clicked.connect(job.cancel)

        def cleanup(*_):
            self.statusBar().removeWidget(bar)
            self.statusBar().removeWidget(cancel)
            bar.deleteLater()
            cancel.deleteLater()

        job.progressed.connect(lambda d, t: (bar.setMaximum(max(1, t)), bar.setValue(d)))
        job.finished_ok.connect(lambda _: self.statusBar().showMessage(done_message, 8000))
        job.failed.connect(lambda m: self.report_error(job.name, m))
        job.cancelled.connect(lambda: self.statusBar().showMessage(f"{job.name} cancelled", 5000))
        for signal in (job.finished_ok, job.failed, job.cancelled):
            signal.connect(cleanup)

    def export_traces_dialog(self) -> None:
        """Ask for a CSV file (tidy or wide) and export the ROI traces to it."""
        if self.masks is None or not self.masks.rois:
            self.report_error("Export traces", "Draw at least one ROI first.")
            return
        path, chosen = QtWidgets.QFileDialog.getSaveFileName(
            self, "Export traces", str(self.session.path.with_suffix(".traces.csv")),
            "Tidy CSV, one row per ROI and timepoint (*.csv);;Wide CSV, one column per ROI (*.csv)")
        if path:
            self.export_traces(path, wide=chosen.startswith("Wide"))

    def export_mask_images_dialog(self) -> None:
        """Ask for a folder and export the masks there as images."""
        if self.masks is None or not self.masks.rois:
            return
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Folder for mask images",
                                                            str(self.session.path.parent))
        if folder:
            self.export_mask_images(folder)

    def export_mask_images(self, folder: str | Path) -> list[Path]:
        """One PNG per ROI and plane in ``folder``; says where, or why not."""
        try:
            written = exporter.export_mask_images(folder, self.masks.stack(),
                                                  [r.name for r in self.masks.rois])
        except OSError as e:
            self.report_error("Export mask images", f"{e.filename or folder}: {e.strerror or e}")
            return []
        self.statusBar().showMessage(f"{len(written)} mask images written to {folder}", 8000)
        return written

    def export_fit_dialog(self) -> None:
        """Ask for a JSON file and export the current lifetime fit to it."""
        fit = getattr(self.lifetime_panel, "fit", None)
        if fit is None:
            self.report_error("Export fit", "Fit a lifetime model first (Lifetime panel).")
            return
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Export lifetime fit", str(self.session.path.with_suffix(".flimfit.json")),
            "JSON (*.json)")
        if path:
            self.export_fit(path)

    def export_fit(self, path: str | Path) -> Path | None:
        """Write the lifetime fit as JSON; says where, or why not."""
        try:
            written = exporter.export_fit_json(path, self.lifetime_panel.fit,
                                               self.lifetime_panel.histogram,
                                               str(self.session.path.resolve()))
        except OSError as e:
            self.report_error("Export lifetime fit", f"{path}: {e.strerror or e}")
            return None
        self.statusBar().showMessage(f"Lifetime fit written to {written}", 8000)
        return written


def value_label(source: str, average: int) -> str:
    """What the image's pixel values are, with their unit, for the colour bar's axis."""
    if source == "frame":
        return "photons" if average <= 1 else "mean photons"
    return {"mean": "mean photons", "max": "max photons", "std": "std of photons",
            "correlation": "local correlation"}.get(source, source)


def recent_labels(paths: list[str]) -> list[str]:
    """Menu labels of recent files: the file name, and for names that occur more than once
    the shortest end of the folder path that tells them apart ("sample.siff — day1")."""
    parts = [Path(p).parts[:-1] for p in paths]
    names = [Path(p).name for p in paths]
    labels = list(names)
    for name in set(names):
        group = [i for i, n in enumerate(names) if n == name]
        if len(group) < 2:
            continue
        depth = max(len(parts[i]) for i in group)
        for k in range(1, depth + 1):
            tails = [parts[i][-k:] for i in group]
            if len(set(tails)) == len(tails):
                break
        for i, tail in zip(group, tails, strict=True):
            labels[i] = f"{name} — {'/'.join(t for t in tail if t != os.sep) or os.sep}"
    return labels
