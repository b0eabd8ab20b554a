"""Calibration against simulated truth: references of known lifetime and measured IRFs.

Truth: phasors of pure exponentials at the laser frequency written out by hand
(``g = 1 / (1 + (w tau)**2)``, ``s = w tau g``), and the lifetimes the simulator was given.
"""

import json

import numpy as np
import pytest

from flim_scenes import BIN_PS, IRF_OFFSET_NS, IRF_SIGMA_NS, TAU_BINS, histogram, write_scene
from libsiff import SiffReader
from libsiff.flim import FLIMParams, fit_params_to_data
from libsiff.flim.calibration import (
    Calibration,
    histogram_phasor,
    irf_from_file,
    reference_from_file,
    reference_from_roi,
)

PERIOD_NS = TAU_BINS * BIN_PS / 1000.0


def semicircle(tau_ns):
    wt = 2 * np.pi * tau_ns / PERIOD_NS
    g = 1.0 / (1.0 + wt * wt)
    return g, wt * g


def calibrated(cal, hist):
    _, re, im = histogram_phasor(hist, TAU_BINS)
    return cal.calibrate_phasor(re, im)


def test_reference_of_known_lifetime_puts_phasors_on_the_semicircle():
    rng = np.random.default_rng(11)
    reference = histogram(rng, 2 * 10**6, (4.0,), noise=0.02)
    cal = Calibration.from_reference(reference, 4.0, TAU_BINS, BIN_PS, channel=0)
    assert cal.source == "reference" and cal.frequency_mhz == pytest.approx(1e6 / (629 * 20))
    # the reference itself (its background removed by the calibration's noise estimate)
    g, s = calibrated(cal, reference / (1 - cal.extra["background_fraction"]))
    assert np.hypot(g - semicircle(4.0)[0], s - semicircle(4.0)[1]) < 0.01
    # samples of other lifetimes, measured on the same set-up, land at their own lifetime
    for tau in (0.6, 1.5, 2.8):
        g, s = calibrated(cal, histogram(rng, 10**6, (tau,)))
        tg, ts = semicircle(tau)
        assert abs(g - tg) < 0.01 and abs(s - ts) < 0.01, tau
        phase_tau, _ = cal.apparent_lifetime_ns(g, s)
        assert phase_tau == pytest.approx(tau, rel=0.03)
    # the IRF it implies matches the simulated one
    assert cal.offset_bins * BIN_PS / 1000 == pytest.approx(IRF_OFFSET_NS - BIN_PS / 2000, abs=0.02)
    assert cal.irf_sigma_bins * BIN_PS / 1000 == pytest.approx(IRF_SIGMA_NS, rel=0.1)


def test_the_raw_phasor_is_off_the_semicircle_without_calibration():
    rng = np.random.default_rng(12)
    _, re, im = histogram_phasor(histogram(rng, 10**6, (1.5,)), TAU_BINS)
    tg, ts = semicircle(1.5)
    assert np.hypot(re - tg, im - ts) > 0.1


def test_measured_irf_gives_fits_within_two_percent(tmp_path):
    rng = np.random.default_rng(13)
    irf = histogram(rng, 10**6, (1e-4,), noise=0.05)
    cal = Calibration.from_irf_histogram(irf, TAU_BINS, BIN_PS)
    assert cal.extra["background_fraction"] == pytest.approx(0.05, abs=0.01)
    sample = histogram(rng, 2 * 10**6, (0.6, 2.8), (0.4, 0.6), noise=0.02)
    fit = cal.fit(sample, n_exps=2)
    np.testing.assert_allclose(fit.taus, (0.6, 2.8), rtol=0.02)
    np.testing.assert_allclose(fit.fracs, (0.4, 0.6), atol=0.02)
    assert fit.uncertainties["tau_offset"] == 0.0  # the IRF was held
    one = cal.fit(histogram(rng, 10**6, (2.0,)), n_exps=1)
    assert one.taus[0] == pytest.approx(2.0, rel=0.02)
    # the phasor correction from the IRF agrees with the semicircle
    g, s = calibrated(cal, histogram(rng, 10**6, (2.0,)))
    assert np.hypot(g - semicircle(2.0)[0], s - semicircle(2.0)[1]) < 0.01
    # the same from a histogram file and from a .siff recording of the IRF
    np.save(tmp_path / "irf.npy", irf)
    from_npy = irf_from_file(tmp_path / "irf.npy", period_bins=TAU_BINS, bin_width_ps=BIN_PS)
    assert from_npy.offset_bins == pytest.approx(cal.offset_bins)
    with pytest.raises(ValueError, match="period_bins"):
        irf_from_file(tmp_path / "irf.npy")
    flat = np.ones((32, 32)) * 40.0
    path = write_scene(tmp_path / "irf.siff", [[(flat, (1e-4,), None, 0.05)]] * 5, (32, 32))
    from_siff = irf_from_file(path)
    assert from_siff.period_bins == TAU_BINS and from_siff.bin_width_ps == BIN_PS
    assert from_siff.offset_bins == pytest.approx(cal.offset_bins, abs=0.5)
    fit = from_siff.fit(sample, n_exps=2)
    np.testing.assert_allclose(fit.taus, (0.6, 2.8), rtol=0.02)


def test_reference_from_a_file_and_from_an_roi(tmp_path):
    shape = (32, 32)
    dye = np.full(shape, 30.0)
    path = write_scene(tmp_path / "dye.siff", [[(dye, (3.5,), None, 0.0)]] * 6, shape)
    cal = reference_from_file(path, 3.5)
    rng = np.random.default_rng(14)
    g, s = calibrated(cal, histogram(rng, 10**6, (1.0,)))
    assert np.hypot(g - semicircle(1.0)[0], s - semicircle(1.0)[1]) < 0.01
    with SiffReader(path) as sr:
        mask = np.zeros(shape, bool)
        mask[4:20, 4:20] = True
        roi_cal = reference_from_roi(sr, mask, range(6), 3.5)
    assert roi_cal.offset_bins == pytest.approx(cal.offset_bins, abs=0.3)
    assert roi_cal.phase_zero == pytest.approx(cal.phase_zero, abs=0.01)


def test_calibration_from_a_fit_and_json_round_trip():
    rng = np.random.default_rng(15)
    hist = histogram(rng, 2 * 10**6, (0.6, 2.8), (0.4, 0.6), noise=0.01)
    params = fit_params_to_data(hist, n_exps=2, bin_width_ps=BIN_PS, color_channel=1)
    cal = Calibration.from_fit(params, TAU_BINS)
    assert cal.channel == 1 and cal.source == "fit"
    g, s = calibrated(cal, histogram(rng, 10**6, (2.0,)))
    assert np.hypot(g - semicircle(2.0)[0], s - semicircle(2.0)[1]) < 0.01
    text = json.dumps(cal.to_dict())
    assert Calibration.from_dict(json.loads(text)) == cal
    assert isinstance(cal.irf().tau_offset, float)
    with pytest.raises(ValueError):
        Calibration(period_bins=0, bin_width_ps=20)
    with pytest.raises(ValueError):
        Calibration(period_bins=629, bin_width_ps=20, source="guess")
    with pytest.raises(ValueError):
        Calibration.from_dict({**cal.to_dict(), "class": "FLIMParams"})
    with pytest.raises(ValueError, match="unknown calibration fields"):
        Calibration.from_dict({**cal.to_dict(), "harmonic": 2})
    assert isinstance(params, FLIMParams)
