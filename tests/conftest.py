import os
import stat
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).parent))  # tests/reference.py and tests/checks.py

import numpy as np  # noqa: E402
import pytest  # noqa: E402

DATA = Path(__file__).parent / "data"


@pytest.fixture
def fsynced_modes(monkeypatch):
    """The st_mode of every descriptor passed to os.fsync during the test, in order (the
    real fsync still runs): tells whether a file and then its folder were synced."""
    modes = []
    real_fsync = os.fsync

    def record(fd):
        modes.append(os.fstat(fd).st_mode)
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", record)
    return modes


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# ---- no test may leak an open file --------------------------------------------------------------

_FD_DIR = Path("/proc/self/fd")
_REPO = Path(__file__).resolve().parents[1]


def _open_user_files(roots: tuple[Path, ...]) -> dict[int, str]:
    """fd → path of every open regular file under ``roots`` (the test's data and temp dirs).

    Files elsewhere (fonts, shared libraries, pytest's capture files, caches) belong to the
    interpreter, Qt or pytest and are ignored."""
    out = {}
    for entry in _FD_DIR.iterdir():
        try:
            target = os.readlink(entry)
            if not stat.S_ISREG(os.stat(entry).st_mode):
                continue
        except OSError:  # closed between listing and reading: not open any more
            continue
        if target.startswith(tuple(str(root) + os.sep for root in roots)):
            out[int(entry.name)] = target
    return out


@pytest.fixture(scope="module", autouse=True)
def _files_left_open_by_tests(tmp_path_factory):
    """Files a test of this module left open, checked again when the module ends: a fixture
    that opens files lazily and closes them at its own teardown is not a leak."""
    suspects: dict[int, tuple[str, str]] = {}
    yield suspects
    if not suspects:
        return
    still = _open_user_files((tmp_path_factory.getbasetemp().resolve(), _REPO))
    leaked = sorted({f"{path} (opened in {test})" for fd, (path, test) in suspects.items()
                     if still.get(fd) == path})
    if leaked:
        pytest.fail("tests left files open: " + ", ".join(leaked), pytrace=False)


@pytest.fixture(autouse=True)
def no_leaked_files(request, tmp_path_factory, _files_left_open_by_tests):
    """Fail the tests that leave a file they opened (under the temp or repository folders)
    open.

    Compares /proc/self/fd before and after each test (Linux only); a file still open after
    the test is checked again at the end of the module, after module fixtures closed theirs,
    and reported with the test that opened it. No garbage collection is forced (it would
    destroy Qt wrappers mid-teardown): a file left for the collector to close counts."""
    if not _FD_DIR.is_dir():
        yield
        return
    roots = (tmp_path_factory.getbasetemp().resolve(), _REPO)
    before = _open_user_files(roots)
    yield
    for fd, path in _open_user_files(roots).items():
        if before.get(fd) != path:
            _files_left_open_by_tests[fd] = (path, request.node.name)


# ---- every window a GUI test made is destroyed when the test ends --------------------------------

@pytest.fixture(autouse=True)
def _destroy_qt_windows(request):
    """GUI tests (those using ``qtbot``) run with the cycle collector paused; at the end every
    top-level widget is destroyed in C++ and the garbage is collected, at a known point.

    pytest-qt closes the widgets it was given and calls ``deleteLater``, but deferred deletes
    posted outside a running event loop are not processed by ``processEvents``: the closed
    windows lived on, wrapped by Python objects in reference cycles (pyqtgraph's parentless
    view-box menus, signal closures), until the cycle collector freed them at an arbitrary
    moment -- inside a later test's event processing, where Qt then painted or indexed
    destroyed pyqtgraph items ("AxisItem has been deleted", "pure virtual method called",
    segfaults). pyqtgraph's own remedy is the same: collect only from the GUI loop, never
    whenever an allocation happens to trigger it (``pyqtgraph.util.garbage_collector``)."""
    if "qtbot" not in request.fixturenames:
        yield
        return
    import gc

    from PyQt6 import QtCore, QtWidgets

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        for widget in QtWidgets.QApplication.topLevelWidgets():
            widget.close()
            widget.deleteLater()
        QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete.value)
        gc.collect()
        QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete.value)
        if was_enabled:
            gc.enable()
