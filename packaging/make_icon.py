"""Draw the siffviewer application icon: siffviewer/data/siffviewer.png (256x256 RGBA).

A small lifetime-coloured cell image (hue = fluorescence lifetime, brightness = photon
count), as the viewer shows a FLIM acquisition, on a rounded dark tile with a photon
arrival-time decay curve across it. Deterministic: the same PNG every run.

    python packaging/make_icon.py [OUT.png]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

SIZE = 256
ROOT = Path(__file__).resolve().parent.parent


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    i = np.floor(h * 6.0).astype(int) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    choices = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    rgb = np.zeros(h.shape + (3,))
    for k, (r, g, b) in enumerate(choices):
        sel = i == k
        rgb[sel, 0], rgb[sel, 1], rgb[sel, 2] = r[sel], g[sel], b[sel]
    return rgb


def cell_image(size: int = SIZE, seed: int = 7) -> np.ndarray:
    """RGB float image (size, size, 3) in [0, 1]: cells coloured by lifetime."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(float) / size
    intensity = np.zeros((size, size))
    lifetime_num = np.zeros((size, size))
    # (y, x, radius_y, radius_x, angle, brightness, lifetime 0..1)
    cells = [
        (0.30, 0.30, 0.13, 0.10, 0.5, 1.00, 0.10),
        (0.34, 0.66, 0.11, 0.14, -0.3, 0.85, 0.45),
        (0.62, 0.40, 0.12, 0.15, 0.9, 0.95, 0.80),
        (0.66, 0.74, 0.09, 0.08, 0.0, 0.75, 0.25),
        (0.14, 0.52, 0.06, 0.07, 0.2, 0.55, 0.60),
        (0.84, 0.22, 0.07, 0.06, 0.4, 0.50, 0.95),
        (0.50, 0.12, 0.06, 0.05, 0.1, 0.45, 0.35),
        (0.86, 0.58, 0.05, 0.08, 1.2, 0.50, 0.70),
    ]
    for cy, cx, ry, rx, ang, bright, tau in cells:
        dy, dx = yy - cy, xx - cx
        ca, sa = np.cos(ang), np.sin(ang)
        u, v = (dx * ca + dy * sa) / rx, (-dx * sa + dy * ca) / ry
        r2 = u * u + v * v
        body = np.exp(-(r2 ** 2) * 1.6)  # flat-topped soma
        nucleus = 1.0 - 0.45 * np.exp(-r2 * 9.0)  # darker nucleus
        blob = bright * body * nucleus
        intensity += blob
        lifetime_num += blob * tau
    lifetime = np.where(intensity > 1e-6, lifetime_num / np.maximum(intensity, 1e-6), 0.5)
    # Poisson-looking texture: photon counting at low rates
    speckle = rng.gamma(9.0, 1.0 / 9.0, size=(size, size))
    intensity = np.clip(intensity * speckle, 0.0, 1.0) ** 0.8
    hue = (1.0 - lifetime) * 0.66  # short = blue, long = red
    rgb = _hsv_to_rgb(hue, np.full_like(hue, 0.85), intensity)
    return np.clip(rgb, 0.0, 1.0)


def render(out: Path, size: int = SIZE) -> Path:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6 import QtCore, QtGui

    app = QtGui.QGuiApplication.instance() or QtGui.QGuiApplication(sys.argv[:1])  # noqa: F841
    rgb = (cell_image(size) * 255).round().astype(np.uint8)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]).copy()
    cells = QtGui.QImage(rgba.data, size, size, 4 * size, QtGui.QImage.Format.Format_RGBA8888).copy()

    icon = QtGui.QImage(size, size, QtGui.QImage.Format.Format_ARGB32_Premultiplied)
    icon.fill(QtCore.Qt.GlobalColor.transparent)
    p = QtGui.QPainter(icon)
    p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    p.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform)
    margin, radius = size * 0.04, size * 0.18
    tile = QtCore.QRectF(margin, margin, size - 2 * margin, size - 2 * margin)
    clip = QtGui.QPainterPath()
    clip.addRoundedRect(tile, radius, radius)
    p.fillPath(clip, QtGui.QColor("#0d1020"))
    p.setClipPath(clip)
    p.drawImage(tile, cells)
    # the arrival-time decay curve (an IRF-convolved exponential) across the lower half
    curve = QtGui.QPainterPath()
    x0, x1 = tile.left() + size * 0.06, tile.right() - size * 0.06
    base, height = tile.bottom() - size * 0.10, size * 0.42
    n = 120
    for k in range(n + 1):
        t = k / n
        rise = 1.0 - np.exp(-t / 0.025)
        y = base - height * rise * np.exp(-max(t - 0.05, 0.0) / 0.22)
        x = x0 + (x1 - x0) * t
        curve.moveTo(x, y) if k == 0 else curve.lineTo(x, y)
    p.setPen(QtGui.QPen(QtGui.QColor(0, 0, 0, 150), size * 0.045, QtCore.Qt.PenStyle.SolidLine,
                        QtCore.Qt.PenCapStyle.RoundCap, QtCore.Qt.PenJoinStyle.RoundJoin))
    p.drawPath(curve)
    p.setPen(QtGui.QPen(QtGui.QColor(255, 255, 255, 235), size * 0.022, QtCore.Qt.PenStyle.SolidLine,
                        QtCore.Qt.PenCapStyle.RoundCap, QtCore.Qt.PenJoinStyle.RoundJoin))
    p.drawPath(curve)
    p.setClipping(False)
    p.setPen(QtGui.QPen(QtGui.QColor(255, 255, 255, 60), size * 0.01))
    p.drawRoundedRect(tile, radius, radius)
    p.end()
    out.parent.mkdir(parents=True, exist_ok=True)
    if not icon.convertToFormat(QtGui.QImage.Format.Format_ARGB32).save(str(out), "PNG"):
        raise OSError(f"cannot write {out}")
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "siffviewer" / "data" / "siffviewer.png"
    print(render(target))
