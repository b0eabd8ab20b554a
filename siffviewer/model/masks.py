"""Named ROIs (masks) per plane or across all planes, with undo/redo and atomic files.

Qt-free. Every edit goes through :class:`MaskSet`, which records what it changed so that
:meth:`MaskSet.undo` and :meth:`MaskSet.redo` work across plane, timepoint and tool
changes (at least :data:`UNDO_DEPTH` steps). Masks live in the same pixel space as
``SiffReader.get_frames``: bool arrays ``(planes, rows, columns)``.

File format (``<acquisition stem>.siffmasks.npz``, written atomically, no pickles):
``masks`` bool ``(R, Z, H, W)``; ``names`` unicode ``(R,)``; ``colors`` uint8 ``(R, 3)``;
``all_planes`` bool ``(R,)``; ``visible`` bool ``(R,)``; ``meta`` a JSON string with
``format`` ("siffviewer-masks"), ``version`` (1) and ``source`` (the acquisition path).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from libsiff.atomic import atomic_open

from . import sidecar
from .observable import Observable
from .sidecar import SidecarError

UNDO_DEPTH = 200
FORMAT = "siffviewer-masks"
MASKS_SUFFIX = ".siffmasks.npz"
AUTOSAVE_SUFFIX = ".siffmasks.autosave.npz"
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (188, 189, 34), (23, 190, 207), (127, 127, 127)]


class MaskFileError(SidecarError):
    """A masks file (of any format) cannot be read or written; names the file and the problem.

    A :class:`~siffviewer.model.sidecar.SidecarError`, so a libsiff ``SiffFormatError`` (and
    a ValueError): the app's and the CLI's handlers of the SiffError family catch it.
    ``siffviewer.model.formats.MaskFormatError`` is another name for it."""


@dataclass
class Roi:
    """One named mask. ``mask`` is bool ``(planes, rows, columns)``."""

    roi_id: int
    name: str
    color: tuple[int, int, int]
    mask: np.ndarray
    all_planes: bool = False
    visible: bool = True

    @property
    def planes(self) -> list[int]:
        """Planes where the ROI has pixels."""
        return [int(z) for z in np.flatnonzero(self.mask.reshape(self.mask.shape[0], -1).any(1))]


@dataclass
class _Edit:
    """One undoable step: mask changes and structural changes, applied as a unit."""

    label: str
    masks: list[tuple[int, int, np.ndarray, np.ndarray]] = field(default_factory=list)
    # (roi_id, plane, before, after) for changed planes
    added: list[Roi] = field(default_factory=list)
    removed: list[tuple[int, Roi]] = field(default_factory=list)  # (index, roi)
    props: list[tuple[int, str, object, object]] = field(default_factory=list)
    # (roi_id, attribute, before, after)


def disk(radius: float) -> np.ndarray:
    """A round brush footprint of ``radius`` pixels (bool, odd size)."""
    r = max(0.5, float(radius))
    n = int(np.ceil(r - 0.5))
    yy, xx = np.mgrid[-n:n + 1, -n:n + 1]
    return (yy * yy + xx * xx) <= r * r


def polygon_mask(shape: tuple[int, int], points) -> np.ndarray:
    """Pixels whose centres lie inside the polygon ``points`` [(x, y), ...] (columns, rows)."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    H, W = shape
    if len(pts) < 3:
        return np.zeros(shape, bool)
    yy, xx = np.mgrid[0:H, 0:W]
    px, py = xx.ravel() + 0.5, yy.ravel() + 0.5
    inside = np.zeros(px.shape, bool)
    x0, y0 = pts[-1]
    for x1, y1 in pts:  # even-odd rule, vectorised over pixels (loop over vertices only)
        crosses = ((y1 > py) != (y0 > py))
        with np.errstate(divide="ignore", invalid="ignore"):
            xint = (x0 - x1) * (py - y1) / (y0 - y1) + x1
        inside ^= crosses & (px < xint)
        x0, y0 = x1, y1
    return inside.reshape(H, W)


def ellipse_mask(shape: tuple[int, int], x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """Pixels inside the ellipse inscribed in the box from (x0, y0) to (x1, y1)."""
    H, W = shape
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    rx, ry = max(abs(x1 - x0) / 2, 0.5), max(abs(y1 - y0) / 2, 0.5)
    yy, xx = np.mgrid[0:H, 0:W]
    return ((xx + 0.5 - cx) / rx) ** 2 + ((yy + 0.5 - cy) / ry) ** 2 <= 1.0


def rectangle_mask(shape: tuple[int, int], x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """Pixels whose centres lie in the box from (x0, y0) to (x1, y1)."""
    H, W = shape
    yy, xx = np.mgrid[0:H, 0:W]
    lo_x, hi_x = sorted((x0, x1))
    lo_y, hi_y = sorted((y0, y1))
    return (xx + 0.5 >= lo_x) & (xx + 0.5 <= hi_x) & (yy + 0.5 >= lo_y) & (yy + 0.5 <= hi_y)


class MaskSet(Observable):
    """The ROIs of one acquisition. Notifies subscribers with {"masks"} or {"rois"}."""

    def __init__(self, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.shape = tuple(int(v) for v in shape)  # (planes, rows, columns)
        self.rois: list[Roi] = []
        self._next_id = 1
        self._undo: list[_Edit] = []
        self._redo: list[_Edit] = []
        self._stroke: _Edit | None = None
        self.changed_box: tuple | None = None
        self.version = 0  # increases with every change (a cache key for traces)
        self.dirty = False

    # ------------------------------------------------------------------ queries
    def get(self, roi_id: int) -> Roi:
        """The ROI with id ``roi_id`` (``KeyError`` if there is none)."""
        for roi in self.rois:
            if roi.roi_id == roi_id:
                return roi
        raise KeyError(f"no ROI with id {roi_id}")

    def stack(self, ids: list[int] | None = None) -> np.ndarray:
        """Masks as bool ``(R, planes, rows, columns)`` (all ROIs, or those of ``ids``)."""
        rois = self.rois if ids is None else [self.get(i) for i in ids]
        if not rois:
            return np.zeros((0, *self.shape), bool)
        return np.stack([r.mask for r in rois])

    @property
    def can_undo(self) -> bool:
        """Whether there is an edit to undo."""
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        """Whether there is an undone edit to redo."""
        return bool(self._redo)

    # ------------------------------------------------------------------ recording
    def _commit(self, edit: _Edit, changed: str) -> None:
        if not (edit.masks or edit.added or edit.removed or edit.props):
            return
        self._undo.append(edit)
        del self._undo[:-UNDO_DEPTH]
        self._redo.clear()
        self._changed(changed)

    def _changed(self, what: str, box: tuple | None = None) -> None:
        self.version += 1
        self.dirty = True
        #: what the last "masks" change touched: (planes, y0, y1, x0, x1), None for "all"
        self.changed_box = box
        self._notify({what})

    def clear_history(self) -> None:
        """Forget undo and redo steps (after opening a session)."""
        self._undo.clear()
        self._redo.clear()

    @property
    def in_stroke(self) -> bool:
        """A brush stroke is under way: whole-session results wait for its end."""
        return self._stroke is not None

    def _set_plane(self, edit: _Edit, roi: Roi, plane: int, new: np.ndarray) -> None:
        old = roi.mask[plane]
        if np.array_equal(old, new):
            return
        # within one stroke keep the first "before" and the last "after" of each plane
        for i, (rid, z, before, _) in enumerate(edit.masks):
            if rid == roi.roi_id and z == plane:
                edit.masks[i] = (rid, z, before, new.copy())
                break
        else:
            edit.masks.append((roi.roi_id, plane, old.copy(), new.copy()))
        roi.mask[plane] = new

    def _planes_of(self, roi: Roi, plane: int) -> range | list[int]:
        return range(self.shape[0]) if roi.all_planes else [plane]

    # ------------------------------------------------------------------ structure
    def add_roi(self, name: str | None = None, color=None, all_planes: bool = False,
                mask: np.ndarray | None = None) -> Roi:
        """Add an ROI (empty unless ``mask`` is given) and return it."""
        rid = self._next_id
        self._next_id += 1
        if mask is None:
            mask = np.zeros(self.shape, bool)
        mask = np.asarray(mask, bool)
        if mask.ndim == 2:
            mask = np.repeat(mask[None], self.shape[0], axis=0) if all_planes else \
                np.concatenate([mask[None], np.zeros((self.shape[0] - 1, *mask.shape), bool)])
        if mask.shape != self.shape:
            raise ValueError(f"mask shape {mask.shape} != {self.shape}")
        roi = Roi(rid, name or f"ROI {rid}", tuple(color or PALETTE[(rid - 1) % len(PALETTE)]),
                  mask.copy(), all_planes)
        self.rois.append(roi)
        self._commit(_Edit(f"add {roi.name}", added=[roi]), "rois")
        return roi

    def remove_roi(self, roi_id: int) -> None:
        """Delete ROI ``roi_id`` (undoable)."""
        roi = self.get(roi_id)
        index = self.rois.index(roi)
        self.rois.remove(roi)
        self._commit(_Edit(f"delete {roi.name}", removed=[(index, roi)]), "rois")

    def set_property(self, roi_id: int, name: str, value) -> None:
        """Rename (``name``), recolour (``color``), show/hide (``visible``) or switch
        ``all_planes``; undoable."""
        if name not in ("name", "color", "visible", "all_planes"):
            raise AttributeError(name)
        roi = self.get(roi_id)
        before = getattr(roi, name)
        if before == value:
            return
        setattr(roi, name, value)
        self._commit(_Edit(f"set {name}", props=[(roi_id, name, before, value)]), "rois")

    # ------------------------------------------------------------------ painting
    def begin_stroke(self, label: str = "paint") -> None:
        """Group the following dabs into one undo step (until :meth:`end_stroke`)."""
        self.end_stroke()
        self._stroke = _Edit(label)

    def end_stroke(self) -> None:
        """Close the stroke (one undo step); subscribers hear {"masks", "stroke_end"}."""
        if self._stroke is not None:
            edit, self._stroke = self._stroke, None
            if edit.masks:
                self._undo.append(edit)
                del self._undo[:-UNDO_DEPTH]
                self._redo.clear()
                self.dirty = True
                self.changed_box = None
                self._notify({"masks", "stroke_end"})

    def dab(self, roi_id: int, plane: int, row: float, col: float, radius: float,
            erase: bool = False) -> None:
        """Paint (or erase) a round brush of ``radius`` pixels centred at (row, col)."""
        roi = self.get(roi_id)
        fp = disk(radius)
        n = fp.shape[0] // 2
        r, c = int(round(row - 0.5)), int(round(col - 0.5))
        H, W = self.shape[1:]
        y0, y1, x0, x1 = max(0, r - n), min(H, r + n + 1), max(0, c - n), min(W, c + n + 1)
        if y0 >= y1 or x0 >= x1:
            return
        foot = fp[y0 - (r - n): y1 - (r - n), x0 - (c - n): x1 - (c - n)]
        edit = self._stroke or _Edit("erase" if erase else "paint")
        for z in self._planes_of(roi, plane):
            new = roi.mask[z].copy()
            new[y0:y1, x0:x1] = (new[y0:y1, x0:x1] & ~foot) if erase else (new[y0:y1, x0:x1] | foot)
            self._set_plane(edit, roi, z, new)
        if self._stroke is None:
            self._commit(edit, "masks")
        else:
            self._changed("masks", (list(self._planes_of(roi, plane)), y0, y1, x0, x1))

    def apply_region(self, roi_id: int, plane: int, region: np.ndarray, mode: str = "add",
                     label: str = "shape") -> None:
        """Add (``mode='add'``), remove (``'subtract'``) or set (``'replace'``) a 2-D region."""
        roi = self.get(roi_id)
        region = np.asarray(region, bool)
        edit = _Edit(label)
        for z in self._planes_of(roi, plane):
            old = roi.mask[z]
            new = {"add": old | region, "subtract": old & ~region, "replace": region.copy()}[mode]
            self._set_plane(edit, roi, z, new)
        self._commit(edit, "masks")

    def fill_holes(self, roi_id: int, plane: int) -> None:
        """Fill the enclosed holes of the ROI in ``plane``."""
        roi = self.get(roi_id)
        self.apply_region(roi_id, plane, ndimage.binary_fill_holes(roi.mask[plane]), "replace",
                          "fill")

    def threshold_region(self, roi_id: int, plane: int, image: np.ndarray, level: float,
                         seed: tuple[int, int] | None = None) -> None:
        """Add the pixels of ``image`` at or above ``level`` (only the connected blob
        holding ``seed`` (row, column) when given)."""
        region = np.asarray(image) >= level
        if seed is not None:
            labels, _ = ndimage.label(region)
            lab = labels[seed]
            region = labels == lab if lab else np.zeros_like(region)
        self.apply_region(roi_id, plane, region, "add", "threshold")

    def move(self, roi_id: int, dy: int, dx: int) -> None:
        """Shift the ROI by (dy, dx) pixels in every plane (pixels pushed out are dropped)."""
        roi = self.get(roi_id)
        edit = _Edit("move")
        H, W = self.shape[1:]
        for z in range(self.shape[0]):
            new = np.zeros((H, W), bool)
            src = roi.mask[z][max(0, -dy): H - max(0, dy), max(0, -dx): W - max(0, dx)]
            new[max(0, dy): max(0, dy) + src.shape[0], max(0, dx): max(0, dx) + src.shape[1]] = src
            self._set_plane(edit, roi, z, new)
        self._commit(edit, "masks")

    # ------------------------------------------------------------------ undo / redo
    def _apply(self, edit: _Edit, forward: bool) -> None:
        if forward:
            for roi in edit.added:
                self.rois.append(roi)
            for _index, roi in sorted(edit.removed, key=lambda t: -t[0]):
                self.rois.remove(self.get(roi.roi_id))
        else:
            for index, roi in sorted(edit.removed, key=lambda t: t[0]):
                self.rois.insert(index, roi)
            for roi in edit.added:
                self.rois.remove(self.get(roi.roi_id))
        for rid, z, before, after in edit.masks:
            self.get(rid).mask[z] = (after if forward else before).copy()
        for rid, name, before, after in edit.props:
            setattr(self.get(rid), name, after if forward else before)

    def undo(self) -> bool:
        """Undo the last step; False when there is none."""
        self.end_stroke()
        if not self._undo:
            return False
        edit = self._undo.pop()
        self._apply(edit, forward=False)
        self._redo.append(edit)
        self._changed("rois" if (edit.added or edit.removed or edit.props) else "masks")
        return True

    def redo(self) -> bool:
        """Redo the last undone step; False when there is none."""
        if not self._redo:
            return False
        edit = self._redo.pop()
        self._apply(edit, forward=True)
        self._undo.append(edit)
        self._changed("rois" if (edit.added or edit.removed or edit.props) else "masks")
        return True

    # ------------------------------------------------------------------ files
    def records(self) -> list[tuple]:
        """Every ROI as (name, color, mask copy, all_planes, visible): what files store."""
        return [(r.name, tuple(r.color), r.mask.copy(), r.all_planes, r.visible) for r in self.rois]

    def save(self, path: str | Path, source: str = "") -> Path:
        """Write every ROI atomically (temp file + rename) to ``path`` (legacy masks file)."""
        path = Path(path)
        arrays = roi_arrays(self.records(), self.shape)
        arrays["meta"] = np.array(json.dumps({"format": FORMAT, "version": 1, "source": source,
                                              "shape": list(self.shape)}))
        with atomic_open(path, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        return path

    def load(self, path: str | Path, replace: bool = True) -> None:
        """Read ROIs from a masks or session file (undoable as one step). Raises
        MaskFileError naming the file and the problem; the current ROIs are untouched."""
        self.set_records(load_masks(path, self.shape), replace, label="load")
        self.dirty = False

    def set_records(self, records, replace: bool = True, label: str = "load") -> None:
        """Replace (or extend) the ROIs with [(name, color, mask, all_planes, visible)]."""
        edit = _Edit(label)
        if replace:
            edit.removed = list(enumerate(self.rois))
            self.rois = []
        for name, color, mask, all_planes, visible in records:
            roi = Roi(self._next_id, name, tuple(color), np.asarray(mask, bool).copy(),
                      all_planes, visible)
            self._next_id += 1
            self.rois.append(roi)
            edit.added.append(roi)
        self._commit(edit, "rois")


def load_masks(path: str | Path, shape: tuple[int, int, int]) -> list[tuple]:
    """ROIs [(name, color, mask, all_planes, visible)] from any masks file: a session
    file, a legacy ``.siffmasks.npz``, or any format of
    :func:`siffviewer.model.formats.read_masks_any` (ImageJ RoiSet.zip/.roi, label TIFF,
    suite2p stat.npy). The one entry point for ``--masks`` and File > Load masks. Raises
    MaskFileError naming the file and the problem (both shapes when they differ)."""
    from .formats import MaskFormatError, detect_format, read_masks_any
    from .formats.common import same_in_every_plane

    path = Path(path)
    try:
        kind = detect_format(path)
    except MaskFormatError:
        if path.suffix.lower() != ".npz":
            raise
        kind = "siffmasks"  # a damaged .npz: its reader says what is wrong with it
    if kind == "siffmasks":
        return _load_own_masks(path, shape)
    masks, names = read_masks_any(path, shape)
    multi = int(shape[0]) > 1
    return [(name, PALETTE[i % len(PALETTE)], mask, multi and same_in_every_plane(mask), True)
            for i, (name, mask) in enumerate(zip(names, masks, strict=True))]


def _load_own_masks(path: Path, shape: tuple[int, int, int]) -> list[tuple]:
    """ROIs with their colours and flags from a session file or a legacy masks file."""
    from .session_file import SessionFileError, read_session_file

    try:
        return read_session_file(path, shape).rois
    except SessionFileError as e:
        raise MaskFileError(str(e)) from None


def read_masks(path: str | Path, shape: tuple[int, int, int]):
    """Parse a legacy masks file into [(name, color, mask, all_planes, visible)], checking it.

    Raises MaskFileError (naming the file and the problem) for anything malformed."""
    from .sidecar import read_npz

    path = Path(path)
    try:
        data = read_npz(path)
    except SidecarError as e:
        raise MaskFileError(str(e)) from None
    return masks_from_arrays(path, data, shape)


def masks_from_arrays(path: Path, data: dict, shape: tuple[int, int, int]):
    """[(name, color, mask, all_planes, visible)] from the arrays of a legacy masks file
    (as :func:`.sidecar.read_npz` read them), its members and meta checked.

    Raises MaskFileError (naming the file and the problem) for anything malformed."""
    from .sidecar import json_text

    for name in ("meta", "masks", "names", "colors", "all_planes", "visible"):
        if name not in data:
            raise MaskFileError(f"{path}: no {name!r} array (not a siffviewer masks file?)")
    try:
        meta = json.loads(json_text(data, "meta", path))
    except SidecarError as e:
        raise MaskFileError(str(e)) from None
    except ValueError as e:
        raise MaskFileError(f"{path}: its meta is not JSON ({e})") from None
    except RecursionError:  # JSON nested deeper than Python's stack: hostile or damaged
        raise MaskFileError(f"{path}: its meta is not JSON (nested too deeply)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise MaskFileError(f"{path}: not a siffviewer masks file (format {got!r})")
    return rois_from_arrays(path, data, shape)


def rois_from_arrays(path: Path, data: dict, shape: tuple[int, int, int]):
    """[(name, color, mask, all_planes, visible)] from the arrays of a masks or session
    file, every array checked against the ROI count and ``shape``."""
    masks, names = data["masks"], data["names"]
    R = names.shape[0] if names.ndim == 1 else -1
    if R < 0 or names.dtype.kind != "U":
        raise MaskFileError(f"{path}: 'names' is not a list of names")
    want = {"masks": (R, *shape), "colors": (R, 3), "all_planes": (R,), "visible": (R,)}
    for key, expect in want.items():
        if data[key].shape != expect:
            if key == "masks" and masks.ndim == 4 and masks.shape[0] == R:
                raise MaskFileError(f"{path}: masks of shape {masks.shape[1:]} do not fit this "
                                    f"acquisition's {tuple(shape)} (planes, rows, columns)")
            raise MaskFileError(f"{path}: {key!r} has shape {data[key].shape}, expected {expect}")
    masks = masks.astype(bool)
    colors = data["colors"].astype(np.uint8)
    all_planes, visible = data["all_planes"].astype(bool), data["visible"].astype(bool)
    return [(str(names[i]), tuple(int(v) for v in colors[i]), masks[i].copy(),
             bool(all_planes[i]), bool(visible[i])) for i in range(R)]


def roi_arrays(rois, shape: tuple[int, int, int]) -> dict[str, np.ndarray]:
    """The arrays that store [(name, color, mask, all_planes, visible)] (inverse of
    :func:`rois_from_arrays`)."""
    R = len(rois)
    return {
        "masks": np.stack([r[2] for r in rois]) if R else np.zeros((0, *shape), bool),
        "names": np.array([r[0] for r in rois], dtype=np.str_).reshape(R),
        "colors": np.array([r[1] for r in rois], np.uint8).reshape(R, 3),
        "all_planes": np.array([r[3] for r in rois], bool).reshape(R),
        "visible": np.array([r[4] for r in rois], bool).reshape(R),
    }


def masks_path_for(acquisition: str | Path) -> Path:
    """The masks file beside an acquisition (``<stem>`` + ``MASKS_SUFFIX``)."""
    p = Path(acquisition)
    return p.with_name(p.stem + MASKS_SUFFIX)


def autosave_candidates(acquisition: str | Path) -> list[Path]:
    """Where autosaved ROI edits (legacy masks autosaves) of an acquisition may be."""
    return sidecar.autosave_candidates(acquisition, AUTOSAVE_SUFFIX)


def autosave_path_for(acquisition: str | Path) -> Path:
    """Where to autosave legacy masks now (see :func:`.sidecar.autosave_path_for`)."""
    return sidecar.autosave_path_for(acquisition, AUTOSAVE_SUFFIX)
