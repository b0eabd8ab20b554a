"""Which acquisitions a batch covers and what each one's output file is called."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Iterable

#: File types a folder given to a batch contributes (files named explicitly may be any).
ACQUISITION_SUFFIXES = (".siff",)
#: Names in the output folder that belong to the batch itself.
RESERVED_NAMES = frozenset({"summary.csv"})


def find_acquisitions(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The acquisitions named by ``paths``: files as given, folders as their ``.siff`` files.

    Folders are not searched recursively; their files come in name order. A file named twice
    is kept once. Raises FileNotFoundError naming a path that does not exist."""
    found: list[Path] = []
    seen: set[Path] = set()
    for item in paths:
        path = Path(item)
        if path.is_dir():
            members = sorted(p for p in path.iterdir()
                             if p.is_file() and p.suffix.lower() in ACQUISITION_SUFFIXES)
        elif path.exists():
            members = [path]
        else:
            raise FileNotFoundError(2, "no such file or folder", str(path))
        for member in members:
            key = member.resolve()
            if key not in seen:
                seen.add(key)
                found.append(member)
    return found


def output_names(acquisitions: list[Path], suffix: str = ".csv") -> list[str]:
    """One output file name per acquisition: its stem, prefixed with as many parent folder
    names as it takes to tell equal stems from different folders apart."""
    resolved = [p.resolve() for p in acquisitions]
    names = [p.stem + suffix for p in resolved]
    groups: dict[str, list[int]] = defaultdict(list)
    for i, name in enumerate(names):
        groups[name.lower()].append(i)
    for name, members in groups.items():
        if len(members) == 1 and name not in RESERVED_NAMES:
            continue
        depth = 1
        while True:
            candidates = {i: "_".join(resolved[i].parent.parts[-depth:] + (resolved[i].stem,))
                          + suffix for i in members}
            deepest = max(len(resolved[i].parent.parts) for i in members)
            if len({c.lower() for c in candidates.values()}) == len(members) or depth >= deepest:
                break
            depth += 1
        for i, candidate in candidates.items():
            names[i] = candidate.lstrip("/\\_") or names[i]
    taken: set[str] = set(RESERVED_NAMES)
    for i, name in enumerate(names):  # last resort (e.g. a prefixed name equals another stem)
        stem, n = name[: -len(suffix)] if suffix else name, 2
        while name.lower() in taken:
            name, n = f"{stem}-{n}{suffix}", n + 1
        taken.add(name.lower())
        names[i] = name
    return names
