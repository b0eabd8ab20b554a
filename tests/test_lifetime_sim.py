"""Lifetime analysis on acquisitions written by libsiff's simulator with known decays:
fits recover the simulated lifetimes, empirical lifetimes match the model's expectation,
phasors of mono-exponentials land on the universal semicircle."""

import numpy as np
import pytest

from libsiff import SiffReader
from libsiff.flim import Exp, FLIMParams, Irf, distance_to_semicircle, fit_params_to_data
from libsiff.simulate import SimulationSpec, simulate

BIN_PS = 20.0


def read_histogram(path):
    with SiffReader(path) as sr:
        return sr.get_histogram()


@pytest.fixture(scope="module")
def mono(tmp_path_factory):
    path = tmp_path_factory.mktemp("flim") / "mono.siff"
    gt = simulate(path, SimulationSpec(
        height=64, width=64, slices=1, flyback_planes=0, colors=1, timepoints=56,
        taus_ns=(2.5,), irf_offset_ns=1.2, irf_sigma_ns=0.1, photons_per_pixel=25.0,
        background=0.0, motion="none", encoding="compressed", seed=11))
    return path, gt


def test_mono_exponential_fit_from_a_million_photons(mono):
    path, gt = mono
    hist = read_histogram(path)
    assert hist.sum() >= 1_000_000
    fit = fit_params_to_data(hist, n_exps=1, bin_width_ps=BIN_PS)
    fit.convert_units("nanoseconds")
    assert abs(fit.exps[0].tau - 2.5) / 2.5 < 0.02
    assert abs(fit.irf.tau_offset - 1.2) < BIN_PS / 1000  # within one arrival bin
    assert 0.8 < fit.chi_sq < 1.3


def test_empirical_lifetime_matches_the_model(mono):
    path, gt = mono
    truth = FLIMParams(Exp(2.5, 1.0, "nanoseconds"), Irf(1.2, 0.1, "nanoseconds"),
                       bin_width_ps=BIN_PS)
    truth.convert_units("countbins")
    # the simulator bins by floor(t / bin): arrival bin k holds [k, k+1) -> mean is half a
    # bin below the bin-centre convention of the model
    expected = truth.expected_empirical_lifetime(629) + truth.tau_offset - 0.5
    with SiffReader(path) as sr:
        H, W = sr.im_params.shape
        life, counts, _ = sr.siffio.sum_roi_flim(np.ones((H, W), bool))
    pooled = (life * counts).sum() / counts.sum()  # mean arrival bin over the session
    sem = 2.5 * 1000 / BIN_PS / np.sqrt(counts.sum())  # standard error, in bins
    assert abs(pooled - expected) < 4 * sem


@pytest.fixture(scope="module")
def bi(tmp_path_factory):
    path = tmp_path_factory.mktemp("flim") / "bi.siff"
    simulate(path, SimulationSpec(
        height=64, width=64, slices=1, flyback_planes=0, colors=1, timepoints=200,
        taus_ns=(0.6, 2.8), fracs=(0.4, 0.6), irf_offset_ns=1.2, irf_sigma_ns=0.1,
        photons_per_pixel=75.0, background=0.02, motion="none", encoding="compressed",
        seed=12, keep_photons=False))
    return path


def test_bi_exponential_fit_from_ten_million_photons(bi):
    hist = read_histogram(bi)
    assert hist.sum() >= 10_000_000
    fit = fit_params_to_data(hist, n_exps=2, bin_width_ps=BIN_PS)
    fit.convert_units("nanoseconds")
    taus = sorted(e.tau for e in fit.exps)
    short = min(fit.exps, key=lambda e: e.tau)
    assert abs(taus[0] - 0.6) / 0.6 < 0.05 and abs(taus[1] - 2.8) / 2.8 < 0.05
    assert abs(short.frac - 0.4) < 0.05
    assert abs(fit.irf.tau_offset - 1.2) < BIN_PS / 1000


def test_phasors_of_mono_exponentials_on_the_semicircle(tmp_path):
    path = tmp_path / "three.siff"
    simulate(path, SimulationSpec(
        height=48, width=48, slices=1, flyback_planes=0, colors=3, timepoints=30,
        taus_ns=((0.5,), (1.5,), (3.5,)), irf_offset_ns=1.0, irf_sigma_ns=0.08,
        photons_per_pixel=20.0, background=0.0, motion="none", encoding="auto", seed=13,
        keep_photons=False))
    offset = FLIMParams(Exp(1.0, 1.0, "nanoseconds"), Irf(1.0, 0.08, "nanoseconds"),
                        bin_width_ps=BIN_PS)
    with SiffReader(path) as sr:
        H, W = sr.im_params.shape
        for color, tau in enumerate((0.5, 1.5, 3.5)):
            frames = sr.im_params.framelist_by_color(color)
            z, counts, _ = sr.siffio.sum_roi_flim(np.ones((H, W), bool), offset, frames,
                                                   flim_method="phasor")
            pooled = (z * counts).sum() / counts.sum()
            assert abs(distance_to_semicircle(pooled)) < 0.01, (tau, pooled)
            omega = 2 * np.pi / (631 * BIN_PS / 1000)  # the harmonic of the histogram length
            assert abs(pooled - 1 / (1 - 1j * omega * tau)) < 0.02


def test_lifetime_traces_pool_planes_and_frames(tmp_path):
    """ROI lifetime traces: photon-weighted over the planes of a 3-D mask and over bins of
    timepoints, equal to sum(bins)/sum(photons) computed from the simulator's photons."""
    path = tmp_path / "vol.siff"
    gt = simulate(path, SimulationSpec(height=32, width=40, slices=3, flyback_planes=1,
                                       colors=1, timepoints=12, photons_per_pixel=3.0,
                                       taus_ns=(2.0,), motion="none", seed=14))
    mask = np.zeros((3, 32, 40), bool)
    mask[0, 5:20, 5:20] = mask[2, 10:30, 20:35] = True
    with SiffReader(path) as sr:
        trace = sr.sum_mask_flim(mask, registration_dict={})  # per timepoint, planes pooled
        binned = trace.reshape(-1, 4).sum(axis=1)             # 4 timepoints per bin
        frames = sr.frame_grid()[:, :, 0]
    for b in range(3):
        tau_sum = n = 0
        for t in range(4 * b, 4 * b + 4):
            for z in range(3):
                y, x, tau = gt.photons(int(frames[t, z]))
                keep = mask[z][y, x]
                tau_sum += tau[keep].astype(np.int64).sum()
                n += keep.sum()
        assert binned.intensity[b] == n
        assert binned[b] == pytest.approx(tau_sum / n, rel=1e-12)
    last = float(binned[2])
    assert binned.convert_units("nanoseconds")[2] == pytest.approx(last * BIN_PS / 1000)
    assert binned.units == "nanoseconds"
