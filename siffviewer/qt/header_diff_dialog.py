"""File ▸ Compare header with…: the ScanImage settings that differ between the open
acquisition and another one (changed, added, removed), filterable."""

from __future__ import annotations

from PyQt6 import QtWidgets

from ..model.header_diff import HeaderDiff


class HeaderDiffDialog(QtWidgets.QDialog):
    """A tree of the changed, added and removed settings of ``diff`` (``name_a`` → ``name_b``)."""

    def __init__(self, diff: HeaderDiff, name_a: str, name_b: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Header differences: {name_a} → {name_b}")
        self.resize(900, 600)
        self.search = QtWidgets.QLineEdit()
        self.search.setPlaceholderText("Filter settings (e.g. FastZ, zoom)")
        self.search.setClearButtonEnabled(True)
        self.tree = QtWidgets.QTreeWidget()
        self.tree.setHeaderLabels(["Setting", name_a, name_b])
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        groups = (("Changed", [(k, a, b) for k, a, b in diff.changed]),
                  ("Added (only in " + name_b + ")", [(k, "", b) for k, b in diff.added]),
                  ("Removed (only in " + name_a + ")", [(k, a, "") for k, a in diff.removed]))
        for title, rows in groups:
            group = QtWidgets.QTreeWidgetItem([f"{title}: {len(rows)}", "", ""])
            for key, a, b in rows:
                item = QtWidgets.QTreeWidgetItem([key, a, b])
                item.setToolTip(1, a)
                item.setToolTip(2, b)
                group.addChild(item)
            self.tree.addTopLevelItem(group)
            group.setExpanded(True)
        self.tree.header().setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setColumnWidth(1, 300)
        summary = QtWidgets.QLabel(f"{len(diff.changed)} changed, {len(diff.added)} added, "
                                   f"{len(diff.removed)} removed settings" if diff
                                   else "The two headers hold the same settings.")
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(summary)
        layout.addWidget(self.search)
        layout.addWidget(self.tree, 1)
        layout.addWidget(buttons)
        self.search.textChanged.connect(self.apply_filter)

    def apply_filter(self, text: str) -> int:
        """Show the settings whose name or values contain ``text``; returns how many."""
        needle = text.strip().lower()
        shown = 0
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            for j in range(group.childCount()):
                child = group.child(j)
                hit = not needle or any(needle in child.text(c).lower() for c in range(3))
                child.setHidden(not hit)
                shown += hit
        return shown

    def rows(self, group: int) -> list[tuple[str, str, str]]:
        """(setting, value in A, value in B) of group 0 (changed), 1 (added) or 2 (removed)."""
        item = self.tree.topLevelItem(group)
        return [tuple(item.child(j).text(c) for c in range(3)) for j in range(item.childCount())]

