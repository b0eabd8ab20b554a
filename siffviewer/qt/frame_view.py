"""The image view: a pyqtgraph ImageItem (row-major, square pixels) with a histogram/LUT."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)


class FrameView(QtWidgets.QWidget):
    """Shows one image with explicit levels; emits the pixel under the mouse.

    Levels change only when the user drags them or asks for auto levels, never on every
    frame, so scrolling through time keeps the contrast still."""

    hovered = QtCore.pyqtSignal(int, int)  # row, column (-1, -1 outside)
    levels_changed = QtCore.pyqtSignal(float, float)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget()
        from .mask_tools import ToolViewBox

        self.view = ToolViewBox(lockAspect=True, invertY=True)
        self.graphics.addItem(self.view, row=0, col=0)
        self.view.setMenuEnabled(False)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image_item)
        self.overlay_item = pg.ImageItem(axisOrder="row-major")
        self.overlay_item.setZValue(10)
        self.view.addItem(self.overlay_item)
        self.preview_item = QtWidgets.QGraphicsPathItem()
        self.preview_item.setPen(pg.mkPen("y", width=0, style=QtCore.Qt.PenStyle.DashLine))
        self.preview_item.setZValue(20)
        self.view.addItem(self.preview_item)
        self.histogram = pg.HistogramLUTItem(image=self.image_item)
        self.histogram.gradient.loadPreset("grey")
        self.graphics.addItem(self.histogram, row=0, col=1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)
        self.image: np.ndarray | None = None
        self._shape: tuple[int, int] | None = None
        self.histogram.sigLevelsChanged.connect(self._on_levels)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse)
        self.paint_count = 0

    def set_image(self, image: np.ndarray, levels: tuple[float, float] | None) -> None:
        """Display ``image`` (H, W) with ``levels`` (auto levels when None)."""
        self.image = image
        if levels is None:
            levels = auto_levels(image)
        self.image_item.setImage(image, autoLevels=False, levels=levels)
        self.histogram.setLevels(*levels)
        if image.shape != self._shape:
            self._shape = image.shape
            self.view.autoRange(padding=0.01)
        self.paint_count += 1

    def set_overlay(self, rgba: np.ndarray | None) -> None:
        """Translucent ROI colours over the image (None hides them)."""
        if rgba is None or not rgba[..., 3].any():
            self.overlay_item.clear()
        else:
            self.overlay_item.setImage(rgba, autoLevels=False, levels=(0, 255))

    def set_preview(self, path) -> None:
        from PyQt6 import QtGui

        self.preview_item.setPath(path if path is not None else QtGui.QPainterPath())

    def set_editor(self, editor) -> None:
        """The mask editor that mouse gestures go to (None: pan and zoom only)."""
        self.view.editor = editor

    def set_levels(self, levels: tuple[float, float]) -> None:
        self.image_item.setLevels(levels)
        self.histogram.setLevels(*levels)

    def levels(self) -> tuple[float, float]:
        lo, hi = self.histogram.getLevels()
        return float(lo), float(hi)

    def _on_levels(self, *_):
        lo, hi = self.levels()
        self.levels_changed.emit(lo, hi)

    def _on_mouse(self, pos) -> None:
        if self.image is None or not self.view.sceneBoundingRect().contains(pos):
            self.hovered.emit(-1, -1)
            return
        p = self.view.mapSceneToView(pos)
        row, col = int(np.floor(p.y())), int(np.floor(p.x()))
        h, w = self.image.shape[:2]
        self.hovered.emit(row, col) if 0 <= row < h and 0 <= col < w else self.hovered.emit(-1, -1)


def auto_levels(image: np.ndarray) -> tuple[float, float]:
    """Display range from the 0.5th to the 99.8th percentile (at least one photon wide)."""
    if image.size == 0:
        return (0.0, 1.0)
    sample = image.ravel()[:: max(1, image.size // 200_000)]
    lo, hi = np.percentile(sample, (0.5, 99.8))
    if hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi)
