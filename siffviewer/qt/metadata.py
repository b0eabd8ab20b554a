"""Acquisition settings: a summary, a searchable tree of every ScanImage setting, the
ROI-group JSON, the description text of the displayed frame and the table of all frames."""

from __future__ import annotations

from PyQt6 import QtCore, QtGui, QtWidgets

from ..model.session import Session
from ..model.view_state import ViewState
from . import on_screen
from .frame_table import FrameTableView


class SettingsTree(QtWidgets.QWidget):
    """Every ``SI.*`` setting grouped by module, filtered by a search box."""

    def __init__(self, settings: dict[str, str], parent=None) -> None:
        super().__init__(parent)
        self.search = QtWidgets.QLineEdit()
        self.search.setPlaceholderText("Search settings (e.g. zoom, FastZ, Tau_bins)")
        self.search.setClearButtonEnabled(True)
        self.tree = QtWidgets.QTreeWidget()
        self.tree.setHeaderLabels(["Setting", "Value"])
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        modules: dict[str, dict[str, str]] = {}
        for key, value in settings.items():
            module, _, name = key.rpartition(".")
            modules.setdefault(module, {})[name] = value
        for module, props in modules.items():
            parent_item = QtWidgets.QTreeWidgetItem([module, f"{len(props)} settings"])
            parent_item.setToolTip(0, module)  # long names are elided
            for name, value in props.items():
                child = QtWidgets.QTreeWidgetItem([name, value])
                child.setToolTip(0, f"{module}.{name}")
                child.setToolTip(1, value)
                parent_item.addChild(child)
            self.tree.addTopLevelItem(parent_item)
        # the names keep at most ~half of the width (the user can drag the divider): sized
        # to their contents, the long ones left the values a few pixels in a side dock
        self.tree.header().setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Interactive)
        self.tree.header().setStretchLastSection(True)
        self.tree.setTextElideMode(QtCore.Qt.TextElideMode.ElideMiddle)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        self.search.textChanged.connect(self.apply_filter)
        self._names_sized = False

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        if not self._names_sized or self.tree.columnWidth(0) > 0.6 * self.tree.viewport().width():
            self._names_sized = True
            self.tree.setColumnWidth(0, min(self.tree.sizeHintForColumn(0) + 12,
                                            int(0.5 * self.tree.viewport().width())))

    def apply_filter(self, text: str) -> int:
        """Show settings whose module, name or value contains ``text``; returns the count."""
        needle = text.strip().lower()
        shown = 0
        for i in range(self.tree.topLevelItemCount()):
            module = self.tree.topLevelItem(i)
            module_hit = needle in module.text(0).lower()
            any_child = False
            for j in range(module.childCount()):
                child = module.child(j)
                hit = (not needle or module_hit or needle in child.text(0).lower()
                       or needle in child.text(1).lower())
                child.setHidden(not hit)
                any_child |= hit
                shown += hit
            module.setHidden(not any_child)
            module.setExpanded(bool(needle) and any_child)
        return shown

    def visible_settings(self) -> list[tuple[str, str, str]]:
        """(module, key, value) of every setting the filter leaves visible."""
        out = []
        for i in range(self.tree.topLevelItemCount()):
            module = self.tree.topLevelItem(i)
            for j in range(module.childCount()):
                child = module.child(j)
                if not child.isHidden() and not module.isHidden():
                    out.append((module.text(0), child.text(0), child.text(1)))
        return out


class MetadataPanel(QtWidgets.QTabWidget):
    """Summary, settings, ROI groups, the current frame's description and the frame table."""

    def __init__(self, session: Session, state: ViewState, parent=None) -> None:
        super().__init__(parent)
        self.session, self.state = session, state
        self.summary = QtWidgets.QWidget()
        form = QtWidgets.QFormLayout(self.summary)
        form.setLabelAlignment(QtCore.Qt.AlignmentFlag.AlignRight)
        self.summary_labels: dict[str, QtWidgets.QLabel] = {}
        for key, value in session.summary().items():
            label = QtWidgets.QLabel(value)
            label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            form.addRow(f"<b>{key}</b>", label)
            self.summary_labels[key] = label
        self.settings = SettingsTree(session.header_settings())
        mono = QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont)
        self.roi_text = QtWidgets.QPlainTextEdit(session.roi_json())
        self.roi_text.setReadOnly(True)
        self.roi_text.setFont(mono)
        self.description = QtWidgets.QPlainTextEdit()
        self.description.setReadOnly(True)
        self.description.setFont(mono)
        # the form scrolls rather than setting the dock's (and the window's) minimum height
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setWidget(self.summary)
        self.addTab(scroll, "Summary")
        self.addTab(self.settings, "Settings")
        self.addTab(self.roi_text, "ROI groups")
        self.addTab(self.description, "Frame")
        self.frames = FrameTableView(session, state)
        self.addTab(self.frames, "Frame table")
        self._stale = True
        state.subscribe(self._on_state)
        self.currentChanged.connect(lambda _: self._stale and self.refresh())
        self.refresh()

    def _on_state(self, changed: set[str]) -> None:
        if not changed & {"timepoint", "plane", "color"}:
            return
        if on_screen(self.description):
            self.refresh()
        else:
            self._stale = True  # read the description (file I/O) only when it is shown

    def refresh(self) -> None:
        """Show the description of the displayed frame."""
        self._stale = False
        s = self.state
        frame = int(self.session.grid[s.timepoint, s.plane, s.color])
        try:
            text = self.session.description(frame)
        except Exception as e:  # noqa: BLE001 - a damaged description is shown, not fatal
            text = f"(description unreadable: {e})"
        self.description.setPlainText(f"File frame {frame}\n\n{text}")

    def refresh_summary(self) -> None:
        """Update the summary labels from the session."""
        for key, value in self.session.summary().items():
            if key in self.summary_labels:
                self.summary_labels[key].setText(value)
