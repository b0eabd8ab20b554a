"""Habits the review enforces, checked in CI: ruff (lint and import order, configured in
pyproject.toml [tool.ruff]) over the whole tree, and a docstring on every public function,
class and method of libsiff and siffviewer."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINTED = ("libsiff", "siffviewer", "tests", "benchmarks", "packaging")
DOCUMENTED = ("libsiff", "siffviewer")


def test_ruff_is_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", *LINTED],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _public(name: str) -> bool:
    return not name.startswith("_")


def _module_name(path: Path, root: Path) -> str | None:
    """Dotted module name of ``path`` under ``root`` (``None`` outside the documented packages)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if not parts or parts[0] not in DOCUMENTED:
        return None
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _overrides_third_party(path: Path, root: Path, class_path: str, name: str) -> bool:
    """Whether method ``name`` of class ``class_path`` (dotted, nested classes included)
    overrides a method a Qt or pyqtgraph base class defines (``paint``, ``boundingRect``,
    ``mousePressEvent``, ``closeEvent``...): those are documented by Qt/pyqtgraph. Decided
    by importing the module and walking the class's bases."""
    import importlib

    module = _module_name(path, root)
    if module is None:
        return False
    try:
        obj = importlib.import_module(module)
        for part in class_path.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return False
    return any(name in vars(base) for base in getattr(obj, "__mro__", ())[1:]
               if base.__module__.split(".")[0] in ("PyQt6", "pyqtgraph"))


def _undocumented(path: Path, root: Path = ROOT) -> list[str]:
    """``file:line name`` of public module-level functions/classes and public methods of
    public classes (nested ones included) without a docstring. Overloads, property setters
    and deleters share the getter's docstring, overrides of Qt/pyqtgraph methods are
    documented by Qt/pyqtgraph: both skipped."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    where = path.relative_to(root)
    missing = []

    def shares_docstring(node) -> bool:
        for deco in node.decorator_list:
            if isinstance(deco, ast.Attribute) and deco.attr in ("setter", "deleter"):
                return True
            if isinstance(deco, ast.Name) and deco.id == "overload":
                return True
        return False

    def visit(body, prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if not _public(node.name) or shares_docstring(node):
                    continue
                if ast.get_docstring(node) is None and not (
                        prefix and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                        and _overrides_third_party(path, root, prefix[:-1], node.name)):
                    missing.append(f"{where}:{node.lineno} {prefix}{node.name}")
                if isinstance(node, ast.ClassDef):
                    visit(node.body, f"{prefix}{node.name}.")

    visit(tree.body, "")
    return missing


def test_public_functions_classes_and_methods_have_docstrings():
    missing = [entry for package in DOCUMENTED
               for path in sorted((ROOT / package).rglob("*.py"))
               if _public(path.stem) or path.stem == "__init__"
               for entry in _undocumented(path)]
    assert not missing, f"{len(missing)} without a docstring:\n" + "\n".join(missing)


def test_docstring_check_finds_what_it_should(tmp_path):
    """The checker itself: a public method without a docstring is reported, private names,
    documented names and property setters are not."""
    probe = tmp_path / "probe.py"
    source = ('def f():\n    """Doc."""\n\n\ndef g():\n    pass\n\n\nclass K:\n    """Doc."""\n\n'
              '    def m(self):\n        pass\n\n    def _p(self):\n        pass\n\n'
              '    @property\n    def v(self):\n        """Doc."""\n\n'
              '    @v.setter\n    def v(self, x):\n        pass\n')
    probe.write_text(source, encoding="utf-8")
    found = [entry.split(" ")[1] for entry in _undocumented(probe, tmp_path)]
    assert found == ["g", "K.m"]


def test_leak_fixture_sees_files_opened_under_the_temp_folder(tmp_path, tmp_path_factory):
    """The autouse fixture of conftest.py: a file opened under the temp folder is listed while
    open and gone once closed; files elsewhere (here /proc) are not its business."""
    from conftest import _FD_DIR, _open_user_files

    if not _FD_DIR.is_dir():
        return
    roots = (tmp_path_factory.getbasetemp().resolve(),)
    path = tmp_path / "held.bin"
    path.write_bytes(b"x")
    with open(path, "rb") as held, open("/proc/self/status", "rb"):
        assert _open_user_files(roots).get(held.fileno()) == str(path.resolve())
    assert str(path.resolve()) not in _open_user_files(roots).values()
    assert not [p for p in _open_user_files(roots).values() if p.startswith("/proc")]


def test_docstring_check_skips_only_overrides_of_qt_methods():
    """``paint``/``boundingRect`` of a pyqtgraph item and Qt event handlers are Qt's to
    document; a method of our own on the same class is not skipped."""
    frame_view = ROOT / "siffviewer" / "qt" / "frame_view.py"
    main_window = ROOT / "siffviewer" / "qt" / "main_window.py"
    assert _overrides_third_party(frame_view, ROOT, "OverlayItem", "paint")
    assert _overrides_third_party(frame_view, ROOT, "OverlayItem", "boundingRect")
    assert _overrides_third_party(main_window, ROOT, "MainWindow", "closeEvent")
    assert not _overrides_third_party(main_window, ROOT, "MainWindow", "open_path")
    assert not _overrides_third_party(main_window, ROOT, "NoSuchClass", "paint")
