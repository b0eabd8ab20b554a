"""The Qt-free ROI model: drawing primitives, undo/redo depth and grouping, files."""

import json

import numpy as np
import pytest

from siffviewer.model.masks import (
    UNDO_DEPTH,
    MaskFileError,
    MaskSet,
    disk,
    ellipse_mask,
    polygon_mask,
    read_masks,
    rectangle_mask,
)

SHAPE = (3, 40, 50)


def test_primitives_match_geometry():
    tri = polygon_mask((40, 50), [(0, 0), (50, 0), (0, 40)])  # right triangle, legs 50 and 40
    yy, xx = np.mgrid[0:40, 0:50]
    expected = (xx + 0.5) / 50 + (yy + 0.5) / 40 < 1  # centres strictly inside
    assert (tri != expected).sum() <= 2  # only centres exactly on the edge may differ
    rect = rectangle_mask((40, 50), 10, 5, 20, 15)
    assert rect.sum() == 10 * 10 and rect[5:15, 10:20].all()
    ell = ellipse_mask((40, 50), 5, 5, 45, 35)  # semi-axes 20 and 15
    assert abs(ell.sum() - np.pi * 20 * 15) / (np.pi * 20 * 15) < 0.03
    assert disk(3).sum() == 29  # lattice points within radius 3


def test_brush_stroke_is_one_undo_step_and_survives_plane_changes():
    m = MaskSet(SHAPE)
    roi = m.add_roi("a")
    m.begin_stroke()
    for col in range(5, 30, 2):
        m.dab(roi.roi_id, 1, 20, col, 2)
    m.end_stroke()
    painted = roi.mask[1].copy()
    assert painted.sum() > 50 and not roi.mask[0].any()
    m.dab(roi.roi_id, 2, 10, 10, 3)  # another plane, another step
    m.dab(roi.roi_id, 1, 20, 10, 2, erase=True)
    assert m.undo() and np.array_equal(roi.mask[1], painted)
    assert m.undo() and not roi.mask[2].any()
    assert m.undo() and not roi.mask.any()  # the whole stroke at once
    assert m.redo() and np.array_equal(roi.mask[1], painted)
    assert m.redo() and roi.mask[2].any()


def test_all_planes_roi_edits_every_plane():
    m = MaskSet(SHAPE)
    roi = m.add_roi("all", all_planes=True)
    m.apply_region(roi.roi_id, 0, rectangle_mask(SHAPE[1:], 0, 0, 10, 10))
    assert all(roi.mask[z, :10, :10].all() for z in range(3))
    assert roi.planes == [0, 1, 2]


def test_undo_depth_at_least_fifty():
    m = MaskSet(SHAPE)
    roi = m.add_roi("a")
    for k in range(60):
        m.dab(roi.roi_id, k % 3, 5 + (k % 30), 5 + k % 40, 1)
    undone = 0
    while m.undo():
        undone += 1
    assert UNDO_DEPTH >= 50
    assert undone == 61 and not m.rois  # 60 dabs and the ROI's creation, all undone
    assert sum(m.redo() for _ in range(61)) == 61 and roi.mask.sum() > 0


def test_structure_changes_undo():
    m = MaskSet(SHAPE)
    a, b = m.add_roi("a"), m.add_roi("b")
    m.set_property(a.roi_id, "name", "soma")
    m.set_property(b.roi_id, "visible", False)
    m.remove_roi(a.roi_id)
    assert [r.name for r in m.rois] == ["b"]
    m.undo()
    assert [r.name for r in m.rois] == ["soma", "b"]
    m.undo()
    assert m.get(b.roi_id).visible
    m.undo()
    assert m.get(a.roi_id).name == "a"


def test_move_fill_threshold():
    m = MaskSet(SHAPE)
    roi = m.add_roi("a")
    ring = ellipse_mask(SHAPE[1:], 10, 10, 30, 30) & ~ellipse_mask(SHAPE[1:], 15, 15, 25, 25)
    m.apply_region(roi.roi_id, 0, ring)
    m.fill_holes(roi.roi_id, 0)
    assert np.array_equal(roi.mask[0], ellipse_mask(SHAPE[1:], 10, 10, 30, 30) | ring)
    before = roi.mask[0].copy()
    m.move(roi.roi_id, 3, -2)
    assert np.array_equal(roi.mask[0][3:, :-2], before[:-3, 2:])
    image = np.zeros(SHAPE[1:])
    image[30:35, 40:45] = 5
    image[2:4, 2:4] = 5
    m.threshold_region(roi.roi_id, 1, image, 3, seed=(32, 42))
    assert roi.mask[1].sum() == 25 and not roi.mask[1][2:4, 2:4].any()


def test_save_load_round_trip_and_corrupt_files(tmp_path):
    m = MaskSet(SHAPE)
    a = m.add_roi("soma", color=(1, 2, 3))
    m.apply_region(a.roi_id, 2, rectangle_mask(SHAPE[1:], 1, 1, 9, 9))
    m.add_roi("np", all_planes=True)
    path = m.save(tmp_path / "x.siffmasks.npz", source="acq.siff")
    other = MaskSet(SHAPE)
    other.load(path)
    assert [r.name for r in other.rois] == ["soma", "np"]
    assert other.rois[0].color == (1, 2, 3) and other.rois[1].all_planes
    assert np.array_equal(other.stack(), m.stack())
    assert other.undo() and other.rois == []  # loading is undoable
    bad = tmp_path / "bad.siffmasks.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(MaskFileError, match="bad.siffmasks.npz: not a .npz archive"):
        read_masks(bad, SHAPE)
    with pytest.raises(MaskFileError, match="do not fit"):
        read_masks(path, (2, 40, 50))
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, masks=np.zeros((0, *SHAPE), bool), names=np.array([], str),
             colors=np.zeros((0, 3), np.uint8), all_planes=np.zeros(0, bool),
             visible=np.zeros(0, bool), meta=np.array(json.dumps({"format": "other"})))
    with pytest.raises(MaskFileError, match="not a siffviewer masks file"):
        read_masks(wrong, SHAPE)
    assert not list(tmp_path.glob("*.part"))


def test_every_masks_reader_raises_the_siff_error_family(tmp_path):
    """A bad masks file of any format (own npz, ImageJ zip, label TIFF, suite2p npy) ends as
    one class, a libsiff SiffFormatError naming the file, under both of its names."""
    from libsiff.errors import SiffFormatError
    from siffviewer.model.formats import MaskFormatError
    from siffviewer.model.masks import load_masks

    files = {"own.siffmasks.npz": b"not a zip file", "RoiSet.zip": b"PK\x03\x04 truncated",
             "labels.tif": b"II*\x00 truncated", "stat.npy": b"\x93NUMPY truncated"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(SiffFormatError, match=name.replace(".", r"\.")) as err:
            load_masks(tmp_path / name, SHAPE)
        assert isinstance(err.value, MaskFileError) and isinstance(err.value, MaskFormatError)
