"""Re-export of :mod:`libsiff.testing` (the simulator's old home)."""

from .testing import (
    GroundTruth,
    SimulationSpec,
    frame_table,
    motion_shifts,
    sample_images,
    simulate,
    simulate_histogram,
)

__all__ = ["SimulationSpec", "GroundTruth", "simulate", "simulate_histogram",
           "sample_images", "motion_shifts", "frame_table"]
