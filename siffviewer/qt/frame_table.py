"""The frame table in the metadata dock: a QTableView whose rows are fetched block by block
as the user scrolls (files have 100,000+ frames); double-click a row to show that frame."""

from __future__ import annotations

from PyQt6 import QtCore, QtWidgets

from ..model.frame_table import COLUMNS, FrameTable
from ..model.view_state import ViewState

BLOCK = 2000  # rows read at a time
CACHED_BLOCKS = 32  # blocks kept in memory (the oldest read is dropped first)


class FrameTableModel(QtCore.QAbstractTableModel):
    """Rows of a :class:`FrameTable`, fetched lazily (``canFetchMore``/``fetchMore``)."""

    def __init__(self, table: FrameTable, parent=None) -> None:
        super().__init__(parent)
        self.table = table
        self.loaded = 0
        self._blocks: dict[int, list[tuple]] = {}

    def rowCount(self, parent=QtCore.QModelIndex()) -> int:  # noqa: N802, B008 - Qt's API
        """Rows fetched so far."""
        return 0 if parent.isValid() else self.loaded

    def columnCount(self, parent=QtCore.QModelIndex()) -> int:  # noqa: N802, B008 - Qt's API
        """The frame table's columns."""
        return 0 if parent.isValid() else len(COLUMNS)

    def canFetchMore(self, parent=QtCore.QModelIndex()) -> bool:  # noqa: N802, B008 - Qt's API
        """True while frames are left to show."""
        return not parent.isValid() and self.loaded < self.table.n_rows

    def fetchMore(self, parent=QtCore.QModelIndex()) -> None:  # noqa: N802, B008 - Qt's API
        """Show the next block of rows."""
        stop = min(self.table.n_rows, self.loaded + BLOCK)
        if stop <= self.loaded:
            return
        self.beginInsertRows(QtCore.QModelIndex(), self.loaded, stop - 1)
        self.loaded = stop
        self.endInsertRows()

    def row(self, r: int) -> tuple:
        """Row ``r`` (its block is read from the file on first use)."""
        block = r // BLOCK
        rows = self._blocks.get(block)
        if rows is None:
            if len(self._blocks) >= CACHED_BLOCKS:
                self._blocks.pop(next(iter(self._blocks)))
            rows = self._blocks[block] = self.table.rows(block * BLOCK, (block + 1) * BLOCK)
        return rows[r - block * BLOCK]

    def data(self, index: QtCore.QModelIndex, role=QtCore.Qt.ItemDataRole.DisplayRole):
        """Cell text (times with 6 decimals), right-aligned numbers."""
        if not index.isValid():
            return None
        if role == QtCore.Qt.ItemDataRole.DisplayRole:
            value = self.row(index.row())[index.column()]
            return f"{value:.6f}" if isinstance(value, float) else str(value)
        if role == QtCore.Qt.ItemDataRole.TextAlignmentRole and index.column() < len(COLUMNS) - 1:
            return int(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation, role=QtCore.Qt.ItemDataRole.DisplayRole):  # noqa: N802
        """Column names."""
        if role == QtCore.Qt.ItemDataRole.DisplayRole and \
                orientation == QtCore.Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None


class FrameTableView(QtWidgets.QWidget):
    """The table, a line saying how many frames it holds, and seek on double-click."""

    def __init__(self, session, state: ViewState, parent=None) -> None:
        super().__init__(parent)
        self.session, self.state = session, state
        self.model = FrameTableModel(FrameTable(session), self)
        self.view = QtWidgets.QTableView()
        self.view.setModel(self.model)
        self.view.setAlternatingRowColors(True)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(20)
        self.view.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.model.fetchMore()  # the first block, to size the columns to their contents
        self.view.resizeColumnsToContents()
        self.view.doubleClicked.connect(lambda index: self.show_frame(index.row()))
        note = QtWidgets.QLabel(f"{self.model.table.n_rows:,} file frames; double-click a row "
                                "to show it")
        note.setWordWrap(True)
        self.find_current = QtWidgets.QPushButton("Find the displayed frame")
        self.find_current.clicked.connect(self.select_current)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(note, 1)
        top.addWidget(self.find_current)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.view)

    def show_frame(self, row: int) -> bool:
        """Move the view state to the file frame of ``row`` (False for frames it cannot show)."""
        hits = (self.session.grid == int(self.model.row(row)[0])).nonzero()
        if not len(hits[0]):
            return False
        self.state.update(timepoint=int(hits[0][0]), plane=int(hits[1][0]), color=int(hits[2][0]))
        return True

    def select_current(self) -> int:
        """Select and scroll to the row of the displayed frame (fetching up to it); its row."""
        s = self.state
        frame = int(self.session.grid[s.timepoint, s.plane, s.color])
        while self.model.loaded <= frame and self.model.canFetchMore():
            self.model.fetchMore()
        index = self.model.index(frame, 0)
        self.view.selectRow(frame)
        self.view.scrollTo(index, QtWidgets.QAbstractItemView.ScrollHint.PositionAtCenter)
        return frame
