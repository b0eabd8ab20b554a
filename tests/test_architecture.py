"""The layering rules of docs/architecture.md §2: checked on the syntax tree of every module
(imports inside functions included) and, for the Qt-free layers, in fresh interpreters."""

import ast
import subprocess
import sys
from pathlib import Path

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
                   "libsiff.simulate", "libsiff.writer", "libsiff.scanimage", "libsiff.testing"):
        run(module, ["siffviewer", "PyQt6", "pyqtgraph"])


def test_viewer_model_is_qt_free():
    for module in ("siffviewer.model.session", "siffviewer.model.masks",
                   "siffviewer.model.traces", "siffviewer.model.export",
                   "siffviewer.model.view_state", "siffviewer.cli"):
        run(module, ["PyQt6", "pyqtgraph"])


# ---- the rules of docs/architecture.md §2, checked on the syntax tree of every module -----------

ROOT = Path(__file__).resolve().parents[1]
QT = ("PyQt6", "pyqtgraph")


def _imports(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``, at any depth (functions,
    classes, ``if TYPE_CHECKING`` blocks, try/except) and ``importlib.import_module("x")``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[:len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", ""))
              in ("import_module", "__import__") and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value))
    return found


def _violations(paths, forbidden) -> list[str]:
    bad = []
    for path in paths:
        for line, name in _imports(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return bad


def _python_files(*parts: str) -> list[Path]:
    base = ROOT.joinpath(*parts)
    return [base] if base.suffix == ".py" else sorted(base.rglob("*.py"))


def test_import_collector_sees_imports_inside_functions(tmp_path):
    """The walker itself: nested, relative and dynamic imports are found (else the rules
    prove nothing)."""
    probe = tmp_path / "libsiff" / "sub" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("def f():\n    import PyQt6.QtCore\n    from siffviewer import app\n"
                     "    from ..errors import SiffError\n"
                     "    class K:\n        importlib.import_module('pyqtgraph')\n",
                     encoding="utf-8")
    names = {name for _, name in _imports(probe, tmp_path)}
    assert {"PyQt6.QtCore", "siffviewer", "siffviewer.app", "libsiff.errors",
            "libsiff.errors.SiffError", "pyqtgraph"} <= names


def test_libsiff_never_imports_the_app_or_qt_anywhere():
    assert not _violations(_python_files("libsiff"), ("siffviewer",) + QT)


def test_viewer_model_and_cli_never_import_qt_anywhere():
    paths = _python_files("siffviewer", "model") + _python_files("siffviewer", "cli.py")
    assert not _violations(paths, QT)


def test_scanimage_reads_header_text_without_the_rest_of_the_library():
    allowed = ("libsiff.scanimage", "libsiff.errors", "libsiff.constants")
    bad = [f"{path.name}:{line} imports {name}" for path in _python_files("libsiff", "scanimage")
           for line, name in _imports(path)
           if name.startswith("libsiff") and not name.startswith(allowed)]
    assert not bad


def test_only_tests_use_the_simulator():
    paths = [p for p in _python_files("libsiff") + _python_files("siffviewer")
             if not p.is_relative_to(ROOT / "libsiff" / "testing")
             and p != ROOT / "libsiff" / "simulate.py"]
    assert not _violations(paths, ("libsiff.testing", "libsiff.simulate"))


def test_c_core_has_no_python_headers():
    for path in sorted((ROOT / "libsiff" / "csrc").glob("*.[ch]")):
        includes = [line for line in path.read_text(encoding="utf-8").splitlines()
                    if line.lstrip().startswith("#include")]
        assert not [i for i in includes if "Python.h" in i or "numpy/" in i], path.name
