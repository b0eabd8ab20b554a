"""The lifetime decisions of a session: calibration per channel, background/neuropil per ROI,
the fraction fit and the phasor view (threshold, filter, cursors). Qt-free.

:class:`FlimSettings` is the live, observable copy the panels edit (through its methods,
never each other's attributes); :meth:`FlimSettings.document_fields` and
:meth:`FlimSettings.apply_document` move it to and from a
:class:`~siffviewer.model.session_file.SessionDocument`. The phasor cursor selection (the
pixels a cursor picks) is kept here too, so the frame view can light them up.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from libsiff.flim import BackgroundSettings, Calibration, FLIMParams

from .observable import Observable


@dataclass(frozen=True)
class FractionFitSettings:
    """Lifetime-over-time fit: ``n_exps`` components fitted once on each ROI's pooled
    photons, then their fractions per ``bin_timepoints`` timepoints (histograms summed over
    ``rebin`` arrival bins)."""

    enabled: bool = False
    n_exps: int = 2
    bin_timepoints: int = 1
    rebin: int = 4

    def __post_init__(self):
        if self.n_exps < 2 or self.bin_timepoints < 1 or self.rebin < 1:
            raise ValueError("a fraction fit needs >= 2 components, bins of >= 1 timepoint "
                             "and a rebin >= 1")

    def to_dict(self) -> dict:
        """JSON-compatible dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "FractionFitSettings":
        """Build from :meth:`to_dict` output (unknown keys are an error)."""
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown fraction-fit settings {sorted(unknown)}")
        return cls(enabled=bool(data.get("enabled", False)), n_exps=int(data.get("n_exps", 2)),
                   bin_timepoints=int(data.get("bin_timepoints", 1)),
                   rebin=int(data.get("rebin", 4)))


CURSOR_KINDS = ("circle", "polygon")
PHASOR_SOURCES = ("frames", "projection", "roi")


@dataclass(frozen=True)
class PhasorCursor:
    """A cursor on the phasor plot: a circle (``center`` (g, s), ``radius``) or a polygon
    (``vertices`` [(g, s), ...])."""

    kind: str = "circle"
    center: tuple[float, float] = (0.5, 0.3)
    radius: float = 0.05
    vertices: tuple[tuple[float, float], ...] = ()

    def __post_init__(self):
        if self.kind not in CURSOR_KINDS:
            raise ValueError(f"cursor kind must be one of {CURSOR_KINDS}")
        if self.kind == "circle" and not (math.isfinite(self.radius) and self.radius > 0):
            raise ValueError("a circular cursor needs a positive radius")
        if self.kind == "polygon" and len(self.vertices) < 3:
            raise ValueError("a polygon cursor needs three vertices")

    def mask(self, real, imag) -> np.ndarray:
        """Pixels whose calibrated phasor lies inside this cursor (libsiff's cursor masks)."""
        from libsiff.flim import circular_cursor_mask, polygon_cursor_mask

        if self.kind == "circle":
            return circular_cursor_mask(real, imag, *self.center, self.radius)
        return polygon_cursor_mask(real, imag, self.vertices)

    def to_dict(self) -> dict:
        """JSON-compatible dict."""
        return {"kind": self.kind, "center": list(self.center), "radius": self.radius,
                "vertices": [list(v) for v in self.vertices]}

    @classmethod
    def from_dict(cls, data: dict) -> "PhasorCursor":
        """Build from :meth:`to_dict` output."""
        return cls(str(data.get("kind", "circle")),
                   tuple(float(v) for v in data.get("center", (0.5, 0.3))),
                   float(data.get("radius", 0.05)),
                   tuple((float(g), float(s)) for g, s in data.get("vertices", ())))


@dataclass(frozen=True)
class PhasorSettings:
    """The phasor view: which photons (``source``: the current frame(s), the plane's
    projection, or the selected ROI), the photon threshold per pixel, the median filter
    (``filter_size`` pixels, ``filter_repeat`` passes; 0 passes: none) and the cursors."""

    source: str = "frames"
    min_photons: float = 20.0
    filter_size: int = 3
    filter_repeat: int = 1
    cursors: tuple[PhasorCursor, ...] = ()

    def __post_init__(self):
        if self.source not in PHASOR_SOURCES:
            raise ValueError(f"phasor source must be one of {PHASOR_SOURCES}")
        if self.min_photons < 0 or self.filter_size < 1 or self.filter_repeat < 0:
            raise ValueError("bad phasor threshold or filter")

    def to_dict(self) -> dict:
        """JSON-compatible dict."""
        return {"source": self.source, "min_photons": self.min_photons,
                "filter_size": self.filter_size, "filter_repeat": self.filter_repeat,
                "cursors": [c.to_dict() for c in self.cursors]}

    @classmethod
    def from_dict(cls, data: dict) -> "PhasorSettings":
        """Build from :meth:`to_dict` output."""
        return cls(str(data.get("source", "frames")), float(data.get("min_photons", 20.0)),
                   int(data.get("filter_size", 3)), int(data.get("filter_repeat", 1)),
                   tuple(PhasorCursor.from_dict(c) for c in data.get("cursors", ())))


def default_calibration(session, channel: int) -> Calibration | None:
    """An uncalibrated Calibration from the header (laser period, bin width); None without
    photon arrival times."""
    if not session.has_flim:
        return None
    return Calibration(float(session.io.tau_bins), float(session.reader.picoseconds_per_bin),
                       channel=channel)


def calibration_from_document(doc, session, channel: int) -> Calibration | None:
    """The calibration of ``channel`` a session document implies: the stored one; else one
    from the channel's FLIMParams fit (session files of version 1); else uncalibrated."""
    base = default_calibration(session, channel)
    if base is None:
        return None
    stored = doc.calibrations.get(channel)
    if stored:
        return Calibration.from_dict(stored)
    pdict = doc.flim_params.get(channel)
    if pdict:
        return Calibration.from_fit(FLIMParams.from_dict(pdict), base.period_bins,
                                    channel=channel, note="FLIM fit (migrated)")
    return base


@dataclass(eq=False)
class FlimSettings(Observable):
    """The live lifetime settings of the open session (observable; notifies the names of
    the parts that changed: 'calibration', 'background', 'fraction', 'phasor',
    'selection')."""

    calibrations: dict = field(default_factory=dict)     # channel -> Calibration
    backgrounds: dict = field(default_factory=dict)      # ROI name -> BackgroundSettings
    fraction: FractionFitSettings = field(default_factory=FractionFitSettings)
    phasor: PhasorSettings = field(default_factory=PhasorSettings)
    selection: np.ndarray | None = None                  # (H, W) pixels the cursors pick

    def __post_init__(self):
        Observable.__init__(self)

    def set_calibration(self, channel: int, calibration: Calibration | None) -> None:
        """Use ``calibration`` for ``channel`` (None: back to the fit / uncalibrated)."""
        if calibration is None:
            self.calibrations.pop(int(channel), None)
        else:
            self.calibrations[int(channel)] = calibration
        self._notify({"calibration"})

    def set_background(self, roi_name: str, settings: BackgroundSettings | None) -> None:
        """Corrections of one ROI (None or all off: none)."""
        if settings is None or settings == BackgroundSettings():
            self.backgrounds.pop(roi_name, None)
        else:
            self.backgrounds[roi_name] = settings
        self._notify({"background"})

    def follow_roi_names(self, masks) -> None:
        """Keep following ``masks`` (a MaskSet): renaming an ROI, or undoing a rename,
        calls :meth:`rename_roi` (ROI ids stay, names change)."""
        names = {r.roi_id: r.name for r in masks.rois}

        def on_change(changed: set[str]) -> None:
            nonlocal names
            if "rois" not in changed:
                return
            now = {r.roi_id: r.name for r in masks.rois}
            for roi_id, name in now.items():
                if names.get(roi_id, name) != name:
                    self.rename_roi(names[roi_id], name)
            names = now

        masks.subscribe(on_change)

    def rename_roi(self, old: str, new: str) -> None:
        """An ROI was renamed: its corrections, and other ROIs' use of it as their
        background, follow the new name (corrections are saved by ROI name)."""
        changed = False
        if old in self.backgrounds and new not in self.backgrounds:
            self.backgrounds[new] = self.backgrounds.pop(old)
            changed = True
        for name, settings in self.backgrounds.items():
            if settings.background_roi == old:
                self.backgrounds[name] = replace(settings, background_roi=new)
                changed = True
        if changed:
            self._notify({"background"})

    def set_fraction(self, settings: FractionFitSettings) -> None:
        """The fraction-fit settings."""
        self.fraction = settings
        self._notify({"fraction"})

    def set_phasor(self, settings: PhasorSettings) -> None:
        """The phasor view settings."""
        self.phasor = settings
        self._notify({"phasor"})

    def set_selection(self, mask: np.ndarray | None) -> None:
        """The pixels the phasor cursors select (shown by the frame view), or None."""
        self.selection = None if mask is None else np.asarray(mask, bool)
        self._notify({"selection"})

    def calibration_for(self, session, channel: int, params=None) -> Calibration | None:
        """The calibration used for ``channel``: the one set, else one from ``params`` (the
        channel's fit), else uncalibrated (None without photon arrival times)."""
        base = default_calibration(session, channel)
        if base is None:
            return None
        if channel in self.calibrations:
            return self.calibrations[channel]
        if params is not None:
            return Calibration.from_fit(params, base.period_bins, channel=channel,
                                        note="FLIM fit")
        return base

    def document_fields(self) -> dict:
        """The SessionDocument fields these settings fill."""
        return {"calibrations": {c: cal.to_dict() for c, cal in self.calibrations.items()},
                "backgrounds": {n: b.to_dict() for n, b in self.backgrounds.items()},
                "fraction_fit": self.fraction.to_dict(), "phasor": self.phasor.to_dict()}

    def apply_document(self, doc) -> list[str]:
        """Take the settings of a SessionDocument; returns messages about parts that could
        not be restored."""
        messages = []
        self.calibrations, self.backgrounds = {}, {}
        for channel, data in doc.calibrations.items():
            try:
                self.calibrations[int(channel)] = Calibration.from_dict(data)
            except (TypeError, ValueError) as e:
                messages.append(f"calibration of channel {channel} not restored: {e}")
        for name, data in doc.backgrounds.items():
            try:
                self.backgrounds[str(name)] = BackgroundSettings.from_dict(data)
            except (TypeError, ValueError) as e:
                messages.append(f"background settings of ROI {name!r} not restored: {e}")
        try:
            self.fraction = FractionFitSettings.from_dict(doc.fraction_fit or {})
        except (TypeError, ValueError) as e:
            messages.append(f"fraction-fit settings not restored: {e}")
        try:
            self.phasor = PhasorSettings.from_dict(doc.phasor or {})
        except (TypeError, ValueError) as e:
            messages.append(f"phasor settings not restored: {e}")
        self._notify({"calibration", "background", "fraction", "phasor"})
        return messages
