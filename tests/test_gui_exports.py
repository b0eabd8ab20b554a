"""The app's File menu exports and imports (qt/export_dialogs.py, qt/batch_dialog.py) with
pytest-qt, dialogs driven programmatically. Truth: masks files written by roifile,
tifffile and numpy from known arrays; the CSV of the same session; SiffReader's frames;
tifffile, imageio and ElementTree reading the outputs back; ``siff batch`` itself."""

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
import roifile
import tifffile

import windows
from libsiff import SiffReader
from libsiff.simulate import SimulationSpec, simulate
from siffviewer.cli import main
from siffviewer.model.formats import read_masks_any
from siffviewer.model.masks import PALETTE
from siffviewer.model.session_file import SessionDocument, write_session_file
from siffviewer.qt import export_dialogs as ex
from siffviewer.qt.batch_dialog import BatchDialog
from siffviewer.resources import sample_path

from checks import timeless


def make_window(qtbot, tmp_path, path):
    return windows.make_window(qtbot, tmp_path, path, keep_session_files=False)


@pytest.fixture
def window(qtbot, tmp_path):
    acq = tmp_path / "sample.siff"
    shutil.copy(sample_path(), acq)
    w = make_window(qtbot, tmp_path, acq)
    yield w
    w.close()


def shape_of(window):
    g = window.session.geometry
    return g.n_planes, g.height, g.width


def known_masks(shape):
    """Three rectangles: one in every plane, one on plane 1, one on planes 0 and 2."""
    masks = np.zeros((3, *shape), bool)
    masks[0, :, 10:40, 20:50] = True
    masks[1, 1, 50:80, 60:100] = True
    masks[2, 2, 5:25, 70:110] = True
    masks[2, 0, 60:90, 5:30] = True
    return masks


def set_rois(window, masks, names=("a", "b", "c")):
    window.masks.set_records([(n, PALETTE[i], m, False, True)
                              for i, (n, m) in enumerate(zip(names, masks, strict=True))])


# ------------------------------------------------------------------ masks

def test_every_masks_format_loads_in_the_app_as_its_truth(window, tmp_path):
    shape = shape_of(window)
    Z, H, W = shape
    truth = known_masks(shape)
    files = {}
    # ImageJ: rectangles written by roifile, z position 1-based (none: every plane)
    rois = []
    for r, mask in enumerate(truth):
        for z in range(Z):
            if not mask[z].any() or (r == 0 and z > 0):
                continue
            ys, xs = np.nonzero(mask[z])
            roi = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, top=ys.min(), left=xs.min(),
                                    bottom=ys.max() + 1, right=xs.max() + 1,
                                    name=f"roi{r}" + ("" if r == 0 else f"-z{z}"),
                                    position=0 if r == 0 else z + 1)
            rois.append(roi)
    roifile.roiwrite(tmp_path / "RoiSet.zip", rois)
    imagej_truth = np.stack([truth[0], truth[1], np.where(np.arange(Z)[:, None, None] == 0,
                                                           truth[2], False),
                             np.where(np.arange(Z)[:, None, None] == 2, truth[2], False)])
    files["RoiSet.zip"] = imagej_truth
    labels = np.zeros(shape, np.uint16)
    for r in (1, 2):
        labels[truth[r]] = r
    tifffile.imwrite(tmp_path / "labels.tif", labels, photometric="minisblack")
    files["labels.tif"] = truth[1:]
    stat = [{"ypix": np.nonzero(truth[1, 1])[0], "xpix": np.nonzero(truth[1, 1])[1],
             "iplane": 1, "lam": np.ones(int(truth[1, 1].sum()), np.float32)}]
    np.save(tmp_path / "stat.npy", np.array(stat, dtype=object), allow_pickle=True)
    files["stat.npy"] = truth[1:2]
    doc = SessionDocument(rois=[(n, PALETTE[i], m, False, True)
                                for i, (n, m) in enumerate(zip("abc", truth, strict=True))])
    write_session_file(tmp_path / "other.session.npz", doc, shape)
    files["other.session.npz"] = truth
    for name, expected in files.items():
        assert window.load_masks(tmp_path / name), window.errors[-1:]
        got = window.masks.stack()
        np.testing.assert_array_equal(got, expected, err_msg=name)
        np.testing.assert_array_equal(got, read_masks_any(tmp_path / name, shape)[0])
    # a label image of another size: a clear error naming both shapes, ROIs untouched
    tifffile.imwrite(tmp_path / "small.tif", labels[:, :20, :20], photometric="minisblack")
    assert not window.load_masks(tmp_path / "small.tif")
    assert f"{(Z, 20, 20)}" in window.errors[-1] and f"{shape}" in window.errors[-1]
    np.testing.assert_array_equal(window.masks.stack(), truth)


@pytest.mark.parametrize("suffix", [".zip", ".tif", ".npy", ".npz"])
def test_export_masks_as_each_format_reads_back(window, tmp_path, suffix):
    truth = known_masks(shape_of(window))
    set_rois(window, truth)
    out = ex.export_masks(window, tmp_path / f"out{suffix}")
    assert out is not None and out.exists()
    back, names = read_masks_any(out, shape_of(window))
    np.testing.assert_array_equal(back, truth)
    if suffix == ".zip":
        assert len(roifile.roiread(out)) >= 3  # Fiji reads it


# ------------------------------------------------------------------ NWB

def test_nwb_from_the_app_equals_the_apps_csv(window, tmp_path):
    from pynwb import NWBHDF5IO

    set_rois(window, known_masks(shape_of(window)))
    window.state.update(dff=(10.0, 2.0))
    window.export_traces(tmp_path / "t.csv")
    dialog = ex.NwbDialog(window.session.path, window)
    dialog.subject_id.setText("fly7")
    dialog.species.setText("Drosophila melanogaster")
    dialog.sex.setCurrentIndex(1)
    dialog.age.setText("P3D")
    dialog.path.edit.setText(str(tmp_path / "x.nwb"))
    assert dialog.subject() == {"subject_id": "fly7", "species": "Drosophila melanogaster",
                                "sex": "F", "age": "P3D"}
    job = ex.export_nwb(window, dialog.path.path(), dialog.subject())
    assert not job.running and not window.errors
    dialog.close()
    table = pd.read_csv(tmp_path / "t.csv", comment="#")
    with NWBHDF5IO(str(tmp_path / "x.nwb"), "r") as io:
        nwb = io.read()
        assert nwb.subject.subject_id == "fly7" and nwb.subject.sex == "F"
        ophys = nwb.processing["ophys"]
        for r, name in enumerate("abc"):
            rows = table[table["roi"] == name]
            np.testing.assert_array_equal(ophys["Fluorescence"]["photons"].data[:, r],
                                          rows["photons"])
            np.testing.assert_allclose(ophys["lifetime_ns"].data[:, r], rows["lifetime_ns"],
                                       rtol=1e-12, equal_nan=True)
            np.testing.assert_allclose(ophys["DfOverF"]["dff"].data[:, r], rows["dff"],
                                       rtol=1e-12, equal_nan=True)


# ------------------------------------------------------------------ OME-TIFF and MP4

def test_ome_tiff_through_the_dialog(window, tmp_path):
    s = window.session
    dialog = ex.ImageExportDialog(s.path, window.state.n_timepoints, 2, 1, s.has_flim, window)
    dialog.kind.setCurrentIndex([k for _, k in ex.REDUCE_CHOICES].index("max"))
    dialog.end.setValue(9)  # timepoints 2 to 9
    dialog.intensity_path.edit.setText(str(tmp_path / "max.ome.tif"))
    dialog.lifetime_path.edit.setText(str(tmp_path / "tau.ome.tif"))
    ex.export_image(window, **dialog.values())
    dialog.kind.setCurrentIndex(0)  # the current frame, photons only
    dialog.lifetime.setChecked(False)
    dialog.intensity_path.edit.setText(str(tmp_path / "frame.ome.tif"))
    ex.export_image(window, **dialog.values())
    dialog.close()
    assert not window.errors
    with SiffReader(s.path) as r:
        Z, (H, W) = r.im_params.num_slices, r.im_params.shape
        frames = r.get_frames(r.im_params.flatten_by_timepoints(2, 10), registration_dict={})
        frames = frames.reshape(8, Z, H, W).astype(np.float32)
    with tifffile.TiffFile(tmp_path / "max.ome.tif") as tif:
        assert tif.is_ome and 'PhysicalSizeXUnit="µm"' in tif.ome_metadata
        np.testing.assert_array_equal(tif.asarray(), frames.max(0))
    tau = tifffile.imread(tmp_path / "tau.ome.tif")
    assert tau.shape == (Z, H, W) and tau.dtype == np.float32 and np.isfinite(tau).any()
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "frame.ome.tif"), frames[0])


def test_image_dialog_suggests_the_timepoints_the_view_averages(window):
    """Averaging 5 timepoints around timepoint 10 shows 8 to 12: the dialog suggests them
    (it suggested 10 to 14); near the end the window is cut as the view cuts it."""
    s = window.session
    n = window.state.n_timepoints
    dialog = ex.ImageExportDialog(s.path, n, 10, 5, s.has_flim, window)
    assert (dialog.start.value(), dialog.end.value()) == (8, 12)
    assert dialog.values()["start"] == 8 and dialog.values()["end"] == 13
    dialog.close()
    dialog = ex.ImageExportDialog(s.path, n, n - 1, 4, s.has_flim, window)
    assert (dialog.start.value(), dialog.end.value()) == (n - 3, n - 1)
    dialog.close()


def test_movie_through_the_dialog_and_cancel(window, tmp_path):
    s = window.session
    dialog = ex.MovieDialog(s.path, window.state.n_timepoints, window.state.n_planes,
                            window.state, s.has_flim, 10.0, window)
    dialog.path.edit.setText(str(tmp_path / "m.mp4"))
    dialog.plane.setValue(1)
    dialog.end.setValue(12)  # timepoints 0 to 12
    dialog.average.setValue(3)
    dialog.lifetime.setChecked(True)
    values = dialog.values()
    dialog.close()
    ex.export_movie(window, **values)
    assert not window.errors
    frames = list(iio.imiter(tmp_path / "m.mp4"))
    H, W = s.geometry.height, s.geometry.width
    assert len(frames) == 4 and frames[0].shape[:2] == (2 * H, 2 * W)
    # cancelled before it starts: nothing is written
    from siffviewer.model.formats.movie import export_movie
    from siffviewer.workers import Job

    seen = []
    job = Job("movie", lambda progress, cancelled: export_movie(
        s.reader, tmp_path / "c.mp4", cancel=cancelled, progress=progress), sync=True)
    job.cancelled.connect(lambda: seen.append("cancelled"))
    job.cancel()
    job.start()
    assert seen == ["cancelled"] and not (tmp_path / "c.mp4").exists()
    assert not list(tmp_path.glob(".*part*"))


# ------------------------------------------------------------------ PNG / SVG

def test_view_window_and_plots_as_png_and_svg(window, tmp_path):
    set_rois(window, known_masks(shape_of(window)))
    window.show_analysis("Traces")
    for widget, name in ((window.frame_view, "view"), (window, "window")):
        for suffix in (".png", ".svg"):
            assert ex.save_view(window, widget, tmp_path / f"{name}{suffix}") is not None
        image = iio.imread(tmp_path / f"{name}.png")
        ratio = widget.devicePixelRatioF()
        assert image.shape[:2] == (round(widget.height() * ratio), round(widget.width() * ratio))
        assert image.std() > 0  # not a blank image
        root = ET.parse(tmp_path / f"{name}.svg").getroot()
        assert root.tag.endswith("svg") and len(list(root.iter())) > 10
    written = ex.export_plots(window, tmp_path / "plots")
    assert written and {p.suffix for p in written} == {".png", ".svg"}
    for p in written:
        if p.suffix == ".png":
            assert iio.imread(p).ndim == 3
        else:
            assert ET.parse(p).getroot().tag.endswith("svg")
    assert ex.save_view(window, window, tmp_path / "x.jpg") is None
    assert "choose a .png or .svg" in window.errors[-1]


# ------------------------------------------------------------------ batch

SHAPE = (2, 24, 32)


@pytest.fixture(scope="module")
def acquisitions(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch")
    for i in range(3):
        simulate(folder / f"fly{i}.siff", SimulationSpec(
            height=SHAPE[1], width=SHAPE[2], slices=SHAPE[0], colors=1, flyback_planes=1,
            timepoints=12, taus_ns=(2.5,), motion="none", photons_per_pixel=0.5, seed=30 + i))
    return folder


def batch_window(qtbot, tmp_path, acquisition):
    w = make_window(qtbot, tmp_path, acquisition)
    masks = np.zeros((2, *SHAPE), bool)
    masks[0, :, 4:14, 6:18] = True
    masks[1, 0, 15:22, 3:30] = True
    set_rois(w, masks, ("soma", "dendrite"))
    w.state.update(dff=(20.0, 1.0))
    return w


def test_batch_from_the_app_equals_siff_batch(qtbot, tmp_path, acquisitions, capsys):
    w = batch_window(qtbot, tmp_path, acquisitions / "fly0.siff")
    dialog = BatchDialog(w.session_document(), SHAPE, w.session.path, sync=True, parent=w)
    qtbot.addWidget(dialog)
    dialog.add_paths([str(acquisitions)])
    dialog.out.edit.setText(str(tmp_path / "app"))
    dialog.workers.setValue(2)
    dialog.start()
    assert dialog.result is not None, dialog.message
    assert [o.status for o in dialog.result.outcomes] == ["done"] * 3
    assert dialog.table.rowCount() == 3 and dialog.table.item(0, 1).text() == "done"
    assert "3 done" in dialog.status.text()
    code = main(["-q", "batch", str(acquisitions), "--out", str(tmp_path / "cli"), "--workers",
                 "0", "--masks", str(tmp_path / "app" / "applied-session.npz"), "--channel",
                 "0", "--raw", "--dff", "20,1"])
    assert code == 0, capsys.readouterr().err
    for i in range(3):
        app_csv = (tmp_path / "app" / f"fly{i}.csv").read_bytes()
        # equal but for the export time (the two runs may straddle a second)
        assert timeless(app_csv) == timeless((tmp_path / "cli" / f"fly{i}.csv").read_bytes())
        assert b"dff" in app_csv and b"soma" in app_csv
    dialog.close()
    w.close()


def test_batch_from_the_app_registers_each_file_like_the_session(qtbot, tmp_path):
    """With "Register each file first", every file gets the open session's registration
    settings (set here by the user before opening it), on threads of this process."""
    from libsiff.registration import RegistrationInfo, default_registration_path

    folder = tmp_path / "moving"
    folder.mkdir()
    spec = dict(height=SHAPE[1], width=SHAPE[2], slices=SHAPE[0], colors=1, flyback_planes=1,
                timepoints=12, taus_ns=(2.5,), motion="jitter", max_shift_px=2,
                photons_per_pixel=2.0)
    template = simulate(tmp_path / "template.siff", SimulationSpec(**spec, seed=40)).path
    for i in range(2):
        simulate(folder / f"m{i}.siff", SimulationSpec(**spec, seed=41 + i))
    with SiffReader(template) as reader:
        reader.register(num_cycles=2, max_shift=3, reference_sigma=0.5, workers=1)
    w = batch_window(qtbot, tmp_path, template)
    w.state.update(registered=False)  # registering implies registered traces
    dialog = BatchDialog(w.session_document(), SHAPE, template, w.session.registration,
                         sync=True, parent=w)
    qtbot.addWidget(dialog)
    dialog.add_paths([str(folder)])
    dialog.out.edit.setText(str(tmp_path / "out"))
    dialog.workers.setValue(0)
    dialog.threads.setValue(2)
    dialog.register.setChecked(True)
    dialog.start()
    assert dialog.result is not None, dialog.message
    assert [o.status for o in dialog.result.outcomes] == ["done"] * 2
    for i in range(2):
        info = RegistrationInfo.load(default_registration_path(folder / f"m{i}.siff"))
        assert info.registration_type.value == "siffpy"
        assert info.options["num_cycles"] == 2 and info.options["max_shift"] == [3, 3]
        assert info.options["reference_sigma"] == 0.5
        assert "# registration: siffpy" in (tmp_path / "out" / f"m{i}.csv").read_text()
    dialog.close()
    w.close()


def test_batch_registers_with_the_defaults_when_the_session_has_no_registration(
        qtbot, tmp_path, acquisitions, capsys):
    """An unregistered session registers each file with siffpy on the analysed channel (it
    raised before); a registration a batch cannot repeat is refused before anything runs;
    siff batch --register --template of an unregistered template does the same."""
    from types import SimpleNamespace

    from libsiff.registration import RegistrationInfo, default_registration_path
    from libsiff.registration.sidecar import RegistrationType

    folder = tmp_path / "files"
    folder.mkdir()
    for name in ("fly1.siff", "fly2.siff"):
        shutil.copy(acquisitions / name, folder / name)
    w = batch_window(qtbot, tmp_path, acquisitions / "fly0.siff")
    assert w.session.registration is None
    dialog = BatchDialog(w.session_document(), SHAPE, w.session.path, w.session.registration,
                         sync=True, parent=w)
    qtbot.addWidget(dialog)
    assert "no registration" in dialog.register.text()
    dialog.add_paths([str(folder)])
    dialog.out.edit.setText(str(tmp_path / "out"))
    dialog.workers.setValue(0)
    dialog.register.setChecked(True)
    assert "each file registered first" in dialog.what.text()
    dialog.start()
    assert dialog.result is not None, dialog.message
    assert [o.status for o in dialog.result.outcomes] == ["done"] * 2
    for name in ("fly1.siff", "fly2.siff"):
        info = RegistrationInfo.load(default_registration_path(folder / name))
        assert info.registration_type.value == "siffpy"
        assert info.registration_color_channel == 0
    dialog.registration = SimpleNamespace(registration_type=RegistrationType.Average)
    assert dialog.start() is None and "cannot be repeated" in dialog.status.text()
    dialog.close()
    w.close()
    code = main(["-q", "batch", str(folder), "--out", str(tmp_path / "cli"), "--workers", "0",
                 "--masks", str(tmp_path / "out" / "applied-session.npz"), "--register",
                 "--template", str(acquisitions / "fly0.siff"), "--force"])
    assert code == 0, capsys.readouterr().err


def test_batch_from_the_app_cancels(qtbot, tmp_path, acquisitions):
    w = batch_window(qtbot, tmp_path, acquisitions / "fly0.siff")
    dialog = BatchDialog(w.session_document(), SHAPE, w.session.path, sync=False, parent=w)
    qtbot.addWidget(dialog)
    dialog.add_paths([str(acquisitions / f"fly{i}.siff") for i in range(3)])
    dialog.out.edit.setText(str(tmp_path / "out"))
    dialog.workers.setValue(2)
    job = dialog.start()
    dialog.cancel()  # before the cluster has started: no file runs
    qtbot.waitUntil(lambda: not job.running, timeout=60000)
    assert job.wait(10)
    assert "cancelled" in dialog.status.text() and dialog.run_button.isEnabled()
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert set(summary["status"]) <= {"cancelled", "done"} and "cancelled" in set(summary["status"])
    for _, row in summary.iterrows():  # a file is written only when it finished
        stem = row["file"].rsplit("/", 1)[-1][:-5]
        assert (tmp_path / "out" / f"{stem}.csv").exists() == (row["status"] == "done")
    dialog.close()
    w.close()


def test_suggested_paths_leave_a_read_only_folder_for_home(qtbot, tmp_path, monkeypatch):
    """The bundled sample sits inside the installed app: the dialogs then suggest the home
    folder (a writable folder keeps the suggestion beside the acquisition)."""
    import os

    locked, home = tmp_path / "app" / "resources", tmp_path / "home"
    locked.mkdir(parents=True)
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    real_access = os.access  # this may run as root, whom no folder mode stops
    monkeypatch.setattr(ex.os, "access", lambda p, mode: False if Path(p) == locked
                        else real_access(p, mode))
    sample = locked / "sample.siff"
    dialog = ex.NwbDialog(sample)
    qtbot.addWidget(dialog)
    assert dialog.path.path() == home / "sample.nwb"
    batch = ex.PathField(locked / "batch", folder=True)
    qtbot.addWidget(batch)
    assert batch.path() == home / "batch"
    free = ex.PathField(tmp_path / "data" / "new" / "x.nwb")  # its folder is still to be made
    qtbot.addWidget(free)
    assert free.path() == tmp_path / "data" / "new" / "x.nwb"
