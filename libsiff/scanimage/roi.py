"""The ScanImage ROI groups of a header (the ``{"RoiGroups": ...}`` JSON).

:func:`parse_roi_groups` reads the JSON with bounded nesting; :class:`ROIGroup` and
:class:`SIROI` present it as SiffPy does. JSON keys are kept in a dict, never set as
attributes, so keys such as ``roi_list`` or ``__class__`` cannot replace anything.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from typing import Any

from ..errors import SiffFormatError
from .limits import check_nesting
from .matlab import parse_value

__all__ = ["SIROI", "ROIGroup", "parse_roi_groups"]


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


def _rois(value: Any) -> SIROI | list[SIROI]:
    """The ``rois`` entry of a group: one SIROI (object), a list (mROI), [] for null."""
    if isinstance(value, Mapping):
        return SIROI(value)
    if isinstance(value, list):
        return [SIROI(roi) for roi in value]
    if value is None:
        return []
    raise SiffFormatError(
        f"ROI group 'rois' is a {type(value).__name__}, neither an object nor a list")


class ROIGroup:
    """A ScanImage ROI group (``imagingRoiGroup``, ``integrationRoiGroup``, ...).

    Every JSON key except ``rois`` is readable as an attribute (``group.name``) and in
    :attr:`fields`; string values go through :func:`~libsiff.scanimage.matlab.parse_value`
    as in SiffPy. ``rois`` is one :class:`SIROI` when the JSON holds an object (single ROI)
    and a list of them when it holds a list (mROI); ``null`` gives an empty list (SiffPy
    raises). Any other ``rois`` value is a SiffFormatError.
    """

    def __init__(self, group_dict: Mapping):
        self.fields: dict[str, Any] = {}
        self.rois: SIROI | list[SIROI] = []
        for key, value in group_dict.items():
            if key == "rois":
                self.rois = _rois(value)
            else:
                self.fields[key] = parse_value(value) if isinstance(value, str) else value

    def __getattr__(self, name: str) -> Any:
        fields = self.__dict__.get("fields", {})
        if name in fields and not name.startswith("__"):
            return fields[name]
        raise AttributeError(f"ROI group has no field {name!r}")

    @property
    def roi_list(self) -> list[SIROI]:
        """The ROIs as a list, whether the JSON held one or several."""
        return list(self.rois) if isinstance(self.rois, list) else [self.rois]

    def __str__(self) -> str:
        count = len(self.rois) if isinstance(self.rois, list) else 1
        return (f"\n        ROI group {self.fields.get('name', '')} with\n"
                f"        {count} ROI(s):\n\n        {self.rois}\n        ")

    __repr__ = __str__


def parse_roi_groups(roi_data: Mapping | str, where: str = "") -> dict[str, ROIGroup]:
    """The ROI groups of the ``{"RoiGroups": ...}`` JSON (text or parsed dict).

    Parameters
    ----------
    roi_data : str or Mapping
        The JSON text, or its parsed value.
    where : str
        Prefix of messages (``"<file>: "``).

    Returns
    -------
    dict
        ``{group key: ROIGroup}`` for every non-null group (``photostimRoiGroups`` is usually
        null and so skipped). Empty text gives ``{}``; unreadable JSON or JSON without a
        ``RoiGroups`` object gives ``{}`` with a RuntimeWarning (SiffPy raises).

    Raises
    ------
    SiffFormatError
        The JSON nests deeper than :data:`~libsiff.scanimage.limits.MAX_NESTING_DEPTH`, or a
        group's ``rois`` is neither an object, a list nor null.
    """
    if isinstance(roi_data, str):
        if not roi_data.strip():
            return {}
        try:
            check_nesting(roi_data, "ROI-group JSON", json_strings=True)
        except SiffFormatError as exc:
            raise SiffFormatError(f"{where}{exc}") from None
        try:
            roi_data = json.loads(roi_data)
        except ValueError as exc:
            warnings.warn(f"{where}ROI-group JSON is unreadable ({exc}); no ROI groups",
                          RuntimeWarning, stacklevel=3)
            return {}
    groups = roi_data.get("RoiGroups") if isinstance(roi_data, Mapping) else None
    if not isinstance(groups, Mapping):
        warnings.warn(f"{where}ROI-group JSON has no 'RoiGroups' object; no ROI groups",
                      RuntimeWarning, stacklevel=3)
        return {}
    out = {}
    for name, group in groups.items():
        if isinstance(group, Mapping):
            try:
                out[name] = ROIGroup(group)
            except SiffFormatError as exc:
                raise SiffFormatError(f"{where}ROI group {name!r}: {exc}") from None
    return out
