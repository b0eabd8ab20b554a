"""Resident memory while summing 10 masks over every frame of a > 1 GB file.

Runs the sum in a child process and reports its peak resident set size beyond what it
had after opening the file (target: < 300 MB beyond the output arrays)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import cached_acquisition  # noqa: E402

SPEC = dict(height=128, width=256, slices=6, flyback_planes=1, colors=2, timepoints=1500,
            photons_per_pixel=0.9, background=0.05, motion="jitter", max_shift_px=5,
            encoding="auto", seed=9)

CHILD = """
import sys, numpy as np, libsiff
def status_mb(key):  # VmHWM starts afresh at exec, unlike ru_maxrss after a fork
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
io = libsiff.open_file(sys.argv[1])
H, W = io.frame_shape()
masks = np.zeros((10, H, W), bool)
for r in range(10):
    masks[r, 10 * r: 10 * r + 20, 20 * r: 20 * r + 40] = True
base = status_mb('VmRSS')
sums = io.sum_rois(masks)
life, counts, _ = io.sum_rois_flim(masks)
peak = status_mb('VmHWM')
outputs = (sums.nbytes + life.nbytes + counts.nbytes) / 2**20
print(f"{io.num_frames()} {base:.0f} {peak:.0f} {outputs:.1f}")
"""


def main() -> None:
    path = cached_acquisition("bench_memory_1GB", **SPEC)
    size_gb = path.stat().st_size / 1e9
    out = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True,
                         text=True, check=True).stdout.split()
    n, base, peak, outputs = int(out[0]), float(out[1]), float(out[2]), float(out[3])
    growth = peak - base - outputs
    print(f"file: {size_gb:.2f} GB, {n} frames; sum_rois + sum_rois_flim with 10 masks")
    print(f"resident after open: {base:.0f} MB, peak: {peak:.0f} MB, outputs: {outputs:.1f} MB")
    print(f"growth beyond the outputs: {growth:.0f} MB (target < 300 MB)")


if __name__ == "__main__":
    main()
