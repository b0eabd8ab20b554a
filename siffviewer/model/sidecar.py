"""Safe reading of the app's ``.npz`` sidecars (sessions and legacy masks files).

``np.load`` trusts a file: a member whose header claims 2 TiB is allocated, a text file
gives numpy's pickle message. :func:`read_npz` reads through :func:`libsiff.safe_npz.read_npz`
(the one bounded reader of every sidecar: no pickles, every member's npy header checked
against the bytes the zip holds before reading) and raises :class:`SidecarError` (naming the
file and the problem) for anything malformed. :func:`set_aside` renames a damaged sidecar
(never deletes it). Qt-free.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import numpy as np

from libsiff import safe_npz
from libsiff.atomic import DAMAGED_SUFFIX, set_aside_damaged
from libsiff.errors import SiffFormatError

__all__ = ["SidecarError", "read_npz", "json_text", "set_aside", "MAX_MEMBER_BYTES",
           "ZIP_MAGIC", "DAMAGED_SUFFIX", "user_data_dir", "autosave_candidates",
           "autosave_path_for"]

#: the largest member read from a sidecar (uncompressed), far above any real ROI stack
MAX_MEMBER_BYTES = 8 << 30
ZIP_MAGIC = safe_npz.ZIP_MAGIC
#: a session or masks file holds a fixed handful of arrays (the ROI stack, names, colours,
#: flags, the JSON document); more members than this is not a siffviewer file
_MAX_MEMBERS = 64


class SidecarError(SiffFormatError):
    """A sidecar (session or masks file) cannot be read; the message names file and problem.

    A :class:`libsiff.SiffFormatError`, so also a ValueError (as before)."""


def read_npz(path: str | Path, required: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path`` (no pickles, sizes checked before reading).

    Raises
    ------
    SidecarError
        The file is missing, not a zip of ``.npy`` members, lacks a ``required`` member, or
        a member's header does not match its data.
    """
    try:
        return safe_npz.read_npz(path, None, required=required, max_bytes=MAX_MEMBER_BYTES,
                                 max_members=_MAX_MEMBERS,
                                 what="siffviewer session or masks file")
    except SiffFormatError as e:
        raise SidecarError(str(e)) from None


def json_text(arrays: dict[str, np.ndarray], key: str, path: Path) -> str:
    """The text of a 0-d (or 1-element) unicode member ``key``."""
    value = arrays.get(key)
    if value is None:
        raise SidecarError(f"{path}: no {key!r} text value")
    if value.dtype.kind != "U" or value.size != 1:
        raise SidecarError(f"{path}: {key!r} is not a text value")
    return str(value.reshape(()))


def set_aside(path: str | Path) -> Path:
    """Rename a damaged sidecar to ``<name>.damaged-<UTC time>`` (kept, never deleted).

    Raises OSError when it cannot be renamed."""
    return set_aside_damaged(path)


def user_data_dir() -> Path:
    """The folder for autosaves of acquisitions whose own folder is read-only."""
    if os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "siffviewer" / "autosave"


def autosave_candidates(acquisition: str | Path, suffix: str) -> list[Path]:
    """Where an autosave (name ending ``suffix``) of ``acquisition`` may be: beside it, then
    (for read-only folders such as network shares) in :func:`user_data_dir`, under a name
    that includes a hash of the acquisition's full path."""
    p = Path(acquisition).resolve()
    digest = hashlib.sha1(str(p).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return [p.with_name(p.stem + suffix), user_data_dir() / f"{digest}_{p.stem}{suffix}"]


def autosave_path_for(acquisition: str | Path, suffix: str) -> Path:
    """Where to autosave now: beside the acquisition when its folder is writable, else in
    :func:`user_data_dir` (created)."""
    beside, fallback = autosave_candidates(acquisition, suffix)
    if os.access(beside.parent, os.W_OK):
        return beside
    fallback.parent.mkdir(parents=True, exist_ok=True)
    return fallback
