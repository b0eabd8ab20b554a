"""Sub-pixel shifts: the maximum of the interpolated log-likelihood near each integer shift.

The log-likelihood of a shift is a correlation of photon counts with the log of a reference
smoothed by about a pixel, so it is smooth on the pixel scale and its integer samples
determine it between them. :func:`refine_subpixel` interpolates each timepoint's map
around the chosen integer shift with Keys' cubic convolution (an interpolating kernel:
it passes through the samples, no prefilter), evaluates it on a 0.02-pixel grid within
±0.6 pixel of the integer shift, and refines the best grid point with a parabola. The
integer shift itself (the HMM's posterior mode) is kept; only the offset is estimated.
"""

from __future__ import annotations

import numpy as np

from .spill import RowStore

__all__ = ["refine_subpixel"]

_REACH = 0.6     # largest offset searched from the integer shift, pixels
_STEP = 0.02     # grid of candidate offsets, pixels
_HALF = 3        # patch half-width read around the integer shift (Keys needs 2 + the reach)


def _keys(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Keys' cubic convolution kernel."""
    x = np.abs(x)
    return np.where(x <= 1, (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1,
                    np.where(x < 2, a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a, 0.0))


_OFFSETS = np.arange(-_REACH, _REACH + _STEP / 2, _STEP)
#: weights (K, 2*_HALF+1): value at offset k = sum_j W[k, j] * sample[j - _HALF]
_WEIGHTS = _keys(_OFFSETS[:, None] - np.arange(-_HALF, _HALF + 1)[None, :])


def refine_subpixel(maps: RowStore, shifts: np.ndarray, plane_group: np.ndarray,
                    window: tuple[int, int]) -> np.ndarray:
    """Sub-pixel shifts (T, Z, 2) float64: ``shifts`` plus the interpolated offset.

    ``maps`` holds the log-likelihood maps (T, G, 2Ry+1, 2Rx+1) with shift (dy, dx) at
    ``[Ry + dy, Rx + dx]``; ``shifts`` (T, Z, 2) are the chosen integer shifts (shared by
    the planes of a group). Timepoints without evidence (a flat map) get offset 0."""
    T, Z = shifts.shape[:2]
    Ny, Nx = maps.shape[2:]
    out = shifts.astype(np.float64)
    k = np.arange(-_HALF, _HALF + 1)
    for g in np.unique(plane_group):
        planes = np.flatnonzero(plane_group == g)
        centre = shifts[:, planes[0]] + np.array(window)  # window indices (T, 2)
        offsets = np.zeros((T, 2))
        for t0, t1 in maps.chunks():
            m = maps.read(t0, t1)[:, g]
            iy = np.clip(centre[t0:t1, 0, None] + k, 0, Ny - 1)   # (n, 7)
            ix = np.clip(centre[t0:t1, 1, None] + k, 0, Nx - 1)
            n = t1 - t0
            patch = m[np.arange(n)[:, None, None], iy[:, :, None], ix[:, None, :]]
            patch = patch.astype(np.float64)
            patch -= patch[:, _HALF, _HALF][:, None, None]
            surface = np.matmul(np.matmul(_WEIGHTS, patch), _WEIGHTS.T)  # (n, K, K)
            offsets[t0:t1] = _grid_peak(surface)
        out[:, planes] += offsets[:, None, :]
    return out


def _grid_peak(surface: np.ndarray) -> np.ndarray:
    """Offsets (n, 2) of each surface's maximum, refined by a parabola on the grid."""
    n, K, _ = surface.shape
    flat = surface.reshape(n, -1).argmax(axis=1)
    ky, kx = np.divmod(flat, K)
    t = np.arange(n)
    result = np.empty((n, 2))
    for axis, (kk, get) in enumerate((
            (ky, lambda d: surface[t, np.clip(ky + d, 0, K - 1), kx]),
            (kx, lambda d: surface[t, ky, np.clip(kx + d, 0, K - 1)]))):
        lo, mid, hi = get(-1), get(0), get(1)
        denom = lo - 2 * mid + hi
        inside = (kk > 0) & (kk < K - 1) & (denom < 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(inside, 0.5 * (lo - hi) / denom, 0.0)
        result[:, axis] = _OFFSETS[kk] + np.clip(frac, -0.5, 0.5) * _STEP
    flat_map = np.ptp(surface.reshape(n, -1), axis=1) == 0
    result[flat_map] = 0.0
    return result
