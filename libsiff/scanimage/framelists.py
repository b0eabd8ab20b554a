"""Frame lists: where each file frame of a ScanImage acquisition sits, and SiffPy's lists.

The file is laid out as (docs/format.md §3.1)::

    frame = t*(S*R + Fb)*C + (s*R + r)*C + c

with S slices, R frames per slice, Fb flyback planes (only when FastZ is enabled with
``discardFlybackFrames``), C colours, timepoint t, slice s, repeat r and colour position c.
:class:`Layout` holds those counts, validated against the file's frame count so that no
list grows beyond what the file holds; :class:`FrameLists` (a base of
:class:`~libsiff.scanimage.imparams.ImParams`) computes every list from them, vectorised.
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np

from ..errors import SiffArgumentError, SiffIndexError
from .limits import MAX_COUNT_BEYOND_FILE, header_count

__all__ = ["FrameTable", "Layout", "FrameLists", "int_arg", "int_in_range"]


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


class Layout(NamedTuple):
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

    @classmethod
    def from_header(cls, slices: Any, frames_per_slice: Any, colors: Any, flyback_planes: Any,
                    num_frames: Any) -> Layout:
        """Validate the header's counts against the file's frame count.

        Each count must be a finite integer (>= 1; flyback planes >= 0) no larger than the
        file's frame count or :data:`~libsiff.scanimage.limits.MAX_COUNT_BEYOND_FILE`,
        whichever is larger, so frame lists stay within what the file holds.

        Raises
        ------
        SiffFormatError
            A count is missing, not finite, not an integer, or too large.
        """
        n = header_count(num_frames, "num_frames", 0)
        most = max(n, MAX_COUNT_BEYOND_FILE)
        return cls(
            header_count(slices, "num_slices", 1, most),
            header_count(frames_per_slice, "frames_per_slice", 1, most),
            header_count(colors, "num_colors", 1, most),
            header_count(flyback_planes, "FastZ.numDiscardFlybackFrames", 0, most),
            n,
        )


def int_arg(value: Any, name: str) -> int:
    """An integer argument (Python or numpy int) as int, else TypeError."""
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}") from None


def int_in_range(value: Any, n: int, name: str) -> int:
    """An integer argument in ``range(n)``, else ValueError."""
    i = int_arg(value, name)
    if not 0 <= i < n:
        raise SiffArgumentError(f"{name} = {i} is out of range: must be in [0, {n})")
    return i



class FrameLists:
    """SiffPy's frame-list functions over a :class:`Layout`.

    Subclasses provide ``_layout()`` (the validated :class:`Layout`), ``_default_color``
    (0-based colour position used when none is given) and ``num_true_frames``.
    """

    __slots__ = ()

    def _layout(self) -> Layout:
        raise NotImplementedError

    def _frames(self, lay: Layout, timepoints, slices, repeats, colors) -> np.ndarray:
        """File frames on the grid ``(timepoint, slice, repeat, colour)``, in file order."""
        t = np.asarray(timepoints, dtype=np.int64)[:, None, None, None]
        s = np.asarray(slices, dtype=np.int64)[None, :, None, None]
        r = np.asarray(repeats, dtype=np.int64)[None, None, :, None]
        c = np.asarray(colors, dtype=np.int64)[None, None, None, :]
        return t * lay.V + (s * lay.R + r) * lay.C + c

    def _logical_to_file(self, lay: Layout, logical: np.ndarray) -> list[int]:
        """SiffPy's flyback correction ``f + F * (f // P)``; frames past the file dropped.

        Frames at or past ``num_frames`` are dropped even without flyback (SiffPy returns
        them when ``discard_frames`` is off).
        """
        frames = logical + (lay.Fb * lay.C) * (logical // lay.P)
        return frames[frames < lay.N].tolist()

    def _color_arg(self, lay: Layout, color_channel: Any) -> int:
        if color_channel is None:
            return self._default_color
        return int_in_range(color_channel, lay.C, "color_channel")

    def _timepoint_span(self, lay: Layout, start: Any, end: Any, clamp_warning: bool) -> range:
        """Complete timepoints ``[start, end)``; ``end`` past the last is clamped."""
        start = int_arg(start, "timepoint_start")
        if start < 0:
            raise SiffArgumentError(f"timepoint_start = {start} must be >= 0")
        if end is None:
            end = lay.T
        end = int_arg(end, "timepoint_end")
        if end < 0:
            raise SiffArgumentError(f"timepoint_end = {end} must be >= 0")
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
            when ``frames_per_slice > 1`` (docs/compatibility.md §8a decision 5).
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
            int_in_range(reference_z, lay.S, "reference_z")]
        colors = range(lay.C) if color_channel is None else [
            int_in_range(color_channel, lay.C, "color_channel")]
        return self._frames(lay, span, slices, range(lay.R), colors).ravel().tolist()

    def _slice_grid(self, lay: Layout, color: int, slice_idx: int) -> np.ndarray:
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
            uses ``lowest_color_channel - 1``, docs/compatibility.md §8a decision 6).
        slice_idx : int, optional
            Return only this slice's list.

        Returns
        -------
        list of int, or list of lists of int
            One list per slice (or the one list): ``num_timepoints * frames_per_slice`` file
            frames, in file order. Never a flyback frame nor a frame of an incomplete final
            volume (docs/compatibility.md §8a decision 4; SiffPy can give a slice one extra entry).
        """
        lay = self._layout()
        color = self._color_arg(lay, color_channel)
        if slice_idx is not None:
            index = int_in_range(int(slice_idx), lay.S, "slice_idx")
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
            grid = self._slice_grid(lay, color, int_in_range(int(s), lay.S, "slices"))
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
        color = int_in_range(color_channel, lay.C, "color_channel")
        lower = int_arg(lower_bound_timepoint, "lower_bound_timepoint")
        if lower < 0:
            raise SiffArgumentError(f"lower_bound_timepoint = {lower} must be >= 0")
        start = color + lower * lay.P
        if upper_bound_timepoint is None:
            stop = self.num_true_frames
        else:
            stop = color + int_arg(upper_bound_timepoint, "upper_bound_timepoint") * lay.P
        stop = min(stop, lay.N)  # logical frame f is file frame >= f: none past N survive
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
            index = int_in_range(int(slice_idx), lay.S, "slice_idx")
            return self._frames(lay, span, [index], range(lay.R), [color]).ravel().tolist()
        grid = self._frames(lay, span, range(lay.S), range(lay.R), [color])
        return grid.reshape(len(span), lay.S * lay.R).tolist()
