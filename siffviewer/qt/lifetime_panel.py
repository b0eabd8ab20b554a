"""Lifetime view: the arrival-time histogram of the selected ROI (or the current frame)
with a FLIMParams fit on demand and its residuals, a lifetime-coloured image, and a phasor
plot of the ROIs."""

from __future__ import annotations

import colorsys

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from libsiff.flim.pixel_phasor import phasor_extent

from ..model import lifetime as analysis
from ..model.masks import MaskSet
from ..model.session import Session
from ..model.view_state import ViewState
from ..workers import Job, LatestLoader
from . import FlimRefreshWhenShown, plot_style


def lifetime_rgb(counts: np.ndarray, lifetime_ns: np.ndarray, lo_ns: float, hi_ns: float,
                 max_counts: float) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)``: hue from lifetime (``lo_ns`` red ... ``hi_ns`` blue),
    brightness from photons (saturating at ``max_counts``)."""
    span = max(hi_ns - lo_ns, 1e-9)
    frac = np.clip((np.nan_to_num(lifetime_ns, nan=lo_ns) - lo_ns) / span, 0, 1)
    hue = frac * (2 / 3)  # red -> green -> blue
    value = np.clip(np.asarray(counts, np.float64) / max(max_counts, 1e-9), 0, 1)
    # vectorised HSV -> RGB with full saturation
    h6 = hue * 6
    i = np.floor(h6).astype(int) % 6
    f = h6 - np.floor(h6)
    q, t = 1 - f, f
    r = np.choose(i, [1, q, 0, 0, t, 1])
    g = np.choose(i, [t, 1, 1, q, 0, 0])
    b = np.choose(i, [0, 0, t, 1, 1, q])
    rgb = np.stack([r, g, b], axis=-1) * value[..., None]
    return (rgb * 255).astype(np.uint8)


def colorbar_rgb(width: int = 256) -> np.ndarray:
    """A 12-row RGB strip of the lifetime colour map (hue from red to blue)."""
    return np.array([[tuple(int(255 * v) for v in colorsys.hsv_to_rgb(k / width * 2 / 3, 1, 1))
                      for k in range(width)]] * 12, np.uint8)


def fit_summary(ns) -> str:
    """One line of a fit in nanoseconds with its one-sigma uncertainties (± where known)."""
    unc = ns.uncertainties or {}

    def pm(key, value, digits=3):
        err = unc.get(key)
        return f"{value:.{digits}f}" + (f" ± {err:.{digits}f}" if err else "")

    parts = [f"τ{i + 1} = {pm(f'tau_{i}', e.tau)} ns ({pm(f'frac_{i}', e.frac, 2)})"
             for i, e in enumerate(ns.exps)]
    parts.append(f"IRF {pm('tau_offset', ns.irf.tau_offset)} ns, σ {pm('tau_g', ns.irf.tau_g)} ns")
    parts.append(f"noise {pm('noise', ns.noise)}")
    chi = getattr(ns, "chi_sq", None)
    if chi is not None:
        parts.append(f"reduced χ² {chi:.2f}")
    return " · ".join(parts)


class LifetimePanel(FlimRefreshWhenShown, QtWidgets.QWidget):
    """Histogram + fit, lifetime image and phasor plot."""

    params_fitted = QtCore.pyqtSignal(object)
    error = QtCore.pyqtSignal(str)

    def __init__(self, session: Session, state: ViewState, masks: MaskSet, sync: bool = False,
                 parent=None, calibration_for=None) -> None:
        super().__init__(parent)
        self.session, self.state, self.masks, self.sync = session, state, masks, sync
        #: colour -> the Calibration the lifetime image subtracts (None: the fit's offset)
        self.calibration_for = calibration_for
        self.roi_id: int | None = None
        self.histogram: np.ndarray | None = None
        self.fit = None
        self.source = QtWidgets.QComboBox()
        self.source.addItems(["Selected ROI (whole session)", "Current frame"])
        self.n_exps = QtWidgets.QSpinBox()
        self.n_exps.setRange(1, 3)
        self.n_exps.setValue(2)
        self.n_exps.setPrefix("exponentials: ")
        self.fit_button = QtWidgets.QPushButton("Fit")
        self.hold_irf = QtWidgets.QCheckBox("hold the calibrated IRF")
        self.hold_irf.setToolTip("Fit only lifetimes, fractions and noise; the IRF offset and "
                                 "width come from the channel's calibration (IRF or reference)")
        self.params_text = QtWidgets.QLabel("No fit yet.")
        self.params_text.setWordWrap(True)
        self.params_text.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warnings_text = QtWidgets.QLabel("")  # the fit's guardrail warnings
        self.warnings_text.setWordWrap(True)
        self.warnings_text.setStyleSheet("color: #ffb040; font-weight: bold")
        self.warnings_text.setVisible(False)
        self.lo = QtWidgets.QDoubleSpinBox()
        self.hi = QtWidgets.QDoubleSpinBox()
        for w, v, name in ((self.lo, 0.5, "from "), (self.hi, 3.5, "to ")):
            w.setRange(0, 50)
            w.setDecimals(2)
            w.setValue(v)
            w.setPrefix(name)
            w.setSuffix(" ns")
        self.image_mode = QtWidgets.QComboBox()
        self.image_mode.addItems(["Current frame(s)", "Plane projection"])
        self.graphics = pg.GraphicsLayoutWidget()
        self.hist_plot = self.graphics.addPlot(row=0, col=0)
        # ---- cosmetics (plot_style): a log axis labelled at powers of ten, units in labels,
        # aligned left axes, a labelled empty state
        plot_style.log_axis(self.hist_plot, "left")
        self.hist_plot.setLogMode(y=True)
        plot_style.axis_label(self.hist_plot, "left", "photons")
        # the arrival-time axis is numbered and labelled once, under the residuals
        self.hist_plot.getAxis("bottom").setStyle(showValues=False)
        self.resid_plot = self.graphics.addPlot(row=1, col=0)
        self.resid_plot.setXLink(self.hist_plot)
        plot_style.axis_label(self.resid_plot, "left", "residual", "σ")
        plot_style.axis_label(self.resid_plot, "bottom", "arrival time", "ns")
        self.resid_plot.setMaximumHeight(120)
        for plot in (self.hist_plot, self.resid_plot):
            plot.getAxis("left").setWidth(52)
        self._show_empty_histogram()
        # ---- end of cosmetics
        self.image_widget = pg.GraphicsLayoutWidget()
        self.image_view = self.image_widget.addViewBox(row=0, col=0, lockAspect=True,
                                                       invertY=True)
        self.image_view.setMenuEnabled(False)
        self.life_image = pg.ImageItem(axisOrder="row-major")
        self.image_view.addItem(self.life_image)
        # colour bar with a lifetime axis in ns (review, issue 16.4)
        self.colorbar = self.image_widget.addPlot(row=1, col=0)
        self.colorbar_image = pg.ImageItem(colorbar_rgb(), axisOrder="row-major")
        self.colorbar.addItem(self.colorbar_image)
        self.colorbar.hideAxis("left")
        self.colorbar.setLabel("bottom", "lifetime (ns)")
        self.colorbar.getAxis("bottom").enableAutoSIPrefix(False)
        self.colorbar.setMouseEnabled(False, False)
        self.colorbar.hideButtons()
        self.colorbar.setMenuEnabled(False)
        self.colorbar.setMaximumHeight(58)
        self.colorbar_label = pg.LabelItem("", size="8pt")
        self.image_widget.addItem(self.colorbar_label, row=2, col=0)
        self.phasor_plot = pg.PlotWidget()
        self.phasor_plot.setAspectLocked(True)
        plot_style.axis_label(self.phasor_plot.getPlotItem(), "bottom", "g")
        plot_style.axis_label(self.phasor_plot.getPlotItem(), "left", "s")
        self._show_phasor_extent(np.array([]), np.array([]))
        theta = np.linspace(0, np.pi, 181)
        self.phasor_plot.plot(0.5 + 0.5 * np.cos(theta), 0.5 * np.sin(theta),
                              pen=pg.mkPen((160, 160, 160), width=1))
        self.phasor_points = pg.ScatterPlotItem(size=10)
        self.phasor_plot.addItem(self.phasor_points)
        splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        # the ROI phasors with a colour key naming their dots above them
        self.phasor_key = QtWidgets.QLabel()
        self.phasor_key.setTextFormat(QtCore.Qt.TextFormat.RichText)  # names escaped
        self.phasor_key.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored,
                                      QtWidgets.QSizePolicy.Policy.Fixed)
        phasor_pane = QtWidgets.QWidget()
        pane = QtWidgets.QVBoxLayout(phasor_pane)
        pane.setContentsMargins(0, 0, 0, 0)
        pane.setSpacing(0)
        pane.addWidget(self.phasor_key)
        pane.addWidget(self.phasor_plot, 1)
        for w in (self.graphics, self.image_widget, phasor_pane):
            splitter.addWidget(w)
        splitter.setSizes([600, 320, 320])
        # the fit's and the lifetime image's controls in a column left of the plots: the
        # dock is wide and short, and the plots keep the height rows of controls would take
        controls = QtWidgets.QVBoxLayout()
        controls.setSpacing(2)
        for w in (self.source, self.n_exps, self.hold_irf, self.fit_button,
                  QtWidgets.QLabel("Lifetime colours"), self.lo, self.hi, self.image_mode):
            controls.addWidget(w)
        controls.addStretch(1)
        self.graphics.setMinimumHeight(plot_style.minimum_height(self.graphics))
        plots = QtWidgets.QVBoxLayout()
        plots.setSpacing(2)
        plots.addWidget(self.params_text)
        plots.addWidget(self.warnings_text)
        plots.addWidget(splitter, 1)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.addLayout(controls)
        layout.addLayout(plots, 1)
        self.hist_loader = LatestLoader(self._load_histogram, sync=sync, parent=self)
        self.hist_loader.loaded.connect(self._show_histogram)
        self.hist_loader.failed.connect(lambda k, m: self.error.emit(m))
        self.image_loader = LatestLoader(self._load_image, sync=sync, parent=self)
        self.image_loader.loaded.connect(self._show_image)
        self.image_loader.failed.connect(lambda k, m: self.error.emit(m))
        self.phasor_loader = LatestLoader(  # worker thread: inputs from the arguments only
            lambda key, stack, params: analysis.roi_phasors(session, stack, key[1], key[2], params),
            sync=sync, parent=self)
        self.phasor_loader.loaded.connect(self._show_phasors)
        self.phasor_loader.failed.connect(lambda k, m: self.error.emit(m))
        self._stale = True
        self._shut = False
        self.fit_button.clicked.connect(self.start_fit)
        self.source.currentIndexChanged.connect(lambda _: self.refresh())
        for w in (self.lo, self.hi):  # the range lives in the session state
            w.valueChanged.connect(lambda _: self.state.update(
                lifetime_range=(float(self.lo.value()), float(self.hi.value()))))
        self._show_range()
        self._label_colorbar()
        self.image_mode.currentIndexChanged.connect(lambda _: self.refresh_image())
        state.subscribe(self._on_state)
        masks.subscribe(lambda changed: None if masks.in_stroke else self.refresh())
        if not session.has_flim:
            for w in (self.fit_button, self.source, self.n_exps, self.lo, self.hi, self.image_mode):
                w.setEnabled(False)
            self.params_text.setText("This file has no photon arrival times (plain TIFF frames or "
                                     "no Tau_bins in its header): intensity only.")

    def _label_colorbar(self) -> None:
        lo, hi = self.state.lifetime_range
        self.colorbar_image.setRect(QtCore.QRectF(lo, 0, max(hi - lo, 1e-6), 1))
        self.colorbar.setXRange(lo, hi, padding=0)
        self.colorbar.setYRange(0, 1, padding=0)
        # two short lines: a long one widens the layout past a narrow pane and clips it
        self.colorbar_label.setText(f"{lo:.2f} ns (red) → {hi:.2f} ns (blue)<br>"
                                    "brightness: photons")

    # ---- histogram ----
    def _hist_key(self):
        s = self.state
        roi = self.roi_id if self.source.currentIndex() == 0 else None
        return (self.source.currentIndex(), roi, self.masks.version, s.timepoint, s.plane,
                s.color, s.average, s.registered)

    def _load_histogram(self, key, mask):  # worker thread: inputs from the key only
        mode, roi, _, t, z, c, avg, reg = key
        if mode == 0:
            return None if mask is None else analysis.roi_histogram(self.session, mask, c, reg)
        return analysis.frames_histogram(self.session, t, z, c, avg)

    def _request_histogram(self) -> None:
        roi = next((r for r in self.masks.rois if r.roi_id == self.roi_id), None)
        mask = roi.mask.copy() if roi is not None and self.source.currentIndex() == 0 else None
        self.hist_loader.request(self._hist_key(), mask)

    def _show_histogram(self, key, hist) -> None:
        if self._shut:
            return
        self.histogram = hist
        self.hist_plot.clear()
        self.resid_plot.clear()
        if hist is None:
            self._show_empty_histogram()
            return
        for plot in (self.hist_plot, self.resid_plot):
            plot_style.clear_empty(plot)
        x = np.arange(len(hist)) * self.session.reader.picoseconds_per_bin * 1e-3  # ns
        y = np.maximum(hist.astype(float), 0.5)
        self.hist_plot.plot(x, y, pen=None, symbol="o", symbolSize=3,
                            symbolBrush=(120, 170, 255), symbolPen=None)
        params = self.session.flim_params_for(self.state.color)
        if params is not None and hist.sum() > 0:
            model = params.model_histogram(len(hist), n_photons=1)
            fit_bins = np.arange(1, len(hist) - 2)
            scale = hist[fit_bins].sum() / max(model[fit_bins].sum(), 1e-300)
            expected = model * scale
            self.hist_plot.plot(x, np.maximum(expected, 0.5), pen=pg.mkPen((255, 120, 60), width=2))
            with np.errstate(invalid="ignore", divide="ignore"):
                resid = (hist - expected) / np.sqrt(np.maximum(expected, 1))
            self.resid_plot.plot(x[fit_bins], resid[fit_bins], pen=None, symbol="o",
                                 symbolSize=2, symbolBrush=(255, 120, 60), symbolPen=None)

    def _show_empty_histogram(self) -> None:
        """Empty plots over the file's arrival-time window (ns), saying what to do."""
        period = None
        if self.session.has_flim:
            period = (0.0, self.session.im_params.num_bins
                      * self.session.reader.picoseconds_per_bin * 1e-3)
        message = ("Select an ROI (Masks panel), or show the current frame" if self.session.has_flim
                   else "No photon arrival times in this file")
        plot_style.show_empty(self.hist_plot, message, x_range=period)
        plot_style.show_empty(self.resid_plot, "", x_range=period)

    def shutdown(self) -> None:
        """Stop background work: the session is being replaced."""
        self._shut = True  # results still in flight are dropped: the file may be closed
        for loader in (self.hist_loader, self.image_loader, self.phasor_loader):
            loader.stop(wait=False)
        if getattr(self, "fit_job", None) is not None:
            self.fit_job.abandon()

    def refresh(self) -> None:
        """Recompute the histogram, lifetime image and phasor (when the panel is shown)."""
        if not self._active():
            return
        self._stale = False
        self._request_histogram()
        self.refresh_image()
        self.refresh_phasor()

    def set_roi(self, roi_id: int | None) -> None:
        """Show the histogram of ROI ``roi_id`` (None: the whole frame)."""
        self.roi_id = roi_id
        self.refresh()

    def _show_range(self) -> None:
        """Show the state's lifetime colour range in the spin boxes (without echoing it)."""
        for w, v in zip((self.lo, self.hi), self.state.lifetime_range, strict=True):
            w.blockSignals(True)
            w.setValue(v)
            w.blockSignals(False)
        self._label_colorbar()

    def _on_state(self, changed: set[str]) -> None:
        if "color" in changed:
            self.show_fit()
        if "lifetime_range" in changed:
            self._show_range()
            if self._active():
                self.refresh_image()
        if not self._active():
            return
        if "n_timepoints" in changed:  # the file grew: whole-session histogram and phasors
            self.refresh()
            return
        if changed & {"timepoint", "plane", "color", "average", "registered"}:
            if self.source.currentIndex() == 1 or changed & {"color", "registered"}:
                self._request_histogram()
            self.refresh_image()
        if changed & {"color", "registered"}:
            self.refresh_phasor()

    # ---- fit ----
    def start_fit(self) -> None:
        """Fit the lifetime model to the current histogram in the background."""
        hist = self.histogram
        if hist is None or hist.sum() == 0:
            self.error.emit("No photons to fit: select an ROI with photons or a frame")
            return
        from libsiff.flim import fit_params_to_data

        n_exps, bin_ps = self.n_exps.value(), self.session.reader.picoseconds_per_bin
        tau_bins = self.session.im_params.num_bins
        cal = self._offset_source() if self.hold_irf.isChecked() else None
        if cal is not None and getattr(cal, "irf_sigma_bins", None) is None:
            self.error.emit("The calibration has no IRF width: calibrate from an IRF, a "
                            "reference or a fit first (Phasor tab).")
            return

        def work(progress, cancelled):
            if cal is not None:
                return cal.fit(hist, n_exps=n_exps)
            return fit_params_to_data(hist, n_exps=n_exps, bin_width_ps=bin_ps,
                                      period_bins=tau_bins)

        self.fit_job = Job("lifetime fit", work, sync=self.sync, parent=self)
        self.fit_job.finished_ok.connect(self._on_fit)
        self.fit_job.failed.connect(self.error.emit)
        self.fit_button.setEnabled(False)
        self.params_text.setText("Fitting…")
        self.fit_job.finished_ok.connect(lambda _: self.fit_button.setEnabled(True))
        self.fit_job.failed.connect(lambda _: self.fit_button.setEnabled(True))
        self.fit_job.start()

    def _on_fit(self, params) -> None:
        self.session.set_flim_params(self.state.color, params)
        self.show_fit()
        self._show_histogram(None, self.histogram)
        self.params_fitted.emit(params)
        self.refresh_phasor()

    def show_fit(self) -> None:
        """Show the fit of the current channel (from a fit, or restored with the session)."""
        params = self.fit = self.session.flim_params_for(self.state.color)
        if params is None:
            if self.session.has_flim:
                self.params_text.setText("No fit yet.")
            return
        ns = params.copy()
        ns.convert_units("nanoseconds")
        self.params_text.setText(fit_summary(ns))
        warnings = list(getattr(params, "warnings", []) or [])
        self.warnings_text.setText("\n".join(f"⚠ {w}" for w in warnings))
        self.warnings_text.setVisible(bool(warnings))

    # ---- image & phasor ----
    def _image_key(self):
        s = self.state
        source = self._offset_source()
        return (self.image_mode.currentIndex(), s.timepoint, s.plane, s.color, s.average,
                s.registered, *s.lifetime_range,
                repr(source.to_dict()) if hasattr(source, "offset_bins") else id(source))

    def _offset_source(self):
        """What lifetimes subtract: the channel's calibration, else its fit."""
        c = self.state.color
        cal = self.calibration_for(c) if self.calibration_for is not None else None
        return cal if cal is not None else self.session.flim_params_for(c)

    def refresh_image(self) -> None:
        """Request the lifetime image of the current view (background load)."""
        if self._active():
            self.image_loader.request(self._image_key(), self._offset_source())

    def _load_image(self, key, params):  # worker thread: inputs from the arguments only
        mode, t, z, c, avg, reg, lo, hi, _ = key
        s = self.session
        frames = s.frames_for(t, z, c, avg) if mode == 0 else s.plane_frames(z, c)
        counts, life_ns = analysis.lifetime_map(s, frames, reg, params)
        bright = np.percentile(counts, 99.5) if counts.any() else 1.0
        return lifetime_rgb(counts, life_ns, lo, hi, max(bright, 1.0))

    def _show_image(self, key, rgb) -> None:
        if self._shut:
            return
        first = self.life_image.image is None
        self.life_image.setImage(rgb, autoLevels=False)
        if first:
            self.image_view.autoRange(padding=0.01)
            # keep fitting the image when the pane is resized (it may first be shown hidden
            # in a background tab), until the user pans or zooms
            self.image_view.enableAutoRange()

    def refresh_phasor(self) -> None:
        """Request the phasor of every ROI (background load); clear it without ROIs."""
        if not self.masks.rois:
            self.phasor_points.setData([])
            self.phasor_key.setText("")
            return
        if self._active():
            s = self.state
            params = self.session.flim_params_for(s.color)
            self.phasor_loader.request((self.masks.version, s.color, s.registered, id(params)),
                                       self.masks.stack(), params)

    def _show_phasors(self, key, points) -> None:
        if self._shut:
            return
        shown = [(roi, p) for roi, p in zip(self.masks.rois, points, strict=False)
                 if np.isfinite(p)]
        self.phasor_points.setData([
            {"pos": (p.real, p.imag), "brush": pg.mkBrush(*roi.color), "pen": pg.mkPen("w")}
            for roi, p in shown])
        self.phasor_key.setText(plot_style.colour_key((roi.name, tuple(roi.color))
                                                      for roi, _ in shown))
        values = np.array([p for _, p in shown], complex)
        self._show_phasor_extent(values.real, values.imag)

    def _show_phasor_extent(self, g: np.ndarray, s: np.ndarray) -> None:
        """The semicircle, grown to hold every ROI's point (both ranges at once: with the
        aspect locked the view then holds both, whatever the pane's shape)."""
        g_range, s_range = phasor_extent(g, s)
        self.phasor_plot.getViewBox().setRange(xRange=g_range, yRange=s_range, padding=0)

    def roi_phasors(self, stack: np.ndarray | None = None) -> np.ndarray:
        """Pooled phasor g + i s of every ROI over the session (current colour), computed
        now (the background path passes its inputs to the model function itself)."""
        s = self.state
        stack = self.masks.stack() if stack is None else stack
        return analysis.roi_phasors(self.session, stack, s.color, s.registered,
                                    self.session.flim_params_for(s.color))
