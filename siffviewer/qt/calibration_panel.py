"""Calibration control of the current channel: from the current fit, from a reference of
known lifetime (the selected ROI or another file, with the user's tau), or from a measured
IRF file; shows the calibration's values. Computations run as Jobs with their inputs as
arguments; the result goes into :class:`~siffviewer.model.flim_settings.FlimSettings`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PyQt6 import QtCore, QtWidgets

from libsiff.flim import Calibration, irf_from_file, reference_from_file
from libsiff.flim.calibration import reference_from_roi

from ..model.flim_settings import FlimSettings
from ..model.masks import MaskSet
from ..model.session import Session
from ..model.view_state import ViewState
from ..workers import Job


def calibration_text(cal: Calibration | None) -> str:
    """The values of a calibration, one line each (for the panel and tooltips)."""
    if cal is None:
        return "No photon arrival times: no calibration."
    bw = cal.bin_width_ps / 1000.0
    sigma = f"{cal.irf_sigma_bins * bw:.3f} ns" if cal.irf_sigma_bins is not None else "unknown"
    lines = [f"source: {cal.source}" + (f" ({cal.note})" if cal.note else ""),
             f"IRF offset {cal.offset_bins * bw:.3f} ns · IRF σ {sigma}",
             f"phase {np.degrees(cal.phase_zero):.2f}° · modulation ×{cal.modulation_zero:.4f}",
             f"laser {cal.frequency_mhz:.3f} MHz (period {cal.period_ns:.3f} ns)"]
    if cal.reference_tau_ns is not None:
        lines.append(f"reference τ = {cal.reference_tau_ns:g} ns")
    return "\n".join(lines)


class CalibrationPanel(QtWidgets.QGroupBox):
    """One calibration per channel (the current one shown)."""

    error = QtCore.pyqtSignal(str)

    def __init__(self, session: Session, state: ViewState, masks: MaskSet, flim: FlimSettings,
                 params_for, sync: bool = False, parent=None) -> None:
        super().__init__("Calibration (current channel)", parent)
        self.session, self.state, self.masks, self.flim, self.sync = (session, state, masks,
                                                                      flim, sync)
        self._params_for = params_for
        self.roi_id: int | None = None
        self.job: Job | None = None
        self.values = QtWidgets.QLabel()
        self.values.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tau = QtWidgets.QDoubleSpinBox()
        self.tau.setRange(0.01, 20.0)
        self.tau.setDecimals(3)
        self.tau.setValue(4.0)
        self.tau.setPrefix("reference τ ")
        self.tau.setSuffix(" ns")
        self.buttons = {}
        grid = QtWidgets.QGridLayout()
        for i, (name, text) in enumerate((("fit", "From current fit"),
                                          ("roi", "Reference: selected ROI"),
                                          ("file", "Reference: file…"),
                                          ("irf", "Measured IRF file…"),
                                          ("reset", "Reset"))):
            b = QtWidgets.QPushButton(text)
            self.buttons[name] = b
            grid.addWidget(b, i // 2, i % 2)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.values)
        layout.addWidget(self.tau)
        layout.addLayout(grid)
        self.buttons["fit"].clicked.connect(self.from_fit)
        self.buttons["roi"].clicked.connect(lambda: self.from_reference_roi(self.tau.value()))
        self.buttons["file"].clicked.connect(self._reference_file_dialog)
        self.buttons["irf"].clicked.connect(self._irf_dialog)
        self.buttons["reset"].clicked.connect(
            lambda: self.flim.set_calibration(self.state.color, None))
        flim.subscribe(lambda changed: "calibration" in changed and self.show_values())
        state.subscribe(lambda changed: "color" in changed and self.show_values())
        self.show_values()
        if not session.has_flim:
            self.setEnabled(False)

    def current(self) -> Calibration | None:
        """The calibration the current channel uses."""
        c = self.state.color
        return self.flim.calibration_for(self.session, c, self._params_for(c))

    def show_values(self) -> None:
        """Show the current channel's calibration."""
        self.values.setText(calibration_text(self.current()))

    def set_roi(self, roi_id: int | None) -> None:
        """The ROI 'Reference: selected ROI' uses."""
        self.roi_id = roi_id

    def from_fit(self) -> None:
        """Calibrate the channel from its current fit (IRF offset and width)."""
        c = self.state.color
        params = self._params_for(c)
        if params is None or not self.session.has_flim:
            self.error.emit("Fit a lifetime model first (Lifetime tab).")
            return
        self.flim.set_calibration(c, Calibration.from_fit(
            params, float(self.session.io.tau_bins), channel=c, note="FLIM fit"))

    def _run(self, name: str, work) -> Job:
        c = self.state.color
        self.job = Job(name, lambda progress, cancelled: work(), sync=self.sync, parent=self)
        self.job.finished_ok.connect(lambda cal: self.flim.set_calibration(c, cal))
        self.job.failed.connect(self.error.emit)
        self.job.start()
        return self.job

    def from_reference_roi(self, tau_ns: float) -> Job | None:
        """Calibrate from the selected ROI's photons (every timepoint) of known ``tau_ns``."""
        roi = next((r for r in self.masks.rois if r.roi_id == self.roi_id), None)
        if roi is None:
            self.error.emit("Select the reference ROI in the Masks panel first.")
            return None
        s, c = self.session, self.state.color
        mask, frames = roi.mask.copy(), s.volume_frames(c)
        shifts = s.shifts(self.state.registered)
        return self._run("reference calibration", lambda: reference_from_roi(
            s.reader, mask, frames, tau_ns, channel=c, registration_dict=shifts))

    def from_reference_file(self, path: str | Path, tau_ns: float) -> Job:
        """Calibrate from another recording of a dye of known ``tau_ns`` (same channel)."""
        c = self.state.color
        return self._run("reference calibration",
                         lambda: reference_from_file(path, tau_ns, channel=c))

    def from_irf_file(self, path: str | Path) -> Job:
        """Calibrate from a measured IRF: a .siff/.tif recording or a histogram file."""
        c, s = self.state.color, self.session
        period, bw = float(s.io.tau_bins), float(s.reader.picoseconds_per_bin)
        return self._run("IRF calibration", lambda: irf_from_file(
            path, channel=c, period_bins=period, bin_width_ps=bw))

    def _reference_file_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Reference recording", str(self.session.path.parent),
            "ScanImage files (*.siff *.tif *.tiff)")
        if path:
            self.from_reference_file(path, self.tau.value())

    def _irf_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Measured IRF", str(self.session.path.parent),
            "IRF recording or histogram (*.siff *.tif *.tiff *.npy *.csv *.txt)")
        if path:
            self.from_irf_file(path)

    def shutdown(self) -> None:
        """Drop a calibration still being computed (the session is being replaced)."""
        if self.job is not None:
            self.job.abandon()
