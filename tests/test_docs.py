"""The README's scripting example runs as written, and every public method of the reader
API is documented."""

import contextlib
import io
import os
import re
from pathlib import Path

import libsiff
from libsiff import SiffIO, SiffReader
from libsiff.imparams import ImParams

ROOT = Path(__file__).resolve().parents[1]


def test_readme_example_runs(monkeypatch):
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "the README has a python example"
    monkeypatch.chdir(ROOT)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in blocks:
            exec(compile(block, "README.md", "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines[0] == "(40, 3, 2, 96, 112)"  # the bundled sample's array_shape
    assert lines[1].startswith("(40, 3, 2, 96, 112)")


def test_every_public_method_is_documented():
    for cls in (SiffReader, ImParams, SiffIO):
        for name in dir(cls):
            if name.startswith("_"):
                continue
            attr = getattr(cls, name)
            doc = getattr(attr, "__doc__", None)
            if callable(attr) or isinstance(attr, property):
                assert doc and doc.strip(), f"{cls.__name__}.{name} has no docstring"
    for name in libsiff.__all__:
        obj = getattr(libsiff, name)
        if callable(obj):
            assert obj.__doc__, name
    assert "arrival bins" in SiffReader.get_frames_flim.__doc__
    assert "seconds" in SiffReader.get_time.__doc__
    assert os.path.exists(ROOT / "docs" / "screenshot.png")


# ---- every "§" in the code resolves to a section of a file in docs/ -----------------------------

SECTION_ID = r"[0-9]+[a-z]?(?:\.[0-9]+)*"
CITED_DIRS = ("libsiff", "siffviewer", "tests", "benchmarks", "packaging")
TEXT_SUFFIXES = {".py", ".c", ".h", ".md", ".sh", ".spec", ".toml", ".txt", ".cfg", ".ps1"}


def _doc_sections(name: str) -> set[str]:
    """Section numbers of docs/<name> (``## 12. Title``, ``### 7.4 Title``, ``## 8a. ...``)."""
    text = (ROOT / "docs" / name).read_text(encoding="utf-8")
    return set(re.findall(rf"^#{{2,4}}\s+({SECTION_ID})\.?\s", text, re.M))


def _section_references():
    """(file, line number, doc name, section id) of every § in the code, and the unresolved."""
    refs, unresolved = [], []
    chain = re.compile(rf"^(?:\s*§{SECTION_ID}(?:\s+decision\s+[0-9]+)?(?:[–-]{SECTION_ID})?"
                       r"\s*(?:/|,|and|or)\s*)*\s*$")
    for folder in CITED_DIRS:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in TEXT_SUFFIXES or not path.is_file():
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                for match in re.finditer(rf"§({SECTION_ID})", line):
                    docs = list(re.finditer(r"docs/([\w-]+\.md)", line[:match.start()]))
                    where = f"{path.relative_to(ROOT)}:{number}"
                    if not docs or not chain.match(line[docs[-1].end():match.start()]):
                        unresolved.append(f"{where}: {line.strip()}")
                        continue
                    refs.append((where, docs[-1].group(1), match.group(1)))
    return refs, unresolved


def test_every_section_reference_names_a_docs_file_and_section():
    refs, unresolved = _section_references()
    assert not unresolved, "§ without a docs/<file>.md before it:\n" + "\n".join(unresolved)
    assert len(refs) > 40  # the code cites the docs throughout
    sections = {name: _doc_sections(name) for name in {doc for _, doc, _ in refs}
                if (ROOT / "docs" / name).exists()}
    missing = [f"{where}: docs/{doc} §{ident}" for where, doc, ident in refs
               if ident not in sections.get(doc, set())]
    assert not missing, "references to sections that do not exist:\n" + "\n".join(missing)


def test_docs_describe_the_tree():
    """docs/architecture.md names every package of libsiff and siffviewer that exists."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for package in ("libsiff", "siffviewer"):
        for child in (ROOT / package).iterdir():
            if child.is_dir() and (child / "__init__.py").exists():
                assert f"{child.name}/" in text or f"{child.name} (package)" in text, child
    for name in ("format.md", "compatibility.md", "architecture.md"):
        assert (ROOT / "docs" / name).stat().st_size > 1000
