"""ROI traces over time: photons (or dF/F with its baseline) and empirical lifetime (ns),
recomputed in the background as masks change, with a draggable time cursor and event
markers."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from ..model.masks import MaskSet
from ..model.session import Session
from ..model.traces import Baseline, Traces, compute_traces, dff
from ..model.view_state import ViewState
from ..workers import LatestLoader


class TracesPanel(QtWidgets.QWidget):
    """Plots the traces of the selected ROIs (all ROIs when none is selected)."""

    traces_ready = QtCore.pyqtSignal(object)
    error = QtCore.pyqtSignal(str)

    def __init__(self, session: Session, state: ViewState, masks: MaskSet, sync: bool = False,
                 parent=None) -> None:
        super().__init__(parent)
        self.session, self.state, self.masks, self.sync = session, state, masks, sync
        self.traces: Traces | None = None
        self.selected: list[int] = []
        self.use_dff = QtWidgets.QCheckBox("dF/F")
        self.percentile = QtWidgets.QSpinBox()
        self.percentile.setRange(0, 100)
        self.percentile.setValue(10)
        self.percentile.setPrefix("baseline F0: percentile ")
        self.window = QtWidgets.QDoubleSpinBox()
        self.window.setRange(0.1, 1e5)
        self.window.setValue(30)
        self.window.setPrefix("in a ")
        self.window.setSuffix(" s window")
        self.status = QtWidgets.QLabel("")
        top = QtWidgets.QHBoxLayout()
        for w in (self.use_dff, self.percentile, self.window):
            top.addWidget(w)
        top.addStretch(1)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumHeight(260)
        self.intensity_plot = self.graphics.addPlot(row=0, col=0)
        self.dff_plot = self.graphics.addPlot(row=1, col=0)
        self.lifetime_plot = self.graphics.addPlot(row=2, col=0)
        self.lifetime_plot.setXLink(self.intensity_plot)
        self.dff_plot.setXLink(self.intensity_plot)
        self.dff_plot.setLabel("left", "dF/F")
        self.dff_plot.getAxis("left").enableAutoSIPrefix(False)
        self.dff_plot.hide()
        self.intensity_plot.setLabel("left", "photons")
        self.lifetime_plot.setLabel("left", "empirical lifetime", units="ns")
        self.lifetime_plot.setLabel("bottom", "time", units="s")
        self.intensity_plot.addLegend(offset=(-5, 5))
        self.cursors = []
        for plot in (self.intensity_plot, self.dff_plot, self.lifetime_plot):
            line = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen("#f0c000", width=2))
            line.sigDragged.connect(self._on_cursor_dragged)
            plot.addItem(line)
            self.cursors.append(line)
        self._event_items: list = []
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.status)
        self.loader = LatestLoader(self._compute, sync=sync, parent=self)
        # dF/F baselines (a moving percentile) are computed off the GUI thread as well
        self._f0: tuple | None = None  # (key, F0 array)
        self.baseline_loader = LatestLoader(
            lambda key, baseline, photons, t: baseline.compute(photons, t), sync=sync, parent=self)
        self.baseline_loader.loaded.connect(self._on_baseline)
        self.baseline_loader.failed.connect(lambda key, msg: self.error.emit(msg))
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(lambda key, msg: self.error.emit(msg))
        self.debounce = QtCore.QTimer(self)
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(150)
        self.debounce.timeout.connect(self.request)
        # the time cursor follows the browser at most ~20 times a second: moving it repaints
        # every plot, which would slow fast scrolling down
        self.cursor_timer = QtCore.QTimer(self)
        self.cursor_timer.setSingleShot(True)
        self.cursor_timer.setInterval(50)
        self.cursor_timer.timeout.connect(self._move_cursor)
        # the dF/F controls change the session state; the panel redraws from its notification
        self.use_dff.toggled.connect(lambda _: self._dff_edited())
        for w in (self.percentile, self.window):
            w.valueChanged.connect(lambda _: self._dff_edited())
        self._show_dff_settings()
        masks.subscribe(self._on_masks)
        state.subscribe(self._on_state)
        t = session.timepoint_times(0, 0)
        if len(t) and np.isfinite(t).any():  # the whole recording, whatever is drawn
            self.intensity_plot.setXRange(float(np.nanmin(t)), float(np.nanmax(t)), padding=0.01)
        self._draw_events()
        self._on_state({"timepoint"})
        self.redraw()

    def shutdown(self) -> None:
        """Stop background work: the session is being replaced."""
        self.loader.stop(wait=False)
        self.baseline_loader.stop(wait=False)
        self.debounce.stop()
        self.cursor_timer.stop()

    # ---- computing ----
    def baseline(self) -> Baseline | None:
        """The session's dF/F baseline (None when dF/F is off)."""
        return Baseline(*self.state.dff) if self.state.dff else None

    def _dff_edited(self) -> None:
        settings = (float(self.percentile.value()), float(self.window.value()))
        self.state.update(dff=settings if self.use_dff.isChecked() else None,
                          dff_settings=settings)

    def _show_dff_settings(self) -> None:
        """Show the state's dF/F settings in the controls (without echoing them back)."""
        pct, window = self.state.dff or self.state.dff_settings
        for w, v in ((self.use_dff, self.state.dff is not None), (self.percentile, int(round(pct))),
                     (self.window, window)):
            w.blockSignals(True)
            w.setChecked(v) if w is self.use_dff else w.setValue(v)
            w.blockSignals(False)

    def _key(self):
        params = self.session.flim_params_for(self.state.color)
        return (self.masks.version, self.state.color, self.state.registered, id(params))

    def request(self) -> None:
        """Recompute the traces (off the GUI thread) for the current masks and channel."""
        if not self.masks.rois:
            self.traces = None
            self.redraw()
            return
        self.status.setText("Computing traces…")
        # the masks are copied here, on the GUI thread that edits them
        snapshot = (self.masks.stack(), [r.roi_id for r in self.masks.rois],
                    [r.name for r in self.masks.rois],
                    self.session.flim_params_for(self.state.color))
        self.loader.request(self._key(), snapshot)

    def _compute(self, key, snapshot):  # worker thread
        version, color, registered, _ = key
        masks, ids, names, params = snapshot
        return compute_traces(self.session, masks, ids, names, color, registered, params,
                              mask_version=version)

    def _on_loaded(self, key, traces: Traces) -> None:
        self.traces = traces
        self.status.setText(f"{len(traces.roi_ids)} ROI(s), channel {traces.color}, "
                            f"{'registered' if traces.registered else 'raw'} frames")
        self.redraw()
        self.traces_ready.emit(traces)

    def _on_masks(self, changed: set[str]) -> None:
        if self.masks.in_stroke:  # traces follow when the stroke ends
            return
        if self.sync:
            self.request()
        else:
            self.debounce.start()

    def _on_state(self, changed: set[str]) -> None:
        if changed & {"color", "registered"}:
            self.request()
        if changed & {"dff", "dff_settings"}:
            self._show_dff_settings()
            self.redraw()
        if "timepoint" in changed:
            if self.sync:
                self._move_cursor()
            elif not self.cursor_timer.isActive():
                self.cursor_timer.start()

    def _move_cursor(self) -> None:
        t = self.session.timepoint_times(0, self.state.color)
        x = float(t[self.state.timepoint]) if len(t) else 0.0
        for line in self.cursors:
            line.blockSignals(True)
            line.setValue(x)
            line.blockSignals(False)

    def _on_cursor_dragged(self, line) -> None:
        t = self.session.timepoint_times(0, self.state.color)
        if len(t):
            self.state.update(timepoint=int(np.nanargmin(np.abs(t - line.value()))))

    def set_selected(self, roi_ids: list[int]) -> None:
        """Highlight the traces of ROIs ``roi_ids``."""
        self.selected = list(roi_ids)
        self.redraw()

    # ---- drawing ----
    def _draw_events(self) -> None:
        try:
            events = self.session.io.get_appended_text()
        except Exception:  # noqa: BLE001 - events are optional decoration
            events = []
        times = self.session.times()
        for event in events:
            x = float(times[event[0]])
            for plot in (self.intensity_plot, self.dff_plot, self.lifetime_plot):
                line = pg.InfiniteLine(x, angle=90, movable=False,
                                       pen=pg.mkPen("#9467bd", width=1, style=QtCore.Qt.PenStyle.DashLine),
                                       label=event[1] if plot is self.intensity_plot else None,
                                       labelOpts={"position": 0.92, "color": "#9467bd"})
                plot.addItem(line)
                self._event_items.append(line)

    def redraw(self) -> None:
        """Draw the current traces (photons, dF/F, lifetime in ns) again."""
        for plot in (self.intensity_plot, self.dff_plot, self.lifetime_plot):
            for item in list(plot.listDataItems()):
                plot.removeItem(item)
        self.intensity_plot.legend.clear()
        tr = self.traces
        baseline = self.baseline()
        self.dff_plot.setVisible(baseline is not None)
        self.intensity_plot.setTitle(
            None if tr is not None else "No ROI yet: draw one in the Masks panel (New ROI, then "
            "paint on the image)", size="9pt", color="#bbbbbb")
        if tr is None:
            return
        f0 = None
        if baseline is not None:
            key = (id(tr), baseline)
            if self._f0 is not None and self._f0[0] == key:
                f0 = self._f0[1]
            else:
                self.baseline_loader.request(key, baseline, tr.photons, tr.time_s)
        wanted = [i for i, rid in enumerate(tr.roi_ids) if not self.selected or rid in self.selected]
        colors = {r.roi_id: r.color for r in self.masks.rois}
        for i in wanted:
            color = colors.get(tr.roi_ids[i], (200, 200, 200))
            pen = pg.mkPen(color, width=1.5)
            self.intensity_plot.plot(tr.time_s, tr.photons[i].astype(float), pen=pen,
                                     name=tr.names[i])
            if f0 is not None:  # the baseline, dashed, over the photons it comes from
                self.intensity_plot.plot(tr.time_s, f0[i], pen=pg.mkPen(
                    color, width=1, style=QtCore.Qt.PenStyle.DashLine))
                self.dff_plot.plot(tr.time_s, dff(tr.photons[i:i + 1], f0[i:i + 1])[0], pen=pen,
                                   connect="finite")
            self.lifetime_plot.plot(tr.time_s, tr.lifetime_ns[i], pen=pen, connect="finite")

    def _on_baseline(self, key, f0) -> None:
        self._f0 = (key, f0)
        self.redraw()

    def baseline_curves(self) -> np.ndarray | None:
        """F0 of every ROI (photons), as drawn in the photons view."""
        if self.traces is None or self.baseline() is None:
            return None
        return self.baseline().compute(self.traces.photons, self.traces.time_s)
