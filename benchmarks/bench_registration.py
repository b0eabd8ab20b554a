"""Registration speed (and accuracy) on a simulated 256x128, 6-plane, 2-colour acquisition.

The acquisition (23,800 frames: 1,700 volumes of 6 planes + 1 flyback plane, 2 colours,
0.3 photons per pixel per frame in the bright structure, jitter up to 6 pixels) is written
once into benchmarks/.cache/ together with its true shifts. The run prints, for
``register_frames(method="siffpy")`` and, when suite2p is installed, for suite2p's rigid
registration of the same frames, the wall time, frames per second and the error of the
recovered shifts against the truth (after removing the one constant offset between the
two conventions; see tests/test_registration.py).

Usage: python benchmarks/bench_registration.py [--repeats N] [--all-colors]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import libsiff  # noqa: E402
from libsiff.registration import frame_grid_from_labels, register_frames  # noqa: E402

from _common import CACHE, machine, read_bytes_once  # noqa: E402

SPEC = dict(height=128, width=256, slices=6, flyback_planes=1, colors=2, timepoints=1700,
            photons_per_pixel=0.3, background=0.03, motion="jitter", max_shift_px=6,
            encoding="auto", taus_ns=((0.6, 2.8), (2.5,)), keep_photons=False, seed=11)
NAME = "bench_registration_24k"


def acquisition() -> tuple[Path, dict]:
    """The cached file and its truth (shifts, plane, colour, timepoint per frame)."""
    from libsiff.testing import SimulationSpec, simulate

    CACHE.mkdir(exist_ok=True)
    path, truth_path = CACHE / f"{NAME}.siff", CACHE / f"{NAME}.truth.npz"
    if not (path.exists() and truth_path.exists()):
        spec = SimulationSpec(**SPEC)
        t0 = time.perf_counter()
        gt = simulate(path, spec)
        np.savez(truth_path, shifts=gt.shifts, plane=gt.plane, color=gt.color,
                 timepoint=gt.timepoint)
        print(f"wrote {path.name}: {path.stat().st_size / 1e6:.0f} MB, {spec.n_frames} frames "
              f"in {time.perf_counter() - t0:.1f} s")
    with np.load(truth_path) as data:
        return path, {k: data[k] for k in data.files}


def errors(info, grid: np.ndarray, truth_shifts: np.ndarray, shape) -> tuple[float, float]:
    """RMS and max error (pixels) over every (timepoint, plane), one global offset removed."""
    size = np.array(shape)
    diff = (info.shifts - truth_shifts[grid[:, :, 0]] + size // 2) % size - size // 2
    offset = np.round(np.median(diff.reshape(-1, 2), axis=0)).astype(int)
    err = (diff - offset + size // 2) % size - size // 2
    e = np.hypot(err[..., 0], err[..., 1])
    return float(np.sqrt(np.mean(e ** 2))), float(e.max())


def run(io, grid, method: str, repeats: int, **options):
    best, info = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        info = register_frames(io, grid, 0, method=method, **options)
        best = min(best, time.perf_counter() - t0)
    return best, info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=1, help="best of N runs (default 1)")
    ap.add_argument("--all-colors", action="store_true",
                    help="also time evidence_colors='all' (both colours vote)")
    args = ap.parse_args()

    path, truth = acquisition()
    read_bytes_once(path)  # page cache warm, as for every reader benchmark
    grid = frame_grid_from_labels(truth["timepoint"], truth["plane"], truth["color"])
    io = libsiff.open_file(path)
    n_file = io.num_frames()
    n_reg = int((grid >= 0).sum())
    n_align = int((grid[:, :, 0] >= 0).sum())
    H, W = io.frame_shape()
    print(f"file: {path.stat().st_size / 1e6:.0f} MB, {n_file} frames of {W}x{H} "
          f"({grid.shape[0]} volumes x {grid.shape[1]} planes x {grid.shape[2]} colours + "
          f"flyback), {machine()}")
    print(f"{'method':28s} {'seconds':>8s} {'file fr/s':>10s} {'plane fr/s':>11s} "
          f"{'RMS px':>7s} {'max px':>7s}  notes")
    rows = [("siffpy", {})]
    if args.all_colors:
        rows.append(("siffpy", {"evidence_colors": "all"}))
    results = {}
    for method, options in rows:
        label = method + (" (all colours)" if options else "")
        seconds, info = run(io, grid, method, args.repeats, **options)
        results[label] = seconds
        rms, worst = errors(info, grid, truth["shifts"], (H, W))
        print(f"{label:28s} {seconds:8.2f} {n_file / seconds:10.0f} {n_reg / seconds:11.0f} "
              f"{rms:7.3f} {worst:7.2f}  cycles {info.options['cycles_run']}, "
              f"{n_align / seconds:.0f} alignment-colour frames/s", flush=True)
    try:
        import suite2p  # noqa: F401
    except ImportError:
        print(f"{'suite2p':28s} skipped: not installed (pip install siffviewer[suite2p])")
    else:
        seconds, info = run(io, grid, "suite2p", args.repeats)
        rms, worst = errors(info, grid, truth["shifts"], (H, W))
        print(f"{'suite2p (rigid)':28s} {seconds:8.2f} {n_file / seconds:10.0f} "
              f"{n_reg / seconds:11.0f} {rms:7.3f} {worst:7.2f}  siffpy is "
              f"{seconds / results['siffpy']:.2f}x faster")
    print("frames/s: file fr/s counts every frame of the file (flyback included), plane fr/s "
          "the frames that receive a shift; targets: >= 1500 frames/s, >= 2x suite2p")
    io.close()


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t0:.0f} s")
