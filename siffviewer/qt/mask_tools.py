"""Drawing on the frame view: brush, eraser, polygon, ellipse, rectangle, move, fill and
threshold tools that turn mouse gestures into MaskSet edits, and the translucent overlay."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtGui

from ..model.masks import MaskSet, ellipse_mask, polygon_mask, rectangle_mask

TOOLS = ("pan", "brush", "eraser", "polygon", "ellipse", "rectangle", "move", "fill", "threshold")


class ToolViewBox(pg.ViewBox):
    """A ViewBox that hands mouse gestures to a drawing tool instead of panning."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.editor: MaskEditor | None = None

    def _active(self) -> bool:
        return self.editor is not None and self.editor.tool != "pan"

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 - pyqtgraph override
        if not self._active() or ev.button() != QtCore.Qt.MouseButton.LeftButton:
            return super().mouseDragEvent(ev, axis)
        ev.accept()
        p = self.mapSceneToView(ev.scenePos())
        start = self.mapSceneToView(ev.buttonDownScenePos())
        if ev.isStart():
            self.editor.press(start.y(), start.x())
        self.editor.drag(p.y(), p.x())
        if ev.isFinish():
            self.editor.release(p.y(), p.x())

    def mouseClickEvent(self, ev):  # noqa: N802 - pyqtgraph override
        if not self._active() or ev.button() != QtCore.Qt.MouseButton.LeftButton:
            return super().mouseClickEvent(ev)
        ev.accept()
        p = self.mapSceneToView(ev.scenePos())
        self.editor.click(p.y(), p.x(), double=ev.double())


class MaskEditor(QtCore.QObject):
    """Turns gestures (in image coordinates: row = y, column = x) into MaskSet edits.

    ``roi_id`` and ``plane`` say what is edited; ``tool`` is one of :data:`TOOLS`."""

    preview_changed = QtCore.pyqtSignal()

    def __init__(self, masks: MaskSet, parent=None) -> None:
        super().__init__(parent)
        self.masks = masks
        self.tool = "pan"
        self.roi_id: int | None = None
        self.plane = 0
        self.brush_radius = 3.0
        self.threshold_image: np.ndarray | None = None  # the displayed image (set_threshold_image)
        self.threshold_level = 1.0
        self.polygon: list[tuple[float, float]] = []  # (x, y) vertices
        self._polygon_target: tuple[int, int] | None = None  # (roi_id, plane)
        self._start: tuple[float, float] | None = None
        self._last: tuple[float, float] | None = None
        self.preview: QtGui.QPainterPath | None = None

    @property
    def shape2d(self) -> tuple[int, int]:
        """``(rows, columns)`` of one plane of the masks."""
        return self.masks.shape[1:]

    def _roi(self) -> int | None:
        if self.roi_id is None or not any(r.roi_id == self.roi_id for r in self.masks.rois):
            return None
        return self.roi_id

    # ---- gestures ----
    def set_threshold_image(self, image: np.ndarray | None) -> None:
        """The image the threshold tool picks pixels from (the one on screen)."""
        self.threshold_image = image

    def press(self, row: float, col: float) -> None:
        """Mouse pressed at image pixel (``row``, ``col``): start a stroke or a shape."""
        rid = self._roi()
        self._start = self._last = (row, col)
        if rid is not None and self.tool in ("brush", "eraser"):
            self.masks.begin_stroke("erase" if self.tool == "eraser" else "paint")
            self.masks.dab(rid, self.plane, row, col, self.brush_radius, self.tool == "eraser")

    def drag(self, row: float, col: float) -> None:
        """Mouse dragged to (``row``, ``col``): paint along the path or update the shape preview."""
        rid = self._roi()
        if rid is None or self._start is None:
            return
        if self.tool in ("brush", "eraser"):
            # dabs every half radius along the segment, so fast strokes leave no gaps
            r0, c0 = self._last
            steps = int(max(1, np.hypot(row - r0, col - c0) / max(0.5, self.brush_radius / 2)))
            for k in range(1, steps + 1):
                f = k / steps
                self.masks.dab(rid, self.plane, r0 + f * (row - r0), c0 + f * (col - c0),
                               self.brush_radius, self.tool == "eraser")
        elif self.tool in ("ellipse", "rectangle"):
            (r0, c0) = self._start
            path = QtGui.QPainterPath()
            rect = QtCore.QRectF(QtCore.QPointF(c0, r0), QtCore.QPointF(col, row)).normalized()
            path.addEllipse(rect) if self.tool == "ellipse" else path.addRect(rect)
            self.preview = path
            self.preview_changed.emit()
        self._last = (row, col)

    def release(self, row: float, col: float) -> None:
        """Mouse released at (``row``, ``col``): finish the stroke, shape or move."""
        rid = self._roi()
        start, self._start = self._start, None
        if rid is None or start is None:
            return
        if self.tool in ("brush", "eraser"):
            self.masks.end_stroke()
        elif self.tool in ("ellipse", "rectangle"):
            make = ellipse_mask if self.tool == "ellipse" else rectangle_mask
            region = make(self.shape2d, start[1], start[0], col, row)
            self.masks.apply_region(rid, self.plane, region, "add", self.tool)
            self.preview = None
            self.preview_changed.emit()
        elif self.tool == "move":
            dy, dx = int(round(row - start[0])), int(round(col - start[1]))
            if dy or dx:
                self.masks.move(rid, dy, dx)

    def click(self, row: float, col: float, double: bool = False) -> None:
        """Click at (``row``, ``col``): a dab, a polygon vertex (``double`` closes it), a
        hole fill or a threshold region, depending on the tool."""
        rid = self._roi()
        if rid is None:
            return
        H, W = self.shape2d
        inside = 0 <= row < H and 0 <= col < W
        if self.tool in ("brush", "eraser") and inside:
            self.masks.dab(rid, self.plane, row, col, self.brush_radius, self.tool == "eraser")
        elif self.tool == "polygon":
            if double or (len(self.polygon) >= 3 and np.hypot(col - self.polygon[0][0],
                                                               row - self.polygon[0][1]) < 1.5):
                self.close_polygon()
            else:
                if not self.polygon:  # the polygon belongs to the ROI and plane it began in
                    self._polygon_target = (rid, self.plane)
                self.polygon.append((col, row))
                path = QtGui.QPainterPath(QtCore.QPointF(*self.polygon[0]))
                for x, y in self.polygon[1:]:
                    path.lineTo(x, y)
                self.preview = path
                self.preview_changed.emit()
        elif self.tool == "fill" and inside:
            self.masks.fill_holes(rid, self.plane)
        elif self.tool == "threshold" and inside and self.threshold_image is not None:
            self.masks.threshold_region(rid, self.plane, self.threshold_image,
                                        self.threshold_level, seed=(int(row), int(col)))

    def set_tool(self, name: str) -> None:
        """Switch tools; an unfinished polygon is closed into the ROI and plane it was
        drawn in (never into whichever is current now)."""
        if name not in TOOLS:
            raise ValueError(f"unknown tool {name!r}")
        if self.polygon:
            self.close_polygon()
        self.tool = name

    def set_plane(self, plane: int) -> None:
        """Edit plane ``plane`` from now on."""
        self.plane = int(plane)

    def close_polygon(self) -> None:
        """Close the polygon being drawn into the ROI and plane it was begun in."""
        rid, plane = self._polygon_target or (None, self.plane)
        exists = rid is not None and any(r.roi_id == rid for r in self.masks.rois)
        if exists and len(self.polygon) >= 3:
            self.masks.apply_region(rid, plane, polygon_mask(self.shape2d, self.polygon),
                                    "add", "polygon")
        self._polygon_target = None
        self.polygon = []
        self.preview = None
        self.preview_changed.emit()


def overlay_rgba(masks: MaskSet, plane: int, selected: int | None = None,
                 alpha: int = 90, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """RGBA ``(H, W, 4)`` uint8 of the visible ROIs in ``plane`` (the selected one brighter,
    outlines opaque); only the rows y0:y1 and columns x0:x1 of ``box`` when given."""
    H, W = masks.shape[1:]
    if box is not None:  # one pixel of context on each side keeps the outlines exact
        y0, y1, x0, x1 = box
        py0, py1, px0, px1 = max(0, y0 - 1), min(H, y1 + 1), max(0, x0 - 1), min(W, x1 + 1)
        full = overlay_rgba(_Window(masks, plane, py0, py1, px0, px1), 0, selected, alpha)
        return full[y0 - py0: y1 - py0, x0 - px0: x1 - px0]
    out = np.zeros((H, W, 4), np.uint8)
    for roi in masks.rois:
        if not roi.visible:
            continue
        m = roi.mask[plane]
        if not m.any():
            continue
        a = min(255, alpha + 50) if roi.roi_id == selected else alpha
        out[m, :3] = roi.color
        out[m, 3] = a
        edge = m & ~_erode(m)
        out[edge, :3] = roi.color
        out[edge, 3] = 255
    return out


class _Window:
    """A MaskSet-like view of one plane's window (what ``overlay_rgba`` reads)."""

    def __init__(self, masks: MaskSet, plane: int, y0: int, y1: int, x0: int, x1: int) -> None:
        self.shape = (1, y1 - y0, x1 - x0)
        self.rois = [_RoiWindow(r.roi_id, r.visible, r.color, r.mask[plane:plane + 1, y0:y1, x0:x1])
                     for r in masks.rois]


class _RoiWindow:
    def __init__(self, roi_id, visible, color, mask) -> None:
        self.roi_id, self.visible, self.color, self.mask = roi_id, visible, color, mask


def _erode(m: np.ndarray) -> np.ndarray:
    e = m.copy()
    e[1:] &= m[:-1]
    e[:-1] &= m[1:]
    e[:, 1:] &= m[:, :-1]
    e[:, :-1] &= m[:, 1:]
    return e
