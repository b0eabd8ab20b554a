"""Decoded-frame steps shared by the estimators: registered means per plane, the result."""

from __future__ import annotations

import numpy as np

from .progress import Ticker
from .sidecar import RegistrationInfo, file_fingerprint


def build_result(io, grid, alignment_color, rtype, shifts, subpixel, confidence, reference,
            options) -> RegistrationInfo:
    """Assemble a RegistrationInfo: shifts (T, Z, 2) signed ints apply to every colour."""
    H, W = io.frame_shape()
    valid = grid >= 0
    t, z, _ = np.nonzero(valid)
    frames = grid[valid]
    dy = (shifts[t, z, 0] % H).tolist()
    dx = (shifts[t, z, 1] % W).tolist()
    yx = dict(zip(frames.tolist(), zip(dy, dx, strict=True), strict=True))
    ref = np.asarray(reference, np.float32)
    return RegistrationInfo(
        registration_type=rtype, filename=io.filename, yx_shifts=yx,
        reference_frames=ref.squeeze() if ref.shape[0] == 1 else ref,
        registration_color_channel=alignment_color, frame_grid=grid,
        shifts=shifts.astype(np.int64), subpixel_shifts=subpixel.astype(np.float64),
        confidence=None if confidence is None else confidence.astype(np.float64),
        n_frames=io.num_frames(), frame_shape=(H, W),
        fingerprint=file_fingerprint(io.filename, io), options=options)


def decoded_batches(io, grid_zc: np.ndarray, shifts: np.ndarray | None, ticker: Ticker,
                    batch_frames: int = 256):
    """Decode the frames of ``grid_zc`` (T, Z) a few timepoints at a time, as registered.

    Yields ``(t, z, images)``: timepoint and plane of each decoded frame and the frames,
    uint16 (n, H, W), moved by ``shifts`` (T, Z, 2) unless None. Every plane of a batch is
    decoded together, i.e. in file order: the reader then releases the file's pages in long
    spans as it goes (read plane by plane, frames lie far apart and the pages around each
    frame would stay resident). Checks ``ticker`` for cancellation and adds progress."""
    T, Z = grid_zc.shape
    step = max(1, batch_frames // max(Z, 1))
    for r0 in range(0, T, step):
        ticker.check()
        sub = grid_zc[r0:r0 + step]
        valid = sub >= 0
        if not valid.any():
            continue
        frames = sub[valid]
        reg = None
        if shifts is not None:
            s = shifts[r0:r0 + step][valid]
            pairs = zip(s[:, 0].tolist(), s[:, 1].tolist(), strict=True)
            reg = dict(zip(frames.tolist(), pairs, strict=True))
        t, z = np.nonzero(valid)
        yield r0 + t, z, io.get_frames(frames, registration=reg)
        ticker.add(frames.size)


def registered_means(io, grid_zc: np.ndarray, shifts: np.ndarray | None,
                     ticker: Ticker) -> tuple[np.ndarray, np.ndarray]:
    """Mean registered frame per plane, float64 (Z, H, W), and frames used per plane.

    ``grid_zc`` is (T, Z) file frames of one colour; shifts (T, Z, 2) or None (see
    :func:`decoded_batches`)."""
    H, W = io.frame_shape()
    Z = grid_zc.shape[1]
    sums = np.zeros((Z, H, W))
    for _, plane, images in decoded_batches(io, grid_zc, shifts, ticker):
        if plane.size % Z == 0 and np.array_equal(plane, np.tile(np.arange(Z), plane.size // Z)):
            sums += images.reshape(-1, Z, H, W).sum(axis=0, dtype=np.uint64)  # no copy
            continue
        for z in np.unique(plane):
            sums[z] += images[plane == z].sum(axis=0, dtype=np.uint64)
    counts = (grid_zc >= 0).sum(axis=0).astype(np.int64)
    have = counts > 0
    sums[have] /= counts[have, None, None]
    return sums, counts
