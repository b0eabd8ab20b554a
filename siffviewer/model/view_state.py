"""What the user is looking at and has decided: timepoint, plane, colour, averaging,
registration, contrast, dF/F baseline, lifetime colour range (saved in the session file)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from .observable import Observable
from .projections import SOURCES

#: colour maps a channel can be shown with (pyqtgraph/matplotlib names)
LUTS = ("grey", "viridis", "magma", "inferno")


@dataclass(frozen=True)
class FrameKey:
    """Everything that determines the displayed image (a request for the frame loader)."""

    timepoint: int
    plane: int
    color: int
    average: int
    registered: bool
    source: str = "frame"


class ViewState(Observable):
    """Current navigation of a session, clamped to its geometry.

    ``timepoint``, ``plane`` and ``color`` are 0-based positions; ``average`` is the number
    of timepoints averaged, centred on ``timepoint`` (see :func:`average_window`);
    ``source`` what the main view draws (one of ``projections.SOURCES``: the frame(s) or a
    projection of the plane); ``lut`` the colour map of the current channel; ``levels`` the display range in
    photons (None until first set); ``dff`` the dF/F baseline (percentile, window_s) or
    None; ``lifetime_range`` the lifetime colour range in ns. Views change these only
    through :meth:`update` and redraw from the notification."""

    def __init__(self, n_timepoints: int, n_planes: int, n_colors: int) -> None:
        super().__init__()
        self.n_timepoints = max(1, n_timepoints)
        self.n_planes = max(1, n_planes)
        self.n_colors = max(1, n_colors)
        self.timepoint = 0
        self.plane = 0
        self.color = 0
        self.average = 1
        self.registered = False
        self.source = "frame"
        self.lut = "grey"
        self.levels: tuple[float, float] | None = None
        self.playing = False
        self.play_fps = 10.0
        self.dff: tuple[float, float] | None = None
        self.dff_settings: tuple[float, float] = (10.0, 30.0)  # shown while dF/F is off
        self.lifetime_range: tuple[float, float] = (0.5, 3.5)

    def key(self) -> FrameKey:
        """The fields that decide which frame is shown, as a hashable FrameKey."""
        return FrameKey(self.timepoint, self.plane, self.color, self.average, self.registered,
                        self.source)

    def update(self, **values) -> None:
        """Set any of the fields (clamped to the geometry) and notify once."""
        changed = set()
        limits = {"timepoint": self.n_timepoints - 1, "plane": self.n_planes - 1,
                  "color": self.n_colors - 1, "average": self.n_timepoints}
        for name, value in values.items():
            if not hasattr(self, name) or name.startswith("n_"):
                raise AttributeError(f"ViewState has no settable field {name!r}")
            if name in limits:
                value = int(min(max(int(value), 1 if name == "average" else 0), limits[name]))
            if name == "source" and value not in SOURCES:
                raise ValueError(f"source must be one of {SOURCES}, not {value!r}")
            if name == "lut" and value not in LUTS:
                raise ValueError(f"lut must be one of {LUTS}, not {value!r}")
            if name == "play_fps":
                value = float(min(max(float(value), 0.5), 120.0))
            if getattr(self, name) != value:
                setattr(self, name, value)
                changed.add(name)
        self._notify(changed)

    def set_timepoint_count(self, n_timepoints: int) -> None:
        """Change the number of timepoints (a file that grew); notifies ``n_timepoints``."""
        n_timepoints = max(1, int(n_timepoints))
        if n_timepoints == self.n_timepoints:
            return
        self.n_timepoints = n_timepoints
        changed = {"n_timepoints"}
        for name in ("timepoint", "average"):  # still within the (smaller) range
            value = min(getattr(self, name), n_timepoints - (name == "timepoint"))
            if value != getattr(self, name):
                setattr(self, name, value)
                changed.add(name)
        self._notify(changed)

    def step(self, axis: str, delta: int) -> None:
        """Move ``axis`` ('timepoint', 'plane' or 'color') by ``delta``, clamped."""
        self.update(**{axis: getattr(self, axis) + delta})


def frame_key_fields() -> list[str]:
    """Names of the FrameKey fields (the state changes that need a new frame)."""
    return [f.name for f in fields(FrameKey)]


def average_window(timepoint: int, average: int, n_timepoints: int) -> tuple[int, int]:
    """Timepoints ``[start, stop)`` averaged around ``timepoint``: ``average`` of them
    centred on it (``timepoint - average // 2`` first), clipped at both ends of the
    recording (so fewer are used there)."""
    n = max(1, int(average))
    start = int(timepoint) - n // 2
    return max(0, start), min(int(n_timepoints), start + n)


def average_label(timepoint: int, average: int, n_timepoints: int) -> str:
    """How many timepoints the displayed mean really uses, and which ("" for one)."""
    start, stop = average_window(timepoint, average, n_timepoints)
    used = stop - start
    if average <= 1:
        return ""
    text = f"mean of {used} timepoints ({start}–{stop - 1})"
    if used < average:
        first = int(timepoint) - average // 2
        ends = [e for e, cut in (("start", first < 0), ("end", first + average > n_timepoints))
                if cut]
        text += f", {average} asked: clipped at the {' and '.join(ends)}"
    return text
