"""Lifetime traces of the selected ROIs: the calibrated lifetime with its standard-error band,
the background-corrected lifetime, neuropil-corrected photons, and the long-component
fraction of the lifetime-over-time fit with its band. The corrections of each ROI are
edited here (a small dialog) and shown on the plots; everything is computed off the GUI
thread by :func:`~siffviewer.model.flim_traces.compute_flim_columns`."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from ..model.flim_settings import FlimSettings, FractionFitSettings
from ..model.flim_traces import compute_flim_columns
from ..model.masks import MaskSet
from ..model.session import Session
from ..model.view_state import ViewState
from ..workers import LatestLoader
from . import FlimRefreshWhenShown, plot_style
from .background_dialog import BackgroundDialog


def _band(plot, x, y, se, color, alpha=60, limits=(-np.inf, np.inf)):
    """A curve with a shaded +- one standard error band, the band cut at ``limits`` (an
    error of 10^7 would otherwise paint over everything)."""
    ok = np.isfinite(y) & np.isfinite(se)
    lo = pg.PlotDataItem(x[ok], np.clip(y - se, *limits)[ok], pen=None)
    hi = pg.PlotDataItem(x[ok], np.clip(y + se, *limits)[ok], pen=None)
    plot.addItem(pg.FillBetweenItem(lo, hi, brush=pg.mkBrush(*color, alpha)))
    plot.plot(x, y, pen=pg.mkPen(color, width=1.5), connect="finite")


FRACTION_RANGE = (-0.05, 1.05)  # the fraction plot's y range


class FlimTracesView(FlimRefreshWhenShown, QtWidgets.QWidget):
    """Lifetime (± SE), corrections and fraction traces of the selected ROIs."""

    error = QtCore.pyqtSignal(str)

    def __init__(self, session: Session, state: ViewState, masks: MaskSet, flim: FlimSettings,
                 params_for, sync: bool = False, parent=None) -> None:
        super().__init__(parent)
        self.session, self.state, self.masks, self.flim, self.sync = (session, state, masks,
                                                                      flim, sync)
        self._params_for = params_for
        self.selected: list[int] = []
        self.result = None
        self._stale = True
        self._shut = False
        self.edit_button = QtWidgets.QPushButton("Corrections of the selected ROI…")
        self.fraction = QtWidgets.QCheckBox("Fraction fit")
        self.n_exps = QtWidgets.QSpinBox()
        self.n_exps.setRange(2, 3)
        self.n_exps.setPrefix("components: ")
        self.bin = QtWidgets.QSpinBox()
        self.bin.setRange(1, 100000)
        self.bin.setPrefix("per ")
        self.bin.setSuffix(" timepoints")
        self.notes = QtWidgets.QLabel("")
        self.notes.setTextFormat(QtCore.Qt.TextFormat.RichText)  # ROI names are escaped
        # one line, whatever its length (the plots keep their height); all of it on hover
        self.notes.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored,
                                 QtWidgets.QSizePolicy.Policy.Fixed)
        self.graphics = pg.GraphicsLayoutWidget()
        self.life_plot = self.graphics.addPlot(row=0, col=0)
        self.photon_plot = self.graphics.addPlot(row=0, col=1)
        self.fraction_plot = self.graphics.addPlot(row=0, col=2)
        # short axis labels (the titles say more): an axis is as tall as its label
        for p, label, units in ((self.life_plot, "lifetime", "ns"),
                                (self.photon_plot, "photons", None),
                                (self.fraction_plot, "fraction", None)):
            plot_style.axis_label(p, "left", label, units)
            plot_style.axis_label(p, "bottom", "time", "s")
        for p in (self.life_plot, self.photon_plot, self.fraction_plot):
            p.getAxis("left").enableAutoSIPrefix(False)
            p.showGrid(x=True, y=True, alpha=0.2)
        # short titles: a title's width is its plot's minimum width, and the three plots
        # must fit beside each other under the image at 1280 x 800
        for p, title, tip in (
                (self.life_plot, "lifetime ± 1 SE (white: corrected)",
                 "band: ± 1 standard error; white: background-corrected"),
                (self.photon_plot, "photons (thick: corrected)",
                 "thin: the ROI's photons; thick: minus neuropil or background; dotted: the "
                 "neuropil's"),
                (self.fraction_plot, "long fraction ± 1 SE",
                 "the long-lifetime component's fraction of the fraction fit; band: ± 1 "
                 "standard error")):
            p.setTitle(title, size="8pt")
            p.titleLabel.setToolTip(tip)
        self.photon_plot.setXLink(self.life_plot)
        self.fraction_plot.setXLink(self.life_plot)
        self.graphics.setMinimumHeight(plot_style.minimum_height(self.graphics))
        row = QtWidgets.QHBoxLayout()
        for w in (self.edit_button, self.fraction, self.n_exps, self.bin):
            row.addWidget(w)
        row.addStretch(1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.notes)
        layout.addWidget(self.graphics, 1)
        self.loader = LatestLoader(self._compute, sync=sync, parent=self)
        self.loader.loaded.connect(self._show)
        self.loader.failed.connect(lambda k, m: self.error.emit(m))
        self._show_fraction(flim.fraction)
        self.edit_button.clicked.connect(self.edit_corrections)
        for w in (self.fraction,):
            w.toggled.connect(lambda _: self._fraction_edited())
        for w in (self.n_exps, self.bin):
            w.valueChanged.connect(lambda _: self._fraction_edited())
        flim.subscribe(self._on_flim)
        state.subscribe(lambda changed: changed & {"color", "registered"} and self.refresh())
        masks.subscribe(lambda changed: None if masks.in_stroke else self.refresh())
        if not session.has_flim:
            self.setEnabled(False)
            self.notes.setText("No photon arrival times in this file: no lifetime traces.")

    def _show_fraction(self, f: FractionFitSettings) -> None:
        for w in (self.fraction, self.n_exps, self.bin):
            w.blockSignals(True)
        self.fraction.setChecked(f.enabled)
        self.n_exps.setValue(f.n_exps)
        self.bin.setValue(f.bin_timepoints)
        for w in (self.fraction, self.n_exps, self.bin):
            w.blockSignals(False)

    def _fraction_edited(self) -> None:
        old = self.flim.fraction
        self.flim.set_fraction(FractionFitSettings(self.fraction.isChecked(), self.n_exps.value(),
                                                   self.bin.value(), old.rebin))

    def _on_flim(self, changed: set[str]) -> None:
        if "fraction" in changed:
            self._show_fraction(self.flim.fraction)
        if changed & {"calibration", "background", "fraction"}:
            self.refresh()

    def set_selected(self, roi_ids: list[int]) -> None:
        """Plot these ROIs."""
        self.selected = list(roi_ids)
        self.refresh()

    def edit_corrections(self) -> None:
        """Open the corrections dialog of the first selected ROI."""
        rois = [r for r in self.masks.rois if r.roi_id in self.selected]
        if not rois:
            self.error.emit("Select an ROI in the Masks panel first.")
            return
        name = rois[0].name
        others = [r.name for r in self.masks.rois if r.name != name]
        dialog = BackgroundDialog(name, self.flim.backgrounds.get(name), others, self)
        if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted:
            self.flim.set_background(name, dialog.settings())

    def refresh(self) -> None:
        """Recompute the lifetime columns of every ROI (background load)."""
        if not self._active() or not self.masks.rois:
            return
        self._stale = False
        s, c = self.state, self.state.color
        cal = self.flim.calibration_for(self.session, c, self._params_for(c))
        names = [r.name for r in self.masks.rois]
        key = (self.masks.version, c, s.registered, repr(cal.to_dict()),
               repr(self.flim.document_fields()["backgrounds"]), self.flim.fraction)
        self.loader.request(key, self.masks.stack(), names, cal,
                            dict(self.flim.backgrounds), self.flim.fraction)

    def _compute(self, key, masks, names, cal, backgrounds, fraction):  # worker thread
        _, c, registered, *_ = key
        return names, compute_flim_columns(self.session, masks, names, c, registered, cal,
                                           backgrounds, fraction)

    def _show(self, key, result) -> None:
        if self._shut:
            return
        self.result = result
        self.redraw()

    def redraw(self) -> None:
        """Draw the selected ROIs' traces (all ROIs when none is selected)."""
        for p in (self.life_plot, self.photon_plot, self.fraction_plot):
            p.clear()
        if self.result is None:
            return
        names, cols = self.result
        t = self.session.timepoint_times(0, self.state.color)
        t = np.where(np.isfinite(t), t, np.arange(len(t)))
        by_name = {r.name: r for r in self.masks.rois}
        chosen = [r for r in self.masks.rois if r.roi_id in self.selected] or self.masks.rois[:3]
        notes = []
        c = cols.columns
        for roi in chosen:
            if roi.name not in names:
                continue
            i, color = names.index(roi.name), tuple(roi.color)
            if cols.lifetime_ns is not None:
                _band(self.life_plot, t, cols.lifetime_ns[i], c["lifetime_se_ns"][i], color)
            if "corrected_lifetime_ns" in c and np.isfinite(c["corrected_lifetime_ns"][i]).any():
                _band(self.life_plot, t, c["corrected_lifetime_ns"][i],
                      c["corrected_lifetime_se_ns"][i], (255, 255, 255))
            if cols.photons is not None:
                self.photon_plot.plot(t, cols.photons[i], pen=pg.mkPen(color, width=1),
                                      name=f"{roi.name}")
            if "neuropil_corrected_photons" in c and np.isfinite(
                    c["neuropil_corrected_photons"][i]).any():
                self.photon_plot.plot(t, c["neuropil_corrected_photons"][i],
                                      pen=pg.mkPen(color, width=1.5),
                                      name=f"{roi.name} − neuropil")
                self.photon_plot.plot(t, c["neuropil_photons"][i],
                                      pen=pg.mkPen(color, width=1, style=QtCore.Qt.PenStyle.DotLine),
                                      name=f"{roi.name} neuropil")
            if "signal_photons" in c and np.isfinite(c["signal_photons"][i]).any():
                self.photon_plot.plot(t, c["signal_photons"][i], pen=pg.mkPen(color, width=1.5),
                                      name=f"{roi.name} − background")
            if "long_fraction" in c:
                _band(self.fraction_plot, t, c["long_fraction"][i], c["long_fraction_se"][i],
                      color, limits=FRACTION_RANGE)
            s = self.flim.backgrounds.get(roi.name)
            if s is not None:
                parts = []
                if s.neuropil:
                    parts.append(f"neuropil annulus gap {s.gap_px} px, width {s.width_px} px, "
                                 f"× {s.coefficient:g}")
                if s.background_roi and s.background_roi in by_name:
                    parts.append(f"background ROI '{s.background_roi}'")
                notes.append(f"{roi.name}: " + "; ".join(parts))
        if cols.pooled:
            for roi in chosen:
                if roi.name in names and names.index(roi.name) < len(cols.pooled):
                    p = cols.pooled[names.index(roi.name)].copy()
                    p.convert_units("nanoseconds")
                    taus = ", ".join(f"{e.tau:.2f}" for e in p.exps)
                    notes.append(f"{roi.name} fraction fit: τ = {taus} ns fixed")
        # how many warnings the plotted ROIs' fits have (one line: the plots keep their
        # height); the warnings themselves on hover
        warnings = [f"⚠ {w}" for w in cols.warnings]
        here = len(cols.warnings_about(r.name for r in chosen))
        others = len(warnings) - here
        shown = [f"⚠ {n} warning{'s' if n > 1 else ''}{what}: hover to read"
                 for n, what in ((here, ""), (others, " of other ROIs")) if n]
        key = plot_style.colour_key((r.name, tuple(r.color)) for r in chosen
                                    if r.name in names)
        # the warnings' count before the notes: a long line is cut at the right
        parts = [html.escape(n) for n in shown + notes] or [
            "No corrections set (Corrections of the selected ROI…)."]
        self.notes.setText(" · ".join([key] * bool(key) + parts))
        self.notes.setToolTip("<p style='white-space:pre'>"  # rich: the names are escaped
                              + "<br>".join(html.escape(t) for t in notes + warnings) + "</p>")
        self.fraction_plot.setVisible("long_fraction" in c)
        rows = [names.index(r.name) for r in chosen if r.name in names]
        shown = [cols.lifetime_ns] + ([c["corrected_lifetime_ns"]]
                                      if "corrected_lifetime_ns" in c else [])
        if cols.lifetime_ns is not None:
            self._robust_range(self.life_plot, np.concatenate([v[rows] for v in shown], axis=1))
        self.fraction_plot.setYRange(*FRACTION_RANGE, padding=0)

    @staticmethod
    def _robust_range(plot, values) -> None:
        """Y range from the 1st to 99th percentile (one wild timepoint does not flatten the
        rest)."""
        v = values[np.isfinite(values)]
        if v.size:
            lo, hi = np.percentile(v, [1, 99])
            pad = 0.2 * max(hi - lo, 0.05)
            plot.setYRange(lo - pad, hi + pad, padding=0)

    def shutdown(self) -> None:
        """Stop background work: the session is being replaced."""
        self._shut = True
        self.loader.stop(wait=False)

