"""The layering rules of architecture.md, checked in fresh interpreters."""

import subprocess
import sys

CHECK = """
import sys
import {module}
bad = sorted(m for m in sys.modules if m.split('.')[0] in {forbidden})
assert not bad, bad
"""


def run(module, forbidden):
    code = CHECK.format(module=module, forbidden=forbidden)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_libsiff_never_imports_the_viewer_or_qt():
    for module in ("libsiff", "libsiff.reader", "libsiff.registration", "libsiff.flim",
                   "libsiff.simulate", "libsiff.writer"):
        run(module, ["siffviewer", "PyQt6", "pyqtgraph"])


def test_viewer_model_is_qt_free():
    for module in ("siffviewer.model.session", "siffviewer.model.masks",
                   "siffviewer.model.traces", "siffviewer.model.export",
                   "siffviewer.model.view_state", "siffviewer.cli"):
        run(module, ["PyQt6", "pyqtgraph"])
