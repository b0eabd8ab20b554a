"""ImageJ's rasterisation of area ROIs, vectorised with numpy.

A pixel (x, y) belongs to a shape when its centre (x + 0.5, y + 0.5) is inside, as in
ImageJ's ``PolygonFiller`` (polygon, freehand, traced, composite, rectangles) and
``OvalRoi.getMask`` (ellipses). Ties follow ``PolygonFiller``'s arithmetic: a scan line
(row centre) meets an edge when ``y_low <= y_centre < y_high``, and a pixel whose centre
lies exactly on a crossing counts as outside on the left boundary of a span and inside on
its right boundary (ImageJ nudges crossings by 1e-8 to the right, then rounds); an
ellipse keeps centres with ``(dx/a)^2 + (dy/b)^2 <= 1``."""

from __future__ import annotations

import numpy as np

CROSSING_BUDGET = 1 << 22  # edge-row pairs tested at once


def fill_polygons(shape: tuple[int, int], loops) -> np.ndarray:
    """Pixels of ``shape`` (rows, columns) whose centres are inside the closed polygons
    ``loops`` [(n, 2) (x, y) arrays; NaN rows separate polygons] by the even-odd rule."""
    H, W = int(shape[0]), int(shape[1])
    out = np.zeros((H, W), bool)
    edges = []
    for loop in loops:
        loop = np.asarray(loop, np.float64).reshape(-1, 2)
        # ImageJ separates the polygons of one float polygon by NaN points
        gaps = np.flatnonzero(~np.isfinite(loop).all(1))
        for pts in np.split(loop, gaps):
            pts = pts[np.isfinite(pts).all(1)]
            if len(pts) >= 3:
                edges.append(np.concatenate([pts, np.roll(pts, -1, axis=0)], axis=1))
    if not edges or H == 0 or W == 0:
        return out
    e = np.concatenate(edges)  # (E, 4): x0, y0, x1, y1
    e = e[e[:, 1] != e[:, 3]]  # horizontal edges never cross a scan line
    if len(e) == 0:
        return out
    ylo, yhi = np.minimum(e[:, 1], e[:, 3]), np.maximum(e[:, 1], e[:, 3])
    r0 = max(0, int(np.floor(ylo.min() - 0.5)))
    r1 = min(H, int(np.ceil(yhi.max() - 0.5)) + 1)
    if r0 >= r1:
        return out
    # scan lines in blocks so that the (edges x rows) crossing table stays bounded
    block = max(1, CROSSING_BUDGET // len(e))
    for b0 in range(r0, r1, block):
        b1 = min(r1, b0 + block)
        py = np.arange(b0, b1) + 0.5
        crosses = (ylo[:, None] <= py[None, :]) & (py[None, :] < yhi[:, None])  # half-open
        ei, ri = np.nonzero(crosses)
        x0, y0, x1, y1 = (e[ei, k] for k in range(4))
        xint = x0 + (py[ri] - y0) * (x1 - x0) / (y1 - y0)
        # PolygonFiller: spans run from (int)(x_left + 1e-8 + 0.5) to (int)(x_right + 1e-8 + 0.5)
        col = np.clip(np.floor(xint + (0.5 + 1e-8)), 0, W).astype(np.int64)
        toggles = np.zeros((b1 - b0, W + 1), np.int64)
        np.add.at(toggles, (ri, col), 1)
        out[b0:b1] = (np.cumsum(toggles[:, :W], axis=1) & 1).astype(bool)
    return out


def fill_rectangle(shape: tuple[int, int], x: float, y: float, w: float, h: float,
                   arc: float = 0.0) -> np.ndarray:
    """Pixels whose centres are inside the box at (x, y) of size (w, h) (ties as the
    polygon of its corners), with corners rounded by arcs of diameter ``arc`` (ImageJ's
    rounded rectangles) when arc > 0."""
    H, W = int(shape[0]), int(shape[1])
    px = np.arange(W) + 0.5
    py = np.arange(H) + 0.5
    inx = (px > x + 1e-8) & (px <= x + w + 1e-8)
    iny = (py >= y) & (py < y + h)
    out = iny[:, None] & inx[None, :]
    r = min(float(arc) / 2.0, w / 2.0, h / 2.0)
    if r > 0:
        dx = np.maximum(np.maximum(x + r - px, px - (x + w - r)), 0.0)
        dy = np.maximum(np.maximum(y + r - py, py - (y + h - r)), 0.0)
        out &= dy[:, None] ** 2 + dx[None, :] ** 2 <= r * r
    return out


def fill_oval(shape: tuple[int, int], x: float, y: float, w: float, h: float) -> np.ndarray:
    """Pixels whose centres are inside the ellipse inscribed in the box at (x, y) of size
    (w, h), as ImageJ's ``OvalRoi`` mask."""
    H, W = int(shape[0]), int(shape[1])
    if w <= 0 or h <= 0:
        return np.zeros((H, W), bool)
    cx, cy, rx, ry = x + w / 2.0, y + h / 2.0, w / 2.0, h / 2.0
    u = ((np.arange(W) + 0.5 - cx) / rx) ** 2
    v = ((np.arange(H) + 0.5 - cy) / ry) ** 2
    return v[:, None] + u[None, :] <= 1.0
