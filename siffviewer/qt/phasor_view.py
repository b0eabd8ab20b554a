"""Pixel phasor plot: the 2-D density of per-pixel calibrated phasors of the current frame(s),
the plane projection or the selected ROI, with the universal semicircle, a photon threshold,
a median filter, circular and polygon cursors (their pixels light up in the frame view
through :class:`~siffviewer.model.flim_settings.FlimSettings`), and "cursor -> new ROI"."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from libsiff.flim.pixel_phasor import G_RANGE, S_RANGE, phasor_density, phasor_extent

from ..model.flim_settings import FlimSettings, PhasorCursor, PhasorSettings
from ..model.masks import MaskSet
from ..model.phasor_image import DENSITY_BINS, PhasorRequest, cursor_selection, phasor_image
from ..model.session import Session
from ..model.view_state import ViewState
from ..workers import LatestLoader
from . import FlimRefreshWhenShown, plot_style

SOURCES = [("frames", "Current frame(s)"), ("projection", "Plane projection"),
           ("roi", "Selected ROI (plane projection)")]
CURSOR_PENS = [(255, 220, 0), (0, 230, 255), (255, 80, 200), (120, 255, 120)]


def _widened(old: tuple[float, float], new: tuple[float, float]) -> tuple[float, float]:
    """``old`` widened to hold ``new``, whose ends are rounded outward to 0.1."""
    return (min(old[0], math.floor(new[0] * 10) / 10), max(old[1], math.ceil(new[1] * 10) / 10))


class PhasorPanel(FlimRefreshWhenShown, QtWidgets.QWidget):
    """The pixel phasor plot and its settings (saved in the session via FlimSettings)."""

    error = QtCore.pyqtSignal(str)
    roi_created = QtCore.pyqtSignal(int)

    def __init__(self, session: Session, state: ViewState, masks: MaskSet, flim: FlimSettings,
                 params_for, sync: bool = False, parent=None) -> None:
        super().__init__(parent)
        self.session, self.state, self.masks, self.flim, self.sync = (session, state, masks,
                                                                      flim, sync)
        self._params_for = params_for  # channel -> FLIMParams or None (the current fit)
        self.roi_id: int | None = None
        self.phasor = None
        self._stale = True
        self._shut = False
        self._cursor_items: list = []
        self.source = QtWidgets.QComboBox()
        for _, text in SOURCES:
            self.source.addItem(text)
        self.threshold = QtWidgets.QSpinBox()
        self.threshold.setRange(0, 1_000_000)
        self.threshold.setPrefix("min photons/pixel: ")
        self.filter_size = QtWidgets.QSpinBox()
        self.filter_size.setRange(1, 15)
        self.filter_size.setSingleStep(2)
        self.filter_size.setPrefix("median ")
        self.filter_size.setSuffix(" px")
        self.filter_repeat = QtWidgets.QSpinBox()
        self.filter_repeat.setRange(0, 10)
        self.filter_repeat.setPrefix("median repeats: ")
        self.filter_repeat.setToolTip("How many times the median filter is applied (0: none)")
        self.add_circle = QtWidgets.QPushButton("Add circle cursor")
        self.add_polygon = QtWidgets.QPushButton("Add polygon cursor")
        self.clear_cursors = QtWidgets.QPushButton("Clear cursors")
        self.to_roi = QtWidgets.QPushButton("Cursor → new ROI")
        self.info = QtWidgets.QLabel("")
        self.info.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.plot.setAspectLocked(True)
        self.plot.setLabel("bottom", "g (calibrated phasor, laser harmonic)")
        self.plot.setLabel("left", "s")
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).enableAutoSIPrefix(False)
        self.density = pg.ImageItem(axisOrder="col-major")
        self.plot.addItem(self.density)
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get("viridis"),
                                        interactive=False, width=14)
        self.colorbar.setImageItem(self.density, insert_in=self.plot.getPlotItem())
        # room above the plot for the colour bar's top tick label (else cut in half)
        self.plot.getPlotItem().layout.setContentsMargins(1, 8, 1, 1)
        axis = self.colorbar.axis  # the small label font of the other plots: it fits a short dock
        axis.setLabel("log10(1 + pixels per bin)", **{"font-size": plot_style.LABEL_SIZE,
                                                      "color": axis.textPen().color().name()})
        theta = np.linspace(0, np.pi, 181)
        self.plot.plot(0.5 + 0.5 * np.cos(theta), 0.5 * np.sin(theta),
                       pen=pg.mkPen((230, 230, 230), width=1.5))
        self.ticks = pg.ScatterPlotItem(size=5, brush=pg.mkBrush(230, 230, 230), pen=None)
        self.plot.addItem(self.ticks)
        self.tick_labels: list = []
        self._extent = (G_RANGE, S_RANGE)
        self._show_range(G_RANGE, S_RANGE)
        # two columns of controls: the panel fits the short bottom dock
        controls = QtWidgets.QGridLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(self.source, 0, 0, 1, 2)
        for i, w in enumerate((self.threshold, self.filter_size, self.filter_repeat, None,
                               self.add_circle, self.add_polygon, self.clear_cursors,
                               self.to_roi)):
            if w is not None:
                controls.addWidget(w, 1 + i // 2, i % 2)
        controls.addWidget(self.info, 5, 0, 1, 2)
        controls.setRowStretch(6, 1)
        box = QtWidgets.QWidget()
        box.setLayout(controls)
        box.setMaximumWidth(360)
        layout = QtWidgets.QHBoxLayout(self)
        layout.addWidget(box)
        layout.addWidget(self.plot, 1)
        self.loader = LatestLoader(self._compute, sync=sync, parent=self)
        self.loader.loaded.connect(self._show)
        self.loader.failed.connect(lambda k, m: self.error.emit(m))
        self._show_settings(flim.phasor)
        for w in (self.threshold, self.filter_size, self.filter_repeat):
            w.valueChanged.connect(lambda _: self._settings_edited())
        self.source.currentIndexChanged.connect(lambda _: self._settings_edited())
        self.add_circle.clicked.connect(lambda: self.add_cursor(PhasorCursor("circle")))
        self.add_polygon.clicked.connect(lambda: self.add_cursor(PhasorCursor(
            "polygon", vertices=((0.15, 0.25), (0.35, 0.25), (0.35, 0.4), (0.15, 0.4)))))
        self.clear_cursors.clicked.connect(lambda: self._set_cursors(()))
        self.to_roi.clicked.connect(self.cursor_to_roi)
        state.subscribe(self._on_state)
        flim.subscribe(self._on_flim)
        masks.subscribe(lambda changed: None if masks.in_stroke or self.source_name != "roi"
                        else self.refresh())
        self._draw_cursors()
        if not session.has_flim:
            self.setEnabled(False)
            self.info.setText("No photon arrival times in this file.")

    # ---- settings ----
    @property
    def source_name(self) -> str:
        """The phasor source of the settings ('frames', 'projection' or 'roi')."""
        return SOURCES[self.source.currentIndex()][0]

    def _show_settings(self, s: PhasorSettings) -> None:
        widgets = (self.threshold, self.filter_size, self.filter_repeat, self.source)
        for w in widgets:
            w.blockSignals(True)
        self.threshold.setValue(int(round(s.min_photons)))
        self.filter_size.setValue(s.filter_size)
        self.filter_repeat.setValue(s.filter_repeat)
        self.source.setCurrentIndex([k for k, _ in SOURCES].index(s.source))
        for w in widgets:
            w.blockSignals(False)

    def _settings_edited(self) -> None:
        s = self.flim.phasor
        self.flim.set_phasor(PhasorSettings(self.source_name, float(self.threshold.value()),
                                            self.filter_size.value() | 1,
                                            self.filter_repeat.value(), s.cursors))

    def _set_cursors(self, cursors) -> None:
        s = self.flim.phasor
        self.flim.set_phasor(PhasorSettings(s.source, s.min_photons, s.filter_size,
                                            s.filter_repeat, tuple(cursors)))

    def add_cursor(self, cursor: PhasorCursor) -> None:
        """Add a cursor (its pixels light up in the frame view)."""
        self._set_cursors(self.flim.phasor.cursors + (cursor,))

    # ---- the cursor items ----
    def _draw_cursors(self) -> None:
        for item in self._cursor_items:
            self.plot.removeItem(item)
        self._cursor_items = []
        for i, c in enumerate(self.flim.phasor.cursors):
            pen = pg.mkPen(CURSOR_PENS[i % len(CURSOR_PENS)], width=2)
            if c.kind == "circle":
                item = pg.CircleROI((c.center[0] - c.radius, c.center[1] - c.radius),
                                    radius=c.radius, pen=pen, movable=True)
            else:
                item = pg.PolyLineROI([list(v) for v in c.vertices], closed=True, pen=pen)
            item.sigRegionChangeFinished.connect(lambda it, i=i: self._cursor_moved(i, it))
            self.plot.addItem(item)
            self._cursor_items.append(item)

    def _cursor_moved(self, index: int, item) -> None:
        cursors = list(self.flim.phasor.cursors)
        if index >= len(cursors):
            return
        if cursors[index].kind == "circle":
            x, y = item.pos()
            r = item.size()[0] / 2
            cursors[index] = PhasorCursor("circle", (float(x + r), float(y + r)), float(r))
        else:
            pts = [item.mapToParent(h["item"].pos()) for h in item.handles]
            cursors[index] = PhasorCursor("polygon",
                                          vertices=tuple((p.x(), p.y()) for p in pts))
        self._moving = True
        try:
            self._set_cursors(cursors)
        finally:
            self._moving = False

    # ---- computing ----
    def _on_flim(self, changed: set[str]) -> None:
        if "phasor" in changed:
            self._show_settings(self.flim.phasor)
            if not getattr(self, "_moving", False):
                self._draw_cursors()
        if "calibration" in changed or (
                "phasor" in changed and self._key() != getattr(self, "_shown_key", None)):
            self.refresh()
        elif "phasor" in changed:
            self._update_selection()

    def _on_state(self, changed: set[str]) -> None:
        if changed & {"timepoint", "plane", "color", "average", "registered"}:
            if self.source_name == "frames" or changed & {"plane", "color", "registered"}:
                self.refresh()

    def set_roi(self, roi_id: int | None) -> None:
        """The ROI whose pixels the 'Selected ROI' source shows."""
        self.roi_id = roi_id
        if self.source_name == "roi":
            self.refresh()

    def calibration(self):
        """The current channel's calibration (what the phasors are calibrated with)."""
        c = self.state.color
        return self.flim.calibration_for(self.session, c, self._params_for(c))

    def _key(self):
        s, p = self.state, self.flim.phasor
        frames = p.source == "frames"
        cal = self.calibration()
        return (PhasorRequest(p.source, s.timepoint if frames else 0, s.plane, s.color,
                              s.average if frames else 1, s.registered),
                p.min_photons, p.filter_size, p.filter_repeat,
                self.masks.version if p.source == "roi" else -1, self.roi_id,
                repr(cal.to_dict()) if cal is not None else None)

    def refresh(self) -> None:
        """Recompute the phasor image of the current view (background load)."""
        if not self._active():
            return
        self._stale = False
        key = self._key()
        mask = None
        if key[0].source == "roi":
            roi = next((r for r in self.masks.rois if r.roi_id == self.roi_id), None)
            if roi is None:
                self.info.setText("Select an ROI in the Masks panel.")
                return
            mask = roi.mask[key[0].plane].copy()
        self.loader.request(key, self.calibration(), self.flim.phasor, mask)

    def _compute(self, key, calibration, settings, mask):  # worker: inputs as arguments
        ph = phasor_image(self.session, key[0], calibration, settings, mask)
        extent = phasor_extent(ph.real, ph.imag)
        density, _, _ = phasor_density(ph.real, ph.imag, DENSITY_BINS, g_range=extent[0],
                                       s_range=extent[1])
        return ph, density, extent

    def _show(self, key, result) -> None:
        if self._shut:
            return
        self.phasor, density, (g_range, s_range) = result
        self._shown_key = key
        shown = np.log10(1.0 + density)
        top = float(shown.max()) if shown.size and shown.max() > 0 else 1.0
        shown[density == 0] = np.nan  # empty bins transparent
        self.density.setImage(shown, autoLevels=False, levels=(0, top))
        # after setImage: the rectangle scales by the image's size
        self.density.setRect(QtCore.QRectF(g_range[0], s_range[0], g_range[1] - g_range[0],
                                           s_range[1] - s_range[0]))
        # the view grows (in steps of 0.1) to hold points outside it, and never shrinks:
        # it does not jump from frame to frame, nor undo the user's zoom for nothing
        grown = tuple(_widened(old, new) for old, new in zip(self._extent, (g_range, s_range),
                                                            strict=True))
        if grown != self._extent:
            self._extent = grown
            self._show_range(*grown)
        self.colorbar.setLevels((0, top))
        self._draw_ticks(key[-1])
        n = int(np.isfinite(self.phasor.real).sum())
        cal = self.calibration()
        calibrated = cal is not None and cal.source != "none"
        self.plot.setLabel("bottom", f"g ({'calibrated' if calibrated else 'uncalibrated'} "
                                     "phasor, laser harmonic)")
        text = (f"{n:,} pixels shown · calibration: {cal.source} · "
                f"{cal.frequency_mhz:.2f} MHz" if cal is not None else "")
        if n == 0:
            text += (" · no pixel has the minimum photons: lower it, average timepoints or "
                     "use the plane projection")
        self.info.setText(text)
        self._update_selection()

    def _show_range(self, g_range, s_range) -> None:
        """View the phasor extent and room around it for the lifetime labels (both ranges at
        once: with the aspect locked the box then holds both)."""
        self.plot.getViewBox().setRange(xRange=(g_range[0] - 0.18, g_range[1] + 0.25),
                                        yRange=(s_range[0], s_range[1] + 0.06), padding=0)

    def _draw_ticks(self, _cal_key) -> None:
        cal = self.calibration()
        if cal is None:
            return
        taus = np.array([0.5, 1.0, 2.0, 3.0, 4.0, 8.0])
        g, s = cal.lifetime_phasor(taus)
        self.ticks.setData(np.asarray(g, float), np.asarray(s, float))
        for item in self.tick_labels:
            self.plot.removeItem(item)
        self.tick_labels = []
        for t, gx, sy in zip(taus, np.atleast_1d(g), np.atleast_1d(s), strict=True):
            # outside the semicircle, away from its centre: never on the line itself
            ux, uy = float(gx) - 0.5, float(sy)
            norm = max(np.hypot(ux, uy), 1e-9)
            anchor = (0.5 - 0.7 * ux / norm, 0.5 + 0.7 * uy / norm)
            label = pg.TextItem(f"{t:g} ns", color=(230, 230, 230), anchor=anchor)
            label.setPos(float(gx), float(sy))
            self.plot.addItem(label)
            self.tick_labels.append(label)

    def _update_selection(self) -> None:
        sel = None if self.phasor is None else cursor_selection(self.phasor, self.flim.phasor)
        self.flim.set_selection(sel)
        if sel is not None:
            self.to_roi.setText(f"Cursor → new ROI ({int(sel.sum()):,} pixels)")
        else:
            self.to_roi.setText("Cursor → new ROI")

    def cursor_to_roi(self) -> int | None:
        """A new ROI (in the current plane) of the pixels the cursors select; its id."""
        sel = self.flim.selection
        if sel is None or not sel.any():
            self.error.emit("No pixel inside the cursors: add a cursor over the phasor cloud.")
            return None
        roi = self.masks.add_roi("phasor cursor")
        self.masks.apply_region(roi.roi_id, self.state.plane, sel)
        self.roi_created.emit(roi.roi_id)
        return roi.roi_id

    def shutdown(self) -> None:
        """Stop background work: the session is being replaced."""
        self._shut = True
        self.loader.stop(wait=False)
