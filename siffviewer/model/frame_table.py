"""The frame table of an acquisition: file frame, timepoint, plane, channel, time, epoch and
event text of every file frame, read block by block (files have 100,000+ frames). Qt-free.

Positions come from ImParams' frame table; times from the reader's experiment timestamps;
the epoch (laser clock, ns since 1970) is read only for the rows asked for.
"""

from __future__ import annotations

import numpy as np

COLUMNS = ("file frame", "timepoint", "plane", "channel", "time (s)", "epoch (ns)", "event")


class FrameTable:
    """Rows of the frame table of a Session; ``rows(start, stop)`` reads only those frames.

    ``plane`` is ``"flyback"`` for flyback frames; ``timepoint`` is the acquisition's
    timepoint (one past the complete ones for an incomplete final volume); ``channel`` is the
    0-based colour position."""

    def __init__(self, session) -> None:
        self.session = session
        self.table = session.im_params.frame_table()
        self.n_rows = min(len(self.table.timepoint), session.io.num_frames())
        self.events: dict[int, str] = {}
        for event in session.events():
            frame = int(event[0])
            self.events[frame] = "; ".join(filter(None, (self.events.get(frame), str(event[1]))))

    def rows(self, start: int, stop: int) -> list[tuple]:
        """The rows of file frames ``start`` to ``stop - 1`` (clamped to the file)."""
        start, stop = max(0, start), min(self.n_rows, stop)
        if stop <= start:
            return []
        frames = np.arange(start, stop)
        t = self.table
        times = self.session.times()[start:stop]
        epochs = self.session.io.get_epoch_timestamps_laser(frames.tolist())
        return [(int(f), int(t.timepoint[f]), "flyback" if t.is_flyback[f] else int(t.slice[f]),
                 int(t.color[f]), float(times[i]), int(epochs[i]), self.events.get(int(f), ""))
                for i, f in enumerate(frames)]
