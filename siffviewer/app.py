"""Command line and QApplication of siffviewer.

``siffviewer [FILE]`` opens FILE (the bundled sample when none is given);
``siffviewer FILE --screenshot OUT.png [--timepoint T --plane Z --channel C]`` renders the
window with that frame and exits.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the viewer's command line (file, --screenshot, the view to show)."""
    ap = argparse.ArgumentParser(prog="siffviewer", description="Viewer for ScanImage-FLIM .siff files")
    ap.add_argument("file", nargs="?", help=".siff or ScanImage .tiff file (default: the sample)")
    ap.add_argument("--screenshot", metavar="PNG", help="save the window as PNG and exit")
    ap.add_argument("--timepoint", type=int, default=0, help="timepoint to show (0-based)")
    ap.add_argument("--plane", type=int, default=0, help="plane to show (0-based)")
    ap.add_argument("--channel", type=int, default=0, help="colour channel to show (0-based)")
    ap.add_argument("--average", type=int, default=1, help="timepoints to average")
    ap.add_argument("--raw", action="store_true", help="show unregistered frames")
    ap.add_argument("--dock", choices=["Metadata", "Registration", "Planes", "Masks"],
                    help="side panel to bring to the front")
    ap.add_argument("--size", default="1500x1000", help="window size WxH for screenshots")
    return ap.parse_args(argv)


def _quiet_qt_messages() -> None:
    """Drop Qt's harmless offscreen-platform chatter; keep every other message."""
    from PyQt6 import QtCore

    def handler(mode, context, message):
        if "propagateSizeHints" in message:
            return
        sys.stderr.write(message + "\n")

    QtCore.qInstallMessageHandler(handler)


def main(argv: list[str] | None = None) -> int:
    """Run the viewer; returns the process exit status."""
    args = parse_args(argv)
    headless = (sys.platform.startswith("linux") and not os.environ.get("DISPLAY")
                and not os.environ.get("WAYLAND_DISPLAY"))
    if headless and args.screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    elif headless and not os.environ.get("QT_QPA_PLATFORM"):
        print("siffviewer: error: no display (DISPLAY and WAYLAND_DISPLAY are unset). Run it "
              "in a desktop session, under xvfb-run, or with --screenshot OUT.png.",
              file=sys.stderr)
        return 2
    from PyQt6 import QtWidgets

    _quiet_qt_messages()

    from .qt.main_window import MainWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("siffviewer")
    app.setOrganizationName("siffviewer")
    # The cycle collector runs from the event loop only, never in the middle of a paint or a
    # scene update (where freeing replaced panels' Qt objects crashes pyqtgraph).
    from pyqtgraph.util.garbage_collector import GarbageCollector

    collector = GarbageCollector(interval=1.0)  # noqa: F841 - kept alive while the app runs
    window = MainWindow(sync=bool(args.screenshot))
    window.keep_session_files = not args.screenshot  # a screenshot run changes no session
    if args.screenshot:
        w, h = (int(v) for v in args.size.lower().split("x"))
        window.resize(w, h)
    window.show()
    ok = window.open_path(args.file) if args.file else window.open_sample()
    if ok:
        window.state.update(timepoint=args.timepoint, plane=args.plane, color=args.channel,
                            average=args.average)
        if args.raw:
            window.state.update(registered=False)
        if args.dock:
            window.docks[args.dock].raise_()
    if args.screenshot:
        if ok:
            window.auto_levels()  # for the frame asked for, not the first one
        for _ in range(5):
            app.processEvents()
        window.save_screenshot(Path(args.screenshot))
        for message in window.errors:
            print(message, file=sys.stderr)
        window.close()
        return 0 if ok else 1
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
