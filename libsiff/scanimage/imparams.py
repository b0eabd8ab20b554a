"""ImParams: a ScanImage header as SiffPy's ``ImParams`` (modules, geometry, framelists).

Built from header text alone (no file access): :meth:`ImParams.from_header` takes the
non-varying frame data (NVFD), the ROI-group JSON and the file's frame count. Semantics are
those of docs/compatibility.md §1 and §2 with the decisions of docs/compatibility.md §8a;
every place where this module deliberately differs from SiffPy says so in its docstring.

Conventions used throughout:

* frame indices are **file frames**: 0-based IFD positions, flyback frames included;
* ``color_channel`` arguments are **0-based positions within** ``channelSave`` (so with
  ``channelSave = [2;3]`` position 0 is channel 2); the header's channel numbers are 1-based;
* a **timepoint** (= volume) counts only when all its file frames, flyback included, are in
  the file: ``num_timepoints = num_frames // (frames_per_volume + flyback frames)``;
* times are in seconds, rates in Hz, arrival-time bins in picoseconds.

The frame layout and every frame list are in :mod:`libsiff.scanimage.framelists`; the
header tree in :mod:`libsiff.scanimage.header`; the ROI groups in
:mod:`libsiff.scanimage.roi`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..constants import FALLBACK_PICOSECONDS_PER_BIN, bin_width_ps_from_bin_resolution
from ..errors import SiffFormatError
from .framelists import FrameLists, Layout, int_arg
from .header import ScanImageModule, build_modules, split_nvfd
from .matlab import parse_value
from .roi import ROIGroup, parse_roi_groups

__all__ = ["ImParams"]

_ACQ_PREFIX = "SI.hScan2D.hAcq."


def _truthy(value: Any) -> bool:
    """MATLAB flag → bool (a raw unparsed string counts as false)."""
    return bool(value) and not isinstance(value, str)


class ImParams(FrameLists):
    """Image parameters of a ScanImage(-FLIM) file, SiffPy-compatible.

    Build one with :meth:`from_header` (or SiffPy's :meth:`from_dict` +
    :meth:`add_roi_data`). ScanImage modules are attributes (``im_par.FastZ``,
    ``im_par.Scan2D.Acq.Tau_bins``); ``hasattr(im_par, 'FastZ')`` tests presence. Item access
    ``im_par['num_frames']`` aliases attribute access; item assignment stores the attribute
    under the lower-cased key. ``print(im_par)`` gives SiffPy's text.

    See the module docstring for the frame-index conventions.
    """

    __slots__ = ("__dict__", "__weakref__", "_filename", "_full_keys")

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
            self._num_frames_from_siffio = int_arg(num_frames, "num_frames")
        self._filename = str(filename)
        self._full_keys: dict[str, Any] = {}

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
        where = f"{filename}: " if filename else ""
        try:
            params = cls.from_dict(split_nvfd(nvfd), num_frames=num_frames)
        except SiffFormatError as exc:
            raise SiffFormatError(f"{where}{exc}") from None
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
        params.si_modules = build_modules(header_dict)
        params._full_keys = {key: value for key, value in header_dict.items()
                             if key.startswith(_ACQ_PREFIX)}
        return params

    def add_roi_data(self, roi_data: Mapping | str) -> None:
        """Add the ROI groups of the ``{"RoiGroups": ...}`` JSON (text or parsed dict).

        Each non-null group becomes a :class:`~libsiff.scanimage.roi.ROIGroup` in
        ``self.roi_groups`` under its key (see :func:`~libsiff.scanimage.roi.parse_roi_groups`).
        """
        if "roi_groups" not in self.__dict__:
            self.roi_groups: dict[str, ROIGroup] = {}
        self.roi_groups.update(parse_roi_groups(roi_data, self._where))

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
        return default if mod is None else mod.params.get(key, default)

    @property
    def _stack_on(self) -> bool:
        return self._module("StackManager") is not None and _truthy(
            self._param("StackManager", "enable"))

    def _layout(self) -> Layout:
        try:
            return Layout.from_header(self.num_slices, self.frames_per_slice, self.num_colors,
                                      self._flyback_planes, self.num_frames)
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
        ``channelSave = [2;3]`` (docs/compatibility.md §8a decision 6).
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

        0 unless :attr:`discard_frames` (docs/compatibility.md §8a decision 8; SiffPy counts them whenever the
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
        """``SI.hScan2D.hAcq.<key>`` read by its full key (as the C core does), or None."""
        return parse_value(self._full_keys.get(_ACQ_PREFIX + key))

    @property
    def picoseconds_per_bin(self) -> int:
        """Width of one arrival-time bin in picoseconds: ``5 * 2**binResolution``.

        From ``SI.hScan2D.hAcq.binResolution``; 20 ps with a warning when the header lacks
        it (docs/compatibility.md §8a decision 3; SiffPy returns None or fails).
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

        Histograms read from a file have ``num_bins + 2`` bins, as corrosiff's (docs/compatibility.md §8a
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

