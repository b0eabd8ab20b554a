"""Where the app's bundled files are: the package data folder ``siffviewer/data`` (a plain
``pip install .`` has it), or the PyInstaller bundle's ``resources`` copy of it."""

from __future__ import annotations

import sys
from pathlib import Path

SAMPLE_NAME = "sample.siff"


def resources_dir() -> Path:
    """The resources folder (inside a PyInstaller bundle or the source tree)."""
    bundled = getattr(sys, "_MEIPASS", None)
    if bundled:
        return Path(bundled) / "resources"
    return Path(__file__).resolve().parent / "data"


def resource_path(name: str) -> Path:
    """Path of the resource file ``name``."""
    return resources_dir() / name


def sample_path() -> Path:
    """The bundled sample acquisition (several planes, two colours, motion, FLIM)."""
    return resource_path(SAMPLE_NAME)
