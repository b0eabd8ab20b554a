"""Opening a 10 GB acquisition to its first decoded frame, warm and cold page cache.

The reader part of "open a recording and paint its first frame": ``libsiff.open_file``
(header + frame index) and ``get_frames([0])``. The file (~10 GB, 256 x 256 raw frames) is
written once into benchmarks/.cache (never the repository). Cold runs evict the file from the
page cache with ``posix_fadvise(POSIX_FADV_DONTNEED)`` first. Targets: warm < 0.5 s, cold < 2 s.

Usage: python benchmarks/bench_open.py [--gb 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import libsiff  # noqa: E402
from libsiff.writer import SiffWriter, build_nvfd, build_roi_json, make_description  # noqa: E402

from _common import CACHE, machine  # noqa: E402

H, W, PHOTONS_PER_PIXEL, TAU_BINS = 256, 256, 1.2, 629


def write_big_file(path: Path, gigabytes: float) -> None:
    """A raw-encoded acquisition of about ``gigabytes`` GB: a few photon patterns reused."""
    rng = np.random.default_rng(1)
    n_photons = int(H * W * PHOTONS_PER_PIXEL)
    patterns = []
    for _ in range(8):
        y = rng.integers(0, H, n_photons, dtype=np.uint64)
        x = rng.integers(0, W, n_photons, dtype=np.uint64)
        tau = rng.integers(0, TAU_BINS, n_photons, dtype=np.uint64)
        patterns.append((y << np.uint64(48)) | (x << np.uint64(32)) | tau)
    n_frames = int(gigabytes * 1e9 / (8 * n_photons))
    need = 8 * n_photons * n_frames * 1.05
    free = shutil.disk_usage(path.parent).free
    if free < need + 20e9:
        sys.exit(f"not enough free disk for a {gigabytes} GB file ({free / 1e9:.0f} GB free)")
    t0 = time.perf_counter()
    nvfd = build_nvfd(**{"SI.hScan2D.hAcq.Tau_bins": TAU_BINS})
    with SiffWriter(path, nvfd, build_roi_json(H, W), buffer_size=1 << 24) as w:
        for f in range(n_frames):
            desc = make_description(f + 1, f / 30.0, 1713382945000000000 + f * 33_333_333)
            w.add_raw_words(patterns[f % len(patterns)], (H, W), desc)
    print(f"wrote {path.name}: {path.stat().st_size / 1e9:.1f} GB, {n_frames} frames in "
          f"{time.perf_counter() - t0:.0f} s")


def evict(path: Path) -> None:
    """Drop the file's pages from the OS page cache (the next read comes from disk)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def open_to_first_frame(path: Path) -> tuple[float, float]:
    """Seconds to open (header + index) and to open and decode frame 0."""
    t0 = time.perf_counter()
    io = libsiff.open_file(path)
    t_open = time.perf_counter() - t0
    frame = io.get_frames([0])
    t_first = time.perf_counter() - t0
    assert frame.shape == (1, H, W) and frame.sum() > 0
    io.close()
    return t_open, t_first


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--gb", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"bench_open_{args.gb:g}GB.siff"
    if not path.exists():
        write_big_file(path, args.gb)
    with libsiff.open_file(path) as io:
        n = io.num_frames()
    print(f"file: {path.stat().st_size / 1e9:.1f} GB, {n} frames of {H}x{W}, {machine()}, "
          f"load {os.getloadavg()[0]:.1f}")
    rows = []
    for run in range(args.repeats):
        evict(path)
        cold = open_to_first_frame(path)
        warm = open_to_first_frame(path)
        rows.append((cold, warm))
        print(f"run {run}: cold open {cold[0]:.3f} s, first frame {cold[1]:.3f} s | "
              f"warm open {warm[0]:.3f} s, first frame {warm[1]:.3f} s", flush=True)
    cold_best = min(r[0][1] for r in rows)
    warm_best = min(r[1][1] for r in rows)
    print(f"open to first decoded frame, best of {args.repeats}: warm {warm_best:.3f} s "
          f"(target < 0.5), cold {cold_best:.3f} s (target < 2)")


if __name__ == "__main__":
    main()
