"""libsiff vs corrosiffpy on one realistic ~500 MB acquisition, in one run.

Prints, per operation, the best-of-3 time of each reader and the ratio
corrosiffpy / libsiff (above 1: libsiff is faster), and the time to read the file's
bytes once (the floor). Usage: python benchmarks/bench_read.py [--repeats N]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
import libsiff  # noqa: E402

from _common import best_time, cached_acquisition, machine, read_bytes_once  # noqa: E402

SPEC = dict(height=128, width=256, slices=6, flyback_planes=1, colors=2, timepoints=720,
            photons_per_pixel=0.9, background=0.05, motion="jitter", max_shift_px=5,
            encoding="auto", taus_ns=((0.6, 2.8), (2.5,)), seed=7)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    try:
        import corrosiffpy
    except ImportError:
        sys.exit("corrosiffpy is needed for the comparison: pip install corrosiffpy==0.1.2")

    path = cached_acquisition("bench_read_500MB", **SPEC)
    size_mb = path.stat().st_size / 1e6
    read_bytes_once(path)  # warm the page cache for both readers

    ours = libsiff.open_file(path)
    theirs = corrosiffpy.open_file(str(path))
    n = ours.num_frames()
    H, W = ours.frame_shape()
    rng = np.random.default_rng(0)
    frames = list(range(n))
    reg = {f: (int(rng.integers(0, H)), int(rng.integers(0, W))) for f in frames}
    mask = np.zeros((H, W), bool)
    mask[30:90, 60:200] = True
    masks = np.zeros((10, H, W), bool)
    for r in range(10):
        y, x = rng.integers(0, H - 20), rng.integers(0, W - 20)
        masks[r, y:y + 20, x:x + 20] = True

    ops = [
        ("open", lambda io, mod: mod.open_file(str(path))),
        ("get_frames", lambda io, mod: io.get_frames()),
        ("get_frames + registration", lambda io, mod: io.get_frames(registration=reg)),
        ("sum_roi", lambda io, mod: io.sum_roi(mask)),
        ("sum_rois (10 masks)", lambda io, mod: io.sum_rois(masks)),
        ("get_histogram", lambda io, mod: io.get_histogram()),
        ("flim_map", lambda io, mod: io.flim_map()),
        ("sum_roi_flim", lambda io, mod: io.sum_roi_flim(mask)),
        ("sum_rois_flim (10 masks)", lambda io, mod: io.sum_rois_flim(masks)),
        ("get_experiment_timestamps", lambda io, mod: io.get_experiment_timestamps()),
    ]
    floor = best_time(lambda: read_bytes_once(path), args.repeats)
    print(f"file: {size_mb:.0f} MB, {n} frames of {H}x{W}, {machine()}")
    print(f"read the file's bytes once (floor): {floor * 1000:8.1f} ms")
    print(f"{'operation':28s} {'libsiff ms':>11s} {'corrosiffpy ms':>15s} {'ratio':>7s}")
    results = {}
    for name, op in ops:
        t_ours = best_time(lambda op=op: op(ours, libsiff), args.repeats)
        t_theirs = best_time(lambda op=op: op(theirs, corrosiffpy), args.repeats)
        results[name] = (t_ours, t_theirs)
        print(f"{name:28s} {t_ours * 1000:11.1f} {t_theirs * 1000:15.1f} "
              f"{t_theirs / t_ours:7.2f}", flush=True)
    one, ten = results["sum_roi"][0], results["sum_rois (10 masks)"][0]
    print(f"libsiff sum_rois(10) / sum_roi(1): {ten / one:.2f}  (target <= 1.5)")
    ours.close()


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t0:.0f} s")
