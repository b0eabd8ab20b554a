"""Lifetime analysis speed.

1. Pixel phasors of one 512 x 512 frame (C sums + calibration; target < 30 ms so the phasor
   plot follows the slider), with threshold and median filter on top.
2. The fixed-lifetime fraction fit of 10 ROIs x 10,000 timepoints (target < 1 s).
3. Lifetime traces of 10 ROIs over every frame of the ~500 MB benchmark acquisition (libsiff
   vs corrosiffpy's sum_rois_flim), and the time per arrival-histogram fit (skipped with
   ``--quick``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from libsiff import SiffReader  # noqa: E402
from libsiff.flim import (  # noqa: E402
    Calibration,
    Exp,
    FLIMParams,
    Irf,
    fit_fractions,
    fit_params_to_data,
    pixel_phasor,
)

from _common import best_time, cached_acquisition, machine, read_bytes_once  # noqa: E402

FRAME_SPEC = dict(height=512, width=512, slices=1, flyback_planes=0, colors=1, timepoints=8,
                  photons_per_pixel=2.0, background=0.05, motion="none", encoding="auto",
                  taus_ns=((0.6, 2.8),), seed=3)
# the 517 MB acquisition of the lifetime-trace benchmark: 6 planes + flyback, 2 colours
TRACE_SPEC = dict(height=128, width=256, slices=6, flyback_planes=1, colors=2, timepoints=720,
                  photons_per_pixel=0.9, background=0.05, motion="jitter", max_shift_px=5,
                  encoding="auto", taus_ns=((0.6, 2.8), (2.5,)), seed=7)


def bench_pixel_phasor() -> None:
    path = cached_acquisition("bench_flim_512", **FRAME_SPEC)
    with SiffReader(path) as sr:
        io = sr.siffio
        cal = Calibration.from_fit(fit_params_to_data(sr.get_histogram(), n_exps=2,
                                                      bin_width_ps=sr.picoseconds_per_bin),
                                   io.tau_bins)
        n_photons = int(io.get_frames([0]).sum())
        t_one = best_time(lambda: pixel_phasor(io, [0], cal), 15)
        t_sums = best_time(lambda: io.flim_sums([0], None, phasor=True,
                                                _period_bins=io.tau_bins), 15)
        ph = pixel_phasor(io, list(range(8)), cal)
        t_filter = best_time(lambda: ph.thresholded(4).filtered(3), 3)
        t_density = best_time(lambda: ph.density(256), 3)
    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.1f}")
    print(f"pixel phasor, one 512x512 frame ({n_photons:,} photons): {t_one * 1000:.1f} ms "
          f"(target < 30 ms: {'met' if t_one < 0.03 else 'MISSED'}), of which the C per-pixel "
          f"sums {t_sums * 1000:.1f} ms (ratio {t_one / t_sums:.2f}); threshold + 3x3 median "
          f"filter {t_filter * 1000:.1f} ms; 256x256 density {t_density * 1000:.1f} ms")


def bench_fraction_fit(n_rois: int = 10, n_timepoints: int = 10_000,
                       photons: float = 2000.0) -> None:
    tau_bins, bw, rebin = 629, 20.0, 4
    params = FLIMParams(Exp(0.6, 0.5, "ns"), Exp(2.8, 0.5, "ns"), Irf(1.2, 0.12, "ns"),
                        noise=0.02, bin_width_ps=bw)
    rng = np.random.default_rng(0)
    fine = params.model_histogram(tau_bins + 2, 1.0, tau_bins)
    shape = np.add.reduceat(fine, np.arange(0, fine.size, rebin))
    hist = rng.poisson(photons * shape, size=(n_rois, n_timepoints, shape.size)).astype(float)
    t_fit = best_time(lambda: fit_fractions(hist, params, tau_bins, rebin), 3)
    print(f"fixed-lifetime fraction fit, {n_rois} ROIs x {n_timepoints:,} timepoints "
          f"(~{photons:.0f} photons each, {shape.size} histogram entries): {t_fit * 1000:.0f} ms "
          f"(target < 1 s: {'met' if t_fit < 1.0 else 'MISSED'})")



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="skip the 500 MB acquisition")
    args = ap.parse_args()
    bench_pixel_phasor()
    bench_fraction_fit()
    if not args.quick:
        bench_traces_and_fits()


def bench_traces_and_fits() -> None:
    path = cached_acquisition("bench_read_500MB", **TRACE_SPEC)
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
