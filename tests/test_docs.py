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
