"""SVG export of plots through Qt's own SVG generator.

pyqtgraph 0.13's SVGExporter rewrites the path data Qt writes, and fails with
``ValueError: not enough values to unpack`` on the paths Qt 6.11 produces. This exporter
renders the plot with ``QSvgGenerator`` instead and takes its place in the plots' Export
dialog (same name)."""

from __future__ import annotations

import pyqtgraph as pg
from PyQt6 import QtCore, QtGui, QtSvg
from pyqtgraph.exporters import Exporter, SVGExporter
from pyqtgraph.parametertree import Parameter


class QtSvgExporter(Exporter):
    """Write the item (a plot or a scene) as an SVG file."""

    Name = "Scalable Vector Graphics (SVG)"
    allowCopy = False

    def __init__(self, item) -> None:
        super().__init__(item)
        self.params = Parameter.create(name="params", type="group", children=[
            {"name": "background", "title": "Background", "type": "color",
             "value": pg.mkColor("w")}])

    def parameters(self):
        return self.params

    def export(self, fileName=None, toBytes=False, copy=False):  # noqa: N803 - pyqtgraph API
        if fileName is None and not toBytes:
            self.fileSaveDialog(filter="Scalable Vector Graphics (*.svg)")
            return None
        source = self.getSourceRect()
        w, h = max(1, int(source.width())), max(1, int(source.height()))
        generator = QtSvg.QSvgGenerator()
        buffer = None
        if toBytes:
            buffer = QtCore.QBuffer()
            buffer.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
            generator.setOutputDevice(buffer)
        else:
            generator.setFileName(str(fileName))
        generator.setSize(QtCore.QSize(w, h))
        generator.setViewBox(QtCore.QRect(0, 0, w, h))
        generator.setTitle("siffviewer plot")
        painter = QtGui.QPainter(generator)
        try:
            self.setExportMode(True, {"antialias": True, "background": self.params["background"],
                                      "painter": painter})
            painter.fillRect(QtCore.QRectF(0, 0, w, h), self.params["background"])
            self.getScene().render(painter, QtCore.QRectF(0, 0, w, h), QtCore.QRectF(source))
        finally:
            self.setExportMode(False)
            painter.end()
        return bytes(buffer.data()) if buffer is not None else None


def install() -> None:
    """Put QtSvgExporter in place of pyqtgraph's SVG exporter in the Export dialog."""
    if QtSvgExporter not in Exporter.Exporters:
        Exporter.Exporters[:] = [e for e in Exporter.Exporters if e is not SVGExporter]
        QtSvgExporter.register()
