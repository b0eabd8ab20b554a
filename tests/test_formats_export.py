"""NWB, OME-TIFF and MP4 exports (siffviewer.model.formats) read back by pynwb,
nwbinspector, tifffile and imageio, compared with the CSV of ``siff export-traces`` and
with libsiff's SiffReader on the sample."""


import shutil

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
import tifffile

from libsiff import SiffReader
from siffviewer.cli import main
from siffviewer.model.export import TraceExportOptions
from siffviewer.model.formats import write_masks_any
from siffviewer.model.formats.images import export_maps, maps, pixel_size_um
from siffviewer.model.formats.movie import export_movie
from siffviewer.model.formats.nwb import export_nwb_file
from siffviewer.resources import sample_path

SAMPLE = sample_path()
SUBJECT = {"subject_id": "fly1", "species": "Drosophila melanogaster", "sex": "F",
           "age": "P5D", "description": "test subject"}


@pytest.fixture(scope="module")
def reader():
    with SiffReader(SAMPLE) as r:
        yield r


def sample_masks(reader):
    Z, (H, W) = reader.im_params.num_slices, reader.im_params.shape
    masks = np.zeros((3, Z, H, W), bool)
    masks[0, :, 10:40, 20:50] = True          # every plane
    masks[1, 1, 50:80, 60:100] = True         # plane 1 only
    masks[2, 2, 5:25, 70:110] = True
    masks[2, 0, 60:90, 5:30] = True           # planes 0 and 2
    return masks


def read_csv_traces(path):
    """The tidy CSV of ``siff export-traces`` as {column: (R, T) array} in ROI order."""
    table = pd.read_csv(path, comment="#")
    names = list(dict.fromkeys(table["roi"]))
    T = table["timepoint"].max() + 1
    cols = {c: np.stack([table.loc[table["roi"] == n, c].to_numpy(float) for n in names])
            for c in ("photons", "lifetime_ns", "dff", "time_s") if c in table}
    assert all(v.shape == (len(names), T) for v in cols.values())
    return names, cols


def test_nwb_equals_the_csv_of_the_saved_session_and_passes_nwbinspector(tmp_path, reader):
    """siff export-nwb and siff export-traces of the same saved session: the NWB read back
    with pynwb holds the CSV's numbers; the lifetime SE equals the one from the per-pixel
    arrival histograms of every frame (tifffile-free truth from SiffReader.get_frames)."""
    from nwbinspector import Importance, inspect_nwbfile
    from pynwb import NWBHDF5IO

    from siffviewer.model.masks import PALETTE
    from siffviewer.model.session_file import SessionDocument, session_path_for, write_session_file

    acq = tmp_path / "acq.siff"
    shutil.copy(SAMPLE, acq)
    masks = sample_masks(reader)
    names = ["a", "b", "c"]
    doc = SessionDocument(rois=[(n, PALETTE[i], m, False, True)
                                for i, (n, m) in enumerate(zip(names, masks, strict=True))],
                          dff=(10.0, 2.0), registered=False)
    write_session_file(session_path_for(acq), doc, masks.shape[1:])
    assert main(["-q", "export-traces", str(acq), "-o", str(tmp_path / "t.csv")]) == 0
    assert main(["-q", "export-nwb", str(acq), "-o", str(tmp_path / "x.nwb")]) == 0
    csv_names, csv = read_csv_traces(tmp_path / "t.csv")
    assert csv_names == names
    bin_ns = reader.picoseconds_per_bin / 1000.0
    with NWBHDF5IO(str(tmp_path / "x.nwb"), "r") as io:
        nwb = io.read()
        assert nwb.subject.subject_id == "acq" and nwb.subject.species
        ophys = nwb.processing["ophys"]
        table = ophys["ImageSegmentation"]["PlaneSegmentation"]
        assert list(table["roi_name"][:]) == names
        np.testing.assert_array_equal(np.moveaxis(np.asarray(table["image_mask"][:], bool),
                                                  -1, 1), masks)
        photons = ophys["Fluorescence"]["photons"]
        assert photons.unit == "photons"
        np.testing.assert_array_equal(photons.data[:].T, csv["photons"])
        np.testing.assert_allclose(photons.timestamps[:], csv["time_s"][0])
        life = ophys["lifetime_ns"]
        assert life.unit == "ns"
        np.testing.assert_allclose(life.data[:].T, csv["lifetime_ns"], rtol=1e-12,
                                   equal_nan=True)
        np.testing.assert_allclose(ophys["DfOverF"]["dff"].data[:].T, csv["dff"], rtol=1e-12,
                                   equal_nan=True)
        # SE of ROI c (planes 0 and 2 pooled) from every pixel's histogram
        Z = reader.im_params.num_slices
        full = reader.get_frames(reader.im_params.flatten_by_timepoints(),
                                 full=True).astype(float)  # (T*Z, H, W, L)
        full = full.reshape(-1, Z, *full.shape[1:])
        h = sum(full[:, z][:, masks[2, z]].sum(1) for z in range(Z))
        b = np.arange(h.shape[1])
        n = h.sum(1)
        var = (h * b * b).sum(1) / n - ((h * b).sum(1) / n) ** 2
        se = ophys["lifetime_se_ns"]
        np.testing.assert_allclose(se.data[:, 2], np.sqrt(var / n) * bin_ns, rtol=1e-9)
        plane = nwb.imaging_planes["ImagingPlane"]
        assert plane.imaging_rate == pytest.approx(7.5)
        assert list(plane.grid_spacing[:2]) == pytest.approx(list(reader.im_params.scale[-2:]))
        assert "arrival-time bin width 20" in plane.description
    bad = [m for m in inspect_nwbfile(nwbfile_path=str(tmp_path / "x.nwb"))
           if m.importance in (Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION)]
    assert not bad, [(m.check_function_name, m.message) for m in bad]


def test_cli_export_nwb(tmp_path, reader, capsys):
    masks = write_masks_any(tmp_path / "RoiSet.zip", sample_masks(reader), ["a", "b", "c"])
    out = tmp_path / "y.nwb"
    assert main(["-q", "export-nwb", str(SAMPLE), "-m", str(masks), "-o", str(out),
                 "--subject-id", "fly1", "--species", "Mus musculus", "--age", "P90D"]) == 0
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(out), "r") as io:
        subject = io.read().subject
        assert (subject.subject_id, subject.species, subject.age) == ("fly1", "Mus musculus",
                                                                       "P90D")
    assert main(["-q", "export-nwb", str(SAMPLE), "-m", str(masks), "-o", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["-q", "export-nwb", str(SAMPLE), "-m", str(tmp_path / "no.zip"), "-o",
                 str(tmp_path / "z.nwb")]) == 2
    assert "no.zip: no such masks file" in capsys.readouterr().err


def test_ome_tiff_maps(tmp_path, reader):
    out_i, out_l = tmp_path / "i.ome.tif", tmp_path / "l.ome.tif"
    export_maps(reader, out_i, out_l, timepoint_start=2, timepoint_end=12, reduce="mean")
    Z, (H, W) = reader.im_params.num_slices, reader.im_params.shape
    dz, dy, dx = pixel_size_um(reader)
    fov = np.asarray(reader.im_params.imaging_fov, float)
    assert dx == pytest.approx(np.ptp(fov[:, 0]) / W) and dy == pytest.approx(np.ptp(fov[:, 1]) / H)
    with tifffile.TiffFile(out_i) as tif:
        assert tif.is_ome
        data = tif.asarray()
        pixels = tif.ome_metadata
    assert data.shape == (Z, H, W) and data.dtype == np.float32
    assert f'PhysicalSizeX="{dx}"' in pixels and 'PhysicalSizeXUnit="µm"' in pixels
    assert f'PhysicalSizeY="{dy}"' in pixels and f'PhysicalSizeZ="{dz}"' in pixels
    frames = reader.im_params.flatten_by_timepoints(2, 12)
    expected = reader.get_frames(frames).reshape(10, Z, H, W).mean(0)
    np.testing.assert_allclose(data, expected, rtol=1e-6)
    life = tifffile.imread(out_l)
    assert life.shape == (Z, H, W) and life.dtype == np.float32
    assert np.isfinite(life).any()


def test_mp4_movie_frame_count(tmp_path, reader):
    out = export_movie(reader, tmp_path / "m.mp4", plane=1, timepoint_start=1,
                       timepoint_end=30, average=4, lifetime=True, upscale=2)
    frames = list(iio.imiter(out))
    assert len(frames) == 7  # 29 timepoints in groups of 4
    H, W = reader.im_params.shape
    assert frames[0].shape[:2] == (2 * H, 2 * W)
    grey = export_movie(reader, tmp_path / "g.mp4", plane=0, average=1)
    assert len(list(iio.imiter(grey))) == reader.im_params.num_timepoints
    assert not list(tmp_path.glob(".*part*"))  # no temp files left behind


def test_failed_exports_keep_the_old_file_and_leave_no_temp(tmp_path, reader):
    masks_file = write_masks_any(tmp_path / "m.tif", sample_masks(reader)[:1], ["a"])

    def stop(done, total):
        raise RuntimeError("cancelled")

    for name, run in (("m.mp4", lambda out: export_movie(reader, out, timepoint_end=4,
                                                         progress=stop)),
                      ("x.nwb", lambda out: export_nwb_file(
                          SAMPLE, out, TraceExportOptions(masks=masks_file), progress=stop))):
        out = tmp_path / name
        out.write_bytes(b"previous export")
        with pytest.raises(RuntimeError, match="cancelled"):
            run(out)
        assert out.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.mp4", "m.tif", "x.nwb"]


def test_nwb_of_a_plain_tiff_has_photons_only(tmp_path):
    from pynwb import NWBHDF5IO

    from libsiff.simulate import SimulationSpec, simulate

    path = tmp_path / "plain.tiff"
    simulate(path, SimulationSpec(height=32, width=40, slices=2, colors=1, timepoints=6,
                                  encoding="tiff", motion="none"))
    masks = np.zeros((1, 2, 32, 40), bool)
    masks[0, :, 5:20, 5:30] = True
    masks_file = write_masks_any(tmp_path / "m.tif", masks, ["a"])
    out = export_nwb_file(path, tmp_path / "plain.nwb", TraceExportOptions(masks=masks_file),
                          subject=SUBJECT)
    with NWBHDF5IO(str(out), "r") as io, SiffReader(path) as r:
        ophys = io.read().processing["ophys"]
        assert sorted(ophys.data_interfaces) == ["Fluorescence", "ImageSegmentation"]
        np.testing.assert_array_equal(ophys["Fluorescence"]["photons"].data[:].T,
                                      r.sum_masks(masks))
        intensity, lifetime = maps(r, reduce="max")
        assert lifetime is None
        frames = r.get_frames(r.im_params.flatten_by_timepoints()).reshape(6, 2, 32, 40)
        np.testing.assert_array_equal(intensity[0], frames.max(0))
        with pytest.raises(ValueError, match="no photon arrival times"):
            export_movie(r, tmp_path / "life.mp4", lifetime=True)
    assert not (tmp_path / "life.mp4").exists()
