"""Damaged input at every open/load: ``siff`` prints one line naming the file and exits
non-zero for every subcommand; the viewer shows the error and keeps what it had."""

import shutil

import numpy as np
import pytest

from siffviewer.cli import main
from siffviewer.model.masks import polygon_mask
from siffviewer.model.session_file import session_path_for
from siffviewer.resources import sample_path
from windows import make_window


@pytest.fixture
def damaged(tmp_path):
    """A copy of the sample cut inside its header, and a masks file that is not a .npz."""
    acq = tmp_path / "cut.siff"
    acq.write_bytes(sample_path().read_bytes()[:3000])
    masks = tmp_path / "bad.npz"
    masks.write_bytes(b"\x00garbage")
    return acq, masks


@pytest.mark.parametrize("command", ["info", "to-tiff", "session", "export-traces", "export-nwb",
                                     "convert-masks", "batch"])
def test_every_subcommand_reports_a_damaged_file_in_one_line(capsys, tmp_path, damaged, command):
    acq, masks = damaged
    out = tmp_path / "out"
    argv = {"info": ["info", acq], "to-tiff": ["to-tiff", acq, "--out", out.with_suffix(".tiff")],
            "session": ["session", acq],
            "export-traces": ["export-traces", acq, "--masks", masks, "--out", out.with_suffix(".csv")],
            "export-nwb": ["export-nwb", acq, "--masks", masks, "--out", out.with_suffix(".nwb")],
            "convert-masks": ["convert-masks", masks, out.with_suffix(".zip")],
            "batch": ["-q", "batch", acq, "--out", out]}[command]
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    named = masks.name if command == "convert-masks" else acq.name
    assert code != 0 and "Traceback" not in captured.err
    lines = [line for line in captured.err.splitlines() if line.startswith("siff:")]
    assert lines and named in lines[0]
    if command != "batch":  # batch adds its summary line to stdout
        assert captured.err.count("\n") == 1 and lines[0].startswith("siff: error: ")
    assert not list(tmp_path.glob("out*.tiff")) and not list(tmp_path.glob("out*.nwb"))



def test_masks_that_cannot_be_read_are_reported_and_rois_kept(qtbot, tmp_path):
    acq = tmp_path / "sample.siff"
    shutil.copy(sample_path(), acq)
    w = make_window(qtbot, tmp_path, acq)
    roi = w.masks.add_roi("kept")
    w.masks.apply_region(roi.roi_id, 0, polygon_mask(roi.mask.shape[1:], [(5, 5), (30, 5), (30, 30)]))
    before = w.masks.stack().copy()
    folder = tmp_path / "a_folder.npz"
    folder.mkdir()
    for path in (tmp_path / "missing.npz", folder):
        assert not w.load_masks(path)
        assert path.name in w.errors[-1]
        np.testing.assert_array_equal(w.masks.stack(), before)


def test_unreadable_session_file_opens_the_acquisition_without_it(qtbot, tmp_path):
    """A session path that cannot be read (here a folder) is reported; the acquisition still
    opens, with no ROIs, and the window works."""
    acq = tmp_path / "sample.siff"
    shutil.copy(sample_path(), acq)
    session_path_for(acq).mkdir()
    w = make_window(qtbot, tmp_path, acq)
    assert w.session is not None and w.masks is not None and not w.masks.rois
    w.state.update(timepoint=1)
    assert w.frame_view.image_item.image is not None


def test_damaged_acquisition_keeps_the_open_one(qtbot, tmp_path, damaged):
    acq = tmp_path / "sample.siff"
    shutil.copy(sample_path(), acq)
    w = make_window(qtbot, tmp_path, acq)
    assert not w.open_path(damaged[0])
    assert damaged[0].name in w.errors[-1] and w.session.path == acq
