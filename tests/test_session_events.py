"""``Session.events()``: the one read of a file's appended-text events (traces, All ROIs and
the frame table use it), checked against the events the simulator wrote."""

from libsiff.testing.simulate import SimulationSpec, simulate
from siffviewer.model.frame_table import FrameTable
from siffviewer.model.session import Session


def test_events_are_the_simulated_ones_and_feed_the_frame_table(tmp_path):
    written = [(f, "stim") for f in (3, 9, 15)] + [(6, "reward")]
    spec = SimulationSpec(height=8, width=12, slices=1, flyback_planes=0, colors=1,
                          timepoints=20, motion="none", photons_per_pixel=1.0, seed=2,
                          events=written)
    path = tmp_path / "events.siff"
    simulate(path, spec)
    session = Session(path)
    try:
        events = session.events()
        assert sorted((int(e[0]), str(e[1])) for e in events) == sorted(written)
        assert session.events() is events  # read once
        assert FrameTable(session).events == {3: "stim", 6: "reward", 9: "stim", 15: "stim"}
    finally:
        session.close()
