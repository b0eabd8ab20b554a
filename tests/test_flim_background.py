"""Background and neuropil correction, and lifetime standard errors, on a simulated file.

Scene: a disc ROI whose signal decays with 2.5 ns, on a background present everywhere that
decays with 0.7 ns and makes up 30 % of the ROI's photons; a corner without signal serves
as the background ROI. Truth: the simulator's lifetimes, and the mean arrival bin of
signal-only photons drawn by the simulator's sampler.
"""

import json

import numpy as np
import pytest

from flim_scenes import BIN_PS, TAU_BINS, write_scene
from libsiff import SiffReader
from libsiff.flim.background import (
    BackgroundSettings,
    lifetime_columns,
    neuropil_mask,
    roi_trace_table,
)
from libsiff.flim.calibration import Calibration
from libsiff.flim.roi_photons import roi_photon_moments
from libsiff.simulate import simulate_histogram

SHAPE = (64, 64)
SIGNAL = 4.0                     # signal photons per ROI pixel and frame
BACKGROUND = SIGNAL * 0.3 / 0.7  # background: 30 % of the ROI's photons
N_FRAMES = 60
TAU_SIGNAL, TAU_BACKGROUND = 2.5, 0.7


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    yy, xx = np.mgrid[:SHAPE[0], :SHAPE[1]]
    roi = (yy - 36) ** 2 + (xx - 36) ** 2 <= 12 ** 2
    corner = (yy < 14) & (xx < 14)
    signal = np.where(roi, SIGNAL, 0.0)
    background = np.full(SHAPE, BACKGROUND)
    frame = [(signal, (TAU_SIGNAL,), None, 0.0), (background, (TAU_BACKGROUND,), None, 0.0)]
    path = write_scene(tmp_path_factory.mktemp("bg") / "bg.siff", [frame] * N_FRAMES, SHAPE,
                       seed=3)
    # an IRF-based calibration (the IRF is the simulator's)
    rng = np.random.default_rng(4)
    irf = np.bincount(simulate_histogram(10**6, (1e-4,), None, 1.2, 0.12, TAU_BINS, BIN_PS,
                                         rng=rng), minlength=TAU_BINS + 2)
    cal = Calibration.from_irf_histogram(irf, TAU_BINS, BIN_PS)
    signal_bins = simulate_histogram(4 * 10**6, (TAU_SIGNAL,), None, 1.2, 0.12, TAU_BINS, BIN_PS,
                                     rng=rng)
    return dict(path=path, roi=roi, corner=corner, cal=cal,
                truth_mean_bins=float(signal_bins.mean()))


def test_background_roi_removes_the_bias_of_background_photons(scene):
    cal = scene["cal"]
    with SiffReader(scene["path"]) as sr:
        cols = roi_trace_table(sr.siffio, scene["roi"], np.arange(N_FRAMES), cal,
                               background_mask=scene["corner"])
        plain = roi_trace_table(sr.siffio, scene["roi"], np.arange(N_FRAMES), cal)
    bg_share = cols["background_photons"].sum() / cols["photons"].sum()
    assert bg_share == pytest.approx(0.3, abs=0.02)
    # pooled over time (photon-weighted), the corrected phase lifetime is the signal's
    g = np.nansum(cols["phasor_g"] * cols["signal_photons"]) / cols["signal_photons"].sum()
    s = np.nansum(cols["phasor_s"] * cols["signal_photons"]) / cols["signal_photons"].sum()
    tau, _ = cal.apparent_lifetime_ns(g, s)
    assert tau == pytest.approx(TAU_SIGNAL, rel=0.02)
    g0 = np.sum(plain["phasor_g"] * plain["photons"]) / plain["photons"].sum()
    s0 = np.sum(plain["phasor_s"] * plain["photons"]) / plain["photons"].sum()
    tau0, _ = cal.apparent_lifetime_ns(g0, s0)
    assert abs(tau0 / TAU_SIGNAL - 1) > 0.15  # uncorrected: visibly off
    # the empirical lifetime (mean arrival) agrees with signal-only photons
    w = cols["signal_photons"]
    mean = np.sum(cols["mean_arrival_bins"] * w) / w.sum()
    assert mean == pytest.approx(scene["truth_mean_bins"], rel=0.02)
    assert abs(np.sum(plain["mean_arrival_bins"] * plain["photons"]) / plain["photons"].sum()
               / scene["truth_mean_bins"] - 1) > 0.1
    # each timepoint's standard error covers its scatter around the truth
    truth_ns = cal.empirical_lifetime_ns(scene["truth_mean_bins"])
    z = (cols["empirical_lifetime_ns"] - truth_ns) / cols["empirical_lifetime_se_ns"]
    assert 0.75 < np.std(z) < 1.3 and abs(np.mean(z)) < 0.5
    z0 = (plain["empirical_lifetime_ns"] - np.mean(plain["empirical_lifetime_ns"])) / \
        plain["empirical_lifetime_se_ns"]
    assert 0.75 < np.std(z0) < 1.3
    # so does the phase lifetime's
    zp = (cols["phase_lifetime_ns"] - TAU_SIGNAL) / cols["phase_lifetime_se_ns"]
    assert 0.75 < np.std(zp) < 1.3 and abs(np.mean(zp)) < 0.5
    # background-subtracted errors are larger than those of the raw photons
    assert np.all(cols["empirical_lifetime_se_ns"] > plain["empirical_lifetime_se_ns"])


def test_standard_error_is_the_arrival_time_spread_over_root_n(scene):
    with SiffReader(scene["path"]) as sr:
        m = roi_photon_moments(sr.siffio, scene["roi"][None], np.arange(N_FRAMES), TAU_BINS)
        hist = sr.siffio.get_histogram_masked(scene["roi"], np.arange(N_FRAMES)).astype(float)
    bins = np.arange(hist.shape[1])
    n = hist.sum(axis=1)
    mean = hist @ bins / n
    sd = np.sqrt(hist @ bins**2 / n - mean**2)
    np.testing.assert_allclose(m.counts[0], n)
    np.testing.assert_allclose(m.mean_bins[0], mean)
    np.testing.assert_allclose(m.mean_bins_se[0], sd / np.sqrt(n), rtol=1e-9)
    pooled = m.binned(10)
    assert pooled.counts.shape == (1, N_FRAMES // 10)
    np.testing.assert_allclose(pooled.counts[0], n.reshape(-1, 10).sum(axis=1))


def test_neuropil_annulus_and_correction(scene):
    roi = scene["roi"]
    ring = neuropil_mask(roi, gap_px=2, width_px=6)
    assert not (ring & roi).any() and ring.any()
    from scipy import ndimage
    d = ndimage.distance_transform_edt(~roi)
    assert d[ring].min() > 2 and d[ring].max() <= 8
    other = np.zeros_like(roi)
    other[20:30, 48:60] = True
    assert not (neuropil_mask(roi, 2, 6, exclude=other) & other).any()
    settings = BackgroundSettings(neuropil=True, gap_px=2, width_px=6)
    with SiffReader(scene["path"]) as sr:
        cols = roi_trace_table(sr.siffio, roi, np.arange(N_FRAMES), scene["cal"], settings)
    # the annulus holds only background: its photons scaled to the ROI's area
    expected = BACKGROUND * roi.sum()
    assert cols["neuropil_photons"].mean() == pytest.approx(expected, rel=0.03)
    np.testing.assert_allclose(cols["neuropil_corrected_photons"],
                               cols["photons"] - 0.7 * cols["neuropil_photons"])
    assert BackgroundSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings
    with pytest.raises(ValueError):
        BackgroundSettings(width_px=0)


def test_lifetime_columns_of_several_rois_at_once(scene):
    masks = np.stack([scene["roi"], scene["corner"]])
    with SiffReader(scene["path"]) as sr:
        m = roi_photon_moments(sr.siffio, masks, np.arange(N_FRAMES).reshape(-1, 2), TAU_BINS)
    assert m.counts.shape == (2, N_FRAMES // 2)
    cols = lifetime_columns(m, scene["cal"])
    tau, _ = scene["cal"].apparent_lifetime_ns(
        np.sum(cols["phasor_g"][1] * m.counts[1]) / m.counts[1].sum(),
        np.sum(cols["phasor_s"][1] * m.counts[1]) / m.counts[1].sum())
    assert tau == pytest.approx(TAU_BACKGROUND, rel=0.03)  # the corner is pure background
