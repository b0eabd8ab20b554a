"""The unit of work of a batch: one acquisition to its traces file (and NWB file with
``nwb``), run on a Dask worker.

:func:`process_file` never raises for a bad acquisition: a failure becomes a
:class:`FileOutcome` with its error message, so one corrupt file never stops the others.
Everything it needs comes in the :class:`FileJob` (workers read no client state)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from libsiff import SiffCancelled

from ..export import TraceExportOptions, export_opened_traces, open_for_export
from .provenance import current_manifest, input_record, record_hash, write_manifest

#: Registration parameters of the "siffpy" method that a template's saved registration
#: passes on to the files of a batch (its other saved options are diagnostics).
REGISTRATION_PARAMETERS = ("num_cycles", "tolerance", "max_shift", "rigid_volume",
                           "evidence_colors", "temporal", "step_sigma", "jump_probability",
                           "em_iterations", "reference_sigma", "subpixel_references",
                           "coarse_cycles", "batch_frames")


@dataclass(frozen=True)
class FileJob:
    """One file of a batch: where it is, where its output goes, how to analyse it."""

    source: str
    out_dir: str
    output_name: str
    options: TraceExportOptions
    registration: dict | None = None  # {"method", "alignment_color", "parameters"}
    force: bool = False
    cancel_event: str | None = None   # name of a distributed.Event set to cancel
    nwb: bool = False                 # also write <output stem>.nwb (siff batch --nwb)
    subject: dict | None = None       # the NWB's subject (None: the defaults)

    @property
    def nwb_name(self) -> str | None:
        """The NWB output's file name (beside the CSV), or None without ``nwb``."""
        return str(Path(self.output_name).with_suffix(".nwb")) if self.nwb else None


@dataclass
class FileOutcome:
    """What became of one file (a row of summary.csv)."""

    source: str
    output: str
    status: str                      # "done", "skipped" (up to date), "failed", "cancelled"
    n_frames: int | None = None
    n_timepoints: int | None = None
    roi_names: list[str] = field(default_factory=list)
    mean_photons: list[float] = field(default_factory=list)
    mean_lifetime_ns: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0         # CPU time of the thread that ran it
    size_bytes: int = 0
    error: str = ""
    inputs_sha256: str = ""
    worker: str = ""                 # the Dask worker that ran it ("" in this process)

    @property
    def ok(self) -> bool:
        """True when the output is there (written now, or up to date)."""
        return self.status in ("done", "skipped")


#: Registration methods a batch can repeat on other files.
BATCH_METHODS = ("siffpy", "suite2p")


def settings_from_info(info, channel: int | None) -> dict:
    """How ``--register`` registers each file like ``info`` (a RegistrationInfo: its
    method, alignment colour and parameters), or with the defaults (siffpy, the analysed
    channel) when ``info`` is None. ValueError for a method a batch cannot repeat."""
    if info is None:
        return {"method": "siffpy", "alignment_color": int(channel or 0), "parameters": {}}
    method = info.registration_type.value
    if method not in BATCH_METHODS:
        raise ValueError(f"a {method!r} registration cannot be repeated on other files: "
                         f"register the template with {' or '.join(BATCH_METHODS)}")
    params = ({k: v for k, v in info.options.items() if k in REGISTRATION_PARAMETERS}
              if method == "siffpy" else {})
    return {"method": method, "alignment_color": int(info.registration_color_channel),
            "parameters": params}


def registration_settings(template: str | Path | None, channel: int | None) -> dict:
    """:func:`settings_from_info` of the template's saved registration (the defaults
    without a template, or when it has none)."""
    from libsiff import SiffReader

    if template is None:
        return settings_from_info(None, channel)
    with SiffReader(template) as reader:
        return settings_from_info(reader.registration_or_none, channel)


class _EventCheck:
    """``cancel()`` of a task on a Dask worker: whether the batch's distributed Event is set.

    Each look is a round trip to the scheduler, so after the first (when the task starts)
    it looks at most once per ``interval`` seconds and answers from the last look between."""

    def __init__(self, name: str, interval: float = 1.0):
        self.name, self.interval = name, interval
        self._event = None
        self._set, self._next = False, 0.0

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self._set and now >= self._next:
            if self._event is None:
                from distributed import Event

                self._event = Event(self.name)
            self._set, self._next = bool(self._event.is_set()), now + self.interval
        return self._set


def _cancel_check(job: FileJob) -> Callable[[], bool] | None:
    return None if job.cancel_event is None else _EventCheck(job.cancel_event)


def process_file(job: FileJob, cancel: Callable[[], bool] | None = None) -> FileOutcome:
    """Register (when asked) and export the traces of one acquisition, unless its output is
    already current (same inputs, see :mod:`.provenance`) and ``job.force`` is off.

    The acquisition is opened once: the same Session, identity and session document make
    the resume record and the export (a registration run first opens it again after)."""
    start, cpu_start = time.perf_counter(), time.thread_time()
    out_dir = Path(job.out_dir)
    output = out_dir / job.output_name
    outcome = FileOutcome(job.source, str(output), "failed", worker=_worker_name())
    try:
        outcome.size_bytes = Path(job.source).stat().st_size
        with open_for_export(job.source, job.options) as opened:
            record = input_record(opened, job.options, job.registration, job.nwb, job.subject)
            outcome.inputs_sha256 = record_hash(record)
            if not job.force:
                manifest = current_manifest(out_dir, job.output_name, record,
                                            [job.nwb_name] if job.nwb else [])
                if manifest is not None:
                    return _from_result(outcome, "skipped", manifest["result"])
            if cancel is None:
                cancel = _cancel_check(job)
            if cancel is not None and cancel():
                raise SiffCancelled("batch cancelled before this file started")
            result = _export(job, opened, cancel) if job.registration is None else None
        if result is None:
            _register(job, cancel)
            with open_for_export(job.source, job.options) as opened:  # the new registration
                result = _export(job, opened, cancel)
        numbers = {"n_frames": int(result.n_frames), "n_timepoints": int(result.n_timepoints),
                   "roi_names": [str(n) for n in result.roi_names],
                   "mean_photons": [float(v) for v in result.mean_photons],
                   "mean_lifetime_ns": [float(v) for v in result.mean_lifetime_ns],
                   "seconds": time.perf_counter() - start,
                   "cpu_seconds": time.thread_time() - cpu_start}
        write_manifest(out_dir, job.output_name, record, Path(result.path), numbers,
                       result.provenance, [out_dir / job.nwb_name] if job.nwb else [])
        if not result.roi_names:
            outcome.error = "no ROI in the session (use --masks or --template)"
        outcome.output = str(result.path)
        return _from_result(outcome, "done", numbers)
    except SiffCancelled:
        outcome.status = "cancelled"
    except Exception as exc:  # noqa: BLE001 - any failure of one file is reported, not raised
        outcome.error = _message(exc)
    outcome.seconds = time.perf_counter() - start
    outcome.cpu_seconds = time.thread_time() - cpu_start
    return outcome


def _export(job: FileJob, opened, cancel):
    """The traces CSV (and with ``job.nwb`` the NWB file, from the same traces)."""
    output = Path(job.out_dir) / job.output_name
    if job.nwb:
        from ..formats.nwb import export_opened_nwb

        return export_opened_nwb(opened, Path(job.out_dir) / job.nwb_name, job.options,
                                 job.subject, cancel=cancel, csv_out=output)
    return export_opened_traces(opened, output, job.options, cancel=cancel)


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().name)
    except (ImportError, ValueError):  # not running in a Dask worker
        return ""


def _register(job: FileJob, cancel) -> None:
    from libsiff import SiffReader

    reg = job.registration
    with SiffReader(job.source) as reader:
        reader.register(registration_method=reg["method"],
                        alignment_color_channel=reg["alignment_color"], cancel=cancel,
                        **({"workers": 1} if reg["method"] == "siffpy" else {}),
                        **reg["parameters"])


def _from_result(outcome: FileOutcome, status: str, numbers: dict) -> FileOutcome:
    outcome.status = status
    outcome.n_frames, outcome.n_timepoints = numbers["n_frames"], numbers["n_timepoints"]
    outcome.roi_names = list(numbers["roi_names"])
    outcome.mean_photons = list(numbers["mean_photons"])
    outcome.mean_lifetime_ns = list(numbers["mean_lifetime_ns"])
    outcome.seconds = float(numbers["seconds"])
    outcome.cpu_seconds = float(numbers.get("cpu_seconds", 0.0))
    return outcome


def _message(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and getattr(exc, "filename", None) and exc.filename not in text:
        text = f"{exc.filename}: {text}"
    return text
