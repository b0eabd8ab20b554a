"""Bad arguments anywhere in libsiff are SiffArgumentErrors (one error mapping,
libsiff/errors.py): still ValueErrors for code written against the builtins, never
OSErrors, and distinct from the format errors of a file."""

import numpy as np
import pytest

from libsiff import SiffArgumentError, SiffFormatError, SiffReader
from libsiff.atomic import atomic_open
from libsiff.constants import bin_width_ps_from_bin_resolution
from libsiff.flim import Calibration, FLIMParams, fit_params_to_data
from libsiff.flim.background import BackgroundSettings, neuropil_mask
from libsiff.registration import register_frames
from libsiff.writer import SiffWriter
from siffviewer.resources import sample_path


def _write_empty_frame(path):
    with SiffWriter(path, "", "{}") as writer:
        writer.add_frame([0], [0], [0], (0, 4))


def _bad_calls(tmp_path):
    with SiffReader(sample_path()) as sr:
        io, grid, ip = sr.siffio, sr.frame_grid(), sr.im_params
        yield "bin resolution", lambda: bin_width_ps_from_bin_resolution(63)
        yield "atomic mode", lambda: atomic_open(tmp_path / "x", "a").__enter__()
        yield "writer shape", lambda: _write_empty_frame(tmp_path / "w.siff")
        yield "calibration", lambda: Calibration(period_bins=-1.0, bin_width_ps=20.0)
        yield "FLIMParams", lambda: FLIMParams()
        yield "fit", lambda: fit_params_to_data(np.array([1.0, 2.0]))
        yield "neuropil", lambda: BackgroundSettings(neuropil=True, width_px=0)
        yield "neuropil mask", lambda: neuropil_mask(np.zeros((2, 2, 2, 2), bool))
        yield "registration method", lambda: register_frames(io, grid, method="nope")
        yield "frame list", lambda: ip.flatten_by_timepoints(timepoint_start=-1)
        yield "reference time", lambda: sr.get_time(reference_time="lunar")


def test_bad_arguments_are_siff_argument_errors(tmp_path):
    for what, call in _bad_calls(tmp_path):
        with pytest.raises(SiffArgumentError) as err:
            call()
        assert isinstance(err.value, ValueError), what
        assert not isinstance(err.value, (OSError, SiffFormatError)), what
