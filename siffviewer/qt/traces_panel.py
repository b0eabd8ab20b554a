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
from . import plot_style


class TracesPanel(QtWidgets.QWidget):
    """Plots the traces of the selected ROIs (all ROIs when none is selected)."""

    traces_ready = QtCore.pyqtSignal(object)
    error = QtCore.pyqtSignal(str)

    def __init__(self, session: Session, state: ViewState, masks: MaskSet, sync: bool = False,
                 parent=None, calibration_for=None) -> None:
        super().__init__(parent)
        self.session, self.state, self.masks, self.sync = session, state, masks, sync
        #: colour -> the Calibration whose IRF offset lifetimes subtract (None: the fit's)
        self.calibration_for = calibration_for
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
        # the controls in a column left of the plots: the dock is wide and short, and the
        # plots keep the height a row of controls would take
        top = QtWidgets.QVBoxLayout()
        for w in (self.use_dff, self.percentile, self.window, self.status):
            top.addWidget(w)
        self.status.setWordWrap(True)
        self.status.setMaximumWidth(self.percentile.sizeHint().width())
        top.addStretch(1)
        self.graphics = pg.GraphicsLayoutWidget()
        self.intensity_plot = self.graphics.addPlot(row=0, col=0)
        self.dff_plot = self.graphics.addPlot(row=1, col=0)
        self.lifetime_plot = self.graphics.addPlot(row=2, col=0)
        self.lifetime_plot.setXLink(self.intensity_plot)
        self.dff_plot.setXLink(self.intensity_plot)
        # ---- cosmetics (plot_style): labels with units, each plot as tall as its label,
        # left axes of one width so the linked time axes line up, legend above the data
        plot_style.axis_label(self.dff_plot, "left", "dF/F")
        self.dff_plot.hide()
        plot_style.axis_label(self.intensity_plot, "left", "photons")
        plot_style.axis_label(self.lifetime_plot, "left", "lifetime", "ns")
        self.lifetime_plot.getAxis("left").setToolTip("empirical lifetime: mean arrival time "
                                                      "minus the fit's offset")
        plot_style.axis_label(self.lifetime_plot, "bottom", "time", "s")
        for plot in (self.intensity_plot, self.dff_plot, self.lifetime_plot):
            plot.getAxis("left").setWidth(52)
        for plot in (self.intensity_plot, self.dff_plot):  # the time axis is numbered once
            plot.getAxis("bottom").setStyle(showValues=False)
        plot_style.legend_above(self.intensity_plot)
        self.graphics.setMinimumHeight(plot_style.minimum_height(self.graphics))
        # ---- end of cosmetics
        self.cursors = []
        for plot in (self.intensity_plot, self.dff_plot, self.lifetime_plot):
            line = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen("#f0c000", width=2))
            line.sigDragged.connect(self._on_cursor_dragged)
            plot.addItem(line)
            self.cursors.append(line)
        self._event_items: list = []
        # -- click-to-seek (issue 16.3): a click on any plot goes to that time
        from .overview_panel import install_click_seek

        for plot in (self.intensity_plot, self.dff_plot, self.lifetime_plot):
            install_click_seek(plot, lambda: self.session.timepoint_times(0, self.state.color), state)
        # -- end click-to-seek
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.addLayout(top)
        layout.addWidget(self.graphics, 1)
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
        self._show_recording_range()
        self._draw_events()
        self._on_state({"timepoint"})
        self.redraw()

    def _recording_range(self) -> tuple[float, float] | None:
        t = self.session.timepoint_times(0, 0)
        if len(t) and np.isfinite(t).any():
            return float(np.nanmin(t)), float(np.nanmax(t))
        return None

    def _show_recording_range(self) -> None:
        """The time axis spans the whole recording, whatever is drawn."""
        span = self._recording_range()
        if span is not None:
            self.intensity_plot.setXRange(*span, padding=0.01)

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

    def _offset_source(self):
        """What the lifetimes subtract: the channel's calibration, else its fit."""
        c = self.state.color
        cal = self.calibration_for(c) if self.calibration_for is not None else None
        return cal if cal is not None else self.session.flim_params_for(c)

    def _key(self):
        source = self._offset_source()
        ident = repr(source.to_dict()) if hasattr(source, "offset_bins") else id(source)
        return (self.masks.version, self.state.color, self.state.registered, ident)

    def request(self) -> None:
        """Recompute the traces of every ROI (background load)."""
        if not self.masks.rois:
            self.traces = None
            self.redraw()
            return
        self.status.setText("Computing traces…")
        # the masks are copied here, on the GUI thread that edits them
        snapshot = (self.masks.stack(), [r.roi_id for r in self.masks.rois],
                    [r.name for r in self.masks.rois], self._offset_source())
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
        if "n_timepoints" in changed:  # the file grew
            self._show_recording_range()
        if changed & {"color", "registered", "n_timepoints"}:
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
        """Plot these ROIs (all when none)."""
        self.selected = list(roi_ids)
        self.redraw()

    # ---- drawing ----
    def _draw_events(self) -> None:
        times = self.session.times()
        for event in self.session.events():
            x = float(times[event[0]])
            for plot in (self.intensity_plot, self.dff_plot, self.lifetime_plot):
                line = pg.InfiniteLine(x, angle=90, movable=False,
                                       pen=pg.mkPen("#9467bd", width=1, style=QtCore.Qt.PenStyle.DashLine),
                                       label=event[1] if plot is self.intensity_plot else None,
                                       labelOpts={"position": 0.92, "color": "#9467bd"})
                plot.addItem(line)
                self._event_items.append(line)

    def redraw(self) -> None:
        """Draw the traces of the selected ROIs."""
        for plot in (self.intensity_plot, self.dff_plot, self.lifetime_plot):
            for item in list(plot.listDataItems()):
                plot.removeItem(item)
        self.intensity_plot.legend.clear()
        tr = self.traces
        baseline = self.baseline()
        if self.dff_plot.isVisible() != (baseline is not None):
            self.dff_plot.setVisible(baseline is not None)
            self.graphics.setMinimumHeight(plot_style.minimum_height(self.graphics))
        if tr is None:
            for plot in (self.intensity_plot, self.dff_plot, self.lifetime_plot):
                plot_style.show_empty(plot, "", x_range=self._recording_range())
            plot_style.show_empty(self.intensity_plot, "No ROI yet: draw one in the Masks panel "
                                  "(New ROI, then paint on the image)", self._recording_range())
            return
        for plot in (self.intensity_plot, self.dff_plot, self.lifetime_plot):
            plot_style.clear_empty(plot)
        f0 = None
        if baseline is not None:
            key = (id(tr), baseline)
            if self._f0 is not None and self._f0[0] == key:
                f0 = self._f0[1]
            else:
                self.baseline_loader.request(key, baseline, tr.photons, tr.time_s)
                if self._f0 is not None and self._f0[0] == key:  # done at once (sync) and
                    return  # drawn by _on_baseline: drawing again would list each ROI twice
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
