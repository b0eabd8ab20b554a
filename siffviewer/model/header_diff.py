"""The ScanImage settings of a header, and the differences between two acquisitions
(Qt-free).

Settings are named by their keys in the header (``SI.hFastZ.enable``,
``SI.hScan2D.hAcq.Tau_bins``, ``SI.VERSION_MAJOR``), as the metadata dock lists them, and
compared by value (MATLAB text parsed, then written back), so ``1`` and ``1.0`` or ``[1;2]``
and ``[1 2]`` are the same setting value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from libsiff.errors import SiffError
from libsiff.scanimage.matlab import parse_value
from libsiff.writer import format_matlab_value


@dataclass
class HeaderDiff:
    """Settings changed ``(path, a, b)``, added in b ``(path, b)``, removed from a ``(path, a)``."""

    changed: list[tuple[str, str, str]] = field(default_factory=list)
    added: list[tuple[str, str]] = field(default_factory=list)
    removed: list[tuple[str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.changed or self.added or self.removed)

    def to_dict(self) -> dict:
        """JSON-ready: ``{"changed": [{"setting", "a", "b"}], "added": [...], "removed": [...]}``."""
        return {"changed": [{"setting": k, "a": a, "b": b} for k, a, b in self.changed],
                "added": [{"setting": k, "b": b} for k, b in self.added],
                "removed": [{"setting": k, "a": a} for k, a in self.removed]}

    def format_text(self, name_a: str = "A", name_b: str = "B") -> str:
        """Human-readable listing, one setting a line."""
        lines = [f"{len(self.changed)} changed, {len(self.added)} added, {len(self.removed)} "
                 f"removed ({name_a} -> {name_b})"]
        lines += [f"~ {k}: {a} -> {b}" for k, a, b in self.changed]
        lines += [f"+ {k} = {b}" for k, b in self.added]
        lines += [f"- {k} = {a}" for k, a in self.removed]
        return "\n".join(lines)


def header_settings(file_header: dict) -> dict[str, str]:
    """Every ``SI.*`` setting of ``file_header`` (``get_file_header()``) as
    ``{key: value text as written}``, in file order (a repeated key keeps its last value).

    Not :func:`libsiff.scanimage.header.split_nvfd`: that one keeps SiffPy's truncation of a
    value at a second ``" = "``, which a listing for people must not."""
    out: dict[str, str] = {}
    for line in str(file_header.get("Non-varying frame data") or "").splitlines():
        key, sep, value = line.partition(" = ")
        if sep and key.startswith("SI"):
            out[key.strip()] = value.strip()
    return out


def _same_value(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return format_matlab_value(parse_value(a)) == format_matlab_value(parse_value(b))
    except (SiffError, TypeError, ValueError):
        return False


def diff_headers(a: dict[str, str], b: dict[str, str]) -> HeaderDiff:
    """What changes from the settings ``a`` to ``b`` (both from :func:`header_settings`)."""
    return HeaderDiff(
        changed=[(k, v, b[k]) for k, v in a.items() if k in b and not _same_value(v, b[k])],
        added=[(k, v) for k, v in b.items() if k not in a],
        removed=[(k, v) for k, v in a.items() if k not in b])


def read_header(path: str | Path) -> dict[str, str]:
    """The settings of the header of ``path`` (frames are not read)."""
    import libsiff

    io = libsiff.open_file(str(path))
    try:
        return header_settings(io.get_file_header())
    finally:
        io.close()


def diff_files(path_a: str | Path, path_b: str | Path) -> HeaderDiff:
    """The header diff of two acquisition files."""
    return diff_headers(read_header(path_a), read_header(path_b))
