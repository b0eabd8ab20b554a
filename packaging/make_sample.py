"""Writes siffviewer/data/sample.siff, the acquisition the app opens when no file is given:
3 planes + 1 flyback, 2 colour channels, slow drift with jumps, bi- and mono-exponential
decays with a Gaussian IRF, a few events. Run: python packaging/make_sample.py"""

from pathlib import Path

from libsiff.testing import SimulationSpec, simulate

SPEC = SimulationSpec(
    height=96, width=112, slices=3, flyback_planes=1, colors=2, timepoints=40,
    photons_per_pixel=1.2, background=0.03, motion="jumps", max_shift_px=4,
    taus_ns=((0.6, 2.8), (2.2,)), fracs=((0.4, 0.6), (1.0,)), encoding="auto",
    frame_rate_hz=30.0, events=[(80, "odor on"), (240, "odor off")], seed=2024,
    keep_photons=False,
)

if __name__ == "__main__":
    out = Path(__file__).resolve().parent.parent / "siffviewer" / "data" / "sample.siff"
    simulate(out, SPEC)
    print(f"{out}: {out.stat().st_size / 1e6:.1f} MB")
