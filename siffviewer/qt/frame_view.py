"""The image view: a pyqtgraph ImageItem (row-major, square pixels) with a histogram/LUT."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtGui, QtWidgets

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)


class OverlayItem(QtWidgets.QGraphicsObject):
    """The ROI overlay: an RGBA array drawn as a QImage that shares its memory, so a brush
    dab repaints only the dab's box (pyqtgraph's ImageItem re-renders the whole image)."""

    def __init__(self) -> None:
        super().__init__()
        self.image: np.ndarray | None = None
        self._qimage: QtGui.QImage | None = None
        self.paint_count = 0

    def set_rgba(self, rgba: np.ndarray | None) -> None:
        """Show ``rgba`` (H, W, 4) uint8 (kept by reference: edit it, then update_box)."""
        self.prepareGeometryChange()
        if rgba is None:
            self.image, self._qimage = None, None
        else:
            self.image = np.ascontiguousarray(rgba, np.uint8)
            h, w = self.image.shape[:2]
            self._qimage = QtGui.QImage(self.image.data, w, h, 4 * w,
                                        QtGui.QImage.Format.Format_RGBA8888)
        self.update()

    def update_box(self, y0: int, y1: int, x0: int, x1: int) -> None:
        """Repaint the rows y0:y1 and columns x0:x1 (changed in place in ``image``)."""
        self.update(QtCore.QRectF(x0, y0, x1 - x0, y1 - y0))

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 - Qt override
        if self.image is None:
            return QtCore.QRectF()
        return QtCore.QRectF(0, 0, self.image.shape[1], self.image.shape[0])

    def paint(self, painter, option, widget=None) -> None:
        if self._qimage is None:
            return
        rect = option.exposedRect.intersected(self.boundingRect()).toAlignedRect()
        if rect.isEmpty():
            return
        painter.drawImage(QtCore.QRectF(rect), self._qimage, QtCore.QRectF(rect))
        self.paint_count += 1


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
        self.overlay_item = OverlayItem()
        self.overlay_item.setFlag(
            QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)  # exposedRect
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
        self.scale_bar: pg.ScaleBar | None = None
        self.scale_bar_um: float | None = None
        self.um_per_pixel: float | None = None
        self.lut_name = "grey"

    def forget_image(self) -> None:
        """Drop the shown image's data (a new file is opening; its first frame replaces it)."""
        self.image = None

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
            self._place_scale_bar()
        self.paint_count += 1

    def set_overlay(self, rgba: np.ndarray | None, box: tuple[int, int, int, int] | None = None
                    ) -> None:
        """Translucent ROI colours over the image (None hides them). With ``box``
        (y0, y1, x0, x1), ``rgba`` is the array already shown, changed only there."""
        if box is not None and rgba is self.overlay_item.image:
            self.overlay_item.update_box(*box)
        else:
            self.overlay_item.set_rgba(rgba)

    def set_preview(self, path) -> None:
        """Show ``path`` (a QPainterPath) as the drawing preview; None clears it."""
        from PyQt6 import QtGui

        self.preview_item.setPath(path if path is not None else QtGui.QPainterPath())

    def set_editor(self, editor) -> None:
        """The mask editor that mouse gestures go to (None: pan and zoom only)."""
        self.view.editor = editor

    # ---- review: scale bar and colour map (issue 16.4) ----
    def set_pixel_size(self, um_per_pixel: float | None) -> None:
        """Show a scale bar of a round length in µm (None hides it)."""
        self.um_per_pixel = um_per_pixel
        self._place_scale_bar()

    def _place_scale_bar(self) -> None:
        if self.scale_bar is not None:
            if self.scale_bar.scene() is not None:
                self.scale_bar.scene().removeItem(self.scale_bar)
            self.scale_bar = None
        self.scale_bar_um = None
        um_per_pixel = self.um_per_pixel
        if not um_per_pixel or self._shape is None:
            return
        self.scale_bar_um = nice_length(self._shape[1] * um_per_pixel / 5)
        self.scale_bar = pg.ScaleBar(size=self.scale_bar_um / um_per_pixel, width=4,
                                     brush=pg.mkBrush("w"), pen=pg.mkPen("k"), suffix="",
                                     offset=(-20, -20))
        self.scale_bar.text.setText(f"{self.scale_bar_um:g} µm")
        self.scale_bar.setParentItem(self.view)
        self.scale_bar.setZValue(30)

    def set_value_label(self, text: str) -> None:
        """Name (with unit) of the pixel values, on the colour bar's axis."""
        from .plot_style import LABEL_SIZE

        axis = self.histogram.axis
        axis.enableAutoSIPrefix(False)
        axis.setLabel(text, **{"font-size": LABEL_SIZE, "color": axis.textPen().color().name()})

    def value_label(self) -> str:
        """The colour bar's axis label as set by :meth:`set_value_label`."""
        return self.histogram.axis.labelText

    def set_lut(self, name: str) -> None:
        """Colour map of the image (a pyqtgraph gradient preset: grey, viridis, ...)."""
        self.histogram.gradient.loadPreset(name)
        self.lut_name = name

    # ---- end review ----
    def set_levels(self, levels: tuple[float, float]) -> None:
        """Set the display levels (low, high) of the image and its histogram."""
        self.image_item.setLevels(levels)
        self.histogram.setLevels(*levels)

    def levels(self) -> tuple[float, float]:
        """The display levels (low, high) of the histogram widget."""
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


def nice_length(target: float) -> float:
    """The largest 1, 2 or 5 times a power of ten not above ``target`` (> 0)."""
    power = 10.0 ** np.floor(np.log10(target))
    return float(max(m * power for m in (1, 2, 5) if m * power <= target))


def auto_levels(image: np.ndarray) -> tuple[float, float]:
    """Display range from the 0.5th to the 99.8th percentile (at least one photon wide)."""
    if image.size == 0:
        return (0.0, 1.0)
    sample = image.ravel()[:: max(1, image.size // 200_000)]
    lo, hi = np.percentile(sample, (0.5, 99.8))
    if hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi)
