"""Test support: a writer-side simulator of ScanImage-FLIM acquisitions with ground truth.

Not used by the reader. :func:`simulate` writes a ``.siff`` with :class:`~libsiff.SiffWriter`
and returns a :class:`GroundTruth` of everything a reader should find in it; the modules:

* :mod:`~libsiff.testing.simulate` -- the acquisition, header and file;
* :mod:`~libsiff.testing.sample` -- the structured sample and its motion;
* :mod:`~libsiff.testing.photons` -- photon arrival times.
"""

from .photons import simulate_histogram
from .sample import motion_shifts, sample_images
from .simulate import GroundTruth, SimulationSpec, frame_table, simulate

__all__ = ["SimulationSpec", "GroundTruth", "simulate", "simulate_histogram",
           "sample_images", "motion_shifts", "frame_table"]
