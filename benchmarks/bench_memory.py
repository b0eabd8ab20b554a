"""Resident memory of streaming calls: 10-mask sums and registration, on large files.

Each measurement runs in a child process (VmHWM starts afresh at exec) and reports the
peak resident set size beyond what the child had after opening the file (and importing
what the call imports), minus the size of the call's outputs. Target: < 300 MB.

* sum_rois + sum_rois_flim with 10 masks over every frame of a ~1 GB file;
* register_frames ("siffpy", default options) on a ~1 GB and a ~4 GB file (the same
  acquisition settings, 1,500 and 6,000 volumes).

The files are written once into benchmarks/.cache (gitignored).
Usage: python benchmarks/bench_memory.py [--skip-4gb]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import cached_acquisition  # noqa: E402

SPEC = dict(height=128, width=256, slices=6, flyback_planes=1, colors=2, timepoints=1500,
            photons_per_pixel=0.9, background=0.05, motion="jitter", max_shift_px=5,
            encoding="auto", seed=9)

STATUS = """
import threading
def status_mb(key):  # VmHWM starts afresh at exec, unlike ru_maxrss after a fork
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
class AnonPeak(threading.Thread):  # the kernel keeps no high-water mark of RssAnon: sample it
    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.stop = status_mb('RssAnon'), threading.Event()
    def run(self):
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, status_mb('RssAnon'))
"""

MASKS_CHILD = STATUS + """
import sys, numpy as np, libsiff
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
print(f"{io.num_frames()} {base:.0f} {peak:.0f} {outputs:.1f} 0 -1")
"""

REGISTER_CHILD = STATUS + """
import sys, time, numpy as np, libsiff
import scipy.fft, scipy.ndimage  # code, not data: imported before the baseline
from libsiff.registration import register_frames
reader = libsiff.SiffReader(sys.argv[1])
grid = reader.frame_grid()
io = reader.siffio
base, base_anon = status_mb('VmRSS'), status_mb('RssAnon')
sampler = AnonPeak()
sampler.start()
t0 = time.perf_counter()
info = register_frames(io, grid, 0)
seconds = time.perf_counter() - t0
peak = status_mb('VmHWM')
sampler.stop.set()
sampler.join()
anon = sampler.peak - base_anon
arrays = sum(a.nbytes for a in (info.reference_frames, info.frame_grid, info.shifts,
                                info.subpixel_shifts, info.confidence) if a is not None)
# the {frame: (dy, dx)} dict: its table plus one 2-tuple of small ints per frame
shift_dict = sys.getsizeof(info.yx_shifts) + len(info.yx_shifts) * (sys.getsizeof((0, 0)) + 64)
print(f"{io.num_frames()} {base:.0f} {peak:.0f} {(arrays + shift_dict) / 2**20:.1f} {seconds:.0f} "
      f"{anon:.0f}")
"""


def measure(child: str, path: Path) -> tuple[int, float, float, float, float, float]:
    out = subprocess.run([sys.executable, "-c", child, str(path)], capture_output=True,
                         text=True, check=True).stdout.split()
    return (int(out[0]), float(out[1]), float(out[2]), float(out[3]), float(out[4]),
            float(out[5]))


def report(title: str, path: Path, child: str) -> None:
    n, base, peak, outputs, seconds, anon = measure(child, path)
    growth = peak - base - outputs
    print(f"{title}: {path.stat().st_size / 1e9:.2f} GB, {n} frames"
          + (f", {seconds:.0f} s" if seconds else ""))
    print(f"  resident after open: {base:.0f} MB, peak: {peak:.0f} MB, outputs: {outputs:.1f} MB")
    print(f"  growth beyond the outputs: {growth:.0f} MB (target < 300 MB)", flush=True)
    if anon >= 0:
        # VmHWM also counts clean pages of the reader's file mapping that are still mapped
        # (page cache the kernel can drop at any time); the sampled anonymous peak is the
        # memory the call itself allocated.
        print(f"  of which anonymous (allocated) memory, sampled peak: {anon - outputs:.0f} MB "
              f"beyond the outputs; the rest is mapped file pages", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skip-4gb", action="store_true", help="skip the 4 GB registration")
    ap.add_argument("--only", choices=("masks", "register"), help="run one kind only")
    args = ap.parse_args()
    one_gb = cached_acquisition("bench_memory_1GB", **SPEC)
    if args.only != "register":
        report("sum_rois + sum_rois_flim, 10 masks", one_gb, MASKS_CHILD)
    if args.only != "masks":
        report("register_frames (siffpy)", one_gb, REGISTER_CHILD)
        if not args.skip_4gb:
            four_gb = cached_acquisition("bench_memory_4GB", **{**SPEC, "timepoints": 6000})
            report("register_frames (siffpy)", four_gb, REGISTER_CHILD)


if __name__ == "__main__":
    main()
