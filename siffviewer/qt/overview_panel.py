"""All ROIs at a glance: every visible ROI's trace, a heatmap of ROIs × time and peri-event
averages, for one quantity (photons, dF/F or lifetime). A click on a trace or on the heatmap
moves the session to that time (through the view state)."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from ..model.masks import MaskSet
from ..model.peri_event import (
    PeriEvent,
    event_labels,
    event_times,
    peri_event_average,
    write_peri_event_csv,
)
from ..model.roi_matrix import QUANTITIES, roi_values
from ..model.traces import Baseline, Traces
from ..model.view_state import ViewState
from ..workers import LatestLoader
from . import plot_style

CURSOR_PEN = pg.mkPen("#f0c000", width=1.5)


def nearest_timepoint(time_s: np.ndarray, x: float) -> int | None:
    """Index of the timepoint whose time is nearest ``x`` (None without known times)."""
    t = np.asarray(time_s, np.float64)
    if not len(t) or not np.isfinite(t).any() or not np.isfinite(x):
        return None
    return int(np.nanargmin(np.abs(t - x)))


def install_click_seek(plot: pg.PlotItem, times: Callable[[], np.ndarray | None],
                       state: ViewState) -> None:
    """A left click inside ``plot`` moves ``state`` to the timepoint nearest the clicked time.

    ``times()`` gives the time (s) of every timepoint on the plot's x axis."""
    def clicked(event) -> None:
        if event.button() != QtCore.Qt.MouseButton.LeftButton or event.double():
            return
        if not plot.vb.sceneBoundingRect().contains(event.scenePos()):
            return
        t = times()
        index = None if t is None else nearest_timepoint(t, plot.vb.mapSceneToView(event.scenePos()).x())
        if index is not None:
            state.update(timepoint=index)

    plot.scene().sigMouseClicked.connect(clicked)


def _name_ticks(names: list[str], centre: float = 0.5) -> list[list[tuple[float, str]]]:
    return [[(i + centre, name) for i, name in enumerate(names)]]


class _TimeCursor:
    """A vertical line on each plot at the current timepoint, moved at most 20 times a second."""

    def __init__(self, owner: QtWidgets.QWidget, state: ViewState, plots: list[pg.PlotItem]) -> None:
        self.state = state
        self.time_s: np.ndarray | None = None
        self.lines = []
        for plot in plots:
            line = pg.InfiniteLine(angle=90, movable=False, pen=CURSOR_PEN)
            line.setZValue(10)
            plot.addItem(line, ignoreBounds=True)
            self.lines.append(line)
        self.timer = QtCore.QTimer(owner)
        self.timer.setSingleShot(True)
        self.timer.setInterval(50)
        self.timer.timeout.connect(self.move)

    def later(self) -> None:
        """Move the lines soon (coalesces fast timepoint changes)."""
        if not self.timer.isActive():
            self.timer.start()

    def move(self) -> None:
        """Put the lines at the current timepoint's time."""
        t = self.time_s
        if t is None or not len(t):
            return
        x = float(t[min(self.state.timepoint, len(t) - 1)])
        for line in self.lines:
            line.setValue(x if np.isfinite(x) else 0.0)


class AllTracesView(QtWidgets.QWidget):
    """Every given ROI's trace in its overlay colour; stacked (each scaled to its own band,
    names on the y axis) or overlaid in the quantity's units."""

    def __init__(self, state: ViewState, parent=None) -> None:
        super().__init__(parent)
        self.state = state
        self.stack = QtWidgets.QCheckBox("Stack (each ROI scaled to its own row)")
        self.stack.setChecked(True)
        self.graphics = pg.GraphicsLayoutWidget()
        self.plot = self.graphics.addPlot(row=0, col=0)
        plot_style.axis_label(self.plot, "bottom", "time", "s")
        self.plot.setClipToView(True)
        self.plot.setDownsampling(auto=True, mode="peak")
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.cursor = _TimeCursor(self, state, [self.plot])
        install_click_seek(self.plot, lambda: self.cursor.time_s, state)
        self.curves: list[pg.PlotDataItem] = []
        self._data = None
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)
        layout.addWidget(self.graphics, 1)
        self.stack.toggled.connect(lambda _: self._draw())

    def show_values(self, time_s: np.ndarray, values: np.ndarray, names: list[str],
                    colors: list[tuple[int, int, int]], label: str) -> None:
        """Draw ``values`` ``(R, T)`` against ``time_s``, row i in ``colors[i]``."""
        self._data = (np.asarray(time_s, np.float64), np.asarray(values, np.float64), list(names),
                      list(colors), label)
        self.cursor.time_s = self._data[0]
        self._draw()
        self.cursor.move()

    def _draw(self) -> None:
        R = 0 if self._data is None else len(self._data[1])
        while len(self.curves) > R:  # curves are reused: creating 50 items costs more than drawing
            self.plot.removeItem(self.curves.pop())
        while len(self.curves) < R:
            self.curves.append(self.plot.plot(connect="finite"))
        if self._data is None:
            return
        t, values, names, colors, label = self._data
        stacked = self.stack.isChecked()
        left = self.plot.getAxis("left")
        for i, curve in enumerate(self.curves):
            y = values[i]
            if stacked:  # the first ROI on top; each trace spans 90 % of its row
                lo, hi = (np.nanmin(y), np.nanmax(y)) if np.isfinite(y).any() else (0.0, 1.0)
                y = (R - 1 - i) + 0.05 + 0.9 * (y - lo) / (hi - lo if hi > lo else 1.0)
            curve.setPen(pg.mkPen(colors[i], width=1))  # width 1: Qt's fast line path
            curve.setData(t, y, connect="finite")
        # short labels: the axis is as tall as its label (plot_style), and the dock is short
        if stacked:  # rows named on the axis; the check box says each is scaled
            left.setTicks(_name_ticks(names[::-1]))
            plot_style.axis_label(self.plot, "left", "ROI")
            self.plot.setYRange(0, max(1, R), padding=0.01)
        else:
            left.setTicks(None)
            plot_style.axis_label(self.plot, "left", label)
            self.plot.enableAutoRange(axis="y")
        self.graphics.setMinimumHeight(plot_style.minimum_height(self.graphics))
        if len(t) and np.isfinite(t).any():
            self.plot.setXRange(float(np.nanmin(t)), float(np.nanmax(t)), padding=0.01)


class HeatmapView(QtWidgets.QWidget):
    """ROIs × time as an image (ROI names on the y axis) with a colour bar in the quantity's units."""

    def __init__(self, state: ViewState, parent=None) -> None:
        super().__init__(parent)
        self.state = state
        self.graphics = pg.GraphicsLayoutWidget()
        self.plot = self.graphics.addPlot(row=0, col=0)
        self.plot.setLabel("bottom", "time", units="s")
        self.plot.invertY(True)  # the first ROI on top, as in the other lists
        self.plot.setMouseEnabled(y=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get("viridis"),
                                        label="photons", interactive=True)
        self.colorbar.setImageItem(self.image, insert_in=self.plot)
        self.cursor = _TimeCursor(self, state, [self.plot])
        install_click_seek(self.plot, lambda: self.cursor.time_s, state)
        self.values: np.ndarray | None = None
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, 1)

    def show_values(self, time_s: np.ndarray, values: np.ndarray, names: list[str],
                    label: str) -> None:
        """Show ``values`` ``(R, T)``, row i named ``names[i]``, the colour bar labelled ``label``."""
        t = np.asarray(time_s, np.float64)
        self.values = np.asarray(values, np.float64)
        self.cursor.time_s = t
        R = len(self.values)
        if R == 0 or not len(t):
            self.image.clear()
            return
        finite = self.values[np.isfinite(self.values)]
        lo, hi = (np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0))
        hi = hi if hi > lo else lo + 1.0
        self.image.setImage(self.values, autoLevels=False, levels=(lo, hi))
        known = t[np.isfinite(t)]
        t0, t1 = (float(known[0]), float(known[-1])) if len(known) else (0.0, float(len(t)))
        step = (t1 - t0) / max(1, len(t) - 1) or 1.0
        # pixel k covers [t_k - step/2, t_k + step/2]: a click maps to the nearest timepoint
        self.image.setRect(QtCore.QRectF(t0 - step / 2, 0, (t1 - t0) + step, R))
        self.colorbar.setLevels((float(lo), float(hi)))
        self.colorbar.getAxis("left").setLabel(label)  # where ColorBarItem puts its label
        self.plot.getAxis("left").setTicks(_name_ticks(names))
        self.plot.setYRange(0, R, padding=0)
        self.plot.setXRange(t0 - step / 2, t1 + step / 2, padding=0)
        self.cursor.move()


class PeriEventView(QtWidgets.QWidget):
    """Each ROI's mean ± SE around every occurrence of the chosen event, exportable as CSV."""

    error = QtCore.pyqtSignal(str)

    def __init__(self, events: list[tuple], frame_times: np.ndarray, parent=None) -> None:
        super().__init__(parent)
        self.events, self.frame_times = list(events), np.asarray(frame_times, np.float64)
        self.label = QtWidgets.QComboBox()
        self.label.addItems(event_labels(self.events))
        self.before = QtWidgets.QDoubleSpinBox()
        self.after = QtWidgets.QDoubleSpinBox()
        for box, prefix, value in ((self.before, "", 1.0), (self.after, "to ", 2.0)):
            box.setRange(0.0, 1e4)
            box.setDecimals(2)
            box.setValue(value)
            box.setPrefix(prefix)
        self.before.setSuffix(" s before")
        self.after.setSuffix(" s after")
        self.export_button = QtWidgets.QPushButton("Export CSV…")
        self.export_button.clicked.connect(self.export_dialog)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(QtWidgets.QLabel("Event"))
        top.addWidget(self.label, 1)
        for w in (self.before, self.after, self.export_button):
            top.addWidget(w)
        self.graphics = pg.GraphicsLayoutWidget()
        self.plot = self.graphics.addPlot(row=0, col=0)
        plot_style.axis_label(self.plot, "bottom", "time from event", "s")
        self.plot.getAxis("left").enableAutoSIPrefix(False)  # no "(x0.001)" on dF/F
        self.plot.addItem(pg.InfiniteLine(0, angle=90, pen=pg.mkPen(
            "#9467bd", style=QtCore.Qt.PenStyle.DashLine)), ignoreBounds=True)
        self.status = QtWidgets.QLabel("")
        self.status.setTextFormat(QtCore.Qt.TextFormat.RichText)  # names and texts escaped
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.status)
        self.result: PeriEvent | None = None
        self.mean_curves: list[pg.PlotDataItem] = []
        self._items: list = []
        self._data = None
        for w in (self.before, self.after):
            w.valueChanged.connect(lambda _: self.recompute())
        self.label.currentTextChanged.connect(lambda _: self.recompute())
        if not self.events:
            self.status.setText("This acquisition has no events (appended text).")
            for w in (self.label, self.before, self.after, self.export_button):
                w.setEnabled(False)

    def show_values(self, time_s: np.ndarray, values: np.ndarray, names: list[str],
                    colors: list[tuple[int, int, int]], label: str) -> None:
        """Use these traces (``(R, T)`` against ``time_s``) for the averages."""
        self._data = (np.asarray(time_s, np.float64), np.asarray(values, np.float64), list(names),
                      list(colors), label)
        self.recompute()

    def recompute(self) -> None:
        """Average around the chosen event and redraw."""
        for item in self._items:
            self.plot.removeItem(item)
        self._items, self.mean_curves, self.result = [], [], None
        if self._data is None or not self.events:
            return
        t, values, names, colors, label = self._data
        event = self.label.currentText()
        times = event_times(self.events, self.frame_times, event)
        self.result = res = peri_event_average(values, t, times, self.before.value(),
                                               self.after.value(), event, names, label)
        for i, color in enumerate(colors):
            lower = pg.PlotDataItem(res.rel_time_s, res.mean[i] - res.se[i], connect="finite")
            upper = pg.PlotDataItem(res.rel_time_s, res.mean[i] + res.se[i], connect="finite")
            band = pg.FillBetweenItem(lower, upper, brush=pg.mkBrush(*color, 60))
            mean = self.plot.plot(res.rel_time_s, res.mean[i], pen=pg.mkPen(color, width=1.8),
                                  connect="finite")
            self.plot.addItem(band)
            self._items += [band, mean]
            self.mean_curves.append(mean)
        plot_style.axis_label(self.plot, "left", label)  # short: the dock is short
        self.graphics.setMinimumHeight(plot_style.minimum_height(self.graphics))
        used = len(res.event_times_s)
        note = f" ({res.left_out} left out: their window runs past the recording)" \
            if res.left_out else ""
        self.status.setText(f"'{html.escape(event)}': {used} occurrence(s) averaged"
                            f"{html.escape(note)} · {plot_style.colour_key(zip(names, colors))}"
                            " · lines: each ROI's mean, bands: ± SE")

    def export_dialog(self) -> None:
        """Ask for a CSV file and export the averages to it."""
        if self.result is None:
            return
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export peri-event averages",
                                                        "peri_event.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def export_csv(self, path: str | Path) -> Path | None:
        """Write the current averages as CSV (atomically); None and an error if that failed."""
        if self.result is None:
            return None
        try:
            written = write_peri_event_csv(path, self.result)
        except OSError as e:
            self.error.emit(f"{path}: {e.strerror or e}")
            return None
        self.status.setText(f"Written to {html.escape(str(written))}")
        return written


class OverviewPanel(QtWidgets.QWidget):
    """All ROIs at once: traces, heatmap and peri-event averages of the chosen quantity.

    It shows the traces the Traces panel computed (``set_traces``); the quantity matrix
    (dF/F needs a moving percentile) is computed off the GUI thread."""

    error = QtCore.pyqtSignal(str)

    def __init__(self, session, state: ViewState, masks: MaskSet, sync: bool = False,
                 parent=None) -> None:
        super().__init__(parent)
        self.session, self.state, self.masks = session, state, masks
        self.traces: Traces | None = None
        self.values: np.ndarray | None = None
        self.quantity = QtWidgets.QComboBox()
        self.quantity.addItems(list(QUANTITIES))
        events = session.events()
        self.all_traces = AllTracesView(state)
        self.heatmap = HeatmapView(state)
        self.peri_event = PeriEventView(events, session.times())
        self.peri_event.error.connect(self.error)
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.all_traces, "All traces")
        self.tabs.addTab(self.heatmap, "Heatmap")
        self.tabs.addTab(self.peri_event, "Peri-event")
        self.status = QtWidgets.QLabel("No ROI yet: draw one in the Masks panel")
        # what to show sits right of the view tabs: the plots keep the height of a row
        corner = QtWidgets.QWidget()
        top = QtWidgets.QHBoxLayout(corner)
        top.setContentsMargins(8, 0, 4, 0)
        top.addWidget(QtWidgets.QLabel("Show"))
        top.addWidget(self.quantity)
        top.addWidget(self.status, 1)
        self.tabs.setCornerWidget(corner, QtCore.Qt.Corner.TopRightCorner)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.addWidget(self.tabs, 1)
        self.loader = LatestLoader(lambda key, traces, quantity, baseline:
                                   roi_values(traces, quantity, baseline), sync=sync, parent=self)
        self.loader.loaded.connect(self._on_values)
        self.loader.failed.connect(lambda key, msg: self.error.emit(msg))
        self.quantity.currentTextChanged.connect(lambda _: self.request())
        self._roi_look = None
        self._unsubscribe = [masks.subscribe(self._on_masks), state.subscribe(self._on_state)]

    def shutdown(self) -> None:
        """Stop background work: the session is being replaced."""
        self.loader.stop(wait=False)
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        for view in (self.all_traces, self.heatmap):
            view.cursor.timer.stop()

    def baseline(self) -> Baseline:
        """The dF/F baseline of the session (its last settings while dF/F is off)."""
        return Baseline(*(self.state.dff or self.state.dff_settings))

    def set_traces(self, traces: Traces) -> None:
        """Show new traces (from the Traces panel's computation)."""
        self.traces = traces
        self.request()

    def request(self) -> None:
        """Compute the chosen quantity of the current traces (in the background)."""
        if self.traces is None:
            return
        quantity = self.quantity.currentText()
        baseline = self.baseline() if quantity == "dF/F" else None
        self.loader.request((id(self.traces), quantity, baseline), self.traces, quantity, baseline)

    def _on_values(self, key, values: np.ndarray) -> None:
        if self.traces is None or key[0] != id(self.traces):
            return
        self.values = values
        self.redraw()

    def _look(self):
        return [(r.roi_id, r.name, tuple(r.color), r.visible) for r in self.masks.rois]

    def _on_masks(self, changed: set[str]) -> None:
        if self.masks.in_stroke:
            return
        if not self.masks.rois:
            self.traces, self.values = None, None
        if self._look() != self._roi_look:  # names, colours, visibility: redraw what we have
            self.redraw()

    def _on_state(self, changed: set[str]) -> None:
        if changed & {"dff", "dff_settings"} and self.quantity.currentText() == "dF/F":
            self.request()
        if "timepoint" in changed:
            self.all_traces.cursor.later()
            self.heatmap.cursor.later()

    def visible_rows(self) -> list[int]:
        """Rows of the traces whose ROI exists and is visible, in the masks' order."""
        if self.traces is None:
            return []
        row_of = {rid: i for i, rid in enumerate(self.traces.roi_ids)}
        return [row_of[r.roi_id] for r in self.masks.rois if r.visible and r.roi_id in row_of]

    def redraw(self) -> None:
        """Draw the visible ROIs in every view."""
        self._roi_look = self._look()
        tr, values = self.traces, self.values
        if tr is None or values is None:
            self.status.setText("No ROI yet: draw one in the Masks panel")
            empty = np.zeros((0, 0))
            self.all_traces.show_values(np.zeros(0), empty, [], [], "")
            self.heatmap.show_values(np.zeros(0), empty, [], "")
            return
        rows = self.visible_rows()
        rois = {r.roi_id: r for r in self.masks.rois}
        names = [rois[tr.roi_ids[i]].name for i in rows]
        colors = [tuple(rois[tr.roi_ids[i]].color) for i in rows]
        label = QUANTITIES[self.quantity.currentText()]
        shown = values[rows] if rows else np.zeros((0, values.shape[1]))
        self.all_traces.show_values(tr.time_s, shown, names, colors, label)
        self.heatmap.show_values(tr.time_s, shown, names, label)
        self.peri_event.show_values(tr.time_s, shown, names, colors, label)
        hidden = len(tr.roi_ids) - len(rows)
        self.status.setText(f"{len(rows)} ROI(s){f', {hidden} hidden' if hidden else ''}; "
                            f"click a trace or the heatmap to go to that time")

