"""Every keyboard binding of a window, read from its QActions and QShortcuts, so that the
list in Help ▸ Keyboard shortcuts and the one in the README cannot drift from the app.

``python -m siffviewer.qt.shortcuts README.md`` rewrites the README's list (between the
``<!-- shortcuts -->`` and ``<!-- /shortcuts -->`` markers) from the app's bindings.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from PyQt6 import QtCore, QtGui, QtWidgets

README_START, README_END = "<!-- shortcuts -->", "<!-- /shortcuts -->"
MAIN = "Main window"


@dataclass(frozen=True)
class Binding:
    """One key sequence: ``keys`` in portable text ("Ctrl+O"), what it does, and where it is
    found (a menu path such as "File", or the panel holding it)."""

    keys: str
    action: str
    where: str


def _clean(text: str) -> str:
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…").strip()


def _where(obj: QtCore.QObject, window: QtWidgets.QWidget) -> str:
    """The dock (by title) holding ``obj``, else the main window."""
    parent = obj.parent()
    while parent is not None and parent is not window:
        if isinstance(parent, QtWidgets.QDockWidget):
            return parent.windowTitle()
        parent = parent.parent()
    return MAIN


def bindings(window: QtWidgets.QMainWindow) -> list[Binding]:
    """Every key binding of ``window``: menu actions in menu order, then other actions and
    QShortcuts (described by their ``whatsThis`` text). An action with two key sequences
    gives two bindings."""
    out: list[Binding] = []
    in_menus: set[int] = set()

    def add(sequences, action: str, where: str) -> None:
        for seq in sequences:
            keys = seq.toString(QtGui.QKeySequence.SequenceFormat.PortableText)
            if keys:
                out.append(Binding(keys, action or "(no description)", where))

    def walk(menu: QtWidgets.QMenu, path: list[str]) -> None:
        for act in menu.actions():
            in_menus.add(id(act))
            if act.menu() is not None:
                walk(act.menu(), path + [_clean(act.text())])
            elif not act.isSeparator():
                add(act.shortcuts(), _clean(act.text()), " ▸ ".join(path))

    for top in window.menuBar().actions():
        if top.menu() is not None:
            in_menus.add(id(top))
            walk(top.menu(), [_clean(top.text())])
    for act in window.findChildren(QtGui.QAction):
        if id(act) not in in_menus:
            add(act.shortcuts(), _clean(act.text()) or _clean(act.toolTip()), _where(act, window))
    for sc in window.findChildren(QtGui.QShortcut):
        add([sc.key()], sc.whatsThis(), _where(sc, window))
    return out


def markdown_table(items: list[Binding]) -> str:
    """The bindings as a Markdown table (what the README holds)."""
    rows = ["| Keys | What it does | Where |", "|---|---|---|"]
    rows += [f"| `{b.keys}` | {b.action} | {b.where} |" for b in items]
    return "\n".join(rows)


def readme_table(text: str) -> str:
    """The shortcut table of a README's text (between the markers); ValueError without them."""
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"the README has no {README_START} ... {README_END} section")
    return text[start + len(README_START):end].strip()


def update_readme(path: str | Path, items: list[Binding]) -> None:
    """Replace the shortcut table of the README at ``path`` with ``items``."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    readme_table(text)  # raises without the markers
    start = text.find(README_START) + len(README_START)
    end = text.find(README_END)
    text = text[:start] + "\n" + markdown_table(items) + "\n" + text[end:]
    path.write_text(text, encoding="utf-8")


class ShortcutsDialog(QtWidgets.QDialog):
    """Help ▸ Keyboard shortcuts: a table of every binding of the window."""

    def __init__(self, window: QtWidgets.QMainWindow) -> None:
        super().__init__(window)
        self.setWindowTitle("Keyboard shortcuts")
        self.items = bindings(window)
        self.table = QtWidgets.QTableWidget(len(self.items), 3)
        self.table.setHorizontalHeaderLabels(["Keys", "What it does", "Where"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        native = QtGui.QKeySequence.SequenceFormat.NativeText
        for row, b in enumerate(self.items):
            keys = QtGui.QKeySequence(b.keys).toString(native)  # ⌘ on macOS
            for col, text in enumerate((keys, b.action, b.where)):
                self.table.setItem(row, col, QtWidgets.QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        close = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(close)
        self.resize(560, min(720, 90 + 30 * len(self.items)))


def main(argv: list[str] | None = None) -> int:
    """Rewrite the README's shortcut table from the app's bindings (sample file open)."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m siffviewer.qt.shortcuts README.md", file=sys.stderr)
        return 2
    from .main_window import MainWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    window = MainWindow(settings=QtCore.QSettings(), sync=True)
    window.keep_session_files = False
    window.open_sample()
    update_readme(argv[0], bindings(window))
    window.close()
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
