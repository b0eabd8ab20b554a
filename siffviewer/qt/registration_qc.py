"""Registration QC views: the per-frame quality trace with its flagged timepoints (and
buttons to step between them), and each plane's mean image before and after registration.
Both are computed in the background with progress and cancel."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from libsiff.registration import mean_images

from ..model.registration_review import flagged_timepoints, registration_quality, step_flagged
from ..model.session import Session
from ..model.view_state import ViewState
from ..workers import Job
from . import plot_style
from .frame_view import auto_levels
from .split_view import linked_image_pair


class _JobControls(QtWidgets.QWidget):
    """A start button, a progress bar and a cancel button for one kind of Job."""

    def __init__(self, label: str, parent=None) -> None:
        super().__init__(parent)
        self.job: Job | None = None
        self.start_button = QtWidgets.QPushButton(label)
        self.progress = QtWidgets.QProgressBar()
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for w in (self.start_button, self.progress, self.cancel_button):
            layout.addWidget(w)
        self.cancel_button.clicked.connect(lambda: self.job and self.job.cancel())
        self.busy(False)

    def busy(self, on: bool) -> None:
        """Show the progress and cancel button only while a job runs."""
        self.progress.setVisible(on)
        self.cancel_button.setVisible(on)
        self.start_button.setEnabled(not on)

    def run(self, name: str, work, sync: bool, done, failed) -> Job:
        """Start ``work(progress, cancelled)`` as a Job; ``done(result)`` or ``failed(msg)``."""
        self.job = Job(name, work, sync=sync, parent=self)
        self.job.progressed.connect(lambda d, t: (self.progress.setMaximum(max(1, t)),
                                                  self.progress.setValue(d)))
        self.job.finished_ok.connect(lambda r: (self.busy(False), done(r)))
        self.job.failed.connect(lambda m: (self.busy(False), failed(m)))
        self.job.cancelled.connect(lambda: (self.busy(False), failed(None)))
        self.progress.setValue(0)
        self.busy(True)
        self.job.start()
        return self.job

    def abandon(self) -> None:
        """Stop the job and drop its result (the session is going away)."""
        if self.job is not None:
            self.job.abandon()


class QualityTrace(QtWidgets.QWidget):
    """The quality of every timepoint of the current plane, flagged drops marked (red), and
    buttons that move the view to the previous or next flagged timepoint."""

    error = QtCore.pyqtSignal(str)

    def __init__(self, session: Session, state: ViewState, sync: bool = False, parent=None):
        super().__init__(parent)
        self.session, self.state, self.sync = session, state, sync
        self.quality: np.ndarray | None = None
        self.flagged = np.zeros(0, np.int64)
        self.plot = pg.PlotWidget()
        plot_style.axis_label(self.plot.getPlotItem(), "left", "quality (r)")
        plot_style.axis_label(self.plot.getPlotItem(), "bottom", "timepoint")
        self.curve = self.plot.plot(pen=pg.mkPen("#2ca02c", width=1.2))
        self.marks = pg.ScatterPlotItem(size=9, brush=pg.mkBrush("#d62728"), pen=None,
                                        symbol="t")
        self.plot.addItem(self.marks)
        self.cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#888", width=1))
        self.plot.addItem(self.cursor)
        self.controls = _JobControls("Compute quality")
        self.previous = QtWidgets.QPushButton("◀ flagged")
        self.next = QtWidgets.QPushButton("flagged ▶")
        self.summary = QtWidgets.QLabel()
        self.summary.setMinimumWidth(10)
        self.summary.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored,
                                   QtWidgets.QSizePolicy.Policy.Preferred)
        # two rows: in one, the buttons (and a running job's progress) are wider than the
        # side dock
        seek = QtWidgets.QHBoxLayout()
        for w in (self.previous, self.next, self.summary):
            seek.addWidget(w)
        seek.setStretch(2, 1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.controls)
        layout.addLayout(seek)
        layout.addWidget(self.plot, 1)
        self.controls.start_button.clicked.connect(self.start)
        self.previous.clicked.connect(lambda: self.seek_flagged(-1))
        self.next.clicked.connect(lambda: self.seek_flagged(1))
        self.plot.setToolTip("Correlation of each registered frame with its plane's reference; "
                             "red marks: timepoints more than 4 robust SDs below the median")
        state.subscribe(self._on_state)

    def refresh(self) -> None:
        """Show the registration's quality, computing it in the background when missing."""
        info = self.session.registration
        self.quality = None
        if info is None:
            self.curve.setData([], [])
            self.marks.setData([], [])
            self.summary.setText("No registration yet.")
            plot_style.show_empty(self.plot.getPlotItem(), "No registration yet",
                                  x_range=(0, max(1, self.state.n_timepoints - 1)))
            self.controls.start_button.setEnabled(False)
            self._enable_seek()
            return
        running = self.controls.job is not None and self.controls.job.running
        self.controls.start_button.setEnabled(not running)
        if info.quality is not None:
            self.quality = np.asarray(info.quality, np.float64)
            self._draw()
        elif self.controls.job is None or not self.controls.job.running:
            self.start()

    def start(self) -> None:
        """Compute the quality trace of the current registration in the background."""
        info, session = self.session.registration, self.session
        if info is None:
            return

        def work(progress, cancelled):
            return info, registration_quality(session, info, progress, cancelled)

        self.summary.setText("Computing the quality of every frame…")
        self.controls.run("registration quality", work, self.sync, self._on_done,
                          self._on_failed)

    def _on_done(self, result) -> None:
        info, quality = result
        if info is not self.session.registration:
            return  # a newer registration replaced it
        info.quality = quality
        try:  # keep it in the sidecar for next time
            info.save()
        except OSError:
            pass
        self.quality = quality
        self._draw()

    def _on_failed(self, message: str | None) -> None:
        self.summary.setText("Quality not computed." if message is None else message)
        if message:
            self.error.emit(message)

    def _draw(self) -> None:
        q = self.quality
        plane = min(self.state.plane, q.shape[1] - 1) if q.ndim == 2 else 0
        trace = q[:, plane] if q.ndim == 2 else q
        t = np.arange(len(trace))
        ok = np.isfinite(trace)
        plot_style.clear_empty(self.plot.getPlotItem())
        self.curve.setData(t[ok], trace[ok])
        self.plot.setXRange(0, max(1, len(trace) - 1), padding=0.01)
        self.plot.enableAutoRange(axis="y")
        self.flagged = flagged_timepoints(q, plane)
        self.marks.setData(self.flagged, trace[self.flagged])
        self.summary.setText(f"{len(self.flagged)} flagged (plane {plane})")
        self._enable_seek()

    def _enable_seek(self) -> None:
        has = self.quality is not None and len(self.flagged) > 0
        self.previous.setEnabled(has)
        self.next.setEnabled(has)

    def seek_flagged(self, direction: int) -> int | None:
        """Move the view to the next (1) or previous (-1) flagged timepoint."""
        t = step_flagged(self.flagged, self.state.timepoint, direction)
        if t is not None:
            self.state.update(timepoint=t)
        return t

    def _on_state(self, changed: set[str]) -> None:
        self.cursor.setValue(self.state.timepoint)
        if "plane" in changed and self.quality is not None:
            self._draw()

    def shutdown(self) -> None:
        """Stop background work: the session is being replaced."""
        self.controls.abandon()


class MeanImages(QtWidgets.QWidget):
    """Each plane's mean image before and after registration (``qc.mean_images``), side by
    side with shared levels and linked zoom."""

    error = QtCore.pyqtSignal(str)

    def __init__(self, session: Session, state: ViewState, sync: bool = False, parent=None):
        super().__init__(parent)
        self.session, self.state, self.sync = session, state, sync
        self.means: tuple[np.ndarray, np.ndarray] | None = None
        self._for = None  # the RegistrationInfo the means belong to
        self.controls = _JobControls("Compute mean images")
        self.graphics = pg.GraphicsLayoutWidget()
        self.views, self.items = linked_image_pair(self.graphics,
                                                   ("before registration", "after registration"))
        self.note = QtWidgets.QLabel("Mean of every frame of the plane, in photons per frame.")
        self.note.setWordWrap(True)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.controls)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.note)
        self.controls.start_button.clicked.connect(self.start)
        state.subscribe(lambda changed: "plane" in changed and self._draw())

    def start(self) -> None:
        """Compute the before/after means of every plane in the background."""
        info, session = self.session.registration, self.session
        if info is None:
            self.note.setText("No registration yet.")
            return
        grid = info.frame_grid if info.frame_grid is not None else session.grid

        def work(progress, cancelled):
            return info, mean_images(session.io, info, frame_grid=grid, progress=progress,
                                     cancel=cancelled)

        self.controls.run("mean images", work, self.sync, self._on_done, self._on_failed)

    def _on_done(self, result) -> None:
        info, means = result
        self._for, self.means = info, means
        self._draw()

    def _on_failed(self, message: str | None) -> None:
        self.note.setText("Cancelled." if message is None else message)
        if message:
            self.error.emit(message)

    def refresh(self) -> None:
        """Forget means of a replaced registration."""
        if self._for is not None and self._for is not self.session.registration:
            self.means, self._for = None, None
            for item in self.items:
                item.clear()

    def _draw(self) -> None:
        if self.means is None:
            return
        plane = min(self.state.plane, self.means[0].shape[0] - 1)
        before, after = self.means[0][plane], self.means[1][plane]
        levels = auto_levels(np.concatenate([before.ravel(), after.ravel()]))
        first = self.items[0].image is None
        for item, image in zip(self.items, (before, after), strict=True):
            item.setImage(image, autoLevels=False, levels=levels)
        if first:
            self.views[0].autoRange(padding=0.01)
        self.note.setText(f"Plane {plane}: mean photons per frame before and after "
                          "registration (same levels)")

    def shutdown(self) -> None:
        """Stop background work: the session is being replaced."""
        self.controls.abandon()
