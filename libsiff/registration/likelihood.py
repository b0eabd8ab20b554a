"""Poisson log-likelihood of every shift in a window, for batches of decoded frames.

For photon counts ``n`` and a reference ``lam`` the log-likelihood of a shift ``d`` is
``sum_p n[p] * log(lam[p + d])`` plus a constant: a cross-correlation of the counts with
``log(lam)``, computed for every shift at once with real FFTs.
"""

from __future__ import annotations

import numpy as np

from .progress import Ticker
from .spill import RowStore

_PHASES = ((0, 0), (0, 1), (1, 0), (1, 1))


def log_reference_spectra(lam: np.ndarray, sigma: float, workers: int,
                           binned: bool = False) -> np.ndarray:
    """rfft2 of the zero-mean log of smoothed references (Z, Ce, H, W) -> complex64.

    Full resolution: (Z, Ce, H, W//2+1). ``binned``: (Z, Ce, 4, H/2, W/4+1), the log of the
    reference rolled by ``-(ay, ax)`` for each phase of :data:`_PHASES` and averaged over
    2x2 blocks, i.e. the expected photons of a 2x2-binned frame whose full-resolution shift
    is ``2 * e + (ay, ax)``. The floor (5 % of the image mean) keeps pixels without photons
    in the reference finite and limits the weight of a stray photon in a dark region."""
    from scipy import fft as sfft  # imported on use: opening a file needs no scipy
    from scipy.ndimage import gaussian_filter
    axes_sigma = (0,) * (lam.ndim - 2) + (sigma, sigma)
    smooth = gaussian_filter(lam, axes_sigma, mode="wrap") if sigma > 0 else lam
    if binned:
        H, W = smooth.shape[-2:]
        smooth = np.stack([
            np.roll(smooth, (-ay, -ax), axis=(-2, -1))
            .reshape(*smooth.shape[:-2], H // 2, 2, W // 2, 2).mean(axis=(-3, -1))
            for ay, ax in _PHASES], axis=-3)
    # One floor and one offset per reference: per-phase constants would add a
    # phase-dependent multiple of the photon count, a 2-pixel ripple, to the maps.
    axes = (-3, -2, -1) if binned else (-2, -1)
    mean = smooth.mean(axis=axes, keepdims=True)
    g = np.log(smooth + 0.05 * mean + 1e-12)
    g -= g.mean(axis=axes, keepdims=True)
    return sfft.rfft2(g.astype(np.float32), workers=workers)


def likelihood_maps(io, ev: np.ndarray, rows: np.ndarray, spectra: np.ndarray,
                     plane_group: np.ndarray, maps: RowStore, opts: dict,
                     ticker: Ticker) -> None:
    """Fill ``maps[rows]`` with the log-likelihood of every shift in the window, in nats.

    ``ev`` (T, Z, Ce) evidence frames; ``spectra`` from :func:`log_reference_spectra`;
    ``maps`` a float32 :class:`RowStore` (T, G, 2Ry+1, 2Rx+1). Entry ``[t, g, Ry + dy, Rx + dx]`` is
    ``sum_p n_t[p] log lam[p + (dy, dx)]`` summed over the frames of plane group g at
    timepoint t, i.e. the log-likelihood that ``np.roll(frame, (dy, dx))`` matches the
    reference (up to a constant); 0 where the group has no frame. The sum over planes and
    colours is taken in the Fourier domain: one inverse FFT per timepoint and group.

    With binned spectra the frames are summed over 2x2 blocks first (a quarter of the
    forward FFT work) and the map is the exact likelihood of the binned counts, for every
    full-resolution shift: the shift ``2 * e + a`` is read from phase a's correlation at
    binned shift e."""
    H, W = io.frame_shape()
    Z, Ce = ev.shape[1:]
    binned = spectra.ndim == 5
    n_groups = maps.shape[1]
    Ry, Rx = maps.shape[2] // 2, maps.shape[3] // 2
    iy = np.arange(-Ry, Ry + 1) % H
    ix = np.arange(-Rx, Rx + 1) % W
    step = max(1, opts["batch_frames"] // (Z * Ce))
    workers = opts["workers"]
    for r0 in range(0, rows.size, step):
        ticker.check()
        batch_rows = rows[r0:r0 + step]
        sub = ev[batch_rows]
        valid = sub >= 0
        if not valid.any():
            continue
        frames = sub[valid]
        full = _correlate(_count_spectra(io.get_frames(frames), valid, binned, workers), valid,
                          spectra, plane_group, n_groups, (H, W), workers)
        has = valid.reshape(sub.shape[0], Z, Ce).any(axis=2)
        for g in range(n_groups):
            sel = has[:, plane_group == g].any(axis=1)
            maps.write(batch_rows[sel], full[sel, g][:, iy][:, :, ix], part=g)
        ticker.add(frames.size)



def _count_spectra(images: np.ndarray, valid: np.ndarray, binned: bool,
                   workers: int) -> np.ndarray:
    """rfft2 of decoded frames (2x2-binned if asked), complex64 (rows, Z, Ce, ...), 0 where
    ``valid`` (rows, Z, Ce) has no frame."""
    from scipy import fft as sfft
    counts = images.astype(np.float32)
    if binned:
        counts = counts[:, 0::2] + counts[:, 1::2]
        counts = counts[:, :, 0::2] + counts[:, :, 1::2]
    F = sfft.rfft2(counts, workers=workers)
    del counts
    if valid.all():
        return F.reshape(*valid.shape, *F.shape[1:])
    dense = np.zeros((*valid.shape, *F.shape[1:]), F.dtype)
    dense[valid] = F
    return dense


def _correlate(F: np.ndarray, valid: np.ndarray, spectra: np.ndarray, plane_group: np.ndarray,
               n_groups: int, shape: tuple[int, int], workers: int) -> np.ndarray:
    """Log-likelihood of every full-resolution shift, float32 (rows, G, H, W): the frames'
    spectra times the log-reference spectra, summed over planes of a group and colours in
    the Fourier domain, then one inverse FFT (per phase when binned)."""
    from scipy import fft as sfft
    H, W = shape
    Z, Ce = valid.shape[1:]
    binned = spectra.ndim == 5
    n = F.shape[0]
    acc = np.zeros((n, n_groups, *spectra.shape[2:]), F.dtype)
    for z in range(Z):
        for c in range(Ce):
            if valid[:, z, c].any():
                term = np.conjugate(F[:, z, c])
                acc[:, plane_group[z]] += term[:, None] * spectra[z, c] if binned \
                    else term * spectra[z, c]
    del F  # the caller keeps no reference: free it before the inverse FFT
    if not binned:
        return sfft.irfft2(acc, s=(H, W), workers=workers)
    parts = sfft.irfft2(acc, s=(H // 2, W // 2), workers=workers)
    full = np.empty((n, n_groups, H, W), np.float32)
    for k, (ay, ax) in enumerate(_PHASES):
        full[:, :, ay::2, ax::2] = parts[:, :, k]
    return full
