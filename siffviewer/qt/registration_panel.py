"""Run motion registration in the background, see each plane's reference image and the
shift traces over time."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from ..model.session import Session
from ..model.view_state import ViewState
from ..workers import Job
from . import plot_style


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
        self.plot = pg.PlotWidget()
        # ---- cosmetics (plot_style): units without SI prefixes, legend above the data
        plot_style.axis_label(self.plot.getPlotItem(), "bottom", "timepoint")
        plot_style.axis_label(self.plot.getPlotItem(), "left", "shift", "px")
        plot_style.legend_above(self.plot.getPlotItem())
        self.plot.setMinimumHeight(plot_style.minimum_height(self.plot) + 40)  # + some data
        # ---- end of cosmetics
        self.dy_curve = self.plot.plot(pen=pg.mkPen("#1f77b4", width=1.5), name="dy (rows)")
        self.dx_curve = self.plot.plot(pen=pg.mkPen("#d62728", width=1.5), name="dx (columns)")
        self.cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#888", width=1))
        self.plot.addItem(self.cursor)
        controls = QtWidgets.QHBoxLayout()
        for w in (self.method, self.color, self.run, self.cancel):
            controls.addWidget(w)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.ref_label)
        layout.addWidget(self.reference, 3)
        layout.addWidget(self.plot, 2)
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

    def stop(self) -> None:
        """Cancel the running registration."""
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Cancelling…")

    def _finish(self) -> None:
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
            self.ref_label.setText("No registration yet.")
            plot_style.show_empty(self.plot.getPlotItem(), "No registration yet: press Register",
                                  x_range=(0, max(1, self.state.n_timepoints - 1)))
            return
        plot_style.clear_empty(self.plot.getPlotItem())
        self._on_state({"plane", "timepoint"})

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
            shifts = info.subpixel_shifts if info.subpixel_shifts is not None else info.shifts
            if shifts is not None:
                s = np.asarray(shifts)[:, min(plane, np.asarray(shifts).shape[1] - 1)]
                t = np.arange(len(s))
                self.dy_curve.setData(t, s[:, 0])
                self.dx_curve.setData(t, s[:, 1])
