"""Run motion registration in the background and check it: each plane's reference image,
the shift traces (integer shifts applied to reads, and the sub-pixel estimates), the
per-frame quality with flagged frames, before/after mean images, and raw | registered."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from ..model.session import Session
from ..model.view_state import ViewState
from ..workers import Job
from . import plot_style
from .registration_qc import MeanImages, QualityTrace
from .split_view import SplitView


class RegistrationPanel(QtWidgets.QWidget):
    """Controls and results of registration. Emits ``registration_changed`` after a run."""

    registration_changed = QtCore.pyqtSignal()
    error = QtCore.pyqtSignal(str)

    def __init__(self, session: Session, state: ViewState, sync: bool = False, parent=None):
        super().__init__(parent)
        self.session, self.state, self.sync = session, state, sync
        self.job: Job | None = None
        self.method = QtWidgets.QComboBox()
        self.method.addItems(["siffpy", "suite2p"])
        self.method.setToolTip("siffpy: built in (Poisson likelihood, planes and time pooled); "
                               "suite2p: needs the optional suite2p package")
        self.color = QtWidgets.QSpinBox()
        self.color.setRange(0, max(0, session.geometry.n_colors - 1))
        self.color.setPrefix("align on channel ")
        self.run = QtWidgets.QPushButton("Register")
        self.cancel = QtWidgets.QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.hide()  # shown only while a registration runs
        self.status = QtWidgets.QLabel()
        self.status.setWordWrap(True)
        self.reference = pg.GraphicsLayoutWidget()
        self.ref_view = self.reference.addViewBox(lockAspect=True, invertY=True)
        self.ref_view.setMenuEnabled(False)
        self.ref_image = pg.ImageItem(axisOrder="row-major")
        self.ref_view.addItem(self.ref_image)
        self.ref_label = QtWidgets.QLabel()
        self.ref_label.setWordWrap(True)  # the dock is narrow
        self.plot = pg.PlotWidget()
        # ---- cosmetics (plot_style): units without SI prefixes
        plot_style.axis_label(self.plot.getPlotItem(), "bottom", "timepoint")
        plot_style.axis_label(self.plot.getPlotItem(), "left", "shift", "px")
        self.plot.setMinimumHeight(plot_style.minimum_height(self.plot) + 40)  # + some data
        # ---- end of cosmetics
        self.plot.setTitle("<span style='color:#1f77b4'>dy (rows)</span>, <span style='color:"
                           "#d62728'>dx (columns)</span><br>solid: sub-pixel, dashed: applied",
                           size="8pt")
        self.plot.setToolTip("Solid: the sub-pixel shift estimates; dashed: the integer shifts "
                             "that reads apply (photons move by whole pixels)")
        self.dy_curve = self.plot.plot(pen=pg.mkPen("#1f77b4", width=1.5), name="dy sub-pixel")
        self.dx_curve = self.plot.plot(pen=pg.mkPen("#d62728", width=1.5), name="dx sub-pixel")
        dash = QtCore.Qt.PenStyle.DashLine
        self.dy_int = self.plot.plot(pen=pg.mkPen("#1f77b4", width=1, style=dash),
                                     name="dy applied")
        self.dx_int = self.plot.plot(pen=pg.mkPen("#d62728", width=1, style=dash),
                                     name="dx applied")
        self.cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#888", width=1))
        self.plot.addItem(self.cursor)
        controls = QtWidgets.QGridLayout()  # two rows keep the dock narrow
        for i, w in enumerate((self.method, self.color, self.run, self.cancel)):
            controls.addWidget(w, i // 2, i % 2)
        # ---- QC views (issue 16.1) ----
        self.quality = QualityTrace(session, state, sync=sync)
        self.quality.plot.setXLink(self.plot)
        self.means = MeanImages(session, state, sync=sync)
        self.split = SplitView(session, state, sync=sync)
        for view in (self.quality, self.means, self.split):
            view.error.connect(self.error)
        shifts_page = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        reference = QtWidgets.QWidget()
        ref_layout = QtWidgets.QVBoxLayout(reference)
        ref_layout.setContentsMargins(0, 0, 0, 0)
        ref_layout.addWidget(self.ref_label)
        ref_layout.addWidget(self.reference, 1)
        for w in (reference, self.plot, self.quality):
            shifts_page.addWidget(w)
        shifts_page.setSizes([160, 250, 250])
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.setDocumentMode(True)
        # in a scroll area: the three plots keep readable heights without setting the
        # dock's (and so the window's) minimum height
        shifts_scroll = QtWidgets.QScrollArea()
        shifts_scroll.setWidgetResizable(True)
        shifts_scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        shifts_scroll.setWidget(shifts_page)
        self.tabs.addTab(shifts_scroll, "Shifts")
        self.tabs.addTab(self.means, "Means")
        self.tabs.addTab(self.split, "Raw | registered")
        # short titles fit the side column; a narrower one elides them (no hidden tab)
        self.tabs.setUsesScrollButtons(False)
        self.tabs.setElideMode(QtCore.Qt.TextElideMode.ElideRight)
        for i, tip in enumerate(("Shifts and quality of every frame", "Mean images before and "
                                 "after registration", "Raw and registered frames side by side")):
            self.tabs.setTabToolTip(i, tip)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.tabs, 1)
        self.progress.setVisible(False)
        self.run.clicked.connect(self.start)
        self.cancel.clicked.connect(self.stop)
        state.subscribe(self._on_state)
        self.refresh()

    # ---- running ----
    def start(self) -> None:
        """Start registering the acquisition in the background (if not running)."""
        if self.job is not None and self.job.running:
            return
        method, color = self.method.currentText(), self.color.value()
        session = self.session

        def work(progress, cancelled):
            return session.compute_registration(method, color, progress=progress,
                                                cancel=cancelled)

        self.job = Job("registration", work, sync=self.sync, parent=self)
        self.job.progressed.connect(self._on_progress)
        self.job.finished_ok.connect(self._on_done)
        self.job.failed.connect(self._on_failed)
        self.job.cancelled.connect(self._on_cancelled)
        self.run.setEnabled(False)
        self.cancel.setEnabled(True)
        self.progress.setValue(0)
        self.progress.show()
        self.status.setText(f"Registering with {method}…")
        self.job.start()

    def shutdown(self) -> None:
        """Stop background work: the session is being replaced."""
        if self.job is not None:
            self.job.abandon()
        for view in (self.quality, self.means, self.split):
            view.shutdown()

    def stop(self) -> None:
        """Cancel the running registration."""
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Cancelling…")

    def _finish(self) -> None:
        self.progress.setVisible(False)
        self.run.setEnabled(True)
        self.cancel.setEnabled(False)
        self.progress.hide()

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setMaximum(max(1, total))
        self.progress.setValue(done)

    def _on_done(self, info) -> None:
        self._finish()
        saved = self.session.apply_registration(info)
        self.status.setText(f"Done. Saved to {saved.name}" if saved else
                            "Done (could not save next to the file).")
        self.refresh()
        self.registration_changed.emit()

    def _on_failed(self, message: str) -> None:
        self._finish()
        self.status.setText(message)
        self.error.emit(message)

    def _on_cancelled(self) -> None:
        self._finish()
        self.progress.setValue(0)
        self.status.setText("Cancelled; the previous registration is unchanged.")

    # ---- display ----
    def refresh(self) -> None:
        """Show the session's registration: reference image and shifts."""
        info = self.session.registration
        if info is None:
            self.ref_image.clear()
            self.dy_curve.setData([], [])
            self.dx_curve.setData([], [])
            self.dy_int.setData([], [])
            self.dx_int.setData([], [])
            self.ref_label.setText("No registration yet.")
            plot_style.show_empty(self.plot.getPlotItem(), "No registration yet: press Register",
                                  x_range=(0, max(1, self.state.n_timepoints - 1)))
            self.quality.refresh()
            return
        plot_style.clear_empty(self.plot.getPlotItem())
        self._on_state({"plane", "timepoint"})
        self.quality.refresh()
        self.means.refresh()
        self.split.refresh()

    def _on_state(self, changed: set[str]) -> None:
        info = self.session.registration
        self.cursor.setValue(self.state.timepoint)
        if info is None or not changed & {"plane", "timepoint"}:
            return
        plane = self.state.plane
        refs = info.reference_frames
        if refs is not None:
            refs = np.asarray(refs)
            ref = refs if refs.ndim == 2 else refs[min(plane, refs.shape[0] - 1)]
            self.ref_image.setImage(ref, autoLevels=True)
            self.ref_view.autoRange(padding=0.01)
        self.ref_label.setText(f"Reference of plane {plane} ({info.registration_type.value}, "
                               f"aligned on channel {info.registration_color_channel})")
        if "plane" in changed or self.dy_curve.xData is None:
            for shifts, dy, dx in ((info.subpixel_shifts, self.dy_curve, self.dx_curve),
                                   (info.shifts, self.dy_int, self.dx_int)):
                if shifts is None:
                    dy.setData([], [])
                    dx.setData([], [])
                    continue
                s = np.asarray(shifts)[:, min(plane, np.asarray(shifts).shape[1] - 1)]
                t = np.arange(len(s))
                dy.setData(t, s[:, 0])
                dx.setData(t, s[:, 1])
                self.plot.setXRange(0, max(1, len(s) - 1), padding=0.01)
