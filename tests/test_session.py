"""The session kept: reopen gives the same export, the CLI equals the app, damaged sidecars
never lose ROIs, hostile sidecars give clear errors, shared FLIMParams stay untouched."""

import io
import json
import os
import shutil
import sys
import threading
import zipfile

import numpy as np
import pytest

import libsiff
from libsiff import SiffReader
from libsiff.flim import Exp, FLIMParams, Irf
from siffviewer.cli import main
from siffviewer.model.masks import MaskFileError, MaskSet, load_masks, read_masks
from siffviewer.model.session_file import (
    AUTOSAVE_SUFFIX,
    Identity,
    SessionDocument,
    autosave_session,
    load_session,
    save_session,
    session_path_for,
    write_session_file,
)
from siffviewer.resources import sample_path
from windows import make_window

from checks import timeless

SHAPE = (3, 96, 112)  # the sample's (planes, rows, columns)



@pytest.fixture
def acq(tmp_path):
    p = tmp_path / "sample.siff"
    shutil.copy(sample_path(), p)
    return p



def ns(params):
    p = params.copy()
    p.convert_units("nanoseconds")
    return p


# ------------------------------------------------------------------ reopen, CLI == app

def test_reopen_gives_the_same_export_and_the_cli_equals_the_app(qtbot, tmp_path, acq, capsys):
    w = make_window(qtbot, tmp_path, acq)
    w.state.update(color=1)
    roi = w.masks.add_roi("bright", all_planes=True)
    w.masks.apply_region(roi.roi_id, 0, np.ones(SHAPE[1:], bool))
    small = w.masks.add_roi("corner")
    w.masks.dab(small.roi_id, 1, 20, 30, 6)
    w.masks_panel.select(roi.roi_id)
    w.lifetime_panel.start_fit()
    fit = w.session.flim_params_for(1)
    assert fit is not None
    w.traces_panel.use_dff.setChecked(True)
    w.traces_panel.percentile.setValue(20)
    w.state.update(timepoint=7, plane=2, average=3)
    w.lifetime_panel.lo.setValue(1.0)
    before = tmp_path / "before.csv"
    assert w.export_traces(before).running is False
    assert w.save_masks() == session_path_for(acq)
    w.close()

    w2 = make_window(qtbot, tmp_path, acq)
    s = w2.state
    assert (s.color, s.timepoint, s.plane, s.average) == (1, 7, 2, 3)
    assert s.dff == (20.0, 30.0) and w2.traces_panel.use_dff.isChecked()
    assert s.lifetime_range[0] == 1.0 and w2.lifetime_panel.lo.value() == 1.0
    assert [r.name for r in w2.masks.rois] == ["bright", "corner"]
    assert ns(w2.session.flim_params_for(1)).irf.tau_offset == pytest.approx(ns(fit).irf.tau_offset)
    after = tmp_path / "after.csv"
    w2.export_traces(after)
    text = before.read_text()
    assert timeless(after.read_text()) == timeless(text)
    assert "flim_params: none" not in text and "# baseline: dF/F with F0 = 20th" in text
    # lifetimes: the library's mean arrival time (corrosiffpy-compatible) minus the IRF offset
    import pandas as pd

    df = pd.read_csv(before, comment="#")
    with SiffReader(acq) as sr:
        mean_bins = np.asarray(sr.sum_masks_flim(w2.masks.stack()[:1], color_channel=2)).ravel()
        bin_ns = sr.picoseconds_per_bin / 1000.0
    np.testing.assert_allclose(df[df.roi == "bright"].lifetime_ns.to_numpy(),
                               mean_bins * bin_ns - ns(fit).irf.tau_offset, rtol=1e-9)
    # the CLI reads the saved session and writes the identical file
    cli = tmp_path / "cli.csv"
    assert main(["export-traces", str(acq), "--out", str(cli)]) == 0, capsys.readouterr().err
    assert timeless(cli.read_text()) == timeless(text)
    capsys.readouterr()
    # and `siff session` reports it
    assert main(["session", str(acq), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["channel"] == 1 and info["scanimage_channel"] == 2 and info["dff"] == [20.0, 30.0]
    assert [r["name"] for r in info["rois"]] == ["bright", "corner"] and "1" in info["flim_params"]


def test_cli_overrides_and_fit_json(tmp_path, acq, capsys):
    """--flim-params takes the JSON the app exports; the offset moves lifetimes by exactly it."""
    masks = MaskSet(SHAPE)
    masks.add_roi("all", mask=np.ones(SHAPE, bool))
    masks_path = masks.save(tmp_path / "m.siffmasks.npz")
    params = FLIMParams(Exp(tau=2.5, frac=0.6, units="nanoseconds"),
                        Exp(tau=0.6, frac=0.4, units="nanoseconds"),
                        Irf(tau_offset=1.25, tau_g=0.1, units="nanoseconds"), bin_width_ps=20)
    from siffviewer.model import export

    fit_json = export.export_fit_json(tmp_path / "fit.json", params)
    plain, fitted = tmp_path / "plain.csv", tmp_path / "fitted.csv"
    assert main(["export-traces", str(acq), "-m", str(masks_path), "-o", str(plain), "--wide"]) == 0
    assert main(["export-traces", str(acq), "-m", str(masks_path), "-o", str(fitted), "--wide",
                 "--flim-params", str(fit_json)]) == 0
    import pandas as pd

    a, b = pd.read_csv(plain, comment="#"), pd.read_csv(fitted, comment="#")
    np.testing.assert_allclose(a["all lifetime_ns"] - b["all lifetime_ns"], 1.25, rtol=1e-9)
    assert params.to_dict()["irf"]["tau_offset"] == 1.25
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    assert main(["export-traces", str(acq), "-m", str(masks_path), "-o", str(fitted), "-f",
                 "--flim-params", str(bad)]) == 2
    assert "bad.json: not a FLIM parameters JSON file" in capsys.readouterr().err


# ------------------------------------------------------------------ user work is never lost

def test_damaged_autosave_falls_back_to_the_saved_rois_and_save_keeps_them(qtbot, tmp_path, acq):
    w = make_window(qtbot, tmp_path, acq)
    for name, row in (("a", 20), ("b", 60)):
        roi = w.masks.add_roi(name)
        w.masks.dab(roi.roi_id, 0, row, 40, 5)
    saved = w.save_masks()
    expected = w.masks.stack().copy()
    w.close()
    # a sync client truncated the (newer) autosave
    auto = acq.with_name(acq.stem + AUTOSAVE_SUFFIX)
    auto.write_bytes(saved.read_bytes()[:200])
    w2 = make_window(qtbot, tmp_path, acq)
    assert [r.name for r in w2.masks.rois] == ["a", "b"]
    np.testing.assert_array_equal(w2.masks.stack(), expected)
    assert any("set aside" in e for e in w2.errors)  # shown to the user
    aside = list(tmp_path.glob(auto.name + ".damaged-*"))
    assert len(aside) == 1 and aside[0].stat().st_size == 200 and not auto.exists()
    # deleting an ROI then Save: not over the saved file without the user's yes
    w2.masks.remove_roi(w2.masks.rois[0].roi_id)
    assert w2.save_masks() is None
    assert "holds 2 ROIs" in w2.errors[-1]
    assert len(read_masks_any(saved)) == 2
    w2.answer_fewer_rois = True
    assert w2.save_masks() == saved and len(read_masks_any(saved)) == 1


def read_masks_any(path):
    return load_masks(path, SHAPE)


def test_autosave_of_another_acquisition_is_not_used(tmp_path, acq):
    doc = SessionDocument(rois=[("x", (1, 2, 3), np.ones(SHAPE, bool), False, True)],
                          identity=Identity.of(acq))
    autosave_session(acq, doc, SHAPE)
    assert load_session(acq, SHAPE).document.rois[0][0] == "x"
    other = Identity(acq.stat().st_size, "0" * 32)  # same path and size, other content
    loaded = load_session(acq, SHAPE, other)
    assert loaded.document is None and "another acquisition" in loaded.messages[0]


def test_save_refuses_fewer_rois_without_asking(tmp_path, acq):
    rois = [(n, (1, 2, 3), np.zeros(SHAPE, bool), False, True) for n in "abc"]
    path = save_session(acq, SessionDocument(rois=rois), SHAPE)
    assert save_session(acq, SessionDocument(rois=rois[:1]), SHAPE) is None
    asked = []
    assert save_session(acq, SessionDocument(rois=rois[:1]), SHAPE,
                        confirm_fewer=lambda have, new: asked.append((have, new)) or False) is None
    assert asked == [(3, 1)] and len(load_masks(path, SHAPE)) == 3


# ------------------------------------------------------------------ hostile sidecars

def _masks_file(path, **override):
    arrays = {"masks": np.zeros((1, *SHAPE), bool), "names": np.array(["a"]),
              "colors": np.zeros((1, 3), np.uint8), "all_planes": np.zeros(1, bool),
              "visible": np.ones(1, bool),
              "meta": np.array(json.dumps({"format": "siffviewer-masks", "version": 1}))}
    arrays.update(override)
    np.savez(path, **arrays)
    return path


def _huge_header_file(path):
    """A masks file whose 'masks' member claims 2 TiB of bool."""
    good = _masks_file(path.with_suffix(".good.npz"))
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|b1", "fortran_order": False,
                                                  "shape": (2 << 40,)})
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "masks.npy":
                data = b"\x93NUMPY\x01\x00" + header.getvalue()[8:] + b"\x00" * 64
            dst.writestr(info.filename, data)
    return path


HOSTILE = {
    "truncated": lambda p: p.write_bytes(_masks_file(p.with_suffix(".t.npz")).read_bytes()[:300]),
    "garbage": lambda p: p.write_bytes(bytes(range(256)) * 4),
    "json list meta": lambda p: _masks_file(p, meta=np.array("[1, 2]")),
    "0-d names": lambda p: _masks_file(p, names=np.array("a")),
    "short arrays": lambda p: _masks_file(p, colors=np.zeros((0, 3), np.uint8)),
    "2 TiB header": _huge_header_file,
    "pickled names": lambda p: _masks_file(p, names=np.array([{"a": 1}], dtype=object)),
    "text file": lambda p: p.write_text("name,mask\na,1\n"),
    "100,000-deep meta": lambda p: _masks_file(p, meta=np.array("[" * 100_000 + "]" * 100_000)),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_masks_file_gives_a_clear_error_and_is_set_aside(tmp_path, kind):
    acq = tmp_path / "acq.siff"
    shutil.copy(sample_path(), acq)
    bad = acq.with_name("acq.siffmasks.npz")
    HOSTILE[kind](bad)
    with pytest.raises(MaskFileError, match="acq.siffmasks.npz: ") as err:
        read_masks(bad, SHAPE)
    assert "pickle" not in str(err.value)
    content = bad.read_bytes()
    loaded = load_session(acq, SHAPE)
    assert loaded.document is None and "set aside" in loaded.messages[0]
    assert not bad.exists() and loaded.set_aside[0].read_bytes() == content


def test_session_file_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(3)
    rois = [("soma 1", (10, 20, 30), rng.random(SHAPE) > 0.7, True, False)]
    doc = SessionDocument(rois=rois, channel=1, registered=False, flim_params={1: {"a": 1}},
                          dff=(12.5, 40.0), timepoint=3, plane=2, average=4,
                          levels={0: (1.0, 9.0), 1: (0.0, 4.5)}, luts={1: "viridis"},
                          lifetime_range=(0.7, 3.0), tools={"tool": "brush"})
    path = write_session_file(tmp_path / "x.siffsession.npz", doc, SHAPE)
    with np.load(path, allow_pickle=False) as data:  # numpy reads it back, no pickles
        assert json.loads(str(data["document"]))["format"] == "siffviewer-session"
        np.testing.assert_array_equal(data["masks"][0], rois[0][2])
    back = load_masks(path, SHAPE)
    np.testing.assert_array_equal(back[0][2], rois[0][2])
    from siffviewer.model.session_file import read_session_file

    again = read_session_file(path, SHAPE)
    assert again.settings() == doc.settings()


# ------------------------------------------------------------------ shared FLIMParams

def test_two_threads_sharing_one_flimparams_leave_it_unchanged():
    params = FLIMParams(Exp(tau=2.5, frac=1.0, units="nanoseconds"),
                        Irf(tau_offset=1.2, tau_g=0.1, units="nanoseconds"), bin_width_ps=20)
    before = params.to_dict()
    io_ = libsiff.open_file(str(sample_path()))
    frames = [0]
    truth = io_.flim_map(None, frames=frames)[0] - 1.2e3 / 20  # offset in bins, analytic
    errors, results = [], []

    def work():
        try:
            for _ in range(400):
                results.append(io_.flim_map(params, frames=frames)[0])
        except Exception as e:  # noqa: BLE001 - collected for the assertion
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(2)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often: the old in-place conversion raced
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
        io_.close()
    assert errors == []
    assert params.to_dict() == before and params.units.value == "nanoseconds"
    for r in results:
        np.testing.assert_allclose(r, truth, rtol=1e-12, equal_nan=True)


def test_package_data_ships_the_sample_and_icons():
    """A plain `pip install .` has the sample: every file of siffviewer/data matches the
    package-data patterns setuptools reads from pyproject.toml."""
    import fnmatch
    from pathlib import Path

    import tomllib

    root = Path(__file__).resolve().parent.parent
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["siffviewer"]
    files = sorted(p.relative_to(root / "siffviewer").as_posix()
                   for p in (root / "siffviewer" / "data").iterdir())
    assert "data/sample.siff" in files and "data/siffviewer.png" in files
    for f in files:
        assert any(fnmatch.fnmatch(f, pat) for pat in patterns), f
    assert sample_path() == root / "siffviewer" / "data" / "sample.siff"


def test_legacy_masks_files_keep_opening(tmp_path, acq, capsys):
    """Today's .siffmasks.npz (and its autosave) open as sessions holding their ROIs."""
    from siffviewer.model.masks import AUTOSAVE_SUFFIX as LEGACY_AUTOSAVE

    m = MaskSet(SHAPE)
    region = np.zeros(SHAPE, bool)
    region[1, 10:20, 30:45] = True
    m.add_roi("old", mask=region)
    m.save(acq.with_name(acq.stem + ".siffmasks.npz"), source=str(acq))
    loaded = load_session(acq, SHAPE)
    assert loaded.source.name == "sample.siffmasks.npz" and not loaded.from_autosave
    np.testing.assert_array_equal(loaded.document.rois[0][2], region)
    m.add_roi("newer")
    m.save(acq.with_name(acq.stem + LEGACY_AUTOSAVE))
    import os
    os.utime(acq.with_name(acq.stem + LEGACY_AUTOSAVE), (2e9, 2e9))  # newer than the saved file
    loaded = load_session(acq, SHAPE)
    assert loaded.from_autosave and [r[0] for r in loaded.document.rois] == ["old", "newer"]
    assert main(["session", str(acq)]) == 0
    out = capsys.readouterr().out
    assert "(autosave)" in out and "ROIs:          2" in out and "old: 150 pixels in planes [1]" in out


def test_export_result_summaries_match_corrosiffpy(tmp_path, acq):
    """TraceExportResult: per-ROI mean photons and pooled lifetime against corrosiffpy."""
    corrosiffpy = pytest.importorskip("corrosiffpy")
    from siffviewer.model.export import TraceExportOptions, export_traces_file

    region = np.zeros(SHAPE, bool)
    region[:, 20:70, 30:90] = True
    m = MaskSet(SHAPE)
    m.add_roi("box", mask=region)
    masks_path = m.save(tmp_path / "m.siffmasks.npz")
    result = export_traces_file(acq, tmp_path / "t.csv", TraceExportOptions(masks=masks_path, raw=True))
    with SiffReader(acq) as sr:
        grid, bin_ns = sr.frame_grid(), sr.picoseconds_per_bin / 1000.0
    sio = corrosiffpy.open_file(str(acq))
    photons, weighted = np.zeros(grid.shape[0]), 0.0
    for z in range(SHAPE[0]):
        frames = [int(f) for f in grid[:, z, 0]]
        life, counts, _ = sio.sum_roi_flim(region[z], frames=frames, registration={})
        photons += counts
        weighted += np.nansum(np.asarray(life) * counts)
    assert result.roi_names == ["box"] and result.n_timepoints == grid.shape[0]
    assert result.mean_photons[0] == pytest.approx(photons.mean(), rel=1e-12)
    assert result.mean_lifetime_ns[0] == pytest.approx(weighted / photons.sum() * bin_ns, rel=1e-9)
    assert result.provenance["source_file"] == str(acq.resolve())


def test_lifetime_model_functions_match_corrosiffpy(acq):
    """The Qt-free analysis the Lifetime panel runs in the background, against corrosiffpy."""
    corrosiffpy = pytest.importorskip("corrosiffpy")
    from siffviewer.model import lifetime
    from siffviewer.model.session import Session

    session = Session(acq)
    try:
        frame = int(session.grid[5, 1, 0])
        counts, life_ns = lifetime.lifetime_map(session, [frame], registered=False)
        sio = corrosiffpy.open_file(str(acq))
        ref_life, ref_counts, _ = sio.flim_map(None, frames=[frame], registration={})
        bin_ns = session.reader.picoseconds_per_bin / 1000.0
        np.testing.assert_array_equal(counts, ref_counts[0])
        np.testing.assert_allclose(life_ns, ref_life[0] * bin_ns, rtol=1e-9, equal_nan=True)
        hist = lifetime.frames_histogram(session, 5, 1, 0)
        np.testing.assert_array_equal(hist, np.asarray(sio.get_histogram(frames=[frame])).ravel()[
            : len(hist)])
        assert hist.sum() == counts.sum()
    finally:
        session.close()


def test_deeply_nested_session_autosave_is_set_aside_and_the_saved_rois_load(tmp_path, acq):
    """An autosave whose JSON document nests 100,000 deep (RecursionError in json) is damage:
    it is set aside and the saved session's ROIs are what opening finds."""
    rois = [(n, (1, 2, 3), np.zeros(SHAPE, bool), False, True) for n in "ab"]
    save_session(acq, SessionDocument(rois=rois), SHAPE)
    auto = acq.with_name(acq.stem + AUTOSAVE_SUFFIX)
    arrays = {"masks": np.zeros((0, *SHAPE), bool), "names": np.array([], str),
              "colors": np.zeros((0, 3), np.uint8), "all_planes": np.zeros(0, bool),
              "visible": np.zeros(0, bool), "document": np.array("[" * 100_000 + "]" * 100_000)}
    with open(auto, "wb") as fh:
        np.savez(fh, **arrays)
    newer = session_path_for(acq).stat().st_mtime + 10
    os.utime(auto, (newer, newer))  # newer than the saved file, whatever the clock's grain
    loaded = load_session(acq, SHAPE)
    assert [r[0] for r in loaded.document.rois] == ["a", "b"] and not loaded.from_autosave
    assert "nested too deeply" in loaded.messages[0] and "set aside" in loaded.messages[0]
    assert not auto.exists() and len(loaded.set_aside) == 1
