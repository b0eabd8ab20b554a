"""ImParams: a ScanImage header as SiffPy's ``ImParams`` (modules, geometry, framelists).

Built from header text alone (no file access): :meth:`ImParams.from_header` takes the
non-varying frame data (NVFD), the ROI-group JSON and the file's frame count. Semantics are
those of siffpy-semantics.md §1–§2 with the decisions of its §8a; every place where this
module deliberately differs from SiffPy says so in its docstring.

Conventions used throughout:

* frame indices are **file frames**: 0-based IFD positions, flyback frames included;
* ``color_channel`` arguments are **0-based positions within** ``channelSave`` (so with
  ``channelSave = [2;3]`` position 0 is channel 2); the header's channel numbers are 1-based;
* a **timepoint** (= volume) counts only when all its file frames, flyback included, are in
  the file: ``num_timepoints = num_frames // (frames_per_volume + flyback frames)``;
* times are in seconds, rates in Hz, arrival-time bins in picoseconds.

The file is laid out as (siff-format.md §3.1)::

    frame = t*(S*R + Fb)*C + (s*R + r)*C + c

with S slices, R frames per slice, Fb flyback planes (only when FastZ is enabled with
``discardFlybackFrames``), C colours, timepoint t, slice s, repeat r and colour position c.
"""

from __future__ import annotations

import json
import operator
import re
import warnings
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np

from .constants import (
    FALLBACK_PICOSECONDS_PER_BIN,
    MULTIHARP_BASE_RESOLUTION_PS,
    bin_width_ps_from_bin_resolution,
)
from .errors import SiffFormatError, SiffIndexError
from .matlab import parse_value

__all__ = [
    "ImParams", "ScanImageModule", "ScanImageSubModule", "ROIGroup", "SIROI", "FrameTable",
    "split_nvfd", "MULTIHARP_BASE_RESOLUTION_PS", "FALLBACK_PICOSECONDS_PER_BIN",
]


_H_PREFIX = re.compile(r"h[A-Z]")


# =========================================================================================
# NVFD text → ScanImage module tree
# =========================================================================================

def split_nvfd(nvfd: str) -> dict[str, str]:
    """Split the NVFD text into ``{key: raw value text}`` (siffpy-semantics.md §1.2).

    Parameters
    ----------
    nvfd : str
        Lines ``SI.<path> = <MATLAB expression>`` separated by ``\\n``.

    Returns
    -------
    dict
        Keys in order of first appearance; a later duplicate overwrites the value. Only the
        text between the first and second ``" = "`` is kept (SiffPy's truncation). Lines
        without ``" = "`` (the empty trailing line) are skipped, where SiffPy would store a
        ``None`` under the empty key; a trailing ``\\r`` is removed.
    """
    out: dict[str, str] = {}
    for line in nvfd.split("\n"):
        if line.endswith("\r"):
            line = line[:-1]
        parts = line.split(" = ")
        if len(parts) >= 2:
            out[parts[0]] = parts[1]
    return out


def _strip_h(name: str) -> str:
    """``hFastZ`` → ``FastZ``; names not matching ``h[A-Z]`` are kept."""
    return name[1:] if _H_PREFIX.match(name) else name


class ScanImageModule:
    """One ScanImage module (``SI.h<Name>.*``): header parameters as attributes.

    ``module.param`` and ``module['param']`` give a parsed value; dotted keys make
    submodules (``SI.hScan2D.hAcq.Tau_bins`` → ``Scan2D.Acq.Tau_bins``), also reachable as
    ``module.submodules[name]``. ``str()`` is SiffPy's ``"<name> module: "`` listing.
    """

    def __init__(self, name: str):
        self.module_name = name
        self.submodules: dict[str, ScanImageSubModule] = {}

    def _add_param(self, key: str, value: str | None) -> None:
        """Store one parameter; ``key`` is relative to this module."""
        head, dot, rest = key.partition(".")
        if not dot:
            setattr(self, key, parse_value(value))
            return
        sub = _strip_h(head)
        if sub not in self.submodules:
            self.submodules[sub] = ScanImageSubModule(sub)
        self.submodules[sub]._add_param(rest, value)

    def __getattr__(self, name: str) -> Any:
        submodules = self.__dict__.get("submodules", {})
        if name in submodules:
            return submodules[name]
        raise AttributeError(
            f"ScanImage module {self.__dict__.get('module_name', '?')!r} has no parameter "
            f"or submodule {name!r}"
        )

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError as exc:
            raise KeyError(key) from exc

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.__dict__.get("submodules", {})))

    def __str__(self) -> str:
        body = "".join(
            f"\n\t{key} : {value}" for key, value in self.__dict__.items()
            if key != "module_name"
        )
        return f"{self.module_name} module: {body}"

    __repr__ = __str__


class ScanImageSubModule(ScanImageModule):
    """A submodule of a ScanImage module (e.g. ``Scan2D.Acq``)."""


# =========================================================================================
# ROI-group JSON
# =========================================================================================

class SIROI:
    """A ScanImage ROI (not a SiffPy mask ROI).

    As in SiffPy only ``scanfields`` is an attribute: the raw JSON value, a dict for one
    scanfield, a list for several. The whole JSON object is kept in ``raw``.
    """

    def __init__(self, roi_dict: Any):
        self.raw = roi_dict
        if isinstance(roi_dict, Mapping) and "scanfields" in roi_dict:
            self.scanfields = roi_dict["scanfields"]

    def __str__(self) -> str:
        has = "scanfields" in self.__dict__
        count = len(self.scanfields) if has and hasattr(self.scanfields, "__iter__") else 1
        # SiffPy never stores the ROI's name, so its print always shows an empty one, and the
        # count of a single scanfield is the number of keys in its dict.
        return (f"\n        ROI  with\n        {count} scanfield(s):\n\n"
                f"        {self.scanfields if has else ''}\n        ")

    __repr__ = __str__


class ROIGroup:
    """A ScanImage ROI group (``imagingRoiGroup``, ``integrationRoiGroup``, ...).

    Every JSON key except ``rois`` is an attribute; string values go through
    :func:`~libsiff.matlab.parse_value` as in SiffPy. ``rois`` is one :class:`SIROI` when the
    JSON holds an object (single ROI) and a list of them when it holds a list (mROI);
    ``null`` gives an empty list (SiffPy raises).
    """

    def __init__(self, group_dict: Mapping):
        for key, value in group_dict.items():
            if key == "rois":
                if isinstance(value, Mapping):
                    self.rois: SIROI | list[SIROI] = SIROI(value)
                elif isinstance(value, list):
                    self.rois = [SIROI(roi) for roi in value]
                elif value is None:
                    self.rois = []
                else:
                    raise NotImplementedError(
                        f"ROI group 'rois' is a {type(value).__name__}, neither an object "
                        "nor a list: not a ScanImage layout this library knows"
                    )
            else:
                setattr(self, key, parse_value(value) if isinstance(value, str) else value)

    @property
    def roi_list(self) -> list[SIROI]:
        """The ROIs as a list, whether the JSON held one or several."""
        rois = self.__dict__.get("rois", [])
        return list(rois) if isinstance(rois, list) else [rois]

    def __str__(self) -> str:
        rois = self.__dict__.get("rois", [])
        count = len(rois) if isinstance(rois, list) else 1
        return (f"\n        ROI group {self.__dict__.get('name', '')} with\n"
                f"        {count} ROI(s):\n\n        {rois}\n        ")

    __repr__ = __str__


# =========================================================================================
# ImParams
# =========================================================================================

class FrameTable(NamedTuple):
    """Where every file frame sits; arrays of length ``num_frames``, indexed by file frame.

    ``timepoint`` is the volume a frame belongs to (frames of an incomplete final volume have
    ``timepoint == num_timepoints``); ``slice`` and ``repeat`` are ``-1`` for flyback frames;
    ``color`` is the 0-based position within ``channelSave`` (flyback frames have one too).
    """

    timepoint: np.ndarray
    slice: np.ndarray
    color: np.ndarray
    is_flyback: np.ndarray
    repeat: np.ndarray


class _Layout(NamedTuple):
    """Validated frame geometry: slices, frames per slice, colours, flyback planes, frames."""

    S: int
    R: int
    C: int
    Fb: int
    N: int

    @property
    def P(self) -> int:
        """Non-flyback file frames per volume."""
        return self.S * self.R * self.C

    @property
    def V(self) -> int:
        """File frames per volume, flyback included."""
        return (self.S * self.R + self.Fb) * self.C

    @property
    def T(self) -> int:
        """Complete timepoints in the file."""
        return self.N // self.V


def _truthy(value: Any) -> bool:
    """MATLAB flag → bool (a raw unparsed string counts as false)."""
    return bool(value) and not isinstance(value, str)


def _count(value: Any, what: str, minimum: int = 1) -> int:
    """A header count as an int ≥ ``minimum``, else SiffFormatError."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer)):
        raise SiffFormatError(f"header value {what} = {value!r} is not a count")
    if value != int(value) or int(value) < minimum:
        raise SiffFormatError(f"header value {what} = {value!r} is not a count >= {minimum}")
    return int(value)


def _index(value: Any, name: str) -> int:
    """An integer argument (Python or numpy int) as int, else TypeError."""
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}") from None


def _in_range(value: Any, n: int, name: str) -> int:
    """An integer argument in ``range(n)``, else ValueError."""
    i = _index(value, name)
    if not 0 <= i < n:
        raise ValueError(f"{name} = {i} is out of range: must be in [0, {n})")
    return i


class ImParams:
    """Image parameters of a ScanImage(-FLIM) file, SiffPy-compatible.

    Build one with :meth:`from_header` (or SiffPy's :meth:`from_dict` +
    :meth:`add_roi_data`). ScanImage modules are attributes (``im_par.FastZ``,
    ``im_par.Scan2D.Acq.Tau_bins``); ``hasattr(im_par, 'FastZ')`` tests presence. Item access
    ``im_par['num_frames']`` aliases attribute access; item assignment stores the attribute
    under the lower-cased key. ``print(im_par)`` gives SiffPy's text.

    See the module docstring for the frame-index conventions.
    """

    __slots__ = ("__dict__", "__weakref__", "_filename")

    CHANNEL_AXIS: int = -3
    """Index of the colour axis in :attr:`volume` and :attr:`array_shape`."""

    def __init__(self, num_frames: int | None = None, *, filename: str = ""):
        """An empty ImParams (no modules); SiffPy's ``ImParams(num_frames=None)``.

        Parameters
        ----------
        num_frames : int, optional
            File frames (IFDs) in the file, flyback included.
        filename : str, optional
            Used in error messages only.
        """
        self.si_modules: dict[str, ScanImageModule] = {}
        if num_frames is not None:
            self._num_frames_from_siffio = _index(num_frames, "num_frames")
        self._filename = str(filename)

    # ---- construction ----------------------------------------------------------------------

    @classmethod
    def from_header(cls, nvfd: str, roi_string: str, num_frames: int | None,
                    filename: str = "") -> ImParams:
        """Build from the header's two texts and the file's frame count.

        Parameters
        ----------
        nvfd : str
            Non-varying frame data: ``SI.<path> = <value>`` lines.
        roi_string : str
            The ``{"RoiGroups": ...}`` JSON. Empty text gives no ROI groups; unreadable JSON
            gives none too, with a warning (SiffPy raises).
        num_frames : int or None
            File frames (IFDs), flyback included. ``None`` falls back on the header's
            ``StackManager.actualNumVolumes * numFramesPerVolume``.
        filename : str, optional
            Used in messages only.

        Returns
        -------
        ImParams
        """
        params = cls.from_dict(split_nvfd(nvfd), num_frames=num_frames)
        params._filename = str(filename)
        params.add_roi_data(roi_string)
        return params

    @classmethod
    def from_file_header(cls, header: Mapping[str, Any]) -> ImParams:
        """Build from a ``SiffIO.get_file_header()`` dict (corrosiffpy's keys)."""
        return cls.from_header(
            header.get("Non-varying frame data", ""), header.get("ROI string", ""),
            header.get("Number of frames"), filename=str(header.get("Filename", "")),
        )

    @classmethod
    def from_dict(cls, header_dict: Mapping[str, str | None],
                  num_frames: int | None = None) -> ImParams:
        """SiffPy's constructor: route ``{key: raw value}`` pairs to ScanImage modules.

        Keys with at most two dot-separated parts (``SI.VERSION_MAJOR``) go to module
        ``base``; otherwise part 1 names the module (``hFastZ`` → ``FastZ``) and the rest the
        parameter, further dots making submodules. Modules appear in order of first key.
        """
        params = cls(num_frames=num_frames)
        for key, value in header_dict.items():
            parts = key.split(".")
            if len(parts) <= 2:
                module_name, param = "base", parts[-1]
            else:
                module_name, param = _strip_h(parts[1]), ".".join(parts[2:])
            module = params.si_modules.get(module_name)
            if module is None:
                module = params.si_modules[module_name] = ScanImageModule(module_name)
            module._add_param(param, value)
        return params

    def add_roi_data(self, roi_data: Mapping | str) -> None:
        """Add the ROI groups of the ``{"RoiGroups": ...}`` JSON (text or parsed dict).

        Each non-null group becomes a :class:`ROIGroup` in ``self.roi_groups`` under its key
        (``photostimRoiGroups`` is usually null and so skipped).
        """
        if "roi_groups" not in self.__dict__:
            self.roi_groups: dict[str, ROIGroup] = {}
        if isinstance(roi_data, str):
            if not roi_data.strip():
                return
            try:
                roi_data = json.loads(roi_data)
            except ValueError as exc:
                warnings.warn(f"{self._where}ROI-group JSON is unreadable ({exc}); "
                              "no ROI groups", RuntimeWarning, stacklevel=2)
                return
        groups = roi_data.get("RoiGroups") if isinstance(roi_data, Mapping) else None
        if not isinstance(groups, Mapping):
            warnings.warn(f"{self._where}ROI-group JSON has no 'RoiGroups' object; "
                          "no ROI groups", RuntimeWarning, stacklevel=2)
            return
        for name, group in groups.items():
            if isinstance(group, Mapping):
                self.roi_groups[name] = ROIGroup(group)

    @property
    def filename(self) -> str:
        """The file name given at construction ('' if none)."""
        return getattr(self, "_filename", "")

    @property
    def _where(self) -> str:
        return f"{self.filename}: " if self.filename else ""

    # ---- module access and the dict-like interface --------------------------------------------

    def __getattr__(self, name: str) -> Any:
        modules = self.__dict__.get("si_modules") or {}
        if name in modules:
            return modules[name]
        raise AttributeError(f"ImParams has no attribute or ScanImage module {name!r}")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.__dict__.get("si_modules") or {}))

    def __getitem__(self, key: str) -> Any:
        if hasattr(self, key):
            return getattr(self, key)
        raise KeyError(f"Im param field {key} does not exist")

    def __setitem__(self, key: str, value: Any) -> None:
        setattr(self, key.lower(), value)

    def keys(self):
        """Names of the stored attributes (``si_modules``, ``_num_frames_from_siffio``, ...)."""
        return self.__dict__.keys()

    def values(self) -> list:
        """Values of the stored attributes, in :meth:`keys` order."""
        return [getattr(self, key) for key in self.__dict__]

    def items(self) -> list[tuple[str, Any]]:
        """``(name, value)`` of the stored attributes, in :meth:`keys` order."""
        return [(key, getattr(self, key)) for key in self.__dict__]

    def __repr__(self) -> str:
        text = "Image parameters: \n"
        for key in self.__dict__:
            if key == "si_modules":
                text += "\tScanImage modules : \n"
                text += "".join(f"\t\t{name}\n" for name in self.si_modules)
            else:
                text += f"\t{key} : {getattr(self, key)}\n"
        return text

    __str__ = __repr__

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(repr(self))

    # ---- header access helpers ----------------------------------------------------------------

    def _module(self, name: str) -> ScanImageModule | None:
        return (self.__dict__.get("si_modules") or {}).get(name)

    def _param(self, module: str, key: str, default: Any = None) -> Any:
        """A module's parameter, or ``default`` when the module or the key is absent."""
        mod = self._module(module)
        return default if mod is None else mod.__dict__.get(key, default)

    @property
    def _stack_on(self) -> bool:
        return self._module("StackManager") is not None and _truthy(
            self._param("StackManager", "enable"))

    def _layout(self) -> _Layout:
        try:
            return _Layout(
                _count(self.num_slices, "num_slices"),
                _count(self.frames_per_slice, "frames_per_slice"),
                _count(self.num_colors, "num_colors"),
                _count(self._flyback_planes, "FastZ.numDiscardFlybackFrames", 0),
                _count(self.num_frames, "num_frames", 0),
            )
        except SiffFormatError as exc:
            raise SiffFormatError(f"{self._where}{exc}") from None

    @property
    def _flyback_planes(self) -> Any:
        return self._param("FastZ", "numDiscardFlybackFrames", 0) if self.discard_frames else 0

    # ---- counts --------------------------------------------------------------------------------

    @property
    def num_frames(self) -> int:
        """File frames in the file, **flyback included**.

        The count given at construction; without one, ``StackManager.actualNumVolumes *
        numFramesPerVolume`` if the stack is on, else 0.
        """
        if "_num_frames_from_siffio" in self.__dict__:
            return self._num_frames_from_siffio
        if self._stack_on:
            volumes = self._param("StackManager", "actualNumVolumes")
            per_volume = self._param("StackManager", "numFramesPerVolume")
            if isinstance(volumes, int) and isinstance(per_volume, int):
                return volumes * per_volume
        return 0

    @property
    def num_slices(self) -> int:
        """Z planes per volume (flyback planes excluded).

        ``StackManager.actualNumSlices`` when the stack is on, except 1 when
        ``stackZEndPos == stackZStartPos``; 1 otherwise.
        """
        if not self._stack_on:
            return 1
        missing = object()
        start = self._param("StackManager", "stackZStartPos", missing)
        end = self._param("StackManager", "stackZEndPos", missing)
        if start is not missing and end is not missing and start == end:
            return 1
        return self._param("StackManager", "actualNumSlices", 1)

    @property
    def frames_per_slice(self) -> int:
        """Frames taken at each plane before moving on (``StackManager.framesPerSlice``
        when the stack is on, else 1)."""
        return self._param("StackManager", "framesPerSlice", 1) if self._stack_on else 1

    @property
    def step_size(self) -> Any:
        """Z step between slices in µm (``StackManager.actualStackZStepSize``; 0.0 when the
        stack is off)."""
        return self._param("StackManager", "actualStackZStepSize") if self._stack_on else 0.0

    @property
    def z_vals(self) -> Any:
        """Z position of each frame of a volume, µm (``StackManager.zsRelative``), or None."""
        return self._param("StackManager", "zsRelative") if self._stack_on else None

    @property
    def colors(self) -> int | list[int] | None:
        """Saved channels, 1-based as in MATLAB: an int (one channel) or a list."""
        return self._param("Channels", "channelSave")

    @property
    def color_list(self) -> list:
        """:attr:`colors` as a list (``[None]`` without a Channels module)."""
        colors = self.colors
        return list(colors) if isinstance(colors, list) else [colors]

    @property
    def num_colors(self) -> int:
        """Number of saved colour channels (frames per plane and repeat)."""
        colors = self.colors
        return len(colors) if isinstance(colors, list) else 1

    @property
    def lowest_color_channel(self) -> Any:
        """The lowest saved channel **number** (1-based, MATLAB numbering)."""
        return min(self.color_list)

    @property
    def _default_color(self) -> int:
        """0-based position of the lowest saved channel within ``channelSave``.

        SiffPy uses ``lowest_color_channel - 1`` as a position, which is wrong for
        ``channelSave = [2;3]`` (§8a decision 6).
        """
        colors = self.colors
        if not isinstance(colors, list) or not colors:
            return 0
        return colors.index(min(colors))

    @property
    def frames_per_volume(self) -> int:
        """Non-flyback file frames per volume: ``num_slices * frames_per_slice * num_colors``."""
        return self.num_slices * self.frames_per_slice * self.num_colors

    @property
    def discard_frames(self) -> bool:
        """True when the file holds flyback frames: FastZ present, enabled, and
        ``discardFlybackFrames`` on."""
        return (self._module("FastZ") is not None
                and _truthy(self._param("FastZ", "discardFlybackFrames"))
                and _truthy(self._param("FastZ", "enable")))

    @property
    def num_discard_flyback_frames(self) -> int:
        """Flyback **file frames** per volume: ``FastZ.numDiscardFlybackFrames * num_colors``.

        0 unless :attr:`discard_frames` (§8a decision 8; SiffPy counts them whenever the
        header has the key and fails without a FastZ module).
        """
        return self._flyback_planes * self.num_colors

    @property
    def flyback_frames(self) -> list[int]:
        """File frames that are flyback: the last ``num_discard_flyback_frames`` of each
        volume, for every volume present (complete or not)."""
        lay = self._layout()
        if lay.Fb == 0:
            return []
        frames = np.arange(lay.N)
        return frames[frames % lay.V >= lay.P].tolist()

    @property
    def all_frames(self) -> list[int]:
        """Every file frame that is not flyback, in file order (incomplete final volume
        included)."""
        lay = self._layout()
        frames = np.arange(lay.N)
        return frames[frames % lay.V < lay.P].tolist()

    @property
    def num_true_frames(self) -> int:
        """``int(num_frames * frames_per_volume / (frames_per_volume + flyback frames))``.

        SiffPy's truncating estimate of the non-flyback frames, kept as specified. It
        counts fewer than are present when the file ends inside a volume with flyback.
        """
        lay = self._layout()
        return (lay.N * lay.P) // lay.V

    @property
    def num_volumes(self) -> int:
        """Complete volumes (timepoints) in the file: ``num_true_frames // frames_per_volume``,
        which equals ``num_frames // (frames_per_volume + flyback frames)``."""
        return self.num_true_frames // self.frames_per_volume

    @property
    def num_timepoints(self) -> int:
        """Same as :attr:`num_volumes`."""
        return self.num_volumes

    @property
    def final_full_volume_frame(self) -> int:
        """``num_true_frames`` rounded down to a whole number of volumes (logical frames)."""
        true_frames = self.num_true_frames
        return true_frames - true_frames % self.frames_per_volume

    # ---- frame geometry -------------------------------------------------------------------------

    @property
    def zoom(self) -> Any:
        """Scan zoom factor (``RoiManager.scanZoomFactor``), or None."""
        return self._param("RoiManager", "scanZoomFactor")

    @property
    def imaging_fov(self) -> Any:
        """Imaging field of view: four ``[x, y]`` corners in µm (``RoiManager.imagingFovUm``)."""
        return self._param("RoiManager", "imagingFovUm")

    @property
    def _mroi(self) -> bool:
        return _truthy(self._param("RoiManager", "mroiEnable"))

    def _mroi_resolutions(self) -> list[tuple[int, int]]:
        """``pixelResolutionXY`` of every imaging ROI (mROI acquisitions)."""
        group = self.__dict__.get("roi_groups", {}).get("imagingRoiGroup")
        if group is None:
            raise SiffFormatError(f"{self._where}mROI header without an imaging ROI group")
        resolutions = []
        for roi in group.roi_list:
            field = getattr(roi, "scanfields", None)
            if not isinstance(field, Mapping) or "pixelResolutionXY" not in field:
                raise NotImplementedError(
                    "mROI with several scanfields per ROI (z-dependent ROIs) is not supported")
            x, y = field["pixelResolutionXY"]
            resolutions.append((x, y))
        if not resolutions:
            raise SiffFormatError(f"{self._where}mROI header with no imaging ROIs")
        return resolutions

    @property
    def xsize(self) -> Any:
        """Pixels per line (columns), or None without a RoiManager.

        With mROI on, the first imaging ROI's ``pixelResolutionXY[0]``
        (NotImplementedError if the ROIs differ).
        """
        if self._module("RoiManager") is None:
            return None
        if self._mroi:
            widths = {x for x, _ in self._mroi_resolutions()}
            if len(widths) > 1:
                raise NotImplementedError("mROIs of different widths are not supported")
            return widths.pop()
        return self._param("RoiManager", "pixelsPerLine")

    @property
    def ysize(self) -> Any:
        """Lines per frame (rows), or None without a RoiManager.

        With mROI on, SiffPy's sum over imaging ROIs of ``pixelResolutionXY[1]`` plus the
        fly-to lines ``int(flytoTimePerScanfield / (linePeriod * (1 + bidirectional))) + 1``.
        """
        if self._module("RoiManager") is None:
            return None
        if self._mroi:
            bidi = 1 + int(_truthy(self._param("Scan2D", "bidirectional")))
            flyto = self._param("Scan2D", "flytoTimePerScanfield", 0.0)
            line_period = self._param("RoiManager", "linePeriod")
            gap = int(flyto / (line_period * bidi)) + 1
            return sum(y + gap for _, y in self._mroi_resolutions())
        return self._param("RoiManager", "linesPerFrame")

    @property
    def shape(self) -> tuple:
        """One frame: ``(ysize, xsize)`` in pixels (rows, columns)."""
        return (self.ysize, self.xsize)

    @property
    def volume(self) -> tuple:
        """One volume: ``(num_slices, [frames_per_slice if > 1], num_colors, ysize, xsize)``.

        The colour axis is always present.
        """
        dims = [self.num_slices]
        if self.frames_per_slice > 1:
            dims.append(self.frames_per_slice)
        return (*dims, self.num_colors, self.ysize, self.xsize)

    @property
    def volume_one_color(self) -> tuple:
        """:attr:`volume` without its colour axis; unchanged with one colour (SiffPy quirk)."""
        volume = self.volume
        return volume if self.num_colors == 1 else volume[:-3] + volume[-2:]

    @property
    def single_channel_volume(self) -> tuple:
        """``(num_slices, ysize, xsize)``."""
        return (self.num_slices, *self.shape)

    @property
    def array_shape(self) -> tuple:
        """All complete timepoints: ``(num_timepoints, num_slices, [frames_per_slice if > 1],
        num_colors, ysize, xsize)``; ``flatten_by_timepoints(color_channel=None)`` reshapes to
        it."""
        return (self.num_timepoints, *self.volume)

    @property
    def stack(self) -> tuple:
        """Same as :attr:`array_shape`."""
        return self.array_shape

    @property
    def scale(self) -> list[float]:
        """Axis scales: ``[1.0 (time), (1/frames_per_volume if frames_per_slice != 1),
        (z step in µm, 1e-6 if 0, only with > 1 slice), 1 (colour), µm per row,
        µm per column]``.

        Raises ArithmeticError unless :attr:`imaging_fov` has exactly four corners.
        """
        scale = [1.0]
        if self.frames_per_slice != 1:
            scale.append(1.0 / self.frames_per_volume)
        if self.num_slices > 1:
            step = self.step_size
            scale.append(1e-6 if step == 0 else step)
        fov = self.imaging_fov
        if not isinstance(fov, list) or len(fov) != 4:
            raise ArithmeticError("Scale for mROI im_params not yet implemented")
        xs = [corner[0] for corner in fov]
        ys = [corner[1] for corner in fov]
        scale.append(1)
        scale.append(float(max(ys) - min(ys)) / self.ysize)
        scale.append(float(max(xs) - min(xs)) / self.xsize)
        return scale

    @property
    def scale_force_z(self) -> list[float]:
        """:attr:`scale` with a 1.0 z entry inserted at index 2 when there is one slice."""
        scale = self.scale
        if self.num_slices == 1:
            scale.insert(2, 1.0)
        return scale

    @property
    def scale_no_color_no_fps(self) -> list[float]:
        """:attr:`scale` without the frames-per-slice entry, then without index 1 (SiffPy)."""
        scale = self.scale
        if self.frames_per_slice != 1:
            scale.pop(1)
        scale.pop(1)
        return scale

    @property
    def axis_labels(self) -> list[str]:
        """Axis names: ``['Time', ('Sub-slice repeats'), ('Z planes'), ('Color channel'),
        'x', 'y']`` (SiffPy's order of the last two)."""
        labels = ["Time"]
        if self.frames_per_slice > 1:
            labels.append("Sub-slice repeats")
        if self.num_slices > 1:
            labels.append("Z planes")
        if self.num_colors > 1:
            labels.append("Color channel")
        return labels + ["x", "y"]

    # ---- timing and FLIM -------------------------------------------------------------------

    @property
    def frame_rate(self) -> Any:
        """Frames per second (``RoiManager.scanFrameRate``, Hz), or None."""
        return self._param("RoiManager", "scanFrameRate")

    @property
    def frame_period(self) -> Any:
        """Seconds per frame (``RoiManager.scanFramePeriod``), or None."""
        return self._param("RoiManager", "scanFramePeriod")

    @property
    def volume_rate(self) -> Any:
        """Volumes per second (``RoiManager.scanVolumeRate``, Hz), or None."""
        return self._param("RoiManager", "scanVolumeRate")

    @property
    def volume_period(self) -> Any:
        """Seconds per volume (``1 / RoiManager.scanVolumeRate``), or None."""
        rate = self.volume_rate
        return 1.0 / rate if isinstance(rate, (int, float)) and rate else None

    def _acq(self, key: str) -> Any:
        scan2d = self._module("Scan2D")
        acq = None if scan2d is None else scan2d.submodules.get("Acq")
        return None if acq is None else acq.__dict__.get(key)

    @property
    def picoseconds_per_bin(self) -> int:
        """Width of one arrival-time bin in picoseconds: ``5 * 2**binResolution``.

        From ``SI.hScan2D.hAcq.binResolution``; 20 ps with a warning when the header lacks
        it (§8a decision 3; SiffPy returns None or fails).
        """
        resolution = self._acq("binResolution")
        if isinstance(resolution, bool) or not isinstance(resolution, (int, float)):
            warnings.warn(
                f"{self._where}header has no SI.hScan2D.hAcq.binResolution; assuming "
                f"{FALLBACK_PICOSECONDS_PER_BIN} ps per arrival-time bin",
                RuntimeWarning, stacklevel=2)
            return FALLBACK_PICOSECONDS_PER_BIN
        try:
            return bin_width_ps_from_bin_resolution(resolution)
        except (ValueError, OverflowError) as exc:
            raise SiffFormatError(f"{self._where}header value binResolution: {exc}") from None

    @property
    def num_bins(self) -> Any:
        """Arrival-time bins per laser period (``SI.hScan2D.hAcq.Tau_bins``), or None.

        Histograms read from a file have ``num_bins + 2`` bins, as corrosiff's (§8a
        decision 10).
        """
        return self._acq("Tau_bins")

    @property
    def arrival_time_bins(self) -> np.ndarray:
        """Start of each of the :attr:`num_bins` arrival-time bins, in picoseconds (float)."""
        num_bins = self.num_bins
        if isinstance(num_bins, bool) or not isinstance(num_bins, int):
            raise SiffFormatError(f"{self._where}header has no SI.hScan2D.hAcq.Tau_bins")
        return np.arange(num_bins, dtype=float) * float(self.picoseconds_per_bin)

    # ---- frame bookkeeping (vectorised) --------------------------------------------------------

    def _frames(self, lay: _Layout, timepoints, slices, repeats, colors) -> np.ndarray:
        """File frames on the grid ``(timepoint, slice, repeat, colour)``, in file order."""
        t = np.asarray(timepoints, dtype=np.int64)[:, None, None, None]
        s = np.asarray(slices, dtype=np.int64)[None, :, None, None]
        r = np.asarray(repeats, dtype=np.int64)[None, None, :, None]
        c = np.asarray(colors, dtype=np.int64)[None, None, None, :]
        return t * lay.V + (s * lay.R + r) * lay.C + c

    def _logical_to_file(self, lay: _Layout, logical: np.ndarray) -> list[int]:
        """SiffPy's flyback correction ``f + F * (f // P)``; frames past the file dropped.

        Frames at or past ``num_frames`` are dropped even without flyback (SiffPy returns
        them when ``discard_frames`` is off).
        """
        frames = logical + (lay.Fb * lay.C) * (logical // lay.P)
        return frames[frames < lay.N].tolist()

    def _color_arg(self, lay: _Layout, color_channel: Any) -> int:
        if color_channel is None:
            return self._default_color
        return _in_range(color_channel, lay.C, "color_channel")

    def _timepoint_span(self, lay: _Layout, start: Any, end: Any, clamp_warning: bool) -> range:
        """Complete timepoints ``[start, end)``; ``end`` past the last is clamped."""
        start = _index(start, "timepoint_start")
        if start < 0:
            raise ValueError(f"timepoint_start = {start} must be >= 0")
        if end is None:
            end = lay.T
        end = _index(end, "timepoint_end")
        if end < 0:
            raise ValueError(f"timepoint_end = {end} must be >= 0")
        if end > lay.T:
            if clamp_warning:
                warnings.warn(
                    f"timepoint_end = {end} is past the {lay.T} complete timepoints; "
                    f"using {lay.T}", RuntimeWarning, stacklevel=3)
            end = lay.T
        return range(start, end)

    def frame_table(self) -> FrameTable:
        """Timepoint, slice, colour, flyback flag and repeat of every file frame.

        Returns
        -------
        FrameTable
            NamedTuple ``(timepoint, slice, color, is_flyback, repeat)`` of int64 arrays
            (bool for ``is_flyback``), each of length ``num_frames`` and indexed by file
            frame. Frames with ``timepoint >= num_timepoints`` belong to an incomplete final
            volume; flyback frames have ``slice == repeat == -1``.
        """
        lay = self._layout()
        frames = np.arange(lay.N, dtype=np.int64)
        within = frames % lay.V
        plane_repeat = within // lay.C
        flyback = within >= lay.P
        return FrameTable(
            timepoint=frames // lay.V,
            slice=np.where(flyback, -1, plane_repeat // lay.R),
            color=within % lay.C,
            is_flyback=flyback,
            repeat=np.where(flyback, -1, plane_repeat % lay.R),
        )

    def frame_index(self, timepoint, slice, color, repeat=0):  # noqa: A002 - SiffPy's word
        """File frame of (timepoint, slice, colour position, repeat).

        Parameters
        ----------
        timepoint, slice, color, repeat : int or array of int
            0-based; ``color`` is the position within ``channelSave``, ``repeat`` the frame
            within a slice (< ``frames_per_slice``). Arrays broadcast together.

        Returns
        -------
        int or numpy.ndarray
            The file frame index (an int when every argument is a scalar).

        Raises
        ------
        SiffIndexError
            An argument is out of range, or the frame is past the end of the file (a frame
            of an incomplete final volume is fine if it was written).
        """
        lay = self._layout()
        args = {"timepoint": timepoint, "slice": slice, "color": color, "repeat": repeat}
        arrays = {}
        for name, value in args.items():
            array = np.asarray(value)
            if array.dtype.kind not in "iu" or array.dtype == bool:
                raise TypeError(f"{name} must be integer, not {array.dtype}")
            arrays[name] = array.astype(np.int64)
        limits = {"slice": lay.S, "color": lay.C, "repeat": lay.R}
        for name, array in arrays.items():
            if np.any(array < 0) or (name in limits and np.any(array >= limits[name])):
                bound = f"[0, {limits[name]})" if name in limits else ">= 0"
                raise SiffIndexError(f"{name} out of range: must be in {bound}")
        t, s, c, r = np.broadcast_arrays(arrays["timepoint"], arrays["slice"],
                                         arrays["color"], arrays["repeat"])
        frames = t * lay.V + (s * lay.R + r) * lay.C + c
        if np.any(frames >= lay.N):
            raise SiffIndexError(f"frame past the end of the file ({lay.N} frames)")
        return int(frames) if frames.ndim == 0 else frames

    # ---- SiffPy's framelist functions -----------------------------------------------------------

    def flatten_by_timepoints(self, timepoint_start: int = 0, timepoint_end: int | None = None,
                              reference_z: int | None = None,
                              color_channel: int | None = 0) -> list[int]:
        """File frames of the timepoints ``[timepoint_start, timepoint_end)``, in file order.

        Parameters
        ----------
        timepoint_start : int
            First timepoint (volume), >= 0.
        timepoint_end : int, optional
            End timepoint, exclusive. Default: all complete timepoints; larger values are
            clamped to that, with a warning.
        reference_z : int, optional
            Keep only this slice (all its repeats). SiffPy selects a frame-group index instead
            when ``frames_per_slice > 1`` (§8a decision 5).
        color_channel : int or None
            0-based colour position; ``None`` keeps every colour, interleaved as in the file,
            which is what ``.reshape(array_shape)`` expects. Default 0: the first colour only.

        Returns
        -------
        list of int
            File frames; flyback frames never appear.
        """
        lay = self._layout()
        span = self._timepoint_span(lay, timepoint_start, timepoint_end, clamp_warning=True)
        slices = range(lay.S) if reference_z is None else [
            _in_range(reference_z, lay.S, "reference_z")]
        colors = range(lay.C) if color_channel is None else [
            _in_range(color_channel, lay.C, "color_channel")]
        return self._frames(lay, span, slices, range(lay.R), colors).ravel().tolist()

    def _slice_grid(self, lay: _Layout, color: int, slice_idx: int) -> np.ndarray:
        """``(num_timepoints, frames_per_slice)`` file frames of one slice and colour."""
        grid = self._frames(lay, range(lay.T), [slice_idx], range(lay.R), [color])
        return grid.reshape(lay.T, lay.R)

    def framelist_by_slice(self, color_channel: int | None = None,
                           slice_idx: int | None = None) -> list[int] | list[list[int]]:
        """File frames of each slice (all complete timepoints, every repeat), one colour.

        Parameters
        ----------
        color_channel : int, optional
            0-based colour position; default: the position of the lowest saved channel (SiffPy
            uses ``lowest_color_channel - 1``, §8a decision 6).
        slice_idx : int, optional
            Return only this slice's list.

        Returns
        -------
        list of int, or list of lists of int
            One list per slice (or the one list): ``num_timepoints * frames_per_slice`` file
            frames, in file order. Never a flyback frame nor a frame of an incomplete final
            volume (§8a decision 4; SiffPy can give a slice one extra entry).
        """
        lay = self._layout()
        color = self._color_arg(lay, color_channel)
        if slice_idx is not None:
            index = _in_range(int(slice_idx), lay.S, "slice_idx")
            return self._slice_grid(lay, color, index).ravel().tolist()
        return [self._slice_grid(lay, color, s).ravel().tolist() for s in range(lay.S)]

    def framelist_by_slices(self, color_channel: int | None = None, lower_bound: int = 0,
                            upper_bound: int | None = None,
                            slices: int | Iterable[int] | None = None) -> list[int]:
        """File frames of several slices, one colour, concatenated slice by slice.

        Parameters
        ----------
        color_channel : int, optional
            0-based colour position (default as :meth:`framelist_by_slice`).
        lower_bound, upper_bound : int, optional
            Timepoints ``[lower_bound:upper_bound]`` of each slice, with Python slice rules
            (default: all complete timepoints). With ``frames_per_slice > 1`` every repeat of
            those timepoints is included (SiffPy cuts list positions instead).
        slices : int or iterable of int, optional
            Slices in output order. Default: every slice (SiffPy returns a list of per-slice
            lists here).

        Returns
        -------
        list of int
            File frames.
        """
        lay = self._layout()
        color = self._color_arg(lay, color_channel)
        if upper_bound is None:
            upper_bound = lay.T
        if slices is None:
            slices = range(lay.S)
        elif np.ndim(slices) == 0:
            slices = [slices]
        frames: list[int] = []
        for s in slices:
            grid = self._slice_grid(lay, color, _in_range(int(s), lay.S, "slices"))
            frames.extend(grid[lower_bound:upper_bound].ravel().tolist())
        return frames

    def framelist_by_color(self, color_channel: int, lower_bound_timepoint: int = 0,
                           upper_bound_timepoint: int | None = None) -> list[int]:
        """File frames of one colour, every slice, from a timepoint on.

        Parameters
        ----------
        color_channel : int
            0-based colour position; ValueError if not below ``num_colors``.
        lower_bound_timepoint : int
            First timepoint, >= 0.
        upper_bound_timepoint : int, optional
            End timepoint, exclusive. Default: up to ``num_true_frames`` logical frames,
            which includes the written frames of an incomplete final volume (mostly).

        Returns
        -------
        list of int
            File frames in file order, never flyback, never past the end of the file.
        """
        lay = self._layout()
        color = _in_range(color_channel, lay.C, "color_channel")
        lower = _index(lower_bound_timepoint, "lower_bound_timepoint")
        if lower < 0:
            raise ValueError(f"lower_bound_timepoint = {lower} must be >= 0")
        start = color + lower * lay.P
        if upper_bound_timepoint is None:
            stop = self.num_true_frames
        else:
            stop = color + _index(upper_bound_timepoint, "upper_bound_timepoint") * lay.P
        return self._logical_to_file(lay, np.arange(start, max(stop, start), lay.C))

    def framelist_by_timepoint(self, color_channel: int | None = None, timepoint_start: int = 0,
                               timepoint_end: int | None = None,
                               slice_idx: int | None = None) -> list[int] | list[list[int]]:
        """File frames grouped by timepoint (or of one slice), one colour.

        Parameters
        ----------
        color_channel : int, optional
            0-based colour position; default: the position of the lowest saved channel.
        timepoint_start, timepoint_end : int, optional
            Complete timepoints ``[start, end)``; ``end`` is clamped to ``num_timepoints``.
            (SiffPy fails for a non-zero start, and for an end without ``slice_idx``.)
        slice_idx : int, optional
            Return one flat list of this slice's frames (every repeat) instead.

        Returns
        -------
        list of lists of int, or list of int
            Per timepoint: its ``num_slices * frames_per_slice`` frames in this colour.
        """
        lay = self._layout()
        color = self._color_arg(lay, color_channel)
        span = self._timepoint_span(lay, timepoint_start, timepoint_end, clamp_warning=False)
        if slice_idx is not None:
            index = _in_range(int(slice_idx), lay.S, "slice_idx")
            return self._frames(lay, span, [index], range(lay.R), [color]).ravel().tolist()
        grid = self._frames(lay, span, range(lay.S), range(lay.R), [color])
        return grid.reshape(len(span), lay.S * lay.R).tolist()
