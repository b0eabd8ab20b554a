"""Masks in and out of ImageJ, label TIFF, suite2p and siffviewer files (siffviewer.model.
formats). Truth comes from roifile/tifffile/numpy writing files the way other tools do,
from a point-in-polygon test on pixel centres written here (one pixel at a time), and
from the analytic ellipse."""

import numpy as np
import pytest
import roifile
import tifffile
from scipy import ndimage

from libsiff import SiffReader
from siffviewer.cli import main
from siffviewer.model.formats import MaskFormatError, read_masks_any, write_masks_any
from siffviewer.model.formats.imagej import masks_to_imagej
from siffviewer.resources import sample_path

SHAPE = (3, 40, 52)


def point_in_polygon(px, py, pts):
    """Crossing-number test of one point against a closed polygon [(x, y), ...]."""
    inside = False
    n = len(pts)
    for i in range(n):
        (x0, y0), (x1, y1) = pts[i], pts[(i + 1) % n]
        if (y0 > py) != (y1 > py) and px < x0 + (py - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


def centres_inside(points, hw):
    """Truth: pixels whose centres are inside the polygon, tested one by one."""
    H, W = hw
    pts = [tuple(map(float, p)) for p in points]
    return np.array([[point_in_polygon(x + 0.5, y + 0.5, pts) for x in range(W)]
                     for y in range(H)])


def centres_on_edges(points, hw):
    """Pixels whose centres lie exactly on an edge (the tie-break is a rasteriser's choice)."""
    H, W = hw
    yy, xx = np.mgrid[0:H, 0:W]
    c = np.c_[xx.ravel() + 0.5, yy.ravel() + 0.5]
    pts = np.asarray(points, float)
    on = np.zeros(len(c), bool)
    for a, b in zip(pts, np.roll(pts, -1, 0), strict=True):
        ab, ac = b - a, c - a
        t = np.clip(ac @ ab / (ab @ ab), 0, 1)
        on |= np.hypot(*(ac - t[:, None] * ab).T) < 1e-9
    return on.reshape(H, W)


def random_masks(rng, n=4, shape=SHAPE):
    masks = np.zeros((n, *shape), bool)
    for r in range(n):
        for z in range(shape[0]):
            if rng.random() < 0.7:
                blob = ndimage.binary_opening(rng.random(shape[1:]) < 0.45 + 0.1 * r)
                masks[r, z] = blob
    masks[0] = masks[0, 0]  # one ROI the same in every plane
    masks[0, :] = np.where(masks[0, 0].any(), masks[0, 0], True)
    return masks


def test_roiset_from_known_polygons_imports_as_fiji_fills(tmp_path):
    H, W = SHAPE[1:]
    tri = np.array([[3.2, 4.7], [30.6, 9.1], [12.3, 33.8]], np.float32)   # sub-pixel
    poly = np.array([[35, 5], [50, 8], [47, 30], [40, 20], [33, 28]], np.int32)  # concave
    rois = [roifile.ImagejRoi.frompoints(tri, name="tri", z=1),
            roifile.ImagejRoi.frompoints(poly, name="poly")]
    rect = roifile.ImagejRoi()
    rect.roitype, rect.name, rect.position = roifile.ROI_TYPE.RECT, "rect", 3
    rect.left, rect.top, rect.right, rect.bottom = 5, 30, 19, 37
    oval = roifile.ImagejRoi()
    oval.roitype, oval.name = roifile.ROI_TYPE.OVAL, "oval"
    oval.left, oval.top, oval.right, oval.bottom = 20, 14, 33, 39
    point = roifile.ImagejRoi.frompoints(np.array([[1, 1]]), name="pt")
    point.roitype = roifile.ROI_TYPE.POINT
    path = tmp_path / "RoiSet.zip"
    roifile.roiwrite(path, [*rois, rect, oval, point])

    with pytest.warns(UserWarning, match="pt"):
        masks, names = read_masks_any(path, SHAPE)
    assert names == ["tri", "poly", "rect", "oval"]
    truth = np.zeros((4, *SHAPE), bool)
    truth[0, 1] = centres_inside(tri, (H, W))                 # z position 2 (1-based)
    truth[1, :] = centres_inside(poly, (H, W))                # no position: every plane
    truth[2, 2, 30:37, 5:19] = True                           # stack position 3
    yy, xx = np.mgrid[0:H, 0:W] + 0.5  # box 20..33 x 14..39: centre (26.5, 26.5)
    truth[3, :] = ((xx - 26.5) / 6.5) ** 2 + ((yy - 26.5) / 12.5) ** 2 <= 1
    ties = np.zeros(SHAPE[1:], bool)
    for pts in (tri, poly):
        ties |= centres_on_edges(pts, (H, W))
    assert ties.sum() < 12
    np.testing.assert_array_equal(masks[:, :, ~ties], truth[:, :, ~ties])


def test_ties_follow_imagej_polygonfiller(tmp_path):
    # vertices on pixel centres: ImageJ's PolygonFiller takes rows whose centre y is in
    # [2.5, 5.5) and columns whose centre x is in (2.5, 6.5]
    square = np.array([[2.5, 2.5], [6.5, 2.5], [6.5, 5.5], [2.5, 5.5]], np.float32)
    roifile.roiwrite(tmp_path / "sq.roi", roifile.ImagejRoi.frompoints(square, name="sq"))
    masks, _ = read_masks_any(tmp_path / "sq.roi", SHAPE)
    truth = np.zeros(SHAPE[1:], bool)
    truth[2:5, 3:7] = True
    np.testing.assert_array_equal(masks[0, 0], truth)


@pytest.mark.parametrize("suffix", [".zip", ".npy", ".npz"])
def test_masks_round_trip_exactly(tmp_path, suffix):
    masks = random_masks(np.random.default_rng(7))
    names = ["all", "b", "c d", "e/f"]
    path = write_masks_any(tmp_path / f"masks{suffix}", masks, names)
    back, back_names = read_masks_any(path, SHAPE)
    assert back_names == names
    np.testing.assert_array_equal(back, masks)


def test_single_roi_file_round_trip(tmp_path):
    masks = np.zeros((1, *SHAPE), bool)
    masks[0, :, 5:20, 8:30] = True
    masks[0, :, 10:14, 12:16] = False  # a hole: a composite ROI
    path = write_masks_any(tmp_path / "one.roi", masks, ["holey"])
    back, names = read_masks_any(path, SHAPE)
    assert names == ["holey"]
    np.testing.assert_array_equal(back, masks)
    with pytest.raises(MaskFormatError, match="RoiSet"):
        write_masks_any(tmp_path / "two.roi", np.concatenate([masks, masks]), ["a", "b"])


def test_written_traced_rois_fill_back_with_an_independent_rasteriser(tmp_path):
    rng = np.random.default_rng(3)
    labels, n = ndimage.label(ndimage.binary_opening(rng.random(SHAPE[1:]) < 0.55,
                                                     iterations=1))
    written = 0
    for k in range(1, n + 1):
        blob = ndimage.binary_fill_holes(labels == k)
        roi, = masks_to_imagej(blob[None, None].repeat(SHAPE[0], 1), ["x"])
        if roi.composite:
            continue
        written += 1
        assert roi.roitype == roifile.ROI_TYPE.TRACED
        back = roifile.ImagejRoi.frombytes(roi.tobytes())
        np.testing.assert_array_equal(centres_inside(back.coordinates(), SHAPE[1:]), blob)
    assert written > 3


def test_label_tiff_from_tifffile_imports_exactly(tmp_path):
    rng = np.random.default_rng(5)
    flat = rng.integers(0, 6, SHAPE[1:]).astype(np.uint16)
    flat[flat == 3] = 0  # a missing label
    tifffile.imwrite(tmp_path / "flat.tif", flat)
    masks, names = read_masks_any(tmp_path / "flat.tif", SHAPE)
    assert names == ["ROI 1", "ROI 2", "ROI 4", "ROI 5"]
    for mask, k in zip(masks, (1, 2, 4, 5), strict=True):
        np.testing.assert_array_equal(mask, np.broadcast_to(flat == k, SHAPE))
    stack = rng.integers(0, 4, SHAPE).astype(np.int32)
    tifffile.imwrite(tmp_path / "stack.tif", stack, photometric="minisblack")
    masks, names = read_masks_any(tmp_path / "stack.tif", SHAPE)
    for mask, k in zip(masks, (1, 2, 3), strict=True):
        np.testing.assert_array_equal(mask, stack == k)
    with pytest.raises(MaskFormatError, match=r"\(3, 40, 52\).*\(2, 40, 52\)"):
        read_masks_any(tmp_path / "stack.tif", (2, 40, 52))


def test_label_tiff_round_trip_and_overlap_error(tmp_path):
    masks = np.zeros((3, *SHAPE), bool)
    masks[0, :, 2:10, 2:10] = True
    masks[1, 1, 20:30, 5:40] = True
    masks[2, 2, 12:18, 30:50] = True
    path = write_masks_any(tmp_path / "labels.tiff", masks, ["a", "b", "c"])
    assert tifffile.imread(path).shape == SHAPE
    back, names = read_masks_any(path, SHAPE)
    assert names == ["a", "b", "c"]
    np.testing.assert_array_equal(back, masks)
    masks[2, 1, 25, 10] = True
    with pytest.raises(MaskFormatError, match="'b', 'c' overlap"):
        write_masks_any(tmp_path / "bad.tif", masks, ["a", "b", "c"])


def test_suite2p_stat_with_iscell(tmp_path):
    H, W = SHAPE[1:]
    stat = []
    truth = []
    for i in range(3):
        y, x = np.nonzero(np.random.default_rng(i).random((H, W)) < 0.05)
        stat.append({"ypix": y, "xpix": x, "lam": np.ones(len(y), np.float32), "iplane": i,
                     "med": [0, 0]})
        m = np.zeros(SHAPE, bool)
        m[i, y, x] = True
        truth.append(m)
    np.save(tmp_path / "stat.npy", np.array(stat, dtype=object), allow_pickle=True)
    np.save(tmp_path / "iscell.npy", np.array([[1, 0.9], [0, 0.2], [1, 0.7]]))
    masks, names = read_masks_any(tmp_path / "stat.npy", SHAPE)
    assert names == ["ROI 1", "ROI 3"]
    np.testing.assert_array_equal(masks, np.stack([truth[0], truth[2]]))
    with pytest.raises(MaskFormatError, match="plane 2 but the acquisition has 2"):
        read_masks_any(tmp_path / "stat.npy", (2, H, W))


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_suite2p_reader_refuses_arbitrary_pickles(tmp_path):
    bad = np.empty(1, dtype=object)
    bad[0] = {"ypix": _Evil(), "xpix": np.arange(3)}
    np.save(tmp_path / "stat.npy", bad, allow_pickle=True)
    with pytest.raises(MaskFormatError, match="refusing to load builtins.print"):
        read_masks_any(tmp_path / "stat.npy", SHAPE)
    np.save(tmp_path / "s2.npy", np.array([{"ypix": np.array([1.5]), "xpix": np.array([1])}]),
            allow_pickle=True)
    with pytest.raises(MaskFormatError, match="integer"):
        read_masks_any(tmp_path / "s2.npy", SHAPE)


def test_unknown_and_misfit_files(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(MaskFormatError, match="x.txt"):
        read_masks_any(tmp_path / "x.txt", SHAPE)
    masks = random_masks(np.random.default_rng(1), n=2)
    path = write_masks_any(tmp_path / "m.npz", masks, ["a", "b"])
    with pytest.raises(MaskFormatError, match=r"\(3, 40, 52\).*\(3, 40, 50\)"):
        read_masks_any(path, (3, 40, 50))
    # a folder and a missing file: the sidecar reader's messages, as a masks error
    (tmp_path / "folder.zip").mkdir()
    with pytest.raises(MaskFormatError, match="folder.zip: cannot be read"):
        read_masks_any(tmp_path / "folder.zip", SHAPE)
    with pytest.raises(MaskFormatError, match="gone.npz: no such file"):
        read_masks_any(tmp_path / "gone.npz", SHAPE)


def test_cli_convert_masks(tmp_path, capsys):
    masks = random_masks(np.random.default_rng(2), n=3)
    src = write_masks_any(tmp_path / "m.npz", masks, ["a", "b", "c"])
    assert main(["convert-masks", str(src), str(tmp_path / "RoiSet.zip")]) == 0
    assert main(["convert-masks", str(tmp_path / "RoiSet.zip"), str(tmp_path / "s.npy")]) == 2
    assert "--like" in capsys.readouterr().err
    assert main(["convert-masks", str(tmp_path / "RoiSet.zip"), str(tmp_path / "s.npy"),
                 "--shape", "3,40,52"]) == 0
    back, names = read_masks_any(tmp_path / "s.npy", SHAPE)
    assert names == ["a", "b", "c"]
    np.testing.assert_array_equal(back, masks)
    assert main(["convert-masks", str(src), str(tmp_path / "s.npy")]) == 2  # exists


def test_export_traces_takes_any_masks_format(tmp_path, capsys):
    """``--masks`` goes through load_masks: a label TIFF (written by tifffile) gives the
    same traces as the same ROIs in a siffviewer masks file."""
    sample = sample_path()
    with SiffReader(sample) as r:
        shape = (r.im_params.num_slices, *r.im_params.shape)
    labels = np.zeros(shape, np.uint16)
    labels[:, 10:40, 20:50] = 1
    labels[1, 50:80, 60:100] = 2
    tifffile.imwrite(tmp_path / "labels.tif", labels, photometric="minisblack")
    masks = np.stack([labels == 1, labels == 2])
    write_masks_any(tmp_path / "same.npz", masks, ["ROI 1", "ROI 2"])
    rows = {}
    for name in ("labels.tif", "same.npz"):
        out = tmp_path / f"{name}.csv"
        assert main(["-q", "export-traces", str(sample), "--masks", str(tmp_path / name),
                     "-o", str(out)]) == 0
        rows[name] = [line for line in out.read_text().splitlines() if not line.startswith("#")]
    assert len(rows["labels.tif"]) == 1 + 2 * 40 and rows["labels.tif"] == rows["same.npz"]
    bad = tmp_path / "small.tif"
    tifffile.imwrite(bad, labels[:, :20, :20], photometric="minisblack")
    assert main(["-q", "export-traces", str(sample), "--masks", str(bad), "-o",
                 str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert f"{(shape[0], 20, 20)}" in err and f"{shape}" in err
