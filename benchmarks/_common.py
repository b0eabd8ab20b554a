"""Shared helpers for the benchmarks: cached synthetic acquisitions and timing."""

from __future__ import annotations

import os
import time
from pathlib import Path

CACHE = Path(__file__).parent / ".cache"


def cached_acquisition(name: str, **spec_kwargs) -> Path:
    """Write (once) a simulated acquisition into benchmarks/.cache and return its path."""
    from libsiff.testing import SimulationSpec, simulate

    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"{name}.siff"
    if not path.exists():
        spec = SimulationSpec(keep_photons=False, **spec_kwargs)
        t0 = time.perf_counter()
        simulate(path, spec)
        print(f"wrote {path.name}: {path.stat().st_size / 1e6:.0f} MB, {spec.n_frames} frames "
              f"in {time.perf_counter() - t0:.1f} s")
    return path


def best_time(fn, repeats: int = 3) -> float:
    """Best wall time of several runs, in seconds (the file is in the page cache)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def read_bytes_once(path: Path) -> None:
    """Read every byte of the file (the floor any reader must pay)."""
    buf = bytearray(16 << 20)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(view):
            pass


def machine() -> str:
    return f"{os.cpu_count()} cores"
