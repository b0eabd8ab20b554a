"""Fixed-lifetime fraction fit over time, and fit guardrails, against simulated truth.

Truth: the long-lifetime fraction the simulator was given for each frame (a step from 0.3
to 0.6), and fits of histograms whose problems are built in (a lifetime beyond half the
period, too few photons, a scatter spike, more components than the data hold).
"""

import json

import numpy as np
import pytest

from flim_scenes import BIN_PS, TAU_BINS, histogram, write_scene
from libsiff import SiffReader
from libsiff.flim import Exp, FLIMParams, Irf, fit_params_to_data
from libsiff.flim.fraction_fit import FractionFit, fit_fractions, fit_lifetime_over_time
from libsiff.flim.guardrails import fit_warnings, min_photons
from libsiff.flim.roi_photons import roi_photon_moments

TAUS = (0.6, 2.8)
N_FRAMES = 200


@pytest.fixture(scope="module")
def step(tmp_path_factory):
    shape = (32, 32)
    truth = np.where(np.arange(N_FRAMES) < N_FRAMES // 2, 0.3, 0.6)
    per_pixel = np.full(shape, 1e4 / (32 * 32))   # 10,000 photons per frame
    frames = [[(per_pixel, TAUS, (1 - f, f), 0.01)] for f in truth]
    path = write_scene(tmp_path_factory.mktemp("step") / "step.siff", frames, shape, seed=21)
    with SiffReader(path) as sr:
        m = roi_photon_moments(sr.siffio, np.ones((1, *shape), bool), np.arange(N_FRAMES),
                               TAU_BINS, keep_histograms=True, rebin=4)
    return truth, m


def test_step_of_the_long_fraction_is_recovered_with_honest_errors(step):
    truth, m = step
    assert m.histograms.shape == (1, N_FRAMES, -(-(TAU_BINS + 2) // 4))
    pooled, ff = fit_lifetime_over_time(m.histograms, TAU_BINS, BIN_PS, n_exps=2, rebin=4)
    np.testing.assert_allclose(pooled[0].taus, TAUS, rtol=0.03)
    assert ff.fractions.shape == (1, N_FRAMES, 2)
    np.testing.assert_allclose(ff.fractions.sum(axis=-1), 1.0)
    err = ff.long_fraction[0] - truth
    assert np.max(np.abs(err)) < 0.03
    coverage = np.mean(np.abs(err) <= ff.long_fraction_se[0])
    assert 0.55 <= coverage <= 0.80
    # the step itself: mean of each half
    assert ff.long_fraction[0, :N_FRAMES // 2].mean() == pytest.approx(0.3, abs=0.005)
    assert ff.long_fraction[0, N_FRAMES // 2:].mean() == pytest.approx(0.6, abs=0.005)
    # bins of two timepoints: errors shrink by about sqrt(2) and still cover the truth
    _, ff2 = fit_lifetime_over_time(m.histograms, TAU_BINS, BIN_PS, 2, rebin=4,
                                    bin_timepoints=2)
    assert ff2.fractions.shape == (1, N_FRAMES // 2, 2)
    ratio = np.median(ff.long_fraction_se) / np.median(ff2.long_fraction_se)
    assert ratio == pytest.approx(np.sqrt(2), rel=0.05)
    assert np.max(np.abs(ff2.long_fraction[0] - truth[::2])) < 0.03
    _, from_moments = fit_lifetime_over_time(m, TAU_BINS, BIN_PS, n_exps=2)
    np.testing.assert_allclose(from_moments.fractions, ff.fractions)
    back = FractionFit.from_dict(json.loads(json.dumps(ff.to_dict())))
    np.testing.assert_allclose(back.fractions, ff.fractions)


def test_fraction_fit_with_full_resolution_histograms_and_three_components():
    rng = np.random.default_rng(22)
    truth = np.linspace(0.2, 0.5, 40)
    h = np.stack([histogram(rng, 20000, (0.5, 1.8, 4.0), (0.5 - f / 2, 0.5 - f / 2, f),
                            noise=0.01) for f in truth])
    # the simulator's shapes (its bins floor the time: the model's offset is half a bin less)
    pooled = FLIMParams(Exp(0.5, 0.3, "ns"), Exp(1.8, 0.3, "ns"), Exp(4.0, 0.4, "ns"),
                        Irf(1.2 - BIN_PS / 2000, 0.12, "ns"), noise=0.01, bin_width_ps=BIN_PS)
    ff = fit_fractions(h, pooled, TAU_BINS)
    assert ff.fractions.shape == (40, 3)
    z = (ff.long_fraction - truth) / ff.long_fraction_se
    assert np.max(np.abs(z)) < 4 and 0.6 < np.std(z) < 1.5
    empty = fit_fractions(np.zeros((2, h.shape[1])), pooled, TAU_BINS)
    assert np.all(np.isnan(empty.fractions)) and empty.warnings
    with pytest.raises(ValueError, match="two components"):
        fit_fractions(h, fit_params_to_data(h.sum(axis=0), n_exps=1, bin_width_ps=BIN_PS),
                      TAU_BINS)


def background_step(seed, scale, n_rows=160):
    """ROI histograms of a long-fraction step (0.3 then 0.6 of 0.8 / 3.0 ns signal photons)
    on a 0.5 ns background that is 30 % of the ROI's photons, and the histograms of a
    background ROI with 1 / ``scale`` times the ROI's area (its photons times ``scale`` are
    the ROI's background)."""
    rng = np.random.default_rng(seed)
    truth = np.where(np.arange(n_rows) < n_rows // 2, 0.3, 0.6)
    signal, background = 7000, 3000
    roi = np.stack([histogram(rng, rng.poisson(signal), (0.8, 3.0), (1 - f, f), noise=0.005)
                    + histogram(rng, rng.poisson(background), (0.5,), noise=0.005)
                    for f in truth])
    bg = np.stack([histogram(rng, rng.poisson(background / scale), (0.5,), noise=0.005)
                   for _ in truth])
    return truth, roi, bg


@pytest.mark.parametrize("scale", [0.5, 4.0])
def test_background_roi_gives_the_signal_fractions_with_honest_errors(scale):
    """With the background ROI the fractions are the signal's and their errors cover the
    scatter, also when the background ROI is small (scale 4: its Poisson error is a large
    part of the error); without it the short background photons pull the long fraction
    far down."""
    truth, roi, bg = background_step(40 + int(scale), scale)
    pooled, ff = fit_lifetime_over_time(roi[None], TAU_BINS, BIN_PS, n_exps=2,
                                        backgrounds=[(bg, scale)])
    np.testing.assert_allclose(pooled[0].taus, (0.8, 3.0), rtol=0.05)
    z = (ff.long_fraction[0] - truth) / ff.long_fraction_se[0]
    # the errors hold the pooled lifetimes fixed: the pooled fit's own error shifts every
    # row alike (by up to ~0.8 standard errors over seeds), the rows scatter by their errors
    assert abs(np.mean(z)) < 1.0 and 0.8 < np.std(z) < 1.25, (np.mean(z), np.std(z))
    assert ff.long_fraction[0, :80].mean() == pytest.approx(0.3, abs=0.015)
    assert ff.long_fraction[0, 80:].mean() == pytest.approx(0.6, abs=0.015)
    direct = fit_fractions(roi, pooled[0], TAU_BINS, background=bg, background_scale=scale)
    np.testing.assert_allclose(direct.long_fraction, ff.long_fraction[0])
    _, uncorrected = fit_lifetime_over_time(roi[None], TAU_BINS, BIN_PS, n_exps=2)
    assert np.mean(uncorrected.long_fraction[0] - truth) < -0.07  # ~ 10 standard errors
    # a row whose background outweighs its photons has no fraction, and says so
    heavy = bg.copy()
    heavy[0] *= 10
    odd = fit_fractions(roi, pooled[0], TAU_BINS, background=heavy, background_scale=scale)
    assert np.isnan(odd.long_fraction[0]) and np.isfinite(odd.long_fraction[1:]).all()
    assert any("background ROI accounts for all" in w for w in odd.warnings)
    assert not any("bound" in w for w in ff.warnings)
    # a background over-subtracted (three times too much) pins fractions at a bound: said
    over = fit_fractions(roi, pooled[0], TAU_BINS, background=bg, background_scale=3 * scale)
    assert any("ended at a bound of the fractions" in w for w in over.warnings)
    with pytest.raises(ValueError, match="shaped as the histograms"):
        fit_fractions(roi, pooled[0], TAU_BINS, background=bg[:3], background_scale=scale)
    with pytest.raises(ValueError, match="ROI 0: a background is"):
        fit_lifetime_over_time(roi[None], TAU_BINS, BIN_PS, backgrounds=[(bg[:, :10], scale)])
    with pytest.raises(ValueError, match="ROI 0: .*background scale must be positive"):
        fit_lifetime_over_time(roi[None], TAU_BINS, BIN_PS, backgrounds=[(bg, 0.0)])


@pytest.mark.parametrize("taus, fracs", [((0.8, 3.0), (0.6, 0.4)),
                                          ((0.5, 1.8, 4.0), (0.35, 0.35, 0.3))])
def test_errors_stay_honest_when_the_background_is_most_of_the_photons(taus, fracs):
    """75 % of each row's photons are a 0.5 ns background (background ROI of the same area):
    with the true lifetimes held, every fraction's z-scores over 1200 rows have a standard
    deviation of 1 (the errors of both Poisson counts behind the background share count)."""
    rng = np.random.default_rng(50 + len(taus))
    rows, signal, background = 1200, 2500, 7500
    roi = np.stack([histogram(rng, rng.poisson(signal), taus, fracs, noise=0.005)
                    + histogram(rng, rng.poisson(background), (0.5,), noise=0.005)
                    for _ in range(rows)])
    bg = np.stack([histogram(rng, rng.poisson(background), (0.5,), noise=0.005)
                   for _ in range(rows)])
    truth = FLIMParams(*(Exp(t, f, "ns") for t, f in zip(taus, fracs, strict=True)),
                       Irf(1.2 - BIN_PS / 2000, 0.12, "ns"), noise=0.005, bin_width_ps=BIN_PS)
    ff = fit_fractions(roi, truth, TAU_BINS, background=bg, background_scale=1.0)
    for j, f in enumerate(fracs):
        z = (ff.fractions[:, j] - f) / ff.fraction_se[:, j]
        assert abs(np.mean(z)) < 0.15 and 0.93 < np.std(z) < 1.07, (j, np.mean(z), np.std(z))
    assert not ff.warnings


# ----------------------------------------------------------------------------- guardrails
def fit(n_photons, taus, fracs, n_exps, seed, noise=0.01):
    hist = histogram(np.random.default_rng(seed), n_photons, taus, fracs, noise)
    return fit_params_to_data(hist, n_exps=n_exps, bin_width_ps=BIN_PS)


def test_lifetime_beyond_half_the_period_warns():
    params = fit(10**6, (8.0,), None, 1, seed=31)
    assert params.taus[0] == pytest.approx(8.0, rel=0.03)
    assert any("beyond half the laser period" in w for w in params.warnings)
    assert fit(10**6, (2.0,), None, 1, seed=32).warnings == []


def test_too_few_photons_for_the_components_warns():
    params = fit(5000, TAUS, (0.5, 0.5), 2, seed=33)
    assert any("too few for 2 components" in w for w in params.warnings)
    assert min_photons(1) == 1000 and min_photons(3) > min_photons(2)


def test_component_at_a_bound_and_uncertainty_larger_than_value_warn():
    spike = fit(10**6, (1e-5, 2.5), (0.3, 0.7), 2, seed=34)  # a scatter spike, tau -> 0
    assert spike.taus[0] < BIN_PS / 1000
    assert any("component 0: lifetime" in w and "lower bound" in w for w in spike.warnings)
    over = fit(10**6, (2.5,), None, 3, seed=35)  # three components for one lifetime
    assert any("uncertainty larger than the value" in w for w in over.warnings)
    # saved in the fit JSON and read back
    data = json.loads(json.dumps(over.to_dict()))
    assert data["warnings"] == over.warnings
    assert FLIMParams.from_dict(data).warnings == over.warnings
    # the in-place SiffPy-style method records them too
    params = FLIMParams.from_dict(data)
    res = params.fit_params_to_data(histogram(np.random.default_rng(36), 5000, (2.5,)))
    assert params.warnings and res.warnings == params.warnings


def test_fit_warnings_directly():
    bins_per_ns = 1000 / BIN_PS
    unc = {"tau_0": 0.1, "frac_0": 0.01, "tau_1": 0.1, "frac_1": 0.01, "tau_g": 0.1}
    common = dict(period=TAU_BINS, bin_width=1.0, free=["tau_0", "tau_1", "frac_0", "tau_g"],
                  bin_width_ps=BIN_PS)
    good = fit_warnings([0.6 * bins_per_ns, 2.8 * bins_per_ns], [0.4, 0.6], 6.0, 0.01, unc,
                        n_photons=1e6, **common)
    assert good == []
    bad = fit_warnings([0.6 * bins_per_ns, 2.8 * bins_per_ns], [0.4, 0.6], 0.06, 0.01,
                       {**unc, "tau_1": 500.0}, n_photons=1e6, **common)
    assert any("IRF width" in w for w in bad) and any("tau_1: uncertainty" in w for w in bad)
    at_zero = fit_warnings([0.6 * bins_per_ns, 2.8 * bins_per_ns], [1e-5, 1 - 1e-5], 6.0, 0.01,
                           unc, n_photons=1e6, **common)
    assert any("fraction" in w and "at the lower bound (0)" in w for w in at_zero)
    ceiling = fit_warnings([0.6 * bins_per_ns, 2.8 * bins_per_ns], [0.4, 0.6], 6.0, 0.999, unc,
                           n_photons=1e6, **{**common, "free": common["free"] + ["noise"]})
    assert any("noise fraction" in w for w in ceiling)
