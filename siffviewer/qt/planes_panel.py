"""All planes side by side: the current timepoint, or each plane's mean projection over the
whole session (computed in the background with progress and cancel)."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from ..model.session import Session
from ..model.view_state import ViewState
from ..workers import Job, LatestLoader
from . import on_screen
from .frame_view import auto_levels


class PlanesPanel(QtWidgets.QWidget):
    """A grid of every plane for the current channel."""

    error = QtCore.pyqtSignal(str)

    def __init__(self, session: Session, state: ViewState, sync: bool = False, parent=None):
        super().__init__(parent)
        self.session, self.state, self.sync = session, state, sync
        self.projections: dict[tuple[int, bool], np.ndarray] = {}  # (color, registered) -> (Z,H,W)
        self.job: Job | None = None
        self.mode = QtWidgets.QComboBox()
        self.mode.addItems(["Current timepoint", "Mean projection"])
        self.compute = QtWidgets.QPushButton("Compute mean projections")
        self.cancel = QtWidgets.QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.progress = QtWidgets.QProgressBar()
        self.progress.hide()  # shown only while a projection runs
        self.graphics = pg.GraphicsLayoutWidget()
        Z = session.geometry.n_planes
        self.items: list[pg.ImageItem] = []
        self.views: list[pg.ViewBox] = []
        self.labels: list[pg.LabelItem] = []
        for z in range(Z):
            view = pg.ViewBox(lockAspect=True, invertY=True)
            view.setMenuEnabled(False)
            item = pg.ImageItem(axisOrder="row-major")
            view.addItem(item)
            self.items.append(item)
            self.views.append(view)
            self.labels.append(pg.LabelItem(f"plane {z}", size="9pt"))
        self.columns = 0
        self._arrange(max(1, math.ceil(math.sqrt(Z * 1.6))))
        buttons = QtWidgets.QHBoxLayout()  # two rows keep the dock narrow (more room for the image)
        for w in (self.compute, self.cancel):
            buttons.addWidget(w)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.mode)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.graphics, 1)
        self.loader = LatestLoader(self._load, sync=sync, parent=self)
        self.loader.loaded.connect(self._show)
        self.loader.failed.connect(lambda key, msg: self.error.emit(msg))
        self.mode.currentIndexChanged.connect(lambda _: self.refresh())
        self.compute.clicked.connect(self.start_projection)
        self.cancel.clicked.connect(lambda: self.job and self.job.cancel())
        state.subscribe(self._on_state)
        self.refresh()

    def _arrange(self, columns: int) -> None:
        """Lay the planes out in ``columns`` columns (a label above each)."""
        if columns == self.columns:
            return
        self.columns = columns
        layout = self.graphics.ci
        for widget in self.labels + self.views:
            if widget.scene() is not None:
                layout.removeItem(widget)
        for z, (label, view) in enumerate(zip(self.labels, self.views, strict=True)):
            layout.addItem(label, row=(z // columns) * 2, col=z % columns)
            layout.addItem(view, row=(z // columns) * 2 + 1, col=z % columns)

    def best_columns(self, width: float, height: float) -> int:
        """The column count that shows the planes largest in a ``width`` x ``height`` pane
        (one row in a wide pane, one column in a tall narrow one)."""
        g = self.session.geometry
        Z, label = len(self.views), 20

        def scale(cols):
            rows = math.ceil(Z / cols)
            return min(width / cols / g.width, max(1.0, height / rows - label) / g.height)

        return max(range(1, Z + 1), key=lambda c: (scale(c), -c))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        """Reflow the planes to the pane's shape."""
        super().resizeEvent(event)
        size = self.graphics.size()
        if size.width() > 0 and size.height() > 0:
            self._arrange(self.best_columns(size.width(), size.height()))

    def _key(self):
        s = self.state
        return (self.mode.currentIndex(), s.timepoint, s.color, s.average, s.registered)

    def _load(self, key):  # worker thread
        mode, t, c, avg, reg = key
        if mode == 1:
            return self.projections.get((c, reg))
        return np.stack([self.session.read_image(t, z, c, avg, reg)
                         for z in range(self.session.geometry.n_planes)])

    def _show(self, key, stack) -> None:
        if stack is None:
            for item in self.items:
                item.clear()
            return
        levels = auto_levels(np.asarray(stack))
        for item, view, image in zip(self.items, self.views, stack, strict=False):
            first = item.image is None
            item.setImage(image, autoLevels=False, levels=levels)
            if first:
                view.autoRange(padding=0.01)
                view.enableAutoRange()  # refit when the grid reflows, until the user zooms

    def refresh(self) -> None:
        """Reload the plane images when the panel is visible (or synchronous)."""
        if on_screen(self) or self.sync:
            self.loader.request(self._key())

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self.refresh()

    def _on_state(self, changed: set[str]) -> None:
        if changed & {"timepoint", "color", "average", "registered"}:
            self.refresh()

    def shutdown(self) -> None:
        """Stop background work: the session is being replaced."""
        self.loader.stop(wait=False)
        if self.job is not None:
            self.job.abandon()

    def start_projection(self) -> None:
        """Compute the mean projection of every plane in the background."""
        color, reg = self.state.color, self.state.registered
        session = self.session
        Z = session.geometry.n_planes

        def work(progress, cancelled):
            planes = []
            for z in range(Z):
                planes.append(session.mean_projection(
                    z, color, reg, progress=lambda d, t, z=z: progress(z * t + d, Z * t),
                    cancel=cancelled))
            return (color, reg), np.stack(planes)

        self.job = Job("mean projection", work, sync=self.sync, parent=self)
        self.job.progressed.connect(lambda d, t: (self.progress.setMaximum(max(1, t)),
                                                  self.progress.setValue(d)))
        self.job.finished_ok.connect(self._projection_done)
        self.job.failed.connect(self._projection_failed)
        self.job.cancelled.connect(self._projection_failed)
        self.compute.setEnabled(False)
        self.cancel.setEnabled(True)
        self.progress.show()
        for signal in (self.job.finished_ok, self.job.failed, self.job.cancelled):
            signal.connect(lambda *_: self.progress.hide())
        self.job.start()

    def _projection_done(self, result) -> None:
        key, stack = result
        self.projections[key] = stack
        self.compute.setEnabled(True)
        self.cancel.setEnabled(False)
        self.mode.setCurrentIndex(1)
        self.refresh()

    def _projection_failed(self, message: str | None = None) -> None:
        self.compute.setEnabled(True)
        self.cancel.setEnabled(False)
        self.progress.setValue(0)
        if message:
            self.error.emit(message)
