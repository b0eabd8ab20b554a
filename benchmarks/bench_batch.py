"""``siff batch`` scaling: 12 acquisitions of ~200 MB, serially and on a 2-worker Dask cluster.

The acquisition (256 x 256, 3 planes + 1 flyback plane, 2 colours, 170 volumes, ~1 photon
per pixel per frame in the bright structure) is simulated once into benchmarks/.cache/ and
copied 12 times; 10 ROIs over all planes. Every file is read once first, so both runs find
the files in the page cache (the compute-bound case; on a cluster reading shared storage,
see docs/batch.md). The run prints:

* the time of the batch in this process, one file after the other (``workers=0``), with
  libsiff's default C threads (what ``siff export-traces`` in a shell loop gets) and with
  one C thread (what each worker uses: the baseline of the parallel efficiency);
* the time on a running LocalCluster of N worker processes (one thread each), after a
  warm-up pass that loads the code on the workers, and the parallel efficiency
  serial / (N x parallel);
* the time of ``run_batch(workers=N)`` from scratch (cluster start included);
* the load average of the machine around each measurement, and how long the processes
  ran on a core and waited in the run queue for one (other users slow both runs).

Usage: python benchmarks/bench_batch.py [--files 12] [--workers 2] [--repeats 2]
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
from distributed import Client  # noqa: E402

from libsiff import _bindings  # noqa: E402
from siffviewer.model.batch import run_batch  # noqa: E402
from siffviewer.model.batch.runner import local_cluster  # noqa: E402
from siffviewer.model.export import TraceExportOptions  # noqa: E402
from siffviewer.model.masks import MaskSet  # noqa: E402

from _common import CACHE, cached_acquisition, machine, read_bytes_once  # noqa: E402

SPEC = dict(height=256, width=256, slices=3, flyback_planes=1, colors=2, timepoints=170,
            photons_per_pixel=1.0, encoding="auto", seed=5)


def prepare(n_files: int) -> tuple[Path, Path]:
    """The folder of ``n_files`` copies of the cached acquisition, and a masks file."""
    source = cached_acquisition("bench_batch_200MB", **SPEC)
    folder = CACHE / "bench_batch"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.siff"):
        if int(old.stem.split("_")[-1]) >= n_files:
            old.unlink()
    for i in range(n_files):
        target = folder / f"session_{i:03d}.siff"
        if not target.exists() or target.stat().st_size != source.stat().st_size:
            shutil.copyfile(source, target)
    masks = MaskSet((SPEC["slices"], SPEC["height"], SPEC["width"]))
    rng = np.random.default_rng(0)
    for r in range(10):
        mask = np.zeros((SPEC["height"], SPEC["width"]), bool)
        y, x = rng.integers(24, 232, 2)
        mask[y - 16:y + 16, x - 16:x + 16] = True
        masks.add_roi(f"cell{r}", mask=mask, all_planes=True)
    return folder, masks.save(CACHE / "bench_batch.siffmasks.npz")


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min) / {five:.1f} (5 min)"


def schedstat() -> tuple[float, float]:
    """Seconds this process's threads ran on a core and waited in the run queue (Linux)."""
    run = wait = 0.0
    for task in Path("/proc/self/task").glob("*"):
        try:
            on_cpu, queued, _ = (int(v) for v in (task / "schedstat").read_text().split())
        except (OSError, ValueError):
            continue
        run, wait = run + on_cpu / 1e9, wait + queued / 1e9
    return run, wait


def waiting(before: list[tuple[float, float]], after: list[tuple[float, float]]) -> str:
    run = sum(a[0] - b[0] for a, b in zip(after, before, strict=True))
    wait = sum(a[1] - b[1] for a, b in zip(after, before, strict=True))
    return f"{run:.1f} s on a core, {wait:.1f} s waiting for one ({wait / (run + wait):.0%})"


def timed(label: str, fn, repeats: int) -> tuple[float, float, float]:
    """Best wall time of ``repeats`` runs, with that run's mean wall and CPU seconds per file."""
    best = (float("inf"), 0.0, 0.0)
    for _ in range(repeats):
        before = load()
        t0 = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - t0
        assert not result.failed, [o.error for o in result.failed]
        wall = float(np.mean([o.seconds for o in result.outcomes]))
        cpu = float(np.mean([o.cpu_seconds for o in result.outcomes]))
        print(f"  {label}: {seconds:6.2f} s; per file {wall:.2f} s wall, {cpu:.2f} s CPU "
              f"({before} before, {load()} after)")
        best = min(best, (seconds, wall, cpu))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    folder, masks = prepare(args.files)
    files = sorted(folder.glob("*.siff"))
    total_mb = sum(p.stat().st_size for p in files) / 1e6
    for path in files:
        read_bytes_once(path)
    out = CACHE / "bench_batch_out"
    options = TraceExportOptions(masks=masks)
    print(f"{len(files)} files, {total_mb / len(files):.0f} MB each ({total_mb:.0f} MB), "
          f"10 ROIs; {machine()}; {load()}")

    default_threads = _bindings._THREADS
    loop = timed(f"serial, {default_threads} C threads (as export-traces in a loop)",
                 lambda: run_batch([folder], out, options, workers=0, force=True), args.repeats)[0]
    _bindings._THREADS = 1  # what each worker uses (LIBSIFF_NUM_THREADS=1)
    before = [schedstat()]
    serial, s_wall, s_cpu = timed("serial, 1 C thread", lambda: run_batch(
        [folder], out, options, workers=0, force=True), args.repeats)
    serial_sched = waiting(before, [schedstat()])
    _bindings._THREADS = default_threads
    t0 = time.perf_counter()
    with local_cluster(args.workers) as cluster:
        start_s = time.perf_counter() - t0
        address = cluster.scheduler_address
        run_batch(files[:args.workers], out, options, force=True, scheduler=address)  # warm-up
        with Client(address) as client:
            before = list(client.run(schedstat).values())
            parallel, p_wall, p_cpu = timed(f"{args.workers} workers (running cluster)",
                                            lambda: run_batch([folder], out, options,
                                                              force=True, scheduler=address),
                                            args.repeats)
            worker_sched = waiting(before, list(client.run(schedstat).values()))
    cold = timed(f"{args.workers} workers (cluster started by run_batch)", lambda: run_batch(
        [folder], out, options, force=True, workers=args.workers), 1)[0]

    efficiency = serial / (args.workers * parallel)
    print(f"cluster start: {start_s:.1f} s")
    print(f"serial: {serial:.2f} s ({s_wall:.2f} s wall, {s_cpu:.2f} s CPU per file; "
          f"{total_mb / serial:.0f} MB/s)")
    print(f"{args.workers} workers: {parallel:.2f} s ({p_wall:.2f} s wall, {p_cpu:.2f} s CPU per "
          f"file; {total_mb / parallel:.0f} MB/s), speed-up {serial / parallel:.2f}, parallel "
          f"efficiency {efficiency:.2f} (target >= 0.7)")
    print(f"CPU per file on the workers / serially: {p_cpu / s_cpu:.2f} (1.0: the work itself "
          f"scales; wall time beyond CPU time is waiting for a core)")
    print(f"run queue, serial runs: {serial_sched}")
    print(f"run queue, worker processes: {worker_sched}")
    print(f"speed-up over export-traces in a loop ({default_threads} C threads): "
          f"{loop / parallel:.2f}")
    print(f"{args.workers} workers incl. cluster start: {cold:.2f} s, "
          f"efficiency {serial / (args.workers * cold):.2f}")
    n, w = 1000, 50
    projected = np.ceil(n / w) * s_cpu / min(efficiency, 1.0)
    ideal = np.ceil(n / w) * s_cpu
    print(f"projection, {n} such sessions on {w} workers (compute-bound): {ideal:.0f} s at "
          f"efficiency 1, {projected:.0f} s at this run's efficiency, + cluster start; reading "
          f"{n * total_mb / len(files) / 1e3:.0f} GB takes "
          f"{n * total_mb / len(files) / ideal / 1e3:.2f} GB/s from shared storage to keep up")


if __name__ == "__main__":
    main()
