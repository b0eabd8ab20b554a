"""A structured synthetic sample (cell bodies, dendrites, neuropil haze) and its motion."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

__all__ = ["sample_images", "motion_shifts"]

_MOTIONS = ("none", "drift", "jumps", "jitter")


def _stamp(img: np.ndarray, cy: float, cx: float, patch: np.ndarray) -> None:
    """Add ``patch`` centred at (cy, cx) into ``img`` with periodic wrap."""
    h, w = img.shape
    ry, rx = patch.shape[0] // 2, patch.shape[1] // 2
    ys = (int(round(cy)) + np.arange(-ry, ry + 1)) % h
    xs = (int(round(cx)) + np.arange(-rx, rx + 1)) % w
    img[np.ix_(ys, xs)] += patch


def _cell_patch(radius: float, elong: float, angle: float, limit: tuple[int, int]) -> np.ndarray:
    """Soma profile: flat-topped ellipse with a dimmer nucleus."""
    r = int(np.ceil(2.2 * radius * max(elong, 1.0)))
    ry, rx = min(r, (limit[0] - 1) // 2), min(r, (limit[1] - 1) // 2)
    yy, xx = np.mgrid[-ry:ry + 1, -rx:rx + 1].astype(float)
    ca, sa = np.cos(angle), np.sin(angle)
    u, v = (ca * xx + sa * yy) / elong, -sa * xx + ca * yy
    d = np.hypot(u, v) / radius
    return np.exp(-d ** 4) * (1.0 - 0.55 * np.exp(-(d / 0.45) ** 2))


def _dendrites(rng: np.random.Generator, h: int, w: int, n: int) -> np.ndarray:
    """Smooth random curves with varicosities, drawn as a blurred line density."""
    img = np.zeros(h * w)
    n_steps = int(2.4 * max(h, w))  # half-pixel steps: curves about 1.2x the frame size
    for _ in range(n):
        angle = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.06, n_steps))
        y = rng.uniform(0, h) + np.cumsum(0.5 * np.sin(angle))
        x = rng.uniform(0, w) + np.cumsum(0.5 * np.cos(angle))
        beads = 0.6 + 0.4 * np.sin(np.cumsum(rng.uniform(0.05, 0.3, n_steps))) ** 8
        idx = (np.round(y).astype(int) % h) * w + np.round(x).astype(int) % w
        img += np.bincount(idx, weights=beads * rng.uniform(0.5, 1.0), minlength=h * w)
    img = gaussian_filter(img.reshape(h, w), 0.8, mode="wrap")
    return img / img.max() if img.max() > 0 else img


def sample_images(rng: np.random.Generator, slices: int, colors: int, height: int,
                  width: int) -> np.ndarray:
    """Structured sample per plane and colour, float64 (S, C, H, W) in [0, 1].

    Each plane has its own cells (elliptic somata, random expression level per
    colour), dendrite-like processes and a smooth neuropil haze. Colour 0 is the
    bright activity channel; further colours weight the parts differently, like
    a structural marker.
    """
    h, w = height, width
    out = np.empty((slices, colors, h, w))
    n_cells = max(2, int(round(h * w / 700)))
    base_r = max(1.2, 0.035 * min(h, w) + 1.5)
    for s in range(slices):
        cells = np.zeros((colors, h, w))
        for _ in range(n_cells):
            patch = _cell_patch(base_r * rng.uniform(0.7, 1.3), rng.uniform(1.0, 1.5),
                                rng.uniform(0, np.pi), (h, w))
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            for c, level in enumerate(rng.uniform(0.35, 1.0, colors)):
                _stamp(cells[c], cy, cx, level * patch)
        cells = np.minimum(cells, 1.0)
        dend = _dendrites(rng, h, w, int(rng.integers(2, 6)))
        haze = gaussian_filter(rng.random((h, w)), max(h, w) / 16, mode="wrap")
        haze = (haze - haze.min()) / max(np.ptp(haze), 1e-12)
        for c in range(colors):
            dend_w, haze_w = (0.55, 0.12) if c == 0 else (0.3, 0.06)
            out[s, c] = np.clip(cells[c] + dend_w * dend + haze_w * (0.3 + haze), 0.0, 1.0)
    return out


def motion_shifts(rng: np.random.Generator, kind: str, timepoints: int,
                  max_shift: int, subpixel: bool = False) -> np.ndarray:
    """Sample displacement per timepoint, int (T, 2) (dy, dx), |values| <= max_shift.

    The frame at timepoint t is ``np.roll(sample, motion[t])``; ``-motion[t]`` undoes it.
    With ``subpixel`` the values are real (float64) and the sample moves continuously.
    """
    m = int(max_shift)
    if kind == "none" or m == 0:
        return np.zeros((timepoints, 2), dtype=np.float64 if subpixel else np.int64)
    if kind == "jitter":
        if subpixel:
            return rng.uniform(-m, m, size=(timepoints, 2))
        return rng.integers(-m, m + 1, size=(timepoints, 2))
    if kind == "drift":
        direction = rng.normal(size=2)
        direction *= m / np.abs(direction).max()
        frac = np.linspace(0.0, 1.0, timepoints)[:, None]
        return frac * direction if subpixel else np.round(frac * direction).astype(np.int64)
    if kind == "jumps":
        jumps = np.zeros(timepoints, dtype=bool)
        jumps[1:] = rng.random(timepoints - 1) < 0.15
        if timepoints > 1 and not jumps.any():
            jumps[timepoints // 2] = True
        levels = (rng.uniform(-m, m, size=(timepoints, 2)) if subpixel
                  else rng.integers(-m, m + 1, size=(timepoints, 2)))
        levels[0] = 0
        return levels[np.cumsum(jumps)]
    raise ValueError(f"motion must be one of {_MOTIONS}, not {kind!r}")
