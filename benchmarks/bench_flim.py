"""Lifetime analysis speed: lifetime traces of 10 ROIs over every frame of the ~500 MB
benchmark acquisition (libsiff vs corrosiffpy's sum_rois_flim), and the time per
arrival-histogram fit."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from libsiff import SiffReader  # noqa: E402
from libsiff.flim import fit_params_to_data  # noqa: E402

from _common import best_time, cached_acquisition, read_bytes_once  # noqa: E402
from bench_read import SPEC  # noqa: E402


def main() -> None:
    path = cached_acquisition("bench_read_500MB", **SPEC)
    read_bytes_once(path)
    with SiffReader(path) as sr:
        ip = sr.im_params
        rng = np.random.default_rng(1)
        masks = np.zeros((10, ip.num_slices, *ip.shape), bool)
        for r in range(10):
            for z in range(ip.num_slices):
                y, x = rng.integers(0, ip.shape[0] - 24), rng.integers(0, ip.shape[1] - 24)
                masks[r, z, y:y + 24, x:x + 24] = True
        t_traces = best_time(lambda: sr.sum_masks_flim(masks, color_channel=1), 3)
        trace = sr.sum_masks_flim(masks, color_channel=1)
        frames_used = ip.num_timepoints * ip.num_slices
        t_all = best_time(lambda: sr.siffio.sum_rois_flim(masks[:, 0]), 3)
        print(f"file: {path.stat().st_size / 1e6:.0f} MB, {sr.num_frames} frames")
        print(f"lifetime traces, 10 3-D ROIs, {ip.num_timepoints} timepoints x "
              f"{ip.num_slices} planes ({frames_used} frames): {t_traces * 1000:.0f} ms "
              f"-> shape {trace.shape}")
        print(f"sum_rois_flim, 10 masks, all {sr.num_frames} frames: libsiff {t_all * 1000:.0f} ms",
              end="")
        try:
            import corrosiffpy

            theirs = corrosiffpy.open_file(str(path))
            t_c = best_time(lambda: theirs.sum_rois_flim(masks[:, 0]), 3)
            print(f", corrosiffpy {t_c * 1000:.0f} ms (ratio {t_c / t_all:.1f})")
        except ImportError:
            print(" (corrosiffpy not installed)")
        hist = sr.get_histogram(ip.framelist_by_color(0))
    for n in (1, 2, 3):
        t0 = time.perf_counter()
        reps = 3
        for _ in range(reps):
            fit = fit_params_to_data(hist, n_exps=n, bin_width_ps=20.0)
        dt = (time.perf_counter() - t0) / reps
        fit.convert_units("nanoseconds")
        taus = ", ".join(f"{e.tau:.2f}" for e in fit.exps)
        print(f"fit {n} exponential(s) to {int(hist.sum()):,} photons: {dt * 1000:.0f} ms "
              f"per fit (taus {taus} ns, reduced chi2 {fit.chi_sq:.2f})")


if __name__ == "__main__":
    main()
