"""Pixel-edge outlines of a 2-D mask (closed polygons on pixel corners), traced with numpy.

Filling the outlines with the even-odd rule on pixel centres gives the mask back exactly
(holes come out as their own loops, with the opposite orientation, so the non-zero rule
gives the same pixels)."""

from __future__ import annotations

import numpy as np

# edge directions (dx, dy) with image y pointing down; the inside is on the right-hand side
_DIRS = np.array([(1, 0), (0, 1), (-1, 0), (0, -1)], np.int64)


def mask_outlines(mask: np.ndarray) -> list[np.ndarray]:
    """Closed outlines of ``mask`` (bool ``(rows, columns)``) as int32 ``(n, 2)`` arrays of
    (x, y) pixel-corner vertices (first vertex not repeated), one per boundary loop, with
    the inside on the right (clockwise on screen) and holes anticlockwise. At a corner
    where two pixels touch diagonally the loop turns right, so such pixels get separate
    loops."""
    m = np.pad(np.asarray(mask, bool), 1)
    inside = m[1:-1, 1:-1]
    ys, xs = np.nonzero(inside)
    if len(ys) == 0:
        return []
    y1, x1 = ys + 1, xs + 1  # indices in the padded array
    starts, dirs = [], []
    for d, (open_, sx, sy) in enumerate((
            (~m[y1 - 1, x1], xs, ys),            # top side, going right
            (~m[y1, x1 + 1], xs + 1, ys),        # right side, going down
            (~m[y1 + 1, x1], xs + 1, ys + 1),    # bottom side, going left
            (~m[y1, x1 - 1], xs, ys + 1))):      # left side, going up
        starts.append(np.stack([sx[open_], sy[open_]], 1))
        dirs.append(np.full(int(open_.sum()), d))
    start = np.concatenate(starts).astype(np.int64)
    d = np.concatenate(dirs)
    end = start + _DIRS[d]
    width = mask.shape[1] + 2

    def key(pt, direction):
        return ((pt[:, 1] + 1) * width + (pt[:, 0] + 1)) * 4 + direction

    keys = key(start, d)
    order = np.argsort(keys)
    sorted_keys = keys[order]
    nxt = np.full(len(d), -1, np.int64)
    for turn in (1, 0, 3):  # right, straight, left (relative to the incoming direction)
        todo = nxt < 0
        want = key(end[todo], (d[todo] + turn) % 4)
        pos = np.clip(np.searchsorted(sorted_keys, want), 0, len(keys) - 1)
        hit = sorted_keys[pos] == want
        idx = np.flatnonzero(todo)
        nxt[idx[hit]] = order[pos[hit]]
    # each edge has exactly one successor and one predecessor: follow the cycles
    loops = []
    seen = np.zeros(len(d), bool)
    for first in range(len(d)):
        if seen[first]:
            continue
        cycle = []
        e = first
        while not seen[e]:
            seen[e] = True
            cycle.append(e)
            e = nxt[e]
        cycle = np.asarray(cycle)
        turns = d[cycle] != d[np.roll(cycle, 1)]  # keep only corners
        loops.append(start[cycle][turns].astype(np.int32))
    return loops
