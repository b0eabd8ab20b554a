"""File menu exports to the formats other tools read: masks (ImageJ, label TIFF, suite2p,
siffviewer), NWB, OME-TIFF maps, MP4 movies, and the view and plots as PNG/SVG.

Each dialog only gathers choices; the export is a model function (siffviewer.model.
formats) run as a background :class:`~siffviewer.workers.Job` through the window's
``run_export_job`` (progress, cancel, and a message when it ends). The work gets the
session and a snapshot of the settings as arguments, never the live view."""

from __future__ import annotations

import os
from pathlib import Path

import pyqtgraph as pg
from PyQt6 import QtCore, QtGui, QtSvg, QtWidgets

from libsiff.atomic import atomic_path

from ..model.view_state import average_window

MASK_FILTERS = ("ImageJ RoiSet (*.zip);;ImageJ ROI (*.roi);;Label TIFF (*.tif *.tiff);;"
                "suite2p stat.npy (*.npy);;siffviewer masks (*.npz)")
LOAD_MASK_FILTER = ("Masks (*.npz *.zip *.roi *.tif *.tiff *.npy);;" + MASK_FILTERS
                    + ";;All files (*)")
REDUCE_CHOICES = (("Current frame (every plane)", "frame"), ("Average over the range", "mean"),
                  ("Maximum projection over the range", "max"), ("Sum over the range", "sum"),
                  ("Every timepoint of the range (a stack)", "none"))
SEXES = (("Unknown", "U"), ("Female", "F"), ("Male", "M"), ("Other", "O"))


# ------------------------------------------------------------------ small widgets

def writable_default(path: str | Path) -> Path:
    """``path`` when its folder can be written, else the same name in the user's home
    folder (the bundled sample lives inside the installed app, often read-only)."""
    path = Path(path)
    folder = path.parent
    while not folder.exists() and folder != folder.parent:  # a folder still to be created
        folder = folder.parent
    return path if os.access(folder, os.W_OK) else Path.home() / path.name


class PathField(QtWidgets.QWidget):
    """A line edit with a Browse button that asks for a file to write (or a folder). The
    suggested ``path`` moves to the home folder when its own folder is read-only."""

    def __init__(self, path: str | Path, file_filter: str = "", folder: bool = False,
                 parent=None) -> None:
        super().__init__(parent)
        self.edit = QtWidgets.QLineEdit(str(writable_default(path)))
        self.edit.setMinimumWidth(380)
        browse = QtWidgets.QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.edit, 1)
        lay.addWidget(browse)
        self._filter, self._folder = file_filter, folder

    def _browse(self) -> None:
        if self._folder:
            chosen = QtWidgets.QFileDialog.getExistingDirectory(self, "Choose a folder",
                                                                self.edit.text())
        else:
            chosen, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save as", self.edit.text(),
                                                              self._filter)
        if chosen:
            self.edit.setText(chosen)

    def path(self) -> Path:
        """The chosen path."""
        return Path(self.edit.text().strip())


def _buttons(dialog: QtWidgets.QDialog, ok_text: str) -> QtWidgets.QDialogButtonBox:
    box = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                     | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
    box.button(QtWidgets.QDialogButtonBox.StandardButton.Ok).setText(ok_text)
    box.accepted.connect(dialog.accept)
    box.rejected.connect(dialog.reject)
    return box


def _timepoint_range(first: QtWidgets.QSpinBox, last: QtWidgets.QSpinBox
                     ) -> QtWidgets.QHBoxLayout:
    """``first`` to ``last`` timepoint, both included (0-based, as the viewer counts)."""
    row = QtWidgets.QHBoxLayout()
    row.addWidget(first)
    row.addWidget(QtWidgets.QLabel("to"))
    row.addWidget(last)
    row.addWidget(QtWidgets.QLabel("(both included)"))
    row.addStretch(1)
    return row


def _spin(lo: int, hi: int, value: int) -> QtWidgets.QSpinBox:
    s = QtWidgets.QSpinBox()
    s.setRange(lo, hi)
    s.setValue(min(max(value, lo), hi))
    return s


def _dspin(lo: float, hi: float, value: float, step: float = 0.1,
           decimals: int = 2) -> QtWidgets.QDoubleSpinBox:
    s = QtWidgets.QDoubleSpinBox()
    s.setRange(lo, hi)
    s.setDecimals(decimals)
    s.setSingleStep(step)
    s.setValue(value)
    return s


# ------------------------------------------------------------------ masks

def load_masks_dialog(window) -> None:
    """File > Load masks…: any format :func:`siffviewer.model.masks.load_masks` reads."""
    if window.masks is None:
        return
    path, _ = QtWidgets.QFileDialog.getOpenFileName(
        window, "Load masks", str(window.session.path.parent), LOAD_MASK_FILTER)
    if path:
        window.load_masks(path)


def export_masks(window, path: str | Path) -> Path | None:
    """Write the window's ROIs to ``path`` in the format of its extension (.zip/.roi
    ImageJ, .tif label TIFF, .npy suite2p, .npz siffviewer); says where, or why not."""
    from ..model.formats import write_masks_any
    from ..model.masks import MaskFileError

    if window.masks is None:
        return None
    window.masks.end_stroke()
    try:
        written = write_masks_any(path, window.masks.stack(),
                                  [r.name for r in window.masks.rois],
                                  source=str(window.session.path.resolve()))
    except (MaskFileError, OSError) as e:
        window.report_error("Export masks", str(e))
        return None
    window.statusBar().showMessage(f"{len(window.masks.rois)} ROI(s) written to {written}",
                                   8000)
    return written


def export_masks_dialog(window) -> None:
    """File > Export masks as…: pick a format (by the filter or the extension)."""
    if window.masks is None or not window.masks.rois:
        window.report_error("Export masks", "Draw or load at least one ROI first.")
        return
    suffixes = {"ImageJ RoiSet": ".zip", "ImageJ ROI": ".roi", "Label TIFF": ".tif",
                "suite2p": ".npy", "siffviewer": ".npz"}
    path, chosen = QtWidgets.QFileDialog.getSaveFileName(
        window, "Export masks as", str(window.session.path.with_name("RoiSet.zip")),
        MASK_FILTERS)
    if not path:
        return
    if not Path(path).suffix:
        path += next(v for k, v in suffixes.items() if chosen.startswith(k))
    export_masks(window, path)


# ------------------------------------------------------------------ NWB

class NwbDialog(QtWidgets.QDialog):
    """Where to write the NWB file and who the subject is (DANDI asks for it)."""

    def __init__(self, acquisition: Path, parent=None) -> None:
        from ..model.formats.nwb import DEFAULT_SUBJECT

        super().__init__(parent)
        self.setWindowTitle("Export NWB")
        form = QtWidgets.QFormLayout(self)
        self.path = PathField(acquisition.with_suffix(".nwb"), "NWB (*.nwb)")
        self.subject_id = QtWidgets.QLineEdit(acquisition.stem)
        self.species = QtWidgets.QLineEdit(DEFAULT_SUBJECT["species"])
        self.species.setToolTip("Latin binomial, e.g. Mus musculus, or an NCBI taxonomy link")
        self.sex = QtWidgets.QComboBox()
        for text, code in SEXES:
            self.sex.addItem(text, code)
        self.age = QtWidgets.QLineEdit(DEFAULT_SUBJECT["age"])
        self.age.setToolTip("ISO 8601 duration, e.g. P5D (5 days), P8W (8 weeks); P0D/ "
                            "(the NWB way to say: not known) when not known")
        self.age.setPlaceholderText("e.g. P5D for 5 days")
        self.description = QtWidgets.QLineEdit()
        form.addRow(QtWidgets.QLabel(
            "One NWB file with the acquisition's metadata, the ROIs and their traces:\n"
            "photons, dF/F when set, and lifetime with its standard error (as in the CSV)."))
        form.addRow("File:", self.path)
        form.addRow("Subject id:", self.subject_id)
        form.addRow("Species:", self.species)
        form.addRow("Sex:", self.sex)
        form.addRow("Age:", self.age)
        form.addRow("Subject description:", self.description)
        form.addRow(_buttons(self, "Export"))

    def subject(self) -> dict:
        """Keyword arguments of ``pynwb.file.Subject`` from the fields (empty ones left out)."""
        values = {"subject_id": self.subject_id.text().strip(),
                  "species": self.species.text().strip(), "sex": self.sex.currentData(),
                  "age": self.age.text().strip(), "description": self.description.text().strip()}
        return {k: v for k, v in values.items() if v}


def export_nwb(window, path: str | Path, subject: dict | None = None):
    """Export the session (ROIs and settings as they are now) to NWB in the background;
    returns the Job."""
    from ..model.formats.nwb import export_session_nwb

    session, doc, identity = window.session, window.session_document(), window.identity

    def work(progress, cancelled):
        return export_session_nwb(session, doc, path, subject, progress, cancelled, identity)

    return window.run_export_job("export NWB", work, f"NWB written to {Path(path).name}")


def nwb_dialog(window) -> None:
    """File > Export NWB…"""
    if window.masks is None or not window.masks.rois:
        window.report_error("Export NWB", "Draw or load at least one ROI first.")
        return
    dialog = NwbDialog(window.session.path, window)
    if dialog.exec():
        export_nwb(window, dialog.path.path(), dialog.subject())


# ------------------------------------------------------------------ OME-TIFF maps

class ImageExportDialog(QtWidgets.QDialog):
    """Which image (frame, average, projection, stack) over which timepoints, photons
    and/or lifetime, to which OME-TIFF files."""

    def __init__(self, acquisition: Path, n_timepoints: int, timepoint: int, average: int,
                 has_flim: bool, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export image as OME-TIFF")
        self.n_timepoints = n_timepoints
        form = QtWidgets.QFormLayout(self)
        self.kind = QtWidgets.QComboBox()
        for text, key in REDUCE_CHOICES:
            self.kind.addItem(text, key)
        self.kind.setCurrentIndex(0 if average <= 1 else 1)
        lo, hi = average_window(timepoint, average, n_timepoints)  # what the view shows
        self.start = _spin(0, n_timepoints - 1, lo)
        self.end = _spin(0, n_timepoints - 1, hi - 1)
        rng = _timepoint_range(self.start, self.end)
        self.intensity = QtWidgets.QCheckBox("Photons")
        self.intensity.setChecked(True)
        self.intensity_path = PathField(acquisition.with_name(acquisition.stem
                                                              + "_photons.ome.tif"),
                                        "OME-TIFF (*.ome.tif)")
        self.lifetime = QtWidgets.QCheckBox("Lifetime (ns)")
        self.lifetime.setChecked(has_flim)
        self.lifetime.setEnabled(has_flim)
        self.lifetime_path = PathField(acquisition.with_name(acquisition.stem
                                                             + "_lifetime.ome.tif"),
                                       "OME-TIFF (*.ome.tif)")
        self.lifetime_path.setEnabled(has_flim)
        form.addRow("Image:", self.kind)
        form.addRow("Timepoints:", rng)
        form.addRow(self.intensity, self.intensity_path)
        form.addRow(self.lifetime, self.lifetime_path)
        form.addRow(QtWidgets.QLabel("Every plane is written (OME axes T, Z, Y, X) with the "
                                     "pixel size in µm from the header."))
        form.addRow(_buttons(self, "Export"))
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self._kind_changed()

    def _kind_changed(self) -> None:
        self.end.setEnabled(self.kind.currentData() != "frame")

    def values(self) -> dict:
        """Arguments of :func:`export_image`."""
        kind = self.kind.currentData()
        start = self.start.value()
        end = start + 1 if kind == "frame" else max(self.end.value(), start) + 1
        return {"reduce": "none" if kind == "frame" else kind, "start": start, "end": end,
                "intensity_path": self.intensity_path.path() if self.intensity.isChecked()
                else None,
                "lifetime_path": self.lifetime_path.path() if self.lifetime.isChecked()
                else None}


def export_image(window, reduce: str, start: int, end: int, intensity_path=None,
                 lifetime_path=None):
    """Write photon and/or lifetime maps of timepoints ``[start, end)`` as OME-TIFFs in the
    background (the view's channel, registration and FLIM parameters); returns the Job."""
    from ..model.formats.images import export_maps

    if intensity_path is None and lifetime_path is None:
        window.report_error("Export image", "Choose photons, lifetime or both.")
        return None
    s = window.state
    session, color, registered = window.session, s.color, s.registered
    params = session.flim_params_for(color)
    names = ", ".join(Path(p).name for p in (intensity_path, lifetime_path) if p is not None)

    def work(progress, cancelled):
        return export_maps(session.reader, intensity_path, lifetime_path,
                           timepoint_start=start, timepoint_end=end, color=color,
                           reduce=reduce, params=params, registered=registered,
                           progress=progress, cancel=cancelled)

    return window.run_export_job("export image", work, f"Written {names}")


def image_dialog(window) -> None:
    """File > Export > Image as OME-TIFF…"""
    if window.session is None:
        return
    s = window.state
    dialog = ImageExportDialog(window.session.path, s.n_timepoints, s.timepoint, s.average,
                               window.session.has_flim, window)
    if dialog.exec():
        export_image(window, **dialog.values())


# ------------------------------------------------------------------ MP4 movies

class MovieDialog(QtWidgets.QDialog):
    """A movie of one plane of the frame view over a range of timepoints."""

    def __init__(self, acquisition: Path, n_timepoints: int, n_planes: int, state,
                 has_flim: bool, fps: float, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export movie (MP4)")
        form = QtWidgets.QFormLayout(self)
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        self.path = PathField(acquisition.with_suffix(".mp4"), "MP4 movie (*.mp4)")
        self.plane = _spin(0, n_planes - 1, state.plane)
        self.start = _spin(0, n_timepoints - 1, 0)
        self.end = _spin(0, n_timepoints - 1, n_timepoints - 1)
        rng = _timepoint_range(self.start, self.end)
        self.average = _spin(1, n_timepoints, state.average)
        self.lifetime = QtWidgets.QCheckBox("Colour by lifetime (brightness = photons)")
        self.lifetime.setEnabled(has_flim)
        self.tau_lo = _dspin(0.0, 50.0, state.lifetime_range[0])
        self.tau_hi = _dspin(0.0, 50.0, state.lifetime_range[1])
        taus = QtWidgets.QHBoxLayout()
        taus.addWidget(self.tau_lo)
        taus.addWidget(QtWidgets.QLabel("to"))
        taus.addWidget(self.tau_hi)
        taus.addWidget(QtWidgets.QLabel("ns (red to blue)"))
        levels = state.levels or (0.0, 0.0)
        self.level_lo = _dspin(0.0, 1e9, float(levels[0]), 1.0)
        self.level_hi = _dspin(0.0, 1e9, float(levels[1]), 1.0)
        lv = QtWidgets.QHBoxLayout()
        lv.addWidget(self.level_lo)
        lv.addWidget(QtWidgets.QLabel("to"))
        lv.addWidget(self.level_hi)
        lv.addWidget(QtWidgets.QLabel("photons (both 0: set from the frames)"))
        self.fps = _dspin(0.5, 240.0, max(0.5, round(fps, 2)), 1.0)
        self.upscale = _spin(1, 8, 2)
        form.addRow("File:", self.path)
        form.addRow("Plane:", self.plane)
        form.addRow("Timepoints:", rng)
        form.addRow("Average (timepoints per movie frame):", self.average)
        form.addRow(self.lifetime)
        form.addRow("Lifetime range:", taus)
        form.addRow("Brightness range:", lv)
        form.addRow("Frames per second:", self.fps)
        form.addRow("Pixel size (screen pixels per image pixel):", self.upscale)
        form.addRow(_buttons(self, "Export"))
        self.lifetime.toggled.connect(self._lifetime_toggled)
        self._lifetime_toggled(False)

    def _lifetime_toggled(self, on: bool) -> None:
        self.tau_lo.setEnabled(on)
        self.tau_hi.setEnabled(on)

    def values(self) -> dict:
        """Arguments of :func:`export_movie`."""
        lo, hi = self.level_lo.value(), self.level_hi.value()
        return {"path": self.path.path(), "plane": self.plane.value(),
                "start": self.start.value(), "end": max(self.end.value(), self.start.value()) + 1,
                "average": self.average.value(), "lifetime": self.lifetime.isChecked(),
                "tau_range": (self.tau_lo.value(), self.tau_hi.value()),
                "intensity_range": (lo, hi) if hi > lo else None, "fps": self.fps.value(),
                "upscale": self.upscale.value()}


def export_movie(window, path, plane: int, start: int, end: int, average: int = 1,
                 lifetime: bool = False, tau_range=(0.5, 3.5), intensity_range=None,
                 fps: float | None = None, upscale: int = 1):
    """Write an MP4 of the frame view's plane over ``[start, end)`` in the background
    (the view's channel, registration and FLIM parameters); returns the Job."""
    from ..model.formats.movie import export_movie as write_movie

    s = window.state
    session, color, registered = window.session, s.color, s.registered
    params = session.flim_params_for(color)

    def work(progress, cancelled):
        return write_movie(session.reader, path, plane=plane, timepoint_start=start,
                           timepoint_end=end, average=average, color=color, lifetime=lifetime,
                           params=params, intensity_range=intensity_range,
                           tau_range=tau_range, fps=fps, upscale=upscale, progress=progress,
                           cancel=cancelled, registered=registered)

    return window.run_export_job("export movie", work, f"Movie written to {Path(path).name}")


def movie_dialog(window) -> None:
    """File > Export > Movie (MP4)…"""
    if window.session is None:
        return
    s = window.state
    try:
        rate = float(window.session.im_params.RoiManager.scanVolumeRate)
    except (AttributeError, TypeError, ValueError, KeyError):
        rate = 10.0
    dialog = MovieDialog(window.session.path, s.n_timepoints, s.n_planes, s,
                         window.session.has_flim, rate / max(1, s.average), window)
    if dialog.exec():
        export_movie(window, **dialog.values())


# ------------------------------------------------------------------ PNG / SVG

def export_widget(widget: QtWidgets.QWidget, path: str | Path) -> Path:
    """Render ``widget`` as it is on screen to a PNG or an SVG (by the extension),
    atomically. Raises OSError when the file cannot be written."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise OSError(f"{path}: choose a .png or .svg file")
    QtWidgets.QApplication.processEvents()
    with atomic_path(path) as tmp:
        if suffix == ".png":
            if not widget.grab().save(str(tmp), "PNG"):
                raise OSError(f"{path}: cannot write the PNG")
        else:
            size = widget.size()
            generator = QtSvg.QSvgGenerator()
            generator.setFileName(str(tmp))
            generator.setSize(size)
            generator.setViewBox(QtCore.QRect(0, 0, size.width(), size.height()))
            generator.setTitle(f"siffviewer {widget.objectName() or type(widget).__name__}")
            painter = QtGui.QPainter(generator)
            try:
                widget.render(painter)
            finally:
                painter.end()
    return path


def plot_items(window) -> list[tuple[str, pg.PlotItem]]:
    """Every pyqtgraph plot shown in the window that has a size, named after its panel."""
    found = []
    for view in window.findChildren(pg.GraphicsView):
        owner = view.parent()
        while owner is not None and not type(owner).__module__.startswith("siffviewer"):
            owner = owner.parent()
        base = type(owner).__name__ if owner is not None else "plot"
        for item in view.scene().items():
            if isinstance(item, pg.PlotItem) and item.isVisible() and \
                    not item.sceneBoundingRect().isEmpty():
                found.append((base, item))
    names, out = {}, []
    for base, item in found:
        names[base] = names.get(base, 0) + 1
        out.append((f"{base}_{names[base]}", item))
    return out


def export_plots(window, folder: str | Path) -> list[Path]:
    """Every plot of the window as ``<panel>_<n>.png`` and ``.svg`` in ``folder``."""
    from pyqtgraph.exporters import ImageExporter

    from .svg_export import QtSvgExporter

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, item in plot_items(window):
        for suffix, exporter in ((".png", ImageExporter), (".svg", QtSvgExporter)):
            target = folder / (name + suffix)
            with atomic_path(target) as tmp:
                exporter(item).export(str(tmp))
            written.append(target)
    return written


def view_dialog(window, whole_window: bool = False) -> Path | None:
    """File > Export > View (or Window) as PNG/SVG…: the frame view (or the window)."""
    widget = window if whole_window else window.frame_view
    what = "window" if whole_window else "view"
    path, _ = QtWidgets.QFileDialog.getSaveFileName(
        window, f"Export {what}", str(Path.home() / f"siffviewer-{what}.png")
        if window.session is None else str(window.session.path.with_name(
            f"{window.session.path.stem}-{what}.png")),
        "PNG image (*.png);;SVG drawing (*.svg)")
    if not path:
        return None
    return save_view(window, widget, path)


def save_view(window, widget, path) -> Path | None:
    """Write ``widget`` to ``path`` (PNG/SVG); says where, or why not."""
    try:
        written = export_widget(widget, path)
    except OSError as e:
        window.report_error("Export view", str(e))
        return None
    window.statusBar().showMessage(f"Written {written}", 8000)
    return written


def plots_dialog(window) -> list[Path]:
    """File > Export > Every plot as PNG and SVG…"""
    folder = QtWidgets.QFileDialog.getExistingDirectory(
        window, "Folder for the plots", str(window.session.path.parent)
        if window.session is not None else str(Path.home()))
    if not folder:
        return []
    try:
        written = export_plots(window, folder)
    except OSError as e:
        window.report_error("Export plots", str(e))
        return []
    window.statusBar().showMessage(f"{len(written)} plot files written to {folder}", 8000)
    return written
