"""Registration with its per-timepoint maps spilled to disk (bounded memory).

Truth: the simulator's shifts. The spill threshold and the chunk size are lowered so
that a small acquisition takes the on-disk path with many chunk boundaries; the result
must be as accurate as in memory (see test_registration.py for the gauge convention).
"""

from __future__ import annotations

import numpy as np

import libsiff
from libsiff.registration import frame_grid_from_labels, register_frames, spill
from libsiff.simulate import SimulationSpec, simulate


def test_spilled_registration_is_accurate(tmp_path, monkeypatch):
    path = tmp_path / "jumps.siff"
    truth = simulate(path, SimulationSpec(
        height=64, width=64, slices=3, flyback_planes=1, colors=2, timepoints=160,
        photons_per_pixel=1.0, background=0.02, motion="jumps", max_shift_px=6,
        keep_photons=False, seed=8))
    grid = frame_grid_from_labels(truth.timepoint, truth.plane, truth.color)
    monkeypatch.setattr(spill, "IN_MEMORY_BYTES", 0)
    monkeypatch.setattr(spill, "CHUNK_BYTES", 16 << 10)  # a few timepoints per chunk
    spilled = []
    original = spill.RowStore.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        spilled.append(self.spilled)

    monkeypatch.setattr(spill.RowStore, "__init__", spy)
    with libsiff.open_file(path) as io:
        info = register_frames(io, grid, 0)
    assert spilled and all(spilled)
    size = np.array([64, 64])
    diff = (info.shifts - truth.shifts[grid[:, :, 0]] + size // 2) % size - size // 2
    offset = np.round(np.median(diff.reshape(-1, 2), axis=0))
    err = np.hypot(*np.moveaxis(diff - offset, -1, 0))
    assert np.sqrt(np.mean(err ** 2)) == 0.0
    assert not list(tmp_path.glob("libsiff-registration-*"))


def test_row_store_round_trip_on_disk(monkeypatch):
    """Rows written in any order, with parts, read back in chunks (numpy as truth)."""
    monkeypatch.setattr(spill, "CHUNK_BYTES", 3 * 2 * 5 * 4)
    rng = np.random.default_rng(0)
    expected = np.zeros((11, 2, 5), np.float32)
    with spill.RowStore(11, (2, 5), in_memory_bytes=0) as store:
        assert store.spilled
        rows = rng.permutation(11)[:7]
        values = rng.random((7, 5), dtype=np.float32)
        store.write(rows, values, part=1)
        expected[rows, 1] = values
        store.write_block(2, np.full((3, 2, 5), 7, np.float32))
        expected[2:5] = 7
        chunks = list(store.chunks(reverse=True))
        got = np.concatenate([store.read(t0, t1) for t0, t1 in reversed(chunks)])
    assert chunks[0][1] == 11 and chunks[-1][0] == 0 and all(t1 - t0 <= 3 for t0, t1 in chunks)
    np.testing.assert_array_equal(got, expected)
