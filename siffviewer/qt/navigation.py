"""Sliders and spin boxes for timepoint, plane and colour; averaging, playback, registration."""

from __future__ import annotations

from PyQt6 import QtCore, QtWidgets

from ..model.view_state import LUTS, ViewState


class AxisControl(QtWidgets.QWidget):
    """A labelled slider with a spin box for one axis of the ViewState."""

    def __init__(self, label: str, state: ViewState, axis: str, count: int, parent=None,
                 describe=None):
        super().__init__(parent)
        self.describe = describe  # value -> extra text shown after the total
        self.state, self.axis = state, axis
        self.label = QtWidgets.QLabel(label)
        self.label.setMinimumWidth(72)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)  # keys go to the window
        self.spin = QtWidgets.QSpinBox()
        self.spin.setMinimumWidth(80)
        self.total = QtWidgets.QLabel()
        self.set_count(count)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for w in (self.label, self.slider, self.spin, self.total):
            layout.addWidget(w)
        layout.setStretch(1, 1)
        self.slider.valueChanged.connect(lambda v: state.update(**{axis: v}))
        self.spin.valueChanged.connect(lambda v: state.update(**{axis: v}))

    def set_count(self, count: int) -> None:
        """Show ``count`` positions (0 ... count - 1), e.g. after the file grew."""
        for w in (self.slider, self.spin):
            w.blockSignals(True)
            w.setRange(0, max(0, count - 1))
            w.blockSignals(False)
        self.slider.setPageStep(max(1, count // 20))
        self.total.setText(f"/ {count - 1}")
        for w in (self.slider, self.spin):  # not the whole row: it may hold other controls
            w.setEnabled(count > 1)

    def sync(self) -> None:
        """Show the state's value of this axis in the slider and spin box."""
        value = getattr(self.state, self.axis)
        if self.describe is not None:
            self.total.setText(f"/ {self.spin.maximum()}  {self.describe(value)}")
        for w in (self.slider, self.spin):
            if w.value() != value:
                w.blockSignals(True)
                w.setValue(value)
                w.blockSignals(False)


class NavigationPanel(QtWidgets.QWidget):
    """The view of a ViewState: every control writes to the state, and redraws from it."""

    auto_levels_requested = QtCore.pyqtSignal()

    def __init__(self, state: ViewState, parent=None, channel_names=None) -> None:
        super().__init__(parent)
        self.state = state
        self.time = AxisControl("Timepoint", state, "timepoint", state.n_timepoints)
        self.plane = AxisControl("Plane", state, "plane", state.n_planes)
        names = list(channel_names or [])
        self.color = AxisControl(
            "Channel", state, "color", state.n_colors,
            describe=(lambda v: f"(ScanImage channel {names[v]})") if names else None)
        self.average = QtWidgets.QSpinBox()
        self.average.setRange(1, state.n_timepoints)
        self.average.setPrefix("average ")
        self.average.setSuffix(" timepoint(s)")
        self.average.setToolTip("Show the mean of this many timepoints, centred on the current "
                                "one (fewer at the start and end of the recording)")
        self.play = QtWidgets.QPushButton("Play")
        self.play.setCheckable(True)
        self.fps = QtWidgets.QDoubleSpinBox()
        self.fps.setRange(0.5, 120)
        self.fps.setValue(state.play_fps)
        self.fps.setSuffix(" timepoints/s")
        self.registered = QtWidgets.QCheckBox("Registered")
        self.registered.setToolTip("Show frames shifted by the registration")
        self.registered.setEnabled(False)
        self.auto = QtWidgets.QPushButton("Auto levels")
        self.lut = QtWidgets.QComboBox()
        self.lut.addItems(LUTS)
        self.lut.setToolTip("Colour map of this channel (each channel keeps its own)")
        # three rows, each control on the row of the axis it acts on: the image keeps the
        # height a fourth row would take
        for w in (self.average, self.play, self.fps):
            self.time.layout().addWidget(w)
        for w in (self.lut, self.registered, self.auto):  # the colour map is per channel
            self.color.layout().addWidget(w)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        layout.setSpacing(2)
        for w in (self.time, self.plane, self.color):
            layout.addWidget(w)
        self.average.valueChanged.connect(lambda v: state.update(average=v))
        self.fps.valueChanged.connect(lambda v: state.update(play_fps=v))
        self.play.toggled.connect(lambda on: state.update(playing=on))
        self.registered.toggled.connect(lambda on: state.update(registered=on))
        self.auto.clicked.connect(self.auto_levels_requested)
        self.lut.currentTextChanged.connect(lambda name: state.update(lut=name))
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self._tick)
        state.subscribe(self._on_state)
        self._on_state({"timepoint", "plane", "color", "playing"})

    def add_plane_control(self, widget: QtWidgets.QWidget) -> None:
        """Put ``widget`` at the end of the plane row (e.g. what to draw of the plane)."""
        self.plane.layout().addWidget(widget)

    def set_registration_available(self, available: bool) -> None:
        """Enable the registered-frames switch (unchecked when unavailable)."""
        self.registered.setEnabled(available)
        if not available and self.registered.isChecked():
            self.registered.setChecked(False)

    def _tick(self) -> None:
        s = self.state
        s.update(timepoint=(s.timepoint + 1) % s.n_timepoints)

    def _on_state(self, changed: set[str]) -> None:
        if "n_timepoints" in changed:  # the file grew
            self.time.set_count(self.state.n_timepoints)
            self.average.setMaximum(self.state.n_timepoints)
        for control in (self.time, self.plane, self.color):
            control.sync()
        s = self.state
        if "average" in changed and self.average.value() != s.average:
            self.average.setValue(s.average)
        if "lut" in changed and self.lut.currentText() != s.lut:
            self.lut.setCurrentText(s.lut)
        if "registered" in changed and self.registered.isChecked() != s.registered:
            self.registered.setChecked(s.registered)
        if changed & {"playing", "play_fps"}:
            self.play.setText("Pause" if s.playing else "Play")
            if self.play.isChecked() != s.playing:
                self.play.setChecked(s.playing)
            if s.playing:
                self.timer.start(int(1000 / s.play_fps))
            else:
                self.timer.stop()
