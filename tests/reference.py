"""Independent pure-numpy truth for what a reader must return, computed from the photons a
file was written with (not from any reader). Semantics of docs/format.md §7 with the
corrections of docs/format.md §12: exact np.roll shifts, 64-bit sums, one phasor convention."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Truth:
    """Photons per frame and what else a file was written with."""

    height: int
    width: int
    tau_bins: int | None
    photon_y: np.ndarray
    photon_x: np.ndarray
    photon_tau: np.ndarray
    photon_offsets: np.ndarray  # (n+1,)
    encoding: np.ndarray  # 0 raw, 1 compressed, 2 plain TIFF
    intensity: np.ndarray  # (n, H, W) as stored (TIFF frames: the image)

    @classmethod
    def from_npz(cls, path) -> Truth:
        d = np.load(path, allow_pickle=True)
        return cls(int(d["height"]), int(d["width"]), int(d["tau_bins"]), d["photon_y"],
                   d["photon_x"], d["photon_tau"], d["photon_offsets"], d["encoding"],
                   d["intensity"])

    @property
    def n_frames(self) -> int:
        return len(self.photon_offsets) - 1

    @property
    def L(self) -> int:
        return self.tau_bins + 2

    def photons(self, frame: int, shift=(0, 0)):
        """(registered flat pixel index, arrival bin) of one frame's photons."""
        a, b = self.photon_offsets[frame], self.photon_offsets[frame + 1]
        H, W = self.height, self.width
        y = (self.photon_y[a:b].astype(np.int64) % H + shift[0]) % H
        x = (self.photon_x[a:b].astype(np.int64) % W + shift[1]) % W
        return y * W + x, self.photon_tau[a:b].astype(np.int64)

    def _shift(self, shifts, i):
        return (0, 0) if shifts is None else (int(shifts[i][0]), int(shifts[i][1]))

    def frames(self, frames, shifts=None) -> np.ndarray:
        H, W = self.height, self.width
        out = np.zeros((len(frames), H, W), np.uint16)
        for i, fr in enumerate(frames):
            s = self._shift(shifts, i)
            if self.encoding[fr] == 2:
                out[i] = np.roll(self.intensity[fr], s, axis=(0, 1))
            else:
                pix, _ = self.photons(fr, s)
                out[i] = np.bincount(pix, minlength=H * W).astype(np.uint16).reshape(H, W)
        return out

    def mask_sums(self, masks, frames, shifts=None) -> np.ndarray:
        """masks (R, P, H, W) bool -> uint64 (R, n)."""
        img = self.frames(frames, shifts).astype(np.uint64)
        P = masks.shape[1]
        return np.stack([
            np.array([img[i][masks[r, i % P]].sum() for i in range(len(frames))], np.uint64)
            for r in range(masks.shape[0])
        ])

    def histograms(self, frames, masks=None, shifts=None) -> np.ndarray:
        """(n, L), or (R, n, L) with masks (R, P, H, W)."""
        L = self.L
        R = 1 if masks is None else masks.shape[0]
        out = np.zeros((R, len(frames), L), np.uint64)
        for i, fr in enumerate(frames):
            pix, tau = self.photons(fr, self._shift(shifts, i))
            for r in range(R):
                keep = np.ones(len(pix), bool) if masks is None else \
                    masks[r, i % masks.shape[1]].ravel()[pix]
                out[r, i] = np.bincount(tau[keep] % L, minlength=L)
        return out[0] if masks is None else out

    def full(self, frames, shifts=None) -> np.ndarray:
        H, W, L = self.height, self.width, self.L
        out = np.zeros((len(frames), H * W * L), np.uint64)
        for i, fr in enumerate(frames):
            pix, tau = self.photons(fr, self._shift(shifts, i))
            out[i] = np.bincount(pix * L + tau % L, minlength=H * W * L)
        return out.astype(np.uint16).reshape(len(frames), H, W, L)

    def pixel_flim(self, frames, shifts=None, phasor=False, offset_bins=0.0):
        """(lifetime or phasor (n,H,W), counts uint16 (n,H,W))."""
        H, W = self.height, self.width
        life = np.zeros((len(frames), H * W), np.complex128 if phasor else np.float64)
        counts = np.zeros((len(frames), H * W), np.int64)
        for i, fr in enumerate(frames):
            pix, tau = self.photons(fr, self._shift(shifts, i))
            counts[i] = np.bincount(pix, minlength=H * W)
            if phasor:
                z = np.exp(2j * np.pi * (tau % self.L) / self.L)
                s = np.bincount(pix, z.real, H * W) + 1j * np.bincount(pix, z.imag, H * W)
            else:
                s = np.bincount(pix, tau.astype(np.float64), H * W)
            with np.errstate(invalid="ignore", divide="ignore"):
                life[i] = s / counts[i]
        if phasor:
            life *= np.exp(-2j * np.pi * offset_bins / self.L)
        else:
            life -= offset_bins
        return life.reshape(len(frames), H, W), counts.astype(np.uint16).reshape(len(frames), H, W)

    def roi_flim(self, masks, frames, shifts=None, phasor=False, offset_bins=0.0):
        """(lifetime or phasor (R, n), counts uint64 (R, n)) for masks (R, P, H, W)."""
        R, P = masks.shape[:2]
        life = np.zeros((R, len(frames)), np.complex128 if phasor else np.float64)
        counts = np.zeros((R, len(frames)), np.uint64)
        for i, fr in enumerate(frames):
            pix, tau = self.photons(fr, self._shift(shifts, i))
            for r in range(R):
                keep = masks[r, i % P].ravel()[pix]
                counts[r, i] = keep.sum()
                with np.errstate(invalid="ignore", divide="ignore"):
                    if phasor:
                        life[r, i] = np.exp(2j * np.pi * (tau[keep] % self.L) / self.L).sum() / keep.sum()
                    else:
                        life[r, i] = tau[keep].sum() / keep.sum()
        if phasor:
            life *= np.exp(-2j * np.pi * offset_bins / self.L)
        else:
            life -= offset_bins
        return life, counts


class OffsetParams:
    """A duck-typed FLIMParams: what corrosiffpy's binding reads (units, tau_offset)."""

    def __init__(self, offset_bins: float, bin_ps: float = 20.0):
        self.units = "countbins"
        self.tau_offset = offset_bins
        self._bin_ps = bin_ps

    def convert_units(self, units: str) -> None:
        scale = {"countbins": 1.0, "picoseconds": self._bin_ps, "nanoseconds": self._bin_ps / 1000}
        self.tau_offset = self.tau_offset / scale[self.units] * scale[units]
        self.units = units
