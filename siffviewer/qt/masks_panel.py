"""The ROI list and drawing tools: new/delete/rename/recolour/show-hide, tool and brush
size, undo/redo, save/load."""

from __future__ import annotations

from PyQt6 import QtCore, QtGui, QtWidgets

from ..model.masks import MaskSet
from .mask_tools import TOOLS, MaskEditor

TOOL_TIPS = {
    "pan": "Pan and zoom the image (no drawing)",
    "brush": "Paint the selected ROI (drag)",
    "eraser": "Erase from the selected ROI (drag)",
    "polygon": "Click vertices; double-click or click the first vertex to close",
    "ellipse": "Drag a box to add an ellipse",
    "rectangle": "Drag to add a rectangle",
    "move": "Drag to move the selected ROI (all planes)",
    "fill": "Click to fill the holes of the selected ROI in this plane",
    "threshold": "Click a bright spot: adds its connected pixels at or above the level",
}


class MasksPanel(QtWidgets.QWidget):
    """The view of a MaskSet plus the MaskEditor's settings."""

    selection_changed = QtCore.pyqtSignal()

    def __init__(self, masks: MaskSet, editor: MaskEditor, parent=None) -> None:
        super().__init__(parent)
        self.masks, self.editor = masks, editor
        self.list = QtWidgets.QListWidget()
        self.list.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.DoubleClicked
                                  | QtWidgets.QAbstractItemView.EditTrigger.EditKeyPressed)
        self.new_plane = QtWidgets.QPushButton("New ROI (this plane)")
        self.new_all = QtWidgets.QPushButton("New ROI (all planes)")
        self.delete = QtWidgets.QPushButton("Delete")
        self.color = QtWidgets.QPushButton("Colour…")
        self.tools = QtWidgets.QButtonGroup(self)
        tool_row = QtWidgets.QGridLayout()
        for i, name in enumerate(TOOLS):
            b = QtWidgets.QToolButton()
            b.setText(name.capitalize())
            b.setCheckable(True)
            b.setToolTip(TOOL_TIPS[name])
            b.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
            b.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding,
                            QtWidgets.QSizePolicy.Policy.Fixed)
            self.tools.addButton(b, i)
            tool_row.addWidget(b, i // 4, i % 4)
        self.tools.button(0).setChecked(True)
        self.brush = QtWidgets.QDoubleSpinBox()
        self.brush.setRange(0.5, 50)
        self.brush.setValue(editor.brush_radius)
        self.brush.setPrefix("brush radius ")
        self.brush.setSuffix(" px")
        self.level = QtWidgets.QDoubleSpinBox()
        self.level.setRange(0, 1e6)
        self.level.setDecimals(2)
        self.level.setValue(editor.threshold_level)
        self.level.setPrefix("threshold ")
        self.level.setSuffix(" photons")
        self.undo = QtWidgets.QPushButton("Undo")
        self.redo = QtWidgets.QPushButton("Redo")
        self.count = QtWidgets.QLabel()
        row1 = QtWidgets.QHBoxLayout()
        for w in (self.new_plane, self.new_all):
            row1.addWidget(w)
        row2 = QtWidgets.QGridLayout()
        for i, w in enumerate((self.delete, self.color, self.undo, self.redo)):
            row2.addWidget(w, i // 2, i % 2)
        row3 = QtWidgets.QVBoxLayout()  # one above the other: the dock stays narrow
        row3.addWidget(self.brush)
        row3.addWidget(self.level)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(row1)
        layout.addWidget(self.list, 1)
        layout.addLayout(row2)
        layout.addLayout(tool_row)
        layout.addLayout(row3)
        layout.addWidget(self.count)
        self.new_plane.clicked.connect(lambda: self.add_roi(all_planes=False))
        self.new_all.clicked.connect(lambda: self.add_roi(all_planes=True))
        self.delete.clicked.connect(self.delete_selected)
        self.color.clicked.connect(self.pick_color)
        self.undo.clicked.connect(masks.undo)
        self.redo.clicked.connect(masks.redo)
        self.tools.idClicked.connect(self._on_tool)
        self.brush.valueChanged.connect(lambda v: setattr(editor, "brush_radius", float(v)))
        self.level.valueChanged.connect(lambda v: setattr(editor, "threshold_level", float(v)))
        self.list.itemChanged.connect(self._on_item_changed)
        self.list.itemSelectionChanged.connect(self._on_selection)
        masks.subscribe(self._on_masks)
        self._rebuild()

    # ---- actions ----
    def add_roi(self, all_planes: bool) -> None:
        """Add an ROI (on every plane if ``all_planes``), select it and pick the brush."""
        roi = self.masks.add_roi(all_planes=all_planes)
        self.select(roi.roi_id)
        if self.editor.tool == "pan":
            self.set_tool("brush")

    def delete_selected(self) -> None:
        """Delete the selected ROIs."""
        for rid in self.selected_ids():
            self.masks.remove_roi(rid)

    def pick_color(self) -> None:
        """Ask for a colour and give it to the selected ROIs."""
        ids = self.selected_ids()
        if not ids:
            return
        start = QtGui.QColor(*self.masks.get(ids[0]).color)
        color = QtWidgets.QColorDialog.getColor(start, self, "ROI colour")
        if color.isValid():
            for rid in ids:
                self.masks.set_property(rid, "color", (color.red(), color.green(), color.blue()))

    def set_tool(self, name: str) -> None:
        """Switch the editing tool (``brush``, ``eraser``, ``polygon``, ...)."""
        self.tools.button(TOOLS.index(name)).setChecked(True)
        self._on_tool(TOOLS.index(name))

    def _on_tool(self, index: int) -> None:
        self.editor.set_tool(TOOLS[index])

    def select(self, roi_id: int) -> None:
        """Select the ROI ``roi_id`` in the list."""
        for i in range(self.list.count()):
            item = self.list.item(i)
            item.setSelected(item.data(QtCore.Qt.ItemDataRole.UserRole) == roi_id)
            if item.isSelected():
                self.list.setCurrentItem(item)

    def selected_ids(self) -> list[int]:
        """Ids of the ROIs selected in the list."""
        return [it.data(QtCore.Qt.ItemDataRole.UserRole) for it in self.list.selectedItems()]

    # ---- model -> view ----
    def _on_masks(self, changed: set[str]) -> None:
        if "rois" in changed:
            self._rebuild()
        self._update_buttons()

    def _rebuild(self) -> None:
        selected = set(self.selected_ids())
        self.list.blockSignals(True)
        self.list.clear()
        for roi in self.masks.rois:
            pix = QtGui.QPixmap(14, 14)
            pix.fill(QtGui.QColor(*roi.color))
            text = roi.name
            item = QtWidgets.QListWidgetItem(QtGui.QIcon(pix), text)
            item.setData(QtCore.Qt.ItemDataRole.UserRole, roi.roi_id)
            item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsEditable
                          | QtCore.Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(QtCore.Qt.CheckState.Checked if roi.visible
                               else QtCore.Qt.CheckState.Unchecked)
            item.setToolTip(("all planes" if roi.all_planes else "drawn per plane")
                            + f"; planes with pixels: {roi.planes}")
            self.list.addItem(item)
            if roi.roi_id in selected:
                item.setSelected(True)
        self.list.blockSignals(False)
        if not self.list.selectedItems() and self.list.count():
            self.list.item(self.list.count() - 1).setSelected(True)
        self._on_selection()

    def _update_buttons(self) -> None:
        self.undo.setEnabled(self.masks.can_undo)
        self.redo.setEnabled(self.masks.can_redo)
        has = bool(self.masks.rois)
        self.delete.setEnabled(has)
        self.color.setEnabled(has)
        self.count.setText(f"{len(self.masks.rois)} ROI(s)")

    def _on_item_changed(self, item: QtWidgets.QListWidgetItem) -> None:
        rid = item.data(QtCore.Qt.ItemDataRole.UserRole)
        name = item.text().strip()
        roi = self.masks.get(rid)
        if name and name != roi.name:
            self.masks.set_property(rid, "name", name)
        visible = item.checkState() == QtCore.Qt.CheckState.Checked
        if visible != roi.visible:
            self.masks.set_property(rid, "visible", visible)

    def _on_selection(self) -> None:
        ids = self.selected_ids()
        self.editor.roi_id = ids[0] if ids else None
        self._update_buttons()
        self.selection_changed.emit()
