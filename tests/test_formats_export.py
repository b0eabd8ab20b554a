"""NWB, OME-TIFF and MP4 exports (siffviewer.model.formats) read back by pynwb,
nwbinspector, tifffile and imageio, compared with libsiff's SiffReader on the sample."""


import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from libsiff import SiffReader
from siffviewer.cli import main
from siffviewer.model.formats import write_masks_any
from siffviewer.model.formats.images import export_maps, maps, pixel_size_um
from siffviewer.model.formats.movie import export_movie
from siffviewer.model.formats.nwb import export_nwb
from siffviewer.model.traces import Baseline
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


def test_nwb_reads_back_to_siffreader_numbers_and_passes_nwbinspector(tmp_path, reader):
    from nwbinspector import Importance, inspect_nwbfile
    from pynwb import NWBHDF5IO

    masks = sample_masks(reader)
    out = export_nwb(SAMPLE, masks, ["a", "b", "c"], tmp_path / "x.nwb",
                     baseline=Baseline(10, 2.0), subject=SUBJECT)
    bin_ns = reader.picoseconds_per_bin / 1000.0
    with NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        ophys = nwb.processing["ophys"]
        seg = ophys["ImageSegmentation"]
        assert set(seg.plane_segmentations) == {"PlaneSegmentation0", "PlaneSegmentation1",
                                                "PlaneSegmentation2"}
        for z in range(3):
            rois = [r for r in range(3) if masks[r, z].any()]
            table = seg[f"PlaneSegmentation{z}"]
            assert list(table["roi_name"][:]) == [["a", "b", "c"][r] for r in rois]
            np.testing.assert_array_equal(np.asarray(table["image_mask"][:], bool),
                                          masks[rois, z])
            plane_only = np.zeros_like(masks[rois])
            plane_only[:, z] = masks[rois, z]
            photons = ophys["Fluorescence"][f"photons_plane{z}"]
            assert photons.unit == "photons"
            np.testing.assert_array_equal(photons.data[:].T, reader.sum_masks(plane_only))
            life = ophys[f"lifetime_ns_plane{z}"]
            assert life.unit == "ns"
            expected = np.asarray(reader.sum_masks_flim(plane_only), float) * bin_ns
            np.testing.assert_allclose(life.data[:].T, expected, rtol=1e-9, equal_nan=True)
            # the SE from the per-pixel arrival histograms of every frame of the plane
            frames = reader.im_params.flatten_by_timepoints(reference_z=z)
            full = reader.get_frames(frames, full=True).astype(float)  # (T, H, W, L)
            r0 = rois[0]
            h = full[:, masks[r0, z]].sum(1)
            b = np.arange(h.shape[1])
            n = h.sum(1)
            var = (h * b * b).sum(1) / n - ((h * b).sum(1) / n) ** 2
            se = ophys[f"lifetime_se_ns_plane{z}"]
            np.testing.assert_allclose(se.data[:, 0], np.sqrt(var / n) * bin_ns, rtol=1e-9)
            np.testing.assert_allclose(photons.timestamps[:], reader.get_time(frames))
            dff = ophys["DfOverF"][f"dff_plane{z}"].data[:]
            f = photons.data[:].astype(float)
            assert np.nanmax(np.abs(dff)) > 0 and dff.shape == f.shape
        plane = nwb.imaging_planes["ImagingPlane1"]
        assert plane.imaging_rate == pytest.approx(7.5)
        assert list(plane.grid_spacing[:2]) == pytest.approx(list(reader.im_params.scale[-1:-3:-1]))
        assert "20 ps" in plane.description or "arrival-time bin width 20" in plane.description
    bad = [m for m in inspect_nwbfile(nwbfile_path=str(out))
           if m.importance in (Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION)]
    assert not bad, [(m.check_function_name, m.message) for m in bad]


def test_cli_export_nwb(tmp_path, reader):
    masks = write_masks_any(tmp_path / "RoiSet.zip", sample_masks(reader), ["a", "b", "c"])
    out = tmp_path / "y.nwb"
    assert main(["-q", "export-nwb", str(SAMPLE), "-m", str(masks), "-o", str(out),
                 "--subject-id", "fly1", "--species", "Drosophila melanogaster"]) == 0
    assert out.stat().st_size > 0
    assert main(["-q", "export-nwb", str(SAMPLE), "-m", str(masks), "-o", str(out)]) == 2


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
    def stop(done, total):
        raise RuntimeError("cancelled")

    for name, run in (("m.mp4", lambda out: export_movie(reader, out, timepoint_end=4,
                                                         progress=stop)),
                      ("x.nwb", lambda out: export_nwb(reader, sample_masks(reader), ["a", "b", "c"],
                                                       out, progress=stop))):
        out = tmp_path / name
        out.write_bytes(b"previous export")
        with pytest.raises(RuntimeError, match="cancelled"):
            run(out)
        assert out.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.mp4", "x.nwb"]


def test_nwb_of_a_plain_tiff_has_photons_only(tmp_path):
    from pynwb import NWBHDF5IO

    from libsiff.simulate import SimulationSpec, simulate

    path = tmp_path / "plain.tiff"
    simulate(path, SimulationSpec(height=32, width=40, slices=2, colors=1, timepoints=6,
                                  encoding="tiff", motion="none"))
    masks = np.zeros((1, 2, 32, 40), bool)
    masks[0, :, 5:20, 5:30] = True
    out = export_nwb(path, masks, ["a"], tmp_path / "plain.nwb", subject=SUBJECT)
    with NWBHDF5IO(str(out), "r") as io, SiffReader(path) as r:
        ophys = io.read().processing["ophys"]
        assert sorted(ophys.data_interfaces) == ["Fluorescence", "ImageSegmentation"]
        for z in range(2):
            plane_only = np.zeros_like(masks)
            plane_only[:, z] = masks[:, z]
            np.testing.assert_array_equal(ophys["Fluorescence"][f"photons_plane{z}"].data[:].T,
                                          r.sum_masks(plane_only))
        intensity, lifetime = maps(r, reduce="max")
        assert lifetime is None
        frames = r.get_frames(r.im_params.flatten_by_timepoints()).reshape(6, 2, 32, 40)
        np.testing.assert_array_equal(intensity[0], frames.max(0))
        with pytest.raises(ValueError, match="no photon arrival times"):
            export_movie(r, tmp_path / "life.mp4", lifetime=True)
    assert not (tmp_path / "life.mp4").exists()
