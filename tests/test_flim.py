"""FLIM parameters, fitting, empirical lifetimes and phasors against analytic truth.

Photon arrival times are drawn with numpy (independently of libsiff's model): IRF offset +
Gaussian jitter + exponential, folded into the laser period ``T = tau_bins * bin width``,
plus uniform background. Bin ``i`` collects times within half a bin of ``i * bin width``
(libsiff's convention), and histograms have ``tau_bins + 2`` bins like the reader's.
"""

import json
import warnings

import numpy as np
import pytest
from scipy.optimize import OptimizeResult
from scipy.stats import exponnorm

from libsiff.flim import (
    Exp,
    FLIMParams,
    FlimUnits,
    Irf,
    Noise,
    bin_probabilities,
    bin_width_ps_from_bin_resolution,
    calibrate_phasor,
    convert_flimunits,
    default_flimparams,
    distance_to_semicircle,
    empirical_lifetime_bins,
    empirical_lifetime_from_histogram,
    empirical_lifetime_ns,
    fit_params_to_data,
    histogram_to_phasor,
    lifetime_bins_from_ns,
    lifetime_ns_from_bins,
    mean_arrival_bins,
    mean_arrival_bins_from_histogram,
    phasor_from_sums,
    phasor_to_fraction,
    phasor_to_tau_phase,
    tau_offset_bins,
    tau_to_phasor,
    universal_semicircle,
)

TAU_BINS = 629
BIN_PS = 20.0
BIN_NS = BIN_PS / 1000.0
PERIOD_NS = TAU_BINS * BIN_NS
L = TAU_BINS + 2


def simulate_bins(rng, n, taus_ns, fracs, mu_ns=1.2, sigma_ns=0.1, noise=0.0,
                  tau_bins=TAU_BINS, bin_ns=BIN_NS):
    """Arrival bins of ``n`` photons (Poisson-free: exactly ``n``)."""
    period = tau_bins * bin_ns
    n_noise = rng.binomial(n, noise)
    n_sig = n - n_noise
    comp = rng.choice(len(taus_ns), size=n_sig, p=np.asarray(fracs) / np.sum(fracs))
    t = (mu_ns + sigma_ns * rng.standard_normal(n_sig)
         + rng.exponential(np.asarray(taus_ns, dtype=float)[comp]))
    t = np.concatenate([t, rng.uniform(0.0, period, n_noise)])
    return np.floor(np.mod(t, period) / bin_ns + 0.5).astype(np.int64) % tau_bins


def simulate_histogram(rng, n, *args, **kwargs):
    n = rng.poisson(n)
    return np.bincount(simulate_bins(rng, n, *args, **kwargs), minlength=L).astype(np.uint64)


def analytic_empirical_lifetime_ns(taus, fracs, mu, sigma, noise, period=PERIOD_NS,
                                   bin_ns=BIN_NS):
    """Mean measured arrival minus mu, in ns, for a window [-bin/2, period - bin/2).

    Each exponential's mean ``mu + tau`` loses ``period`` for every photon that arrives
    after a later window start; with the IRF far from the window edges those photons number
    ``exp(sigma^2 / 2 tau^2 - (a + k T - mu) / tau)``, a geometric series in ``k``.
    """
    a = -0.5 * bin_ns
    taus, fracs = np.asarray(taus, float), np.asarray(fracs, float)
    wrap = period * np.exp(sigma**2 / (2 * taus**2) - (a + period - mu) / taus) / (
        1 - np.exp(-period / taus))
    signal = np.sum(fracs * (mu + taus - wrap))
    return (1 - noise) * signal + noise * (a + period / 2) - mu


@pytest.fixture(scope="module")
def biexp_histogram():
    rng = np.random.default_rng(20240611)
    truth = dict(taus_ns=(0.6, 2.8), fracs=(0.4, 0.6), mu_ns=1.2, sigma_ns=0.1, noise=0.02)
    return simulate_histogram(rng, 10**7, **truth), truth


# ----------------------------------------------------------------------------- units
def test_bin_width_from_header_resolution():
    assert bin_width_ps_from_bin_resolution(2) == 20.0
    assert bin_width_ps_from_bin_resolution(3) == 40.0
    with pytest.raises(ValueError):
        bin_width_ps_from_bin_resolution(-1)


def test_unit_conversions_with_40ps_bins():
    bw = 40.0
    assert convert_flimunits(100, "countbins", "picoseconds", bw) == pytest.approx(4000.0)
    assert convert_flimunits(100, "countbins", "nanoseconds", bw) == pytest.approx(4.0)
    assert convert_flimunits(4.0, "ns", "bins", bw) == pytest.approx(100.0)
    assert convert_flimunits(4000.0, FlimUnits.PICOSECONDS, "NANOSECONDS", bw) == pytest.approx(4.0)
    np.testing.assert_allclose(convert_flimunits(np.array([1.0, 2.5]), "ns", "countbins", bw),
                               [25.0, 62.5])
    assert lifetime_ns_from_bins(100, bw) == pytest.approx(4.0)
    assert lifetime_bins_from_ns(4.0, bw) == pytest.approx(100.0)
    assert convert_flimunits(7.0, "unitless", "nanoseconds", bw) == 7.0
    with pytest.raises(ValueError):
        convert_flimunits(1.0, "unknown", "nanoseconds", bw)

    p = FLIMParams(Exp(tau=50, frac=0.3), Exp(tau=100, frac=0.7), Irf(tau_offset=30, tau_g=2.5),
                   bin_width_ps=bw)
    assert p.units is FlimUnits.COUNTBINS
    p.convert_units("picoseconds")
    np.testing.assert_allclose(p.taus, [2000.0, 4000.0])
    assert p.tau_offset == pytest.approx(1200.0) and p.tau_g == pytest.approx(100.0)
    p.convert_units("nanoseconds")
    np.testing.assert_allclose(p.param_tuple, (2.0, 0.3, 4.0, 0.7, 1.2, 0.1))
    p.units = "countbins"  # the setter converts, as SiffPy
    np.testing.assert_allclose(p.param_tuple, (50.0, 0.3, 100.0, 0.7, 30.0, 2.5))
    with p.as_units("ns"):
        assert p.tau_offset == pytest.approx(1.2)
    assert p.units is FlimUnits.COUNTBINS and p.tau_offset == pytest.approx(30.0)
    # Changing the bin width changes what a count bin means
    p.bin_width_ps = 20.0
    p.convert_units("ns")
    assert p.tau_offset == pytest.approx(0.6)


def test_parameter_objects_aliases_and_validation():
    e = Exp(2.0, 1.0, "nanoseconds")
    assert (e.tau, e.frac, e.units) == (2.0, 1.0, FlimUnits.NANOSECONDS)
    e2 = Exp(lifetime=2.0, fraction=1.0, units="ns")
    assert e2 == e and e2.mean == 2.0 and e2.f == 1.0
    irf = Irf(mu=1.2, sigma=0.1, units="nanoseconds")
    assert irf.tau_offset == 1.2 and irf.width == 0.1 and irf.offset == 1.2
    irf.offset = 1.3
    assert irf.tau_offset == 1.3
    with pytest.raises(TypeError):
        Exp(tau=1.0, frac=1.0, bogus=3)
    with pytest.raises(ValueError):
        FLIMParams(Exp(tau=1, frac=0.5), Exp(tau=2, frac=0.2), Irf(tau_offset=1, tau_g=0.1))
    with pytest.raises(ValueError):
        FLIMParams(Exp(tau=1, frac=1.0))
    with pytest.raises(ValueError):
        FLIMParams(Exp(tau=1, frac=1.0), Irf(tau_offset=1, tau_g=0.1), noise=-0.1)
    p = FLIMParams((2.0, 0.5, 3.0, 0.5, 1.0, 0.1), units="nanoseconds")
    assert p.n_exp == 2 and p.ncomponents == 2 and p.units is FlimUnits.NANOSECONDS
    assert p.T_O == p.tau_offset == 1.0
    assert FLIMParams(Exp(tau=1, frac=1.0), Irf(tau_offset=1, tau_g=0.1), Noise(0.2)).noise == 0.2
    mixed = FLIMParams(Exp(tau=2, frac=1.0, units="ns"), Irf(tau_offset=60, tau_g=5))
    assert mixed.units is FlimUnits.UNKNOWN
    mixed.convert_units("countbins")
    assert mixed.taus[0] == pytest.approx(100.0)


def test_default_flimparams_and_repr():
    p = default_flimparams(n_exps=3)
    assert p.units is FlimUnits.NANOSECONDS
    np.testing.assert_allclose(p.taus, [0.6, 2.3, 4.0])
    np.testing.assert_allclose(p.fracs, [1 / 3] * 3)
    assert (p.tau_offset, p.tau_g, p.noise) == (1.5, 0.1, 0.1)
    with pytest.raises(ValueError):
        default_flimparams(n_irfs=2)
    text = repr(p)
    assert text.startswith("FLIMParams object: \n\n\tParameters:\n"
                           "\t\tExp\n\tUNITS: FlimUnits.NANOSECONDS\n")
    assert "\ttau : 0.6\n" in text and "\t\tNoise: 0.1\n" in text
    assert "\t\tColor channel: None\n" in text and "Bin width: 20.0 ps" in text


# ----------------------------------------------------------------------------- model
def test_model_matches_numerical_integration_with_all_earlier_pulses():
    taus, fracs, mu, sigma, noise = np.array([30.0, 140.0]), np.array([0.4, 0.6]), 60.0, 5.0, 0.02
    p = bin_probabilities(np.arange(TAU_BINS), 1.0, TAU_BINS, taus, fracs, mu, sigma, noise)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    sub = 20  # midpoint rule, 20 samples per bin, 30 earlier pulses explicitly
    x = (np.arange(TAU_BINS * sub) + 0.5) / sub - 0.5
    dens = np.zeros_like(x)
    for tau, f in zip(taus, fracs):
        for k in range(-1, 30):
            dens += f * exponnorm.pdf(x + k * TAU_BINS, tau / sigma, loc=mu, scale=sigma)
    expected = ((1 - noise) * dens + noise / TAU_BINS).reshape(TAU_BINS, sub).mean(axis=1)
    np.testing.assert_allclose(p, expected, rtol=2e-4, atol=1e-9)

    params = FLIMParams(*[Exp(tau=t, frac=f) for t, f in zip(taus, fracs)],
                        Irf(tau_offset=mu, tau_g=sigma), noise=noise)
    hist = params.model_histogram(L, n_photons=1000.0)
    assert hist.shape == (L,) and hist[TAU_BINS:].sum() == 0
    np.testing.assert_allclose(hist[:TAU_BINS], 1000.0 * p)
    # probability_dist is unit-independent
    pd_bins = params.probability_dist(np.arange(TAU_BINS))
    with params.as_units("nanoseconds"):
        pd_ns = params.probability_dist(np.arange(TAU_BINS) * BIN_NS)
    np.testing.assert_allclose(pd_bins, pd_ns, rtol=1e-9)
    assert params.sample(np.arange(TAU_BINS), n=5000, seed=1).sum() == 5000


# ----------------------------------------------------------------------------- fitting
def test_monoexponential_fit_without_guess():
    rng = np.random.default_rng(11)
    hist = simulate_histogram(rng, 10**6, (2.8,), (1.0,), mu_ns=1.2, sigma_ns=0.1, noise=0.02)
    fit = fit_params_to_data(hist, n_exps=1, bin_width_ps=BIN_PS)
    assert fit.units is FlimUnits.NANOSECONDS and fit.bin_width_ps == BIN_PS
    assert fit.taus[0] == pytest.approx(2.8, rel=0.02)
    assert abs(fit.tau_offset - 1.2) < BIN_NS
    assert fit.tau_g == pytest.approx(0.1, rel=0.05)
    assert fit.noise == pytest.approx(0.02, abs=0.005)
    assert 0.8 < fit.chi_sq < 1.2
    unc = fit.uncertainties
    assert abs(fit.taus[0] - 2.8) < 5 * unc["tau_0"]
    assert abs(fit.tau_offset - 1.2) < 5 * unc["tau_offset"]
    assert unc["frac_0"] == 0.0


def test_biexponential_fit_without_guess(biexp_histogram):
    hist, truth = biexp_histogram
    fit = fit_params_to_data(hist, n_exps=2, bin_width_ps=BIN_PS)
    np.testing.assert_allclose(fit.taus, truth["taus_ns"], rtol=0.05)
    assert abs(fit.fracs[0] - 0.4) < 0.05
    assert abs(fit.tau_offset - 1.2) < BIN_NS
    assert 0.8 < fit.chi_sq < 1.2
    unc = fit.uncertainties
    for i, tau in enumerate(truth["taus_ns"]):
        assert abs(fit.taus[i] - tau) < 5 * unc[f"tau_{i}"]
    assert abs(fit.fracs[0] - 0.4) < 5 * unc["frac_0"]
    assert unc["frac_0"] == pytest.approx(unc["frac_1"])
    assert fit.fit_info["dof"] == TAU_BINS - 1 - 6 - 1
    # uncertainties follow unit conversions
    fit.convert_units("picoseconds")
    assert fit.uncertainties["tau_1"] == pytest.approx(1000 * unc["tau_1"])


def test_triexponential_fit_without_guess():
    rng = np.random.default_rng(2)
    taus, fracs = (0.3, 1.5, 4.0), (0.3, 0.4, 0.3)
    hist = simulate_histogram(rng, 10**7, taus, fracs, mu_ns=1.2, sigma_ns=0.1, noise=0.02)
    fit = fit_params_to_data(hist, n_exps=3, bin_width_ps=BIN_PS)
    unc = fit.uncertainties
    for i in range(3):
        assert abs(fit.taus[i] - taus[i]) < 4 * unc[f"tau_{i}"]
        assert abs(fit.fracs[i] - fracs[i]) < 0.05
    assert 0.8 < fit.chi_sq < 1.2
    assert fit_params_to_data(hist, n_exps=2, bin_width_ps=BIN_PS).chi_sq > 3


def test_wrong_model_has_large_chi_square(biexp_histogram):
    hist, _ = biexp_histogram
    mono = fit_params_to_data(hist, n_exps=1, bin_width_ps=BIN_PS)
    assert mono.chi_sq > 5


def test_fit_from_a_bad_guess_and_in_place_method():
    rng = np.random.default_rng(5)
    hist = simulate_histogram(rng, 2 * 10**6, (0.6, 2.8), (0.4, 0.6), mu_ns=1.2, noise=0.02)
    params = default_flimparams()  # offset 1.5 ns, taus 0.6 / 4.0 ns, noise 0.1
    params.tau_offset = 6.0
    before = hist.copy()
    res = params.fit_params_to_data(hist)
    np.testing.assert_array_equal(hist, before)  # not normalised in place (SiffPy did)
    assert isinstance(res, OptimizeResult) and res.x.size == 7
    assert params.units is FlimUnits.NANOSECONDS
    np.testing.assert_allclose(params.taus, (0.6, 2.8), rtol=0.05)
    assert abs(params.tau_offset - 1.2) < BIN_NS
    assert params.chi_sq == res.chi_sq and 0.8 < params.chi_sq < 1.2
    # no multistart: the local fit from the (bad) guess alone still converges here
    alone = fit_params_to_data(hist, initial_guess=default_flimparams(), multistart=False)
    np.testing.assert_allclose(alone.taus, (0.6, 2.8), rtol=0.05)
    # n_exps wins over the guess's component count (the reader passes both)
    resized = fit_params_to_data(hist, initial_guess=default_flimparams(n_exps=1), n_exps=2,
                                 multistart=False)
    np.testing.assert_allclose(resized.taus, (0.6, 2.8), rtol=0.05)
    assert fit_params_to_data(hist, initial_guess=default_flimparams(n_exps=3), n_exps=2).n_exp == 2


def test_fit_on_a_nanosecond_axis_and_with_fixed_irf():
    rng = np.random.default_rng(8)
    hist = simulate_histogram(rng, 10**6, (1.5,), (1.0,), mu_ns=2.0, sigma_ns=0.12, noise=0.05)
    in_bins = fit_params_to_data(hist, n_exps=1, bin_width_ps=BIN_PS)
    axis_ns = np.arange(L) * BIN_NS
    in_ns = fit_params_to_data(hist, x_range=axis_ns, x_units="nanoseconds", n_exps=1,
                               bin_width_ps=BIN_PS, period_bins=TAU_BINS)
    np.testing.assert_allclose(in_ns.param_tuple, in_bins.param_tuple, rtol=1e-4)

    guess = FLIMParams(Exp(tau=1.0, frac=1.0, units="ns"),
                       Irf(tau_offset=2.0, tau_g=0.12, units="ns"), bin_width_ps=BIN_PS)
    fixed = fit_params_to_data(hist, initial_guess=guess, fixed=("tau_offset", "tau_g"))
    assert (fixed.tau_offset, fixed.tau_g) == pytest.approx((2.0, 0.12))
    assert fixed.uncertainties["tau_offset"] == 0.0
    assert fixed.taus[0] == pytest.approx(1.5, rel=0.02)
    assert fixed.noise == pytest.approx(0.05, abs=0.01)


def test_fit_input_checks():
    hist = simulate_histogram(np.random.default_rng(2), 10**4, (2.0,), (1.0,))
    with pytest.warns(UserWarning, match="bin_width_ps"):
        fit_params_to_data(hist, n_exps=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_params_to_data(hist, n_exps=1, bin_width_ps=BIN_PS)
    with pytest.raises(ValueError):
        fit_params_to_data(np.zeros(L), bin_width_ps=BIN_PS)
    with pytest.raises(ValueError):
        fit_params_to_data(-np.ones(L), bin_width_ps=BIN_PS)
    with pytest.raises(ValueError):
        fit_params_to_data(hist, bin_width_ps=BIN_PS, fixed=("taus",))  # needs a guess


# ----------------------------------------------------------------------------- empirical lifetime
@pytest.mark.parametrize("taus,fracs,noise", [
    ((2.8,), (1.0,), 0.0), ((2.8,), (1.0,), 0.05),
    ((0.6, 2.8), (0.4, 0.6), 0.02), ((6.0,), (1.0,), 0.0),
])
def test_empirical_lifetime_matches_analytic_expectation(taus, fracs, noise):
    rng = np.random.default_rng(31)
    n = 10**6
    bins = simulate_bins(rng, n, taus, fracs, mu_ns=1.2, sigma_ns=0.1, noise=noise)
    offset_bins = 1.2 / BIN_NS
    measured_ns = empirical_lifetime_ns(mean_arrival_bins(bins.sum(), bins.size), offset_bins,
                                        bin_width_ps=BIN_PS)
    expected_ns = analytic_empirical_lifetime_ns(taus, fracs, 1.2, 0.1, noise)
    stderr_ns = bins.std() / np.sqrt(n) * BIN_NS
    assert abs(measured_ns - expected_ns) < 4 * stderr_ns
    # the wrap-around matters: the naive mean lifetime is far off for long lifetimes
    if taus == (6.0,):
        assert abs(np.dot(taus, fracs) - measured_ns) > 50 * stderr_ns
    # FLIMParams' own analytic expectation (it also handles IRFs near the window edges)
    params = FLIMParams(*[Exp(tau=t, frac=f, units="ns") for t, f in zip(taus, fracs)],
                        Irf(tau_offset=1.2, tau_g=0.1, units="ns"), noise=noise)
    assert params.expected_empirical_lifetime(PERIOD_NS) == pytest.approx(expected_ns, abs=1e-6)
    # and the histogram route agrees with the photon route
    hist = np.bincount(bins, minlength=L)
    assert empirical_lifetime_from_histogram(hist, offset_bins) == pytest.approx(
        empirical_lifetime_bins(bins.mean(), offset_bins))


def test_empirical_lifetime_vectorised_and_empty():
    rng = np.random.default_rng(4)
    hists = rng.poisson(3.0, size=(5, 7, L)).astype(np.uint64)
    hists[2, 3] = 0
    life = empirical_lifetime_from_histogram(hists, offset_bins=60.0)
    assert life.shape == (5, 7) and np.isnan(life[2, 3])
    i, j = 1, 4
    ref = (np.arange(L) * hists[i, j]).sum() / hists[i, j].sum() - 60.0
    assert life[i, j] == pytest.approx(ref)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = mean_arrival_bins(np.array([10.0, 0.0]), np.array([4, 0]))
    assert m[0] == 2.5 and np.isnan(m[1])
    np.testing.assert_allclose(mean_arrival_bins_from_histogram(hists.swapaxes(-1, 0), axis=0),
                               mean_arrival_bins_from_histogram(hists).T)


def test_tau_offset_bins_duck_typing():
    class StandIn:  # corrosiffpy only needs units, convert_units and tau_offset
        def __init__(self):
            self.units, self.tau_offset = "nanoseconds", 1.2

        def convert_units(self, units):
            factor = {("nanoseconds", "countbins"): 50.0, ("countbins", "nanoseconds"): 0.02}
            self.tau_offset *= factor[(self.units, units)]
            self.units = units

    s = StandIn()
    assert tau_offset_bins(s) == pytest.approx(60.0) and s.units == "nanoseconds"
    p = FLIMParams(Exp(tau=2, frac=1, units="ns"), Irf(tau_offset=1.2, tau_g=0.1, units="ns"),
                   bin_width_ps=40.0)
    assert tau_offset_bins(p) == pytest.approx(30.0) and p.units is FlimUnits.NANOSECONDS
    assert tau_offset_bins(None) == 0.0


# ----------------------------------------------------------------------------- phasors
@pytest.mark.parametrize("tau_ns", [0.5, 1.0, 2.0, 4.0])
def test_monoexponential_phasor_on_universal_semicircle(tau_ns):
    rng = np.random.default_rng(int(tau_ns * 10))
    hist = simulate_histogram(rng, 10**6, (tau_ns,), (1.0,), mu_ns=1.2, sigma_ns=0.1)
    raw = histogram_to_phasor(hist)
    assert abs(distance_to_semicircle(raw)) > 0.05  # the offset really needs calibrating
    ph = histogram_to_phasor(hist, offset_bins=1.2 / BIN_NS)
    assert abs(distance_to_semicircle(ph)) < 0.01
    # the harmonic is the histogram length L = Tau_bins + 2
    assert abs(ph - tau_to_phasor(tau_ns, L * BIN_NS)) < 0.01
    assert phasor_to_tau_phase(ph, L * BIN_NS) == pytest.approx(tau_ns, rel=0.03)


def test_phasor_from_photon_sums_and_calibration_convention():
    rng = np.random.default_rng(9)
    bins = simulate_bins(rng, 200_000, (2.0,), (1.0,))
    sums = np.exp(2j * np.pi * bins / L).sum()  # what a per-photon kernel accumulates
    offset = 60.0
    from_sums = phasor_from_sums(sums, bins.size, L, offset_bins=offset)
    from_hist = histogram_to_phasor(np.bincount(bins, minlength=L), offset_bins=offset)
    assert from_sums == pytest.approx(from_hist, abs=1e-9)
    # one convention: the offset rotates by exp(-2 pi i offset / L)
    uncal = phasor_from_sums(sums, bins.size, L)
    assert np.angle(from_sums) == pytest.approx(np.angle(uncal) - 2 * np.pi * offset / L)
    assert calibrate_phasor(uncal, offset, L) == pytest.approx(from_sums)
    assert np.isnan(phasor_from_sums(0j, 0, L))
    g, s = universal_semicircle(101)
    assert np.allclose(distance_to_semicircle(g + 1j * s), 0.0)
    assert (g[0], s[0], g[-1]) == pytest.approx((1.0, 0.0, 0.0))


def test_phasor_fraction_of_a_mixture(biexp_histogram):
    hist, truth = biexp_histogram
    ph = histogram_to_phasor(hist, offset_bins=truth["mu_ns"] / BIN_NS)
    # remove the uniform background (phasor of a flat histogram over the period)
    flat = histogram_to_phasor(np.r_[np.ones(TAU_BINS), 0, 0], offset_bins=truth["mu_ns"] / BIN_NS)
    ph = (ph - truth["noise"] * flat) / (1 - truth["noise"])
    frac = phasor_to_fraction(ph, 0.6, 2.8, L * BIN_NS)
    assert frac == pytest.approx(0.4, abs=0.02)


# ----------------------------------------------------------------------------- persistence
def test_json_round_trip(tmp_path, biexp_histogram):
    hist, _ = biexp_histogram
    fit = fit_params_to_data(hist, n_exps=2, bin_width_ps=BIN_PS, color_channel=1, name="gcamp")
    written = fit.save(tmp_path / "sub" / "fit.json")
    assert written == tmp_path / "sub" / "fit.flimparams"
    assert sorted(p.name for p in written.parent.iterdir()) == ["fit.flimparams"]  # no temp left
    data = json.loads(written.read_text())
    assert {"exps", "irf", "color_channel", "noise", "name", "units", "class"} <= set(data)
    assert data["class"] == "FLIMParams" and data["units"] == "nanoseconds"
    back = FLIMParams.load(tmp_path / "sub" / "fit")
    assert back == fit
    assert back.bin_width_ps == BIN_PS and back.name == "gcamp" and back.color_channel == 1
    assert back.noise == pytest.approx(fit.noise) and back.chi_sq == pytest.approx(fit.chi_sq)
    assert back.uncertainties == pytest.approx(fit.uncertainties)
    # a SiffPy-written dict (no bin width, enum names as units) loads with 20 ps
    siffpy = dict(exps=[dict(tau=2, frac=0.5, units="NANOSECONDS"),
                        dict(tau=3, frac=0.5, units="NANOSECONDS")],
                  irf=dict(tau_offset=1, tau_g=0.1, units="nanoseconds"),
                  color_channel=0, noise=0.1, name="old", units="nanoseconds")
    old = FLIMParams.from_dict(siffpy)
    assert old.bin_width_ps == 20.0 and old.noise == 0.1 and old.chi_sq is None
    old.convert_units("countbins")
    assert old.tau_offset == pytest.approx(50.0)
    bad = tmp_path / "other.flimparams"
    bad.write_text(json.dumps({**siffpy, "class": "MultiPulseFLIMParams"}))
    with pytest.raises(ValueError, match="MultiPulseFLIMParams"):
        FLIMParams.load(bad)


def test_equality_ignores_order_and_units():
    a = FLIMParams(Exp(tau=0.6, frac=0.4, units="ns"), Exp(tau=2.8, frac=0.6, units="ns"),
                   Irf(tau_offset=1.2, tau_g=0.1, units="ns"))
    b = FLIMParams(Exp(tau=140, frac=0.6), Exp(tau=30, frac=0.4), Irf(tau_offset=60, tau_g=5))
    assert a == b
    b.tau_offset = 61
    assert a != b
