"""The main window as GUI tests open it: synchronous workers, its own settings file."""

from __future__ import annotations

from PyQt6 import QtCore


def make_window(qtbot, tmp_path, path, keep_session_files: bool = True):
    """A shown, synchronous MainWindow with a settings file in ``tmp_path`` and ``path``
    open (``keep_session_files=False``: it writes no session or autosave files)."""
    from siffviewer.qt.main_window import MainWindow

    settings = QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.Format.IniFormat)
    w = MainWindow(settings=settings, sync=True)
    w.keep_session_files = keep_session_files
    qtbot.addWidget(w)
    w.show()
    assert w.open_path(path)
    return w
