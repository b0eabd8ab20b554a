"""Peri-event averages: each ROI's mean ± standard error around every occurrence of an event.

Qt-free. Events are the acquisition's appended texts ``(frame, text[, timestamp])``; an
occurrence happens at the experiment time of its frame (where the viewer draws its marker).
Each occurrence is aligned on the timepoint nearest to it; the window holds the timepoints
``before_s`` before to ``after_s`` after it, at the recording's median timepoint interval.
Occurrences whose window runs past either end of the recording are left out (and counted).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from libsiff.atomic import atomic_open


@dataclass
class PeriEvent:
    """Aligned responses of R ROIs over the L samples of a window around one event label.

    ``mean``, ``se`` and ``n`` are ``(R, L)``: the mean, the standard error of the mean
    (sample SD / sqrt(n), NaN with fewer than 2 values) and the number of finite values per
    sample; ``rel_time_s`` is ``(L,)`` seconds from the event; ``event_times_s`` the times of
    the occurrences used; ``left_out`` how many occurrences had no complete window."""

    label: str
    rel_time_s: np.ndarray
    mean: np.ndarray
    se: np.ndarray
    n: np.ndarray
    event_times_s: np.ndarray
    left_out: int
    names: list[str]
    units: str = ""


def event_labels(events) -> list[str]:
    """The distinct event texts of ``events`` (``(frame, text, ...)`` tuples), in order."""
    return list(dict.fromkeys(str(e[1]) for e in events))


def event_times(events, frame_times: np.ndarray, label: str) -> np.ndarray:
    """Experiment times (s) of the occurrences of ``label`` (the times of their frames)."""
    frame_times = np.asarray(frame_times, np.float64)
    frames = [int(e[0]) for e in events if str(e[1]) == label and 0 <= int(e[0]) < len(frame_times)]
    return frame_times[np.asarray(frames, np.int64)] if frames else np.zeros(0)


def timepoint_interval(time_s: np.ndarray) -> float:
    """Median interval (s) between consecutive timepoints (1 s for fewer than two)."""
    t = np.asarray(time_s, np.float64)
    steps = np.diff(t[np.isfinite(t)])
    return float(np.median(steps)) if len(steps) and np.median(steps) > 0 else 1.0


def peri_event_average(values: np.ndarray, time_s: np.ndarray, times: np.ndarray,
                       before_s: float, after_s: float, label: str = "",
                       names: list[str] | None = None, units: str = "") -> PeriEvent:
    """Mean ± SE of each row of ``values`` ``(R, T)`` around the event ``times`` (s).

    ``time_s`` is the ``(T,)`` time of each timepoint (NaN where missing). NaN values (a
    lifetime without photons) are left out of that sample's mean."""
    values = np.atleast_2d(np.asarray(values, np.float64))
    time_s = np.asarray(time_s, np.float64)
    if before_s < 0 or after_s < 0:
        raise ValueError(f"the window must not be negative (before {before_s} s, after {after_s} s)")
    if values.shape[1] != len(time_s):
        raise ValueError(f"{values.shape[1]} timepoints of values but {len(time_s)} times")
    R, T = values.shape
    dt = timepoint_interval(time_s)
    nb, na = int(round(before_s / dt)), int(round(after_s / dt))
    offsets = np.arange(-nb, na + 1)
    known = np.flatnonzero(np.isfinite(time_s))
    starts = []
    for te in np.asarray(times, np.float64):
        if not len(known) or not np.isfinite(te):
            continue
        i0 = int(known[np.argmin(np.abs(time_s[known] - te))])
        if i0 - nb >= 0 and i0 + na < T:
            starts.append(i0)
    used = np.asarray(starts, np.int64)
    segments = values[:, used[:, None] + offsets[None, :]] if len(used) else np.zeros((R, 0, len(offsets)))
    finite = np.isfinite(segments)
    n = finite.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = np.where(finite, segments, 0.0).sum(axis=1)
        mean = np.where(n > 0, total / np.maximum(n, 1), np.nan)
        dev = np.where(finite, segments - mean[:, None, :], 0.0)
        sd = np.sqrt((dev ** 2).sum(axis=1) / (n - 1))
        se = np.where(n > 1, sd / np.sqrt(np.maximum(n, 1)), np.nan)
    return PeriEvent(label, offsets * dt, mean, se, n, time_s[used] if len(used) else np.zeros(0),
                     len(times) - len(used),
                     list(names) if names is not None else [f"ROI {i}" for i in range(R)], units)


def write_peri_event_csv(path: str | Path, result: PeriEvent) -> Path:
    """Write ``result`` as a tidy CSV (one row per ROI and sample), atomically."""
    path = Path(path)
    unit = f" ({result.units})" if result.units else ""
    with atomic_open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["event", "roi", "time_from_event_s", f"mean{unit}", f"se{unit}", "n"])
        for r, name in enumerate(result.names):
            for k, t in enumerate(result.rel_time_s):
                w.writerow([result.label, name, f"{t:.6g}", repr(float(result.mean[r, k])),
                            repr(float(result.se[r, k])), int(result.n[r, k])])
    return path
