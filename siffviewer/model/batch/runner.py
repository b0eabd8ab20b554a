"""Run a batch: one task per acquisition on a Dask cluster (or in this process).

The client only plans (names, registration settings), hands out :class:`FileJob` s and
collects :class:`FileOutcome` s; the workers open the files, so on a cluster every worker
must see the acquisitions and the output folder under the same paths."""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from libsiff import SiffCancelled

from ..export import TraceExportOptions
from .inputs import find_acquisitions, output_names
from .summary import write_summary
from .task import FileJob, FileOutcome, process_file, registration_settings

ProgressCallback = Callable[[int, int, FileOutcome], None]
CancelCallback = Callable[[], bool]
_POLL_S = 0.2  # how often the client looks at cancel() while no file ends
_CANCEL_WAIT_S = 60.0  # how long a cancelled batch waits for its running files to stop


@dataclass
class BatchResult:
    """Outcomes in the order of the acquisitions, the summary's path and the wall time."""

    outcomes: list[FileOutcome]
    summary: Path
    seconds: float

    @property
    def failed(self) -> list[FileOutcome]:
        """The files that failed or were cancelled."""
        return [o for o in self.outcomes if not o.ok]


def plan_jobs(paths: Iterable[str | os.PathLike], out_dir: str | os.PathLike,
              options: TraceExportOptions | None = None, register: bool | dict = False,
              force: bool = False, cancel_event: str | None = None, nwb: bool = False,
              subject: dict | None = None) -> list[FileJob]:
    """One FileJob per acquisition found in ``paths`` (files, or folders of ``.siff``);
    with ``nwb`` each also writes an NWB file (with ``subject``).

    Raises FileNotFoundError for a missing path or input file, ValueError when ``paths``
    hold no acquisition."""
    options = options if options is not None else TraceExportOptions()
    for what, value in (("masks file", options.masks), ("FLIM parameters file",
                                                        options.flim_params),
                        ("template acquisition", options.template)):
        if value is not None and not Path(value).is_file():
            raise FileNotFoundError(2, f"no such {what}", str(value))
    sources = find_acquisitions(paths)
    if not sources:
        raise ValueError("no acquisitions to process (folders are searched for .siff files)")
    out_dir = Path(out_dir).absolute()  # workers may run in another folder
    out_dir.mkdir(parents=True, exist_ok=True)
    reg = (dict(register) if isinstance(register, dict) else
           registration_settings(options.template, options.channel) if register else None)
    return [FileJob(str(src.absolute()), str(out_dir), name, options, reg, force, cancel_event,
                    nwb, subject)
            for src, name in zip(sources, output_names(sources), strict=True)]


def run_batch(paths: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
              options: TraceExportOptions | None = None, *, register: bool | dict = False,
              force: bool = False, workers: int | None = None, scheduler: str | None = None,
              threads: int = 1, progress: ProgressCallback | None = None,
              cancel: CancelCallback | None = None, nwb: bool = False,
              subject: dict | None = None) -> BatchResult:
    """Export the traces of every acquisition in ``paths`` to ``out_dir``, plus summary.csv.

    Parameters
    ----------
    paths : files, or folders whose ``.siff`` files are taken (not recursively)
    out_dir : folder of the outputs (created when missing)
    options : the analysis, as for ``siff export-traces`` (None: the defaults)
    register : register each file first: True with the template's registration settings
        (the defaults without a template), or with the settings given (a dict as
        ``registration_settings`` returns)
    force : redo files whose outputs are current (by default they are skipped)
    workers : processes of a local Dask cluster (default: the number of cores divided by
        ``threads``); 0 runs the files in this process, without Dask: one after the other,
        or ``threads`` at a time
    scheduler : address of a running Dask scheduler to use instead of a local cluster
    threads : threads of each local worker process (or of this process with ``workers=0``),
        each running one file (libsiff's C calls release the GIL); 1 by default
    progress : ``progress(done, total, outcome)`` after each file, in the calling thread
    cancel : polled while files run; when it returns True, files not started are dropped,
        running ones are told to stop, the summary is written and SiffCancelled is raised
    nwb : also write each file's traces as NWB (``<output stem>.nwb``) with ``subject``
        (keyword arguments of ``pynwb.file.Subject``; None: the defaults)

    Returns
    -------
    BatchResult; a file that fails is reported in it (and in the summary), not raised.
    """
    start = time.perf_counter()
    event_name = f"siff-batch-cancel-{uuid.uuid4().hex}" if workers != 0 or scheduler else None
    jobs = plan_jobs(paths, out_dir, options, register, force, event_name, nwb, subject)
    outcomes: list[FileOutcome | None] = [None] * len(jobs)
    count = [0]

    def finished(i: int, outcome: FileOutcome) -> None:
        outcomes[i] = outcome
        count[0] += 1
        if progress is not None:
            progress(count[0], len(jobs), outcome)

    cancelled = False
    if workers == 0 and scheduler is None and threads <= 1:
        for i, job in enumerate(jobs):
            if cancel is not None and cancel():
                cancelled = True
                break
            outcome = process_file(job, cancel)
            finished(i, outcome)
            cancelled = outcome.status == "cancelled"
            if cancelled:
                break
    elif workers == 0 and scheduler is None:
        cancelled = _run_on_threads(jobs, finished, cancel, threads)
    else:
        cancelled = _run_on_dask(jobs, finished, cancel, workers, scheduler, event_name,
                                 threads)
    final = [o if o is not None else FileOutcome(j.source, str(Path(j.out_dir) / j.output_name),
                                                 "cancelled")
             for o, j in zip(outcomes, jobs, strict=True)]
    summary = write_summary(out_dir, final)
    if cancelled and any(o.status == "cancelled" for o in final):
        raise SiffCancelled(f"batch cancelled; {sum(o.ok for o in final)} of {len(final)} "
                            f"files finished (see {summary})")
    return BatchResult(final, summary, time.perf_counter() - start)


#: Dask settings of a local cluster (scheduler, nannies and workers).
#: - Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also turns off
#:   glibc's adaptive mmap threshold: every buffer above 128 KiB is then a fresh mmap whose
#:   pages fault in again for each chunk of a file (measured: 12x the page faults and 2x
#:   the system time of the same tasks run in one process). The tasks bound their own
#:   memory, so the workers keep glibc's defaults.
#: - Event-loop ticks every 20 ms, memory checks every 100 ms and system/cluster monitors
#:   for dashboards nobody sees cost an idle 2-worker cluster 0.15 s of CPU per second
#:   (7 % of a 2-core machine, taken from the tasks); these periods make it 0.02 s.
#: - No statistical profiler (its 10 ms sampling thread costs time on a busy machine).
LOCAL_CLUSTER_CONFIG = {"distributed.worker.profile.enabled": False,
                        "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                        "distributed.admin.tick.interval": "1s",
                        "distributed.worker.memory.monitor-interval": "1s",
                        "distributed.admin.system-monitor.interval": "5s",
                        "distributed.deploy.cluster-repr-interval": "5s"}


def local_cluster(workers: int, threads: int = 1):
    """A LocalCluster of ``workers`` processes with ``threads`` threads each (and one libsiff
    C thread per thread), quiet, no dashboard, with :data:`LOCAL_CLUSTER_CONFIG`, the HTTP
    endpoint on a free local port so several batches can run side by side. The workers
    ignore Ctrl-C: the client stops them cleanly instead."""
    import dask
    from distributed import LocalCluster

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
    try:  # processes started now inherit the ignored SIGINT (and this config)
        with dask.config.set(LOCAL_CLUSTER_CONFIG):
            return LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True,
                                host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                scheduler_kwargs={"dashboard": False},
                                silence_logs=logging.ERROR,
                                env={"LIBSIFF_NUM_THREADS": "1"})  # one core per worker
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)


def _run_on_dask(jobs: list[FileJob], finished, cancel, workers, scheduler,
                 event_name: str, threads: int = 1) -> bool:
    """Submit one task per job and report each as it ends; True when cancelled."""
    from distributed import Client, Event, wait

    if scheduler is not None:
        cluster, client = None, Client(scheduler, timeout="20s")
    else:
        threads = max(1, int(threads))
        cluster = local_cluster(workers or max(1, (os.cpu_count() or 1) // threads), threads)
        client = Client(cluster)
    try:
        run = uuid.uuid4().hex[:8]
        ended: queue.SimpleQueue[int] = queue.SimpleQueue()  # filled from Dask's threads
        futures = []
        for i, job in enumerate(jobs):
            future = client.submit(process_file, job, key=f"siff-batch-{run}-{i}", pure=False)
            future.add_done_callback(lambda _f, i=i: ended.put(i))
            futures.append(future)
        remaining = set(range(len(jobs)))
        while remaining:
            if cancel is not None and cancel():
                # created only now: the tasks ask for it by name, an unknown Event is unset
                event = Event(event_name, client=client)
                event.set()
                pending = [futures[i] for i in sorted(remaining)]
                try:  # files not started return at once, running ones at their next check
                    wait(pending, timeout=_CANCEL_WAIT_S)
                except TimeoutError:
                    client.cancel(pending)  # e.g. workers lost: give up on them
                event.clear()  # the scheduler forgets a cleared Event
                for i in sorted(remaining):
                    if futures[i].status in ("finished", "error"):
                        finished(i, _outcome(futures[i], jobs[i]))
                return True
            try:  # wakes as soon as a file ends; the timeout only paces the cancel checks
                i = ended.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if i in remaining:
                remaining.discard(i)
                finished(i, _outcome(futures[i], jobs[i]))
        return False
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _run_on_threads(jobs: list[FileJob], finished, cancel, threads: int) -> bool:
    """Run the jobs on ``threads`` threads of this process (no cluster to start: for a few
    files on one machine); True when cancelled. Files not started when ``cancel()`` turns
    True are dropped, running ones stop at their next check."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    stop = threading.Event()

    def check() -> bool:
        if not stop.is_set() and cancel is not None and cancel():
            stop.set()
        return stop.is_set()

    def run(job: FileJob) -> FileOutcome:
        if stop.is_set():
            return FileOutcome(job.source, str(Path(job.out_dir) / job.output_name),
                               "cancelled")
        return process_file(job, stop.is_set)

    check()
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="siff-batch") as pool:
        index = {pool.submit(run, job): i for i, job in enumerate(jobs)}
        pending = set(index)
        while pending:
            done, pending = wait(pending, timeout=_POLL_S, return_when=FIRST_COMPLETED)
            check()  # in the calling thread, as cancel() is polled by every other mode
            for future in done:
                finished(index[future], future.result())
    return stop.is_set()


def _outcome(future, job: FileJob) -> FileOutcome:
    """The task's outcome, or a failure when the task itself died (e.g. its worker)."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - reported per file
        return FileOutcome(job.source, str(Path(job.out_dir) / job.output_name), "failed",
                           error=f"the task failed: {type(exc).__name__}: {exc}")
