"""Shifts from log-likelihood maps: the hidden Markov model over time, or each timepoint
alone; sub-pixel estimates and the placements used to rebuild references."""

from __future__ import annotations

import numpy as np

from .progress import Ticker
from .spill import RowStore


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


def _hmm(maps: RowStore, g: int, opts: dict, state: dict,
         iterations: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior-mode shifts of plane group ``g`` of the log-likelihood maps (T, G, Ny, Nx).

    Hidden state: the integer shift (a window cell). Transition from d' to d:
    ``(1 - eps) * K(d - d') + eps * pi(d)``, K a Gaussian step of ``sigma`` pixels, pi the
    occupancy of the states (a jump lands where the sample has been). ``eps``, ``sigma``
    and pi are refined by EM (exact expectations from forward-backward) and carried between
    cycles in ``state``, with the box of states worth searching (the visited range plus a
    margin; it grows when a mode reaches its edge). Returns window indices (T, 2),
    sub-pixel offsets (T, 2) (local posterior mean, :func:`_local_mean`), and the
    posterior probability of each mode (T,). The maps and the forward messages are
    streamed in chunks (:class:`RowStore`), so memory does not grow with T beyond a few
    numbers per timepoint."""
    Ny, Nx = maps.shape[2:]
    box = state.get("box")
    if box is None:
        box = _grow_box((0, Ny, 0, Nx), _peaks(maps, g), 3, (Ny, Nx))
    while True:
        y0, y1, x0, x1 = box
        modes, sub, conf = _hmm_box(maps, g, opts, state, box, iterations)
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


def _peaks(maps: RowStore, g: int) -> np.ndarray:
    """Window index (T, 2) of each timepoint's largest log-likelihood in group ``g``."""
    Nx = maps.shape[3]
    peaks = np.empty((maps.shape[0], 2), np.int64)
    for t0, t1 in maps.chunks():
        flat = maps.read(t0, t1)[:, g].reshape(t1 - t0, -1).argmax(axis=1)
        peaks[t0:t1] = np.stack(np.divmod(flat, Nx), 1)
    return peaks


def _grow_box(box, points: np.ndarray, margin: int, shape) -> tuple[int, int, int, int]:
    """Bounding box (y0, y1, x0, x1) of ``points`` plus ``margin``, clipped to ``shape``."""
    lo = points.min(axis=0) - margin
    hi = points.max(axis=0) + margin + 1
    return (max(0, int(lo[0])), min(shape[0], int(hi[0])),
            max(0, int(lo[1])), min(shape[1], int(hi[1])))


def _emissions(maps: RowStore, g: int, box, t0: int, t1: int) -> np.ndarray:
    """Likelihoods (T', Ny', Nx') of timepoints t0:t1 in the box, scaled to peak 1 each."""
    y0, y1, x0, x1 = box
    m = maps.read(t0, t1)[:, g, y0:y1, x0:x1]
    emis = m - m.max(axis=(1, 2), keepdims=True)
    np.exp(emis, out=emis)
    return emis


class _Steps:
    """Transition matrices of a Gaussian step of ``sigma`` pixels on an Ny x Nx box."""

    def __init__(self, sigma: float, Ny: int, Nx: int):
        self.my, self.my2 = _transition_matrices(sigma, Ny)
        mx, mx2 = _transition_matrices(sigma, Nx)
        self.mxt, self.mx2t = mx.T.copy(), mx2.T.copy()


def _hmm_box(maps: RowStore, g: int, opts: dict, state: dict, box, iterations: int):
    """Forward-backward with EM on a box of states; see :func:`_hmm`."""
    T = maps.shape[0]
    full_shape = maps.shape[2:]
    y0, y1, x0, x1 = box
    pi_full = state.get("pi")
    if pi_full is None:
        pi_full = np.ones(full_shape, np.float32)
    pi = pi_full[y0:y1, x0:x1]
    pi = (pi / pi.sum()).astype(np.float32)
    eps = state.get("eps", opts["jump_probability"])
    sigma = state.get("sigma", opts["step_sigma"])
    with RowStore(T, (y1 - y0, x1 - x0)) as alpha:
        for _ in range(iterations):
            steps = _Steps(sigma, y1 - y0, x1 - x0)
            _forward(maps, g, box, alpha, pi, eps, steps)
            flat_modes, around, occupancy, resp, step_sq = _backward(maps, g, box, alpha, pi,
                                                                     eps, steps)
            if T > 1:
                eps, sigma = _refit_steps(resp, step_sq)
            pi_full, pi = _jump_targets(occupancy / T, box, full_shape)
    state["eps"], state["pi"], state["sigma"] = eps, pi_full, sigma
    modes = np.stack(np.divmod(flat_modes, x1 - x0), axis=1)
    sub = np.stack([_local_mean(around[:, 1], around[:, 0], around[:, 2]),
                    _local_mean(around[:, 3], around[:, 0], around[:, 4])], axis=1)
    return modes, sub, around[:, 0].copy()


def _forward(maps: RowStore, g: int, box, alpha: RowStore, pi: np.ndarray, eps: float,
             steps: _Steps) -> None:
    """Normalised forward messages of every timepoint into ``alpha``, chunk by chunk."""
    jump_prior = eps * pi
    prev = None
    for t0, t1 in maps.chunks():
        emis = _emissions(maps, g, box, t0, t1)
        out = np.empty_like(emis)
        for k in range(t1 - t0):
            if prev is None:
                a = pi * emis[0]
            else:
                a = steps.my @ prev @ steps.mxt
                a *= 1.0 - eps
                a += jump_prior
                a *= emis[k]
            out[k] = a / a.sum()
            prev = out[k]
        alpha.write_block(t0, out)


def _backward(maps: RowStore, g: int, box, alpha: RowStore, pi: np.ndarray, eps: float,
              steps: _Steps):
    """Backward pass: posterior modes and the expectations EM needs, chunk by chunk.

    Returns the flat mode index (T,), the posterior at the mode and its 4 neighbours
    (T, 5), the summed posterior (occupancy), and per step the responsibility of a jump
    and the expected squared step length of a local move (T-1,)."""
    T = maps.shape[0]
    Ny, Nx = box[1] - box[0], box[3] - box[2]
    b = np.ones((Ny, Nx), np.float32)
    flat_modes = np.empty(T, np.int64)
    around = np.empty((T, 5))
    occupancy = np.zeros((Ny, Nx))
    resp = np.zeros(max(T - 1, 1))
    step_sq = np.zeros(max(T - 1, 1))
    for t0, t1 in maps.chunks(reverse=True):
        emis = _emissions(maps, g, box, t0, t1)
        lo = max(t0 - 1, 0)
        al = alpha.read(lo, t1)
        for t in range(t1 - 1, t0 - 1, -1):
            gam = al[t - lo] * b
            gam /= gam.sum()
            occupancy += gam
            i = int(np.argmax(gam))
            flat_modes[t] = i
            y, x = divmod(i, Nx)
            around[t] = (gam[y, x], gam[y - 1, x] if y > 0 else 0.0,
                         gam[y + 1, x] if y < Ny - 1 else 0.0, gam[y, x - 1] if x > 0 else 0.0,
                         gam[y, x + 1] if x < Nx - 1 else 0.0)
            if t == 0:
                break
            eb = emis[t - t0] * b
            ky = steps.my @ eb
            local = ky @ steps.mxt
            moved = ky @ steps.mx2t + (steps.my2 @ eb) @ steps.mxt
            prev = al[t - 1 - lo]
            stay = float(np.vdot(prev, local))
            jump = eps * float(np.vdot(pi, eb))
            resp[t - 1] = jump / max(jump + (1.0 - eps) * stay, 1e-300)
            step_sq[t - 1] = float(np.vdot(prev, moved)) / max(stay, 1e-300)
            b = (1.0 - eps) * local + jump
            b /= b.max()
    return flat_modes, around, occupancy, resp, step_sq


def _refit_steps(resp: np.ndarray, step_sq: np.ndarray) -> tuple[float, float]:
    """EM update of the jump probability and of the step sigma (clipped to sane ranges)."""
    eps = float(np.clip(resp.mean(), 1e-4, 1 - 1e-3))
    w = 1.0 - resp
    sigma = float(np.clip(np.sqrt((w * step_sq).sum() / max(2 * w.sum(), 1e-12)), 0.15, 4.0))
    return eps, sigma


def _jump_targets(occupancy: np.ndarray, box, full_shape) -> tuple[np.ndarray, np.ndarray]:
    """Where jumps land: the smoothed occupancy on the full window, and on the box."""
    from scipy.ndimage import gaussian_filter
    y0, y1, x0, x1 = box
    occ = np.zeros(full_shape)
    occ[y0:y1, x0:x1] = occupancy
    occ = gaussian_filter(occ, 1.0, mode="constant")
    pi_full = (0.999 * occ / occ.sum() + 0.001 / occ.size).astype(np.float32)
    return pi_full, pi_full[y0:y1, x0:x1] / pi_full[y0:y1, x0:x1].sum()


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


def _independent(maps: RowStore, g: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-timepoint maximum-likelihood shifts of group ``g`` (no temporal pooling)."""
    T, _, Ny, Nx = maps.shape
    modes = np.empty((T, 2), np.int64)
    sub = np.empty((T, 2))
    conf = np.empty(T)
    for t0, t1 in maps.chunks():
        n = t1 - t0
        flat = maps.read(t0, t1)[:, g].reshape(n, -1).astype(np.float64)
        idx = np.argmax(flat, axis=1)
        flat -= flat[np.arange(n), idx][:, None]
        conf[t0:t1] = 1.0 / np.exp(flat).sum(axis=1)
        y, x = np.divmod(idx, Nx)
        p = np.pad(np.exp(flat).reshape(n, Ny, Nx), ((0, 0), (1, 1), (1, 1)))
        t = np.arange(n)
        sub[t0:t1] = np.stack(
            [_local_mean(p[t, y, x + 1], p[t, y + 1, x + 1], p[t, y + 2, x + 1]),
             _local_mean(p[t, y + 1, x], p[t, y + 1, x + 1], p[t, y + 1, x + 2])], axis=1)
        modes[t0:t1] = np.stack([y, x], axis=1)
    return modes, sub, conf


def decide(maps: RowStore, plane_group: np.ndarray, window: tuple[int, int], o: dict,
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
            modes, sub, conf = _hmm(maps, g, o, state.setdefault(g, {}), iterations)
        else:
            modes, sub, conf = _independent(maps, g)
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

