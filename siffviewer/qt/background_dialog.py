"""A small dialog for one ROI's corrections: the neuropil annulus (gap, width, coefficient)
and the background ROI (its photons, scaled by area, removed before the lifetime)."""

from __future__ import annotations

from PyQt6 import QtWidgets

from libsiff.flim import BackgroundSettings


class BackgroundDialog(QtWidgets.QDialog):
    """Edit the BackgroundSettings of ROI ``name``; ``others`` are the ROIs that may be its
    background."""

    def __init__(self, name: str, settings: BackgroundSettings | None, others: list[str],
                 parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Corrections of ROI {name}")
        s = settings or BackgroundSettings()
        self.neuropil = QtWidgets.QCheckBox("Subtract a neuropil annulus (photons)")
        self.neuropil.setChecked(s.neuropil)
        self.gap = QtWidgets.QSpinBox()
        self.gap.setRange(0, 100)
        self.gap.setValue(s.gap_px)
        self.gap.setSuffix(" px")
        self.width = QtWidgets.QSpinBox()
        self.width.setRange(1, 200)
        self.width.setValue(s.width_px)
        self.width.setSuffix(" px")
        self.coefficient = QtWidgets.QDoubleSpinBox()
        self.coefficient.setRange(0.0, 5.0)
        self.coefficient.setDecimals(2)
        self.coefficient.setValue(s.coefficient)
        self.background = QtWidgets.QComboBox()
        self.background.addItem("none")
        self.background.addItems(others)
        if s.background_roi in others:
            self.background.setCurrentText(s.background_roi)
        form = QtWidgets.QFormLayout(self)
        form.addRow(self.neuropil)
        form.addRow("gap from the ROI", self.gap)
        form.addRow("annulus width", self.width)
        form.addRow("coefficient (suite2p: 0.7)", self.coefficient)
        form.addRow("background ROI (photons and lifetime)", self.background)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                             | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def settings(self) -> BackgroundSettings:
        """The settings as edited."""
        bg = self.background.currentText()
        return BackgroundSettings(self.neuropil.isChecked(), self.gap.value(), self.width.value(),
                                  float(self.coefficient.value()), None if bg == "none" else bg)
