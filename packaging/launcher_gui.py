"""Entry script of the bundled ``siffviewer`` executable (PyInstaller needs a script).

Besides starting the app (``siffviewer.app:main``) it adds two things that only matter
in a bundle:

* ``siffviewer --bundle-check OUT.json`` checks that the bundle works on this machine
  (Qt starts, fonts exist and render real glyphs, the C extension reads the bundled
  sample, scipy/pyqtgraph import) and writes the findings as JSON; exit status 0 when
  all pass. The smoke test and bug reports use it. A file rather than stdout, because a
  Windows GUI executable has no stdout.
* macOS opens documents with a QFileOpenEvent instead of a command-line argument (a
  double-clicked .siff in Finder); those events are forwarded to the main window.
"""

from __future__ import annotations

import json
import os
import sys


def _glyphs_render(QtCore, QtGui) -> dict:
    """Draw 'A' and 'g' with the default font: without any font both come out as the
    same empty box (tofu), with a real font they differ and have ink."""
    def draw(text: str) -> bytes:
        img = QtGui.QImage(48, 48, QtGui.QImage.Format.Format_RGB32)
        img.fill(QtGui.QColor("white"))
        p = QtGui.QPainter(img)
        font = QtGui.QFont()
        font.setPixelSize(32)
        p.setFont(font)
        p.setPen(QtGui.QColor("black"))
        p.drawText(QtCore.QRect(0, 0, 48, 48), QtCore.Qt.AlignmentFlag.AlignCenter, text)
        p.end()
        ptr = img.constBits()
        ptr.setsize(img.sizeInBytes())
        return bytes(ptr)

    a, g = draw("A"), draw("g")
    blank = draw("")
    return {"ink": a != blank and g != blank, "distinct": a != g}


def bundle_check(out_path: str) -> int:
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") \
            and sys.platform.startswith("linux"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    report: dict = {"frozen": bool(getattr(sys, "frozen", False)),
                    "executable": sys.executable, "errors": []}
    try:
        from PyQt6 import QtCore, QtGui, QtWidgets

        app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
        report["qt_version"] = QtCore.QT_VERSION_STR
        report["qt_platform"] = app.platformName()
        families = QtGui.QFontDatabase.families()
        report["font_families"] = len(families)
        report["default_font"] = QtGui.QFontInfo(QtGui.QFont()).family()
        report["glyphs"] = _glyphs_render(QtCore, QtGui)
        if not families:
            report["errors"].append("no font families: text would render as empty boxes")
        if not (report["glyphs"]["ink"] and report["glyphs"]["distinct"]):
            report["errors"].append("text does not render real glyphs")

        import numpy
        import pyqtgraph
        import scipy
        import scipy.ndimage  # noqa: F401 - used by registration

        import libsiff
        import libsiff._siff  # noqa: F401 - the compiled C core
        from siffviewer.resources import resource_path, sample_path

        report["versions"] = {"libsiff": libsiff.__version__, "numpy": numpy.__version__,
                              "scipy": scipy.__version__, "pyqtgraph": pyqtgraph.__version__}
        sample = sample_path()
        report["sample"] = str(sample)
        with libsiff.open_file(sample) as io:
            report["sample_frames"] = io.num_frames()
            report["sample_photons_frame0"] = int(io.get_frames([0]).sum())
        if not report["sample_photons_frame0"]:
            report["errors"].append("the sample's first frame decoded empty")
        icon = QtGui.QImage(str(resource_path("siffviewer.png")))
        report["icon_size"] = [icon.width(), icon.height()]
        if icon.isNull():
            report["errors"].append("the app icon is missing or unreadable")
    except Exception as exc:  # noqa: BLE001 - the report is the point
        report["errors"].append(f"{type(exc).__name__}: {exc}")
    report["ok"] = not report["errors"]
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2)
    return 0 if report["ok"] else 1


def install_file_open_handler(app):
    """Forward QFileOpenEvents (macOS Finder 'open with', double-click) to the first
    top-level window that has ``open_path``. Returns the installed filter."""
    from PyQt6 import QtCore, QtWidgets

    class FileOpenForwarder(QtCore.QObject):
        def eventFilter(self, obj, event):  # noqa: N802 - Qt override
            if event.type() == QtCore.QEvent.Type.FileOpen:
                path = event.file()
                for widget in QtWidgets.QApplication.topLevelWidgets():
                    if hasattr(widget, "open_path"):
                        widget.open_path(path)
                        return True
            return False

    forwarder = FileOpenForwarder(app)
    app.installEventFilter(forwarder)
    return forwarder


def main() -> int:
    argv = sys.argv[1:]
    if argv[:1] == ["--bundle-check"]:
        if len(argv) != 2:
            print("usage: siffviewer --bundle-check OUT.json", file=sys.stderr)
            return 2
        return bundle_check(argv[1])
    if sys.platform == "darwin" and "--screenshot" not in argv:
        from PyQt6 import QtWidgets

        app = QtWidgets.QApplication(sys.argv[:1])  # siffviewer.app:main reuses it
        install_file_open_handler(app)
    from siffviewer.app import main as app_main

    return app_main()


if __name__ == "__main__":
    sys.exit(main())
