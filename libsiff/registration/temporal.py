"""Shifts from log-likelihood maps: the hidden Markov model over time, or each timepoint
alone; sub-pixel estimates and the placements used to rebuild references."""

from __future__ import annotations

import numpy as np

from .progress import Ticker


def _transition_matrices(sigma: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian step matrix ``M[i, j] = K(i - j)`` (n x n, zero beyond 3 sigma) and ``M * d**2``.

    K is normalised on the infinite line, so mass that would leave the window is lost."""
    radius = max(1, int(np.ceil(3 * sigma)))
    steps = np.arange(-radius, radius + 1)
    k = np.exp(-0.5 * (steps / sigma) ** 2)
    k /= k.sum()
    d = np.arange(n)[:, None] - np.arange(n)[None, :]
    m = np.where(np.abs(d) <= radius, k[np.clip(d + radius, 0, 2 * radius)], 0.0)
    return m.astype(np.float32), (m * d ** 2).astype(np.float32)


def _hmm(maps: np.ndarray, opts: dict, state: dict,
         iterations: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior-mode shifts of one group's log-likelihood maps (T, Ny, Nx).

    Hidden state: the integer shift (a window cell). Transition from d' to d:
    ``(1 - eps) * K(d - d') + eps * pi(d)``, K a Gaussian step of ``sigma`` pixels, pi the
    occupancy of the states (a jump lands where the sample has been). ``eps``, ``sigma``
    and pi are refined by EM (exact expectations from forward-backward) and carried between
    cycles in ``state``, with the box of states worth searching (the visited range plus a
    margin; it grows when a mode reaches its edge). Returns window indices (T, 2),
    sub-pixel offsets (T, 2) (local posterior mean, :func:`_local_mean`), and the
    posterior probability of each mode (T,)."""
    T, Ny, Nx = maps.shape
    box = state.get("box")
    if box is None:
        peaks = maps.reshape(T, -1).argmax(axis=1)
        box = _grow_box((0, Ny, 0, Nx), np.stack(np.divmod(peaks, Nx), 1), 3, (Ny, Nx))
    while True:
        y0, y1, x0, x1 = box
        modes, sub, conf = _hmm_box(maps[:, y0:y1, x0:x1], opts, state, box, (Ny, Nx),
                                    iterations)
        modes += (y0, x0)
        margin = max(3, int(np.ceil(3 * state["sigma"])))
        new_box = _grow_box(box, modes, margin, (Ny, Nx))
        touching = ((modes[:, 0] == y0) & (y0 > 0)) | ((modes[:, 0] == y1 - 1) & (y1 < Ny)) | \
                   ((modes[:, 1] == x0) & (x0 > 0)) | ((modes[:, 1] == x1 - 1) & (x1 < Nx))
        if not touching.any():
            state["box"] = new_box
            return modes, sub, conf
        box = (min(new_box[0], y0), max(new_box[1], y1), min(new_box[2], x0),
               max(new_box[3], x1))


def _grow_box(box, points: np.ndarray, margin: int, shape) -> tuple[int, int, int, int]:
    """Bounding box (y0, y1, x0, x1) of ``points`` plus ``margin``, clipped to ``shape``."""
    lo = points.min(axis=0) - margin
    hi = points.max(axis=0) + margin + 1
    return (max(0, int(lo[0])), min(shape[0], int(hi[0])),
            max(0, int(lo[1])), min(shape[1], int(hi[1])))


def _hmm_box(maps: np.ndarray, opts: dict, state: dict, box, full_shape, iterations: int):
    """Forward-backward with EM on a box of states; see :func:`_hmm`."""
    from scipy.ndimage import gaussian_filter
    T, Ny, Nx = maps.shape
    y0, y1, x0, x1 = box
    emis = maps - maps.max(axis=(1, 2), keepdims=True)
    np.exp(emis, out=emis)
    pi_full = state.get("pi")
    if pi_full is None:
        pi_full = np.ones(full_shape, np.float32)
    pi = pi_full[y0:y1, x0:x1]
    pi = (pi / pi.sum()).astype(np.float32)
    eps = state.get("eps", opts["jump_probability"])
    sigma = state.get("sigma", opts["step_sigma"])
    alpha = np.empty_like(emis)
    for _ in range(iterations):
        my, my2 = _transition_matrices(sigma, Ny)
        mx, mx2 = _transition_matrices(sigma, Nx)
        mxt, mx2t = mx.T.copy(), mx2.T.copy()
        a = pi * emis[0]
        alpha[0] = a / a.sum()
        jump_prior = eps * pi
        for t in range(1, T):
            a = my @ alpha[t - 1] @ mxt
            a *= 1.0 - eps
            a += jump_prior
            a *= emis[t]
            alpha[t] = a / a.sum()
        b = np.ones((Ny, Nx), np.float32)
        flat_modes = np.empty(T, np.int64)
        conf = np.empty(T)
        around = np.empty((T, 5))  # posterior at the mode and its 4 neighbours
        occupancy = np.zeros((Ny, Nx))
        resp = np.zeros(max(T - 1, 1))
        step_sq = np.zeros(max(T - 1, 1))
        for t in range(T - 1, -1, -1):
            g = alpha[t] * b
            g /= g.sum()
            occupancy += g
            i = int(np.argmax(g))
            flat_modes[t] = i
            y, x = divmod(i, Nx)
            around[t] = (g[y, x], g[y - 1, x] if y > 0 else 0.0,
                         g[y + 1, x] if y < Ny - 1 else 0.0, g[y, x - 1] if x > 0 else 0.0,
                         g[y, x + 1] if x < Nx - 1 else 0.0)
            if t == 0:
                break
            eb = emis[t] * b
            ky = my @ eb
            local = ky @ mxt
            moved = ky @ mx2t + (my2 @ eb) @ mxt
            prev = alpha[t - 1]
            stay = float(np.vdot(prev, local))
            jump = eps * float(np.vdot(pi, eb))
            resp[t - 1] = jump / max(jump + (1.0 - eps) * stay, 1e-300)
            step_sq[t - 1] = float(np.vdot(prev, moved)) / max(stay, 1e-300)
            b = (1.0 - eps) * local + jump
            b /= b.max()
        conf[:] = around[:, 0]
        if T > 1:
            eps = float(np.clip(resp.mean(), 1e-4, 1 - 1e-3))
            w = 1.0 - resp
            sigma = float(np.clip(np.sqrt((w * step_sq).sum() / max(2 * w.sum(), 1e-12)),
                                  0.15, 4.0))
        occ = np.zeros(full_shape)
        occ[y0:y1, x0:x1] = occupancy / T
        occ = gaussian_filter(occ, 1.0, mode="constant")
        pi_full = (0.999 * occ / occ.sum() + 0.001 / occ.size).astype(np.float32)
        pi = pi_full[y0:y1, x0:x1] / pi_full[y0:y1, x0:x1].sum()
    state["eps"], state["pi"], state["sigma"] = eps, pi_full, sigma
    modes = np.stack(np.divmod(flat_modes, Nx), axis=1)
    sub = np.stack([_local_mean(around[:, 1], around[:, 0], around[:, 2]),
                    _local_mean(around[:, 3], around[:, 0], around[:, 4])], axis=1)
    return modes, sub, conf


def _local_mean(lo: np.ndarray, mid: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Posterior-mean offset (pixels, within ±0.5) from probabilities at -1, 0 (mode), +1.

    A confident posterior gives exactly 0; one split between two shifts gives the point
    between them. (A parabola through the log-posterior is not used: at high photon
    counts the log-likelihood is far from quadratic on a 1-pixel scale and its vertex
    wanders by tenths of a pixel on integer motion.)"""
    total = lo + mid + hi
    with np.errstate(invalid="ignore", divide="ignore"):
        off = np.where(total > 0, (hi - lo) / total, 0.0)
    return np.nan_to_num(off)


def _independent(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-timepoint maximum-likelihood shifts (no temporal pooling), as :func:`_hmm`."""
    T, Ny, Nx = maps.shape
    flat = maps.reshape(T, -1).astype(np.float64)
    idx = np.argmax(flat, axis=1)
    flat -= flat[np.arange(T), idx][:, None]
    conf = 1.0 / np.exp(flat).sum(axis=1)
    y, x = np.divmod(idx, Nx)
    p = np.pad(np.exp(flat).reshape(T, Ny, Nx), ((0, 0), (1, 1), (1, 1)))
    t = np.arange(T)
    sub = np.stack([_local_mean(p[t, y, x + 1], p[t, y + 1, x + 1], p[t, y + 2, x + 1]),
                    _local_mean(p[t, y + 1, x], p[t, y + 1, x + 1], p[t, y + 1, x + 2])],
                   axis=1)
    return np.stack([y, x], axis=1), sub, conf


def decide(maps: np.ndarray, plane_group: np.ndarray, window: tuple[int, int], o: dict,
            state: dict, ticker: Ticker,
            iterations: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shifts (T, Z, 2) int, sub-pixel shifts (T, Z, 2) and confidence (T, Z) from the maps."""
    T, n_groups = maps.shape[:2]
    Z = plane_group.size
    shifts = np.zeros((T, Z, 2), np.int64)
    subpixel = np.zeros((T, Z, 2))
    confidence = np.zeros((T, Z))
    for g in range(n_groups):
        ticker.check()
        if o["temporal"] == "hmm":
            modes, sub, conf = _hmm(maps[:, g], o, state.setdefault(g, {}), iterations)
        else:
            modes, sub, conf = _independent(maps[:, g])
        signed = modes - np.array(window)
        planes = plane_group == g
        shifts[:, planes] = signed[:, None, :]
        subpixel[:, planes] = (signed + sub)[:, None, :]
        confidence[:, planes] = conf[:, None]
    return shifts, subpixel, confidence


def placements(subpixel: np.ndarray, plane_group: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """Integer shifts (T, Z, 2) that place frames for the next references.

    Sub-pixel estimates are first re-centred per plane group on the lattice (their
    circular-mean fractional part is removed), then rounded stochastically: a frame 0.3
    pixel past an integer lands one pixel further with probability 0.3, so the reference
    is, on average, a sub-pixel placement of the frames (linear interpolation) built by the
    decoder without resampling. At low photon rates this removes a trap of integer
    registration: a reference blurred half-way between two positions, against which frames
    split at random between the two and rebuild the same blur."""
    out = np.empty(subpixel.shape, np.int64)
    for g in np.unique(plane_group):
        planes = plane_group == g
        s = subpixel[:, planes]
        centre = np.angle(np.exp(2j * np.pi * s).reshape(-1, 2).mean(axis=0)) / (2 * np.pi)
        v = s - centre
        low = np.floor(v)
        out[:, planes] = (low + (rng.random(v.shape) < v - low)).astype(np.int64)
    return out

