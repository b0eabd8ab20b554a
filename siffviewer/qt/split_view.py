"""Raw | registered: the current frame(s) read without and with the registration, side by
side (one above the other in a tall pane), with the same levels and linked zoom and pan."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from ..model.registration_review import raw_and_registered
from ..model.session import Session
from ..model.view_state import ViewState
from ..workers import LatestLoader
from . import on_screen
from .frame_view import auto_levels


class _PairLayout(QtCore.QObject):
    """Keeps two titled views side by side in a wide pane and one above the other in a tall
    one (the side column of the window is tall and narrow): the images get the larger size."""

    def __init__(self, graphics: pg.GraphicsLayoutWidget, labels, views) -> None:
        super().__init__(graphics)
        self.graphics, self.labels, self.views = graphics, labels, views
        self.stacked: bool | None = None
        self.arrange(False)
        graphics.installEventFilter(self)

    def arrange(self, stacked: bool) -> None:
        """Lay the pair out one above the other (``stacked``) or side by side."""
        if stacked == self.stacked:
            return
        self.stacked = stacked
        layout = self.graphics.ci
        for item in self.labels + self.views:
            if item.scene() is not None:
                layout.removeItem(item)
        for i, (label, view) in enumerate(zip(self.labels, self.views, strict=True)):
            row, col = (2 * i, 0) if stacked else (0, i)
            layout.addItem(label, row=row, col=col)
            layout.addItem(view, row=row + 1, col=col)
        # refit the images to their new cells once laid out (linked views keep no auto range)
        QtCore.QTimer.singleShot(0, self._refit)

    def _refit(self) -> None:
        try:
            view = self.views[0]
            if view.scene() is not None and view.childrenBounds() != [None, None]:
                view.autoRange(padding=0.01)
        except RuntimeError:  # the pane was deleted before the timer fired
            pass

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        """On resize: stacked when the pane is taller than wide; on show: refit."""
        if event.type() == QtCore.QEvent.Type.Resize:
            self.arrange(obj.height() > obj.width())
        elif event.type() == QtCore.QEvent.Type.Show:  # images set while hidden: fit them now
            QtCore.QTimer.singleShot(0, self._refit)
        return False


def linked_image_pair(graphics: pg.GraphicsLayoutWidget, titles: tuple[str, str]):
    """Two titled image views in ``graphics``, panning and zooming together: side by side,
    or one above the other when the pane is taller than wide.

    Returns
    -------
    views : list of pg.ViewBox
    items : list of pg.ImageItem
        One per title, left to right (top to bottom).
    """
    views: list[pg.ViewBox] = []
    items: list[pg.ImageItem] = []
    labels: list[pg.LabelItem] = []
    for title in titles:
        labels.append(pg.LabelItem(title, size="9pt"))
        view = pg.ViewBox(lockAspect=True, invertY=True)
        view.setMenuEnabled(False)
        item = pg.ImageItem(axisOrder="row-major")
        view.addItem(item)
        views.append(view)
        items.append(item)
    views[1].setXLink(views[0])
    views[1].setYLink(views[0])
    graphics._pair_layout = _PairLayout(graphics, labels, views)  # kept with the widget
    return views, items


class SplitView(QtWidgets.QWidget):
    """Two linked image views of the current view state: raw (left), registered (right)."""

    error = QtCore.pyqtSignal(str)

    def __init__(self, session: Session, state: ViewState, sync: bool = False, parent=None):
        super().__init__(parent)
        self.session, self.state, self.sync = session, state, sync
        self.graphics = pg.GraphicsLayoutWidget()
        self.views, self.items = linked_image_pair(self.graphics, ("raw", "registered"))
        self.note = QtWidgets.QLabel()
        self.note.setWordWrap(True)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.note)
        self.images: tuple[np.ndarray, np.ndarray] | None = None
        self.levels: tuple[float, float] | None = None
        self.loader = LatestLoader(self._load, sync=sync, parent=self)
        self.loader.loaded.connect(self._show)
        self.loader.failed.connect(lambda key, msg: self.error.emit(msg))
        state.subscribe(self._on_state)

    def _key(self):
        s = self.state
        return (s.timepoint, s.plane, s.color, s.average)

    def _load(self, key):  # worker thread: inputs from the key only
        if self.session.registration is None:
            return None
        return raw_and_registered(self.session, *key)

    def _show(self, key, images) -> None:
        if images is None:
            for item in self.items:
                item.clear()
            self.images = None
            self.note.setText("No registration yet: register to compare raw and registered frames.")
            return
        self.images = images
        first = self.items[0].image is None
        # the same levels on both sides: the main view's, else from the raw image
        self.levels = tuple(self.state.levels) if self.state.levels is not None \
            and self.state.source == "frame" else auto_levels(images[0])
        for item, image in zip(self.items, images, strict=True):
            item.setImage(image, autoLevels=False, levels=self.levels)
        if first:
            self.views[0].autoRange(padding=0.01)
        t, z, c, avg = key
        self.note.setText(f"timepoint {t}, plane {z}, channel {c}"
                          f"{f', mean of {avg} asked' if avg > 1 else ''}; same levels "
                          f"{self.levels[0]:.3g}–{self.levels[1]:.3g} on both sides")

    def refresh(self) -> None:
        """Reload both images (when visible, or synchronous)."""
        if on_screen(self) or self.sync:
            self.loader.request(self._key())

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self.refresh()

    def _on_state(self, changed: set[str]) -> None:
        if changed & {"timepoint", "plane", "color", "average", "levels"}:
            self.refresh()

    def shutdown(self) -> None:
        """Stop background loading: the session is being replaced."""
        self.loader.stop(wait=False)
