"""Peri-event averages against a hand computation and a plain numpy one."""

import csv

import numpy as np
import pytest

from siffviewer.model.peri_event import (
    event_labels,
    event_times,
    peri_event_average,
    write_peri_event_csv,
)


def test_hand_computed_two_occurrences_and_one_left_out():
    # 20 timepoints every 0.5 s; ROI 0 is 0, 1, 2, ...; ROI 1 is its square
    t = np.arange(20) * 0.5
    values = np.vstack([np.arange(20.0), np.arange(20.0) ** 2])
    # events at 2.0 s (timepoint 4), 6.1 s (nearest: timepoint 12) and 9.5 s (timepoint 19:
    # its 1 s after-window would run past the end, so it is left out)
    res = peri_event_average(values, t, np.array([2.0, 6.1, 9.5]), 1.0, 1.0, "odor", ["a", "b"])
    np.testing.assert_allclose(res.rel_time_s, [-1.0, -0.5, 0.0, 0.5, 1.0])
    # by hand: segments 2..6 and 10..14
    np.testing.assert_allclose(res.mean[0], [6, 7, 8, 9, 10])
    # SE of {k, k+8}: SD = 8 / sqrt(2), SE = SD / sqrt(2) = 4
    np.testing.assert_allclose(res.se[0], [4, 4, 4, 4, 4])
    # ROI 1: means of {4,100}, {9,121}, {16,144}, {25,169}, {36,196}; SE = |b - a| / 2
    np.testing.assert_allclose(res.mean[1], [52, 65, 80, 97, 116])
    np.testing.assert_allclose(res.se[1], [48, 56, 64, 72, 80])
    np.testing.assert_array_equal(res.n, 2)
    assert res.left_out == 1
    np.testing.assert_allclose(res.event_times_s, [2.0, 6.0])


def test_nan_values_are_left_out_of_their_sample():
    t = np.arange(10) * 1.0
    values = np.arange(10.0)[None, :].copy()
    values[0, 3] = np.nan  # in the first occurrence's window, at its event sample
    res = peri_event_average(values, t, np.array([3.0, 6.0]), 1.0, 1.0)
    np.testing.assert_allclose(res.mean[0], [3.5, 6.0, 5.5])  # {2,5}, {6}, {4,7}
    np.testing.assert_array_equal(res.n[0], [2, 1, 2])
    assert np.isnan(res.se[0, 1]) and res.se[0, 0] == pytest.approx(1.5)


def test_matches_numpy_on_random_traces():
    rng = np.random.default_rng(3)
    t = np.arange(500) * 0.1 + 0.05
    values = rng.normal(size=(4, 500))
    events = np.array([3.0, 11.02, 20.0, 33.3])
    res = peri_event_average(values, t, events, 0.5, 1.2)
    idx = np.array([np.argmin(np.abs(t - e)) for e in events])
    seg = np.stack([values[:, i - 5:i + 13] for i in idx], axis=1)  # (R, E, L)
    np.testing.assert_allclose(res.mean, seg.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(res.se, seg.std(axis=1, ddof=1) / 2.0, rtol=1e-12)


def test_events_labels_times_and_csv(tmp_path):
    events = [(4, "odor on", 1.0), (9, "odor off", 2.0), (14, "odor on", 3.0)]
    frame_times = np.arange(20) * 0.25
    assert event_labels(events) == ["odor on", "odor off"]
    np.testing.assert_allclose(event_times(events, frame_times, "odor on"), [1.0, 3.5])
    res = peri_event_average(np.arange(20.0)[None], frame_times, [1.0, 3.5], 0.25, 0.25,
                             "odor on", ["cell"], "photons")
    out = write_peri_event_csv(tmp_path / "pe.csv", res)
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["event", "roi", "time_from_event_s", "mean (photons)", "se (photons)", "n"]
    assert [float(r[3]) for r in rows[1:]] == [8.0, 9.0, 10.0]  # means of {3,13}, {4,14}, {5,15}
    assert [float(r[4]) for r in rows[1:]] == [5.0, 5.0, 5.0]
    assert not list(tmp_path.glob("*.part"))


def test_negative_window_is_an_error():
    with pytest.raises(ValueError, match="negative"):
        peri_event_average(np.zeros((1, 5)), np.arange(5.0), [2.0], -1.0, 1.0)
