"""``siff batch`` scaling: 12 acquisitions of ~200 MB, serially and on a 2-worker Dask cluster.

The acquisition (256 x 256, 3 planes + 1 flyback plane, 2 colours, 170 volumes, ~1 photon
per pixel per frame in the bright structure) is simulated once into benchmarks/.cache/ and
copied 12 times; 10 ROIs over all planes. Like is compared with like: every run is
``run_batch`` over the same files with the same task function, and the serial baseline
runs in a process set up as a Dask worker is (one libsiff C thread, one BLAS thread), one
file after the other (``workers=0``). Each repeat measures, in this order:

* serial: the baseline, in that worker-like process;
* 2 plain processes: the files split between two such processes, no Dask (the machine's
  own ceiling: what two cores give two independent processes);
* 2 workers, running cluster: ``run_batch(scheduler=ADDRESS)`` on a LocalCluster started
  before (its start is not included; everything ``siff batch --scheduler`` does is:
  client connect, planning, submission, results, summary, client close);
* 2 workers, cluster started by run_batch: ``run_batch(workers=2)`` from scratch, what
  ``siff batch`` does by default (cluster start and shutdown included);
* 2 threads of one process: ``run_batch(workers=0, threads=2)`` in the worker-like process,
  two files at a time on two threads, no cluster (libsiff releases the GIL in its C calls).

Efficiency = serial / (2 x parallel), per repeat; the median and the range are printed.
The files are in the page cache (every file is read once first) unless ``--cold``, which
drops them from it (posix_fadvise DONTNEED) before every run. ``--register`` registers
every file first in every run. ``--loop`` also times ``siff export-traces`` run as one
command per file (what a shell loop does today).

Usage: python benchmarks/bench_batch.py [--files 12] [--workers 2] [--repeats 3]
                                        [--cold] [--register] [--loop]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from siffviewer.model.batch import run_batch  # noqa: E402
from siffviewer.model.batch.runner import local_cluster  # noqa: E402
from siffviewer.model.export import TraceExportOptions  # noqa: E402
from siffviewer.model.masks import MaskSet  # noqa: E402

from _common import CACHE, cached_acquisition, machine, read_bytes_once  # noqa: E402

SPEC = dict(height=256, width=256, slices=3, flyback_planes=1, colors=2, timepoints=170,
            photons_per_pixel=1.0, encoding="auto", seed=5)
#: The environment of a Dask worker process (Dask's nanny sets the BLAS/OpenMP ones,
#: local_cluster libsiff's): the serial baseline runs with the same.
WORKER_ENV = {"LIBSIFF_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "MKL_NUM_THREADS": "1"}


def prepare(n_files: int) -> tuple[list[Path], Path]:
    """``n_files`` copies of the cached acquisition, and a masks file of 10 ROIs."""
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
    return (sorted(folder.glob("*.siff")),
            masks.save(CACHE / "bench_batch.siffmasks.npz"))


def drop_from_page_cache(files: list[Path]) -> None:
    """Evict the files' pages (clean, unmapped ones) so the next read goes to the disk."""
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def per_file(result) -> dict:
    """Mean wall and CPU seconds per file of a BatchResult (as the tasks measured them)."""
    assert not result.failed, [o.error for o in result.failed]
    return {"wall": float(np.mean([o.seconds for o in result.outcomes])),
            "cpu": float(np.mean([o.cpu_seconds for o in result.outcomes]))}


# --------------------------------------------------------------- the worker-like process
def child() -> None:
    """Serve runs in a process with the workers' environment: one JSON request a line."""
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        files, out = [Path(f) for f in req["files"]], Path(req["out"])
        options = TraceExportOptions(masks=req["masks"])
        t0 = time.perf_counter()
        if req["cmd"] == "serial":
            result = run_batch(files, out, options, workers=0, force=True,
                               register=req["register"])
        else:  # the files on threads of this process (no cluster)
            result = run_batch(files, out, options, workers=0, threads=req["threads"],
                               force=True, register=req["register"])
        print(json.dumps({"seconds": time.perf_counter() - t0, **per_file(result)}), flush=True)


class Children:
    """Worker-like processes (this script with --child) that run what they are sent."""

    def __init__(self, n: int):
        env = {**os.environ, **WORKER_ENV}
        self.procs = [subprocess.Popen([sys.executable, __file__, "--child"], env=env,
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       text=True) for _ in range(n)]
        for p in self.procs:
            json.loads(p.stdout.readline())

    def run(self, requests: list[dict]) -> tuple[float, list[dict]]:
        """Send one request to each of the first len(requests) processes at once; the wall
        time until the last answered, and the answers."""
        t0 = time.perf_counter()
        for p, req in zip(self.procs, requests):
            p.stdin.write(json.dumps(req) + "\n")
            p.stdin.flush()
        answers = [json.loads(p.stdout.readline()) for p in self.procs[:len(requests)]]
        return time.perf_counter() - t0, answers

    def close(self) -> None:
        """End the processes."""
        for p in self.procs:
            p.stdin.close()
            p.wait()


# ------------------------------------------------------------------------------ main
def spread(values: list[float]) -> str:
    """Median and range of a few measurements."""
    return (f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"
            if len(values) > 1 else f"{values[0]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cold", action="store_true", help="drop the files from the page cache "
                    "before every run")
    ap.add_argument("--register", action="store_true", help="register every file first")
    ap.add_argument("--loop", action="store_true", help="also time siff export-traces run "
                    "once per file")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child()

    n = args.workers
    files, masks = prepare(args.files)
    total_mb = sum(p.stat().st_size for p in files) / 1e6
    out = CACHE / "bench_batch_out"
    options = TraceExportOptions(masks=masks)
    req = {"masks": str(masks), "register": args.register}

    def fresh() -> None:
        if args.cold:
            drop_from_page_cache(files)
        else:
            for path in files:
                read_bytes_once(path)

    t0 = time.perf_counter()
    drop_from_page_cache(files)
    for path in files:
        read_bytes_once(path)
    floor = time.perf_counter() - t0
    print(f"{len(files)} files, {total_mb / len(files):.0f} MB each ({total_mb:.0f} MB), "
          f"10 ROIs{', registered first' if args.register else ''}; {machine()}; page cache "
          f"{'cold' if args.cold else 'warm'}; reading them from the disk once: {floor:.1f} s "
          f"({total_mb / floor:.0f} MB/s); load average {os.getloadavg()[0]:.1f}")

    children = Children(n)
    warm = [{**req, "cmd": "serial", "files": [str(f) for f in files[i:i + 1]],
             "out": str(out / f"warm{i}")} for i in range(n)]
    children.run(warm)  # imports and first-call costs, as the warm-up pass on the workers
    t0 = time.perf_counter()
    cluster = local_cluster(n)
    start_s = time.perf_counter() - t0
    address = cluster.scheduler_address
    run_batch(files[:n], out / "warm", options, force=True, scheduler=address,
              register=args.register)
    rows: dict[str, list[float]] = {k: [] for k in ("serial", "plain", "warm", "cold", "threads")}
    cpu: dict[str, list[float]] = {"serial": [], "warm": []}
    for rep in range(args.repeats):
        fresh()
        wall, (ans,) = children.run([{**req, "cmd": "serial", "files": [str(f) for f in files],
                                      "out": str(out / "serial")}])
        rows["serial"].append(wall)
        cpu["serial"].append(ans["cpu"])
        fresh()
        wall, _ = children.run([{**req, "cmd": "serial", "files": [str(f) for f in files[i::n]],
                                 "out": str(out / f"plain{i}")} for i in range(n)])
        rows["plain"].append(wall)
        fresh()
        t0 = time.perf_counter()
        result = run_batch(files, out / "warm", options, force=True, scheduler=address,
                           register=args.register)
        rows["warm"].append(time.perf_counter() - t0)
        cpu["warm"].append(per_file(result)["cpu"])
        fresh()
        t0 = time.perf_counter()
        per_file(run_batch(files, out / "cold", options, force=True, workers=n,
                           register=args.register))
        rows["cold"].append(time.perf_counter() - t0)
        fresh()
        wall, _ = children.run([{**req, "cmd": "threads", "threads": n,
                                 "files": [str(f) for f in files], "out": str(out / "threads")}])
        rows["threads"].append(wall)
        print(f"  repeat {rep + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in rows.items())
              + f"; load average {os.getloadavg()[0]:.1f}", flush=True)
    cluster.close()
    children.close()

    def eff(key: str) -> str:
        return spread([s / (n * p) for s, p in zip(rows["serial"], rows[key], strict=True)])

    print(f"\nmedian (range) of {args.repeats} repeats, seconds for the {len(files)} files:")
    print(f"  serial, one worker-like process:     {spread(rows['serial'])} s "
          f"({spread(cpu['serial'])} s CPU per file)")
    print(f"  {n} plain processes, no Dask:          {spread(rows['plain'])} s, "
          f"efficiency {eff('plain')} (the machine's ceiling)")
    print(f"  {n} workers, running cluster:          {spread(rows['warm'])} s, efficiency "
          f"{eff('warm')} ({spread(cpu['warm'])} s CPU per file; cluster start "
          f"{start_s:.1f} s not included)")
    print(f"  {n} workers, cluster started by run_batch: {spread(rows['cold'])} s, "
          f"efficiency {eff('cold')} (siff batch's default: start and shutdown included)")
    print(f"  {n} threads of one process, no cluster: "
          f"{spread(rows['threads'])} s, efficiency {eff('threads')}")
    e_warm = statistics.median(s / (n * p) for s, p in zip(rows["serial"], rows["warm"]))
    e_cold = statistics.median(s / (n * p) for s, p in zip(rows["serial"], rows["cold"]))
    fixed = statistics.median(c - w for c, w in zip(rows["cold"], rows["warm"]))
    per = statistics.median(rows["serial"]) / len(files)
    print(f"parallel efficiency (target >= 0.7): {e_warm:.2f} on a running cluster, "
          f"{e_cold:.2f} including the cluster's start and shutdown ({fixed:.1f} s more)")
    if e_warm > 0.7:  # files F at which F*per / (n * (F*per / (n*e_warm) + fixed)) = 0.7
        files_07 = 0.7 * n * fixed * e_warm / (per * (e_warm - 0.7))
        print(f"  with the start included, 0.7 is reached from about {np.ceil(files_07):.0f} "
              f"files of this size")
    if args.loop:
        (out / "loop").mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        for path in files:
            subprocess.run([sys.executable, "-m", "siffviewer.cli", "export-traces",
                            str(path), "--masks", str(masks),
                            "--out", str(out / "loop" / (path.stem + ".csv"))],
                           check=True, capture_output=True)
        loop = time.perf_counter() - t0
        print(f"siff export-traces once per file (a shell loop): {loop:.2f} s; "
              f"{n} workers are {loop / statistics.median(rows['warm']):.1f}x faster on a "
              f"running cluster, {loop / statistics.median(rows['cold']):.1f}x from scratch")
    workers_big, sessions = 50, 1000
    cpu_file = statistics.median(cpu["serial"])
    compute = np.ceil(sessions / workers_big) * per / max(e_warm, 1e-9)
    print(f"projection, {sessions} such sessions on {workers_big} workers: "
          f"{np.ceil(sessions / workers_big):.0f} files per worker x {per:.2f} s "
          f"({cpu_file:.2f} s CPU) / efficiency {e_warm:.2f} = {compute:.0f} s of compute, "
          f"+ the cluster's start; reading {sessions * total_mb / len(files) / 1e3:.0f} GB "
          f"in that time takes {sessions * total_mb / len(files) / compute / 1e3:.1f} GB/s "
          f"from shared storage (this disk: {total_mb / floor / 1e3:.2f} GB/s)")


if __name__ == "__main__":
    main()
