"""The session model's reads of an acquisition: a file without a complete timepoint is a
SiffFormatError naming it, and whether a file stores photon arrival times comes from one
helper (``SiffReader.has_photon_times``), checked against files whose truth is known."""

import warnings

import pytest

from libsiff import SiffFormatError, SiffIO, SiffReader, siff_to_tiff
from libsiff.testing import SimulationSpec, simulate
from libsiff.writer import SiffWriter
from siffviewer.model.session import Session

SMALL = dict(height=16, width=24, slices=3, colors=2, flyback_planes=0)


def test_file_without_a_complete_timepoint_is_a_format_error(tmp_path):
    full = tmp_path / "full.siff"
    simulate(full, SimulationSpec(timepoints=1, **SMALL))
    path = tmp_path / "short.tiff"
    with SiffIO(full) as io:  # the same header with 3 of the volume's 6 frames
        header = io.get_file_header()
        with SiffWriter(path, header["Non-varying frame data"], header["ROI string"]) as w:
            for frame, image in enumerate(io.get_frames([0, 1, 2])):
                w.add_tiff_frame(image, io.get_description(frame).encode())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(SiffFormatError, match="no complete timepoint") as err:
            Session(path)
    assert str(path) in str(err.value)


def test_photon_times_flag_follows_the_file(tmp_path):
    flim = tmp_path / "flim.siff"
    simulate(flim, SimulationSpec(timepoints=2, **SMALL))
    tiff = siff_to_tiff(flim, tmp_path / "intensity.tiff")  # intensity only, by definition
    for path, expected in [(flim, True), (tiff, False)]:
        with SiffReader(path) as sr:
            assert sr.has_photon_times is expected
        session = Session(path)
        try:
            assert session.has_flim is expected
        finally:
            session.close()
