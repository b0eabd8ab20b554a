"""Pixel phasors of a simulated two-population image: cursors select the right pixels.

Scene: 16 x 16-pixel blocks in a checkerboard, alternately 0.6 ns and 2.8 ns, about 240
photons per pixel over 4 frames with 2 % uniform background. Truth: which block each pixel
belongs to, and the pure-exponential phasors written out by hand.
"""

import numpy as np
import pytest

from flim_scenes import BIN_PS, TAU_BINS, histogram, write_scene
from libsiff import SiffReader
from libsiff.flim.calibration import Calibration
from libsiff.flim.pixel_phasor import (
    circular_cursor_mask,
    phasor_density,
    pixel_phasor,
    polygon_cursor_mask,
)

SHAPE = (64, 64)
PERIOD_NS = TAU_BINS * BIN_PS / 1000.0


def semicircle(tau_ns):
    wt = 2 * np.pi * tau_ns / PERIOD_NS
    return 1 / (1 + wt * wt), wt / (1 + wt * wt)


@pytest.fixture(scope="module")
def two_populations(tmp_path_factory):
    yy, xx = np.mgrid[:SHAPE[0], :SHAPE[1]]
    short = ((yy // 16) + (xx // 16)) % 2 == 0
    rate = 60.0
    layers = [(np.where(short, rate, 0.0), (0.6,), None, 0.02),
              (np.where(short, 0.0, rate), (2.8,), None, 0.02)]
    path = write_scene(tmp_path_factory.mktemp("ph") / "two.siff", [layers] * 4, SHAPE, seed=5)
    irf = histogram(np.random.default_rng(6), 10**6, (1e-4,))
    cal = Calibration.from_irf_histogram(irf, TAU_BINS, BIN_PS)
    return path, short, cal


def precision_recall(selected, truth):
    tp = np.sum(selected & truth)
    return tp / max(selected.sum(), 1), tp / truth.sum()


def test_cursors_select_the_short_lifetime_pixels(two_populations):
    path, short, cal = two_populations
    with SiffReader(path) as sr:
        ph = pixel_phasor(sr.siffio, range(4), cal)
    assert ph.counts.mean() == pytest.approx(240, rel=0.05)
    filtered = ph.thresholded(200).filtered(size=3)
    assert np.isnan(filtered.real[ph.counts < 200]).all()
    g_short, s_short = semicircle(0.6)
    g_long, s_long = semicircle(2.8)
    # the population centres sit at their lifetimes (2 % background shrinks them slightly)
    assert np.nanmedian(ph.real[short]) == pytest.approx(g_short * 0.98, abs=0.02)
    assert np.nanmedian(ph.imag[~short]) == pytest.approx(s_long * 0.98, abs=0.02)
    radius = 0.5 * np.hypot(g_short - g_long, s_short - s_long)
    circle = circular_cursor_mask(filtered.real, filtered.imag, g_short, s_short, radius)
    precision, recall = precision_recall(circle, short & (ph.counts >= 200))
    assert precision >= 0.95 and recall >= 0.95
    # a polygon around the short population (a quadrilateral past the midpoint)
    mid_g, mid_s = (g_short + g_long) / 2, (s_short + s_long) / 2
    poly = [(mid_g, mid_s - 0.2), (1.1, 0.0), (1.1, 0.5), (mid_g, mid_s + 0.2)]
    polygon = polygon_cursor_mask(filtered.real, filtered.imag, poly)
    precision, recall = precision_recall(polygon, short & (ph.counts >= 200))
    assert precision >= 0.95 and recall >= 0.95
    # the median filter tightens each cloud (block interiors: no mixing across edges)
    inner = short & (np.mgrid[:64, :64][0] % 16 > 1) & (np.mgrid[:64, :64][0] % 16 < 14) \
        & (np.mgrid[:64, :64][1] % 16 > 1) & (np.mgrid[:64, :64][1] % 16 < 14)
    assert np.nanstd(filtered.real[inner]) < 0.7 * np.nanstd(ph.real[inner])


def test_roi_mask_density_and_polygon_rule(two_populations):
    path, short, cal = two_populations
    mask = np.zeros(SHAPE, bool)
    mask[:16, :16] = True
    with SiffReader(path) as sr:
        ph = pixel_phasor(sr.siffio, [0, 1], cal, mask=mask)
        with pytest.raises(ValueError, match="mask shape"):
            pixel_phasor(sr.siffio, [0], cal, mask=mask[:10])
    assert np.isnan(ph.real[~mask]).all() and np.isfinite(ph.real[mask]).all()
    density, g_edges, s_edges = ph.density(bins=64)
    assert density.sum() == mask.sum() and density.shape == (64, 64)
    weighted, *_ = phasor_density(ph.real, ph.imag, 64, weights=ph.counts)
    assert weighted.sum() == pytest.approx(ph.counts[mask].sum())
    rng = np.random.default_rng(7)
    g, s = rng.uniform(-0.2, 1.2, 5000), rng.uniform(-0.2, 0.8, 5000)
    ref, ge, se = np.histogram2d(g, s, bins=50, range=((-0.05, 1.05), (-0.05, 0.65)))
    ours, oge, ose = phasor_density(g, s, 50)
    np.testing.assert_array_equal(ours, ref)
    np.testing.assert_allclose(oge, ge)
    np.testing.assert_allclose(ose, se)
    # even-odd rule on a concave polygon (an L shape), checked by hand
    ell = [(0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2)]
    g = np.array([0.5, 1.5, 1.5, 0.5, np.nan])
    s = np.array([0.5, 0.5, 1.5, 1.5, 0.5])
    np.testing.assert_array_equal(polygon_cursor_mask(g, s, ell), [True, True, False, True, False])
    with pytest.raises(ValueError):
        polygon_cursor_mask(g, s, ell[:2])


def test_phasor_extent_holds_every_point_within_the_unit_disc():
    from libsiff.flim.pixel_phasor import G_RANGE, S_RANGE, phasor_extent

    inside = np.array([0.2, 0.8]), np.array([0.1, 0.4])
    assert phasor_extent(*inside) == (G_RANGE, S_RANGE)
    assert phasor_extent(np.full(3, np.nan), np.full(3, np.nan)) == (G_RANGE, S_RANGE)
    g, s = phasor_extent(np.array([0.3, -0.4, np.nan]), np.array([0.74, -0.2, 5.0]))
    assert g == pytest.approx((-0.45, G_RANGE[1])) and s == pytest.approx((-0.25, 0.79))
    g, s = phasor_extent(np.array([-3.0]), np.array([2.0]))  # beyond any phasor: the disc
    assert g == pytest.approx((-1.05, G_RANGE[1])) and s == pytest.approx((S_RANGE[0], 1.05))
