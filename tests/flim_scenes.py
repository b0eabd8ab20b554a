"""Small FLIM acquisitions with known truth for the lifetime tests (one plane, one colour).

Photons are drawn by ``libsiff.simulate.simulate_histogram`` (numpy sampling of IRF offset +
Gaussian jitter + exponentials, binned ``floor(t / bin) % Tau_bins``), so the truth is the
simulator's input, not libsiff's model. Each scene is a list of per-frame layers: an
expected-photon image and the decay its photons follow; frames are written with
:class:`libsiff.writer.SiffWriter`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from libsiff.simulate import simulate_histogram
from libsiff.writer import SiffWriter, build_nvfd, build_roi_json, make_description

TAU_BINS = 629
BIN_RESOLUTION = 2
BIN_PS = 5 * 2 ** BIN_RESOLUTION            # 20 ps
IRF_OFFSET_NS = 1.2
IRF_SIGMA_NS = 0.12
L = TAU_BINS + 2


def header(height: int, width: int, n_frames: int) -> tuple[str, str]:
    """NVFD and ROI text of a single-plane, single-colour FLIM time series."""
    nvfd = build_nvfd(**{
        "SI.hChannels.channelSave": [1], "SI.hChannels.channelsActive": [1],
        "SI.hChannels.channelDisplay": [1],
        "SI.hFastZ.enable": False, "SI.hFastZ.discardFlybackFrames": False,
        "SI.hFastZ.numDiscardFlybackFrames": 0,
        "SI.hStackManager.enable": False, "SI.hStackManager.numSlices": 1,
        "SI.hStackManager.actualNumSlices": 1, "SI.hStackManager.framesPerSlice": 1,
        "SI.hStackManager.numVolumes": n_frames, "SI.hStackManager.actualNumVolumes": n_frames,
        "SI.hStackManager.numFramesPerVolume": 1,
        "SI.hStackManager.numFramesPerVolumeWithFlyback": 1,
        "SI.hStackManager.zs": [0.0], "SI.hStackManager.zsRelative": [0.0],
        "SI.hStackManager.zsAllActuators": [0.0],
        "SI.hRoiManager.pixelsPerLine": width, "SI.hRoiManager.linesPerFrame": height,
        "SI.hRoiManager.mroiEnable": False, "SI.hRoiManager.scanFrameRate": 30.0,
        "SI.hRoiManager.scanFramePeriod": 1 / 30.0, "SI.hRoiManager.scanVolumeRate": 30.0,
        "SI.hScan2D.hAcq.Tau_bins": TAU_BINS, "SI.hScan2D.hAcq.binResolution": BIN_RESOLUTION,
    })
    return nvfd, build_roi_json(height, width)


def draw_layer(rng, expected: np.ndarray, taus_ns: Sequence[float],
               fracs: Sequence[float] | None = None, noise: float = 0.0):
    """Photons ``(y, x, tau)`` of one layer: Poisson counts per pixel, the given decay."""
    counts = rng.poisson(expected)
    flat = counts.ravel()
    pixel = np.repeat(np.arange(flat.size), flat)
    tau = simulate_histogram(pixel.size, taus_ns, fracs, IRF_OFFSET_NS, IRF_SIGMA_NS, TAU_BINS,
                             BIN_PS, noise_fraction=noise, rng=rng)
    y, x = np.divmod(pixel, expected.shape[1])
    return y, x, tau


def write_scene(path: Path, frames: list[list[tuple]], shape: tuple[int, int], seed: int = 0):
    """Write frames; each frame is a list of layers ``(expected, taus_ns, fracs, noise)``."""
    rng = np.random.default_rng(seed)
    nvfd, roi = header(*shape, len(frames))
    with SiffWriter(path, nvfd, roi) as writer:
        for i, layers in enumerate(frames):
            parts = [draw_layer(rng, *layer) for layer in layers]
            y, x, tau = (np.concatenate([p[j] for p in parts]) for j in range(3))
            desc = make_description(i + 1, (i + 1) / 30.0, 1713382945000000000 + i * 33_000_000)
            writer.add_frame(y, x, tau, shape, "auto", desc)
    return path


def histogram(rng, n_photons: int, taus_ns, fracs=None, noise: float = 0.0) -> np.ndarray:
    """Arrival histogram (L bins) of ``n_photons`` photons."""
    tau = simulate_histogram(n_photons, taus_ns, fracs, IRF_OFFSET_NS, IRF_SIGMA_NS, TAU_BINS,
                             BIN_PS, noise_fraction=noise, rng=rng)
    return np.bincount(tau, minlength=L).astype(np.float64)
