"""Lifetimes in the app, the session and the exports, against the truth of simulated files:
phasor cursor -> new ROI selects the simulated short-lifetime region; a background ROI gives
the simulated signal lifetime through the exported CSV; a calibration survives reopening;
the CLI equals the app with the new columns; version-1 session files migrate; per-plane
photons and file frames match the frames themselves; the fraction fit finds a simulated step.
"""

import html
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from flim_scenes import BIN_PS, IRF_OFFSET_NS, IRF_SIGMA_NS, TAU_BINS, histogram, write_scene
from libsiff import SiffReader
from libsiff.flim import Calibration, Exp, FLIMParams, Irf
from siffviewer.cli import main
from siffviewer.model.flim_settings import PhasorCursor, PhasorSettings
from siffviewer.model.session_file import (
    SessionDocument,
    read_session_file,
    save_session,
    session_path_for,
)
from siffviewer.resources import sample_path
from windows import make_window

PERIOD_NS = TAU_BINS * BIN_PS / 1000.0
SAMPLE_SHAPE = (3, 96, 112)


def semicircle(tau_ns):
    """The universal semicircle at the laser harmonic (analytic)."""
    wt = 2 * np.pi * tau_ns / PERIOD_NS
    return 1 / (1 + wt * wt), wt / (1 + wt * wt)


def timeless(text: str) -> str:
    """An export without its ``# export_time`` line (the one line that differs by run)."""
    lines = text.splitlines(keepends=True)
    assert sum(line.startswith("# export_time: ") for line in lines) == 1
    return "".join(line for line in lines if not line.startswith("# export_time: "))



def truth_calibration(channel=0):
    """The simulator's IRF (offset and width) as a calibration: independent truth."""
    params = FLIMParams(Exp(tau=1.0, frac=1.0, units="nanoseconds"),
                        Irf(tau_offset=IRF_OFFSET_NS, tau_g=IRF_SIGMA_NS, units="nanoseconds"),
                        bin_width_ps=BIN_PS)
    return Calibration.from_fit(params, TAU_BINS, channel=channel)


@pytest.fixture(scope="module")
def two_populations(tmp_path_factory):
    """16 x 16 blocks, alternately 0.6 ns and 2.8 ns, ~240 photons per pixel over 4 frames,
    and a measured IRF histogram file."""
    shape = (48, 48)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    short = ((yy // 16) + (xx // 16)) % 2 == 0
    layers = [(np.where(short, 60.0, 0.0), (0.6,), None, 0.02),
              (np.where(short, 0.0, 60.0), (2.8,), None, 0.02)]
    folder = tmp_path_factory.mktemp("two")
    path = write_scene(folder / "two.siff", [layers] * 4, shape, seed=5)
    irf = folder / "irf.npy"
    np.save(irf, histogram(np.random.default_rng(6), 10**6, (1e-4,)))
    return path, short, irf


def test_phasor_cursor_to_new_roi_selects_the_short_population(qtbot, tmp_path, two_populations):
    src, short, irf = two_populations
    path = tmp_path / "two.siff"
    shutil.copy(src, path)
    w = make_window(qtbot, tmp_path, path)
    w.keep_session_files = False
    w.show_analysis("Phasor")
    job = w.calibration_panel.from_irf_file(irf)
    assert job.running is False
    cal = w.flim.calibrations[0]
    assert cal.source == "irf"
    # bins are floor(t / bin): the offset in bins is within one bin of the simulated one
    assert cal.offset_bins * BIN_PS / 1000 == pytest.approx(IRF_OFFSET_NS, abs=BIN_PS / 1000)
    assert "source: irf" in w.calibration_panel.values.text()
    # a fit holding the measured IRF finds the simulated lifetimes (within 2 % or three of
    # its reported standard errors: the long component has only 44 % of ~550,000 photons)
    w.lifetime_panel.source.setCurrentIndex(1)  # the current frame(s): every pixel
    w.state.update(average=4)
    w.lifetime_panel.hold_irf.setChecked(True)
    w.lifetime_panel.start_fit()
    fit = w.session.flim_params_for(0).copy()
    fit.convert_units("nanoseconds")
    order = np.argsort([e.tau for e in fit.exps])
    for truth, i in zip((0.6, 2.8), order, strict=True):
        err = abs(fit.exps[i].tau - truth)
        assert err < max(0.02 * truth, 3 * fit.uncertainties[f"tau_{i}"])
    assert fit.exps[order[0]].frac == pytest.approx(5 / 9, abs=0.02)  # 5 of 9 blocks short
    assert fit.irf.tau_offset == pytest.approx(cal.offset_bins * BIN_PS / 1000)
    w.flim.set_phasor(PhasorSettings("projection", 200.0, 3, 1))
    ph = w.phasor_panel.phasor
    assert ph is not None and np.isfinite(ph.real).sum() > 0.9 * short.size
    g0, s0 = semicircle(0.6)
    g1, s1 = semicircle(2.8)
    w.phasor_panel.add_cursor(PhasorCursor("circle", (g0, s0), 0.5 * np.hypot(g0 - g1, s0 - s1)))
    selected = w.flim.selection
    # the cursor's pixels light up in the frame view's overlay (yellow), through the model
    assert selected is not None and selected.any()
    assert (w._overlay[selected] == (255, 230, 0, 150)).all()
    assert not (w._overlay[~selected] == (255, 230, 0, 150)).all(axis=-1).any()
    roi_id = w.phasor_panel.cursor_to_roi()
    roi = w.masks.get(roi_id)
    picked = roi.mask[0]
    np.testing.assert_array_equal(picked, selected)
    tp = np.sum(picked & short)
    assert tp / picked.sum() >= 0.95 and tp / short.sum() >= 0.95
    # the phasor settings and the cursor are saved with the session
    w.keep_session_files = True
    saved = w.save_masks()
    doc = read_session_file(saved, (1, 48, 48))
    assert PhasorSettings.from_dict(doc.phasor).cursors[0].center == pytest.approx((g0, s0))
    assert doc.calibrations[0]["source"] == "irf"
    w.close()


@pytest.fixture(scope="module")
def background_scene(tmp_path_factory):
    """A 2.5 ns ROI on a 0.7 ns background that is 30 % of the ROI's photons; the background
    alone in the right third (no signal there)."""
    shape = (40, 60)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    cell = (yy >= 10) & (yy < 30) & (xx >= 5) & (xx < 25)
    bg_region = (yy >= 5) & (yy < 35) & (xx >= 40) & (xx < 58)
    layers = [(np.where(cell, 35.0, 0.0), (2.5,), None, 0.0), (np.full(shape, 15.0), (0.7,), None, 0.0)]
    path = write_scene(tmp_path_factory.mktemp("bg") / "bg.siff", [layers] * 6, shape, seed=9)
    return path, cell, bg_region


def test_polygon_cursor_dragged_selects_the_long_population(qtbot, tmp_path, two_populations):
    src, short, irf = two_populations
    path = tmp_path / "two.siff"
    shutil.copy(src, path)
    w = make_window(qtbot, tmp_path, path)
    w.keep_session_files = False
    w.show_analysis("Phasor")
    w.calibration_panel.from_irf_file(irf)
    w.flim.set_phasor(PhasorSettings("projection", 200.0, 3, 1))
    w.phasor_panel.add_cursor(PhasorCursor("polygon", vertices=((0.0, 0.0), (0.16, 0.0),
                                                                (0.16, 0.16), (0.0, 0.16))))
    assert not w.flim.selection.any()
    # drag the polygon (as the mouse does) so that it encloses the 2.8 ns population
    g1, s1 = semicircle(2.8)
    item = w.phasor_panel._cursor_items[0]
    item.setPos((g1 - 0.08, s1 - 0.08), finish=True)
    cursor = w.flim.phasor.cursors[0]
    assert cursor.vertices[0] == pytest.approx((g1 - 0.08, s1 - 0.08))
    picked = w.flim.selection
    tp = np.sum(picked & ~short)
    assert tp / picked.sum() >= 0.95 and tp / (~short).sum() >= 0.95
    w.close()


def test_uncalibrated_phasors_outside_the_semicircle_are_plotted(qtbot, tmp_path,
                                                                 background_scene):
    """Without a calibration the IRF delay rotates the phasors off the semicircle's view: the
    plot grows to hold them and every pixel counted in "pixels shown" is in the density."""
    src, _, _ = background_scene
    path = tmp_path / "bg.siff"
    shutil.copy(src, path)
    w = make_window(qtbot, tmp_path, path)
    w.show_analysis("Phasor")
    panel = w.phasor_panel
    w.flim.set_phasor(PhasorSettings("projection", 50.0, 1, 0))
    ph = panel.phasor
    n = int(np.isfinite(ph.real).sum())
    assert n > 0 and np.nanmax(ph.imag) > 0.65  # beyond the semicircle's default view
    shown = panel.density.image
    assert np.nansum(10.0 ** shown - 1.0) == pytest.approx(n, rel=1e-9)
    (g0, g1), (s0, s1) = panel.plot.getViewBox().viewRange()
    assert g0 <= np.nanmin(ph.real) and np.nanmax(ph.real) <= g1
    assert s0 <= np.nanmin(ph.imag) and np.nanmax(ph.imag) <= s1
    assert f"{n:,} pixels shown" in panel.info.text()
    assert "uncalibrated" in panel.plot.getAxis("bottom").labelText
    # frame by frame (fewer photons: more scattered points) the view only grows
    w.flim.set_phasor(PhasorSettings("frames", 5.0, 1, 0))
    views = []
    for t in range(4):
        w.state.update(timepoint=t)
        ph = panel.phasor
        (g0, g1), (s0, s1) = views[-1] if views else ((0, 0), (0, 0))
        views.append(panel.plot.getViewBox().viewRange())
        (v0, v1), (u0, u1) = views[-1]
        assert v0 <= np.nanmin(ph.real) and np.nanmax(ph.real) <= v1
        assert u0 <= np.nanmin(ph.imag) and np.nanmax(ph.imag) <= u1
        if t:
            assert v0 <= g0 and g1 <= v1 and u0 <= s0 and s1 <= u1
    w.close()


def test_warnings_about_chosen_rois_and_none():
    from siffviewer.model.flim_traces import FlimColumns

    cols = FlimColumns(warnings=["ROI 'a': the neuropil annulus has no pixels",
                                 "ROI 'a b' pooled fit: tau_0 at a bound",
                                 "ROI 'ab' fraction fit: 3 timepoint(s) ended at a bound",
                                 "the calibration has no IRF"])
    assert cols.warnings_about(n for n in ("a",)) == [cols.warnings[0], cols.warnings[3]]
    assert cols.warnings_about(["a b", "ab"]) == cols.warnings[1:]


def test_lifetime_traces_keep_bands_and_warnings_in_bounds(qtbot, tmp_path):
    """A fraction band stays inside the fraction plot even for errors of 10^7 (a degenerate
    fit, e.g. two components of a single-lifetime background); the fits' warnings are counted
    in one line, their text on hover."""
    import pyqtgraph as pg

    from siffviewer.model.flim_settings import FractionFitSettings
    from siffviewer.qt.flim_traces_view import FRACTION_RANGE, _band


    path, cell, bg_region = step_on_background(tmp_path)
    doc = SessionDocument(rois=[("cell", (255, 0, 0), cell[None], False, True),
                                ("background", (0, 255, 0), bg_region[None], False, True)],
                          backgrounds={"cell": {"background_roi": "background"}})
    save_session(path, doc, (1, *cell.shape))
    w = make_window(qtbot, tmp_path, path)
    view = w.flim_traces_view
    plot = view.fraction_plot  # (a PlotItem outside a window crashes when collected)
    x = np.arange(5.0)
    _band(plot, x, np.full(5, 0.5), np.array([0.1, 1e7, np.nan, 2.0, 0.0]), (0, 255, 0),
          limits=FRACTION_RANGE)
    (band,) = [i for i in plot.items if isinstance(i, pg.FillBetweenItem)]
    lo, hi = (c.getData()[1] for c in band.curves)
    np.testing.assert_allclose(lo, [0.4, -0.05, -0.05, 0.5])
    np.testing.assert_allclose(hi, [0.6, 1.05, 1.05, 0.5])
    w.show_analysis("Lifetime traces")
    w.flim.set_fraction(FractionFitSettings(True, 2, 1, 4))
    view.set_selected([r.roi_id for r in w.masks.rois])
    warnings = view.result[1].warnings
    assert warnings  # the background ROI's two-component fit of one lifetime
    assert len([i for i in view.fraction_plot.items if isinstance(i, pg.FillBetweenItem)]) == 2
    text, tip = view.notes.text(), view.notes.toolTip()
    for roi in w.masks.rois:  # the key to the lines' colours
        r, g, b = roi.color
        assert f"color:rgb({r},{g},{b})'>■</span>&nbsp;{roi.name}" in text
    assert f"⚠ {len(warnings)} warning" in text and "hover to read" in text
    assert all(w not in text and html.escape(w) in tip for w in warnings)
    w.close()


def copy_with_background_session(background_scene, folder):
    """A copy of the scene in ``folder`` with a saved session: ROI "cell" (calibrated) whose
    background is ROI "background"."""
    src, cell, bg = background_scene
    path = folder / "bg.siff"
    shutil.copy(src, path)
    doc = SessionDocument(rois=[("cell", (255, 0, 0), cell[None], False, True),
                                ("background", (0, 255, 0), bg[None], False, True)],
                          calibrations={0: truth_calibration().to_dict()},
                          backgrounds={"cell": {"background_roi": "background"}})
    save_session(path, doc, (1, *cell.shape))
    return path


def test_background_roi_gives_the_signal_lifetime_through_the_csv(tmp_path, background_scene,
                                                                   capsys):
    path = copy_with_background_session(background_scene, tmp_path)
    out = tmp_path / "t.csv"
    assert main(["export-traces", str(path), "-o", str(out)]) == 0, capsys.readouterr().err
    text = out.read_text()
    assert '# background cell: {"neuropil": false' in text and '"source": "fit"' in text
    df = pd.read_csv(out, comment="#")
    rows = df[df.roi == "cell"]
    # background 15 / (35 + 15) = 30 % of the ROI's photons
    assert (rows.background_photons / rows.photons).mean() == pytest.approx(0.3, abs=0.02)
    assert rows.phase_lifetime_ns.mean() == pytest.approx(2.5, rel=0.02)
    assert abs(rows.lifetime_ns.mean() - 2.5) / 2.5 > 0.15   # uncorrected: visibly off
    assert (rows.phase_lifetime_se_ns > 0).all() and (rows.lifetime_se_ns > 0).all()
    # the standard error is what the timepoints scatter by (photon statistics)
    assert rows.corrected_lifetime_ns.std() == pytest.approx(
        rows.corrected_lifetime_se_ns.mean(), rel=0.6)
    # the wide format carries the same columns per ROI
    wide = tmp_path / "wide.csv"
    assert main(["export-traces", str(path), "-o", str(wide), "--wide"]) == 0
    dw = pd.read_csv(wide, comment="#")
    for col in ("phase_lifetime_ns", "background_photons", "lifetime_se_ns"):
        np.testing.assert_array_equal(dw[f"cell {col}"].to_numpy(), rows[col].to_numpy())


def test_calibration_survives_reopen_and_the_cli_equals_the_app(qtbot, tmp_path,
                                                                two_populations, capsys):
    src, short, _ = two_populations
    path = tmp_path / "two.siff"
    shutil.copy(src, path)
    w = make_window(qtbot, tmp_path, path)
    long_roi = w.masks.add_roi("long")
    w.masks.apply_region(long_roi.roi_id, 0, ~short)
    short_roi = w.masks.add_roi("short")
    w.masks.apply_region(short_roi.roi_id, 0, short)
    w.masks_panel.select(long_roi.roi_id)
    assert w.calibration_panel.from_reference_roi(2.8).running is False
    cal = w.flim.calibrations[0]
    assert cal.source == "reference" and cal.reference_tau_ns == 2.8
    w.flim.set_phasor(PhasorSettings("projection", 200.0, 3, 1))
    ph = w.phasor_panel.phasor
    # a reference of known tau puts its pixels on the semicircle at tau (their 2 % uniform
    # background shrinks a phasor at the laser harmonic by 0.98)
    g1, s1 = semicircle(2.8)
    assert np.nanmedian(ph.real[~short]) == pytest.approx(0.98 * g1, abs=0.01)
    assert np.nanmedian(ph.imag[~short]) == pytest.approx(0.98 * s1, abs=0.01)
    w.flim.set_background("short", None)
    before = tmp_path / "before.csv"
    w.export_traces(before, per_plane=True)
    # the Traces tab subtracts the same calibration's IRF offset as the export
    shown = w.traces_panel.traces
    exported = pd.read_csv(before, comment="#")
    for r, name in enumerate(shown.names):
        np.testing.assert_allclose(shown.lifetime_ns[r],
                                   exported[exported.roi == name].lifetime_ns, rtol=1e-12)
    assert shown.offset_ns == pytest.approx(cal.offset_bins * BIN_PS / 1000)
    assert w.save_masks() == session_path_for(path)
    w.close()

    w2 = make_window(qtbot, tmp_path, path)
    assert w2.flim.calibrations[0].to_dict() == cal.to_dict()
    assert "source: reference" in w2.calibration_panel.values.text()
    after = tmp_path / "after.csv"
    w2.export_traces(after, per_plane=True)
    assert timeless(after.read_text()) == timeless(before.read_text())
    w2.close()
    cli = tmp_path / "cli.csv"
    assert main(["export-traces", str(path), "-o", str(cli), "--per-plane"]) == 0, \
        capsys.readouterr().err
    assert timeless(cli.read_text()) == timeless(before.read_text())
    df = pd.read_csv(cli, comment="#")
    for col in ("lifetime_se_ns", "phasor_g", "phase_lifetime_ns", "photons_plane0", "frame"):
        assert col in df.columns
    # calibrated on the long population: its phase lifetime is 2.8 ns, the short one's 0.6
    assert df[df.roi == "long"].phase_lifetime_ns.mean() == pytest.approx(2.8, rel=0.03)
    assert df[df.roi == "short"].phase_lifetime_ns.mean() == pytest.approx(0.6, abs=0.08)


def _as_version_1(path, flim_params: dict) -> None:
    """Rewrite a session file as version 1 wrote it: FLIMParams JSON per channel, no
    calibrations or other lifetime settings."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    doc = json.loads(str(arrays["document"]))
    for key in ("calibrations", "backgrounds", "fraction_fit", "phasor"):
        doc.pop(key)
    doc["version"] = 1
    doc["flim_params"] = flim_params
    arrays["document"] = np.array(json.dumps(doc))
    np.savez_compressed(path, **arrays)


def test_version_1_session_with_flimparams_migrates(qtbot, tmp_path, capsys):
    path = tmp_path / "sample.siff"
    shutil.copy(sample_path(), path)
    mask = np.zeros(SAMPLE_SHAPE, bool)
    mask[:, 20:60, 20:60] = True
    saved = save_session(path, SessionDocument(rois=[("cell", (255, 0, 0), mask, True, True)],
                                               channel=1), SAMPLE_SHAPE)
    params = FLIMParams(Exp(tau=2.0, frac=1.0, units="nanoseconds"),
                        Irf(tau_offset=1.1, tau_g=0.15, units="nanoseconds"), bin_width_ps=20)
    _as_version_1(saved, {"1": params.to_dict()})
    old = read_session_file(saved, SAMPLE_SHAPE)
    assert old.calibrations == {} and 1 in old.flim_params
    w = make_window(qtbot, tmp_path, path)
    cal = w.flim.calibration_for(w.session, 1, w.session.flim_params_for(1))
    assert cal.source == "fit" and cal.offset_bins * 0.02 == pytest.approx(1.1)
    assert cal.irf_sigma_bins * 0.02 == pytest.approx(0.15)
    out = tmp_path / "app.csv"
    w.export_traces(out)
    w.flim.set_calibration(1, cal)  # what "From current fit" stores
    assert w.save_masks() == saved
    w.close()
    with np.load(saved, allow_pickle=False) as data:
        new = json.loads(str(data["document"]))
    assert new["version"] == 2 and new["calibrations"]["1"]["source"] == "fit"
    # lifetimes: mean arrival time of the ROI (libsiff's corrosiffpy-compatible sum) minus
    # the old fit's IRF offset
    df = pd.read_csv(out, comment="#")
    with SiffReader(path) as sr:
        mean_bins = np.asarray(sr.sum_masks_flim(mask[None], color_channel=2)).ravel()
    np.testing.assert_allclose(df.lifetime_ns.to_numpy(), mean_bins * 0.02 - 1.1, rtol=1e-9)


def test_frame_and_per_plane_photons_match_the_frames(tmp_path, capsys):
    path = tmp_path / "sample.siff"
    shutil.copy(sample_path(), path)
    mask = np.zeros(SAMPLE_SHAPE, bool)
    mask[1, 10:50, 30:80] = True
    mask[2, 40:90, 5:60] = True
    save_session(path, SessionDocument(rois=[("cell", (255, 0, 0), mask, False, True)],
                                       channel=0), SAMPLE_SHAPE)
    out = tmp_path / "t.csv"
    assert main(["export-traces", str(path), "-o", str(out), "--per-plane"]) == 0
    header = [line for line in out.read_text().splitlines() if line.startswith("#")]
    for key in ("app_version", "export_time", "frame_rate_hz: 30", "pixel_size_um",
                "bin_width_ps: 20"):
        assert any(line.startswith(f"# {key}") for line in header), key
    df = pd.read_csv(out, comment="#")
    # ScanImage order: 3 planes + 1 flyback, 2 colours per volume; the ROI starts in plane 1
    t = df.timepoint.to_numpy()
    np.testing.assert_array_equal(df.frame.to_numpy(), t * 8 + 1 * 2 + 0)
    assert df.planes.iloc[0] == "1;2"
    assert df.photons_plane0.isna().all()
    with SiffReader(path) as sr:
        for z in (1, 2):
            frames = t * 8 + z * 2
            images = sr.siffio.get_frames(frames.tolist(), registration={})
            expected = np.asarray(images)[:, mask[z]].sum(axis=1)
            np.testing.assert_array_equal(df[f"photons_plane{z}"].to_numpy(), expected)
    np.testing.assert_array_equal(df.photons_plane1 + df.photons_plane2, df.photons)


def test_fraction_fit_follows_a_step_through_the_csv(tmp_path):
    """Long fraction 0.3 then 0.6 (0.8 ns and 3.0 ns) at ~10,000 photons per timepoint."""
    shape = (20, 20)
    frames = [[(np.full(shape, 25.0), (0.8, 3.0), (0.7, 0.3) if i < 20 else (0.4, 0.6), 0.0)]
              for i in range(40)]
    path = write_scene(tmp_path / "step.siff", frames, shape, seed=11)
    doc = SessionDocument(rois=[("all", (255, 0, 0), np.ones((1, *shape), bool), False, True)],
                          fraction_fit={"enabled": True, "n_exps": 2, "bin_timepoints": 1})
    save_session(path, doc, (1, *shape))
    out = tmp_path / "t.csv"
    assert main(["export-traces", str(path), "-o", str(out)]) == 0
    assert '# fraction_fit: {"enabled": true' in out.read_text()
    df = pd.read_csv(out, comment="#")
    truth = np.where(df.timepoint < 20, 0.3, 0.6)
    err = df.long_fraction.to_numpy() - truth
    assert np.abs(err).max() < 0.05 and np.abs(err).mean() < 0.02
    covered = np.mean(np.abs(err) <= df.long_fraction_se.to_numpy())
    assert 0.45 <= covered <= 0.9
    # with per-plane columns the ROI histograms come from a second pass: the same fractions
    again = tmp_path / "again.csv"
    assert main(["export-traces", str(path), "-o", str(again), "--per-plane"]) == 0
    df2 = pd.read_csv(again, comment="#")
    np.testing.assert_array_equal(df2.long_fraction, df.long_fraction)
    np.testing.assert_array_equal(df2.photons_plane0, df.photons)


def step_on_background(folder):
    """Long fraction 0.3 then 0.6 (40 timepoints) of 0.8 / 3.0 ns signal photons in the left
    half, on a 0.5 ns background everywhere (30 % of the left half's photons); the background
    alone in the right part."""
    shape = (20, 40)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    cell = xx < 20
    bg_region = xx >= 26
    frames = [[(np.where(cell, 35.0, 0.0), (0.8, 3.0), (0.7, 0.3) if i < 20 else (0.4, 0.6),
                0.0), (np.full(shape, 15.0), (0.5,), None, 0.0)] for i in range(40)]
    return write_scene(folder / "step_bg.siff", frames, shape, seed=12), cell, bg_region


def test_fraction_fit_of_an_roi_with_a_background_roi_is_the_signals(tmp_path):
    """Long fraction 0.3 then 0.6 of the signal photons (0.8 ns and 3.0 ns) on a 0.5 ns
    background that is 30 % of the ROI's photons; the background alone in the right third.
    With the background ROI the CSV's fractions follow the signal; the ROI without one (the
    same pixels) reads the background's short photons as a smaller long fraction."""
    path, cell, bg_region = step_on_background(tmp_path)
    shape = cell.shape
    speck = np.zeros(shape, bool)
    speck[10, 10] = True  # ~50 photons per timepoint: too few for two components
    doc = SessionDocument(rois=[("cell", (255, 0, 0), cell[None], False, True),
                                ("plain", (0, 0, 255), cell[None], False, True),
                                ("background", (0, 255, 0), bg_region[None], False, True),
                                ("speck", (0, 255, 255), speck[None], False, True)],
                          backgrounds={"cell": {"background_roi": "background"}},
                          fraction_fit={"enabled": True, "n_exps": 2, "bin_timepoints": 1})
    save_session(path, doc, (1, *shape))
    out = tmp_path / "t.csv"
    assert main(["export-traces", str(path), "-o", str(out)]) == 0
    df = pd.read_csv(out, comment="#")
    rows, plain = df[df.roi == "cell"], df[df.roi == "plain"]
    assert (rows.background_photons / rows.photons).mean() == pytest.approx(0.3, abs=0.02)
    truth = np.where(rows.timepoint < 20, 0.3, 0.6)
    err = rows.long_fraction.to_numpy() - truth
    assert np.abs(err).mean() < 0.02 and np.abs(err).max() < 0.06
    assert 0.45 <= np.mean(np.abs(err) <= rows.long_fraction_se.to_numpy()) <= 0.9
    assert (plain.long_fraction.to_numpy() - truth).mean() < -0.07
    # the fraction fit's warnings name their ROI
    warnings = [line for line in out.read_text().splitlines() if line.startswith("# warning")]
    assert any("ROI 'speck' fraction fit:" in line for line in warnings), warnings
    assert not any(re.search(r"ROI \d+:", line) for line in warnings), warnings


def test_renamed_rois_keep_their_background_correction(qtbot, tmp_path, background_scene,
                                                       capsys):
    """Renaming the corrected ROI and its background ROI in the app keeps the correction
    (saved by name): the exported background share is still the simulated 30 %."""
    path = copy_with_background_session(background_scene, tmp_path)
    w = make_window(qtbot, tmp_path, path)
    ids = {r.name: r.roi_id for r in w.masks.rois}
    w.masks.set_property(ids["background"], "name", "neuropil")
    w.masks.set_property(ids["cell"], "name", "soma")
    assert w.save_masks() is not None
    w.close()
    out = tmp_path / "t.csv"
    assert main(["export-traces", str(path), "-o", str(out)]) == 0, capsys.readouterr().err
    rows = pd.read_csv(out, comment="#").query("roi == 'soma'")
    assert (rows.background_photons / rows.photons).mean() == pytest.approx(0.3, abs=0.02)
    assert rows.phase_lifetime_ns.mean() == pytest.approx(2.5, rel=0.02)
