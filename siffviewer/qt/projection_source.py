"""The "draw on" choice of the main view: the current frame(s) or a projection of the
plane (mean, max, std, local correlation), computed in the background with progress and
cancel, and cached per plane, colour and registration state."""

from __future__ import annotations

from PyQt6 import QtCore, QtWidgets

from ..model.projections import SOURCE_LABELS, SOURCES, ProjectionCache, plane_projections
from ..model.session import Session
from ..model.view_state import ViewState
from ..workers import Job


class ProjectionSource(QtWidgets.QWidget):
    """A combo box for ``ViewState.source`` and the job computing missing projections.

    Emits ``ready`` when the projections of a plane arrive (the view should redraw)."""

    ready = QtCore.pyqtSignal()
    error = QtCore.pyqtSignal(str)

    def __init__(self, session: Session, state: ViewState, cache: ProjectionCache,
                 sync: bool = False, parent=None) -> None:
        super().__init__(parent)
        self.session, self.state, self.cache, self.sync = session, state, cache, sync
        self.job: Job | None = None
        self._job_key: tuple | None = None
        self.combo = QtWidgets.QComboBox()
        for source in SOURCES:
            self.combo.addItem(SOURCE_LABELS[source], source)
        self.combo.setToolTip("What the main view shows: the current frame(s), or an image of "
                              "the whole plane over every timepoint (computed once, then cached)")
        self.progress = QtWidgets.QProgressBar()
        self.progress.setMaximumWidth(90)
        self.progress.setFormat("%p%")
        self.cancel = QtWidgets.QPushButton("Cancel")
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QtWidgets.QLabel("Draw on"))
        for w in (self.combo, self.progress, self.cancel):
            layout.addWidget(w)
        self._show_busy(False)
        self.combo.currentIndexChanged.connect(
            lambda i: state.update(source=self.combo.itemData(i)))
        self.cancel.clicked.connect(self.stop)
        state.subscribe(self._on_state)
        self._on_state({"source"})

    def registration_for_reads(self, registered: bool):
        """The RegistrationInfo the reads use (None: raw frames)."""
        return self.session.registration if registered else None

    def missing(self) -> bool:
        """True when the state asks for a projection that is not cached yet."""
        s = self.state
        if s.source == "frame":
            return False
        reg = self.registration_for_reads(s.registered)
        return self.cache.get(s.plane, s.color, reg, s.source) is None

    def _on_state(self, changed: set[str]) -> None:
        s = self.state
        index = self.combo.findData(s.source)
        if self.combo.currentIndex() != index:
            self.combo.blockSignals(True)
            self.combo.setCurrentIndex(index)
            self.combo.blockSignals(False)
        if changed & {"source", "plane", "color", "registered"} and self.missing():
            self.start()

    def refresh(self) -> None:
        """Compute what the view asks for if it is missing (e.g. after a new registration)."""
        if self.missing():
            self.start()

    def start(self) -> None:
        """Compute the projections of the current plane, colour and registration state."""
        s = self.state
        reg = self.registration_for_reads(s.registered)
        key = ProjectionCache.key(s.plane, s.color, reg)
        if self.job is not None and self.job.running:
            if key == self._job_key:
                return
            self.job.abandon()
        plane, color, session = s.plane, s.color, self.session
        frames = session.plane_frames(plane, color)
        shifts = session.shifts(reg is not None)

        def work(progress, cancelled):
            return plane_projections(session.io, frames, shifts, progress, cancelled)

        self._job_key = key
        self.job = Job("projection", work, sync=self.sync, parent=self)
        self.job.progressed.connect(self._on_progress)
        self.job.finished_ok.connect(lambda images, p=plane, c=color, r=reg:
                                     self._on_done(p, c, r, images))
        self.job.failed.connect(self._on_failed)
        self.job.cancelled.connect(self._on_cancelled)
        self.progress.setValue(0)
        self._show_busy(True)
        self.job.start()

    def stop(self) -> None:
        """Cancel the running computation (the view goes back to the frames)."""
        if self.job is not None:
            self.job.cancel()

    def shutdown(self) -> None:
        """Stop background work: the session is being replaced."""
        if self.job is not None:
            self.job.abandon()

    def _show_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel.setVisible(busy)

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setMaximum(max(1, total))
        self.progress.setValue(done)

    def _on_done(self, plane: int, color: int, registration, images: dict) -> None:
        self.cache.put(plane, color, registration, images)
        self._show_busy(False)
        self.ready.emit()
        if self.missing():  # the user moved on while this one ran
            self.start()

    def _on_failed(self, message: str) -> None:
        self._show_busy(False)
        self.error.emit(message)
        self.state.update(source="frame")

    def _on_cancelled(self) -> None:
        self._show_busy(False)
        self.state.update(source="frame")
