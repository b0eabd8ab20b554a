"""The ScanImage header tree: ``SI.<module>.<param> = value`` lines as nested modules.

:func:`split_nvfd` cuts the non-varying frame data into ``{key: raw text}``;
:func:`build_modules` routes the keys to :class:`ScanImageModule` objects the way SiffPy
does (docs/compatibility.md §1.2). Parameters live in a dict of each module, never in its
attributes, so a key such as ``SI.hFoo.__class__`` cannot replace anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import SiffFormatError
from .limits import MAX_KEY_DEPTH
from .matlab import parse_value

__all__ = ["split_nvfd", "build_modules", "ScanImageModule", "ScanImageSubModule"]

_H_PREFIX = re.compile(r"h[A-Z]")


def split_nvfd(nvfd: str) -> dict[str, str]:
    """Split the NVFD text into ``{key: raw value text}`` (docs/compatibility.md §1.2).

    Parameters
    ----------
    nvfd : str
        Lines ``SI.<path> = <MATLAB expression>`` separated by ``\\n``.

    Returns
    -------
    dict
        Keys in order of first appearance; a later duplicate overwrites the value. Only the
        text between the first and second ``" = "`` is kept (SiffPy's truncation). Lines
        without ``" = "`` (the empty trailing line) are skipped, where SiffPy would store a
        ``None`` under the empty key; a trailing ``\\r`` is removed.
    """
    out: dict[str, str] = {}
    for line in nvfd.split("\n"):
        if line.endswith("\r"):
            line = line[:-1]
        parts = line.split(" = ", 2)
        if len(parts) >= 2:
            out[parts[0]] = parts[1]
    return out


def strip_h(name: str) -> str:
    """``hFastZ`` → ``FastZ``; names not matching ``h[A-Z]`` are kept."""
    return name[1:] if _H_PREFIX.match(name) else name


def build_modules(header_dict: Mapping[str, str | None]) -> dict[str, ScanImageModule]:
    """SiffPy's routing of ``{key: raw value}`` pairs to ScanImage modules.

    Keys with at most two dot-separated parts (``SI.VERSION_MAJOR``) go to module ``base``;
    otherwise part 1 names the module (``hFastZ`` → ``FastZ``) and the rest the parameter,
    further dots making submodules. Modules appear in order of first key.

    Raises
    ------
    SiffFormatError
        A key has more than :data:`~libsiff.scanimage.limits.MAX_KEY_DEPTH` parts, or a
        value nests too deeply.
    """
    modules: dict[str, ScanImageModule] = {}
    for key, value in header_dict.items():
        parts = key.split(".", MAX_KEY_DEPTH)
        if len(parts) > MAX_KEY_DEPTH:
            raise SiffFormatError(
                f"header key {key[:80]!r}... has more than {MAX_KEY_DEPTH} dot-separated parts")
        if len(parts) <= 2:
            module_name, path = "base", parts[-1:]
        else:
            module_name, path = strip_h(parts[1]), parts[2:]
        module = modules.get(module_name)
        if module is None:
            module = modules[module_name] = ScanImageModule(module_name)
        module.add_param(path, value)
    return modules


class ScanImageModule:
    """One ScanImage module (``SI.h<Name>.*``): header parameters as attributes.

    ``module.param`` and ``module['param']`` give a parsed value; dotted keys make
    submodules (``SI.hScan2D.hAcq.Tau_bins`` → ``Scan2D.Acq.Tau_bins``), also reachable as
    ``module.submodules[name]``. ``module.params`` is the dict of this module's own
    parameters. ``str()`` is SiffPy's ``"<name> module: "`` listing.
    """

    def __init__(self, name: str):
        self.module_name = name
        self.params: dict[str, Any] = {}
        self.submodules: dict[str, ScanImageSubModule] = {}

    def add_param(self, path: list[str], value: str | None) -> None:
        """Store one parameter under ``path`` (key parts relative to this module)."""
        module = self
        for head in path[:-1]:
            name = strip_h(head)
            sub = module.submodules.get(name)
            if sub is None:
                sub = module.submodules[name] = ScanImageSubModule(name)
            module = sub
        module.params[path[-1]] = parse_value(value)

    def get(self, key: str, default: Any = None) -> Any:
        """This module's parameter ``key`` (no submodule), or ``default``."""
        return self.params.get(key, default)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        for store in ("params", "submodules"):
            values = self.__dict__.get(store, {})
            if name in values:
                return values[name]
        raise AttributeError(
            f"ScanImage module {self.__dict__.get('module_name', '?')!r} has no parameter "
            f"or submodule {name!r}"
        )

    def __getitem__(self, key: str) -> Any:
        if key in self.params:
            return self.params[key]
        if key in self.submodules:
            return self.submodules[key]
        raise KeyError(key)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.params) | set(self.submodules))

    def __str__(self) -> str:
        body = f"\n\tsubmodules : {self.submodules}"
        body += "".join(f"\n\t{key} : {value}" for key, value in self.params.items())
        return f"{self.module_name} module: {body}"

    __repr__ = __str__


class ScanImageSubModule(ScanImageModule):
    """A submodule of a ScanImage module (e.g. ``Scan2D.Acq``)."""
