"""Differences between the ScanImage settings of two acquisitions (Qt-free).

Both headers are read into ImParams trees; every parameter is named by its path in the tree
(``FastZ.enable``, ``Scan2D.Acq.Tau_bins``, ``base.VERSION_MAJOR``: ImParams' names, the
``h`` of ScanImage's ``hFastZ`` dropped) and compared by value as MATLAB text, so ``1`` and
``1.0`` or ``[1;2]`` and ``[1 2]`` are the same setting value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from libsiff.scanimage import ImParams
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


def value_text(value: Any) -> str:
    """A parsed header value as MATLAB text (``repr`` for what MATLAB text cannot hold)."""
    try:
        return format_matlab_value(value)
    except (TypeError, ValueError):
        return repr(value)


def _walk(prefix: str, module, out: dict[str, str]) -> None:
    for key, value in module.params.items():
        out[f"{prefix}.{key}"] = value_text(value)
    for name, sub in module.submodules.items():
        _walk(f"{prefix}.{name}", sub, out)


def flatten_settings(im_params: ImParams) -> dict[str, str]:
    """Every parameter of an ImParams tree as ``{path: MATLAB text}``, in tree order."""
    out: dict[str, str] = {}
    for name, module in im_params.si_modules.items():
        _walk(name, module, out)
    return out


def diff_headers(a: ImParams, b: ImParams) -> HeaderDiff:
    """What changes from the settings of ``a`` to those of ``b``."""
    fa, fb = flatten_settings(a), flatten_settings(b)
    return HeaderDiff(changed=[(k, v, fb[k]) for k, v in fa.items() if k in fb and fb[k] != v],
                      added=[(k, v) for k, v in fb.items() if k not in fa],
                      removed=[(k, v) for k, v in fa.items() if k not in fb])


def read_header(path: str | Path) -> ImParams:
    """The ImParams tree of the header of ``path`` (frames are not read)."""
    import libsiff

    io = libsiff.open_file(str(path))
    try:
        return ImParams.from_file_header(io.get_file_header())
    finally:
        io.close()


def diff_files(path_a: str | Path, path_b: str | Path) -> HeaderDiff:
    """The header diff of two acquisition files."""
    return diff_headers(read_header(path_a), read_header(path_b))
