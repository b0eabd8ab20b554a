"""``summary.csv``: one row per file of a batch, written atomically."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Iterable

from libsiff.atomic import atomic_open

from .task import FileOutcome

SUMMARY_NAME = "summary.csv"
COLUMNS = ("file", "output", "status", "frames", "timepoints", "rois", "roi_names",
           "mean_photons", "mean_lifetime_ns", "seconds", "cpu_seconds", "file_bytes",
           "error", "inputs_sha256", "worker")


def _num(value: float) -> str:
    return repr(float(value)) if math.isfinite(value) else ""


def summary_rows(outcomes: Iterable[FileOutcome]) -> list[list[str]]:
    """The summary's rows; per-ROI values are ``;``-separated in the order of ``roi_names``."""
    rows = []
    for o in outcomes:
        has = o.n_frames is not None
        rows.append([
            o.source, Path(o.output).name, o.status,
            o.n_frames if has else "", o.n_timepoints if has else "",
            len(o.roi_names) if has else "", ";".join(o.roi_names),
            ";".join(_num(v) for v in o.mean_photons),
            ";".join(_num(v) for v in o.mean_lifetime_ns),
            f"{o.seconds:.3f}", f"{o.cpu_seconds:.3f}", o.size_bytes,
            o.error.replace("\n", " "), o.inputs_sha256, o.worker])
    return rows


def write_summary(out_dir: str | Path, outcomes: Iterable[FileOutcome]) -> Path:
    """Write ``out_dir/summary.csv`` (temp file + fsync + rename) and return its path."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(summary_rows(outcomes))
    path = Path(out_dir) / SUMMARY_NAME
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text.getvalue())
    return path
